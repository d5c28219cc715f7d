//! How entities, users and access-list entries look on the wire, per kind: list items and
//! get-one bodies with the fields the official Python client requires (see
//! `tests/fidelity/WIRE_NOTES.md`) and the owner hints of contract §4 (deployment and use
//! case `owners`, data source/store `creator` and `role`, user blueprint `userId`, …), and
//! the §12 types' items (`extra_entity`).
//!
//! Rendering only reads the state; callers hold the state lock while they render.

use serde_json::{Value, json};

use crate::kinds::{DialectKind, EntityKind, Role, RoleVocabKind};

use crate::state::{EntityRec, GrantRec, PrincipalRec, State, UserRec};

/// The role shown to `caller` in list items that carry the caller's own role. Org admins
/// who hold no grant see `OWNER`, since they may do everything an owner may.
fn caller_role(st: &State, e: &EntityRec, caller: usize) -> Role {
    st.acl_source(e)
        .grant_of(caller)
        .map(|g| g.role)
        .unwrap_or(if st.users[caller].org_admin {
            Role::Owner
        } else {
            Role::Consumer
        })
}

/// Makes a use case's `owners` name its creator alone, whatever roles the access list
/// holds (the creator-only reading of contract C20).
pub(crate) fn creator_as_owners(st: &State, e: &EntityRec, v: &mut Value) {
    if let Some(owners) = v.get_mut("owners") {
        *owners = json!([user_obj(&st.users[e.creator])]);
    }
}

/// A user as use cases embed them (`created`, `owners`, `members`).
fn user_obj(u: &UserRec) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "email": u.username,
        "fullName": u.full_name,
        "userhash": null,
    })
}

/// A stable id derived from an entity id, for fields that name a related object (a dataset
/// version, a data store of a data source, a blueprint).
fn derived_id(id: &str, tag: u8) -> String {
    let mut s = id.to_string();
    if s.len() == 24 {
        s.replace_range(0..2, &format!("{tag:02x}"));
    }
    s
}

