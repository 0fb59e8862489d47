//! The learning-rate and batch rule across the ladder.
//!
//! A badly tuned rung bends every scaling-law fit, so the defaults are one rule, checked by
//! the LR sweep recorded in docs/training.md at the ladder's smallest and largest CPU rungs:
//!
//! - **Peak learning rate** `lr = LR_BASE · √(LR_BASE_WIDTH / d_model)`: wider models take
//!   smaller steps (Kaplan et al. 2020, eq. D.1, fit the best LR falling with N;
//!   the square root in width sits between their fit and μP's 1/width for hidden matrices).
//! - **Batch** of `B` rows of the full context, `B` the largest power of two ≤ 32 that still
//!   leaves [`MIN_STEPS`] optimizer steps in the budget, and at least 4 rows: 32 × 128 = 4,096
//!   tokens is the PyTorch reference's batch; tiny budgets get smaller batches rather than too
//!   few steps (Kaplan et al. 2020 §5.1: below the critical batch size, smaller batches cost
//!   no extra tokens).
//! - **Warm-up** of [`WARMUP_FRACTION`] of the steps (at least one).

use crate::GptConfig;

/// Peak learning rate at width [`LR_BASE_WIDTH`] (see docs/training.md for the sweep).
pub const LR_BASE: f32 = 2e-3;
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
    LR_BASE * (LR_BASE_WIDTH as f32 / cfg.d_model as f32).sqrt()
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
        assert!((default_lr(&m) - LR_BASE / 2f32.sqrt()).abs() < 1e-9);
    }
}
