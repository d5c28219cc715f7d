//! Comparing access lists: who is the same principal, what must change, whether a target
//! may be written at all, and the fingerprint that detects drift between plan and run.

use sha2::{Digest, Sha256};

use crate::model::{DialectKind, EntityKind, Grant, Role};

use crate::base::request::{Change, ShareRequest};

/// Most changes one sharedRoles write takes (contract §7 R10).
pub const MAX_SHARED_ROLES_CHANGES: usize = 100;

/// Why an entity is not changed. The planner records the reason text in the entry.
///
/// [`validate`] decides `NoOwner`, `DuplicatePrincipal` and `UsersOnly`; `TooManyChanges`
/// comes from [`PlanEntry::build`](super::PlanEntry::build); the rest the impure planner
/// decides with what the server said.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefusalKind {
    /// The target has no OWNER; the server would refuse the whole write (R1).
    #[error("target leaves no owner")]
    NoOwner,
    /// The target names one principal twice (R2).
    #[error("duplicate principal {0:?} in target")]
    DuplicatePrincipal(String),
    /// An accessControl kind was given a group or organization.
    #[error("{kind} access lists take users only, not {recipient_type} {name:?}")]
    UsersOnly {
        kind: EntityKind,
        recipient_type: String,
        name: String,
    },
    /// More changes than one write may carry; splitting would break atomicity (R10).
    #[error("{0} changes, more than the {max} one request may carry", max = MAX_SHARED_ROLES_CHANGES)]
    TooManyChanges(usize),
    /// No such user (R3).
    #[error("recipient {0:?} not found")]
    RecipientNotFound(String),
    /// The user exists but is deactivated (R4).
    #[error("recipient {0:?} is not active")]
    RecipientInactive(String),
    /// The caller can read the entity but may not share it (R5–R7).
    #[error("caller may not share this entity")]
    CallerCannotShare,
    /// The entity does not exist or the caller cannot see it.
    #[error("entity not found or not visible to the caller")]
    EntityNotFound,
    /// Anything else, in the caller's words.
    #[error("{0}")]
    Other(String),
}

impl RefusalKind {
    /// The text recorded as the entry's `reason`.
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

/// Whether two entries name the same principal: same recipient type, then the same id
/// when both have one, else the same name; all case-insensitively.
pub fn same_principal(a: &Grant, b: &Grant) -> bool {
    if !a.recipient_type.eq_ignore_ascii_case(&b.recipient_type) {
        return false;
    }
    match (&a.id, &b.id) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => a.name.to_lowercase() == b.name.to_lowercase(),
    }
}

/// Whether `current` already gives what `target` asks. `can_share` counts only where the
/// kind carries it and both sides state it: `None` in a target means "whatever the server
/// has", and some reads (deployments, user blueprints) never report it, so insisting
/// would plan a change that can never be seen to converge.
fn satisfies(kind: EntityKind, current: &Grant, target: &Grant) -> bool {
    current.role == target.role
        && (!kind.supports_can_share()
            || match (current.can_share, target.can_share) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            })
}

/// Checks that `changes` may be sent on `kind`: accessControl writes name users only. A
/// group or organization already on an accessControl list (contract C6) is fine as long
/// as nothing changes it.
pub fn validate_changes(kind: EntityKind, changes: &[Change]) -> Result<(), RefusalKind> {
    match changes
        .iter()
        .find(|c| !c.recipient_type.eq_ignore_ascii_case("user"))
    {
        Some(c) if kind.dialect() == DialectKind::AccessControl => Err(RefusalKind::UsersOnly {
            kind,
            recipient_type: c.recipient_type.clone(),
            name: c.name.clone(),
        }),
        _ => Ok(()),
    }
}

/// Checks that `target` may be written: at least one OWNER (R1), no principal twice (R2).
pub fn validate(target: &[Grant]) -> Result<(), RefusalKind> {
    for (i, a) in target.iter().enumerate() {
        if target[i + 1..].iter().any(|b| same_principal(a, b)) {
            return Err(RefusalKind::DuplicatePrincipal(a.name.clone()));
        }
    }
    if !target.iter().any(|g| g.role == Role::Owner) {
        return Err(RefusalKind::NoOwner);
    }
    Ok(())
}

/// The one request that takes `current` to `target`, or `None` when nothing differs.
///
/// It lists every principal whose role (or stated `can_share`) differs: grants first, in
/// target order, then revokes (`role: None`) for principals absent from the target, in
/// current order. Grants come first so that a server applying entries in order never
/// sees the entity without an owner. `notify` is `false`.
///
/// It does not check the target; call [`validate`] first, or use
/// [`PlanEntry::build`](super::PlanEntry::build), which does both.
pub fn diff(kind: EntityKind, current: &[Grant], target: &[Grant]) -> Option<ShareRequest> {
    let mut changes = Vec::new();
    for want in target {
        match current.iter().find(|have| same_principal(have, want)) {
            Some(have) if satisfies(kind, have, want) => {}
            Some(have) => {
                let mut change = Change::grant(kind, want);
                if change.id.is_none() {
                    change.id = have.id.clone();
                }
                changes.push(change);
            }
            None => changes.push(Change::grant(kind, want)),
        }
    }
    for have in current {
        if !target.iter().any(|want| same_principal(have, want)) {
            changes.push(Change::revoke(have));
        }
    }
    (!changes.is_empty()).then_some(ShareRequest {
        changes,
        notify: false,
    })
}

