//! The estimator as one call: [`estimate()`] resolves an [`EstimateSpec`] into an
//! [`Estimate`], a plain serialisable value whose JSON is what `isoflop estimate --json` prints
//! (keys sorted, as `serde_json::Value` sorts them).
//!
//! Resolution runs in a fixed order, so that a spec with several faults reports the same one
//! whoever calls: the spec's ranges, the hardware, then (ladder) the rungs or (one model) the
//! shape, the cluster, the layout, the peak and MFU, memory and step time, inference, search.
//! The steps for one model are in `resolve.rs`; the ladder's in `ladder_estimate.rs`.

use crate::{
    CommTime, EstimateSpec, FlopConvention, Hardware, InferenceEstimate, InferenceSetup,
    LadderEstimate, Layout, ModelShape, ParamCounts, Precision, Result, SearchResult, SearchSpace,
    TokensPerParam, TokensRule, TrainRecipe,
};
use serde::Serialize;

/// What [`estimate()`] returns: one model's estimate, or the size ladder.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Estimate {
    /// Parameters, FLOPs, memory, time, inference and storage of one model.
    Model(Box<ModelEstimate>),
    /// Training and serving cost by model size.
    Ladder {
        /// The ladder.
        ladder: LadderEstimate,
    },
}

/// The model as named and resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// As given (preset, file) or `custom` for an explicit shape.
    pub name: String,
    /// The resolved shape.
    pub shape: ModelShape,
}

/// FLOPs per token and in all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlopsEstimate {
    /// The convention counted in.
    pub convention: FlopConvention,
    /// Its formula, for the report.
    pub formula: &'static str,
    /// Forward FLOPs per token.
    pub per_token_forward: f64,
    /// Forward and backward FLOPs per token (the model FLOPs of MFU).
    pub per_token_train: f64,
    /// Extra forward FLOPs per token that recomputation costs.
    pub per_token_recompute: f64,
    /// Training tokens.
    pub tokens: f64,
    /// Where the tokens come from.
    pub tokens_source: String,
    /// Model FLOPs of the whole run.
    pub train_total: f64,
    /// Hardware FLOPs of the whole run, recomputation included.
    pub train_total_with_recompute: f64,
}

/// The training layout, resolved, with what it implies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LayoutEstimate {
    /// GPUs in the cluster.
    pub gpus: u64,
    /// The layout.
    #[serde(flatten)]
    pub layout: Layout,
    /// Micro-batches per step per pipeline.
    pub micro_batches: u64,
    /// Fraction of a step the pipeline idles.
    pub bubble_fraction: f64,
}

/// Training memory of the busiest GPU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryEstimate {
    /// The precision recipe.
    pub recipe: TrainRecipe,
    /// Bytes per GPU, all parts.
    pub per_gpu_bytes: f64,
    /// The same in GiB (2^30).
    pub per_gpu_gib: f64,
    /// The same in GB (10^9).
    pub per_gpu_gb: f64,
    /// One GPU's memory, bytes.
    pub capacity_bytes: f64,
    /// The part of it usable ([`USABLE_MEMORY`]).
    pub usable_bytes: f64,
    /// Whether the parts fit in the usable memory.
    pub fits: bool,
    /// Parameters on the busiest GPU.
    pub params_per_gpu: f64,
    /// Bytes by part.
    pub parts: MemoryParts,
}

/// Training memory by part, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MemoryParts {
    /// Working weights.
    pub weights: f64,
    /// Gradients.
    pub gradients: f64,
    /// Optimizer state.
    pub optimizer: f64,
    /// Activations at the peak of a step.
    pub activations: f64,
}

/// Training time: the MFU estimate and the layout's step model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeEstimate {
    /// GPUs.
    pub gpus: u64,
    /// Dense peak of the recipe's compute precision, FLOP/s per GPU.
    pub peak_flops_per_gpu: f64,
    /// Model-FLOPs utilisation.
    pub mfu: f64,
    /// Where the MFU comes from.
    pub mfu_source: String,
    /// Model FLOPs / (GPUs · peak · MFU), seconds.
    pub train_seconds: f64,
    /// The same in days.
    pub train_days: f64,
    /// GPU-hours.
    pub gpu_hours: f64,
    /// The layout's step model.
    pub layout_model: StepEstimate,
}

/// One step of the layout, modelled without overlap (an upper bound).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepEstimate {
    /// Seconds per step.
    pub step_seconds: f64,
    /// Of which compute.
    pub compute_seconds: f64,
    /// Of which pipeline bubble.
    pub bubble_seconds: f64,
    /// Of which exposed communication, by kind.
    pub comm_seconds: CommTime,
    /// Optimizer steps.
    pub steps: f64,
    /// Steps × step time.
    pub train_seconds: f64,
}

/// Serving: the setup and its roofline estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ServingEstimate {
    /// What is served, on how many GPUs.
    pub setup: InferenceSetup,
    /// Its cost.
    #[serde(flatten)]
    pub estimate: InferenceEstimate,
}