/// An entity as its kind's list and its get-one endpoint return it (files: get-one is
/// `catalogItems/{id}/`). `vocab` picks the role names of the caller's `role` fields.
pub(crate) fn entity(st: &State, e: &EntityRec, caller: usize, vocab: RoleVocabKind) -> Value {
    let creator = &st.users[e.creator];
    let role = e.kind.read_role(caller_role(st, e, caller), vocab);
    let (id, name, t) = (e.id.as_str(), e.name.as_str(), e.created.as_str());
    match e.kind {
        EntityKind::Project => json!({
            "id": id,
            "projectName": name,
            "created": t,
            "fileName": "data.csv",
            "stage": "aim",
            "holdoutUnlocked": false,
            "unsupervisedMode": false,
            "useFeatureDiscovery": false,
        }),
        EntityKind::Dataset => json!({
            "datasetId": id,
            "versionId": derived_id(id, 0xd1),
            "name": name,
            "categories": ["TRAINING"],
            "creationDate": t,
            "createdBy": creator.username,
            "isDataEngineEligible": false,
            "isLatestVersion": true,
            "isSnapshot": true,
            "processingState": "COMPLETED",
            "dataPersisted": true,
            "rowCount": 100,
            "datasetSize": 4096,
        }),
        EntityKind::DataSource => json!({
            "id": id,
            "type": e.store_type,
            "canonicalName": name,
            "creator": creator.id,
            "params": {
                "dataStoreId": e.linked.clone().unwrap_or_else(|| derived_id(id, 0xd5)),
                "table": "events",
                "schema": "public",
            },
            "updated": t,
            "role": role,
        }),
        EntityKind::DataStore => json!({
            "id": id,
            "type": e.store_type,
            "canonicalName": name,
            "creator": creator.id,
            "params": {"driverId": derived_id(id, 0xd7), "jdbcUrl": "jdbc:postgresql://db.acme.test/warehouse"},
            "updated": t,
            "role": role,
        }),
        EntityKind::Calendar => json!({
            "id": id,
            "name": name,
            "created": t,
            "calendarStartDate": "2024-01-01",
            "calendarEndDate": "2024-12-31",
            "numEventTypes": 1,
            "numEvents": 12,
            "projectIds": [],
            "multiseriesIdColumns": [],
            "role": role,
        }),
        EntityKind::Deployment => {
            let owners: Vec<Value> = owners_of(st, e)
                .map(|u| json!({"id": u.id, "email": u.username, "fullName": u.full_name}))
                .collect();
            let (first, last) = creator.first_last();
            let permissions: Vec<&str> = match e.grant_of(caller).map(|g| g.role) {
                Some(Role::Owner) => vec!["CAN_SHARE", "CAN_UPDATE", "CAN_DELETE", "CAN_VIEW"],
                Some(Role::Editor) => vec!["CAN_SHARE", "CAN_UPDATE", "CAN_VIEW"],
                Some(Role::Consumer) => vec!["CAN_VIEW"],
                None => vec!["CAN_SHARE", "CAN_UPDATE", "CAN_DELETE", "CAN_VIEW"],
            };
            json!({
                "id": id,
                "label": name,
                "description": null,
                "status": "active",
                "importance": "LOW",
                "owners": {"count": owners.len(), "preview": owners},
                "creator": {"id": creator.id, "email": creator.username, "firstName": first, "lastName": last},
                "permissions": permissions,
                "createdAt": t,
            })
        }
        EntityKind::UseCase => {
            let members: Vec<Value> = e
                .access
                .iter()
                .map(|g| user_obj(&st.users[g.user]))
                .collect();
            let owners: Vec<Value> = owners_of(st, e).map(user_obj).collect();
            json!({
                "id": id,
                "name": name,
                "description": null,
                "createdAt": t,
                "created": user_obj(creator),
                "updatedAt": t,
                "updated": user_obj(creator),
                "modelsCount": 0,
                "projectsCount": 0,
                "datasetsCount": 0,
                "filesCount": 0,
                "notebooksCount": 0,
                "applicationsCount": 0,
                "owners": owners,
                "members": members,
                "role": role,
            })
        }
        EntityKind::RegisteredModel => {
            let by =
                json!({"id": creator.id, "email": creator.username, "name": creator.full_name});
            json!({
                "id": id,
                "name": name,
                "description": "",
                "createdAt": t,
                "modifiedAt": t,
                "modifiedBy": by,
                "createdBy": by,
                "target": {"name": "target", "type": "Binary"},
                "lastVersionNum": 1,
                "isArchived": false,
                "isGlobal": false,
            })
        }
        EntityKind::CustomModel => json!({
            "id": id,
            "name": name,
            "description": "",
            "customModelType": "inference",
            "targetType": "Binary",
            "targetName": "target",
            "language": "python",
            "trainingDataAssignmentInProgress": false,
            "deploymentsCount": 0,
            "createdBy": creator.username,
            "created": t,
            "updated": t,
            "latestVersion": null,
        }),
        EntityKind::CustomTask => json!({
            "id": id,
            "name": name,
            "description": "",
            "targetType": "Binary",
            "language": "python",
            "createdBy": creator.username,
            "created": t,
            "updated": t,
            "latestVersion": null,
        }),
        EntityKind::ExecutionEnvironment => json!({
            "id": id,
            "name": name,
            "description": "",
            "programmingLanguage": "python",
            "isPublic": false,
            "created": t,
            "username": creator.username,
            "requiredMetadataKeys": [],
            "useCases": [],
        }),
        EntityKind::File => json!({
            "id": id,
            "name": name,
            "type": "files",
            "tags": [],
            "createdAt": t,
            "createdBy": creator.username,
            "description": null,
            "numFiles": 1,
            "fromArchive": false,
        }),
        EntityKind::UserBlueprint => json!({
            // User blueprints have no name on the wire; the entity's name is its model type.
            "userBlueprintId": id,
            "userId": creator.id,
            "modelType": name,
            "blueprintId": format!("bp-{id}"),
            "blender": false,
            "diagram": "{}",
            "features": [],
            "featuresText": "",
            "icons": [0],
            "insights": "NA",
            "supportedTargetTypes": ["binary"],
            "isTimeSeries": false,
            "referenceModel": false,
            "shapSupport": false,
            "supportsGpu": false,
        }),
        _ => extra_entity(st, e, caller),
    }
}

