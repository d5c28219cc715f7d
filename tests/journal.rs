//! The journal on a real file system: record round trips, crash tails, damage reports,
//! locking (in this process and from a child process), replay states and permissions.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use handover::exit;
use handover::journal::{
    End, EntityState, Error, Header, Intent, Journal, Outcome, OutcomeKind, PurposeKind, Record,
    Replay, Resume, pid_path,
};
use handover::model::{EntityKind, Grant, Role};
use serde_json::json;
use tempfile::TempDir;

const DIGEST: &str = "sha256:5f2b";

/// What the lock-holding child prints once it holds the lock.
const LOCK_HELD: &str = "journal-lock-held-by-child";

fn header() -> Header {
    Header::new(
        DIGEST,
        "https://dr.example/api/v2",
        "plan.jsonl",
        PurposeKind::Apply,
    )
}

fn grant(name: &str, role: Role) -> Grant {
    Grant {
        recipient_type: "user".to_string(),
        id: Some(format!("u-{name}")),
        name: name.to_string(),
        role,
        can_share: Some(true),
    }
}

fn intent(kind: EntityKind, id: &str, before: Vec<Grant>) -> Record {
    Intent::new(
        kind,
        id,
        before,
        json!({"data": [{"username": "bob", "role": "OWNER"}]}),
    )
    .into()
}

fn outcome(kind: EntityKind, id: &str, what: OutcomeKind) -> Record {
    Outcome {
        status: Some(204),
        error: what.is_failure().then(|| format!("{id} went wrong")),
        after: Some(vec![grant("bob", Role::Owner)]),
        ..Outcome::new(kind, id, what, 1)
    }
    .into()
}

/// A fresh journal path in its own directory.
fn journal_path() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apply.journal.jsonl");
    (dir, path)
}

/// A journal with a header, one finished entity and one in flight, closed.
fn small_journal(path: &Path) {
    let mut j = Journal::create(path, &header()).unwrap();
    j.append(&intent(
        EntityKind::Project,
        "p1",
        vec![grant("alice", Role::Owner)],
    ));
    j.append(&outcome(EntityKind::Project, "p1", OutcomeKind::Succeeded));
    j.append(&intent(
        EntityKind::Dataset,
        "d1",
        vec![grant("carol", Role::Owner)],
    ));
    j.sync().unwrap();
}

