//! Output head fused with softmax cross-entropy.
//!
//! Forward: `logits = x·Wᵀ` (`x: [n, d]`, `W: [V, d]`, untied and without bias as in the
//! reference model), `ℓ_i = logsumexp(logits_i) − logits_i[target_i]`, loss = mean ℓ in nats.
//!
//! Backward of the mean: `dlogits_i = (softmax(logits_i) − onehot(target_i))/n`, written over
//! the logits in the same pass that computes the loss, so the `[n, V]` probabilities are never
//! stored; then `dW = dlogitsᵀ·x` and `dx = dlogits·W`.

use super::linear;
use super::matmul::Par;
use super::parallel::rows_per_task;
use super::simd::{self, multiversion};
use rayon::prelude::*;

/// Mean cross-entropy of `x·Wᵀ` against `targets`. With `grad`, `logits` is left holding
/// ∂loss/∂logits for [`backward`]; without, it holds unnormalised probabilities.
pub fn forward(
    logits: &mut [f32],
    x: &[f32],
    w: &[f32],
    targets: &[u32],
    grad: bool,
    par: Par,
) -> f32 {
    let d = x.len() / targets.len().max(1);
    let vocab = w.len() / d;
    let n = targets.len();
    assert_eq!(logits.len(), n * vocab, "cross-entropy: logits are not [{n}, {vocab}]");
    linear::forward(logits, x, w, None, d, par);
    let chunk = rows_per_task(n, vocab);
    let inv_n = 1.0 / n as f32;
    let total: f64 = logits
        .par_chunks_mut(chunk * vocab)
        .zip(targets.par_chunks(chunk))
        .map(|(l, t)| rows_loss(l, t, vocab, grad, inv_n))
        .sum();
    (total / n as f64) as f32
}

multiversion! {
    fn rows_loss(logits: &mut [f32], targets: &[u32], vocab: usize, grad: bool, inv_n: f32) -> f64 {
        let mut total = 0.0f64;
        for (row, &tgt) in logits.chunks_exact_mut(vocab).zip(targets) {
            let m = simd::max(row);
            let tgt = tgt as usize;
            let shifted_target = row[tgt] - m;
            for v in row.iter_mut() {
                *v = simd::exp(*v - m);
            }
            let z = simd::sum(row);
            // ℓ = log Σ_j e^(l_j − m) − (l_t − m)
            total += (z.ln() - shifted_target) as f64;
            if grad {
                let s = inv_n / z;
                for v in row.iter_mut() {
                    *v *= s;
                }
                row[tgt] -= inv_n;
            }
        }
        total
    }
}

/// Overwrites `dw` and `dx` (`[n, d]`) from the `dlogits` left by [`forward`] with `grad`.
pub fn backward(
    dx: &mut [f32],
    dw: &mut [f32],
    dlogits: &[f32],
    x: &[f32],
    w: &[f32],
    d: usize,
    par: Par,
) {
    linear::backward(Some(dx), false, dw, None, dlogits, x, w, d, par);
}
