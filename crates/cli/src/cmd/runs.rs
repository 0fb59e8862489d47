//! `isoflop runs`.

/// Arguments of `isoflop runs`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop runs`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop runs` is not built yet")
}
