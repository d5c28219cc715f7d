//! Shared by the executor's integration tests: a simulator with a client, plans built from
//! what the client reads (as the planner builds them), and checks on the final state.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use handover::api::config::ConnSettings;
use handover::api::{Client, ClientPolicy, RetryPolicy};
use handover::exec::{self, JournalMode, OpenJournal, RunSummary, Settings};
use handover::model::{EntityKind, Role};
use handover::plan::{
    OldOwnerRoleKind, PlanEntry, PlanHeader, PlanReader, PlanWriter, SourceKind, UserIdent,
    offboard_target,
};
use handover::secret::Token;
use handover::sim::{
    ADMIN_USERNAME, DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed,
    Sim, SimConfig, SimHandle, SnapshotEntity, StateSnapshot,
};
use tempfile::TempDir;

/// The tool's id of a simulated entity: a notification policy template's is
/// `<related entity type>:<id>` (its routes need both); every other kind's is its id.
pub fn tool_id(e: &SnapshotEntity) -> String {
    match &e.related_entity_type {
        Some(t) => format!("{t}:{}", e.id),
        None => e.id.clone(),
    }
}

/// The simulator's id of the entity the tool calls `id` (see [`tool_id`]).
pub fn sim_id(kind: impl Into<EntityKind>, id: &str) -> &str {
    kind.into().related_id(id).map_or(id, |(_, raw)| raw)
}

pub struct World {
    pub sim: SimHandle,
    pub client: Client,
    pub dir: TempDir,
}

/// Fast retries (milliseconds, not seconds) so that fault-heavy tests stay quick; a
/// seeded jitter.
pub fn test_policy() -> ClientPolicy {
    ClientPolicy {
        rate_per_sec: 2000.0,
        burst: 50,
        retry: RetryPolicy {
            max_attempts: 10,
            server_error_attempts: 6,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(2),
        },
        jitter_seed: Some(7),
        ..ClientPolicy::default()
    }
}

pub fn client_for(sim: &SimHandle, token: &str, policy: ClientPolicy) -> Client {
    let settings = ConnSettings::new(&sim.endpoint(), Token::new(token), false).unwrap();
    Client::new(settings, policy).unwrap()
}

pub fn generated(seed: u64, per_kind: usize) -> Seed {
    Seed::generate(&GenSpec::uniform(seed, per_kind))
}

pub fn world(seed: Seed) -> World {
    world_as(seed, DEFAULT_ADMIN_TOKEN)
}

