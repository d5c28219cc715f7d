//! The two sharing dialects on the wire (contract §5): building the one PATCH body that
//! carries every change for an entity, and reading access-list items into [`Grant`]s.
//!
//! * accessControl: `{"data"|"users": [{"username", "role": <name>|null, "canShare"?}],
//!   "sendNotification"?}`; users only; revoke is `"role": null` (the key is kept).
//! * sharedRoles: `{"operation": "updateRoles", "roles": [{"shareRecipientType", "role":
//!   <name>|"NO_ROLE", "id" | "username" | "name", "canShare"?}]}`; 1–100 entries.
//!
//! Which kind speaks which, and the per-kind details (body key, recipient key, role names,
//! `canShare`, `sendNotification`) come from [`EntityKind`]'s wire facts in `model`.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::base::request::{Change, ShareRequest};
use crate::model::{
    AccessList, DialectKind, EntityKind, Grant, NotificationKind, RecipientKeyKind, Role,
    UnreadableEntry, WriteSemanticsKind, is_revoke_name,
};

use super::entities::{User, str_field};

/// The most entries one sharedRoles PATCH may carry (contract R10).
pub const SR_MAX_ROLES: usize = 100;

/// A change that gives `user` the level `role`.
pub fn grant_to(user: &User, role: Role, can_share: Option<bool>) -> Change {
    Change {
        recipient_type: "user".to_string(),
        id: Some(user.id.clone()),
        name: user.username.clone(),
        role: Some(role),
        can_share,
    }
}

/// A change that takes all access from `user`.
pub fn revoke_from(user: &User) -> Change {
    Change {
        recipient_type: "user".to_string(),
        id: Some(user.id.clone()),
        name: user.username.clone(),
        role: None,
        can_share: None,
    }
}

fn is_user(c: &Change) -> bool {
    c.recipient_type.eq_ignore_ascii_case("user")
}

/// What makes two changes "the same recipient" (contract R2).
fn identity(c: &Change) -> (String, String) {
    let key = match &c.id {
        Some(id) if !id.is_empty() => format!("id:{id}"),
        _ => format!("name:{}", c.name.to_lowercase()),
    };
    (c.recipient_type.to_ascii_lowercase(), key)
}

/// Why a share request cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShareBodyError {
    /// No changes at all.
    #[error("a share request needs at least one change")]
    Empty,
    /// More sharedRoles entries than the server takes in one request.
    #[error("{count} changes in one sharedRoles request; the limit is {SR_MAX_ROLES}")]
    TooMany { count: usize },
    /// accessControl kinds share with users only.
    #[error("{kind} shares only with users, not with {recipient_type} {name:?}")]
    NotAUser {
        kind: EntityKind,
        recipient_type: String,
        name: String,
    },
    /// A change that names nobody.
    #[error("change {index} names no recipient")]
    NoRecipient { index: usize },
    /// A group or organisation without an id.
    #[error("{recipient_type} {name:?} needs an id")]
    NoId {
        recipient_type: String,
        name: String,
    },
    /// The same recipient twice (the server refuses the whole request, contract R2).
    #[error("{name:?} appears more than once in one request")]
    Duplicate { name: String },
    /// A kind whose access list cannot be written (model packages, notebooks).
    #[error("{kind} access lists are read, never written")]
    ReadOnly { kind: EntityKind },
    /// A replace-semantics kind, whose write must carry the whole list as read
    /// ([`share_body_on`]).
    #[error("a {kind} write replaces the whole access list: it is built from the list as read")]
    NeedsLiveList { kind: EntityKind },
    /// A replace-semantics list that cannot be sent back whole.
    #[error("the access list cannot be sent back whole: {reason}")]
    NotWhole { reason: String },
}

