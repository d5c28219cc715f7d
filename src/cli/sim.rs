//! `handover sim` (being written).

/// Options of `handover sim`.
#[derive(Debug, clap::Args)]
pub struct SimOpts {}

/// Runs the simulator until Ctrl-C.
pub async fn run(_opts: SimOpts) -> anyhow::Result<i32> {
    anyhow::bail!("not yet")
}
