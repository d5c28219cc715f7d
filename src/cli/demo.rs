//! `handover demo`: flags into [`DemoSettings`]; the work is `workflow::demo`'s.

use std::path::PathBuf;

use crate::workflow::demo::{self, DemoSettings};

/// Options of `handover demo`.
#[derive(Debug, clap::Args)]
pub struct DemoOpts {
    /// Entities the departing user owns, per type (25 writable types).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub per_kind: usize,
    /// Seed of the organisation and of the injected faults.
    #[arg(long, value_name = "N", default_value_t = 7)]
    pub seed: u64,
    /// Where to write the plan, journal and report [default: a new directory under the
    /// system's temporary directory].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub pace: super::conn::PaceOpts,
}

/// Runs `handover demo`.
pub async fn run(opts: DemoOpts, quiet: bool) -> anyhow::Result<i32> {
    let settings = DemoSettings {
        per_kind: opts.per_kind,
        seed: opts.seed,
        dir: opts.dir,
        policy: opts.pace.policy(),
        workers: opts.pace.workers(),
        progress: super::progress_kind(quiet),
        planner_progress: super::progress_on(quiet),
    };
    demo::run(settings, quiet, |resume| {
        super::shutdown_signal(resume.to_string())
    })
    .await
}
