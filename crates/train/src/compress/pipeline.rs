//! One compression, end to end: load, calibrate, compress, recover, save packed, evaluate.
//!
//! [`compress`] takes a trained model's weights and its dataset and:
//! 1. scores the original on fixed windows of the validation and OOD splits (the same windows
//!    the compressed model is scored on, so the delta is paired);
//! 2. compresses the block linear weights ([`is_compressed_weight`]) by the [`Method`], with
//!    calibration windows drawn from the **train** split for GPTQ, Wanda and 2:4, block by
//!    block (block `l` calibrated with blocks `< l` already compressed);
//! 3. optionally trains the surviving weights of a pruned model for `recover_tokens` with the
//!    mask re-applied after every step, so pruned weights stay exactly zero;
//! 4. writes the packed file atomically ([`super::pack`]), reads it back and scores that: the
//!    loss reported is the loss of the file's weights.
//!
//! `distill` instead trains a new student shape on the teacher's soft targets and, beside it,
//! the same student from scratch with the same tokens, seed, batches and schedule.

use super::distill::{DEFAULT_ALPHA, DEFAULT_TEMPERATURE};
use super::gptq::{DEFAULT_DAMP, GptqOptions, InputStats, gptq};
use super::pack::{CompressedModel, CompressedTensor, Stored, matrix_dims};
use super::prune::{apply_mask, check_sparsity, magnitude_mask, n_m_mask};
use super::quantize::{Scheme, quantize_rtn};
use super::wanda::wanda_mask;
use crate::dataset::{Dataset, TokenSplit};
use crate::kernels::matmul::Par;
use crate::kernels::{KernelEngine, LinearSite};
use crate::{AdamW, Engine, Error, GptConfig, LrSchedule, NamedTensor, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Default calibration tokens: 128 windows of 128 tokens (GPTQ and Wanda use 128 windows, of
/// 2048 tokens, from C4; isoflop's context is 128).
pub const DEFAULT_CALIB_TOKENS: u64 = 16_384;
/// Default tokens per split scored for the losses.
pub const DEFAULT_EVAL_TOKENS: u64 = 65_536;
/// Group size of int4/int3 when none is given (GPTQ's and AWQ's default,
/// [`isoflop_cost::DEFAULT_GROUP_SIZE`]).
pub const DEFAULT_GROUP_SIZE: usize = isoflop_cost::DEFAULT_GROUP_SIZE as usize;
/// Recovery training's peak learning rate as a fraction of the ladder's rule for the width: a
/// fine-tuning rate, small enough not to undo the pretrained weights.
pub const RECOVER_LR_FRACTION: f32 = 0.1;
/// Windows per forward pass in calibration and evaluation.
const ROWS: usize = 16;
/// The stream of the calibration and recovery sampler (the trainer's streams are step numbers).
const CALIB_STREAM: u64 = 0x636f_6d70_7265_7373;

/// A compression method; the names are the command line's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Round-to-nearest, 8 bits, per output channel.
    Int8,
    /// Round-to-nearest, 4 bits, group-wise.
    Int4,
    /// Round-to-nearest, 3 bits, group-wise.
    Int3,
    /// GPTQ, 4 bits.
    GptqInt4,
    /// GPTQ, 3 bits.
    GptqInt3,
    /// Unstructured magnitude pruning.
    Magnitude,
    /// Wanda pruning.
    Wanda,
    /// 2:4 semi-structured pruning (Wanda's score).
    TwoFour,
    /// Distillation into a student shape.
    Distill,
}

impl Method {
    /// Every method, in the order of the docs.
    pub const ALL: [Method; 9] = [
        Self::Int8,
        Self::Int4,
        Self::Int3,
        Self::GptqInt4,
        Self::GptqInt3,
        Self::Magnitude,
        Self::Wanda,
        Self::TwoFour,
        Self::Distill,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Int8 => "int8",
            Self::Int4 => "int4",
            Self::Int3 => "int3",
            Self::GptqInt4 => "gptq-int4",
            Self::GptqInt3 => "gptq-int3",
            Self::Magnitude => "magnitude",
            Self::Wanda => "wanda",
            Self::TwoFour => "2:4",
            Self::Distill => "distill",
        }
    }

    /// Bits of a quantization method.
    pub fn bits(self) -> Option<u32> {
        match self {
            Self::Int8 => Some(8),
            Self::Int4 | Self::GptqInt4 => Some(4),
            Self::Int3 | Self::GptqInt3 => Some(3),
            _ => None,
        }
    }

    /// Whether it prunes.
    pub fn prunes(self) -> bool {
        matches!(self, Self::Magnitude | Self::Wanda | Self::TwoFour)
    }

    /// Whether it reads calibration inputs.
    pub fn calibrates(self) -> bool {
        matches!(self, Self::GptqInt4 | Self::GptqInt3 | Self::Wanda | Self::TwoFour)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|m| m.name()).collect();
            Error::InvalidCompress(format!(
                "unknown method `{s}`: expected one of {}",
                names.join(", ")
            ))
        })
    }
}

impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Everything that determines a compression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompressOptions {
    /// The method.
    pub method: Method,
    /// Columns per scale group (None: per output channel for int8, [`DEFAULT_GROUP_SIZE`] for
    /// int4 and int3).
    pub group_size: Option<usize>,
    /// Zero points per group.
    pub asymmetric: bool,
    /// Target sparsity of the pruning methods (2:4 is always 0.5).
    pub sparsity: f64,
    /// Tokens of recovery training after pruning (0: none).
    pub recover_tokens: u64,
    /// The student's shape (distill).
    pub student: Option<GptConfig>,
    /// The students' token budget (distill).
    pub tokens: Option<u64>,
    /// Calibration tokens from the train split.
    pub calib_tokens: u64,
    /// GPTQ's relative dampening.
    pub damp: f64,
    /// GPTQ's act-order.
    pub act_order: bool,
    /// Distillation temperature.
    pub temperature: f32,
    /// Distillation's weight of the next-token loss.
    pub alpha: f32,
    /// Tokens per split scored.
    pub eval_tokens: u64,
    /// Seeds calibration windows, recovery batches and students.
    pub seed: u64,
    /// Compute threads (0: one per physical core).
    pub threads: usize,
}

impl CompressOptions {
    /// The defaults for a method.
    pub fn new(method: Method) -> Self {
        Self {
            method,
            group_size: None,
            asymmetric: false,
            sparsity: 0.5,
            recover_tokens: 0,
            student: None,
            tokens: None,
            calib_tokens: DEFAULT_CALIB_TOKENS,
            damp: DEFAULT_DAMP,
            act_order: false,
            temperature: DEFAULT_TEMPERATURE,
            alpha: DEFAULT_ALPHA,
            eval_tokens: DEFAULT_EVAL_TOKENS,
            seed: 0,
            threads: 0,
        }
    }

    /// The quantization scheme of a quantization method.
    pub fn scheme(&self) -> Option<Scheme> {
        let bits = self.method.bits()?;
        let group_size = match (self.group_size, bits) {
            (Some(g), _) => Some(g),
            (None, 8) => None,
            (None, _) => Some(DEFAULT_GROUP_SIZE),
        };
        Some(Scheme { bits, group_size, asymmetric: self.asymmetric })
    }

    /// The sparsity the method will reach on the compressed weights.
    pub fn target_sparsity(&self) -> f64 {
        match self.method {
            Method::TwoFour => 0.5,
            m if m.prunes() => self.sparsity,
            _ => 0.0,
        }
    }

