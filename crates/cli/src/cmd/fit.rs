//! `isoflop fit`: fit a scaling law to (N, D, loss) observations.
//!
//! Approach 3 (the default) fits a parametric form with summed Huber loss from a grid of
//! starts; `--approach envelope` and `--approach isoflop` run Chinchilla's approaches 1 and 2.
//! `-o fit.json` saves the fit (with its options, input sha256 and bootstrap samples) for
//! `isoflop predict` and `isoflop plan`.

use crate::output::{print_json, write_atomic};
use anyhow::{Context, Result, bail};
use isoflop_law::{
    Candidate, ColumnNames, Fit, FitOptions, Form, Holdout, Observation, SelectOptions, SelectRule,
    approaches, evaluate_holdout, fit_with_progress, read_observation_file, select, split_holdout,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which of Chinchilla's three approaches to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Approach {
    /// Approach 3: fit the parametric form (default).
    Parametric,
    /// Approach 1: envelope of training curves, then power laws.
    Envelope,
    /// Approach 2: IsoFLOP parabolas per budget, then power laws.
    Isoflop,
}

/// Arguments of `isoflop fit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Observations: a .csv (header row) or .jsonl file with columns N, D, loss (optional C, U,
    /// run, step, tokens, metric).
    #[arg(value_name = "DATA", required_unless_present = "sweep")]
    pub data_file: Option<PathBuf>,
    /// The input as messages name it: DATA, or `<db>#<sweep>`.
    #[arg(skip)]
    pub data: PathBuf,
    /// sha256 of the input file's bytes, from the same read that gave the rows.
    #[arg(skip)]
    pub data_sha256: Option<String>,
    /// With --sweep: the run store to read the observations from.
    #[arg(long, default_value = "isoflop.db")]
    pub db: PathBuf,
    /// Fit the finished runs of this sweep of the run store instead of a file (failed and
    /// diverged runs are left out with a warning naming them).
    #[arg(long, conflicts_with = "data_file")]
    pub sweep: Option<String>,
    /// Law form: chinchilla, kaplan-n, kaplan-d, kaplan-c, kaplan-nd, data-constrained,
    /// sigmoid (metric vs ln C), sigmoid-loss (metric vs loss).
    #[arg(long, default_value = "chinchilla")]
    pub form: String,
    /// Add an irreducible loss E to a kaplan-n/d/c form.
    #[arg(long)]
    pub irreducible: bool,
    /// Which approach: parametric (3), envelope (1) or isoflop (2).
    #[arg(long, value_enum, default_value = "parametric")]
    pub approach: Approach,
    /// Name of the parameters column.
    #[arg(long, default_value = "N")]
    pub n_col: String,
    /// Name of the training-tokens column.
    #[arg(long, default_value = "D")]
    pub d_col: String,
    /// Name of the loss column.
    #[arg(long, default_value = "loss")]
    pub loss_col: String,
    /// Name of the FLOPs column (absent: C = 6·N·D).
    #[arg(long, default_value = "C")]
    pub c_col: String,
    /// Name of the unique-tokens column (data-constrained form).
    #[arg(long, default_value = "U")]
    pub u_col: String,
    /// Name of the downstream-metric column (sigmoid forms).
    #[arg(long, default_value = "metric")]
    pub metric_col: String,
    /// Huber δ on log-loss residuals (Hoffmann et al. 2022: 1e-3).
    #[arg(long, default_value_t = isoflop_law::HOFFMANN_DELTA)]
    pub huber_delta: f64,
    /// Bootstrap resamples for percentile 95% intervals (0: none).
    #[arg(long, default_value_t = 0)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use every k-th start of the grid (1: the whole grid).
    #[arg(long, default_value_t = 1)]
    pub grid_stride: usize,
    /// Hold a parameter fixed, in reported units (repeatable): --fix E=1.69 --fix alpha=0.34.
    #[arg(long, value_name = "NAME=VALUE")]
    pub fix: Vec<String>,
    /// Tie the exponents (α = β) of chinchilla and data-constrained.
    #[arg(long)]
    pub tie_exponents: bool,
    /// Bound a parameter, in reported units (repeatable): --bound alpha=0:1 --bound E=1.5:
    /// (either side may be left empty).
    #[arg(long, value_name = "NAME=LO:HI")]
    pub bound: Vec<String>,
    /// Choose the form by held-out error: hold out the largest models (see --select-by), fit
    /// every candidate on the rest, keep the simplest one within one standard error of the
    /// best held-out error, refit it on all runs.
    #[arg(long, conflicts_with_all = ["holdout_above_compute", "holdout_top"])]
    pub select: bool,
    /// Candidates for --select, comma separated (a form name, `-tied` for α = β).
    #[arg(long, value_delimiter = ',', default_value = "chinchilla,chinchilla-tied,kaplan-nd")]
    pub candidates: Vec<String>,
    /// What --select holds out: `sizes` (every run of the largest model, then of the two
    /// largest), `compute` (runs above --select-quantile of compute) or `rolling` (each
    /// compute decade predicts the next).
    #[arg(long, default_value = "sizes", value_parser = parse_select_rule, requires = "select")]
    pub select_by: SelectRule,
    /// --select-by compute holds out runs above this quantile of compute (0.8: the top 20%).
    #[arg(long, default_value_t = 0.8)]
    pub select_quantile: f64,
    /// Shorthand for --select-by rolling.
    #[arg(long, requires = "select")]
    pub rolling: bool,
    /// data-constrained: also fit R_N* and R_D* (held at Muennighoff et al.'s values otherwise).
    #[arg(long)]
    pub fit_repetition: bool,
    /// Extrapolation check: fit on rows with C at or below this many FLOPs, predict the rest.
    #[arg(long, value_name = "FLOPS", conflicts_with = "holdout_top")]
    pub holdout_above_compute: Option<f64>,
    /// Extrapolation check: hold out the K rows of largest compute.
    #[arg(long, value_name = "K")]
    pub holdout_top: Option<usize>,
    /// Approach 2: runs within ±this fraction of a budget's compute form its profile.
    #[arg(long, default_value_t = 0.1)]
    pub budget_tolerance: f64,
    /// Approach 1: number of FLOP values on the envelope grid.
    #[arg(long, default_value_t = 250)]
    pub envelope_points: usize,
    /// Write the result (fit.json) here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Runs `isoflop fit`.
