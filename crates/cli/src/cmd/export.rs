//! `isoflop export`.

/// Arguments of `isoflop export`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop export`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop export` is not built yet")
}
