//! Fine-tuning in the CPU kernels: gradients of the head, LoRA, adapters and BitFit against
//! central finite differences, frozen weights unchanged, LoRA and adapters equal to the
//! pretrained model at step 0, padding invariance, merging, and early stopping restoring the
//! best dev checkpoint.

use isoflop_train::finetune::trainer::{Encoded, encode, evaluate};
use isoflop_train::finetune::{FineTuneConfig, FineTuneModel, Method, Pooling, finetune};
use isoflop_train::task::{Example, Task};
use isoflop_train::{AdamW, GptConfig, NamedTensor, Tokenizer, init_weights};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::AtomicBool;

fn cfg() -> GptConfig {
    GptConfig::new(2, 16, 2, 32, 12).unwrap()
}

/// Pretrained-like weights: the seeded init with every tensor (biases and gains too) jittered,
/// so no gradient vanishes by symmetry.
fn weights(cfg: &GptConfig) -> Vec<NamedTensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut w = init_weights(cfg, 1);
    for t in &mut w {
        for v in &mut t.data {
            *v += 0.1 * (rng.r#gen::<f32>() - 0.5);
        }
    }
    w
}

fn settings(method: Method, pooling: Pooling) -> FineTuneConfig {
    let mut ft = FineTuneConfig::new(method);
    ft.pooling = pooling;
    ft.lora.rank = 3;
    ft.lora.mlp = true;
    ft.adapter_size = 4;
    ft
}

/// Three rows of 5, 12 and 3 real tokens, padded to 12.
fn batch() -> (Vec<u32>, Vec<usize>, usize, Vec<usize>) {
    let lens = vec![5, 12, 3];
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let tokens = (0..36).map(|_| rng.gen_range(0..32)).collect();
    (tokens, lens, 12, vec![0, 2, 1])
}

