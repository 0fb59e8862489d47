//! The local executor: a sweep's runs trained in this process, on this machine's cores.
//!
//! - **Scheduling.** Runs start in the graph's order (the plan's: largest first, so the end
//!   of a sweep is not one long run on one core), each once its inputs are `done`. Each run
//!   asks for its layout's threads and computes on a pool of that size; runs start side by
//!   side while their threads fit in the cores.
//! - **Bookkeeping.** A run is claimed (`running`) before it trains and closed (`done`,
//!   `failed`, `diverged`) in one transaction with its metrics and curve; an interrupted run
//!   goes back to `pending` and resumes from its checkpoint. A process killed with `kill -9`
//!   leaves its runs `running`; the next invocation claims them again and resumes them from
//!   their checkpoints. Final runs are never claimed, so none is trained twice.
//! - **Faults.** A run that fails is recorded with its reason and the others go on; a run
//!   whose input failed or diverged is failed with that reason, never started.
//! - **One process per sweep.** An OS lock on `<runs dir>/<sweep>/.lock` keeps two processes
//!   from training the same sweep at once.
//! - **Stop.** The stop flag (Ctrl-C) is checked by the trainer between steps: each run
//!   saves a checkpoint and returns, the store marks it `pending`, and the executor returns.

use crate::executor::{Events, Executor, SweepOutcome};
use crate::graph::{RunGraph, RunNode};
use crate::layout::{LayoutOptions, SweepLayout, layout};
use crate::plan::short;
use crate::record::{lock, open_sweep, plan_graph};
use crate::spec::SweepSpec;
use crate::trainer::{Job, Outcome, RunTrainer};
use crate::{Error, Result};
use isoflop_store::{RunFilter, RunStatus, Store};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// How the local executor runs a sweep.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The store file.
    pub db: PathBuf,
    /// Where run directories (checkpoints) go: `<runs_dir>/<sweep>/<key>/`.
    pub runs_dir: PathBuf,
    /// Cores and the layout flags.
    pub layout: LayoutOptions,
    /// Stop after this many runs have started in this invocation (for tests and slicing).
    pub max_runs: Option<usize>,
    /// Keep the stored sweep under `name@vN` and start a fresh one when the spec changed.
    pub new_version: bool,
    /// Put the sweep's failed runs back to pending before training.
    pub retry_failed: bool,
}

impl LocalOptions {
    /// Options for the store `db`, run directories under `isoflop-runs` beside it. The
    /// directory is made absolute, so the checkpoint paths the store records (and the reports
    /// of compressions and fine-tunes read through them) hold from any working directory.
    /// A PostgreSQL store has no directory: the run directories go under the working one.
    pub fn new(db: PathBuf, layout: LayoutOptions) -> Self {
        let beside = match isoflop_store::is_postgres(&db) {
            true => Path::new("."),
            false => db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(".".as_ref()),
        };
        let runs_dir = std::path::absolute(beside).unwrap_or_else(|_| beside.to_path_buf());
        let runs_dir = runs_dir.join("isoflop-runs");
        Self { db, runs_dir, layout, max_runs: None, new_version: false, retry_failed: false }
    }
}

/// Trains runs in this process with `trainer`.
pub struct LocalExecutor {
    trainer: Arc<dyn RunTrainer>,
    opts: LocalOptions,
}

impl LocalExecutor {
    /// An executor training with `trainer`.
    pub fn new(trainer: Arc<dyn RunTrainer>, opts: LocalOptions) -> Self {
        Self { trainer, opts }
    }
}

struct Queued {
    id: i64,
    node: usize,
    threads: usize,
}

struct Sched {
    queue: VecDeque<Queued>,
    free: usize,
    started: usize,
    in_flight: usize,
    /// Every run's status as this invocation knows it (the store's, then its own results).
    status: HashMap<String, RunStatus>,
}

/// What a worker takes from the scheduler.
enum Take {
    Train(Queued),
    /// A run whose input failed or diverged: failed with this reason, never started.
    Doomed(Queued, String),
}