/// The request that takes an entity of `kind` from `live` to where `req` says, as the
/// wire needs it. On set-semantics kinds that is `req` itself. On replace-semantics kinds
/// (workloads, artifacts, artifact repositories: contract §12.1) a write's list becomes the
/// whole access list, so the request carries every entry read (users, groups,
/// organizations, roles, external applications) at its current level unless `req`
/// changes it, then `req`'s changes for principals not in the list (revokes as `NO_ROLE`,
/// which removes under either reading). Sent to a server that sets instead, it changes
/// exactly what `req` changes. A list with an entry handover could not read, or that would
/// exceed the kind's limit, cannot be re-sent whole: refused with the reason.
pub fn wire_request(
    kind: EntityKind,
    req: &ShareRequest,
    live: &AccessList,
) -> Result<ShareRequest, ShareBodyError> {
    if kind.semantics() == WriteSemanticsKind::Set {
        return Ok(req.clone());
    }
    let restated = restatable(live, req)?;
    let mut used = vec![false; req.changes.len()];
    let mut changes = Vec::with_capacity(live.grants.len() + req.changes.len());
    for g in &live.grants {
        let found = req.changes.iter().position(|c| same_recipient(c, g));
        match found {
            Some(i) => {
                used[i] = true;
                changes.push(req.changes[i].clone());
            }
            None => changes.push(Change::grant(kind, g)),
        }
    }
    changes.extend(
        req.changes
            .iter()
            .zip(&used)
            .filter(|(_, used)| !**used)
            .map(|(c, _)| c.clone()),
    );
    let max = kind.max_changes().unwrap_or(SR_MAX_ROLES);
    if changes.len() + restated.len() > max {
        return Err(ShareBodyError::NotWhole {
            reason: format!(
                "it would hold {} entries and one write takes at most {max}",
                changes.len() + restated.len()
            ),
        });
    }
    Ok(ShareRequest {
        changes,
        notify: req.notify,
    })
}

/// The entries of `live` handover could not read that a replacing write can still send
/// back exactly as read: each names its recipient type, its id and a role that is not a
/// revocation (a role no vocabulary here has, such as the Workload API's `ADMIN`), and
/// none may be a principal `req` changes. Such an entry is never the plan's to change, so
/// restating it verbatim keeps its access under either reading of the write. Any other
/// unreadable entry makes the list impossible to send back whole: the entity is refused.
fn restatable<'a>(
    live: &'a AccessList,
    req: &ShareRequest,
) -> Result<Vec<&'a UnreadableEntry>, ShareBodyError> {
    let touched: Vec<Grant> = req
        .changes
        .iter()
        .map(|c| Grant {
            recipient_type: c.recipient_type.clone(),
            id: c.id.clone(),
            name: c.name.clone(),
            role: Role::Consumer,
            can_share: None,
        })
        .collect();
    live.unreadable
        .iter()
        .map(|u| {
            let whole = u.recipient_type.as_deref().is_some_and(|t| !t.is_empty())
                && u.id.as_deref().is_some_and(|i| !i.is_empty())
                && u.role
                    .as_deref()
                    .is_some_and(|r| !r.is_empty() && !is_revoke_name(r));
            if whole && !touched.iter().any(|p| u.may_be(p)) {
                Ok(u)
            } else {
                Err(ShareBodyError::NotWhole {
                    reason: format!("cannot read the entry {u}"),
                })
            }
        })
        .collect()
}

/// Whether change `c` names the principal of `g`: same recipient type, and the same id
/// when both have one, else the same name (case-insensitively).
fn same_recipient(c: &Change, g: &Grant) -> bool {
    if !c.recipient_type.eq_ignore_ascii_case(&g.recipient_type) {
        return false;
    }
    match (c.id.as_deref(), g.id.as_deref()) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => a == b,
        _ => c.name.eq_ignore_ascii_case(&g.name),
    }
}

/// The one PATCH body for `req` on an entity of `kind` whose access list is `live` (as
/// just read): [`wire_request`] on the wire ([`share_body`]'s shape).
pub fn share_body_on(
    kind: EntityKind,
    req: &ShareRequest,
    live: &AccessList,
) -> Result<Value, ShareBodyError> {
    let whole = wire_request(kind, req, live)?;
    let mut body = body_of(kind, &whole)?;
    if kind.semantics() == WriteSemanticsKind::Replace
        && let Some(roles) = body.get_mut("roles").and_then(Value::as_array_mut)
    {
        // An entry the plan does not change is restated in the server's own words.
        for (entry, change) in roles.iter_mut().zip(&whole.changes) {
            let untouched = !req.changes.iter().any(|c| same_change(c, change));
            let read = live
                .grants
                .iter()
                .find(|g| same_recipient(change, g))
                .and_then(|g| live.role_names.get(&AccessList::key(g)));
            if let (true, Some(name)) = (untouched, read)
                && change.role.is_some()
                && Role::from_wire(name) == change.role
            {
                entry["role"] = Value::String(name.clone());
            }
        }
        // Entries handover cannot read but can restate, exactly as the server gave them.
        for u in restatable(live, req)? {
            roles.push(serde_json::json!({
                "role": u.role,
                "shareRecipientType": u.recipient_type,
                "id": u.id,
            }));
        }
    }
    Ok(body)
}

/// Whether two changes name the same recipient.
fn same_change(a: &Change, b: &Change) -> bool {
    identity(a) == identity(b)
}

