//! The drift guard: what to send for one entity, given the plan's entry and the access list
//! as it is now; and the read-back check after the write.
//!
//! Pure: no I/O. The rules, in order:
//!
//! 1. The live list's [`fingerprint`] equals the plan's: send the plan's request as planned.
//! 2. The principals the plan touches (those its request names) are already where the plan
//!    wants them: nothing to send, `already_done`.
//! 3. The live list differs from the planned one only in principals the plan does not
//!    touch (someone shared the entity with a colleague meanwhile): apply the plan's
//!    per-principal changes to the live list and diff again, so the colleague keeps their
//!    access and the plan's intent is still carried out.
//!    On data stores and datasets, a principal the plan grants a role that has since
//!    gained a lower one counts as untouched here: that is what sharing a related entity in
//!    the same run does (a data source's recipients become CONSUMER of its data store, a
//!    custom model's of its training data; contract C7).
//! 4. Otherwise a touched principal changed in a way the plan did not foresee (the old
//!    owner was already demoted, the successor got a role the plan does not lead to): the
//!    target is no longer well defined, so nothing is sent and the entity is `drifted`,
//!    with the difference.
//!
//! Whatever is sent, the list it would leave must pass [`validate`]: at least one OWNER.

use crate::model::{AccessList, EntityKind, Grant, Role};
use crate::plan::{Change, PlanEntry, ShareRequest, diff, fingerprint, same_principal, validate};

/// What to do with one entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send `request`. `recomputed` when the live list had drifted in principals the plan
    /// does not touch and the request was recomputed from it (rule 3).
    Write {
        request: ShareRequest,
        recomputed: bool,
    },
    /// The touched principals are already at the plan's target.
    AlreadyDone,
    /// A touched principal changed since planning; `difference` says how.
    Drifted { difference: String },
    /// The request would break a rule (no owner left, a duplicate); `reason` says which.
    Refused { reason: String },
}

/// Decides what to send for `entry` (an entry with a request) now that its access list is
/// `live`.
pub fn decide(entry: &PlanEntry, live: &[Grant]) -> Decision {
    let kind = entry.kind;
    let Some(planned) = entry.request.as_ref() else {
        return Decision::Refused {
            reason: "the plan entry carries no request".to_string(),
        };
    };
    if fingerprint(live) == entry.fingerprint {
        return checked(kind, live, planned.clone(), false);
    }
    if at_target(kind, live, &planned.changes).is_ok() {
        return Decision::AlreadyDone;
    }
    let differences = touched_differences(kind, &entry.current, live, &planned.changes);
    if !differences.is_empty() {
        return Decision::Drifted {
            difference: differences.join("; "),
        };
    }
    let target = apply_changes(kind, live, &planned.changes);
    if let Err(refusal) = validate(&target) {
        return Decision::Refused {
            reason: refusal.reason(),
        };
    }
    match diff(kind, live, &target) {
        None => Decision::AlreadyDone,
        Some(mut request) => {
            request.notify = planned.notify;
            checked(kind, live, request, true)
        }
    }
}

/// `Write`, unless the list `request` would leave behind breaks a rule.
fn checked(kind: EntityKind, live: &[Grant], request: ShareRequest, recomputed: bool) -> Decision {
    let result = apply_changes(kind, live, &request.changes);
    match validate(&result) {
        Ok(()) => Decision::Write {
            request,
            recomputed,
        },
        Err(refusal) => Decision::Refused {
            reason: refusal.reason(),
        },
    }
}

/// The readable entries of `list`, or, with them, why the list cannot be acted on: an
/// entry handover could not read may be a principal `changes` touch.
pub fn readable(list: AccessList, changes: &[Change]) -> Result<Vec<Grant>, (Vec<Grant>, String)> {
    let principals: Vec<Grant> = changes.iter().map(principal).collect();
    match list.hides(&principals) {
        None => Ok(list.grants),
        Some(u) => {
            let reason = format!("cannot read the access list entry {u}");
            Err((list.grants, reason))
        }
    }
}

/// The access list after `changes` are applied to `list`: a revoke removes the principal,
/// a grant sets its role (and `can_share`, when given) or adds it at the end. Principals
/// not named are untouched.
pub fn apply_changes(kind: EntityKind, list: &[Grant], changes: &[Change]) -> Vec<Grant> {
    let mut out = list.to_vec();
    for change in changes {
        let who = principal(change);
        let pos = out.iter().position(|g| same_principal(g, &who));
        match (change.role, pos) {
            (None, Some(p)) => {
                out.remove(p);
            }
            (None, None) => {}
            (Some(role), Some(p)) => {
                let g = &mut out[p];
                g.role = role;
                if change.can_share.is_some() && kind.supports_can_share() {
                    g.can_share = change.can_share;
                }
                if g.id.is_none() {
                    g.id = change.id.clone();
                }
            }
            (Some(role), None) => out.push(Grant {
                recipient_type: change.recipient_type.clone(),
                id: change.id.clone(),
                name: change.name.clone(),
                role,
                can_share: change.can_share.filter(|_| kind.supports_can_share()),
            }),
        }
    }
    out
}

