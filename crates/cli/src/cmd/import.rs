//! `isoflop import FILE`: store runs made by other tools, so they can be fitted and reported
//! with ours.
//!
//! The file has the columns `isoflop fit` reads (`N`, `D`, `loss`; optional `C`, `run`,
//! `step`/`tokens`; renamed with `--n-col` and friends) and is validated by the same reader,
//! so a bad value is an error naming the file, line and column. Rows that share a `run` and
//! have `step` or `tokens` are one run's curve: its last row (most tokens) is the run's
//! final result and every row is a curve point. Other rows are one run each. Importing the
//! same file again replaces its runs rather than duplicating them.
//!
//! Rows with a `metric` (and `task`, `method`) are downstream results: each becomes a
//! fine-tune run after the model with the same N, D and loss (a model row of the file, or a
//! model made from the row itself), so `fit --sweep S --downstream`, the report and `plan
//! --target-accuracy` use them as they use fine-tunes made here.

use crate::output::print_json;
use anyhow::{Context, Result, bail};
use isoflop_law::{Observation, read_observation_file};
use isoflop_store::{CurvePoint, Metrics, NewRun, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `isoflop import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV or JSONL file of runs (the columns `isoflop fit` reads).
    pub file: PathBuf,
    /// The run store.
    #[arg(long, env = "ISOFLOP_DB", default_value = "isoflop.db")]
    pub db: PathBuf,
    /// Sweep to store the runs in (default: the file's name without extension).
    #[arg(long)]
    pub sweep: Option<String>,
    #[command(flatten)]
    pub columns: crate::args::Columns,
    /// Replace runs trained by `isoflop sweep run` that have the same keys (their curves are
    /// deleted) and the sweep's spec; without it such an import is refused.
    #[arg(long)]
    pub replace_trained: bool,
}

/// Groups observations into runs: (key, final observation, curve).
pub fn group(obs: &[Observation]) -> Vec<(String, Observation, Vec<CurvePoint>)> {
    let mut curves: BTreeMap<String, Vec<&Observation>> = BTreeMap::new();
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, o) in obs.iter().enumerate() {
        match (&o.run, o.step.is_some() || o.tokens.is_some()) {
            (Some(run), true) => curves.entry(run.clone()).or_default().push(o),
            (run, _) => {
                let base = run.clone().unwrap_or_else(|| format!("row{}", i + 1));
                let n = seen.entry(base.clone()).or_insert(0);
                *n += 1;
                let key = if *n == 1 { base } else { format!("{base}-{n}") };
                out.push((key, o.clone(), vec![]));
            }
        }
    }
    for (run, mut rows) in curves {
        let at = |o: &Observation| o.tokens.or(o.step).unwrap_or(o.d);
        rows.sort_by(|a, b| at(a).total_cmp(&at(b)));
        let curve = rows
            .iter()
            .map(|o| CurvePoint {
                tokens: o.tokens.unwrap_or(o.d),
                step: o.step.map(|s| s as u64),
                train_loss: None,
                val_loss: Some(o.loss),
            })
            .collect();
        let last = (*rows.last().expect("a group has rows")).clone();
        out.push((run, last, curve));
    }
    out
}

/// Runs `isoflop import`.
pub fn run(args: Args, json: bool) -> Result<()> {
    let cols = args.columns.names();
    let file = read_observation_file(&args.file, &cols)?;
    let obs = file.rows;
    let sweep = match &args.sweep {
        Some(s) => s.clone(),
        None => args
            .file
            .file_stem()
            .and_then(|s| s.to_str())
            .map(|s| {
                s.chars()
                    .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' })
                    .collect()
            })
            .unwrap_or_else(|| "imported".into()),
    };
    if sweep.is_empty() {
        bail!("--sweep: give a name for the imported runs");
    }
    let sha = file.sha256;
    let (downstream, models): (Vec<Observation>, Vec<Observation>) =
        obs.iter().cloned().partition(|o| o.metric.is_some());
    let mut grouped = group(&models);
    // A downstream row whose model the file does not give: the model, from the row itself.
    let mut tuned = Vec::new();
    for (i, o) in downstream.iter().enumerate() {
        let same = |m: &Observation| m.n == o.n && m.d == o.d && m.loss == o.loss;
        let model = match grouped.iter().find(|(_, m, _)| same(m)) {
            Some((key, _, _)) => key.clone(),
            None => {
                let mut m = o.clone();
                (m.metric, m.task, m.method) = (None, None, None);
                let key = format!("model{}", grouped.len() + 1);
                grouped.push((key.clone(), m, vec![]));
                key
            }
        };
        tuned.push((i, model));
    }
    let mut runs: Vec<(NewRun, Metrics, Vec<CurvePoint>)> = grouped
        .into_iter()
        .map(|(key, o, curve)| {
            let c = o.compute();
            (
                NewRun {
                    key,
                    config: serde_json::json!({ "imported_from": args.file, "sha256": sha }),
                    params: o.n,
                    tokens: o.d,
                    flops: c,
                    budget: None,
                    seed: 0,
                    engine: None,
                },
                Metrics { loss: Some(o.loss), ..Metrics::default() },
                curve,
            )
        })
        .collect();
    for (i, model) in tuned {
        let o = &downstream[i];
        let (task, method) =
            (o.task.as_deref().unwrap_or("task"), o.method.as_deref().unwrap_or("full"));
        let mut key = format!("{model}-ft-{task}-{method}");
        if runs.iter().any(|r| r.0.key == key) {
            key = format!("{key}-row{}", i + 1);
        }
        runs.push((
            NewRun {
                key,
                config: serde_json::json!({
                    "kind": "finetune", "after": [model], "task": task, "method": method,
                    "accuracy": o.metric, "imported_from": args.file, "sha256": sha,
                }),
                params: o.n,
                tokens: o.d,
                flops: o.compute(),
                budget: None,
                seed: 0,
                engine: None,
            },
            Metrics::default(),
            vec![],
        ));
    }
    let mut store = Store::open(&args.db)?;
    let spec = serde_json::json!({ "imported_from": args.file, "sha256": sha, "rows": obs.len() });
    let n = store
        .import(&sweep, &spec, &runs, args.replace_trained)
        .with_context(|| format!("cannot import {}", args.file.display()))?;
    if json {
        print_json(&serde_json::json!({
            "db": isoflop_store::display_location(&args.db), "sweep": sweep, "runs": n, "rows": obs.len(), "sha256": sha,
        }))
    } else {
        println!(
            "imported {n} runs ({} rows) from {} into sweep {sweep} of {}",
            obs.len(),
            args.file.display(),
            isoflop_store::display_location(&args.db)
        );
        Ok(())
    }
}
