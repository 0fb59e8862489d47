//! What a careless or hostile user meets (issue 15): output files with the mode a plain
//! create gives and no temporary files left when saving fails, devices never replaced, errors
//! as JSON under `--json`, terminal-safe names, NaN losses recorded as divergence, runs too
//! large for the memory refused before they allocate.

mod common;

use common::{example, fails, isoflop_in, json_of, ok};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const QUICK_FIT: &[&str] = &["--grid-stride", "40"];

fn fit_args<'a>(input: &'a str, out: &'a str) -> Vec<&'a str> {
    let mut v = vec!["fit", input, "-o", out];
    v.extend(QUICK_FIT);
    v
}

#[test]
fn outputs_get_the_mode_of_a_plain_create() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plain = dir.join("plain");
    std::fs::File::create(&plain).unwrap();
    let ex = example();
    ok(&isoflop_in(dir, &fit_args(&ex, "fit.json")));
    assert_eq!(mode(&dir.join("fit.json")), mode(&plain), "a new fit.json");
    assert_ne!(mode(&dir.join("fit.json")), 0o600);
    // Rewriting keeps the file's own mode.
    std::fs::set_permissions(dir.join("fit.json"), std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(&isoflop_in(dir, &fit_args(&ex, "fit.json")));
    assert_eq!(mode(&dir.join("fit.json")), 0o644);
    let hidden: Vec<String> = names(dir).into_iter().filter(|n| n.starts_with('.')).collect();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");
}

#[test]
fn saving_into_a_directory_fails_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("out")).unwrap();
    let ex = example();
    let r = isoflop_in(dir, &fit_args(&ex, "out"));
    fails(&r, "is a directory");
    assert_eq!(names(dir), ["out"]);
    assert!(names(&dir.join("out")).is_empty());
}

#[test]
fn a_device_is_written_through_never_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let tmp = tempfile::tempdir().unwrap();
    let ex = example();
    if Path::new("/dev/full").exists() {
        let r = isoflop_in(tmp.path(), &fit_args(&ex, "/dev/full"));
        fails(&r, "cannot write /dev/full");
        assert!(String::from_utf8_lossy(&r.stderr).contains("No space left"));
        assert!(std::fs::metadata("/dev/full").unwrap().file_type().is_char_device());
    }
    ok(&isoflop_in(tmp.path(), &fit_args(&ex, "/dev/null")));
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
}

/// `isoflop --json <args>` that must fail: exit 2, one JSON document on stdout, nothing on
/// stderr.
fn json_error(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend(args);
    let r = isoflop_in(dir, &all);
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert_eq!(
        r.status.code(),
        Some(2),
        "{args:?}: {stdout} {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(r.stderr.is_empty(), "{args:?}: stderr {}", String::from_utf8_lossy(&r.stderr));
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(v["error"].is_string() && v["kind"].is_string(), "{v}");
    v
}

#[test]
fn errors_are_json_under_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("bad.csv"), "N,D,loss\n1e6,2e7,3.0\n1e6,2e7,oops\n").unwrap();
    let v = json_error(dir, &["fit", "bad.csv"]);
    assert_eq!(v["kind"], "parse", "{v}");
    assert_eq!((v["file"].as_str(), v["line"].as_u64()), (Some("bad.csv"), Some(3)), "{v}");
    assert_eq!(v["column"], "loss", "{v}");

    let v = json_error(dir, &["fit", "missing.csv"]);
    assert_eq!(v["kind"], "io", "{v}");
    // The cause is said once, in `causes`.
    let all = v.to_string();
    assert_eq!(all.matches("No such file").count(), 1, "{v}");

    std::fs::write(dir.join("spec.toml"), "name = \"x\"\n[design\n").unwrap();
    let v = json_error(dir, &["sweep", "plan", "spec.toml"]);
    assert_eq!((v["kind"].as_str(), v["line"].as_u64()), (Some("parse"), Some(2)), "{v}");
    assert_eq!((v["file"].as_str(), v["column"].as_u64()), (Some("spec.toml"), Some(8)), "{v}");

    // Usage errors too, and every verb.
    let v = json_error(dir, &["fit", "--no-such-flag"]);
    assert_eq!(v["kind"], "usage", "{v}");
    let v = json_error(dir, &["runs", "--db", "none.db"]);
    assert_eq!(v["kind"], "store", "{v}");
    json_error(dir, &["predict", "--fit", "none.json", "--params", "1e9", "--tokens", "2e10"]);
}

