//! The API client against the in-process simulator (and, for server behaviours the
//! simulator does not play, a small axum mock): every kind listed with small pages, both
//! role vocabularies, owner filters, shares in both dialects, 429 with Retry-After, 5xx and
//! dropped connections retried, foreign `next` links re-based, preflight failures.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use handover::api::config::ConnSettings;
use handover::api::{
    Action, ApiErrorKind, Client, ClientPolicy, ErrorClass, ListFilter, RetryPolicy, ShareRequest,
    User, grant_to, revoke_from,
};
use handover::model::AccessList;
use handover::model::{EntityKind, Role, RoleVocabKind};
use handover::secret::Token;
use handover::sim::{GenSpec, RateLimit, Seed, Sim, SimConfig, SimHandle, SnapshotEntity};

const ADMIN_TOKEN: &str = "sim-admin-token";
const DEPARTING: &str = "departing@acme.test";
const SUCCESSOR: &str = "successor@acme.test";

/// Quick retries, no pacing to speak of: tests are about behaviour, not speed limits.
fn fast_policy() -> ClientPolicy {
    ClientPolicy {
        rate_per_sec: 1000.0,
        burst: 100,
        retry: RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
        request_timeout: Duration::from_secs(10),
        page_size: None,
        jitter_seed: Some(42),
        ..ClientPolicy::default()
    }
}

fn small_pages() -> SimConfig {
    SimConfig {
        list_page_default: 3,
        acl_page_default: 2,
        ..SimConfig::default()
    }
}

fn start(config: SimConfig) -> SimHandle {
    Sim::start(
        "127.0.0.1:0".parse().unwrap(),
        Seed::generate(&GenSpec::uniform(7, 4)),
        config,
    )
    .unwrap()
}

fn client_for(endpoint: &str, token: &str, policy: ClientPolicy) -> Client {
    let settings = ConnSettings::new(endpoint, Token::new(token), false).unwrap();
    Client::new(settings, policy).unwrap()
}

fn admin(sim: &SimHandle, policy: ClientPolicy) -> Client {
    client_for(&sim.endpoint(), ADMIN_TOKEN, policy)
}

fn ids_of_kind(sim: &SimHandle, kind: EntityKind) -> BTreeSet<String> {
    sim.state()
        .entities
        .iter()
        .filter(|e| e.kind == kind)
        .map(tool_id)
        .collect()
}

/// The tool's id of a simulated entity: a notification policy template's is
/// `<related entity type>:<id>`.
fn tool_id(e: &SnapshotEntity) -> String {
    match &e.related_entity_type {
        Some(t) => format!("{t}:{}", e.id),
        None => e.id.clone(),
    }
}

/// The simulator's id of the entity the tool calls `id`.
fn sim_id(kind: impl Into<EntityKind>, id: &str) -> &str {
    kind.into().related_id(id).map_or(id, |(_, raw)| raw)
}

fn owned_by(sim: &SimHandle, kind: EntityKind, username: &str) -> BTreeSet<String> {
    sim.state()
        .entities
        .iter()
        .filter(|e| e.kind == kind)
        .filter(|e| {
            e.access
                .iter()
                .any(|g| g.username.eq_ignore_ascii_case(username) && g.role == Role::Owner)
        })
        .map(tool_id)
        .collect()
}

async fn user(client: &Client, username: &str) -> User {
    client.find_user(username).await.unwrap().unwrap()
}

#[tokio::test]
async fn preflight_names_the_account() {
    let sim = start(SimConfig::default());
    let client = admin(&sim, fast_policy());
    let account = client.preflight().await.unwrap();
    assert_eq!(account.username, "admin@acme.test");
    assert_eq!(account.server_version, "2.49.0");
    assert!(!account.id.is_empty());
    assert!(account.org_id.is_some());
}

#[tokio::test]
async fn preflight_with_a_bad_token_is_one_auth_error_and_nothing_more() {
    let sim = start(SimConfig::default());
    let client = client_for(&sim.endpoint(), "not-a-token", fast_policy());
    let err = client.preflight().await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth);
    assert_eq!(err.action(), Action::Stop);
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.attempts(), 1, "a 401 is not retried");
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(!text.contains("not-a-token"), "{text}");
    assert!(text.contains("token"), "{text}");
    // Nothing after the failing call.
    assert!(sim.stats().requests <= 2, "{:?}", sim.stats().by_route);
}

