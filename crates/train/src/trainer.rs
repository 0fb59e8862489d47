//! The training loop: batches, schedule, evaluation, early stopping, divergence, checkpoints,
//! and the measurements a scaling-law fit needs.
//!
//! - Batches: `rows` windows of `seq + 1` tokens at uniformly random offsets of the train
//!   split; the generator of step `s` is ChaCha8 seeded by the run's seed on stream `s`, so the
//!   data order is a pure function of (seed, step) and a resumed run sees the same batches.
//! - Schedule: [`crate::LrSchedule`], warm-up then cosine to 10% over exactly the run's steps.
//! - Evaluation after the log-spaced steps of [`TrainConfig::eval_steps`], on fixed windows
//!   spread evenly over the val and OOD splits; the final evaluation scores more tokens
//!   ([`TrainConfig::final_eval_tokens`]) of val, test and OOD.
//! - Divergence: a non-finite loss or gradient norm, or a smoothed loss (EMA, α = 0.1) above
//!   `divergence_ratio` × the first loss, stops the run with status `diverged`; such a run
//!   never reports a loss.
//! - `stop`: when it turns true the trainer checkpoints (if it has a directory) and returns
//!   status `interrupted`; with `resume` a later call continues from the checkpoint and ends
//!   on the same losses as an uninterrupted run (same thread count).

use crate::checkpoint::Checkpoint;
use crate::dataset::{Dataset, TokenSplit};
use crate::measure::{
    FLOP_CONVENTION, measured_peak_flops, peak_memory_bytes, train_flops_per_token,
};
use crate::{Engine, Error, Result, TrainConfig, make_engine};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Smoothing of the training loss for the divergence test.
const EMA_ALPHA: f32 = 0.1;

/// What a progress callback is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressEvent {
    /// An optimizer step finished.
    Step,
    /// An evaluation finished (`val_loss` is fresh).
    Eval,
}

/// The state of a run, reported after every step and evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// What just happened.
    pub event: ProgressEvent,
    /// Steps done.
    pub step: u64,
    /// Steps in the run.
    pub steps: u64,
    /// Tokens trained so far.
    pub tokens: u64,
    /// Tokens the run will train.
    pub total_tokens: u64,
    /// Loss of the last training batch, nats/token.
    pub train_loss: f32,
    /// Learning rate of the last step.
    pub lr: f32,
    /// Training throughput since this call of `train` began.
    pub tokens_per_second: f64,
    /// Seconds since this call of `train` began.
    pub elapsed_seconds: f64,
    /// Estimated seconds left.
    pub eta_seconds: f64,
    /// The latest validation loss, if evaluated yet.
    pub val_loss: Option<f32>,
}

/// One point of the loss curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Tokens trained.
    pub tokens: u64,
    /// Steps done.
    pub step: u64,
    /// Mean training-batch loss since the previous point, nats/token.
    pub train_loss: f32,
    /// Validation loss, nats/token.
    pub val_loss: f32,
    /// Out-of-distribution loss, nats/token.
    pub ood_loss: Option<f32>,
    /// Learning rate at this step.
    pub lr: f32,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Trained its budget (or stopped early on val loss): the losses are results.
    Done,
    /// NaN/inf or runaway loss: no loss is reported.
    Diverged,
    /// Stopped on request; resumable from its checkpoint.
    Interrupted,
}

/// What the dataset was, in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    /// Corpus name.
    pub corpus: String,
    /// Tokenizer (`byte` or `bpe4096`).
    pub tokenizer: String,
    /// Vocabulary size.
    pub vocab: usize,
    /// Tokens in train/val/test/ood.
    pub train_tokens: u64,
    /// Validation tokens.
    pub val_tokens: u64,
    /// Test tokens.
    pub test_tokens: u64,
    /// Out-of-distribution tokens (0 if none).
    pub ood_tokens: u64,
}

