//! How a sweep's runs get trained: an [`Executor`] takes the run graph and trains every run
//! that is not final into the store, reporting through [`Events`]. The local executor
//! (`local.rs`) trains them in this process; a cluster executor plugs in beside it, sharing
//! the store's bookkeeping (`record.rs`) and the trainers (`trainer.rs`).

use crate::Result;
use crate::graph::RunGraph;
use crate::spec::SweepSpec;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Trains a sweep's runs into the run store.
pub trait Executor {
    /// Trains every run of `graph` (the plan of `spec`) that is not final, each after its
    /// inputs, and records them in the store; stops at checkpoints when `stop` is set.
    fn execute(
        &self,
        spec: &SweepSpec,
        graph: &RunGraph,
        events: &dyn Events,
        stop: Arc<AtomicBool>,
    ) -> Result<SweepOutcome>;
}

/// What an executor tells its caller as runs go (all optional: [`Silent`] ignores them).
/// Called from worker threads.
pub trait Events: Send + Sync {
    /// Training starts: `runs` runs to train, worth `flops` FLOPs.
    fn begin(&self, _runs: usize, _flops: f64) {}
    /// A run starts; returns a slot for its later events.
    fn start(&self, _key: &str, _flops: f64) -> usize {
        0
    }
    /// The run in `slot` is `fraction` done.
    fn advance(&self, _slot: usize, _fraction: f64) {}
    /// The run in `slot` ended; `counted` is false when it was interrupted (it resumes).
    fn end(&self, _slot: usize, _counted: bool) {}
    /// One line about a run: done, failed, skipped.
    fn line(&self, _text: String) {}
    /// Training is over.
    fn finish(&self) {}
}

/// Events that go nowhere.
pub struct Silent;

impl Events for Silent {}

/// What one invocation did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SweepOutcome {
    /// The sweep's name.
    pub sweep: String,
    /// Runs in the spec.
    pub planned: usize,
    /// Runs already final before this invocation (skipped).
    pub skipped: usize,
    /// Runs finished `done` now.
    pub done: usize,
    /// Runs that diverged now.
    pub diverged: usize,
    /// Runs that failed now (including runs whose inputs failed or diverged).
    pub failed: usize,
    /// Runs interrupted (pending, resumable).
    pub interrupted: usize,
    /// Runs left alone because another live process is training them.
    pub held_elsewhere: usize,
    /// Runs left pending because their inputs are not finished (held elsewhere, or past
    /// `max_runs`).
    pub waiting: usize,
    /// Failed runs put back to pending by `--retry-failed`.
    pub retried: usize,
    /// Whether the invocation was stopped by Ctrl-C.
    pub stopped: bool,
    /// Wall seconds of this invocation.
    pub wall_seconds: f64,
    /// Layout used: threads per run of each started run's key.
    pub threads: Vec<(String, usize)>,
}
