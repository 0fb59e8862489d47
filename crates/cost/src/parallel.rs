//! How a training job is laid out over GPUs: tensor (t), pipeline (p) and data (d) parallelism,
//! ZeRO sharding, micro-batching and recomputation (Narayanan et al. 2021, "Efficient Large-Scale
//! Language Model Training on GPU Clusters Using Megatron-LM"; Rajbhandari et al. 2020, ZeRO).
//!
//! `t · p · d` GPUs in all. Tensor parallelism splits every layer's matrices over t GPUs of one
//! node (its all-reduces need NVLink); pipeline parallelism gives each of p stages `L/p`
//! consecutive layers, the embedding on the first stage and the output head on the last; data
//! parallelism replicates the rest d times, each replica taking `B/d` of the global batch of B
//! sequences in micro-batches of b, so `m = B/(d·b)` micro-batches per step.

use crate::{Error, ModelShape, Recompute, Result};
use serde::{Deserialize, Serialize};

/// A parallel layout of one training job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Tensor-parallel size t.
    pub tp: u64,
    /// Pipeline-parallel size p (stages).
    pub pp: u64,
    /// Data-parallel size d.
    pub dp: u64,
    /// ZeRO stage 0–3 over the data-parallel group (Rajbhandari et al. 2020): 1 shards the
    /// optimizer state, 2 also the gradients, 3 also the weights.
    pub zero: u8,
    /// Sequences per micro-batch b.
    pub micro_batch: u64,
    /// Sequences per optimizer step B (global batch).
    pub global_batch: u64,
    /// Sequence length s, tokens.
    pub seq: u64,
    /// Activation recomputation.
    pub recompute: Recompute,
    /// Megatron sequence parallelism in the norm and dropout regions (Korthikanti et al. 2022 §4.2.2).
    pub sequence_parallel: bool,
    /// Flash attention (Dao et al. 2022): the s×s scores are never stored.
    pub flash_attention: bool,
    /// Model chunks per pipeline stage (interleaved 1F1B schedule, Narayanan et al. 2021 §2.2.2); 1
    /// for the plain 1F1B schedule.
    pub interleave: u64,
}

impl Layout {
    /// One GPU, no parallelism, one micro-batch of `global_batch` sequences.
    pub fn single(global_batch: u64, seq: u64) -> Self {
        Self {
            tp: 1,
            pp: 1,
            dp: 1,
            zero: 0,
            micro_batch: global_batch,
            global_batch,
            seq,
            recompute: Recompute::None,
            sequence_parallel: false,
            flash_attention: false,
            interleave: 1,
        }
    }

    /// GPUs used: t · p · d.
    pub fn gpus(&self) -> u64 {
        self.tp * self.pp * self.dp
    }

    /// Micro-batches per step per data-parallel replica: `m = B / (d · b)`.
    pub fn micro_batches(&self) -> u64 {
        self.global_batch / (self.dp * self.micro_batch)
    }

    /// Tokens per optimizer step.
    pub fn tokens_per_step(&self) -> u64 {
        self.global_batch * self.seq
    }

    /// Fraction of a step the pipeline idles: `(p−1)/(m+p−1)` for 1F1B (Narayanan et al. 2021
    /// §2.2.1, bubble time over total time), divided by the interleave factor v (§2.2.2).
    pub fn bubble_fraction(&self) -> f64 {
        let (p, m, v) = (self.pp as f64, self.micro_batches() as f64, self.interleave as f64);
        let bubble = (p - 1.0) / v;
        bubble / (m + bubble)
    }

    /// Checks the layout against the model and the cluster: every size positive, t divides the
    /// heads (and the KV heads, or is a multiple of them: KV heads are then replicated), t within
    /// a node, p divides the layers, the batch splits evenly.
    pub fn validate(&self, shape: &ModelShape, gpus_per_node: u64) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidLayout(m));
        for (name, v) in [
            ("tp", self.tp),
            ("pp", self.pp),
            ("dp", self.dp),
            ("micro_batch", self.micro_batch),
            ("global_batch", self.global_batch),
            ("seq", self.seq),
            ("interleave", self.interleave),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive, got 0"));
            }
        }
        // Far beyond any cluster, and far inside u64 for every product of them.
        for (name, v, max) in [
            ("tp", self.tp, 1u64 << 10),
            ("pp", self.pp, 1 << 20),
            ("dp", self.dp, 1 << 24),
            ("interleave", self.interleave, 1 << 10),
            ("micro_batch", self.micro_batch, 1 << 24),
            ("global_batch", self.global_batch, 1 << 30),
            ("seq", self.seq, 1 << 30),
        ] {
            if v > max {
                return bad(format!("{name} = {v} is beyond the largest accepted, {max}"));
            }
        }
        if self.zero > 3 {
            return bad(format!("ZeRO stage must be 0, 1, 2 or 3, got {}", self.zero));
        }
        if !shape.n_head.is_multiple_of(self.tp) {
            return bad(format!("tp = {} does not divide n_head = {}", self.tp, shape.n_head));
        }
        if !shape.n_kv_heads.is_multiple_of(self.tp) && !self.tp.is_multiple_of(shape.n_kv_heads) {
            return bad(format!(
                "tp = {} neither divides nor is a multiple of n_kv_heads = {}",
                self.tp, shape.n_kv_heads
            ));
        }
        if self.tp > gpus_per_node {
            return bad(format!(
                "tp = {} exceeds the {gpus_per_node} GPUs of a node (tensor parallelism needs NVLink)",
                self.tp
            ));
        }
        if !shape.n_layer.is_multiple_of(self.pp * self.interleave) {
            return bad(format!(
                "pp = {} × interleave = {} does not divide n_layer = {}",
                self.pp, self.interleave, shape.n_layer
            ));
        }
        if self.interleave > 1 && self.pp == 1 {
            return bad("an interleaved schedule needs pp > 1".to_string());
        }
        if !self.global_batch.is_multiple_of(self.dp * self.micro_batch) {
            return bad(format!(
                "global batch {} is not a multiple of dp = {} × micro-batch = {}",
                self.global_batch, self.dp, self.micro_batch
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bubble() {
        // Narayanan et al. 2021 §2.2.1: bubble fraction (p−1)/(m+p−1); p = 8, m = 32 → 7/39.
        let l = Layout { pp: 8, dp: 1, micro_batch: 1, ..Layout::single(32, 2048) };
        assert!((l.bubble_fraction() - 7.0 / 39.0).abs() < 1e-12);
        let v = Layout { interleave: 2, ..l };
        assert!((v.bubble_fraction() - 3.5 / 35.5).abs() < 1e-12);
    }

    #[test]
    fn validation_names_the_problem() {
        let shape = ModelShape::gpt2(12, 768, 12, 50257, 1024, true).unwrap();
        let l = Layout { tp: 8, ..Layout::single(8, 1024) };
        let err = l.validate(&shape, 8).unwrap_err().to_string();
        assert!(err.contains("tp = 8 does not divide n_head = 12"), "{err}");
        let l = Layout { pp: 5, ..Layout::single(8, 1024) };
        assert!(l.validate(&shape, 8).unwrap_err().to_string().contains("n_layer = 12"));
        let l = Layout { dp: 3, ..Layout::single(8, 1024) };
        assert!(l.validate(&shape, 8).is_err());
        Layout { tp: 4, pp: 3, dp: 2, micro_batch: 2, ..Layout::single(8, 1024) }
            .validate(&shape, 8)
            .unwrap();
    }
}
