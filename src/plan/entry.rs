//! What one line of a plan says: the header (where the plan came from) and the entries
//! (one entity each).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::model::{EntityKind, Grant};

use super::diff::{RefusalKind, diff, fingerprint, validate, validate_changes};
use super::target::{HandoverPair, OldOwnerRoleKind, UserIdent};
use super::time::rfc3339_utc;
use crate::base::request::{Change, ShareRequest};

/// The `format` of every plan file's header.
pub const FORMAT: &str = "handover-plan";
/// The plan format version this build writes and reads.
pub const VERSION: u32 = 1;

/// Line 1 of a plan file.
///
/// ```json
/// {"format":"handover-plan","version":1,"endpoint":"https://app.datarobot.com/api/v2",
///  "caller":{"id":"5f…","username":"admin@x.com"},"created":"2024-05-01T12:34:56Z",
///  "source":{"mode":"offboard","from":[{"id":"…","username":"alice@x.com"}],
///            "to":{"id":"…","username":"bob@x.com"},"old_owner_role":"NONE",
///            "types":["project","dataset"]},
///  "tool_version":"0.1.0"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanHeader {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written by this build.
    pub version: u32,
    /// The API endpoint the access lists were read from; the executor refuses another.
    pub endpoint: String,
    /// Who read them; shares are sent as this account.
    pub caller: UserIdent,
    /// When the plan was made, RFC 3339 UTC.
    pub created: String,
    /// What the plan was made from.
    pub source: SourceKind,
    /// The id lists that narrowed the plan (`--only-ids`, `--exclude`); absent when none
    /// did, and in plans written before they existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionSource>,
    /// The handover version that wrote the plan.
    pub tool_version: String,
}

impl PlanHeader {
    /// A header for a plan made now by this build.
    pub fn new(endpoint: impl Into<String>, caller: UserIdent, source: SourceKind) -> PlanHeader {
        PlanHeader {
            format: FORMAT.to_string(),
            version: VERSION,
            endpoint: endpoint.into(),
            caller,
            created: rfc3339_utc(SystemTime::now()),
            source,
            selection: None,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// What a plan was made from, tagged by `mode`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum SourceKind {
    /// `handover plan offboard`: everything `from` own, of `types`, goes to `to`.
    Offboard {
        from: Vec<UserIdent>,
        to: UserIdent,
        old_owner_role: OldOwnerRoleKind,
        types: Vec<EntityKind>,
        /// Whether the plan also removes the roles `from` hold on entities they do not own
        /// (the default since it existed; `--keep-other-access` keeps them). Absent when
        /// false, so a plan made with the flag reads like one written before: those kept
        /// other access too.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        revoke_other_access: bool,
    },
    /// `handover plan --map FILE`: several departing users in one pass, each to their own
    /// successor ([`crate::plan::mapfile`]). A mode of its own rather than a field of `offboard`,
    /// so that single-user plans keep exactly the shape they always had.
    ///
    /// ```json
    /// {"mode":"offboard_map","file":"leavers.csv","sha256":"sha256:…",
    ///  "pairs":[{"from":{"id":"…","username":"alice@x.com"},"to":{"id":"…","username":"bob@x.com"}}],
    ///  "old_owner_role":"NONE","types":["project"]}
    /// ```
    OffboardMap {
        /// The map file as given on the command line.
        file: String,
        /// `sha256:<hex>` of its bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        /// Every row of the map, in file order, with the users as resolved.
        pairs: Vec<HandoverPair>,
        old_owner_role: OldOwnerRoleKind,
        types: Vec<EntityKind>,
        /// As in `offboard`, for every departing user of the map.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        revoke_other_access: bool,
    },
    /// `handover plan --orphans --to USER`: every entity of `types` whose every owner is
    /// deactivated goes to `to`. `deactivated` is every account `users/` said was not
    /// active when the plan was made, the owners an orphan can have.
    Orphans {
        to: UserIdent,
        deactivated: Vec<UserIdent>,
        old_owner_role: OldOwnerRoleKind,
        types: Vec<EntityKind>,
    },
    /// `handover plan csv`: a hand-written plan ([`crate::plan::csvplan`]).
    Csv {
        /// The file as given on the command line.
        file: String,
        /// `sha256:<hex>` of its bytes, to tell which version of the file was used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
}

/// The id lists a plan was narrowed with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionSource {
    /// `--only-ids`: only these entities were planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_ids: Option<InputFile>,
    /// `--exclude`: these entities were left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<InputFile>,
}

/// A file a plan was made from: its name as given and a digest of its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    pub file: String,
    /// `sha256:<hex>`.
    pub sha256: String,
}

/// What the executor does with an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Send `request`.
    Change,
    /// Already at target; nothing to send.
    Noop,
    /// Not sent; `reason` says why.
    Refused,
}

impl ActionKind {
    /// `change`, `noop` or `refused`, as in the plan file.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Change => "change",
            ActionKind::Noop => "noop",
            ActionKind::Refused => "refused",
        }
    }
}

