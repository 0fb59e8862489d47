//! Engines by name: the one place that maps `"candle"` / `"kernels"` to an implementation.

use crate::{CandleEngine, Device, Engine, Error, GptConfig, Result};

/// The engine names [`make_engine`] knows.
pub const ENGINES: &[&str] = &["candle"];

/// Builds the engine called `name` for a model of shape `cfg`, initialised from `seed`.
pub fn make_engine(
    name: &str,
    cfg: GptConfig,
    seed: u64,
    device: Device,
) -> Result<Box<dyn Engine>> {
    match name {
        "candle" => Ok(Box::new(CandleEngine::new(cfg, seed, device)?)),
        _ => Err(Error::InvalidTrainConfig(format!(
            "unknown engine `{name}`: expected one of {}",
            ENGINES.join(", ")
        ))),
    }
}
