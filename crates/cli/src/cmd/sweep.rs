//! `isoflop sweep plan|run SPEC`: plan a sweep of training runs and train it into the store.
//!
//! `sweep run` exits 0 when every run it started finished (done or diverged: a divergence is
//! a result), 1 when some runs failed (the others were trained; `isoflop runs --status failed`
//! lists why, `--retry-failed` trains them again), 2 on bad input, 130 when interrupted.

use crate::output::print_json;
use crate::sweep::progress::Progress;
use anyhow::{Context, Result};
use isoflop_sweep::{
    Executor, LayoutOptions, LocalExecutor, LocalOptions, PlannedRun, Pretrainer, RunGraph,
    SweepLayout, SweepOutcome, SweepSpec, calibrate, data, layout, plan, short,
};
use isoflop_train::{Device, EngineKind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Arguments of `isoflop sweep`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the runs of a spec, their FLOPs and the estimated wall time on this machine.
    Plan(PlanArgs),
    /// Train the runs of a spec into the run store (resumes where it left off).
    Run(RunArgs),
}

/// Options shared by `plan` and `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Layout {
    /// Cores to use (default: all of this machine's).
    #[arg(long)]
    pub cores: Option<usize>,
    /// Runs trained side by side (default: as many as the cores and the engine's
    /// recommended threads per run allow).
    #[arg(long)]
    pub parallel_runs: Option<usize>,
    /// Threads per run (default: the engine's recommendation for each run's shape).
    #[arg(long)]
    pub threads_per_run: Option<usize>,
}

/// Arguments of `isoflop sweep plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The sweep spec (TOML), e.g. configs/cpu-demo.toml.
    pub spec: PathBuf,
    /// Skip measuring this machine's speed (no time estimate).
    #[arg(long)]
    pub no_calibrate: bool,
    #[command(flatten)]
    pub layout: Layout,
}

/// Arguments of `isoflop sweep run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The sweep spec (TOML), e.g. configs/cpu-demo.toml.
    pub spec: PathBuf,
    /// The run store.
    #[arg(long, default_value = "isoflop.db")]
    pub db: PathBuf,
    /// Directory for run checkpoints (default: `isoflop-runs` beside the store).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Stop after starting this many runs (the rest stay pending for the next invocation).
    #[arg(long)]
    pub max_runs: Option<usize>,
    /// No progress bar or per-run lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// The spec changed since the sweep's runs were planned: keep the old sweep and its runs
    /// as `NAME@v1` (`@v2`, …) and start a fresh sweep under the name (without this flag a
    /// changed spec is refused, naming what changed).
    #[arg(long)]
    pub new_version: bool,
    /// Train the sweep's failed runs again (diverged runs stay: divergence is a result).
    #[arg(long)]
    pub retry_failed: bool,
    #[command(flatten)]
    pub layout: Layout,
}

