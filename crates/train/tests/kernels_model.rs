//! The whole kernel engine against a plain f64 implementation of the same GPT, written here
//! from the model's definition (tools/torch_gpt_reference.py) with loops and no
//! shared code: loss to 1e-5 relative, every gradient entry against f64 central differences
//! (h = 1e-4, error ~1e-8) to 1e-3 of the tensor's largest gradient (f32 accumulation), on odd
//! shapes: context not a multiple of 8 and longer than one attention block, one head, one
//! layer, batch 1, a single token.

use isoflop_train::{AdamW, Engine, GptConfig, KernelEngine, NamedTensor, init_weights};
use std::collections::HashMap;

type Weights = HashMap<String, Vec<f64>>;

fn layer_norm(x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let d = w.len();
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(d) {
        let mu = row.iter().sum::<f64>() / d as f64;
        let var = row.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / d as f64;
        let r = 1.0 / (var + 1e-5).sqrt();
        out.extend(row.iter().zip(w).zip(b).map(|((v, w), b)| (v - mu) * r * w + b));
    }
    out
}

/// y = x·Wᵀ + b with W `[out, in]`.
fn linear(x: &[f64], w: &[f64], b: Option<&[f64]>, d_in: usize) -> Vec<f64> {
    let d_out = w.len() / d_in;
    let mut out = Vec::with_capacity(x.len() / d_in * d_out);
    for row in x.chunks(d_in) {
        for o in 0..d_out {
            let dot: f64 = row.iter().zip(&w[o * d_in..(o + 1) * d_in]).map(|(a, b)| a * b).sum();
            out.push(dot + b.map_or(0.0, |b| b[o]));
        }
    }
    out
}

fn gelu_tanh(u: f64) -> f64 {
    0.5 * u * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (u + 0.044715 * u.powi(3))).tanh())
}

/// Mean cross-entropy of the reference model.
fn reference_loss(
    cfg: &GptConfig,
    w: &Weights,
    inputs: &[u32],
    targets: &[u32],
    seq: usize,
) -> f64 {
    let (d, nh) = (cfg.d_model, cfg.n_head);
    let hd = d / nh;
    let n = inputs.len();
    let g = |k: &str| w[k].as_slice();
    let mut x: Vec<f64> = Vec::with_capacity(n * d);
    for (i, &tok) in inputs.iter().enumerate() {
        let t = i % seq;
        for c in 0..d {
            x.push(g("wte.weight")[tok as usize * d + c] + g("wpe.weight")[t * d + c]);
        }
    }
    for l in 0..cfg.n_layer {
        let p = |s: &str| w[&format!("h.{l}.{s}")].as_slice();
        let h = layer_norm(&x, p("ln_1.weight"), p("ln_1.bias"));
        let qkv = linear(&h, p("attn.c_attn.weight"), Some(p("attn.c_attn.bias")), d);
        let mut y = vec![0.0; n * d];
        for b in 0..n / seq {
            for head in 0..nh {
                for i in 0..seq {
                    let q = |t: usize, c: usize| qkv[(b * seq + t) * 3 * d + head * hd + c];
                    let k = |t: usize, c: usize| qkv[(b * seq + t) * 3 * d + d + head * hd + c];
                    let v = |t: usize, c: usize| qkv[(b * seq + t) * 3 * d + 2 * d + head * hd + c];
                    let scores: Vec<f64> = (0..=i)
                        .map(|j| {
                            (0..hd).map(|c| q(i, c) * k(j, c)).sum::<f64>() / (hd as f64).sqrt()
                        })
                        .collect();
                    let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = scores.iter().map(|s| (s - m).exp()).sum();
                    for c in 0..hd {
                        y[(b * seq + i) * d + head * hd + c] =
                            (0..=i).map(|j| (scores[j] - m).exp() / z * v(j, c)).sum();
                    }
                }
            }
        }
        let a = linear(&y, p("attn.c_proj.weight"), Some(p("attn.c_proj.bias")), d);
        x.iter_mut().zip(&a).for_each(|(x, a)| *x += a);
        let h = layer_norm(&x, p("ln_2.weight"), p("ln_2.bias"));
        let f: Vec<f64> = linear(&h, p("mlp.c_fc.weight"), Some(p("mlp.c_fc.bias")), d)
            .into_iter()
            .map(gelu_tanh)
            .collect();
        let m = linear(&f, p("mlp.c_proj.weight"), Some(p("mlp.c_proj.bias")), 4 * d);
        x.iter_mut().zip(&m).for_each(|(x, m)| *x += m);
    }
    let h = layer_norm(&x, g("ln_f.weight"), g("ln_f.bias"));
    let logits = linear(&h, g("lm_head.weight"), None, d);
    let v = cfg.vocab;
    let mut total = 0.0;
    for (row, &t) in logits.chunks(v).zip(targets) {
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + row.iter().map(|l| (l - m).exp()).sum::<f64>().ln();
        total += lse - row[t as usize];
    }
    total / n as f64
}

