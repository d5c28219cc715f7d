//! The tool's vocabulary of the wire: the 27 entity kinds with an access list (25 that can
//! be shared, 2 read-only), the three access levels, and, per kind, one row of facts of
//! DataRobot's sharing API ([`KindFacts`]) that decides how a request is shaped (route,
//! paging, dialect, body key, role names, write semantics, notification field). Code reads
//! the row; adding a kind is a row of facts plus tests (STYLE.md 4a).
//!
//! Everything here is data about the contract in `shared/datarobot-api.md`; it does no I/O.
//! The client (`api`) uses it to build requests and to read answers tolerantly. The
//! simulator does not: it has its own vocabulary written from the same contract
//! (`handover_sim::EntityKind`, …), so that a wrong fact here fails a test instead of
//! being played back; `simulator` converts between the two.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the kinds of entity DataRobot gives an access list: the 25 that can be shared
/// ([`EntityKind::WRITABLE`]) and 2 whose access list can only be read (contract §12.2).
/// Every fact about a kind lives in its row of the table ([`EntityKind::facts`]).
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

/// How a kind's list is read to its end (contract §3, C2, C14, §12.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagingKind {
    /// One answer holds everything (data sources).
    Once,
    /// `offset`/`limit` only, read until a page holds nothing new (projects, data stores).
    Offset,
    /// `next` links followed until null; `offset`/`limit` sent when a page size is set.
    Next,
    /// `offset` and `limit` always sent (a server may require them, custom jobs), the
    /// limit at most `max_limit` (workloads: at most 100); `next` followed while the
    /// answer gives one, and where it gives none, offset pages until one holds nothing new.
    Always { max_limit: Option<u32> },
}

/// Where a kind's list lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListRouteKind {
    /// `GET <collection>/` (or without the slash on the Workload API).
    Collection,
    /// `GET catalogItems/?type=<type>` (files have no list of their own).
    Catalog(&'static str),
    /// One list per related entity type: `GET <collection>/<related>/` for each
    /// (notification policy templates, contract §12.1 X7). The tool's id of such an entity
    /// is `<related>:<id>`.
    PerRelatedType(&'static [&'static str]),
}

/// How a sharedRoles write names a user recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipientKeyKind {
    /// `username` (accessControl, and the non-catalog sharedRoles types).
    Username,
    /// `name` (catalog entities: datasets and files accept `id` or `name`, not `username`).
    Name,
}

/// Whether a share may carry a switch for the e-mail it sends, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    /// The request schema has no such field: send none.
    None,
    /// `sendNotification` in a project's accessControl body (contract C18: default true).
    SendNotificationProject,
    /// `sendNotification` beside `operation` in a no-code application's updateRoles body
    /// (contract §12.1 X1).
    SendNotificationApplication,
}

/// What a share request does to the recipients it does not name (contract §12.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteSemanticsKind {
    /// Only the named recipients change (the classic routes).
    Set,
    /// The list sent becomes the whole access list (the Workload API): a write carries
    /// every entry read, with the plan's changes applied.
    Replace,
}

/// Whether an organization administrator's list of a kind is known to show other users'
/// entities (contract C13, §12.1 "Visibility").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminVisibilityKind {
    /// An administrator with RBAC admin access on the type sees the organization's.
    Known,
    /// Not documented: the list may show only what the caller created or was given.
    Unknown,
}

/// The role names written for each level on one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireRoles {
    /// Read-write.
    pub editor: &'static str,
    /// Read-only.
    pub consumer: &'static str,
}

const OWN_ROLES: WireRoles = WireRoles {
    editor: "EDITOR",
    consumer: "CONSUMER",
};
const USER_ROLES: WireRoles = WireRoles {
    editor: "USER",
    consumer: "CONSUMER",
};
const CALENDAR_ROLES: WireRoles = WireRoles {
    editor: "READ_WRITE",
    consumer: "READ_ONLY",
};

