//! Fits (approach 3, selection, holdout; approaches 1 and 2) and the [`PyFit`] handle on a
//! fitted law: predictions, plans, fit.json.
//!
//! Everything here mirrors `isoflop fit`, `predict` and `plan` (crates/cli/src/cmd): the same
//! library calls in the same order, so a fit made here equals the CLI's fit.json and loads in
//! `isoflop predict --fit`. Fits and bootstraps run on the library's rayon threads with the
//! GIL released (`Python::detach`), so other Python threads go on meanwhile.

use crate::data::Observations;
use crate::errors;
use isoflop_law::{
    Average, Bounds, Candidate, Fit, FitOptions, Form, Holdout, Observation, SelectOptions,
    SelectRule, approaches, evaluate_holdout, plan, select, split_holdout,
};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A fitted law (isoflop-law's `Fit`, exactly what fit.json holds).
#[pyclass(module = "isoflop._isoflop", name = "Fit", frozen)]
pub struct PyFit {
    pub fit: Fit,
}

/// The form named `name`, with an irreducible loss E added to a kaplan-n/d/c form.
fn form_of(name: &str, irreducible: bool) -> PyResult<Form> {
    let form: Form = name.parse().map_err(errors::law)?;
    if !irreducible {
        return Ok(form);
    }
    form.with_irreducible().ok_or_else(|| {
        PyValueError::new_err(format!(
            "irreducible applies to kaplan-n, kaplan-d and kaplan-c, not {form}"
        ))
    })
}

/// Approach 3 (or its form selection), as `isoflop fit` runs it. Returns the fit.
#[pyfunction]
#[pyo3(signature = (
    obs, form, *, irreducible, huber_delta, bootstrap, seed, grid_stride, fix, tie_exponents,
    bounds, fit_repetition, select_form, candidates, select_quantile, rolling, select_by,
    holdout_above_compute, holdout_top, calibrate_intervals = false,
))]
#[allow(clippy::too_many_arguments)]
pub fn fit(
    py: Python<'_>,
    obs: &Observations,
    form: &str,
    irreducible: bool,
    huber_delta: f64,
    bootstrap: usize,
    seed: u64,
    grid_stride: usize,
    fix: BTreeMap<String, f64>,
    tie_exponents: bool,
    bounds: BTreeMap<String, (Option<f64>, Option<f64>)>,
    fit_repetition: bool,
    select_form: bool,
    candidates: Vec<String>,
    select_quantile: f64,
    rolling: bool,
    select_by: &str,
    holdout_above_compute: Option<f64>,
    holdout_top: Option<usize>,
    calibrate_intervals: bool,
) -> PyResult<PyFit> {
    let opts = FitOptions {
        form: form_of(form, irreducible)?,
        huber_delta,
        fixed: fix,
        tie_exponents,
        bounds: bounds as Bounds,
        free_defaults: fit_repetition,
        grid_stride,
        bootstrap,
        seed,
        calibrate_intervals,
        ..FitOptions::default()
    };
    let rows = obs.rows.clone();
    let mut f = if select_form {
        let candidates = candidates
            .iter()
            .map(|c| {
                Candidate::parse(c.trim(), &opts).map_err(|e| {
                    PyValueError::new_err(format!("candidates `{c}`: {}", errors::law(e)))
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let rule = if rolling {
            SelectRule::RollingOrigin
        } else {
            select_by.parse().map_err(errors::law)?
        };
        let sel = SelectOptions {
            candidates,
            rule,
            quantile: select_quantile,
            average: false,
            calibrate_intervals,
        };
        py.detach(move || -> isoflop_law::Result<Fit> {
            let mut f = select(&rows, &sel)?;
            if opts.bootstrap > 0 {
                // Candidates are scored without a bootstrap; the chosen refit gets the one asked for.
                f.options.bootstrap = opts.bootstrap;
                f.options.seed = opts.seed;
                f.bootstrap = Some(isoflop_law::bootstrap(&f, &rows, opts.bootstrap, opts.seed)?);
                f.intervals = isoflop_law::intervals_of(&f);
            }
            if calibrate_intervals {
                // As `isoflop fit --select --calibrate-intervals`: the chosen law's interval,
                // calibrated on leave-largest-out refits of all rows.
                f.calibration = Some(isoflop_law::calibrate(&f, &rows)?);
                f.options.calibrate_intervals = true;
            }
            Ok(f)
        })
        .map_err(errors::law)?
    } else {
        let holdout = match (holdout_above_compute, holdout_top) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "give one of holdout_above_compute and holdout_top, not both",
                ));
            }
            (Some(c), None) => Some(Holdout::AboveCompute(c)),
            (None, Some(k)) => Some(Holdout::TopK(k)),
            (None, None) => None,
        };
        py.detach(move || -> isoflop_law::Result<Fit> {
            let (train, test) = match holdout {
                Some(h) => {
                    let (a, b) = split_holdout(&rows, h)?;
                    (a, Some(b))
                }
                None => (rows, None),
            };
            let mut f = isoflop_law::fit(&train, &opts)?;
            if let Some(test) = &test {
                f.holdout = Some(evaluate_holdout(&f, test));
            }
            Ok(f)
        })
        .map_err(errors::law)?
    };
    f.input = obs.input.clone();
    f.input_sha256 = obs.sha256.clone();
    Ok(PyFit { fit: f })
}

