//! A worker: one process that claims one ready run of a sweep from a shared store and trains
//! it. A cluster executor starts many (one per Slurm array task); each finds its run in the
//! store, so no scheduler needs to know the run graph.
//!
//! - **Which run.** The graph's order (largest first), restricted to one stage when asked
//!   (stage k: runs whose inputs are at most stage k − 1; pretraining is stage 0): the first
//!   `pending` run whose inputs are all `done`. A run whose input failed or diverged is failed
//!   with that reason, never started, and the worker looks further. A run the worker trained
//!   before being requeued (`prefer`) comes first, so a requeued task resumes its own
//!   checkpoint.
//! - **Claims.** The store's claim is atomic across nodes (a row lock on PostgreSQL); a run
//!   another worker holds is skipped.
//! - **Heartbeat.** While it trains, a thread with its own connection records a heartbeat
//!   every `heartbeat` seconds; a run whose heartbeats stop (node failure, SIGKILL) is flagged
//!   stale by `sweep status` and reset to pending by the next `sweep submit`.
//! - **Stop.** The stop flag (a signal: USR1 before a time limit or preemption, TERM on
//!   cancel) makes the trainer save a checkpoint and return; the run goes back to `pending`.

use crate::Result;
use crate::executor::Events;
use crate::graph::RunGraph;
use crate::local::{fail_unstarted, hostname, train_claimed};
use crate::record::{open_sweep, plan_graph};
use crate::spec::SweepSpec;
use crate::trainer::RunTrainer;
use isoflop_store::{RunFilter, RunStatus, Store};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How a worker finds and trains its run.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The shared store (`postgres://…`, or a SQLite file on one machine).
    pub db: PathBuf,
    /// Where run directories go: `<runs_dir>/<sweep>/<key>/` (a directory every node sees).
    pub runs_dir: PathBuf,
    /// Only runs of this stage (see [`stages`]); any stage when `None`.
    pub stage: Option<usize>,
    /// Threads the run computes on.
    pub threads: usize,
    /// The key of a run to take first if it is still to train (a requeued task's own run).
    pub prefer: Option<String>,
    /// The scheduler's job id recorded with the claim (`12345_7`).
    pub job: Option<String>,
    /// Seconds between heartbeats.
    pub heartbeat: Duration,
}

/// What a worker did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerOutcome {
    /// The sweep.
    pub sweep: String,
    /// The run it trained, if it found one.
    pub key: Option<String>,
    /// How that run ended: `done`, `diverged`, `failed`, or `pending` (interrupted at a
    /// checkpoint; it resumes).
    pub status: Option<RunStatus>,
    /// Runs it failed without starting because an input failed.
    pub failed_unstarted: Vec<String>,
    /// Runs it skipped because another worker holds them.
    pub held_elsewhere: usize,
    /// Runs of its stage still waiting for inputs that are not done.
    pub waiting: usize,
}

/// Each node's stage: 0 for runs without inputs, 1 + the largest stage of its inputs
/// otherwise. The cluster executor submits one job array per stage, each after the last.
pub fn stages(graph: &RunGraph) -> Result<Vec<usize>> {
    let mut stage = vec![0; graph.len()];
    for i in graph.topological()? {
        let node = &graph.nodes()[i];
        stage[i] = node
            .after
            .iter()
            .filter_map(|k| graph.position(k))
            .map(|j| stage[j] + 1)
            .max()
            .unwrap_or(0);
    }
    Ok(stage)
}

