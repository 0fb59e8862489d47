//! A tokenized corpus on disk: one token file per split, memory-mapped.
//!
//! [`Dataset::prepare`] splits a [`Corpus`] (see [`crate::split`]), trains the tokenizer on the
//! train split, encodes every split and writes `train.bin`, `val.bin`, `test.bin` and
//! `ood.bin` (u8 tokens for a vocabulary ≤ 256, else little-endian u16), `meta.json` and, for
//! BPE, `tokenizer.json` into `<cache>/tokens/<fingerprint>-<tokenizer>-s<seed>/`. The
//! directory is built under a temporary name and renamed into place, so a killed preparation
//! never leaves a half-written dataset; a second call opens what the first wrote.

use crate::corpus::Corpus;
use crate::split::split_documents;
use crate::tokenizer::{Tokenizer, TokenizerKind};
use crate::{Error, Result};
use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Sizes of one split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitStats {
    /// Tokens in the split.
    pub tokens: u64,
    /// UTF-8 bytes of text behind those tokens (for bits per byte).
    pub bytes: u64,
    /// Blocks (or documents, for OOD) in the split.
    pub blocks: u64,
}

/// What a prepared dataset holds; saved as `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetMeta {
    /// The corpus's name.
    pub corpus: String,
    /// [`Corpus::fingerprint`] of the text.
    pub fingerprint: String,
    /// The tokenizer.
    pub tokenizer: TokenizerKind,
    /// Vocabulary size actually used (a BPE may learn fewer merges than asked on tiny text).
    pub vocab: usize,
    /// The split's seed.
    pub split_seed: u64,
    /// The block size of the split, in bytes.
    pub block_bytes: usize,
    /// Documents in the corpus (in-distribution).
    pub documents: u64,
    /// Train split.
    pub train: SplitStats,
    /// Validation split.
    pub val: SplitStats,
    /// Test split.
    pub test: SplitStats,
    /// Out-of-distribution set, if the corpus has one.
    pub ood: Option<SplitStats>,
}

/// One split's tokens, memory-mapped.
pub struct TokenSplit {
    map: Option<Mmap>,
    width: usize,
    len: usize,
    /// Sizes of the split.
    pub stats: SplitStats,
}

impl TokenSplit {
    fn open(path: &Path, width: usize, stats: SplitStats) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let bytes = file.metadata().map_err(|e| Error::io(path, e))?.len() as usize;
        if bytes != stats.tokens as usize * width {
            return Err(Error::Corpus {
                path: path.to_path_buf(),
                message: format!(
                    "token file has {bytes} bytes, meta.json says {} tokens of {width} byte(s): \
                     delete the directory to rebuild it",
                    stats.tokens
                ),
            });
        }
        // An empty file cannot be mapped on every platform; an empty split needs no map.
        let map = if bytes == 0 {
            None
        } else {
            // SAFETY: the file is written once, renamed into place and never modified after.
            Some(unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?)
        };
        Ok(Self { map, width, len: stats.tokens as usize, stats })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the split has no tokens.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Token `i`.
    pub fn get(&self, i: usize) -> u32 {
        let m = self.map.as_ref().expect("index into an empty split");
        match self.width {
            1 => u32::from(m[i]),
            _ => u32::from(u16::from_le_bytes([m[2 * i], m[2 * i + 1]])),
        }
    }

    /// Appends tokens `start..start + n` to `out`.
    pub fn extend_window(&self, start: usize, n: usize, out: &mut Vec<u32>) {
        let m = match &self.map {
            Some(m) => m,
            None => return,
        };
        match self.width {
            1 => out.extend(m[start..start + n].iter().map(|&b| u32::from(b))),
            _ => out.extend(
                m[2 * start..2 * (start + n)]
                    .chunks_exact(2)
                    .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))),
            ),
        }
    }
}

/// A tokenized, split corpus.
pub struct Dataset {
    /// The directory holding the token files.
    pub dir: PathBuf,
    /// What it holds.
    pub meta: DatasetMeta,
    /// Training tokens.
    pub train: TokenSplit,
    /// Validation tokens.
    pub val: TokenSplit,
    /// Test tokens.
    pub test: TokenSplit,
    /// Out-of-distribution tokens.
    pub ood: Option<TokenSplit>,
}

/// The name of the token directory of a corpus, tokenizer and split seed.
fn dir_name(fingerprint: &str, kind: TokenizerKind, seed: u64) -> String {
    format!("{}-{}-s{seed}", &fingerprint[..16], kind.tag())
}

