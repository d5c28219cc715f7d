//! Shared by the executor's integration tests: a simulator with a client, plans built from
//! what the client reads (as the planner builds them), and checks on the final state.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use handover::api::{Client, ClientPolicy, RetryPolicy};
use handover::config::ConnSettings;
use handover::exec::{self, JournalMode, OpenJournal, RunSummary, Settings};
use handover::model::{EntityKind, Role};
use handover::plan::{
    OldOwnerRoleKind, PlanEntry, PlanHeader, PlanReader, PlanWriter, SourceKind, UserIdent,
    offboard_target,
};
use handover::secret::Token;
use handover::sim::{
    ADMIN_USERNAME, DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed,
    Sim, SimConfig, SimHandle, StateSnapshot,
};
use tempfile::TempDir;

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
        EntityKind::ALL
            .iter()
            .flat_map(|k| state.held_by(*k, DEPARTING_USERNAME, Role::Owner))
            .map(|e| (e.kind, e.id.clone(), e.name.clone()))
            .collect()
    }

    /// An offboarding entry from departing to successor, from the access list as the
    /// client reads it now.
    pub async fn offboard_entry(&self, kind: EntityKind, id: &str, name: &str) -> PlanEntry {
        let current = self.client.access_list(kind, id).await.unwrap();
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
                types: EntityKind::ALL.to_vec(),
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
        .access(kind, id)
        .unwrap_or_default()
        .iter()
        .map(|g| (g.username.to_lowercase(), g.role))
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