/// Chinchilla's approach 1 (`envelope`) or 2 (`isoflop`); returns the result as JSON, as
/// `isoflop fit --approach … --json` prints it.
#[pyfunction]
#[pyo3(signature = (obs, approach, *, bootstrap, seed, budget_tolerance, envelope_points))]
pub fn fit_approach(
    py: Python<'_>,
    obs: &Observations,
    approach: &str,
    bootstrap: usize,
    seed: u64,
    budget_tolerance: f64,
    envelope_points: usize,
) -> PyResult<String> {
    let rows = obs.rows.clone();
    let approach = approach.to_string();
    py.detach(move || match approach.as_str() {
        "envelope" => approaches::envelope(&rows, envelope_points, bootstrap, seed)
            .map_err(errors::law)
            .and_then(|r| serde_json::to_string(&r).map_err(|e| errors::json("approach 1", e))),
        "isoflop" => approaches::isoflop(&rows, budget_tolerance, bootstrap, seed)
            .map_err(errors::law)
            .and_then(|r| serde_json::to_string(&r).map_err(|e| errors::json("approach 2", e))),
        other => Err(PyValueError::new_err(format!(
            "approach `{other}`: expected 1 (envelope), 2 (isoflop) or 3 (parametric)"
        ))),
    })
}

/// Reads a fit.json, naming the file in every error (as `isoflop plan --fit` does).
#[pyfunction]
pub fn load(path: PathBuf) -> PyResult<PyFit> {
    let text = std::fs::read_to_string(&path)
        .map_err(|e| errors::io(e.kind(), format!("cannot read fit {}: {e}", path.display())))?;
    from_json_named(&text, &path.display().to_string())
}

/// A fit from fit.json's text (`what` names it in the error).
#[pyfunction]
#[pyo3(signature = (text, what = "fit.json text"))]
pub fn from_json(text: &str, what: &str) -> PyResult<PyFit> {
    from_json_named(text, what)
}

fn from_json_named(text: &str, what: &str) -> PyResult<PyFit> {
    let fit: Fit = serde_json::from_str(text).map_err(|e| {
        PyValueError::new_err(format!("{what} is not a fit saved by `isoflop fit -o`: {e}"))
    })?;
    Ok(PyFit { fit })
}

/// Lower and upper bounds of an interval, one array each.
type Pair<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// Predictions over this many points or more run on the rayon threads.
const PARALLEL_MIN: usize = 4096;

/// Which interval of a prediction.
#[derive(Clone, Copy)]
enum Interval {
    /// Where the law lies: the bootstrap spread of the parameters.
    Law,
    /// Where a new run lands: the law's spread and the runs' scatter around it.
    Prediction,
}

