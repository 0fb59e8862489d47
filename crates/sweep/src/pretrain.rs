//! The pretraining trainer: a planned run into isoflop-train's resolved `TrainConfig`,
//! trained on the sweep's tokenized dataset, and its report back in the store's terms.

use crate::graph::{RunGraph, RunKind, branch_point};
use crate::plan::PlannedRun;
use crate::spec::SweepSpec;
use crate::trainer::{Job, Outcome, RunTrainer};
use crate::{Error, Result};
use isoflop_store::{CurvePoint, Metrics};
use isoflop_train::{
    Dataset, Device, RunReport, RunStatus as TrainStatus, ScheduleShape, TrainConfig,
    TrainOverrides,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Trains [`RunKind::Pretrain`] runs (and a WSD design's trunks and their cooldown branches)
/// with isoflop-train on the sweep's dataset.
pub struct Pretrainer {
    spec: SweepSpec,
    dataset: Arc<Dataset>,
    /// This machine's measured peak FLOP/s on each thread count the sweep's runs use,
    /// measured once per sweep rather than once per run.
    peak_flops: HashMap<usize, f64>,
    /// A WSD design's trunks by key, with the tokens of the branches that start from each.
    trunks: HashMap<String, (PlannedRun, Vec<u64>)>,
}

/// A WSD branch's point: the trunk step it starts from, `(1 − cooldown)·D` in whole batches.
fn branch_step(tokens: u64, cooldown: f64, batch_tokens: u64) -> u64 {
    (branch_point(tokens, cooldown) / batch_tokens.max(1)).max(1)
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
        let mut trunks: HashMap<String, (PlannedRun, Vec<u64>)> = HashMap::new();
        if spec.design.cooldown().is_some() {
            let graph = RunGraph::for_spec(spec, crate::plan(spec)?)?;
            for node in graph.nodes() {
                match node.kind {
                    RunKind::Trunk => {
                        trunks
                            .entry(node.key().to_string())
                            .or_insert((node.run.clone(), vec![]))
                            .0 = node.run.clone();
                    }
                    RunKind::Pretrain if !node.after.is_empty() => {
                        let e = trunks
                            .entry(node.after[0].clone())
                            .or_insert((node.run.clone(), vec![]));
                        e.1.push(node.run.tokens);
                    }
                    _ => {}
                }
            }
        }
        Ok(Self { spec: spec.clone(), dataset, peak_flops, trunks })
    }

    fn cooldown(&self) -> f64 {
        self.spec.design.cooldown().unwrap_or(0.0)
    }

    /// The settings a WSD family (a trunk and its branches) shares: the batch, peak rate and
    /// warm-up its shortest branch resolves to on its own, so that branch trains as many steps
    /// as a plain run of its length would (the planner's batch grows with a run's tokens; the
    /// trunk's would leave a short branch a few steps, most of them warm-up).
    fn family(&self, trunk_key: &str, dir: &Path, threads: usize) -> Result<(f64, f32, u64)> {
        let (trunk, branches) = self
            .trunks
            .get(trunk_key)
            .ok_or_else(|| Error::Plan(format!("run {trunk_key}: a trunk without branches")))?;
        let shortest = PlannedRun {
            tokens: branches.iter().copied().min().unwrap_or(trunk.tokens),
            ..trunk.clone()
        };
        let c = self.config(&shortest, dir, threads)?;
        Ok((c.batch_tokens as f64, c.adamw.lr, c.warmup_steps))
    }

    /// A WSD trunk's or branch's config on its family's shared settings.
    fn family_config(
        &self,
        run: &PlannedRun,
        trunk_key: &str,
        dir: &Path,
        threads: usize,
    ) -> Result<TrainConfig> {
        let (batch, lr, warmup) = self.family(trunk_key, dir, threads)?;
        let during = |source| Error::During { context: format!("run {}", run.key), source };
        let mut o = self.settings(run, dir, threads);
        o.batch_tokens = Some(batch);
        o.lr = Some(lr);
        o.warmup_steps = Some(warmup);
        let mut cfg = o.resolve(run.model.vocab).map_err(during)?;
        cfg.checkpoint_every = (cfg.steps() / 8).max(1);
        cfg.resume = true;
        cfg.peak_flops = self.peak_flops.get(&threads).copied();
        Ok(cfg)
    }

    /// The resolved config of a job: a plain run's [`Pretrainer::config`]; a WSD trunk's at a
    /// constant rate with a snapshot at each branch point; a WSD branch's decaying over its
    /// last steps from the trunk's snapshot, both on the family's batch, peak rate and warm-up.
    pub fn job_config(&self, job: &Job<'_>) -> Result<TrainConfig> {
        let node = job.node;
        let cooldown = self.cooldown();
        let during = |source| Error::During { context: format!("run {}", node.key()), source };
        match node.kind {
            RunKind::Trunk => {
                let mut cfg = self.family_config(&node.run, node.key(), job.dir, job.threads)?;
                let (_, branches) = &self.trunks[node.key()];
                cfg.schedule = ScheduleShape::Wsd { decay_steps: 0 };
                let mut snaps: Vec<u64> =
                    branches.iter().map(|&d| branch_step(d, cooldown, cfg.batch_tokens)).collect();
                snaps.sort_unstable();
                snaps.dedup();
                cfg.snapshot_steps = snaps;
                cfg.validate().map_err(during)?;
                Ok(cfg)
            }
            RunKind::Pretrain if !node.after.is_empty() && cooldown > 0.0 => {
                let trunk_key = &node.after[0];
                let trunk_dir = job.inputs.first().ok_or_else(|| {
                    Error::Plan(format!("run {}: no directory for its trunk", node.key()))
                })?;
                let mut cfg = self.family_config(&node.run, trunk_key, job.dir, job.threads)?;
                let point = branch_step(node.run.tokens, cooldown, cfg.batch_tokens);
                cfg.schedule =
                    ScheduleShape::Wsd { decay_steps: cfg.steps().saturating_sub(point).max(1) };
                cfg.init_from = Some(isoflop_train::snapshot_dir(trunk_dir, point));
                cfg.validate().map_err(during)?;
                Ok(cfg)
            }
            _ => self.config(&node.run, job.dir, job.threads),
        }
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
        let cfg = self.job_config(job).ok()?;
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
        if !matches!(job.node.kind, RunKind::Pretrain | RunKind::Trunk) {
            return Err(Error::Unsupported(format!(
                "run {} is a {} run; the pretrainer trains pretrain runs only",
                job.node.key(),
                job.node.kind
            )));
        }
        let cfg = self.job_config(job)?;
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
