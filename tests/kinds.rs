//! The 12 types of contract §12.1 and the 2 read-only ones of §12.2, end to end on the
//! simulator with its §12 knobs on: replace semantics never cost anyone access, no field a
//! schema lacks, no write to a read-only type, rollback, the plan across all 25 types, and
//! lists the server does not serve.

mod exec_support;

use std::collections::{BTreeMap, BTreeSet};

use exec_support::{World, bare_cmd, client_for, settings, sim_id, test_policy, text, tool_id};
use handover::after::rollback::{self, RollbackSpec, default_rollback_journal};
use handover::api::{ClientPolicy, ListFilter, share_body_on};
use handover::exit;
use handover::model::{AccessList, EntityKind, Role};
use handover::plan::planner::{self, Caller, Coverage, OffboardSpec, PlannerSettings};
use handover::plan::{
    ActionKind, OldOwnerRoleKind, PlanEntry, PlanHeader, PlanReader, PlanWriter, ShareRequest,
    SourceKind,
};
use handover::sim::{
    ADMIN_USERNAME, DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed,
    Sim, SimConfig, StateSnapshot,
};

const REPLACING: [EntityKind; 3] = [
    EntityKind::Workload,
    EntityKind::Artifact,
    EntityKind::ArtifactRepository,
];

/// `per_kind` entities of each of `kinds` owned by the departing user (and as many again
/// that are not), every access list with a group or organization entry and half of the
/// new types' with an `externalApplication` or `role` entry.
fn seed(kinds: &[EntityKind], per_kind: usize) -> Seed {
    Seed::generate(&GenSpec {
        per_kind: kinds.iter().map(|k| ((*k).into(), per_kind)).collect(),
        principal_ratio: 1.0,
        ..GenSpec::uniform(11, 0)
    })
}

fn world_with(seed: Seed, config: SimConfig) -> World {
    let sim = Sim::start("127.0.0.1:0".parse().unwrap(), seed, config).unwrap();
    let client = client_for(&sim, DEFAULT_ADMIN_TOKEN, test_policy());
    World {
        sim,
        client,
        dir: tempfile::tempdir().unwrap(),
    }
}

async fn caller(w: &World) -> Caller {
    let account = w.client.preflight().await.unwrap();
    Caller {
        user: handover::plan::UserIdent {
            id: account.id,
            username: account.username,
        },
        org_admin: account.org_admin,
    }
}

/// Plans the offboarding of departing to successor over `kinds` as `handover plan` does;
/// the plan's path, its entries and the coverage.
async fn plan(w: &World, kinds: &[EntityKind]) -> (std::path::PathBuf, Vec<PlanEntry>, Coverage) {
    let caller = caller(w).await;
    let to = planner::resolve_user(&w.client, "--to", SUCCESSOR_USERNAME)
        .await
        .unwrap();
    let from = planner::resolve_departing(
        &w.client,
        "--from",
        DEPARTING_USERNAME,
        OldOwnerRoleKind::None,
    )
    .await
    .unwrap();
    let spec = OffboardSpec {
        from: vec![from.clone()],
        to: to.clone(),
        old_owner_role: OldOwnerRoleKind::None,
        kinds: kinds.to_vec(),
        keep_other_access: true,
    };
    let header = PlanHeader::new(
        w.client.endpoint().as_str(),
        caller.user.clone(),
        SourceKind::Offboard {
            from: vec![from],
            to,
            old_owner_role: OldOwnerRoleKind::None,
            types: kinds.to_vec(),
            revoke_other_access: false,
        },
    );
    let path = w.path("plan.jsonl");
    let mut writer = PlanWriter::create(&path, &header).unwrap();
    let coverage = planner::plan_offboard(
        &w.client,
        &caller,
        &spec,
        PlannerSettings {
            concurrency: 8,
            progress: false,
        },
        &mut writer,
    )
    .await
    .unwrap();
    writer.finish().unwrap();
    let entries = PlanReader::open(&path)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (path, entries, coverage)
}

