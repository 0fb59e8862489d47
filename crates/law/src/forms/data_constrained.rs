//! The data-constrained law of Muennighoff et al. 2023 ("Scaling Data-Constrained Language
//! Models", section 3, eqs. 5–7): Chinchilla's form with effective data D′ and effective
//! parameters N′ in place of D and N,
//!
//! L = E + A / N′^α + B / D′^β
//! D′ = U_D + U_D · R_D* · (1 − exp(−R_D / R_D*)),  U_D = min(U, D),  R_D = D / U_D − 1
//! N′ = U_N + U_N · R_N* · (1 − exp(−R_N / R_N*)),  R_N = N / U_N − 1
//!
//! U is the number of unique tokens (column `U`), R_D the number of repeated epochs beyond the
//! first, R_D* and R_N* the "half-lives" of repeated data and of excess parameters. Muennighoff
//! et al. take U_N as the compute-optimal parameter count for U_D unique tokens; we take
//! U_N = min(N, U_D / 20), Chinchilla's 20 tokens per parameter (Hoffmann et al. 2022,
//! table 3), which keeps U_N independent of the parameters being fitted. With U = D (no
//! repetition) the law is exactly Chinchilla's.
//!
//! Fitted in log space like Chinchilla, with ρ_N = ln R_N*, ρ_D = ln R_D*.
//! Raw vector: [e, a, b, α, β, ρ_N, ρ_D]; ρ_N, ρ_D are held at the paper's values unless freed.

use super::{N_FEATURES, chinchilla, log_sum_exp};
use crate::Observation;

/// R_D*, the repetition half-life of data: Muennighoff et al. 2023, fitted value (eq. 5 and
/// figure 3: about 15.4 epochs).
pub const R_D_STAR: f64 = 15.387756;
/// R_N*, the half-life of excess parameters: Muennighoff et al. 2023, fitted value (about 5.3).
pub const R_N_STAR: f64 = 5.309743;
/// Tokens per parameter used to turn unique tokens into the base parameter count U_N:
/// Chinchilla's ~20 (Hoffmann et al. 2022, table 3).
pub const UNIQUE_TOKENS_PER_PARAM: f64 = 20.0;

/// Features: [ln N, ln D, U_N, R_N, U_D, R_D].
pub(super) fn features(o: &Observation) -> [f64; N_FEATURES] {
    let u_d = o.unique_tokens().min(o.d);
    let r_d = (o.d / u_d - 1.0).max(0.0);
    let u_n = o.n.min(u_d / UNIQUE_TOKENS_PER_PARAM);
    let r_n = (o.n / u_n - 1.0).max(0.0);
    [o.n.ln(), o.d.ln(), u_n, r_n, u_d, r_d]
}

/// ln of the effective count U(1 + R*(1 − e^(−R/R*))) and its derivative in ρ = ln R*.
#[inline]
fn effective(u: f64, r: f64, rho: f64) -> (f64, f64) {
    if r == 0.0 {
        return (u.ln(), 0.0);
    }
    let star = rho.exp();
    let x = r / star;
    let decay = (-x).exp();
    let factor = 1.0 + star * (1.0 - decay);
    // d factor / dρ = R* · d factor / dR* = R* (1 − e^−x − x e^−x).
    (u.ln() + factor.ln(), star * (1.0 - decay - x * decay) / factor)
}

/// ln L and, when asked, its gradient with respect to the raw vector.
#[inline]
pub(super) fn eval(raw: &[f64], x: &[f64; N_FEATURES], grad: Option<&mut [f64]>) -> f64 {
    let (e, a, b, alpha, beta) = (raw[0], raw[1], raw[2], raw[3], raw[4]);
    let (ln_n_eff, dn) = effective(x[2], x[3], raw[5]);
    let (ln_d_eff, dd) = effective(x[4], x[5], raw[6]);
    let mut w = [0.0; 3];
    let f = log_sum_exp([e, a - alpha * ln_n_eff, b - beta * ln_d_eff], &mut w);
    if let Some(g) = grad {
        g[0] = w[0];
        g[1] = w[1];
        g[2] = w[2];
        g[3] = -w[1] * ln_n_eff;
        g[4] = -w[2] * ln_d_eff;
        g[5] = -w[1] * alpha * dn;
        g[6] = -w[2] * beta * dd;
    }
    f
}

/// Chinchilla's grid with ρ_N, ρ_D at the paper's values.
pub(super) fn grid() -> Vec<Vec<f64>> {
    chinchilla::grid()
        .into_iter()
        .map(|mut v| {
            v.push(R_N_STAR.ln());
            v.push(R_D_STAR.ln());
            v
        })
        .collect()
}
