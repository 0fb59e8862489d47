//! `isoflop sweep plan|run`, `runs` and `export` on tiny real runs: planning, training into
//! the store, skipping finished runs on a rerun, slicing with --max-runs, and an export that
//! `isoflop fit` reads.

use std::path::Path;
use std::process::{Command, Output};

fn isoflop(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isoflop"))
        .args(args)
        .current_dir(dir)
        .env("ISOFLOP_CACHE", dir.join("cache"))
        .output()
        .expect("isoflop runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).expect("one JSON document")
}

/// About 120 KB of English-like text from a fixed word list and a fixed LCG: enough
/// structure for tiny models to learn, made here so the test needs no registry.
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

/// A spec of tiny runs on the test corpus, trained by the reference engine.
pub fn spec(path: &Path, name: &str, design: &str) {
    std::fs::write(
        path,
        format!(
            "name = \"{name}\"\n[corpus]\nsource = \"corpus.txt\"\n[design]\n{design}\n\
             [train]\nengine = \"candle\"\ncontext = 32\neval_points = 3\neval_tokens = 2048\n\
             final_eval_tokens = 4096\n"
        ),
    )
    .unwrap();
}

#[test]
fn plan_lists_runs_with_their_compute() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    spec(&dir.join("s.toml"), "p", "kind = \"isoflop\"\nbudgets = [1e10, 3e10]\nsizes = 3");
    let plan = json(&isoflop(dir, &["sweep", "plan", "s.toml", "--no-calibrate", "--json"]));
    let runs = plan["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for r in runs {
        let (n, d, c) = (
            r["params"].as_f64().unwrap(),
            r["tokens"].as_f64().unwrap(),
            r["flops"].as_f64().unwrap(),
        );
        assert!((6.0 * n * d / c - 1.0).abs() < 1e-12);
        let budget = r["budget"].as_f64().unwrap();
        assert!((c / budget - 1.0).abs() < 1e-3, "C = {c} strays from its budget {budget}");
    }
    // Largest compute first.
    assert!(runs.windows(2).all(|w| w[0]["flops_palm"].as_f64() >= w[1]["flops_palm"].as_f64()));
    // With calibration, every run gets a measured speed and the sweep a wall-time estimate.
    let plan = json(&isoflop(dir, &["sweep", "plan", "s.toml", "--json"]));
    assert!(plan["estimated_wall_seconds"].as_f64().unwrap() > 0.0);
    assert!(plan["runs"][0]["tokens_per_second"].as_f64().unwrap() > 0.0);
    let human = ok(&isoflop(dir, &["sweep", "plan", "s.toml", "--no-calibrate"]));
    assert!(human.contains("6 runs · C = 6ND total 1.2e11 FLOPs"), "{human}");
}

#[test]
fn bad_specs_name_the_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (design, want) in [
        ("kind = \"isoflop\"\nbudgets = [1e10, -3]", "design.budgets[1] = -3"),
        ("kind = \"isoflop\"\nbudgets = [1e10]\nsizes = 2", "at least 3 sizes"),
        ("kind = \"isoflop\"\nbudgetz = [1e10]", "unknown field `budgetz`"),
        ("kind = \"spiral\"", "unknown variant `spiral`"),
    ] {
        spec(&dir.join("bad.toml"), "b", design);
        let out = isoflop(dir, &["sweep", "plan", "bad.toml"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("bad.toml: invalid sweep spec") && err.contains(want), "{err}");
    }
    let out = isoflop(dir, &["sweep", "run", "nope.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read sweep spec nope.toml"));
}

