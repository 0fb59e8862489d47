//! Residual connection fused with the bias of the projection that feeds it.
//!
//! A block's branches end in a projection added to the stream: `x' = x + (h·Wᵀ + b)`
//! (He et al. 2016; pre-LN as GPT-2). Forward writes `x' = x + b` here and the projection's
//! `gemm` then accumulates `h·Wᵀ` into it, so the sum costs no extra pass.
//!
//! Backward: `∂x'/∂x = I`, so the stream's gradient flows on unchanged (the engine keeps one
//! buffer for it and the branch adds to it); `db = Σ_rows dx'`.

use super::linear::column_sums;
use super::parallel::rows_per_task;
use rayon::prelude::*;

/// `out[i, :] = x[i, :] + b`.
pub fn forward(out: &mut [f32], x: &[f32], b: &[f32]) {
    let d = b.len();
    assert_eq!(out.len(), x.len(), "residual: out and x differ in size");
    let chunk = rows_per_task(x.len() / d, d);
    out.par_chunks_mut(chunk * d).zip(x.par_chunks(chunk * d)).for_each(|(out, x)| {
        for (o, x) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
            for ((o, x), b) in o.iter_mut().zip(x).zip(b) {
                *o = x + b;
            }
        }
    });
}

/// Overwrites `db` with the bias gradient, given the gradient `dout` of the stream.
pub fn backward(db: &mut [f32], dout: &[f32]) {
    column_sums(db, dout);
}
