//! Issue 14: prediction intervals that widen with the distance beyond the fitted range,
//! calibrated on leave-largest-out refits, cover runs larger than any fitted near their
//! nominal rate where the in-sample interval does not; fits saved before the calibration
//! existed still load and predict.

use isoflop_law::synthetic::{HOFFMANN, Sweep, chinchilla_loss};
use isoflop_law::{
    Candidate, Fit, FitOptions, Observation, SelectOptions, SelectRule, calibrate,
    evaluate_holdout, fit, holdout_coverage, select,
};

/// 88 runs over 5 decades of compute, 1% noise, the three smallest runs 4% above trend
/// (under-tuned small models), as in the selection tests.
fn sweep(seed: u64) -> Vec<Observation> {
    let mut obs = Sweep::log_even(1e17, 1e22, 11, 8)
        .with_noise(0.01, seed)
        .observe(|n, d| chinchilla_loss(&HOFFMANN, n, d));
    obs.sort_by(|a, b| a.n.total_cmp(&b.n));
    for o in obs.iter_mut().take(3) {
        o.loss *= 1.04;
    }
    obs
}

/// The largest 20% of the runs by model size held out (sizes are distinct here); the rest.
fn split(obs: &[Observation]) -> (Vec<Observation>, Vec<Observation>) {
    let k = obs.len() * 4 / 5;
    (obs[..k].to_vec(), obs[k..].to_vec())
}

fn calibrated() -> FitOptions {
    FitOptions { calibrate_intervals: true, grid_stride: 3, ..FitOptions::default() }
}

#[test]
fn calibrated_intervals_cover_held_out_larger_runs() {
    // Six sweeps; each fitted on its smaller 80% of runs and asked for the largest 20% (up to
    // 11× beyond the largest size fitted). The in-sample interval is as wide there as inside
    // the sweep and misses about a quarter of them (82 of 108 with the whole grid, measured
    // by `examples/interval_coverage.rs --bootstrap 0`); the calibrated one should hold at
    // least 85% and clearly more than the in-sample one.
    let (mut total, mut inside, mut residual) = (0, 0, 0);
    for seed in 1..=6 {
        let (train, test) = split(&sweep(seed));
        let f = fit(&train, &calibrated()).unwrap();
        let (i, r, t) = holdout_coverage(&evaluate_holdout(&f, &test));
        eprintln!("seed {seed}: {i}/{t} calibrated, {r:?}/{t} in-sample");
        (total, inside, residual) = (total + t, inside + i, residual + r.unwrap());
    }
    assert_eq!(total, 6 * 18);
    let (cal, old) = (inside as f64 / total as f64, residual as f64 / total as f64);
    eprintln!("coverage of held-out larger runs: calibrated {cal:.3}, in-sample {old:.3}");
    assert!(cal >= 0.85, "calibrated coverage {cal}");
    assert!(cal - old >= 0.10, "calibrated {cal} vs in-sample {old}");
}

#[test]
fn the_interval_widens_with_distance_beyond_the_fitted_range() {
    let obs = sweep(1);
    let f = fit(&obs, &calibrated()).unwrap();
    let c = f.calibration.as_ref().unwrap();
    assert!(c.growth > 0.0, "{c:?}");
    assert_eq!(c.splits, 3, "10%, 20% and 30% of the runs held out in turn");
    assert!(c.inside_calibrated >= c.inside_uncalibrated && c.inside_calibrated <= c.heldout);
    // Inside the fitted range the interval is the in-sample one.
    let mid = &obs[40];
    assert_eq!(f.extrapolation_distance(mid.n, mid.d), Some(0.0));
    assert_eq!(f.prediction_interval_obs(mid), f.in_sample_prediction_interval_obs(mid));
    // Beyond it, at 20 tokens per parameter, models 1×, 3×, 10×, 30× the largest fitted:
    // log-width = in-sample log-width + 2k·x, exactly.
    let n_max = c.n_range[1];
    let mut last = 0.0;
    for m in [1.0, 3.0, 10.0, 30.0] {
        let o = Observation::new(m * n_max, 20.0 * m * n_max, 1.0);
        let x = f.extrapolation_distance(o.n, o.d).unwrap();
        let [lo, hi] = f.prediction_interval_obs(&o).unwrap();
        let [rlo, rhi] = f.in_sample_prediction_interval_obs(&o).unwrap();
        let grown = (hi / lo).ln() - (rhi / rlo).ln();
        assert!((grown - 2.0 * c.growth * x).abs() < 1e-9, "{m}×: {grown} vs x = {x}");
        assert!(lo < rlo && hi > rhi || x == 0.0);
        let w = (hi / lo).ln();
        assert!(m == 1.0 || w > last, "{m}×: width {w} after {last}");
        last = w;
    }
    // 10× beyond the largest size at 20 tokens per parameter: D is inside the fitted range
    // (the largest budget's smallest model saw 500 tokens per parameter), so x is ln 10 in N
    // and the step beyond the largest compute across the band's diagonal edge.
    let o = Observation::new(10.0 * n_max, 20.0 * n_max, 1.0);
    assert!(o.d < c.d_range[1]);
    let across = (6.0 * o.n * o.d / c.c_range[1]).ln() / 2f64.sqrt();
    let x = f.extrapolation_distance(o.n, o.d).unwrap();
    assert!((x - 10f64.ln().hypot(across)).abs() < 1e-9, "{x}");
}

