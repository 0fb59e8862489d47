//! Sweeps as a library: the spec of a family of training runs (a TOML file), checked field by
//! field, and the plan that turns it into runs (shapes from the model ladder, token counts
//! from the budgets).
//!
//! ```
//! use isoflop_sweep::{SweepSpec, plan};
//!
//! let spec = SweepSpec::parse(
//!     "name = \"demo\"\n[design]\nkind = \"isoflop\"\nbudgets = [1e12]\nsizes = 3\n",
//!     "demo.toml",
//! )?;
//! let runs = plan(&spec)?;
//! assert_eq!(runs.len(), 3);
//! assert!(runs.iter().all(|r| (r.flops / 1e12 - 1.0).abs() < 1e-3)); // C = 6·N·D
//! # Ok::<(), isoflop_sweep::Error>(())
//! ```
//!
//! The binary's `sweep` verb schedules the planned runs, trains them into the run store and
//! analyses them (`crates/cli/src/sweep/`); docs/ARCHITECTURE.md says where the rest of the
//! sweep (scheduler, executors) is headed.

mod error;
pub mod plan;
pub mod spec;

pub use error::{Error, Result};
pub use plan::{PlannedRun, plan, short};
pub use spec::{CorpusSpec, Design, SweepSpec, TrainSpec};
