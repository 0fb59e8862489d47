//! Train/validation/test split by document blocks.
//!
//! Each document is cut into contiguous blocks of about [`BLOCK_BYTES`] (64 KB, cut at the
//! next line end so no line is split), and each block goes to train, val or test by a seeded
//! hash of `(seed, document name, block index)`: 90/5/5 in expectation. Splitting by blocks,
//! never by random lines, keeps a passage and its neighbours on one side, so the validation
//! loss measures text the model has not seen a near copy of. Near-duplicate editions are
//! removed when the corpus is assembled (see [`crate::fetch`]), so they cannot straddle splits.
//!
//! Small corpora (a test's few kilobytes) get smaller blocks, `total / 64` but at least
//! [`MIN_BLOCK_BYTES`], so every split gets something; if the hash leaves val or test empty,
//! the train block whose hash lies nearest that split's range moves there (deterministically).

use crate::corpus::Document;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The target block size for a real corpus, in bytes (64 KiB).
pub const BLOCK_BYTES: usize = 64 * 1024;
/// The smallest block size used for tiny corpora, in bytes.
pub const MIN_BLOCK_BYTES: usize = 256;
/// Hash buckets (out of 1000) for train and val; the rest is test: 90/5/5.
const TRAIN_BUCKETS: u64 = 900;
const VAL_BUCKETS: u64 = 50;

/// One of the in-distribution splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training data.
    Train,
    /// Validation: evaluated during training and at the end.
    Val,
    /// Held-out test data.
    Test,
}

/// The text of each split, as the blocks assigned to it in corpus order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitText {
    /// Blocks for training.
    pub train: Vec<String>,
    /// Blocks for validation.
    pub val: Vec<String>,
    /// Blocks for the final test.
    pub test: Vec<String>,
    /// The block size used, in bytes.
    pub block_bytes: usize,
}

/// Cuts `text` into blocks of at least `size` bytes, each ending at a line end if one comes
/// within another `size` bytes, else after a space, else at the next character boundary; so a
/// block splits no UTF-8 character and, in text with lines, no line.
pub fn blocks(text: &str, size: usize) -> Vec<&str> {
    let size = size.max(1);
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if rest.len() <= size {
            out.push(rest);
            break;
        }
        // Byte search: `size` may fall inside a multi-byte character, but '\n' and ' ' bytes
        // never do, so cutting after one is always a character boundary.
        let window = &rest.as_bytes()[size..rest.len().min(2 * size)];
        let after = |c: u8| window.iter().position(|&b| b == c).map(|i| size + i + 1);
        let cut = after(b'\n').or_else(|| after(b' ')).unwrap_or_else(|| {
            (size..=rest.len()).find(|&i| rest.is_char_boundary(i)).expect("end is a boundary")
        });
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    out
}

/// The hash bucket (0..1000) of a block.
fn bucket(seed: u64, doc: &str, index: usize) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update((doc.len() as u64).to_le_bytes());
    h.update(doc.as_bytes());
    h.update((index as u64).to_le_bytes());
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes")) % 1000
}

/// Which split a bucket belongs to.
fn split_of(bucket: u64) -> Split {
    if bucket < TRAIN_BUCKETS {
        Split::Train
    } else if bucket < TRAIN_BUCKETS + VAL_BUCKETS {
        Split::Val
    } else {
        Split::Test
    }
}

/// Splits documents into train/val/test blocks with `seed`.
pub fn split_documents(docs: &[Document], seed: u64) -> Result<SplitText> {
    let total: usize = docs.iter().map(|d| d.text.len()).sum();
    let size = (total / 64).clamp(MIN_BLOCK_BYTES, BLOCK_BYTES);
    // (bucket, split, text) in corpus order.
    let mut all: Vec<(u64, Split, &str)> = Vec::new();
    for doc in docs {
        for (i, b) in blocks(&doc.text, size).into_iter().enumerate() {
            let k = bucket(seed, &doc.name, i);
            all.push((k, split_of(k), b));
        }
    }
    if all.len() < 3 {
        return Err(Error::Corpus {
            path: PathBuf::from(docs.first().map_or("(no documents)", |d| d.name.as_str())),
            message: format!(
                "{total} bytes make {} block(s) of {size} bytes; at least 3 are needed for \
                 train, val and test (give more text)",
                all.len()
            ),
        });
    }
    // Guarantee non-empty val and test: move the train block whose bucket is highest (the
    // nearest to val/test's ranges) when a split came out empty.
    for target in [Split::Val, Split::Test] {
        if !all.iter().any(|b| b.1 == target) {
            let pick = all
                .iter()
                .enumerate()
                .filter(|(_, b)| b.1 == Split::Train)
                .max_by_key(|(i, b)| (b.0, *i))
                .map(|(i, _)| i)
                .expect("≥ 3 blocks, at most one of them moved");
            all[pick].1 = target;
        }
    }
    let mut out = SplitText { block_bytes: size, ..SplitText::default() };
    for (_, split, text) in all {
        let dest = match split {
            Split::Train => &mut out.train,
            Split::Val => &mut out.val,
            Split::Test => &mut out.test,
        };
        dest.push(text.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs() -> Vec<Document> {
        (0..5)
            .map(|d| Document {
                name: format!("doc{d}"),
                text: (0..400).map(|l| format!("document {d} line {l}\n")).collect(),
            })
            .collect()
    }

    #[test]
    fn blocks_cut_at_line_ends_and_cover_the_text() {
        let text = "ab\ncdef\ng\nhij";
        let b = blocks(text, 3);
        // At least 3 bytes, then on to a line end within the next 3 ("f\ng" holds one),
        // else cut at the boundary ("cde" and "ij" hold none).
        assert_eq!(b, ["ab\n", "cdef\n", "g\nh", "ij"]);
        // No line end near: a space, else a character boundary.
        assert_eq!(blocks("abcd efghijkl", 3), ["abcd ", "efg", "hij", "kl"]);
        assert_eq!(blocks("ééé", 3), ["éé", "é"]);
        assert_eq!(b.concat(), text);
        assert_eq!(blocks("", 3), Vec::<&str>::new());
    }

    #[test]
    fn split_is_deterministic_disjoint_and_complete() {
        let d = docs();
        let a = split_documents(&d, 1).unwrap();
        assert_eq!(a, split_documents(&d, 1).unwrap());
        assert_ne!(a, split_documents(&d, 2).unwrap());
        assert!(!a.train.is_empty() && !a.val.is_empty() && !a.test.is_empty());
        // Every block lands in exactly one split: the multiset of blocks is the whole corpus.
        let total: usize = d.iter().map(|d| d.text.len()).sum();
        let got: usize =
            [&a.train, &a.val, &a.test].iter().flat_map(|s| s.iter()).map(|b| b.len()).sum();
        assert_eq!(got, total);
        for v in &a.val {
            assert!(!a.train.contains(v) && !a.test.contains(v));
        }
        // Roughly 90/5/5 over the blocks.
        let n = (a.train.len() + a.val.len() + a.test.len()) as f64;
        assert!(a.train.len() as f64 / n > 0.75, "{} of {n}", a.train.len());
    }

    #[test]
    fn too_little_text_is_an_error() {
        let d = vec![Document { name: "tiny".into(), text: "hello\n".into() }];
        let e = split_documents(&d, 0).unwrap_err().to_string();
        assert!(e.contains("tiny") && e.contains("at least 3"), "{e}");
    }
}