#[test]
fn run_trains_stores_resumes_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    corpus(&dir.join("corpus.txt"));
    spec(
        &dir.join("s.toml"),
        "tiny",
        "kind = \"grid\"\nparams = [3e4, 1.4e5]\ntokens_per_param = [0.3, 0.6, 1]",
    );

    // A first slice of two runs, then the rest: the second invocation skips nothing twice.
    let first = json(&isoflop(
        dir,
        &["--json", "sweep", "run", "s.toml", "--db", "r.db", "--max-runs", "2", "-q"],
    ));
    assert_eq!((first["planned"].as_u64(), first["done"].as_u64()), (Some(6), Some(2)));
    let second = json(&isoflop(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!((second["skipped"].as_u64(), second["done"].as_u64()), (Some(2), Some(4)));
    let third = json(&isoflop(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!((third["skipped"].as_u64(), third["done"].as_u64()), (Some(6), Some(0)));

    let runs = json(&isoflop(dir, &["--json", "runs", "--db", "r.db", "--sweep", "tiny"]));
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for r in runs {
        assert_eq!(r["status"], "done", "{r}");
        assert_eq!(r["attempts"], 1, "a finished run was trained twice: {r}");
        let loss = r["metrics"]["loss"].as_f64().unwrap();
        // Byte-level: a model that learned nothing scores ln 256 ≈ 5.55 nats.
        assert!(loss > 0.5 && loss < 5.0, "{loss}");
        assert!(r["checkpoint"].as_str().unwrap().contains("isoflop-runs/tiny/"));
        assert!(r["config"]["model"]["n_layer"].as_u64().is_some());
    }
    assert!(
        dir.join("isoflop-runs/tiny")
            .join(runs[0]["key"].as_str().unwrap())
            .join("report.json")
            .exists()
    );
    let filtered =
        json(&isoflop(dir, &["--json", "runs", "--db", "r.db", "--status", "pending,failed"]));
    assert_eq!(filtered["runs"].as_array().unwrap().len(), 0);

    // Export in both formats; `isoflop fit` reads the CSV.
    ok(&isoflop(dir, &["export", "--db", "r.db", "-o", "obs.csv"]));
    ok(&isoflop(dir, &["export", "--db", "r.db", "-o", "obs.jsonl"]));
    ok(&isoflop(dir, &["export", "--db", "r.db", "--curves", "-o", "curves.csv"]));
    let csv = std::fs::read_to_string(dir.join("obs.csv")).unwrap();
    assert!(csv.starts_with("run,N,D,C,loss,"), "{csv}");
    assert_eq!(csv.lines().count(), 7);
    let jsonl = std::fs::read_to_string(dir.join("obs.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 6);
    let curves = std::fs::read_to_string(dir.join("curves.csv")).unwrap();
    assert!(curves.lines().count() > 6 * 2, "{curves}");
    let fit = json(&isoflop(dir, &["--json", "fit", "obs.csv"]));
    assert_eq!(fit["n_rows"].as_u64(), Some(6), "{fit}");
    // And back in through import, into a second sweep.
    ok(&isoflop(dir, &["import", "obs.jsonl", "--db", "r.db", "--sweep", "again"]));
    let again = json(&isoflop(dir, &["--json", "runs", "--db", "r.db", "--sweep", "again"]));
    assert_eq!(again["runs"].as_array().unwrap().len(), 6);

    // `isoflop fit` reads the sweep straight from the store.
    let fit = json(&isoflop(dir, &["--json", "fit", "--db", "r.db", "--sweep", "tiny"]));
    assert_eq!(fit["n_rows"].as_u64(), Some(6), "{fit}");
    assert_eq!(fit["input"], "r.db#tiny");
}

#[test]
fn a_diverged_run_is_stored_with_its_reason_and_never_fitted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    corpus(&dir.join("corpus.txt"));
    // A learning rate of 1000 blows any model up within a few steps.
    spec(&dir.join("s.toml"), "boom", "kind = \"grid\"\nparams = [3e4]\ntokens_per_param = [0.2]");
    let mut text = std::fs::read_to_string(dir.join("s.toml")).unwrap();
    text += "lr = 1000.0\n";
    std::fs::write(dir.join("s.toml"), text).unwrap();
    let out = json(&isoflop(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!(out["diverged"].as_u64(), Some(1), "{out}");
    let runs = json(&isoflop(dir, &["--json", "runs", "--db", "r.db", "--status", "diverged"]));
    let run = &runs["runs"][0];
    assert!(run["reason"].as_str().unwrap().contains("step"), "{run}");
    assert!(run["metrics"]["loss"].is_null(), "a diverged run reported a loss: {run}");
    // A rerun does not train it again.
    let again = json(&isoflop(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!(again["skipped"].as_u64(), Some(1));
    // Fitting and exporting leave it out, saying so by name.
    let out = isoflop(dir, &["fit", "--db", "r.db", "--sweep", "boom"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("left out 1 failed or diverged run(s): boom/l1d32-r0.2-s0 (diverged:"),
        "{err}"
    );
    assert!(err.contains("sweep boom has no finished runs"), "{err}");
}
