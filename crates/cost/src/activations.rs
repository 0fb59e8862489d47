//! Activation memory of training (Korthikanti et al. 2022, "Reducing Activation Recomputation in
//! Large Transformer Models").
//!
//! Bytes stored per transformer layer for the backward pass, 16-bit activations, with s the
//! sequence length, b the micro-batch size, h the hidden size, a the attention heads and t the
//! tensor-parallel size (their Table 2):
//!
//! | setting                                   | bytes per layer            |
//! |-------------------------------------------|----------------------------|
//! | no parallelism                            | `sbh·(34 + 5as/h)`         |
//! | tensor parallel                           | `sbh·(10 + 24/t + 5as/(ht))` |
//! | tensor + sequence parallel                | `sbh·(34/t + 5as/(ht))`    |
//! | tensor parallel + selective recompute     | `sbh·(10 + 24/t)`          |
//! | tensor + sequence parallel + selective    | `sbh·34/t`                 |
//! | full recomputation                        | `2·sbh` (the layer input)  |
//!
//! The `5as/h` term is the s×s attention scores, softmax and dropout mask; flash attention
//! (Dao et al. 2022) never stores them, so with it the term drops as with selective recompute.
//! Under full recomputation with tensor parallelism and no sequence parallelism the layer input
//! is replicated on every tensor-parallel rank (`2sbh`); with sequence parallelism it is split
//! (`2sbh/t`).
//!
//! Pipeline parallelism with the 1F1B schedule keeps p micro-batches in flight on the first stage,
//! which holds L/p layers: L layers' worth in all (§4.2.3). The interleaved schedule with m model
//! chunks per device multiplies this by `1 + (p−1)/(p·m)`. The embedding output's dropout mask
//! (`sbh·p/t` with sequence parallelism, §4.3) is added on the first stage, and the output layer
//! (`4·sbh/t·(1 + v/h)`, §4.3) only when there is a single stage.
//!
//! A GPT-2 or Llama layer differs slightly from the GPT layer of the paper (SwiGLU stores more,
//! grouped-query attention less); the paper's counts are used for every family, as is common.
//! All results are bytes; convert with 2^30 for GiB.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// Which activations are recomputed in the backward pass instead of stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recompute {
    /// Store everything the backward needs.
    #[default]
    None,
    /// Recompute the attention scores, softmax and dropout (Korthikanti et al. 2022 §4.2).
    Selective,
    /// Store only each layer's input and recompute the whole layer (Chen et al. 2016).
    Full,
}

impl Recompute {
    /// Every strategy, cheapest in time first.
    pub const ALL: [Recompute; 3] = [Self::None, Self::Selective, Self::Full];
}

impl fmt::Display for Recompute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Selective => "selective",
            Self::Full => "full",
        })
    }
}

impl FromStr for Recompute {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "selective" => Ok(Self::Selective),
            "full" => Ok(Self::Full),
            _ => Err(Error::UnknownName {
                what: "recomputation",
                name: s.to_string(),
                expected: "none, selective, full".to_string(),
            }),
        }
    }
}

use crate::{Layout, ModelShape};

/// Activation bytes of one transformer layer for one micro-batch, 16-bit activations
/// (Korthikanti et al. 2022 Table 2; see the module docs).
pub fn layer_activation_bytes(shape: &ModelShape, layout: &Layout) -> f64 {
    let (s, b, h) = (layout.seq as f64, layout.micro_batch as f64, shape.d_model as f64);
    let (a, t) = (shape.n_head as f64, layout.tp as f64);
    let sbh = s * b * h;
    if layout.recompute == Recompute::Full {
        // Only the layer input is kept; sequence parallelism splits it over the t ranks.
        return if layout.sequence_parallel { 2.0 * sbh / t } else { 2.0 * sbh };
    }
    // The s×s scores, softmax output and dropout mask: 5as/h per sbh, split over t.
    let scores = if layout.recompute == Recompute::Selective || layout.flash_attention {
        0.0
    } else {
        5.0 * a * s / (h * t)
    };
    let rest = if layout.sequence_parallel { 34.0 / t } else { 10.0 + 24.0 / t };
    sbh * (rest + scores)
}

