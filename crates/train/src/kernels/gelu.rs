//! GELU, tanh approximation (Hendrycks & Gimpel 2016, eq. for GPT-2's `gelu_new`), fused with
//! the bias of the MLP's first projection (its add forward, its gradient backward).
//!
//! `gelu(u) = ½u(1 + tanh(√(2/π)(u + 0.044715u³))) = u·σ(z)`, `z = 2√(2/π)(u + 0.044715u³)`,
//! since ½(1 + tanh(a)) = σ(2a). Derivative: `σ(z) + u·σ(z)(1 − σ(z))·2√(2/π)(1 + 3·0.044715u²)`.
//! Written with one vectorised exponential instead of `tanh` (a libm call): the same function
//! to rounding, several times faster (docs/cpu-training.md, "Traps").

use super::parallel::rows_per_task;
use super::simd::{multiversion, sigmoid};
use rayon::prelude::*;

/// 2·√(2/π), the slope inside the sigmoid form.
const K: f32 = 1.595_769;
/// The cubic coefficient of the tanh approximation (Hendrycks & Gimpel 2016).
const C: f32 = 0.044_715;

/// `out = gelu(pre + b)` for `pre, out: [n, b.len()]`; `pre` (the product without its bias) is
/// left as it is, so that the pass writes one buffer instead of two.
pub fn forward(out: &mut [f32], pre: &[f32], b: &[f32]) {
    let d = b.len();
    assert_eq!(out.len(), pre.len(), "gelu: out and pre differ in size");
    let chunk = rows_per_task(pre.len() / d, d);
    out.par_chunks_mut(chunk * d)
        .zip(pre.par_chunks(chunk * d))
        .for_each(|(out, pre)| forward_rows(out, pre, b));
}

multiversion! {
    fn forward_rows(out: &mut [f32], pre: &[f32], b: &[f32]) {
        let d = b.len();
        for (out, pre) in out.chunks_exact_mut(d).zip(pre.chunks_exact(d)) {
            for ((o, p), b) in out.iter_mut().zip(pre).zip(b) {
                let u = p + b;
                *o = u * sigmoid(K * (u + C * u * u * u));
            }
        }
    }
}

/// `grad = grad ⊙ gelu'(pre + b)` in place (on entry the gradient of the output, on return that
/// of the pre-activation), and `db` overwritten with that gradient's column sums: the bias
/// gradient, computed in the same pass instead of a second read of `[n, 4d]`.
pub fn backward(grad: &mut [f32], db: &mut [f32], pre: &[f32], b: &[f32]) {
    let d = b.len();
    assert_eq!(grad.len(), pre.len(), "gelu: grad and pre differ in size");
    assert_eq!(db.len(), d, "gelu: db and b differ in size");
    let chunk = rows_per_task(pre.len() / d, d);
    let sums = grad
        .par_chunks_mut(chunk * d)
        .zip(pre.par_chunks(chunk * d))
        .map(|(g, p)| {
            let mut acc = vec![0.0f32; d];
            backward_rows(&mut acc, g, p, b);
            acc
        })
        .reduce_with(|mut a, b| {
            for (a, b) in a.iter_mut().zip(&b) {
                *a += b;
            }
            a
        });
    match sums {
        Some(s) => db.copy_from_slice(&s),
        None => db.fill(0.0),
    }
}

multiversion! {
    fn backward_rows(acc: &mut [f32], grad: &mut [f32], pre: &[f32], b: &[f32]) {
        let d = b.len();
        for (grad, pre) in grad.chunks_exact_mut(d).zip(pre.chunks_exact(d)) {
            for (((g, p), b), a) in grad.iter_mut().zip(pre).zip(b).zip(acc.iter_mut()) {
                let u = p + b;
                let s = sigmoid(K * (u + C * u * u * u));
                let dz = K * (1.0 + 3.0 * C * u * u);
                *g *= s + u * s * (1.0 - s) * dz;
                *a += *g;
            }
        }
    }
}

/// gelu(u) for one value (tests and references).
pub fn gelu(u: f32) -> f32 {
    u * sigmoid(K * (u + C * u * u * u))
}
