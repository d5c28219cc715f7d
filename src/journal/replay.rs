//! Reading a journal back: one streaming pass that checks the header, tolerates a torn last
//! line, and folds the records into one entry per entity.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::error::Category;

use super::error::Error;
use super::record::{
    End, FORMAT, Header, Intent, Outcome, OutcomeKind, PurposeKind, Record, VERSION,
};
use crate::model::{EntityKind, Grant};

/// Where one entity stands according to the journal. An entity with no record at all is
/// pending, and has no `EntityState`.
#[derive(Clone, Debug, PartialEq)]
pub enum EntityState {
    /// An intent with no outcome after it: the write may or may not have landed, so the
    /// executor reads the entity again before doing anything.
    InFlight { intent: Intent },
    /// The last record for the entity is an outcome.
    Done { outcome: Outcome },
}

impl EntityState {
    /// The entity's kind.
    pub fn kind(&self) -> EntityKind {
        match self {
            EntityState::InFlight { intent } => intent.kind,
            EntityState::Done { outcome } => outcome.kind,
        }
    }

    /// The entity's id.
    pub fn id(&self) -> &str {
        match self {
            EntityState::InFlight { intent } => &intent.id,
            EntityState::Done { outcome } => &outcome.id,
        }
    }
}

/// One entity's replayed state and the access list to restore on rollback.
#[derive(Clone, Debug, PartialEq)]
pub struct EntityReplay {
    /// Its latest state: a later intent (a retry on resume) or outcome replaces an earlier.
    pub state: EntityState,
    /// The `before` of its first intent, across resumes: the access list from before
    /// handover first wrote it, which a later intent's re-read no longer shows. `None` when
    /// only outcomes were recorded (nothing was ever written).
    pub first_before: Option<Vec<Grant>>,
    /// While scanning, the line of an in-flight intent whose request is not read yet; always
    /// `None` once a `Replay` is returned.
    unread: Option<(u64, Box<[u8]>)>,
}

/// A torn last line that replay left out: a crash mid-write, never synced, never reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Its 1-based line number.
    pub line: u64,
    /// Where it starts: the length of the journal's good part.
    pub offset: u64,
    /// How many bytes it has.
    pub bytes: u64,
}

/// Entities per state, for `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Entities with an intent and no outcome after it.
    pub in_flight: usize,
    /// Entities per last outcome.
    pub outcomes: BTreeMap<OutcomeKind, usize>,
}

impl Counts {
    /// Entities whose last outcome is `kind`.
    pub fn get(&self, kind: OutcomeKind) -> usize {
        self.outcomes.get(&kind).copied().unwrap_or(0)
    }

    /// Entities the journal knows about (everything but the pending ones).
    pub fn total(&self) -> usize {
        self.in_flight + self.outcomes.values().sum::<usize>()
    }

    fn add(&mut self, state: &EntityState) {
        match state {
            EntityState::InFlight { .. } => self.in_flight += 1,
            EntityState::Done { outcome } => {
                *self.outcomes.entry(outcome.outcome).or_default() += 1
            }
        }
    }
}

/// What a journal says, read in one pass.
#[derive(Clone, Debug)]
pub struct Replay {
    path: PathBuf,
    header: Header,
    // Keyed by kind first so a lookup by `(kind, &str)` needs no owned key.
    entities: HashMap<EntityKind, HashMap<String, EntityReplay>>,
    records: u64,
    resumes: u64,
    end: Option<End>,
    torn_tail: Option<TornTail>,
    good_len: u64,
}

