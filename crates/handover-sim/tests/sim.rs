//! Integration tests of the DataRobot simulator: an in-process server on port 0 and reqwest
//! as a plain HTTP client. They pin the wire contract (envelopes, pagination, both dialects,
//! both role vocabularies), the sharing rules R1–R12, auth and visibility, the status
//! variants, and the seeded faults. No test asserts on wall-clock time.

use std::collections::BTreeSet;

use handover_sim::{DialectKind, EntityKind, Role, RoleVocabKind};
use handover_sim::{
    GenSpec, InactiveRevokeKind, RateLimit, Seed, SeedGrant, Sim, SimConfig, SimHandle,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Fixture: seven users and, for every kind, one entity "E" with a full access list and one
// entity "X" that only new@x.test holds.

const ADMIN: &str = "t-admin";
const OWNER: &str = "t-owner";
const EDITOR: &str = "t-editor";
const CONSUMER: &str = "t-consumer";
const NOSHARE: &str = "t-noshare";
const NEW: &str = "t-new";
const GONE: &str = "t-gone";

fn uid(n: u8) -> String {
    format!("aa{n:022x}")
}

fn eid(kind: EntityKind, n: u8) -> String {
    let k = EntityKind::ALL.iter().position(|x| *x == kind).unwrap() as u8 + 1;
    format!("{k:02x}{n:022x}")
}

fn fixture() -> Seed {
    let users = json!([
        {"id": uid(1), "username": "admin@x.test", "fullName": "Ada Admin", "orgAdmin": true, "token": ADMIN},
        {"id": uid(2), "username": "owner@x.test", "fullName": "Olga Owner", "token": OWNER},
        {"id": uid(3), "username": "editor@x.test", "fullName": "Ed Editor", "token": EDITOR},
        {"id": uid(4), "username": "consumer@x.test", "fullName": "Con Sumer", "token": CONSUMER},
        {"id": uid(5), "username": "noshare@x.test", "fullName": "No Share", "token": NOSHARE},
        {"id": uid(6), "username": "new@x.test", "fullName": "Nils New", "token": NEW},
        {"id": uid(7), "username": "gone@x.test", "fullName": "Gone Away", "active": false, "token": GONE},
    ]);
    let mut entities = Vec::new();
    for kind in EntityKind::ALL {
        entities.push(json!({
            "kind": kind, "id": eid(kind, 1), "name": format!("{} E", kind.as_str()),
            "access": [
                {"username": "owner@x.test", "role": "OWNER"},
                {"username": "editor@x.test", "role": "EDITOR"},
                {"username": "consumer@x.test", "role": "CONSUMER"},
                {"username": "noshare@x.test", "role": "EDITOR", "canShare": false},
                {"username": "gone@x.test", "role": "CONSUMER"},
            ]
        }));
        entities.push(json!({
            "kind": kind, "id": eid(kind, 2), "name": format!("{} X", kind.as_str()),
            "access": [{"username": "new@x.test", "role": "OWNER"}]
        }));
    }
    serde_json::from_value(json!({"users": users, "entities": entities})).unwrap()
}

struct T {
    sim: SimHandle,
    http: reqwest::Client,
}

async fn start(config: SimConfig) -> T {
    start_with(fixture(), config).await
}

async fn start_with(seed: Seed, config: SimConfig) -> T {
    let sim = Sim::start("127.0.0.1:0".parse().unwrap(), seed, config).unwrap();
    T {
        sim,
        http: reqwest::Client::new(),
    }
}

/// An answer: status, the exact Content-Type, the parsed body (Null when empty).
struct Answer {
    status: u16,
    content_type: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

impl T {
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}/{path}", self.sim.endpoint())
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request failed");
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let content_type = header("content-type");
        let retry_after = header("retry-after");
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("body is not JSON")
        };
        Answer {
            status,
            content_type,
            retry_after,
            body,
        }
    }

    async fn get(&self, token: &str, path: &str) -> Answer {
        self.send(
            self.http
                .get(self.url(path))
                .header("Authorization", format!("Token {token}")),
        )
        .await
    }

    async fn patch(&self, token: &str, path: &str, body: Value) -> Answer {
        self.send(
            self.http
                .patch(self.url(path))
                .header("Authorization", format!("Token {token}"))
                .json(&body),
        )
        .await
    }

    /// The normalised role of `username` on an entity, from the simulator's state.
    fn role(&self, kind: EntityKind, id: &str, username: &str) -> Option<Role> {
        self.sim.state().role_of(kind, id, username)
    }
}

/// A kind's collection path without its trailing slash: notification policy templates
/// under `deployment` (the fixture's related entity type, the default).
fn base(kind: EntityKind) -> String {
    if kind.facts().related_segment {
        format!("{}/deployment", kind.collection())
    } else {
        kind.collection().to_string()
    }
}

/// A kind's list path (no trailing slash on the Workload API).
fn list_path(kind: EntityKind) -> String {
    format!("{}{}", base(kind), kind.slash())
}

/// A kind's get-one path.
fn one_path(kind: EntityKind, id: &str) -> String {
    format!("{}/{id}{}", base(kind), kind.slash())
}

fn access_path(kind: EntityKind, id: &str, dialect: DialectKind) -> String {
    let seg = match dialect {
        DialectKind::AccessControl => "accessControl",
        DialectKind::SharedRoles => "sharedRoles",
    };
    format!("{}/{id}/{seg}{}", base(kind), kind.slash())
}

/// The kinds whose access lists can be written with set semantics by default: every one
/// but the read-only two and the Workload API's three (which replace).
fn set_kinds() -> impl Iterator<Item = EntityKind> {
    EntityKind::ALL
        .into_iter()
        .filter(|k| k.writable() && !k.facts().replace_by_default)
}

/// A share body in the kind's own dialect: `(username, role or None to revoke)` pairs.
fn share_body(kind: EntityKind, changes: &[(&str, Option<Role>)]) -> Value {
    match kind.dialect() {
        DialectKind::AccessControl => {
            let entries: Vec<Value> = changes
                .iter()
                .map(|(u, r)| json!({"username": u, "role": r.map(|r| kind.wire_role(r))}))
                .collect();
            json!({ kind.ac_body_key(): entries })
        }
        DialectKind::SharedRoles => {
            let key = match kind {
                EntityKind::Dataset | EntityKind::File => "name",
                _ => "username",
            };
            let roles: Vec<Value> = changes
                .iter()
                .map(|(u, r)| {
                    json!({"shareRecipientType": "user", key: u,
                           "role": r.map_or("NO_ROLE", |r| kind.wire_role(r))})
                })
                .collect();
            json!({"operation": "updateRoles", "roles": roles})
        }
    }
}

fn own_path(kind: EntityKind) -> String {
    access_path(kind, &eid(kind, 1), kind.dialect())
}

fn assert_error(a: &Answer, status: u16, fragment: &str) {
    assert_eq!(a.status, status, "body: {}", a.body);
    assert_eq!(a.content_type.as_deref(), Some("application/json"));
    let msg = a.body["message"].as_str().expect("error without message");
    assert!(msg.contains(fragment), "message {msg:?} lacks {fragment:?}");
}

// ---------------------------------------------------------------------------------------
// Handshake, auth, paths

#[tokio::test]
async fn version_and_account_info() {
    let t = start(SimConfig::default()).await;
    let a = t.get(OWNER, "version/").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        a.body,
        json!({"major": 2, "minor": 49, "versionString": "2.49.0"})
    );
    let a = t.get(OWNER, "account/info/").await;
    assert_eq!(a.body["uid"], uid(2));
    assert_eq!(a.body["email"], "owner@x.test");
    assert_eq!(a.body["firstName"], "Olga");
    assert_eq!(a.body["lastName"], "Owner");
    for key in ["orgId", "tenantId", "permissions"] {
        assert!(!a.body[key].is_null(), "{key} missing");
    }
}

#[tokio::test]
async fn auth_accepts_token_and_bearer_and_refuses_the_rest() {
    let t = start(SimConfig::default()).await;
    let url = t.url("version/");
    let ok = t
        .send(
            t.http
                .get(&url)
                .header("Authorization", format!("Bearer {OWNER}")),
        )
        .await;
    assert_eq!(ok.status, 200);
    let missing = t.send(t.http.get(&url)).await;
    assert_error(&missing, 401, "");
    let unknown = t.get("nope", "version/").await;
    assert_error(&unknown, 401, "Invalid API token");
    let basic = t
        .send(
            t.http
                .get(&url)
                .header("Authorization", format!("Basic {OWNER}")),
        )
        .await;
    assert_eq!(basic.status, 401);
    // Inactive users exist but cannot authenticate.
    assert_error(&t.get(GONE, "version/").await, 401, "");
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let t = start(SimConfig::default()).await;
    assert_error(&t.get(OWNER, "projects").await, 404, "");
    assert_error(&t.get(OWNER, "widgets/").await, 404, "");
    assert_error(&t.get(OWNER, "projects/x/y/z/w/").await, 404, "");
    let root = t
        .send(t.http.get(format!("{}/nothing", t.sim.root())))
        .await;
    assert_eq!(root.status, 404);
    assert_eq!(root.content_type.as_deref(), Some("application/json"));
    let del = t
        .send(
            t.http
                .delete(t.url("projects/"))
                .header("Authorization", format!("Token {OWNER}")),
        )
        .await;
    assert_error(&del, 405, "");
    // Files have no list of their own.
    assert_error(&t.get(ADMIN, "files/").await, 404, "catalogItems");
}

// ---------------------------------------------------------------------------------------
// Envelopes, items, pagination

#[tokio::test]
async fn each_kind_lists_in_its_own_envelope() {
    let t = start(SimConfig::default()).await;
    for kind in EntityKind::ALL {
        if kind == EntityKind::File {
            continue;
        }
        let a = t.get(ADMIN, &list_path(kind)).await;
        assert_eq!(a.status, 200, "{kind}");
        // Use cases: only those the caller is a member of, unless asked for the
        // organization's (contract C4); the admin is a member of none.
        let a = if kind == EntityKind::UseCase {
            assert_eq!(a.body["totalCount"], 0, "{kind}");
            t.get(ADMIN, "useCases/?showOrgUseCases=true").await
        } else {
            a
        };
        let items = match kind {
            EntityKind::Project => a.body.as_array().expect("projects: bare array").clone(),
            EntityKind::DataSource | EntityKind::DataStore => {
                assert!(a.body.get("next").is_none(), "{kind}: data-only envelope");
                a.body["data"].as_array().unwrap().clone()
            }
            _ => {
                for key in ["count", "next", "previous", "data", "totalCount"] {
                    assert!(a.body.get(key).is_some(), "{kind}: {key} missing");
                }
                assert_eq!(a.body["totalCount"], 2, "{kind}");
                a.body["data"].as_array().unwrap().clone()
            }
        };
        assert_eq!(items.len(), 2, "{kind}");
        let id_key = match kind {
            EntityKind::Dataset => "datasetId",
            EntityKind::UserBlueprint => "userBlueprintId",
            _ => "id",
        };
        let ids: BTreeSet<&str> = items.iter().map(|i| i[id_key].as_str().unwrap()).collect();
        assert!(ids.contains(eid(kind, 1).as_str()), "{kind}");
        // Get-one agrees with the list item.
        let one = t.get(ADMIN, &one_path(kind, &eid(kind, 1))).await;
        assert_eq!(one.status, 200, "{kind}");
        assert_eq!(one.body[id_key], eid(kind, 1), "{kind}");
    }
    // Files: catalogItems, and catalogItems/{id}/ for the one.
    let a = t.get(ADMIN, "catalogItems/?type=files").await;
    assert_eq!(a.body["totalCount"], 2);
    assert_eq!(a.body["data"][0]["catalogName"], "file E");
    let one = t
        .get(
            ADMIN,
            &format!("catalogItems/{}/", eid(EntityKind::File, 1)),
        )
        .await;
    assert_eq!(one.body["name"], "file E");
    assert_eq!(one.body["createdBy"], "owner@x.test");
}

