//! The planner against the in-process simulator: every kind planned with its dialect's
//! request, both role vocabularies, small pages, owner filters, what the old owner keeps,
//! noops, refusals (recipients, CSV rows, callers who may not share), CSV plans end to
//! end, the plan file round trip and the summary table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use handover::api::config::ConnSettings;
use handover::api::{self, Client, ClientPolicy, RetryPolicy};
use handover::exit;
use handover::model::{DialectKind, EntityKind, Grant, Role, RoleVocabKind};
use handover::plan::csvplan;
use handover::plan::planner::{self, Caller, OffboardSpec, PlannerSettings};
use handover::plan::{
    ActionKind, OldOwnerRoleKind, PlanEntry, PlanHeader, PlanReader, PlanWriter, SourceKind,
    UserIdent, WrittenPlan, companion_csv_path, fingerprint, render_table,
};
use handover::secret::Token;
use handover::sim::{
    ADMIN_USERNAME, DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, INACTIVE_USERNAME,
    SUCCESSOR_USERNAME, Seed, SeedGrant, Sim, SimConfig, SimHandle, StateSnapshot, default_token,
};

/// No pacing to speak of and quick retries: these tests are about what is planned.
fn policy() -> ClientPolicy {
    ClientPolicy {
        rate_per_sec: 5000.0,
        burst: 100,
        retry: RetryPolicy {
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
        jitter_seed: Some(3),
        ..ClientPolicy::default()
    }
}

fn settings() -> PlannerSettings {
    PlannerSettings {
        concurrency: 8,
        progress: false,
    }
}

fn start(seed: Seed, config: SimConfig) -> SimHandle {
    Sim::start("127.0.0.1:0".parse().unwrap(), seed, config).unwrap()
}

fn generated(seed: u64, per_kind: usize) -> Seed {
    Seed::generate(&GenSpec::uniform(seed, per_kind))
}

fn client_with(sim: &SimHandle, token: &str, policy: ClientPolicy) -> Client {
    let settings = ConnSettings::new(&sim.endpoint(), Token::new(token), false).unwrap();
    Client::new(settings, policy).unwrap()
}

fn admin(sim: &SimHandle) -> Client {
    client_with(sim, DEFAULT_ADMIN_TOKEN, policy())
}

async fn caller_of(client: &Client) -> Caller {
    let account = client.preflight().await.unwrap();
    Caller {
        user: UserIdent {
            id: account.id,
            username: account.username,
        },
        org_admin: account.org_admin,
    }
}

/// A user as the simulator knows them, without asking the API (which non-admins cannot).
fn ident(state: &StateSnapshot, username: &str) -> UserIdent {
    let u = state.user(username).expect("user in seed");
    UserIdent {
        id: u.id.clone(),
        username: u.username.clone(),
    }
}

/// The tool's id of a simulated entity: a notification policy template's is
/// `<related entity type>:<id>`.
fn tool_id(e: &handover::sim::SnapshotEntity) -> String {
    match &e.related_entity_type {
        Some(t) => format!("{t}:{}", e.id),
        None => e.id.clone(),
    }
}

/// The simulator's id of the entity the tool calls `id`.
fn sim_id(kind: impl Into<EntityKind>, id: &str) -> &str {
    kind.into().related_id(id).map_or(id, |(_, raw)| raw)
}

/// The simulator's route template of `kind`'s access-list reads: a policy template's has
/// its related type, the Workload API's no trailing slash.
fn acl_route(kind: EntityKind) -> String {
    let base = match kind.list_route() {
        handover::model::ListRouteKind::PerRelatedType(_) => {
            format!("{}/{{rel}}", kind.collection())
        }
        _ => kind.collection().to_string(),
    };
    let slash = if kind.trailing_slash() { "/" } else { "" };
    format!("GET {base}/{{id}}/{}{slash}", kind.access_segment())
}

fn colleague(n: usize) -> String {
    format!("user{n}@acme.test")
}

/// Ids of `kind` whose access list names `username` as OWNER.
fn owned(state: &StateSnapshot, kind: EntityKind, username: &str) -> BTreeSet<String> {
    state
        .held_by(kind, username, Role::Owner)
        .into_iter()
        .map(tool_id)
        .collect()
}

fn count_of(state: &StateSnapshot, kind: EntityKind) -> usize {
    state.entities.iter().filter(|e| e.kind == kind).count()
}

/// A plan written to `dir/plan.jsonl` and everything read back from it, entries sorted
/// by kind and id (the planner writes them in the order reads finish).
struct Planned {
    written: WrittenPlan,
    header: PlanHeader,
    entries: Vec<PlanEntry>,
}

impl Planned {
    fn of_kind(&self, kind: EntityKind) -> Vec<&PlanEntry> {
        self.entries.iter().filter(|e| e.kind == kind).collect()
    }

    fn entry(&self, kind: EntityKind, id: &str) -> &PlanEntry {
        self.entries
            .iter()
            .find(|e| e.kind == kind && e.id == id)
            .unwrap_or_else(|| panic!("{kind} {id} is not in the plan"))
    }

    fn ids(&self, kind: EntityKind) -> BTreeSet<String> {
        self.of_kind(kind).iter().map(|e| e.id.clone()).collect()
    }
}

fn read_back(written: WrittenPlan) -> Planned {
    let reader = PlanReader::open(&written.path).unwrap();
    assert_eq!(reader.entries(), written.entries);
    assert_eq!(reader.digest(), written.digest);
    let header = reader.header().clone();
    let mut entries: Vec<PlanEntry> = reader.map(Result::unwrap).collect();
    entries.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    Planned {
        written,
        header,
        entries,
    }
}

/// Offboards `departing@` to `successor@` as the admin, resolving both through the API as
/// `handover plan` does.
async fn offboard(
    sim: &SimHandle,
    client: &Client,
    dir: &Path,
    old_owner_role: OldOwnerRoleKind,
    kinds: &[EntityKind],
) -> Planned {
    let caller = caller_of(client).await;
    let to = planner::resolve_user(client, "--to", SUCCESSOR_USERNAME)
        .await
        .unwrap();
    let from = planner::resolve_departing(client, "--from", DEPARTING_USERNAME, old_owner_role)
        .await
        .unwrap();
    assert_eq!(from, ident(&sim.state(), DEPARTING_USERNAME));
    let spec = OffboardSpec {
        from: vec![from],
        to,
        old_owner_role,
        kinds: kinds.to_vec(),
    };
    run_offboard(client, &caller, &spec, dir).await
}

async fn run_offboard(
    client: &Client,
    caller: &Caller,
    spec: &OffboardSpec,
    dir: &Path,
) -> Planned {
    let source = SourceKind::Offboard {
        from: spec.from.clone(),
        to: spec.to.clone(),
        old_owner_role: spec.old_owner_role,
        types: spec.kinds.clone(),
    };
    let header = PlanHeader::new(client.endpoint().as_str(), caller.user.clone(), source);
    let mut writer = PlanWriter::create(dir.join("plan.jsonl"), &header).unwrap();
    planner::plan_offboard(client, caller, spec, settings(), &mut writer)
        .await
        .unwrap();
    read_back(writer.finish().unwrap())
}

fn user_of<'a>(grants: &'a [Grant], username: &str) -> Option<&'a Grant> {
    grants
        .iter()
        .find(|g| g.is_user() && g.name.eq_ignore_ascii_case(username))
}

