//! A tenant as the real API serves it (issue 10, contract §11): connector-based data
//! sources and stores that only `type=all` lists, more than 100 data stores (offset pages
//! without `next`), deployments whose default order moves under prediction traffic, use
//! cases the administrator is not a member of, short pages that are not the last, group
//! and organization entries (some with role names nobody documents) on access lists of
//! both dialects, and data sources that share their data store. Each test fails without
//! the fix it names.

mod exec_support;

use std::collections::BTreeSet;

use exec_support::{World, plan_with_binary, run_to_end, settings, text, world};
use handover::journal::OutcomeKind;
use handover::model::{EntityKind, Role};
use handover::plan::{ActionKind, PlanEntry};
use handover::sim::{
    DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed, SeedPrincipal, SimConfig, StateSnapshot,
};

/// More than 100 data stores, data sources and deployments (the page sizes the server
/// caps), a few of every other kind, in the realistic world.
fn tenant() -> Seed {
    let mut spec = GenSpec::realistic(10, 4);
    for kind in [
        EntityKind::DataStore,
        EntityKind::DataSource,
        EntityKind::Deployment,
    ] {
        spec.per_kind.insert(kind.into(), 80);
    }
    Seed::generate(&spec)
}

/// Every variant the contract leaves open, played at once.
fn real_api() -> SimConfig {
    SimConfig {
        prediction_traffic: true,
        ragged_pages: true,
        access_control_principals: true,
        ..SimConfig::default()
    }
}

fn real_world(seed: Seed) -> World {
    let w = world(seed);
    w.sim.set_config(real_api());
    w
}

fn owned(state: &StateSnapshot) -> BTreeSet<(EntityKind, String)> {
    EntityKind::WRITABLE
        .iter()
        .flat_map(|k| state.held_by(*k, DEPARTING_USERNAME, Role::Owner))
        .map(|e| (e.kind.into(), exec_support::tool_id(e)))
        .collect()
}

/// Every entity where the departing user holds a role of their own without owning it.
fn member_of(state: &StateSnapshot) -> BTreeSet<(EntityKind, String)> {
    state
        .entities
        .iter()
        .filter(|e| EntityKind::from(e.kind).is_writable())
        .filter(|e| {
            e.access
                .iter()
                .any(|g| g.username == DEPARTING_USERNAME && Role::from(g.role) != Role::Owner)
        })
        .map(|e| (e.kind.into(), exec_support::tool_id(e)))
        .collect()
}

fn keys(entries: &[PlanEntry], action: ActionKind) -> BTreeSet<(EntityKind, String)> {
    entries
        .iter()
        .filter(|e| e.action == action)
        .map(|e| (e.kind, e.id.clone()))
        .collect()
}

