//! The whole-curve law (Tissue et al. 2024, "Scaling Law with Learning Rate Annealing":
//! `L(s) = L0 + A·S1^(−α) − C·S2`) checked on a sweep's own runs: for each model size and batch
//! size trained on several token budgets (each run its own warm-up + cosine over its own steps, so the
//! schedules differ), fit the law on the shorter runs' whole curves and the longest run's
//! early evaluations, then predict the longest run's final loss, which the fit never saw.
//!
//! This is what makes intermediate checkpoints usable: every evaluation of every run is a point
//! of the law, not only the final ones.

use crate::Result;
use isoflop_law::{Curve, CurveLawOptions, Decay, Schedule, fit_curve_law};
use isoflop_store::{Run, RunFilter, RunStatus, Store};
use serde::Serialize;
use std::collections::BTreeMap;

/// The check for one model size.
#[derive(Debug, Clone, Serialize)]
pub struct CurveCheck {
    /// Parameters N of the model.
    pub params: f64,
    /// The runs whose curves were fitted (whole), by key.
    pub fitted_runs: Vec<String>,
    /// The held-out run: the size's longest.
    pub held_out: String,
    /// Its evaluations used in the fit (the first `early_fraction` of its steps).
    pub early_points: usize,
    /// The fitted parameters L0, A, alpha, C.
    pub params_fitted: [f64; 4],
    /// RMS of the fit's log residuals.
    pub rmse_log: f64,
    /// The held-out run's final loss, predicted.
    pub predicted: f64,
    /// Its final loss, measured.
    pub actual: f64,
    /// |predicted − actual| / actual.
    pub rel_err: f64,
    /// The same prediction from its early evaluations' last value (what a reader of the curve
    /// alone would guess): the baseline the law must beat.
    pub last_seen: f64,
}

/// The schedule a run trained with, from its resolved config (`train`): the trainer's warm-up,
/// then a cosine to `final_lr_ratio` of the peak over `tokens / batch_tokens` steps, or (a WSD
/// design's branch) the peak held and a linear decay over the last `decay_steps`.
fn schedule_of(run: &Run) -> Option<(Schedule, f64)> {
    let t = run.config.get("train")?;
    let peak = t["adamw"]["lr"].as_f64()?;
    let warmup = t["warmup_steps"].as_u64()?.max(1);
    let batch = t["batch_tokens"].as_f64()?;
    let total = ((run.tokens / batch).round() as u64).max(warmup + 2);
    let final_ratio = t["final_lr_ratio"].as_f64()?;
    let schedule = match t["schedule"]["kind"].as_str() {
        Some("wsd") => {
            let decay = t["schedule"]["decay_steps"].as_u64()?;
            // A trunk (no decay) is not a point of the law and never reaches here.
            if decay == 0 {
                return None;
            }
            let fraction = decay as f64 / total as f64;
            Schedule::wsd(peak, warmup, total, fraction, final_ratio, Decay::Linear)
        }
        _ => Schedule::cosine(peak, warmup, total, final_ratio),
    };
    Some((schedule, batch))
}

