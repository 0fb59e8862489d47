//! `isoflop estimate`: what a model costs to train, store and serve.
//!
//! Three modes over one resolved configuration (defaults → preset or file → flags):
//! - the default report: parameters, FLOPs, training memory per GPU for one layout, training
//!   time, inference (KV cache, prefill, decode) and storage by precision;
//! - `--search`: every parallel layout of the cluster, the fastest ten that fit;
//! - `--ladder`: the size ladder with tokens, FLOPs, GPU-days, checkpoints, serving memory and
//!   latency, and the power laws C(n) and S(n); `--fit fit.json` takes the tokens from a fitted
//!   law (`isoflop fit -o fit.json`) instead of 20 per parameter.
//!
//! All arithmetic lives in isoflop-cost; this file parses, resolves and prints. Bytes are shown
//! as GB (10^9) and GiB (2^30), each labelled.

use anyhow::{Context, Result, bail, ensure};
use isoflop_cost::{
    self as cost, FlopConvention, Hardware, InferenceSetup, Layout, ModelShape, Precision,
    Quantization, Recompute, SearchSpace, ShapeSpec, StepTime, TrainRecipe,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

use crate::output::{print_json, thousands};

/// Arguments of `isoflop estimate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: a preset (gpt2, gpt2-medium, gpt2-large, gpt2-xl, gpt3-175b, llama2-7b,
    /// llama2-13b, llama2-70b, chinchilla-70b, train-s, train-m, train-rung-<k>), a shape
    /// .toml, or a Hugging Face config.json. Not needed with --ladder.
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Architecture family, overriding the model's: gpt2 or llama.
    #[arg(long, value_parser = parse_family)]
    pub family: Option<cost::Family>,
    /// Transformer blocks, overriding the model's.
    #[arg(long)]
    pub n_layer: Option<u64>,
    /// Residual width, overriding the model's.
    #[arg(long)]
    pub d_model: Option<u64>,
    /// Query heads, overriding the model's.
    #[arg(long)]
    pub n_head: Option<u64>,
    /// Key/value heads (grouped-query attention), overriding the model's.
    #[arg(long)]
    pub n_kv_heads: Option<u64>,
    /// Width of one head (default d_model / n_head, which must then divide).
    #[arg(long)]
    pub head_dim: Option<u64>,
    /// MLP hidden width (default 4·d for gpt2, Llama's rounded 8d/3 for llama).
    #[arg(long)]
    pub d_ff: Option<u64>,
    /// Vocabulary size, overriding the model's.
    #[arg(long)]
    pub vocab: Option<u64>,
    /// Context length, overriding the model's.
    #[arg(long)]
    pub context: Option<u64>,
    /// Whether the output head shares the token embedding (true/false).
    #[arg(long)]
    pub tied_embeddings: Option<bool>,

    /// GPU: a100-40gb, a100-80gb, h100-sxm, h100-pcie, h200, l4, rtx4090, mi300x, `cpu`
    /// (measured here by a short matmul probe), or a hardware .toml.
    #[arg(long, visible_alias = "hardware", default_value = "h100-sxm")]
    pub gpu: String,
    /// GPUs in all (default: --nodes × GPUs per node, else tp · pp · dp when --dp is given,
    /// else one node).
    #[arg(long, conflicts_with = "nodes")]
    pub gpus: Option<u64>,
    /// Nodes; GPUs = nodes × --gpus-per-node.
    #[arg(long)]
    pub nodes: Option<u64>,
    /// GPUs per node (default: the hardware's, 8 for the datacenter presets).
    #[arg(long)]
    pub gpus_per_node: Option<u64>,
    /// Model-FLOPs utilisation for the time estimate (default: the hardware preset's assumption).
    #[arg(long)]
    pub mfu: Option<f64>,
    /// A measured training throughput, tokens/s over all GPUs: reports its MFU and times with it.
    #[arg(long)]
    pub tokens_per_second: Option<f64>,

    /// Training tokens, e.g. 2e12 (default: 20 per parameter, Hoffmann et al. 2022).
    #[arg(long)]
    pub tokens: Option<f64>,
    /// FLOP convention: palm (6N + 12·L·H·Q·s), chinchilla (Hoffmann et al. appendix F), six-n.
    #[arg(long, default_value = "palm")]
    pub convention: FlopConvention,
    /// Training precision recipe: fp32, bf16-adam (mixed, fp32 master, 16 B/param), adam8bit.
    #[arg(long, default_value = "bf16-adam")]
    pub recipe: TrainRecipe,

    /// Tensor-parallel size (within a node; must divide the heads).
    #[arg(long, default_value_t = 1)]
    pub tp: u64,
    /// Pipeline-parallel size (must divide n_layer).
    #[arg(long, default_value_t = 1)]
    pub pp: u64,
    /// Data-parallel size (default: GPUs / (tp · pp)).
    #[arg(long)]
    pub dp: Option<u64>,
    /// ZeRO stage over the data-parallel group: 0, 1 (optimizer), 2 (+ gradients), 3 (+ weights).
    #[arg(long, default_value_t = 0)]
    pub zero: u8,
    /// Activation recomputation: none, selective (attention scores), full.
    #[arg(long, default_value = "none")]
    pub recompute: Recompute,
    /// Sequences per micro-batch.
    #[arg(long, default_value_t = 1)]
    pub micro_batch: u64,
    /// Sequence length in training (default: the model's context).
    #[arg(long)]
    pub seq: Option<u64>,
    /// Sequences per optimizer step (default: about 4M tokens, Llama 2's batch, rounded to a
    /// multiple of dp · micro-batch).
    #[arg(long)]
    pub global_batch: Option<u64>,
    /// Model chunks per pipeline stage (interleaved 1F1B schedule).
    #[arg(long, default_value_t = 1)]
    pub interleave: u64,
    /// Turn off sequence parallelism (on by default when tp > 1).
    #[arg(long)]
    pub no_sequence_parallel: bool,
    /// Count the attention scores' activations (no flash attention).
    #[arg(long)]
    pub no_flash_attention: bool,

    /// Search every tensor/pipeline/data-parallel, ZeRO, recomputation and micro-batch layout
    /// of the cluster; print the fastest that fit.
    #[arg(long)]
    pub search: bool,
    /// Layouts to print with --search.
    #[arg(long, default_value_t = 10)]
    pub top: usize,

    /// Print the size ladder (training and serving cost by model size) instead.
    #[arg(long)]
    pub ladder: bool,
    /// Ladder sizes in parameters, comma-separated (default 1e8,3e8,1e9,3e9,7e9,13e9,70e9).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Vec<f64>,
    /// A fit from `isoflop fit -o fit.json`: ladder tokens are the compute-optimal D for each N.
    #[arg(long)]
    pub fit: Option<PathBuf>,

    /// Inference weight format: fp32, bf16, fp16, fp8, int8, int4.
    #[arg(long, default_value = "bf16")]
    pub infer_precision: Precision,
    /// KV cache format.
    #[arg(long, default_value = "bf16")]
    pub kv_precision: Precision,
    /// Weights per quantization scale for int8/int4.
    #[arg(long, default_value_t = cost::DEFAULT_GROUP_SIZE)]
    pub group_size: u64,
    /// Concurrent sequences when serving.
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Prompt tokens per sequence (default: half the context).
    #[arg(long)]
    pub prompt: Option<u64>,
    /// Generated tokens per sequence (default: half the context).
    #[arg(long)]
    pub generate: Option<u64>,
    /// GPUs to serve on (default: the fewest, a power of two, that hold weights and cache).
    #[arg(long)]
    pub infer_gpus: Option<u64>,
}

