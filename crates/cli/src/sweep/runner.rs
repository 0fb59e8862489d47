//! Training a sweep's runs: scheduling, the store's bookkeeping, progress, interruption.
//!
//! - **Scheduling.** Runs start largest first (longest-processing-time order, so the end of
//!   a sweep is not one long run on one core). Each run asks for a number of threads; runs
//!   start side by side while their threads fit in the machine's cores. The threads per run
//!   come from the kernels engine's measured recommendation for the run's shape
//!   (`isoflop_train::kernels::recommended_parallelism`: small models train faster one
//!   thread each, side by side, than two threads on one), unless the spec or a flag fixes them.
//! - **Bookkeeping.** A run is claimed (`running`) before it trains and closed (`done`,
//!   `failed`, `diverged`) in one transaction with its metrics and curve; an interrupted run
//!   goes back to `pending` and resumes from its checkpoint. A process killed with `kill -9`
//!   leaves its runs `running`; the next `sweep run` claims them again and resumes them from
//!   their checkpoints. Final runs are never claimed, so none is trained twice.
//! - **One process per sweep.** An OS lock on `<runs dir>/<sweep>/.lock` (released by the
//!   kernel when the process dies, however it dies) keeps two processes from training the
//!   same sweep at once.
//! - **Ctrl-C** sets a flag the trainer checks between steps: each run saves a checkpoint
//!   and returns, the store marks it `pending`, and the command exits.

use crate::sweep::plan::{PlannedRun, short};
use crate::sweep::progress::Progress;
use crate::sweep::spec::SweepSpec;
use crate::sweep::trainer::{Outcome, RunTrainer};
use anyhow::{Context, Result};
use isoflop_store::{NewRun, RunFilter, RunStatus, Store};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The store file.
    pub db: PathBuf,
    /// Where run directories (checkpoints) go: `<runs_dir>/<sweep>/<key>/`.
    pub runs_dir: PathBuf,
    /// Cores to use (default: all).
    pub cores: usize,
    /// Fixed runs side by side (overrides the spec and the recommendation).
    pub parallel_runs: Option<usize>,
    /// Fixed threads per run (overrides the spec and the recommendation).
    pub threads_per_run: Option<usize>,
    /// Stop after this many runs have finished in this invocation (for tests and slicing).
    pub max_runs: Option<usize>,
    /// Print progress on stderr.
    pub progress: bool,
    /// Keep the stored sweep under `name@vN` and start a fresh one when the spec changed.
    pub new_version: bool,
    /// Put the sweep's failed runs back to pending before training.
    pub retry_failed: bool,
}

/// Spec keys that do not change what a run measures: changing them never refuses a rerun.
pub const LAYOUT_KEYS: &[&str] = &["description", "train.parallel_runs", "train.threads_per_run"];

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
    /// Runs that failed now.
    pub failed: usize,
    /// Runs interrupted (pending, resumable).
    pub interrupted: usize,
    /// Runs left alone because another live process is training them.
    pub held_elsewhere: usize,
    /// Failed runs put back to pending by `--retry-failed`.
    pub retried: usize,
    /// Whether the invocation was stopped by Ctrl-C.
    pub stopped: bool,
    /// Wall seconds of this invocation.
    pub wall_seconds: f64,
    /// Layout used: threads per run of each started run's key.
    pub threads: Vec<(String, usize)>,
}

/// Where a sweep's runs go: how many train side by side at most, and each run's threads.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepLayout {
    /// Runs trained side by side at most.
    pub max_parallel: usize,
    /// Threads of each run, in the plan's order.
    pub threads: Vec<usize>,
}

impl SweepLayout {
    /// The fewest and most threads any run gets.
    pub fn range(&self) -> (usize, usize) {
        let lo = self.threads.iter().copied().min().unwrap_or(1);
        let hi = self.threads.iter().copied().max().unwrap_or(1);
        (lo, hi)
    }

