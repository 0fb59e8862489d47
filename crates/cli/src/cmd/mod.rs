//! One module per verb.

pub mod bench;
pub mod compress;
pub mod corpus;
pub mod demo;
pub mod estimate;
pub mod export;
pub mod finetune;
pub mod fit;
pub mod import;
pub mod plan;
pub mod plan_accuracy;
pub mod plan_memory;
pub mod predict;
pub mod report;
pub mod runs;
pub mod store;
pub mod sweep;
pub mod tasks;
pub mod train;
