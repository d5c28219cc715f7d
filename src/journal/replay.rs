//! Reading a journal back: one streaming pass that checks the header, tolerates a torn last
//! line, and folds the records into one compact entry per entity.
//!
//! An entry holds what the entity's state is (in flight, or done with which outcome, how many
//! attempts, the last status and error) and where its lines are: the byte offsets of its first
//! intent and of its last record. The access lists and request bodies, which can be any size,
//! stay in the file: [`Replay::first_before`], [`Replay::outcome`] and [`Replay::intent`] read
//! the one line they need when asked (one positioned read). So a replay's memory grows with
//! the number of entities (a 64-byte entry and the id, some 200 bytes each with the maps'
//! slack), never with the size of their access lists or the number of their retries.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::num::NonZeroU32;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::error::Category;

use super::error::Error;
use super::record::{
    End, FORMAT, Header, Intent, Outcome, OutcomeKind, PurposeKind, Record, Resume, VERSION,
};
use crate::model::{EntityKind, Grant};

/// Where one entity stands according to the journal. An entity with no record at all is
/// pending, and has no `EntityState`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntityState {
    /// An intent with no outcome after it: the write may or may not have landed, so the
    /// executor reads the entity again before doing anything. [`Replay::intent`] reads the
    /// intent itself.
    InFlight,
    /// The last record for the entity is an outcome.
    Done { outcome: OutcomeSummary },
}

/// An [`Outcome`] without its access list and timestamp; [`Replay::outcome`] reads the
/// whole record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeSummary {
    /// How the entity ended up.
    pub outcome: OutcomeKind,
    /// Requests sent for the write, retries included.
    pub attempts: u32,
    /// The HTTP status of the last write attempt, if one got an answer.
    pub status: Option<u16>,
    /// Why it failed, drifted, was refused or skipped (or the note on an unverified success).
    /// Kept whatever the outcome, since it is what `status` and the report print; rare but
    /// for failures.
    pub error: Option<Box<str>>,
    /// Whether the outcome carries an access list read back (`after` not null), for
    /// [`Replay::outcome_after`] to read.
    has_after: bool,
}

impl OutcomeSummary {
    /// Whether the outcome records the access list as read back afterwards (which
    /// [`Replay::outcome_after`] reads).
    pub fn has_after(&self) -> bool {
        self.has_after
    }
}

/// Where one whole line sits in the journal: enough to read it again with one positioned read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LineRef {
    offset: u64,
    /// Its length, newline included (so never 0, which lets `Option<LineRef>` cost nothing).
    len: NonZeroU32,
}

/// One entity's replayed state, and where the lines behind it are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityReplay {
    /// Its latest state: a later intent (a retry on resume) or outcome replaces an earlier.
    pub state: EntityState,
    /// Its first intent across resumes, whose `before` is the access list from before
    /// handover first wrote it. `None` when only outcomes were recorded.
    first_intent: Option<LineRef>,
    /// The record that set `state`: the in-flight intent, or the last outcome.
    last: LineRef,
}

impl EntityReplay {
    /// Whether handover ever journaled an intent to write this entity, so that
    /// [`Replay::first_before`] has a list to give.
    pub fn wrote(&self) -> bool {
        self.first_intent.is_some()
    }
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
            EntityState::InFlight => self.in_flight += 1,
            EntityState::Done { outcome } => {
                *self.outcomes.entry(outcome.outcome).or_default() += 1
            }
        }
    }
}

/// What a journal says, read in one pass. Holds the journal open (read-only, unlocked) to
/// read entities' lines on demand; the journal is append-only, so the lines stay where they
/// were found while a run appends after them or a resume cuts a torn tail off.
#[derive(Debug)]
pub struct Replay {
    path: PathBuf,
    file: File,
    header: Header,
    // Keyed by kind first so a lookup by `(kind, &str)` needs no owned key; ids are boxed
    // strings, a third smaller than `String`s.
    entities: HashMap<EntityKind, HashMap<Box<str>, EntityReplay>>,
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
        let file = open_read(path)?;
        scan(file, path)
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

