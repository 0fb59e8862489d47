//! Inference: KV cache, prefill and decode on the roofline.
//!
//! - KV cache bytes per token: `2 · n_layer · n_kv_heads · head_dim · bytes` (a key and a value
//!   per layer and KV head; grouped-query attention shares them over `n_head/n_kv_heads` query
//!   heads, Ainslie et al. 2023).
//! - Prefill of a batch of B prompts of P tokens is compute-bound: `B·P` tokens at the forward
//!   FLOPs per token, each attending over `(P+1)/2` positions on average (causal), at the peak.
//! - Decoding one token for each of B sequences is memory-bound: every weight and the whole KV
//!   cache are read once: `(weights + B · ctx · kv_per_token) / bandwidth`, or the compute
//!   time `B · forward FLOPs / peak` if larger (the roofline, Williams et al. 2009).
//! - Tensor parallelism over g GPUs divides both and adds nothing (communication neglected).
//!
//! These are roofline figures: lower bounds on latency, upper bounds on tokens/s. Real servers
//! reach perhaps 60–80% of bandwidth in decode and 50–70% of peak in prefill.

use crate::{FlopConvention, Hardware, ModelShape, Precision, Quantization, Result};
use serde::{Deserialize, Serialize};

/// Fraction of device memory usable for weights and cache (runtime, activations and
/// fragmentation take the rest; vLLM's default `gpu_memory_utilization` is 0.9).
pub const USABLE_MEMORY: f64 = 0.9;

/// What is served, on what.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InferenceSetup {
    /// Weight format.
    pub weights: Quantization,
    /// KV cache format.
    pub kv_precision: Precision,
    /// Concurrent sequences.
    pub batch: u64,
    /// Prompt tokens per sequence.
    pub prompt: u64,
    /// Generated tokens per sequence.
    pub generate: u64,
    /// GPUs the model is split over (tensor parallel).
    pub gpus: u64,
}

/// Inference cost of a setup.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InferenceEstimate {
    /// KV cache bytes per token of context.
    pub kv_cache_bytes_per_token: f64,
    /// Bytes of the weights.
    pub weights_bytes: f64,
    /// KV cache bytes of the whole batch at full length (prompt + generated).
    pub kv_cache_bytes: f64,
    /// Weights plus KV cache, bytes, over all GPUs.
    pub memory_bytes: f64,
    /// Whether that fits in `USABLE_MEMORY` of the GPUs' memory.
    pub fits: bool,
    /// Largest batch whose KV cache fits beside the weights at full length (0 if none).
    pub max_batch: u64,
    /// Seconds to prefill the batch's prompts (roofline).
    pub prefill_seconds: f64,
    /// Seconds per decoding step at the mean context (roofline); each step yields `batch` tokens.
    pub decode_seconds_per_token: f64,
    /// Generated tokens per second over the batch.
    pub decode_tokens_per_second: f64,
    /// Whether decode is bound by memory bandwidth (rather than compute).
    pub decode_memory_bound: bool,
}

impl ModelShape {
    /// KV cache bytes per token: `2 · n_layer · n_kv_heads · head_dim · bytes`.
    pub fn kv_cache_bytes_per_token(&self, precision: Precision) -> f64 {
        2.0 * (self.n_layer * self.n_kv_heads * self.head_dim) as f64 * precision.bytes()
    }

    /// Inference cost on `hw` (see the module docs).
    pub fn inference(&self, hw: &Hardware, setup: &InferenceSetup) -> Result<InferenceEstimate> {
        let g = setup.gpus.max(1) as f64;
        let peak = hw.peak_flops(setup.weights.precision)? * g;
        let bandwidth = hw.memory_bandwidth * g;
        let capacity = hw.memory_bytes * g * USABLE_MEMORY;
        let kv_tok = self.kv_cache_bytes_per_token(setup.kv_precision);
        let weights = setup.weights.bytes(self.params().total);
        let full = (setup.prompt + setup.generate) as f64;
        let kv_all = setup.batch as f64 * full * kv_tok;
        let memory = weights + kv_all;
        let max_batch = if capacity > weights {
            ((capacity - weights) / (full * kv_tok)).floor() as u64
        } else {
            0
        };
        let conv = FlopConvention::Palm;
        let p = setup.prompt as f64;
        let prefill_flops =
            setup.batch as f64 * p * self.forward_flops_per_token_at(conv, (p + 1.0) / 2.0);
        let mean_ctx = p + setup.generate as f64 / 2.0;
        let read = weights + setup.batch as f64 * mean_ctx * kv_tok;
        let memory_time = read / bandwidth;
        let compute_time =
            setup.batch as f64 * self.forward_flops_per_token_at(conv, mean_ctx) / peak;
        let decode = memory_time.max(compute_time);
        Ok(InferenceEstimate {
            kv_cache_bytes_per_token: kv_tok,
            weights_bytes: weights,
            kv_cache_bytes: kv_all,
            memory_bytes: memory,
            fits: memory <= capacity,
            max_batch,
            prefill_seconds: prefill_flops / peak,
            decode_seconds_per_token: decode,
            decode_tokens_per_second: setup.batch as f64 / decode,
            decode_memory_bound: memory_time >= compute_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_cache_per_token() {
        // Llama-2-7B, fp16: 2 · 32 layers · 32 KV heads · 128 · 2 bytes = 524,288 bytes.
        let s7 = crate::preset("llama2-7b").unwrap();
        assert_eq!(s7.kv_cache_bytes_per_token(Precision::Fp16), 524_288.0);
        // Llama-2-70B (grouped-query, 8 KV heads): 2 · 80 · 8 · 128 · 2 = 327,680 bytes.
        let s70 = crate::preset("llama2-70b").unwrap();
        assert_eq!(s70.kv_cache_bytes_per_token(Precision::Fp16), 327_680.0);
    }

    #[test]
    fn decode_is_memory_bound_at_batch_one() {
        // Llama-2-7B bf16 on one H100 SXM: 13,476,831,232 weight bytes + 1 · 1536 · 524,288
        // cache bytes at 3.35 TB/s ≈ 4.26 ms per token (roofline).
        let shape = crate::preset("llama2-7b").unwrap();
        let hw = Hardware::preset("h100-sxm").unwrap();
        let setup = InferenceSetup {
            weights: Quantization::new(Precision::Bf16, 128).unwrap(),
            kv_precision: Precision::Bf16,
            batch: 1,
            prompt: 1024,
            generate: 1024,
            gpus: 1,
        };
        let e = shape.inference(&hw, &setup).unwrap();
        let expected = (13_476_831_232.0 + 1536.0 * 524_288.0) / 3.35e12;
        assert!((e.decode_seconds_per_token - expected).abs() < 1e-12);
        assert!(e.decode_memory_bound && e.fits);
        // Usable 0.9 · 80 GiB minus the weights, over 2048 tokens of 524,288 bytes each.
        let cap = 0.9 * 80.0 * 1_073_741_824.0;
        assert_eq!(e.max_batch, ((cap - 13_476_831_232.0) / (2048.0 * 524_288.0)) as u64);
        // Prefill of 1024 tokens is compute-bound at the bf16 peak.
        let flops = 1024.0 * shape.forward_flops_per_token_at(FlopConvention::Palm, 512.5);
        assert!((e.prefill_seconds - flops / 989.4e12).abs() < 1e-12);
    }
}
