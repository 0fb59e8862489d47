//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong when drawing or writing a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// plotters failed to draw a chart.
    #[error("cannot draw chart {chart}: {message}")]
    Plot {
        /// The chart's id (e.g. `isoflop`).
        chart: &'static str,
        /// plotters' message.
        message: String,
    },
    /// A file could not be written.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The report or a chart could not be written (the cause is the source).
    #[error(transparent)]
    Write(#[from] isoflop_atomic::Error),
    /// The input has nothing to report.
    #[error("nothing to report: {0}")]
    Empty(String),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