/// Randomises every extra weight (LoRA B and adapter U start at zero, which would hide bugs
/// in the gradients of A and D).
fn randomise_extras(model: &mut FineTuneModel) {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let base: Vec<String> = init_weights(model.config(), 0).into_iter().map(|t| t.name).collect();
    for t in model.weights() {
        if !base.contains(&t.name) {
            let data: Vec<f32> = t.data.iter().map(|_| 0.3 * (rng.r#gen::<f32>() - 0.5)).collect();
            model.set_weight(&t.name, &data).unwrap();
        }
    }
}

fn check_gradients(method: Method, pooling: Pooling) {
    let cfg = cfg();
    let mut model = FineTuneModel::new(cfg, &weights(&cfg), 3, settings(method, pooling)).unwrap();
    randomise_extras(&mut model);
    let (tokens, lens, seq, labels) = batch();
    model.loss(&tokens, &lens, seq, &labels, true).unwrap();
    let grads = model.gradients();
    let trainable = |name: &str| {
        let base =
            !(name.starts_with("head.") || name.contains("lora_") || name.contains("adapter_"));
        match method {
            Method::Lora | Method::Adapter => !base,
            Method::Bitfit => !base || name.ends_with(".bias"),
            _ => true,
        }
    };
    let h = 1e-2f32;
    let mut checked = 0;
    for g in &grads {
        if !trainable(&g.name) {
            continue;
        }
        let w = model.weights().into_iter().find(|t| t.name == g.name).unwrap();
        let max = g.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        // Every entry of small tensors, a spread of entries of large ones.
        let stride = (g.data.len() / 12).max(1);
        for i in (0..g.data.len()).step_by(stride) {
            let mut data = w.data.clone();
            data[i] = w.data[i] + h;
            model.set_weight(&g.name, &data).unwrap();
            let up = model.loss(&tokens, &lens, seq, &labels, false).unwrap();
            data[i] = w.data[i] - h;
            model.set_weight(&g.name, &data).unwrap();
            let down = model.loss(&tokens, &lens, seq, &labels, false).unwrap();
            model.set_weight(&g.name, &w.data).unwrap();
            let fd = (up - down) / (2.0 * h);
            let tol = 3e-3 * max.max(1e-2) + 2e-4;
            assert!(
                (fd - g.data[i]).abs() <= tol,
                "{method} {pooling:?}: {}[{i}] analytic {} vs finite difference {fd}",
                g.name,
                g.data[i]
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "{method}: only {checked} entries checked");
}

#[test]
fn head_and_full_gradients_match_finite_differences() {
    check_gradients(Method::Full, Pooling::Mean);
    check_gradients(Method::Full, Pooling::Last);
}

#[test]
fn lora_gradients_match_finite_differences() {
    check_gradients(Method::Lora, Pooling::Mean);
}

#[test]
fn adapter_gradients_match_finite_differences() {
    check_gradients(Method::Adapter, Pooling::Mean);
}

#[test]
fn bitfit_gradients_match_finite_differences() {
    check_gradients(Method::Bitfit, Pooling::Mean);
}

#[test]
fn lora_and_adapters_start_as_the_pretrained_model() {
    let cfg = cfg();
    let w = weights(&cfg);
    let (tokens, lens, seq, _) = batch();
    let mut full = FineTuneModel::new(cfg, &w, 3, settings(Method::Full, Pooling::Mean)).unwrap();
    let want = full.logits(&tokens, &lens, seq).unwrap();
    for method in [Method::Lora, Method::Adapter, Method::Bitfit] {
        let mut m = FineTuneModel::new(cfg, &w, 3, settings(method, Pooling::Mean)).unwrap();
        assert_eq!(m.logits(&tokens, &lens, seq).unwrap(), want, "{method} at step 0");
    }
}

#[test]
fn frozen_weights_stay_bit_identical_and_counts_add_up() {
    let cfg = cfg();
    let w = weights(&cfg);
    let (tokens, lens, seq, labels) = batch();
    for method in [Method::Lora, Method::Adapter, Method::Bitfit] {
        let mut m = FineTuneModel::new(cfg, &w, 3, settings(method, Pooling::Mean)).unwrap();
        for _ in 0..5 {
            m.loss(&tokens, &lens, seq, &labels, true).unwrap();
            m.step(&AdamW { lr: 1e-2, ..AdamW::default() });
        }
        let after = m.weights();
        let mut frozen = 0u64;
        for t in &w {
            let now = after.iter().find(|a| a.name == t.name).unwrap();
            let trains = method == Method::Bitfit && t.name.ends_with(".bias");
            if trains {
                assert_ne!(now.data, t.data, "{method}: {} did not train", t.name);
            } else {
                assert_eq!(now.data, t.data, "{method}: frozen {} changed", t.name);
                frozen += t.data.len() as u64;
            }
        }
        assert_eq!(m.trainable_params() + frozen, m.params(), "{method}");
    }
}

#[test]
fn padding_never_changes_a_prediction() {
    let cfg = cfg();
    let mut m =
        FineTuneModel::new(cfg, &weights(&cfg), 3, settings(Method::Lora, Pooling::Mean)).unwrap();
    randomise_extras(&mut m);
    let short: Vec<u32> = vec![3, 9, 27, 1];
    let alone = m.logits(&short, &[4], 4).unwrap();
    // The same text padded to 12 beside a longer one, with two different padding tokens.
    let long: Vec<u32> = (0..12).map(|i| (i * 5 % 32) as u32).collect();
    let mut rows = |padding: u32| {
        let mut t = short.clone();
        t.resize(12, padding);
        t.extend(&long);
        m.logits(&t, &[4, 12], 12).unwrap()
    };
    let (a, b) = (rows(0), rows(31));
    assert_eq!(a, b, "the padding token's value changed a prediction");
    for (x, y) in alone.iter().zip(&a[..3]) {
        assert!((x - y).abs() < 1e-5, "padding changed a logit: {x} vs {y}");
    }
}

#[test]
fn merged_lora_gives_the_same_predictions() {
    let cfg = cfg();
    let w = weights(&cfg);
    let mut m = FineTuneModel::new(cfg, &w, 3, settings(Method::Lora, Pooling::Mean)).unwrap();
    randomise_extras(&mut m);
    let (tokens, lens, seq, _) = batch();
    let want = m.logits(&tokens, &lens, seq).unwrap();
    let merged = m.merged_weights();
    assert!(merged.iter().all(|t| !t.name.contains("lora_")));
    let mut plain =
        FineTuneModel::new(cfg, &merged, 3, settings(Method::Full, Pooling::Mean)).unwrap();
    for t in merged.iter().filter(|t| t.name.starts_with("head.")) {
        plain.set_weight(&t.name, &t.data).unwrap();
    }
    for (a, b) in want.iter().zip(plain.logits(&tokens, &lens, seq).unwrap()) {
        assert!((a - b).abs() < 1e-4, "merged {b} vs unmerged {a}");
    }
}

/// Dev labels are the opposite of train's: the better the model fits train, the worse its dev
/// loss, so the best dev checkpoint is an early one and early stopping must give it back.
#[test]
fn early_stopping_restores_the_best_dev_checkpoint() {
    use isoflop_train::task::Split;
    let mut rows = Vec::new();
    for i in 0..120 {
        rows.push((Split::Train, Example { text: format!("aaaa {i}"), label: 0 }));
        rows.push((Split::Train, Example { text: format!("zzzz {i}"), label: 1 }));
    }
    for i in 0..20 {
        rows.push((Split::Dev, Example { text: format!("aaaa d{i}"), label: 1 }));
        rows.push((Split::Dev, Example { text: format!("zzzz d{i}"), label: 0 }));
        rows.push((Split::Test, Example { text: format!("aaaa t{i}"), label: 0 }));
        rows.push((Split::Test, Example { text: format!("zzzz t{i}"), label: 1 }));
    }
    let task = Task::from_split_rows("flip", "test", vec!["a".into(), "z".into()], rows);
    let cfg = GptConfig::new(1, 32, 2, 256, 16).unwrap();
    let mut ft = FineTuneConfig::new(Method::Scratch);
    ft.lr = 3e-3;
    ft.max_epochs = 6;
    ft.evals_per_epoch = 4;
    ft.patience = 100;
    ft.batch = 16;
    let mut m = FineTuneModel::new(cfg, &[], 2, ft).unwrap();
    let r =
        finetune(&mut m, &task, &Tokenizer::Byte, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    let min = r.curve.iter().map(|p| p.dev_loss as f64).fold(f64::INFINITY, f64::min);
    assert!((r.best_dev_loss - min).abs() < 1e-6);
    let last = r.curve.last().unwrap().dev_loss as f64;
    assert!(last > min + 0.1, "the dev loss did not rise ({min} → {last}): nothing to restore");
    let dev: Vec<Encoded> = encode(&task.dev, &Tokenizer::Byte, 16).unwrap();
    let (loss, _) = evaluate(&mut m, &dev).unwrap();
    assert!(
        (loss - r.best_dev_loss).abs() < 1e-5,
        "restored dev loss {loss} vs best {}",
        r.best_dev_loss
    );
    // With patience 2 the run stops early instead.
    let mut ft = m.settings().clone();
    ft.patience = 2;
    let mut m = FineTuneModel::new(cfg, &[], 2, ft).unwrap();
    let r =
        finetune(&mut m, &task, &Tokenizer::Byte, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    assert!(r.stopped_early && r.epochs < 6.0, "{} epochs", r.epochs);
}
