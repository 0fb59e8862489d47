//! Approach 2 (Hoffmann et al. 2022, section 3.2): IsoFLOP profiles.
//!
//! Runs whose compute lies within ±`tolerance` (default 10%) of a budget form its profile
//! (budgets are found greedily from the smallest compute up; a budget's value is the geometric
//! mean of its runs' compute). For each profile, fit a parabola of loss in ln N by least
//! squares and take its vertex as N_opt(C), with D_opt = C / (6 N_opt). A profile with fewer
//! than three distinct N, a parabola opening downward, or a vertex outside the sampled N range
//! is refused with a warning naming the budget (the minimum was not bracketed, so the vertex is
//! an extrapolation). Power laws are fitted to the accepted vertices; a bootstrap that
//! resamples runs within each profile gives percentile intervals for the exponents.
//! Training-curve input is reduced to each run's last row first.

use super::{PowerLaw, fit_power_law};
use crate::{Error, Observation, Result, percentile_interval};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One IsoFLOP profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsoflopBudget {
    /// The budget: geometric mean of its runs' FLOPs.
    pub compute: f64,
    /// Runs in the profile.
    pub runs: usize,
    /// Vertex N (parameters), if accepted.
    pub n_opt: Option<f64>,
    /// C / (6 N_opt).
    pub d_opt: Option<f64>,
    /// Parabola's value at the vertex.
    pub loss_opt: Option<f64>,
    /// Why the profile was refused, if it was.
    pub refused: Option<String>,
    /// (N, loss) of the profile's runs, by increasing compute.
    #[serde(default)]
    pub points: Vec<[f64; 2]>,
    /// The least-squares parabola loss = c0 + c1·ln N + c2·(ln N)², when the profile has
    /// three distinct N (also drawn for a refused profile, to show why).
    #[serde(default)]
    pub parabola: Option<[f64; 3]>,
}

/// Approach 2's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isoflop {
    /// Every profile, accepted or refused, by increasing compute.
    pub budgets: Vec<IsoflopBudget>,
    /// N_opt = k · C^a over the accepted profiles.
    pub n_opt: PowerLaw,
    /// D_opt = k · C^b.
    pub d_opt: PowerLaw,
    /// One line per refused profile.
    pub warnings: Vec<String>,
}

/// Approach 2: profiles within ±`tolerance` of a budget, then power laws; `bootstrap`
/// resamples (0: none) with `seed`.
pub fn isoflop(
    obs: &[Observation],
    tolerance: f64,
    bootstrap: usize,
    seed: u64,
) -> Result<Isoflop> {
    let (groups, budgets) = grouped_profiles(obs, tolerance)?;
    let warnings: Vec<String> = budgets
        .iter()
        .filter_map(|b| {
            let why = b.refused.as_ref()?;
            Some(format!("budget {:.3e} FLOPs ({} runs) refused: {why}", b.compute, b.runs))
        })
        .collect();
    let (mut n_opt, mut d_opt) = power_laws(&budgets).map_err(|e| {
        Error::InvalidData(format!(
            "{e}; {} of {} budgets were refused",
            warnings.len(),
            budgets.len()
        ))
    })?;
    if bootstrap > 0 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..bootstrap {
            let resampled: Vec<IsoflopBudget> = groups
                .iter()
                .zip(&budgets)
                .map(|(g, orig)| {
                    let s: Vec<Observation> =
                        (0..g.len()).map(|_| g[rng.gen_range(0..g.len())].clone()).collect();
                    let v = vertex(&s).ok();
                    IsoflopBudget {
                        n_opt: v.map(|x| x.0),
                        d_opt: v.map(|x| orig.compute / (6.0 * x.0)),
                        refused: v.is_none().then(String::new),
                        ..orig.clone()
                    }
                })
                .collect();
            if let Ok((pn, pd)) = power_laws(&resampled) {
                a.push(pn.exponent);
                b.push(pd.exponent);
            }
        }
        n_opt.exponent_interval = percentile_interval(&a, 0.95);
        d_opt.exponent_interval = percentile_interval(&b, 0.95);
    }
    Ok(Isoflop { budgets, n_opt, d_opt, warnings })
}