#[test]
fn export_json_is_json_and_names_are_printed_safely() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("ext.csv"),
        "run,N,D,loss\n\"a\x1b[2J\",1e6,2e7,3.0\n\"b\u{202e}\",2e6,4e7,2.8\n",
    )
    .unwrap();
    ok(&isoflop_in(dir, &["import", "ext.csv", "--db", "s.db"]));
    let v = json_of(&isoflop_in(dir, &["--json", "export", "--db", "s.db"]));
    let rows = v["rows"].as_array().unwrap_or_else(|| panic!("no rows in {v}"));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["loss"].as_f64(), Some(3.0));
    let v = json_of(&isoflop_in(dir, &["--json", "export", "--db", "s.db", "-o", "o.csv"]));
    assert_eq!((v["rows"].as_u64(), v["format"].as_str()), (Some(2), Some("csv")), "{v}");

    let table = ok(&isoflop_in(dir, &["runs", "--db", "s.db"]));
    assert!(!table.contains('\x1b') && !table.contains('\u{202e}'), "{table:?}");
    assert!(table.contains("a\\u{1b}[2J") && table.contains("b\\u{202e}"), "{table}");
}

/// `isoflop train` of a tiny model on [`common::corpus`] in `dir`, plus `extra`.
fn train(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--corpus",
        "corpus.txt",
        "--tokens",
        "6400",
        "--batch-tokens",
        "256",
        "--eval-points",
        "2",
        "--eval-tokens",
        "512",
        "--final-eval-tokens",
        "1024",
    ];
    if !extra.contains(&"--context") {
        args.extend(["--context", "32"]);
    }
    args.extend(extra);
    isoflop_in(dir, &args)
}

#[test]
fn a_nan_loss_is_a_divergence_with_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::corpus(&dir.join("corpus.txt"));
    let r = train(dir, &["--layers", "1", "--d-model", "32", "--lr", "1e38", "-o", "run"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(3), "{err}");
    assert!(err.contains("diverged") && err.contains("non-finite"), "{err}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["status"], "diverged");
}

#[test]
fn a_model_too_large_is_refused_before_it_allocates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::corpus(&dir.join("corpus.txt"));
    // 3e10 parameters need some 450 GiB of fp32 weights and AdamW state.
    let r = train(dir, &["--params", "3e10"]);
    fails(&r, "needs about");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("GiB is available (MemAvailable"), "{err}");
    // Past the ladder's largest shape: refused, not snapped to it.
    fails(&train(dir, &["--params", "1e30"]), "largest has");
    // A zero context is the context's fault, not the parameter budget's.
    let r = train(dir, &["--params", "1e5", "--context", "0"]);
    fails(&r, "--context 0");
    assert!(!String::from_utf8_lossy(&r.stderr).contains("--params"));
}

#[test]
fn a_run_that_cannot_train_never_blocks_the_others() {
    let tmp = common::sweep_dir(
        "big",
        "kind = \"grid\"\nparams = [3e4, 3e10]\ntokens_per_param = [2]",
        2,
    );
    let dir = tmp.path();
    // Largest first: the 3e10 run is refused for memory and recorded failed; the small one
    // trains after it, in the same invocation.
    let out = isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    // A sweep with a failed run does not report success (issue 15 item 15).
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_of_stdout(&out)["failed"].as_u64(), Some(1), "{stdout}");
    let runs = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db"]));
    let status = |n: f64| {
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| (r["params"].as_f64().unwrap() / n - 1.0).abs() < 0.2)
            .map(|r| (r["status"].as_str().unwrap().to_string(), r["reason"].to_string()))
            .unwrap_or_else(|| panic!("no run of {n} parameters in {runs}"))
    };
    assert_eq!(status(3e4).0, "done");
    let (big, reason) = status(3e10);
    assert_eq!(big, "failed");
    assert!(reason.contains("needs about"), "{reason}");
    // A rerun does not try the impossible run again first: nothing is left to train.
    let again = isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]);
    let v: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["skipped"].as_u64(), Some(2), "{v}");
}

