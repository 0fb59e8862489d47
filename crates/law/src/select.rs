//! Choosing the form that extrapolates: validation in the direction users extrapolate, and a
//! decision that keeps the noise in view.
//!
//! A law is worth what it predicts beyond the runs it was fitted on, and on public sweeps the
//! form moves the extrapolation error far more than the number of runs does (Gadre et al.
//! 2024, "Language models scale reliably with over-training and on downstream tasks", found
//! Chinchilla's form with α = β the most predictive). Each candidate is fitted on held-in runs
//! and scored by its relative error |predicted − actual| / actual on the held-out ones. The
//! splits ([`SelectRule`]):
//!
//! - largest sizes (the default): hold out every run of the largest model, then (a second
//!   split) every run of the two largest: users fit small models to predict larger ones, and
//!   a compute quantile would mix small over-trained runs into the held-out set;
//! - compute quantile: hold out the runs above a quantile of compute (and every run of the
//!   largest model);
//! - rolling origin: cut at each decade of compute with at least 8 runs spanning a decade
//!   below it and runs above it, fit below the cut, predict the next decade.
//!
//! The decision: the candidate with the lowest mean error is the best; a candidate whose mean
//! is within one standard error of the paired differences (its error minus the best's, run by
//! run) is not distinguishably worse (the one-standard-error rule, Hastie, Tibshirani &
//! Friedman, "The Elements of Statistical Learning", 2009, §7.10). The standard error is
//! floored at 1% of the best mean error, as the average's weights are: two candidates that
//! reach nearly the same law differ run by run by the optimiser's tolerance, their paired
//! standard error with them, and a hair of mean error would otherwise decide. Among those
//! within the noise, the one with the fewest free parameters wins (then the lowest mean);
//! the winner is refitted on all runs and the selection records each candidate's margin over
//! the best, its standard error, the floor, and the sentence that says why.
//!
//! Two more kinds of candidate and one more outcome: a candidate named `…-eprior` holds the
//! irreducible loss E to a user's prior ([`EPrior`]: a value or an interval), which helps most
//! where small models leave E poorly identified; and with [`SelectOptions::average`] every
//! scored candidate is refitted on all runs and averaged by held-out weights (see the
//! `average` module), recorded in [`Selection::average`].

use crate::average::{
    AVERAGE_SCHEME, Average, AverageMember, MIN_RELATIVE_WEIGHT, SE_FLOOR, relative_weights,
    se_floor,
};
use crate::{EPrior, Error, Fit, FitOptions, Form, Observation, Result, fit};
use serde::{Deserialize, Serialize};

/// One candidate: a name and the options that fit it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// `chinchilla`, `chinchilla-tied`, `kaplan-nd`, or any form name (with `-tied`, then
    /// `-eprior` for E held to a prior).
    pub name: String,
    /// Options of its fits.
    pub options: FitOptions,
}

impl Candidate {
    /// A candidate from its name: a form name, optionally with `-tied` (α = β), fitted with
    /// `base`'s other options.
    pub fn parse(name: &str, base: &FitOptions) -> Result<Self> {
        Self::parse_with_prior(name, base, None)
    }

    /// [`Candidate::parse`], where a name ending in `-eprior` (`chinchilla-eprior`,
    /// `chinchilla-tied-eprior`) holds E to `e_prior`, which it then needs.
    pub fn parse_with_prior(
        name: &str,
        base: &FitOptions,
        e_prior: Option<&EPrior>,
    ) -> Result<Self> {
        let (rest, prior) = match name.strip_suffix("-eprior") {
            Some(rest) => {
                let p = e_prior.ok_or_else(|| {
                    Error::InvalidOption(format!("candidate `{name}` needs an E prior"))
                })?;
                (rest, Some(p))
            }
            None => (name, None),
        };
        let (form_name, tied) = match rest.strip_suffix("-tied") {
            Some(f) => (f, true),
            None => (rest, false),
        };
        let form: Form = form_name.parse()?;
        if !form.is_loss_law() {
            return Err(Error::InvalidOption(format!("candidate `{name}` is not a loss law")));
        }
        if tied && form.tied_exponents().is_none() {
            return Err(Error::InvalidOption(format!(
                "candidate `{name}`: form {form} has no exponents to tie"
            )));
        }
        // Scored without a bootstrap, and calibrated (when asked) by the selection itself
        // ([`SelectOptions::calibrate_intervals`]), so that a calibration that cannot be made
        // on a split's rows does not fail the candidate's fit.
        let mut options = FitOptions {
            form,
            tie_exponents: tied,
            bootstrap: 0,
            calibrate_intervals: false,
            ..base.clone()
        };
        if let Some(p) = prior {
            options = p
                .apply(&options)
                .map_err(|e| Error::InvalidOption(format!("candidate `{name}`: {e}")))?;
        }
        Ok(Self { name: name.to_string(), options })
    }

