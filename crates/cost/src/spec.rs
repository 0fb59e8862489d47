//! What to estimate: [`EstimateSpec`], the one input of [`crate::estimate()`].
//!
//! Every field has the default `isoflop estimate` has; a spec deserialises from JSON or TOML
//! with any subset of its fields (unknown fields are refused). Errors name each field as its
//! `isoflop estimate` flag (`global_batch` → `--global-batch`): the spelling the CLI's and the
//! Python binding's users see.

use crate::{
    DEFAULT_GROUP_SIZE, Error, FlopConvention, Hardware, ModelShape, Precision, Recompute, Result,
    ShapeSpec, TrainRecipe,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The model to estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModelSource {
    /// A preset (see [`crate::MODEL_PRESETS`]), a shape `.toml` or a Hugging Face `config.json`
    /// (told apart by the extension).
    Name(String),
    /// A shape given field by field (defaults as in [`ShapeSpec::resolve`]).
    Shape(ShapeSpec),
}

/// Everything `isoflop estimate` can be asked; see the crate docs for an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EstimateSpec {
    /// The model; required except for the ladder.
    pub model: Option<ModelSource>,
    /// Shape fields overriding the model's.
    pub shape: ShapeSpec,

    /// GPU: a preset (see [`crate::HARDWARE_PRESETS`]), `cpu` (measured by a short matmul
    /// probe) or a hardware `.toml`.
    pub gpu: String,
    /// GPUs in all (default: `nodes` × GPUs per node, else tp · pp · dp when `dp` is given,
    /// else one node).
    pub gpus: Option<u64>,
    /// Nodes; GPUs = nodes × GPUs per node.
    pub nodes: Option<u64>,
    /// GPUs per node (default: the hardware's).
    pub gpus_per_node: Option<u64>,
    /// Model-FLOPs utilisation for the time (default: the hardware's assumption).
    pub mfu: Option<f64>,
    /// A measured training throughput over all GPUs, tokens/s: gives the MFU.
    pub tokens_per_second: Option<f64>,

    /// Training tokens (default: [`crate::rules::TOKENS_PER_PARAM`] per parameter).
    pub tokens: Option<f64>,
    /// FLOP convention.
    pub convention: FlopConvention,
    /// Training precision recipe.
    pub recipe: TrainRecipe,

    /// Tensor-parallel size.
    pub tp: u64,
    /// Pipeline-parallel size.
    pub pp: u64,
    /// Data-parallel size (default: GPUs / (tp · pp)).
    pub dp: Option<u64>,
    /// ZeRO stage, 0–3.
    pub zero: u8,
    /// Activation recomputation.
    pub recompute: Recompute,
    /// Sequences per micro-batch.
    pub micro_batch: u64,
    /// Sequence length in training (default: the model's context).
    pub seq: Option<u64>,
    /// Sequences per optimizer step (default: [`crate::rules::default_global_batch`]).
    pub global_batch: Option<u64>,
    /// Model chunks per pipeline stage.
    pub interleave: u64,
    /// Sequence parallelism when tp > 1.
    pub sequence_parallel: bool,
    /// Flash attention (the attention scores are not stored).
    pub flash_attention: bool,

    /// Also search every layout of the cluster.
    pub search: bool,
    /// Layouts the search keeps.
    pub top: usize,

    /// Estimate the size ladder instead of one model.
    pub ladder: bool,
    /// Ladder sizes in parameters (default [`crate::DEFAULT_LADDER`]).
    pub sizes: Vec<f64>,

    /// Inference weight format.
    pub infer_precision: Precision,
    /// KV cache format.
    pub kv_precision: Precision,
    /// Weights per quantization scale (integer formats).
    pub group_size: u64,
    /// Concurrent sequences when serving.
    pub batch: u64,
    /// Prompt tokens per sequence (default: [`crate::rules::default_prompt`]).
    pub prompt: Option<u64>,
    /// Generated tokens per sequence (default: [`crate::rules::default_generate`]).
    pub generate: Option<u64>,
    /// GPUs to serve on (default: [`crate::rules::serve`]'s fewest that hold the model).
    pub infer_gpus: Option<u64>,
}

