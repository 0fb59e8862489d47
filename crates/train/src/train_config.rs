//! The one resolved training configuration, saved with every run and checkpoint.
//!
//! Configuration flows one way: [`TrainConfig::new`] applies the documented defaults (the
//! LR and batch rule of [`crate::default_lr`] and [`crate::default_batch_tokens`]); a config
//! file or flags override fields; [`TrainConfig::validate`] checks the result once, and the
//! trainer trusts it from then on.

use crate::{AdamW, Device, EngineKind, Error, GptConfig, LrSchedule, Result, ScheduleShape};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Evaluations at log-spaced token counts over a run (the last one at the end).
pub const DEFAULT_EVAL_POINTS: usize = 12;
/// Tokens per split scored at each intermediate evaluation, at most; small budgets score
/// `tokens / 40` (at least [`MIN_EVAL_TOKENS`]) so evaluation stays a small share of the run.
pub const DEFAULT_EVAL_TOKENS: u64 = 32_768;
/// The fewest tokens per split an intermediate evaluation scores by default.
pub const MIN_EVAL_TOKENS: u64 = 8_192;
/// The first evaluation comes after this fraction of the steps; the rest are log-spaced.
pub const FIRST_EVAL_FRACTION: f64 = 0.01;
/// Tokens per split scored at the final evaluation (or the whole split if smaller).
pub const DEFAULT_FINAL_EVAL_TOKENS: u64 = 262_144;
/// A run whose smoothed training loss exceeds this multiple of its first loss has diverged.
pub const DEFAULT_DIVERGENCE_RATIO: f32 = 1.5;

/// The most tokens one run may train on: 1e15, about 65× the 15T tokens Llama 3 was trained
/// on (Meta, "The Llama 3 Herd of Models", 2024, §1), the largest published run. It keeps a
/// budget far beyond any real run (a typo, 1e30) from being taken, and every count below it
/// is exact in an f64 and fits a u64.
pub const MAX_RUN_TOKENS: u64 = 1_000_000_000_000_000;

/// Everything that determines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The model's shape.
    pub model: GptConfig,
    /// The token budget: the run trains `steps() · batch_tokens` ≤ `tokens` tokens.
    pub tokens: u64,
    /// Tokens per optimizer step (`rows · seq`).
    pub batch_tokens: u64,
    /// Sequence length of a training row (≤ `model.context`).
    pub seq: usize,
    /// AdamW; `adamw.lr` is the schedule's peak.
    pub adamw: AdamW,
    /// Steps of linear warm-up.
    pub warmup_steps: u64,
    /// The cosine's final learning rate as a fraction of the peak.
    pub final_lr_ratio: f32,
    /// Seeds the initial weights and the order of training batches.
    pub seed: u64,
    /// Compute threads of the run's engine (0: one per physical core), resolved once by
    /// [`crate::train`] and used for its pool, its peak FLOP/s and its report.
    pub threads: usize,
    /// Engine name: `candle` or `kernels`.
    pub engine: EngineKind,
    /// Device.
    pub device: Device,
    /// Number of log-spaced evaluations.
    pub eval_points: usize,
    /// Tokens per split at intermediate evaluations.
    pub eval_tokens: u64,
    /// Tokens per split at the final evaluation.
    pub final_eval_tokens: u64,
    /// Stop when the val loss has not improved for this many evaluations.
    pub patience: Option<usize>,
    /// Divergence: smoothed loss above this multiple of the first loss.
    pub divergence_ratio: f32,
    /// Where checkpoints go (None: no checkpoints, no resume).
    pub checkpoint_dir: Option<PathBuf>,
    /// Write a checkpoint every this many steps (0: only when stopping and at the end).
    pub checkpoint_every: u64,
    /// Continue from the checkpoint in `checkpoint_dir` if there is one.
    pub resume: bool,
    /// The machine's peak FLOP/s for MFU (None: measured at start).
    pub peak_flops: Option<f64>,
    /// The schedule after warm-up: cosine (the default, left out of saved configs), or WSD.
    #[serde(default, skip_serializing_if = "ScheduleShape::is_cosine")]
    pub schedule: ScheduleShape,
    /// Steps after which a copy of the checkpoint is kept in `snapshots/step-<n>/` of the
    /// checkpoint directory: a WSD trunk's branch points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshot_steps: Vec<u64>,
    /// A checkpoint directory to start from when the run has no checkpoint of its own: a
    /// cooldown branch starts from its trunk's snapshot (same model, batch, optimizer, warm-up
    /// and seed; its own length and decay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
}

