//! The tool's vocabulary of the wire: the 13 shareable entity kinds, the three access
//! levels, and, per kind, the facts of DataRobot's sharing API that decide how a request is
//! shaped (which dialect, which body key, which role names, which extras).
//!
//! Everything here is data about the contract in `shared/datarobot-api.md`; it does no I/O.
//! The client (`api`) uses it to build requests and to read answers tolerantly. The
//! simulator does not: it has its own vocabulary written from the same contract
//! (`handover_sim::EntityKind`, …), so that a wrong fact here fails a test instead of
//! being played back; `simulator` converts between the two.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the 13 kinds of entity that DataRobot lets its owner share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Project,
    Dataset,
    DataSource,
    DataStore,
    Calendar,
    Deployment,
    UseCase,
    RegisteredModel,
    CustomModel,
    CustomTask,
    ExecutionEnvironment,
    File,
    UserBlueprint,
}

/// The two sharing protocols of the API (contract §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialectKind {
    /// `accessControl/`: users only, recipients by `username`, revoke with `role: null`.
    AccessControl,
    /// `sharedRoles/`: `{"operation":"updateRoles","roles":[…]}`, revoke with `NO_ROLE`.
    SharedRoles,
}

/// How a kind's list endpoint wraps its items (contract §3, §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeKind {
    /// A bare JSON array (projects).
    BareArray,
    /// `{"data": […]}`, read once, never paginated by clients (data sources and stores).
    DataOnly,
    /// `{"count","next","previous","data","totalCount"}` with an absolute `next`.
    Paginated,
}

/// How a sharedRoles write names a user recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipientKeyKind {
    /// `username` (accessControl, and the non-catalog sharedRoles types).
    Username,
    /// `name` (catalog entities: datasets and files accept `id` or `name`, not `username`).
    Name,
}

/// An access level, in DataRobot's three-level model (contract §6, last table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// Read-only: CONSUMER, READ_ONLY, OBSERVER.
    Consumer,
    /// Read-write: EDITOR, USER, READ_WRITE.
    Editor,
    /// Read-write-administer: OWNER.
    Owner,
}

impl Role {
    /// All levels, lowest first.
    pub const ALL: [Role; 3] = [Role::Consumer, Role::Editor, Role::Owner];

