//! The simulator's own vocabulary: the 13 shareable entity kinds, the three access levels,
//! the role names each kind speaks, and which access-list endpoints each kind serves.
//!
//! Written from the wire contract (`shared/datarobot-api.md`), not taken from the tool: the
//! simulator is the tool's test oracle, so a wrong fact in the tool's model must not pass
//! silently because the simulator read the same wrong fact. The facts coincide with the
//! tool's where both are right; the tool converts between the two at its edge
//! (`handover::simulator`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of the 13 kinds of entity that DataRobot lets its owner share (contract §4, §6).
///
/// The snake_case names are the simulator's seed and `/__sim/state` format. The order is
/// the order of [`EntityKind::ALL`]: state tables are indexed by it.
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

/// The two sharing protocols (contract §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialectKind {
    /// `accessControl/` (§5.1): users only, by `username`, revoke with `role: null`.
    AccessControl,
    /// `sharedRoles/` (§5.2): `{"operation":"updateRoles","roles":[…]}`, revoke `NO_ROLE`.
    SharedRoles,
}

impl DialectKind {
    /// The access-list path segment: `accessControl` or `sharedRoles`.
    pub fn segment(self) -> &'static str {
        match self {
            DialectKind::AccessControl => "accessControl",
            DialectKind::SharedRoles => "sharedRoles",
        }
    }
}

/// How a kind's list endpoint wraps its items (contract §3, §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeKind {
    /// A bare JSON array: `GET projects/`.
    BareArray,
    /// `{"data": […]}` with no `next`: `externalDataSources/`, `externalDataStores/` (C2).
    DataOnly,
    /// `{"count","next","previous","data","totalCount"}` with an absolute `next`.
    Paginated,
}

/// An access level in DataRobot's three-level model (contract §6, last table).
///
/// Ordered lowest first: the role ceiling (R5) compares levels.
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

    /// The level a role name of any kind's vocabulary means, case-insensitively: the
    /// Python client's `SHARING_ROLE` names (§6, "Python enums") and the legacy `OBSERVER`
    /// (§6 deployments, C9). `None` for anything else, the revocations included.
    pub fn from_wire(name: &str) -> Option<Role> {
        match name.trim().to_ascii_uppercase().as_str() {
            "OWNER" => Some(Role::Owner),
            "EDITOR" | "USER" | "READ_WRITE" => Some(Role::Editor),
            "CONSUMER" | "READ_ONLY" | "OBSERVER" => Some(Role::Consumer),
            _ => None,
        }
    }

    /// The upper-case name, as seeds and the state snapshot write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "OWNER",
            Role::Editor => "EDITOR",
            Role::Consumer => "CONSUMER",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a role string means "revoke": sharedRoles' `NO_ROLE` (R8), or `NONE`. JSON null,
/// accessControl's revoke, is handled before a string is read.
pub fn is_revoke_name(name: &str) -> bool {
    matches!(
        name.trim().to_ascii_uppercase().as_str(),
        "NO_ROLE" | "NONE"
    )
}

/// Which role names access-list reads and list items use (contract §10, open question 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleVocabKind {
    /// Each kind's own names: `USER` on projects, `EDITOR` on data sources, …
    #[default]
    Specific,
    /// The generic `READ_WRITE` / `READ_ONLY` for every kind.
    Generic,
}

impl EntityKind {
    /// Every kind; state tables and snapshots keep this order.
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

    /// The snake_case name of seeds, snapshots and stats keys.
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

    /// The collection's path segment under `/api/v2/` (§4, §6). Files have no list of their
    /// own (`catalogItems/?type=files`) and no `GET files/{id}/` (C5), but their access
    /// lists live under `files/`.
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

    /// The kind of a collection path segment.
    pub fn from_collection(collection: &str) -> Option<EntityKind> {
        EntityKind::ALL
            .into_iter()
            .find(|k| k.collection() == collection)
    }

    /// The envelope of the kind's list (§3 "Endpoints that are not paginated", §4, C2).
    pub fn envelope(self) -> EnvelopeKind {
        match self {
            EntityKind::Project => EnvelopeKind::BareArray,
            EntityKind::DataSource | EntityKind::DataStore => EnvelopeKind::DataOnly,
            _ => EnvelopeKind::Paginated,
        }
    }

    /// The dialect DataRobot's Python client reads and writes this kind's access list with
    /// (§6, "client uses" columns): the one every kind serves.
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

    /// Whether the kind serves a dialect's access list (reads and writes): the client's
    /// dialect, plus the other one where §6's "Also in spec" column has it (datasets' AC,
    /// data sources' SR, data stores' deprecated AC).
    pub fn serves(self, dialect: DialectKind) -> bool {
        self.dialect() == dialect
            || matches!(
                (self, dialect),
                (EntityKind::Dataset, DialectKind::AccessControl)
                    | (EntityKind::DataSource, DialectKind::SharedRoles)
                    | (EntityKind::DataStore, DialectKind::AccessControl)
            )
    }

    /// The key of an accessControl write's list: `users` for calendars, `data` for the
    /// rest (§5.1).
    pub fn ac_body_key(self) -> &'static str {
        match self {
            EntityKind::Calendar => "users",
            _ => "data",
        }
    }

    /// The kind's own name for a level (§6, "Roles accepted → returned"): calendars speak
    /// `READ_WRITE`/`READ_ONLY`; projects, deployments and registered models (PY enum,
    /// C9) and the custom kinds (whose validators name `USER`, C9) `USER`/`CONSUMER`;
    /// the rest `EDITOR`/`CONSUMER`.
    pub fn wire_role(self, role: Role) -> &'static str {
        match (self, role) {
            (_, Role::Owner) => "OWNER",
            (EntityKind::Calendar, Role::Editor) => "READ_WRITE",
            (EntityKind::Calendar, Role::Consumer) => "READ_ONLY",
            (
                EntityKind::Project
                | EntityKind::Deployment
                | EntityKind::RegisteredModel
                | EntityKind::CustomModel
                | EntityKind::CustomTask
                | EntityKind::ExecutionEnvironment,
                Role::Editor,
            ) => "USER",
            (_, Role::Editor) => "EDITOR",
            (_, Role::Consumer) => "CONSUMER",
        }
    }

    /// The name a read of this kind returns for a level in the given vocabulary.
    pub fn read_role(self, role: Role, vocab: RoleVocabKind) -> &'static str {
        match (vocab, role) {
            (_, Role::Owner) => "OWNER",
            (RoleVocabKind::Generic, Role::Editor) => "READ_WRITE",
            (RoleVocabKind::Generic, Role::Consumer) => "READ_ONLY",
            (RoleVocabKind::Specific, r) => self.wire_role(r),
        }
    }

    /// A human label for error messages: "projects", "data stores", …
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_serves_its_client_dialect_and_its_collection_names_it() {
        for kind in EntityKind::ALL {
            assert!(kind.serves(kind.dialect()), "{kind}");
            assert_eq!(EntityKind::from_collection(kind.collection()), Some(kind));
        }
    }

    #[test]
    fn every_name_a_kind_speaks_reads_back_as_its_level() {
        for kind in EntityKind::ALL {
            for role in Role::ALL {
                for vocab in [RoleVocabKind::Specific, RoleVocabKind::Generic] {
                    assert_eq!(Role::from_wire(kind.read_role(role, vocab)), Some(role));
                }
            }
        }
        assert!(is_revoke_name("no_role"));
        assert_eq!(Role::from_wire("NO_ROLE"), None);
    }
}
