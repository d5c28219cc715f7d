//! What a run did, entity by entity, read from the plan and the journal together: the
//! report files (CSV and JSON), the `status` view, and the plan of what is left to retry.
//!
//! Everything here streams the plan once and looks each entry up in a journal [`Replay`],
//! so memory does not grow with the plan beyond what the replay holds.
//!
//! # The report
//!
//! One row per plan entry. The CSV columns:
//!
//! | column | meaning |
//! |---|---|
//! | `type`, `id`, `name` | the entity |
//! | `outcome` | `succeeded`, `already_done`, `partial` (the new owner is in place; inactive users the server would not remove keep their access), `unconfirmed`, `failed`, `drifted`, `refused`, `skipped`; `in_flight` (written, not confirmed: a resume re-checks it), `pending` (not reached) |
//! | `attempts` | write requests sent, retries included (empty when none was recorded) |
//! | `http_status` | status of the last write attempt, or of the failing request |
//! | `roles` | every principal's role before → after: `alice@x:OWNER->none; bob@x:none->OWNER`; `?` when the after state is unknown |
//! | `error` | why it failed, drifted, was refused or skipped |
//!
//! "Before" is the access list read just before handover first wrote the entity, else the
//! one in the plan. "After" is the list read back (or, for a drifted entity, the list that
//! was found); where nothing was written it is the "before" list.
//!
//! The JSON file holds the same rows with the lists as arrays, and the counts per outcome.
//! Both files are written to temp files and renamed into place, and are owner-only (0600):
//! they name every principal of every entity.
//!
//! Beside them the workflows write a third file, `PATH.html`: the run's page for people
//! (aggregate counts, the rate over time, capped failures), made by `after::run_view`
//! from the same journal and plan.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::exec::{Tally, apply_changes};
use crate::exit;
use crate::files::{AtomicFile, spreadsheet_cell};
use crate::journal::{self, EntityState, OutcomeKind, Replay};
use crate::model::{EntityKind, Grant};
use crate::plan::{
    self, ActionKind, PlanEntry, PlanReader, PlanWriter, WrittenPlan, same_principal,
};

/// The `format` of the JSON report.
pub const FORMAT: &str = "handover-report";
/// The JSON report's version.
pub const VERSION: u32 = 1;

/// What can go wrong writing a report or a retry plan.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A report file could not be written.
    #[error("cannot write report {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The plan could not be read, or the retry plan written.
    #[error(transparent)]
    Plan(#[from] plan::Error),
    /// An access list could not be read back from the journal.
    #[error(transparent)]
    Journal(#[from] journal::Error),
}

impl Error {
    /// The exit code: an unreadable plan is invalid input, a failed write fatal.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Write { .. } => exit::FATAL,
            Error::Plan(e) => e.exit_code(),
            Error::Journal(e) => e.exit_code(),
        }
    }
}

/// Where the report files go. [`write`] writes the CSV and the JSON; the workflows write
/// the HTML page (`after::run_view`, which this layer does not reach).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportPaths {
    pub csv: PathBuf,
    pub json: PathBuf,
    pub html: PathBuf,
}

impl ReportPaths {
    /// The default, beside the journal: `run.jsonl` → `run.report.csv`, `run.report.json`,
    /// `run.report.html`.
    pub fn beside_journal(journal: &Path) -> ReportPaths {
        let stem = journal.file_stem().unwrap_or_default().to_string_lossy();
        ReportPaths {
            csv: journal.with_file_name(format!("{stem}.report.csv")),
            json: journal.with_file_name(format!("{stem}.report.json")),
            html: journal.with_file_name(format!("{stem}.report.html")),
        }
    }

    /// From `--report PATH`: `PATH` with `.csv`, `.json` and `.html` (an extension `PATH`
    /// already has, if it is one of these, is replaced).
    pub fn from_flag(path: &Path) -> ReportPaths {
        let base = match path.extension().and_then(|e| e.to_str()) {
            Some(e)
                if ["csv", "json", "html"]
                    .iter()
                    .any(|x| e.eq_ignore_ascii_case(x)) =>
            {
                path.with_extension("")
            }
            _ => path.to_path_buf(),
        };
        let with = |ext: &str| {
            let mut name = base.as_os_str().to_os_string();
            name.push(".");
            name.push(ext);
            PathBuf::from(name)
        };
        ReportPaths {
            csv: with("csv"),
            json: with("json"),
            html: with("html"),
        }
    }
}

/// One principal's role before and after; `None` means no access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleChange {
    pub principal: String,
    pub recipient_type: String,
    pub before: Option<String>,
    /// `None`: no access after; `Some("?")`: unknown.
    pub after: Option<String>,
}

