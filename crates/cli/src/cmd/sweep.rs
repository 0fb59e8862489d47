//! `isoflop sweep plan|run|submit SPEC`: plan a sweep of training runs and train it into the
//! store, here or on a Slurm cluster (`sweep worker|status|cancel`: `sweep/cluster.rs`).
//!
//! `sweep run` exits 0 when every run it started finished (done or diverged: a divergence is
//! a result), 1 when some runs failed (the others were trained; `isoflop runs --status failed`
//! lists why, `--retry-failed` trains them again), 2 on bad input, 130 when interrupted.

use crate::args::Layout;
use crate::format::fmt_duration;
use crate::output::print_json;
use crate::sweep::run::{self, RunSettings};
use anyhow::Result;
use isoflop_sweep::graph::distill_inputs;
use isoflop_sweep::stage_cost::{StageCosts, stage_costs};
use isoflop_sweep::{PlannedRun, SweepLayout, SweepSpec, calibrate, layout, plan, short};
use isoflop_train::Device;
use std::path::PathBuf;

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
    /// Submit the runs of a spec to a cluster (`--executor slurm`: job arrays of workers).
    Submit(crate::sweep::cluster::SubmitArgs),
    /// Claim one ready run from the shared store and train it (what a Slurm task runs).
    Worker(crate::sweep::cluster::WorkerArgs),
    /// Runs by state, their Slurm jobs, stale runs and the remaining time.
    Status(crate::sweep::cluster::NameArgs),
    /// Cancel the sweep's Slurm jobs (workers checkpoint and leave their runs pending).
    Cancel(crate::sweep::cluster::NameArgs),
    /// Fit the whole-curve law (learning-rate schedule as a feature) per model size and
    /// predict each size's longest run from its shorter runs and early evaluations.
    CurveLaw(CurveLawArgs),
}