/// The weights stored in one format.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StorageRow {
    /// Value format.
    pub precision: Precision,
    /// Weights per scale (integer formats only).
    pub group_size: Option<u64>,
    /// Bytes per parameter, scales included.
    pub bytes_per_param: f64,
    /// Bytes of the whole model.
    pub bytes: f64,
}

/// One model's estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEstimate {
    /// The model.
    pub model: ModelInfo,
    /// Its parameter counts.
    pub params: ParamCounts,
    /// FLOPs.
    pub flops: FlopsEstimate,
    /// The hardware.
    pub hardware: Hardware,
    /// The training layout.
    pub layout: LayoutEstimate,
    /// Training memory per GPU.
    pub memory: MemoryEstimate,
    /// Training time.
    pub time: TimeEstimate,
    /// Serving.
    pub inference: ServingEstimate,
    /// Weight storage by format.
    pub storage: Vec<StorageRow>,
    /// The layout search, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchResult>,
    /// What a caller should be told but is not an error (a measured MFU above 1).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl ModelEstimate {
    /// The layout search's candidate `c` as model-FLOPs utilisation: the model FLOPs of a step
    /// over what the GPUs could do in the modelled step time.
    pub fn layout_mfu(&self, c: &crate::Candidate) -> f64 {
        let model_flops = c.layout.tokens_per_step() as f64 * self.flops.per_token_train;
        model_flops / (c.step.total() * self.layout.gpus as f64 * self.time.peak_flops_per_gpu)
    }
}

/// Resolves `spec`; the ladder's tokens are [`TOKENS_PER_PARAM`] per parameter.
pub fn estimate(spec: &EstimateSpec) -> Result<Estimate> {
    estimate_with(spec, &TokensPerParam::default())
}

/// Resolves `spec`, the ladder's tokens chosen by `ladder_tokens` (for instance the
/// compute-optimal D of a fitted law).
pub fn estimate_with(spec: &EstimateSpec, ladder_tokens: &dyn TokensRule) -> Result<Estimate> {
    spec.validate()?;
    let hw = spec.hardware()?;
    let mfu = spec.mfu.unwrap_or(hw.mfu);
    if spec.ladder {
        return crate::ladder_estimate::ladder(spec, &hw, mfu, ladder_tokens)
            .map(|ladder| Estimate::Ladder { ladder });
    }
    let (name, shape) = spec.model_shape()?;
    let mut est = crate::resolve::model(name, shape, hw, mfu, spec)?;
    if spec.search {
        let space = SearchSpace {
            gpus: est.layout.gpus,
            global_batch: est.layout.layout.global_batch,
            seq: spec.seq.unwrap_or(est.model.shape.context),
            tokens: est.flops.tokens,
            recipe: spec.recipe,
            convention: spec.convention,
            mfu: est.time.mfu,
            flash_attention: spec.flash_attention,
        };
        est.search = Some(crate::search(&est.model.shape, &est.hardware, &space, spec.top)?);
    }
    Ok(Estimate::Model(Box::new(est)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_has_the_reports_sections() {
        let spec = EstimateSpec { gpus: Some(8), search: true, ..EstimateSpec::for_model("gpt2") };
        let v = serde_json::to_value(estimate(&spec).unwrap()).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        let want = [
            "flops",
            "hardware",
            "inference",
            "layout",
            "memory",
            "model",
            "params",
            "search",
            "storage",
            "time",
        ];
        assert_eq!(keys, want);
        // The layout is flattened beside what it implies; the serving setup beside its cost.
        assert_eq!(v["layout"]["dp"], 8);
        assert_eq!(v["layout"]["gpus"], 8);
        assert!(v["inference"]["setup"]["gpus"].is_u64() && v["inference"]["fits"].is_boolean());
        // 124,439,808 parameters at 20 tokens each.
        assert_eq!(v["flops"]["tokens"], 20.0 * 124_439_808.0);
    }

    struct Refuses;

    impl TokensRule for Refuses {
        fn describe(&self) -> String {
            "never".to_string()
        }

        fn tokens(
            &self,
            params: f64,
        ) -> std::result::Result<f64, Box<dyn std::error::Error + Send + Sync>> {
            Err(format!("no tokens for {params:e}").into())
        }
    }

    #[test]
    fn the_ladder_takes_its_tokens_from_the_rule() {
        let spec = EstimateSpec { ladder: true, sizes: vec![1e9], ..EstimateSpec::default() };
        let Estimate::Ladder { ladder } = estimate_with(&spec, &TokensPerParam(10.0)).unwrap()
        else {
            panic!("a ladder")
        };
        let r = &ladder.rows[0];
        assert_eq!(r.tokens, 10.0 * r.params.total as f64);
        assert_eq!(ladder.tokens_rule, "10 tokens per parameter");
        let err = estimate_with(&spec, &Refuses).unwrap_err().to_string();
        assert!(err.starts_with("no tokens for "), "{err}");
    }
}
