//! `offboard`: plan, then apply, in one process and through one client, so that the pace
//! the planning found carries on and the apply may write on the plan's own reads while
//! they are young (`max_read_age`). Between the two, the caller decides (the command line
//! asks, unless `--yes`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use crate::api::config::ConnInputs;
use crate::api::{Account, Client, ClientPolicy};
use crate::exec::JournalMode;
use crate::plan::WrittenPlan;
use crate::plan::planner::{Coverage, PlannerSettings};

use super::apply::{Applied, RunSettings, default_journal, execute};
use super::plan::{Handover, Narrowing, caller_of, plan_handover};

/// An offboarding planned, not yet applied.
#[derive(Debug)]
pub struct Planned {
    pub written: WrittenPlan,
    pub coverage: Coverage,
    /// The client that planned, and the caller.
    pub client: Client,
    pub account: Account,
    /// Every access list of the plan was read after this.
    pub began: Instant,
}

/// Connects, plans `handover` narrowed by `narrowing`, and writes the plan to `out`
/// (default: `offboard-<departing user or map>.plan.jsonl`).
pub async fn plan(
    conn: &ConnInputs,
    policy: ClientPolicy,
    handover: &Handover<'_>,
    narrowing: &Narrowing,
    settings: PlannerSettings,
    out: Option<PathBuf>,
) -> anyhow::Result<Planned> {
    let (client, account) = super::connect(conn, policy).await?;
    let caller = caller_of(&account);
    let began = Instant::now();
    let out = out.unwrap_or_else(|| default_plan_path(handover, &account));
    // Before a single list is read: a plan an unfinished run belongs to is offered for
    // resuming, never rewritten (issue 20).
    super::apply::check_plan_output(&out, None)?;
    let (written, coverage) =
        plan_handover(&client, &caller, handover, narrowing, settings, &out).await?;
    Ok(Planned {
        written,
        coverage,
        client,
        account,
        began,
    })
}

/// Applies what [`plan`] wrote, with `journal` (default: beside the plan), through the
/// client that planned. Entities are written on the plan's own read while it is younger
/// than `max_read_age`. Returns the journal's path and what the run came to.
pub async fn apply<F: Future<Output = ()>>(
    planned: Planned,
    journal: Option<PathBuf>,
    max_read_age: Duration,
    run: &RunSettings,
    shutdown: impl FnOnce() -> F,
) -> anyhow::Result<(PathBuf, Applied)> {
    let journal = journal.unwrap_or_else(|| default_journal(&planned.written.path));
    let applied = execute(
        &planned.written.path,
        &journal,
        JournalMode::CreateOrResume,
        run,
        Some(planned.began + max_read_age),
        Some((planned.client, planned.account)),
        shutdown,
    )
    .await?;
    Ok((journal, applied))
}

/// `offboard-<who>.plan.jsonl`: the departing user (the caller when none), the map's
/// file stem, or `orphans`.
fn default_plan_path(handover: &Handover<'_>, account: &Account) -> PathBuf {
    let label = match handover {
        Handover::One(who) => who.from.unwrap_or(&account.username).to_string(),
        Handover::Map { map, .. } => Path::new(&map.file)
            .file_stem()
            .map_or_else(|| "map".into(), |s| s.to_string_lossy().into_owned()),
        Handover::Orphans { .. } => "orphans".to_string(),
    };
    PathBuf::from(format!("offboard-{}.plan.jsonl", file_safe(&label)))
}

/// A username as a file-name fragment: `alice@acme.com` → `alice_acme.com`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
