//! `isoflop bench train` through the binary: the JSON report on a tiny batch (the timing itself
//! is not checked: this is a benchmark, not a timed test) and clear errors for bad flags.

use std::process::{Command, Output};

fn isoflop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isoflop")).args(args).output().expect("runs")
}

fn json_of(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("one JSON document on stdout")
}

const TINY: &[&str] =
    &["bench", "train", "--batch", "1", "--seq", "8", "--steps", "2", "--warmup", "0"];

#[test]
fn json_report_for_both_engines() {
    for engine in ["kernels", "candle"] {
        let mut args = TINY.to_vec();
        args.extend(["--engine", engine, "--threads", "1", "--peak-gflops", "100", "--json"]);
        let v = json_of(&isoflop(&args));
        assert_eq!(v["engine"], engine);
        assert_eq!(v["shape"], "S");
        assert_eq!(v["params"], 875_264);
        assert_eq!(v["seq"], 8);
        assert_eq!(v["per_run"].as_array().unwrap().len(), 1);
        let tps = v["tokens_per_s"].as_f64().unwrap();
        assert!(tps > 0.0);
        // PaLM appendix B at s = 8: 3·(2·826,112 + 4·4·128·8) = 5,005,824 FLOPs per token.
        assert_eq!(v["flops_per_token"].as_f64().unwrap(), 5_005_824.0);
        let gflops = v["gflops_per_s"].as_f64().unwrap();
        assert!((gflops - tps * 5_005_824.0 / 1e9).abs() < 1e-6 * gflops);
        assert!((v["mfu"].as_f64().unwrap() - gflops / 100.0).abs() < 1e-9);
        assert_eq!(v["peak_source"], "--peak-gflops");
        let first = v["per_run"][0]["loss_first"].as_f64().unwrap();
        assert!((first - 256f64.ln()).abs() < 0.3, "initial loss {first} should be near ln 256");
    }
}

#[test]
fn side_by_side_runs_and_measured_peak() {
    let mut args = TINY.to_vec();
    args.extend(["--shape", "m", "--runs", "2", "--threads", "1", "--json"]);
    let v = json_of(&isoflop(&args));
    assert_eq!(v["shape"], "M");
    assert_eq!(v["runs"], 2);
    let runs = v["per_run"].as_array().unwrap();
    let sum: f64 = runs.iter().map(|r| r["tokens_per_s"].as_f64().unwrap()).sum();
    assert!((v["tokens_per_s"].as_f64().unwrap() - sum).abs() < 1e-6 * sum);
    assert!(v["peak_gflops_before"].as_f64().unwrap() > 0.1);
    assert!(v["peak_gflops_after"].as_f64().unwrap() > 0.1);
}

#[test]
fn human_table_by_default() {
    let mut args = TINY.to_vec();
    args.extend(["--peak-gflops", "50"]);
    let o = isoflop(&args);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for want in ["engine kernels, shape S", "tokens/s", "GFLOP/s", "MFU", "recommended"] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    for (extra, want) in [
        (&["--shape", "XL"][..], "--shape XL"),
        (&["--engine", "burn"][..], "'burn' for '--engine"),
        (&["--seq", "129"][..], "--seq 129"),
        (&["--threads", "0"][..], "--threads"),
    ] {
        // Refused before any step is run.
        let mut args = vec!["bench", "train", "--steps", "1"];
        args.extend(extra);
        let o = isoflop(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{extra:?}: stderr {err}");
        assert!(o.stdout.is_empty(), "nothing on stdout for an error");
    }
}
