//! Floating-point operations of training and inference.
//!
//! One multiply-add is two FLOPs. Per token, forward and backward together (training) cost
//! three forwards: the backward computes gradients with respect to both activations and weights.
//! Three conventions are offered, each stated in every output that uses it:
//!
//! - [`FlopConvention::Palm`]: `6·N + 12·L·H·Q·s` with N the non-embedding parameters, L layers,
//!   H·Q the query width (heads × head width) and s the context (Chowdhery et al. 2022, PaLM,
//!   appendix B). The attention term counts the full s×s score matrix, as PaLM does.
//! - [`FlopConvention::Chinchilla`]: every matrix multiply including the embedding lookup counted
//!   as a multiply and the output logits, plus the softmax (3 FLOPs per score), per Hoffmann et
//!   al. 2022 appendix F; forward + backward = 3 × forward. Norms, biases and nonlinearities are
//!   left out, as there.
//! - [`FlopConvention::SixN`]: `6·N` alone, N non-embedding (Kaplan et al. 2020 §2.1, which drops
//!   the context-dependent term).
//!
//! With tied embeddings the output head's weights are "embedding" parameters, so `Palm` and
//! `SixN` (which count N non-embedding) omit the logits multiply, as PaLM (tied) and Kaplan do;
//! `Chinchilla` always counts it.
//!
//! Recomputation (see [`Recompute`]) adds work the model does not need: full recomputation
//! repeats the forward (8·N instead of 6·N), selective recomputation repeats only the attention
//! scores (Korthikanti et al. 2022 §4.2). Model FLOPs utilisation (MFU, PaLM appendix B) counts
//! model FLOPs only, so [`mfu`] takes the per-token cost without recomputation.

use crate::{Error, ModelShape, Recompute, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How FLOPs are counted; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlopConvention {
    /// `6N + 12·L·H·Q·s`, N non-embedding (PaLM appendix B).
    #[default]
    Palm,
    /// Every matrix multiply including embeddings and softmax (Hoffmann et al. 2022 appendix F).
    Chinchilla,
    /// `6N`, N non-embedding (Kaplan et al. 2020).
    SixN,
}

impl FlopConvention {
    /// Every convention, in display order.
    pub const ALL: [FlopConvention; 3] = [Self::Palm, Self::Chinchilla, Self::SixN];

    /// The formula in words, for outputs that state their convention.
    pub fn formula(self) -> &'static str {
        match self {
            Self::Palm => "6N + 12*L*H*Q*s, N non-embedding (PaLM appendix B)",
            Self::Chinchilla => {
                "all matmuls incl. embeddings, logits and softmax (Hoffmann et al. 2022 appendix F)"
            }
            Self::SixN => "6N, N non-embedding (Kaplan et al. 2020)",
        }
    }
}

impl fmt::Display for FlopConvention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Palm => "palm",
            Self::Chinchilla => "chinchilla",
            Self::SixN => "six-n",
        })
    }
}

impl FromStr for FlopConvention {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "palm" => Ok(Self::Palm),
            "chinchilla" => Ok(Self::Chinchilla),
            "six-n" | "sixn" | "6n" => Ok(Self::SixN),
            _ => Err(Error::UnknownName {
                what: "FLOP convention",
                name: s.to_string(),
                expected: "palm, chinchilla, six-n".to_string(),
            }),
        }
    }
}

impl ModelShape {
    /// Query width H·Q: heads × head width (d_model unless `head_dim` was set otherwise).
    pub fn q_width(&self) -> u64 {
        self.n_head * self.head_dim
    }

    /// Forward FLOPs per token at full context `s = self.context`.
    pub fn forward_flops_per_token(&self, convention: FlopConvention) -> f64 {
        self.forward_flops_per_token_at(convention, self.context as f64)
    }

    /// Forward FLOPs per token when attending over `s` positions (the context while training;
    /// the current KV length while decoding).
    pub fn forward_flops_per_token_at(&self, convention: FlopConvention, s: f64) -> f64 {
        let n = self.params().non_embedding as f64;
        let (l, hq) = (self.n_layer as f64, self.q_width() as f64);
        match convention {
            // 2N for the weights, 2·2·L·H·Q·s for the scores and the weighted sum of values.
            FlopConvention::Palm => 2.0 * n + 4.0 * l * hq * s,
            FlopConvention::SixN => 2.0 * n,
            FlopConvention::Chinchilla => {
                let (d, v) = (self.d_model as f64, self.vocab as f64);
                let kv = (self.n_kv_heads * self.head_dim) as f64;
                let heads = self.n_head as f64;
                // Hoffmann et al. 2022 appendix F, per token (their per-sequence terms over s),
                // with K/V projections narrowed for grouped-query attention.
                let embeddings = 2.0 * v * d;
                let projections = 2.0 * d * (hq + 2.0 * kv) + 2.0 * hq * d;
                let scores = 2.0 * s * hq + 3.0 * heads * s + 2.0 * s * hq;
                let mlp = 2.0 * self.mlp_matrices() as f64 * d * self.d_ff as f64;
                let logits = 2.0 * d * v;
                embeddings + l * (projections + scores + mlp) + logits
            }
        }
    }

    /// Training FLOPs per token, forward and backward, without recomputation.
    pub fn flops_per_token(&self, convention: FlopConvention) -> f64 {
        3.0 * self.forward_flops_per_token(convention)
    }

