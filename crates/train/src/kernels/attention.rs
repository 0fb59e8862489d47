//! Causal multi-head self-attention, fused per head (Vaswani et al. 2017; GPT-2's masking).
//!
//! Input: the fused projection `qkv: [B·T, 3d]`, queries in columns `[0, d)`, keys in
//! `[d, 2d)`, values in `[2d, 3d)`, head h in columns `h·hd .. (h+1)·hd` of each (hd = d/H),
//! as PyTorch's `c_attn(x).view(B, T, 3, H, hd)` of the reference model.
//!
//! Forward, per batch row b and head h, with `Q, K, V: [T, hd]` read in place (row stride 3d):
//! `S = Q·Kᵀ/√hd`, `P = softmax(S + M)` with `M[i, j] = −∞` for j > i, `Y = P·V` written to
//! `y: [B·T, d]` at the head's columns. P is kept (`[B, H, T, T]`) for the backward pass.
//!
//! Backward, given `dY`: `dV = Pᵀ·dY`, `dP = dY·Vᵀ`,
//! `dS = P ⊙ (dP − rowsum(dP ⊙ P))/√hd` (softmax backward), `dQ = dS·K`, `dK = dSᵀ·Q`.
//!
//! Causality is used, not only masked: rows are taken in blocks of [`BLOCK`], and block
//! `[r0, r1)` multiplies only against keys `[0, r1)`, which skips about 3/8 of the products at
//! T = 128 (PyTorch's eager reference computes the whole T×T square and masks it). Work is
//! split across threads by batch row, each owning a contiguous slice of every buffer.

use super::matmul::{MatRef, Par, matmul};
use super::simd::{self, multiversion};
use rayon::prelude::*;

/// Query rows per block of the causal product.
pub const BLOCK: usize = 32;

/// Sizes of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttnShape {
    /// Batch rows B.
    pub batch: usize,
    /// Sequence length T.
    pub seq: usize,
    /// Heads H.
    pub n_head: usize,
    /// Model width d (H·hd).
    pub d: usize,
}

impl AttnShape {
    fn hd(&self) -> usize {
        self.d / self.n_head
    }

    /// Values in the saved attention probabilities `[B, H, T, T]`.
    pub fn probs_len(&self) -> usize {
        self.batch * self.n_head * self.seq * self.seq
    }

    fn blocks(&self) -> impl DoubleEndedIterator<Item = (usize, usize)> + use<> {
        let t = self.seq;
        (0..t.div_ceil(BLOCK)).map(move |i| (i * BLOCK, ((i + 1) * BLOCK).min(t)))
    }
}

/// `y = softmax(mask(Q·Kᵀ/√hd))·V` per head; saves the probabilities in `probs`.
pub fn forward(y: &mut [f32], probs: &mut [f32], qkv: &[f32], s: AttnShape) {
    let (t, d) = (s.seq, s.d);
    assert_eq!(qkv.len(), s.batch * t * 3 * d, "attention: qkv is not [B·T, 3d]");
    assert_eq!(y.len(), s.batch * t * d, "attention: y is not [B·T, d]");
    assert_eq!(probs.len(), s.probs_len(), "attention: probs is not [B, H, T, T]");
    y.par_chunks_mut(t * d)
        .zip(probs.par_chunks_mut(s.n_head * t * t))
        .zip(qkv.par_chunks(t * 3 * d))
        .for_each(|((y, probs), qkv)| forward_one(y, probs, qkv, s));
}

fn forward_one(y: &mut [f32], probs: &mut [f32], qkv: &[f32], s: AttnShape) {
    let (t, d, hd) = (s.seq, s.d, s.hd());
    let scale = 1.0 / (hd as f32).sqrt();
    for (h, p) in probs.chunks_exact_mut(t * t).enumerate() {
        let q = &qkv[h * hd..];
        let k = &qkv[d + h * hd..];
        let v = &qkv[2 * d + h * hd..];
        for (r0, r1) in s.blocks() {
            let rows = r1 - r0;
            let qb = MatRef::strided(&q[r0 * 3 * d..], rows, hd, 3 * d);
            let kb = MatRef::strided(k, r1, hd, 3 * d);
            let pb = &mut p[r0 * t..];
            matmul(pb, t, qb, kb.t(), false, scale, Par::Seq);
            for (i, row) in pb.chunks_mut(t).take(rows).enumerate() {
                softmax_causal(&mut row[..r1], r0 + i + 1);
            }
            let vb = MatRef::strided(v, r1, hd, 3 * d);
            let pm = MatRef::strided(&p[r0 * t..], rows, r1, t);
            matmul(&mut y[r0 * d + h * hd..], d, pm, vb, false, 1.0, Par::Seq);
        }
    }
}

