//! The memory a training run needs, estimated before anything is allocated, and the guard that
//! refuses a run the machine cannot hold (an allocation failure would abort the whole process,
//! and in a sweep leave the run `running`).
//!
//! The estimate is isoflop-cost's, for one device holding everything in fp32
//! (`TrainRecipe::Fp32`: 4-byte weights and gradients, two 4-byte AdamW moments) with the
//! activations of one batch of `rows × seq` tokens stored without recomputation (Korthikanti
//! et al. 2022, Table 2, scaled to 4-byte values). It leaves out the dataset (already loaded,
//! so already outside what is available) and the engines' small scratch buffers.
//!
//! What is available is `MemAvailable` of `/proc/meminfo` (the kernel's estimate of memory
//! that can be allocated without swapping), lowered to the room left under the process's
//! cgroup limit (`memory.max − memory.current`, cgroup v2) when there is one. Bytes
//! throughout; GiB = 2^30 bytes in messages.

use crate::{Error, GptConfig, Result, TrainConfig};
use isoflop_cost::{GIB, Layout, TrainMemory, TrainRecipe};

/// The memory one training run needs, bytes (see the module docs).
pub fn train_memory(cfg: &TrainConfig) -> TrainMemory {
    model_memory(&cfg.model, cfg.rows(), cfg.seq)
}

/// The memory of training `model` on batches of `rows × seq` tokens, bytes.
pub fn model_memory(model: &GptConfig, rows: usize, seq: usize) -> TrainMemory {
    let layout = Layout::single(rows as u64, seq as u64);
    model.shape().train_memory(TrainRecipe::Fp32, &layout)
}

/// Bytes the process can still allocate, if the platform says.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let mut available = kib.saturating_mul(1024);
    let read = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
    if let (Some(max), Some(current)) =
        (read("/sys/fs/cgroup/memory.max"), read("/sys/fs/cgroup/memory.current"))
    {
        available = available.min(max.saturating_sub(current));
    }
    Some(available)
}

/// Refuses `cfg` when its estimated memory exceeds `available` bytes; `run` names it.
pub fn check_memory_with(cfg: &TrainConfig, run: &str, available: u64) -> Result<()> {
    check_model_memory_with(&cfg.model, cfg.rows(), cfg.seq, run, available)
}

/// Refuses training `model` on `rows × seq` batches when its estimated memory exceeds what the
/// machine has available now (for callers that build an engine without a [`TrainConfig`],
/// such as a speed measurement); `run` names it.
pub fn check_model_memory(model: &GptConfig, rows: usize, seq: usize, run: &str) -> Result<()> {
    match available_memory() {
        Some(available) => check_model_memory_with(model, rows, seq, run, available),
        None => Ok(()),
    }
}

fn check_model_memory_with(
    model: &GptConfig,
    rows: usize,
    seq: usize,
    run: &str,
    available: u64,
) -> Result<()> {
    let m = model_memory(model, rows, seq);
    let need = m.total();
    if need <= available as f64 {
        return Ok(());
    }
    let g = |b: f64| b / GIB;
    Err(Error::OutOfMemory {
        run: run.to_string(),
        need_gib: g(need),
        available_gib: g(available as f64),
        detail: format!(
            "{:.1} GiB of weights, gradients and AdamW state for {} parameters, {:.1} GiB of \
             activations for a batch of {} × {} tokens",
            g(m.weights + m.gradients + m.optimizer),
            model.shape().params().total,
            g(m.activations),
            rows,
            seq
        ),
    })
}

/// Refuses `cfg` when its estimated memory exceeds what the machine has available now; a
/// platform that does not say what is available is not checked.
pub fn check_memory(cfg: &TrainConfig) -> Result<()> {
    let Some(available) = available_memory() else { return Ok(()) };
    let m = &cfg.model;
    let run = match &cfg.checkpoint_dir {
        Some(dir) => format!("run {}", dir.display()),
        None => format!(
            "the model of {} layers × d_model {} (context {})",
            m.n_layer, m.d_model, m.context
        ),
    };
    check_memory_with(cfg, &run, available)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_sixteen_bytes_a_parameter_and_the_activations() {
        let model = GptConfig::new(4, 128, 4, 256, 128).unwrap();
        let cfg = TrainConfig::new(model, 1 << 20).unwrap();
        let m = train_memory(&cfg);
        // 875,264 parameters (the ladder's rung 4) × (4 + 4 + 8) bytes.
        assert_eq!(m.weights + m.gradients + m.optimizer, 875_264.0 * 16.0);
        assert!(m.activations > 0.0);
    }

    #[test]
    fn a_run_larger_than_the_memory_is_refused_naming_it() {
        let model = GptConfig::new(4, 128, 4, 256, 128).unwrap();
        let cfg = TrainConfig::new(model, 1 << 20).unwrap();
        let need = train_memory(&cfg).total() as u64;
        check_memory_with(&cfg, "run r1", need).unwrap();
        let e = check_memory_with(&cfg, "run r1", need / 2).unwrap_err().to_string();
        assert!(e.starts_with("run r1 needs about"), "{e}");
        assert!(e.contains("GiB is available"), "{e}");
        assert!(e.contains("875264 parameters"), "{e}");
    }

    #[test]
    fn this_machine_says_what_is_available() {
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(available_memory().is_some_and(|b| b > 0));
        }
    }
}