    /// "2 side by side × 1 thread each", or "up to 2 side by side, 1-2 threads each".
    pub fn describe(&self) -> String {
        match self.range() {
            (lo, hi) if lo == hi => {
                format!("{} side by side × {lo} thread(s) each", self.max_parallel)
            }
            (lo, hi) => format!(
                "up to {} side by side, {lo}-{hi} threads each (by shape)",
                self.max_parallel
            ),
        }
    }
}

/// Runs side by side and threads per run for a sweep: flags, then the spec, then the
/// kernels engine's measured recommendation for each run's shape
/// (`recommended_parallelism`: small models one thread each, side by side; larger ones all
/// cores). Every run computes on a pool of its own count (its `TrainConfig::threads`), so a
/// kernels run gets its shape's threads; candle's element-wise ops share one process-wide
/// pool sized once (`CANDLE_NUM_THREADS`), so a candle sweep takes one count for all its runs,
/// that of the median run by FLOPs.
pub fn layout(spec: &SweepSpec, runs: &[PlannedRun], opts: &RunOptions) -> SweepLayout {
    let cores = opts.cores.max(1);
    let parallel = opts.parallel_runs.or(spec.train.parallel_runs);
    let fixed = opts
        .threads_per_run
        .or(spec.train.threads_per_run)
        .or(parallel.map(|p| (cores / p.max(1)).max(1)));
    let recommended = |r: &PlannedRun| {
        isoflop_train::kernels::recommended_parallelism(&r.model, cores).threads_per_run
    };
    let threads: Vec<usize> = match fixed {
        Some(t) => vec![t; runs.len()],
        None if spec.train.engine == "kernels" => runs.iter().map(recommended).collect(),
        None => {
            let mut by_flops: Vec<&PlannedRun> = runs.iter().collect();
            by_flops.sort_by(|a, b| a.flops_palm.total_cmp(&b.flops_palm));
            let t = by_flops.get(by_flops.len() / 2).map_or(cores, |r| recommended(r));
            vec![t; runs.len()]
        }
    };
    let threads: Vec<usize> = threads.into_iter().map(|t| t.clamp(1, cores)).collect();
    let fewest = threads.iter().copied().min().unwrap_or(cores);
    let max_parallel = parallel.unwrap_or(cores / fewest).max(1);
    SweepLayout { max_parallel, threads }
}

/// The planned runs as the store records them.
pub fn new_runs(spec: &SweepSpec, runs: &[PlannedRun]) -> Vec<NewRun> {
    runs.iter()
        .map(|r| NewRun {
            key: r.key.clone(),
            config: serde_json::json!({
                "model": r.model,
                "tokens": r.tokens,
                "seed": r.seed,
                "engine": spec.train.engine,
                "device": spec.train.device,
                "lr": spec.train.lr,
                "batch_tokens": spec.train.batch_tokens,
                "corpus": spec.corpus,
                "flops_palm": r.flops_palm,
            }),
            params: r.params,
            tokens: r.tokens as f64,
            flops: r.flops,
            budget: r.budget,
            seed: r.seed,
            engine: Some(spec.train.engine.clone()),
        })
        .collect()
}

struct Sched {
    queue: VecDeque<(i64, PlannedRun, usize)>,
    free: usize,
    started: usize,
}

