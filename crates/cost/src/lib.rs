//! isoflop-cost: what a transformer of a given shape costs to train, store and serve.
//!
//! One definition of "parameters" and "FLOPs" for the whole project: the trainer, the planner
//! and `isoflop estimate` all count through this crate. Pure arithmetic and a small CPU probe;
//! no heavy dependencies.
//!
//! - [`ModelShape`] (a GPT-2 or Llama decoder), [`preset`]s with their sources, [`ShapeSpec`]
//!   (TOML or flags) and [`from_hf_config`] (a Hugging Face `config.json`).
//! - [`ParamCounts`]: total, embedding and non-embedding parameters, exact to the checkpoints.
//! - FLOPs: [`ModelShape::flops_per_token`] and [`ModelShape::train_flops`] under a
//!   [`FlopConvention`] (PaLM's `6N + 12·L·H·Q·s`, Chinchilla's full count, `6N`), [`mfu`].
//! - Training memory: [`TrainRecipe`] (fp32, bf16 + Adam, 8-bit Adam), [`Layout`] (tensor,
//!   pipeline, data parallel, ZeRO, micro-batch, [`Recompute`]), [`ModelShape::train_memory`]
//!   with Korthikanti et al. 2022's activations.
//! - Time: [`Hardware`] presets and [`Hardware::cpu_probe`], [`train_seconds`], [`StepTime`]
//!   (compute, pipeline bubble, communication) and [`search`] over layouts.
//! - Serving and storage: [`ModelShape::kv_cache_bytes_per_token`], [`ModelShape::inference`],
//!   [`Quantization`]; the size [`ladder()`] with its power laws.
//! - The estimator as one call: [`estimate()`] resolves an [`EstimateSpec`] (the model by
//!   preset, file or shape; the GPU; counts; layout; precision; serving) into an [`Estimate`]
//!   whose JSON is what `isoflop estimate --json` prints; its defaults live in [`rules`].
//!
//! ```
//! use isoflop_cost::{FlopConvention, Hardware, Precision, Recompute, preset, train_seconds};
//! // GPT-2 small (Hugging Face `gpt2` config.json): 124,439,808 parameters.
//! let gpt2 = preset("gpt2").unwrap();
//! assert_eq!(gpt2.params().total, 124_439_808);
//! // Llama-2-7B's KV cache: 2 · 32 layers · 32 heads · 128 · 2 bytes per token in fp16.
//! let llama = preset("llama2-7b").unwrap();
//! assert_eq!(llama.kv_cache_bytes_per_token(Precision::Fp16), 524_288.0);
//! // Training it on 2T tokens on 64 H100s at 40% MFU (PaLM's 6N + 12·L·H·Q·s):
//! // (6 · 6.607e9 + 12 · 32 · 4096 · 4096) · 2e12 / (64 · 989.4e12 · 0.4) s = 42.1 days.
//! let flops = llama.train_flops(2e12, FlopConvention::Palm, Recompute::None);
//! let h100 = Hardware::preset("h100-sxm").unwrap();
//! let days = train_seconds(flops, 64, h100.peak_flops(Precision::Bf16).unwrap(), 0.4) / 86_400.0;
//! assert!((days - 42.1).abs() < 0.05);
//!
//! // The same through the estimator, as `isoflop estimate --model llama2-7b --gpus 64
//! // --tokens 2e12 --json` prints it.
//! use isoflop_cost::{Estimate, EstimateSpec, estimate};
//! let spec = EstimateSpec { gpus: Some(64), tokens: Some(2e12), ..EstimateSpec::for_model("llama2-7b") };
//! let Estimate::Model(e) = estimate(&spec).unwrap() else { unreachable!() };
//! assert!((e.time.train_days - 42.1).abs() < 0.05);
//! assert_eq!(e.layout.layout.dp, 64);
//! ```
#![deny(missing_docs)]

mod activations;
mod comm;
mod error;
mod estimate;
mod flops;
mod hardware;
mod hf_config;
mod inference;
mod ladder;
mod ladder_estimate;
mod memory;
mod parallel;
mod params;
mod precision;
mod presets;
mod probe;
mod resolve;
pub mod rules;
mod search;
mod shape;
mod spec;
mod storage;
mod time;

pub use activations::{Recompute, activation_bytes_per_gpu, layer_activation_bytes};
pub use comm::{CommTime, comm_time, ring_allreduce_seconds};
pub use error::{Error, Result};
pub use estimate::{
    Estimate, FlopsEstimate, LayoutEstimate, MemoryEstimate, MemoryParts, ModelEstimate, ModelInfo,
    ServingEstimate, StepEstimate, StorageRow, TimeEstimate, estimate, estimate_with,
};
pub use flops::{FlopConvention, mfu};
pub use hardware::{HARDWARE_PRESETS, Hardware};
pub use hf_config::from_hf_config;
pub use inference::{InferenceEstimate, InferenceSetup, USABLE_MEMORY};
pub use ladder::{
    CheckpointSize, DEFAULT_LADDER, Ladder, LadderRow, PowerLaw, ladder, ladder_shape,
};
pub use ladder_estimate::{LadderEstimate, StorageLaw, TokensPerParam, TokensRule};
pub use memory::{GB, GIB, TrainMemory, gb, gib, model_states};
pub use parallel::Layout;
pub use params::ParamCounts;
pub use precision::{Precision, TrainRecipe};
pub use presets::{MODEL_PRESETS, Presets, preset, presets};
pub use probe::{matmul_f32, measure_matmul_flops, measure_read_bandwidth};
pub use search::{Candidate, SearchResult, SearchSpace, search};
pub use shape::{Family, ModelShape, ShapeSpec};
pub use spec::{EstimateSpec, ModelSource};
pub use storage::{DEFAULT_GROUP_SIZE, Quantization};
pub use time::{DAY, StepTime, train_seconds};
