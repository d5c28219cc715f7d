//! `handover verify PLAN` and `handover verify --journal FILE`: re-read the live access
//! lists and say which entities are not at their target, and what the departing user
//! still holds. Exit 0 when everything matches, [`exit::MISMATCH`] when something does
//! not, also when all that differs is access the server would not take from inactive users
//! (said as such): it is still there, and usable again if the account is reactivated.
//! With `--journal` and the plan not where the journal says, what the journal records as
//! not done (failed, drifted or refused, in flight, a run that did not finish) is also
//! [`exit::MISMATCH`], with its counts: the live check sees only what it says succeeded.
//! Also [`exit::MISMATCH`] when an offboarding plan's departing users still hold what it
//! meant to remove (the residual's findings, named): after a default offboarding anything
//! they own or can access, with `--keep-other-access` anything they own. The work is
//! [`crate::after::verify`]'s.
//!
//! Order of checks, so that nothing is sent when an input is wrong: the plan or journal
//! (read), the connection settings and the endpoint they were made for, the preflight.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::after::rollback::resolve_recorded;
use crate::after::verify::{self, Expected, Meant, Mismatch, Residual, ResidualSpec};
use crate::api::Client;
use crate::exit;
use crate::journal::{EntityState, OutcomeKind, Replay};
use crate::model::EntityKind;
use crate::plan::planner;
use crate::plan::{OldOwnerRoleKind, PlanHeader, PlanReader, SourceKind};

use crate::workflow::connect_with;

use super::conn::{ConnOpts, PaceOpts};

/// `handover verify`: is every entity where the plan wants it?
#[derive(Debug, clap::Args)]
pub struct VerifyOpts {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// The plan to check the live state against.
    #[arg(
        value_name = "PLAN",
        required_unless_present = "journal",
        conflicts_with = "journal"
    )]
    pub plan: Option<PathBuf>,
    /// Check the plan this journal's run applied (or, if that plan is not where the
    /// journal says, what the journal records as succeeded).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Also count what USER still owns or can access among every entity of the plan's
    /// types, without judging it. [default: the --from of an offboarding plan, judged:
    /// what they hold beyond what the plan meant is a finding, exit 5]
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub pace: PaceOpts,
}

/// What is checked, read from the plan or the journal before anything is sent.
struct Subject {
    /// How the output names it: `plan p.jsonl`, `journal j.jsonl`.
    label: String,
    /// The endpoint it was made against.
    endpoint: String,
    expected: Vec<Expected>,
    /// The plan's header, when there is a plan.
    header: Option<PlanHeader>,
    /// Every kind the plan or journal names.
    kinds: BTreeSet<EntityKind>,
    /// Without the plan: what the journal records as not done, which the live check of
    /// what it says succeeded cannot see. `None` when the plan is checked.
    unfinished: Option<Unfinished>,
}

/// What a journal records as not done, for `verify --journal` without its plan: entities
/// whose write failed, drifted or was refused, entities in flight, and whether the run
/// ended at all (if not, entities it never reached are in no journal line, and only the
/// missing plan could count them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
struct Unfinished {
    /// Entities whose last outcome is failed, drifted or refused.
    failed: usize,
    /// Entities with an intent and no outcome after it.
    in_flight: usize,
    /// The run never stopped cleanly, or was interrupted: some entities may be pending.
    pending: bool,
}

impl Unfinished {
    /// What `replay` records as not done.
    fn of(replay: &Replay) -> Unfinished {
        let counts = replay.counts();
        Unfinished {
            failed: [
                OutcomeKind::Failed,
                OutcomeKind::Drifted,
                OutcomeKind::Refused,
            ]
            .iter()
            .map(|&k| counts.get(k))
            .sum(),
            in_flight: counts.in_flight,
            pending: replay.end().is_none_or(|end| end.interrupted),
        }
    }

    /// Whether the journal records anything not done.
    fn any(&self) -> bool {
        self.failed > 0 || self.in_flight > 0 || self.pending
    }

    /// One line for people: `the journal also records 2 failed, drifted or refused, 1 in
    /// flight, a run that did not finish (…)`.
    fn render(&self) -> String {
        let mut parts = vec![
            format!("{} failed, drifted or refused", self.failed),
            format!("{} in flight", self.in_flight),
        ];
        if self.pending {
            parts.push(
                "a run that did not finish (entities it never reached are pending and, \
                 without the plan, not counted)"
                    .to_string(),
            );
        }
        format!("the journal also records {}", parts.join(", "))
    }
}