/// Weights with non-trivial LayerNorm gains and biases, so that every gradient is exercised.
fn weights(cfg: &GptConfig, seed: u64) -> Vec<NamedTensor> {
    let mut ws = init_weights(cfg, seed);
    for (k, t) in ws.iter_mut().enumerate() {
        for (i, v) in t.data.iter_mut().enumerate() {
            let wobble = (((i * 31 + k * 17) % 23) as f32 / 23.0 - 0.5) * 0.2;
            if t.shape.len() == 1 {
                *v += wobble; // gains near 1, biases near 0
            } else {
                *v = *v * 10.0 + wobble * 0.5; // weights of order 0.2: a non-trivial model
            }
        }
    }
    ws
}

fn batch(cfg: &GptConfig, b: usize, t: usize) -> (Vec<u32>, Vec<u32>) {
    let v = cfg.vocab as u32;
    let x = (0..(b * t) as u32).map(|i| (i * 7 + i / 3) % v).collect();
    let y = (0..(b * t) as u32).map(|i| (i * 5 + 2) % v).collect();
    (x, y)
}

fn check_against_reference(cfg: GptConfig, b: usize, t: usize, threads: usize) {
    let ws = weights(&cfg, 1);
    let mut engine = KernelEngine::new(cfg, 0, threads).unwrap();
    engine.set_weights(&ws).unwrap();
    let (x, y) = batch(&cfg, b, t);
    let loss = engine.forward_backward(&x, &y, b, t).unwrap() as f64;
    let mut w64: Weights =
        ws.iter().map(|t| (t.name.clone(), t.data.iter().map(|&v| v as f64).collect())).collect();
    let want = reference_loss(&cfg, &w64, &x, &y, t);
    assert!((loss - want).abs() <= 1e-5 * want, "{cfg:?} B{b} T{t}: loss {loss} vs f64 {want}");
    let eval = engine.eval_loss(&x, &y, b, t).unwrap() as f64;
    assert!((eval - loss).abs() <= 1e-6 * loss, "eval_loss {eval} vs training loss {loss}");
    const H: f64 = 1e-4;
    for grad in engine.gradients().unwrap() {
        let scale = grad.data.iter().fold(0.0f64, |m, &g| m.max(g.abs() as f64));
        let mut worst = 0.0f64;
        for i in 0..grad.data.len() {
            let keep = w64[&grad.name][i];
            w64.get_mut(&grad.name).unwrap()[i] = keep + H;
            let up = reference_loss(&cfg, &w64, &x, &y, t);
            w64.get_mut(&grad.name).unwrap()[i] = keep - H;
            let down = reference_loss(&cfg, &w64, &x, &y, t);
            w64.get_mut(&grad.name).unwrap()[i] = keep;
            let numeric = (up - down) / (2.0 * H);
            worst = worst.max((numeric - grad.data[i] as f64).abs());
        }
        assert!(
            worst <= 1e-3 * scale.max(1e-4),
            "{cfg:?} B{b} T{t}: gradient of {} off by {worst:.2e} (largest entry {scale:.2e})",
            grad.name
        );
    }
}