pub fn run(mut args: Args, json: bool) -> Result<()> {
    let cols = ColumnNames {
        n: args.n_col.clone(),
        d: args.d_col.clone(),
        loss: args.loss_col.clone(),
        c: args.c_col.clone(),
        u: args.u_col.clone(),
        metric: args.metric_col.clone(),
        ..ColumnNames::default()
    };
    let obs = match args.sweep.clone() {
        // From the run store (issue 6): curve rows for approach 1, final rows otherwise.
        Some(sweep) => {
            let curves = args.approach == Approach::Envelope;
            let obs = crate::cmd::export::sweep_observations(&args.db, &sweep, curves)?;
            args.data = PathBuf::from(format!("{}#{sweep}", args.db.display()));
            obs
        }
        None => {
            args.data = args.data_file.clone().expect("clap requires DATA without --sweep");
            let file = read_observation_file(&args.data, &cols)?;
            args.data_sha256 = Some(file.sha256);
            file.rows
        }
    };
    match args.approach {
        Approach::Parametric => run_parametric(&args, &obs, json),
        Approach::Envelope => {
            let env = approaches::envelope(&obs, args.envelope_points, args.bootstrap, args.seed)
                .with_context(|| format!("approach 1 on {}", args.data.display()))?;
            save(&args, &env)?;
            if json {
                return print_json(&env);
            }
            println!(
                "approach 1 (envelope of {} curve rows): {} envelope points",
                obs.len(),
                env.points.len()
            );
            let (n, d) = (&env.n_opt, &env.d_opt);
            println!("  N_opt = {:.4e} · C^{:.4}{}", n.coefficient, n.exponent, interval(n));
            println!("  D_opt = {:.4e} · C^{:.4}{}", d.coefficient, d.exponent, interval(d));
            Ok(())
        }
        Approach::Isoflop => {
            let iso = approaches::isoflop(&obs, args.budget_tolerance, args.bootstrap, args.seed)
                .with_context(|| format!("approach 2 on {}", args.data.display()))?;
            for w in &iso.warnings {
                eprintln!("warning: {w}");
            }
            save(&args, &iso)?;
            if json {
                return print_json(&iso);
            }
            println!("approach 2 (IsoFLOP profiles):");
            println!(
                "  {:>12} {:>5} {:>12} {:>12} {:>8}",
                "C [FLOPs]", "runs", "N_opt", "D_opt", "loss"
            );
            for b in &iso.budgets {
                match (b.n_opt, b.d_opt, b.loss_opt) {
                    (Some(n), Some(d), Some(l)) => println!(
                        "  {:>12.3e} {:>5} {:>12.4e} {:>12.4e} {:>8.4}",
                        b.compute, b.runs, n, d, l
                    ),
                    _ => println!(
                        "  {:>12.3e} {:>5} refused: {}",
                        b.compute,
                        b.runs,
                        b.refused.as_deref().unwrap_or("")
                    ),
                }
            }
            let (n, d) = (&iso.n_opt, &iso.d_opt);
            println!("  N_opt = {:.4e} · C^{:.4}{}", n.coefficient, n.exponent, interval(n));
            println!("  D_opt = {:.4e} · C^{:.4}{}", d.coefficient, d.exponent, interval(d));
            Ok(())
        }
    }
}