    /// The default candidates: chinchilla free, chinchilla tied, kaplan-nd.
    pub fn defaults(base: &FitOptions) -> Vec<Self> {
        ["chinchilla", "chinchilla-tied", "kaplan-nd"]
            .iter()
            .map(|n| Self::parse(n, base).unwrap())
            .collect()
    }
}

/// Which runs are held out to score the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SelectRule {
    /// Every run of the largest model, then of the two largest (two splits).
    #[default]
    LargestSizes,
    /// The runs above [`SelectOptions::quantile`] of compute, and every run of the largest model.
    ComputeQuantile,
    /// Decade cuts of compute, each predicting the next decade.
    RollingOrigin,
}

impl std::str::FromStr for SelectRule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sizes" | "largest-sizes" => Ok(Self::LargestSizes),
            "compute" | "compute-quantile" => Ok(Self::ComputeQuantile),
            "rolling" | "rolling-origin" => Ok(Self::RollingOrigin),
            other => Err(Error::InvalidOption(format!(
                "selection rule `{other}`: expected sizes, compute or rolling"
            ))),
        }
    }
}

/// How candidates are validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectOptions {
    /// The candidates.
    pub candidates: Vec<Candidate>,
    /// Which runs are held out.
    pub rule: SelectRule,
    /// With [`SelectRule::ComputeQuantile`]: runs above this quantile of compute are held out
    /// (0.8: the top 20%).
    pub quantile: f64,
    /// Also average every scored candidate by its held-out weight ([`Selection::average`]).
    #[serde(default)]
    pub average: bool,
    /// Score the held-out coverage of each candidate with the interval users will get from
    /// `--calibrate-intervals`: each held-in refit calibrated on its own held-in rows
    /// ([`crate::calibrate`]). The fit returned is not calibrated; the caller calibrates it.
    #[serde(default)]
    pub calibrate_intervals: bool,
}

/// One candidate's held-out record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// The candidate's name.
    pub name: String,
    /// Mean |relative error| on held-out runs (rolling: averaged over cuts).
    pub mean_rel_err: Option<f64>,
    /// Worst |relative error| on held-out runs (rolling: over all cuts).
    pub worst_rel_err: Option<f64>,
    /// Held-out runs scored.
    pub n_heldout: usize,
    /// Held-out runs inside the fit's 95% prediction interval (when it had one); with
    /// [`SelectOptions::calibrate_intervals`], the calibrated interval of each held-in refit
    /// (`None` when a split's refit could not be calibrated: see `calibration_error`).
    pub inside_interval: Option<usize>,
    /// With [`SelectOptions::calibrate_intervals`]: the held-out runs inside the refits'
    /// in-sample 95% interval, before widening, to compare with `inside_interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside_in_sample_interval: Option<usize>,
    /// With [`SelectOptions::calibrate_intervals`]: why a held-in refit's interval could not
    /// be calibrated (too few model sizes held in), if one could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_error: Option<String>,
    /// Why the candidate could not be scored, if it could not.
    pub error: Option<String>,
    /// Free parameters of the candidate's fit.
    #[serde(default)]
    pub free_params: usize,
    /// Its mean error minus the best candidate's (0 for the best).
    #[serde(default)]
    pub margin: Option<f64>,
    /// Standard error of that margin over the held-out runs (paired differences).
    #[serde(default)]
    pub margin_se: Option<f64>,
    /// Whether it is within one standard error of the best (not distinguishably worse).
    #[serde(default)]
    pub within_noise: bool,
    /// Absolute relative error on each held-out run, split by split (for paired comparisons).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<f64>,
}

