//! The learning-rate and batch rule across the ladder.
//!
//! A badly tuned rung bends every scaling-law fit, so the defaults are one rule, checked by
//! the LR sweep recorded in docs/training.md at the ladder's smallest and largest CPU rungs:
//!
//! - **Peak learning rate** `lr = LR_BASE · LR_BASE_WIDTH / d_model`: the best LR falls as
//!   1/width across the ladder, as μP's Adam rule for hidden matrices prescribes (Yang et al.
//!   2022, "Tensor Programs V"). The sweep put the optimum near 1.3e-2 at d = 32 (rung 1)
//!   and near 2.5e-3 at d = 160 (rung 5): a factor 5.2 over a factor 5 in width. An earlier
//!   √-width rule (2e-3 at d = 128) under-stepped rung 1 by 3–4× (0.05 nats worse).
//! - **Batch** of `B` rows of the full context, `B` the largest power of two ≤ 32 that still
//!   leaves [`MIN_STEPS`] optimizer steps in the budget, and at least 4 rows: 32 × 128 = 4,096
//!   tokens is the PyTorch reference's batch; tiny budgets get smaller batches rather than too
//!   few steps (Kaplan et al. 2020 §5.1: below the critical batch size, smaller batches cost
//!   no extra tokens).
//! - **Warm-up** of [`WARMUP_FRACTION`] of the steps (at least one).

use crate::GptConfig;

/// Peak learning rate at width [`LR_BASE_WIDTH`], from the LR sweep in docs/training.md.
pub const LR_BASE: f32 = 3e-3;
/// The width at which the peak learning rate is [`LR_BASE`] (the ladder's rung 4, model S).
pub const LR_BASE_WIDTH: usize = 128;
/// The fewest optimizer steps the batch rule aims to leave in a budget.
pub const MIN_STEPS: u64 = 200;
/// The largest batch the rule picks, in rows (the PyTorch reference's batch).
pub const MAX_ROWS: u64 = 32;
/// The smallest batch the rule picks, in rows.
pub const MIN_ROWS: u64 = 4;
/// Warm-up as a fraction of the run's steps.
pub const WARMUP_FRACTION: f64 = 0.05;

/// The default peak learning rate of a model.
pub fn default_lr(cfg: &GptConfig) -> f32 {
    LR_BASE * LR_BASE_WIDTH as f32 / cfg.d_model as f32
}

/// The default tokens per optimizer step for a budget of `tokens` at `context`.
pub fn default_batch_tokens(tokens: u64, context: usize) -> u64 {
    let ctx = context as u64;
    let mut rows = MAX_ROWS;
    while rows > MIN_ROWS && tokens / (rows * ctx) < MIN_STEPS {
        rows /= 2;
    }
    rows * ctx
}

/// The default warm-up for a run of `steps` optimizer steps.
pub fn default_warmup_steps(steps: u64) -> u64 {
    ((steps as f64 * WARMUP_FRACTION).round() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_rule() {
        // 4e6 tokens / 4,096 = 976 steps: the full 32 rows.
        assert_eq!(default_batch_tokens(4_000_000, 128), 4096);
        // 2e5 tokens: 32 rows leave 48 steps, 16 → 97, 8 → 195, 4 → 390 steps.
        assert_eq!(default_batch_tokens(200_000, 128), 512);
        assert_eq!(default_batch_tokens(10, 128), 512);
    }

    #[test]
    fn lr_falls_with_width() {
        let s = GptConfig::new(4, 128, 4, 256, 128).unwrap();
        let m = GptConfig::new(8, 256, 8, 256, 128).unwrap();
        assert_eq!(default_lr(&s), LR_BASE);
        assert!((default_lr(&m) - LR_BASE / 2.0).abs() < 1e-9);
        // Rung 1 (d = 32): 1.2e-2, inside the sweep's best range 1.1e-2 – 1.6e-2.
        let r1 = GptConfig::new(1, 32, 1, 256, 128).unwrap();
        assert!((default_lr(&r1) - 1.2e-2).abs() < 1e-7);
    }
}
