//! `isoflop compress` through the binary: the JSON keys scripts rely on, the packed file and
//! report beside it, and clear refusals (exit 2, nothing written) for a truncated or corrupt
//! packed file and for bad options.

use std::path::Path;
use std::process::{Command, Output};

fn isoflop(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isoflop"))
        .args(args)
        .current_dir(dir)
        .env("ISOFLOP_CACHE", dir.join("cache"))
        .output()
        .expect("runs")
}

fn ok(o: &Output) -> serde_json::Value {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    serde_json::from_slice(&o.stdout).expect("one JSON document")
}

/// A refusal: exit 2 and, since these calls pass `--json`, one JSON error document on stdout
/// (`{"error", "causes", …}`) whose text names each of `want`.
fn refused(o: &Output, want: &[&str]) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("one JSON error document on stdout ({e}); stderr: {stderr}"));
    let err = format!("{} {}", doc["error"].as_str().expect("an error message"), doc["causes"]);
    for w in want {
        assert!(err.contains(w), "wanted {w:?} in:\n{err}");
    }
}

/// Trains a 2-layer model of width 32 on a small corpus into `dir/run`.
fn trained(dir: &Path) {
    let text = dir.join("text");
    std::fs::create_dir(&text).unwrap();
    let words = ["the", "cat", "sees", "a", "ship", "on", "bright", "sea", "and", "rain", "falls"];
    for d in 0..3u64 {
        let mut s = String::new();
        let mut x: u64 = 12345 + d;
        for i in 0..12_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s.push_str(words[(x >> 33) as usize % words.len()]);
            s.push(if i % 11 == 10 { '\n' } else { ' ' });
        }
        std::fs::write(text.join(format!("doc{d}.txt")), s).unwrap();
    }
    let args = [
        "train",
        "--layers",
        "2",
        "--d-model",
        "32",
        "--context",
        "32",
        "--tokens",
        "40000",
        "--batch-tokens",
        "512",
        "--eval-points",
        "2",
        "--eval-tokens",
        "1024",
        "--final-eval-tokens",
        "4096",
        "--corpus",
        "text",
        "--ood",
        "text",
        "-o",
        "run",
        "--json",
    ];
    ok(&isoflop(dir, &args));
}

const DATA: &[&str] = &["--corpus", "text", "--ood", "text", "--eval-tokens", "4096", "--json"];

fn compress(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["compress"];
    args.extend_from_slice(extra);
    args.extend_from_slice(DATA);
    isoflop(dir, &args)
}

#[test]
fn compress_reports_the_keys_and_writes_the_packed_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    trained(dir);
    let j = ok(&compress(dir, &["--checkpoint", "run", "--method", "int8"]));
    for k in [
        "method",
        "loss_original",
        "loss",
        "loss_delta",
        "bytes_original",
        "bytes",
        "bits_per_param",
        "sparsity",
        "wall_seconds",
    ] {
        assert!(j.get(k).is_some(), "missing key {k}: {j}");
    }
    assert_eq!(j["method"], "int8");
    assert!(j["loss_delta"].as_f64().unwrap().abs() < 0.01);
    let file = dir.join("run/compressed/int8-channel/compressed.safetensors");
    assert_eq!(j["bytes"].as_u64().unwrap(), std::fs::metadata(&file).unwrap().len());
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("run/compressed/int8-channel/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["bytes"], j["bytes"]);

    // A compressed file is itself a source: int4 of the int8 model.
    let j4 = ok(&compress(
        dir,
        &["--checkpoint", file.to_str().unwrap(), "--method", "2:4", "-o", "p24"],
    ));
    assert_eq!(j4["sparsity"].as_f64().unwrap(), 0.5);
    assert!(dir.join("p24/compressed.safetensors").exists());

    // A truncated packed file: exit 2 naming it, and nothing written for the new output.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let o = compress(dir, &["--checkpoint", "cut.safetensors", "--method", "int4", "-o", "never"]);
    refused(&o, &["cut.safetensors", "truncated"]);
    assert!(!dir.join("never").exists());
    // Corrupt: a scale turned into NaN is caught by the loader's checks.
    let mut bad = bytes.clone();
    let (n, _) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let scales = st.tensor("h.0.attn.c_attn.weight.scales").unwrap();
    let at = 8 + n + (scales.data().as_ptr() as usize - bytes[8 + n..].as_ptr() as usize);
    bad[at] = 0xFF;
    bad[at + 1] = 0x7F; // fp16 NaN
    std::fs::write(dir.join("nan.safetensors"), &bad).unwrap();
    let o = compress(dir, &["--checkpoint", "nan.safetensors", "--method", "int4", "-o", "never"]);
    refused(&o, &["nan.safetensors", "h.0.attn.c_attn.weight", "scales"]);
    assert!(!dir.join("never").exists());

    // Bad options are refused before anything is written.
    refused(
        &compress(dir, &["--checkpoint", "run", "--method", "int5"]),
        &["unknown method `int5`"],
    );
    refused(
        &compress(dir, &["--checkpoint", "run", "--method", "distill", "-o", "never"]),
        &["--student"],
    );
    refused(
        &compress(
            dir,
            &["--checkpoint", "run", "--method", "wanda", "--sparsity", "1.5", "-o", "never"],
        ),
        &["sparsity 1.5"],
    );
    refused(
        &compress(
            dir,
            &["--checkpoint", "run", "--method", "int8", "--recover-tokens", "1000", "-o", "never"],
        ),
        &["recovery"],
    );
    refused(&compress(dir, &["--checkpoint", "absent", "--method", "int8"]), &["absent"]);
    assert!(!dir.join("never").exists());
}

