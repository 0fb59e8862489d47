//! `isoflop predict`: the loss a saved fit predicts for N parameters and D tokens, with the
//! bootstrap's percentile 95% interval when the fit was made with `--bootstrap` and the 95%
//! interval for a new run (widened beyond the fitted range when the fit was made with
//! `--calibrate-intervals`); from a downstream law (`fit --downstream`) the task metric
//! through both steps, and from a `sigmoid` fit the metric at C = 6ND. A fit made with
//! `--select --select-average` predicts the averaged law: the weighted mean of its candidates'
//! predictions, with intervals from the weighted mixture of their draws.

use super::plan::{SavedLaw, load_law, parse_quantity};
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
    /// Where a new run lands: bootstrap spread and the runs' scatter around the law, widened
    /// with the distance beyond the fitted range when the fit's interval is calibrated.
    prediction_interval: Option<[f64; 2]>,
    /// With a calibrated fit: how far (N, D) lies beyond the fitted range (ln units).
    #[serde(skip_serializing_if = "Option::is_none")]
    extrapolation_distance: Option<f64>,
    /// With a calibrated fit: the in-sample interval before widening.
    #[serde(skip_serializing_if = "Option::is_none")]
    in_sample_prediction_interval: Option<[f64; 2]>,
    /// With an averaged fit: each candidate's weight and prediction (`loss` is their
    /// weighted mean).
    #[serde(skip_serializing_if = "Option::is_none")]
    average: Option<Vec<AverageTerm>>,
}

#[derive(Serialize)]
struct AverageTerm {
    name: String,
    weight: f64,
    loss: f64,
}

/// Runs `isoflop predict`.
pub fn run(args: Args, json: bool) -> Result<()> {
    let n = parse_quantity("--params", &args.params)?;
    let d = parse_quantity("--tokens", &args.tokens)?;
    let fit = match load_law(&args.fit)? {
        SavedLaw::Fit(f) => *f,
        SavedLaw::Downstream(ds) => return downstream(&args, &ds, n, d, json),
    };
    let mut o = Observation::new(n, d, 1.0);
    if let Some(u) = &args.unique_tokens {
        o.u = Some(parse_quantity("--unique-tokens", u)?);
    }
    if fit.form == isoflop_law::Form::sigmoid(isoflop_law::SigmoidAxis::Compute) {
        return sigmoid(&args, &fit, &o, json);
    }
    if !fit.form.is_loss_law() {
        anyhow::bail!(
            "{}: form {} predicts a metric from a loss, which N and D alone do not give; fit \
             `isoflop fit --downstream` (loss law, then metric) to predict from N and D",
            args.fit.display(),
            fit.form
        );
    }
    let average = fit.selection.as_ref().and_then(|s| s.average.as_ref());
    if let Some(a) = average {
        let p = Prediction {
            form: fit.form.to_string(),
            n,
            d,
            compute: o.compute(),
            loss: a.predict_obs(&o),
            interval: a.predict_interval_obs(&o),
            prediction_interval: a.prediction_interval_obs(&o),
            extrapolation_distance: None,
            in_sample_prediction_interval: None,
            average: Some(
                a.member_predictions(&o)
                    .into_iter()
                    .map(|(name, weight, loss)| AverageTerm { name: name.into(), weight, loss })
                    .collect(),
            ),
        };
        if json {
            return print_json(&p);
        }
        println!("model average from {}", args.fit.display());
        println!("  N = {}  D = {}  C = {}", num(n), num(d), num(p.compute));
        println!("  loss = {:.4}{}", p.loss, interval(p.interval));
        if let Some([lo, hi]) = p.prediction_interval {
            println!("  a new run: 95% [{lo:.4}, {hi:.4}] (mixture of the candidates' draws)");
        }
        for t in p.average.iter().flatten() {
            println!("    {:<24} weight {:.3}  loss {:.4}", t.name, t.weight, t.loss);
        }
        return Ok(());
    }
    let p = Prediction {
        form: fit.form.to_string(),
        n,
        d,
        compute: o.compute(),
        loss: fit.predict_obs(&o),
        interval: fit.predict_interval_obs(&o),
        prediction_interval: fit.prediction_interval_obs(&o),
        extrapolation_distance: fit.extrapolation_distance(n, d),
        in_sample_prediction_interval: fit
            .calibration
            .as_ref()
            .and_then(|_| fit.in_sample_prediction_interval_obs(&o)),
        average: None,
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
    match (p.prediction_interval, p.extrapolation_distance) {
        (Some([lo, hi]), Some(x)) if x > 0.0 => println!(
            "  a new run: 95% [{lo:.4}, {hi:.4}] (law spread and run-to-run scatter, widened \
             for {x:.2} ln-units beyond the fitted range)"
        ),
        (Some([lo, hi]), Some(_)) => println!(
            "  a new run: 95% [{lo:.4}, {hi:.4}] (law spread and run-to-run scatter; inside \
             the fitted range)"
        ),
        (Some([lo, hi]), None) => {
            println!("  a new run: 95% [{lo:.4}, {hi:.4}] (law spread and run-to-run scatter)")
        }
        (None, _) => {}
    }
    Ok(())
}

fn interval(iv: Option<[f64; 2]>) -> String {
    iv.map(|[lo, hi]| format!("  95% [{lo:.4}, {hi:.4}]"))
        .unwrap_or_else(|| "  (no interval: fit with --bootstrap for one)".into())
}

/// The two-step law's metric at (N, D), through the loss.
fn downstream(args: &Args, ds: &isoflop_law::Downstream, n: f64, d: f64, json: bool) -> Result<()> {
    if args.unique_tokens.is_some() {
        anyhow::bail!(
            "--unique-tokens applies to the data-constrained loss law, not a downstream law"
        );
    }
    let p = ds.predict(n, d);
    if json {
        return print_json(&serde_json::json!({
            "kind": ds.kind, "task": ds.task, "method": ds.method,
            "n": p.n, "d": p.d, "compute": p.compute,
            "loss": p.loss, "loss_interval": p.loss_interval,
            "metric": p.metric, "metric_interval": p.metric_interval,
        }));
    }
    let what = ds.label();
    println!("downstream law {what} from {} (two steps)", args.fit.display());
    println!("  N = {}  D = {}  C = {}", num(n), num(d), num(p.compute));
    println!("  loss   = {:.4}{}", p.loss, interval(p.loss_interval));
    println!("  metric = {:.4}{}", p.metric, interval(p.metric_interval));
    Ok(())
}

/// A sigmoid-in-compute fit's metric at C = 6ND.
fn sigmoid(args: &Args, fit: &isoflop_law::Fit, o: &Observation, json: bool) -> Result<()> {
    let metric = fit.predict_obs(o);
    let iv = fit.predict_interval_obs(o);
    if json {
        return print_json(&serde_json::json!({
            "form": fit.form.to_string(), "n": o.n, "d": o.d, "compute": o.compute(),
            "metric": metric, "interval": iv,
            "prediction_interval": fit.prediction_interval_obs(o),
        }));
    }
    println!("{} law from {}", fit.form, args.fit.display());
    println!("  N = {}  D = {}  C = {}", num(o.n), num(o.d), num(o.compute()));
    println!("  metric = {metric:.4}{}", interval(iv));
    Ok(())
}
