//! LoRA: a frozen projection `W: [out, in]` plus a trained low-rank update (Hu et al. 2021,
//! "LoRA: Low-Rank Adaptation of Large Language Models", eq. 3):
//! `y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ` with `A: [r, in]`, `B: [out, r]`, `s = α/r`.
//!
//! A starts as loralib's `kaiming_uniform_(a=√5)`, uniform in ±1/√in; B starts at zero, so
//! the update is zero and step 0 is the pretrained model.
//! Forward saves `u = x·Aᵀ` (`[n, r]`). Backward, given dy:
//! `dB = s·dyᵀ·u`, `du = s·dy·B`, `dA = duᵀ·x`, `dx += du·A`.
//! Merging (`--merge`) folds the update into the weight: `W' = W + s·B·A`.

use crate::kernels::matmul::{MatRef, Par, matmul};

/// The shape of one LoRA update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoraShape {
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
    /// Rank.
    pub rank: usize,
}

/// `u = x·Aᵀ` and `y += s·u·Bᵀ`.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    y: &mut [f32],
    u: &mut [f32],
    x: &[f32],
    a: &[f32],
    b: &[f32],
    s: f32,
    sh: LoraShape,
    par: Par,
) {
    let n = x.len() / sh.d_in;
    matmul(
        u,
        sh.rank,
        MatRef::new(x, n, sh.d_in),
        MatRef::new(a, sh.rank, sh.d_in).t(),
        false,
        1.0,
        par,
    );
    matmul(
        y,
        sh.d_out,
        MatRef::new(u, n, sh.rank),
        MatRef::new(b, sh.d_out, sh.rank).t(),
        true,
        s,
        par,
    );
}

/// Overwrites `da`, `db`; adds the input gradient into `dx`; `du` is scratch `[n, r]`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    da: &mut [f32],
    db: &mut [f32],
    dx: &mut [f32],
    du: &mut [f32],
    dy: &[f32],
    x: &[f32],
    u: &[f32],
    a: &[f32],
    b: &[f32],
    s: f32,
    sh: LoraShape,
    par: Par,
) {
    let n = x.len() / sh.d_in;
    let dy_m = MatRef::new(dy, n, sh.d_out);
    matmul(db, sh.rank, dy_m.t(), MatRef::new(u, n, sh.rank), false, s, par);
    matmul(du, sh.rank, dy_m, MatRef::new(b, sh.d_out, sh.rank), false, s, par);
    let du_m = MatRef::new(du, n, sh.rank);
    matmul(da, sh.d_in, du_m.t(), MatRef::new(x, n, sh.d_in), false, 1.0, par);
    matmul(dx, sh.d_in, du_m, MatRef::new(a, sh.rank, sh.d_in), true, 1.0, par);
}

/// `w += s·B·A`: the merged weight.
pub fn merge(w: &mut [f32], a: &[f32], b: &[f32], s: f32, sh: LoraShape) {
    matmul(
        w,
        sh.d_in,
        MatRef::new(b, sh.d_out, sh.rank),
        MatRef::new(a, sh.rank, sh.d_in),
        true,
        s,
        Par::Seq,
    );
}
