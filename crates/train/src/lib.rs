//! isoflop-train: train GPT-style models on real text and measure them.
#![deny(missing_docs)]

mod config;
mod engine;
mod error;

pub use config::GptConfig;
pub use engine::{AdamW, Engine, NamedTensor};
pub use error::{Error, Result};
