//! `isoflop compress`: quantize, prune or distil a trained model, save it packed and measure
//! what it costs.
//!
//! The model comes from a sweep's run (`--run KEY`, its checkpoint and corpus from the store)
//! or a checkpoint (`--checkpoint PATH`: a run directory, its `checkpoint.safetensors`, or a
//! compressed file, with the corpus flags of `isoflop train`). The result goes to
//! `-o DIR` (default: `compressed/<tag>/` inside the run directory): `compressed.safetensors`
//! and `report.json`. Evaluation uses the packed weights dequantized on load.

use crate::cmd::corpus::DataArgs;
use crate::cmd::train::parse_count;
use crate::output::{print_json, write_atomic};
use anyhow::{Context, Result, bail};
use isoflop_store::{RunFilter, Store};
use isoflop_train::compress::pipeline::Source;
use isoflop_train::compress::scaling::{PowerFit, fit_power_law, pareto_front};
use isoflop_train::compress::{
    COMPRESSED_FILE, CompressOptions, CompressReport, Method, load_weights,
};
use isoflop_train::{GptConfig, ladder};
use std::path::{Path, PathBuf};

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
    #[arg(long, default_value = "isoflop.db")]
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

fn parse_method(s: &str) -> std::result::Result<Method, String> {
    s.parse().map_err(|e: isoflop_train::Error| e.to_string())
}

fn whole(v: f64, flag: &str) -> Result<u64> {
    if v.fract() != 0.0 || v > u64::MAX as f64 {
        bail!("{flag} {v} is not a whole number");
    }
    Ok(v as u64)
}