/// Every recipient of every entity: users (role, canShare) and every other principal
/// (its role as the server renders it), keyed by kind and the tool's id.
type Recipients = BTreeMap<(EntityKind, String), BTreeSet<(String, String, String)>>;

fn recipients(state: &StateSnapshot) -> Recipients {
    state
        .entities
        .iter()
        .map(|e| {
            let users = e.access.iter().map(|g| {
                (
                    "user".to_string(),
                    g.username.to_lowercase(),
                    format!("{:?} {}", g.role, g.can_share),
                )
            });
            // Role names as the server holds them: a replacing write restates them.
            let others = e
                .principals
                .iter()
                .map(|p| (p.recipient_type.clone(), p.id.clone(), p.role.clone()));
            ((e.kind.into(), tool_id(e)), users.chain(others).collect())
        })
        .collect()
}

/// The entities whose recipients differ, each with both sets.
fn assert_same(left: &Recipients, right: &Recipients) {
    let differ: Vec<String> = left
        .iter()
        .filter(|(k, v)| right.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k:?}:\n  {v:?}\n  {:?}", right.get(k)))
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert_eq!(left.len(), right.len());
}

/// `before` with the departing user out and the successor OWNER where the departing user
/// owned, exactly what an offboarding should leave; everything else as it was.
fn handed_over(before: &Recipients, owned: &BTreeSet<(EntityKind, String)>) -> Recipients {
    before
        .iter()
        .map(|(key, set)| {
            if !owned.contains(key) {
                return (key.clone(), set.clone());
            }
            let mut set: BTreeSet<_> = set
                .iter()
                .filter(|(t, name, _)| {
                    !(t == "user" && (name == DEPARTING_USERNAME || name == SUCCESSOR_USERNAME))
                })
                .cloned()
                .collect();
            set.insert((
                "user".to_string(),
                SUCCESSOR_USERNAME.to_string(),
                "Owner _".to_string(),
            ));
            (key.clone(), set)
        })
        .collect()
}

/// The successor's canShare is whatever the server gave; compared as `_`.
fn without_successor_can_share(mut r: Recipients) -> Recipients {
    for set in r.values_mut() {
        *set = std::mem::take(set)
            .into_iter()
            .map(|(t, name, role)| {
                if t == "user" && name == SUCCESSOR_USERNAME {
                    let level = role.split(' ').next().unwrap_or_default().to_string();
                    (t, name, format!("{level} _"))
                } else {
                    (t, name, role)
                }
            })
            .collect();
    }
    r
}

