//! The settings of one training run as a user gives them: every field optional, the same
//! type for `isoflop train`'s flags (clap) and its `--config FILE` (TOML, keys the flags'
//! names with `_` for `-`). Settings flow one way: [`TrainOverrides::over`] lays flags over
//! the file, and [`TrainOverrides::resolve`] fills what neither gave from the defaults
//! (the ladder, the LR and batch rules: [`TrainConfig::new`]) into one validated
//! [`TrainConfig`], which cannot drift from what was asked: there is no second list of keys
//! to keep in step, so a renamed flag renames its file key too.
//!
//! ```
//! use isoflop_train::TrainOverrides;
//!
//! let file = TrainOverrides::parse("layers = 2\nd_model = 64\ntokens = \"1M\"\nlr = 5e-3\n", "t.toml")?;
//! let flags = TrainOverrides { lr: Some(1e-3), ..Default::default() };
//! let cfg = flags.over(file).resolve(256)?;
//! assert_eq!((cfg.model.n_layer, cfg.tokens, cfg.adamw.lr), (2, 1_000_000, 1e-3));
//! # Ok::<(), isoflop_train::Error>(())
//! ```

use crate::{
    Device, EngineKind, Error, GptConfig, Result, TokenizerKind, TokenizerName, TrainConfig, ladder,
};
use serde::{Deserialize, Deserializer, Serialize};
use std::path::{Path, PathBuf};

/// Every setting of `isoflop train`, each `None` until a flag or the file gives it. The
/// defaults named in the docs are [`TrainOverrides::resolve`]'s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct TrainOverrides {
    /// Parameter budget: the nearest shape of the model ladder (e.g. 2e5, 1.5M).
    #[arg(long, value_parser = parse_count)]
    #[serde(default, deserialize_with = "count")]
    pub params: Option<f64>,
    /// Transformer blocks (overrides the ladder's).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Residual width (overrides the ladder's).
    #[arg(long)]
    pub d_model: Option<usize>,
    /// Attention heads; must divide --d-model (default: heads as near 32 wide as the width
    /// allows, as the ladder's shapes have).
    #[arg(long)]
    pub heads: Option<usize>,
    /// Context length in tokens, rows are this long (default: 128, the ladder's).
    #[arg(long)]
    pub context: Option<usize>,
    /// Token budget to train on (e.g. 4e6); the schedule ends exactly there.
    #[arg(long, value_parser = parse_count)]
    #[serde(default, deserialize_with = "count")]
    pub tokens: Option<f64>,
    /// Tokens per optimizer step, a multiple of --context (default: the batch rule).
    #[arg(long, value_parser = parse_count)]
    #[serde(default, deserialize_with = "count")]
    pub batch_tokens: Option<f64>,
    /// Peak learning rate (default: the ladder's LR rule, 3e-3·128/d_model).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Warm-up steps (default: 5% of the steps).
    #[arg(long)]
    pub warmup_steps: Option<u64>,
    /// Seed of the initial weights and the batch order (default: 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Compute threads (default 0: one per physical core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Training engine: kernels (fused CPU kernels, the fast default) or candle (the autograd
    /// reference; the one that runs on --device cuda).
    #[arg(long, value_enum)]
    pub engine: Option<EngineKind>,
    /// Device: cpu (the default), cuda or cuda:N (CUDA needs a build with `--features cuda`).
    #[arg(long)]
    pub device: Option<Device>,
    /// Stop when the val loss has not improved for this many evaluations.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Evaluations at log-spaced token counts (default: 8).
    #[arg(long)]
    pub eval_points: Option<usize>,
    /// Tokens per split scored at each intermediate evaluation.
    #[arg(long, value_parser = parse_count)]
    #[serde(default, deserialize_with = "count")]
    pub eval_tokens: Option<f64>,
    /// Tokens per split scored at the final evaluation.
    #[arg(long, value_parser = parse_count)]
    #[serde(default, deserialize_with = "count")]
    pub final_eval_tokens: Option<f64>,
    /// Run directory: config.json, report.json and the checkpoint go here.
    #[arg(short = 'o', long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Checkpoint every this many steps (default 0: only when stopped and at the end).
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Local UTF-8 text instead of the default corpus: a file, or a directory whose files are
    /// one document each.
    #[arg(long, value_name = "DIR|FILE")]
    pub corpus: Option<PathBuf>,
    /// Out-of-distribution text for --corpus (the default corpus brings its own).
    #[arg(long, value_name = "DIR|FILE")]
    pub ood: Option<PathBuf>,
    /// Tokenizer: byte (the default; vocabulary 256, losses per byte) or bpe (trained on the
    /// train split).
    #[arg(long, value_enum)]
    pub tokenizer: Option<TokenizerName>,
    /// BPE vocabulary size, with --tokenizer bpe (default: 4096).
    #[arg(long)]
    pub vocab: Option<usize>,
    /// Seed of the train/val/test split (default: 0).
    #[arg(long)]
    pub split_seed: Option<u64>,
    /// Cache directory (default: $ISOFLOP_CACHE, else the user's cache dir + /isoflop).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// The BPE vocabulary when none is given.
