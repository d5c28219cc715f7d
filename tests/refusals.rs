//! The server refuses single entities, end to end through the binary: 403 (the operator is
//! no longer allowed to share), 404 (deleted between plan and apply), 409 and 422 (the
//! last-owner refusal, in both of the status variants DataRobot uses) and an inactive
//! recipient (deactivated after planning). Each is recorded with its reason, the batch
//! goes on, `apply` exits 3, `status --failed-plan` writes exactly the entities worth
//! retrying, and once the causes are fixed that plan applies cleanly.
//!
//! tests/exec.rs covers 403, 404 and an inactive recipient through the library; here the
//! last-owner variants join them, and everything goes through the commands a user runs.
//! The last-owner refusal needs the simulator's `force_status` knob: handover's drift guard
//! never sends a write that would leave no owner, so only a server that disagrees with
//! the client's view of the list can answer it.

mod exec_support;

use exec_support::*;
use handover::exit;
use handover::journal::{OutcomeKind, Replay};
use handover::model::{EntityKind, Role};
use handover::plan::{ActionKind, PlanEntry, PlanReader};
use handover::sim::{
    ADMIN_USERNAME, DEPARTING_USERNAME, ForcedOn, ForcedStatus, INACTIVE_USERNAME,
    SUCCESSOR_USERNAME, Seed, SeedEntity, SeedGrant, SeedUser, SimConfig, default_token,
};
use serde_json::Value;

/// A non-admin operator who owns (and may share) every entity, as the departing user
/// does: the server judges each write by the operator's own access.
const OPS: &str = "ops@acme.test";
/// A second successor, so that deactivating them refuses one entity only.
const HEIR: &str = "heir@acme.test";
const COLLEAGUE: &str = "colleague@acme.test";

/// What happens to each entity, in plan order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Succeeds,
    /// The operator was demoted to EDITOR after planning: granting OWNER is above them.
    Forbidden,
    /// Deleted after planning.
    Deleted,
    /// The server answers the last-owner refusal with this status.
    LastOwner(u16),
    /// The recipient was deactivated after planning.
    InactiveRecipient,
}

const ENTITIES: [(EntityKind, Fate); 8] = [
    (EntityKind::Project, Fate::Succeeds),
    (EntityKind::Dataset, Fate::Forbidden),
    (EntityKind::Deployment, Fate::Deleted),
    (EntityKind::UseCase, Fate::LastOwner(409)),
    (EntityKind::DataStore, Fate::LastOwner(422)),
    (EntityKind::RegisteredModel, Fate::InactiveRecipient),
    (EntityKind::CustomModel, Fate::Succeeds),
    (EntityKind::Calendar, Fate::Succeeds),
];

fn id_of(n: usize) -> String {
    format!("{:024x}", 0x100 + n)
}

fn seed() -> Seed {
    let user = |n: u8, name: &str, admin: bool| SeedUser {
        id: format!("{n:024x}"),
        username: name.into(),
        full_name: String::new(),
        active: name != INACTIVE_USERNAME,
        org_admin: admin,
        token: String::new(),
    };
    let entities = ENTITIES
        .iter()
        .enumerate()
        .map(|(n, (kind, _))| SeedEntity {
            kind: (*kind).into(),
            id: id_of(n),
            name: format!("{kind} {n}"),
            creator: None,
            access: vec![
                SeedGrant::new(OPS, Role::Owner),
                SeedGrant::new(DEPARTING_USERNAME, Role::Owner),
                SeedGrant::new(COLLEAGUE, Role::Consumer),
            ],
            principals: Vec::new(),
            store_type: None,
            linked: None,
            related_entity_type: None,
        })
        .collect();
    Seed {
        users: vec![
            user(1, ADMIN_USERNAME, true),
            user(2, OPS, false),
            user(3, DEPARTING_USERNAME, false),
            user(4, SUCCESSOR_USERNAME, false),
            user(5, HEIR, false),
            user(6, COLLEAGUE, false),
            user(7, INACTIVE_USERNAME, false),
        ],
        entities,
    }
}

/// The hand-written plan: every entity goes from departing to successor (to the heir
/// for the one whose recipient is deactivated); everyone else keeps their access.
fn csv() -> String {
    let mut out = String::from("entity_type,entity_id,username,role\n");
    for (n, (kind, fate)) in ENTITIES.iter().enumerate() {
        let to = match fate {
            Fate::InactiveRecipient => HEIR,
            _ => SUCCESSOR_USERNAME,
        };
        let id = id_of(n);
        out.push_str(&format!("{kind},{id},{to},OWNER\n"));
        out.push_str(&format!("{kind},{id},{DEPARTING_USERNAME},NONE\n"));
    }
    out
}