#[test]
fn a_fit_saved_before_calibration_loads_and_predicts() {
    let obs = sweep(2);
    let f = fit(&obs, &FitOptions { bootstrap: 20, ..calibrated() }).unwrap();
    let text = f.to_json().unwrap();
    let back = Fit::from_json(&text, None).unwrap();
    assert_eq!(back.calibration, f.calibration);
    let far = Observation::new(1e12, 2e13, 1.0);
    assert_eq!(back.prediction_interval_obs(&far), f.prediction_interval_obs(&far));
    // Without the new keys (a fit.json written before they existed): it loads, and the
    // prediction interval is the in-sample one.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("calibration");
    v["options"].as_object_mut().unwrap().remove("calibrate_intervals");
    let old = Fit::from_json(&v.to_string(), None).unwrap();
    assert!(old.calibration.is_none() && !old.options.calibrate_intervals);
    assert_eq!(old.extrapolation_distance(far.n, far.d), None);
    let iv = old.prediction_interval_obs(&far).unwrap();
    assert_eq!(Some(iv), f.in_sample_prediction_interval_obs(&far));
    assert!(iv[0] < old.predict_obs(&far) && old.predict_obs(&far) < iv[1]);
    // A calibration out of range is refused, naming the key.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["calibration"]["growth"] = (-0.1).into();
    let e = Fit::from_json(&v.to_string(), None).unwrap_err().to_string();
    assert!(e.contains("`calibration.growth` = -0.1 must be finite and >= 0"), "{e}");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["calibration"]["n_range"] = serde_json::json!([1e9, 1e8]);
    let e = Fit::from_json(&v.to_string(), None).unwrap_err().to_string();
    assert!(e.contains("`calibration.n_range` [1000000000, 100000000]"), "{e}");
}

#[test]
fn calibration_needs_sizes_to_hold_out() {
    // Three model sizes: holding out the largest leaves two, too few to extrapolate from.
    let obs: Vec<Observation> = (0..12)
        .map(|i| {
            let n = 1e7 * 4f64.powi(i / 4);
            let d = 20.0 * n * 2f64.powi(i % 4 - 1);
            Observation::new(n, d, chinchilla_loss(&HOFFMANN, n, d))
        })
        .collect();
    let plain = fit(&obs, &FitOptions { grid_stride: 9, ..FitOptions::default() }).unwrap();
    let e = calibrate(&plain, &obs).unwrap_err().to_string();
    assert!(e.contains("interval calibration: 3 distinct model sizes"), "{e}");
    let e = fit(&obs, &FitOptions { grid_stride: 9, ..calibrated() }).unwrap_err().to_string();
    assert!(e.contains("interval calibration: 3 distinct model sizes"), "{e}");
}

#[test]
fn select_scores_candidates_with_the_calibrated_interval() {
    // `fit --select --calibrate-intervals`: each candidate's held-out coverage is counted with
    // its held-in refit calibrated on its own held-in rows, the interval users will get. On
    // sweeps whose small runs are off trend the in-sample interval misses larger runs (as
    // above), so the calibrated count is higher; the in-sample count is kept beside it and
    // equals what an uncalibrated selection reports.
    let base = FitOptions { grid_stride: 5, ..FitOptions::default() };
    let opts = |calibrate_intervals| SelectOptions {
        candidates: Candidate::defaults(&base),
        rule: SelectRule::LargestSizes,
        quantile: 0.8,
        average: false,
        calibrate_intervals,
    };
    let (mut cal_total, mut plain_total) = (0, 0);
    for seed in 1..=2 {
        let obs = sweep(seed);
        let plain = select(&obs, &opts(false)).unwrap();
        let cal = select(&obs, &opts(true)).unwrap();
        assert!(cal.calibration.is_none(), "the caller calibrates the fit it saves");
        let (p, c) = (plain.selection.unwrap(), cal.selection.unwrap());
        assert_eq!(p.chosen, c.chosen, "intervals do not change the choice");
        for (p, c) in p.candidates.iter().zip(&c.candidates) {
            eprintln!(
                "seed {seed} {}: {:?} in-sample, {:?} calibrated of {}",
                c.name, c.inside_in_sample_interval, c.inside_interval, c.n_heldout
            );
            assert!(p.inside_in_sample_interval.is_none() && c.calibration_error.is_none());
            assert_eq!(c.inside_in_sample_interval, p.inside_interval, "{}", c.name);
            let (c, p) = (c.inside_interval.unwrap(), p.inside_interval.unwrap());
            assert!(c >= p, "the calibrated interval holds the in-sample one");
            (cal_total, plain_total) = (cal_total + c, plain_total + p);
        }
    }
    assert!(cal_total > plain_total, "calibrated {cal_total} vs in-sample {plain_total}");
}
