//! The executor against the in-process simulator: faults, interruption and resume, crafted
//! journals, drift, locking, refusals, the token going bad mid-run, status and retry
//! plans. Plans are built the way the planner builds them: from access lists as the
//! client reads them, with `offboard_target` and `PlanEntry::build`.

mod exec_support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use exec_support::*;
use handover::exec::report::{self, ReportPaths, Status};
use handover::exec::{self, StopKind};
use handover::exit;
use handover::journal::{
    self, EntityState, Header, Intent, Journal, Outcome, OutcomeKind, PurposeKind, Record, Replay,
};
use handover::model::{EntityKind, Role};
use handover::plan::{
    ActionKind, OldOwnerRoleKind, PlanEntry, PlanReader, RefusalKind, offboard_target,
};
use handover::sim::{
    ADMIN_USERNAME, DEPARTING_USERNAME, INACTIVE_USERNAME, RateLimit, SUCCESSOR_USERNAME, Seed,
    SeedEntity, SeedGrant, SeedUser, SimConfig,
};
use serde_json::json;

fn never() -> std::future::Pending<()> {
    std::future::pending()
}

fn seed_grants(state: &handover::sim::StateSnapshot, kind: EntityKind, id: &str) -> Vec<SeedGrant> {
    state
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_plan_under_faults_reaches_every_target() {
    let w = world(generated(11, 3));
    let entries = w.offboard_entries().await;
    let kinds: HashSet<EntityKind> = entries.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.len(), 25, "every kind is in the plan");
    assert!(entries.iter().all(|e| e.action == ActionKind::Change));
    let plan = w.write_plan("plan.jsonl", &entries);
    let before = w.sim.state();
    let planned: HashSet<(EntityKind, String)> =
        entries.iter().map(|e| (e.kind, e.id.clone())).collect();

    w.sim.set_config(SimConfig {
        fault_rate_5xx: 0.08,
        drop_rate: 0.05,
        commit_then_502_rate: 0.15,
        rate_limit: Some(RateLimit {
            per_second: 150.0,
            burst: 10,
            retry_after_secs: 1,
        }),
        fault_seed: 99,
        ..SimConfig::default()
    });
    let summary = w
        .apply(&plan, &w.path("journal.jsonl"), &settings(6), never())
        .await;

    assert_eq!(summary.stop, None);
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    assert_eq!(
        summary.this_run.outcome(OutcomeKind::Succeeded),
        entries.len() as u64
    );
    let stats = w.sim.stats();
    assert!(
        stats.faults.http_5xx > 0 && stats.faults.drop > 0,
        "{:?}",
        stats.faults
    );
    assert!(stats.faults.commit_then_502 > 0, "{:?}", stats.faults);
    // Whether the 150/s limit is met here depends on how fast this machine runs the client,
    // so it is not asserted; tests/fault_matrix.rs pins the 429 path on paused time.
    assert_eq!(stats.notifications, 0);
    assert!(stats.ownerless.is_empty(), "{:?}", stats.ownerless);

    let after = w.sim.state();
    assert_at_targets(&after, &entries);
    // Entities outside the plan are untouched.
    for e in &before.entities {
        // A model package's or notebook's list is its parent's: it moves with it.
        if !EntityKind::from(e.kind).is_writable() {
            continue;
        }
        if !planned.contains(&(e.kind.into(), exec_support::tool_id(e))) {
            assert_eq!(
                after.entity(e.kind, exec_support::sim_id(e.kind, &e.id)),
                Some(e),
                "{} {}",
                e.kind,
                e.id
            );
        }
    }
    // One applied write per entity, except where a commit-then-502 made the client retry a
    // write that had landed.
    let mut extra = 0;
    for e in &entries {
        let writes = stats.writes_to(e.kind, exec_support::sim_id(e.kind, &e.id));
        assert!(writes >= 1, "{} {} never written", e.kind, e.id);
        extra += writes - 1;
    }
    assert!(
        extra <= stats.faults.commit_then_502,
        "{extra} extra writes, {} commit-then-502",
        stats.faults.commit_then_502
    );

    let replay = Replay::read(w.path("journal.jsonl")).unwrap();
    assert_eq!(replay.counts().get(OutcomeKind::Succeeded), entries.len());
    assert_eq!(replay.counts().in_flight, 0);
    assert!(replay.end().is_some_and(|e| !e.interrupted));
    for e in &entries {
        assert_eq!(
            replay.first_before(e.kind, &e.id).unwrap(),
            Some(e.current.clone())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_run_resumes_without_rewriting_settled_entities() {
    let w = world(generated(3, 4));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let journal = w.path("journal.jsonl");
    w.sim.set_config(SimConfig {
        latency_ms: 5,
        ..SimConfig::default()
    });

    // Stop once ten writes have landed.
    let sim = &w.sim;
    let shutdown = async {
        while sim.stats().total_writes() < 10 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let first = w.apply(&plan, &journal, &settings(3), shutdown).await;
    assert_eq!(first.stop, Some(StopKind::Interrupted));
    assert_eq!(first.exit_code(), exit::INTERRUPTED);
    let done_first = first.this_run.total();
    // Ten writes landed; an entity whose read-back still waited for its turn when the
    // stop came has no outcome yet (the resume checks it), so fewer may be done.
    assert!(w.sim.stats().total_writes() >= 10);
    assert!(
        done_first > 0 && done_first < entries.len() as u64,
        "{done_first}"
    );

    let replay = Replay::read(&journal).unwrap();
    // Requests already sent finished; what still waited for its turn when the signal
    // came was not sent. An entity left in flight (its intent journaled, its write or its
    // read-back not done) was written at most once; the resume checks it before writing.
    for (kind, id, e) in replay.entities() {
        if matches!(e.state, EntityState::InFlight) {
            assert!(
                w.sim
                    .stats()
                    .writes_to(kind, exec_support::sim_id(kind, id))
                    <= 1,
                "{kind} {id}"
            );
        }
    }
    assert!(replay.end().is_some_and(|e| e.interrupted));
    let settled: Vec<(EntityKind, String, u64)> = replay
        .entities()
        .filter(|(_, _, e)| matches!(&e.state, EntityState::Done { outcome } if outcome.outcome == OutcomeKind::Succeeded))
        .map(|(k, id, _)| (k, id.to_string(), w.sim.stats().writes_to(k, exec_support::sim_id(k, id))))
        .collect();
    assert_eq!(settled.len() as u64, done_first);

    let second = w.apply(&plan, &journal, &settings(3), never()).await;
    assert_eq!(second.exit_code(), exit::OK, "{}", second.render());
    assert_eq!(second.earlier.total(), done_first);
    assert_eq!(second.this_run.total(), entries.len() as u64 - done_first);
    assert_at_targets(&w.sim.state(), &entries);
    let stats = w.sim.stats();
    for (kind, id, writes) in settled {
        assert_eq!(
            stats.writes_to(kind, exec_support::sim_id(kind, &id)),
            writes,
            "{kind} {id} written again"
        );
    }
    for e in &entries {
        assert_eq!(
            stats.writes_to(e.kind, exec_support::sim_id(e.kind, &e.id)),
            1
        );
    }
    let replay = Replay::read(&journal).unwrap();
    assert_eq!(replay.resumes(), 1);
    assert_eq!(replay.counts().get(OutcomeKind::Succeeded), entries.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intent_without_outcome_is_rechecked_not_blindly_rewritten() {
    let w = world(generated(5, 1));
    let entries = w.offboard_entries().await;
    assert!(entries.len() >= 4);
    let plan = w.write_plan("plan.jsonl", &entries);
    let journal = w.path("journal.jsonl");
    let (landed, lost, settled) = (&entries[0], &entries[1], &entries[2]);

    // A journal as a crash would leave it: intents for `landed` and `lost` without
    // outcomes, and a recorded success for `settled` (whose write, in this made-up past,
    // went somewhere we cannot see: the simulator still has the old list).
    let digest = PlanReader::open(&plan).unwrap().digest().to_string();
    let mut j = Journal::create(
        &journal,
        &Header::new(digest, w.sim.endpoint(), "plan.jsonl", PurposeKind::Apply),
    )
    .unwrap();
    for e in [landed, lost] {
        j.append(&Record::Intent(Intent::new(
            e.kind,
            &e.id,
            e.current.clone(),
            json!({}),
        )));
    }
    j.append(&Record::Outcome(Outcome {
        status: Some(204),
        ..Outcome::new(settled.kind, &settled.id, OutcomeKind::Succeeded, 1)
    }));
    j.sync().unwrap();
    drop(j);
    // The write of `landed` reached the server before the crash.
    w.client
        .share(landed.kind, &landed.id, landed.request.as_ref().unwrap())
        .await
        .unwrap();

    let summary = w.apply(&plan, &journal, &settings(2), never()).await;
    assert_eq!(summary.earlier.total(), 1);
    let stats = w.sim.stats();
    assert_eq!(
        stats.writes_to(landed.kind, exec_support::sim_id(landed.kind, &landed.id)),
        1,
        "landed write not repeated"
    );
    assert_eq!(
        stats.writes_to(lost.kind, exec_support::sim_id(lost.kind, &lost.id)),
        1,
        "lost write sent again"
    );
    assert_eq!(
        stats.writes_to(
            settled.kind,
            exec_support::sim_id(settled.kind, &settled.id)
        ),
        0,
        "settled never written"
    );
    let state = w.sim.state();
    assert_at_targets(&state, &[landed.clone(), lost.clone()]);
    assert_at_targets(&state, &entries[3..]);
    assert_eq!(
        roles_in_state(&state, settled.kind, &settled.id).get(DEPARTING_USERNAME),
        Some(&Role::Owner)
    );

    let replay = Replay::read(&journal).unwrap();
    for e in [landed, lost] {
        match replay.state(e.kind, &e.id) {
            Some(EntityState::Done { outcome }) => {
                assert_eq!(outcome.outcome, OutcomeKind::Succeeded)
            }
            other => panic!("{other:?}"),
        }
    }
    let Some(EntityState::Done { outcome }) = replay.state(landed.kind, &landed.id) else {
        unreachable!()
    };
    assert_eq!(outcome.attempts, 0, "found at target, not written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_behind_the_tools_back_is_recomputed_or_reported() {
    let w = world(generated(8, 2));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let pick = |kind: EntityKind| entries.iter().find(|e| e.kind == kind).unwrap().clone();
    let (colleague, demoted, done, deleted) = (
        pick(EntityKind::Project),
        pick(EntityKind::Dataset),
        pick(EntityKind::DataStore),
        pick(EntityKind::Deployment),
    );
    let state = w.sim.state();
    // A colleague was added (a principal the plan does not touch).
    let mut grants = seed_grants(&state, colleague.kind, &colleague.id);
    grants.retain(|g| g.username != "user9@acme.test");
    grants.push(SeedGrant::new("user9@acme.test", Role::Consumer));
    w.sim
        .set_access(colleague.kind, &colleague.id, grants)
        .unwrap();
    // The departing user was demoted by hand (a principal the plan touches).
    let mut grants = seed_grants(&state, demoted.kind, &demoted.id);
    for g in &mut grants {
        if g.username == DEPARTING_USERNAME {
            g.role = Role::Editor.into();
        }
    }
    grants.push(SeedGrant::new("user10@acme.test", Role::Owner));
    w.sim
        .set_access(demoted.kind, &demoted.id, grants.clone())
        .unwrap();
    // Someone did the handover already.
    let target: Vec<SeedGrant> = done
        .target
        .iter()
        .map(|g| SeedGrant::new(&g.name, g.role))
        .collect();
    w.sim.set_access(done.kind, &done.id, target).unwrap();
    // And one entity was deleted.
    w.sim.delete_entity(deleted.kind, &deleted.id).unwrap();

    let summary = w
        .apply(&plan, &w.path("journal.jsonl"), &settings(4), never())
        .await;
    assert_eq!(summary.exit_code(), exit::PARTIAL, "{}", summary.render());
    let replay = Replay::read(w.path("journal.jsonl")).unwrap();
    let outcome = |e: &PlanEntry| match replay.state(e.kind, &e.id) {
        Some(EntityState::Done { outcome }) => outcome.clone(),
        other => panic!("{other:?}"),
    };
    let stats = w.sim.stats();
    let state = w.sim.state();

    assert_eq!(outcome(&colleague).outcome, OutcomeKind::Succeeded);
    let mut want = roles_of_target(&colleague);
    want.insert("user9@acme.test".into(), Role::Consumer);
    assert_eq!(roles_in_state(&state, colleague.kind, &colleague.id), want);

    let o = outcome(&demoted);
    assert_eq!(o.outcome, OutcomeKind::Drifted);
    assert!(
        o.error
            .as_deref()
            .unwrap()
            .contains("departing@acme.test: planned from OWNER, now EDITOR"),
        "{o:?}"
    );
    assert_eq!(
        stats.writes_to(
            demoted.kind,
            exec_support::sim_id(demoted.kind, &demoted.id)
        ),
        0
    );
    assert_eq!(
        seed_grants(&state, demoted.kind, &demoted.id),
        grants,
        "a drifted entity is left as found"
    );

    assert_eq!(outcome(&done).outcome, OutcomeKind::AlreadyDone);
    assert_eq!(
        stats.writes_to(done.kind, exec_support::sim_id(done.kind, &done.id)),
        0
    );

    let o = outcome(&deleted);
    assert_eq!(o.outcome, OutcomeKind::Skipped);
    assert_eq!(o.status, Some(404));
    assert!(o.error.as_deref().unwrap().contains("404"), "{o:?}");

    let others: Vec<PlanEntry> = entries
        .iter()
        .filter(|e| ![&colleague.id, &demoted.id, &done.id, &deleted.id].contains(&&e.id))
        .cloned()
        .collect();
    assert_at_targets(&state, &others);
    assert_eq!(
        summary.this_run.outcome(OutcomeKind::Succeeded),
        others.len() as u64 + 1
    );
    assert!(stats.ownerless.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_in_use_is_refused() {
    let w = world(generated(1, 1));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let journal = w.path("journal.jsonl");
    let held = w.open(&plan, &journal).unwrap();
    let err = w.open(&plan, &journal).unwrap_err();
    assert!(
        matches!(err, exec::Error::Journal(journal::Error::Locked { .. })),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
    assert!(
        err.to_string().contains("is in use by this process"),
        "{err}"
    );
    drop(held);
    w.open(&plan, &journal).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_endpoint_or_another_plans_journal_is_refused_before_any_request() {
    let w = world(generated(1, 1));
    let entries = w.offboard_entries().await;
    let requests = w.sim.stats().requests;
    let plan = w.write_plan("plan.jsonl", &entries);

    // A plan made against another server.
    let path = w.path("elsewhere.jsonl");
    let mut header = w.header(ADMIN_USERNAME);
    header.endpoint = "https://dr.example.com/api/v2".into();
    let mut writer = handover::plan::PlanWriter::create(&path, &header).unwrap();
    writer.write(&entries[0]).unwrap();
    writer.finish().unwrap();
    let err = w.open(&path, &w.path("j1.jsonl")).unwrap_err();
    assert!(
        matches!(err, exec::Error::EndpointMismatch { .. }),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
    assert!(!w.path("j1.jsonl").exists());

    // A journal of another plan.
    let journal = w.path("j2.jsonl");
    drop(w.open(&plan, &journal).unwrap());
    let other = w.write_plan("other.jsonl", &entries[..1]);
    let err = w.open(&other, &journal).unwrap_err();
    assert!(
        matches!(
            err,
            exec::Error::Journal(journal::Error::PlanMismatch { .. })
        ),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
    assert_eq!(w.sim.stats().requests, requests, "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_refused_mid_run_stops_resumably() {
    let w = world(generated(4, 3));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let journal = w.path("journal.jsonl");
    w.sim.set_config(SimConfig {
        latency_ms: 3,
        ..SimConfig::default()
    });
    let sim = &w.sim;
    let revoke_token = async {
        while sim.stats().total_writes() < 5 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sim.set_active(ADMIN_USERNAME, false).unwrap();
        std::future::pending::<()>().await
    };
    let first = w.apply(&plan, &journal, &settings(3), revoke_token).await;
    assert!(
        matches!(first.stop, Some(StopKind::Auth { .. })),
        "{:?}",
        first.stop
    );
    assert_eq!(first.exit_code(), exit::INTERRUPTED);
    assert!(first.unfinished() > 0);
    let replay = Replay::read(&journal).unwrap();
    assert!(replay.end().is_some_and(|e| e.interrupted));
    assert!(
        replay.failures().is_empty(),
        "a 401 is not an entity's failure"
    );
    // Only writes already in flight met the 401: none was released after it.
    let stats = sim.stats();
    let refused_writes: u64 = stats
        .by_route
        .keys()
        .filter(|r| r.starts_with("PATCH "))
        .map(|r| stats.count(r, "401"))
        .sum();
    assert!(refused_writes <= 3, "{refused_writes} writes answered 401");

    sim.set_active(ADMIN_USERNAME, true).unwrap();
    let second = w.apply(&plan, &journal, &settings(3), never()).await;
    assert_eq!(second.exit_code(), exit::OK, "{}", second.render());
    assert_at_targets(&w.sim.state(), &entries);
    for e in &entries {
        assert!(
            w.sim
                .stats()
                .writes_to(e.kind, exec_support::sim_id(e.kind, &e.id))
                <= 1
        );
    }
}

/// A small world with a non-admin operator, for refusals only the server knows about.
fn refusals_seed() -> Seed {
    let user = |n: u8, name: &str, active: bool, admin: bool| SeedUser {
        id: format!("{:024x}", n),
        username: name.into(),
        full_name: String::new(),
        active,
        org_admin: admin,
        token: String::new(),
    };
    let entity = |kind: EntityKind, n: u8, ops_can_share: bool| SeedEntity {
        kind: kind.into(),
        id: format!("{:024x}", 100 + n),
        name: format!("{kind} {n}"),
        creator: None,
        access: vec![
            SeedGrant {
                username: "ops@acme.test".into(),
                role: Role::Owner.into(),
                can_share: ops_can_share,
            },
            SeedGrant::new(DEPARTING_USERNAME, Role::Owner),
        ],
        principals: Vec::new(),
        store_type: None,
        linked: None,
        related_entity_type: None,
    };
    Seed {
        users: vec![
            user(1, ADMIN_USERNAME, true, true),
            user(2, "ops@acme.test", true, false),
            user(3, DEPARTING_USERNAME, true, false),
            user(4, SUCCESSOR_USERNAME, true, false),
            user(5, INACTIVE_USERNAME, false, false),
        ],
        entities: vec![
            entity(EntityKind::Project, 1, true),
            entity(EntityKind::Dataset, 2, false),
            entity(EntityKind::Deployment, 3, true),
            entity(EntityKind::UseCase, 4, true),
            entity(EntityKind::DataStore, 5, true),
            entity(EntityKind::RegisteredModel, 6, true),
        ],
    }
}

struct Refusals {
    w: World,
    entries: Vec<PlanEntry>,
    plan: std::path::PathBuf,
    journal: std::path::PathBuf,
}

/// Plans six entities as `ops` and applies them: one succeeds, one is forbidden (403), one
/// was deleted (404), one goes to an inactive user (422), one is a noop, one the planner
/// refused.
async fn apply_refusals() -> (Refusals, exec::RunSummary) {
    let w = world_as(
        refusals_seed(),
        &handover::sim::default_token("ops@acme.test"),
    );
    let ids: Vec<(EntityKind, String)> = w
        .sim
        .state()
        .entities
        .iter()
        .map(|e| (e.kind.into(), exec_support::tool_id(e)))
        .collect();
    let mut entries = Vec::new();
    for (n, (kind, id)) in ids.iter().enumerate() {
        let entry = match n {
            // To the inactive user: the server refuses (R4).
            3 => {
                let current = w.client.access_list(*kind, id).await.unwrap().grants;
                let to = w.user(INACTIVE_USERNAME);
                let target = offboard_target(
                    *kind,
                    &current,
                    &w.user(DEPARTING_USERNAME),
                    &to,
                    OldOwnerRoleKind::None,
                );
                PlanEntry::build(*kind, id, "to inactive", current, target)
            }
            4 => {
                let current = w.client.access_list(*kind, id).await.unwrap().grants;
                PlanEntry::build(*kind, id, "noop", current.clone(), current)
            }
            5 => {
                let current = w.client.access_list(*kind, id).await.unwrap().grants;
                PlanEntry::refused(
                    *kind,
                    id,
                    "refused",
                    current.clone(),
                    current,
                    &RefusalKind::RecipientNotFound("ghost@acme.test".into()),
                )
            }
            _ => w.offboard_entry(*kind, id, "x").await,
        };
        entries.push(entry);
    }
    let plan = w.write_plan_as("plan.jsonl", &entries, "ops@acme.test");
    w.sim.delete_entity(ids[2].0, &ids[2].1).unwrap();
    let journal = w.path("journal.jsonl");
    let summary = w.apply(&plan, &journal, &settings(2), never()).await;
    (
        Refusals {
            w,
            entries,
            plan,
            journal,
        },
        summary,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_recorded_and_the_batch_goes_on() {
    let (r, summary) = apply_refusals().await;
    assert_eq!(summary.stop, None);
    assert_eq!(summary.exit_code(), exit::PARTIAL, "{}", summary.render());
    let replay = Replay::read(&r.journal).unwrap();
    let got: Vec<(OutcomeKind, Option<u16>)> = r
        .entries
        .iter()
        .map(|e| match replay.state(e.kind, &e.id) {
            Some(EntityState::Done { outcome }) => (outcome.outcome, outcome.status),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (OutcomeKind::Succeeded, Some(204)),
            (OutcomeKind::Refused, Some(403)),
            (OutcomeKind::Skipped, Some(404)),
            (OutcomeKind::Refused, Some(422)),
            (OutcomeKind::AlreadyDone, None),
            (OutcomeKind::Refused, None),
        ]
    );
    let stats = r.w.sim.stats();
    // Only the three entities with a sendable change were written to; the noop and the
    // planner's refusal cost no request at all.
    assert_eq!(stats.write_attempts.len(), 3, "{:?}", stats.write_attempts);
    assert_eq!(stats.total_writes(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_report_and_failed_plan_after_refusals() {
    let (r, _) = apply_refusals().await;
    let replay = Replay::read(&r.journal).unwrap();
    let status = Status::new(&replay, Some(r.entries.len() as u64));
    assert_eq!(status.state, "finished");
    assert_eq!(status.pending, Some(0));
    assert_eq!(status.failures.len(), 3);
    let text = status.render();
    assert!(
        text.contains("dataset 000000000000000000000066 refused (HTTP 403): write: PATCH /api/v2/datasets/000000000000000000000066/sharedRoles/: 403 Forbidden"),
        "{text}"
    );
    assert!(
        text.contains("refused when planned: recipient \"ghost@acme.test\" not found"),
        "{text}"
    );
    let table_total = text
        .lines()
        .find(|l| l.starts_with("total"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>();
    // succeeded already_done partial unconfirmed failed drifted refused skipped in_flight
    assert_eq!(
        table_total,
        ["total", "1", "1", "0", "0", "0", "0", "3", "1", "0"]
    );
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["counts"]["refused"], 3);
    assert_eq!(json["by_kind"]["dataset"]["refused"], 1);

    // The report: one row per entry, owner-only files.
    let paths = ReportPaths::beside_journal(&r.journal);
    let written = report::write(PlanReader::open(&r.plan).unwrap(), &replay, &paths).unwrap();
    assert_eq!(written.counts.values().sum::<u64>(), 6);
    let csv = std::fs::read_to_string(&paths.csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("type,id,name,outcome,attempts,http_status,roles,error")
    );
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("project,000000000000000000000065,x,succeeded,1,204,ops@acme.test:OWNER->OWNER; departing@acme.test:OWNER->none; successor@acme.test:none->OWNER,"),
        "{first}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths.json).unwrap()).unwrap();
    assert_eq!(report["format"], "handover-report");
    assert_eq!(report["entities"].as_array().unwrap().len(), 6);
    assert_eq!(report["entities"][1]["http_status"], 403);
    assert_eq!(report["counts"]["refused"], 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [&paths.csv, &paths.json, &r.journal] {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
    }

    // The retry plan: the two the server refused, not the one the planner refused.
    let out = r.w.path("retry.jsonl");
    let written =
        report::write_failed_plan(PlanReader::open(&r.plan).unwrap(), &replay, &out).unwrap();
    assert_eq!(written.entries, 2);
    let retry = PlanReader::open(&out).unwrap();
    assert_eq!(retry.header().endpoint, r.w.sim.endpoint());
    let retry_entries: Vec<PlanEntry> = retry.map(Result::unwrap).collect();
    assert_eq!(
        retry_entries
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        [r.entries[1].id.as_str(), r.entries[3].id.as_str()]
    );

    // Fix the causes, apply the retry plan: both go through.
    let mut grants = seed_grants(&r.w.sim.state(), r.entries[1].kind, &r.entries[1].id);
    for g in &mut grants {
        g.can_share = true;
    }
    r.w.sim
        .set_access(r.entries[1].kind, &r.entries[1].id, grants)
        .unwrap();
    r.w.sim.set_active(INACTIVE_USERNAME, true).unwrap();
    let summary =
        r.w.apply(
            &out,
            &r.w.path("retry.journal.jsonl"),
            &settings(2),
            never(),
        )
        .await;
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    assert_at_targets(&r.w.sim.state(), &retry_entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_errors_stops_early_and_resumably() {
    let w = world(generated(6, 2));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    // Every grant to the successor is now refused (R4).
    w.sim.set_active(SUCCESSOR_USERNAME, false).unwrap();
    let s = exec::Settings {
        max_errors: Some(3),
        ..settings(1)
    };
    let summary = w.apply(&plan, &w.path("journal.jsonl"), &s, never()).await;
    assert_eq!(summary.stop, Some(StopKind::MaxErrors { limit: 3 }));
    assert_eq!(summary.exit_code(), exit::INTERRUPTED);
    assert_eq!(summary.this_run.failures(), 3);
    assert_eq!(w.sim.stats().total_writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_verification_each_entity_costs_one_read_and_one_write() {
    let w = world(generated(2, 1));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let before = w.sim.stats().requests;
    let s = exec::Settings {
        verify: false,
        ..settings(4)
    };
    let summary = w.apply(&plan, &w.path("journal.jsonl"), &s, never()).await;
    assert_eq!(summary.exit_code(), exit::OK);
    assert_eq!(w.sim.stats().requests - before, 2 * entries.len() as u64);
    assert_at_targets(&w.sim.state(), &entries);
    let replay = Replay::read(w.path("journal.jsonl")).unwrap();
    let by_outcome: BTreeMap<OutcomeKind, usize> = replay.counts().outcomes;
    assert_eq!(
        by_outcome.get(&OutcomeKind::Succeeded),
        Some(&entries.len())
    );
}

/// `offboard` writes on its plan's fresh reads: the write and the read-back, no re-read,
/// and the journal says which entities were written on the plan's read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_plan_read_is_written_on_without_reading_again() {
    let w = world(generated(2, 1));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let before = w.sim.stats().requests;
    let s = exec::Settings {
        trust_plan_reads_until: Some(tokio::time::Instant::now() + Duration::from_secs(60)),
        ..settings(4)
    };
    let summary = w.apply(&plan, &w.path("journal.jsonl"), &s, never()).await;
    assert_eq!(summary.exit_code(), exit::OK);
    // A replace-semantics write is always built from a fresh read (its whole list is
    // re-sent): one read more for each of those.
    let replacing = entries
        .iter()
        .filter(|e| e.kind.semantics() == handover::model::WriteSemanticsKind::Replace)
        .count();
    assert_eq!(replacing, 3);
    assert_eq!(
        w.sim.stats().requests - before,
        (2 * entries.len() + replacing) as u64
    );
    assert_at_targets(&w.sim.state(), &entries);
    let journal = std::fs::read_to_string(w.path("journal.jsonl")).unwrap();
    let on_plan_read = journal
        .lines()
        .filter(|l| l.contains("\"type\":\"intent\"") && l.contains("\"on_plan_read\":true"))
        .count();
    assert_eq!(on_plan_read, entries.len() - replacing);
}

/// Past `--max-read-age` the drift guard reads again, as `apply` of a saved plan does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_plan_read_is_read_again_before_writing() {
    let w = world(generated(2, 1));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let before = w.sim.stats().requests;
    let s = exec::Settings {
        trust_plan_reads_until: Some(tokio::time::Instant::now()),
        ..settings(4)
    };
    let summary = w.apply(&plan, &w.path("journal.jsonl"), &s, never()).await;
    assert_eq!(summary.exit_code(), exit::OK);
    assert_eq!(w.sim.stats().requests - before, 3 * entries.len() as u64);
    let journal = std::fs::read_to_string(w.path("journal.jsonl")).unwrap();
    assert!(!journal.contains("on_plan_read"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_flag_lets_project_shares_notify() {
    let w = world(generated(2, 1));
    let entries: Vec<PlanEntry> = w
        .offboard_entries()
        .await
        .into_iter()
        .filter(|e| e.kind == EntityKind::Project)
        .collect();
    let plan = w.write_plan("plan.jsonl", &entries);
    let s = exec::Settings {
        notify: true,
        ..settings(2)
    };
    let summary = w.apply(&plan, &w.path("journal.jsonl"), &s, never()).await;
    assert_eq!(summary.exit_code(), exit::OK);
    assert_eq!(w.sim.stats().notifications, entries.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_killed_before_its_header_was_synced_starts_over() {
    let w = world(generated(9, 1));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    for torn in ["", "{\"type\":\"header\",\"format\":\"handover-jour"] {
        let journal = w.path("journal.jsonl");
        std::fs::write(&journal, torn).unwrap();
        let open = w.open(&plan, &journal).unwrap();
        assert!(!open.is_resume());
        drop(open);
        std::fs::remove_file(&journal).unwrap();
    }
    // A damaged journal with whole lines is not thrown away.
    let journal = w.path("damaged.jsonl");
    std::fs::write(&journal, "not json\n").unwrap();
    let err = w.open(&plan, &journal).unwrap_err();
    assert_eq!(err.exit_code(), exit::INVALID_INPUT, "{err}");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), "not json\n");
}

/// The write lands but reading it back fails: recorded as `unconfirmed` (the write landed,
/// the check did not), not `failed`, with the write's status; a resume checks it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_back_that_fails_after_an_accepted_write_is_unconfirmed() {
    let w = world(generated(61, 1));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let journal = w.path("j.jsonl");
    let target = &entries[0];
    w.sim.set_config(SimConfig {
        force_status: vec![handover::sim::ForcedStatus {
            kind: target.kind.into(),
            id: target.id.clone(),
            status: 403,
            on: handover::sim::ForcedOn::ReadAfterWrite,
        }],
        ..SimConfig::default()
    });
    let summary = w
        .apply(&plan, &journal, &settings(2), std::future::pending())
        .await;
    assert_eq!(summary.this_run.outcome(OutcomeKind::Unconfirmed), 1);
    assert_eq!(summary.exit_code(), exit::PARTIAL);
    let replay = Replay::read(&journal).unwrap();
    let o = replay.outcome(target.kind, &target.id).unwrap().unwrap();
    assert_eq!((o.outcome, o.status), (OutcomeKind::Unconfirmed, Some(204)));
    let error = o.error.unwrap_or_default();
    assert!(error.starts_with("write accepted; read-back:"), "{error}");
    assert_eq!(
        w.sim
            .stats()
            .writes_to(target.kind, exec_support::sim_id(target.kind, &target.id)),
        1
    );

    // It is one of the run's failures: `status --failed-plan` plans it again and
    // `verify --journal` checks it (an accepted write is worth checking).
    let failures: Vec<(EntityKind, String)> = replay
        .failures()
        .into_iter()
        .map(|(kind, id, _)| (kind, id.to_string()))
        .collect();
    assert_eq!(failures, [(target.kind, target.id.clone())]);
    let expected = handover::after::verify::expected_from_journal(&journal).unwrap();
    assert!(
        expected
            .iter()
            .any(|e| e.kind == target.kind && e.id == target.id)
    );
}

/// A slow fixed rate and a stop: what waits for its turn in the rate limiter is not sent,
/// so the run ends at once instead of after the queue drains; a resume finishes the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_the_requests_waiting_for_their_turn_unsent() {
    let w = world(generated(62, 2));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let journal = w.path("j.jsonl");
    // Two requests a second: the 8 workers' reads, writes and read-backs queue up.
    let slow = client_for(
        &w.sim,
        handover::sim::DEFAULT_ADMIN_TOKEN,
        handover::api::ClientPolicy {
            rate_per_sec: 2.0,
            burst: 1,
            ..test_policy()
        },
    );
    let sim = &w.sim;
    let at_stop = std::sync::Mutex::new(0);
    let stop = async {
        while sim.stats().requests < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        *at_stop.lock().unwrap() = sim.stats().requests;
    };
    let open = w.open(&plan, &journal).unwrap();
    let summary = exec::run(
        &slow,
        PlanReader::open(&plan).unwrap(),
        open,
        &settings(8),
        stop,
    )
    .await
    .unwrap();
    assert!(matches!(summary.stop, Some(StopKind::Interrupted)));
    let sent_after = w.sim.stats().requests - *at_stop.lock().unwrap();
    // Only what had its turn already (at most one token at 2/s, plus one in flight).
    assert!(sent_after <= 2, "{sent_after} requests sent after the stop");
    assert!(summary.unfinished() > 0);

    let second = w.apply(&plan, &journal, &settings(4), never()).await;
    assert_eq!(second.exit_code(), exit::OK, "{}", second.render());
    assert_at_targets(&w.sim.state(), &entries);
}
