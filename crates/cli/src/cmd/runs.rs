//! `isoflop runs`: list the runs in the run store.

use crate::output::{print_json, printable};
use crate::sweep::plan::short;
use anyhow::Result;
use isoflop_store::{RunFilter, RunStatus, Store};

/// Arguments of `isoflop runs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub store: crate::args::StoreSweep,
    /// Only runs with these statuses (comma-separated: pending, running, done, failed,
    /// diverged).
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<RunStatus>,
}

/// Runs `isoflop runs`.
pub fn run(args: Args, json: bool) -> Result<()> {
    let store = Store::open_existing(&args.store.db)?;
    let runs = store.runs(&RunFilter { sweep: args.store.sweep.clone(), statuses: args.status })?;
    if json {
        return print_json(
            &serde_json::json!({ "db": isoflop_store::display_location(&args.store.db), "runs": runs }),
        );
    }
    println!(
        "{:>4}  {:<14} {:<24} {:<8} {:>9} {:>9} {:>8} {:>8} {:>8}  reason",
        "id", "sweep", "run", "status", "N", "D", "C", "loss", "wall s"
    );
    for r in &runs {
        println!(
            "{:>4}  {:<14} {:<24} {:<8} {:>9} {:>9} {:>8} {:>8} {:>8}  {}",
            r.id,
            printable(&r.sweep),
            printable(&r.key),
            r.status,
            short(r.params),
            short(r.tokens),
            short(r.flops),
            r.metrics.loss.map_or("–".into(), |l| format!("{l:.4}")),
            r.metrics.wall_seconds.map_or("–".into(), |w| format!("{w:.1}")),
            printable(r.reason.as_deref().unwrap_or(""))
        );
    }
    let count = |s: RunStatus| runs.iter().filter(|r| r.status == s).count();
    println!(
        "{} runs: {} done, {} pending, {} running, {} failed, {} diverged",
        runs.len(),
        count(RunStatus::Done),
        count(RunStatus::Pending),
        count(RunStatus::Running),
        count(RunStatus::Failed),
        count(RunStatus::Diverged)
    );
    Ok(())
}