/// `grants` without the departing user and the successor: the principals a handover
/// must leave alone.
fn others(grants: &[Grant]) -> Vec<Grant> {
    grants
        .iter()
        .filter(|g| {
            !g.name.eq_ignore_ascii_case(DEPARTING_USERNAME)
                && !g.name.eq_ignore_ascii_case(SUCCESSOR_USERNAME)
        })
        .cloned()
        .collect()
}

/// The wire body the executor will send for an entry's request.
fn wire_body(entry: &PlanEntry) -> serde_json::Value {
    let req = entry.request.as_ref().expect("a change has a request");
    let read = handover::model::AccessList {
        role_names: Default::default(),
        grants: entry.current.clone(),
        unreadable: Vec::new(),
    };
    api::share_body_on(entry.kind, req, &read).unwrap()
}

/// Checks one entry of a plain handover (old owner revoked): the request grants the
/// successor OWNER and revokes the departing user, nothing else; the target is the
/// current list with exactly that done; the wire body is the kind's dialect.
fn check_handover(entry: &PlanEntry, state: &StateSnapshot) {
    let kind = entry.kind;
    let what = format!("{kind} {}", entry.id);
    assert_eq!(entry.action, ActionKind::Change, "{what}: {entry:?}");
    assert_eq!(entry.reason, None, "{what}");
    assert_eq!(entry.fingerprint, fingerprint(&entry.current), "{what}");
    assert_eq!(
        entry.notify_suppressible,
        kind.suppresses_notification(),
        "{what}"
    );

    // What was read is what the server holds.
    let held: BTreeSet<(String, String, Role)> = state
        .access(kind, sim_id(kind, &entry.id))
        .unwrap()
        .iter()
        .map(|g| (g.id.clone(), g.username.to_lowercase(), g.role.into()))
        .collect();
    let read: BTreeSet<(String, String, Role)> = entry
        .current
        .iter()
        .map(|g| {
            (
                g.id.clone().unwrap_or_default(),
                g.name.to_lowercase(),
                g.role,
            )
        })
        .collect();
    assert_eq!(read, held, "{what}");
    assert_eq!(
        user_of(&entry.current, DEPARTING_USERNAME).map(|g| g.role),
        Some(Role::Owner),
        "{what}"
    );

    // The target: the successor owns, the departing user is gone, the rest untouched.
    assert_eq!(others(&entry.target), others(&entry.current), "{what}");
    assert_eq!(user_of(&entry.target, DEPARTING_USERNAME), None, "{what}");
    let successor = user_of(&entry.target, SUCCESSOR_USERNAME).expect("successor in target");
    assert_eq!(successor.role, Role::Owner, "{what}");
    assert_eq!(
        successor.can_share,
        kind.supports_can_share().then_some(true),
        "{what}"
    );
    assert_eq!(
        successor.id.as_deref(),
        Some(ident(state, SUCCESSOR_USERNAME).id.as_str())
    );
    assert_eq!(
        entry.target.len(),
        entry.current.len() + usize::from(user_of(&entry.current, SUCCESSOR_USERNAME).is_none(),)
            - 1,
        "{what}"
    );

    // The request: exactly those two changes, in one write.
    let req = entry.request.as_ref().unwrap();
    assert!(!req.notify, "{what}");
    assert_eq!(req.changes.len(), 2, "{what}: {req:?}");
    let grant = req
        .changes
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(SUCCESSOR_USERNAME))
        .expect("successor granted");
    assert_eq!(grant.role, Some(Role::Owner), "{what}");
    assert_eq!(grant.recipient_type, "user");
    assert_eq!(
        grant.can_share,
        kind.supports_can_share().then_some(true),
        "{what}"
    );
    let revoke = req
        .changes
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(DEPARTING_USERNAME))
        .expect("departing revoked");
    assert_eq!(revoke.role, None, "{what}");
    assert_eq!(
        revoke.id.as_deref(),
        Some(ident(state, DEPARTING_USERNAME).id.as_str())
    );

    // The dialect: what the executor will put on the wire for this kind.
    let body = wire_body(entry);
    match kind.dialect() {
        DialectKind::AccessControl => {
            let key = if kind == EntityKind::Calendar {
                "users"
            } else {
                "data"
            };
            let items = body[key]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: {body}"));
            let by_name = |name: &str| {
                items
                    .iter()
                    .find(|i| i["username"] == name)
                    .unwrap_or_else(|| panic!("{what}: {name} in {body}"))
            };
            assert_eq!(by_name(SUCCESSOR_USERNAME)["role"], "OWNER", "{what}");
            assert!(by_name(DEPARTING_USERNAME)["role"].is_null(), "{what}");
            assert_eq!(
                body.get("sendNotification"),
                (kind == EntityKind::Project).then_some(&serde_json::Value::Bool(false)),
                "{what}"
            );
        }
        DialectKind::SharedRoles => {
            assert_eq!(body["operation"], "updateRoles", "{what}");
            let roles = body["roles"].as_array().unwrap();
            let by_id = |name: &str| {
                let id = ident(state, name).id;
                roles
                    .iter()
                    .find(|r| r["id"] == id.as_str())
                    .unwrap_or_else(|| panic!("{what}: {name} in {body}"))
                    .clone()
            };
            assert_eq!(by_id(SUCCESSOR_USERNAME)["role"], "OWNER", "{what}");
            assert_eq!(by_id(SUCCESSOR_USERNAME)["shareRecipientType"], "user");
            assert_eq!(by_id(DEPARTING_USERNAME)["role"], "NO_ROLE", "{what}");
        }
    }
}

