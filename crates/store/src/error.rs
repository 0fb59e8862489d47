//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong when reading or writing the run store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database (SQLite or PostgreSQL) refused an operation; `context` says which.
    #[error("run store {path}: {context}: {source}")]
    Database {
        /// The database file, or the PostgreSQL URL without its password.
        path: PathBuf,
        /// What the store was doing.
        context: String,
        /// The backend's own error.
        #[source]
        source: crate::db::DbError,
    },
    /// A SQLite store handed to an executor whose workers run on other nodes.
    #[error(
        "run store {path} is a SQLite file, which the workers of the {executor} executor on \
         other nodes cannot share (SQLite's WAL mode does not work over a network \
         filesystem); give --db postgres://user@host/dbname (or set ISOFLOP_DB), and bring \
         the results home with `isoflop store copy`"
    )]
    NotShareable {
        /// The SQLite file.
        path: PathBuf,
        /// The executor that needs a shared store.
        executor: String,
    },
    /// The database was written by a newer isoflop whose schema this build does not know.
    #[error(
        "run store {path}: schema version {found} is newer than this isoflop understands \
         (at most {supported}); upgrade isoflop"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// `PRAGMA user_version` found in the file.
        found: u32,
        /// The newest version this build migrates to.
        supported: u32,
    },
    /// The store file does not exist (commands that only read never create one).
    #[error("run store {0} does not exist (run `isoflop sweep run` or `isoflop import` first)")]
    Missing(PathBuf),
    /// A sweep name that is not in the store.
    #[error("no sweep named {name:?} in {path} (known: {known})")]
    UnknownSweep {
        /// The database file.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The names that exist, comma-separated.
        known: String,
    },
    /// A run id that is not in the store.
    #[error("no run with id {0} in the store")]
    UnknownRun(i64),
    /// A state change that the run's current status forbids.
    #[error("run {id} ({key}) is {status}; cannot {action}")]
    BadTransition {
        /// Run id.
        id: i64,
        /// Run key within its sweep.
        key: String,
        /// Its current status.
        status: String,
        /// What was attempted.
        action: &'static str,
    },
    /// A SQLite file (or some other file) that is not isoflop's run store; it is never
    /// adopted or modified.
    #[error(
        "{0} is not an isoflop run store (it has no isoflop tables); give another --db, or \
         remove the file if it is yours and empty"
    )]
    NotAStore(PathBuf),
    /// A run that another live process is training.
    #[error("run {id} ({key}) is being trained by another process ({owner}); not claimed")]
    Claimed {
        /// Run id.
        id: i64,
        /// Run key within its sweep.
        key: String,
        /// The owner recorded by the process that holds it.
        owner: String,
    },
    /// An import whose run keys clash with runs trained in the sweep.
    #[error(
        "run store {path}: sweep {sweep:?} already has trained runs with the keys {keys}; \
         importing would replace them and delete their curves (pass --replace-trained to do so)"
    )]
    ImportClash {
        /// The database file.
        path: PathBuf,
        /// The sweep imported into.
        sweep: String,
        /// The clashing keys, comma-separated.
        keys: String,
    },
    /// A sweep rerun with a spec that differs from the one its runs were planned with.
    #[error(
        "run store {path}: sweep {sweep:?} was planned with a different spec ({changes}); its \
         runs would not match the new settings. Restore the spec, or pass --new-version to \
         keep the old runs as a former version and start a fresh one"
    )]
    SpecChanged {
        /// The database file.
        path: PathBuf,
        /// The sweep name.
        sweep: String,
        /// What changed: `key: old → new`, semicolon-separated.
        changes: String,
    },
    /// A value read back from the store that cannot be decoded.
    #[error("run store {path}: corrupt value in {what}: {message}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// Table and column.
        what: String,
        /// What is wrong.
        message: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
