//! Approach 3 of Hoffmann et al. 2022, done right: fit a law form to observations by
//! minimising the summed Huber loss of fit-space residuals with L-BFGS from every start of a
//! grid, in parallel, and keep the best.
//!
//! A [`Fit`] is exactly what `fit.json` stores: the form, the parameters in reported units
//! (E, A, B in loss units; α, β dimensionless; N_c in parameters, D_c in tokens, C_c in FLOPs),
//! the bootstrap intervals and samples and the prediction interval's calibration when asked
//! for, the goodness of fit, the residuals, the options that made it, the input's sha256 and
//! the isoflop version. Everything needed to reproduce or use the fit travels with it.

use crate::forms::Point;
use crate::layout::Layout;
use crate::objective::{MAX_PARAMS, Objective, Reduction, residuals};
use crate::optimizer::{Stopping, minimise};
use crate::{Error, Form, Observation, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bounds on parameters in reported units: name → (lower, upper), either side optional.
pub type Bounds = BTreeMap<String, (Option<f64>, Option<f64>)>;

/// Default stopping rule on the gradient norm of the free vector (see the optimizer module's docs).
pub const TOL_GRAD: f64 = 1e-8;
/// Default stopping rule on the absolute change of the objective (see the optimizer module's docs).
pub const TOL_COST: f64 = 1e-10;

/// Everything that decides a fit; saved in fit.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FitOptions {
    /// The law form.
    pub form: Form,
    /// Huber δ on fit-space residuals (Hoffmann et al. 2022: 1e-3).
    pub huber_delta: f64,
    /// Sum (correct) or mean (the pitfall) of the per-point losses.
    pub reduction: Reduction,
    /// Parameters held at given values, in reported units (`E` → 1.69).
    pub fixed: BTreeMap<String, f64>,
    /// Make the form's two exponents equal (α = β).
    pub tie_exponents: bool,
    /// Bounds on parameters in reported units: name → (lower, upper), either side optional.
    pub bounds: Bounds,
    /// Also fit the parameters the form holds fixed by default (data-constrained R_N*, R_D*).
    pub free_defaults: bool,
    /// Starting points in reported units; empty means the form's grid.
    pub starts: Vec<BTreeMap<String, f64>>,
    /// Use every k-th start of the grid (1: all of it); for quick looks and tests.
    pub grid_stride: usize,
    /// L-BFGS iteration limit per start.
    pub max_iters: u64,
    /// Stop when the gradient norm falls below this.
    pub tol_grad: f64,
    /// Stop when the objective changes by less than this (absolute).
    pub tol_cost: f64,
    /// Bootstrap resamples (0: none).
    pub bootstrap: usize,
    /// Seed of the bootstrap's resampling.
    pub seed: u64,
    /// Starts per bootstrap refit besides the point estimate (a thinned grid).
    pub bootstrap_starts: usize,
    /// Calibrate the prediction interval on leave-largest-out refits so that it widens with
    /// the distance beyond the fitted range (see the `calibration` module).
    pub calibrate_intervals: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            form: Form::Chinchilla,
            huber_delta: crate::HOFFMANN_DELTA,
            reduction: Reduction::Sum,
            fixed: BTreeMap::new(),
            tie_exponents: false,
            bounds: BTreeMap::new(),
            free_defaults: false,
            starts: Vec::new(),
            grid_stride: 1,
            max_iters: 1000,
            tol_grad: TOL_GRAD,
            tol_cost: TOL_COST,
            bootstrap: 0,
            seed: 0,
            bootstrap_starts: 8,
            calibrate_intervals: false,
        }
    }
}

impl FitOptions {
    /// Options for one form with everything else at its default.
    pub fn for_form(form: Form) -> Self {
        Self { form, ..Self::default() }
    }

    /// The fixed parameters in effect: the form's defaults (unless freed), then the user's.
    pub fn effective_fixed(&self) -> BTreeMap<String, f64> {
        let mut fixed = BTreeMap::new();
        if !self.free_defaults {
            for (k, v) in self.form.default_fixed() {
                fixed.insert((*k).to_string(), *v);
            }
        }
        fixed.extend(self.fixed.iter().map(|(k, v)| (k.clone(), *v)));
        fixed
    }

    /// The number of parameters the fit moves: the form's, less those fixed, less one per
    /// tied pair (bounded ones still count).
    pub fn free_params(&self) -> Result<usize> {
        Ok(self.layout()?.n_free())
    }

