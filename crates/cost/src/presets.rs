//! Model presets, each with the configuration it is taken from.
//!
//! Parameter counts of the real checkpoints are tested in this file; `gpt3-175b` and
//! `chinchilla-70b` have no public checkpoint, so their counts are only compared with the
//! papers' rounded figures.

use crate::{Error, Family, ModelShape, Result};

/// Preset names, in display order.
pub const MODEL_PRESETS: [&str; 12] = [
    "gpt2",
    "gpt2-medium",
    "gpt2-large",
    "gpt2-xl",
    "gpt3-175b",
    "llama2-7b",
    "llama2-13b",
    "llama2-70b",
    "chinchilla-70b",
    "train-s",
    "train-m",
    "train-rung-<k>",
];

#[allow(clippy::too_many_arguments)]
fn llama(
    n_layer: u64,
    d_model: u64,
    n_head: u64,
    n_kv_heads: u64,
    d_ff: u64,
    vocab: u64,
    context: u64,
) -> ModelShape {
    ModelShape {
        family: Family::Llama,
        n_layer,
        d_model,
        n_head,
        n_kv_heads,
        head_dim: d_model / n_head,
        d_ff,
        vocab,
        context,
        tied_embeddings: false,
    }
}

/// A model preset by name; see [`MODEL_PRESETS`].
pub fn preset(name: &str) -> Result<ModelShape> {
    let gpt2 = |l, d, h, v, s, tied| ModelShape::gpt2(l, d, h, v, s, tied).expect("valid preset");
    let shape = match name.to_ascii_lowercase().as_str() {
        // Hugging Face `gpt2` config.json: n_layer 12, n_embd 768, n_head 12, vocab 50257,
        // n_positions 1024, tied head (Radford et al. 2019).
        "gpt2" | "gpt2-small" => gpt2(12, 768, 12, 50_257, 1024, true),
        // `gpt2-medium` config.json: 24 layers, 1024 wide, 16 heads.
        "gpt2-medium" => gpt2(24, 1024, 16, 50_257, 1024, true),
        // `gpt2-large` config.json: 36 layers, 1280 wide, 20 heads.
        "gpt2-large" => gpt2(36, 1280, 20, 50_257, 1024, true),
        // `gpt2-xl` config.json: 48 layers, 1600 wide, 25 heads.
        "gpt2-xl" => gpt2(48, 1600, 25, 50_257, 1024, true),
        // Brown et al. 2020 Table 2.1, GPT-3 175B: 96 layers, d_model 12288, 96 heads of 128,
        // context 2048, GPT-2's BPE vocabulary (50257), tied as in GPT-2.
        "gpt3-175b" | "gpt3" => gpt2(96, 12_288, 96, 50_257, 2048, true),
        // meta-llama/Llama-2-7b-hf config.json: 32 layers, hidden 4096, 32 heads,
        // intermediate 11008, vocab 32000, max_position_embeddings 4096, untied.
        "llama2-7b" => llama(32, 4096, 32, 32, 11_008, 32_000, 4096),
        // meta-llama/Llama-2-13b-hf config.json: 40 layers, hidden 5120, 40 heads,
        // intermediate 13824.
        "llama2-13b" => llama(40, 5120, 40, 40, 13_824, 32_000, 4096),
        // meta-llama/Llama-2-70b-hf config.json: 80 layers, hidden 8192, 64 heads,
        // num_key_value_heads 8, intermediate 28672.
        "llama2-70b" => llama(80, 8192, 64, 8, 28_672, 32_000, 4096),
        // Hoffmann et al. 2022 Table 4, Chinchilla: 80 layers, 64 heads, key/value size 128,
        // d_model 8192, feed-forward 4 × d_model, vocab 32,000 (SentencePiece, §4.1),
        // sequence 2048. Modelled in the GPT-2 family (2-matrix MLP); the paper's relative
        // position encodings (Transformer-XL, one more d×d projection per layer) are not
        // modelled, so the count is 64.7B against the paper's "70B".
        "chinchilla-70b" | "chinchilla" => gpt2(80, 8192, 64, 32_000, 2048, false),
        // The trainer's reference models (tools/torch_gpt_reference.py): byte
        // vocabulary 256, context 128, untied head. S = 4 layers × 128 (875,264 parameters),
        // M = 6 × 256 with 8 heads (4,902,912).
        "train-s" => gpt2(4, 128, 4, 256, 128, false),
        "train-m" => gpt2(6, 256, 8, 256, 128, false),
        // The trainer's ladder (crates/train/src/ladder.rs): rung k has k layers, d_model 32·k,
        // heads of width 32, byte vocabulary, context 128, untied head (rung 4 is S).
        other
            if other
                .strip_prefix("train-rung-")
                .is_some_and(|k| k.parse::<u64>().is_ok_and(|k| (1..=96).contains(&k))) =>
        {
            let k: u64 = other["train-rung-".len()..].parse().expect("checked");
            gpt2(k, 32 * k, k, 256, 128, false)
        }
        _ => {
            return Err(Error::UnknownName {
                what: "model preset",
                name: name.to_string(),
                expected: format!(
                    "{} (k = 1..96), or a .toml / config.json file",
                    MODEL_PRESETS.join(", ")
                ),
            });
        }
    };
    Ok(shape)
}

