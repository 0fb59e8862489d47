//! The sweep spec: a TOML file that says which runs to train and how.
//!
//! ```toml
//! name = "cpu-demo"                  # the sweep's name in the run store
//! [corpus]
//! source = "default"                 # the registry corpus (`isoflop corpus fetch`), or a path
//! tokenizer = "byte"                 # or "bpe" with `vocab = 4096`
//! [design]
//! kind = "isoflop"                   # IsoFLOP design (Hoffmann et al. 2022, approach 2)
//! budgets = [1e12, 3e12, 1e13]       # training FLOPs C per run, C = 6·N·D
//! sizes = 5                          # models per budget, log-spaced
//! tokens_per_param = 20              # centre the sizes on N* = √(C / (6·20))
//! span = 16                          # largest / smallest size at each budget
//! [train]
//! engine = "kernels"
//! seeds = [0]
//! ```
//!
//! A grid design instead trains every size for several tokens-per-parameter ratios:
//! `kind = "grid"`, `params = [1e5, 4e5]`, `tokens_per_param = [5, 20, 80]`.
//!
//! Configuration flows one way: defaults here → the file → `sweep run` flags → one
//! [`SweepSpec`] saved in the store beside the runs it planned.

use crate::{Error, Result};
use isoflop_train::compress::{CompressOptions, Method};
use isoflop_train::finetune::Method as FtMethod;
use isoflop_train::{Device, EngineKind, TokenizerName};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The most model sizes an IsoFLOP budget may ask for: more than the ladder's
/// [`isoflop_train::ladder::MAX_RUNG`] shapes only plans the same shapes again (and a typo of
/// billions would loop for hours; the sweep_spec fuzz target found it).
pub const MAX_SIZES: usize = isoflop_train::ladder::MAX_RUNG;

/// A whole sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The sweep's name (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// A sentence saying what the sweep is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Which text to train on.
    #[serde(default)]
    pub corpus: CorpusSpec,
    /// Which runs.
    pub design: Design,
    /// How to train them.
    #[serde(default)]
    pub train: TrainSpec,
    /// Compressions of every pretrained run (none by default).
    #[serde(default, skip_serializing_if = "CompressSpec::is_empty")]
    pub compress: CompressSpec,
    /// Fine-tunes of every pretrained run on labelled tasks (none by default).
    #[serde(default, skip_serializing_if = "FinetuneSpec::is_empty")]
    pub finetune: FinetuneSpec,
}

/// The `[finetune]` section: every finished pretraining run fine-tuned on each task with
/// each method (`isoflop finetune`'s), each a run of the sweep reading its model's checkpoint.
///
/// ```toml
/// [finetune]
/// tasks = ["sms-spam"]          # built-in names, or CSV/JSONL files with text and label
/// methods = ["full", "lora"]    # full, lora, adapter, bitfit, scratch
/// epochs = 4                    # at most (early stopping on dev); default the method's
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSpec {
    /// Tasks: built-in names (`mr`, `trec`, `sms-spam`) or task files (relative paths are
    /// relative to the spec file).
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Methods.
    #[serde(default)]
    pub methods: Vec<FtMethod>,
    /// Most epochs (default: the fine-tuner's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
}

impl FinetuneSpec {
    /// Whether it asks for nothing (then the spec serialises without it).
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.methods.is_empty() && self.epochs.is_none()
    }

    /// A task's short name for run keys: a built-in's name, or a file's stem (letters,
    /// digits, `-` and `_` kept).
    pub fn task_tag(&self, task: usize) -> String {
        let t = &self.tasks[task];
        let stem = Path::new(t).file_stem().and_then(|s| s.to_str()).unwrap_or(t);
        stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
    }

    /// The part of a fine-tune run's key after its model's: `ft-<task>-<method>` and the
    /// options given here (`-e4`), so changed options make new runs.
    pub fn tag(&self, task: usize, method: FtMethod) -> String {
        let mut t = format!("ft-{}-{method}", self.task_tag(task));
        if let Some(e) = self.epochs {
            t += &format!("-e{e}");
        }
        t
    }
}

/// The `[compress]` section: methods applied to every finished pretraining run, each a run
/// of the sweep that reads its model's checkpoint.
///
/// ```toml
/// [compress]
/// methods = ["int8", "int4", "gptq-int4", "wanda"]
/// sparsity = 0.5            # of the pruning methods (magnitude, wanda)
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressSpec {
    /// The methods, by the names `isoflop compress --method` takes (`distill` needs a student
    /// of its own and is not a sweep stage).
    #[serde(default)]
    pub methods: Vec<Method>,
    /// Target sparsity of the pruning methods (default: the method's, 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<f64>,
    /// Calibration tokens of GPTQ and Wanda (default: the method's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calib_tokens: Option<u64>,
    /// Tokens per split scored before and after (default: the method's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_tokens: Option<u64>,
}

