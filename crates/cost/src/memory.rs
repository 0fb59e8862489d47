//! Training memory per GPU: weights, gradients, optimizer state and activations.
//!
//! With Ψ the parameters one GPU's model shard holds (its pipeline stage's layers, plus the
//! embedding on the first stage and the head on the last, divided over t tensor-parallel
//! ranks), and the recipe's bytes per parameter w, g, k (see `precision`), ZeRO over d
//! data-parallel ranks gives (Rajbhandari et al. 2020 §5.1, Figure 1):
//!
//! | stage | weights | gradients | optimizer |
//! |-------|---------|-----------|-----------|
//! | 0     | wΨ      | gΨ        | kΨ        |
//! | 1     | wΨ      | gΨ        | kΨ/d      |
//! | 2     | wΨ      | gΨ/d      | kΨ/d      |
//! | 3     | wΨ/d    | gΨ/d      | kΨ/d      |
//!
//! Activations come from `activations` (Korthikanti et al. 2022). The busiest GPU is reported:
//! the heavier of the first stage (embedding, and the most activations) and the last (head).
//! Norm weights and biases that Megatron replicates over t are counted as split (under 0.1% of
//! the weights for the models here). Temporary buffers, the CUDA context and fragmentation are
//! not modelled: leave 10–20% headroom. Bytes throughout; [`gib`] converts for display.

use crate::activations::activation_bytes_per_gpu;
use crate::{Family, Layout, ModelShape, TrainRecipe};
use serde::{Deserialize, Serialize};

/// Bytes per GiB (2^30).
pub const GIB: f64 = 1_073_741_824.0;
/// Bytes per GB (10^9).
pub const GB: f64 = 1e9;

/// Bytes as GiB (2^30).
pub fn gib(bytes: f64) -> f64 {
    bytes / GIB
}

/// Bytes as GB (10^9).
pub fn gb(bytes: f64) -> f64 {
    bytes / GB
}

/// Training memory of the busiest GPU, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainMemory {
    /// Parameters on this GPU (its shard, before ZeRO).
    pub params_per_gpu: f64,
    /// Working weights.
    pub weights: f64,
    /// Gradients.
    pub gradients: f64,
    /// Optimizer state, master weights included.
    pub optimizer: f64,
    /// Stored activations at the peak of a step.
    pub activations: f64,
}

impl TrainMemory {
    /// Sum of the parts.
    pub fn total(&self) -> f64 {
        self.weights + self.gradients + self.optimizer + self.activations
    }
}

impl ModelShape {
    /// Parameters of the first and the last pipeline stage when the model is cut into `pp`
    /// stages: each has `n_layer/pp` blocks; the first also the token (and position)
    /// embedding, the last the final norm and the head (a copy of the embedding when tied and
    /// `pp > 1`, as Megatron does). With one stage both are the whole model.
    pub fn stage_params(&self, pp: u64) -> (f64, f64) {
        let counts = self.params();
        if pp <= 1 {
            return (counts.total as f64, counts.total as f64);
        }
        let d = self.d_model;
        let final_norm = match self.family {
            Family::Gpt2 => 2 * d,
            Family::Llama => d,
        };
        let head = self.vocab * d; // untied head, or the tied embedding's copy
        let untied_head = if self.tied_embeddings { 0 } else { head };
        let blocks = (counts.non_embedding - final_norm - untied_head) as f64;
        let per_stage = blocks / pp as f64;
        let first = per_stage + counts.embedding as f64;
        let last = per_stage + (final_norm + head) as f64;
        (first, last)
    }

    /// Training memory of the busiest GPU for a recipe and layout.
    pub fn train_memory(&self, recipe: TrainRecipe, layout: &Layout) -> TrainMemory {
        let (first, last) = self.stage_params(layout.pp);
        let t = layout.tp as f64;
        let act = activation_bytes_per_gpu(self, layout, recipe.activation_bytes());
        // The last stage holds no embedding activations beyond its layers' (fewer in flight):
        // it is the busiest only through a large head, so compare states only.
        let psi = first.max(last) / t;
        let (weights, gradients, optimizer) = model_states(psi, recipe, layout.dp, layout.zero);
        TrainMemory { params_per_gpu: psi, weights, gradients, optimizer, activations: act }
    }
}

/// Bytes of weights, gradients and optimizer state on one GPU holding a shard of `psi`
/// parameters, under ZeRO `stage` over `dp` data-parallel ranks (the table above).
pub fn model_states(psi: f64, recipe: TrainRecipe, dp: u64, stage: u8) -> (f64, f64, f64) {
    let shard = |from: u8| if stage >= from { dp as f64 } else { 1.0 };
    (
        recipe.weight_bytes() * psi / shard(3),
        recipe.grad_bytes() * psi / shard(2),
        recipe.optimizer_bytes() * psi / shard(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Recompute;

    #[test]
    fn zero_paper_figure1() {
        // Rajbhandari et al. 2020 Figure 1: Ψ = 7.5B, N_d = 64, K = 12: model states per GPU
        // are 120 GB (baseline), 31.4 GB (P_os), 16.6 GB (P_os+g), 1.9 GB (P_os+g+p).
        let states = |z: u8| {
            let (w, g, o) = model_states(7.5e9, TrainRecipe::Bf16Adam, 64, z);
            w + g + o
        };
        for (z, gb_expected) in [(0u8, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)] {
            assert!((gb(states(z)) - gb_expected).abs() < 0.1, "stage {z}: {}", gb(states(z)));
        }
    }

    #[test]
    fn llama2_7b_single_gpu_states() {
        // 6,738,415,616 parameters × 16 bytes (bf16 mixed Adam) = 107,814,649,856 bytes of
        // model state on one GPU without ZeRO.
        let shape = crate::preset("llama2-7b").unwrap();
        let layout = Layout { recompute: Recompute::Full, ..Layout::single(1, 4096) };
        let m = shape.train_memory(TrainRecipe::Bf16Adam, &layout);
        assert_eq!(m.weights + m.gradients + m.optimizer, 107_814_649_856.0);
        // ZeRO-3 over 8 ranks divides all of it by 8.
        let z3 = Layout { dp: 8, zero: 3, global_batch: 8, micro_batch: 1, ..layout };
        let m3 = shape.train_memory(TrainRecipe::Bf16Adam, &z3);
        assert_eq!((m3.weights + m3.gradients + m3.optimizer) * 8.0, 107_814_649_856.0);
    }

    #[test]
    fn stages_hold_embedding_and_head() {
        // Llama-2-7B over 4 stages: 32 blocks of 202,383,360 → 8 per stage = 1,619,066,880; the
        // first adds the 131,072,000-parameter embedding, the last the head and the final norm.
        let shape = crate::preset("llama2-7b").unwrap();
        let (first, last) = shape.stage_params(4);
        assert_eq!(first, 1_619_066_880.0 + 131_072_000.0);
        assert_eq!(last, 1_619_066_880.0 + 131_072_000.0 + 4096.0);
        assert_eq!(shape.stage_params(1).0, 6_738_415_616.0);
    }
}
