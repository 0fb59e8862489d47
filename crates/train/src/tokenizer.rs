//! Tokenizers: bytes (the default) or a byte-level BPE trained on the train split.
//!
//! The byte tokenizer maps each UTF-8 byte to its value (vocabulary 256), so a loss in nats
//! per token is a loss in nats per byte, and bits per byte is loss / ln 2. The BPE is GPT-2's
//! scheme (Radford et al. 2019 §2.2: BPE over a byte alphabet, so nothing is out of
//! vocabulary) trained with Hugging Face's `tokenizers` crate on the train split only, so no
//! validation text shapes the vocabulary. Bits per byte then divides by each split's bytes.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;

/// Which tokenizer to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TokenizerKind {
    /// One token per UTF-8 byte, vocabulary 256.
    #[default]
    Byte,
    /// Byte-level BPE with this vocabulary size (256 < vocab ≤ 65,536, so tokens fit u16).
    Bpe {
        /// Vocabulary size, the 256 byte symbols included.
        vocab: usize,
    },
}

impl TokenizerKind {
    /// The vocabulary size.
    pub fn vocab(&self) -> usize {
        match self {
            TokenizerKind::Byte => 256,
            TokenizerKind::Bpe { vocab } => *vocab,
        }
    }

    /// Checks the vocabulary size.
    pub fn validate(&self) -> Result<()> {
        if let TokenizerKind::Bpe { vocab } = self
            && !(257..=65_536).contains(vocab)
        {
            return Err(Error::Tokenizer(format!(
                "a BPE vocabulary must lie in 257..=65536 (256 byte symbols plus merges, tokens \
                 stored as u16), got {vocab}"
            )));
        }
        Ok(())
    }

    /// A short tag for file names: `byte` or `bpe4096`.
    pub fn tag(&self) -> String {
        match self {
            TokenizerKind::Byte => "byte".into(),
            TokenizerKind::Bpe { vocab } => format!("bpe{vocab}"),
        }
    }
}

impl fmt::Display for TokenizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizerKind::Byte => write!(f, "byte"),
            TokenizerKind::Bpe { .. } => write!(f, "bpe"),
        }
    }
}

impl FromStr for TokenizerKind {
    type Err = Error;

    /// `byte`, `bpe` (vocabulary 4096) or `bpe:N`.
    fn from_str(s: &str) -> Result<Self> {
        let kind = match s {
            "byte" | "bytes" => TokenizerKind::Byte,
            "bpe" => TokenizerKind::Bpe { vocab: 4096 },
            _ => match s.strip_prefix("bpe:").map(str::parse) {
                Some(Ok(vocab)) => TokenizerKind::Bpe { vocab },
                _ => {
                    return Err(Error::Tokenizer(format!(
                        "unknown tokenizer `{s}`: expected byte, bpe or bpe:VOCAB"
                    )));
                }
            },
        };
        kind.validate()?;
        Ok(kind)
    }
}

/// A tokenizer's name as flags, files and specs give it, its vocabulary given apart
/// (`tokenizer = "bpe"`, `vocab = 4096`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerName {
    /// One token per UTF-8 byte (vocabulary 256; losses are per byte).
    #[default]
    Byte,
    /// Byte-level BPE trained on the train split.
    Bpe,
}

impl TokenizerName {
    /// The tokenizer of this name; `vocab` is the BPE vocabulary (checked; ignored for bytes).
    pub fn with_vocab(self, vocab: usize) -> Result<TokenizerKind> {
        let kind = match self {
            TokenizerName::Byte => TokenizerKind::Byte,
            TokenizerName::Bpe => TokenizerKind::Bpe { vocab },
        };
        kind.validate()?;
        Ok(kind)
    }
}

impl fmt::Display for TokenizerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenizerName::Byte => "byte",
            TokenizerName::Bpe => "bpe",
        })
    }
}

/// A ready tokenizer.
pub enum Tokenizer {
    /// Bytes.
    Byte,
    /// A trained byte-level BPE.
    Bpe(Box<tokenizers::Tokenizer>),
}

