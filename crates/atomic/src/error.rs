//! The crate's error type.

use std::path::PathBuf;

/// Why a file could not be written. The I/O cause is the error's `source()`, not part of its
/// message, so a printer of the whole chain shows it once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target is a directory: nothing was written.
    #[error("cannot write {}: it is a directory", path.display())]
    IsDirectory {
        /// The target.
        path: PathBuf,
    },
    /// An I/O error while creating, writing, syncing or renaming.
    #[error("cannot write {}", path.display())]
    Io {
        /// The target (or the directory the temporary file was to be made in).
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// The path the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Error::IsDirectory { path } | Error::Io { path, .. } => path,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