/// Writes `value` to `-o`, if given.
fn save<T: serde::Serialize>(args: &Args, value: &T) -> Result<()> {
    if let Some(path) = &args.output {
        let text = serde_json::to_string_pretty(value)?;
        write_atomic(path, text.as_bytes())
            .with_context(|| format!("saving the fit to {}", path.display()))?;
    }
    Ok(())
}

/// Parses `NAME=VALUE` pairs of `--fix`.
fn parse_select_rule(s: &str) -> std::result::Result<SelectRule, String> {
    s.parse().map_err(|e: isoflop_law::Error| e.to_string())
}

fn parse_fixed(pairs: &[String]) -> Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            bail!("--fix `{p}`: expected NAME=VALUE, e.g. --fix E=1.69");
        };
        let v: f64 =
            v.trim().parse().with_context(|| format!("--fix `{p}`: `{v}` is not a number"))?;
        out.insert(k.trim().to_string(), v);
    }
    Ok(out)
}

/// Parses `NAME=LO:HI` pairs of `--bound`.
fn parse_bounds(pairs: &[String]) -> Result<isoflop_law::Bounds> {
    let mut out = BTreeMap::new();
    for p in pairs {
        let Some((k, range)) = p.split_once('=') else {
            bail!("--bound `{p}`: expected NAME=LO:HI, e.g. --bound alpha=0:1");
        };
        let Some((lo, hi)) = range.split_once(':') else {
            bail!("--bound `{p}`: expected LO:HI after `=`, e.g. 0:1, 1.5: or :2");
        };
        let side = |t: &str| -> Result<Option<f64>> {
            let t = t.trim();
            if t.is_empty() {
                return Ok(None);
            }
            Ok(Some(t.parse().with_context(|| format!("--bound `{p}`: `{t}` is not a number"))?))
        };
        out.insert(k.trim().to_string(), (side(lo)?, side(hi)?));
    }
    Ok(out)
}

/// The form named by `--form`, with `--irreducible` applied.
pub fn form_of(name: &str, irreducible: bool) -> Result<Form> {
    let form: Form = name.parse().context("--form")?;
    if !irreducible {
        return Ok(form);
    }
    match form.with_irreducible() {
        Some(f) => Ok(f),
        None => {
            let can: Vec<&str> = Form::ALL
                .iter()
                .filter(|f| f.with_irreducible().is_some())
                .map(|f| f.name())
                .collect();
            bail!("--irreducible applies to {}, not {form}", can.join(", "))
        }
    }
}