/// Every wire fact of one kind: one row of the table ([`EntityKind::facts`]). Code reads
/// the row; adding a kind is a row and its tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindFacts {
    /// The snake_case name used in plans, CSV files, journals and `--types`.
    pub name: &'static str,
    /// A human plural label for tables: "projects", "data stores", …
    pub label: &'static str,
    /// The collection's path segment under `/api/v2/`, without slashes; an entity's routes
    /// are under `<collection>/<id>`.
    pub collection: &'static str,
    /// Where the list lives.
    pub list_route: ListRouteKind,
    /// Extra query pairs that make the list whole (contract C1, C3, C4).
    pub list_query: &'static [(&'static str, &'static str)],
    /// The list's envelope.
    pub envelope: EnvelopeKind,
    /// How the list is read to its end.
    pub paging: PagingKind,
    /// The access-list dialect handover reads and writes (the Python client's, §6).
    pub dialect: DialectKind,
    /// Whether paths end in `/` (every classic route) or not (the Workload API, X10–X12).
    pub trailing_slash: bool,
    /// How a sharedRoles write names a user by name.
    pub recipient_key: RecipientKeyKind,
    /// For accessControl writes, the body key that holds the list (`users` on calendars).
    pub ac_body_key: &'static str,
    /// The role names written per level (OWNER is `OWNER` everywhere).
    pub roles: WireRoles,
    /// Whether the write schema has `canShare` (contract C10, C17; none on X1–X12).
    pub can_share: bool,
    /// Whether and where a share carries `sendNotification`.
    pub notification: NotificationKind,
    /// Set or replace.
    pub semantics: WriteSemanticsKind,
    /// The most changes one write may carry, where a schema states one.
    pub max_changes: Option<usize>,
    /// Whether handover may write its access list (`false`: model packages, notebooks).
    pub writable: bool,
    /// Whether the server tells each user recipient of a share, with nothing to turn it off
    /// (secure configurations, X5).
    pub notifies_recipients: bool,
    /// Whether sharing another entity may grant roles on this one (contract C7).
    pub linked_grants: bool,
    /// Whether sharing this entity may grant roles on another one (contract C7): a data
    /// source's share makes its recipients CONSUMER of its data store, a custom model's or
    /// task's shares its training data.
    pub grants_linked: bool,
    /// Whether an administrator's list is known to show other users' entities.
    pub admin_visibility: AdminVisibilityKind,
    /// For a read-only kind, the kind whose share moves it (a notebook moves with its use
    /// case, a model package with its registered model; contract §12.2).
    pub moves_with: Option<EntityKind>,
}

/// A classic sharedRoles row with every new-type default (§12.1): OWNER/EDITOR/CONSUMER,
/// `username`, no `canShare`, no notification switch, set semantics, 100 a write,
/// offset and limit always sent, visibility unknown.
const fn new_sr(name: &'static str, label: &'static str, collection: &'static str) -> KindFacts {
    KindFacts {
        name,
        label,
        collection,
        list_route: ListRouteKind::Collection,
        list_query: &[],
        envelope: EnvelopeKind::Paginated,
        paging: PagingKind::Always { max_limit: None },
        dialect: DialectKind::SharedRoles,
        trailing_slash: true,
        recipient_key: RecipientKeyKind::Username,
        ac_body_key: "data",
        roles: OWN_ROLES,
        can_share: false,
        notification: NotificationKind::None,
        semantics: WriteSemanticsKind::Set,
        max_changes: Some(100),
        writable: true,
        notifies_recipients: false,
        linked_grants: false,
        grants_linked: false,
        admin_visibility: AdminVisibilityKind::Unknown,
        moves_with: None,
    }
}

/// A Workload API row (X10–X12): no trailing slash, limit at most 100, replace semantics.
const fn workload_api(
    name: &'static str,
    label: &'static str,
    collection: &'static str,
) -> KindFacts {
    KindFacts {
        trailing_slash: false,
        paging: PagingKind::Always {
            max_limit: Some(100),
        },
        semantics: WriteSemanticsKind::Replace,
        ..new_sr(name, label, collection)
    }
}

/// One of the thirteen the Python client shares, with the defaults most of them have.
const fn classic(
    name: &'static str,
    label: &'static str,
    collection: &'static str,
    dialect: DialectKind,
    roles: WireRoles,
) -> KindFacts {
    KindFacts {
        name,
        label,
        collection,
        list_route: ListRouteKind::Collection,
        list_query: &[],
        envelope: EnvelopeKind::Paginated,
        paging: PagingKind::Next,
        dialect,
        trailing_slash: true,
        recipient_key: RecipientKeyKind::Username,
        ac_body_key: "data",
        roles,
        can_share: true,
        notification: NotificationKind::None,
        semantics: WriteSemanticsKind::Set,
        // Contract R10 (every sharedRoles write); C8 adds custom models' and tasks'.
        max_changes: match dialect {
            DialectKind::SharedRoles => Some(100),
            DialectKind::AccessControl => None,
        },
        writable: true,
        notifies_recipients: false,
        linked_grants: false,
        grants_linked: false,
        admin_visibility: AdminVisibilityKind::Known,
        moves_with: None,
    }
}

