//! A run's whole life through the public API, and the guarantees a sweep relies on.

use isoflop_store::test_db::TestDb;
use isoflop_store::{CurvePoint, Metrics, NewRun, RunFilter, RunStatus, Store};

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

fn curve() -> Vec<CurvePoint> {
    (1..=3)
        .map(|i| CurvePoint {
            tokens: 1000.0 * i as f64,
            step: Some(i),
            train_loss: Some(4.0 / i as f64),
            val_loss: Some(4.1 / i as f64),
        })
        .collect()
}

#[test]
fn lifecycle_and_filters() {
    for db in TestDb::each() {
        eprintln!("lifecycle_and_filters on {}", db.name());
        lifecycle_and_filters_on(&db);
    }
}

fn lifecycle_and_filters_on(db: &TestDb) {
    let mut store = Store::open(db.path()).unwrap();
    let a = store.upsert_sweep("a", &serde_json::json!({})).unwrap();
    let b = store.upsert_sweep("b", &serde_json::json!({})).unwrap();
    store.plan_runs(a.id, &[new_run("r1", 1e4), new_run("r2", 2e4), new_run("r3", 4e4)]).unwrap();
    store.plan_runs(b.id, &[new_run("r1", 1e4)]).unwrap();

    let runs = store.runs(&RunFilter { sweep: Some("a".into()), ..Default::default() }).unwrap();
    assert_eq!(runs.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["r1", "r2", "r3"]);
    let (r1, r2, r3) = (runs[0].id, runs[1].id, runs[2].id);

    // r1 is trained in two attempts: interrupted once, then finished.
    store.claim(r1, "h", "v", "ck/r1").unwrap();
    store.release(r1, "interrupted at 500 tokens", 1.5).unwrap();
    assert_eq!(store.run(r1).unwrap().status, RunStatus::Pending);
    store.claim(r1, "h", "v", "ck/r1").unwrap();
    let m = Metrics { loss: Some(1.9), wall_seconds: Some(2.0), ..Default::default() };
    store.finish(r1, &m, &curve()).unwrap();
    let done = store.run(r1).unwrap();
    assert_eq!(done.status, RunStatus::Done);
    assert_eq!(done.attempts, 2);
    assert_eq!(done.metrics.wall_seconds, Some(2.0)); // the trainer's total, not a sum
    assert_eq!(store.curve(r1).unwrap(), curve());

    // r2 diverges, r3 stays pending.
    store.claim(r2, "h", "v", "ck/r2").unwrap();
    store.release(r2, "interrupted", 1.5).unwrap();
    store.claim(r2, "h", "v", "ck/r2").unwrap();
    store.fail(r2, RunStatus::Diverged, "loss NaN at step 7", &Metrics::default(), &[]).unwrap();
    // Without a total from the trainer, the time of earlier attempts is kept.
    assert_eq!(store.run(r2).unwrap().metrics.wall_seconds, Some(1.5));
    assert_eq!(store.run(r2).unwrap().reason.as_deref(), Some("loss NaN at step 7"));

    // Final runs refuse every further change.
    for id in [r1, r2] {
        assert!(store.claim(id, "h", "v", "x").is_err());
        assert!(store.finish(id, &Metrics::default(), &[]).is_err());
        assert!(store.release(id, "x", 0.0).is_err());
    }
    // A pending run cannot be finished without being claimed.
    assert!(store.finish(r3, &Metrics::default(), &[]).is_err());

    let filter = RunFilter { sweep: None, statuses: vec![RunStatus::Pending] };
    let pending: Vec<_> = store.runs(&filter).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(pending.len(), 2); // a/r3 and b/r1
    assert!(pending.contains(&r3));
    let e = store.runs(&RunFilter { sweep: Some("zzz".into()), ..Default::default() });
    assert!(e.unwrap_err().to_string().contains("known: a, b"));

    // Replanning the sweep leaves finished runs alone.
    assert_eq!(store.plan_runs(a.id, &[new_run("r1", 1e4), new_run("r4", 8e4)]).unwrap(), 1);
    assert_eq!(store.run(r1).unwrap(), done);
}

#[test]
fn import_replaces_by_key() {
    for db in TestDb::each() {
        eprintln!("import_replaces_by_key on {}", db.name());
        import_replaces_by_key_on(&db);
    }
}

fn import_replaces_by_key_on(db: &TestDb) {
    let mut store = Store::open(db.path()).unwrap();
    let m = Metrics { loss: Some(3.0), ..Default::default() };
    let runs = vec![(new_run("x", 1e4), m.clone(), curve()), (new_run("y", 2e4), m, vec![])];
    assert_eq!(
        store.import("ext", &serde_json::json!({"file": "a.csv"}), &runs, false).unwrap(),
        2
    );
    assert_eq!(
        store.import("ext", &serde_json::json!({"file": "a.csv"}), &runs, false).unwrap(),
        2
    );
    let all = store.runs(&RunFilter::default()).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|r| r.status == RunStatus::Done && r.source == "import"));
    assert_eq!(store.curve(all[0].id).unwrap().len(), 3);
}