/// The outcome of a selection: saved in fit.json beside the chosen fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// `leave-largest-out` or `rolling-origin`.
    pub rule: String,
    /// Where each split cut: the smallest model size held out (largest-sizes, parameters),
    /// or the compute above which runs were held out (leave-largest-out, rolling-origin;
    /// FLOPs).
    pub cuts: Vec<f64>,
    /// The chosen candidate's name.
    pub chosen: String,
    /// Why it was chosen, in a sentence (the best, or the simplest within the noise of it).
    #[serde(default)]
    pub decision: String,
    /// Every candidate's score, in the order given.
    pub candidates: Vec<CandidateScore>,
    /// The smallest standard error a margin was measured against: 1% of the best mean
    /// held-out error (a candidate is within the noise when its margin is at most
    /// max(`margin_se`, this)). Selections saved before it load without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub se_floor: Option<f64>,
    /// With [`SelectOptions::average`]: the averaged law (weights and members' fits), which
    /// `predict` uses instead of the chosen fit. Selections saved before it load without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average: Option<Average>,
}

/// Runs the selection and refits the winner on all runs; the fit carries the [`Selection`].
pub fn select(obs: &[Observation], opts: &SelectOptions) -> Result<Fit> {
    if opts.candidates.is_empty() {
        return Err(Error::InvalidOption("no candidates to select from".into()));
    }
    if !(opts.quantile > 0.0 && opts.quantile < 1.0) {
        return Err(Error::InvalidOption(format!(
            "holdout quantile must be in (0, 1), got {}",
            opts.quantile
        )));
    }
    let splits = match opts.rule {
        SelectRule::LargestSizes => largest_sizes_splits(obs, 2)?,
        SelectRule::ComputeQuantile => vec![largest_out_split(obs, opts.quantile)?],
        SelectRule::RollingOrigin => rolling_splits(obs)?,
    };
    let mut scores: Vec<CandidateScore> =
        opts.candidates.iter().map(|c| score(c, &splits, opts.calibrate_intervals)).collect();
    let (chosen, decision, floor) = decide(&mut scores)?;
    let chosen_index = chosen;
    let chosen = &opts.candidates[chosen];
    let mut f = fit(obs, &chosen.options)?;
    let average = match opts.average {
        true => Some(average(obs, &opts.candidates, &scores, chosen_index, &f)?),
        false => None,
    };
    f.selection = Some(Selection {
        rule: match opts.rule {
            SelectRule::LargestSizes => "largest-sizes",
            SelectRule::ComputeQuantile => "leave-largest-out",
            SelectRule::RollingOrigin => "rolling-origin",
        }
        .into(),
        cuts: splits.iter().map(|s| s.cut).collect(),
        chosen: chosen.name.clone(),
        decision,
        candidates: scores,
        se_floor: Some(floor),
        average,
    });
    Ok(f)
}

/// The averaged law: every scored candidate of non-negligible weight refitted on all runs
/// (the chosen one's refit is `chosen_fit`), weights normalised over those that refit.
fn average(
    obs: &[Observation],
    candidates: &[Candidate],
    scores: &[CandidateScore],
    chosen: usize,
    chosen_fit: &Fit,
) -> Result<Average> {
    let mut members = Vec::new();
    for (i, w) in relative_weights(scores).into_iter().enumerate() {
        let Some((z, w)) = w else { continue };
        if w < MIN_RELATIVE_WEIGHT {
            continue;
        }
        let fit =
            if i == chosen { Ok(chosen_fit.clone()) } else { fit(obs, &candidates[i].options) };
        // A candidate that extrapolated from the held-in runs but cannot be refitted on all
        // of them has no law to average; the others share its weight.
        if let Ok(fit) = fit {
            members.push(AverageMember { name: candidates[i].name.clone(), weight: w, z, fit });
        }
    }
    let total: f64 = members.iter().map(|m| m.weight).sum();
    // Every member kept weighs at least MIN_RELATIVE_WEIGHT: the total is positive.
    if members.is_empty() {
        return Err(Error::FitFailed("no candidate could be refitted for the average".into()));
    }
    members.iter_mut().for_each(|m| m.weight /= total);
    Ok(Average { scheme: AVERAGE_SCHEME.into(), members })
}