fn run_parametric(args: &Args, obs: &[Observation], json: bool) -> Result<()> {
    let form = form_of(&args.form, args.irreducible)?;
    let opts = FitOptions {
        form,
        huber_delta: args.huber_delta,
        fixed: parse_fixed(&args.fix)?,
        tie_exponents: args.tie_exponents,
        bounds: parse_bounds(&args.bound)?,
        free_defaults: args.fit_repetition,
        grid_stride: args.grid_stride,
        bootstrap: args.bootstrap,
        seed: args.seed,
        ..FitOptions::default()
    };
    if args.select {
        return run_select(args, obs, opts, json);
    }
    let holdout = match (args.holdout_above_compute, args.holdout_top) {
        (Some(c), _) => Some(Holdout::AboveCompute(c)),
        (None, Some(k)) => Some(Holdout::TopK(k)),
        _ => None,
    };
    let (train, test) = match holdout {
        Some(h) => {
            let (a, b) = split_holdout(obs, h)
                .with_context(|| format!("holdout on {}", args.data.display()))?;
            (a, Some(b))
        }
        None => (obs.to_vec(), None),
    };
    let bar = FitBar::new(json);
    let mut f = fit_with_progress(&train, &opts, &|s, k, n| bar.update(s, k, n))
        .with_context(|| format!("fitting {} to {}", form, args.data.display()))?;
    bar.done();
    f.input = Some(args.data.display().to_string());
    f.input_sha256 = args.data_sha256.clone();
    warn_unidentified(&f);
    if let Some(test) = &test {
        f.holdout = Some(evaluate_holdout(&f, test));
    }
    save(args, &f)?;
    if json {
        return print_json(&f);
    }
    print_fit(&f, &args.data, args.output.as_deref());
    Ok(())
}

/// A progress bar on stderr for a long fit: the starts, then the bootstrap's resamples (drawn
/// only on a terminal, never under `--json`).
struct FitBar {
    bar: indicatif::ProgressBar,
}

impl FitBar {
    fn new(json: bool) -> Self {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let target =
            if json { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr_with_hz(4) };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:<20} [{bar:30}] {pos}/{len} · {elapsed} · {eta} left",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Self { bar }
    }

    fn update(&self, stage: isoflop_law::FitStage, done: usize, total: usize) {
        let msg = match stage {
            isoflop_law::FitStage::Starts => "fit: starts",
            isoflop_law::FitStage::Bootstrap => "bootstrap: resamples",
        };
        if self.bar.message() != msg {
            self.bar.set_message(msg);
            self.bar.reset();
            self.bar.set_length(total as u64);
        }
        // Workers report out of order: the bar only moves forward.
        self.bar.set_position(self.bar.position().max(done as u64));
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}

fn run_select(args: &Args, obs: &[Observation], base: FitOptions, json: bool) -> Result<()> {
    let candidates = args
        .candidates
        .iter()
        .map(|c| Candidate::parse(c.trim(), &base).with_context(|| format!("--candidates `{c}`")))
        .collect::<Result<Vec<_>>>()?;
    let rule = if args.rolling { SelectRule::RollingOrigin } else { args.select_by };
    let sel = SelectOptions { candidates, rule, quantile: args.select_quantile };
    let mut f = select(obs, &sel)
        .with_context(|| format!("selecting a form for {}", args.data.display()))?;
    if base.bootstrap > 0 {
        // Candidates are scored without a bootstrap; the chosen refit gets the one asked for.
        f.options.bootstrap = base.bootstrap;
        f.options.seed = base.seed;
        let bar = FitBar::new(json);
        let samples = isoflop_law::bootstrap_with_progress(
            &f,
            obs,
            base.bootstrap,
            base.seed,
            &|s, k, n| bar.update(s, k, n),
        )?;
        bar.done();
        f.bootstrap = Some(samples);
        f.intervals = isoflop_law::intervals_of(&f);
    }
    f.input = Some(args.data.display().to_string());
    f.input_sha256 = args.data_sha256.clone();
    warn_unidentified(&f);
    save(args, &f)?;
    if json {
        return print_json(&f);
    }
    let s = f.selection.as_ref().expect("select records its selection");
    let cuts: Vec<String> = s.cuts.iter().map(|c| format!("{c:.3e}")).collect();
    match s.rule.as_str() {
        "largest-sizes" => println!(
            "form selection ({}: held out N >= {} parameters):",
            s.rule,
            cuts.join(", then N >= ")
        ),
        _ => println!("form selection ({}, cut at {} FLOPs):", s.rule, cuts.join(", ")),
    }
    println!(
        "  {:<20} {:>10} {:>10} {:>16} {:>5} {:>8} {:>8}",
        "candidate", "mean err", "worst err", "margin ± se", "free", "held", "inside"
    );
    for c in &s.candidates {
        let pct =
            |v: Option<f64>| v.map(|x| format!("{:.3}%", 100.0 * x)).unwrap_or_else(|| "-".into());
        let inside = c.inside_interval.map(|k| k.to_string()).unwrap_or_else(|| "-".into());
        let mark = if c.name == s.chosen { " <- chosen" } else { "" };
        let margin = match (c.margin, c.margin_se) {
            (Some(m), Some(se)) => format!("{:.2}% ± {:.2}%", 100.0 * m, 100.0 * se),
            _ => "-".into(),
        };
        println!(
            "  {:<20} {:>10} {:>10} {:>16} {:>5} {:>8} {:>8}{}",
            c.name,
            pct(c.mean_rel_err),
            pct(c.worst_rel_err),
            margin,
            c.free_params,
            c.n_heldout,
            inside,
            mark
        );
        if let Some(e) = &c.error {
            println!("    failed: {e}");
        }
    }
    println!("chose {}; refitted on all {} runs", s.decision, f.n_rows);
    print_fit(&f, &args.data, args.output.as_deref());
    Ok(())
}

