//! The bridge from a planned run to isoflop-train's trainer, and back to the store's terms.

use crate::sweep::plan::PlannedRun;
use crate::sweep::spec::SweepSpec;
use anyhow::{Context, Result, bail};
use isoflop_store::{CurvePoint, Metrics};
use isoflop_train::{Dataset, Device, RunReport, RunStatus as TrainStatus, TrainConfig};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// How a training call ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Trained its whole budget.
    Done {
        /// What it measured.
        metrics: Metrics,
        /// Its evaluations.
        curve: Vec<CurvePoint>,
    },
    /// Stopped by NaN/inf or a runaway loss.
    Diverged {
        /// Why.
        reason: String,
        /// What it measured before.
        metrics: Metrics,
        /// Its evaluations before.
        curve: Vec<CurvePoint>,
    },
    /// Stopped by the stop flag after saving a checkpoint.
    Interrupted {
        /// Tokens trained so far.
        tokens: u64,
    },
}

/// Trains one run in `dir` (resuming from the checkpoint there, if any) on `threads` threads,
/// reporting tokens trained through `on_tokens`, and stopping at a checkpoint when `stop` is set.
pub trait RunTrainer: Send + Sync {
    /// Trains `run`.
    fn train(
        &self,
        run: &PlannedRun,
        dir: &Path,
        threads: usize,
        on_tokens: &mut dyn FnMut(u64),
        stop: &AtomicBool,
    ) -> Result<Outcome>;
}

/// The real trainer: isoflop-train on the sweep's tokenized dataset.
pub struct CrateTrainer {
    spec: SweepSpec,
    dataset: Dataset,
    /// This machine's measured peak FLOP/s on each thread count the sweep's runs use,
    /// measured once per sweep rather than once per run.
    peak_flops: HashMap<usize, f64>,
}

impl CrateTrainer {
    /// A trainer for `spec`'s runs on `dataset`, whose runs use these thread counts.
    pub fn new(spec: &SweepSpec, dataset: Dataset, threads: &[usize]) -> Result<Self> {
        if spec.train.device == "cuda" && !Device::cuda_compiled() {
            bail!(
                "train.device = \"cuda\" but this isoflop was built without the `cuda` feature \
                 (cargo build --release --features cuda)"
            );
        }
        let mut peak_flops = HashMap::new();
        for &t in threads {
            peak_flops.entry(t).or_insert_with(|| isoflop_train::measured_peak_flops(t));
        }
        Ok(Self { spec: spec.clone(), dataset, peak_flops })
    }

    /// The resolved training config of a run (what its checkpoint records).
    pub fn config(&self, run: &PlannedRun, dir: &Path, threads: usize) -> Result<TrainConfig> {
        let t = &self.spec.train;
        let mut cfg = TrainConfig::new(run.model, run.tokens)?;
        if let Some(b) = t.batch_tokens {
            cfg = cfg.with_batch_tokens(b).with_context(|| format!("train.batch_tokens = {b}"))?;
        }
        if let Some(lr) = t.lr {
            cfg.adamw.lr = lr;
        }
        if let Some(n) = t.eval_points {
            cfg.eval_points = n;
        }
        if let Some(n) = t.eval_tokens {
            cfg.eval_tokens = n;
        }
        if let Some(n) = t.final_eval_tokens {
            cfg.final_eval_tokens = n;
        }
        cfg.seed = run.seed;
        cfg.threads = threads;
        cfg.engine = t.engine.clone();
        cfg.device = if t.device == "cuda" { Device::Cuda(0) } else { Device::Cpu };
        cfg.checkpoint_dir = Some(dir.to_path_buf());
        // About eight checkpoints per run: a `kill -9` loses at most an eighth of a run.
        cfg.checkpoint_every = (cfg.steps() / 8).max(1);
        cfg.resume = true;
        // A count not measured up front leaves the trainer to measure it.
        cfg.peak_flops = self.peak_flops.get(&threads).copied();
        cfg.validate()?;
        Ok(cfg)
    }
}

fn metrics(r: &RunReport) -> Metrics {
    Metrics {
        loss: r.val_loss,
        train_loss: r.curve.last().map(|p| f64::from(p.train_loss)),
        ood_loss: r.ood_loss,
        bits_per_byte: r.bits_per_byte,
        tokens_per_second: Some(r.tokens_per_second),
        mfu: Some(r.mfu),
        wall_seconds: Some(r.wall_seconds),
    }
}

fn curve(r: &RunReport) -> Vec<CurvePoint> {
    r.curve
        .iter()
        .map(|p| CurvePoint {
            tokens: p.tokens as f64,
            step: Some(p.step),
            train_loss: Some(f64::from(p.train_loss)),
            val_loss: Some(f64::from(p.val_loss)),
        })
        .collect()
}

impl RunTrainer for CrateTrainer {
    fn train(
        &self,
        run: &PlannedRun,
        dir: &Path,
        threads: usize,
        on_tokens: &mut dyn FnMut(u64),
        stop: &AtomicBool,
    ) -> Result<Outcome> {
        let cfg = self.config(run, dir, threads)?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create run directory {}", dir.display()))?;
        let mut progress = |p: &isoflop_train::Progress| on_tokens(p.tokens);
        let report = isoflop_train::train(&cfg, &self.dataset, &mut progress, stop)?;
        // The report, with its resolved config, beside the checkpoint: a result can always be
        // traced to what made it.
        let path = dir.join("report.json");
        crate::output::write_atomic(&path, serde_json::to_string_pretty(&report)?.as_bytes())?;
        Ok(match report.status {
            TrainStatus::Done => Outcome::Done { metrics: metrics(&report), curve: curve(&report) },
            TrainStatus::Diverged => Outcome::Diverged {
                reason: report.reason.clone().unwrap_or_else(|| "diverged".into()),
                metrics: Metrics { loss: None, ..metrics(&report) },
                curve: curve(&report),
            },
            TrainStatus::Interrupted => Outcome::Interrupted { tokens: report.tokens },
        })
    }
}