/// Checks that `list` gives every principal named in `changes` what the change asks:
/// revoked ones absent, granted ones at the role (and `can_share` where the kind carries
/// it and both sides state it), and that someone owns the entity. The error lists every
/// principal that is not where it should be.
pub fn at_target(kind: EntityKind, list: &[Grant], changes: &[Change]) -> Result<(), String> {
    let mut problems = Vec::new();
    for change in changes {
        let who = principal(change);
        let found = list.iter().find(|g| same_principal(g, &who));
        match (change.role, found) {
            (None, None) => {}
            (None, Some(g)) => problems.push(format!(
                "{}: expected no access, found {}",
                change.name, g.role
            )),
            (Some(role), None) => {
                problems.push(format!("{}: expected {role}, found no access", change.name))
            }
            (Some(role), Some(g)) if g.role != role => problems.push(format!(
                "{}: expected {role}, found {}",
                change.name, g.role
            )),
            (Some(_), Some(g)) => {
                if kind.supports_can_share()
                    && let (Some(want), Some(have)) = (change.can_share, g.can_share)
                    && want != have
                {
                    problems.push(format!(
                        "{}: expected canShare {want}, found {have}",
                        change.name
                    ));
                }
            }
        }
    }
    if !list.iter().any(|g| g.role == Role::Owner) {
        problems.push("no owner".to_string());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// For every principal `changes` touch, how `now` differs from `sent_on`, the list a
/// write was sent on: empty when nothing the write touches has moved (role, or a stated
/// `can_share` where the kind carries it). What the executor asks before sending a write
/// again after a lost answer.
pub(crate) fn moved(
    kind: EntityKind,
    sent_on: &[Grant],
    now: &[Grant],
    changes: &[Change],
) -> Vec<String> {
    touched_differences(kind, sent_on, now, changes)
}

/// For every principal `changes` touch, how `live` differs from `planned` (role, or a
/// stated `can_share` where the kind carries it). Empty when they agree on all of them.
fn touched_differences(
    kind: EntityKind,
    planned: &[Grant],
    live: &[Grant],
    changes: &[Change],
) -> Vec<String> {
    let mut out = Vec::new();
    for change in changes {
        let who = principal(change);
        let was = planned.iter().find(|g| same_principal(g, &who));
        let now = live.iter().find(|g| same_principal(g, &who));
        if kind.receives_linked_grants() && gained_on_the_way(change, was, now) {
            continue;
        }
        let same = match (was, now) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.role == b.role
                    && (!kind.supports_can_share()
                        || match (a.can_share, b.can_share) {
                            (Some(x), Some(y)) => x == y,
                            _ => true,
                        })
            }
            _ => false,
        };
        if !same {
            out.push(format!(
                "{}: planned from {}, now {}",
                change.name,
                describe(was),
                describe(now)
            ));
        }
    }
    out
}

/// Whether a principal the plan grants `change.role` has only gained a role since
/// planning, up to that role: the side effect of sharing something related in the same
/// run (a data source's share makes its recipients CONSUMER of the data store, a custom
/// model's or task's shares its training data; contract C7). The plan's grant still means
/// the same thing, so it is not drift.
fn gained_on_the_way(change: &Change, was: Option<&Grant>, now: Option<&Grant>) -> bool {
    match (change.role, was, now) {
        (Some(target), None, Some(now)) => now.role <= target,
        (Some(target), Some(was), Some(now)) => was.role < now.role && now.role <= target,
        _ => false,
    }
}

fn describe(grant: Option<&Grant>) -> String {
    match grant {
        None => "none".to_string(),
        Some(g) => match g.can_share {
            Some(false) => format!("{} (canShare false)", g.role),
            _ => g.role.to_string(),
        },
    }
}

