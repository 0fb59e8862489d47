//! What can go wrong reading a sweep spec and planning its runs.

use std::path::PathBuf;

/// An error of isoflop-sweep: every message names the file or run at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec file cannot be read.
    #[error("cannot read sweep spec {}: {source}", path.display())]
    Read {
        /// The spec's path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The spec is not TOML of a spec (a syntax error, an unknown key, a wrong type).
    #[error("{origin}: invalid sweep spec: {message}")]
    Parse {
        /// The file (or text) it came from.
        origin: String,
        /// The parser's message, with the line and column.
        message: String,
    },
    /// A value of the spec is out of range.
    #[error("{origin}: invalid sweep spec: {message}")]
    Spec {
        /// The file (or text) it came from.
        origin: String,
        /// The field and what is wrong with it.
        message: String,
    },
    /// The spec is valid but a run cannot be planned from it.
    #[error("{0}")]
    Plan(String),
    /// The model ladder refused a shape.
    #[error("{context}: {source}")]
    Ladder {
        /// Which design entry asked for the shape.
        context: String,
        /// The ladder's reason.
        source: isoflop_train::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
