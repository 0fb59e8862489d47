//! What can go wrong reading a sweep spec, planning its runs, training and analysing them.

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
    /// The run graph is inconsistent (a duplicate key, an input that is not a run, a cycle).
    #[error("{0}")]
    Graph(String),
    /// The run store failed (its message names the store file).
    #[error(transparent)]
    Store(#[from] isoflop_store::Error),
    /// The trainer or the corpus failed (its message names the file or setting).
    #[error(transparent)]
    Train(#[from] isoflop_train::Error),
    /// The law engine failed.
    #[error(transparent)]
    Law(#[from] isoflop_law::Error),
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] isoflop_atomic::Error),
    /// What failed, with the train error beneath it: the corpus, tokenizing, calibrating,
    /// a run's configuration.
    #[error("{context}: {source}")]
    During {
        /// What was being done, naming the run, file or setting.
        context: String,
        /// The trainer's error.
        source: isoflop_train::Error,
    },
    /// A file or directory of the sweep (run directory, lock file) cannot be used.
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another live process holds the sweep's lock.
    #[error(
        "sweep {sweep} is being trained by another isoflop process (it holds {}); wait for it \
         or stop it",
        path.display()
    )]
    Locked {
        /// The sweep.
        sweep: String,
        /// Its lock file.
        path: PathBuf,
    },
    /// A run's settings cannot be used where this isoflop runs it (CUDA without the feature,
    /// a kind this trainer does not train).
    #[error("{0}")]
    Unsupported(String),
    /// A worker thread of the executor panicked (a bug: the store keeps what was finished).
    #[error("a sweep worker thread panicked")]
    Worker,
    /// A scheduler command that is not installed here.
    #[error(
        "`{command}` was not found on PATH: the Slurm executor needs Slurm's client commands \
         ({purpose}); run on a node that has them (a login node), load Slurm's module, or use \
         `--dry-run` to see the script"
    )]
    MissingCommand {
        /// The command.
        command: String,
        /// What it was for.
        purpose: String,
    },
    /// A scheduler command that ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
