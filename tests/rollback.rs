//! Rollback against the in-process simulator: after a full run, an interrupted one and a
//! crafted journal, every entity is back where the journal found it and nobody else's
//! access moved; an entity changed behind the tool's back is left alone unless forced; a
//! rollback resumes from its own journal; and the command line end to end.

mod exec_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use exec_support::*;
use handover::after::rollback::{self, RollbackSpec, default_rollback_journal};
use handover::api::share_body;
use handover::exec::{RunSummary, Settings, StopKind};
use handover::exit;
use handover::journal::{
    EntityState, Header, Intent, Journal, Outcome, OutcomeKind, PurposeKind, Record, Replay,
};
use handover::model::{EntityKind, Role};
use handover::plan::{PlanEntry, PlanReader, UserIdent};
use handover::sim::{
    ADMIN_USERNAME, DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, SUCCESSOR_USERNAME, SeedGrant,
    SimConfig, StateSnapshot,
};

fn never() -> std::future::Pending<()> {
    std::future::pending()
}

/// An entity's access list as sorted (username, role, can_share) triples.
type Acl = Vec<(String, Role, bool)>;

/// Every entity's access list, by kind and id.
fn acls(state: &StateSnapshot) -> BTreeMap<(EntityKind, String), Acl> {
    state
        .entities
        .iter()
        .map(|e| {
            let mut list: Vec<_> = e
                .access
                .iter()
                .map(|g| (g.username.to_lowercase(), g.role.into(), g.can_share))
                .collect();
            list.sort();
            ((e.kind.into(), exec_support::tool_id(e)), list)
        })
        .collect()
}

/// `after` holds exactly what `before` held, entity by entity, except for `except`.
fn assert_same_state(before: &StateSnapshot, after: &StateSnapshot, except: &[&str]) {
    let (a, b) = (acls(before), acls(after));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "entities"
    );
    let mut differ = Vec::new();
    for (key, list) in &a {
        if !except.contains(&key.1.as_str()) && b[key] != *list {
            differ.push(format!("{} {}: {:?} -> {:?}", key.0, key.1, list, b[key]));
        }
    }
    assert!(differ.is_empty(), "not restored:\n{}", differ.join("\n"));
}

