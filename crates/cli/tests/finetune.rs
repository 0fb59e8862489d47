//! `isoflop tasks` and `isoflop finetune` on task files the tests make (no registry): the
//! summary and baselines, bad files naming file, line and column (exit 2), and a fine-tune of
//! a tiny pretrained model with the JSON keys the issue names.

mod common;

use common::{corpus, fails, isoflop_in, json_of, num, write};
use std::path::Path;

/// A learnable task: "good" words mean one class, "bad" words the other.
fn task_csv(dir: &Path) -> String {
    let good = ["great", "fine", "lovely", "superb", "bright"];
    let bad = ["awful", "dull", "poor", "grim", "weak"];
    let mut s = String::from("text,label\n");
    for i in 0..160 {
        let (w, l) = if i % 2 == 0 { (good[i % 5], "pos") } else { (bad[i % 5], "neg") };
        s += &format!("\"a {w} film, number {i}\",{l}\n");
    }
    s += "\"a great film, number 0\",pos\n"; // a duplicate
    write(dir, "reviews.csv", &s)
}

#[test]
fn show_reports_balance_and_baselines() {
    let tmp = tempfile::tempdir().unwrap();
    let t = task_csv(tmp.path());
    let v = json_of(&isoflop_in(tmp.path(), &["tasks", "show", "--task", &t, "--json"]));
    assert_eq!(num(&v, "/duplicates_removed"), 1.0);
    assert_eq!(num(&v, "/train") + num(&v, "/dev") + num(&v, "/test"), 160.0);
    assert!((num(&v, "/majority_accuracy") - 0.5).abs() < 1e-9);
    assert!(num(&v, "/baseline_accuracy") > 0.9, "{v}");
    let list = json_of(&isoflop_in(tmp.path(), &["tasks", "list", "--json"]));
    let names: Vec<&str> =
        list.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["mr", "trec", "sms-spam"]);
}

#[test]
fn bad_task_files_name_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let show = |p: &str| isoflop_in(d, &["tasks", "show", "--task", p]);
    let p = write(d, "nolabel.csv", "text,class\nhello,a\n");
    fails(&show(&p), "no `label` column");
    let p = write(d, "empty.csv", "text,label\nhello,a\n,b\n");
    fails(&show(&p), "empty.csv: line 3, column `text`: empty text");
    let p = write(
        d,
        "bad.jsonl",
        "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": 5, \"label\": \"y\"}\n",
    );
    fails(&show(&p), "bad.jsonl: line 2, column `text`: not a string");
    let p = write(d, "split.csv", "text,label,part\na,x,train\nb,y,holdout\n");
    let out = isoflop_in(d, &["tasks", "show", "--task", &p, "--split-col", "part"]);
    fails(&out, "line 3, column `part`: `holdout` is not train");
    fails(&show("nonexistent.csv"), "neither a built-in task");
}

#[test]
fn finetunes_a_pretrained_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    corpus(&d.join("corpus.txt"));
    let pre = [
        "train",
        "--layers",
        "1",
        "--d-model",
        "32",
        "--context",
        "32",
        "--tokens",
        "25600",
        "--batch-tokens",
        "512",
        "--eval-points",
        "2",
        "--eval-tokens",
        "1024",
        "--final-eval-tokens",
        "2048",
        "--corpus",
        "corpus.txt",
        "-o",
        "pre",
        "--json",
    ];
    json_of(&isoflop_in(d, &pre));
    let t = task_csv(d);
    for method in ["full", "lora", "bitfit"] {
        let args = [
            "finetune",
            "--checkpoint",
            "pre",
            "--task",
            &t,
            "--method",
            method,
            "--epochs",
            "3",
            "--lr",
            "3e-3",
            "-o",
            method,
            "--json",
        ];
        let v = json_of(&isoflop_in(d, &args));
        for key in [
            "task",
            "method",
            "status",
            "accuracy",
            "macro_f1",
            "majority_accuracy",
            "baseline_accuracy",
            "params",
            "trainable_params",
            "per_class",
            "wall_seconds",
        ] {
            assert!(v.get(key).is_some(), "{method}: no `{key}` in {v}");
        }
        assert_eq!(v["status"], "done");
        assert_eq!(v["per_class"].as_array().unwrap().len(), 2);
        assert!(num(&v, "/trainable_params") <= num(&v, "/params"));
        assert!(d.join(method).join("report.json").is_file());
    }
    // A compressed model fine-tunes from its dequantized weights: what int4 left of the task.
    let int4 = [
        "compress",
        "--checkpoint",
        "pre",
        "--method",
        "int4",
        "--corpus",
        "corpus.txt",
        "--eval-tokens",
        "2048",
        "-o",
        "pre-int4",
        "--json",
    ];
    let c = json_of(&isoflop_in(d, &int4));
    assert!(num(&c, "/loss_delta").is_finite(), "{c}");
    let args = ["finetune", "--checkpoint", "pre-int4", "--task", &t, "--epochs", "1", "--json"];
    let v = json_of(&isoflop_in(d, &args));
    assert_eq!(v["status"], "done");
    let pre = json_of(&isoflop_in(
        d,
        &["finetune", "--checkpoint", "pre", "--task", &t, "--epochs", "1", "--json"],
    ));
    // Same shape, other weights: the two first dev evaluations differ.
    assert_eq!(v["params"], pre["params"]);
    assert_ne!(v["best_dev_loss"], pre["best_dev_loss"], "{v}");
    let out = isoflop_in(d, &["finetune", "--checkpoint", "nowhere", "--task", &t]);
    fails(&out, "no checkpoint here");
    let out =
        isoflop_in(d, &["finetune", "--checkpoint", "pre", "--task", &t, "--method", "prompt"]);
    assert_eq!(out.status.code(), Some(2));
}
