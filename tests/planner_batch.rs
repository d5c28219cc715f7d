//! Batch offboarding and narrowing against the in-process simulator: several departing
//! users planned in one pass (each kind listed once, each access list read once), entities
//! co-owned by two departing users, `--only-ids`/`--exclude`, map files that are refused
//! (the bad corpus in `tests/data/map/bad`, and users that do not exist), and a caller who
//! is not an organization administrator handing over their own projects, end to end with
//! the real binary.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use handover::api::config::ConnSettings;
use handover::api::{Client, ClientPolicy, RetryPolicy};
use handover::exit;
use handover::model::{EntityKind, Role};
use handover::plan::mapfile::{self, IdListKind, MapRow};
use handover::plan::planner::{self, BatchSpec, Caller, PlannerSettings, Selection};
use handover::plan::{
    ActionKind, HandoverPair, OldOwnerRoleKind, PlanEntry, PlanHeader, PlanReader, PlanWriter,
    SourceKind, UserIdent,
};
use handover::secret::Token;
use handover::sim::{
    DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, INACTIVE_USERNAME, SUCCESSOR_USERNAME, Seed,
    SeedEntity, SeedGrant, SeedPrincipal, Sim, SimConfig, SimHandle, StateSnapshot, default_token,
};
use tempfile::TempDir;

/// The second departing user and their successor: two colleagues of generated seeds.
const LEAVER: &str = "user5@acme.test";
const HEIR: &str = "user6@acme.test";

