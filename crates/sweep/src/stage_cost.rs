//! What the runs after pretraining cost, priced from the same calibration as the pretraining
//! runs (each shape's measured training tokens per second, [`crate::calibrate`]): forward
//! passes at a third of a training token (a backward pass costs about two forwards, Kaplan et
//! al. 2020 §2.1), training passes at one.
//!
//! - A compression scores its model before and after on the validation and OOD splits and,
//!   for GPTQ and Wanda, runs a calibration set through it. The solvers' own arithmetic
//!   (GPTQ's Cholesky of d×d Hessians) is small beside these passes at CPU-sweep sizes.
//! - A fine-tune trains on the task's texts (each cut to the model's context, in shuffled
//!   batches padded to their longest) for its most epochs, scoring the dev split
//!   `evals_per_epoch` times an epoch and the test split once. Early stopping makes real ones
//!   shorter.
//! - A distillation trains the student for its tokens while the teacher runs forward on the
//!   same tokens, and scores both students.

use crate::calibrate::RunEstimate;
use crate::graph::distill_inputs;
use crate::plan::PlannedRun;
use crate::spec::SweepSpec;
use isoflop_train::compress::CompressOptions;
use isoflop_train::finetune::FineTuneConfig;
use isoflop_train::task::{Example, Task};
use std::path::Path;

/// Seconds of one compression of a model trained at `tps` tokens per second.
pub fn compress_seconds(opts: &CompressOptions, tps: f64) -> f64 {
    let calib = if opts.method.calibrates() { opts.calib_tokens } else { 0 };
    (4 * opts.eval_tokens + calib) as f64 / 3.0 / tps
}

/// The tokens a task's splits take in a model of `context` tokens: each text's bytes cut to
/// the context, as the fine-tuner cuts them (byte-level tokenizer). Training batches are
/// shuffled and padded to their longest text, so an epoch computes on every text at the
/// expected longest length of a random batch; evaluation batches go in length order and pad
/// little.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskTokens {
    /// Training split, padded as shuffled batches pad it.
    pub train: f64,
    /// Development split (scored along the way).
    pub dev: f64,
    /// Test split (scored once).
    pub test: f64,
}

impl TaskTokens {
    /// Counts `task`'s tokens for a model of `context` tokens, trained in batches of `batch`.
    pub fn of(task: &Task, context: usize, batch: usize) -> Self {
        let len = |e: &Example| e.text.len().clamp(1, context) as f64;
        let sum = |s: &[Example]| s.iter().map(len).sum();
        let mut lens: Vec<f64> = task.train.iter().map(len).collect();
        let train = lens.len() as f64 * expected_longest(&mut lens, batch);
        Self { train, dev: sum(&task.dev), test: sum(&task.test) }
    }
}

/// The expected longest of `b` lengths drawn without replacement from `lens`: sorted
/// ascending, the i-th (1-based) is the longest with probability C(i−1, b−1) / C(n, b), which
/// is b/n for the n-th and shrinks by (i − b)/(i − 1) from each to the one below.
fn expected_longest(lens: &mut [f64], b: usize) -> f64 {
    let n = lens.len();
    if n == 0 {
        return 0.0;
    }
    let b = b.clamp(1, n);
    lens.sort_by(f64::total_cmp);
    let mut p = b as f64 / n as f64;
    let mut e = 0.0;
    for i in (b..=n).rev() {
        e += p * lens[i - 1];
        if i > 1 {
            p *= (i - b) as f64 / (i - 1) as f64;
        }
    }
    e
}

/// Seconds of one fine-tune at most epochs (early stopping shortens it).
pub fn finetune_seconds(
    tokens: TaskTokens,
    epochs: usize,
    evals_per_epoch: usize,
    tps: f64,
) -> f64 {
    let e = epochs as f64;
    (e * tokens.train + (e * evals_per_epoch as f64 * tokens.dev + tokens.test) / 3.0) / tps
}

/// The later stages' runs of a plan, priced: (seconds, threads) per run, in the order the
/// executor meets them (after all pretraining), and what could not be priced.
#[derive(Debug, Clone, Default)]
pub struct StageCosts {
    /// Compression runs.
    pub compress: Vec<(f64, usize)>,
    /// Fine-tune runs (upper bounds: early stopping shortens them).
    pub finetune: Vec<(f64, usize)>,
    /// Distillation runs.
    pub distill: Vec<(f64, usize)>,
    /// What was left out of the estimate, and why.
    pub notes: Vec<String>,
}

impl StageCosts {
    /// Every priced run, compressions first.
    pub fn jobs(&self) -> Vec<(f64, usize)> {
        self.compress.iter().chain(&self.finetune).chain(&self.distill).copied().collect()
    }
}

