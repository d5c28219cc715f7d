//! Rollback: undoing what a run did, from its journal.
//!
//! A rollback is a run of its own. It reads the journal of the run to undo (the *source*
//! journal), turns it into a plan (the *rollback plan*, `ROLLBACK.plan.jsonl` with its
//! review CSV beside it) and applies that plan through the executor with a journal of its
//! own, whose header says `rollback`. So it has every guarantee an apply has (one request
//! per entity, durable intents, drift guard, read-back, resume) and can itself be undone.
//!
//! For every entity the source run wrote (it has an intent), the plan entry is
//!
//! - `current`: the access list the run left, as it recorded it (the outcome's read-back,
//!   or, without one, the list before the last write with that write's changes applied);
//!   or, with `force`, or where the journal cannot say whether the write landed (an intent
//!   without an outcome, a failed write), the live list read now;
//! - `target`: `current`, with every principal the run's requests named put back as the
//!   journal recorded it before the first write ([`Replay::first_before`]): its role and
//!   `can_share` restored, or removed if it had no access. Nobody else is touched.
//!
//! The executor then does the rest. An entity whose touched principals changed since the
//! run (someone else changed it) no longer matches `current` on them and is left alone as
//! `drifted`, unless the plan was made with `force` from the live list. Principals the run
//! did not name may have changed meanwhile; they keep what they have now, as in an apply.
//! The one request per entity puts grants before revokes, and a target without an owner is
//! refused, so no entity is ever left without one: the old owner comes back before the new
//! one goes.
//!
//! Resuming: while the rollback journal exists, its own plan is run again (the executor
//! skips what is settled), as long as the source journal is still the one it was planned
//! from: the plan records the source journal's digest. The source journal is locked for
//! the whole rollback, so the run it records cannot be resumed meanwhile; but between two
//! rollbacks it can be, and then it holds writes the first rollback never planned. A
//! rollback journal whose plan was made from other bytes of the source journal is left as
//! it is, and the rollback is planned again from the whole source journal, into the next
//! *generation* of the rollback journal ([`rollback_generation`]: `run.rollback.jsonl`,
//! then `run.rollback.2.jsonl`, …; the same command line finds the latest). Planning again
//! from the start is safe: an entity the earlier rollback already restored is found at its
//! target by the executor (`already_done`), and one it left half-way is judged by the live
//! list like any other.

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use futures::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::api::config::same_endpoint;
use crate::api::{ApiError, Client, ErrorClass};
use crate::exec::{self, JournalMode, OpenJournal, RunSummary, apply_changes};
use crate::exit;
use crate::journal::{self, EntityReplay, EntityState, Journal, OutcomeKind, PurposeKind, Replay};
use crate::model::{DialectKind, EntityKind, Grant, Role, WriteSemanticsKind, is_revoke_name};
use crate::plan::{
    self, Change, PlanEntry, PlanHeader, PlanReader, PlanWriter, RefusalKind, SourceKind,
    UserIdent, WrittenPlan, same_principal,
};

