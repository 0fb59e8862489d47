//! Finite-difference checks of every kernel's backward pass, on tiny and odd shapes.
//!
//! Each test takes a scalar L = Σ r ⊙ f(θ) with fixed random weights r, gets ∂L/∂θ from the
//! kernel's backward with dy = r, and compares it with central differences
//! (L(θ + h) − L(θ − h))/2h of the kernel's own forward, summed in f64. With h = 1e-2 on
//! values of order 1, f32 rounding contributes ~1e-5 and truncation ~h² = 1e-4 of the largest
//! gradient, so the tolerance is 2e-3 of it.

use isoflop_train::kernels::attention::{self, AttnShape};
use isoflop_train::kernels::matmul::Par;
use isoflop_train::kernels::{cross_entropy, embedding, gelu, layernorm, linear, residual};

/// A small deterministic generator (xorshift), so the tests need no RNG crate.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform() * scale).collect()
    }
}

const H: f32 = 1e-2;
const TOL: f64 = 2e-3;

fn weighted(out: &[f32], r: &[f32]) -> f64 {
    out.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Compares `analytic` with central differences of `loss` in every entry of `theta`.
fn check(what: &str, theta: &mut [f32], analytic: &[f32], mut loss: impl FnMut(&[f32]) -> f64) {
    assert_eq!(theta.len(), analytic.len(), "{what}: sizes");
    let scale = analytic.iter().fold(0.0f64, |m, &g| m.max(g.abs() as f64)).max(1e-3);
    let mut worst = 0.0f64;
    for i in 0..theta.len() {
        let keep = theta[i];
        theta[i] = keep + H;
        let up = loss(theta);
        theta[i] = keep - H;
        let down = loss(theta);
        theta[i] = keep;
        let numeric = (up - down) / (2.0 * H as f64);
        worst = worst.max((numeric - analytic[i] as f64).abs() / scale);
    }
    assert!(worst < TOL, "{what}: worst error {worst:.2e} of the largest gradient {scale:.3e}");
}

#[test]
fn layernorm_backward_matches_finite_differences() {
    for (rows, d) in [(3, 8), (5, 13), (1, 1), (2, 64)] {
        let mut rng = Rng(7 + d as u64);
        let mut x = rng.vec(rows * d, 1.5);
        let w = rng.vec(d, 1.0);
        let mut b = rng.vec(d, 0.5);
        let r = rng.vec(rows * d, 1.0);
        let fwd = |x: &[f32], w: &[f32], b: &[f32]| {
            let (mut y, mut m, mut s) = (vec![0.0; rows * d], vec![0.0; rows], vec![0.0; rows]);
            layernorm::forward(&mut y, &mut m, &mut s, x, w, b, d);
            (weighted(&y, &r), m, s)
        };
        let (_, mean, rstd) = fwd(&x, &w, &b);
        // dx is accumulated into: start from a known value and subtract it afterwards.
        let base = rng.vec(rows * d, 1.0);
        let mut dx = base.clone();
        let (mut dw, mut db) = (vec![9.0; d], vec![9.0; d]);
        layernorm::backward(&mut dx, &mut dw, &mut db, &r, &x, &mean, &rstd, &w, d);
        let dx: Vec<f32> = dx.iter().zip(&base).map(|(a, b)| a - b).collect();
        if d > 1 {
            // With d = 1, x̂ = 0 whatever x is: the output does not depend on x.
            check("layernorm dx", &mut x.clone(), &dx, |x| fwd(x, &w, &b).0);
        }
        check("layernorm dw", &mut w.clone(), &dw, |w| fwd(&x, w, &b).0);
        check("layernorm db", &mut b, &db, |b| fwd(&x, &w, b).0);
        x[0] += 0.0;
    }
}

#[test]
fn linear_backward_matches_finite_differences() {
    for (n, d_in, d_out) in [(4, 3, 5), (7, 16, 9), (1, 1, 1)] {
        let mut rng = Rng(11 + n as u64);
        let x = rng.vec(n * d_in, 1.0);
        let mut w = rng.vec(d_out * d_in, 1.0);
        let mut b = rng.vec(d_out, 1.0);
        let r = rng.vec(n * d_out, 1.0);
        let fwd = |x: &[f32], w: &[f32], b: &[f32]| {
            let mut y = vec![0.0; n * d_out];
            linear::forward(&mut y, x, w, Some(b), d_in, Par::Seq);
            weighted(&y, &r)
        };
        let mut dx = vec![0.0; n * d_in];
        let (mut dw, mut db) = (vec![0.0; d_out * d_in], vec![0.0; d_out]);
        linear::backward(Some(&mut dx), false, &mut dw, Some(&mut db), &r, &x, &w, d_in, Par::Seq);
        check("linear dx", &mut x.clone(), &dx, |x| fwd(x, &w, &b));
        check("linear dw", &mut w.clone(), &dw, |w| fwd(&x, w, &b));
        check("linear db", &mut b, &db, |b| fwd(&x, &w, b));
        // Accumulating dx adds the same gradient again.
        let mut dx2 = dx.clone();
        linear::backward(Some(&mut dx2), true, &mut dw, None, &r, &x, &w, d_in, Par::Seq);
        for (a, b) in dx2.iter().zip(&dx) {
            assert!((a - 2.0 * b).abs() <= 1e-5 * (1.0 + b.abs()));
        }
        w[0] += 0.0;
    }
}

#[test]
fn gelu_backward_matches_finite_differences_and_tanh_form() {
    let (n, d) = (9, 7);
    let mut rng = Rng(3);
    let pre = rng.vec(n * d, 4.0);
    let mut bias = rng.vec(d, 0.5);
    let r = rng.vec(n * d, 1.0);
    let fwd = |pre: &[f32], bias: &[f32]| {
        let mut out = vec![0.0; n * d];
        gelu::forward(&mut out, pre, bias);
        (weighted(&out, &r), out)
    };
    let (_, out) = fwd(&pre, &bias);
    for (i, &o) in out.iter().enumerate() {
        // The output is GELU of the product plus its bias; the tanh form (f64) agrees to rounding.
        let u = (pre[i] + bias[i % d]) as f64;
        let want = 0.5
            * u
            * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (u + 0.044715 * u.powi(3))).tanh());
        assert!(
            (o as f64 - want).abs() < 1e-6 * (1.0 + want.abs()),
            "gelu({u}) = {o}, want {want}"
        );
    }
    let mut grad = r.clone();
    let mut db = vec![f32::NAN; d];
    gelu::backward(&mut grad, &mut db, &pre, &bias);
    check("gelu dpre", &mut pre.clone(), &grad, |p| fwd(p, &bias).0);
    check("gelu db", &mut bias, &db, |b| fwd(&pre, b).0);
}

