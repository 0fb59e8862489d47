//! The crate's error type.

/// What can go wrong when preparing data or training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model configuration that cannot be built.
    #[error("invalid model config: {0}")]
    InvalidConfig(String),
    /// A failure inside a training engine.
    #[error("engine {engine}: {message}")]
    Engine {
        /// The engine's name.
        engine: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
