//! What an executor asks of a trainer: train one run of the graph in its directory and say
//! how it ended, in the store's terms.

use crate::Result;
use crate::graph::RunNode;
use isoflop_store::{CurvePoint, Metrics};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// How a training call ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Trained its whole budget.
    Done {
        /// What it measured.
        metrics: Metrics,
        /// Its evaluations.
        curve: Vec<CurvePoint>,
    },
    /// Stopped by NaN/inf or a runaway loss.
    Diverged {
        /// Why.
        reason: String,
        /// What it measured before.
        metrics: Metrics,
        /// Its evaluations before.
        curve: Vec<CurvePoint>,
    },
    /// Stopped by the stop flag after saving a checkpoint.
    Interrupted {
        /// Tokens trained so far.
        tokens: u64,
    },
}

/// One run handed to a trainer.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The run.
    pub node: &'a RunNode,
    /// Its directory: checkpoints and its report go here; a checkpoint already there is
    /// resumed.
    pub dir: &'a Path,
    /// The directories of the runs it reads (`node.after`, in that order), all `done`.
    pub inputs: &'a [PathBuf],
    /// Threads it computes on (its own pool).
    pub threads: usize,
}

/// Trains one run of a sweep: resuming from the checkpoint in its directory, if any,
/// reporting tokens trained through `on_tokens`, and stopping at a checkpoint when `stop` is
/// set. An error fails this run only: the executor records it and goes on with the others.
pub trait RunTrainer: Send + Sync {
    /// The configuration this trainer resolves for `job` (stored with the run when it is
    /// planned, so the store says what each run is), if it has one.
    fn resolved(&self, _job: &Job<'_>) -> Option<serde_json::Value> {
        None
    }

    /// Trains `job`.
    fn train(
        &self,
        job: &Job<'_>,
        on_tokens: &mut dyn FnMut(u64),
        stop: &AtomicBool,
    ) -> Result<Outcome>;
}