fn parse_family(s: &str) -> std::result::Result<cost::Family, String> {
    match s.to_ascii_lowercase().as_str() {
        "gpt2" => Ok(cost::Family::Gpt2),
        "llama" => Ok(cost::Family::Llama),
        _ => Err(format!("unknown family `{s}`; expected gpt2 or llama")),
    }
}

/// Runs `isoflop estimate`.
pub fn run(args: Args, json: bool) -> Result<()> {
    check_positive(&args)?;
    let hw = resolve_hardware(&args)?;
    let mfu = args.mfu.unwrap_or(hw.mfu);
    if args.ladder {
        return ladder(&args, &hw, mfu, json);
    }
    let Some(model) = args.model.as_deref() else {
        bail!("--model is required (a preset, a shape .toml or a config.json), unless --ladder");
    };
    let shape = resolve_shape(model, &args)?;
    let report = Report::build(model, &shape, &hw, mfu, &args)?;
    let mut doc = report.json();
    let search = if args.search { Some(search(&args, &shape, &hw, &report)?) } else { None };
    if let Some(s) = &search {
        doc["search"] = serde_json::to_value(s)?;
    }
    if json {
        return print_json(&doc);
    }
    report.print();
    if let Some(s) = &search {
        print_search(s, &report);
    }
    Ok(())
}

