//! `isoflop fit`, `predict` and `plan` end to end: the README's first command, the JSON keys
//! other parts rely on, saved fits feeding predict and plan, the extrapolation check,
//! approaches 1 and 2, and every bad input (exit 2, a message naming the input, no file left).

mod common;

use common::{example, isoflop, json, num, refused, write};
use serde_json::Value;

#[test]
fn readme_command_fits_the_shipped_example_near_its_truth() {
    // The example is Hoffmann et al.'s law (E = 1.69, A = 406.4, B = 410.7, α = 0.34,
    // β = 0.28) with 1% noise; 240 noisy points pin the exponents to a few hundredths.
    let v = json(&["fit", &example()]);
    assert_eq!(v["form"], "chinchilla");
    assert_eq!(num(&v, "/n_rows"), 240.0);
    for (k, want, tol) in [("E", 1.69, 0.05), ("alpha", 0.34, 0.02), ("beta", 0.28, 0.02)] {
        let got = num(&v, &format!("/params/{k}"));
        assert!((got - want).abs() < tol, "{k}: {got} vs {want}");
    }
    for k in ["objective", "rmse_log", "r2"] {
        assert!(v[k].is_number(), "missing {k}");
    }
    assert!(num(&v, "/r2") > 0.99 && num(&v, "/rmse_log") < 0.012);
    assert_eq!(v["residuals"].as_array().unwrap().len(), 240);
    assert!(num(&v, "/starts_at_best") >= 1.0 && num(&v, "/starts") == 4500.0);
    // The human table names every parameter and the goodness of fit.
    let (code, out, _) = isoflop(&["fit", &example(), "--grid-stride", "10"]);
    assert_eq!(code, 0);
    let first: Vec<&str> = out.lines().take(2).collect();
    assert_eq!(first[0], format!("chinchilla fit of 240 rows from {}", example()));
    assert_eq!(
        first[1].split_whitespace().collect::<Vec<_>>(),
        ["parameter", "value", "95%", "interval"]
    );
    for k in ["E ", "A ", "B ", "alpha ", "beta ", "rmse_log ", "r2 ", "starts "] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(k)), "no `{k}` line in:\n{out}");
    }
}

