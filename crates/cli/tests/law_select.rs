//! Issue 7 through the binary: `fit --select` (leave-largest-out and rolling origin) with its
//! table and fit.json record, constrained fits (`--tie-exponents`, `--fix`, `--bound`),
//! prediction intervals from `predict`, and the new flags' bad input (exit 2).

mod common;

use common::{example, isoflop, json, refused, write};
use serde_json::Value;

#[test]
fn select_records_candidates_and_refits_the_winner() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fit.json");
    let o = out.to_str().unwrap();
    let ex = example();
    let v = json(&["fit", &ex, "--select", "--grid-stride", "9", "-o", o]);
    let s = &v["selection"];
    assert_eq!(s["rule"], "largest-sizes");
    // The example is Chinchilla's law with α ≠ β (0.34, 0.28): the free form should win, by
    // more than the noise (the tied form is distinguishably worse).
    assert_eq!(s["chosen"], "chinchilla", "{}", s["decision"]);
    assert_eq!(s["candidates"][1]["within_noise"], false, "{}", s["decision"]);
    assert!(s["decision"].as_str().unwrap().starts_with("chinchilla: the lowest mean"));
    let by_compute =
        json(&["fit", &ex, "--select", "--select-by", "compute", "--grid-stride", "9"]);
    assert_eq!(by_compute["selection"]["rule"], "leave-largest-out");
    assert_eq!(v["form"], "chinchilla");
    assert_eq!(v["n_rows"], 240);
    let names: Vec<&str> =
        s["candidates"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["chinchilla", "chinchilla-tied", "kaplan-nd"]);
    for c in s["candidates"].as_array().unwrap() {
        assert!(c["mean_rel_err"].as_f64().unwrap() <= c["worst_rel_err"].as_f64().unwrap());
        assert!(c["inside_interval"].as_u64().unwrap() <= c["n_heldout"].as_u64().unwrap());
    }
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(saved["selection"], v["selection"]);

    let (code, text, _) = isoflop(&["fit", &ex, "--select", "--rolling", "--grid-stride", "9"]);
    assert_eq!(code, 0);
    assert!(
        text.starts_with("form selection (rolling-origin, cut at 1.000e18, 1.000e19"),
        "{text}"
    );
    assert!(text.contains("<- chosen") && text.contains("refitted on all 240 runs"));
}

/// `--select --calibrate-intervals` counts each candidate's held-out runs inside its held-in
/// refit's calibrated interval, with the in-sample count beside it.
#[test]
fn select_with_calibrated_intervals_scores_the_calibrated_interval() {
    let ex = example();
    let args = ["fit", &ex, "--select", "--calibrate-intervals", "--grid-stride", "9"];
    let v = json(&args);
    assert!(v["calibration"]["growth"].as_f64().is_some(), "the saved fit is calibrated");
    for c in v["selection"]["candidates"].as_array().unwrap() {
        let (cal, raw) = (&c["inside_interval"], &c["inside_in_sample_interval"]);
        assert!(cal.as_u64().unwrap() >= raw.as_u64().unwrap(), "{c}");
        assert!(cal.as_u64().unwrap() <= c["n_heldout"].as_u64().unwrap());
    }
    let (code, text, err) = isoflop(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("its own held-in rows (in parentheses: the in-sample interval)"),
        "{text}"
    );
    // Without the flag, the in-sample count is the only one.
    let plain = json(&["fit", &ex, "--select", "--grid-stride", "9"]);
    let c0 = &plain["selection"]["candidates"][0];
    assert!(c0.get("inside_in_sample_interval").is_none());
    assert_eq!(c0["inside_interval"], v["selection"]["candidates"][0]["inside_in_sample_interval"]);
}

#[test]
fn constrained_fits_honour_their_constraints() {
    let ex = example();
    let tied = json(&["fit", &ex, "--tie-exponents", "--grid-stride", "9"]);
    assert_eq!(tied["params"]["alpha"], tied["params"]["beta"]);
    let fixed = json(&["fit", &ex, "--fix", "E=1.69", "--fix", "alpha=0.34", "--grid-stride", "9"]);
    assert_eq!(fixed["params"]["E"], 1.69);
    assert_eq!(fixed["fixed"], serde_json::json!(["E", "alpha"]));
    let b = (fixed["params"]["beta"].as_f64().unwrap() - 0.28).abs();
    assert!(b < 0.01, "with E and α at the truth, β is pinned: off by {b}");
    let bounded = json(&["fit", &ex, "--bound", "alpha=0:0.3", "--grid-stride", "9"]);
    assert!(bounded["params"]["alpha"].as_f64().unwrap() <= 0.3);
}