fn check_positive(args: &Args) -> Result<()> {
    for (flag, v) in [
        ("--gpus", args.gpus),
        ("--nodes", args.nodes),
        ("--gpus-per-node", args.gpus_per_node),
        ("--dp", args.dp),
        ("--seq", args.seq),
        ("--global-batch", args.global_batch),
        ("--prompt", args.prompt),
        ("--infer-gpus", args.infer_gpus),
    ] {
        ensure!(v != Some(0), "{flag} must be positive, got 0");
    }
    for (flag, v) in [
        ("--tp", args.tp),
        ("--pp", args.pp),
        ("--micro-batch", args.micro_batch),
        ("--interleave", args.interleave),
        ("--group-size", args.group_size),
        ("--batch", args.batch),
    ] {
        ensure!(v != 0, "{flag} must be positive, got 0");
    }
    // Upper bounds keep every product of sizes far inside u64 (and far beyond any cluster).
    for (flag, v, max) in [
        ("--gpus", args.gpus.unwrap_or(1), 1u64 << 24),
        ("--nodes", args.nodes.unwrap_or(1), 1 << 24),
        ("--gpus-per-node", args.gpus_per_node.unwrap_or(1), 1 << 10),
        ("--tp", args.tp, 1 << 10),
        ("--pp", args.pp, 1 << 20),
        ("--dp", args.dp.unwrap_or(1), 1 << 24),
        ("--interleave", args.interleave, 1 << 10),
        ("--micro-batch", args.micro_batch, 1 << 24),
        ("--global-batch", args.global_batch.unwrap_or(1), 1 << 30),
        ("--seq", args.seq.unwrap_or(1), 1 << 30),
        ("--batch", args.batch, 1 << 30),
        ("--prompt", args.prompt.unwrap_or(1), 1 << 30),
        ("--generate", args.generate.unwrap_or(1), 1 << 30),
        ("--infer-gpus", args.infer_gpus.unwrap_or(1), 1 << 20),
    ] {
        ensure!(v <= max, "{flag} = {v} is beyond the largest accepted, {max}");
    }
    for (flag, v) in [("--tokens", args.tokens), ("--tokens-per-second", args.tokens_per_second)] {
        if let Some(v) = v {
            ensure!(v > 0.0 && v.is_finite(), "{flag} must be a positive number, got {v}");
        }
    }
    if let Some(m) = args.mfu {
        ensure!(m > 0.0 && m <= 1.0, "--mfu must be in (0, 1], got {m}");
    }
    ensure!(args.zero <= 3, "--zero must be 0, 1, 2 or 3, got {}", args.zero);
    for s in &args.sizes {
        ensure!((1e7..=1e15).contains(s), "--sizes: every size must be in [1e7, 1e15], got {s:e}");
    }
    Ok(())
}

/// Preset, shape .toml or config.json, then the shape flags on top.
fn resolve_shape(model: &str, args: &Args) -> Result<ModelShape> {
    let path = Path::new(model);
    let is_file = |ext: &str| path.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext));
    let base = if is_file("toml") {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read model file {}", path.display()))?;
        ShapeSpec::from_toml_str(&text, model)?
    } else if is_file("json") {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read model config {}", path.display()))?;
        ShapeSpec::from_shape(&cost::from_hf_config(&text, model)?)
    } else {
        ShapeSpec::from_shape(&cost::preset(model)?)
    };
    let flags = ShapeSpec {
        family: args.family,
        n_layer: args.n_layer,
        d_model: args.d_model,
        n_head: args.n_head,
        n_kv_heads: args.n_kv_heads,
        head_dim: args.head_dim,
        d_ff: args.d_ff,
        vocab: args.vocab,
        context: args.context,
        tied_embeddings: args.tied_embeddings,
    };
    base.merge(&flags)
        .resolve()
        .with_context(|| format!("model `{model}` with the shape flags is not a valid shape"))
}

fn resolve_hardware(args: &Args) -> Result<Hardware> {
    let mut hw = if args.gpu.eq_ignore_ascii_case("cpu") {
        Hardware::cpu_probe().context("measuring this machine's CPU")?
    } else if Path::new(&args.gpu).extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) {
        let text = std::fs::read_to_string(&args.gpu)
            .with_context(|| format!("cannot read hardware file {}", args.gpu))?;
        Hardware::from_toml_str(&text, &args.gpu)?
    } else {
        Hardware::preset(&args.gpu)?
    };
    if let Some(n) = args.gpus_per_node {
        hw.gpus_per_node = n;
    }
    Ok(hw)
}

