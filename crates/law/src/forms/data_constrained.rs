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
//!
//! [`huber_sum`], the fit's hot loop, is Chinchilla's chunked loop
//! ([`chinchilla::huber_sum_chunked`]) on ln N′ and ln D′, which are computed per point as
//! before (std `exp` and `ln`, and none at all for a run without repetition).

use super::{Form, LawForm, N_FEATURES, ParamSpec, Point, Transform, chinchilla, log_sum_exp, p};
use crate::simd::fma_dispatch;
use crate::{Observation, Result};
use std::collections::BTreeMap;

pub(super) const FORM: Form = Form(&DataConstrained);

struct DataConstrained;

impl LawForm for DataConstrained {
    fn name(&self) -> &'static str {
        "data-constrained"
    }
    fn formula(&self) -> &'static str {
        "L = E + A/N'^alpha + B/D'^beta, N' and D' discounted for repetition (Muennighoff et al. 2023)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: [ParamSpec; 7] = {
            let c = chinchilla::PARAMS;
            [
                c[0],
                c[1],
                c[2],
                c[3],
                c[4],
                p("R_N_star", Transform::Log),
                p("R_D_star", Transform::Log),
            ]
        };
        &P
    }
    fn point(&self, o: &Observation) -> Result<Point> {
        Ok(Point::log_loss(features(o), o))
    }
    fn eval(&self, raw: &[f64], x: &[f64; N_FEATURES], grad: Option<&mut [f64]>) -> f64 {
        eval(raw, x, grad)
    }
    fn grid(&self, _points: &[Point]) -> Vec<Vec<f64>> {
        grid()
    }
    fn huber_sum(&self, raw: &[f64], points: &[Point], delta: f64, g_raw: &mut [f64]) -> f64 {
        huber_sum(raw, points, delta, g_raw)
    }
    fn plannable(&self) -> bool {
        true
    }
    /// R_N* and R_D* are held at Muennighoff et al.'s fitted values unless freed.
    fn default_fixed(&self) -> &'static [(&'static str, f64)] {
        &[("R_N_star", R_N_STAR), ("R_D_star", R_D_STAR)]
    }
    fn tied_exponents(&self) -> Option<(&'static str, &'static str)> {
        Some(("alpha", "beta"))
    }
    fn derived(&self, params: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
        chinchilla::derived(params)
    }
}

/// R_D*, the repetition half-life of data: Muennighoff et al. 2023, fitted value (eq. 5 and
/// figure 3: about 15.4 epochs).
pub const R_D_STAR: f64 = 15.387756;
/// R_N*, the half-life of excess parameters: Muennighoff et al. 2023, fitted value (about 5.3).
pub const R_N_STAR: f64 = 5.309743;
/// Tokens per parameter used to turn unique tokens into the base parameter count U_N:
/// Chinchilla's ~20 (Hoffmann et al. 2022, table 3).
pub const UNIQUE_TOKENS_PER_PARAM: f64 = 20.0;

/// Features: [ln N, ln D, ln U_N, R_N, ln U_D, R_D] (the logs taken once, not per evaluation).
pub(super) fn features(o: &Observation) -> [f64; N_FEATURES] {
    let u_d = o.unique_tokens().min(o.d);
    let r_d = (o.d / u_d - 1.0).max(0.0);
    let u_n = o.n.min(u_d / UNIQUE_TOKENS_PER_PARAM);
    let r_n = (o.n / u_n - 1.0).max(0.0);
    [o.n.ln(), o.d.ln(), u_n.ln(), r_n, u_d.ln(), r_d]
}

/// ln of the effective count U(1 + R*(1 − e^(−R/R*))) and its derivative in ρ = ln R*,
/// from ln U, R and R* = e^ρ.
///
/// As R* grows (a fit that finds no cost to repetition drives it up), x = R/R* → 0 and
/// 1 − e^−x loses its digits to cancellation: at R* = 1e15 it moves in steps of 1e-16, the
/// factor in steps of 0.1, and the objective becomes a staircase the optimiser wanders on.
/// So 1 − e^−x is taken as −expm1(−x), and the slope's 1 − (1 + x) e^−x, which cancels
/// the same way, by its series below x = 10⁻³.
#[inline]
fn effective(ln_u: f64, r: f64, star: f64) -> (f64, f64) {
    if r == 0.0 {
        return (ln_u, 0.0);
    }
    let x = r / star;
    let gone = -(-x).exp_m1(); // 1 − e^−x
    let factor = 1.0 + star * gone;
    // d factor / dρ = R* · d factor / dR* = R* (1 − (1 + x) e^−x);
    // 1 − (1 + x) e^−x = Σ_{k≥2} (−1)^k (k − 1) x^k / k!, cut after x⁶ (error < x⁵/420 relative).
    let slope = if x < 1e-3 {
        x * x * (0.5 - x * (1.0 / 3.0 - x * (1.0 / 8.0 - x * (1.0 / 30.0 - x / 144.0))))
    } else {
        gone - x * (-x).exp()
    };
    (ln_u + factor.ln(), star * slope / factor)
}