/// What stops a rollback before or outside the per-entity flow.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source or the rollback journal cannot be opened, locked, read or written.
    #[error(transparent)]
    Journal(#[from] journal::Error),
    /// The rollback plan cannot be written or read.
    #[error(transparent)]
    Plan(#[from] plan::Error),
    /// The executor refused to start, or the journal failed mid-run.
    #[error(transparent)]
    Exec(#[from] exec::Error),
    /// Reading the live access lists failed in a way that is not about one entity.
    #[error("reading the live access lists stopped")]
    Api(#[from] ApiError),
    /// The source run was made against another DataRobot.
    #[error("journal {} was written against {journal}, not {endpoint}", path.display())]
    EndpointMismatch {
        path: PathBuf,
        journal: String,
        endpoint: String,
    },
    /// The rollback journal was given the source journal's path.
    #[error("the rollback journal {} is the journal it would roll back", path.display())]
    SameJournal { path: PathBuf },
    /// An existing rollback journal undoes another run.
    #[error("rollback journal {} rolls back {undoes}, not {}", path.display(), source_journal.display())]
    OtherSource {
        path: PathBuf,
        undoes: String,
        source_journal: PathBuf,
    },
}

impl Error {
    /// The exit code: bad or mismatched files are invalid input (nothing was sent); the
    /// rest as their source says.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Journal(e) => e.exit_code(),
            Error::Plan(e) => e.exit_code(),
            Error::Exec(e) => e.exit_code(),
            Error::Api(e) => e.exit_code(),
            Error::EndpointMismatch { .. }
            | Error::SameJournal { .. }
            | Error::OtherSource { .. } => exit::INVALID_INPUT,
        }
    }

    /// This error wrapped so that `main` exits with [`Error::exit_code`].
    pub fn coded(self) -> anyhow::Error {
        exit::with_code(self.exit_code(), self)
    }
}

/// The default rollback journal for the run journaled in `journal`: beside it, its name
/// with `.rollback.jsonl` (`run.jsonl` → `run.rollback.jsonl`), or `.rollback-force.jsonl`
/// with `force`. A forced rollback gets a journal of its own so that forcing after a
/// rollback that left entities drifted starts afresh, and each is resumed by repeating
/// its own command line.
pub fn default_rollback_journal(journal: &Path, force: bool) -> PathBuf {
    let stem = journal.file_stem().unwrap_or_default().to_string_lossy();
    let suffix = if force { "rollback-force" } else { "rollback" };
    journal.with_file_name(format!("{stem}.{suffix}.jsonl"))
}

/// The rollback plan of the rollback journal `rollback_journal`: beside it, its name with
/// `.plan.jsonl` (`run.rollback.jsonl` → `run.rollback.plan.jsonl`, and the review CSV
/// `run.rollback.plan.csv`).
pub fn rollback_plan_path(rollback_journal: &Path) -> PathBuf {
    let stem = rollback_journal
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy();
    rollback_journal.with_file_name(format!("{stem}.plan.jsonl"))
}

/// The `n`th generation of the rollback journal `base` (`n` from 1): `base` itself, then
/// its name with `.2`, `.3`, … before the extension (`run.rollback.jsonl` →
/// `run.rollback.2.jsonl`). A new generation is started when the source journal has grown
/// since the latest one was planned (see the module's doc).
pub fn rollback_generation(base: &Path, n: u32) -> PathBuf {
    if n <= 1 {
        return base.to_path_buf();
    }
    let stem = base.file_stem().unwrap_or_default().to_string_lossy();
    match base.extension() {
        Some(ext) => base.with_file_name(format!("{stem}.{n}.{}", ext.to_string_lossy())),
        None => base.with_file_name(format!("{stem}.{n}")),
    }
}

/// `sha256:` of a file's bytes, read in one streaming pass.
fn file_digest(path: &Path) -> Result<String, journal::Error> {
    let read = |source| journal::Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(|source| journal::Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::with_capacity(1 << 18, file);
    let mut hasher = Sha256::new();
    loop {
        let buf = reader.fill_buf().map_err(read)?;
        if buf.is_empty() {
            break;
        }
        hasher.update(buf);
        let n = buf.len();
        reader.consume(n);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// How the source run ended for one entity it wrote.
#[derive(Clone, Debug, PartialEq)]
pub enum WrittenEnd {
    /// The last write succeeded (a `partial` entity's too: the write sent again without
    /// the inactive users' changes); `after` is the list read back, if it was.
    Succeeded { after: Option<Vec<Grant>> },
    /// The journal cannot say whether the last write landed: an intent without an outcome
    /// (the run died or is still going), or an outcome other than success after an intent
    /// (a write whose answer was lost, a read-back that did not match). `outcome` is
    /// `None` for an intent in flight.
    Unconfirmed { outcome: Option<OutcomeKind> },
}

/// What the source run did to one entity, as its journal records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    pub kind: EntityKind,
    pub id: String,
    /// The access list before the run first wrote the entity: what a rollback restores.
    pub before: Vec<Grant>,
    /// For kinds that receive linked grants (data stores, datasets): the access list the
    /// source run's plan read, before any of its writes, when that plan is at hand.
    /// `before` is read just before the entity's own first write, after the run may have
    /// shared a linked data source or custom model, which makes its recipients CONSUMER
    /// here (contract C7): the plan's read tells that side effect from access held before.
    pub plan_read: Option<Vec<Grant>>,
    /// Principals the run gave a role on an entity whose share grants linked access.
    pub linked_grantees: Vec<Grant>,
    /// `before` is the plan's read, not a read just before the write (`offboard
    /// --max-read-age`, the intent's `on_plan_read`): nobody saw the entity as it was when
    /// the write went out.
    pub before_on_plan_read: bool,
    /// Every principal the run's requests for the entity named (roles meaningless).
    pub principals: Vec<Grant>,
    /// The access list just before the last write.
    pub last_before: Vec<Grant>,
    /// The last write's changes, read back from the request body it journaled.
    pub last_changes: Vec<Change>,
    pub end: WrittenEnd,
}

impl Written {
    /// The list the run left, as far as the journal knows it: the read-back, else the
    /// list before the last write with that write applied.
    pub fn expected_after(&self) -> Vec<Grant> {
        match &self.end {
            WrittenEnd::Succeeded { after: Some(after) } => after.clone(),
            _ => apply_changes(self.kind, &self.last_before, &self.last_changes),
        }
    }
}

/// An intent line, as much as the pass over the source journal needs of it: its access
/// list is left unread (the lists are read again by offset, one entity at a time).
#[derive(Deserialize)]
struct IntentLine {
    #[serde(rename = "type")]
    ty: String,
    kind: Option<EntityKind>,
    id: Option<String>,
    request: Option<Value>,
    /// Read only to tell a replace-semantics body's unchanged entries from its changes.
    #[serde(default)]
    before: Vec<Grant>,
}

/// One entity the source run wrote, as [`SourceRun`] keeps it while the rollback plan is
/// written: where its last intent is and whom its requests named, never an access list.
struct Slot<'r> {
    kind: EntityKind,
    id: &'r str,
    entry: &'r EntityReplay,
    /// Offset and length of its last intent's line, once the pass has seen one.
    last_intent: Option<(u64, NonZeroU32)>,
    /// Every principal its requests named, in the order first named, as indexes into
    /// [`SourceRun::principals`]: the same few principals recur across entities.
    principals: Box<[u32]>,
    /// Its display name in the source run's plan, where known.
    name: Option<Box<str>>,
    /// Its access list as the source run's plan read it, for kinds that receive linked
    /// grants only (see [`Written::plan_read`]).
    plan_read: Option<Box<[Grant]>>,
}

/// The order of a rollback plan: entities that receive linked grants (data stores,
/// datasets) last, then by kind and id. The executor starts them once every share before
/// them has ended, so that restoring the departing user's role on a data source or custom
/// model (which makes them CONSUMER of the linked one, contract C7) comes before the linked
/// entity is restored and checked.
fn order(kind: EntityKind, id: &str) -> (bool, EntityKind, &str) {
    (kind.receives_linked_grants(), kind, id)
}

/// The journal of the run to undo, read for its rollback: every entity it wrote (it has an
/// intent), by kind then id (data stores and datasets last, see [`order`]), with where its last intent is and whom its requests named.
/// [`SourceRun::written`] reads one entity's access lists back from the journal when it is
/// asked, so memory grows with the replay's summaries, not with the lists.
pub struct SourceRun<'r> {
    replay: &'r Replay,
    slots: Vec<Slot<'r>>,
    /// Every distinct principal the requests named, as [`as_grant`] makes it.
    principals: Vec<Grant>,
    /// The principals (indexes into `principals`) the run gave a role on an entity whose
    /// share grants access to linked ones (contract C7): who may have become CONSUMER of
    /// a data store or dataset as a side effect.
    linked_grantees: Vec<u32>,
    digest: String,
}

impl std::fmt::Debug for SourceRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRun")
            .field("journal", &self.replay.path())
            .field("written", &self.slots.len())
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl<'r> SourceRun<'r> {
    /// Reads the journal at `path`, which `replay` is the replay of, in one streaming pass:
    /// the replay gives each entity's state and its first before-state and read-back; this
    /// pass adds the principals of every request body, which a replay does not keep, where
    /// each entity's last intent is, and `sha256:` of the journal's bytes.
    pub fn read(path: &Path, replay: &'r Replay) -> Result<SourceRun<'r>, journal::Error> {
        let mut slots: Vec<Slot<'r>> = replay
            .entities()
            .filter(|(_, _, e)| e.wrote())
            .map(|(kind, id, entry)| Slot {
                kind,
                id,
                entry,
                last_intent: None,
                principals: Box::default(),
                name: None,
                plan_read: None,
            })
            .collect();
        slots.sort_unstable_by(|a, b| order(a.kind, a.id).cmp(&order(b.kind, b.id)));
        let mut source = SourceRun {
            replay,
            slots,
            principals: Vec::new(),
            linked_grantees: Vec::new(),
            digest: String::new(),
        };

        let file = File::open(path).map_err(|source| journal::Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = BufReader::with_capacity(1 << 18, file);
        let mut hasher = Sha256::new();
        let mut interned: HashMap<(String, Option<String>, String, Role), u32> = HashMap::new();
        let mut buf = Vec::new();
        let mut line = 0u64;
        let mut offset = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|source| journal::Error::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            let at = offset;
            offset += n as u64;
            line += 1;
            hasher.update(&buf);
            // The header is the replay's business; a line without its newline is a torn
            // tail the replay left out too.
            if line == 1 || buf.last() != Some(&b'\n') {
                continue;
            }
            let parsed: IntentLine =
                serde_json::from_slice(&buf).map_err(|source| journal::Error::Corrupt {
                    path: path.to_path_buf(),
                    line,
                    source,
                })?;
            let (true, Some(kind), Some(id)) = (parsed.ty == "intent", parsed.kind, parsed.id)
            else {
                continue;
            };
            let Ok(i) = source.find(kind, &id) else {
                continue;
            };
            let Some(len) = u32::try_from(n).ok().and_then(NonZeroU32::new) else {
                return Err(journal::Error::Misplaced {
                    path: path.to_path_buf(),
                    line,
                    problem: "a record longer than 4 GiB",
                });
            };
            let changes = parsed
                .request
                .as_ref()
                .map(|body| changes_of_intent(kind, body, &parsed.before))
                .unwrap_or_default();
            let principals = &mut source.principals;
            let slot = &mut source.slots[i];
            slot.last_intent = Some((at, len));
            for change in &changes {
                let who = as_grant(change);
                if slot
                    .principals
                    .iter()
                    .any(|&p| same_principal(&principals[p as usize], &who))
                {
                    continue;
                }
                let key = (
                    who.recipient_type.clone(),
                    who.id.clone(),
                    who.name.clone(),
                    who.role,
                );
                let index = *interned.entry(key).or_insert_with(|| {
                    principals.push(who);
                    // More distinct principals than u32 can count would not fit in memory.
                    u32::try_from(principals.len() - 1).unwrap_or(u32::MAX)
                });
                if kind.grants_linked_access()
                    && change.role.is_some()
                    && !source.linked_grantees.contains(&index)
                {
                    source.linked_grantees.push(index);
                }
                let mut named = std::mem::take(&mut slot.principals).into_vec();
                named.push(index);
                slot.principals = named.into_boxed_slice();
            }
        }
        source.digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        Ok(source)
    }

    /// `sha256:` of the journal's bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// How many entities the run wrote.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the run wrote no entity.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The `i`th written entity's kind and id (by kind then id).
    pub fn key(&self, i: usize) -> (EntityKind, &'r str) {
        (self.slots[i].kind, self.slots[i].id)
    }

    /// The `i`th written entity's state in the journal.
    pub fn state(&self, i: usize) -> &'r EntityState {
        &self.slots[i].entry.state
    }

    /// The `i`th written entity's display name in the source run's plan ("" unknown).
    fn name(&self, i: usize) -> &str {
        self.slots[i].name.as_deref().unwrap_or("")
    }

    /// What this rollback cannot undo of the run's side effects (contract C7), from what
    /// the run wrote; `None` when it wrote no entity whose share grants linked access.
    pub fn side_effects(&self) -> Option<SideEffects> {
        let shared: Vec<(EntityKind, String)> = self
            .slots
            .iter()
            .filter(|s| s.kind.grants_linked_access())
            .map(|s| (s.kind, s.id.to_string()))
            .collect();
        if shared.is_empty() {
            return None;
        }
        let plan_read_missing = self
            .slots
            .iter()
            .any(|s| s.kind.receives_linked_grants() && s.plan_read.is_none());
        Some(SideEffects {
            shared,
            plan_read_missing,
        })
    }

    /// Where `(kind, id)` is among the written entities.
    fn find(&self, kind: EntityKind, id: &str) -> Result<usize, usize> {
        self.slots
            .binary_search_by(|s| order(s.kind, s.id).cmp(&order(kind, id)))
    }

    /// What the run did to the `i`th written entity, its access lists read back from the
    /// journal now (the first intent's, the last intent's and the outcome's lines).
    pub fn written(&self, i: usize) -> Result<Written, journal::Error> {
        let slot = &self.slots[i];
        let (kind, id) = (slot.kind, slot.id);
        let (before, before_on_plan_read) = match self.replay.first_intent(kind, id)? {
            Some(first) => (first.before, first.on_plan_read),
            None => (Vec::new(), false),
        };
        let end = match &slot.entry.state {
            // A partial entity's last write (the one without the inactive users) succeeded
            // too: its read-back is what the run left.
            EntityState::Done { outcome }
                if matches!(
                    outcome.outcome,
                    OutcomeKind::Succeeded | OutcomeKind::Partial
                ) =>
            {
                WrittenEnd::Succeeded {
                    after: self.replay.outcome_after(kind, id)?,
                }
            }
            EntityState::Done { outcome } => WrittenEnd::Unconfirmed {
                outcome: Some(outcome.outcome),
            },
            EntityState::InFlight => WrittenEnd::Unconfirmed { outcome: None },
        };
        let (last_before, last_changes) = match slot.last_intent {
            Some((offset, len)) => {
                let intent = self.replay.intent_at(kind, id, offset, len)?;
                let changes = changes_of_intent(kind, &intent.request, &intent.before);
                (intent.before, changes)
            }
            None => (Vec::new(), Vec::new()),
        };
        let linked_grantees = match kind.receives_linked_grants() {
            true => self
                .linked_grantees
                .iter()
                .map(|&p| self.principals[p as usize].clone())
                .collect(),
            false => Vec::new(),
        };
        Ok(Written {
            kind,
            id: id.to_string(),
            before,
            plan_read: slot.plan_read.as_deref().map(<[Grant]>::to_vec),
            linked_grantees,
            before_on_plan_read,
            principals: slot
                .principals
                .iter()
                .map(|&p| self.principals[p as usize].clone())
                .collect(),
            last_before,
            last_changes,
            end,
        })
    }

    /// Takes the written entities' display names from the source run's plan, when it is
    /// where its journal says and is the same plan, and the plan's read of those that
    /// receive linked grants ([`Written::plan_read`]); leaves them unknown otherwise.
    fn read_names(&mut self, journal: &Path) {
        let header = self.replay.header();
        let path = resolve_recorded(journal, &header.plan);
        let plan = match PlanReader::open(&path) {
            Ok(plan) if plan.digest() == header.plan_digest => plan,
            Ok(_) => {
                tracing::debug!(plan = %path.display(), "not the journal's plan; names left out");
                return;
            }
            Err(e) => {
                tracing::debug!(plan = %path.display(), error = %e, "plan not readable; names left out");
                return;
            }
        };
        for entry in plan.filter_map(Result::ok) {
            if let Ok(i) = self.find(entry.kind, &entry.id) {
                let slot = &mut self.slots[i];
                slot.name = Some(entry.name.into_boxed_str());
                if entry.kind.receives_linked_grants() {
                    slot.plan_read = Some(entry.current.into_boxed_slice());
                }
            }
        }
    }
}

/// The changes a journaled intent made: its body's ([`changes_of_body`]), less, on a
/// replace-semantics kind, the entries that only re-send a principal's access as it was
/// (`before`): such a body carries the whole list (`api::wire_request`), and a principal
/// it did not change is not the run's to restore.
pub fn changes_of_intent(kind: EntityKind, body: &Value, before: &[Grant]) -> Vec<Change> {
    let mut changes = changes_of_body(kind, body);
    if kind.semantics() == WriteSemanticsKind::Replace {
        changes.retain(|c| {
            let Some(role) = c.role else { return true };
            !before
                .iter()
                .any(|g| same_principal(g, &as_grant(c)) && g.role == role)
        });
    }
    changes
}

/// What a rollback cannot undo of the side effects of the run's shares (contract C7): a
/// share of a data source makes its recipients CONSUMER of its data store, a share of a
/// custom model or task makes them CONSUMER of its training data. Where the run also wrote
/// that data store or dataset, the rollback restores it as the run's plan read it (see
/// [`Written::plan_read`]); where it did not, the journal holds no list of it from before
/// the run, and the link itself is not in the journal: the CONSUMER role the run's share
/// gave there stays, and this rollback's own shares (the departing user made owner again)
/// may give one the same way. Said in the rollback's output, with the entities to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SideEffects {
    /// The written entities whose share grants linked access, by kind then id.
    pub shared: Vec<(EntityKind, String)>,
    /// The run's plan is not at hand, so a CONSUMER role on a data store or dataset the
    /// run also wrote cannot be told from access held before the run either.
    pub plan_read_missing: bool,
}