#[tokio::test]
async fn preflight_without_api_v2_hints_at_it() {
    let sim = start(SimConfig::default());
    let client = client_for(&sim.root(), ADMIN_TOKEN, fast_policy());
    let err = client.preflight().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/api/v2"), "{text}");
    assert_eq!(err.class(), ErrorClass::Gone, "{text}");
}

#[tokio::test]
async fn preflight_to_an_unreachable_host_fails_fast_and_clearly() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = client_for(
        &format!("http://127.0.0.1:{port}/api/v2"),
        "t",
        fast_policy(),
    );
    let started = std::time::Instant::now();
    let err = client.preflight().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = err.to_string();
    assert!(
        text.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{text}"
    );
    assert!(matches!(err.kind(), ApiErrorKind::Transport { .. }));
    assert!(err.attempts() <= 3);
}

#[tokio::test]
async fn lists_every_kind_across_small_pages() {
    let sim = start(small_pages());
    let client = admin(&sim, fast_policy());
    for kind in EntityKind::ALL {
        let listed = client.list(kind, &ListFilter::default()).await.unwrap();
        let ids: BTreeSet<String> = listed.entities.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids.len(), listed.entities.len(), "{kind}: duplicates");
        let expected = ids_of_kind(&sim, kind);
        assert!(
            expected.len() > 3,
            "{kind}: the seed should need several pages"
        );
        assert_eq!(ids, expected, "{kind}");
        assert!(
            listed
                .entities
                .iter()
                .all(|e| e.kind == kind && !e.name.is_empty()),
            "{kind}: {listed:?}"
        );
    }
}

#[tokio::test]
async fn lists_with_an_explicit_page_size_including_projects_by_offset() {
    let sim = start(small_pages());
    let client = admin(
        &sim,
        ClientPolicy {
            page_size: Some(2),
            projects_page_size: Some(2),
            ..fast_policy()
        },
    );
    for kind in EntityKind::ALL {
        let ids: BTreeSet<String> = client
            .list(kind, &ListFilter::default())
            .await
            .unwrap()
            .entities
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, ids_of_kind(&sim, kind), "{kind}");
    }
    // Projects went by offset/limit, two at a time.
    let stats = sim.stats();
    assert!(
        stats.route_total("GET projects/") >= 3,
        "{:?}",
        stats.by_route
    );
}

#[tokio::test]
async fn owner_filters_narrow_catalog_kinds_and_use_cases() {
    let sim = start(small_pages());
    let client = admin(&sim, fast_policy());
    let departing = user(&client, DEPARTING).await;
    let filter = ListFilter {
        owner: Some(departing.clone()),
    };
    for kind in EntityKind::ALL {
        let ids: BTreeSet<String> = client
            .list(kind, &filter)
            .await
            .unwrap()
            .entities
            .into_iter()
            .map(|e| e.id)
            .collect();
        let owned = owned_by(&sim, kind, DEPARTING);
        assert!(!owned.is_empty(), "{kind}");
        match kind {
            EntityKind::Dataset
            | EntityKind::File
            | EntityKind::UserBlueprint
            | EntityKind::UseCase => assert_eq!(ids, owned, "{kind}: filtered exactly"),
            _ => {
                assert!(ids.is_superset(&owned), "{kind}");
                assert_eq!(
                    ids,
                    ids_of_kind(&sim, kind),
                    "{kind}: no filter, everything"
                );
            }
        }
    }
    let stats = sim.stats();
    assert!(stats.route_total("GET catalogItems/") > 0);
    assert_eq!(
        stats.route_total("GET datasets/"),
        0,
        "{:?}",
        stats.by_route
    );
}

