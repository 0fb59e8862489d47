//! The pretraining trainer: a planned run into isoflop-train's resolved `TrainConfig`,
//! trained on the sweep's tokenized dataset, and its report back in the store's terms.

use crate::graph::RunKind;
use crate::plan::PlannedRun;
use crate::spec::SweepSpec;
use crate::trainer::{Job, Outcome, RunTrainer};
use crate::{Error, Result};
use isoflop_store::{CurvePoint, Metrics};
use isoflop_train::{
    Dataset, Device, RunReport, RunStatus as TrainStatus, TrainConfig, TrainOverrides,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Trains [`RunKind::Pretrain`] runs with isoflop-train on the sweep's dataset.
pub struct Pretrainer {
    spec: SweepSpec,
    dataset: Arc<Dataset>,
    /// This machine's measured peak FLOP/s on each thread count the sweep's runs use,
    /// measured once per sweep rather than once per run.
    peak_flops: HashMap<usize, f64>,
}

impl Pretrainer {
    /// A trainer for `spec`'s runs on `dataset`, whose runs use these thread counts.
    pub fn new(spec: &SweepSpec, dataset: Arc<Dataset>, threads: &[usize]) -> Result<Self> {
        if spec.train.device != Device::Cpu && !Device::cuda_compiled() {
            return Err(Error::Unsupported(format!(
                "train.device = \"{}\" but this isoflop was built without the `cuda` feature \
                 (cargo build --release --features cuda)",
                spec.train.device
            )));
        }
        let mut peak_flops = HashMap::new();
        for &t in threads {
            peak_flops.entry(t).or_insert_with(|| isoflop_train::measured_peak_flops(t));
        }
        Ok(Self { spec: spec.clone(), dataset, peak_flops })
    }

    /// The settings of a run as `isoflop train` would take them: the spec's `[train]` table,
    /// the run's planned shape, tokens and seed, the layout's threads, its directory.
    pub fn settings(&self, run: &PlannedRun, dir: &Path, threads: usize) -> TrainOverrides {
        let t = &self.spec.train;
        let m = &run.model;
        TrainOverrides {
            layers: Some(m.n_layer),
            d_model: Some(m.d_model),
            heads: Some(m.n_head),
            context: Some(m.context),
            tokens: Some(run.tokens as f64),
            batch_tokens: t.batch_tokens.map(|b| b as f64),
            lr: t.lr,
            seed: Some(run.seed),
            threads: Some(threads),
            engine: Some(t.engine),
            device: Some(t.device),
            eval_points: t.eval_points,
            eval_tokens: t.eval_tokens.map(|n| n as f64),
            final_eval_tokens: t.final_eval_tokens.map(|n| n as f64),
            out: Some(dir.to_path_buf()),
            ..TrainOverrides::default()
        }
    }

    /// The resolved training config of a run (what its checkpoint and report record): its
    /// settings resolved as `isoflop train` resolves them, checkpointing added.
    pub fn config(&self, run: &PlannedRun, dir: &Path, threads: usize) -> Result<TrainConfig> {
        let during = |source| Error::During { context: format!("run {}", run.key), source };
        let mut cfg = self.settings(run, dir, threads).resolve(run.model.vocab).map_err(during)?;
        if cfg.model != run.model {
            return Err(Error::Plan(format!(
                "run {}: its planned shape {:?} resolved to {:?}",
                run.key, run.model, cfg.model
            )));
        }
        // About eight checkpoints per run: a `kill -9` loses at most an eighth of a run.
        cfg.checkpoint_every = (cfg.steps() / 8).max(1);
        cfg.resume = true;
        // A count not measured up front leaves the trainer to measure it.
        cfg.peak_flops = self.peak_flops.get(&threads).copied();
        cfg.validate().map_err(during)?;
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

impl RunTrainer for Pretrainer {
    fn resolved(&self, job: &Job<'_>) -> Option<serde_json::Value> {
        let cfg = self.config(&job.node.run, job.dir, job.threads).ok()?;
        // Through text, so f32 settings keep the digits report.json writes (0.9, not
        // 0.8999999761581421).
        let text = serde_json::to_string(&cfg).expect("a training config serialises");
        serde_json::from_str(&text).ok()
    }

    fn train(
        &self,
        job: &Job<'_>,
        on_tokens: &mut dyn FnMut(u64),
        stop: &AtomicBool,
    ) -> Result<Outcome> {
        if job.node.kind != RunKind::Pretrain {
            return Err(Error::Unsupported(format!(
                "run {} is a {} run; the pretrainer trains pretrain runs only",
                job.node.key(),
                job.node.kind
            )));
        }
        let cfg = self.config(&job.node.run, job.dir, job.threads)?;
        std::fs::create_dir_all(job.dir).map_err(|source| Error::Io {
            context: "cannot create run directory",
            path: job.dir.to_path_buf(),
            source,
        })?;
        let mut progress = |p: &isoflop_train::Progress| on_tokens(p.tokens);
        let report = isoflop_train::train(&cfg, &self.dataset, &mut progress, stop)?;
        // The report, with its resolved config, beside the checkpoint: a result can always be
        // traced to what made it.
        let json = serde_json::to_string_pretty(&report).expect("a run report serialises");
        isoflop_atomic::write(&job.dir.join("report.json"), json.as_bytes())?;
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