fn seed_grants(state: &StateSnapshot, kind: EntityKind, id: &str) -> Vec<SeedGrant> {
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

fn spec(w: &World, journal: &Path, force: bool) -> RollbackSpec {
    RollbackSpec {
        journal: journal.to_path_buf(),
        rollback_journal: default_rollback_journal(journal, force),
        force,
        concurrency: 4,
        caller: admin(w),
    }
}

fn admin(w: &World) -> UserIdent {
    w.user(ADMIN_USERNAME)
}

/// Rolls back the run journaled in `journal` until done or `shutdown`.
async fn roll_back(
    w: &World,
    spec: &RollbackSpec,
    settings: &Settings,
    shutdown: impl std::future::Future<Output = ()>,
) -> RunSummary {
    let prepared = rollback::prepare(&w.client, spec).await.unwrap();
    rollback::run(&w.client, prepared, settings, shutdown)
        .await
        .unwrap()
}

/// Plans and applies the offboarding of everything the departing user owns.
async fn offboarded(w: &World) -> (Vec<PlanEntry>, PathBuf) {
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let journal = w.path("plan.journal.jsonl");
    let summary = w.apply(&plan, &journal, &settings(4), never()).await;
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    (entries, journal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_after_a_full_run_restores_every_entity_and_nobody_else() {
    let w = world(generated(21, 2));
    let before = w.sim.state();
    let (entries, journal) = offboarded(&w).await;
    assert_eq!(entries.len(), 50);
    assert_ne!(
        acls(&before),
        acls(&w.sim.state()),
        "the apply changed something"
    );

    let spec = spec(&w, &journal, false);
    let summary = roll_back(&w, &spec, &settings(4), never()).await;
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    assert_eq!(summary.this_run.outcome(OutcomeKind::Succeeded), 50);

    assert_same_state(&before, &w.sim.state(), &[]);
    let stats = w.sim.stats();
    assert!(stats.ownerless.is_empty(), "{:?}", stats.ownerless);
    assert_eq!(stats.notifications, 0);
    for e in &entries {
        assert_eq!(
            stats.writes_to(e.kind, exec_support::sim_id(e.kind, &e.id)),
            2,
            "apply and rollback, once each"
        );
    }

    // The rollback has its own journal, of purpose rollback, bound to its own plan.
    let replay = Replay::read(&spec.rollback_journal).unwrap();
    assert_eq!(replay.header().purpose, PurposeKind::Rollback);
    let plan = rollback::rollback_plan_path(&spec.rollback_journal);
    assert_eq!(
        PlanReader::open(&plan).unwrap().digest(),
        replay.header().plan_digest
    );
    assert!(plan.with_extension("csv").exists(), "the review CSV");
    // The names came from the apply's plan.
    let named = PlanReader::open(&plan)
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| !e.name.is_empty())
        .count();
    assert_eq!(named, 50);

    // A second rollback finds the first one's journal finished: nothing is written again.
    let again = roll_back(&w, &spec, &settings(4), never()).await;
    assert_eq!(again.exit_code(), exit::OK);
    assert_eq!((again.this_run.total(), again.earlier.total()), (0, 50));
    assert_eq!(w.sim.stats().total_writes(), stats.total_writes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_under_faults_still_restores_everything() {
    let w = world(generated(11, 3));
    let before = w.sim.state();
    let faults = |seed| SimConfig {
        fault_rate_5xx: 0.08,
        drop_rate: 0.05,
        commit_then_502_rate: 0.15,
        fault_seed: seed,
        ..SimConfig::default()
    };
    w.sim.set_config(faults(5));
    let (entries, journal) = offboarded(&w).await;
    w.sim.set_config(faults(6));
    let summary = roll_back(&w, &spec(&w, &journal, false), &settings(6), never()).await;
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    assert_eq!(
        summary.this_run.outcome(OutcomeKind::Succeeded),
        entries.len() as u64
    );
    let stats = w.sim.stats();
    assert!(
        stats.faults.http_5xx > 0 && stats.faults.drop > 0 && stats.faults.commit_then_502 > 0,
        "{:?}",
        stats.faults
    );
    assert!(stats.ownerless.is_empty(), "{:?}", stats.ownerless);
    assert_eq!(stats.notifications, 0);
    assert_same_state(&before, &w.sim.state(), &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_after_an_interrupted_run_restores_only_what_was_written() {
    let w = world(generated(3, 3));
    let before = w.sim.state();
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let journal = w.path("plan.journal.jsonl");
    w.sim.set_config(SimConfig {
        latency_ms: 5,
        ..SimConfig::default()
    });
    let sim = &w.sim;
    let shutdown = async {
        while sim.stats().total_writes() < 8 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let first = w.apply(&plan, &journal, &settings(3), shutdown).await;
    assert_eq!(first.stop, Some(StopKind::Interrupted));
    // Entities the run touched: done, or in flight (written, their read-back stopped
    // while it waited for its turn).
    let written = Replay::read(&journal).unwrap().entities().count() as u64;
    assert!(written >= 8 && written < entries.len() as u64, "{written}");
    assert!(first.this_run.total() <= written);
    w.sim.set_config(SimConfig::default());

    let summary = roll_back(&w, &spec(&w, &journal, false), &settings(3), never()).await;
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    assert_eq!(
        summary.total, written,
        "only the entities the run wrote are planned"
    );
    assert_same_state(&before, &w.sim.state(), &[]);
    let stats = w.sim.stats();
    assert!(stats.ownerless.is_empty());
    let replay = Replay::read(&journal).unwrap();
    for e in &entries {
        let touched = replay.state(e.kind, &e.id).is_some();
        let want = if touched { 2 } else { 0 };
        assert_eq!(
            stats.writes_to(e.kind, exec_support::sim_id(e.kind, &e.id)),
            want,
            "{} {}",
            e.kind,
            e.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_journal_is_rolled_back_by_what_the_server_shows() {
    let w = world(generated(5, 1));
    let before = w.sim.state();
    let entries = w.offboard_entries().await;
    assert!(entries.len() >= 5);
    let plan = w.write_plan("plan.jsonl", &entries);
    let journal = w.path("plan.journal.jsonl");
    // A journal as a crash (and a run without read-back) would leave it:
    // - `landed`: an intent without an outcome, whose write reached the server;
    // - `lost`: an intent without an outcome, whose write never went out;
    // - `blind`: a success recorded without a read-back (--no-verify);
    // - `retried`: a first intent lost, then a second one, and a success with read-back;
    // - `untouched`: an already_done outcome and no intent: nothing to undo.
    let (landed, lost, blind, retried, untouched) = (
        &entries[0],
        &entries[1],
        &entries[2],
        &entries[3],
        &entries[4],
    );
    let digest = PlanReader::open(&plan).unwrap().digest().to_string();
    let mut j = Journal::create(
        &journal,
        &Header::new(digest, w.sim.endpoint(), "plan.jsonl", PurposeKind::Apply),
    )
    .unwrap();
    let intent = |e: &PlanEntry| {
        let body = share_body(e.kind, e.request.as_ref().unwrap()).unwrap();
        Record::Intent(Intent::new(e.kind, &e.id, e.current.clone(), body))
    };
    for e in [landed, lost, blind, retried, retried] {
        j.append(&intent(e));
    }
    for e in [landed, blind, retried] {
        w.client
            .share(e.kind, &e.id, e.request.as_ref().unwrap())
            .await
            .unwrap();
    }
    j.append(&Record::Outcome(Outcome {
        status: Some(204),
        ..Outcome::new(blind.kind, &blind.id, OutcomeKind::Succeeded, 1)
    }));
    let after = w
        .client
        .access_list(retried.kind, &retried.id)
        .await
        .unwrap()
        .grants;
    j.append(&Record::Outcome(Outcome {
        status: Some(204),
        after: Some(after),
        ..Outcome::new(retried.kind, &retried.id, OutcomeKind::Succeeded, 1)
    }));
    j.append(&Record::Outcome(Outcome::new(
        untouched.kind,
        &untouched.id,
        OutcomeKind::AlreadyDone,
        0,
    )));
    j.sync().unwrap();
    drop(j);
    let writes_before = w.sim.stats();

    let summary = roll_back(&w, &spec(&w, &journal, false), &settings(2), never()).await;
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    assert_eq!(
        summary.total, 4,
        "every entity with an intent, and no other"
    );
    assert_eq!(summary.this_run.outcome(OutcomeKind::Succeeded), 3);
    assert_eq!(summary.this_run.outcome(OutcomeKind::AlreadyDone), 1);
    assert_same_state(&before, &w.sim.state(), &[]);
    let stats = w.sim.stats();
    let new_writes = |e: &PlanEntry| {
        stats.writes_to(e.kind, exec_support::sim_id(e.kind, &e.id))
            - writes_before.writes_to(e.kind, exec_support::sim_id(e.kind, &e.id))
    };
    for e in [landed, blind, retried] {
        assert_eq!(new_writes(e), 1, "{} {} restored", e.kind, e.id);
    }
    for e in [lost, untouched] {
        assert_eq!(new_writes(e), 0, "{} {} never changed", e.kind, e.id);
    }
    assert!(stats.ownerless.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_changed_since_is_left_alone_unless_forced() {
    let w = world(generated(8, 2));
    let before = w.sim.state();
    let (entries, journal) = offboarded(&w).await;
    let pick = |kind: EntityKind| entries.iter().find(|e| e.kind == kind).unwrap().clone();
    let (changed, colleague) = (pick(EntityKind::Project), pick(EntityKind::Dataset));

    // Behind the tool's back: the departing user was given read access again on one
    // entity (a principal the run touched), and a colleague on another (one it did not).
    let state = w.sim.state();
    let mut grants = seed_grants(&state, changed.kind, &changed.id);
    grants.push(SeedGrant::new(DEPARTING_USERNAME, Role::Consumer));
    w.sim
        .set_access(changed.kind, &changed.id, grants.clone())
        .unwrap();
    let mut with_colleague = seed_grants(&state, colleague.kind, &colleague.id);
    with_colleague.retain(|g| g.username != "user9@acme.test");
    with_colleague.push(SeedGrant::new("user9@acme.test", Role::Editor));
    w.sim
        .set_access(colleague.kind, &colleague.id, with_colleague)
        .unwrap();

    let summary = roll_back(&w, &spec(&w, &journal, false), &settings(4), never()).await;
    assert_eq!(summary.exit_code(), exit::PARTIAL, "{}", summary.render());
    assert_eq!(summary.this_run.outcome(OutcomeKind::Drifted), 1);
    let state = w.sim.state();
    assert_eq!(
        w.sim.stats().writes_to(
            changed.kind,
            exec_support::sim_id(changed.kind, &changed.id)
        ),
        1,
        "apply only"
    );
    assert_eq!(
        seed_grants(&state, changed.kind, &changed.id),
        grants,
        "a drifted entity is left as found"
    );
    let replay = Replay::read(default_rollback_journal(&journal, false)).unwrap();
    let Some(EntityState::Done { outcome }) = replay.state(changed.kind, &changed.id) else {
        panic!("no outcome for the changed entity");
    };
    assert_eq!(outcome.outcome, OutcomeKind::Drifted);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap()
            .contains("departing@acme.test: planned from none, now CONSUMER"),
        "{outcome:?}"
    );
    // The colleague keeps the access given meanwhile; the run's principals are back.
    assert_eq!(
        state.role_of(colleague.kind, &colleague.id, "user9@acme.test"),
        Some(Role::Editor.into())
    );
    assert_same_state(&before, &state, &[&changed.id, &colleague.id]);
    let was = |u: &str| before.role_of(colleague.kind, &colleague.id, u);
    let now = |u: &str| state.role_of(colleague.kind, &colleague.id, u);
    assert_eq!(now(DEPARTING_USERNAME), was(DEPARTING_USERNAME));
    assert_eq!(now(SUCCESSOR_USERNAME), was(SUCCESSOR_USERNAME));

    // Forced: the changed entity's touched principals are put back too.
    let summary = roll_back(&w, &spec(&w, &journal, true), &settings(4), never()).await;
    assert_eq!(summary.exit_code(), exit::OK, "{}", summary.render());
    assert_eq!(summary.this_run.outcome(OutcomeKind::Succeeded), 1);
    assert_eq!(summary.this_run.outcome(OutcomeKind::AlreadyDone), 49);
    assert_same_state(&before, &w.sim.state(), &[&colleague.id]);
    assert!(w.sim.stats().ownerless.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_resumes_from_its_own_journal() {
    let w = world(generated(13, 3));
    let before = w.sim.state();
    let (entries, journal) = offboarded(&w).await;
    let applied = w.sim.stats().total_writes();
    w.sim.set_config(SimConfig {
        latency_ms: 5,
        ..SimConfig::default()
    });
    let spec = spec(&w, &journal, false);
    let sim = &w.sim;
    let shutdown = async {
        while sim.stats().total_writes() < applied + 6 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let first = roll_back(&w, &spec, &settings(2), shutdown).await;
    assert_eq!(first.stop, Some(StopKind::Interrupted));
    assert_eq!(first.exit_code(), exit::INTERRUPTED);
    let done_first = first.this_run.total();
    // Six writes landed; one whose read-back still waited for its turn when the stop came
    // has no outcome yet (the resume checks it).
    assert!(w.sim.stats().total_writes() >= applied + 6);
    assert!(
        done_first > 0 && done_first < entries.len() as u64,
        "{done_first}"
    );
    let plan = rollback::rollback_plan_path(&spec.rollback_journal);
    let plan_digest = PlanReader::open(&plan).unwrap().digest().to_string();

    let prepared = rollback::prepare(&w.client, &spec).await.unwrap();
    assert!(
        prepared.made.is_none(),
        "the rollback journal is resumed, not replanned"
    );
    let second = rollback::run(&w.client, prepared, &settings(2), never())
        .await
        .unwrap();
    assert_eq!(second.exit_code(), exit::OK, "{}", second.render());
    assert_eq!(second.earlier.total(), done_first);
    assert_eq!(second.this_run.total(), entries.len() as u64 - done_first);
    assert_eq!(PlanReader::open(&plan).unwrap().digest(), plan_digest);
    assert_same_state(&before, &w.sim.state(), &[]);
    let stats = w.sim.stats();
    for e in &entries {
        assert_eq!(
            stats.writes_to(e.kind, exec_support::sim_id(e.kind, &e.id)),
            2,
            "{} {}",
            e.kind,
            e.id
        );
    }
    assert_eq!(Replay::read(&spec.rollback_journal).unwrap().resumes(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_is_refused_before_anything_is_sent() {
    let w = world(generated(2, 1));
    let (_, journal) = offboarded(&w).await;
    let requests = w.sim.stats().requests;

    // Its own journal cannot be the one it undoes.
    let mut s = spec(&w, &journal, false);
    s.rollback_journal = journal.clone();
    let err = rollback::prepare(&w.client, &s).await.unwrap_err();
    assert!(matches!(err, rollback::Error::SameJournal { .. }), "{err}");
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);

    // The run it undoes must not be going on.
    let held = Journal::open_existing(&journal).unwrap();
    let err = rollback::prepare(&w.client, &spec(&w, &journal, false))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
    drop(held);

    // An apply journal is no rollback journal to resume.
    let mut s = spec(&w, &journal, false);
    s.rollback_journal = w.path("other.journal.jsonl");
    std::fs::copy(&journal, &s.rollback_journal).unwrap();
    let err = rollback::prepare(&w.client, &s).await.unwrap_err();
    assert!(err.to_string().contains("not a rollback run"), "{err}");
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);

    assert_eq!(w.sim.stats().requests, requests, "nothing sent");
    assert!(!default_rollback_journal(&journal, false).exists());
}

/// The real binary with a clean environment in the test's directory: `args`, then the
/// simulator's endpoint and the admin token.
fn handover(w: &World, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_handover"));
    cmd.env_clear()
        .env("HOME", w.dir.path())
        .current_dir(w.dir.path())
        .args(args)
        .args([
            "--endpoint",
            &w.sim.endpoint(),
            "--token",
            DEFAULT_ADMIN_TOKEN,
        ]);
    cmd
}

/// Runs the binary off the runtime's threads, so the in-process simulator keeps serving.
async fn output(mut cmd: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handover_rollback_end_to_end() {
    let w = world(generated(9, 1));
    let before = w.sim.state();
    let (entries, _journal) = offboarded(&w).await;
    // Changed behind the tool's back: the successor demoted, a colleague made owner.
    let changed = &entries[0];
    let mut grants = seed_grants(&w.sim.state(), changed.kind, &changed.id);
    grants.retain(|g| g.username != SUCCESSOR_USERNAME);
    grants.push(SeedGrant::new(SUCCESSOR_USERNAME, Role::Editor));
    grants.push(SeedGrant::new("user9@acme.test", Role::Owner));
    w.sim
        .set_access(changed.kind, &changed.id, grants.clone())
        .unwrap();

    let rollback = [
        "-q",
        "rollback",
        "--journal",
        "plan.journal.jsonl",
        "--rate",
        "1000",
    ];
    let out = output(handover(&w, &rollback)).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::PARTIAL), "{stderr}");
    assert!(
        stderr.contains("1 entities changed since the run were left alone"),
        "{stderr}"
    );
    assert!(
        stderr.contains("handover rollback --journal plan.journal.jsonl --force"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("total")), "{stdout}");
    let dir = w.dir.path();
    for name in [
        "plan.journal.rollback.jsonl",
        "plan.journal.rollback.plan.jsonl",
        "plan.journal.rollback.plan.csv",
        "plan.journal.rollback.report.csv",
        "plan.journal.rollback.report.json",
    ] {
        assert!(dir.join(name).exists(), "{name}");
    }
    assert_same_state(&before, &w.sim.state(), &[&changed.id]);
    assert_eq!(
        seed_grants(&w.sim.state(), changed.kind, &changed.id),
        grants
    );

    // The same command again resumes the finished rollback: nothing more to do.
    let out = output(handover(&w, &rollback)).await;
    assert_eq!(out.status.code(), Some(exit::PARTIAL));
    assert_eq!(
        w.sim.stats().writes_to(
            changed.kind,
            exec_support::sim_id(changed.kind, &changed.id)
        ),
        1
    );

    // Forced: the successor and the departing user are put back; the colleague who was
    // made owner meanwhile stays.
    let forced = [&rollback[..], &["--force"]].concat();
    let out = output(handover(&w, &forced)).await;
    assert_eq!(
        out.status.code(),
        Some(exit::OK),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("plan.journal.rollback-force.jsonl").exists());
    let state = w.sim.state();
    assert_same_state(&before, &state, &[&changed.id]);
    let role = |s: &StateSnapshot, u: &str| s.role_of(changed.kind, &changed.id, u);
    for u in [DEPARTING_USERNAME, SUCCESSOR_USERNAME] {
        assert_eq!(role(&state, u), role(&before, u), "{u}");
    }
    assert_eq!(role(&state, "user9@acme.test"), Some(Role::Owner.into()));
    assert!(w.sim.stats().ownerless.is_empty());

    // A journal that is not there is invalid input, and nothing is sent.
    let requests = w.sim.stats().requests;
    let out = output(handover(&w, &["rollback", "--journal", "nope.jsonl"])).await;
    assert_eq!(out.status.code(), Some(exit::INVALID_INPUT));
    assert_eq!(w.sim.stats().requests, requests);
}
