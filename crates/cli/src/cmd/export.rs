//! `isoflop export`: stored runs as observations that `isoflop fit` reads directly.
//!
//! One row per finished run with the columns fit looks for (`N`, `D`, `loss`, `C`, `run`)
//! and a few more it ignores (sweep, budget, seed, OOD loss, bits per byte, speed). With
//! `--curves`, one row per evaluation instead (`run`, `tokens`, `step`; D = tokens so far,
//! C = 6·N·tokens), the input of approach 1. Runs that failed or diverged are left out with
//! a warning naming them: they are not results.

use crate::output::{print_json, write_atomic};
use crate::sweep::observations::{COLUMNS, CURVE_COLUMNS, Row, rows, warn_left_out};
use anyhow::{Context, Result, bail};
use isoflop_store::Store;
use std::io::Write;
use std::path::PathBuf;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Arguments of `isoflop export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub store: crate::args::StoreSweep,
    /// Output format (default: from the extension of -o, else csv).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Output file (default: stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// One row per curve point instead of one per run.
    #[arg(long)]
    pub curves: bool,
}

/// Renders rows as CSV or JSONL.
pub fn render(rows: &[Row], format: Format, curves: bool) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match format {
        Format::Jsonl => {
            for row in rows {
                let obj: serde_json::Map<String, serde_json::Value> =
                    row.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
                serde_json::to_writer(&mut buf, &obj)?;
                buf.push(b'\n');
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut buf);
            let header: &[&str] = if curves { &CURVE_COLUMNS } else { &COLUMNS };
            w.write_record(header)?;
            for row in rows {
                w.write_record(row.iter().map(|(_, v)| match v {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }))?;
            }
            w.flush()?;
        }
    }
    Ok(buf)
}

/// The rows as JSON objects, columns in order.
fn json_rows(rows: &[Row]) -> Vec<serde_json::Map<String, serde_json::Value>> {
    rows.iter().map(|row| row.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()).collect()
}

/// Runs `isoflop export`. With `--json` the observations are one JSON document on stdout
/// (`{"db", "sweep", "curves", "rows": [...]}`), or with `-o` the file is written as asked and
/// the document says what was written.
pub fn run(args: Args, json: bool) -> Result<()> {
    let format = match (args.format, &args.output) {
        (Some(f), _) => f,
        (None, Some(p)) => match p.extension().and_then(|e| e.to_str()) {
            Some("jsonl") | Some("ndjson") => Format::Jsonl,
            Some("csv") | None => Format::Csv,
            Some(other) => bail!(
                "-o {}: cannot tell the format from `.{other}`; use .csv or .jsonl, or --format",
                p.display()
            ),
        },
        (None, None) => Format::Csv,
    };
    let store = Store::open_existing(&args.store.db)?;
    let (rows, other) = rows(&store, args.store.sweep.clone(), args.curves)?;
    warn_left_out(&other);
    if rows.is_empty() {
        bail!(
            "{}: no finished runs{} to export",
            isoflop_store::display_location(&args.store.db),
            args.store.sweep.as_ref().map(|s| format!(" in sweep {s}")).unwrap_or_default()
        );
    }
    if json && args.output.is_none() {
        return print_json(&serde_json::json!({
            "db": isoflop_store::display_location(&args.store.db),
            "sweep": args.store.sweep,
            "curves": args.curves,
            "rows": json_rows(&rows),
        }));
    }
    let bytes = render(&rows, format, args.curves)?;
    match &args.output {
        Some(path) => {
            write_atomic(path, &bytes)?;
            if json {
                let format = match format {
                    Format::Csv => "csv",
                    Format::Jsonl => "jsonl",
                };
                print_json(&serde_json::json!({
                    "db": isoflop_store::display_location(&args.store.db),
                    "output": path,
                    "format": format,
                    "rows": rows.len(),
                }))?;
            } else {
                eprintln!("wrote {} rows to {}", rows.len(), path.display());
            }
        }
        None => std::io::stdout().write_all(&bytes).context("cannot write to stdout")?,
    }
    Ok(())
}