mod common;

#[test]
fn every_run_of_a_sweep_is_compressed_with_fits_and_the_bits_front() {
    let tmp =
        common::sweep_dir("t", "kind = \"grid\"\nparams = [5e3, 2e4]\ntokens_per_param = [4]", 2);
    let dir = tmp.path();
    common::ok(&common::isoflop_in(
        dir,
        &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"],
    ));
    let args = [
        "--json",
        "compress",
        "--all",
        "--sweep",
        "t",
        "--db",
        "r.db",
        "--method",
        "int8,wanda",
        "--eval-tokens",
        "4096",
    ];
    let j = common::json_of(&common::isoflop_in(dir, &args));
    let runs = j["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r["source"].as_str().unwrap().starts_with("t/")));
    assert_eq!(j["fits"].as_array().unwrap().len(), 2);
    let front = j["pareto"].as_array().unwrap();
    assert!(!front.is_empty());
    let bits: Vec<f64> = front.iter().map(|p| p["bits"].as_f64().unwrap()).collect();
    let loss: Vec<f64> = front.iter().map(|p| p["loss"].as_f64().unwrap()).collect();
    assert!(bits.windows(2).all(|w| w[0] < w[1]) && loss.windows(2).all(|w| w[0] > w[1]));
    // One run by key, into its own directory beside its checkpoint.
    let key = runs[0]["source"].as_str().unwrap().trim_start_matches("t/").to_string();
    let one = [
        "--json",
        "compress",
        "--run",
        &key,
        "--sweep",
        "t",
        "--db",
        "r.db",
        "--method",
        "int4",
        "--eval-tokens",
        "4096",
    ];
    let r = common::json_of(&common::isoflop_in(dir, &one));
    assert_eq!(r["method"], "int4");
    let path = std::path::Path::new(r["path"].as_str().unwrap());
    assert!(dir.join(path).exists(), "{}", path.display());
    common::fails(
        &common::isoflop_in(
            dir,
            &["compress", "--run", "nope", "--db", "r.db", "--method", "int8"],
        ),
        "no such run",
    );
    common::fails(
        &common::isoflop_in(
            dir,
            &["compress", "--run", &key, "--db", "r.db", "--method", "int8,int4"],
        ),
        "one method",
    );
}

#[test]
fn a_memory_budget_picks_size_precision_and_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let fit = tmp.path().join("fit.json");
    let (code, _, err) = common::isoflop(&["fit", &common::example(), "-o", fit.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let plan = |extra: &[&str]| {
        let mut a = vec![
            "plan",
            "--fit",
            fit.to_str().unwrap(),
            "--compute",
            "1e23",
            "--memory-budget",
            "4GiB",
        ];
        a.extend_from_slice(extra);
        common::json(&a)
    };
    let budget = 4.0 * 1073741824.0;
    // Lossless compression: the most parameters win, so int4.
    let p = plan(&[]);
    let opts = p["options"].as_array().unwrap();
    assert_eq!(opts.len(), 4);
    assert_eq!(opts[0]["precision"], "int4");
    for o in opts {
        assert!(o["bytes"].as_f64().unwrap() <= budget * (1.0 + 1e-9));
        let (n, d) = (o["n"].as_f64().unwrap(), o["d"].as_f64().unwrap());
        assert!((6.0 * n * d / 1e23 - 1.0).abs() < 1e-9);
    }
    assert!(p["margin"].as_f64().unwrap() >= 0.0);
    // An int4 that costs a lot of loss loses to int8.
    let cf = common::write(
        tmp.path(),
        "cfit.json",
        r#"{"fits": [{"method": "int8", "fit": {"a": 0.001, "b": 0.1, "b_interval": null, "r2": 1.0, "points": 3}},
                     {"method": "gptq-int4", "fit": {"a": 5.0, "b": 0.05, "b_interval": null, "r2": 1.0, "points": 3}}]}"#,
    );
    let p = plan(&["--compression-fit", &cf]);
    assert_eq!(p["options"][0]["precision"], "int8");
    assert_eq!(p["options"][0]["delta_from"], "int8");
    common::refused(
        &["plan", "--fit", fit.to_str().unwrap(), "--compute", "1e23", "--memory-budget", "lots"],
        "--memory-budget `lots`",
    );
}
