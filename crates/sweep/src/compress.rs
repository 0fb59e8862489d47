//! The compression trainer: a `[compress]` run quantizes or prunes its input run's model
//! (isoflop-train's `compress`), scores it on the sweep's dataset before and after, saves the
//! packed model in its own directory and reports the loss it cost.

use crate::spec::{CompressVariant, SweepSpec};
use crate::trainer::{Job, Outcome};
use crate::{Error, Result};
use isoflop_store::Metrics;
use isoflop_train::Dataset;
use isoflop_train::compress::{
    COMPRESSED_FILE, CompressReport, compress, load_weights, pipeline::Source,
};
use std::sync::Arc;

/// Compresses the models of a sweep's pretraining runs.
pub struct Compressor {
    spec: SweepSpec,
    dataset: Arc<Dataset>,
}

impl Compressor {
    /// A compressor for `spec`'s `[compress]` runs, scoring on `dataset` (the sweep's).
    pub fn new(spec: &SweepSpec, dataset: Arc<Dataset>) -> Self {
        Self { spec: spec.clone(), dataset }
    }

    /// Compresses `job`'s input as variant `v` of the spec's compressions says.
    pub fn compress(&self, job: &Job<'_>, v: CompressVariant) -> Result<Outcome> {
        let method = v.method;
        let key = job.node.key();
        let [input] = job.inputs else {
            return Err(Error::Graph(format!("run {key}: a compression reads exactly one run")));
        };
        let during = |context: String| move |source| Error::During { context, source };
        let (model, weights) = load_weights(input)
            .map_err(during(format!("run {key}: reading its input {}", input.display())))?;
        let source = Source { model, weights, label: job.node.after[0].clone() };
        let mut opts = self.spec.compress.options(v);
        opts.threads = job.threads;
        opts.seed = job.node.run.seed;
        std::fs::create_dir_all(job.dir).map_err(|source| Error::Io {
            context: "cannot create run directory",
            path: job.dir.to_path_buf(),
            source,
        })?;
        let mut quiet = |_: String| {};
        let report =
            compress(&source, &self.dataset, &opts, &job.dir.join(COMPRESSED_FILE), &mut quiet)
                .map_err(during(format!("run {key}: {method}")))?;
        finished(job, &report)
    }
}

/// A compression's or distillation's end: its report written beside it, and the store's
/// metrics (the compressed or distilled model's loss) from it.
pub(crate) fn finished(job: &Job<'_>, report: &CompressReport) -> Result<Outcome> {
    let json = serde_json::to_string_pretty(report).expect("a compress report serialises");
    isoflop_atomic::write(&job.dir.join("report.json"), json.as_bytes())?;
    let metrics = Metrics {
        loss: Some(report.loss),
        ood_loss: report.ood_loss,
        wall_seconds: Some(report.wall_seconds),
        ..Metrics::default()
    };
    Ok(Outcome::Done { metrics, curve: Vec::new() })
}
