//! Searching the parallel layouts of a training job.
//!
//! For a cluster of G GPUs (`gpus_per_node` per node), a model, a global batch of B sequences
//! of s tokens, enumerate:
//! - tensor parallel t ∈ {1, 2, 4, 8}, within a node and dividing the heads;
//! - pipeline parallel p among the divisors of n_layer, with t·p dividing G;
//! - data parallel d = G/(t·p), dividing B;
//! - ZeRO stage 0–3 (only 0 when d = 1: there is nothing to shard over);
//! - recomputation none / selective / full;
//! - micro-batch b among the divisors of B/d;
//!
//! with sequence parallelism whenever t > 1 (it only saves memory, Korthikanti et al. 2022) and
//! the 1F1B schedule. Layouts whose busiest GPU needs more than [`USABLE_MEMORY`] of its memory
//! are dropped; the rest are ranked by the modelled step time of `time::StepTime`. That model
//! does not credit larger micro-batches with more efficient kernels, so among equal layouts it
//! prefers the smallest micro-batch (the smallest pipeline bubble): read the micro-batch column
//! as what fits, not as tuning advice. A few
//! thousand layouts for a 70B model on 64 GPUs; the criterion bench `search` times it.

use crate::inference::USABLE_MEMORY;
use crate::time::StepTime;
use crate::{
    FlopConvention, Hardware, Layout, ModelShape, Recompute, Result, TrainMemory, TrainRecipe,
};
use serde::{Deserialize, Serialize};

/// What to search over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSpace {
    /// GPUs in all.
    pub gpus: u64,
    /// Sequences per optimizer step.
    pub global_batch: u64,
    /// Tokens per sequence.
    pub seq: u64,
    /// Training tokens, for the total time.
    pub tokens: f64,
    /// Precision recipe.
    pub recipe: TrainRecipe,
    /// FLOP convention of the compute term.
    pub convention: FlopConvention,
    /// Model-FLOPs utilisation the compute runs at.
    pub mfu: f64,
    /// Whether attention is a flash kernel.
    pub flash_attention: bool,
}

/// One layout that fits, with its memory and time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The layout.
    pub layout: Layout,
    /// Memory of the busiest GPU.
    pub memory: TrainMemory,
    /// One step, modelled.
    pub step: StepTime,
    /// Steps × step time, seconds.
    pub train_seconds: f64,
}

/// The outcome of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Layouts enumerated (valid for the model and cluster).
    pub enumerated: usize,
    /// Of those, layouts that fit in memory.
    pub fitting: usize,
    /// The fastest fitting layouts, fastest first.
    pub best: Vec<Candidate>,
}

const TENSOR_PARALLEL: [u64; 4] = [1, 2, 4, 8];

fn divisors(n: u64) -> Vec<u64> {
    (1..=n).filter(|k| n.is_multiple_of(*k)).collect()
}

/// Enumerates every layout of `space` for `shape` on `hw`, keeps the `keep` fastest that fit.
pub fn search(
    shape: &ModelShape,
    hw: &Hardware,
    space: &SearchSpace,
    keep: usize,
) -> Result<SearchResult> {
    let capacity = hw.memory_bytes * USABLE_MEMORY;
    let mut enumerated = 0;
    let mut fits = Vec::new();
    let pipeline = divisors(shape.n_layer);
    for tp in TENSOR_PARALLEL {
        if tp > hw.gpus_per_node || !space.gpus.is_multiple_of(tp) {
            continue;
        }
        for &pp in &pipeline {
            if !space.gpus.is_multiple_of(tp * pp) {
                continue;
            }
            let dp = space.gpus / (tp * pp);
            if !space.global_batch.is_multiple_of(dp) {
                continue;
            }
            let per_replica = space.global_batch / dp;
            for micro_batch in divisors(per_replica) {
                for zero in 0..=if dp > 1 { 3 } else { 0 } {
                    for recompute in Recompute::ALL {
                        let layout = Layout {
                            tp,
                            pp,
                            dp,
                            zero,
                            micro_batch,
                            global_batch: space.global_batch,
                            seq: space.seq,
                            recompute,
                            sequence_parallel: tp > 1,
                            flash_attention: space.flash_attention,
                            interleave: 1,
                        };
                        if layout.validate(shape, hw.gpus_per_node).is_err() {
                            continue;
                        }
                        enumerated += 1;
                        let memory = shape.train_memory(space.recipe, &layout);
                        if memory.total() > capacity {
                            continue;
                        }
                        let step = StepTime::model(
                            shape,
                            &layout,
                            hw,
                            space.recipe,
                            space.convention,
                            space.mfu,
                        )?;
                        let steps = space.tokens / layout.tokens_per_step() as f64;
                        fits.push(Candidate {
                            layout,
                            memory,
                            step,
                            train_seconds: steps * step.total(),
                        });
                    }
                }
            }
        }
    }
    let fitting = fits.len();
    fits.sort_by(|a, b| {
        a.step
            .total()
            .total_cmp(&b.step.total())
            .then(a.memory.total().total_cmp(&b.memory.total()))
    });
    fits.truncate(keep);
    Ok(SearchResult { enumerated, fitting, best: fits })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(gpus: u64) -> SearchSpace {
        SearchSpace {
            gpus,
            global_batch: 512,
            seq: 4096,
            tokens: 2e12,
            recipe: TrainRecipe::Bf16Adam,
            convention: FlopConvention::Palm,
            mfu: 0.4,
            flash_attention: true,
        }
    }

    #[test]
    fn llama2_70b_on_64_h100() {
        let shape = crate::preset("llama2-70b").unwrap();
        let hw = Hardware::preset("h100-sxm").unwrap();
        let r = search(&shape, &hw, &space(64), 10).unwrap();
        assert!(r.enumerated > 1000, "{}", r.enumerated);
        assert!(r.fitting > 0 && r.best.len() == 10);
        for c in &r.best {
            assert_eq!(c.layout.gpus(), 64);
            assert!(c.memory.total() <= 0.9 * hw.memory_bytes);
        }
        for w in r.best.windows(2) {
            assert!(w[0].step.total() <= w[1].step.total());
        }
        // 70B of bf16-Adam state is 1.1 TB: it cannot sit unsharded on an 80 GiB GPU, so every
        // fitting layout splits it by t·p ≥ 16 or shards it with ZeRO.
        for c in &r.best {
            let l = c.layout;
            assert!(l.tp * l.pp >= 16 || l.zero >= 1, "{l:?}");
        }
    }

    #[test]
    fn large_cluster_search_enumerates_the_whole_space() {
        // The budget for `--search` is 100 ms; its speed is measured by the criterion
        // bench `search` (about 0.24 ms in release), never asserted by a timed test.
        let shape = crate::preset("llama2-70b").unwrap();
        let hw = Hardware::preset("h100-sxm").unwrap();
        let r =
            search(&shape, &hw, &SearchSpace { global_batch: 1024, ..space(1024) }, 10).unwrap();
        assert!(r.enumerated > 500);
        assert!(r.fitting > 0 && r.fitting <= r.enumerated);
    }

    #[test]
    fn nothing_fits_on_one_small_gpu() {
        let shape = crate::preset("llama2-70b").unwrap();
        let hw = Hardware::preset("l4").unwrap();
        let r = search(&shape, &hw, &SearchSpace { global_batch: 8, ..space(1) }, 10).unwrap();
        assert!(r.enumerated > 0);
        assert_eq!(r.fitting, 0);
        assert!(r.best.is_empty());
    }
}
