//! Stored weights: checkpoints and quantized copies.
//!
//! Bytes per parameter for a format, with group-wise scales for the integer formats (each
//! group of g consecutive weights of a row shares its scale):
//!
//! - fp32 4, bf16/fp16 2, fp8 1 (one per-tensor scale, negligible);
//! - int8: symmetric, 1 byte + one fp16 scale per group: `1 + 2/g` (LLM.int8()-style
//!   absmax, Dettmers et al. 2022, applied per group);
//! - int4: asymmetric, half a byte + one fp16 scale and one 4-bit zero point per group:
//!   `0.5 + 2.5/g` (the GPTQ / AWQ packing, Frantar et al. 2023, Lin et al. 2024; g = 128 is
//!   their default).
//!
//! Every parameter is counted in the format, embeddings and norms included (a lower bound for
//! tools that keep those in 16 bits). Bytes; GB = 10^9 and GiB = 2^30 are labelled wherever shown.

use crate::{Error, Precision, Result};
use serde::{Deserialize, Serialize};

/// GPTQ's and AWQ's default group size.
pub const DEFAULT_GROUP_SIZE: u64 = 128;

/// A weight storage format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantization {
    /// Value format.
    pub precision: Precision,
    /// Weights sharing one scale (integer formats only).
    pub group_size: u64,
}

impl Quantization {
    /// A format, checking that the group size is positive.
    pub fn new(precision: Precision, group_size: u64) -> Result<Self> {
        if group_size == 0 {
            return Err(Error::InvalidShape("group size must be positive, got 0".to_string()));
        }
        Ok(Self { precision, group_size })
    }

    /// Bytes per parameter, scales included.
    pub fn bytes_per_param(&self) -> f64 {
        let g = self.group_size as f64;
        match self.precision {
            Precision::Int8 => 1.0 + 2.0 / g,
            Precision::Int4 => 0.5 + 2.5 / g,
            p => p.bytes(),
        }
    }

    /// Bytes of `params` parameters in this format.
    pub fn bytes(&self, params: u64) -> f64 {
        params as f64 * self.bytes_per_param()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama2_7b_checkpoints() {
        // 6,738,415,616 parameters: 13,476,831,232 bytes in bf16 (the size of the Hugging Face
        // meta-llama/Llama-2-7b-hf safetensors shards, 13.48 GB), 26,953,662,464 in fp32.
        let n = 6_738_415_616;
        assert_eq!(Quantization::new(Precision::Bf16, 128).unwrap().bytes(n), 13_476_831_232.0);
        assert_eq!(Quantization::new(Precision::Fp32, 128).unwrap().bytes(n), 26_953_662_464.0);
        // int4, g = 128: n · (0.5 + 2.5/128) = 3,369,207,808 + 131,609,680 bytes.
        let q4 = Quantization::new(Precision::Int4, 128).unwrap().bytes(n);
        assert_eq!(q4, 3_369_207_808.0 + 131_609_680.0);
        // int8, g = 64: n · (1 + 2/64).
        let q8 = Quantization::new(Precision::Int8, 64).unwrap().bytes(n);
        assert_eq!(q8, n as f64 * 1.03125);
        assert!(Quantization::new(Precision::Int4, 0).is_err());
    }
}