/// `CAN_…` permissions for a caller's level, as the §12 types' items carry them.
fn permissions(level: Role) -> Vec<&'static str> {
    match level {
        Role::Owner => vec!["CAN_VIEW", "CAN_UPDATE", "CAN_SHARE", "CAN_DELETE"],
        Role::Editor => vec!["CAN_VIEW", "CAN_UPDATE", "CAN_SHARE"],
        Role::Consumer => vec!["CAN_VIEW"],
    }
}

/// A user as the Workload API embeds them (`creator`, contract §12.1 X10).
fn creator_obj(u: &UserRec) -> Value {
    json!({"id": u.id, "username": u.username, "email": u.username, "fullName": u.full_name})
}

/// A user as notebooks embed them (`created.by`; the client requires a non-blank
/// `firstName` and `lastName`).
fn notebook_user(u: &UserRec) -> Value {
    let (first, last) = u.first_last();
    let last = if last.is_empty() { first } else { last };
    json!({"id": u.id, "activated": u.active, "username": u.username, "firstName": first, "lastName": last})
}

/// An entity of the §12 types: the fields contract §12 gives, plus what the Python
/// client's classes require of a list item (`tests/fidelity/WIRE_NOTES.md` §12).
fn extra_entity(st: &State, e: &EntityRec, caller: usize) -> Value {
    let creator = &st.users[e.creator];
    let level = caller_role(st, e, caller);
    let (id, name, t) = (e.id.as_str(), e.name.as_str(), e.created.as_str());
    match e.kind {
        EntityKind::Application => json!({
            "id": id,
            "name": name,
            "applicationTypeId": derived_id(id, 0xa1),
            "userId": creator.id,
            "createdBy": creator.username,
            "modelDeploymentId": derived_id(id, 0xa2),
            "createdAt": t,
            "updatedAt": t,
            "datasets": [],
            "cloudProvider": "aws",
            "deploymentIds": [derived_id(id, 0xa2)],
            "permissions": permissions(level),
            "hasCustomLogo": false,
            "orgId": ORG_ID,
            "poolUsed": false,
        }),
        EntityKind::CustomApplication => json!({
            "id": id,
            "name": name,
            "envVersionId": derived_id(id, 0xa3),
            "customApplicationSourceId": derived_id(id, 0xa4),
            "lrsId": derived_id(id, 0xa5),
            "status": "running",
            "userId": creator.id,
            "orgId": ORG_ID,
            "createdBy": creator.username,
            "creatorUserhash": derived_id(&creator.id, 0xee),
            "permissions": permissions(level),
            "createdAt": t,
            "updatedAt": t,
            "applicationUrl": format!("https://apps.acme.test/custom_applications/{id}/"),
            "externalAccessEnabled": false,
            "allowAutoStopping": false,
            // People outside DataRobot invited by e-mail live here, not in the access list.
            "externalAccessRecipients": [],
        }),
        EntityKind::CustomApplicationSource => json!({
            "id": id,
            "name": name,
            "latestVersion": {"id": derived_id(id, 0xa6), "label": "v1", "createdAt": t, "updatedAt": t, "isFrozen": false},
            "userId": creator.id,
            "orgId": ORG_ID,
            "permissions": permissions(level),
            "createdAt": t,
            "updatedAt": t,
            "createdBy": creator.username,
            "creatorUserhash": derived_id(&creator.id, 0xee),
        }),
        // X4: no creator field.
        EntityKind::CustomJob => json!({
            "id": id,
            "name": name,
            "created": t,
            "items": [],
            "description": "",
            "jobType": "default",
        }),
        EntityKind::SecureConfig | EntityKind::NotificationChannelTemplate => json!({
            "id": id,
            "name": name,
            "createdAt": t,
        }),
        EntityKind::NotificationPolicyTemplate => json!({
            "id": id,
            "name": name,
            "relatedEntityType": e.related_type,
            "createdAt": t,
        }),
        EntityKind::ComplianceDocTemplate => json!({
            "id": id,
            "name": name,
            "creatorId": creator.id,
            "creatorUsername": creator.username,
            "orgId": ORG_ID,
            "sections": [],
        }),
        // X9: the predecessor's `owner {id, username}` names the creator.
        EntityKind::ValueTracker => json!({
            "id": id,
            "name": name,
            "stage": "ideation",
            "owner": {"id": creator.id, "username": creator.username},
            "createdAt": t,
        }),
        EntityKind::Workload | EntityKind::Artifact | EntityKind::ArtifactRepository => json!({
            "id": id,
            "name": name,
            "creator": creator_obj(creator),
            "createdAt": t,
        }),
        EntityKind::ModelPackage => json!({
            "id": id,
            "name": name,
            "registeredModelId": e.linked,
            "modelId": derived_id(id, 0xa7),
            "createdAt": t,
        }),
        EntityKind::Notebook => {
            let use_case = e
                .linked
                .as_deref()
                .and_then(|u| st.entity(EntityKind::UseCase, u));
            let perms: Vec<&str> = match level {
                Role::Owner => vec![
                    "CAN_READ",
                    "CAN_UPDATE",
                    "CAN_DELETE",
                    "CAN_SHARE",
                    "CAN_COPY",
                    "CAN_EXECUTE",
                ],
                Role::Editor => vec!["CAN_READ", "CAN_UPDATE", "CAN_COPY", "CAN_EXECUTE"],
                Role::Consumer => vec!["CAN_READ"],
            };
            json!({
                "id": id,
                "name": name,
                "type": "plain",
                "description": null,
                "permissions": perms,
                "tags": [],
                "created": {"at": t, "by": notebook_user(creator)},
                "updated": {"at": t, "by": notebook_user(creator)},
                "lastViewed": {"at": t, "by": notebook_user(creator)},
                "settings": {
                    "showLineNumbers": true,
                    "hideCellTitles": false,
                    "hideCellOutputs": false,
                    "showScrollers": false,
                    "hideCellFooters": false,
                    "highlightWhitespace": false,
                },
                "orgId": ORG_ID,
                "tenantId": TENANT_ID,
                "useCaseId": e.linked,
                "useCaseName": use_case.map(|u| u.name.as_str()),
                "hasSchedule": false,
                "hasEnabledSchedule": false,
            })
        }
        // The 13 are rendered by `entity`.
        _ => json!({"id": id, "name": name}),
    }
}