#[test]
fn matches_f64_reference_on_odd_shapes() {
    // Two layers, two heads, context 37 (two attention blocks, not a multiple of 8), batch 2.
    check_against_reference(GptConfig::new(2, 8, 2, 11, 40).unwrap(), 2, 37, 2);
    // One layer, one head, batch 1, the full context.
    check_against_reference(GptConfig::new(1, 4, 1, 7, 5).unwrap(), 1, 5, 1);
    // A single token per row.
    check_against_reference(GptConfig::new(1, 8, 2, 5, 4).unwrap(), 3, 1, 2);
}

#[test]
fn thread_count_does_not_change_the_result_much() {
    let cfg = GptConfig::new(2, 32, 4, 64, 48).unwrap();
    let (x, y) = batch(&cfg, 4, 48);
    let run = |threads| {
        let mut e = KernelEngine::new(cfg, 3, threads).unwrap();
        let loss = e.forward_backward(&x, &y, 4, 48).unwrap();
        (loss, e.gradients().unwrap())
    };
    let (l1, g1) = run(1);
    let (l3, g3) = run(3);
    assert!((l1 - l3).abs() <= 1e-6 * l1);
    for (a, b) in g1.iter().zip(&g3) {
        let scale = a.data.iter().fold(0.0f32, |m, &g| m.max(g.abs()));
        let worst = a.data.iter().zip(&b.data).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst <= 1e-5 * scale.max(1e-6), "{}: {worst} vs {scale}", a.name);
    }
}

#[test]
fn training_lowers_the_loss_and_state_round_trips() {
    let cfg = GptConfig::new(1, 16, 2, 32, 16).unwrap();
    let (x, y) = batch(&cfg, 2, 16);
    let opt = AdamW { lr: 1e-2, ..AdamW::default() };
    let mut e = KernelEngine::new(cfg, 5, 2).unwrap();
    let first = e.forward_backward(&x, &y, 2, 16).unwrap();
    for _ in 0..30 {
        let norm = e.step(&opt).unwrap();
        assert!(norm.is_finite() && norm > 0.0);
        e.forward_backward(&x, &y, 2, 16).unwrap();
    }
    let last = e.eval_loss(&x, &y, 2, 16).unwrap();
    assert!(last < 0.5 * first, "loss {first} → {last}");
    // A copy made from weights and optimizer state continues identically.
    let mut copy = KernelEngine::new(cfg, 99, 1).unwrap();
    copy.set_weights(&e.weights().unwrap()).unwrap();
    let (t, moments) = e.optimizer_state().unwrap();
    assert_eq!(t, 30);
    copy.set_optimizer_state(t, &moments).unwrap();
    let a = (e.step(&opt).unwrap(), e.eval_loss(&x, &y, 2, 16).unwrap());
    copy.forward_backward(&x, &y, 2, 16).unwrap();
    let b = (copy.step(&opt).unwrap(), copy.eval_loss(&x, &y, 2, 16).unwrap());
    assert!((a.0 - b.0).abs() <= 1e-5 * a.0 && (a.1 - b.1).abs() <= 1e-5 * a.1, "{a:?} vs {b:?}");
}

#[test]
fn bad_input_is_an_error_naming_it() {
    let cfg = GptConfig::new(1, 8, 2, 10, 6).unwrap();
    let mut e = KernelEngine::new(cfg, 0, 1).unwrap();
    let msg = |r: isoflop_train::Result<f32>| r.unwrap_err().to_string();
    assert!(msg(e.forward_backward(&[1; 7], &[1; 7], 1, 7)).contains("context 6"));
    assert!(msg(e.forward_backward(&[1; 5], &[1; 6], 1, 6)).contains("5 inputs"));
    assert!(msg(e.forward_backward(&[1, 2, 10], &[1; 3], 1, 3)).contains("token 10"));
    assert!(e.step(&AdamW::default()).unwrap_err().to_string().contains("before forward_backward"));
    let mut ws = e.weights().unwrap();
    ws.retain(|t| t.name != "h.0.ln_2.bias");
    assert!(e.set_weights(&ws).unwrap_err().to_string().contains("`h.0.ln_2.bias` is missing"));
    assert!(KernelEngine::new(cfg, 0, 0).is_err());
}
