//! fit.json: a [`Fit`] saved, loaded and checked as a whole.
//!
//! A fit is read by `predict`, `plan`, `estimate --ladder` and the Python package, possibly
//! long after it was made and possibly edited by hand. Every part of it must agree with the
//! others before any is used: the form with the options it was fitted with, the parameter
//! names and their order with the form's, every bootstrap sample's length with the form's
//! parameter count, every number with its range, and the derived quantities with the
//! parameters they come from. A file where any of these disagree is refused with a message
//! that names the file and what disagrees, rather than panicking on a missing name or
//! quietly predicting from parameters read in the wrong order.

use crate::{Error, Fit, Result};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;

/// Relative tolerance between a saved derived quantity and the one its parameters give
/// (the JSON round trip keeps every digit; this only absorbs the last bit or two).
const DERIVED_RTOL: f64 = 1e-9;

impl Fit {
    /// Reads and checks a fit saved by `isoflop fit -o` ([`Fit::validate`]); every error names
    /// the file.
    pub fn load(path: &Path) -> Result<Fit> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::from_json(&text, Some(path))
    }

    /// Parses and checks a fit from fit.json text; `origin` names the file in errors.
    pub fn from_json(text: &str, origin: Option<&Path>) -> Result<Fit> {
        let invalid =
            |message: String| Error::InvalidFit { origin: origin.map(Path::to_path_buf), message };
        let fit: Fit = serde_json::from_str(text).map_err(|e| {
            invalid(format!(
                "this is not a fit saved by `isoflop fit -o` (line {}, column {}: {e})",
                e.line(),
                e.column()
            ))
        })?;
        fit.validate().map_err(|e| match e {
            Error::InvalidFit { message, .. } => invalid(message),
            other => invalid(other.to_string()),
        })?;
        Ok(fit)
    }

    /// The fit as fit.json text, checked first so that nothing is saved that
    /// [`Fit::load`] would refuse.
    pub fn to_json(&self) -> Result<String> {
        self.validate()?;
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::InvalidFit { origin: None, message: e.to_string() })
    }

    /// Checks that the fit's parts agree with each other and are in range: the form and the
    /// options', the parameter names and order and the form's, parameter values in their
    /// domains (finite; scales > 0), bootstrap samples of the form's length, finite residuals
    /// and statistics, intervals ordered, derived quantities equal to what the parameters give,
    /// and the interval calibration's numbers in range.
    pub fn validate(&self) -> Result<()> {
        let bad = |message: String| Err(Error::InvalidFit { origin: None, message });
        let form = self.form;
        if self.options.form != form {
            return bad(format!(
                "`form` is {form} but `options.form` is {}: the fit was made for another form",
                self.options.form
            ));
        }
        let names: Vec<&str> = form.params().iter().map(|s| s.name).collect();
        if self.param_order.iter().map(String::as_str).ne(names.iter().copied()) {
            return bad(format!(
                "`param_order` is [{}] but form {form} has parameters [{}]",
                self.param_order.join(", "),
                names.join(", ")
            ));
        }
        let keys: BTreeSet<&str> = self.params.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = names.iter().copied().collect();
        if keys != want {
            let extra: Vec<&str> = keys.difference(&want).copied().collect();
            let missing: Vec<&str> = want.difference(&keys).copied().collect();
            return bad(format!(
                "`params` of form {form}: unknown [{}], missing [{}]",
                extra.join(", "),
                missing.join(", ")
            ));
        }
        for s in form.params() {
            let v = self.params[s.name];
            if s.transform.to_raw(v).is_none() {
                return bad(format!(
                    "parameter `{}` = {v} is out of range ({})",
                    s.name,
                    domain(s)
                ));
            }
        }
        for name in &self.fixed {
            if !want.contains(name.as_str()) {
                return bad(format!("`fixed` names `{name}`, which form {form} does not have"));
            }
        }
        self.options
            .layout()
            .and_then(|_| self.options.check())
            .or_else(|e| bad(format!("`options` do not fit form {form}: {e}")))?;
        if let Some(b) = &self.bootstrap {
            for (i, sample) in b.samples.iter().enumerate() {
                if sample.len() != names.len() {
                    return bad(format!(
                        "bootstrap sample {i} has {} values but form {form} has {} parameters",
                        sample.len(),
                        names.len()
                    ));
                }
                for (s, &v) in form.params().iter().zip(sample) {
                    // A resample's refit may drive a positive parameter (E, A, …) to its
                    // bound: exp of the optimiser's raw value underflows to exactly 0. That
                    // refit is a legitimate sample of the interval (dropping it would narrow
                    // the interval away from 0), so 0 is kept; negatives and non-finite values
                    // are not.
                    let underflow = s.transform == crate::Transform::Log && v == 0.0;
                    if !underflow && s.transform.to_raw(v).is_none() {
                        return bad(format!(
                            "bootstrap sample {i}: `{}` = {v} is out of range ({})",
                            s.name,
                            domain(s)
                        ));
                    }
                }
            }
        }
        if self.residuals.len() != self.n_rows {
            return bad(format!(
                "`residuals` has {} values but `n_rows` is {}",
                self.residuals.len(),
                self.n_rows
            ));
        }
        if let Some(i) = self.residuals.iter().position(|r| !r.is_finite()) {
            return bad(format!("residual {i} is not finite"));
        }
        for (what, v) in [("objective", self.objective), ("rmse_log", self.rmse_log)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("`{what}` = {v} must be finite and >= 0"));
            }
        }
        if self.r2.is_infinite() {
            return bad(format!("`r2` = {} is not finite", self.r2));
        }
        let derived = form.derived(&self.params);
        for (name, &v) in &self.derived {
            let Some(&want) = derived.get(name) else {
                return bad(format!("`derived` has `{name}`, which form {form} does not derive"));
            };
            if !v.is_finite() {
                return bad(format!("derived `{name}` = {v} is not finite"));
            }
            if (v - want).abs() > DERIVED_RTOL * want.abs() {
                return bad(format!(
                    "derived `{name}` = {v} disagrees with the parameters, which give {want}"
                ));
            }
        }
        for (name, &[lo, hi]) in &self.intervals {
            if !want.contains(name.as_str()) && !derived.contains_key(name) {
                return bad(format!("`intervals` has `{name}`, which form {form} does not have"));
            }
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return bad(format!("interval of `{name}` [{lo}, {hi}] is not an interval"));
            }
        }
        if let Some(Err(m)) = self.calibration.as_ref().map(|c| c.check()) {
            return bad(m);
        }
        let average = self.selection.as_ref().and_then(|s| s.average.as_ref());
        if let Some(Err(m)) = average.map(|a| a.check()) {
            return bad(m);
        }
        Ok(())
    }
}

