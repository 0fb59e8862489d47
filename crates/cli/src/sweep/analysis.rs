//! From stored runs to everything a report and a summary show: the fit (Chinchilla's
//! approach 3 with a bootstrap), the extrapolation check on the largest runs, IsoFLOP
//! parabolas (approach 2), the frontier (approach 1), the plan for larger budgets.
//!
//! Only `done` runs are results; failed and diverged runs are named in the notes and never
//! fitted.

use crate::sweep::plan::short;
use anyhow::Result;
use isoflop_law::{
    Fit, FitOptions, Form, HeldOut, Holdout, Observation, evaluate_holdout, fit, split_holdout,
};
use isoflop_report::{
    CurveSeries, Extrapolation, IsoflopProfile, LawCurve, OptimalScaling, PlanRow, ReportInput,
    Residual, RunRow,
};
use isoflop_store::{Run, RunFilter, RunStatus, Store};
use serde::Serialize;

/// How to analyse a sweep.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// Bootstrap resamples for intervals (0: none).
    pub bootstrap: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Hold out the runs of this many of the largest IsoFLOP budgets (or, without budgets,
    /// this many of the largest-compute runs) to test extrapolation; 0 holds out nothing.
    pub holdout_budgets: usize,
    /// Budgets to plan for; empty: 10×, 100× and 1000× the largest run's compute.
    pub plan_budgets: Vec<f64>,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self { bootstrap: 200, seed: 7, holdout_budgets: 1, plan_budgets: vec![] }
    }
}

/// What the analysis found (also the demo's summary).
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// Sweep name.
    pub sweep: String,
    /// The fitted law, if there were enough runs.
    pub fit: Option<Fit>,
    /// Why there is no fit.
    pub no_fit: Option<String>,
    /// Held-out runs: predicted against actual.
    pub held_out: Vec<(String, HeldOut)>,
    /// Mean absolute relative error on the held-out runs.
    pub extrapolation_error: Option<f64>,
    /// The plan for larger budgets.
    pub plans: Vec<PlanRow>,
    /// IsoFLOP vertices (budget, N*, D*).
    pub vertices: Vec<[f64; 3]>,
    /// Warnings.
    pub notes: Vec<String>,
    /// The report's data.
    #[serde(skip)]
    pub input: ReportInput,
}

/// Least-squares parabola y = c0 + c1·x + c2·x² (normal equations, 3×3, Cramer's rule).
pub fn parabola(xs: &[f64], ys: &[f64]) -> Option<[f64; 3]> {
    if xs.len() < 3 {
        return None;
    }
    // Centre x for conditioning, then shift the coefficients back.
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    let mut s = [0.0f64; 5];
    let mut t = [0.0f64; 3];
    for (&x, &y) in xs.iter().zip(ys) {
        let u = x - m;
        let mut p = 1.0;
        for (k, sk) in s.iter_mut().enumerate() {
            *sk += p;
            if k < 3 {
                t[k] += p * y;
            }
            p *= u;
        }
    }
    let a = [[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]];
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    if d.abs() < 1e-12 * s[0].powi(3).max(1.0) {
        return None;
    }
    let solve = |col: usize| {
        let mut b = a;
        for r in 0..3 {
            b[r][col] = t[r];
        }
        det(b) / d
    };
    let (b0, b1, b2) = (solve(0), solve(1), solve(2));
    // y = b0 + b1(x − m) + b2(x − m)²
    Some([b0 - b1 * m + b2 * m * m, b1 - 2.0 * b2 * m, b2])
}

fn log_space(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| lo * (hi / lo).powf(i as f64 / (n - 1).max(1) as f64)).collect()
}

/// Groups finished runs into IsoFLOP budgets: by the stored budget, else by compute within
/// ±10% (as approach 2 of isoflop-law groups them).
fn budgets(done: &[&Run]) -> Vec<(f64, Vec<usize>)> {
    let mut groups: Vec<(f64, Vec<usize>)> = Vec::new();
    let mut order: Vec<usize> = (0..done.len()).collect();
    order.sort_by(|&a, &b| done[a].flops.total_cmp(&done[b].flops));
    for i in order {
        let c = done[i].budget.unwrap_or(done[i].flops);
        match groups.iter_mut().find(|(b, _)| (c / b - 1.0).abs() <= 0.10) {
            Some((_, members)) => members.push(i),
            None => groups.push((c, vec![i])),
        }
    }
    groups.retain(|(_, m)| m.len() >= 3);
    groups
}