    /// Checks the options against each other and the teacher's shape.
    pub fn validate(&self, model: &GptConfig) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidCompress(m));
        if let Some(s) = self.scheme() {
            s.validate()?;
        } else if self.group_size.is_some() || self.asymmetric {
            return bad(format!(
                "--group-size and --asymmetric apply to quantization, not {}",
                self.method
            ));
        }
        if self.method.prunes() {
            check_sparsity(self.sparsity)?;
        } else if self.recover_tokens > 0 {
            return bad(format!("recovery training applies to pruning, not {}", self.method));
        }
        if self.method == Method::Distill {
            let Some(st) = self.student else { return bad("distill needs a student shape".into()) };
            if st.vocab != model.vocab || st.context != model.context {
                return bad(format!(
                    "the student's vocabulary and context ({}, {}) must be the teacher's ({}, {})",
                    st.vocab, st.context, model.vocab, model.context
                ));
            }
            match self.tokens {
                Some(t) if t >= model.context as u64 => {}
                _ => {
                    return bad(format!(
                        "distill needs a token budget of at least one row ({})",
                        model.context
                    ));
                }
            }
            super::distill::check(self.temperature, self.alpha)?;
        } else if self.student.is_some() || self.tokens.is_some() {
            return bad(format!("a student and its tokens apply to distill, not {}", self.method));
        }
        if self.method.calibrates() && self.calib_tokens == 0 {
            return bad("calibration needs at least one token".into());
        }
        if self.eval_tokens == 0 {
            return bad("evaluation needs at least one token".into());
        }
        if !(self.damp.is_finite() && self.damp >= 0.0) {
            return bad(format!("dampening {} must be ≥ 0", self.damp));
        }
        Ok(())
    }
}

/// A model to compress.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its shape.
    pub model: GptConfig,
    /// Its f32 weights.
    pub weights: Vec<NamedTensor>,
    /// Where it came from (a run key or a path), for the report.
    pub label: String,
}

/// The from-scratch student of a distillation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScratchStudent {
    /// Validation loss.
    pub loss: f64,
    /// OOD loss.
    pub ood_loss: Option<f64>,
    /// Seconds of training (0 when it was trained elsewhere: `source`).
    pub train_seconds: f64,
    /// The run it was trained by, when not trained beside the distilled student here (a
    /// sweep's own pretraining run of the student's shape and tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What a compression measured; `compress --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompressReport {
    /// Method name.
    pub method: Method,
    /// The compressed model's source.
    pub source: String,
    /// Validation loss of the original, nats/token.
    pub loss_original: f64,
    /// Validation loss of the compressed model (the student, for distill).
    pub loss: f64,
    /// `loss − loss_original`.
    pub loss_delta: f64,
    /// OOD loss of the original.
    pub ood_loss_original: Option<f64>,
    /// OOD loss of the compressed model.
    pub ood_loss: Option<f64>,
    /// `ood_loss − ood_loss_original`.
    pub ood_loss_delta: Option<f64>,
    /// The original weights as an f32 safetensors file, bytes.
    pub bytes_original: u64,
    /// The packed file, bytes.
    pub bytes: u64,
    /// `8·bytes / params`: everything in the file, scales, masks and f32 tensors included.
    pub bits_per_param: f64,
    /// Bits per weight of the compressed matrices alone (codes, scales and zero points, or
    /// mask and values); None for distill.
    pub compressed_bits_per_weight: Option<f64>,
    /// Parameters of the compressed model.
    pub params: u64,
    /// Of which in compressed matrices.
    pub compressed_params: u64,
    /// Fraction of the compressed matrices' weights that are pruned (0 unless pruning).
    pub sparsity: f64,
    /// The quantization scheme.
    pub scheme: Option<Scheme>,
    /// The resolved options.
    pub options: CompressOptions,
    /// Seconds recording calibration inputs (forward passes and `XᵀX`).
    pub calibration_seconds: f64,
    /// Seconds quantizing or pruning (or training students, for distill).
    pub compress_seconds: f64,
    /// Seconds of recovery training.
    pub recover_seconds: f64,
    /// Seconds scoring the original and the compressed model.
    pub eval_seconds: f64,
    /// Seconds in all.
    pub wall_seconds: f64,
    /// How evaluation used the packed weights.
    pub evaluation: String,
    /// The teacher's shape (distill).
    pub teacher: Option<GptConfig>,
    /// The same student trained from scratch (distill).
    pub scratch: Option<ScratchStudent>,
    /// The packed file.
    pub path: PathBuf,
}