#[test]
fn the_realistic_world_holds_what_these_tests_need() {
    let seed = tenant();
    let count = |kind| seed.entities.iter().filter(|e| e.kind == kind).count();
    for kind in [
        EntityKind::DataStore,
        EntityKind::DataSource,
        EntityKind::Deployment,
    ] {
        assert!(count(kind) > 100, "{kind}: {}", count(kind));
    }
    let connectors = seed
        .entities
        .iter()
        .filter(|e| e.store_type.as_deref() == Some("dr-connector-v1"))
        .count();
    assert!(
        connectors > 20,
        "{connectors} connector-based sources and stores"
    );
    let principals: Vec<&SeedPrincipal> =
        seed.entities.iter().flat_map(|e| &e.principals).collect();
    assert!(principals.iter().any(|p| p.recipient_type == "group"));
    assert!(
        principals
            .iter()
            .any(|p| p.recipient_type == "organization")
    );
    assert!(
        principals
            .iter()
            .any(|p| p.role == "DATA_SCIENTIST" || p.role == "ADMIN" || p.role == "VIEWER_PLUS")
    );
    assert!(
        seed.entities
            .iter()
            .filter(|e| e.kind == EntityKind::DataSource)
            .all(|e| e.linked.is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_names_every_entity_the_departing_user_owns_or_holds_and_no_other() {
    let w = real_world(tenant());
    let want = owned(&w.sim.state());
    let entries = plan_with_binary(&w, "all.plan.jsonl", 8).await;
    // What they hold without owning is revoked on its own.
    let revoked: BTreeSet<(EntityKind, String)> = entries
        .iter()
        .filter(|e| e.revoke_only && e.action == ActionKind::Change)
        .map(|e| (e.kind, e.id.clone()))
        .collect();
    assert_eq!(revoked, member_of(&w.sim.state()));
    let planned: BTreeSet<_> = keys(&entries, ActionKind::Change)
        .difference(&revoked)
        .cloned()
        .collect();
    let missing: Vec<_> = want.difference(&planned).collect();
    let extra: Vec<_> = planned.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert!(keys(&entries, ActionKind::Refused).is_empty());
    // Connector-based stores and sources are among them.
    let state = w.sim.state();
    assert!(planned.iter().any(|(kind, id)| {
        state
            .entity(*kind, id)
            .is_some_and(|e| e.store_type == "dr-connector-v1")
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboard_moves_everything_and_leaves_groups_and_organizations_as_they_were() {
    let w = real_world(tenant());
    let before = w.sim.state();
    let entries = plan_with_binary(&w, "all.plan.jsonl", 8).await;
    let summary = w
        .apply(
            &w.path("all.plan.jsonl"),
            &w.path("all.journal.jsonl"),
            &settings(8),
            std::future::pending(),
        )
        .await;
    let after = w.sim.state();
    // Sharing a data source made the successor CONSUMER of its data store; the store's
    // own write recomputed around it instead of recording drift.
    assert_eq!(
        summary.this_run.outcome(OutcomeKind::Drifted),
        0,
        "{summary:?}"
    );
    assert_eq!(
        summary.this_run.outcome(OutcomeKind::Failed),
        0,
        "{summary:?}"
    );
    assert_eq!(
        summary.this_run.outcome(OutcomeKind::Refused),
        0,
        "{summary:?}"
    );
    assert!(owned(&after).is_empty(), "still owned: {:?}", owned(&after));
    assert!(
        member_of(&after).is_empty(),
        "still held: {:?}",
        member_of(&after)
    );
    for e in entries.iter().filter(|e| e.action == ActionKind::Change) {
        let id = exec_support::sim_id(e.kind, &e.id);
        if !e.revoke_only {
            assert_eq!(
                after.role_of(e.kind, id, SUCCESSOR_USERNAME),
                Some(Role::Owner.into()),
                "{} {}",
                e.kind,
                e.id
            );
        }
        assert_eq!(after.role_of(e.kind, id, DEPARTING_USERNAME), None);
    }
    for (b, a) in before.entities.iter().zip(&after.entities) {
        assert_eq!((b.kind, &b.id), (a.kind, &a.id));
        assert_eq!(b.principals, a.principals, "{} {}", b.kind, b.id);
    }
    assert!(before.entities.iter().any(|e| !e.principals.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_prints_what_it_searched_per_type() {
    let w = real_world(tenant());
    let out = run_to_end(exec_support::handover_cmd(
        &w,
        &[
            "-q",
            "plan",
            "--from",
            DEPARTING_USERNAME,
            "--to",
            SUCCESSOR_USERNAME,
            "--types",
            "data_store,deployment",
            "--out",
            "p.jsonl",
        ],
    ))
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = w.sim.state();
    for kind in [EntityKind::DataStore, EntityKind::Deployment] {
        let all = state.entities.iter().filter(|e| e.kind == kind).count();
        let mine = state.held_by(kind, DEPARTING_USERNAME, Role::Owner).len();
        let line = format!(
            "  {:<24} {all:>7} listed {mine:>7} owned by the departing user",
            kind.plural_label()
        );
        assert!(stdout.contains(&line), "no {line:?} in\n{stdout}");
    }
    assert!(!stdout.contains("not an organization administrator"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_that_may_be_the_departing_users_refuses_that_entity_only() {
    let mut seed = tenant();
    let departing = seed
        .users
        .iter()
        .find(|u| u.username == DEPARTING_USERNAME)
        .unwrap()
        .clone();
    // A project whose accessControl list carries a user entry without a username, with
    // the departing user's id: whose entry it is cannot be told from a username.
    let project = seed
        .entities
        .iter_mut()
        .find(|e| e.kind == EntityKind::Project)
        .unwrap();
    project.principals.push(SeedPrincipal {
        recipient_type: "user".into(),
        id: departing.id.clone(),
        name: departing.username.clone(),
        role: "OWNER".into(),
    });
    let project_id = project.id.clone();
    let w = real_world(seed);
    let want = owned(&w.sim.state());
    let entries = plan_with_binary(&w, "all.plan.jsonl", 8).await;
    let refused: Vec<&PlanEntry> = entries
        .iter()
        .filter(|e| e.action == ActionKind::Refused)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].id, project_id);
    let reason = refused[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("cannot read the access list entry")
            && reason.contains(&departing.id)
            && reason.contains("without a username"),
        "{reason}"
    );
    let mut planned = keys(&entries, ActionKind::Change);
    planned.insert((EntityKind::Project, project_id));
    assert!(want.is_subset(&planned));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_plan_with_file_and_data_store_rows_plans_changes() {
    let w = real_world(tenant());
    let state = w.sim.state();
    let pick = |kind| {
        state
            .held_by(kind, DEPARTING_USERNAME, Role::Owner)
            .first()
            .map(|e| e.id.clone())
            .unwrap()
    };
    let file = pick(EntityKind::File);
    let store = pick(EntityKind::DataStore);
    let csv = format!(
        "entity_type,entity_id,username,role\nfile,{file},{SUCCESSOR_USERNAME},OWNER\n\
         data_store,{store},{SUCCESSOR_USERNAME},OWNER\n"
    );
    std::fs::write(w.path("rows.csv"), csv).unwrap();
    let out = run_to_end(exec_support::handover_cmd(
        &w,
        &["-q", "plan", "--csv", "rows.csv", "--out", "csv.plan.jsonl"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let entries: Vec<PlanEntry> = handover::plan::PlanReader::open(w.path("csv.plan.jsonl"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        keys(&entries, ActionKind::Change),
        BTreeSet::from([(EntityKind::File, file), (EntityKind::DataStore, store)]),
        "{entries:?}"
    );
    assert_eq!(entries.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_is_not_an_administrator_is_told_what_was_not_searched() {
    let w = real_world(tenant());
    let mut cmd = exec_support::handover_cmd(
        &w,
        &[
            "-q",
            "plan",
            "--to",
            SUCCESSOR_USERNAME,
            "--types",
            "project",
            "--out",
            "mine.jsonl",
        ],
    );
    cmd.env(
        "DATAROBOT_API_TOKEN",
        handover::sim::default_token(DEPARTING_USERNAME),
    );
    let out = run_to_end(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "note: the caller is not an organization administrator: only entities shared \
             with the caller were searched"
        ),
        "{stdout}"
    );
}