    /// The access list from before handover first wrote the entity (the `before` of its
    /// first intent, across resumes), read from the journal; `None` if it never wrote it.
    pub fn first_before(&self, kind: EntityKind, id: &str) -> Result<Option<Vec<Grant>>, Error> {
        let Some(at) = self.entity(kind, id).and_then(|e| e.first_intent) else {
            return Ok(None);
        };
        let line = self.read_line(at)?;
        let parsed: BeforeOf = serde_json::from_slice(&line).map_err(|e| self.corrupt(at, e))?;
        if parsed.ty != "intent" || parsed.kind != kind || parsed.id != id {
            return Err(self.changed(at));
        }
        Ok(Some(parsed.before))
    }

    /// The entity's first intent across resumes, whole (its request body included), read
    /// from the journal; `None` if it never wrote it. A `partial` entity's first intent
    /// holds the request the server refused, which its last one does not.
    pub fn first_intent(&self, kind: EntityKind, id: &str) -> Result<Option<Intent>, Error> {
        let Some(at) = self.entity(kind, id).and_then(|e| e.first_intent) else {
            return Ok(None);
        };
        match self.read_record(at)? {
            Record::Intent(i) if i.kind == kind && i.id == id => Ok(Some(i)),
            _ => Err(self.changed(at)),
        }
    }

    /// The entity's last outcome, whole (its `after` included), read from the journal;
    /// `None` unless the entity is done.
    pub fn outcome(&self, kind: EntityKind, id: &str) -> Result<Option<Outcome>, Error> {
        let Some(e) = self.entity(kind, id) else {
            return Ok(None);
        };
        if !matches!(e.state, EntityState::Done { .. }) {
            return Ok(None);
        }
        match self.read_record(e.last)? {
            Record::Outcome(o) if o.kind == kind && o.id == id => Ok(Some(o)),
            _ => Err(self.changed(e.last)),
        }
    }

    /// The access list the entity's last outcome read back, read from the journal; `None`
    /// if it is not done or its outcome recorded none (then nothing is read).
    pub fn outcome_after(&self, kind: EntityKind, id: &str) -> Result<Option<Vec<Grant>>, Error> {
        let Some(e) = self.entity(kind, id) else {
            return Ok(None);
        };
        match &e.state {
            EntityState::Done { outcome } if outcome.has_after => {}
            _ => return Ok(None),
        }
        let line = self.read_line(e.last)?;
        let parsed: AfterOf =
            serde_json::from_slice(&line).map_err(|err| self.corrupt(e.last, err))?;
        if parsed.ty != "outcome" || parsed.kind != kind || parsed.id != id {
            return Err(self.changed(e.last));
        }
        Ok(parsed.after)
    }

    /// The intent of an entity in flight, whole (its request body included), read from the
    /// journal; `None` unless the entity is in flight.
    pub fn intent(&self, kind: EntityKind, id: &str) -> Result<Option<Intent>, Error> {
        let Some(e) = self.entity(kind, id) else {
            return Ok(None);
        };
        if e.state != EntityState::InFlight {
            return Ok(None);
        }
        match self.read_record(e.last)? {
            Record::Intent(i) if i.kind == kind && i.id == id => Ok(Some(i)),
            _ => Err(self.changed(e.last)),
        }
    }

    /// The intent on the line of `len` bytes (newline included) at `offset`, whole, which
    /// must be an intent of this entity: for a reader that noted where an entity's intents
    /// are in a pass of its own (a replay keeps only the first and the last record's).
    pub fn intent_at(
        &self,
        kind: EntityKind,
        id: &str,
        offset: u64,
        len: NonZeroU32,
    ) -> Result<Intent, Error> {
        let at = LineRef { offset, len };
        match self.read_record(at)? {
            Record::Intent(i) if i.kind == kind && i.id == id => Ok(i),
            _ => Err(self.changed(at)),
        }
    }