    pub(crate) fn layout(&self) -> Result<Layout> {
        Layout::new(self.form, &self.effective_fixed(), self.tie_exponents, &self.bounds)
    }

    pub(crate) fn stopping(&self) -> Stopping {
        Stopping { max_iters: self.max_iters, tol_grad: self.tol_grad, tol_cost: self.tol_cost }
    }

    /// Checks the options' own ranges.
    pub(crate) fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidOption(m));
        if !(self.huber_delta > 0.0 && self.huber_delta.is_finite()) {
            return bad(format!("huber delta must be > 0, got {}", self.huber_delta));
        }
        if self.grid_stride == 0 {
            return bad("grid stride must be >= 1".into());
        }
        if self.max_iters == 0 {
            return bad("max iterations must be >= 1".into());
        }
        if !(self.tol_grad >= 0.0 && self.tol_cost >= 0.0) {
            return bad("tolerances must be >= 0".into());
        }
        Ok(())
    }
}

/// Percentile bootstrap samples kept with a fit, so that any later prediction or plan can
/// carry an interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapSamples {
    /// Resamples asked for.
    pub resamples: usize,
    /// Seed used.
    pub seed: u64,
    /// Refits that failed (no finite optimum) and are left out.
    pub failed: usize,
    /// One row per successful refit: the parameters in reported units, in the order of
    /// `Fit::param_order`.
    pub samples: Vec<Vec<f64>>,
}

/// A fitted law: exactly what fit.json stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// The form.
    pub form: Form,
    /// Parameters by name, in reported units.
    pub params: BTreeMap<String, f64>,
    /// Parameter names in the form's order (the order of bootstrap sample rows).
    pub param_order: Vec<String>,
    /// Parameters that were held fixed (not fitted).
    pub fixed: Vec<String>,
    /// Percentile 95% bootstrap intervals of parameters and derived quantities.
    pub intervals: BTreeMap<String, [f64; 2]>,
    /// Derived quantities (chinchilla-like forms: `a` = β/(α+β), `b` = α/(α+β), `G`).
    pub derived: BTreeMap<String, f64>,
    /// The minimised objective.
    pub objective: f64,
    /// Root mean square of fit-space residuals (ln-loss for loss laws).
    pub rmse_log: f64,
    /// Coefficient of determination on the fit-space target (ln-loss for loss laws).
    #[serde(deserialize_with = "crate::fit_file::null_as_nan")]
    pub r2: f64,
    /// Residual per row, target − prediction in fit space, in input order.
    pub residuals: Vec<f64>,
    /// Rows fitted.
    pub n_rows: usize,
    /// Starts run.
    pub starts: usize,
    /// Starts whose optimum matched the best objective (to 1e-6 relative).
    pub starts_at_best: usize,
    /// Input file, when the fit came from one.
    pub input: Option<String>,
    /// sha256 of the input file's bytes.
    pub input_sha256: Option<String>,
    /// The options that made the fit.
    pub options: FitOptions,
    /// isoflop version that made the fit.
    pub version: String,
    /// Bootstrap samples, when asked for.
    pub bootstrap: Option<BootstrapSamples>,
    /// Extrapolation check: predictions for the rows held out of the fit, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<Vec<crate::HeldOut>>,
    /// How the prediction interval widens beyond the fitted range, when calibrated
    /// ([`FitOptions::calibrate_intervals`]); fits saved before it existed load without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::IntervalCalibration>,
    /// Form selection that chose this fit's form, when it was chosen by `select`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<crate::Selection>,
    /// Parameters (or combinations) the rows cannot identify: the fit found *an* optimum,
    /// but others predict these rows as well (see the `identify` module). Empty when all are
    /// identified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What a long fit is doing, for a progress display ([`fit_with_progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitStage {
    /// The multi-start search: one step per start.
    Starts,
    /// The bootstrap: one step per resample refitted.
    Bootstrap,
}

/// A progress callback: the stage, steps done, steps in the stage. Called from the fit's
/// worker threads, in no particular order, about once per step.
pub type Progress<'a> = &'a (dyn Fn(FitStage, usize, usize) + Sync);

/// Fits `opts.form` to `obs` (with a bootstrap when `opts.bootstrap > 0`).
pub fn fit(obs: &[Observation], opts: &FitOptions) -> Result<Fit> {
    fit_with_progress(obs, opts, &|_, _, _| {})
}

