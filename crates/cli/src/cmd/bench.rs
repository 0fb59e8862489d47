//! `isoflop bench`.

/// Arguments of `isoflop bench`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop bench`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop bench` is not built yet")
}
