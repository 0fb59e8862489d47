//! `isoflop fit`: fit a scaling law to (N, D, loss) observations.
//!
//! Approach 3 (the default) fits a parametric form with summed Huber loss from a grid of
//! starts; `--approach envelope` and `--approach isoflop` run Chinchilla's approaches 1 and 2.
//! `-o fit.json` saves the fit (with its options, input sha256 and bootstrap samples) for
//! `isoflop predict` and `isoflop plan`.

mod args;
mod downstream;
mod print;

pub use args::{Approach, Args};
use args::{parse_bounds, parse_fixed};
use print::{FitBar, interval, print_fit, warn_unidentified};

use crate::output::{print_json, write_atomic};
use anyhow::{Context, Result, bail};
use isoflop_law::{
    Candidate, E_PARAM, FitOptions, Form, Holdout, Observation, SelectOptions, SelectRule,
    approaches, evaluate_holdout, fit_with_progress, read_observation_file, select, split_holdout,
};
use std::path::PathBuf;

/// Runs `isoflop fit`.
pub fn run(mut args: Args, json: bool) -> Result<()> {
    let cols = args.columns.names();
    if args.downstream && args.approach != Approach::Parametric {
        bail!("--downstream fits a parametric loss law: it does not take --approach");
    }
    let obs = match args.sweep.clone() {
        // From the run store (issue 6): curve rows for approach 1, final rows otherwise.
        Some(sweep) => {
            let curves = args.approach == Approach::Envelope;
            let mut obs = crate::sweep::observations::sweep_observations(&args.db, &sweep, curves)?;
            if args.downstream {
                obs.extend(crate::sweep::observations::finetune_observations(&args.db, &sweep)?);
            }
            args.data =
                PathBuf::from(format!("{}#{sweep}", isoflop_store::display_location(&args.db)));
            obs
        }
        None => {
            args.data = args.data_file.clone().expect("clap requires DATA without --sweep");
            let file = read_observation_file(&args.data, &cols)?;
            args.data_sha256 = Some(file.sha256);
            file.rows
        }
    };
    if args.calibrate_intervals && args.approach != Approach::Parametric {
        bail!(
            "--calibrate-intervals calibrates the parametric law's prediction interval: it does \
             not apply to --approach {}",
            match args.approach {
                Approach::Envelope => "envelope",
                _ => "isoflop",
            }
        );
    }
    match args.approach {
        Approach::Parametric if args.downstream => downstream::run(&args, &obs, json),
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

/// The fit's options from the flags, for `form`; with `--e-prior` (and no `--select`, whose
/// `-eprior` candidates carry it instead) E fixed or bounded.
fn options(args: &Args, form: Form) -> Result<FitOptions> {
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
    match &args.e_prior {
        Some(p) if !args.select => p.apply(&opts).context("--e-prior"),
        _ => Ok(opts),
    }
}

fn run_parametric(args: &Args, obs: &[Observation], json: bool) -> Result<()> {
    let form = form_of(&args.form, args.irreducible)?;
    let opts = options(args, form)?;
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
    calibrate(args, &mut f, &train)?;
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

/// `--calibrate-intervals`: calibrates the fit's prediction interval on leave-largest-out
/// refits of the rows it was fitted on, and records that it was asked for.
fn calibrate(args: &Args, f: &mut isoflop_law::Fit, rows: &[Observation]) -> Result<()> {
    if !args.calibrate_intervals {
        return Ok(());
    }
    let c = isoflop_law::calibrate(f, rows)
        .with_context(|| format!("--calibrate-intervals on {}", args.data.display()))?;
    f.options.calibrate_intervals = true;
    f.calibration = Some(c);
    Ok(())
}

fn run_select(args: &Args, obs: &[Observation], base: FitOptions, json: bool) -> Result<()> {
    let mut names: Vec<String> = args.candidates.iter().map(|c| c.trim().to_string()).collect();
    if let Some(p) = &args.e_prior {
        if base.fixed.contains_key(E_PARAM) || base.bounds.contains_key(E_PARAM) {
            bail!("--e-prior {p} with --fix or --bound on E: say what is known of E once");
        }
        // An `-eprior` twin for every listed candidate with an E that has none yet.
        let mut twins = Vec::new();
        for n in names.iter().filter(|n| !n.ends_with("-eprior")) {
            let twin = format!("{n}-eprior");
            let has_e = Candidate::parse_with_prior(&twin, &base, Some(p)).is_ok();
            if has_e && !names.contains(&twin) {
                twins.push(twin);
            }
        }
        if twins.is_empty() && !names.iter().any(|n| n.ends_with("-eprior")) {
            bail!("--e-prior {p}: no candidate in --candidates has an irreducible loss E");
        }
        names.extend(twins);
    }
    let candidates = names
        .iter()
        .map(|c| {
            Candidate::parse_with_prior(c, &base, args.e_prior.as_ref())
                .with_context(|| format!("--candidates `{c}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    let rule = if args.rolling { SelectRule::RollingOrigin } else { args.select_by };
    let sel = SelectOptions {
        candidates,
        rule,
        quantile: args.select_quantile,
        average: args.select_average,
        calibrate_intervals: args.calibrate_intervals,
    };
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
        if let Some(avg) = f.selection.as_mut().and_then(|s| s.average.as_mut()) {
            // The average's intervals mix its members' bootstraps: each gets the same one.
            let bar = FitBar::new(json);
            avg.bootstrap_members(obs, base.bootstrap, base.seed, &|s, k, n| bar.update(s, k, n))?;
            bar.done();
        }
    }
    calibrate(args, &mut f, obs)?;
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
    let weight_of = |name: &str| {
        s.average
            .as_ref()
            .map(|a| a.members.iter().find(|m| m.name == name).map(|m| m.weight).unwrap_or(0.0))
    };
    let weights = s.average.is_some();
    println!(
        "  {:<24} {:>10} {:>10} {:>16} {:>5} {:>8} {:>8}{}",
        "candidate",
        "mean err",
        "worst err",
        "margin ± se",
        "free",
        "held",
        "inside",
        if weights { format!(" {:>7}", "weight") } else { String::new() }
    );
    for c in &s.candidates {
        let pct =
            |v: Option<f64>| v.map(|x| format!("{:.3}%", 100.0 * x)).unwrap_or_else(|| "-".into());
        // Calibrated: the calibrated count, then the in-sample one in parentheses.
        let inside = match (c.inside_interval, c.inside_in_sample_interval) {
            (Some(k), Some(r)) => format!("{k} ({r})"),
            (Some(k), None) => k.to_string(),
            (None, Some(r)) => format!("- ({r})"),
            (None, None) => "-".into(),
        };
        let mark = if c.name == s.chosen { " <- chosen" } else { "" };
        let margin = match (c.margin, c.margin_se) {
            (Some(m), Some(se)) => format!("{:.2}% ± {:.2}%", 100.0 * m, 100.0 * se),
            _ => "-".into(),
        };
        let weight = weight_of(&c.name).map(|w| format!(" {w:>7.3}")).unwrap_or_default();
        println!(
            "  {:<24} {:>10} {:>10} {:>16} {:>5} {:>8} {:>8}{}{}",
            c.name,
            pct(c.mean_rel_err),
            pct(c.worst_rel_err),
            margin,
            c.free_params,
            c.n_heldout,
            inside,
            weight,
            mark
        );
        if let Some(e) = &c.error {
            println!("    failed: {e}");
        }
        if let Some(e) = &c.calibration_error {
            println!("    interval not calibrated: {e}");
        }
    }
    if args.calibrate_intervals {
        println!(
            "  inside: held-out runs inside the 95% prediction interval of the held-in refit, \
             calibrated on\n  its own held-in rows (in parentheses: the in-sample interval)"
        );
    }
    println!("chose {}; refitted on all {} runs", s.decision, f.n_rows);
    if let Some(a) = &s.average {
        println!(
            "averaged {} candidates (weights ∝ exp(−z²/2), z = held-out margin / its standard \
             error); `predict` uses the average",
            a.members.len()
        );
    }
    print_fit(&f, &args.data, args.output.as_deref());
    Ok(())
}
