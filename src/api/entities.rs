//! What the client hands back: the calling account, users, and references to entities, read
//! tolerantly from each kind's own list shape (contract §4): ids and names live under
//! different keys per kind (`datasetId`, `userBlueprintId`; `projectName`, `canonicalName`,
//! `label`, `catalogName`, …), unknown keys are ignored everywhere.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::EntityKind;

/// A string field, tolerating numbers (ids) and absence.
pub(crate) fn str_field(item: &Value, key: &str) -> Option<String> {
    match item.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The account the token belongs to (`GET account/info/`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `uid`.
    pub id: String,
    /// The login (`username`, else `email`).
    pub username: String,
    /// `firstName lastName`, when given.
    pub full_name: Option<String>,
    /// `orgId`.
    pub org_id: Option<String>,
    /// `tenantId`.
    pub tenant_id: Option<String>,
    /// The server's `versionString` from `GET version/`.
    pub server_version: String,
    /// Whether the account administers its organisation (`permissions.IS_ORG_ADMIN`, or
    /// `isOrgAdmin`), and so may see and share every entity. `false` when not stated.
    #[serde(default)]
    pub org_admin: bool,
}

impl Account {
    /// The account as a [`User`], for access-list lookups.
    pub fn as_user(&self) -> User {
        User {
            id: self.id.clone(),
            username: self.username.clone(),
            full_name: self.full_name.clone(),
            active: Some(true),
        }
    }
}

/// A DataRobot user.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct User {
    /// The user id (24 hex characters on a real server).
    pub id: String,
    /// The login, an e-mail address.
    pub username: String,
    /// The display name, when the server gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// Whether the account is active; `None` when the server did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// One entity as its list (or `GET`) shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntityRef {
    /// Its kind.
    pub kind: EntityKind,
    /// Its id, the one its sharing endpoints take.
    pub id: String,
    /// Its display name; empty when the list gives none.
    pub name: String,
    /// When it was created, as the server wrote it (`createdAt`, `creationDate`,
    /// `created`, …); `None` when the item says not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The use case it lives in (`useCaseId`), where the item says: how a notebook,
    /// which cannot be shared by itself, moves (contract §12.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_case_id: Option<String>,
}

/// What to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only entities this user owns, as far as the server can filter for it. Datasets,
    /// files and user blueprints use `catalogItems/?ownerUserId=` (which may mean
    /// "created by" on some servers); use cases drop items whose `owners[]` does not name
    /// the user; every other kind is listed whole. A list is never proof of ownership:
    /// confirm from the access list.
    pub owner: Option<User>,
}

/// What a list of one kind held: the entities, and the items that could not be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Every entity listed, each id once, in the server's order.
    pub entities: Vec<EntityRef>,
    /// Items without an id, each described (`item 3: no datasetId`); never silently lost.
    pub unreadable: Vec<String>,
    /// Told of each new entity as its page arrives ([`Client::list_each`]).
    ///
    /// [`Client::list_each`]: super::Client::list_each
    pub(crate) each: OnEntity,
}

/// A listener for entities as they are listed; no part of what a listing is (it compares
/// equal and prints as nothing).
#[derive(Clone, Default)]
pub(crate) struct OnEntity(pub Option<std::sync::Arc<EachFn>>);

/// What [`OnEntity`] calls.
pub(crate) type EachFn = dyn Fn(&EntityRef) + Send + Sync;

impl std::fmt::Debug for OnEntity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnEntity")
    }
}

impl PartialEq for OnEntity {
    fn eq(&self, _: &OnEntity) -> bool {
        true
    }
}

impl Eq for OnEntity {}

impl Listing {
    /// Adds `item` if it is new (its id prefixed `<related>:` when given); an item without
    /// an id is recorded as unreadable. Returns whether an entity was added.
    pub(crate) fn take(
        &mut self,
        kind: EntityKind,
        item: &Value,
        via_catalog: bool,
        related: Option<&str>,
        seen: &mut std::collections::HashSet<String>,
    ) -> bool {
        // An entity listed per related type is `<related>:<id>` to the tool (its routes
        // need both).
        let read = entity_from_item(kind, item, via_catalog).map(|mut e| {
            if let Some(r) = related {
                e.id = format!("{r}:{}", e.id);
            }
            e
        });
        match read {
            Ok(e) if seen.insert(e.id.clone()) => {
                if let Some(each) = &self.each.0 {
                    each(&e);
                }
                self.entities.push(e);
                true
            }
            Ok(_) => false,
            Err(field) => {
                let n = self.entities.len() + self.unreadable.len() + 1;
                self.unreadable.push(format!("item {n}: no {field}"));
                false
            }
        }
    }
}