/// Takes the sweep's lock; errors if another process holds it.
fn lock(dir: &Path, sweep: &str) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create run directory {}", dir.display()))?;
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "sweep {sweep} is being trained by another isoflop process (it holds {}); \
             wait for it or stop it",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Trains every non-final run of `runs` (the spec's plan) and records them in the store.
pub fn run_sweep(
    spec: &SweepSpec,
    runs: &[PlannedRun],
    trainer: Arc<dyn RunTrainer>,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
) -> Result<SweepOutcome> {
    let t0 = Instant::now();
    let mut store = Store::open(&opts.db)?;
    let spec_json = serde_json::to_value(spec)?;
    let sweep = store.sweep_for_spec(&spec.name, &spec_json, LAYOUT_KEYS, opts.new_version)?;
    // Version k+1 of a sweep (k older ones kept as `NAME@v1..k`) checkpoints in its own
    // `NAME@v{k+1}` directory, so it never resumes from an older version's checkpoints.
    let prefix = format!("{}@v", spec.name);
    let older = store
        .sweeps()?
        .iter()
        .filter(|s| s.name.strip_prefix(&prefix).is_some_and(|v| v.parse::<u32>().is_ok()))
        .count();
    let sweep_dir = match older {
        0 => opts.runs_dir.join(&spec.name),
        k => opts.runs_dir.join(format!("{prefix}{}", k + 1)),
    };
    let _lock = lock(&sweep_dir, &spec.name)?;
    let retried = if opts.retry_failed { store.retry_failed(sweep.id)? } else { 0 };
    store.plan_runs(sweep.id, &new_runs(spec, runs))?;
    let stored: HashMap<String, (i64, RunStatus)> = store
        .runs(&RunFilter { sweep: Some(spec.name.clone()), statuses: vec![] })?
        .into_iter()
        .map(|r| (r.key, (r.id, r.status)))
        .collect();
    let mut out = SweepOutcome {
        sweep: spec.name.clone(),
        planned: runs.len(),
        retried,
        ..Default::default()
    };
    let layout = layout(spec, runs, opts);
    let (fewest, most) = layout.range();
    let SweepLayout { max_parallel, threads } = layout;
    let mut queue = VecDeque::new();
    for (r, &t) in runs.iter().zip(&threads) {
        let &(id, status) = stored.get(&r.key).expect("planned runs are in the store");
        if status.is_final() {
            out.skipped += 1;
        } else {
            queue.push_back((id, r.clone(), t));
        }
    }
    // Cores are shared out in threads; `max_parallel` runs at most, however many fit. Fixed
    // layouts that ask for more threads than cores get them (oversubscribed), as asked.
    let cores = opts.cores.max(fewest * max_parallel).max(most);
    let total_flops: f64 = queue.iter().map(|q| q.1.flops_palm).sum();
    let progress = Arc::new(Progress::new(queue.len(), total_flops, opts.progress));
    let sched = Arc::new((Mutex::new(Sched { queue, free: cores, started: 0 }), Condvar::new()));
    let outcome = Arc::new(Mutex::new(out));
    let host = hostname();
    let version = env!("CARGO_PKG_VERSION").to_string();
    let mut workers = Vec::new();
    for _ in 0..max_parallel {
        let (sched, outcome, progress, trainer, stop) =
            (sched.clone(), outcome.clone(), progress.clone(), trainer.clone(), stop.clone());
        let (db, sweep_dir, host, version) =
            (opts.db.clone(), sweep_dir.clone(), host.clone(), version.clone());
        let max_runs = opts.max_runs;
        workers.push(std::thread::spawn(move || -> Result<()> {
            let mut store = Store::open(&db)?;
            loop {
                // Take the first queued run whose threads fit in the free cores; a run that
                // wants more than the machine has runs alone.
                let (id, run, threads) = {
                    let (lock, cv) = &*sched;
                    let mut s = lock.lock().expect("scheduler lock");
                    loop {
                        if stop.load(Ordering::SeqCst)
                            || s.queue.is_empty()
                            || max_runs.is_some_and(|m| s.started >= m)
                        {
                            return Ok(());
                        }
                        let pick = s.queue.iter().position(|q| q.2 <= s.free);
                        if let Some(i) = pick {
                            let job = s.queue.remove(i).expect("index in queue");
                            s.free -= job.2;
                            s.started += 1;
                            break job;
                        }
                        s = cv.wait(s).expect("scheduler lock");
                    }
                };
                let result = train_one(
                    &mut store, &*trainer, &progress, &stop, id, &run, threads, &sweep_dir, &host,
                    &version,
                );
                {
                    let (lock, cv) = &*sched;
                    lock.lock().expect("scheduler lock").free += threads;
                    cv.notify_all();
                }
                let mut o = outcome.lock().expect("outcome lock");
                o.threads.push((run.key.clone(), threads));
                match result {
                    Ok(RunStatus::Done) => o.done += 1,
                    Ok(RunStatus::Diverged) => o.diverged += 1,
                    Ok(RunStatus::Failed) => o.failed += 1,
                    Ok(RunStatus::Running) => o.held_elsewhere += 1,
                    Ok(_) => o.interrupted += 1,
                    Err(e) => {
                        // The store itself failed: stop everything, the error says why.
                        stop.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                }
            }
        }));
    }
    let mut first_err = None;
    for w in workers {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(anyhow::anyhow!("a sweep worker thread panicked"));
            }
        }
    }
    progress.finish();
    if let Some(e) = first_err {
        return Err(e);
    }
    let mut out = Arc::try_unwrap(outcome)
        .map(|m| m.into_inner().expect("outcome"))
        .unwrap_or_else(|arc| arc.lock().expect("outcome").clone());
    out.stopped = stop.load(Ordering::SeqCst);
    out.wall_seconds = t0.elapsed().as_secs_f64();
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn train_one(
    store: &mut Store,
    trainer: &dyn RunTrainer,
    progress: &Progress,
    stop: &AtomicBool,
    id: i64,
    run: &PlannedRun,
    threads: usize,
    sweep_dir: &Path,
    host: &str,
    version: &str,
) -> Result<RunStatus> {
    let dir = sweep_dir.join(&run.key);
    // Another process on this store (whatever its runs directory) may be training the run:
    // the store's claim is atomic and says so; leave the run to it.
    match store.claim(id, host, version, &dir.display().to_string()) {
        Ok(_) => {}
        Err(isoflop_store::Error::Claimed { key, owner, .. }) => {
            progress
                .line(format!("skipped   {key:<22} being trained by another process ({owner})"));
            return Ok(RunStatus::Running);
        }
        Err(e) => return Err(e.into()),
    }
    let started = Instant::now();
    let slot = progress.start(&run.key, run.flops_palm);
    let mut on_tokens = |tokens: u64| progress.advance(slot, tokens as f64 / run.tokens as f64);
    let result = trainer.train(run, &dir, threads, &mut on_tokens, stop);
    let wall = started.elapsed().as_secs_f64();
    let status = match result {
        Ok(Outcome::Done { mut metrics, curve }) => {
            metrics.wall_seconds = Some(metrics.wall_seconds.unwrap_or(wall));
            store.finish(id, &metrics, &curve)?;
            progress.line(format!(
                "done      {:<22} N={:<8} D={:<8} loss {} ({} bits/byte)  {:.1} s  {} tok/s  {}t",
                run.key,
                short(run.params),
                short(run.tokens as f64),
                metrics.loss.map_or("–".into(), |l| format!("{l:.4}")),
                metrics.bits_per_byte.map_or("–".into(), |b| format!("{b:.3}")),
                wall,
                metrics.tokens_per_second.map_or("–".into(), |t| format!("{t:.0}")),
                threads,
            ));
            RunStatus::Done
        }
        Ok(Outcome::Diverged { reason, metrics, curve }) => {
            store.fail(id, RunStatus::Diverged, &reason, &metrics, &curve)?;
            progress.line(format!("diverged  {:<22} {reason}", run.key));
            RunStatus::Diverged
        }
        Ok(Outcome::Interrupted { tokens }) => {
            let why = format!(
                "interrupted at {tokens} of {} tokens; resumes from its checkpoint",
                run.tokens
            );
            store.release(id, &why, wall)?;
            progress.line(format!("saved     {:<22} {why}", run.key));
            RunStatus::Pending
        }
        Err(e) => {
            let reason = format!("{e:#}");
            store.fail(id, RunStatus::Failed, &reason, &Default::default(), &[])?;
            progress.line(format!("failed    {:<22} {reason}", run.key));
            RunStatus::Failed
        }
    };
    progress.end(slot, status == RunStatus::Pending);
    Ok(status)
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::plan::plan;

    fn spec(engine: &str, extra: &str) -> SweepSpec {
        SweepSpec::parse(
            &format!(
                "name = \"t\"\n[design]\nkind = \"grid\"\nparams = [3e4, 6.5e6]\n\
                 tokens_per_param = [20]\n[train]\nengine = \"{engine}\"\n{extra}"
            ),
            "t",
        )
        .unwrap()
    }

    fn opts(cores: usize) -> RunOptions {
        RunOptions {
            db: PathBuf::new(),
            runs_dir: PathBuf::new(),
            cores,
            parallel_runs: None,
            threads_per_run: None,
            max_runs: None,
            progress: false,
            new_version: false,
            retry_failed: false,
        }
    }

    #[test]
    fn kernels_runs_get_their_shapes_threads() {
        let s = spec("kernels", "");
        let runs = plan(&s).unwrap();
        let l = layout(&s, &runs, &opts(4));
        // The 6.5M-parameter model trains on all four cores, the 33k one on one, beside others.
        let by_key: HashMap<&str, usize> =
            runs.iter().map(|r| r.key.as_str()).zip(l.threads.iter().copied()).collect();
        assert_eq!(by_key.len(), 2);
        let big = runs.iter().find(|r| r.params > 1e6).unwrap();
        let small = runs.iter().find(|r| r.params < 1e5).unwrap();
        assert_eq!((by_key[big.key.as_str()], by_key[small.key.as_str()]), (4, 1));
        assert_eq!(l.max_parallel, 4);
        assert!(l.describe().contains("1-4 threads"), "{}", l.describe());
    }

    #[test]
    fn candle_and_fixed_layouts_are_uniform() {
        let s = spec("candle", "");
        let runs = plan(&s).unwrap();
        let l = layout(&s, &runs, &opts(4));
        assert_eq!(l.range().0, l.range().1);
        let s = spec("kernels", "parallel_runs = 2\n");
        let l = layout(&s, &runs, &opts(4));
        assert_eq!((l.max_parallel, l.threads.clone()), (2, vec![2, 2]));
        let mut o = opts(4);
        o.threads_per_run = Some(3);
        let l = layout(&s, &runs, &o);
        assert_eq!(l.threads, vec![3, 3]);
        assert_eq!(l.describe(), "2 side by side × 3 thread(s) each");
    }

    /// Holds each run for a moment and records how many threads are in use at once.
    struct Occupancy {
        in_use: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
        seen: Mutex<Vec<(String, usize)>>,
    }

    impl RunTrainer for Occupancy {
        fn train(
            &self,
            run: &PlannedRun,
            _dir: &Path,
            threads: usize,
            _on_tokens: &mut dyn FnMut(u64),
            _stop: &AtomicBool,
        ) -> Result<Outcome> {
            let now = self.in_use.fetch_add(threads, Ordering::SeqCst) + threads;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.seen.lock().unwrap().push((run.key.clone(), threads));
            std::thread::sleep(std::time::Duration::from_millis(40));
            self.in_use.fetch_sub(threads, Ordering::SeqCst);
            let metrics = isoflop_store::Metrics { loss: Some(3.0), ..Default::default() };
            Ok(Outcome::Done { metrics, curve: vec![] })
        }
    }

    #[test]
    fn mixed_threads_never_oversubscribe_the_cores() {
        let tmp = tempfile::tempdir().unwrap();
        let s = SweepSpec::parse(
            "name = \"mix\"\n[design]\nkind = \"grid\"\nparams = [3e4, 6e4, 6.5e6]\n\
             tokens_per_param = [10, 20, 40]\n",
            "mix",
        )
        .unwrap();
        let runs = plan(&s).unwrap();
        let mut o = opts(4);
        o.db = tmp.path().join("s.db");
        o.runs_dir = tmp.path().join("runs");
        let want = layout(&s, &runs, &o);
        let trainer =
            Arc::new(Occupancy { in_use: 0.into(), most: 0.into(), seen: Mutex::new(vec![]) });
        let out =
            run_sweep(&s, &runs, trainer.clone(), &o, Arc::new(AtomicBool::new(false))).unwrap();
        assert_eq!(out.done, 9);
        // Three 4-thread runs and six 1-thread runs: all cores used, never more.
        assert_eq!(trainer.most.load(Ordering::SeqCst), 4);
        let seen = trainer.seen.lock().unwrap();
        for (r, t) in runs.iter().zip(&want.threads) {
            assert!(seen.contains(&(r.key.clone(), *t)), "{} did not get {t} threads", r.key);
        }
    }
}