impl CompressSpec {
    /// Whether it asks for nothing (then the spec serialises without it, as before it existed).
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
            && self.sparsity.is_none()
            && self.calib_tokens.is_none()
            && self.eval_tokens.is_none()
    }

    /// The part of a compression run's key after its model's: the method (`2:4` as `2of4`,
    /// a file name), then each option given here that changes the method's result
    /// (`wanda-s0.3`, `gptq-int4-c8192`, `int8-e4096`), so changed options make new runs.
    pub fn tag(&self, method: Method) -> String {
        let mut t = method.name().replace(':', "of");
        if let Some(s) = self.sparsity
            && method.prunes()
            && method != Method::TwoFour
        {
            t += &format!("-s{s}");
        }
        if let Some(n) = self.calib_tokens
            && method.calibrates()
        {
            t += &format!("-c{n}");
        }
        if let Some(n) = self.eval_tokens {
            t += &format!("-e{n}");
        }
        t
    }

    /// The options of one method's compressions.
    pub fn options(&self, method: Method) -> CompressOptions {
        let mut o = CompressOptions::new(method);
        if let Some(s) = self.sparsity
            && method.prunes()
            && method != Method::TwoFour
        {
            o.sparsity = s;
        }
        if let Some(n) = self.calib_tokens {
            o.calib_tokens = n;
        }
        if let Some(n) = self.eval_tokens {
            o.eval_tokens = n;
        }
        o
    }
}

/// The training text and its tokenizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusSpec {
    /// `default` for the registry corpus, or a file or directory of UTF-8 text (relative
    /// paths are relative to the spec file).
    #[serde(default = "default_source")]
    pub source: String,
    /// `byte` (vocabulary 256) or `bpe`.
    #[serde(default)]
    pub tokenizer: TokenizerName,
    /// BPE vocabulary size.
    #[serde(default)]
    pub vocab: Option<usize>,
    /// Seed of the train/val/test split.
    #[serde(default)]
    pub split_seed: u64,
}

fn default_source() -> String {
    "default".into()
}

impl Default for CorpusSpec {
    fn default() -> Self {
        Self {
            source: default_source(),
            tokenizer: TokenizerName::Byte,
            vocab: None,
            split_seed: 0,
        }
    }
}

/// Which runs a sweep trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Design {
    /// Fixed compute budgets, several model sizes each, D = C / (6·N).
    Isoflop {
        /// Training FLOPs per run, C = 6·N·D.
        budgets: Vec<f64>,
        /// Models per budget, log-spaced around the expected optimum.
        #[serde(default = "default_sizes")]
        sizes: usize,
        /// Expected compute-optimal tokens per parameter, where the sizes are centred
        /// (Hoffmann et al. 2022 found about 20).
        #[serde(default = "default_tpp")]
        tokens_per_param: f64,
        /// The ratio of the largest size to the smallest at each budget.
        #[serde(default = "default_span")]
        span: f64,
    },
    /// Every size at every tokens-per-parameter ratio.
    Grid {
        /// Parameter targets (each snaps to the nearest shape of the ladder's fine family).
        params: Vec<f64>,
        /// Tokens per parameter, D = ratio · N.
        tokens_per_param: Vec<f64>,
    },
}

fn default_sizes() -> usize {
    5
}
fn default_span() -> f64 {
    // Sizes a factor 2 apart at the default 5 per budget: wide enough to bracket a minimum
    // whose place is known within about 2× either way (Hoffmann et al. 2022, Fig. 3, sample
    // about a decade and a half per budget with nine or more sizes).
    16.0
}
fn default_tpp() -> f64 {
    // Hoffmann et al. 2022, Table 3: about 20 tokens per parameter at the optimum.
    20.0
}

/// How runs are trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Training engine: `kernels` (fast CPU) or `candle` (reference, CUDA).
    #[serde(default)]
    pub engine: EngineKind,
    /// `cpu`, `cuda` or `cuda:N`.
    #[serde(default)]
    pub device: Device,
    /// Context length of every model.
    #[serde(default = "default_context")]
    pub context: usize,
    /// One run per seed for every planned shape.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Peak learning rate for every run (default: the ladder's rule).
    #[serde(default)]
    pub lr: Option<f32>,
    /// Tokens per optimizer step (default: the ladder's rule).
    #[serde(default)]
    pub batch_tokens: Option<u64>,
    /// Runs trained side by side (default: the engine's recommendation for the machine).
    #[serde(default)]
    pub parallel_runs: Option<usize>,
    /// Threads per run (default: the engine's recommendation).
    #[serde(default)]
    pub threads_per_run: Option<usize>,
    /// Evaluations along each run (default: the trainer's, log-spaced).
    #[serde(default)]
    pub eval_points: Option<usize>,
    /// Validation tokens scored at each evaluation along the run (default: the trainer's).
    #[serde(default)]
    pub eval_tokens: Option<u64>,
    /// Validation tokens scored at the end of each run (default: the trainer's).
    #[serde(default)]
    pub final_eval_tokens: Option<u64>,
}