/// Whether a state-dict name is one of the block linear weights that compression touches.
pub fn is_compressed_weight(name: &str) -> bool {
    name.starts_with("h.")
        && ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// Windows of `seq + 1` tokens at random offsets of `split` (ChaCha8 on its own stream).
fn sample(
    split: &TokenSplit,
    rng: &mut ChaCha8Rng,
    rows: usize,
    seq: usize,
) -> (Vec<u32>, Vec<u32>) {
    let (mut x, mut y, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rows {
        let start = rng.gen_range(0..split.len() - seq);
        w.clear();
        split.extend_window(start, seq + 1, &mut w);
        x.extend_from_slice(&w[..seq]);
        y.extend_from_slice(&w[1..]);
    }
    (x, y)
}

/// Validation and OOD loss on the first windows of each split.
fn score(engine: &mut KernelEngine, data: &Dataset, tokens: u64) -> Result<(f64, Option<f64>)> {
    let seq = engine.config().context;
    let val = crate::trainer::evaluate(engine, &data.val, seq, ROWS, tokens)?;
    let ood = match &data.ood {
        Some(o) => Some(f64::from(crate::trainer::evaluate(engine, o, seq, ROWS, tokens)?)),
        None => None,
    };
    Ok((f64::from(val), ood))
}

fn engine_with(model: GptConfig, weights: &[NamedTensor], threads: usize) -> Result<KernelEngine> {
    let mut e = KernelEngine::new(model, 0, threads)?;
    e.set_weights(weights)?;
    Ok(e)
}

fn find<'a>(weights: &'a mut [NamedTensor], name: &str) -> &'a mut NamedTensor {
    weights.iter_mut().find(|t| t.name == name).expect("every block weight is in param_shapes")
}

/// Compresses `source` as `opts` says, writes the packed file to `out` and measures it.
/// `say` hears progress lines.
pub fn compress(
    source: &Source,
    data: &Dataset,
    opts: &CompressOptions,
    out: &Path,
    say: &mut dyn FnMut(String),
) -> Result<CompressReport> {
    run(source, data, opts, out, None, say)
}

/// A distillation's scratch student given rather than trained, the config it was trained
/// by, and the flag that stops the distilled student's training.
#[derive(Clone, Copy)]
struct Beside<'a> {
    scratch: &'a Source,
    cfg: &'a crate::TrainConfig,
    stop: &'a AtomicBool,
}

