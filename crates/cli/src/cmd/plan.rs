//! `isoflop plan`: from a saved fit to the compute-optimal N and D (closed form for
//! Chinchilla, cross-checked numerically), or the least compute for a target loss, or the
//! budget at which a given N is optimal, or the smaller, longer-trained model that minimises
//! training plus inference FLOPs (Sardana et al. 2023); from a downstream law (`fit
//! --downstream`), the least compute whose compute-optimal model reaches a target accuracy.
//! A fit made with `--select --select-average` plans a budget, a target loss or a size with
//! the averaged law's weighted-mean loss, as `predict` predicts with it; the inference-aware
//! and memory plans use the chosen form and say so.

use crate::format::num;
use crate::output::print_json;
use anyhow::{Context, Result, bail};
use isoflop_law::{Downstream, Fit, Plan, plan};
use std::path::{Path, PathBuf};

/// Arguments of `isoflop plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A fit saved by `isoflop fit -o fit.json`.
    #[arg(long)]
    pub fit: PathBuf,
    /// Training budget in FLOPs (accepts 5.76e23).
    #[arg(
        long,
        value_name = "FLOPS",
        required_unless_present_any = ["target_loss", "params", "target_accuracy"]
    )]
    pub compute: Option<String>,
    /// With a downstream law (`fit --downstream`) or a `sigmoid` fit: the least compute
    /// whose compute-optimal model reaches this accuracy (or other metric, as a fraction).
    #[arg(long, value_name = "A", conflicts_with_all = ["compute", "params", "target_loss"])]
    pub target_accuracy: Option<f64>,
    /// Find the least compute that reaches this loss.
    #[arg(long, value_name = "LOSS", conflicts_with_all = ["compute", "params"])]
    pub target_loss: Option<f64>,
    /// Find the budget at which this many parameters is compute-optimal, and its D.
    #[arg(long, value_name = "N", conflicts_with = "compute")]
    pub params: Option<String>,
    /// With --compute or --target-loss: also plan for this many lifetime inference tokens,
    /// minimising 6ND + 2NT at that loss (the compute-optimal plan's, or the target).
    #[arg(long, value_name = "T", conflicts_with = "params")]
    pub inference_tokens: Option<String>,
    /// With --compute: the N, weight precision and D that minimise predicted loss when the
    /// weights must fit this many bytes (e.g. 4GiB, 500MB).
    #[arg(long, value_name = "BYTES", requires = "compute")]
    pub memory_budget: Option<String>,
    /// With --memory-budget: the `isoflop compress --all --json` output whose loss-delta fits
    /// price int8 and int4 (without it they are assumed lossless).
    #[arg(long, value_name = "FILE", requires = "memory_budget")]
    pub compression_fit: Option<PathBuf>,
}

/// Reads a fit.json, naming the file in every error.
pub fn load_fit(path: &Path) -> Result<Fit> {
    match load_law(path)? {
        SavedLaw::Fit(f) => Ok(*f),
        SavedLaw::Downstream(_) => bail!(
            "{}: this is a downstream law (fit --downstream); it plans with --target-accuracy \
             and predicts with `isoflop predict`",
            path.display()
        ),
    }
}

/// What `-o` of `isoflop fit` saved: a fit, or a two-step downstream law.
pub enum SavedLaw {
    /// A fit.json.
    Fit(Box<Fit>),
    /// A downstream law of `fit --downstream`.
    Downstream(Box<Downstream>),
}

/// Reads either kind of saved law, by its `kind`; every error names the file.
pub fn load_law(path: &Path) -> Result<SavedLaw> {
    let what = || format!("cannot load fit {}", path.display());
    let text = std::fs::read_to_string(path).with_context(what)?;
    if Downstream::is_downstream_json(&text) {
        let d = Downstream::from_json(&text, Some(path)).with_context(what)?;
        return Ok(SavedLaw::Downstream(Box::new(d)));
    }
    Ok(SavedLaw::Fit(Box::new(Fit::from_json(&text, Some(path)).with_context(what)?)))
}

/// Parses a positive quantity with an optional k/M/B/G/T suffix (7B = 7e9), naming the flag.
pub fn parse_quantity(flag: &str, text: &str) -> Result<f64> {
    let t = text.trim();
    let (body, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('B' | 'G') => (&t[..t.len() - 1], 1e9),
        Some('T') => (&t[..t.len() - 1], 1e12),
        _ => (t, 1.0),
    };
    let v: f64 = body.parse().map_err(|_| {
        anyhow::anyhow!("{flag} `{text}`: not a number (examples: 5.76e23, 7B, 1.4T)")
    })?;
    let v = v * mult;
    if !(v > 0.0 && v.is_finite()) {
        bail!("{flag} `{text}`: must be a finite number > 0");
    }
    Ok(v)
}

