//! The crate's error type.

use std::path::PathBuf;

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
    /// A device that cannot be used (CUDA without the feature or without a GPU, a bad name).
    #[error("device: {0}")]
    Device(String),
    /// A training configuration that cannot run (zero tokens, a batch smaller than a row, …).
    #[error("invalid training config: {0}")]
    InvalidTrainConfig(String),
    /// Text that cannot be used as a corpus (empty, binary, missing), naming the path.
    #[error("corpus {}: {message}", path.display())]
    Corpus {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A registry download that failed: names the command and how to proceed without it.
    #[error("fetching the corpus: {0}")]
    Fetch(String),
    /// A labelled task file that cannot be used: names the file, and the line and column at
    /// fault in the message.
    #[error("task {}: {message}", path.display())]
    Task {
        /// The task file (or the cached task).
        path: PathBuf,
        /// What is wrong, with its line and column.
        message: String,
    },
    /// A built-in task that cannot be fetched: names the task and how to proceed without it.
    #[error("fetching task {task}: {message}")]
    TaskFetch {
        /// The task's name.
        task: String,
        /// What went wrong.
        message: String,
    },
    /// Training or applying a tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A checkpoint that cannot be written, read or resumed.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A compression that cannot be done as asked (a bad method, scheme or sparsity).
    #[error("compression: {0}")]
    InvalidCompress(String),
    /// Stopped on request (its stop flag) before the end, with nothing written; what was
    /// stopped.
    #[error("stopped on request: {0}")]
    Stopped(String),
    /// A run whose model, optimizer state and activations would not fit in the memory the
    /// machine has available: refused before anything is allocated.
    #[error(
        "{run} needs about {need_gib:.1} GiB of memory ({detail}) but {available_gib:.1} GiB \
         is available (MemAvailable, /proc/meminfo): train a smaller model, or a smaller batch"
    )]
    OutOfMemory {
        /// The run (its directory) or the model.
        run: String,
        /// Estimated bytes, as GiB (2^30 bytes).
        need_gib: f64,
        /// Available bytes, as GiB.
        available_gib: f64,
        /// What the estimate is made of.
        detail: String,
    },
    /// More compute threads than the machine has logical CPUs: refused before any starts.
    #[error(
        "{what} = {requested}: more threads than this machine's {limit} logical CPUs; give at \
         most {limit} (0: one per physical core)"
    )]
    TooManyThreads {
        /// The flag or key that asked (`--threads`, `train.threads_per_run`, …).
        what: String,
        /// The threads asked for.
        requested: usize,
        /// The machine's logical CPUs.
        limit: usize,
    },
    /// An I/O error on a named path. The cause is part of the message and deliberately not
    /// the error's `source()`, so a printer of the whole chain shows it once.
    #[error("{}: {error}", path.display())]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), error: source }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
