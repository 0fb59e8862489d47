//! The run store under abuse: `isoflop sweep run` killed with SIGKILL at pseudo-random moments
//! over and over, the store checked after every kill (no run duplicated, no finished run lost
//! or changed), until a resume finishes the sweep; then its losses must equal those of an
//! uninterrupted sweep. And Ctrl-C (SIGINT): checkpoints saved, runs back to pending, exit
//! status 130, and the next invocation finishes the sweep.

mod common;

use common::{cmd, ok, sweep_dir};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Four runs of two to ten seconds each, checkpointed about eight times per run.
const DESIGN: &str = "kind = \"grid\"\nparams = [3e4]\ntokens_per_param = [1, 2, 3, 4]";

/// (status, loss, finished_at, attempts) of each run key.
type Snapshot = HashMap<String, (String, Option<f64>, Option<f64>, u64)>;

fn snapshot(dir: &Path, db: &str) -> Snapshot {
    let out = cmd(dir, &["--json", "runs", "--db", db]).output().unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let runs = v["runs"].as_array().unwrap();
    let mut snap = Snapshot::new();
    for r in runs {
        let key = r["key"].as_str().unwrap().to_string();
        let entry = (
            r["status"].as_str().unwrap().to_string(),
            r["metrics"]["loss"].as_f64(),
            r["finished_at"].as_f64(),
            r["attempts"].as_u64().unwrap(),
        );
        assert!(snap.insert(key.clone(), entry).is_none(), "run {key} is in the store twice");
    }
    snap
}

fn start(dir: &Path, db: &str, runs_dir: &str) -> Child {
    cmd(
        dir,
        &[
            "sweep",
            "run",
            "s.toml",
            "--db",
            db,
            "--runs-dir",
            runs_dir,
            "-q",
            "--cores",
            "2",
            "--parallel-runs",
            "2",
            "--threads-per-run",
            "1",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap()
}

#[test]
fn kill_9_at_random_moments_never_loses_or_duplicates_a_run() {
    let tmp = sweep_dir("k", DESIGN, 2);
    let dir = tmp.path();
    // The reference: the same sweep, never interrupted. Its length sets the kill delays, so
    // the test kills inside the runs on a fast machine as on a slow one.
    let t_ref = Instant::now();
    let reference = start(dir, "ref.db", "ref-runs").wait_with_output().unwrap();
    let ref_ms = t_ref.elapsed().as_secs_f64() * 1e3;
    ok(&reference);
    let want = snapshot(dir, "ref.db");
    assert_eq!(want.len(), 4);

    // Kill at pseudo-random moments (fixed LCG: a failure reproduces) until a run of the
    // command finishes by itself.
    let mut lcg = 2024u64;
    let mut kills = 0;
    let mut stalled = 0;
    let mut finished: Snapshot = Snapshot::new();
    let t0 = Instant::now();
    loop {
        let mut child = start(dir, "k.db", "k-runs");
        lcg = lcg.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        // The first six kills come after 2–12% of the uninterrupted sweep's time each: together
        // at most 72% of the work, so all six land inside the sweep even if the machine runs
        // faster than while the reference ran. After them, delays of 10–50% grow after every
        // kill that finished no run, so the sweep gets past start-up to a checkpoint and the
        // loop always ends.
        let u = ((lcg >> 33) % 1000) as f64 / 1000.0;
        let fraction = if kills < 6 {
            0.02 + 0.10 * u
        } else {
            (0.1 + 0.4 * u) * (1.0 + stalled as f64 / 2.0)
        };
        let delay = Duration::from_millis((ref_ms * fraction).max(20.0) as u64);
        let deadline = Instant::now() + delay;
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break Some(st);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        match status {
            Some(st) => {
                let err = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
                assert!(st.success(), "sweep failed after {kills} kills: {err}");
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
        if !dir.join("k.db").exists() {
            continue; // killed before it created the store
        }
        let snap = snapshot(dir, "k.db");
        for (key, (status, ..)) in &snap {
            assert!(["pending", "running", "done"].contains(&status.as_str()), "{key}: {status}");
        }
        // A finished run stays finished, unchanged, whatever the kills.
        for (key, before) in &finished {
            assert_eq!(
                snap.get(key),
                Some(before),
                "finished run {key} changed after kill {kills}"
            );
        }
        let done: Snapshot = snap.into_iter().filter(|(_, v)| v.0 == "done").collect();
        stalled = if done.len() > finished.len() { 0 } else { stalled + 1 };
        finished = done;
        assert!(t0.elapsed() < Duration::from_secs(240), "no progress after {kills} kills");
    }
    eprintln!("sweep finished after {kills} SIGKILLs in {:.1} s", t0.elapsed().as_secs_f64());
    assert!(kills >= 6, "only {kills} kills: the runs finished too fast to test anything");
    let got = snapshot(dir, "k.db");
    assert_eq!(got.len(), 4);
    for (key, (status, loss, ..)) in &got {
        assert_eq!(status, "done", "{key}");
        let (want_loss, got_loss) = (want[key].1.unwrap(), loss.unwrap());
        assert!(
            ((got_loss - want_loss) / want_loss).abs() < 1e-4,
            "{key}: resumed through {kills} kills to loss {got_loss}, uninterrupted {want_loss}"
        );
    }
}

#[test]
fn ctrl_c_saves_and_exits_cleanly() {
    let tmp = sweep_dir("k", DESIGN, 2);
    let dir = tmp.path();
    let child = start(dir, "c.db", "c-runs");
    // Let it get into training, then interrupt as a terminal would.
    let t0 = Instant::now();
    while !dir.join("c-runs/k").exists() && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(800));
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted:") && err.contains("run the same command again"), "{err}");
    let snap = snapshot(dir, "c.db");
    assert!(snap.values().all(|v| v.0 != "running"), "a run was left running: {snap:?}");
    assert!(snap.values().any(|v| v.0 == "pending"), "nothing was interrupted: {snap:?}");
    ok(&start(dir, "c.db", "c-runs").wait_with_output().unwrap());
    let snap = snapshot(dir, "c.db");
    assert!(snap.values().all(|v| v.0 == "done"), "{snap:?}");
}
