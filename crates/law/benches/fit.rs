//! Approach 3 at full size: a fit of 240 synthetic points (the shipped Chinchilla example) from
//! Hoffmann et al.'s whole 4,500-start grid, and a 1,000-resample bootstrap of that fit.
//! Targets (issue 2, two cores): fit under 0.5 s, bootstrap under 10 s.
//!
//! `cargo bench -p isoflop-law` (about a minute).

use criterion::{Criterion, criterion_group, criterion_main};
use isoflop_law::{FitOptions, bootstrap, fit, synthetic};
use std::time::Duration;

fn bench(c: &mut Criterion) {
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

criterion_group!(benches, bench);
criterion_main!(benches);
