//! `isoflop report`: the HTML report of a sweep, with its charts as PNGs beside it.

use crate::args::StoreSweep;
use crate::output::print_json;
use crate::sweep::analysis::{AnalysisOptions, analyse};
use crate::sweep::report::{pick_sweep, write};
use anyhow::{Result, bail};
use isoflop_store::Store;
use std::path::PathBuf;

/// Arguments of `isoflop report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreSweep,
    /// The HTML file; PNGs go beside it as <name>-<chart>.png, the fit as <name>-fit.json.
    #[arg(short, long, default_value = "report.html")]
    pub output: PathBuf,
    /// Bootstrap resamples for the intervals and bands (0: none).
    #[arg(long, default_value_t = 200)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Hold out the runs of this many of the largest IsoFLOP budgets to test extrapolation.
    #[arg(long, default_value_t = 1)]
    pub holdout_budgets: usize,
    /// Budgets (FLOPs) to plan for (default: 10×, 100×, 1000× the largest run).
    #[arg(long = "plan-budget", value_name = "FLOPS")]
    pub plan_budgets: Vec<f64>,
}

/// Runs `isoflop report`.
pub fn run(args: Args, json: bool) -> Result<()> {
    let store = Store::open_existing(&args.store.db)?;
    let sweep = pick_sweep(&store, args.store.sweep.as_deref())?;
    for &c in &args.plan_budgets {
        if !(c.is_finite() && c > 0.0) {
            bail!("--plan-budget {c}: must be a positive number of FLOPs");
        }
    }
    let opts = AnalysisOptions {
        bootstrap: args.bootstrap,
        seed: args.seed,
        holdout_budgets: args.holdout_budgets,
        plan_budgets: args.plan_budgets.clone(),
    };
    let analysis = analyse(&store, &sweep, &opts)?;
    let files = write(&analysis, &args.output)?;
    for n in &analysis.notes {
        eprintln!("note: {n}");
    }
    if json {
        return print_json(&serde_json::json!({
            "sweep": sweep, "files": files, "analysis": analysis,
        }));
    }
    println!("report of sweep {sweep}: {}", args.output.display());
    for f in files.iter().skip(1) {
        println!("  {}", f.display());
    }
    Ok(())
}
