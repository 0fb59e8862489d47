//! Where an engine computes: the CPU, or an NVIDIA GPU through candle's CUDA backend.
//!
//! CUDA needs a build with the `cuda` cargo feature (`cargo build --release --features cuda`)
//! and a GPU; asking for it otherwise is an [`Error::Device`] that says which is missing.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(into = "String", try_from = "String")]
pub enum Device {
    /// The CPU (all engines).
    #[default]
    Cpu,
    /// NVIDIA GPU number `n` (candle engine, `cuda` feature).
    Cuda(usize),
}

impl Device {
    /// Whether this build can use CUDA at all.
    pub const fn cuda_compiled() -> bool {
        cfg!(feature = "cuda")
    }

    /// Checks that this device can be used now (a GPU with the `cuda` feature, for CUDA).
    pub fn ensure_available(self) -> Result<()> {
        self.to_candle().map(|_| ())
    }

    /// The candle device, or an error saying why it cannot be had.
    pub(crate) fn to_candle(self) -> Result<candle_core::Device> {
        match self {
            Device::Cpu => Ok(candle_core::Device::Cpu),
            Device::Cuda(n) => {
                if !Self::cuda_compiled() {
                    return Err(Error::Device(format!(
                        "device `{self}` needs a build with CUDA support: this isoflop was built \
                         without the `cuda` feature (rebuild with `cargo build --release \
                         --features cuda` on a machine with the CUDA toolkit)"
                    )));
                }
                candle_core::Device::new_cuda(n).map_err(|e| {
                    Error::Device(format!(
                        "cannot open CUDA device {n} (is there an NVIDIA GPU?): {e}"
                    ))
                })
            }
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(0) => write!(f, "cuda"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s.strip_prefix("cuda:").and_then(|n| n.parse().ok()).map(Device::Cuda).ok_or_else(
                || Error::Device(format!("unknown device `{s}`: expected cpu, cuda or cuda:N")),
            ),
        }
    }
}

impl From<Device> for String {
    fn from(d: Device) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for Device {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for s in ["cpu", "cuda", "cuda:3"] {
            assert_eq!(s.parse::<Device>().unwrap().to_string(), s);
        }
        assert!("gpu".parse::<Device>().is_err());
        assert!("cuda:x".parse::<Device>().is_err());
    }

    #[test]
    fn cuda_without_feature_is_a_clear_error() {
        if !Device::cuda_compiled() {
            let err = Device::Cuda(0).to_candle().unwrap_err().to_string();
            assert!(err.contains("`cuda` feature"), "{err}");
        }
    }
}
