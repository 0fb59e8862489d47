//! `isoflop sweep submit|worker|status|cancel`: a sweep on a Slurm cluster. The scripts, the
//! scheduler's commands and the worker are isoflop-sweep's (`slurm`, `worker`); this module
//! parses the flags, prepares the sweep in the shared store and prints.

use crate::format::fmt_duration;
use crate::output::print_json;
use crate::sweep::run::{self, RunSettings};
use anyhow::{Context, Result, bail};
use isoflop_store::{RunFilter, RunStatus, Store, display_location, is_postgres, now};
use isoflop_sweep::record::{open_sweep, plan_graph};
use isoflop_sweep::slurm::{self, ScriptInputs, SlurmOptions, SubmittedArray};
use isoflop_sweep::{RunGraph, SweepSpec, WorkerOptions, plan, stages};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

/// Where executors train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorKind {
    /// This machine (as `sweep run`).
    Local,
    /// Slurm job arrays of `isoflop sweep worker`.
    Slurm,
}

/// Arguments of `isoflop sweep submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The sweep spec (TOML). Workers read it from this path: keep it where every node sees it.
    pub spec: PathBuf,
    /// Where the runs train.
    #[arg(long, value_enum)]
    pub executor: ExecutorKind,
    /// The run store: `postgres://user@host/dbname` for Slurm (every node reaches it).
    #[arg(long, env = "ISOFLOP_DB", default_value = "isoflop.db")]
    pub db: PathBuf,
    /// Directory for run checkpoints, seen by every node (default: `./isoflop-runs`).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// GPUs per run (`--gres=gpu:N`); the spec's `train.device = "cuda"` trains on them.
    #[arg(long, default_value_t = 0)]
    pub gpus_per_run: u32,
    /// CPUs per run (`--cpus-per-task`); the worker trains on as many threads.
    #[arg(long, default_value_t = 1)]
    pub cpus_per_run: usize,
    /// Memory per run (`--mem`, e.g. 8G).
    #[arg(long)]
    pub mem: Option<String>,
    /// Time limit per run (`--time`, HH:MM:SS).
    #[arg(long)]
    pub time: Option<String>,
    /// Runs at once (`--array=…%M`).
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// Slurm account.
    #[arg(long)]
    pub account: Option<String>,
    /// A further `#SBATCH` option, verbatim (repeatable): `--sbatch-arg=--qos=high`.
    #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Seconds before the time limit at which Slurm sends USR1 (the worker checkpoints and
    /// requeues its task).
    #[arg(long, default_value_t = 120)]
    pub signal_seconds: u32,
    /// Seconds between a worker's heartbeats.
    #[arg(long, default_value_t = 30)]
    pub heartbeat: u32,
    /// A running run silent for this many seconds is stale: reset to pending and resubmitted.
    #[arg(long, default_value_t = 300.0)]
    pub stale_after: f64,
    /// Print the script and the arrays; submit nothing, touch no store.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait until every run is final (or no worker is left), printing progress.
    #[arg(long)]
    pub wait: bool,
    /// The spec changed: keep the old runs as `NAME@vN` (as `sweep run --new-version`).
    #[arg(long)]
    pub new_version: bool,
}

/// Arguments of `isoflop sweep worker` (what the batch script runs).
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The sweep spec (TOML).
    pub spec: PathBuf,
    /// The shared run store.
    #[arg(long, env = "ISOFLOP_DB", default_value = "isoflop.db")]
    pub db: PathBuf,
    /// Directory for run checkpoints (default: `./isoflop-runs`).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Only runs of this stage (0: pretraining; k: runs whose inputs are at most stage k − 1).
    #[arg(long)]
    pub stage: Option<usize>,
    /// Threads the run trains on.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 30)]
    pub heartbeat: u32,
}