/// One entity of a plan: the access list as read, the one wanted, and the request between.
///
/// ```json
/// {"kind":"project","id":"5f…","name":"Churn","action":"change",
///  "fingerprint":"sha256:…","notify_suppressible":true,
///  "request":{"changes":[{"recipient_type":"user","id":"b2","name":"bob@x.com","role":"OWNER"},
///                        {"recipient_type":"user","id":"a1","name":"alice@x.com","role":null}],
///             "notify":false},
///  "current":[{"id":"a1","name":"alice@x.com","role":"OWNER","can_share":true}],
///  "target":[{"id":"b2","name":"bob@x.com","role":"OWNER"}]}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanEntry {
    pub kind: EntityKind,
    pub id: String,
    /// The entity's display name, for people reading the plan.
    pub name: String,
    pub action: ActionKind,
    /// Why the entry is refused; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// [`fingerprint`] of `current`: the executor re-reads the list and skips the entity
    /// as drifted when this no longer matches.
    pub fingerprint: String,
    /// Whether the share can be sent without e-mailing recipients (projects only).
    pub notify_suppressible: bool,
    /// The one request from `current` to `target`; present exactly when `action` is
    /// `change`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<ShareRequest>,
    /// The access list as read when planning.
    pub current: Vec<Grant>,
    /// The access list wanted. For refused entries, what was wanted (or `current`).
    pub target: Vec<Grant>,
    /// An offboarding's revoke-only entry: no departing user owns the entity, and the
    /// request only takes a departing user's role away (`"revoke_only":true`; absent
    /// otherwise, and in plans written before it existed). The plan's table and review CSV
    /// show these apart.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoke_only: bool,
}

impl PlanEntry {
    /// Plans one entity: validates `target`, diffs it against `current`, and records a
    /// change, a noop, or a refusal (no owner, duplicate principal, users only, more
    /// changes than one sharedRoles write carries).
    pub fn build(
        kind: EntityKind,
        id: impl Into<String>,
        name: impl Into<String>,
        current: Vec<Grant>,
        target: Vec<Grant>,
    ) -> PlanEntry {
        let (action, reason, request) = match validate(&target) {
            Err(refusal) => (ActionKind::Refused, Some(refusal.reason()), None),
            Ok(()) => match diff(kind, &current, &target) {
                None => (ActionKind::Noop, None, None),
                Some(req)
                    if kind
                        .max_changes()
                        .is_some_and(|max| req.changes.len() > max) =>
                {
                    let refusal = RefusalKind::TooManyChanges(req.changes.len());
                    (ActionKind::Refused, Some(refusal.reason()), None)
                }
                Some(req) => match validate_changes(kind, &req.changes) {
                    Err(refusal) => (ActionKind::Refused, Some(refusal.reason()), None),
                    Ok(()) => (ActionKind::Change, None, Some(req)),
                },
            },
        };
        PlanEntry {
            kind,
            id: id.into(),
            name: name.into(),
            action,
            reason,
            fingerprint: fingerprint(&current),
            notify_suppressible: kind.suppresses_notification(),
            request,
            current,
            target,
            revoke_only: false,
        }
    }

    /// The same entry, marked revoke-only (see [`PlanEntry::revoke_only`]).
    pub fn as_revoke_only(self) -> PlanEntry {
        PlanEntry {
            revoke_only: true,
            ..self
        }
    }

    /// How many notifications applying this entry makes DataRobot send that nothing on
    /// the wire can stop (contract §12 X5): on a kind that notifies its recipients
    /// ([`EntityKind::notifies_recipients`]), one per user given a role (a grant, or a
    /// new role or `can_share` for someone who had one) by the request. Revokes notify
    /// nobody; neither do groups and organizations. The simulator counts the same thing
    /// in what it receives.
    pub fn notifications(&self) -> u64 {
        if self.action != ActionKind::Change {
            return 0;
        }
        self.request.as_ref().map_or(0, |r| {
            r.changes.iter().filter(|c| self.notifies(c)).count() as u64
        })
    }

    /// Whether sending `change` in this entry's request makes DataRobot notify someone:
    /// a user given a role on a kind that notifies its recipients.
    pub fn notifies(&self, change: &Change) -> bool {
        self.kind.notifies_recipients() && change.role.is_some() && change.recipient_type == "user"
    }

