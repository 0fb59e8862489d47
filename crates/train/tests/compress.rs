//! Compression end to end on a tiny trained model: every method runs, the packed file holds
//! what the report says, pruning has exactly the stated sparsity and pattern, recovery keeps
//! pruned weights at zero, the distillation gradient through the engine is the next-token
//! gradient at α = 1, and GPTQ beats round-to-nearest on the real model's layers.

use isoflop_train::compress::pack::{Stored, load};
use isoflop_train::compress::pipeline::Source;
use isoflop_train::compress::{
    CompressOptions, Method, compress, distill_beside, is_compressed_weight, load_weights,
};
use isoflop_train::{
    Corpus, Dataset, Document, Engine, GptConfig, KernelEngine, TokenizerKind, TrainConfig, train,
};
use std::path::Path;
use std::sync::atomic::AtomicBool;

fn corpus() -> Corpus {
    let words = ["the", "cat", "sees", "a", "ship", "on", "bright", "sea", "and", "rain", "falls"];
    let doc = |d: u64| {
        let mut s = String::new();
        let mut x: u64 = 12345 + d;
        for i in 0..6000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s.push_str(words[(x >> 33) as usize % words.len()]);
            s.push(if i % 11 == 10 { '\n' } else { ' ' });
        }
        Document { name: format!("d{d}"), text: s }
    };
    Corpus {
        name: "tiny".into(),
        documents: (0..4).map(doc).collect(),
        ood: vec![Document {
            name: "ood".into(),
            text: "Rain falls on the bright ship. ".repeat(200),
        }],
    }
}

/// A 2-layer model of width 32 trained briefly, with its dataset and checkpoint directory.
fn trained(dir: &Path) -> (Dataset, GptConfig) {
    let data = Dataset::prepare(&corpus(), TokenizerKind::Byte, 0, &dir.join("cache")).unwrap();
    let model = GptConfig::new(2, 32, 2, 256, 32).unwrap();
    let mut cfg = TrainConfig::new(model, 60_000).unwrap().with_batch_tokens(512).unwrap();
    cfg.adamw.lr = 1e-2;
    cfg.eval_points = 2;
    cfg.eval_tokens = 1024;
    cfg.final_eval_tokens = 2048;
    cfg.checkpoint_dir = Some(dir.join("run"));
    cfg.peak_flops = Some(1e9);
    let r = train(&cfg, &data, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    assert!(r.val_loss.unwrap() < 2.6, "the model learned something: {:?}", r.val_loss);
    (data, model)
}

fn opts(method: Method) -> CompressOptions {
    CompressOptions {
        calib_tokens: 2048,
        eval_tokens: 4096,
        threads: 1,
        ..CompressOptions::new(method)
    }
}

#[test]
fn every_method_compresses_a_trained_model() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, model) = trained(tmp.path());
    let (m, weights) = load_weights(&tmp.path().join("run")).unwrap();
    assert_eq!(m, model);
    let src = Source { model, weights: weights.clone(), label: "tiny".into() };
    let run = |o: &CompressOptions, name: &str| {
        let path = tmp.path().join(format!("{name}.safetensors"));
        let r = compress(&src, &data, o, &path, &mut |_| {}).unwrap();
        assert_eq!(r.bytes, std::fs::metadata(&path).unwrap().len());
        assert!(r.loss.is_finite() && r.ood_loss.is_some());
        assert!((r.loss_delta - (r.loss - r.loss_original)).abs() < 1e-12);
        (r, path)
    };

    // int8 per channel: a small loss change, about 8 bits per compressed weight.
    let (r8, _) = run(&opts(Method::Int8), "int8");
    assert!(r8.loss_delta.abs() < 0.01, "int8 Δ {}", r8.loss_delta);
    let b = r8.compressed_bits_per_weight.unwrap();
    assert!(b > 8.0 && b < 8.6, "{b}");
    assert!(r8.bytes < r8.bytes_original);

    // int4 with groups of 32: 4 bits + 16/32 for the fp16 scales.
    let o4 = CompressOptions { group_size: Some(32), ..opts(Method::Int4) };
    let (r4, p4) = run(&o4, "int4");
    assert!((r4.compressed_bits_per_weight.unwrap() - 4.5).abs() < 1e-9);
    assert!(r4.bytes < r8.bytes);
    // GPTQ at the same scheme does no worse than round-to-nearest on the validation loss.
    let (rg, pg) =
        run(&CompressOptions { group_size: Some(32), ..opts(Method::GptqInt4) }, "gptq4");
    assert!(rg.loss <= r4.loss + 0.01, "GPTQ {} vs RTN {}", rg.loss, r4.loss);
    assert!(rg.calibration_seconds > 0.0);
    // The same storage: GPTQ changes codes, not the format (the files differ only in the
    // metadata naming the method).
    assert_eq!(rg.compressed_bits_per_weight, r4.compressed_bits_per_weight);
    let (s4, sg) = (std::fs::metadata(&p4).unwrap().len(), std::fs::metadata(&pg).unwrap().len());
    assert!(s4.abs_diff(sg) < 64, "{s4} vs {sg}");
    let (r3, _) = run(&CompressOptions { asymmetric: true, ..opts(Method::GptqInt3) }, "gptq3");
    assert!(r3.bytes < r4.bytes + 1024);

    // Pruning: exact sparsity of every block weight, exact 2:4 pattern; others untouched.
    for (method, s) in [(Method::Magnitude, 0.3), (Method::Wanda, 0.5), (Method::TwoFour, 0.5)] {
        let (r, path) = run(
            &CompressOptions { sparsity: s, ..opts(method) },
            method.name().replace(':', "-").as_str(),
        );
        assert!((r.sparsity - s).abs() < 1e-3, "{method}: {}", r.sparsity);
        let m = load(&path).unwrap();
        for t in &m.tensors {
            match &t.stored {
                Stored::Sparse { mask, .. } => {
                    assert!(is_compressed_weight(&t.name));
                    let cols = t.shape[1];
                    let pruned = mask.iter().filter(|k| !**k).count();
                    if method == Method::Magnitude {
                        assert_eq!(pruned, (s * mask.len() as f64).round() as usize, "{}", t.name);
                    }
                    if method == Method::Wanda {
                        for row in mask.chunks_exact(cols) {
                            assert_eq!(row.iter().filter(|k| !**k).count(), cols / 2);
                        }
                    }
                    if method == Method::TwoFour {
                        assert!(
                            mask.chunks_exact(4).all(|g| g.iter().filter(|k| **k).count() == 2)
                        );
                    }
                }
                Stored::Dense(v) => {
                    assert!(!is_compressed_weight(&t.name));
                    let orig = &weights.iter().find(|w| w.name == t.name).unwrap().data;
                    assert_eq!(v, orig);
                }
                Stored::Int(_) => panic!("pruning stored integers"),
            }
        }
    }
}