#[tokio::test]
async fn list_items_carry_owner_hints() {
    let t = start(SimConfig::default()).await;
    let dep = t
        .get(
            OWNER,
            &format!("deployments/{}/", eid(EntityKind::Deployment, 1)),
        )
        .await;
    assert_eq!(dep.body["label"], "deployment E");
    assert_eq!(dep.body["owners"]["count"], 1);
    assert_eq!(dep.body["owners"]["preview"][0]["id"], uid(2));
    assert_eq!(dep.body["creator"]["id"], uid(2));
    let uc = t
        .get(OWNER, &format!("useCases/{}/", eid(EntityKind::UseCase, 1)))
        .await;
    assert_eq!(uc.body["owners"][0]["username"], "owner@x.test");
    assert_eq!(uc.body["members"].as_array().unwrap().len(), 5);
    let ds = t.get(EDITOR, "externalDataSources/").await;
    let item = &ds.body["data"][0];
    assert_eq!(item["creator"], uid(2));
    assert_eq!(item["role"], "EDITOR");
    let ub = t.get(OWNER, "userBlueprints/").await;
    assert_eq!(ub.body["data"][0]["userId"], uid(2));
    assert_eq!(ub.body["data"][0]["modelType"], "user_blueprint E");
    let dataset = t.get(OWNER, "datasets/").await;
    assert_eq!(dataset.body["data"][0]["createdBy"], "owner@x.test");
}

#[tokio::test]
async fn pagination_follows_absolute_next_links() {
    let seed = Seed::generate(&GenSpec::uniform(3, 7));
    let admin = seed.token_of("admin@acme.test").unwrap();
    let cfg = SimConfig {
        list_page_default: 3,
        list_page_max: 4,
        acl_page_default: 2,
        acl_page_max: 2,
        ..SimConfig::default()
    };
    let t = start_with(seed, cfg).await;
    let state = t.sim.state();
    let want: Vec<&str> = state
        .entities
        .iter()
        .filter(|e| e.kind == EntityKind::Deployment)
        .map(|e| e.id.as_str())
        .collect();
    assert!(want.len() > 7);
    // In creation order; the default is the last prediction, newest first (contract C3).
    let mut url = t.url("deployments/?orderBy=createdAtTimestamp");
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let a = t.get(&admin, &url).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body["totalCount"], want.len());
        let data = a.body["data"].as_array().unwrap();
        assert_eq!(a.body["count"], data.len());
        assert!(data.len() <= 3);
        got.extend(data.iter().map(|d| d["id"].as_str().unwrap().to_string()));
        pages += 1;
        match a.body["next"].as_str() {
            None => break,
            Some(next) => {
                assert!(
                    next.starts_with(&format!("{}/deployments/?", t.sim.endpoint())),
                    "{next}"
                );
                url = next.to_string();
            }
        }
    }
    assert_eq!(got, want);
    assert_eq!(pages, want.len().div_ceil(3));
    let a = t.get(&admin, "deployments/?limit=3").await;
    let newest: Vec<&str> = a.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    let last_three: Vec<&str> = want.iter().rev().take(3).copied().collect();
    assert_eq!(newest, last_three);
    // A limit above the cap is cut; previous points back; an offset past the end is empty.
    let a = t.get(&admin, "deployments/?offset=4&limit=50").await;
    assert_eq!(a.body["count"], 4);
    assert!(a.body["previous"].as_str().unwrap().contains("offset=0"));
    let a = t.get(&admin, "deployments/?offset=999").await;
    assert_eq!(a.body["count"], 0);
    assert!(a.body["next"].is_null());
    // Access lists page too (at most 2 per page here).
    let dep = &want[0];
    let a = t
        .get(&admin, &format!("deployments/{dep}/sharedRoles/"))
        .await;
    let total = a.body["totalCount"].as_u64().unwrap() as usize;
    let mut seen = a.body["data"].as_array().unwrap().len();
    let mut next = a.body["next"].as_str().map(str::to_string);
    while let Some(n) = next {
        let a = t.get(&admin, &n).await;
        seen += a.body["data"].as_array().unwrap().len();
        next = a.body["next"].as_str().map(str::to_string);
    }
    assert_eq!(seen, total);
    assert_eq!(
        total,
        state.access(EntityKind::Deployment, dep).unwrap().len()
    );
    // Bad numbers are validation errors.
    assert_error(&t.get(&admin, "deployments/?limit=x").await, 422, "limit");
}

#[tokio::test]
async fn next_links_use_the_host_header() {
    let t = start(SimConfig {
        list_page_default: 1,
        ..SimConfig::default()
    })
    .await;
    let a = t
        .send(
            t.http
                .get(t.url("calendars/"))
                .header("Authorization", format!("Token {ADMIN}"))
                .header("Host", "dr.example.test:8443"),
        )
        .await;
    let next = a.body["next"].as_str().unwrap();
    assert!(
        next.starts_with("http://dr.example.test:8443/api/v2/calendars/?"),
        "{next}"
    );
    assert!(
        next.contains("offset=1") && next.contains("limit=1"),
        "{next}"
    );
}

#[tokio::test]
async fn catalog_items_filter_by_owner_type_and_access() {
    let seed = Seed::generate(&GenSpec::uniform(5, 4));
    let admin = seed.token_of("admin@acme.test").unwrap();
    let departing_id = seed
        .users
        .iter()
        .find(|u| u.username == "departing@acme.test")
        .unwrap()
        .id
        .clone();
    let t = start_with(seed, SimConfig::default()).await;
    for (ty, kind) in [
        ("dataset", EntityKind::Dataset),
        ("files", EntityKind::File),
        ("user_blueprint", EntityKind::UserBlueprint),
    ] {
        let want: BTreeSet<String> = t
            .sim
            .state()
            .held_by(kind, "departing@acme.test", Role::Owner)
            .iter()
            .map(|e| e.id.clone())
            .collect();
        assert_eq!(want.len(), 4);
        for filter in [
            format!("ownerUserId={departing_id}"),
            "ownerUsername=departing@acme.test".to_string(),
        ] {
            let a = t
                .get(&admin, &format!("catalogItems/?type={ty}&{filter}&limit=0"))
                .await;
            let got: BTreeSet<String> = a.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, want, "{ty} {filter}");
        }
    }
    // accessType=owned is relative to the caller.
    let departing = "sim-token-departing@acme.test";
    let a = t
        .get(
            departing,
            "catalogItems/?type=files&accessType=owned&limit=0",
        )
        .await;
    assert_eq!(a.body["totalCount"], 4);
    assert_error(
        &t.get(&admin, "catalogItems/?type=widgets").await,
        422,
        "type",
    );
}

#[tokio::test]
async fn query_booleans_take_both_spellings() {
    let t = start(SimConfig::default()).await;
    for v in ["true", "True", "false", "False"] {
        let a = t.get(OWNER, &format!("datasets/?filterFailed={v}")).await;
        assert_eq!(a.status, 200, "{v}");
    }
    let a = t.get(NEW, "executionEnvironments/?isOwn=True").await;
    assert_eq!(a.body["totalCount"], 1);
    assert_error(
        &t.get(OWNER, "datasets/?filterFailed=yes").await,
        422,
        "filterFailed",
    );
}

// ---------------------------------------------------------------------------------------
// Access-list reads and role vocabularies

#[tokio::test]
async fn access_lists_read_in_both_dialects_with_filters() {
    let t = start(SimConfig::default()).await;
    let p = eid(EntityKind::Project, 1);
    let a = t.get(OWNER, &format!("projects/{p}/accessControl/")).await;
    assert_eq!(a.body["totalCount"], 5);
    let first = &a.body["data"][0];
    assert_eq!(
        *first,
        json!({"username": "owner@x.test", "userId": uid(2), "role": "OWNER", "canShare": true, "canUseData": true})
    );
    let a = t
        .get(
            OWNER,
            &format!("projects/{p}/accessControl/?username=editor@x.test"),
        )
        .await;
    assert_eq!(a.body["data"][0]["role"], "USER");
    assert_eq!(a.body["count"], 1);
    let a = t
        .get(
            OWNER,
            &format!("projects/{p}/accessControl/?userId={}", uid(5)),
        )
        .await;
    assert_eq!(a.body["data"][0]["canShare"], false);
    // sharedRoles: deployments give exactly four keys.
    let d = eid(EntityKind::Deployment, 1);
    let a = t
        .get(
            OWNER,
            &format!("deployments/{d}/sharedRoles/?id={}", uid(3)),
        )
        .await;
    assert_eq!(
        a.body["data"][0],
        json!({"shareRecipientType": "user", "id": uid(3), "name": "editor@x.test", "role": "USER"})
    );
    // Catalog kinds carry canShare and canUseData.
    let f = eid(EntityKind::File, 1);
    let a = t
        .get(
            OWNER,
            &format!("files/{f}/sharedRoles/?name=noshare@x.test"),
        )
        .await;
    let item = &a.body["data"][0];
    assert_eq!(item["role"], "EDITOR");
    assert_eq!(item["canShare"], false);
    assert_eq!(item["canUseData"], true);
    // Both dialects where the spec has both; only one where it has one.
    for (kind, dialect, served) in [
        (EntityKind::Dataset, DialectKind::AccessControl, true),
        (EntityKind::DataSource, DialectKind::SharedRoles, true),
        (EntityKind::DataStore, DialectKind::AccessControl, true),
        (EntityKind::Project, DialectKind::SharedRoles, false),
        (EntityKind::Deployment, DialectKind::AccessControl, false),
    ] {
        let a = t
            .get(OWNER, &access_path(kind, &eid(kind, 1), dialect))
            .await;
        assert_eq!(a.status == 200, served, "{kind} {dialect:?}");
    }
}

