//! A sweep's bookkeeping in the run store, the same for every executor: the sweep row (its
//! spec, versioned when it changed), the planned runs and where their directories go.

use crate::graph::{RunGraph, RunKind};
use crate::spec::SweepSpec;
use crate::trainer::{Job, RunTrainer};
use crate::{Error, Result};
use isoflop_store::{NewRun, Store, Sweep};
use std::path::{Path, PathBuf};

/// Spec keys whose change never refuses a rerun: they do not change what any stored run
/// measured. `compress` is one: a compression run's key names its method and the options
/// that change its result, so new methods or options add runs beside the stored ones (a
/// finished sweep can be compressed later). `distill` and `finetune` likewise.
pub const LAYOUT_KEYS: &[&str] = &[
    "description",
    "train.parallel_runs",
    "train.threads_per_run",
    "compress",
    "finetune",
    "distill",
];

/// The planned runs as the store records them. `config` of each is what the run is: its
/// kind, its inputs, the spec's settings for it, and `train`, the configuration its trainer
/// resolved for it when it was planned (`resolved`, by key; a run resumed later on other
/// threads records its own in `report.json` beside its checkpoint).
pub fn new_runs(
    spec: &SweepSpec,
    graph: &RunGraph,
    resolved: &dyn Fn(&str) -> Option<serde_json::Value>,
) -> Vec<NewRun> {
    graph
        .nodes()
        .iter()
        .map(|node| {
            let r = &node.run;
            let mut config = serde_json::json!({
                "kind": node.kind,
                "after": node.after,
                "model": r.model,
                "tokens": r.tokens,
                "seed": r.seed,
                "engine": spec.train.engine,
                "device": spec.train.device,
                "lr": spec.train.lr,
                "batch_tokens": spec.train.batch_tokens,
                "corpus": spec.corpus,
                "flops_palm": r.flops_palm,
            });
            if let RunKind::Compress(v) = node.kind {
                config["method"] = v.method.name().into();
                config["options"] =
                    serde_json::to_value(spec.compress.options(v)).expect("options serialise");
            }
            if let (RunKind::Distill, Some(d)) = (node.kind, &spec.distill) {
                config["method"] = "distill".into();
                config["teacher"] = d.teacher.name().into();
                config["options"] = serde_json::to_value(d.options()).expect("options serialise");
            }
            if let RunKind::Finetune { task, method } = node.kind {
                config["task"] = spec.finetune.tasks[task].clone().into();
                config["method"] = method.name().into();
                config["epochs"] = spec.finetune.epochs.into();
            }
            if let Some(train) = resolved(&r.key) {
                config["train"] = train;
            }
            NewRun {
                key: r.key.clone(),
                config,
                params: r.params,
                tokens: r.tokens as f64,
                flops: r.flops,
                budget: r.budget,
                seed: r.seed,
                engine: Some(spec.train.engine.to_string()),
            }
        })
        .collect()
}

/// Plans `graph`'s runs into sweep `sweep_id` (a run already there is left as it is), each with
/// the configuration `trainer` resolves for it in its directory under `sweep_dir`, on the
/// threads `threads(i)` gives the run at graph position `i`. Every executor plans this way:
/// the local one, the Slurm submitter and each worker. Returns how many runs were new.
pub fn plan_graph(
    store: &mut Store,
    sweep_id: i64,
    spec: &SweepSpec,
    graph: &RunGraph,
    sweep_dir: &Path,
    trainer: &dyn RunTrainer,
    threads: &dyn Fn(usize) -> usize,
) -> Result<usize> {
    let resolved = |key: &str| {
        let i = graph.position(key)?;
        let node = &graph.nodes()[i];
        let dir = sweep_dir.join(key);
        let inputs: Vec<PathBuf> = node.after.iter().map(|k| sweep_dir.join(k)).collect();
        trainer.resolved(&Job { node, dir: &dir, inputs: &inputs, threads: threads(i) })
    };
    Ok(store.plan_runs(sweep_id, &new_runs(spec, graph, &resolved))?)
}

/// The sweep row for `spec` (refused when the spec changed, unless `new_version`; see
/// `Store::sweep_for_spec`) and the directory its runs checkpoint in: `<runs_dir>/<name>`,
/// or `<runs_dir>/<name>@v{k+1}` for version k+1 of a sweep (k older ones kept as
/// `NAME@v1..k`), so a new version never resumes from an older version's checkpoints.
pub fn open_sweep(
    store: &mut Store,
    spec: &SweepSpec,
    runs_dir: &Path,
    new_version: bool,
) -> Result<(Sweep, PathBuf)> {
    let spec_json = serde_json::to_value(spec).expect("a spec serialises");
    let sweep = store.sweep_for_spec(&spec.name, &spec_json, LAYOUT_KEYS, new_version)?;
    let prefix = format!("{}@v", spec.name);
    let older = store
        .sweeps()?
        .iter()
        .filter(|s| s.name.strip_prefix(&prefix).is_some_and(|v| v.parse::<u32>().is_ok()))
        .count();
    let dir = match older {
        0 => runs_dir.join(&spec.name),
        k => runs_dir.join(format!("{prefix}{}", k + 1)),
    };
    Ok((sweep, dir))
}

/// Takes the sweep's lock (`<dir>/.lock`, released by the kernel when the process dies,
/// however it dies); [`Error::Locked`] if another process holds it.
pub fn lock(dir: &Path, sweep: &str) -> Result<std::fs::File> {
    let io = |context, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { context, path, source }
    };
    std::fs::create_dir_all(dir).map_err(io("cannot create run directory", dir))?;
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("cannot open lock file", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(Error::Locked { sweep: sweep.to_string(), path })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io("cannot lock", &path)(e)),
    }
}
