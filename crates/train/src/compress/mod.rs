//! Compression of trained models: post-training quantization, pruning and distillation, saved
//! packed, loaded back for evaluation and fine-tuning.
//!
//! | method | what | file |
//! |---|---|---|
//! | `int8` | round-to-nearest, 8 bits, one scale per output channel (or `--group-size`) | [`quantize`] |
//! | `int4`, `int3` | round-to-nearest, group-wise scales (g = 128 by default; 32/64/…), symmetric or asymmetric | [`quantize`] |
//! | `gptq-int4`, `gptq-int3` | GPTQ (Frantar et al. 2022) on a calibration set from the train split | [`gptq`] |
//! | `magnitude` | unstructured, smallest `|W|` of each matrix at sparsity `s` | [`prune`] |
//! | `wanda` | `|W|·‖X‖` per output row (Sun et al. 2023) at sparsity `s` | [`wanda`] |
//! | `2:4` | two of every four consecutive weights, scored as Wanda | [`prune`], [`wanda`] |
//! | `distill` | a new student shape trained on the teacher's soft targets (Hinton et al. 2015), beside a from-scratch student | [`distill`] |
//!
//! What is compressed: the four linear weights of every block (`attn.c_attn`, `attn.c_proj`,
//! `mlp.c_fc`, `mlp.c_proj`). Embeddings, the output head, biases and LayerNorms stay in f32,
//! as GPTQ and Wanda leave them; the file size and bits per parameter count them, so the
//! savings quoted are for the whole model. Pruning can be followed by recovery training of
//! the surviving weights with the mask kept ([`pipeline`]).
//!
//! Calibration (GPTQ, Wanda, 2:4) is sequential by block, as in both papers' code: block `l`'s
//! inputs are recorded with blocks `< l` already compressed, so each block corrects for the
//! error of those before it.
//!
//! The packed file ([`pack`]) stores integer codes (bit-packed), fp16 scales and sparse masks;
//! [`pack::load_weights`] returns the usual f32 weights, **dequantized on load**: evaluation
//! and fine-tuning run the f32 engines on exactly the quantized values.
//!
//! ```
//! use isoflop_train::compress::quantize::{Scheme, quantize_rtn};
//! let w = [0.5f32, -0.25, 0.125, 1.0];
//! let q = quantize_rtn(&w, 1, 4, Scheme { bits: 8, group_size: None, asymmetric: false }).unwrap();
//! let back = q.dequantize();
//! assert!(w.iter().zip(&back).all(|(a, b)| (a - b).abs() <= 0.5 / 127.0 + 1e-6));
//! ```

pub mod bits;
pub mod distill;
pub mod gptq;
pub mod linalg;
pub mod pack;
pub mod pipeline;
pub mod prune;
pub mod quantize;
pub mod scaling;
pub mod wanda;

pub use pack::{COMPRESSED_FILE, CompressedModel, load_weights};
pub use pipeline::{
    CompressOptions, CompressReport, Method, compress, distill_beside, is_compressed_weight,
};