/// The role editor@x.test has on a kind's "E", as its access list reads it.
async fn editor_role(t: &T, kind: EntityKind, dialect: DialectKind) -> String {
    let filter = match dialect {
        DialectKind::AccessControl => "username=editor@x.test",
        DialectKind::SharedRoles => "name=editor@x.test",
    };
    let path = format!("{}?{filter}", access_path(kind, &eid(kind, 1), dialect));
    t.get(OWNER, &path).await.body["data"][0]["role"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn role_vocabularies_specific_and_generic() {
    let t = start(SimConfig::default()).await;
    for (kind, want) in [
        (EntityKind::Project, "USER"),
        (EntityKind::Calendar, "READ_WRITE"),
        (EntityKind::DataSource, "EDITOR"),
        (EntityKind::CustomModel, "USER"),
        (EntityKind::UseCase, "EDITOR"),
        (EntityKind::RegisteredModel, "USER"),
    ] {
        assert_eq!(editor_role(&t, kind, kind.dialect()).await, want, "{kind}");
    }
    let t = start(SimConfig {
        role_vocab: RoleVocabKind::Generic,
        ..SimConfig::default()
    })
    .await;
    for kind in [
        EntityKind::Project,
        EntityKind::DataSource,
        EntityKind::UseCase,
    ] {
        assert_eq!(
            editor_role(&t, kind, kind.dialect()).await,
            "READ_WRITE",
            "{kind}"
        );
    }
    let p = eid(EntityKind::Project, 1);
    let a = t
        .get(
            OWNER,
            &format!("projects/{p}/accessControl/?username=consumer@x.test"),
        )
        .await;
    assert_eq!(a.body["data"][0]["role"], "READ_ONLY");
    // Closed enums keep their names: deployments and catalog sharedRoles.
    assert_eq!(
        editor_role(&t, EntityKind::Deployment, DialectKind::SharedRoles).await,
        "USER"
    );
    assert_eq!(
        editor_role(&t, EntityKind::Dataset, DialectKind::SharedRoles).await,
        "EDITOR"
    );
    // The caller's role in list items follows the vocabulary.
    let a = t.get(EDITOR, "calendars/").await;
    assert_eq!(a.body["data"][0]["role"], "READ_WRITE");
}

// ---------------------------------------------------------------------------------------
// Writes in both dialects

#[tokio::test]
async fn every_kind_transfers_in_its_own_dialect() {
    let t = start(SimConfig::default()).await;
    for kind in EntityKind::ALL.into_iter().filter(|k| k.writable()) {
        let id = eid(kind, 1);
        let body = share_body(
            kind,
            &[("new@x.test", Some(Role::Owner)), ("owner@x.test", None)],
        );
        let a = t.patch(OWNER, &own_path(kind), body).await;
        assert_eq!(a.status, 204, "{kind}: {}", a.body);
        assert!(a.content_type.is_none(), "{kind}: 204 has no body");
        assert_eq!(t.role(kind, &id, "new@x.test"), Some(Role::Owner), "{kind}");
        assert_eq!(t.role(kind, &id, "owner@x.test"), None, "{kind}");
        // The old owner lost access altogether.
        let a = t.get(OWNER, &one_path(kind, &id)).await;
        let path_status = if kind == EntityKind::File {
            404
        } else {
            a.status
        };
        assert_eq!(path_status, 404, "{kind}");
        assert_eq!(t.sim.stats().writes_to(kind, &id), 1, "{kind}");
    }
}

#[tokio::test]
async fn access_control_writes() {
    let t = start(SimConfig::default()).await;
    let p = eid(EntityKind::Project, 1);
    let path = format!("projects/{p}/accessControl/");
    // Upsert with canShare, generic role names accepted.
    let a = t
        .patch(
            OWNER,
            &path,
            json!({"data": [{"username": "new@x.test", "role": "READ_WRITE", "canShare": false}]}),
        )
        .await;
    assert_eq!(a.status, 204);
    let g = t.sim.state();
    let grant = g
        .access(EntityKind::Project, &p)
        .unwrap()
        .iter()
        .find(|g| g.username == "new@x.test")
        .unwrap()
        .clone();
    assert_eq!(grant.role, Role::Editor);
    assert!(!grant.can_share);
    // role null revokes; the key must be there.
    let a = t
        .patch(
            OWNER,
            &path,
            json!({"data": [{"username": "new@x.test", "role": null}]}),
        )
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(t.role(EntityKind::Project, &p, "new@x.test"), None);
    let a = t
        .patch(OWNER, &path, json!({"data": [{"username": "new@x.test"}]}))
        .await;
    assert_error(&a, 422, "role");
    assert!(a.body["errors"]["data.0.role"].is_string());
    // Calendars take `users`, not `data`.
    let c = eid(EntityKind::Calendar, 1);
    let cpath = format!("calendars/{c}/accessControl/");
    let a = t
        .patch(
            OWNER,
            &cpath,
            json!({"data": [{"username": "new@x.test", "role": "READ_ONLY"}]}),
        )
        .await;
    assert_error(&a, 422, "users");
    assert!(a.body["errors"]["users"].is_string());
    let a = t
        .patch(
            OWNER,
            &cpath,
            json!({"users": [{"username": "new@x.test", "role": "READ_ONLY"}]}),
        )
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(
        t.role(EntityKind::Calendar, &c, "new@x.test"),
        Some(Role::Consumer)
    );
    // Datasets and data stores take accessControl writes too.
    for kind in [EntityKind::Dataset, EntityKind::DataStore] {
        let path = access_path(kind, &eid(kind, 1), DialectKind::AccessControl);
        let body = json!({"data": [{"username": "new@x.test", "role": "CONSUMER"}], "applyGrantToLinkedObjects": false});
        assert_eq!(t.patch(OWNER, &path, body).await.status, 204, "{kind}");
        assert_eq!(
            t.role(kind, &eid(kind, 1), "new@x.test"),
            Some(Role::Consumer)
        );
    }
}

#[tokio::test]
async fn shared_roles_writes() {
    let t = start(SimConfig::default()).await;
    let d = eid(EntityKind::Deployment, 1);
    let path = format!("deployments/{d}/sharedRoles/");
    // By id, by username; NO_ROLE revokes; canShare stored.
    let body = json!({"operation": "updateRoles", "roles": [
        {"shareRecipientType": "user", "id": uid(6), "role": "OWNER", "canShare": false},
        {"shareRecipientType": "user", "username": "consumer@x.test", "role": "NO_ROLE"},
    ]});
    assert_eq!(t.patch(OWNER, &path, body).await.status, 204);
    assert_eq!(
        t.role(EntityKind::Deployment, &d, "new@x.test"),
        Some(Role::Owner)
    );
    assert_eq!(t.role(EntityKind::Deployment, &d, "consumer@x.test"), None);
    // Set semantics: repeating the same grant is a no-op that succeeds.
    let body = json!({"operation": "updateRoles", "roles": [{"id": uid(6), "role": "OWNER"}]});
    assert_eq!(t.patch(OWNER, &path, body).await.status, 204);
    // Catalog kinds name recipients by `name`.
    let f = eid(EntityKind::File, 1);
    let body = json!({"operation": "updateRoles", "applyGrantToLinkedObjects": false, "roles": [
        {"shareRecipientType": "user", "name": "new@x.test", "role": "CONSUMER", "canShare": false, "canUseData": true},
    ]});
    assert_eq!(
        t.patch(OWNER, &format!("files/{f}/sharedRoles/"), body)
            .await
            .status,
        204
    );
    assert_eq!(
        t.role(EntityKind::File, &f, "new@x.test"),
        Some(Role::Consumer)
    );
    // The data source takes sharedRoles writes too.
    let s = eid(EntityKind::DataSource, 1);
    let body = json!({"operation": "updateRoles", "roles": [{"shareRecipientType": "user", "username": "new@x.test", "role": "EDITOR"}]});
    let a = t
        .patch(
            OWNER,
            &format!("externalDataSources/{s}/sharedRoles/"),
            body,
        )
        .await;
    assert_eq!(a.status, 204);
    // Validation: operation, recipients, types.
    let a = t
        .patch(
            OWNER,
            &path,
            json!({"roles": [{"id": uid(6), "role": "OWNER"}]}),
        )
        .await;
    assert_error(&a, 422, "operation");
    let a = t
        .patch(
            OWNER,
            &path,
            json!({"operation": "addRoles", "roles": [{"id": uid(6), "role": "OWNER"}]}),
        )
        .await;
    assert!(a.body["errors"]["operation"].is_string());
    let a = t
        .patch(
            OWNER,
            &path,
            json!({"operation": "updateRoles", "roles": [{"role": "OWNER"}]}),
        )
        .await;
    assert_error(&a, 422, "id");
    let a = t
        .patch(OWNER, &path, json!({"operation": "updateRoles", "roles": [{"shareRecipientType": "robot", "id": uid(6), "role": "OWNER"}]}))
        .await;
    assert!(a.body["errors"]["roles.0.shareRecipientType"].is_string());
}

// ---------------------------------------------------------------------------------------
// Rules R1–R12

#[tokio::test]
async fn r1_last_owner_refused_whole_with_409_or_422() {
    for status in [409, 422] {
        let t = start(SimConfig {
            last_owner_status: status,
            ..SimConfig::default()
        })
        .await;
        for kind in set_kinds() {
            let before = t.sim.state();
            // The grant to new@ would be fine; the revoke of the only owner is not.
            let body = share_body(
                kind,
                &[("new@x.test", Some(Role::Editor)), ("owner@x.test", None)],
            );
            let a = t.patch(OWNER, &own_path(kind), body).await;
            assert_error(&a, status, "last owner");
            let body = share_body(kind, &[("owner@x.test", Some(Role::Consumer))]);
            assert_error(
                &t.patch(ADMIN, &own_path(kind), body).await,
                status,
                "OWNER",
            );
            assert_eq!(
                t.sim.state(),
                before,
                "{kind}: refused request changed state"
            );
        }
        assert!(t.sim.stats().ownerless.is_empty());
    }
}

#[tokio::test]
async fn r2_duplicate_recipient() {
    let t = start(SimConfig::default()).await;
    let p = eid(EntityKind::Project, 1);
    let body = json!({"data": [
        {"username": "new@x.test", "role": "CONSUMER"},
        {"username": "NEW@x.test", "role": null},
    ]});
    let a = t
        .patch(OWNER, &format!("projects/{p}/accessControl/"), body)
        .await;
    assert_error(&a, 422, "Multiple changes were specified for a single user");
    // The same user by id and by username is a duplicate too.
    let d = eid(EntityKind::Deployment, 1);
    let body = json!({"operation": "updateRoles", "roles": [
        {"id": uid(6), "role": "CONSUMER"}, {"username": "new@x.test", "role": "USER"},
    ]});
    let a = t
        .patch(OWNER, &format!("deployments/{d}/sharedRoles/"), body)
        .await;
    assert_error(&a, 422, "Multiple changes were specified for a single user");
    assert_eq!(t.role(EntityKind::Deployment, &d, "new@x.test"), None);
}

#[tokio::test]
async fn r3_unknown_users_named() {
    let t = start(SimConfig::default()).await;
    let body = share_body(
        EntityKind::UseCase,
        &[
            ("ghost@x.test", Some(Role::Consumer)),
            ("new@x.test", Some(Role::Consumer)),
            ("spook@x.test", None),
        ],
    );
    let a = t.patch(OWNER, &own_path(EntityKind::UseCase), body).await;
    assert_error(
        &a,
        422,
        "The following users were not found: ghost@x.test, spook@x.test",
    );
    assert_eq!(
        t.role(
            EntityKind::UseCase,
            &eid(EntityKind::UseCase, 1),
            "new@x.test"
        ),
        None
    );
    let d = eid(EntityKind::Deployment, 1);
    let body = json!({"operation": "updateRoles", "roles": [{"id": "ffffffffffffffffffffffff", "role": "USER"}]});
    let a = t
        .patch(OWNER, &format!("deployments/{d}/sharedRoles/"), body)
        .await;
    assert_error(&a, 422, "ffffffffffffffffffffffff");
}

#[tokio::test]
async fn r4_inactive_users_cannot_receive_but_can_lose_access() {
    let t = start(SimConfig::default()).await;
    let kind = EntityKind::CustomTask;
    let id = eid(kind, 1);
    let body = share_body(kind, &[("gone@x.test", Some(Role::Editor))]);
    assert_error(
        &t.patch(OWNER, &own_path(kind), body).await,
        422,
        "gone@x.test",
    );
    assert_eq!(t.role(kind, &id, "gone@x.test"), Some(Role::Consumer));
    let body = share_body(kind, &[("gone@x.test", None)]);
    assert_eq!(t.patch(OWNER, &own_path(kind), body).await.status, 204);
    assert_eq!(t.role(kind, &id, "gone@x.test"), None);
    // Deactivating behind the tool's back takes effect at once.
    t.sim.set_active("new@x.test", false).unwrap();
    let body = share_body(kind, &[("new@x.test", Some(Role::Owner))]);
    assert_eq!(t.patch(OWNER, &own_path(kind), body).await.status, 422);
    assert_eq!(t.get(NEW, "version/").await.status, 401);
}

/// Contract §11: whether a share may revoke an inactive user is not documented. With
/// `inactive_revoke: refuse` a request that removes one's access is refused whole, with
/// the configured status and a message naming them; everything else about R4 is as before.
#[tokio::test]
async fn an_inactive_users_revoke_is_refused_whole_when_configured() {
    for status in [422, 400, 409] {
        let t = start(SimConfig {
            inactive_revoke: InactiveRevokeKind::Refuse,
            inactive_revoke_status: status,
            ..SimConfig::default()
        })
        .await;
        for kind in set_kinds() {
            let id = eid(kind, 1);
            let path = own_path(kind);
            // The grant to an active user goes with it: refused whole, nothing applied.
            let body = share_body(
                kind,
                &[("new@x.test", Some(Role::Owner)), ("gone@x.test", None)],
            );
            let a = t.patch(ADMIN, &path, body).await;
            assert_error(&a, status, "gone@x.test");
            assert_eq!(
                t.role(kind, &id, "gone@x.test"),
                Some(Role::Consumer),
                "{kind}"
            );
            assert_eq!(t.role(kind, &id, "new@x.test"), None, "{kind}");
            // Without the revoke it goes through, and the inactive user keeps their role.
            let body = share_body(kind, &[("new@x.test", Some(Role::Owner))]);
            assert_eq!(t.patch(ADMIN, &path, body).await.status, 204, "{kind}");
            assert_eq!(t.role(kind, &id, "gone@x.test"), Some(Role::Consumer));
            // A lower role is a grant: refused by R4 (422) whatever the knob says.
            let body = share_body(kind, &[("gone@x.test", Some(Role::Consumer))]);
            assert_error(&t.patch(ADMIN, &path, body).await, 422, "gone@x.test");
            // Revoking an inactive user who holds nothing there changes nothing (R8).
            let other = access_path(kind, &eid(kind, 2), kind.dialect());
            let body = share_body(kind, &[("gone@x.test", None)]);
            assert_eq!(t.patch(ADMIN, &other, body).await.status, 204, "{kind}");
        }
        assert_eq!(t.sim.stats().ownerless.len(), 0);
    }
}

/// The knob reads whether the user is inactive when the request arrives: a user
/// deactivated while the server runs is refused from then on, and the knob can be
/// switched on a running server.
#[tokio::test]
async fn a_user_deactivated_at_runtime_cannot_be_revoked_when_refusing() {
    let t = start(SimConfig::default()).await;
    let kind = EntityKind::Deployment;
    let (id, path) = (eid(kind, 1), own_path(kind));
    t.sim.set_active("editor@x.test", false).unwrap();
    t.sim.set_config(SimConfig {
        inactive_revoke: InactiveRevokeKind::Refuse,
        ..SimConfig::default()
    });
    let body = share_body(kind, &[("editor@x.test", None)]);
    assert_error(
        &t.patch(ADMIN, &path, body.clone()).await,
        422,
        "editor@x.test",
    );
    assert_eq!(t.role(kind, &id, "editor@x.test"), Some(Role::Editor));
    // Allowed again (the default): the revoke goes through.
    t.sim.set_config(SimConfig::default());
    assert_eq!(t.patch(ADMIN, &path, body).await.status, 204);
    assert_eq!(t.role(kind, &id, "editor@x.test"), None);
}

#[tokio::test]
async fn r5_role_ceiling_for_non_admins() {
    let t = start(SimConfig::default()).await;
    let kind = EntityKind::UseCase;
    let path = own_path(kind);
    // An editor may not grant above their own level…
    let a = t
        .patch(
            EDITOR,
            &path,
            share_body(kind, &[("new@x.test", Some(Role::Owner))]),
        )
        .await;
    assert_error(&a, 403, "above your own role");
    // …nor lower or remove someone above them…
    let a = t
        .patch(
            EDITOR,
            &path,
            share_body(kind, &[("owner@x.test", Some(Role::Consumer))]),
        )
        .await;
    assert_error(&a, 403, "owner@x.test");
    // …nor raise themselves…
    let a = t
        .patch(
            EDITOR,
            &path,
            share_body(kind, &[("editor@x.test", Some(Role::Owner))]),
        )
        .await;
    assert_eq!(a.status, 403);
    // …but may grant up to their level.
    let a = t
        .patch(
            EDITOR,
            &path,
            share_body(kind, &[("new@x.test", Some(Role::Editor))]),
        )
        .await;
    assert_eq!(a.status, 204);
    // A consumer with canShare may grant CONSUMER on non-projects.
    let a = t
        .patch(
            CONSUMER,
            &path,
            share_body(kind, &[("new@x.test", Some(Role::Consumer))]),
        )
        .await;
    assert_eq!(a.status, 403, "new@ is an editor now, above the consumer");
    let d = EntityKind::Dataset;
    let a = t
        .patch(
            CONSUMER,
            &own_path(d),
            share_body(d, &[("new@x.test", Some(Role::Consumer))]),
        )
        .await;
    assert_eq!(a.status, 204);
    // Org admins are above the ceiling, holding a role or not.
    let a = t
        .patch(
            ADMIN,
            &path,
            share_body(
                kind,
                &[
                    ("owner@x.test", Some(Role::Editor)),
                    ("new@x.test", Some(Role::Owner)),
                ],
            ),
        )
        .await;
    assert_eq!(a.status, 204);
}

#[tokio::test]
async fn r6_can_share_false_may_only_leave() {
    let t = start(SimConfig::default()).await;
    let kind = EntityKind::RegisteredModel;
    let path = own_path(kind);
    let a = t
        .patch(
            NOSHARE,
            &path,
            share_body(kind, &[("new@x.test", Some(Role::Consumer))]),
        )
        .await;
    assert_error(&a, 403, "canShare");
    let a = t
        .patch(
            NOSHARE,
            &path,
            share_body(kind, &[("noshare@x.test", Some(Role::Consumer))]),
        )
        .await;
    assert_eq!(a.status, 403, "demoting oneself is a change, not a removal");
    let a = t
        .patch(
            NOSHARE,
            &path,
            share_body(kind, &[("noshare@x.test", None)]),
        )
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(t.role(kind, &eid(kind, 1), "noshare@x.test"), None);
}

#[tokio::test]
async fn r7_project_consumers_cannot_share() {
    let t = start(SimConfig::default()).await;
    let kind = EntityKind::Project;
    let a = t
        .patch(
            CONSUMER,
            &own_path(kind),
            share_body(kind, &[("new@x.test", Some(Role::Consumer))]),
        )
        .await;
    assert_error(&a, 403, "Consumers of a project cannot share");
    // Editors (USER) can.
    let a = t
        .patch(
            EDITOR,
            &own_path(kind),
            share_body(kind, &[("new@x.test", Some(Role::Consumer))]),
        )
        .await;
    assert_eq!(a.status, 204);
    // A consumer may still leave.
    let a = t
        .patch(
            CONSUMER,
            &own_path(kind),
            share_body(kind, &[("consumer@x.test", None)]),
        )
        .await;
    assert_eq!(a.status, 204);
}

#[tokio::test]
async fn r8_revoking_a_non_member_is_a_no_op() {
    let t = start(SimConfig::default()).await;
    let before = t.sim.state();
    let kind = EntityKind::Calendar;
    let a = t
        .patch(
            OWNER,
            &own_path(kind),
            share_body(kind, &[("new@x.test", None)]),
        )
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(t.sim.state(), before);
}

#[tokio::test]
async fn r10_roles_length_1_to_100() {
    let t = start(SimConfig::default()).await;
    let path = own_path(EntityKind::Deployment);
    let a = t
        .patch(
            OWNER,
            &path,
            json!({"operation": "updateRoles", "roles": []}),
        )
        .await;
    assert_error(&a, 422, "1 to 100");
    let many: Vec<Value> = (0..101)
        .map(|n| json!({"username": format!("u{n}@x.test"), "role": "USER"}))
        .collect();
    let a = t
        .patch(
            OWNER,
            &path,
            json!({"operation": "updateRoles", "roles": many}),
        )
        .await;
    assert_error(&a, 422, "1 to 100");
    assert!(a.body["errors"]["roles"].is_string());
}

#[tokio::test]
async fn r12_validation_errors_name_the_field() {
    let t = start(SimConfig::default()).await;
    let p = eid(EntityKind::Project, 1);
    let path = format!("projects/{p}/accessControl/");
    let a = t
        .patch(
            OWNER,
            &path,
            json!({"data": [{"username": "new@x.test", "role": "BOSS"}]}),
        )
        .await;
    assert_error(&a, 422, "BOSS");
    assert!(
        a.body["errors"]["data.0.role"]
            .as_str()
            .unwrap()
            .contains("BOSS")
    );
    let a = t
        .patch(
            OWNER,
            &path,
            json!({"users": [{"username": "new@x.test", "role": "USER"}]}),
        )
        .await;
    assert!(a.body["errors"]["data"].is_string());
    let a = t
        .patch(
            OWNER,
            &path,
            json!({"data": [{"username": "new@x.test", "role": "USER", "canShare": "yes"}]}),
        )
        .await;
    assert!(a.body["errors"]["data.0.canShare"].is_string());
    let a = t
        .send(
            t.http
                .patch(t.url(&path))
                .header("Authorization", format!("Token {OWNER}"))
                .body("{not json"),
        )
        .await;
    assert_error(&a, 400, "JSON");
}

// ---------------------------------------------------------------------------------------
// Visibility and admin-only endpoints

#[tokio::test]
async fn non_admins_see_only_what_they_hold() {
    let t = start(SimConfig::default()).await;
    for kind in EntityKind::ALL {
        let mine = eid(kind, 1);
        let other = eid(kind, 2);
        let (get_one, list) = if kind == EntityKind::File {
            (
                format!("catalogItems/{other}/"),
                "catalogItems/?type=files".to_string(),
            )
        } else {
            (one_path(kind, &other), list_path(kind))
        };
        assert_error(&t.get(OWNER, &get_one).await, 404, "not found");
        let a = t
            .get(OWNER, &access_path(kind, &other, kind.dialect()))
            .await;
        assert_eq!(a.status, 404, "{kind}");
        let body = share_body(kind, &[("owner@x.test", Some(Role::Owner))]);
        let a = t
            .patch(OWNER, &access_path(kind, &other, kind.dialect()), body)
            .await;
        let want = if kind.writable() { 404 } else { 405 };
        assert_eq!(
            a.status, want,
            "{kind}: writes to invisible entities are 404 (no write route at all: 405)"
        );
        let listed = t.get(OWNER, &list).await.body.to_string();
        assert!(listed.contains(&mine) && !listed.contains(&other), "{kind}");
        let list = if kind == EntityKind::UseCase {
            format!("{list}?showOrgUseCases=true")
        } else {
            list
        };
        let listed = t.get(ADMIN, &list).await.body.to_string();
        assert!(listed.contains(&mine) && listed.contains(&other), "{kind}");
    }
}

#[tokio::test]
async fn users_endpoints_are_for_admins() {
    let t = start(SimConfig::default()).await;
    assert_error(&t.get(OWNER, "users/").await, 403, "administrators");
    let a = t.get(ADMIN, "users/?username=NEW@x.test").await;
    assert_eq!(a.body["count"], 1);
    assert_eq!(a.body["data"][0]["id"], uid(6));
    let a = t.get(ADMIN, "users/").await;
    assert_eq!(a.body["totalCount"], 7);
    let a = t.get(ADMIN, &format!("users/{}/", uid(7))).await;
    assert_eq!(a.body["username"], "gone@x.test");
    assert_eq!(a.body["activated"], false);
    assert_eq!(
        t.get(OWNER, &format!("users/{}/", uid(2))).await.status,
        200
    );
    assert_eq!(
        t.get(OWNER, &format!("users/{}/", uid(3))).await.status,
        403
    );
    assert_eq!(
        t.get(ADMIN, "users/ffffffffffffffffffffffff/").await.status,
        404
    );
}

// ---------------------------------------------------------------------------------------
// Status variants, notifications

#[tokio::test]
async fn calendar_share_answers_204_or_200() {
    for status in [204, 200] {
        let t = start(SimConfig {
            calendar_share_status: status,
            ..SimConfig::default()
        })
        .await;
        let kind = EntityKind::Calendar;
        let a = t
            .patch(
                OWNER,
                &own_path(kind),
                share_body(kind, &[("new@x.test", Some(Role::Consumer))]),
            )
            .await;
        assert_eq!(a.status, status);
        // Other kinds stay 204.
        let kind = EntityKind::Project;
        let a = t
            .patch(
                OWNER,
                &own_path(kind),
                share_body(kind, &[("new@x.test", Some(Role::Consumer))]),
            )
            .await;
        assert_eq!(a.status, 204);
    }
}

#[tokio::test]
async fn project_shares_notify_unless_told_not_to() {
    let t = start(SimConfig::default()).await;
    let p = eid(EntityKind::Project, 1);
    let path = format!("projects/{p}/accessControl/");
    let grant = json!({"username": "new@x.test", "role": "CONSUMER"});
    t.patch(
        OWNER,
        &path,
        json!({"data": [grant.clone()], "sendNotification": false}),
    )
    .await;
    assert_eq!(t.sim.stats().notifications, 0);
    t.patch(OWNER, &path, json!({"data": [grant.clone()]}))
        .await;
    assert_eq!(t.sim.stats().notifications, 1);
    t.patch(
        OWNER,
        &path,
        json!({"data": [grant], "sendNotification": true}),
    )
    .await;
    assert_eq!(t.sim.stats().notifications, 2);
    // Revocations and other kinds notify nobody.
    t.patch(
        OWNER,
        &path,
        json!({"data": [{"username": "new@x.test", "role": null}]}),
    )
    .await;
    let kind = EntityKind::Dataset;
    t.patch(
        OWNER,
        &own_path(kind),
        share_body(kind, &[("new@x.test", Some(Role::Consumer))]),
    )
    .await;
    assert_eq!(t.sim.stats().notifications, 2);
}

// ---------------------------------------------------------------------------------------
// Faults

/// What a client saw, per request: a status, or "drop".
async fn outcomes(t: &T, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = t
            .http
            .get(t.url("version/"))
            .header("Authorization", format!("Token {OWNER}"))
            .send()
            .await;
        out.push(match r {
            Ok(resp) => resp.status().as_u16().to_string(),
            Err(_) => "drop".to_string(),
        });
    }
    out
}

#[tokio::test]
async fn seeded_faults_repeat_exactly() {
    let cfg = |seed| SimConfig {
        fault_rate_5xx: 0.3,
        drop_rate: 0.2,
        fault_seed: seed,
        ..SimConfig::default()
    };
    let a = outcomes(&start(cfg(11)).await, 60).await;
    let b = outcomes(&start(cfg(11)).await, 60).await;
    let c = outcomes(&start(cfg(12)).await, 60).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().any(|s| s == "drop"));
    assert!(a.iter().any(|s| s.starts_with('5')));
    assert!(a.iter().any(|s| s == "200"));
    // set_config reseeds: the same sequence again on the same server.
    let t = start(cfg(11)).await;
    let first = outcomes(&t, 30).await;
    t.sim.set_config(cfg(11));
    assert_eq!(outcomes(&t, 30).await, first);
    let stats = t.sim.stats();
    let drops = first.iter().filter(|s| *s == "drop").count() as u64;
    assert_eq!(stats.faults.drop, 2 * drops);
    assert_eq!(stats.count("GET version/", "dropped"), 2 * drops);
}

