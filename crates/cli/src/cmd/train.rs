//! `isoflop train`: train one GPT model on a token budget and measure it.
//!
//! Settings flow one way: the ladder and the LR/batch rule give defaults (isoflop-train's
//! `TrainConfig::new`), a `--config FILE` (TOML whose keys are the flags' names) overrides
//! them, flags override the file, and the one resolved config is written to
//! `DIR/config.json` before training starts; `DIR/report.json` holds the measurements.
//! Exit status: 0 done, 2 bad input, 3 diverged, 130 interrupted (resume with `--resume`).

use crate::cmd::corpus::DataArgs;
use crate::output::{print_json, thousands, write_atomic};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use isoflop_train::{
    Device, GptConfig, Progress, ProgressEvent, RunReport, RunStatus, TrainConfig, ladder, train,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Arguments of `isoflop train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Settings from a TOML file whose keys are these flags' names with `_` for `-`
    /// (e.g. `layers = 4`, `d_model = 128`, `tokens = "4e6"`, `lr = 3e-3`); flags given on
    /// the command line override it. Relative paths in it are relative to the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Parameter budget: the nearest shape of the model ladder (e.g. 2e5, 1.5M).
    #[arg(long, value_parser = parse_count)]
    pub params: Option<f64>,
    /// Transformer blocks (overrides the ladder's).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Residual width (overrides the ladder's).
    #[arg(long)]
    pub d_model: Option<usize>,
    /// Attention heads; must divide --d-model (default: heads as near 32 wide as the width
    /// allows, as the ladder's shapes have).
    #[arg(long)]
    pub heads: Option<usize>,
    /// Context length in tokens (rows are this long).
    #[arg(long, default_value_t = ladder::CONTEXT)]
    pub context: usize,
    /// Token budget to train on (e.g. 4e6); the schedule ends exactly there.
    #[arg(long, value_parser = parse_count, required_unless_present = "config")]
    pub tokens: Option<f64>,
    /// Tokens per optimizer step, a multiple of --context (default: the batch rule).
    #[arg(long, value_parser = parse_count)]
    pub batch_tokens: Option<f64>,
    /// Peak learning rate (default: the ladder's LR rule, 3e-3·128/d_model).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Warm-up steps (default: 5% of the steps).
    #[arg(long)]
    pub warmup_steps: Option<u64>,
    /// Seed of the initial weights and the batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Compute threads (0: one per physical core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Training engine: kernels (fused CPU kernels, the fast default) or candle (the autograd
    /// reference; the one that runs on --device cuda).
    #[arg(long, default_value = "kernels")]
    pub engine: String,
    /// Device: cpu, cuda or cuda:N (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Stop when the val loss has not improved for this many evaluations.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Evaluations at log-spaced token counts.
    #[arg(long, default_value_t = isoflop_train::DEFAULT_EVAL_POINTS)]
    pub eval_points: usize,
    /// Tokens per split scored at each intermediate evaluation.
    #[arg(long, value_parser = parse_count)]
    pub eval_tokens: Option<f64>,
    /// Tokens per split scored at the final evaluation.
    #[arg(long, value_parser = parse_count)]
    pub final_eval_tokens: Option<f64>,
    /// Run directory: config.json, report.json and the checkpoint go here.
    #[arg(short = 'o', long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run whose checkpoint is in the -o directory.
    #[arg(long)]
    pub resume: bool,
    /// Checkpoint every this many steps (0: only when stopped and at the end).
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every: u64,
    #[command(flatten)]
    pub data: DataArgs,
}

pub use isoflop_train::parse_count;

fn count(v: f64, flag: &str) -> Result<u64> {
    // Above the largest run, before the cast (which would saturate at u64::MAX).
    if v > isoflop_train::MAX_RUN_TOKENS as f64 {
        bail!("{flag} {v:e} is more than the 1e15 tokens one run may train");
    }
    if v.fract() != 0.0 {
        bail!("{flag} {v} is not a whole number");
    }
    Ok(v as u64)
}

/// The model shape from --params and/or --layers/--d-model/--heads.
fn resolve_shape(a: &Args, vocab: usize) -> Result<GptConfig> {
    // The context first: the ladder needs one, and its error must not be blamed on --params.
    if a.context == 0 {
        bail!("--context 0: a row must hold at least 1 token");
    }
    if a.context > isoflop_train::MAX_CONTEXT {
        bail!(
            "--context {}: more than the trainer's {} (its attention keeps every head's T×T \
             probabilities: 4·T² bytes per head and row)",
            a.context,
            isoflop_train::MAX_CONTEXT
        );
    }
    let base = match a.params {
        Some(n) => Some(ladder::shape_for_params_with(n, vocab, a.context).context("--params")?),
        None => None,
    };
    let layers = a.layers.or(base.map(|b| b.n_layer));
    let d_model = a.d_model.or(base.map(|b| b.d_model));
    let (Some(n_layer), Some(d_model)) = (layers, d_model) else {
        bail!("give the model's size: --params N, or --layers and --d-model");
    };
    let heads = a
        .heads
        .or(base.filter(|b| b.d_model == d_model).map(|b| b.n_head))
        .unwrap_or_else(|| ladder::heads_for_width(d_model));
    GptConfig::new(n_layer, d_model, heads, vocab, a.context).with_context(|| {
        format!("--layers {n_layer} --d-model {d_model} --heads {heads} --context {}", a.context)
    })
}

/// Sizes candle's process-wide pool for element-wise ops on the CPU: candle reads
/// `CANDLE_NUM_THREADS` once, at that pool's first use, and no pool of a run reaches it
/// (isoflop_train's `PooledEngine` keeps candle's matrix products on the run's own threads).
/// Candle runs only: the kernels engine takes its threads from the run's config alone.
pub fn set_candle_threads(threads: usize) {
    // SAFETY: called on the main thread before any thread that reads the environment (the
    // training workers, rayon pools, candle's pool, the Ctrl-C handler) is started.
    unsafe {
        std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
    }
}

/// Fills every setting not given on the command line (`m` says which were) from the
/// `--config` file, if there is one.
pub fn apply_config_file(a: &mut Args, m: &clap::ArgMatches) -> Result<()> {
    let Some(path) = a.config.clone() else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("--config: cannot read {}", path.display()))?;
    let file = isoflop_train::TrainFile::parse(&text, &path.display().to_string())?;
    let base = path.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
    let rel = |p: PathBuf| Some(if p.is_relative() { base.join(p) } else { p });
    let given = |id: &str| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    // `take!(id, field, value)`: the file's value, unless the flag `id` was given.
    macro_rules! take {
        ($id:literal, $field:expr, $value:expr) => {
            if !given($id)
                && let Some(v) = $value
            {
                $field = v;
            }
        };
    }
    take!("params", a.params, file.params.map(Some));
    take!("layers", a.layers, file.layers.map(Some));
    take!("d_model", a.d_model, file.d_model.map(Some));
    take!("heads", a.heads, file.heads.map(Some));
    take!("context", a.context, file.context);
    take!("tokens", a.tokens, file.tokens.map(Some));
    take!("batch_tokens", a.batch_tokens, file.batch_tokens.map(Some));
    take!("lr", a.lr, file.lr.map(Some));
    take!("warmup_steps", a.warmup_steps, file.warmup_steps.map(Some));
    take!("seed", a.seed, file.seed);
    take!("threads", a.threads, file.threads);
    take!("engine", a.engine, file.engine);
    take!("device", a.device, file.device);
    take!("patience", a.patience, file.patience.map(Some));
    take!("eval_points", a.eval_points, file.eval_points);
    take!("eval_tokens", a.eval_tokens, file.eval_tokens.map(Some));
    take!("final_eval_tokens", a.final_eval_tokens, file.final_eval_tokens.map(Some));
    take!("out", a.out, file.out.map(rel));
    take!("checkpoint_every", a.checkpoint_every, file.checkpoint_every);
    take!("corpus", a.data.corpus, file.corpus.map(rel));
    take!("ood", a.data.ood, file.ood.map(rel));
    take!("tokenizer", a.data.tokenizer, file.tokenizer);
    take!("vocab", a.data.vocab, file.vocab);
    take!("split_seed", a.data.split_seed, file.split_seed);
    take!("cache_dir", a.data.cache.cache_dir, file.cache_dir.map(rel));
    if a.data.ood.is_some() && a.data.corpus.is_none() {
        bail!("--config {}: ood needs corpus (the default corpus brings its own)", path.display());
    }
    Ok(())
}

/// Runs `isoflop train`.
pub fn run(a: Args, json: bool) -> Result<()> {
    let device: Device = a.device.parse().context("--device")?;
    device.ensure_available().context("--device")?;
    if !isoflop_train::ENGINES.contains(&a.engine.as_str()) {
        bail!("--engine {}: expected one of {}", a.engine, isoflop_train::ENGINES.join(", "));
    }
    if a.engine == "kernels" && device != Device::Cpu {
        bail!("--engine kernels runs on the CPU only: add --engine candle for --device {device}");
    }
    let Some(tokens) = a.tokens else {
        bail!("give the token budget: --tokens N, or tokens in the --config file");
    };
    let tokens = count(tokens, "--tokens")?;
    // Check the shape flags before the (possibly slow) data preparation.
    resolve_shape(&a, 256)?;
    // Refused before anything starts: a mistyped count would start that many threads.
    let threads = isoflop_train::resolve_threads("--threads", a.threads)?;
    if a.engine == "candle" && device == Device::Cpu {
        set_candle_threads(threads);
    }
    if a.resume {
        let Some(dir) = a.out.as_ref() else {
            bail!("--resume needs the run directory: -o DIR, or out in the --config file");
        };
        let ck = isoflop_train::checkpoint_path(dir);
        if !ck.exists() {
            bail!("--resume: there is no checkpoint at {}", ck.display());
        }
    }

    let data = a.data.dataset(json)?;
    let model = resolve_shape(&a, data.meta.vocab)?;
    let mut cfg = TrainConfig::new(model, tokens).context("--tokens")?;
    if let Some(b) = a.batch_tokens {
        cfg = cfg.with_batch_tokens(count(b, "--batch-tokens")?).context("--batch-tokens")?;
    }
    if let Some(lr) = a.lr {
        cfg.adamw.lr = lr;
    }
    if let Some(w) = a.warmup_steps {
        cfg.warmup_steps = w;
    }
    if let Some(t) = a.eval_tokens {
        cfg.eval_tokens = count(t, "--eval-tokens")?;
    }
    if let Some(t) = a.final_eval_tokens {
        cfg.final_eval_tokens = count(t, "--final-eval-tokens")?;
    }
    cfg.seed = a.seed;
    cfg.threads = threads;
    cfg.engine = a.engine.clone();
    cfg.device = device;
    cfg.patience = a.patience;
    cfg.eval_points = a.eval_points;
    cfg.checkpoint_dir = a.out.clone();
    cfg.checkpoint_every = a.checkpoint_every;
    cfg.resume = a.resume;
    cfg.validate()?;
    if let Some(dir) = &a.out {
        let text = serde_json::to_string_pretty(&cfg)?;
        write_atomic(&dir.join("config.json"), text.as_bytes())?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: checkpointing (Ctrl-C again to exit at once)");
    })
    .context("installing the Ctrl-C handler")?;

    let bar = progress_bar(cfg.trained_tokens(), json);
    let mut on_progress = |p: &Progress| {
        bar.set_position(p.tokens);
        let val = p.val_loss.map_or(String::new(), |v| format!(" val {v:.3}"));
        if p.event == ProgressEvent::Eval || p.step.is_multiple_of(5) || p.step == p.steps {
            bar.set_message(format!(
                "loss {:.3}{val} · {:.0} tok/s · step {}/{}",
                p.train_loss, p.tokens_per_second, p.step, p.steps
            ));
        }
    };
    let report = train(&cfg, &data, &mut on_progress, &stop)?;
    bar.finish_and_clear();

    if let Some(dir) = &a.out {
        let text = serde_json::to_string_pretty(&report)?;
        write_atomic(&dir.join("report.json"), text.as_bytes())?;
    }
    if json {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    match report.status {
        RunStatus::Done => Ok(()),
        RunStatus::Diverged => {
            eprintln!(
                "error: the run diverged: {}",
                report.reason.as_deref().unwrap_or("unknown reason")
            );
            std::process::exit(3);
        }
        RunStatus::Interrupted => {
            match &a.out {
                Some(dir) => eprintln!(
                    "interrupted at step {}: continue with the same flags plus --resume -o {}",
                    report.steps,
                    dir.display()
                ),
                None => {
                    eprintln!("interrupted at step {} (no -o DIR: nothing saved)", report.steps)
                }
            }
            std::process::exit(130);
        }
    }
}

fn progress_bar(total: u64, json: bool) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if json {
        bar.set_draw_target(ProgressDrawTarget::hidden());
        return bar;
    }
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} tokens · {msg} · {eta} left",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".to_string(), |x| format!("{x:.digits$}"))
}

fn print_report(r: &RunReport) {
    let c = &r.config;
    let m = &c.model;
    println!(
        "status        {}{}",
        match r.status {
            RunStatus::Done => "done",
            RunStatus::Diverged => "diverged",
            RunStatus::Interrupted => "interrupted",
        },
        r.reason.as_ref().map_or(String::new(), |s| format!(" ({s})"))
    );
    println!(
        "model         {} layers, d_model {}, {} heads, context {}, vocab {}",
        m.n_layer, m.d_model, m.n_head, m.context, m.vocab
    );
    println!(
        "params        {} (non-embedding {})",
        thousands(r.params),
        thousands(r.non_embedding_params)
    );
    println!(
        "data          {} · {} tokenizer · {} train tokens",
        r.data.corpus,
        r.data.tokenizer,
        thousands(r.data.train_tokens)
    );
    println!(
        "tokens        {} in {} steps of {} (lr {:.2e}, seed {})",
        thousands(r.tokens),
        r.steps,
        thousands(c.batch_tokens),
        c.adamw.lr,
        c.seed
    );
    println!("FLOPs         {:.3e} ({})", r.flops, r.flop_convention);
    println!(
        "val loss      {} nats/token · {} bits/byte",
        opt(r.val_loss, 4),
        opt(r.bits_per_byte, 4)
    );
    println!("test loss     {} nats/token", opt(r.test_loss, 4));
    println!(
        "OOD loss      {} nats/token · {} bits/byte",
        opt(r.ood_loss, 4),
        opt(r.ood_bits_per_byte, 4)
    );
    println!(
        "speed         {:.0} tokens/s · MFU {:.1}% of a measured {:.1} GFLOP/s ({} threads)",
        r.tokens_per_second,
        100.0 * r.mfu,
        r.peak_flops / 1e9,
        r.threads
    );
    println!(
        "time          {:.1} s wall ({:.1} s training) · peak memory {}",
        r.wall_seconds,
        r.train_seconds,
        r.peak_memory_bytes.map_or("-".into(), |b| format!("{:.0} MiB", b as f64 / 1048576.0))
    );
    if !r.curve.is_empty() {
        println!();
        println!(
            "{:>12} {:>7} {:>10} {:>10} {:>10} {:>10}",
            "tokens", "step", "train", "val", "ood", "lr"
        );
        for p in &r.curve {
            println!(
                "{:>12} {:>7} {:>10.4} {:>10.4} {:>10} {:>10.2e}",
                thousands(p.tokens),
                p.step,
                p.train_loss,
                p.val_loss,
                opt(p.ood_loss.map(f64::from), 4),
                p.lr
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse() {
        assert_eq!(parse_count("4e6").unwrap(), 4e6);
        assert_eq!(parse_count("1.5M").unwrap(), 1.5e6);
        assert_eq!(parse_count("64k").unwrap(), 64e3);
        assert_eq!(parse_count("2_000").unwrap(), 2000.0);
        assert!(parse_count("lots").is_err());
        assert!(parse_count("-1").is_err());
    }

    /// `isoflop train ARGS` with the config file applied, as main does it.
    fn parse_with_file(args: &[&str]) -> Result<Args> {
        use clap::{CommandFactory, FromArgMatches};
        #[derive(clap::Parser)]
        struct Train {
            #[command(flatten)]
            a: Args,
        }
        let argv = std::iter::once("train").chain(args.iter().copied());
        let m = Train::command().try_get_matches_from(argv)?;
        let mut a = Train::from_arg_matches(&m)?.a;
        apply_config_file(&mut a, &m)?;
        Ok(a)
    }

    #[test]
    fn a_config_file_fills_what_the_flags_leave_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        let text = "layers = 2\nd_model = 64\ntokens = \"1.5M\"\nlr = 5e-3\nseed = 9\n\
                    context = 64\ncorpus = \"text\"\ntokenizer = \"bpe\"\nvocab = 512\n";
        std::fs::write(&path, text).unwrap();
        let p = path.to_str().unwrap();
        let a = parse_with_file(&["--config", p]).unwrap();
        assert_eq!(
            (a.layers, a.d_model, a.tokens, a.lr),
            (Some(2), Some(64), Some(1.5e6), Some(5e-3))
        );
        assert_eq!((a.seed, a.context, a.data.vocab), (9, 64, 512));
        assert_eq!(a.data.tokenizer, "bpe");
        // Relative paths are relative to the file.
        assert_eq!(a.data.corpus, Some(dir.path().join("text")));
        // Flags win over the file, defaults included (--seed 0, --context 128).
        let a =
            parse_with_file(&["--config", p, "--lr", "1e-3", "--seed", "0", "--context", "128"])
                .unwrap();
        assert_eq!((a.lr, a.seed, a.context, a.layers), (Some(1e-3), 0, 128, Some(2)));
    }

    #[test]
    fn bad_config_files_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        for (text, want) in [
            ("layers = 2\nlayer = 3\n", "unknown field `layer`"),
            ("tokens = \"lots\"\n", "tokens: `lots` is not a number"),
            ("tokens = -5.0\n", "tokens = -5: must be"),
            ("tokenizer = \"words\"\n", "tokenizer = \"words\""),
            ("layers = \"two\"\n", "invalid type"),
            ("ood = \"x\"\n", "ood needs corpus"),
        ] {
            let path = dir.path().join("bad.toml");
            std::fs::write(&path, text).unwrap();
            let e = parse_with_file(&["--config", path.to_str().unwrap()]).unwrap_err();
            let msg = format!("{e:#}");
            assert!(msg.contains("bad.toml") && msg.contains(want), "{text}: {msg}");
        }
        let e = parse_with_file(&["--config", "/nonexistent/t.toml"]).unwrap_err();
        assert!(format!("{e:#}").contains("cannot read /nonexistent/t.toml"));
    }
}
