//! `isoflop finetune`: fine-tune a pretrained model (a stored run or a checkpoint directory)
//! on a labelled task with one method, and score it as an NLP practitioner would.

use crate::args::TaskArgs;
use crate::output::{print_json, thousands, write_atomic};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use isoflop_store::{RunFilter, Store};
use isoflop_train::finetune::trainer::FineTuneStatus;
use isoflop_train::finetune::{
    FineTuneConfig, FineTuneModel, FineTuneReport, Method, Pooling, finetune, load_pretrained,
};
use isoflop_train::{Checkpoint, GptConfig, NamedTensor, Tokenizer};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Arguments of `isoflop finetune`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pretraining run to fine-tune: its key in the run store (`--db`).
    #[arg(
        long,
        value_name = "KEY",
        conflicts_with = "checkpoint",
        required_unless_present = "checkpoint"
    )]
    pub run: Option<String>,
    /// The run store that holds `--run`.
    #[arg(long, env = "ISOFLOP_DB", default_value = "isoflop.db")]
    pub db: PathBuf,
    /// Only look for `--run` in this sweep.
    #[arg(long)]
    pub sweep: Option<String>,
    /// A pretraining checkpoint directory instead of a stored run (`isoflop train -o DIR`),
    /// or a compressed model's (`isoflop compress -o DIR`, dequantized on load).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    #[command(flatten)]
    pub task: TaskArgs,
    /// full, lora, adapter, bitfit or scratch.
    #[arg(long, default_value = "full")]
    pub method: Method,
    /// How a text's hidden states become one vector: mean (over real tokens) or last.
    #[arg(long, default_value = "mean")]
    pub pooling: Pooling,
    /// Peak learning rate (default: the method's, see docs/finetuning.md).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Epochs at most.
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    /// Stop after this many dev evaluations without a lower dev loss.
    #[arg(long, default_value_t = 3)]
    pub patience: usize,
    /// Dev evaluations per epoch.
    #[arg(long, default_value_t = 2)]
    pub evals_per_epoch: usize,
    /// Texts per batch.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// LoRA rank r.
    #[arg(long, default_value_t = 8)]
    pub lora_rank: usize,
    /// LoRA α (the update is scaled by α/r).
    #[arg(long, default_value_t = 16.0)]
    pub lora_alpha: f32,
    /// LoRA on the MLP's projections too.
    #[arg(long)]
    pub lora_mlp: bool,
    /// Adapter bottleneck width.
    #[arg(long, default_value_t = 16)]
    pub adapter_size: usize,
    /// Seed of the head, the extra weights, the scratch model and the batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Compute threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Directory for report.json and, with --merge or --save, the fine-tuned weights.
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Save the fine-tuned weights as a checkpoint in `DIR/model/`; LoRA's updates are
    /// folded into the projections (`W + (α/r)·B·A`), so the model needs no LoRA code.
    #[arg(long, requires = "out")]
    pub merge: bool,
}

/// The pretrained shape and weights, and where they came from.
fn pretrained(a: &Args) -> Result<(GptConfig, Vec<NamedTensor>, String)> {
    let dir = match (&a.run, &a.checkpoint) {
        (_, Some(dir)) => dir.clone(),
        (Some(key), None) => {
            let store = Store::open_existing(&a.db)?;
            let runs = store.runs(&RunFilter { sweep: a.sweep.clone(), statuses: vec![] })?;
            let found: Vec<_> = runs.iter().filter(|r| &r.key == key).collect();
            let run = match found.as_slice() {
                [r] => *r,
                [] => bail!(
                    "--run {key}: no run of this key in {}",
                    isoflop_store::display_location(&a.db)
                ),
                _ => bail!("--run {key}: several sweeps have this key; name one with --sweep"),
            };
            if !run.status.is_final() || run.metrics.loss.is_none() {
                bail!(
                    "--run {key}: the run is {} and has no final checkpoint",
                    run.status.as_str()
                );
            }
            match &run.checkpoint {
                Some(c) => PathBuf::from(c),
                None => bail!("--run {key}: the store records no checkpoint directory"),
            }
        }
        (None, None) => bail!("give --run KEY or --checkpoint DIR"),
    };
    let (cfg, w) =
        load_pretrained(&dir).with_context(|| format!("pretrained model {}", dir.display()))?;
    Ok((cfg, w, dir.display().to_string()))
}