    /// The canonical name used in plans, journals and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "OWNER",
            Role::Editor => "EDITOR",
            Role::Consumer => "CONSUMER",
        }
    }

    /// Reads any role name DataRobot uses on any kind, case-insensitively:
    /// `OWNER`; `EDITOR`, `USER`, `READ_WRITE`; `CONSUMER`, `READ_ONLY`, `OBSERVER`.
    /// Returns `None` for anything else, including the revocations `NO_ROLE` and `NONE`.
    pub fn from_wire(name: &str) -> Option<Role> {
        match name.trim().to_ascii_uppercase().as_str() {
            "OWNER" => Some(Role::Owner),
            "EDITOR" | "USER" | "READ_WRITE" => Some(Role::Editor),
            "CONSUMER" | "READ_ONLY" | "OBSERVER" => Some(Role::Consumer),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a role name on the wire means "revoke": `NO_ROLE` or `NONE` (or JSON null,
/// which callers handle before they get a string).
pub fn is_revoke_name(name: &str) -> bool {
    matches!(
        name.trim().to_ascii_uppercase().as_str(),
        "NO_ROLE" | "NONE"
    )
}

/// Which vocabulary an access-list read uses for roles (contract §10, open question 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleVocabKind {
    /// The kind's own names: `USER` on projects, `EDITOR` on data sources, …
    #[default]
    Specific,
    /// The generic `READ_WRITE` / `READ_ONLY` for every kind.
    Generic,
}

impl EntityKind {
    /// Every kind, in the order plans and reports list them.
    pub const ALL: [EntityKind; 13] = [
        EntityKind::Project,
        EntityKind::Dataset,
        EntityKind::DataSource,
        EntityKind::DataStore,
        EntityKind::Calendar,
        EntityKind::Deployment,
        EntityKind::UseCase,
        EntityKind::RegisteredModel,
        EntityKind::CustomModel,
        EntityKind::CustomTask,
        EntityKind::ExecutionEnvironment,
        EntityKind::File,
        EntityKind::UserBlueprint,
    ];

    /// The snake_case name used in plans, CSV files, journals and `--types`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Project => "project",
            EntityKind::Dataset => "dataset",
            EntityKind::DataSource => "data_source",
            EntityKind::DataStore => "data_store",
            EntityKind::Calendar => "calendar",
            EntityKind::Deployment => "deployment",
            EntityKind::UseCase => "use_case",
            EntityKind::RegisteredModel => "registered_model",
            EntityKind::CustomModel => "custom_model",
            EntityKind::CustomTask => "custom_task",
            EntityKind::ExecutionEnvironment => "execution_environment",
            EntityKind::File => "file",
            EntityKind::UserBlueprint => "user_blueprint",
        }
    }

    /// The collection's path segment under `/api/v2/`, without slashes.
    pub fn collection(self) -> &'static str {
        match self {
            EntityKind::Project => "projects",
            EntityKind::Dataset => "datasets",
            EntityKind::DataSource => "externalDataSources",
            EntityKind::DataStore => "externalDataStores",
            EntityKind::Calendar => "calendars",
            EntityKind::Deployment => "deployments",
            EntityKind::UseCase => "useCases",
            EntityKind::RegisteredModel => "registeredModels",
            EntityKind::CustomModel => "customModels",
            EntityKind::CustomTask => "customTasks",
            EntityKind::ExecutionEnvironment => "executionEnvironments",
            EntityKind::File => "files",
            EntityKind::UserBlueprint => "userBlueprints",
        }
    }

    /// The envelope of the kind's list endpoint. Files have no list of their own and are
    /// listed through `catalogItems/?type=files` (paginated).
    pub fn envelope(self) -> EnvelopeKind {
        match self {
            EntityKind::Project => EnvelopeKind::BareArray,
            EntityKind::DataSource | EntityKind::DataStore => EnvelopeKind::DataOnly,
            _ => EnvelopeKind::Paginated,
        }
    }

    /// The dialect handover uses to read and write this kind's access list: the one the
    /// official Python client uses (contract §6, "client uses" columns).
    pub fn dialect(self) -> DialectKind {
        match self {
            EntityKind::Project
            | EntityKind::DataSource
            | EntityKind::Calendar
            | EntityKind::CustomModel
            | EntityKind::CustomTask
            | EntityKind::ExecutionEnvironment => DialectKind::AccessControl,
            EntityKind::Dataset
            | EntityKind::DataStore
            | EntityKind::Deployment
            | EntityKind::UseCase
            | EntityKind::RegisteredModel
            | EntityKind::File
            | EntityKind::UserBlueprint => DialectKind::SharedRoles,
        }
    }

    /// The access-list path segment: `accessControl` or `sharedRoles`.
    pub fn access_segment(self) -> &'static str {
        match self.dialect() {
            DialectKind::AccessControl => "accessControl",
            DialectKind::SharedRoles => "sharedRoles",
        }
    }

    /// For accessControl writes, the body key that holds the list: `users` for calendars,
    /// `data` for everything else.
    pub fn ac_body_key(self) -> &'static str {
        if self == EntityKind::Calendar {
            "users"
        } else {
            "data"
        }
    }

    /// For sharedRoles writes, how a user recipient is named besides `id`.
    pub fn recipient_key(self) -> RecipientKeyKind {
        match self {
            EntityKind::Dataset | EntityKind::File => RecipientKeyKind::Name,
            _ => RecipientKeyKind::Username,
        }
    }

    /// Whether a share of this kind can be told not to e-mail anyone. Only projects take
    /// `sendNotification`; other kinds have no such switch on the wire.
    pub fn suppresses_notification(self) -> bool {
        self == EntityKind::Project
    }

    /// Whether writes of this kind carry `canShare`: the request schemas of projects
    /// (`UpdateAccessControl`), calendars, use cases (`SharingRoleUpdateData`, contract C10)
    /// and user blueprints have no such field.
    pub fn supports_can_share(self) -> bool {
        !matches!(
            self,
            EntityKind::Project
                | EntityKind::Calendar
                | EntityKind::UseCase
                | EntityKind::UserBlueprint
        )
    }

    /// Whether sharing another entity may grant roles on this one (contract C7): a data
    /// source's share makes its recipients CONSUMER of its data store, a custom model's or
    /// task's shares its training dataset.
    pub fn receives_linked_grants(self) -> bool {
        matches!(self, EntityKind::DataStore | EntityKind::Dataset)
    }

    /// Whether sharing this entity may grant roles on another one (contract C7): a data
    /// source's share makes its recipients CONSUMER of its data store, a custom model's or
    /// task's shares its training data. The other side of [`Self::receives_linked_grants`].
    pub fn grants_linked_access(self) -> bool {
        matches!(
            self,
            EntityKind::DataSource | EntityKind::CustomModel | EntityKind::CustomTask
        )
    }

    /// The most changes one share request of this kind may carry, where a schema states
    /// one: 100 for every sharedRoles write (contract R10) and for the accessControl writes
    /// of custom models and tasks (C8).
    pub fn max_changes(self) -> Option<usize> {
        match (self, self.dialect()) {
            (_, DialectKind::SharedRoles)
            | (EntityKind::CustomModel | EntityKind::CustomTask, _) => Some(100),
            _ => None,
        }
    }

    /// The role name handover writes for `role` on this kind: the kind's own vocabulary,
    /// which every source agrees the endpoint accepts.
    pub fn wire_role(self, role: Role) -> &'static str {
        match (self, role) {
            (_, Role::Owner) => "OWNER",
            (
                EntityKind::Project
                | EntityKind::Deployment
                | EntityKind::RegisteredModel
                | EntityKind::CustomModel
                | EntityKind::CustomTask
                | EntityKind::ExecutionEnvironment,
                Role::Editor,
            ) => "USER",
            (EntityKind::Calendar, Role::Editor) => "READ_WRITE",
            (EntityKind::Calendar, Role::Consumer) => "READ_ONLY",
            (_, Role::Editor) => "EDITOR",
            (_, Role::Consumer) => "CONSUMER",
        }
    }

    /// The role name a read of this kind returns in the given vocabulary.
    pub fn read_role(self, role: Role, vocab: RoleVocabKind) -> &'static str {
        match (vocab, role) {
            (_, Role::Owner) => "OWNER",
            (RoleVocabKind::Generic, Role::Editor) => "READ_WRITE",
            (RoleVocabKind::Generic, Role::Consumer) => "READ_ONLY",
            (RoleVocabKind::Specific, r) => self.wire_role(r),
        }
    }

    /// A human label for tables: "projects", "data stores", …
    pub fn plural_label(self) -> &'static str {
        match self {
            EntityKind::Project => "projects",
            EntityKind::Dataset => "datasets",
            EntityKind::DataSource => "data sources",
            EntityKind::DataStore => "data stores",
            EntityKind::Calendar => "calendars",
            EntityKind::Deployment => "deployments",
            EntityKind::UseCase => "use cases",
            EntityKind::RegisteredModel => "registered models",
            EntityKind::CustomModel => "custom models",
            EntityKind::CustomTask => "custom tasks",
            EntityKind::ExecutionEnvironment => "execution environments",
            EntityKind::File => "files",
            EntityKind::UserBlueprint => "user blueprints",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name that is not one of the 13.
#[derive(Debug, thiserror::Error)]
#[error("unknown entity type {0:?} (expected one of: {list})", list = kind_names())]
pub struct UnknownKindError(pub String);

fn kind_names() -> String {
    EntityKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for EntityKind {
    type Err = UnknownKindError;

    /// Accepts the snake_case name, its plural, and the API collection name, any case, with
    /// `-` or `_` or spaces: `data_source`, `data-sources`, `externalDataSources`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        for kind in EntityKind::ALL {
            let name: String = kind.as_str().chars().filter(|c| *c != '_').collect();
            let coll = kind.collection().to_ascii_lowercase();
            if norm == name || norm == format!("{name}s") || norm == coll {
                return Ok(kind);
            }
        }
        let alias = match norm.as_str() {
            "calendarfile" | "calendarfiles" => Some(EntityKind::Calendar),
            "externaldatasource" => Some(EntityKind::DataSource),
            "externaldatastore" => Some(EntityKind::DataStore),
            "environment" | "environments" | "executionenvironments" => {
                Some(EntityKind::ExecutionEnvironment)
            }
            "blueprint" | "blueprints" => Some(EntityKind::UserBlueprint),
            _ => None,
        };
        alias.ok_or_else(|| UnknownKindError(s.to_string()))
    }
}

