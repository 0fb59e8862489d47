//! The sweep's presentation in the terminal (progress bar and per-run lines); the sweep
//! itself (spec, plan, graph, executors, analysis) is the isoflop-sweep library's.

pub mod cluster;
pub mod observations;
pub mod progress;
pub mod report;
pub mod run;

pub use isoflop_sweep::{analysis, plan, spec};
