//! Kaplan et al.'s joint law in parameters and data (Kaplan et al. 2020, eq. 1.5; their fit,
//! table 2: α_N = 0.076, α_D = 0.103, N_c = 6.4e13, D_c = 1.8e13):
//!
//! L(N, D) = [ (N_c / N)^(α_N / α_D) + D_c / D ]^α_D
//!
//! N in parameters, D in tokens. Fitted in log space:
//! ln L = α_D · LSE((α_N/α_D)(ln N_c − ln N), ln D_c − ln D).
//! Raw vector: [α_N, α_D, ln N_c, ln D_c].
//!
//! [`huber_sum`], the fit's hot loop, takes a chunk of points at a time with vectorised exp
//! and ln, as Chinchilla's does (`chunked.rs`).

use super::chunked::{DIRECT_LN_MAX, LANES, careful_add, huber_sum_careful};
use super::{Form, LawForm, N_FEATURES, ParamSpec, Point, Transform, log_sum_exp, p, product};
use crate::fastmath;
use crate::simd::{fma_dispatch, mul_add};
use crate::{Observation, Result};

pub(super) const FORM: Form = Form(&KaplanNd);

struct KaplanNd;

impl LawForm for KaplanNd {
    fn name(&self) -> &'static str {
        "kaplan-nd"
    }
    fn formula(&self) -> &'static str {
        "L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D (Kaplan et al. 2020, eq. 1.5)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        use Transform::{Identity, Log};
        const P: [ParamSpec; 4] =
            [p("alpha_N", Identity), p("alpha_D", Identity), p("N_c", Log), p("D_c", Log)];
        &P
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
}

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

fma_dispatch! {
    /// Σ_i H_δ(ln L(N_i, D_i) − y_i) over `points` at raw vector `raw`, with its gradient with
    /// respect to [α_N, α_D, ln N_c, ln D_c] written into `g_raw`.
    pub(super) fn huber_sum / huber_sum_at = huber_sum_lanes(
        raw: &[f64],
        points: &[Point],
        delta: f64,
        g_raw: &mut [f64],
    ) -> f64
}

/// [`huber_sum`]'s body. Per point, with ρ = α_N/α_D, g = ln N_c − ln N, u₁ = e^(ρ g),
/// u₂ = e^(ln D_c − ln D), s = u₁ + u₂, S = ln s: r = α_D S − y and, with c = H′(r) and
/// w = u/s, Σ c ∂r/∂(α_N, α_D, ln N_c, ln D_c) = (Σ c w₁ g, Σ c S − ρ Σ c w₁ g,
/// α_N Σ c w₁, α_D Σ c w₂) (the constant factors come out of the sums). A lane whose s is
/// not comfortably normal is neutralised (s = 1, u = 0, S = y = 0, so every term is ±0) and
/// its point scored by [`eval`] instead.
#[inline(always)]
fn huber_sum_lanes<const FMA: bool>(
    raw: &[f64],
    points: &[Point],
    delta: f64,
    g_raw: &mut [f64],
) -> f64 {
    let raw: &[f64; 4] = raw.try_into().expect("kaplan-nd has 4 raw parameters");
    let [a_n, a_d, ln_nc, ln_dc] = *raw;
    let rho = a_n / a_d;
    if !(rho.is_finite() && a_d.is_finite() && ln_nc.is_finite() && ln_dc.is_finite()) {
        // α_D = 0 or a non-finite parameter: the neutral lanes need finite α_D, ρ, g.
        return huber_sum_careful(raw, points, delta, g_raw, eval);
    }
    // acc: Σ H, Σ c w₁ g, Σ c S, Σ c w₁, Σ c w₂; one column per lane.
    let mut acc = [[0.0; LANES]; 5];
    let mut careful = [0.0; 4];
    let mut careful_h = 0.0;
    for chunk in points.chunks(LANES) {
        // Structure-of-arrays copy of the chunk; lanes past its end stay dead (live = 0).
        let mut gap = [0.0; LANES];
        let mut ln_d = [0.0; LANES];
        let mut y = [0.0; LANES];
        let mut live = [0.0; LANES];
        for (i, p) in chunk.iter().enumerate() {
            gap[i] = ln_nc - p.x[0];
            ln_d[i] = p.x[1];
            y[i] = p.target;
            live[i] = 1.0;
        }
        let mut u1 = [0.0; LANES];
        let mut u2 = [0.0; LANES];
        for i in 0..LANES {
            u1[i] = fastmath::exp::<FMA>(rho * gap[i]);
        }
        for i in 0..LANES {
            u2[i] = fastmath::exp::<FMA>(ln_dc - ln_d[i]);
        }
        let mut s = [0.0; LANES];
        let mut ln_s = [0.0; LANES];
        for i in 0..LANES {
            s[i] = u1[i] + u2[i];
            ln_s[i] = fastmath::ln::<FMA>(s[i]);
        }
        let mut redo = [0.0; LANES];
        for i in 0..LANES {
            let keep = ln_s[i].abs() < DIRECT_LN_MAX && live[i] != 0.0;
            redo[i] = if keep { 0.0 } else { live[i] };
            s[i] = if keep { s[i] } else { 1.0 };
            ln_s[i] = if keep { ln_s[i] } else { 0.0 };
            y[i] = if keep { y[i] } else { 0.0 };
            u1[i] = if keep { u1[i] } else { 0.0 };
            u2[i] = if keep { u2[i] } else { 0.0 };
        }
        for i in 0..LANES {
            let r = mul_add::<FMA>(a_d, ln_s[i], -y[i]);
            let c = if r > delta { delta } else { r };
            let c = if c < -delta { -delta } else { c };
            let cs = c / s[i];
            let (w1, w2) = (cs * u1[i], cs * u2[i]);
            acc[0][i] += c * (r - 0.5 * c);
            acc[1][i] += w1 * gap[i];
            acc[2][i] += c * ln_s[i];
            acc[3][i] += w1;
            acc[4][i] += w2;
        }
        if redo.iter().any(|&r| r != 0.0) {
            for (p, _) in chunk.iter().zip(redo).filter(|(_, r)| *r != 0.0) {
                careful_h += careful_add(raw, p, delta, &mut careful, eval);
            }
        }
    }
    let lane_sum = |k: usize| acc[k].iter().sum::<f64>();
    let cw1g = lane_sum(1);
    g_raw[0] = cw1g + careful[0];
    g_raw[1] = lane_sum(2) - rho * cw1g + careful[1];
    g_raw[2] = a_n * lane_sum(3) + careful[2];
    g_raw[3] = a_d * lane_sum(4) + careful[3];
    lane_sum(0) + careful_h
}