/// [`compress`], with a distillation's scratch student given (`beside`) rather than trained.
fn run(
    source: &Source,
    data: &Dataset,
    opts: &CompressOptions,
    out: &Path,
    beside: Option<Beside<'_>>,
    say: &mut dyn FnMut(String),
) -> Result<CompressReport> {
    let started = Instant::now();
    opts.validate(&source.model)?;
    let model = source.model;
    if data.meta.vocab > model.vocab {
        return Err(Error::InvalidCompress(format!(
            "the dataset's vocabulary ({}) exceeds the model's ({}): not the data it was trained on",
            data.meta.vocab, model.vocab
        )));
    }
    if data.train.len() <= model.context + 1 {
        return Err(Error::InvalidCompress(format!(
            "the train split has {} tokens, fewer than one window of {}",
            data.train.len(),
            model.context + 1
        )));
    }
    let threads = crate::resolve_threads("threads", opts.threads)?;
    let mut engine = engine_with(model, &source.weights, threads)?;
    let t = Instant::now();
    let (loss_original, ood_original) = score(&mut engine, data, opts.eval_tokens)?;
    let mut eval_seconds = t.elapsed().as_secs_f64();
    say(format!("original: val loss {loss_original:.4}"));
    if opts.method == Method::Distill {
        return distill_run(
            source,
            data,
            opts,
            out,
            engine,
            (loss_original, ood_original),
            started,
            beside,
            say,
        );
    }

    let mut weights = source.weights.clone();
    let mut stored: HashMap<String, Stored> = HashMap::new();
    let mut masks: HashMap<String, Vec<bool>> = HashMap::new();
    let (mut calibration_seconds, mut compress_seconds) = (0.0, 0.0);
    let scheme = opts.scheme();
    let gptq_opts = GptqOptions { damp: opts.damp, act_order: opts.act_order };
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    rng.set_stream(CALIB_STREAM);
    let seq = model.context;
    let windows = (opts.calib_tokens as usize).div_ceil(seq).max(1);
    let calib: Vec<(Vec<u32>, Vec<u32>)> = if opts.method.calibrates() {
        (0..windows)
            .step_by(ROWS)
            .map(|i| sample(&data.train, &mut rng, ROWS.min(windows - i), seq))
            .collect()
    } else {
        Vec::new()
    };
    for layer in 0..model.n_layer {
        let mut stats: Option<Vec<InputStats>> = None;
        if opts.method.calibrates() {
            let t = Instant::now();
            engine.set_weights(&weights)?;
            let full = scheme.is_some();
            let d = model.d_model;
            let mut s: Vec<InputStats> =
                [d, d, d, 4 * d].iter().map(|&dim| InputStats::new(dim, full)).collect();
            for (x, _) in &calib {
                engine.linear_inputs(x, x.len() / seq, seq, &mut |l, site, xs| {
                    if l == layer {
                        let i = LinearSite::ALL.iter().position(|s| *s == site).expect("a site");
                        s[i].add(xs, Par::Threads(threads));
                    }
                })?;
            }
            calibration_seconds += t.elapsed().as_secs_f64();
            stats = Some(s);
        }
        let t = Instant::now();
        for (i, site) in LinearSite::ALL.iter().enumerate() {
            let name = site.weight_name(layer);
            let tensor = find(&mut weights, &name);
            let (rows, cols) = matrix_dims(&tensor.shape);
            let st = stats.as_ref().map(|s| &s[i]);
            if let Some(scheme) = scheme {
                let q = match st {
                    // On the engine's threads, not rayon's process-wide pool.
                    Some(st) => engine.install(|| {
                        gptq(&tensor.data, rows, cols, &st.hessian(), scheme, gptq_opts)
                    })?,
                    None => quantize_rtn(&tensor.data, rows, cols, scheme)?,
                };
                tensor.data = q.dequantize();
                stored.insert(name, Stored::Int(q));
            } else {
                let mask = match (opts.method, st) {
                    (Method::Magnitude, _) => magnitude_mask(&tensor.data, opts.sparsity)?,
                    (Method::Wanda, Some(st)) => {
                        wanda_mask(&tensor.data, cols, &st.column_norms(), opts.sparsity, None)?
                    }
                    (Method::TwoFour, Some(st)) => {
                        wanda_mask(&tensor.data, cols, &st.column_norms(), 0.5, Some((2, 4)))?
                    }
                    (Method::TwoFour, None) => {
                        let sc: Vec<f32> = tensor.data.iter().map(|x| x.abs()).collect();
                        n_m_mask(&sc, cols, 2, 4)?
                    }
                    (m, _) => unreachable!("{m} is not a pruning method"),
                };
                apply_mask(&mut tensor.data, &mask);
                masks.insert(name, mask);
            }
        }
        compress_seconds += t.elapsed().as_secs_f64();
        say(format!("block {} of {} compressed", layer + 1, model.n_layer));
    }

    let mut recover_seconds = 0.0;
    if opts.recover_tokens > 0 {
        let t = Instant::now();
        recover(&mut weights, &masks, data, opts, model, threads, say)?;
        recover_seconds = t.elapsed().as_secs_f64();
    }
    for (name, mask) in masks {
        let t = find(&mut weights, &name);
        let values = t.data.iter().zip(&mask).filter(|p| *p.1).map(|p| *p.0).collect();
        stored.insert(name, Stored::Sparse { mask, values });
    }

    let packed = CompressedModel {
        model,
        tensors: weights
            .iter()
            .map(|t| CompressedTensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                stored: stored.remove(&t.name).unwrap_or_else(|| Stored::Dense(t.data.clone())),
            })
            .collect(),
        info: serde_json::json!({
            "method": opts.method.name(),
            "source": source.label,
            "options": opts,
        }),
    };
    let original = dense(model, &source.weights)?;
    let bytes = packed.save(out)?;
    let (compressed_params, compressed_bytes, zeros) = packed_sizes(&packed)?;

    // Score what the file holds, read back from disk.
    let t = Instant::now();
    let loaded = super::pack::load(out)?;
    engine.set_weights(&loaded.weights())?;
    let (loss, ood_loss) = score(&mut engine, data, opts.eval_tokens)?;
    eval_seconds += t.elapsed().as_secs_f64();
    let params = model.shape().params().total;
    Ok(CompressReport {
        method: opts.method,
        source: source.label.clone(),
        loss_original,
        loss,
        loss_delta: loss - loss_original,
        ood_loss_original: ood_original,
        ood_loss,
        ood_loss_delta: ood_loss.zip(ood_original).map(|(a, b)| a - b),
        bytes_original: original,
        bytes,
        bits_per_param: 8.0 * bytes as f64 / params as f64,
        compressed_bits_per_weight: Some(8.0 * compressed_bytes as f64 / compressed_params as f64),
        params,
        compressed_params,
        // Pruned weights only: the zeros a quantization grid rounds to are not sparsity.
        sparsity: if opts.method.prunes() { zeros as f64 / compressed_params as f64 } else { 0.0 },
        scheme,
        options: opts.clone(),
        calibration_seconds,
        compress_seconds,
        recover_seconds,
        eval_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
        evaluation: EVALUATION.into(),
        teacher: None,
        scratch: None,
        path: out.to_path_buf(),
    })
}

