//! Downstream laws: a task metric (accuracy, macro-F1) predicted from N and D in two steps,
//! the chain of Bhagia et al. 2024 ("Establishing Task Scaling Laws via Compute-Efficient
//! Model Ladders", section 3) and Gadre et al. 2024 (section 3):
//!
//! 1. the pretraining loss L(N, D) by a loss law (Chinchilla's by default);
//! 2. metric = floor + (ceiling − floor) · σ(k (L − x0)), the `sigmoid-loss` form.
//!
//! Step 1 is fitted on every pretrained model (one row each), step 2 on the rows that carry
//! the metric of one task and method, against their models' measured loss. The floor may be
//! held at chance (the majority-class rate of a classifier) and the ceiling is at most 1.
//!
//! Intervals go through both steps by bootstrap: each step is refitted on resamples of its
//! own rows, and sample i of the chain is step 1's sample i followed by step 2's sample i
//! (the two row sets are resampled independently, as they are different data).
//!
//! Planning by a target inverts the chain: the loss the target needs,
//! L* = x0 + ln((y − floor) / (ceiling − y)) / k, then the least compute whose
//! compute-optimal model reaches L* ([`crate::plan::for_target_loss`]).

use crate::{Error, Fit, FitOptions, Form, Observation, Plan, Result, SigmoidAxis, fit};
use crate::{percentile_interval, plan};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The `kind` a saved two-step law carries, which tells it apart from a fit.json.
pub const TWO_STEP: &str = "two-step";

/// A fitted two-step downstream law, as `isoflop fit --downstream -o` saves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Downstream {
    /// Always [`TWO_STEP`].
    pub kind: String,
    /// The task the metric was measured on, when the rows named one.
    pub task: Option<String>,
    /// The adaptation method (full, lora, …), when the rows named one.
    pub method: Option<String>,
    /// Step 1: loss from N and D.
    pub loss_fit: Fit,
    /// Step 2: the metric from the loss (form `sigmoid-loss`).
    pub metric_fit: Fit,
    /// The isoflop version that made it.
    pub version: String,
}

/// A prediction of the chain at one (N, D).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownstreamPrediction {
    /// Parameters N.
    pub n: f64,
    /// Tokens D.
    pub d: f64,
    /// 6ND.
    pub compute: f64,
    /// Step 1's loss.
    pub loss: f64,
    /// Bootstrap 95% interval of the loss.
    pub loss_interval: Option<[f64; 2]>,
    /// The metric through both steps.
    pub metric: f64,
    /// Bootstrap 95% interval of the metric through both steps (where the law lies).
    pub metric_interval: Option<[f64; 2]>,
}

/// The least compute that reaches a target metric, with its compute-optimal N and D.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetPlan {
    /// The target metric.
    pub target: f64,
    /// The loss step 2 needs for the target.
    pub loss_needed: f64,
    /// Bootstrap 95% interval of the loss needed.
    pub loss_needed_interval: Option<[f64; 2]>,
    /// The compute-optimal plan that reaches `loss_needed` with the least compute (its
    /// intervals are step 1's alone, at the point estimate's loss needed).
    pub plan: Plan,
    /// Bootstrap 95% interval of the compute through both steps.
    pub compute_interval: Option<[f64; 2]>,
    /// Bootstrap 95% interval of N through both steps.
    pub n_interval: Option<[f64; 2]>,
    /// Bootstrap 95% interval of D through both steps.
    pub d_interval: Option<[f64; 2]>,
    /// Bootstrap samples of the chain, and how many of them reach the target at all (a
    /// sample whose ceiling lies below the target never does).
    pub samples: usize,
    /// See `samples`.
    pub samples_reaching: usize,
    /// The fitted ceiling of step 2.
    pub ceiling: f64,
    /// The fitted floor of step 2.
    pub floor: f64,
}

