//! Bottleneck adapters (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP",
//! §2.1 and Figure 2): after a sub-layer's output projection, before the residual add,
//! `h' = h + gelu(h·Dᵀ + b_D)·Uᵀ + b_U` with `D: [m, d]`, `U: [d, m]`, m ≪ d.
//!
//! Houlsby et al. initialise near the identity; here D is drawn as the model's other matrices
//! (N(0, 0.02²)) and U and both biases start at zero, so `h' = h` exactly at step 0 while D
//! still gets a gradient once U moves. The GELU is the model's own tanh form, fused with b_D.
//! Backward, given dh': `dU = dh'ᵀ·z`, `db_U = Σ dh'`, `dz = dh'·U`, `dpre = dz ⊙ gelu'`,
//! `db_D = Σ dpre`, `dD = dpreᵀ·h`, `dh = dh' + dpre·D`.

use crate::kernels::gelu;
use crate::kernels::linear::column_sums;
use crate::kernels::matmul::{MatRef, Par, matmul};

/// The adapter's weights, as slices.
#[derive(Debug, Clone, Copy)]
pub struct AdapterWeights<'a> {
    /// Down projection `D: [m, d]`.
    pub down_w: &'a [f32],
    /// Its bias `[m]`.
    pub down_b: &'a [f32],
    /// Up projection `U: [d, m]`.
    pub up_w: &'a [f32],
    /// Its bias `[d]`.
    pub up_b: &'a [f32],
}

/// Adds the adapter's output into `out` (which already holds `h` plus whatever else the
/// residual sums): `out += gelu(h·Dᵀ + b_D)·Uᵀ + b_U`. Saves `pre = h·Dᵀ` and `z`.
pub fn forward(
    out: &mut [f32],
    pre: &mut [f32],
    z: &mut [f32],
    h: &[f32],
    w: AdapterWeights<'_>,
    d: usize,
    par: Par,
) {
    let m = w.down_b.len();
    let n = h.len() / d;
    matmul(pre, m, MatRef::new(h, n, d), MatRef::new(w.down_w, m, d).t(), false, 1.0, par);
    gelu::forward(z, pre, w.down_b);
    matmul(out, d, MatRef::new(z, n, m), MatRef::new(w.up_w, d, m).t(), true, 1.0, par);
    crate::kernels::linear::add_bias(out, w.up_b);
}

/// The adapter's gradients. On entry `dh` holds dh' (the gradient of the adapter's output);
/// on return it holds dh. `dz` is scratch `[n, m]`; the four weight gradients are overwritten.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    dh: &mut [f32],
    dz: &mut [f32],
    g: [&mut [f32]; 4],
    pre: &[f32],
    z: &[f32],
    h: &[f32],
    w: AdapterWeights<'_>,
    d: usize,
    par: Par,
) {
    let [g_down_w, g_down_b, g_up_w, g_up_b] = g;
    let m = w.down_b.len();
    let n = h.len() / d;
    let dh_m = MatRef::new(dh, n, d);
    matmul(g_up_w, m, dh_m.t(), MatRef::new(z, n, m), false, 1.0, par);
    column_sums(g_up_b, dh);
    matmul(dz, m, dh_m, MatRef::new(w.up_w, d, m), false, 1.0, par);
    gelu::backward(dz, g_down_b, pre, w.down_b); // dz now dpre
    let dpre = MatRef::new(dz, n, m);
    matmul(g_down_w, d, dpre.t(), MatRef::new(h, n, d), false, 1.0, par);
    matmul(dh, d, dpre, MatRef::new(w.down_w, m, d), true, 1.0, par);
}
