//! `handover doctor [--out REPORT.json]`: a read-only check of a tenant against every
//! assumption handover makes, one line each (`holds`, `differs`, `unknown`). Exit 0 when
//! nothing differs, [`exit::DIFFERS`] when something does, 1 when the connection fails.
//! The work is [`crate::workflow::doctor`]'s.

use std::path::PathBuf;

use crate::exit;
use crate::workflow::doctor::{self, DoctorSettings};

use super::conn::{ConnOpts, parse_rate};

/// `handover doctor`: does this DataRobot behave as handover assumes?
#[derive(Debug, clap::Args)]
pub struct DoctorOpts {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// Write the report as JSON: findings, counts and shapes, no ids, names or URLs (safe
    /// to attach to an issue).
    #[arg(long, value_name = "REPORT.json")]
    pub out: Option<PathBuf>,
    /// Also put the caller's and the sampled entities' ids in the report, for your own use.
    #[arg(long)]
    pub show_ids: bool,
    /// Requests per second, at most (one at a time).
    #[arg(long, value_name = "N", default_value = "5", value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: f64,
    /// The most requests the run may send; checks left when it is spent say `unknown
    /// (budget)`.
    #[arg(long, value_name = "N", default_value = "400", value_parser = parse_budget)]
    pub max_requests: u64,
}

/// Parses `--max-requests`: at least 10 (the preflight and the users check alone take 4).
fn parse_budget(raw: &str) -> Result<u64, String> {
    match raw.trim().parse::<u64>() {
        Ok(n) if (10..=100_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "{raw:?} is not a number of requests between 10 and 100000"
        )),
    }
}

/// `handover doctor`.
pub async fn run(opts: DoctorOpts) -> anyhow::Result<i32> {
    let settings = DoctorSettings {
        conn: opts.conn.inputs(),
        rate: opts.rate,
        max_requests: opts.max_requests,
        out: opts.out,
        show_ids: opts.show_ids,
    };
    let outcome = doctor::run(&settings).await?;
    print!("{}", outcome.report.render());
    if let Some(out) = &settings.out {
        println!("report: {}", out.display());
    }
    debug_assert!(matches!(outcome.code, exit::OK | exit::DIFFERS));
    Ok(outcome.code)
}