/// Options of the two steps. The metric step's form is always `sigmoid-loss`.
#[derive(Debug, Clone, PartialEq)]
pub struct DownstreamOptions {
    /// Step 1's options (form, Huber δ, grid, …); its bootstrap and seed are replaced by
    /// this struct's.
    pub loss: FitOptions,
    /// Hold the floor at this value (chance, or the majority-class accuracy); free otherwise.
    pub chance: Option<f64>,
    /// Huber δ of step 2's residuals, in metric units.
    pub metric_huber_delta: f64,
    /// Bootstrap resamples of both steps (0: none).
    pub bootstrap: usize,
    /// Seed of step 1's resampling; step 2 uses the next seed.
    pub seed: u64,
    /// Use every k-th start of both grids.
    pub grid_stride: usize,
}

/// δ of step 2: a hundredth of accuracy, so that the scatter of fine-tunes (a few points of
/// accuracy between neighbouring runs) is fitted in the Huber loss's quadratic part and only
/// outliers beyond it are down-weighted.
pub const METRIC_HUBER_DELTA: f64 = 0.01;

impl Default for DownstreamOptions {
    fn default() -> Self {
        Self {
            loss: FitOptions::default(),
            chance: None,
            metric_huber_delta: METRIC_HUBER_DELTA,
            bootstrap: 0,
            seed: 0,
            grid_stride: 1,
        }
    }
}

impl DownstreamOptions {
    /// Step 2's options: `sigmoid-loss`, floor and ceiling within [0, 1], the floor at
    /// chance when given.
    pub fn metric_options(&self) -> FitOptions {
        let mut o = FitOptions::for_form(Form::sigmoid(SigmoidAxis::Loss));
        o.huber_delta = self.metric_huber_delta;
        o.bootstrap = self.bootstrap;
        o.seed = self.seed.wrapping_add(1);
        o.grid_stride = self.grid_stride;
        o.bounds.insert("ceiling".into(), (Some(0.0), Some(1.0)));
        match self.chance {
            Some(c) => {
                o.fixed.insert("floor".into(), c);
            }
            None => {
                o.bounds.insert("floor".into(), (Some(0.0), Some(1.0)));
            }
        }
        o
    }

    fn loss_options(&self) -> FitOptions {
        let mut o = self.loss.clone();
        o.bootstrap = self.bootstrap;
        o.seed = self.seed;
        o.grid_stride = self.grid_stride;
        o
    }
}

/// Step 2 needs a few more rows than its parameters to say anything.
const MIN_METRIC_ROWS: usize = 5;

/// Fits the chain: step 1 on `loss_rows` (N, D, loss), step 2 on `metric_rows` (loss and
/// metric). Metrics must be fractions in [0, 1] (accuracy, F1), chance too.
pub fn fit_two_step(
    loss_rows: &[Observation],
    metric_rows: &[Observation],
    opts: &DownstreamOptions,
) -> Result<Downstream> {
    check_step_one(opts.loss.form)?;
    check_metric_rows(metric_rows, opts)?;
    let loss_fit = fit(loss_rows, &opts.loss_options())?;
    fit_metric_step(loss_fit, metric_rows, opts)
}

/// Step 2 on `metric_rows` after an existing step 1 (a sweep's own law, say); pairs its
/// bootstrap samples with `loss_fit`'s, so give both the same number of resamples.
pub fn fit_metric_step(
    loss_fit: Fit,
    metric_rows: &[Observation],
    opts: &DownstreamOptions,
) -> Result<Downstream> {
    check_step_one(loss_fit.form)?;
    check_metric_rows(metric_rows, opts)?;
    let task = common(metric_rows, |o| o.task.as_deref(), "task")?;
    let method = common(metric_rows, |o| o.method.as_deref(), "method")?;
    let metric_fit = fit(metric_rows, &opts.metric_options())?;
    let d = Downstream {
        kind: TWO_STEP.into(),
        task,
        method,
        loss_fit,
        metric_fit,
        version: env!("CARGO_PKG_VERSION").into(),
    };
    d.validate()?;
    Ok(d)
}

fn check_step_one(form: Form) -> Result<()> {
    if form.plannable() {
        return Ok(());
    }
    Err(Error::InvalidOption(format!(
        "step 1 of a downstream law must predict loss from N and D; form {form} does not"
    )))
}