use DialectKind::{AccessControl as AC, SharedRoles as SR};

const PROJECT: KindFacts = KindFacts {
    envelope: EnvelopeKind::BareArray,
    paging: PagingKind::Offset,
    can_share: false,
    notification: NotificationKind::SendNotificationProject,
    ..classic("project", "projects", "projects", AC, USER_ROLES)
};
const DATASET: KindFacts = KindFacts {
    recipient_key: RecipientKeyKind::Name,
    linked_grants: true,
    ..classic("dataset", "datasets", "datasets", SR, OWN_ROLES)
};
const DATA_SOURCE: KindFacts = KindFacts {
    list_query: &[("type", "all")],
    grants_linked: true,
    envelope: EnvelopeKind::DataOnly,
    paging: PagingKind::Once,
    ..classic(
        "data_source",
        "data sources",
        "externalDataSources",
        AC,
        OWN_ROLES,
    )
};
const DATA_STORE: KindFacts = KindFacts {
    list_query: &[("type", "all")],
    envelope: EnvelopeKind::DataOnly,
    paging: PagingKind::Offset,
    linked_grants: true,
    ..classic(
        "data_store",
        "data stores",
        "externalDataStores",
        SR,
        OWN_ROLES,
    )
};
const CALENDAR: KindFacts = KindFacts {
    ac_body_key: "users",
    can_share: false,
    ..classic("calendar", "calendars", "calendars", AC, CALENDAR_ROLES)
};
const DEPLOYMENT: KindFacts = KindFacts {
    list_query: &[("orderBy", "createdAtTimestamp")],
    ..classic("deployment", "deployments", "deployments", SR, USER_ROLES)
};
const USE_CASE: KindFacts = KindFacts {
    list_query: &[("showOrgUseCases", "true")],
    can_share: false,
    ..classic("use_case", "use cases", "useCases", SR, OWN_ROLES)
};
const REGISTERED_MODEL: KindFacts = classic(
    "registered_model",
    "registered models",
    "registeredModels",
    SR,
    USER_ROLES,
);
const CUSTOM_MODEL: KindFacts = KindFacts {
    max_changes: Some(100),
    grants_linked: true,
    ..classic(
        "custom_model",
        "custom models",
        "customModels",
        AC,
        USER_ROLES,
    )
};
const CUSTOM_TASK: KindFacts = KindFacts {
    max_changes: Some(100),
    grants_linked: true,
    ..classic("custom_task", "custom tasks", "customTasks", AC, USER_ROLES)
};
const EXECUTION_ENVIRONMENT: KindFacts = classic(
    "execution_environment",
    "execution environments",
    "executionEnvironments",
    AC,
    USER_ROLES,
);
const FILE: KindFacts = KindFacts {
    list_route: ListRouteKind::Catalog("files"),
    recipient_key: RecipientKeyKind::Name,
    ..classic("file", "files", "files", SR, OWN_ROLES)
};
const USER_BLUEPRINT: KindFacts = KindFacts {
    can_share: false,
    ..classic(
        "user_blueprint",
        "user blueprints",
        "userBlueprints",
        SR,
        OWN_ROLES,
    )
};
const APPLICATION: KindFacts = KindFacts {
    notification: NotificationKind::SendNotificationApplication,
    ..new_sr("application", "no-code applications", "applications")
};
const CUSTOM_APPLICATION: KindFacts = new_sr(
    "custom_application",
    "custom applications",
    "customApplications",
);
const CUSTOM_APPLICATION_SOURCE: KindFacts = new_sr(
    "custom_application_source",
    "custom application sources",
    "customApplicationSources",
);
const CUSTOM_JOB: KindFacts = new_sr("custom_job", "custom jobs", "customJobs");
const SECURE_CONFIG: KindFacts = KindFacts {
    notifies_recipients: true,
    ..new_sr("secure_config", "secure configurations", "secureConfigs")
};
const NOTIFICATION_CHANNEL_TEMPLATE: KindFacts = new_sr(
    "notification_channel_template",
    "notification channel templates",
    "notificationChannelTemplates",
);
const NOTIFICATION_POLICY_TEMPLATE: KindFacts = KindFacts {
    list_route: ListRouteKind::PerRelatedType(&["deployment", "customjob"]),
    ..new_sr(
        "notification_policy_template",
        "notification policy templates",
        "entityNotificationPolicyTemplates",
    )
};
const COMPLIANCE_DOC_TEMPLATE: KindFacts = new_sr(
    "compliance_doc_template",
    "compliance documentation templates",
    "complianceDocTemplates",
);
const VALUE_TRACKER: KindFacts = new_sr("value_tracker", "value trackers", "valueTrackers");
const WORKLOAD: KindFacts = workload_api("workload", "workloads", "workloads");
const ARTIFACT: KindFacts = workload_api("artifact", "artifacts", "artifacts");
const ARTIFACT_REPOSITORY: KindFacts = workload_api(
    "artifact_repository",
    "artifact repositories",
    "artifactRepositories",
);
const MODEL_PACKAGE: KindFacts = KindFacts {
    writable: false,
    moves_with: Some(EntityKind::RegisteredModel),
    paging: PagingKind::Next,
    ..new_sr("model_package", "model packages", "modelPackages")
};
const NOTEBOOK: KindFacts = KindFacts {
    writable: false,
    moves_with: Some(EntityKind::UseCase),
    paging: PagingKind::Next,
    ..new_sr("notebook", "notebooks", "notebooks")
};

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
    /// `OWNER`; `EDITOR`, `USER`, `READ_WRITE`, `DATA_SCIENTIST`; `CONSUMER`, `READ_ONLY`,
    /// `OBSERVER`. The Workload API's `ADMIN` has no documented meaning and is not read.
    /// Returns `None` for anything else, including the revocations `NO_ROLE` and `NONE`.
    pub fn from_wire(name: &str) -> Option<Role> {
        match name.trim().to_ascii_uppercase().as_str() {
            "OWNER" => Some(Role::Owner),
            // DATA_SCIENTIST: the Workload API's enum (contract §12.1 X10), read-write.
            "EDITOR" | "USER" | "READ_WRITE" | "DATA_SCIENTIST" => Some(Role::Editor),
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
    /// Every kind, in the order plans and reports list them: the 13 the Python client
    /// shares, the 12 more of contract §12.1, and the 2 read-only ones of §12.2.
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

    /// The kinds handover may plan and write: [`ALL`](Self::ALL) but model packages and
    /// notebooks. The default of `--types`.
    pub const WRITABLE: [EntityKind; 25] = {
        let mut out = [EntityKind::Project; 25];
        let mut i = 0;
        while i < 25 {
            out[i] = EntityKind::ALL[i];
            i += 1;
        }
        out
    };

    /// The kinds whose access list can be read but not written (contract §12.2).
    pub const READ_ONLY: [EntityKind; 2] = [EntityKind::ModelPackage, EntityKind::Notebook];

    /// This kind's row of wire facts.
    pub const fn facts(self) -> &'static KindFacts {
        match self {
            EntityKind::Project => &PROJECT,
            EntityKind::Dataset => &DATASET,
            EntityKind::DataSource => &DATA_SOURCE,
            EntityKind::DataStore => &DATA_STORE,
            EntityKind::Calendar => &CALENDAR,
            EntityKind::Deployment => &DEPLOYMENT,
            EntityKind::UseCase => &USE_CASE,
            EntityKind::RegisteredModel => &REGISTERED_MODEL,
            EntityKind::CustomModel => &CUSTOM_MODEL,
            EntityKind::CustomTask => &CUSTOM_TASK,
            EntityKind::ExecutionEnvironment => &EXECUTION_ENVIRONMENT,
            EntityKind::File => &FILE,
            EntityKind::UserBlueprint => &USER_BLUEPRINT,
            EntityKind::Application => &APPLICATION,
            EntityKind::CustomApplication => &CUSTOM_APPLICATION,
            EntityKind::CustomApplicationSource => &CUSTOM_APPLICATION_SOURCE,
            EntityKind::CustomJob => &CUSTOM_JOB,
            EntityKind::SecureConfig => &SECURE_CONFIG,
            EntityKind::NotificationChannelTemplate => &NOTIFICATION_CHANNEL_TEMPLATE,
            EntityKind::NotificationPolicyTemplate => &NOTIFICATION_POLICY_TEMPLATE,
            EntityKind::ComplianceDocTemplate => &COMPLIANCE_DOC_TEMPLATE,
            EntityKind::ValueTracker => &VALUE_TRACKER,
            EntityKind::Workload => &WORKLOAD,
            EntityKind::Artifact => &ARTIFACT,
            EntityKind::ArtifactRepository => &ARTIFACT_REPOSITORY,
            EntityKind::ModelPackage => &MODEL_PACKAGE,
            EntityKind::Notebook => &NOTEBOOK,
        }
    }

    /// The snake_case name used in plans, CSV files, journals and `--types`.
    pub fn as_str(self) -> &'static str {
        self.facts().name
    }

    /// The collection's path segment under `/api/v2/`, without slashes.
    pub fn collection(self) -> &'static str {
        self.facts().collection
    }

    /// The envelope of the kind's list endpoint. Files have no list of their own and are
    /// listed through `catalogItems/?type=files` (paginated).
    pub fn envelope(self) -> EnvelopeKind {
        self.facts().envelope
    }

    /// How the kind's list is read to its end.
    pub fn paging(self) -> PagingKind {
        self.facts().paging
    }

    /// Where the kind's list lives.
    pub fn list_route(self) -> ListRouteKind {
        self.facts().list_route
    }

    /// The dialect handover uses to read and write this kind's access list: the one the
    /// official Python client uses (contract §6, "client uses" columns); sharedRoles on
    /// every type of §12.
    pub fn dialect(self) -> DialectKind {
        self.facts().dialect
    }

    /// The access-list path segment: `accessControl` or `sharedRoles`.
    pub fn access_segment(self) -> &'static str {
        match self.dialect() {
            DialectKind::AccessControl => "accessControl",
            DialectKind::SharedRoles => "sharedRoles",
        }
    }

    /// Whether this kind's paths end in `/` (every classic route; not the Workload API).
    pub fn trailing_slash(self) -> bool {
        self.facts().trailing_slash
    }

    /// For accessControl writes, the body key that holds the list: `users` for calendars,
    /// `data` for everything else.
    pub fn ac_body_key(self) -> &'static str {
        self.facts().ac_body_key
    }

    /// For sharedRoles writes, how a user recipient is named besides `id`.
    pub fn recipient_key(self) -> RecipientKeyKind {
        self.facts().recipient_key
    }

    /// Whether and where a share of this kind carries `sendNotification`.
    pub fn notification(self) -> NotificationKind {
        self.facts().notification
    }

    /// Whether a share of this kind can be told not to e-mail anyone: projects and
    /// no-code applications take `sendNotification`; other kinds have no such switch.
    pub fn suppresses_notification(self) -> bool {
        self.notification() != NotificationKind::None
    }

    /// Whether writes of this kind carry `canShare`: the request schemas of projects
    /// (`UpdateAccessControl`), calendars, use cases (`SharingRoleUpdateData`, contract C10),
    /// user blueprints and the twelve types of §12.1 have no such field.
    pub fn supports_can_share(self) -> bool {
        self.facts().can_share
    }

    /// Whether sharing another entity may grant roles on this one (contract C7): a data
    /// source's share makes its recipients CONSUMER of its data store, a custom model's or
    /// task's shares its training dataset.
    pub fn receives_linked_grants(self) -> bool {
        self.facts().linked_grants
    }

    /// Whether sharing this entity may grant roles on another one (contract C7): a data
    /// source's share makes its recipients CONSUMER of its data store, a custom model's or
    /// task's shares its training data. The other side of [`Self::receives_linked_grants`].
    pub fn grants_linked_access(self) -> bool {
        self.facts().grants_linked
    }

    /// The most changes one share request of this kind may carry, where a schema states
    /// one: 100 for every sharedRoles write (contract R10) and for the accessControl writes
    /// of custom models and tasks (C8).
    pub fn max_changes(self) -> Option<usize> {
        self.facts().max_changes
    }

    /// Set or replace (contract §12.1): what a write does to recipients it does not name.
    pub fn semantics(self) -> WriteSemanticsKind {
        self.facts().semantics
    }

    /// Whether handover may plan and write this kind (not model packages and notebooks).
    pub fn is_writable(self) -> bool {
        self.facts().writable
    }

    /// Whether the server tells each user recipient of a share (secure configurations).
    pub fn notifies_recipients(self) -> bool {
        self.facts().notifies_recipients
    }

    /// Whether an administrator's list is known to show other users' entities.
    pub fn admin_visibility(self) -> AdminVisibilityKind {
        self.facts().admin_visibility
    }

    /// The role name handover writes for `role` on this kind: the kind's own vocabulary,
    /// which every source agrees the endpoint accepts.
    pub fn wire_role(self, role: Role) -> &'static str {
        let roles = self.facts().roles;
        match role {
            Role::Owner => "OWNER",
            Role::Editor => roles.editor,
            Role::Consumer => roles.consumer,
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
        self.facts().label
    }

    /// Splits the tool's id of an entity listed per related type (`deployment:5f…`) into
    /// the related type and the server's id. `None` for other kinds, and for an id whose
    /// related type is not one the kind lists.
    pub fn related_id(self, id: &str) -> Option<(&'static str, &str)> {
        let ListRouteKind::PerRelatedType(types) = self.list_route() else {
            return None;
        };
        let (related, rest) = id.split_once(':')?;
        let related = types.iter().find(|t| t.eq_ignore_ascii_case(related))?;
        (!rest.is_empty()).then_some((related, rest))
    }

    /// Why `id` cannot name an entity of this kind, if it cannot: a notification policy
    /// template's id must say which related type lists it (`deployment:<id>`).
    pub fn check_id(self, id: &str) -> Result<(), String> {
        match self.list_route() {
            ListRouteKind::PerRelatedType(types) if self.related_id(id).is_none() => Err(format!(
                "a {} id is <related type>:<id>, the related type one of {}",
                self.as_str(),
                types.join(", ")
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a name cannot be a kind `--types` or a CSV plan names.
#[derive(Debug, thiserror::Error)]
pub enum KindNameError {
    /// No kind has that name.
    #[error(transparent)]
    Unknown(#[from] UnknownKindError),
    /// A kind whose access list is read, never written.
    #[error(
        "{kind} access lists are read, never written: move the {} that holds it instead \
         (expected one of: {list})",
        kind.facts().moves_with.map_or("entity", |k| k.facts().name).replace('_', " "),
        list = kind_names()
    )]
    ReadOnly { kind: EntityKind },
}

impl EntityKind {
    /// Parses a kind handover may plan and write ([`FromStr`]'s names); a read-only kind
    /// is an error that says what to move instead.
    pub fn parse_writable(s: &str) -> Result<EntityKind, KindNameError> {
        let kind: EntityKind = s.parse()?;
        if !kind.is_writable() {
            return Err(KindNameError::ReadOnly { kind });
        }
        Ok(kind)
    }
}

/// A kind name that is none of [`EntityKind::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown entity type {0:?} (expected one of: {list})", list = kind_names())]
pub struct UnknownKindError(pub String);

/// The names `--types` and CSV plans take, comma-separated.
pub fn kind_names() -> String {
    EntityKind::WRITABLE
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
            "nocodeapplication" | "nocodeapplications" | "app" | "apps" => {
                Some(EntityKind::Application)
            }
            "secureconfiguration" | "secureconfigurations" => Some(EntityKind::SecureConfig),
            "notificationpolicytemplates" | "entitynotificationpolicytemplate" => {
                Some(EntityKind::NotificationPolicyTemplate)
            }
            "compliancedocumentationtemplate" | "compliancedocumentationtemplates" => {
                Some(EntityKind::ComplianceDocTemplate)
            }
            "artifactrepositories" => Some(EntityKind::ArtifactRepository),
            "codespace" | "codespaces" => Some(EntityKind::Notebook),
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
    /// The role names as the server wrote them, by [`AccessList::key`] of their entry:
    /// a replace-semantics write restates an untouched entry in the server's own words
    /// (`USER` stays `USER`, not the tool's `EDITOR` for the same level).
    pub role_names: std::collections::BTreeMap<String, String>,
}

impl AccessList {
    /// The key of `grant`'s entry in [`role_names`](AccessList::role_names): its recipient
    /// type and its id (else its name), lowercased.
    pub fn key(grant: &Grant) -> String {
        format!(
            "{}:{}",
            grant.recipient_type,
            grant.id.as_deref().unwrap_or(&grant.name)
        )
        .to_lowercase()
    }

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
    fn the_table_has_25_writable_kinds_and_2_read_only_ones() {
        assert_eq!(EntityKind::ALL.len(), 27);
        assert_eq!(EntityKind::WRITABLE.len(), 25);
        for kind in EntityKind::ALL {
            assert_eq!(
                kind.is_writable(),
                EntityKind::WRITABLE.contains(&kind),
                "{kind}"
            );
            assert_eq!(
                kind.is_writable(),
                !EntityKind::READ_ONLY.contains(&kind),
                "{kind}"
            );
            // The serde name is the table's name.
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().into())
            );
        }
        let names: std::collections::HashSet<_> =
            EntityKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), 27);
    }

    #[test]
    fn the_new_types_have_their_contract_facts() {
        use EntityKind::*;
        for kind in &EntityKind::ALL[13..] {
            assert_eq!(kind.dialect(), DialectKind::SharedRoles, "{kind}");
            assert!(!kind.supports_can_share(), "{kind}");
            assert_eq!(kind.max_changes(), Some(100), "{kind}");
            assert_eq!(kind.admin_visibility(), AdminVisibilityKind::Unknown);
            assert_eq!(kind.wire_role(Role::Editor), "EDITOR");
            assert_eq!(kind.wire_role(Role::Consumer), "CONSUMER");
        }
        for kind in [Workload, Artifact, ArtifactRepository] {
            assert_eq!(kind.semantics(), WriteSemanticsKind::Replace);
            assert!(!kind.trailing_slash());
            assert_eq!(
                kind.paging(),
                PagingKind::Always {
                    max_limit: Some(100)
                }
            );
        }
        for kind in EntityKind::ALL {
            if !matches!(kind, Workload | Artifact | ArtifactRepository) {
                assert_eq!(kind.semantics(), WriteSemanticsKind::Set, "{kind}");
                assert!(kind.trailing_slash(), "{kind}");
            }
            assert_eq!(kind.notifies_recipients(), kind == SecureConfig);
        }
        assert!(matches!(CustomJob.paging(), PagingKind::Always { .. }));
        assert_eq!(
            Application.notification(),
            NotificationKind::SendNotificationApplication
        );
        assert_eq!(
            Project.notification(),
            NotificationKind::SendNotificationProject
        );
        assert_eq!(Workload.collection(), "workloads");
        assert_eq!(ArtifactRepository.collection(), "artifactRepositories");
        assert_eq!(SecureConfig.collection(), "secureConfigs");
    }

    #[test]
    fn read_only_kinds_are_refused_where_a_writable_one_is_asked_for() {
        assert_eq!(
            EntityKind::parse_writable("workloads").unwrap(),
            EntityKind::Workload
        );
        let e = EntityKind::parse_writable("notebook").unwrap_err();
        assert!(e.to_string().starts_with(
            "notebook access lists are read, never written: move the use case that holds it"
        ));
        let e = EntityKind::parse_writable("model_package").unwrap_err();
        assert!(e.to_string().contains("move the registered model"), "{e}");
        let e = EntityKind::parse_writable("widget").unwrap_err();
        assert!(e.to_string().contains("expected one of: project,"), "{e}");
        assert!(e.to_string().ends_with("artifact_repository)"), "{e}");
    }

    #[test]
    fn policy_template_ids_name_their_related_type() {
        let k = EntityKind::NotificationPolicyTemplate;
        assert_eq!(k.related_id("deployment:abc"), Some(("deployment", "abc")));
        assert_eq!(k.related_id("CUSTOMJOB:a:b"), Some(("customjob", "a:b")));
        assert_eq!(k.related_id("project:abc"), None);
        assert_eq!(k.related_id("abc"), None);
        assert_eq!(k.related_id("deployment:"), None);
        assert!(k.check_id("abc").is_err());
        assert!(k.check_id("deployment:abc").is_ok());
        assert!(EntityKind::Workload.check_id("abc").is_ok());
        assert_eq!(EntityKind::Workload.related_id("deployment:abc"), None);
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
    fn linked_grants_go_from_sources_models_and_tasks_to_stores_and_datasets() {
        // Contract C7: the two sides of a linked grant, as rollback orders its writes.
        let giving: Vec<EntityKind> = EntityKind::ALL
            .into_iter()
            .filter(|k| k.grants_linked_access())
            .collect();
        assert_eq!(
            giving,
            [
                EntityKind::DataSource,
                EntityKind::CustomModel,
                EntityKind::CustomTask
            ]
        );
        let receiving: Vec<EntityKind> = EntityKind::ALL
            .into_iter()
            .filter(|k| k.receives_linked_grants())
            .collect();
        assert_eq!(receiving, [EntityKind::Dataset, EntityKind::DataStore]);
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