/// One row of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub kind: EntityKind,
    pub id: String,
    pub name: String,
    /// An [`OutcomeKind`] name, `in_flight` or `pending`.
    pub outcome: String,
    pub attempts: Option<u32>,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub roles: Vec<RoleChange>,
    pub before: Vec<Grant>,
    /// `None` when unknown.
    pub after: Option<Vec<Grant>>,
}

impl Row {
    /// The row for one plan entry given what the journal says about it; the access lists
    /// it needs are read from the journal.
    pub fn new(entry: &PlanEntry, replay: &Replay) -> Result<Row, journal::Error> {
        let (kind, id) = (entry.kind, entry.id.as_str());
        let state = replay.entity(kind, id);
        let first_before = match state {
            Some(e) if e.wrote() => replay.first_before(kind, id)?,
            _ => None,
        };
        let before = first_before.unwrap_or_else(|| entry.current.clone());
        let (outcome, attempts, http_status, error, after) = match state.map(|r| &r.state) {
            None => (
                "pending".to_string(),
                None,
                None,
                None,
                Some(before.clone()),
            ),
            Some(EntityState::InFlight) => ("in_flight".to_string(), None, None, None, None),
            Some(EntityState::Done { outcome: o }) => {
                let after = match replay.outcome_after(kind, id)? {
                    Some(after) => Some(after),
                    // Nothing sent: nothing changed by handover.
                    None if o.attempts == 0 && o.outcome != OutcomeKind::Succeeded => {
                        Some(before.clone())
                    }
                    None => None,
                };
                (
                    o.outcome.as_str().to_string(),
                    Some(o.attempts),
                    o.status,
                    o.error.as_deref().map(str::to_string),
                    after,
                )
            }
        };
        Ok(Row {
            kind: entry.kind,
            id: entry.id.clone(),
            name: entry.name.clone(),
            outcome,
            attempts,
            http_status,
            error,
            roles: role_changes(&before, after.as_deref()),
            before,
            after,
        })
    }

