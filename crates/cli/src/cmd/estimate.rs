//! `isoflop estimate`.

/// Arguments of `isoflop estimate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop estimate`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop estimate` is not built yet")
}
