//! Engines by name: the one place that maps `"candle"` / `"kernels"` to an implementation.

use crate::{CandleEngine, Device, Engine, Error, GptConfig, KernelEngine, PooledEngine, Result};

/// The engine names [`make_engine`] knows; the first is the default on the CPU.
pub const ENGINES: &[&str] = &["kernels", "candle"];

/// Builds the engine called `name` for a model of shape `cfg`, initialised from `seed`,
/// computing on `threads` threads of its own (at least 1; a run's resolved
/// [`crate::TrainConfig::threads`]) when it runs on the CPU.
pub fn make_engine(
    name: &str,
    cfg: GptConfig,
    seed: u64,
    device: Device,
    threads: usize,
) -> Result<Box<dyn Engine>> {
    match (name, device) {
        // On a GPU candle's threads only feed the device.
        ("candle", Device::Cuda(_)) => Ok(Box::new(CandleEngine::new(cfg, seed, device)?)),
        ("candle", Device::Cpu) => {
            let inner = Box::new(CandleEngine::new(cfg, seed, device)?);
            Ok(Box::new(PooledEngine::new(inner, threads)?))
        }
        ("kernels", Device::Cpu) => Ok(Box::new(KernelEngine::new(cfg, seed, threads)?)),
        ("kernels", Device::Cuda(_)) => Err(Error::InvalidTrainConfig(format!(
            "engine `kernels` runs on the CPU only; use `--engine candle` for device `{device}`"
        ))),
        _ => Err(Error::InvalidTrainConfig(format!(
            "unknown engine `{name}`: expected one of {}",
            ENGINES.join(", ")
        ))),
    }
}
