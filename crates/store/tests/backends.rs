//! What the two backends must agree on, and what only a shared (PostgreSQL) store is for:
//! many claimers on many connections, stale trainers, and moving sweeps between stores.

use isoflop_store::test_db::TestDb;
use isoflop_store::{Backend, CurvePoint, Error, Metrics, NewRun, RunFilter, RunStatus, Store};
use std::sync::{Arc, Barrier};

fn new_run(key: &str, n: f64) -> NewRun {
    NewRun {
        key: key.into(),
        config: serde_json::json!({"n": n}),
        params: n,
        tokens: 1e9 / (6.0 * n),
        flops: 1e9,
        budget: Some(1e9),
        seed: 3,
        engine: Some("kernels".into()),
    }
}

fn curve(scale: f64) -> Vec<CurvePoint> {
    (1..=4)
        .map(|i| CurvePoint {
            tokens: 500.0 * i as f64,
            step: Some(i),
            train_loss: Some(scale / i as f64),
            val_loss: Some(scale * 1.01 / i as f64),
        })
        .collect()
}

/// 8 claimers, each with its own connection, drain a 40-run sweep: every run is trained
/// exactly once and none is lost.
#[test]
fn eight_claimers_drain_forty_runs_once_each() {
    for db in TestDb::each() {
        let mut store = Store::open(db.path()).unwrap();
        let s = store.upsert_sweep("s", &serde_json::json!({})).unwrap();
        let runs: Vec<NewRun> =
            (0..40).map(|i| new_run(&format!("r{i}"), 1e4 + i as f64)).collect();
        store.plan_runs(s.id, &runs).unwrap();
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (path, barrier) = (db.path().to_path_buf(), barrier.clone());
                std::thread::spawn(move || {
                    let mut store = Store::open(&path).unwrap();
                    barrier.wait();
                    let mut trained = vec![];
                    loop {
                        let pending = store
                            .runs(&RunFilter { sweep: None, statuses: vec![RunStatus::Pending] })
                            .unwrap();
                        if pending.is_empty() {
                            break trained;
                        }
                        for r in pending {
                            match store.claim(r.id, "h", "v", "ck") {
                                Ok(_) => {
                                    let m = Metrics {
                                        loss: Some(r.params / 1e4),
                                        ..Default::default()
                                    };
                                    store.finish(r.id, &m, &curve(r.params / 1e4)).unwrap();
                                    trained.push(r.id);
                                }
                                Err(Error::Claimed { .. } | Error::BadTransition { .. }) => {}
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                })
            })
            .collect();
        let mut trained: Vec<i64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        trained.sort();
        let all = store.runs(&RunFilter::default()).unwrap();
        let ids: Vec<i64> = all.iter().map(|r| r.id).collect();
        assert_eq!(trained, ids, "{}: each run trained exactly once", db.name());
        assert!(
            all.iter().all(|r| r.status == RunStatus::Done && r.attempts == 1),
            "{}",
            db.name()
        );
    }
}

/// A claim's heartbeat keeps a run fresh; a silent one is flagged and reset to pending with its
/// checkpoint; a heartbeat from a replaced owner is refused.
#[test]
fn stale_runs_are_flagged_and_reset() {
    for db in TestDb::each() {
        let mut store = Store::open(db.path()).unwrap();
        let s = store.upsert_sweep("s", &serde_json::json!({})).unwrap();
        store.plan_runs(s.id, &[new_run("a", 1e4), new_run("b", 2e4)]).unwrap();
        let ids: Vec<i64> =
            store.runs(&RunFilter::default()).unwrap().iter().map(|r| r.id).collect();
        let a = store.claim_as(ids[0], "h", "v", "ck/a", Some("77_0")).unwrap();
        assert_eq!(a.job.as_deref(), Some("77_0"));
        store.claim(ids[1], "h", "v", "ck/b").unwrap();
        assert!(store.heartbeat(ids[0], store.owner()).unwrap());
        // Fresh heartbeats, live owner (this process): nothing is stale.
        assert!(store.stale_runs(s.id, 60.0).unwrap().is_empty(), "{}", db.name());
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(store.heartbeat(ids[1], store.owner()).unwrap());
        // Run a has been silent for over a second.
        let stale = store.stale_runs(s.id, 1.0).unwrap();
        assert_eq!(
            stale.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["a"],
            "{}",
            db.name()
        );
        let reset = store.reset_stale(s.id, 1.0).unwrap();
        assert_eq!(reset.len(), 1);
        let a = store.run(ids[0]).unwrap();
        assert_eq!(a.status, RunStatus::Pending);
        assert_eq!(a.checkpoint.as_deref(), Some("ck/a"));
        assert!(a.reason.unwrap().contains("stale heartbeat"));
        // The old trainer's heartbeat no longer lands.
        assert!(!store.heartbeat(ids[0], store.owner()).unwrap());
        assert_eq!(store.claim(ids[0], "h", "v", "ck/a").unwrap().attempts, 2);
    }
}

/// A sweep copied SQLite → PostgreSQL → SQLite arrives whole; copying again changes nothing;
/// results finished on one side replace the unfinished runs on the other.
#[test]
fn copy_moves_sweeps_between_backends() {
    let Some(pg) = TestDb::postgres() else { return };
    let (a, b) = (TestDb::sqlite(), TestDb::sqlite());
    let mut local = Store::open(a.path()).unwrap();
    let s = local.upsert_sweep("s", &serde_json::json!({"budgets": [1e9]})).unwrap();
    local.plan_runs(s.id, &[new_run("x", 1e4), new_run("y", 2e4), new_run("z", 3e4)]).unwrap();
    let ids: Vec<i64> = local.runs(&RunFilter::default()).unwrap().iter().map(|r| r.id).collect();
    local.claim(ids[0], "h", "v", "ck/x").unwrap();
    let m = Metrics { loss: Some(2.5), wall_seconds: Some(3.0), ..Default::default() };
    local.finish(ids[0], &m, &curve(3.0)).unwrap();
    local.claim(ids[1], "h", "v", "ck/y").unwrap(); // running: arrives pending

    let mut server = Store::open(pg.path()).unwrap();
    assert_eq!(server.backend(), Backend::Postgres);
    let c = server.copy_from(&local, &[]).unwrap();
    assert_eq!((c.added, c.replaced, c.kept), (3, 0, 0));
    let again = server.copy_from(&local, &[]).unwrap();
    assert_eq!((again.added, again.replaced, again.kept), (0, 0, 3));
    let on_server = server.runs(&RunFilter::default()).unwrap();
    let x = on_server.iter().find(|r| r.key == "x").unwrap();
    let local_x = local.run(ids[0]).unwrap();
    assert_eq!((x.status, x.metrics.clone(), x.attempts), (RunStatus::Done, local_x.metrics, 1));
    assert_eq!(server.curve(x.id).unwrap(), curve(3.0));
    assert_eq!(on_server.iter().find(|r| r.key == "y").unwrap().status, RunStatus::Pending);

    // The cluster finishes z; home gets it, and nothing else changes at home.
    let z = on_server.iter().find(|r| r.key == "z").unwrap().id;
    server.claim(z, "node1", "v", "ck/z").unwrap();
    server.finish(z, &Metrics { loss: Some(2.1), ..Default::default() }, &curve(2.0)).unwrap();
    let mut home = Store::open(b.path()).unwrap();
    home.copy_from(&local, &[]).unwrap();
    let back = home.copy_from(&server, &["s".to_string()]).unwrap();
    assert_eq!((back.added, back.replaced, back.kept), (0, 1, 2));
    let zh = home.runs(&RunFilter::default()).unwrap().into_iter().find(|r| r.key == "z").unwrap();
    assert_eq!(
        (zh.status, zh.metrics.loss, zh.host.as_deref()),
        (RunStatus::Done, Some(2.1), Some("node1"))
    );
    assert_eq!(home.curve(zh.id).unwrap(), curve(2.0));

    // A destination sweep of another design is refused, and left as it was.
    let mut other = Store::open(TestDb::sqlite().path()).unwrap();
    let o = other.upsert_sweep("s", &serde_json::json!({"budgets": [5e9]})).unwrap();
    other.plan_runs(o.id, &[new_run("q", 1e4)]).unwrap();
    let e = other.copy_from(&server, &[]).unwrap_err();
    assert!(matches!(e, Error::SpecChanged { .. }), "{e}");
    assert_eq!(other.runs(&RunFilter::default()).unwrap().len(), 1);
}

/// Many connections opening one new PostgreSQL database at once all succeed (the migration
/// runs once, under an advisory lock); a database holding other tables is refused untouched;
/// a database without a store is missing to readers.
#[test]
fn postgres_opens_migrate_once_and_refuse_foreign_databases() {
    let Some(pg) = TestDb::postgres() else { return };
    let e = Store::open_existing(pg.path()).unwrap_err();
    assert!(matches!(e, Error::Missing(_)), "{e}");
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (path, barrier) = (pg.path().to_path_buf(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                Store::open(&path).map(|s| s.schema_version().unwrap())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), isoflop_store::SCHEMA_VERSION);
    }
    let foreign = TestDb::postgres().unwrap();
    let mut c =
        postgres::Client::connect(&foreign.path().to_string_lossy(), postgres::NoTls).unwrap();
    c.batch_execute("CREATE TABLE notes (x TEXT)").unwrap();
    for e in [
        Store::open(foreign.path()).unwrap_err(),
        Store::open_existing(foreign.path()).unwrap_err(),
    ] {
        assert!(matches!(e, Error::NotAStore(_)), "{e}");
        assert!(!e.to_string().contains(":isoflop@"), "the password is never shown: {e}");
    }
    let n: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "nothing was created in a foreign database");
    // A wrong password is a clear, final error naming the store without the password.
    let bad = pg.path().to_string_lossy().replace("isoflop:isoflop@", "isoflop:wrong@");
    let e = Store::open(std::path::Path::new(&bad)).unwrap_err().to_string();
    assert!(e.contains("postgres://isoflop:***@") && e.contains("cannot connect"), "{e}");
}

/// A connection the server drops (a restart, a failover, an idle timeout) is reopened and the
/// statement run again: the store's caller never sees it.
#[test]
fn a_dropped_postgres_connection_is_reopened() {
    let Some(pg) = TestDb::postgres() else { return };
    let mut store = Store::open(pg.path()).unwrap();
    let s = store.upsert_sweep("s", &serde_json::json!({})).unwrap();
    store.plan_runs(s.id, &[new_run("a", 1e4)]).unwrap();
    let url = pg.path().to_string_lossy().into_owned();
    let name = url.rsplit('/').next().unwrap().to_string();
    let admin = std::env::var("ISOFLOP_TEST_PG").unwrap();
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    let killed: i64 = c
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert!(killed >= 1, "the store's connection was terminated");
    // Reads and a whole claim transaction both go through on a new connection.
    assert_eq!(store.runs(&RunFilter::default()).unwrap().len(), 1);
    let id = store.runs(&RunFilter::default()).unwrap()[0].id;
    c.query_one(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
        &[&name],
    )
    .unwrap();
    assert_eq!(store.claim(id, "h", "v", "ck").unwrap().attempts, 1);
}
