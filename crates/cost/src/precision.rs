//! Number formats and training precision recipes.
//!
//! Bytes per parameter of the training state, after Rajbhandari et al. 2020 (ZeRO) §3.1:
//!
//! | recipe       | weights | gradients | optimizer state                          | total |
//! |--------------|---------|-----------|------------------------------------------|-------|
//! | `fp32`       | 4       | 4         | Adam m, v in fp32: 8                     | 16    |
//! | `bf16-adam`  | 2       | 2         | fp32 master + m + v: 12 (ZeRO's K = 12)  | 16    |
//! | `adam8bit`   | 2       | 2         | fp32 master 4 + m, v in 8 bits: 2, plus one fp32 scale per 2048-value block per state | ≈6.004 |
//!
//! 8-bit Adam is Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization" (block size
//! 2048, §2.1). Activations are 2 bytes under the 16-bit recipes and 4 under `fp32`.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A number format for weights, activations or the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// IEEE single precision, 4 bytes.
    Fp32,
    /// bfloat16, 2 bytes.
    Bf16,
    /// IEEE half precision, 2 bytes.
    Fp16,
    /// 8-bit floating point (E4M3/E5M2), 1 byte.
    Fp8,
    /// 8-bit integer, 1 byte (plus scales when stored group-wise, see `storage`).
    Int8,
    /// 4-bit integer, half a byte (plus scales).
    Int4,
}

impl Precision {
    /// Every format, widest first.
    pub const ALL: [Precision; 6] =
        [Self::Fp32, Self::Bf16, Self::Fp16, Self::Fp8, Self::Int8, Self::Int4];

    /// Bytes per value, without scales.
    pub fn bytes(self) -> f64 {
        match self {
            Self::Fp32 => 4.0,
            Self::Bf16 | Self::Fp16 => 2.0,
            Self::Fp8 | Self::Int8 => 1.0,
            Self::Int4 => 0.5,
        }
    }

    /// Whether values are integers that need a scale per group to be dequantised.
    pub fn is_integer(self) -> bool {
        matches!(self, Self::Int8 | Self::Int4)
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
            Self::Fp16 => "fp16",
            Self::Fp8 => "fp8",
            Self::Int8 => "int8",
            Self::Int4 => "int4",
        })
    }
}

impl FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|p| p.to_string() == s.to_ascii_lowercase()).ok_or_else(|| {
            Error::UnknownName {
                what: "precision",
                name: s.to_string(),
                expected: "fp32, bf16, fp16, fp8, int8, int4".to_string(),
            }
        })
    }
}

/// How the training state is stored: see the table in the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainRecipe {
    /// Everything in fp32 with Adam.
    Fp32,
    /// bf16 weights and gradients, fp32 master weights and Adam moments (16 bytes/param).
    #[default]
    Bf16Adam,
    /// bf16 weights and gradients, fp32 master weights, block-wise 8-bit Adam moments.
    Adam8bit,
}

/// Dettmers et al. 2022 §2.1: one fp32 absolute-maximum scale per block of 2048 values.
const ADAM8BIT_BLOCK: f64 = 2048.0;

impl TrainRecipe {
    /// Every recipe.
    pub const ALL: [TrainRecipe; 3] = [Self::Fp32, Self::Bf16Adam, Self::Adam8bit];

    /// Bytes per parameter of the working weights.
    pub fn weight_bytes(self) -> f64 {
        match self {
            Self::Fp32 => 4.0,
            Self::Bf16Adam | Self::Adam8bit => 2.0,
        }
    }

    /// Bytes per parameter of the gradients.
    pub fn grad_bytes(self) -> f64 {
        self.weight_bytes()
    }

    /// Bytes per parameter of the optimizer state (master weights included).
    pub fn optimizer_bytes(self) -> f64 {
        match self {
            Self::Fp32 => 8.0,
            Self::Bf16Adam => 12.0,
            Self::Adam8bit => 4.0 + 2.0 + 2.0 * 4.0 / ADAM8BIT_BLOCK,
        }
    }

    /// Bytes per stored activation value.
    pub fn activation_bytes(self) -> f64 {
        self.compute_precision().bytes()
    }

    /// The format the matrix multiplies run in (selects the hardware peak).
    pub fn compute_precision(self) -> Precision {
        match self {
            Self::Fp32 => Precision::Fp32,
            Self::Bf16Adam | Self::Adam8bit => Precision::Bf16,
        }
    }
}

impl fmt::Display for TrainRecipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fp32 => "fp32",
            Self::Bf16Adam => "bf16-adam",
            Self::Adam8bit => "adam8bit",
        })
    }
}

impl FromStr for TrainRecipe {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|r| r.to_string() == s.to_ascii_lowercase()).ok_or_else(|| {
            Error::UnknownName {
                what: "training recipe",
                name: s.to_string(),
                expected: "fp32, bf16-adam, adam8bit".to_string(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_paper_sixteen_bytes() {
        // Rajbhandari et al. 2020 §3.1: mixed-precision Adam holds 2Ψ + 2Ψ + KΨ with K = 12.
        let r = TrainRecipe::Bf16Adam;
        assert_eq!(r.weight_bytes() + r.grad_bytes() + r.optimizer_bytes(), 16.0);
        assert_eq!(TrainRecipe::Fp32.optimizer_bytes() + 8.0, 16.0);
        // Dettmers et al. 2022: 8-bit states take a quarter of the 32-bit states' 8 bytes.
        let eight = TrainRecipe::Adam8bit.optimizer_bytes() - 4.0;
        assert!((eight - 2.0).abs() < 0.01);
    }

    #[test]
    fn names_round_trip() {
        for p in Precision::ALL {
            assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
        }
        for r in TrainRecipe::ALL {
            assert_eq!(r.to_string().parse::<TrainRecipe>().unwrap(), r);
        }
        assert!("fp64".parse::<Precision>().is_err());
    }
}
