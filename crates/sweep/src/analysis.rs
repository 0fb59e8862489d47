//! From stored runs to everything a report and a summary show: the fit (Chinchilla's
//! approach 3 with a bootstrap), the extrapolation check on the largest runs, IsoFLOP
//! parabolas (approach 2), the frontier (approach 1), the plan for larger budgets.
//!
//! Only `done` runs are results; failed and diverged runs are named in the notes and never
//! fitted.

use crate::Result;
use crate::downstream_law::{DownstreamLaw, downstream_laws};
use crate::plan::short;
use isoflop_law::{
    Fit, FitOptions, Form, HeldOut, Holdout, Observation, approaches, evaluate_holdout, fit,
    split_holdout,
};
use isoflop_report::{
    CompressionSeries, CurveSeries, DistillSeries, DownstreamLawSeries, DownstreamSeries,
    Extrapolation, IsoflopProfile, LawCurve, OptimalScaling, PackedModel, PlanRow, ReportInput,
    Residual, RunRow, SparsitySeries,
};
use isoflop_store::{Run, RunFilter, RunStatus, Store};
use isoflop_train::compress::Method;
use isoflop_train::compress::scaling::{PowerFit, fit_power_law, pareto_front};
use serde::Serialize;
use std::path::Path;

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

/// A compression of one swept model (`[compress]` runs) against the model it compressed.
#[derive(Debug, Clone, Serialize)]
pub struct CompressionRow {
    /// The compression run's key.
    pub key: String,
    /// The pretraining run it read.
    pub source: String,
    /// The method (`int8`, `gptq-int4`, `wanda`, …).
    pub method: String,
    /// What the charts call it: the method, with its sparsity when the method was pruned to
    /// several (`wanda s0.3`).
    pub label: String,
    /// The target sparsity of a pruning method that takes one (magnitude, Wanda).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<f64>,
    /// Parameters N of the model.
    pub params: f64,
    /// Validation loss after compression.
    pub loss: f64,
    /// Validation loss of the source model as its run measured it.
    pub source_loss: Option<f64>,
    /// What the compression cost, as measured on the same tokens by the compression itself
    /// (its `report.json`'s `loss_delta`): loss after minus before.
    pub loss_delta: Option<f64>,
    /// The source model's loss on those tokens (`loss_original`).
    pub loss_original: Option<f64>,
    /// Bytes of the packed weights file, scales included.
    pub bytes: Option<f64>,
    /// Bytes of the source model's f32 weights.
    pub bytes_original: Option<f64>,
}

/// A distilled student (`[distill]` runs) beside the same shape trained from scratch by the
/// sweep.
#[derive(Debug, Clone, Serialize)]
pub struct DistillRow {
    /// The distillation run's key.
    pub key: String,
    /// The student's own pretraining run: the from-scratch comparison.
    pub scratch_key: String,
    /// The teacher's pretraining run.
    pub teacher_key: String,
    /// The compute budget of the three.
    pub budget: f64,
    /// Parameters N of the student.
    pub params: f64,
    /// Parameters N of the teacher.
    pub teacher_params: f64,
    /// Validation loss of the distilled student.
    pub loss: f64,
    /// Validation loss of the scratch run's model, scored by the distillation on the same
    /// windows as the distilled student (the paired comparison).
    pub scratch_loss: f64,
    /// The scratch run's own final validation loss, as its run measured it.
    pub scratch_run_loss: Option<f64>,
    /// Validation loss of the teacher, scored by the distillation on the students' windows
    /// (or else as its run measured it).
    pub teacher_loss: Option<f64>,
}