#[tokio::test]
async fn every_kind_is_planned_with_its_dialects_request() {
    let sim = start(generated(11, 3), SimConfig::default());
    let client = admin(&sim);
    let dir = tempfile::tempdir().unwrap();
    let plan = offboard(
        &sim,
        &client,
        dir.path(),
        OldOwnerRoleKind::None,
        &EntityKind::WRITABLE,
    )
    .await;
    let state = sim.state();
    for kind in EntityKind::WRITABLE {
        let want = owned(&state, kind, DEPARTING_USERNAME);
        assert_eq!(want.len(), 3, "{kind}");
        assert!(count_of(&state, kind) > want.len(), "{kind}: others exist");
        assert_eq!(plan.ids(kind), want, "{kind}: exactly what departing owns");
        for entry in plan.of_kind(kind) {
            check_handover(entry, &state);
        }
        let counts = plan.written.summary.get(kind);
        assert_eq!((counts.change, counts.noop, counts.refused), (3, 0, 0));
    }
    assert_eq!(plan.entries.len(), 75);
    // Reading changes nothing.
    assert_eq!(sim.stats().total_writes(), 0);
    assert_eq!(sim.state(), state);
}

#[tokio::test]
async fn both_role_vocabularies_give_the_same_plan() {
    let mut plans = Vec::new();
    for vocab in [RoleVocabKind::Specific, RoleVocabKind::Generic] {
        let sim = start(
            generated(12, 2),
            SimConfig {
                role_vocab: vocab.into(),
                ..SimConfig::default()
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let plan = offboard(
            &sim,
            &admin(&sim),
            dir.path(),
            OldOwnerRoleKind::Editor,
            &EntityKind::WRITABLE,
        )
        .await;
        assert_eq!(plan.entries.len(), 50, "{vocab:?}");
        plans.push(plan.entries);
    }
    // Editors and consumers read as READ_WRITE/READ_ONLY or as each kind's own names
    // become the same levels, so the same entries, fingerprints and requests.
    let editors = plans[1]
        .iter()
        .flat_map(|e| &e.current)
        .filter(|g| g.role == Role::Editor)
        .count();
    assert!(editors > 0);
    assert_eq!(plans[0], plans[1]);
}

/// For every kind, one entity the departing user does not own is given a nine-entry
/// access list with the departing user as OWNER last: with pages of three it is seen
/// only on the third page.
fn bury_departing_owner(sim: &SimHandle) -> BTreeMap<EntityKind, String> {
    let state = sim.state();
    let mut buried = BTreeMap::new();
    for kind in EntityKind::WRITABLE {
        let e = state
            .entities
            .iter()
            .find(|e| {
                // Its list is replaced whole below: any entity the departing user does not
                // own will do.
                e.kind == kind
                    && !e
                        .access
                        .iter()
                        .any(|g| g.username == DEPARTING_USERNAME && g.role == Role::Owner)
            })
            .unwrap_or_else(|| panic!("{kind}: an entity the departing user does not own"));
        let mut access = vec![SeedGrant::new(colleague(1), Role::Owner)];
        for n in 2..=8 {
            let role = if n % 2 == 0 {
                Role::Editor
            } else {
                Role::Consumer
            };
            access.push(SeedGrant {
                username: colleague(n),
                role: role.into(),
                can_share: n % 3 != 0,
            });
        }
        access.push(SeedGrant::new(DEPARTING_USERNAME, Role::Owner));
        sim.set_access(kind, &e.id, access).unwrap();
        buried.insert(kind, tool_id(e));
    }
    buried
}

#[tokio::test]
async fn small_pages_find_an_owner_seen_only_on_the_third_page() {
    // Server-side pages (lists of 2, access lists of 3), then client-side pages of 1.
    let cases = [
        (
            SimConfig {
                list_page_default: 2,
                list_page_max: 2,
                acl_page_default: 3,
                acl_page_max: 3,
                ..SimConfig::default()
            },
            policy(),
        ),
        (
            SimConfig::default(),
            ClientPolicy {
                page_size: Some(1),
                ..policy()
            },
        ),
    ];
    for (config, policy) in cases {
        let sim = start(generated(13, 2), config.clone());
        let buried = bury_departing_owner(&sim);
        let state = sim.state();
        let client = client_with(&sim, DEFAULT_ADMIN_TOKEN, policy.clone());
        let dir = tempfile::tempdir().unwrap();
        let plan = offboard(
            &sim,
            &client,
            dir.path(),
            OldOwnerRoleKind::None,
            &EntityKind::WRITABLE,
        )
        .await;
        for kind in EntityKind::WRITABLE {
            let want = owned(&state, kind, DEPARTING_USERNAME);
            assert_eq!(want.len(), 3, "{kind}");
            assert_eq!(plan.ids(kind), want, "{kind} ({policy:?})");
            for entry in plan.of_kind(kind) {
                check_handover(entry, &state);
            }
            let entry = plan.entry(kind, &buried[&kind]);
            assert_eq!(entry.current.len(), 9, "{kind}");
            assert_eq!(entry.current[8].name, DEPARTING_USERNAME, "{kind}");
            let mut want_target = entry.current[..8].to_vec();
            want_target.push(Grant {
                recipient_type: "user".into(),
                id: Some(ident(&state, SUCCESSOR_USERNAME).id),
                name: SUCCESSOR_USERNAME.into(),
                role: Role::Owner,
                can_share: kind.supports_can_share().then_some(true),
            });
            assert_eq!(entry.target, want_target, "{kind}");
        }
        // The buried lists really took three pages each.
        let stats = sim.stats();
        for kind in EntityKind::WRITABLE {
            let route = acl_route(kind);
            let reads = stats.route_total(&route);
            assert!(
                reads >= plan.ids(kind).len() as u64 + 2,
                "{kind}: {reads} reads of {route}"
            );
        }
        assert!(
            stats.route_total("GET deployments/") >= 2,
            "{:?}",
            stats.by_route
        );
        assert!(
            stats.route_total("GET catalogItems/") >= 4,
            "{:?}",
            stats.by_route
        );
    }
}

#[tokio::test]
async fn catalog_kinds_are_filtered_by_owner_on_the_server() {
    let sim = start(generated(14, 4), SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let plan = offboard(
        &sim,
        &admin(&sim),
        dir.path(),
        OldOwnerRoleKind::None,
        &EntityKind::WRITABLE,
    )
    .await;
    let state = sim.state();
    let stats = sim.stats();
    // Datasets, files and user blueprints are listed only through the catalog.
    assert!(
        stats.route_total("GET catalogItems/") >= 3,
        "{:?}",
        stats.by_route
    );
    for kind in [
        EntityKind::Dataset,
        EntityKind::File,
        EntityKind::UserBlueprint,
    ] {
        let list = format!("GET {}/", kind.collection());
        assert_eq!(stats.route_total(&list), 0, "{list}: {:?}", stats.by_route);
    }
    for kind in EntityKind::WRITABLE {
        let route = acl_route(kind);
        let reads = stats.route_total(&route);
        let owned = owned(&state, kind, DEPARTING_USERNAME).len() as u64;
        let all = count_of(&state, kind) as u64;
        assert!(owned < all, "{kind}");
        match kind {
            // The server filtered by owner (catalog), or the client did from `owners[]`
            // (use cases): the access lists of entities the departing user does not own
            // are never read.
            EntityKind::Dataset
            | EntityKind::File
            | EntityKind::UserBlueprint
            | EntityKind::UseCase => assert_eq!(reads, owned, "{route}"),
            // No owner filter: every access list is read, and the list is the truth.
            _ => assert_eq!(reads, all, "{route}"),
        }
        assert_eq!(plan.ids(kind).len() as u64, owned, "{kind}");
    }
}

#[tokio::test]
async fn the_old_owner_keeps_what_old_owner_role_says() {
    let kinds = [
        EntityKind::Project,
        EntityKind::Dataset,
        EntityKind::DataSource,
        EntityKind::Calendar,
        EntityKind::Deployment,
        EntityKind::UserBlueprint,
    ];
    for (old, keeps) in [
        (OldOwnerRoleKind::None, None),
        (OldOwnerRoleKind::Consumer, Some(Role::Consumer)),
        (OldOwnerRoleKind::Editor, Some(Role::Editor)),
        (OldOwnerRoleKind::Owner, Some(Role::Owner)),
    ] {
        let sim = start(generated(15, 2), SimConfig::default());
        let dir = tempfile::tempdir().unwrap();
        let plan = offboard(&sim, &admin(&sim), dir.path(), old, &kinds).await;
        assert_eq!(plan.entries.len(), 12, "{old}");
        assert!(matches!(
            &plan.header.source,
            SourceKind::Offboard { old_owner_role, .. } if *old_owner_role == old
        ));
        for entry in &plan.entries {
            let what = format!("{old}: {} {}", entry.kind, entry.id);
            assert_eq!(entry.action, ActionKind::Change, "{what}");
            assert_eq!(others(&entry.target), others(&entry.current), "{what}");
            let before = user_of(&entry.current, DEPARTING_USERNAME).unwrap();
            let after = user_of(&entry.target, DEPARTING_USERNAME);
            assert_eq!(after.map(|g| g.role), keeps, "{what}");
            if let Some(after) = after {
                // Demoted in place, keeping its can_share.
                assert_eq!(after.can_share, before.can_share, "{what}");
                let at = |list: &[Grant]| {
                    list.iter()
                        .position(|g| g.name == DEPARTING_USERNAME)
                        .unwrap()
                };
                assert_eq!(at(&entry.target), at(&entry.current), "{what}");
            }
            let req = entry.request.as_ref().unwrap();
            let departing_change = req
                .changes
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(DEPARTING_USERNAME));
            match old {
                // An owner who stays owner is not part of the request.
                OldOwnerRoleKind::Owner => assert_eq!(departing_change, None, "{what}"),
                _ => assert_eq!(departing_change.unwrap().role, keeps, "{what}"),
            }
            let successor = req
                .changes
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(SUCCESSOR_USERNAME))
                .unwrap();
            assert_eq!(successor.role, Some(Role::Owner), "{what}");
            assert_eq!(
                req.changes.len(),
                1 + usize::from(departing_change.is_some()),
                "{what}"
            );
        }
    }
}

#[tokio::test]
async fn entities_already_at_target_are_noops() {
    let sim = start(generated(16, 2), SimConfig::default());
    let state = sim.state();
    let mut done = Vec::new();
    for kind in [
        EntityKind::Project,
        EntityKind::Dataset,
        EntityKind::UseCase,
    ] {
        let id = owned(&state, kind, DEPARTING_USERNAME)
            .into_iter()
            .next()
            .unwrap();
        sim.set_access(
            kind,
            sim_id(kind, &id),
            vec![
                SeedGrant::new(DEPARTING_USERNAME, Role::Owner),
                SeedGrant::new(colleague(3), Role::Consumer),
                SeedGrant::new(SUCCESSOR_USERNAME, Role::Owner),
            ],
        )
        .unwrap();
        done.push((kind, id));
    }
    let dir = tempfile::tempdir().unwrap();
    let plan = offboard(
        &sim,
        &admin(&sim),
        dir.path(),
        OldOwnerRoleKind::Owner,
        &[
            EntityKind::Project,
            EntityKind::Dataset,
            EntityKind::UseCase,
        ],
    )
    .await;
    for (kind, id) in &done {
        let entry = plan.entry(*kind, id);
        assert_eq!(entry.action, ActionKind::Noop, "{kind}: {entry:?}");
        assert_eq!(entry.request, None);
        assert_eq!(entry.reason, None);
        assert_eq!(entry.current.len(), 3);
        let counts = plan.written.summary.get(*kind);
        assert_eq!(
            (counts.change, counts.noop, counts.refused),
            (1, 1, 0),
            "{kind}"
        );
    }
    assert_eq!(plan.written.summary.total().noop, 3);
}

#[tokio::test]
async fn recipients_on_the_command_line_must_exist_and_be_active() {
    let sim = start(generated(17, 1), SimConfig::default());
    let client = admin(&sim);

    let err = planner::resolve_user(&client, "--to", INACTIVE_USERNAME)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
    assert_eq!(
        err.to_string(),
        "--to inactive@acme.test: the user is not active"
    );
    let err = planner::resolve_user(&client, "--to", "nobody@acme.test")
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
    assert_eq!(err.to_string(), "--to nobody@acme.test: no such user");
    let ok = planner::resolve_user(&client, "--to", "SUCCESSOR@acme.test")
        .await
        .unwrap();
    assert_eq!(ok, ident(&sim.state(), SUCCESSOR_USERNAME));
    // users/ is for org admins: anyone else is told so, naming the flag.
    let colleague_client = client_with(&sim, &default_token(&colleague(1)), policy());
    let err = planner::resolve_user(&colleague_client, "--to", SUCCESSOR_USERNAME)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::FATAL);
    assert_eq!(
        err.to_string(),
        "--to successor@acme.test: cannot look the user up (only organization administrators may)"
    );
    // Lookups only: nothing was written.
    assert_eq!(sim.stats().total_writes(), 0);
}

