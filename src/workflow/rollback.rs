//! `rollback`: a journal turned into a plan that puts back what its run changed (or the
//! rollback it records resumed), and that plan run through the executor with a journal of
//! its own, then the report. The work is [`crate::after::rollback`]'s; this is its order.
//!
//! Order of checks, so that nothing is sent when an input is wrong: the source journal
//! (read), the connection settings and the preflight, then the source journal locked and
//! its endpoint compared, the rollback plan made (reads only) or found, the rollback
//! journal created or resumed, then the run.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::after::rollback::{self, RollbackSpec, default_rollback_journal};
use crate::api::config::ConnInputs;
use crate::api::{Client, ClientPolicy};
use crate::exec::report::ReportPaths;
use crate::exec::{ProgressKind, RunSummary, Settings};
use crate::journal::Replay;
use crate::plan::UserIdent;

/// What a rollback runs with.
#[derive(Clone, Debug)]
pub struct RollbackSettings {
    pub conn: ConnInputs,
    pub policy: ClientPolicy,
    /// Entities worked at once.
    pub workers: usize,
    /// The journal of the run to undo.
    pub journal: PathBuf,
    /// The rollback's own journal; `None`: beside the source journal.
    pub rollback_journal: Option<PathBuf>,
    /// Also restore entities changed since the run by someone else.
    pub force: bool,
    /// The report's path stem; `None`: beside the rollback journal.
    pub report: Option<PathBuf>,
    pub progress: ProgressKind,
}

impl RollbackSettings {
    /// The rollback's own journal.
    pub fn rollback_journal(&self) -> PathBuf {
        self.rollback_journal
            .clone()
            .unwrap_or_else(|| default_rollback_journal(&self.journal, self.force))
    }
}

/// A rollback ready to run: its plan made (or found), the client connected.
pub struct Ready {
    pub prepared: rollback::Prepared,
    client: Client,
    caller: UserIdent,
}

/// What a rollback came to: its summary and its report (written, or why not).
#[derive(Debug)]
pub struct RolledBack {
    pub summary: RunSummary,
    pub report: anyhow::Result<()>,
    pub paths: ReportPaths,
}

/// Reads the source journal, connects, and makes the rollback plan (reads only) or finds
/// the one a resumed rollback journal names.
pub async fn prepare(settings: &RollbackSettings) -> anyhow::Result<Ready> {
    // A missing or damaged journal is reported before anything is sent.
    Replay::read(&settings.journal).map_err(|e| e.coded())?;
    let (client, account) = super::connect(&settings.conn, settings.policy.clone()).await?;
    let caller = UserIdent {
        id: account.id.clone(),
        username: account.username.clone(),
    };
    let spec = RollbackSpec {
        journal: settings.journal.clone(),
        rollback_journal: settings.rollback_journal(),
        force: settings.force,
        concurrency: settings.workers,
        caller: caller.clone(),
    };
    let prepared = rollback::prepare(&client, &spec)
        .await
        .map_err(|e| e.coded())?;
    Ok(Ready {
        prepared,
        client,
        caller,
    })
}

/// Runs a prepared rollback to its end (or until `shutdown`), then writes its report.
pub async fn run(
    ready: Ready,
    settings: &RollbackSettings,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<RolledBack> {
    // The spec's journal, or a later generation of it (the source journal grew since).
    let rollback_journal = ready.prepared.journal_path.clone();
    let plan_path = ready.prepared.plan_path.clone();
    let exec_settings = Settings {
        concurrency: settings.workers,
        max_errors: None,
        notify: false,
        verify: true,
        progress: settings.progress,
        progress_every: Duration::from_secs(5),
        caller: Some(ready.caller.clone()),
        trust_plan_reads_until: None,
    };
    let summary = rollback::run(&ready.client, ready.prepared, &exec_settings, shutdown)
        .await
        .map_err(|e| e.coded())?;
    let paths = match &settings.report {
        Some(path) => ReportPaths::from_flag(path),
        None => ReportPaths::beside_journal(&rollback_journal),
    };
    let report = write_report(&plan_path, &rollback_journal, &paths);
    Ok(RolledBack {
        summary,
        report,
        paths,
    })
}

fn write_report(plan_path: &Path, journal_path: &Path, paths: &ReportPaths) -> anyhow::Result<()> {
    let replay = Replay::read(journal_path)?;
    super::apply::write_report_files("Rollback report", plan_path, &replay, paths)
}
