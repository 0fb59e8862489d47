//! `isoflop export`: stored runs as observations that `isoflop fit` reads directly.
//!
//! One row per finished run with the columns fit looks for (`N`, `D`, `loss`, `C`, `run`)
//! and a few more it ignores (sweep, budget, seed, OOD loss, bits per byte, speed). With
//! `--curves`, one row per evaluation instead (`run`, `tokens`, `step`; D = tokens so far,
//! C = 6·N·tokens), the input of approach 1. Runs that failed or diverged are left out with
//! a warning naming them: they are not results.

use crate::output::{print_json, printable, write_atomic};
use anyhow::{Context, Result, bail};
use isoflop_store::{Run, RunFilter, RunStatus, Store};
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

const COLUMNS: [&str; 13] = [
    "run",
    "N",
    "D",
    "C",
    "loss",
    "sweep",
    "budget",
    "seed",
    "ood_loss",
    "bits_per_byte",
    "tokens_per_second",
    "wall_seconds",
    "status",
];
const CURVE_COLUMNS: [&str; 8] = ["run", "N", "D", "C", "loss", "tokens", "step", "sweep"];

type Row = Vec<(&'static str, serde_json::Value)>;

fn num(v: f64) -> serde_json::Value {
    serde_json::json!(v)
}
fn opt(v: Option<f64>) -> serde_json::Value {
    v.map_or(serde_json::Value::Null, num)
}

/// The finished runs of `filter` as rows; warns on stderr about the runs left out.
pub fn rows(store: &Store, sweep: Option<String>, curves: bool) -> Result<(Vec<Row>, Vec<Run>)> {
    // Observations of the law are pretraining runs; later stages (compressions) are not.
    let all = store.runs(&RunFilter { sweep, statuses: vec![] })?;
    let (done, other): (Vec<Run>, Vec<Run>) = all
        .into_iter()
        .filter(Run::is_pretrain)
        .partition(|r| r.status == RunStatus::Done && r.metrics.loss.is_some());
    let mut out = Vec::new();
    for r in &done {
        if curves {
            for p in store.curve(r.id)? {
                let Some(loss) = p.val_loss else { continue };
                if p.tokens <= 0.0 {
                    continue;
                }
                out.push(vec![
                    ("run", serde_json::json!(format!("{}/{}", r.sweep, r.key))),
                    ("N", num(r.params)),
                    ("D", num(p.tokens)),
                    ("C", num(6.0 * r.params * p.tokens)),
                    ("loss", num(loss)),
                    ("tokens", num(p.tokens)),
                    ("step", p.step.map_or(serde_json::Value::Null, |s| serde_json::json!(s))),
                    ("sweep", serde_json::json!(r.sweep)),
                ]);
            }
        } else {
            out.push(vec![
                ("run", serde_json::json!(format!("{}/{}", r.sweep, r.key))),
                ("N", num(r.params)),
                ("D", num(r.tokens)),
                ("C", num(r.flops)),
                ("loss", opt(r.metrics.loss)),
                ("sweep", serde_json::json!(r.sweep)),
                ("budget", opt(r.budget)),
                ("seed", serde_json::json!(r.seed)),
                ("ood_loss", opt(r.metrics.ood_loss)),
                ("bits_per_byte", opt(r.metrics.bits_per_byte)),
                ("tokens_per_second", opt(r.metrics.tokens_per_second)),
                ("wall_seconds", opt(r.metrics.wall_seconds)),
                ("status", serde_json::json!(r.status)),
            ]);
        }
    }
    Ok((out, other))
}

/// Warns, naming them, about runs that are not results.
pub fn warn_left_out(other: &[Run]) {
    let bad: Vec<String> = other
        .iter()
        .filter(|r| matches!(r.status, RunStatus::Failed | RunStatus::Diverged))
        .map(|r| {
            let reason = r.reason.as_deref().unwrap_or("?");
            format!("{}/{} ({}: {})", r.sweep, r.key, r.status, reason)
        })
        .collect();
    if !bad.is_empty() {
        let list = printable(&bad.join("; ")).into_owned();
        eprintln!("warning: left out {} failed or diverged run(s): {list}", bad.len());
    }
    let unfinished = other.iter().filter(|r| !r.status.is_final()).count();
    if unfinished > 0 {
        eprintln!("warning: left out {unfinished} unfinished (pending or running) run(s)");
    }
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
            args.store.db.display(),
            args.store.sweep.as_ref().map(|s| format!(" in sweep {s}")).unwrap_or_default()
        );
    }
    if json && args.output.is_none() {
        return print_json(&serde_json::json!({
            "db": args.store.db,
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
                    "db": args.store.db,
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

/// The observations of sweep `sweep` in the store at `db`, as `isoflop fit` reads them from
/// a file: one per finished run, or with `curves` one per evaluation (`run`, `tokens`,
/// `step` set). Failed and diverged runs are left out with a warning naming them.
pub fn sweep_observations(
    db: &std::path::Path,
    sweep: &str,
    curves: bool,
) -> Result<Vec<isoflop_law::Observation>> {
    let store = Store::open_existing(db)?;
    let (rows, other) = rows(&store, Some(sweep.to_string()), curves)?;
    warn_left_out(&other);
    if rows.is_empty() {
        bail!("{}: sweep {sweep} has no finished runs to fit", db.display());
    }
    let get = |row: &Row, k: &str| row.iter().find(|(n, _)| *n == k).and_then(|(_, v)| v.as_f64());
    Ok(rows
        .iter()
        .map(|row| {
            let mut o = isoflop_law::Observation::new(
                get(row, "N").unwrap_or_default(),
                get(row, "D").unwrap_or_default(),
                get(row, "loss").unwrap_or_default(),
            );
            o.c = get(row, "C");
            o.run = row
                .iter()
                .find(|(n, _)| *n == "run")
                .and_then(|(_, v)| v.as_str().map(String::from));
            o.tokens = get(row, "tokens");
            o.step = get(row, "step");
            o
        })
        .collect())
}
