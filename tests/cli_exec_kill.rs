//! `kill -9` at several moments of `handover apply`, then `apply` again on the same journal
//! (which resumes it): the run ends at the plan's targets, no entity recorded as done is
//! ever written again, and the journal reads back after every kill.

mod exec_support;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use exec_support::*;
use handover::exit;
use handover::journal::{EntityState, Replay};
use handover::model::EntityKind;
use handover::sim::SimConfig;

enum KillAt {
    /// After this long, whatever the run is doing (creating the journal, preflight…).
    Delay(Duration),
    /// Once the simulator has applied this many writes in all.
    Writes(u64),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_any_moment_then_resume_reaches_the_targets() {
    let w = world(generated(31, 4));
    let entries = w.offboard_entries().await;
    w.write_plan("plan.jsonl", &entries);
    w.sim.set_config(SimConfig {
        latency_ms: 8,
        jitter_ms: 12,
        fault_seed: 5,
        ..SimConfig::default()
    });
    let apply = || {
        let mut cmd = handover_cmd(&w, &[]);
        cmd.args([
            "apply",
            "plan.jsonl",
            "--journal",
            "j.jsonl",
            "--concurrency",
            "4",
            "--rate",
            "400",
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        cmd
    };

    // Entities recorded as done, and how often each had been written when first seen so.
    let mut settled: BTreeMap<(EntityKind, String), u64> = BTreeMap::new();
    let kills = [
        KillAt::Delay(Duration::from_millis(5)),
        KillAt::Delay(Duration::from_millis(60)),
        KillAt::Writes(4),
        KillAt::Writes(11),
        KillAt::Writes(19),
        KillAt::Writes(30),
        KillAt::Writes(42),
    ];
    for kill in kills {
        let mut child = apply().spawn().unwrap();
        match kill {
            KillAt::Delay(d) => tokio::time::sleep(d).await,
            KillAt::Writes(n) => {
                while w.sim.stats().total_writes() < n && child.try_wait().unwrap().is_none() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        let exited_early = child.try_wait().unwrap();
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        let journal_len = std::fs::metadata(w.path("j.jsonl")).map(|m| m.len()).ok();
        eprintln!(
            "kill: writes {}, exited on its own: {exited_early:?}, journal bytes {journal_len:?}",
            w.sim.stats().total_writes()
        );
        if !w.path("j.jsonl").exists() {
            continue;
        }
        let Ok(replay) = Replay::read(w.path("j.jsonl")) else {
            // Killed before the header was whole; the next run starts the journal over.
            continue;
        };
        let stats = w.sim.stats();
        let mut in_flight = 0;
        for (kind, id, e) in replay.entities() {
            if let EntityState::InFlight = &e.state {
                in_flight += 1;
            }
            if let EntityState::Done { outcome } = &e.state {
                assert!(outcome.outcome.is_settled(), "{outcome:?}");
                settled
                    .entry((kind, id.to_string()))
                    .or_insert_with(|| stats.writes_to(kind, exec_support::sim_id(kind, id)));
            }
        }
        eprintln!(
            "      done {}, in flight {in_flight}, torn tail {:?}",
            settled.len(),
            replay.torn_tail()
        );
    }
    assert!(
        !settled.is_empty(),
        "some entities were done before the last kill"
    );

    let out = apply().stdout(Stdio::piped()).output().unwrap();
    assert_eq!(out.status.code(), Some(exit::OK));
    assert_at_targets(&w.sim.state(), &entries);
    let stats = w.sim.stats();
    for ((kind, id), writes) in &settled {
        assert_eq!(
            stats.writes_to(*kind, exec_support::sim_id(*kind, id)),
            *writes,
            "{kind} {id} written after it was done"
        );
    }
    for e in &entries {
        // A write in flight at a kill may land or not; the resume re-reads before writing
        // again, so at most a write that landed after the re-read is repeated.
        assert!(
            stats.writes_to(e.kind, exec_support::sim_id(e.kind, &e.id)) <= 2,
            "{} {}",
            e.kind,
            e.id
        );
    }
    assert!(stats.ownerless.is_empty());
    assert_eq!(stats.notifications, 0);
    let replay = Replay::read(w.path("j.jsonl")).unwrap();
    assert_eq!(replay.counts().in_flight, 0);
    assert_eq!(replay.len(), entries.len());
}
