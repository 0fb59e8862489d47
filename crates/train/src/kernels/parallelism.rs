//! How to spend a machine's cores on many small training runs.
//!
//! A sweep trains dozens of small models. Two threads on one run pay for synchronisation at
//! every op (dozens of parallel sections per step) and split small matrices into smaller
//! pieces; two single-threaded runs side by side pay nothing of that but share the memory
//! bandwidth and caches. Which wins depends on the model's size. Measured on 2 vCPUs
//! (docs/engine.md, `isoflop bench train --runs 2 --threads 1` against `--runs 1 --threads 2`):
//! at shape S (5.7 MFLOP/token) two runs side by side gave 1.11–1.33× the tokens/s of one
//! two-thread run; at shape M (31.2 MFLOP/token) one two-thread run gave 1.29× two runs.

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
/// runs side by side, one thread each, beat one run on every thread: between the measured S
/// (side by side wins) and M (one run wins), docs/engine.md.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_models_side_by_side_large_ones_threaded() {
        // The shapes measured in docs/engine.md.
        let s = GptConfig::new(4, 128, 4, 256, 128).unwrap();
        let m = GptConfig::new(6, 256, 8, 256, 128).unwrap();
        assert_eq!(recommended_parallelism(&s, 2), RunLayout { runs: 2, threads_per_run: 1 });
        assert_eq!(recommended_parallelism(&m, 2), RunLayout { runs: 1, threads_per_run: 2 });
        assert_eq!(recommended_parallelism(&s, 1), RunLayout { runs: 1, threads_per_run: 1 });
        assert_eq!(recommended_parallelism(&m, 0), RunLayout { runs: 1, threads_per_run: 1 });
    }
}