    /// The compact roles column: `alice@x:OWNER->none; bob@x:none->OWNER`.
    pub fn roles_cell(&self) -> String {
        self.roles
            .iter()
            .map(|r| {
                format!(
                    "{}:{}->{}",
                    r.principal,
                    r.before.as_deref().unwrap_or("none"),
                    r.after.as_deref().unwrap_or("none")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Every principal of `before` (in order) then every new one of `after`, with both roles.
fn role_changes(before: &[Grant], after: Option<&[Grant]>) -> Vec<RoleChange> {
    let role_in = |list: &[Grant], who: &Grant| {
        list.iter()
            .find(|g| same_principal(g, who))
            .map(|g| g.role.as_str().to_string())
    };
    let after_role = |who: &Grant| match after {
        Some(list) => role_in(list, who),
        None => Some("?".to_string()),
    };
    let mut out: Vec<RoleChange> = before
        .iter()
        .map(|g| RoleChange {
            principal: g.name.clone(),
            recipient_type: g.recipient_type.clone(),
            before: Some(g.role.as_str().to_string()),
            after: after_role(g),
        })
        .collect();
    for g in after.unwrap_or_default() {
        if !before.iter().any(|b| same_principal(b, g)) {
            out.push(RoleChange {
                principal: g.name.clone(),
                recipient_type: g.recipient_type.clone(),
                before: None,
                after: Some(g.role.as_str().to_string()),
            });
        }
    }
    out
}

/// The CSV header row.
const CSV_COLUMNS: [&str; 8] = [
    "type",
    "id",
    "name",
    "outcome",
    "attempts",
    "http_status",
    "roles",
    "error",
];

/// What [`write`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub paths: ReportPaths,
    /// Rows per outcome name.
    pub counts: BTreeMap<String, u64>,
}

/// Writes the report of `plan` as `replay` records it, to `paths`, atomically.
pub fn write(plan: PlanReader, replay: &Replay, paths: &ReportPaths) -> Result<Written, Error> {
    let create = |path: &Path| {
        AtomicFile::create(path).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut csv_file = create(&paths.csv)?;
    let mut json_file = create(&paths.json)?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    {
        let csv_err = |e: csv::Error, path: &Path| Error::Write {
            path: path.to_path_buf(),
            source: io::Error::other(e.to_string()),
        };
        let csv_path = paths.csv.clone();
        let json_path = paths.json.clone();
        let json_err = |source: io::Error| Error::Write {
            path: json_path.clone(),
            source,
        };
        let mut csv = csv::Writer::from_writer(&mut csv_file);
        csv.write_record(CSV_COLUMNS)
            .map_err(|e| csv_err(e, &csv_path))?;

        let json = &mut json_file;
        let header = serde_json::json!({
            "format": FORMAT,
            "version": VERSION,
            "generated": plan::rfc3339_utc(SystemTime::now()),
            "plan": plan.path().display().to_string(),
            "plan_digest": plan.digest(),
            "journal": replay.path().display().to_string(),
            "endpoint": replay.header().endpoint,
        });
        let header = serde_json::to_string(&header).expect("a JSON value serialises");
        // The header object, opened up to take the entities and the counts.
        let open = header.strip_suffix('}').unwrap_or(&header);
        write!(json, "{open},\"entities\":[").map_err(json_err)?;

        let mut first = true;
        for entry in plan {
            let entry = entry?;
            let row = Row::new(&entry, replay)?;
            *counts.entry(row.outcome.clone()).or_default() += 1;
            csv.write_record([
                row.kind.as_str().to_string(),
                spreadsheet_cell(&row.id),
                spreadsheet_cell(&row.name),
                row.outcome.clone(),
                row.attempts.map(|a| a.to_string()).unwrap_or_default(),
                row.http_status.map(|s| s.to_string()).unwrap_or_default(),
                spreadsheet_cell(&row.roles_cell()),
                spreadsheet_cell(row.error.as_deref().unwrap_or("")),
            ])
            .map_err(|e| csv_err(e, &csv_path))?;
            if !first {
                json.write_all(b",").map_err(json_err)?;
            }
            first = false;
            json.write_all(b"\n").map_err(json_err)?;
            serde_json::to_writer(&mut *json, &row).map_err(|e| json_err(io::Error::other(e)))?;
        }
        let counts_json = serde_json::to_string(&counts).expect("a map of counts serialises");
        write!(json, "\n],\"counts\":{counts_json}}}\n").map_err(json_err)?;
        csv.flush().map_err(|source| Error::Write {
            path: csv_path.clone(),
            source,
        })?;
    }
    for (file, path) in [(csv_file, &paths.csv), (json_file, &paths.json)] {
        file.commit().map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(Written {
        paths: paths.clone(),
        counts,
    })
}

/// One failure in [`Status`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub kind: EntityKind,
    pub id: String,
    pub outcome: OutcomeKind,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

/// What `handover status` shows: where a journal stands.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub journal: String,
    pub plan: String,
    pub plan_digest: String,
    pub endpoint: String,
    /// `finished` (the last run ended cleanly), `stopped` (it ended early, resumable), or
    /// `running_or_died` (no end record after the last entry: a run is going, or died).
    pub state: String,
    /// How many runs resumed the journal.
    pub resumes: u64,
    /// Entries in the plan, when the plan could be read.
    pub plan_entries: Option<u64>,
    /// Entries the journal does not mention yet (needs the plan).
    pub pending: Option<u64>,
    /// Entities written (intent journaled) with no outcome yet.
    pub in_flight: usize,
    /// Entities per outcome.
    pub counts: BTreeMap<OutcomeKind, u64>,
    /// Entities per kind per outcome.
    pub by_kind: Tally,
    /// In-flight entities per kind.
    #[serde(skip)]
    in_flight_by_kind: BTreeMap<EntityKind, u64>,
    /// Every entity that failed, drifted or was refused, with why.
    pub failures: Vec<Failure>,
}

impl Status {
    /// The status of `replay`; `plan_entries` from the plan, when it could be read.
    pub fn new(replay: &Replay, plan_entries: Option<u64>) -> Status {
        let header = replay.header();
        let mut by_kind = Tally::default();
        let mut in_flight_by_kind = BTreeMap::new();
        for (kind, counts) in replay.counts_by_kind() {
            for (outcome, n) in &counts.outcomes {
                by_kind.add_n(kind, *outcome, *n as u64);
            }
            if counts.in_flight > 0 {
                in_flight_by_kind.insert(kind, counts.in_flight as u64);
            }
        }
        let counts = replay.counts();
        let state = match replay.end() {
            Some(end) if end.interrupted => "stopped",
            Some(_) => "finished",
            None => "running_or_died",
        };
        let known = counts.total() as u64;
        Status {
            journal: replay.path().display().to_string(),
            plan: header.plan.clone(),
            plan_digest: header.plan_digest.clone(),
            endpoint: header.endpoint.clone(),
            state: state.to_string(),
            resumes: replay.resumes(),
            plan_entries,
            pending: plan_entries.map(|n| n.saturating_sub(known)),
            in_flight: counts.in_flight,
            counts: counts
                .outcomes
                .iter()
                .map(|(k, n)| (*k, *n as u64))
                .collect(),
            by_kind,
            in_flight_by_kind,
            failures: replay
                .failures()
                .into_iter()
                .map(|(kind, id, o)| Failure {
                    kind,
                    id: id.to_string(),
                    outcome: o.outcome,
                    http_status: o.status,
                    error: o.error.as_deref().map(str::to_string),
                })
                .collect(),
        }
    }

    /// The text `handover status` prints: a few facts, the table per kind and outcome
    /// (with an `in_flight` column), then one line per failure.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("journal   {}\n", self.journal));
        out.push_str(&format!("plan      {} ({})\n", self.plan, self.plan_digest));
        out.push_str(&format!("endpoint  {}\n", self.endpoint));
        out.push_str(&format!("state     {}\n", self.state));
        if let Some(pending) = self.pending {
            out.push_str(&format!(
                "pending   {pending} of {} entries not reached yet\n",
                self.plan_entries.unwrap_or(0)
            ));
        }
        out.push('\n');
        out.push_str(
            &self
                .by_kind
                .render(Some(("in_flight", &self.in_flight_by_kind))),
        );
        if !self.failures.is_empty() {
            out.push_str(&format!("\nfailures ({}):\n", self.failures.len()));
            for f in &self.failures {
                let status = f
                    .http_status
                    .map(|s| format!(" (HTTP {s})"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {} {} {}{status}: {}\n",
                    f.kind,
                    f.id,
                    f.outcome,
                    f.error.as_deref().unwrap_or("no reason recorded")
                ));
            }
        }
        out
    }
}

/// Writes, to `out`, a plan of every entity of `plan` that failed, drifted or was refused
/// by the server, or is partial, so that it can be retried with `apply` (a partial one
/// once the inactive users it names are reactivated: what is left is their revoke). The header is the original's
/// (same endpoint, caller and source) with a new creation time.
///
/// Entries whose journal outcome carries the access list as last seen (drifted entities,
/// failed read-backs) are planned again against that list: the original per-principal
/// changes applied to it. The rest are copied unchanged. Entries the original plan itself
/// refused are left out: planning again is the way to change those.
pub fn write_failed_plan(
    plan: PlanReader,
    replay: &Replay,
    out: &Path,
) -> Result<WrittenPlan, Error> {
    let mut header = plan.header().clone();
    header.created = plan::rfc3339_utc(SystemTime::now());
    header.tool_version = env!("CARGO_PKG_VERSION").to_string();
    let mut writer = PlanWriter::create(out, &header)?;
    for entry in plan {
        let entry = entry?;
        if entry.action != ActionKind::Change {
            continue;
        }
        let Some(EntityState::Done { outcome }) = replay.state(entry.kind, &entry.id) else {
            continue;
        };
        if !outcome.outcome.is_failure() {
            continue;
        }
        let seen = replay.outcome_after(entry.kind, &entry.id)?;
        let retry = match (seen, &entry.request) {
            (Some(seen), Some(request)) => {
                let target = apply_changes(entry.kind, &seen, &request.changes);
                PlanEntry {
                    // Still what it was: a handover, or a revoke-only entry.
                    revoke_only: entry.revoke_only,
                    ..PlanEntry::build(entry.kind, &entry.id, &entry.name, seen, target)
                }
            }
            _ => entry,
        };
        writer.write(&retry)?;
    }
    Ok(writer.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    fn g(name: &str, role: Role) -> Grant {
        Grant {
            recipient_type: "user".into(),
            id: None,
            name: name.into(),
            role,
            can_share: None,
        }
    }

    #[test]
    fn report_paths() {
        assert_eq!(
            ReportPaths::beside_journal(Path::new("/tmp/run.jsonl")),
            ReportPaths {
                csv: "/tmp/run.report.csv".into(),
                json: "/tmp/run.report.json".into(),
                html: "/tmp/run.report.html".into(),
            }
        );
        for flag in ["out/r", "out/r.csv", "out/r.JSON", "out/r.html"] {
            let p = ReportPaths::from_flag(Path::new(flag));
            assert_eq!(p.csv, PathBuf::from("out/r.csv"), "{flag}");
            assert_eq!(p.json, PathBuf::from("out/r.json"), "{flag}");
            assert_eq!(p.html, PathBuf::from("out/r.html"), "{flag}");
        }
    }

    #[test]
    fn roles_column_lists_before_then_new_principals() {
        let before = vec![g("alice@x", Role::Owner), g("carol@x", Role::Editor)];
        let after = vec![g("carol@x", Role::Editor), g("bob@x", Role::Owner)];
        let row = Row {
            kind: EntityKind::Project,
            id: "p".into(),
            name: "P".into(),
            outcome: "succeeded".into(),
            attempts: Some(1),
            http_status: Some(204),
            error: None,
            roles: role_changes(&before, Some(&after)),
            before: before.clone(),
            after: Some(after),
        };
        assert_eq!(
            row.roles_cell(),
            "alice@x:OWNER->none; carol@x:EDITOR->EDITOR; bob@x:none->OWNER"
        );
        let unknown = role_changes(&before, None);
        assert_eq!(unknown[0].after.as_deref(), Some("?"));
    }
}
