//! The trainer of every kind of run a sweep has: each run goes to the trainer of its kind.

use crate::compress::Compressor;
use crate::distill::Distiller;
use crate::finetune::Finetuner;
use crate::graph::RunKind;
use crate::pretrain::Pretrainer;
use crate::trainer::{Job, Outcome, RunTrainer};
use crate::{Error, Result};
use std::sync::atomic::AtomicBool;

/// Pretraining runs to the [`Pretrainer`], compressions to the [`Compressor`],
/// distillations to the [`Distiller`], fine-tunes to the [`Finetuner`] (built only when the
/// spec has a `[finetune]` section, since it loads the tasks).
pub struct Stages {
    /// Trains `pretrain` runs.
    pub pretrain: Pretrainer,
    /// Trains `compress` runs.
    pub compress: Compressor,
    /// Trains `distill` runs.
    pub distill: Distiller,
    /// Trains `finetune` runs.
    pub finetune: Option<Finetuner>,
}

impl RunTrainer for Stages {
    fn resolved(&self, job: &Job<'_>) -> Option<serde_json::Value> {
        match job.node.kind {
            RunKind::Pretrain | RunKind::Trunk => self.pretrain.resolved(job),
            RunKind::Compress(_) | RunKind::Distill | RunKind::Finetune { .. } => None,
        }
    }

    fn train(
        &self,
        job: &Job<'_>,
        on_tokens: &mut dyn FnMut(u64),
        stop: &AtomicBool,
    ) -> Result<Outcome> {
        match job.node.kind {
            RunKind::Pretrain | RunKind::Trunk => self.pretrain.train(job, on_tokens, stop),
            RunKind::Compress(v) => self.compress.compress(job, v),
            RunKind::Distill => self.distill.distill(job, stop),
            RunKind::Finetune { task, method } => match &self.finetune {
                Some(f) => f.finetune(job, task, method, stop),
                None => Err(Error::Unsupported(format!(
                    "run {} is a fine-tune, but the spec has no [finetune] tasks",
                    job.node.key()
                ))),
            },
        }
    }
}
