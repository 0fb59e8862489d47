//! `isoflop demo`: the whole loop on a CPU in one command: fetch the corpus (once), train
//! the IsoFLOP sweep of `configs/cpu-demo.toml` (`--quick`: `configs/cpu-quick.toml`), fit
//! Chinchilla's law with bootstrap intervals on all but the largest budget, check the
//! extrapolation on the held-out largest runs, plan larger budgets, write the report, and
//! print a summary.
//!
//! Rerunning it resumes: finished runs are kept, interrupted ones continue from their
//! checkpoints.

use crate::args::Layout;
use crate::format::fmt_duration;
use crate::output::print_json;
use crate::sweep::analysis::{AnalysisOptions, analyse};
use crate::sweep::plan::short;
use crate::sweep::run::{self, RunSettings};
use crate::sweep::spec::SweepSpec;
use anyhow::Result;
use isoflop_store::Store;
use std::path::PathBuf;
use std::time::Instant;

/// The demo's specs, built into the binary so the demo runs from any directory.
const DEMO_SPEC: &str = include_str!("../../../../configs/cpu-demo.toml");
const QUICK_SPEC: &str = include_str!("../../../../configs/cpu-quick.toml");

/// Arguments of `isoflop demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The smoke-test sweep (configs/cpu-quick.toml, about a minute on 2 cores) instead of
    /// the full demo (configs/cpu-demo.toml: 25 IsoFLOP points over 5 budgets, measured as
    /// WSD cooldown branches from 7 trunks).
    #[arg(long)]
    pub quick: bool,
    /// Another sweep spec instead of the built-in ones.
    #[arg(long, conflicts_with = "quick")]
    pub spec: Option<PathBuf>,
    /// The run store.
    #[arg(long, env = "ISOFLOP_DB", default_value = "isoflop.db")]
    pub db: PathBuf,
    /// Where the report goes.
    #[arg(short, long, default_value = "isoflop-demo/report.html")]
    pub output: PathBuf,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 200)]
    pub bootstrap: usize,
    /// No progress bar or per-run lines.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub layout: Layout,
}