/// How evaluation uses the packed weights, in the report.
pub const EVALUATION: &str =
    "dequantized on load: the f32 kernels engine scores the file's weights (no integer kernels)";

/// Bytes of the weights stored densely in f32 (what the original costs).
fn dense(model: GptConfig, weights: &[NamedTensor]) -> Result<u64> {
    let m = CompressedModel {
        model,
        tensors: weights
            .iter()
            .map(|t| CompressedTensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                stored: Stored::Dense(t.data.clone()),
            })
            .collect(),
        info: serde_json::json!({"method": "none"}),
    };
    Ok(m.to_bytes()?.len() as u64)
}

/// (weights in compressed matrices, their bytes in the file, zeros among them).
fn packed_sizes(m: &CompressedModel) -> Result<(u64, u64, u64)> {
    let (mut n, mut bytes, mut zeros) = (0u64, 0u64, 0u64);
    for t in m.tensors.iter().filter(|t| is_compressed_weight(&t.name)) {
        let count: usize = t.shape.iter().product();
        n += count as u64;
        match &t.stored {
            Stored::Int(q) => {
                let groups = (q.rows * q.scheme.groups(q.cols)) as u64;
                let b = q.scheme.bits;
                bytes += super::bits::packed_len(count, b) as u64 + 2 * groups;
                if q.scheme.asymmetric {
                    bytes += super::bits::packed_len(groups as usize, b) as u64;
                }
                zeros += q.dequantize().iter().filter(|x| **x == 0.0).count() as u64;
            }
            Stored::Sparse { mask, values } => {
                bytes += super::bits::packed_len(count, 1) as u64 + 4 * values.len() as u64;
                zeros += mask.iter().filter(|k| !**k).count() as u64;
            }
            Stored::Dense(v) => {
                bytes += 4 * count as u64;
                zeros += v.iter().filter(|x| **x == 0.0).count() as u64;
            }
        }
    }
    Ok((n.max(1), bytes, zeros))
}

