//! `isoflop fit`.

/// Arguments of `isoflop fit`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop fit`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop fit` is not built yet")
}
