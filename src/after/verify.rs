//! Verification: re-reads the live access list of every entity a plan changes and reports
//! each one that is not at its target, judged only on the principals the plan touches (the
//! same rule the executor's read-back uses, [`exec::at_target`]).
//!
//! It can also count what a departing user still holds ([`Residual`]): every entity of the
//! kinds a plan covered is listed and its access list read, in the same pass as the plan's
//! own entities, so no access list is read twice. For an offboarding plan's own departing
//! users it is judged against what the plan meant to remove ([`Meant`]): what they hold
//! beyond it is a finding ([`Held`]), named. Without a plan, what a journal says
//! succeeded can be checked instead ([`expected_from_journal`]).
//!
//! An entity where only the access of inactive users remains, access the plan removes or
//! lowers and DataRobot may refuse to touch (contract §11; the run records it `partial`),
//! is still a mismatch, said as such ([`CauseKind::InactiveAccessRemains`]).
//!
//! [`exec::at_target`]: crate::exec::at_target

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::after::rollback;
use crate::api::{ApiError, ApiErrorKind, Client, ErrorClass, ListFilter};
use crate::exec::{self, Activity, at_target, readable};
use crate::journal::{self, EntityState, OutcomeKind, Replay};
use crate::model::{AccessList, EntityKind, Grant, Role};
use crate::plan::{ActionKind, Change, OldOwnerRoleKind, PlanEntry, ShareRequest, UserIdent};

/// One entity that is not where the plan wants it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub kind: EntityKind,
    pub id: String,
    pub name: String,
    /// What differs, principal by principal, or why the entity could not be read.
    pub problem: String,
    /// Why, where handover can tell; `null` otherwise.
    pub cause: Option<CauseKind>,
}

/// Why an entity is not at its target, where handover can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    /// Everything is at its target but the access of users who are inactive: the plan
    /// removes or lowers it, and DataRobot may refuse to touch an inactive user (contract
    /// §11; the run records such an entity `partial`). Still a mismatch: the access is
    /// there, and comes back into use if the account is reactivated.
    InactiveAccessRemains,
}

/// What a verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Entities whose live access list was checked.
    pub checked: u64,
    /// Those not at target.
    pub mismatches: Vec<Mismatch>,
}

impl Verdict {
    /// Whether every checked entity is at its target.
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
    }

    /// Mismatches only because inactive users keep access ([`CauseKind::InactiveAccessRemains`]).
    pub fn inactive_access_remains(&self) -> usize {
        self.mismatches
            .iter()
            .filter(|m| m.cause == Some(CauseKind::InactiveAccessRemains))
            .count()
    }
}

/// One entity to check: the changes it should show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub kind: EntityKind,
    pub id: String,
    pub name: String,
    /// What the touched principals should hold; empty for an entity that only needs an
    /// owner (a noop entry).
    pub changes: Vec<Change>,
    /// What the run recorded when it left the entity `partial` (the server would not
    /// remove an inactive user's access, in its words); `None` otherwise or unknown.
    pub partial: Option<String>,
    /// The plan's entry was an offboarding's revoke-only one (the departing users owned
    /// nothing there): whatever they still hold on it is residual.
    pub revoke_only: bool,
}

impl Expected {
    /// What a `change` or `noop` plan entry expects; `None` for a refused one, which was
    /// never meant to change.
    pub fn of_entry(entry: PlanEntry) -> Option<Expected> {
        if !matches!(entry.action, ActionKind::Change | ActionKind::Noop) {
            return None;
        }
        Some(Expected {
            kind: entry.kind,
            id: entry.id,
            name: entry.name,
            changes: entry.request.map(|r| r.changes).unwrap_or_default(),
            partial: None,
            revoke_only: entry.revoke_only,
        })
    }
}

/// Checks every `change` and `noop` entry of a plan against the live server, `concurrency`
/// reads at a time through the client's rate limiter. Refused entries were never meant to
/// change and are not checked. A failure to read one entity is a mismatch; failures that
/// are not about one entity (auth, transport) stop the check.
pub async fn verify_entries(
    client: &Client,
    entries: impl IntoIterator<Item = PlanEntry>,
    concurrency: usize,
) -> Result<Verdict, ApiError> {
    let expected = entries.into_iter().filter_map(Expected::of_entry).collect();
    let (verdict, _) = verify(client, expected, None, concurrency).await?;
    Ok(verdict)
}