/// The one PATCH body for `req` on an entity of `kind`, in the kind's dialect, naming only
/// the principals `req` changes. [`Client::share`](super::Client::share) sends exactly this.
/// A replace-semantics kind's body needs the list it replaces: [`share_body_on`].
pub fn share_body(kind: EntityKind, req: &ShareRequest) -> Result<Value, ShareBodyError> {
    if kind.semantics() == WriteSemanticsKind::Replace {
        return Err(ShareBodyError::NeedsLiveList { kind });
    }
    body_of(kind, req)
}

/// The body of `req` as it stands (every change, and only those).
fn body_of(kind: EntityKind, req: &ShareRequest) -> Result<Value, ShareBodyError> {
    if !kind.is_writable() {
        return Err(ShareBodyError::ReadOnly { kind });
    }
    if req.changes.is_empty() {
        return Err(ShareBodyError::Empty);
    }
    let mut seen = HashSet::new();
    for (index, c) in req.changes.iter().enumerate() {
        if c.name.trim().is_empty() && c.id.as_deref().is_none_or(str::is_empty) {
            return Err(ShareBodyError::NoRecipient { index });
        }
        if !seen.insert(identity(c)) {
            return Err(ShareBodyError::Duplicate {
                name: if c.name.is_empty() {
                    c.id.clone().unwrap_or_default()
                } else {
                    c.name.clone()
                },
            });
        }
    }
    match kind.dialect() {
        DialectKind::AccessControl => access_control_body(kind, req),
        DialectKind::SharedRoles => shared_roles_body(kind, req),
    }
}

fn access_control_body(kind: EntityKind, req: &ShareRequest) -> Result<Value, ShareBodyError> {
    let mut entries = Vec::with_capacity(req.changes.len());
    for (index, c) in req.changes.iter().enumerate() {
        if !is_user(c) {
            return Err(ShareBodyError::NotAUser {
                kind,
                recipient_type: c.recipient_type.clone(),
                name: c.name.clone(),
            });
        }
        if c.name.trim().is_empty() {
            // accessControl names users only by username.
            return Err(ShareBodyError::NoRecipient { index });
        }
        let mut e = Map::new();
        e.insert("username".into(), Value::String(c.name.clone()));
        e.insert(
            "role".into(),
            c.role.map_or(Value::Null, |r| {
                Value::String(kind.wire_role(r).to_string())
            }),
        );
        if let (Some(_), Some(can_share), true) = (c.role, c.can_share, kind.supports_can_share()) {
            e.insert("canShare".into(), Value::Bool(can_share));
        }
        entries.push(Value::Object(e));
    }
    let mut body = Map::new();
    body.insert(kind.ac_body_key().into(), Value::Array(entries));
    if kind.notification() == NotificationKind::SendNotificationProject {
        body.insert("sendNotification".into(), Value::Bool(req.notify));
    }
    Ok(Value::Object(body))
}

fn shared_roles_body(kind: EntityKind, req: &ShareRequest) -> Result<Value, ShareBodyError> {
    if req.changes.len() > SR_MAX_ROLES {
        return Err(ShareBodyError::TooMany {
            count: req.changes.len(),
        });
    }
    let mut roles = Vec::with_capacity(req.changes.len());
    for c in &req.changes {
        let mut e = Map::new();
        e.insert(
            "shareRecipientType".into(),
            Value::String(c.recipient_type.clone()),
        );
        e.insert(
            "role".into(),
            Value::String(c.role.map_or("NO_ROLE", |r| kind.wire_role(r)).to_string()),
        );
        match &c.id {
            Some(id) if !id.is_empty() => {
                e.insert("id".into(), Value::String(id.clone()));
            }
            _ if !is_user(c) => {
                return Err(ShareBodyError::NoId {
                    recipient_type: c.recipient_type.clone(),
                    name: c.name.clone(),
                });
            }
            _ => {
                let key = match kind.recipient_key() {
                    RecipientKeyKind::Username => "username",
                    RecipientKeyKind::Name => "name",
                };
                e.insert(key.into(), Value::String(c.name.clone()));
            }
        }
        if let (Some(_), Some(can_share), true) = (c.role, c.can_share, kind.supports_can_share()) {
            e.insert("canShare".into(), Value::Bool(can_share));
        }
        roles.push(Value::Object(e));
    }
    let mut body = json!({"operation": "updateRoles", "roles": roles});
    if kind.notification() == NotificationKind::SendNotificationApplication {
        body["sendNotification"] = Value::Bool(req.notify);
    }
    Ok(body)
}

/// Why a list item could not be read.
#[derive(Debug)]
pub(crate) struct ItemProblem {
    pub field: String,
    pub reason: String,
}