impl Replay {
    /// Reads a journal without locking or changing it, as `status` does, possibly while a
    /// run is appending to it: a torn last line is left out and left in place.
    pub fn read(path: impl AsRef<Path>) -> Result<Replay, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        scan(file, path)
    }

    fn new(path: PathBuf, header: Header) -> Replay {
        Replay {
            path,
            header,
            entities: HashMap::new(),
            records: 1,
            resumes: 0,
            end: None,
            torn_tail: None,
            good_len: 0,
        }
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first record.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Refuses a journal written for another plan or another purpose: resuming one would
    /// apply (or undo) the wrong changes.
    pub fn check_matches(&self, plan_digest: &str, purpose: PurposeKind) -> Result<(), Error> {
        if self.header.plan_digest != plan_digest {
            return Err(Error::PlanMismatch {
                path: self.path.clone(),
                journal: self.header.plan_digest.clone(),
                plan: plan_digest.to_string(),
            });
        }
        if self.header.purpose != purpose {
            return Err(Error::PurposeMismatch {
                path: self.path.clone(),
                journal: self.header.purpose,
                expected: purpose,
            });
        }
        Ok(())
    }

    /// One entity's replayed entry; `None` if it is pending.
    pub fn entity(&self, kind: EntityKind, id: &str) -> Option<&EntityReplay> {
        self.entities.get(&kind)?.get(id)
    }

    /// One entity's state; `None` if it is pending.
    pub fn state(&self, kind: EntityKind, id: &str) -> Option<&EntityState> {
        self.entity(kind, id).map(|e| &e.state)
    }

    /// The access list from before handover first wrote the entity, if it ever did.
    pub fn first_before(&self, kind: EntityKind, id: &str) -> Option<&[Grant]> {
        self.entity(kind, id)?.first_before.as_deref()
    }

    /// Every entity the journal mentions, in no particular order.
    pub fn entities(&self) -> impl Iterator<Item = (EntityKind, &str, &EntityReplay)> {
        self.entities
            .iter()
            .flat_map(|(kind, ids)| ids.iter().map(move |(id, e)| (*kind, id.as_str(), e)))
    }

    /// How many entities the journal mentions.
    pub fn len(&self) -> usize {
        self.entities.values().map(HashMap::len).sum()
    }

    /// Whether the journal mentions no entity yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entities per state, all kinds together.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for (_, _, e) in self.entities() {
            counts.add(&e.state);
        }
        counts
    }

    /// Entities per state, per kind (kinds with no entity left out).
    pub fn counts_by_kind(&self) -> BTreeMap<EntityKind, Counts> {
        let mut by_kind = BTreeMap::new();
        for (kind, ids) in &self.entities {
            let counts: &mut Counts = by_kind.entry(*kind).or_default();
            for e in ids.values() {
                counts.add(&e.state);
            }
        }
        by_kind
    }

    /// The last outcome of every entity that ended [failed, drifted or
    /// refused](OutcomeKind::is_failure), with its reason, by kind then id.
    pub fn failures(&self) -> Vec<&Outcome> {
        let mut failures: Vec<&Outcome> = self
            .entities()
            .filter_map(|(_, _, e)| match &e.state {
                EntityState::Done { outcome } if outcome.outcome.is_failure() => Some(outcome),
                _ => None,
            })
            .collect();
        failures.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        failures
    }

    /// The intents with no outcome after them, by kind then id.
    pub fn in_flight(&self) -> Vec<&Intent> {
        let mut intents: Vec<&Intent> = self
            .entities()
            .filter_map(|(_, _, e)| match &e.state {
                EntityState::InFlight { intent } => Some(intent),
                EntityState::Done { .. } => None,
            })
            .collect();
        intents.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        intents
    }

    /// How many records were read, the header included and a torn tail not.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// How many times a run resumed this journal.
    pub fn resumes(&self) -> u64 {
        self.resumes
    }

    /// The `end` record, if it is the last record: the last run stopped cleanly. `None`
    /// means the last run is still going, or died.
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// The torn last line that was left out, if there was one.
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.torn_tail
    }

    /// The length in bytes of the journal's good part, where the next record goes.
    pub(super) fn good_len(&self) -> u64 {
        self.good_len
    }

    fn apply(&mut self, parsed: Line, line: u64) -> Result<(), Error> {
        match parsed {
            Line::Intent(
                IntentHead {
                    kind,
                    id,
                    before,
                    at,
                    ..
                },
                raw,
            ) => {
                // A stand-in until `finish` reads the request body, if this intent is still
                // in flight then.
                let intent = Intent {
                    kind,
                    id,
                    before: Vec::new(),
                    request: serde_json::Value::Null,
                    at,
                };
                self.intent(intent, before, Some((line, raw)));
            }
            Line::Record(Record::Intent(intent)) => {
                let before = intent.before.clone();
                self.intent(intent, before, None);
            }
            Line::Record(Record::Outcome(outcome)) => {
                let entry = self.set_state(outcome.kind, EntityState::Done { outcome });
                entry.unread = None;
                self.end = None;
            }
            Line::Record(Record::Resume(_)) => {
                self.resumes += 1;
                self.end = None;
            }
            Line::Record(Record::End(end)) => self.end = Some(end),
            Line::Record(Record::Header(_)) => {
                return Err(Error::Misplaced {
                    path: self.path.clone(),
                    line,
                    problem: "a header record after the first line",
                });
            }
        }
        self.records += 1;
        Ok(())
    }

    fn intent(&mut self, intent: Intent, before: Vec<Grant>, unread: Option<(u64, Box<[u8]>)>) {
        let entry = self.set_state(intent.kind, EntityState::InFlight { intent });
        entry.first_before.get_or_insert(before);
        entry.unread = unread;
        self.end = None;
    }

    /// Replaces an entity's state, or records its first.
    fn set_state(&mut self, kind: EntityKind, state: EntityState) -> &mut EntityReplay {
        let ids = self.entities.entry(kind).or_default();
        // Look up, then insert: `entry` would want an owned key for every line, where only
        // an entity's first line needs one.
        if ids.contains_key(state.id()) {
            let entry = ids.get_mut(state.id()).expect("found just above");
            entry.state = state;
            entry
        } else {
            let id = state.id().to_string();
            ids.entry(id).or_insert(EntityReplay {
                state,
                first_before: None,
                unread: None,
            })
        }
    }

    /// Reads the request bodies of the intents left in flight.
    fn finish(&mut self) -> Result<(), Error> {
        for entry in self.entities.values_mut().flat_map(HashMap::values_mut) {
            if let Some((line, raw)) = entry.unread.take() {
                let intent = serde_json::from_slice(&raw).map_err(|source| Error::Corrupt {
                    path: self.path.clone(),
                    line,
                    source,
                })?;
                entry.state = EntityState::InFlight { intent };
            }
        }
        Ok(())
    }
}

