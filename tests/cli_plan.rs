//! `handover plan` as a user runs it: the real binary against a simulator started in this
//! test process, with `--endpoint` and `--token` on the command line, `HOME` set to an
//! empty temp dir and every other variable (`DATAROBOT_*` included) cleared.

mod exec_support;

use std::path::Path;

use assert_cmd::Command;
use exec_support::{Run, bare_cmd};
use handover::exit;
use handover::model::EntityKind;
use handover::plan::{ActionKind, PlanReader, SourceKind};
use handover::sim::{
    DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, INACTIVE_USERNAME, SUCCESSOR_USERNAME, Seed,
    Sim, SimConfig, SimHandle,
};
use tempfile::TempDir;

/// A simulator on its own runtime (the binary blocks this thread while it runs) and an
/// empty directory that is the binary's `HOME` and working directory.
struct World {
    // Dropped in order: the simulator stops before its runtime goes.
    sim: SimHandle,
    _runtime: tokio::runtime::Runtime,
    dir: TempDir,
}

fn world(per_kind: usize) -> World {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = {
        let _guard = runtime.enter();
        Sim::start(
            "127.0.0.1:0".parse().unwrap(),
            Seed::generate(&GenSpec::uniform(31, per_kind)),
            SimConfig::default(),
        )
        .unwrap()
    };
    World {
        sim,
        _runtime: runtime,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl World {
    /// `handover plan --endpoint … --token <token> <args>` in a clean environment.
    fn plan(&self, token: &str, args: &[&str]) -> Command {
        let mut cmd = Command::from_std(bare_cmd(self.dir.path()));
        cmd.args(["plan", "--endpoint", &self.sim.endpoint(), "--token", token])
            .args(args);
        cmd
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

fn run(mut cmd: Command) -> Run {
    cmd.output().unwrap().into()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn plan_writes_the_plan_and_prints_the_table() {
    let w = world(2);
    let out = run(w.plan(
        DEFAULT_ADMIN_TOKEN,
        &[
            "--to",
            SUCCESSOR_USERNAME,
            "--from",
            DEPARTING_USERNAME,
            "--out",
            "plan.jsonl",
            "--rate",
            "2000",
        ],
    ));
    assert_eq!(out.code, Some(exit::OK), "{}\n{}", out.stdout, out.stderr);
    // Not a terminal: no progress bars, and nothing else worth saying on stderr.
    assert_eq!(out.stderr, "");
    // The type column is as wide as the longest label.
    let width = EntityKind::WRITABLE
        .iter()
        .map(|k| k.plural_label().len())
        .max()
        .unwrap();
    let mut want = format!("{:<width$}  to change  already done  refused\n", "type");
    for kind in EntityKind::WRITABLE {
        want.push_str(&format!(
            "{:<width$}  {:>9}  {:>12}  {:>7}\n",
            kind.plural_label(),
            2,
            0,
            0
        ));
    }
    want.push_str(&format!(
        "{:<width$}  {:>9}  {:>12}  {:>7}\n",
        "total", 50, 0, 0
    ));
    // The successor becomes owner of the 2 secure configurations: 2 notifications.
    want.push_str(&handover::plan::notification_line(2).unwrap());
    want.push('\n');
    want.push_str("plan: plan.jsonl (50 entities; review copy plan.csv)\n");
    // First what was searched, a line per type, then the plan's table.
    let (searched, table) = out.stdout.split_at(out.stdout.find("type ").unwrap());
    assert_eq!(table, want);
    let lines: Vec<&str> = searched.lines().collect();
    assert_eq!(lines[0], "searched:");
    // A line per writable type, then the departing user's 2 notebooks (read only), each
    // moving with its use case.
    assert_eq!(lines.len(), 26 + 3, "{searched}");
    assert_eq!(
        lines[26],
        "notebooks owned (read only: a notebook moves with its use case): 2, 0 of them not \
         moved by this plan"
    );
    assert!(
        lines[27..]
            .iter()
            .all(|l| l.ends_with("which this plan hands over")),
        "{searched}"
    );
    for (line, kind) in lines[1..].iter().zip(EntityKind::WRITABLE) {
        assert!(line.contains(kind.plural_label()), "{line}");
        // No list is narrowed by an owner filter (contract C20); the new types' lists may
        // show an administrator only what they hold.
        let end = "2 owned by the departing user";
        let end = match kind.admin_visibility() {
            handover::model::AdminVisibilityKind::Unknown => {
                format!("{end}, the list may show only what the caller created or was given")
            }
            handover::model::AdminVisibilityKind::Known => end.to_string(),
        };
        assert!(line.ends_with(&end), "{line}");
    }

    assert_eq!(files_in(w.dir.path()), ["plan.csv", "plan.jsonl"]);
    let reader = PlanReader::open(w.path("plan.jsonl")).unwrap();
    assert_eq!(reader.header().endpoint, w.sim.endpoint());
    assert_eq!(reader.header().caller.username, "admin@acme.test");
    match &reader.header().source {
        SourceKind::Offboard {
            from, to, types, ..
        } => {
            assert_eq!(from[0].username, DEPARTING_USERNAME);
            assert_eq!(to.username, SUCCESSOR_USERNAME);
            assert_eq!(types, &EntityKind::WRITABLE.to_vec());
        }
        other => panic!("{other:?}"),
    }
    let entries: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(entries.len(), 50);
    assert!(entries.iter().all(|e| e.action == ActionKind::Change));
    // Planning reads; it never writes.
    assert_eq!(w.sim.stats().total_writes(), 0);
}

#[test]
fn an_unknown_recipient_is_one_line_and_exit_2() {
    let w = world(1);
    let out = run(w.plan(
        DEFAULT_ADMIN_TOKEN,
        &["--to", "nobody@acme.test", "--out", "plan.jsonl"],
    ));
    assert_eq!(out.code, Some(exit::INVALID_INPUT), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "handover: error: --to nobody@acme.test: no such user\n"
    );
    assert_eq!(out.stdout, "");
    assert!(files_in(w.dir.path()).is_empty(), "no plan, no temp files");

    let out = run(w.plan(
        DEFAULT_ADMIN_TOKEN,
        &["--to", INACTIVE_USERNAME, "--out", "plan.jsonl"],
    ));
    assert_eq!(out.code, Some(exit::INVALID_INPUT), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "handover: error: --to inactive@acme.test: the user is not active\n"
    );
    assert_eq!(w.sim.stats().total_writes(), 0);
}

#[test]
fn a_bad_csv_fails_before_any_request() {
    let w = world(1);
    std::fs::write(
        w.path("changes.csv"),
        "entity_type,entity_id,username,role\n\
         project,abc,successor@acme.test,OWNER\n\
         widget,def,successor@acme.test,BOSS\n",
    )
    .unwrap();
    let out = run(w.plan(
        DEFAULT_ADMIN_TOKEN,
        &["--csv", "changes.csv", "--out", "plan.jsonl"],
    ));
    assert_eq!(out.code, Some(exit::INVALID_INPUT), "{}", out.stderr);
    assert!(
        out.stderr.starts_with(
            "handover: error: changes.csv:3: field entity_type: unknown entity type \"widget\""
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("changes.csv:3: field role: unknown role \"BOSS\""),
        "{}",
        out.stderr
    );
    assert_eq!(w.sim.stats().requests, 0, "{:?}", w.sim.stats().by_route);
    assert_eq!(files_in(w.dir.path()), ["changes.csv"]);

    // A file that is not there either.
    let out = run(w.plan(
        DEFAULT_ADMIN_TOKEN,
        &["--csv", "missing.csv", "--out", "plan.jsonl"],
    ));
    assert_eq!(out.code, Some(exit::INVALID_INPUT), "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("handover: error: cannot read missing.csv\n"),
        "{}",
        out.stderr
    );
    assert_eq!(w.sim.stats().requests, 0);
}

#[test]
fn a_good_csv_is_planned() {
    let w = world(1);
    let state = w.sim.state();
    let project = state.held_by(
        EntityKind::Project,
        DEPARTING_USERNAME,
        handover::model::Role::Owner,
    )[0]
    .id
    .clone();
    let csv = format!(
        "entity_type,entity_id,username,role\n\
         project,{project},{SUCCESSOR_USERNAME},OWNER\n\
         project,{project},{DEPARTING_USERNAME},NONE\n"
    );
    std::fs::write(w.path("changes.csv"), &csv).unwrap();
    let out = run(w.plan(
        DEFAULT_ADMIN_TOKEN,
        &["--csv", "changes.csv", "--out", "plan.jsonl", "-q"],
    ));
    assert_eq!(out.code, Some(exit::OK), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "\
type      to change  already done  refused
projects          1             0        0
total             1             0        0
plan: plan.jsonl (1 entities; review copy plan.csv)
"
    );
    let reader = PlanReader::open(w.path("plan.jsonl")).unwrap();
    assert_eq!(
        reader.header().source,
        SourceKind::Csv {
            file: "changes.csv".into(),
            sha256: Some(handover::plan::sha256_hex(csv.as_bytes())),
        }
    );
}

#[test]
fn a_bad_token_is_one_line_exit_1_and_never_printed() {
    let w = world(1);
    let token = "tok-not-valid-123";
    let out = run(w.plan(token, &["--to", SUCCESSOR_USERNAME, "--out", "plan.jsonl"]));
    assert_eq!(out.code, Some(exit::FATAL), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("handover: error: GET /api/v2/"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert!(!out.stderr.contains(token), "{}", out.stderr);
    assert!(!out.stdout.contains(token));
    assert_eq!(out.stdout, "");
    assert!(files_in(w.dir.path()).is_empty());
    // The preflight stopped at the refusal: no lookups, no lists.
    let stats = w.sim.stats();
    assert_eq!(stats.route_total("GET users/"), 0, "{:?}", stats.by_route);
    assert!(stats.requests <= 2, "{:?}", stats.by_route);
}