/// Runs `isoflop plan`.
pub fn run(args: Args, json: bool) -> Result<()> {
    if let Some(a) = args.target_accuracy {
        return super::plan_accuracy::run(&args.fit, a, json);
    }
    let fit = load_fit(&args.fit)?;
    let ctx = || format!("planning with {}", args.fit.display());
    let average = fit.selection.as_ref().and_then(|s| s.average.as_ref());
    // The inference-aware and memory plans search the chosen form's surface only.
    let chosen_only = |what: &str| {
        if average.is_some() && !json {
            println!(
                "{} holds a model average; {what} plans with the chosen form, {}",
                args.fit.display(),
                fit.form
            );
        }
    };
    if let Some(b) = &args.memory_budget {
        use super::plan_memory as pm;
        let deltas = match &args.compression_fit {
            Some(p) => pm::load_compression_fits(p)?,
            None => Vec::new(),
        };
        let budget = pm::parse_bytes(b)?;
        chosen_only("--memory-budget");
        let p = pm::memory_plan(&fit, pm::compute(args.compute.as_deref())?, budget, &deltas)
            .with_context(ctx)?;
        if json {
            return print_json(&p);
        }
        pm::print(&p);
        return Ok(());
    }
    if let Some(t) = &args.inference_tokens {
        let t = parse_quantity("--inference-tokens", t)?;
        chosen_only("--inference-tokens");
        let p = match (&args.compute, args.target_loss) {
            (Some(c), _) => plan::inference_aware(&fit, parse_quantity("--compute", c)?, t),
            (None, Some(l)) => plan::inference_aware_for_loss(&fit, l, t),
            (None, None) => bail!("--inference-tokens needs --compute or --target-loss"),
        }
        .with_context(ctx)?;
        if json {
            return print_json(&p);
        }
        let title = match args.target_loss {
            Some(_) => "least training compute for the target loss",
            None => "compute-optimal (training only)",
        };
        print_plan(title, &p.chinchilla);
        println!("with {} inference tokens, same loss {:.4}:", num(t), p.loss);
        println!("  N = {}  ({:.2}x the compute-optimal N)", num(p.n), p.n_ratio);
        println!(
            "  D = {}  ({:.2}x the compute-optimal D, {:.1} tokens/param)",
            num(p.d),
            p.d_ratio,
            p.tokens_per_param
        );
        println!(
            "  training {} + inference {} = {} FLOPs ({:.1}% less than {} for the compute-optimal model)",
            num(p.train_flops),
            num(p.inference_flops),
            num(p.train_flops + p.inference_flops),
            100.0 * p.flops_saved,
            num(p.chinchilla_total_flops)
        );
        return Ok(());
    }
    let p = if let Some(l) = args.target_loss {
        match average {
            Some(a) => plan::for_target_loss_average(a, l),
            None => plan::for_target_loss(&fit, l),
        }
    } else if let Some(n) = &args.params {
        let n = parse_quantity("--params", n)?;
        match average {
            Some(a) => plan::for_params_average(a, n),
            None => plan::for_params(&fit, n),
        }
    } else {
        let c = args
            .compute
            .as_deref()
            .context("one of --compute, --target-loss, --params is required")?;
        let c = parse_quantity("--compute", c)?;
        match average {
            Some(a) => plan::compute_optimal_average(a, c),
            None => plan::compute_optimal(&fit, c),
        }
    }
    .with_context(ctx)?;
    if json {
        return print_json(&p);
    }
    let title = match average {
        Some(_) => format!("model average plan from {}", args.fit.display()),
        None => format!("{} plan from {}", fit.form, args.fit.display()),
    };
    print_plan(&title, &p);
    Ok(())
}

fn print_plan(title: &str, p: &Plan) {
    let iv = |i: Option<[f64; 2]>| {
        i.map(|[lo, hi]| format!("  95% [{}, {}]", num(lo), num(hi))).unwrap_or_default()
    };
    println!("{title}");
    println!("  compute           {} FLOPs", num(p.compute));
    println!("  N_opt             {}{}", num(p.n_opt), iv(p.n_opt_interval));
    println!("  D_opt             {}{}", num(p.d_opt), iv(p.d_opt_interval));
    println!("  tokens per param  {:.2}", p.tokens_per_param);
    println!("  loss              {:.4}{}", p.loss, iv(p.loss_interval));
    match p.numeric_check {
        Some(c) => {
            println!("  method            {} (numeric search agrees to {:.1e})", p.method, c)
        }
        None => println!("  method            {}", p.method),
    }
    if let Some(members) = &p.average {
        println!("  weighted mean of the candidates' losses (intervals: mixture of their draws)");
        for m in members {
            println!(
                "    {:<24} weight {:.3}  own N_opt {}  loss here {:.4}",
                m.name,
                m.weight,
                num(m.n_opt),
                m.loss
            );
        }
    }
}
