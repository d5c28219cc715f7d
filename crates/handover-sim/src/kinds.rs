//! The simulator's own vocabulary: the 27 kinds of entity with an access list (13 the
//! Python client shares, 12 more writable ones and 2 read-only ones, contract §12), the
//! three access levels, and each kind's wire facts as one row of a table ([`FACTS`]): routes,
//! envelope, dialect, role names, write semantics, notification, recipient types, paging.
//!
//! Written from the wire contract (`shared/datarobot-api.md`), not taken from the tool: the
//! simulator is the tool's test oracle, so a wrong fact in the tool's model must not pass
//! silently because the simulator read the same wrong fact. The facts coincide with the
//! tool's where both are right; the tool converts between the two at its edge
//! (`handover::simulator`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A kind of entity with an access list: the 13 the Python client shares (contract §4, §6),
/// the 12 more of §12.1 and the 2 read-only ones of §12.2. Each kind's wire facts are one
/// row of [`FACTS`].
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
    Application,
    CustomApplication,
    CustomApplicationSource,
    CustomJob,
    SecureConfig,
    NotificationChannelTemplate,
    NotificationPolicyTemplate,
    ComplianceDocTemplate,
    ValueTracker,
    Workload,
    Artifact,
    ArtifactRepository,
    ModelPackage,
    Notebook,
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

    /// The level a name of the Workload API's role enum means (contract §12.1 X10):
    /// `DATA_SCIENTIST` reads as an editor and `ADMIN` as an owner [INF]; any other name
    /// as [`Role::from_wire`]. `None` for names outside the enum.
    pub fn from_workload_wire(name: &str) -> Option<Role> {
        match name.trim().to_ascii_uppercase().as_str() {
            "DATA_SCIENTIST" => Some(Role::Editor),
            "ADMIN" => Some(Role::Owner),
            _ => Role::from_wire(name),
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

/// Which API a kind's routes belong to (contract §12.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiFamily {
    /// The classic `/api/v2/` routes: paths end in `/`, bodies are read leniently, an
    /// updateRoles PATCH sets the roles it names.
    Classic,
    /// The Workload API (X10–X12): paths without a trailing slash, `additionalProperties:
    /// false` request bodies, a PATCH that replaces the whole list, `role` recipients.
    Workload,
}

/// What a share of a kind notifies (contract §5.1, §12.1 X1 and X5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyKind {
    /// Nothing the simulator counts.
    Never,
    /// A grant notifies unless the body says `sendNotification: false` (projects, X1).
    UnlessTold,
    /// Every user entry with a role notifies, and nothing turns it off (X5).
    Always,
}

/// Every wire fact the simulator keeps about one kind: one row of [`FACTS`].
#[derive(Clone, Copy, Debug)]
pub struct KindFacts {
    /// The snake_case name of seeds, snapshots and stats keys.
    pub name: &'static str,
    /// The collection's path segment under `/api/v2/` (§4, §6, §12).
    pub collection: &'static str,
    /// A human label for messages: "projects", "data stores", …
    pub label: &'static str,
    /// How the list wraps its items (§3, §4, C2).
    pub envelope: EnvelopeKind,
    /// The dialect the kind's access list is read (and written) in (§6 "client uses").
    pub dialect: DialectKind,
    /// The other dialect, where §6's "Also in spec" column has it.
    pub also: Option<DialectKind>,
    /// Classic routes or the Workload API (§12.1).
    pub family: ApiFamily,
    /// Whether the access list can be written at all (§12.2: not model packages, notebooks).
    pub writable: bool,
    /// The kind's own name for the editor level (§6, §12.1).
    pub editor: &'static str,
    /// The kind's own name for the consumer level (§6, §12.1).
    pub consumer: &'static str,
    /// The key of an accessControl write's list (§5.1: `users` for calendars).
    pub ac_body_key: &'static str,
    /// Non-user recipient type its reads carry besides groups and organizations (§12.1:
    /// `externalApplication` on X2–X9, `role` on X10–X12).
    pub extra_recipient: Option<&'static str>,
    /// Default and largest `limit` of its list, where the contract gives them (§3, C3, §12).
    pub page: Option<(usize, usize)>,
    /// Whether a PATCH replaces the whole list by default (§12.1 X10–X12).
    pub replace_by_default: bool,
    /// What a share notifies.
    pub notify: NotifyKind,
    /// The sharedRoles role enum is closed: the generic names are never read (§5.2).
    pub closed_roles: bool,
    /// The path holds one more segment before the id: `{relatedEntityType}` (X7).
    pub related_segment: bool,
    /// There is a `GET {collection}/{id}/` (C5: files have none).
    pub get_one: bool,
    /// The entity whose access list a read-only kind shows, named by the seed's `linked`
    /// (§12.2: a model package is shared through its registered model, a notebook through
    /// its use case).
    pub parent: Option<EntityKind>,
}

