//! Issue 18, items 3c and 3d, on the simulator: applying a plan that shares secure
//! configurations makes DataRobot notify each user given a role, and the plan (its table,
//! the review CSV, the trailer, apply's warning) says how many before anything is sent,
//! the same number the simulator counts; notebooks and model packages are read, never
//! written, and each notebook the departing user owns is reported with its use case and
//! whether the plan moves that use case.

mod exec_support;

use std::collections::{BTreeMap, BTreeSet};

use exec_support::{Run, World, handover_cmd, run_to_end, world};
use handover::model::{EntityKind, Role};
use handover::plan::PlanReader;
use handover::plan::notebook::UseCaseInPlan;
use handover::sim::{DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed};

fn seed() -> Seed {
    Seed::generate(&GenSpec::uniform(18, 4))
}

async fn handover(w: &World, args: &[&str]) -> Run {
    Run::from(run_to_end(handover_cmd(w, args)).await)
}

/// The report's refused and failed rows, to say why an apply did not finish cleanly.
fn not_done(w: &World, journal: &str) -> Vec<String> {
    std::fs::read_to_string(w.path(&format!("{journal}.report.csv")))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(",refused,") || l.contains(",failed,"))
        .map(str::to_string)
        .collect()
}

async fn plan(w: &World, out: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "plan",
        "--from",
        DEPARTING_USERNAME,
        "--to",
        SUCCESSOR_USERNAME,
        "--out",
        out,
        "--rate",
        "10000",
    ];
    args.extend_from_slice(extra);
    let run = handover(w, &args).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    run
}

