//! `isoflop sweep`.

/// Arguments of `isoflop sweep`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop sweep`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop sweep` is not built yet")
}
