//! Whole-curve fits with the learning-rate schedule (Tissue et al. 2024, arXiv 2408.11029):
//! synthetic loss curves from known parameters (`isoflop_law::synthetic::CURVE_EXAMPLE`,
//! peak rate 1e-3, 200 warmup steps, 0.5% log-normal noise, a point every 100 steps), then
//!
//! 1. the parameters recovered from a 20k-step cosine run and a 20k-step WSD run;
//! 2. the final loss of 20k-step cosine and WSD runs predicted from a 10k-step constant-rate
//!    run and a 4k-step cosine run;
//! 3. 95% intervals from a bootstrap over six curves.
//!
//! `cargo run -p isoflop-law --example curve_law [--noise SIGMA] [--seed K]`
//! (docs/fitting.md shows its output).

use isoflop_law::synthetic::{CURVE_EXAMPLE, curve_points};
use isoflop_law::{
    CURVE_PARAM_NAMES, Curve, CurveLawOptions, CurveParams, Decay, Schedule, TISSUE_LAMBDA,
    fit_curve_law,
};

const PEAK: f64 = 1e-3;

fn main() {
    let mut noise = 0.005;
    let mut seed = 0u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--noise" => noise = args.next().and_then(|v| v.parse().ok()).expect("--noise SIGMA"),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed K"),
            other => panic!("unknown argument {other}"),
        }
    }
    let curve = |name: &str, s: Schedule, k: u64| {
        let pts = curve_points(&CURVE_EXAMPLE, &s, TISSUE_LAMBDA, 100, noise, seed * 100 + k);
        Curve::new(name, s, pts)
    };
    let cosine = Schedule::cosine(PEAK, 200, 20_000, 0.1);
    let wsd = Schedule::wsd(PEAK, 200, 20_000, 0.2, 0.0, Decay::Linear);
    let truth = CURVE_EXAMPLE.to_vec();
    println!("noise σ = {noise} (log loss), seed {seed}, λ = {TISSUE_LAMBDA}");

    println!("\n1. Fit on cosine (20k steps, floor 0.1) + WSD (20k, last 20% linear to 0):");
    let f = fit_curve_law(
        &[curve("cosine", cosine, 1), curve("wsd", wsd, 2)],
        &CurveLawOptions::default(),
    )
    .expect("fit");
    println!("   {:<6} {:>8} {:>8} {:>8}", "param", "true", "fitted", "error");
    for (i, v) in f.params.to_vec().iter().enumerate() {
        let err = 100.0 * (v - truth[i]) / truth[i];
        println!("   {:<6} {:>8.4} {:>8.4} {:>+7.2}%", CURVE_PARAM_NAMES[i], truth[i], v, err);
    }
    println!(
        "   {} points, rmse of log loss {:.4}, {} of {} starts at the best objective",
        f.n_points, f.rmse_log, f.starts_at_best, f.starts
    );

    println!("\n2. Fit on constant (10k steps) + cosine (4k steps); predict step 20,000:");
    let g = fit_curve_law(
        &[
            curve("constant", Schedule::constant(PEAK, 200, 10_000), 3),
            curve("short cosine", Schedule::cosine(PEAK, 200, 4_000, 0.1), 4),
        ],
        &CurveLawOptions::default(),
    )
    .expect("fit");
    println!(
        "   {:<10} {:>8} {:>9} {:>8} {:>14}",
        "run", "true", "predicted", "error", "no annealing"
    );
    for (name, s) in [("cosine", cosine), ("wsd", wsd)] {
        let want = CURVE_EXAMPLE.loss_at(&s, 20_000, TISSUE_LAMBDA).expect("step in run");
        let got = g.predict(&s, 20_000).expect("step in run");
        let forward = CurveParams { c: 0.0, ..g.params }
            .loss_at(&s, 20_000, TISSUE_LAMBDA)
            .expect("step in run");
        println!(
            "   {:<10} {:>8.4} {:>9.4} {:>+7.2}% {:>8.4} ({:+.1}%)",
            name,
            want,
            got,
            100.0 * (got - want) / want,
            forward,
            100.0 * (forward - want) / want
        );
    }

    println!("\n3. Bootstrap over six curves (200 resamples of whole curves):");
    let runs = [
        ("cosine 20k", cosine),
        ("wsd 20k", wsd),
        ("cosine 8k", Schedule::cosine(PEAK, 200, 8_000, 0.1)),
        ("wsd 8k cos-decay", Schedule::wsd(PEAK, 200, 8_000, 0.2, 0.0, Decay::Cosine)),
        ("constant 12k", Schedule::constant(PEAK, 200, 12_000)),
        ("cosine 4k to 0", Schedule::cosine(PEAK, 100, 4_000, 0.0)),
    ];
    let curves: Vec<Curve> =
        runs.iter().enumerate().map(|(i, (n, s))| curve(n, *s, 10 + i as u64)).collect();
    let opts = CurveLawOptions { bootstrap: 200, seed: 7, ..Default::default() };
    let h = fit_curve_law(&curves, &opts).expect("fit");
    println!("   {:<6} {:>8} {:>8}  95% interval", "param", "true", "fitted");
    for (i, name) in CURVE_PARAM_NAMES.iter().enumerate() {
        let [lo, hi] = h.intervals[*name];
        println!(
            "   {:<6} {:>8.4} {:>8.4}  [{lo:.4}, {hi:.4}]",
            name,
            truth[i],
            h.params.to_vec()[i]
        );
    }
    let b = h.bootstrap.as_ref().expect("bootstrap asked for");
    let long = Schedule::wsd(PEAK, 200, 40_000, 0.1, 0.0, Decay::Linear);
    let want = CURVE_EXAMPLE.loss_at(&long, 40_000, TISSUE_LAMBDA).expect("step in run");
    let [lo, hi] = h.predict_interval(&long, 40_000).expect("step in run").expect("bootstrap");
    println!(
        "   {} refits ({} failed); a 40k-step WSD run (10% decay): true {want:.4}, \
         predicted {:.4} [{lo:.4}, {hi:.4}]",
        b.samples.len(),
        b.failed,
        h.predict(&long, 40_000).expect("step in run")
    );
}