/// The layout the flags describe, checked against the model and the cluster.
fn resolve_layout(args: &Args, shape: &ModelShape, hw: &Hardware, gpus: u64) -> Result<Layout> {
    let tp_pp =
        args.tp.checked_mul(args.pp).filter(|&n| n <= gpus).with_context(|| {
            format!("--tp {} × --pp {} exceeds the {gpus} GPUs", args.tp, args.pp)
        })?;
    let dp = match args.dp {
        Some(dp) => {
            ensure!(
                tp_pp * dp == gpus,
                "--tp {} × --pp {} × --dp {dp} = {} GPUs, but the cluster has {gpus}",
                args.tp,
                args.pp,
                tp_pp * dp
            );
            dp
        }
        None => {
            ensure!(
                gpus.is_multiple_of(tp_pp),
                "--tp {} × --pp {} = {tp_pp} does not divide the {gpus} GPUs",
                args.tp,
                args.pp
            );
            gpus / tp_pp
        }
    };
    let seq = args.seq.unwrap_or(shape.context);
    let global_batch =
        args.global_batch.unwrap_or_else(|| default_global_batch(seq, dp * args.micro_batch));
    let layout = Layout {
        tp: args.tp,
        pp: args.pp,
        dp,
        zero: args.zero,
        micro_batch: args.micro_batch,
        global_batch,
        seq,
        recompute: args.recompute,
        sequence_parallel: args.tp > 1 && !args.no_sequence_parallel,
        flash_attention: !args.no_flash_attention,
        interleave: args.interleave,
    };
    layout.validate(shape, hw.gpus_per_node)?;
    Ok(layout)
}

/// About 4M tokens per step (Touvron et al. 2023 §2.2: Llama 2's 4M-token batches), rounded up
/// to a multiple of `unit` sequences.
fn default_global_batch(seq: u64, unit: u64) -> u64 {
    let sequences = (4_194_304 / seq).max(1);
    sequences.div_ceil(unit) * unit
}

/// --gpus, or --nodes × GPUs per node, or the layout's t·p·d when --dp is given, or one node.
fn cluster_gpus(args: &Args, hw: &Hardware) -> Result<u64> {
    let gpus = match (args.gpus, args.nodes, args.dp) {
        (Some(g), _, _) => Some(g),
        (None, Some(n), _) => n.checked_mul(hw.gpus_per_node),
        (None, None, Some(dp)) => args.tp.checked_mul(args.pp).and_then(|tp| tp.checked_mul(dp)),
        (None, None, None) => Some(hw.gpus_per_node),
    };
    gpus.context("the number of GPUs overflows")
}

/// Everything the default report shows, computed once.
struct Report {
    name: String,
    shape: ModelShape,
    hw: Hardware,
    gpus: u64,
    tokens: f64,
    tokens_source: &'static str,
    convention: FlopConvention,
    recipe: TrainRecipe,
    layout: Layout,
    peak: f64,
    mfu: f64,
    mfu_source: String,
    memory: cost::TrainMemory,
    step: StepTime,
    setup: InferenceSetup,
    inference: cost::InferenceEstimate,
    group_size: u64,
}