/// Everything measured about one run; `--json` prints it and `report.json` holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// `done`, `diverged` or `interrupted`.
    pub status: RunStatus,
    /// Why it diverged, stopped early or was interrupted.
    pub reason: Option<String>,
    /// Total parameters (isoflop-cost's count).
    pub params: u64,
    /// Non-embedding parameters (the N of the FLOP count).
    pub non_embedding_params: u64,
    /// Tokens trained.
    pub tokens: u64,
    /// Optimizer steps done.
    pub steps: u64,
    /// Training FLOPs: `flops_per_token · tokens`.
    pub flops: f64,
    /// Training FLOPs per token.
    pub flops_per_token: f64,
    /// The FLOP convention, in words.
    pub flop_convention: String,
    /// Final validation loss, nats/token (None unless `done`).
    pub val_loss: Option<f64>,
    /// Final test loss, nats/token.
    pub test_loss: Option<f64>,
    /// Final out-of-distribution loss, nats/token.
    pub ood_loss: Option<f64>,
    /// Validation bits per UTF-8 byte.
    pub bits_per_byte: Option<f64>,
    /// Out-of-distribution bits per UTF-8 byte.
    pub ood_bits_per_byte: Option<f64>,
    /// Training tokens per second (evaluation time excluded).
    pub tokens_per_second: f64,
    /// Model FLOPs utilisation against `peak_flops`.
    pub mfu: f64,
    /// The machine's measured peak FLOP/s used for MFU.
    pub peak_flops: f64,
    /// Wall-clock seconds of the whole run, evaluation included (all resumed segments; a WSD
    /// branch's from its branch point).
    pub wall_seconds: f64,
    /// Seconds spent in training steps.
    pub train_seconds: f64,
    /// Peak resident memory of the process, bytes.
    pub peak_memory_bytes: Option<u64>,
    /// Compute threads in use.
    pub threads: usize,
    /// The loss curve.
    pub curve: Vec<CurvePoint>,
    /// The data.
    pub data: DataSummary,
    /// The resolved configuration.
    pub config: TrainConfig,
}

/// The trainer's state between steps: what a checkpoint must carry besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LoopState {
    config: TrainConfig,
    step: u64,
    tokens: u64,
    /// The data order is ChaCha8(seed) on stream `step`: nothing else to save.
    rng: String,
    curve: Vec<CurvePoint>,
    acc_sum: f64,
    acc_n: u64,
    first_loss: Option<f32>,
    ema: Option<f32>,
    best_val: Option<f32>,
    evals_since_best: usize,
    wall_seconds: f64,
    train_seconds: f64,
}

/// The checkpoint in `dir` and its loop state (a resume's own, or a trunk's snapshot), or
/// `None` where there is none; a state that does not parse is an error naming the file.
fn load_checkpoint(dir: &std::path::Path) -> Result<Option<(Checkpoint, LoopState)>> {
    let Some(mut ck) = Checkpoint::load(dir)? else { return Ok(None) };
    let state =
        serde_json::from_value(std::mem::take(&mut ck.state)).map_err(|e| Error::Checkpoint {
            path: crate::checkpoint::checkpoint_path(dir),
            message: format!("unreadable state: {e}"),
        })?;
    Ok(Some((ck, state)))
}

/// Fills `inputs`/`targets` with step `step`'s batch.
fn sample_batch(
    split: &TokenSplit,
    seed: u64,
    step: u64,
    rows: usize,
    seq: usize,
    inputs: &mut Vec<u32>,
    targets: &mut Vec<u32>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step);
    inputs.clear();
    targets.clear();
    let mut window = Vec::with_capacity(seq + 1);
    for _ in 0..rows {
        let start = rng.gen_range(0..split.len() - seq);
        window.clear();
        split.extend_window(start, seq + 1, &mut window);
        inputs.extend_from_slice(&window[..seq]);
        targets.extend_from_slice(&window[1..]);
    }
}

