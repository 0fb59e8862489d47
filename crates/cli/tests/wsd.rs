//! The WSD design (issue 14; Hägele et al. 2024): one constant-rate trunk per size and a
//! cooldown branch per (N, D) point, each branch a run of the store after its trunk.

mod common;

use common::{cmd, corpus, fails, json_of, ok};
use serde_json::Value;

fn spec(dir: &std::path::Path, design: &str) {
    std::fs::write(
        dir.join("s.toml"),
        format!(
            "name = \"w\"\n[corpus]\nsource = \"corpus.txt\"\n[design]\n{design}\n[train]\n\
             engine = \"candle\"\ncontext = 32\neval_points = 8\neval_tokens = 2048\n\
             final_eval_tokens = 4096\n"
        ),
    )
    .unwrap();
}

#[test]
fn a_wsd_sweep_trains_trunks_and_cooldown_branches_into_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    corpus(&dir.join("corpus.txt"));
    spec(dir, "kind = \"wsd\"\nparams = [2e4]\ntokens_per_param = [2, 4, 8]\ncooldown = 0.25");
    let plan = json_of(
        &cmd(dir, &["--json", "sweep", "plan", "s.toml", "--no-calibrate"]).output().unwrap(),
    );
    let keys: Vec<&str> =
        plan["runs"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert!(keys.iter().any(|k| k.contains("-trunk-")), "the plan lists the trunk: {keys:?}");
    let out = json_of(&cmd(dir, &["--json", "sweep", "run", "s.toml", "-q"]).output().unwrap());
    assert_eq!((out["planned"].as_u64(), out["done"].as_u64()), (Some(4), Some(4)), "{out}");
    let runs = json_of(&cmd(dir, &["--json", "runs"]).output().unwrap());
    let runs = runs["runs"].as_array().unwrap();
    let trunk: Vec<&Value> = runs.iter().filter(|r| r["config"]["kind"] == "trunk").collect();
    assert_eq!(trunk.len(), 1);
    let trunk = trunk[0];
    let branches: Vec<&Value> = runs.iter().filter(|r| r["config"]["kind"] == "pretrain").collect();
    assert_eq!(branches.len(), 3);
    let t = &trunk["config"]["train"];
    assert_eq!(t["schedule"]["decay_steps"], 0, "the trunk holds its rate: {t}");
    let batch = t["batch_tokens"].as_u64().unwrap();
    let mut by_tokens: Vec<(f64, f64)> = Vec::new();
    for b in &branches {
        assert_eq!(b["config"]["after"][0], trunk["key"], "{b}");
        let c = &b["config"]["train"];
        // One family: the trunk's batch, peak rate and warm-up; a decay over its last quarter.
        assert_eq!(c["batch_tokens"].as_u64(), Some(batch), "{c}");
        assert_eq!(c["adamw"]["lr"], t["adamw"]["lr"]);
        assert_eq!(c["warmup_steps"], t["warmup_steps"]);
        let steps = b["tokens"].as_f64().unwrap() / batch as f64;
        let decay = c["schedule"]["decay_steps"].as_f64().unwrap();
        assert!((decay / steps - 0.25).abs() < 0.05, "decay {decay} of {steps} steps");
        assert!(c["init_from"].as_str().unwrap().contains("snapshots/step-"), "{c}");
        assert!(
            std::path::Path::new(c["init_from"].as_str().unwrap())
                .join("checkpoint.safetensors")
                .exists()
        );
        by_tokens.push((b["tokens"].as_f64().unwrap(), b["metrics"]["loss"].as_f64().unwrap()));
    }
    by_tokens.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(
        by_tokens.windows(2).all(|w| w[1].1 < w[0].1),
        "more tokens, lower loss: {by_tokens:?}"
    );
    // The trunk trained to the longest branch point only: 75% of its longest branch.
    let longest = by_tokens.last().unwrap().0;
    let trunk_tokens = trunk["tokens"].as_f64().unwrap();
    assert!((trunk_tokens / longest - 0.75).abs() < 0.01, "{trunk_tokens} of {longest}");
    // A second invocation trains nothing again.
    let again = json_of(&cmd(dir, &["--json", "sweep", "run", "s.toml", "-q"]).output().unwrap());
    assert_eq!(again["skipped"], 4);
    // Its points are the sweep's law points: the report reads them, the trunk is not one.
    ok(&cmd(dir, &["report", "-o", "rep/report.html", "--bootstrap", "10"]).output().unwrap());
}

#[test]
fn a_bad_cooldown_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    corpus(&dir.join("corpus.txt"));
    for (bad, design) in ["1.5", "0", "-0.2"].into_iter().flat_map(|b| {
        [
            (b, "kind = \"wsd\"\nparams = [2e4]\ntokens_per_param = [2, 4]"),
            (b, "kind = \"isoflop\"\nbudgets = [4e9]\nsizes = 3"),
        ]
    }) {
        spec(dir, &format!("{design}\ncooldown = {bad}"));
        fails(
            &cmd(dir, &["sweep", "plan", "s.toml", "--no-calibrate"]).output().unwrap(),
            "design.cooldown",
        );
    }
}

#[test]
fn an_isoflop_design_with_a_cooldown_measures_its_budgets_from_shared_trunks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    corpus(&dir.join("corpus.txt"));
    spec(
        dir,
        "kind = \"isoflop\"\nbudgets = [4e9, 8e9]\nsizes = 3\ntokens_per_param = 4\nspan = 4\n\
         cooldown = 0.25",
    );
    let out = json_of(&cmd(dir, &["--json", "sweep", "run", "s.toml", "-q"]).output().unwrap());
    let runs = json_of(&cmd(dir, &["--json", "runs"]).output().unwrap());
    let runs = runs["runs"].as_array().unwrap();
    let trunks: Vec<&Value> = runs.iter().filter(|r| r["config"]["kind"] == "trunk").collect();
    let points: Vec<&Value> = runs.iter().filter(|r| r["config"]["kind"] == "pretrain").collect();
    // Three sizes per budget, on one ladder a factor 2 apart: the two budgets share sizes, so
    // fewer trunks than points, and every point is a branch of its size's trunk.
    assert_eq!(points.len(), 6, "{out}");
    assert!((3..=4).contains(&trunks.len()), "{} trunks", trunks.len());
    assert_eq!(out["planned"].as_u64(), Some((points.len() + trunks.len()) as u64), "{out}");
    for p in &points {
        let trunk = p["config"]["after"][0].as_str().unwrap();
        let t = trunks.iter().find(|t| t["key"] == trunk).expect("its trunk is a run");
        assert_eq!(t["params"], p["params"]);
        assert!(t["tokens"].as_f64() >= Some(0.75 * p["tokens"].as_f64().unwrap() - 1.0));
        // The point is the budget's: 6·N·D within a token of C.
        let c = p["flops"].as_f64().unwrap();
        assert!([4e9, 8e9].iter().any(|b| (c / b - 1.0).abs() < 1e-3), "C = {c}");
    }
    // Both budgets keep their IsoFLOP profile: the report's analysis finds them.
    ok(&cmd(dir, &["report", "-o", "rep/report.html", "--bootstrap", "10"]).output().unwrap());
}
