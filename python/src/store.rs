//! The run store, read: the runs of a sweep and their loss curves, as rows of named values
//! that the Python side turns into DataFrames (or dicts of lists without pandas).
//!
//! Columns follow `isoflop export` so a table goes straight into `isoflop.fit`: `N`
//! (parameters), `D` (tokens), `C` (FLOPs), `loss` (final validation loss, nats per token).

use crate::errors;
use isoflop_store::{RunFilter, RunStatus, Store};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn open(db: &Path) -> PyResult<Store> {
    Store::open_existing(db).map_err(errors::store)
}

fn statuses(status: Option<Vec<String>>) -> PyResult<Vec<RunStatus>> {
    status
        .unwrap_or_default()
        .iter()
        .map(|s| s.parse::<RunStatus>().map_err(|e| PyValueError::new_err(format!("status: {e}"))))
        .collect()
}

/// The runs of `db` (one sweep's, when given; only these statuses, when given) as JSON rows,
/// by sweep then id, as `isoflop runs` lists them.
#[pyfunction]
#[pyo3(signature = (db, sweep = None, status = None))]
pub fn runs(
    py: Python<'_>,
    db: PathBuf,
    sweep: Option<String>,
    status: Option<Vec<String>>,
) -> PyResult<String> {
    let statuses = statuses(status)?;
    py.detach(move || {
        let store = open(&db)?;
        let runs = store.runs(&RunFilter { sweep, statuses }).map_err(errors::store)?;
        let rows: Vec<Value> = runs
            .iter()
            .map(|r| {
                let m = &r.metrics;
                json!({
                    "id": r.id, "sweep": r.sweep, "run": r.key, "status": r.status,
                    "N": r.params, "D": r.tokens, "C": r.flops, "loss": m.loss,
                    "budget": r.budget, "seed": r.seed, "train_loss": m.train_loss,
                    "ood_loss": m.ood_loss, "bits_per_byte": m.bits_per_byte,
                    "tokens_per_second": m.tokens_per_second, "mfu": m.mfu,
                    "wall_seconds": m.wall_seconds, "reason": r.reason, "engine": r.engine,
                    "host": r.host, "version": r.version, "source": r.source,
                    "attempts": r.attempts, "started_at": r.started_at,
                    "finished_at": r.finished_at, "checkpoint": r.checkpoint,
                    "config": r.config,
                })
            })
            .collect();
        Ok(Value::Array(rows).to_string())
    })
}

/// Every evaluation along the finished runs of `db` (one sweep's, one run's when given), as
/// JSON rows: run, sweep, N, D (tokens so far), C = 6·N·D, loss (validation), train_loss,
/// step. Approach 1 (`isoflop.fit(curves, approach=1)`) reads these.
#[pyfunction]
#[pyo3(signature = (db, sweep = None, run = None))]
pub fn curves(
    py: Python<'_>,
    db: PathBuf,
    sweep: Option<String>,
    run: Option<String>,
) -> PyResult<String> {
    py.detach(move || {
        let store = open(&db)?;
        let runs = store
            .runs(&RunFilter { sweep, statuses: vec![RunStatus::Done] })
            .map_err(errors::store)?;
        let wanted = |key: &str, full: &str| run.as_deref().is_none_or(|r| r == key || r == full);
        let mut rows = Vec::new();
        let mut matched = false;
        for r in &runs {
            let full = format!("{}/{}", r.sweep, r.key);
            if !wanted(&r.key, &full) {
                continue;
            }
            matched = true;
            for p in store.curve(r.id).map_err(errors::store)? {
                rows.push(json!({
                    "run": full, "sweep": r.sweep, "N": r.params, "D": p.tokens,
                    "C": 6.0 * r.params * p.tokens, "loss": p.val_loss,
                    "train_loss": p.train_loss, "tokens": p.tokens, "step": p.step,
                }));
            }
        }
        if let (Some(r), false) = (&run, matched) {
            return Err(PyValueError::new_err(format!(
                "{}: no finished run named {r:?}",
                db.display()
            )));
        }
        Ok(Value::Array(rows).to_string())
    })
}