pub const DEFAULT_BPE_VOCAB: usize = 4096;

/// A count in a file: a number, or text as the flags take it (`"4e6"`, `"1.5M"`).
fn count<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Number(f64),
        Text(String),
    }
    let v = match Count::deserialize(d)? {
        Count::Number(v) if v.is_finite() && v >= 0.0 => v,
        Count::Number(v) => {
            return Err(serde::de::Error::custom(format!(
                "{v} must be a finite, non-negative number"
            )));
        }
        Count::Text(t) => parse_count(&t).map_err(serde::de::Error::custom)?,
    };
    Ok(Some(v))
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

/// A whole token count from a setting, refused above what one run may train (before the
/// cast, which would saturate at u64::MAX).
fn whole(v: f64, flag: &str) -> Result<u64> {
    if v > crate::MAX_RUN_TOKENS as f64 {
        return Err(Error::InvalidTrainConfig(format!(
            "{flag} {v:e} is more than the 1e15 tokens one run may train"
        )));
    }
    if v.fract() != 0.0 {
        return Err(Error::InvalidTrainConfig(format!("{flag} {v} is not a whole number")));
    }
    Ok(v as u64)
}

/// Prefixes a train error's message with the setting it came from.
fn on(flag: &'static str) -> impl Fn(Error) -> Error {
    move |e| Error::InvalidTrainConfig(format!("{flag}: {e}"))
}