fn json_of_stdout(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Absurd values are refused where they enter (issue 15 item 15): a budget that would saturate
/// the token count, a context no machine can train, in a spec and on `train`'s flags.
#[test]
fn absurd_values_are_refused_at_the_boundary() {
    let tmp =
        common::sweep_dir("huge", "kind = \"grid\"\nparams = [3e4]\ntokens_per_param = [1e30]", 2);
    let dir = tmp.path();
    fails(&isoflop_in(dir, &["sweep", "plan", "s.toml"]), "more than the 1e15 one run may train");
    let run = isoflop_in(dir, &["sweep", "run", "s.toml", "--db", "r.db", "-q"]);
    fails(&run, "more than the 1e15 one run may train");
    assert!(!dir.join("r.db").exists(), "a refused spec leaves no store");
    let spec = std::fs::read_to_string(dir.join("s.toml")).unwrap();
    std::fs::write(
        dir.join("s.toml"),
        spec.replace("1e30", "4").replace("context = 32", "context = 100000000"),
    )
    .unwrap();
    fails(&isoflop_in(dir, &["sweep", "plan", "s.toml"]), "train.context = 100000000");
    let train = |extra: &[&str]| {
        isoflop_in(dir, &[&["train", "--corpus", "corpus.txt", "--out", "t"][..], extra].concat())
    };
    fails(&train(&["--params", "1e5", "--tokens", "1e30"]), "more than the 1e15 tokens");
    fails(
        &train(&["--params", "1e5", "--tokens", "1e6", "--context", "100000000"]),
        "--context 100000000: more than the trainer",
    );
    assert!(!dir.join("t").exists());
}

/// Degenerate data (issue 15 item 10): every such fit either exits 0 saying which
/// parameters the data cannot identify, with a fit.json that `predict` reads, or exits 2
/// saying why and writes nothing; never a silent fit, never a file its own tools refuse.
#[test]
fn degenerate_data_never_gives_a_fit_its_tools_refuse() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rows = |f: &dyn Fn(usize) -> (f64, f64, f64)| {
        let mut s = String::from("N,D,loss\n");
        for i in 0..20 {
            let (n, d, l) = f(i);
            s += &format!("{n:e},{d:e},{l}\n");
        }
        s
    };
    let law = |n: f64, d: f64| 1.7 + 400.0 / n.powf(0.34) + 400.0 / d.powf(0.28);
    let cases: Vec<(&str, String)> = vec![
        ("identical", rows(&|_| (1e8, 2e9, 3.0))),
        (
            "huge",
            rows(&|i| {
                (1e290 * (1 + i % 4) as f64, 1e295 * (1 + i / 4) as f64, 2.0 + i as f64 * 1e-3)
            }),
        ),
        (
            "tiny",
            rows(&|i| {
                (1e-290 * (1 + i % 4) as f64, 1e-280 * (1 + i / 4) as f64, 2.0 + i as f64 * 1e-3)
            }),
        ),
        ("constant-loss", rows(&|i| (1e7 * (1 + i % 4) as f64, 1e9 * (1 + i / 4) as f64, 3.0))),
        (
            "constant-n",
            rows(&|i| (1e8, 1e9 * 1.3f64.powi(i as i32), law(1e8, 1e9 * 1.3f64.powi(i as i32)))),
        ),
    ];
    for (name, text) in cases {
        let input = dir.join(format!("{name}.csv"));
        std::fs::write(&input, text).unwrap();
        let out = dir.join(format!("{name}.json"));
        let o = isoflop_in(dir, &fit_args(input.to_str().unwrap(), out.to_str().unwrap()));
        let stderr = String::from_utf8_lossy(&o.stderr);
        match o.status.code() {
            Some(0) => {
                assert!(stderr.contains("cannot identify"), "{name}: a silent fit: {stderr}");
                let p = isoflop_in(
                    dir,
                    &[
                        "predict",
                        "--fit",
                        out.to_str().unwrap(),
                        "--params",
                        "1e9",
                        "--tokens",
                        "2e10",
                    ],
                );
                ok(&p);
            }
            Some(2) => {
                assert!(
                    stderr.contains("cannot identify") || stderr.contains("unusable"),
                    "{name}: {stderr}"
                );
                assert!(!out.exists(), "{name}: a refused fit left {}", out.display());
            }
            other => panic!("{name}: exit {other:?}: {stderr}"),
        }
    }
}

/// `fit` reads its input once (issue 15 item 14): a FIFO is fitted rather than waited on
/// forever, and the recorded sha256 is that of the bytes fitted.
#[test]
fn fit_reads_its_input_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let text = std::fs::read_to_string(example()).unwrap();
    let fifo = dir.join("obs.csv");
    let st = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let writer = {
        let (fifo, text) = (fifo.clone(), text.clone());
        std::thread::spawn(move || std::fs::write(fifo, text).unwrap())
    };
    let out = dir.join("f.json");
    let mut child = common::cmd(dir, &fit_args(fifo.to_str().unwrap(), out.to_str().unwrap()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A second open of the FIFO would block with no writer: give it ample time, then fail.
    let t0 = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("fit on a FIFO did not finish: it reads its input twice");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    writer.join().unwrap();
    assert!(status.success());
    let f: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let p = std::process::Command::new("sha256sum").arg(example()).output().unwrap();
    let want = String::from_utf8_lossy(&p.stdout).split_whitespace().next().unwrap().to_string();
    assert_eq!(f["input_sha256"].as_str(), Some(want.as_str()));
}

#[test]
fn more_threads_than_the_machine_has_are_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::corpus(&dir.join("corpus.txt"));
    let cpus = std::thread::available_parallelism().unwrap().get();
    let limit = format!("this machine's {cpus} logical CPUs");
    // Before the check this started 100,000 threads for the peak-FLOPs probe alone.
    let started = std::time::Instant::now();
    let r = train(dir, &["--layers", "1", "--d-model", "32", "--threads", "100000", "-o", "run"]);
    fails(&r, "--threads = 100000");
    fails(&r, &limit);
    assert!(!dir.join("run").exists(), "nothing written");
    assert!(started.elapsed().as_secs() < 60);
    let over = (cpus + 1).to_string();
    fails(&train(dir, &["--layers", "1", "--d-model", "32", "--threads", &over]), &limit);
    for args in [
        &["finetune", "--task", "sst2", "--run", "r", "--threads", "100000"][..],
        &["compress", "--method", "int8", "--run", "r", "--threads", "100000"],
        &["bench", "train", "--threads", "100000"],
    ] {
        fails(&isoflop_in(dir, args), "--threads = 100000");
    }
}
