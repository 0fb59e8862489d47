//! The fine-tuning loop: epochs of shuffled batches, AdamW on a warm-up + cosine schedule,
//! dev evaluations, early stopping with patience restoring the best dev checkpoint, and the
//! test scores.
//!
//! - Texts are tokenized one by one and cut to the model's context (their first tokens).
//! - A batch is `batch` texts padded on the right to its longest (causal attention and
//!   pooling over real tokens make padding inert, [`super::head`]).
//! - The order of epoch e is a ChaCha8 shuffle seeded by the run's seed on stream e + 2.
//! - After every `1/evals_per_epoch` of an epoch the dev loss is measured; the parameters of
//!   the lowest dev loss are kept, and training stops when `patience` evaluations in a row
//!   have not lowered it (small tasks over-fit within a few epochs). The test split is scored
//!   once, with the best dev parameters.

use super::{FineTuneConfig, FineTuneModel};
use crate::baseline::naive_bayes_scores;
use crate::metrics::{ClassScore, Scores};
use crate::task::{Example, Task};
use crate::{AdamW, LrSchedule, Result, Tokenizer};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Share of the steps spent warming the learning rate up.
pub const WARMUP_FRACTION: f64 = 0.06;
/// Texts per evaluation batch.
const EVAL_BATCH: usize = 64;

/// A tokenized example.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Token ids, at most the model's context.
    pub tokens: Vec<u32>,
    /// Class index.
    pub label: usize,
}

/// Tokenizes examples, cutting each to `context` tokens (an empty text becomes one space).
pub fn encode(examples: &[Example], tok: &Tokenizer, context: usize) -> Result<Vec<Encoded>> {
    examples
        .iter()
        .map(|e| {
            let mut tokens = tok.encode(std::slice::from_ref(&e.text))?;
            if tokens.is_empty() {
                tokens = tok.encode(&[" ".to_string()])?;
            }
            tokens.truncate(context);
            Ok(Encoded { tokens, label: e.label })
        })
        .collect()
}

/// Pads a batch on the right with token 0: (tokens, lengths, seq).
pub fn pad(batch: &[&Encoded]) -> (Vec<u32>, Vec<usize>, usize) {
    let seq = batch.iter().map(|e| e.tokens.len()).max().unwrap_or(1);
    let mut tokens = vec![0u32; batch.len() * seq];
    for (row, e) in tokens.chunks_exact_mut(seq).zip(batch) {
        row[..e.tokens.len()].copy_from_slice(&e.tokens);
    }
    (tokens, batch.iter().map(|e| e.tokens.len()).collect(), seq)
}

/// The state reported to a progress callback after every step.
#[derive(Debug, Clone, Serialize)]
pub struct FineTuneProgress {
    /// Steps done.
    pub step: u64,
    /// Steps at most (every epoch run).
    pub steps: u64,
    /// Epochs done, fractional.
    pub epoch: f64,
    /// Loss of the last training batch.
    pub train_loss: f32,
    /// The latest dev loss.
    pub dev_loss: Option<f32>,
    /// The latest dev accuracy.
    pub dev_accuracy: Option<f64>,
}

/// One dev evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTunePoint {
    /// Steps done.
    pub step: u64,
    /// Epochs done, fractional.
    pub epoch: f64,
    /// Mean training loss since the previous point.
    pub train_loss: f32,
    /// Dev loss.
    pub dev_loss: f32,
    /// Dev accuracy.
    pub dev_accuracy: f64,
}

/// How a fine-tune ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FineTuneStatus {
    /// Finished (all epochs or early stopping): the scores are results.
    Done,
    /// Stopped on request before the end; scored with the best parameters so far.
    Interrupted,
}