impl SideEffects {
    /// The note for people: what was shared, what may be left, what to check.
    pub fn render(&self) -> String {
        const SHOWN: usize = 10;
        let mut names: Vec<String> = self
            .shared
            .iter()
            .take(SHOWN)
            .map(|(kind, id)| format!("{kind} {id}"))
            .collect();
        if self.shared.len() > SHOWN {
            names.push(format!("and {} more", self.shared.len() - SHOWN));
        }
        let mut out = format!(
            "the run shared {} data sources, custom models or tasks, whose shares also make \
             their recipients CONSUMER of the linked data store or training data (contract \
             C7). Where the run did not write that data store or dataset, rollback cannot \
             tell such a role from access held before and leaves it, and its own shares may \
             make the people it restores CONSUMER there the same way: check the data stores \
             and datasets linked to {}",
            self.shared.len(),
            names.join(", ")
        );
        if self.plan_read_missing {
            out.push_str(
                ". The run's plan is not where its journal says, so the same holds for the \
                 data stores and datasets it wrote",
            );
        }
        out
    }
}

/// The changes a journaled share body carries, read back from either dialect. Lenient:
/// entries it cannot read are left out, and a body of another shape gives none.
pub fn changes_of_body(kind: EntityKind, body: &Value) -> Vec<Change> {
    let text = |item: &Value, key: &str| {
        item.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let role_of = |item: &Value| -> Option<Option<Role>> {
        match item.get("role") {
            Some(Value::Null) | None => Some(None),
            Some(Value::String(name)) if is_revoke_name(name) => Some(None),
            Some(Value::String(name)) => Role::from_wire(name).map(Some),
            Some(_) => None,
        }
    };
    let can_share = |item: &Value| item.get("canShare").and_then(Value::as_bool);
    match kind.dialect() {
        DialectKind::AccessControl => {
            let items = [kind.ac_body_key(), "data", "users"]
                .iter()
                .find_map(|key| body.get(*key).and_then(Value::as_array));
            items
                .into_iter()
                .flatten()
                .filter_map(|item| {
                    let role = role_of(item)?;
                    Some(Change {
                        recipient_type: "user".to_string(),
                        id: None,
                        name: text(item, "username")?,
                        role,
                        can_share: role.and(can_share(item)),
                    })
                })
                .collect()
        }
        DialectKind::SharedRoles => body
            .get("roles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let role = role_of(item)?;
                let id = text(item, "id");
                let name = text(item, "username").or_else(|| text(item, "name"));
                if id.is_none() && name.is_none() {
                    return None;
                }
                Some(Change {
                    recipient_type: text(item, "shareRecipientType")
                        .unwrap_or_else(|| "user".to_string()),
                    id,
                    name: name.unwrap_or_default(),
                    role,
                    can_share: role.and(can_share(item)),
                })
            })
            .collect(),
    }
}

