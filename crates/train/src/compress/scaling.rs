//! How the cost of a compression changes with model size, across the runs of a sweep.
//!
//! - [`fit_power_law`]: `Δ(N) = a·N^(−b)`, the loss a method adds as a power of the parameter
//!   count, fitted by least squares on `ln Δ = ln a − b·ln N` (only runs where the method
//!   costs something, `Δ > 0`, can enter a log). The 95% interval of `b` is the OLS slope's
//!   `± t₀.₉₇₅(n − 2)·SE`. A positive `b` means bigger models lose less, the pattern Dettmers &
//!   Zettlemoyer 2023 ("The case for 4-bit precision") report for 4-bit and above.
//! - [`pareto_front`]: the k-bit view, loss against total weight bits (`bits_per_param · N`)
//!   across sizes and precisions; the front holds every point no other point beats on both.

use serde::{Deserialize, Serialize};

/// A fitted `Δ = a·N^(−b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerFit {
    /// Scale `a`.
    pub a: f64,
    /// Exponent `b` (Δ falls as `N^(−b)`).
    pub b: f64,
    /// 95% interval of `b` (None with fewer than three points).
    pub b_interval: Option<(f64, f64)>,
    /// Coefficient of determination in log space.
    pub r2: f64,
    /// Points used.
    pub points: usize,
}

/// Student's t quantile `t₀.₉₇₅(df)` for `df = 1..=30` (standard tables); 1.96 beyond.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    T.get(df.wrapping_sub(1)).copied().unwrap_or(1.96)
}

/// Fits `Δ = a·N^(−b)` to `(N, Δ)` points with `N > 0` and `Δ > 0` (others are left out);
/// None with fewer than two usable points or a single size.
pub fn fit_power_law(points: &[(f64, f64)]) -> Option<PowerFit> {
    let xy: Vec<(f64, f64)> = points
        .iter()
        .filter(|(n, d)| *n > 0.0 && *d > 0.0 && n.is_finite() && d.is_finite())
        .map(|(n, d)| (n.ln(), d.ln()))
        .collect();
    let m = xy.len();
    if m < 2 {
        return None;
    }
    let mx = xy.iter().map(|p| p.0).sum::<f64>() / m as f64;
    let my = xy.iter().map(|p| p.1).sum::<f64>() / m as f64;
    let sxx: f64 = xy.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = xy.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = xy.iter().map(|p| (p.1 - intercept - slope * p.0).powi(2)).sum();
    let syy: f64 = xy.iter().map(|p| (p.1 - my).powi(2)).sum();
    let b_interval = (m > 2).then(|| {
        let se = (sse / (m - 2) as f64 / sxx).sqrt();
        let h = t975(m - 2) * se;
        (-slope - h, -slope + h)
    });
    Some(PowerFit {
        a: intercept.exp(),
        b: -slope,
        b_interval,
        r2: if syy > 0.0 { 1.0 - sse / syy } else { 1.0 },
        points: m,
    })
}

/// Indices of the points on the lower-left front of `(size, loss)`: no other point is both no
/// larger and no worse, and strictly better in one. Sorted by size.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&i, &j| {
        points[i].0.total_cmp(&points[j].0).then(points[i].1.total_cmp(&points[j].1))
    });
    let mut best = f64::INFINITY;
    let mut out = Vec::new();
    for i in order {
        if points[i].1 < best {
            best = points[i].1;
            out.push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_exact_power_law_and_widens_with_noise() {
        let exact: Vec<(f64, f64)> =
            [1e4f64, 3e4, 1e5, 3e5, 1e6].iter().map(|&n| (n, 2.0 * n.powf(-0.4))).collect();
        let f = fit_power_law(&exact).unwrap();
        assert!((f.b - 0.4).abs() < 1e-9 && (f.a - 2.0).abs() < 1e-6 && f.r2 > 0.999_999);
        let (lo, hi) = f.b_interval.unwrap();
        assert!(hi - lo < 1e-6);
        let noisy: Vec<(f64, f64)> = exact
            .iter()
            .enumerate()
            .map(|(i, (n, d))| (*n, d * if i % 2 == 0 { 1.3 } else { 0.8 }))
            .collect();
        let g = fit_power_law(&noisy).unwrap();
        let (lo, hi) = g.b_interval.unwrap();
        assert!(lo < 0.4 && 0.4 < hi && hi - lo > 0.05, "{lo} {hi}");
        // Non-positive deltas cannot enter a log; one size gives no slope.
        assert!(fit_power_law(&[(1e4, 0.1), (1e5, -0.01)]).is_none());
        assert!(fit_power_law(&[(1e4, 0.1), (1e4, 0.2)]).is_none());
    }

    #[test]
    fn the_front_keeps_only_undominated_points() {
        let p = [(8.0, 2.0), (4.0, 2.5), (16.0, 1.9), (4.5, 3.0), (32.0, 1.95), (2.0, 2.6)];
        assert_eq!(pareto_front(&p), vec![5, 1, 0, 2]);
    }
}
