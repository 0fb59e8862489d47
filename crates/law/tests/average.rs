//! Issue 14: the model average of `select` with `average`: weights from the held-out scores
//! that sum to 1 and favour the best, predictions that are the weighted mean of the members'
//! (so between them), intervals from the weighted mixture of their bootstraps, and a fit.json
//! that keeps it all and refuses an average whose weights do not add up.

use crate::e_prior::{base, far_error, small_models};
use isoflop_law::{Candidate, EPrior, Fit, Observation, SelectOptions, SelectRule, select};

fn averaged(seed: u64) -> (Vec<Observation>, Fit) {
    let prior: EPrior = "1.6:1.8".parse().unwrap();
    let names = [
        "chinchilla",
        "chinchilla-tied",
        "chinchilla-eprior",
        "chinchilla-tied-eprior",
        "kaplan-nd",
    ];
    let candidates = names
        .iter()
        .map(|n| Candidate::parse_with_prior(n, &base(), Some(&prior)).unwrap())
        .collect();
    let o = SelectOptions {
        candidates,
        rule: SelectRule::LargestSizes,
        quantile: 0.8,
        average: true,
        calibrate_intervals: false,
    };
    let obs = small_models(seed);
    let f = select(&obs, &o).unwrap();
    (obs, f)
}

#[test]
fn the_average_lies_between_its_members_with_weights_that_sum_to_one() {
    for seed in [1, 6] {
        let (_, f) = averaged(seed);
        let s = f.selection.as_ref().unwrap();
        let avg = s.average.as_ref().unwrap();
        assert_eq!(avg.scheme, "held-out-z");
        let sum: f64 = avg.members.iter().map(|m| m.weight).sum();
        assert!((sum - 1.0).abs() < 1e-12, "weights sum to {sum}");
        assert!(avg.members.len() >= 2, "seed {seed}: {:?}", avg.members.len());
        // The best held-out candidate has z = 0 and the largest weight; weights fall with z.
        let best = s
            .candidates
            .iter()
            .filter(|c| c.mean_rel_err.is_some())
            .min_by(|a, b| a.mean_rel_err.unwrap().total_cmp(&b.mean_rel_err.unwrap()))
            .unwrap();
        let top = avg.members.iter().max_by(|a, b| a.weight.total_cmp(&b.weight)).unwrap();
        assert_eq!(top.name, best.name);
        assert_eq!(top.z, 0.0);
        for m in &avg.members {
            let sc = s.candidates.iter().find(|c| c.name == m.name).unwrap();
            let (margin, se) = (sc.margin.unwrap(), sc.margin_se.unwrap());
            let best_mean = best.mean_rel_err.unwrap();
            let want = if margin == 0.0 { 0.0 } else { margin / se.max(0.01 * best_mean) };
            assert!((m.z - want).abs() < 1e-9 * want.max(1.0), "{}: z {} vs {want}", m.name, m.z);
            assert!(m.weight <= top.weight && m.fit.selection.is_none());
            assert_eq!(m.fit.n_rows, f.n_rows, "members are refitted on all runs");
            if m.name.ends_with("-eprior") {
                let e = m.fit.params["E"];
                assert!((1.6..=1.8).contains(&e), "{}: E {e} outside the prior", m.name);
            }
        }
        for n in [1e7, 1e9, 7e10] {
            let o = Observation::new(n, 20.0 * n, 1.0);
            let preds = avg.member_predictions(&o);
            let lo = preds.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
            let hi = preds.iter().map(|p| p.2).fold(f64::NEG_INFINITY, f64::max);
            let a = avg.predict_obs(&o);
            assert!(lo <= a && a <= hi, "seed {seed}, N {n:e}: {a} outside [{lo}, {hi}]");
            if hi - lo > 1e-3 * a {
                assert!(lo < a && a < hi, "more than one member should count");
            }
        }
        eprintln!(
            "seed {seed}: far error chosen {:.4}, average {:.4}",
            far_error(|n, d| f.predict(n, d)),
            far_error(|n, d| avg.predict(n, d))
        );
    }
}

#[test]
fn the_average_mixes_the_members_bootstraps_and_round_trips_through_fit_json() {
    let (obs, mut f) = averaged(1);
    let avg = f.selection.as_mut().unwrap().average.as_mut().unwrap();
    let o = Observation::new(7e9, 1.4e11, 1.0);
    assert_eq!(avg.predict_interval_obs(&o), None, "no bootstrap, no interval of the law");
    avg.bootstrap_members(&obs, 30, 7, &|_, _, _| {}).unwrap();
    let [lo, hi] = avg.predict_interval_obs(&o).unwrap();
    let a = avg.predict_obs(&o);
    // Every member's own draws lie inside the union of all draws; the mixture's interval
    // lies inside that union and around the averaged prediction.
    let mut all = Vec::new();
    for m in &avg.members {
        let b = m.fit.bootstrap.as_ref().unwrap();
        assert!(b.samples.len() >= 25, "{}: {} samples", m.name, b.samples.len());
        all.extend(b.samples.iter().map(|s| m.fit.predict_with(s, &o)));
    }
    let (min, max) =
        all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(
        min <= lo && lo < a && a < hi && hi <= max,
        "[{lo}, {hi}] around {a}, draws [{min}, {max}]"
    );
    let [plo, phi] = avg.prediction_interval_obs(&o).unwrap();
    assert!(plo <= lo && hi <= phi, "a new run scatters more than the law: [{plo}, {phi}]");

    let text = f.to_json().unwrap();
    let back = Fit::from_json(&text, None).unwrap();
    assert_eq!(back, f);
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["selection"]["average"]["members"][0]["weight"] = 0.0.into();
    let e = Fit::from_json(&v.to_string(), None).unwrap_err().to_string();
    assert!(e.contains("`selection.average` weights sum to"), "{e}");
    // A fit.json saved before averaging existed has no `average` and loads as before.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["selection"].as_object_mut().unwrap().remove("average");
    assert!(Fit::from_json(&v.to_string(), None).unwrap().selection.unwrap().average.is_none());
}
