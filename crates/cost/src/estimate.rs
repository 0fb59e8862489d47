//! The estimator as one call: [`estimate()`] resolves an [`EstimateSpec`] into an
//! [`Estimate`], a plain serialisable value whose JSON is what `isoflop estimate --json` prints
//! (keys sorted, as `serde_json::Value` sorts them).
//!
//! Resolution runs in a fixed order, so that a spec with several faults reports the same one
//! whoever calls: the spec's ranges, the hardware, then (ladder) the rungs or (one model) the
//! shape, the cluster, the layout, the peak and MFU, memory and step time, inference, search.

use crate::rules::{self, TOKENS_PER_PARAM, TOKENS_PER_PARAM_SOURCE};
use crate::{
    CommTime, EstimateSpec, FlopConvention, Hardware, InferenceEstimate, InferenceSetup, Layout,
    ModelShape, ParamCounts, Precision, Quantization, Recompute, Result, SearchResult, SearchSpace,
    StepTime, TrainMemory, TrainRecipe, USABLE_MEMORY,
};
use serde::Serialize;

/// The training tokens of each ladder rung, by its total parameters.
pub trait TokensRule {
    /// How the tokens are chosen, for the report.
    fn describe(&self) -> String;
    /// Training tokens for a model of `params` total parameters.
    fn tokens(
        &self,
        params: f64,
    ) -> std::result::Result<f64, Box<dyn std::error::Error + Send + Sync>>;
}

/// `tokens = k · N` ([`TOKENS_PER_PARAM`] by default: Hoffmann et al. 2022).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokensPerParam(pub f64);

impl Default for TokensPerParam {
    fn default() -> Self {
        Self(TOKENS_PER_PARAM)
    }
}

impl TokensRule for TokensPerParam {
    fn describe(&self) -> String {
        if self.0 == TOKENS_PER_PARAM {
            "20 tokens per parameter (Hoffmann et al. 2022)".to_string()
        } else {
            format!("{} tokens per parameter", self.0)
        }
    }

    fn tokens(
        &self,
        params: f64,
    ) -> std::result::Result<f64, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.0 * params)
    }
}

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

/// The size ladder with what it was computed for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LadderEstimate {
    /// Hardware name.
    pub hardware: String,
    /// MFU of the GPU-days.
    pub mfu: f64,
    /// FLOP convention.
    pub convention: FlopConvention,
    /// How each rung's tokens were chosen.
    pub tokens_rule: String,
    /// One row per size.
    pub rows: Vec<crate::LadderRow>,
    /// `C(n) = k · n^p`, training FLOPs.
    pub compute_law: Option<crate::PowerLaw>,
    /// `S(n) = k · n^q`, bf16 checkpoint bytes.
    pub storage_law: Option<StorageLaw>,
}

/// `S(n) = k · n^q`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StorageLaw {
    /// Coefficient.
    pub k: f64,
    /// Exponent.
    pub q: f64,
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
        return ladder(spec, &hw, mfu, ladder_tokens).map(|ladder| Estimate::Ladder { ladder });
    }
    let (name, shape) = spec.model_shape()?;
    let mut est = ModelEstimate::build(name, shape, hw, mfu, spec)?;
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

/// GPUs in the cluster: `gpus`, or `nodes` × GPUs per node, or tp · pp · dp when `dp` is given,
/// or one node.
fn cluster_gpus(spec: &EstimateSpec, hw: &Hardware) -> Result<u64> {
    let gpus = match (spec.gpus, spec.nodes, spec.dp) {
        (Some(g), _, _) => Some(g),
        (None, Some(n), _) => n.checked_mul(hw.gpus_per_node),
        (None, None, Some(dp)) => spec.tp.checked_mul(spec.pp).and_then(|tp| tp.checked_mul(dp)),
        (None, None, None) => Some(hw.gpus_per_node),
    };
    gpus.ok_or_else(|| crate::Error::InvalidSpec("the number of GPUs overflows".to_string()))
}