fn attention_case(batch: usize, seq: usize, n_head: usize, d: usize) {
    let s = AttnShape { batch, seq, n_head, d };
    let mut rng = Rng(5 + seq as u64 * 3 + n_head as u64);
    let mut qkv = rng.vec(batch * seq * 3 * d, 1.0);
    let r = rng.vec(batch * seq * d, 1.0);
    let fwd = |qkv: &[f32]| {
        let (mut y, mut p) = (vec![0.0; batch * seq * d], vec![0.0; s.probs_len()]);
        attention::forward(&mut y, &mut p, qkv, s);
        (weighted(&y, &r), y, p)
    };
    let (_, y, mut probs) = fwd(&qkv);
    // Causality: row 0 of each sequence attends only to itself, so y = v there.
    let hd = d / n_head;
    for b in 0..batch {
        let row = b * seq;
        for c in 0..d {
            let v = qkv[row * 3 * d + 2 * d + c];
            assert!((y[row * d + c] - v).abs() < 1e-6, "first position must copy its value");
        }
        let _ = hd;
    }
    let mut dqkv = vec![f32::NAN; qkv.len()];
    attention::backward(&mut dqkv, &mut probs, &r, &qkv, s);
    check(&format!("attention B{batch} T{seq} H{n_head} d{d}"), &mut qkv, &dqkv, |q| fwd(q).0);
}

#[test]
fn attention_backward_matches_finite_differences() {
    // T = 37 spans two causal blocks and is not a multiple of 8; one head; one token.
    attention_case(2, 37, 2, 8);
    attention_case(1, 5, 1, 4);
    attention_case(3, 1, 2, 4);
    attention_case(1, 70, 4, 8);
}

