//! The trainer end to end on text the tests make: overfitting, beating the unigram entropy,
//! determinism, resume, divergence and early stopping.

use isoflop_train::{
    Corpus, Dataset, Document, EngineKind, GptConfig, RunReport, RunStatus, ScheduleShape,
    TokenizerKind, TrainConfig, snapshot_dir, train,
};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// English-like text from a tiny grammar: a few hundred KB of sentences, seeded.
fn grammar_text(seed: u64, sentences: usize) -> String {
    let subjects = ["the cat", "a dog", "my old friend", "the king", "her brother", "a ship"];
    let verbs = ["sees", "loves", "follows", "remembers", "carries", "finds"];
    let objects = ["the sea", "a small house", "the bright moon", "his letter", "the road"];
    let tails = [".", ", and then it rains.", " at night.", " in the morning.", "!"];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut s = String::new();
    for i in 0..sentences {
        s.push_str(subjects[rng.gen_range(0..subjects.len())]);
        s.push(' ');
        s.push_str(verbs[rng.gen_range(0..verbs.len())]);
        s.push(' ');
        s.push_str(objects[rng.gen_range(0..objects.len())]);
        s.push_str(tails[rng.gen_range(0..tails.len())]);
        s.push(if i % 7 == 6 { '\n' } else { ' ' });
    }
    s
}

fn corpus_of(texts: &[String]) -> Corpus {
    Corpus {
        name: "test".into(),
        documents: texts
            .iter()
            .enumerate()
            .map(|(i, t)| Document { name: format!("doc{i}"), text: t.clone() })
            .collect(),
        ood: vec![Document { name: "ood".into(), text: "ALL CAPS AND NUMBERS 12345\n".repeat(40) }],
    }
}

fn config(model: GptConfig, tokens: u64, batch_tokens: u64, lr: f32) -> TrainConfig {
    let mut c = TrainConfig::new(model, tokens).unwrap().with_batch_tokens(batch_tokens).unwrap();
    c.adamw.lr = lr;
    c.eval_points = 4;
    c.eval_tokens = 2048;
    c.final_eval_tokens = 8192;
    c.peak_flops = Some(1e11); // skip the peak probe in tests
    c
}

fn run(cfg: &TrainConfig, data: &Dataset) -> RunReport {
    train(cfg, data, &mut |_| {}, &AtomicBool::new(false)).unwrap()
}

/// Byte unigram entropy of text, nats.
fn unigram_entropy(tokens: &[u32]) -> f64 {
    let mut counts = [0f64; 256];
    for &t in tokens {
        counts[t as usize] += 1.0;
    }
    let n = tokens.len() as f64;
    counts.iter().filter(|&&c| c > 0.0).map(|&c| -(c / n) * (c / n).ln()).sum()
}

fn dataset(corpus: &Corpus, cache: &Path) -> Dataset {
    Dataset::prepare(corpus, TokenizerKind::Byte, 0, cache).unwrap()
}

#[test]
fn tiny_model_overfits_tiny_text() {
    // Each letter's successor is unique, so a model that learns the text reaches ~0 loss.
    let text = "abcdefghijklmnopqrstuvwxyz\n".repeat(400);
    let cache = tempfile::tempdir().unwrap();
    let data = dataset(&corpus_of(&[text]), cache.path());
    let model = GptConfig::new(1, 32, 2, 256, 32).unwrap();
    let r = run(&config(model, 150 * 256, 256, 1e-2), &data);
    assert_eq!(r.status, RunStatus::Done);
    let val = r.val_loss.unwrap();
    // ln 256 = 5.55 nats at the start; near zero at the end.
    assert!(val < 0.05, "val loss {val}");
    assert!(r.curve.first().unwrap().val_loss > r.curve.last().unwrap().val_loss);
}

#[test]
fn loss_falls_below_unigram_entropy() {
    let texts: Vec<String> = (0..4).map(|i| grammar_text(i, 1500)).collect();
    let cache = tempfile::tempdir().unwrap();
    let data = dataset(&corpus_of(&texts), cache.path());
    let mut all = Vec::new();
    data.train.extend_window(0, data.train.len(), &mut all);
    let h = unigram_entropy(&all);
    let model = GptConfig::new(2, 64, 2, 256, 64).unwrap();
    let r = run(&config(model, 120 * 512, 512, 3e-3), &data);
    let val = r.val_loss.unwrap();
    // English-like bytes carry ≈ 2.9 nats of unigram entropy; context must buy much more.
    assert!(val < 0.8 * h, "val loss {val} vs unigram entropy {h}");
    assert!((r.bits_per_byte.unwrap() - val / std::f64::consts::LN_2).abs() < 1e-9);
    assert!(r.ood_loss.unwrap() > val, "OOD text is harder: {:?} vs {val}", r.ood_loss);
    assert!(r.flops > 0.0 && r.tokens_per_second > 0.0 && r.mfu > 0.0);
    assert_eq!(r.tokens, 120 * 512);
    // report.json reads back.
    let back: RunReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back.val_loss, r.val_loss);
    assert_eq!(back.curve, r.curve);
}

