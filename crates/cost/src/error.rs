//! The crate's error type.

/// What can go wrong when describing or costing a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A shape field is out of range or inconsistent with another.
    #[error("invalid shape: {0}")]
    InvalidShape(String),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
