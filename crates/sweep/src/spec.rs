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
    /// Distillation of each budget's teacher into the budget's other models (none without
    /// the section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<DistillSpec>,
}

/// The `[distill]` section: at each compute budget (and seed), the budget's teacher distilled
/// into the shape of every other run of the budget, for that run's own tokens; the run itself
/// is the from-scratch comparison (same shape, tokens, batches and schedule).
///
/// ```toml
/// [distill]
/// teacher = "largest"       # or "best": the budget's lowest-loss run
/// temperature = 2           # default: the method's (2)
/// alpha = 0.5               # weight of the next-token loss; default: the method's (0.5)
/// eval_tokens = 65536       # per split, both students scored on the same windows
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillSpec {
    /// Which run of a budget teaches the others.
    #[serde(default)]
    pub teacher: Teacher,
    /// Soft-target temperature τ (default: isoflop-train's `DEFAULT_TEMPERATURE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Weight α of the next-token loss; the soft loss gets 1 − α (default: `DEFAULT_ALPHA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f32>,
    /// Validation tokens the distilled and scratch students are scored on (default: the
    /// method's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_tokens: Option<u64>,
}

/// The teacher of a budget's students.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Teacher {
    /// The budget's run with the most parameters (known when the sweep is planned).
    #[default]
    Largest,
    /// The budget's run with the lowest validation loss, chosen once all of them finished.
    /// Its own student is then itself: a born-again student (Furlanello et al. 2018) of the
    /// same shape, which keeps the number of runs known when the sweep is planned.
    Best,
}

impl Teacher {
    /// Its name in the spec and in run keys.
    pub fn name(self) -> &'static str {
        match self {
            Teacher::Largest => "largest",
            Teacher::Best => "best",
        }
    }
}

impl DistillSpec {
    /// The part of a distillation run's key after its student's: `distill-<teacher>` and the
    /// options given here (`-t4`, `-a0.3`, `-e4096`), so changed options make new runs.
    pub fn tag(&self) -> String {
        let mut t = format!("distill-{}", self.teacher.name());
        if let Some(x) = self.temperature {
            t += &format!("-t{x}");
        }
        if let Some(a) = self.alpha {
            t += &format!("-a{a}");
        }
        if let Some(n) = self.eval_tokens {
            t += &format!("-e{n}");
        }
        t
    }

    /// The options of its distillations, before the student's shape, tokens and seed.
    pub fn options(&self) -> CompressOptions {
        let mut o = CompressOptions::new(Method::Distill);
        if let Some(x) = self.temperature {
            o.temperature = x;
        }
        if let Some(a) = self.alpha {
            o.alpha = a;
        }
        if let Some(n) = self.eval_tokens {
            o.eval_tokens = n;
        }
        o
    }
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
/// # sparsity = [0.3, 0.5, 0.7]   # or several: one run per sparsity (loss against sparsity)
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressSpec {
    /// The methods, by the names `isoflop compress --method` takes (`distill` needs a student
    /// of its own shape and budget: the `[distill]` section).
    #[serde(default)]
    pub methods: Vec<Method>,
    /// Target sparsity of the pruning methods, or several (default: the method's, 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<Sparsity>,
    /// Calibration tokens of GPTQ and Wanda (default: the method's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calib_tokens: Option<u64>,
    /// Tokens per split scored before and after (default: the method's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_tokens: Option<u64>,
}

/// `[compress] sparsity`: one target (`0.5`) or several (`[0.3, 0.5, 0.7]`, one run of each
/// pruning method per value). One number serialises as one number, so specs written before
/// lists were allowed keep their stored form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Sparsity {
    /// One target.
    One(f64),
    /// Several targets, in the spec's order.
    Many(Vec<f64>),
}