impl PyFit {
    /// Observations for predicting at flat, equally long N, D (and U) arrays.
    fn inputs(n: &[f64], d: &[f64], u: Option<&[f64]>) -> PyResult<Vec<Observation>> {
        if n.len() != d.len() || u.is_some_and(|u| u.len() != n.len()) {
            return Err(PyValueError::new_err("N, D and U must have the same length"));
        }
        Ok((0..n.len())
            .map(|i| {
                let mut o = Observation::new(n[i], d[i], n[i]);
                o.u = u.map(|u| u[i]);
                o
            })
            .collect())
    }

    fn map<T: Send>(
        py: Python<'_>,
        obs: &[Observation],
        f: impl Fn(&Observation) -> T + Sync + Send,
    ) -> Vec<T> {
        if obs.len() < PARALLEL_MIN {
            return obs.iter().map(f).collect();
        }
        py.detach(|| obs.par_iter().map(f).collect())
    }

    /// The model average fit.json holds (`fit --select --select-average`), which predictions
    /// and plans use instead of the chosen fit, as `isoflop predict` and `plan` do.
    fn average(&self) -> Option<&Average> {
        self.fit.selection.as_ref().and_then(|s| s.average.as_ref())
    }

    fn check_loss_law(&self) -> PyResult<()> {
        if self.fit.form.is_loss_law() {
            return Ok(());
        }
        Err(PyValueError::new_err(format!(
            "form {} predicts a metric, not loss; predict needs a loss law",
            self.fit.form
        )))
    }
}

#[pymethods]
impl PyFit {
    /// The law form's name (`chinchilla`, `kaplan-nd`, ...).
    #[getter]
    fn form(&self) -> String {
        self.fit.form.to_string()
    }

    /// fit.json's text, exactly as `isoflop fit -o` writes it.
    #[pyo3(signature = (pretty = true))]
    fn to_json(&self, pretty: bool) -> PyResult<String> {
        let r = if pretty {
            serde_json::to_string_pretty(&self.fit)
        } else {
            serde_json::to_string(&self.fit)
        };
        r.map_err(|e| errors::json("fit", e))
    }

