//! Output paths never destroy a run's records (issue 20, items 7 and 8), through the real
//! binary against an in-process simulator.
//!
//! - No command overwrites a journal, or a plan that a journal refers to: `status
//!   --failed-plan` naming the journal or its plan, `plan --out` over a plan whose run is
//!   unfinished, and a re-run of `offboard` over its own plan are refused with exit 2, one
//!   line that offers the resume command, nothing written and nothing sent.
//! - An output path that exists and is not a regular file (a fifo standing in for a
//!   device, a symlink to one, a directory) is refused the same way and left as it was.
//! - `JOURNAL.pid` planted as a symlink is not followed: its target is not truncated.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use handover::exit;
use handover::journal::{Header, Journal, PurposeKind};
use handover::plan::PlanReader;
use handover::sim::{
    DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed, Sim, SimConfig,
    SimHandle,
};
use tempfile::TempDir;

/// A simulator on a runtime of its own: the test thread blocks on the binary.
struct World {
    _runtime: tokio::runtime::Runtime,
    sim: SimHandle,
    dir: TempDir,
}

impl World {
    fn new() -> World {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sim = {
            let _guard = runtime.enter();
            Sim::start(
                "127.0.0.1:0".parse().unwrap(),
                Seed::generate(&GenSpec::uniform(31, 1)),
                SimConfig::default(),
            )
            .unwrap()
        };
        World {
            _runtime: runtime,
            sim,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Runs the binary; one that is still running after a minute (a fifo opened as a
    /// journal blocks for ever) is killed and fails the test.
    fn run(&self, args: &[&str]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_handover"))
            .env_clear()
            .env("HOME", self.dir.path())
            .env("DATAROBOT_ENDPOINT", self.sim.endpoint())
            .env("DATAROBOT_API_TOKEN", DEFAULT_ADMIN_TOKEN)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .args(args)
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > std::time::Duration::from_secs(60) {
                let _ = child.kill();
                panic!("{args:?} hung");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    fn writes(&self) -> u64 {
        self.sim.stats().writes.values().sum()
    }

    /// `plan --out NAME` for the default departing user and successor.
    fn plan(&self, out: &str) -> Output {
        self.run(&[
            "plan",
            "--from",
            DEPARTING_USERNAME,
            "--to",
            SUCCESSOR_USERNAME,
            "--out",
            out,
            "--rate",
            "2000",
        ])
    }

    /// A journal of `plan` beside it, as a run killed right after starting leaves it:
    /// a header and nothing done.
    fn unfinished_journal(&self, plan: &str) -> std::path::PathBuf {
        let digest = PlanReader::open(self.path(plan))
            .unwrap()
            .digest()
            .to_string();
        let journal = self.path(&plan.replace(".jsonl", ".journal.jsonl"));
        let header = Header::new(digest, self.sim.endpoint(), plan, PurposeKind::Apply);
        drop(Journal::create(&journal, &header).unwrap());
        journal
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit 2, one line on stderr that starts `handover: error: ` and holds every fragment.
fn assert_refused(out: &Output, fragments: &[&str], what: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(exit::INVALID_INPUT),
        "{what}\nstdout:\n{}\nstderr:\n{stderr}",
        text(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    assert!(stderr.starts_with("handover: error: "), "{what}: {stderr}");
    for f in fragments {
        assert!(stderr.contains(f), "{what}: {f:?} not in {stderr}");
    }
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success());
}

fn is_fifo(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

#[test]
fn status_failed_plan_never_replaces_the_journal_or_its_plan() {
    let w = World::new();
    assert_eq!(w.plan("plan.jsonl").status.code(), Some(exit::OK));
    let out = w.run(&["apply", "plan.jsonl", "--rate", "2000"]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    let journal = fs::read(w.path("plan.journal.jsonl")).unwrap();
    let plan = fs::read(w.path("plan.jsonl")).unwrap();

    // The journal itself as --failed-plan (the case: it became an empty plan).
    let out = w.run(&[
        "status",
        "--journal",
        "plan.journal.jsonl",
        "--failed-plan",
        "plan.journal.jsonl",
    ]);
    assert_refused(
        &out,
        &[
            "plan.journal.jsonl is a handover journal",
            "handover resume --journal plan.journal.jsonl",
        ],
        "--failed-plan JOURNAL",
    );
    // The journal's plan as --failed-plan.
    let out = w.run(&[
        "status",
        "--journal",
        "plan.journal.jsonl",
        "--failed-plan",
        "plan.jsonl",
    ]);
    assert_refused(
        &out,
        &[
            "plan.jsonl is the plan of journal plan.journal.jsonl",
            "handover resume --journal plan.journal.jsonl",
        ],
        "--failed-plan PLAN",
    );
    // And as --html.
    let out = w.run(&[
        "status",
        "--journal",
        "plan.journal.jsonl",
        "--html",
        "plan.journal.jsonl",
    ]);
    assert_refused(&out, &["is a handover journal"], "--html JOURNAL");
    assert_eq!(fs::read(w.path("plan.journal.jsonl")).unwrap(), journal);
    assert_eq!(fs::read(w.path("plan.jsonl")).unwrap(), plan);
    // Another name is fine.
    let out = w.run(&[
        "status",
        "--journal",
        "plan.journal.jsonl",
        "--failed-plan",
        "retry.jsonl",
    ]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
}

#[test]
fn plan_out_over_a_plan_whose_run_is_unfinished_offers_the_resume() {
    let w = World::new();
    assert_eq!(w.plan("plan.jsonl").status.code(), Some(exit::OK));
    w.unfinished_journal("plan.jsonl");
    let plan = fs::read(w.path("plan.jsonl")).unwrap();
    let before = w.sim.stats().requests;
    let out = w.plan("plan.jsonl");
    assert_refused(
        &out,
        &[
            "plan.jsonl is the plan of journal",
            "handover resume --journal plan.journal.jsonl",
        ],
        "plan --out over a plan in progress",
    );
    assert_eq!(fs::read(w.path("plan.jsonl")).unwrap(), plan);
    assert_eq!(w.sim.stats().requests, before, "nothing is sent");
    // The resume it offers works: the plan still is the journal's.
    let out = w.run(&[
        "resume",
        "--journal",
        "plan.journal.jsonl",
        "--rate",
        "2000",
    ]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    assert!(w.writes() > 0);
}

#[test]
fn re_running_offboard_over_its_own_plan_offers_the_resume_instead_of_rewriting_it() {
    let w = World::new();
    let offboard = [
        "offboard",
        "--yes",
        "--from",
        DEPARTING_USERNAME,
        "--to",
        SUCCESSOR_USERNAME,
        "--out",
        "off.jsonl",
        "--rate",
        "2000",
    ];
    // The first run stops before it writes anything: a plan and a journal that is not done.
    let out = w.run(&[
        "plan",
        "--from",
        DEPARTING_USERNAME,
        "--to",
        SUCCESSOR_USERNAME,
        "--out",
        "off.jsonl",
    ]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    w.unfinished_journal("off.jsonl");
    let plan = fs::read(w.path("off.jsonl")).unwrap();
    let before = w.sim.stats().requests;
    let out = w.run(&offboard);
    assert_refused(
        &out,
        &[
            "off.jsonl is the plan of journal",
            "handover resume --journal",
            "off.journal.jsonl",
        ],
        "offboard again",
    );
    assert_eq!(fs::read(w.path("off.jsonl")).unwrap(), plan);
    assert_eq!(w.sim.stats().requests, before);
    let out = w.run(&["resume", "--journal", "off.journal.jsonl", "--rate", "2000"]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
}

#[test]
fn re_running_offboard_without_out_checks_its_default_plan_the_same_way() {
    let w = World::new();
    // The default plan's name: offboard-<departing user, file-safe>.plan.jsonl.
    let safe: String = DEPARTING_USERNAME
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let default_plan = format!("offboard-{safe}.plan.jsonl");
    assert_eq!(w.plan(&default_plan).status.code(), Some(exit::OK));
    w.unfinished_journal(&default_plan);
    let plan = fs::read(w.path(&default_plan)).unwrap();
    let out = w.run(&[
        "offboard",
        "--yes",
        "--from",
        DEPARTING_USERNAME,
        "--to",
        SUCCESSOR_USERNAME,
        "--rate",
        "2000",
    ]);
    assert_refused(
        &out,
        &[
            &format!("{default_plan} is the plan of journal"),
            "handover resume --journal",
        ],
        "offboard, default --out",
    );
    assert_eq!(fs::read(w.path(&default_plan)).unwrap(), plan);
    assert_eq!(w.writes(), 0);
}

#[test]
fn outputs_that_are_devices_fifos_or_directories_are_refused_and_left_alone() {
    let w = World::new();
    assert_eq!(w.plan("plan.jsonl").status.code(), Some(exit::OK));
    mkfifo(&w.path("fakenull"));
    std::os::unix::fs::symlink(w.path("fakenull"), w.path("link")).unwrap();
    fs::create_dir(w.path("folder")).unwrap();

    // The journal: a device there used to read as a torn header, and was replaced.
    let before = w.sim.stats().requests;
    let out = w.run(&[
        "apply",
        "plan.jsonl",
        "--journal",
        "fakenull",
        "--rate",
        "2000",
    ]);
    assert_refused(
        &out,
        &["fakenull is a fifo, not a regular file"],
        "--journal FIFO",
    );
    let out = w.run(&["apply", "plan.jsonl", "--journal", "link", "--rate", "2000"]);
    assert_refused(
        &out,
        &["link is a fifo, not a regular file"],
        "--journal LINK",
    );
    assert_eq!(w.writes(), 0, "nothing is written to the server");
    assert!(
        w.sim.stats().requests - before <= 4,
        "at most the preflights"
    );

    // plan --out, before connecting.
    let before = w.sim.stats().requests;
    for (out, what) in [
        ("fakenull", "a fifo"),
        ("link", "a fifo"),
        ("folder", "a directory"),
    ] {
        let o = w.plan(out);
        assert_refused(&o, &[&format!("{out} is {what}, not a regular file")], out);
    }
    assert_eq!(w.sim.stats().requests, before);

    // A run to read, then status's outputs.
    let out = w.run(&["apply", "plan.jsonl", "--rate", "2000"]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    for args in [
        ["--failed-plan", "fakenull"],
        ["--failed-plan", "folder"],
        ["--html", "link"],
        ["--html", "fakenull"],
    ] {
        let out = w.run(&[&["status", "--journal", "plan.journal.jsonl"][..], &args].concat());
        assert_refused(&out, &["not a regular file"], args[1]);
    }
    // The report's paths (--report R: R.csv, R.json, R.html) too: refused before the run
    // starts, with no journal made.
    mkfifo(&w.path("rep.csv"));
    let writes = w.writes();
    let out = w.run(&[
        "apply",
        "plan.jsonl",
        "--journal",
        "j2.jsonl",
        "--report",
        "rep",
    ]);
    assert_refused(&out, &["rep.csv is a fifo"], "--report");
    assert!(!w.path("j2.jsonl").exists());
    assert_eq!(w.writes(), writes);
    assert!(is_fifo(&w.path("rep.csv")));

    assert!(is_fifo(&w.path("fakenull")));
    assert!(
        fs::symlink_metadata(w.path("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(w.path("folder").is_dir());
    assert_eq!(fs::read_dir(w.path("folder")).unwrap().count(), 0);
}

#[test]
fn a_pid_file_planted_as_a_symlink_is_not_followed() {
    let w = World::new();
    assert_eq!(w.plan("plan.jsonl").status.code(), Some(exit::OK));
    let victim = w.path("victim.txt");
    fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, w.path("plan.journal.jsonl.pid")).unwrap();
    let out = w.run(&["apply", "plan.jsonl", "--rate", "2000"]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");

    // On resume too (the journal is reopened under its lock).
    std::os::unix::fs::symlink(&victim, w.path("plan.journal.jsonl.pid")).unwrap_or(());
    let _ = fs::remove_file(w.path("plan.journal.jsonl.pid"));
    std::os::unix::fs::symlink(&victim, w.path("plan.journal.jsonl.pid")).unwrap();
    let out = w.run(&[
        "resume",
        "--journal",
        "plan.journal.jsonl",
        "--rate",
        "2000",
    ]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
}