fn append_raw(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn every_record_type_round_trips_through_the_file() {
    let (_dir, path) = journal_path();
    let h = header();
    let records = vec![
        intent(
            EntityKind::CustomModel,
            "c1",
            vec![grant("alice", Role::Owner)],
        ),
        outcome(EntityKind::CustomModel, "c1", OutcomeKind::Failed),
        Record::from(Resume::now()),
        Record::from(Outcome::new(
            EntityKind::File,
            "f1",
            OutcomeKind::Skipped,
            0,
        )),
        Record::from(End::now(true)),
    ];
    let mut j = Journal::create(&path, &h).unwrap();
    for r in &records {
        j.append(r);
    }
    j.close().unwrap();

    let text = lines(&path);
    assert_eq!(text.len(), 1 + records.len());
    let read: Vec<Record> = text
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(read[0], Record::Header(h.clone()));
    assert_eq!(&read[1..], &records[..]);
    assert!(text[0].starts_with(
        r#"{"type":"header","format":"handover-journal","version":1,"planDigest":"sha256:5f2b""#
    ));

    let replay = Replay::read(&path).unwrap();
    assert_eq!(replay.header(), &h);
    assert_eq!(replay.records(), 6);
    assert_eq!(replay.resumes(), 1);
    assert_eq!(replay.end().map(|e| e.interrupted), Some(true));
    assert!(replay.torn_tail().is_none());
}

#[test]
fn lines_written_by_other_hands_read_the_same() {
    let (_dir, path) = journal_path();
    small_journal(&path);
    // Keys reordered and spaced, as a script or an editor might leave them.
    append_raw(
        &path,
        b"{ \"kind\": \"dataset\", \"id\": \"d2\", \"type\": \"intent\", \"before\": [], \
          \"request\": {\"roles\": []}, \"at\": \"2026-11-01T09:30:00.000Z\" }\n",
    );
    append_raw(
        &path,
        b"{\"outcome\":\"refused\",\"type\":\"outcome\",\"kind\":\"dataset\",\"id\":\"d1\",\
          \"attempts\":1,\"status\":403,\"error\":\"forbidden\",\"after\":null,\"at\":\"x\"}\n",
    );
    let replay = Replay::read(&path).unwrap();
    let Some(intent) = replay.intent(EntityKind::Dataset, "d2").unwrap() else {
        panic!("d2 should be in flight")
    };
    assert_eq!(intent.request, json!({"roles": []}));
    assert_eq!(
        replay.first_before(EntityKind::Dataset, "d2").unwrap(),
        Some(vec![])
    );
    assert_eq!(replay.failures()[0].2.status, Some(403));
}

#[test]
fn a_torn_last_line_is_dropped_and_the_next_record_starts_a_clean_line() {
    let (_dir, path) = journal_path();
    small_journal(&path);
    let good = fs::metadata(&path).unwrap().len();
    append_raw(
        &path,
        br#"{"type":"outcome","kind":"dataset","id":"d1","outc"#,
    );

    // status reads it as it is, and leaves it alone.
    let seen = Replay::read(&path).unwrap();
    assert_eq!(
        seen.torn_tail().map(|t| (t.line, t.offset)),
        Some((5, good))
    );
    assert!(matches!(
        seen.state(EntityKind::Dataset, "d1"),
        Some(EntityState::InFlight)
    ));
    assert!(fs::metadata(&path).unwrap().len() > good);

    let (mut j, replay) = Journal::open_existing(&path).unwrap();
    assert_eq!(replay.torn_tail().map(|t| t.line), Some(5));
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        good,
        "cut back to the last whole line"
    );
    j.append(&Resume::now().into());
    j.append(&outcome(EntityKind::Dataset, "d1", OutcomeKind::Succeeded));
    j.close().unwrap();

    let text = lines(&path);
    assert_eq!(text.len(), 6);
    assert!(text[4].starts_with(r#"{"type":"resume""#), "{}", text[4]);
    let replay = Replay::read(&path).unwrap();
    assert!(replay.torn_tail().is_none());
    assert!(matches!(
        replay.state(EntityKind::Dataset, "d1"),
        Some(EntityState::Done { .. })
    ));
}

#[test]
fn a_tail_of_nuls_after_a_crash_is_tolerated() {
    let (_dir, path) = journal_path();
    small_journal(&path);
    append_raw(&path, &[0u8; 300]);
    let (_j, replay) = Journal::open_existing(&path).unwrap();
    assert_eq!(replay.torn_tail().map(|t| t.bytes), Some(300));

    // Half a record whose newline did land (the blocks arrived out of order) too.
    let (_dir, path) = journal_path();
    small_journal(&path);
    append_raw(&path, b"\0\0\0\0ome\",\"id\":\"d1\"}\n");
    let (_j, replay) = Journal::open_existing(&path).unwrap();
    assert_eq!(replay.torn_tail().map(|t| t.line), Some(5));
}

#[test]
fn a_well_formed_last_line_of_the_wrong_shape_is_not_a_torn_write() {
    let (_dir, path) = journal_path();
    small_journal(&path);
    append_raw(
        &path,
        b"{\"type\":\"outcome\",\"kind\":\"widget\",\"id\":\"x\"}\n",
    );
    let err = Journal::open_existing(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { line: 5, .. }), "{err:?}");
}

#[test]
fn damage_in_the_middle_names_the_file_and_line() {
    let (_dir, path) = journal_path();
    small_journal(&path);
    let mut text = lines(&path);
    text[2].truncate(20); // line 3
    fs::write(&path, text.join("\n") + "\n").unwrap();

    let err = Journal::open_existing(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { line: 3, .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains("line 3"),
        "{message}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "what was wrong is in the source"
    );
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
    assert_eq!(exit::code_of(&err.coded()), exit::INVALID_INPUT);
}

#[test]
fn a_second_header_is_misplaced() {
    let (_dir, path) = journal_path();
    small_journal(&path);
    append_raw(
        &path,
        (serde_json::to_string(&Record::from(header())).unwrap() + "\n").as_bytes(),
    );
    append_raw(
        &path,
        (serde_json::to_string(&Record::from(Resume::now())).unwrap() + "\n").as_bytes(),
    );
    let err = Replay::read(&path).unwrap_err();
    assert!(matches!(err, Error::Misplaced { line: 5, .. }), "{err:?}");
}

#[test]
fn a_journal_without_a_header_is_refused() {
    let (_dir, path) = journal_path();
    fs::write(&path, "").unwrap();
    let err = Replay::read(&path).unwrap_err();
    assert!(matches!(err, Error::MissingHeader { .. }), "{err:?}");

    let line = serde_json::to_string(&intent(EntityKind::Project, "p1", vec![])).unwrap();
    fs::write(&path, line + "\n").unwrap();
    let err = Journal::open_existing(&path).unwrap_err();
    assert!(matches!(err, Error::MissingHeader { .. }), "{err:?}");
    assert!(err.to_string().contains("no header"), "{err}");
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);

    // A crash while the header was being written leaves nothing to resume.
    fs::write(&path, r#"{"type":"header","format":"hand"#).unwrap();
    let err = Journal::open_existing(&path).unwrap_err();
    assert!(matches!(err, Error::MissingHeader { .. }), "{err:?}");
}

#[test]
fn an_unknown_version_or_format_is_refused() {
    let (_dir, path) = journal_path();
    // A later version may reshape its header; the version is checked before the shape.
    fs::write(
        &path,
        "{\"type\":\"header\",\"format\":\"handover-journal\",\"version\":2,\"plan\":{}}\n",
    )
    .unwrap();
    let err = Journal::open_existing(&path).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedVersion { found: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("version 2"), "{err}");
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);

    fs::write(
        &path,
        "{\"type\":\"header\",\"format\":\"other\",\"version\":1}\n",
    )
    .unwrap();
    let err = Replay::read(&path).unwrap_err();
    assert!(matches!(err, Error::NotAJournal { .. }), "{err:?}");
}

#[test]
fn a_journal_for_another_plan_or_purpose_is_refused() {
    let (_dir, path) = journal_path();
    small_journal(&path);
    let replay = Replay::read(&path).unwrap();
    replay.check_matches(DIGEST, PurposeKind::Apply).unwrap();
    let err = replay
        .check_matches("sha256:other", PurposeKind::Apply)
        .unwrap_err();
    assert!(matches!(err, Error::PlanMismatch { .. }), "{err:?}");
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
    let err = replay
        .check_matches(DIGEST, PurposeKind::Rollback)
        .unwrap_err();
    assert!(matches!(err, Error::PurposeMismatch { .. }), "{err:?}");
}

#[test]
fn create_refuses_an_existing_file() {
    let (_dir, path) = journal_path();
    small_journal(&path);
    let before = fs::read(&path).unwrap();
    let err = Journal::create(&path, &header()).unwrap_err();
    assert!(matches!(err, Error::Exists { .. }), "{err:?}");
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn a_second_open_is_refused_while_the_first_holds_the_lock() {
    let (_dir, path) = journal_path();
    let first = Journal::create(&path, &header()).unwrap();

    let err = Journal::open_existing(&path).unwrap_err();
    let Error::Locked { pid, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*pid, Some(std::process::id()));
    assert!(err.to_string().contains("is in use by"), "{err}");
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);

    // status needs no lock.
    Replay::read(&path).unwrap();

    drop(first);
    assert!(
        !pid_path(&path).exists(),
        "a clean close takes its pid file away"
    );
    let (_second, _) = Journal::open_existing(&path).unwrap();
    assert!(pid_path(&path).exists());
}

/// Not a test on its own: the child process of
/// [`a_lock_held_by_another_process_names_it_and_dies_with_it`]. It holds the journal named
/// in its environment until its stdin closes or it is killed.
#[test]
#[ignore = "helper process for the cross-process lock test"]
fn lock_holder_child() {
    let Some(path) = std::env::var_os("HANDOVER_TEST_JOURNAL_LOCK") else {
        return;
    };
    let (_journal, _) = Journal::open_existing(&path).unwrap();
    // libtest prints its own "test … " before this on the same line: a token, not a line.
    println!("{LOCK_HELD}");
    std::io::stdout().flush().unwrap();
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink);
}

