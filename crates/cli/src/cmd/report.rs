//! `isoflop report`: the HTML report of a sweep, with its charts as PNGs beside it.

use crate::output::{print_json, write_atomic};
use crate::sweep::analysis::{Analysis, AnalysisOptions, analyse};
use anyhow::{Context, Result, bail};
use isoflop_store::Store;
use std::path::{Path, PathBuf};

/// Arguments of `isoflop report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run store.
    #[arg(long, default_value = "isoflop.db")]
    pub db: PathBuf,
    /// The sweep to report (default: the store's only sweep).
    #[arg(long)]
    pub sweep: Option<String>,
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

/// The sweep to report: the one named, or the store's only one.
pub fn pick_sweep(store: &Store, name: Option<&str>) -> Result<String> {
    if let Some(n) = name {
        return Ok(store.sweep(n)?.name);
    }
    let sweeps = store.sweeps()?;
    match sweeps.as_slice() {
        [only] => Ok(only.name.clone()),
        [] => bail!("{} holds no sweep yet", store.path().display()),
        many => bail!(
            "{} holds {} sweeps; choose one with --sweep ({})",
            store.path().display(),
            many.len(),
            many.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Writes the report of an analysis; returns the files written.
pub fn write(analysis: &Analysis, html: &Path) -> Result<Vec<PathBuf>> {
    let written = isoflop_report::write_report(&analysis.input, html)
        .with_context(|| format!("cannot write report {}", html.display()))?;
    let mut files = vec![written.html.clone()];
    files.extend(written.pngs.iter().cloned());
    if let Some(fit) = &analysis.fit {
        let stem = html.file_stem().and_then(|s| s.to_str()).unwrap_or("report");
        let path = html.with_file_name(format!("{stem}-fit.json"));
        write_atomic(&path, serde_json::to_string_pretty(fit)?.as_bytes())?;
        files.push(path);
    }
    Ok(files)
}

/// Runs `isoflop report`.
pub fn run(args: Args, json: bool) -> Result<()> {
    let store = Store::open_existing(&args.db)?;
    let sweep = pick_sweep(&store, args.sweep.as_deref())?;
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