multiversion! {
    /// Softmax over `row[..valid]`; zeroes `row[valid..]` (the masked future).
    fn softmax_causal(row: &mut [f32], valid: usize) {
        let (live, masked) = row.split_at_mut(valid);
        let m = simd::max(live);
        for x in live.iter_mut() {
            *x = simd::exp(*x - m);
        }
        let inv = 1.0 / simd::sum(live);
        for x in live.iter_mut() {
            *x *= inv;
        }
        masked.fill(0.0);
    }
}

/// Overwrites `dqkv: [B·T, 3d]` with the gradient of the fused projection, given `dy` and the
/// forward pass's `qkv` and `probs`. `probs` is used as scratch and destroyed.
pub fn backward(dqkv: &mut [f32], probs: &mut [f32], dy: &[f32], qkv: &[f32], s: AttnShape) {
    let (t, d) = (s.seq, s.d);
    assert_eq!(dqkv.len(), qkv.len(), "attention: dqkv and qkv differ in size");
    assert_eq!(dy.len(), s.batch * t * d, "attention: dy is not [B·T, d]");
    assert_eq!(probs.len(), s.probs_len(), "attention: probs is not [B, H, T, T]");
    dqkv.par_chunks_mut(t * 3 * d)
        .zip(probs.par_chunks_mut(s.n_head * t * t))
        .zip(qkv.par_chunks(t * 3 * d))
        .zip(dy.par_chunks(t * d))
        .for_each_init(
            || vec![0.0f32; t * t],
            |dp, (((dqkv, probs), qkv), dy)| backward_one(dqkv, probs, dp, dy, qkv, s),
        );
}

fn backward_one(
    dqkv: &mut [f32],
    probs: &mut [f32],
    dp: &mut [f32],
    dy: &[f32],
    qkv: &[f32],
    s: AttnShape,
) {
    let (t, d, hd) = (s.seq, s.d, s.hd());
    let scale = 1.0 / (hd as f32).sqrt();
    for (h, p) in probs.chunks_exact_mut(t * t).enumerate() {
        let q = &qkv[h * hd..];
        let k = &qkv[d + h * hd..];
        let v = &qkv[2 * d + h * hd..];
        let (qo, ko, vo) = (h * hd, d + h * hd, 2 * d + h * hd);
        // The last block spans every key, so it writes dK and dV whole; earlier blocks add.
        for (n, (r0, r1)) in s.blocks().rev().enumerate() {
            let rows = r1 - r0;
            let first = n == 0;
            let dyb = MatRef::strided(&dy[r0 * d + h * hd..], rows, hd, d);
            let pb = MatRef::strided(&p[r0 * t..], rows, r1, t);
            // dV[0..r1] (+)= P[r0..r1, 0..r1]ᵀ · dY[r0..r1]
            matmul(&mut dqkv[vo..], 3 * d, pb.t(), dyb, !first, 1.0, Par::Seq);
            // dP[r0..r1, 0..r1] = dY[r0..r1] · V[0..r1]ᵀ
            let vb = MatRef::strided(v, r1, hd, 3 * d);
            matmul(&mut dp[r0 * t..], t, dyb, vb.t(), false, 1.0, Par::Seq);
            for i in 0..rows {
                let row = (r0 + i) * t;
                softmax_backward(&mut p[row..row + r1], &dp[row..row + r1], scale);
            }
            // dQ[r0..r1] = dS · K[0..r1]
            let ds = MatRef::strided(&p[r0 * t..], rows, r1, t);
            let kb = MatRef::strided(k, r1, hd, 3 * d);
            matmul(&mut dqkv[r0 * 3 * d + qo..], 3 * d, ds, kb, false, 1.0, Par::Seq);
            // dK[0..r1] (+)= dSᵀ · Q[r0..r1]
            let qb = MatRef::strided(&q[r0 * 3 * d..], rows, hd, 3 * d);
            matmul(&mut dqkv[ko..], 3 * d, ds.t(), qb, !first, 1.0, Par::Seq);
        }
    }
}

multiversion! {
    /// `p = p ⊙ (dp − Σ p⊙dp)·scale` in place: the softmax backward with the score scale folded
    /// in. Masked entries have p = 0 and stay 0.
    fn softmax_backward(p: &mut [f32], dp: &[f32], scale: f32) {
        let c = simd::dot(p, dp);
        for (p, dp) in p.iter_mut().zip(dp) {
            *p *= (dp - c) * scale;
        }
    }
}
