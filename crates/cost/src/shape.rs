//! A decoder-only transformer's shape.
//!
//! Two families cover the models people plan with:
//! - `gpt2`: LayerNorm (weight and bias), GELU MLP of width 4·d, learned positions, biases on
//!   every linear layer (Radford et al. 2019).
//! - `llama`: RMSNorm (weight only), SwiGLU MLP with an intermediate size, rotary positions (no
//!   parameters), grouped-query attention with `n_kv_heads`, no biases (Touvron et al. 2023).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Architecture family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// GPT-2: LayerNorm, GELU MLP, learned positions, biases.
    Gpt2,
    /// Llama: RMSNorm, SwiGLU, RoPE, grouped-query attention, no biases.
    Llama,
}

/// The shape of a decoder-only transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelShape {
    /// Architecture family.
    pub family: Family,
    /// Number of transformer blocks.
    pub n_layer: u64,
    /// Residual stream width.
    pub d_model: u64,
    /// Query heads.
    pub n_head: u64,
    /// Key/value heads (grouped-query attention); equals `n_head` for multi-head attention.
    pub n_kv_heads: u64,
    /// Width of one head (usually `d_model / n_head`).
    pub head_dim: u64,
    /// MLP hidden width (4·d for GPT-2; the intermediate size for Llama).
    pub d_ff: u64,
    /// Vocabulary size.
    pub vocab: u64,
    /// Context length (also the learned position table's size for GPT-2).
    pub context: u64,
    /// Whether the output head shares the token embedding's weights.
    pub tied_embeddings: bool,
}

impl ModelShape {
    /// A GPT-2 family shape with head_dim = d_model / n_head and d_ff = 4·d_model.
    pub fn gpt2(
        n_layer: u64,
        d_model: u64,
        n_head: u64,
        vocab: u64,
        context: u64,
        tied_embeddings: bool,
    ) -> Result<Self> {
        if n_head == 0 || !d_model.is_multiple_of(n_head) {
            return Err(Error::InvalidShape(format!(
                "n_head = {n_head} does not divide d_model = {d_model}"
            )));
        }
        let shape = Self {
            family: Family::Gpt2,
            n_layer,
            d_model,
            n_head,
            n_kv_heads: n_head,
            head_dim: d_model / n_head,
            d_ff: 4 * d_model,
            vocab,
            context,
            tied_embeddings,
        };
        shape.validate()?;
        Ok(shape)
    }

    /// Checks that every size is positive and the heads are consistent.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("n_layer", self.n_layer),
            ("d_model", self.d_model),
            ("n_head", self.n_head),
            ("n_kv_heads", self.n_kv_heads),
            ("head_dim", self.head_dim),
            ("d_ff", self.d_ff),
            ("vocab", self.vocab),
            ("context", self.context),
        ] {
            if v == 0 {
                return Err(Error::InvalidShape(format!("{name} must be positive, got 0")));
            }
        }
        if !self.n_head.is_multiple_of(self.n_kv_heads) {
            return Err(Error::InvalidShape(format!(
                "n_kv_heads = {} does not divide n_head = {}",
                self.n_kv_heads, self.n_head
            )));
        }
        Ok(())
    }
}
