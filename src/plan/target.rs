//! Target building for offboarding: who owns the entity after the handover, and what the
//! old owner keeps; with several departing users ([`HandoverPair`]s), every pair that
//! applies to the entity, in one target.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::{EntityKind, Grant, Role, is_revoke_name};

use super::diff::same_principal;

/// A user as the planner knows them after looking them up: both id and username.
///
/// The id is empty when the user could not be looked up (`users/` is for organization
/// administrators): such a user is matched and named by username only, and the server
/// checks that they exist when the share is sent (contract R3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserIdent {
    #[serde(default)]
    pub id: String,
    pub username: String,
}

impl UserIdent {
    /// A user known by username only (see the type's note on the empty id).
    pub fn unchecked(username: impl Into<String>) -> UserIdent {
        UserIdent {
            id: String::new(),
            username: username.into(),
        }
    }

    /// The id, when known.
    pub fn known_id(&self) -> Option<&str> {
        (!self.id.is_empty()).then_some(self.id.as_str())
    }

    /// The grant this user would hold at `role`.
    pub fn grant(&self, role: Role, can_share: Option<bool>) -> Grant {
        Grant {
            recipient_type: "user".to_string(),
            id: self.known_id().map(str::to_string),
            name: self.username.clone(),
            role,
            can_share,
        }
    }

    /// Whether `grant` is this user's entry: by id when the entry has one, else by
    /// username, case-insensitively.
    pub fn matches(&self, grant: &Grant) -> bool {
        same_principal(grant, &self.grant(Role::Consumer, None))
    }
}

impl fmt::Display for UserIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.username)
    }
}

/// What the old owner keeps after the handover (`--old-owner-role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OldOwnerRoleKind {
    /// Removed from the access list.
    #[default]
    None,
    /// Demoted to read-only.
    Consumer,
    /// Demoted to read-write.
    Editor,
    /// Stays a co-owner beside the new owner.
    Owner,
}

impl OldOwnerRoleKind {
    /// The level the old owner ends with; `None` when removed.
    pub fn role(self) -> Option<Role> {
        match self {
            OldOwnerRoleKind::None => None,
            OldOwnerRoleKind::Consumer => Some(Role::Consumer),
            OldOwnerRoleKind::Editor => Some(Role::Editor),
            OldOwnerRoleKind::Owner => Some(Role::Owner),
        }
    }

    /// The name used in plan headers and on the command line.
    pub fn as_str(self) -> &'static str {
        match self.role() {
            Some(role) => role.as_str(),
            None => "NONE",
        }
    }
}

impl fmt::Display for OldOwnerRoleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An old-owner role name that is none of the four.
#[derive(Debug, thiserror::Error)]
#[error("unknown old-owner role {0:?} (expected NONE, CONSUMER, EDITOR or OWNER)")]
pub struct UnknownOldOwnerRoleError(pub String);

impl FromStr for OldOwnerRoleKind {
    type Err = UnknownOldOwnerRoleError;

    /// Any role name DataRobot uses ([`Role::from_wire`]), or `NONE`/`NO_ROLE`, any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_revoke_name(s) {
            return Ok(OldOwnerRoleKind::None);
        }
        match Role::from_wire(s) {
            Some(Role::Consumer) => Ok(OldOwnerRoleKind::Consumer),
            Some(Role::Editor) => Ok(OldOwnerRoleKind::Editor),
            Some(Role::Owner) => Ok(OldOwnerRoleKind::Owner),
            None => Err(UnknownOldOwnerRoleError(s.to_string())),
        }
    }
}

/// Whether `user` is an OWNER in `current`. The planner offboards only entities for which
/// this holds.
pub fn owner_of(current: &[Grant], user: &UserIdent) -> bool {
    current
        .iter()
        .any(|g| g.role == Role::Owner && user.matches(g))
}

