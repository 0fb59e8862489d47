//! The run store from the command line: import, runs, export, and their errors.

mod common;

use common::{fails, isoflop_in, json_of, ok};

#[test]
fn import_runs_export_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Two runs given as curves (run + tokens), one as a single row.
    std::fs::write(
        dir.join("ext.csv"),
        "run,N,D,loss,tokens\n\
         a,1e6,2e7,3.0,1e7\na,1e6,2e7,2.5,2e7\n\
         b,4e6,8e7,2.9,4e7\nb,4e6,8e7,2.2,8e7\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("one.jsonl"),
        "{\"N\": 2e6, \"D\": 4e7, \"loss\": 2.4, \"run\": \"c\"}\n",
    )
    .unwrap();
    let out = ok(&isoflop_in(dir, &["import", "ext.csv", "--db", "s.db"]));
    assert_eq!(out.trim(), "imported 2 runs (4 rows) from ext.csv into sweep ext of s.db");
    ok(&isoflop_in(dir, &["import", "one.jsonl", "--db", "s.db", "--sweep", "ext"]));
    // Importing again replaces, never duplicates.
    ok(&isoflop_in(dir, &["import", "ext.csv", "--db", "s.db"]));
    let runs = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "s.db"]));
    let runs = runs["runs"].as_array().unwrap();
    let keys: Vec<&str> = runs.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let a = runs.iter().find(|r| r["key"] == "a").unwrap();
    // A curve's final row is the run's result: the last tokens, loss 2.5.
    assert_eq!(a["metrics"]["loss"].as_f64(), Some(2.5));
    assert_eq!(a["source"], "import");

    let table = ok(&isoflop_in(dir, &["runs", "--db", "s.db"]));
    assert!(
        table.ends_with("3 runs: 3 done, 0 pending, 0 running, 0 failed, 0 diverged\n"),
        "{table}"
    );

    let csv = ok(&isoflop_in(dir, &["export", "--db", "s.db"]));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "run,N,D,C,loss,sweep,budget,seed,ood_loss,bits_per_byte,tokens_per_second,wall_seconds,status"
        )
    );
    assert!(
        csv.contains("ext/a,1000000.0,20000000.0,120000000000000.0,2.5,ext,,0,,,,,done"),
        "{csv}"
    );
    let curves = ok(&isoflop_in(dir, &["export", "--db", "s.db", "--curves", "--format", "jsonl"]));
    assert_eq!(curves.lines().count(), 4);
    let first: serde_json::Value = serde_json::from_str(curves.lines().next().unwrap()).unwrap();
    assert_eq!((first["tokens"].as_f64(), first["loss"].as_f64()), (Some(1e7), Some(3.0)));
}

#[test]
fn errors_name_the_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fails(&isoflop_in(dir, &["runs", "--db", "none.db"]), "none.db does not exist");
    fails(&isoflop_in(dir, &["export", "--db", "none.db"]), "none.db does not exist");
    assert!(!dir.join("none.db").exists(), "a read-only command created a store");
    std::fs::write(dir.join("bad.csv"), "N,D,loss\n1e6,2e7,3.0\n1e6,abc,2.0\n").unwrap();
    fails(&isoflop_in(dir, &["import", "bad.csv", "--db", "s.db"]), "bad.csv");
    let out = isoflop_in(dir, &["import", "bad.csv", "--db", "s.db"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv:3: column `D`: `abc` is not a number"), "{err}");
    std::fs::write(dir.join("neg.csv"), "N,D,loss\n-1,2e7,3.0\n").unwrap();
    fails(&isoflop_in(dir, &["import", "neg.csv", "--db", "s.db"]), "neg.csv");
    fails(
        &isoflop_in(dir, &["runs", "--db", "s.db", "--status", "finished"]),
        "unknown run status",
    );
    std::fs::write(dir.join("ok.csv"), "N,D,loss\n1e6,2e7,3.0\n").unwrap();
    ok(&isoflop_in(dir, &["import", "ok.csv", "--db", "s.db"]));
    fails(&isoflop_in(dir, &["export", "--db", "s.db", "-o", "x.parquet"]), "use .csv or .jsonl");
    fails(&isoflop_in(dir, &["export", "--db", "s.db", "--sweep", "zz"]), "no sweep named \"zz\"");
    fails(&isoflop_in(dir, &["runs", "--db", "s.db", "--sweep", "zz"]), "known: ok");
}
