//! Kaplan et al.'s joint law in parameters and data (Kaplan et al. 2020, eq. 1.5; their fit,
//! table 2: α_N = 0.076, α_D = 0.103, N_c = 6.4e13, D_c = 1.8e13):
//!
//! L(N, D) = [ (N_c / N)^(α_N / α_D) + D_c / D ]^α_D
//!
//! N in parameters, D in tokens. Fitted in log space:
//! ln L = α_D · LSE((α_N/α_D)(ln N_c − ln N), ln D_c − ln D).
//! Raw vector: [α_N, α_D, ln N_c, ln D_c].

use super::{N_FEATURES, log_sum_exp, product};

/// ln L and, when asked, its gradient with respect to [α_N, α_D, ln N_c, ln D_c].
#[inline]
pub(super) fn eval(raw: &[f64], x: &[f64; N_FEATURES], grad: Option<&mut [f64]>) -> f64 {
    let (a_n, a_d, ln_nc, ln_dc) = (raw[0], raw[1], raw[2], raw[3]);
    let r = a_n / a_d;
    let gap_n = ln_nc - x[0];
    let mut w = [0.0; 2];
    let s = log_sum_exp([r * gap_n, ln_dc - x[1]], &mut w);
    if let Some(g) = grad {
        // ∂/∂α_N: α_D · w0 · gap_n / α_D; ∂/∂α_D: S + α_D · w0 · gap_n · (−α_N/α_D²).
        g[0] = w[0] * gap_n;
        g[1] = s - w[0] * r * gap_n;
        g[2] = w[0] * a_n;
        g[3] = a_d * w[1];
    }
    a_d * s
}

/// Starts: α_N, α_D ∈ {0.05, 0.1, 0.2, 0.4}, ln N_c, ln D_c ∈ {10, 15, …, 40}
/// (Kaplan's fitted N_c, D_c sit near e^31).
pub(super) fn grid() -> Vec<Vec<f64>> {
    const A: [f64; 4] = [0.05, 0.1, 0.2, 0.4];
    const C: [f64; 7] = [10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0];
    product(&[&A, &A, &C, &C])
}
