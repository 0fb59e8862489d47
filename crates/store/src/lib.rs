//! isoflop-store: the run store that every sweep writes and every report reads: one SQLite
//! file for one machine, or a PostgreSQL database that workers on many nodes share.
//!
//! - [`Store`]: opens (and migrates) the store; the same schema, migrations and state machine
//!   on both backends ([`Backend`]). `--db isoflop.db` is a SQLite file (WAL mode,
//!   `synchronous = FULL`); `--db postgres://user@host/dbname` a PostgreSQL database, where a
//!   claim locks its row (`FOR UPDATE SKIP LOCKED`) and a lost connection is retried with
//!   backoff. [`Store::copy_from`] moves sweeps between stores.
//! - [`Sweep`]: a named family of runs and the spec that planned them.
//! - [`Run`], [`NewRun`], [`Metrics`]: one training run, its resolved config and what it
//!   measured; [`RunStatus`] is its life, `pending → running → done | failed | diverged`.
//! - [`CurvePoint`]: the evaluations along a run.
//!
//! Every state change is a single transaction: a process killed at any instant never loses a
//! finished run and never leaves two copies of one (runs are unique per sweep and key, and a
//! final run can never be claimed again).
//!
//! ```
//! use isoflop_store::{Metrics, NewRun, RunFilter, RunStatus, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = Store::open(&dir.path().join("isoflop.db")).unwrap();
//! let sweep = store.upsert_sweep("demo", &serde_json::json!({"budgets": [1e12]})).unwrap();
//! let run = NewRun {
//!     key: "c1e12-n1e5".into(), config: serde_json::json!({}), params: 1e5,
//!     tokens: 1e12 / 6e5, flops: 1e12, budget: Some(1e12), seed: 0, engine: None,
//! };
//! assert_eq!(store.plan_runs(sweep.id, &[run.clone()]).unwrap(), 1);
//! assert_eq!(store.plan_runs(sweep.id, &[run]).unwrap(), 0); // planning twice adds nothing
//! let id = store.runs(&RunFilter::default()).unwrap()[0].id;
//! store.claim(id, "host", "0.1.0", "ckpt/c1e12-n1e5").unwrap();
//! store.finish(id, &Metrics { loss: Some(2.5), ..Metrics::default() }, &[]).unwrap();
//! assert_eq!(store.run(id).unwrap().status, RunStatus::Done);
//! assert!(store.claim(id, "host", "0.1.0", "x").is_err()); // a finished run is never retrained
//! ```
#![deny(missing_docs)]

mod copy;
mod curve;
mod db;
mod error;
mod owner;
mod run;
mod schema;
mod spec_diff;
mod status;
mod store;
pub mod test_db;

pub use copy::CopySummary;
pub use curve::CurvePoint;
pub use db::{Backend, DbError};
pub use error::{Error, Result};
pub use run::{Metrics, NewRun, Run, RunFilter};
pub use schema::SCHEMA_VERSION;
pub use status::RunStatus;
pub use store::{Store, Sweep, backend_of, display_location, is_postgres, now};
