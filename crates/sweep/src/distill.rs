//! The distillation trainer: a `[distill]` run trains the shape of its first input (a
//! pretraining run of the sweep, the student) on the soft targets of a teacher among its
//! inputs (isoflop-train's `distill_beside`; Hinton, Vinyals & Dean 2015), with the student
//! run's own training settings: same tokens, seed (initial weights and batches), batch size
//! and schedule. The student run itself is the from-scratch comparison, scored again on the
//! same windows as the distilled model, so the two losses are paired. The packed student and
//! its report (`report.json`, the compression report with `scratch` naming the student run)
//! go in the run's directory.

use crate::spec::{SweepSpec, Teacher};
use crate::trainer::{Job, Outcome};
use crate::{Error, Result};
use isoflop_train::compress::{COMPRESSED_FILE, distill_beside, load_weights, pipeline::Source};
use isoflop_train::{Dataset, RunReport};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Distils each budget's teacher into its other models.
pub struct Distiller {
    spec: SweepSpec,
    dataset: Arc<Dataset>,
}

/// What an input pretraining run wrote beside its checkpoint.
fn run_report(key: &str, dir: &Path) -> Result<RunReport> {
    let path = dir.join("report.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        context: "cannot read an input run's report",
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Graph(format!(
            "run {key}: {} is not the report of a pretraining run: {e}",
            path.display()
        ))
    })
}

impl Distiller {
    /// A distiller for `spec`'s `[distill]` runs, training on and scoring with `dataset`
    /// (the sweep's).
    pub fn new(spec: &SweepSpec, dataset: Arc<Dataset>) -> Self {
        Self { spec: spec.clone(), dataset }
    }

    /// Distils `job`: its first input is the student run, the others the teacher's
    /// candidates (the largest, or every run of the budget for `best`).
    pub fn distill(&self, job: &Job<'_>, stop: &AtomicBool) -> Result<Outcome> {
        let key = job.node.key();
        let Some(d) = &self.spec.distill else {
            return Err(Error::Unsupported(format!(
                "run {key} is a distillation, but the spec has no [distill] section"
            )));
        };
        let (Some(student_dir), true) = (job.inputs.first(), job.inputs.len() >= 2) else {
            return Err(Error::Graph(format!(
                "run {key}: a distillation reads its student's run and at least one teacher"
            )));
        };
        let student = run_report(&job.node.after[0], student_dir)?;
        let t = match d.teacher {
            Teacher::Largest => 1,
            Teacher::Best => {
                // The lowest final validation loss among the budget's runs (the first input
                // included: the best run distils into its own shape).
                let mut best = (0, student.val_loss.unwrap_or(f64::INFINITY));
                for (i, dir) in job.inputs.iter().enumerate().skip(1) {
                    let loss = run_report(&job.node.after[i], dir)?.val_loss;
                    if let Some(l) = loss
                        && l < best.1
                    {
                        best = (i, l);
                    }
                }
                best.0
            }
        };
        let during = |context: String| move |source| Error::During { context, source };
        let load = |i: usize| -> Result<Source> {
            let (model, weights) = load_weights(&job.inputs[i]).map_err(during(format!(
                "run {key}: reading its input {}",
                job.inputs[i].display()
            )))?;
            Ok(Source { model, weights, label: job.node.after[i].clone() })
        };
        let (teacher, scratch) = (load(t)?, load(0)?);
        let mut cfg = student.config;
        cfg.threads = job.threads;
        let mut opts = d.options();
        opts.student = Some(cfg.model);
        opts.tokens = Some(cfg.tokens);
        opts.seed = cfg.seed;
        opts.threads = job.threads;
        std::fs::create_dir_all(job.dir).map_err(|source| Error::Io {
            context: "cannot create run directory",
            path: job.dir.to_path_buf(),
            source,
        })?;
        let mut quiet = |_: String| {};
        let out = job.dir.join(COMPRESSED_FILE);
        let report = match distill_beside(
            &teacher,
            &scratch,
            &cfg,
            &self.dataset,
            &opts,
            &out,
            stop,
            &mut quiet,
        ) {
            Ok(r) => r,
            // Distillations keep no checkpoint (as fine-tunes): a stopped one starts again.
            Err(isoflop_train::Error::Stopped(_)) => return Ok(Outcome::Interrupted { tokens: 0 }),
            Err(e) => return Err(during(format!("run {key}: distilling {}", teacher.label))(e)),
        };
        crate::compress::finished(job, &report)
    }
}
