//! Estimated wall time of a sweep, from this machine's measured training speed.
//!
//! For each distinct (shape, threads) of the plan, the real engine trains a few steps on
//! random tokens and the tokens per second are timed (after one warm-up step, which pays for
//! allocation). A run's time is its tokens over that speed, plus its evaluations (forward
//! passes only, counted at three times the training speed: a backward pass costs about two
//! forwards, Kaplan et al. 2020 §2.1); the sweep's time simulates the scheduler (largest
//! first, runs side by side while their threads fit in the cores). Checkpoints and the memory
//! bandwidth that runs side by side share are left out, and a few steps on a fresh engine are
//! not a whole run: the demo's estimate read 3 min 52 s for 3 min 40 s measured (quiet 2-core
//! machine, 2026-11-22), within 5%.

use crate::plan::PlannedRun;
use crate::{Error, Result};
use isoflop_train::{AdamW, Device, Engine, EngineKind, GptConfig, default_batch_tokens};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// The time estimate of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunEstimate {
    /// Run key.
    pub key: String,
    /// Threads it will use.
    pub threads: usize,
    /// Measured tokens per second for its shape and threads.
    pub tokens_per_second: f64,
    /// Estimated seconds.
    pub seconds: f64,
}

/// Measures the training speed of `cfg` on `threads` threads with `engine`.
pub fn measure(engine: EngineKind, cfg: GptConfig, threads: usize, rows: usize) -> Result<f64> {
    // A model the memory cannot hold is refused here, not aborted by a failed allocation.
    let what = format!("calibrating {} layers × d_model {}", cfg.n_layer, cfg.d_model);
    isoflop_train::check_model_memory(&cfg, rows, cfg.context, &what)?;
    let mut e: Box<dyn Engine> = isoflop_train::make_engine(engine, cfg, 0, Device::Cpu, threads)?;
    let seq = cfg.context;
    let n = rows * seq;
    // A fixed pseudo-random token stream: speed does not depend on the text.
    let tokens: Vec<u32> =
        (0..n + 1).map(|i| ((i as u64 * 2_654_435_761) % cfg.vocab as u64) as u32).collect();
    let (x, y) = (&tokens[..n], &tokens[1..]);
    let opt = AdamW::default();
    e.forward_backward(x, y, rows, seq)?;
    e.step(&opt)?;
    let t = Instant::now();
    let mut steps = 0;
    while steps < 2 || (t.elapsed().as_secs_f64() < 0.3 && steps < 8) {
        e.forward_backward(x, y, rows, seq)?;
        e.step(&opt)?;
        steps += 1;
    }
    Ok((steps * n) as f64 / t.elapsed().as_secs_f64())
}

/// Forward tokens each run spends on evaluation: `points` evaluations of `tokens` on the
/// validation and OOD splits, and a final one of `final_tokens` on validation, test and OOD.
#[derive(Debug, Clone, Copy)]
pub struct EvalCost {
    /// Evaluations along the run.
    pub points: usize,
    /// Tokens per evaluation and split.
    pub tokens: u64,
    /// Tokens of the final evaluation per split.
    pub final_tokens: u64,
}

impl EvalCost {
    fn forward_tokens(&self) -> f64 {
        (self.points as u64 * self.tokens * 2 + self.final_tokens * 3) as f64
    }
}

/// Estimates every run, measuring each distinct shape once.
pub fn estimate(
    engine: EngineKind,
    runs: &[PlannedRun],
    threads: &[usize],
    eval: EvalCost,
) -> Result<Vec<RunEstimate>> {
    let mut speed: HashMap<(usize, usize, usize, usize), f64> = HashMap::new();
    let mut out = Vec::new();
    for (r, &t) in runs.iter().zip(threads) {
        let k = (r.model.n_layer, r.model.d_model, r.model.context, t);
        let rows = (default_batch_tokens(r.tokens, r.model.context) as usize / r.model.context)
            .clamp(1, 8);
        let tps = match speed.get(&k) {
            Some(&s) => s,
            None => {
                let s = measure(engine, r.model, t, rows).map_err(|e| match e {
                    Error::Train(source) => Error::During {
                        context: format!("cannot calibrate engine {engine} on {}", r.key),
                        source,
                    },
                    e => e,
                })?;
                speed.insert(k, s);
                s
            }
        };
        out.push(RunEstimate {
            key: r.key.clone(),
            threads: t,
            tokens_per_second: tps,
            seconds: (r.tokens as f64 + eval.forward_tokens() / 3.0) / tps,
        });
    }
    Ok(out)
}

/// The sweep's wall time when runs of these (seconds, threads), in order, are scheduled on
/// `cores` cores with at most `max_parallel` at once: each run starts as soon as enough cores
/// are free, the first in queue order that fits.
pub fn makespan(jobs: &[(f64, usize)], cores: usize, max_parallel: usize) -> f64 {
    let mut queue: Vec<(f64, usize)> =
        jobs.iter().map(|&(s, t)| (s, t.min(cores).max(1))).collect();
    let mut running: Vec<(f64, usize)> = Vec::new(); // (end time, threads)
    let mut now: f64 = 0.0;
    let mut free = cores;
    while !queue.is_empty() || !running.is_empty() {
        let mut started = false;
        if running.len() < max_parallel
            && let Some(i) = queue.iter().position(|q| q.1 <= free)
        {
            let (s, t) = queue.remove(i);
            running.push((now + s, t));
            free -= t;
            started = true;
        }
        if !started {
            // Advance to the next finishing run.
            let (i, _) = running
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.0.total_cmp(&b.1.0))
                .expect("something runs when nothing can start");
            let (end, t) = running.remove(i);
            now = end;
            free += t;
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makespan_packs_side_by_side() {
        // Two single-threaded 10 s runs on two cores: 10 s; a 2-thread run then waits.
        assert_eq!(makespan(&[(10.0, 1), (10.0, 1)], 2, 2), 10.0);
        assert_eq!(makespan(&[(10.0, 1), (10.0, 1), (4.0, 2)], 2, 2), 14.0);
        // Largest first: 6 + 3 + 3 on two cores finishes at 6.
        assert_eq!(makespan(&[(6.0, 1), (3.0, 1), (3.0, 1)], 2, 2), 6.0);
        assert_eq!(makespan(&[(6.0, 1), (3.0, 1)], 2, 1), 9.0);
    }
}
