//! `isoflop demo`.

/// Arguments of `isoflop demo`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `isoflop demo`.
pub fn run(_args: Args, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("`isoflop demo` is not built yet")
}
