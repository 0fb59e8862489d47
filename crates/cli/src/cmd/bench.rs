//! `isoflop bench`: benchmarks of the hot loops.
//!
//! `isoflop bench train` times training steps of the reference shapes of
//! tools/torch_gpt_reference.py (S: 4 layers, d 128, 4 heads; M: 6 layers, d 256,
//! 8 heads; vocabulary 256, context 128, batch 32) on random tokens, as that script does, and
//! reports the median step as tokens/s, achieved GFLOP/s and MFU. FLOPs per token are
//! isoflop-cost's PaLM count (6·N + 12·L·T·d, N non-embedding; PaLM appendix B) at the
//! benchmarked sequence length. The peak is measured on this machine with an FMA loop
//! ([`isoflop_train::kernels::measure_peak_flops`]) before and after the steps, since a shared
//! machine's speed drifts; MFU is quoted against the higher of the two.
//!
//! `--runs R` trains R models side by side, each on its own `--threads` threads, and reports
//! their summed throughput: the measurement behind
//! [`isoflop_train::kernels::recommended_parallelism`].

use crate::output::print_json;
use anyhow::{Context, Result, bail};
use isoflop_cost::FlopConvention;
use isoflop_train::kernels::{measure_peak_flops, recommended_parallelism};
use isoflop_train::{AdamW, Device, Engine, EngineKind, GptConfig, make_engine};
use serde::Serialize;
use std::time::Instant;

/// Arguments of `isoflop bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Time training steps of a reference shape: tokens/s, GFLOP/s and MFU.
    Train(TrainArgs),
}

/// Arguments of `isoflop bench train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Model shape of the PyTorch reference: S (4 layers, d 128, 4 heads, 875,264 parameters)
    /// or M (6 layers, d 256, 8 heads, 4,902,912 parameters); vocabulary 256, context 128.
    #[arg(long, default_value = "S")]
    shape: String,
    /// Threads per run.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Engine: `kernels` (the fast CPU engine) or `candle` (the autograd reference).
    #[arg(long, value_enum, default_value_t)]
    engine: EngineKind,
    /// Timed steps; the median is reported.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed steps first (allocation, page faults, caches).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Sequences per batch (the reference uses 32).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Tokens per sequence (the reference uses the full context, 128).
    #[arg(long)]
    seq: Option<usize>,
    /// Independent runs trained side by side, each with `--threads` threads.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// The machine's peak in GFLOP/s for MFU; measured with an FMA loop when absent.
    #[arg(long)]
    peak_gflops: Option<f64>,
}

/// One run's timings.
#[derive(Debug, Serialize)]
struct RunResult {
    median_step_s: f64,
    tokens_per_s: f64,
    loss_first: f32,
    loss_last: f32,
}

/// The report of `isoflop bench train`.
#[derive(Debug, Serialize)]
struct TrainReport {
    engine: String,
    shape: String,
    config: GptConfig,
    params: u64,
    batch: usize,
    seq: usize,
    threads: usize,
    runs: usize,
    steps: usize,
    warmup: usize,
    flops_per_token: f64,
    flop_convention: &'static str,
    /// Summed over runs.
    tokens_per_s: f64,
    gflops_per_s: f64,
    peak_gflops_before: Option<f64>,
    peak_gflops_after: Option<f64>,
    peak_gflops: f64,
    peak_source: &'static str,
    mfu: f64,
    recommended_runs: usize,
    recommended_threads_per_run: usize,
    per_run: Vec<RunResult>,
}

/// Runs `isoflop bench`.
pub fn run(args: Args, json: bool) -> Result<()> {
    match args.what {
        What::Train(a) => train(a, json),
    }
}

fn reference_shape(name: &str) -> Result<GptConfig> {
    // tools/torch_gpt_reference.py, SHAPES; VOCAB 256, CONTEXT 128.
    let (n_layer, d_model, n_head) = match name.to_ascii_uppercase().as_str() {
        "S" => (4, 128, 4),
        "M" => (6, 256, 8),
        _ => bail!("--shape {name}: expected S or M (the shapes of torch_gpt_reference.py)"),
    };
    Ok(GptConfig::new(n_layer, d_model, n_head, 256, 128)?)
}

/// xorshift64*: random tokens as the reference script's `torch.randint`, without a dependency.
struct Tokens(u64);

impl Tokens {
    fn next(&mut self, vocab: usize) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % vocab as u64) as u32
    }
}

