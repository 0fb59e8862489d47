//! `isoflop plan --compute C --memory-budget 4GiB [--compression-fit FILE]`: the model size,
//! weight precision and tokens that minimise predicted loss when the weights must fit a memory
//! budget (Dettmers & Zettlemoyer 2023, "The case for 4-bit precision", ask the same question
//! of measured models).
//!
//! For each precision p (fp32, bf16, int8, int4), the weights of N parameters take
//! `N · bytes_p` bytes by isoflop-cost's storage model ([`isoflop_cost::Quantization`]:
//! int8 `1 + 2/g`, int4 `0.5 + 2.5/g` with g = 128), so `N ≤ budget / bytes_p`. The predicted
//! loss is the fit's `L(N, D = C/6N)` plus the precision's loss delta `Δ_p(N) = a·N^(−b)` from
//! `isoflop compress --all --json` (int8 from `int8`; int4 from `gptq-int4`, else `int4`).
//! fp32 and bf16 are taken as lossless (bf16 is not measured). N is searched on a log grid up
//! to the budget's limit; the best precision, the runner-up and the margin are reported.

use crate::cmd::plan::parse_quantity;
use anyhow::{Context, Result, bail};
use isoflop_cost::{Precision, Quantization};
use isoflop_law::Fit;
use isoflop_train::compress::scaling::PowerFit;
use serde::Serialize;
use std::path::Path;

/// One precision's best plan under the budget.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryOption {
    /// `fp32`, `bf16`, `int8` or `int4`.
    pub precision: String,
    /// Bytes per parameter, scales included.
    pub bytes_per_param: f64,
    /// The largest N the budget holds at this precision.
    pub n_max: f64,
    /// The chosen N.
    pub n: f64,
    /// Tokens `C / 6N`.
    pub d: f64,
    /// Weight bytes at N.
    pub bytes: f64,
    /// The fit's loss at (N, D).
    pub loss_full_precision: f64,
    /// The compression's loss delta at N (0 for fp32/bf16).
    pub loss_delta: f64,
    /// Predicted loss.
    pub loss: f64,
    /// Which compression fit gave the delta.
    pub delta_from: Option<String>,
}

/// The plan: every precision, best first, and the margin of the best over the runner-up.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryPlan {
    /// Training FLOPs.
    pub compute: f64,
    /// Weight-memory budget, bytes.
    pub memory_budget: f64,
    /// Options, best first.
    pub options: Vec<MemoryOption>,
    /// Runner-up's loss minus the best's.
    pub margin: f64,
}

/// Parses `4GiB`, `500MB`, `2e9` (bytes).
pub fn parse_bytes(text: &str) -> Result<f64> {
    let t = text.trim();
    let units = [
        ("GiB", 1073741824.0),
        ("MiB", 1048576.0),
        ("KiB", 1024.0),
        ("GB", 1e9),
        ("MB", 1e6),
        ("kB", 1e3),
        ("B", 1.0),
    ];
    let (body, mult) = units
        .iter()
        .find(|(u, _)| t.ends_with(u))
        .map_or((t, 1.0), |(u, m)| (&t[..t.len() - u.len()], *m));
    let v: f64 = body.trim().parse().map_err(|_| {
        anyhow::anyhow!("--memory-budget `{text}`: not a size (e.g. 4GiB, 500MB, 2e9)")
    })?;
    if !(v > 0.0 && v.is_finite()) {
        bail!("--memory-budget `{text}`: must be > 0");
    }
    Ok(v * mult)
}

/// Reads the `fits` of a `compress --all --json` document: method → fit.
pub fn load_compression_fits(path: &Path) -> Result<Vec<(String, PowerFit)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read compression fit {}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!("{} is not the JSON of `isoflop compress --all --json`", path.display())
    })?;
    let fits =
        doc["fits"].as_array().with_context(|| format!("{}: no `fits` array", path.display()))?;
    let mut out = Vec::new();
    for f in fits {
        let m = f["method"]
            .as_str()
            .with_context(|| format!("{}: a fit without a method", path.display()))?;
        if let Ok(Some(p)) = serde_json::from_value::<Option<PowerFit>>(f["fit"].clone()) {
            out.push((m.to_string(), p));
        }
    }
    Ok(out)
}