fn check_metric_rows(metric_rows: &[Observation], opts: &DownstreamOptions) -> Result<()> {
    if let Some(c) = opts.chance
        && !(0.0..1.0).contains(&c)
    {
        return Err(Error::InvalidOption(format!("chance must lie in [0, 1), got {c}")));
    }
    for (i, o) in metric_rows.iter().enumerate() {
        match o.metric {
            None => {
                return Err(Error::InvalidData(format!(
                    "downstream row {} (N = {}) has no metric",
                    i + 1,
                    o.n
                )));
            }
            Some(m) if !(0.0..=1.0).contains(&m) => {
                return Err(Error::InvalidData(format!(
                    "downstream row {} (N = {}): metric {m} is not a fraction in [0, 1] \
                     (give accuracy as 0.85, not 85)",
                    i + 1,
                    o.n
                )));
            }
            Some(_) => {}
        }
    }
    if metric_rows.len() < MIN_METRIC_ROWS {
        return Err(Error::InvalidData(format!(
            "a downstream law needs at least {MIN_METRIC_ROWS} rows with a metric, got {}",
            metric_rows.len()
        )));
    }
    Ok(())
}

/// The one value of a text column the rows share (None when none gives one); an error when
/// rows disagree, as a law across tasks or methods would mix two curves.
fn common<'a>(
    rows: &'a [Observation],
    get: impl Fn(&'a Observation) -> Option<&'a str>,
    what: &str,
) -> Result<Option<String>> {
    let mut seen: Vec<&str> = rows.iter().filter_map(get).collect();
    seen.sort_unstable();
    seen.dedup();
    match seen.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).to_string())),
        many => Err(Error::InvalidData(format!(
            "the downstream rows mix {} values of `{what}` ({}): choose one with --{what}",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// Why a target cannot be planned under one parameter vector.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unreachable {
    /// At or beyond the ceiling: no loss gives it.
    AboveCeiling,
    /// At or below the floor: every model has it.
    AtFloor,
    /// The metric does not change with the loss (k = 0 or floor = ceiling).
    Flat,
}

/// The loss at which the sigmoid [floor, ceiling, k, x0] equals `target`.
fn loss_for_metric(p: &[f64], target: f64) -> std::result::Result<f64, Unreachable> {
    let (lo, hi, k, x0) = (p[0], p[1], p[2], p[3]);
    if k == 0.0 || hi == lo {
        return Err(Unreachable::Flat);
    }
    // The metric better than the floor is the side the sigmoid reaches as loss falls.
    let s = (target - lo) / (hi - lo);
    if s >= 1.0 {
        return Err(Unreachable::AboveCeiling);
    }
    if s <= 0.0 {
        return Err(Unreachable::AtFloor);
    }
    Ok(x0 + (s / (1.0 - s)).ln() / k)
}

/// The least compute at which a `sigmoid` fit (metric against ln C) reaches a target: a law
/// in C alone says nothing of N and D.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputeForMetric {
    /// The target metric.
    pub target: f64,
    /// FLOPs C at which the fitted metric equals the target.
    pub compute: f64,
    /// Bootstrap 95% interval of C.
    pub compute_interval: Option<[f64; 2]>,
    /// Bootstrap samples, and how many reach the target.
    pub samples: usize,
    /// See `samples`.
    pub samples_reaching: usize,
}

/// The compute at which a `sigmoid` fit reaches `target`, refused when the target lies at or
/// beyond the fitted ceiling or floor, or the metric does not rise with compute.
pub fn compute_for_metric(f: &Fit, target: f64) -> Result<ComputeForMetric> {
    if f.form != Form::sigmoid(SigmoidAxis::Compute) {
        return Err(Error::InvalidOption(format!(
            "form {} is not a metric against compute; fit `sigmoid`, or a downstream law with \
             `fit --downstream`",
            f.form
        )));
    }
    let p = f.param_vector();
    if p[2] <= 0.0 {
        return Err(Error::InvalidOption(format!(
            "the fitted metric does not rise with compute (k = {:.4}), so more compute never \
             reaches a higher target",
            p[2]
        )));
    }
    // ln C plays the loss's part: the same inverse, read the other way round.
    let ln_c = loss_for_metric(&p, target).map_err(|why| {
        Error::InvalidOption(match why {
            Unreachable::AboveCeiling => format!(
                "target {target} lies at or above the fitted ceiling {:.4}: under this law no \
                 compute reaches it",
                p[1]
            ),
            Unreachable::AtFloor => format!(
                "target {target} lies at or below the fitted floor {:.4}: every model reaches it",
                p[0]
            ),
            Unreachable::Flat => "the fitted metric does not change with compute".into(),
        })
    })?;
    let samples: &[Vec<f64>] = f.bootstrap.as_ref().map_or(&[], |b| &b.samples);
    let cs: Vec<f64> = samples
        .iter()
        .filter(|s| s[2] > 0.0)
        .filter_map(|s| loss_for_metric(s, target).ok().map(f64::exp))
        .collect();
    Ok(ComputeForMetric {
        target,
        compute: ln_c.exp(),
        compute_interval: if cs.is_empty() { None } else { percentile_interval(&cs, 0.95) },
        samples: samples.len(),
        samples_reaching: cs.len(),
    })
}

impl Downstream {
    /// Checks each fit, and that step 1 is a loss law in N and D and step 2 is
    /// `sigmoid-loss`.
    pub fn validate(&self) -> Result<()> {
        let bad = |message: String| Err(Error::InvalidFit { origin: None, message });
        if self.kind != TWO_STEP {
            return bad(format!("`kind` is `{}`, expected `{TWO_STEP}`", self.kind));
        }
        if !self.loss_fit.form.plannable() {
            return bad(format!(
                "`loss_fit` has form {}, which does not predict loss from N and D",
                self.loss_fit.form
            ));
        }
        if self.metric_fit.form != Form::sigmoid(SigmoidAxis::Loss) {
            return bad(format!(
                "`metric_fit` has form {}, expected sigmoid-loss",
                self.metric_fit.form
            ));
        }
        let inner = |what: &str, e: Error| match e {
            Error::InvalidFit { message, .. } => {
                Error::InvalidFit { origin: None, message: format!("`{what}`: {message}") }
            }
            other => other,
        };
        self.loss_fit.validate().map_err(|e| inner("loss_fit", e))?;
        self.metric_fit.validate().map_err(|e| inner("metric_fit", e))?;
        Ok(())
    }

    /// Reads and checks a law saved by `isoflop fit --downstream -o`; errors name the file.
    pub fn load(path: &Path) -> Result<Downstream> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::from_json(&text, Some(path))
    }

    /// Parses and checks the JSON text of a saved two-step law.
    pub fn from_json(text: &str, origin: Option<&Path>) -> Result<Downstream> {
        let invalid =
            |message: String| Error::InvalidFit { origin: origin.map(Path::to_path_buf), message };
        let d: Downstream = serde_json::from_str(text).map_err(|e| {
            invalid(format!(
                "this is not a downstream law saved by `isoflop fit --downstream -o` (line {}, \
                 column {}: {e})",
                e.line(),
                e.column()
            ))
        })?;
        d.validate().map_err(|e| match e {
            Error::InvalidFit { message, .. } => invalid(message),
            other => invalid(other.to_string()),
        })?;
        Ok(d)
    }

    /// The law as JSON text, checked first.
    pub fn to_json(&self) -> Result<String> {
        self.validate()?;
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::InvalidFit { origin: None, message: e.to_string() })
    }

    /// Whether a JSON text is a saved two-step law (its `kind`), as opposed to a fit.json.
    pub fn is_downstream_json(text: &str) -> bool {
        #[derive(Deserialize)]
        struct Kind {
            kind: Option<String>,
        }
        serde_json::from_str::<Kind>(text).is_ok_and(|k| k.kind.as_deref() == Some(TWO_STEP))
    }

    /// Step 2's point parameters [floor, ceiling, k, x0].
    fn metric_params(&self) -> Vec<f64> {
        self.metric_fit.param_vector()
    }

    /// The fitted ceiling.
    pub fn ceiling(&self) -> f64 {
        self.metric_fit.params["ceiling"]
    }

    /// The fitted floor.
    pub fn floor(&self) -> f64 {
        self.metric_fit.params["floor"]
    }

    /// The metric at a loss, by step 2 alone.
    pub fn metric_at_loss(&self, loss: f64) -> f64 {
        self.metric_with(&self.metric_params(), loss)
    }

    /// Step 2 under one parameter vector (the point estimate or a bootstrap sample).
    fn metric_with(&self, p: &[f64], loss: f64) -> f64 {
        self.metric_fit.predict_with(p, &Observation::new(1.0, 1.0, loss))
    }

    /// `task · method`, as far as the rows named them (empty when neither).
    pub fn label(&self) -> String {
        [self.task.as_deref(), self.method.as_deref()]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// Pairs of (step 1, step 2) bootstrap samples, in reported units.
    fn sample_pairs(&self) -> Vec<(&[f64], &[f64])> {
        match (&self.loss_fit.bootstrap, &self.metric_fit.bootstrap) {
            (Some(a), Some(b)) => a
                .samples
                .iter()
                .zip(&b.samples)
                .map(|(x, y)| (x.as_slice(), y.as_slice()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The metric of a model of `n` parameters trained on `d` tokens, through both steps.
    pub fn predict(&self, n: f64, d: f64) -> DownstreamPrediction {
        let o = Observation::new(n, d, 1.0);
        let loss = self.loss_fit.predict_obs(&o);
        let pairs = self.sample_pairs();
        let metric_interval = (!pairs.is_empty())
            .then(|| {
                let v: Vec<f64> = pairs
                    .iter()
                    .map(|(a, b)| self.metric_with(b, self.loss_fit.predict_with(a, &o)))
                    .collect();
                percentile_interval(&v, 0.95)
            })
            .flatten();
        DownstreamPrediction {
            n,
            d,
            compute: o.compute(),
            loss,
            loss_interval: self.loss_fit.predict_interval_obs(&o),
            metric: self.metric_at_loss(loss),
            metric_interval,
        }
    }

    /// The metric of the compute-optimal model at `compute` FLOPs, with its plan.
    pub fn at_compute(&self, compute: f64) -> Result<(Plan, f64)> {
        let p = plan::compute_optimal(&self.loss_fit, compute)?;
        let m = self.metric_at_loss(p.loss);
        Ok((p, m))
    }

    /// The least compute whose compute-optimal model reaches `target` metric, with its N and
    /// D and intervals through both steps. Refused, saying why, when the target lies at or
    /// above the fitted ceiling, at or below the floor, or needs a loss the loss law never
    /// reaches.
    pub fn plan_for_target(&self, target: f64) -> Result<TargetPlan> {
        if !target.is_finite() {
            return Err(Error::InvalidOption(format!(
                "target metric must be finite, got {target}"
            )));
        }
        let (floor, ceiling) = (self.floor(), self.ceiling());
        let p = self.metric_params();
        let ceiling_iv = self
            .metric_fit
            .intervals
            .get("ceiling")
            .map(|[a, b]| format!(" (95% [{a:.4}, {b:.4}])"))
            .unwrap_or_default();
        let loss_needed = loss_for_metric(&p, target).map_err(|why| {
            Error::InvalidOption(match why {
                Unreachable::AboveCeiling => format!(
                    "target {target} lies at or above the fitted ceiling {ceiling:.4}{ceiling_iv}: \
                     under this law no model reaches it, at any compute"
                ),
                Unreachable::AtFloor => format!(
                    "target {target} lies at or below the fitted floor {floor:.4} (chance): \
                     every model reaches it, so there is nothing to plan"
                ),
                Unreachable::Flat => {
                    "the fitted metric does not change with loss, so no target can be planned"
                        .to_string()
                }
            })
        })?;
        let plan = plan::for_target_loss(&self.loss_fit, loss_needed).map_err(|e| {
            let floor_e = self
                .loss_fit
                .params
                .get("E")
                .map(|e| format!(", below the loss law's irreducible E = {e:.4}"))
                .unwrap_or_default();
            match e {
                Error::InvalidOption(_) => Error::InvalidOption(format!(
                    "target {target} needs loss {loss_needed:.4}{floor_e}: out of reach between \
                     1 and 1e40 FLOPs"
                )),
                other => other,
            }
        })?;
        // Through both steps: each sample's own loss needed, then its own least compute.
        let pairs = self.sample_pairs();
        let plans: Vec<(f64, Plan)> = pairs
            .iter()
            .filter_map(|(a, b)| {
                let l = loss_for_metric(b, target).ok()?;
                Some((l, plan::target_loss_plan_with(&self.loss_fit, a.to_vec(), l)?))
            })
            .collect();
        let col = |f: &dyn Fn(&(f64, Plan)) -> f64| {
            if plans.is_empty() {
                return None;
            }
            percentile_interval(&plans.iter().map(f).collect::<Vec<_>>(), 0.95)
        };
        Ok(TargetPlan {
            target,
            loss_needed,
            loss_needed_interval: col(&|x| x.0),
            compute_interval: col(&|x| x.1.compute),
            n_interval: col(&|x| x.1.n_opt),
            d_interval: col(&|x| x.1.d_opt),
            plan,
            samples: pairs.len(),
            samples_reaching: plans.len(),
            ceiling,
            floor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chinchilla-shaped truth (Hoffmann et al. 2022's fitted E, A, B, α, β) and a sigmoid
    /// in loss with floor 0.5 (chance of a balanced binary task) and ceiling 0.9.
    const TRUTH: [f64; 4] = [0.5, 0.9, -4.0, 3.6];
    fn loss(n: f64, d: f64) -> f64 {
        1.69 + 406.4 / n.powf(0.34) + 410.7 / d.powf(0.28)
    }
    /// The generating sigmoid, written out independently of the form's code.
    fn sigmoid(p: &[f64; 4], l: f64) -> f64 {
        p[0] + (p[1] - p[0]) / (1.0 + (-p[2] * (l - p[3])).exp())
    }

    /// Pretraining rows over a 5×3 ladder, and accuracy rows with a deterministic ±0.004
    /// scatter (measured loss carries its own ±0.2% scatter, as real runs do).
    fn rows() -> (Vec<Observation>, Vec<Observation>) {
        let mut pre = Vec::new();
        let mut down = Vec::new();
        for i in 0..15 {
            let n = 1e7 * 2.5f64.powi(i / 3);
            let d = 20.0 * n * 2f64.powi(i % 3 - 1);
            let l = loss(n, d) * (1.0 + 0.002 * ((i * 7 % 5) as f64 - 2.0) / 2.0);
            pre.push(Observation::new(n, d, l));
            let mut o = Observation::new(n, d, l);
            o.metric = Some(sigmoid(&TRUTH, l) + 0.004 * ((i * 3 % 5) as f64 - 2.0) / 2.0);
            o.task = Some("toy".into());
            down.push(o);
        }
        (pre, down)
    }

    fn opts(bootstrap: usize) -> DownstreamOptions {
        DownstreamOptions {
            chance: Some(0.5),
            bootstrap,
            grid_stride: 3,
            loss: FitOptions { grid_stride: 3, ..FitOptions::default() },
            ..DownstreamOptions::default()
        }
    }

    #[test]
    fn the_chain_recovers_known_parameters() {
        let (pre, down) = rows();
        let d = fit_two_step(&pre, &down, &opts(0)).unwrap();
        let m = &d.metric_fit.params;
        assert_eq!(m["floor"], 0.5);
        assert!((m["ceiling"] - 0.9).abs() < 0.03, "{m:?}");
        assert!((m["k"] + 4.0).abs() < 1.0, "{m:?}");
        assert!((m["x0"] - 3.6).abs() < 0.05, "{m:?}");
        assert!((d.loss_fit.params["alpha"] - 0.34).abs() < 0.05, "{:?}", d.loss_fit.params);
        assert_eq!(d.task.as_deref(), Some("toy"));
        // Through both steps at a shape beyond the data.
        let (n, dd) = (2e9, 4e10);
        let want = sigmoid(&TRUTH, loss(n, dd));
        let got = d.predict(n, dd).metric;
        assert!((got - want).abs() < 0.02, "{got} vs {want}");
    }

    #[test]
    fn the_target_plan_agrees_with_a_numeric_search() {
        let (pre, down) = rows();
        let d = fit_two_step(&pre, &down, &opts(0)).unwrap();
        let target = 0.8;
        let tp = d.plan_for_target(target).unwrap();
        // Scan compute on a fine log grid: the first budget whose compute-optimal model
        // reaches the target.
        let mut c = 1e15;
        while d.at_compute(c).unwrap().1 < target {
            c *= 1.0005;
        }
        let rel = (tp.plan.compute - c).abs() / c;
        assert!(rel < 2e-3, "plan {} vs search {c}", tp.plan.compute);
        let back = d.predict(tp.plan.n_opt, tp.plan.d_opt).metric;
        assert!((back - target).abs() < 1e-6, "{back}");
    }

    #[test]
    fn targets_out_of_reach_are_refused_saying_why() {
        let (pre, down) = rows();
        let d = fit_two_step(&pre, &down, &opts(0)).unwrap();
        let e = d.plan_for_target(0.95).unwrap_err().to_string();
        assert!(e.contains("at or above the fitted ceiling"), "{e}");
        let e = d.plan_for_target(0.5).unwrap_err().to_string();
        assert!(e.contains("at or below the fitted floor"), "{e}");
        // A target below the ceiling whose loss lies under E.
        let mut far = d.clone();
        far.metric_fit.params.insert("x0".into(), 1.0);
        let e = far.plan_for_target(0.85).unwrap_err().to_string();
        assert!(e.contains("irreducible E"), "{e}");
    }

    #[test]
    fn bootstrap_intervals_go_through_both_steps_and_survive_saving() {
        let (pre, down) = rows();
        let d = fit_two_step(&pre, &down, &opts(12)).unwrap();
        let p = d.predict(5e8, 1e10);
        let [lo, hi] = p.metric_interval.unwrap();
        assert!(lo <= p.metric && p.metric <= hi, "{p:?}");
        let tp = d.plan_for_target(0.8).unwrap();
        assert!(tp.samples >= 10 && tp.samples_reaching > 0, "{tp:?}");
        let [clo, chi] = tp.compute_interval.unwrap();
        assert!(clo < chi);
        let text = d.to_json().unwrap();
        assert!(Downstream::is_downstream_json(&text));
        assert_eq!(Downstream::from_json(&text, None).unwrap(), d);
        // A fit.json is not a downstream law, and a swapped step is refused.
        assert!(!Downstream::is_downstream_json(&d.loss_fit.to_json().unwrap()));
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["metric_fit"] = v["loss_fit"].clone();
        let e = Downstream::from_json(&v.to_string(), Some(Path::new("x.json"))).unwrap_err();
        assert!(e.to_string().starts_with("x.json: `metric_fit` has form chinchilla"), "{e}");
    }

    #[test]
    fn bad_rows_are_refused() {
        let (pre, mut down) = rows();
        down[3].metric = Some(85.0);
        let e = fit_two_step(&pre, &down, &opts(0)).unwrap_err().to_string();
        assert!(e.contains("row 4") && e.contains("not a fraction"), "{e}");
        let (pre, mut down) = rows();
        down[0].task = Some("other".into());
        let e = fit_two_step(&pre, &down, &opts(0)).unwrap_err().to_string();
        assert!(e.contains("mix 2 values of `task` (other, toy)"), "{e}");
        let (pre, down) = rows();
        let e = fit_two_step(&pre, &down[..4], &opts(0)).unwrap_err().to_string();
        assert!(e.contains("at least 5 rows"), "{e}");
    }
}
