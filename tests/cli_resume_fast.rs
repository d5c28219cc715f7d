//! `resume` and `apply` of a journal whose run already finished: nothing is sent (not even
//! the preflight), the summary and exit code are those of the finished run, and the report
//! is kept when it is current and rewritten when it is missing or stale. A journal that is
//! not finished still takes the normal path.

mod exec_support;

use std::path::Path;
use std::time::SystemTime;

use exec_support::*;
use handover::exit;
use handover::journal::Replay;
use handover::model::EntityKind;
use handover::plan::{ActionKind, PlanEntry};
use handover::sim::SUCCESSOR_USERNAME;

/// Runs the binary to its end: (exit code, stdout, stderr).
async fn run(w: &World, args: &[&str]) -> (Option<i32>, String, String) {
    let out = run_to_end(handover_cmd(w, args)).await;
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// The summary without its `requests:` line (a real run counts its preflight and writes).
fn summary_table(stdout: &str) -> String {
    stdout
        .lines()
        // The request counts and the pace found are the run's own.
        .filter(|l| !l.starts_with("requests:") && !l.starts_with("pace:"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// The departing user's entities as a plan, the first made a noop (target = current) and,
/// with `refuse_one`, the second refused (no owner in its target).
async fn mixed_entries(w: &World, refuse_one: bool) -> Vec<PlanEntry> {
    let mut entries = w.offboard_entries().await;
    assert!(entries.len() >= 3);
    let e = &entries[0];
    entries[0] = PlanEntry::build(e.kind, &e.id, &e.name, e.current.clone(), e.current.clone());
    assert_eq!(entries[0].action, ActionKind::Noop);
    if refuse_one {
        let e = &entries[1];
        entries[1] = PlanEntry::build(e.kind, &e.id, &e.name, e.current.clone(), Vec::new());
        assert_eq!(entries[1].action, ActionKind::Refused);
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_is_resumed_and_applied_again_without_a_request() {
    let w = world(generated(61, 1));
    let entries = mixed_entries(&w, false).await;
    let n = entries.len();
    w.write_plan("plan.jsonl", &entries);

    let (code, first, stderr) = run(&w, &["apply", "plan.jsonl", "--rate", "500"]).await;
    assert_eq!(code, Some(exit::OK), "{first}\n{stderr}");
    assert_at_targets(&w.sim.state(), &entries);
    let csv = w.path("plan.journal.report.csv");
    let json = w.path("plan.journal.report.json");
    let (csv_text, json_text) = (
        std::fs::read_to_string(&csv).unwrap(),
        std::fs::read_to_string(&json).unwrap(),
    );
    let (csv_time, json_time) = (modified(&csv), modified(&json));
    let requests = w.sim.stats().requests;

    for args in [
        &["resume", "--journal", "plan.journal.jsonl"][..],
        &["apply", "plan.jsonl"][..],
    ] {
        let (code, stdout, stderr) = run(&w, args).await;
        assert_eq!(code, Some(exit::OK), "{args:?}: {stdout}\n{stderr}");
        assert_eq!(w.sim.stats().requests, requests, "{args:?}: nothing sent");
        // The same table as the run that finished; its outcomes now from earlier runs.
        let table = summary_table(&first).replace(
            &format!("{n} this run, 0 from earlier runs"),
            &format!("0 this run, {n} from earlier runs"),
        );
        assert_eq!(summary_table(&stdout), table, "{args:?}");
        assert!(
            stdout.contains(&format!(
                "\n{n} of {n} entities have an outcome; 0 this run, {n} from earlier runs; 0 not done\n"
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains("\nrequests: 0 (0 retries, 0 throttled)"),
            "{stdout}"
        );
        assert!(stderr.contains("(unchanged)"), "{stderr}");
        // The report is the finished run's, untouched.
        assert_eq!(std::fs::read_to_string(&csv).unwrap(), csv_text);
        assert_eq!(std::fs::read_to_string(&json).unwrap(), json_text);
        assert_eq!((modified(&csv), modified(&json)), (csv_time, json_time));
    }

    // The journal still reads as finished: each resume was closed with an end record.
    let replay = Replay::read(w.path("plan.journal.jsonl")).unwrap();
    assert_eq!(replay.resumes(), 2);
    assert!(replay.end().is_some_and(|e| !e.interrupted));
    let (code, stdout, _) = run(&w, &["status", "--journal", "plan.journal.jsonl"]).await;
    assert_eq!(code, Some(exit::OK));
    assert!(stdout.contains("state     finished\n"), "{stdout}");

    // A missing report is written again, from the journal, still without a request.
    std::fs::remove_file(&json).unwrap();
    let (code, _, stderr) = run(&w, &["resume", "--journal", "plan.journal.jsonl"]).await;
    assert_eq!(code, Some(exit::OK), "{stderr}");
    assert!(!stderr.contains("(unchanged)"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), csv_text);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let before: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(report["entities"], before["entities"]);
    assert_eq!(report["counts"], before["counts"]);
    assert_eq!(w.sim.stats().requests, requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_with_failures_still_exits_3_without_a_request() {
    let w = world(generated(62, 1));
    let entries = mixed_entries(&w, true).await;
    let n = entries.len();
    w.write_plan("plan.jsonl", &entries);
    // Gone between plan and apply: skipped.
    let gone = entries
        .iter()
        .find(|e| e.action == ActionKind::Change)
        .unwrap();
    w.sim.delete_entity(gone.kind, &gone.id).unwrap();

    let (code, first, stderr) = run(
        &w,
        &[
            "apply",
            "plan.jsonl",
            "--journal",
            "j.jsonl",
            "--report",
            "r",
        ],
    )
    .await;
    assert_eq!(code, Some(exit::PARTIAL), "{first}\n{stderr}");
    let replay = Replay::read(w.path("j.jsonl")).unwrap();
    let counts = replay.counts();
    use handover::journal::OutcomeKind as O;
    assert_eq!(
        (
            counts.get(O::Skipped),
            counts.get(O::Refused),
            counts.get(O::AlreadyDone)
        ),
        (1, 1, 1)
    );
    let report = std::fs::read_to_string(w.path("r.json")).unwrap();
    let requests = w.sim.stats().requests;

    let (code, stdout, stderr) =
        run(&w, &["resume", "--journal", "j.jsonl", "--report", "r"]).await;
    assert_eq!(code, Some(exit::PARTIAL), "{stdout}\n{stderr}");
    assert_eq!(w.sim.stats().requests, requests, "nothing sent");
    assert_eq!(
        summary_table(&stdout),
        summary_table(&first).replace(
            &format!("{n} this run, 0 from earlier runs"),
            &format!("0 this run, {n} from earlier runs"),
        )
    );
    assert_eq!(std::fs::read_to_string(w.path("r.json")).unwrap(), report);

    // A report that is not this journal's final one (here: an earlier run's counts) is
    // written again.
    let stale = report.replace("\"skipped\":1", "\"pending\":1");
    assert_ne!(stale, report);
    std::fs::write(w.path("r.json"), &stale).unwrap();
    let (code, _, stderr) = run(&w, &["resume", "--journal", "j.jsonl", "--report", "r"]).await;
    assert_eq!(code, Some(exit::PARTIAL), "{stderr}");
    let rewritten: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("r.json")).unwrap()).unwrap();
    assert_eq!(rewritten["counts"]["skipped"], 1);
    assert_eq!(w.sim.stats().requests, requests, "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_or_unended_journal_takes_the_normal_path() {
    let w = world(generated(63, 1));
    let entries = mixed_entries(&w, false).await;
    w.write_plan("plan.jsonl", &entries);

    // Stopped early by --max-errors: the end record says interrupted, entries remain.
    w.sim.set_active(SUCCESSOR_USERNAME, false).unwrap();
    let (code, _, stderr) = run(
        &w,
        &[
            "apply",
            "plan.jsonl",
            "--max-errors",
            "1",
            "--concurrency",
            "1",
        ],
    )
    .await;
    assert_eq!(code, Some(exit::INTERRUPTED), "{stderr}");
    let writes = w.sim.stats().total_writes();
    w.sim.set_active(SUCCESSOR_USERNAME, true).unwrap();
    let (code, _, stderr) = run(&w, &["resume", "--journal", "plan.journal.jsonl"]).await;
    // The refused entity stays refused (it has an outcome); the rest is written.
    assert_eq!(code, Some(exit::PARTIAL), "{stderr}");
    assert!(w.sim.stats().total_writes() > writes, "the run went on");

    // Every entry has an outcome but the end record is gone (a crash right after the
    // last outcome): the normal path connects, checks, and writes nothing.
    let journal = w.path("plan.journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let without_end = text
        .trim_end_matches('\n')
        .rsplit_once('\n')
        .map(|(head, last)| {
            assert!(last.contains("\"type\":\"end\""), "{last}");
            format!("{head}\n")
        })
        .unwrap();
    std::fs::write(&journal, without_end).unwrap();
    let (requests, writes) = (w.sim.stats().requests, w.sim.stats().total_writes());
    let (code, stdout, stderr) = run(&w, &["resume", "--journal", "plan.journal.jsonl"]).await;
    assert_eq!(code, Some(exit::PARTIAL), "{stdout}\n{stderr}");
    assert!(w.sim.stats().requests > requests, "connected");
    assert_eq!(w.sim.stats().total_writes(), writes, "wrote nothing");

    // Now it is finished again: nothing sent.
    let requests = w.sim.stats().requests;
    let (code, _, stderr) = run(&w, &["resume", "--journal", "plan.journal.jsonl"]).await;
    assert_eq!(code, Some(exit::PARTIAL), "{stderr}");
    assert_eq!(w.sim.stats().requests, requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_journal_still_refuses_another_plan() {
    let w = world(generated(64, 1));
    let entries = w.offboard_entries().await;
    w.write_plan("plan.jsonl", &entries);
    let (code, _, stderr) = run(&w, &["apply", "plan.jsonl"]).await;
    assert_eq!(code, Some(exit::OK), "{stderr}");
    let other: Vec<PlanEntry> = entries
        .iter()
        .filter(|e| e.kind != EntityKind::Project)
        .cloned()
        .collect();
    assert!(other.len() < entries.len());
    w.write_plan("other.jsonl", &other);
    let requests = w.sim.stats().requests;

    let (code, _, stderr) = run(
        &w,
        &[
            "resume",
            "--journal",
            "plan.journal.jsonl",
            "--plan",
            "other.jsonl",
        ],
    )
    .await;
    assert_eq!(code, Some(exit::INVALID_INPUT), "{stderr}");
    assert!(stderr.contains("handover: error:"), "{stderr}");
    let (code, _, stderr) = run(
        &w,
        &["apply", "other.jsonl", "--journal", "plan.journal.jsonl"],
    )
    .await;
    assert_eq!(code, Some(exit::INVALID_INPUT), "{stderr}");
    assert_eq!(w.sim.stats().requests, requests, "nothing sent");
}
