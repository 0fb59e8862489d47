//! The model ladder: one shape per parameter budget, so `--params N` means one thing.
//!
//! Like the Chinchilla appendix's table of shapes (Hoffmann et al. 2022, Table A9) the ladder
//! fixes the shape's proportions and grows the model along one axis: rung `k` has
//! `n_layer = k`, `d_model = ASPECT · k` and heads of width [`HEAD_DIM`]. Kaplan et al. 2020
//! (§3.1, Fig. 5) found the loss nearly independent of the aspect ratio `d_model / n_layer`
//! between about 20 and 200 at fixed N; 32 keeps CPU-sized models deep enough to be
//! transformers (the 4-layer, 128-wide rung is the PyTorch reference's model S, 875,264
//! parameters). Context 128 and the byte vocabulary (256) are the CPU defaults.
//!
//! | rung | n_layer | d_model | n_head | params (vocab 256, ctx 128) |
//! |---|---|---|---|---|
//! | 1 | 1 | 32 | 1 | 33,248 |
//! | 2 | 2 | 64 | 2 | 141,056 |
//! | 3 | 3 | 96 | 3 | 397,152 |
//! | 4 | 4 | 128 | 4 | 875,264 |
//! | 5 | 5 | 160 | 5 | 1,649,120 |
//! | 6 | 6 | 192 | 6 | 2,792,448 |
//! | 8 | 8 | 256 | 8 | 6,482,432 |
//!
//! Parameter counts come from isoflop-cost (`GptConfig::shape().params().total`), never from
//! a second formula here.

use crate::{Error, GptConfig, Result};

/// `d_model / n_layer` on every rung.
pub const ASPECT: usize = 32;
/// The width of one attention head on every rung (GPT-2 small and up use 64; 32 keeps the
/// CPU-sized rungs at one head per layer or more).
pub const HEAD_DIM: usize = 32;
/// The default context length of the ladder's models.
pub const CONTEXT: usize = 128;
/// The byte-level vocabulary.
pub const BYTE_VOCAB: usize = 256;
/// The deepest rung [`shape_for_params`] considers (about 1.7 B parameters, far past a CPU).
pub const MAX_RUNG: usize = 96;

/// Rung `k` of the ladder for a vocabulary and context.
pub fn rung(k: usize, vocab: usize, context: usize) -> Result<GptConfig> {
    if k == 0 {
        return Err(Error::InvalidConfig("ladder rungs start at 1".into()));
    }
    GptConfig::new(k, ASPECT * k, ASPECT * k / HEAD_DIM, vocab, context)
}

/// The rung whose total parameter count is nearest `n` in log space (byte vocabulary,
/// context 128).
pub fn shape_for_params(n: f64) -> Result<GptConfig> {
    shape_for_params_with(n, BYTE_VOCAB, CONTEXT)
}

/// The rung whose total parameter count is nearest `n` in log space.
pub fn shape_for_params_with(n: f64, vocab: usize, context: usize) -> Result<GptConfig> {
    if !(n.is_finite() && n > 0.0) {
        return Err(Error::InvalidConfig(format!(
            "a parameter budget must be positive and finite, got {n}"
        )));
    }
    let mut best: Option<(f64, GptConfig)> = None;
    for k in 1..=MAX_RUNG {
        let cfg = rung(k, vocab, context)?;
        let gap = ((cfg.shape().params().total as f64) / n).ln().abs();
        if best.as_ref().is_none_or(|(g, _)| gap < *g) {
            best = Some((gap, cfg));
        }
    }
    Ok(best.expect("MAX_RUNG ≥ 1").1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_in_the_docs_is_right() {
        let want = [
            (1, 33_248),
            (2, 141_056),
            (3, 397_152),
            (4, 875_264),
            (5, 1_649_120),
            (6, 2_792_448),
            (8, 6_482_432),
        ];
        for (k, n) in want {
            let cfg = rung(k, 256, 128).unwrap();
            assert_eq!(cfg.shape().params().total, n, "rung {k}");
            assert_eq!(cfg.head_dim(), HEAD_DIM);
        }
    }

    #[test]
    fn picks_the_nearest_rung() {
        // 875,264 is rung 4 (model S of the PyTorch reference).
        assert_eq!(shape_for_params(875_264.0).unwrap().n_layer, 4);
        assert_eq!(shape_for_params(2e5).unwrap().n_layer, 2);
        assert_eq!(shape_for_params(1.0).unwrap().n_layer, 1);
        assert!(shape_for_params(0.0).is_err());
        assert!(shape_for_params(f64::NAN).is_err());
    }
}
