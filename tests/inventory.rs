//! Issue 13: `inventory` names every entity with its owners and flags exactly the orphans;
//! `plan --orphans` moves exactly the orphans; bad input is one line, exit 2, nothing sent.
//! Expectations come from the simulator's own state, never from the client's reading.

mod exec_support;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use exec_support::{Run, World, all_roles, handover_cmd, run_to_end, world};
use handover::model::{EntityKind, Role};
use handover::sim::{GenSpec, SUCCESSOR_USERNAME, Seed, SnapshotEntity, StateSnapshot};

/// A uniform world with three departed users, three orphans and two half-orphans of
/// every kind.
fn leavers() -> Seed {
    Seed::generate(&GenSpec {
        departed: 3,
        orphans: 3,
        ..GenSpec::uniform(21, 2)
    })
}

type Key = (EntityKind, String);

/// The tool's key of a simulator entity (a policy template's id names its related type).
fn tool_key(e: &SnapshotEntity) -> Key {
    (e.kind.into(), exec_support::tool_id(e))
}

/// Entities whose every owner is deactivated, by the simulator's state.
fn orphans_in(state: &StateSnapshot) -> BTreeSet<Key> {
    let inactive: BTreeSet<&str> = state
        .users
        .iter()
        .filter(|u| !u.active)
        .map(|u| u.username.as_str())
        .collect();
    state
        .entities
        .iter()
        .filter(|e| {
            let owners: Vec<&str> = e
                .access
                .iter()
                .filter(|g| Role::from(g.role) == Role::Owner)
                .map(|g| g.username.as_str())
                .collect();
            // Read-only kinds move with another entity: never orphans to hand over.
            EntityKind::from(e.kind).is_writable()
                && !owners.is_empty()
                && owners.iter().all(|o| inactive.contains(o))
        })
        .map(tool_key)
        .collect()
}

async fn inventory(w: &World, extra: &[&str]) -> Run {
    let mut args = vec!["-q", "inventory", "--out", "inv.csv", "--rate", "10000"];
    args.extend_from_slice(extra);
    Run::from(run_to_end(handover_cmd(w, &args)).await)
}

/// The CSV's rows by (type, id), as header → value maps.
fn rows(w: &World) -> BTreeMap<Key, HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(w.path("inv.csv")).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        [
            "type",
            "id",
            "name",
            "owners",
            "owners_active",
            "members",
            "created"
        ]
    );
    let mut out = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        let row: HashMap<String, String> = header
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_string))
            .collect();
        let key = (row["type"].parse().unwrap(), row["id"].clone());
        assert!(out.insert(key, row).is_none(), "an entity appears twice");
    }
    out
}

fn split(cell: &str) -> Vec<String> {
    cell.split("; ")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn json(w: &World) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(w.path("inv.json")).unwrap()).unwrap()
}

