//! Each run computes on its own threads: a sweep mixing shapes gives every run the count its
//! layout planned (its report says so), runs side by side never hold more compute threads than
//! the cores given, and counts the machine cannot run are refused before anything starts.

mod common;

use common::{cmd, corpus, isoflop_in, json_of};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// One budget, three sizes from 3e4 to 4e6 parameters at context 32: on 2 cores the two
/// small ones (under 20 MFLOP/token) train on 1 thread each, side by side, the large one on 2.
const MIXED: &str = "name = \"mix\"\n[corpus]\nsource = \"corpus.txt\"\n[design]\n\
    kind = \"isoflop\"\nbudgets = [1e10]\nsizes = 3\ntokens_per_param = 0.014\nspan = 140\n\
    [train]\nengine = \"kernels\"\ncontext = 32\neval_points = 2\neval_tokens = 1024\n\
    final_eval_tokens = 1024\n";

/// (threads named `isoflop-kernels…`, all threads) of process `pid` now; None once it is gone.
fn threads_of(pid: u32) -> Option<(usize, usize)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let (mut compute, mut all) = (0, 0);
    for t in tasks.flatten() {
        all += 1;
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        compute += usize::from(comm.starts_with("isoflop-kernels"));
    }
    Some((compute, all))
}

#[test]
fn a_mixed_sweep_gives_each_run_its_planned_threads_and_no_more() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2
        || !Path::new("/proc").exists()
    {
        eprintln!("skipped: needs 2 logical CPUs and /proc");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    corpus(&dir.join("corpus.txt"));
    std::fs::write(dir.join("s.toml"), MIXED).unwrap();

    let plan = json_of(&isoflop_in(
        dir,
        &["--json", "sweep", "plan", "s.toml", "--no-calibrate", "--cores", "2"],
    ));
    let planned: Vec<(String, u64)> = plan["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r["threads"].as_u64().unwrap()))
        .collect();
    let mut counts: Vec<u64> = planned.iter().map(|p| p.1).collect();
    counts.sort();
    assert_eq!(counts, [1, 1, 2], "the spec must mix shapes: {planned:?}");

    let mut child = cmd(dir, &["sweep", "run", "s.toml", "--db", "r.db", "--cores", "2", "-q"])
        .spawn()
        .unwrap();
    let (mut compute, mut all) = (0, 0);
    while child.try_wait().unwrap().is_none() {
        if let Some((c, a)) = threads_of(child.id()) {
            (compute, all) = (compute.max(c), all.max(a));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(child.wait().unwrap().success());
    // Two 1-thread runs side by side, or the 2-thread run alone: 2 compute threads at most.
    assert_eq!(compute, 2, "compute threads seen at once");
    // Besides them: the main thread, a worker per run side by side, the Ctrl-C handler and a
    // few more that compute nothing.
    assert!(all <= 2 + 6, "{all} threads at once");

    for (key, threads) in planned {
        let path = dir.join("isoflop-runs/mix").join(&key).join("report.json");
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(report["threads"].as_u64(), Some(threads), "{key}: report.threads");
        assert_eq!(report["config"]["threads"].as_u64(), Some(threads), "{key}: config.threads");
        // The store keeps the configuration the trainer resolved for the run, not a summary.
        let db = rusqlite::Connection::open(dir.join("r.db")).unwrap();
        let stored: String =
            db.query_row("SELECT config FROM runs WHERE key = ?1", [&key], |r| r.get(0)).unwrap();
        let stored: Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(stored["train"], report["config"], "{key}: the stored config");
        assert_eq!(stored["kind"], "pretrain");
    }
}

#[test]
fn thread_counts_beyond_the_machine_are_refused_naming_the_key_or_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    corpus(&dir.join("corpus.txt"));
    let cpus = std::thread::available_parallelism().unwrap().get();
    let spec = MIXED.replace("[train]\n", "[train]\nthreads_per_run = 100000\n");
    std::fs::write(dir.join("big.toml"), spec).unwrap();
    std::fs::write(dir.join("s.toml"), MIXED).unwrap();
    let limit = format!("this machine's {cpus} logical CPUs");
    for (args, want) in [
        (&["sweep", "plan", "big.toml", "--no-calibrate"][..], "train.threads_per_run = 100000"),
        (&["sweep", "run", "big.toml", "--db", "r.db"], "train.threads_per_run = 100000"),
        (
            &["sweep", "run", "s.toml", "--db", "r.db", "--threads-per-run", "100000"],
            "--threads-per-run = 100000",
        ),
        (&["sweep", "run", "s.toml", "--db", "r.db", "--cores", "100000"], "--cores = 100000"),
    ] {
        let out = isoflop_in(dir, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want) && err.contains(&limit), "{args:?}: wanted {want:?} in {err}");
    }
    // Nothing was trained or stored.
    assert!(!dir.join("r.db").exists() && !dir.join("isoflop-runs").exists());
}
