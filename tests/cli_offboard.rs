//! `handover offboard` and `handover demo` as a user runs them: the real binary, a clean
//! environment, and (for offboard) a simulator started in this test process so the final
//! state can be read directly.

mod exec_support;

use assert_cmd::Command;
use exec_support::bare_cmd;
use handover::exit;
use handover::sim::{
    DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed, Sim, SimConfig,
    SimHandle,
};
use tempfile::TempDir;

struct World {
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
            Seed::generate(&GenSpec::uniform(5, per_kind)),
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

fn handover(dir: &TempDir) -> Command {
    Command::from_std(bare_cmd(dir.path()))
}

impl World {
    fn offboard(&self, extra: &[&str]) -> std::process::Output {
        handover(&self.dir)
            .args(["offboard", "--endpoint", &self.sim.endpoint()])
            .args(["--token", DEFAULT_ADMIN_TOKEN, "--rate", "500"])
            .args(["--from", DEPARTING_USERNAME, "--to", SUCCESSOR_USERNAME])
            .args(extra)
            .output()
            .unwrap()
    }
}

#[test]
fn offboard_with_yes_hands_everything_over_and_touches_nobody_else() {
    let w = world(2);
    let before = w.sim.state();
    let out = w.offboard(&["--yes"]);
    assert_eq!(
        out.status.code(),
        Some(exit::OK),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = w.sim.state();
    let mut handed_over = 0;
    for (old, new) in before.entities.iter().zip(&after.entities) {
        assert_eq!((old.kind, &old.id), (new.kind, &new.id));
        let owned = old
            .access
            .iter()
            .any(|a| a.username == DEPARTING_USERNAME && a.role == handover::model::Role::Owner);
        // A model package's or notebook's list is its parent's: it moves with it.
        if owned && handover::model::EntityKind::from(new.kind).is_writable() {
            handed_over += 1;
            assert!(
                new.access.iter().all(|a| a.username != DEPARTING_USERNAME),
                "{} {} still lists the departing user",
                new.kind,
                new.id
            );
            assert!(new.access.iter().any(
                |a| a.username == SUCCESSOR_USERNAME && a.role == handover::model::Role::Owner
            ));
        }
        // Everyone but the two named users keeps exactly what they had.
        let others = |list: &[handover::sim::SnapshotGrant]| {
            let mut v: Vec<_> = list
                .iter()
                .filter(|a| a.username != DEPARTING_USERNAME && a.username != SUCCESSOR_USERNAME)
                .map(|a| (a.username.clone(), a.role, a.can_share))
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            others(&old.access),
            others(&new.access),
            "{} {}",
            new.kind,
            new.id
        );
    }
    assert_eq!(handed_over, 2 * 25);
    let stats = w.sim.stats();
    assert_eq!(stats.notifications, 0);
    assert!(stats.ownerless.is_empty());
    assert!(
        w.dir
            .path()
            .join("offboard-departing_acme.test.plan.jsonl")
            .exists()
    );
    assert!(
        w.dir
            .path()
            .join("offboard-departing_acme.test.plan.journal.jsonl")
            .exists()
    );
}

#[test]
fn offboard_off_a_terminal_without_yes_sends_nothing() {
    let w = world(1);
    let out = w.offboard(&[]);
    assert_eq!(out.status.code(), Some(exit::INVALID_INPUT));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--yes"), "{stderr}");
    assert_eq!(w.sim.stats().requests, 0);
}

#[test]
fn demo_runs_end_to_end_and_its_verify_passes() {
    let dir = tempfile::tempdir().unwrap();
    let out = handover(&dir)
        .args(["-q", "demo", "--per-kind", "3", "--dir"])
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(exit::OK),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("100 entities checked, 0 not at target"),
        "{stdout}"
    );
    assert!(dir.path().join("demo/demo.plan.journal.jsonl").exists());
}

/// What the departing user holds, entity by entity: (kind, id) → role.
fn held(sim: &SimHandle) -> Vec<(String, String, handover::model::Role)> {
    sim.state()
        .entities
        .iter()
        // Model packages and notebooks are never written: they move with their parent.
        .filter(|e| e.kind.writable())
        .flat_map(|e| {
            e.access
                .iter()
                .filter(|a| a.username == DEPARTING_USERNAME)
                .map(|a| (e.kind.as_str().to_string(), e.id.clone(), a.role.into()))
        })
        .collect()
}

#[test]
fn a_default_offboard_leaves_the_departing_user_nothing_and_keep_other_access_keeps_their_roles() {
    use handover::model::Role;
    for keep in [false, true] {
        let w = world(4);
        let before = w.sim.state();
        let members: Vec<_> = held(&w.sim)
            .into_iter()
            .filter(|(_, _, role)| *role != Role::Owner)
            .collect();
        assert!(!members.is_empty());
        let extra: &[&str] = if keep {
            &["--yes", "--keep-other-access"]
        } else {
            &["--yes"]
        };
        let out = w.offboard(extra);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(exit::OK),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The plan's table and review CSV show the revoke-only changes apart.
        let csv =
            std::fs::read_to_string(w.dir.path().join("offboard-departing_acme.test.plan.csv"))
                .unwrap();
        let revokes = csv.lines().filter(|l| l.contains(",revoke,")).count();
        if keep {
            assert!(!stdout.contains("to revoke"), "{stdout}");
            assert_eq!(revokes, 0);
            assert_eq!(held(&w.sim), members);
        } else {
            assert!(
                stdout.contains(&format!(
                    "{:<34}  to change  to revoke  already done",
                    "type"
                )),
                "{stdout}"
            );
            assert!(
                stdout.contains(&format!(
                    "{:<34}  {:>9}  {:>9}             0        0",
                    "total",
                    4 * handover::model::EntityKind::WRITABLE.len(),
                    members.len()
                )),
                "{stdout}"
            );
            assert_eq!(revokes, members.len(), "{csv}");
            for (kind, id, role) in &members {
                assert!(
                    csv.contains(&format!(",revoke,{DEPARTING_USERNAME},user,{role},NONE,"))
                        && csv.contains(id.as_str()),
                    "{kind} {id}: {csv}"
                );
            }
            assert_eq!(held(&w.sim), Vec::new(), "the departing user holds nothing");
        }
        // The run's page shows the residual its record knows.
        let page = std::fs::read_to_string(
            w.dir
                .path()
                .join("offboard-departing_acme.test.plan.journal.report.html"),
        )
        .unwrap();
        assert!(page.contains("<h2>Residual: 0</h2>"), "{page}");
        assert_eq!(
            page.contains("their other access is kept: <code>--keep-other-access</code>"),
            keep
        );
        // Nobody else's access changed but the successor's.
        let after = w.sim.state();
        for (old, new) in before.entities.iter().zip(&after.entities) {
            let others = |list: &[handover::sim::SnapshotGrant]| {
                let mut v: Vec<_> = list
                    .iter()
                    .filter(|a| {
                        a.username != DEPARTING_USERNAME && a.username != SUCCESSOR_USERNAME
                    })
                    .map(|a| (a.username.clone(), a.role, a.can_share))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(others(&old.access), others(&new.access), "{}", new.id);
        }
        assert!(w.sim.stats().ownerless.is_empty());
    }
}