/// A principal's entry in an access list, normalised: who, at what level, and whether they
/// may share further. `None` for `can_share` means the server did not say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `user`, `group`, `organization` or `externalApplication`.
    #[serde(default = "user_type", skip_serializing_if = "is_user_type")]
    pub recipient_type: String,
    /// The principal's id, when the server gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The username (users) or display name (groups, organizations).
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_share: Option<bool>,
}

fn user_type() -> String {
    "user".to_string()
}

fn is_user_type(s: &str) -> bool {
    s == "user"
}

impl Grant {
    /// Whether this entry is a user (as opposed to a group or an organization).
    pub fn is_user(&self) -> bool {
        self.recipient_type == "user"
    }
}

/// An access-list entry handover could not read: a role name no vocabulary has, or a user
/// entry that names nobody. It is never written (a share names only the principals it
/// changes, so this one keeps its access exactly), but it may hide a principal a plan
/// touches, so an entity with one that may be such a principal is refused, not guessed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableEntry {
    /// `shareRecipientType`, when the entry gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_type: Option<String>,
    /// The principal's id, when the entry gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The username or display name, when the entry gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The role as sent, when it was a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// What could not be read, e.g. `unknown role "ADMIN"`.
    pub reason: String,
}

impl UnreadableEntry {
    /// Whether this entry may be `who`'s: it is a user's entry (or says nothing of its
    /// type) and names `who` by id or by name, or names nobody at all. A group's or an
    /// organization's entry is never a user's.
    pub fn may_be(&self, who: &Grant) -> bool {
        if self
            .recipient_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case(&who.recipient_type))
        {
            return false;
        }
        match (&self.id, &self.name, &who.id) {
            (Some(a), _, Some(b)) => a.eq_ignore_ascii_case(b),
            (_, Some(n), _) => n.eq_ignore_ascii_case(&who.name),
            // Nothing to tell them apart by: it may be anyone.
            _ => true,
        }
    }
}

