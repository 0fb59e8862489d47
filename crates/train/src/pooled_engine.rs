//! An engine whose compute runs on a pool of its own: how a candle run on the CPU keeps to
//! the threads its config gives it.
//!
//! Candle's CPU backend (0.11) parallelises two ways:
//! - matrix products through gemm's `Parallelism::Rayon`, which splits the work into
//!   `candle_core::utils::get_num_threads()` pieces but runs them with `into_par_iter` on the
//!   *current* rayon pool: inside [`RunPool::install`] they run on the run's threads only;
//! - element-wise ops on large tensors through one process-wide barrier pool, sized once at
//!   its first use from `CANDLE_NUM_THREADS` (else `RAYON_NUM_THREADS`, else the physical
//!   cores) and taken by one caller at a time. No pool of ours reaches it; the binary sets
//!   `CANDLE_NUM_THREADS` for candle runs only, before any tensor op.
//!
//! The kernels engine needs none of this: its own pool does all its work.

use crate::engine::{AdamW, Engine, NamedTensor};
use crate::{GptConfig, Result, RunPool};

/// `inner`'s compute (forward, backward, steps, evaluation, loading weights) run on `pool`.
pub struct PooledEngine {
    inner: Box<dyn Engine>,
    pool: RunPool,
}

impl PooledEngine {
    /// `inner` computing on a pool of `threads` threads named `isoflop-{name}-{i}`.
    pub fn new(inner: Box<dyn Engine>, threads: usize) -> Result<Self> {
        let pool = RunPool::new(&format!("isoflop-{}", inner.name()), threads)?;
        Ok(Self { inner, pool })
    }

    /// Threads of the engine's pool.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }
}

impl Engine for PooledEngine {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn config(&self) -> &GptConfig {
        self.inner.config()
    }

    fn forward_backward(
        &mut self,
        inputs: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> Result<f32> {
        let Self { inner, pool } = self;
        pool.install(|| inner.forward_backward(inputs, targets, batch, seq))
    }

    fn step(&mut self, opt: &AdamW) -> Result<f32> {
        let Self { inner, pool } = self;
        pool.install(|| inner.step(opt))
    }

    fn eval_loss(
        &mut self,
        inputs: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> Result<f32> {
        let Self { inner, pool } = self;
        pool.install(|| inner.eval_loss(inputs, targets, batch, seq))
    }

    // Reading weights out copies tensors and computes nothing: it stays on the caller's thread
    // (and `Engine` is `Send` but not `Sync`, so `&self` cannot cross to the pool).
    fn weights(&self) -> Result<Vec<NamedTensor>> {
        self.inner.weights()
    }

    fn gradients(&self) -> Result<Vec<NamedTensor>> {
        self.inner.gradients()
    }

    fn set_weights(&mut self, weights: &[NamedTensor]) -> Result<()> {
        let Self { inner, pool } = self;
        pool.install(|| inner.set_weights(weights))
    }

    fn optimizer_state(&self) -> Result<(u64, Vec<NamedTensor>)> {
        self.inner.optimizer_state()
    }

    fn set_optimizer_state(&mut self, step: u64, moments: &[NamedTensor]) -> Result<()> {
        let Self { inner, pool } = self;
        pool.install(|| inner.set_optimizer_state(step, moments))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CandleEngine, Device};

    #[test]
    fn candle_computes_on_the_pool_and_learns_as_without_it() {
        let cfg = GptConfig::new(1, 16, 2, 64, 8).unwrap();
        let x: Vec<u32> = (0..16).map(|i| (i * 7 % 64) as u32).collect();
        let y: Vec<u32> = (0..16).map(|i| (i * 5 % 64) as u32).collect();
        let mut plain = CandleEngine::new(cfg, 3, Device::Cpu).unwrap();
        let inner = Box::new(CandleEngine::new(cfg, 3, Device::Cpu).unwrap());
        let mut pooled = PooledEngine::new(inner, 2).unwrap();
        assert_eq!(pooled.threads(), 2);
        assert_eq!(pooled.name(), "candle");
        let opt = AdamW { lr: 1e-2, ..AdamW::default() };
        for _ in 0..3 {
            let a = plain.forward_backward(&x, &y, 2, 8).unwrap();
            let b = pooled.forward_backward(&x, &y, 2, 8).unwrap();
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            plain.step(&opt).unwrap();
            pooled.step(&opt).unwrap();
        }
        let (a, b) =
            (plain.eval_loss(&x, &y, 2, 8).unwrap(), pooled.eval_loss(&x, &y, 2, 8).unwrap());
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}