fn json_orphans(v: &serde_json::Value) -> BTreeSet<Key> {
    v["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["type"].as_str().unwrap().parse().unwrap(),
                o["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_names_every_entity_with_its_owners_and_flags_exactly_the_orphans() {
    let w = world(leavers());
    // Deactivated at run time: what only user1 owns becomes orphaned too.
    w.sim.set_active("user1@acme.test", false).unwrap();
    let state = w.sim.state();
    let want_orphans = orphans_in(&state);
    assert!(
        want_orphans.len() > 13 * 3,
        "user1's own entities are orphans too"
    );

    let run = inventory(&w, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    let active: HashMap<&str, bool> = state
        .users
        .iter()
        .map(|u| (u.username.as_str(), u.active))
        .collect();
    let rows = rows(&w);
    assert_eq!(rows.len(), state.entities.len());
    for e in &state.entities {
        let row = rows
            .get(&tool_key(e))
            .unwrap_or_else(|| panic!("no row for {} {}", e.kind, e.id));
        assert_eq!(row["name"], e.name);
        let owners: Vec<&str> = e
            .access
            .iter()
            .filter(|g| Role::from(g.role) == Role::Owner)
            .map(|g| g.username.as_str())
            .collect();
        assert_eq!(split(&row["owners"]), owners, "{} {}", e.kind, e.id);
        let states: Vec<&str> = owners
            .iter()
            .map(|o| if active[o] { "active" } else { "deactivated" })
            .collect();
        assert_eq!(split(&row["owners_active"]), states);
        let members: BTreeSet<String> = e
            .access
            .iter()
            .filter(|g| Role::from(g.role) != Role::Owner)
            .map(|g| format!("{}:{}", g.username, Role::from(g.role)))
            .collect();
        assert_eq!(
            split(&row["members"]).into_iter().collect::<BTreeSet<_>>(),
            members
        );
        // Data sources, data stores and user blueprints are listed without a creation
        // time (contract §4); everything else has one.
        // The §12 kinds' items vary (contract §12.1 names no creation field for most): not
        // checked.
        let kind = EntityKind::from(e.kind);
        let timeless = matches!(
            kind,
            EntityKind::DataSource | EntityKind::DataStore | EntityKind::UserBlueprint
        );
        if EntityKind::ALL[..13].contains(&kind) {
            assert_eq!(row["created"].is_empty(), timeless, "{} {}", e.kind, e.id);
        }
    }
    let flagged: BTreeSet<Key> = rows
        .iter()
        .filter(|(k, r)| {
            k.0.is_writable()
                && split(&r["owners_active"])
                    .iter()
                    .all(|s| s == "deactivated")
        })
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(flagged, want_orphans);

    let v = json(&w);
    assert_eq!(json_orphans(&v), want_orphans);
    // Every kind is listed: the 25 writable ones, and the 2 read-only ones as such.
    for kind in EntityKind::ALL {
        let t = &v["types"][kind.as_str()];
        assert!(
            t["entities"].as_u64().unwrap() > 0,
            "{kind}: {}",
            v["types"]
        );
        assert_eq!(
            t["read_only"].as_bool().unwrap_or(false),
            !kind.is_writable()
        );
    }
    assert!(run.stdout.contains("(read only)"), "{}", run.stdout);
    assert_eq!(v["types"]["project"]["entities"], 2 + 1 + 3 + 2);
    let orphans: u64 = v["types"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t["orphans"].as_u64().unwrap())
        .sum();
    assert_eq!(orphans as usize, want_orphans.len());
    // Per-user counts, from the state.
    let owned_by = |name: &str| {
        state
            .entities
            .iter()
            .filter(|e| state.owners(e.kind, &e.id).contains(&name))
            .count() as u64
    };
    for name in [
        "departed1@acme.test",
        "departing@acme.test",
        "user1@acme.test",
    ] {
        assert_eq!(v["users"][name]["owned"], owned_by(name), "{name}");
    }
    assert_eq!(v["users"]["user1@acme.test"]["active"], false);
    assert_eq!(v["users_listed"], true);
    // The terminal: the table, top owners, the orphans by type.
    assert!(run.stdout.contains("top owners:"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "orphans (every owner deactivated): {}",
            want_orphans.len()
        )),
        "{}",
        run.stdout
    );
    // Read only.
    assert_eq!(w.sim.stats().total_writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_of_one_user_holds_what_their_leaving_would_touch() {
    let w = world(leavers());
    let state = w.sim.state();
    let who = "user2@acme.test";
    let want: BTreeSet<Key> = state
        .entities
        .iter()
        .filter(|e| e.access.iter().any(|g| g.username == who))
        .map(|e| (e.kind.into(), e.id.clone()))
        .collect();
    assert!(!want.is_empty());
    let run = inventory(&w, &["--user", "USER2@acme.test"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let rows = rows(&w);
    assert_eq!(rows.keys().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(json(&w)["user"], who, "the user as users/ spells them");

    // --types narrows it further.
    let run = inventory(&w, &["--user", who, "--types", "project"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let projects: BTreeSet<Key> = want
        .into_iter()
        .filter(|(k, _)| *k == EntityKind::Project)
        .collect();
    assert_eq!(rows_keys(&w), projects);
}

fn rows_keys(w: &World) -> BTreeSet<Key> {
    rows(w).into_keys().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_may_not_list_users_is_told_what_cannot_be_seen() {
    let w = world(leavers());
    let token = handover::sim::default_token("user3@acme.test");
    let mut cmd = handover_cmd(&w, &["-q", "inventory", "--out", "inv.csv"]);
    cmd.env("DATAROBOT_API_TOKEN", &token);
    let run = Run::from(run_to_end(cmd).await);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("note: the caller is not an organization administrator"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("orphans cannot be told"),
        "{}",
        run.stdout
    );
    let v = json(&w);
    assert_eq!(v["users_listed"], false);
    assert!(json_orphans(&v).is_empty());
    // Whatever it could see, with the owners' states unknown.
    let rows = rows(&w);
    assert!(!rows.is_empty());
    assert!(
        rows.values()
            .flat_map(|r| split(&r["owners_active"]))
            .all(|s| s == "unknown")
    );
}

/// Runs `plan --orphans` with `extra`, applies the plan, and returns the state before and
/// after and the plan's run output.
async fn orphans_moved(w: &World, extra: &[&str]) -> (StateSnapshot, StateSnapshot) {
    let before = w.sim.state();
    let mut args = vec![
        "-q",
        "plan",
        "--orphans",
        "--to",
        SUCCESSOR_USERNAME,
        "--out",
        "orphans.jsonl",
    ];
    args.extend_from_slice(extra);
    let run = Run::from(run_to_end(handover_cmd(w, &args)).await);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let run = Run::from(run_to_end(handover_cmd(w, &["-q", "apply", "orphans.jsonl"])).await);
    let refused: Vec<String> = std::fs::read_to_string(w.path("orphans.journal.report.csv"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("refused"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        run.code,
        Some(0),
        "{}{}{refused:#?}",
        run.stdout,
        run.stderr
    );
    // Model packages and notebooks are read, never written.
    for route in w.sim.stats().by_route.keys() {
        assert!(
            !(route.starts_with("PATCH")
                && (route.contains("modelPackages") || route.contains("notebooks"))),
            "{route}"
        );
    }
    (before, w.sim.state())
}

/// Every entity in `moved` went to the successor and lost its deactivated owners (or kept
/// them, with `keep`); every other entity is exactly as it was.
fn assert_only_orphans_moved(
    before: &StateSnapshot,
    after: &StateSnapshot,
    moved: &BTreeSet<Key>,
    keep: bool,
) {
    let inactive: BTreeSet<&str> = before
        .users
        .iter()
        .filter(|u| !u.active)
        .map(|u| u.username.as_str())
        .collect();
    let (was, now) = (all_roles(before), all_roles(after));
    for (key, roles) in &was {
        // A read-only kind shows its parent's list (contract §12.2): never written, it
        // follows the use case or registered model it lives in.
        if !key.0.is_writable() {
            continue;
        }
        let got = &now[key];
        if !moved.contains(key) {
            assert_eq!(got, roles, "{key:?} changed but is not a moved orphan");
            continue;
        }
        let mut want = roles.clone();
        for (name, role) in roles {
            if *role == Role::Owner && inactive.contains(name.as_str()) && !keep {
                want.remove(name);
            }
        }
        want.insert(SUCCESSOR_USERNAME.to_string(), Role::Owner);
        assert_eq!(got, &want, "{key:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_orphans_moves_exactly_the_orphans() {
    let w = world(leavers());
    w.sim.set_active("user1@acme.test", false).unwrap();
    let orphans = orphans_in(&w.sim.state());
    let (before, after) = orphans_moved(&w, &[]).await;
    assert_only_orphans_moved(&before, &after, &orphans, false);
    assert!(orphans_in(&after).is_empty());
    // The deactivated users' other roles, and the half-orphans, are untouched (checked
    // above); a second plan finds nothing.
    let run = Run::from(
        run_to_end(handover_cmd(
            &w,
            &[
                "plan",
                "--orphans",
                "--to",
                SUCCESSOR_USERNAME,
                "--out",
                "again.jsonl",
            ],
        ))
        .await,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("(0 entities;"), "{}", run.stdout);
}

/// A server that will not remove a deactivated user's access (contract §11 leaves it
/// open): every orphan still gets its new owner, in the same entity's turn, and is
/// recorded partial; nothing else changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_on_a_server_that_keeps_deactivated_users_get_their_owner_all_the_same() {
    let w = world(leavers());
    w.sim.set_config(handover::sim::SimConfig {
        inactive_revoke: handover::sim::InactiveRevokeKind::Refuse,
        ..handover::sim::SimConfig::default()
    });
    let orphans = orphans_in(&w.sim.state());
    let before = w.sim.state();
    let args = [
        "-q",
        "plan",
        "--orphans",
        "--to",
        SUCCESSOR_USERNAME,
        "--out",
        "orphans.jsonl",
    ];
    let run = Run::from(run_to_end(handover_cmd(&w, &args)).await);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let run = Run::from(run_to_end(handover_cmd(&w, &["-q", "apply", "orphans.jsonl"])).await);
    assert_eq!(
        run.code,
        Some(3),
        "partial entities need attention: {}",
        run.stdout
    );
    let after = w.sim.state();
    // Kept as co-owners: the deactivated owners stay, the successor joins them.
    assert_only_orphans_moved(&before, &after, &orphans, true);
    let run = Run::from(
        run_to_end(handover_cmd(
            &w,
            &["status", "--journal", "orphans.journal.jsonl", "--json"],
        ))
        .await,
    );
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        status["counts"]["partial"].as_u64(),
        Some(orphans.len() as u64),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_orphans_combines_with_types_only_ids_exclude_and_old_owner_role() {
    let w = world(leavers());
    let state = w.sim.state();
    let orphans = orphans_in(&state);
    let of = |kind: EntityKind| -> Vec<&Key> { orphans.iter().filter(|k| k.0 == kind).collect() };
    let (projects, deployments) = (of(EntityKind::Project), of(EntityKind::Deployment));
    // Projects and deployments only; of those, one project excluded, and one deployment
    // left out by --only-ids (which also names a dataset orphan, not of the types).
    let only: Vec<String> = projects
        .iter()
        .chain(deployments.iter().skip(1))
        .chain(of(EntityKind::Dataset).iter().take(1))
        .map(|(k, id)| format!("{k},{id}"))
        .collect();
    std::fs::write(w.path("only.txt"), only.join("\n") + "\n").unwrap();
    std::fs::write(w.path("exclude.txt"), format!("{}\n", projects[0].1)).unwrap();
    let (before, after) = orphans_moved(
        &w,
        &[
            "--types",
            "project,deployment",
            "--only-ids",
            "only.txt",
            "--exclude",
            "exclude.txt",
            "--old-owner-role",
            "owner",
        ],
    )
    .await;
    let moved: BTreeSet<Key> = projects
        .iter()
        .skip(1)
        .chain(deployments.iter().skip(1))
        .map(|k| (*k).clone())
        .collect();
    assert_eq!(moved.len(), 4);
    assert_only_orphans_moved(&before, &after, &moved, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_one_line_exit_2_and_nothing_sent() {
    let w = world(leavers());
    std::fs::write(
        w.path("map.csv"),
        "from,to\ndeparting@acme.test,successor@acme.test\n",
    )
    .unwrap();
    let cases: [(&[&str], &str); 8] = [
        (
            &[
                "plan",
                "--orphans",
                "--from",
                "departing@acme.test",
                "--to",
                SUCCESSOR_USERNAME,
                "--out",
                "p.jsonl",
            ],
            "'--orphans' cannot be used with '--from",
        ),
        (
            &["plan", "--orphans", "--map", "map.csv", "--out", "p.jsonl"],
            "cannot be used with",
        ),
        (
            &[
                "offboard",
                "--orphans",
                "--from",
                "departing@acme.test",
                "--to",
                SUCCESSOR_USERNAME,
                "--yes",
            ],
            "'--orphans' cannot be used with '--from",
        ),
        (
            &[
                "plan",
                "--orphans",
                "--to",
                "inactive@acme.test",
                "--out",
                "p.jsonl",
            ],
            "--to inactive@acme.test: the user is not active",
        ),
        (
            &[
                "plan",
                "--orphans",
                "--to",
                SUCCESSOR_USERNAME,
                "--old-owner-role",
                "editor",
                "--out",
                "p.jsonl",
            ],
            "the owners of orphans are deactivated",
        ),
        (
            &[
                "inventory",
                "--user",
                "nobody@acme.test",
                "--out",
                "inv.csv",
            ],
            "--user nobody@acme.test: no such user",
        ),
        (
            &["inventory", "--out", "no/such/dir/inv.csv"],
            "--out no/such/dir/inv.csv: cannot write",
        ),
        (
            &["inventory", "--out", "inv.json"],
            "--out inv.json: cannot write",
        ),
    ];
    for (args, want) in cases {
        let before = w.sim.stats();
        let run = Run::from(run_to_end(handover_cmd(&w, args)).await);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("handover: error: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(want), "{args:?}: {}", run.stderr);
        let after = w.sim.stats();
        assert_eq!(after.total_writes(), before.total_writes(), "{args:?}");
        // What needs no server is refused before connecting.
        if want.contains("cannot") || want.contains("deactivated") {
            assert_eq!(after.requests, before.requests, "{args:?} sent requests");
        }
    }
    assert!(!w.path("inv.csv").exists());
    assert!(!w.path("p.jsonl").exists());
}