/// [`fit`], telling `progress` how far the starts and the bootstrap have gone (a fit on a
/// million rows takes minutes).
pub fn fit_with_progress(
    obs: &[Observation],
    opts: &FitOptions,
    progress: Progress,
) -> Result<Fit> {
    opts.check()?;
    let points = points_of(opts.form, obs)?;
    let layout = opts.layout()?;
    if points.len() < layout.n_free() {
        return Err(Error::InvalidData(format!(
            "{} rows but form {} has {} free parameters: need at least as many rows",
            points.len(),
            opts.form,
            layout.n_free()
        )));
    }
    let starts = starts_of(opts, &points, &layout)?;
    let done = AtomicUsize::new(0);
    let tick = || {
        let k = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress(FitStage::Starts, k, starts.len());
    };
    let (best, values) = best_of(opts, &points, &layout, &starts, true, &tick)?;
    let mut fit = assemble(opts, obs.len(), &points, &layout, &best)?;
    fit.starts = starts.len();
    let tol = 1e-6 * fit.objective.abs().max(1e-12);
    fit.starts_at_best = values.iter().filter(|v| (**v - fit.objective).abs() <= tol).count();
    fit.warnings = crate::identify::unidentified(
        opts.form,
        &points,
        &layout,
        &fit.raw_of(&fit.param_vector()),
    );
    // A fit that its own loader would refuse (a parameter or derived value that is not
    // finite, as degenerate data can give) is an error here, with what the data lacks, rather
    // than a file that `predict` and `plan` cannot read.
    if let Err(e) = fit.validate() {
        let why = match fit.warnings.is_empty() {
            true => String::new(),
            false => format!("; the data cannot identify {}", fit.warnings.join("; ")),
        };
        let e = match e {
            Error::InvalidFit { message, .. } => message,
            other => other.to_string(),
        };
        // A derived value is usually not finite because an exponent went to or below 0 (the
        // compute-optimal split raises a negative ratio to a fractional power): say which.
        let negative: Vec<String> = fit
            .params
            .iter()
            .filter(|(k, v)| (k.starts_with("alpha") || k.starts_with("beta")) && **v <= 0.0)
            .map(|(k, v)| format!("`{k}` = {v:.4} ≤ 0, so the loss would not fall as it grows"))
            .collect();
        let negative = match negative.is_empty() {
            true => String::new(),
            false => format!("; {}: bound it above 0", negative.join(", ")),
        };
        return Err(Error::FitFailed(format!(
            "form {} fitted to {} rows gives an unusable law ({e}){negative}{why}",
            opts.form,
            obs.len()
        )));
    }
    if opts.bootstrap > 0 {
        crate::bootstrap::attach(&mut fit, obs, progress)?;
    }
    if opts.calibrate_intervals {
        crate::calibration::attach(&mut fit, obs)?;
    }
    Ok(fit)
}

pub(crate) fn points_of(form: Form, obs: &[Observation]) -> Result<Vec<Point>> {
    if obs.is_empty() {
        return Err(Error::InvalidData("no observations to fit".into()));
    }
    obs.iter().map(|o| form.point(o)).collect()
}

/// The free-vector starts: the user's, or the form's grid thinned by the stride; deduplicated.
pub(crate) fn starts_of(
    opts: &FitOptions,
    points: &[Point],
    layout: &Layout,
) -> Result<Vec<Vec<f64>>> {
    let raw_starts: Vec<Vec<f64>> = if opts.starts.is_empty() {
        opts.form.grid(points).into_iter().step_by(opts.grid_stride).collect()
    } else {
        opts.starts.iter().map(|s| raw_from_named(opts.form, s, layout)).collect::<Result<_>>()?
    };
    let mut out: Vec<Vec<f64>> = Vec::with_capacity(raw_starts.len());
    let mut seen = std::collections::HashSet::new();
    for r in raw_starts {
        let f = layout.project(&r);
        let key: Vec<u64> = f.iter().map(|v| v.to_bits()).collect();
        if seen.insert(key) {
            out.push(f);
        }
    }
    Ok(out)
}

/// A raw vector from named values in reported units (fixed parameters may be left out).
fn raw_from_named(form: Form, named: &BTreeMap<String, f64>, layout: &Layout) -> Result<Vec<f64>> {
    let specs = form.params();
    let mut raw = vec![0.0; specs.len()];
    for (i, s) in specs.iter().enumerate() {
        match named.get(s.name) {
            Some(&v) => {
                raw[i] = s.transform.to_raw(v).ok_or_else(|| {
                    Error::InvalidOption(format!("start value {}={v} is out of range", s.name))
                })?
            }
            None if !layout.is_free(i) => {}
            None => {
                return Err(Error::InvalidOption(format!("start lacks parameter `{}`", s.name)));
            }
        }
    }
    Ok(raw)
}

