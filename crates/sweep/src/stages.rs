//! The trainer of every kind of run a sweep has: each run goes to the trainer of its kind.

use crate::Result;
use crate::compress::Compressor;
use crate::graph::RunKind;
use crate::pretrain::Pretrainer;
use crate::trainer::{Job, Outcome, RunTrainer};
use std::sync::atomic::AtomicBool;

/// Pretraining runs to the [`Pretrainer`], compressions to the [`Compressor`].
pub struct Stages {
    /// Trains `pretrain` runs.
    pub pretrain: Pretrainer,
    /// Trains `compress` runs.
    pub compress: Compressor,
}

impl RunTrainer for Stages {
    fn resolved(&self, job: &Job<'_>) -> Option<serde_json::Value> {
        match job.node.kind {
            RunKind::Pretrain => self.pretrain.resolved(job),
            RunKind::Compress(_) => None,
        }
    }

    fn train(
        &self,
        job: &Job<'_>,
        on_tokens: &mut dyn FnMut(u64),
        stop: &AtomicBool,
    ) -> Result<Outcome> {
        match job.node.kind {
            RunKind::Pretrain => self.pretrain.train(job, on_tokens, stop),
            RunKind::Compress(method) => self.compress.compress(job, method),
        }
    }
}