#[test]
fn saved_fit_feeds_predict_and_plan_with_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let fit_path = dir.path().join("fit.json");
    let fp = fit_path.to_str().unwrap();
    let (code, out, err) = isoflop(&[
        "fit",
        &example(),
        "--grid-stride",
        "10",
        "--bootstrap",
        "40",
        "--seed",
        "7",
        "-o",
        fp,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("saved {fp}")));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&fit_path).unwrap()).unwrap();
    assert_eq!(saved["input_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(saved["options"]["seed"], 7);
    assert_eq!(saved["version"], env!("CARGO_PKG_VERSION"));
    let [lo, hi] = [num(&saved, "/intervals/alpha/0"), num(&saved, "/intervals/alpha/1")];
    assert!(lo < num(&saved, "/params/alpha") && num(&saved, "/params/alpha") < hi);
    assert!(saved["intervals"]["a"].is_array(), "derived a = β/(α+β) has an interval");

    let p = json(&["predict", "--fit", fp, "--params", "70B", "--tokens", "1.4T"]);
    assert_eq!(num(&p, "/n"), 7e10);
    let loss = num(&p, "/loss");
    assert!(num(&p, "/interval/0") <= loss && loss <= num(&p, "/interval/1"));
    // Hoffmann's law at 70B, 1.4T: 1.69 + 406.4/7e10^0.34 + 410.7/1.4e12^0.28 = 1.937.
    assert!((loss - 1.937).abs() < 0.03, "{loss}");

    let plan = json(&["plan", "--fit", fp, "--compute", "5.76e23"]);
    for k in ["compute", "n_opt", "d_opt", "tokens_per_param", "loss", "loss_interval"] {
        assert!(!plan[k].is_null(), "plan lacks {k}: {plan}");
    }
    let (n, d) = (num(&plan, "/n_opt"), num(&plan, "/d_opt"));
    assert!((6.0 * n * d / 5.76e23 - 1.0).abs() < 1e-9);
    assert!((num(&plan, "/tokens_per_param") - d / n).abs() < 1e-9 * d / n);

    let t = json(&["plan", "--fit", fp, "--target-loss", &num(&plan, "/loss").to_string()]);
    assert!((num(&t, "/compute") / 5.76e23 - 1.0).abs() < 1e-6);
    let q = json(&["plan", "--fit", fp, "--params", &n.to_string()]);
    assert!((num(&q, "/d_opt") / d - 1.0).abs() < 1e-6);
    let inf = json(&["plan", "--fit", fp, "--compute", "5.76e23", "--inference-tokens", "5T"]);
    assert!(num(&inf, "/n_ratio") < 1.0 && num(&inf, "/d_ratio") > 1.0);
    let (code, out, _) =
        isoflop(&["plan", "--fit", fp, "--compute", "5.76e23", "--inference-tokens", "5T"]);
    assert_eq!(code, 0);
    assert!(out.contains("with 5.0000e12 inference tokens, same loss"), "{out}");
    // The target-loss side of the same question is answered, never silently dropped.
    let loss = num(&inf, "/loss").to_string();
    let by_loss = json(&["plan", "--fit", fp, "--target-loss", &loss, "--inference-tokens", "5T"]);
    assert!((num(&by_loss, "/n") / num(&inf, "/n") - 1.0).abs() < 1e-5, "{by_loss}");
    let (code, _, err) =
        isoflop(&["plan", "--fit", fp, "--params", "1e9", "--inference-tokens", "5T"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn holdout_reports_each_held_out_run() {
    let v = json(&["fit", &example(), "--grid-stride", "10", "--holdout-top", "20"]);
    assert_eq!(num(&v, "/n_rows"), 220.0);
    let h = v["holdout"].as_array().unwrap();
    assert_eq!(h.len(), 20);
    for r in h {
        let (a, p) = (num(r, "/actual"), num(r, "/predicted"));
        assert!((num(r, "/rel_err") - (p - a) / a).abs() < 1e-12);
        assert!(
            num(r, "/rel_err").abs() < 0.05,
            "1% noise; an extrapolation miss over 5% is a bug: {r}"
        );
    }
    let v = json(&["fit", &example(), "--grid-stride", "10", "--holdout-above-compute", "1e22"]);
    assert_eq!(v["holdout"].as_array().unwrap().len(), 20);
    let (code, out, _) = isoflop(&["fit", &example(), "--grid-stride", "10", "--holdout-top", "3"]);
    assert_eq!(code, 0);
    assert!(out.contains("held-out runs (fitted without them):") && out.contains("mean |rel err|"));
}

/// Issue 14: `--calibrate-intervals` widens the prediction interval beyond the fitted range;
/// the holdout says how many held-out runs each interval holds; `predict` reports the widened
/// one from the saved fit.
#[test]
fn calibrated_intervals_widen_beyond_the_fitted_range() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fit.json");
    let o = out.to_str().unwrap();
    let ex = example();
    let base = ["fit", &ex, "--grid-stride", "10", "--calibrate-intervals"];
    let v = json(&[&base[..], &["--holdout-top", "20"]].concat());
    let c = &v["calibration"];
    assert_eq!(c["splits"], 3, "{c}");
    assert!(num(c, "/growth") >= 0.0 && num(c, "/max_distance") > 0.0, "{c}");
    assert_eq!(v["options"]["calibrate_intervals"], true);
    for r in v["holdout"].as_array().unwrap() {
        let (iv, before) = (&r["interval"], &r["in_sample_interval"]);
        assert!(num(iv, "/0") <= num(before, "/0") && num(iv, "/1") >= num(before, "/1"), "{r}");
    }
    let (code, text, err) = isoflop(&[&base[..], &["--holdout-top", "20", "-o", o]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("  intervals  widen by e^±"), "{text}");
    let line = text.lines().find(|l| l.contains("inside their 95% prediction interval")).unwrap();
    assert!(
        line.contains(" of 20 (calibrated), ")
            && line.ends_with(" of 20 (in-sample, before widening)"),
        "{line}"
    );
    // Inside the fitted range the interval is the in-sample one; 10× beyond the largest model
    // it is wider by e^(2k·x).
    let k = num(
        &serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap(),
        "/calibration/growth",
    );
    let inside = json(&["predict", "--fit", o, "--params", "1e9", "--tokens", "2e10"]);
    assert_eq!(num(&inside, "/extrapolation_distance"), 0.0);
    assert_eq!(inside["prediction_interval"], inside["in_sample_prediction_interval"]);
    let far = json(&["predict", "--fit", o, "--params", "3e11", "--tokens", "6e12"]);
    let x = num(&far, "/extrapolation_distance");
    assert!(x > 1.0, "{far}");
    let w = |p: &str| (num(&far, &format!("{p}/1")) / num(&far, &format!("{p}/0"))).ln();
    let grown = w("/prediction_interval") - w("/in_sample_prediction_interval");
    assert!((grown - 2.0 * k * x).abs() < 1e-9, "{far}");
    let (code, text, _) = isoflop(&["predict", "--fit", o, "--params", "3e11", "--tokens", "6e12"]);
    assert_eq!(code, 0);
    assert!(text.contains("ln-units beyond the fitted range"), "{text}");
    // With --select the chosen form's refit on all runs is calibrated.
    let v = json(&["fit", &ex, "--select", "--grid-stride", "10", "--calibrate-intervals"]);
    assert_eq!(v["selection"]["chosen"], "chinchilla");
    assert_eq!(v["calibration"]["splits"], 3, "{}", v["calibration"]);
    // Without the flag the holdout line says which interval it is.
    let (_, text, _) = isoflop(&["fit", &ex, "--grid-stride", "10", "--holdout-top", "20"]);
    assert!(text.contains(" of 20 (in-sample; --calibrate-intervals widens it"), "{text}");

    // Refusals name the option.
    let d = dir.path();
    let three = write(
        d,
        "three.csv",
        "N,D,loss\n1e8,2e9,3.1\n1e8,4e9,3.0\n4e8,8e9,2.7\n4e8,1.6e10,2.6\n1.6e9,3.2e10,2.5\n1.6e9,6.4e10,2.4\n",
    );
    refused(&["fit", &three, "--calibrate-intervals"], "--calibrate-intervals on ");
    refused(
        &["fit", &three, "--calibrate-intervals"],
        "interval calibration: 3 distinct model sizes",
    );
    refused(
        &["fit", &ex, "--calibrate-intervals", "--approach", "isoflop"],
        "--calibrate-intervals calibrates the parametric law's prediction interval: it does not apply to --approach isoflop",
    );
    refused(&["fit", &ex, "--calibrate-intervals", "--downstream"], "--calibrate-intervals");
}

#[test]
fn approaches_one_and_two() {
    let iso = json(&["fit", &example(), "--approach", "isoflop", "--bootstrap", "20"]);
    // The top budget's optimum needs more than 500 tokens/param, beyond the sweep: refused.
    let w = iso["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].as_str().unwrap().starts_with("budget 3.162e22 FLOPs (20 runs) refused"));
    let a = num(&iso, "/n_opt/exponent");
    assert!((a - 0.28 / 0.62).abs() < 0.03, "a = {a}");
    assert!(iso["n_opt"]["exponent_interval"].is_array());
    let (code, _, err) = isoflop(&["fit", &example(), "--approach", "isoflop"]);
    assert_eq!(code, 0);
    assert!(err.contains("warning: budget 3.162e22 FLOPs"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("run,N,tokens,D,loss\n");
    for i in 0..12 {
        let n = 1e7 * 10f64.powf(i as f64 / 4.0);
        for k in 1..=20 {
            let t = n * 10f64.powf(k as f64 / 8.0 - 0.5);
            let loss = 1.69 + 406.4 / n.powf(0.34) + 410.7 / t.powf(0.28);
            csv.push_str(&format!("m{i},{n},{t},{t},{loss}\n"));
        }
    }
    let path = write(dir.path(), "curves.csv", &csv);
    let env = json(&["fit", &path, "--approach", "envelope"]);
    assert!((num(&env, "/n_opt/exponent") - 0.4516).abs() < 0.08, "{}", env["n_opt"]);
}

#[test]
fn every_bad_input_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("fit.json");
    let o = out.to_str().unwrap();
    let good = "N,D,loss\n1e8,2e9,3.1\n2e8,4e9,2.9\n4e8,8e9,2.7\n8e8,1.6e10,2.6\n1.6e9,3.2e10,2.5\n3.2e9,6.4e10,2.4\n";
    let check = |name: &str, text: &str, want: &str| {
        let path = write(d, name, text);
        refused(&["fit", &path, "-o", o], want);
        assert!(!out.exists(), "{name}: a refused fit must leave no fit.json");
    };
    check("nocol.csv", "N,D,val\n1e8,2e9,3\n", "missing column `loss`");
    // One bad cell in the good file: (file, cell, what it becomes, the message with its line).
    for (name, cell, bad, want) in [
        ("text.csv", "2e8,4e9", "2e8,abc", "text.csv:3: column `D`: `abc` is not a number"),
        ("nan.csv", "2.7", "NaN", "nan.csv:4: column `loss`: loss must be finite, got NaN"),
        ("inf.csv", "4e8", "inf", "inf.csv:4: column `N`: N (parameters) must be finite"),
        ("zero.csv", "8e9", "0", "zero.csv:4: column `D`: D (tokens) must be > 0, got 0"),
        ("neg.csv", "2.5", "-2.5", "neg.csv:6: column `loss`: loss must be > 0, got -2.5"),
    ] {
        check(name, &good.replace(cell, bad), want);
    }
    let few = "N,D,loss\n1e8,2e9,3\n2e8,2e9,2.9\n";
    check("few.csv", few, "2 rows but form chinchilla has 5 free parameters");
    let jsonl = write(d, "bad.jsonl", "{\"N\":1e8,\"D\":2e9,\"loss\":3}\n{\"N\":1e8,\"loss\":3}\n");
    refused(&["fit", &jsonl], "bad.jsonl: missing column `D` at line 2");
    let path = write(d, "good.csv", good);
    refused(&["fit", &path, "--form", "chinchila"], "unknown form `chinchila`");
    refused(&["fit", &path, "--fix", "E"], "--fix `E`: expected NAME=VALUE");
    refused(&["fit", &path, "--fix", "gamma=1"], "cannot fix `gamma`");
    refused(&["fit", &path, "--irreducible"], "--irreducible applies to kaplan-n");
    refused(&["fit", &path, "--holdout-top", "6"], "leaves no rows to fit on");
    refused(&["fit", &path, "--loss-col", "L"], "missing column `L`");
    refused(&["fit", &d.join("absent.csv").to_string_lossy()], "absent.csv");
    refused(&["fit", &write(d, "data.txt", good)], "unknown extension `txt`");
    refused(
        &["fit", &path, "--approach", "isoflop"],
        "a power law needs at least two distinct compute budgets",
    );

    let notfit = write(d, "notfit.json", "{\"hello\": 1}");
    refused(
        &["predict", "--fit", &notfit, "--params", "1e9", "--tokens", "2e10"],
        "is not a fit saved by `isoflop fit -o`",
    );
    refused(
        &["plan", "--fit", &d.join("nofit.json").to_string_lossy(), "--compute", "1e21"],
        "cannot load fit",
    );
    let kn = d.join("kn.json");
    let (code, _, err) = isoflop(&["fit", &path, "--form", "kaplan-n", "-o", kn.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let kn = kn.to_str().unwrap();
    refused(&["plan", "--fit", kn, "--compute", "abc"], "--compute `abc`: not a number");
    refused(
        &["plan", "--fit", kn, "--compute=-1e21"],
        "--compute `-1e21`: must be a finite number > 0",
    );
    refused(&["plan", "--fit", kn, "--compute", "1e21"], "form kaplan-n cannot be planned");
    refused(
        &["predict", "--fit", kn, "--params", "1e9", "--tokens", "0"],
        "--tokens `0`: must be a finite number > 0",
    );
}