    /// Every entity the journal mentions, in no particular order.
    pub fn entities(&self) -> impl Iterator<Item = (EntityKind, &str, &EntityReplay)> {
        self.entities
            .iter()
            .flat_map(|(kind, ids)| ids.iter().map(move |(id, e)| (*kind, &**id, e)))
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

    /// Every entity whose last outcome is a [failure](OutcomeKind::is_failure) (failed,
    /// drifted or refused), with its reason, by kind then id.
    pub fn failures(&self) -> Vec<(EntityKind, &str, &OutcomeSummary)> {
        let mut failures: Vec<_> = self
            .entities()
            .filter_map(|(kind, id, e)| match &e.state {
                EntityState::Done { outcome } if outcome.outcome.is_failure() => {
                    Some((kind, id, outcome))
                }
                _ => None,
            })
            .collect();
        failures.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        failures
    }

    /// The entities with an intent and no outcome after it, by kind then id.
    pub fn in_flight(&self) -> Vec<(EntityKind, &str)> {
        let mut in_flight: Vec<_> = self
            .entities()
            .filter(|(_, _, e)| e.state == EntityState::InFlight)
            .map(|(kind, id, _)| (kind, id))
            .collect();
        in_flight.sort();
        in_flight
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

    /// The bytes of the line at `at`.
    fn read_line(&self, at: LineRef) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0; at.len.get() as usize];
        self.file
            .read_exact_at(&mut buf, at.offset)
            .map_err(|source| Error::Read {
                path: self.path.clone(),
                source,
            })?;
        if buf.last() != Some(&b'\n') {
            return Err(self.changed(at));
        }
        Ok(buf)
    }

    /// The record on the line at `at`.
    fn read_record(&self, at: LineRef) -> Result<Record, Error> {
        let line = self.read_line(at)?;
        parse_record(&line).map_err(|e| self.corrupt(at, e))
    }

    /// A line that replay read whole fails to parse now.
    fn corrupt(&self, at: LineRef, source: serde_json::Error) -> Error {
        match self.line_number(at) {
            Ok(line) => Error::Corrupt {
                path: self.path.clone(),
                line,
                source,
            },
            Err(e) => e,
        }
    }

    /// A line that replay read is not the record it was.
    fn changed(&self, at: LineRef) -> Error {
        match self.line_number(at) {
            Ok(line) => Error::Changed {
                path: self.path.clone(),
                line,
            },
            Err(e) => e,
        }
    }

    /// The 1-based number of the line at `at`, counted again from the start: only error
    /// messages need it, so entries do not carry it.
    fn line_number(&self, at: LineRef) -> Result<u64, Error> {
        let mut buf = vec![0; 1 << 16];
        let mut newlines = 0u64;
        let mut pos = 0u64;
        while pos < at.offset {
            let want = usize::try_from(at.offset - pos).map_or(buf.len(), |n| n.min(buf.len()));
            let n = match self.file.read_at(&mut buf[..want], pos) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Read {
                        path: self.path.clone(),
                        source,
                    });
                }
            };
            newlines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            pos += n as u64;
        }
        Ok(newlines + 1)
    }
}

/// The records after the header, folded as `scan` reads them.
#[derive(Debug)]
struct Fold {
    entities: HashMap<EntityKind, HashMap<Box<str>, EntityReplay>>,
    /// The header included.
    records: u64,
    resumes: u64,
    end: Option<End>,
}

impl Fold {
    /// Folds in the line at `at`, the `line`th.
    fn apply(
        &mut self,
        parsed: Line<'_>,
        at: LineRef,
        line: u64,
        path: &Path,
    ) -> Result<(), Error> {
        match parsed {
            Line::Intent { kind, id } => {
                self.end = None;
                match self.entry(kind, &id) {
                    Some(entry) => {
                        entry.state = EntityState::InFlight;
                        entry.first_intent.get_or_insert(at);
                        entry.last = at;
                    }
                    None => self.insert(
                        kind,
                        &id,
                        EntityReplay {
                            state: EntityState::InFlight,
                            first_intent: Some(at),
                            last: at,
                        },
                    ),
                }
            }
            Line::Outcome { kind, id, summary } => {
                self.end = None;
                let state = EntityState::Done { outcome: summary };
                match self.entry(kind, &id) {
                    Some(entry) => {
                        entry.state = state;
                        entry.last = at;
                    }
                    None => self.insert(
                        kind,
                        &id,
                        EntityReplay {
                            state,
                            first_intent: None,
                            last: at,
                        },
                    ),
                }
            }
            Line::Resume => {
                self.resumes += 1;
                self.end = None;
            }
            Line::End(end) => self.end = Some(end),
            Line::Header => {
                return Err(Error::Misplaced {
                    path: path.to_path_buf(),
                    line,
                    problem: "a header record after the first line",
                });
            }
        }
        self.records += 1;
        Ok(())
    }

