//! Global gradient-norm clipping and AdamW, fused into one pass over the flat buffers.
//!
//! AdamW (Loshchilov & Hutter 2019, Algorithm 2; PyTorch's `torch.optim.AdamW`), step t ≥ 1,
//! gradient g already multiplied by the clip factor `c = min(1, clip/(‖g‖₂ + 1e-6))` (PyTorch's
//! `clip_grad_norm_`):
//! ```text
//! θ ← θ·(1 − lr·λ)          (decoupled weight decay, matrices only)
//! m ← β₁m + (1 − β₁)g
//! v ← β₂v + (1 − β₂)g²
//! θ ← θ − (lr/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε)
//! ```
//! Parameters, gradients and both moments live in four flat buffers laid out alike
//! ([`super::layout::Layout`]); the step runs over them in chunks of a few thousand values,
//! each chunk with its weight-decay flag, in parallel.

use super::simd::multiversion;
use crate::AdamW;
use rayon::prelude::*;

/// Values per parallel task of the optimizer.
const CHUNK: usize = 16 * 1024;

/// A contiguous run of the flat buffers with one weight-decay setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First index in the flat buffers.
    pub offset: usize,
    /// Number of values.
    pub len: usize,
    /// Whether decoupled weight decay applies (embeddings and linear weights).
    pub decay: bool,
}

/// ‖g‖₂ of the whole flat gradient, accumulated in f64.
pub fn grad_norm(grads: &[f32]) -> f32 {
    let sq: f64 = grads
        .par_chunks(CHUNK)
        .map(|g| {
            let mut acc = [0.0f32; 8];
            let chunks = g.chunks_exact(8);
            let rest: f32 = chunks.remainder().iter().map(|v| v * v).sum();
            for c in chunks {
                for i in 0..8 {
                    acc[i] += c[i] * c[i];
                }
            }
            acc.iter().map(|&v| v as f64).sum::<f64>() + rest as f64
        })
        .sum();
    sq.sqrt() as f32
}

/// The clip factor for gradient norm `norm`: 1 without clipping or below the threshold.
pub fn clip_factor(norm: f32, clip: Option<f32>) -> f32 {
    match clip {
        Some(c) if norm > c => c / (norm + 1e-6),
        _ => 1.0,
    }
}

/// One AdamW step at step number `t` (1 for the first), with the gradient scaled by
/// `grad_scale` (the clip factor).
#[allow(clippy::too_many_arguments)]
pub fn step(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    segments: &[Segment],
    t: u64,
    opt: &AdamW,
    grad_scale: f32,
) {
    let n = params.len();
    assert!(grads.len() == n && m.len() == n && v.len() == n, "adamw: buffers differ in size");
    let k = Coefficients::new(opt, t, grad_scale);
    // Cut the four buffers into (chunk, decay) tasks; segments tile [0, n) in order.
    let mut tasks = Vec::with_capacity(n / CHUNK + segments.len());
    let (mut p_rest, mut g_rest, mut m_rest, mut v_rest) = (params, grads, m, v);
    let mut pos = 0;
    for seg in segments {
        assert_eq!(seg.offset, pos, "adamw: segments must tile the buffer in order");
        let mut left = seg.len;
        while left > 0 {
            let take = left.min(CHUNK);
            let (p, pr) = std::mem::take(&mut p_rest).split_at_mut(take);
            let (g, gr) = g_rest.split_at(take);
            let (mm, mr) = std::mem::take(&mut m_rest).split_at_mut(take);
            let (vv, vr) = std::mem::take(&mut v_rest).split_at_mut(take);
            (p_rest, g_rest, m_rest, v_rest) = (pr, gr, mr, vr);
            tasks.push((p, g, mm, vv, seg.decay));
            left -= take;
        }
        pos += seg.len;
    }
    assert_eq!(pos, n, "adamw: segments cover {pos} of {n} values");
    tasks.into_par_iter().for_each(|(p, g, m, v, decay)| update(p, g, m, v, &k, decay));
}

/// The per-step scalars of the update.
#[derive(Debug, Clone, Copy)]
struct Coefficients {
    decay_factor: f32,
    beta1: f32,
    beta2: f32,
    step_size: f32,
    inv_sqrt_bc2: f32,
    eps: f32,
    grad_scale: f32,
}

impl Coefficients {
    fn new(opt: &AdamW, t: u64, grad_scale: f32) -> Self {
        let t = t.max(1) as i32;
        let bc1 = 1.0 - (opt.beta1 as f64).powi(t);
        let bc2 = 1.0 - (opt.beta2 as f64).powi(t);
        Self {
            decay_factor: 1.0 - opt.lr * opt.weight_decay,
            beta1: opt.beta1,
            beta2: opt.beta2,
            step_size: (opt.lr as f64 / bc1) as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
            eps: opt.eps,
            grad_scale,
        }
    }
}

multiversion! {
    fn update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: &Coefficients, decay: bool) {
        let decay_factor = if decay { k.decay_factor } else { 1.0 };
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = g * k.grad_scale;
            *m = k.beta1 * *m + (1.0 - k.beta1) * g;
            *v = k.beta2 * *v + (1.0 - k.beta2) * g * g;
            let denom = v.sqrt() * k.inv_sqrt_bc2 + k.eps;
            *p = *p * decay_factor - k.step_size * *m / denom;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_lr() {
        // At t = 1, m̂ = g and v̂ = g², so θ moves by lr·g/(|g| + ε) ≈ lr·sign(g), after decay.
        let opt = AdamW { lr: 0.1, weight_decay: 0.5, clip: None, ..AdamW::default() };
        let mut p = vec![1.0, 1.0, -2.0];
        let g = vec![0.5, -3.0, 0.25];
        let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
        let segs = [
            Segment { offset: 0, len: 2, decay: true },
            Segment { offset: 2, len: 1, decay: false },
        ];
        step(&mut p, &g, &mut m, &mut v, &segs, 1, &opt, 1.0);
        let want = [1.0 * 0.95 - 0.1, 1.0 * 0.95 + 0.1, -2.0 - 0.1];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{p:?} vs {want:?}");
        }
    }

    #[test]
    fn norm_and_clip() {
        let g = vec![3.0f32; 4 * CHUNK + 3];
        let want = (9.0f64 * g.len() as f64).sqrt() as f32;
        assert!((grad_norm(&g) - want).abs() / want < 1e-6);
        assert_eq!(clip_factor(0.5, Some(1.0)), 1.0);
        assert!((clip_factor(4.0, Some(1.0)) - 0.25).abs() < 1e-6);
        assert_eq!(clip_factor(4.0, None), 1.0);
    }
}
