//! `isoflop sweep plan|run`, `runs` and `export` on tiny real runs: planning, training into
//! the store, skipping finished runs on a rerun, slicing with --max-runs, and an export that
//! `isoflop fit` reads.

mod common;

use common::{isoflop_in, json_of, ok, spec, sweep_dir};

#[test]
fn plan_lists_runs_with_their_compute() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    spec(&dir.join("s.toml"), "p", "kind = \"isoflop\"\nbudgets = [1e10, 3e10]\nsizes = 3", 3);
    let plan = json_of(&isoflop_in(dir, &["sweep", "plan", "s.toml", "--no-calibrate", "--json"]));
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
    let plan = json_of(&isoflop_in(dir, &["sweep", "plan", "s.toml", "--json"]));
    assert!(plan["estimated_wall_seconds"].as_f64().unwrap() > 0.0);
    assert!(plan["runs"][0]["tokens_per_second"].as_f64().unwrap() > 0.0);
    let human = ok(&isoflop_in(dir, &["sweep", "plan", "s.toml", "--no-calibrate"]));
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
        spec(&dir.join("bad.toml"), "b", design, 3);
        let out = isoflop_in(dir, &["sweep", "plan", "bad.toml"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("bad.toml: invalid sweep spec") && err.contains(want), "{err}");
    }
    let out = isoflop_in(dir, &["sweep", "run", "nope.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read sweep spec nope.toml"));
}