/// Arguments of `isoflop sweep status` and `sweep cancel`.
#[derive(Debug, clap::Args)]
pub struct NameArgs {
    /// The sweep's name.
    pub name: String,
    /// The run store.
    #[arg(long, env = "ISOFLOP_DB", default_value = "isoflop.db")]
    pub db: PathBuf,
    /// Directory of run checkpoints, where `slurm/jobs.json` is (default: `./isoflop-runs`).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// A running run silent for this many seconds is flagged stale.
    #[arg(long, default_value_t = 300.0)]
    pub stale_after: f64,
}

fn runs_dir(given: &Option<PathBuf>) -> PathBuf {
    let d = given.clone().unwrap_or_else(|| PathBuf::from("isoflop-runs"));
    std::path::absolute(&d).unwrap_or(d)
}

fn check_positive(flag: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        bail!("{flag} {v}: must be a positive number of seconds");
    }
    Ok(())
}

/// The sweep's `slurm/` directory (script, logs, task records, jobs.json).
fn slurm_dir(store: &mut Store, spec: &SweepSpec, runs: &Path) -> Result<PathBuf> {
    Ok(open_sweep(store, spec, runs, false)?.1.join("slurm"))
}

/// `isoflop sweep submit`.
pub fn submit(a: SubmitArgs, json: bool) -> Result<()> {
    // Loaded from its absolute path, as the workers load it: paths in the spec resolve alike.
    let spec_path = std::path::absolute(&a.spec)?;
    let spec = SweepSpec::load(&spec_path)?;
    if a.executor == ExecutorKind::Local {
        let settings = RunSettings {
            db: a.db.clone(),
            runs_dir: a.runs_dir.clone(),
            max_runs: None,
            quiet: json,
            new_version: a.new_version,
            retry_failed: false,
            layout: crate::args::Layout::default(),
        };
        let outcome = run::train(&spec, &settings)?;
        if json {
            return print_json(&outcome);
        }
        crate::cmd::sweep::print_outcome(&outcome);
        return Ok(());
    }
    if a.cpus_per_run == 0 {
        bail!("--cpus-per-run 0: a run needs at least one CPU");
    }
    if a.max_parallel == Some(0) {
        bail!("--max-parallel 0: at least one run must be able to run");
    }
    check_positive("--stale-after", a.stale_after)?;
    if let Some(t) = &a.time
        && !valid_time(t)
    {
        bail!("--time {t:?}: expected HH:MM:SS, MM:SS, D-HH:MM:SS or minutes");
    }
    if !is_postgres(&a.db) && !a.dry_run {
        return Err(isoflop_store::Error::NotShareable {
            path: a.db.clone(),
            executor: "slurm".into(),
        }
        .into());
    }
    let graph = RunGraph::for_spec(&spec, plan(&spec)?)?;
    let stage = stages(&graph)?;
    let runs = runs_dir(&a.runs_dir);
    let exe = std::env::current_exe().context("cannot find the isoflop binary")?;
    // A URL with a password stays out of the script: sbatch hands ISOFLOP_DB to the tasks.
    let url = a.db.to_string_lossy().into_owned();
    let secret = display_location(&a.db) != url;
    let db_word = if secret { "\"$ISOFLOP_DB\"".to_string() } else { url.clone() };
    let opts = SlurmOptions {
        partition: a.partition.clone(),
        gpus_per_run: a.gpus_per_run,
        cpus_per_run: a.cpus_per_run,
        mem: a.mem.clone(),
        time: a.time.clone(),
        max_parallel: a.max_parallel,
        account: a.account.clone(),
        sbatch_args: a.sbatch_args.clone(),
        signal_seconds: a.signal_seconds,
        heartbeat_seconds: a.heartbeat,
    };
    let script_for = |dir: &Path| {
        slurm::script(
            &opts,
            &ScriptInputs {
                sweep: &spec.name,
                spec: &spec_path,
                exe: &exe,
                db: &db_word,
                runs_dir: &runs,
                slurm_dir: dir,
            },
        )
    };
    if a.dry_run {
        let dir = runs.join(&spec.name).join("slurm");
        let mut per_stage: BTreeMap<usize, usize> = BTreeMap::new();
        for s in &stage {
            *per_stage.entry(*s).or_default() += 1;
        }
        if !is_postgres(&a.db) {
            eprintln!(
                "note: {} is a SQLite file; a real submission needs --db postgres://… (workers on \
                 other nodes cannot share SQLite)",
                isoflop_store::display_location(&a.db)
            );
        }
        let arrays: Vec<_> =
            per_stage.iter().map(|(s, n)| serde_json::json!({"stage": s, "tasks": n})).collect();
        if json {
            return print_json(&serde_json::json!({
                "script": script_for(&dir), "path": dir.join("worker.sbatch"), "arrays": arrays,
                "dry_run": true,
            }));
        }
        println!("# {} (not written: --dry-run)", dir.join("worker.sbatch").display());
        print!("{}", script_for(&dir));
        for (s, n) in &per_stage {
            let after = if *s > 0 { " --dependency=afterany:<stage before>" } else { "" };
            let throttle = a.max_parallel.map_or(String::new(), |m| format!("%{m}"));
            println!(
                "# sbatch --array=0-{}{throttle}{after} worker.sbatch {s}   ({n} runs of stage {s})",
                n - 1
            );
        }
        return Ok(());
    }

    // The dataset and tasks are prepared once here (workers find them in the cache) and each
    // run's resolved configuration is stored with it, as `sweep run` does.
    let mut say = |s: String| {
        if !json {
            eprintln!("{s}")
        }
    };
    let threads = vec![a.cpus_per_run; graph.len()];
    let trainer = run::trainer(&spec, &threads, &mut say)?;
    let mut store = Store::open(&a.db)?;
    let (sweep, sweep_dir) = open_sweep(&mut store, &spec, &runs, a.new_version)?;
    plan_graph(&mut store, sweep.id, &spec, &graph, &sweep_dir, &*trainer, &|_| a.cpus_per_run)?;
    let reset = store.reset_stale(sweep.id, a.stale_after)?;
    for r in &reset {
        say(format!(
            "reset     {:<22} stale (last heartbeat {} ago, job {}): pending again, resumes from its checkpoint",
            r.key,
            r.heartbeat.map_or("never".into(), |h| fmt_duration(now() - h)),
            r.job.as_deref().unwrap_or("–")
        ));
    }
    let status: BTreeMap<String, RunStatus> = store
        .runs(&RunFilter { sweep: Some(sweep.name.clone()), statuses: vec![] })?
        .into_iter()
        .map(|r| (r.key, r.status))
        .collect();
    let mut per_stage: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, node) in graph.nodes().iter().enumerate() {
        if status.get(node.key()) == Some(&RunStatus::Pending) {
            *per_stage.entry(stage[i]).or_default() += 1;
        }
    }
    let dir = sweep_dir.join("slurm");
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::create_dir_all(dir.join("tasks"))?;
    let script_path = dir.join("worker.sbatch");
    isoflop_atomic::write(&script_path, script_for(&dir).as_bytes())?;
    let env: Vec<(&str, &str)> = if secret { vec![("ISOFLOP_DB", url.as_str())] } else { vec![] };
    let mut arrays: Vec<SubmittedArray> = vec![];
    let mut after: Option<String> = None;
    for (&s, &n) in &per_stage {
        let job = slurm::sbatch(&script_path, s, n, a.max_parallel, after.as_deref(), &env)?;
        arrays.push(SubmittedArray {
            job: job.clone(),
            stage: s,
            tasks: n,
            after: after.clone(),
            submitted_at: now(),
        });
        after = Some(job);
        // Recorded as each goes, so a failure later leaves the earlier ones cancellable.
        slurm::record(&dir, &arrays[arrays.len() - 1..])?;
    }
    let running = status.values().filter(|s| **s == RunStatus::Running).count();
    if json {
        print_json(&serde_json::json!({
            "sweep": sweep.name, "script": script_path, "arrays": arrays,
            "reset_stale": reset.iter().map(|r| &r.key).collect::<Vec<_>>(),
            "running_elsewhere": running,
            "final": status.values().filter(|s| s.is_final()).count(),
        }))?;
    } else {
        println!("sweep {}: script {}", sweep.name, script_path.display());
        for arr in &arrays {
            println!(
                "submitted job array {} ({} runs of stage {}{})",
                arr.job,
                arr.tasks,
                arr.stage,
                arr.after.as_ref().map_or(String::new(), |j| format!(", after job {j} ends"))
            );
        }
        if arrays.is_empty() {
            println!("nothing to submit: every run is final or being trained ({running} running)");
        }
    }
    if a.wait {
        wait(&store, &sweep.name, &arrays, json)?;
    }
    Ok(())
}