    /// An entity's entry, if it has one. Looking up before inserting spares an owned key
    /// for every line but an entity's first.
    fn entry(&mut self, kind: EntityKind, id: &str) -> Option<&mut EntityReplay> {
        self.entities.get_mut(&kind)?.get_mut(id)
    }

    fn insert(&mut self, kind: EntityKind, id: &str, entry: EntityReplay) {
        self.entities
            .entry(kind)
            .or_default()
            .insert(id.into(), entry);
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

fn open_read(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a whole journal from `file` (positioned at its start), which the replay then
/// keeps to read lines from on demand. `file` must have been opened by this process for
/// the replay alone: a handle that shares the writer's open file would share its `flock`
/// too, and keep the journal locked for as long as the replay lives.
pub(super) fn scan(file: File, path: &Path) -> Result<Replay, Error> {
    // Large reads: replay is one sequential pass over a file that can hold 300k lines.
    let mut reader = BufReader::with_capacity(1 << 18, &file);
    let mut buf = Vec::with_capacity(4096);
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut header: Option<Header> = None;
    let mut fold = Fold {
        entities: HashMap::new(),
        records: 1,
        resumes: 0,
        end: None,
    };
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
        let Some(len) = u32::try_from(n).ok().and_then(NonZeroU32::new) else {
            return Err(Error::Misplaced {
                path: path.to_path_buf(),
                line,
                problem: "a record longer than 4 GiB",
            });
        };
        let at = LineRef {
            offset: good_len,
            len,
        };
        let applied = match header {
            None => parse_header(&buf, path).map(|h| header = Some(h)),
            Some(_) => parse_line(&buf)
                .map_err(|source| Error::Corrupt {
                    path: path.to_path_buf(),
                    line,
                    source,
                })
                .and_then(|record| fold.apply(record, at, line, path)),
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
    drop(reader);

    let header = header.ok_or_else(|| Error::MissingHeader {
        path: path.to_path_buf(),
        found: match torn_tail {
            Some(_) => "its first line is incomplete".to_string(),
            None => "the file is empty".to_string(),
        },
    })?;
    Ok(Replay {
        path: path.to_path_buf(),
        file,
        header,
        entities: fold.entities,
        records: fold.records,
        resumes: fold.resumes,
        end: fold.end,
        torn_tail,
        good_len,
    })
}

/// A line after the first, as much of it as `scan` keeps. The id borrows from the line
/// where it can: only an entity's first line needs an owned one.
enum Line<'a> {
    Intent {
        kind: EntityKind,
        id: Cow<'a, str>,
    },
    Outcome {
        kind: EntityKind,
        id: Cow<'a, str>,
        summary: OutcomeSummary,
    },
    Resume,
    End(End),
    Header,
}

impl From<Record> for Line<'_> {
    fn from(record: Record) -> Self {
        match record {
            Record::Header(_) => Line::Header,
            Record::Intent(i) => Line::Intent {
                kind: i.kind,
                id: i.id.into(),
            },
            Record::Outcome(o) => Line::Outcome {
                kind: o.kind,
                id: o.id.into(),
                summary: OutcomeSummary {
                    outcome: o.outcome,
                    attempts: o.attempts,
                    status: o.status,
                    error: o.error.map(String::into_boxed_str),
                    has_after: o.after.is_some(),
                },
            },
            Record::Resume(_) => Line::Resume,
            Record::End(end) => Line::End(end),
        }
    }
}

/// An intent as `scan` reads it: every field checked as [`Intent`] checks it, none built
/// but the key. The request body is only checked to be JSON (as a `Value` accepts any), and
/// the access list is built and dropped.
#[derive(Deserialize)]
struct IntentScan<'a> {
    kind: EntityKind,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "before")]
    _before: Vec<Grant>,
    #[serde(rename = "request")]
    _request: IgnoredAny,
    #[serde(rename = "at", borrow)]
    _at: Cow<'a, str>,
}