/// The review CSV's rows as header → value maps.
fn csv_rows(w: &World, name: &str) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(w.path(name)).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// The number in the table's `notifications:` line.
fn notifications_line(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("notifications: "))
        .unwrap_or_else(|| panic!("no notifications line\n{stdout}"));
    line.trim_start_matches("notifications: applying makes DataRobot send ")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_configuration_notifications_are_counted_before_apply_as_the_server_sends_them() {
    let w = world(seed());
    let run = plan(&w, "p.jsonl", &[]).await;
    let planned = notifications_line(&run.stdout);
    assert!(planned > 0, "the departing user owns secure configurations");
    // The review CSV marks the same changes, and only on secure configurations.
    let rows = csv_rows(&w, "p.csv");
    let marked: Vec<_> = rows.iter().filter(|r| r["notifies"] == "yes").collect();
    assert_eq!(marked.len() as u64, planned);
    for r in &marked {
        assert_eq!(r["type"], "secure_config");
        assert_eq!(r["principal_type"], "user");
        assert_ne!(r["role_after"], "NONE", "a revoke notifies nobody");
    }
    // The plan carries it, and apply says it before the first request.
    let reader = PlanReader::open(w.path("p.jsonl")).unwrap();
    assert_eq!(reader.summary().notifications(), planned);
    assert_eq!(w.sim.stats().secure_config_notifications, 0);
    let run = handover(&w, &["apply", "p.jsonl", "--rate", "10000"]).await;
    assert_eq!(
        run.code,
        Some(0),
        "{}{}{:#?}",
        run.stdout,
        run.stderr,
        not_done(&w, "p.journal")
    );
    assert!(
        run.stderr
            .contains(&format!("applying makes DataRobot send {planned} ")),
        "{}",
        run.stderr
    );
    // What the simulator counted, one per user given a role on a secure configuration.
    assert_eq!(w.sim.stats().secure_config_notifications, planned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboard_says_the_notifications_before_it_sends_anything() {
    let w = world(seed());
    let run = handover(
        &w,
        &[
            "offboard",
            "--from",
            DEPARTING_USERNAME,
            "--to",
            SUCCESSOR_USERNAME,
            "--yes",
            "--rate",
            "10000",
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let planned = notifications_line(&run.stdout);
    // The line is part of the plan's table, printed before the run's summary.
    let at = run.stdout.find("notifications: ").unwrap();
    let summary = run.stdout.find("succeeded").unwrap();
    assert!(at < summary, "{}", run.stdout);
    assert_eq!(w.sim.stats().secure_config_notifications, planned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notebooks_are_reported_with_their_use_case_and_never_written() {
    let w = world(seed());
    let state = w.sim.state();
    // The departing user's notebooks, by the simulator's state (a notebook shows its use
    // case's access list).
    let owned = |kind: EntityKind| -> BTreeMap<String, Option<String>> {
        state
            .entities
            .iter()
            .filter(|e| EntityKind::from(e.kind) == kind)
            .filter(|e| {
                e.access.iter().any(|g| {
                    g.username.eq_ignore_ascii_case(DEPARTING_USERNAME)
                        && Role::from(g.role) == Role::Owner
                })
            })
            .map(|e| (e.id.clone(), e.linked.clone()))
            .collect()
    };
    let notebooks = owned(EntityKind::Notebook);
    assert!(notebooks.len() >= 2, "{notebooks:?}");
    // One use case left out of the plan: its notebook stays behind, and says so.
    let (left_nb, left_uc) = notebooks
        .iter()
        .find_map(|(nb, uc)| uc.clone().map(|uc| (nb.clone(), uc)))
        .expect("a notebook in a use case");
    std::fs::write(w.path("exclude.txt"), format!("use_case,{left_uc}\n")).unwrap();
    let run = plan(&w, "p.jsonl", &["--exclude", "exclude.txt"]).await;
    assert!(
        run.stdout.contains(&format!(
            "notebooks owned (read only: a notebook moves with its use case): {}, 1 of them not \
             moved by this plan",
            notebooks.len()
        )),
        "{}",
        run.stdout
    );
    // The plan file: never an entry of a read-only kind; the notebooks in its trailer.
    let reader = PlanReader::open(w.path("p.jsonl")).unwrap();
    let reported: BTreeMap<String, (Option<String>, UseCaseInPlan)> = reader
        .notebooks()
        .iter()
        .map(|n| (n.id.clone(), (n.use_case_id.clone(), n.use_case)))
        .collect();
    let kinds: BTreeSet<EntityKind> = reader.map(|e| e.unwrap().kind).collect();
    assert!(kinds.iter().all(|k| k.is_writable()), "{kinds:?}");
    assert_eq!(
        reported.keys().collect::<BTreeSet<_>>(),
        notebooks.keys().collect::<BTreeSet<_>>()
    );
    for (nb, (uc, state)) in &reported {
        assert_eq!(uc, &notebooks[nb], "{nb}");
        let want = if *nb == left_nb {
            UseCaseInPlan::NotInPlan
        } else {
            UseCaseInPlan::Change
        };
        assert_eq!(*state, want, "{nb}");
    }
    // The review CSV: a read_only row per notebook, saying what happens to it.
    let rows = csv_rows(&w, "p.csv");
    for r in rows.iter().filter(|r| r["type"] == "notebook") {
        assert_eq!(r["action"], "read_only");
        assert_eq!(r["principal"], DEPARTING_USERNAME);
        let moves = r["id"] != left_nb;
        assert_eq!(
            r["reason"].contains("moves with its use case"),
            moves,
            "{r:?}"
        );
        assert_eq!(r["reason"].contains("not in this plan"), !moves, "{r:?}");
    }
    assert_eq!(
        rows.iter().filter(|r| r["type"] == "notebook").count(),
        notebooks.len()
    );
    // Model packages are never planned apart from their registered model.
    assert!(!owned(EntityKind::ModelPackage).is_empty());
    assert!(!rows.iter().any(|r| r["type"] == "model_package"));

    let run = handover(&w, &["apply", "p.jsonl", "--rate", "10000"]).await;
    assert_eq!(
        run.code,
        Some(0),
        "{}{}{:#?}",
        run.stdout,
        run.stderr,
        not_done(&w, "p.journal")
    );
    let stats = w.sim.stats();
    assert_eq!(stats.read_only_writes, 0);
    for route in stats.by_route.keys() {
        assert!(
            !(route.starts_with("PATCH")
                && (route.contains("modelPackages") || route.contains("notebooks"))),
            "{route}"
        );
    }
}
