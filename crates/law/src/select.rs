//! Choosing the form that extrapolates: leave-largest-out validation.
//!
//! A law is worth what it predicts beyond the runs it was fitted on, and on public sweeps the
//! form moves the extrapolation error far more than the number of runs does (Gadre et al.
//! 2024, "Language models scale reliably with over-training and on downstream tasks", found
//! Chinchilla's form with α = β the most predictive). So each candidate is fitted on the runs
//! at or below a compute quantile (default: the top 20% of compute is held out, and always at
//! least every run of the largest model), scored by its relative error on the held-out runs
//! (mean and worst of |predicted − actual| / actual), and the best mean wins; the winner is
//! then refitted on all runs.
//!
//! Rolling origin ([`SelectOptions::rolling`]): cut at each decade of compute with at least 8
//! runs spanning a decade below it and runs above it, fit on the runs below the cut, predict the runs of the next
//! decade, and average the cuts' mean errors. It scores how a form extrapolates from several
//! origins instead of one.

use crate::{Error, Fit, FitOptions, Form, Observation, Result, fit};
use serde::{Deserialize, Serialize};

/// One candidate: a name and the options that fit it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// `chinchilla`, `chinchilla-tied`, `kaplan-nd`, or any form name (with `-tied`).
    pub name: String,
    /// Options of its fits.
    pub options: FitOptions,
}

impl Candidate {
    /// A candidate from its name: a form name, optionally with `-tied` (α = β), fitted with
    /// `base`'s other options.
    pub fn parse(name: &str, base: &FitOptions) -> Result<Self> {
        let (form_name, tied) = match name.strip_suffix("-tied") {
            Some(f) => (f, true),
            None => (name, false),
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
        let options = FitOptions { form, tie_exponents: tied, bootstrap: 0, ..base.clone() };
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

/// How candidates are validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectOptions {
    /// The candidates.
    pub candidates: Vec<Candidate>,
    /// Runs above this quantile of compute are held out (0.8: the top 20%).
    pub quantile: f64,
    /// Score by rolling origin (decade cuts) instead of one leave-largest-out split.
    pub rolling: bool,
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
    /// Held-out runs inside the fit's 95% prediction interval (when it had one).
    pub inside_interval: Option<usize>,
    /// Why the candidate could not be scored, if it could not.
    pub error: Option<String>,
}

/// The outcome of a selection: saved in fit.json beside the chosen fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// `leave-largest-out` or `rolling-origin`.
    pub rule: String,
    /// Compute (FLOPs) above which runs were held out (leave-largest-out), or the cuts.
    pub cuts: Vec<f64>,
    /// The chosen candidate's name.
    pub chosen: String,
    /// Every candidate's score, in the order given.
    pub candidates: Vec<CandidateScore>,
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
    let splits = if opts.rolling {
        rolling_splits(obs)?
    } else {
        vec![largest_out_split(obs, opts.quantile)?]
    };
    let mut scores = Vec::new();
    for c in &opts.candidates {
        scores.push(score(c, &splits));
    }
    let best = scores
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.mean_rel_err.map(|m| (i, m)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or_else(|| Error::FitFailed("no candidate could be fitted on the held-in runs".into()))?
        .0;
    let chosen = &opts.candidates[best];
    let mut f = fit(obs, &chosen.options)?;
    f.selection = Some(Selection {
        rule: if opts.rolling { "rolling-origin" } else { "leave-largest-out" }.into(),
        cuts: splits.iter().map(|s| s.cut).collect(),
        chosen: chosen.name.clone(),
        candidates: scores,
    });
    Ok(f)
}

struct Split {
    cut: f64,
    train: Vec<Observation>,
    test: Vec<Observation>,
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

fn score(c: &Candidate, splits: &[Split]) -> CandidateScore {
    let mut s = CandidateScore {
        name: c.name.clone(),
        mean_rel_err: None,
        worst_rel_err: None,
        n_heldout: 0,
        inside_interval: None,
        error: None,
    };
    let (mut means, mut worst, mut inside, mut with_iv) = (Vec::new(), 0.0f64, 0, false);
    for sp in splits {
        let f = match fit(&sp.train, &c.options) {
            Ok(f) => f,
            Err(e) => {
                s.error = Some(e.to_string());
                return s;
            }
        };
        let held = crate::evaluate_holdout(&f, &sp.test);
        let errs: Vec<f64> = held.iter().map(|h| h.rel_err.abs()).collect();
        means.push(errs.iter().sum::<f64>() / errs.len() as f64);
        worst = errs.iter().copied().fold(worst, f64::max);
        s.n_heldout += held.len();
        for h in &held {
            if let Some([lo, hi]) = h.interval {
                with_iv = true;
                inside += usize::from(lo <= h.actual && h.actual <= hi);
            }
        }
    }
    s.mean_rel_err = Some(means.iter().sum::<f64>() / means.len() as f64);
    s.worst_rel_err = Some(worst);
    s.inside_interval = with_iv.then_some(inside);
    s
}