/// Mean loss over fixed windows spread evenly across `split`, at most `max_tokens` scored.
pub(crate) fn evaluate(
    engine: &mut dyn Engine,
    split: &TokenSplit,
    seq: usize,
    rows: usize,
    max_tokens: u64,
) -> Result<f32> {
    let seq = seq.min(split.len().saturating_sub(1));
    if seq == 0 {
        return Err(Error::InvalidTrainConfig(format!(
            "an evaluation split has {} token(s): too few to score",
            split.len()
        )));
    }
    let available = (split.len() - 1) / seq;
    let n = ((max_tokens as usize) / seq).clamp(1, available);
    let stride = (split.len() - 1 - seq) / n.max(1);
    let starts: Vec<usize> = (0..n).map(|i| i * stride.max(1)).collect();
    let (mut sum, mut count) = (0f64, 0usize);
    let (mut x, mut y, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for chunk in starts.chunks(rows.max(1)) {
        x.clear();
        y.clear();
        for &s in chunk {
            w.clear();
            split.extend_window(s, seq + 1, &mut w);
            x.extend_from_slice(&w[..seq]);
            y.extend_from_slice(&w[1..]);
        }
        let loss = engine.eval_loss(&x, &y, chunk.len(), seq)?;
        sum += f64::from(loss) * chunk.len() as f64;
        count += chunk.len();
    }
    Ok((sum / count as f64) as f32)
}

/// The name of the first loss that is not finite, if any.
fn non_finite(losses: &[(&'static str, Option<f32>)]) -> Option<&'static str> {
    losses.iter().find(|(_, l)| l.is_some_and(|l| !l.is_finite())).map(|(name, _)| *name)
}

/// Bits per byte of a loss in nats/token on a split of `tokens` tokens and `bytes` bytes.
pub fn bits_per_byte(loss: f64, tokens: u64, bytes: u64) -> f64 {
    loss * tokens as f64 / (bytes as f64 * std::f64::consts::LN_2)
}

fn save(engine: &dyn Engine, state: &LoopState) -> Result<()> {
    let Some(dir) = &state.config.checkpoint_dir else { return Ok(()) };
    save_to(engine, state, dir)
}

/// Where a run keeps its checkpoint of step `step` (a WSD trunk's branch point).
pub fn snapshot_dir(checkpoint_dir: &std::path::Path, step: u64) -> std::path::PathBuf {
    checkpoint_dir.join("snapshots").join(format!("step-{step}"))
}

fn save_to(engine: &dyn Engine, state: &LoopState, dir: &std::path::Path) -> Result<()> {
    let (adam_step, moments) = engine.optimizer_state()?;
    let ck = Checkpoint {
        state: serde_json::to_value(state).expect("state serialises"),
        adam_step,
        weights: engine.weights()?,
        moments,
    };
    ck.save(dir)
}

/// Trains one model on `data` as `cfg` says, calling `on_progress` after every step and
/// evaluation, until the budget is spent, the run diverges or `stop` turns true.
pub fn train(
    cfg: &TrainConfig,
    data: &Dataset,
    on_progress: &mut dyn FnMut(&Progress),
    stop: &AtomicBool,
) -> Result<RunReport> {
    cfg.validate()?;
    // The run's one thread count: its engine's pool, the peak its MFU is measured against and
    // its report all use it, whatever other runs of the process use.
    let threads = crate::resolve_threads("threads", cfg.threads)?;
    let cfg = &TrainConfig { threads, ..cfg.clone() };
    if data.meta.vocab > cfg.model.vocab {
        return Err(Error::InvalidTrainConfig(format!(
            "the dataset's vocabulary ({}, {}) exceeds the model's ({})",
            data.meta.vocab, data.meta.tokenizer, cfg.model.vocab
        )));
    }
    if data.train.len() <= cfg.seq + 1 {
        return Err(Error::InvalidTrainConfig(format!(
            "the train split has {} tokens, fewer than one row of {} + 1",
            data.train.len(),
            cfg.seq
        )));
    }
    // Refused here rather than aborted by a failed allocation inside the engine.
    crate::memory::check_memory(cfg)?;
    let mut engine = make_engine(cfg.engine, cfg.model, cfg.seed, cfg.device, threads)?;
    let mut state = LoopState {
        config: cfg.clone(),
        step: 0,
        tokens: 0,
        rng: format!("chacha8(seed {}) stream = step", cfg.seed),
        curve: Vec::new(),
        acc_sum: 0.0,
        acc_n: 0,
        first_loss: None,
        ema: None,
        best_val: None,
        evals_since_best: 0,
        wall_seconds: 0.0,
        train_seconds: 0.0,
    };
    if cfg.resume {
        let dir = cfg.checkpoint_dir.as_ref().expect("validated: resume has a directory");
        if let Some((ck, saved)) = load_checkpoint(dir)? {
            let path = crate::checkpoint::checkpoint_path(dir);
            cfg.resumable_from(&saved.config).map_err(|diff| Error::Checkpoint {
                path: path.clone(),
                message: format!("was written by a different run ({diff})"),
            })?;
            engine.set_weights(&ck.weights)?;
            engine.set_optimizer_state(ck.adam_step, &ck.moments)?;
            state = LoopState { config: cfg.clone(), ..saved };
        } else if let Some(from) = &cfg.init_from {
            // A cooldown branch, first started: its trunk's snapshot at the branch point is where
            // it begins (weights, AdamW moments, step, data position and the curve so far).
            let path = crate::checkpoint::checkpoint_path(from);
            let (ck, saved) = load_checkpoint(from)?.ok_or_else(|| Error::Checkpoint {
                path: path.clone(),
                message: "the trunk's snapshot to branch from is missing".into(),
            })?;
            cfg.branchable_from(&saved.config).map_err(|diff| Error::Checkpoint {
                path: path.clone(),
                message: format!("cannot branch from this trunk ({diff})"),
            })?;
            if saved.step >= cfg.steps() {
                return Err(Error::Checkpoint {
                    path,
                    message: format!(
                        "the snapshot is at step {}, not before this branch's {} steps",
                        saved.step,
                        cfg.steps()
                    ),
                });
            }
            engine.set_weights(&ck.weights)?;
            engine.set_optimizer_state(ck.adam_step, &ck.moments)?;
            // The trunk's evaluations, best loss and patience carry over, as in a resume; its
            // clock does not: a branch's seconds are its cooldown's, the trunk's are the
            // trunk run's, so a sweep's summed run times count each second once.
            state =
                LoopState { config: cfg.clone(), wall_seconds: 0.0, train_seconds: 0.0, ..saved };
        }
    }

    let peak_flops = cfg.peak_flops.unwrap_or_else(|| measured_peak_flops(threads));
    let flops_per_token = train_flops_per_token(&cfg.model, cfg.seq);
    let schedule = cfg.schedule();
    let steps = cfg.steps();
    let eval_steps = cfg.eval_steps();
    let (rows, seq) = (cfg.rows(), cfg.seq);
    let started = Instant::now();
    let (wall0, train0, tokens0) = (state.wall_seconds, state.train_seconds, state.tokens);
    let mut train_secs = 0f64;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let mut last_loss = f32::NAN;
    // The learning rate of the last step taken (for the curve when no step runs now).
    let mut lr = schedule.lr(state.step.saturating_sub(1));
    let mut status = RunStatus::Done;
    let mut reason = None;

    while state.step < steps {
        if stop.load(Ordering::Relaxed) {
            status = RunStatus::Interrupted;
            reason = Some(format!("stopped at step {} of {steps}", state.step));
            break;
        }
        let t0 = Instant::now();
        sample_batch(&data.train, cfg.seed, state.step, rows, seq, &mut x, &mut y);
        let loss = engine.forward_backward(&x, &y, rows, seq)?;
        lr = schedule.lr(state.step);
        let norm = if loss.is_finite() {
            engine.step(&crate::AdamW { lr, ..cfg.adamw })?
        } else {
            f32::NAN
        };
        train_secs += t0.elapsed().as_secs_f64();
        state.step += 1;
        state.tokens += cfg.batch_tokens;
        last_loss = loss;
        let first = *state.first_loss.get_or_insert(loss);
        let ema = state.ema.map_or(loss, |e| e + EMA_ALPHA * (loss - e));
        state.ema = Some(ema);
        if !loss.is_finite() || !norm.is_finite() {
            status = RunStatus::Diverged;
            reason = Some(format!(
                "non-finite {} at step {} (loss {loss}, gradient norm {norm})",
                if loss.is_finite() { "gradient" } else { "loss" },
                state.step
            ));
            break;
        }
        if ema > cfg.divergence_ratio * first {
            status = RunStatus::Diverged;
            reason = Some(format!(
                "smoothed loss {ema:.3} rose above {} × the first loss {first:.3} at step {}",
                cfg.divergence_ratio, state.step
            ));
            break;
        }
        state.acc_sum += f64::from(loss);
        state.acc_n += 1;

        let elapsed = started.elapsed().as_secs_f64();
        let tps = (state.tokens - tokens0) as f64 / train_secs.max(1e-9);
        let mut progress = Progress {
            event: ProgressEvent::Step,
            step: state.step,
            steps,
            tokens: state.tokens,
            total_tokens: cfg.trained_tokens(),
            train_loss: loss,
            lr,
            tokens_per_second: tps,
            elapsed_seconds: elapsed,
            eta_seconds: (steps - state.step) as f64 * cfg.batch_tokens as f64 / tps.max(1e-9),
            val_loss: state.curve.last().map(|p| p.val_loss),
        };
        on_progress(&progress);

        if eval_steps.binary_search(&state.step).is_ok() && state.step < steps {
            let val = evaluate(engine.as_mut(), &data.val, seq, rows, cfg.eval_tokens)?;
            let ood = match &data.ood {
                Some(o) => Some(evaluate(engine.as_mut(), o, seq, rows, cfg.eval_tokens)?),
                None => None,
            };
            if let Some(why) = non_finite(&[("validation", Some(val)), ("OOD", ood)]) {
                status = RunStatus::Diverged;
                reason = Some(format!("non-finite {why} loss at step {}", state.step));
                break;
            }
            state.curve.push(CurvePoint {
                tokens: state.tokens,
                step: state.step,
                train_loss: (state.acc_sum / state.acc_n.max(1) as f64) as f32,
                val_loss: val,
                ood_loss: ood,
                lr,
            });
            state.acc_sum = 0.0;
            state.acc_n = 0;
            progress.event = ProgressEvent::Eval;
            progress.val_loss = Some(val);
            on_progress(&progress);
            if state.best_val.is_none_or(|b| val < b) {
                state.best_val = Some(val);
                state.evals_since_best = 0;
            } else {
                state.evals_since_best += 1;
                if cfg.patience.is_some_and(|p| state.evals_since_best >= p) {
                    reason = Some(format!(
                        "early stopping at step {}: val loss has not improved on {:.4} for {} \
                         evaluations",
                        state.step,
                        state.best_val.unwrap_or(f32::NAN),
                        state.evals_since_best
                    ));
                    break;
                }
            }
        }
        if cfg.snapshot_steps.contains(&state.step)
            && let Some(dir) = &cfg.checkpoint_dir
        {
            // A branch point: the checkpoint, kept as it is at this step.
            state.wall_seconds = wall0 + started.elapsed().as_secs_f64();
            state.train_seconds = train0 + train_secs;
            let snap = snapshot_dir(dir, state.step);
            if Checkpoint::load(&snap).ok().flatten().is_none() {
                save_to(engine.as_ref(), &state, &snap)?;
            }
        }
        if cfg.checkpoint_every > 0
            && state.step.is_multiple_of(cfg.checkpoint_every)
            && state.step < steps
        {
            state.wall_seconds = wall0 + started.elapsed().as_secs_f64();
            state.train_seconds = train0 + train_secs;
            save(engine.as_ref(), &state)?;
        }
    }

    let mut report_losses = (None, None, None);
    let mut finals = None;
    if status == RunStatus::Done {
        let n = cfg.final_eval_tokens;
        let val = evaluate(engine.as_mut(), &data.val, seq, rows, n)?;
        let test = evaluate(engine.as_mut(), &data.test, seq, rows, n)?;
        let ood = match &data.ood {
            Some(o) => Some(evaluate(engine.as_mut(), o, seq, rows, n)?),
            None => None,
        };
        let losses = [("validation", Some(val)), ("test", Some(test)), ("OOD", ood)];
        match non_finite(&losses) {
            Some(why) => {
                status = RunStatus::Diverged;
                reason = Some(format!("non-finite final {why} loss at step {}", state.step));
            }
            None => finals = Some((val, test, ood)),
        }
    }
    if let Some((val, test, ood)) = finals {
        // A resumed run that had already finished re-scores its last point; otherwise the
        // final point carries the mean training loss since the previous evaluation.
        let previous = state.curve.last().filter(|p| p.step == state.step).cloned();
        let train_loss = match (&previous, state.acc_n) {
            (Some(p), _) => p.train_loss,
            (None, 0) => last_loss,
            (None, n) => (state.acc_sum / n as f64) as f32,
        };
        if previous.is_some() {
            state.curve.pop();
        }
        state.curve.push(CurvePoint {
            tokens: state.tokens,
            step: state.step,
            train_loss,
            val_loss: val,
            ood_loss: ood,
            lr,
        });
        state.acc_sum = 0.0;
        state.acc_n = 0;
        report_losses = (Some(val), Some(test), ood);
    }
    state.wall_seconds = wall0 + started.elapsed().as_secs_f64();
    state.train_seconds = train0 + train_secs;
    if status != RunStatus::Diverged {
        save(engine.as_ref(), &state)?;
    }

    let params = cfg.model.shape().params();
    let tokens_per_second = (state.tokens - tokens0) as f64 / train_secs.max(1e-9);
    let (val, test, ood) = report_losses;
    let m = &data.meta;
    Ok(RunReport {
        status,
        reason,
        params: params.total,
        non_embedding_params: params.non_embedding,
        tokens: state.tokens,
        steps: state.step,
        flops: flops_per_token * state.tokens as f64,
        flops_per_token,
        flop_convention: format!("{FLOP_CONVENTION}: {}", FLOP_CONVENTION.formula()),
        val_loss: val.map(f64::from),
        test_loss: test.map(f64::from),
        ood_loss: ood.map(f64::from),
        bits_per_byte: val.map(|v| bits_per_byte(f64::from(v), m.val.tokens, m.val.bytes)),
        ood_bits_per_byte: ood
            .zip(m.ood)
            .map(|(v, s)| bits_per_byte(f64::from(v), s.tokens, s.bytes)),
        tokens_per_second,
        mfu: flops_per_token * tokens_per_second / peak_flops,
        peak_flops,
        wall_seconds: state.wall_seconds,
        train_seconds: state.train_seconds,
        peak_memory_bytes: peak_memory_bytes(),
        threads,
        curve: state.curve,
        data: DataSummary {
            corpus: m.corpus.clone(),
            tokenizer: m.tokenizer.tag(),
            vocab: m.vocab,
            train_tokens: m.train.tokens,
            val_tokens: m.val.tokens,
            test_tokens: m.test.tokens,
            ood_tokens: m.ood.map_or(0, |s| s.tokens),
        },
        config: cfg.clone(),
    })
}
