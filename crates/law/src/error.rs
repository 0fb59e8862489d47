//! The crate's error type.

/// What can go wrong when fitting or using a law.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Observations that cannot be fitted.
    #[error("invalid data: {0}")]
    InvalidData(String),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
