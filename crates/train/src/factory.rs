//! Engines by name: the one place that maps `"candle"` / `"kernels"` to an implementation.

use crate::{CandleEngine, Device, Engine, Error, GptConfig, KernelEngine, Result};

/// The engine names [`make_engine`] knows; the first is the default on the CPU.
pub const ENGINES: &[&str] = &["kernels", "candle"];

/// Builds the engine called `name` for a model of shape `cfg`, initialised from `seed`.
pub fn make_engine(
    name: &str,
    cfg: GptConfig,
    seed: u64,
    device: Device,
) -> Result<Box<dyn Engine>> {
    match name {
        "candle" => Ok(Box::new(CandleEngine::new(cfg, seed, device)?)),
        // The fused CPU kernels, on the compute threads the binary set (`crate::threads`).
        "kernels" => match device {
            Device::Cpu => Ok(Box::new(KernelEngine::new(cfg, seed, crate::threads())?)),
            Device::Cuda(_) => Err(Error::InvalidTrainConfig(format!(
                "engine `kernels` runs on the CPU only; use `--engine candle` for device `{device}`"
            ))),
        },
        _ => Err(Error::InvalidTrainConfig(format!(
            "unknown engine `{name}`: expected one of {}",
            ENGINES.join(", ")
        ))),
    }
}