/// Whose remaining access to count, and among which kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResidualSpec {
    /// The departing users (an offboarding plan's `from`, or `--user`).
    pub users: Vec<UserIdent>,
    /// The kinds to list.
    pub kinds: Vec<EntityKind>,
    /// What the plan meant them to keep, when the users are an offboarding plan's
    /// departing users: what they hold beyond it is a finding. `None` (`--user`, a plan
    /// that names no departing user): the counts are told, nothing is judged.
    pub meant: Option<Meant>,
}

/// What an offboarding plan meant its departing users to keep, from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Meant {
    /// `--old-owner-role`: what they keep of what the plan handed over.
    pub old_owner_role: OldOwnerRoleKind,
    /// `--keep-other-access` (or a plan written before other access was removed): the
    /// roles they hold without owning stay, and only ownership is residual.
    pub keep_other_access: bool,
}

impl Meant {
    /// Whether a departing user holding `role` on an entity is what the plan meant:
    /// ownership only where the plan handed the entity over and kept them as OWNER;
    /// another role where other access is kept, or where the plan handed the entity over
    /// and `--old-owner-role` left them at least that.
    fn allows(&self, role: Role, handed_over: bool) -> bool {
        let kept = handed_over && self.old_owner_role.role().is_some_and(|k| role <= k);
        match role {
            Role::Owner => kept,
            _ => self.keep_other_access || kept,
        }
    }
}

/// How many entities of one kind the users still hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ResidualCounts {
    /// Entities one of the users owns.
    pub owned: u64,
    /// Entities one of the users can access without owning them.
    pub other_access: u64,
}

/// One entity where a departing user holds what the plan meant to remove (or whose access
/// list could not be read, so that it cannot be told).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Held {
    pub kind: EntityKind,
    pub id: String,
    pub name: String,
    /// Who holds it, and what; `None` when the access list could not be read.
    pub user: Option<String>,
    pub role: Option<Role>,
    /// Why it could not be told, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What the departing users still hold, among every entity of the kinds listed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Residual {
    /// Their usernames.
    pub users: Vec<String>,
    /// The kinds listed.
    pub kinds: Vec<EntityKind>,
    /// Entities listed and read.
    pub listed: u64,
    /// Entities one of them owns.
    pub owned: u64,
    /// Entities one of them can access (any role) without owning them.
    pub other_access: u64,
    /// Entities listed whose access list could not be read (gone since, or not allowed).
    pub unreadable: u64,
    /// The counts per kind, kinds with nothing held left out.
    pub by_kind: BTreeMap<EntityKind, ResidualCounts>,
    /// What the plan meant the users to keep; `null` when nothing is judged.
    pub meant: Option<Meant>,
    /// With `meant`: the entities where they hold more than it (or that could not be
    /// read, gone ones aside), each user's role named; `verify` exits 5 when there is one.
    pub findings: Vec<Held>,
}

impl Residual {
    /// Entities one of the users still owns or can access.
    pub fn total(&self) -> u64 {
        self.owned + self.other_access
    }

    /// Entities where the users hold more than the plan meant (see [`Residual::findings`]).
    pub fn finding_count(&self) -> usize {
        let mut seen: Vec<(EntityKind, &str)> = self
            .findings
            .iter()
            .map(|h| (h.kind, h.id.as_str()))
            .collect();
        seen.sort();
        seen.dedup();
        seen.len()
    }

    /// The one line `verify` prints.
    pub fn render(&self) -> String {
        let kept = match self.meant {
            Some(m) if m.keep_other_access && self.other_access > 0 => {
                " (the plan keeps their other access: --keep-other-access)"
            }
            _ => "",
        };
        format!(
            "residual: {} still {} {} and {} access to {} more{kept}, of {} entities of {} types listed{}",
            self.users.join(", "),
            if self.users.len() == 1 { "owns" } else { "own" },
            self.owned,
            if self.users.len() == 1 { "has" } else { "have" },
            self.other_access,
            self.listed,
            self.kinds.len(),
            match self.unreadable {
                0 => String::new(),
                n => format!(" ({n} not readable)"),
            }
        )
    }

