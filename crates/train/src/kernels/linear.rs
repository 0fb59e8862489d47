//! Linear layer `y = x·Wᵀ + b`, with W stored `[out, in]` as PyTorch's `nn.Linear`.
//!
//! Shapes: `x: [n, in]`, `W: [out, in]`, `b: [out]`, `y: [n, out]`.
//! Backward: `dx = dy·W` (`[n, out]·[out, in]`), `dW = dyᵀ·x` (`[out, n]·[n, in]`),
//! `db = Σ_rows dy`. Each product is one `gemm` call reading the transposes in place;
//! FLOPs: 2·n·in·out forward and twice that backward (Kaplan et al. 2020, §2.1).

use super::matmul::{MatRef, Par, matmul};
use super::parallel::rows_per_task;
use rayon::prelude::*;

/// `y = x·Wᵀ + b` (no bias when `b` is `None`).
pub fn forward(y: &mut [f32], x: &[f32], w: &[f32], b: Option<&[f32]>, d_in: usize, par: Par) {
    let d_out = w.len() / d_in;
    let n = x.len() / d_in;
    assert_eq!(y.len(), n * d_out, "linear: y holds {} values, want [{n}, {d_out}]", y.len());
    matmul(y, d_out, MatRef::new(x, n, d_in), MatRef::new(w, d_out, d_in).t(), false, 1.0, par);
    if let Some(b) = b {
        add_bias(y, b);
    }
}

/// `y[i, :] += b` for every row.
pub fn add_bias(y: &mut [f32], b: &[f32]) {
    let d = b.len();
    let chunk = rows_per_task(y.len() / d, d);
    y.par_chunks_mut(chunk * d).for_each(|y| {
        for row in y.chunks_exact_mut(d) {
            for (o, b) in row.iter_mut().zip(b) {
                *o += b;
            }
        }
    });
}

/// Gradients of a linear layer. `dx` (if given) is overwritten, or added to when
/// `accumulate_dx`; `dw` and `db` (if given) are overwritten.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    dx: Option<&mut [f32]>,
    accumulate_dx: bool,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    d_in: usize,
    par: Par,
) {
    let d_out = w.len() / d_in;
    let n = x.len() / d_in;
    assert_eq!(dy.len(), n * d_out, "linear: dy holds {} values, want [{n}, {d_out}]", dy.len());
    let dy_m = MatRef::new(dy, n, d_out);
    if let Some(dx) = dx {
        matmul(dx, d_in, dy_m, MatRef::new(w, d_out, d_in), accumulate_dx, 1.0, par);
    }
    matmul(dw, d_in, dy_m.t(), MatRef::new(x, n, d_in), false, 1.0, par);
    if let Some(db) = db {
        column_sums(db, dy);
    }
}

/// `out[j] = Σ_i m[i, j]` for a row-major `m` of `out.len()` columns: a bias's gradient.
pub fn column_sums(out: &mut [f32], m: &[f32]) {
    let d = out.len();
    let chunk = rows_per_task(m.len() / d, d);
    let sums = m
        .par_chunks(chunk * d)
        .map(|m| {
            let mut acc = vec![0.0f32; d];
            for row in m.chunks_exact(d) {
                for (a, v) in acc.iter_mut().zip(row) {
                    *a += v;
                }
            }
            acc
        })
        .reduce_with(|mut a, b| {
            for (a, b) in a.iter_mut().zip(&b) {
                *a += b;
            }
            a
        });
    match sums {
        Some(s) => out.copy_from_slice(&s),
        None => out.fill(0.0),
    }
}