    /// An entry the planner refuses for a reason only the server knows (recipient missing
    /// or inactive, caller may not share, entity not found). Pass `current` again as
    /// `target` when there is nothing better to show.
    pub fn refused(
        kind: EntityKind,
        id: impl Into<String>,
        name: impl Into<String>,
        current: Vec<Grant>,
        target: Vec<Grant>,
        refusal: &RefusalKind,
    ) -> PlanEntry {
        PlanEntry {
            kind,
            id: id.into(),
            name: name.into(),
            action: ActionKind::Refused,
            reason: Some(refusal.reason()),
            fingerprint: fingerprint(&current),
            notify_suppressible: kind.suppresses_notification(),
            request: None,
            current,
            target,
            revoke_only: false,
        }
    }
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
    fn build_sorts_entries_into_the_three_actions() {
        let current = vec![g("alice", Role::Owner)];
        let change = PlanEntry::build(
            EntityKind::Project,
            "p1",
            "Churn",
            current.clone(),
            vec![g("bob", Role::Owner)],
        );
        assert_eq!(change.action, ActionKind::Change);
        assert_eq!(change.request.as_ref().unwrap().changes.len(), 2);
        assert!(change.notify_suppressible);
        assert_eq!(change.fingerprint, fingerprint(&current));

        let noop = PlanEntry::build(
            EntityKind::Dataset,
            "d1",
            "",
            current.clone(),
            current.clone(),
        );
        assert_eq!(
            (noop.action, noop.request, noop.reason),
            (ActionKind::Noop, None, None)
        );
        assert!(!noop.notify_suppressible);

        let refused = PlanEntry::build(EntityKind::Dataset, "d1", "", current, vec![]);
        assert_eq!(refused.action, ActionKind::Refused);
        assert_eq!(refused.reason.as_deref(), Some("target leaves no owner"));
        assert_eq!(refused.request, None);
    }

    #[test]
    fn more_than_100_shared_roles_changes_are_refused_not_split() {
        let current = vec![g("alice", Role::Owner)];
        let mut target = current.clone();
        target.extend((0..100).map(|i| g(&format!("u{i}"), Role::Consumer)));
        let at_cap = PlanEntry::build(
            EntityKind::Dataset,
            "d",
            "",
            current.clone(),
            target.clone(),
        );
        assert_eq!(at_cap.action, ActionKind::Change);
        target.push(g("one-more", Role::Editor));
        let entry = PlanEntry::build(
            EntityKind::Dataset,
            "d",
            "",
            current.clone(),
            target.clone(),
        );
        assert_eq!(entry.action, ActionKind::Refused);
        assert_eq!(
            entry.reason.as_deref(),
            Some("101 changes, more than the 100 one request may carry")
        );
        // accessControl has no documented cap.
        let entry = PlanEntry::build(EntityKind::Project, "p", "", current, target);
        assert_eq!(entry.action, ActionKind::Change);
    }

    #[test]
    fn header_and_source_serialise_snake_case_with_a_mode_tag() {
        let ident = |n: &str| UserIdent {
            id: format!("id-{n}"),
            username: n.into(),
        };
        let mut header = PlanHeader::new(
            "http://127.0.0.1:1/api/v2",
            ident("admin"),
            SourceKind::Offboard {
                from: vec![ident("alice")],
                to: ident("bob"),
                old_owner_role: OldOwnerRoleKind::Editor,
                types: vec![EntityKind::Project, EntityKind::DataSource],
                revoke_other_access: false,
            },
        );
        header.created = "2024-05-01T12:34:56Z".into();
        header.tool_version = "9.9.9".into();
        assert_eq!(
            serde_json::to_string(&header).unwrap(),
            r#"{"format":"handover-plan","version":1,"endpoint":"http://127.0.0.1:1/api/v2","caller":{"id":"id-admin","username":"admin"},"created":"2024-05-01T12:34:56Z","source":{"mode":"offboard","from":[{"id":"id-alice","username":"alice"}],"to":{"id":"id-bob","username":"bob"},"old_owner_role":"EDITOR","types":["project","data_source"]},"tool_version":"9.9.9"}"#
        );
        // A plan written before maps and id lists existed reads as it always did.
        let old = r#"{"format":"handover-plan","version":1,"endpoint":"e","caller":{"id":"i","username":"u"},"created":"c","source":{"mode":"offboard","from":[{"id":"a","username":"a"}],"to":{"id":"b","username":"b"},"old_owner_role":"NONE","types":[]},"tool_version":"0.1.0"}"#;
        let read: PlanHeader = serde_json::from_str(old).unwrap();
        assert_eq!(read.selection, None);
        assert_eq!(serde_json::to_string(&read).unwrap(), old);

        header.source = SourceKind::OffboardMap {
            file: "m.csv".into(),
            sha256: None,
            pairs: vec![HandoverPair {
                from: ident("alice"),
                to: UserIdent::unchecked("bob"),
            }],
            old_owner_role: OldOwnerRoleKind::None,
            types: vec![EntityKind::Project],
            revoke_other_access: true,
        };
        header.selection = Some(SelectionSource {
            only_ids: None,
            exclude: Some(InputFile {
                file: "x.txt".into(),
                sha256: "sha256:00".into(),
            }),
        });
        let text = serde_json::to_string(&header).unwrap();
        assert!(
            text.contains(r#""source":{"mode":"offboard_map","file":"m.csv","pairs":[{"from":{"id":"id-alice","username":"alice"},"to":{"id":"","username":"bob"}}],"old_owner_role":"NONE","types":["project"],"revoke_other_access":true},"selection":{"exclude":{"file":"x.txt","sha256":"sha256:00"}},"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<PlanHeader>(&text).unwrap(), header);

        let csv = SourceKind::Csv {
            file: "p.csv".into(),
            sha256: None,
        };
        assert_eq!(
            serde_json::to_string(&csv).unwrap(),
            r#"{"mode":"csv","file":"p.csv"}"#
        );
    }
}
