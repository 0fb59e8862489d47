//! From a spec to the list of runs: shapes from the model ladder, tokens from the budget.
//!
//! IsoFLOP design (Hoffmann et al. 2022 §3.2): for each budget C the expected optimum is
//! N* = √(C / (6·r)) with r tokens per parameter (C = 6·N·D and D = r·N). The planner lays
//! `sizes` targets log-evenly over `span` centred on N*, from N*/√span to N*·√span, and
//! snaps each to the nearest shape of the ladder's fine family (`ladder::shape_for_params`),
//! so every run is a real shape; each run then trains D = C / (6·N) tokens, N the shape's
//! exact total parameter count (isoflop-cost's count, embeddings included, as Chinchilla
//! counts N). Two targets that snap to one shape give one run.
//!
//! Grid design: each parameter target snaps to its nearest shape, and trains r·N tokens for
//! every ratio r. The WSD design plans the same points (its trunks are the run graph's).

use crate::spec::{Design, SweepSpec};
use crate::{Error, Result};
use isoflop_cost::FlopConvention;
use isoflop_train::{GptConfig, ladder};
use serde::Serialize;

/// One planned run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRun {
    /// Stable key within the sweep, e.g. `c1e12-l3d96-s0`.
    pub key: String,
    /// The model's shape.
    pub model: GptConfig,
    /// Total parameters N.
    pub params: f64,
    /// Training tokens D.
    pub tokens: u64,
    /// C = 6·N·D, the compute the design is laid out in.
    pub flops: f64,
    /// Training FLOPs counted with the attention term (PaLM appendix B), what the machine
    /// actually does; used for time estimates and MFU.
    pub flops_palm: f64,
    /// The IsoFLOP budget.
    pub budget: Option<f64>,
    /// Tokens per parameter's design value (grid designs).
    pub tokens_per_param: f64,
    /// Seed.
    pub seed: u64,
}

/// Compact, file-name-safe number: 1e12, 3e11, 2.5e5.
pub fn short(v: f64) -> String {
    let s = format!("{v:.2e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let m = m.trim_end_matches('0').trim_end_matches('.');
            format!("{m}e{e}")
        }
        None => s,
    }
}

/// A run's token count from its design value, refused above what one run may train (before
/// the cast to u64, which would saturate and leave a run that never ends).
fn run_tokens(tokens: f64, what: impl Fn() -> String) -> Result<u64> {
    let max = isoflop_train::MAX_RUN_TOKENS;
    if !(tokens.is_finite() && tokens <= max as f64) {
        return Err(Error::Plan(format!(
            "{} would train {tokens:e} tokens, more than the {max:e} one run may train",
            what()
        )));
    }
    Ok(tokens.round() as u64)
}

/// The IsoFLOP design's (budget, size target) pairs: `sizes` per budget, log-spaced over
/// `span` around the budget's expected optimum N* = √(C / (6·tokens_per_param)). With `shared`
/// (a WSD-measured design) the sizes of every budget come from one ladder, a factor
/// span^(1/(sizes − 1)) apart and anchored on the largest budget's, each budget taking the
/// `sizes` consecutive rungs centred nearest its N*: a size then serves several budgets from
/// one trunk, at the cost of centring each budget within half a rung.
fn isoflop_targets(
    budgets: &[f64],
    sizes: usize,
    tokens_per_param: f64,
    span: f64,
    shared: bool,
) -> Vec<(f64, f64)> {
    let n_star = |c: f64| (c / (6.0 * tokens_per_param)).sqrt();
    let step = span.ln() / (sizes - 1) as f64;
    let c_max = budgets.iter().copied().fold(f64::MIN, f64::max);
    let anchor = n_star(c_max).ln() - 0.5 * span.ln();
    let mut out = Vec::new();
    for &c in budgets {
        let first = n_star(c).ln() - 0.5 * span.ln();
        let first = if shared { anchor + ((first - anchor) / step).round() * step } else { first };
        for i in 0..sizes {
            out.push((c, (first + i as f64 * step).exp()));
        }
    }
    out
}