/// Just enough of a first line to tell a header of another version or another format from
/// a damaged one, before its shape is held to this version's.
#[derive(Deserialize)]
struct HeaderProbe {
    #[serde(rename = "type")]
    ty: Option<String>,
    format: Option<String>,
    version: Option<u64>,
}

/// Reads a whole journal from `reader` (positioned at its start).
pub(super) fn scan(reader: impl Read, path: &Path) -> Result<Replay, Error> {
    // Large reads: replay is one sequential pass over a file that can hold 300k lines.
    let mut reader = BufReader::with_capacity(1 << 18, reader);
    let mut buf = Vec::with_capacity(4096);
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut replay: Option<Replay> = None;
    let mut good_len = 0u64;
    let mut line = 0u64;
    let mut torn_tail = None;

    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(read_err)? as u64;
        if n == 0 {
            break;
        }
        line += 1;
        let torn = TornTail {
            line,
            offset: good_len,
            bytes: n,
        };
        // A record counts only with its newline: every record is written whole, newline
        // last, so a line without one was cut short by a crash before its sync returned.
        if buf.last() != Some(&b'\n') {
            torn_tail = Some(torn);
            break;
        }
        let applied = match &mut replay {
            None => parse_header(&buf, path)
                .map(|header| replay = Some(Replay::new(path.to_path_buf(), header))),
            Some(replay) => parse_line(&buf)
                .map_err(|source| Error::Corrupt {
                    path: path.to_path_buf(),
                    line,
                    source,
                })
                .and_then(|record| replay.apply(record, line)),
        };
        match applied {
            Ok(()) => {}
            // Bytes that are not JSON at all on the very last line are what a crash leaves
            // behind on file systems that grow the file before its data lands (a tail of
            // NULs, half a record); well-formed JSON of the wrong shape is not, and fails.
            Err(Error::Corrupt { source, .. })
                if matches!(source.classify(), Category::Syntax | Category::Eof)
                    && reader.fill_buf().map_err(read_err)?.is_empty() =>
            {
                torn_tail = Some(torn);
                break;
            }
            Err(err) => return Err(err),
        }
        good_len += n;
    }

    let mut replay = replay.ok_or_else(|| Error::MissingHeader {
        path: path.to_path_buf(),
        found: match torn_tail {
            Some(_) => "its first line is incomplete".to_string(),
            None => "the file is empty".to_string(),
        },
    })?;
    replay.finish()?;
    replay.torn_tail = torn_tail;
    replay.good_len = good_len;
    Ok(replay)
}

