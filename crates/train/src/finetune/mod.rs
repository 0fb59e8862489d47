//! Fine-tuning a pretrained GPT for text classification, in the fast CPU kernels.
//!
//! A classification head reads the final LayerNorm's output pooled over the real tokens of
//! each text ([`head`]); the body is adapted by one of five [`Method`]s:
//! - `full`: every weight trains;
//! - `lora` (Hu et al. 2021): frozen weights plus a low-rank update `W + (α/r)·B·A` on the
//!   attention projections (and optionally the MLP's), B = 0 at init so step 0 is the
//!   pretrained model ([`lora`]);
//! - `adapter` (Houlsby et al. 2019): frozen weights plus a bottleneck MLP after the attention
//!   and after the MLP sub-layer, identity at init ([`adapter`]);
//! - `bitfit` (Ben Zaken et al. 2021): only the biases (and the head) train;
//! - `scratch`: the same architecture from random initialisation, every weight trains: what
//!   pretraining buys is `full` minus `scratch`.
//!
//! Forward and backward are written out op by op on the kernels of [`crate::kernels`], as the
//! pretraining engine is ([`model`]). Frozen weight matrices skip their weight-gradient
//! products; frozen parameters are never touched by the optimizer, so they stay
//! bit-identical. Padding never changes a prediction: rows are padded on the right, attention
//! is causal (a real token never attends to a pad), and pooling reads real tokens only.
//! [`trainer`] runs epochs with AdamW, early stopping on dev loss with patience, restores the
//! best dev checkpoint and scores the test split.

pub mod adapter;
pub mod head;
pub mod lora;
pub mod model;
pub mod trainer;

pub use model::FineTuneModel;
pub use trainer::{FineTuneReport, finetune};

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How the pretrained model is adapted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Every weight trains.
    Full,
    /// Low-rank updates of the frozen projections (Hu et al. 2021).
    Lora,
    /// Bottleneck adapters after each sub-layer (Houlsby et al. 2019).
    Adapter,
    /// Biases only (Ben Zaken et al. 2021).
    Bitfit,
    /// Random initialisation, every weight trains.
    Scratch,
}

/// Every method, in the order tables show them.
pub const METHODS: [Method; 5] =
    [Method::Full, Method::Lora, Method::Adapter, Method::Bitfit, Method::Scratch];

impl Method {
    /// The method's name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Full => "full",
            Method::Lora => "lora",
            Method::Adapter => "adapter",
            Method::Bitfit => "bitfit",
            Method::Scratch => "scratch",
        }
    }

    /// Whether the base model's weight matrices, embeddings and LayerNorm gains train.
    pub fn trains_matrices(self) -> bool {
        matches!(self, Method::Full | Method::Scratch)
    }

    /// Whether the base model's biases train.
    pub fn trains_biases(self) -> bool {
        matches!(self, Method::Full | Method::Scratch | Method::Bitfit)
    }

    /// The default peak learning rate (see docs/finetuning.md for the sweep that chose it).
    /// Methods that train few parameters from zero take larger steps, as their papers do
    /// (Hu et al. 2021 use 2e-4 to 5e-4 for LoRA on RoBERTa against 1e-5 for full
    /// fine-tuning; Ben Zaken et al. 2021 use 1e-4 to 1e-3 for BitFit).
    pub fn default_lr(self) -> f32 {
        match self {
            Method::Full | Method::Scratch => 1e-3,
            Method::Lora | Method::Adapter => 3e-3,
            Method::Bitfit => 1e-2,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        METHODS.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            Error::InvalidTrainConfig(format!(
                "unknown fine-tuning method `{s}` (known: full, lora, adapter, bitfit, scratch)"
            ))
        })
    }
}

/// How the hidden states of a text become one vector for the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The mean over the text's real tokens (the default; docs/finetuning.md says why).
    #[default]
    Mean,
    /// The last real token's state (GPT-1's classification head, Radford et al. 2018).
    Last,
}