/// Activation bytes held by the busiest GPU (the first pipeline stage) at the peak of a step:
/// its layers' activations for every micro-batch in flight, the embedding's dropout mask, and
/// the output layer's logits when there is a single stage (Korthikanti et al. 2022 §4.2.3, §4.3).
/// `activation_bytes` is the bytes per value (2 for 16-bit training, 4 for fp32): Table 2 assumes 2.
pub fn activation_bytes_per_gpu(shape: &ModelShape, layout: &Layout, activation_bytes: f64) -> f64 {
    let (p, t) = (layout.pp as f64, layout.tp as f64);
    let (s, b, h) = (layout.seq as f64, layout.micro_batch as f64, shape.d_model as f64);
    let sbh = s * b * h;
    let layers_per_stage = shape.n_layer as f64 / p;
    // 1F1B: the first stage holds min(p, m) micro-batches' activations.
    let in_flight = p.min(layout.micro_batches() as f64);
    let interleave =
        if layout.interleave > 1 { 1.0 + (p - 1.0) / (p * layout.interleave as f64) } else { 1.0 };
    let layers = layers_per_stage * in_flight * interleave * layer_activation_bytes(shape, layout);
    // The embedding's dropout mask: sbh·p/t with sequence parallelism (§4.3); without it the
    // mask is replicated over the t ranks.
    let embedding = if layout.sequence_parallel { sbh * in_flight / t } else { sbh * in_flight };
    // Output layer: 4sbh/t · (1 + v/h) (§4.3), only on the first stage when p = 1.
    let output = if layout.pp == 1 { 4.0 * sbh / t * (1.0 + shape.vocab as f64 / h) } else { 0.0 };
    (layers + embedding + output) * activation_bytes / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Korthikanti et al. 2022 Table 3: GPT models with s = 2048, v = 51,200, t = 8, b = 1.
    fn korthikanti(heads: u64, hidden: u64, layers: u64, pp: u64) -> (ModelShape, Layout) {
        let shape = ModelShape::gpt2(layers, hidden, heads, 51_200, 2048, true).unwrap();
        let layout =
            Layout { tp: 8, pp, dp: 1, micro_batch: 1, ..Layout::single(pp.max(4) * 4, 2048) };
        (shape, layout)
    }

    #[test]
    fn table2_per_layer_175b() {
        // GPT-3 175B row of Table 3: a = 96, h = 12288, s = 2048, b = 1, t = 8.
        // sbh = 2048 · 12288 = 25,165,824; 5as/h = 5 · 96 · 2048 / 12288 = 80.
        let (shape, base) = korthikanti(96, 12288, 96, 8);
        let sbh = 25_165_824.0;
        // Tensor parallel only: sbh(10 + 24/8 + 80/8) = 23·sbh.
        assert_eq!(layer_activation_bytes(&shape, &base), 23.0 * sbh);
        // + sequence parallel: sbh(34/8 + 80/8) = 14.25·sbh.
        let sp = Layout { sequence_parallel: true, ..base };
        assert_eq!(layer_activation_bytes(&shape, &sp), 14.25 * sbh);
        // + selective recomputation: sbh·34/8.
        let sel = Layout { recompute: Recompute::Selective, ..sp };
        assert_eq!(layer_activation_bytes(&shape, &sel), 4.25 * sbh);
        // Tensor parallel + selective, no sequence parallel: sbh(10 + 24/8).
        let tsel = Layout { recompute: Recompute::Selective, ..base };
        assert_eq!(layer_activation_bytes(&shape, &tsel), 13.0 * sbh);
        // Full recomputation keeps the 2sbh layer input.
        let full = Layout { recompute: Recompute::Full, ..base };
        assert_eq!(layer_activation_bytes(&shape, &full), 2.0 * sbh);
        // Flash attention drops the 5as/h term like selective recomputation.
        let flash = Layout { flash_attention: true, ..sp };
        assert_eq!(layer_activation_bytes(&shape, &flash), 4.25 * sbh);
        // No parallelism at all: sbh(34 + 5as/h) = 114·sbh.
        let single = Layout::single(1, 2048);
        assert_eq!(layer_activation_bytes(&shape, &single), 114.0 * sbh);
    }

    #[test]
    fn five_fold_reduction_on_all_four_models() {
        // Korthikanti et al. 2022 abstract and Figure 7: sequence parallelism with selective
        // recomputation cuts activation memory about 5x against tensor parallelism alone for
        // their 22B, 175B, 530B and 1T models (Table 3: heads, hidden, layers, pipeline size).
        // Per layer the ratio is (10 + 24/8 + 5as/(8h)) / (34/8): 22B → 26.33/4.25 = 6.2,
        // 175B → 23/4.25 = 5.4, 530B and 1T → 21/4.25 = 4.9.
        for (heads, hidden, layers, pp, ratio) in [
            (64, 6144, 48, 1, 26.0 / 4.25 + 1.0 / (3.0 * 4.25)),
            (96, 12288, 96, 8, 23.0 / 4.25),
            (128, 20480, 105, 35, 21.0 / 4.25),
            (160, 25600, 128, 64, 21.0 / 4.25),
        ] {
            let (shape, base) = korthikanti(heads, hidden, layers, pp);
            let present =
                Layout { sequence_parallel: true, recompute: Recompute::Selective, ..base };
            let r =
                layer_activation_bytes(&shape, &base) / layer_activation_bytes(&shape, &present);
            assert!((r - ratio).abs() < 1e-9, "{heads} heads: {r} vs {ratio}");
            assert!((4.5..6.5).contains(&r));
        }
    }

    #[test]
    fn interleaved_schedule_factor() {
        // Korthikanti et al. 2022 §4.2.3: the interleaved schedule with m chunks per device
        // multiplies the first stage's layer activations by 1 + (p−1)/(p·m); 175B, p = 8, m = 2:
        // 1 + 7/16.
        let (shape, base) = korthikanti(96, 12288, 96, 8);
        let plain = Layout { sequence_parallel: true, recompute: Recompute::Selective, ..base };
        let inter = Layout { interleave: 2, ..plain };
        let sbh = 2048.0 * 12288.0;
        let embedding = sbh * 8.0 / 8.0;
        let layers = |l: &Layout| activation_bytes_per_gpu(&shape, l, 2.0) - embedding;
        assert!((layers(&inter) / layers(&plain) - (1.0 + 7.0 / 16.0)).abs() < 1e-12);
        // fp32 activations take twice the bytes.
        let ratio = activation_bytes_per_gpu(&shape, &plain, 4.0)
            / activation_bytes_per_gpu(&shape, &plain, 2.0);
        assert_eq!(ratio, 2.0);
    }

    #[test]
    fn first_stage_holds_all_layers_worth() {
        // §4.2.3: with 1F1B the first stage keeps p micro-batches of L/p layers: L layers in all,
        // independent of p; plus the embedding dropout mask sbh·p/t.
        // 530B: L = 105, p = 35, t = 8, sequence parallel + selective: sbhL·34/8 + sbh·35/8.
        let (shape, base) = korthikanti(128, 20480, 105, 35);
        let l = Layout { sequence_parallel: true, recompute: Recompute::Selective, ..base };
        assert!(l.micro_batches() >= 35);
        let sbh = 2048.0 * 20480.0;
        let expected = sbh * 105.0 * 34.0 / 8.0 + sbh * 35.0 / 8.0;
        let got = activation_bytes_per_gpu(&shape, &l, 2.0);
        assert!((got - expected).abs() < 1.0, "{got} vs {expected}");
        // = 18,900,582,400 bytes ≈ 17.60 GiB on each first-stage GPU.
        assert!((got / (1u64 << 30) as f64 - 17.60).abs() < 0.005);
    }
}
