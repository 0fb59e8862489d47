//! The library crates' errors as Python exceptions, with the messages the CLI prints.
//!
//! A missing file is `FileNotFoundError`, another I/O failure `OSError`; bad data, a bad
//! option or an unknown name is `ValueError`; an optimiser that found nothing finite is
//! `RuntimeError`. The message is the library's own, which names the file, line, column,
//! parameter or option at fault.

use pyo3::PyErr;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError};

/// A law error as the Python exception a user expects.
pub fn law(e: isoflop_law::Error) -> PyErr {
    let msg = e.to_string();
    match e {
        isoflop_law::Error::Io { source, .. } => io(source.kind(), msg),
        isoflop_law::Error::FitFailed(_) => PyRuntimeError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// A cost (estimate) error: a file that is not there is `FileNotFoundError`, another I/O
/// failure `OSError`, everything else (a bad value, an unknown preset, an impossible layout)
/// `ValueError`. The message is the error and its causes, as the CLI prints them, on one line.
pub fn cost(e: isoflop_cost::Error) -> PyErr {
    let mut msg = e.to_string();
    let mut kind = None;
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg = format!("{msg}: {text}");
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            kind = Some(io.kind());
        }
        cause = c.source();
    }
    match kind {
        Some(k) => io(k, msg),
        None => PyValueError::new_err(msg),
    }
}

/// A store error: a missing database is `FileNotFoundError`, an unknown sweep `ValueError`,
/// a database that cannot be read `OSError`.
pub fn store(e: isoflop_store::Error) -> PyErr {
    let msg = e.to_string();
    match e {
        isoflop_store::Error::Missing(_) => PyFileNotFoundError::new_err(msg),
        isoflop_store::Error::UnknownSweep { .. } | isoflop_store::Error::UnknownRun(_) => {
            PyValueError::new_err(msg)
        }
        _ => PyOSError::new_err(msg),
    }
}

/// An I/O failure: `FileNotFoundError` when the file is not there, `OSError` otherwise.
pub fn io(kind: std::io::ErrorKind, msg: String) -> PyErr {
    match kind {
        std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
        _ => PyOSError::new_err(msg),
    }
}

/// JSON (de)serialisation of the library's own types cannot fail on valid values; if it
/// does, the message says what was being converted.
pub fn json(what: &str, e: serde_json::Error) -> PyErr {
    PyValueError::new_err(format!("{what}: {e}"))
}