impl Sparsity {
    /// The targets, in the spec's order.
    pub fn values(&self) -> Vec<f64> {
        match self {
            Sparsity::One(s) => vec![*s],
            Sparsity::Many(v) => v.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Sparsity {
    // By hand rather than `untagged`, whose error ("did not match any variant") names neither
    // what was given nor what is expected.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Sparsity;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sparsity (0.5) or a list of them ([0.3, 0.5, 0.7])")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Sparsity, E> {
                Ok(Sparsity::One(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Sparsity, E> {
                Ok(Sparsity::One(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Sparsity, E> {
                Ok(Sparsity::One(v as f64))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Sparsity, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<f64>()? {
                    v.push(s);
                }
                Ok(Sparsity::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// One compression run of each pretrained model: a method and, for a pruning method whose
/// sparsity the spec sets, which of the spec's sparsities (an index into
/// [`CompressSpec::sparsities`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompressVariant {
    /// The method.
    pub method: Method,
    /// Index of its sparsity in `compress.sparsity`; None: the method's own (or it prunes
    /// nothing, or its sparsity is fixed, as 2:4's is).
    pub sparsity: Option<usize>,
}

impl CompressSpec {
    /// Whether it asks for nothing (then the spec serialises without it, as before it existed).
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
            && self.sparsity.is_none()
            && self.calib_tokens.is_none()
            && self.eval_tokens.is_none()
    }

    /// The sparsities given (empty: the methods' own).
    pub fn sparsities(&self) -> Vec<f64> {
        self.sparsity.as_ref().map(Sparsity::values).unwrap_or_default()
    }

    /// Whether `method` takes its sparsity from the spec (magnitude and Wanda; not 2:4, whose
    /// sparsity is fixed at one half).
    fn sets_sparsity(method: Method) -> bool {
        method.prunes() && method != Method::TwoFour
    }

    /// Every compression of one model, in the spec's order: one per method, and one per
    /// sparsity for the pruning methods that take it.
    pub fn variants(&self) -> Vec<CompressVariant> {
        let k = self.sparsities().len();
        let mut out = Vec::new();
        for &method in &self.methods {
            if Self::sets_sparsity(method) && k > 0 {
                out.extend((0..k).map(|i| CompressVariant { method, sparsity: Some(i) }));
            } else {
                out.push(CompressVariant { method, sparsity: None });
            }
        }
        out
    }

    /// The part of a compression run's key after its model's: the method (`2:4` as `2of4`,
    /// a file name), then each option given here that changes the method's result
    /// (`wanda-s0.3`, `gptq-int4-c8192`, `int8-e4096`), so changed options make new runs.
    pub fn tag(&self, v: CompressVariant) -> String {
        let mut t = v.method.name().replace(':', "of");
        if let Some(s) = self.sparsity_of(v) {
            t += &format!("-s{s}");
        }
        if let Some(n) = self.calib_tokens
            && v.method.calibrates()
        {
            t += &format!("-c{n}");
        }
        if let Some(n) = self.eval_tokens {
            t += &format!("-e{n}");
        }
        t
    }

    /// The sparsity the spec sets for a variant, if it sets one.
    pub fn sparsity_of(&self, v: CompressVariant) -> Option<f64> {
        let i = v.sparsity.filter(|_| Self::sets_sparsity(v.method))?;
        self.sparsities().get(i).copied()
    }

    /// The options of one variant's compressions.
    pub fn options(&self, v: CompressVariant) -> CompressOptions {
        let mut o = CompressOptions::new(v.method);
        if let Some(s) = self.sparsity_of(v) {
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
        /// Measure the budgets' points with warm-up-stable-decay schedules (Hägele et al.
        /// 2024): the sizes come from one ladder shared by all budgets, each size trains one
        /// constant-rate trunk, and each of its points is a cooldown branch over the last
        /// `cooldown` of its tokens. A size's points then cost its largest budget's run plus
        /// the cooldowns, so more budgets fit in the same compute. Absent: one cosine run
        /// per point.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cooldown: Option<f64>,
    },
    /// Every size at every tokens-per-parameter ratio.
    Grid {
        /// Parameter targets (each snaps to the nearest shape of the ladder's fine family).
        params: Vec<f64>,
        /// Tokens per parameter, D = ratio · N.
        tokens_per_param: Vec<f64>,
    },
    /// The grid's (N, D) points measured with warm-up-stable-decay schedules (Hägele et al.
    /// 2024): one trunk per size at a constant rate, and for each ratio a cooldown branch from
    /// the trunk's checkpoint at (1 − cooldown)·D that decays over the last `cooldown` of its D
    /// tokens. A size's points cost its longest run plus the cooldowns, not the sum of its runs.
    Wsd {
        /// Parameter targets (each snaps to the nearest shape of the ladder's fine family).
        params: Vec<f64>,
        /// Tokens per parameter of each branch, D = ratio · N.
        tokens_per_param: Vec<f64>,
        /// The share of each branch's tokens spent decaying (Hägele et al. 2024 found 10–20%
        /// matches a cosine run of the same length).
        #[serde(default = "default_cooldown")]
        cooldown: f64,
    },
}

impl Design {
    /// The share of each point's tokens spent decaying when the design measures its points
    /// as WSD cooldown branches (`kind = "wsd"`, or an IsoFLOP design with a `cooldown`);
    /// `None` when every point is its own run.
    pub fn cooldown(&self) -> Option<f64> {
        match self {
            Design::Wsd { cooldown, .. } => Some(*cooldown),
            Design::Isoflop { cooldown, .. } => *cooldown,
            Design::Grid { .. } => None,
        }
    }
}

fn default_cooldown() -> f64 {
    // Hägele et al. 2024, §3: a cooldown of 20% of the steps matches the cosine's loss.
    0.2
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
        // One check of the cooldown for both designs that branch (`kind = "wsd"`, and an
        // IsoFLOP design with a cooldown).
        if let Some(c) = self.design.cooldown()
            && !(c > 0.0 && c < 1.0)
        {
            return Err(format!(
                "design.cooldown = {c}: the share of a branch spent decaying must lie strictly \
                 between 0 and 1 (Hägele et al. 2024 use 0.1 to 0.2)"
            ));
        }
        match &self.design {
            Design::Isoflop { budgets, sizes, tokens_per_param, span, .. } => {
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
            Design::Grid { params, tokens_per_param }
            | Design::Wsd { params, tokens_per_param, .. } => {
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
                     own shape and budget; use the [distill] section"
                ));
            }
            if c.methods[..i].contains(m) {
                return Err(format!("compress.methods[{i}] = \"{m}\" is listed twice"));
            }
        }
        match &c.sparsity {
            Some(Sparsity::One(s)) if !(*s > 0.0 && *s < 1.0) => {
                return Err(format!("compress.sparsity = {s}: must lie strictly between 0 and 1"));
            }
            Some(Sparsity::Many(v)) if v.is_empty() => {
                return Err("compress.sparsity = []: give at least one sparsity".into());
            }
            Some(Sparsity::Many(v)) => {
                for (i, s) in v.iter().enumerate() {
                    if !(*s > 0.0 && *s < 1.0) {
                        return Err(format!(
                            "compress.sparsity[{i}] = {s}: must lie strictly between 0 and 1"
                        ));
                    }
                    if v[..i].contains(s) {
                        return Err(format!("compress.sparsity[{i}] = {s} is listed twice"));
                    }
                }
            }
            _ => {}
        }
        if c.calib_tokens == Some(0) || c.eval_tokens == Some(0) {
            return Err("compress.calib_tokens and compress.eval_tokens must be positive".into());
        }
        if let Some(d) = &self.distill {
            if !matches!(self.design, Design::Isoflop { .. }) {
                return Err("[distill] teaches the runs of one compute budget with the budget's \
                            teacher: it needs design.kind = \"isoflop\""
                    .into());
            }
            if let Some(x) = d.temperature
                && !(x.is_finite() && x > 0.0)
            {
                return Err(format!("distill.temperature = {x}: must be positive and finite"));
            }
            if let Some(a) = d.alpha
                && !(0.0..=1.0).contains(&a)
            {
                return Err(format!("distill.alpha = {a}: must lie in [0, 1]"));
            }
            if d.eval_tokens == Some(0) {
                return Err("distill.eval_tokens must be positive".into());
            }
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

    fn with_compress(section: &str) -> std::result::Result<SweepSpec, String> {
        let text = format!(
            "name = \"q\"\n[design]\nkind = \"isoflop\"\nbudgets = [1e12]\nsizes = 3\n\
             [compress]\n{section}\n"
        );
        SweepSpec::parse(&text, "c.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn sparsity_is_one_number_or_a_list() {
        // One number: the runs and their tags as before lists were allowed, and it stores as
        // one number.
        let one =
            with_compress("methods = [\"wanda\", \"2:4\", \"int8\"]\nsparsity = 0.3").unwrap();
        let c = &one.compress;
        assert_eq!(c.sparsity, Some(Sparsity::One(0.3)));
        let tags: Vec<String> = c.variants().into_iter().map(|v| c.tag(v)).collect();
        assert_eq!(tags, ["wanda-s0.3", "2of4", "int8"]);
        assert_eq!(serde_json::to_value(c).unwrap()["sparsity"], 0.3);
        // A list: one run per sparsity for each method that takes one; 2:4's is fixed.
        let many = with_compress(
            "methods = [\"magnitude\", \"2:4\", \"wanda\"]\nsparsity = [0.3, 0.5, 0.7]",
        )
        .unwrap();
        let c = &many.compress;
        let tags: Vec<String> = c.variants().into_iter().map(|v| c.tag(v)).collect();
        assert_eq!(
            tags,
            [
                "magnitude-s0.3",
                "magnitude-s0.5",
                "magnitude-s0.7",
                "2of4",
                "wanda-s0.3",
                "wanda-s0.5",
                "wanda-s0.7"
            ]
        );
        let opts: Vec<f64> = c.variants().into_iter().map(|v| c.options(v).sparsity).collect();
        assert_eq!(opts, [0.3, 0.5, 0.7, 0.5, 0.3, 0.5, 0.7]);
    }

    #[test]
    fn bad_sparsities_name_their_position() {
        for (section, want) in [
            ("sparsity = 1.5", "compress.sparsity = 1.5: must lie strictly between 0 and 1"),
            ("sparsity = 0", "compress.sparsity = 0: must lie strictly between 0 and 1"),
            (
                "sparsity = [0.3, 1.0]",
                "compress.sparsity[1] = 1: must lie strictly between 0 and 1",
            ),
            ("sparsity = [-0.1]", "compress.sparsity[0] = -0.1: must lie strictly between 0 and 1"),
            ("sparsity = [0.3, 0.5, 0.3]", "compress.sparsity[2] = 0.3 is listed twice"),
            ("sparsity = []", "compress.sparsity = []: give at least one sparsity"),
            ("sparsity = \"half\"", "a sparsity (0.5) or a list of them"),
            ("sparsity = [\"half\"]", "invalid type"),
        ] {
            let e = with_compress(&format!("methods = [\"wanda\"]\n{section}")).unwrap_err();
            assert!(e.contains("c.toml") && e.contains(want), "{section}: {e}");
        }
    }

    #[test]
    fn distill_section_defaults_and_errors() {
        let base = "name = \"q\"\n[design]\nkind = \"isoflop\"\nbudgets = [1e12]\nsizes = 3\n";
        let none = SweepSpec::parse(base, "d.toml").unwrap();
        assert_eq!(none.distill, None);
        assert!(serde_json::to_value(&none).unwrap().get("distill").is_none());
        let d = SweepSpec::parse(&format!("{base}[distill]\n"), "d.toml").unwrap().distill.unwrap();
        assert_eq!((d.teacher, d.tag()), (Teacher::Largest, "distill-largest".to_string()));
        let o = d.options();
        assert_eq!((o.temperature, o.alpha), (2.0, 0.5));
        let d = SweepSpec::parse(
            &format!("{base}[distill]\nteacher = \"best\"\ntemperature = 4\neval_tokens = 4096\n"),
            "d.toml",
        )
        .unwrap()
        .distill
        .unwrap();
        assert_eq!(d.tag(), "distill-best-t4-e4096");
        assert_eq!(d.options().temperature, 4.0);
        for (section, want) in [
            ("temperature = 0", "distill.temperature = 0: must be positive"),
            ("alpha = 1.5", "distill.alpha = 1.5: must lie in [0, 1]"),
            ("teacher = \"tallest\"", "unknown variant `tallest`"),
            ("eval_tokens = 0", "distill.eval_tokens must be positive"),
        ] {
            let e =
                SweepSpec::parse(&format!("{base}[distill]\n{section}\n"), "d.toml").unwrap_err();
            assert!(e.to_string().contains(want), "{section}: {e}");
        }
        let grid = "name = \"g\"\n[design]\nkind = \"grid\"\nparams = [1e5]\ntokens_per_param = [5]\n[distill]\n";
        let e = SweepSpec::parse(grid, "g.toml").unwrap_err().to_string();
        assert!(e.contains("[distill]") && e.contains("design.kind = \"isoflop\""), "{e}");
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