impl Default for EstimateSpec {
    fn default() -> Self {
        Self {
            model: None,
            shape: ShapeSpec::default(),
            gpu: "h100-sxm".to_string(),
            gpus: None,
            nodes: None,
            gpus_per_node: None,
            mfu: None,
            tokens_per_second: None,
            tokens: None,
            convention: FlopConvention::Palm,
            recipe: TrainRecipe::Bf16Adam,
            tp: 1,
            pp: 1,
            dp: None,
            zero: 0,
            recompute: Recompute::None,
            micro_batch: 1,
            seq: None,
            global_batch: None,
            interleave: 1,
            sequence_parallel: true,
            flash_attention: true,
            search: false,
            top: 10,
            ladder: false,
            sizes: Vec::new(),
            infer_precision: Precision::Bf16,
            kv_precision: Precision::Bf16,
            group_size: DEFAULT_GROUP_SIZE,
            batch: 1,
            prompt: None,
            generate: None,
            infer_gpus: None,
        }
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidSpec(message)
}

impl EstimateSpec {
    /// The default spec for one model (a preset, a shape `.toml` or a `config.json`).
    pub fn for_model(model: &str) -> Self {
        Self { model: Some(ModelSource::Name(model.to_string())), ..Self::default() }
    }

    /// Checks every count is positive and below a bound that keeps their products inside u64
    /// (and far beyond any cluster), the fractions are fractions and the ZeRO stage exists.
    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [
            ("--gpus", self.gpus),
            ("--nodes", self.nodes),
            ("--gpus-per-node", self.gpus_per_node),
            ("--dp", self.dp),
            ("--seq", self.seq),
            ("--global-batch", self.global_batch),
            ("--prompt", self.prompt),
            ("--infer-gpus", self.infer_gpus),
        ] {
            if v == Some(0) {
                return Err(invalid(format!("{flag} must be positive, got 0")));
            }
        }
        for (flag, v) in [
            ("--tp", self.tp),
            ("--pp", self.pp),
            ("--micro-batch", self.micro_batch),
            ("--interleave", self.interleave),
            ("--group-size", self.group_size),
            ("--batch", self.batch),
        ] {
            if v == 0 {
                return Err(invalid(format!("{flag} must be positive, got 0")));
            }
        }
        for (flag, v, max) in [
            ("--gpus", self.gpus.unwrap_or(1), 1u64 << 24),
            ("--nodes", self.nodes.unwrap_or(1), 1 << 24),
            ("--gpus-per-node", self.gpus_per_node.unwrap_or(1), 1 << 10),
            ("--tp", self.tp, 1 << 10),
            ("--pp", self.pp, 1 << 20),
            ("--dp", self.dp.unwrap_or(1), 1 << 24),
            ("--interleave", self.interleave, 1 << 10),
            ("--micro-batch", self.micro_batch, 1 << 24),
            ("--global-batch", self.global_batch.unwrap_or(1), 1 << 30),
            ("--seq", self.seq.unwrap_or(1), 1 << 30),
            ("--batch", self.batch, 1 << 30),
            ("--prompt", self.prompt.unwrap_or(1), 1 << 30),
            ("--generate", self.generate.unwrap_or(1), 1 << 30),
            ("--infer-gpus", self.infer_gpus.unwrap_or(1), 1 << 20),
        ] {
            if v > max {
                return Err(invalid(format!("{flag} = {v} is beyond the largest accepted, {max}")));
            }
        }
        for (flag, v) in
            [("--tokens", self.tokens), ("--tokens-per-second", self.tokens_per_second)]
        {
            if let Some(v) = v
                && !(v > 0.0 && v.is_finite())
            {
                return Err(invalid(format!("{flag} must be a positive number, got {v}")));
            }
        }
        if let Some(m) = self.mfu
            && !(m > 0.0 && m <= 1.0)
        {
            return Err(invalid(format!("--mfu must be in (0, 1], got {m}")));
        }
        if self.zero > 3 {
            return Err(invalid(format!("--zero must be 0, 1, 2 or 3, got {}", self.zero)));
        }
        for s in &self.sizes {
            if !(1e7..=1e15).contains(s) {
                return Err(invalid(format!(
                    "--sizes: every size must be in [1e7, 1e15], got {s:e}"
                )));
            }
        }
        Ok(())
    }

