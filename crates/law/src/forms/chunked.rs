//! Shared parts of the chunked Huber sums (the fit's hot loops, in `chinchilla.rs`,
//! `data_constrained.rs` and `kaplan_nd.rs`): the chunk size, the test that sends a point to
//! the careful path, and that path.
//!
//! A chunked sum copies [`LANES`] points at a time into structure-of-arrays scratch and runs
//! each step as a branch-free loop over the lanes, with [`crate::fastmath`]'s exp and ln, so
//! that the compiler vectorises it; sums are kept per lane and added up at the end. The one
//! thing vector code cannot do cheaply is the log-sum-exp's overflow guard (factor out the
//! largest term, a data-dependent choice), so a point whose direct sum of exps is not a
//! comfortably normal number is neutralised in the lanes and scored again by the form's own
//! `eval`, which has the guard: [`careful_add`].

use super::{N_FEATURES, Point};

/// Points per chunk: two AVX-512 registers of f64, four AVX2 ones, enough independent work
/// per pass to hide the polynomials' latency (measured on the Chinchilla sum: 8 lanes are
/// 30% slower with AVX-512, 32 no faster).
pub(super) const LANES: usize = 16;

/// A point whose |ln s| (s the direct sum of exps) reaches this goes through the careful
/// path: below it s is a finite normal number with room to spare (ln f64::MIN_POSITIVE =
/// −708.40, ln f64::MAX = 709.78), and the test is one compare that vectorises.
pub(super) const DIRECT_LN_MAX: f64 = 708.0;

/// A form's per-point fit-space prediction with its gradient (the careful path).
pub(super) type PointEval = fn(&[f64], &[f64; N_FEATURES], Option<&mut [f64]>) -> f64;

/// The plain per-point sum through `eval`, for parameters no lane can take (an overflowing
/// constant term, a non-finite parameter).
#[cold]
pub(super) fn huber_sum_careful<const NP: usize>(
    raw: &[f64; NP],
    points: &[Point],
    delta: f64,
    g_raw: &mut [f64],
    eval: PointEval,
) -> f64 {
    let mut g = [0.0; NP];
    let total = points.iter().map(|p| careful_add(raw, p, delta, &mut g, eval)).sum();
    g_raw[..NP].copy_from_slice(&g);
    total
}

/// One point's Huber loss by `eval`'s careful log-sum-exp; its gradient is added into `g`.
#[inline(never)]
pub(super) fn careful_add<const NP: usize>(
    raw: &[f64; NP],
    p: &Point,
    delta: f64,
    g: &mut [f64; NP],
    eval: PointEval,
) -> f64 {
    let mut gp = [0.0; NP];
    let r = eval(raw, &p.x, Some(&mut gp)) - p.target;
    let h = crate::huber::huber_grad(r, delta);
    for k in 0..NP {
        g[k] += h * gp[k];
    }
    crate::huber::huber(r, delta)
}