fn policy() -> ClientPolicy {
    ClientPolicy {
        rate_per_sec: 5000.0,
        burst: 100,
        retry: RetryPolicy {
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
        jitter_seed: Some(5),
        ..ClientPolicy::default()
    }
}

fn settings() -> PlannerSettings {
    PlannerSettings {
        concurrency: 8,
        progress: false,
    }
}

fn client_with(sim: &SimHandle, token: &str) -> Client {
    let settings = ConnSettings::new(&sim.endpoint(), Token::new(token), false).unwrap();
    Client::new(settings, policy()).unwrap()
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

fn ident(state: &StateSnapshot, username: &str) -> UserIdent {
    let u = state.user(username).expect("user in seed");
    UserIdent {
        id: u.id.clone(),
        username: u.username.clone(),
    }
}

/// Sets `username`'s role on `grants`, in place or appended.
fn set_role(grants: &mut Vec<SeedGrant>, username: &str, role: Role) {
    match grants.iter_mut().find(|g| g.username == username) {
        Some(g) => g.role = role.into(),
        None => grants.push(SeedGrant::new(username, role)),
    }
}

/// A generated organisation where, in every kind, one entity the departing user owns is
/// co-owned by [`LEAVER`], and one entity the departing user has no role on is owned by
/// [`LEAVER`]. Returns the seed and the co-owned entities.
fn batch_seed(seed: u64) -> (Seed, BTreeSet<(EntityKind, String)>) {
    // Extras: one entity others own and one the departing user only uses, per kind.
    let mut seed = Seed::generate(&GenSpec {
        extra_ratio: 1.0,
        ..GenSpec::uniform(seed, 2)
    });
    let mut co_owned = BTreeSet::new();
    for kind in EntityKind::WRITABLE {
        let shared = seed
            .entities
            .iter_mut()
            .find(|e| {
                e.kind == kind
                    && e.access
                        .iter()
                        .any(|g| g.username == DEPARTING_USERNAME && g.role == Role::Owner)
            })
            .expect("the departing user owns something of every kind");
        set_role(&mut shared.access, LEAVER, Role::Owner);
        co_owned.insert((kind, seed_tool_id(shared)));
        let theirs = seed
            .entities
            .iter_mut()
            .find(|e| e.kind == kind && e.access.iter().all(|g| g.username != DEPARTING_USERNAME))
            .expect("generated seeds have entities the departing user has no role on");
        set_role(&mut theirs.access, LEAVER, Role::Owner);
    }
    seed.validate().unwrap();
    (seed, co_owned)
}

fn start(seed: Seed) -> SimHandle {
    Sim::start("127.0.0.1:0".parse().unwrap(), seed, SimConfig::default()).unwrap()
}

/// The tool's id of a simulated entity: a notification policy template's is
/// `<related entity type>:<id>`.
fn tool_id(e: &handover::sim::SnapshotEntity) -> String {
    match &e.related_entity_type {
        Some(t) => format!("{t}:{}", e.id),
        None => e.id.clone(),
    }
}

/// [`tool_id`] of a seed's entity.
fn seed_tool_id(e: &handover::sim::SeedEntity) -> String {
    match &e.related_entity_type {
        Some(t) => format!("{t}:{}", e.id),
        None => e.id.clone(),
    }
}

/// The simulator's id of the entity the tool calls `id`.
fn sim_id(kind: impl Into<EntityKind>, id: &str) -> &str {
    kind.into().related_id(id).map_or(id, |(_, raw)| raw)
}

/// Ids of `kind` on which `username` is OWNER.
fn owned(
    state: &StateSnapshot,
    kind: EntityKind,
    username: &str,
) -> BTreeSet<(EntityKind, String)> {
    state
        .held_by(kind, username, Role::Owner)
        .into_iter()
        .map(|e| (kind, tool_id(e)))
        .collect()
}

fn owned_all(state: &StateSnapshot, username: &str) -> BTreeSet<(EntityKind, String)> {
    EntityKind::WRITABLE
        .iter()
        .flat_map(|k| owned(state, *k, username))
        .collect()
}

/// Plans `spec` as `caller` into `dir/plan.jsonl` and reads every entry back.
async fn plan_batch(
    client: &Client,
    caller: &Caller,
    spec: &BatchSpec,
    dir: &Path,
) -> (PlanHeader, Vec<PlanEntry>) {
    let source = SourceKind::OffboardMap {
        file: "map.csv".into(),
        sha256: None,
        pairs: spec.pairs.clone(),
        old_owner_role: spec.old_owner_role,
        types: spec.kinds.clone(),
        revoke_other_access: !spec.keep_other_access,
    };
    let header = PlanHeader::new(client.endpoint().as_str(), caller.user.clone(), source);
    let path = dir.join("plan.jsonl");
    let mut writer = PlanWriter::create(&path, &header).unwrap();
    planner::plan_batch(client, caller, spec, settings(), &mut writer)
        .await
        .unwrap();
    writer.finish().unwrap();
    let reader = PlanReader::open(&path).unwrap();
    let header = reader.header().clone();
    (header, reader.map(Result::unwrap).collect())
}

fn keys(entries: &[PlanEntry]) -> BTreeSet<(EntityKind, String)> {
    entries.iter().map(|e| (e.kind, e.id.clone())).collect()
}

/// The route the simulator counts for listing `kind` (files are listed from the catalog).
fn list_route(kind: EntityKind) -> String {
    match kind {
        EntityKind::File => "GET catalogItems/".to_string(),
        _ => format!("GET {}{}", base_route(kind), slash(kind)),
    }
}

fn acl_route(kind: EntityKind) -> String {
    format!(
        "GET {}/{{id}}/{}{}",
        base_route(kind),
        kind.access_segment(),
        slash(kind)
    )
}

/// A kind's collection in the simulator's route templates: a notification policy
/// template's has its related entity type in it.
fn base_route(kind: EntityKind) -> String {
    match kind.list_route() {
        handover::model::ListRouteKind::PerRelatedType(_) => {
            format!("{}/{{rel}}", kind.collection())
        }
        _ => kind.collection().to_string(),
    }
}

/// The Workload API's paths have no trailing slash.
fn slash(kind: EntityKind) -> &'static str {
    if kind.trailing_slash() { "/" } else { "" }
}

fn pairs(state: &StateSnapshot) -> Vec<HandoverPair> {
    vec![
        HandoverPair {
            from: ident(state, DEPARTING_USERNAME),
            to: ident(state, SUCCESSOR_USERNAME),
        },
        HandoverPair {
            from: ident(state, LEAVER),
            to: ident(state, HEIR),
        },
    ]
}

#[tokio::test]
async fn two_departing_users_are_planned_in_one_pass() {
    let (seed, co_owned) = batch_seed(41);
    let sim = start(seed);
    let state = sim.state();
    let client = client_with(&sim, DEFAULT_ADMIN_TOKEN);
    let caller = caller_of(&client).await;
    let spec = BatchSpec {
        pairs: pairs(&state),
        old_owner_role: OldOwnerRoleKind::None,
        kinds: EntityKind::WRITABLE.to_vec(),
        keep_other_access: true,
        selection: Selection::default(),
        orphans: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let (header, entries) = plan_batch(&client, &caller, &spec, dir.path()).await;

    // One pass: every kind listed once (one page each here; projects and data stores,
    // which have no `next`, also read the empty page that ends them), every access list
    // read once, whatever the number of departing users; nothing written, nobody looked up.
    let stats = sim.stats();
    for kind in EntityKind::WRITABLE {
        let pages = match kind {
            EntityKind::Project | EntityKind::DataStore => 2,
            // One list per related entity type.
            EntityKind::NotificationPolicyTemplate => 2,
            _ => 1,
        };
        assert_eq!(stats.route_total(&list_route(kind)), pages, "{kind} listed");
        let of_kind = state.entities.iter().filter(|e| e.kind == kind).count() as u64;
        assert_eq!(stats.route_total(&acl_route(kind)), of_kind, "{kind} read");
    }
    assert_eq!(stats.route_total("GET users/"), 0);
    assert_eq!(stats.total_writes(), 0);

    // Exactly what either departing user owns, each entity once.
    let departing = owned_all(&state, DEPARTING_USERNAME);
    let leaver = owned_all(&state, LEAVER);
    assert_eq!(entries.len(), keys(&entries).len());
    assert_eq!(keys(&entries), &departing | &leaver);
    assert!(co_owned.is_subset(&(&departing & &leaver)));
    assert!(departing.len() > co_owned.len() && leaver.len() > co_owned.len());

    for e in &entries {
        assert_eq!(
            e.action,
            ActionKind::Change,
            "{} {}: {:?}",
            e.kind,
            e.id,
            e.reason
        );
        let before = state.access(e.kind, sim_id(e.kind, &e.id)).unwrap();
        let had = |who: &str| {
            before
                .iter()
                .any(|g| g.username == who && g.role == Role::Owner)
        };
        let role_in_target = |who: &str| {
            e.target
                .iter()
                .find(|g| g.name.eq_ignore_ascii_case(who))
                .map(|g| g.role)
        };
        // A departing owner keeps nothing, and their successor owns the entity; a departing
        // user who did not own it keeps their role, as a run of their own would leave it.
        for (who, heir) in [(DEPARTING_USERNAME, SUCCESSOR_USERNAME), (LEAVER, HEIR)] {
            if had(who) {
                assert_eq!(role_in_target(who), None, "{} {}", e.kind, e.id);
                assert_eq!(role_in_target(heir), Some(Role::Owner));
            } else {
                let role = before
                    .iter()
                    .find(|g| g.username == who)
                    .map(|g| g.role.into());
                assert_eq!(role_in_target(who), role, "{} {}", e.kind, e.id);
            }
        }
        // Everyone else is left as they were.
        for g in before {
            if ![DEPARTING_USERNAME, LEAVER, SUCCESSOR_USERNAME, HEIR]
                .contains(&g.username.as_str())
            {
                assert_eq!(role_in_target(&g.username), Some(g.role.into()));
            }
        }
        // One request carries both transfers of a co-owned entity.
        if co_owned.contains(&(e.kind, e.id.clone())) {
            let request = e.request.as_ref().unwrap();
            let revoked: BTreeSet<&str> = request
                .changes
                .iter()
                .filter(|c| c.role.is_none())
                .map(|c| c.name.as_str())
                .collect();
            assert_eq!(revoked, BTreeSet::from([DEPARTING_USERNAME, LEAVER]));
        }
    }

    // The header records every pair.
    match &header.source {
        SourceKind::OffboardMap { pairs: got, .. } => assert_eq!(got, &spec.pairs),
        other => panic!("{other:?}"),
    }
    assert_eq!(header.selection, None);
}

fn id_list(text: &str, purpose: IdListKind) -> handover::plan::mapfile::IdList {
    mapfile::parse_ids("ids.txt", text.as_bytes(), purpose).unwrap()
}

#[tokio::test]
async fn only_ids_and_exclude_narrow_the_plan_before_any_access_list_is_read() {
    let (seed, _) = batch_seed(42);
    let sim = start(seed);
    let state = sim.state();
    let client = client_with(&sim, DEFAULT_ADMIN_TOKEN);
    let caller = caller_of(&client).await;
    let all = &owned_all(&state, DEPARTING_USERNAME) | &owned_all(&state, LEAVER);
    let project = owned(&state, EntityKind::Project, DEPARTING_USERNAME)
        .into_iter()
        .next()
        .unwrap()
        .1;
    let dataset = owned(&state, EntityKind::Dataset, LEAVER)
        .into_iter()
        .next()
        .unwrap()
        .1;
    let other_dataset = owned(&state, EntityKind::Dataset, DEPARTING_USERNAME)
        .into_iter()
        .find(|(_, id)| *id != dataset)
        .unwrap()
        .1;
    let use_case = owned(&state, EntityKind::UseCase, DEPARTING_USERNAME)
        .into_iter()
        .next()
        .unwrap()
        .1;
    let unowned = state
        .entities
        .iter()
        .find(|e| !all.contains(&(e.kind.into(), tool_id(e))))
        .unwrap();

    // Only: a bare id, a typed id, a typed id of the wrong type, an id also excluded, an
    // entity nobody departing owns, and an id that does not exist.
    let only = format!(
        "# the entities to move now\nid\n{project}\ndataset,{dataset}\nproject,{other_dataset}\n\
         {use_case}\n{}\n0123456789abcdef01234567\n",
        unowned.id
    );
    let spec = BatchSpec {
        pairs: pairs(&state),
        old_owner_role: OldOwnerRoleKind::None,
        kinds: EntityKind::WRITABLE.to_vec(),
        keep_other_access: true,
        selection: Selection {
            only: Some(id_list(&only, IdListKind::Only)),
            exclude: Some(id_list(
                &format!("use_case,{use_case}\n"),
                IdListKind::Exclude,
            )),
        },
        orphans: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, entries) = plan_batch(&client, &caller, &spec, dir.path()).await;
    assert_eq!(
        keys(&entries),
        BTreeSet::from([
            (EntityKind::Project, project.clone()),
            (EntityKind::Dataset, dataset.clone())
        ])
    );
    // Only the admitted entities' access lists were read: the unowned one too (its owner is
    // found only by reading it), nothing else.
    let reads: u64 = EntityKind::WRITABLE
        .iter()
        .map(|k| sim.stats().route_total(&acl_route(*k)))
        .sum();
    assert_eq!(reads, 3);

    // Exclude alone: everything but the excluded, with bare and typed ids.
    let exclude = format!("{project}\ndataset,{dataset}\nproject,{other_dataset}\n");
    let spec = BatchSpec {
        selection: Selection {
            only: None,
            exclude: Some(id_list(&exclude, IdListKind::Exclude)),
        },
        ..spec
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, entries) = plan_batch(&client, &caller, &spec, dir.path()).await;
    let mut want = all.clone();
    want.remove(&(EntityKind::Project, project));
    want.remove(&(EntityKind::Dataset, dataset));
    assert!(want.contains(&(EntityKind::Dataset, other_dataset)));
    assert_eq!(keys(&entries), want);
}

fn map_data(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/map")
        .join(dir)
}

#[test]
fn every_bad_map_is_refused_with_its_expected_message() {
    let mut cases: Vec<PathBuf> = fs::read_dir(map_data("bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "only {} bad cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let expected = fs::read_to_string(case.with_extension("expected"))
            .unwrap_or_else(|_| panic!("{} has no .expected file", case.display()));
        let expected = expected.strip_suffix('\n').unwrap_or(&expected);
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        match mapfile::parse_map(&name, &fs::read(case).unwrap()) {
            Ok(rows) => failures.push(format!("{name}: accepted, {} rows", rows.len())),
            Err(err) => {
                assert_eq!(err.exit_code(), exit::INVALID_INPUT);
                let actual = err.to_string();
                if actual != expected {
                    failures.push(format!(
                        "{name}:\n  expected: {expected:?}\n  actual:   {actual:?}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    for entry in fs::read_dir(map_data("bad")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "expected") {
            assert!(path.with_extension("csv").exists(), "{}", path.display());
        }
    }
}

#[test]
fn the_shipped_example_map_and_id_list_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations-plans/batch");
    let rows = mapfile::parse_map(
        "leavers.map.csv",
        &fs::read(root.join("leavers.map.csv")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.from.as_str(), r.to.as_str()))
            .collect::<Vec<_>>(),
        [
            ("alice@example.com", "bob@example.com"),
            ("carol@example.com", "bob@example.com"),
            ("dave@example.com", "erin@example.com"),
        ]
    );
    let ids = mapfile::parse_ids(
        "audit-hold.ids.txt",
        &fs::read(root.join("audit-hold.ids.txt")).unwrap(),
        IdListKind::Exclude,
    )
    .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(EntityKind::Deployment, "65c3f2e4a6d2c3d4e5f60701"));
    assert!(ids.contains(EntityKind::Project, "65a1f0c2e4b0a1b2c3d4e501"));
    assert!(!ids.contains(EntityKind::Project, "65b2e1d3f5c1b2c3d4e5f601"));
}

#[tokio::test]
async fn users_of_a_map_that_cannot_receive_or_leave_are_all_reported_with_their_lines() {
    let sim = start(Seed::generate(&GenSpec::uniform(43, 1)));
    let client = client_with(&sim, DEFAULT_ADMIN_TOKEN);
    let caller = caller_of(&client).await;
    let row = |from: &str, to: &str, line: u64| MapRow {
        from: from.into(),
        to: to.into(),
        line,
    };
    let rows = [
        row(DEPARTING_USERNAME, SUCCESSOR_USERNAME, 2),
        row("ghost@acme.test", HEIR, 3),
        row(LEAVER, INACTIVE_USERNAME, 5),
        row(INACTIVE_USERNAME, "nobody@acme.test", 6),
    ];
    let err = planner::resolve_map(
        &client,
        &caller,
        "m.csv",
        &rows,
        OldOwnerRoleKind::Consumer,
        4,
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
    assert_eq!(
        err.to_string(),
        "m.csv:3: field from: no such user \"ghost@acme.test\"\n\
         m.csv:5: field to: \"inactive@acme.test\" is not active\n\
         m.csv:6: field from: \"inactive@acme.test\" is not active and cannot keep the role CONSUMER (use --old-owner-role none or owner)\n\
         m.csv:6: field to: no such user \"nobody@acme.test\""
    );
    // One lookup per distinct user, and the same map resolves when only the departing
    // user is inactive and nothing is kept.
    assert_eq!(sim.stats().route_total("GET users/"), 7);
    let (pairs, unchecked) = planner::resolve_map(
        &client,
        &caller,
        "m.csv",
        &[row(INACTIVE_USERNAME, SUCCESSOR_USERNAME, 2)],
        OldOwnerRoleKind::None,
        4,
    )
    .await
    .unwrap();
    assert_eq!(pairs[0].from, ident(&sim.state(), INACTIVE_USERNAME));
    assert!(unchecked.is_empty());
}

#[tokio::test]
async fn a_caller_who_may_not_look_users_up_gets_username_only_recipients() {
    let sim = start(Seed::generate(&GenSpec::uniform(44, 1)));
    let state = sim.state();
    let client = client_with(&sim, &default_token(DEPARTING_USERNAME));
    let caller = caller_of(&client).await;
    assert!(!caller.org_admin);

    let to = planner::resolve_recipient(&client, "--to", SUCCESSOR_USERNAME)
        .await
        .unwrap();
    assert!(!to.checked);
    assert_eq!(to.user, UserIdent::unchecked(SUCCESSOR_USERNAME));
    // Their own name needs no lookup; someone else's falls back too.
    let me = planner::resolve_departing_user(
        &client,
        &caller,
        "--from",
        "DEPARTING@acme.test",
        OldOwnerRoleKind::None,
    )
    .await
    .unwrap();
    assert_eq!(
        (me.user, me.checked),
        (ident(&state, DEPARTING_USERNAME), true)
    );
    let other =
        planner::resolve_departing_user(&client, &caller, "--from", LEAVER, OldOwnerRoleKind::None)
            .await
            .unwrap();
    assert_eq!(other.user, UserIdent::unchecked(LEAVER));
    // A map: the first refused lookup stands for all; nothing else is asked.
    let before = sim.stats().route_total("GET users/");
    let rows = [MapRow {
        from: DEPARTING_USERNAME.into(),
        to: SUCCESSOR_USERNAME.into(),
        line: 2,
    }];
    let (pairs, unchecked) =
        planner::resolve_map(&client, &caller, "m.csv", &rows, OldOwnerRoleKind::None, 4)
            .await
            .unwrap();
    assert_eq!(sim.stats().route_total("GET users/"), before + 1);
    assert_eq!(pairs[0].from, caller.user);
    assert_eq!(pairs[0].to, UserIdent::unchecked(SUCCESSOR_USERNAME));
    assert_eq!(unchecked, [SUCCESSOR_USERNAME]);
}

// ---------------------------------------------------------------------------------------
// The real binary.

struct World {
    sim: SimHandle,
    _runtime: tokio::runtime::Runtime,
    dir: TempDir,
}

fn world(seed: Seed) -> World {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = {
        let _guard = runtime.enter();
        start(seed)
    };
    World {
        sim,
        _runtime: runtime,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl World {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, text).unwrap();
        path
    }

    /// `handover ARGS --endpoint SIM --token TOKEN`, in a clean environment.
    fn run(&self, token: &str, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_handover"))
            .env_clear()
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path())
            .args(args)
            .args(["--endpoint", &self.sim.endpoint(), "--token", token])
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_code(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn a_bad_map_or_id_list_fails_before_any_request() {
    let w = world(Seed::generate(&GenSpec::uniform(45, 1)));
    let map = map_data("bad").join("many_problems.csv");
    let map = map.to_str().unwrap();
    let out = w.run(
        DEFAULT_ADMIN_TOKEN,
        &["plan", "--map", map, "--out", "p.jsonl"],
    );
    assert_code(&out, exit::INVALID_INPUT);
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "handover: error: {map}:5: field to: same user as from"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.matches("many_problems.csv:").count(), 5, "{stderr}");

    let ids = w.write("only.txt", "project,p1\nwidget,x\n");
    let out = w.run(
        DEFAULT_ADMIN_TOKEN,
        &[
            "offboard",
            "--yes",
            "--to",
            SUCCESSOR_USERNAME,
            "--only-ids",
            ids.to_str().unwrap(),
        ],
    );
    assert_code(&out, exit::INVALID_INPUT);
    assert!(text(&out.stderr).contains("only.txt:2: field type: unknown entity type \"widget\""));
    // Not even the connection check was sent.
    assert_eq!(w.sim.stats().requests, 0);
    assert!(!w.path("p.jsonl").exists());
}

#[test]
fn offboard_with_a_map_and_an_exclusion_hands_over_co_owned_entities_to_both_successors() {
    let (seed, co_owned) = batch_seed(46);
    let w = world(seed);
    let before = w.sim.state();
    let kept = co_owned
        .iter()
        .find(|(k, _)| *k == EntityKind::Deployment)
        .unwrap();
    w.write(
        "leavers.csv",
        &format!("from,to\n{DEPARTING_USERNAME},{SUCCESSOR_USERNAME}\n{LEAVER},{HEIR}\n"),
    );
    w.write(
        "keep.txt",
        &format!("# audit hold\n{},{}\n", kept.0, kept.1),
    );
    let out = w.run(
        DEFAULT_ADMIN_TOKEN,
        &[
            "offboard",
            "--yes",
            "--map",
            "leavers.csv",
            "--exclude",
            "keep.txt",
            "--rate",
            "1000",
        ],
    );
    assert_code(&out, exit::OK);
    // The plan is named after the map, and its header records the pairs and the list.
    let reader = PlanReader::open(w.path("offboard-leavers.plan.jsonl")).unwrap();
    match &reader.header().source {
        SourceKind::OffboardMap { file, pairs, .. } => {
            assert_eq!(file, "leavers.csv");
            assert_eq!(pairs.len(), 2);
            assert_eq!(pairs[1].to, ident(&before, HEIR));
        }
        other => panic!("{other:?}"),
    }
    let selection = reader.header().selection.clone().unwrap();
    assert_eq!(selection.exclude.unwrap().file, "keep.txt");

    let after = w.sim.state();
    for e in &before.entities {
        let key = (e.kind.into(), tool_id(e));
        let owned_by = |who: &str| {
            e.access
                .iter()
                .any(|g| g.username == who && g.role == Role::Owner)
        };
        let holds = |who: &str| e.access.iter().any(|g| g.username == who);
        let now = after.access(e.kind, &e.id).unwrap();
        if &key == kept || !(holds(DEPARTING_USERNAME) || holds(LEAVER)) {
            assert_eq!(now, e.access.as_slice(), "{} {} changed", e.kind, e.id);
            continue;
        }
        for (who, heir) in [(DEPARTING_USERNAME, SUCCESSOR_USERNAME), (LEAVER, HEIR)] {
            // Nobody departing holds anything afterwards, owner or not (the default).
            assert_eq!(
                after.role_of(e.kind, &e.id, who),
                None,
                "{} {}",
                e.kind,
                e.id
            );
            if owned_by(who) {
                assert_eq!(after.role_of(e.kind, &e.id, heir), Some(Role::Owner.into()));
            }
        }
        if co_owned.contains(&key) {
            // Both transfers in one request.
            assert_eq!(w.sim.stats().writes_to(e.kind, &e.id), 1);
        }
    }
    assert!(w.sim.stats().ownerless.is_empty());
}

/// `departing@` is no administrator: it cannot look anyone up, and sees only what it holds.
#[test]
fn a_non_admin_reassigns_all_of_their_own_projects_end_to_end() {
    let w = world(Seed::generate(&GenSpec::uniform(47, 3)));
    let token = default_token(DEPARTING_USERNAME);
    let before = w.sim.state();
    let mine = owned(&before, EntityKind::Project, DEPARTING_USERNAME);
    assert_eq!(mine.len(), 3);

    let out = w.run(
        &token,
        &[
            "plan",
            "--to",
            SUCCESSOR_USERNAME,
            "--types",
            "project",
            "--out",
            "mine.plan.jsonl",
            // Reassigning one's own projects, and staying: other access is kept.
            "--keep-other-access",
        ],
    );
    assert_code(&out, exit::OK);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot look users up") && stderr.contains(SUCCESSOR_USERNAME),
        "{stderr}"
    );
    let reader = PlanReader::open(w.path("mine.plan.jsonl")).unwrap();
    match &reader.header().source {
        SourceKind::Offboard { from, to, .. } => {
            assert_eq!(from, &vec![ident(&before, DEPARTING_USERNAME)]);
            assert_eq!(to, &UserIdent::unchecked(SUCCESSOR_USERNAME));
        }
        other => panic!("{other:?}"),
    }
    let entries: Vec<PlanEntry> = reader.map(Result::unwrap).collect();
    assert_eq!(keys(&entries), mine);
    assert!(entries.iter().all(|e| e.action == ActionKind::Change));

    // The caller removes their own access, so the read-back cannot see the entity any
    // more: the run must still count the accepted writes as succeeded (regression: they
    // were recorded as skipped, exit 3).
    let out = w.run(&token, &["apply", "mine.plan.jsonl", "--rate", "1000"]);
    assert_code(&out, exit::OK);
    let after = w.sim.state();
    for e in &before.entities {
        let now = after.access(e.kind, &e.id).unwrap();
        if !mine.contains(&(e.kind.into(), tool_id(e))) {
            assert_eq!(now, e.access.as_slice(), "{} {} changed", e.kind, e.id);
            continue;
        }
        let mut owners: Vec<&str> = e
            .access
            .iter()
            .filter(|g| g.role == Role::Owner && g.username != DEPARTING_USERNAME)
            .map(|g| g.username.as_str())
            .collect();
        owners.push(SUCCESSOR_USERNAME);
        assert_eq!(after.owners(e.kind, &e.id), owners);
        assert_eq!(after.role_of(e.kind, &e.id, DEPARTING_USERNAME), None);
        let others = |list: &[handover::sim::SnapshotGrant]| {
            list.iter()
                .filter(|g| {
                    ![DEPARTING_USERNAME, SUCCESSOR_USERNAME].contains(&g.username.as_str())
                })
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(others(now), others(&e.access));
    }
    // No e-mail: projects are shared with sendNotification false.
    assert_eq!(w.sim.stats().notifications, 0);
}

#[test]
fn a_self_revoking_write_whose_answer_is_lost_is_found_by_its_read_back_not_skipped() {
    // Regression: the write lands, its answer is a 502, the retry gets 404 because the
    // caller no longer sees the entity. That was journaled `skipped` (exit 3) although the
    // ownership had moved.
    let w = world(Seed::generate(&GenSpec::uniform(48, 2)));
    let token = default_token(DEPARTING_USERNAME);
    let before = w.sim.state();
    let mine = owned(&before, EntityKind::Project, DEPARTING_USERNAME);
    let out = w.run(
        &token,
        &[
            "plan",
            "--to",
            SUCCESSOR_USERNAME,
            "--types",
            "project",
            "--out",
            "p.jsonl",
        ],
    );
    assert_code(&out, exit::OK);
    w.sim.set_config(SimConfig {
        commit_then_502_rate: 1.0,
        ..SimConfig::default()
    });
    let out = w.run(&token, &["apply", "p.jsonl", "--rate", "1000"]);
    assert_code(&out, exit::OK);
    assert!(w.sim.stats().faults.commit_then_502 >= mine.len() as u64);
    let after = w.sim.state();
    for (kind, id) in &mine {
        assert_eq!(
            after.role_of(*kind, id, SUCCESSOR_USERNAME),
            Some(Role::Owner.into())
        );
        assert_eq!(after.role_of(*kind, id, DEPARTING_USERNAME), None);
    }
    let report = fs::read_to_string(w.path("p.journal.report.csv")).unwrap();
    assert_eq!(
        report.matches("not verified").count(),
        mine.len(),
        "{report}"
    );
}

#[test]
fn a_non_admin_who_names_an_unknown_recipient_is_refused_by_the_server_at_apply() {
    let w = world(Seed::generate(&GenSpec::uniform(48, 2)));
    let token = default_token(DEPARTING_USERNAME);
    let before = w.sim.state();
    let out = w.run(
        &token,
        &[
            "plan",
            "--to",
            "nobody@acme.test",
            "--types",
            "project,dataset",
            "--old-owner-role",
            "editor",
            "--out",
            "p.jsonl",
        ],
    );
    assert_code(&out, exit::OK);
    let out = w.run(&token, &["apply", "p.jsonl", "--rate", "1000"]);
    assert_code(&out, exit::PARTIAL);
    let journal = fs::read_to_string(w.path("p.journal.jsonl")).unwrap();
    let outcomes: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "outcome")
        .collect();
    assert_eq!(outcomes.len(), 4);
    for o in &outcomes {
        assert_eq!(o["outcome"], "refused", "{o}");
        assert!(
            o["error"]
                .as_str()
                .unwrap()
                .contains("The following users were not found: nobody@acme.test"),
            "{o}"
        );
    }
    assert_eq!(w.sim.state(), before);
}

#[test]
fn a_non_admin_plans_a_csv_narrowed_by_an_exclusion_without_looking_anyone_up() {
    let w = world(Seed::generate(&GenSpec::uniform(49, 3)));
    let token = default_token(DEPARTING_USERNAME);
    let before = w.sim.state();
    let mine: Vec<String> = owned(&before, EntityKind::Project, DEPARTING_USERNAME)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let mut csv = String::from("entity_type,entity_id,username,role\n");
    for id in &mine {
        csv.push_str(&format!(
            "project,{id},{SUCCESSOR_USERNAME},OWNER\nproject,{id},{DEPARTING_USERNAME},NONE\n"
        ));
    }
    w.write("mine.csv", &csv);
    w.write("skip.txt", &format!("{}\n", mine[0]));
    w.write(
        "only.txt",
        &format!("project,{}\nproject,{}\n", mine[0], mine[1]),
    );
    let out = w.run(
        &token,
        &[
            "plan",
            "--csv",
            "mine.csv",
            "--exclude",
            "skip.txt",
            "--only-ids",
            "only.txt",
            "--out",
            "p.jsonl",
        ],
    );
    assert_code(&out, exit::OK);
    assert!(text(&out.stderr).contains("cannot look users up"));
    let reader = PlanReader::open(w.path("p.jsonl")).unwrap();
    let selection = reader.header().selection.clone().unwrap();
    assert_eq!(
        (
            selection.only_ids.unwrap().file,
            selection.exclude.unwrap().file
        ),
        ("only.txt".to_string(), "skip.txt".to_string())
    );
    let entries: Vec<PlanEntry> = reader.map(Result::unwrap).collect();
    assert_eq!(
        keys(&entries),
        BTreeSet::from([(EntityKind::Project, mine[1].clone())])
    );
    // Planned as a change by username, not refused as an unknown recipient.
    assert_eq!(
        entries[0].action,
        ActionKind::Change,
        "{:?}",
        entries[0].reason
    );
    // One refused lookup, then none.
    assert_eq!(w.sim.stats().route_total("GET users/"), 1);
}

/// The default world of `handover sim`, where one entity of each kind whose owner filter
/// or `owners` may name only the creator (datasets, files, user blueprints, use cases) is
/// co-owned by the departing user and was created by a colleague.
fn co_created_seed() -> (Seed, BTreeSet<(EntityKind, String)>) {
    let mut seed = Seed::generate(&GenSpec {
        departed: 2,
        orphans: 1,
        ..GenSpec::realistic(0, 5)
    });
    let colleague = seed.users[4].username.clone();
    let mut co_created = BTreeSet::new();
    for kind in [
        EntityKind::Dataset,
        EntityKind::File,
        EntityKind::UserBlueprint,
        EntityKind::UseCase,
    ] {
        let e = seed
            .entities
            .iter_mut()
            .find(|e| {
                e.kind == kind
                    && e.access
                        .iter()
                        .any(|g| g.username == DEPARTING_USERNAME && g.role == Role::Owner)
            })
            .expect("the departing user owns something of every kind");
        set_role(&mut e.access, &colleague, Role::Owner);
        e.creator = Some(colleague.clone());
        co_created.insert((kind, e.id.clone()));
    }
    seed.validate().unwrap();
    (seed, co_created)
}

#[tokio::test]
async fn owner_hints_that_name_only_the_creator_miss_nothing_in_either_mode() {
    // Regression: with catalogItems' ownerUserId and use cases' owners naming only the
    // creator (contract C20), the plan missed what the departing user co-owns but did not
    // create, with exit 0.
    let (seed, co_created) = co_created_seed();
    let sim = Sim::start(
        "127.0.0.1:0".parse().unwrap(),
        seed,
        SimConfig {
            owner_hints_creator_only: true,
            ..SimConfig::default()
        },
    )
    .unwrap();
    let state = sim.state();
    let client = client_with(&sim, DEFAULT_ADMIN_TOKEN);
    let caller = caller_of(&client).await;
    let owns = owned_all(&state, DEPARTING_USERNAME);
    assert!(co_created.is_subset(&owns));
    // Every entity where the departing user holds a role of their own.
    let holds: BTreeSet<(EntityKind, String)> = state
        .entities
        .iter()
        .filter(|e| EntityKind::from(e.kind).is_writable())
        .filter(|e| e.access.iter().any(|g| g.username == DEPARTING_USERNAME))
        .map(|e| (e.kind.into(), tool_id(e)))
        .collect();
    assert!(holds.len() > owns.len());

    for keep_other_access in [false, true] {
        let spec = BatchSpec {
            pairs: vec![HandoverPair {
                from: ident(&state, DEPARTING_USERNAME),
                to: ident(&state, SUCCESSOR_USERNAME),
            }],
            old_owner_role: OldOwnerRoleKind::None,
            kinds: EntityKind::WRITABLE.to_vec(),
            keep_other_access,
            selection: Selection::default(),
            orphans: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let (_, entries) = plan_batch(&client, &caller, &spec, dir.path()).await;
        let want = if keep_other_access { &owns } else { &holds };
        assert_eq!(
            &keys(&entries),
            want,
            "keep_other_access={keep_other_access}"
        );
        for e in &entries {
            let key = (e.kind, e.id.clone());
            assert_eq!(e.revoke_only, !owns.contains(&key), "{} {}", e.kind, e.id);
            assert_eq!(
                e.action,
                ActionKind::Change,
                "{} {}: {:?}",
                e.kind,
                e.id,
                e.reason
            );
            let departing = e
                .target
                .iter()
                .any(|g| g.name.eq_ignore_ascii_case(DEPARTING_USERNAME));
            assert!(!departing, "{} {} keeps the departing user", e.kind, e.id);
        }
    }
}

#[tokio::test]
async fn a_revoke_only_entry_with_no_readable_owner_is_refused_with_the_reason() {
    // The only owner is a group whose role no client knows: removing the departing
    // editor cannot be shown to leave an owner, so a reviewer decides.
    let mut seed = Seed::generate(&GenSpec::uniform(48, 1));
    let id = "abcdefabcdefabcdefabcdef".to_string();
    seed.entities.push(SeedEntity {
        kind: EntityKind::Deployment.into(),
        id: id.clone(),
        name: "owned by a group".into(),
        creator: Some(DEPARTING_USERNAME.into()),
        access: vec![SeedGrant::new(DEPARTING_USERNAME, Role::Editor)],
        principals: vec![SeedPrincipal {
            recipient_type: "group".into(),
            id: "g-owners".into(),
            name: "owners".into(),
            role: "DATA_SCIENTIST".into(),
        }],
        store_type: None,
        linked: None,
        related_entity_type: None,
    });
    seed.validate().unwrap();
    let sim = start(seed);
    let state = sim.state();
    let client = client_with(&sim, DEFAULT_ADMIN_TOKEN);
    let caller = caller_of(&client).await;
    let spec = BatchSpec {
        pairs: vec![HandoverPair {
            from: ident(&state, DEPARTING_USERNAME),
            to: ident(&state, SUCCESSOR_USERNAME),
        }],
        old_owner_role: OldOwnerRoleKind::None,
        kinds: vec![EntityKind::Deployment],
        keep_other_access: false,
        selection: Selection::default(),
        orphans: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, entries) = plan_batch(&client, &caller, &spec, dir.path()).await;
    let entry = entries.iter().find(|e| e.id == id).unwrap();
    assert!(entry.revoke_only);
    assert_eq!(entry.action, ActionKind::Refused);
    assert_eq!(
        entry.reason.as_deref(),
        Some(
            "no owner can be read in the access list, so removing the departing user's role \
             cannot be shown to leave one"
        )
    );
}