#[test]
fn recovery_trains_the_survivors_and_keeps_pruned_weights_at_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, model) = trained(tmp.path());
    let (_, weights) = load_weights(&tmp.path().join("run")).unwrap();
    let src = Source { model, weights, label: "tiny".into() };
    let o = CompressOptions { sparsity: 0.7, ..opts(Method::Magnitude) };
    let plain = tmp.path().join("plain.safetensors");
    let a = compress(&src, &data, &o, &plain, &mut |_| {}).unwrap();
    let rec = tmp.path().join("rec.safetensors");
    let o = CompressOptions { recover_tokens: 8192, ..o };
    let b = compress(&src, &data, &o, &rec, &mut |_| {}).unwrap();
    assert!(b.recover_seconds > 0.0);
    assert!((b.sparsity - 0.7).abs() < 1e-3);
    let (pa, pb) = (load(&plain).unwrap(), load(&rec).unwrap());
    let mut changed = false;
    for (ta, tb) in pa.tensors.iter().zip(&pb.tensors) {
        if let (Stored::Sparse { mask: ma, values: va }, Stored::Sparse { mask: mb, values: vb }) =
            (&ta.stored, &tb.stored)
        {
            assert_eq!(ma, mb, "{}: recovery keeps the mask", ta.name);
            changed |= va != vb;
            let w = tb.values();
            assert!(w.iter().zip(mb).all(|(x, k)| *k || *x == 0.0));
        }
    }
    assert!(changed, "recovery changed the surviving weights");
    assert!(
        b.loss < a.loss,
        "recovery lowers the loss of a 70%-pruned model: {} vs {}",
        b.loss,
        a.loss
    );
}

#[test]
fn distillation_trains_a_student_beside_a_scratch_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, model) = trained(tmp.path());
    let (_, weights) = load_weights(&tmp.path().join("run")).unwrap();
    let src = Source { model, weights, label: "tiny".into() };
    let student = GptConfig::new(1, 16, 1, 256, 32).unwrap();
    let o = CompressOptions { student: Some(student), tokens: Some(8192), ..opts(Method::Distill) };
    let path = tmp.path().join("student.safetensors");
    let r = compress(&src, &data, &o, &path, &mut |_| {}).unwrap();
    let s = r.scratch.as_ref().unwrap();
    assert!(r.loss.is_finite() && s.loss.is_finite());
    assert_eq!(r.params, student.shape().params().total);
    assert!(r.bytes < r.bytes_original);
    let (m, _) = load_weights(&path).unwrap();
    assert_eq!(m, student);
    // A student on the teacher's targets needs a teacher of its vocabulary and context.
    let bad = CompressOptions { student: Some(GptConfig::new(1, 16, 1, 256, 16).unwrap()), ..o };
    assert!(
        compress(&src, &data, &bad, &path, &mut |_| {})
            .unwrap_err()
            .to_string()
            .contains("context")
    );
}