/// The IsoFLOP profiles of `obs` (runs within ±`tolerance` of a budget), each with its
/// points, parabola and vertex or the reason it has none; no power law is fitted, so a sweep
/// with a single usable budget still has its profiles (the report draws them).
pub fn isoflop_profiles(obs: &[Observation], tolerance: f64) -> Result<Vec<IsoflopBudget>> {
    Ok(grouped_profiles(obs, tolerance)?.1)
}

fn grouped_profiles(
    obs: &[Observation],
    tolerance: f64,
) -> Result<(Vec<Vec<Observation>>, Vec<IsoflopBudget>)> {
    if !(tolerance > 0.0 && tolerance < 1.0) {
        return Err(Error::InvalidOption(format!(
            "budget tolerance must be in (0, 1), got {tolerance}"
        )));
    }
    let rows = final_rows(obs);
    let groups = group_by_budget(&rows, tolerance);
    let budgets = groups
        .iter()
        .map(|g| {
            let c = (g.iter().map(|o| o.compute().ln()).sum::<f64>() / g.len() as f64).exp();
            let (parabola, v) = profile(g);
            let mut b = IsoflopBudget {
                compute: c,
                runs: g.len(),
                n_opt: None,
                d_opt: None,
                loss_opt: None,
                refused: None,
                points: g.iter().map(|o| [o.n, o.loss]).collect(),
                parabola,
            };
            match v {
                Ok((n, l)) => {
                    b.n_opt = Some(n);
                    b.d_opt = Some(c / (6.0 * n));
                    b.loss_opt = Some(l);
                }
                Err(why) => b.refused = Some(why),
            }
            b
        })
        .collect();
    Ok((groups, budgets))
}

fn power_laws(budgets: &[IsoflopBudget]) -> Result<(PowerLaw, PowerLaw)> {
    let ok: Vec<&IsoflopBudget> = budgets.iter().filter(|b| b.n_opt.is_some()).collect();
    let cs: Vec<f64> = ok.iter().map(|b| b.compute).collect();
    let ns: Vec<f64> = ok.iter().map(|b| b.n_opt.unwrap()).collect();
    let ds: Vec<f64> = ok.iter().map(|b| b.d_opt.unwrap()).collect();
    Ok((fit_power_law(&cs, &ns)?, fit_power_law(&cs, &ds)?))
}

/// Each run's last row (largest tokens/step) when runs have several rows; rows without a run
/// id stand alone.
fn final_rows(obs: &[Observation]) -> Vec<Observation> {
    let mut last: BTreeMap<String, &Observation> = BTreeMap::new();
    let mut out = Vec::new();
    for o in obs {
        match &o.run {
            Some(id) => {
                let key = |o: &Observation| (o.tokens.unwrap_or(o.d), o.step.unwrap_or(0.0));
                let e = last.entry(id.clone()).or_insert(o);
                if key(o) > key(e) {
                    *e = o;
                }
            }
            None => out.push(o.clone()),
        }
    }
    out.extend(last.into_values().cloned());
    out
}

/// Greedy grouping by compute: a group takes every run up to (1+t)/(1−t) times its smallest.
fn group_by_budget(rows: &[Observation], t: f64) -> Vec<Vec<Observation>> {
    let mut sorted = rows.to_vec();
    sorted.sort_by(|a, b| a.compute().total_cmp(&b.compute()));
    let mut groups: Vec<Vec<Observation>> = Vec::new();
    for o in sorted {
        match groups.last_mut() {
            Some(g) if o.compute() <= g[0].compute() * (1.0 + t) / (1.0 - t) => g.push(o),
            _ => groups.push(vec![o]),
        }
    }
    groups
}

