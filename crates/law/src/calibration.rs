//! Prediction intervals that widen beyond the fitted range, calibrated on leave-largest-out
//! refits of the fit's own rows.
//!
//! A fit's in-sample prediction interval ([`Fit::in_sample_prediction_interval_obs`]: the
//! bootstrap spread of the law and the runs' scatter around it, inflated by √(n/(n − p))) is as
//! wide for a model 10× larger than any fitted as inside the sweep. But a law's error grows
//! with how far it is asked to go: the parameters' uncertainty and any mismatch of the form act
//! through ln N and ln D. Issue 14 measured 27 of 48 held-out runs inside their 95% interval
//! on Besiroglu et al.'s points.
//!
//! The calibration is split conformal prediction with a score weighted by distance (Lei,
//! G'Sell, Rinaldo, Tibshirani & Wasserman 2018, "Distribution-Free Predictive Inference for
//! Regression", JASA 113(523), §2.2 and §5.2), where the calibration rows are what users
//! extrapolate to:
//!
//! 1. Refit the form, with the fit's own options and no bootstrap, on its rows without the
//!    largest model sizes, in up to three splits: the fewest largest sizes holding 10%, 20%,
//!    30% of the runs (the splits of `select`'s `sizes` rule, and a third).
//! 2. For every held-out row: its distance x beyond the refit's fitted range, and the growth
//!    it needs for the refit's in-sample interval [lo, hi], widened to
//!    [lo·e^(−k·x), hi·e^(k·x)], to hold its loss y: 0 inside, ln(y/hi)/x above, ln(lo/y)/x
//!    below.
//!
//!    The fitted range of an IsoFLOP sweep is a band in (ln N, ln D), not a box: the runs of
//!    the largest budget have neither the largest N nor the largest D, and a run of 2× that
//!    budget at a middling N is beyond every fitted run though inside the box of N and D (on
//!    Besiroglu et al.'s points, held out by compute, 11 of the 13 runs that an interval
//!    widened by the box alone still missed were such runs). So x is the norm of how far (ln N, ln D) lies beyond each of
//!    the band's edges: ln N beyond [ln N_min, ln N_max], ln D beyond [ln D_min, ln D_max],
//!    and ln N + ln D beyond the range of the fitted runs' ln N + ln D (compute, C = 6ND)
//!    divided by √2, its distance across that diagonal edge. A model 10× larger than any
//!    fitted, at a D inside the range and 10× beyond the largest compute, is at
//!    x = ln 10 · √(3/2) ≈ 2.8; inside the band x = 0.
//! 3. k is the ⌈(n + 1)·0.95⌉-th smallest of the n needs (the largest when n < 19): the
//!    conformal quantile, so that about 95% of held-out rows fall inside.
//!
//! A prediction at distance x from the full fit's range then gets the fit's in-sample interval
//! widened the same way: unchanged inside the range, its log half-widths growing as s0 + k·x
//! beyond it (additively, in the metric's units, for a form that is not fitted in log space).
//!
//! What the guarantee does not cover: the held-out rows of one split share their refit's
//! error, so they are not the exchangeable draws conformal prediction assumes; beyond the
//! largest distance held out (`max_distance`) the linear growth is itself extrapolated. The
//! refits have no bootstrap, so k also carries the growth of the parameters' spread: on a fit
//! with a bootstrap the interval is a little wider than needed.

use crate::select::largest_sizes_splits;
use crate::{Error, Fit, FitOptions, Observation, Result};
use serde::{Deserialize, Serialize};

/// Nominal coverage of the calibrated interval (the in-sample one is a 95% interval too).
pub const INTERVAL_LEVEL: f64 = 0.95;

/// Leave-largest-out splits calibrated on (10%, 20%, 30% of the runs held out).
const MAX_SPLITS: usize = 3;

