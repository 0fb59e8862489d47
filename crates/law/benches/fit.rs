//! Approach 3 at full size: a fit of 240 synthetic points (the shipped Chinchilla example) from
//! Hoffmann et al.'s whole 4,500-start grid, and a 1,000-resample bootstrap of that fit.
//! Targets (issue 2, two cores): fit under 0.5 s, bootstrap under 10 s. Also the vectorised
//! exp and ln the objective runs on, against std's, over 240 values (one evaluation's worth).
//!
//! `cargo bench -p isoflop-law` (about a minute and a half).
//!
//! Measured on the 2-core AMD EPYC (AVX-512) dev machine with another engineer's jobs
//! running; "before" is this bench at commit 0787877 (glibc exp/ln one point at a time), run
//! alternately with the current code, two rounds each, middle estimates; std against ours
//! for the element-wise rows. Whole-process timings are in docs/fitting.md.
//!
//! | bench                           | before  | after   | ratio |
//! |---------------------------------|---------|---------|-------|
//! | approach3/fit_240pts_4500starts | 0.77 s  | 0.35 s  | 2.2×  |
//! | approach3/bootstrap_1000        | 1.95 s  | 0.87 s  | 2.2×  |
//! | elementwise_240/exp             | 1.20 µs | 0.22 µs | 5.6×  |
//! | elementwise_240/ln              | 0.95 µs | 0.36 µs | 2.6×  |

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use isoflop_law::{FitOptions, bootstrap, fastmath, fit, synthetic};
use std::hint::black_box;
use std::time::Duration;

fn approach3(c: &mut Criterion) {
    let obs = synthetic::chinchilla_example();
    let opts = FitOptions::default();
    let mut g = c.benchmark_group("approach3");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));
    g.bench_function("fit_240pts_4500starts", |b| b.iter(|| fit(&obs, &opts).unwrap()));
    let f = fit(&obs, &opts).unwrap();
    g.measurement_time(Duration::from_secs(30));
    g.bench_function("bootstrap_1000", |b| b.iter(|| bootstrap(&f, &obs, 1000, 7).unwrap()));
    g.finish();
}

/// 240 values in the objective's ranges: exponents of its terms (a − α ln N with typical
/// parameters) and the sums of exps it takes the log of.
fn elementwise(c: &mut Criterion) {
    let exps: Vec<f64> = (0..240).map(|i| -4.0 + 0.03 * i as f64).collect();
    let sums: Vec<f64> = (0..240).map(|i| 1.5 + 0.01 * i as f64).collect();
    let mut g = c.benchmark_group("elementwise_240");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let mut buf = vec![0.0; 240];
    g.bench_function(BenchmarkId::new("exp", "std"), |b| {
        b.iter(|| {
            buf.iter_mut().zip(&exps).for_each(|(o, x)| *o = x.exp());
            black_box(&buf);
        })
    });
    g.bench_function(BenchmarkId::new("exp", "fastmath"), |b| {
        b.iter(|| {
            buf.copy_from_slice(&exps);
            fastmath::exp_slice(&mut buf);
            black_box(&buf);
        })
    });
    g.bench_function(BenchmarkId::new("ln", "std"), |b| {
        b.iter(|| {
            buf.iter_mut().zip(&sums).for_each(|(o, x)| *o = x.ln());
            black_box(&buf);
        })
    });
    g.bench_function(BenchmarkId::new("ln", "fastmath"), |b| {
        b.iter(|| {
            buf.copy_from_slice(&sums);
            fastmath::ln_slice(&mut buf);
            black_box(&buf);
        })
    });
    g.finish();
}

criterion_group!(benches, approach3, elementwise);
criterion_main!(benches);