/// The `--json` verdict.
#[derive(Serialize)]
struct Verdict<'a> {
    /// Every checked entity is at its target, and the departing users hold nothing the
    /// plan meant to remove (`residual.findings` is empty).
    ok: bool,
    /// What was checked: `plan PATH`, or `journal PATH`.
    source: &'a str,
    checked: u64,
    not_at_target: usize,
    /// Of those, the entities where only inactive users' access remains (every mismatch
    /// with `cause` `inactive_access_remains`).
    inactive_access_remains: usize,
    mismatches: &'a [Mismatch],
    /// What the departing user still holds; `null` without one.
    residual: Option<&'a Residual>,
    /// With `--journal` and no plan: what the journal records as not done (failed,
    /// drifted or refused; in flight; whether entities may be pending); `null` when the
    /// plan was checked.
    unfinished: Option<&'a Unfinished>,
}

/// Residual findings printed as text, one line each; `--json` has them all.
const FINDINGS_SHOWN: usize = 50;

/// `handover verify`.
pub async fn run(opts: VerifyOpts) -> anyhow::Result<i32> {
    let subject = match (&opts.plan, &opts.journal) {
        (Some(plan), _) => from_plan(plan)?,
        (None, Some(journal)) => from_journal(journal)?,
        (None, None) => unreachable!("clap requires PLAN or --journal"),
    };
    let conn = opts.conn.settings()?;
    if !crate::api::config::same_endpoint(&subject.endpoint, conn.endpoint.as_str()) {
        return Err(exit::with_code(
            exit::INVALID_INPUT,
            anyhow::anyhow!(
                "{} was made against {}, not {}",
                subject.label,
                subject.endpoint,
                conn.endpoint.as_str().trim_end_matches('/')
            ),
        ));
    }
    let (client, _) = connect_with(conn, opts.pace.policy()).await?;

    let residual = residual_spec(&client, &opts, &subject).await?;
    let (verdict, residual) = verify::verify(
        &client,
        subject.expected,
        residual.as_ref(),
        opts.pace.workers(),
    )
    .await
    .map_err(|e| exit::with_code(e.exit_code(), e))?;

    // What the live check of what the journal says succeeded cannot see counts too, and
    // so does what a departing user still holds beyond what the plan meant.
    let unfinished = subject.unfinished.as_ref().filter(|u| u.any());
    let findings = residual.as_ref().map_or(0, Residual::finding_count);
    let ok = verdict.ok() && unfinished.is_none() && findings == 0;
    if opts.json {
        let out = Verdict {
            ok,
            source: &subject.label,
            checked: verdict.checked,
            not_at_target: verdict.mismatches.len(),
            inactive_access_remains: verdict.inactive_access_remains(),
            mismatches: &verdict.mismatches,
            residual: residual.as_ref(),
            unfinished: subject.unfinished.as_ref(),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("cannot render the verdict as JSON")?
        );
    } else {
        let inactive = match verdict.inactive_access_remains() {
            0 => String::new(),
            n => format!(" ({n} only because inactive users keep access)"),
        };
        println!(
            "verified {}: {} entities checked, {} not at target{inactive}",
            subject.label,
            verdict.checked,
            verdict.mismatches.len()
        );
        for m in &verdict.mismatches {
            println!("  {} {} {:?}: {}", m.kind, m.id, m.name, m.problem);
        }
        if let Some(unfinished) = unfinished {
            println!("{}", unfinished.render());
        }
        if let Some(residual) = &residual {
            println!("{}", residual.render());
            print!("{}", residual.render_findings(FINDINGS_SHOWN));
        }
    }
    Ok(if ok { exit::OK } else { exit::MISMATCH })
}

fn from_plan(path: &Path) -> anyhow::Result<Subject> {
    let plan = PlanReader::open(path).map_err(|e| exit::with_code(e.exit_code(), e))?;
    subject_of_plan(plan, format!("plan {}", path.display()))
}

