//! Issue 7 through the binary: `fit --select` (leave-largest-out and rolling origin) with its
//! table and fit.json record, constrained fits (`--tie-exponents`, `--fix`, `--bound`),
//! prediction intervals from `predict`, and the new flags' bad input (exit 2).

mod common;

use common::{example, isoflop, json, refused};
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