#[test]
fn a_lock_held_by_another_process_names_it_and_dies_with_it() {
    let (_dir, path) = journal_path();
    small_journal(&path);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lock_holder_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HANDOVER_TEST_JOURNAL_LOCK", &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the child on a thread, so that a child that never says so fails the test
    // instead of hanging it.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let held = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains(LOCK_HELD));
        let _ = tx.send(held);
    });
    if rx.recv_timeout(Duration::from_secs(60)) != Ok(true) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child never took the lock");
    }

    let err = Journal::open_existing(&path).unwrap_err();
    assert!(
        matches!(err, Error::Locked { pid: Some(pid), .. } if pid == child.id()),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("another handover process (pid {})", child.id())),
        "{err}"
    );

    // kill -9: no chance to clean up, yet the kernel drops the flock.
    child.kill().unwrap();
    child.wait().unwrap();
    let (_j, replay) = Journal::open_existing(&path).unwrap();
    assert_eq!(replay.len(), 2);
}

#[test]
fn replay_tells_pending_in_flight_and_done_and_keeps_the_first_before() {
    let (_dir, path) = journal_path();
    let original = vec![grant("alice", Role::Owner), grant("carol", Role::Consumer)];
    let reread = vec![grant("alice", Role::Editor), grant("bob", Role::Owner)];
    {
        let mut j = Journal::create(&path, &header()).unwrap();
        j.append(&intent(EntityKind::Project, "p1", original.clone()));
        j.append(&outcome(EntityKind::Project, "p1", OutcomeKind::Failed));
        j.append(&intent(EntityKind::Project, "p2", original.clone()));
        j.append(&outcome(EntityKind::Project, "p2", OutcomeKind::Succeeded));
        j.append(&intent(EntityKind::Deployment, "x1", original.clone()));
        j.append(&outcome(EntityKind::DataStore, "s1", OutcomeKind::Drifted));
        j.append(&End::now(true).into());
        j.sync().unwrap();
    }
    {
        let (mut j, replay) = Journal::open_existing(&path).unwrap();
        assert!(replay.end().is_some());
        j.append(&Resume::now().into());
        // p1 retried: a fresh read shows what the failed attempt half did.
        j.append(&intent(EntityKind::Project, "p1", reread.clone()));
        j.append(&outcome(EntityKind::Project, "p1", OutcomeKind::Succeeded));
        // x1 was in flight: re-checked and found done.
        j.append(&outcome(
            EntityKind::Deployment,
            "x1",
            OutcomeKind::AlreadyDone,
        ));
        j.append(&intent(EntityKind::Dataset, "d1", reread.clone()));
        j.sync().unwrap();
    }

    let replay = Replay::read(&path).unwrap();
    assert_eq!(replay.resumes(), 1);
    assert!(replay.end().is_none(), "the last run did not stop cleanly");
    assert_eq!(replay.len(), 5);

    // Pending: never mentioned.
    assert!(replay.state(EntityKind::Project, "p9").is_none());
    assert!(
        replay.state(EntityKind::Dataset, "p1").is_none(),
        "ids are per kind"
    );
    // In flight.
    assert_eq!(
        replay.state(EntityKind::Dataset, "d1"),
        Some(&EntityState::InFlight)
    );
    let Some(intent) = replay.intent(EntityKind::Dataset, "d1").unwrap() else {
        panic!("d1 should be in flight")
    };
    assert_eq!(intent.before, reread);
    assert_eq!(intent.request["data"][0]["username"], "bob");
    // Done, the last outcome winning.
    let Some(EntityState::Done { outcome }) = replay.state(EntityKind::Project, "p1") else {
        panic!("p1 should be done")
    };
    assert_eq!(outcome.outcome, OutcomeKind::Succeeded);
    // The before-state for rollback is the first one, not the re-read after the resume.
    assert_eq!(
        replay.first_before(EntityKind::Project, "p1").unwrap(),
        Some(original.clone())
    );
    assert_eq!(
        replay.first_before(EntityKind::Deployment, "x1").unwrap(),
        Some(original.clone())
    );
    assert_eq!(
        replay.first_before(EntityKind::DataStore, "s1").unwrap(),
        None,
        "never written"
    );

    let counts = replay.counts();
    assert_eq!(counts.in_flight, 1);
    assert_eq!(counts.get(OutcomeKind::Succeeded), 2);
    assert_eq!(counts.get(OutcomeKind::AlreadyDone), 1);
    assert_eq!(counts.get(OutcomeKind::Drifted), 1);
    assert_eq!(
        counts.get(OutcomeKind::Failed),
        0,
        "p1's failure was superseded"
    );
    assert_eq!(counts.total(), 5);
    let by_kind = replay.counts_by_kind();
    assert_eq!(by_kind[&EntityKind::Project].get(OutcomeKind::Succeeded), 2);
    assert_eq!(by_kind[&EntityKind::Dataset].in_flight, 1);
    assert!(!by_kind.contains_key(&EntityKind::File));

    let failures = replay.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].0, failures[0].1),
        (EntityKind::DataStore, "s1")
    );
    assert_eq!(failures[0].2.error.as_deref(), Some("s1 went wrong"));
    assert_eq!(replay.in_flight().len(), 1);
}