/// A line after the first, as `scan` hands it to `Replay::apply`.
enum Line {
    Record(Record),
    /// An intent read without its request body, and the line to read that from should the
    /// intent still be in flight at the end.
    Intent(IntentHead, Box<[u8]>),
}

/// An intent's fields but its request, which is checked to be JSON but not built: a
/// `Value` tree is the costliest part of a line to make, and is almost always dropped a
/// line later when the outcome arrives.
#[derive(Deserialize)]
struct IntentHead {
    kind: EntityKind,
    id: String,
    before: Vec<Grant>,
    #[serde(rename = "request")]
    _request: IgnoredAny,
    at: String,
}

/// Parses one line after the first. Lines this build wrote start `{"type":"<tag>",`; for
/// those the tag picks the struct up front (its derived `Deserialize` skips the `type` key
/// as unknown), sparing serde's buffering of an internally tagged line into an
/// intermediate tree, and an intent is read without its request body. Anything else, such
/// as a line reformatted by hand, takes the general path.
fn parse_line(line: &[u8]) -> Result<Line, serde_json::Error> {
    const PREFIX: &[u8] = br#"{"type":""#;
    let tag = line.strip_prefix(PREFIX).and_then(|rest| {
        let end = rest.iter().position(|&b| b == b'"')?;
        Some(&rest[..end])
    });
    let record = match tag {
        Some(b"intent") => {
            let head = serde_json::from_slice(line)?;
            return Ok(Line::Intent(head, line.into()));
        }
        Some(b"outcome") => serde_json::from_slice(line).map(Record::Outcome),
        Some(b"resume") => serde_json::from_slice(line).map(Record::Resume),
        Some(b"end") => serde_json::from_slice(line).map(Record::End),
        _ => serde_json::from_slice(line),
    };
    record.map(Line::Record)
}

/// Parses line 1, which must be a header of this format and version.
fn parse_header(line: &[u8], path: &Path) -> Result<Header, Error> {
    let corrupt = |source| Error::Corrupt {
        path: path.to_path_buf(),
        line: 1,
        source,
    };
    let probe: HeaderProbe = serde_json::from_slice(line).map_err(corrupt)?;
    match probe.ty.as_deref() {
        Some("header") => {}
        Some(other) => {
            return Err(Error::MissingHeader {
                path: path.to_path_buf(),
                found: format!("line 1 is a {other:?} record"),
            });
        }
        None => {
            return Err(Error::MissingHeader {
                path: path.to_path_buf(),
                found: "line 1 has no \"type\"".to_string(),
            });
        }
    }
    if probe.format.as_deref() != Some(FORMAT) {
        return Err(Error::NotAJournal {
            path: path.to_path_buf(),
            found: probe.format,
        });
    }
    if let Some(version) = probe.version
        && version != u64::from(VERSION)
    {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
        });
    }
    match serde_json::from_slice::<Record>(line).map_err(corrupt)? {
        Record::Header(header) => Ok(header),
        _ => Err(Error::MissingHeader {
            path: path.to_path_buf(),
            found: "line 1 is another record".to_string(),
        }),
    }
}
