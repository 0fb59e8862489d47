//! Chinchilla's parametric loss (Hoffmann et al. 2022, "Training Compute-Optimal Large
//! Language Models", eq. 2 and appendix D.2):
//!
//! L(N, D) = E + A / N^α + B / D^β
//!
//! N in parameters, D in tokens, L in nats per token. Fitted in log space as
//! ln L = LSE(a − α ln N, b − β ln D, e) with a = ln A, b = ln B, e = ln E, which is both
//! numerically safe (no overflow for any N, D) and the form whose Huber residual Hoffmann et al.
//! minimise. Raw vector: [e, a, b, α, β].

use super::{N_FEATURES, log_sum_exp, product};

/// ln L and, when asked, its gradient with respect to [e, a, b, α, β].
#[inline]
pub(super) fn eval(raw: &[f64], x: &[f64; N_FEATURES], grad: Option<&mut [f64]>) -> f64 {
    let (e, a, b, alpha, beta) = (raw[0], raw[1], raw[2], raw[3], raw[4]);
    let (ln_n, ln_d) = (x[0], x[1]);
    let mut w = [0.0; 3];
    let f = log_sum_exp([e, a - alpha * ln_n, b - beta * ln_d], &mut w);
    if let Some(g) = grad {
        g[0] = w[0];
        g[1] = w[1];
        g[2] = w[2];
        g[3] = -w[1] * ln_n;
        g[4] = -w[2] * ln_d;
    }
    f
}

/// Hoffmann et al.'s initialisation grid (appendix D.2), as Besiroglu et al. 2024 run it:
/// α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25}. That is
/// 5·5·5·6·6 = 4,500 starts (issue 2 quotes 3,750, which this grid does not give).
pub(super) fn grid() -> Vec<Vec<f64>> {
    const E: [f64; 5] = [-1.0, -0.5, 0.0, 0.5, 1.0];
    const AB: [f64; 6] = [0.0, 5.0, 10.0, 15.0, 20.0, 25.0];
    const EXP: [f64; 5] = [0.0, 0.5, 1.0, 1.5, 2.0];
    product(&[&E, &AB, &AB, &EXP, &EXP])
}
