//! `isoflop train` end to end through the binary: the JSON document, the run directory,
//! resume, and clear errors (exit 2) for bad corpora and shapes.

use std::path::Path;
use std::process::{Command, Output};

fn isoflop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isoflop")).args(args).output().expect("runs")
}

/// A few hundred KB of English-like sentences with line breaks.
fn write_corpus(dir: &Path) {
    let words = ["the", "cat", "sees", "a", "ship", "on", "bright", "sea", "and", "rain", "falls"];
    for d in 0..3 {
        let mut s = String::new();
        let mut x: u64 = 12345 + d;
        for i in 0..12_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s.push_str(words[(x >> 33) as usize % words.len()]);
            s.push(if i % 11 == 10 { '\n' } else { ' ' });
        }
        std::fs::write(dir.join(format!("doc{d}.txt")), s).unwrap();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const TINY: &[&str] = &[
    "train",
    "--layers",
    "1",
    "--d-model",
    "32",
    "--context",
    "32",
    "--tokens",
    "12800",
    "--batch-tokens",
    "256",
    "--eval-points",
    "3",
    "--eval-tokens",
    "1024",
    "--final-eval-tokens",
    "4096",
];

#[test]
fn json_report_and_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("text");
    std::fs::create_dir(&corpus).unwrap();
    write_corpus(&corpus);
    let out = tmp.path().join("run");
    let cache = tmp.path().join("cache");
    let mut args = TINY.to_vec();
    let (c, o, k) = (corpus.to_str().unwrap(), out.to_str().unwrap(), cache.to_str().unwrap());
    args.extend(["--corpus", c, "--ood", c, "-o", o, "--cache-dir", k, "--json"]);
    let r = isoflop(&args);
    assert!(r.status.success(), "{}", stderr(&r));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).expect("one JSON document");
    for key in [
        "params",
        "tokens",
        "flops",
        "val_loss",
        "ood_loss",
        "bits_per_byte",
        "tokens_per_second",
        "mfu",
        "wall_seconds",
        "status",
        "curve",
        "peak_memory_bytes",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(v["status"], "done");
    assert_eq!(v["tokens"], 12800);
    // 1 layer, d 32, vocab 256, context 32: 12·32² + 13·32 + 2·32 + 2·256·32 + 32·32.
    assert_eq!(v["params"], 12 * 1024 + 13 * 32 + 64 + 2 * 256 * 32 + 32 * 32);
    let curve = v["curve"].as_array().unwrap();
    assert!(curve.len() >= 2);
    for p in curve {
        assert!(p["tokens"].is_u64() && p["train_loss"].is_f64() && p["val_loss"].is_f64());
    }
    let val = v["val_loss"].as_f64().unwrap();
    assert!(val < 5.0, "loss fell from ln 256 = 5.55: {val}");
    // The run directory: resolved config, report, checkpoint.
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model"]["d_model"], 32);
    assert_eq!(cfg["batch_tokens"], 256);
    assert!(out.join("report.json").exists() && out.join("checkpoint.safetensors").exists());

    // Resuming a finished run re-evaluates the same weights: the same final loss.
    args.push("--resume");
    let again = isoflop(&args);
    assert!(again.status.success(), "{}", stderr(&again));
    let w: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(w["val_loss"], v["val_loss"]);
    assert_eq!(w["curve"], v["curve"]);

    // The human table names the measurements.
    let human_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let human = isoflop(&human_args);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(human.status.success(), "{}", stderr(&human));
    for word in ["val loss", "bits/byte", "tokens/s", "MFU", "FLOPs", "params"] {
        assert!(text.contains(word), "no `{word}` in\n{text}");
    }
}

/// Asserts exit status 2 with every `needle` in stderr.
fn fails_with(args: &[&str], needles: &[&str]) {
    let r = isoflop(args);
    let err = stderr(&r);
    assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in {err}");
    }
    assert!(r.stdout.is_empty(), "nothing on stdout for an error");
}

