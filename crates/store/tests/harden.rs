//! The store under concurrent processes and foreign files (issue 15 items 2, 3, 6, 7, 13).

use isoflop_store::test_db::TestDb;
use isoflop_store::{Error, Metrics, NewRun, RunFilter, RunStatus, SCHEMA_VERSION, Store};
use std::sync::{Arc, Barrier};

fn new_run(key: &str, n: f64) -> NewRun {
    NewRun {
        key: key.into(),
        config: serde_json::json!({"n": n}),
        params: n,
        tokens: 1e9 / (6.0 * n),
        flops: 1e9,
        budget: Some(1e9),
        seed: 0,
        engine: Some("kernels".into()),
    }
}

/// Many connections opening one new file at the same instant all succeed (before: "cannot
/// enable WAL: database is locked", "table sweeps already exists").
#[test]
fn concurrent_opens_of_a_new_store_all_succeed() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join("isoflop.db"));
        let n = 8;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open(&path).map(|s| s.schema_version().unwrap())
                })
            })
            .collect();
        for h in handles {
            let v = h.join().unwrap().unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(v, SCHEMA_VERSION);
        }
    }
}

/// Claimers with their own connections race for the same runs: each run is won exactly once,
/// and the losers are told a live process holds it.
#[test]
fn two_claimers_never_get_the_same_run() {
    for db in TestDb::each() {
        eprintln!("two_claimers_never_get_the_same_run on {}", db.name());
        two_claimers_never_get_the_same_run_on(&db);
    }
}

