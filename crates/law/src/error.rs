//! The crate's error type.
//!
//! Every message names the input it is about (file, line, column, option or parameter) and
//! what was expected, so the binary can print it as is.

use std::path::PathBuf;

/// What can go wrong when reading observations, fitting or using a law.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A data file could not be opened or read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A value or a row of a data file is malformed or out of range.
    #[error("{path}:{line}: column `{column}`: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is line 1 in a CSV file).
        line: usize,
        /// The column (or JSON key) at fault.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// A data file lacks a required column.
    #[error("{path}: missing column `{column}` (found: {found})")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column that was looked for.
        column: String,
        /// The columns that are there, comma separated.
        found: String,
    },
    /// Observations that cannot be fitted as asked (too few rows, missing field, ...).
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// An option is out of range or inconsistent with the form.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// No start of the optimiser reached a finite objective.
    #[error("fit failed: {0}")]
    FitFailed(String),
    /// A saved fit (fit.json) that is inconsistent or out of range, so it cannot be used.
    #[error("{}{message}", origin.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    InvalidFit {
        /// The file it was read from, when it was read from one.
        origin: Option<PathBuf>,
        /// What disagrees.
        message: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
