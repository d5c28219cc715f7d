//! `handover verify` as a user runs it: the real binary with a clean environment against
//! a simulator started in this test process, so entities can be changed behind the tool's
//! back. Exit 0 after a clean apply, 5 after a change, naming the entity; the residual
//! count of what the departing user still holds.

mod exec_support;

use exec_support::*;
use handover::exit;
use handover::model::{EntityKind, Role};
use handover::sim::{
    DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed, SeedGrant,
};
use serde_json::Value;

/// The real binary with a clean environment in the test's directory: `args`, then the
/// simulator's endpoint and the admin token as flags (`endpoint` overrides the simulator's).
fn handover(w: &World, args: &[&str], endpoint: Option<&str>) -> std::process::Command {
    let sim = w.sim.endpoint();
    let mut cmd = bare_cmd(w.dir.path());
    cmd.args(args)
        .args(["--endpoint", endpoint.unwrap_or(&sim)])
        .args(["--token", DEFAULT_ADMIN_TOKEN]);
    cmd
}

trait Json {
    fn json(&self) -> Value;
}

impl Json for Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Runs the binary off the runtime's threads, so the in-process simulator keeps serving.
async fn run(w: &World, args: &[&str]) -> Run {
    run_at(w, args, None).await
}

/// The entities of the 25 writable kinds: what the residual lists.
fn writable_entities(w: &World) -> usize {
    w.sim
        .state()
        .entities
        .iter()
        .filter(|e| handover::model::EntityKind::from(e.kind).is_writable())
        .count()
}

async fn run_at(w: &World, args: &[&str], endpoint: Option<&str>) -> Run {
    run_to_end(handover(w, args, endpoint)).await.into()
}

/// A seed where the departing user holds nothing but what they own (2 of each kind).
fn owner_only_seed() -> Seed {
    Seed::generate(&GenSpec {
        extra_ratio: 0.0,
        ..GenSpec::uniform(4, 2)
    })
}

async fn plan(w: &World) {
    plan_with(w, &[]).await
}