/// The principal a change names, as a grant (for [`same_principal`]).
pub(crate) fn principal(change: &Change) -> Grant {
    Grant {
        recipient_type: change.recipient_type.clone(),
        id: change.id.clone(),
        name: change.name.clone(),
        role: change.role.unwrap_or(Role::Consumer),
        can_share: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ActionKind;

    fn g(id: &str, role: Role) -> Grant {
        Grant {
            recipient_type: "user".into(),
            id: Some(format!("id-{id}")),
            name: format!("{id}@x"),
            role,
            can_share: Some(true),
        }
    }

    /// alice owns, carol consumes; the plan hands over to bob and removes alice.
    fn entry(kind: EntityKind) -> PlanEntry {
        let current = vec![g("alice", Role::Owner), g("carol", Role::Consumer)];
        let target = vec![g("carol", Role::Consumer), g("bob", Role::Owner)];
        let e = PlanEntry::build(kind, "e1", "E", current, target);
        assert_eq!(e.action, ActionKind::Change);
        e
    }

    #[test]
    fn unchanged_list_gets_the_planned_request() {
        let e = entry(EntityKind::Dataset);
        let d = decide(&e, &e.current);
        assert_eq!(
            d,
            Decision::Write {
                request: e.request.clone().unwrap(),
                recomputed: false
            }
        );
    }

    #[test]
    fn list_at_target_is_already_done() {
        let e = entry(EntityKind::Dataset);
        assert_eq!(decide(&e, &e.target), Decision::AlreadyDone);
        // Untouched principals may differ too.
        let live = vec![g("bob", Role::Owner), g("dave", Role::Editor)];
        assert_eq!(decide(&e, &live), Decision::AlreadyDone);
    }

    #[test]
    fn drift_in_untouched_principals_is_recomputed_and_keeps_them() {
        let e = entry(EntityKind::RegisteredModel);
        let mut live = e.current.clone();
        live[1].role = Role::Editor; // carol promoted meanwhile
        live.push(g("dave", Role::Consumer)); // dave added meanwhile
        let Decision::Write {
            request,
            recomputed,
        } = decide(&e, &live)
        else {
            panic!("expected a write");
        };
        assert!(recomputed);
        let names: Vec<_> = request.changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["bob@x", "alice@x"]);
        let after = apply_changes(EntityKind::RegisteredModel, &live, &request.changes);
        assert_eq!(
            after,
            vec![
                g("carol", Role::Editor),
                g("dave", Role::Consumer),
                g("bob", Role::Owner)
            ]
        );
        assert!(
            at_target(
                EntityKind::RegisteredModel,
                &after,
                &e.request.unwrap().changes
            )
            .is_ok()
        );
    }

    #[test]
    fn drift_in_a_touched_principal_is_reported_not_written() {
        let e = entry(EntityKind::Project);
        let mut live = e.current.clone();
        live[0].role = Role::Editor; // alice demoted by hand
        live.push(g("zed", Role::Owner));
        match decide(&e, &live) {
            Decision::Drifted { difference } => {
                assert_eq!(difference, "alice@x: planned from OWNER, now EDITOR");
            }
            other => panic!("{other:?}"),
        }
        // The successor lost a role meanwhile: not what sharing something related does.
        let current = vec![
            g("alice", Role::Owner),
            g("bob", Role::Editor),
            g("carol", Role::Consumer),
        ];
        let target = vec![g("bob", Role::Owner), g("carol", Role::Consumer)];
        let e = PlanEntry::build(EntityKind::Project, "e1", "E", current.clone(), target);
        let mut live = current;
        live[1].role = Role::Consumer;
        match decide(&e, &live) {
            Decision::Drifted { difference } => {
                assert_eq!(difference, "bob@x: planned from EDITOR, now CONSUMER");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_role_the_successor_gained_on_the_way_is_not_drift() {
        // Sharing the data source made bob CONSUMER of this data store (contract C7).
        let e = entry(EntityKind::DataStore);
        let mut live = e.current.clone();
        live.push(g("bob", Role::Consumer));
        let Decision::Write {
            request,
            recomputed,
        } = decide(&e, &live)
        else {
            panic!("expected a write, got {:?}", decide(&e, &live));
        };
        assert!(recomputed);
        let after = apply_changes(EntityKind::DataStore, &live, &request.changes);
        assert_eq!(
            after,
            vec![g("carol", Role::Consumer), g("bob", Role::Owner)]
        );
        // Someone made bob owner already: only alice's removal is left to send.
        let live = vec![g("alice", Role::Owner), g("bob", Role::Owner)];
        let Decision::Write { request, .. } = decide(&e, &live) else {
            panic!("expected a write");
        };
        let after = apply_changes(EntityKind::DataStore, &live, &request.changes);
        assert_eq!(after, vec![g("bob", Role::Owner)]);
    }

    #[test]
    fn never_a_request_that_leaves_no_owner() {
        // A plan that only removes alice (someone else was owner when planned).
        let current = vec![g("alice", Role::Owner), g("zed", Role::Owner)];
        let target = vec![g("zed", Role::Owner)];
        let e = PlanEntry::build(EntityKind::Dataset, "e", "", current, target);
        // zed lost ownership meanwhile; zed is untouched, so the request would be
        // recomputed, but it would leave no owner.
        let live = vec![g("alice", Role::Owner), g("zed", Role::Editor)];
        assert_eq!(
            decide(&e, &live),
            Decision::Refused {
                reason: "target leaves no owner".into()
            }
        );
    }

    #[test]
    fn at_target_names_every_mismatch() {
        let e = entry(EntityKind::Dataset);
        let changes = &e.request.as_ref().unwrap().changes;
        let err = at_target(EntityKind::Dataset, &e.current, changes).unwrap_err();
        assert_eq!(
            err,
            "bob@x: expected OWNER, found no access; alice@x: expected no access, found OWNER"
        );
        let err = at_target(EntityKind::Dataset, &[], changes).unwrap_err();
        assert!(err.ends_with("no owner"), "{err}");
    }
}