impl Report {
    fn build(name: &str, shape: &ModelShape, hw: &Hardware, mfu: f64, args: &Args) -> Result<Self> {
        let gpus = cluster_gpus(args, hw)?;
        let (tokens, tokens_source) = match args.tokens {
            Some(t) => (t, "--tokens"),
            None => (20.0 * shape.params().total as f64, "20 per parameter (Hoffmann et al. 2022)"),
        };
        let layout = resolve_layout(args, shape, hw, gpus)?;
        let peak = hw.peak_flops(args.recipe.compute_precision())?;
        let (mfu, mfu_source) = match args.tokens_per_second {
            Some(tps) => (
                cost::mfu(tps, shape.flops_per_token(args.convention), gpus as f64 * peak),
                format!("measured: {tps} tokens/s over {gpus} GPUs"),
            ),
            None if args.mfu.is_some() => (mfu, "--mfu".to_string()),
            None => (mfu, format!("assumed for {}", hw.name)),
        };
        if mfu > 1.0 {
            // Not an input error: the throughput may be right and the peak too low (a `cpu`
            // probe under load, a hardware file with the wrong figure). Say so and go on.
            eprintln!(
                "warning: the measured throughput is {:.0}% of {}'s peak: the peak ({}) is too low for this run",
                mfu * 100.0,
                hw.name,
                flops_rate(peak)
            );
        }
        let memory = shape.train_memory(args.recipe, &layout);
        let step = StepTime::model(shape, &layout, hw, args.recipe, args.convention, mfu)?;
        let prompt = args.prompt.unwrap_or((shape.context / 2).max(1));
        let generate = args.generate.unwrap_or(shape.context / 2);
        let mut setup = InferenceSetup {
            weights: Quantization::new(args.infer_precision, args.group_size)?,
            kv_precision: args.kv_precision,
            batch: args.batch,
            prompt,
            generate,
            gpus: args.infer_gpus.unwrap_or(1),
        };
        let mut inference = shape.inference(hw, &setup)?;
        if args.infer_gpus.is_none() {
            while !inference.fits && setup.gpus < 1024 {
                setup.gpus *= 2;
                inference = shape.inference(hw, &setup)?;
            }
        }
        Ok(Self {
            name: name.to_string(),
            shape: shape.clone(),
            hw: hw.clone(),
            gpus,
            tokens,
            tokens_source,
            convention: args.convention,
            recipe: args.recipe,
            layout,
            peak,
            mfu,
            mfu_source,
            memory,
            step,
            setup,
            inference,
            group_size: args.group_size,
        })
    }

    fn train_flops(&self) -> f64 {
        self.shape.train_flops(self.tokens, self.convention, Recompute::None)
    }

    fn train_seconds(&self) -> f64 {
        cost::train_seconds(self.train_flops(), self.gpus, self.peak, self.mfu)
    }

    fn usable_memory(&self) -> f64 {
        self.hw.memory_bytes * cost::USABLE_MEMORY
    }

    fn storage(&self) -> Vec<(Quantization, f64)> {
        [Precision::Fp32, Precision::Bf16, Precision::Fp8, Precision::Int8, Precision::Int4]
            .into_iter()
            .map(|p| {
                let q = Quantization { precision: p, group_size: self.group_size };
                (q, q.bytes(self.shape.params().total))
            })
            .collect()
    }

    fn json(&self) -> Value {
        let p = self.shape.params();
        let m = &self.memory;
        let steps = self.tokens / self.layout.tokens_per_step() as f64;
        json!({
            "model": { "name": self.name, "shape": self.shape },
            "params": { "total": p.total, "embedding": p.embedding, "non_embedding": p.non_embedding },
            "flops": {
                "convention": self.convention,
                "formula": self.convention.formula(),
                "per_token_forward": self.shape.forward_flops_per_token(self.convention),
                "per_token_train": self.shape.flops_per_token(self.convention),
                "per_token_recompute": self.shape.recompute_flops_per_token(self.convention, self.layout.recompute),
                "tokens": self.tokens,
                "tokens_source": self.tokens_source,
                "train_total": self.train_flops(),
                "train_total_with_recompute": self.shape.train_flops(self.tokens, self.convention, self.layout.recompute),
            },
            "hardware": self.hw,
            "layout": {
                "gpus": self.gpus,
                "tp": self.layout.tp, "pp": self.layout.pp, "dp": self.layout.dp,
                "zero": self.layout.zero,
                "micro_batch": self.layout.micro_batch,
                "global_batch": self.layout.global_batch,
                "seq": self.layout.seq,
                "micro_batches": self.layout.micro_batches(),
                "recompute": self.layout.recompute,
                "sequence_parallel": self.layout.sequence_parallel,
                "flash_attention": self.layout.flash_attention,
                "interleave": self.layout.interleave,
                "bubble_fraction": self.layout.bubble_fraction(),
            },
            "memory": {
                "recipe": self.recipe,
                "per_gpu_bytes": m.total(),
                "per_gpu_gib": cost::gib(m.total()),
                "per_gpu_gb": cost::gb(m.total()),
                "capacity_bytes": self.hw.memory_bytes,
                "usable_bytes": self.usable_memory(),
                "fits": m.total() <= self.usable_memory(),
                "params_per_gpu": m.params_per_gpu,
                "parts": {
                    "weights": m.weights,
                    "gradients": m.gradients,
                    "optimizer": m.optimizer,
                    "activations": m.activations,
                },
            },
            "time": {
                "gpus": self.gpus,
                "peak_flops_per_gpu": self.peak,
                "mfu": self.mfu,
                "mfu_source": self.mfu_source,
                "train_seconds": self.train_seconds(),
                "train_days": self.train_seconds() / cost::DAY,
                "gpu_hours": self.train_seconds() * self.gpus as f64 / 3600.0,
                "layout_model": {
                    "step_seconds": self.step.total(),
                    "compute_seconds": self.step.compute,
                    "bubble_seconds": self.step.bubble,
                    "comm_seconds": self.step.comm,
                    "steps": steps,
                    "train_seconds": steps * self.step.total(),
                },
            },
            "inference": {
                "setup": self.setup,
                "kv_cache_bytes_per_token": self.inference.kv_cache_bytes_per_token,
                "weights_bytes": self.inference.weights_bytes,
                "kv_cache_bytes": self.inference.kv_cache_bytes,
                "memory_bytes": self.inference.memory_bytes,
                "fits": self.inference.fits,
                "max_batch": self.inference.max_batch,
                "prefill_seconds": self.inference.prefill_seconds,
                "decode_seconds_per_token": self.inference.decode_seconds_per_token,
                "decode_tokens_per_second": self.inference.decode_tokens_per_second,
                "decode_memory_bound": self.inference.decode_memory_bound,
            },
            "storage": self.storage().iter().map(|(q, b)| json!({
                "precision": q.precision,
                "group_size": q.precision.is_integer().then_some(q.group_size),
                "bytes_per_param": q.bytes_per_param(),
                "bytes": b,
            })).collect::<Vec<_>>(),
        })
    }