/// Trains the surviving weights for `opts.recover_tokens` with every mask re-applied after
/// each step.
fn recover(
    weights: &mut Vec<NamedTensor>,
    masks: &HashMap<String, Vec<bool>>,
    data: &Dataset,
    opts: &CompressOptions,
    model: GptConfig,
    threads: usize,
    say: &mut dyn FnMut(String),
) -> Result<()> {
    let seq = model.context;
    let batch_tokens = crate::default_batch_tokens(opts.recover_tokens, seq)
        .min(opts.recover_tokens.max(seq as u64));
    let rows = (batch_tokens as usize / seq).max(1);
    let steps = (opts.recover_tokens / (rows * seq) as u64).max(1);
    let schedule = LrSchedule {
        peak: RECOVER_LR_FRACTION * crate::default_lr(&model),
        warmup_steps: crate::default_warmup_steps(steps),
        total_steps: steps,
        final_ratio: crate::FINAL_LR_RATIO,
        shape: crate::ScheduleShape::Cosine,
    };
    let mut engine = engine_with(model, weights, threads)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed.wrapping_add(1));
    rng.set_stream(CALIB_STREAM);
    for step in 0..steps {
        let (x, y) = sample(&data.train, &mut rng, rows, seq);
        engine.forward_backward(&x, &y, rows, seq)?;
        engine.step(&AdamW { lr: schedule.lr(step), weight_decay: 0.0, ..AdamW::default() })?;
        let mut w = engine.weights()?;
        for t in w.iter_mut() {
            if let Some(m) = masks.get(&t.name) {
                apply_mask(&mut t.data, m);
            }
        }
        engine.set_weights(&w)?;
        if (step + 1) % 20 == 0 || step + 1 == steps {
            say(format!("recovery step {} of {steps}", step + 1));
        }
    }
    *weights = engine.weights()?;
    Ok(())
}

/// Trains a student as `cfg` says (its shape, tokens, seed, batch and schedule), on the
/// teacher's soft targets or (`teacher` None) from scratch; returns its engine and training
/// seconds. A set `stop` ends it between steps with [`Error::Stopped`].
fn train_student(
    data: &Dataset,
    opts: &CompressOptions,
    cfg: &crate::TrainConfig,
    mut teacher: Option<&mut KernelEngine>,
    threads: usize,
    stop: Option<&AtomicBool>,
    say: &mut dyn FnMut(String),
) -> Result<(KernelEngine, f64)> {
    let (rows, seq, steps) = (cfg.rows(), cfg.seq, cfg.steps());
    let schedule = cfg.schedule();
    let mut engine = KernelEngine::new(cfg.model, cfg.seed, threads)?;
    let t = Instant::now();
    let label = if teacher.is_some() { "distilled" } else { "scratch" };
    for step in 0..steps {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(Error::Stopped(format!("{label} student at step {step} of {steps}")));
        }
        // The trainer's data order: ChaCha8(seed) on stream `step`, for both students.
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(step);
        let (x, y) = sample(&data.train, &mut rng, rows, seq);
        match teacher.as_deref_mut() {
            Some(te) => {
                let logits = te.logits(&x, rows, seq)?;
                engine.distill_forward_backward(
                    &x,
                    &y,
                    &logits,
                    rows,
                    seq,
                    opts.temperature,
                    opts.alpha,
                )?;
            }
            None => {
                engine.forward_backward(&x, &y, rows, seq)?;
            }
        }
        engine.step(&AdamW { lr: schedule.lr(step), ..cfg.adamw })?;
        if (step + 1) % 25 == 0 || step + 1 == steps {
            say(format!("{label} student: step {} of {steps}", step + 1));
        }
    }
    Ok((engine, t.elapsed().as_secs_f64()))
}

