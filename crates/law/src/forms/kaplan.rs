//! Kaplan et al.'s single-variable power laws (Kaplan et al. 2020, "Scaling Laws for Neural
//! Language Models", eqs. 1.1–1.3; their fits: α_N = 0.076, N_c = 8.8e13 parameters,
//! α_D = 0.095, D_c = 5.4e13 tokens, α_C = 0.050, C_c = 3.1e8 PF-days ≈ 2.7e28 FLOPs):
//!
//! L(X) = (X_c / X)^α_X            with X one of N (parameters), D (tokens), C (FLOPs)
//! L(X) = E + (X_c / X)^α_X        with `--irreducible`
//!
//! Fitted in log space: ln L = α (ln X_c − ln X), or LSE(α (ln X_c − ln X), e) with e = ln E.
//! Raw vector: [α, ln X_c] or [α, ln X_c, e].

use super::{N_FEATURES, Point, log_sum_exp, product};

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
