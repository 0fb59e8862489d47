//! Chinchilla's parametric loss (Hoffmann et al. 2022, "Training Compute-Optimal Large
//! Language Models", eq. 2 and appendix D.2):
//!
//! L(N, D) = E + A / N^α + B / D^β
//!
//! N in parameters, D in tokens, L in nats per token. Fitted in log space as
//! ln L = LSE(a − α ln N, b − β ln D, e) with a = ln A, b = ln B, e = ln E, which is both
//! numerically safe (no overflow for any N, D) and the form whose Huber residual Hoffmann et al.
//! minimise. Raw vector: [e, a, b, α, β].
//!
//! [`huber_sum`] is the fit's hot loop: the summed Huber loss over the points and its
//! gradient, evaluated a chunk of points at a time (see `chunked.rs`) with the vectorisable
//! exp and ln of [`crate::fastmath`] (two exps and one ln per point: e^e is the same for
//! every point).

use super::chunked::{DIRECT_LN_MAX, LANES, PointEval, careful_add, huber_sum_careful};
use super::{Form, LawForm, N_FEATURES, ParamSpec, Point, Transform, log_sum_exp, p, product};
use crate::fastmath;
use crate::simd::{fma_dispatch, mul_add};
use crate::{Observation, Result};
use std::collections::BTreeMap;

pub(super) const FORM: Form = Form(&Chinchilla);

/// Raw vector [e, a, b, α, β]; reported E, A, B, α, β.
pub(super) const PARAMS: [ParamSpec; 5] = [
    p("E", Transform::Log),
    p("A", Transform::Log),
    p("B", Transform::Log),
    p("alpha", Transform::Identity),
    p("beta", Transform::Identity),
];

struct Chinchilla;

impl LawForm for Chinchilla {
    fn name(&self) -> &'static str {
        "chinchilla"
    }
    fn formula(&self) -> &'static str {
        "L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, eq. 2)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &PARAMS
    }
    fn point(&self, o: &Observation) -> Result<Point> {
        Ok(Point::log_loss([o.n.ln(), o.d.ln(), 0.0, 0.0, 0.0, 0.0], o))
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
    fn closed_optimum(&self, params: &[f64], c: f64) -> Option<(f64, f64)> {
        let [_, a, b, alpha, beta] = params.try_into().ok()?;
        Some(optimum(a, b, alpha, beta, c))
    }
    fn tied_exponents(&self) -> Option<(&'static str, &'static str)> {
        Some(("alpha", "beta"))
    }
    fn derived(&self, params: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
        derived(params)
    }
}

/// The compute-optimal (N, D) at C = 6ND (Hoffmann et al. 2022, eq. 4):
/// G = (αA/(βB))^(1/(α+β)), N_opt = G (C/6)^(β/(α+β)), D_opt = G⁻¹ (C/6)^(α/(α+β)).
pub(super) fn optimum(a: f64, b: f64, alpha: f64, beta: f64, c: f64) -> (f64, f64) {
    let g = (alpha * a / (beta * b)).powf(1.0 / (alpha + beta));
    let (ea, eb) = (beta / (alpha + beta), alpha / (alpha + beta));
    (g * (c / 6.0).powf(ea), (c / 6.0).powf(eb) / g)
}

/// The compute-optimal exponents a = β/(α+β), b = α/(α+β) (N_opt ∝ C^a, D_opt ∝ C^b) and
/// G = (αA/(βB))^(1/(α+β)) (Hoffmann et al. 2022, eq. 4), for every law with Chinchilla's
/// A, B, α, β.
pub(super) fn derived(p: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut d = BTreeMap::new();
    let get = |k: &str| p.get(k).copied().unwrap_or(f64::NAN);
    let (a_, b_, al, be) = (get("A"), get("B"), get("alpha"), get("beta"));
    d.insert("a".into(), be / (al + be));
    d.insert("b".into(), al / (al + be));
    d.insert("G".into(), (al * a_ / (be * b_)).powf(1.0 / (al + be)));
    d
}

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

