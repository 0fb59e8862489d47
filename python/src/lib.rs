//! `isoflop._isoflop`: the native half of the `isoflop` Python package.
//!
//! Thin bindings over the library crates, with no logic of their own beyond turning Python
//! values into the libraries' inputs and their results back (large results as numpy arrays,
//! structured ones as the JSON the CLI prints, which the Python half parses):
//! - [`data`]: observations from a file (as `isoflop fit DATA` reads it) or from columns;
//! - [`fit`]: isoflop-law's fits, predictions, plans and fit.json;
//! - [`estimate`]: isoflop-cost's estimator, a spec in and `isoflop estimate --json` out;
//! - [`store`]: isoflop-store's runs and curves.
//!
//! The Pythonic API (keyword arguments, DataFrames, docstrings) is the package's Python code
//! in `isoflop/`; this module is private to it. Long computations release the GIL and run on
//! rayon's threads.

mod data;
mod errors;
mod estimate;
mod fit;
mod store;

use pyo3::prelude::*;

#[pymodule]
mod _isoflop {
    #[pymodule_export]
    use super::data::{Observations, from_columns, read_file};
    #[pymodule_export]
    use super::estimate::{estimate, presets};
    #[pymodule_export]
    use super::fit::{PyFit, fit, fit_approach, from_json, load};
    #[pymodule_export]
    use super::store::{curves, runs};

    /// The workspace version this module was built from (the package's version).
    #[pymodule_export]
    const VERSION: &str = env!("CARGO_PKG_VERSION");
}
