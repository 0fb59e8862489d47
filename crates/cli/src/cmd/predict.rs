//! `isoflop predict`.

/// Arguments of `isoflop predict`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop predict`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop predict` is not built yet")
}
