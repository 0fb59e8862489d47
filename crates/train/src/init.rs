//! Seeded GPT-2 initialisation, shared by every engine.
//!
//! As in GPT-2 (Radford et al. 2019, §2.3) and nanoGPT's `_init_weights`: every linear and
//! embedding weight is drawn from N(0, 0.02²); the two projections that write into the residual
//! stream (`attn.c_proj`, `mlp.c_proj`) use σ = 0.02/√(2·n_layer), so the residual's variance
//! does not grow with depth; biases start at 0, LayerNorm gains at 1.
//!
//! The draw uses ChaCha8 seeded by `seed` and walks the tensors in [`GptConfig::param_shapes`]
//! order, so the same seed gives the same weights on every engine, thread count and device.

use crate::{GptConfig, NamedTensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Standard deviation of the initial weights (GPT-2, nanoGPT `_init_weights`).
pub const INIT_STD: f32 = 0.02;

/// Initial weights of a GPT model, named and ordered as [`GptConfig::param_shapes`].
pub fn init_weights(cfg: &GptConfig, seed: u64) -> Vec<NamedTensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let residual_std = INIT_STD / (2.0 * cfg.n_layer as f32).sqrt();
    cfg.param_shapes()
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let data = if name.ends_with(".bias") {
                vec![0.0; n]
            } else if shape.len() == 1 {
                vec![1.0; n] // LayerNorm gain
            } else {
                let std = if name.ends_with("c_proj.weight") { residual_std } else { INIT_STD };
                (0..n).map(|_| std * standard_normal(&mut rng)).collect()
            };
            NamedTensor { name, shape, data }
        })
        .collect()
}

/// One N(0, 1) draw by the Box–Muller transform (the cosine branch only, so each draw uses
/// exactly two uniforms and the stream stays simple to reproduce).
fn standard_normal(rng: &mut impl Rng) -> f32 {
    // u1 in (0, 1] so that ln(u1) is finite.
    let u1 = 1.0 - rng.r#gen::<f64>();
    let u2 = rng.r#gen::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_seeded_and_scaled() {
        let cfg = GptConfig::new(2, 64, 4, 256, 32).unwrap();
        let a = init_weights(&cfg, 7);
        assert_eq!(a, init_weights(&cfg, 7));
        assert_ne!(a, init_weights(&cfg, 8));
        let get = |n: &str| a.iter().find(|t| t.name == n).unwrap();
        assert!(get("h.0.ln_1.weight").data.iter().all(|&x| x == 1.0));
        assert!(get("h.0.attn.c_attn.bias").data.iter().all(|&x| x == 0.0));
        let std = |t: &NamedTensor| {
            let n = t.data.len() as f32;
            (t.data.iter().map(|x| x * x).sum::<f32>() / n).sqrt()
        };
        // 256·64 = 16,384 draws: the sample σ is within ~1% of 0.02.
        assert!((std(get("wte.weight")) - 0.02).abs() < 0.001);
        // c_proj: 0.02/√(2·2) = 0.01.
        assert!((std(get("h.1.mlp.c_proj.weight")) - 0.01).abs() < 0.0005);
    }
}