/// An outcome as `scan` reads it: every field checked as [`Outcome`] checks it; of the
/// access list read back, only whether there is one is kept.
#[derive(Deserialize)]
struct OutcomeScan<'a> {
    kind: EntityKind,
    #[serde(borrow)]
    id: Cow<'a, str>,
    outcome: OutcomeKind,
    attempts: u32,
    status: Option<u16>,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
    after: Option<Vec<Grant>>,
    #[serde(rename = "at", borrow)]
    _at: Cow<'a, str>,
}

/// What [`Replay::first_before`] reads of an intent line.
#[derive(Deserialize)]
struct BeforeOf<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    kind: EntityKind,
    #[serde(borrow)]
    id: Cow<'a, str>,
    before: Vec<Grant>,
}

/// What [`Replay::outcome_after`] reads of an outcome line.
#[derive(Deserialize)]
struct AfterOf<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    kind: EntityKind,
    #[serde(borrow)]
    id: Cow<'a, str>,
    after: Option<Vec<Grant>>,
}

/// The `<tag>` of a line that starts `{"type":"<tag>",`, as every line this build writes
/// does.
fn leading_tag(line: &[u8]) -> Option<&[u8]> {
    const PREFIX: &[u8] = br#"{"type":""#;
    let rest = line.strip_prefix(PREFIX)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    Some(&rest[..end])
}

/// Parses one line after the first. For lines that start with their tag the tag picks the
/// struct up front (its derived `Deserialize` skips the `type` key as unknown), sparing
/// serde's buffering of an internally tagged line into an intermediate tree, and an intent
/// is read without building its request body. Anything else, such as a line reformatted by
/// hand, takes the general path.
fn parse_line(line: &[u8]) -> Result<Line<'_>, serde_json::Error> {
    match leading_tag(line) {
        Some(b"intent") => {
            let head: IntentScan = serde_json::from_slice(line)?;
            Ok(Line::Intent {
                kind: head.kind,
                id: head.id,
            })
        }
        Some(b"outcome") => {
            let o: OutcomeScan = serde_json::from_slice(line)?;
            Ok(Line::Outcome {
                kind: o.kind,
                id: o.id,
                summary: OutcomeSummary {
                    outcome: o.outcome,
                    attempts: o.attempts,
                    status: o.status,
                    error: o.error.map(|e| e.into()),
                    has_after: o.after.is_some(),
                },
            })
        }
        Some(b"resume") => serde_json::from_slice::<Resume>(line).map(|_| Line::Resume),
        Some(b"end") => serde_json::from_slice(line).map(Line::End),
        _ => serde_json::from_slice::<Record>(line).map(Line::from),
    }
}

/// Parses one whole record, with [`parse_line`]'s shortcut for lines that start with their
/// tag.
fn parse_record(line: &[u8]) -> Result<Record, serde_json::Error> {
    match leading_tag(line) {
        Some(b"intent") => serde_json::from_slice(line).map(Record::Intent),
        Some(b"outcome") => serde_json::from_slice(line).map(Record::Outcome),
        _ => serde_json::from_slice(line),
    }
}