pub fn world_as(seed: Seed, token: &str) -> World {
    let sim = Sim::start("127.0.0.1:0".parse().unwrap(), seed, SimConfig::default()).unwrap();
    let client = client_for(&sim, token, test_policy());
    World {
        sim,
        client,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl World {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn user(&self, username: &str) -> UserIdent {
        let state = self.sim.state();
        let u = state.user(username).expect("user in seed");
        UserIdent {
            id: u.id.clone(),
            username: u.username.clone(),
        }
    }

    /// Entities the departing user owns, kind by kind.
    pub fn owned_by_departing(&self) -> Vec<(EntityKind, String, String)> {
        let state = self.sim.state();
        EntityKind::WRITABLE
            .iter()
            .flat_map(|k| state.held_by(*k, DEPARTING_USERNAME, Role::Owner))
            .map(|e| (e.kind.into(), tool_id(e), e.name.clone()))
            .collect()
    }

    /// An offboarding entry from departing to successor, from the access list as the
    /// client reads it now.
    pub async fn offboard_entry(&self, kind: EntityKind, id: &str, name: &str) -> PlanEntry {
        let current = self.client.access_list(kind, id).await.unwrap().grants;
        let target = offboard_target(
            kind,
            &current,
            &self.user(DEPARTING_USERNAME),
            &self.user(SUCCESSOR_USERNAME),
            OldOwnerRoleKind::None,
        );
        PlanEntry::build(kind, id, name, current, target)
    }

    /// The offboarding plan of everything the departing user owns.
    pub async fn offboard_entries(&self) -> Vec<PlanEntry> {
        let mut out = Vec::new();
        for (kind, id, name) in self.owned_by_departing() {
            out.push(self.offboard_entry(kind, &id, &name).await);
        }
        out
    }

    pub fn header(&self, caller: &str) -> PlanHeader {
        PlanHeader::new(
            self.sim.endpoint(),
            self.user(caller),
            SourceKind::Offboard {
                from: vec![self.user(DEPARTING_USERNAME)],
                to: self.user(SUCCESSOR_USERNAME),
                old_owner_role: OldOwnerRoleKind::None,
                types: EntityKind::WRITABLE.to_vec(),
                revoke_other_access: false,
            },
        )
    }

    /// Writes `entries` as a plan file named `name`.
    pub fn write_plan(&self, name: &str, entries: &[PlanEntry]) -> PathBuf {
        self.write_plan_as(name, entries, ADMIN_USERNAME)
    }

    pub fn write_plan_as(&self, name: &str, entries: &[PlanEntry], caller: &str) -> PathBuf {
        let path = self.path(name);
        let mut w = PlanWriter::create(&path, &self.header(caller)).unwrap();
        for e in entries {
            w.write(e).unwrap();
        }
        w.finish().unwrap();
        path
    }

    pub fn open(&self, plan: &Path, journal: &Path) -> Result<OpenJournal, exec::Error> {
        let reader = PlanReader::open(plan).unwrap();
        exec::open_journal(
            journal,
            &reader,
            &plan.display().to_string(),
            self.client.endpoint(),
            JournalMode::CreateOrResume,
        )
    }

    /// Applies `plan` with `journal` through `client` (e.g. one whose counters start at
    /// zero, or with its own retry policy) until done.
    pub async fn apply_with(
        &self,
        client: &Client,
        plan: &Path,
        journal: &Path,
        settings: &Settings,
    ) -> RunSummary {
        let open = self.open(plan, journal).unwrap();
        let reader = PlanReader::open(plan).unwrap();
        exec::run(client, reader, open, settings, std::future::pending())
            .await
            .unwrap()
    }

    /// Applies `plan` with `journal` (created or resumed) until done or `shutdown`.
    pub async fn apply(
        &self,
        plan: &Path,
        journal: &Path,
        settings: &Settings,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> RunSummary {
        let open = self.open(plan, journal).unwrap();
        let reader = PlanReader::open(plan).unwrap();
        exec::run(&self.client, reader, open, settings, shutdown)
            .await
            .unwrap()
    }
}

pub fn settings(concurrency: usize) -> Settings {
    Settings {
        concurrency,
        ..Settings::default()
    }
}

/// username (lowercase) → role.
pub fn roles_in_state(state: &StateSnapshot, kind: EntityKind, id: &str) -> BTreeMap<String, Role> {
    state
        .access(kind, sim_id(kind, id))
        .unwrap_or_default()
        .iter()
        .map(|g| (g.username.to_lowercase(), g.role.into()))
        .collect()
}

/// Every entity's roles: (kind, id) → username (lowercase) → role.
pub fn all_roles(state: &StateSnapshot) -> BTreeMap<(EntityKind, String), BTreeMap<String, Role>> {
    state
        .entities
        .iter()
        .map(|e| {
            let roles = e
                .access
                .iter()
                .map(|g| (g.username.to_lowercase(), g.role.into()))
                .collect();
            ((e.kind.into(), tool_id(e)), roles)
        })
        .collect()
}

pub fn roles_of_target(entry: &PlanEntry) -> BTreeMap<String, Role> {
    entry
        .target
        .iter()
        .map(|g| (g.name.to_lowercase(), g.role))
        .collect()
}

/// Every entry's entity holds exactly its target's principals and roles.
pub fn assert_at_targets(state: &StateSnapshot, entries: &[PlanEntry]) {
    for e in entries {
        assert_eq!(
            roles_in_state(state, e.kind, &e.id),
            roles_of_target(e),
            "{} {} is not at its target",
            e.kind,
            e.id
        );
    }
}

// ---------------------------------------------------------------------------------------
// The real binary, journals as they grow, and what may change on the server.

/// The real binary with nothing from the test's own environment: `HOME` in the test's
/// directory, the simulator's endpoint and the admin token, run in the test's directory.
pub fn handover_cmd(w: &World, args: &[&str]) -> std::process::Command {
    let mut cmd = bare_cmd(w.dir.path());
    cmd.env("DATAROBOT_ENDPOINT", w.sim.endpoint())
        .env("DATAROBOT_API_TOKEN", handover::sim::DEFAULT_ADMIN_TOKEN)
        .args(args);
    cmd
}

/// The real binary with an empty environment but `HOME` in `dir`, run in `dir`: every
/// test that runs the binary starts here, and says what else it sets.
pub fn bare_cmd(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_handover"));
    cmd.env_clear().env("HOME", dir).current_dir(dir);
    cmd
}

/// A finished run of the binary: its exit code and its output as text.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: text(&out.stdout),
            stderr: text(&out.stderr),
        }
    }
}