/// Best free vector over the starts and the objective each start reached.
pub(crate) fn best_of(
    opts: &FitOptions,
    points: &[Point],
    layout: &Layout,
    starts: &[Vec<f64>],
    parallel: bool,
    tick: &(dyn Fn() + Sync),
) -> Result<(Vec<f64>, Vec<f64>)> {
    let stop = opts.stopping();
    let one = |s: &Vec<f64>| {
        let obj = Objective::new(opts.form, points, layout, opts.huber_delta, opts.reduction);
        let r = minimise(obj, s.clone(), stop);
        tick();
        r
    };
    let runs: Vec<_> = if parallel {
        starts.par_iter().map(one).collect()
    } else {
        starts.iter().map(one).collect()
    };
    let best = runs
        .iter()
        .filter(|r| r.value.is_finite())
        .min_by(|a, b| a.value.total_cmp(&b.value))
        .ok_or_else(|| {
            Error::FitFailed(format!(
                "none of {} starts reached a finite objective for form {}",
                starts.len(),
                opts.form
            ))
        })?;
    Ok((best.free.clone(), runs.iter().map(|r| r.value).collect()))
}

/// Builds the [`Fit`] of a best free vector.
fn assemble(
    opts: &FitOptions,
    n_rows: usize,
    points: &[Point],
    layout: &Layout,
    free: &[f64],
) -> Result<Fit> {
    let form = opts.form;
    let specs = form.params();
    let mut raw = vec![0.0; specs.len()];
    layout.expand(free, &mut raw);
    form.canonicalize(&mut raw, layout);
    let free = &layout.project(&raw);
    let mut g = vec![0.0; free.len()];
    let objective = Objective::new(form, points, layout, opts.huber_delta, opts.reduction)
        .value_grad(free, &mut g);
    let res = residuals(form, &raw, points);
    let n = res.len() as f64;
    let rmse_log = (res.iter().map(|r| r * r).sum::<f64>() / n).sqrt();
    let mean = points.iter().map(|p| p.target).sum::<f64>() / n;
    let ss_tot: f64 = points.iter().map(|p| (p.target - mean).powi(2)).sum();
    let ss_res: f64 = res.iter().map(|r| r * r).sum();
    let r2 = if ss_tot > 0.0 { 1.0 - ss_res / ss_tot } else { f64::NAN };
    let params: BTreeMap<String, f64> = specs
        .iter()
        .zip(&raw)
        .map(|(s, &r)| (s.name.to_string(), s.transform.to_natural(r)))
        .collect();
    let fixed = specs
        .iter()
        .enumerate()
        .filter(|(i, _)| !layout.is_free(*i))
        .map(|(_, s)| s.name.to_string())
        .collect();
    let mut fit = Fit {
        form,
        derived: BTreeMap::new(),
        params,
        param_order: specs.iter().map(|s| s.name.to_string()).collect(),
        fixed,
        intervals: BTreeMap::new(),
        objective,
        rmse_log,
        r2,
        residuals: res,
        n_rows,
        starts: 0,
        starts_at_best: 0,
        input: None,
        input_sha256: None,
        options: opts.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        bootstrap: None,
        holdout: None,
        calibration: None,
        selection: None,
        warnings: Vec::new(),
    };
    fit.derived = derived_of(form, &fit.params);
    Ok(fit)
}

/// Derived quantities of a parameter set (for Chinchilla-like forms the compute-optimal
/// exponents a, b and the coefficient G of Hoffmann et al. 2022, eq. 4).
pub(crate) fn derived_of(form: Form, p: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    form.derived(p)
}

impl Fit {
    /// The raw (optimiser) vector of a parameter set in reported units, in the form's order.
    pub(crate) fn raw_of(&self, natural: &[f64]) -> Vec<f64> {
        self.form
            .params()
            .iter()
            .zip(natural)
            .map(|(s, &v)| s.transform.to_raw(v).unwrap_or(f64::NAN))
            .collect()
    }

    /// The point estimate's parameters in the form's order.
    pub fn param_vector(&self) -> Vec<f64> {
        self.param_order.iter().map(|k| self.params[k]).collect()
    }