/// Prices the compressions, fine-tunes and distillations of `spec` after `runs`, whose
/// pretraining `estimates` (one per run, same order) give each shape's speed. Tasks are read
/// from `cache` only if fetched already (a plan fetches nothing); others are noted.
pub fn stage_costs(
    spec: &SweepSpec,
    runs: &[PlannedRun],
    estimates: &[RunEstimate],
    cache: &Path,
) -> StageCosts {
    let mut out = StageCosts::default();
    for e in estimates {
        for v in spec.compress.variants() {
            let s = compress_seconds(&spec.compress.options(v), e.tokens_per_second);
            out.compress.push((s, e.threads));
        }
    }
    let mut tasks: Vec<Option<Task>> = Vec::new();
    for name in &spec.finetune.tasks {
        let task = if isoflop_train::task_fetch::builtin(name).is_some() {
            if isoflop_train::task_fetch::is_fetched(cache, name) {
                isoflop_train::task_fetch::load_task(cache, name).ok()
            } else {
                None
            }
        } else {
            isoflop_train::task::load_file(Path::new(name), None, spec.corpus.split_seed).ok()
        };
        if task.is_none() {
            out.notes.push(format!(
                "task {name} is not fetched yet (`isoflop tasks fetch {name}`): its fine-tunes are \
                 not timed"
            ));
        }
        tasks.push(task);
    }
    let defaults = FineTuneConfig::new(isoflop_train::finetune::Method::Full);
    let epochs = spec.finetune.epochs.unwrap_or(defaults.max_epochs);
    for (r, e) in runs.iter().zip(estimates) {
        for task in tasks.iter().flatten() {
            let tokens = TaskTokens::of(task, r.model.context, defaults.batch);
            for _ in &spec.finetune.methods {
                let s =
                    finetune_seconds(tokens, epochs, defaults.evals_per_epoch, e.tokens_per_second);
                out.finetune.push((s, e.threads));
            }
        }
    }
    if let Some(d) = &spec.distill {
        let eval = d.options().eval_tokens as f64;
        for (student, inputs) in distill_inputs(d.teacher, runs) {
            let (s, es) = (&runs[student], &estimates[student]);
            // The teacher the student learns from: for `best`, priced as the largest of the
            // candidates (the dearest it can be).
            let teacher = inputs
                .iter()
                .copied()
                .filter(|&i| i != student)
                .max_by(|&a, &b| runs[a].params.total_cmp(&runs[b].params))
                .unwrap_or(student);
            let et = &estimates[teacher];
            let secs = s.tokens as f64 / es.tokens_per_second
                + s.tokens as f64 / 3.0 / et.tokens_per_second
                + 2.0 * 2.0 * eval / 3.0 / es.tokens_per_second;
            out.distill.push((secs, es.threads));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoflop_train::compress::Method;

    #[test]
    fn compressions_and_fine_tunes_are_priced_by_their_passes() {
        // int8 scores 4 × 65,536 tokens forward: at 3,000 training tokens/s, a third of that
        // many seconds; GPTQ adds its 16,384 calibration tokens.
        let tps = 3000.0;
        let int8 = compress_seconds(&CompressOptions::new(Method::Int8), tps);
        assert!((int8 - 4.0 * 65_536.0 / 3.0 / tps).abs() < 1e-9, "{int8}");
        let gptq = compress_seconds(&CompressOptions::new(Method::GptqInt4), tps);
        assert!((gptq - int8 - 16_384.0 / 3.0 / tps).abs() < 1e-9, "{gptq}");
        // Two epochs over 1,000 training tokens, two dev scorings of 300 each an epoch, 200
        // test tokens: 2,000 training tokens and 1,400 forward ones.
        let t = TaskTokens { train: 1000.0, dev: 300.0, test: 200.0 };
        let ft = finetune_seconds(t, 2, 2, 100.0);
        assert!((ft - (2000.0 + 1400.0 / 3.0) / 100.0).abs() < 1e-9, "{ft}");
        // Texts are cut to the context, and an empty one counts one token.
        let task = Task {
            name: "t".into(),
            source: "test".into(),
            labels: vec!["a".into()],
            train: vec![
                Example { text: "x".repeat(50), label: 0 },
                Example { text: String::new(), label: 0 },
            ],
            dev: vec![],
            test: vec![Example { text: "abc".into(), label: 0 }],
            rows_read: 3,
            duplicates_removed: 0,
        };
        // One batch of both: each computes at the longest, 32.
        assert_eq!(TaskTokens::of(&task, 32, 32), TaskTokens { train: 64.0, dev: 0.0, test: 3.0 });
        // Batches of one pad nothing.
        assert_eq!(TaskTokens::of(&task, 32, 1).train, 33.0);
        // Lengths 1, 2, 3, 4 in random pairs: the longer is 2, 3, 3, 4, 4, 4 over the six
        // pairs, 20/6 on average.
        let e = expected_longest(&mut [4.0, 1.0, 3.0, 2.0], 2);
        assert!((e - 20.0 / 6.0).abs() < 1e-12, "{e}");
    }
}