fn settings(a: &Args) -> FineTuneConfig {
    let mut ft = FineTuneConfig::new(a.method);
    ft.pooling = a.pooling;
    if let Some(lr) = a.lr {
        ft.lr = lr;
    }
    ft.max_epochs = a.epochs;
    ft.patience = a.patience;
    ft.evals_per_epoch = a.evals_per_epoch;
    ft.batch = a.batch;
    ft.lora.rank = a.lora_rank;
    ft.lora.alpha = a.lora_alpha;
    ft.lora.mlp = a.lora_mlp;
    ft.adapter_size = a.adapter_size;
    ft.seed = a.seed;
    ft.threads = a.threads;
    ft
}

/// Runs `isoflop finetune`.
pub fn run(a: Args, json: bool) -> Result<()> {
    isoflop_train::check_threads("--threads", a.threads)?;
    let ft = settings(&a);
    ft.validate()?;
    let task = a.task.load(json)?;
    let (cfg, weights, from) = pretrained(&a)?;
    if cfg.vocab != 256 {
        bail!(
            "{from}: the model's vocabulary is {} tokens; finetune reads text with the byte \
             tokenizer (vocabulary 256) only",
            cfg.vocab
        );
    }
    let mut model = FineTuneModel::new(cfg, &weights, task.labels.len(), ft)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: scoring the best parameters so far (Ctrl-C again to exit)");
    })
    .context("installing the Ctrl-C handler")?;
    if !json {
        eprintln!(
            "fine-tuning {from} ({} parameters, {} trainable) on {} with {}",
            thousands(model.params()),
            thousands(model.trainable_params()),
            task.name,
            a.method
        );
    }
    let bar = ProgressBar::new(1);
    if json {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    } else {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps · {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
    }
    let report = finetune(
        &mut model,
        &task,
        &Tokenizer::Byte,
        &mut |p| {
            bar.set_length(p.steps);
            bar.set_position(p.step);
            let dev = p.dev_loss.map_or("-".into(), |l| format!("{l:.3}"));
            bar.set_message(format!("epoch {:.1} · loss {:.3} · dev {dev}", p.epoch, p.train_loss));
        },
        &stop,
    )?;
    bar.finish_and_clear();
    if let Some(dir) = &a.out {
        let path = dir.join("report.json");
        write_atomic(&path, serde_json::to_string_pretty(&report)?.as_bytes())?;
        if a.merge {
            // A checkpoint directory like a pretraining run's: the merged GPT (readable by
            // `finetune --checkpoint`) plus the head.
            let state = serde_json::json!({ "config": { "model": cfg }, "finetune": &report });
            let ck = Checkpoint {
                state,
                adam_step: 0,
                weights: model.merged_weights(),
                moments: vec![],
            };
            ck.save(&dir.join("model"))?;
        }
    }
    if json {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    if report.status == FineTuneStatus::Interrupted {
        std::process::exit(130);
    }
    Ok(())
}

fn print_report(r: &FineTuneReport) {
    println!(
        "task {} · method {} · {} of {} parameters trained ({:.2}%)",
        r.task,
        r.method,
        thousands(r.trainable_params),
        thousands(r.params),
        100.0 * r.trainable_fraction
    );
    println!(
        "test accuracy {:.3} · macro-F1 {:.3} (majority {:.3}, naive Bayes {:.3} / {:.3})",
        r.accuracy, r.macro_f1, r.majority_accuracy, r.baseline_accuracy, r.baseline_macro_f1
    );
    println!(
        "best dev loss {:.4} at step {} of {} ({:.1} epochs{}) · {:.1} s · {:.0} tokens/s",
        r.best_dev_loss,
        r.best_step,
        r.steps,
        r.epochs,
        if r.stopped_early { ", stopped early" } else { "" },
        r.wall_seconds,
        r.tokens_per_second
    );
    println!("{:<10} {:>9} {:>7} {:>7} {:>8}", "class", "precision", "recall", "F1", "support");
    for c in &r.per_class {
        println!(
            "{:<10} {:>9.3} {:>7.3} {:>7.3} {:>8}",
            c.label, c.precision, c.recall, c.f1, c.support
        );
    }
    println!("confusion (rows: true, columns: predicted)");
    for (c, row) in r.per_class.iter().zip(&r.confusion) {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>6}")).collect();
        println!("{:<10} {}", c.label, cells.join(""));
    }
}
