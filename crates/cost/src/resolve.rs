//! Resolving one model's estimate: the cluster, the layout, the peak and MFU, memory, step
//! time, serving and storage, in that order (see [`crate::estimate()`]).

use crate::rules::{self, TOKENS_PER_PARAM, TOKENS_PER_PARAM_SOURCE};
use crate::{
    EstimateSpec, FlopsEstimate, Hardware, InferenceSetup, Layout, LayoutEstimate, MemoryEstimate,
    MemoryParts, ModelEstimate, ModelInfo, ModelShape, Precision, Quantization, Recompute, Result,
    ServingEstimate, StepEstimate, StepTime, StorageRow, TimeEstimate, TrainMemory, TrainRecipe,
    USABLE_MEMORY,
};

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

/// The estimate of `shape` on `hw` at `mfu`, as `spec` lays it out.
pub(crate) fn model(
    name: String,
    shape: ModelShape,
    hw: Hardware,
    mfu: f64,
    spec: &EstimateSpec,
) -> Result<ModelEstimate> {
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
    Ok(ModelEstimate {
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