const fn row(name: &'static str, collection: &'static str, label: &'static str) -> KindFacts {
    KindFacts {
        name,
        collection,
        label,
        envelope: EnvelopeKind::Paginated,
        dialect: DialectKind::SharedRoles,
        also: None,
        family: ApiFamily::Classic,
        writable: true,
        editor: "EDITOR",
        consumer: "CONSUMER",
        ac_body_key: "data",
        extra_recipient: None,
        page: None,
        replace_by_default: false,
        notify: NotifyKind::Never,
        closed_roles: false,
        related_segment: false,
        get_one: true,
        parent: None,
    }
}

const AC: DialectKind = DialectKind::AccessControl;
const SR: DialectKind = DialectKind::SharedRoles;

/// A classic accessControl kind whose editors are `USER` (C9).
const fn ac_user(name: &'static str, collection: &'static str, label: &'static str) -> KindFacts {
    KindFacts {
        dialect: AC,
        editor: "USER",
        ..row(name, collection, label)
    }
}

/// One of X2–X9: classic sharedRoles with `externalApplication` recipients (§12.1).
const fn x_classic(name: &'static str, collection: &'static str, label: &'static str) -> KindFacts {
    KindFacts {
        extra_recipient: Some("externalApplication"),
        ..row(name, collection, label)
    }
}

/// One of X10–X12: the Workload API (§12.1), whose documented meanings are owner / user /
/// consumer, limit at most 100.
const fn x_workload(
    name: &'static str,
    collection: &'static str,
    label: &'static str,
) -> KindFacts {
    KindFacts {
        family: ApiFamily::Workload,
        editor: "USER",
        extra_recipient: Some("role"),
        page: Some((100, 100)),
        replace_by_default: true,
        ..row(name, collection, label)
    }
}

/// The facts of every kind, in [`EntityKind::ALL`] order (checked by a test).
pub const FACTS: [KindFacts; 27] = [
    // §4, §5.1, §6: projects list as a bare array; accessControl; `USER`; notify on share.
    KindFacts {
        envelope: EnvelopeKind::BareArray,
        notify: NotifyKind::UnlessTold,
        ..ac_user("project", "projects", "projects")
    },
    // §6: datasets read sharedRoles, also serve accessControl; closed role enum.
    KindFacts {
        also: Some(AC),
        closed_roles: true,
        ..row("dataset", "datasets", "datasets")
    },
    // §6, C2: `{"data": […]}`; accessControl, sharedRoles also.
    KindFacts {
        envelope: EnvelopeKind::DataOnly,
        dialect: AC,
        also: Some(SR),
        ..row("data_source", "externalDataSources", "data sources")
    },
    KindFacts {
        envelope: EnvelopeKind::DataOnly,
        also: Some(AC),
        ..row("data_store", "externalDataStores", "data stores")
    },
    // §5.1: body key `users`; `READ_WRITE`/`READ_ONLY`.
    KindFacts {
        dialect: AC,
        editor: "READ_WRITE",
        consumer: "READ_ONLY",
        ac_body_key: "users",
        ..row("calendar", "calendars", "calendars")
    },
    // §6, C3: `USER`; 20/100; closed enum.
    KindFacts {
        editor: "USER",
        page: Some((20, 100)),
        closed_roles: true,
        ..row("deployment", "deployments", "deployments")
    },
    KindFacts {
        page: Some((100, 100)),
        ..row("use_case", "useCases", "use cases")
    },
    KindFacts {
        editor: "USER",
        ..row("registered_model", "registeredModels", "registered models")
    },
    ac_user("custom_model", "customModels", "custom models"),
    ac_user("custom_task", "customTasks", "custom tasks"),
    KindFacts {
        page: Some((20, 100)),
        ..ac_user(
            "execution_environment",
            "executionEnvironments",
            "execution environments",
        )
    },
    // C5: no list of their own, no `GET files/{id}/`.
    KindFacts {
        closed_roles: true,
        get_one: false,
        ..row("file", "files", "files")
    },
    KindFacts {
        closed_roles: true,
        ..row("user_blueprint", "userBlueprints", "user blueprints")
    },
    // §12.1 X1: Owner/Editor/Consumer; optional `sendNotification` (and `note`).
    KindFacts {
        notify: NotifyKind::UnlessTold,
        ..row("application", "applications", "no-code applications")
    },
    x_classic(
        "custom_application",
        "customApplications",
        "custom applications",
    ),
    x_classic(
        "custom_application_source",
        "customApplicationSources",
        "custom application sources",
    ),
    x_classic("custom_job", "customJobs", "custom jobs"),
    // X5: a share notifies every user recipient, and nothing turns that off.
    KindFacts {
        notify: NotifyKind::Always,
        ..x_classic("secure_config", "secureConfigs", "secure configurations")
    },
    x_classic(
        "notification_channel_template",
        "notificationChannelTemplates",
        "notification channel templates",
    ),
    // X7: `entityNotificationPolicyTemplates/{relatedEntityType}/…`.
    KindFacts {
        related_segment: true,
        ..x_classic(
            "notification_policy_template",
            "entityNotificationPolicyTemplates",
            "notification policy templates",
        )
    },
    x_classic(
        "compliance_doc_template",
        "complianceDocTemplates",
        "compliance documentation templates",
    ),
    // X9: 1–100 on its predecessor.
    KindFacts {
        page: Some((100, 100)),
        ..x_classic("value_tracker", "valueTrackers", "value trackers")
    },
    // X10: limit default 10, at most 100.
    KindFacts {
        page: Some((10, 100)),
        ..x_workload("workload", "workloads", "workloads")
    },
    x_workload("artifact", "artifacts", "artifacts"),
    x_workload(
        "artifact_repository",
        "artifactRepositories",
        "artifact repositories",
    ),
    // §12.2: read through its registered model's list; no write route.
    KindFacts {
        writable: false,
        editor: "USER",
        parent: Some(EntityKind::RegisteredModel),
        ..row("model_package", "modelPackages", "model packages")
    },
    KindFacts {
        writable: false,
        parent: Some(EntityKind::UseCase),
        ..row("notebook", "notebooks", "notebooks")
    },
];