/// Analyses sweep `sweep` of `store`.
pub fn analyse(store: &Store, sweep: &str, opts: &AnalysisOptions) -> Result<Analysis> {
    let runs = store.runs(&RunFilter { sweep: Some(sweep.to_string()), statuses: vec![] })?;
    let mut notes = Vec::new();
    for r in &runs {
        match r.status {
            RunStatus::Failed | RunStatus::Diverged => notes.push(format!(
                "run {} {} and is left out: {}",
                r.key,
                r.status,
                r.reason.as_deref().unwrap_or("no reason recorded")
            )),
            RunStatus::Pending | RunStatus::Running => {
                notes.push(format!("run {} is {} (not finished) and is left out", r.key, r.status))
            }
            RunStatus::Done => {}
        }
    }
    let done: Vec<&Run> =
        runs.iter().filter(|r| r.status == RunStatus::Done && r.metrics.loss.is_some()).collect();
    let obs: Vec<Observation> = done
        .iter()
        .map(|r| {
            let mut o =
                Observation::new(r.params, r.tokens, r.metrics.loss.expect("done has loss"));
            o.c = Some(r.flops);
            o.run = Some(r.key.clone());
            o
        })
        .collect();

    // IsoFLOP profiles (approach 2).
    let groups = budgets(&done);
    let mut profiles = Vec::new();
    let mut vertices = Vec::new();
    for (c, members) in &groups {
        let pts: Vec<[f64; 2]> =
            members.iter().map(|&i| [done[i].params, done[i].metrics.loss.unwrap()]).collect();
        let xs: Vec<f64> = pts.iter().map(|p| p[0].ln()).collect();
        let ys: Vec<f64> = pts.iter().map(|p| p[1]).collect();
        let par = parabola(&xs, &ys);
        let (lo, hi) =
            xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
        let vertex = par.and_then(|[c0, c1, c2]| {
            if c2 <= 0.0 {
                notes.push(format!("IsoFLOP budget {}: the losses do not curve upward; no vertex", short(*c)));
                return None;
            }
            let x = -c1 / (2.0 * c2);
            if x < lo || x > hi {
                notes.push(format!(
                    "IsoFLOP budget {}: the parabola's minimum (N = {}) lies outside the sampled sizes; \
                     not used",
                    short(*c),
                    short(x.exp())
                ));
                return None;
            }
            Some([x.exp(), c0 + c1 * x + c2 * x * x])
        });
        if let Some([n, _]) = vertex {
            vertices.push([*c, n, c / (6.0 * n)]);
        }
        profiles.push(IsoflopProfile { budget: *c, points: pts, parabola: par, vertex });
    }

    // Approach 3, with the largest runs held out.
    let holdout_k = if groups.is_empty() {
        opts.holdout_budgets
    } else {
        groups.iter().rev().take(opts.holdout_budgets).map(|(_, m)| m.len()).sum()
    };
    let min_rows = 5 + 1; // five free parameters, and at least one degree of freedom
    let (train, test) = if holdout_k > 0 && obs.len() >= min_rows + holdout_k {
        split_holdout(&obs, Holdout::TopK(holdout_k))?
    } else {
        if holdout_k > 0 && !obs.is_empty() {
            notes.push(format!(
                "too few finished runs ({}) to hold {} out and still fit 5 parameters; nothing held out",
                obs.len(),
                holdout_k
            ));
        }
        (obs.clone(), vec![])
    };
    let (the_fit, no_fit) = if train.len() >= min_rows {
        let fo = FitOptions {
            bootstrap: opts.bootstrap,
            seed: opts.seed,
            ..FitOptions::for_form(Form::Chinchilla)
        };
        match fit(&train, &fo) {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(format!("the Chinchilla fit failed: {e}"))),
        }
    } else {
        (
            None,
            Some(format!(
                "{} finished runs; a Chinchilla fit needs at least {min_rows}",
                train.len()
            )),
        )
    };
    if let Some(why) = &no_fit {
        notes.push(why.clone());
    }
    let held: Vec<(String, HeldOut)> = match &the_fit {
        Some(f) => test
            .iter()
            .map(|o| o.run.clone().unwrap_or_default())
            .zip(evaluate_holdout(f, &test))
            .collect(),
        None => vec![],
    };
    let extrapolation_error = (!held.is_empty())
        .then(|| held.iter().map(|(_, h)| h.rel_err.abs()).sum::<f64>() / held.len() as f64);
    let held_keys: Vec<&str> = held.iter().map(|(k, _)| k.as_str()).collect();

    let max_c = done.iter().map(|r| r.flops).fold(0.0, f64::max);
    let min_c = done.iter().map(|r| r.flops).fold(f64::INFINITY, f64::min);
    let plan_budgets: Vec<f64> = if opts.plan_budgets.is_empty() {
        [10.0, 100.0, 1000.0].iter().map(|m| m * max_c).collect()
    } else {
        opts.plan_budgets.clone()
    };
    let mut plans = Vec::new();
    let mut optimal = None;
    let mut law_curves = Vec::new();
    let mut residuals = Vec::new();
    let mut law_params = Vec::new();
    if let Some(f) = &the_fit {
        for &c in &plan_budgets {
            if let Ok(p) = isoflop_law::plan::compute_optimal(f, c) {
                plans.push(PlanRow {
                    compute: c,
                    n_opt: p.n_opt,
                    n_interval: p.n_opt_interval,
                    d_opt: p.d_opt,
                    d_interval: p.d_opt_interval,
                    loss: p.loss,
                    loss_interval: p.loss_interval,
                });
            }
        }
        let c_hi = plan_budgets.iter().copied().fold(max_c, f64::max);
        let mut n_opt = Vec::new();
        let mut d_opt = Vec::new();
        for c in log_space(min_c.min(max_c), c_hi, 16) {
            if let Ok(p) = isoflop_law::plan::compute_optimal(f, c) {
                let [nl, nh] = p.n_opt_interval.unwrap_or([p.n_opt, p.n_opt]);
                let [dl, dh] = p.d_opt_interval.unwrap_or([p.d_opt, p.d_opt]);
                n_opt.push([c, p.n_opt, nl, nh]);
                d_opt.push([c, p.d_opt, dl, dh]);
            }
        }
        let exp = |k: &str| f.derived.get(k).map(|&v| (v, f.intervals.get(k).copied()));
        optimal = Some(OptimalScaling {
            n_opt,
            d_opt,
            n_vertices: vertices.iter().map(|v| [v[0], v[1]]).collect(),
            d_vertices: vertices.iter().map(|v| [v[0], v[2]]).collect(),
            a: exp("a"),
            b: exp("b"),
        });
        let mut sizes: Vec<f64> = done.iter().map(|r| r.params).collect();
        sizes.sort_by(f64::total_cmp);
        sizes.dedup();
        // At most eight sizes, evenly spread, so the chart stays readable.
        if sizes.len() > 8 {
            let k = sizes.len();
            sizes = (0..8).map(|i| sizes[i * (k - 1) / 7]).collect();
            sizes.dedup();
        }
        let d_lo = done.iter().map(|r| r.tokens).fold(f64::INFINITY, f64::min) / 2.0;
        let d_hi = done.iter().map(|r| r.tokens).fold(0.0, f64::max) * 2.0;
        for n in sizes {
            let points = log_space(d_lo, d_hi, 40)
                .into_iter()
                .map(|d| {
                    let l = f.predict(n, d);
                    let [lo, hi] = f.predict_interval(n, d).unwrap_or([l, l]);
                    [d, l, lo, hi]
                })
                .collect();
            let observed = done
                .iter()
                .filter(|r| r.params == n)
                .map(|r| [r.tokens, r.metrics.loss.unwrap()])
                .collect();
            law_curves.push(LawCurve { n, points, observed });
        }
        for (o, res) in train.iter().zip(&f.residuals) {
            residuals.push(Residual {
                key: o.run.clone().unwrap_or_default(),
                n: o.n,
                c: o.compute(),
                // The fit's residual is ln(actual) − ln(predicted); the chart shows the other sign.
                log_residual: -res,
            });
        }
        for name in &f.param_order {
            law_params.push((name.clone(), f.params[name], f.intervals.get(name).copied()));
        }
        for (name, v) in &f.derived {
            law_params.push((format!("{name} (derived)"), *v, f.intervals.get(name).copied()));
        }
    }

    // Curves and the frontier (approach 1's envelope).
    let mut curves = Vec::new();
    let mut all_points: Vec<[f64; 2]> = Vec::new();
    for r in &done {
        let pts: Vec<[f64; 2]> = store
            .curve(r.id)?
            .into_iter()
            .filter_map(|p| p.val_loss.map(|l| [6.0 * r.params * p.tokens, l]))
            .filter(|p| p[0] > 0.0)
            .collect();
        all_points.extend(&pts);
        all_points.push([r.flops, r.metrics.loss.unwrap()]);
        if !pts.is_empty() {
            curves.push(CurveSeries { key: r.key.clone(), n: r.params, points: pts });
        }
    }
    all_points.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let mut frontier = Vec::new();
    let mut best = f64::INFINITY;
    for p in all_points {
        if p[1] < best {
            best = p[1];
            frontier.push(p);
        }
    }

    let extrapolation: Vec<Extrapolation> = held
        .iter()
        .map(|(k, h)| Extrapolation {
            key: k.clone(),
            n: h.n,
            d: h.d,
            c: h.compute,
            actual: h.actual,
            predicted: h.predicted,
            interval: h.interval,
            rel_err: h.rel_err,
        })
        .collect();
    let rows: Vec<RunRow> = runs
        .iter()
        .map(|r| {
            let held_out = held_keys.contains(&r.key.as_str());
            RunRow {
                key: r.key.clone(),
                status: r.status.to_string(),
                reason: r.reason.clone(),
                n: r.params,
                d: r.tokens,
                c: r.flops,
                budget: r.budget,
                loss: r.metrics.loss,
                wall_seconds: r.metrics.wall_seconds,
                tokens_per_second: r.metrics.tokens_per_second,
                fitted: r.status == RunStatus::Done && !held_out && the_fit.is_some(),
                held_out,
            }
        })
        .collect();
    let mut summary = vec![
        ("runs".to_string(), format!("{} finished of {}", done.len(), runs.len())),
        (
            "compute range".to_string(),
            format!("{} – {} FLOPs (C = 6ND)", short(min_c), short(max_c)),
        ),
    ];
    if let Some(f) = &the_fit {
        let iv = |k: &str| {
            f.intervals.get(k).map(|[l, h]| format!(" [{l:.3}, {h:.3}]")).unwrap_or_default()
        };
        summary.push((
            "exponents".into(),
            format!(
                "α = {:.3}{}, β = {:.3}{}",
                f.params["alpha"],
                iv("alpha"),
                f.params["beta"],
                iv("beta")
            ),
        ));
        if let (Some(a), Some(b)) = (f.derived.get("a"), f.derived.get("b")) {
            summary.push((
                "N_opt ∝ C^a, D_opt ∝ C^b".into(),
                format!("a = {a:.3}{}, b = {b:.3}{}", iv("a"), iv("b")),
            ));
        }
        summary.push((
            "fit".into(),
            format!("RMSE of ln loss {:.4}, R² {:.4}, {} runs", f.rmse_log, f.r2, f.n_rows),
        ));
    }
    if let Some(e) = extrapolation_error {
        summary.push((
            "extrapolation".into(),
            format!(
                "mean |relative error| {:.2}% on the {} held-out largest run(s)",
                100.0 * e,
                held.len()
            ),
        ));
    }
    let input = ReportInput {
        title: sweep.to_string(),
        generator: format!("isoflop {}", env!("CARGO_PKG_VERSION")),
        summary,
        notes: notes.clone(),
        runs: rows,
        curves,
        frontier,
        isoflop: profiles,
        law_curves,
        optimal,
        residuals,
        extrapolation,
        plan: plans.clone(),
        law_params,
        law_formula: the_fit.as_ref().map(|_| "chinchilla: L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022, eq. 2), fitted by summed Huber (δ = 1e-3) on ln L with L-BFGS from Hoffmann's grid of starts".to_string()),
    };
    Ok(Analysis {
        sweep: sweep.to_string(),
        fit: the_fit,
        no_fit,
        held_out: held,
        extrapolation_error,
        plans,
        vertices,
        notes,
        input,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parabola_recovers_coefficients() {
        // y = 3 − 2x + 0.5x², sampled at x = 10..14: exact fit, vertex at x = 2.
        let xs: Vec<f64> = (10..15).map(f64::from).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 3.0 - 2.0 * x + 0.5 * x * x).collect();
        let [c0, c1, c2] = parabola(&xs, &ys).unwrap();
        assert!((c0 - 3.0).abs() < 1e-8 && (c1 + 2.0).abs() < 1e-9 && (c2 - 0.5).abs() < 1e-10);
        assert!(parabola(&xs[..2], &ys[..2]).is_none());
    }
}
