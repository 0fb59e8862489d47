//! The estimator's defaults: what [`crate::estimate()`] assumes where a spec leaves a choice
//! open, each with where it comes from. One place, so the CLI, the Python binding and the size
//! ladder all assume the same.

use crate::{Hardware, InferenceEstimate, InferenceSetup, ModelShape, Result};

/// Training tokens per parameter when none are given: the compute-optimal ratio of Hoffmann
/// et al. 2022 ("Training Compute-Optimal Large Language Models", Table 3: about 20 tokens per
/// parameter at every scale they fitted).
pub const TOKENS_PER_PARAM: f64 = 20.0;

/// How [`TOKENS_PER_PARAM`] is named in reports.
pub const TOKENS_PER_PARAM_SOURCE: &str = "20 per parameter (Hoffmann et al. 2022)";

/// Tokens per optimizer step when no global batch is given: 4M (2^22), the batch Llama 2 was
/// trained with (Touvron et al. 2023, §2.2).
pub const DEFAULT_BATCH_TOKENS: u64 = 4_194_304;

/// The default global batch in sequences of `seq` tokens: about [`DEFAULT_BATCH_TOKENS`]
/// (at least one sequence), rounded up to a multiple of `unit` sequences (dp · micro-batch, so
/// that every data-parallel rank gets whole micro-batches).
pub fn default_global_batch(seq: u64, unit: u64) -> u64 {
    let sequences = (DEFAULT_BATCH_TOKENS / seq).max(1);
    sequences.div_ceil(unit) * unit
}

/// Most GPUs [`serve`] splits a model over: 1024, far beyond any tensor-parallel group
/// (heads stop dividing long before), so the search always ends.
pub const MAX_SERVING_GPUS: u64 = 1024;

/// Serves `setup` on the fewest GPUs that hold weights and cache, doubling from `setup.gpus`:
/// tensor-parallel groups split the heads and the MLP, and are powers of two in practice (1, 2,
/// 4 or 8 GPUs of a node).
/// Returns the setup with its GPU count and its estimate; if even [`MAX_SERVING_GPUS`] do not
/// hold it, the estimate says it does not fit.
pub fn serve(
    shape: &ModelShape,
    hw: &Hardware,
    mut setup: InferenceSetup,
) -> Result<(InferenceSetup, InferenceEstimate)> {
    let mut inference = shape.inference(hw, &setup)?;
    while !inference.fits && setup.gpus < MAX_SERVING_GPUS {
        setup.gpus *= 2;
        inference = shape.inference(hw, &setup)?;
    }
    Ok((setup, inference))
}

/// Prompt tokens per sequence when none are given: half the context (at least one), so that
/// prompt and generation together fill it.
pub fn default_prompt(context: u64) -> u64 {
    (context / 2).max(1)
}

/// Generated tokens per sequence when none are given: the other half of the context.
pub fn default_generate(context: u64) -> u64 {
    context / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_batch_is_about_4m_tokens_in_whole_micro_batches() {
        // 4,194,304 / 4096 = 1024 sequences; a unit of 24 rounds it up to 43 · 24 = 1032.
        assert_eq!(default_global_batch(4096, 8), 1024);
        assert_eq!(default_global_batch(4096, 24), 1032);
        // Sequences longer than 4M tokens still give one sequence per rank.
        assert_eq!(default_global_batch(1 << 23, 4), 4);
    }

    #[test]
    fn serving_doubles_until_it_fits() {
        // Llama-2-70B in bf16: 138 GB of weights need two 80 GiB H100s.
        let shape = crate::preset("llama2-70b").unwrap();
        let hw = Hardware::preset("h100-sxm").unwrap();
        let setup = InferenceSetup {
            weights: crate::Quantization::new(crate::Precision::Bf16, 128).unwrap(),
            kv_precision: crate::Precision::Bf16,
            batch: 1,
            prompt: 2048,
            generate: 2048,
            gpus: 1,
        };
        let (setup, inf) = serve(&shape, &hw, setup).unwrap();
        assert_eq!(setup.gpus, 2);
        assert!(inf.fits);
    }
}
