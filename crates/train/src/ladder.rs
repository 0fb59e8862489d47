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
//!
//! The rungs are 4.2×, 2.8× and 2.2× apart at the bottom, too coarse to bracket an IsoFLOP
//! minimum among CPU-sized models. [`shape_for_params`] therefore searches a finer family
//! that contains every rung: any depth, widths in steps of [`WIDTH_STEP`], heads as near
//! [`HEAD_DIM`] wide as the width allows. It takes the shape nearest the target in
//! parameters and, among shapes within [`SIZE_TOLERANCE`] of it, the one whose aspect ratio
//! is nearest [`ASPECT`], so a rung's exact count gives back the rung.

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
/// Widths of the fine family are multiples of this (one AVX register of f32).
pub const WIDTH_STEP: usize = 8;
/// Shapes within this relative distance of a parameter target count as hitting it; among them
/// the aspect ratio decides (wide enough that a shape near aspect 32 is always in reach).
pub const SIZE_TOLERANCE: f64 = 0.15;
/// The aspect ratios `d_model / n_layer` the fine family allows, around the ladder's 32 (the
/// tie-break prefers 32). Kaplan et al. 2020 (§3.1, Fig. 5) saw the loss change by only a few
/// percent across aspect ratios from about 20 to 200 at fixed N; 8 lets the tiniest models
/// (one layer of width 8) in, 64 keeps one-layer models from growing into wide bigram tables.
const ASPECT_RANGE: (usize, usize) = (8, 64);

/// Rung `k` of the ladder for a vocabulary and context.
pub fn rung(k: usize, vocab: usize, context: usize) -> Result<GptConfig> {
    if k == 0 {
        return Err(Error::InvalidConfig("ladder rungs start at 1".into()));
    }
    GptConfig::new(k, ASPECT * k, ASPECT * k / HEAD_DIM, vocab, context)
}

/// The shape of the fine family nearest `n` parameters (byte vocabulary, context 128); see
/// the module docs.
pub fn shape_for_params(n: f64) -> Result<GptConfig> {
    shape_for_params_with(n, BYTE_VOCAB, CONTEXT)
}