/// The names an [`crate::EstimateSpec`] accepts without a file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Presets {
    /// Model presets ([`MODEL_PRESETS`]; `train-rung-<k>` for k = 1..96).
    pub models: Vec<&'static str>,
    /// GPU presets ([`crate::HARDWARE_PRESETS`]) and `cpu`, measured on this machine.
    pub gpus: Vec<&'static str>,
}

/// Every model and GPU preset, in display order.
pub fn presets() -> Presets {
    let mut gpus = crate::HARDWARE_PRESETS.to_vec();
    gpus.push("cpu");
    Presets { models: MODEL_PRESETS.to_vec(), gpus }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(name: &str) -> u64 {
        preset(name).unwrap().params().total
    }

    #[test]
    fn gpt2_checkpoints() {
        // Sum of the tensor sizes in the Hugging Face checkpoints (model.num_parameters()):
        // gpt2 124,439,808; gpt2-medium 354,823,168; gpt2-large 774,030,080; gpt2-xl 1,557,611,200.
        assert_eq!(total("gpt2"), 124_439_808);
        assert_eq!(total("gpt2-medium"), 354_823_168);
        assert_eq!(total("gpt2-large"), 774_030_080);
        assert_eq!(total("gpt2-xl"), 1_557_611_200);
        // GPT-2 small's embeddings: 50257 · 768 tokens + 1024 · 768 positions.
        let p = preset("gpt2").unwrap().params();
        assert_eq!(p.embedding, 50_257 * 768 + 1024 * 768);
        assert_eq!(p.non_embedding, 124_439_808 - 39_383_808);
    }

    #[test]
    fn llama2_checkpoints() {
        // Touvron et al. 2023 model cards; the Hugging Face checkpoints' num_parameters():
        // 7B 6,738,415,616; 13B 13,015,864,320; 70B 68,976,648,192.
        assert_eq!(total("llama2-7b"), 6_738_415_616);
        assert_eq!(total("llama2-13b"), 13_015_864_320);
        assert_eq!(total("llama2-70b"), 68_976_648_192);
        // Llama-2-7B embedding: 32000 · 4096; the untied head counts as non-embedding.
        assert_eq!(preset("llama2-7b").unwrap().params().embedding, 131_072_000);
    }

    #[test]
    fn papers_without_checkpoints() {
        // GPT-3 175B (Brown et al. 2020 Table 2.1 "175.0B"): 96 · (12·12288² + 13·12288) +
        // 50257·12288 + 2048·12288 + 2·12288 = 174,604,259,328 (0.2% under the rounded figure).
        assert_eq!(total("gpt3-175b"), 174_604_259_328);
        // Chinchilla (Hoffmann et al. 2022 Table 4 "70B"): see the preset's comment.
        let ch = total("chinchilla-70b") as f64;
        assert!((ch / 70e9 - 0.925).abs() < 0.01, "{ch}");
    }

    #[test]
    fn trainer_ladder() {
        // tools/torch_gpt_reference.py: S 875,264 and M 4,902,912 parameters.
        assert_eq!(total("train-s"), 875_264);
        assert_eq!(total("train-m"), 4_902_912);
        // crates/train/src/ladder.rs's table: rung 1 33,248; rung 4 = S; rung 8 6,482,432.
        assert_eq!(total("train-rung-1"), 33_248);
        assert_eq!(preset("train-rung-4").unwrap(), preset("train-s").unwrap());
        assert_eq!(total("train-rung-8"), 6_482_432);
        assert!(preset("train-rung-0").is_err() && preset("train-rung-97").is_err());
        for name in MODEL_PRESETS.iter().map(|n| n.replace("<k>", "12")) {
            preset(&name).unwrap().validate().unwrap();
        }
        let err = preset("gpt5").unwrap_err().to_string();
        assert!(err.contains("unknown model preset `gpt5`") && err.contains("llama2-7b"), "{err}");
    }
}
