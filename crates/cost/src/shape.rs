//! A decoder-only transformer's shape.
//!
//! Two families cover the models people plan with:
//! - `gpt2`: LayerNorm (weight and bias), GELU MLP of width 4·d, learned positions, biases on
//!   every linear layer (Radford et al. 2019).
//! - `llama`: RMSNorm (weight only), SwiGLU MLP with an intermediate size, rotary positions (no
//!   parameters), grouped-query attention with `n_kv_heads`, no biases (Touvron et al. 2023).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Architecture family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// GPT-2: LayerNorm, GELU MLP, learned positions, biases.
    Gpt2,
    /// Llama: RMSNorm, SwiGLU, RoPE, grouped-query attention, no biases.
    Llama,
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::Gpt2 => "gpt2",
            Family::Llama => "llama",
        })
    }
}

/// The shape of a decoder-only transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelShape {
    /// Architecture family.
    pub family: Family,
    /// Number of transformer blocks.
    pub n_layer: u64,
    /// Residual stream width.
    pub d_model: u64,
    /// Query heads.
    pub n_head: u64,
    /// Key/value heads (grouped-query attention); equals `n_head` for multi-head attention.
    pub n_kv_heads: u64,
    /// Width of one head (usually `d_model / n_head`).
    pub head_dim: u64,
    /// MLP hidden width (4·d for GPT-2; the intermediate size for Llama).
    pub d_ff: u64,
    /// Vocabulary size.
    pub vocab: u64,
    /// Context length (also the learned position table's size for GPT-2).
    pub context: u64,
    /// Whether the output head shares the token embedding's weights.
    pub tied_embeddings: bool,
}

impl ModelShape {
    /// A GPT-2 family shape with head_dim = d_model / n_head and d_ff = 4·d_model.
    pub fn gpt2(
        n_layer: u64,
        d_model: u64,
        n_head: u64,
        vocab: u64,
        context: u64,
        tied_embeddings: bool,
    ) -> Result<Self> {
        if n_head == 0 || !d_model.is_multiple_of(n_head) {
            return Err(Error::InvalidShape(format!(
                "n_head = {n_head} does not divide d_model = {d_model}"
            )));
        }
        let shape = Self {
            family: Family::Gpt2,
            n_layer,
            d_model,
            n_head,
            n_kv_heads: n_head,
            head_dim: d_model / n_head,
            d_ff: d_model.saturating_mul(4),
            vocab,
            context,
            tied_embeddings,
        };
        shape.validate()?;
        Ok(shape)
    }

    /// Checks that every size is positive and the heads are consistent.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("n_layer", self.n_layer),
            ("d_model", self.d_model),
            ("n_head", self.n_head),
            ("n_kv_heads", self.n_kv_heads),
            ("head_dim", self.head_dim),
            ("d_ff", self.d_ff),
            ("vocab", self.vocab),
            ("context", self.context),
        ] {
            if v == 0 {
                return Err(Error::InvalidShape(format!("{name} must be positive, got 0")));
            }
        }
        // Counts are exact u64 arithmetic: refuse shapes whose products could overflow it
        // long before they do (1e15 parameters is some 500 times the largest model trained).
        let (d, q) = (self.d_model as f64, self.n_head as f64 * self.head_dim as f64);
        let rough = self.n_layer as f64 * (4.0 * d * q + 3.0 * d * self.d_ff as f64)
            + (2.0 * self.vocab as f64 + self.context as f64) * d;
        let widths =
            [self.d_model, self.n_head, self.head_dim, self.d_ff, self.vocab, self.context];
        if rough > 1e15 || widths.iter().any(|&w| w > 1 << 32) {
            return Err(Error::InvalidShape(format!(
                "about {rough:.3e} parameters (n_layer {}, d_model {}, d_ff {}, vocab {}): \
                 sizes beyond 1e15 parameters or 2^32 per dimension are refused",
                self.n_layer, self.d_model, self.d_ff, self.vocab
            )));
        }
        if !self.n_head.is_multiple_of(self.n_kv_heads) {
            return Err(Error::InvalidShape(format!(
                "n_kv_heads = {} does not divide n_head = {}",
                self.n_kv_heads, self.n_head
            )));
        }
        Ok(())
    }
}

/// A shape with every field optional: what a TOML file or the command line gives. Configuration
/// flows defaults → preset or file → flags ([`ShapeSpec::merge`]) → [`ShapeSpec::resolve`],
/// which fills the derived fields and validates.
///
/// Defaults: `family` gpt2; `n_kv_heads` = `n_head`; `head_dim` = `d_model / n_head` (which
/// must then divide); `d_ff` = 4·d for gpt2 and, for llama, ⅔ of 4·d rounded up to a multiple of
/// 256 (Llama's `multiple_of`, giving 11008 for d = 4096); `tied_embeddings` true for gpt2,
/// false for llama.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeSpec {
    /// Architecture family.
    pub family: Option<Family>,
    /// Number of transformer blocks.
    pub n_layer: Option<u64>,
    /// Residual stream width.
    pub d_model: Option<u64>,
    /// Query heads.
    pub n_head: Option<u64>,
    /// Key/value heads.
    pub n_kv_heads: Option<u64>,
    /// Width of one head.
    pub head_dim: Option<u64>,
    /// MLP hidden width.
    pub d_ff: Option<u64>,
    /// Vocabulary size.
    pub vocab: Option<u64>,
    /// Context length.
    pub context: Option<u64>,
    /// Whether the head shares the token embedding.
    pub tied_embeddings: Option<bool>,
}

fn default_d_ff(family: Family, d_model: u64) -> u64 {
    match family {
        Family::Gpt2 => d_model.saturating_mul(4),
        // Touvron et al. 2023 (Llama's FeedForward): hidden = 2/3 · 4d, rounded up to 256.
        Family::Llama => (d_model.saturating_mul(8) / 3).div_ceil(256).saturating_mul(256),
    }
}

