//! The classification head: pooling over a text's real tokens, a linear layer, and softmax
//! cross-entropy over the classes.
//!
//! Rows are `B` texts padded on the right to `T` tokens; `lens[b]` tokens of row b are real.
//! Forward: `p_b = (1/len_b)·Σ_{t<len_b} h_{b,t}` (mean) or `p_b = h_{b,len_b−1}` (last),
//! `z_b = p_b·Wᵀ + c` (`W: [C, d]`), `ℓ = mean_b (logsumexp(z_b) − z_b[y_b])`.
//! Backward: `dz_b = (softmax(z_b) − onehot(y_b))/B`, `dW = dzᵀ·P`, `dc = Σ_b dz_b`,
//! `dp = dz·W`, and `dh_{b,t} = dp_b/len_b` for real t (mean) or at `len_b − 1` (last), zero on
//! padding: padding gets no gradient and contributes nothing.

use super::Pooling;
use crate::kernels::matmul::{MatRef, Par, matmul};

/// `pooled: [B, d]` from `h: [B·T, d]`.
pub fn pool(pooled: &mut [f32], h: &[f32], lens: &[usize], seq: usize, d: usize, how: Pooling) {
    for (b, (p, &len)) in pooled.chunks_exact_mut(d).zip(lens).enumerate() {
        let rows = &h[b * seq * d..(b * seq + len) * d];
        match how {
            Pooling::Mean => {
                p.fill(0.0);
                for row in rows.chunks_exact(d) {
                    for (o, v) in p.iter_mut().zip(row) {
                        *o += v;
                    }
                }
                let inv = 1.0 / len as f32;
                p.iter_mut().for_each(|v| *v *= inv);
            }
            Pooling::Last => p.copy_from_slice(&rows[(len - 1) * d..]),
        }
    }
}

/// Spreads `d_pooled: [B, d]` back over `dh: [B·T, d]` (overwritten; zero on padding).
pub fn unpool(
    dh: &mut [f32],
    d_pooled: &[f32],
    lens: &[usize],
    seq: usize,
    d: usize,
    how: Pooling,
) {
    dh.fill(0.0);
    for (b, (dp, &len)) in d_pooled.chunks_exact(d).zip(lens).enumerate() {
        let rows = &mut dh[b * seq * d..(b * seq + len) * d];
        match how {
            Pooling::Mean => {
                let inv = 1.0 / len as f32;
                for row in rows.chunks_exact_mut(d) {
                    for (o, v) in row.iter_mut().zip(dp) {
                        *o = v * inv;
                    }
                }
            }
            Pooling::Last => rows[(len - 1) * d..].copy_from_slice(dp),
        }
    }
}

/// `logits = pooled·Wᵀ + c`.
pub fn logits(out: &mut [f32], pooled: &[f32], w: &[f32], c: &[f32], d: usize) {
    let classes = c.len();
    let b = pooled.len() / d;
    matmul(
        out,
        classes,
        MatRef::new(pooled, b, d),
        MatRef::new(w, classes, d).t(),
        false,
        1.0,
        Par::Seq,
    );
    for row in out.chunks_exact_mut(classes) {
        for (o, c) in row.iter_mut().zip(c) {
            *o += c;
        }
    }
}

/// Mean cross-entropy of `logits: [B, C]` against `labels`; with `grad`, overwrites the logits
/// with ∂loss/∂logits.
pub fn cross_entropy(logits: &mut [f32], labels: &[usize], classes: usize, grad: bool) -> f32 {
    let inv_b = 1.0 / labels.len() as f32;
    let mut total = 0.0f64;
    for (row, &y) in logits.chunks_exact_mut(classes).zip(labels) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        let z: f32 = row.iter().map(|v| (v - m).exp()).sum();
        total += (z.ln() - (row[y] - m)) as f64;
        if grad {
            for v in row.iter_mut() {
                *v = (*v - m).exp() / z * inv_b;
            }
            row[y] -= inv_b;
        }
    }
    (total / labels.len() as f64) as f32
}

/// Gradients of the head: `dw = dzᵀ·P`, `dc = Σ dz` (overwritten), `d_pooled = dz·W`.
pub fn backward(
    dw: &mut [f32],
    dc: &mut [f32],
    d_pooled: &mut [f32],
    dz: &[f32],
    pooled: &[f32],
    w: &[f32],
    d: usize,
) {
    let classes = dc.len();
    let b = dz.len() / classes;
    let dz_m = MatRef::new(dz, b, classes);
    matmul(dw, d, dz_m.t(), MatRef::new(pooled, b, d), false, 1.0, Par::Seq);
    dc.fill(0.0);
    for row in dz.chunks_exact(classes) {
        for (o, v) in dc.iter_mut().zip(row) {
            *o += v;
        }
    }
    matmul(d_pooled, d, dz_m, MatRef::new(w, classes, d), false, 1.0, Par::Seq);
}