impl FromStr for Pooling {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Pooling::Mean),
            "last" => Ok(Pooling::Last),
            _ => {
                Err(Error::InvalidTrainConfig(format!("unknown pooling `{s}` (known: mean, last)")))
            }
        }
    }
}

/// LoRA's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank r of the update.
    pub rank: usize,
    /// α: the update is scaled by α/r (Hu et al. 2021, §4.1).
    pub alpha: f32,
    /// Also adapt the MLP's two projections (Hu et al. adapt attention only).
    pub mlp: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        // r = 8, α = 16: Hu et al. 2021's settings for RoBERTa/DeBERTa on GLUE (Table 9).
        Self { rank: 8, alpha: 16.0, mlp: false }
    }
}

/// Everything that determines a fine-tune (saved with the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuneConfig {
    /// The method.
    pub method: Method,
    /// Pooling of the hidden states.
    pub pooling: Pooling,
    /// LoRA settings (used by `lora`).
    pub lora: LoraConfig,
    /// Adapter bottleneck width (used by `adapter`).
    pub adapter_size: usize,
    /// Peak learning rate.
    pub lr: f32,
    /// AdamW decoupled weight decay on matrices.
    pub weight_decay: f32,
    /// Examples per batch.
    pub batch: usize,
    /// Epochs at most.
    pub max_epochs: usize,
    /// Dev evaluations per epoch.
    pub evals_per_epoch: usize,
    /// Stop after this many evaluations without a lower dev loss.
    pub patience: usize,
    /// Seeds the head, LoRA/adapter weights, the scratch model and the batch order.
    pub seed: u64,
    /// Compute threads.
    pub threads: usize,
}

impl FineTuneConfig {
    /// The defaults for a method.
    pub fn new(method: Method) -> Self {
        Self {
            method,
            pooling: Pooling::Mean,
            lora: LoraConfig::default(),
            adapter_size: 16,
            lr: method.default_lr(),
            weight_decay: 0.01,
            batch: 32,
            max_epochs: 8,
            evals_per_epoch: 2,
            patience: 3,
            seed: 0,
            threads: 1,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidTrainConfig(m.to_string()));
        if self.batch == 0 || self.max_epochs == 0 || self.evals_per_epoch == 0 {
            return bad("batch, epochs and evals per epoch must be at least 1");
        }
        if self.threads == 0 || self.threads > 1024 {
            return bad("threads must lie in 1..=1024");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("the learning rate must be positive");
        }
        if self.lora.rank == 0 || self.adapter_size == 0 {
            return bad("the LoRA rank and the adapter size must be at least 1");
        }
        Ok(())
    }
}

/// The shape and weights of a pretraining run's checkpoint directory (its moments are left),
/// or of a compressed model's directory (dequantized).
pub fn load_pretrained(
    dir: &std::path::Path,
) -> Result<(crate::GptConfig, Vec<crate::NamedTensor>)> {
    // A compressed model (`isoflop compress -o DIR`, or a sweep's compression run) is
    // dequantized on load, so its fine-tune measures what the compression left of the task.
    if dir.join(crate::compress::COMPRESSED_FILE).is_file() {
        let (cfg, weights) = crate::compress::load_weights(dir)?;
        cfg.validate()?;
        return Ok((cfg, weights));
    }
    let path = crate::checkpoint_path(dir);
    let ck = crate::Checkpoint::load(dir)?.ok_or_else(|| Error::Checkpoint {
        path: path.clone(),
        message: "no checkpoint here: fine-tuning needs a pretraining run's checkpoint \
                  (`isoflop train -o DIR` or a sweep run)"
            .into(),
    })?;
    let model = ck.state.get("config").and_then(|c| c.get("model")).cloned().ok_or_else(|| {
        Error::Checkpoint { path: path.clone(), message: "the state names no model shape".into() }
    })?;
    let cfg: crate::GptConfig = serde_json::from_value(model).map_err(|e| Error::Checkpoint {
        path: path.clone(),
        message: format!("unreadable model shape: {e}"),
    })?;
    cfg.validate()?;
    Ok((cfg, ck.weights))
}