/// Starts: α_N, α_D ∈ {0.05, 0.1, 0.2, 0.4}, ln N_c, ln D_c ∈ {10, 15, …, 40}
/// (Kaplan's fitted N_c, D_c sit near e^31).
pub(super) fn grid() -> Vec<Vec<f64>> {
    const A: [f64; 4] = [0.05, 0.1, 0.2, 0.4];
    const C: [f64; 7] = [10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0];
    product(&[&A, &A, &C, &C])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::Level;

    /// Every build of the chunked loop against the plain per-point sum through [`eval`]: on
    /// the shipped example at starts across the grid, on a count that leaves dead lanes, and
    /// where a term overflows in some lanes, in all, or α_D = 0.
    #[test]
    fn chunked_sum_matches_the_per_point_sum() {
        let obs = crate::synthetic::chinchilla_example();
        let all: Vec<Point> = obs.iter().map(|o| Form::KaplanNd.point(o).unwrap()).collect();
        let ln_d_mid = all.iter().map(|p| p.x[1]).sum::<f64>() / all.len() as f64;
        let mut raws: Vec<[f64; 4]> =
            grid().iter().step_by(37).map(|v| v.as_slice().try_into().unwrap()).collect();
        raws.extend([
            [0.076, 0.095, 32.0, 31.0],
            [0.076, 0.095, 32.0, 709.0 + ln_d_mid], // u₂ overflows in about half the lanes
            [0.4, 0.0005, 900.0, 31.0],             // u₁ overflows everywhere
            [0.076, 0.0, 32.0, 31.0],               // α_D = 0
        ]);
        for points in [&all[..], &all[..37]] {
            for raw in &raws {
                let mut g_ref = [0.0; 4];
                let v_ref =
                    super::super::huber_sum_per_point::<4>(raw, points, 1e-3, &mut g_ref, eval);
                for level in Level::ALL.into_iter().filter(|l| l.supported()) {
                    let mut g = [0.0; 4];
                    let v = huber_sum_at(level, raw, points, 1e-3, &mut g);
                    let close = |a: f64, b: f64| {
                        (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-11 * (1e-3 + b.abs())
                    };
                    assert!(close(v, v_ref), "{level:?} at {raw:?}: {v} vs {v_ref}");
                    for k in 0..4 {
                        assert!(
                            close(g[k], g_ref[k]),
                            "{level:?} {raw:?} ∂{k}: {g:?} vs {g_ref:?}"
                        );
                    }
                }
            }
        }
    }
}
