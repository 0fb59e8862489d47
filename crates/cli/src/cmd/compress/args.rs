//! The arguments of `isoflop compress` and the parsers of their values.

use crate::args::DataArgs;
use anyhow::{Context, Result, bail};
use isoflop_train::compress::Method;
use isoflop_train::{GptConfig, ladder, parse_count};
use std::path::PathBuf;

/// Arguments of `isoflop compress`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A finished run of the store (its key; add --sweep when several sweeps have it).
    #[arg(
        long,
        value_name = "KEY",
        conflicts_with_all = ["checkpoint", "all"],
        required_unless_present_any = ["checkpoint", "all"]
    )]
    pub run: Option<String>,
    /// Every finished run of --sweep with each method of --method (comma-separated), then
    /// the fit of the loss delta against N per method and the front of loss against bits.
    #[arg(long, requires = "sweep", conflicts_with = "checkpoint")]
    pub all: bool,
    /// The sweep of --run.
    #[arg(long)]
    pub sweep: Option<String>,
    /// The run store of --run.
    #[arg(long, env = "ISOFLOP_DB", default_value = "isoflop.db")]
    pub db: PathBuf,
    /// A run directory, a checkpoint.safetensors, or a compressed file.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
    /// int8, int4, int3, gptq-int4, gptq-int3, magnitude, wanda, 2:4 or distill.
    #[arg(long, value_parser = parse_method, value_delimiter = ',', required = true)]
    pub method: Vec<Method>,
    /// Columns per quantization scale (default: per output channel for int8, 128 for int4
    /// and int3).
    #[arg(long)]
    pub group_size: Option<usize>,
    /// A zero point per group (asymmetric quantization).
    #[arg(long)]
    pub asymmetric: bool,
    /// Sparsity of magnitude and wanda pruning (2:4 is always 0.5).
    #[arg(long, default_value_t = 0.5)]
    pub sparsity: f64,
    /// Recovery training of the surviving weights after pruning, in tokens (e.g. 2e5).
    #[arg(long, value_parser = parse_count, default_value = "0")]
    pub recover_tokens: f64,
    /// The distilled student: a parameter budget (e.g. 5e4, the ladder's nearest shape) or
    /// LAYERSxWIDTH (e.g. 2x64).
    #[arg(long)]
    pub student: Option<String>,
    /// Tokens each student trains on (distill).
    #[arg(long, value_parser = parse_count)]
    pub tokens: Option<f64>,
    /// Calibration tokens drawn from the train split (GPTQ, wanda, 2:4).
    #[arg(long, value_parser = parse_count, default_value = "16384")]
    pub calib_tokens: f64,
    /// GPTQ's dampening, a fraction of the Hessian's mean diagonal.
    #[arg(long, default_value_t = isoflop_train::compress::gptq::DEFAULT_DAMP)]
    pub damp: f64,
    /// GPTQ's act-order: quantize columns by decreasing Hessian diagonal.
    #[arg(long)]
    pub act_order: bool,
    /// Distillation temperature.
    #[arg(long, default_value_t = isoflop_train::compress::distill::DEFAULT_TEMPERATURE)]
    pub temperature: f32,
    /// Distillation's weight of the next-token loss (the soft loss gets 1 − alpha).
    #[arg(long, default_value_t = isoflop_train::compress::distill::DEFAULT_ALPHA)]
    pub alpha: f32,
    /// Tokens per split scored for the losses (the same windows for original and compressed).
    #[arg(long, value_parser = parse_count, default_value = "65536")]
    pub eval_tokens: f64,
    /// Seed of calibration windows, recovery batches and students.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Compute threads (0: one per physical core; at most the logical CPUs).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Output directory (compressed.safetensors and report.json).
    #[arg(short = 'o', long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
}

pub(super) fn parse_method(s: &str) -> std::result::Result<Method, String> {
    s.parse().map_err(|e: isoflop_train::Error| e.to_string())
}

pub(super) fn whole(v: f64, flag: &str) -> Result<u64> {
    if v.fract() != 0.0 || v > u64::MAX as f64 {
        bail!("{flag} {v} is not a whole number");
    }
    Ok(v as u64)
}

/// The student's shape from `5e4` (the ladder) or `2x64`.
pub(super) fn student_shape(s: &str, teacher: &GptConfig) -> Result<GptConfig> {
    if let Some((l, d)) = s.split_once(['x', 'X']) {
        let (l, d): (usize, usize) = (
            l.trim().parse().with_context(|| format!("--student {s}: layers `{l}`"))?,
            d.trim().parse().with_context(|| format!("--student {s}: width `{d}`"))?,
        );
        return GptConfig::new(l, d, ladder::heads_for_width(d), teacher.vocab, teacher.context)
            .with_context(|| format!("--student {s}"));
    }
    let n = parse_count(s).map_err(|e| anyhow::anyhow!("--student: {e} (or LAYERSxWIDTH)"))?;
    ladder::shape_for_params_with(n, teacher.vocab, teacher.context)
        .with_context(|| format!("--student {s}"))
}
