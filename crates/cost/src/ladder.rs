//! The size ladder: what each model size costs to train, store and serve, and the power laws
//! `C(n) ≈ k₁·n^p` (training compute) and `S(n) ≈ k₂·n^q` (storage) through it.
//!
//! Shapes: a released Llama-2 (7B, 13B, 70B) where one lies within 5% of the target; otherwise
//! Llama-style (SwiGLU, RMSNorm, 128-wide heads, vocab 32,000, context 4096, untied), with
//! d_model a multiple of 128 and n_layer chosen so the total parameters land within a few
//! percent of the target, preferring d_model/n_layer near 128 (Llama-2-7B's 4096/32; Kaplan et
//! al. 2020 §3.1 find loss flat over a wide range of aspect ratios).
//!
//! Tokens: 20 per parameter by default (Hoffmann et al. 2022, Table 3 and §3: the
//! compute-optimal ratio of their approach 1 and 2 fits is close to 20), or as a fitted law
//! says (the CLI passes a rule). Training FLOPs use the chosen convention; GPU-days are
//! `FLOPs / (peak · MFU) / 86,400`. Inference: bf16 weights and a bf16 KV cache for one
//! sequence at full context, on the fewest GPUs (a power of two) that hold it; decode latency is
//! the roofline of `inference`.

use crate::{Family, ParamCounts};
use crate::{
    FlopConvention, Hardware, InferenceSetup, ModelShape, Precision, Quantization, Result,
    time::DAY,
};
use serde::{Deserialize, Serialize};

/// The seeds' default ladder: 100M, 300M, 1B, 3B, 7B, 13B, 70B parameters.
pub const DEFAULT_LADDER: [f64; 7] = [1e8, 3e8, 1e9, 3e9, 7e9, 13e9, 70e9];

/// A Llama-style shape of about `target` parameters, for targets in [1e7, 1e15] (see the
/// module docs).
pub fn ladder_shape(target: f64) -> ModelShape {
    for name in ["llama2-7b", "llama2-13b", "llama2-70b"] {
        let shape = crate::preset(name).expect("preset");
        if (shape.params().total as f64 / target - 1.0).abs() < 0.05 {
            return shape;
        }
    }
    let (vocab, context) = (32_000u64, 4096u64);
    let mut best: Option<(f64, ModelShape)> = None;
    for k in 2..=192u64 {
        let d = 128 * k;
        let mut shape = ModelShape {
            family: Family::Llama,
            n_layer: 1,
            d_model: d,
            n_head: k,
            n_kv_heads: k,
            head_dim: 128,
            d_ff: (8 * d / 3).div_ceil(256) * 256,
            vocab,
            context,
            tied_embeddings: false,
        };
        let one = shape.params().total as f64;
        shape.n_layer = 2;
        let per_layer = shape.params().total as f64 - one;
        let fixed = one - per_layer;
        let layers = ((target - fixed) / per_layer).round();
        if layers < 2.0 {
            continue;
        }
        shape.n_layer = layers as u64;
        let total = shape.params().total as f64;
        let aspect = d as f64 / layers;
        // Size error dominates; among shapes within ~3% the aspect ratio decides.
        let score = (total / target).ln().abs() / 0.03 + (aspect / 128.0).ln().abs();
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, shape));
        }
    }
    best.expect("some width fits every target above 10M").1
}

/// `y ≈ k · x^p`, fitted by least squares in log-log space.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerLaw {
    /// Coefficient k.
    pub k: f64,
    /// Exponent p.
    pub p: f64,
}

impl PowerLaw {
    /// Least-squares fit of `ln y = ln k + p ln x`; needs two distinct x.
    pub fn fit(points: &[(f64, f64)]) -> Option<Self> {
        let n = points.len() as f64;
        if points.len() < 2 {
            return None;
        }
        let (lx, ly): (Vec<f64>, Vec<f64>) = points.iter().map(|(x, y)| (x.ln(), y.ln())).unzip();
        let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
        let sxx: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
        if sxx == 0.0 {
            return None;
        }
        let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
        let p = sxy / sxx;
        Some(Self { k: (my - p * mx).exp(), p })
    }

    /// `k · x^p`.
    pub fn eval(&self, x: f64) -> f64 {
        self.k * x.powf(self.p)
    }
}

/// The size of the weights stored in one format.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CheckpointSize {
    /// Value format.
    pub precision: Precision,
    /// Bytes, scales included.
    pub bytes: f64,
}

/// One rung of the ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LadderRow {
    /// The size asked for.
    pub target_params: f64,
    /// The shape standing for it.
    pub shape: ModelShape,
    /// Its exact parameter counts.
    pub params: ParamCounts,
    /// Training tokens.
    pub tokens: f64,
    /// Training FLOPs (model FLOPs, no recomputation).
    pub train_flops: f64,
    /// GPU-days on the chosen hardware at the chosen MFU.
    pub gpu_days: f64,
    /// Checkpoint sizes: fp32, bf16, int8 and int4 (group-wise scales), in that order.
    pub checkpoints: Vec<CheckpointSize>,
    /// GPUs needed to serve it in bf16 (a power of two).
    pub inference_gpus: u64,
    /// Bytes of bf16 weights plus one full-context bf16 KV cache.
    pub inference_memory_bytes: f64,
    /// Seconds per generated token at batch 1 (roofline).
    pub decode_seconds_per_token: f64,
}

