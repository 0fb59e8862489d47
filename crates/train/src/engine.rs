//! The contract between the trainer and a training engine.
//!
//! The trainer owns the data, the schedule, evaluation, checkpoints and measurement; an engine
//! owns the weights, gradients and optimizer state and does the arithmetic. Two engines exist:
//! `candle` (autograd, the reference and the CUDA path) and `kernels` (hand-fused CPU forward
//! and backward). Checkpoints hold [`NamedTensor`]s named as the PyTorch reference's
//! `state_dict`, so either engine can resume the other's run.

use crate::{Error, GptConfig, Result};
use serde::{Deserialize, Serialize};

/// AdamW hyperparameters for one step (Loshchilov & Hutter 2019).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamW {
    /// Learning rate for this step (the trainer applies the schedule).
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay; 0.95 as in Chinchilla/GPT-3 training recipes.
    pub beta2: f32,
    /// Denominator epsilon.
    pub eps: f32,
    /// Decoupled weight decay, applied to weight matrices only: embeddings and linear weights,
    /// never biases or LayerNorm parameters (as in nanoGPT).
    pub weight_decay: f32,
    /// Global gradient-norm clip (None: no clipping).
    pub clip: Option<f32>,
}

impl Default for AdamW {
    fn default() -> Self {
        Self { lr: 3e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1, clip: Some(1.0) }
    }
}

/// A named f32 tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Name, e.g. `h.0.attn.c_attn.weight`, or `adam_m.h.0.attn.c_attn.weight` for moments.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// A training engine: weights, gradients and AdamW state of one GPT model.
///
/// Token batches are `batch` rows of `seq` tokens, row-major; `seq <= config().context`.
pub trait Engine: Send {
    /// Short name: `candle` or `kernels`.
    fn name(&self) -> &'static str;

    /// The model's hyperparameters.
    fn config(&self) -> &GptConfig;

    /// Forward and backward on one batch; gradients are overwritten (not accumulated).
    /// Returns the mean cross-entropy loss in nats per token.
    fn forward_backward(
        &mut self,
        inputs: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> Result<f32>;

    /// Clips the gradients to `opt.clip` and applies one AdamW step. Returns the gradient norm
    /// before clipping.
    fn step(&mut self, opt: &AdamW) -> Result<f32>;

    /// Mean cross-entropy loss of one batch, without touching gradients.
    fn eval_loss(
        &mut self,
        inputs: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> Result<f32>;

    /// Weights, named as [`GptConfig::param_shapes`].
    fn weights(&self) -> Result<Vec<NamedTensor>>;

    /// The gradients of the last [`Engine::forward_backward`], named as the weights.
    fn gradients(&self) -> Result<Vec<NamedTensor>>;

    /// Replaces the weights (every name of [`GptConfig::param_shapes`] must be present).
    fn set_weights(&mut self, weights: &[NamedTensor]) -> Result<()>;

    /// AdamW state: the step count and the moments, as `adam_m.<name>` and `adam_v.<name>`.
    fn optimizer_state(&self) -> Result<(u64, Vec<NamedTensor>)>;

    /// Restores AdamW state saved by [`Engine::optimizer_state`] of either engine.
    fn set_optimizer_state(&mut self, step: u64, moments: &[NamedTensor]) -> Result<()>;
}

/// Checks a token batch against the [`Engine`] contract: `batch` rows of `seq` tokens, row-major,
/// `1 <= seq <= context`, every token inside the vocabulary. Both engines call it first, so a bad
/// batch gets the same message whichever engine runs.
pub(crate) fn check_batch(
    engine: &'static str,
    cfg: &GptConfig,
    inputs: &[u32],
    targets: &[u32],
    batch: usize,
    seq: usize,
) -> Result<()> {
    let bad = |message: String| Err(Error::Engine { engine, message });
    if batch == 0 || seq == 0 || seq > cfg.context {
        return bad(format!(
            "batch {batch} × seq {seq}: need batch ≥ 1 and 1 ≤ seq ≤ context {}",
            cfg.context
        ));
    }
    if inputs.len() != batch * seq || targets.len() != batch * seq {
        return bad(format!(
            "{} inputs and {} targets for batch {batch} × seq {seq}",
            inputs.len(),
            targets.len()
        ));
    }
    if let Some(&tok) = inputs.iter().chain(targets).find(|&&x| x as usize >= cfg.vocab) {
        return bad(format!("token {tok} is outside the vocabulary of {}", cfg.vocab));
    }
    Ok(())
}

/// Finds the tensor named `full` in `given` and checks that it has `shape`, for an engine loading
/// weights or optimizer moments saved by either engine.
pub(crate) fn find_named<'a>(
    engine: &'static str,
    given: &'a [NamedTensor],
    full: &str,
    shape: &[usize],
) -> Result<&'a NamedTensor> {
    let t = given
        .iter()
        .find(|t| t.name == full)
        .ok_or_else(|| Error::Engine { engine, message: format!("tensor `{full}` is missing") })?;
    if t.shape != shape || t.data.len() != shape.iter().product::<usize>() {
        return Err(Error::Engine {
            engine,
            message: format!(
                "tensor `{full}` has shape {:?} ({} values), expected {shape:?}",
                t.shape,
                t.data.len()
            ),
        });
    }
    Ok(t)
}