/// The principal a change names, as a grant, for [`same_principal`].
fn as_grant(change: &Change) -> Grant {
    Grant {
        recipient_type: change.recipient_type.clone(),
        id: change.id.clone(),
        name: change.name.clone(),
        role: change.role.unwrap_or(Role::Consumer),
        can_share: None,
    }
}

/// Fills in a principal's id or name from the first list that knows it: request bodies
/// name a principal one way (username, or id), access lists both.
fn complete(who: &mut Grant, known: &[&[Grant]]) {
    if who.id.is_some() && !who.name.is_empty() {
        return;
    }
    if let Some(g) = known
        .iter()
        .flat_map(|list| list.iter())
        .find(|g| same_principal(g, who))
    {
        if who.id.is_none() {
            who.id = g.id.clone();
        }
        if who.name.is_empty() {
            who.name = g.name.clone();
        }
    }
}

/// `change` with its principal's id or name filled in from the first of `known` that
/// lists the principal: a journaled request names a principal one way only.
pub fn complete_change(change: &Change, known: &[&[Grant]]) -> Change {
    let mut who = as_grant(change);
    complete(&mut who, known);
    Change {
        id: who.id,
        name: who.name,
        ..change.clone()
    }
}

/// `current` with every one of `principals` put back as `before` has it: role and
/// `can_share` restored (added at the end if absent), or removed if `before` does not
/// list it. Every other principal is left as it is, in the same order.
pub fn restore_target(current: &[Grant], principals: &[Grant], before: &[Grant]) -> Vec<Grant> {
    let mut out = current.to_vec();
    for who in principals {
        let was = before.iter().find(|g| same_principal(g, who));
        let pos = out.iter().position(|g| same_principal(g, who));
        match (was, pos) {
            (Some(was), Some(p)) => {
                let id = out[p].id.clone();
                out[p] = was.clone();
                if out[p].id.is_none() {
                    out[p].id = id;
                }
            }
            (Some(was), None) => out.push(was.clone()),
            (None, Some(p)) => {
                out.remove(p);
            }
            (None, None) => {}
        }
    }
    out
}