/// The one-standard-error decision (see the module docs): fills each score's margin, its
/// standard error and `within_noise`, and returns the chosen index, why, and the floor the
/// standard errors were held to.
fn decide(scores: &mut [CandidateScore]) -> Result<(usize, String, f64)> {
    let best = scores
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.mean_rel_err.map(|m| (i, m)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or_else(|| Error::FitFailed("no candidate could be fitted on the held-in runs".into()))?
        .0;
    let best_errors = scores[best].errors.clone();
    let best_mean = scores[best].mean_rel_err.unwrap_or(f64::NAN);
    let floor = se_floor(scores);
    for s in scores.iter_mut() {
        let Some(mean) = s.mean_rel_err else { continue };
        s.margin = Some(mean - best_mean);
        let d: Vec<f64> = s.errors.iter().zip(&best_errors).map(|(a, b)| a - b).collect();
        let se = if d.len() > 1 {
            let m = d.iter().sum::<f64>() / d.len() as f64;
            let var = d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (d.len() - 1) as f64;
            (var / d.len() as f64).sqrt()
        } else {
            0.0
        };
        s.margin_se = Some(se);
        s.within_noise = mean - best_mean <= se.max(floor);
    }
    let chosen = (0..scores.len())
        .filter(|&i| scores[i].within_noise)
        .min_by(|&a, &b| {
            let (x, y) = (&scores[a], &scores[b]);
            x.free_params.cmp(&y.free_params).then(
                x.mean_rel_err
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&y.mean_rel_err.unwrap_or(f64::INFINITY)),
            )
        })
        .unwrap_or(best);
    let pct = |v: f64| format!("{:.2}%", 100.0 * v);
    // Where the floor, not the measured standard error, set the noise a margin was judged by,
    // the sentence says so.
    let floored = |s: &CandidateScore| {
        if s.margin_se.is_some_and(|se| se < floor) {
            format!(
                " (standard error floored at {:.0}% of the best mean error, {})",
                100.0 * SE_FLOOR,
                pct(floor)
            )
        } else {
            String::new()
        }
    };
    let c = &scores[chosen];
    let decision = if chosen == best {
        let runner_up = scores
            .iter()
            .enumerate()
            .filter(|(i, s)| *i != best && s.margin.is_some())
            .min_by(|a, b| a.1.margin.unwrap().total_cmp(&b.1.margin.unwrap()));
        match runner_up {
            Some((_, r)) => format!(
                "{}: the lowest mean held-out error ({}); the next, {}, is worse by {} ± {} \
                 (one standard error){}{}",
                c.name,
                pct(best_mean),
                r.name,
                pct(r.margin.unwrap()),
                pct(r.margin_se.unwrap_or(0.0)),
                floored(r),
                match (r.within_noise, r.free_params > c.free_params) {
                    (true, true) => ", within the noise but with more free parameters",
                    // An `-eprior` form with E bounded has as many as the free one.
                    (true, false) => ", within the noise with as many free parameters",
                    _ => "",
                }
            ),
            None => format!("{}: the only candidate scored ({})", c.name, pct(best_mean)),
        }
    } else {
        format!(
            "{}: within one standard error of the best, {} ({} worse ± {}{}), with {} free \
             parameters instead of {}",
            c.name,
            scores[best].name,
            pct(c.margin.unwrap_or(0.0)),
            pct(c.margin_se.unwrap_or(0.0)),
            floored(c),
            c.free_params,
            scores[best].free_params
        )
    };
    Ok((chosen, decision, floor))
}

pub(crate) struct Split {
    pub(crate) cut: f64,
    pub(crate) train: Vec<Observation>,
    pub(crate) test: Vec<Observation>,
}