/// A boolean field; anything but a boolean counts as not stated.
fn bool_field(item: &Value, key: &str) -> Option<bool> {
    item.get(key).and_then(Value::as_bool)
}

/// What an access-list item holds before its role is read.
struct Entry {
    recipient_type: Option<String>,
    id: Option<String>,
    name: Option<String>,
}

impl Entry {
    fn unreadable(self, role: Option<String>, reason: impl Into<String>) -> UnreadableEntry {
        UnreadableEntry {
            recipient_type: self.recipient_type,
            id: self.id,
            name: self.name,
            role,
            reason: reason.into(),
        }
    }

    /// The entry as a grant of `role`, or why it cannot be one.
    fn read(self, item: &Value) -> Result<Option<Grant>, UnreadableEntry> {
        let role = match item.get("role") {
            None => return Err(self.unreadable(None, "no role")),
            Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if is_revoke_name(s) || s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) => match Role::from_wire(s) {
                Some(role) => role,
                None => {
                    let reason = format!("unknown role {s:?}");
                    return Err(self.unreadable(Some(s.clone()), reason));
                }
            },
            Some(other) => return Err(self.unreadable(None, format!("role is {other}"))),
        };
        let recipient_type = self.recipient_type.clone().unwrap_or_else(|| "user".into());
        let Some(name) = self.name.clone().or_else(|| self.id.clone()) else {
            return Err(self.unreadable(Some(role.to_string()), "names no principal"));
        };
        Ok(Some(Grant {
            recipient_type,
            id: self.id,
            name,
            role,
            can_share: bool_field(item, "canShare"),
        }))
    }
}

/// An accessControl item: `{"username", "userId"?, "role", "canShare"?, …}` for a user;
/// a group's or an organization's as sharedRoles writes them (`shareRecipientType`, `id`,
/// `name`, contract C6). `Ok(None)` when the entry carries no role; `Err` when it cannot
/// be read (a user entry without a username, a role no vocabulary has).
pub(crate) fn grant_from_ac(item: &Value) -> Result<Option<Grant>, UnreadableEntry> {
    let Some(obj) = item.as_object() else {
        return Err(not_an_object(item));
    };
    let recipient_type = str_field(item, "shareRecipientType").filter(|t| !t.is_empty());
    let is_user = recipient_type
        .as_deref()
        .is_none_or(|t| t.eq_ignore_ascii_case("user"));
    let id = str_field(item, "userId")
        .or_else(|| str_field(item, "id"))
        .filter(|s| !s.is_empty());
    let username = str_field(item, "username").filter(|s| !s.is_empty());
    let entry = Entry {
        recipient_type,
        id,
        name: if is_user {
            username.clone()
        } else {
            str_field(item, "name").filter(|s| !s.is_empty())
        },
    };
    if is_user && username.is_none() {
        // accessControl names users by username only: without one the entry may be
        // anyone's.
        let role = obj.get("role").and_then(Value::as_str).map(str::to_string);
        return Err(entry.unreadable(role, "a user entry without a username"));
    }
    entry.read(item)
}

/// A sharedRoles item: `{"shareRecipientType", "id", "name", "role", "canShare"?, …}`.
/// `Ok(None)` when the entry carries no role; `Err` when it cannot be read.
pub(crate) fn grant_from_sr(item: &Value) -> Result<Option<Grant>, UnreadableEntry> {
    if !item.is_object() {
        return Err(not_an_object(item));
    }
    Entry {
        recipient_type: str_field(item, "shareRecipientType").filter(|t| !t.is_empty()),
        id: str_field(item, "id").filter(|s| !s.is_empty()),
        name: str_field(item, "name")
            .or_else(|| str_field(item, "username"))
            .filter(|s| !s.is_empty()),
    }
    .read(item)
}