fn owned_by_departing(
    state: &StateSnapshot,
    kinds: &[EntityKind],
) -> BTreeSet<(EntityKind, String)> {
    kinds
        .iter()
        .flat_map(|k| state.held_by(*k, DEPARTING_USERNAME, Role::Owner))
        .map(|e| (e.kind.into(), tool_id(e)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboard_on_replace_semantics_types_leaves_every_other_recipient_exactly_as_it_was() {
    let w = world_with(seed(&REPLACING, 4), SimConfig::default());
    let before = w.sim.state();
    let owned = owned_by_departing(&before, &REPLACING);
    assert_eq!(owned.len(), 12);
    // The lists hold what a replacing write could drop: groups or organizations, roles,
    // other users.
    let recipients_before = recipients(&before);
    for key in &owned {
        let kinds: BTreeSet<&str> = recipients_before[key]
            .iter()
            .map(|(t, _, _)| t.as_str())
            .collect();
        assert!(kinds.len() >= 2, "{key:?}: {kinds:?}");
    }
    assert!(
        recipients_before
            .values()
            .flatten()
            .any(|(t, _, _)| t == "role"),
        "the seed has role entries"
    );

    let (plan, entries, _) = plan(&w, &REPLACING).await;
    assert_eq!(entries.len(), 12);
    assert!(entries.iter().all(|e| e.action == ActionKind::Change));
    let journal = w.path("plan.journal.jsonl");
    let summary = w
        .apply(&plan, &journal, &settings(4), std::future::pending())
        .await;
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());

    let after = w.sim.state();
    assert_same(
        &without_successor_can_share(recipients(&after)),
        &without_successor_can_share(handed_over(&recipients_before, &owned)),
    );
    let stats = w.sim.stats();
    assert!(stats.ownerless.is_empty());
    // No field the Workload API's schema lacks reached it: nothing refused there.
    for (route, outcomes) in &stats.by_route {
        if route.starts_with("PATCH") {
            assert_eq!(outcomes.keys().collect::<Vec<_>>(), ["204"], "{route}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_only_the_changes_to_a_replace_semantics_type_drops_every_other_recipient() {
    // The mutation check of the test above: a body with the plan's changes alone, as a
    // set-semantics type gets, costs everyone else their access on these types.
    let w = world_with(seed(&REPLACING, 2), SimConfig::default());
    let state = w.sim.state();
    let owned = owned_by_departing(&state, &REPLACING);
    let http = reqwest::Client::new();
    for (kind, id) in &owned {
        let e = w.client.access_list(*kind, id).await.unwrap();
        assert!(e.grants.len() >= 2, "{kind} {id}: {e:?}");
        let request = ShareRequest {
            changes: vec![
                handover::api::grant_to(&user(&state, SUCCESSOR_USERNAME), Role::Owner, None),
                handover::api::revoke_from(&user(&state, DEPARTING_USERNAME)),
            ],
            notify: false,
        };
        // The changes alone: what the body would be if nothing had been read.
        let changes_only = share_body_on(*kind, &request, &AccessList::default()).unwrap();
        let url = format!(
            "{}/{}",
            w.sim.endpoint().trim_end_matches('/'),
            handover::api::paths::access_path(*kind, id).unwrap()
        );
        let answer = http
            .patch(&url)
            .bearer_auth(DEFAULT_ADMIN_TOKEN)
            .json(&changes_only)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
        let left = w.client.access_list(*kind, id).await.unwrap();
        assert_eq!(
            left.grants
                .iter()
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>(),
            [SUCCESSOR_USERNAME],
            "{kind} {id}: everyone else lost their access"
        );
    }
}

fn user(state: &StateSnapshot, username: &str) -> handover::api::User {
    let u = state.user(username).unwrap();
    handover::api::User {
        id: u.id.clone(),
        username: u.username.clone(),
        full_name: None,
        active: Some(true),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_names_the_leavers_owned_entities_across_all_25_types_and_no_patch_reaches_a_read_only_type()
 {
    let w = world_with(seed(&EntityKind::ALL, 2), SimConfig::default());
    let before = w.sim.state();
    let owned = owned_by_departing(&before, &EntityKind::WRITABLE);
    let kinds_owned: BTreeSet<EntityKind> = owned.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds_owned.len(), 25);
    // Asked for every kind, read-only ones included: those are never planned.
    let (plan, entries, coverage) = plan(&w, &EntityKind::ALL).await;
    let planned: BTreeSet<(EntityKind, String)> =
        entries.iter().map(|e| (e.kind, e.id.clone())).collect();
    assert_eq!(planned, owned);
    assert!(
        entries.iter().all(|e| e.action == ActionKind::Change),
        "{:?}",
        entries.iter().find(|e| e.action != ActionKind::Change)
    );
    assert_eq!(
        coverage.kinds.keys().copied().collect::<Vec<_>>(),
        EntityKind::WRITABLE.to_vec()
    );
    let table = coverage.render();
    assert!(
        table.contains("workloads") && table.contains("may show only what the caller created"),
        "{table}"
    );

    let journal = w.path("plan.journal.jsonl");
    let summary = w
        .apply(&plan, &journal, &settings(4), std::future::pending())
        .await;
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    let after = w.sim.state();
    for (kind, id) in &owned {
        assert_eq!(
            after.role_of(*kind, sim_id(*kind, id), SUCCESSOR_USERNAME),
            Some(Role::Owner.into()),
            "{kind} {id}"
        );
        assert_eq!(
            after.role_of(*kind, sim_id(*kind, id), DEPARTING_USERNAME),
            None,
            "{kind} {id}"
        );
    }
    let stats = w.sim.stats();
    assert_eq!(stats.read_only_writes, 0);
    assert!(
        !stats
            .by_route
            .keys()
            .any(|r| r.starts_with("PATCH modelPackages") || r.starts_with("PATCH notebooks")),
        "{:?}",
        stats.by_route.keys().collect::<Vec<_>>()
    );
    // Secure configurations told their new owner, once each.
    let secure = owned
        .iter()
        .filter(|(k, _)| *k == EntityKind::SecureConfig)
        .count() as u64;
    assert_eq!(stats.secure_config_notifications, secure);
    assert_eq!(stats.notifications, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_new_types() {
    let kinds: Vec<EntityKind> = EntityKind::WRITABLE[13..].to_vec();
    let w = world_with(seed(&kinds, 2), SimConfig::default());
    let before = recipients(&w.sim.state());
    let (plan, entries, _) = plan(&w, &kinds).await;
    assert_eq!(entries.len(), 24);
    let journal = w.path("plan.journal.jsonl");
    let summary = w
        .apply(&plan, &journal, &settings(4), std::future::pending())
        .await;
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    assert_ne!(recipients(&w.sim.state()), before);

    let spec = RollbackSpec {
        journal: journal.clone(),
        rollback_journal: default_rollback_journal(&journal, false),
        force: false,
        concurrency: 4,
        caller: w.user(ADMIN_USERNAME),
    };
    let prepared = rollback::prepare(&w.client, &spec).await.unwrap();
    let summary = rollback::run(&w.client, prepared, &settings(4), std::future::pending())
        .await
        .unwrap();
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    // Everyone as before, groups, organizations, roles and external applications too;
    // the successor's canShare is the server's choice.
    assert_same(
        &without_successor_can_share(recipients(&w.sim.state())),
        &without_successor_can_share(before),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_route_answering_404_is_a_coverage_note_and_the_plan_goes_on() {
    let kinds = [
        EntityKind::CustomJob,
        EntityKind::Workload,
        EntityKind::SecureConfig,
    ];
    let w = world_with(
        seed(&kinds, 2),
        SimConfig {
            absent_lists: vec![EntityKind::CustomJob.into(), EntityKind::Workload.into()],
            ..SimConfig::default()
        },
    );
    let (_, entries, coverage) = plan(&w, &kinds).await;
    assert_eq!(
        coverage.unlisted.keys().copied().collect::<Vec<_>>(),
        [EntityKind::CustomJob, EntityKind::Workload]
    );
    let table = coverage.render();
    assert!(table.contains("not searched: the list answered"), "{table}");
    assert!(table.contains("404"), "{table}");
    // The types that list are planned as ever.
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.kind == EntityKind::SecureConfig));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_jobs_that_require_paging_and_workloads_that_refuse_a_limit_over_100_list_whole() {
    let kinds = [
        EntityKind::CustomJob,
        EntityKind::Workload,
        EntityKind::NotificationPolicyTemplate,
    ];
    let w = world_with(
        seed(&kinds, 40),
        SimConfig {
            custom_jobs_require_paging: true,
            ..SimConfig::default()
        },
    );
    let state = w.sim.state();
    for page_size in [Some(500), Some(7), None] {
        let client = client_for(
            &w.sim,
            DEFAULT_ADMIN_TOKEN,
            ClientPolicy {
                page_size,
                ..test_policy()
            },
        );
        for kind in kinds {
            let listed: BTreeSet<String> = client
                .list(kind, &ListFilter::default())
                .await
                .unwrap_or_else(|e| panic!("{kind} {page_size:?}: {e}"))
                .entities
                .into_iter()
                .map(|e| e.id)
                .collect();
            let expected: BTreeSet<String> = state
                .entities
                .iter()
                .filter(|e| e.kind == kind)
                .map(tool_id)
                .collect();
            assert!(expected.len() > 40, "{kind}");
            assert_eq!(listed, expected, "{kind} {page_size:?}");
        }
    }
    // No list of the Workload API was asked for more than 100 at once, and no path had a
    // trailing slash there.
    for route in w.sim.stats().by_route.keys() {
        assert!(
            !route.contains("workloads/ ") && !route.ends_with("workloads/"),
            "{route}"
        );
    }
}

#[test]
fn read_only_types_and_unknown_types_are_exit_2_with_one_line_and_nothing_sent() {
    let dir = tempfile::tempdir().unwrap();
    // No server: nothing can be sent, and the input is refused before anything would be.
    let endpoint = "http://127.0.0.1:9/api/v2";
    std::fs::write(
        dir.path().join("moves.csv"),
        "entity_type,entity_id,username,role\nproject,p1,bob@acme.test,OWNER\nnotebook,n1,bob@acme.test,OWNER\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = bare_cmd(dir.path())
            .env("DATAROBOT_ENDPOINT", endpoint)
            .env("DATAROBOT_API_TOKEN", "t")
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), text(&out.stderr))
    };
    let (code, err) = run(&["plan", "--csv", "moves.csv", "--out", "p.jsonl"]);
    assert_eq!(code, Some(exit::INVALID_INPUT), "{err}");
    assert!(
        err.contains("moves.csv:3: field entity_type: notebook access lists are read, never written: move the use case that holds it instead"),
        "{err}"
    );
    for types in ["notebook", "widget", "project,model_package"] {
        let (code, err) = run(&[
            "plan",
            "--from",
            "a@acme.test",
            "--to",
            "b@acme.test",
            "--types",
            types,
        ]);
        assert_eq!(code, Some(exit::INVALID_INPUT), "{types}: {err}");
        assert!(
            err.contains("expected one of: project, dataset"),
            "{types}: {err}"
        );
        assert!(err.contains("artifact_repository"), "{types}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacing_write_restates_an_inactive_users_role_and_they_keep_it() {
    // A whole list re-sends every entry, an inactive user's unchanged role included:
    // leaving it out would revoke them. The simulator takes a restated role (it is no
    // grant, R4); the inactive user keeps exactly what they had.
    let mut seed = seed(&REPLACING, 2);
    let mut marked = BTreeSet::new();
    for e in &mut seed.entities {
        let kind: EntityKind = e.kind.into();
        let owned = e
            .access
            .iter()
            .any(|g| g.username == DEPARTING_USERNAME && g.role == handover::sim::Role::Owner);
        let has = e
            .access
            .iter()
            .any(|g| g.username == handover::sim::INACTIVE_USERNAME);
        if owned && !has {
            e.access.push(handover::sim::SeedGrant::new(
                handover::sim::INACTIVE_USERNAME,
                Role::Consumer,
            ));
            marked.insert((kind, e.id.clone()));
        }
    }
    assert_eq!(marked.len(), 6);
    let w = world_with(seed, SimConfig::default());
    let (plan, entries, _) = plan(&w, &REPLACING).await;
    assert_eq!(entries.len(), 6);
    let journal = w.path("plan.journal.jsonl");
    let summary = w
        .apply(&plan, &journal, &settings(4), std::future::pending())
        .await;
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    let after = w.sim.state();
    for (kind, id) in &marked {
        assert_eq!(
            after.role_of(*kind, id, handover::sim::INACTIVE_USERNAME),
            Some(Role::Consumer.into()),
            "{kind} {id}"
        );
        assert_eq!(
            after.role_of(*kind, id, SUCCESSOR_USERNAME),
            Some(Role::Owner.into())
        );
    }
}