/// Up to `max_splits` splits (selection: two), each holding out the largest model sizes: the
/// k-th the fewest largest sizes that hold at least k·10% of the runs and at least k sizes
/// (the largest model alone first when sizes repeat across budgets). A split is kept while at
/// least three sizes stay to fit.
pub(crate) fn largest_sizes_splits(obs: &[Observation], max_splits: usize) -> Result<Vec<Split>> {
    let mut sizes: Vec<f64> = obs.iter().map(|o| o.n).collect();
    sizes.sort_by(|a, b| b.total_cmp(a));
    sizes.dedup();
    let mut out: Vec<Split> = Vec::new();
    for k in 1..=max_splits {
        // The k-th split's cut: the smallest size held out.
        let mut held = 0;
        let mut cut = None;
        for (i, &n) in sizes.iter().enumerate() {
            held += obs.iter().filter(|o| o.n == n).count();
            if i + 1 >= k && held as f64 >= 0.1 * k as f64 * obs.len() as f64 {
                cut = Some((i, n));
                break;
            }
        }
        let Some((i, cut)) = cut else { break };
        if sizes.len() - (i + 1) < 3 || out.iter().any(|s| s.test.len() == held) {
            break;
        }
        let (test, train): (Vec<_>, Vec<_>) = obs.iter().cloned().partition(|o| o.n >= cut);
        out.push(Split { cut, train, test });
    }
    if out.is_empty() {
        return Err(Error::InvalidData(format!(
            "{} distinct model sizes: holding out the largest must leave at least 3 to fit",
            sizes.len()
        )));
    }
    Ok(out)
}

/// Holds out runs above the compute quantile, and every run of the largest model.
fn largest_out_split(obs: &[Observation], q: f64) -> Result<Split> {
    let mut cs: Vec<f64> = obs.iter().map(Observation::compute).collect();
    cs.sort_by(f64::total_cmp);
    let cut = crate::bootstrap::quantile_sorted(&cs, q);
    let n_max = obs.iter().map(|o| o.n).fold(f64::NEG_INFINITY, f64::max);
    let (test, train): (Vec<_>, Vec<_>) =
        obs.iter().cloned().partition(|o| o.compute() > cut || o.n == n_max);
    if train.is_empty() || test.is_empty() {
        return Err(Error::InvalidData(format!(
            "holding out compute above {cut:.3e} leaves {} runs to fit and {} to score",
            train.len(),
            test.len()
        )));
    }
    Ok(Split { cut, train, test })
}

/// One split per decade cut with at least 8 runs below it spanning a decade of compute (an
/// origin to extrapolate from), and at least one run in the next decade.
fn rolling_splits(obs: &[Observation]) -> Result<Vec<Split>> {
    let lo = obs.iter().map(|o| o.compute().log10()).fold(f64::INFINITY, f64::min);
    let hi = obs.iter().map(|o| o.compute().log10()).fold(f64::NEG_INFINITY, f64::max);
    let mut out = Vec::new();
    for k in (lo.ceil() as i32)..=(hi.floor() as i32) {
        let cut = 10f64.powi(k);
        // A run at exactly a decade (C = 6ND rounded) belongs below it.
        let (below, next) = (cut * (1.0 + 1e-9), 10.0 * cut * (1.0 + 1e-9));
        let train: Vec<_> = obs.iter().filter(|o| o.compute() <= below).cloned().collect();
        let test: Vec<_> =
            obs.iter().filter(|o| o.compute() > below && o.compute() <= next).cloned().collect();
        let span = train.iter().map(Observation::compute).fold(0.0, f64::max)
            / train.iter().map(Observation::compute).fold(f64::INFINITY, f64::min);
        if train.len() >= 8 && span >= 9.99 && !test.is_empty() {
            out.push(Split { cut, train, test });
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidData(
            "rolling origin needs a decade cut with at least 8 runs spanning a decade below it and runs above"
                .into(),
        ));
    }
    Ok(out)
}

