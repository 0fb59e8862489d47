//! Extrapolation check: fit on the smaller runs, predict the largest, compare.
//!
//! Relative error = (predicted − actual) / actual, in loss units (nats per token).

use crate::{Error, Fit, Observation, Result};
use serde::{Deserialize, Serialize};

/// Which rows to hold out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holdout {
    /// Rows whose compute C (FLOPs) is above this.
    AboveCompute(f64),
    /// The K rows of largest compute.
    TopK(usize),
}

/// As the `fit` flags that ask for it: `--holdout-above-compute 1e18`, `--holdout-top 3`.
impl std::fmt::Display for Holdout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holdout::AboveCompute(c) => write!(f, "--holdout-above-compute {c:e}"),
            Holdout::TopK(k) => write!(f, "--holdout-top {k}"),
        }
    }
}

/// One held-out row: what the fit on the other rows predicted for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOut {
    /// Parameters.
    pub n: f64,
    /// Tokens.
    pub d: f64,
    /// FLOPs.
    pub compute: f64,
    /// Measured loss.
    pub actual: f64,
    /// Predicted loss.
    pub predicted: f64,
    /// (predicted − actual) / actual.
    pub rel_err: f64,
    /// 95% prediction interval for the run (bootstrap spread and residual scatter, widened
    /// with the distance beyond the fitted range when the fit's interval is calibrated),
    /// which the actual loss should fall in 95% of the time.
    pub interval: Option<[f64; 2]>,
    /// When the fit's interval is calibrated: the in-sample interval before widening, to
    /// compare coverage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_sample_interval: Option<[f64; 2]>,
}

/// How many held-out rows fall inside their intervals: (inside the reported interval, inside
/// the in-sample one when the fit is calibrated, rows with an interval).
pub fn holdout_coverage(held: &[HeldOut]) -> (usize, Option<usize>, usize) {
    let inside = |iv: Option<[f64; 2]>, y: f64| iv.is_some_and(|[lo, hi]| lo <= y && y <= hi);
    let total = held.iter().filter(|h| h.interval.is_some()).count();
    let calibrated = held.iter().any(|h| h.in_sample_interval.is_some());
    (
        held.iter().filter(|h| inside(h.interval, h.actual)).count(),
        calibrated.then(|| held.iter().filter(|h| inside(h.in_sample_interval, h.actual)).count()),
        total,
    )
}

/// Splits rows into (fit on, held out); both must be non-empty.
pub fn split_holdout(
    obs: &[Observation],
    how: Holdout,
) -> Result<(Vec<Observation>, Vec<Observation>)> {
    let mut idx: Vec<usize> = (0..obs.len()).collect();
    let held: Vec<bool> = match how {
        Holdout::AboveCompute(c) => {
            if !(c > 0.0 && c.is_finite()) {
                return Err(Error::InvalidOption(format!("holdout compute must be > 0, got {c}")));
            }
            obs.iter().map(|o| o.compute() > c).collect()
        }
        Holdout::TopK(k) => {
            idx.sort_by(|&a, &b| obs[b].compute().total_cmp(&obs[a].compute()));
            let mut h = vec![false; obs.len()];
            for &i in idx.iter().take(k) {
                h[i] = true;
            }
            h
        }
    };
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (o, h) in obs.iter().zip(held) {
        if h { test.push(o.clone()) } else { train.push(o.clone()) }
    }
    if test.is_empty() {
        return Err(Error::InvalidOption(format!("{how} holds out no rows")));
    }
    if train.is_empty() {
        return Err(Error::InvalidOption(format!("{how} leaves no rows to fit on")));
    }
    Ok((train, test))
}

/// Predictions of `fit` for held-out rows.
pub fn evaluate_holdout(fit: &Fit, test: &[Observation]) -> Vec<HeldOut> {
    test.iter()
        .map(|o| {
            let predicted = fit.predict_obs(o);
            let actual = if fit.form.log_space() { o.loss } else { o.metric.unwrap_or(f64::NAN) };
            HeldOut {
                n: o.n,
                d: o.d,
                compute: o.compute(),
                actual,
                predicted,
                rel_err: (predicted - actual) / actual,
                interval: fit.prediction_interval_obs(o),
                in_sample_interval: fit
                    .calibration
                    .as_ref()
                    .and_then(|_| fit.in_sample_prediction_interval_obs(o)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_flag_not_the_rust_value() {
        let obs: Vec<Observation> =
            (1..=4).map(|i| Observation::new(1e6 * i as f64, 2e7, 3.0)).collect();
        let e = split_holdout(&obs, Holdout::TopK(0)).unwrap_err().to_string();
        assert_eq!(e, "invalid option: --holdout-top 0 holds out no rows");
        let e = split_holdout(&obs, Holdout::TopK(9)).unwrap_err().to_string();
        assert!(e.contains("--holdout-top 9 leaves no rows"), "{e}");
    }
}