    fn print(&self) {
        let s = &self.shape;
        let p = s.params();
        println!(
            "model {}: {}, {} layers, d_model {}, {} heads ({} KV) of {}, d_ff {}, vocab {}, context {}, {} embeddings",
            self.name,
            s.family,
            s.n_layer,
            s.d_model,
            s.n_head,
            s.n_kv_heads,
            s.head_dim,
            s.d_ff,
            s.vocab,
            s.context,
            if s.tied_embeddings { "tied" } else { "untied" }
        );
        println!();
        println!("parameters");
        println!("  total          {:>18}", thousands(p.total));
        println!("  embedding      {:>18}", thousands(p.embedding));
        println!("  non-embedding  {:>18}", thousands(p.non_embedding));
        println!();
        println!("FLOPs ({}: {})", self.convention, self.convention.formula());
        println!(
            "  per token, forward            {}",
            sci(s.forward_flops_per_token(self.convention))
        );
        println!("  per token, forward+backward   {}", sci(s.flops_per_token(self.convention)));
        println!("  tokens                        {} ({})", sci(self.tokens), self.tokens_source);
        println!("  training total                {} FLOPs", sci(self.train_flops()));
        if self.layout.recompute != Recompute::None {
            println!(
                "  {:<29} {} FLOPs (hardware; MFU counts the line above)",
                format!("with {} recomputation", self.layout.recompute),
                sci(s.train_flops(self.tokens, self.convention, self.layout.recompute))
            );
        }
        let l = &self.layout;
        println!();
        println!(
            "training memory per GPU ({}; tp {} × pp {} × dp {} = {} GPU(s), ZeRO-{}, micro-batch {} × {} tokens, {} micro-batches, recompute {}{}{})",
            self.recipe,
            l.tp,
            l.pp,
            l.dp,
            l.gpus(),
            l.zero,
            l.micro_batch,
            l.seq,
            l.micro_batches(),
            l.recompute,
            if l.sequence_parallel { ", sequence parallel" } else { "" },
            if l.flash_attention { ", flash attention" } else { "" },
        );
        let m = &self.memory;
        for (part, bytes) in [
            ("weights", m.weights),
            ("gradients", m.gradients),
            ("optimizer", m.optimizer),
            ("activations", m.activations),
            ("total", m.total()),
        ] {
            println!("  {part:<12} {}", bytes_both(bytes));
        }
        let fits = m.total() <= self.usable_memory();
        println!(
            "  {} on {} ({} capacity, {:.0}% usable)",
            if fits { "fits" } else { "DOES NOT FIT" },
            self.hw.name,
            bytes_both(self.hw.memory_bytes),
            cost::USABLE_MEMORY * 100.0
        );
        println!();
        let secs = self.train_seconds();
        println!(
            "training time on {} × {} at {:.1}% MFU ({}; {} peak {})",
            self.gpus,
            self.hw.name,
            self.mfu * 100.0,
            self.mfu_source,
            self.recipe.compute_precision(),
            flops_rate(self.peak)
        );
        println!(
            "  {} days ({} s), {} GPU-hours",
            sig3(secs / cost::DAY),
            sci(secs),
            sig3(secs * self.gpus as f64 / 3600.0)
        );
        let st = &self.step;
        println!(
            "  layout model, per step: compute {}, bubble {}, tensor-parallel comm {}, data-parallel comm {}, pipeline comm {}: {} × {} steps = {} days (no overlap: an upper bound)",
            dur(st.compute),
            dur(st.bubble),
            dur(st.comm.tensor_parallel),
            dur(st.comm.data_parallel),
            dur(st.comm.pipeline),
            dur(st.total()),
            sci(self.tokens / l.tokens_per_step() as f64),
            sig3(self.tokens / l.tokens_per_step() as f64 * st.total() / cost::DAY)
        );
        println!();
        let (inf, su) = (&self.inference, &self.setup);
        println!(
            "inference ({} weights, {} KV cache, batch {}, prompt {} + {} generated, {} × {}; roofline)",
            su.weights.precision,
            su.kv_precision,
            su.batch,
            su.prompt,
            su.generate,
            su.gpus,
            self.hw.name
        );
        println!(
            "  KV cache per token     {} bytes",
            thousands(inf.kv_cache_bytes_per_token as u64)
        );
        println!("  weights                {}", bytes_both(inf.weights_bytes));
        println!("  KV cache, whole batch  {}", bytes_both(inf.kv_cache_bytes));
        println!(
            "  total                  {} ({}; largest batch that fits: {})",
            bytes_both(inf.memory_bytes),
            if inf.fits { "fits" } else { "DOES NOT FIT" },
            inf.max_batch
        );
        println!("  prefill                {}", dur(inf.prefill_seconds));
        println!(
            "  decode                 {} per step, {:.1} tokens/s ({})",
            dur(inf.decode_seconds_per_token),
            inf.decode_tokens_per_second,
            if inf.decode_memory_bound { "memory-bound" } else { "compute-bound" }
        );
        println!();
        println!("storage (weights; int formats with one scale per {} weights)", self.group_size);
        for (q, b) in self.storage() {
            println!(
                "  {:<5} {:>7.4} B/param  {}",
                q.precision.to_string(),
                q.bytes_per_param(),
                bytes_both(b)
            );
        }
    }
}

