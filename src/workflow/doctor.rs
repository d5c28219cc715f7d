//! `handover doctor`: a read-only check of a tenant against every assumption handover
//! makes ([`crate::api::doctor`]), with a report that can be attached to an issue.
//!
//! Order, so that nothing is sent when an input is wrong: the connection settings, the
//! report's file (created under a temporary name beside `--out`, so an unwritable path
//! fails with [`exit::INVALID_INPUT`] before the first request), the preflight (a failed
//! connection is [`exit::FATAL`]), the probes, the report.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::api::config::ConnInputs;
use crate::api::doctor::{self, Report};
use crate::api::{ClientPolicy, RetryPolicy};
use crate::exit;
use crate::files::AtomicFile;

use super::{connect_with, settings_of};

/// What `handover doctor` was asked to do.
#[derive(Clone, Debug)]
pub struct DoctorSettings {
    /// Where DataRobot is and the token.
    pub conn: ConnInputs,
    /// Requests per second, at most; one request is in flight at a time.
    pub rate: f64,
    /// The most HTTP requests the run may send, the preflight and retries included.
    pub max_requests: u64,
    /// Where to write the JSON report.
    pub out: Option<PathBuf>,
    /// Put the caller's and the sampled entities' ids in the report.
    pub show_ids: bool,
}

impl Default for DoctorSettings {
    fn default() -> Self {
        DoctorSettings {
            conn: ConnInputs::default(),
            rate: 5.0,
            max_requests: doctor::DEFAULT_BUDGET,
            out: None,
            show_ids: false,
        }
    }
}

/// What a doctor run found, and the exit code it deserves: [`exit::OK`] when nothing
/// differs (unknowns included), [`exit::DIFFERS`] when some assumption differs.
#[derive(Clone, Debug)]
pub struct DoctorOutcome {
    /// The findings, counts and (with `show_ids`) ids.
    pub report: Report,
    /// The exit code.
    pub code: i32,
}

/// The client's policy for a doctor run: GETs only, a fixed gentle rate, one request at
/// a time (the probes are sequential), a hard budget, and fewer retries than a run's.
pub fn policy(settings: &DoctorSettings) -> ClientPolicy {
    ClientPolicy {
        rate_per_sec: settings.rate,
        pace: None,
        burst: 1,
        read_only: true,
        max_requests: Some(settings.max_requests),
        retry: RetryPolicy {
            max_attempts: 4,
            server_error_attempts: 2,
            max_retry_after: std::time::Duration::from_secs(30),
            ..RetryPolicy::default()
        },
        ..ClientPolicy::default()
    }
}

/// Runs `handover doctor`.
pub async fn run(settings: &DoctorSettings) -> anyhow::Result<DoctorOutcome> {
    let conn = settings_of(&settings.conn)?;
    let mut file = match &settings.out {
        Some(path) => Some(AtomicFile::create(path).map_err(|e| {
            exit::with_code(
                exit::INVALID_INPUT,
                anyhow::Error::new(e).context(format!("cannot write {}", path.display())),
            )
        })?),
        None => None,
    };
    let (client, account) = connect_with(conn, policy(settings)).await?;
    let mut report = doctor::run(&client, &account, settings.max_requests).await;
    if !settings.show_ids {
        report.ids = None;
    }
    if let Some(mut f) = file.take() {
        let path = f.path().display().to_string();
        serde_json::to_writer_pretty(&mut f, &report)
            .context("cannot render the report")
            .and_then(|()| f.write_all(b"\n").context("cannot write the report"))
            .and_then(|()| f.commit().context("cannot write the report"))
            .with_context(|| format!("writing {path}"))?;
    }
    let code = if report.differs() {
        exit::DIFFERS
    } else {
        exit::OK
    };
    Ok(DoctorOutcome { report, code })
}
