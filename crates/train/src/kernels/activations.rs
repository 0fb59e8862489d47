//! The activations of one batch shape, allocated once and reused by every step.
//!
//! Shapes for B batch rows of T tokens (N = B·T), width d, H heads, L layers, vocabulary V:
//! the residual stream before and after each sub-block (`2L + 1` buffers `[N, d]`), per layer
//! the two LayerNorm outputs `[N, d]` with their row statistics `[N]`, the fused projection
//! `[N, 3d]`, the attention probabilities `[B, H, T, T]` and output `[N, d]`, the MLP's
//! pre-activation and GELU output `[N, 4d]`; then the final LayerNorm and the logits `[N, V]`;
//! and four gradient buffers for the backward pass. At shape M (L 6, d 256, B 32, T 128) that
//! is about 132 M floats, 530 MB.

use super::attention::AttnShape;
use crate::GptConfig;

/// One layer's saved activations.
#[derive(Debug)]
pub struct LayerActs {
    /// LayerNorm 1 output `[N, d]`.
    pub ln1: Vec<f32>,
    /// LayerNorm 1 row means `[N]`.
    pub ln1_mean: Vec<f32>,
    /// LayerNorm 1 row 1/σ `[N]`.
    pub ln1_rstd: Vec<f32>,
    /// Fused q, k, v projection `[N, 3d]`.
    pub qkv: Vec<f32>,
    /// Attention probabilities `[B, H, T, T]` (causal: the upper triangle is never read).
    pub probs: Vec<f32>,
    /// Attention output before its projection `[N, d]`.
    pub att: Vec<f32>,
    /// LayerNorm 2 output `[N, d]`.
    pub ln2: Vec<f32>,
    /// LayerNorm 2 row means `[N]`.
    pub ln2_mean: Vec<f32>,
    /// LayerNorm 2 row 1/σ `[N]`.
    pub ln2_rstd: Vec<f32>,
    /// MLP product `x·W_fcᵀ` `[N, 4d]`, before its bias (added inside the GELU).
    pub fc_pre: Vec<f32>,
    /// MLP GELU output `[N, 4d]`.
    pub fc_act: Vec<f32>,
}

/// Every buffer of one (batch, seq) shape.
#[derive(Debug)]
pub struct Activations {
    /// Batch rows B.
    pub batch: usize,
    /// Tokens per row T.
    pub seq: usize,
    /// Residual stream: `x_0` (embeddings), then per layer `mid_l` (after attention) and
    /// `x_{l+1}` (after the MLP); `2L + 1` buffers `[N, d]`.
    pub resid: Vec<Vec<f32>>,
    /// Per-layer activations.
    pub layers: Vec<LayerActs>,
    /// Final LayerNorm output `[N, d]`.
    pub lnf: Vec<f32>,
    /// Final LayerNorm row means `[N]`.
    pub lnf_mean: Vec<f32>,
    /// Final LayerNorm row 1/σ `[N]`.
    pub lnf_rstd: Vec<f32>,
    /// Logits `[N, V]`, then their gradient.
    pub logits: Vec<f32>,
    /// Gradient of the residual stream `[N, d]`.
    pub d_resid: Vec<f32>,
    /// Gradient scratch `[N, d]`.
    pub d_tmp: Vec<f32>,
    /// Gradient of the fused projection `[N, 3d]`.
    pub d_qkv: Vec<f32>,
    /// Gradient of the MLP hidden layer `[N, 4d]`.
    pub d_fc: Vec<f32>,
}

impl Activations {
    /// Allocates every buffer for `batch` rows of `seq` tokens.
    pub fn new(cfg: &GptConfig, batch: usize, seq: usize) -> Self {
        let n = batch * seq;
        let d = cfg.d_model;
        let z = |len: usize| vec![0.0f32; len];
        let probs = AttnShape { batch, seq, n_head: cfg.n_head, d }.probs_len();
        let layers = (0..cfg.n_layer)
            .map(|_| LayerActs {
                ln1: z(n * d),
                ln1_mean: z(n),
                ln1_rstd: z(n),
                qkv: z(n * 3 * d),
                probs: z(probs),
                att: z(n * d),
                ln2: z(n * d),
                ln2_mean: z(n),
                ln2_rstd: z(n),
                fc_pre: z(n * 4 * d),
                fc_act: z(n * 4 * d),
            })
            .collect();
        Self {
            batch,
            seq,
            resid: (0..2 * cfg.n_layer + 1).map(|_| z(n * d)).collect(),
            layers,
            lnf: z(n * d),
            lnf_mean: z(n),
            lnf_rstd: z(n),
            logits: z(n * cfg.vocab),
            d_resid: z(n * d),
            d_tmp: z(n * d),
            d_qkv: z(n * 3 * d),
            d_fc: z(n * 4 * d),
        }
    }

    /// The attention call's shape.
    pub fn attn_shape(&self, cfg: &GptConfig) -> AttnShape {
        AttnShape { batch: self.batch, seq: self.seq, n_head: cfg.n_head, d: cfg.d_model }
    }
}