/// The access list after handing `kind`'s entity over from `from` to `to`:
///
/// - `to` is OWNER, with `can_share = Some(true)` where the kind carries it (else `None`);
///   added at the end when absent, updated in place when present;
/// - `from` holds `old_owner_role` (removed for [`OldOwnerRoleKind::None`]) and keeps
///   its `can_share`;
/// - every other principal is untouched, in the same order.
///
/// Pure: it does not check that `from` owns the entity (see [`owner_of`]) nor that the
/// result is valid (see [`validate`](super::validate)). When `from` and `to` are the same
/// user the result makes them OWNER.
pub fn offboard_target(
    kind: EntityKind,
    current: &[Grant],
    from: &UserIdent,
    to: &UserIdent,
    old_owner_role: OldOwnerRoleKind,
) -> Vec<Grant> {
    let mut target: Vec<Grant> = Vec::with_capacity(current.len() + 1);
    for grant in current {
        if !from.matches(grant) {
            target.push(grant.clone());
            continue;
        }
        if let Some(role) = old_owner_role.role() {
            target.push(Grant {
                role,
                ..grant.clone()
            });
        }
    }
    let can_share = kind.supports_can_share().then_some(true);
    match target.iter_mut().find(|g| to.matches(g)) {
        Some(existing) => {
            existing.role = Role::Owner;
            existing.can_share = can_share;
            if existing.id.is_none() {
                existing.id = to.known_id().map(str::to_string);
            }
        }
        None => {
            // `from` == `to` and removed above: they come back as the owner.
            target.push(to.grant(Role::Owner, can_share));
        }
    }
    target
}

/// One departing user and the successor who takes over what they own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverPair {
    pub from: UserIdent,
    pub to: UserIdent,
}

/// The access list after every pair whose `from` owns the entity (in `current`) has handed
/// it over, in the order of `pairs`; `None` when no departing user owns it.
///
/// An entity co-owned by two departing users gets both successors as owners and keeps
/// neither departing user as owner (unless `old_owner_role` is OWNER). Each step is
/// [`offboard_target`]; pairs whose `from` is not an owner are skipped, so a departing
/// user who is only an editor of the entity keeps that role.
pub fn batch_target(
    kind: EntityKind,
    current: &[Grant],
    pairs: &[HandoverPair],
    old_owner_role: OldOwnerRoleKind,
) -> Option<Vec<Grant>> {
    let mut target: Option<Vec<Grant>> = None;
    for pair in pairs.iter().filter(|p| owner_of(current, &p.from)) {
        let so_far = target.as_deref().unwrap_or(current);
        target = Some(offboard_target(
            kind,
            so_far,
            &pair.from,
            &pair.to,
            old_owner_role,
        ));
    }
    target
}

/// What an offboarding plans for one entity ([`leaver_target`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaverTarget {
    /// A departing user owns it: the handover ([`batch_target`]), and, unless other
    /// access is kept, no role for a departing user who does not own it.
    Handover(Vec<Grant>),
    /// No departing user owns it but one holds a role on it: the same list without the
    /// departing users (a revoke-only change).
    RevokeOnly(Vec<Grant>),
}