#[test]
fn predict_gives_a_prediction_interval_for_a_new_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fit.json");
    let o = out.to_str().unwrap();
    let (code, _, err) =
        isoflop(&["fit", &example(), "--grid-stride", "9", "--bootstrap", "30", "-o", o]);
    assert_eq!(code, 0, "{err}");
    let p = json(&["predict", "--fit", o, "--params", "1e9", "--tokens", "2e10"]);
    let (ci, pi) = (&p["interval"], &p["prediction_interval"]);
    let w = |v: &Value| v[1].as_f64().unwrap() - v[0].as_f64().unwrap();
    assert!(w(pi) > w(ci), "a run scatters around the law: {pi} vs {ci}");
}

#[test]
fn bad_selection_and_constraint_flags_are_refused() {
    let ex = example();
    refused(&["fit", &ex, "--bound", "alpha"], "--bound `alpha`: expected NAME=LO:HI");
    refused(&["fit", &ex, "--bound", "alpha=0.5"], "expected LO:HI after `=`");
    refused(&["fit", &ex, "--bound", "alpha=x:1"], "--bound `alpha=x:1`: `x` is not a number");
    refused(
        &["fit", &ex, "--bound", "alpha=1:0.5"],
        "bounds of `alpha`: lower 1 must be below upper 0.5",
    );
    refused(&["fit", &ex, "--bound", "gamma=0:1"], "cannot bound `gamma`");
    refused(
        &["fit", &ex, "--tie-exponents", "--form", "kaplan-nd"],
        "form kaplan-nd has no pair of exponents to tie",
    );
    refused(&["fit", &ex, "--select", "--candidates", "chinchila"], "--candidates `chinchila`");
    refused(
        &["fit", &ex, "--select", "--candidates", "sigmoid"],
        "candidate `sigmoid` is not a loss law",
    );
    refused(
        &["fit", &ex, "--select", "--candidates", "kaplan-nd-tied"],
        "form kaplan-nd has no exponents to tie",
    );
    refused(
        &["fit", &ex, "--select", "--select-quantile", "1.5"],
        "holdout quantile must be in (0, 1)",
    );
    refused(
        &["fit", &ex, "--select", "--select-by", "median"],
        "selection rule `median`: expected sizes, compute or rolling",
    );
}

/// Issue 14: `--e-prior` holds E in the fit, and with `--select` adds `-eprior` candidates.
#[test]
fn an_e_prior_bounds_or_fixes_e_and_adds_candidates() {
    let ex = example();
    // The example's E is 1.69: an interval above it binds, and the fit stays inside.
    let v = json(&["fit", &ex, "--e-prior", "1.75:1.9", "--grid-stride", "9"]);
    let e = v["params"]["E"].as_f64().unwrap();
    assert!((1.75..=1.9).contains(&e) && e < 1.76, "E {e}");
    assert_eq!(v["options"]["bounds"]["E"], serde_json::json!([1.75, 1.9]));
    let v = json(&["fit", &ex, "--e-prior", "1.69", "--grid-stride", "9"]);
    assert_eq!(v["params"]["E"], 1.69);
    assert_eq!(v["fixed"], serde_json::json!(["E"]));
    let v = json(&["fit", &ex, "--select", "--e-prior", "1.6:1.8", "--grid-stride", "9"]);
    let names: Vec<&str> = v["selection"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "chinchilla",
            "chinchilla-tied",
            "kaplan-nd",
            "chinchilla-eprior",
            "chinchilla-tied-eprior"
        ]
    );
    let free: Vec<u64> = v["selection"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["free_params"].as_u64().unwrap())
        .collect();
    assert_eq!(free, [5, 4, 4, 5, 4], "a bounded E keeps its free parameter");
    assert!(v["selection"].get("average").is_none(), "no average unless asked for");
}