#[test]
fn attention_ignores_the_future() {
    let s = AttnShape { batch: 1, seq: 40, n_head: 2, d: 8 };
    let mut rng = Rng(99);
    let qkv = rng.vec(40 * 24, 1.0);
    let mut changed = qkv.clone();
    for v in &mut changed[30 * 24..] {
        *v += 1.0; // perturb positions 30.. only
    }
    let (mut y1, mut y2, mut p) = (vec![0.0; 320], vec![0.0; 320], vec![0.0; s.probs_len()]);
    attention::forward(&mut y1, &mut p, &qkv, s);
    attention::forward(&mut y2, &mut p, &changed, s);
    assert_eq!(y1[..30 * 8], y2[..30 * 8]);
    assert_ne!(y1[30 * 8..], y2[30 * 8..]);
}

#[test]
fn cross_entropy_backward_matches_finite_differences() {
    let (n, d, vocab) = (6, 5, 7);
    let mut rng = Rng(17);
    let mut x = rng.vec(n * d, 1.0);
    let mut w = rng.vec(vocab * d, 1.0);
    let targets: Vec<u32> = (0..n as u32).map(|i| (i * 3) % vocab as u32).collect();
    let fwd = |x: &[f32], w: &[f32], grad: bool| {
        let mut logits = vec![0.0; n * vocab];
        let loss = cross_entropy::forward(&mut logits, x, w, &targets, grad, Par::Seq);
        (loss as f64, logits)
    };
    // The loss is the mean negative log-softmax at the target, computed here in f64.
    let (loss, _) = fwd(&x, &w, false);
    let mut want = 0.0;
    for i in 0..n {
        let logits: Vec<f64> = (0..vocab)
            .map(|v| (0..d).map(|k| x[i * d + k] as f64 * w[v * d + k] as f64).sum())
            .collect();
        let lse = logits.iter().map(|l| l.exp()).sum::<f64>().ln();
        want += (lse - logits[targets[i] as usize]) / n as f64;
    }
    assert!((loss - want).abs() < 1e-6 * want, "loss {loss} vs {want}");
    let (_, dlogits) = fwd(&x, &w, true);
    let (mut dx, mut dw) = (vec![0.0; n * d], vec![0.0; vocab * d]);
    cross_entropy::backward(&mut dx, &mut dw, &dlogits, &x, &w, d, Par::Seq);
    check("cross-entropy dx", &mut x.clone(), &dx, |x| fwd(x, &w, false).0);
    check("cross-entropy dw", &mut w, &dw, |w| fwd(&x, w, false).0);
    x[0] += 0.0;
}

#[test]
fn embedding_backward_matches_finite_differences() {
    let (vocab, ctx, d, seq, batch) = (6, 9, 4, 7, 3);
    let mut rng = Rng(23);
    let mut wte = rng.vec(vocab * d, 1.0);
    let mut wpe = rng.vec(ctx * d, 1.0);
    let idx: Vec<u32> = (0..(batch * seq) as u32).map(|i| (i * i + 1) % 5).collect(); // token 5 unused
    let r = rng.vec(batch * seq * d, 1.0);
    let fwd = |wte: &[f32], wpe: &[f32]| {
        let mut x = vec![0.0; batch * seq * d];
        embedding::forward(&mut x, &idx, wte, wpe, seq, d);
        weighted(&x, &r)
    };
    let (mut dwte, mut dwpe) = (vec![1.0; vocab * d], vec![1.0; ctx * d]);
    embedding::backward(&mut dwte, &mut dwpe, &r, &idx, seq, d);
    assert!(dwte[5 * d..].iter().all(|&g| g == 0.0), "an unused token gets no gradient");
    assert!(dwpe[seq * d..].iter().all(|&g| g == 0.0), "positions past seq get no gradient");
    check("embedding dwte", &mut wte.clone(), &dwte, |t| fwd(t, &wpe));
    check("embedding dwpe", &mut wpe, &dwpe, |p| fwd(&wte, p));
    wte[0] += 0.0;
}

#[test]
fn residual_adds_bias_and_sums_gradient() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let mut out = [0.0; 6];
    residual::forward(&mut out, &x, &[10.0, 20.0, 30.0]);
    assert_eq!(out, [11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
    let mut db = [0.0; 3];
    residual::backward(&mut db, &x);
    assert_eq!(db, [5.0, 7.0, 9.0]);
}