#[test]
fn bad_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    std::fs::create_dir(&good).unwrap();
    write_corpus(&good);
    let g = good.to_str().unwrap();
    let cache = tmp.path().join("cache");
    let k = cache.to_str().unwrap();
    let base = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = TINY.iter().map(|s| s.to_string()).collect();
        v.extend(["--cache-dir".into(), k.into()]);
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |v: Vec<String>, needles: &[&str]| {
        fails_with(&v.iter().map(String::as_str).collect::<Vec<_>>(), needles)
    };

    // Shapes.
    let mut v = base(&["--heads", "3"]);
    v.extend(["--corpus".into(), g.into()]);
    run(v, &["n_head = 3 does not divide d_model = 32"]);
    let mut v = base(&[]);
    v.extend(["--corpus".into(), g.into()]);
    let i = v.iter().position(|s| s == "--tokens").unwrap();
    v[i + 1] = "0".into();
    run(v, &["token budget is zero"]);
    fails_with(
        &["train", "--tokens", "1e5", "--corpus", g],
        &["--params N, or --layers and --d-model"],
    );

    // Corpora: missing, empty, binary.
    let missing = tmp.path().join("missing");
    let mut v = base(&[]);
    v.extend(["--corpus".into(), missing.to_str().unwrap().into()]);
    run(v, &["missing", "cannot read"]);
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mut v = base(&[]);
    v.extend(["--corpus".into(), empty.to_str().unwrap().into()]);
    run(v, &["empty", "no files"]);
    let binary = tmp.path().join("model.bin");
    std::fs::write(&binary, [0x7f, b'E', b'L', b'F', 0, 0, 1, 2]).unwrap();
    let mut v = base(&[]);
    v.extend(["--corpus".into(), binary.to_str().unwrap().into()]);
    run(v, &["model.bin", "binary"]);

    // Devices and resume.
    let mut v = base(&["--device", "cuda"]);
    v.extend(["--corpus".into(), g.into()]);
    if !cfg!(feature = "cuda") {
        run(v, &["--device", "cuda` feature"]);
    }
    let mut v = base(&["--device", "tpu"]);
    v.extend(["--corpus".into(), g.into()]);
    run(v, &["unknown device `tpu`"]);
    let nowhere = tmp.path().join("fresh");
    let mut v = base(&["--resume"]);
    v.extend(["--corpus".into(), g.into(), "-o".into(), nowhere.to_str().unwrap().into()]);
    run(v, &["--resume", "no checkpoint"]);
}

#[test]
fn a_config_file_sits_between_defaults_and_flags() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("text")).unwrap();
    write_corpus(&tmp.path().join("text"));
    // Paths in the file are relative to it; counts take the flags' spellings.
    let file = "layers = 1\nd_model = 32\ncontext = 32\ntokens = \"12.8k\"\nbatch_tokens = 256\n\
                lr = 4e-3\nseed = 5\neval_points = 3\neval_tokens = 1024\n\
                final_eval_tokens = 4096\ncorpus = \"text\"\ncache_dir = \"cache\"\nout = \"run\"\n";
    let path = tmp.path().join("small.toml");
    std::fs::write(&path, file).unwrap();
    let r = isoflop(&["train", "--config", path.to_str().unwrap(), "--seed", "6", "--json"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("run/config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["tokens"], 12800);
    assert_eq!(cfg["batch_tokens"], 256);
    assert_eq!(cfg["model"]["context"], 32);
    assert!((cfg["adamw"]["lr"].as_f64().unwrap() - 4e-3).abs() < 1e-9, "{cfg}");
    // The flag beat the file.
    assert_eq!(cfg["seed"], 6);
    // A misspelt key stops before anything is trained, naming the file and the key.
    std::fs::write(&path, format!("{file}eval_point = 4\n")).unwrap();
    fails_with(
        &["train", "--config", path.to_str().unwrap()],
        &["small.toml", "line 14", "unknown field `eval_point`"],
    );
}
