//! A sweep's runs as observations, shared by `export` (as CSV/JSONL rows) and `fit --db`
//! (as the law's observations): pretraining runs only, finished ones as points, the others
//! named on stderr.

use crate::output::printable;
use anyhow::{Result, bail};
use isoflop_store::{Run, RunFilter, RunStatus, Store};

/// The columns of an export of final losses, in order.
pub const COLUMNS: [&str; 13] = [
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
/// The columns of an export of whole curves (`--curves`), in order.
pub const CURVE_COLUMNS: [&str; 8] = ["run", "N", "D", "C", "loss", "tokens", "step", "sweep"];

/// One row of an export: (column, value) in column order.
pub type Row = Vec<(&'static str, serde_json::Value)>;

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

/// The sweep's finished fine-tunes as downstream rows of `fit --downstream`: each its
/// pretrained model's N, D and loss with the test accuracy as `metric`, and `task`, `method`.
pub fn finetune_observations(
    db: &std::path::Path,
    sweep: &str,
) -> Result<Vec<isoflop_law::Observation>> {
    let store = Store::open_existing(db)?;
    let runs = store.runs(&RunFilter { sweep: Some(sweep.to_string()), statuses: vec![] })?;
    let rows = isoflop_sweep::analysis::downstream_rows(&runs);
    if rows.is_empty() {
        bail!("{}: sweep {sweep} has no finished fine-tunes (its spec's [finetune])", db.display());
    }
    Ok(rows
        .iter()
        .filter_map(|r| {
            let mut o = isoflop_law::Observation::new(r.params, r.tokens, r.source_loss?);
            o.metric = Some(r.accuracy);
            o.task = Some(r.task.clone());
            o.method = Some(r.method.clone());
            o.run = Some(format!("{sweep}/{}", r.key));
            Some(o)
        })
        .collect())
}
