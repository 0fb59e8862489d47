//! What the binary's tests share: running `isoflop` and reading what it printed, and the
//! inputs several tests write (the shipped example, a small corpus, a sweep spec of tiny runs).
//!
//! Two ways to run it: [`isoflop`] in the package's directory, for commands given absolute
//! paths, and [`isoflop_in`] in a test's own temporary directory, for commands that write
//! (a run store, runs, a report) beside their inputs.

// Each test binary compiles this module again (`mod common;`) and uses only part of it.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

/// `isoflop <args>` in the package's directory: (exit code, stdout, stderr).
pub fn isoflop(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_isoflop")).args(args).output().expect("run isoflop");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `isoflop <args> --json`, parsed; panics with stderr on failure.
pub fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, stdout, stderr) = isoflop(&all);
    assert_eq!(code, 0, "isoflop {all:?} failed: {stderr}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {stdout}"))
}

/// `isoflop <args>` must exit 2 with `want` on stderr and nothing on stdout.
pub fn refused(args: &[&str], want: &str) {
    let (code, stdout, stderr) = isoflop(args);
    assert_eq!(code, 2, "isoflop {args:?} should exit 2; stderr: {stderr}");
    assert!(stdout.is_empty(), "nothing on stdout when refused: {stdout}");
    assert!(stderr.contains(want), "isoflop {args:?}: expected `{want}` in: {stderr}");
}

/// The command `isoflop <args>` run in `dir`, with its corpus cache there too
/// (`ISOFLOP_CACHE`), so a test neither reads nor fills the user's cache.
pub fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_isoflop"));
    c.args(args).current_dir(dir).env("ISOFLOP_CACHE", dir.join("cache"));
    c
}

/// `isoflop <args>` run in `dir` (see [`cmd`]), to completion.
pub fn isoflop_in(dir: &Path, args: &[&str]) -> Output {
    cmd(dir, args).output().expect("isoflop runs")
}

/// The stdout of a run that must have succeeded; panics with both streams otherwise.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one JSON document a successful run printed.
pub fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("one JSON document")
}

/// A run that must have been refused: exit 2 with `want` on stderr.
pub fn fails(out: &Output, want: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(want), "wanted {want:?} in:\n{err}");
}

/// The number at `pointer` in `v`; panics naming the pointer and the document.
pub fn num(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {v}"))
}

/// The shipped example: Hoffmann et al. 2022's law (E = 1.69, A = 406.4, B = 410.7,
/// α = 0.34, β = 0.28) at 240 points with 1% noise.
pub fn example() -> String {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/chinchilla_synthetic.csv");
    p.to_str().unwrap().to_string()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// About 120 KB of English-like text from a fixed word list and a fixed LCG: enough
/// structure for tiny models to learn, made here so the tests need no registry.
pub fn corpus(path: &Path) {
    const WORDS: [&str; 24] = [
        "the", "model", "learns", "a", "law", "of", "scale", "and", "compute", "tokens", "grow",
        "with", "data", "loss", "falls", "as", "size", "rises", "we", "fit", "curves", "to",
        "every", "budget",
    ];
    let mut s = 7u64;
    let mut text = String::new();
    while text.len() < 120_000 {
        let len = 4 + (s >> 60) as usize;
        for i in 0..len {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let w = WORDS[((s >> 33) % WORDS.len() as u64) as usize];
            text += if i == 0 { "" } else { " " };
            text += w;
        }
        text += ".\n";
    }
    std::fs::write(path, text).unwrap();
}

/// A spec of tiny runs on the [`corpus`] (as `corpus.txt` beside the spec), trained by the
/// reference engine and evaluated `eval_points` times each.
pub fn spec(path: &Path, name: &str, design: &str, eval_points: usize) {
    std::fs::write(
        path,
        format!(
            "name = \"{name}\"\n[corpus]\nsource = \"corpus.txt\"\n[design]\n{design}\n\
             [train]\nengine = \"candle\"\ncontext = 32\neval_points = {eval_points}\n\
             eval_tokens = 2048\nfinal_eval_tokens = 4096\n"
        ),
    )
    .unwrap();
}

/// A fresh temporary directory holding the [`corpus`] (`corpus.txt`) and a [`spec`] of tiny
/// runs on it (`s.toml`).
pub fn sweep_dir(name: &str, design: &str, eval_points: usize) -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    corpus(&tmp.path().join("corpus.txt"));
    spec(&tmp.path().join("s.toml"), name, design, eval_points);
    tmp
}