fn subject_of_plan(plan: PlanReader, label: String) -> anyhow::Result<Subject> {
    let header = plan.header().clone();
    let mut kinds = BTreeSet::new();
    let mut expected = Vec::new();
    for entry in plan {
        let entry = entry.map_err(|e| exit::with_code(e.exit_code(), e))?;
        kinds.insert(entry.kind);
        expected.extend(Expected::of_entry(entry));
    }
    Ok(Subject {
        label,
        endpoint: header.endpoint.clone(),
        expected,
        header: Some(header),
        kinds,
        unfinished: None,
    })
}

/// The journal's plan, if it is where the journal says and is the same plan; else what
/// the journal says succeeded.
fn from_journal(journal: &Path) -> anyhow::Result<Subject> {
    let replay = Replay::read(journal).map_err(|e| e.coded())?;
    let header = replay.header();
    let plan_path = resolve_recorded(journal, &header.plan);
    match PlanReader::open(&plan_path) {
        Ok(plan) if plan.digest() == header.plan_digest => {
            let mut subject = subject_of_plan(
                plan,
                format!(
                    "plan {} of journal {}",
                    plan_path.display(),
                    journal.display()
                ),
            )?;
            // What the run recorded where the server would not remove inactive users.
            for expected in &mut subject.expected {
                if let Some(EntityState::Done { outcome }) =
                    replay.state(expected.kind, &expected.id)
                    && outcome.outcome == OutcomeKind::Partial
                {
                    expected.partial = Some(
                        outcome
                            .error
                            .as_deref()
                            .unwrap_or("no reason recorded")
                            .to_string(),
                    );
                }
            }
            return Ok(subject);
        }
        Ok(_) => tracing::warn!(
            plan = %plan_path.display(),
            "not the plan of this journal; checking what the journal says succeeded"
        ),
        Err(e) => tracing::warn!(
            plan = %plan_path.display(),
            error = %e,
            "the journal's plan is not readable; checking what the journal says succeeded"
        ),
    }
    let expected = verify::expected_from_journal(journal).map_err(|e| e.coded())?;
    Ok(Subject {
        label: format!("journal {} (what it says succeeded)", journal.display()),
        endpoint: header.endpoint.clone(),
        kinds: expected.iter().map(|e| e.kind).collect(),
        expected,
        header: None,
        unfinished: Some(Unfinished::of(&replay)),
    })
}

/// Whose residual access to count: `--user`, else an offboarding plan's `from`; among
/// the plan's types (an offboarding plan's `types`, else the kinds it names, else all).
async fn residual_spec(
    client: &Client,
    opts: &VerifyOpts,
    subject: &Subject,
) -> anyhow::Result<Option<ResidualSpec>> {
    let offboard = subject.header.as_ref().and_then(|h| match &h.source {
        SourceKind::Offboard {
            from,
            types,
            old_owner_role,
            revoke_other_access,
            ..
        } => Some((
            from.clone(),
            types.clone(),
            Meant {
                old_owner_role: *old_owner_role,
                keep_other_access: !revoke_other_access,
            },
        )),
        SourceKind::OffboardMap {
            pairs,
            types,
            old_owner_role,
            revoke_other_access,
            ..
        } => Some((
            pairs.iter().map(|p| p.from.clone()).collect(),
            types.clone(),
            Meant {
                old_owner_role: *old_owner_role,
                keep_other_access: !revoke_other_access,
            },
        )),
        // A hand-written plan names no departing user.
        _ => None,
    });
    // The plan's own departing users are judged against what it meant; anyone named with
    // --user is counted, not judged.
    let (users, meant) = match (&opts.user, &offboard) {
        (Some(name), _) => (
            vec![
                planner::resolve_departing(client, "--user", name, OldOwnerRoleKind::None)
                    .await
                    .map_err(|e| exit::with_code(e.exit_code(), e))?,
            ],
            None,
        ),
        (None, Some((from, _, meant))) => (from.clone(), Some(*meant)),
        (None, None) => return Ok(None),
    };
    let kinds = match offboard {
        Some((_, types, _)) if !types.is_empty() => types,
        _ if !subject.kinds.is_empty() => subject.kinds.iter().copied().collect(),
        _ => EntityKind::WRITABLE.to_vec(),
    };
    Ok(Some(ResidualSpec {
        users,
        kinds,
        meant,
    }))
}