/// Runs a command to its end off the async runtime (the in-process simulator keeps
/// serving meanwhile).
pub async fn run_to_end(mut cmd: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// stdout or stderr as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Plans the offboarding from departing to successor with `handover plan` (every kind)
/// into `name`, and reads the plan back.
pub async fn plan_with_binary(w: &World, name: &str, concurrency: u32) -> Vec<PlanEntry> {
    let concurrency = concurrency.to_string();
    let out = run_to_end(handover_cmd(
        w,
        &[
            "-q",
            "plan",
            "--from",
            DEPARTING_USERNAME,
            "--to",
            SUCCESSOR_USERNAME,
            "--out",
            name,
            "--rate",
            "10000",
            "--concurrency",
            &concurrency,
        ],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(handover::exit::OK),
        "plan: {}",
        text(&out.stderr)
    );
    PlanReader::open(w.path(name))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Counts the whole lines of a journal while a run appends to it, reading only the bytes
/// added since the last look. A resume cuts a torn last line off; a file that shrank is
/// counted again from the start.
pub struct LineCounter {
    path: PathBuf,
    offset: u64,
    lines: u64,
}

impl LineCounter {
    pub fn new(path: PathBuf) -> LineCounter {
        LineCounter {
            path,
            offset: 0,
            lines: 0,
        }
    }

    /// Whole lines now in the file (0 while it does not exist).
    pub fn lines(&mut self) -> u64 {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return 0;
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.offset = 0;
            self.lines = 0;
        }
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return self.lines;
        }
        let mut new = Vec::new();
        if file.read_to_end(&mut new).is_err() {
            return self.lines;
        }
        // Only up to the last newline: a line being written is not counted (nor skipped).
        if let Some(last) = new.iter().rposition(|b| *b == b'\n') {
            self.lines += new[..=last].iter().filter(|b| **b == b'\n').count() as u64;
            self.offset += last as u64 + 1;
        }
        self.lines
    }
}

/// Every change on the server between `before` and `after` is one the plan asked for:
/// entities outside the plan are exactly as they were (name, creator, every grant), and
/// on a planned entity every principal its request does not name keeps its role and
/// `can_share` (the principals it names are checked against the target elsewhere). Nothing
/// was created or deleted.
pub fn assert_only_planned_changes(
    before: &StateSnapshot,
    after: &StateSnapshot,
    entries: &[PlanEntry],
) {
    assert_eq!(
        before.entities.len(),
        after.entities.len(),
        "entities created or deleted"
    );
    let planned: BTreeMap<(EntityKind, &str), &PlanEntry> = entries
        .iter()
        .map(|e| ((e.kind, e.id.as_str()), e))
        .collect();
    for b in &before.entities {
        let a = after
            .entity(b.kind, &b.id)
            .unwrap_or_else(|| panic!("{} {} deleted", b.kind, b.id));
        // A model package's or notebook's list is its parent's: it changes with it, and
        // the parent is checked.
        if !EntityKind::from(b.kind).is_writable() {
            continue;
        }
        let id = tool_id(b);
        let Some(entry) = planned.get(&(b.kind.into(), id.as_str())) else {
            assert_eq!(a, b, "{} {} is not in the plan but changed", b.kind, b.id);
            continue;
        };
        let named = |username: &str| {
            entry.request.as_ref().is_some_and(|r| {
                r.changes
                    .iter()
                    .any(|c| c.name.eq_ignore_ascii_case(username))
            })
        };
        let untouched = |s: &handover::sim::SnapshotEntity| -> BTreeMap<String, (Role, bool)> {
            s.access
                .iter()
                .filter(|g| !named(&g.username))
                .map(|g| (g.username.to_lowercase(), (g.role.into(), g.can_share)))
                .collect()
        };
        assert_eq!(
            untouched(a),
            untouched(b),
            "{} {}: a principal outside its request changed",
            b.kind,
            b.id
        );
    }
}
