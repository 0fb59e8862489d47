//! `isoflop fit --downstream`: the two-step downstream law (Bhagia et al. 2024): a loss law on
//! each model's (N, D, loss), then the task metric against the loss, with the bootstrap
//! through both steps.
//!
//! One file can hold both kinds of row: the pretraining runs (N, D, loss) and the fine-tunes
//! (the same model's N, D and loss, plus `metric`, `task`, `method`). Step 1 takes every
//! distinct model once, so a model fine-tuned on three tasks is not counted three times;
//! step 2 takes the rows with a metric, of the one task and method asked for.

use super::Args;
use super::print::print_fit;
use crate::output::{print_json, write_atomic};
use anyhow::{Context, Result, bail};
use isoflop_law::{Downstream, DownstreamOptions, Observation, fit_two_step};

/// Fits, saves with `-o` and prints the two-step law.
pub(super) fn run(args: &Args, obs: &[Observation], json: bool) -> Result<()> {
    let form = super::form_of(&args.form, args.irreducible)?;
    // Bootstrap, seed and grid stride go to both steps through `DownstreamOptions`.
    let loss = super::options(args, form)?;
    let opts = DownstreamOptions {
        loss,
        chance: args.chance,
        bootstrap: args.bootstrap,
        seed: args.seed,
        grid_stride: args.grid_stride,
        ..DownstreamOptions::default()
    };
    let (models, metric) = split_rows(obs, args.task.as_deref(), args.method.as_deref())
        .with_context(|| format!("downstream rows of {}", args.data.display()))?;
    let mut d = fit_two_step(&models, &metric, &opts)
        .with_context(|| format!("fitting a downstream law to {}", args.data.display()))?;
    d.loss_fit.input = Some(args.data.display().to_string());
    d.loss_fit.input_sha256 = args.data_sha256.clone();
    d.metric_fit.input = d.loss_fit.input.clone();
    d.metric_fit.input_sha256 = args.data_sha256.clone();
    if let Some(path) = &args.output {
        write_atomic(path, d.to_json()?.as_bytes())
            .with_context(|| format!("saving the downstream law to {}", path.display()))?;
    }
    if json {
        return print_json(&d);
    }
    print(&d, args);
    Ok(())
}

/// Step 1's rows (each distinct model once) and step 2's (the rows with a metric, of the task
/// and method asked for). Rows of several tasks or methods need a choice.
fn split_rows(
    obs: &[Observation],
    task: Option<&str>,
    method: Option<&str>,
) -> Result<(Vec<Observation>, Vec<Observation>)> {
    let mut models: Vec<Observation> = Vec::new();
    for o in obs {
        if !models.iter().any(|m| m.n == o.n && m.d == o.d && m.loss == o.loss) {
            let mut m = o.clone();
            (m.metric, m.task, m.method) = (None, None, None);
            models.push(m);
        }
    }
    let with_metric: Vec<&Observation> = obs.iter().filter(|o| o.metric.is_some()).collect();
    if with_metric.is_empty() {
        bail!("no row has a `metric` (the column --metric-col names): nothing to fit step 2 to");
    }
    let pick = |o: &Observation| {
        task.is_none_or(|t| o.task.as_deref() == Some(t))
            && method.is_none_or(|m| o.method.as_deref() == Some(m))
    };
    let metric: Vec<Observation> =
        with_metric.iter().filter(|o| pick(o)).map(|o| (*o).clone()).collect();
    if metric.is_empty() {
        let mut have: Vec<String> = with_metric
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o.task.as_deref().unwrap_or("-"),
                    o.method.as_deref().unwrap_or("-")
                )
            })
            .collect();
        have.sort();
        have.dedup();
        bail!(
            "no metric row has task {} and method {} (task/method present: {})",
            task.unwrap_or("any"),
            method.unwrap_or("any"),
            have.join(", ")
        );
    }
    Ok((models, metric))
}

fn print(d: &Downstream, args: &Args) {
    let what = d.label();
    println!(
        "downstream law{} in two steps (Bhagia et al. 2024):",
        if what.is_empty() { String::new() } else { format!(" for {what}") }
    );
    println!("step 1: loss from N and D");
    print_fit(&d.loss_fit, &args.data, None);
    println!("step 2: metric from loss");
    print_fit(&d.metric_fit, &args.data, None);
    let (lo, hi) = (d.floor(), d.ceiling());
    println!(
        "  the metric rises from {lo:.3} toward {hi:.3} as loss falls{}",
        if d.metric_fit.params["k"] < 0.0 { "" } else { " (k > 0: it falls as loss falls)" }
    );
    if let Some(path) = &args.output {
        println!(
            "saved to {}: `isoflop predict --fit {0} --params N --tokens D`, `isoflop plan --fit \
             {0} --target-accuracy A`",
            path.display()
        );
    }
}