async fn check_access_lists(vocab: RoleVocabKind) {
    let sim = start(SimConfig {
        role_vocab: vocab.into(),
        ..small_pages()
    });
    let client = admin(&sim, fast_policy());
    let state = sim.state();
    for kind in EntityKind::ALL {
        let mut longest = 0;
        for e in state.entities.iter().filter(|e| e.kind == kind) {
            let got = client.access_list(kind, &tool_id(e)).await.unwrap();
            let got: BTreeSet<(String, String, Role)> = got
                .grants
                .into_iter()
                .map(|g| {
                    assert_eq!(g.recipient_type, "user");
                    (g.id.unwrap_or_default(), g.name.to_lowercase(), g.role)
                })
                .collect();
            let want: BTreeSet<(String, String, Role)> = e
                .access
                .iter()
                .map(|g| (g.id.clone(), g.username.to_lowercase(), g.role.into()))
                .collect();
            assert_eq!(got, want, "{kind} {} ({vocab:?})", e.id);
            longest = longest.max(want.len());
        }
        assert!(longest > 2, "{kind}: some access list should span pages");
    }
}

#[tokio::test]
async fn access_lists_in_the_specific_vocabulary() {
    check_access_lists(RoleVocabKind::Specific).await;
}

#[tokio::test]
async fn access_lists_in_the_generic_vocabulary() {
    check_access_lists(RoleVocabKind::Generic).await;
}

#[tokio::test]
async fn access_of_finds_one_user_and_users_are_found_case_insensitively() {
    let sim = start(small_pages());
    let client = admin(&sim, fast_policy());
    let departing = user(&client, "DEPARTING@acme.TEST").await;
    assert_eq!(departing.username, DEPARTING);
    assert_eq!(departing.active, Some(true));
    let inactive = user(&client, "inactive@acme.test").await;
    assert_eq!(inactive.active, Some(false));
    assert_eq!(client.find_user("nobody@acme.test").await.unwrap(), None);
    assert_eq!(
        client.user_by_id(&departing.id).await.unwrap(),
        Some(departing.clone())
    );
    assert_eq!(
        client.user_by_id("5f00000000000000000000ff").await.unwrap(),
        None
    );

    for kind in EntityKind::ALL {
        for id in owned_by(&sim, kind, DEPARTING) {
            let g = client
                .access_of(kind, &id, &departing)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(g.role, Role::Owner, "{kind} {id}");
            assert_eq!(g.id.as_deref(), Some(departing.id.as_str()));
        }
        let not_there = ids_of_kind(&sim, kind).into_iter().find(|id| {
            sim.state()
                .role_of(kind, sim_id(kind, id), DEPARTING)
                .is_none()
        });
        if let Some(id) = not_there {
            assert_eq!(client.access_of(kind, &id, &departing).await.unwrap(), None);
        }
    }
}

#[tokio::test]
async fn get_reads_one_entity_and_a_missing_one_is_gone() {
    let sim = start(SimConfig::default());
    let client = admin(&sim, fast_policy());
    for kind in EntityKind::ALL {
        let id = ids_of_kind(&sim, kind).into_iter().next().unwrap();
        let e = client.get(kind, &id).await.unwrap();
        assert_eq!((e.kind, e.id.as_str()), (kind, id.as_str()));
        let name = sim
            .state()
            .entity(kind, sim_id(kind, &id))
            .unwrap()
            .name
            .clone();
        assert_eq!(e.name, name, "{kind}");
        let missing = match kind {
            EntityKind::NotificationPolicyTemplate => "deployment:5f00000000000000000000aa",
            _ => "5f00000000000000000000aa",
        };
        let err = client.get(kind, missing).await.unwrap_err();
        assert!(err.is_not_found(), "{kind}: {err}");
        assert_eq!(err.action(), Action::Record);
    }
}

