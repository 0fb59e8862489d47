//! The arguments of `isoflop fit` and the parsers of their values.

use anyhow::{Context, Result, bail};
use isoflop_law::{EPrior, SelectRule};
use std::collections::BTreeMap;
use std::path::PathBuf;

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
    #[arg(long, env = "ISOFLOP_DB", default_value = "isoflop.db")]
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
    #[command(flatten)]
    pub columns: crate::args::Columns,
    /// Huber δ on log-loss residuals (Hoffmann et al. 2022: 1e-3).
    #[arg(long, default_value_t = isoflop_law::HOFFMANN_DELTA)]
    pub huber_delta: f64,
    /// Bootstrap resamples for percentile 95% intervals (0: none).
    #[arg(long, default_value_t = 0)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Calibrate the prediction interval on leave-largest-out refits (the largest sizes
    /// holding 10%, 20%, 30% of the runs held out in turn), so that it widens with the distance
    /// beyond the fitted range in ln N and ln D; saved in fit.json for `predict`. Needs at
    /// least 4 distinct model sizes.
    #[arg(long, conflicts_with = "downstream")]
    pub calibrate_intervals: bool,
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
    /// What is known of the irreducible loss E: `LO:HI` keeps E inside that interval, a
    /// single value fixes it. Applies to the fit (any form with an E); with --select it adds
    /// an `-eprior` candidate for each listed one that has an E (chinchilla-eprior,
    /// chinchilla-tied-eprior by default) and leaves the others free.
    #[arg(long, value_name = "LO:HI|VALUE", value_parser = parse_e_prior, allow_hyphen_values = true)]
    pub e_prior: Option<EPrior>,
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
    /// With --select: also average every scored candidate, weighted by its held-out margin
    /// over the best in standard errors (w ∝ exp(−z²/2)); fit.json keeps the weights and the
    /// candidates' fits (`selection.average`) and `predict` uses the averaged law.
    #[arg(long, requires = "select", conflicts_with = "calibrate_intervals")]
    pub select_average: bool,
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
    /// Fit a downstream law in two steps (Bhagia et al. 2024): --form's loss law on each
    /// model's (N, D, loss), then the metric against the loss (sigmoid-loss) on the rows that
    /// have a metric; `-o` saves it for `predict` and `plan --target-accuracy`.
    #[arg(long, conflicts_with_all = ["select", "holdout_above_compute", "holdout_top"])]
    pub downstream: bool,
    /// With --downstream: only the metric rows of this task (the `task` column).
    #[arg(long, requires = "downstream")]
    pub task: Option<String>,
    /// With --downstream: only the metric rows of this adaptation method (the `method`
    /// column: full, lora, …).
    #[arg(long, requires = "downstream")]
    pub method: Option<String>,
    /// With --downstream: hold the metric's floor at this chance level (0.5 for a balanced
    /// binary task, or the majority-class accuracy); free within [0, 1] otherwise.
    #[arg(long, requires = "downstream")]
    pub chance: Option<f64>,
    /// Write the result (fit.json) here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub(super) fn parse_select_rule(s: &str) -> std::result::Result<SelectRule, String> {
    s.parse().map_err(|e: isoflop_law::Error| e.to_string())
}

/// Parses `--e-prior` (the error names the value; clap names the flag).
pub(super) fn parse_e_prior(s: &str) -> std::result::Result<EPrior, String> {
    s.parse().map_err(|e| match e {
        // clap already says "invalid value … for '--e-prior …'": no "invalid option" too.
        isoflop_law::Error::InvalidOption(m) => m,
        other => other.to_string(),
    })
}

/// Parses `NAME=VALUE` pairs of `--fix`.
pub(super) fn parse_fixed(pairs: &[String]) -> Result<BTreeMap<String, f64>> {
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
pub(super) fn parse_bounds(pairs: &[String]) -> Result<isoflop_law::Bounds> {
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
