//! Token and position embedding.
//!
//! Forward: `x[b, t, :] = wte[idx[b, t], :] + wpe[t, :]` for `x: [B·T, d]`,
//! `wte: [vocab, d]`, `wpe: [context, d]` (GPT-2, Radford et al. 2019: learned positions).
//!
//! Backward: `dwte[v, :] = Σ_{(b,t): idx[b,t] = v} dx[b, t, :]`, `dwpe[t, :] = Σ_b dx[b, t, :]`;
//! rows of `wpe` beyond the sequence length get zero gradient.

use super::parallel::rows_per_task;
use rayon::prelude::*;

/// `x = wte[idx] + wpe[position]`, for `idx` holding `idx.len() / seq` rows of `seq` tokens.
/// Token ids must be `< wte.len() / d` (checked by the engine before the call).
pub fn forward(x: &mut [f32], idx: &[u32], wte: &[f32], wpe: &[f32], seq: usize, d: usize) {
    assert_eq!(
        x.len(),
        idx.len() * d,
        "embedding: x holds {} values, want {}·{d}",
        x.len(),
        idx.len()
    );
    let chunk = rows_per_task(idx.len(), d);
    x.par_chunks_mut(chunk * d).zip(idx.par_chunks(chunk)).enumerate().for_each(|(c, (x, idx))| {
        for (r, (row, &tok)) in x.chunks_exact_mut(d).zip(idx).enumerate() {
            let t = (c * chunk + r) % seq;
            let tok = tok as usize;
            let e = &wte[tok * d..(tok + 1) * d];
            let p = &wpe[t * d..(t + 1) * d];
            for ((o, a), b) in row.iter_mut().zip(e).zip(p) {
                *o = a + b;
            }
        }
    });
}

/// Overwrites `dwte` and `dwpe` with the gradients of the embedding given `dx`.
pub fn backward(dwte: &mut [f32], dwpe: &mut [f32], dx: &[f32], idx: &[u32], seq: usize, d: usize) {
    dwte.fill(0.0);
    dwpe.fill(0.0);
    // Scatter-adds: a few hundred thousand additions, memory-bound and too small to be worth
    // splitting the vocabulary among threads.
    for (row, &tok) in dx.chunks_exact(d).zip(idx) {
        let tok = tok as usize;
        for (g, v) in dwte[tok * d..(tok + 1) * d].iter_mut().zip(row) {
            *g += v;
        }
    }
    for (i, row) in dx.chunks_exact(d).enumerate() {
        let t = i % seq;
        for (g, v) in dwpe[t * d..(t + 1) * d].iter_mut().zip(row) {
            *g += v;
        }
    }
}