/// The ladder and its power laws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ladder {
    /// One row per size.
    pub rows: Vec<LadderRow>,
    /// `C(n)`: training FLOPs against total parameters.
    pub compute_law: Option<PowerLaw>,
    /// `S(n)`: bf16 checkpoint bytes against total parameters.
    pub storage_law: Option<PowerLaw>,
}

/// Builds the ladder for `targets`, with `tokens(n)` training tokens for n total parameters
/// (the first rung whose tokens cannot be chosen ends it with that error).
pub fn ladder(
    targets: &[f64],
    tokens: &dyn Fn(f64) -> Result<f64>,
    hw: &Hardware,
    mfu: f64,
    convention: FlopConvention,
    group_size: u64,
) -> Result<Ladder> {
    let peak = hw.peak_flops(Precision::Bf16)?;
    let mut rows = Vec::new();
    for &target in targets {
        if !(1e7..=1e15).contains(&target) {
            return Err(crate::Error::InvalidShape(format!(
                "ladder size {target:e} is outside [1e7, 1e15] parameters"
            )));
        }
        let shape = ladder_shape(target);
        let params = shape.params();
        let n = params.total as f64;
        let tokens = tokens(n)?;
        let train_flops = shape.flops_per_token(convention) * tokens;
        let gpu_days = train_flops / (peak * mfu) / DAY;
        let mut checkpoints = Vec::new();
        for precision in [Precision::Fp32, Precision::Bf16, Precision::Int8, Precision::Int4] {
            let bytes = Quantization::new(precision, group_size)?.bytes(params.total);
            checkpoints.push(CheckpointSize { precision, bytes });
        }
        let setup = InferenceSetup {
            weights: Quantization::new(Precision::Bf16, group_size)?,
            kv_precision: Precision::Bf16,
            batch: 1,
            prompt: crate::rules::default_prompt(shape.context),
            generate: crate::rules::default_generate(shape.context),
            gpus: 1,
        };
        let (setup, inf) = crate::rules::serve(&shape, hw, setup)?;
        rows.push(LadderRow {
            target_params: target,
            shape,
            params,
            tokens,
            train_flops,
            gpu_days,
            checkpoints,
            inference_gpus: setup.gpus,
            inference_memory_bytes: inf.memory_bytes,
            decode_seconds_per_token: inf.decode_seconds_per_token,
        });
    }
    let law = |f: &dyn Fn(&LadderRow) -> f64| {
        PowerLaw::fit(&rows.iter().map(|r| (r.params.total as f64, f(r))).collect::<Vec<_>>())
    };
    let compute_law = law(&|r| r.train_flops);
    let storage_law = law(&|r| r.checkpoints[1].bytes);
    Ok(Ladder { rows, compute_law, storage_law })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_hit_their_targets() {
        for target in DEFAULT_LADDER {
            let s = ladder_shape(target);
            let n = s.params().total as f64;
            assert!((n / target - 1.0).abs() < 0.05, "{target:e}: {n:e} ({s:?})");
            let aspect = s.d_model as f64 / s.n_layer as f64;
            assert!((32.0..=512.0).contains(&aspect), "{target:e}: aspect {aspect}");
        }
        // The 7B and 70B rungs are the released Llama-2 shapes; 3B is generated.
        assert_eq!(ladder_shape(7e9), crate::preset("llama2-7b").unwrap());
        assert_eq!(ladder_shape(70e9).n_kv_heads, 8);
        let s = ladder_shape(3e9);
        assert_eq!((s.head_dim, s.n_head * 128), (128, s.d_model));
    }

    #[test]
    fn power_law_recovers_exponent() {
        let pts: Vec<_> = [1e8, 1e9, 1e10].iter().map(|&x: &f64| (x, 3.0 * x.powf(1.7))).collect();
        let law = PowerLaw::fit(&pts).unwrap();
        assert!((law.p - 1.7).abs() < 1e-9 && (law.k / 3.0 - 1.0).abs() < 1e-6);
        assert!(PowerLaw::fit(&[(1.0, 1.0)]).is_none());
    }

    #[test]
    fn chinchilla_ladder_compute_grows_as_n_squared() {
        // With D = 20N, C = 6N·D + attention = 120N² + ..: p close to 2. Storage is 2 bytes per
        // parameter: q = 1 and k₂ = 2 up to the embedding's share.
        let hw = Hardware::preset("h100-sxm").unwrap();
        let l = ladder(&DEFAULT_LADDER, &|n| Ok(20.0 * n), &hw, 0.4, FlopConvention::SixN, 128)
            .unwrap();
        let c = l.compute_law.unwrap();
        assert!((c.p - 2.0).abs() < 0.05, "{c:?}");
        let s = l.storage_law.unwrap();
        assert!((s.p - 1.0).abs() < 1e-9 && (s.k - 2.0).abs() < 1e-6, "{s:?}");
        // Llama-2-7B-sized rung: 6 · 6.74e9 · 134.8e9 ≈ 5.45e21 FLOPs ≈ 159 H100-days at 40% MFU.
        let r = &l.rows[4];
        assert_eq!(r.params.total, 6_738_415_616);
        // N non-embedding = 6,738,415,616 − 32000 · 4096 = 6,607,343,616.
        let flops = 6.0 * 6_607_343_616.0 * 20.0 * 6_738_415_616.0;
        assert!((r.train_flops / flops - 1.0).abs() < 1e-12);
        assert!((r.gpu_days - flops / (989.4e12 * 0.4) / 86_400.0).abs() < 1e-9);
        // 70B needs two 80 GiB GPUs in bf16 (138 GB of weights).
        assert_eq!(l.rows[6].inference_gpus, 2);
    }
}