/// Whether `a` and `b` give each of `principals` the same access: the same role, and the
/// same `can_share` where the kind carries it and both lists state it.
fn agree_on(kind: EntityKind, a: &[Grant], b: &[Grant], principals: &[Grant]) -> bool {
    principals.iter().all(|who| {
        let x = a.iter().find(|g| same_principal(g, who));
        let y = b.iter().find(|g| same_principal(g, who));
        match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => {
                x.role == y.role
                    && (!kind.supports_can_share()
                        || match (x.can_share, y.can_share) {
                            (Some(p), Some(q)) => p == q,
                            _ => true,
                        })
            }
            _ => false,
        }
    })
}

/// How a rollback plan is made.
#[derive(Clone, Copy, Debug)]
pub struct PlanSettings {
    /// Plan from the live lists: restore entities changed since the run too.
    pub force: bool,
    /// Access-list reads in flight at once.
    pub concurrency: usize,
}

/// The rollback entry of one written entity, given its live list when it was read
/// (`force`, or a write the journal cannot confirm).
fn rollback_entry(w: &Written, live: Option<Vec<Grant>>, name: &str, force: bool) -> PlanEntry {
    let recorded_after = match &w.end {
        WrittenEnd::Succeeded { after } => after.as_deref(),
        WrittenEnd::Unconfirmed { .. } => None,
    };
    let mut last_changes = w.last_changes.clone();
    let mut principals = w.principals.clone();
    {
        let mut known: Vec<&[Grant]> = vec![&w.before, &w.last_before];
        known.extend(recorded_after);
        known.extend(live.as_deref());
        for who in &mut principals {
            complete(who, &known);
        }
        for change in &mut last_changes {
            *change = complete_change(change, &known);
        }
    }
    let expected = match recorded_after {
        Some(after) => after.to_vec(),
        None => apply_changes(w.kind, &w.last_before, &last_changes),
    };
    if principals.is_empty() {
        // A request body the journal could not be read back from: the principals whose
        // access the write changed are the ones that differ between before and after.
        let after = live.as_deref().unwrap_or(&expected);
        principals = differing(&w.before, after);
        tracing::warn!(kind = %w.kind, id = %w.id, "journaled request names nobody; restoring the principals whose access differs");
    }
    let current = match (live, &w.end) {
        (Some(live), _) if force => live,
        (Some(live), WrittenEnd::Unconfirmed { .. }) => {
            // Landed (or never sent): the live list is the one to start from. Anything else
            // changed since: start from what the write would have left, and the executor
            // will find the difference and leave the entity alone.
            if agree_on(w.kind, &live, &w.before, &principals)
                || agree_on(w.kind, &live, &expected, &principals)
            {
                live
            } else {
                expected
            }
        }
        _ => expected,
    };
    if !force && let Some(moved) = moved_around_a_blind_write(w, &last_changes, &current) {
        // Restoring would put back a state nobody saw: someone else was changing the
        // entity while it was written on the plan's read.
        return PlanEntry::refused(
            w.kind,
            &w.id,
            name,
            current.clone(),
            current,
            &RefusalKind::Other(format!(
                "written on the plan's read (offboard --max-read-age) while someone else \
                 changed it ({moved}): its state before the write was never seen, so it \
                 is not restored; check it by hand, or rollback --force"
            )),
        );
    }
    let target = restore_target(&current, &principals, &before_the_run(w));
    PlanEntry::build(w.kind, &w.id, name, current, target)
}

/// What a rollback restores: the list before the run first wrote the entity, less the
/// CONSUMER roles the run's own shares of linked entities gave (contract C7) before that
/// first write: a principal the run gave a role on a data source or custom model, found
/// CONSUMER here just before the write but without access in the plan's read. Without the
/// plan's read (the plan is not at hand) the first before-state stands.
fn before_the_run(w: &Written) -> Vec<Grant> {
    let Some(plan_read) = &w.plan_read else {
        return w.before.clone();
    };
    w.before
        .iter()
        .filter(|g| {
            let side_effect = g.role == Role::Consumer
                && w.linked_grantees.iter().any(|p| same_principal(p, g))
                && !plan_read.iter().any(|p| same_principal(p, g));
            if side_effect {
                tracing::debug!(kind = %w.kind, id = %w.id, principal = %g.name, "CONSUMER given by the run's share of a linked entity; not restored");
            }
            !side_effect
        })
        .cloned()
        .collect()
}

/// For an entity whose before-state is the plan's read (`on_plan_read`): how the list the
/// run left (`left`: its read-back, or the live list where the journal cannot confirm the
/// write) differs from the plan's read with the run's changes applied, on any principal.
/// A difference is a change the run did not make, made by someone else between the plan's
/// read and the read-back, so the plan's read may not be the state the write was sent on.
/// `None` when they agree (or the before-state was read just before the write). A
/// principal who only gained a role up to CONSUMER on a kind that receives linked grants
/// (contract C7: the run's own share of a data source or custom model) is not counted.
fn moved_around_a_blind_write(w: &Written, changes: &[Change], left: &[Grant]) -> Option<String> {
    if !w.before_on_plan_read {
        return None;
    }
    let expected = apply_changes(w.kind, &w.last_before, changes);
    let everyone = differing_grants(w.kind, &expected, left);
    let moved: Vec<String> = everyone
        .iter()
        .filter(|who| {
            let was = expected.iter().find(|g| same_principal(g, who));
            let now = left.iter().find(|g| same_principal(g, who));
            !(w.kind.receives_linked_grants()
                && was.is_none()
                && now.is_some_and(|g| g.role == Role::Consumer))
        })
        .map(|who| {
            let role = |list: &[Grant]| {
                list.iter()
                    .find(|g| same_principal(g, who))
                    .map_or_else(|| "none".to_string(), |g| g.role.to_string())
            };
            format!(
                "{}: {} expected, {} found",
                who.name,
                role(&expected),
                role(left)
            )
        })
        .collect();
    (!moved.is_empty()).then(|| moved.join("; "))
}

/// Every principal to whom `a` and `b` give different access: another role, or another
/// stated `can_share` where the kind carries it.
fn differing_grants(kind: EntityKind, a: &[Grant], b: &[Grant]) -> Vec<Grant> {
    let mut out: Vec<Grant> = Vec::new();
    for g in a.iter().chain(b) {
        if out.iter().any(|o| same_principal(o, g)) {
            continue;
        }
        if !agree_on(kind, a, b, std::slice::from_ref(g)) {
            out.push(g.clone());
        }
    }
    out
}

/// Principals to whom `a` and `b` give different roles (as grants of `a`, then of `b`).
fn differing(a: &[Grant], b: &[Grant]) -> Vec<Grant> {
    let role_in =
        |list: &[Grant], who: &Grant| list.iter().find(|g| same_principal(g, who)).map(|g| g.role);
    let mut out: Vec<Grant> = Vec::new();
    for g in a.iter().chain(b) {
        if !out.iter().any(|o| same_principal(o, g)) && role_in(a, g) != role_in(b, g) {
            out.push(g.clone());
        }
    }
    out
}