/// Runs `isoflop demo`.
pub fn run(args: Args, json: bool) -> Result<()> {
    let t0 = Instant::now();
    let spec = match &args.spec {
        Some(path) => SweepSpec::load(path)?,
        None if args.quick => SweepSpec::parse(QUICK_SPEC, "configs/cpu-quick.toml")?,
        None => SweepSpec::parse(DEMO_SPEC, "configs/cpu-demo.toml")?,
    };
    let settings = RunSettings {
        db: args.db.clone(),
        runs_dir: None,
        max_runs: None,
        quiet: args.quiet,
        new_version: false,
        retry_failed: false,
        layout: args.layout.clone(),
    };
    let outcome = run::train(&spec, &settings)?;
    run::exit_if_stopped(&outcome);
    let train_seconds = t0.elapsed().as_secs_f64();
    let store = Store::open_existing(&args.db)?;
    let opts = AnalysisOptions { bootstrap: args.bootstrap, ..AnalysisOptions::default() };
    let analysis = analyse(&store, &spec.name, &opts)?;
    let files = crate::sweep::report::write(&analysis, &args.output)?;
    let wall = t0.elapsed().as_secs_f64();
    if json {
        return print_json(&serde_json::json!({
            "sweep": spec.name,
            "outcome": outcome,
            "train_seconds": train_seconds,
            "wall_seconds": wall,
            "report": args.output,
            "files": files,
            "analysis": analysis,
        }));
    }
    println!();
    println!("isoflop demo · sweep {} · {}", spec.name, fmt_duration(wall));
    println!(
        "  runs        {} trained now, {} already finished, {} diverged, {} failed",
        outcome.done, outcome.skipped, outcome.diverged, outcome.failed
    );
    match &analysis.fit {
        Some(f) => {
            let iv = |k: &str| {
                f.intervals.get(k).map(|[l, h]| format!(" [{l:.3}, {h:.3}]")).unwrap_or_default()
            };
            println!(
                "  law         L = E + A/N^α + B/D^β with E = {:.3}{}, α = {:.3}{}, β = {:.3}{}",
                f.params["E"],
                iv("E"),
                f.params["alpha"],
                iv("alpha"),
                f.params["beta"],
                iv("beta")
            );
            if let (Some(a), Some(b)) = (f.derived.get("a"), f.derived.get("b")) {
                println!(
                    "  scaling     N_opt ∝ C^{a:.3}{}, D_opt ∝ C^{b:.3}{} (Chinchilla: 0.50, 0.50)",
                    iv("a"),
                    iv("b")
                );
            }
        }
        None => println!(
            "  law         not fitted: {}",
            analysis.no_fit.as_deref().unwrap_or("unknown reason")
        ),
    }
    if let Some(e) = analysis.extrapolation_error {
        println!(
            "  extrapolation  mean |error| {:.2}% on the {} held-out runs of the largest budget:",
            100.0 * e,
            analysis.held_out.len()
        );
        for (key, h) in &analysis.held_out {
            println!(
                "                 {key:<22} actual {:.4}  predicted {:.4}  ({:+.2}%)",
                h.actual,
                h.predicted,
                100.0 * h.rel_err
            );
        }
    }
    for v in &analysis.vertices {
        println!(
            "  IsoFLOP     C = {:<7} optimum N* = {} (D* = {})",
            short(v[0]),
            short(v[1]),
            short(v[2])
        );
    }
    for p in &analysis.plans {
        let iv = p.n_interval.map(|[l, h]| format!(" [{}, {}]", short(l), short(h)));
        println!(
            "  plan        C = {:<7} N_opt = {}{}  D_opt = {}  loss {:.3}",
            short(p.compute),
            short(p.n_opt),
            iv.unwrap_or_default(),
            short(p.d_opt),
            p.loss
        );
    }
    for cf in &analysis.compression_fits {
        let deltas: Vec<f64> = analysis
            .compression
            .iter()
            .filter(|c| c.method == cf.method)
            .filter_map(|c| c.loss_delta)
            .collect();
        let lo = deltas.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = deltas.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Does the cost shrink with size? The power law in N over the positive deltas.
        let law = cf.fit.as_ref().map_or(String::new(), |f| {
            // The exponent of N is −b: its interval is b's, negated and swapped.
            let iv =
                f.b_interval.map_or(String::new(), |(l, h)| format!(" [{:.2}, {:.2}]", -h, -l));
            format!("; delta ∝ N^{:.2}{iv} (R² {:.2}, {} positive)", -f.b, f.r2, f.points)
        });
        println!(
            "  compress    {:<10} loss {lo:+.4} to {hi:+.4} over {} models{law}",
            cf.method,
            deltas.len()
        );
    }
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for d in &analysis.downstream {
        if seen.contains(&(d.task.as_str(), d.method.as_str())) {
            continue;
        }
        seen.push((&d.task, &d.method));
        let cells: Vec<String> = analysis
            .downstream
            .iter()
            .filter(|e| e.task == d.task && e.method == d.method)
            .map(|e| format!("{:.3} ({})", e.accuracy, short(e.params)))
            .collect();
        let base = match (d.majority_accuracy, d.baseline_accuracy) {
            (Some(m), Some(b)) => format!("; majority {m:.3}, naive Bayes {b:.3}"),
            _ => String::new(),
        };
        println!(
            "  downstream  {} · {}: test accuracy by N {}{base}",
            d.task,
            d.method,
            cells.join(", ")
        );
    }
    for l in &analysis.downstream_laws {
        let p = &l.law.metric_fit.params;
        let check = l.held_out_error.map_or(String::new(), |e| {
            format!(
                "; fitted without the largest budget it predicts that budget's {} accuracies \
                 {:.1} points off on average",
                l.held_out.len(),
                100.0 * e
            )
        });
        let flat = if l.trend == Some(false) {
            "; no trend shown (k's 95% interval includes 0)"
        } else {
            ""
        };
        println!(
            "  downstream  {} · {} law: accuracy {:.3} → {:.3} as loss falls, midpoint at loss \
             {:.3}{check}{flat}",
            l.task, l.method, p["floor"], p["ceiling"], p["x0"]
        );
    }
    for n in &analysis.notes {
        println!("  note        {n}");
    }
    println!("  report      {}", args.output.display());
    Ok(())
}