    /// Predicted loss of a model of `n` parameters trained on `d` unique tokens (C = 6ND).
    /// For the sigmoid form this is the predicted metric at C = 6ND (or at loss `n` for
    /// `sigmoid-loss`, which is better called through [`Fit::predict_obs`]).
    pub fn predict(&self, n: f64, d: f64) -> f64 {
        self.predict_with(&self.param_vector(), &Observation::new(n, d, n))
    }

    /// Prediction for one observation's inputs (uses its C, U, loss as the form needs).
    pub fn predict_obs(&self, o: &Observation) -> f64 {
        self.predict_with(&self.param_vector(), o)
    }

    /// Prediction under another parameter set (a bootstrap sample), reported units.
    pub fn predict_with(&self, natural: &[f64], o: &Observation) -> f64 {
        let raw = self.raw_of(natural);
        debug_assert!(raw.len() <= MAX_PARAMS);
        self.form.predict_raw(&raw, o).unwrap_or(f64::NAN)
    }

    /// Percentile 95% interval of the prediction at (n, d) over the bootstrap samples, if any.
    pub fn predict_interval(&self, n: f64, d: f64) -> Option<[f64; 2]> {
        self.predict_interval_obs(&Observation::new(n, d, n))
    }

    /// Percentile 95% interval of the prediction for an observation's inputs: where the
    /// *law* lies (the bootstrap spread of the parameters only).
    pub fn predict_interval_obs(&self, o: &Observation) -> Option<[f64; 2]> {
        let b = self.bootstrap.as_ref()?;
        let v: Vec<f64> = b.samples.iter().map(|s| self.predict_with(s, o)).collect();
        crate::bootstrap::percentile_interval(&v, 0.95)
    }

    /// 95% prediction interval for a new *run* with these inputs: the in-sample interval
    /// ([`Fit::in_sample_prediction_interval_obs`]), widened with the distance of (N, D) beyond
    /// the fitted range when the fit's interval is calibrated ([`Fit::calibration`]; see the
    /// `calibration` module), as it should be: the in-sample interval alone under-covers runs
    /// larger than any fitted.
    pub fn prediction_interval_obs(&self, o: &Observation) -> Option<[f64; 2]> {
        let iv = self.in_sample_prediction_interval_obs(o)?;
        Some(match &self.calibration {
            Some(c) => c.widen(iv, c.distance(o.n, o.d), self.form.log_space()),
            None => iv,
        })
    }

    /// How far (N, D) lies beyond the fitted range (see the `calibration` module), when the
    /// fit's interval is calibrated.
    pub fn extrapolation_distance(&self, n: f64, d: f64) -> Option<f64> {
        self.calibration.as_ref().map(|c| c.distance(n, d))
    }

    /// In-sample 95% prediction interval for a new *run* with these inputs: the bootstrap
    /// spread of the law combined with the scatter of runs around it. Every bootstrap prediction (or the
    /// point estimate, without a bootstrap) is combined with every fit residual, inflated by
    /// √(n/(n − p)) because in-sample residuals understate out-of-sample scatter, and the
    /// interval is read off the percentiles of those combinations (multiplicatively in loss,
    /// as residuals are in log-loss; additively for the sigmoid's metric).
    pub fn in_sample_prediction_interval_obs(&self, o: &Observation) -> Option<[f64; 2]> {
        crate::bootstrap::percentile_interval(&self.prediction_draws_obs(o)?, 0.95)
    }

    /// The draws [`Fit::in_sample_prediction_interval_obs`] reads its percentiles off (a
    /// model average mixes its members' draws); `None` with no more rows than free parameters.
    pub(crate) fn prediction_draws_obs(&self, o: &Observation) -> Option<Vec<f64>> {
        let n = self.residuals.len();
        let p = self.param_order.len() - self.fixed.len();
        if n <= p {
            return None;
        }
        let inflate = (n as f64 / (n - p) as f64).sqrt();
        let centres: Vec<f64> = match &self.bootstrap {
            Some(b) if !b.samples.is_empty() => {
                b.samples.iter().map(|s| self.predict_with(s, o)).collect()
            }
            _ => vec![self.predict_obs(o)],
        };
        // At most ~200k combinations: thin the residuals if there are more.
        let stride = (centres.len() * n / 200_000).max(1);
        let log = self.form.log_space();
        let mut v = Vec::with_capacity(centres.len() * n / stride + 1);
        for c in &centres {
            for r in self.residuals.iter().step_by(stride) {
                v.push(if log { c * (r * inflate).exp() } else { c + r * inflate });
            }
        }
        Some(v)
    }
}