/// Runs `isoflop sweep`.
pub fn run(args: Args, json: bool) -> Result<()> {
    match args.command {
        Command::Plan(a) => plan_cmd(a, json),
        Command::Run(a) => {
            let spec = SweepSpec::load(&a.spec)?;
            let outcome = run_spec(&spec, &a, json)?;
            if json {
                print_json(&outcome)?;
            } else {
                print_outcome(&outcome);
            }
            exit_if_stopped(&outcome);
            if outcome.failed > 0 {
                eprintln!(
                    "{} run(s) failed: `isoflop runs --status failed` says why; \
                     `sweep run --retry-failed` trains them again",
                    outcome.failed
                );
                std::process::exit(1);
            }
            Ok(())
        }
    }
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

fn print_outcome(o: &SweepOutcome) {
    println!(
        "sweep {}: {} planned, {} already finished, {} done now, {} diverged, {} failed, {} \
         interrupted, in {:.1} s",
        o.sweep, o.planned, o.skipped, o.done, o.diverged, o.failed, o.interrupted, o.wall_seconds
    );
    if o.held_elsewhere > 0 {
        println!("{} run(s) left to another process that is training them", o.held_elsewhere);
    }
    if o.waiting > 0 {
        println!("{} run(s) wait for input runs that are not finished", o.waiting);
    }
    if o.retried > 0 {
        println!("{} failed run(s) retried", o.retried);
    }
}

impl Layout {
    /// The layout flags over this machine's cores.
    fn options(&self) -> LayoutOptions {
        let machine = LayoutOptions::this_machine();
        LayoutOptions {
            cores: self.cores.unwrap_or(machine.cores).max(1),
            parallel_runs: self.parallel_runs,
            threads_per_run: self.threads_per_run,
        }
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
fn check_layout(layout: &Layout) -> Result<()> {
    if let Some(t) = layout.threads_per_run {
        isoflop_train::check_threads("--threads-per-run", t)?;
    }
    if let Some(c) = layout.cores {
        isoflop_train::check_threads("--cores", c)?;
    }
    Ok(())
}

/// Trains a spec's runs with the local executor (used by `sweep run` and `demo`).
pub fn run_spec(spec: &SweepSpec, a: &RunArgs, _json: bool) -> Result<SweepOutcome> {
    check_layout(&a.layout)?;
    let graph = RunGraph::pretrain(plan(spec)?);
    let mut opts = LocalOptions::new(a.db.clone(), a.layout.options());
    if let Some(dir) = &a.runs_dir {
        opts.runs_dir = dir.clone();
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
        super::train::set_candle_threads(layout.range().1);
    }
    let stop = stop_flag();
    let dataset = data::dataset(spec, &data::cache_dir(), &mut say)?;
    say(format!("sweep {}: {} runs, {}", spec.name, graph.len(), layout.describe()));
    let trainer = Arc::new(Pretrainer::new(spec, dataset, &layout.threads)?);
    LocalExecutor::new(trainer, opts)
        .execute(spec, &graph, &Progress::new(!quiet), stop)
        .with_context(|| format!("sweep {} did not complete", spec.name))
}

fn plan_cmd(a: PlanArgs, json: bool) -> Result<()> {
    let spec = SweepSpec::load(&a.spec)?;
    check_layout(&a.layout)?;
    let runs = plan(&spec)?;
    let opts = a.layout.options();
    let SweepLayout { max_parallel, threads } = layout(&spec, &runs, &opts);
    let estimates = if a.no_calibrate || spec.train.device != Device::Cpu {
        None
    } else {
        if !json {
            eprintln!("measuring this machine's training speed for each shape…");
        }
        let t = &spec.train;
        let eval = calibrate::EvalCost {
            points: t.eval_points.unwrap_or(isoflop_train::DEFAULT_EVAL_POINTS),
            tokens: t.eval_tokens.unwrap_or(isoflop_train::DEFAULT_EVAL_TOKENS),
            final_tokens: t.final_eval_tokens.unwrap_or(isoflop_train::DEFAULT_FINAL_EVAL_TOKENS),
        };
        Some(calibrate::estimate(t.engine, &runs, &threads, eval)?)
    };
    let wall = estimates.as_ref().map(|e| {
        let jobs: Vec<(f64, usize)> = e.iter().map(|r| (r.seconds, r.threads)).collect();
        calibrate::makespan(&jobs, opts.cores, max_parallel)
    });
    let total_flops: f64 = runs.iter().map(|r| r.flops).sum();
    let total_palm: f64 = runs.iter().map(|r| r.flops_palm).sum();
    if json {
        let rows: Vec<serde_json::Value> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                serde_json::json!({
                    "key": r.key, "n_layer": r.model.n_layer, "d_model": r.model.d_model,
                    "n_head": r.model.n_head, "context": r.model.context, "params": r.params,
                    "tokens": r.tokens, "tokens_per_param": r.tokens_per_param,
                    "flops": r.flops, "flops_palm": r.flops_palm, "budget": r.budget,
                    "seed": r.seed, "threads": threads[i],
                    "estimated_seconds": estimates.as_ref().map(|e| e[i].seconds),
                    "tokens_per_second": estimates.as_ref().map(|e| e[i].tokens_per_second),
                })
            })
            .collect();
        return print_json(&serde_json::json!({
            "sweep": spec.name, "engine": spec.train.engine, "cores": opts.cores,
            "runs": rows, "total_flops": total_flops, "total_flops_palm": total_palm,
            "estimated_wall_seconds": wall,
        }));
    }
    print_plan(&spec, &runs, &threads, estimates.as_deref());
    println!(
        "{} runs · C = 6ND total {} FLOPs ({} with attention, PaLM appendix B) · engine {} · \
         {} cores",
        runs.len(),
        short(total_flops),
        short(total_palm),
        spec.train.engine,
        opts.cores
    );
    if let Some(w) = wall {
        println!(
            "estimated wall time: {} (each shape's speed measured on this machine, evaluations \
             included; checkpoints and runs side by side sharing memory bandwidth left out)",
            fmt_duration(w)
        );
    }
    Ok(())
}

fn print_plan(
    spec: &SweepSpec,
    runs: &[PlannedRun],
    threads: &[usize],
    est: Option<&[calibrate::RunEstimate]>,
) {
    println!("sweep {} ({} runs)", spec.name, runs.len());
    println!(
        "{:<24} {:>6} {:>6} {:>10} {:>10} {:>7} {:>9} {:>8} {:>10} {:>9}",
        "run", "layers", "width", "N", "D", "D/N", "C=6ND", "threads", "tokens/s", "est."
    );
    for (i, r) in runs.iter().enumerate() {
        let (tps, secs) = est
            .map(|e| (format!("{:.0}", e[i].tokens_per_second), fmt_duration(e[i].seconds)))
            .unwrap_or(("–".into(), "–".into()));
        println!(
            "{:<24} {:>6} {:>6} {:>10} {:>10} {:>7.1} {:>9} {:>8} {:>10} {:>9}",
            r.key,
            r.model.n_layer,
            r.model.d_model,
            r.params as u64,
            r.tokens,
            r.tokens_per_param,
            short(r.flops),
            threads[i],
            tps,
            secs
        );
    }
}

/// `1h 02m`, `3m 05s`, `42.0 s`.
pub fn fmt_duration(s: f64) -> String {
    if s >= 3600.0 {
        format!("{}h {:02}m", (s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64)
    } else if s >= 60.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1} s")
    }
}