    /// FLOPs per token that recomputation adds to [`Self::flops_per_token`]: one forward for
    /// full recomputation; the attention scores' forward for selective recomputation
    /// (Korthikanti et al. 2022 §4.2: QKᵀ, softmax, dropout and the weighted sum of values).
    pub fn recompute_flops_per_token(
        &self,
        convention: FlopConvention,
        recompute: Recompute,
    ) -> f64 {
        match recompute {
            Recompute::None => 0.0,
            Recompute::Full => self.forward_flops_per_token(convention),
            Recompute::Selective => {
                let (l, hq, s) = (self.n_layer as f64, self.q_width() as f64, self.context as f64);
                match convention {
                    FlopConvention::Palm => 4.0 * l * hq * s,
                    FlopConvention::Chinchilla => l * (4.0 * s * hq + 3.0 * self.n_head as f64 * s),
                    FlopConvention::SixN => 0.0,
                }
            }
        }
    }

    /// Hardware FLOPs to train on `tokens` tokens: model FLOPs plus what recomputation adds.
    pub fn train_flops(
        &self,
        tokens: f64,
        convention: FlopConvention,
        recompute: Recompute,
    ) -> f64 {
        tokens
            * (self.flops_per_token(convention)
                + self.recompute_flops_per_token(convention, recompute))
    }

    /// Weight matrices in one MLP block: 2 for GPT-2 (up, down), 3 for SwiGLU (gate, up, down).
    pub(crate) fn mlp_matrices(&self) -> u64 {
        match self.family {
            crate::Family::Gpt2 => 2,
            crate::Family::Llama => 3,
        }
    }
}

/// Model FLOPs utilisation: achieved model FLOP/s over the hardware's peak (PaLM appendix B).
/// `flops_per_token` should exclude recomputation; `peak_flops_per_s` is the whole system's.
pub fn mfu(tokens_per_s: f64, flops_per_token: f64, peak_flops_per_s: f64) -> f64 {
    tokens_per_s * flops_per_token / peak_flops_per_s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        ((a - b) / b).abs() <= rel
    }

    #[test]
    fn trainer_shapes_palm() {
        // 6·N_non_embedding + 12·L·s·d with N_ne = 875,264 − 256·128 − 128·128 = 826,112:
        // 4,956,672 + 786,432 = 5,743,104 FLOPs per token (the trainer's S shape).
        let s = ModelShape::gpt2(4, 128, 4, 256, 128, false).unwrap();
        assert_eq!(s.flops_per_token(FlopConvention::Palm), 5_743_104.0);
        // M: N_ne = 4,902,912 − 256·256 − 128·256 = 4,804,608; 6·N_ne + 12·6·128·256 = 31,186,944.
        let m = ModelShape::gpt2(6, 256, 8, 256, 128, false).unwrap();
        assert_eq!(m.flops_per_token(FlopConvention::Palm), 31_186_944.0);
        assert_eq!(m.flops_per_token(FlopConvention::SixN), 6.0 * 4_804_608.0);
    }

    #[test]
    fn full_recompute_is_eight_n() {
        // Full recomputation repeats the forward: 8N + 16·L·H·Q·s.
        let m = ModelShape::gpt2(6, 256, 8, 256, 128, false).unwrap();
        let n = m.params().non_embedding as f64;
        let attn = 6.0 * 256.0 * 128.0;
        let full = m.train_flops(1.0, FlopConvention::Palm, Recompute::Full);
        assert_eq!(full, 8.0 * n + 16.0 * attn);
        let sel = m.train_flops(1.0, FlopConvention::Palm, Recompute::Selective);
        assert_eq!(sel, 6.0 * n + 16.0 * attn);
        assert_eq!(m.train_flops(2.0, FlopConvention::SixN, Recompute::None), 12.0 * n);
    }

    #[test]
    fn chinchilla_appendix_f_close_to_palm() {
        // Hoffmann et al. 2022 appendix F: the full count and 6N + attention agree within a few
        // percent for large models. A Chinchilla-sized shape (80 layers, d 8192, s 2048,
        // vocab 32,000, untied) must come within 2%.
        let shape = ModelShape::gpt2(80, 8192, 64, 32_000, 2048, false).unwrap();
        let ch = shape.flops_per_token(FlopConvention::Chinchilla);
        let palm = shape.flops_per_token(FlopConvention::Palm);
        assert!(close(ch, palm, 0.02), "chinchilla {ch:e} vs palm {palm:e}");
    }

    #[test]
    fn gpt3_training_compute() {
        // Brown et al. 2020 Table D.1: GPT-3 175B, 300B tokens, 3.14e23 training FLOPs (6ND).
        let gpt3 = crate::preset("gpt3-175b").unwrap();
        let c = gpt3.train_flops(300e9, FlopConvention::SixN, Recompute::None);
        assert!(close(c, 3.14e23, 0.005), "{c:e}");
    }

    #[test]
    fn mfu_definition() {
        // PaLM (Chowdhery et al. 2022) appendix B and Table 3: the 540B model (N = 540.35e9,
        // L = 118, H = 48, Q = 256, T = 2048) trained at 238.3K tokens/s on 6144 TPU v4 chips of
        // 275 TFLOP/s (bf16) each reaches an MFU of 46.2%.
        let per_token = 6.0 * 540.35e9 + 12.0 * 118.0 * 48.0 * 256.0 * 2048.0;
        let u = mfu(238.3e3, per_token, 6144.0 * 275e12);
        assert!((u - 0.462).abs() < 0.0005, "PaLM MFU {u}");
    }

    #[test]
    fn convention_names_round_trip() {
        for c in FlopConvention::ALL {
            assert_eq!(c.to_string().parse::<FlopConvention>().unwrap(), c);
        }
        assert!("kaplan".parse::<FlopConvention>().is_err());
    }
}
