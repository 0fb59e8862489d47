//! Model averaging over the selection's candidates: one prediction that weighs every form by
//! how well it extrapolated, instead of betting everything on the chosen one.
//!
//! Selection picks one form, but when two candidates are within the noise of each other the
//! pick is partly luck, and the spread between their extrapolations is uncertainty a single
//! form's bootstrap cannot see. Averaging keeps it: every candidate scored on the held-out runs
//! is refitted on all runs, weighted, and the averaged law predicts the weighted mean of the
//! candidates' predictions, with intervals read off the weighted mixture of their draws.
//!
//! The weights are Akaike-style, w_i ∝ exp(−Δ_i / 2) (Burnham & Anderson, "Model Selection and
//! Multimodel Inference", 2nd ed., 2002, §2.9), with Δ_i taken from the held-out scores rather
//! than from AIC: Δ_i = z_i², z_i the candidate's margin over the best mean held-out error
//! divided by the standard error of the paired differences, the same noise scale the
//! one-standard-error decision uses (floored at 1% of the best mean error, [`SE_FLOOR`]). exp(−z²/2) is the normal likelihood ratio of "this
//! candidate extrapolates as well as the best" against what was observed: a candidate within
//! one standard error keeps at least 61% of the best's weight, one at two standard errors
//! 14%, one at three 1%. The alternatives were worse fits to the purpose: exp(−err/τ) needs a
//! τ, and the best candidate's own margin standard error is 0 by definition; inverse mean
//! squared error never lets a clearly worse form go (half the error still gets a quarter of
//! the weight), and both ignore how noisy the comparison is.

use crate::{CandidateScore, Fit, Observation, Progress, Result};
use serde::{Deserialize, Serialize};

/// The weighting scheme's name in fit.json (see the module docs).
pub const AVERAGE_SCHEME: &str = "held-out-z";

/// Candidates weighing less than this (relative to the best's 1) are left out of the average
/// rather than refitted: no prediction moves by that fraction of their difference.
pub(crate) const MIN_RELATIVE_WEIGHT: f64 = 1e-6;

/// An averaged law: saved in fit.json under `selection.average`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Average {
    /// How the weights were made: `held-out-z`, w ∝ exp(−z²/2) (see the module docs).
    pub scheme: String,
    /// The candidates averaged, each refitted on all runs; weights sum to 1.
    pub members: Vec<AverageMember>,
}

/// One candidate of an average.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AverageMember {
    /// The candidate's name.
    pub name: String,
    /// Its weight in the average.
    pub weight: f64,
    /// Its held-out margin over the best in standard errors (0 for the best).
    pub z: f64,
    /// Its fit on all runs.
    pub fit: Fit,
}

/// The smallest standard error a margin is measured against, as a fraction of the best mean
/// held-out error. Two candidates that reach nearly the same law (an `-eprior` form whose
/// free optimum already lies inside the prior) differ run by run by the optimiser's
/// tolerance, 1e-9 in relative error, and so does their paired standard error: the ratio of
/// two such numbers would weigh noise. Held-out comparisons resolve nothing finer than 1% of
/// the error itself (the margins of docs/fitting.md's selection table are 10% or more).
/// The one-standard-error decision of `select` compares margins against the same floor.
pub(crate) const SE_FLOOR: f64 = 0.01;

/// The floor of a margin's standard error given the scores: [`SE_FLOOR`] times the best mean
/// held-out error (0 when no candidate was scored). Shared by the average's weights and the
/// selection's one-standard-error rule, so both read the noise alike.
pub(crate) fn se_floor(scores: &[CandidateScore]) -> f64 {
    let best = scores.iter().filter_map(|s| s.mean_rel_err).fold(f64::INFINITY, f64::min);
    if best.is_finite() { SE_FLOOR * best } else { 0.0 }
}