fn two_claimers_never_get_the_same_run_on(db: &TestDb) {
    let path = db.path().to_path_buf();
    let mut store = Store::open(&path).unwrap();
    let sweep = store.upsert_sweep("s", &serde_json::json!({})).unwrap();
    let runs: Vec<NewRun> = (0..20).map(|i| new_run(&format!("r{i}"), 1e4 + i as f64)).collect();
    store.plan_runs(sweep.id, &runs).unwrap();
    let ids: Vec<i64> = store.runs(&RunFilter::default()).unwrap().iter().map(|r| r.id).collect();
    let n = 4;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|t| {
            let (path, barrier, ids) = (path.clone(), barrier.clone(), ids.clone());
            std::thread::spawn(move || {
                let store = Store::open(&path).unwrap();
                barrier.wait();
                let mut won = vec![];
                for i in 0..ids.len() {
                    let id = ids[(i + t * 5) % ids.len()];
                    match store.claim(id, "h", "v", "ck") {
                        Ok(_) => won.push(id),
                        Err(Error::Claimed { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                won
            })
        })
        .collect();
    let mut won: Vec<i64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    won.sort();
    assert_eq!(won, ids, "every run claimed exactly once");
    let again = Store::open(&path).unwrap();
    let e = again.claim(ids[0], "h", "v", "ck").unwrap_err().to_string();
    assert!(e.contains("being trained by another process"), "{e}");
}

/// A run left `running` by a dead process (killed, say) is recovered by the next claimer.
#[test]
fn a_dead_owners_run_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("isoflop.db");
    let mut store = Store::open(&path).unwrap();
    let sweep = store.upsert_sweep("s", &serde_json::json!({})).unwrap();
    store.plan_runs(sweep.id, &[new_run("r", 1e4)]).unwrap();
    let id = store.runs(&RunFilter::default()).unwrap()[0].id;
    store.claim(id, "h", "v", "ck").unwrap();
    // The owner's pid no longer exists (pids never reach 4e9).
    let conn = rusqlite::Connection::open(&path).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    conn.execute(
        "UPDATE runs SET owner = ?1 WHERE id = ?2",
        rusqlite::params![format!("{} 4000000000 1 t", host.trim()), id],
    )
    .unwrap();
    let other = Store::open(&path).unwrap();
    assert_eq!(other.claim(id, "h", "v", "ck").unwrap().attempts, 2);
}

/// A SQLite file that is not isoflop's is refused by readers and writers, and left as it was.
#[test]
fn a_foreign_sqlite_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('hi');").unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    for e in [Store::open_existing(&path).unwrap_err(), Store::open(&path).unwrap_err()] {
        assert!(matches!(e, Error::NotAStore(_)), "{e}");
        assert!(e.to_string().contains("other.db"), "{e}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // Not a database at all, and an empty file, for a reader.
    std::fs::write(&path, b"just text, not sqlite at all, long enough to have a header").unwrap();
    assert!(matches!(Store::open_existing(&path), Err(Error::NotAStore(_))));
    assert!(matches!(Store::open(&path), Err(Error::NotAStore(_))));
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(Store::open_existing(&path), Err(Error::NotAStore(_))));
    assert_eq!(std::fs::read(&path).unwrap(), b"");
}

/// Reading a store writes nothing to it, and works where the directory cannot be written.
#[test]
fn reading_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("ro");
    let path = sub.join("isoflop.db");
    let store = Store::open(&path).unwrap();
    store.upsert_sweep("s", &serde_json::json!({})).unwrap();
    drop(store);
    let before = std::fs::read(&path).unwrap();
    let r = Store::open_existing(&path).unwrap();
    assert_eq!(r.sweeps().unwrap().len(), 1);
    assert!(r.upsert_sweep("t", &serde_json::json!({})).is_err());
    drop(r);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root writes anyway; the read-only directory case is only checked where it is one.
    if std::fs::write(sub.join("probe"), b"").is_err() {
        let r = Store::open_existing(&path).unwrap();
        assert_eq!(r.sweeps().unwrap().len(), 1);
    }
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A changed spec is refused naming what changed, unless a new version is asked for.
#[test]
fn a_changed_spec_is_refused_or_versioned() {
    for db in TestDb::each() {
        eprintln!("a_changed_spec_is_refused_or_versioned on {}", db.name());
        a_changed_spec_is_refused_or_versioned_on(&db);
    }
}

fn a_changed_spec_is_refused_or_versioned_on(db: &TestDb) {
    let mut store = Store::open(db.path()).unwrap();
    let v1 = serde_json::json!({"train": {"lr": 0.001, "threads_per_run": 1}});
    let s = store.sweep_for_spec("s", &v1, &["train.threads_per_run"], false).unwrap();
    store.plan_runs(s.id, &[new_run("r", 1e4)]).unwrap();
    // Layout-only changes are fine.
    let v1b = serde_json::json!({"train": {"lr": 0.001, "threads_per_run": 4}});
    assert_eq!(
        store.sweep_for_spec("s", &v1b, &["train.threads_per_run"], false).unwrap().id,
        s.id
    );
    let v2 = serde_json::json!({"train": {"lr": 0.002, "threads_per_run": 4}});
    let e = store.sweep_for_spec("s", &v2, &["train.threads_per_run"], false).unwrap_err();
    assert!(e.to_string().contains("train.lr: 0.001 → 0.002"), "{e}");
    assert_eq!(store.sweep("s").unwrap().spec["train"]["lr"], 0.001);
    let fresh = store.sweep_for_spec("s", &v2, &["train.threads_per_run"], true).unwrap();
    assert_ne!(fresh.id, s.id);
    assert_eq!(store.sweep("s@v1").unwrap().id, s.id);
    assert_eq!(
        store.runs(&RunFilter { sweep: Some("s@v1".into()), ..Default::default() }).unwrap().len(),
        1
    );
    assert!(
        store
            .runs(&RunFilter { sweep: Some("s".into()), ..Default::default() })
            .unwrap()
            .is_empty()
    );
}

/// Failed runs go back to pending on request; diverged and done runs stay.
#[test]
fn failed_runs_can_be_retried() {
    for db in TestDb::each() {
        eprintln!("failed_runs_can_be_retried on {}", db.name());
        failed_runs_can_be_retried_on(&db);
    }
}

fn failed_runs_can_be_retried_on(db: &TestDb) {
    let mut store = Store::open(db.path()).unwrap();
    let s = store.upsert_sweep("s", &serde_json::json!({})).unwrap();
    store.plan_runs(s.id, &[new_run("a", 1e4), new_run("b", 2e4)]).unwrap();
    let ids: Vec<i64> = store.runs(&RunFilter::default()).unwrap().iter().map(|r| r.id).collect();
    let m = Metrics::default();
    store.claim(ids[0], "h", "v", "ck").unwrap();
    store.fail(ids[0], RunStatus::Failed, "oom", &m, &[]).unwrap();
    store.claim(ids[1], "h", "v", "ck").unwrap();
    store.fail(ids[1], RunStatus::Diverged, "nan", &m, &[]).unwrap();
    assert_eq!(store.retry_failed(s.id).unwrap(), 1);
    assert_eq!(store.run(ids[0]).unwrap().status, RunStatus::Pending);
    assert_eq!(store.run(ids[1]).unwrap().status, RunStatus::Diverged);
    store.claim(ids[0], "h", "v", "ck").unwrap();
}

/// Importing over trained runs is refused with the clashing keys, and changes nothing.
#[test]
fn import_refuses_to_replace_trained_runs() {
    for db in TestDb::each() {
        eprintln!("import_refuses_to_replace_trained_runs on {}", db.name());
        import_refuses_to_replace_trained_runs_on(&db);
    }
}

fn import_refuses_to_replace_trained_runs_on(db: &TestDb) {
    let mut store = Store::open(db.path()).unwrap();
    let s = store.upsert_sweep("s", &serde_json::json!({"planned": true})).unwrap();
    store.plan_runs(s.id, &[new_run("a", 1e4), new_run("b", 2e4)]).unwrap();
    let id = store.runs(&RunFilter::default()).unwrap()[0].id;
    store.claim(id, "h", "v", "ck").unwrap();
    store.finish(id, &Metrics { loss: Some(2.0), ..Default::default() }, &[]).unwrap();
    let m = Metrics { loss: Some(9.0), ..Default::default() };
    let rows = vec![(new_run("a", 1e4), m.clone(), vec![]), (new_run("c", 3e4), m, vec![])];
    let e = store.import("s", &serde_json::json!({"file": "x"}), &rows, false).unwrap_err();
    assert!(matches!(e, Error::ImportClash { .. }), "{e}");
    assert!(
        e.to_string().contains("\"s\"") && e.to_string().contains("keys a;")
            || e.to_string().contains("keys a"),
        "{e}"
    );
    assert_eq!(store.run(id).unwrap().metrics.loss, Some(2.0));
    assert_eq!(store.runs(&RunFilter::default()).unwrap().len(), 2);
    assert_eq!(store.sweep("s").unwrap().spec, serde_json::json!({"planned": true}));
    assert_eq!(store.import("s", &serde_json::json!({"file": "x"}), &rows, true).unwrap(), 2);
    let a = store.runs(&RunFilter::default()).unwrap();
    assert!(a.iter().any(|r| r.key == "a" && r.metrics.loss == Some(9.0) && r.source == "import"));
}