/// Records a heartbeat for run `id` every `every` until dropped, through its own store handle
/// (the trainer's handle is busy training).
struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(db: PathBuf, id: i64, owner: String, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut store: Option<Store> = None;
            while !flag.load(Ordering::SeqCst) {
                // Sleep in short slices so dropping the heartbeat returns at once.
                let t0 = std::time::Instant::now();
                while t0.elapsed() < every && !flag.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50).min(every));
                }
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if store.is_none() {
                    store = Store::open(&db).ok();
                }
                // A failed beat is retried at the next one (the store retries lost
                // connections itself); the run is flagged stale only after many misses.
                if let Some(s) = &store
                    && s.heartbeat(id, &owner).is_err()
                {
                    store = None;
                }
            }
        });
        Self { stop, thread: Some(thread) }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Claims one ready run of `graph` (the plan of `spec`, already planned into the store by the
/// submitter) and trains it with `trainer`. Returns with `key: None` when no run of its
/// stage is ready.
pub fn work(
    trainer: &dyn RunTrainer,
    spec: &SweepSpec,
    graph: &RunGraph,
    opts: &WorkerOptions,
    events: &dyn Events,
    stop: &AtomicBool,
) -> Result<WorkerOutcome> {
    let mut store = Store::open(&opts.db)?;
    let (sweep, sweep_dir) = open_sweep(&mut store, spec, &opts.runs_dir, false)?;
    // Planned by the submitter as a rule; planning again adds nothing, and a worker started
    // by hand on a fresh store plans the sweep itself.
    plan_graph(&mut store, sweep.id, spec, graph, &sweep_dir, trainer, &|_| opts.threads)?;
    let stage = stages(graph)?;
    let mut out = WorkerOutcome { sweep: sweep.name.clone(), ..Default::default() };
    let host = hostname();
    let version = env!("CARGO_PKG_VERSION");
    // Each pass re-reads the store: failing a doomed run may doom the next.
    loop {
        let stored: HashMap<String, (i64, RunStatus)> = store
            .runs(&RunFilter { sweep: Some(sweep.name.clone()), statuses: vec![] })?
            .into_iter()
            .map(|r| (r.key, (r.id, r.status)))
            .collect();
        let mut order: Vec<usize> = (0..graph.len())
            .filter(|&i| opts.stage.is_none_or(|s| stage[i] == s))
            .filter(|&i| {
                stored.get(graph.nodes()[i].key()).is_some_and(|(_, s)| *s == RunStatus::Pending)
            })
            .collect();
        if let Some(p) = &opts.prefer
            && let Some(at) = order.iter().position(|&i| graph.nodes()[i].key() == p)
        {
            let i = order.remove(at);
            order.insert(0, i);
        }
        let status_of = |k: &str| stored.get(k).map(|(_, s)| *s);
        let mut doomed_any = false;
        out.waiting = 0;
        for i in order {
            let node = &graph.nodes()[i];
            let (id, _) = stored[node.key()];
            let bad: Vec<String> = node
                .after
                .iter()
                .filter_map(|k| match status_of(k) {
                    Some(s @ (RunStatus::Failed | RunStatus::Diverged)) => {
                        Some(format!("its input run {k} {s}"))
                    }
                    _ => None,
                })
                .collect();
            if !bad.is_empty() {
                let why = bad.join("; ");
                fail_unstarted(&mut store, id, &sweep_dir.join(node.key()), &why, &host)?;
                events.line(format!("failed    {:<22} {why}", node.key()));
                out.failed_unstarted.push(node.key().to_string());
                doomed_any = true;
                continue;
            }
            if !node.after.iter().all(|k| status_of(k) == Some(RunStatus::Done)) {
                out.waiting += 1;
                continue;
            }
            let dir = sweep_dir.join(node.key()).display().to_string();
            match store.claim_as(id, &host, version, &dir, opts.job.as_deref()) {
                Ok(_) => {}
                Err(
                    isoflop_store::Error::Claimed { .. }
                    | isoflop_store::Error::BadTransition { .. },
                ) => {
                    out.held_elsewhere += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let beat = Heartbeat::start(
                store.location().to_path_buf(),
                id,
                store.owner().to_string(),
                opts.heartbeat,
            );
            let status = train_claimed(
                &mut store,
                trainer,
                events,
                stop,
                node,
                id,
                opts.threads,
                &sweep_dir,
            )?;
            drop(beat);
            out.key = Some(node.key().to_string());
            out.status = Some(status);
            return Ok(out);
        }
        if !doomed_any {
            return Ok(out);
        }
    }
}
