//! `isoflop report`.

/// Arguments of `isoflop report`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop report`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop report` is not built yet")
}