#[tokio::test]
async fn injected_5xx_is_not_applied() {
    let t = start(SimConfig {
        fault_rate_5xx: 1.0,
        ..SimConfig::default()
    })
    .await;
    let before = t.sim.state();
    let kind = EntityKind::Project;
    let a = t
        .patch(
            OWNER,
            &own_path(kind),
            share_body(kind, &[("new@x.test", Some(Role::Owner))]),
        )
        .await;
    assert!([500, 502, 503, 504].contains(&a.status));
    assert_eq!(a.content_type.as_deref(), Some("application/json"));
    assert!(a.body["message"].is_string());
    assert_eq!(t.sim.state(), before);
    let s = t.sim.stats();
    assert_eq!(s.faults.http_5xx, 1);
    assert_eq!(s.attempts_on(kind, &eid(kind, 1)), 1);
    assert_eq!(s.writes_to(kind, &eid(kind, 1)), 0);
}

#[tokio::test]
async fn dropped_connection_is_a_client_error_and_not_applied() {
    let t = start(SimConfig {
        drop_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let before = t.sim.state();
    let kind = EntityKind::Deployment;
    let r = t
        .http
        .patch(t.url(&own_path(kind)))
        .header("Authorization", format!("Token {OWNER}"))
        .json(&share_body(kind, &[("new@x.test", Some(Role::Owner))]))
        .send()
        .await;
    let err = r.expect_err("a dropped connection gives the client an error, not a response");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
    assert_eq!(t.sim.state(), before);
    let s = t.sim.stats();
    assert_eq!(s.faults.drop, 1);
    assert_eq!(s.count("PATCH deployments/{id}/sharedRoles/", "dropped"), 1);
    // The server keeps serving once the knob is off.
    t.sim.set_config(SimConfig::default());
    assert_eq!(t.get(OWNER, "version/").await.status, 200);
}

#[tokio::test]
async fn commit_then_502_lands_the_change() {
    let t = start(SimConfig {
        commit_then_502_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let kind = EntityKind::UserBlueprint;
    let id = eid(kind, 1);
    let a = t
        .patch(
            OWNER,
            &own_path(kind),
            share_body(
                kind,
                &[("new@x.test", Some(Role::Owner)), ("owner@x.test", None)],
            ),
        )
        .await;
    assert_error(&a, 502, "applied");
    assert_eq!(t.role(kind, &id, "new@x.test"), Some(Role::Owner));
    assert_eq!(t.role(kind, &id, "owner@x.test"), None);
    // Reads and refused writes are not hit.
    assert_eq!(t.get(NEW, "version/").await.status, 200);
    let a = t
        .patch(
            NEW,
            &own_path(kind),
            share_body(kind, &[("new@x.test", None)]),
        )
        .await;
    assert_eq!(a.status, 409);
    let s = t.sim.stats();
    assert_eq!(s.faults.commit_then_502, 1);
    assert_eq!(s.writes_to(kind, &id), 1);
    assert_eq!(s.attempts_on(kind, &id), 2);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let t = start(SimConfig {
        rate_limit: Some(RateLimit {
            per_second: 0.001,
            burst: 3,
            retry_after_secs: 7,
        }),
        ..SimConfig::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(t.get(OWNER, "version/").await.status, 200);
    }
    let a = t.get(OWNER, "projects/").await;
    assert_error(&a, 429, "Too many requests");
    assert_eq!(a.retry_after.as_deref(), Some("7"));
    // The bucket is per token.
    assert_eq!(t.get(EDITOR, "version/").await.status, 200);
    let s = t.sim.stats();
    assert_eq!(s.rate_limited, 1);
    assert_eq!(s.count("GET projects/", "429"), 1);
    // Without a fixed Retry-After, the time until a token is back, in whole seconds.
    t.sim.set_config(SimConfig {
        rate_limit: Some(RateLimit {
            per_second: 0.5,
            burst: 1,
            retry_after_secs: 0,
        }),
        ..SimConfig::default()
    });
    assert_eq!(t.get(OWNER, "version/").await.status, 200);
    let a = t.get(OWNER, "version/").await;
    assert_eq!(a.status, 429);
    let secs: u64 = a.retry_after.unwrap().parse().unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
}

#[tokio::test]
async fn latency_delays_but_does_not_break_requests() {
    let t = start(SimConfig {
        latency_ms: 5,
        jitter_ms: 5,
        ..SimConfig::default()
    })
    .await;
    let kind = EntityKind::CustomModel;
    let a = t
        .patch(
            OWNER,
            &own_path(kind),
            share_body(kind, &[("new@x.test", Some(Role::Editor))]),
        )
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(
        t.role(kind, &eid(kind, 1), "new@x.test"),
        Some(Role::Editor)
    );
}

// ---------------------------------------------------------------------------------------
// Stats, control endpoints, test helpers

#[tokio::test]
async fn stats_count_routes_attempts_and_concurrency() {
    let t = start(SimConfig::default()).await;
    let kind = EntityKind::Project;
    let id = eid(kind, 1);
    t.get(OWNER, "projects/").await;
    t.get(OWNER, &format!("projects/{id}/accessControl/")).await;
    t.patch(
        OWNER,
        &own_path(kind),
        share_body(kind, &[("new@x.test", Some(Role::Editor))]),
    )
    .await;
    t.patch(
        OWNER,
        &own_path(kind),
        share_body(kind, &[("owner@x.test", None)]),
    )
    .await;
    // Concurrent requests raise max_in_flight above 1 only if they overlap; at least 1.
    let futs: Vec<_> = (0..16).map(|_| t.get(OWNER, "version/")).collect();
    futures::future::join_all(futs).await;
    let s = t.sim.stats();
    assert_eq!(s.requests, 20);
    assert_eq!(s.count("GET projects/", "200"), 1);
    assert_eq!(s.count("GET projects/{id}/accessControl/", "200"), 1);
    assert_eq!(s.count("PATCH projects/{id}/accessControl/", "204"), 1);
    assert_eq!(s.count("PATCH projects/{id}/accessControl/", "409"), 1);
    assert_eq!(s.route_total("GET version/"), 16);
    assert_eq!(s.writes_to(kind, &id), 1);
    assert_eq!(s.attempts_on(kind, &id), 2);
    assert!(s.max_in_flight >= 1);
    assert!(s.ownerless.is_empty());
    // The same, over HTTP at the root, without a token.
    let http: Value = t
        .http
        .get(format!("{}/__sim/stats", t.sim.root()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(http["writes"]["project/".to_string() + &id], 1);
    assert_eq!(http["requests"], 20);
}

#[tokio::test]
async fn control_endpoints_state_config_reset() {
    let t = start(SimConfig::default()).await;
    let root = t.sim.root();
    let state: Value = t
        .http
        .get(format!("{root}/__sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let e = &state["entities"][0];
    assert_eq!(e["kind"], "project");
    assert_eq!(
        e["access"][1],
        json!({"recipientType": "user", "id": uid(3), "username": "editor@x.test", "role": "EDITOR", "canShare": true})
    );
    assert_eq!(state["users"][6]["active"], false);
    assert_eq!(state["users"][0]["orgAdmin"], true);
    // Config over HTTP; invalid values are refused.
    let r = t
        .http
        .post(format!("{root}/__sim/config"))
        .json(&json!({"last_owner_status": 422, "acl_page_default": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.sim.config().last_owner_status, 422);
    let r = t
        .http
        .post(format!("{root}/__sim/config"))
        .json(&json!({"drop_rate": 3.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let a = t
        .get(
            OWNER,
            &format!("projects/{}/accessControl/", eid(EntityKind::Project, 1)),
        )
        .await;
    assert_eq!(a.body["count"], 1);
    // Reset replaces the data and clears the stats.
    let seed = Seed::generate(&GenSpec::uniform(1, 2));
    let r = t
        .http
        .post(format!("{root}/__sim/reset"))
        .json(&seed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.sim.stats().requests, 0);
    assert!(t.sim.state().user("departing@acme.test").is_some());
    assert_eq!(t.get(OWNER, "version/").await.status, 401);
    let r = t
        .http
        .post(format!("{root}/__sim/reset"))
        .json(&json!({"users": [{"id": "nothex", "username": "a"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn helpers_change_state_behind_the_tools_back() {
    let t = start(SimConfig::default()).await;
    let kind = EntityKind::Deployment;
    let id = eid(kind, 1);
    t.sim
        .set_access(kind, &id, vec![SeedGrant::new("new@x.test", Role::Owner)])
        .unwrap();
    assert_eq!(t.sim.state().owners(kind, &id), vec!["new@x.test"]);
    assert_eq!(
        t.get(OWNER, &format!("deployments/{id}/")).await.status,
        404
    );
    t.sim.delete_entity(kind, &id).unwrap();
    assert_eq!(
        t.get(ADMIN, &format!("deployments/{id}/")).await.status,
        404
    );
    assert!(t.sim.state().entity(kind, &id).is_none());
    assert!(t.sim.delete_entity(kind, &id).is_err());
    assert!(t.sim.set_active("nobody@x.test", true).is_err());
    t.sim.reset(fixture()).unwrap();
    assert!(t.sim.state().entity(kind, &id).is_some());
}

#[tokio::test]
async fn ownerless_is_never_recorded_under_random_writes() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let seed = Seed::generate(&GenSpec::uniform(9, 3));
    let tokens: Vec<String> = seed
        .users
        .iter()
        .filter(|u| u.active)
        .map(|u| u.effective_token())
        .collect();
    let names: Vec<String> = seed.users.iter().map(|u| u.username.clone()).collect();
    let entities: Vec<(EntityKind, String)> = seed
        .entities
        .iter()
        .filter(|e| e.kind.writable())
        .map(|e| (e.kind, e.id.clone()))
        .collect();
    let t = start_with(seed, SimConfig::default()).await;
    let mut rng = StdRng::seed_from_u64(42);
    let mut applied = 0;
    for _ in 0..400 {
        let token = &tokens[rng.random_range(0..tokens.len())];
        let (kind, id) = &entities[rng.random_range(0..entities.len())];
        let n = rng.random_range(1..=3);
        let changes: Vec<(&str, Option<Role>)> = (0..n)
            .map(|_| {
                let who = names[rng.random_range(0..names.len())].as_str();
                let role = match rng.random_range(0..4) {
                    0 => None,
                    r => Some(Role::ALL[r - 1]),
                };
                (who, role)
            })
            .collect();
        let a = t
            .patch(
                token,
                &access_path(*kind, id, kind.dialect()),
                share_body(*kind, &changes),
            )
            .await;
        assert!(
            [204, 403, 404, 409, 422].contains(&a.status),
            "{}: {}",
            a.status,
            a.body
        );
        applied += usize::from(a.status == 204);
    }
    assert!(applied > 20, "only {applied} writes applied");
    let s = t.sim.stats();
    assert!(s.ownerless.is_empty(), "{:?}", s.ownerless);
    assert_eq!(s.total_writes(), applied as u64);
    for e in &t.sim.state().entities {
        assert!(
            !t.sim.state().owners(e.kind, &e.id).is_empty(),
            "{} {}",
            e.kind,
            e.id
        );
    }
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    let r = Sim::start(
        "127.0.0.1:0".parse().unwrap(),
        fixture(),
        SimConfig::default(),
    );
    assert!(matches!(r, Err(handover_sim::SimError::NoRuntime)));
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let t = start(SimConfig::default()).await;
    let url = t.url("version/");
    assert_eq!(t.get(OWNER, "version/").await.status, 200);
    t.sim.shutdown().await;
    let fresh = reqwest::Client::new();
    assert!(fresh.get(url).send().await.is_err());
}

#[tokio::test]
async fn project_create_answers_202_then_303_to_a_project_the_caller_owns() {
    let t = start(SimConfig::default()).await;
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"projectName\"\r\n\r\nMy Data\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"mydata.csv\"\r\n\
                Content-Type: text/csv\r\n\r\na,b\n1,2\n\r\n--XyZ--\r\n";
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .post(t.url("projects/"))
        .header("Authorization", format!("Token {NEW}"))
        .header("Content-Type", "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let status_url = r.headers()["location"].to_str().unwrap().to_string();
    assert!(status_url.starts_with(&format!("{}/status/", t.sim.endpoint())));
    let r = no_redirects
        .get(&status_url)
        .header("Authorization", format!("Token {NEW}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let project_url = r.headers()["location"].to_str().unwrap().to_string();
    let pid = project_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let a = t.get(NEW, &project_url).await;
    assert_eq!(a.body["projectName"], "My Data");
    assert_eq!(
        t.sim.state().owners(EntityKind::Project, &pid),
        vec!["new@x.test"]
    );
    assert_eq!(t.get(OWNER, &project_url).await.status, 404);
}

// ---------------------------------------------------------------------------------------
// The types of contract §12 and their knobs

/// The fixture plus what the §12 types hold: on every writable one's "E", a group entry
/// and its extra recipient type (`externalApplication` on X2–X9, `role` on X10–X12); the
/// read-only ones' "E" linked to the registered model's and the use case's "E".
fn extra_seed() -> Seed {
    let mut seed = fixture();
    for e in &mut seed.entities {
        if !e.kind.is_extra() || e.id != eid(e.kind, 1) {
            continue;
        }
        if let Some(parent) = e.kind.facts().parent {
            e.linked = Some(eid(parent, 1));
            continue;
        }
        e.principals.push(handover_sim::SeedPrincipal {
            recipient_type: "group".into(),
            id: "6a0000000000000000000001".into(),
            name: "Data Science".into(),
            role: e.kind.wire_role(Role::Consumer).into(),
        });
        if let Some(t) = e.kind.facts().extra_recipient {
            e.principals.push(handover_sim::SeedPrincipal {
                recipient_type: t.into(),
                id: "6b0000000000000000000001".into(),
                name: format!("some {t}"),
                role: e.kind.wire_role(Role::Editor).into(),
            });
        }
    }
    seed
}

fn extra_kinds() -> impl Iterator<Item = EntityKind> {
    EntityKind::ALL.into_iter().filter(|k| k.is_extra())
}

/// The recipient types of an access-list read.
fn recipient_types(a: &Answer) -> BTreeSet<String> {
    a.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["shareRecipientType"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn new_types_list_and_read_on_their_own_paths() {
    let t = start_with(extra_seed(), SimConfig::default()).await;
    for kind in extra_kinds() {
        let a = t.get(ADMIN, &list_path(kind)).await;
        assert_eq!(a.status, 200, "{kind}: {}", a.body);
        assert_eq!(a.body["totalCount"], 2, "{kind}");
        assert!(a.body.get("next").is_some(), "{kind}");
        let a = t.get(ADMIN, &one_path(kind, &eid(kind, 1))).await;
        assert_eq!(a.body["id"], eid(kind, 1), "{kind}");
        let a = t
            .get(
                ADMIN,
                &access_path(kind, &eid(kind, 1), DialectKind::SharedRoles),
            )
            .await;
        assert_eq!(a.status, 200, "{kind}");
        let mut want: BTreeSet<String> = ["user".to_string()].into();
        if kind.writable() {
            want.insert("group".into());
            want.extend(kind.facts().extra_recipient.map(str::to_string));
        }
        assert_eq!(recipient_types(&a), want, "{kind}");
        // No accessControl route on the new types.
        let a = t
            .get(
                ADMIN,
                &access_path(kind, &eid(kind, 1), DialectKind::AccessControl),
            )
            .await;
        assert_eq!(a.status, 404, "{kind}");
    }
    // The Workload API has no trailing slash: a path with one is unknown.
    for kind in [
        EntityKind::Workload,
        EntityKind::Artifact,
        EntityKind::ArtifactRepository,
    ] {
        assert_eq!(list_path(kind), kind.collection());
        let a = t.get(ADMIN, &format!("{}/", kind.collection())).await;
        assert_error(&a, 404, "was not found");
        let a = t
            .get(
                ADMIN,
                &format!("{}/{}/sharedRoles/", kind.collection(), eid(kind, 1)),
            )
            .await;
        assert_eq!(a.status, 404, "{kind}");
    }
    // Notification policy templates live under their related entity type.
    let npt = EntityKind::NotificationPolicyTemplate;
    let a = t
        .get(ADMIN, "entityNotificationPolicyTemplates/customjob/")
        .await;
    assert_eq!(
        a.body["totalCount"], 0,
        "the fixture's are deployment templates"
    );
    let a = t
        .get(
            ADMIN,
            &format!(
                "entityNotificationPolicyTemplates/customjob/{}/sharedRoles/",
                eid(npt, 1)
            ),
        )
        .await;
    assert_eq!(a.status, 404);
    let a = t
        .get(ADMIN, "entityNotificationPolicyTemplates/project/")
        .await;
    assert_error(&a, 422, "relatedEntityType");
}

#[tokio::test]
async fn replace_semantics_make_the_patch_the_whole_list_and_keep_an_owner() {
    let t = start_with(extra_seed(), SimConfig::default()).await;
    for kind in [
        EntityKind::Workload,
        EntityKind::Artifact,
        EntityKind::ArtifactRepository,
    ] {
        let id = eid(kind, 1);
        let path = access_path(kind, &id, DialectKind::SharedRoles);
        // Only the change: everyone not named loses access, groups and roles included.
        let before = t.get(ADMIN, &path).await.body["data"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(before, 7, "{kind}: five users, a group, a role");
        let body = json!({"operation": "updateRoles", "roles": [
            {"shareRecipientType": "user", "username": "new@x.test", "role": "OWNER"},
            {"shareRecipientType": "user", "username": "owner@x.test", "role": "NO_ROLE"},
        ]});
        // The fixture's inactive consumer cannot be removed implicitly when refused…
        let a = t.patch(ADMIN, &path, body).await;
        assert_eq!(a.status, 204, "{kind}: {}", a.body);
        let read = t.get(ADMIN, &path).await;
        assert_eq!(read.body["data"].as_array().unwrap().len(), 1, "{kind}");
        assert_eq!(read.body["data"][0]["name"], "new@x.test");
        assert!(
            t.sim
                .state()
                .entity(kind, &id)
                .unwrap()
                .principals
                .is_empty()
        );
        // R1 on the resulting list: a list without an owner is refused whole.
        let body = json!({"operation": "updateRoles", "roles": [
            {"shareRecipientType": "user", "username": "editor@x.test", "role": "USER"},
        ]});
        assert_error(&t.patch(ADMIN, &path, body).await, 409, "OWNER");
        assert_eq!(t.role(kind, &id, "new@x.test"), Some(Role::Owner));
    }
    // The whole list sent back, changed: nothing else moves.
    let kind = EntityKind::Workload;
    let id = eid(kind, 2);
    let path = access_path(kind, &id, DialectKind::SharedRoles);
    let body = json!({"operation": "updateRoles", "roles": [
        {"shareRecipientType": "user", "id": uid(6), "role": "CONSUMER"},
        {"shareRecipientType": "user", "username": "owner@x.test", "role": "OWNER"},
        {"shareRecipientType": "role", "id": "6b0000000000000000000009", "role": "DATA_SCIENTIST"},
    ]});
    assert_eq!(t.patch(ADMIN, &path, body).await.status, 204);
    let types = recipient_types(&t.get(ADMIN, &path).await);
    assert_eq!(types, ["role".to_string(), "user".to_string()].into());
    assert_eq!(t.role(kind, &id, "new@x.test"), Some(Role::Consumer));

    // Set semantics on the same route when the knob says so: the others stay.
    let t = start_with(
        extra_seed(),
        SimConfig {
            replace_semantics: Vec::new(),
            ..SimConfig::default()
        },
    )
    .await;
    let id = eid(kind, 1);
    let path = access_path(kind, &id, DialectKind::SharedRoles);
    let body = json!({"operation": "updateRoles", "roles": [
        {"shareRecipientType": "user", "username": "new@x.test", "role": "OWNER"},
    ]});
    assert_eq!(t.patch(ADMIN, &path, body).await.status, 204);
    assert_eq!(t.get(ADMIN, &path).await.body["totalCount"], 8);
    assert_eq!(t.role(kind, &id, "owner@x.test"), Some(Role::Owner));
}

#[tokio::test]
async fn replace_semantics_refuse_an_implicit_revoke_of_an_inactive_user_when_configured() {
    let t = start_with(
        extra_seed(),
        SimConfig {
            inactive_revoke: InactiveRevokeKind::Refuse,
            ..SimConfig::default()
        },
    )
    .await;
    let kind = EntityKind::Artifact;
    let id = eid(kind, 1);
    let path = access_path(kind, &id, DialectKind::SharedRoles);
    let body = json!({"operation": "updateRoles", "roles": [
        {"shareRecipientType": "user", "username": "owner@x.test", "role": "OWNER"},
    ]});
    assert_error(&t.patch(ADMIN, &path, body).await, 422, "gone@x.test");
    assert_eq!(t.role(kind, &id, "editor@x.test"), Some(Role::Editor));
}

#[tokio::test]
async fn a_replacing_write_may_restate_an_inactive_users_role_but_not_change_it() {
    let t = start_with(extra_seed(), SimConfig::default()).await;
    let kind = EntityKind::Workload;
    let id = eid(kind, 1);
    let path = access_path(kind, &id, DialectKind::SharedRoles);
    let whole = |gone_role: &str| {
        json!({"operation": "updateRoles", "roles": [
            {"shareRecipientType": "user", "username": "new@x.test", "role": "OWNER"},
            {"shareRecipientType": "user", "username": "editor@x.test", "role": "USER"},
            {"shareRecipientType": "user", "username": "consumer@x.test", "role": "CONSUMER"},
            {"shareRecipientType": "user", "username": "noshare@x.test", "role": "USER"},
            {"shareRecipientType": "user", "username": "gone@x.test", "role": gone_role},
            {"shareRecipientType": "group", "id": "6a0000000000000000000001", "role": "CONSUMER"},
            {"shareRecipientType": "role", "id": "6b0000000000000000000001", "role": "USER"},
        ]})
    };
    // Raising the inactive user's role is a grant (R4): refused whole.
    assert_error(
        &t.patch(ADMIN, &path, whole("USER")).await,
        422,
        "gone@x.test",
    );
    // The whole list with the owner moved and the inactive consumer kept as they were.
    assert_eq!(t.patch(ADMIN, &path, whole("CONSUMER")).await.status, 204);
    assert_eq!(t.role(kind, &id, "gone@x.test"), Some(Role::Consumer));
    assert_eq!(t.role(kind, &id, "owner@x.test"), None);
    assert_eq!(t.get(ADMIN, &path).await.body["totalCount"], 7);
}

#[tokio::test]
async fn an_admins_list_shows_only_their_own_where_configured() {
    let config = SimConfig {
        admin_list_own_only: vec![EntityKind::Application, EntityKind::Workload],
        ..SimConfig::default()
    };
    let t = start_with(extra_seed(), config).await;
    for kind in [EntityKind::Application, EntityKind::Workload] {
        let a = t.get(ADMIN, &list_path(kind)).await;
        assert_eq!(a.body["totalCount"], 0, "{kind}: the admin holds none");
        // Get-one and the access list still answer the admin.
        let a = t.get(ADMIN, &one_path(kind, &eid(kind, 1))).await;
        assert_eq!(a.status, 200, "{kind}");
        let a = t.get(OWNER, &list_path(kind)).await;
        assert_eq!(a.body["totalCount"], 1, "{kind}: what the owner holds");
    }
    let a = t.get(ADMIN, &list_path(EntityKind::CustomJob)).await;
    assert_eq!(a.body["totalCount"], 2, "other types: the admin sees all");
}

#[tokio::test]
async fn extra_recipients_can_be_switched_off() {
    let config = SimConfig {
        extra_recipients: false,
        ..SimConfig::default()
    };
    let t = start_with(extra_seed(), config).await;
    for kind in extra_kinds().filter(|k| k.facts().extra_recipient.is_some()) {
        let path = access_path(kind, &eid(kind, 1), DialectKind::SharedRoles);
        let types = recipient_types(&t.get(ADMIN, &path).await);
        assert_eq!(
            types,
            ["group".to_string(), "user".to_string()].into(),
            "{kind}"
        );
        let t_name = kind.facts().extra_recipient.unwrap();
        let body = json!({"operation": "updateRoles", "roles": [
            {"shareRecipientType": t_name, "id": "6b0000000000000000000001", "role": "NO_ROLE"},
        ]});
        assert_error(
            &t.patch(ADMIN, &path, body).await,
            422,
            "shareRecipientType",
        );
    }
    // A replacing write leaves what the server does not show alone.
    let kind = EntityKind::Workload;
    let path = access_path(kind, &eid(kind, 1), DialectKind::SharedRoles);
    let body = json!({"operation": "updateRoles", "roles": [
        {"shareRecipientType": "user", "username": "owner@x.test", "role": "OWNER"},
    ]});
    assert_eq!(t.patch(ADMIN, &path, body).await.status, 204);
    let principals = &t
        .sim
        .state()
        .entity(kind, &eid(kind, 1))
        .unwrap()
        .principals
        .clone();
    assert_eq!(principals.len(), 1);
    assert_eq!(principals[0].recipient_type, "role");
}

#[tokio::test]
async fn workload_bodies_refuse_fields_their_schema_lacks_unless_lenient() {
    let bad = [
        json!({"operation": "updateRoles", "roles": [
            {"shareRecipientType": "user", "username": "owner@x.test", "role": "OWNER", "canShare": true}]}),
        json!({"operation": "updateRoles", "roles": [
            {"shareRecipientType": "user", "name": "owner@x.test", "role": "OWNER"}]}),
        json!({"operation": "updateRoles", "sendNotification": false, "roles": [
            {"shareRecipientType": "user", "username": "owner@x.test", "role": "OWNER"}]}),
        json!({"operation": "updateRoles", "roles": [
            {"shareRecipientType": "user", "username": "owner@x.test", "role": "VIEWER"}]}),
    ];
    let t = start_with(extra_seed(), SimConfig::default()).await;
    let kind = EntityKind::ArtifactRepository;
    let path = access_path(kind, &eid(kind, 2), DialectKind::SharedRoles);
    for body in &bad {
        let a = t.patch(NEW, &path, body.clone()).await;
        assert_eq!(a.status, 422, "{body}: {}", a.body);
    }
    assert_eq!(t.sim.stats().writes_to(kind, &eid(kind, 2)), 0);
    // Classic routes of the new types take `canShare`, `sendNotification` and `note`.
    let app = access_path(
        EntityKind::Application,
        &eid(EntityKind::Application, 2),
        DialectKind::SharedRoles,
    );
    let body = json!({"operation": "updateRoles", "sendNotification": false, "note": "handover",
        "roles": [{"shareRecipientType": "user", "username": "owner@x.test", "role": "CONSUMER", "canShare": false}]});
    assert_eq!(t.patch(NEW, &app, body).await.status, 204);
    let lenient = SimConfig {
        workload_strict_bodies: false,
        ..SimConfig::default()
    };
    let t = start_with(extra_seed(), lenient).await;
    for body in &bad[..3] {
        let a = t.patch(ADMIN, &path, body.clone()).await;
        assert_eq!(a.status, 204, "{body}: {}", a.body);
    }
    // The role enum holds either way.
    assert_eq!(t.patch(ADMIN, &path, bad[3].clone()).await.status, 422);
}

#[tokio::test]
async fn custom_jobs_may_require_paging_and_workload_lists_cap_their_limit() {
    let mut spec = GenSpec::uniform(3, 0);
    spec.per_kind.insert(EntityKind::CustomJob, 4);
    spec.per_kind.insert(EntityKind::Workload, 150);
    spec.per_kind.insert(EntityKind::Artifact, 150);
    let seed = Seed::generate(&spec);
    let t = start_with(seed.clone(), SimConfig::default()).await;
    let a = t.get(DEFAULT_TOKEN, "customJobs/").await;
    assert_eq!(
        a.status, 200,
        "the Python client's Job.list() sends neither"
    );
    let a = t.get(DEFAULT_TOKEN, "workloads").await;
    assert_eq!(a.body["count"], 10, "workloads default to 10");
    assert!(a.body["next"].as_str().unwrap().contains("limit=10"));
    assert_eq!(
        t.get(DEFAULT_TOKEN, "workloads?limit=100").await.body["count"],
        100
    );
    assert_error(
        &t.get(DEFAULT_TOKEN, "workloads?limit=101").await,
        422,
        "limit",
    );
    assert_error(
        &t.get(DEFAULT_TOKEN, "artifacts?limit=1000").await,
        422,
        "limit",
    );
    let t = start_with(
        seed,
        SimConfig {
            custom_jobs_require_paging: true,
            workload_limit_over_max: handover_sim::LimitOverMaxKind::Clamp,
            ..SimConfig::default()
        },
    )
    .await;
    assert_error(&t.get(DEFAULT_TOKEN, "customJobs/").await, 422, "offset");
    assert_error(
        &t.get(DEFAULT_TOKEN, "customJobs/?offset=0").await,
        422,
        "limit",
    );
    let a = t
        .get(DEFAULT_TOKEN, "customJobs/?offset=0&limit=1000")
        .await;
    assert_eq!(a.body["totalCount"], 6);
    assert_eq!(
        t.get(DEFAULT_TOKEN, "workloads?limit=1000").await.body["count"],
        100
    );
}

/// The generated admin's token.
const DEFAULT_TOKEN: &str = handover_sim::DEFAULT_ADMIN_TOKEN;

#[tokio::test]
async fn role_names_of_the_new_types_and_the_observer_variant() {
    let editor_of = |a: &Answer| {
        a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "editor@x.test")
            .map(|i| i["role"].as_str().unwrap().to_string())
    };
    let consumer_of = |a: &Answer| {
        a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "consumer@x.test")
            .map(|i| i["role"].as_str().unwrap().to_string())
    };
    let t = start_with(extra_seed(), SimConfig::default()).await;
    for (kind, editor) in [
        (EntityKind::Application, "EDITOR"),
        (EntityKind::SecureConfig, "EDITOR"),
        (EntityKind::Workload, "USER"),
    ] {
        let a = t
            .get(
                ADMIN,
                &access_path(kind, &eid(kind, 1), DialectKind::SharedRoles),
            )
            .await;
        assert_eq!(editor_of(&a).as_deref(), Some(editor), "{kind}");
        assert_eq!(consumer_of(&a).as_deref(), Some("CONSUMER"), "{kind}");
    }
    let t = start_with(
        extra_seed(),
        SimConfig {
            observer_role_names: true,
            ..SimConfig::default()
        },
    )
    .await;
    for kind in extra_kinds() {
        let a = t
            .get(
                ADMIN,
                &access_path(kind, &eid(kind, 1), DialectKind::SharedRoles),
            )
            .await;
        assert_eq!(editor_of(&a).as_deref(), Some("USER"), "{kind}");
        assert_eq!(consumer_of(&a).as_deref(), Some("OBSERVER"), "{kind}");
    }
    // The 13 keep their names.
    let a = t.get(ADMIN, &own_path(EntityKind::UseCase)).await;
    assert_eq!(editor_of(&a).as_deref(), Some("EDITOR"));
}

#[tokio::test]
async fn secure_configuration_shares_notify_each_user_they_grant() {
    let t = start_with(extra_seed(), SimConfig::default()).await;
    let kind = EntityKind::SecureConfig;
    let path = access_path(kind, &eid(kind, 1), DialectKind::SharedRoles);
    let body = json!({"operation": "updateRoles", "roles": [
        {"shareRecipientType": "user", "username": "new@x.test", "role": "OWNER"},
        {"shareRecipientType": "user", "username": "editor@x.test", "role": "CONSUMER"},
        {"shareRecipientType": "user", "username": "owner@x.test", "role": "NO_ROLE"},
        {"shareRecipientType": "group", "id": "6a0000000000000000000001", "role": "EDITOR"},
    ]});
    assert_eq!(t.patch(ADMIN, &path, body).await.status, 204);
    assert_eq!(t.sim.stats().secure_config_notifications, 2);
    // A refused share notifies nobody; a revoke alone neither.
    let body = json!({"operation": "updateRoles", "roles": [
        {"shareRecipientType": "user", "username": "new@x.test", "role": "NO_ROLE"},
    ]});
    assert_eq!(t.patch(ADMIN, &path, body).await.status, 409);
    let body = json!({"operation": "updateRoles", "roles": [
        {"shareRecipientType": "user", "username": "consumer@x.test", "role": "NO_ROLE"},
    ]});
    assert_eq!(t.patch(ADMIN, &path, body).await.status, 204);
    let stats = t.sim.stats();
    assert_eq!(stats.secure_config_notifications, 2);
    assert_eq!(stats.notifications, 0);
    // Exposed at the stats endpoint.
    let raw: Value = reqwest::get(format!("{}/__sim/stats", t.sim.root()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["secure_config_notifications"], 2);
    // No-code applications notify unless told not to.
    let app = EntityKind::Application;
    let path = access_path(app, &eid(app, 1), DialectKind::SharedRoles);
    let grant = |send: Option<bool>| {
        let mut body = json!({"operation": "updateRoles", "roles": [
            {"shareRecipientType": "user", "username": "new@x.test", "role": "CONSUMER"}]});
        if let Some(s) = send {
            body["sendNotification"] = json!(s);
        }
        body
    };
    assert_eq!(t.patch(ADMIN, &path, grant(Some(false))).await.status, 204);
    assert_eq!(t.sim.stats().notifications, 0);
    assert_eq!(t.patch(ADMIN, &path, grant(None)).await.status, 204);
    assert_eq!(t.sim.stats().notifications, 1);
}

#[tokio::test]
async fn a_list_route_can_be_absent_as_on_an_older_datarobot() {
    let config = SimConfig {
        absent_lists: vec![EntityKind::ValueTracker, EntityKind::Artifact],
        ..SimConfig::default()
    };
    let t = start_with(extra_seed(), config).await;
    for kind in [EntityKind::ValueTracker, EntityKind::Artifact] {
        assert_error(&t.get(ADMIN, &list_path(kind)).await, 404, "was not found");
        let a = t
            .get(
                ADMIN,
                &access_path(kind, &eid(kind, 1), DialectKind::SharedRoles),
            )
            .await;
        assert_eq!(a.status, 200, "{kind}");
    }
    assert_eq!(
        t.get(ADMIN, &list_path(EntityKind::Workload)).await.status,
        200
    );
}

#[tokio::test]
async fn read_only_types_show_their_parents_list_and_answer_405_to_a_patch() {
    let t = start_with(extra_seed(), SimConfig::default()).await;
    for (kind, parent) in [
        (EntityKind::ModelPackage, EntityKind::RegisteredModel),
        (EntityKind::Notebook, EntityKind::UseCase),
    ] {
        let path = access_path(kind, &eid(kind, 1), DialectKind::SharedRoles);
        let names = |a: &Answer| -> BTreeSet<String> {
            a.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| format!("{}={}", i["name"], i["role"]))
                .collect()
        };
        // Moving the parent moves the child.
        let body = share_body(
            parent,
            &[("new@x.test", Some(Role::Owner)), ("owner@x.test", None)],
        );
        assert_eq!(t.patch(ADMIN, &own_path(parent), body).await.status, 204);
        let a = t.get(ADMIN, &path).await;
        assert!(
            names(&a)
                .iter()
                .any(|n| n.starts_with("\"new@x.test\"=\"OWNER\"")),
            "{kind}: {}",
            a.body
        );
        assert!(
            !names(&a).iter().any(|n| n.starts_with("\"owner@x.test\"")),
            "{kind}"
        );
        assert_eq!(t.role(kind, &eid(kind, 1), "new@x.test"), Some(Role::Owner));
        // The old owner no longer sees it; the new one does.
        assert_eq!(
            t.get(OWNER, &one_path(kind, &eid(kind, 1))).await.status,
            404
        );
        assert_eq!(t.get(NEW, &one_path(kind, &eid(kind, 1))).await.status, 200);
        let body = share_body(kind, &[("owner@x.test", Some(Role::Owner))]);
        let a = t.patch(ADMIN, &path, body).await;
        assert_error(&a, 405, "not allowed");
    }
    let stats = t.sim.stats();
    assert_eq!(stats.read_only_writes, 2);
    assert_eq!(stats.count("PATCH notebooks/{id}/sharedRoles/", "405"), 1);
    assert_eq!(
        stats.count("PATCH modelPackages/{id}/sharedRoles/", "405"),
        1
    );
    // Notebooks: `useCaseId` (or the Python client's `use_case_id`) and `owners` filters.
    let uc = eid(EntityKind::UseCase, 1);
    for q in [
        format!("notebooks/?useCaseId={uc}"),
        format!("notebooks/?use_case_id={uc}"),
    ] {
        let a = t.get(ADMIN, &q).await;
        assert_eq!(a.body["totalCount"], 1, "{q}");
        assert_eq!(a.body["data"][0]["useCaseId"], uc);
        assert_eq!(a.body["data"][0]["useCaseName"], "use_case E");
    }
    let a = t.get(ADMIN, &format!("notebooks/?owners={}", uid(6))).await;
    let ids: BTreeSet<&str> = a.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            eid(EntityKind::Notebook, 1).as_str(),
            eid(EntityKind::Notebook, 2).as_str()
        ]
        .into()
    );
}

#[tokio::test]
async fn owner_hints_can_name_only_the_creator() {
    // Contract C20: whether catalogItems' owner filters and use cases' `owners` name every
    // owner or the creator alone is not documented; the knob plays the creator-only reading.
    let mut seed = Seed::generate(&GenSpec::uniform(5, 4));
    let admin = seed.token_of("admin@acme.test").unwrap();
    let departing = "departing@acme.test";
    let colleague = seed.users[4].username.clone();
    let kinds = [
        EntityKind::Dataset,
        EntityKind::File,
        EntityKind::UserBlueprint,
        EntityKind::UseCase,
    ];
    // One of each kind the departing user co-owns but a colleague created.
    for kind in kinds {
        let e = seed
            .entities
            .iter_mut()
            .find(|e| {
                e.kind == kind
                    && e.access
                        .iter()
                        .any(|g| g.username == departing && g.role == Role::Owner)
            })
            .unwrap();
        e.access.retain(|g| g.username != colleague);
        e.access.push(SeedGrant::new(&colleague, Role::Owner));
        e.creator = Some(colleague.clone());
    }
    let departing_id = seed
        .users
        .iter()
        .find(|u| u.username == departing)
        .unwrap()
        .id
        .clone();
    for creator_only in [false, true] {
        let t = start_with(
            seed.clone(),
            SimConfig {
                owner_hints_creator_only: creator_only,
                ..SimConfig::default()
            },
        )
        .await;
        let state = t.sim.state();
        let hinted = |kind| -> BTreeSet<String> {
            state
                .held_by(kind, departing, Role::Owner)
                .iter()
                .filter(|e| !creator_only || e.creator == departing)
                .map(|e| e.id.clone())
                .collect()
        };
        for (ty, kind) in [
            ("dataset", EntityKind::Dataset),
            ("files", EntityKind::File),
            ("user_blueprint", EntityKind::UserBlueprint),
        ] {
            let want = hinted(kind);
            assert_eq!(want.len(), if creator_only { 3 } else { 4 }, "{ty}");
            for filter in [
                format!("ownerUserId={departing_id}"),
                format!("ownerUsername={departing}"),
            ] {
                let a = t
                    .get(&admin, &format!("catalogItems/?type={ty}&{filter}&limit=0"))
                    .await;
                let got: BTreeSet<String> = a.body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].as_str().unwrap().to_string())
                    .collect();
                assert_eq!(got, want, "{ty} {filter} creator_only={creator_only}");
            }
        }
        let a = t
            .get(&admin, "useCases/?showOrgUseCases=true&limit=100")
            .await;
        let named: BTreeSet<String> = a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| {
                u["owners"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o["username"] == departing)
            })
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            named,
            hinted(EntityKind::UseCase),
            "creator_only={creator_only}"
        );
        // The access lists tell the truth either way.
        assert_eq!(
            state
                .held_by(EntityKind::UseCase, departing, Role::Owner)
                .len(),
            4
        );
    }
}
