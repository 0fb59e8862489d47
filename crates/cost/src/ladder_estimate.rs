//! The size ladder as an estimate: each rung's tokens from a [`TokensRule`] (by default
//! [`crate::rules::TOKENS_PER_PARAM`] per parameter), the rows of [`crate::ladder()`], and the
//! power laws through them.

use crate::rules::TOKENS_PER_PARAM;
use crate::{EstimateSpec, FlopConvention, Hardware, Result};
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

/// The ladder `spec` asks for, on `hw` at `mfu`.
pub(crate) fn ladder(
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
