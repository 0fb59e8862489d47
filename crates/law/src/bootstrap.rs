//! Nonparametric bootstrap of a fit (Efron 1979): resample the rows with replacement, refit,
//! and read percentile intervals off the refits.
//!
//! Each refit starts from the point estimate (a warm start: the resampled optimum is near it)
//! plus a thinned copy of the form's grid (`bootstrap_starts` evenly spaced starts), so a
//! resample whose optimum moved to another basin can still find it. Resamples run in parallel;
//! each has its own ChaCha8 stream derived from the seed and its index, so results do not
//! depend on the number of threads.

use crate::fit::{FitStage, Progress, best_of, derived_of, points_of, starts_of};
use crate::{BootstrapSamples, Error, Fit, Observation, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Refits `fit`'s form on `resamples` row resamples of `obs` (the rows it was fitted on).
pub fn bootstrap(
    fit: &Fit,
    obs: &[Observation],
    resamples: usize,
    seed: u64,
) -> Result<BootstrapSamples> {
    bootstrap_with_progress(fit, obs, resamples, seed, &|_, _, _| {})
}

/// [`bootstrap`], telling `progress` how many resamples are refitted.
pub fn bootstrap_with_progress(
    fit: &Fit,
    obs: &[Observation],
    resamples: usize,
    seed: u64,
    progress: Progress,
) -> Result<BootstrapSamples> {
    let opts = &fit.options;
    if resamples == 0 {
        return Err(Error::InvalidOption("bootstrap needs at least 1 resample".into()));
    }
    let points = points_of(opts.form, obs)?;
    let layout = opts.layout()?;
    let mut grid = starts_of(
        &crate::FitOptions { starts: Vec::new(), grid_stride: 1, ..opts.clone() },
        &points,
        &layout,
    )?;
    let stride = (grid.len() / opts.bootstrap_starts.max(1)).max(1);
    grid = grid.into_iter().step_by(stride).take(opts.bootstrap_starts).collect();
    let mut starts = vec![layout.project(&fit.raw_of(&fit.param_vector()))];
    starts.extend(grid);
    let n = points.len();
    let done = AtomicUsize::new(0);
    let refits: Vec<Option<Vec<f64>>> = (0..resamples)
        .into_par_iter()
        .map(|r| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(r as u64);
            let sample: Vec<_> = (0..n).map(|_| points[rng.gen_range(0..n)]).collect();
            let refit = best_of(opts, &sample, &layout, &starts, false, &|| {});
            let k = done.fetch_add(1, Ordering::Relaxed) + 1;
            progress(FitStage::Bootstrap, k, resamples);
            let (free, _) = refit.ok()?;
            let mut raw = vec![0.0; opts.form.params().len()];
            layout.expand(&free, &mut raw);
            opts.form.canonicalize(&mut raw, &layout);
            Some(
                opts.form
                    .params()
                    .iter()
                    .zip(&raw)
                    .map(|(s, &v)| s.transform.to_natural(v))
                    .collect(),
            )
        })
        .collect();
    let failed = refits.iter().filter(|r| r.is_none()).count();
    let samples: Vec<Vec<f64>> = refits.into_iter().flatten().collect();
    Ok(BootstrapSamples { resamples, seed, failed, samples })
}

/// Runs the bootstrap the fit's options ask for and fills `fit.bootstrap` and its intervals.
pub(crate) fn attach(fit: &mut Fit, obs: &[Observation], progress: Progress) -> Result<()> {
    let b = bootstrap_with_progress(fit, obs, fit.options.bootstrap, fit.options.seed, progress)?;
    fit.bootstrap = Some(b);
    fit.intervals = intervals_of(fit);
    Ok(())
}

/// Percentile 95% intervals of every free parameter and derived quantity over a fit's
/// bootstrap samples (empty without samples).
pub fn intervals_of(fit: &Fit) -> BTreeMap<String, [f64; 2]> {
    let mut out = BTreeMap::new();
    let Some(b) = &fit.bootstrap else { return out };
    for (j, name) in fit.param_order.iter().enumerate() {
        if fit.fixed.contains(name) {
            continue;
        }
        let v: Vec<f64> = b.samples.iter().map(|s| s[j]).collect();
        if let Some(iv) = percentile_interval(&v, 0.95) {
            out.insert(name.clone(), iv);
        }
    }
    let derived: Vec<BTreeMap<String, f64>> = b
        .samples
        .iter()
        .map(|s| {
            derived_of(fit.form, &fit.param_order.iter().cloned().zip(s.iter().copied()).collect())
        })
        .collect();
    for name in fit.derived.keys() {
        let v: Vec<f64> = derived.iter().filter_map(|d| d.get(name).copied()).collect();
        if let Some(iv) = percentile_interval(&v, 0.95) {
            out.insert(name.clone(), iv);
        }
    }
    out
}

/// The central `level` percentile interval of `values` (linear interpolation between order
/// statistics, numpy's default); non-finite values are dropped; `None` when none are left.
pub fn percentile_interval(values: &[f64], level: f64) -> Option<[f64; 2]> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some([quantile_sorted(&v, tail), quantile_sorted(&v, 1.0 - tail)])
}

/// Quantile `q` ∈ [0, 1] of sorted values, interpolating linearly.
pub(crate) fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    if i + 1 < v.len() { v[i] * (1.0 - frac) + v[i + 1] * frac } else { v[i] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        // numpy.percentile(range(11), [2.5, 97.5]) = [0.25, 9.75]
        let v: Vec<f64> = (0..=10).map(f64::from).collect();
        let [lo, hi] = percentile_interval(&v, 0.95).unwrap();
        assert!((lo - 0.25).abs() < 1e-12 && (hi - 9.75).abs() < 1e-12, "{lo} {hi}");
        assert_eq!(percentile_interval(&[f64::NAN], 0.95), None);
    }
}