impl ShapeSpec {
    /// The spec of a resolved shape, leaving derived fields (`head_dim`, `d_ff`, `n_kv_heads`
    /// equal to their defaults) unset so that overriding `d_model` or `n_head` re-derives them.
    pub fn from_shape(shape: &ModelShape) -> Self {
        let derived_head = shape.d_model.is_multiple_of(shape.n_head)
            && shape.head_dim == shape.d_model / shape.n_head;
        Self {
            family: Some(shape.family),
            n_layer: Some(shape.n_layer),
            d_model: Some(shape.d_model),
            n_head: Some(shape.n_head),
            n_kv_heads: (shape.n_kv_heads != shape.n_head).then_some(shape.n_kv_heads),
            head_dim: (!derived_head).then_some(shape.head_dim),
            d_ff: (shape.d_ff != default_d_ff(shape.family, shape.d_model)).then_some(shape.d_ff),
            vocab: Some(shape.vocab),
            context: Some(shape.context),
            tied_embeddings: Some(shape.tied_embeddings),
        }
    }

    /// Reads a spec from TOML; `origin` names the file in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text)
            .map_err(|e| Error::Parse { origin: origin.to_string(), message: e.to_string() })
    }

    /// `self` with every field that `over` sets replaced.
    pub fn merge(self, over: &ShapeSpec) -> Self {
        Self {
            family: over.family.or(self.family),
            n_layer: over.n_layer.or(self.n_layer),
            d_model: over.d_model.or(self.d_model),
            n_head: over.n_head.or(self.n_head),
            n_kv_heads: over.n_kv_heads.or(self.n_kv_heads),
            head_dim: over.head_dim.or(self.head_dim),
            d_ff: over.d_ff.or(self.d_ff),
            vocab: over.vocab.or(self.vocab),
            context: over.context.or(self.context),
            tied_embeddings: over.tied_embeddings.or(self.tied_embeddings),
        }
    }

    /// Fills the defaults and validates.
    pub fn resolve(&self) -> Result<ModelShape> {
        let need = |name: &str, v: Option<u64>| {
            v.ok_or_else(|| Error::InvalidShape(format!("{name} is not given")))
        };
        let family = self.family.unwrap_or(Family::Gpt2);
        let n_layer = need("n_layer", self.n_layer)?;
        let d_model = need("d_model", self.d_model)?;
        let n_head = need("n_head", self.n_head)?;
        let vocab = need("vocab", self.vocab)?;
        let context = need("context", self.context)?;
        if n_head == 0 {
            return Err(Error::InvalidShape("n_head must be positive, got 0".to_string()));
        }
        let head_dim = match self.head_dim {
            Some(h) => h,
            None if d_model.is_multiple_of(n_head) => d_model / n_head,
            None => {
                return Err(Error::InvalidShape(format!(
                    "n_head = {n_head} does not divide d_model = {d_model} (give head_dim to \
                     use heads of another width)"
                )));
            }
        };
        let shape = ModelShape {
            family,
            n_layer,
            d_model,
            n_head,
            n_kv_heads: self.n_kv_heads.unwrap_or(n_head),
            head_dim,
            d_ff: self.d_ff.unwrap_or_else(|| default_d_ff(family, d_model)),
            vocab,
            context,
            tied_embeddings: self.tied_embeddings.unwrap_or(family == Family::Gpt2),
        };
        shape.validate()?;
        Ok(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_defaults_and_overrides() {
        // Llama's rule gives 11008 for d = 4096 (Llama-2-7B config.json intermediate_size).
        let spec = ShapeSpec::from_toml_str(
            "family = \"llama\"\nn_layer = 32\nd_model = 4096\nn_head = 32\nvocab = 32000\ncontext = 4096\n",
            "7b.toml",
        )
        .unwrap();
        let shape = spec.resolve().unwrap();
        assert_eq!(shape.params().total, 6_738_415_616);
        // Round trip through the spec of a preset; overriding d_model re-derives d_ff.
        let again = ShapeSpec::from_shape(&shape);
        assert_eq!(again.resolve().unwrap(), shape);
        let wider =
            again.merge(&ShapeSpec { d_model: Some(5120), n_head: Some(40), ..Default::default() });
        assert_eq!(wider.resolve().unwrap().d_ff, 13_824);
    }

    #[test]
    fn spec_errors_name_the_field() {
        let base = ShapeSpec {
            n_layer: Some(2),
            d_model: Some(100),
            n_head: Some(3),
            vocab: Some(10),
            context: Some(8),
            ..Default::default()
        };
        let err = base.resolve().unwrap_err().to_string();
        assert!(err.contains("n_head = 3 does not divide d_model = 100"), "{err}");
        // An explicit head_dim lifts the requirement.
        ShapeSpec { head_dim: Some(32), ..base.clone() }.resolve().unwrap();
        let err = ShapeSpec { n_layer: Some(0), n_head: Some(4), ..base.clone() }
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(err.contains("n_layer must be positive"), "{err}");
        let huge = ShapeSpec { n_layer: Some(1 << 40), n_head: Some(4), ..base.clone() };
        let err = huge.resolve().unwrap_err().to_string();
        assert!(err.contains("beyond 1e15 parameters"), "{err}");
        let err = ShapeSpec::from_toml_str("n_layer = -3\n", "neg.toml").unwrap_err().to_string();
        assert!(err.contains("neg.toml") && err.contains("line 1"), "{err}");
        let err = ShapeSpec::from_toml_str("layers = 3\n", "typo.toml").unwrap_err().to_string();
        assert!(err.contains("unknown field `layers`"), "{err}");
    }
}
