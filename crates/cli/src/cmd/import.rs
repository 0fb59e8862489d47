//! `isoflop import`.

/// Arguments of `isoflop import`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop import`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop import` is not built yet")
}