/// The target of an offboarding for one entity: [`batch_target`] where a departing user
/// owns it; where none does, the list without the departing users' roles, unless
/// `keep_other_access` (`--keep-other-access`), which keeps every role a departing user
/// holds without owning the entity. `None` when there is nothing to do: no departing user
/// holds anything (or only kept access).
///
/// Only users' own entries are removed: access a departing user has through a group or
/// an organization is that principal's, and is never changed. Removing a user who is not
/// an owner cannot leave the entity without one (the entity's owners stay, groups and
/// organizations included); [`validate`](super::validate) checks the target all the same.
pub fn leaver_target(
    kind: EntityKind,
    current: &[Grant],
    pairs: &[HandoverPair],
    old_owner_role: OldOwnerRoleKind,
    keep_other_access: bool,
) -> Option<LeaverTarget> {
    // Departing users who hold a role here without owning the entity.
    let members: Vec<&UserIdent> = pairs
        .iter()
        .map(|p| &p.from)
        .filter(|u| !owner_of(current, u))
        .collect();
    let without_members = |list: Vec<Grant>| -> Vec<Grant> {
        list.into_iter()
            .filter(|g| !members.iter().any(|u| u.matches(g)))
            .collect()
    };
    match batch_target(kind, current, pairs, old_owner_role) {
        Some(target) if keep_other_access => Some(LeaverTarget::Handover(target)),
        Some(target) => Some(LeaverTarget::Handover(without_members(target))),
        None if keep_other_access => None,
        None => {
            let target = without_members(current.to_vec());
            (target.len() != current.len()).then_some(LeaverTarget::RevokeOnly(target))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: &str) -> UserIdent {
        UserIdent {
            id: id.to_string(),
            username: name.to_string(),
        }
    }

    fn grant(id: Option<&str>, name: &str, role: Role, can_share: Option<bool>) -> Grant {
        Grant {
            recipient_type: "user".to_string(),
            id: id.map(str::to_string),
            name: name.to_string(),
            role,
            can_share,
        }
    }

    fn alice() -> UserIdent {
        user("a1", "alice@x.com")
    }

    fn bob() -> UserIdent {
        user("b2", "bob@x.com")
    }

    #[test]
    fn new_owner_is_added_and_old_owner_removed_by_default() {
        let current = vec![
            grant(Some("a1"), "alice@x.com", Role::Owner, Some(true)),
            grant(Some("c3"), "carol@x.com", Role::Consumer, Some(false)),
        ];
        let target = offboard_target(
            EntityKind::Dataset,
            &current,
            &alice(),
            &bob(),
            OldOwnerRoleKind::None,
        );
        assert_eq!(
            target,
            vec![
                grant(Some("c3"), "carol@x.com", Role::Consumer, Some(false)),
                grant(Some("b2"), "bob@x.com", Role::Owner, Some(true)),
            ]
        );
    }

    #[test]
    fn can_share_is_left_unset_for_kinds_that_do_not_carry_it() {
        let current = vec![grant(None, "alice@x.com", Role::Owner, Some(true))];
        for kind in [
            EntityKind::Project,
            EntityKind::Calendar,
            EntityKind::UserBlueprint,
        ] {
            let target = offboard_target(kind, &current, &alice(), &bob(), OldOwnerRoleKind::None);
            assert_eq!(
                target,
                vec![grant(Some("b2"), "bob@x.com", Role::Owner, None)],
                "{kind}"
            );
        }
    }

    #[test]
    fn old_owner_keeps_the_requested_role_and_its_can_share() {
        let current = vec![grant(Some("a1"), "alice@x.com", Role::Owner, Some(false))];
        for (kind, role) in [
            (OldOwnerRoleKind::Consumer, Role::Consumer),
            (OldOwnerRoleKind::Editor, Role::Editor),
            (OldOwnerRoleKind::Owner, Role::Owner),
        ] {
            let target = offboard_target(
                EntityKind::RegisteredModel,
                &current,
                &alice(),
                &bob(),
                kind,
            );
            assert_eq!(
                target,
                vec![
                    grant(Some("a1"), "alice@x.com", role, Some(false)),
                    grant(Some("b2"), "bob@x.com", Role::Owner, Some(true)),
                ]
            );
        }
    }

    #[test]
    fn existing_recipient_is_promoted_in_place() {
        let current = vec![
            grant(None, "BOB@X.COM", Role::Consumer, Some(false)),
            grant(None, "Alice@X.com", Role::Owner, Some(true)),
        ];
        let target = offboard_target(
            EntityKind::DataStore,
            &current,
            &alice(),
            &bob(),
            OldOwnerRoleKind::None,
        );
        assert_eq!(
            target,
            vec![grant(Some("b2"), "BOB@X.COM", Role::Owner, Some(true))]
        );
    }

    #[test]
    fn ids_win_over_usernames_when_both_sides_have_one() {
        // Same username, different id: a different account (renamed or recycled name).
        let current = vec![
            grant(Some("zz"), "alice@x.com", Role::Owner, None),
            grant(Some("a1"), "old-alias@x.com", Role::Owner, None),
        ];
        assert!(owner_of(&current, &alice()));
        let target = offboard_target(
            EntityKind::Deployment,
            &current,
            &alice(),
            &bob(),
            OldOwnerRoleKind::None,
        );
        assert_eq!(
            target,
            vec![
                grant(Some("zz"), "alice@x.com", Role::Owner, None),
                grant(Some("b2"), "bob@x.com", Role::Owner, Some(true)),
            ]
        );
    }

    #[test]
    fn groups_with_a_users_name_are_not_the_user() {
        let mut group = grant(None, "alice@x.com", Role::Owner, None);
        group.recipient_type = "group".to_string();
        assert!(!owner_of(std::slice::from_ref(&group), &alice()));
        let target = offboard_target(
            EntityKind::UseCase,
            std::slice::from_ref(&group),
            &alice(),
            &bob(),
            OldOwnerRoleKind::None,
        );
        assert_eq!(target[0], group);
    }

    #[test]
    fn owner_of_needs_the_owner_role() {
        let current = vec![grant(Some("a1"), "alice@x.com", Role::Editor, None)];
        assert!(!owner_of(&current, &alice()));
        assert!(!owner_of(&[], &alice()));
    }

    #[test]
    fn handing_over_to_oneself_keeps_one_owner_entry() {
        let current = vec![grant(Some("a1"), "alice@x.com", Role::Owner, Some(true))];
        let target = offboard_target(
            EntityKind::Dataset,
            &current,
            &alice(),
            &alice(),
            OldOwnerRoleKind::None,
        );
        assert_eq!(target, current);
    }

    fn carol() -> UserIdent {
        user("c3", "carol@x.com")
    }

    fn dave() -> UserIdent {
        user("d4", "dave@x.com")
    }

    #[test]
    fn co_owners_who_both_leave_each_hand_over_to_their_successor() {
        let current = vec![
            grant(Some("a1"), "alice@x.com", Role::Owner, Some(true)),
            grant(Some("e5"), "erin@x.com", Role::Consumer, Some(false)),
            grant(Some("c3"), "carol@x.com", Role::Owner, Some(true)),
        ];
        let pairs = [
            HandoverPair {
                from: alice(),
                to: bob(),
            },
            HandoverPair {
                from: carol(),
                to: dave(),
            },
        ];
        let target = batch_target(
            EntityKind::RegisteredModel,
            &current,
            &pairs,
            OldOwnerRoleKind::None,
        )
        .unwrap();
        assert_eq!(
            target,
            vec![
                grant(Some("e5"), "erin@x.com", Role::Consumer, Some(false)),
                grant(Some("b2"), "bob@x.com", Role::Owner, Some(true)),
                grant(Some("d4"), "dave@x.com", Role::Owner, Some(true)),
            ]
        );
        // Both to one successor: one owner entry.
        let same = [
            pairs[0].clone(),
            HandoverPair {
                from: carol(),
                to: bob(),
            },
        ];
        let target = batch_target(
            EntityKind::RegisteredModel,
            &current,
            &same,
            OldOwnerRoleKind::Editor,
        )
        .unwrap();
        assert_eq!(
            target,
            vec![
                grant(Some("a1"), "alice@x.com", Role::Editor, Some(true)),
                grant(Some("e5"), "erin@x.com", Role::Consumer, Some(false)),
                grant(Some("c3"), "carol@x.com", Role::Editor, Some(true)),
                grant(Some("b2"), "bob@x.com", Role::Owner, Some(true)),
            ]
        );
    }

    #[test]
    fn a_departing_user_who_does_not_own_the_entity_keeps_their_role() {
        let current = vec![
            grant(Some("a1"), "alice@x.com", Role::Owner, None),
            grant(Some("c3"), "carol@x.com", Role::Editor, None),
        ];
        let pairs = [
            HandoverPair {
                from: carol(),
                to: dave(),
            },
            HandoverPair {
                from: alice(),
                to: bob(),
            },
        ];
        let target = batch_target(
            EntityKind::Project,
            &current,
            &pairs,
            OldOwnerRoleKind::None,
        )
        .unwrap();
        assert_eq!(
            target,
            vec![
                grant(Some("c3"), "carol@x.com", Role::Editor, None),
                grant(Some("b2"), "bob@x.com", Role::Owner, None),
            ]
        );
        assert_eq!(
            batch_target(
                EntityKind::Project,
                &current[1..],
                &pairs,
                OldOwnerRoleKind::None
            ),
            None
        );
    }

    #[test]
    fn an_unchecked_successor_is_named_by_username_only() {
        let current = vec![
            grant(Some("a1"), "alice@x.com", Role::Owner, None),
            grant(Some("b2"), "BOB@x.com", Role::Consumer, None),
        ];
        let bob = UserIdent::unchecked("bob@x.com");
        assert_eq!(bob.known_id(), None);
        // Absent: added without an id. Present: matched by name, keeps the server's id.
        let target = offboard_target(
            EntityKind::Project,
            &current[..1],
            &alice(),
            &bob,
            OldOwnerRoleKind::None,
        );
        assert_eq!(target, vec![grant(None, "bob@x.com", Role::Owner, None)]);
        let target = offboard_target(
            EntityKind::Project,
            &current,
            &alice(),
            &bob,
            OldOwnerRoleKind::None,
        );
        assert_eq!(
            target,
            vec![grant(Some("b2"), "BOB@x.com", Role::Owner, None)]
        );
    }

    #[test]
    fn old_owner_role_parses_every_spelling() {
        for (s, want) in [
            ("none", OldOwnerRoleKind::None),
            ("NO_ROLE", OldOwnerRoleKind::None),
            ("consumer", OldOwnerRoleKind::Consumer),
            ("read_only", OldOwnerRoleKind::Consumer),
            ("User", OldOwnerRoleKind::Editor),
            ("OWNER", OldOwnerRoleKind::Owner),
        ] {
            assert_eq!(s.parse::<OldOwnerRoleKind>().unwrap(), want, "{s}");
        }
        assert_eq!(
            "boss".parse::<OldOwnerRoleKind>().unwrap_err().to_string(),
            r#"unknown old-owner role "boss" (expected NONE, CONSUMER, EDITOR or OWNER)"#
        );
    }

    #[test]
    fn a_leaver_loses_the_roles_they_hold_without_owning_unless_kept() {
        let carol = user("c3", "carol@x.com");
        let dave = user("d4", "dave@x.com");
        let pairs = [
            HandoverPair {
                from: alice(),
                to: bob(),
            },
            HandoverPair {
                from: dave.clone(),
                to: bob(),
            },
        ];
        let owner = |u: &UserIdent| grant(Some(&u.id), &u.username, Role::Owner, None);
        let editor = |u: &UserIdent| grant(Some(&u.id), &u.username, Role::Editor, None);
        let none = OldOwnerRoleKind::None;
        let kind = EntityKind::Project;

        // Someone else's entity: the departing editor goes, the owner stays.
        let theirs = vec![owner(&carol), editor(&alice())];
        assert_eq!(
            leaver_target(kind, &theirs, &pairs, none, false),
            Some(LeaverTarget::RevokeOnly(vec![owner(&carol)]))
        );
        assert_eq!(leaver_target(kind, &theirs, &pairs, none, true), None);
        // A group owner is an owner: the revoke leaves it.
        let group_owned = vec![
            Grant {
                recipient_type: "group".into(),
                ..grant(Some("g1"), "analysts", Role::Owner, None)
            },
            editor(&alice()),
        ];
        assert_eq!(
            leaver_target(kind, &group_owned, &pairs, none, false),
            Some(LeaverTarget::RevokeOnly(group_owned[..1].to_vec()))
        );
        // Nobody departing holds anything: nothing to do.
        assert_eq!(
            leaver_target(kind, &[owner(&carol)], &pairs, none, false),
            None
        );
        // Alice owns it and Dave edits it: Dave goes too, unless kept.
        let shared = vec![owner(&alice()), editor(&dave)];
        let handed = offboard_target(kind, &shared, &alice(), &bob(), none);
        assert_eq!(
            leaver_target(kind, &shared, &pairs, none, true),
            Some(LeaverTarget::Handover(handed.clone()))
        );
        assert_eq!(
            leaver_target(kind, &shared, &pairs, none, false),
            Some(LeaverTarget::Handover(vec![grant(
                Some("b2"),
                "bob@x.com",
                Role::Owner,
                None
            )]))
        );
        // --old-owner-role keeps its meaning on what the leaver owned.
        let kept = leaver_target(kind, &shared, &pairs, OldOwnerRoleKind::Consumer, false);
        assert_eq!(
            kept,
            Some(LeaverTarget::Handover(vec![
                grant(Some("a1"), "alice@x.com", Role::Consumer, None),
                grant(Some("b2"), "bob@x.com", Role::Owner, None),
            ]))
        );
    }
}
