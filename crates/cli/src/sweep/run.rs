//! The sweep as the verbs drive it (`sweep run`, `demo`): settings from their flags, the
//! Ctrl-C flag, the local executor with the terminal's progress, and the exit on a stop. The
//! sweep itself is the isoflop-sweep library's.

use crate::args::Layout;
use crate::sweep::progress::Progress;
use anyhow::{Context, Result};
use isoflop_sweep::{
    Compressor, Distiller, Executor, Finetuner, LocalExecutor, LocalOptions, Pretrainer, RunGraph,
    Stages, SweepOutcome, SweepSpec, data, layout, plan,
};
use isoflop_train::{Device, EngineKind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// How to train a sweep here.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The run store.
    pub db: PathBuf,
    /// Where run checkpoints go (default: `isoflop-runs` beside the store).
    pub runs_dir: Option<PathBuf>,
    /// Stop after starting this many runs.
    pub max_runs: Option<usize>,
    /// No progress bar or per-run lines.
    pub quiet: bool,
    /// Keep a changed sweep as `NAME@vN` and start afresh.
    pub new_version: bool,
    /// Train failed runs again.
    pub retry_failed: bool,
    /// Cores and the layout flags.
    pub layout: Layout,
}

/// Exits with status 130 (the shell's code for SIGINT) after a clean Ctrl-C stop.
pub fn exit_if_stopped(outcome: &SweepOutcome) {
    if outcome.stopped {
        eprintln!(
            "interrupted: {} run(s) saved at their last checkpoint; run the same command again \
             to resume",
            outcome.interrupted
        );
        std::process::exit(130);
    }
}

/// The process-wide stop flag, set by Ctrl-C (a second Ctrl-C exits at once).
pub fn stop_flag() -> Arc<AtomicBool> {
    static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    STOP.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                eprintln!("second interrupt: exiting now");
                std::process::exit(130);
            }
            eprintln!("interrupt: saving checkpoints (press Ctrl-C again to exit at once)");
        });
        flag
    })
    .clone()
}

/// Refuses layout flags asking for more threads than the machine has logical CPUs.
pub fn check_layout(layout: &Layout) -> Result<()> {
    if let Some(t) = layout.threads_per_run {
        isoflop_train::check_threads("--threads-per-run", t)?;
    }
    if let Some(c) = layout.cores {
        isoflop_train::check_threads("--cores", c)?;
    }
    Ok(())
}

/// Trains a spec's runs on this machine with isoflop-sweep's local executor.
pub fn train(spec: &SweepSpec, a: &RunSettings) -> Result<SweepOutcome> {
    check_layout(&a.layout)?;
    let graph = RunGraph::for_spec(spec, plan(spec)?)?;
    let mut opts = LocalOptions::new(a.db.clone(), a.layout.options());
    if let Some(dir) = &a.runs_dir {
        opts.runs_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
    }
    opts.max_runs = a.max_runs;
    opts.new_version = a.new_version;
    opts.retry_failed = a.retry_failed;
    let quiet = a.quiet;
    let mut say = |s: String| {
        if !quiet {
            eprintln!("{s}")
        }
    };
    let layout = layout(spec, graph.runs(), &opts.layout);
    // Each run's engine computes on a pool of its own run's threads (TrainConfig::threads);
    // only candle's element-wise pool is process-wide, sized here for candle sweeps alone.
    if spec.train.engine == EngineKind::Candle && spec.train.device == Device::Cpu {
        crate::env::set_candle_threads(layout.range().1);
    }
    let stop = stop_flag();
    let trainer = trainer(spec, &layout.threads, &mut say)?;
    say(format!("sweep {}: {} runs, {}", spec.name, graph.len(), layout.describe()));
    LocalExecutor::new(trainer, opts)
        .execute(spec, &graph, &Progress::new(!quiet), stop)
        .with_context(|| format!("sweep {} did not complete", spec.name))
}

/// The trainers of every stage of `spec`, with its dataset (and fine-tuning tasks) prepared in
/// the cache; `threads` is each run's, by graph position.
pub fn trainer(
    spec: &SweepSpec,
    threads: &[usize],
    say: &mut dyn FnMut(String),
) -> Result<Arc<Stages>> {
    let dataset = Arc::new(data::dataset(spec, &data::cache_dir(), &mut *say)?);
    Ok(Arc::new(Stages {
        pretrain: Pretrainer::new(spec, dataset.clone(), threads)?,
        compress: Compressor::new(spec, dataset.clone()),
        distill: Distiller::new(spec, dataset),
        finetune: match spec.finetune.tasks.is_empty() {
            true => None,
            false => Some(Finetuner::new(spec, &data::cache_dir(), &mut *say)?),
        },
    }))
}
