//! `isoflop compress`: quantize, prune or distil a trained model, save it packed and measure
//! what it costs.
//!
//! The model comes from a sweep's run (`--run KEY`, its checkpoint and corpus from the store)
//! or a checkpoint (`--checkpoint PATH`: a run directory, its `checkpoint.safetensors`, or a
//! compressed file, with the corpus flags of `isoflop train`). The result goes to
//! `-o DIR` (default: `compressed/<tag>/` inside the run directory): `compressed.safetensors`
//! and `report.json`. Evaluation uses the packed weights dequantized on load.

mod args;
mod print;

pub use args::Args;
use args::{student_shape, whole};
use print::print_report;

use crate::args::{CacheArgs, DataArgs};
use crate::output::{print_json, write_atomic};
use anyhow::{Context, Result, bail};
use isoflop_store::{RunFilter, Store};
use isoflop_train::compress::pipeline::Source;
use isoflop_train::compress::scaling::{PowerFit, fit_power_law, pareto_front};
use isoflop_train::compress::{
    COMPRESSED_FILE, CompressOptions, CompressReport, Method, load_weights,
};
use std::path::{Path, PathBuf};

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
                isoflop_store::display_location(&a.db),
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
        // The stored spec was validated when the sweep ran; a missing name is the default.
        tokenizer: serde_json::from_value(corpus["tokenizer"].clone()).unwrap_or_default(),
        vocab: corpus["vocab"].as_u64().map_or(a.data.vocab, |v| v as usize),
        split_seed: corpus["split_seed"].as_u64().unwrap_or(0),
        cache: CacheArgs { cache_dir: a.data.cache.cache_dir.clone() },
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
    // The sweep's models: its pretraining runs (not its compressions or fine-tunes).
    let mut runs = store.runs(&RunFilter { sweep: Some(sweep.clone()), statuses: done })?;
    runs.retain(isoflop_store::Run::is_pretrain);
    if runs.is_empty() {
        bail!("--sweep {sweep}: no finished runs in {}", isoflop_store::display_location(&a.db));
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