/// What the calibration of a fit's prediction interval found; saved in fit.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalCalibration {
    /// Nominal coverage (0.95).
    pub level: f64,
    /// k: growth of the interval's log half-widths per unit of distance beyond the fitted
    /// range (the module docs say how it is measured).
    pub growth: f64,
    /// Smallest and largest N (parameters) of the rows fitted.
    pub n_range: [f64; 2],
    /// Smallest and largest D (tokens) of the rows fitted.
    pub d_range: [f64; 2],
    /// Smallest and largest compute C = 6ND (FLOPs) of the rows fitted.
    pub c_range: [f64; 2],
    /// Leave-largest-out refits calibrated on.
    pub splits: usize,
    /// Held-out rows over all refits.
    pub heldout: usize,
    /// Of those, the rows inside their refit's in-sample interval (before widening).
    pub inside_uncalibrated: usize,
    /// Of those, the rows inside the widened interval (at the calibrated growth).
    pub inside_calibrated: usize,
    /// The largest distance of a held-out row: beyond it the linear growth is extrapolated.
    pub max_distance: f64,
}

impl IntervalCalibration {
    /// How far (N, D) lies beyond the fitted range, in nats of size and tokens (see the module
    /// docs): 0 inside.
    pub fn distance(&self, n: f64, d: f64) -> f64 {
        distance(&[self.n_range, self.d_range, self.c_range], n, d)
    }

    /// An interval widened for a prediction at distance `x`: [lo·e^(−k·x), hi·e^(k·x)] in log
    /// space, [lo − k·x, hi + k·x] otherwise.
    pub fn widen(&self, [lo, hi]: [f64; 2], x: f64, log_space: bool) -> [f64; 2] {
        widen(self.growth, [lo, hi], x, log_space)
    }

    /// Checks the calibration's own ranges (for fit.json).
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(format!("`calibration.level` = {} must be in (0, 1)", self.level));
        }
        if !(self.growth.is_finite() && self.growth >= 0.0) {
            return Err(format!("`calibration.growth` = {} must be finite and >= 0", self.growth));
        }
        let ranges =
            [("n_range", self.n_range), ("d_range", self.d_range), ("c_range", self.c_range)];
        for (what, [lo, hi]) in ranges {
            if !(lo > 0.0 && lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(format!(
                    "`calibration.{what}` [{lo}, {hi}] must be finite, > 0 and ordered"
                ));
            }
        }
        if self.inside_uncalibrated > self.heldout || self.inside_calibrated > self.heldout {
            return Err(format!(
                "`calibration` counts {} and {} rows inside of {} held out",
                self.inside_uncalibrated, self.inside_calibrated, self.heldout
            ));
        }
        if !(self.max_distance.is_finite() && self.max_distance >= 0.0) {
            return Err(format!(
                "`calibration.max_distance` = {} must be finite and >= 0",
                self.max_distance
            ));
        }
        Ok(())
    }
}

/// Calibrates `fit`'s prediction interval on leave-largest-out refits of `obs`, the rows it
/// was fitted on (see the module docs). Needs a loss law and at least four distinct model
/// sizes (three stay to fit when the largest is held out).
pub fn calibrate(fit: &Fit, obs: &[Observation]) -> Result<IntervalCalibration> {
    if !fit.form.is_loss_law() {
        return Err(Error::InvalidOption(format!(
            "interval calibration holds out the largest models of a loss law; form {} is not one",
            fit.form
        )));
    }
    let splits = largest_sizes_splits(obs, MAX_SPLITS).map_err(|e| match e {
        Error::InvalidData(m) => Error::InvalidData(format!("interval calibration: {m}")),
        other => other,
    })?;
    let opts = FitOptions { bootstrap: 0, calibrate_intervals: false, ..fit.options.clone() };
    let log_space = fit.form.log_space();
    let (mut needs, mut max_distance, mut used, mut last_err) = (Vec::new(), 0.0f64, 0, None);
    for sp in &splits {
        let refit = match crate::fit(&sp.train, &opts) {
            Ok(f) => f,
            Err(e) => {
                last_err = Some(e);
                continue;
            }
        };
        used += 1;
        let ranges = fitted_range(&sp.train);
        for o in &sp.test {
            let Some([lo, hi]) = refit.in_sample_prediction_interval_obs(o) else { continue };
            let x = distance(&ranges, o.n, o.d);
            max_distance = max_distance.max(x);
            let y = o.loss;
            let gap = if y > hi {
                if log_space { (y / hi).ln() } else { y - hi }
            } else if y < lo {
                if log_space { (lo / y).ln() } else { lo - y }
            } else {
                0.0
            };
            needs.push(match (gap > 0.0, x > 0.0) {
                (false, _) => 0.0,
                (true, true) => gap / x,
                // Outside its interval at no distance: no growth can cover it.
                (true, false) => f64::INFINITY,
            });
        }
    }
    if used == 0 {
        let why = last_err.map(|e| e.to_string()).unwrap_or_default();
        return Err(Error::FitFailed(format!(
            "interval calibration: no leave-largest-out refit of form {} succeeded ({why})",
            fit.form
        )));
    }
    if needs.is_empty() {
        return Err(Error::InvalidData(format!(
            "interval calibration: the refits of form {} have too few rows for an interval",
            fit.form
        )));
    }
    needs.sort_by(f64::total_cmp);
    let n = needs.len();
    let rank = (((n + 1) as f64 * INTERVAL_LEVEL).ceil() as usize).clamp(1, n);
    let growth = needs[..rank].iter().rev().copied().find(|k| k.is_finite()).unwrap_or(0.0);
    let [n_range, d_range, c_range] = fitted_range(obs);
    Ok(IntervalCalibration {
        level: INTERVAL_LEVEL,
        growth,
        n_range,
        d_range,
        c_range,
        splits: used,
        heldout: n,
        inside_uncalibrated: needs.iter().filter(|&&k| k == 0.0).count(),
        inside_calibrated: needs.iter().filter(|&&k| k <= growth).count(),
        max_distance,
    })
}