/// Everything measured about one fine-tune (`finetune --json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FineTuneReport {
    /// The task's name.
    pub task: String,
    /// The method.
    pub method: String,
    /// `done` or `interrupted`.
    pub status: FineTuneStatus,
    /// Test accuracy with the best dev parameters.
    pub accuracy: f64,
    /// Test macro-F1.
    pub macro_f1: f64,
    /// Test accuracy of always answering the majority training class.
    pub majority_accuracy: f64,
    /// Test accuracy of the naive Bayes baseline ([`crate::baseline`]).
    pub baseline_accuracy: f64,
    /// Test macro-F1 of the naive Bayes baseline.
    pub baseline_macro_f1: f64,
    /// Parameters of the fine-tuned model (GPT, head and extra weights).
    pub params: u64,
    /// Parameters that trained.
    pub trainable_params: u64,
    /// `trainable_params / params`.
    pub trainable_fraction: f64,
    /// Per-class test precision, recall, F1 and support.
    pub per_class: Vec<ClassScore>,
    /// Test confusion matrix, `[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Test loss with the best dev parameters.
    pub test_loss: f64,
    /// The lowest dev loss and the step it was measured at.
    pub best_dev_loss: f64,
    /// Step of the best dev loss.
    pub best_step: u64,
    /// Dev accuracy at that step.
    pub dev_accuracy: f64,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Epochs run, fractional.
    pub epochs: f64,
    /// Whether early stopping ended the run before its last epoch.
    pub stopped_early: bool,
    /// Seconds of the whole fine-tune (training, evaluation, test).
    pub wall_seconds: f64,
    /// Real (unpadded) training tokens per second of training.
    pub tokens_per_second: f64,
    /// Dev evaluations.
    pub curve: Vec<FineTunePoint>,
    /// The settings.
    pub config: FineTuneConfig,
}

/// Mean loss and predictions of `data`, in its order.
pub fn evaluate(model: &mut FineTuneModel, data: &[Encoded]) -> Result<(f64, Vec<usize>)> {
    // Batches of similar lengths pad least: evaluate in length order, answer in data order.
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by_key(|&i| data[i].tokens.len());
    let mut predicted = vec![0usize; data.len()];
    let mut total = 0.0f64;
    for chunk in order.chunks(EVAL_BATCH) {
        let batch: Vec<&Encoded> = chunk.iter().map(|&i| &data[i]).collect();
        let (tokens, lens, seq) = pad(&batch);
        let labels: Vec<usize> = batch.iter().map(|e| e.label).collect();
        let loss = model.loss(&tokens, &lens, seq, &labels, false)?;
        total += loss as f64 * chunk.len() as f64;
        let logits = model.logits(&tokens, &lens, seq)?;
        let c = logits.len() / chunk.len();
        for (&i, row) in chunk.iter().zip(logits.chunks_exact(c)) {
            predicted[i] = (0..c).fold(0, |b, k| if row[k] > row[b] { k } else { b });
        }
    }
    Ok((total / data.len().max(1) as f64, predicted))
}