/// The layout the spec describes, checked against the model and the cluster.
fn resolve_layout(
    spec: &EstimateSpec,
    shape: &ModelShape,
    hw: &Hardware,
    gpus: u64,
) -> Result<Layout> {
    let invalid = crate::Error::InvalidSpec;
    let (tp, pp) = (spec.tp, spec.pp);
    let tp_pp = tp
        .checked_mul(pp)
        .filter(|&n| n <= gpus)
        .ok_or_else(|| invalid(format!("--tp {tp} × --pp {pp} exceeds the {gpus} GPUs")))?;
    let dp = match spec.dp {
        Some(dp) if tp_pp * dp != gpus => {
            return Err(invalid(format!(
                "--tp {tp} × --pp {pp} × --dp {dp} = {} GPUs, but the cluster has {gpus}",
                tp_pp * dp
            )));
        }
        Some(dp) => dp,
        None if !gpus.is_multiple_of(tp_pp) => {
            return Err(invalid(format!(
                "--tp {tp} × --pp {pp} = {tp_pp} does not divide the {gpus} GPUs"
            )));
        }
        None => gpus / tp_pp,
    };
    let seq = spec.seq.unwrap_or(shape.context);
    let global_batch = spec
        .global_batch
        .unwrap_or_else(|| rules::default_global_batch(seq, dp * spec.micro_batch));
    let layout = Layout {
        tp,
        pp,
        dp,
        zero: spec.zero,
        micro_batch: spec.micro_batch,
        global_batch,
        seq,
        recompute: spec.recompute,
        sequence_parallel: tp > 1 && spec.sequence_parallel,
        flash_attention: spec.flash_attention,
        interleave: spec.interleave,
    };
    layout.validate(shape, hw.gpus_per_node)?;
    Ok(layout)
}

impl ModelEstimate {
    fn build(
        name: String,
        shape: ModelShape,
        hw: Hardware,
        mfu: f64,
        spec: &EstimateSpec,
    ) -> Result<Self> {
        let gpus = cluster_gpus(spec, &hw)?;
        let params = shape.params();
        let conv = spec.convention;
        let (tokens, tokens_source) = match spec.tokens {
            Some(t) => (t, "--tokens".to_string()),
            None => (TOKENS_PER_PARAM * params.total as f64, TOKENS_PER_PARAM_SOURCE.to_string()),
        };
        let layout = resolve_layout(spec, &shape, &hw, gpus)?;
        let peak = hw.peak_flops(spec.recipe.compute_precision())?;
        let (mfu, mfu_source) = match spec.tokens_per_second {
            Some(tps) => (
                crate::mfu(tps, shape.flops_per_token(conv), gpus as f64 * peak),
                format!("measured: {tps} tokens/s over {gpus} GPUs"),
            ),
            None if spec.mfu.is_some() => (mfu, "--mfu".to_string()),
            None => (mfu, format!("assumed for {}", hw.name)),
        };
        let mut warnings = Vec::new();
        if mfu > 1.0 {
            // Not an input error: the throughput may be right and the peak too low (a `cpu`
            // probe under load, a hardware file with the wrong figure).
            let (rate, unit) = if peak >= 1e12 { (peak / 1e12, "T") } else { (peak / 1e9, "G") };
            warnings.push(format!(
                "the measured throughput is {:.0}% of {}'s peak: the peak ({rate:.1} {unit}FLOP/s) is too low for this run",
                mfu * 100.0,
                hw.name,
            ));
        }
        let memory = shape.train_memory(spec.recipe, &layout);
        let step = StepTime::model(&shape, &layout, &hw, spec.recipe, conv, mfu)?;
        let setup = InferenceSetup {
            weights: Quantization::new(spec.infer_precision, spec.group_size)?,
            kv_precision: spec.kv_precision,
            batch: spec.batch,
            prompt: spec.prompt.unwrap_or(rules::default_prompt(shape.context)),
            generate: spec.generate.unwrap_or(rules::default_generate(shape.context)),
            gpus: spec.infer_gpus.unwrap_or(1),
        };
        let (setup, inference) = match spec.infer_gpus {
            Some(_) => (setup, shape.inference(&hw, &setup)?),
            None => rules::serve(&shape, &hw, setup)?,
        };
        let train_total = shape.train_flops(tokens, conv, Recompute::None);
        let train_seconds = crate::train_seconds(train_total, gpus, peak, mfu);
        let steps = tokens / layout.tokens_per_step() as f64;
        Ok(Self {
            params,
            flops: FlopsEstimate {
                convention: conv,
                formula: conv.formula(),
                per_token_forward: shape.forward_flops_per_token(conv),
                per_token_train: shape.flops_per_token(conv),
                per_token_recompute: shape.recompute_flops_per_token(conv, layout.recompute),
                tokens,
                tokens_source,
                train_total,
                train_total_with_recompute: shape.train_flops(tokens, conv, layout.recompute),
            },
            layout: LayoutEstimate {
                gpus,
                layout,
                micro_batches: layout.micro_batches(),
                bubble_fraction: layout.bubble_fraction(),
            },
            memory: memory_estimate(spec.recipe, &memory, &hw),
            time: TimeEstimate {
                gpus,
                peak_flops_per_gpu: peak,
                mfu,
                mfu_source,
                train_seconds,
                train_days: train_seconds / crate::DAY,
                gpu_hours: train_seconds * gpus as f64 / 3600.0,
                layout_model: StepEstimate {
                    step_seconds: step.total(),
                    compute_seconds: step.compute,
                    bubble_seconds: step.bubble,
                    comm_seconds: step.comm,
                    steps,
                    train_seconds: steps * step.total(),
                },
            },
            inference: ServingEstimate { setup, estimate: inference },
            storage: storage(params.total, spec.group_size),
            search: None,
            warnings,
            model: ModelInfo { name, shape },
            hardware: hw,
        })
    }

