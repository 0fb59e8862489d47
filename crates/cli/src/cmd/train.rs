//! `isoflop train`: train one GPT model on a token budget and measure it.
//!
//! Settings flow one way: the ladder and the LR/batch rule give defaults (isoflop-train's
//! `TrainConfig::new`), a `--config FILE` (TOML whose keys are the flags' names) overrides
//! them, flags override the file, and the one resolved config is written to
//! `DIR/config.json` before training starts; `DIR/report.json` holds the measurements.
//! Exit status: 0 done, 2 bad input, 3 diverged, 130 interrupted (resume with `--resume`).

use crate::args::DataArgs;
use crate::output::{print_json, thousands, write_atomic};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use isoflop_train::{
    Device, EngineKind, Progress, ProgressEvent, RunReport, RunStatus, TrainOverrides, train,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Arguments of `isoflop train`: the run's settings (isoflop-train's `TrainOverrides`, the
/// same type the `--config` file is read into), the file, and `--resume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Settings from a TOML file whose keys are these flags' names with `_` for `-`
    /// (e.g. `layers = 4`, `d_model = 128`, `tokens = "4e6"`, `lr = 3e-3`); flags given on
    /// the command line override it. Relative paths in it are relative to the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Continue the run whose checkpoint is in the -o directory.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub set: TrainOverrides,
}

/// The settings of the command line over those of the `--config` file, if there is one.
pub fn settings(a: &Args) -> Result<TrainOverrides> {
    let file = match &a.config {
        Some(path) => TrainOverrides::load(path).context("--config")?,
        None => TrainOverrides::default(),
    };
    let set = a.set.clone().over(file);
    if set.ood.is_some() && set.corpus.is_none() {
        bail!("--ood needs --corpus (the default corpus brings its own)");
    }
    Ok(set)
}

/// Runs `isoflop train`.
pub fn run(a: Args, json: bool) -> Result<()> {
    let set = settings(&a)?;
    let device = set.device.unwrap_or_default();
    device.ensure_available().context("--device")?;
    // Everything but the vocabulary is checked before the (possibly slow) data preparation.
    let vocab = set.tokenizer_kind()?.vocab();
    set.resolve(vocab)?;
    if set.engine.unwrap_or_default() == EngineKind::Candle && device == Device::Cpu {
        crate::env::set_candle_threads(isoflop_train::resolve_threads(
            "--threads",
            set.threads.unwrap_or(0),
        )?);
    }
    if a.resume {
        let Some(dir) = set.out.as_ref() else {
            bail!("--resume needs the run directory: -o DIR, or out in the --config file");
        };
        let ck = isoflop_train::checkpoint_path(dir);
        if !ck.exists() {
            bail!("--resume: there is no checkpoint at {}", ck.display());
        }
    }

    let data = DataArgs::from_settings(&set).dataset(json)?;
    let mut cfg = set.resolve(data.meta.vocab)?;
    cfg.resume = a.resume;
    if let Some(dir) = &set.out {
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

    if let Some(dir) = &set.out {
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
            match &set.out {
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
        assert_eq!(isoflop_train::parse_count("4e6").unwrap(), 4e6);
        assert_eq!(isoflop_train::parse_count("1.5M").unwrap(), 1.5e6);
        assert_eq!(isoflop_train::parse_count("64k").unwrap(), 64e3);
        assert_eq!(isoflop_train::parse_count("2_000").unwrap(), 2000.0);
        assert!(isoflop_train::parse_count("lots").is_err());
        assert!(isoflop_train::parse_count("-1").is_err());
    }

    /// `isoflop train ARGS` parsed, with the config file laid under the flags, as `run` does.
    fn parse_with_file(args: &[&str]) -> Result<TrainOverrides> {
        use clap::{CommandFactory, FromArgMatches};
        #[derive(clap::Parser)]
        struct Train {
            #[command(flatten)]
            a: Args,
        }
        let argv = std::iter::once("train").chain(args.iter().copied());
        let m = Train::command().try_get_matches_from(argv)?;
        settings(&Train::from_arg_matches(&m)?.a)
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
        assert_eq!((a.seed, a.context, a.vocab), (Some(9), Some(64), Some(512)));
        assert_eq!(a.tokenizer, Some(isoflop_train::TokenizerName::Bpe));
        // Relative paths are relative to the file.
        assert_eq!(a.corpus, Some(dir.path().join("text")));
        // Flags win over the file, the defaults' values included (--seed 0, --context 128).
        let a =
            parse_with_file(&["--config", p, "--lr", "1e-3", "--seed", "0", "--context", "128"])
                .unwrap();
        assert_eq!((a.lr, a.seed, a.context, a.layers), (Some(1e-3), Some(0), Some(128), Some(2)));
        // Without a file the flags alone; an unknown engine is refused by the flag's parser.
        assert!(parse_with_file(&["--engine", "gpu"]).is_err());
        let a = parse_with_file(&["--engine", "candle", "--device", "cuda:1"]).unwrap();
        assert_eq!((a.engine, a.device), (Some(EngineKind::Candle), Some(Device::Cuda(1))));
    }

    #[test]
    fn bad_config_files_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        for (text, want) in [
            ("layers = 2\nlayer = 3\n", "unknown field `layer`"),
            ("tokens = \"lots\"\n", "`lots` is not a number"),
            ("tokens = -5.0\n", "-5 must be a finite, non-negative number"),
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
        let msg = format!("{e:#}");
        assert!(msg.contains("--config") && msg.contains("/nonexistent/t.toml"), "{msg}");
        let e = parse_with_file(&["--ood", "x"]).unwrap_err();
        assert!(format!("{e:#}").contains("--ood needs --corpus"));
    }
}