/// z and unnormalised weight of each scored candidate (`None` for those not scored).
pub(crate) fn relative_weights(scores: &[CandidateScore]) -> Vec<Option<(f64, f64)>> {
    let floor = se_floor(scores);
    scores
        .iter()
        .map(|s| {
            let (m, se) = (s.margin?, s.margin_se.unwrap_or(0.0).max(floor));
            // A margin with no spread (a best that predicts every held-out run exactly) is
            // certain: the best (margin 0) keeps its weight and any other gets none.
            let z = if se > 0.0 {
                m.max(0.0) / se
            } else if m <= 0.0 {
                0.0
            } else {
                f64::INFINITY
            };
            Some((z, (-0.5 * z * z).exp()))
        })
        .collect()
}

impl Average {
    /// The averaged prediction for an observation's inputs: the weighted mean of the members'.
    pub fn predict_obs(&self, o: &Observation) -> f64 {
        self.members.iter().map(|m| m.weight * m.fit.predict_obs(o)).sum()
    }

    /// The averaged prediction at (n, d).
    pub fn predict(&self, n: f64, d: f64) -> f64 {
        self.predict_obs(&Observation::new(n, d, n))
    }

    /// Each member's name, weight and own prediction.
    pub fn member_predictions(&self, o: &Observation) -> Vec<(&str, f64, f64)> {
        self.members.iter().map(|m| (m.name.as_str(), m.weight, m.fit.predict_obs(o))).collect()
    }

    /// 95% interval of where the law lies: percentiles of the weighted mixture of the members'
    /// bootstrap predictions (a member without a bootstrap adds its point prediction); `None`
    /// when no member has a bootstrap. Wider than any member's own when they disagree.
    pub fn predict_interval_obs(&self, o: &Observation) -> Option<[f64; 2]> {
        if !self
            .members
            .iter()
            .any(|m| m.fit.bootstrap.as_ref().is_some_and(|b| !b.samples.is_empty()))
        {
            return None;
        }
        let mut draws = Vec::new();
        for m in &self.members {
            let v: Vec<f64> = match &m.fit.bootstrap {
                Some(b) if !b.samples.is_empty() => {
                    b.samples.iter().map(|s| m.fit.predict_with(s, o)).collect()
                }
                _ => vec![m.fit.predict_obs(o)],
            };
            let w = m.weight / v.len() as f64;
            draws.extend(v.into_iter().map(|x| (x, w)));
        }
        weighted_interval(&mut draws, 0.95)
    }

    /// 95% interval for a new run: percentiles of the weighted mixture of the members'
    /// in-sample prediction draws (law spread and run-to-run scatter, see
    /// [`Fit::in_sample_prediction_interval_obs`]).
    pub fn prediction_interval_obs(&self, o: &Observation) -> Option<[f64; 2]> {
        let mut draws = Vec::new();
        for m in &self.members {
            let Some(v) = m.fit.prediction_draws_obs(o) else { continue };
            let w = m.weight / v.len().max(1) as f64;
            draws.extend(v.into_iter().map(|x| (x, w)));
        }
        weighted_interval(&mut draws, 0.95)
    }

    /// Gives every member a bootstrap of `resamples` refits on `obs` (the rows they were
    /// fitted on), so that the average's intervals carry each member's own uncertainty.
    pub fn bootstrap_members(
        &mut self,
        obs: &[Observation],
        resamples: usize,
        seed: u64,
        progress: Progress,
    ) -> Result<()> {
        for m in &mut self.members {
            let samples = crate::bootstrap_with_progress(&m.fit, obs, resamples, seed, progress)?;
            m.fit.options.bootstrap = resamples;
            m.fit.options.seed = seed;
            m.fit.bootstrap = Some(samples);
            m.fit.intervals = crate::intervals_of(&m.fit);
        }
        Ok(())
    }

    /// Checks the average as a whole: members present, weights in [0, 1] summing to 1, each
    /// member a valid fit of its own without a nested selection.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        if self.members.is_empty() {
            return Err("`selection.average` has no members".into());
        }
        let mut sum = 0.0;
        for m in &self.members {
            if !(m.weight.is_finite() && (0.0..=1.0).contains(&m.weight)) {
                return Err(format!(
                    "average member `{}`: weight {} is not in [0, 1]",
                    m.name, m.weight
                ));
            }
            sum += m.weight;
            if m.fit.selection.is_some() {
                return Err(format!("average member `{}` holds a selection of its own", m.name));
            }
            m.fit.validate().map_err(|e| format!("average member `{}`: {e}", m.name))?;
        }
        if (sum - 1.0).abs() > 1e-9 {
            return Err(format!("`selection.average` weights sum to {sum}, not 1"));
        }
        Ok(())
    }
}

