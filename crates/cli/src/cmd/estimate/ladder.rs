//! `--ladder`: the table of training and serving cost by model size, and `--fit`'s rule for
//! each rung's tokens (the compute-optimal D of a fitted law).

use anyhow::{Context, Result};
use isoflop_cost::{self as cost, LadderEstimate, TokensRule};
use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use crate::format::{sci, short, sig3};
use crate::output::thousands;

/// The tokens of a rung of N parameters: the D at which N is compute-optimal under a fit from
/// `isoflop fit -o fit.json` (isoflop-law's planner). The fit is read when the first rung asks.
pub struct FitTokens {
    path: PathBuf,
    fit: OnceCell<isoflop_law::Fit>,
}

impl FitTokens {
    /// The rule of the fit at `path`.
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), fit: OnceCell::new() }
    }

    fn fit(&self) -> Result<&isoflop_law::Fit> {
        if let Some(fit) = self.fit.get() {
            return Ok(fit);
        }
        let path = &self.path;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read fit {}", path.display()))?;
        let fit: isoflop_law::Fit = serde_json::from_str(&text).with_context(|| {
            format!("{} is not a fit written by `isoflop fit -o`", path.display())
        })?;
        Ok(self.fit.get_or_init(|| fit))
    }
}

impl TokensRule for FitTokens {
    fn describe(&self) -> String {
        format!("compute-optimal D for each N from {}", self.path.display())
    }

    fn tokens(&self, n: f64) -> Result<f64, Box<dyn std::error::Error + Send + Sync>> {
        let plan = isoflop_law::plan::for_params(self.fit()?, n).with_context(|| {
            format!(
                "cannot plan the tokens of a {n:.3e}-parameter model from {}",
                self.path.display()
            )
        })?;
        Ok(plan.d_opt)
    }
}

/// Prints the ladder's table and its power laws.
pub fn print(l: &LadderEstimate) {
    println!(
        "size ladder on {} at {:.0}% MFU; tokens: {}; FLOPs: {}; GB = 1e9 bytes; serving in bf16 at full context, batch 1 (roofline)",
        l.hardware,
        l.mfu * 100.0,
        l.tokens_rule,
        l.convention
    );
    println!(
        "  {:>7} {:>16} {:>5} {:>6} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>5} {:>10} {:>10}",
        "size",
        "params",
        "layers",
        "d",
        "tokens",
        "FLOPs",
        "GPU-days",
        "fp32 GB",
        "bf16 GB",
        "int8 GB",
        "int4 GB",
        "serve GB",
        "GPUs",
        "decode ms",
        "tokens/s"
    );
    for r in &l.rows {
        let ck = |i: usize| cost::gb(r.checkpoints[i].bytes);
        println!(
            "  {:>7} {:>16} {:>5} {:>6} {:>10} {:>10} {:>10} {:>10.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>5} {:>10.2} {:>10.1}",
            short(r.target_params),
            thousands(r.params.total),
            r.shape.n_layer,
            r.shape.d_model,
            sci(r.tokens),
            sci(r.train_flops),
            sig3(r.gpu_days),
            ck(0),
            ck(1),
            ck(2),
            ck(3),
            cost::gb(r.inference_memory_bytes),
            r.inference_gpus,
            r.decode_seconds_per_token * 1e3,
            1.0 / r.decode_seconds_per_token
        );
    }
    if let (Some(c), Some(s)) = (l.compute_law, l.storage_law) {
        println!(
            "  fitted over the ladder: C(n) ≈ {} · n^{:.3} FLOPs,  S(n) ≈ {:.3} · n^{:.3} bytes (bf16)",
            sci(c.k),
            c.p,
            s.k,
            s.q
        );
    }
}
