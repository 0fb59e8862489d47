//! isoflop-cost: what a transformer of a given shape costs.
//!
//! One definition of "parameters" and "FLOPs" for the whole project: the trainer, the planner
//! and `isoflop estimate` all count through this crate.
//!
//! - [`ModelShape`]: a GPT-2 or Llama style decoder (layers, widths, heads, vocabulary).
//! - [`ParamCounts`]: total, embedding and non-embedding parameters, exact to the checkpoints.
//!
//! ```
//! use isoflop_cost::ModelShape;
//! // GPT-2 small (Radford et al. 2019; Hugging Face `gpt2` config.json): 124,439,808 parameters.
//! let gpt2 = ModelShape::gpt2(12, 768, 12, 50257, 1024, true).unwrap();
//! assert_eq!(gpt2.params().total, 124_439_808);
//! ```
#![deny(missing_docs)]

mod activations;
mod error;
mod flops;
mod params;
mod shape;

pub use activations::Recompute;
pub use error::{Error, Result};
pub use flops::{FlopConvention, mfu};
pub use params::ParamCounts;
pub use shape::{Family, ModelShape};