/// The keys that may hold an item's id and name, most specific first.
pub(crate) fn id_keys(kind: EntityKind, via_catalog: bool) -> &'static [&'static str] {
    if via_catalog {
        return match kind {
            EntityKind::UserBlueprint => &["userBlueprintId", "id"],
            EntityKind::Dataset => &["id", "datasetId", "catalogId"],
            _ => &["id", "catalogId"],
        };
    }
    match kind {
        EntityKind::Dataset => &["datasetId", "id"],
        EntityKind::UserBlueprint => &["userBlueprintId", "id"],
        EntityKind::File => &["id", "catalogId", "fileId"],
        EntityKind::ExecutionEnvironment => &["id", "environmentId"],
        EntityKind::Project => &["id", "projectId"],
        _ => &["id"],
    }
}

/// The keys that may hold an item's display name, most specific first.
pub(crate) fn name_keys(kind: EntityKind, via_catalog: bool) -> &'static [&'static str] {
    if via_catalog {
        return &["catalogName", "name", "originalName"];
    }
    match kind {
        EntityKind::Project => &["projectName", "name"],
        EntityKind::DataSource | EntityKind::DataStore => &["canonicalName", "name"],
        EntityKind::Deployment => &["label", "name"],
        EntityKind::File => &["catalogName", "name", "originalName"],
        EntityKind::UserBlueprint => &["name", "label", "modelType"],
        EntityKind::Dataset => &["name", "catalogName"],
        _ => &["name", "label", "canonicalName"],
    }
}

/// Reads an [`EntityRef`] from an item, or names the missing id key.
pub(crate) fn entity_from_item(
    kind: EntityKind,
    item: &Value,
    via_catalog: bool,
) -> Result<EntityRef, String> {
    let ids = id_keys(kind, via_catalog);
    let id = ids
        .iter()
        .find_map(|k| str_field(item, k).filter(|s| !s.is_empty()))
        .ok_or_else(|| ids[0].to_string())?;
    let name = name_keys(kind, via_catalog)
        .iter()
        .find_map(|k| str_field(item, k).filter(|s| !s.is_empty()))
        .unwrap_or_default();
    // Use cases' `created` is the creator (an object); `str_field` passes it over.
    let created = [
        "createdAt",
        "creationDate",
        "created",
        "infoCreationDate",
        "dateCreated",
    ]
    .iter()
    .find_map(|k| str_field(item, k).filter(|s| !s.is_empty()));
    let use_case_id = str_field(item, "useCaseId").filter(|s| !s.is_empty());
    Ok(EntityRef {
        kind,
        id,
        name,
        created,
        use_case_id,
    })
}

/// Reads a user from a `users/` item. The response fields of `users/` are not documented
/// (contract §9, §10.7), so several spellings are accepted.
pub(crate) fn user_from_item(item: &Value) -> Result<User, String> {
    let id = ["id", "uid", "userId"]
        .iter()
        .find_map(|k| str_field(item, k).filter(|s| !s.is_empty()))
        .ok_or_else(|| "id".to_string())?;
    let username = ["username", "email"]
        .iter()
        .find_map(|k| str_field(item, k).filter(|s| !s.is_empty()))
        .ok_or_else(|| "username".to_string())?;
    Ok(User {
        id,
        username,
        full_name: full_name(item),
        active: active(item),
    })
}

pub(crate) fn full_name(item: &Value) -> Option<String> {
    if let Some(n) = str_field(item, "fullName").filter(|s| !s.trim().is_empty()) {
        return Some(n);
    }
    let first = str_field(item, "firstName").unwrap_or_default();
    let last = str_field(item, "lastName").unwrap_or_default();
    let joined = format!("{} {}", first.trim(), last.trim())
        .trim()
        .to_string();
    (!joined.is_empty()).then_some(joined)
}

/// Whether a `users/` item says the account is active (contract C19: no field is
/// documented). Read from `active`, `isActive`, `enabled`, `deactivated`,
/// `isDeactivated`, `disabled` and `status`; when they disagree, or none is there, the
/// state is unknown. `activated` is never read: it may mean the account finished signing
/// up, which a deactivated account has too (`{"activated": true, "status": "deactivated"}`
/// was read as active), and its `false` may be an invitation not yet taken up rather than
/// a deactivation.
fn active(item: &Value) -> Option<bool> {
    let mut said: Option<bool> = None;
    let mut conflict = false;
    let mut say = |value: bool| match said {
        None => said = Some(value),
        Some(v) if v != value => conflict = true,
        Some(_) => {}
    };
    for key in ["active", "isActive", "enabled"] {
        if let Some(Value::Bool(b)) = item.get(key) {
            say(*b);
        }
    }
    for key in ["deactivated", "isDeactivated", "disabled"] {
        if let Some(Value::Bool(b)) = item.get(key) {
            say(!*b);
        }
    }
    if let Some(status) = str_field(item, "status") {
        match status.to_ascii_lowercase().as_str() {
            "active" | "enabled" => say(true),
            "inactive" | "deactivated" | "disabled" | "suspended" => say(false),
            _ => {}
        }
    }
    if conflict { None } else { said }
}