impl Sched {
    /// The next run to train or fail, `None` when there is nothing this worker can do now
    /// (`Some(None)`: wait for a run in flight to end).
    fn take(&mut self, graph: &RunGraph) -> Option<Option<Take>> {
        let inputs = |q: &Queued| &graph.nodes()[q.node].after;
        let bad = self.queue.iter().position(|q| {
            inputs(q).iter().any(|k| {
                matches!(self.status.get(k), Some(RunStatus::Failed | RunStatus::Diverged))
            })
        });
        if let Some(i) = bad {
            let q = self.queue.remove(i).expect("index in queue");
            let why = inputs(&q)
                .iter()
                .filter_map(|k| match self.status.get(k) {
                    Some(s @ (RunStatus::Failed | RunStatus::Diverged)) => {
                        Some(format!("its input run {k} {s}"))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("; ");
            self.status.insert(graph.nodes()[q.node].run.key.clone(), RunStatus::Failed);
            return Some(Some(Take::Doomed(q, why)));
        }
        let ready =
            |q: &Queued| inputs(q).iter().all(|k| self.status.get(k) == Some(&RunStatus::Done));
        if let Some(i) = self.queue.iter().position(|q| q.threads <= self.free && ready(q)) {
            let q = self.queue.remove(i).expect("index in queue");
            self.free -= q.threads;
            self.started += 1;
            self.in_flight += 1;
            return Some(Some(Take::Train(q)));
        }
        // Nothing fits now: wait while a run in flight may free cores or finish an input.
        if self.in_flight > 0 && !self.queue.is_empty() { Some(None) } else { None }
    }
}

impl Executor for LocalExecutor {
    fn execute(
        &self,
        spec: &SweepSpec,
        graph: &RunGraph,
        events: &dyn Events,
        stop: Arc<AtomicBool>,
    ) -> Result<SweepOutcome> {
        let t0 = Instant::now();
        let opts = &self.opts;
        let mut store = Store::open(&opts.db)?;
        let (sweep, sweep_dir) = open_sweep(&mut store, spec, &opts.runs_dir, opts.new_version)?;
        let _lock = lock(&sweep_dir, &spec.name)?;
        let retried = if opts.retry_failed { store.retry_failed(sweep.id)? } else { 0 };
        let SweepLayout { max_parallel, threads } = layout(spec, graph.runs(), &opts.layout);
        // Each run's resolved configuration, as planned on this layout, goes with it.
        plan_graph(&mut store, sweep.id, spec, graph, &sweep_dir, &*self.trainer, &|i| threads[i])?;
        let stored: HashMap<String, (i64, RunStatus)> = store
            .runs(&RunFilter { sweep: Some(spec.name.clone()), statuses: vec![] })?
            .into_iter()
            .map(|r| (r.key, (r.id, r.status)))
            .collect();
        let mut out = SweepOutcome {
            sweep: spec.name.clone(),
            planned: graph.len(),
            retried,
            ..Default::default()
        };
        let mut queue = VecDeque::new();
        let mut status = HashMap::new();
        for (i, (node, &t)) in graph.nodes().iter().zip(&threads).enumerate() {
            let &(id, s) = stored.get(node.key()).expect("planned runs are in the store");
            status.insert(node.key().to_string(), s);
            if s.is_final() {
                out.skipped += 1;
            } else {
                queue.push_back(Queued { id, node: i, threads: t });
            }
        }
        // Cores are shared out in threads; `max_parallel` runs at most, however many fit. Fixed
        // layouts that ask for more threads than cores get them (oversubscribed), as asked.
        let fewest = threads.iter().copied().min().unwrap_or(1);
        let most = threads.iter().copied().max().unwrap_or(1);
        let cores = opts.layout.cores.max(fewest * max_parallel).max(most);
        let total_flops: f64 = queue.iter().map(|q| graph.nodes()[q.node].run.flops_palm).sum();
        events.begin(queue.len(), total_flops);
        let sched = (
            Mutex::new(Sched { queue, free: cores, started: 0, in_flight: 0, status }),
            Condvar::new(),
        );
        let outcome = Mutex::new(out);
        let host = hostname();
        let version = env!("CARGO_PKG_VERSION");
        let worker = || -> Result<()> {
            let mut store = Store::open(&opts.db)?;
            loop {
                let take = {
                    let (lock, cv) = &sched;
                    let mut s = lock.lock().expect("scheduler lock");
                    loop {
                        if stop.load(Ordering::SeqCst)
                            || opts.max_runs.is_some_and(|m| s.started >= m)
                        {
                            return Ok(());
                        }
                        match s.take(graph) {
                            Some(Some(take)) => break take,
                            Some(None) => s = cv.wait(s).expect("scheduler lock"),
                            None => return Ok(()),
                        }
                    }
                };
                let (q, result) = match take {
                    Take::Doomed(q, why) => {
                        let node = &graph.nodes()[q.node];
                        let dir = sweep_dir.join(node.key());
                        let r = fail_unstarted(&mut store, q.id, &dir, &why, &host);
                        events.line(format!("failed    {:<22} {why}", node.key()));
                        let mut o = outcome.lock().expect("outcome lock");
                        o.failed += 1;
                        drop(o);
                        sched.1.notify_all();
                        r?;
                        continue;
                    }
                    Take::Train(q) => {
                        let r = train_one(
                            &mut store,
                            &*self.trainer,
                            events,
                            &stop,
                            graph,
                            &q,
                            &sweep_dir,
                            &host,
                            version,
                        );
                        (q, r)
                    }
                };
                let key = graph.nodes()[q.node].key().to_string();
                {
                    let (lock, cv) = &sched;
                    let mut s = lock.lock().expect("scheduler lock");
                    s.free += q.threads;
                    s.in_flight -= 1;
                    if let Ok(status) = &result {
                        s.status.insert(key.clone(), *status);
                    }
                    cv.notify_all();
                }
                let mut o = outcome.lock().expect("outcome lock");
                o.threads.push((key, q.threads));
                match result {
                    Ok(RunStatus::Done) => o.done += 1,
                    Ok(RunStatus::Diverged) => o.diverged += 1,
                    Ok(RunStatus::Failed) => o.failed += 1,
                    Ok(RunStatus::Running) => o.held_elsewhere += 1,
                    Ok(_) => o.interrupted += 1,
                    Err(e) => {
                        // The store itself failed: stop everything, the error says why.
                        stop.store(true, Ordering::SeqCst);
                        sched.1.notify_all();
                        return Err(e);
                    }
                }
            }
        };
        let mut first_err = None;
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..max_parallel).map(|_| scope.spawn(worker)).collect();
            for w in workers {
                match w.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        first_err.get_or_insert(e);
                    }
                    Err(_) => {
                        first_err.get_or_insert(Error::Worker);
                    }
                }
            }
        });
        events.finish();
        if let Some(e) = first_err {
            return Err(e);
        }
        let (lock, _) = sched;
        let s = lock.into_inner().expect("scheduler lock");
        let mut out = outcome.into_inner().expect("outcome lock");
        out.waiting = s
            .queue
            .iter()
            .filter(|q| {
                let after = &graph.nodes()[q.node].after;
                after.iter().any(|k| s.status.get(k) != Some(&RunStatus::Done))
            })
            .count();
        out.stopped = stop.load(Ordering::SeqCst);
        out.wall_seconds = t0.elapsed().as_secs_f64();
        Ok(out)
    }
}

