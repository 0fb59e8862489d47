//! The fast CPU engine: explicit forward and backward kernels for isoflop's GPT, no autograd.
//!
//! [`KernelEngine`] trains the fixed GPT-2 architecture of [`crate::GptConfig`] (pre-LN blocks,
//! learned positions, causal attention, tanh-GELU MLP, untied head) in fp32 on the CPU. Each op
//! has its forward and backward side by side in its own file; the model strings them together
//! in [`model`]; matrix products go through the `gemm` crate ([`matmul`]); parameters,
//! gradients and AdamW moments are four flat buffers ([`layout`]); activations are allocated
//! once per batch shape ([`activations`]). Everything runs on the engine's own rayon pool of
//! the requested size.
//!
//! Correctness: `tests/kernels_*.rs` check every kernel's backward by finite differences, the
//! whole model against an f64 reference and against [`crate::CandleEngine`]. Speed against
//! PyTorch and candle: `isoflop bench train`, figures in `docs/engine.md`.
//!
//! ```
//! use isoflop_train::{AdamW, Engine, GptConfig, KernelEngine};
//! let cfg = GptConfig::new(1, 16, 2, 256, 8).unwrap();
//! let mut engine = KernelEngine::new(cfg, 0, 1).unwrap();
//! let tokens: Vec<u32> = b"hello world, hello".iter().map(|&b| b as u32).collect();
//! let (x, y) = (&tokens[..8], &tokens[1..9]);
//! let first = engine.forward_backward(x, y, 1, 8).unwrap();
//! for _ in 0..20 {
//!     engine.step(&AdamW { lr: 1e-2, ..AdamW::default() }).unwrap();
//!     engine.forward_backward(x, y, 1, 8).unwrap();
//! }
//! assert!(engine.eval_loss(x, y, 1, 8).unwrap() < first);
//! ```

pub mod activations;
pub mod adamw;
pub mod attention;
pub mod cross_entropy;
pub mod embedding;
pub mod gelu;
pub mod layernorm;
pub mod layout;
pub mod linear;
pub mod matmul;
pub mod model;
pub mod parallel;
pub mod parallelism;
pub mod peak;
pub mod residual;
pub mod simd;

pub use model::{KernelEngine, LinearSite};
pub use parallelism::{RunLayout, recommended_parallelism};
pub use peak::measure_peak_flops;
