//! The run store's guards from the command line (issue 15 items 2, 6, 7, 13): reading verbs
//! never write, changed specs and imports over trained runs are refused, failed runs retried.

mod common;

use common::{fails, isoflop_in, json_of, ok, sweep_dir};
use std::path::Path;

const ONE_RUN: &str = "kind = \"grid\"\nparams = [3e4]\ntokens_per_param = [0.2]";

fn sql(db: &Path, statements: &str) {
    rusqlite::Connection::open(db).unwrap().execute_batch(statements).unwrap();
}

#[test]
fn reading_verbs_refuse_foreign_and_future_files_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sql(&dir.join("other.db"), "CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('a');");
    let before = std::fs::read(dir.join("other.db")).unwrap();
    for verb in [&["runs", "--db", "other.db"][..], &["export", "--db", "other.db"]] {
        fails(&isoflop_in(dir, verb), "other.db is not an isoflop run store");
    }
    // A writer refuses it too, rather than adding its tables.
    std::fs::write(dir.join("x.csv"), "N,D,loss\n1e6,2e7,3.0\n").unwrap();
    fails(
        &isoflop_in(dir, &["import", "x.csv", "--db", "other.db"]),
        "other.db is not an isoflop run store",
    );
    assert_eq!(std::fs::read(dir.join("other.db")).unwrap(), before);

    sql(&dir.join("new.db"), "CREATE TABLE sweeps (id INTEGER); PRAGMA user_version = 99;");
    let before = std::fs::read(dir.join("new.db")).unwrap();
    fails(&isoflop_in(dir, &["runs", "--db", "new.db"]), "schema version 99 is newer");
    assert_eq!(std::fs::read(dir.join("new.db")).unwrap(), before);
    assert!(!dir.join("new.db-wal").exists());
}

#[test]
fn a_changed_spec_is_refused_unless_a_new_version_is_asked_for() {
    let tmp = sweep_dir("edit", ONE_RUN, 2);
    let dir = tmp.path();
    ok(&isoflop_in(dir, &["sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    let text = std::fs::read_to_string(dir.join("s.toml")).unwrap();
    std::fs::write(dir.join("s.toml"), text.replace("eval_tokens = 2048", "eval_tokens = 1024"))
        .unwrap();
    fails(
        &isoflop_in(dir, &["sweep", "run", "s.toml", "--db", "r.db", "-q"]),
        "train.eval_tokens: 2048 → 1024",
    );
    let runs = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db"]));
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);
    let out = json_of(&isoflop_in(
        dir,
        &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q", "--new-version"],
    ));
    assert_eq!((out["skipped"].as_u64(), out["done"].as_u64()), (Some(0), Some(1)), "{out}");
    let runs = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db"]));
    let sweeps: Vec<&str> =
        runs["runs"].as_array().unwrap().iter().map(|r| r["sweep"].as_str().unwrap()).collect();
    assert_eq!(sweeps, ["edit@v1", "edit"]);
}

#[test]
fn import_over_trained_runs_is_refused_and_failed_runs_are_retried() {
    let tmp = sweep_dir("mix", ONE_RUN, 2);
    let dir = tmp.path();
    ok(&isoflop_in(dir, &["sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    let runs = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db"]));
    let key = runs["runs"][0]["key"].as_str().unwrap().to_string();
    std::fs::write(dir.join("x.csv"), format!("run,N,D,loss\n{key},1e6,2e7,9.0\nz,2e6,4e7,8.0\n"))
        .unwrap();
    let import = ["import", "x.csv", "--db", "r.db", "--sweep", "mix"];
    let out = isoflop_in(dir, &import);
    fails(&out, "sweep \"mix\" already has trained runs with the keys");
    fails(&out, &key);
    let after = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db"]));
    assert_eq!(after["runs"], runs["runs"], "a refused import changes nothing");
    ok(&isoflop_in(dir, &[&import[..], &["--replace-trained"]].concat()));

    // A failed run stays failed until asked, then trains again.
    let tmp = sweep_dir("again", ONE_RUN, 2);
    let dir = tmp.path();
    ok(&isoflop_in(dir, &["sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    sql(&dir.join("r.db"), "UPDATE runs SET status = 'failed', reason = 'staged';");
    let out =
        json_of(&isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!((out["skipped"].as_u64(), out["done"].as_u64()), (Some(1), Some(0)), "{out}");
    let out = json_of(&isoflop_in(
        dir,
        &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q", "--retry-failed"],
    ));
    assert_eq!((out["retried"].as_u64(), out["done"].as_u64()), (Some(1), Some(1)), "{out}");
}

/// A run that another live process holds is left to it, whatever `--runs-dir` each uses.
#[test]
fn a_run_held_by_a_live_process_is_not_trained_again() {
    let tmp = sweep_dir("held", ONE_RUN, 2);
    let dir = tmp.path();
    ok(&isoflop_in(dir, &["sweep", "run", "s.toml", "--db", "r.db", "-q", "--max-runs", "0"]));
    // Stage the claim of a live process on this host: this test's own.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let start =
        stat[stat.rfind(')').unwrap() + 1..].split_whitespace().nth(19).unwrap().to_string();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let owner = format!("{} {} {start} t", host.trim(), std::process::id());
    sql(&dir.join("r.db"), &format!("UPDATE runs SET status = 'running', owner = '{owner}';"));
    let out = json_of(&isoflop_in(
        dir,
        &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q", "--runs-dir", "elsewhere"],
    ));
    assert_eq!((out["held_elsewhere"].as_u64(), out["done"].as_u64()), (Some(1), Some(0)), "{out}");
}