/// Arguments of `isoflop sweep curve-law`.
#[derive(Debug, clap::Args)]
pub struct CurveLawArgs {
    /// The sweep's name.
    pub name: String,
    /// The run store.
    #[arg(long, env = "ISOFLOP_DB", default_value = "isoflop.db")]
    pub db: PathBuf,
    /// The share of the longest run's steps whose evaluations the fit may use.
    #[arg(long, default_value_t = 0.3)]
    pub early: f64,
    /// The annealing momentum λ (Tissue et al. 2024 use 0.999 for runs of tens of thousands
    /// of steps; a drop of the rate is remembered for about 1/(1 − λ) steps).
    #[arg(long, default_value_t = isoflop_law::TISSUE_LAMBDA)]
    pub lambda: f64,
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
    /// The run store: a SQLite file, or `postgres://user@host/dbname`.
    #[arg(long, env = "ISOFLOP_DB", default_value = "isoflop.db")]
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

impl RunArgs {
    /// What `sweep run` asks of the local executor.
    fn settings(&self) -> RunSettings {
        RunSettings {
            db: self.db.clone(),
            runs_dir: self.runs_dir.clone(),
            max_runs: self.max_runs,
            quiet: self.quiet,
            new_version: self.new_version,
            retry_failed: self.retry_failed,
            layout: self.layout.clone(),
        }
    }
}

/// Runs `isoflop sweep`.
pub fn run(args: Args, json: bool) -> Result<()> {
    match args.command {
        Command::Plan(a) => plan_cmd(a, json),
        Command::Submit(a) => crate::sweep::cluster::submit(a, json),
        Command::Worker(a) => crate::sweep::cluster::worker(a, json),
        Command::Status(a) => crate::sweep::cluster::status(a, json),
        Command::Cancel(a) => crate::sweep::cluster::cancel(a, json),
        Command::CurveLaw(a) => curve_law_cmd(a, json),
        Command::Run(a) => {
            let spec = SweepSpec::load(&a.spec)?;
            let outcome = run::train(&spec, &a.settings())?;
            if json {
                print_json(&outcome)?;
            } else {
                print_outcome(&outcome);
            }
            run::exit_if_stopped(&outcome);
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

pub(crate) fn print_outcome(o: &isoflop_sweep::SweepOutcome) {
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

fn plan_cmd(a: PlanArgs, json: bool) -> Result<()> {
    let spec = SweepSpec::load(&a.spec)?;
    run::check_layout(&a.layout)?;
    // The law's points, and what the machine trains for them (a WSD design: trunks and
    // cooldowns; the table and the estimates are of these).
    let points = plan(&spec)?;
    let runs = isoflop_sweep::graph::trained_runs(&spec, &points);
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
    // The later stages, priced from the same speeds; they start as their models finish, so
    // the schedule queues them after the pretraining runs.
    let stages = estimates
        .as_ref()
        .filter(|_| points.len() == runs.len())
        .map(|e| stage_costs(&spec, &runs, e, &isoflop_sweep::data::cache_dir()));
    let wall = estimates.as_ref().map(|e| {
        let mut jobs: Vec<(f64, usize)> = e.iter().map(|r| (r.seconds, r.threads)).collect();
        jobs.extend(stages.iter().flat_map(StageCosts::jobs));
        calibrate::makespan(&jobs, opts.cores, max_parallel)
    });
    let seconds = |f: fn(&StageCosts) -> &Vec<(f64, usize)>| {
        stages
            .as_ref()
            .filter(|s| !f(s).is_empty())
            .map(|s| f(s).iter().map(|j| j.0).fold(0.0, |a, b| a + b))
    };
    // A task that could not be priced leaves the fine-tunes' total untold, not understated.
    let priced = stages.as_ref().is_some_and(|s| s.notes.is_empty());
    let (compress_s, finetune_s, distill_s) = (
        seconds(|s| &s.compress),
        seconds(|s| &s.finetune).filter(|_| priced),
        seconds(|s| &s.distill),
    );
    let timed = |n: usize, secs: Option<f64>| match secs {
        Some(t) if n > 0 => format!("{} of run time", fmt_duration(t)),
        _ => "not in the time estimate".to_string(),
    };
    let total_flops: f64 = points.iter().map(|r| r.flops).sum();
    let compress_runs = points.len() * spec.compress.variants().len();
    let finetune_runs = points.len() * spec.finetune.tasks.len() * spec.finetune.methods.len();
    let distill_runs =
        spec.distill.as_ref().map_or(0, |d| distill_inputs(d.teacher, &points).len());
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
            "compress_runs": compress_runs,
            "finetune_runs": finetune_runs,
            "distill_runs": distill_runs,
            "compress_seconds": compress_s,
            "finetune_seconds": finetune_s,
            "distill_seconds": distill_s,
        }));
    }
    print_plan(&spec, &runs, &threads, estimates.as_deref());
    if points.len() != runs.len() {
        let trained: f64 = runs.iter().map(|r| r.tokens as f64).sum();
        let asked: f64 = points.iter().map(|r| r.tokens as f64).sum();
        println!(
            "WSD: {} trunks (constant rate to the longest branch point) and {} cooldown branches \
             (D above: the tokens each trains) measure {} (N, D) points on {} tokens instead of {} \
             ({:.0}%)",
            runs.len() - points.len(),
            points.len(),
            points.len(),
            short(trained),
            short(asked),
            100.0 * trained / asked
        );
    }
    println!(
        "{} {} · C = 6ND total {} FLOPs ({} with attention{}, PaLM appendix B) · engine {} · {} \
         cores",
        points.len(),
        if points.len() == runs.len() { "runs" } else { "points" },
        short(total_flops),
        short(total_palm),
        if points.len() == runs.len() { "" } else { " as trained" },
        spec.train.engine,
        opts.cores
    );
    if compress_runs > 0 {
        let c = &spec.compress;
        let several = c.sparsities().len() > 1;
        let methods: Vec<String> = c
            .variants()
            .into_iter()
            .map(|v| match c.sparsity_of(v).filter(|_| several) {
                Some(s) => format!("{} s{s}", v.method),
                None => v.method.name().to_string(),
            })
            .collect();
        println!(
            "+ {compress_runs} compression runs ({} of each model, after it finishes; {})",
            methods.join(", "),
            timed(compress_runs, compress_s)
        );
    }
    if let Some(d) = spec.distill.as_ref().filter(|_| distill_runs > 0) {
        println!(
            "+ {distill_runs} distillation runs (each budget's {} run teaching its other models, \
             after they finish; {})",
            d.teacher.name(),
            timed(distill_runs, distill_s)
        );
    }
    if finetune_runs > 0 {
        println!(
            "+ {finetune_runs} fine-tune runs ({} task(s) × {} method(s) of each model, after it \
             finishes; {}, every epoch run: early stopping shortens them)",
            spec.finetune.tasks.len(),
            spec.finetune.methods.len(),
            timed(finetune_runs, finetune_s)
        );
    }
    for n in stages.iter().flat_map(|s| &s.notes) {
        println!("  note: {n}");
    }
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

fn curve_law_cmd(a: CurveLawArgs, json: bool) -> Result<()> {
    if !(a.early > 0.0 && a.early < 1.0) {
        anyhow::bail!("--early {}: must lie strictly between 0 and 1", a.early);
    }
    if !(a.lambda > 0.0 && a.lambda < 1.0) {
        anyhow::bail!("--lambda {}: must lie strictly between 0 and 1", a.lambda);
    }
    let opts = isoflop_law::CurveLawOptions { lambda: a.lambda, ..Default::default() };
    let store = isoflop_store::Store::open_existing(&a.db)?;
    store.sweep(&a.name)?;
    let checks = isoflop_sweep::curve_check::curve_checks(&store, &a.name, a.early, &opts)?;
    if json {
        return print_json(
            &serde_json::json!({"sweep": a.name, "early": a.early, "sizes": checks}),
        );
    }
    if checks.is_empty() {
        anyhow::bail!(
            "sweep {}: no model size has two finished runs of different token counts with curves",
            a.name
        );
    }
    println!(
        "sweep {}: whole-curve law (Tissue et al. 2024, λ = {}) per size, fitted on the shorter \
         runs and the longest run's first {:.0}% of steps",
        a.name,
        a.lambda,
        a.early * 100.0
    );
    println!(
        "{:>10}  {:>5}  {:<22} {:>9} {:>9} {:>7} {:>10}  L0 A alpha C",
        "N", "runs", "predicted run", "predicted", "actual", "error", "last seen"
    );
    for c in &checks {
        let p = c.params_fitted;
        println!(
            "{:>10}  {:>5}  {:<22} {:>9.4} {:>9.4} {:>6.2}% {:>10.4}  {:.3} {:.3} {:.3} {:.3}",
            short(c.params),
            c.fitted_runs.len() + 1,
            c.held_out,
            c.predicted,
            c.actual,
            c.rel_err * 100.0,
            c.last_seen,
            p[0],
            p[1],
            p[2],
            p[3]
        );
    }
    let mean = checks.iter().map(|c| c.rel_err).sum::<f64>() / checks.len() as f64;
    println!("mean error {:.2}% over {} sizes", mean * 100.0, checks.len());
    Ok(())
}