/// Distils `teacher` into the shape of `scratch`, a model of that shape already trained
/// from scratch as `cfg` says (a sweep's own pretraining run), instead of training a second
/// student here: the distilled student is trained as `cfg` says too (shape, tokens, seed, so
/// its initial weights and batches, batch size and schedule), and both are scored on the same
/// windows. `opts` gives the temperature, α, evaluation tokens and threads; its student and
/// tokens must be `cfg`'s. The report's `scratch` names `scratch.label`. A set `stop` ends the
/// training between steps with [`Error::Stopped`], nothing written.
#[allow(clippy::too_many_arguments)]
pub fn distill_beside(
    teacher: &Source,
    scratch: &Source,
    cfg: &crate::TrainConfig,
    data: &Dataset,
    opts: &CompressOptions,
    out: &Path,
    stop: &AtomicBool,
    say: &mut dyn FnMut(String),
) -> Result<CompressReport> {
    if opts.method != Method::Distill
        || opts.student != Some(cfg.model)
        || opts.tokens != Some(cfg.tokens)
        || scratch.model != cfg.model
    {
        return Err(Error::InvalidCompress(format!(
            "distilling beside {}: the options' student and tokens and the scratch model's \
             shape must be its training config's ({:?}, {} tokens)",
            scratch.label, cfg.model, cfg.tokens
        )));
    }
    run(teacher, data, opts, out, Some(Beside { scratch, cfg, stop }), say)
}

#[allow(clippy::too_many_arguments)]
fn distill_run(
    source: &Source,
    data: &Dataset,
    opts: &CompressOptions,
    out: &Path,
    mut teacher: KernelEngine,
    (loss_original, ood_original): (f64, Option<f64>),
    started: Instant,
    beside: Option<Beside<'_>>,
    say: &mut dyn FnMut(String),
) -> Result<CompressReport> {
    let threads = crate::resolve_threads("threads", opts.threads)?;
    let student = opts.student.expect("validated");
    let own;
    let cfg = match beside {
        Some(b) => b.cfg,
        None => {
            let mut c = crate::TrainConfig::new(student, opts.tokens.expect("validated"))?;
            c.seed = opts.seed;
            own = c;
            &own
        }
    };
    let (mut distilled, distill_secs) =
        train_student(data, opts, cfg, Some(&mut teacher), threads, beside.map(|b| b.stop), say)?;
    let (mut scratch, scratch_secs, scratch_source) = match beside {
        Some(b) => {
            let s = b.scratch;
            (engine_with(s.model, &s.weights, threads)?, 0.0, Some(s.label.clone()))
        }
        None => {
            let (e, secs) = train_student(data, opts, cfg, None, threads, None, say)?;
            (e, secs, None)
        }
    };
    let weights = distilled.weights()?;
    let info = serde_json::json!({"method": "distill", "source": source.label, "options": opts});
    let packed = CompressedModel {
        model: student,
        tensors: weights
            .iter()
            .map(|t| CompressedTensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                stored: Stored::Dense(t.data.clone()),
            })
            .collect(),
        info: info.clone(),
    };
    let bytes = packed.save(out)?;
    let t = Instant::now();
    distilled.set_weights(&super::pack::load(out)?.weights())?;
    let (loss, ood_loss) = score(&mut distilled, data, opts.eval_tokens)?;
    let (s_loss, s_ood) = score(&mut scratch, data, opts.eval_tokens)?;
    let eval_seconds = t.elapsed().as_secs_f64();
    let params = student.shape().params().total;
    Ok(CompressReport {
        method: Method::Distill,
        source: source.label.clone(),
        loss_original,
        loss,
        loss_delta: loss - loss_original,
        ood_loss_original: ood_original,
        ood_loss,
        ood_loss_delta: ood_loss.zip(ood_original).map(|(a, b)| a - b),
        bytes_original: dense(source.model, &source.weights)?,
        bytes,
        bits_per_param: 8.0 * bytes as f64 / params as f64,
        compressed_bits_per_weight: None,
        params,
        compressed_params: 0,
        sparsity: 0.0,
        scheme: None,
        options: opts.clone(),
        calibration_seconds: 0.0,
        compress_seconds: distill_secs,
        recover_seconds: 0.0,
        eval_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
        evaluation: EVALUATION.into(),
        teacher: Some(source.model),
        scratch: Some(ScratchStudent {
            loss: s_loss,
            ood_loss: s_ood,
            train_seconds: scratch_secs,
            source: scratch_source,
        }),
        path: out.to_path_buf(),
    })
}
