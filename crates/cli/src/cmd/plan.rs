//! `isoflop plan`.

/// Arguments of `isoflop plan`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop plan`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop plan` is not built yet")
}