    /// The hardware: a preset, the `cpu` probe or a `.toml`, with `gpus_per_node` applied.
    pub fn hardware(&self) -> Result<Hardware> {
        let mut hw = if self.gpu.eq_ignore_ascii_case("cpu") {
            Hardware::cpu_probe().map_err(|e| Error::CpuProbe(Box::new(e)))?
        } else if has_extension(&self.gpu, "toml") {
            let text = read("hardware file", &self.gpu)?;
            Hardware::from_toml_str(&text, &self.gpu)?
        } else {
            Hardware::preset(&self.gpu)?
        };
        if let Some(n) = self.gpus_per_node {
            hw.gpus_per_node = n;
        }
        Ok(hw)
    }

    /// The model's name in reports and its shape: the preset, file or explicit shape with the
    /// `shape` overrides on top, resolved and validated.
    pub fn model_shape(&self) -> Result<(String, ModelShape)> {
        let (name, base) = match &self.model {
            None => {
                return Err(invalid(
                    "--model is required (a preset, a shape .toml or a config.json), unless \
                     --ladder"
                        .to_string(),
                ));
            }
            Some(ModelSource::Shape(s)) => ("custom".to_string(), s.clone()),
            Some(ModelSource::Name(model)) => {
                let base = if has_extension(model, "toml") {
                    ShapeSpec::from_toml_str(&read("model file", model)?, model)?
                } else if has_extension(model, "json") {
                    let text = read("model config", model)?;
                    ShapeSpec::from_shape(&crate::from_hf_config(&text, model)?)
                } else {
                    ShapeSpec::from_shape(&crate::preset(model)?)
                };
                (model.clone(), base)
            }
        };
        let shape = base
            .merge(&self.shape)
            .resolve()
            .map_err(|e| Error::InvalidModel { model: name.clone(), source: Box::new(e) })?;
        Ok((name, shape))
    }
}

fn has_extension(name: &str, ext: &str) -> bool {
    Path::new(name).extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn read(what: &'static str, path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        what,
        path: path.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_clis() {
        let spec: EstimateSpec = serde_json::from_str(r#"{"model": "gpt2"}"#).unwrap();
        assert_eq!(spec, EstimateSpec::for_model("gpt2"));
        assert_eq!((spec.gpu.as_str(), spec.tp, spec.top), ("h100-sxm", 1, 10));
        let err = serde_json::from_str::<EstimateSpec>(r#"{"modle": "gpt2"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `modle`"), "{err}");
        // An explicit shape is a model too.
        let spec: EstimateSpec = serde_json::from_str(
            r#"{"model": {"n_layer": 2, "d_model": 64, "n_head": 2, "vocab": 256, "context": 64}}"#,
        )
        .unwrap();
        assert_eq!(spec.model_shape().unwrap().1.n_layer, 2);
    }

    #[test]
    fn errors_name_the_flag() {
        let bad = |spec: EstimateSpec| spec.validate().unwrap_err().to_string();
        let gpt2 = EstimateSpec::for_model("gpt2");
        assert_eq!(
            bad(EstimateSpec { gpus: Some(0), ..gpt2.clone() }),
            "--gpus must be positive, got 0"
        );
        assert!(
            bad(EstimateSpec { zero: 4, ..gpt2.clone() }).contains("--zero must be 0, 1, 2 or 3")
        );
        assert!(bad(EstimateSpec { mfu: Some(1.5), ..gpt2.clone() }).contains("--mfu must be in"));
        let err = EstimateSpec::default().model_shape().unwrap_err().to_string();
        assert!(err.contains("--model is required"), "{err}");
    }
}