/// A fine-tune of one swept model (`[finetune]` runs): the task figures of its report.
#[derive(Debug, Clone, Serialize)]
pub struct DownstreamRow {
    /// The fine-tune run's key.
    pub key: String,
    /// The pretraining run it read.
    pub source: String,
    /// The task's name.
    pub task: String,
    /// The method (`full`, `lora`, …).
    pub method: String,
    /// Parameters N of the pretrained model.
    pub params: f64,
    /// Tokens D the pretrained model was trained on.
    pub tokens: f64,
    /// The pretrained model's validation loss, as its run measured it.
    pub source_loss: Option<f64>,
    /// The pretraining run's IsoFLOP budget, if it had one.
    pub budget: Option<f64>,
    /// Test accuracy.
    pub accuracy: f64,
    /// Test macro-F1.
    pub macro_f1: Option<f64>,
    /// The majority class's test accuracy.
    pub majority_accuracy: Option<f64>,
    /// The naive Bayes baseline's test accuracy.
    pub baseline_accuracy: Option<f64>,
    /// Trainable parameters over all parameters of the fine-tuned model.
    pub trainable_fraction: Option<f64>,
    /// Test precision, recall and F1 of each class.
    pub per_class: Vec<isoflop_train::metrics::ClassScore>,
}

/// One method's loss delta against N: Δ = a·N^(−b) over the positive deltas (the format
/// `isoflop plan --compression-fit` reads, as `compress --all --json` writes it).
#[derive(Debug, Clone, Serialize)]
pub struct CompressionFit {
    /// The method, with its sparsity when the sweep pruned with it at several (`wanda s0.3`).
    pub method: String,
    /// The power law, if at least two positive deltas at two sizes allowed one.
    pub fit: Option<PowerFit>,
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
    /// The sweep's compressions, by method then size.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compression: Vec<CompressionRow>,
    /// Each method's loss delta against N.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compression_fits: Vec<CompressionFit>,
    /// The sweep's distilled students, by budget and size.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub distill: Vec<DistillRow>,
    /// The sweep's fine-tunes, by task, method and size.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub downstream: Vec<DownstreamRow>,
    /// The two-step downstream law of each task and method with enough fine-tunes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub downstream_laws: Vec<DownstreamLaw>,
    /// The report's data.
    #[serde(skip)]
    pub input: ReportInput,
}

fn log_space(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| lo * (hi / lo).powf(i as f64 / (n - 1).max(1) as f64)).collect()
}

/// Runs within ±10% of an IsoFLOP budget form its profile (approach 2's default tolerance,
/// the same as `isoflop fit --approach isoflop`).
const BUDGET_TOLERANCE: f64 = 0.10;
/// FLOP counts on which the frontier (approach 1's envelope) is read.
const FRONTIER_POINTS: usize = 250;