    /// The layout search's candidate `c` as model-FLOPs utilisation: the model FLOPs of a step
    /// over what the GPUs could do in the modelled step time.
    pub fn layout_mfu(&self, c: &crate::Candidate) -> f64 {
        let model_flops = c.layout.tokens_per_step() as f64 * self.flops.per_token_train;
        model_flops / (c.step.total() * self.layout.gpus as f64 * self.time.peak_flops_per_gpu)
    }
}

fn memory_estimate(recipe: TrainRecipe, m: &TrainMemory, hw: &Hardware) -> MemoryEstimate {
    let usable = hw.memory_bytes * USABLE_MEMORY;
    MemoryEstimate {
        recipe,
        per_gpu_bytes: m.total(),
        per_gpu_gib: crate::gib(m.total()),
        per_gpu_gb: crate::gb(m.total()),
        capacity_bytes: hw.memory_bytes,
        usable_bytes: usable,
        fits: m.total() <= usable,
        params_per_gpu: m.params_per_gpu,
        parts: MemoryParts {
            weights: m.weights,
            gradients: m.gradients,
            optimizer: m.optimizer,
            activations: m.activations,
        },
    }
}

/// The formats a checkpoint is stored in, from the largest.
const STORAGE_FORMATS: [Precision; 5] =
    [Precision::Fp32, Precision::Bf16, Precision::Fp8, Precision::Int8, Precision::Int4];

fn storage(params: u64, group_size: u64) -> Vec<StorageRow> {
    STORAGE_FORMATS
        .into_iter()
        .map(|precision| {
            let q = Quantization { precision, group_size };
            StorageRow {
                precision,
                group_size: precision.is_integer().then_some(group_size),
                bytes_per_param: q.bytes_per_param(),
                bytes: q.bytes(params),
            }
        })
        .collect()
}

fn ladder(
    spec: &EstimateSpec,
    hw: &Hardware,
    mfu: f64,
    rule: &dyn TokensRule,
) -> Result<LadderEstimate> {
    let sizes =
        if spec.sizes.is_empty() { crate::DEFAULT_LADDER.to_vec() } else { spec.sizes.clone() };
    let tokens = |n: f64| rule.tokens(n).map_err(crate::Error::TokensRule);
    let l = crate::ladder(&sizes, &tokens, hw, mfu, spec.convention, spec.group_size)?;
    Ok(LadderEstimate {
        hardware: hw.name.clone(),
        mfu,
        convention: spec.convention,
        tokens_rule: rule.describe(),
        rows: l.rows,
        compute_law: l.compute_law,
        storage_law: l.storage_law.map(|s| StorageLaw { k: s.k, q: s.p }),
    })
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
