//! Which engine trains a model: parsed once from a flag or a file, then carried as this enum.

use crate::{Device, Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A training engine.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(into = "String", try_from = "String")]
pub enum EngineKind {
    /// The fused CPU kernels (`kernels/`): the fast default.
    #[default]
    Kernels,
    /// candle's autograd: the reference, and the engine that runs on CUDA.
    Candle,
}

impl EngineKind {
    /// Every engine, the default first.
    pub const ALL: [EngineKind; 2] = [EngineKind::Kernels, EngineKind::Candle];

    /// The engine's name (`kernels`, `candle`), as flags, files and stored runs write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            EngineKind::Kernels => "kernels",
            EngineKind::Candle => "candle",
        }
    }

    /// Checks that the engine runs on `device` (the kernels run on the CPU only).
    pub fn check_device(self, device: Device) -> Result<()> {
        match (self, device) {
            (EngineKind::Kernels, Device::Cuda(_)) => Err(Error::InvalidTrainConfig(format!(
                "engine `kernels` runs on the CPU only; use engine `candle` for device `{device}`"
            ))),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EngineKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|e| e.as_str()).collect();
            Error::InvalidTrainConfig(format!(
                "unknown engine `{s}`: expected one of {}",
                names.join(", ")
            ))
        })
    }
}

impl From<EngineKind> for String {
    fn from(e: EngineKind) -> String {
        e.as_str().to_string()
    }
}

impl TryFrom<String> for EngineKind {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for e in EngineKind::ALL {
            assert_eq!(e.as_str().parse::<EngineKind>().unwrap(), e);
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{e}\""));
        }
        let err = "cuda".parse::<EngineKind>().unwrap_err().to_string();
        assert!(err.contains("unknown engine `cuda`: expected one of kernels, candle"), "{err}");
        assert!(serde_json::from_str::<EngineKind>("\"gpu\"").is_err());
        assert!(EngineKind::Kernels.check_device(Device::Cuda(0)).is_err());
        assert!(EngineKind::Candle.check_device(Device::Cuda(0)).is_ok());
    }
}
