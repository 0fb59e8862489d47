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

use super::{
    Form, LawForm, N_FEATURES, ParamSpec, Point, Transform, huber_sum_per_point, p, product,
};
use crate::{Error, Observation, Result};
use serde::{Deserialize, Serialize};

/// What the sigmoid form uses as its predictor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigmoidAxis {
    /// ln C, C in FLOPs.
    Compute,
    /// The loss column.
    Loss,
}

pub(super) const COMPUTE: Form = Form(&Sigmoid(SigmoidAxis::Compute));
pub(super) const LOSS: Form = Form(&Sigmoid(SigmoidAxis::Loss));

/// The sigmoid against `axis`.
pub(super) const fn form(axis: SigmoidAxis) -> Form {
    match axis {
        SigmoidAxis::Compute => COMPUTE,
        SigmoidAxis::Loss => LOSS,
    }
}

struct Sigmoid(SigmoidAxis);

impl LawForm for Sigmoid {
    fn name(&self) -> &'static str {
        match self.0 {
            SigmoidAxis::Compute => "sigmoid",
            SigmoidAxis::Loss => "sigmoid-loss",
        }
    }
    fn formula(&self) -> &'static str {
        match self.0 {
            SigmoidAxis::Compute => "metric = floor + (ceiling - floor) sigmoid(k (ln C - x0))",
            SigmoidAxis::Loss => "metric = floor + (ceiling - floor) sigmoid(k (loss - x0))",
        }
    }
    fn params(&self) -> &'static [ParamSpec] {
        use Transform::Identity;
        const P: [ParamSpec; 4] =
            [p("floor", Identity), p("ceiling", Identity), p("k", Identity), p("x0", Identity)];
        &P
    }
    fn point(&self, o: &Observation) -> Result<Point> {
        let x = match self.0 {
            SigmoidAxis::Compute => o.compute().ln(),
            SigmoidAxis::Loss => o.loss,
        };
        let target = o.metric.ok_or_else(|| {
            Error::InvalidData(
                "the sigmoid form needs a `metric` column (e.g. accuracy) on every row".into(),
            )
        })?;
        Ok(Point { x: [x, 0.0, 0.0, 0.0, 0.0, 0.0], target })
    }
    fn eval(&self, raw: &[f64], x: &[f64; N_FEATURES], grad: Option<&mut [f64]>) -> f64 {
        eval(raw, x, grad)
    }
    fn grid(&self, points: &[Point]) -> Vec<Vec<f64>> {
        grid(points)
    }
    fn huber_sum(&self, raw: &[f64], points: &[Point], delta: f64, g_raw: &mut [f64]) -> f64 {
        huber_sum_per_point::<4>(raw, points, delta, g_raw, eval)
    }
    fn predicts_loss(&self) -> bool {
        false
    }
    /// The sigmoid is unchanged by swapping floor and ceiling and negating k, so the fit
    /// reports floor ≤ ceiling (when both are free).
    fn canonicalize(&self, raw: &mut [f64], is_free: &dyn Fn(usize) -> bool) {
        if is_free(0) && is_free(1) && raw[0] > raw[1] {
            raw.swap(0, 1);
            raw[2] = -raw[2];
        }
    }
}

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