/// The shape of the fine family nearest `n` parameters for a vocabulary and context: the
/// nearest in log space, or among those within [`SIZE_TOLERANCE`] of `n` the one whose aspect
/// ratio is nearest [`ASPECT`]. A budget past the largest shape by more than
/// [`SIZE_TOLERANCE`] is refused, as are a zero context or vocabulary (named as such).
pub fn shape_for_params_with(n: f64, vocab: usize, context: usize) -> Result<GptConfig> {
    if !(n.is_finite() && n > 0.0) {
        return Err(Error::InvalidConfig(format!(
            "a parameter budget must be positive and finite, got {n}"
        )));
    }
    if context == 0 || vocab == 0 {
        return Err(Error::InvalidConfig(format!(
            "context {context} and vocabulary {vocab} must both be at least 1"
        )));
    }
    // Scores: the size miss in units of the tolerance (0 inside it), then the aspect's miss.
    let score = |cfg: &GptConfig, total: f64| {
        let size = ((total / n).ln().abs() / (1.0 + SIZE_TOLERANCE).ln() - 1.0).max(0.0);
        let aspect = (cfg.d_model as f64 / cfg.n_layer as f64 / ASPECT as f64).ln().abs();
        (size, aspect)
    };
    // The count does not depend on the heads: search with one, give the winner its heads.
    let count = |layers: usize, d: usize| -> Result<(GptConfig, f64)> {
        let cfg = GptConfig::new(layers, d, 1, vocab, context)?;
        Ok((cfg, cfg.shape().params().total as f64))
    };
    let mut best: Option<((f64, f64), GptConfig)> = None;
    for layers in 1..=MAX_RUNG {
        // At a depth the count grows with the width, so the widths worth scoring are few: the
        // two around n (the nearest in log space when none is within the tolerance), the ends
        // of the range within the tolerance, and the width of the aspect ratio wanted clamped
        // into that range. Found by bisection rather than scanning every width (a plan of
        // many sizes of large models scanned millions of shapes; the sweep_spec fuzz target
        // timed out on one).
        let (lo, hi) = (ASPECT_RANGE.0 * layers, ASPECT_RANGE.1 * layers);
        let widths = (hi - lo) / WIDTH_STEP + 1;
        let width = |k: usize| lo + k * WIDTH_STEP;
        // The first width index whose count reaches `target` (`widths` if none does).
        let first_reaching = |target: f64| -> Result<usize> {
            let (mut a, mut b) = (0, widths);
            while a < b {
                let m = (a + b) / 2;
                if count(layers, width(m))?.1 >= target {
                    b = m;
                } else {
                    a = m + 1;
                }
            }
            Ok(a)
        };
        let at = first_reaching(n)?;
        let in_lo = first_reaching(n / (1.0 + SIZE_TOLERANCE))?;
        let in_hi = first_reaching(n * (1.0 + SIZE_TOLERANCE))?.saturating_sub(1);
        let mut candidates = vec![at.saturating_sub(1), at, in_lo, in_hi];
        if in_lo <= in_hi {
            let aspect = (ASPECT * layers).clamp(width(in_lo), width(in_hi));
            let k = (aspect - lo) / WIDTH_STEP;
            candidates.extend([k, k + 1]);
        }
        candidates.retain(|&k| k < widths);
        candidates.sort_unstable();
        candidates.dedup();
        for k in candidates {
            let (cfg, total) = count(layers, width(k))?;
            let s = score(&cfg, total);
            if best.as_ref().is_none_or(|(b, _)| s.0 < b.0 || (s.0 == b.0 && s.1 < b.1)) {
                best = Some((s, cfg));
            }
        }
    }
    // The family's largest shape, for refusing budgets past the end of the range.
    let (top_cfg, top) = count(MAX_RUNG, ASPECT_RANGE.1 * MAX_RUNG)?;
    let cfg = best.expect("MAX_RUNG ≥ 1").1;
    // Past the family's largest shape (by more than the tolerance) the nearest would be a far
    // smaller model than asked for: refuse rather than snap to the end of the range. Between
    // shapes, and below the smallest, the nearest is taken: IsoFLOP designs spread their
    // sizes around a centre and may reach under the family, and the run records the count
    // it really has.
    if n > top * (1.0 + SIZE_TOLERANCE) {
        return Err(Error::InvalidConfig(format!(
            "no model of the ladder's family has about {n:e} parameters (within {:.0}%): the \
             largest has {top} ({} layers × d_model {}, vocab {vocab}, context {context})",
            SIZE_TOLERANCE * 100.0,
            top_cfg.n_layer,
            top_cfg.d_model
        )));
    }
    GptConfig::new(cfg.n_layer, cfg.d_model, heads_for_width(cfg.d_model), vocab, context)
}

