//! The crate's error type.

/// What can go wrong when describing or costing a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A shape field is out of range or inconsistent with another.
    #[error("invalid shape: {0}")]
    InvalidShape(String),
    /// A name (preset, precision, convention...) that is not known.
    #[error("unknown {what} `{name}`; expected one of: {expected}")]
    UnknownName {
        /// What kind of name it is ("model preset", "GPU preset"...).
        what: &'static str,
        /// The name given.
        name: String,
        /// The names accepted.
        expected: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