/// Parses line 1, which must be a header of this format and version.
fn parse_header(line: &[u8], path: &Path) -> Result<Header, Error> {
    let corrupt = |source| Error::Corrupt {
        path: path.to_path_buf(),
        line: 1,
        source,
    };
    let probe: HeaderProbe = serde_json::from_slice(line).map_err(corrupt)?;
    // A file with a format of its own (a plan given as the journal) is named for what it
    // is, rather than for the record type it lacks.
    if probe.format.as_deref().is_some_and(|f| f != FORMAT) {
        return Err(Error::NotAJournal {
            path: path.to_path_buf(),
            found: probe.format,
        });
    }
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

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};
    use std::io::Write;

    use serde_json::json;

    use super::*;
    use crate::journal::{Journal, Resume};
    use crate::model::Role;

    fn grant(name: &str, role: Role) -> Grant {
        Grant {
            recipient_type: "user".to_string(),
            id: Some(format!("id-{name}")),
            name: name.to_string(),
            role,
            can_share: Some(true),
        }
    }

    fn header() -> Header {
        Header::new(
            "sha256:00",
            "https://dr.example.com/api/v2",
            "plan.jsonl",
            PurposeKind::Apply,
        )
    }

    fn intent(kind: EntityKind, id: &str, before: Vec<Grant>, to: &str) -> Intent {
        Intent::new(
            kind,
            id,
            before,
            json!({"roles": [{"username": to, "role": "OWNER"}]}),
        )
    }

    fn outcome(
        kind: EntityKind,
        id: &str,
        what: OutcomeKind,
        after: Option<Vec<Grant>>,
    ) -> Outcome {
        Outcome {
            status: Some(204),
            error: what.is_failure().then(|| format!("{id} went wrong")),
            after,
            ..Outcome::new(kind, id, what, 1)
        }
    }

    fn append_raw(path: &Path, bytes: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    }

    /// Every list read back by offset equals what was written: the first `before` across a
    /// resume, the last outcome whole, the intent in flight whole; a torn tail changes none.
    #[test]
    fn lists_read_on_demand_are_the_ones_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let (p, s, d) = (
            EntityKind::Project,
            EntityKind::DataStore,
            EntityKind::Dataset,
        );
        let original = vec![grant("alice", Role::Owner), grant("carol", Role::Consumer)];
        let reread = vec![grant("alice", Role::Editor), grant("bob", Role::Owner)];
        let half_done = vec![grant("alice", Role::Owner), grant("bob", Role::Owner)];
        let done = vec![grant("bob", Role::Owner), grant("carol", Role::Consumer)];
        let found = vec![grant("dave", Role::Owner)];

        let first_p1 = intent(p, "p1", original.clone(), "bob");
        let drifted = outcome(s, "s1", OutcomeKind::Drifted, Some(found.clone()));
        {
            let mut j = Journal::create(&path, &header()).unwrap();
            j.append(&first_p1.clone().into());
            j.append(&outcome(p, "p1", OutcomeKind::Failed, Some(half_done.clone())).into());
            j.append(&drifted.clone().into());
            j.append(&End::now(true).into());
            j.close().unwrap();
        }
        let retry_p1 = intent(p, "p1", reread.clone(), "bob");
        let settled_p1 = outcome(p, "p1", OutcomeKind::Succeeded, Some(done.clone()));
        let flying_d1 = intent(d, "d1", found.clone(), "erin");
        {
            let (mut j, replay) = Journal::open_existing(&path).unwrap();
            // Before the resume: p1's failure and its read-back.
            assert_eq!(
                replay.outcome(p, "p1").unwrap().unwrap().after,
                Some(half_done.clone())
            );
            j.append(&Resume::now().into());
            j.append(&retry_p1.clone().into());
            j.append(&settled_p1.clone().into());
            j.append(&flying_d1.clone().into());
            j.close().unwrap();
        }
        // A crash in the middle of d1's outcome.
        let good = fs::metadata(&path).unwrap().len();
        append_raw(
            &path,
            br#"{"type":"outcome","kind":"dataset","id":"d1","outcome":"succ"#,
        );

        let check = |replay: &Replay| {
            assert_eq!(
                replay.first_before(p, "p1").unwrap(),
                Some(original.clone())
            );
            assert_eq!(replay.outcome(p, "p1").unwrap(), Some(settled_p1.clone()));
            assert_eq!(replay.outcome_after(p, "p1").unwrap(), Some(done.clone()));
            assert_eq!(replay.intent(p, "p1").unwrap(), None, "p1 is done");
            assert_eq!(replay.first_before(s, "s1").unwrap(), None, "never written");
            assert_eq!(replay.outcome(s, "s1").unwrap(), Some(drifted.clone()));
            assert_eq!(replay.outcome_after(s, "s1").unwrap(), Some(found.clone()));
            assert_eq!(replay.first_before(d, "d1").unwrap(), Some(found.clone()));
            assert_eq!(replay.intent(d, "d1").unwrap(), Some(flying_d1.clone()));
            assert_eq!(
                replay.outcome(d, "d1").unwrap(),
                None,
                "its outcome is torn"
            );
            assert_eq!(replay.outcome_after(d, "d1").unwrap(), None);
            assert_eq!(replay.first_before(p, "p9").unwrap(), None, "pending");
            let Some(EntityState::Done { outcome }) = replay.state(s, "s1") else {
                panic!("s1 is done")
            };
            assert_eq!(outcome.error.as_deref(), Some("s1 went wrong"));
            assert!(outcome.has_after());
            assert_eq!(replay.failures().len(), 1);
            assert_eq!(replay.in_flight(), vec![(d, "d1")]);
        };

        let seen = Replay::read(&path).unwrap();
        assert_eq!(seen.torn_tail().map(|t| t.offset), Some(good));
        check(&seen);

        // Resuming cuts the torn tail off and appends after it; what `seen` found earlier
        // still reads the same, and so does a new replay with d1 settled.
        let (mut j, opened) = Journal::open_existing(&path).unwrap();
        check(&opened);
        let settled_d1 = outcome(d, "d1", OutcomeKind::Succeeded, None);
        j.append(&Resume::now().into());
        j.append(&settled_d1.clone().into());
        j.close().unwrap();
        check(&seen);
        let last = Replay::read(&path).unwrap();
        assert_eq!(last.first_before(d, "d1").unwrap(), Some(found.clone()));
        assert_eq!(last.outcome(d, "d1").unwrap(), Some(settled_d1));
        assert_eq!(last.outcome_after(d, "d1").unwrap(), None, "none read back");
        assert_eq!(last.first_before(p, "p1").unwrap(), Some(original));
        let Some(EntityState::Done { outcome }) = last.state(d, "d1") else {
            panic!("d1 is done")
        };
        assert!(!outcome.has_after());
    }

    /// A journal rewritten behind a replay's back is named, with the line, rather than read
    /// as some other entity's list.
    #[test]
    fn a_journal_changed_after_replay_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let p = EntityKind::Project;
        let mut j = Journal::create(&path, &header()).unwrap();
        j.append(&intent(p, "p1", vec![grant("alice", Role::Owner)], "bob").into());
        j.append(&intent(p, "p2", vec![grant("alice", Role::Owner)], "bob").into());
        j.append(&outcome(p, "p2", OutcomeKind::Succeeded, Some(vec![])).into());
        j.append(&outcome(p, "p3", OutcomeKind::Skipped, Some(vec![])).into());
        j.close().unwrap();
        let replay = Replay::read(&path).unwrap();

        // The same bytes with the two ids swapped: every line stays where it was.
        let text = fs::read_to_string(&path).unwrap();
        let swapped = text
            .replace("\"p1\"", "\"pX\"")
            .replace("\"p2\"", "\"p1\"")
            .replace("\"pX\"", "\"p2\"");
        fs::write(&path, swapped).unwrap();
        let err = replay.first_before(p, "p2").unwrap_err();
        assert!(matches!(&err, Error::Changed { line: 3, .. }), "{err:?}");
        assert!(err.to_string().contains("j.jsonl"), "{err}");
        assert!(matches!(
            replay.intent(p, "p1").unwrap_err(),
            Error::Changed { line: 2, .. }
        ));
        assert!(matches!(
            replay.outcome_after(p, "p2").unwrap_err(),
            Error::Changed { line: 4, .. }
        ));
        assert_eq!(replay.outcome_after(p, "p3").unwrap(), Some(vec![]));

        // Not JSON any more where a line was.
        let garbled = text.replacen("{\"type\":\"outcome\"", "{\"type\"!\"outcome\"", 1);
        fs::write(&path, garbled).unwrap();
        let err = replay.outcome(p, "p2").unwrap_err();
        assert!(matches!(&err, Error::Corrupt { line: 4, .. }), "{err:?}");

        // Cut short: the line is not there to read.
        fs::write(&path, &text[..text.len() - 10]).unwrap();
        assert!(matches!(
            replay.outcome_after(p, "p3").unwrap_err(),
            Error::Read { .. }
        ));
    }

    /// Memory per entity does not depend on its access lists: an entry is a fixed size.
    #[test]
    fn an_entry_is_small() {
        assert!(
            std::mem::size_of::<EntityReplay>() <= 64,
            "{}",
            std::mem::size_of::<EntityReplay>()
        );
    }
}
