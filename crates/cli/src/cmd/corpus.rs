//! `isoflop corpus`.

/// Arguments of `isoflop corpus`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop corpus`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop corpus` is not built yet")
}