#[test]
fn run_trains_stores_resumes_and_exports() {
    let design = "kind = \"grid\"\nparams = [3e4, 1.4e5]\ntokens_per_param = [0.3, 0.6, 1]";
    let tmp = sweep_dir("tiny", design, 3);
    let dir = tmp.path();

    // A first slice of two runs, then the rest: the second invocation skips nothing twice.
    let first = json_of(&isoflop_in(
        dir,
        &["--json", "sweep", "run", "s.toml", "--db", "r.db", "--max-runs", "2", "-q"],
    ));
    assert_eq!((first["planned"].as_u64(), first["done"].as_u64()), (Some(6), Some(2)));
    let second =
        json_of(&isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!((second["skipped"].as_u64(), second["done"].as_u64()), (Some(2), Some(4)));
    let third =
        json_of(&isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!((third["skipped"].as_u64(), third["done"].as_u64()), (Some(6), Some(0)));

    let runs = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db", "--sweep", "tiny"]));
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
    let filtered = json_of(&isoflop_in(
        dir,
        &["--json", "runs", "--db", "r.db", "--status", "pending,failed"],
    ));
    assert_eq!(filtered["runs"].as_array().unwrap().len(), 0);

    // Export in both formats; `isoflop fit` reads the CSV.
    ok(&isoflop_in(dir, &["export", "--db", "r.db", "-o", "obs.csv"]));
    ok(&isoflop_in(dir, &["export", "--db", "r.db", "-o", "obs.jsonl"]));
    ok(&isoflop_in(dir, &["export", "--db", "r.db", "--curves", "-o", "curves.csv"]));
    let csv = std::fs::read_to_string(dir.join("obs.csv")).unwrap();
    assert!(csv.starts_with("run,N,D,C,loss,"), "{csv}");
    assert_eq!(csv.lines().count(), 7);
    let jsonl = std::fs::read_to_string(dir.join("obs.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 6);
    let curves = std::fs::read_to_string(dir.join("curves.csv")).unwrap();
    assert!(curves.lines().count() > 6 * 2, "{curves}");
    let fit = json_of(&isoflop_in(dir, &["--json", "fit", "obs.csv"]));
    assert_eq!(fit["n_rows"].as_u64(), Some(6), "{fit}");
    // And back in through import, into a second sweep.
    ok(&isoflop_in(dir, &["import", "obs.jsonl", "--db", "r.db", "--sweep", "again"]));
    let again = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db", "--sweep", "again"]));
    assert_eq!(again["runs"].as_array().unwrap().len(), 6);

    // `isoflop fit` reads the sweep straight from the store.
    let fit = json_of(&isoflop_in(dir, &["--json", "fit", "--db", "r.db", "--sweep", "tiny"]));
    assert_eq!(fit["n_rows"].as_u64(), Some(6), "{fit}");
    assert_eq!(fit["input"], "r.db#tiny");
}

#[test]
fn a_diverged_run_is_stored_with_its_reason_and_never_fitted() {
    let tmp = sweep_dir("boom", "kind = \"grid\"\nparams = [3e4]\ntokens_per_param = [0.2]", 3);
    let dir = tmp.path();
    // A learning rate of 1000 blows any model up within a few steps.
    let mut text = std::fs::read_to_string(dir.join("s.toml")).unwrap();
    text += "lr = 1000.0\n";
    std::fs::write(dir.join("s.toml"), text).unwrap();
    let out =
        json_of(&isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!(out["diverged"].as_u64(), Some(1), "{out}");
    let runs =
        json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db", "--status", "diverged"]));
    let run = &runs["runs"][0];
    assert!(run["reason"].as_str().unwrap().contains("step"), "{run}");
    assert!(run["metrics"]["loss"].is_null(), "a diverged run reported a loss: {run}");
    // A rerun does not train it again.
    let again =
        json_of(&isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!(again["skipped"].as_u64(), Some(1));
    // Fitting and exporting leave it out, saying so by name.
    let out = isoflop_in(dir, &["fit", "--db", "r.db", "--sweep", "boom"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("left out 1 failed or diverged run(s): boom/l1d32-r0.2-s0 (diverged:"),
        "{err}"
    );
    assert!(err.contains("sweep boom has no finished runs"), "{err}");
}

#[test]
fn compress_runs_follow_their_models_and_stay_out_of_the_law() {
    let tmp =
        sweep_dir("squeeze", "kind = \"grid\"\nparams = [3e4, 1.4e5]\ntokens_per_param = [0.5]", 2);
    let dir = tmp.path();
    let mut text = std::fs::read_to_string(dir.join("s.toml")).unwrap();
    text += "[compress]\nmethods = [\"int8\", \"magnitude\"]\nsparsity = 0.3\neval_tokens = 2048\n";
    std::fs::write(dir.join("s.toml"), &text).unwrap();
    let out =
        json_of(&isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    // Two models, and two compressions of each.
    assert_eq!((out["planned"].as_u64(), out["done"].as_u64()), (Some(6), Some(6)), "{out}");
    let runs = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db"]));
    let runs = runs["runs"].as_array().unwrap();
    let pretrain: Vec<&serde_json::Value> =
        runs.iter().filter(|r| r["config"]["kind"] == "pretrain").collect();
    assert_eq!(pretrain.len(), 2);
    for p in &pretrain {
        let key = p["key"].as_str().unwrap();
        for (m, dir_name) in [("int8", "int8-e2048"), ("magnitude", "magnitude-s0.3-e2048")] {
            let c = runs
                .iter()
                .find(|r| r["key"] == format!("{key}-{dir_name}").as_str())
                .unwrap_or_else(|| panic!("no {m} run of {key}"));
            assert_eq!(c["status"], "done", "{c}");
            assert_eq!(
                (&c["config"]["kind"], &c["config"]["method"]),
                (&"compress".into(), &m.into())
            );
            assert_eq!(c["config"]["after"][0], key);
            // The compressed model scores worse than (or as well as) its source, never better
            // by more than noise.
            let (loss, base) =
                (c["metrics"]["loss"].as_f64().unwrap(), p["metrics"]["loss"].as_f64().unwrap());
            let report: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(
                    dir.join(c["checkpoint"].as_str().unwrap()).join("report.json"),
                )
                .unwrap(),
            )
            .unwrap();
            assert_eq!(report["method"], m);
            assert!((report["loss"].as_f64().unwrap() - loss).abs() < 1e-12);
            assert!(loss > 0.5 * base && loss < 2.0 * base, "{m} of {key}: {loss} vs {base}");
            if m == "magnitude" {
                assert!((report["sparsity"].as_f64().unwrap() - 0.3).abs() < 0.01, "{report}");
            }
        }
    }
    // The report has a compression section, and writes the methods' laws in the form
    // `plan --memory-budget --compression-fit` reads.
    ok(&isoflop_in(dir, &["report", "--db", "r.db", "-o", "rep/r.html", "--bootstrap", "0"]));
    let html = std::fs::read_to_string(dir.join("rep/r.html")).unwrap();
    assert!(html.contains("Loss that compression costs"), "no compression chart");
    assert!(html.contains("Loss against weight memory (k-bit view)"), "no k-bit chart");
    // The store records absolute run directories: a report made from elsewhere finds the
    // compressions' reports too.
    std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
    let sub = dir.join("elsewhere");
    ok(&isoflop_in(&sub, &["report", "--db", "../r.db", "-o", "r.html", "--bootstrap", "0"]));
    let html = std::fs::read_to_string(sub.join("r.html")).unwrap();
    assert!(html.contains("Loss that compression costs"), "a report from elsewhere lost them");
    let fits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("rep/r-compression.json")).unwrap())
            .unwrap();
    let methods: Vec<&str> =
        fits["fits"].as_array().unwrap().iter().map(|f| f["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["int8", "magnitude"]);
    assert_eq!(fits["rows"].as_array().unwrap().len(), 4);
    // The law's points are the two pretraining runs only.
    ok(&isoflop_in(dir, &["export", "--db", "r.db", "-o", "obs.csv"]));
    let csv = std::fs::read_to_string(dir.join("obs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    // A rerun trains nothing; a method added later adds its runs to the finished sweep (the
    // spec's [compress] may change without a new version), and nothing else is trained again.
    let again =
        json_of(&isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!((again["skipped"].as_u64(), again["done"].as_u64()), (Some(6), Some(0)));
    let more = text.replace("\"magnitude\"]", "\"magnitude\", \"int4\"]");
    std::fs::write(dir.join("s.toml"), &more).unwrap();
    let added =
        json_of(&isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!((added["skipped"].as_u64(), added["done"].as_u64()), (Some(6), Some(2)), "{added}");
    std::fs::write(dir.join("bad.toml"), text.replace("\"int8\"", "\"distill\"")).unwrap();
    let out = isoflop_in(dir, &["sweep", "plan", "bad.toml", "--no-calibrate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("compress.methods[0] = \"distill\""), "{err}");
}

#[test]
fn finetune_runs_follow_their_models_and_report_accuracy() {
    let tmp =
        sweep_dir("tasks", "kind = \"grid\"\nparams = [3e4, 1.4e5]\ntokens_per_param = [0.5]", 2);
    let dir = tmp.path();
    // A learnable task made here: "good" words one class, "bad" words the other.
    let (good, bad) = (["great", "fine", "lovely", "superb"], ["awful", "dull", "poor", "grim"]);
    let mut csv = String::from("text,label\n");
    for i in 0..120 {
        let (w, l) = if i % 2 == 0 { (good[i % 4], "pos") } else { (bad[i % 4], "neg") };
        csv += &format!("\"a {w} film, number {i}\",{l}\n");
    }
    std::fs::write(dir.join("reviews.csv"), csv).unwrap();
    let mut text = std::fs::read_to_string(dir.join("s.toml")).unwrap();
    text += "[finetune]\ntasks = [\"reviews.csv\"]\nmethods = [\"full\", \"lora\"]\nepochs = 2\n";
    std::fs::write(dir.join("s.toml"), &text).unwrap();
    let out =
        json_of(&isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!((out["planned"].as_u64(), out["done"].as_u64()), (Some(6), Some(6)), "{out}");
    let runs = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db"]));
    let runs = runs["runs"].as_array().unwrap();
    let tuned: Vec<&serde_json::Value> =
        runs.iter().filter(|r| r["config"]["kind"] == "finetune").collect();
    assert_eq!(tuned.len(), 4);
    for t in &tuned {
        let key = t["key"].as_str().unwrap();
        assert!(
            key.ends_with("-ft-reviews-full-e2") || key.ends_with("-ft-reviews-lora-e2"),
            "{key}"
        );
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                dir.join(t["checkpoint"].as_str().unwrap()).join("report.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let acc = report["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{report}");
        assert_eq!(report["task"], "reviews");
        assert_eq!(t["config"]["method"], report["method"]);
    }
    // `sweep plan` times the fine-tunes from the same calibration as the pretraining runs.
    let plan = json_of(&isoflop_in(dir, &["--json", "sweep", "plan", "s.toml"]));
    assert_eq!(plan["finetune_runs"].as_u64(), Some(4), "{plan}");
    let ft = plan["finetune_seconds"].as_f64().expect("fine-tunes timed");
    let pre: f64 = plan["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["estimated_seconds"].as_f64().unwrap())
        .sum();
    assert!(
        ft > 0.0 && plan["estimated_wall_seconds"].as_f64().unwrap() >= pre.max(ft) / 2.0,
        "{plan}"
    );
    assert!(plan["compress_seconds"].is_null() && plan["distill_seconds"].is_null(), "{plan}");
    // The report draws accuracy against N; the law's points are the pretraining runs.
    ok(&isoflop_in(dir, &["report", "--db", "r.db", "-o", "rep/r.html", "--bootstrap", "0"]));
    let html = std::fs::read_to_string(dir.join("rep/r.html")).unwrap();
    assert!(html.contains("Fine-tuned test accuracy against model size"));
    ok(&isoflop_in(dir, &["export", "--db", "r.db", "-o", "obs.csv"]));
    assert_eq!(std::fs::read_to_string(dir.join("obs.csv")).unwrap().lines().count(), 3);
    // A task file that does not exist is refused before anything trains, naming it.
    std::fs::write(dir.join("bad.toml"), text.replace("reviews.csv", "missing.csv")).unwrap();
    let out = isoflop_in(dir, &["sweep", "run", "bad.toml", "--db", "b.db", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv"));
}

#[test]
fn distill_and_sparsity_runs_follow_their_models_and_stay_out_of_the_law() {
    let design = "kind = \"isoflop\"\nbudgets = [1e10]\nsizes = 3\ntokens_per_param = 1\nspan = 4";
    let tmp = sweep_dir("teach", design, 2);
    let dir = tmp.path();
    let mut text = std::fs::read_to_string(dir.join("s.toml")).unwrap();
    text += "[compress]\nmethods = [\"magnitude\"]\nsparsity = [0.3, 0.6]\neval_tokens = 2048\n\
             [distill]\neval_tokens = 2048\n";
    std::fs::write(dir.join("s.toml"), &text).unwrap();
    let plan = json_of(&isoflop_in(dir, &["sweep", "plan", "s.toml", "--no-calibrate", "--json"]));
    assert_eq!(plan["runs"].as_array().unwrap().len(), 3, "{plan}");
    // Two sparsities of each model; the largest teaches the other two.
    assert_eq!((plan["compress_runs"].as_u64(), plan["distill_runs"].as_u64()), (Some(6), Some(2)));
    let out =
        json_of(&isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!((out["planned"].as_u64(), out["done"].as_u64()), (Some(11), Some(11)), "{out}");
    let runs = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db"]));
    let runs = runs["runs"].as_array().unwrap();
    let by_key = |k: &str| runs.iter().find(|r| r["key"] == k).unwrap_or_else(|| panic!("no {k}"));
    let pretrain: Vec<&serde_json::Value> =
        runs.iter().filter(|r| r["config"]["kind"] == "pretrain").collect();
    let largest = pretrain
        .iter()
        .max_by(|a, b| a["params"].as_f64().unwrap().total_cmp(&b["params"].as_f64().unwrap()))
        .unwrap();
    for p in &pretrain {
        let key = p["key"].as_str().unwrap();
        for s in ["0.3", "0.6"] {
            assert_eq!(by_key(&format!("{key}-magnitude-s{s}-e2048"))["status"], "done");
        }
        let distilled = runs.iter().find(|r| r["key"] == format!("{key}-distill-largest-e2048"));
        if p["key"] == largest["key"] {
            assert!(distilled.is_none(), "the teacher teaches itself");
            continue;
        }
        let d = distilled.unwrap_or_else(|| panic!("{key} was not distilled"));
        assert_eq!((&d["status"], &d["config"]["kind"]), (&"done".into(), &"distill".into()));
        assert_eq!(d["config"]["after"], serde_json::json!([key, largest["key"]]));
        assert_eq!(d["params"], p["params"]);
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                dir.join(d["checkpoint"].as_str().unwrap()).join("report.json"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!((&report["source"], &report["scratch"]["source"]), (&largest["key"], &p["key"]));
        // The student's shape and tokens are its run's; both students scored on the same
        // windows, each near what its own run measured.
        assert_eq!(report["options"]["tokens"].as_f64(), p["tokens"].as_f64());
        let loss = d["metrics"]["loss"].as_f64().unwrap();
        assert!((report["loss"].as_f64().unwrap() - loss).abs() < 1e-12);
        let (scratch, run_loss) =
            (report["scratch"]["loss"].as_f64().unwrap(), p["metrics"]["loss"].as_f64().unwrap());
        assert!((scratch / run_loss - 1.0).abs() < 0.1, "{scratch} vs {run_loss}");
        assert!(loss > 0.5 * run_loss && loss < 2.0 * run_loss, "{loss} vs {run_loss}");
    }
    ok(&isoflop_in(dir, &["report", "--db", "r.db", "-o", "rep/r.html", "--bootstrap", "0"]));
    let html = std::fs::read_to_string(dir.join("rep/r.html")).unwrap();
    assert!(html.contains("Loss against sparsity, by model size"), "no sparsity chart");
    assert!(html.contains("Distilled students against scratch"), "no distill chart");
    assert!(html.contains("distilled from N = "), "no teacher in the legend");
    // The law's points are the three pretraining runs only.
    ok(&isoflop_in(dir, &["export", "--db", "r.db", "-o", "obs.csv"]));
    assert_eq!(std::fs::read_to_string(dir.join("obs.csv")).unwrap().lines().count(), 4);
    // The best teacher, added to the finished sweep: every run of the budget a student of the
    // lowest-loss run (itself included), nothing else trained again.
    std::fs::write(
        dir.join("s.toml"),
        text.replace("[distill]\n", "[distill]\nteacher = \"best\"\n"),
    )
    .unwrap();
    let added =
        json_of(&isoflop_in(dir, &["--json", "sweep", "run", "s.toml", "--db", "r.db", "-q"]));
    assert_eq!((added["skipped"].as_u64(), added["done"].as_u64()), (Some(9), Some(3)), "{added}");
    let best = pretrain
        .iter()
        .min_by(|a, b| {
            let l = |r: &serde_json::Value| r["metrics"]["loss"].as_f64().unwrap();
            l(a).total_cmp(&l(b))
        })
        .unwrap();
    let runs = json_of(&isoflop_in(dir, &["--json", "runs", "--db", "r.db"]));
    for p in &pretrain {
        let d = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == format!("{}-distill-best-e2048", p["key"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("{} has no best-teacher run", p["key"]));
        assert_eq!(d["config"]["after"].as_array().unwrap().len(), 3);
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                dir.join(d["checkpoint"].as_str().unwrap()).join("report.json"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(report["source"], best["key"], "{report}");
    }
}