impl TrainConfig {
    /// The defaults for a model and token budget: the ladder's LR and batch rule, full-context
    /// rows, candle on the CPU, seed 0.
    pub fn new(model: GptConfig, tokens: u64) -> Result<Self> {
        model.validate()?;
        let batch_tokens = crate::default_batch_tokens(tokens, model.context);
        let steps = (tokens / batch_tokens).max(1);
        let cfg = Self {
            model,
            tokens,
            batch_tokens,
            seq: model.context,
            adamw: AdamW { lr: crate::default_lr(&model), ..AdamW::default() },
            warmup_steps: crate::default_warmup_steps(steps),
            final_lr_ratio: crate::FINAL_LR_RATIO,
            seed: 0,
            threads: 0,
            engine: EngineKind::Kernels,
            device: Device::Cpu,
            eval_points: DEFAULT_EVAL_POINTS,
            eval_tokens: (tokens / 40).clamp(MIN_EVAL_TOKENS, DEFAULT_EVAL_TOKENS),
            final_eval_tokens: DEFAULT_FINAL_EVAL_TOKENS,
            patience: None,
            divergence_ratio: DEFAULT_DIVERGENCE_RATIO,
            checkpoint_dir: None,
            checkpoint_every: 0,
            schedule: ScheduleShape::Cosine,
            snapshot_steps: Vec::new(),
            init_from: None,
            resume: false,
            peak_flops: None,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Sets the batch and recomputes the warm-up for the new step count.
    pub fn with_batch_tokens(mut self, batch_tokens: u64) -> Result<Self> {
        self.batch_tokens = batch_tokens;
        self.validate()?;
        self.warmup_steps = crate::default_warmup_steps(self.steps());
        Ok(self)
    }

    /// Checks every field against the others.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidTrainConfig(m));
        self.model.validate()?;
        if self.tokens == 0 {
            return bad("the token budget is zero".into());
        }
        if self.tokens > MAX_RUN_TOKENS {
            return bad(format!(
                "the token budget {} is more than the {MAX_RUN_TOKENS} (1e15) one run may train",
                self.tokens
            ));
        }
        if self.seq == 0 || self.seq > self.model.context {
            return bad(format!(
                "sequence length {} must lie in 1..={} (the context)",
                self.seq, self.model.context
            ));
        }
        if self.batch_tokens == 0 || !self.batch_tokens.is_multiple_of(self.seq as u64) {
            return bad(format!(
                "batch of {} tokens is not a positive multiple of the sequence length {}",
                self.batch_tokens, self.seq
            ));
        }
        if self.tokens < self.batch_tokens {
            return bad(format!(
                "the token budget {} is smaller than one batch of {} tokens",
                self.tokens, self.batch_tokens
            ));
        }
        let a = &self.adamw;
        if !(a.lr.is_finite() && a.lr > 0.0) {
            return bad(format!("learning rate {} must be positive", a.lr));
        }
        if !(0.0..1.0).contains(&a.beta1) || !(0.0..1.0).contains(&a.beta2) {
            return bad(format!("AdamW betas ({}, {}) must lie in [0, 1)", a.beta1, a.beta2));
        }
        if !(0.0..=1.0).contains(&self.final_lr_ratio) {
            return bad(format!("final LR ratio {} must lie in [0, 1]", self.final_lr_ratio));
        }
        if self.eval_points == 0 || self.eval_tokens == 0 || self.final_eval_tokens == 0 {
            return bad("evaluation points and tokens must be positive".into());
        }
        if self.patience == Some(0) {
            return bad("early-stopping patience must be at least 1 evaluation".into());
        }
        if self.divergence_ratio.is_nan() || self.divergence_ratio <= 1.0 {
            return bad(format!("divergence ratio {} must exceed 1", self.divergence_ratio));
        }
        if self.resume && self.checkpoint_dir.is_none() {
            return bad("resuming needs a checkpoint directory".into());
        }
        Ok(())
    }

    /// Rows per batch.
    pub fn rows(&self) -> usize {
        (self.batch_tokens / self.seq as u64) as usize
    }

    /// Optimizer steps: the whole batches that fit in the budget.
    pub fn steps(&self) -> u64 {
        self.tokens / self.batch_tokens
    }

    /// Tokens the run trains on: `steps · batch_tokens`.
    pub fn trained_tokens(&self) -> u64 {
        self.steps() * self.batch_tokens
    }

    /// The learning-rate schedule over exactly this run's steps.
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule {
            peak: self.adamw.lr,
            warmup_steps: self.warmup_steps.min(self.steps()),
            total_steps: self.steps(),
            final_ratio: self.final_lr_ratio,
            shape: self.schedule,
        }
    }

