//! Reading a Hugging Face `config.json`.
//!
//! Two families are understood, by `model_type`:
//! - `gpt2`: `n_layer`, `n_embd`, `n_head`, `vocab_size`, `n_positions`, `n_inner` (null means
//!   4·d), `tie_word_embeddings` (default true), as in transformers' `GPT2Config`;
//! - `llama` and `mistral` (same parameter layout): `num_hidden_layers`, `hidden_size`,
//!   `num_attention_heads`, `num_key_value_heads` (default: the heads), `head_dim` (default
//!   hidden/heads), `intermediate_size`, `vocab_size`, `max_position_embeddings`,
//!   `tie_word_embeddings` (default false), as in `LlamaConfig`. A config with
//!   `attention_bias` or `mlp_bias` set is refused: those biases are not counted.

use crate::{Error, Family, ModelShape, Result};
use serde_json::Value;

/// Reads a shape from the text of a `config.json`; `origin` names the file in errors.
pub fn from_hf_config(text: &str, origin: &str) -> Result<ModelShape> {
    let parse_err = |message: String| Error::Parse { origin: origin.to_string(), message };
    let v: Value = serde_json::from_str(text).map_err(|e| parse_err(e.to_string()))?;
    let uint = |key: &str| -> Result<u64> {
        match v.get(key) {
            Some(x) => x.as_u64().ok_or_else(|| {
                parse_err(format!("`{key}` must be a non-negative integer, got {x}"))
            }),
            None => Err(parse_err(format!("missing `{key}`"))),
        }
    };
    let opt_uint = |key: &str| -> Result<Option<u64>> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => uint(key).map(Some),
        }
    };
    let flag = |key: &str, default: bool| -> Result<bool> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(x) => {
                x.as_bool().ok_or_else(|| parse_err(format!("`{key}` must be a boolean, got {x}")))
            }
        }
    };
    let model_type = v.get("model_type").and_then(Value::as_str).unwrap_or("");
    let shape = match model_type {
        "gpt2" => {
            let d = uint("n_embd")?;
            let n_head = uint("n_head")?;
            if n_head == 0 || !d.is_multiple_of(n_head) {
                return Err(parse_err(format!("n_head = {n_head} does not divide n_embd = {d}")));
            }
            ModelShape {
                family: Family::Gpt2,
                n_layer: uint("n_layer")?,
                d_model: d,
                n_head,
                n_kv_heads: n_head,
                head_dim: d / n_head,
                d_ff: opt_uint("n_inner")?.unwrap_or(d.saturating_mul(4)),
                vocab: uint("vocab_size")?,
                context: uint("n_positions")?,
                tied_embeddings: flag("tie_word_embeddings", true)?,
            }
        }
        "llama" | "mistral" => {
            for key in ["attention_bias", "mlp_bias"] {
                if flag(key, false)? {
                    return Err(parse_err(format!(
                        "`{key}` = true is not supported (biases are not counted)"
                    )));
                }
            }
            let d = uint("hidden_size")?;
            let n_head = uint("num_attention_heads")?;
            let head_dim = match opt_uint("head_dim")? {
                Some(h) => h,
                None if n_head > 0 && d.is_multiple_of(n_head) => d / n_head,
                None => {
                    return Err(parse_err(format!(
                        "num_attention_heads = {n_head} does not divide hidden_size = {d} and no head_dim is given"
                    )));
                }
            };
            ModelShape {
                family: Family::Llama,
                n_layer: uint("num_hidden_layers")?,
                d_model: d,
                n_head,
                n_kv_heads: opt_uint("num_key_value_heads")?.unwrap_or(n_head),
                head_dim,
                d_ff: uint("intermediate_size")?,
                vocab: uint("vocab_size")?,
                context: uint("max_position_embeddings")?,
                tied_embeddings: flag("tie_word_embeddings", false)?,
            }
        }
        other => {
            return Err(parse_err(format!(
                "model_type `{other}` is not supported; expected gpt2, llama or mistral"
            )));
        }
    };
    shape.validate().map_err(|e| parse_err(e.to_string()))?;
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_and_llama_configs() {
        // The fields of Hugging Face's `gpt2` config.json (n_inner null, tied by default).
        let gpt2 = r#"{"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12,
            "n_inner": null, "vocab_size": 50257, "n_positions": 1024, "n_ctx": 1024}"#;
        assert_eq!(from_hf_config(gpt2, "gpt2.json").unwrap().params().total, 124_439_808);
        // meta-llama/Llama-2-70b-hf config.json.
        let llama = r#"{"model_type": "llama", "num_hidden_layers": 80, "hidden_size": 8192,
            "num_attention_heads": 64, "num_key_value_heads": 8, "intermediate_size": 28672,
            "vocab_size": 32000, "max_position_embeddings": 4096, "tie_word_embeddings": false,
            "attention_bias": false}"#;
        let s = from_hf_config(llama, "70b.json").unwrap();
        assert_eq!(s.params().total, 68_976_648_192);
        assert_eq!(s, crate::preset("llama2-70b").unwrap());
    }

    #[test]
    fn errors_name_file_and_key() {
        let err = from_hf_config(r#"{"model_type": "llama"}"#, "x.json").unwrap_err().to_string();
        assert!(err.contains("x.json") && err.contains("missing `hidden_size`"), "{err}");
        let err = from_hf_config(r#"{"model_type": "t5"}"#, "t5.json").unwrap_err().to_string();
        assert!(err.contains("model_type `t5` is not supported"), "{err}");
        let err = from_hf_config("{\n  \"model_type\": ", "cut.json").unwrap_err().to_string();
        assert!(err.contains("cut.json") && err.contains("line 2"), "{err}");
        let neg = r#"{"model_type": "gpt2", "n_layer": -1, "n_embd": 768, "n_head": 12,
            "vocab_size": 50257, "n_positions": 1024}"#;
        let err = from_hf_config(neg, "neg.json").unwrap_err().to_string();
        assert!(err.contains("`n_layer` must be a non-negative integer, got -1"), "{err}");
    }
}
