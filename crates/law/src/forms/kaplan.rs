//! Kaplan et al.'s single-variable power laws (Kaplan et al. 2020, "Scaling Laws for Neural
//! Language Models", eqs. 1.1–1.3; their fits: α_N = 0.076, N_c = 8.8e13 parameters,
//! α_D = 0.095, D_c = 5.4e13 tokens, α_C = 0.050, C_c = 3.1e8 PF-days ≈ 2.7e28 FLOPs):
//!
//! L(X) = (X_c / X)^α_X            with X one of N (parameters), D (tokens), C (FLOPs)
//! L(X) = E + (X_c / X)^α_X        with `--irreducible`
//!
//! Fitted in log space: ln L = α (ln X_c − ln X), or LSE(α (ln X_c − ln X), e) with e = ln E.
//! Raw vector: [α, ln X_c] or [α, ln X_c, e].

use super::{
    Form, LawForm, N_FEATURES, ParamSpec, Point, Transform, huber_sum_per_point, log_sum_exp, p,
    product,
};
use crate::{Observation, Result};
use serde::{Deserialize, Serialize};

/// Which variable a single-variable Kaplan law is a power of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KaplanVar {
    /// Parameters N.
    N,
    /// Tokens D.
    D,
    /// FLOPs C.
    C,
}

pub(super) const N: Form = form(KaplanVar::N, false);
pub(super) const D: Form = form(KaplanVar::D, false);
pub(super) const C: Form = form(KaplanVar::C, false);
pub(super) const N_E: Form = form(KaplanVar::N, true);
pub(super) const D_E: Form = form(KaplanVar::D, true);
pub(super) const C_E: Form = form(KaplanVar::C, true);

/// The law in `var`, with E when `irreducible`.
pub(super) const fn form(var: KaplanVar, irreducible: bool) -> Form {
    match (var, irreducible) {
        (KaplanVar::N, false) => Form(&Kaplan { var: KaplanVar::N, irreducible: false }),
        (KaplanVar::D, false) => Form(&Kaplan { var: KaplanVar::D, irreducible: false }),
        (KaplanVar::C, false) => Form(&Kaplan { var: KaplanVar::C, irreducible: false }),
        (KaplanVar::N, true) => Form(&Kaplan { var: KaplanVar::N, irreducible: true }),
        (KaplanVar::D, true) => Form(&Kaplan { var: KaplanVar::D, irreducible: true }),
        (KaplanVar::C, true) => Form(&Kaplan { var: KaplanVar::C, irreducible: true }),
    }
}

/// L = (X_c/X)^α_X (+ E): six forms, one per variable with and without E.
struct Kaplan {
    var: KaplanVar,
    irreducible: bool,
}

impl LawForm for Kaplan {
    fn name(&self) -> &'static str {
        match (self.var, self.irreducible) {
            (KaplanVar::N, false) => "kaplan-n",
            (KaplanVar::D, false) => "kaplan-d",
            (KaplanVar::C, false) => "kaplan-c",
            (KaplanVar::N, true) => "kaplan-n+E",
            (KaplanVar::D, true) => "kaplan-d+E",
            (KaplanVar::C, true) => "kaplan-c+E",
        }
    }
    fn formula(&self) -> &'static str {
        match (self.var, self.irreducible) {
            (KaplanVar::N, false) => "L = (N_c/N)^alpha_N (Kaplan et al. 2020, eq. 1.1)",
            (KaplanVar::D, false) => "L = (D_c/D)^alpha_D (Kaplan et al. 2020, eq. 1.2)",
            (KaplanVar::C, false) => "L = (C_c/C)^alpha_C (Kaplan et al. 2020, eq. 1.3)",
            (KaplanVar::N, true) => "L = E + (N_c/N)^alpha_N",
            (KaplanVar::D, true) => "L = E + (D_c/D)^alpha_D",
            (KaplanVar::C, true) => "L = E + (C_c/C)^alpha_C",
        }
    }
    fn params(&self) -> &'static [ParamSpec] {
        use Transform::{Identity, Log};
        const KN: [ParamSpec; 3] = [p("alpha_N", Identity), p("N_c", Log), p("E", Log)];
        const KD: [ParamSpec; 3] = [p("alpha_D", Identity), p("D_c", Log), p("E", Log)];
        const KC: [ParamSpec; 3] = [p("alpha_C", Identity), p("C_c", Log), p("E", Log)];
        let all = match self.var {
            KaplanVar::N => &KN,
            KaplanVar::D => &KD,
            KaplanVar::C => &KC,
        };
        if self.irreducible { all } else { &all[..2] }
    }
    fn point(&self, o: &Observation) -> Result<Point> {
        let x = match self.var {
            KaplanVar::N => o.n.ln(),
            KaplanVar::D => o.d.ln(),
            KaplanVar::C => o.compute().ln(),
        };
        Ok(Point::log_loss([x, 0.0, 0.0, 0.0, 0.0, 0.0], o))
    }
    fn eval(&self, raw: &[f64], x: &[f64; N_FEATURES], grad: Option<&mut [f64]>) -> f64 {
        eval(raw, x, self.irreducible, grad)
    }
    fn grid(&self, points: &[Point]) -> Vec<Vec<f64>> {
        grid(points, self.irreducible)
    }
    fn huber_sum(&self, raw: &[f64], points: &[Point], delta: f64, g_raw: &mut [f64]) -> f64 {
        if self.irreducible {
            huber_sum_per_point::<3>(raw, points, delta, g_raw, |r, x, g| eval(r, x, true, g))
        } else {
            huber_sum_per_point::<2>(raw, points, delta, g_raw, |r, x, g| eval(r, x, false, g))
        }
    }
}

/// ln L and, when asked, its gradient with respect to the raw vector.
#[inline]
pub(super) fn eval(
    raw: &[f64],
    x: &[f64; N_FEATURES],
    irreducible: bool,
    grad: Option<&mut [f64]>,
) -> f64 {
    let (alpha, ln_xc) = (raw[0], raw[1]);
    let gap = ln_xc - x[0];
    let t = alpha * gap;
    if !irreducible {
        if let Some(g) = grad {
            g[0] = gap;
            g[1] = alpha;
        }
        return t;
    }
    let mut w = [0.0; 2];
    let f = log_sum_exp([t, raw[2]], &mut w);
    if let Some(g) = grad {
        g[0] = w[0] * gap;
        g[1] = w[0] * alpha;
        g[2] = w[1];
    }
    f
}

/// Starts: α over {0.05, 0.1, 0.2, 0.4, 0.8}, ln X_c from the largest ln X in the data up by
/// steps of 5 nats (X_c beyond the data, as in all of Kaplan's fits; below it when E is
/// present), e over {−1, …, 1} as in Chinchilla's grid.
pub(super) fn grid(points: &[Point], irreducible: bool) -> Vec<Vec<f64>> {
    const ALPHA: [f64; 5] = [0.05, 0.1, 0.2, 0.4, 0.8];
    const E: [f64; 5] = [-1.0, -0.5, 0.0, 0.5, 1.0];
    let top = points.iter().map(|p| p.x[0]).fold(f64::NEG_INFINITY, f64::max);
    let top = if top.is_finite() { top.round() } else { 20.0 };
    let xc: Vec<f64> = (-2..=8).map(|k| top + 5.0 * k as f64).collect();
    if irreducible { product(&[&ALPHA, &xc, &E]) } else { product(&[&ALPHA, &xc]) }
}
