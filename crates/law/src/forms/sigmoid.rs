//! A sigmoid for downstream metrics (accuracy) against log compute or against loss, the shape
//! used to map scale to benchmark accuracy (e.g. Gadre et al. 2024, "Language models scale
//! reliably with over-training and on downstream tasks", section 3; Owen 2024, "How
//! predictable is language model benchmark performance?"):
//!
//! y = floor + (ceiling − floor) · σ(k (x − x0)),   σ(z) = 1 / (1 + e^−z)
//!
//! x is ln C (C in FLOPs) or the loss (nats per token); y is the metric as given (a fraction).
//! k < 0 when y falls as x grows (accuracy against loss). Fitted on y itself, not its log.
//! Raw vector: [floor, ceiling, k, x0].

use super::{N_FEATURES, Point, product};

/// y and, when asked, its gradient with respect to [floor, ceiling, k, x0].
#[inline]
pub(super) fn eval(raw: &[f64], x: &[f64; N_FEATURES], grad: Option<&mut [f64]>) -> f64 {
    let (lo, hi, k, x0) = (raw[0], raw[1], raw[2], raw[3]);
    let z = k * (x[0] - x0);
    // Stable logistic for either sign of z.
    let s = if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) };
    if let Some(g) = grad {
        let ds = (hi - lo) * s * (1.0 - s);
        g[0] = 1.0 - s;
        g[1] = s;
        g[2] = ds * (x[0] - x0);
        g[3] = -ds * k;
    }
    lo + (hi - lo) * s
}

/// Starts: floor ∈ {0, 0.25} (chance for 4-way multiple choice is 0.25), ceiling ∈ {0.5, 1},
/// k over both signs and three scales relative to the data's x span, x0 at five points
/// across the data's x range.
pub(super) fn grid(points: &[Point]) -> Vec<Vec<f64>> {
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.x[0]), b.max(p.x[0])));
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (0.0, 1.0) };
    let span = hi - lo;
    let ks: Vec<f64> = [-16.0, -4.0, -1.0, 1.0, 4.0, 16.0].iter().map(|k| k / span).collect();
    let x0s: Vec<f64> = (0..5).map(|i| lo + span * i as f64 / 4.0).collect();
    product(&[&[0.0, 0.25], &[0.5, 1.0], &ks, &x0s])
}