fma_dispatch! {
    /// Σ_i H_δ(ln L(N_i, D_i) − y_i) over `points` at raw vector `raw`, with its gradient with
    /// respect to [e, a, b, α, β] written into `g_raw`.
    pub(super) fn huber_sum / huber_sum_at = huber_sum_lanes(
        raw: &[f64],
        points: &[Point],
        delta: f64,
        g_raw: &mut [f64],
    ) -> f64
}

/// [`huber_sum`]'s body: [`huber_sum_chunked`] on the points' ln N and ln D.
#[inline(always)]
fn huber_sum_lanes<const FMA: bool>(
    raw: &[f64],
    points: &[Point],
    delta: f64,
    g_raw: &mut [f64],
) -> f64 {
    let raw: &[f64; 5] = raw.try_into().expect("chinchilla has 5 raw parameters");
    let features = |p: &Point| [p.x[0], p.x[1], 0.0, 0.0];
    huber_sum_chunked::<FMA, 5>(raw, points, delta, g_raw, features, eval)
}

/// Σ_i H_δ(ln L_i − y_i) and its gradient for a law of Chinchilla's shape,
/// ln L = LSE(e, a − α ln N, b − β ln D), where `features` gives each point's
/// [ln N, ln D, dn, dd]. `NP` is 5 for Chinchilla (dn, dd unused); 7 for the data-constrained
/// law, whose N and D are the effective N′ and D′ and whose two more parameters ρ_N, ρ_D
/// move them: dn = ∂ ln N′/∂ρ_N, dd = ∂ ln D′/∂ρ_D.
/// `eval` is the form's per-point ln L with gradient, the careful path.
///
/// Each chunk is copied into structure-of-arrays scratch and every per-point step is a loop
/// over the lanes with no branch, so that the compiler turns it into vector code; sums are
/// kept per lane (a float sum over points would not vectorise) and added up at the end.
///
/// Per point, with u₁ = e^(a − α ln N), u₂ = e^(b − β ln D), s = e^e + u₁ + u₂:
/// r = ln s − y, H = c (r − c/2) with c = clamp(r, −δ, δ) = H′(r) (the two branches of the
/// Huber loss in one expression), and ∂r/∂(e, a, b, α, β, ρ_N, ρ_D) = (e^e, u₁, u₂,
/// −u₁ ln N, −u₂ ln D, −α u₁ dn, −β u₂ dd) / s. The direct sum s is exact whenever it is a
/// finite normal number; a point where |ln s| ≥ 708 (a term near or beyond e^709, or all of
/// them below e^−708) or s is NaN goes through `eval`'s careful log-sum-exp instead, so
/// extreme line-search steps score as they did before this loop was vectorised.
#[inline(always)]
pub(super) fn huber_sum_chunked<const FMA: bool, const NP: usize>(
    raw: &[f64; NP],
    points: &[Point],
    delta: f64,
    g_raw: &mut [f64],
    features: impl Fn(&Point) -> [f64; 4],
    eval: PointEval,
) -> f64 {
    const { assert!(NP == 5 || NP == 7) };
    let (e, a, b, alpha, beta) = (raw[0], raw[1], raw[2], raw[3], raw[4]);
    let ee = e.exp();
    if !ee.is_finite() {
        // e^e overflows: every point needs the careful path (and the neutral lanes below
        // rely on e^e · 0 = 0).
        return huber_sum_careful(raw, points, delta, g_raw, eval);
    }
    // acc[0]: Σ H; acc[1..]: Σ ∂H/∂(e, a, b, α, β) (e without its factor e^e); acc_rho:
    // Σ ∂H/∂(ρ_N, ρ_D) without their factors α, β. One column per lane.
    let mut acc = [[0.0; LANES]; 6];
    let mut acc_rho = [[0.0; LANES]; 2];
    // Points the careful path scored (none in a healthy fit).
    let mut careful = [0.0; NP];
    let mut careful_h = 0.0;
    for chunk in points.chunks(LANES) {
        // Structure-of-arrays copy of the chunk; lanes past its end stay dead (live = 0).
        let mut ln_n = [0.0; LANES];
        let mut ln_d = [0.0; LANES];
        let mut dn = [0.0; LANES];
        let mut dd = [0.0; LANES];
        let mut y = [0.0; LANES];
        let mut live = [0.0; LANES];
        for (i, p) in chunk.iter().enumerate() {
            [ln_n[i], ln_d[i], dn[i], dd[i]] = features(p);
            y[i] = p.target;
            live[i] = 1.0;
        }
        // Separate passes, each a short loop the compiler vectorises on its own: fused, the
        // three polynomials and the sums run out of registers and the loop is twice as slow.
        let mut u1 = [0.0; LANES];
        let mut u2 = [0.0; LANES];
        for i in 0..LANES {
            u1[i] = fastmath::exp::<FMA>(mul_add::<FMA>(-alpha, ln_n[i], a));
        }
        for i in 0..LANES {
            u2[i] = fastmath::exp::<FMA>(mul_add::<FMA>(-beta, ln_d[i], b));
        }
        let mut s = [0.0; LANES];
        let mut ln_s = [0.0; LANES];
        for i in 0..LANES {
            s[i] = ee + u1[i] + u2[i];
            ln_s[i] = fastmath::ln::<FMA>(s[i]);
        }
        // Lanes that are dead or need the careful path are neutralised rather than skipped
        // (s = 1, u = 0, ln s = y: every term below is then ±0), so that the sums carry no
        // condition: an `if` on the lane there keeps the loop scalar.
        let mut redo = [0.0; LANES];
        for i in 0..LANES {
            // s is a finite normal number, and then some: |ln s| < 708 (false for NaN).
            let keep = ln_s[i].abs() < DIRECT_LN_MAX && live[i] != 0.0;
            redo[i] = if keep { 0.0 } else { live[i] };
            s[i] = if keep { s[i] } else { 1.0 };
            ln_s[i] = if keep { ln_s[i] } else { y[i] };
            u1[i] = if keep { u1[i] } else { 0.0 };
            u2[i] = if keep { u2[i] } else { 0.0 };
        }
        for i in 0..LANES {
            let r = ln_s[i] - y[i];
            let c = if r > delta { delta } else { r };
            let c = if c < -delta { -delta } else { c };
            let cs = c / s[i];
            let (w1, w2) = (cs * u1[i], cs * u2[i]);
            acc[0][i] += c * (r - 0.5 * c);
            acc[1][i] += cs;
            acc[2][i] += w1;
            acc[3][i] += w2;
            acc[4][i] -= w1 * ln_n[i];
            acc[5][i] -= w2 * ln_d[i];
            if NP == 7 {
                acc_rho[0][i] -= w1 * dn[i];
                acc_rho[1][i] -= w2 * dd[i];
            }
        }
        if redo.iter().any(|&r| r != 0.0) {
            for (p, _) in chunk.iter().zip(redo).filter(|(_, r)| *r != 0.0) {
                careful_h += careful_add(raw, p, delta, &mut careful, eval);
            }
        }
    }
    // ∂/∂e = e^e Σ c/s and ∂/∂ρ = α Σ (−c u₁ dn / s), β Σ (...): constant factors come out.
    let lane_sum = |k: usize| acc[k].iter().sum::<f64>();
    g_raw[0] = ee * lane_sum(1) + careful[0];
    for k in 1..5 {
        g_raw[k] = lane_sum(k + 1) + careful[k];
    }
    if NP == 7 {
        g_raw[5] = alpha * acc_rho[0].iter().sum::<f64>() + careful[5];
        g_raw[6] = beta * acc_rho[1].iter().sum::<f64>() + careful[6];
    }
    acc[0].iter().sum::<f64>() + careful_h
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::Level;

    /// Every build of the chunked loop against the plain per-point sum it replaced (glibc's
    /// exp and ln, one point at a time): same value and gradient to rounding, on the shipped
    /// example at starts across Hoffmann's grid, on a point count that leaves dead lanes, and
    /// at raw vectors whose terms overflow or underflow in some lanes or all of them.
    #[test]
    fn chunked_sum_matches_the_per_point_sum() {
        let obs = crate::synthetic::chinchilla_example();
        let all: Vec<Point> = obs.iter().map(|o| Form::Chinchilla.point(o).unwrap()).collect();
        let ln_n_mid = all.iter().map(|p| p.x[0]).sum::<f64>() / all.len() as f64;
        let mut raws: Vec<[f64; 5]> =
            grid().iter().step_by(97).map(|v| v.as_slice().try_into().unwrap()).collect();
        raws.extend([
            [0.5, 6.0, 7.0, 0.34, 0.28],
            [800.0, 6.0, 7.0, 0.34, 0.28],           // e^e overflows
            [0.5, 800.0, 7.0, 0.34, 0.28],           // every u1 overflows
            [0.5, 709.0 + ln_n_mid, 7.0, 1.0, 0.28], // u1 overflows in about half the lanes
            [-800.0, -800.0, -800.0, 0.34, 0.28],    // every term underflows: s = 0
            [-720.0, -720.0 + ln_n_mid, -1e4, 1.0, 0.0], // s subnormal in some lanes
        ]);
        for points in [&all[..], &all[..37]] {
            for raw in &raws {
                let mut g_ref = [0.0; 5];
                let v_ref =
                    super::super::huber_sum_per_point::<5>(raw, points, 1e-3, &mut g_ref, eval);
                for level in Level::ALL.into_iter().filter(|l| l.supported()) {
                    let mut g = [0.0; 5];
                    let v = huber_sum_at(level, raw, points, 1e-3, &mut g);
                    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1e-3 + b.abs());
                    assert!(close(v, v_ref), "{level:?} at {raw:?}: {v} vs {v_ref}");
                    for k in 0..5 {
                        assert!(
                            close(g[k], g_ref[k]),
                            "{level:?} at {raw:?}, ∂{k}: {} vs {}",
                            g[k],
                            g_ref[k]
                        );
                    }
                }
            }
        }
        // The AVX2 and AVX-512 builds do the same fused operations in the same order.
        if Level::Avx512.supported() {
            for raw in &raws {
                let (mut g2, mut g5) = ([0.0; 5], [0.0; 5]);
                let v2 = huber_sum_at(Level::Avx2, raw, &all, 1e-3, &mut g2);
                let v5 = huber_sum_at(Level::Avx512, raw, &all, 1e-3, &mut g5);
                assert_eq!(
                    (v2.to_bits(), g2.map(f64::to_bits)),
                    (v5.to_bits(), g5.map(f64::to_bits))
                );
            }
        }
        // NaN parameters give a NaN objective, which the optimiser reads as a failed step.
        let nan = [f64::NAN, 6.0, 7.0, 0.34, 0.28];
        for level in Level::ALL.into_iter().filter(|l| l.supported()) {
            assert!(huber_sum_at(level, &nan, &all, 1e-3, &mut [0.0; 5]).is_nan());
            let mut alpha_nan = [0.5, 6.0, 7.0, f64::NAN, 0.28];
            assert!(huber_sum_at(level, &alpha_nan, &all, 1e-3, &mut [0.0; 5]).is_nan());
            alpha_nan[3] = 0.34;
            assert!(huber_sum_at(level, &alpha_nan, &all, 1e-3, &mut [0.0; 5]).is_finite());
        }
    }
}
