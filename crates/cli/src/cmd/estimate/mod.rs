//! `isoflop estimate`: what a model costs to train, store and serve.
//!
//! Three views of one [`isoflop_cost::Estimate`], which `isoflop_cost::estimate` resolves from
//! the flags (defaults → preset or file → flags):
//! - the default report: parameters, FLOPs, training memory per GPU for one layout, training
//!   time ([`print_train`]), inference (KV cache, prefill, decode) and storage by precision
//!   ([`print_inference`]);
//! - `--search`: every parallel layout of the cluster, the fastest ten that fit ([`search`]);
//! - `--ladder`: the size ladder with tokens, FLOPs, GPU-days, checkpoints, serving memory and
//!   latency, and the power laws C(n) and S(n); `--fit fit.json` takes the tokens from a fitted
//!   law (`isoflop fit -o fit.json`) instead of 20 per parameter ([`ladder`]).
//!
//! All arithmetic and every default lives in isoflop-cost; these files parse and print.
//! `--json` prints the estimate itself. Bytes are shown as GB (10^9) and GiB (2^30), each
//! labelled.

mod args;
mod ladder;
mod print_inference;
mod print_train;
mod search;

pub use args::Args;

use anyhow::Result;
use isoflop_cost::{self as cost, Estimate};

use crate::output::print_json;

/// Runs `isoflop estimate`.
pub fn run(args: Args, json: bool) -> Result<()> {
    let spec = args.spec();
    let estimate = match &args.fit {
        // Read on the first rung, after the spec and hardware are checked (as without --fit).
        Some(path) if args.ladder => cost::estimate_with(&spec, &ladder::FitTokens::new(path))?,
        _ => cost::estimate(&spec)?,
    };
    if let Estimate::Model(e) = &estimate {
        for w in &e.warnings {
            eprintln!("warning: {w}");
        }
    }
    if json {
        // Through `Value`, whose maps sort their keys: the same document whoever serialises.
        return print_json(&serde_json::to_value(&estimate)?);
    }
    match &estimate {
        Estimate::Ladder { ladder } => ladder::print(ladder),
        Estimate::Model(e) => {
            print_train::print(e);
            print_inference::print(e);
            if let Some(s) = &e.search {
                search::print(s, e);
            }
        }
    }
    Ok(())
}