impl fmt::Display for UnreadableEntry {
    /// `group "Analysts" (id 6a…): unknown role "ADMIN"`, as much of it as the entry gave.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.recipient_type.as_deref().unwrap_or("entry"))?;
        if let Some(n) = &self.name {
            write!(f, " {n:?}")?;
        }
        if let Some(id) = &self.id {
            write!(f, " (id {id})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// One entity's access list as read: the entries handover understands, and those it
/// could not read (see [`UnreadableEntry`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessList {
    /// Every readable entry with a role, in the server's order.
    pub grants: Vec<Grant>,
    /// Entries that could not be read.
    pub unreadable: Vec<UnreadableEntry>,
}

impl AccessList {
    /// The first unreadable entry that may belong to one of `principals`: a reason not to
    /// act on this list for them.
    pub fn hides<'a>(
        &self,
        principals: impl IntoIterator<Item = &'a Grant>,
    ) -> Option<&UnreadableEntry> {
        let principals: Vec<&Grant> = principals.into_iter().collect();
        self.unreadable
            .iter()
            .find(|u| principals.iter().any(|p| u.may_be(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_names() {
        for kind in EntityKind::ALL {
            assert_eq!(kind.as_str().parse::<EntityKind>().unwrap(), kind);
            assert_eq!(kind.collection().parse::<EntityKind>().unwrap(), kind);
            assert_eq!(
                kind.as_str()
                    .replace('_', "-")
                    .to_uppercase()
                    .parse::<EntityKind>()
                    .unwrap(),
                kind
            );
        }
        assert!("widget".parse::<EntityKind>().is_err());
    }

    #[test]
    fn role_aliases_map_to_three_levels() {
        for (name, role) in [
            ("owner", Role::Owner),
            ("USER", Role::Editor),
            ("read_write", Role::Editor),
            ("EDITOR", Role::Editor),
            ("CONSUMER", Role::Consumer),
            ("READ_ONLY", Role::Consumer),
            ("Observer", Role::Consumer),
        ] {
            assert_eq!(Role::from_wire(name), Some(role), "{name}");
        }
        assert_eq!(Role::from_wire("NO_ROLE"), None);
        assert!(is_revoke_name("no_role"));
        assert!(!is_revoke_name("OWNER"));
    }

    #[test]
    fn written_roles_read_back_as_the_same_level() {
        for kind in EntityKind::ALL {
            for role in Role::ALL {
                assert_eq!(Role::from_wire(kind.wire_role(role)), Some(role));
                for vocab in [RoleVocabKind::Specific, RoleVocabKind::Generic] {
                    assert_eq!(Role::from_wire(kind.read_role(role, vocab)), Some(role));
                }
            }
        }
    }
}