/// Writes one rollback entry per entity the source run wrote into `writer`, by kind then
/// id, each built as it is written and dropped after: its lists are read back from the
/// journal, and the live list read where needed (`concurrency` at a time, through the
/// client's limiter): every entity with `force`, else only those whose last write the
/// journal cannot confirm.
pub async fn write_plan(
    client: &Client,
    source: &SourceRun<'_>,
    settings: PlanSettings,
    writer: &mut PlanWriter,
) -> Result<(), Error> {
    let force = settings.force;
    let mut reads = stream::iter(0..source.len())
        .map(|i| async move {
            let w = source.written(i)?;
            let needs_read = force || matches!(w.end, WrittenEnd::Unconfirmed { .. });
            let live = if needs_read {
                Some(client.access_list(w.kind, &w.id).await)
            } else {
                None
            };
            Ok::<_, journal::Error>((i, w, live))
        })
        .buffered(settings.concurrency.max(1));
    while let Some(read) = reads.next().await {
        let (i, w, live) = read?;
        let name = source.name(i);
        // Why the entity is left alone, when it is: gone, not the caller's to share, or
        // an access-list entry that cannot be read and may be a principal the run touched
        // (its before-state is what rollback would restore: no guessing).
        let (live, refusal) = match live {
            None => (None, None),
            Some(Ok(list)) => match list.hides(&w.principals) {
                Some(u) => (
                    None,
                    Some(RefusalKind::Other(format!(
                        "cannot read the access list entry {u}"
                    ))),
                ),
                None => (Some(list.grants), None),
            },
            Some(Err(e)) if e.class() == ErrorClass::Gone => {
                (None, Some(RefusalKind::EntityNotFound))
            }
            Some(Err(e)) if e.class() == ErrorClass::NotAllowed => {
                (None, Some(RefusalKind::CallerCannotShare))
            }
            Some(Err(e)) => return Err(e.into()),
        };
        if let Some(refusal) = refusal {
            let after = w.expected_after();
            writer.write(&PlanEntry::refused(
                w.kind,
                &w.id,
                name,
                after.clone(),
                after,
                &refusal,
            ))?;
            continue;
        }
        writer.write(&rollback_entry(&w, live, name, force))?;
    }
    Ok(())
}

/// What to roll back and where to journal it.
#[derive(Clone, Debug)]
pub struct RollbackSpec {
    /// The journal of the run to undo.
    pub journal: PathBuf,
    /// This rollback's own journal ([`default_rollback_journal`]).
    pub rollback_journal: PathBuf,
    /// Restore entities changed since the run too.
    pub force: bool,
    /// Access-list reads in flight at once while planning.
    pub concurrency: usize,
    /// Who runs the rollback, for the plan's header.
    pub caller: UserIdent,
}