    /// Writes fit.json to `path` atomically (a temporary file beside it, then a rename), so a
    /// crash never leaves half a fit behind.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        let text = self.to_json(true)?;
        let tmp = path.with_file_name(format!(
            ".{}.tmp{}",
            path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default(),
            std::process::id()
        ));
        let fail = |e: std::io::Error| {
            let _ = std::fs::remove_file(&tmp);
            errors::io(e.kind(), format!("saving the fit to {}: {e}", path.display()))
        };
        std::fs::write(&tmp, text.as_bytes()).map_err(fail)?;
        std::fs::rename(&tmp, &path).map_err(fail)
    }

    /// Predicted loss at flat arrays N, D (and U for the data-constrained form).
    #[pyo3(signature = (n, d, u = None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        n: PyReadonlyArray1<'py, f64>,
        d: PyReadonlyArray1<'py, f64>,
        u: Option<PyReadonlyArray1<'py, f64>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        self.check_loss_law()?;
        let u = u.as_ref().map(|u| u.as_slice()).transpose()?;
        let obs = Self::inputs(n.as_slice()?, d.as_slice()?, u)?;
        let predicted = match self.average() {
            Some(a) => Self::map(py, &obs, |o| a.predict_obs(o)),
            None => Self::map(py, &obs, |o| self.fit.predict_obs(o)),
        };
        Ok(predicted.into_pyarray(py))
    }

    /// 95% interval at flat arrays N, D (and U): `law` (the bootstrap spread of the law) or
    /// `prediction` (where a new run lands). NaN where there is none.
    #[pyo3(signature = (n, d, u = None, kind = "law"))]
    fn interval<'py>(
        &self,
        py: Python<'py>,
        n: PyReadonlyArray1<'py, f64>,
        d: PyReadonlyArray1<'py, f64>,
        u: Option<PyReadonlyArray1<'py, f64>>,
        kind: &str,
    ) -> PyResult<Pair<'py>> {
        self.check_loss_law()?;
        let kind = match kind {
            "law" => Interval::Law,
            "prediction" => Interval::Prediction,
            k => {
                return Err(PyValueError::new_err(format!(
                    "interval `{k}`: expected \"law\" or \"prediction\""
                )));
            }
        };
        let average = self.average();
        let has_bootstrap = match average {
            Some(a) => a.members.iter().any(|m| m.fit.bootstrap.is_some()),
            None => self.fit.bootstrap.is_some(),
        };
        if matches!(kind, Interval::Law) && !has_bootstrap {
            return Err(PyValueError::new_err(
                "this fit has no bootstrap samples: fit with bootstrap=1000 (say) for an interval \
                 of the law, or ask for interval=\"prediction\"",
            ));
        }
        let u = u.as_ref().map(|u| u.as_slice()).transpose()?;
        let obs = Self::inputs(n.as_slice()?, d.as_slice()?, u)?;
        let iv = Self::map(py, &obs, |o| match (kind, average) {
            (Interval::Law, Some(a)) => a.predict_interval_obs(o),
            (Interval::Prediction, Some(a)) => a.prediction_interval_obs(o),
            (Interval::Law, None) => self.fit.predict_interval_obs(o),
            (Interval::Prediction, None) => self.fit.prediction_interval_obs(o),
        });
        let lo: Vec<f64> = iv.iter().map(|i| i.map_or(f64::NAN, |[l, _]| l)).collect();
        let hi: Vec<f64> = iv.iter().map(|i| i.map_or(f64::NAN, |[_, h]| h)).collect();
        Ok((lo.into_pyarray(py), hi.into_pyarray(py)))
    }

    /// A plan as JSON, as `isoflop plan --json` prints it: compute-optimal for `compute`
    /// (with `inference_tokens`: Sardana et al.'s inference-aware plan), the least compute
    /// for `target_loss`, or the budget at which `params` is optimal.
    #[pyo3(signature = (compute = None, target_loss = None, params = None, inference_tokens = None))]
    fn plan(
        &self,
        py: Python<'_>,
        compute: Option<f64>,
        target_loss: Option<f64>,
        params: Option<f64>,
        inference_tokens: Option<f64>,
    ) -> PyResult<String> {
        let given = [compute.is_some(), target_loss.is_some(), params.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(PyValueError::new_err(
                "give exactly one of compute, target_loss and params",
            ));
        }
        if inference_tokens.is_some() && params.is_some() {
            return Err(PyValueError::new_err(
                "inference_tokens needs compute or target_loss, not params",
            ));
        }
        let fit = &self.fit;
        // As `isoflop plan`: a model average plans a budget, a target loss or a size with its
        // weighted-mean loss; the inference-aware plan uses the chosen form.
        let average = self.average();
        let text = py.detach(|| match (compute, target_loss, params, inference_tokens, average) {
            (Some(c), _, _, Some(t), _) => plan::inference_aware(fit, c, t).map(|p| ser(&p)),
            (_, Some(l), _, Some(t), _) => {
                plan::inference_aware_for_loss(fit, l, t).map(|p| ser(&p))
            }
            (Some(c), _, _, None, Some(a)) => plan::compute_optimal_average(a, c).map(|p| ser(&p)),
            (_, Some(l), _, _, Some(a)) => plan::for_target_loss_average(a, l).map(|p| ser(&p)),
            (_, _, Some(n), _, Some(a)) => plan::for_params_average(a, n).map(|p| ser(&p)),
            (Some(c), _, _, None, None) => plan::compute_optimal(fit, c).map(|p| ser(&p)),
            (_, Some(l), _, _, None) => plan::for_target_loss(fit, l).map(|p| ser(&p)),
            (_, _, Some(n), _, None) => plan::for_params(fit, n).map(|p| ser(&p)),
            _ => unreachable!("exactly one was checked above"),
        });
        text.map_err(errors::law)
    }

    fn __repr__(&self) -> String {
        format!("<isoflop fit: {} on {} rows>", self.fit.form, self.fit.n_rows)
    }
}

/// A plan as JSON (plans are plain numbers and strings: serialising cannot fail).
fn ser<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("a plan serialises")
}
