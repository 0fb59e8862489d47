//! How to spend a machine's cores on many small training runs.
//!
//! A sweep trains dozens of small models. Two threads on one run pay for synchronisation at
//! every op (dozens of parallel sections per step) and split small matrices into smaller
//! pieces; two single-threaded runs side by side pay nothing of that but share the memory
//! bandwidth and caches. Which wins depends on the model's size: measured in docs/engine.md.

use crate::GptConfig;

/// How many runs to train side by side and how many threads each gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunLayout {
    /// Runs trained at once.
    pub runs: usize,
    /// Threads per run.
    pub threads_per_run: usize,
}

/// Non-embedding FLOPs per token of training (6·N + 12·L·T·d, PaLM appendix B) below which
/// runs side by side, one thread each, beat one run on every thread (docs/engine.md).
pub const SIDE_BY_SIDE_BELOW_FLOPS_PER_TOKEN: f64 = 20e6;

/// The layout that gives the most tokens per second over all runs of shape `cfg` on `cores`
/// cores, by the measurements of docs/engine.md.
pub fn recommended_parallelism(cfg: &GptConfig, cores: usize) -> RunLayout {
    let cores = cores.max(1);
    let (l, d, t) = (cfg.n_layer as f64, cfg.d_model as f64, cfg.context as f64);
    let n = cfg.shape().params().non_embedding as f64;
    let flops_per_token = 6.0 * n + 12.0 * l * t * d;
    if cores > 1 && flops_per_token < SIDE_BY_SIDE_BELOW_FLOPS_PER_TOKEN {
        RunLayout { runs: cores, threads_per_run: 1 }
    } else {
        RunLayout { runs: 1, threads_per_run: cores }
    }
}