#[tokio::test]
async fn an_inactive_departing_user_can_be_offboarded_but_not_demoted() {
    let sim = start(generated(18, 1), SimConfig::default());
    sim.set_active(DEPARTING_USERNAME, false).unwrap();
    let client = admin(&sim);
    for role in [OldOwnerRoleKind::Consumer, OldOwnerRoleKind::Editor] {
        let err = planner::resolve_departing(&client, "--from", DEPARTING_USERNAME, role)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), exit::INVALID_INPUT);
        assert!(
            err.to_string().starts_with(&format!(
                "--from departing@acme.test: the user is not active and cannot keep the role {role}"
            )),
            "{err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let plan = offboard(
        &sim,
        &client,
        dir.path(),
        OldOwnerRoleKind::None,
        &EntityKind::WRITABLE,
    )
    .await;
    let state = sim.state();
    assert_eq!(plan.entries.len(), 25);
    for entry in &plan.entries {
        check_handover(entry, &state);
    }
}

#[tokio::test]
async fn a_caller_who_is_only_an_editor_may_not_hand_over() {
    let sim = start(generated(19, 2), SimConfig::default());
    let state = sim.state();
    let me = colleague(1);
    let kinds = [
        EntityKind::Project,
        EntityKind::Dataset,
        EntityKind::Deployment,
    ];
    let mut editor_on = Vec::new();
    let mut owner_on = Vec::new();
    let mut can_share_false_on = Vec::new();
    for kind in kinds {
        let ids: Vec<String> = owned(&state, kind, DEPARTING_USERNAME)
            .into_iter()
            .collect();
        // First: the caller edits. Second: the caller co-owns. The departing user owns both.
        sim.set_access(
            kind,
            sim_id(kind, &ids[0]),
            vec![
                SeedGrant::new(DEPARTING_USERNAME, Role::Owner),
                SeedGrant::new(&me, Role::Editor),
            ],
        )
        .unwrap();
        sim.set_access(
            kind,
            sim_id(kind, &ids[1]),
            vec![
                SeedGrant::new(DEPARTING_USERNAME, Role::Owner),
                SeedGrant::new(&me, Role::Owner),
            ],
        )
        .unwrap();
        editor_on.push((kind, ids[0].clone()));
        owner_on.push((kind, ids[1].clone()));
        // Third (a new one for the test): the caller co-owns but may not share.
        if let Some(e) = state
            .entities
            .iter()
            .find(|e| e.kind == kind && !ids.contains(&e.id))
        {
            sim.set_access(
                kind,
                &e.id,
                vec![
                    SeedGrant::new(DEPARTING_USERNAME, Role::Owner),
                    SeedGrant {
                        username: me.clone(),
                        role: Role::Owner.into(),
                        can_share: false,
                    },
                ],
            )
            .unwrap();
            can_share_false_on.push((kind, e.id.clone()));
        }
    }
    // A non-admin cannot look users up (users/ is for admins), so the spec is built from
    // the simulator's own records.
    let client = client_with(&sim, &default_token(&me), policy());
    let caller = caller_of(&client).await;
    assert!(!caller.org_admin);
    let spec = OffboardSpec {
        from: vec![ident(&state, DEPARTING_USERNAME)],
        to: ident(&state, SUCCESSOR_USERNAME),
        old_owner_role: OldOwnerRoleKind::None,
        kinds: kinds.to_vec(),
    };
    let dir = tempfile::tempdir().unwrap();
    let plan = run_offboard(&client, &caller, &spec, dir.path()).await;
    for (kind, id) in &editor_on {
        let entry = plan.entry(*kind, id);
        assert_eq!(entry.action, ActionKind::Refused, "{kind}");
        assert_eq!(
            entry.reason.as_deref(),
            Some("caller may not share this entity"),
            "{kind}"
        );
        assert_eq!(entry.request, None);
        // What was wanted is still shown for review.
        assert_eq!(
            user_of(&entry.target, SUCCESSOR_USERNAME).map(|g| g.role),
            Some(Role::Owner)
        );
    }
    // canShare false is refused where the read reports it; deployment reads never do, so
    // there only the server can tell, when the share is sent.
    for (kind, id) in &can_share_false_on {
        let entry = plan.entry(*kind, id);
        let reported = user_of(&entry.current, &me).unwrap().can_share;
        let want = match kind {
            EntityKind::Deployment => {
                assert_eq!(reported, None);
                ActionKind::Change
            }
            _ => {
                assert_eq!(reported, Some(false), "{kind}");
                ActionKind::Refused
            }
        };
        assert_eq!(entry.action, want, "{kind}: {entry:?}");
    }
    for (kind, id) in &owner_on {
        let entry = plan.entry(*kind, id);
        assert_eq!(entry.action, ActionKind::Change, "{kind}: {entry:?}");
        assert_eq!(others(&entry.target), others(&entry.current));
    }
    // The seed gave the caller roles elsewhere too: the same rule holds for every entry,
    // and what the caller holds nothing on is invisible to them, so not planned.
    let now = sim.state();
    for entry in &plan.entries {
        let mine = user_of(&entry.current, &me).expect("the caller sees only what it holds");
        let may = mine.role == Role::Owner && mine.can_share != Some(false);
        let want = if may {
            ActionKind::Change
        } else {
            ActionKind::Refused
        };
        assert_eq!(entry.action, want, "{} {}: {entry:?}", entry.kind, entry.id);
    }
    for kind in kinds {
        let visible: BTreeSet<String> = owned(&now, kind, DEPARTING_USERNAME)
            .into_iter()
            .filter(|id| {
                now.access(kind, sim_id(kind, id))
                    .unwrap()
                    .iter()
                    .any(|g| g.username == me)
            })
            .collect();
        assert_eq!(plan.ids(kind), visible, "{kind}");
    }
}