/// The student's shape from `5e4` (the ladder) or `2x64`.
fn student_shape(s: &str, teacher: &GptConfig) -> Result<GptConfig> {
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

/// A short name of the compression, for the default output directory.
pub fn tag(o: &CompressOptions) -> String {
    let mut t = o.method.name().replace(':', "-");
    if let Some(s) = o.scheme() {
        t += &s.group_size.map_or("-channel".into(), |g| format!("-g{g}"));
        if s.asymmetric {
            t += "-asym";
        }
    }
    if matches!(o.method, Method::Magnitude | Method::Wanda) {
        t += &format!("-s{}", o.sparsity);
    }
    if o.recover_tokens > 0 {
        t += &format!("-r{}", o.recover_tokens);
    }
    if let Some(st) = o.student {
        t += &format!("-l{}d{}-t{}", st.n_layer, st.d_model, o.tokens.unwrap_or(0));
    }
    t
}

/// The source's weights, a directory to write beside, and the data to score it on.
fn source(a: &Args, json: bool) -> Result<(Source, PathBuf, isoflop_train::Dataset)> {
    if let Some(key) = &a.run {
        let store = Store::open_existing(&a.db)?;
        let runs: Vec<_> = store
            .runs(&RunFilter { sweep: a.sweep.clone(), statuses: vec![] })?
            .into_iter()
            .filter(|r| &r.key == key)
            .collect();
        let run = match runs.as_slice() {
            [r] => r,
            [] => bail!(
                "--run {key}: no such run in {}{}",
                a.db.display(),
                a.sweep.as_ref().map_or(String::new(), |s| format!(" (sweep {s})"))
            ),
            _ => bail!("--run {key}: several sweeps have this key; add --sweep"),
        };
        from_run(&store, run, a, json)
    } else {
        let path = a.checkpoint.as_ref().expect("clap: --run or --checkpoint");
        let (model, weights) =
            load_weights(path).with_context(|| format!("--checkpoint {}", path.display()))?;
        let dir = if path.is_dir() {
            path.clone()
        } else {
            path.parent().unwrap_or(Path::new(".")).to_path_buf()
        };
        let label = path.display().to_string();
        Ok((Source { model, weights, label }, dir, a.data.dataset(json)?))
    }
}

/// A stored run's weights, its directory and the corpus its sweep trained on.
fn from_run(
    store: &Store,
    run: &isoflop_store::Run,
    a: &Args,
    json: bool,
) -> Result<(Source, PathBuf, isoflop_train::Dataset)> {
    let key = &run.key;
    if run.status != isoflop_store::RunStatus::Done {
        bail!("--run {key} is {} (not finished): nothing to compress", run.status);
    }
    let dir = PathBuf::from(
        run.checkpoint.as_deref().with_context(|| format!("--run {key} has no checkpoint"))?,
    );
    let (model, weights) = load_weights(&dir).with_context(|| format!("--run {key}"))?;
    // The corpus the sweep trained on, from its stored spec.
    let spec = store.sweep(&run.sweep)?.spec;
    let corpus = &spec["corpus"];
    let mut data = DataArgs {
        corpus: None,
        ood: None,
        tokenizer: corpus["tokenizer"].as_str().unwrap_or("byte").to_string(),
        vocab: corpus["vocab"].as_u64().map_or(a.data.vocab, |v| v as usize),
        split_seed: corpus["split_seed"].as_u64().unwrap_or(0),
        cache: crate::cmd::corpus::CacheArgs { cache_dir: a.data.cache.cache_dir.clone() },
    };
    if let Some(src) = corpus["source"].as_str().filter(|s| *s != "default") {
        data.corpus = Some(PathBuf::from(src));
    }
    let label = format!("{}/{}", run.sweep, run.key);
    Ok((Source { model, weights, label }, dir, data.dataset(json)?))
}

/// Runs `isoflop compress`.
pub fn run(a: Args, json: bool) -> Result<()> {
    isoflop_train::check_threads("--threads", a.threads)?;
    if a.all {
        return all(a, json);
    }
    let [method] = a.method[..] else {
        bail!("--method: give one method (several go with --all)");
    };
    let (src, dir, data) = source(&a, json)?;
    let report = one(&a, method, &src, &dir, &data, a.out.clone(), json)?;
    if json {
        print_json(&report)
    } else {
        print_report(&report);
        Ok(())
    }
}

/// Compresses every finished run of the sweep with every method; fits and the k-bit front.
fn all(a: Args, json: bool) -> Result<()> {
    let sweep = a.sweep.clone().expect("clap: --all requires --sweep");
    let store = Store::open_existing(&a.db)?;
    let done = vec![isoflop_store::RunStatus::Done];
    let runs = store.runs(&RunFilter { sweep: Some(sweep.clone()), statuses: done })?;
    if runs.is_empty() {
        bail!("--sweep {sweep}: no finished runs in {}", a.db.display());
    }
    let mut reports = Vec::new();
    for run in &runs {
        let (src, dir, data) = from_run(&store, run, &a, json)?;
        for &m in &a.method {
            if !json {
                eprintln!("{} · {m}", run.key);
            }
            reports.push(one(&a, m, &src, &dir, &data, None, true)?);
        }
    }
    let fits: Vec<(Method, Option<PowerFit>)> = a
        .method
        .iter()
        .map(|m| {
            let pts: Vec<(f64, f64)> = reports
                .iter()
                .filter(|r| r.method == *m)
                .map(|r| (r.params as f64, r.loss_delta))
                .collect();
            (*m, fit_power_law(&pts))
        })
        .collect();
    // The k-bit view: every original (f32) and compressed model as (weight bits, loss).
    let mut points: Vec<(String, f64, f64)> = Vec::new();
    for r in &reports {
        let orig = (format!("{} f32", r.source), 8.0 * r.bytes_original as f64, r.loss_original);
        if !points.iter().any(|p| p.0 == orig.0) {
            points.push(orig);
        }
        points.push((format!("{} {}", r.source, r.method), 8.0 * r.bytes as f64, r.loss));
    }
    let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.1, p.2)).collect();
    let front: Vec<&(String, f64, f64)> =
        pareto_front(&xy).into_iter().map(|i| &points[i]).collect();
    if json {
        let fits: Vec<_> =
            fits.iter().map(|(m, f)| serde_json::json!({"method": m, "fit": f})).collect();
        let front: Vec<_> = front
            .iter()
            .map(|p| serde_json::json!({"model": p.0, "bits": p.1, "loss": p.2}))
            .collect();
        let doc =
            serde_json::json!({"sweep": sweep, "runs": reports, "fits": fits, "pareto": front});
        return print_json(&doc);
    }
    println!(
        "{:<28} {:<10} {:>9} {:>9} {:>9} {:>10} {:>7} {:>7}",
        "run", "method", "N", "loss", "Δ loss", "bytes", "bits/p", "wall s"
    );
    for r in &reports {
        println!(
            "{:<28} {:<10} {:>9} {:>9.4} {:>+9.4} {:>10} {:>7.2} {:>7.1}",
            r.source,
            r.method.name(),
            r.params,
            r.loss,
            r.loss_delta,
            r.bytes,
            r.bits_per_param,
            r.wall_seconds
        );
    }
    println!();
    for (m, f) in &fits {
        match f {
            Some(p) => println!(
                "{:<10} Δ loss = {:.3e}·N^(−{:.3}){} (R² {:.2}, {} runs with Δ > 0)",
                m.name(),
                p.a,
                p.b,
                p.b_interval.map_or(String::new(), |(lo, hi)| format!(
                    ", exponent's 95% interval [{lo:.3}, {hi:.3}]"
                )),
                p.r2,
                p.points
            ),
            None => println!("{:<10} no fit (fewer than two sizes with Δ > 0)", m.name()),
        }
    }
    println!("\nPareto front of loss against weight bits:");
    for p in front {
        println!("  {:<44} {:>12.0} bits  loss {:.4}", p.0, p.1, p.2);
    }
    Ok(())
}

