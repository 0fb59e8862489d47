//! The report's charts, one per file.

pub(crate) mod compression;
pub(crate) mod compute;
pub(crate) mod distill;
pub(crate) mod downstream;
pub(crate) mod downstream_compute;
pub(crate) mod downstream_law;
pub(crate) mod isoflop;
pub(crate) mod law;
pub(crate) mod optimal;
pub(crate) mod packed;
pub(crate) mod residuals;
pub(crate) mod sparsity;