#[tokio::test]
async fn csv_plans_are_checked_against_the_server_row_by_row() {
    let sim = start(generated(20, 2), SimConfig::default());
    let state = sim.state();
    let project = owned(&state, EntityKind::Project, DEPARTING_USERNAME)
        .into_iter()
        .next()
        .unwrap();
    let datasets: Vec<String> = owned(&state, EntityKind::Dataset, DEPARTING_USERNAME)
        .into_iter()
        .collect();
    let calendar = owned(&state, EntityKind::Calendar, DEPARTING_USERNAME)
        .into_iter()
        .next()
        .unwrap();
    let file = owned(&state, EntityKind::File, DEPARTING_USERNAME)
        .into_iter()
        .next()
        .unwrap();
    sim.set_access(
        EntityKind::Calendar,
        &calendar,
        vec![
            SeedGrant::new(DEPARTING_USERNAME, Role::Owner),
            SeedGrant::new(colleague(2), Role::Consumer),
        ],
    )
    .unwrap();
    sim.set_access(
        EntityKind::File,
        &file,
        vec![SeedGrant::new(DEPARTING_USERNAME, Role::Owner)],
    )
    .unwrap();
    let missing = "0123456789abcdef01234567";
    let csv = format!(
        "entity_type,entity_id,username,role,can_share\n\
         project,{project},{SUCCESSOR_USERNAME},OWNER,\n\
         project,{project},{DEPARTING_USERNAME},NONE,\n\
         dataset,{d0},nobody@acme.test,CONSUMER,\n\
         dataset,{d1},{INACTIVE_USERNAME},EDITOR,\n\
         deployment,{missing},{SUCCESSOR_USERNAME},OWNER,\n\
         calendar,{calendar},{user2},READ_ONLY,\n\
         calendar,{calendar},gone@acme.test,NONE,\n\
         file,{file},{user5},EDITOR,false\n",
        d0 = datasets[0],
        d1 = datasets[1],
        user2 = colleague(2),
        user5 = colleague(5),
    );
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("changes.csv");
    std::fs::write(&csv_path, &csv).unwrap();
    let changes = csvplan::read(&csv_path).unwrap();
    assert_eq!(changes.len(), 6);

    let client = admin(&sim);
    let caller = caller_of(&client).await;
    let header = PlanHeader::new(
        client.endpoint().as_str(),
        caller.user.clone(),
        SourceKind::Csv {
            file: csv_path.display().to_string(),
            sha256: Some(handover::plan::sha256_hex(csv.as_bytes())),
        },
    );
    let mut writer = PlanWriter::create(dir.path().join("plan.jsonl"), &header).unwrap();
    planner::plan_csv(&client, &caller, changes, settings(), &mut writer)
        .await
        .unwrap();
    let plan = read_back(writer.finish().unwrap());
    assert_eq!(plan.header, header);
    assert_eq!(plan.entries.len(), 6);

    // Ownership moves in one request.
    let entry = plan.entry(EntityKind::Project, &project);
    assert_eq!(entry.action, ActionKind::Change);
    assert_eq!(others(&entry.target), others(&entry.current));
    assert_eq!(
        user_of(&entry.target, SUCCESSOR_USERNAME).map(|g| g.role),
        Some(Role::Owner)
    );
    assert_eq!(user_of(&entry.target, DEPARTING_USERNAME), None);
    assert_eq!(entry.request.as_ref().unwrap().changes.len(), 2);
    assert!(!entry.name.is_empty());

    // Refusals, each with its reason; the list as read is kept for review.
    for (kind, id, reason) in [
        (
            EntityKind::Dataset,
            datasets[0].as_str(),
            r#"recipient "nobody@acme.test" not found"#,
        ),
        (
            EntityKind::Dataset,
            datasets[1].as_str(),
            r#"recipient "inactive@acme.test" is not active"#,
        ),
        (
            EntityKind::Deployment,
            missing,
            "entity not found or not visible to the caller",
        ),
    ] {
        let entry = plan.entry(kind, id);
        assert_eq!(entry.action, ActionKind::Refused, "{kind} {id}");
        assert_eq!(entry.reason.as_deref(), Some(reason), "{kind} {id}");
        assert_eq!(entry.request, None);
        assert_eq!(entry.target, entry.current);
    }
    assert!(
        !plan
            .entry(EntityKind::Dataset, &datasets[0])
            .current
            .is_empty()
    );
    assert!(
        plan.entry(EntityKind::Deployment, missing)
            .current
            .is_empty()
    );

    // Already so, and revoking someone unknown: nothing to send.
    let entry = plan.entry(EntityKind::Calendar, &calendar);
    assert_eq!(entry.action, ActionKind::Noop, "{entry:?}");

    // can_share travels where the kind carries it.
    let entry = plan.entry(EntityKind::File, &file);
    assert_eq!(entry.action, ActionKind::Change);
    let change = &entry.request.as_ref().unwrap().changes;
    assert_eq!(change.len(), 1);
    assert_eq!(
        (change[0].name.as_str(), change[0].role, change[0].can_share),
        (colleague(5).as_str(), Some(Role::Editor), Some(false))
    );
    assert_eq!(
        change[0].id.as_deref(),
        Some(ident(&state, &colleague(5)).id.as_str())
    );

    let total = plan.written.summary.total();
    assert_eq!((total.change, total.noop, total.refused), (2, 1, 3));
    assert_eq!(sim.stats().total_writes(), 0);
}

