//! isoflop-law: scaling-law forms, fitting, bootstrap and planning.
#![deny(missing_docs)]

mod error;

pub use error::{Error, Result};
