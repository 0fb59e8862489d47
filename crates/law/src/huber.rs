//! The Huber loss on fit-space residuals (Huber 1964), as Hoffmann et al. 2022 (appendix D.2)
//! use it on log-loss with δ = 1e-3:
//!
//! H_δ(r) = r²/2 for |r| ≤ δ, δ(|r| − δ/2) otherwise;  H′_δ(r) = clamp(r, −δ, δ).
//!
//! With δ = 1e-3 nearly every residual of a real fit lies in the linear part, so the objective
//! behaves like a sum of absolute log-errors: robust to the odd bad run.

/// Hoffmann et al. 2022, appendix D.2: δ = 10⁻³ on log-loss residuals.
pub const HOFFMANN_DELTA: f64 = 1e-3;

/// H_δ(r).
#[inline]
pub fn huber(r: f64, delta: f64) -> f64 {
    let a = r.abs();
    if a <= delta { 0.5 * r * r } else { delta * (a - 0.5 * delta) }
}

/// dH_δ/dr.
#[inline]
pub fn huber_grad(r: f64, delta: f64) -> f64 {
    r.clamp(-delta, delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuous_at_delta_with_matching_slope() {
        let d = 1e-3;
        assert!((huber(d, d) - 0.5e-6).abs() < 1e-18);
        assert!((huber(d * (1.0 + 1e-9), d) - huber(d, d)).abs() < 1e-14);
        // Linear branch: H(0.01) = 1e-3 · (0.01 − 0.0005) = 9.5e-6.
        assert!((huber(-0.01, d) - 9.5e-6).abs() < 1e-18);
        assert_eq!(huber_grad(0.5, d), d);
        assert_eq!(huber_grad(-0.5e-3, d), -0.5e-3);
    }
}
