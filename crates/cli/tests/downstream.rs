//! `fit --downstream`, `predict` and `plan --target-accuracy` on a file that holds pretraining
//! rows and fine-tune rows (issue 17): the two-step law fitted, saved, predicted and planned
//! from, and bad inputs refused with exit 2.

mod common;
use common::{isoflop, json, num, refused, write};

/// Chinchilla's law (Hoffmann et al. 2022's fit) for the loss, and accuracy = 0.5 + 0.4·σ(−4
/// (L − 3.6)) with a small deterministic scatter, for task `toy` by `full`; a second task and
/// a second method in the same file, which step 2 must leave out.
fn file(dir: &std::path::Path) -> String {
    let mut text = String::from("N,D,loss,metric,task,method\n");
    for i in 0..15 {
        let n = 1e7 * 2.5f64.powi(i / 3);
        let d = 20.0 * n * 2f64.powi(i % 3 - 1);
        let l = 1.69 + 406.4 / n.powf(0.34) + 410.7 / d.powf(0.28);
        let acc = 0.5 + 0.4 / (1.0 + (4.0 * (l - 3.6)).exp()) + 0.002 * ((i * 3 % 5) as f64 - 2.0);
        text += &format!("{n},{d},{l},,,\n");
        text += &format!("{n},{d},{l},{acc},toy,full\n");
        text += &format!("{n},{d},{l},{},toy,lora\n", acc - 0.05);
        text += &format!("{n},{d},{l},0.3,other,full\n");
    }
    write(dir, "down.csv", &text)
}

#[test]
fn the_two_step_law_predicts_and_plans_by_a_target() {
    let dir = tempfile::tempdir().unwrap();
    let data = file(dir.path());
    let law = dir.path().join("down.json");
    let law = law.to_str().unwrap();
    let fitted = json(&[
        "fit",
        &data,
        "--downstream",
        "--task",
        "toy",
        "--method",
        "full",
        "--chance",
        "0.5",
        "--bootstrap",
        "20",
        "--grid-stride",
        "3",
        "-o",
        law,
    ]);
    assert_eq!(fitted["kind"], "two-step");
    assert_eq!(fitted["task"], "toy");
    // Step 1 saw each of the 15 models once; step 2 the 15 rows of toy · full.
    assert_eq!(num(&fitted, "/loss_fit/n_rows"), 15.0);
    assert_eq!(num(&fitted, "/metric_fit/n_rows"), 15.0);
    assert_eq!(num(&fitted, "/metric_fit/params/floor"), 0.5);
    assert!((num(&fitted, "/metric_fit/params/ceiling") - 0.9).abs() < 0.05, "{fitted}");

    let (n, d): (f64, f64) = (2e9, 4e10);
    let truth = {
        let l: f64 = 1.69 + 406.4 / n.powf(0.34) + 410.7 / d.powf(0.28);
        0.5 + 0.4 / (1.0 + (4.0 * (l - 3.6)).exp())
    };
    let p = json(&["predict", "--fit", law, "--params", "2e9", "--tokens", "4e10"]);
    assert!((num(&p, "/metric") - truth).abs() < 0.02, "{p} vs {truth}");
    let (lo, hi) = (num(&p, "/metric_interval/0"), num(&p, "/metric_interval/1"));
    assert!(lo <= num(&p, "/metric") && num(&p, "/metric") <= hi, "{p}");

    let plan = json(&["plan", "--fit", law, "--target-accuracy", "0.8"]);
    let (pn, pd) = (num(&plan, "/plan/plan/n_opt"), num(&plan, "/plan/plan/d_opt"));
    // The planned model reaches the target, by predict's own reckoning.
    let back =
        json(&["predict", "--fit", law, "--params", &pn.to_string(), "--tokens", &pd.to_string()]);
    assert!((num(&back, "/metric") - 0.8).abs() < 1e-4, "{back}");
    let (code, out, _) = isoflop(&["plan", "--fit", law, "--target-accuracy", "0.8"]);
    assert_eq!(code, 0);
    assert!(out.contains("loss needed") && out.contains("samples reach the target"), "{out}");

    refused(&["plan", "--fit", law, "--target-accuracy", "0.97"], "at or above the fitted ceiling");
    refused(&["plan", "--fit", law, "--target-accuracy", "0.4"], "at or below the fitted floor");
    // A downstream law is not a loss law, and a loss law has no accuracy.
    refused(&["plan", "--fit", law, "--compute", "1e21"], "this is a downstream law");
    let fit = dir.path().join("loss.json");
    let fit = fit.to_str().unwrap();
    json(&["fit", &data, "--grid-stride", "5", "-o", fit]);
    refused(&["plan", "--fit", fit, "--target-accuracy", "0.8"], "is not a metric against compute");
}

#[test]
fn bad_downstream_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = file(dir.path());
    refused(
        &["fit", &data, "--downstream", "--grid-stride", "5"],
        "mix 2 values of `task` (other, toy)",
    );
    refused(
        &["fit", &data, "--downstream", "--task", "toy", "--grid-stride", "5"],
        "mix 2 values of `method` (full, lora): choose one with --method",
    );
    refused(
        &["fit", &data, "--downstream", "--task", "toy", "--method", "adapter"],
        "no metric row has task toy and method adapter (task/method present: other/full, toy/full, toy/lora)",
    );
    refused(&["fit", &data, "--downstream", "--approach", "isoflop"], "does not take --approach");
    let pct = write(
        dir.path(),
        "pct.csv",
        "N,D,loss,metric\n1e7,2e8,4,85\n2e7,4e8,3.8,86\n3e7,6e8,3.6,87\n4e7,8e8,3.5,88\n5e7,1e9,3.4,89\n",
    );
    refused(&["fit", &pct, "--downstream"], "metric 85 is not a fraction in [0, 1]");
    let few = write(dir.path(), "few.csv", "N,D,loss,metric\n1e7,2e8,4,0.5\n2e7,4e8,3.8,0.6\n");
    refused(&["fit", &few, "--downstream"], "at least 5 rows with a metric, got 2");
}

#[test]
fn imported_downstream_results_are_fitted_as_the_file_is() {
    let dir = tempfile::tempdir().unwrap();
    let data = file(dir.path());
    let db = dir.path().join("x.db");
    let db = db.to_str().unwrap();
    let imported = json(&["import", &data, "--db", db, "--sweep", "big"]);
    // 15 models and 45 downstream results (toy · full, toy · lora, other · full).
    assert_eq!(num(&imported, "/runs"), 60.0, "{imported}");
    let args = ["--downstream", "--task", "toy", "--method", "lora", "--grid-stride", "3"];
    let from_file = json(&[&["fit", data.as_str()][..], &args].concat());
    let from_store = json(&[&["fit", "--sweep", "big", "--db", db][..], &args].concat());
    for p in ["ceiling", "k", "x0"] {
        let (a, b) = (
            num(&from_file, &format!("/metric_fit/params/{p}")),
            num(&from_store, &format!("/metric_fit/params/{p}")),
        );
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{p}: {a} vs {b}");
    }
    assert_eq!(num(&from_store, "/metric_fit/n_rows"), 15.0);
    assert_eq!(num(&from_store, "/loss_fit/n_rows"), 15.0);
    // The law's loss points are the models only; the fine-tunes are not exported as models.
    let runs = json(&["runs", "--db", db]);
    let tuned =
        runs["runs"].as_array().unwrap().iter().filter(|r| r["config"]["kind"] == "finetune");
    assert_eq!(tuned.count(), 45);
}