#[test]
fn distillation_beside_a_given_scratch_model_trains_the_same_student() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, model) = trained(tmp.path());
    let (_, weights) = load_weights(&tmp.path().join("run")).unwrap();
    let src = Source { model, weights, label: "teacher".into() };
    let student = GptConfig::new(1, 16, 1, 256, 32).unwrap();
    let o = CompressOptions { student: Some(student), tokens: Some(8192), ..opts(Method::Distill) };
    let alone = compress(&src, &data, &o, &tmp.path().join("a.safetensors"), &mut |_| {}).unwrap();
    // The scratch model given: here an untrained one of the student's shape, scored as given.
    let untrained = KernelEngine::new(student, 3, 1).unwrap().weights().unwrap();
    let scratch = Source { model: student, weights: untrained, label: "run-7".into() };
    let cfg = TrainConfig::new(student, 8192).unwrap();
    let out = tmp.path().join("b.safetensors");
    let go = AtomicBool::new(false);
    let beside = distill_beside(&src, &scratch, &cfg, &data, &o, &out, &go, &mut |_| {}).unwrap();
    // The same settings (the defaults, seed 0) train the same distilled student, bit for bit.
    assert_eq!(beside.loss, alone.loss);
    let s = beside.scratch.as_ref().unwrap();
    assert_eq!((s.source.as_deref(), s.train_seconds), (Some("run-7"), 0.0));
    // Untrained: about ln 256 = 5.55 nats, far above the trained students.
    assert!(s.loss > 5.0 && s.loss > beside.loss + 1.0, "{} vs {}", s.loss, beside.loss);
    // The options' student and tokens must be the config's.
    let other = TrainConfig::new(student, 4096).unwrap();
    let e = distill_beside(&src, &scratch, &other, &data, &o, &out, &go, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("run-7"), "{e}");
    // A stop flag set ends it before the first step, writing nothing.
    let stopped = tmp.path().join("c.safetensors");
    let e = distill_beside(
        &src,
        &scratch,
        &cfg,
        &data,
        &o,
        &stopped,
        &AtomicBool::new(true),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, isoflop_train::Error::Stopped(_)) && !stopped.exists(), "{e}");
}

#[test]
fn distillation_at_alpha_one_is_the_next_token_gradient() {
    let cfg = GptConfig::new(2, 16, 2, 40, 8).unwrap();
    let mut a = KernelEngine::new(cfg, 7, 1).unwrap();
    let mut b = KernelEngine::new(cfg, 7, 1).unwrap();
    let x: Vec<u32> = (0..16).map(|i| (i * 7 % 40) as u32).collect();
    let y: Vec<u32> = (0..16).map(|i| (i * 11 % 40) as u32).collect();
    let teacher = vec![0.3f32; 16 * 40];
    let la = a.forward_backward(&x, &y, 2, 8).unwrap();
    let lb = b.distill_forward_backward(&x, &y, &teacher, 2, 8, 2.0, 1.0).unwrap();
    assert!((la - lb).abs() < 1e-5);
    for (ga, gb) in a.gradients().unwrap().iter().zip(&b.gradients().unwrap()) {
        let scale = ga.data.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        for (u, v) in ga.data.iter().zip(&gb.data) {
            assert!((u - v).abs() <= 1e-4 * scale, "{}", ga.name);
        }
    }
    // The soft term moves the gradient when α < 1, and a wrong-sized teacher is refused.
    b.distill_forward_backward(&x, &y, &teacher, 2, 8, 2.0, 0.5).unwrap();
    assert_ne!(a.gradients().unwrap(), b.gradients().unwrap());
    assert!(b.distill_forward_backward(&x, &y, &teacher[1..], 2, 8, 2.0, 0.5).is_err());
    // Teacher logits: the pre-softmax outputs whose cross-entropy is the eval loss.
    let logits = a.logits(&x, 2, 8).unwrap();
    assert_eq!(logits.len(), 16 * 40);
}

#[test]
fn gptq_beats_round_to_nearest_on_the_trained_layers() {
    use isoflop_train::compress::gptq::{GptqOptions, InputStats, gptq, output_error};
    use isoflop_train::compress::quantize::{Scheme, quantize_rtn};
    use isoflop_train::kernels::LinearSite;
    use isoflop_train::kernels::matmul::Par;
    let tmp = tempfile::tempdir().unwrap();
    let (data, model) = trained(tmp.path());
    let (_, weights) = load_weights(&tmp.path().join("run")).unwrap();
    let mut e = KernelEngine::new(model, 0, 1).unwrap();
    e.set_weights(&weights).unwrap();
    let mut stats = InputStats::new(4 * model.d_model, true);
    let mut w = Vec::new();
    data.train.extend_window(0, 16 * 32, &mut w);
    e.linear_inputs(&w, 16, 32, &mut |l, site, x| {
        if l == 1 && site == LinearSite::MlpProj {
            stats.add(x, Par::Seq);
        }
    })
    .unwrap();
    let t = weights.iter().find(|t| t.name == "h.1.mlp.c_proj.weight").unwrap();
    let h = stats.hessian();
    let s = Scheme { bits: 3, group_size: Some(32), asymmetric: false };
    let rtn = quantize_rtn(&t.data, 32, 128, s).unwrap().dequantize();
    let g = gptq(&t.data, 32, 128, &h, s, GptqOptions::default()).unwrap().dequantize();
    let (er, eg) = (output_error(&t.data, &rtn, 128, &h), output_error(&t.data, &g, 128, &h));
    assert!(eg < er, "GPTQ {eg} vs RTN {er} on the calibration inputs");
}