fn owners_of<'a>(st: &'a State, e: &'a EntityRec) -> impl Iterator<Item = &'a UserRec> + 'a {
    e.access
        .iter()
        .filter(|g| g.role == Role::Owner)
        .map(|g| &st.users[g.user])
}

/// A dataset, file or user blueprint as `catalogItems/` lists it.
pub(crate) fn catalog_item(st: &State, e: &EntityRec) -> Value {
    let creator = &st.users[e.creator];
    let catalog_type = match e.kind {
        EntityKind::File => "files",
        EntityKind::UserBlueprint => "user_blueprint",
        _ => "snapshot_dataset",
    };
    json!({
        "id": e.id,
        "catalogName": e.name,
        "catalogType": catalog_type,
        "description": null,
        "infoCreatorFullName": creator.full_name,
        "infoCreationDate": e.created,
        "lastModificationDate": e.created,
        "lastModifierFullName": creator.full_name,
        "tags": [],
        "numFiles": 1,
        "fromArchive": false,
        "isDataEngineEligible": false,
        "processingState": "COMPLETED",
    })
}

/// The vocabulary an access-list read really uses. The sharedRoles reads of datasets,
/// files, deployments and user blueprints have closed role enums (the official client
/// rejects `READ_WRITE`/`READ_ONLY` there), so they keep their own names whatever the
/// config says; the generic vocabulary applies to every other read.
fn sr_vocab(kind: EntityKind, dialect: DialectKind, vocab: RoleVocabKind) -> RoleVocabKind {
    let closed = matches!(
        kind,
        EntityKind::Dataset | EntityKind::File | EntityKind::Deployment | EntityKind::UserBlueprint
    );
    if dialect == DialectKind::SharedRoles && closed {
        RoleVocabKind::Specific
    } else {
        vocab
    }
}

