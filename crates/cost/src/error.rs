//! The crate's error type.

/// What can go wrong when describing or costing a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A shape field is out of range or inconsistent with another.
    #[error("invalid shape: {0}")]
    InvalidShape(String),
    /// A parallel layout that does not fit the model or the cluster.
    #[error("invalid layout: {0}")]
    InvalidLayout(String),
    /// A hardware description with an impossible figure.
    #[error("invalid hardware: {0}")]
    InvalidHardware(String),
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
    /// A file (TOML, config.json) that cannot be read as what it should be.
    #[error("{origin}: {message}")]
    Parse {
        /// The file, or where the text came from.
        origin: String,
        /// What is wrong, with line and column where the parser gives them.
        message: String,
    },
    /// Something the hardware or the platform cannot do.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An estimate spec with a value out of range; the message names the field as its flag.
    #[error("{0}")]
    InvalidSpec(String),
    /// A file that cannot be read.
    #[error("cannot read {what} {path}")]
    Read {
        /// What the file should hold ("model file", "hardware file"...).
        what: &'static str,
        /// The path given.
        path: String,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// A model whose shape, with the overrides on top, is not a valid shape.
    #[error("model `{model}` with the shape flags is not a valid shape")]
    InvalidModel {
        /// The model as given.
        model: String,
        /// What is wrong with the shape.
        source: Box<Error>,
    },
    /// The `cpu` hardware could not be measured.
    #[error("measuring this machine's CPU")]
    CpuProbe(#[source] Box<Error>),
    /// A caller's [`crate::TokensRule`] could not give a ladder rung its tokens.
    #[error(transparent)]
    TokensRule(Box<dyn std::error::Error + Send + Sync>),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