/// The human table of a fit.
fn print_fit(f: &Fit, data: &Path, saved: Option<&Path>) {
    let mut constraints = Vec::new();
    if f.options.tie_exponents {
        constraints.push("exponents tied".to_string());
    }
    if !f.options.bounds.is_empty() {
        constraints.push(format!("{} bounded", f.options.bounds.len()));
    }
    let note = if constraints.is_empty() {
        String::new()
    } else {
        format!(" ({})", constraints.join(", "))
    };
    println!("{} fit{note} of {} rows from {}", f.form, f.n_rows, data.display());
    println!("  {:<10} {:>14}   95% interval", "parameter", "value");
    let mut names = f.param_order.clone();
    names.extend(f.derived.keys().cloned());
    for name in &names {
        let v = f.params.get(name).or_else(|| f.derived.get(name)).copied().unwrap_or(f64::NAN);
        let iv = match f.intervals.get(name) {
            Some([lo, hi]) => format!("[{}, {}]", num(*lo), num(*hi)),
            None if f.fixed.contains(name) => "(fixed)".into(),
            None => String::new(),
        };
        println!("  {:<10} {:>14}   {}", name, num(v), iv);
    }
    println!("  objective  {:.6e} (summed Huber, δ = {})", f.objective, f.options.huber_delta);
    println!("  rmse_log   {:.5}", f.rmse_log);
    println!("  r2         {:.5}", f.r2);
    println!("  starts     {} reached the best objective of {}", f.starts_at_best, f.starts);
    if let Some(b) = &f.bootstrap {
        println!("  bootstrap  {} resamples, seed {}, {} failed", b.resamples, b.seed, b.failed);
    }
    if let Some(h) = &f.holdout {
        println!("held-out runs (fitted without them):");
        println!(
            "  {:>12} {:>12} {:>12} {:>9} {:>9} {:>9}",
            "N", "D", "C", "actual", "predicted", "rel err"
        );
        for r in h {
            println!(
                "  {:>12.4e} {:>12.4e} {:>12.4e} {:>9.4} {:>9.4} {:>8.2}%",
                r.n,
                r.d,
                r.compute,
                r.actual,
                r.predicted,
                100.0 * r.rel_err
            );
        }
        let mean = h.iter().map(|r| r.rel_err.abs()).sum::<f64>() / h.len() as f64;
        println!("  mean |rel err| {:.2}%", 100.0 * mean);
    }
    if let Some(p) = saved {
        println!("saved {}", p.display());
    }
}

/// Says on stderr which parameters the rows cannot identify (the fit keeps them in
/// `warnings`): the numbers are an optimum, not the optimum.
fn warn_unidentified(f: &Fit) {
    for w in &f.warnings {
        eprintln!("warning: the data cannot identify {w}");
    }
}

/// A number in a readable width: plain for moderate magnitudes, scientific otherwise.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) { format!("{v:.4e}") } else { format!("{v:.5}") }
}

/// `  95% [lo, hi]` for a power law's exponent, when a bootstrap gave one.
fn interval(p: &approaches::PowerLaw) -> String {
    p.exponent_interval.map(|[lo, hi]| format!("  95% [{lo:.4}, {hi:.4}]")).unwrap_or_default()
}
