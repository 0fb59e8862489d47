//! `isoflop plan --target-accuracy A`: the least compute that reaches a task metric. From a
//! downstream law (`fit --downstream`): the loss the target needs, then the compute-optimal
//! model that reaches it, with intervals through both steps. From a `sigmoid` fit (metric
//! against compute): the compute alone.

use super::plan::{SavedLaw, load_law};
use crate::format::num;
use crate::output::print_json;
use anyhow::{Context, Result};
use isoflop_law::{Downstream, Fit, TargetPlan, compute_for_metric};
use std::path::Path;

/// Plans for target `a` with the law saved at `path`.
pub fn run(path: &Path, a: f64, json: bool) -> Result<()> {
    let ctx = || format!("planning --target-accuracy {a} with {}", path.display());
    match load_law(path)? {
        SavedLaw::Downstream(d) => {
            let p = d.plan_for_target(a).with_context(ctx)?;
            if json {
                return print_json(&serde_json::json!({
                    "kind": d.kind, "task": d.task, "method": d.method, "plan": p,
                }));
            }
            print_two_step(&d, &p, path);
        }
        SavedLaw::Fit(f) => sigmoid(&f, a, json).with_context(ctx)?,
    }
    Ok(())
}

fn iv(i: Option<[f64; 2]>) -> String {
    i.map(|[lo, hi]| format!("  95% [{}, {}]", num(lo), num(hi))).unwrap_or_default()
}

fn print_two_step(d: &Downstream, p: &TargetPlan, path: &Path) {
    let what = d.label();
    println!("least compute for metric {} ({what}) from {}", p.target, path.display());
    let loss_iv = p
        .loss_needed_interval
        .map(|[lo, hi]| format!("  95% [{lo:.4}, {hi:.4}]"))
        .unwrap_or_default();
    println!("  loss needed       {:.4}{loss_iv}", p.loss_needed);
    println!("  compute           {} FLOPs{}", num(p.plan.compute), iv(p.compute_interval));
    println!("  N                 {}{}", num(p.plan.n_opt), iv(p.n_interval));
    println!("  D                 {}{}", num(p.plan.d_opt), iv(p.d_interval));
    println!("  tokens per param  {:.2}", p.plan.tokens_per_param);
    println!("  metric range      floor {:.4} → ceiling {:.4}", p.floor, p.ceiling);
    if p.samples > 0 {
        println!(
            "  bootstrap         {} of {} samples reach the target{}",
            p.samples_reaching,
            p.samples,
            if p.samples_reaching < p.samples {
                " (the others' ceiling lies below it: the interval is of those that do)"
            } else {
                ""
            }
        );
    }
}

fn sigmoid(f: &Fit, a: f64, json: bool) -> Result<()> {
    let p = compute_for_metric(f, a)?;
    if json {
        return print_json(&p);
    }
    println!("least compute for metric {a} ({} law)", f.form);
    println!("  compute  {} FLOPs{}", num(p.compute), iv(p.compute_interval));
    println!("  (a law in C alone does not split it into N and D: fit --downstream for that)");
    Ok(())
}
