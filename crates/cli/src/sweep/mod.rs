//! Sweep orchestration: the scheduler, the bridge to the trainer and the analysis, around
//! isoflop-sweep's spec and planner.

pub mod analysis;
pub mod calibrate;
pub mod data;
pub mod progress;
pub mod runner;
pub mod trainer;

// The spec and the planner are the isoflop-sweep library's.
pub use isoflop_sweep::{plan, spec};