/// Analyses sweep `sweep` of `store`.
pub fn analyse(store: &Store, sweep: &str, opts: &AnalysisOptions) -> Result<Analysis> {
    // The law's points are the pretraining runs; later stages (compressions) have their own
    // summary.
    let mut runs = store.runs(&RunFilter { sweep: Some(sweep.to_string()), statuses: vec![] })?;
    let compression = compression_rows(&runs);
    let distill = distill_rows(&runs);
    let downstream = downstream_rows(&runs);
    let mut downstream_series: Vec<DownstreamSeries> = Vec::new();
    let mut downstream_baselines: Vec<(String, f64)> = Vec::new();
    for d in &downstream {
        let label = format!("{} · {}", d.task, d.method);
        match downstream_series.iter_mut().find(|s| s.label == label) {
            Some(s) => s.points.push([d.params, d.accuracy]),
            None => downstream_series
                .push(DownstreamSeries { label, points: vec![[d.params, d.accuracy]] }),
        }
        for (what, acc) in
            [("majority class", d.majority_accuracy), ("naive Bayes", d.baseline_accuracy)]
        {
            let label = format!("{}: {what}", d.task);
            if let Some(acc) = acc
                && !downstream_baselines.iter().any(|b| b.0 == label)
            {
                downstream_baselines.push((label, acc));
            }
        }
    }
    let mut methods: Vec<&str> = compression.iter().map(|c| c.label.as_str()).collect();
    methods.dedup();
    let compression_fits: Vec<CompressionFit> = methods
        .iter()
        .map(|m| {
            let points: Vec<(f64, f64)> = compression
                .iter()
                .filter(|c| c.label == *m)
                .filter_map(|c| Some((c.params, c.loss_delta?)))
                .collect();
            CompressionFit { method: m.to_string(), fit: fit_power_law(&points) }
        })
        .collect();
    // The k-bit view: each source once as trained, then every packed model.
    let mut packed: Vec<PackedModel> = Vec::new();
    for c in &compression {
        if let (Some(bytes), Some(loss)) = (c.bytes_original, c.loss_original)
            && !packed.iter().any(|p| {
                p.method == "fp32" && p.n == c.params && p.bytes == bytes && p.loss == loss
            })
        {
            packed.push(PackedModel { method: "fp32".into(), n: c.params, bytes, loss });
        }
    }
    for c in &compression {
        if let Some(bytes) = c.bytes {
            packed.push(PackedModel { method: c.label.clone(), n: c.params, bytes, loss: c.loss });
        }
    }
    let compression_series: Vec<CompressionSeries> = compression_fits
        .iter()
        .map(|f| CompressionSeries {
            method: f.method.clone(),
            points: compression
                .iter()
                .filter(|c| c.label == f.method)
                .filter_map(|c| Some([c.params, c.loss_delta?]))
                .collect(),
            fit: f.fit.as_ref().map(|p| [p.a, p.b]),
        })
        .collect();
    runs.retain(Run::is_pretrain);
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

    // IsoFLOP profiles (approach 2), by isoflop-law's one implementation: what `isoflop fit
    // --approach isoflop` computes on the same runs. Profiles of fewer than three runs are
    // not drawn.
    let all_profiles = if obs.is_empty() {
        Vec::new()
    } else {
        approaches::isoflop_profiles(&obs, BUDGET_TOLERANCE)?
    };
    let mut profiles = Vec::new();
    let mut vertices = Vec::new();
    let mut budget_runs = Vec::new();
    for b in all_profiles.into_iter().filter(|b| b.runs >= 3) {
        if let Some(why) = &b.refused {
            notes.push(format!("IsoFLOP budget {}: {why}; no vertex", short(b.compute)));
        }
        let vertex = b.n_opt.zip(b.loss_opt).map(|(n, l)| [n, l]);
        if let (Some(n), Some(d)) = (b.n_opt, b.d_opt) {
            vertices.push([b.compute, n, d]);
        }
        budget_runs.push(b.runs);
        profiles.push(IsoflopProfile {
            budget: b.compute,
            points: b.points,
            parabola: b.parabola,
            vertex,
        });
    }

    // Approach 3, with the largest runs held out.
    let holdout_k = if budget_runs.is_empty() {
        opts.holdout_budgets
    } else {
        budget_runs.iter().rev().take(opts.holdout_budgets).sum()
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
    // The downstream laws ride on the same loss law (and its bootstrap) as the plans.
    let (downstream_laws, dl_notes) = match &the_fit {
        Some(f) if !downstream.is_empty() => {
            downstream_laws(f, &downstream, &held_keys, opts.bootstrap, opts.seed)
        }
        _ => (Vec::new(), Vec::new()),
    };
    notes.extend(dl_notes);

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

    // Curves and the frontier: approach 1's envelope (isoflop-law's), over every evaluated
    // point of every finished run and its final loss.
    let mut curves = Vec::new();
    let mut curve_rows: Vec<Observation> = Vec::new();
    for r in &done {
        let mut pts: Vec<[f64; 2]> = Vec::new();
        for p in store.curve(r.id)? {
            if let Some(l) = p.val_loss
                && p.tokens > 0.0
            {
                pts.push([6.0 * r.params * p.tokens, l]);
                let mut o = Observation::new(r.params, p.tokens, l);
                o.run = Some(r.key.clone());
                curve_rows.push(o);
            }
        }
        let mut last = Observation::new(r.params, r.tokens, r.metrics.loss.unwrap());
        last.run = Some(r.key.clone());
        curve_rows.push(last);
        if !pts.is_empty() {
            curves.push(CurveSeries { key: r.key.clone(), n: r.params, points: pts });
        }
    }
    let frontier = if curve_rows.is_empty() {
        Vec::new()
    } else {
        approaches::envelope_points(&curve_rows, FRONTIER_POINTS)?
            .into_iter()
            .map(|p| [p.compute, p.loss])
            .collect()
    };

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
    // The largest model of each task and method: the per-class figures and what it trained.
    let mut pairs: Vec<(&str, &str)> =
        downstream.iter().map(|r| (r.task.as_str(), r.method.as_str())).collect();
    pairs.dedup();
    for (task, method) in pairs {
        let Some(big) = downstream
            .iter()
            .filter(|r| r.task == task && r.method == method)
            .max_by(|a, b| a.params.total_cmp(&b.params))
        else {
            continue;
        };
        let classes: Vec<String> = big
            .per_class
            .iter()
            .map(|c| format!("{} P {:.3} R {:.3} F1 {:.3}", c.label, c.precision, c.recall, c.f1))
            .collect();
        summary.push((
            format!("{task} · {method}, largest model"),
            format!(
                "N = {}: accuracy {:.3}, macro-F1 {}, {} of its parameters trained; {}",
                short(big.params),
                big.accuracy,
                big.macro_f1.map_or("–".into(), |f| format!("{f:.3}")),
                big.trainable_fraction.map_or("–".into(), |f| format!("{:.1}%", 100.0 * f)),
                classes.join("; ")
            ),
        ));
    }
    for l in &downstream_laws {
        let p = &l.law.metric_fit.params;
        let check = l
            .held_out_error
            .map(|e| {
                format!(
                    "; fitted without the largest budget, it predicts that budget's {} accuracies \
                     within {:.1} points on average",
                    l.held_out.len(),
                    100.0 * e
                )
            })
            .unwrap_or_default();
        let flat = match (l.trend, l.law.metric_fit.intervals.get("k")) {
            (Some(false), Some([lo, hi])) => format!(
                "; no trend shown: k's 95% interval [{lo:.2}, {hi:.2}] includes 0, so the \
                 ceiling and steepness are noise"
            ),
            _ => String::new(),
        };
        summary.push((
            format!("downstream {} · {}", l.task, l.method),
            format!(
                "accuracy from {:.3} (floor) toward {:.3} (ceiling) as loss falls, midpoint at \
                 loss {:.3}{check}{flat}",
                p["floor"], p["ceiling"], p["x0"]
            ),
        ));
    }
    let downstream_law_series: Vec<DownstreamLawSeries> = downstream_laws
        .iter()
        .map(|l| {
            let mine = downstream.iter().filter(|r| r.task == l.task && r.method == l.method);
            let (mut points, mut held, mut by_compute) = (Vec::new(), Vec::new(), Vec::new());
            for r in mine {
                by_compute.push([6.0 * r.params * r.tokens, r.accuracy]);
                let Some(loss) = r.source_loss else { continue };
                if held_keys.contains(&r.source.as_str()) {
                    held.push([loss, r.accuracy]);
                } else {
                    points.push([loss, r.accuracy]);
                }
            }
            // The chain along the compute-optimal frontier, from the smallest model's compute
            // to 100× the largest: what `plan --target-accuracy` reads.
            let (c_lo, c_hi) = by_compute
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(a, b), p| (a.min(p[0]), b.max(p[0])));
            let frontier = log_space(c_lo / 2.0, 100.0 * c_hi, 40)
                .into_iter()
                .filter(|c| c.is_finite() && *c > 0.0)
                .filter_map(|c| {
                    let (p, m) = l.law.at_compute(c).ok()?;
                    let [lo, hi] =
                        l.law.predict(p.n_opt, p.d_opt).metric_interval.unwrap_or([m, m]);
                    Some([c, m, lo, hi])
                })
                .collect();
            let all = points.iter().chain(&held).map(|p| p[0]);
            let (lo, hi) =
                all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
            let pad = 0.15 * (hi - lo).max(1e-3);
            let xs: Vec<f64> =
                (0..=60).map(|i| lo - pad + (hi - lo + 2.0 * pad) * i as f64 / 60.0).collect();
            let curve = xs.iter().map(|&x| [x, l.law.metric_at_loss(x)]).collect();
            // Step 2's bootstrap band: where the sigmoid lies, at each loss.
            let band = xs
                .iter()
                .filter_map(|&x| {
                    let o = Observation::new(1.0, 1.0, x);
                    let [a, b] = l.law.metric_fit.predict_interval_obs(&o)?;
                    Some([x, a, b])
                })
                .collect();
            DownstreamLawSeries {
                label: format!("{} · {}", l.task, l.method),
                points,
                held,
                curve,
                band,
                by_compute,
                frontier,
                held_out_error: l.held_out_error,
            }
        })
        .collect();
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
        compression: compression_series,
        sparsity: sparsity_series(&compression),
        distill: distill_series(&distill),
        downstream: downstream_series,
        downstream_baselines,
        downstream_laws: downstream_law_series,
        packed_front: pareto_front(&packed.iter().map(|p| (p.bytes, p.loss)).collect::<Vec<_>>())
            .into_iter()
            .map(|i| [packed[i].bytes, packed[i].loss])
            .collect(),
        packed,
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
        compression,
        compression_fits,
        distill,
        downstream,
        downstream_laws,
        input,
    })
}

