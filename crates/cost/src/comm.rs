//! Communication time of one training step.
//!
//! A ring all-reduce of M bytes over n ranks moves `2(n−1)/n · M` bytes through each rank's
//! link (Patarasuk & Yuan 2009), so it takes `2(n−1)/n · M / bandwidth`.
//!
//! - Tensor parallelism: Megatron's layer does two all-reduces of the `b·s·h` activations in the
//!   forward and two in the backward (Shoeybi et al. 2019 §3, Figure 4); full recomputation
//!   repeats the forward's two. Sequence parallelism swaps each for a reduce-scatter plus an
//!   all-gather of the same volume (Korthikanti et al. 2022 §4.2.2). Over the intra-node link.
//! - Data parallelism: one all-reduce of the gradients per step; ZeRO-1/2 replace it by a
//!   reduce-scatter and an all-gather of the same volume, ZeRO-3 adds an all-gather of the
//!   weights in the backward: 1.5× (Rajbhandari et al. 2020 §7.2). Over the inter-node network
//!   when the group spans nodes.
//! - Pipeline parallelism: each micro-batch sends its `b·s·h` activations forward and their
//!   gradient backward across each stage boundary.
//!
//! Nothing is assumed to overlap with compute, so these are upper bounds on the exposed time.

use crate::{Hardware, Layout, ModelShape, Recompute};
use serde::{Deserialize, Serialize};

/// Seconds one ring all-reduce of `bytes` over `ranks` takes at `bandwidth` bytes/s per rank.
pub fn ring_allreduce_seconds(bytes: f64, ranks: u64, bandwidth: f64) -> f64 {
    if ranks <= 1 {
        return 0.0;
    }
    let n = ranks as f64;
    2.0 * (n - 1.0) / n * bytes / bandwidth
}

/// Communication seconds of one optimizer step, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CommTime {
    /// Tensor-parallel all-reduces (or reduce-scatter + all-gather) of all micro-batches.
    pub tensor_parallel: f64,
    /// Data-parallel gradient reduction (and ZeRO-3's weight gathers).
    pub data_parallel: f64,
    /// Pipeline point-to-point sends of activations and their gradients.
    pub pipeline: f64,
}

impl CommTime {
    /// Sum of the parts.
    pub fn total(&self) -> f64 {
        self.tensor_parallel + self.data_parallel + self.pipeline
    }
}

/// Communication time of one step of `layout` on `hw`; `params_per_gpu` is the model shard
/// each GPU holds before ZeRO, `grad_bytes` and `act_bytes` bytes per gradient and activation.
pub fn comm_time(
    shape: &ModelShape,
    layout: &Layout,
    hw: &Hardware,
    params_per_gpu: f64,
    grad_bytes: f64,
    act_bytes: f64,
) -> CommTime {
    let m = layout.micro_batches() as f64;
    let message = (layout.micro_batch * layout.seq * shape.d_model) as f64 * act_bytes;
    let layers_per_stage = (shape.n_layer / layout.pp) as f64;
    let per_layer = if layout.recompute == Recompute::Full { 6.0 } else { 4.0 };
    let tensor_parallel = m
        * layers_per_stage
        * per_layer
        * ring_allreduce_seconds(message, layout.tp, hw.intra_node_bandwidth);
    // Ranks of one data-parallel group sit t·p GPUs apart: inside a node only when the whole
    // job fits in one.
    let dp_bw = if layout.gpus() <= hw.gpus_per_node {
        hw.intra_node_bandwidth
    } else {
        hw.inter_node_bandwidth
    };
    let zero3 = if layout.zero >= 3 { 1.5 } else { 1.0 };
    let data_parallel =
        zero3 * ring_allreduce_seconds(params_per_gpu * grad_bytes, layout.dp, dp_bw);
    let pp_bw = if layout.tp * layout.pp <= hw.gpus_per_node {
        hw.intra_node_bandwidth
    } else {
        hw.inter_node_bandwidth
    };
    // Each of the p−1 boundaries passes 2 messages per micro-batch; a stage waits on its own
    // two boundaries, so the critical path sees about 2m transfers per step, split over t ranks.
    let pipeline = if layout.pp > 1 { 2.0 * m * message / layout.tp as f64 / pp_bw } else { 0.0 };
    CommTime { tensor_parallel, data_parallel, pipeline }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_volume() {
        // 8 ranks, 1 GB at 100 GB/s: 2·7/8 · 1e9 / 1e11 = 17.5 ms.
        assert!((ring_allreduce_seconds(1e9, 8, 1e11) - 0.0175).abs() < 1e-12);
        assert_eq!(ring_allreduce_seconds(1e9, 1, 1e11), 0.0);
    }

    #[test]
    fn tp_comm_counts_four_allreduces_per_layer() {
        let shape = crate::preset("llama2-7b").unwrap();
        let hw = Hardware::preset("h100-sxm").unwrap();
        let layout = Layout { tp: 8, micro_batch: 1, ..Layout::single(1, 4096) };
        let c = comm_time(&shape, &layout, &hw, 1e9, 2.0, 2.0);
        // 32 layers × 4 all-reduces of 4096 · 4096 · 2 bytes over 8 ranks at 450 GB/s.
        let one = 2.0 * 7.0 / 8.0 * (4096.0 * 4096.0 * 2.0) / 450e9;
        assert!((c.tensor_parallel - 128.0 * one).abs() < 1e-12);
        assert_eq!(c.data_parallel, 0.0);
        assert_eq!(c.pipeline, 0.0);
    }
}
