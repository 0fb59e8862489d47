//! Argument groups more than one verb flattens into its own arguments (`#[command(flatten)]`):
//! the cache, the corpus and tokenizer, a labelled task, a sweep's layout on the cores, the
//! run store and a sweep. A verb's own flags stay in its file.

use anyhow::{Context, Result};
use isoflop_sweep::LayoutOptions;
use isoflop_train::corpus::{self, Corpus, Dataset};
use isoflop_train::task::{Task, load_file};
use isoflop_train::task_fetch::{self, TASKS};
use isoflop_train::{TokenizerKind, TokenizerName, TrainOverrides};
use std::path::{Path, PathBuf};

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
    #[arg(long, value_enum, default_value_t)]
    pub tokenizer: TokenizerName,
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
            tokenizer: set.tokenizer.unwrap_or_default(),
            vocab: set.vocab.unwrap_or(isoflop_train::DEFAULT_BPE_VOCAB),
            split_seed: set.split_seed.unwrap_or(0),
            cache: CacheArgs { cache_dir: set.cache_dir.clone() },
        }
    }

    /// The tokenizer asked for.
    pub fn tokenizer_kind(&self) -> Result<TokenizerKind> {
        self.tokenizer.with_vocab(self.vocab).context("--vocab")
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

/// Which task to use (shared by `tasks show` and `finetune`).
#[derive(Debug, clap::Args)]
pub struct TaskArgs {
    /// A built-in task name (`mr`, `trec`, `sms-spam`; fetched if not cached) or a CSV/JSONL
    /// file with `text` and `label` columns.
    #[arg(long = "task", value_name = "NAME|FILE")]
    pub task: String,
    /// The column of a task file that gives each row's split (train, dev/val, test); without
    /// it the rows are split 80/10/10 by class.
    #[arg(long, value_name = "COLUMN")]
    pub split_col: Option<String>,
    /// Seed of the 80/10/10 split of a task file without a split column.
    #[arg(long, default_value_t = 0)]
    pub task_seed: u64,
    #[command(flatten)]
    pub cache: CacheArgs,
}

impl TaskArgs {
    /// Loads the task: a built-in (fetched first if needed) or a file.
    pub fn load(&self, quiet: bool) -> Result<Task> {
        if task_fetch::builtin(&self.task).is_some() {
            let cache = self.cache.resolve();
            if !task_fetch::is_fetched(&cache, &self.task) && !quiet {
                eprintln!("task {} is not cached yet: fetching it first", self.task);
            }
            return Ok(task_fetch::fetch_task(&cache, &self.task)?);
        }
        let path = Path::new(&self.task);
        if !path.exists() {
            let names: Vec<&str> = TASKS.iter().map(|t| t.name).collect();
            anyhow::bail!(
                "--task {}: neither a built-in task ({}) nor an existing file",
                self.task,
                names.join(", ")
            );
        }
        load_file(path, self.split_col.as_deref(), self.task_seed)
            .with_context(|| format!("--task {}", self.task))
    }
}

/// Options shared by `plan` and `run`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Layout {
    /// Cores to use (default: all of this machine's).
    #[arg(long)]
    pub cores: Option<usize>,
    /// Runs trained side by side (default: as many as the cores and the engine's
    /// recommended threads per run allow).
    #[arg(long)]
    pub parallel_runs: Option<usize>,
    /// Threads per run (default: the engine's recommendation for each run's shape).
    #[arg(long)]
    pub threads_per_run: Option<usize>,
}

impl Layout {
    /// The layout flags over this machine's cores.
    pub fn options(&self) -> LayoutOptions {
        let machine = LayoutOptions::this_machine();
        LayoutOptions {
            cores: self.cores.unwrap_or(machine.cores).max(1),
            parallel_runs: self.parallel_runs,
            threads_per_run: self.threads_per_run,
        }
    }
}

/// The run store and, optionally, one of its sweeps.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreSweep {
    /// The run store.
    #[arg(long, env = "ISOFLOP_DB", default_value = "isoflop.db")]
    pub db: PathBuf,
    /// Only this sweep's runs (a verb that needs one sweep takes the store's only sweep
    /// when none is named).
    #[arg(long)]
    pub sweep: Option<String>,
}

/// The column names of an observation file (`fit`, `import`).
#[derive(Debug, Clone, clap::Args)]
pub struct Columns {
    /// Name of the parameters column.
    #[arg(long, default_value = "N")]
    pub n_col: String,
    /// Name of the training-tokens column.
    #[arg(long, default_value = "D")]
    pub d_col: String,
    /// Name of the loss column.
    #[arg(long, default_value = "loss")]
    pub loss_col: String,
    /// Name of the FLOPs column (absent: C = 6·N·D).
    #[arg(long, default_value = "C")]
    pub c_col: String,
    /// Name of the unique-tokens column (data-constrained form).
    #[arg(long, default_value = "U")]
    pub u_col: String,
    /// Name of the downstream-metric column (sigmoid forms).
    #[arg(long, default_value = "metric")]
    pub metric_col: String,
    /// Name of the downstream-task column (rows of other tasks are left out by --task).
    #[arg(long, default_value = "task")]
    pub task_col: String,
    /// Name of the adaptation-method column of downstream rows (full, lora, …).
    #[arg(long, default_value = "method")]
    pub method_col: String,
}

impl Columns {
    /// The names as the law's reader takes them.
    pub fn names(&self) -> isoflop_law::ColumnNames {
        isoflop_law::ColumnNames {
            n: self.n_col.clone(),
            d: self.d_col.clone(),
            loss: self.loss_col.clone(),
            c: self.c_col.clone(),
            u: self.u_col.clone(),
            metric: self.metric_col.clone(),
            task: self.task_col.clone(),
            method: self.method_col.clone(),
            ..isoflop_law::ColumnNames::default()
        }
    }
}