/// Smallest and largest N, D and C = 6ND of rows.
fn fitted_range(obs: &[Observation]) -> [[f64; 2]; 3] {
    let range = |f: &dyn Fn(&Observation) -> f64| {
        obs.iter()
            .map(f)
            .fold([f64::INFINITY, f64::NEG_INFINITY], |[lo, hi], x| [lo.min(x), hi.max(x)])
    };
    [range(&|o| o.n), range(&|o| o.d), range(&|o| 6.0 * o.n * o.d)]
}

/// How far (N, D) lies beyond the band of `[N, D, C]` ranges (see the module docs).
fn distance([n_range, d_range, c_range]: &[[f64; 2]; 3], n: f64, d: f64) -> f64 {
    let out = |[lo, hi]: [f64; 2], v: f64| (v.ln() - hi.ln()).max(lo.ln() - v.ln()).max(0.0);
    let c = out(*c_range, 6.0 * n * d) / std::f64::consts::SQRT_2;
    (out(*n_range, n).powi(2) + out(*d_range, d).powi(2) + c * c).sqrt()
}

fn widen(growth: f64, [lo, hi]: [f64; 2], x: f64, log_space: bool) -> [f64; 2] {
    let w = growth * x;
    if log_space { [lo * (-w).exp(), hi * w.exp()] } else { [lo - w, hi + w] }
}

/// Runs the calibration the fit's options ask for and fills `fit.calibration`.
pub(crate) fn attach(fit: &mut Fit, obs: &[Observation]) -> Result<()> {
    fit.calibration = Some(calibrate(fit, obs)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_zero_inside_and_grows_in_both_logs() {
        // N in [1e7, 1e9], D in [1e8, 1e11], C = 6ND in [6e16, 6e19].
        let r = [[1e7, 1e9], [1e8, 1e11], [6e16, 6e19]];
        let ln10 = 10f64.ln();
        assert_eq!(distance(&r, 1e8, 1e10), 0.0);
        // Inside the box of N and D, 10× beyond the largest compute: across the diagonal
        // edge, ln 10 / √2.
        assert!((distance(&r, 1e9, 1e11) - ln10 / 2f64.sqrt()).abs() < 1e-12);
        // 10× beyond the largest N at compute inside: ln 10.
        assert!((distance(&r, 1e10, 1e8) - ln10).abs() < 1e-12);
        // 10× beyond the largest N and the largest compute: √(1 + 1/2) · ln 10.
        assert!((distance(&r, 1e10, 1e10) - 1.5f64.sqrt() * ln10).abs() < 1e-12);
        // 10× below the smallest N counts as 10× above the largest.
        assert!((distance(&r, 1e6, 1e10) - ln10).abs() < 1e-12);
        let [lo, hi] = widen(0.01, [2.0, 2.2], 10f64.ln(), true);
        let w = (0.01 * 10f64.ln()).exp();
        assert!((lo - 2.0 / w).abs() < 1e-12 && (hi - 2.2 * w).abs() < 1e-12);
        assert_eq!(widen(0.01, [2.0, 2.2], 0.0, true), [2.0, 2.2]);
    }
}