fn default_context() -> usize {
    isoflop_train::ladder::CONTEXT
}
fn default_seeds() -> Vec<u64> {
    vec![0]
}

impl Default for TrainSpec {
    fn default() -> Self {
        Self {
            engine: EngineKind::Kernels,
            device: Device::Cpu,
            context: default_context(),
            seeds: default_seeds(),
            lr: None,
            batch_tokens: None,
            parallel_runs: None,
            threads_per_run: None,
            eval_points: None,
            eval_tokens: None,
            final_eval_tokens: None,
        }
    }
}

impl SweepSpec {
    /// Reads and validates a spec file; relative corpus paths become relative to its folder.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        let mut spec = Self::parse(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        for t in &mut spec.finetune.tasks {
            if isoflop_train::task_fetch::builtin(t).is_none() && Path::new(t).is_relative() {
                *t = base.join(&*t).display().to_string();
            }
        }
        if spec.corpus.source != "default" {
            let p = PathBuf::from(&spec.corpus.source);
            if p.is_relative() {
                let base = path.parent().unwrap_or(Path::new("."));
                spec.corpus.source = base.join(p).display().to_string();
            }
        }
        Ok(spec)
    }

    /// Parses and validates spec text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let invalid = |message: String| Error::Spec { origin: origin.to_string(), message };
        let spec: SweepSpec = toml::from_str(text).map_err(|e| Error::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        spec.validate().map_err(invalid)?;
        Ok(spec)
    }

    /// Checks every field; the message names the field and the value.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.name.is_empty()
            || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(format!(
                "name = {:?}: use letters, digits, '.', '_' and '-' only",
                self.name
            ));
        }
        if self.corpus.tokenizer == TokenizerName::Bpe
            && self.corpus.vocab.is_none_or(|v| !(257..=65536).contains(&v))
        {
            return Err("corpus.vocab: a bpe tokenizer needs vocab between 257 and 65536".into());
        }
        let positive = |what: &str, v: f64| -> std::result::Result<(), String> {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{what} = {v}: must be positive and finite"));
            }
            Ok(())
        };
        match &self.design {
            Design::Isoflop { budgets, sizes, tokens_per_param, span } => {
                if budgets.is_empty() {
                    return Err("design.budgets is empty: give at least one compute budget".into());
                }
                for (i, &c) in budgets.iter().enumerate() {
                    positive(&format!("design.budgets[{i}]"), c)?;
                }
                if *sizes < 3 {
                    return Err(format!(
                        "design.sizes = {sizes}: an IsoFLOP profile needs at least 3 sizes per \
                         budget to fit its parabola"
                    ));
                }
                if *sizes > MAX_SIZES {
                    return Err(format!(
                        "design.sizes = {sizes}: at most {MAX_SIZES} per budget (the model \
                         ladder has {} shapes; more sizes snap to the same ones)",
                        isoflop_train::ladder::MAX_RUNG
                    ));
                }
                positive("design.tokens_per_param", *tokens_per_param)?;
                if !(span.is_finite() && *span >= 2.0) {
                    return Err(format!(
                        "design.span = {span}: the largest size must be at least twice the \
                         smallest to show an IsoFLOP minimum"
                    ));
                }
            }
            Design::Grid { params, tokens_per_param } => {
                if params.is_empty() || tokens_per_param.is_empty() {
                    return Err(
                        "design.params and design.tokens_per_param must both be non-empty".into()
                    );
                }
                for (i, &n) in params.iter().enumerate() {
                    positive(&format!("design.params[{i}]"), n)?;
                }
                for (i, &r) in tokens_per_param.iter().enumerate() {
                    positive(&format!("design.tokens_per_param[{i}]"), r)?;
                }
            }
        }
        let t = &self.train;
        t.engine.check_device(t.device).map_err(|e| format!("train.engine: {e}"))?;
        if t.context < 2 || t.context > isoflop_train::MAX_CONTEXT {
            return Err(format!(
                "train.context = {}: must lie in 2..={} (the trainer's attention keeps every \
                 head's T×T probabilities)",
                t.context,
                isoflop_train::MAX_CONTEXT
            ));
        }
        if t.seeds.is_empty() {
            return Err("train.seeds is empty: give at least one seed".into());
        }
        if let Some(lr) = t.lr
            && !(lr.is_finite() && lr > 0.0)
        {
            return Err(format!("train.lr = {lr}: must be positive"));
        }
        if t.parallel_runs == Some(0) || t.threads_per_run == Some(0) {
            return Err("train.parallel_runs and train.threads_per_run must be at least 1".into());
        }
        let c = &self.compress;
        for (i, m) in c.methods.iter().enumerate() {
            if *m == Method::Distill {
                return Err(format!(
                    "compress.methods[{i}] = \"distill\": distillation trains a student of its \
                     own shape and budget; run `isoflop compress --method distill` on a run"
                ));
            }
            if c.methods[..i].contains(m) {
                return Err(format!("compress.methods[{i}] = \"{m}\" is listed twice"));
            }
        }
        if let Some(s) = c.sparsity
            && !(s > 0.0 && s < 1.0)
        {
            return Err(format!("compress.sparsity = {s}: must lie strictly between 0 and 1"));
        }
        if c.calib_tokens == Some(0) || c.eval_tokens == Some(0) {
            return Err("compress.calib_tokens and compress.eval_tokens must be positive".into());
        }
        let ft = &self.finetune;
        if ft.tasks.is_empty() != ft.methods.is_empty() {
            return Err("finetune.tasks and finetune.methods go together: give both".into());
        }
        if !ft.tasks.is_empty() && self.corpus.tokenizer != TokenizerName::Byte {
            return Err("[finetune] reads task text with the byte tokenizer: it needs \
                        corpus.tokenizer = \"byte\""
                .into());
        }
        for (i, m) in ft.methods.iter().enumerate() {
            if ft.methods[..i].contains(m) {
                return Err(format!("finetune.methods[{i}] = \"{m}\" is listed twice"));
            }
        }
        for (i, t) in ft.tasks.iter().enumerate() {
            if t.is_empty() || ft.tasks[..i].contains(t) {
                return Err(format!("finetune.tasks[{i}] = {t:?} is empty or listed twice"));
            }
            if (0..i).any(|j| ft.task_tag(j) == ft.task_tag(i)) {
                return Err(format!(
                    "finetune.tasks[{i}] = {t:?}: another task has the same name in run keys"
                ));
            }
        }
        if ft.epochs == Some(0) {
            return Err("finetune.epochs must be at least 1".into());
        }
        if let Some(n) = t.threads_per_run {
            isoflop_train::check_threads("train.threads_per_run", n).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The vocabulary size the tokenizer gives.
    pub fn vocab(&self) -> usize {
        match self.corpus.tokenizer {
            TokenizerName::Bpe => self.corpus.vocab.unwrap_or(isoflop_train::DEFAULT_BPE_VOCAB),
            TokenizerName::Byte => isoflop_train::ladder::BYTE_VOCAB,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_both_designs() {
        let s = SweepSpec::parse(
            "name = \"q\"\n[design]\nkind = \"isoflop\"\nbudgets = [1e11, 3e11]\n",
            "q.toml",
        )
        .unwrap();
        assert_eq!(s.train.engine, EngineKind::Kernels);
        assert_eq!(s.corpus.source, "default");
        assert!(matches!(s.design, Design::Isoflop { sizes: 5, .. }));
        let g = SweepSpec::parse(
            "name = \"g\"\n[design]\nkind = \"grid\"\nparams = [1e5]\ntokens_per_param = [5, 20]\n",
            "g.toml",
        )
        .unwrap();
        assert!(matches!(g.design, Design::Grid { .. }));
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let e = SweepSpec::parse(
            "name = \"q\"\n[design]\nkind = \"isoflop\"\nbudgets = [-1]\n",
            "x.toml",
        )
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("x.toml") && msg.contains("design.budgets[0] = -1"), "{msg}");
        let e = SweepSpec::parse(
            "name = \"q\"\n[design]\nkind = \"isoflop\"\nbudgets = [1e12]\nsizes = 53333333333\n",
            "x.toml",
        )
        .unwrap_err();
        assert!(format!("{e}").contains("design.sizes = 53333333333: at most 96"), "{e}");
        let e = SweepSpec::parse(
            "name = \"q\"\n[design]\nkind = \"isoflop\"\nbudget = [1]\n",
            "y.toml",
        )
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("y.toml") && msg.contains("line 2") && msg.contains("budget"),
            "{msg}"
        );
        let e = SweepSpec::parse(
            "name = \"a b\"\n[design]\nkind = \"grid\"\nparams=[1]\ntokens_per_param=[1]\n",
            "z",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("name = \"a b\""));
    }
}