#[test]
fn group_commit_syncs_once_per_batch() {
    let (_dir, path) = journal_path();
    let mut j = Journal::create(&path, &header()).unwrap();
    assert_eq!(j.stats().syncs, 1, "the header");
    for i in 0..50 {
        j.append(&intent(EntityKind::Project, &format!("p{i}"), vec![]));
    }
    assert_eq!(j.pending(), 50);
    assert_eq!(
        lines(&path).len(),
        1,
        "appends stay in memory until the sync"
    );
    j.sync().unwrap();
    j.sync().unwrap(); // nothing pending: no second fdatasync
    assert_eq!(j.pending(), 0);
    let stats = j.stats();
    assert_eq!((stats.syncs, stats.records), (2, 51));
    assert_eq!(stats.bytes, fs::metadata(&path).unwrap().len());
    assert_eq!(lines(&path).len(), 51);
}

#[test]
fn journal_and_pid_file_are_owner_only() {
    let (_dir, path) = journal_path();
    let _j = Journal::create(&path, &header()).unwrap();
    for file in [path.clone(), pid_path(&path)] {
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

/// Replay speed on a 100,000-entity journal (300,002 lines). Run in release:
/// `cargo test --release --test journal -- --ignored --nocapture replay_speed`.
#[test]
#[ignore = "benchmark; prints timings"]
fn replay_speed_100k_entities() {
    let (_dir, path) = journal_path();
    let entities = 100_000;
    let before = vec![grant("alice", Role::Owner), grant("carol", Role::Editor)];
    let started = Instant::now();
    let mut j = Journal::create(&path, &header()).unwrap();
    let kinds = EntityKind::ALL;
    for i in 0..entities {
        let kind = kinds[i % kinds.len()];
        let id = format!("{:024x}", i * 7919);
        j.append(&intent(kind, &id, before.clone()));
        // Half fail and are retried after a resume: 3 lines per entity on average.
        let first = if i % 2 == 0 {
            OutcomeKind::Succeeded
        } else {
            OutcomeKind::Failed
        };
        j.append(&outcome(kind, &id, first));
        if i % 256 == 255 {
            j.sync().unwrap();
        }
    }
    j.append(&Resume::now().into());
    for i in (1..entities).step_by(2) {
        let kind = kinds[i % kinds.len()];
        let id = format!("{:024x}", i * 7919);
        j.append(&intent(kind, &id, before.clone()));
        j.append(&outcome(kind, &id, OutcomeKind::Succeeded));
    }
    j.close().unwrap();
    let wrote = started.elapsed();
    let size = fs::metadata(&path).unwrap().len();

    let started = Instant::now();
    let replay = Replay::read(&path).unwrap();
    let read = started.elapsed();
    let started = Instant::now();
    let counts = replay.counts();
    let failures = replay.failures().len();
    let summarised = started.elapsed();
    assert_eq!(replay.len(), entities);
    assert_eq!(counts.get(OutcomeKind::Succeeded), entities);
    assert_eq!(failures, 0);
    drop(replay);

    let started = Instant::now();
    let (_j, replay) = Journal::open_existing(&path).unwrap();
    let opened = started.elapsed();
    println!(
        "journal of {entities} entities, {} lines, {:.1} MB: written in {wrote:?}; \
         Replay::read {read:?}; counts+failures {summarised:?}; open_existing {opened:?}",
        replay.records(),
        size as f64 / 1e6,
    );
}