/// The central `level` interval of weighted draws: the smallest values whose cumulative
/// weight reaches the lower and upper tail fractions of the total (the inverse of the
/// weighted empirical distribution). Non-finite values and zero weights are dropped.
pub(crate) fn weighted_interval(draws: &mut Vec<(f64, f64)>, level: f64) -> Option<[f64; 2]> {
    draws.retain(|(x, w)| x.is_finite() && w.is_finite() && *w > 0.0);
    if draws.is_empty() {
        return None;
    }
    draws.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = draws.iter().map(|d| d.1).sum();
    let tail = (1.0 - level) / 2.0;
    let at = |q: f64| {
        let target = q * total;
        let mut cum = 0.0;
        for &(x, w) in draws.iter() {
            cum += w;
            if cum >= target * (1.0 - 1e-12) {
                return x;
            }
        }
        draws[draws.len() - 1].0
    };
    Some([at(tail), at(1.0 - tail)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_percentiles_follow_the_weights() {
        // Equal weights: the 2.5% and 97.5% points of 1..=100 are the 3rd and 98th values.
        let mut v: Vec<(f64, f64)> = (1..=100).map(|i| (f64::from(i), 1.0)).collect();
        assert_eq!(weighted_interval(&mut v, 0.95), Some([3.0, 98.0]));
        // Two point masses, 99% and 1%: the interval stays on the heavy one below and reaches
        // the light one only when its weight passes the upper tail's 2.5%.
        let mut v = vec![(1.0, 0.99), (2.0, 0.01)];
        assert_eq!(weighted_interval(&mut v, 0.95), Some([1.0, 1.0]));
        let mut v = vec![(1.0, 0.9), (2.0, 0.1), (f64::NAN, 5.0)];
        assert_eq!(weighted_interval(&mut v, 0.95), Some([1.0, 2.0]));
        assert_eq!(weighted_interval(&mut vec![(1.0, 0.0)], 0.95), None);
    }

    #[test]
    fn weights_fall_with_the_margin_in_standard_errors() {
        let score = |margin: Option<f64>, se: f64| CandidateScore {
            name: String::new(),
            mean_rel_err: margin.map(|m| 0.01 + m),
            worst_rel_err: None,
            n_heldout: 10,
            inside_interval: None,
            inside_in_sample_interval: None,
            calibration_error: None,
            error: None,
            free_params: 5,
            margin,
            margin_se: Some(se),
            within_noise: false,
            errors: Vec::new(),
        };
        // The best mean is 0.01: standard errors below 1e-4 count as 1e-4.
        let w = relative_weights(&[
            score(Some(0.0), 0.0),
            score(Some(0.002), 0.002),
            score(Some(0.004), 0.002),
            score(Some(0.001), 0.0),
            score(Some(5e-5), 1e-9),
            score(None, 0.0),
        ]);
        assert_eq!(w[0], Some((0.0, 1.0)));
        let (z, r) = w[1].unwrap();
        assert!((z - 1.0).abs() < 1e-12 && (r - (-0.5f64).exp()).abs() < 1e-12);
        assert!((w[2].unwrap().1 - (-2.0f64).exp()).abs() < 1e-12);
        let (z, r) = w[3].unwrap();
        assert!((z - 10.0).abs() < 1e-9 && r < 1e-21, "{z} {r}");
        assert!((w[4].unwrap().0 - 0.5).abs() < 1e-9, "{:?}", w[4]);
        assert_eq!(w[5], None);
        // Without a spread at all (a best that predicts exactly) a worse margin is certain.
        let mut perfect = score(Some(0.0), 0.0);
        perfect.mean_rel_err = Some(0.0);
        let exact = relative_weights(&[perfect, score(Some(0.001), 0.0)]);
        assert_eq!(exact[1], Some((f64::INFINITY, 0.0)));
    }
}