fn search(
    args: &Args,
    shape: &ModelShape,
    hw: &Hardware,
    report: &Report,
) -> Result<cost::SearchResult> {
    let seq = args.seq.unwrap_or(shape.context);
    let space = SearchSpace {
        gpus: report.gpus,
        global_batch: args.global_batch.unwrap_or(report.layout.global_batch),
        seq,
        tokens: report.tokens,
        recipe: args.recipe,
        convention: args.convention,
        mfu: report.mfu,
        flash_attention: !args.no_flash_attention,
    };
    Ok(cost::search(shape, hw, &space, args.top)?)
}

fn print_search(r: &cost::SearchResult, report: &Report) {
    println!();
    println!(
        "layout search on {} × {}: {} layouts enumerated, {} fit in {:.0}% of {}; fastest {} (step time modelled without overlap)",
        report.gpus,
        report.hw.name,
        r.enumerated,
        r.fitting,
        cost::USABLE_MEMORY * 100.0,
        bytes_both(report.hw.memory_bytes),
        r.best.len()
    );
    if r.best.is_empty() {
        println!(
            "  nothing fits: add GPUs, use a larger GPU, or a lighter recipe (--recipe adam8bit)"
        );
        return;
    }
    println!(
        "  {:>3} {:>3} {:>4} {:>4} {:>9} {:>5} {:>11} {:>11} {:>9} {:>8} {:>8} {:>10}",
        "tp",
        "pp",
        "dp",
        "zero",
        "recompute",
        "mb",
        "memory GiB",
        "step s",
        "bubble %",
        "comm %",
        "days",
        "layout MFU"
    );
    for c in &r.best {
        let l = c.layout;
        let step = c.step.total();
        println!(
            "  {:>3} {:>3} {:>4} {:>4} {:>9} {:>5} {:>11.2} {:>11.3} {:>9.1} {:>8.1} {:>8.1} {:>9.1}%",
            l.tp,
            l.pp,
            l.dp,
            l.zero,
            l.recompute.to_string(),
            l.micro_batch,
            cost::gib(c.memory.total()),
            step,
            c.step.bubble / step * 100.0,
            c.step.comm.total() / step * 100.0,
            c.train_seconds / cost::DAY,
            layout_mfu(report, c) * 100.0,
        );
    }
}