/// The plan for `compute` FLOPs and `budget` bytes of weights.
pub fn memory_plan(
    fit: &Fit,
    compute: f64,
    budget: f64,
    deltas: &[(String, PowerFit)],
) -> Result<MemoryPlan> {
    let find =
        |names: &[&str]| names.iter().find_map(|n| deltas.iter().find(|(m, _)| m == n)).cloned();
    let g = isoflop_cost::DEFAULT_GROUP_SIZE;
    let precisions = [
        ("fp32", Quantization::new(Precision::Fp32, g)?, None),
        ("bf16", Quantization::new(Precision::Bf16, g)?, None),
        ("int8", Quantization::new(Precision::Int8, g)?, find(&["int8"])),
        ("int4", Quantization::new(Precision::Int4, g)?, find(&["gptq-int4", "int4"])),
    ];
    let mut options = Vec::new();
    for (name, q, delta) in precisions {
        let bpp = q.bytes_per_param();
        let n_max = budget / bpp;
        let predict = |n: f64| {
            let d = compute / (6.0 * n);
            let base = fit.predict(n, d);
            let dl = delta.as_ref().map_or(0.0, |(_, p)| p.a * n.powf(-p.b));
            (base, dl, base + dl)
        };
        // One log grid for every precision (five decades below the largest limit, 0.2%
        // apart), cut at this precision's limit, plus the limit itself: equal N, equal loss.
        let top = budget / 0.25;
        let (lo, hi) = ((top / 1e5).ln(), top.ln());
        let grid = 6000;
        let best = (0..=grid)
            .map(|i| (lo + (hi - lo) * i as f64 / grid as f64).exp())
            .filter(|n| *n <= n_max)
            .chain([n_max])
            .min_by(|a, b| predict(*a).2.total_cmp(&predict(*b).2))
            .expect("the limit is a candidate");
        let (base, dl, loss) = predict(best);
        if !loss.is_finite() {
            bail!(
                "the fit predicts no finite loss at N = {best:.3e}, D = {:.3e}",
                compute / (6.0 * best)
            );
        }
        options.push(MemoryOption {
            precision: name.into(),
            bytes_per_param: bpp,
            n_max,
            n: best,
            d: compute / (6.0 * best),
            bytes: best * bpp,
            loss_full_precision: base,
            loss_delta: dl,
            loss,
            delta_from: delta.map(|(m, _)| m),
        });
    }
    // Ties (a budget that does not bind) go to the smaller file.
    options.sort_by(|a, b| a.loss.total_cmp(&b.loss).then(a.bytes.total_cmp(&b.bytes)));
    Ok(MemoryPlan {
        compute,
        memory_budget: budget,
        margin: options[1].loss - options[0].loss,
        options,
    })
}

/// Prints the plan as a table.
pub fn print(p: &MemoryPlan) {
    println!(
        "weight-memory budget {:.3e} bytes ({:.2} GiB), compute {:.3e} FLOPs",
        p.memory_budget,
        p.memory_budget / 1073741824.0,
        p.compute
    );
    println!(
        "{:<6} {:>9} {:>11} {:>11} {:>11} {:>9} {:>9}  delta from",
        "prec", "bytes/p", "N", "D", "bytes", "Δ loss", "loss"
    );
    for o in &p.options {
        println!(
            "{:<6} {:>9.4} {:>11.3e} {:>11.3e} {:>11.3e} {:>9.4} {:>9.4}  {}",
            o.precision,
            o.bytes_per_param,
            o.n,
            o.d,
            o.bytes,
            o.loss_delta,
            o.loss,
            o.delta_from.as_deref().unwrap_or(if o.precision.starts_with("int") {
                "none given: assumed 0"
            } else {
                "lossless"
            })
        );
    }
    println!(
        "best: {} (N = {:.3e}, D = {:.3e}), {:.4} below the runner-up {}",
        p.options[0].precision, p.options[0].n, p.options[0].d, p.margin, p.options[1].precision
    );
}

/// `--compute` parsed.
pub fn compute(text: Option<&str>) -> Result<f64> {
    parse_quantity("--compute", text.context("--memory-budget needs --compute (D = C/6N)")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("4GiB").unwrap(), 4.0 * 1073741824.0);
        assert_eq!(parse_bytes("500MB").unwrap(), 5e8);
        assert_eq!(parse_bytes("2e9").unwrap(), 2e9);
        assert!(parse_bytes("lots").is_err() && parse_bytes("-1GB").is_err());
    }
}