/// Every run of the spec, largest compute first (the order the scheduler starts them in, so
/// the longest runs never start last and leave a core idle at the end).
pub fn plan(spec: &SweepSpec) -> Result<Vec<PlannedRun>> {
    let vocab = spec.vocab();
    let context = spec.train.context;
    let mut shapes: Vec<(GptConfig, u64, Option<f64>, f64, String)> = Vec::new();
    match &spec.design {
        Design::Isoflop { budgets, sizes, tokens_per_param, span, cooldown } => {
            let targets =
                isoflop_targets(budgets, *sizes, *tokens_per_param, *span, cooldown.is_some());
            for (c, target) in targets {
                let model =
                    ladder::shape_for_params_with(target, vocab, context).map_err(|source| {
                        Error::Ladder {
                            context: format!("no ladder shape for budget {}", short(c)),
                            source,
                        }
                    })?;
                let n = model.shape().params().total as f64;
                let tokens = run_tokens(c / (6.0 * n), || format!("budget {}", short(c)))?;
                let key = format!("c{}-l{}d{}", short(c), model.n_layer, model.d_model);
                shapes.push((model, tokens, Some(c), tokens as f64 / n, key));
            }
        }
        Design::Grid { params, tokens_per_param }
        | Design::Wsd { params, tokens_per_param, .. } => {
            for &target in params {
                let model =
                    ladder::shape_for_params_with(target, vocab, context).map_err(|source| {
                        Error::Ladder {
                            context: format!("no ladder shape for {} parameters", short(target)),
                            source,
                        }
                    })?;
                let n = model.shape().params().total as f64;
                for &r in tokens_per_param {
                    let tokens = run_tokens(r * n, || {
                        format!("{} parameters at {} tokens per parameter", short(n), short(r))
                    })?;
                    let key = format!("l{}d{}-r{r}", model.n_layer, model.d_model);
                    shapes.push((model, tokens, None, r, key));
                }
            }
        }
    }
    let mut runs = Vec::new();
    for (model, tokens, budget, tpp, key) in shapes {
        for &seed in &spec.train.seeds {
            let shape = model.shape();
            let n = shape.params().total as f64;
            runs.push(PlannedRun {
                key: format!("{key}-s{seed}"),
                model,
                params: n,
                tokens,
                flops: 6.0 * n * tokens as f64,
                flops_palm: shape.flops_per_token(FlopConvention::Palm) * tokens as f64,
                budget,
                tokens_per_param: tpp,
                seed,
            });
        }
    }
    // Two designs entries can land on the same rung and tokens; keep one run per key.
    let mut seen = std::collections::HashSet::new();
    runs.retain(|r| seen.insert(r.key.clone()));
    if let Some(r) = runs.iter().find(|r| r.tokens < r.model.context as u64 * 4) {
        return Err(Error::Plan(format!(
            "run {} would train only {} tokens, fewer than 4 sequences of {}: raise the budget",
            r.key, r.tokens, r.model.context
        )));
    }
    runs.sort_by(|a, b| b.flops_palm.total_cmp(&a.flops_palm).then(a.key.cmp(&b.key)));
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isoflop_design_centres_on_the_optimum() {
        let spec = SweepSpec::parse(
            "name = \"t\"\n[design]\nkind = \"isoflop\"\nbudgets = [1e12]\nsizes = 3\n",
            "t",
        )
        .unwrap();
        let runs = plan(&spec).unwrap();
        assert_eq!(runs.len(), 3);
        // N* = √(1e12 / 120) ≈ 91,287 and span 16: targets N*/4, N*, 4·N*, each met by a
        // shape within 12%.
        let mut sizes: Vec<f64> = runs.iter().map(|r| r.params).collect();
        sizes.sort_by(f64::total_cmp);
        let n_star = (1e12f64 / 120.0).sqrt();
        for (n, want) in sizes.iter().zip([n_star / 4.0, n_star, n_star * 4.0]) {
            assert!((n / want).ln().abs() < 0.12, "{sizes:?}");
        }
        for r in &runs {
            assert!((r.flops / 1e12 - 1.0).abs() < 1e-5, "{} has C = {}", r.key, r.flops);
            assert!(r.key.starts_with("c1e12-l") && r.key.ends_with("-s0"), "{}", r.key);
        }
    }

    #[test]
    fn a_wsd_measured_isoflop_design_shares_its_sizes_across_budgets() {
        let spec = |cooldown: &str| {
            SweepSpec::parse(
                &format!(
                    "name = \"t\"\n[design]\nkind = \"isoflop\"\n\
                     budgets = [3e11, 5.5e11, 1e12, 1.8e12, 3e12]\nsizes = 5\n\
                     tokens_per_param = 100\nspan = 8\n{cooldown}"
                ),
                "t",
            )
            .unwrap()
        };
        let shapes = |runs: &[PlannedRun]| {
            let mut s: Vec<String> =
                runs.iter().map(|r| format!("l{}d{}", r.model.n_layer, r.model.d_model)).collect();
            s.sort();
            s.dedup();
            s
        };
        let own = plan(&spec("")).unwrap();
        let shared = plan(&spec("cooldown = 0.2")).unwrap();
        assert_eq!((own.len(), shared.len()), (25, 25));
        // Five sizes per budget either way; with a cooldown the 25 points come from few sizes
        // (one trunk each), without one nearly every point has its own.
        let (a, b) = (shapes(&own).len(), shapes(&shared).len());
        assert!(b <= 9 && a > b, "{a} sizes on their own, {b} shared");
        for c in [3e11, 5.5e11, 1e12, 1.8e12, 3e12] {
            let mut at: Vec<f64> =
                shared.iter().filter(|r| r.budget == Some(c)).map(|r| r.params).collect();
            at.sort_by(f64::total_cmp);
            assert_eq!(at.len(), 5, "budget {c}");
            // Centred on N* = √(C/600) within half a rung (8^(1/8) = 1.30) and the ladder's snap.
            let centre = at[2];
            let n_star = (c / 600.0).sqrt();
            assert!((centre / n_star).ln().abs() < 1.30f64.ln() + 0.15, "{c}: {at:?}");
        }
        // The largest budget keeps the sizes it has on its own.
        let top = |runs: &[PlannedRun]| {
            let mut v: Vec<f64> =
                runs.iter().filter(|r| r.budget == Some(3e12)).map(|r| r.params).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        assert_eq!(top(&own), top(&shared));
    }

    #[test]
    fn grid_and_seeds_multiply() {
        let spec = SweepSpec::parse(
            "name = \"g\"\n[design]\nkind = \"grid\"\nparams = [3e4, 1.4e5]\n\
             tokens_per_param = [10, 40]\n[train]\nseeds = [1, 2]\n",
            "g",
        )
        .unwrap();
        let runs = plan(&spec).unwrap();
        assert_eq!(runs.len(), 8);
        assert!(runs.windows(2).all(|w| w[0].flops_palm >= w[1].flops_palm));
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short(1e12), "1e12");
        assert_eq!(short(3.0e11), "3e11");
        assert_eq!(short(2.5e5), "2.5e5");
        assert_eq!(short(20.0), "2e1");
        assert_eq!(short(9.999_999e18), "1e19");
    }
}