/// The finished fine-tunes, from their reports (beside them, in their run directories), by
/// task, method and size, each with its pretrained model's tokens, loss and budget.
pub fn downstream_rows(runs: &[Run]) -> Vec<DownstreamRow> {
    let mut rows: Vec<DownstreamRow> = runs
        .iter()
        .filter(|r| r.kind() == "finetune" && r.status == RunStatus::Done)
        .filter_map(|r| {
            // A fine-tune made here wrote report.json; an imported one carries its figures in
            // its config (`isoflop import` of rows with a metric).
            let report: serde_json::Value = match &r.checkpoint {
                Some(dir) => serde_json::from_str(
                    &std::fs::read_to_string(Path::new(dir).join("report.json")).ok()?,
                )
                .ok()?,
                None => r.config.clone(),
            };
            let source = r.config["after"].get(0)?.as_str()?.to_string();
            let model = runs.iter().find(|s| s.key == source);
            Some(DownstreamRow {
                key: r.key.clone(),
                task: report["task"].as_str()?.to_string(),
                method: report["method"].as_str()?.to_string(),
                params: r.params,
                tokens: model.map_or(r.tokens, |m| m.tokens),
                source_loss: model.and_then(|m| m.metrics.loss),
                budget: model.and_then(|m| m.budget),
                source,
                accuracy: report["accuracy"].as_f64()?,
                macro_f1: report["macro_f1"].as_f64(),
                majority_accuracy: report["majority_accuracy"].as_f64(),
                baseline_accuracy: report["baseline_accuracy"].as_f64(),
                trainable_fraction: report["trainable_fraction"].as_f64(),
                per_class: serde_json::from_value(report["per_class"].clone()).unwrap_or_default(),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.task.as_str(), a.method.as_str())
            .cmp(&(b.task.as_str(), b.method.as_str()))
            .then(a.params.total_cmp(&b.params))
    });
    rows
}

/// The finished compression runs against their sources. The loss delta is the compression's
/// own (before and after scored on the same tokens, in its `report.json` beside its packed
/// model); the source's run loss is shown beside it.
fn compression_rows(runs: &[Run]) -> Vec<CompressionRow> {
    let mut rows: Vec<CompressionRow> = runs
        .iter()
        .filter(|r| r.kind() == "compress" && r.status == RunStatus::Done)
        .filter_map(|r| {
            let source = r.config["after"].get(0)?.as_str()?.to_string();
            let method = r.config["method"].as_str()?.to_string();
            let sparsity = method
                .parse::<Method>()
                .ok()
                .filter(|m| m.prunes() && *m != Method::TwoFour)
                .and_then(|_| r.config["options"]["sparsity"].as_f64());
            let source_loss = runs.iter().find(|s| s.key == source).and_then(|s| s.metrics.loss);
            let report: serde_json::Value = r
                .checkpoint
                .as_ref()
                .and_then(|dir| std::fs::read_to_string(Path::new(dir).join("report.json")).ok())
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
            Some(CompressionRow {
                key: r.key.clone(),
                source,
                label: method.clone(),
                method,
                sparsity,
                params: r.params,
                loss: r.metrics.loss?,
                source_loss,
                loss_delta: report["loss_delta"].as_f64(),
                loss_original: report["loss_original"].as_f64(),
                bytes: report["bytes"].as_f64(),
                bytes_original: report["bytes_original"].as_f64(),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        a.method
            .cmp(&b.method)
            .then(a.sparsity.unwrap_or(0.0).total_cmp(&b.sparsity.unwrap_or(0.0)))
            .then(a.params.total_cmp(&b.params))
    });
    // A method pruned to several sparsities is several methods to the charts by size and
    // memory: `wanda s0.3`, `wanda s0.7`.
    for i in 0..rows.len() {
        let several = rows[i].sparsity.is_some_and(|s| {
            rows.iter().any(|o| o.method == rows[i].method && o.sparsity.is_some_and(|t| t != s))
        });
        if several {
            rows[i].label = format!("{} s{}", rows[i].method, rows[i].sparsity.unwrap_or(0.0));
        }
    }
    rows
}

/// The finished distillations, from their reports: the distilled and the paired scratch
/// loss, the teacher and the student runs from the store; by budget, then student size.
fn distill_rows(runs: &[Run]) -> Vec<DistillRow> {
    let find = |key: &str| runs.iter().find(|s| s.key == key);
    let mut rows: Vec<DistillRow> = runs
        .iter()
        .filter(|r| r.kind() == "distill" && r.status == RunStatus::Done)
        .filter_map(|r| {
            let text =
                std::fs::read_to_string(Path::new(r.checkpoint.as_ref()?).join("report.json"))
                    .ok()?;
            let report: serde_json::Value = serde_json::from_str(&text).ok()?;
            let scratch_key = r.config["after"].get(0)?.as_str()?.to_string();
            let teacher_key = report["source"].as_str()?.to_string();
            let teacher = find(&teacher_key)?;
            Some(DistillRow {
                key: r.key.clone(),
                budget: r.budget?,
                params: r.params,
                teacher_params: teacher.params,
                teacher_loss: report["loss_original"].as_f64().or(teacher.metrics.loss),
                loss: r.metrics.loss?,
                scratch_loss: report["scratch"]["loss"].as_f64()?,
                scratch_run_loss: find(&scratch_key).and_then(|s| s.metrics.loss),
                scratch_key,
                teacher_key,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.budget.total_cmp(&b.budget).then(a.params.total_cmp(&b.params)));
    rows
}

/// Distilled against scratch: one series per budget (and teacher), the distilled and the
/// paired scratch losses against student N. Rows as [`distill_rows`] gives them.
pub fn distill_series(rows: &[DistillRow]) -> Vec<DistillSeries> {
    let mut out: Vec<DistillSeries> = Vec::new();
    for r in rows {
        let i = match out
            .iter()
            .position(|s| s.budget == r.budget && s.teacher_n == r.teacher_params)
        {
            Some(i) => i,
            None => {
                out.push(DistillSeries {
                    budget: r.budget,
                    teacher_n: r.teacher_params,
                    teacher_loss: r.teacher_loss,
                    distilled: Vec::new(),
                    scratch: Vec::new(),
                });
                out.len() - 1
            }
        };
        out[i].distilled.push([r.params, r.loss]);
        out[i].scratch.push([r.params, r.scratch_loss]);
    }
    for s in &mut out {
        s.distilled.sort_by(|a, b| a[0].total_cmp(&b[0]));
        s.scratch.sort_by(|a, b| a[0].total_cmp(&b[0]));
    }
    out.sort_by(|a, b| a.budget.total_cmp(&b.budget).then(a.teacher_n.total_cmp(&b.teacher_n)));
    out
}

/// Loss against sparsity: for each pruning method compressed at two or more sparsities, one
/// series per source model, its points the pruned losses with the model as trained at
/// sparsity 0 (its loss on the same tokens, `loss_original`, or else its run's loss). Rows
/// must be finished compressions, as [`compression_rows`] gives them.
pub fn sparsity_series(rows: &[CompressionRow]) -> Vec<SparsitySeries> {
    let mut out: Vec<SparsitySeries> = Vec::new();
    let mut sources: Vec<(&str, &str)> = Vec::new();
    for r in rows.iter().filter(|r| r.sparsity.is_some()) {
        if !sources.contains(&(r.method.as_str(), r.source.as_str())) {
            sources.push((&r.method, &r.source));
        }
    }
    for (method, source) in sources {
        let mut levels: Vec<f64> =
            rows.iter().filter(|r| r.method == method).filter_map(|r| r.sparsity).collect();
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        if levels.len() < 2 {
            continue;
        }
        let of: Vec<&CompressionRow> =
            rows.iter().filter(|r| r.method == method && r.source == source).collect();
        let mut points: Vec<[f64; 2]> =
            of.iter().filter_map(|r| Some([r.sparsity?, r.loss])).collect();
        if let Some(l0) = of.iter().find_map(|r| r.loss_original.or(r.source_loss)) {
            points.push([0.0, l0]);
        }
        points.sort_by(|a, b| a[0].total_cmp(&b[0]));
        out.push(SparsitySeries { method: method.to_string(), n: of[0].params, points });
    }
    out.sort_by(|a, b| a.method.cmp(&b.method).then(a.n.total_cmp(&b.n)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, source: &str, n: f64, sparsity: Option<f64>, loss: f64) -> CompressionRow {
        CompressionRow {
            key: format!("{source}-{method}-{sparsity:?}"),
            source: source.into(),
            method: method.into(),
            label: method.into(),
            sparsity,
            params: n,
            loss,
            source_loss: Some(9.0),
            loss_delta: None,
            // The source as trained, on the compression's own tokens.
            loss_original: Some(if n < 2e5 { 2.0 } else { 1.8 }),
            bytes: None,
            bytes_original: None,
        }
    }

    #[test]
    fn distilled_and_scratch_students_pair_up_by_budget() {
        let d = |budget: f64, n: f64, loss: f64, scratch: f64| DistillRow {
            key: format!("c{budget}-{n}-distill"),
            scratch_key: format!("c{budget}-{n}"),
            teacher_key: format!("c{budget}-4e5"),
            budget,
            params: n,
            teacher_params: 4e5,
            loss,
            scratch_loss: scratch,
            scratch_run_loss: None,
            teacher_loss: Some(1.7),
        };
        let rows = vec![d(1e13, 2e5, 1.9, 2.0), d(1e12, 2e5, 2.1, 2.15), d(1e12, 1e5, 2.3, 2.4)];
        let s = distill_series(&rows);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].budget, s[0].teacher_n, s[0].teacher_loss), (1e12, 4e5, Some(1.7)));
        assert_eq!(s[0].distilled, vec![[1e5, 2.3], [2e5, 2.1]]);
        assert_eq!(s[0].scratch, vec![[1e5, 2.4], [2e5, 2.15]]);
        assert_eq!((s[1].budget, s[1].distilled.len()), (1e13, 1));
    }

    #[test]
    fn loss_against_sparsity_has_a_line_per_method_and_size_from_sparsity_zero() {
        let rows = vec![
            row("int8", "a", 1e5, None, 2.01),
            row("wanda", "a", 1e5, Some(0.7), 2.9),
            row("wanda", "a", 1e5, Some(0.3), 2.1),
            row("wanda", "b", 4e5, Some(0.3), 1.85),
            row("wanda", "b", 4e5, Some(0.7), 2.4),
            // Pruned at one sparsity only: no line.
            row("magnitude", "a", 1e5, Some(0.5), 2.5),
        ];
        let s = sparsity_series(&rows);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!((s[0].method.as_str(), s[0].n), ("wanda", 1e5));
        assert_eq!(s[0].points, vec![[0.0, 2.0], [0.3, 2.1], [0.7, 2.9]]);
        assert_eq!((s[1].method.as_str(), s[1].n), ("wanda", 4e5));
        assert_eq!(s[1].points, vec![[0.0, 1.8], [0.3, 1.85], [0.7, 2.4]]);
        // Without the compression's own score of the original, the source run's loss.
        let mut bare = rows.clone();
        bare.iter_mut().for_each(|r| r.loss_original = None);
        assert_eq!(sparsity_series(&bare)[0].points[0], [0.0, 9.0]);
        // One sparsity per method: no chart.
        assert!(sparsity_series(&rows[..2]).is_empty());
    }
}
