//! Timings of the kernel engine's ops at the reference shapes, and of whole steps.
//!
//! `cargo bench -p isoflop-train --bench kernels [-- S|M [threads]]` prints, per op, the fastest
//! of a few calls and the GFLOP/s of the matrix products, beside the machine's FMA peak
//! for the same thread count, to show where a training step's time goes. Whole-step throughput
//! against PyTorch and candle is `isoflop bench train` (docs/engine.md).

use isoflop_train::kernels::attention::{self, AttnShape};
use isoflop_train::kernels::matmul::{MatRef, Par, matmul};
use isoflop_train::kernels::{gelu, layernorm, measure_peak_flops};
use isoflop_train::{AdamW, Engine, GptConfig, KernelEngine};
use std::time::Instant;

/// Timed calls per op.
const REPS: usize = 9;

/// The fastest of `reps` calls after one warm-up: on a machine shared with other work the
/// minimum is the stable statistic (interference only ever adds time).
fn min_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let shape = args.first().map_or("S", |s| s.as_str()).to_ascii_uppercase();
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let (n_layer, d, n_head) = if shape == "M" { (6, 256, 8) } else { (4, 128, 4) };
    let (batch, seq) = (32, 128);
    let n = batch * seq;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let par = Par::Threads(threads);
    let peak = measure_peak_flops(threads, 0.2, 3);
    println!("shape {shape}, {threads} thread(s), peak {:.1} GFLOP/s", peak / 1e9);
    let fill = |len: usize| {
        (0..len).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect::<Vec<f32>>()
    };
    pool.install(|| {
        // The matrix products of one layer, forward and backward, as the engine calls them.
        for (name, d_in, d_out) in [("qkv", d, 3 * d), ("attn proj", d, d), ("fc", d, 4 * d), ("mlp proj", 4 * d, d), ("head", d, 256)] {
            let x = fill(n * d_in);
            let w = fill(d_out * d_in);
            let dy = fill(n * d_out);
            let mut y = vec![0.0; n * d_out];
            let mut dx = vec![0.0; n * d_in];
            let mut dw = vec![0.0; d_out * d_in];
            let flops = 2.0 * (n * d_in * d_out) as f64;
            let fwd = min_secs(REPS, || matmul(&mut y, d_out, MatRef::new(&x, n, d_in), MatRef::new(&w, d_out, d_in).t(), false, 1.0, par));
            let bx = min_secs(REPS, || matmul(&mut dx, d_in, MatRef::new(&dy, n, d_out), MatRef::new(&w, d_out, d_in), false, 1.0, par));
            let bw = min_secs(REPS, || matmul(&mut dw, d_in, MatRef::new(&dy, n, d_out).t(), MatRef::new(&x, n, d_in), false, 1.0, par));
            println!(
                "  {name:<10} [{n}, {d_in}]→{d_out}: x·Wᵀ {:6.2} ms {:5.1} GF/s | dy·W {:6.2} ms {:5.1} GF/s | dyᵀ·x {:6.2} ms {:5.1} GF/s",
                fwd * 1e3, flops / fwd / 1e9, bx * 1e3, flops / bx / 1e9, bw * 1e3, flops / bw / 1e9
            );
        }
        // Single-threaded small products as inside attention (per batch row and head).
        for (m, nn, k) in [(128, 128, 32), (32, 128, 32), (32, 32, 32), (128, 32, 128)] {
            let a = fill(m * k);
            let b = fill(k * nn);
            let mut c = vec![0.0; m * nn];
            let calls = 200;
            let t = min_secs(REPS, || {
                for _ in 0..calls {
                    matmul(&mut c, nn, MatRef::new(&a, m, k), MatRef::new(&b, nn, k).t(), false, 1.0, Par::Seq);
                }
            }) / calls as f64;
            println!("  small gemm {m}x{nn}x{k}: {:.2} µs/call, {:.1} GF/s", t * 1e6, 2.0 * (m * nn * k) as f64 / t / 1e9);
        }
        let s = AttnShape { batch, seq, n_head, d };
        let qkv = fill(n * 3 * d);
        let (mut y, mut p, mut dqkv) = (vec![0.0; n * d], vec![0.0; s.probs_len()], vec![0.0; n * 3 * d]);
        let dy = fill(n * d);
        let fwd = min_secs(REPS, || attention::forward(&mut y, &mut p, &qkv, s));
        let bwd = min_secs(REPS, || {
            attention::forward(&mut y, &mut p, &qkv, s);
            attention::backward(&mut dqkv, &mut p, &dy, &qkv, s)
        }) - fwd;
        // Useful work: the causal half of 2·T²·d per product, two products forward, four backward.
        let causal = 2.0 * (batch * seq * (seq + 1) / 2 * d) as f64;
        println!("  attention  fwd {:6.2} ms {:5.1} GF/s | bwd {:6.2} ms {:5.1} GF/s (causal FLOPs)", fwd * 1e3, 2.0 * causal / fwd / 1e9, bwd * 1e3, 4.0 * causal / bwd / 1e9);
        let (mut out, pre) = (vec![0.0; n * 4 * d], fill(n * 4 * d));
        let b = fill(4 * d);
        let gf = min_secs(REPS, || gelu::forward(&mut out, &pre, &b));
        let (mut g, mut db) = (fill(n * 4 * d), vec![0.0; 4 * d]);
        let gb = min_secs(REPS, || gelu::backward(&mut g, &mut db, &pre, &b));
        let x = fill(n * d);
        let (mut ln, mut m, mut r) = (vec![0.0; n * d], vec![0.0; n], vec![0.0; n]);
        let w = fill(d);
        let lf = min_secs(REPS, || layernorm::forward(&mut ln, &mut m, &mut r, &x, &w, &w, d));
        let (mut ldx, mut ldw, mut ldb) = (vec![0.0; n * d], vec![0.0; d], vec![0.0; d]);
        let lb = min_secs(REPS, || layernorm::backward(&mut ldx, &mut ldw, &mut ldb, &x, &x, &m, &r, &w, d));
        println!("  gelu fwd {:.2} ms bwd {:.2} ms | layernorm fwd {:.2} ms bwd {:.2} ms", gf * 1e3, gb * 1e3, lf * 1e3, lb * 1e3);
    });
    let cfg = GptConfig::new(n_layer, d, n_head, 256, seq).unwrap();
    let mut e = KernelEngine::new(cfg, 0, threads).unwrap();
    let x: Vec<u32> = (0..n as u32).map(|i| (i * 7) % 256).collect();
    let y: Vec<u32> = (0..n as u32).map(|i| (i * 5 + 1) % 256).collect();
    let fb = min_secs(REPS, || {
        e.forward_backward(&x, &y, batch, seq).unwrap();
    });
    let opt = AdamW::default();
    let st = min_secs(REPS, || {
        e.step(&opt).unwrap();
        e.forward_backward(&x, &y, batch, seq).unwrap();
    }) - fb;
    let flops = 3.0
        * cfg.shape().forward_flops_per_token_at(isoflop_cost::FlopConvention::Palm, seq as f64)
        * n as f64;
    println!(
        "  step: forward+backward {:.1} ms, AdamW {:.1} ms → {:.0} tokens/s, {:.1} GFLOP/s ({:.0}% of peak)",
        fb * 1e3,
        st * 1e3,
        n as f64 / (fb + st),
        flops / (fb + st) / 1e9,
        100.0 * flops / (fb + st) / peak
    );
}