fn not_an_object(item: &Value) -> UnreadableEntry {
    let mut text = item.to_string();
    if text.len() > 80 {
        let cut = (0..=80)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    UnreadableEntry {
        recipient_type: None,
        id: None,
        name: None,
        role: None,
        reason: format!("not an object: {text}"),
    }
}

/// Whether an access-list entry is `user`.
pub(crate) fn grant_is(grant: &Grant, user: &User) -> bool {
    grant.is_user()
        && (grant.id.as_deref() == Some(user.id.as_str())
            || grant.name.eq_ignore_ascii_case(&user.username))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: &str) -> User {
        User {
            id: id.into(),
            username: name.into(),
            full_name: None,
            active: Some(true),
        }
    }

    /// The transfer the tool exists for: new owner in, old owner out, one request.
    fn transfer() -> ShareRequest {
        ShareRequest {
            changes: vec![
                grant_to(
                    &user("u-new", "successor@acme.test"),
                    Role::Owner,
                    Some(true),
                ),
                revoke_from(&user("u-old", "departing@acme.test")),
                grant_to(&user("u-3", "third@acme.test"), Role::Editor, Some(false)),
                grant_to(&user("u-4", "fourth@acme.test"), Role::Consumer, None),
            ],
            notify: false,
        }
    }

    fn golden(kind: EntityKind) -> Value {
        use EntityKind::*;
        let editor = kind.wire_role(Role::Editor);
        let consumer = kind.wire_role(Role::Consumer);
        match kind {
            Project => json!({
                "data": [
                    {"username": "successor@acme.test", "role": "OWNER"},
                    {"username": "departing@acme.test", "role": null},
                    {"username": "third@acme.test", "role": "USER"},
                    {"username": "fourth@acme.test", "role": "CONSUMER"}
                ],
                "sendNotification": false
            }),
            Calendar => json!({
                "users": [
                    {"username": "successor@acme.test", "role": "OWNER"},
                    {"username": "departing@acme.test", "role": null},
                    {"username": "third@acme.test", "role": "READ_WRITE"},
                    {"username": "fourth@acme.test", "role": "READ_ONLY"}
                ]
            }),
            DataSource | CustomModel | CustomTask | ExecutionEnvironment => json!({
                "data": [
                    {"username": "successor@acme.test", "role": "OWNER", "canShare": true},
                    {"username": "departing@acme.test", "role": null},
                    {"username": "third@acme.test", "role": editor, "canShare": false},
                    {"username": "fourth@acme.test", "role": consumer}
                ]
            }),
            // No-code applications: no canShare, and the e-mail switch off (§12.1 X1).
            Application => json!({
                "operation": "updateRoles",
                "roles": [
                    {"shareRecipientType": "user", "role": "OWNER", "id": "u-new"},
                    {"shareRecipientType": "user", "role": "NO_ROLE", "id": "u-old"},
                    {"shareRecipientType": "user", "role": "EDITOR", "id": "u-3"},
                    {"shareRecipientType": "user", "role": "CONSUMER", "id": "u-4"}
                ],
                "sendNotification": false
            }),
            // Neither schema has canShare (contract C10 for use cases; §12.1 for the rest).
            UserBlueprint
            | UseCase
            | CustomApplication
            | CustomApplicationSource
            | CustomJob
            | SecureConfig
            | NotificationChannelTemplate
            | NotificationPolicyTemplate
            | ComplianceDocTemplate
            | ValueTracker
            | Workload
            | Artifact
            | ArtifactRepository
            | ModelPackage
            | Notebook => json!({
                "operation": "updateRoles",
                "roles": [
                    {"shareRecipientType": "user", "role": "OWNER", "id": "u-new"},
                    {"shareRecipientType": "user", "role": "NO_ROLE", "id": "u-old"},
                    {"shareRecipientType": "user", "role": "EDITOR", "id": "u-3"},
                    {"shareRecipientType": "user", "role": "CONSUMER", "id": "u-4"}
                ]
            }),
            Dataset | DataStore | Deployment | RegisteredModel | File => json!({
                "operation": "updateRoles",
                "roles": [
                    {"shareRecipientType": "user", "role": "OWNER", "id": "u-new", "canShare": true},
                    {"shareRecipientType": "user", "role": "NO_ROLE", "id": "u-old"},
                    {"shareRecipientType": "user", "role": editor, "id": "u-3", "canShare": false},
                    {"shareRecipientType": "user", "role": consumer, "id": "u-4"}
                ]
            }),
        }
    }

    #[test]
    fn golden_bodies_for_every_writable_kind() {
        for kind in EntityKind::WRITABLE {
            // Nothing read besides: a replace-semantics body is the changes alone.
            let nothing = AccessList::default();
            assert_eq!(
                share_body_on(kind, &transfer(), &nothing).unwrap(),
                golden(kind),
                "{kind}"
            );
        }
        // The role names that differ per kind, spelled out.
        assert_eq!(
            share_body(EntityKind::Deployment, &transfer()).unwrap()["roles"][2]["role"],
            "USER"
        );
        assert_eq!(
            share_body(EntityKind::Dataset, &transfer()).unwrap()["roles"][2]["role"],
            "EDITOR"
        );
        assert_eq!(
            share_body(EntityKind::CustomTask, &transfer()).unwrap()["data"][2]["role"],
            "USER"
        );
        assert_eq!(
            share_body(EntityKind::DataSource, &transfer()).unwrap()["data"][2]["role"],
            "EDITOR"
        );
    }

    #[test]
    fn notification_only_on_projects_and_applications_and_follows_the_request() {
        let mut req = transfer();
        req.notify = true;
        assert_eq!(
            share_body(EntityKind::Project, &req).unwrap()["sendNotification"],
            true
        );
        assert_eq!(
            share_body(EntityKind::Application, &req).unwrap()["sendNotification"],
            true
        );
        for kind in EntityKind::WRITABLE
            .into_iter()
            .filter(|k| !matches!(k, EntityKind::Project | EntityKind::Application))
        {
            assert!(
                share_body_on(kind, &req, &AccessList::default())
                    .unwrap()
                    .get("sendNotification")
                    .is_none()
            );
        }
    }

    #[test]
    fn shared_roles_without_an_id_name_users_per_kind() {
        let req = ShareRequest {
            changes: vec![Change {
                recipient_type: "user".into(),
                id: None,
                name: "successor@acme.test".into(),
                role: Some(Role::Owner),
                can_share: None,
            }],
            notify: false,
        };
        assert_eq!(
            share_body(EntityKind::Deployment, &req).unwrap(),
            json!({"operation":"updateRoles","roles":[
                {"shareRecipientType":"user","role":"OWNER","username":"successor@acme.test"}]})
        );
        for kind in [EntityKind::Dataset, EntityKind::File] {
            assert_eq!(
                share_body(kind, &req).unwrap(),
                json!({"operation":"updateRoles","roles":[
                    {"shareRecipientType":"user","role":"OWNER","name":"successor@acme.test"}]})
            );
        }
    }

    #[test]
    fn groups_go_by_id_in_shared_roles_and_are_refused_in_access_control() {
        let group = Change {
            recipient_type: "group".into(),
            id: Some("g1".into()),
            name: "Data Science".into(),
            role: Some(Role::Consumer),
            can_share: None,
        };
        let req = ShareRequest {
            changes: vec![group.clone()],
            notify: false,
        };
        assert_eq!(
            share_body(EntityKind::UseCase, &req).unwrap()["roles"][0],
            json!({"shareRecipientType":"group","role":"CONSUMER","id":"g1"})
        );
        assert!(matches!(
            share_body(EntityKind::Project, &req),
            Err(ShareBodyError::NotAUser { .. })
        ));
        let no_id = ShareRequest {
            changes: vec![Change { id: None, ..group }],
            notify: false,
        };
        assert!(matches!(
            share_body(EntityKind::UseCase, &no_id),
            Err(ShareBodyError::NoId { .. })
        ));
    }

    #[test]
    fn invalid_requests_are_refused_before_sending() {
        let empty = ShareRequest {
            changes: vec![],
            notify: false,
        };
        assert_eq!(
            share_body(EntityKind::Project, &empty),
            Err(ShareBodyError::Empty)
        );
        let u = user("u1", "A@acme.test");
        let dup = ShareRequest {
            changes: vec![
                grant_to(&u, Role::Owner, None),
                revoke_from(&user("u1", "a@acme.test")),
            ],
            notify: false,
        };
        assert!(matches!(
            share_body(EntityKind::Deployment, &dup),
            Err(ShareBodyError::Duplicate { .. })
        ));
        let many = ShareRequest {
            changes: (0..101)
                .map(|i| {
                    grant_to(
                        &user(&format!("u{i}"), &format!("{i}@x")),
                        Role::Consumer,
                        None,
                    )
                })
                .collect(),
            notify: false,
        };
        assert_eq!(
            share_body(EntityKind::Deployment, &many),
            Err(ShareBodyError::TooMany { count: 101 })
        );
        // accessControl has no such limit.
        assert!(share_body(EntityKind::CustomModel, &many).is_ok());
    }

    #[test]
    fn access_list_items_in_both_vocabularies_and_with_missing_or_extra_keys() {
        let ac =
            json!({"username":"a@x","userId":"u1","role":"READ_WRITE","canShare":false,"newKey":1});
        assert_eq!(
            grant_from_ac(&ac).unwrap(),
            Some(Grant {
                recipient_type: "user".into(),
                id: Some("u1".into()),
                name: "a@x".into(),
                role: Role::Editor,
                can_share: Some(false)
            })
        );
        let bare = json!({"username":"b@x","role":"USER"});
        let g = grant_from_ac(&bare).unwrap().unwrap();
        assert_eq!((g.id, g.role, g.can_share), (None, Role::Editor, None));
        let sr = json!({"shareRecipientType":"organization","id":"o1","name":"Acme","role":"READ_ONLY","userFullName":"x"});
        let g = grant_from_sr(&sr).unwrap().unwrap();
        assert_eq!(
            (g.recipient_type.as_str(), g.role),
            ("organization", Role::Consumer)
        );
        assert_eq!(
            grant_from_sr(&json!({"id":"u","name":"n","role":"NO_ROLE"})).unwrap(),
            None
        );
        assert_eq!(
            grant_from_sr(&json!({"id":"u","name":"n","role":null})).unwrap(),
            None
        );
        let bad = grant_from_sr(&json!({"id":"u","name":"n","role":"ADMIN"})).unwrap_err();
        assert_eq!(bad.role.as_deref(), Some("ADMIN"));
        assert_eq!(bad.to_string(), r#"entry "n" (id u): unknown role "ADMIN""#);
        let missing = grant_from_ac(&json!({"role":"OWNER"})).unwrap_err();
        assert_eq!(missing.reason, "a user entry without a username");
    }

    #[test]
    fn groups_and_organizations_read_in_both_dialects() {
        let group =
            json!({"shareRecipientType":"group","id":"g1","name":"Analysts","role":"CONSUMER"});
        for read in [grant_from_ac, grant_from_sr] {
            let g = read(&group).unwrap().unwrap();
            assert_eq!(
                (
                    g.recipient_type.as_str(),
                    g.id.as_deref(),
                    g.name.as_str(),
                    g.role
                ),
                ("group", Some("g1"), "Analysts", Role::Consumer)
            );
        }
        let odd =
            json!({"shareRecipientType":"organization","id":"o1","name":"Acme","role":"ADMIN"});
        let u = grant_from_sr(&odd).unwrap_err();
        assert_eq!(u.recipient_type.as_deref(), Some("organization"));
        // A group's entry is never a user's, whatever its name.
        let someone = Grant {
            recipient_type: "user".into(),
            id: Some("o1".into()),
            name: "Acme".into(),
            role: Role::Owner,
            can_share: None,
        };
        assert!(!u.may_be(&someone));
        // A user entry with no name may be anyone's.
        let anon = grant_from_ac(&json!({"role":"OWNER","canShare":true})).unwrap_err();
        assert!(anon.may_be(&someone));
        assert!(grant_from_sr(&json!(["x"])).is_err());
    }

    fn entry(kind: &str, id: &str, name: &str, role: Role) -> Grant {
        Grant {
            recipient_type: kind.into(),
            id: Some(id.into()),
            name: name.into(),
            role,
            can_share: None,
        }
    }

    /// A workload's list as read: the departing owner, a colleague, a group, an
    /// organization, an RBAC role and an external application.
    fn workload_list() -> AccessList {
        AccessList {
            role_names: Default::default(),
            grants: vec![
                entry("user", "u-old", "departing@acme.test", Role::Owner),
                entry("user", "u-5", "colleague@acme.test", Role::Editor),
                entry("group", "g-1", "Analysts", Role::Consumer),
                entry("organization", "o-1", "Acme", Role::Consumer),
                entry("role", "r-1", "Data Scientists", Role::Editor),
                entry("externalApplication", "x-1", "Slack", Role::Consumer),
            ],
            unreadable: Vec::new(),
        }
    }

    fn handover() -> ShareRequest {
        ShareRequest {
            changes: vec![
                grant_to(&user("u-new", "successor@acme.test"), Role::Owner, None),
                revoke_from(&user("u-old", "departing@acme.test")),
            ],
            notify: false,
        }
    }

    #[test]
    fn replace_semantics_bodies_carry_every_entry_read_with_the_changes_applied() {
        for kind in [
            EntityKind::Workload,
            EntityKind::Artifact,
            EntityKind::ArtifactRepository,
        ] {
            let body = share_body_on(kind, &handover(), &workload_list()).unwrap();
            assert_eq!(
                body,
                json!({
                    "operation": "updateRoles",
                    "roles": [
                        {"shareRecipientType": "user", "role": "NO_ROLE", "id": "u-old"},
                        {"shareRecipientType": "user", "role": "EDITOR", "id": "u-5"},
                        {"shareRecipientType": "group", "role": "CONSUMER", "id": "g-1"},
                        {"shareRecipientType": "organization", "role": "CONSUMER", "id": "o-1"},
                        {"shareRecipientType": "role", "role": "EDITOR", "id": "r-1"},
                        {"shareRecipientType": "externalApplication", "role": "CONSUMER", "id": "x-1"},
                        {"shareRecipientType": "user", "role": "OWNER", "id": "u-new"}
                    ]
                }),
                "{kind}"
            );
            // The changes alone are refused for these kinds: under replace semantics they
            // would drop the colleague, the group, the organization and the role.
            assert_eq!(
                share_body(kind, &handover()),
                Err(ShareBodyError::NeedsLiveList { kind })
            );
        }
        // Set semantics: the list read changes nothing in the body.
        assert_eq!(
            share_body_on(EntityKind::SecureConfig, &handover(), &workload_list()).unwrap(),
            share_body(EntityKind::SecureConfig, &handover()).unwrap()
        );
    }

    #[test]
    fn an_untouched_entry_is_restated_in_the_servers_own_role_name() {
        let mut list = workload_list();
        list.role_names
            .insert("role:r-1".into(), "DATA_SCIENTIST".into());
        list.role_names
            .insert("group:g-1".into(), "OBSERVER".into());
        // A name that is not the entry's level is not used.
        list.role_names.insert("user:u-5".into(), "CONSUMER".into());
        let body = share_body_on(EntityKind::Workload, &handover(), &list).unwrap();
        let role_of = |id: &str| {
            body["roles"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["id"] == id)
                .unwrap()["role"]
                .clone()
        };
        assert_eq!(role_of("r-1"), "DATA_SCIENTIST");
        assert_eq!(role_of("g-1"), "OBSERVER");
        assert_eq!(role_of("u-5"), "EDITOR");
        assert_eq!(role_of("u-old"), "NO_ROLE");
        assert_eq!(role_of("u-new"), "OWNER");
    }

    #[test]
    fn a_replace_semantics_list_that_cannot_be_sent_whole_is_refused() {
        let kind = EntityKind::Workload;
        let mut list = workload_list();
        list.unreadable.push(UnreadableEntry {
            recipient_type: Some("group".into()),
            id: Some("g-9".into()),
            name: None,
            role: Some("ADMIN".into()),
            reason: "unknown role \"ADMIN\"".into(),
        });
        // A group entry with a role no vocabulary here has, named by type and id: sent
        // back exactly as read, so the replacing write keeps it.
        let body = share_body_on(kind, &handover(), &list).unwrap();
        let restated: Vec<&Value> = body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["id"] == "g-9")
            .collect();
        assert_eq!(
            restated,
            [&json!({"role": "ADMIN", "shareRecipientType": "group", "id": "g-9"})]
        );
        // One that names no id cannot be restated, and one that may be a principal the
        // request changes cannot be known to be kept: the list cannot be sent whole.
        for unsendable in [
            UnreadableEntry {
                recipient_type: Some("group".into()),
                id: None,
                name: Some("Admins".into()),
                role: Some("ADMIN".into()),
                reason: "unknown role \"ADMIN\"".into(),
            },
            UnreadableEntry {
                recipient_type: Some("user".into()),
                id: None,
                name: None,
                role: Some("ADMIN".into()),
                reason: "names nobody".into(),
            },
        ] {
            let mut list = workload_list();
            list.unreadable.push(unsendable);
            let err = share_body_on(kind, &handover(), &list).unwrap_err();
            assert!(matches!(err, ShareBodyError::NotWhole { .. }), "{err}");
            assert!(
                err.to_string().contains("ADMIN") || err.to_string().contains("nobody"),
                "{err}"
            );
        }

        let mut long = workload_list();
        for i in 0..94 {
            long.grants.push(entry(
                "user",
                &format!("u-x{i}"),
                &format!("x{i}@a"),
                Role::Consumer,
            ));
        }
        // 101 principals once the successor is added.
        let err = share_body_on(kind, &handover(), &long).unwrap_err();
        assert!(err.to_string().contains("101 entries"), "{err}");
        long.grants.pop();
        assert!(share_body_on(kind, &handover(), &long).is_ok());
    }

    #[test]
    fn read_only_kinds_are_never_written() {
        for kind in EntityKind::READ_ONLY {
            assert_eq!(
                share_body_on(kind, &handover(), &AccessList::default()),
                Err(ShareBodyError::ReadOnly { kind })
            );
        }
    }

    #[test]
    fn workload_api_bodies_carry_no_field_its_schema_lacks() {
        let mut req = transfer();
        req.notify = true;
        for kind in [
            EntityKind::Workload,
            EntityKind::Artifact,
            EntityKind::ArtifactRepository,
        ] {
            let body = share_body_on(kind, &req, &workload_list()).unwrap();
            let top: Vec<&String> = body.as_object().unwrap().keys().collect();
            assert_eq!(top, ["operation", "roles"], "{kind}");
            for e in body["roles"].as_array().unwrap() {
                for key in e.as_object().unwrap().keys() {
                    assert!(
                        ["shareRecipientType", "role", "id", "username"].contains(&key.as_str()),
                        "{kind}: {key}"
                    );
                }
            }
        }
    }
}