/// Whether a use-case list item's `owners[]` names `user`; `true` when the item has no
/// `owners` to judge by.
pub(crate) fn owners_include(item: &Value, user: &User) -> bool {
    let Some(Value::Array(owners)) = item.get("owners") else {
        return true;
    };
    owners.iter().any(|o| {
        str_field(o, "id").as_deref() == Some(user.id.as_str())
            || ["username", "email"]
                .iter()
                .any(|k| str_field(o, k).is_some_and(|n| n.eq_ignore_ascii_case(&user.username)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_and_names_come_from_each_kinds_own_keys() {
        let cases = [
            (
                EntityKind::Project,
                false,
                json!({"id":"p1","projectName":"Churn"}),
                "p1",
                "Churn",
            ),
            (
                EntityKind::Dataset,
                false,
                json!({"datasetId":"d1","name":"sales.csv","createdBy":"x"}),
                "d1",
                "sales.csv",
            ),
            (
                EntityKind::Dataset,
                true,
                json!({"id":"d1","catalogName":"sales.csv"}),
                "d1",
                "sales.csv",
            ),
            (
                EntityKind::DataSource,
                false,
                json!({"id":"s1","canonicalName":"pg","creator":"u"}),
                "s1",
                "pg",
            ),
            (
                EntityKind::Deployment,
                false,
                json!({"id":"dep","label":"Prod"}),
                "dep",
                "Prod",
            ),
            (
                EntityKind::File,
                true,
                json!({"id":"f1","catalogName":"docs.zip"}),
                "f1",
                "docs.zip",
            ),
            (
                EntityKind::UserBlueprint,
                false,
                json!({"userBlueprintId":"b1","userId":"u"}),
                "b1",
                "",
            ),
            (
                EntityKind::ExecutionEnvironment,
                false,
                json!({"id":"e1","name":"py"}),
                "e1",
                "py",
            ),
        ];
        for (kind, catalog, item, id, name) in cases {
            let e = entity_from_item(kind, &item, catalog).unwrap();
            assert_eq!((e.id.as_str(), e.name.as_str()), (id, name), "{kind}");
        }
        assert_eq!(
            entity_from_item(EntityKind::Dataset, &json!({"name":"x"}), false).unwrap_err(),
            "datasetId"
        );
    }

    #[test]
    fn users_in_several_spellings() {
        let u = user_from_item(&json!({"id":"u1","username":"a@x","firstName":"Ann","lastName":"Lee","isActive":false})).unwrap();
        assert_eq!(u.full_name.as_deref(), Some("Ann Lee"));
        assert_eq!(u.active, Some(false));
        let u = user_from_item(&json!({"uid":"u2","email":"b@x","status":"active"})).unwrap();
        assert_eq!(
            (u.id.as_str(), u.username.as_str(), u.active),
            ("u2", "b@x", Some(true))
        );
        assert_eq!(
            user_from_item(&json!({"username":"c@x"})).unwrap_err(),
            "id"
        );
    }

    #[test]
    fn activated_alone_is_never_read_as_active() {
        // Contract C19: `activated` may say the account finished sign-up, which a
        // deactivated account did too.
        let state = |item: serde_json::Value| {
            let mut item = item;
            item["id"] = json!("u1");
            item["username"] = json!("a@x");
            user_from_item(&item).unwrap().active
        };
        assert_eq!(state(json!({"activated": true})), None);
        assert_eq!(state(json!({"activated": false})), None);
        assert_eq!(
            state(json!({"activated": true, "status": "deactivated"})),
            Some(false)
        );
        assert_eq!(
            state(json!({"activated": true, "deactivated": true})),
            Some(false)
        );
        assert_eq!(
            state(json!({"activated": true, "isActive": true})),
            Some(true)
        );
        assert_eq!(state(json!({"status": "ACTIVE"})), Some(true));
        // Fields that disagree: unknown, never a guess either way.
        assert_eq!(
            state(json!({"isActive": true, "status": "deactivated"})),
            None
        );
        assert_eq!(state(json!({"enabled": false, "deactivated": false})), None);
    }

    #[test]
    fn use_case_owner_hints() {
        let u = User {
            id: "u1".into(),
            username: "Dep@acme.test".into(),
            full_name: None,
            active: None,
        };
        assert!(owners_include(&json!({"id":"uc"}), &u));
        assert!(owners_include(
            &json!({"owners":[{"id":"zz","email":"dep@acme.test"}]}),
            &u
        ));
        assert!(owners_include(&json!({"owners":[{"id":"u1"}]}), &u));
        assert!(!owners_include(
            &json!({"owners":[{"id":"u2","username":"x@y"}]}),
            &u
        ));
    }
}