/// Issue 14: `--select-average` saves the weights and members in fit.json, and `predict` uses
/// the weighted mean of the members' predictions, with a mixture interval.
#[test]
fn predict_uses_the_model_average_when_fit_json_holds_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fit.json");
    let o = out.to_str().unwrap();
    let ex = example();
    let args = [
        "fit",
        &ex,
        "--select",
        "--select-average",
        "--e-prior",
        "1.6:1.8",
        "--grid-stride",
        "9",
        "--bootstrap",
        "20",
        "-o",
        o,
    ];
    let (code, text, err) = isoflop(&args);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains(" weight") && text.contains("averaged "), "{text}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let avg = &saved["selection"]["average"];
    assert_eq!(avg["scheme"], "held-out-z");
    let members = avg["members"].as_array().unwrap();
    let sum: f64 = members.iter().map(|m| m["weight"].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-9, "weights sum to {sum}");
    assert!(
        members.iter().all(|m| m["fit"]["bootstrap"]["samples"].as_array().unwrap().len() > 10)
    );
    let p = json(&["predict", "--fit", o, "--params", "7e9", "--tokens", "1.4e11"]);
    let terms = p["average"].as_array().unwrap();
    assert_eq!(terms.len(), members.len());
    let mean: f64 =
        terms.iter().map(|t| t["weight"].as_f64().unwrap() * t["loss"].as_f64().unwrap()).sum();
    let loss = p["loss"].as_f64().unwrap();
    assert!((loss - mean).abs() < 1e-12 * loss, "{loss} vs {mean}");
    let (lo, hi) = terms
        .iter()
        .map(|t| t["loss"].as_f64().unwrap())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    assert!(lo <= loss && loss <= hi);
    let [ilo, ihi] = [p["interval"][0].as_f64().unwrap(), p["interval"][1].as_f64().unwrap()];
    assert!(ilo < loss && loss < ihi, "[{ilo}, {ihi}] around {loss}");
    let (code, text, _) =
        isoflop(&["predict", "--fit", o, "--params", "7e9", "--tokens", "1.4e11"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("model average from") && text.contains("weight"), "{text}");
    // A fit without an average predicts as before, with no `average` key.
    let plain = dir.path().join("plain.json");
    let (code, _, err) =
        isoflop(&["fit", &ex, "--grid-stride", "9", "-o", plain.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let p = json(&[
        "predict",
        "--fit",
        plain.to_str().unwrap(),
        "--params",
        "7e9",
        "--tokens",
        "1.4e11",
    ]);
    assert!(p.get("average").is_none());
}

/// A sweep where α and β differ a little under 1.5% noise (α = 0.36, β = 0.30; E = 1.69,
/// A = 406.4, B = 410.7): the free and the tied form are close on held-out runs, so both keep
/// weight in the average, but their laws part at large budgets.
fn close_forms_csv() -> String {
    let mut state = 7u64;
    let mut noise = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.03
    };
    let mut text = String::from("N,D,loss\n");
    for c in [1e17, 1e18, 1e19, 1e20, 1e21, 1e22f64] {
        let n_star = (c / 120.0).sqrt();
        for k in -3..=3 {
            let n = n_star * 2f64.powi(k);
            let d = c / (6.0 * n);
            let loss = (1.69 + 406.4 / n.powf(0.36) + 410.7 / d.powf(0.30)) * (1.0 + noise());
            text += &format!("{n:.0},{d:.0},{loss:.6}\n");
        }
    }
    text
}

/// The averaged law's loss Σ w_i (E_i + A_i/N^α_i + B_i/D^β_i) from fit.json's members
/// (Chinchilla's form, free or tied).
fn averaged_loss(avg: &Value, n: f64, d: f64) -> f64 {
    let members = avg["members"].as_array().unwrap();
    members
        .iter()
        .map(|m| {
            let p = &m["fit"]["params"];
            let v = |k: &str| p[k].as_f64().unwrap();
            let beta = p.get("beta").and_then(Value::as_f64).unwrap_or(v("alpha"));
            m["weight"].as_f64().unwrap()
                * (v("E") + v("A") / n.powf(v("alpha")) + v("B") / d.powf(beta))
        })
        .sum()
}

/// `plan --fit fit.json` with `selection.average` plans with the weighted-mean loss: its
/// N_opt is the minimum of L̄(N, C/(6N)) found by a brute-force scan, and differs from the
/// chosen form's.
#[test]
fn plan_uses_the_model_average_when_fit_json_holds_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "close.csv", &close_forms_csv());
    let out = dir.path().join("fit.json");
    let o = out.to_str().unwrap();
    let args = [
        "fit",
        &data,
        "--select",
        "--select-average",
        "--candidates",
        "chinchilla,chinchilla-tied",
        "--grid-stride",
        "9",
        "--bootstrap",
        "20",
        "-o",
        o,
    ];
    let (code, _, err) = isoflop(&args);
    assert_eq!(code, 0, "{err}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let avg = &saved["selection"]["average"];
    let weights: Vec<f64> =
        avg["members"].as_array().unwrap().iter().map(|m| m["weight"].as_f64().unwrap()).collect();
    assert!(weights.len() == 2 && weights.iter().all(|&w| w > 0.05), "{weights:?}");
    // The same fit without its average plans with the chosen form alone.
    let mut chosen = saved.clone();
    chosen["selection"].as_object_mut().unwrap().remove("average");
    let chosen_path = write(dir.path(), "chosen.json", &chosen.to_string());

    let c = 1e24;
    let p = json(&["plan", "--fit", o, "--compute", "1e24"]);
    let q = json(&["plan", "--fit", &chosen_path, "--compute", "1e24"]);
    assert_eq!(p["method"], "average");
    assert_eq!(p["average"].as_array().unwrap().len(), 2);
    assert!(q.get("average").is_none());
    let (n_avg, n_chosen) = (p["n_opt"].as_f64().unwrap(), q["n_opt"].as_f64().unwrap());
    eprintln!(
        "weights {weights:?}; N_opt at 1e24 FLOPs: average {n_avg:.4e}, chosen ({}) {n_chosen:.4e}, \
         members' own {}; loss {} vs {}",
        saved["selection"]["chosen"], p["average"], p["loss"], q["loss"]
    );
    assert!((n_avg / n_chosen - 1.0).abs() > 1e-3, "{n_avg} vs {n_chosen}");
    // Brute force: L̄ along C = 6ND on a grid of 1e-4 nats in ln N around the plan.
    let along = |n: f64| averaged_loss(avg, n, c / (6.0 * n));
    let best = (-20_000..=20_000)
        .map(|k| n_avg * (1e-4 * f64::from(k)).exp())
        .min_by(|a, b| along(*a).total_cmp(&along(*b)))
        .unwrap();
    assert!((n_avg / best - 1.0).abs() < 2e-4, "plan {n_avg} vs scan {best}");
    let loss = p["loss"].as_f64().unwrap();
    assert!((loss - along(n_avg)).abs() < 1e-12 * loss && loss <= along(best) + 1e-12);
    // `predict` at the plan's (N, D) gives the plan's loss: one averaged law for both.
    let d = p["d_opt"].as_f64().unwrap();
    let pr =
        json(&["predict", "--fit", o, "--params", &n_avg.to_string(), "--tokens", &d.to_string()]);
    assert!((pr["loss"].as_f64().unwrap() - loss).abs() < 1e-12 * loss);
    let [lo, hi] =
        [p["n_opt_interval"][0].as_f64().unwrap(), p["n_opt_interval"][1].as_f64().unwrap()];
    assert!(lo < n_avg && n_avg < hi, "[{lo}, {hi}] around {n_avg}");

    // A target loss: the least compute whose averaged optimum reaches it.
    let target = 0.5 * (loss + averaged_loss(avg, 1e9, 2e10));
    let t = json(&["plan", "--fit", o, "--target-loss", &target.to_string()]);
    assert_eq!(t["method"], "average");
    let (tn, td) = (t["n_opt"].as_f64().unwrap(), t["d_opt"].as_f64().unwrap());
    assert!((averaged_loss(avg, tn, td) - target).abs() < 1e-9 * target);
    let (code, text, _) = isoflop(&["plan", "--fit", o, "--compute", "1e24"]);
    assert_eq!(code, 0);
    assert!(
        text.starts_with("model average plan from") && text.contains("chinchilla-tied"),
        "{text}"
    );
}

