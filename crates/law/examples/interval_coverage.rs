//! Coverage of 95% prediction intervals on runs larger than any fitted: the in-sample interval
//! against the one calibrated on leave-largest-out refits (issue 14; docs/fitting.md has the
//! measured table).
//!
//! Each data set is split into the runs of the largest model sizes (at least `--held` of the
//! runs, 20% by default) and the rest; the rest is fitted with a bootstrap and a calibrated
//! interval, and every held-out run is checked against both intervals. Data sets: the shipped
//! `examples/chinchilla_synthetic.csv` (or the CSV files given), then synthetic sweeps of
//! Hoffmann et al.'s law over several seeds: 11 budgets from 1e17 to 1e22 FLOPs, 8 models
//! each, 1% log-normal noise, the three smallest runs 4% above trend (under-tuned small models,
//! as in the selection tests).
//!
//! `cargo run -p isoflop-law --example interval_coverage [--held 0.2] [--seeds 8] [--noise 0.01]
//! [--bootstrap 200] [FILE.csv …]`

use isoflop_law::synthetic::{HOFFMANN, Sweep, chinchilla_loss};
use isoflop_law::{
    ColumnNames, FitOptions, Observation, evaluate_holdout, fit, holdout_coverage,
    read_observations,
};
use std::path::PathBuf;

fn main() {
    let mut held = 0.2;
    let mut seeds = 8u64;
    let mut noise = 0.01;
    let mut bootstrap = 200;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--held" => held = args.next().and_then(|v| v.parse().ok()).expect("--held FRACTION"),
            "--seeds" => seeds = args.next().and_then(|v| v.parse().ok()).expect("--seeds K"),
            "--noise" => noise = args.next().and_then(|v| v.parse().ok()).expect("--noise SIGMA"),
            "--bootstrap" => {
                bootstrap = args.next().and_then(|v| v.parse().ok()).expect("--bootstrap B")
            }
            _ => files.push(PathBuf::from(a)),
        }
    }
    if files.is_empty() {
        files.push(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/chinchilla_synthetic.csv"),
        );
    }
    println!(
        "| data | fitted | held out | in-sample PI | calibrated PI | growth k | max x (held) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let (mut tot, mut old, mut new) = (0, 0, 0);
    for f in &files {
        let obs = read_observations(f, &ColumnNames::default()).expect("reading the CSV");
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        row(&name, &obs, held, bootstrap);
    }
    for seed in 1..=seeds {
        let mut obs = Sweep::log_even(1e17, 1e22, 11, 8)
            .with_noise(noise, seed)
            .observe(|n, d| chinchilla_loss(&HOFFMANN, n, d));
        obs.sort_by(|a, b| a.n.total_cmp(&b.n));
        for o in obs.iter_mut().take(3) {
            o.loss *= 1.04;
        }
        let (t, o, n) = row(&format!("synthetic seed {seed}"), &obs, held, bootstrap);
        (tot, old, new) = (tot + t, old + o, new + n);
    }
    if tot == 0 {
        return;
    }
    println!(
        "| synthetic, all seeds | | {tot} | {old} ({:.0}%) | {new} ({:.0}%) | | |",
        100.0 * old as f64 / tot as f64,
        100.0 * new as f64 / tot as f64
    );
}

/// Fits all but the largest sizes, prints one table row; returns (held out, inside in-sample,
/// inside calibrated).
fn row(name: &str, obs: &[Observation], held: f64, bootstrap: usize) -> (usize, usize, usize) {
    let (train, test) = largest_sizes(obs, held);
    let opts =
        FitOptions { bootstrap, seed: 0, calibrate_intervals: true, ..FitOptions::default() };
    let f = fit(&train, &opts).expect("fitting the held-in runs");
    let h = evaluate_holdout(&f, &test);
    let (inside, residual, total) = holdout_coverage(&h);
    let residual = residual.expect("a calibrated fit keeps the in-sample interval");
    let c = f.calibration.as_ref().expect("calibrated");
    let x_max = test.iter().map(|o| c.distance(o.n, o.d)).fold(0.0, f64::max);
    let pct = |k: usize| format!("{k}/{total} ({:.0}%)", 100.0 * k as f64 / total as f64);
    println!(
        "| {name} | {} | {} | {} | {} | {:.4} | {:.2} |",
        train.len(),
        test.len(),
        pct(residual),
        pct(inside),
        c.growth,
        x_max
    );
    (total, residual, inside)
}

/// The runs of the fewest largest model sizes that hold at least `frac` of the runs, and the
/// rest.
fn largest_sizes(obs: &[Observation], frac: f64) -> (Vec<Observation>, Vec<Observation>) {
    let mut sizes: Vec<f64> = obs.iter().map(|o| o.n).collect();
    sizes.sort_by(|a, b| b.total_cmp(a));
    let want = (frac * obs.len() as f64).ceil() as usize;
    let cut = sizes[want.clamp(1, obs.len()) - 1];
    let (test, train) = obs.iter().cloned().partition(|o| o.n >= cut);
    (train, test)
}