fn domain(s: &crate::ParamSpec) -> &'static str {
    match s.transform {
        crate::Transform::Identity => "must be finite",
        crate::Transform::Log => "must be finite and > 0",
    }
}

/// Reads a number that may have been saved as `null` (serde_json writes NaN so) as NaN.
pub(crate) fn null_as_nan<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use crate::{Fit, FitOptions, Observation, fit};

    fn saved() -> serde_json::Value {
        let obs: Vec<Observation> = (0..12)
            .map(|i| {
                let n = 1e7 * 2f64.powi(i / 3);
                let d = 20.0 * n * 2f64.powi(i % 3 - 1);
                Observation::new(n, d, 1.7 + 400.0 / n.powf(0.34) + 400.0 / d.powf(0.28))
            })
            .collect();
        let opts = FitOptions { grid_stride: 29, bootstrap: 3, ..FitOptions::default() };
        serde_json::to_value(fit(&obs, &opts).unwrap()).unwrap()
    }

    fn refused(v: &serde_json::Value) -> String {
        let path = std::path::Path::new("f.json");
        Fit::from_json(&v.to_string(), Some(path)).unwrap_err().to_string()
    }

    /// Issue 15, item 1: each edit that used to panic or give silent nonsense is refused,
    /// naming the file and what disagrees.
    #[test]
    fn inconsistent_fits_are_refused_as_a_whole() {
        let good = saved();
        assert!(Fit::from_json(&good.to_string(), None).is_ok());
        let mut v = good.clone();
        v["form"] = "kaplan-n".into();
        let e = refused(&v);
        assert!(
            e.starts_with("f.json: `form` is kaplan-n but `options.form` is chinchilla"),
            "{e}"
        );
        let mut v = good.clone();
        v["param_order"].as_array_mut().unwrap().push("gamma".into());
        assert!(refused(&v).contains("`param_order` is [E, A, B, alpha, beta, gamma]"));
        let mut v = good.clone();
        v["param_order"].as_array_mut().unwrap().swap(3, 4);
        assert!(refused(&v).contains("`param_order`"));
        let mut v = good.clone();
        v["bootstrap"]["samples"][1].as_array_mut().unwrap().pop();
        assert!(refused(&v).contains("bootstrap sample 1 has 4 values but form chinchilla has 5"));
        let mut v = good.clone();
        v["params"]["A"] = (-3.0).into();
        assert!(refused(&v).contains("parameter `A` = -3 is out of range"));
        let mut v = good.clone();
        v["params"]["alpha"] = serde_json::Value::Null;
        assert!(refused(&v).contains("not a fit saved by `isoflop fit -o`"));
        let mut v = good.clone();
        v["params"]["alpha"] = 0.5.into();
        assert!(refused(&v).contains("disagrees with the parameters"), "{}", refused(&v));
        // A resample whose refit drove E to its bound (exp underflowing to 0) is a sample the
        // demo's own fit.json held, and loads, predicts and plans; a negative one is refused.
        let mut v = good.clone();
        v["bootstrap"]["samples"][1][0] = 0.0.into();
        let f = Fit::from_json(&v.to_string(), None).unwrap();
        assert!(f.predict_interval(1e8, 2e9).is_some_and(|[lo, hi]| lo <= hi && lo.is_finite()));
        assert!(crate::plan::compute_optimal(&f, 1e21).is_ok());
        v["bootstrap"]["samples"][1][0] = (-1e-9).into();
        assert!(refused(&v).contains("bootstrap sample 1: `E` = -0.000000001 is out of range"));
        // r2 saved as null (a constant target) reads back as NaN.
        let mut v = good;
        v["r2"] = serde_json::Value::Null;
        assert!(Fit::from_json(&v.to_string(), None).unwrap().r2.is_nan());
    }
}