#[tokio::test]
async fn transfers_ownership_in_one_patch_in_both_dialects() {
    let sim = start(small_pages());
    let client = admin(&sim, fast_policy());
    let departing = user(&client, DEPARTING).await;
    let successor = user(&client, SUCCESSOR).await;
    for kind in EntityKind::WRITABLE {
        let id = owned_by(&sim, kind, DEPARTING).into_iter().next().unwrap();
        let req = ShareRequest {
            changes: vec![
                grant_to(&successor, Role::Owner, Some(true)),
                revoke_from(&departing),
            ],
            notify: false,
        };
        // A replacing write carries the list it replaces.
        let live: AccessList = client.access_list(kind, &id).await.unwrap();
        let before = sim.stats().requests;
        let out = client.share_on(kind, &id, &req, &live).await.unwrap();
        assert_eq!(sim.stats().requests - before, 1, "{kind}: one request");
        assert!((200..300).contains(&out.status), "{kind}");
        assert_eq!(out.attempts, 1);
        let state = sim.state();
        assert_eq!(
            state.role_of(kind, sim_id(kind, &id), SUCCESSOR),
            Some(Role::Owner.into()),
            "{kind}"
        );
        assert_eq!(
            state.role_of(kind, sim_id(kind, &id), DEPARTING),
            None,
            "{kind}"
        );
        // The client reads back what it wrote.
        let g = client
            .access_of(kind, &id, &successor)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(g.role, Role::Owner);
    }
    assert_eq!(
        sim.stats().notifications,
        0,
        "sendNotification: false on projects"
    );
}

