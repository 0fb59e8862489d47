//! Exact parameter counts.
//!
//! "Embedding" parameters are the token and (GPT-2) position tables, as in Kaplan et al. 2020
//! §2.1, whose N excludes them; an untied output head is counted as non-embedding, since it is a
//! matrix multiply on every token like any other layer.

use crate::{Family, ModelShape};
use serde::{Deserialize, Serialize};

/// Parameter counts of a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCounts {
    /// Every parameter, each shared tensor counted once.
    pub total: u64,
    /// Token (and learned position) embedding tables.
    pub embedding: u64,
    /// `total - embedding`: the N of Kaplan et al. 2020.
    pub non_embedding: u64,
}

impl ModelShape {
    /// Exact parameter counts, equal to the real checkpoints' tensor sizes summed.
    pub fn params(&self) -> ParamCounts {
        let d = self.d_model;
        let q = self.n_head * self.head_dim;
        let kv = self.n_kv_heads * self.head_dim;
        let (per_layer, final_norm, positions) = match self.family {
            Family::Gpt2 => {
                let attn = d * (q + 2 * kv) + (q + 2 * kv) + q * d + d;
                let mlp = d * self.d_ff + self.d_ff + self.d_ff * d + d;
                (attn + mlp + 4 * d, 2 * d, self.context * d)
            }
            Family::Llama => {
                let attn = d * (q + 2 * kv) + q * d;
                let mlp = 3 * d * self.d_ff;
                (attn + mlp + 2 * d, d, 0)
            }
        };
        let token = self.vocab * d;
        let head = if self.tied_embeddings { 0 } else { self.vocab * d };
        let embedding = token + positions;
        let non_embedding = self.n_layer * per_layer + final_norm + head;
        ParamCounts { total: embedding + non_embedding, embedding, non_embedding }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trainer_reference_shapes() {
        // tools/torch_gpt_reference.py: S = 875,264 and M = 4,902,912 parameters.
        let s = ModelShape::gpt2(4, 128, 4, 256, 128, false).unwrap();
        assert_eq!(s.params().total, 875_264);
        assert_eq!(s.params().non_embedding, 875_264 - 256 * 128 - 128 * 128);
        let m = ModelShape::gpt2(6, 256, 8, 256, 128, false).unwrap();
        assert_eq!(m.params().total, 4_902_912);
    }

    #[test]
    fn llama2_7b() {
        // Llama-2-7B config.json: 32 layers, d 4096, 32 heads, intermediate 11008, vocab 32000,
        // untied; the checkpoint holds 6,738,415,616 parameters.
        let shape = ModelShape {
            family: Family::Llama,
            n_layer: 32,
            d_model: 4096,
            n_head: 32,
            n_kv_heads: 32,
            head_dim: 128,
            d_ff: 11008,
            vocab: 32000,
            context: 4096,
            tied_embeddings: false,
        };
        assert_eq!(shape.params().total, 6_738_415_616);
    }
}