fn write_tokens(path: &Path, tokens: &[u32], width: usize) -> Result<()> {
    let bytes: Vec<u8> = if width == 1 {
        tokens.iter().map(|&t| t as u8).collect()
    } else {
        tokens.iter().flat_map(|&t| (t as u16).to_le_bytes()).collect()
    };
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

impl Dataset {
    /// Tokenizes `corpus` into `<cache_dir>/tokens/…` (once) and opens it.
    pub fn prepare(
        corpus: &Corpus,
        kind: TokenizerKind,
        split_seed: u64,
        cache_dir: &Path,
    ) -> Result<Self> {
        kind.validate()?;
        let fingerprint = corpus.fingerprint();
        let root = cache_dir.join("tokens");
        let dir = root.join(dir_name(&fingerprint, kind, split_seed));
        if dir.join("meta.json").exists() {
            return Self::open(&dir);
        }
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".building-")
            .tempdir_in(&root)
            .map_err(|e| Error::io(&root, e))?;
        let split = split_documents(&corpus.documents, split_seed)?;
        let tokenizer = Tokenizer::train(kind, &split.train)?;
        let width = if tokenizer.vocab() <= 256 { 1 } else { 2 };
        let mut stats = Vec::new();
        for (name, blocks) in [("train", &split.train), ("val", &split.val), ("test", &split.test)]
        {
            let tokens = tokenizer.encode(blocks)?;
            write_tokens(&tmp.path().join(format!("{name}.bin")), &tokens, width)?;
            stats.push(SplitStats {
                tokens: tokens.len() as u64,
                bytes: blocks.iter().map(|b| b.len() as u64).sum(),
                blocks: blocks.len() as u64,
            });
        }
        let ood = if corpus.ood.is_empty() {
            None
        } else {
            let texts: Vec<String> = corpus.ood.iter().map(|d| d.text.clone()).collect();
            let tokens = tokenizer.encode(&texts)?;
            write_tokens(&tmp.path().join("ood.bin"), &tokens, width)?;
            Some(SplitStats {
                tokens: tokens.len() as u64,
                bytes: corpus.ood_bytes(),
                blocks: texts.len() as u64,
            })
        };
        tokenizer.save(&tmp.path().join("tokenizer.json"))?;
        let meta = DatasetMeta {
            corpus: corpus.name.clone(),
            fingerprint,
            tokenizer: kind,
            vocab: tokenizer.vocab(),
            split_seed,
            block_bytes: split.block_bytes,
            documents: corpus.documents.len() as u64,
            train: stats[0],
            val: stats[1],
            test: stats[2],
            ood,
        };
        let json = serde_json::to_string_pretty(&meta).expect("meta serialises");
        let meta_path = tmp.path().join("meta.json");
        std::fs::write(&meta_path, json).map_err(|e| Error::io(&meta_path, e))?;
        let built = tmp.keep();
        if let Err(e) = std::fs::rename(&built, &dir) {
            // Another process finished first: use its copy.
            let _ = std::fs::remove_dir_all(&built);
            if !dir.join("meta.json").exists() {
                return Err(Error::io(&dir, e));
            }
        }
        Self::open(&dir)
    }

    /// Opens a dataset directory written by [`Dataset::prepare`].
    pub fn open(dir: &Path) -> Result<Self> {
        let meta_path = dir.join("meta.json");
        let text = std::fs::read_to_string(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
        let meta: DatasetMeta = serde_json::from_str(&text).map_err(|e| Error::Corpus {
            path: meta_path.clone(),
            message: format!("unreadable dataset metadata: {e}"),
        })?;
        let width = if meta.vocab <= 256 { 1 } else { 2 };
        let open = |name: &str, s: SplitStats| TokenSplit::open(&dir.join(name), width, s);
        Ok(Self {
            dir: dir.to_path_buf(),
            train: open("train.bin", meta.train)?,
            val: open("val.bin", meta.val)?,
            test: open("test.bin", meta.test)?,
            ood: meta.ood.map(|s| open("ood.bin", s)).transpose()?,
            meta,
        })
    }

    /// The tokenizer this dataset was encoded with.
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        Tokenizer::load(self.meta.tokenizer, &self.dir.join("tokenizer.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Document;

    fn corpus() -> Corpus {
        let doc = |n: usize| Document {
            name: format!("d{n}"),
            text: (0..300).map(|l| format!("line {l} of document {n}\n")).collect(),
        };
        Corpus {
            name: "test".into(),
            documents: (0..3).map(doc).collect(),
            ood: vec![Document { name: "o".into(), text: "something else entirely\n".into() }],
        }
    }

    #[test]
    fn prepares_once_and_reopens() {
        let cache = tempfile::tempdir().unwrap();
        let c = corpus();
        let d = Dataset::prepare(&c, TokenizerKind::Byte, 0, cache.path()).unwrap();
        let m = &d.meta;
        assert_eq!(m.train.bytes + m.val.bytes + m.test.bytes, c.bytes());
        assert_eq!(m.train.tokens, m.train.bytes); // bytes are tokens
        assert_eq!(d.ood.as_ref().unwrap().len(), 24);
        let mut w = Vec::new();
        d.train.extend_window(0, 5, &mut w);
        assert_eq!(w, b"line ".iter().map(|&b| u32::from(b)).collect::<Vec<_>>());
        // Second call opens the same directory.
        let again = Dataset::prepare(&c, TokenizerKind::Byte, 0, cache.path()).unwrap();
        assert_eq!(again.dir, d.dir);
        assert_eq!(again.meta, d.meta);
    }

    #[test]
    fn bpe_dataset_uses_u16() {
        let cache = tempfile::tempdir().unwrap();
        let d = Dataset::prepare(&corpus(), TokenizerKind::Bpe { vocab: 400 }, 0, cache.path())
            .unwrap();
        assert!(d.meta.vocab > 256);
        assert!(d.meta.train.tokens < d.meta.train.bytes);
        let tok = d.tokenizer().unwrap();
        let mut w = Vec::new();
        d.train.extend_window(0, d.train.len(), &mut w);
        assert!(tok.decode(&w).unwrap().starts_with("line 0 of document"));
    }
}