/// Model FLOPs of a step over what the GPUs could do in the modelled step time.
fn layout_mfu(report: &Report, c: &cost::Candidate) -> f64 {
    let model_flops =
        c.layout.tokens_per_step() as f64 * report.shape.flops_per_token(report.convention);
    model_flops / (c.step.total() * report.gpus as f64 * report.peak)
}

/// `--ladder`: the seeds' table of cost by size.
fn ladder(args: &Args, hw: &Hardware, mfu: f64, json: bool) -> Result<()> {
    let sizes =
        if args.sizes.is_empty() { cost::DEFAULT_LADDER.to_vec() } else { args.sizes.clone() };
    let fit = args.fit.as_deref().map(read_fit).transpose()?;
    let rule = match &fit {
        Some((path, _)) => format!("compute-optimal D for each N from {}", path.display()),
        None => "20 tokens per parameter (Hoffmann et al. 2022)".to_string(),
    };
    // The fitted law gives, for each N, the D at which N is compute-optimal; every rung is
    // planned once up front so that a law that cannot plan fails with its reason.
    let tokens: Box<dyn Fn(f64) -> f64 + '_> = match &fit {
        Some((path, f)) => {
            for &size in &sizes {
                let n = cost::ladder_shape(size).params().total as f64;
                isoflop_law::plan::for_params(f, n).with_context(|| {
                    format!(
                        "cannot plan the tokens of a {n:.3e}-parameter model from {}",
                        path.display()
                    )
                })?;
            }
            Box::new(|n| isoflop_law::plan::for_params(f, n).map_or(f64::NAN, |p| p.d_opt))
        }
        None => Box::new(|n| 20.0 * n),
    };
    let l = cost::ladder(&sizes, &*tokens, hw, mfu, args.convention, args.group_size)?;
    if json {
        return print_json(&json!({ "ladder": {
            "hardware": hw.name,
            "mfu": mfu,
            "convention": args.convention,
            "tokens_rule": rule,
            "rows": l.rows,
            "compute_law": l.compute_law,
            "storage_law": l.storage_law.map(|s| json!({ "k": s.k, "q": s.p })),
        }}));
    }
    println!(
        "size ladder on {} at {:.0}% MFU; tokens: {rule}; FLOPs: {}; GB = 1e9 bytes; serving in bf16 at full context, batch 1 (roofline)",
        hw.name,
        mfu * 100.0,
        args.convention
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
            s.p
        );
    }
    Ok(())
}

/// Reads `isoflop fit -o fit.json`.
fn read_fit(path: &Path) -> Result<(PathBuf, isoflop_law::Fit)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read fit {}", path.display()))?;
    let fit: isoflop_law::Fit = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a fit written by `isoflop fit -o`", path.display()))?;
    Ok((path.to_path_buf(), fit))
}

/// `9.22e22`.
fn sci(x: f64) -> String {
    format!("{x:.3e}")
}

/// Three significant figures without exponent for everyday magnitudes: `0.0412`, `181.6`.
fn sig3(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.1}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// `7B`, `300M`.
fn short(n: f64) -> String {
    if n >= 1e9 { format!("{}B", n / 1e9) } else { format!("{}M", n / 1e6) }
}

/// `13.48 GB (12.55 GiB)`.
fn bytes_both(b: f64) -> String {
    format!("{:.2} GB ({:.2} GiB)", cost::gb(b), cost::gib(b))
}

/// `989.4 TFLOP/s`.
fn flops_rate(f: f64) -> String {
    if f >= 1e12 { format!("{:.1} TFLOP/s", f / 1e12) } else { format!("{:.1} GFLOP/s", f / 1e9) }
}

/// `4.26 ms`, `1.2 s`.
fn dur(s: f64) -> String {
    if s == 0.0 {
        "0".to_string()
    } else if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(bytes_both(1_073_741_824.0), "1.07 GB (1.00 GiB)");
        assert_eq!(short(3e8), "300M");
        assert_eq!(default_global_batch(4096, 8), 1024);
        assert_eq!(default_global_batch(4096, 24), 1032);
    }
}