#[tokio::test]
async fn calendars_answering_200_are_success_too() {
    let sim = start(SimConfig {
        calendar_share_status: 200,
        ..SimConfig::default()
    });
    let client = admin(&sim, fast_policy());
    let successor = user(&client, SUCCESSOR).await;
    let id = owned_by(&sim, EntityKind::Calendar, DEPARTING)
        .into_iter()
        .next()
        .unwrap();
    let out = client
        .share(
            EntityKind::Calendar,
            &id,
            &ShareRequest {
                changes: vec![grant_to(&successor, Role::Editor, None)],
                notify: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(
        sim.state().role_of(EntityKind::Calendar, &id, SUCCESSOR),
        Some(Role::Editor.into())
    );
}

#[tokio::test]
async fn refusals_are_classified_with_the_servers_message() {
    let sim = start(SimConfig::default());
    let client = admin(&sim, fast_policy());
    let departing = user(&client, DEPARTING).await;
    for kind in [EntityKind::Project, EntityKind::Deployment] {
        // The departing user is the only owner of some entity: revoking them alone (R1).
        let id = owned_by(&sim, kind, DEPARTING)
            .into_iter()
            .find(|id| {
                sim.state()
                    .access(kind, id)
                    .unwrap()
                    .iter()
                    .filter(|g| g.role == Role::Owner)
                    .count()
                    == 1
            })
            .unwrap();
        let err = client
            .share(
                kind,
                &id,
                &ShareRequest {
                    changes: vec![revoke_from(&departing)],
                    notify: false,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.class(), ErrorClass::Refused, "{kind}: {err}");
        assert_eq!(err.status(), Some(409));
        assert!(err.message().is_some(), "{err}");
        assert_eq!(err.attempts(), 1);
        assert!(
            err.path()
                .ends_with(&format!("/{id}/{}/", kind.access_segment()))
        );

        // An unknown recipient (R3).
        let ghost = User {
            id: "5f00000000000000000000ee".into(),
            username: "ghost@acme.test".into(),
            full_name: None,
            active: None,
        };
        let mut change = grant_to(&ghost, Role::Consumer, None);
        change.id = None;
        let err = client
            .share(
                kind,
                &id,
                &ShareRequest {
                    changes: vec![change],
                    notify: false,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.class(), ErrorClass::Refused, "{kind}: {err}");
        assert!(
            err.message().unwrap_or("").contains("not found"),
            "{kind}: {err}"
        );
    }
}

#[tokio::test]
async fn throttling_with_retry_after_is_absorbed_and_slows_the_client() {
    let sim = start(SimConfig {
        rate_limit: Some(RateLimit {
            per_second: 5.0,
            burst: 3,
            retry_after_secs: 1,
        }),
        ..SimConfig::default()
    });
    let client = admin(
        &sim,
        ClientPolicy {
            rate_per_sec: 50.0,
            burst: 10,
            ..fast_policy()
        },
    );
    let kinds = [
        EntityKind::Deployment,
        EntityKind::Project,
        EntityKind::Calendar,
    ];
    let mut tasks = Vec::new();
    for kind in kinds {
        for _ in 0..4 {
            let c = client.clone();
            tasks.push(tokio::spawn(async move {
                c.list(kind, &ListFilter::default())
                    .await
                    .map(|v| v.entities.len())
            }));
        }
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap() > 0);
    }
    let counters = client.counters();
    let stats = sim.stats();
    assert!(stats.rate_limited > 0, "the server should have throttled");
    assert_eq!(counters.throttled, stats.rate_limited);
    assert!(counters.retries >= counters.throttled);
    assert!(
        counters.rate_per_sec < 50.0,
        "AIMD lowered the rate: {counters:?}"
    );
    assert_eq!(counters.requests, stats.requests);
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried() {
    let sim = start(SimConfig {
        fault_rate_5xx: 0.15,
        drop_rate: 0.05,
        fault_seed: 3,
        ..small_pages()
    });
    let client = admin(&sim, fast_policy());
    for kind in EntityKind::ALL {
        let ids: BTreeSet<String> = client
            .list(kind, &ListFilter::default())
            .await
            .unwrap()
            .entities
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, ids_of_kind(&sim, kind), "{kind}");
    }
    let stats = sim.stats();
    assert!(
        stats.faults.http_5xx > 0 && stats.faults.drop > 0,
        "{:?}",
        stats.faults
    );
    assert_eq!(
        client.counters().retries,
        stats.faults.http_5xx + stats.faults.drop
    );
}

#[tokio::test]
async fn a_write_that_landed_but_answered_502_is_retried_and_reports_its_attempts() {
    let sim = start(SimConfig::default());
    let client = admin(&sim, fast_policy());
    let successor = user(&client, SUCCESSOR).await;
    let id = owned_by(&sim, EntityKind::Deployment, DEPARTING)
        .into_iter()
        .next()
        .unwrap();
    sim.set_config(SimConfig {
        commit_then_502_rate: 1.0,
        ..SimConfig::default()
    });
    let req = ShareRequest {
        changes: vec![grant_to(&successor, Role::Owner, Some(true))],
        notify: false,
    };
    // Every write answers 502 after applying: the client retries to its budget and reports
    // how many attempts it made, and the write is in place regardless.
    let err = client
        .share(EntityKind::Deployment, &id, &req)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert_eq!(err.attempts(), RetryPolicy::default().max_attempts);
    assert_eq!(
        sim.state().role_of(EntityKind::Deployment, &id, SUCCESSOR),
        Some(Role::Owner.into())
    );
    sim.set_config(SimConfig::default());
    let out = client
        .share(EntityKind::Deployment, &id, &req)
        .await
        .unwrap();
    assert_eq!(out.attempts, 1);
}

// ---------------------------------------------------------------------------------------
// A mock for server behaviours the simulator does not play.

mod mock {
    use super::*;
    use axum::Router;
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use serde_json::{Value, json};

    #[derive(Default)]
    pub struct Hits {
        pub users: AtomicUsize,
        pub calendars: AtomicUsize,
        pub flaky: AtomicUsize,
        /// The use-case pages asked for, as `path?query`.
        pub use_cases: std::sync::Mutex<Vec<String>>,
        /// Paths no route serves, as asked (still percent-encoded).
        pub elsewhere: std::sync::Mutex<Vec<String>>,
    }

    fn page(q: &HashMap<String, String>, default: usize) -> (usize, usize) {
        let offset = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
        let limit = q
            .get("limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(default);
        (offset, limit)
    }

    /// Ignores `username`, caps `limit` at 3, and writes `next` under a foreign origin.
    async fn users(
        State(hits): State<Arc<Hits>>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        hits.users.fetch_add(1, Ordering::SeqCst);
        let all: Vec<Value> = (0..7)
            .map(|i| {
                let name = if i == 6 {
                    "Target@Acme.test".to_string()
                } else {
                    format!("u{i}@acme.test")
                };
                json!({"id": format!("id{i}"), "username": name, "extra": {"x": 1}})
            })
            .collect();
        let (offset, limit) = page(&q, 3);
        let limit = limit.min(3);
        let data: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
        let next = (offset + limit < all.len()).then(|| {
            format!(
                "https://dr-internal.example:9999/api/v2/users/?offset={}&limit={limit}&username=target%40acme.test",
                offset + limit
            )
        });
        axum::Json(json!({"count": data.len(), "next": next, "previous": null, "data": data}))
            .into_response()
    }

    /// Five calendars; `next` is never null (the R client's complaint).
    async fn calendars(
        State(hits): State<Arc<Hits>>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        hits.calendars.fetch_add(1, Ordering::SeqCst);
        let (offset, limit) = page(&q, 2);
        let data: Vec<Value> = (0..5)
            .skip(offset)
            .take(limit)
            .map(|i| json!({"id": format!("c{i}"), "name": format!("cal {i}")}))
            .collect();
        let next = format!(
            "http://elsewhere/api/v2/calendars/?offset={}&limit={limit}",
            offset + limit
        );
        axum::Json(json!({"count": data.len(), "next": next, "data": data})).into_response()
    }

    /// Seven use cases, two a page, each page's `next` relative in another way: `?offset=`,
    /// an absolute path, then a path relative to the page (`more/?offset=6`), which only a
    /// browser-like resolution against the page finds (`/api/v2/useCases/more/`).
    async fn use_cases(
        State(hits): State<Arc<Hits>>,
        uri: axum::http::Uri,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        hits.use_cases.lock().unwrap().push(
            uri.path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
        );
        let (offset, limit) = page(&q, 2);
        let data: Vec<Value> = (0..7)
            .skip(offset)
            .take(limit)
            .map(|i| json!({"id": format!("uc{i}"), "name": format!("use case {i}")}))
            .collect();
        let next = match (uri.path(), offset) {
            ("/api/v2/useCases/", 0) => json!("?offset=2&limit=2&showOrgUseCases=true"),
            ("/api/v2/useCases/", 2) => {
                json!("/api/v2/useCases/?offset=4&limit=2&showOrgUseCases=true")
            }
            ("/api/v2/useCases/", 4) => json!("more/?offset=6&limit=2"),
            _ => Value::Null,
        };
        axum::Json(json!({"count": data.len(), "next": next, "data": data})).into_response()
    }

    /// Always 500 with a message and a request id.
    async fn flaky(State(hits): State<Arc<Hits>>) -> Response {
        hits.flaky.fetch_add(1, Ordering::SeqCst);
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", "req-77".parse().unwrap());
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            headers,
            axum::Json(json!({"message": "boom"})),
        )
            .into_response()
    }

    /// An HTML page where JSON was expected.
    async fn html() -> Response {
        (
            StatusCode::OK,
            [("content-type", "text/html")],
            "<html><body>DataRobot</body></html>",
        )
            .into_response()
    }

    pub async fn start() -> (String, Arc<Hits>) {
        let hits = Arc::new(Hits::default());
        let app = Router::new()
            .route(
                "/api/v2/version/",
                get(|| async { axum::Json(json!({"versionString": "2.49.0"})) }),
            )
            .route("/api/v2/users/", get(users))
            .route("/api/v2/calendars/", get(calendars))
            .route("/api/v2/customModels/", get(flaky))
            .route("/api/v2/useCases/", get(use_cases))
            .route("/api/v2/useCases/more/", get(use_cases))
            .route("/html/version/", get(html))
            .fallback(
                |State(hits): State<Arc<Hits>>, uri: axum::http::Uri| async move {
                    hits.elsewhere.lock().unwrap().push(uri.path().to_string());
                    StatusCode::NOT_FOUND
                },
            )
            .with_state(Arc::clone(&hits));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}"), hits)
    }
}

#[tokio::test]
async fn a_server_that_ignores_the_filter_caps_pages_and_links_elsewhere() {
    let (root, hits) = mock::start().await;
    let client = client_for(
        &format!("{root}/api/v2/"),
        "t",
        ClientPolicy {
            page_size: Some(100),
            ..fast_policy()
        },
    );
    let u = client.find_user("target@acme.test").await.unwrap().unwrap();
    assert_eq!(u.id, "id6");
    // Three pages of at most three: the capped limit did not end the walk early, and the
    // foreign `next` links were followed on our own origin.
    assert_eq!(hits.users.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_next_that_never_ends_stops_at_the_first_empty_page() {
    let (root, hits) = mock::start().await;
    let client = client_for(
        &format!("{root}/api/v2"),
        "t",
        ClientPolicy {
            page_size: Some(2),
            ..fast_policy()
        },
    );
    let cals = client
        .list(EntityKind::Calendar, &ListFilter::default())
        .await
        .unwrap();
    assert_eq!(cals.entities.len(), 5);
    // A short page may still have a `next` (contract C14): only the empty one ends it.
    assert_eq!(
        hits.calendars.load(Ordering::SeqCst),
        4,
        "2 + 2 + 1 + an empty page, then stop"
    );
}

#[tokio::test]
async fn a_persistent_500_gets_the_small_budget_and_names_the_request_id() {
    let (root, hits) = mock::start().await;
    let client = client_for(&format!("{root}/api/v2"), "t", fast_policy());
    let err = client
        .list(EntityKind::CustomModel, &ListFilter::default())
        .await
        .unwrap_err();
    assert_eq!(hits.flaky.load(Ordering::SeqCst), 3);
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(err.action(), Action::Record);
    let text = err.to_string();
    assert_eq!(
        text,
        "GET /api/v2/customModels/: 500 Internal Server Error: boom (request id req-77) (after 3 attempts)"
    );
}

#[tokio::test]
async fn html_where_json_was_expected_is_a_wrong_endpoint() {
    let (root, _) = mock::start().await;
    let client = client_for(&format!("{root}/html"), "t", fast_policy());
    let err = client.preflight().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err.kind(), ApiErrorKind::NotJson { .. }), "{text}");
    assert!(text.contains("/api/v2"), "{text}");
    assert_eq!(err.action(), Action::Stop);
}

#[tokio::test]
async fn a_relative_next_is_resolved_against_the_page_not_the_endpoint() {
    let (root, hits) = mock::start().await;
    let client = client_for(
        &format!("{root}/api/v2"),
        "t",
        ClientPolicy {
            page_size: Some(2),
            ..fast_policy()
        },
    );
    let listed = client
        .list(EntityKind::UseCase, &ListFilter::default())
        .await
        .unwrap();
    let ids: BTreeSet<String> = listed.entities.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, (0..7).map(|i| format!("uc{i}")).collect());
    let asked = hits.use_cases.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![
            "/api/v2/useCases/?showOrgUseCases=true&offset=0&limit=2",
            "/api/v2/useCases/?offset=2&limit=2&showOrgUseCases=true",
            "/api/v2/useCases/?offset=4&limit=2&showOrgUseCases=true",
            "/api/v2/useCases/more/?offset=6&limit=2",
        ]
    );
}