    /// The findings as `verify` prints them: a line that counts them, then one line per
    /// entity, at most `shown`; empty when there is none.
    pub fn render_findings(&self, shown: usize) -> String {
        if self.findings.is_empty() {
            return String::new();
        }
        let mut out = format!(
            "residual findings: {} entities hold what the plan meant to remove\n",
            self.finding_count()
        );
        for h in self.findings.iter().take(shown) {
            let what = match (&h.user, h.role, &h.problem) {
                (Some(user), Some(role), _) => format!("{user} still has {role}"),
                (_, _, Some(problem)) => problem.clone(),
                _ => "cannot be told".to_string(),
            };
            out.push_str(&format!("  {} {} {:?}: {what}\n", h.kind, h.id, h.name));
        }
        if self.findings.len() > shown {
            out.push_str(&format!(
                "  and {} more (--json lists them all)\n",
                self.findings.len() - shown
            ));
        }
        out
    }
}

/// One entity to read: what to check it against, and whether it counts for the residual.
struct Item {
    kind: EntityKind,
    id: String,
    name: String,
    expected: Option<Expected>,
    residual: bool,
}

/// Checks every `expected` entity against the live server and, with `residual`, counts
/// what its users still hold among every entity of its kinds, in one pass: each kind is
/// listed once and each access list read once, `concurrency` at a time through the
/// client's rate limiter. A failure to read one entity is a mismatch (or, for the
/// residual, counted as unreadable); failures that are not about one entity stop it.
pub async fn verify(
    client: &Client,
    expected: Vec<Expected>,
    residual: Option<&ResidualSpec>,
    concurrency: usize,
) -> Result<(Verdict, Option<Residual>), ApiError> {
    let concurrency = concurrency.max(1);
    let mut items = Vec::with_capacity(expected.len());
    let mut held = None;
    if let Some(spec) = residual {
        // Unfiltered: an owner filter would miss what the users hold without owning it.
        // A list the server does not serve (an older DataRobot, contract §12) holds nothing
        // to count: that type is said to be unsearched, and the check goes on.
        let lists: Vec<crate::api::Listing> = stream::iter(spec.kinds.clone())
            .map(|kind| async move {
                match client.list(kind, &ListFilter::default()).await {
                    Err(e) if e.is_unserved() => {
                        tracing::warn!(kind = %kind, error = %e, "list not served; residual not searched there");
                        Ok(crate::api::Listing::default())
                    }
                    other => other,
                }
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        let mut by_key: HashMap<(EntityKind, String), Expected> = expected
            .into_iter()
            .map(|e| ((e.kind, e.id.clone()), e))
            .collect();
        let unlisted: usize = lists.iter().map(|l| l.unreadable.len()).sum();
        for entity in lists.into_iter().flat_map(|l| l.entities) {
            let expected = by_key.remove(&(entity.kind, entity.id.clone()));
            items.push(Item {
                kind: entity.kind,
                id: entity.id,
                name: entity.name,
                expected,
                residual: true,
            });
        }
        // Planned entities the lists do not show (gone, or of another kind) are still read.
        let mut rest: Vec<Expected> = by_key.into_values().collect();
        rest.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        items.extend(rest.into_iter().map(|e| Item {
            kind: e.kind,
            id: e.id.clone(),
            name: e.name.clone(),
            expected: Some(e),
            residual: false,
        }));
        let mut kinds = spec.kinds.clone();
        kinds.sort();
        kinds.dedup();
        held = Some(Residual {
            users: spec.users.iter().map(|u| u.username.clone()).collect(),
            kinds,
            unreadable: unlisted as u64,
            meant: spec.meant,
            ..Residual::default()
        });
    } else {
        items.extend(expected.into_iter().map(|e| Item {
            kind: e.kind,
            id: e.id.clone(),
            name: e.name.clone(),
            expected: Some(e),
            residual: false,
        }));
    }

    let activity = Activity::default();
    let activity = &activity;
    // Every request an item needs (its access list, and `users/` when telling why it is
    // off target) is made inside its future in the buffer, never in the loop below: the
    // loop awaiting the client while the buffer is not polled left reads that hold a
    // place in flight (or wait for their rate token with one) unpolled, and once the
    // pace had lowered its limit below the places they held, the loop's own request
    // waited for a place for ever (a verify seen idle for half an hour on a loaded
    // machine).
    let mut reads = stream::iter(items)
        .map(|item| async move {
            let live = client.access_list(item.kind, &item.id).await;
            let problem = match &item.expected {
                Some(entry) => problem_of(client, activity, entry, &live).await,
                None => None,
            };
            (item, live, problem)
        })
        .buffer_unordered(concurrency);
    let mut verdict = Verdict::default();
    while let Some((item, live, problem)) = reads.next().await {
        let live = match live {
            Ok(live) => Ok(live),
            // One entity the server would not show (gone, not allowed, or still failing
            // after the retries) is that entity's mismatch; the check goes on. Auth,
            // transport and undecodable answers are not about one entity: they stop it.
            Err(e)
                if e.is_shape()
                    || matches!(e.kind(), ApiErrorKind::Status { .. })
                        && !matches!(e.class(), ErrorClass::Auth | ErrorClass::Fatal) =>
            {
                Err(e)
            }
            Err(e) => return Err(e),
        };
        // Whether the plan handed this entity over (so `--old-owner-role` applies to it).
        let handed_over = item.expected.as_ref().is_some_and(|e| !e.revoke_only);
        if let Some(entry) = item.expected {
            verdict.checked += 1;
            if let Some((problem, cause)) = problem {
                verdict.mismatches.push(Mismatch {
                    kind: entry.kind,
                    id: entry.id,
                    name: entry.name,
                    problem,
                    cause,
                });
            }
        }
        if let (true, Some(held), Some(spec)) = (item.residual, held.as_mut(), residual) {
            held.listed += 1;
            let users: Vec<Grant> = spec
                .users
                .iter()
                .map(|u| u.grant(Role::Consumer, None))
                .collect();
            let name = item.name.clone();
            let problem = match &live {
                Err(e) if e.class() == ErrorClass::Gone => None,
                Err(e) => Some(format!("cannot read the access list: {e}")),
                Ok(l) => l
                    .hides(&users)
                    .map(|u| format!("cannot read the access list entry {u}")),
            };
            let Some(live) = live.as_ref().ok().filter(|l| l.hides(&users).is_none()) else {
                held.unreadable += 1;
                // What cannot be read cannot be told to hold nothing; a deleted entity
                // holds nothing.
                if let (Some(_), Some(problem)) = (spec.meant, problem) {
                    held.findings.push(Held {
                        kind: item.kind,
                        id: item.id.clone(),
                        name,
                        user: None,
                        role: None,
                        problem: Some(problem),
                    });
                }
                continue;
            };
            if let Some(meant) = spec.meant {
                for g in &live.grants {
                    if let Some(u) = spec.users.iter().find(|u| u.matches(g))
                        && !meant.allows(g.role, handed_over)
                    {
                        held.findings.push(Held {
                            kind: item.kind,
                            id: item.id.clone(),
                            name: name.clone(),
                            user: Some(u.username.clone()),
                            role: Some(g.role),
                            problem: None,
                        });
                    }
                }
            }
            let best = live
                .grants
                .iter()
                .filter(|g| spec.users.iter().any(|u| u.matches(g)))
                .map(|g| g.role)
                .max();
            let Some(role) = best else {
                continue;
            };
            let per_kind = held.by_kind.entry(item.kind).or_default();
            if role == Role::Owner {
                per_kind.owned += 1;
                held.owned += 1;
            } else {
                per_kind.other_access += 1;
                held.other_access += 1;
            }
        }
    }
    verdict
        .mismatches
        .sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    if let Some(held) = held.as_mut() {
        held.findings
            .sort_by(|a, b| (a.kind, &a.id, &a.user).cmp(&(b.kind, &b.id, &b.user)));
    }
    Ok((verdict, held))
}

/// What is wrong with `entry` on what its access-list read returned, and why where it
/// can be told; `None` when it is at its target. May ask `users/` (see
/// [`inactive_remains`]).
async fn problem_of(
    client: &Client,
    activity: &Activity,
    entry: &Expected,
    live: &Result<AccessList, ApiError>,
) -> Option<(String, Option<CauseKind>)> {
    match live {
        Ok(live) => match readable(live.clone(), &entry.changes) {
            Ok(grants) => match at_target(entry.kind, &grants, &entry.changes) {
                Ok(()) => None,
                Err(problem) => Some(
                    match inactive_remains(client, activity, entry, &grants).await {
                        Some(why) => (why, Some(CauseKind::InactiveAccessRemains)),
                        None => (problem, None),
                    },
                ),
            },
            Err((_, reason)) => Some((reason, None)),
        },
        Err(e) => Some((format!("cannot read the access list: {e}"), None)),
    }
}

/// Why `entry` is not at its target on `live`, when the only principals not there are
/// users whose access the plan removes or lowers, who still hold more, and who are
/// inactive (`users/` says so, or the run recorded the entity `partial`): everything else
/// is at its target. `None` when that is not the case (or cannot be told).
async fn inactive_remains(
    client: &Client,
    activity: &Activity,
    entry: &Expected,
    live: &[Grant],
) -> Option<String> {
    let request = ShareRequest {
        changes: entry.changes.clone(),
        notify: false,
    };
    let lowering = exec::lowering(live, &request);
    if lowering.is_empty() {
        return None;
    }
    let rest = exec::without(&request, &lowering);
    at_target(entry.kind, live, &rest.changes).ok()?;
    // The run's record is the server's own word; else every one must be known inactive.
    if entry.partial.is_none() {
        for &i in &lowering {
            if activity.active(client, &request.changes[i]).await != Some(false) {
                return None;
            }
        }
    }
    let held: Vec<String> = lowering
        .iter()
        .map(|&i| {
            let c = &request.changes[i];
            let who = exec::principal_of(c);
            let now = live
                .iter()
                .find(|g| crate::plan::same_principal(g, &who))
                .map_or("no access".to_string(), |g| g.role.to_string());
            let wanted = c.role.map_or("none".to_string(), |r| r.to_string());
            format!("{} still has {now} (planned {wanted})", c.name)
        })
        .collect();
    let users = if held.len() == 1 { "user" } else { "users" };
    Some(match &entry.partial {
        Some(words) => format!(
            "inactive {users}: {}; the rest is at its target. The run recorded it partial: {words}",
            held.join(", ")
        ),
        None => format!(
            "inactive {users}: {}; the rest is at its target. DataRobot may refuse to \
             remove an inactive user's access (the run's journal says whether it did: \
             `handover status`)",
            held.join(", ")
        ),
    })
}

/// What a journal says succeeded, as entities to check: each with the changes of its
/// last write, read back from the request the journal recorded. For when the journal's
/// plan is not at hand. Entities are read back one at a time, so only the checks are kept.
pub fn expected_from_journal(path: &Path) -> Result<Vec<Expected>, journal::Error> {
    let replay = Replay::read(path)?;
    let source = rollback::SourceRun::read(path, &replay)?;
    let mut expected = Vec::new();
    for i in 0..source.len() {
        // An unconfirmed write was accepted too: checking it is what it still needs. A
        // partial one is checked against the request the server refused, the whole of
        // what the run meant to do, so that what it could not do shows.
        let (partial, note) = match source.state(i) {
            EntityState::Done { outcome } => match outcome.outcome {
                OutcomeKind::Succeeded | OutcomeKind::Unconfirmed => (false, None),
                OutcomeKind::Partial => (true, outcome.error.as_deref().map(str::to_string)),
                _ => continue,
            },
            EntityState::InFlight => continue,
        };
        let w = source.written(i)?;
        let after = w.expected_after();
        let known = [&w.last_before[..], &after[..], &w.before[..]];
        let meant = match partial {
            true => replay
                .first_intent(w.kind, &w.id)?
                .map(|intent| rollback::changes_of_body(w.kind, &intent.request))
                .unwrap_or_else(|| w.last_changes.clone()),
            false => w.last_changes.clone(),
        };
        let changes = meant
            .iter()
            .map(|c| rollback::complete_change(c, &known))
            .collect();
        expected.push(Expected {
            kind: w.kind,
            id: w.id,
            name: String::new(),
            changes,
            partial: if partial {
                Some(note.unwrap_or_else(|| "no reason recorded".to_string()))
            } else {
                None
            },
            revoke_only: false,
        });
    }
    Ok(expected)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::api::ClientPolicy;
    use crate::api::config::ConnSettings;
    use crate::api::pace::AutoPace;
    use crate::base::secret::Token;
    use crate::sim::{self, Seed, SeedEntity, SeedGrant, SeedUser, Sim, SimConfig};

    fn hex_id(n: usize) -> String {
        format!("{n:024x}")
    }

    /// A world of `n` projects, each owned by the admin and shared with its own user, and
    /// what a plan that took each user's access away expects of them: every project is
    /// off its target by one user only, so telling why asks `users/` about that user.
    fn one_user_left_on_each(n: usize) -> (Seed, Vec<Expected>) {
        let mut seed = Seed::default();
        seed.users.push(SeedUser {
            id: hex_id(1),
            username: sim::ADMIN_USERNAME.into(),
            full_name: "Ada Admin".into(),
            active: true,
            org_admin: true,
            token: sim::DEFAULT_ADMIN_TOKEN.into(),
        });
        let mut expected = Vec::new();
        for i in 0..n {
            let username = format!("user{i}@acme.test");
            seed.users.push(SeedUser {
                id: hex_id(0x100 + i),
                username: username.clone(),
                full_name: format!("User {i}"),
                active: true,
                org_admin: false,
                token: String::new(),
            });
            let id = hex_id(0x1000 + i);
            seed.entities.push(SeedEntity {
                kind: sim::EntityKind::Project,
                id: id.clone(),
                name: format!("project {i}"),
                creator: None,
                access: vec![
                    SeedGrant::new(sim::ADMIN_USERNAME, sim::Role::Owner),
                    SeedGrant::new(&username, sim::Role::Consumer),
                ],
                principals: Vec::new(),
                store_type: None,
                linked: None,
                related_entity_type: None,
            });
            expected.push(Expected {
                kind: EntityKind::Project,
                id,
                name: format!("project {i}"),
                changes: vec![Change {
                    recipient_type: "user".into(),
                    id: Some(hex_id(0x100 + i)),
                    name: username,
                    role: None,
                    can_share: None,
                }],
                partial: None,
                revoke_only: false,
            });
        }
        (seed, expected)
    }

    /// Seen hanging for half an hour on a loaded machine: a server that slows under load
    /// makes the pace lower its in-flight limit while the reads waiting in verify's
    /// buffer already hold every place, and verify then asked `users/` about a mismatch
    /// from outside that buffer, so the reads that would free a place were never polled
    /// again and its own request waited for a place for ever. A saturated simulator (one
    /// request in service at a time) lowers the limit the same way, on paused time.
    #[tokio::test(start_paused = true)]
    async fn verify_does_not_hang_when_the_pace_lowers_its_limit_during_mismatch_lookups() {
        let (seed, expected) = one_user_left_on_each(60);
        let config = SimConfig {
            capacity: Some(1),
            latency_ms: 10,
            ..SimConfig::default()
        };
        let sim = Sim::start("127.0.0.1:0".parse().unwrap(), seed, config).unwrap();
        let settings =
            ConnSettings::new(&sim.endpoint(), Token::new(sim::DEFAULT_ADMIN_TOKEN), false)
                .unwrap();
        let policy = ClientPolicy {
            pace: Some(AutoPace::default()),
            ..ClientPolicy::default()
        };
        let client = Client::new(settings, policy).unwrap();
        let verdict = tokio::time::timeout(
            Duration::from_secs(3600),
            verify(&client, expected, None, 64),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "verify hung: {:?} sim {:?}",
                client.counters(),
                sim.stats().requests
            )
        })
        .unwrap()
        .0;
        assert_eq!(verdict.checked, 60);
        assert_eq!(verdict.mismatches.len(), 60);
        // Each entity read once and each user asked about once.
        let counters = client.counters();
        assert_eq!(counters.requests, 120, "{counters:?}");
        // What made it hang: the limit fell below what had been in flight.
        let peak = counters.pace.map_or(0, |p| p.peak_in_flight);
        assert!(
            counters.concurrency_limit.is_some_and(|l| l < peak),
            "{counters:?}"
        );
    }
}
