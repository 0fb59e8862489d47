//! Atomic file writes for isoflop's outputs: a reader sees the old file or the new one, never
//! half of one, and the new file looks as if a plain `open(O_CREAT|O_TRUNC)` had written it.
//!
//! - **Atomic.** The bytes go to a temporary file beside the target
//!   (`.<name>.<pid>.<n>.tmp.<ext>`),
//!   are synced, and the temporary file is renamed over the target.
//! - **The mode a plain create gives.** A new file gets `0666` less the process's umask (the
//!   kernel applies it when the temporary file is created, so nothing reads or changes the
//!   umask); a file that existed keeps its mode (and, where the process may, its owner).
//! - **Nothing left behind.** Every failure removes the temporary file before it returns,
//!   and a [`StagedFile`] dropped before [`StagedFile::commit`] removes it too; a target that
//!   is a directory is refused before anything is written.
//! - **Regular files only are replaced.** A target that exists and is not a regular file (a
//!   device such as `/dev/full` or `/dev/stdout`, a FIFO) is written through, as a plain
//!   create would, and never replaced by a rename; its errors name it (`cannot write
//!   /dev/full` caused by `No space left on device`). A symbolic link to a regular file is
//!   followed: the file it names is replaced, the link stays.
//!
//! [`write`] does it for bytes in memory; [`StagedFile`] for writers that want a path (a
//! chart renderer) or a file; [`commit_all`] for files that belong together (a report and its
//! charts): every file is staged before any is committed.
//!
//! ```
//! # fn main() -> Result<(), isoflop_atomic::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("fit.json");
//! isoflop_atomic::write(&path, b"{}\n")?;
//! assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
//! // No temporary file stays beside it.
//! assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod error;
mod staged;

pub use error::{Error, Result};
pub use staged::{StagedFile, commit_all, write};
