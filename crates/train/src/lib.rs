//! isoflop-train: train GPT-style models on real text and measure them.
//!
//! - [`GptConfig`]: the model's shape; [`ladder::shape_for_params`] picks one for a parameter
//!   budget.
//! - [`Engine`]: weights, gradients and AdamW of one model; [`CandleEngine`] is the reference
//!   (candle autograd, CPU or CUDA), [`make_engine`] builds one by name.
//!
//! ```
//! use isoflop_train::{AdamW, CandleEngine, Device, Engine, GptConfig};
//! let cfg = GptConfig::new(1, 16, 2, 256, 8).unwrap();
//! let mut engine = CandleEngine::new(cfg, 0, Device::Cpu).unwrap();
//! let tokens: Vec<u32> = b"hello world, hello".iter().map(|&b| b as u32).collect();
//! let (x, y) = (&tokens[..8], &tokens[1..9]);
//! let first = engine.forward_backward(x, y, 1, 8).unwrap();
//! for _ in 0..20 {
//!     engine.step(&AdamW { lr: 1e-2, ..AdamW::default() }).unwrap();
//!     engine.forward_backward(x, y, 1, 8).unwrap();
//! }
//! assert!(engine.eval_loss(x, y, 1, 8).unwrap() < first);
//! ```
#![deny(missing_docs)]

pub mod baseline;
mod candle_engine;
mod checkpoint;
pub mod compress;
mod config;
pub mod corpus;
mod dataset;
mod device;
mod engine;
mod engine_kind;
mod error;
mod factory;
pub mod fetch;
pub mod finetune;
mod hparams;
mod init;
pub mod kernels;
pub mod ladder;
mod measure;
mod memory;
pub mod metrics;
mod pooled_engine;
mod schedule;
pub mod split;
pub mod task;
pub mod task_fetch;
mod threads;
mod tokenizer;
mod train_config;
mod train_overrides;
mod trainer;

pub use candle_engine::CandleEngine;
pub use checkpoint::{CHECKPOINT_FILE, Checkpoint, checkpoint_path};
pub use config::{GptConfig, MAX_CONTEXT};
pub use corpus::{Corpus, Document};
pub use dataset::{Dataset, DatasetMeta, SplitStats, TokenSplit};
pub use device::Device;
pub use engine::{AdamW, Engine, NamedTensor};
pub use engine_kind::EngineKind;
pub use error::{Error, Result};
pub use factory::make_engine;
pub use hparams::{
    LR_BASE, LR_BASE_WIDTH, MAX_ROWS, MIN_ROWS, MIN_STEPS, WARMUP_FRACTION, default_batch_tokens,
    default_lr, default_warmup_steps,
};
pub use init::{INIT_STD, init_weights};
pub use kernels::KernelEngine;
pub use measure::{FLOP_CONVENTION, measured_peak_flops, peak_memory_bytes, train_flops_per_token};
pub use memory::{
    available_memory, check_memory, check_memory_with, check_model_memory, model_memory,
    train_memory,
};
pub use pooled_engine::PooledEngine;
pub use schedule::{FINAL_LR_RATIO, LrSchedule, ScheduleShape};
pub use threads::{RunPool, check_threads, logical_cpus, physical_cores, resolve_threads};
pub use tokenizer::{Tokenizer, TokenizerKind, TokenizerName};
pub use train_config::{
    DEFAULT_DIVERGENCE_RATIO, DEFAULT_EVAL_POINTS, DEFAULT_EVAL_TOKENS, DEFAULT_FINAL_EVAL_TOKENS,
    FIRST_EVAL_FRACTION, MAX_RUN_TOKENS, MIN_EVAL_TOKENS, TrainConfig,
};
pub use train_overrides::{DEFAULT_BPE_VOCAB, TrainOverrides, parse_count};
pub use trainer::{
    CurvePoint, DataSummary, Progress, ProgressEvent, RunReport, RunStatus, bits_per_byte,
    snapshot_dir, train,
};
