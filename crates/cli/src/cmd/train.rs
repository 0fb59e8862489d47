//! `isoflop train`: train one GPT model on a token budget and measure it.
//!
//! Settings flow one way: the ladder and the LR/batch rule give defaults (isoflop-train's
//! `TrainConfig::new`), flags override them, and the one resolved config is written to
//! `DIR/config.json` before training starts; `DIR/report.json` holds the measurements.
//! Exit status: 0 done, 2 bad input, 3 diverged, 130 interrupted (resume with `--resume`).

use crate::cmd::corpus::DataArgs;
use crate::output::{print_json, write_atomic};
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
    /// Parameter budget: the nearest shape of the model ladder (e.g. 2e5, 1.5M).
    #[arg(long, value_parser = parse_count)]
    pub params: Option<f64>,
    /// Transformer blocks (overrides the ladder's).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Residual width (overrides the ladder's).
    #[arg(long)]
    pub d_model: Option<usize>,
    /// Attention heads; must divide --d-model (default: heads of width 32).
    #[arg(long)]
    pub heads: Option<usize>,
    /// Context length in tokens (rows are this long).
    #[arg(long, default_value_t = ladder::CONTEXT)]
    pub context: usize,
    /// Token budget to train on (e.g. 4e6); the schedule ends exactly there.
    #[arg(long, value_parser = parse_count)]
    pub tokens: f64,
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
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Checkpoint every this many steps (0: only when stopped and at the end).
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every: u64,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Parses a count such as `4e6`, `200000`, `1.5M`, `64k` or `2_000`.
pub fn parse_count(s: &str) -> std::result::Result<f64, String> {
    let t = s.trim().replace('_', "");
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('G' | 'B') => (&t[..t.len() - 1], 1e9),
        _ => (t.as_str(), 1.0),
    };
    let v: f64 = num.parse().map_err(|_| format!("`{s}` is not a number (e.g. 4e6, 1.5M)"))?;
    let v = v * mult;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{s}` must be a finite, non-negative number"));
    }
    Ok(v)
}

fn count(v: f64, flag: &str) -> Result<u64> {
    if v.fract() != 0.0 || v > u64::MAX as f64 {
        bail!("{flag} {v} is not a whole number");
    }
    Ok(v as u64)
}

/// The model shape from --params and/or --layers/--d-model/--heads.
fn resolve_shape(a: &Args, vocab: usize) -> Result<GptConfig> {
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
        .unwrap_or_else(|| (d_model / ladder::HEAD_DIM).max(1));
    GptConfig::new(n_layer, d_model, heads, vocab, a.context).with_context(|| {
        format!("--layers {n_layer} --d-model {d_model} --heads {heads} --context {}", a.context)
    })
}

/// Sets the compute threads for candle and the kernels before any tensor op.
fn set_threads(threads: usize) {
    if threads == 0 {
        return;
    }
    let n = threads.to_string();
    // SAFETY: called on the main thread before any other thread (rayon pools, candle's
    // workers, the Ctrl-C handler) exists, so nothing reads the environment concurrently.
    unsafe {
        std::env::set_var("RAYON_NUM_THREADS", &n);
        std::env::set_var("CANDLE_NUM_THREADS", &n);
    }
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
    let tokens = count(a.tokens, "--tokens")?;
    // Check the shape flags before the (possibly slow) data preparation.
    resolve_shape(&a, 256)?;
    set_threads(a.threads);
    if a.resume {
        let dir = a.out.as_ref().expect("clap: --resume requires --out");
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
    cfg.threads = isoflop_train::threads();
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

fn sep(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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
    println!("params        {} (non-embedding {})", sep(r.params), sep(r.non_embedding_params));
    println!(
        "data          {} · {} tokenizer · {} train tokens",
        r.data.corpus,
        r.data.tokenizer,
        sep(r.data.train_tokens)
    );
    println!(
        "tokens        {} in {} steps of {} (lr {:.2e}, seed {})",
        sep(r.tokens),
        r.steps,
        sep(c.batch_tokens),
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
                sep(p.tokens),
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
        assert_eq!(sep(1234567), "1,234,567");
        assert_eq!(sep(12), "12");
    }
}