/// Same seed, same losses; an interrupted and resumed run ends on the uninterrupted losses;
/// for both engines.
fn determinism_and_resume(engine: &str) -> RunReport {
    let texts: Vec<String> = (0..3).map(|i| grammar_text(10 + i, 600)).collect();
    let cache = tempfile::tempdir().unwrap();
    let data = dataset(&corpus_of(&texts), cache.path());
    let model = GptConfig::new(1, 32, 2, 256, 32).unwrap();
    let mut base = config(model, 40 * 256, 256, 3e-3);
    base.engine = engine.parse().unwrap();

    let a = run(&base, &data);
    let b = run(&base, &data);
    assert_eq!(a.curve, b.curve, "{engine}: same seed, same losses");
    let mut other = base.clone();
    other.seed = 1;
    assert_ne!(run(&other, &data).val_loss, a.val_loss);

    // Interrupt at step 13, then resume from the checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let mut ck = base.clone();
    ck.checkpoint_dir = Some(dir.path().to_path_buf());
    ck.checkpoint_every = 5;
    let stop = AtomicBool::new(false);
    let first = train(
        &ck,
        &data,
        &mut |p| {
            if p.step == 13 {
                stop.store(true, Ordering::Relaxed);
            }
        },
        &stop,
    )
    .unwrap();
    assert_eq!(first.status, RunStatus::Interrupted);
    assert_eq!(first.steps, 13);
    assert!(first.val_loss.is_none());
    ck.resume = true;
    let resumed = run(&ck, &data);
    assert_eq!(resumed.status, RunStatus::Done);
    assert_eq!(resumed.steps, 40);
    assert_eq!(resumed.val_loss, a.val_loss, "{engine}: resume reaches the uninterrupted loss");
    assert_eq!(resumed.curve, a.curve);

    // A checkpoint of another run is refused, naming what differs.
    let mut wrong = ck.clone();
    wrong.seed = 5;
    let e = train(&wrong, &data, &mut |_| {}, &AtomicBool::new(false)).unwrap_err().to_string();
    assert!(e.contains("different run") && e.contains("seed"), "{e}");
    a
}

#[test]
fn same_seed_same_losses_and_resume_equals_uninterrupted() {
    let candle = determinism_and_resume("candle");
    let kernels = determinism_and_resume("kernels");
    // The two engines start from the same weights (init_weights) and see the same batches, so
    // they train the same model up to float rounding: 40 steps agree to 1e-3 nats.
    let (c, k) = (candle.val_loss.unwrap(), kernels.val_loss.unwrap());
    assert!((c - k).abs() < 1e-3, "candle {c} vs kernels {k}");
}

#[test]
fn either_engine_resumes_the_others_checkpoint() {
    let texts: Vec<String> = (0..3).map(|i| grammar_text(30 + i, 600)).collect();
    let cache = tempfile::tempdir().unwrap();
    let data = dataset(&corpus_of(&texts), cache.path());
    let model = GptConfig::new(1, 32, 2, 256, 32).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(model, 30 * 256, 256, 3e-3);
    cfg.engine = EngineKind::Kernels;
    let whole = run(&cfg, &data);
    cfg.checkpoint_dir = Some(dir.path().to_path_buf());
    let stop = AtomicBool::new(false);
    let mut halt = |p: &isoflop_train::Progress| {
        if p.step == 15 {
            stop.store(true, Ordering::Relaxed);
        }
    };
    assert_eq!(train(&cfg, &data, &mut halt, &stop).unwrap().status, RunStatus::Interrupted);
    // The checkpoint names weights and AdamW moments as the PyTorch state_dict: candle reads
    // what the kernels wrote and finishes the run on the same losses, up to float rounding.
    cfg.engine = EngineKind::Candle;
    cfg.resume = true;
    let finished = run(&cfg, &data);
    let (a, b) = (whole.val_loss.unwrap(), finished.val_loss.unwrap());
    assert!((a - b).abs() < 1e-3, "kernels throughout {a} vs kernels then candle {b}");
}