/// The related entity types a notification policy template's path names (§12.1 X7).
pub const RELATED_ENTITY_TYPES: [&str; 2] = ["deployment", "customjob"];

impl EntityKind {
    /// Every kind; state tables and snapshots keep this order: the 13 the Python client
    /// shares, the 12 writable types of §12.1, the 2 read-only ones of §12.2.
    pub const ALL: [EntityKind; 27] = [
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
        EntityKind::Application,
        EntityKind::CustomApplication,
        EntityKind::CustomApplicationSource,
        EntityKind::CustomJob,
        EntityKind::SecureConfig,
        EntityKind::NotificationChannelTemplate,
        EntityKind::NotificationPolicyTemplate,
        EntityKind::ComplianceDocTemplate,
        EntityKind::ValueTracker,
        EntityKind::Workload,
        EntityKind::Artifact,
        EntityKind::ArtifactRepository,
        EntityKind::ModelPackage,
        EntityKind::Notebook,
    ];

    /// The kind's row of [`FACTS`].
    pub fn facts(self) -> &'static KindFacts {
        &FACTS[self as usize]
    }

    /// The snake_case name of seeds, snapshots and stats keys.
    pub fn as_str(self) -> &'static str {
        self.facts().name
    }

    /// The kind of a snake_case name.
    pub fn from_name(name: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The collection's path segment under `/api/v2/` (§4, §6, §12). Files have no list of
    /// their own (`catalogItems/?type=files`) and no `GET files/{id}/` (C5), but their
    /// access lists live under `files/`.
    pub fn collection(self) -> &'static str {
        self.facts().collection
    }

    /// The kind of a collection path segment.
    pub fn from_collection(collection: &str) -> Option<EntityKind> {
        EntityKind::ALL
            .into_iter()
            .find(|k| k.collection() == collection)
    }

    /// The envelope of the kind's list (§3 "Endpoints that are not paginated", §4, C2).
    pub fn envelope(self) -> EnvelopeKind {
        self.facts().envelope
    }

    /// The dialect DataRobot's Python client reads and writes this kind's access list with
    /// (§6, "client uses" columns): the one every kind serves.
    pub fn dialect(self) -> DialectKind {
        self.facts().dialect
    }

    /// Whether the kind serves a dialect's access list: the client's dialect, plus the
    /// other one where §6's "Also in spec" column has it (datasets' AC, data sources' SR,
    /// data stores' deprecated AC).
    pub fn serves(self, dialect: DialectKind) -> bool {
        self.dialect() == dialect || self.facts().also == Some(dialect)
    }

    /// Classic routes or the Workload API.
    pub fn family(self) -> ApiFamily {
        self.facts().family
    }

    /// Whether the kind's access list can be written (§12.2).
    pub fn writable(self) -> bool {
        self.facts().writable
    }

    /// The path suffix after a route: `/` on classic routes, nothing on the Workload API.
    pub fn slash(self) -> &'static str {
        match self.family() {
            ApiFamily::Classic => "/",
            ApiFamily::Workload => "",
        }
    }

    /// The key of an accessControl write's list: `users` for calendars, `data` for the
    /// rest (§5.1).
    pub fn ac_body_key(self) -> &'static str {
        self.facts().ac_body_key
    }

    /// The kind's own name for a level (§6, "Roles accepted → returned"; §12.1).
    pub fn wire_role(self, role: Role) -> &'static str {
        match role {
            Role::Owner => "OWNER",
            Role::Editor => self.facts().editor,
            Role::Consumer => self.facts().consumer,
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
        self.facts().label
    }

    /// Whether the kind is one of the 14 of §12 (not one of the Python client's 13).
    pub fn is_extra(self) -> bool {
        self >= EntityKind::Application
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
    fn the_facts_table_is_in_kind_order_and_names_are_unique() {
        for (i, kind) in EntityKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i);
            assert_eq!(EntityKind::from_name(kind.as_str()), Some(kind));
        }
        let extra: Vec<_> = EntityKind::ALL
            .into_iter()
            .filter(|k| k.is_extra())
            .collect();
        assert_eq!(extra.len(), 14);
        assert_eq!(EntityKind::ALL.iter().filter(|k| !k.writable()).count(), 2);
        for kind in EntityKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

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
