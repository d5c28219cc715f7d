//! `handover apply`, `resume` and `status` as a user runs them: the real binary against the
//! in-process simulator, with `HOME` and `DATAROBOT_*` set per test and nothing else.

mod exec_support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use exec_support::*;
use handover::exit;
use handover::journal::{EntityState, OutcomeKind, Replay};
use handover::plan::PlanReader;
use handover::sim::{SUCCESSOR_USERNAME, SimConfig};

use exec_support::{handover_cmd as handover, run_to_end as output};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_prints_the_summary_writes_the_report_and_status_reads_the_journal() {
    let w = world(generated(21, 1));
    let entries = w.offboard_entries().await;
    w.write_plan("plan.jsonl", &entries);

    let out = output(handover(&w, &["apply", "plan.jsonl", "--rate", "500"])).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(exit::OK), "{stdout}\n{stderr}");
    let n = entries.len();
    // The type column is as wide as the longest label in the table (at least 22).
    let width = entries
        .iter()
        .map(|e| e.kind.plural_label().len())
        .fold(22, usize::max);
    assert!(
        stdout.starts_with(&format!(
            "{:<width$}     succeeded  already_done       partial   unconfirmed        failed       drifted       refused       skipped\n",
            "type"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "\n{:<width$}    {n:>10}             0             0             0             0             0             0             0\n",
            "total"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{n} of {n} entities have an outcome")),
        "{stdout}"
    );
    // Not a terminal: plain progress lines instead of a bar.
    assert!(
        stderr.contains(&format!("handover: {n}/{n} entities (100%)")),
        "{stderr}"
    );
    assert_at_targets(&w.sim.state(), &entries);

    // Defaults: the journal beside the plan, the report beside the journal.
    let journal = w.path("plan.journal.jsonl");
    assert!(journal.exists());
    let csv = std::fs::read_to_string(w.path("plan.journal.report.csv")).unwrap();
    assert_eq!(csv.lines().count(), n + 1);
    assert!(w.path("plan.journal.report.json").exists());

    let out = output(handover(&w, &["status", "--journal", "plan.journal.jsonl"])).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    assert!(stdout.contains("state     finished\n"), "{stdout}");
    assert!(
        stdout.contains(&format!("pending   0 of {n} entries")),
        "{stdout}"
    );

    // Applying again: everything has an outcome, nothing is sent but the preflight.
    let writes = w.sim.stats().total_writes();
    let out = output(handover(&w, &["apply", "plan.jsonl", "-q"])).await;
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    assert_eq!(w.sim.stats().total_writes(), writes);
    assert!(text(&out.stdout).contains(&format!("0 this run, {n} from earlier runs")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_journal_is_refused() {
    let w = world(generated(22, 1));
    let entries = w.offboard_entries().await;
    let plan = w.write_plan("plan.jsonl", &entries);
    // This process holds the journal, as a running apply would. (Held from its creation:
    // releasing and retaking it here could race with another test's child process, which
    // shares every open file, and so the lock, between its fork and its exec.)
    let _held = w.open(&plan, &w.path("j.jsonl")).unwrap();
    let requests = w.sim.stats().requests;

    let out = output(handover(
        &w,
        &["apply", "plan.jsonl", "--journal", "j.jsonl"],
    ))
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::INVALID_INPUT), "{stderr}");
    assert!(
        stderr.contains("handover: error: journal j.jsonl is in use by another handover process"),
        "{stderr}"
    );
    let out = output(handover(&w, &["resume", "--journal", "j.jsonl"])).await;
    assert_eq!(out.status.code(), Some(exit::INVALID_INPUT));
    assert_eq!(w.sim.stats().requests, requests, "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_racing_to_start_one_run_write_each_entity_once() {
    for round in 0..4u64 {
        let w = world(generated(40 + round, 1));
        let entries = w.offboard_entries().await;
        w.write_plan("plan.jsonl", &entries);
        let args = ["apply", "plan.jsonl", "--journal", "j.jsonl"];
        // Both started before either has created the journal.
        let children: Vec<std::process::Child> = (0..2)
            .map(|_| {
                handover(&w, &args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<Output> = tokio::task::spawn_blocking(move || {
            children
                .into_iter()
                .map(|c| c.wait_with_output().unwrap())
                .collect()
        })
        .await
        .unwrap();
        let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
        for out in &outs {
            let code = out.status.code();
            let stderr = text(&out.stderr);
            // The loser is told the journal is in use; one that came after the winner
            // finished resumes a finished run and sends nothing.
            assert!(
                code == Some(exit::OK)
                    || (code == Some(exit::INVALID_INPUT) && stderr.contains("is in use")),
                "round {round}: {codes:?}: {stderr}"
            );
        }
        assert!(codes.contains(&Some(exit::OK)), "round {round}: {codes:?}");
        let stats = w.sim.stats();
        for e in &entries {
            assert_eq!(
                stats.writes_to(e.kind, exec_support::sim_id(e.kind, &e.id)),
                1,
                "round {round}: {} {} written by both",
                e.kind,
                e.id
            );
        }
        let names: Vec<String> = std::fs::read_dir(w.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.contains(".new-")),
            "round {round}: a temporary journal was left: {names:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_for_another_endpoint_is_refused_and_nothing_is_sent() {
    let w = world(generated(23, 1));
    let entries = w.offboard_entries().await;
    w.write_plan("plan.jsonl", &entries);
    let requests = w.sim.stats().requests;
    let mut cmd = handover(&w, &["apply", "plan.jsonl"]);
    cmd.env("DATAROBOT_ENDPOINT", "http://localhost:9/api/v2");
    let out = output(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::INVALID_INPUT), "{stderr}");
    assert!(
        stderr.contains("was made against http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(!w.path("plan.journal.jsonl").exists());
    assert_eq!(w.sim.stats().requests, requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_lets_requests_finish_and_resume_completes_the_run() {
    let w = world(generated(24, 3));
    let entries = w.offboard_entries().await;
    w.write_plan("plan.jsonl", &entries);
    w.sim.set_config(SimConfig {
        latency_ms: 30,
        ..SimConfig::default()
    });
    let mut cmd = handover(
        &w,
        &[
            "apply",
            "plan.jsonl",
            "--journal",
            "run.jsonl",
            "--concurrency",
            "3",
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    while w.sim.stats().total_writes() < 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::INTERRUPTED), "{stderr}");
    assert!(
        stderr.contains("interrupted; letting requests in flight finish"),
        "{stderr}"
    );
    assert!(
        stderr.contains("resume with: handover resume --journal run.jsonl"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("stopped: interrupted"));

    let replay = Replay::read(w.path("run.jsonl")).unwrap();
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
    let settled = settled_writes(&w, &replay);
    assert!(!settled.is_empty() && settled.len() < entries.len());

    w.sim.set_config(SimConfig::default());
    let out = output(handover(&w, &["resume", "--journal", "run.jsonl"])).await;
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    assert_at_targets(&w.sim.state(), &entries);
    for (kind, id, writes) in settled {
        assert_eq!(
            w.sim
                .stats()
                .writes_to(kind, exec_support::sim_id(kind, &id)),
            writes,
            "{kind} {id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_aborts_at_once_and_the_journal_still_resumes() {
    let w = world(generated(26, 2));
    let entries = w.offboard_entries().await;
    w.write_plan("plan.jsonl", &entries);
    // Slow enough that requests are in flight when the signals come.
    w.sim.set_config(SimConfig {
        latency_ms: 400,
        ..SimConfig::default()
    });
    let mut cmd = handover(
        &w,
        &[
            "apply",
            "plan.jsonl",
            "--journal",
            "run.jsonl",
            "--concurrency",
            "4",
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    while w.sim.stats().total_writes() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let interrupt = || {
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    interrupt();
    tokio::time::sleep(Duration::from_millis(50)).await;
    interrupt();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::INTERRUPTED), "{stderr}");
    assert!(
        stderr.contains("handover: aborted; resume with"),
        "{stderr}"
    );
    // No summary: the process did not wait for anything.
    assert!(text(&out.stdout).is_empty());

    w.sim.set_config(SimConfig::default());
    let out = output(handover(&w, &["resume", "--journal", "run.jsonl"])).await;
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    assert_at_targets(&w.sim.state(), &entries);
}

/// Succeeded entities and how often each was written so far.
fn settled_writes(w: &World, replay: &Replay) -> Vec<(handover::model::EntityKind, String, u64)> {
    let stats = w.sim.stats();
    replay
        .entities()
        .filter(|(_, _, e)| {
            matches!(&e.state, EntityState::Done { outcome } if outcome.outcome == OutcomeKind::Succeeded)
        })
        .map(|(k, id, _)| (k, id.to_string(), stats.writes_to(k, exec_support::sim_id(k, id))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_exit_3_and_status_writes_a_plan_to_retry() {
    let w = world(generated(25, 1));
    let entries = w.offboard_entries().await;
    w.write_plan("plan.jsonl", &entries);
    w.sim.set_active(SUCCESSOR_USERNAME, false).unwrap();
    let out = output(handover(
        &w,
        &[
            "apply",
            "plan.jsonl",
            "--journal",
            "j.jsonl",
            "--report",
            "out/report",
        ],
    ))
    .await;
    // The report directory does not exist: the run's result stands, the report error is
    // printed.
    assert_eq!(
        out.status.code(),
        Some(exit::PARTIAL),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("cannot write report"),
        "{}",
        text(&out.stderr)
    );
    std::fs::create_dir(w.path("out")).unwrap();

    let out = output(handover(
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
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["counts"]["refused"], entries.len());
    assert_eq!(status["failures"].as_array().unwrap().len(), entries.len());
    assert_eq!(status["failures"][0]["http_status"], 422);
    let retry = PlanReader::open(w.path("retry.jsonl")).unwrap();
    assert_eq!(retry.entries(), entries.len() as u64);
    assert_eq!(retry.header().endpoint, w.sim.endpoint());

    w.sim.set_active(SUCCESSOR_USERNAME, true).unwrap();
    let out = output(handover(
        &w,
        &["apply", "retry.jsonl", "--report", "out/report.csv"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    assert!(w.path("out/report.csv").exists() && w.path("out/report.json").exists());
    assert_at_targets(&w.sim.state(), &entries);
}

#[test]
fn status_of_a_missing_journal_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_handover"))
        .env_clear()
        .current_dir(dir.path())
        .args(["status", "--journal", "nope.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(exit::INVALID_INPUT));
    assert!(text(&out.stderr).contains("cannot open journal nope.jsonl"));
}
