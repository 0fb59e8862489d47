//! `isoflop`: scaling laws for language models, from measurement to plan.
//!
//! Each verb lives in its own file under `cmd/`; this file only parses and dispatches.
//! Errors print their whole chain (with `--json`, one JSON document on stdout: see
//! [`failure`]) and exit with status 2 (bad input, missing file, refused option); nothing is
//! left half-written, since every output file goes through [`output::write_atomic`].

mod args;
mod cmd;
mod env;
mod failure;
mod format;
mod output;
mod sweep;

use clap::{CommandFactory, FromArgMatches, Subcommand};

/// Scaling laws for language models: measure, fit, plan, estimate, report.
#[derive(Debug, clap::Parser)]
#[command(name = "isoflop", version, about, propagate_version = true)]
pub struct Cli {
    /// Print one JSON document on stdout instead of human tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fit a scaling law to (N, D, loss) observations.
    Fit(cmd::fit::Args),
    /// Predict the loss of a model of N parameters trained on D tokens from a saved fit.
    Predict(cmd::predict::Args),
    /// Turn a compute budget (or a target loss) into the compute-optimal N and D.
    Plan(cmd::plan::Args),
    /// Estimate parameters, FLOPs, memory, parallel layouts, time, inference and storage.
    Estimate(cmd::estimate::Args),
    /// Fetch and inspect the training corpus.
    Corpus(cmd::corpus::Args),
    /// Train one GPT model on a token budget and measure it.
    Train(cmd::train::Args),
    /// Benchmarks of the hot loops.
    Bench(cmd::bench::Args),
    /// Plan and run a sweep of training runs.
    Sweep(cmd::sweep::Args),
    /// Move sweeps between run stores (SQLite and PostgreSQL).
    Store(cmd::store::Args),
    /// List the runs in the run store.
    Runs(cmd::runs::Args),
    /// Export stored runs as observations that `isoflop fit` reads.
    Export(cmd::export::Args),
    /// Import runs made by other tools into the run store.
    Import(cmd::import::Args),
    /// Write the HTML report of a sweep.
    Report(cmd::report::Args),
    /// Fine-tune a pretrained run on a labelled task (full, lora, adapter, bitfit, scratch).
    Finetune(cmd::finetune::Args),
    /// Labelled tasks for fine-tuning: list, fetch, show.
    Tasks(cmd::tasks::Args),
    /// Run the whole loop on a CPU: corpus, sweep, fit, plan, report.
    Demo(cmd::demo::Args),
    /// Quantize, prune or distil a trained model; save it packed and measure what it costs.
    Compress(cmd::compress::Args),
}

fn main() {
    restore_default_sigpipe();
    // `--json` is global: known before parsing succeeds, so usage errors honour it too.
    let json = std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json");
    let matches =
        Cli::command().try_get_matches().unwrap_or_else(|e| failure::exit_on_usage_error(e, json));
    let cli =
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| failure::exit_on_usage_error(e, json));
    let json = cli.json;
    let result = match cli.command {
        Command::Fit(a) => cmd::fit::run(a, json),
        Command::Predict(a) => cmd::predict::run(a, json),
        Command::Plan(a) => cmd::plan::run(a, json),
        Command::Estimate(a) => cmd::estimate::run(a, json),
        Command::Corpus(a) => cmd::corpus::run(a, json),
        Command::Train(a) => cmd::train::run(a, json),
        Command::Bench(a) => cmd::bench::run(a, json),
        Command::Sweep(a) => cmd::sweep::run(a, json),
        Command::Store(a) => cmd::store::run(a, json),
        Command::Runs(a) => cmd::runs::run(a, json),
        Command::Export(a) => cmd::export::run(a, json),
        Command::Import(a) => cmd::import::run(a, json),
        Command::Report(a) => cmd::report::run(a, json),
        Command::Demo(a) => cmd::demo::run(a, json),
        Command::Compress(a) => cmd::compress::run(a, json),
        Command::Tasks(a) => cmd::tasks::run(a, json),
        Command::Finetune(a) => cmd::finetune::run(a, json),
    };
    if let Err(err) = result {
        failure::print(&err, json);
        std::process::exit(2);
    }
}

/// Lets `isoflop ... | head` end quietly: Rust ignores SIGPIPE, so a closed stdout makes
/// `println!` panic; with the default disposition the process simply ends, as other Unix
/// tools do.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; resetting a signal's
    // disposition to its default has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