/// Which role names access-list reads use: the configured vocabulary, and for the §12
/// types optionally the `USER`/`OBSERVER` of their generated texts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Names {
    pub vocab: RoleVocabKind,
    pub observer: bool,
}

impl Names {
    /// The name a read of `kind` in `dialect` gives `level`.
    pub fn of(self, kind: EntityKind, dialect: DialectKind, level: Role) -> &'static str {
        if self.observer && kind.is_extra() {
            return match level {
                Role::Owner => "OWNER",
                Role::Editor => "USER",
                Role::Consumer => "OBSERVER",
            };
        }
        kind.read_role(level, sr_vocab(kind, dialect, self.vocab))
    }
}

/// One access-list entry as the given dialect of the given kind returns it.
pub(crate) fn access_item(
    st: &State,
    kind: EntityKind,
    dialect: DialectKind,
    g: &GrantRec,
    names: Names,
) -> Value {
    let u = &st.users[g.user];
    let role = names.of(kind, dialect, g.role);
    match dialect {
        DialectKind::AccessControl => json!({
            "username": u.username,
            "userId": u.id,
            "role": role,
            "canShare": g.can_share,
            "canUseData": g.can_use_data || g.role == Role::Owner,
        }),
        // The Python client parses these two strictly: exactly these four keys.
        DialectKind::SharedRoles
            if matches!(kind, EntityKind::Deployment | EntityKind::UserBlueprint) =>
        {
            json!({"shareRecipientType": "user", "id": u.id, "name": u.username, "role": role})
        }
        DialectKind::SharedRoles => {
            let mut item = json!({
                "shareRecipientType": "user",
                "id": u.id,
                "name": u.username,
                "role": role,
                "userFullName": u.full_name,
                "canShare": g.can_share,
            });
            if matches!(kind, EntityKind::Dataset | EntityKind::File)
                && let Some(obj) = item.as_object_mut()
            {
                obj.insert(
                    "canUseData".into(),
                    Value::Bool(g.can_use_data || g.role == Role::Owner),
                );
            }
            item
        }
    }
}

/// A group's or an organization's entry (contract C6): `id`, `name`, `role` and
/// `shareRecipientType`, no `username` (in accessControl reads too, whose schema names user
/// fields only), and `canShare` where the kind's sharedRoles items carry it.
pub(crate) fn principal_item(kind: EntityKind, dialect: DialectKind, p: &PrincipalRec) -> Value {
    let mut item = json!({
        "shareRecipientType": p.recipient_type,
        "id": p.id,
        "name": p.name,
        "role": p.role,
    });
    let strict = matches!(kind, EntityKind::Deployment | EntityKind::UserBlueprint);
    if dialect == DialectKind::SharedRoles
        && !strict
        && let Some(obj) = item.as_object_mut()
    {
        obj.insert("canShare".into(), Value::Bool(false));
    }
    item
}

/// A user as `users/` and `users/{id}/` return them.
pub(crate) fn user_item(u: &UserRec) -> Value {
    let (first, last) = u.first_last();
    json!({
        "id": u.id,
        "uid": u.id,
        "username": u.username,
        "email": u.username,
        "firstName": first,
        "lastName": last,
        "fullName": u.full_name,
        "activated": u.active,
        "isActive": u.active,
        "status": if u.active { "active" } else { "deactivated" },
        "orgId": ORG_ID,
        "tenantId": TENANT_ID,
        "isOrgAdmin": u.org_admin,
    })
}

/// The calling user as `account/info/` returns them.
pub(crate) fn account_info(u: &UserRec) -> Value {
    let (first, last) = u.first_last();
    json!({
        "uid": u.id,
        "username": u.username,
        "email": u.username,
        "firstName": first,
        "lastName": last,
        "orgId": ORG_ID,
        "tenantId": TENANT_ID,
        "permissions": {
            "IS_ORG_ADMIN": u.org_admin,
            "CAN_MANAGE_USERS": u.org_admin,
            "CAN_SHARE": true,
        },
    })
}

/// The one organisation every simulated user belongs to.
const ORG_ID: &str = "5f0000000000000000000001";
/// The one tenant every simulated user belongs to.
const TENANT_ID: &str = "5f0000000000000000000002";