impl TrainOverrides {
    /// Parses and checks a config file's text; `origin` (the file) names it in every error.
    /// Unknown keys, wrong types, bad counts and unknown names are refused with the line.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            Error::InvalidTrainConfig(format!("--config {origin}: {}", e.to_string().trim_end()))
        })
    }

    /// Reads a config file; its relative paths (`out`, `corpus`, `ood`, `cache_dir`) are
    /// taken relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut o = Self::parse(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut o.out, &mut o.corpus, &mut o.ood, &mut o.cache_dir].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if o.ood.is_some() && o.corpus.is_none() {
            return Err(Error::InvalidTrainConfig(format!(
                "--config {}: ood needs corpus (the default corpus brings its own)",
                path.display()
            )));
        }
        Ok(o)
    }

    /// These settings over `lower`'s: each field is this one's where it is given, else
    /// `lower`'s (flags over a file, a file over nothing).
    pub fn over(self, lower: Self) -> Self {
        // Destructured, so a new field that is not merged here does not compile.
        let Self {
            params,
            layers,
            d_model,
            heads,
            context,
            tokens,
            batch_tokens,
            lr,
            warmup_steps,
            seed,
            threads,
            engine,
            device,
            patience,
            eval_points,
            eval_tokens,
            final_eval_tokens,
            out,
            checkpoint_every,
            corpus,
            ood,
            tokenizer,
            vocab,
            split_seed,
            cache_dir,
        } = self;
        Self {
            params: params.or(lower.params),
            layers: layers.or(lower.layers),
            d_model: d_model.or(lower.d_model),
            heads: heads.or(lower.heads),
            context: context.or(lower.context),
            tokens: tokens.or(lower.tokens),
            batch_tokens: batch_tokens.or(lower.batch_tokens),
            lr: lr.or(lower.lr),
            warmup_steps: warmup_steps.or(lower.warmup_steps),
            seed: seed.or(lower.seed),
            threads: threads.or(lower.threads),
            engine: engine.or(lower.engine),
            device: device.or(lower.device),
            patience: patience.or(lower.patience),
            eval_points: eval_points.or(lower.eval_points),
            eval_tokens: eval_tokens.or(lower.eval_tokens),
            final_eval_tokens: final_eval_tokens.or(lower.final_eval_tokens),
            out: out.or(lower.out),
            checkpoint_every: checkpoint_every.or(lower.checkpoint_every),
            corpus: corpus.or(lower.corpus),
            ood: ood.or(lower.ood),
            tokenizer: tokenizer.or(lower.tokenizer),
            vocab: vocab.or(lower.vocab),
            split_seed: split_seed.or(lower.split_seed),
            cache_dir: cache_dir.or(lower.cache_dir),
        }
    }

    /// The tokenizer asked for (bytes unless `tokenizer = bpe`; a BPE vocabulary checked).
    pub fn tokenizer_kind(&self) -> Result<TokenizerKind> {
        self.tokenizer
            .unwrap_or_default()
            .with_vocab(self.vocab.unwrap_or(DEFAULT_BPE_VOCAB))
            .map_err(on("--vocab"))
    }

    /// The context length (default: the ladder's).
    pub fn context(&self) -> usize {
        self.context.unwrap_or(ladder::CONTEXT)
    }

    /// The model's shape for a vocabulary of `vocab`: `params` picks the ladder's nearest
    /// shape, and `layers`, `d_model`, `heads` override its parts.
    pub fn shape(&self, vocab: usize) -> Result<GptConfig> {
        let context = self.context();
        // The context first: the ladder needs one, and its error must not be blamed on params.
        if context == 0 {
            return Err(Error::InvalidTrainConfig(
                "--context 0: a row must hold at least 1 token".into(),
            ));
        }
        if context > crate::MAX_CONTEXT {
            return Err(Error::InvalidTrainConfig(format!(
                "--context {context}: more than the trainer's {} (its attention keeps every \
                 head's T×T probabilities: 4·T² bytes per head and row)",
                crate::MAX_CONTEXT
            )));
        }
        let base = match self.params {
            Some(n) => {
                Some(ladder::shape_for_params_with(n, vocab, context).map_err(on("--params"))?)
            }
            None => None,
        };
        let layers = self.layers.or(base.map(|b| b.n_layer));
        let d_model = self.d_model.or(base.map(|b| b.d_model));
        let (Some(n_layer), Some(d_model)) = (layers, d_model) else {
            return Err(Error::InvalidTrainConfig(
                "give the model's size: --params N, or --layers and --d-model".into(),
            ));
        };
        let heads = self
            .heads
            .or(base.filter(|b| b.d_model == d_model).map(|b| b.n_head))
            .unwrap_or_else(|| ladder::heads_for_width(d_model));
        GptConfig::new(n_layer, d_model, heads, vocab, context).map_err(|e| {
            Error::InvalidTrainConfig(format!(
                "--layers {n_layer} --d-model {d_model} --heads {heads} --context {context}: {e}"
            ))
        })
    }

    /// The one resolved configuration of the run, for a dataset of vocabulary `vocab`:
    /// defaults (`TrainConfig::new`: the ladder's LR, the batch and warm-up rules) under these
    /// settings, threads resolved (and refused beyond the machine), validated.
    pub fn resolve(&self, vocab: usize) -> Result<TrainConfig> {
        let engine = self.engine.unwrap_or_default();
        let device = self.device.unwrap_or_default();
        engine.check_device(device)?;
        let Some(tokens) = self.tokens else {
            return Err(Error::InvalidTrainConfig(
                "give the token budget: --tokens N, or tokens in the --config file".into(),
            ));
        };
        let tokens = whole(tokens, "--tokens")?;
        let model = self.shape(vocab)?;
        // Refused before anything starts: a mistyped count would start that many threads.
        let threads = crate::resolve_threads("--threads", self.threads.unwrap_or(0))?;
        let mut cfg = TrainConfig::new(model, tokens).map_err(on("--tokens"))?;
        if let Some(b) = self.batch_tokens {
            cfg =
                cfg.with_batch_tokens(whole(b, "--batch-tokens")?).map_err(on("--batch-tokens"))?;
        }
        if let Some(lr) = self.lr {
            cfg.adamw.lr = lr;
        }
        if let Some(w) = self.warmup_steps {
            cfg.warmup_steps = w;
        }
        if let Some(t) = self.eval_tokens {
            cfg.eval_tokens = whole(t, "--eval-tokens")?;
        }
        if let Some(t) = self.final_eval_tokens {
            cfg.final_eval_tokens = whole(t, "--final-eval-tokens")?;
        }
        if let Some(n) = self.eval_points {
            cfg.eval_points = n;
        }
        cfg.seed = self.seed.unwrap_or(0);
        cfg.threads = threads;
        cfg.engine = engine;
        cfg.device = device;
        cfg.patience = self.patience;
        cfg.checkpoint_dir = self.out.clone();
        cfg.checkpoint_every = self.checkpoint_every.unwrap_or(0);
        cfg.validate()?;
        Ok(cfg)
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
        let f =
            TrainOverrides::parse("layers = 2\ntokens = \"1.5M\"\nlr = 3e-3\n", "t.toml").unwrap();
        assert_eq!((f.layers, f.tokens, f.lr), (Some(2), Some(1.5e6), Some(3e-3)));
        for (text, want) in [
            ("layer = 3\n", "unknown field `layer`"),
            ("tokens = \"lots\"\n", "`lots` is not a number"),
            ("tokens = -5.0\n", "-5 must be a finite, non-negative number"),
            ("tokenizer = \"words\"\n", "tokenizer = \"words\""),
            ("engine = \"gpu\"\n", "unknown engine `gpu`"),
            ("device = \"tpu\"\n", "unknown device `tpu`"),
        ] {
            let e = TrainOverrides::parse(text, "bad.toml").unwrap_err().to_string();
            assert!(e.contains("--config bad.toml") && e.contains(want), "{text}: {e}");
            // The key's line is quoted, so the user sees which key it was.
            let key = text.split(' ').next().unwrap();
            assert!(e.contains(&format!("1 | {key}")), "{text}: {e}");
        }
    }

    #[test]
    fn flags_lie_over_the_file_and_defaults_fill_the_rest() {
        let file = TrainOverrides::parse(
            "layers = 2\nd_model = 64\ntokens = \"1M\"\nlr = 5e-3\nseed = 9\nengine = \"candle\"\n",
            "t.toml",
        )
        .unwrap();
        let flags = TrainOverrides { lr: Some(1e-3), seed: Some(0), ..Default::default() };
        let merged = flags.over(file.clone());
        assert_eq!((merged.lr, merged.seed, merged.layers), (Some(1e-3), Some(0), Some(2)));
        let cfg = merged.resolve(256).unwrap();
        assert_eq!((cfg.model.n_layer, cfg.model.d_model, cfg.model.context), (2, 64, 128));
        assert_eq!((cfg.seed, cfg.engine, cfg.tokens), (0, EngineKind::Candle, 1_000_000));
        // Nothing given over nothing: the file's own values.
        assert_eq!(TrainOverrides::default().over(file.clone()), file);
        // What neither gave comes from TrainConfig::new's rules.
        let rules = TrainConfig::new(cfg.model, 1_000_000).unwrap();
        assert_eq!((cfg.batch_tokens, cfg.warmup_steps), (rules.batch_tokens, rules.warmup_steps));
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let o = |text: &str| TrainOverrides::parse(text, "t.toml").unwrap();
        for (text, want) in [
            ("layers = 2\nd_model = 64\n", "give the token budget"),
            ("tokens = 1e6\n", "give the model's size"),
            ("layers = 2\nd_model = 64\ntokens = 1.5\n", "--tokens 1.5 is not a whole number"),
            ("layers = 2\nd_model = 64\ntokens = 1e20\n", "--tokens 1e20 is more than"),
            ("layers = 2\nd_model = 64\ntokens = 1e6\ncontext = 0\n", "--context 0"),
            ("layers = 2\nd_model = 64\ntokens = 1e6\nthreads = 100000\n", "--threads"),
            ("layers = 2\nd_model = 64\ntokens = 1e6\ndevice = \"cuda\"\n", "runs on the CPU only"),
            ("layers = 2\nd_model = 60\nheads = 7\ntokens = 1e6\n", "--heads 7"),
            ("layers = 2\nd_model = 0\ntokens = 1e6\n", "--d-model 0"),
        ] {
            let e = o(text).resolve(256).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        // Absurd budgets are refused (a model too large for memory passes here and is refused
        // by the trainer's memory check before anything is allocated).
        for text in [
            "params = 1e30\ntokens = 1e6\n",
            "layers = 2\nd_model = 64\ntokens = 1e6\nbatch_tokens = 1e15\n",
        ] {
            assert!(o(text).resolve(256).is_err(), "{text}");
        }
        let e = o("tokenizer = \"bpe\"\nvocab = 9\n").tokenizer_kind().unwrap_err().to_string();
        assert!(e.contains("--vocab"), "{e}");
    }

    #[test]
    fn a_loaded_file_reads_paths_beside_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "corpus = \"text\"\nout = \"/abs/run\"\n").unwrap();
        let o = TrainOverrides::load(&path).unwrap();
        assert_eq!(o.corpus, Some(dir.path().join("text")));
        assert_eq!(o.out, Some(PathBuf::from("/abs/run")));
        std::fs::write(&path, "ood = \"x\"\n").unwrap();
        let e = TrainOverrides::load(&path).unwrap_err().to_string();
        assert!(e.contains("t.toml") && e.contains("ood needs corpus"), "{e}");
        let e = TrainOverrides::load(&dir.path().join("none.toml")).unwrap_err().to_string();
        assert!(e.contains("none.toml"), "{e}");
    }
}