/// Whether `current` is already at `target`, compared canonically: order and the case of
/// names do not matter, `can_share` as in [`diff`].
pub fn is_noop(kind: EntityKind, current: &[Grant], target: &[Grant]) -> bool {
    diff(kind, current, target).is_none()
}

/// `sha256:<hex>` over a canonical form of an access list, so the executor can tell whether
/// the list changed since it was planned. Each entry becomes the JSON array
/// `[recipient_type, id-or-name, role, can_share]` (type and id-or-name lowercased,
/// `can_share` `null` when unknown); the arrays are sorted and joined with `\n`. Order
/// and the case of names do not change it; any role or `can_share` change does.
pub fn fingerprint(current: &[Grant]) -> String {
    let mut lines: Vec<String> = current
        .iter()
        .map(|g| {
            let key = g.id.as_deref().unwrap_or(&g.name).to_lowercase();
            serde_json::json!([
                g.recipient_type.to_lowercase(),
                key,
                g.role.as_str(),
                g.can_share
            ])
            .to_string()
        })
        .collect();
    lines.sort();
    let mut hasher = Sha256::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            hasher.update(b"\n");
        }
        hasher.update(line.as_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(id: Option<&str>, name: &str, role: Role, can_share: Option<bool>) -> Grant {
        Grant {
            recipient_type: "user".to_string(),
            id: id.map(str::to_string),
            name: name.to_string(),
            role,
            can_share,
        }
    }

    #[test]
    fn transfer_is_one_request_with_grant_before_revoke() {
        let current = vec![
            g(Some("a1"), "alice", Role::Owner, Some(true)),
            g(Some("c3"), "carol", Role::Consumer, None),
        ];
        let target = vec![
            g(Some("c3"), "carol", Role::Consumer, None),
            g(Some("b2"), "bob", Role::Owner, Some(true)),
        ];
        let req = diff(EntityKind::Dataset, &current, &target).unwrap();
        assert!(!req.notify);
        assert_eq!(
            req.changes,
            vec![
                Change {
                    recipient_type: "user".into(),
                    id: Some("b2".into()),
                    name: "bob".into(),
                    role: Some(Role::Owner),
                    can_share: Some(true),
                },
                Change {
                    recipient_type: "user".into(),
                    id: Some("a1".into()),
                    name: "alice".into(),
                    role: None,
                    can_share: None,
                },
            ]
        );
        assert_eq!(req.revokes(), 1);
    }

    #[test]
    fn unchanged_principals_are_not_listed() {
        let current = vec![
            g(None, "alice", Role::Owner, Some(true)),
            g(None, "carol", Role::Editor, Some(false)),
        ];
        let mut target = current.clone();
        target[0].role = Role::Editor;
        target.push(g(None, "bob", Role::Owner, None));
        let req = diff(EntityKind::UseCase, &current, &target).unwrap();
        let names: Vec<_> = req.changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
    }

    #[test]
    fn demotion_keeps_the_id_the_server_gave() {
        let current = vec![g(Some("a1"), "alice", Role::Owner, None)];
        let target = vec![g(None, "ALICE", Role::Editor, None)];
        let req = diff(EntityKind::Deployment, &current, &target).unwrap();
        assert_eq!(req.changes[0].id.as_deref(), Some("a1"));
        assert_eq!(req.changes[0].name, "ALICE");
    }

    #[test]
    fn can_share_difference_is_a_change_only_where_the_kind_carries_it() {
        let current = vec![g(None, "alice", Role::Owner, Some(false))];
        let target = vec![g(None, "alice", Role::Owner, Some(true))];
        assert!(diff(EntityKind::Dataset, &current, &target).is_some());
        assert!(diff(EntityKind::Project, &current, &target).is_none());
        // Unknown on either side is not a difference.
        let unknown = vec![g(None, "alice", Role::Owner, None)];
        assert!(is_noop(EntityKind::Dataset, &unknown, &target));
        assert!(is_noop(EntityKind::Dataset, &current, &unknown));
    }

    #[test]
    fn can_share_is_never_sent_for_kinds_without_it() {
        let current = vec![g(None, "alice", Role::Owner, None)];
        let target = vec![
            g(None, "alice", Role::Owner, None),
            g(None, "bob", Role::Editor, Some(true)),
        ];
        let req = diff(EntityKind::Calendar, &current, &target).unwrap();
        assert_eq!(req.changes[0].can_share, None);
    }

    #[test]
    fn noop_ignores_order_and_case() {
        let current = vec![
            g(None, "Alice@X.com", Role::Owner, Some(true)),
            g(None, "bob@x.com", Role::Consumer, None),
        ];
        let target = vec![
            g(None, "BOB@X.COM", Role::Consumer, None),
            g(None, "alice@x.com", Role::Owner, Some(true)),
        ];
        assert!(is_noop(EntityKind::Dataset, &current, &target));
        assert!(!is_noop(EntityKind::Dataset, &current, &target[..1]));
    }

    #[test]
    fn validate_refuses_a_target_without_owner() {
        let target = vec![g(None, "alice", Role::Editor, None)];
        assert_eq!(validate(&target), Err(RefusalKind::NoOwner));
        assert_eq!(validate(&[]), Err(RefusalKind::NoOwner));
        assert_eq!(RefusalKind::NoOwner.reason(), "target leaves no owner");
    }

    #[test]
    fn validate_refuses_duplicates_by_id_or_name() {
        let by_name = vec![
            g(None, "alice", Role::Owner, None),
            g(None, "ALICE", Role::Editor, None),
        ];
        assert_eq!(
            validate(&by_name),
            Err(RefusalKind::DuplicatePrincipal("alice".into()))
        );
        let by_id = vec![
            g(Some("a1"), "alice", Role::Owner, None),
            g(Some("a1"), "alias", Role::Editor, None),
        ];
        assert!(validate(&by_id).is_err());
        let distinct = vec![
            g(Some("a1"), "alice", Role::Owner, None),
            g(Some("a2"), "alice", Role::Editor, None),
        ];
        assert_eq!(validate(&distinct), Ok(()));
    }

    #[test]
    fn access_control_kinds_change_users_only_and_keep_their_groups() {
        let mut group = g(None, "team", Role::Editor, None);
        group.recipient_type = "group".into();
        let alice = g(None, "alice", Role::Owner, None);
        let target = vec![alice.clone(), group.clone()];
        // A group already on the list is kept as it is.
        assert_eq!(validate(&target), Ok(()));
        let current = vec![alice];
        let request = diff(EntityKind::Project, &current, &target).unwrap();
        assert_eq!(
            validate_changes(EntityKind::Project, &request.changes)
                .unwrap_err()
                .reason(),
            r#"project access lists take users only, not group "team""#
        );
        assert_eq!(
            validate_changes(EntityKind::UseCase, &request.changes),
            Ok(())
        );
    }

    #[test]
    fn refusal_reasons_read_well() {
        assert_eq!(
            RefusalKind::RecipientNotFound("bob".into()).reason(),
            r#"recipient "bob" not found"#
        );
        assert_eq!(
            RefusalKind::RecipientInactive("bob".into()).reason(),
            r#"recipient "bob" is not active"#
        );
        assert_eq!(
            RefusalKind::CallerCannotShare.reason(),
            "caller may not share this entity"
        );
        assert_eq!(
            RefusalKind::EntityNotFound.reason(),
            "entity not found or not visible to the caller"
        );
        assert_eq!(
            RefusalKind::TooManyChanges(101).reason(),
            "101 changes, more than the 100 one request may carry"
        );
        assert_eq!(RefusalKind::Other("locked".into()).reason(), "locked");
    }

    #[test]
    fn fingerprint_is_canonical_but_sees_every_change() {
        let a = vec![
            g(Some("A1"), "alice", Role::Owner, Some(true)),
            g(None, "Bob", Role::Consumer, None),
        ];
        let b = vec![
            g(None, "bob", Role::Consumer, None),
            g(Some("a1"), "ALICE", Role::Owner, Some(true)),
        ];
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert!(fingerprint(&a).starts_with("sha256:"));
        assert_eq!(fingerprint(&a).len(), "sha256:".len() + 64);

        let mut c = a.clone();
        c[1].role = Role::Editor;
        assert_ne!(fingerprint(&a), fingerprint(&c));
        let mut d = a.clone();
        d[0].can_share = None;
        assert_ne!(fingerprint(&a), fingerprint(&d));
        let mut e = a.clone();
        e[1].recipient_type = "group".into();
        assert_ne!(fingerprint(&a), fingerprint(&e));
        assert_ne!(fingerprint(&a), fingerprint(&a[..1]));
        // Pinned: the executor compares against fingerprints in plans written earlier.
        assert_eq!(
            fingerprint(&[]),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // The canonical lines are `["user","a1","OWNER",true]` and `["user","bob","CONSUMER",null]`.
        assert_eq!(
            fingerprint(&a),
            "sha256:65f37073c65a54721e6f8e781ef5f673fffff7877d46845269cc819fab8afdf5"
        );
    }
}
