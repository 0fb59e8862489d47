//! The settings file of `isoflop train --config FILE`: TOML whose keys are the flags' names
//! with `_` for `-` (`layers = 4`, `d_model = 128`, `tokens = "4e6"`, `lr = 3e-3`).
//!
//! [`TrainFile::parse`] reads and checks the text on its own (unknown keys, types, counts,
//! the tokenizer's name), so that the binary's merge (defaults → this file → flags) only ever
//! sees valid values. Counts take a number or the flags' text (`"4e6"`, `"1.5M"`), read by
//! [`parse_count`].

use crate::{Error, Result};
use serde::Deserialize;
use std::path::PathBuf;

/// Every key of a train config file, checked. Counts are whole or fractional numbers ≥ 0 as
/// written (the binary checks that token counts are whole).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainFile {
    /// `params`: the parameter budget.
    pub params: Option<f64>,
    /// `layers`.
    pub layers: Option<usize>,
    /// `d_model`.
    pub d_model: Option<usize>,
    /// `heads`.
    pub heads: Option<usize>,
    /// `context`.
    pub context: Option<usize>,
    /// `tokens`: the token budget.
    pub tokens: Option<f64>,
    /// `batch_tokens`.
    pub batch_tokens: Option<f64>,
    /// `lr`.
    pub lr: Option<f32>,
    /// `warmup_steps`.
    pub warmup_steps: Option<u64>,
    /// `seed`.
    pub seed: Option<u64>,
    /// `threads`.
    pub threads: Option<usize>,
    /// `engine`.
    pub engine: Option<String>,
    /// `device`.
    pub device: Option<String>,
    /// `patience`.
    pub patience: Option<usize>,
    /// `eval_points`.
    pub eval_points: Option<usize>,
    /// `eval_tokens`.
    pub eval_tokens: Option<f64>,
    /// `final_eval_tokens`.
    pub final_eval_tokens: Option<f64>,
    /// `out` (relative to the file's folder, as the binary resolves it).
    pub out: Option<PathBuf>,
    /// `checkpoint_every`.
    pub checkpoint_every: Option<u64>,
    /// `corpus`.
    pub corpus: Option<PathBuf>,
    /// `ood`.
    pub ood: Option<PathBuf>,
    /// `tokenizer`: `byte` or `bpe`.
    pub tokenizer: Option<String>,
    /// `vocab`.
    pub vocab: Option<usize>,
    /// `split_seed`.
    pub split_seed: Option<u64>,
    /// `cache_dir`.
    pub cache_dir: Option<PathBuf>,
}

/// The file as TOML gives it, before counts are read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    params: Option<Count>,
    layers: Option<usize>,
    d_model: Option<usize>,
    heads: Option<usize>,
    context: Option<usize>,
    tokens: Option<Count>,
    batch_tokens: Option<Count>,
    lr: Option<f32>,
    warmup_steps: Option<u64>,
    seed: Option<u64>,
    threads: Option<usize>,
    engine: Option<String>,
    device: Option<String>,
    patience: Option<usize>,
    eval_points: Option<usize>,
    eval_tokens: Option<Count>,
    final_eval_tokens: Option<Count>,
    out: Option<PathBuf>,
    checkpoint_every: Option<u64>,
    corpus: Option<PathBuf>,
    ood: Option<PathBuf>,
    tokenizer: Option<String>,
    vocab: Option<usize>,
    split_seed: Option<u64>,
    cache_dir: Option<PathBuf>,
}

/// A count in a config file: a number, or a string as the flags take it (`"4e6"`, `"1.5M"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Count {
    Number(f64),
    Text(String),
}

impl Count {
    fn value(&self, key: &str) -> std::result::Result<f64, String> {
        match self {
            Count::Number(v) if v.is_finite() && *v >= 0.0 => Ok(*v),
            Count::Number(v) => Err(format!("{key} = {v}: must be a finite, non-negative number")),
            Count::Text(t) => parse_count(t).map_err(|e| format!("{key}: {e}")),
        }
    }
}

/// A count as the flags take it: a number with an optional k/M/G (or B) suffix and `_`
/// separators (`4e6`, `1.5M`, `200_000`), finite and ≥ 0.
pub fn parse_count(s: &str) -> std::result::Result<f64, String> {
    let t = s.trim().replace('_', "");
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('G' | 'B') => (&t[..t.len() - 1], 1e9),
        _ => (t.as_str(), 1.0),
    };
    let v: f64 = num.parse().map_err(|_| format!("`{s}` is not a number (e.g. 4e6, 1.5M)"))?;
    let v = v * mult;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{s}` must be a finite, non-negative number"));
    }
    Ok(v)
}

impl TrainFile {
    /// Parses and checks a config file's text; `origin` (the file) names it in every error.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let bad = |m: String| Error::InvalidTrainConfig(format!("--config {origin}: {m}"));
        let raw: Raw = toml::from_str(text).map_err(|e| bad(e.to_string().trim_end().into()))?;
        let count = |c: Option<Count>, k: &str| c.map(|c| c.value(k)).transpose().map_err(bad);
        if let Some(t) = &raw.tokenizer
            && !["byte", "bpe"].contains(&t.as_str())
        {
            return Err(bad(format!("tokenizer = {t:?}: expected \"byte\" or \"bpe\"")));
        }
        Ok(Self {
            params: count(raw.params, "params")?,
            layers: raw.layers,
            d_model: raw.d_model,
            heads: raw.heads,
            context: raw.context,
            tokens: count(raw.tokens, "tokens")?,
            batch_tokens: count(raw.batch_tokens, "batch_tokens")?,
            lr: raw.lr,
            warmup_steps: raw.warmup_steps,
            seed: raw.seed,
            threads: raw.threads,
            engine: raw.engine,
            device: raw.device,
            patience: raw.patience,
            eval_points: raw.eval_points,
            eval_tokens: count(raw.eval_tokens, "eval_tokens")?,
            final_eval_tokens: count(raw.final_eval_tokens, "final_eval_tokens")?,
            out: raw.out,
            checkpoint_every: raw.checkpoint_every,
            corpus: raw.corpus,
            ood: raw.ood,
            tokenizer: raw.tokenizer,
            vocab: raw.vocab,
            split_seed: raw.split_seed,
            cache_dir: raw.cache_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse() {
        assert_eq!(parse_count("4e6"), Ok(4e6));
        assert_eq!(parse_count("1.5M"), Ok(1.5e6));
        assert_eq!(parse_count("200_000"), Ok(2e5));
        assert_eq!(parse_count("3k"), Ok(3e3));
        assert!(parse_count("-1").is_err() && parse_count("x").is_err());
    }

    #[test]
    fn a_file_is_checked_on_its_own() {
        let f = TrainFile::parse("layers = 2\ntokens = \"1.5M\"\nlr = 3e-3\n", "t.toml").unwrap();
        assert_eq!((f.layers, f.tokens, f.lr), (Some(2), Some(1.5e6), Some(3e-3)));
        for (text, want) in [
            ("layer = 3\n", "unknown field `layer`"),
            ("tokens = \"lots\"\n", "tokens: `lots` is not a number"),
            ("tokens = -5.0\n", "tokens = -5: must be"),
            ("tokenizer = \"words\"\n", "tokenizer = \"words\""),
        ] {
            let e = TrainFile::parse(text, "bad.toml").unwrap_err().to_string();
            assert!(e.contains("--config bad.toml") && e.contains(want), "{text}: {e}");
        }
    }
}