#[test]
fn bad_e_priors_and_averages_are_refused() {
    let ex = example();
    refused(
        &["fit", &ex, "--e-prior", "1.9:1.6"],
        "invalid value '1.9:1.6' for '--e-prior <LO:HI|VALUE>': E prior `1.9:1.6`: lower end 1.9 \
         must be below upper end 1.6",
    );
    refused(&["fit", &ex, "--e-prior", "-1:2"], "E prior `-1:2`: -1 is not a loss floor");
    refused(&["fit", &ex, "--e-prior", "abc"], "E prior `abc`: `abc` is not a number");
    refused(&["fit", &ex, "--e-prior", "0"], "E prior `0`: 0 is not a loss floor");
    let kaplan = ["fit", &ex, "--form", "kaplan-nd", "--e-prior", "1.7"];
    refused(&kaplan, "E prior 1.7: form kaplan-nd has no irreducible loss E");
    refused(&kaplan, "error: --e-prior\n");
    refused(&["fit", &ex, "--fix", "E=1.7", "--e-prior", "1.7"], "already fixed or bounded");
    refused(
        &["fit", &ex, "--select", "--bound", "E=1:2", "--e-prior", "1.7"],
        "--e-prior 1.7 with --fix or --bound on E",
    );
    refused(
        &["fit", &ex, "--select", "--candidates", "kaplan-nd", "--e-prior", "1.7"],
        "no candidate in --candidates has an irreducible loss E",
    );
    refused(
        &["fit", &ex, "--select", "--candidates", "chinchilla-eprior"],
        "candidate `chinchilla-eprior` needs an E prior",
    );
    refused(&["fit", &ex, "--select-average"], "--select");
    refused(
        &["fit", &ex, "--select", "--select-average", "--calibrate-intervals"],
        "cannot be used with",
    );
}