fn te(e: impl fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

impl Tokenizer {
    /// Builds the tokenizer of `kind`, training a BPE on `train` (the train split's blocks).
    pub fn train(kind: TokenizerKind, train: &[String]) -> Result<Self> {
        kind.validate()?;
        let vocab = match kind {
            TokenizerKind::Byte => return Ok(Tokenizer::Byte),
            TokenizerKind::Bpe { vocab } => vocab,
        };
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab)
            .min_frequency(2)
            .show_progress(false)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        // No prefix space: the encoding of a text is then exactly its bytes, merged.
        let byte_level = ByteLevel::new(false, false, true);
        let mut tok = tokenizers::TokenizerBuilder::new()
            .with_model(BPE::default())
            .with_normalizer(None::<tokenizers::NormalizerWrapper>)
            .with_pre_tokenizer(Some(byte_level))
            .with_post_processor(None::<tokenizers::PostProcessorWrapper>)
            .with_decoder(Some(byte_level))
            .build()
            .map_err(te)?;
        tok.train(&mut trainer, train.iter()).map_err(te)?;
        // Round-trip through JSON into the type-erased tokenizer, which is what `load` reads.
        let json = tok.to_string(false).map_err(te)?;
        let tok: tokenizers::Tokenizer = json.parse().map_err(te)?;
        Ok(Tokenizer::Bpe(Box::new(tok)))
    }

    /// Loads a BPE saved by [`Tokenizer::save`], or the byte tokenizer for `Byte`.
    pub fn load(kind: TokenizerKind, path: &Path) -> Result<Self> {
        match kind {
            TokenizerKind::Byte => Ok(Tokenizer::Byte),
            TokenizerKind::Bpe { .. } => Ok(Tokenizer::Bpe(Box::new(
                tokenizers::Tokenizer::from_file(path)
                    .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?,
            ))),
        }
    }

    /// Saves a BPE as `tokenizer.json` (nothing for bytes).
    pub fn save(&self, path: &Path) -> Result<()> {
        match self {
            Tokenizer::Byte => Ok(()),
            Tokenizer::Bpe(t) => t.save(path, false).map_err(te),
        }
    }

    /// The vocabulary size.
    pub fn vocab(&self) -> usize {
        match self {
            Tokenizer::Byte => 256,
            Tokenizer::Bpe(t) => t.get_vocab_size(true),
        }
    }

    /// Token ids of `texts`, concatenated in order.
    pub fn encode(&self, texts: &[String]) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Byte => Ok(texts.iter().flat_map(|t| t.bytes()).map(u32::from).collect()),
            Tokenizer::Bpe(t) => {
                let encs = t.encode_batch_fast(texts.to_vec(), false).map_err(te)?;
                Ok(encs.iter().flat_map(|e| e.get_ids().iter().copied()).collect())
            }
        }
    }

    /// The text of token ids (lossless for both kinds).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            Tokenizer::Byte => {
                let bytes: Vec<u8> = ids.iter().map(|&i| i as u8).collect();
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
            Tokenizer::Bpe(t) => t.decode(ids, false).map_err(te),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse() {
        assert_eq!("byte".parse::<TokenizerKind>().unwrap(), TokenizerKind::Byte);
        assert_eq!("bpe".parse::<TokenizerKind>().unwrap(), TokenizerKind::Bpe { vocab: 4096 });
        assert_eq!("bpe:512".parse::<TokenizerKind>().unwrap().vocab(), 512);
        assert!("bpe:100".parse::<TokenizerKind>().is_err());
        assert!("words".parse::<TokenizerKind>().is_err());
    }

    #[test]
    fn bpe_round_trips_and_compresses() {
        let text: Vec<String> = (0..200)
            .map(|i| format!("the quick brown fox {i} jumps over the lazy dog. café!\n"))
            .collect();
        let tok = Tokenizer::train(TokenizerKind::Bpe { vocab: 300 }, &text).unwrap();
        assert!(tok.vocab() <= 300 && tok.vocab() > 256);
        let sample = vec!["the lazy fox, naïve dog\n".to_string()];
        let ids = tok.encode(&sample).unwrap();
        assert!(ids.len() < sample[0].len(), "{} tokens for {} bytes", ids.len(), sample[0].len());
        assert_eq!(tok.decode(&ids).unwrap(), sample[0]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        tok.save(&path).unwrap();
        let back = Tokenizer::load(TokenizerKind::Bpe { vocab: 300 }, &path).unwrap();
        assert_eq!(back.encode(&sample).unwrap(), ids);
    }

    #[test]
    fn bytes_are_bytes() {
        let ids = Tokenizer::Byte.encode(&["é".to_string()]).unwrap();
        assert_eq!(ids, [0xc3, 0xa9]);
    }
}
