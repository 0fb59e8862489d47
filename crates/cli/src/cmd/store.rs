//! `isoflop store copy --from A --to B`: moves sweeps between run stores (a cluster's
//! PostgreSQL results brought home into a SQLite file, or a local sweep shared on a server).

use crate::output::print_json;
use anyhow::{Result, bail};
use isoflop_store::{Store, display_location};
use std::path::PathBuf;

/// Arguments of `isoflop store`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Copy sweeps from one store to another (SQLite file or postgres:// URL, either way).
    Copy(CopyArgs),
}

/// Arguments of `isoflop store copy`.
#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The store to read (left unchanged).
    #[arg(long)]
    pub from: PathBuf,
    /// The store to write (created or migrated as needed).
    #[arg(long)]
    pub to: PathBuf,
    /// Only this sweep (repeatable; every sweep by default).
    #[arg(long = "sweep")]
    pub sweeps: Vec<String>,
}

/// Runs `isoflop store`.
pub fn run(args: Args, json: bool) -> Result<()> {
    let Command::Copy(a) = args.command;
    if std::path::absolute(&a.from).ok() == std::path::absolute(&a.to).ok() {
        bail!("--from and --to are the same store ({})", display_location(&a.from));
    }
    let src = Store::open_existing(&a.from)?;
    let mut dst = Store::open(&a.to)?;
    let s = dst.copy_from(&src, &a.sweeps)?;
    if json {
        return print_json(&serde_json::json!({
            "from": display_location(&a.from), "to": display_location(&a.to), "copy": s,
        }));
    }
    println!(
        "copied {} sweep(s) from {} to {}: {} run(s) added, {} unfinished run(s) replaced by \
         finished ones, {} kept",
        s.sweeps.len(),
        display_location(&a.from),
        display_location(&a.to),
        s.added,
        s.replaced,
        s.kept
    );
    Ok(())
}
