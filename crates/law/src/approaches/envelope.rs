//! Approach 1 (Hoffmann et al. 2022, section 3.1): the envelope of training curves.
//!
//! Each training-curve row is a point (C = 6·N·tokens-so-far, loss) of its run. On a grid of
//! FLOP counts log-evenly spaced over the data, take the lowest loss any run reaches at that
//! count (linear interpolation in ln C within each run's curve); that run's N is the
//! compute-optimal N at that C and D = C/(6N). Power laws N_opt ∝ C^a, D_opt ∝ C^b are then
//! fitted to the envelope. Hoffmann et al. used 1,500 FLOP values; the default here is 250.
//! Envelope points won by the smallest or the largest model are left out of the power-law
//! fit: there the true optimum may lie beyond the sizes trained, and keeping them flattens
//! the slope (on a synthetic sweep of 25 sizes, from 0.45 to 0.39).
//!
//! Intervals: a bootstrap over runs (a run's whole curve is one unit, as a run is one unit of
//! the design) redraws the runs with replacement, rebuilds the envelope and refits the power
//! laws; the exponents' 2.5th and 97.5th percentiles are the 95% interval. A redraw whose
//! envelope has fewer than two inner points gives no slope and is skipped.

use super::{PowerLaw, fit_power_law};
use crate::{Error, Observation, Result, percentile_interval};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One run: N and its curve of (ln C, loss), sorted by ln C.
type Curve = (f64, Vec<(f64, f64)>);
/// Runs by id.
type Curves = BTreeMap<String, Curve>;

/// One point of the envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopePoint {
    /// FLOPs.
    pub compute: f64,
    /// The lowest loss reached at that compute.
    pub loss: f64,
    /// The parameters of the run that reached it.
    pub n: f64,
    /// Tokens at that compute, C / (6N).
    pub d: f64,
    /// The run's id.
    pub run: String,
}

/// The envelope and the power laws fitted to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Envelope points, by increasing compute (including those won by the smallest or largest
    /// model, which the power laws leave out).
    pub points: Vec<EnvelopePoint>,
    /// N_opt = k · C^a.
    pub n_opt: PowerLaw,
    /// D_opt = k · C^b.
    pub d_opt: PowerLaw,
}

/// Approach 1 on training-curve rows (`run` groups rows; `tokens`, else `D`, is tokens so far),
/// with `bootstrap` redraws of the runs (0: no intervals) seeded by `seed`.
pub fn envelope(
    obs: &[Observation],
    grid_points: usize,
    bootstrap: usize,
    seed: u64,
) -> Result<Envelope> {
    if grid_points < 2 {
        return Err(Error::InvalidOption("the envelope needs at least 2 FLOP grid points".into()));
    }
    let runs = curves(obs)?;
    let mut env = envelope_of(&runs, grid_points)?;
    if bootstrap > 0 {
        let all: Vec<(&String, &Curve)> = runs.iter().collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..bootstrap {
            // A run drawn twice adds nothing to a lower envelope: keep one copy.
            let drawn: Curves = (0..all.len())
                .map(|_| all[rng.gen_range(0..all.len())])
                .map(|(id, run)| (id.clone(), run.clone()))
                .collect();
            if let Ok(e) = envelope_of(&drawn, grid_points) {
                a.push(e.n_opt.exponent);
                b.push(e.d_opt.exponent);
            }
        }
        env.n_opt.exponent_interval = percentile_interval(&a, 0.95);
        env.d_opt.exponent_interval = percentile_interval(&b, 0.95);
    }
    Ok(env)
}

/// The envelope's points alone (no power law, so two runs already give a frontier): the
/// lowest loss any run reaches at each of `grid_points` FLOP counts.
pub fn envelope_points(obs: &[Observation], grid_points: usize) -> Result<Vec<EnvelopePoint>> {
    if grid_points < 2 {
        return Err(Error::InvalidOption("the envelope needs at least 2 FLOP grid points".into()));
    }
    Ok(points_of(&curves(obs)?, grid_points))
}

/// Groups rows into runs' curves.
fn curves(obs: &[Observation]) -> Result<Curves> {
    let mut runs = Curves::new();
    for (i, o) in obs.iter().enumerate() {
        let id = o.run.clone().unwrap_or_else(|| format!("row{}", i + 1));
        let tokens = o.tokens.unwrap_or(o.d);
        let entry = runs.entry(id.clone()).or_insert((o.n, Vec::new()));
        if entry.0 != o.n {
            return Err(Error::InvalidData(format!(
                "run `{id}` has rows with different N ({} and {})",
                entry.0, o.n
            )));
        }
        entry.1.push(((6.0 * o.n * tokens).ln(), o.loss));
    }
    for (_, curve) in runs.values_mut() {
        curve.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(runs)
}

/// The envelope of `runs` on `grid_points` FLOP values and its power laws.
fn envelope_of(runs: &Curves, grid_points: usize) -> Result<Envelope> {
    let points = points_of(runs, grid_points);
    let n_min = runs.values().map(|r| r.0).fold(f64::INFINITY, f64::min);
    let n_max = runs.values().map(|r| r.0).fold(f64::NEG_INFINITY, f64::max);
    let inner: Vec<&EnvelopePoint> = points.iter().filter(|p| p.n > n_min && p.n < n_max).collect();
    let cs: Vec<f64> = inner.iter().map(|p| p.compute).collect();
    let n_opt = fit_power_law(&cs, &inner.iter().map(|p| p.n).collect::<Vec<_>>())?;
    let d_opt = fit_power_law(&cs, &inner.iter().map(|p| p.d).collect::<Vec<_>>())?;
    Ok(Envelope { points, n_opt, d_opt })
}

/// The lowest loss of any run at each of `grid_points` log-even FLOP counts over the runs.
fn points_of(runs: &Curves, grid_points: usize) -> Vec<EnvelopePoint> {
    let lo = runs.values().map(|r| r.1[0].0).fold(f64::INFINITY, f64::min);
    let hi = runs.values().map(|r| r.1[r.1.len() - 1].0).fold(f64::NEG_INFINITY, f64::max);
    let mut points = Vec::new();
    for g in 0..grid_points {
        let x = lo + (hi - lo) * g as f64 / (grid_points - 1) as f64;
        let best = runs
            .iter()
            .filter_map(|(id, (n, curve))| interpolate(curve, x).map(|l| (l, *n, id)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((loss, n, id)) = best {
            let c = x.exp();
            points.push(EnvelopePoint { compute: c, loss, n, d: c / (6.0 * n), run: id.clone() });
        }
    }
    points
}

/// Loss of a curve (sorted (ln C, loss) pairs) at ln C = x, if x lies within it.
fn interpolate(curve: &[(f64, f64)], x: f64) -> Option<f64> {
    let (first, last) = (curve.first()?, curve.last()?);
    if x < first.0 || x > last.0 {
        return None;
    }
    let i = curve.partition_point(|p| p.0 < x);
    if i == 0 {
        return Some(first.1);
    }
    let (a, b) = (curve[i - 1], curve[i.min(curve.len() - 1)]);
    if b.0 == a.0 {
        return Some(a.1.min(b.1));
    }
    Some(a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0))
}
