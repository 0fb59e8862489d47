//! Sweep orchestration: the spec, the planner, the scheduler and the bridge to the trainer.

pub mod analysis;
pub mod calibrate;
pub mod data;
pub mod plan;
pub mod progress;
pub mod runner;
pub mod spec;
pub mod trainer;
