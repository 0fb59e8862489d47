//! `isoflop predict`: the loss a saved fit predicts for N parameters and D tokens, with the
//! bootstrap's percentile 95% interval when the fit was made with `--bootstrap`.

use super::plan::{load_fit, parse_quantity};
use crate::format::num;
use crate::output::print_json;
use anyhow::Result;
use isoflop_law::Observation;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `isoflop predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A fit saved by `isoflop fit -o fit.json`.
    #[arg(long)]
    pub fit: PathBuf,
    /// Parameters N (accepts 7e9, 7B, 70M).
    #[arg(long, value_name = "N")]
    pub params: String,
    /// Training tokens D (accepts 1.4e12, 1.4T).
    #[arg(long, value_name = "D")]
    pub tokens: String,
    /// Unique tokens U (data-constrained form; default D).
    #[arg(long, value_name = "U")]
    pub unique_tokens: Option<String>,
}

#[derive(Serialize)]
struct Prediction {
    form: String,
    n: f64,
    d: f64,
    compute: f64,
    loss: f64,
    /// Where the law lies: bootstrap spread of the parameters.
    interval: Option<[f64; 2]>,
    /// Where a new run lands: bootstrap spread and the runs' scatter around the law.
    prediction_interval: Option<[f64; 2]>,
}

/// Runs `isoflop predict`.
pub fn run(args: Args, json: bool) -> Result<()> {
    let fit = load_fit(&args.fit)?;
    let n = parse_quantity("--params", &args.params)?;
    let d = parse_quantity("--tokens", &args.tokens)?;
    let mut o = Observation::new(n, d, 1.0);
    if let Some(u) = &args.unique_tokens {
        o.u = Some(parse_quantity("--unique-tokens", u)?);
    }
    if !fit.form.is_loss_law() {
        anyhow::bail!(
            "{}: form {} predicts a metric, not loss; predict needs a loss law",
            args.fit.display(),
            fit.form
        );
    }
    let p = Prediction {
        form: fit.form.to_string(),
        n,
        d,
        compute: o.compute(),
        loss: fit.predict_obs(&o),
        interval: fit.predict_interval_obs(&o),
        prediction_interval: fit.prediction_interval_obs(&o),
    };
    if json {
        return print_json(&p);
    }
    let iv = p
        .interval
        .map(|[lo, hi]| format!("  95% [{lo:.4}, {hi:.4}]"))
        .unwrap_or_else(|| "  (no interval: fit with --bootstrap for one)".into());
    println!("{} law from {}", p.form, args.fit.display());
    println!("  N = {}  D = {}  C = {}", num(n), num(d), num(p.compute));
    println!("  loss = {:.4}{}", p.loss, iv);
    if let Some([lo, hi]) = p.prediction_interval {
        println!("  a new run: 95% [{lo:.4}, {hi:.4}] (law spread and run-to-run scatter)");
    }
    Ok(())
}