/// ln L and, when asked, its gradient with respect to the raw vector.
#[inline]
pub(super) fn eval(raw: &[f64], x: &[f64; N_FEATURES], grad: Option<&mut [f64]>) -> f64 {
    let (e, a, b, alpha, beta) = (raw[0], raw[1], raw[2], raw[3], raw[4]);
    let (ln_n_eff, dn) = effective(x[2], x[3], raw[5].exp());
    let (ln_d_eff, dd) = effective(x[4], x[5], raw[6].exp());
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

fma_dispatch! {
    /// Σ_i H_δ(ln L_i − y_i) over `points` at raw vector `raw`, with its gradient with respect
    /// to [e, a, b, α, β, ρ_N, ρ_D] written into `g_raw`.
    pub(super) fn huber_sum / huber_sum_at = huber_sum_lanes(
        raw: &[f64],
        points: &[Point],
        delta: f64,
        g_raw: &mut [f64],
    ) -> f64
}

/// [`huber_sum`]'s body: the effective counts of a chunk, then Chinchilla's chunked loop.
#[inline(always)]
fn huber_sum_lanes<const FMA: bool>(
    raw: &[f64],
    points: &[Point],
    delta: f64,
    g_raw: &mut [f64],
) -> f64 {
    let raw: &[f64; 7] = raw.try_into().expect("data-constrained has 7 raw parameters");
    let (star_n, star_d) = (raw[5].exp(), raw[6].exp());
    let features = |p: &Point| {
        let (ln_n, dn) = effective(p.x[2], p.x[3], star_n);
        let (ln_d, dd) = effective(p.x[4], p.x[5], star_d);
        [ln_n, ln_d, dn, dd]
    };
    chinchilla::huber_sum_chunked::<FMA, 7>(raw, points, delta, g_raw, features, eval)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::Level;

    /// Every build of the chunked loop against the plain per-point sum through [`eval`], on the
    /// shipped example given 1 to 32 epochs of repetition, at the paper's R_N*, R_D* and at
    /// fitted ones from small to huge, and with terms that overflow.
    #[test]
    fn chunked_sum_matches_the_per_point_sum() {
        let mut obs = crate::synthetic::chinchilla_example();
        for (i, o) in obs.iter_mut().enumerate() {
            o.u = Some(o.d / f64::from(1u32 << (i % 6)));
        }
        let all: Vec<Point> = obs.iter().map(|o| Form::DataConstrained.point(o).unwrap()).collect();
        let (rn, rd) = (R_N_STAR.ln(), R_D_STAR.ln());
        let mut raws: Vec<[f64; 7]> =
            grid().iter().step_by(211).map(|v| v.as_slice().try_into().unwrap()).collect();
        raws.extend([
            [0.5, 6.0, 7.0, 0.34, 0.28, rn, rd],
            [0.5, 6.0, 7.0, 0.34, 0.28, -3.0, 1.0],
            [0.5, 6.0, 7.0, 0.34, 0.28, 34.0, 25.0], // R* ~ 1e15: x ~ 1e-15
            [0.5, 800.0, 7.0, 0.34, 0.28, rn, rd],   // every u1 overflows
            [800.0, 6.0, 7.0, 0.34, 0.28, rn, rd],   // e^e overflows
        ]);
        for points in [&all[..], &all[..37]] {
            for raw in &raws {
                let mut g_ref = [0.0; 7];
                let v_ref =
                    super::super::huber_sum_per_point::<7>(raw, points, 1e-3, &mut g_ref, eval);
                for level in Level::ALL.into_iter().filter(|l| l.supported()) {
                    let mut g = [0.0; 7];
                    let v = huber_sum_at(level, raw, points, 1e-3, &mut g);
                    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1e-3 + b.abs());
                    assert!(close(v, v_ref), "{level:?} at {raw:?}: {v} vs {v_ref}");
                    for k in 0..7 {
                        assert!(
                            close(g[k], g_ref[k]),
                            "{level:?} {raw:?} ∂{k}: {g:?} vs {g_ref:?}"
                        );
                    }
                }
            }
        }
    }

    /// With R* far above R the effective count tends to U(1 + R) (repetition is free) and its
    /// slope in ρ to 0, smoothly: 1 − e^−x taken directly would move in steps of 1e-16 and
    /// put the factor anywhere in [1, 1 + R* · 1e-16].
    #[test]
    fn effective_count_is_smooth_for_huge_half_lives() {
        for star in [1e6, 1e12, 1e15, 1e20] {
            let (ln_eff, slope) = effective(0.0, 3.0, star);
            // 1 + R*(1 − e^(−3/R*)) = 4 − 4.5/R* + 4.5/R*² − O(R*⁻³).
            let want = (4.0 - 4.5 / star + 4.5 / (star * star)).ln();
            assert!((ln_eff - want).abs() < 1e-15, "R* = {star:e}: {ln_eff} vs {want}");
            // R* · (x²/2) / factor with x = 3/R*: 9/(8 R*).
            assert!((slope - 9.0 / (8.0 * star)).abs() <= 1e-6 * 9.0 / (8.0 * star), "{slope}");
        }
        // Either side of the series' cut-off, the slope is the derivative of ln factor in ρ.
        for x in [0.9e-3f64, 1.1e-3, 0.05, 2.0] {
            let r: f64 = 3.0;
            let rho = (r / x).ln();
            let h = 1e-5;
            let f = |rho: f64| effective(0.0, r, rho.exp()).0;
            let fd = (f(rho + h) - f(rho - h)) / (2.0 * h);
            let slope = effective(0.0, r, rho.exp()).1;
            assert!((slope - fd).abs() <= 1e-7 * fd.abs(), "x = {x}: {slope} vs {fd}");
        }
    }
}
