//! E held to a prior, and the model average, on sweeps of small models only (issue 14;
//! docs/fitting.md has the measured table).
//!
//! Each sweep: Hoffmann et al.'s law (E = 1.69), 7 budgets from 1e15 to 1e18 FLOPs, 8 models
//! each (N from 6e5 to 3e8), `--noise` log-normal noise (1% by default), seeds 1..=`--seeds`.
//! On such runs E is poorly identified. For each sweep: chinchilla fitted free, with E in
//! `--prior` (1.5:1.9 by default), and `--select --select-average` over chinchilla,
//! chinchilla-tied, their `-eprior` forms and kaplan-nd; each law predicts three Chinchilla-
//! style targets far beyond the sweep (N = 1e9, 7e9, 7e10 at 20 tokens per parameter), and
//! the example prints the mean |relative error| against the true law.
//!
//! `cargo run --release -p isoflop-law --example select_eprior [--seeds 8] [--noise 0.01]
//! [--prior 1.5:1.9] [--stride 5]`

use isoflop_law::synthetic::{HOFFMANN, Sweep, chinchilla_loss};
use isoflop_law::{Candidate, EPrior, FitOptions, SelectOptions, SelectRule, fit, select};

fn main() {
    let (mut seeds, mut noise, mut prior, mut stride) = (8u64, 0.01, "1.5:1.9".to_string(), 5);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--seeds" => seeds = v.parse().expect("--seeds K"),
            "--noise" => noise = v.parse().expect("--noise SIGMA"),
            "--prior" => prior = v,
            "--stride" => stride = v.parse().expect("--stride K"),
            _ => panic!("unknown argument {a}"),
        }
    }
    let prior: EPrior = prior.parse().expect("--prior LO:HI or VALUE");
    let law = |n: f64, d: f64| chinchilla_loss(&HOFFMANN, n, d);
    let targets: Vec<(f64, f64)> = [1e9, 7e9, 7e10].iter().map(|&n| (n, 20.0 * n)).collect();
    let err = |p: &dyn Fn(f64, f64) -> f64| {
        targets.iter().map(|&(n, d)| (p(n, d) / law(n, d) - 1.0).abs()).sum::<f64>()
            / targets.len() as f64
    };
    let base = FitOptions { grid_stride: stride, ..FitOptions::default() };
    let names = [
        "chinchilla",
        "chinchilla-tied",
        "chinchilla-eprior",
        "chinchilla-tied-eprior",
        "kaplan-nd",
    ];
    let candidates: Vec<Candidate> = names
        .iter()
        .map(|n| Candidate::parse_with_prior(n, &base, Some(&prior)).unwrap())
        .collect();
    let sel = SelectOptions {
        candidates,
        rule: SelectRule::LargestSizes,
        quantile: 0.8,
        average: true,
        calibrate_intervals: false,
    };
    println!("prior E in {prior}; targets N = 1e9, 7e9, 7e10 at D = 20 N; noise {noise}");
    println!(
        "{:>4} {:>8} {:>8} {:>10} {:>10} {:>10} {:>10}  chosen (weights)",
        "seed", "E free", "E prior", "err free", "err prior", "err chosen", "err avg"
    );
    let mut sums = [0.0; 4];
    let mut chosen_eprior = 0;
    for seed in 1..=seeds {
        let obs = Sweep::log_even(1e15, 1e18, 7, 8).with_noise(noise, seed).observe(law);
        let free = fit(&obs, &base).unwrap();
        let with = fit(&obs, &prior.apply(&base).unwrap()).unwrap();
        let f = select(&obs, &sel).unwrap();
        let s = f.selection.as_ref().unwrap();
        let avg = s.average.as_ref().unwrap();
        let e = [
            err(&|n, d| free.predict(n, d)),
            err(&|n, d| with.predict(n, d)),
            err(&|n, d| f.predict(n, d)),
            err(&|n, d| avg.predict(n, d)),
        ];
        for (a, b) in sums.iter_mut().zip(e) {
            *a += b;
        }
        chosen_eprior += usize::from(s.chosen.ends_with("-eprior"));
        let weights: Vec<String> =
            avg.members.iter().map(|m| format!("{} {:.2}", m.name, m.weight)).collect();
        println!(
            "{seed:>4} {:>8.3} {:>8.3} {:>9.2}% {:>9.2}% {:>9.2}% {:>9.2}%  {} ({})",
            free.params["E"],
            with.params["E"],
            100.0 * e[0],
            100.0 * e[1],
            100.0 * e[2],
            100.0 * e[3],
            s.chosen,
            weights.join(", ")
        );
    }
    let k = seeds as f64;
    println!(
        "mean {:>27.2}% {:>9.2}% {:>9.2}% {:>9.2}%  an -eprior form chosen in {chosen_eprior} of {seeds}",
        100.0 * sums[0] / k,
        100.0 * sums[1] / k,
        100.0 * sums[2] / k,
        100.0 * sums[3] / k
    );
}