    /// The steps after which to evaluate: `k` points log-spaced from 1% of the steps `S` to
    /// `S`, rounded and deduplicated; the last is always `S`.
    pub fn eval_steps(&self) -> Vec<u64> {
        let s = self.steps() as f64;
        let first = (s * FIRST_EVAL_FRACTION).max(1.0);
        let k = self.eval_points;
        let mut out: Vec<u64> = (0..k)
            .map(|i| {
                let f = if k == 1 { 1.0 } else { i as f64 / (k - 1) as f64 };
                (first * (s / first).powf(f)).round().max(1.0) as u64
            })
            .collect();
        out.push(self.steps());
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether a run of this config can start from a checkpoint written under `trunk` (a
    /// cooldown branch from its WSD trunk): every setting that shapes the training up to the
    /// branch point must agree; the length, the decay, the evaluations and the snapshots may
    /// differ. The error names what differs.
    pub fn branchable_from(&self, trunk: &TrainConfig) -> std::result::Result<(), String> {
        let mut diff = Vec::new();
        let mut check = |what: &str, same: bool, a: String, b: String| {
            if !same {
                diff.push(format!("{what}: trunk {b} vs branch {a}"));
            }
        };
        check(
            "model",
            self.model == trunk.model,
            format!("{:?}", self.model),
            format!("{:?}", trunk.model),
        );
        check(
            "batch_tokens",
            self.batch_tokens == trunk.batch_tokens,
            self.batch_tokens.to_string(),
            trunk.batch_tokens.to_string(),
        );
        check("seq", self.seq == trunk.seq, self.seq.to_string(), trunk.seq.to_string());
        check(
            "adamw",
            self.adamw == trunk.adamw,
            format!("{:?}", self.adamw),
            format!("{:?}", trunk.adamw),
        );
        check(
            "warmup_steps",
            self.warmup_steps == trunk.warmup_steps,
            self.warmup_steps.to_string(),
            trunk.warmup_steps.to_string(),
        );
        check("seed", self.seed == trunk.seed, self.seed.to_string(), trunk.seed.to_string());
        check(
            "schedule",
            matches!(self.schedule, ScheduleShape::Wsd { .. })
                && trunk.schedule == ScheduleShape::Wsd { decay_steps: 0 },
            format!("{:?}", self.schedule),
            format!("{:?}", trunk.schedule),
        );
        if diff.is_empty() { Ok(()) } else { Err(diff.join("; ")) }
    }

    /// Whether a checkpoint written under `other` can be resumed under `self`: everything that
    /// changes the numbers must match (threads, engine, device and checkpointing may differ).
    pub fn resumable_from(&self, other: &TrainConfig) -> std::result::Result<(), String> {
        let strip = |c: &TrainConfig| TrainConfig {
            threads: 0,
            engine: EngineKind::Kernels,
            device: Device::Cpu,
            checkpoint_dir: None,
            checkpoint_every: 0,
            resume: false,
            peak_flops: None,
            snapshot_steps: Vec::new(),
            ..c.clone()
        };
        let (a, b) = (strip(self), strip(other));
        if a == b {
            return Ok(());
        }
        let (ja, jb) = (serde_json::to_value(&a), serde_json::to_value(&b));
        let diff = match (ja, jb) {
            (Ok(serde_json::Value::Object(ma)), Ok(serde_json::Value::Object(mb))) => ma
                .iter()
                .filter(|(k, v)| mb.get(*k) != Some(v))
                .map(|(k, v)| {
                    format!("{k}: checkpoint {} vs now {v}", mb.get(k).cloned().unwrap_or_default())
                })
                .collect::<Vec<_>>()
                .join("; "),
            _ => "the configurations differ".into(),
        };
        Err(diff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> GptConfig {
        GptConfig::new(2, 64, 2, 256, 128).unwrap()
    }

    #[test]
    fn defaults_follow_the_rules() {
        let c = TrainConfig::new(model(), 4_000_000).unwrap();
        assert_eq!(c.batch_tokens, 4096);
        assert_eq!(c.steps(), 976);
        assert_eq!(c.warmup_steps, 49);
        assert_eq!(c.rows(), 32);
        assert_eq!(c.trained_tokens(), 976 * 4096);
        let e = c.eval_steps();
        assert_eq!(*e.last().unwrap(), 976);
        assert!(e.windows(2).all(|w| w[0] < w[1]));
        assert!(e.len() >= 10);
        assert_eq!(e[0], 10); // 1% of 976 steps, rounded
        assert_eq!(c.eval_tokens, 32_768);
        assert_eq!(TrainConfig::new(model(), 200_000).unwrap().eval_tokens, 8192);
    }

    #[test]
    fn bad_configs_are_named() {
        let e = TrainConfig::new(model(), 0).unwrap_err().to_string();
        assert!(e.contains("zero"), "{e}");
        let e = TrainConfig::new(model(), 100).unwrap_err().to_string();
        assert!(e.contains("smaller than one batch"), "{e}");
        let c = TrainConfig::new(model(), 100_000).unwrap();
        assert!(c.clone().with_batch_tokens(100).is_err());
        let mut d = c.clone();
        d.seq = 500;
        assert!(d.validate().unwrap_err().to_string().contains("sequence length"));
    }

    #[test]
    fn resume_compatibility() {
        let a = TrainConfig::new(model(), 100_000).unwrap();
        let mut b = a.clone();
        b.threads = 7;
        b.engine = EngineKind::Kernels;
        assert!(a.resumable_from(&b).is_ok());
        b.seed = 1;
        let e = a.resumable_from(&b).unwrap_err();
        assert!(e.contains("seed"), "{e}");
    }
}