/// Fits `c` on each split's held-in runs and scores it on the held-out ones; with `calibrate`
/// each refit's interval is first calibrated on its own held-in rows.
fn score(c: &Candidate, splits: &[Split], calibrate: bool) -> CandidateScore {
    let mut s = CandidateScore {
        name: c.name.clone(),
        mean_rel_err: None,
        worst_rel_err: None,
        n_heldout: 0,
        inside_interval: None,
        inside_in_sample_interval: None,
        calibration_error: None,
        error: None,
        free_params: c.options.layout().map(|l| l.n_free()).unwrap_or(0),
        margin: None,
        margin_se: None,
        within_noise: false,
        errors: Vec::new(),
    };
    let (mut worst, mut inside, mut inside_in_sample, mut with_iv) = (0.0f64, 0, 0, false);
    for sp in splits {
        let mut f = match fit(&sp.train, &c.options) {
            Ok(f) => f,
            Err(e) => {
                s.error = Some(e.to_string());
                return s;
            }
        };
        if calibrate {
            match crate::calibrate(&f, &sp.train) {
                Ok(cal) => f.calibration = Some(cal),
                Err(e) => s.calibration_error = Some(e.to_string()),
            }
        }
        let held = crate::evaluate_holdout(&f, &sp.test);
        let errs: Vec<f64> = held.iter().map(|h| h.rel_err.abs()).collect();
        worst = errs.iter().copied().fold(worst, f64::max);
        s.errors.extend(&errs);
        s.n_heldout += held.len();
        let inside_of =
            |iv: Option<[f64; 2]>, y: f64| iv.is_some_and(|[lo, hi]| lo <= y && y <= hi);
        for h in &held {
            with_iv |= h.interval.is_some();
            inside += usize::from(inside_of(h.interval, h.actual));
            // Uncalibrated, the reported interval is the in-sample one.
            let in_sample = if f.calibration.is_some() { h.in_sample_interval } else { h.interval };
            inside_in_sample += usize::from(inside_of(in_sample, h.actual));
        }
    }
    // Pooled over every held-out run of every split: the unit the paired comparison uses.
    s.mean_rel_err = Some(s.errors.iter().sum::<f64>() / s.errors.len().max(1) as f64);
    s.worst_rel_err = Some(worst);
    // A count mixing calibrated and in-sample intervals would be neither: none when a split's
    // refit could not be calibrated.
    s.inside_interval = (with_iv && s.calibration_error.is_none()).then_some(inside);
    s.inside_in_sample_interval = (with_iv && calibrate).then_some(inside_in_sample);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(name: &str, free_params: usize, errors: Vec<f64>) -> CandidateScore {
        CandidateScore {
            name: name.into(),
            mean_rel_err: Some(errors.iter().sum::<f64>() / errors.len() as f64),
            worst_rel_err: errors.iter().copied().reduce(f64::max),
            n_heldout: errors.len(),
            inside_interval: None,
            inside_in_sample_interval: None,
            calibration_error: None,
            error: None,
            free_params,
            margin: None,
            margin_se: None,
            within_noise: false,
            errors,
        }
    }

    #[test]
    fn a_hair_of_mean_error_does_not_decide() {
        // Two candidates reaching nearly the same law: the simpler one's error is the other's
        // plus 1e-7 on every run, so the paired differences are constant and their standard
        // error is 0 (to rounding). Measured against 0 the margin of 1e-7 is "distinguishably
        // worse" and the five-parameter form would win; against the floor, 1% of the best mean
        // error (0.01 × 0.0125 = 1.25e-4), it is noise and the four-parameter form wins.
        let base = vec![0.01, 0.02, 0.005, 0.015];
        let simpler = base.iter().map(|e| e + 1e-7).collect();
        let mut scores = vec![scored("free", 5, base), scored("tied", 4, simpler)];
        let (chosen, decision, floor) = decide(&mut scores).unwrap();
        assert!((floor - 1.25e-4).abs() < 1e-12, "{floor}");
        assert!(scores[1].margin_se.unwrap() < 1e-12, "{:?}", scores[1].margin_se);
        assert!(scores[1].within_noise);
        assert_eq!(chosen, 1, "{decision}");
        assert!(decision.contains("floored at 1% of the best mean error, 0.01%"), "{decision}");
    }
}