/// Vertex (N, loss) of the least-squares parabola of loss in ln N, or why there is none.
fn vertex(g: &[Observation]) -> std::result::Result<(f64, f64), String> {
    profile(g).1
}

/// The least-squares parabola of loss in ln N (coefficients in ln N itself) and its vertex
/// (N, loss), or why there is none.
#[allow(clippy::type_complexity)]
fn profile(g: &[Observation]) -> (Option<[f64; 3]>, std::result::Result<(f64, f64), String>) {
    let xs: Vec<f64> = g.iter().map(|o| o.n.ln()).collect();
    let mut distinct = xs.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < 3 {
        return (None, Err(format!("{} distinct model sizes, a parabola needs 3", distinct.len())));
    }
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    // Normal equations of y = p0 + p1 u + p2 u², u = x − mean (centred for conditioning).
    let mut s = [0.0; 5];
    let mut t = [0.0; 3];
    for (x, o) in xs.iter().zip(g) {
        let u = x - m;
        let mut pw = 1.0;
        for (k, sk) in s.iter_mut().enumerate() {
            *sk += pw;
            if k < 3 {
                t[k] += pw * o.loss;
            }
            pw *= u;
        }
    }
    let a = [[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]];
    let Some(p) = solve3(a, t) else {
        return (None, Err("the parabola's normal equations are singular".into()));
    };
    // y = p0 + p1·(x − m) + p2·(x − m)², expanded in x = ln N.
    let parabola = Some([p[0] - p[1] * m + p[2] * m * m, p[1] - 2.0 * p[2] * m, p[2]]);
    if p[2] <= 0.0 {
        return (
            parabola,
            Err("loss is not convex in ln N here (the parabola opens downward)".into()),
        );
    }
    let u = -p[1] / (2.0 * p[2]);
    let x = u + m;
    let (lo, hi) = (distinct[0], distinct[distinct.len() - 1]);
    if x < lo || x > hi {
        return (
            parabola,
            Err(format!(
                "the vertex N = {:.3e} lies outside the sampled N range [{:.3e}, {:.3e}]",
                x.exp(),
                lo.exp(),
                hi.exp()
            )),
        );
    }
    (parabola, Ok((x.exp(), p[0] + p[1] * u + p[2] * u * u)))
}

/// Solves a 3×3 system by Cramer's rule.
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    if d.abs() < 1e-300 || !d.is_finite() {
        return None;
    }
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut m = a;
        for r in 0..3 {
            m[r][k] = b[r];
        }
        *o = det(m) / d;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_parabola_is_in_ln_n_and_its_vertex_is_bracketed() {
        // loss = 3 − 2x + 0.1x² in x = ln N, x = 8..12: exact, vertex at x = 10.
        let at = |xs: std::ops::Range<i32>| -> Vec<Observation> {
            xs.map(|x| {
                let x = f64::from(x);
                Observation::new(x.exp(), 1e12 / (6.0 * x.exp()), 3.0 - 2.0 * x + 0.1 * x * x)
            })
            .collect()
        };
        let g = at(8..13);
        let (p, v) = profile(&g);
        let [c0, c1, c2] = p.unwrap();
        assert!((c0 - 3.0).abs() < 1e-8 && (c1 + 2.0).abs() < 1e-9 && (c2 - 0.1).abs() < 1e-10);
        let (n, l) = v.unwrap();
        assert!((n.ln() - 10.0).abs() < 1e-9 && (l + 7.0).abs() < 1e-9, "{n} {l}");
        // Two sizes: no parabola; a vertex beyond the sizes: the parabola, refused.
        assert!(profile(&g[..2]).0.is_none());
        let (p, v) = profile(&at(11..14));
        assert!(p.is_some() && v.unwrap_err().contains("outside the sampled N range"));
    }
}
