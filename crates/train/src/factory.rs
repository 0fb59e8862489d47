//! Engines by kind: the one place that maps an [`EngineKind`] to an implementation.

use crate::{
    CandleEngine, Device, Engine, EngineKind, GptConfig, KernelEngine, PooledEngine, Result,
};

/// Builds the engine `kind` for a model of shape `cfg`, initialised from `seed`,
/// computing on `threads` threads of its own (at least 1; a run's resolved
/// [`crate::TrainConfig::threads`]) when it runs on the CPU.
pub fn make_engine(
    kind: EngineKind,
    cfg: GptConfig,
    seed: u64,
    device: Device,
    threads: usize,
) -> Result<Box<dyn Engine>> {
    kind.check_device(device)?;
    match (kind, device) {
        // On a GPU candle's threads only feed the device.
        (EngineKind::Candle, Device::Cuda(_)) => {
            Ok(Box::new(CandleEngine::new(cfg, seed, device)?))
        }
        (EngineKind::Candle, Device::Cpu) => {
            let inner = Box::new(CandleEngine::new(cfg, seed, device)?);
            Ok(Box::new(PooledEngine::new(inner, threads)?))
        }
        (EngineKind::Kernels, _) => Ok(Box::new(KernelEngine::new(cfg, seed, threads)?)),
    }
}