/// Accepts Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
fn valid_time(t: &str) -> bool {
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let nums = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    days.is_none_or(nums) && rest.split(':').count() <= 3 && rest.split(':').all(nums)
}

/// Polls the store and `squeue` until every run of the sweep is final, or no task of the
/// arrays is left while runs still wait (then says which).
fn wait(store: &Store, sweep: &str, arrays: &[SubmittedArray], json: bool) -> Result<()> {
    let jobs: Vec<String> = arrays.iter().map(|a| a.job.clone()).collect();
    let mut last = String::new();
    let mut idle_polls = 0;
    loop {
        let runs = store.runs(&RunFilter { sweep: Some(sweep.to_string()), statuses: vec![] })?;
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &runs {
            *by.entry(r.status.as_str()).or_default() += 1;
        }
        let line = by.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ");
        if line != last && !json {
            eprintln!("sweep {sweep}: {line}");
            last = line;
        }
        if runs.iter().all(|r| r.status.is_final()) {
            return Ok(());
        }
        let queued = slurm::squeue(&jobs)?;
        // Finished tasks leave squeue a moment before the store shows their runs' ends.
        idle_polls = if queued.is_empty() { idle_polls + 1 } else { 0 };
        if idle_polls >= 5 {
            let left: Vec<&str> =
                runs.iter().filter(|r| !r.status.is_final()).map(|r| r.key.as_str()).collect();
            bail!(
                "no task of jobs {} is left, but {} run(s) are not final: {} (see `isoflop sweep \
                 status {sweep}` and the logs in slurm/logs)",
                jobs.join(", "),
                left.len(),
                left.join(", ")
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only atomics here: a signal handler may not allocate or lock.
    SIGNAL.store(sig, Ordering::SeqCst);
    STOP.store(true, Ordering::SeqCst);
}

/// USR1 (Slurm's warning before the time limit, or `scancel --signal=USR1`), TERM (scancel,
/// preemption) and INT all stop the run at its next step, at a checkpoint.
fn catch_signals() {
    for sig in [libc::SIGUSR1, libc::SIGTERM, libc::SIGINT] {
        // SAFETY: installs an async-signal-safe handler that only stores to atomics.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// `isoflop sweep worker`: claims one ready run and trains it; on USR1 it checkpoints, puts
/// the run back to pending and requeues its Slurm task, which resumes the run.
pub fn worker(a: WorkerArgs, json: bool) -> Result<()> {
    if a.threads == 0 {
        bail!("--threads 0: a run needs at least one thread");
    }
    // Before any thread starts (as `sweep run` does): candle's element-wise pool on the run's
    // threads, so a run trained by a worker is the run `sweep run` trains, bit for bit.
    crate::env::set_candle_threads(a.threads);
    catch_signals();
    let spec = SweepSpec::load(&std::path::absolute(&a.spec)?)?;
    let graph = RunGraph::for_spec(&spec, plan(&spec)?)?;
    let runs = runs_dir(&a.runs_dir);
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let task = match (env("SLURM_ARRAY_JOB_ID"), env("SLURM_ARRAY_TASK_ID")) {
        (Some(j), Some(t)) => Some((j, t)),
        _ => None,
    };
    let job = task.as_ref().map(|(j, t)| format!("{j}_{t}")).or_else(|| env("SLURM_JOB_ID"));
    let record = {
        let mut store = Store::open(&a.db)?;
        let dir = slurm_dir(&mut store, &spec, &runs)?;
        task.as_ref().map(|(j, t)| slurm::task_record(&dir, j, t))
    };
    let prefer =
        record.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).map(|s| s.trim().to_string());
    let mut say = |s: String| eprintln!("{s}");
    let trainer = run::trainer(&spec, &vec![a.threads; graph.len()], &mut say)?;
    let opts = WorkerOptions {
        db: a.db.clone(),
        runs_dir: runs,
        stage: a.stage,
        threads: a.threads,
        prefer,
        job: job.clone(),
        heartbeat: Duration::from_secs(u64::from(a.heartbeat.max(1))),
    };
    let events = Lines;
    let out = isoflop_sweep::work(&*trainer, &spec, &graph, &opts, &events, &STOP)?;
    let sig = SIGNAL.load(Ordering::SeqCst);
    let interrupted = out.status == Some(RunStatus::Pending);
    if interrupted && let (Some(path), Some(key)) = (&record, &out.key) {
        isoflop_atomic::write(path, key.as_bytes())?;
    }
    let requeue = interrupted && sig == libc::SIGUSR1;
    if json {
        print_json(&serde_json::json!({"worker": out, "job": job, "requeued": requeue}))?;
    } else {
        match (&out.key, out.status) {
            (None, _) => println!(
                "sweep {}: no run of {} ready ({} held by other workers, {} waiting for inputs)",
                out.sweep,
                a.stage.map_or("any stage".into(), |s| format!("stage {s}")),
                out.held_elsewhere,
                out.waiting
            ),
            (Some(k), Some(s)) => println!("sweep {}: run {k} {s}", out.sweep),
            (Some(k), None) => println!("sweep {}: run {k}", out.sweep),
        }
    }
    if requeue {
        // The run is pending again at its checkpoint; the requeued task takes it first.
        let id = env("SLURM_JOB_ID").context("USR1 outside Slurm: nothing to requeue")?;
        eprintln!(
            "USR1: run saved at its checkpoint; requeueing task {}",
            job.as_deref().unwrap_or(&id)
        );
        slurm::requeue(&id)?;
        return Ok(());
    }
    if interrupted {
        eprintln!("stopped by signal {sig}: run saved at its checkpoint and pending again");
        std::process::exit(143);
    }
    if out.status == Some(RunStatus::Failed) {
        std::process::exit(1);
    }
    Ok(())
}

/// A worker's events: its per-run lines on stderr (the task's log).
struct Lines;

impl isoflop_sweep::Events for Lines {
    fn line(&self, text: String) {
        eprintln!("{text}");
    }
}

/// `isoflop sweep status NAME`.
pub fn status(a: NameArgs, json: bool) -> Result<()> {
    check_positive("--stale-after", a.stale_after)?;
    let store = Store::open_existing(&a.db)?;
    let sweep = store.sweep(&a.name)?;
    let runs = store.runs(&RunFilter { sweep: Some(a.name.clone()), statuses: vec![] })?;
    let stale: Vec<i64> = store.stale_runs(sweep.id, a.stale_after)?.iter().map(|r| r.id).collect();
    let dir = runs_dir(&a.runs_dir).join(&a.name).join("slurm");
    let arrays = slurm::recorded(&dir)?;
    let jobs: Vec<String> = arrays.iter().map(|a| a.job.clone()).collect();
    let queued = match slurm::squeue(&jobs) {
        Ok(q) => Some(q),
        Err(e @ isoflop_sweep::Error::MissingCommand { .. }) => {
            eprintln!("note: {e}");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &runs {
        *by.entry(r.status.as_str()).or_default() += 1;
    }
    // Remaining time from this sweep's own speed: seconds per FLOP of its finished runs.
    let (wall, flops) = runs
        .iter()
        .filter(|r| r.status == RunStatus::Done)
        .filter_map(|r| r.metrics.wall_seconds.map(|w| (w, r.flops)))
        .fold((0.0, 0.0), |(w, f), (w1, f1)| (w + w1, f + f1));
    let t = now();
    let remaining = (flops > 0.0).then(|| {
        let rate = wall / flops;
        runs.iter()
            .map(|r| match r.status {
                RunStatus::Pending => r.flops * rate,
                RunStatus::Running => {
                    (r.flops * rate - r.started_at.map_or(0.0, |s| t - s)).max(0.0)
                }
                _ => 0.0,
            })
            .sum::<f64>()
    });
    let parallel = arrays.iter().map(|a| a.tasks).max().unwrap_or(1).max(1);
    let active: Vec<serde_json::Value> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Running)
        .map(|r| {
            let slurm_state = queued.as_ref().and_then(|q| {
                let job = r.job.as_deref()?;
                q.iter().find(|s| s.job == job).map(|s| s.state.clone())
            });
            serde_json::json!({
                "key": r.key, "host": r.host, "job": r.job, "slurm_state": slurm_state,
                "elapsed_seconds": r.started_at.map(|s| t - s),
                "heartbeat_age_seconds": r.heartbeat.map(|h| t - h),
                "stale": stale.contains(&r.id),
            })
        })
        .collect();
    if json {
        return print_json(&serde_json::json!({
            "sweep": a.name, "counts": by, "running": active, "arrays": arrays,
            "queued": queued, "remaining_run_seconds": remaining,
            "stale": runs.iter().filter(|r| stale.contains(&r.id)).map(|r| &r.key).collect::<Vec<_>>(),
        }));
    }
    let counts = by.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ");
    println!("sweep {}: {} runs: {counts}", a.name, runs.len());
    for r in runs.iter().filter(|r| r.status == RunStatus::Running) {
        let slurm_state = queued.as_ref().and_then(|q| {
            let job = r.job.as_deref()?;
            q.iter().find(|s| s.job == job).map(|s| s.state.as_str())
        });
        println!(
            "  running {:<22} on {:<12} job {:<10} slurm {:<9} elapsed {:<8} heartbeat {} ago{}",
            r.key,
            r.host.as_deref().unwrap_or("–"),
            r.job.as_deref().unwrap_or("–"),
            slurm_state.unwrap_or(if queued.is_some() { "gone" } else { "?" }),
            r.started_at.map_or("–".into(), |s| fmt_duration(t - s)),
            r.heartbeat.map_or("never".into(), |h| fmt_duration(t - h)),
            if stale.contains(&r.id) {
                "  STALE: its trainer is gone; `sweep submit` resets it to pending"
            } else {
                ""
            }
        );
    }
    if let Some(q) = &queued {
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        for s in q {
            *states.entry(s.state.as_str()).or_default() += 1;
        }
        if !arrays.is_empty() {
            println!(
                "  slurm: arrays {}: {}",
                jobs.join(", "),
                if states.is_empty() {
                    "no task queued or running".to_string()
                } else {
                    states.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ")
                }
            );
        }
    }
    if let Some(rem) = remaining {
        println!(
            "  remaining: about {} of run time (at this sweep's measured speed), {} over {parallel} at once",
            fmt_duration(rem),
            fmt_duration(rem / parallel as f64)
        );
    }
    Ok(())
}

/// `isoflop sweep cancel NAME`.
pub fn cancel(a: NameArgs, json: bool) -> Result<()> {
    let store = Store::open_existing(&a.db)?;
    store.sweep(&a.name)?;
    let dir = runs_dir(&a.runs_dir).join(&a.name).join("slurm");
    let arrays = slurm::recorded(&dir)?;
    let jobs: Vec<String> = arrays.iter().map(|a| a.job.clone()).collect();
    if jobs.is_empty() {
        bail!(
            "sweep {}: no Slurm job recorded in {} (was it submitted with `sweep submit --executor slurm`?)",
            a.name,
            dir.join("jobs.json").display()
        );
    }
    slurm::scancel(&jobs)?;
    if json {
        print_json(&serde_json::json!({"sweep": a.name, "cancelled": jobs}))
    } else {
        println!(
            "sweep {}: cancelled jobs {}; running workers save a checkpoint and leave their runs pending",
            a.name,
            jobs.join(", ")
        );
        Ok(())
    }
}
