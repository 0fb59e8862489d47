//! Layer normalisation (Ba, Kiros & Hinton 2016) over the last dimension.
//!
//! Forward, per row x of width d: `μ = mean(x)`, `σ⁻¹ = 1/√(mean((x − μ)²) + ε)`,
//! `x̂ = (x − μ)·σ⁻¹`, `y = w ⊙ x̂ + b`. ε = 1e-5 as PyTorch's `nn.LayerNorm` default.
//!
//! Backward, with `g = dy ⊙ w`: `dx = σ⁻¹·(g − mean(g) − x̂·mean(g ⊙ x̂))`,
//! `dw = Σ_rows dy ⊙ x̂`, `db = Σ_rows dy`. The input of every LayerNorm here is the residual
//! stream, whose gradient also flows around the block, so `dx` is *added* to the buffer given.

use super::parallel::rows_per_task;
use super::simd::{self, multiversion};
use rayon::prelude::*;

/// ε of PyTorch's `nn.LayerNorm` (the reference model's default).
pub const EPS: f32 = 1e-5;

/// `y = LayerNorm(x)·w + b` for `x, y: [rows, d]`; saves each row's mean and 1/σ for the
/// backward pass.
pub fn forward(
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    d: usize,
) {
    let rows = x.len() / d;
    assert!(y.len() == rows * d && mean.len() == rows && rstd.len() == rows && w.len() == d);
    let chunk = rows_per_task(rows, d);
    y.par_chunks_mut(chunk * d)
        .zip(x.par_chunks(chunk * d))
        .zip(mean.par_chunks_mut(chunk))
        .zip(rstd.par_chunks_mut(chunk))
        .for_each(|(((y, x), mean), rstd)| forward_rows(y, mean, rstd, x, w, b, d));
}

multiversion! {
    fn forward_rows(
        y: &mut [f32],
        mean: &mut [f32],
        rstd: &mut [f32],
        x: &[f32],
        w: &[f32],
        b: &[f32],
        d: usize,
    ) {
        for (((y, x), mean), rstd) in
            y.chunks_exact_mut(d).zip(x.chunks_exact(d)).zip(mean).zip(rstd)
        {
            let mu = simd::sum(x) / d as f32;
            for (o, v) in y.iter_mut().zip(x) {
                *o = v - mu;
            }
            let var = simd::dot(y, y) / d as f32;
            let r = 1.0 / (var + EPS).sqrt();
            for ((o, w), b) in y.iter_mut().zip(w).zip(b) {
                *o = *o * r * w + b;
            }
            *mean = mu;
            *rstd = r;
        }
    }
}

/// Adds the input gradient to `dx` and overwrites `dw`, `db`, given the output gradient `dy`
/// and the forward pass's `x`, `mean` and `rstd`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    dx: &mut [f32],
    dw: &mut [f32],
    db: &mut [f32],
    dy: &[f32],
    x: &[f32],
    mean: &[f32],
    rstd: &[f32],
    w: &[f32],
    d: usize,
) {
    let rows = x.len() / d;
    assert!(dx.len() == rows * d && dy.len() == rows * d && mean.len() == rows && dw.len() == d);
    let chunk = rows_per_task(rows, d);
    let sums = dx
        .par_chunks_mut(chunk * d)
        .zip(dy.par_chunks(chunk * d))
        .zip(x.par_chunks(chunk * d))
        .zip(mean.par_chunks(chunk))
        .zip(rstd.par_chunks(chunk))
        .map(|((((dx, dy), x), mean), rstd)| {
            // [dw | db | x̂ | dy⊙w] for this task's rows.
            let mut acc = vec![0.0f32; 4 * d];
            backward_rows(&mut acc, dx, dy, x, mean, rstd, w, d);
            acc
        })
        .reduce_with(|mut a, b| {
            for (a, b) in a.iter_mut().zip(&b) {
                *a += b;
            }
            a
        });
    match sums {
        Some(acc) => {
            dw.copy_from_slice(&acc[..d]);
            db.copy_from_slice(&acc[d..2 * d]);
        }
        None => {
            dw.fill(0.0);
            db.fill(0.0);
        }
    }
}

multiversion! {
    fn backward_rows(
        acc: &mut [f32],
        dx: &mut [f32],
        dy: &[f32],
        x: &[f32],
        mean: &[f32],
        rstd: &[f32],
        w: &[f32],
        d: usize,
    ) {
        let (dw, rest) = acc.split_at_mut(d);
        let (db, rest) = rest.split_at_mut(d);
        let (xhat, g) = rest.split_at_mut(d);
        for ((((dx, dy), x), &mu), &r) in
            dx.chunks_exact_mut(d).zip(dy.chunks_exact(d)).zip(x.chunks_exact(d)).zip(mean).zip(rstd)
        {
            for j in 0..d {
                xhat[j] = (x[j] - mu) * r;
                g[j] = dy[j] * w[j];
                dw[j] += dy[j] * xhat[j];
                db[j] += dy[j];
            }
            let mean_g = simd::sum(g) / d as f32;
            let mean_gx = simd::dot(g, xhat) / d as f32;
            for j in 0..d {
                dx[j] += r * (g[j] - mean_g - xhat[j] * mean_gx);
            }
        }
    }
}
