//! A file staged under a temporary name and committed by a rename (see the crate docs).

use crate::{Error, Result};
use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Temporary names made by this process so far (with the pid, unique between processes).
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// What committing does with the target.
#[derive(Debug)]
enum Target {
    /// There is none: the rename creates it.
    New,
    /// A regular file: the rename replaces it; the new file takes its mode and owner.
    Replace(Metadata),
    /// Not a regular file (a device, a FIFO): the bytes are written through it.
    Through,
}

/// A file being written under a temporary name; [`StagedFile::commit`] puts it in place.
/// Dropped without committing, it removes its temporary file.
#[derive(Debug)]
pub struct StagedFile {
    /// Where the commit puts the bytes (a symbolic link resolved).
    target: PathBuf,
    /// The temporary file.
    tmp: PathBuf,
    file: Option<File>,
    kind: Target,
    committed: bool,
}

impl StagedFile {
    /// Stages a new version of `path`: refuses a directory, creates the temporary file (in
    /// the target's directory, which must exist) with the mode the target will have.
    pub fn new(path: &Path) -> Result<Self> {
        let (target, kind) = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return Err(Error::IsDirectory { path: path.to_path_buf() }),
            Ok(m) if m.is_file() => {
                let is_link =
                    std::fs::symlink_metadata(path).is_ok_and(|l| l.file_type().is_symlink());
                let target = if is_link {
                    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
                } else {
                    path.to_path_buf()
                };
                (target, Target::Replace(m))
            }
            Ok(_) => (path.to_path_buf(), Target::Through),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (path.to_path_buf(), Target::New),
            Err(e) => return Err(Error::io(path, e)),
        };
        // Written-through targets stage their bytes in the temporary directory: the directory
        // of a device (`/dev`) is no place for our files.
        let dir = match kind {
            Target::Through => std::env::temp_dir(),
            _ => match target.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            },
        };
        let name = target.file_name().map_or("out".into(), |n| n.to_string_lossy().into_owned());
        let (tmp, file) = create_temporary(&dir, &name).map_err(|e| Error::io(path, e))?;
        let staged = StagedFile { target, tmp, file: Some(file), kind, committed: false };
        if let Target::Replace(m) = &staged.kind {
            let file = staged.file.as_ref().expect("open until commit");
            keep_mode_and_owner(file, m).map_err(|e| Error::io(path, e))?;
        }
        Ok(staged)
    }

    /// The temporary file's path, for writers that open the file themselves (truncating an
    /// existing file keeps its mode).
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// The path the commit writes.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("open until commit")
    }

    /// Writes all of `bytes` to the temporary file.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let target = self.target.clone();
        self.file().write_all(bytes).map_err(|e| Error::io(target, e))
    }

    /// Syncs the temporary file and puts it in place: renamed over a regular file (or to a
    /// new name), or copied through a device. The temporary file is gone afterwards, whether
    /// this succeeds or fails.
    pub fn commit(mut self) -> Result<()> {
        let result = self.commit_inner();
        self.committed = result.is_ok();
        // On failure `drop` removes the temporary file (when the rename did not take it).
        result
    }

    fn commit_inner(&mut self) -> Result<()> {
        let io = |e| Error::io(&self.target, e);
        let file = self.file.take().expect("committed once");
        match self.kind {
            Target::Through => {
                drop(file);
                let mut src = File::open(&self.tmp).map_err(io)?;
                let mut dst = OpenOptions::new().write(true).open(&self.target).map_err(io)?;
                std::io::copy(&mut src, &mut dst).map_err(io)?;
                dst.flush().map_err(io)?;
                let _ = std::fs::remove_file(&self.tmp);
            }
            Target::New | Target::Replace(_) => {
                file.sync_all().map_err(io)?;
                drop(file);
                std::fs::rename(&self.tmp, &self.target).map_err(io)?;
                sync_parent(&self.target);
            }
        }
        Ok(())
    }

    fn is_new(&self) -> bool {
        matches!(self.kind, Target::New)
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically (see the crate docs), creating missing parent
/// directories first.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut staged = StagedFile::new(path)?;
    staged.write_all(bytes)?;
    staged.commit()
}

/// Commits files that belong together, in order. If one fails, the rest are not committed
/// (their temporary files are removed) and the files this call had newly created are removed
/// again, so a failed report leaves no new charts beside the old page; files it had already
/// replaced keep their new content.
pub fn commit_all(files: Vec<StagedFile>) -> Result<()> {
    let mut created = Vec::new();
    for f in files {
        let (target, new) = (f.target.clone(), f.is_new());
        if let Err(e) = f.commit() {
            for p in created {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        if new {
            created.push(target);
        }
    }
    Ok(())
}

/// Creates `.<name>.<pid>.<n>.tmp.<ext>` in `dir` exclusively (the target's extension last,
/// for writers that pick a format by it, as the PNG encoder does). Mode 0666 is asked for and
/// the kernel takes the umask off, which is what a plain create of the target would give.
fn create_temporary(dir: &Path, name: &str) -> std::io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let ext =
        Path::new(name).extension().map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{pid}.{n}.tmp{ext}"));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o666);
        match opts.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            // A file of an earlier process with our pid: take the next name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1 << 20 => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Gives the new file the replaced file's permission bits and, where the process may (root
/// rewriting another user's file), its owner and group, as rewriting in place would keep them.
fn keep_mode_and_owner(file: &File, old: &Metadata) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let new = file.metadata()?;
        if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
            // Only root (or the owner, for the group) may: otherwise the file is the writer's,
            // as it would be had the old one been deleted first.
            let _ = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()));
        }
    }
    // After the owner: a change of owner may clear set-id bits.
    file.set_permissions(old.permissions())
}

/// Makes the rename durable (best effort: not every file system can sync a directory).
fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