/// Trains `steps + warmup` steps on random batches; returns the timed steps' durations and
/// the first and last losses.
fn time_run(
    engine: &mut dyn Engine,
    batch: usize,
    seq: usize,
    warmup: usize,
    steps: usize,
    seed: u64,
) -> Result<RunResult> {
    let vocab = engine.config().vocab;
    let mut rng = Tokens(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x1000_0000_01B3));
    let opt = AdamW::default();
    let (mut times, mut losses) = (Vec::new(), Vec::new());
    for step in 0..warmup + steps {
        let data: Vec<u32> = (0..batch * (seq + 1)).map(|_| rng.next(vocab)).collect();
        let (mut x, mut y) = (Vec::with_capacity(batch * seq), Vec::with_capacity(batch * seq));
        for row in data.chunks(seq + 1) {
            x.extend_from_slice(&row[..seq]);
            y.extend_from_slice(&row[1..]);
        }
        let t0 = Instant::now();
        let loss = engine.forward_backward(&x, &y, batch, seq)?;
        engine.step(&opt)?;
        let dt = t0.elapsed().as_secs_f64();
        losses.push(loss);
        if step >= warmup {
            times.push(dt);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(RunResult {
        median_step_s: median,
        tokens_per_s: (batch * seq) as f64 / median,
        loss_first: losses[0],
        loss_last: *losses.last().expect("at least one step"),
    })
}

fn train(a: TrainArgs, json: bool) -> Result<()> {
    let cfg = reference_shape(&a.shape)?;
    let seq = a.seq.unwrap_or(cfg.context);
    if seq == 0 || seq > cfg.context {
        bail!("--seq {seq}: must be between 1 and the context, {}", cfg.context);
    }
    if a.batch == 0 || a.steps == 0 || a.threads == 0 || a.runs == 0 {
        bail!("--batch, --steps, --threads and --runs must be at least 1");
    }
    isoflop_train::check_threads("--threads", a.threads)?;
    let peak_probe = || measure_peak_flops(a.runs * a.threads, 0.25, 3) / 1e9;
    let before = a.peak_gflops.is_none().then(peak_probe);
    let per_run: Vec<RunResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..a.runs)
            .map(|r| {
                let kind = a.engine;
                let (threads, batch, warmup, steps) = (a.threads, a.batch, a.warmup, a.steps);
                s.spawn(move || -> Result<RunResult> {
                    // candle sizes its matmuls' parallelism from the current rayon pool; the pool
                    // bounds it to `threads` as it does the kernels.
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
                    pool.install(|| {
                        let mut engine = make_engine(kind, cfg, 0, Device::Cpu, threads)?;
                        time_run(engine.as_mut(), batch, seq, warmup, steps, r as u64)
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("benchmark thread panicked"))
            .collect::<Result<Vec<_>>>()
    })
    .context("benchmark run failed")?;
    let after = a.peak_gflops.is_none().then(peak_probe);
    let shape = cfg.shape();
    // PaLM appendix B: 3 × (2N + 4·L·d·s) at the benchmarked sequence length s.
    let flops_per_token = 3.0 * shape.forward_flops_per_token_at(FlopConvention::Palm, seq as f64);
    let tokens_per_s: f64 = per_run.iter().map(|r| r.tokens_per_s).sum();
    let gflops = tokens_per_s * flops_per_token / 1e9;
    let (peak, peak_source) = match a.peak_gflops {
        Some(p) => (p, "--peak-gflops"),
        None => (
            before.unwrap_or(0.0).max(after.unwrap_or(0.0)),
            "measured FMA loop, max of before/after",
        ),
    };
    let rec = recommended_parallelism(&cfg, a.runs * a.threads);
    let report = TrainReport {
        engine: a.engine.to_string(),
        shape: a.shape.to_ascii_uppercase(),
        config: cfg,
        params: shape.params().total,
        batch: a.batch,
        seq,
        threads: a.threads,
        runs: a.runs,
        steps: a.steps,
        warmup: a.warmup,
        flops_per_token,
        flop_convention: FlopConvention::Palm.formula(),
        tokens_per_s,
        gflops_per_s: gflops,
        peak_gflops_before: before,
        peak_gflops_after: after,
        peak_gflops: peak,
        peak_source,
        mfu: gflops / peak,
        recommended_runs: rec.runs,
        recommended_threads_per_run: rec.threads_per_run,
        per_run,
    };
    if json {
        return print_json(&report);
    }
    print_human(&report);
    Ok(())
}

fn print_human(r: &TrainReport) {
    let c = &r.config;
    println!(
        "bench train: engine {}, shape {} ({} layers, d {}, {} heads, {} params), batch {} × seq {}",
        r.engine, r.shape, c.n_layer, c.d_model, c.n_head, r.params, r.batch, r.seq
    );
    println!(
        "  {} run(s) × {} thread(s), {} timed steps after {} warm-up",
        r.runs, r.threads, r.steps, r.warmup
    );
    println!(
        "  {:<5} {:>12} {:>12} {:>10} {:>10}",
        "run", "step (s)", "tokens/s", "loss 1st", "loss last"
    );
    for (i, run) in r.per_run.iter().enumerate() {
        println!(
            "  {:<5} {:>12.4} {:>12.0} {:>10.4} {:>10.4}",
            i, run.median_step_s, run.tokens_per_s, run.loss_first, run.loss_last
        );
    }
    let probe = |p: Option<f64>| p.map_or("-".to_string(), |p| format!("{p:.1}"));
    println!("  tokens/s      {:>10.0}", r.tokens_per_s);
    println!(
        "  GFLOP/s       {:>10.1}   ({:.2} MFLOP/token, {})",
        r.gflops_per_s,
        r.flops_per_token / 1e6,
        r.flop_convention
    );
    println!(
        "  peak GFLOP/s  {:>10.1}   (before {}, after {}; {})",
        r.peak_gflops,
        probe(r.peak_gflops_before),
        probe(r.peak_gflops_after),
        r.peak_source
    );
    println!("  MFU           {:>10.1}%", 100.0 * r.mfu);
    println!(
        "  recommended for this shape on {} cores: {} run(s) × {} thread(s)",
        r.runs * r.threads,
        r.recommended_runs,
        r.recommended_threads_per_run
    );
}