/// Fails a run that never started because an input failed: claimed, then closed with why.
pub(crate) fn fail_unstarted(
    store: &mut Store,
    id: i64,
    dir: &Path,
    why: &str,
    host: &str,
) -> Result<()> {
    match store.claim(id, host, env!("CARGO_PKG_VERSION"), &dir.display().to_string()) {
        Ok(_) => Ok(store.fail(id, RunStatus::Failed, why, &Default::default(), &[])?),
        // Another process took it (and will find the same input failed).
        Err(isoflop_store::Error::Claimed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[allow(clippy::too_many_arguments)]
fn train_one(
    store: &mut Store,
    trainer: &dyn RunTrainer,
    events: &dyn Events,
    stop: &AtomicBool,
    graph: &RunGraph,
    q: &Queued,
    sweep_dir: &Path,
    host: &str,
    version: &str,
) -> Result<RunStatus> {
    let node = &graph.nodes()[q.node];
    let run = &node.run;
    let dir = sweep_dir.join(&run.key);
    // Another process on this store (whatever its runs directory) may be training the run:
    // the store's claim is atomic and says so; leave the run to it.
    match store.claim(q.id, host, version, &dir.display().to_string()) {
        Ok(_) => {}
        Err(isoflop_store::Error::Claimed { key, owner, .. }) => {
            events.line(format!("skipped   {key:<22} being trained by another process ({owner})"));
            return Ok(RunStatus::Running);
        }
        Err(e) => return Err(e.into()),
    }
    train_claimed(store, trainer, events, stop, node, q.id, q.threads, sweep_dir)
}

/// Trains run `id` (node `node`, claimed by `store`'s handle) in `<sweep_dir>/<key>` and closes
/// it in the store: `done`, `diverged` or `failed` with its metrics, or back to `pending` when
/// `stop` interrupted it at a checkpoint. Returns the status it was left in.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_claimed(
    store: &mut Store,
    trainer: &dyn RunTrainer,
    events: &dyn Events,
    stop: &AtomicBool,
    node: &RunNode,
    id: i64,
    threads: usize,
    sweep_dir: &Path,
) -> Result<RunStatus> {
    let run = &node.run;
    let dir = sweep_dir.join(&run.key);
    let inputs: Vec<PathBuf> = node.after.iter().map(|k| sweep_dir.join(k)).collect();
    let job = Job { node, dir: &dir, inputs: &inputs, threads };
    let started = Instant::now();
    let slot = events.start(&run.key, run.flops_palm);
    let mut on_tokens = |tokens: u64| events.advance(slot, tokens as f64 / run.tokens as f64);
    let result = trainer.train(&job, &mut on_tokens, stop);
    let wall = started.elapsed().as_secs_f64();
    let status = match result {
        Ok(Outcome::Done { mut metrics, curve }) => {
            metrics.wall_seconds = Some(metrics.wall_seconds.unwrap_or(wall));
            store.finish(id, &metrics, &curve)?;
            events.line(format!(
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
            events.line(format!("diverged  {:<22} {reason}", run.key));
            RunStatus::Diverged
        }
        Ok(Outcome::Interrupted { tokens }) => {
            let why = format!(
                "interrupted at {tokens} of {} tokens; resumes from its checkpoint",
                run.tokens
            );
            store.release(id, &why, wall)?;
            events.line(format!("saved     {:<22} {why}", run.key));
            RunStatus::Pending
        }
        Err(e) => {
            let reason = chain(&e);
            store.fail(id, RunStatus::Failed, &reason, &Default::default(), &[])?;
            events.line(format!("failed    {:<22} {reason}", run.key));
            RunStatus::Failed
        }
    };
    events.end(slot, status != RunStatus::Pending);
    Ok(status)
}

/// An error and its causes, `: `-separated, a cause its message already ends with left out.
fn chain(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let m = s.to_string();
        if !text.ends_with(&m) {
            text = format!("{text}: {m}");
        }
        source = s.source();
    }
    text
}

pub(crate) fn hostname() -> String {
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
    use crate::executor::Silent;
    use crate::graph::{RunKind, RunNode};
    use crate::{PlannedRun, plan};
    use std::sync::atomic::AtomicUsize;

    /// Holds each run for a moment, records how many threads are in use at once, and fails
    /// the runs it is told to.
    struct Occupancy {
        in_use: AtomicUsize,
        most: AtomicUsize,
        seen: Mutex<Vec<(String, usize, Vec<PathBuf>)>>,
        fail: Vec<String>,
    }

    impl Occupancy {
        fn new(fail: &[&str]) -> Arc<Self> {
            Arc::new(Self {
                in_use: 0.into(),
                most: 0.into(),
                seen: Mutex::new(vec![]),
                fail: fail.iter().map(|s| s.to_string()).collect(),
            })
        }
    }

    impl RunTrainer for Occupancy {
        fn train(
            &self,
            job: &Job<'_>,
            _on_tokens: &mut dyn FnMut(u64),
            _stop: &AtomicBool,
        ) -> Result<Outcome> {
            let now = self.in_use.fetch_add(job.threads, Ordering::SeqCst) + job.threads;
            self.most.fetch_max(now, Ordering::SeqCst);
            let key = job.node.key().to_string();
            self.seen.lock().unwrap().push((key.clone(), job.threads, job.inputs.to_vec()));
            std::thread::sleep(std::time::Duration::from_millis(40));
            self.in_use.fetch_sub(job.threads, Ordering::SeqCst);
            if self.fail.contains(&key) {
                return Err(Error::Unsupported(format!("told to fail {key}")));
            }
            let metrics = isoflop_store::Metrics { loss: Some(3.0), ..Default::default() };
            Ok(Outcome::Done { metrics, curve: vec![] })
        }
    }

    fn spec(text: &str) -> SweepSpec {
        SweepSpec::parse(text, "t").unwrap()
    }

    fn options(dir: &Path, cores: usize) -> LocalOptions {
        let layout = LayoutOptions { cores, parallel_runs: None, threads_per_run: None };
        LocalOptions::new(dir.join("s.db"), layout)
    }

    #[test]
    fn mixed_threads_never_oversubscribe_the_cores() {
        let tmp = tempfile::tempdir().unwrap();
        let s = spec(
            "name = \"mix\"\n[design]\nkind = \"grid\"\nparams = [3e4, 6e4, 6.5e6]\n\
             tokens_per_param = [10, 20, 40]\n",
        );
        let graph = RunGraph::pretrain(plan(&s).unwrap());
        let o = options(tmp.path(), 4);
        let want = layout(&s, graph.runs(), &o.layout);
        let trainer = Occupancy::new(&[]);
        let exec = LocalExecutor::new(trainer.clone(), o);
        let out = exec.execute(&s, &graph, &Silent, Arc::new(AtomicBool::new(false))).unwrap();
        assert_eq!(out.done, 9);
        // Three 4-thread runs and six 1-thread runs: all cores used, never more.
        assert_eq!(trainer.most.load(Ordering::SeqCst), 4);
        let seen = trainer.seen.lock().unwrap();
        for (r, t) in graph.runs().zip(&want.threads) {
            assert!(
                seen.iter().any(|(k, tt, _)| k == &r.key && tt == t),
                "{} did not get {t} threads",
                r.key
            );
        }
    }

    #[test]
    fn runs_start_after_their_inputs_and_a_failed_input_fails_its_readers_only() {
        let tmp = tempfile::tempdir().unwrap();
        let s =
            spec("name = \"stages\"\n[design]\nkind = \"isoflop\"\nbudgets = [1e12]\nsizes = 3\n");
        let runs = plan(&s).unwrap();
        let stage = |base: &PlannedRun, key: &str| {
            let mut run = base.clone();
            run.key = key.into();
            RunNode { run, kind: RunKind::Pretrain, after: vec![base.key.clone()] }
        };
        // Stages listed first: the executor still trains their inputs before them.
        let mut nodes = vec![stage(&runs[0], "stage-a"), stage(&runs[1], "stage-b")];
        nodes.push(RunNode { after: vec!["stage-a".into()], ..stage(&runs[0], "stage-a2") });
        nodes.extend(runs.iter().cloned().map(RunNode::pretrain));
        let graph = RunGraph::new(nodes).unwrap();
        let trainer = Occupancy::new(&[&runs[1].key]);
        let exec = LocalExecutor::new(trainer.clone(), options(tmp.path(), 2));
        let out = exec.execute(&s, &graph, &Silent, Arc::new(AtomicBool::new(false))).unwrap();
        // runs[1] failed, so stage-b never started; the others all trained.
        assert_eq!((out.done, out.failed, out.waiting), (4, 2, 0), "{out:?}");
        let seen = trainer.seen.lock().unwrap();
        let at = |k: &str| seen.iter().position(|(s, _, _)| s == k);
        assert!(at("stage-b").is_none());
        assert!(at(&runs[0].key).unwrap() < at("stage-a").unwrap());
        assert!(at("stage-a").unwrap() < at("stage-a2").unwrap());
        let inputs = &seen[at("stage-a").unwrap()].2;
        assert_eq!(inputs, &vec![tmp.path().join("isoflop-runs/stages").join(&runs[0].key)]);
        let store = Store::open(&tmp.path().join("s.db")).unwrap();
        let stored =
            store.runs(&RunFilter { sweep: Some("stages".into()), statuses: vec![] }).unwrap();
        let b = stored.iter().find(|r| r.key == "stage-b").unwrap();
        assert_eq!(b.status, RunStatus::Failed);
        let reason = b.reason.clone().unwrap();
        assert!(reason.contains(&format!("its input run {} failed", runs[1].key)), "{reason}");
        let failed = stored.iter().find(|r| r.key == runs[1].key).unwrap();
        assert!(failed.reason.as_deref().unwrap().contains("told to fail"));
        assert_eq!(b.config["after"][0], runs[1].key.as_str());
        assert_eq!(b.config["kind"], "pretrain");
        // A second invocation has nothing left to do: no run is trained twice.
        let exec = LocalExecutor::new(trainer.clone(), options(tmp.path(), 2));
        let again = exec.execute(&s, &graph, &Silent, Arc::new(AtomicBool::new(false))).unwrap();
        assert_eq!((again.skipped, again.done, again.failed), (6, 0, 0));
    }
}