/// The binary as the operator.
fn as_ops(w: &World, args: &[&str]) -> std::process::Command {
    let mut cmd = handover_cmd(w, args);
    cmd.env("DATAROBOT_API_TOKEN", default_token(OPS));
    cmd
}

fn grants(kind: EntityKind, id: &str, w: &World) -> Vec<SeedGrant> {
    w.sim
        .state()
        .access(kind, id)
        .unwrap()
        .iter()
        .map(|g| SeedGrant {
            username: g.username.clone(),
            role: g.role,
            can_share: g.can_share,
        })
        .collect()
}

/// Sets the operator's role on an entity behind handover's back.
fn set_ops_role(w: &World, kind: EntityKind, id: &str, role: Role) {
    let mut access = grants(kind, id, w);
    for g in &mut access {
        if g.username == OPS {
            g.role = role.into();
        }
    }
    w.sim.set_access(kind, id, access).unwrap();
}

fn outcome_of(replay: &Replay, e: &PlanEntry) -> handover::journal::Outcome {
    match replay.outcome(e.kind, &e.id).unwrap() {
        Some(outcome) => outcome,
        None => panic!("{} {}: {:?}", e.kind, e.id, replay.state(e.kind, &e.id)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_refusals_are_recorded_the_batch_goes_on_and_the_failed_plan_retries_them() {
    let w = world(seed());
    std::fs::write(w.path("handover.csv"), csv()).unwrap();
    let out = run_to_end(as_ops(
        &w,
        // One read at a time, so that the plan keeps the CSV's order, which the checks
        // below pair with ENTITIES (the planner writes entries as their reads complete).
        &[
            "-q",
            "plan",
            "--csv",
            "handover.csv",
            "--out",
            "plan.jsonl",
            "--concurrency",
            "1",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    let entries: Vec<PlanEntry> = PlanReader::open(w.path("plan.jsonl"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(entries.len(), ENTITIES.len());
    assert!(entries.iter().all(|e| e.action == ActionKind::Change));
    let before = w.sim.state();

    // Between plan and apply, the world moves.
    let mut forced = Vec::new();
    for (e, (_, fate)) in entries.iter().zip(ENTITIES) {
        match fate {
            Fate::Succeeds => {}
            Fate::Forbidden => set_ops_role(&w, e.kind, &e.id, Role::Editor),
            Fate::Deleted => w.sim.delete_entity(e.kind, &e.id).unwrap(),
            Fate::LastOwner(status) => forced.push(ForcedStatus {
                kind: e.kind.into(),
                id: e.id.clone(),
                status,
                on: ForcedOn::Write,
            }),
            Fate::InactiveRecipient => w.sim.set_active(HEIR, false).unwrap(),
        }
    }
    w.sim.set_config(SimConfig {
        force_status: forced,
        ..SimConfig::default()
    });

    let out = run_to_end(as_ops(
        &w,
        &[
            "apply",
            "plan.jsonl",
            "--journal",
            "j.jsonl",
            "--concurrency",
            "1",
        ],
    ))
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(exit::PARTIAL),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("8 of 8 entities have an outcome"),
        "{stdout}"
    );

    // Each refusal is recorded with the server's status and reason; the entities after the
    // refusals in the plan were still done.
    let replay = Replay::read(w.path("j.jsonl")).unwrap();
    for (e, (_, fate)) in entries.iter().zip(ENTITIES) {
        let o = outcome_of(&replay, e);
        let error = o.error.clone().unwrap_or_default();
        let (outcome, status, reason) = match fate {
            Fate::Succeeds => (OutcomeKind::Succeeded, 204, ""),
            Fate::Forbidden => (
                OutcomeKind::Refused,
                403,
                "Cannot grant the role OWNER, which is above your own role EDITOR",
            ),
            Fate::Deleted => (OutcomeKind::Skipped, 404, "404 Not Found"),
            Fate::LastOwner(status) => (
                OutcomeKind::Refused,
                status,
                "at least one user must remain OWNER",
            ),
            Fate::InactiveRecipient => (
                OutcomeKind::Refused,
                422,
                "The following users are not active and cannot be granted access: heir@acme.test",
            ),
        };
        assert_eq!(
            (o.outcome, o.status),
            (outcome, Some(status)),
            "{} {}: {o:?}",
            e.kind,
            e.id
        );
        assert!(error.contains(reason), "{} {}: {error}", e.kind, e.id);
        // Refused once, not retried: a refusal is not a blip. A deleted entity is found
        // gone by the read before the write, and never written.
        let attempts = if fate == Fate::Deleted { 0 } else { 1 };
        assert_eq!(
            w.sim
                .stats()
                .attempts_on(e.kind, exec_support::sim_id(e.kind, &e.id)),
            attempts,
            "{fate:?}"
        );
        assert_eq!(o.attempts, attempts as u32, "{fate:?}");
    }
    let stats = w.sim.stats();
    assert_eq!(
        stats.total_writes(),
        3,
        "only the three that succeeded landed"
    );
    assert!(stats.ownerless.is_empty());

    // The report beside the journal says the same, one row per entity.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("j.report.json")).unwrap()).unwrap();
    let rows = report["entities"].as_array().unwrap();
    let outcomes: Vec<&str> = rows
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "succeeded",
            "refused",
            "skipped",
            "refused",
            "refused",
            "refused",
            "succeeded",
            "succeeded"
        ]
    );
    let statuses: Vec<u64> = rows
        .iter()
        .map(|r| r["http_status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [204, 403, 404, 409, 422, 422, 204, 204]);
    assert!(rows.iter().skip(1).take(5).all(|r| r["error"].is_string()));

    // status: the failures with their reasons, and the plan to retry.
    let out = run_to_end(as_ops(
        &w,
        &[
            "status",
            "--journal",
            "j.jsonl",
            "--json",
            "--failed-plan",
            "retry.jsonl",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["counts"]["succeeded"], 3);
    assert_eq!(status["counts"]["refused"], 4);
    assert_eq!(status["counts"]["skipped"], 1);
    // A deleted entity is counted as skipped, not listed as a failure needing attention.
    let failures = status["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert!(
        failures
            .iter()
            .all(|f| f["outcome"] == "refused" && f["error"].is_string()),
        "{failures:?}"
    );
    // Exactly the refused ones: a deleted entity has nothing left to retry.
    let retry: Vec<PlanEntry> = PlanReader::open(w.path("retry.jsonl"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let refused: Vec<&PlanEntry> = entries
        .iter()
        .zip(ENTITIES)
        .filter(|(_, (_, f))| !matches!(f, Fate::Succeeds | Fate::Deleted))
        .map(|(e, _)| e)
        .collect();
    assert_eq!(
        retry.iter().map(|e| (e.kind, &e.id)).collect::<Vec<_>>(),
        refused.iter().map(|e| (e.kind, &e.id)).collect::<Vec<_>>()
    );
    for (r, e) in retry.iter().zip(&refused) {
        assert_eq!(r.request, e.request, "{} {}", e.kind, e.id);
    }

    // Fix every cause, apply the retry plan: it converges, and touches nothing else.
    for (e, (_, fate)) in entries.iter().zip(ENTITIES) {
        if fate == Fate::Forbidden {
            set_ops_role(&w, e.kind, &e.id, Role::Owner);
        }
    }
    w.sim.set_config(SimConfig::default());
    w.sim.set_active(HEIR, true).unwrap();
    let writes_before = w.sim.stats().writes;
    let out = run_to_end(as_ops(&w, &["apply", "retry.jsonl"])).await;
    assert_eq!(
        out.status.code(),
        Some(exit::OK),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let after = w.sim.state();
    let stats = w.sim.stats();
    let live: Vec<PlanEntry> = entries
        .iter()
        .zip(ENTITIES)
        .filter(|(_, (_, f))| *f != Fate::Deleted)
        .map(|(e, _)| e.clone())
        .collect();
    assert_at_targets(&after, &live);
    for e in &live {
        let key = handover::sim::entity_key(e.kind, &e.id);
        let was = writes_before.get(&key).copied().unwrap_or(0);
        let expected = if refused.iter().any(|r| r.id == e.id) {
            was + 1
        } else {
            was
        };
        assert_eq!(
            stats.writes_to(e.kind, exec_support::sim_id(e.kind, &e.id)),
            expected,
            "{} {}",
            e.kind,
            e.id
        );
    }
    assert!(stats.ownerless.is_empty());
    // The colleague, whom no row named, kept their access everywhere.
    for e in &live {
        assert_eq!(
            after.role_of(e.kind, &e.id, COLLEAGUE),
            before.role_of(e.kind, &e.id, COLLEAGUE)
        );
    }
}