/// The head count for a width: heads as near [`HEAD_DIM`] wide as a divisor of the width
/// allows, each a multiple of [`WIDTH_STEP`] wide when the width is (so 32 → 1, 48 → 2 of 24,
/// 96 → 3, 80 → 2 of 40).
pub fn heads_for_width(d_model: usize) -> usize {
    // A zero width has no divisor to choose: one head, and `GptConfig::new` refuses the width
    // with its own message (the train_config fuzz target found `d_model = 0` panicking here).
    if d_model == 0 {
        return 1;
    }
    let aligned = d_model.is_multiple_of(WIDTH_STEP);
    (1..=d_model)
        .filter(|h| d_model.is_multiple_of(*h))
        .filter(|h| !aligned || (d_model / h).is_multiple_of(WIDTH_STEP))
        .min_by(|a, b| {
            let miss = |h: usize| ((d_model / h) as f64 / HEAD_DIM as f64).ln().abs();
            miss(*a).total_cmp(&miss(*b)).then(a.cmp(b))
        })
        .expect("1 divides every width")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search as first written: every width at every depth (the bisection must agree).
    fn scan(n: f64, vocab: usize, context: usize) -> GptConfig {
        let score = |cfg: &GptConfig, total: f64| {
            let size = ((total / n).ln().abs() / (1.0 + SIZE_TOLERANCE).ln() - 1.0).max(0.0);
            let aspect = (cfg.d_model as f64 / cfg.n_layer as f64 / ASPECT as f64).ln().abs();
            (size, aspect)
        };
        let mut best: Option<((f64, f64), GptConfig)> = None;
        for layers in 1..=MAX_RUNG {
            for d in (ASPECT_RANGE.0 * layers..=ASPECT_RANGE.1 * layers).step_by(WIDTH_STEP) {
                let cfg = GptConfig::new(layers, d, 1, vocab, context).unwrap();
                let s = score(&cfg, cfg.shape().params().total as f64);
                if best.as_ref().is_none_or(|(b, _)| s.0 < b.0 || (s.0 == b.0 && s.1 < b.1)) {
                    best = Some((s, cfg));
                }
            }
        }
        let c = best.unwrap().1;
        GptConfig::new(c.n_layer, c.d_model, heads_for_width(c.d_model), vocab, context).unwrap()
    }

    #[test]
    fn bisection_finds_what_scanning_every_width_finds() {
        for (vocab, context) in [(256, 128), (4096, 64), (50257, 1024)] {
            let mut n = 2e3;
            while n < 2e10 {
                let Ok(got) = shape_for_params_with(n, vocab, context) else {
                    n *= 1.37;
                    continue;
                };
                assert_eq!(got, scan(n, vocab, context), "n = {n}, vocab {vocab}");
                n *= 1.37;
            }
        }
    }

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
    fn a_rungs_count_gives_back_the_rung() {
        for k in [1, 2, 3, 4, 5, 8] {
            let r = rung(k, 256, 128).unwrap();
            let n = r.shape().params().total as f64;
            assert_eq!(shape_for_params(n).unwrap(), r, "rung {k}");
        }
    }

    #[test]
    fn the_fine_family_lands_near_any_target() {
        // From rung 1 to rung 4 every target is hit within 20%, where the rungs alone miss by
        // up to 2×.
        let mut t: f64 = 33_248.0;
        while t < 1e6 {
            let cfg = shape_for_params(t).unwrap();
            let n = cfg.shape().params().total as f64;
            assert!((n / t).ln().abs() < 0.2, "{t}: {n} ({cfg:?})");
            let aspect = cfg.d_model / cfg.n_layer;
            assert!((8..=64).contains(&aspect), "{cfg:?}");
            assert_eq!(cfg.d_model % WIDTH_STEP, 0);
            t *= 1.1;
        }
        // Below the smallest shape the smallest is taken.
        let tiny = shape_for_params(1.0).unwrap();
        assert_eq!((tiny.n_layer, tiny.d_model), (1, 8));
        assert!(shape_for_params(0.0).is_err());
        // Past the largest shape: refused, not snapped to it.
        let e = shape_for_params(1e30).unwrap_err().to_string();
        assert!(e.contains("1e30 parameters") && e.contains("largest has"), "{e}");
        assert!(shape_for_params(3e10).is_ok());
        // Between two small shapes (6,008 and the next), none within 15%: the nearest, not
        // a refusal (the quick demo's smallest size sits in such a gap).
        assert!(shape_for_params(7.9e3).is_ok());
        let e = shape_for_params_with(1e5, 256, 0).unwrap_err().to_string();
        assert!(e.contains("context 0"), "{e}");
        assert!(shape_for_params(f64::NAN).is_err());
    }

    #[test]
    fn heads_are_near_32_wide() {
        assert_eq!(heads_for_width(8), 1);
        assert_eq!(heads_for_width(32), 1);
        assert_eq!(heads_for_width(48), 2);
        assert_eq!(heads_for_width(64), 2);
        assert_eq!(heads_for_width(80), 2);
        assert_eq!(heads_for_width(96), 3);
        assert_eq!(heads_for_width(128), 4);
    }
}
