//! `isoflop train`.

/// Arguments of `isoflop train`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop train`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop train` is not built yet")
}