/// Fine-tunes `model` on `task` and scores it on the test split.
pub fn finetune(
    model: &mut FineTuneModel,
    task: &Task,
    tok: &Tokenizer,
    progress: &mut dyn FnMut(&FineTuneProgress),
    stop: &AtomicBool,
) -> Result<FineTuneReport> {
    task.validate()?;
    let start = Instant::now();
    let ft = model.settings().clone();
    let context = model.config().context;
    let train = encode(&task.train, tok, context)?;
    let dev = encode(&task.dev, tok, context)?;
    let test = encode(&task.test, tok, context)?;
    let steps_per_epoch = train.len().div_ceil(ft.batch) as u64;
    let total = steps_per_epoch * ft.max_epochs as u64;
    let schedule = LrSchedule {
        peak: ft.lr,
        warmup_steps: ((total as f64 * WARMUP_FRACTION).ceil() as u64).max(1),
        total_steps: total,
        final_ratio: crate::FINAL_LR_RATIO,
        shape: crate::ScheduleShape::Cosine,
    };
    let eval_every = steps_per_epoch.div_ceil(ft.evals_per_epoch as u64).max(1);
    let mut best = (f64::INFINITY, 0u64, 0.0f64, model.snapshot());
    let (mut bad, mut step, mut stopped_early, mut interrupted) = (0usize, 0u64, false, false);
    let (mut since_sum, mut since_n, mut trained_tokens) = (0.0f64, 0u64, 0u64);
    let mut train_seconds = 0.0f64;
    let mut curve = Vec::new();
    let (mut last_dev, mut last_acc) = (None, None);
    'epochs: for epoch in 0..ft.max_epochs {
        let mut order: Vec<usize> = (0..train.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(ft.seed);
        rng.set_stream(epoch as u64 + 2);
        order.shuffle(&mut rng);
        for (i, chunk) in order.chunks(ft.batch).enumerate() {
            if stop.load(Ordering::Relaxed) {
                interrupted = true;
                break 'epochs;
            }
            let t0 = Instant::now();
            let batch: Vec<&Encoded> = chunk.iter().map(|&j| &train[j]).collect();
            let (tokens, lens, seq) = pad(&batch);
            let labels: Vec<usize> = batch.iter().map(|e| e.label).collect();
            let loss = model.loss(&tokens, &lens, seq, &labels, true)?;
            let opt = AdamW {
                lr: schedule.lr(step),
                weight_decay: ft.weight_decay,
                beta2: 0.999,
                ..AdamW::default()
            };
            model.step(&opt);
            train_seconds += t0.elapsed().as_secs_f64();
            trained_tokens += lens.iter().sum::<usize>() as u64;
            step += 1;
            since_sum += loss as f64;
            since_n += 1;
            let last_in_epoch = i as u64 + 1 == steps_per_epoch;
            if (i as u64 + 1).is_multiple_of(eval_every) || last_in_epoch {
                let (dev_loss, pred) = evaluate(model, &dev)?;
                let gold: Vec<usize> = dev.iter().map(|e| e.label).collect();
                let acc = Scores::new(&task.labels, &gold, &pred).accuracy;
                curve.push(FineTunePoint {
                    step,
                    epoch: step as f64 / steps_per_epoch as f64,
                    train_loss: (since_sum / since_n.max(1) as f64) as f32,
                    dev_loss: dev_loss as f32,
                    dev_accuracy: acc,
                });
                (since_sum, since_n) = (0.0, 0);
                (last_dev, last_acc) = (Some(dev_loss as f32), Some(acc));
                if dev_loss < best.0 {
                    best = (dev_loss, step, acc, model.snapshot());
                    bad = 0;
                } else {
                    bad += 1;
                    if bad >= ft.patience {
                        stopped_early = step < total;
                        break 'epochs;
                    }
                }
            }
            progress(&FineTuneProgress {
                step,
                steps: total,
                epoch: step as f64 / steps_per_epoch as f64,
                train_loss: loss,
                dev_loss: last_dev,
                dev_accuracy: last_acc,
            });
        }
    }
    model.restore(&best.3);
    let (test_loss, pred) = evaluate(model, &test)?;
    let gold: Vec<usize> = test.iter().map(|e| e.label).collect();
    let scores = Scores::new(&task.labels, &gold, &pred);
    let nb = naive_bayes_scores(task);
    let (params, trainable) = (model.params(), model.trainable_params());
    Ok(FineTuneReport {
        task: task.name.clone(),
        method: ft.method.name().into(),
        status: if interrupted { FineTuneStatus::Interrupted } else { FineTuneStatus::Done },
        accuracy: scores.accuracy,
        macro_f1: scores.macro_f1,
        majority_accuracy: task.majority_accuracy(),
        baseline_accuracy: nb.accuracy,
        baseline_macro_f1: nb.macro_f1,
        params,
        trainable_params: trainable,
        trainable_fraction: trainable as f64 / params as f64,
        per_class: scores.per_class,
        confusion: scores.confusion,
        test_loss,
        best_dev_loss: best.0,
        best_step: best.1,
        dev_accuracy: best.2,
        steps: step,
        epochs: step as f64 / steps_per_epoch.max(1) as f64,
        stopped_early,
        wall_seconds: start.elapsed().as_secs_f64(),
        tokens_per_second: trained_tokens as f64 / train_seconds.max(1e-9),
        curve,
        config: ft,
    })
}
