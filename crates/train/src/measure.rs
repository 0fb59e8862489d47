//! What a run costs: FLOPs (isoflop-cost's count), the machine's peak for MFU, peak memory.
//!
//! FLOPs follow PaLM's convention (Chowdhery et al. 2022, Appendix B): per token
//! `6·N + 12·L·H·Q·s` with N the non-embedding parameters and s the trained sequence length;
//! the count is isoflop-cost's, the project's single definition. MFU (PaLM, Appendix B) is
//! achieved model FLOP/s over the peak this machine *measured* (an FMA loop on every thread,
//! `kernels::measure_peak_flops`), not a datasheet figure, since a shared VM delivers less.

use crate::GptConfig;
use isoflop_cost::FlopConvention;

/// The FLOP convention every run reports.
pub const FLOP_CONVENTION: FlopConvention = FlopConvention::Palm;

/// Training FLOPs per token (forward and backward) of `model` on rows of `seq` tokens.
pub fn train_flops_per_token(model: &GptConfig, seq: usize) -> f64 {
    3.0 * model.shape().forward_flops_per_token_at(FLOP_CONVENTION, seq as f64)
}

/// The machine's peak f32 FLOP/s on `threads` threads (≈ 0.3 s of measurement).
pub fn measured_peak_flops(threads: usize) -> f64 {
    crate::kernels::measure_peak_flops(threads.max(1), 0.05, 3)
}

/// The process's peak resident memory in bytes (Linux `VmHWM`), if the OS tells.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_of_model_s() {
        // docs/cpu-training.md: model S (4 layers, d 128) costs 5.74 MFLOP/token at
        // context 128: 6·(875,264 − 256·128 − 128·128) + 12·4·128·128.
        let s = GptConfig::new(4, 128, 4, 256, 128).unwrap();
        let want = 6.0 * (875_264.0 - 256.0 * 128.0 - 128.0 * 128.0) + 12.0 * 4.0 * 128.0 * 128.0;
        assert!((train_flops_per_token(&s, 128) - want).abs() < 1.0);
        assert!((want / 1e6 - 5.74).abs() < 0.01);
    }

    #[test]
    fn memory_is_reported_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_memory_bytes().unwrap() > 1 << 20);
        }
    }
}