#[tokio::test]
async fn an_entity_id_never_changes_the_request_path() {
    let (root, hits) = mock::start().await;
    let client = client_for(&format!("{root}/api/v2"), "t", fast_policy());
    let successor = User {
        id: "u1".into(),
        username: SUCCESSOR.into(),
        full_name: None,
        active: Some(true),
    };
    let ids = [
        "..",
        ".",
        "%2e%2e",
        "a/../..",
        "x?y=1",
        "p#q",
        "a b",
        "../../version",
    ];
    for id in ids {
        let _ = client.get(EntityKind::Project, id).await;
        let _ = client.access_list(EntityKind::Project, id).await;
        let req = ShareRequest {
            changes: vec![grant_to(&successor, Role::Owner, Some(true))],
            notify: false,
        };
        let _ = client.share(EntityKind::Project, id, &req).await;
    }
    let asked = hits.elsewhere.lock().unwrap().clone();
    assert!(!asked.is_empty());
    for path in &asked {
        // One segment for the id, under the collection: `/api/v2/projects/ID/` or
        // `/api/v2/projects/ID/accessControl/`.
        let rest = path
            .strip_prefix("/api/v2/projects/")
            .unwrap_or_else(|| panic!("left the collection: {path} ({asked:?})"));
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        assert!(
            segments.len() == 1 || (segments.len() == 2 && segments[1] == "accessControl"),
            "{path}"
        );
        assert!(!matches!(segments[0], "" | "." | ".."), "{path}");
    }
    // `..` and `.` alone are refused before sending: no encoding keeps them one segment
    // (URL parsers read `%2e%2e` as `..` too).
    let before = asked.len();
    let err = client
        .access_list(EntityKind::Project, "..")
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Refused, "{err}");
    assert!(err.to_string().contains("not an entity id"), "{err}");
    assert_eq!(hits.elsewhere.lock().unwrap().len(), before);
}