/// The check for every model size of `sweep` with at least two finished pretraining runs of
/// different token counts, fitting on the held-out run's first `early_fraction` of steps with
/// `opts` (its `lambda`, the annealing momentum's decay, sets how many steps a drop of the rate
/// is remembered: about 1/(1 − λ)).
pub fn curve_checks(
    store: &Store,
    sweep: &str,
    early_fraction: f64,
    opts: &CurveLawOptions,
) -> Result<Vec<CurveCheck>> {
    let runs = store
        .runs(&RunFilter { sweep: Some(sweep.to_string()), statuses: vec![RunStatus::Done] })?;
    // The law counts optimizer steps and sums the learning rate over them: runs of one size
    // compare only at one batch size (the planner grows the batch with the budget).
    let mut by_size: BTreeMap<(u64, u64), Vec<&Run>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.is_pretrain()) {
        let batch = schedule_of(r).map_or(0, |(_, b)| b as u64);
        by_size.entry((r.params as u64, batch)).or_default().push(r);
    }
    let mut out = Vec::new();
    for (_, mut group) in by_size {
        group.sort_by(|a, b| a.tokens.total_cmp(&b.tokens));
        if group.len() < 2 || group[0].tokens == group[group.len() - 1].tokens {
            continue;
        }
        let mut curves = Vec::new();
        let mut fitted_runs = Vec::new();
        let last = group.len() - 1;
        let mut held = None;
        for (i, r) in group.iter().enumerate() {
            let Some((schedule, batch)) = schedule_of(r) else { continue };
            let points: Vec<(u64, f64)> = store
                .curve(r.id)?
                .iter()
                .filter_map(|p| Some(((p.tokens / batch).round() as u64, p.val_loss?)))
                // After warm-up: the law models the decay of the loss with the learning-rate
                // areas, not the first steps of a model at its initial loss.
                .filter(|(s, l)| {
                    *s > schedule.warmup_steps && *s <= schedule.total_steps && l.is_finite()
                })
                .collect();
            if i == last {
                let cut = (schedule.total_steps as f64 * early_fraction) as u64;
                let early: Vec<_> = points.iter().copied().filter(|(s, _)| *s <= cut).collect();
                let actual = r.metrics.loss.unwrap_or(f64::NAN);
                held =
                    Some((r.key.clone(), schedule, early.len(), actual, early.last().map(|p| p.1)));
                if !early.is_empty() {
                    curves.push(Curve::new(&r.key, schedule, early));
                }
            } else if !points.is_empty() {
                fitted_runs.push(r.key.clone());
                curves.push(Curve::new(&r.key, schedule, points));
            }
        }
        let Some((key, schedule, early_points, actual, last_seen)) = held else { continue };
        if fitted_runs.is_empty() || !actual.is_finite() {
            continue;
        }
        let law = match fit_curve_law(&curves, opts) {
            Ok(l) => l,
            // A size whose curves cannot pin the law (too few points) is skipped, not fatal.
            Err(_) => continue,
        };
        let predicted = law.predict(&schedule, schedule.total_steps)?;
        let p = &law.params;
        out.push(CurveCheck {
            params: group[0].params,
            fitted_runs,
            held_out: key,
            early_points,
            params_fitted: [p.l0, p.a, p.alpha, p.c],
            rmse_log: law.rmse_log,
            predicted,
            actual,
            rel_err: (predicted - actual).abs() / actual,
            last_seen: last_seen.unwrap_or(f64::NAN),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoflop_law::TISSUE_LAMBDA;
    use isoflop_law::synthetic::{CURVE_EXAMPLE, curve_points};
    use isoflop_store::{CurvePoint, Metrics, NewRun};

    /// Runs stored as the trainer stores them (their schedule in `config.train`, evaluations
    /// by tokens), with curves drawn from a known law: the check must map tokens to steps and
    /// rebuild each run's schedule right, or its prediction misses.
    #[test]
    fn predicts_the_longest_run_of_curves_drawn_from_the_law() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let sweep = store.upsert_sweep("c", &serde_json::json!({})).unwrap();
        let batch = 1024.0;
        let (peak, warmup) = (1e-3, 200u64);
        let steps = [4000u64, 8000, 16000];
        let runs: Vec<NewRun> = steps
            .iter()
            .map(|&s| NewRun {
                key: format!("r{s}"),
                config: serde_json::json!({"kind": "pretrain", "train": {
                    "adamw": {"lr": peak}, "warmup_steps": warmup, "batch_tokens": batch,
                    "final_lr_ratio": 0.1}}),
                params: 1e6,
                tokens: s as f64 * batch,
                flops: 6e6 * s as f64 * batch,
                budget: None,
                seed: 0,
                engine: None,
            })
            .collect();
        store.plan_runs(sweep.id, &runs).unwrap();
        let mut truth = 0.0;
        for (i, r) in store.runs(&RunFilter::default()).unwrap().iter().enumerate() {
            let schedule = Schedule::cosine(peak, warmup, steps[i], 0.1);
            let pts = curve_points(&CURVE_EXAMPLE, &schedule, TISSUE_LAMBDA, 100, 0.002, i as u64);
            let curve: Vec<CurvePoint> = pts
                .iter()
                .map(|&(s, l)| CurvePoint {
                    tokens: s as f64 * batch,
                    step: Some(s),
                    train_loss: None,
                    val_loss: Some(l),
                })
                .collect();
            let final_loss = CURVE_EXAMPLE.loss_at(&schedule, steps[i], TISSUE_LAMBDA).unwrap();
            truth = final_loss;
            store.claim(r.id, "h", "v", "ck").unwrap();
            store
                .finish(r.id, &Metrics { loss: Some(final_loss), ..Default::default() }, &curve)
                .unwrap();
        }
        let checks = curve_checks(&store, "c", 0.3, &CurveLawOptions::default()).unwrap();
        assert_eq!(checks.len(), 1);
        let c = &checks[0];
        assert_eq!(c.held_out, "r16000");
        assert_eq!(c.fitted_runs, ["r4000", "r8000"]);
        assert_eq!(c.actual, truth);
        // 0.2% noise: the final loss within 0.5%; the last early point is far off (it has not
        // annealed), which is the point of the law.
        assert!(c.rel_err < 0.005, "{c:?}");
        assert!((c.last_seen - truth).abs() / truth > 0.02, "{c:?}");
    }
}