async fn plan_with(w: &World, extra: &[&str]) {
    let args = [
        &[
            "-q",
            "plan",
            "--from",
            DEPARTING_USERNAME,
            "--to",
            SUCCESSOR_USERNAME,
            "--out",
            "plan.jsonl",
            "--rate",
            "1000",
        ][..],
        extra,
    ]
    .concat();
    let out = run(w, &args).await;
    assert_eq!(out.code, Some(exit::OK), "plan: {}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_after_a_clean_apply_and_names_what_changed_behind_its_back() {
    let w = world(owner_only_seed());
    plan(&w).await;

    // Before the apply nothing is at its target, and the departing user owns everything.
    let out = run(&w, &["verify", "plan.jsonl", "--json", "--rate", "1000"]).await;
    assert_eq!(out.code, Some(exit::MISMATCH), "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["checked"], 50);
    assert_eq!(v["not_at_target"], 50);
    assert_eq!(v["residual"]["users"][0], DEPARTING_USERNAME);
    assert_eq!(v["residual"]["owned"], 50);
    assert_eq!(v["residual"]["kinds"].as_array().unwrap().len(), 25);

    let out = run(&w, &["-q", "apply", "plan.jsonl", "--rate", "1000"]).await;
    assert_eq!(out.code, Some(exit::OK), "apply: {}", out.stderr);

    let out = run(&w, &["verify", "plan.jsonl", "--rate", "1000"]).await;
    assert_eq!(out.code, Some(exit::OK), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "verified plan plan.jsonl: 50 entities checked, 0 not at target\n\
             residual: {DEPARTING_USERNAME} still owns 0 and has access to 0 more, of {} \
             entities of 25 types listed\n",
            writable_entities(&w)
        )
    );
    let v = run(&w, &["verify", "plan.jsonl", "--json", "--rate", "1000"])
        .await
        .json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["mismatches"], Value::Array(vec![]));
    assert_eq!(v["residual"]["owned"], 0);
    assert_eq!(v["residual"]["other_access"], 0);

    // Behind the tool's back: the departing user is given one entity back.
    let state = w.sim.state();
    let changed = state.held_by(EntityKind::Deployment, SUCCESSOR_USERNAME, Role::Owner)[0];
    let mut grants: Vec<SeedGrant> = changed
        .access
        .iter()
        .map(|g| SeedGrant::new(&g.username, g.role))
        .collect();
    grants.push(SeedGrant::new(DEPARTING_USERNAME, Role::Owner));
    w.sim.set_access(changed.kind, &changed.id, grants).unwrap();
    let expected_line = format!(
        "  deployment {} {:?}: {DEPARTING_USERNAME}: expected no access, found OWNER",
        changed.id, changed.name
    );

    let out = run(&w, &["verify", "plan.jsonl", "--rate", "1000"]).await;
    assert_eq!(out.code, Some(exit::MISMATCH), "{}", out.stderr);
    assert!(out.stdout.contains("1 not at target"), "{}", out.stdout);
    assert!(out.stdout.contains(&expected_line), "{}", out.stdout);
    assert!(
        out.stdout.contains("still owns 1 and has access to 0 more"),
        "{}",
        out.stdout
    );

    // The same, from the journal: its plan, then (plan gone) what it says succeeded.
    let by_journal = [
        "verify",
        "--journal",
        "plan.journal.jsonl",
        "--json",
        "--rate",
        "1000",
    ];
    let out = run(&w, &by_journal).await;
    assert_eq!(out.code, Some(exit::MISMATCH), "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["mismatches"].as_array().unwrap().len(), 1);
    assert_eq!(v["mismatches"][0]["id"], changed.id.as_str());
    assert_eq!(v["mismatches"][0]["kind"], "deployment");
    assert_eq!(v["residual"]["owned"], 1);

    std::fs::rename(w.path("plan.jsonl"), w.path("moved.jsonl")).unwrap();
    let out = run(&w, &by_journal).await;
    assert_eq!(out.code, Some(exit::MISMATCH), "{}", out.stderr);
    let v = out.json();
    assert!(
        v["source"]
            .as_str()
            .unwrap()
            .contains("what it says succeeded"),
        "{v}"
    );
    assert_eq!(v["checked"], 50);
    assert_eq!(v["mismatches"].as_array().unwrap().len(), 1);
    assert_eq!(v["mismatches"][0]["id"], changed.id.as_str());
    // Without a plan there is no departing user to count, unless named.
    assert_eq!(v["residual"], Value::Null);
    let named = [&by_journal[..], &["--user", DEPARTING_USERNAME]].concat();
    let v = run(&w, &named).await.json();
    assert_eq!(v["residual"]["owned"], 1);
}

/// Entities where the departing user holds a role without owning the entity.
fn member_of(w: &World) -> usize {
    w.sim
        .state()
        .entities
        .iter()
        // Read-only kinds are never written, nor counted (their list is their parent's).
        .filter(|e| handover::model::EntityKind::from(e.kind).is_writable())
        .filter(|e| {
            e.access.iter().any(|g| {
                g.username.eq_ignore_ascii_case(DEPARTING_USERNAME) && g.role != Role::Owner
            })
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_after_a_default_offboard_has_residual_0() {
    // Regression: after a default offboarding, verify said "still owns 0 and has access
    // to N more" and exited 0: the departing user's editor and consumer roles on
    // colleagues' entities stayed.
    let w = world(generated(6, 4));
    assert!(member_of(&w) > 0);
    let before = w.sim.state();
    plan(&w).await;
    let out = run(&w, &["-q", "apply", "plan.jsonl", "--rate", "1000"]).await;
    assert_eq!(out.code, Some(exit::OK), "apply: {}", out.stderr);
    let out = run(&w, &["verify", "plan.jsonl", "--json", "--rate", "1000"]).await;
    assert_eq!(out.code, Some(exit::OK), "{}{}", out.stdout, out.stderr);
    let v = out.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["residual"]["owned"], 0);
    assert_eq!(v["residual"]["other_access"], 0);
    assert_eq!(v["residual"]["findings"], Value::Array(vec![]));
    assert_eq!(v["residual"]["meant"]["keep_other_access"], false);
    assert_eq!(member_of(&w), 0);

    // Behind the tool's back: a role on an entity the plan never named. A residual above
    // what the plan meant is a finding, with the entity named.
    let e = before
        .entities
        .iter()
        .find(|e| e.access.iter().all(|g| g.username != DEPARTING_USERNAME))
        .unwrap();
    let mut grants: Vec<SeedGrant> = e
        .access
        .iter()
        .map(|g| SeedGrant::new(&g.username, g.role))
        .collect();
    grants.push(SeedGrant::new(DEPARTING_USERNAME, Role::Consumer));
    w.sim.set_access(e.kind, &e.id, grants).unwrap();
    let out = run(&w, &["verify", "plan.jsonl", "--rate", "1000"]).await;
    assert_eq!(
        out.code,
        Some(exit::MISMATCH),
        "{}{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("0 not at target"), "{}", out.stdout);
    assert!(
        out.stdout.contains("still owns 0 and has access to 1 more"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "residual findings: 1 entities hold what the plan meant to remove\n  {} {} {:?}: \
             {DEPARTING_USERNAME} still has CONSUMER\n",
            e.kind, e.id, e.name
        )),
        "{}",
        out.stdout
    );
    let v = run(&w, &["verify", "plan.jsonl", "--json", "--rate", "1000"])
        .await
        .json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["residual"]["findings"][0]["id"], e.id.as_str());
    assert_eq!(v["residual"]["findings"][0]["role"], "CONSUMER");

    // Anyone can be counted, not judged: the successor now owns all 52 handed over.
    let out = run(
        &w,
        &[
            "verify",
            "plan.jsonl",
            "--json",
            "--user",
            SUCCESSOR_USERNAME,
            "--rate",
            "1000",
        ],
    )
    .await;
    assert_eq!(out.code, Some(exit::OK), "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["residual"]["users"][0], SUCCESSOR_USERNAME);
    assert!(v["residual"]["owned"].as_u64().unwrap() >= 52, "{v}");
    assert_eq!(v["residual"]["meant"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_keep_other_access_the_roles_stay_and_the_residual_counts_ownership_only() {
    let w = world(generated(6, 4));
    let member_of_before = member_of(&w);
    assert!(member_of_before > 0);
    plan_with(&w, &["--keep-other-access"]).await;
    let out = run(&w, &["-q", "apply", "plan.jsonl", "--rate", "1000"]).await;
    assert_eq!(out.code, Some(exit::OK), "apply: {}", out.stderr);
    assert_eq!(member_of(&w), member_of_before);
    let out = run(&w, &["verify", "plan.jsonl", "--rate", "1000"]).await;
    assert_eq!(out.code, Some(exit::OK), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "still owns 0 and has access to {member_of_before} more (the plan keeps their \
             other access: --keep-other-access)"
        )),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("residual findings"), "{}", out.stdout);

    // Ownership is still residual: given back behind the tool's back, it is a finding.
    let state = w.sim.state();
    let e = state
        .entities
        .iter()
        .find(|e| {
            e.access
                .iter()
                .any(|g| g.username == DEPARTING_USERNAME && g.role != Role::Owner)
        })
        .unwrap();
    let grants: Vec<SeedGrant> = e
        .access
        .iter()
        .map(|g| match g.username == DEPARTING_USERNAME {
            true => SeedGrant::new(&g.username, Role::Owner),
            false => SeedGrant::new(&g.username, g.role),
        })
        .collect();
    w.sim.set_access(e.kind, &e.id, grants).unwrap();
    let out = run(&w, &["verify", "plan.jsonl", "--json", "--rate", "1000"]).await;
    assert_eq!(out.code, Some(exit::MISMATCH), "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["not_at_target"], 0);
    assert_eq!(v["residual"]["owned"], 1);
    let findings = v["residual"]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{v}");
    assert_eq!(findings[0]["id"], e.id.as_str());
    assert_eq!(findings[0]["role"], "OWNER");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_refuses_bad_input_before_anything_is_sent() {
    let w = world(owner_only_seed());
    plan(&w).await;
    let requests = w.sim.stats().requests;
    // Another DataRobot than the plan's.
    let out = run_at(
        &w,
        &["verify", "plan.jsonl"],
        Some("http://127.0.0.1:9/api/v2"),
    )
    .await;
    assert_eq!(out.code, Some(exit::INVALID_INPUT), "{}", out.stderr);
    assert!(out.stderr.contains("was made against"), "{}", out.stderr);
    // No such plan, no such journal, neither.
    for args in [
        &["verify", "nope.jsonl"][..],
        &["verify", "--journal", "nope.jsonl"],
        &["verify"],
    ] {
        let out = run(&w, args).await;
        assert_eq!(
            out.code,
            Some(exit::INVALID_INPUT),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(w.sim.stats().requests, requests, "nothing sent");
}

/// Issue 20, item 10: `verify --journal` without the journal's plan used to check only
/// what the journal says succeeded and exit 0 for a run that had failed, in-flight and
/// pending entities. Their counts now come out, and the exit code is 5 until the journal
/// records a finished run with nothing left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_by_journal_without_its_plan_counts_what_the_run_left_unfinished() {
    use handover::api::share_body;
    use handover::journal::{End, Header, Intent, Journal, Outcome, OutcomeKind, PurposeKind};

    let w = world(owner_only_seed());
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    let digest = handover::plan::PlanReader::open(&plan)
        .unwrap()
        .digest()
        .to_string();
    let journal = w.path("plan.journal.jsonl");
    let mut j = Journal::create(
        &journal,
        &Header::new(digest, w.sim.endpoint(), "plan.jsonl", PurposeKind::Apply),
    )
    .unwrap();
    let (done, failed, in_flight) = (&entries[0], &entries[1], &entries[2]);
    let write = |e: &handover::plan::PlanEntry| {
        let body = share_body(e.kind, e.request.as_ref().unwrap()).unwrap();
        Intent::new(e.kind, &e.id, e.current.clone(), body)
    };
    for e in [done, failed, in_flight] {
        j.append(&write(e).into());
    }
    w.client
        .share(done.kind, &done.id, done.request.as_ref().unwrap())
        .await
        .unwrap();
    j.append(&Outcome::new(done.kind, &done.id, OutcomeKind::Succeeded, 1).into());
    j.append(&Outcome::new(failed.kind, &failed.id, OutcomeKind::Failed, 6).into());
    j.sync().unwrap();
    drop(j);
    std::fs::remove_file(&plan).unwrap();

    let args = [
        "verify",
        "--journal",
        "plan.journal.jsonl",
        "--json",
        "--rate",
        "1000",
    ];
    let out = run(&w, &args).await;
    assert_eq!(out.code, Some(exit::MISMATCH), "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["checked"], 1, "only the success is checked live");
    assert_eq!(v["not_at_target"], 0);
    assert_eq!(v["unfinished"]["failed"], 1, "{v}");
    assert_eq!(v["unfinished"]["in_flight"], 1, "{v}");
    assert_eq!(v["unfinished"]["pending"], true, "{v}");
    let out = run(&w, &args[..args.len() - 3]).await;
    assert_eq!(out.code, Some(exit::MISMATCH), "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "the journal also records 1 failed, drifted or refused, 1 in flight, a run that \
             did not finish"
        ),
        "{}",
        out.stdout
    );

    // Settled and ended: nothing left, exit 0.
    let mut j = Journal::open_existing(&journal).unwrap().0;
    for e in [failed, in_flight] {
        w.client
            .share(e.kind, &e.id, e.request.as_ref().unwrap())
            .await
            .unwrap();
        j.append(&write(e).into());
        j.append(&Outcome::new(e.kind, &e.id, OutcomeKind::Succeeded, 1).into());
    }
    j.append(&End::now(false).into());
    j.sync().unwrap();
    drop(j);
    let out = run(&w, &args).await;
    assert_eq!(out.code, Some(exit::OK), "{}{}", out.stdout, out.stderr);
    let v = out.json();
    assert_eq!(v["checked"], 3);
    assert_eq!(v["unfinished"]["pending"], false, "{v}");
}