/// One compression of one source; writes `compressed.safetensors` and `report.json` into
/// `out` (default: `compressed/<tag>/` in the source's directory).
fn one(
    a: &Args,
    method: Method,
    src: &Source,
    dir: &Path,
    data: &isoflop_train::Dataset,
    out: Option<PathBuf>,
    quiet: bool,
) -> Result<CompressReport> {
    if data.meta.vocab > src.model.vocab {
        bail!(
            "the corpus ({} tokenizer, vocabulary {}) is not the one the model was trained on \
             (vocabulary {}): pass the run's --corpus/--tokenizer/--vocab",
            data.meta.tokenizer,
            data.meta.vocab,
            src.model.vocab
        );
    }
    let mut o = CompressOptions::new(method);
    o.group_size = a.group_size;
    o.asymmetric = a.asymmetric;
    o.sparsity = a.sparsity;
    o.recover_tokens = whole(a.recover_tokens, "--recover-tokens")?;
    o.student = a.student.as_deref().map(|s| student_shape(s, &src.model)).transpose()?;
    o.tokens = a.tokens.map(|t| whole(t, "--tokens")).transpose()?;
    o.calib_tokens = whole(a.calib_tokens, "--calib-tokens")?;
    o.damp = a.damp;
    o.act_order = a.act_order;
    o.temperature = a.temperature;
    o.alpha = a.alpha;
    o.eval_tokens = whole(a.eval_tokens, "--eval-tokens")?;
    o.seed = a.seed;
    o.threads = a.threads;
    if o.method == Method::Distill && (o.student.is_none() || o.tokens.is_none()) {
        bail!("--method distill needs --student (e.g. 5e4 or 2x64) and --tokens");
    }
    // Options that do not apply to a method are refused, except in a batch of methods.
    if a.method.len() > 1 && o.scheme().is_none() {
        (o.group_size, o.asymmetric) = (None, false);
    }
    if a.method.len() > 1 && o.method != Method::Distill {
        (o.student, o.tokens) = (None, None);
    }
    o.validate(&src.model).context("--method and its options")?;
    let out_dir = out.unwrap_or_else(|| dir.join("compressed").join(tag(&o)));
    let file = out_dir.join(COMPRESSED_FILE);
    let mut say = |line: String| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let report = isoflop_train::compress::compress(src, data, &o, &file, &mut say)?;
    write_atomic(&out_dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    Ok(report)
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.4}"))
}

fn print_report(r: &CompressReport) {
    println!(
        "method        {}{}",
        r.method,
        r.scheme.map_or(String::new(), |s| format!(
            " ({} bits, {}, {})",
            s.bits,
            s.group_size.map_or("per channel".into(), |g| format!("groups of {g}")),
            if s.asymmetric { "asymmetric" } else { "symmetric" }
        ))
    );
    println!("source        {}", r.source);
    println!(
        "val loss      {:.4} → {:.4} (Δ {:+.4} nats/token)",
        r.loss_original, r.loss, r.loss_delta
    );
    println!(
        "OOD loss      {} → {} (Δ {})",
        opt(r.ood_loss_original),
        opt(r.ood_loss),
        r.ood_loss_delta.map_or("–".into(), |d| format!("{d:+.4}"))
    );
    if let Some(s) = &r.scratch {
        println!(
            "scratch       {:.4} val loss for the same student trained alone ({:+.4} vs distilled)",
            s.loss,
            s.loss - r.loss
        );
    }
    println!(
        "size          {} → {} bytes ({:.2}×) · {:.2} bits/param{}",
        r.bytes_original,
        r.bytes,
        r.bytes_original as f64 / r.bytes.max(1) as f64,
        r.bits_per_param,
        r.compressed_bits_per_weight
            .map_or(String::new(), |b| format!(" ({b:.2} in the compressed matrices)"))
    );
    if r.sparsity > 0.0 {
        println!("sparsity      {:.1}% of the block weights", 100.0 * r.sparsity);
    }
    println!(
        "time          {:.1} s: calibration {:.1}, compression {:.1}, recovery {:.1}, evaluation {:.1}",
        r.wall_seconds,
        r.calibration_seconds,
        r.compress_seconds,
        r.recover_seconds,
        r.eval_seconds
    );
    println!("evaluation    {}", r.evaluation);
    println!("file          {}", r.path.display());
}