#[tokio::test]
async fn the_plan_file_reads_back_with_its_companion_csv_and_summary_table() {
    let sim = start(generated(21, 2), SimConfig::default());
    let state = sim.state();
    // One noop and one refusal beside the changes, so that every column of the table counts.
    let project = owned(&state, EntityKind::Project, DEPARTING_USERNAME)
        .into_iter()
        .next()
        .unwrap();
    sim.set_access(
        EntityKind::Project,
        &project,
        vec![
            SeedGrant::new(DEPARTING_USERNAME, Role::Owner),
            SeedGrant::new(SUCCESSOR_USERNAME, Role::Owner),
        ],
    )
    .unwrap();
    let kinds = [
        EntityKind::Project,
        EntityKind::DataStore,
        EntityKind::ExecutionEnvironment,
    ];
    let client = admin(&sim);
    let caller = caller_of(&client).await;
    let to = planner::resolve_user(&client, "--to", SUCCESSOR_USERNAME)
        .await
        .unwrap();
    let from = ident(&state, DEPARTING_USERNAME);
    let spec = OffboardSpec {
        from: vec![from],
        to,
        old_owner_role: OldOwnerRoleKind::Owner,
        kinds: kinds.to_vec(),
    };
    let dir = tempfile::tempdir().unwrap();
    let plan = run_offboard(&client, &caller, &spec, dir.path()).await;

    // The header says where the plan came from.
    assert_eq!(plan.header.caller.username, ADMIN_USERNAME);
    assert_eq!(plan.header.endpoint, client.endpoint().as_str());
    assert_eq!(
        plan.header.source,
        SourceKind::Offboard {
            from: spec.from.clone(),
            to: spec.to.clone(),
            old_owner_role: OldOwnerRoleKind::Owner,
            types: kinds.to_vec(),
        }
    );
    assert_eq!(plan.entries.len(), 6);
    assert_eq!(
        plan.entry(EntityKind::Project, &project).action,
        ActionKind::Noop
    );

    // Only the plan and its CSV are left in the directory; both private.
    let csv_path = companion_csv_path(&plan.written.path);
    assert_eq!(plan.written.csv_path, csv_path);
    assert_eq!(csv_path, dir.path().join("plan.csv"));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["plan.csv", "plan.jsonl"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for path in [&plan.written.path, &csv_path] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
    }
    // One CSV row per principal that changes (one for the noop), under the header.
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "type,id,name,action,principal,principal_type,role_before,role_after,\
             can_share_before,can_share_after,reason,notifies"
        )
    );
    let rows: Vec<&str> = lines.collect();
    let want_rows: usize = plan
        .entries
        .iter()
        .map(|e| e.request.as_ref().map_or(1, |r| r.changes.len()))
        .sum();
    assert_eq!(rows.len(), want_rows, "{csv}");
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&format!("project,{project},")) && r.contains(",noop,")),
        "{csv}"
    );
    assert!(
        rows.iter()
            .filter(|r| r.contains(SUCCESSOR_USERNAME))
            .all(|r| r.contains(",OWNER,")),
        "{csv}"
    );

    // The summary and its table.
    assert_eq!(
        render_table(&plan.written.summary),
        "\
type                    to change  already done  refused
projects                        1             1        0
data stores                     2             0        0
execution environments          2             0        0
total                           5             1        0
"
    );
}
