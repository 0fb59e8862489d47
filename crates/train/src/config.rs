//! The GPT model's hyperparameters.
//!
//! The model is GPT-2 style (Radford et al. 2019) as in nanoGPT and
//! tools/torch_gpt_reference.py: pre-LayerNorm blocks, learned positions, causal
//! multi-head attention, tanh-GELU MLP of width 4·d, biases on every linear layer, and an
//! untied output head without bias.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The longest context the trainer takes. Its attention keeps each head's T×T probabilities
/// for the backward pass (`kernels/attention.rs`): 4·T² bytes per head and batch row, 16 GiB
/// at T = 65,536, more than any machine this trainer is for can hold with a model beside it.
pub const MAX_CONTEXT: usize = 65_536;

/// Hyperparameters of the GPT model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Residual width.
    pub d_model: usize,
    /// Attention heads; must divide `d_model`.
    pub n_head: usize,
    /// Vocabulary size (256 for the byte-level tokenizer).
    pub vocab: usize,
    /// Context length (the size of the learned position table).
    pub context: usize,
}

impl GptConfig {
    /// Validates and builds a config.
    pub fn new(
        n_layer: usize,
        d_model: usize,
        n_head: usize,
        vocab: usize,
        context: usize,
    ) -> Result<Self> {
        let cfg = Self { n_layer, d_model, n_head, vocab, context };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks sizes: all positive, heads divide the width.
    pub fn validate(&self) -> Result<()> {
        if self.n_layer == 0
            || self.d_model == 0
            || self.n_head == 0
            || self.vocab == 0
            || self.context == 0
        {
            return Err(Error::InvalidConfig(format!(
                "every size must be positive, got n_layer = {}, d_model = {}, n_head = {}, \
                 vocab = {}, context = {}",
                self.n_layer, self.d_model, self.n_head, self.vocab, self.context
            )));
        }
        if self.context > MAX_CONTEXT {
            return Err(Error::InvalidConfig(format!(
                "context = {} is more than the trainer's {MAX_CONTEXT}: attention keeps every \
                 head's T×T probabilities (4·T² bytes per head and row)",
                self.context
            )));
        }
        if !self.d_model.is_multiple_of(self.n_head) {
            return Err(Error::InvalidConfig(format!(
                "n_head = {} does not divide d_model = {}",
                self.n_head, self.d_model
            )));
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_head
    }

    /// The shape as isoflop-cost sees it: the single definition of parameter counts and FLOPs.
    pub fn shape(&self) -> isoflop_cost::ModelShape {
        isoflop_cost::ModelShape::gpt2(
            self.n_layer as u64,
            self.d_model as u64,
            self.n_head as u64,
            self.vocab as u64,
            self.context as u64,
            false,
        )
        .expect("a validated GptConfig is a valid gpt2 shape")
    }

    /// The parameter tensors' names and shapes, in a fixed order, named as PyTorch's
    /// `state_dict` of the reference model (Linear weights are `[out, in]`).
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (d, v, t) = (self.d_model, self.vocab, self.context);
        let mut out =
            vec![("wte.weight".to_string(), vec![v, d]), ("wpe.weight".to_string(), vec![t, d])];
        for i in 0..self.n_layer {
            let p = |s: &str| format!("h.{i}.{s}");
            out.extend([
                (p("ln_1.weight"), vec![d]),
                (p("ln_1.bias"), vec![d]),
                (p("attn.c_attn.weight"), vec![3 * d, d]),
                (p("attn.c_attn.bias"), vec![3 * d]),
                (p("attn.c_proj.weight"), vec![d, d]),
                (p("attn.c_proj.bias"), vec![d]),
                (p("ln_2.weight"), vec![d]),
                (p("ln_2.bias"), vec![d]),
                (p("mlp.c_fc.weight"), vec![4 * d, d]),
                (p("mlp.c_fc.bias"), vec![4 * d]),
                (p("mlp.c_proj.weight"), vec![d, 4 * d]),
                (p("mlp.c_proj.bias"), vec![d]),
            ]);
        }
        out.push(("ln_f.weight".to_string(), vec![d]));
        out.push(("ln_f.bias".to_string(), vec![d]));
        out.push(("lm_head.weight".to_string(), vec![v, d]));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_shapes_match_cost_count() {
        let cfg = GptConfig::new(4, 128, 4, 256, 128).unwrap();
        let n: usize = cfg.param_shapes().iter().map(|(_, s)| s.iter().product::<usize>()).sum();
        assert_eq!(n as u64, cfg.shape().params().total);
        assert_eq!(n, 875_264);
    }
}