#[test]
fn divergence_and_early_stopping() {
    let texts: Vec<String> = (0..3).map(|i| grammar_text(20 + i, 600)).collect();
    let cache = tempfile::tempdir().unwrap();
    let data = dataset(&corpus_of(&texts), cache.path());
    let model = GptConfig::new(1, 32, 2, 256, 32).unwrap();

    let mut wild = config(model, 60 * 256, 256, 5.0);
    wild.warmup_steps = 1;
    let r = run(&wild, &data);
    assert_eq!(r.status, RunStatus::Diverged, "{:?}", r.reason);
    assert!(r.val_loss.is_none() && r.bits_per_byte.is_none());
    assert!(r.reason.unwrap().contains("step"));

    // A learning rate so large the weights overflow: the loss turns NaN or infinite, which
    // is a divergence (with a report), not an engine failure. Both engines.
    for engine in ["kernels", "candle"] {
        let mut blown = config(model, 60 * 256, 256, 1e38);
        blown.warmup_steps = 0;
        blown.engine = engine.parse().unwrap();
        let r = train(&blown, &data, &mut |_| {}, &AtomicBool::new(false))
            .unwrap_or_else(|e| panic!("{engine}: a NaN loss failed the run: {e}"));
        assert_eq!(r.status, RunStatus::Diverged, "{engine}: {:?}", r.reason);
        assert!(r.reason.as_deref().unwrap_or("").contains("non-finite"), "{:?}", r.reason);
        assert!(r.val_loss.is_none());
    }

    // A learning rate too small to move the weights never improves the val loss.
    let mut still = config(model, 60 * 256, 256, 1e-12);
    still.eval_points = 8;
    still.patience = Some(2);
    let r = run(&still, &data);
    assert_eq!(r.status, RunStatus::Done);
    assert!(r.reason.as_deref().unwrap_or("").contains("early stopping"), "{:?}", r.reason);
    assert!(r.steps < 60);
}

/// A WSD cooldown branch started from its constant-rate trunk's snapshot ends exactly where the
/// same WSD run trained from scratch ends: the branches of Hägele et al. 2024 are real runs.
#[test]
fn a_cooldown_branch_from_the_trunk_equals_the_run_from_scratch() {
    let texts: Vec<String> = (0..3).map(|i| grammar_text(20 + i, 600)).collect();
    let cache = tempfile::tempdir().unwrap();
    let data = dataset(&corpus_of(&texts), cache.path());
    let model = GptConfig::new(1, 32, 2, 256, 32).unwrap();
    let wsd = |steps: u64, decay_steps: u64| {
        let mut c = config(model, steps * 256, 256, 3e-3);
        c.engine = "kernels".parse().unwrap();
        // Pinned: the default warm-up grows with the run's steps.
        c.warmup_steps = 4;
        c.schedule = ScheduleShape::Wsd { decay_steps };
        c
    };
    let scratch = run(&wsd(40, 8), &data);
    assert_eq!(scratch.status, RunStatus::Done);

    let trunk_dir = tempfile::tempdir().unwrap();
    let mut trunk = wsd(60, 0);
    trunk.checkpoint_dir = Some(trunk_dir.path().to_path_buf());
    trunk.snapshot_steps = vec![20, 32];
    assert_eq!(run(&trunk, &data).status, RunStatus::Done);
    for s in [20, 32] {
        assert!(snapshot_dir(trunk_dir.path(), s).join("checkpoint.safetensors").exists(), "{s}");
    }

    let branch_dir = tempfile::tempdir().unwrap();
    let mut branch = wsd(40, 8);
    branch.checkpoint_dir = Some(branch_dir.path().to_path_buf());
    branch.resume = true;
    branch.init_from = Some(snapshot_dir(trunk_dir.path(), 32));
    let b = run(&branch, &data);
    assert_eq!(b.status, RunStatus::Done);
    assert_eq!(b.steps, 40);
    assert_eq!(b.val_loss, scratch.val_loss, "branch from the trunk = the same run from scratch");
    // Run again, it resumes its own (final) checkpoint, not the trunk's.
    assert_eq!(run(&branch, &data).val_loss, b.val_loss);

    // A trunk of another run, or a snapshot past the branch's length, is refused.
    let mut wrong = wsd(40, 8);
    wrong.seed = 3;
    wrong.checkpoint_dir = Some(tempfile::tempdir().unwrap().keep());
    wrong.resume = true;
    wrong.init_from = branch.init_from.clone();
    let e = train(&wrong, &data, &mut |_| {}, &AtomicBool::new(false)).unwrap_err().to_string();
    assert!(e.contains("cannot branch") && e.contains("seed"), "{e}");
    let mut short = wsd(30, 8);
    short.checkpoint_dir = Some(tempfile::tempdir().unwrap().keep());
    short.resume = true;
    short.init_from = branch.init_from.clone();
    let e = train(&short, &data, &mut |_| {}, &AtomicBool::new(false)).unwrap_err().to_string();
    assert!(e.contains("not before"), "{e}");
}