/// A rollback ready to run: its plan, its journal, and the lock on the source journal.
pub struct Prepared {
    /// The rollback plan.
    pub plan: PlanReader,
    /// Where the rollback plan is.
    pub plan_path: PathBuf,
    /// Where the rollback journal is: the spec's, or a later generation of it
    /// ([`rollback_generation`]).
    pub journal_path: PathBuf,
    /// The rollback journal, created or resumed.
    pub journal: OpenJournal,
    /// The latest earlier generation, when it was left because the source journal has
    /// grown since it was planned (its run resumed after that rollback).
    pub superseded: Option<PathBuf>,
    /// What the plan just made cannot undo of the run's shares' side effects; `None`
    /// when there are none, or when an existing rollback journal was resumed.
    pub side_effects: Option<SideEffects>,
    /// The plan just made; `None` when an existing rollback journal was resumed.
    pub made: Option<WrittenPlan>,
    /// Held until the rollback ends: the run it undoes must not be resumed meanwhile.
    source: Journal,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("plan_path", &self.plan_path)
            .field("journal_path", &self.journal_path)
            .field("journal", &self.journal)
            .field("superseded", &self.superseded)
            .field("side_effects", &self.side_effects)
            .field("made", &self.made)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Makes (or, if the rollback journal exists, finds) the rollback plan and opens the
/// rollback journal. Locks the source journal first; refuses, with nothing sent, a source
/// journal of another endpoint, one in use, or a rollback journal that undoes another run.
pub async fn prepare(client: &Client, spec: &RollbackSpec) -> Result<Prepared, Error> {
    if same_file(&spec.journal, &spec.rollback_journal) {
        return Err(Error::SameJournal {
            path: spec.rollback_journal.clone(),
        });
    }
    let (source, replay) = Journal::open_existing(&spec.journal)?;
    let endpoint = client.endpoint();
    if !same_endpoint(&replay.header().endpoint, endpoint.as_str()) {
        return Err(Error::EndpointMismatch {
            path: spec.journal.clone(),
            journal: replay.header().endpoint.clone(),
            endpoint: endpoint.as_str().trim_end_matches('/').to_string(),
        });
    }
    let source_label = std::fs::canonicalize(&spec.journal)
        .unwrap_or_else(|_| spec.journal.clone())
        .display()
        .to_string();

    // The source journal is locked: its bytes stay as they are until the rollback ends.
    let digest = file_digest(&spec.journal)?;
    let mut superseded = None;
    let mut rollback_journal = spec.rollback_journal.clone();
    for n in 2.. {
        match resume(client, spec, &rollback_journal, &source_label, &digest)? {
            Resumable::Yes(found) => {
                let (plan, plan_path, journal) = *found;
                return Ok(Prepared {
                    plan,
                    plan_path,
                    journal_path: rollback_journal,
                    journal,
                    made: None,
                    superseded,
                    side_effects: None,
                    source,
                });
            }
            Resumable::Absent => break,
            Resumable::Outgrown => {
                tracing::info!(
                    rollback = %rollback_journal.display(),
                    source = %spec.journal.display(),
                    "the source journal has grown since this rollback was planned; planning again"
                );
                let next = rollback_generation(&spec.rollback_journal, n);
                if same_file(&spec.journal, &next) {
                    return Err(Error::SameJournal { path: next });
                }
                superseded = Some(std::mem::replace(&mut rollback_journal, next));
            }
        }
    }

    let mut undone = SourceRun::read(&spec.journal, &replay)?;
    undone.read_names(&spec.journal);
    let plan_path = rollback_plan_path(&rollback_journal);
    let header = PlanHeader::new(
        endpoint.as_str().trim_end_matches('/'),
        spec.caller.clone(),
        // Plans name the file they were made from; for a rollback that is the journal.
        SourceKind::Csv {
            file: source_label,
            sha256: Some(undone.digest().to_string()),
        },
    );
    let mut writer = PlanWriter::create(&plan_path, &header)?;
    let settings = PlanSettings {
        force: spec.force,
        concurrency: spec.concurrency,
    };
    write_plan(client, &undone, settings, &mut writer).await?;
    let side_effects = undone.side_effects();
    if let Some(effects) = &side_effects {
        tracing::warn!(
            shared = effects.shared.len(),
            "linked access the run's shares gave is not all undone"
        );
    }
    drop(undone);
    drop(replay);
    let made = writer.finish()?;
    tracing::info!(plan = %plan_path.display(), entities = made.entries, "rollback plan written");
    let plan = PlanReader::open(&plan_path)?;
    let journal = exec::open_journal_for(
        &rollback_journal,
        &plan,
        &plan_path.display().to_string(),
        endpoint,
        JournalMode::CreateOrResume,
        PurposeKind::Rollback,
    )?;
    Ok(Prepared {
        plan,
        plan_path,
        journal_path: rollback_journal,
        journal,
        made: Some(made),
        superseded,
        side_effects,
        source,
    })
}

/// Whether a rollback journal can be resumed.
enum Resumable {
    /// It can: its plan, the plan's path, and the journal opened (boxed: the rest are
    /// empty).
    Yes(Box<(PlanReader, PathBuf, OpenJournal)>),
    /// There is none (or only one killed while it was being created).
    Absent,
    /// Its plan was made from other bytes of the source journal, which has grown since:
    /// the run was resumed after that rollback.
    Outgrown,
}

/// Whether the rollback journal at `path` exists (with a whole header) and can be resumed:
/// its plan checked to undo this source journal, made from the same bytes of it
/// (`digest`), and the journal resumed.
fn resume(
    client: &Client,
    spec: &RollbackSpec,
    path: &Path,
    source_label: &str,
    digest: &str,
) -> Result<Resumable, Error> {
    let existing = match Replay::read(path) {
        Ok(replay) => replay,
        Err(journal::Error::Open { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(Resumable::Absent);
        }
        // A rollback killed while creating its journal: the executor starts it over.
        Err(journal::Error::MissingHeader { .. }) => return Ok(Resumable::Absent),
        Err(e) => return Err(e.into()),
    };
    let header = existing.header();
    if header.purpose != PurposeKind::Rollback {
        return Err(journal::Error::PurposeMismatch {
            path: path.to_path_buf(),
            journal: header.purpose,
            expected: PurposeKind::Rollback,
        }
        .into());
    }
    let plan_path = resolve_recorded(path, &header.plan);
    let plan = PlanReader::open(&plan_path)?;
    if let SourceKind::Csv { file, sha256 } = &plan.header().source {
        if !same_file(Path::new(file), Path::new(source_label)) {
            return Err(Error::OtherSource {
                path: path.to_path_buf(),
                undoes: file.clone(),
                source_journal: spec.journal.clone(),
            });
        }
        if sha256.as_deref().is_some_and(|planned| planned != digest) {
            return Ok(Resumable::Outgrown);
        }
    }
    let journal = exec::open_journal_for(
        path,
        &plan,
        &header.plan,
        client.endpoint(),
        JournalMode::ResumeOnly,
        PurposeKind::Rollback,
    )?;
    tracing::info!(journal = %path.display(), "resuming the rollback");
    Ok(Resumable::Yes(Box::new((plan, plan_path, journal))))
}

/// Runs a prepared rollback to its end or until `shutdown`; the source journal stays
/// locked until then.
pub async fn run(
    client: &Client,
    prepared: Prepared,
    settings: &exec::Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, Error> {
    let Prepared {
        plan,
        journal,
        source,
        ..
    } = prepared;
    let summary = exec::run(client, plan, journal, settings, shutdown).await?;
    drop(source);
    Ok(summary)
}

/// A path recorded in a journal header, as given at the time (relative to where handover
/// ran); if that does not resolve from here, relative to the journal's directory.
pub fn resolve_recorded(journal: &Path, recorded: &str) -> PathBuf {
    let as_given = PathBuf::from(recorded);
    if as_given.is_absolute() || as_given.exists() {
        return as_given;
    }
    journal
        .parent()
        .map(|d| d.join(&as_given))
        .filter(|p| p.exists())
        .unwrap_or(as_given)
}

/// Whether two paths name the same file (both canonicalised where they exist).
fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(a) == canon(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::share_body;
    use crate::plan::{ActionKind, ShareRequest};

    fn g(name: &str, role: Role) -> Grant {
        Grant {
            recipient_type: "user".into(),
            id: Some(format!("id-{name}")),
            name: format!("{name}@x"),
            role,
            can_share: Some(true),
        }
    }

    fn change(name: &str, role: Option<Role>) -> Change {
        Change {
            recipient_type: "user".into(),
            id: Some(format!("id-{name}")),
            name: format!("{name}@x"),
            role,
            can_share: None,
        }
    }

    #[test]
    fn journaled_bodies_of_both_dialects_read_back_as_their_changes() {
        let request = ShareRequest {
            changes: vec![change("bob", Some(Role::Owner)), change("alice", None)],
            notify: false,
        };
        // carol is not changed: a replace-semantics body re-sends her, and she is not
        // among the changes read back.
        let live = crate::model::AccessList {
            role_names: Default::default(),
            grants: vec![g("alice", Role::Owner), g("carol", Role::Consumer)],
            unreadable: Vec::new(),
        };
        for kind in EntityKind::WRITABLE {
            let body = crate::api::share_body_on(kind, &request, &live).unwrap();
            let back = changes_of_intent(kind, &body, &live.grants);
            assert_eq!(back.len(), 2, "{kind}: {body}");
            for c in &request.changes {
                // Each dialect names the principal one way; either identifies it.
                let b = back
                    .iter()
                    .find(|b| same_principal(&as_grant(b), &as_grant(c)))
                    .unwrap_or_else(|| panic!("{kind}: {c:?} not in {back:?}"));
                assert_eq!(b.role, c.role, "{kind}");
            }
        }
        assert!(changes_of_body(EntityKind::Project, &serde_json::json!({})).is_empty());
    }

    #[test]
    fn restore_puts_back_only_the_named_principals() {
        let before = vec![g("alice", Role::Owner), g("carol", Role::Consumer)];
        // After the run: bob owns, alice gone; meanwhile carol was promoted and dave added.
        let now = vec![
            g("carol", Role::Editor),
            g("bob", Role::Owner),
            g("dave", Role::Consumer),
        ];
        let touched = [
            as_grant(&change("bob", None)),
            as_grant(&change("alice", None)),
        ];
        let target = restore_target(&now, &touched, &before);
        assert_eq!(
            target,
            vec![
                g("carol", Role::Editor),
                g("dave", Role::Consumer),
                g("alice", Role::Owner)
            ]
        );
        // The one request grants alice before it revokes bob.
        let entry = PlanEntry::build(EntityKind::Dataset, "d", "", now, target);
        let names: Vec<(&str, Option<Role>)> = entry
            .request
            .as_ref()
            .unwrap()
            .changes
            .iter()
            .map(|c| (c.name.as_str(), c.role))
            .collect();
        assert_eq!(names, [("alice@x", Some(Role::Owner)), ("bob@x", None)]);
    }

    fn written(end: WrittenEnd) -> Written {
        let before = vec![g("alice", Role::Owner), g("carol", Role::Consumer)];
        Written {
            kind: EntityKind::UseCase,
            id: "u1".into(),
            before: before.clone(),
            plan_read: None,
            linked_grantees: Vec::new(),
            before_on_plan_read: false,
            principals: vec![
                as_grant(&change("bob", None)),
                as_grant(&change("alice", None)),
            ],
            last_before: before,
            last_changes: vec![change("bob", Some(Role::Owner)), change("alice", None)],
            end,
        }
    }

    #[test]
    fn a_recorded_success_is_planned_from_what_the_run_left() {
        let w = written(WrittenEnd::Succeeded { after: None });
        let e = rollback_entry(&w, None, "U", false);
        assert_eq!(e.action, ActionKind::Change);
        assert_eq!(
            e.current,
            vec![g("carol", Role::Consumer), {
                let mut bob = g("bob", Role::Owner);
                bob.can_share = None;
                bob
            }]
        );
        assert_eq!(
            e.target,
            vec![g("carol", Role::Consumer), g("alice", Role::Owner)]
        );
    }

    #[test]
    fn an_unconfirmed_write_is_judged_by_the_live_list() {
        let w = written(WrittenEnd::Unconfirmed { outcome: None });
        // Never landed: nothing to do.
        let e = rollback_entry(&w, Some(w.before.clone()), "", false);
        assert_eq!(e.action, ActionKind::Noop);
        // Landed: start from the live list.
        let landed = vec![g("carol", Role::Consumer), g("bob", Role::Owner)];
        let e = rollback_entry(&w, Some(landed.clone()), "", false);
        assert_eq!((e.action, &e.current), (ActionKind::Change, &landed));
        // Neither: planned from what the write would have left, so that the executor
        // finds the difference and leaves it alone; with force, from the live list.
        let other = vec![
            g("carol", Role::Consumer),
            g("bob", Role::Editor),
            g("zed", Role::Owner),
        ];
        let e = rollback_entry(&w, Some(other.clone()), "", false);
        assert_ne!(e.current, other);
        let e = rollback_entry(&w, Some(other.clone()), "", true);
        assert_eq!(e.current, other);
        assert_eq!(
            e.target,
            vec![
                g("carol", Role::Consumer),
                g("zed", Role::Owner),
                g("alice", Role::Owner)
            ]
        );
    }

    /// The pass over the journal and the reads by offset give back, per written entity,
    /// the first before-state, the principals of every request in the order first named,
    /// and the last intent's list and changes; entities never written are left out.
    #[test]
    fn a_source_run_reads_each_written_entity_back_from_the_journal() {
        use crate::journal::{End, Header, Intent, Outcome, Resume};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let (p, d, s) = (
            EntityKind::Project,
            EntityKind::Dataset,
            EntityKind::DataStore,
        );
        let body = |kind: EntityKind, changes: Vec<Change>| {
            share_body(
                kind,
                &ShareRequest {
                    changes,
                    notify: false,
                },
            )
            .unwrap()
        };
        let original = vec![g("alice", Role::Owner), g("carol", Role::Consumer)];
        let reread = vec![g("alice", Role::Editor), g("carol", Role::Consumer)];
        let done = vec![g("bob", Role::Owner), g("carol", Role::Editor)];
        let first = body(
            p,
            vec![change("bob", Some(Role::Owner)), change("alice", None)],
        );
        let retry = body(
            p,
            vec![
                change("carol", Some(Role::Editor)),
                change("bob", Some(Role::Owner)),
            ],
        );
        let header = Header::new(
            "sha256:00",
            "http://127.0.0.1:1/api/v2",
            "plan.jsonl",
            PurposeKind::Apply,
        );
        {
            let mut j = Journal::create(&path, &header).unwrap();
            j.append(&Intent::new(p, "p1", original.clone(), first).into());
            j.append(&Outcome::new(p, "p1", OutcomeKind::Failed, 1).into());
            j.append(&Outcome::new(s, "s1", OutcomeKind::Drifted, 0).into());
            j.append(
                &Intent::new(
                    d,
                    "d1",
                    reread.clone(),
                    body(d, vec![change("bob", Some(Role::Owner))]),
                )
                .into(),
            );
            j.append(&End::now(true).into());
            j.append(&Resume::now().into());
            j.append(&Intent::new(p, "p1", reread.clone(), retry.clone()).into());
            let settled = Outcome {
                after: Some(done.clone()),
                ..Outcome::new(p, "p1", OutcomeKind::Succeeded, 1)
            };
            j.append(&settled.into());
            j.close().unwrap();
        }
        let replay = Replay::read(&path).unwrap();
        let run = SourceRun::read(&path, &replay).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            run.digest(),
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
        );
        assert_eq!(run.len(), 2, "s1 was never written");
        let keys: Vec<_> = (0..run.len()).map(|i| run.key(i)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);

        let i = keys.iter().position(|k| *k == (p, "p1")).unwrap();
        let w = run.written(i).unwrap();
        assert_eq!(w.before, original);
        let named: Vec<&str> = w.principals.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(named, ["bob@x", "alice@x", "carol@x"]);
        assert_eq!(w.last_before, reread);
        assert_eq!(w.last_changes, changes_of_body(p, &retry));
        assert_eq!(w.end, WrittenEnd::Succeeded { after: Some(done) });

        let i = keys.iter().position(|k| *k == (d, "d1")).unwrap();
        let w = run.written(i).unwrap();
        assert_eq!((&w.before, &w.last_before), (&reread, &reread));
        assert_eq!(w.end, WrittenEnd::Unconfirmed { outcome: None });
        assert_eq!(w.principals.len(), 1);
    }

    #[test]
    fn a_target_without_an_owner_is_refused() {
        // Before the run nobody the run touched owned it, and the owner it granted is the
        // only one now: restoring would leave none.
        let mut w = written(WrittenEnd::Succeeded {
            after: Some(vec![g("bob", Role::Owner)]),
        });
        w.before = vec![g("carol", Role::Consumer)];
        let e = rollback_entry(&w, None, "", false);
        assert_eq!(e.action, ActionKind::Refused);
        assert_eq!(e.reason.as_deref(), Some("target leaves no owner"));
    }
}
