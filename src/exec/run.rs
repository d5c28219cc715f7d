//! The coordinator: the one task that owns the journal, the counters and the progress
//! display. It streams the plan, hands entities to at most `concurrency` workers, and
//! `select!`s over their intents and ends, the shutdown signal and a tick.
//!
//! Group commit: whatever is ready when the coordinator wakes (intents of several workers,
//! outcomes of others, outcomes it records itself for noop and refused entries) is appended
//! and made durable with ONE sync; only then are the intents answered (so those writes may
//! go out) and the outcomes counted and shown. A worker's write therefore never precedes
//! its intent on disk, and nothing is reported that a crash could take back.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use tokio::runtime::RuntimeFlavor;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use crate::api::config::same_endpoint;
use crate::api::{Client, Counters};
use crate::journal::{
    self, End, EntityState, Header, Journal, Outcome, OutcomeKind, PurposeKind, Record, Replay,
    Resume,
};
use crate::model::EntityKind;
use crate::plan::{ActionKind, PlanEntry, PlanReader, UserIdent};

use super::error::Error;
use super::progress::{Progress, ProgressKind, Snapshot};
use super::summary::{RunSummary, StopKind, Tally};
use super::worker::{self, IntentMsg, Job, WorkerEnd, WorkerSettings};

/// Entries the coordinator takes from the plan before it looks at its workers again, so a
/// long run of noop entries cannot starve them.
const ADMIT_BATCH: usize = 256;

/// How often the coordinator wakes with nothing else to do (progress, counters).
const TICK: Duration = Duration::from_millis(250);

/// How a run behaves.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Entities worked on at once (each worker sends one request at a time). With the
    /// automatic pace the client's in-flight limit decides how many of them send at once,
    /// so this is its ceiling. Default 8.
    pub concurrency: usize,
    /// Stop (resumably) once this many entities failed, drifted, were refused by the server
    /// or were gone in this run (the plan's own refusals do not count, nor `partial`
    /// entities, whose new owners are in place). `None`: never.
    pub max_errors: Option<u64>,
    /// Let DataRobot e-mail recipients where it can be told not to (projects). Default off.
    pub notify: bool,
    /// Read every entity back after writing it and compare with the target. Default on.
    pub verify: bool,
    /// How progress is shown.
    pub progress: ProgressKind,
    /// The period of plain progress lines.
    pub progress_every: Duration,
    /// Who sends the writes (from the preflight). A read refused after a write that
    /// revoked this user's own access is expected: they can no longer see the entity.
    pub caller: Option<UserIdent>,
    /// Until this instant the plan's access lists count as read just now, so an entity is
    /// written on the plan's read instead of being read again first (the intent records
    /// `on_plan_read`). `offboard` sets it to when planning began plus `--max-read-age`:
    /// every read of the plan is younger than the time since planning began. `None`
    /// (apply of a saved plan, resume, rollback): always re-read, the drift guard.
    pub trust_plan_reads_until: Option<Instant>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 8,
            max_errors: None,
            notify: false,
            verify: true,
            progress: ProgressKind::Off,
            progress_every: Duration::from_secs(5),
            caller: None,
            trust_plan_reads_until: None,
        }
    }
}

/// Whether [`open_journal`] may start a journal or must find one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalMode {
    /// `apply`: start the journal, or resume it if it exists (same plan only).
    CreateOrResume,
    /// `resume`: the journal must exist.
    ResumeOnly,
}

/// A locked journal ready for [`run`], with what it already says when it was resumed.
#[derive(Debug)]
pub struct OpenJournal {
    journal: Journal,
    replay: Option<Replay>,
}

impl OpenJournal {
    /// Whether an existing journal was picked up again.
    pub fn is_resume(&self) -> bool {
        self.replay.is_some()
    }

    /// What the journal said when it was opened (`None` for a new one).
    pub fn replay(&self) -> Option<&Replay> {
        self.replay.as_ref()
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        self.journal.path()
    }

    /// Whether this resumed journal records a run that already finished for a plan of
    /// `entries` entries: every entry has an outcome (noop and refused entries are
    /// journaled too), none is in flight, and the last record before this resume is an
    /// `end` that was not an interruption. [`run`] would then send nothing and record
    /// nothing but its `end`, so [`finish_if_done`] can stand in for it without a client
    /// or a walk through the plan. A plan naming an entity twice never qualifies (its
    /// outcomes fall short of its entries) and takes the normal path.
    pub fn is_finished(&self, entries: u64) -> bool {
        let Some(replay) = &self.replay else {
            return false;
        };
        let counts = replay.counts();
        counts.in_flight == 0
            && counts.total() as u64 == entries
            && replay.end().is_some_and(|end| !end.interrupted)
    }
}

/// What [`finish_if_done`] made of an open journal.
#[derive(Debug)]
pub enum Resumption {
    /// The journal's run had already finished: it is closed again, nothing was sent.
    Finished {
        /// The summary [`run`] would have given: every outcome from earlier runs, none
        /// this run, no request sent.
        summary: RunSummary,
        /// The journal as it was resumed, for the report.
        replay: Replay,
    },
    /// Work remains (or the journal is new): hand it to [`run`].
    ToRun(OpenJournal),
}

/// Stands in for [`run`] when [`OpenJournal::is_finished`] for a plan of `total` entries:
/// appends the `end` record [`run`] would have appended after its `resume`, so that the
/// journal reads as finished again, releases the lock and gives the summary [`run`] would
/// have given, without a client and without walking the plan. Any other journal comes
/// back untouched. `Err` only when the journal cannot be written.
pub fn finish_if_done(journal: OpenJournal, total: u64) -> Result<Resumption, Error> {
    let started = Instant::now();
    if !journal.is_finished(total) {
        return Ok(Resumption::ToRun(journal));
    }
    let OpenJournal {
        journal: mut writer,
        replay,
    } = journal;
    let replay = replay.expect("is_finished holds only for a resumed journal");
    writer.append(&Record::End(End::now(false)));
    sync(&mut writer)?;
    let summary = RunSummary {
        total,
        this_run: Tally::default(),
        earlier: Tally::from_replay(&replay),
        stop: None,
        duplicates: 0,
        client: Some(Counters {
            requests: 0,
            retries: 0,
            throttled: 0,
            rate_per_sec: 0.0,
            in_flight: 0,
            concurrency_limit: None,
            answered_per_sec: 0.0,
            pace: None,
        }),
        elapsed: started.elapsed(),
        journal: Some(writer.stats()),
    };
    writer.close()?;
    Ok(Resumption::Finished { summary, replay })
}

/// Starts or resumes the journal at `path` for `plan`, under its exclusive lock.
///
/// Refuses (nothing sent, exit 2) a plan made against another endpoint than `endpoint`, an
/// existing journal of another plan or purpose or endpoint, and a journal another process
/// holds. A resumed journal gets a `resume` record.
pub fn open_journal(
    path: &Path,
    plan: &PlanReader,
    plan_label: &str,
    endpoint: &Url,
    mode: JournalMode,
) -> Result<OpenJournal, Error> {
    open_journal_for(path, plan, plan_label, endpoint, mode, PurposeKind::Apply)
}

/// [`open_journal`] for a run of `purpose`: a rollback runs its plan through the same
/// executor with a journal of its own, whose header says `rollback`, so that applying or
/// resuming it as an apply journal (or the other way round) is refused.
pub fn open_journal_for(
    path: &Path,
    plan: &PlanReader,
    plan_label: &str,
    endpoint: &Url,
    mode: JournalMode,
    purpose: PurposeKind,
) -> Result<OpenJournal, Error> {
    check_plan_endpoint(plan, endpoint)?;
    let header = Header::new(plan.digest(), endpoint_label(endpoint), plan_label, purpose);
    let fresh = |header: &Header| {
        Journal::create(path, header).map(|journal| OpenJournal {
            journal,
            replay: None,
        })
    };
    if mode == JournalMode::CreateOrResume {
        match fresh(&header) {
            Ok(open) => return Ok(open),
            Err(journal::Error::Exists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (mut journal, replay) = match Journal::open_existing(path) {
        Ok(opened) => opened,
        Err(e @ journal::Error::MissingHeader { .. }) => {
            // A run killed between creating the file and syncing its header: it sent
            // nothing (every intent follows the header), so the file can start over.
            if discard_headerless(path).unwrap_or(false) {
                tracing::warn!(journal = %path.display(), "journal had no complete header (a run died while creating it); starting it again");
                return Ok(fresh(&header)?);
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    replay.check_matches(plan.digest(), purpose)?;
    if !same_endpoint(&replay.header().endpoint, endpoint.as_str()) {
        return Err(Error::JournalEndpointMismatch {
            path: path.to_path_buf(),
            journal: replay.header().endpoint.clone(),
            endpoint: endpoint_label(endpoint),
        });
    }
    journal.append(&Record::Resume(Resume::now()));
    journal.sync()?;
    tracing::info!(
        journal = %path.display(),
        entities = replay.len(),
        in_flight = replay.counts().in_flight,
        "resuming"
    );
    Ok(OpenJournal {
        journal,
        replay: Some(replay),
    })
}

/// Applies `plan` through `client`, journaling into `journal`, until the plan is done or
/// `shutdown` completes (then: no new work, requests in flight finish, the journal is
/// flushed, and the summary says `interrupted`).
///
/// Entities that already have an outcome in the journal are skipped; entities with an
/// intent and no outcome are re-checked before anything is written. Per-entity problems
/// become outcomes; a 401, a fatal response or `max_errors` stop the run early and
/// resumably. `Err` only when the plan's endpoint is not the client's (nothing sent) or
/// the journal cannot be written (then no further write goes out).
pub async fn run(
    client: &Client,
    mut plan: PlanReader,
    journal: OpenJournal,
    settings: &Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, Error> {
    check_plan_endpoint(&plan, client.endpoint())?;
    let total = plan.entries();
    let concurrency = settings.concurrency.max(1);
    let worker_settings = WorkerSettings {
        notify: settings.notify,
        verify: settings.verify,
        caller: settings.caller.clone().map(Arc::new),
        trust_plan_reads_until: settings.trust_plan_reads_until,
        activity: Arc::default(),
    };
    let (intents_tx, mut intents) = mpsc::channel::<IntentMsg>(concurrency);
    // Dropped on every early return, which aborts the workers: after a journal failure no
    // write may go out on the strength of an intent that is not on disk.
    let mut workers: JoinSet<WorkerEnd> = JoinSet::new();
    let mut c = Coordinator {
        client,
        settings,
        journal: journal.journal,
        replay: journal.replay,
        progress: Progress::new(settings.progress, total, settings.progress_every),
        total,
        seen: HashSet::new(),
        waiting: Vec::new(),
        unsynced: Vec::new(),
        this_run: Tally::default(),
        earlier: Tally::default(),
        errors: 0,
        duplicates: 0,
        stop: None,
        started: Instant::now(),
        sharing: 0,
    };

    // A client an earlier run stopped sends again (the halt is for one run's stop).
    client.unhalt();
    let mut shutdown = pin!(shutdown);
    let mut shutdown_seen = false;
    let mut plan_done = false;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);

    // An entity that receives linked grants waits here while an entity whose share grants
    // them is in flight (contract C7): its write and read-back then see what those shares
    // did, and a later share cannot add a CONSUMER role behind a rollback that just removed
    // one. A rollback plan lists such entities last, so this makes them follow every share.
    let mut held: Option<PlanEntry> = None;
    loop {
        if workers.is_empty() {
            // Nothing in flight, so no share either, whatever the count says: a held
            // entity can never wait on a worker that is gone.
            c.sharing = 0;
        }
        let mut admitted = 0;
        while c.stop.is_none()
            && !plan_done
            && workers.len() < concurrency
            && admitted < ADMIT_BATCH
        {
            let next = match held.take() {
                Some(entry) => Some(Ok(entry)),
                None => plan.next(),
            };
            match next {
                None => plan_done = true,
                Some(Err(e)) => c.halt(StopKind::Fatal {
                    message: format!("cannot read the plan: {e}"),
                }),
                Some(Ok(entry)) if entry.kind.receives_linked_grants() && c.sharing > 0 => {
                    held = Some(entry);
                    break;
                }
                Some(Ok(entry)) => {
                    admitted += 1;
                    if let Some(job) = c.admit(entry) {
                        if job.entry.kind.grants_linked_access() {
                            c.sharing += 1;
                        }
                        workers.spawn(worker::work(
                            client.clone(),
                            job,
                            worker_settings.clone(),
                            intents_tx.clone(),
                        ));
                    }
                }
            }
        }
        c.commit()?;
        if workers.is_empty() && (plan_done || c.stop.is_some()) {
            break;
        }
        let waiting_for_shares = held.is_some() && c.sharing > 0;
        let can_admit =
            c.stop.is_none() && !plan_done && workers.len() < concurrency && !waiting_for_shares;
        tokio::select! {
            biased;
            () = &mut shutdown, if !shutdown_seen => {
                shutdown_seen = true;
                c.halt(StopKind::Interrupted);
            }
            Some(msg) = intents.recv() => c.take_intent(msg),
            Some(end) = workers.join_next() => c.take_end(end),
            _ = tick.tick() => c.tick(),
            () = std::future::ready(()), if can_admit => {}
        }
        // Everything else already waiting joins the same batch: one sync for all of it.
        while let Ok(msg) = intents.try_recv() {
            c.take_intent(msg);
        }
        while let Some(end) = workers.try_join_next() {
            c.take_end(end);
        }
        c.commit()?;
    }
    // Every worker has ended: the client is the caller's again, to read and send with.
    client.unhalt();
    c.finish()
}

struct Coordinator<'a> {
    client: &'a Client,
    settings: &'a Settings,
    journal: Journal,
    replay: Option<Replay>,
    progress: Progress,
    total: u64,
    /// Entities met in this run, so that a plan naming one twice cannot write it twice.
    seen: HashSet<(EntityKind, String)>,
    /// Workers whose intent is appended and waits for the next sync.
    waiting: Vec<oneshot::Sender<bool>>,
    /// Outcomes appended and not yet synced: (kind, outcome, counts towards max_errors).
    unsynced: Vec<(EntityKind, OutcomeKind, bool)>,
    this_run: Tally,
    earlier: Tally,
    errors: u64,
    duplicates: u64,
    stop: Option<StopKind>,
    started: Instant,
    /// Workers in flight on entities whose share grants linked access (contract C7).
    sharing: usize,
}

impl Coordinator<'_> {
    /// Takes one plan entry: skips it if the journal settled it, records noop and refused
    /// entries directly, and returns the job for a worker otherwise.
    fn admit(&mut self, entry: PlanEntry) -> Option<Job> {
        let (kind, id) = (entry.kind, entry.id.clone());
        if !self.seen.insert((kind, id.clone())) {
            tracing::warn!(kind = %kind, id, "the plan names this entity again; handled once");
            self.duplicates += 1;
            self.progress.set_total(self.total - self.duplicates);
            return None;
        }
        let state = self.replay.as_ref().and_then(|r| r.state(kind, &id));
        match state {
            Some(EntityState::Done { outcome }) => {
                self.earlier.add(kind, outcome.outcome);
                return None;
            }
            Some(EntityState::InFlight) if entry.request.is_some() => {
                tracing::info!(kind = %kind, id, "intent without outcome; re-checking");
                return Some(Job {
                    entry,
                    recheck: true,
                });
            }
            _ => {}
        }
        match entry.action {
            ActionKind::Change => Some(Job {
                entry,
                recheck: false,
            }),
            ActionKind::Noop => {
                self.record(Outcome::new(kind, id, OutcomeKind::AlreadyDone, 0), false);
                None
            }
            ActionKind::Refused => {
                let reason = entry.reason.as_deref().unwrap_or("no reason given");
                let outcome = Outcome {
                    error: Some(format!("refused when planned: {reason}")),
                    ..Outcome::new(kind, id, OutcomeKind::Refused, 0)
                };
                self.record(outcome, false);
                None
            }
        }
    }

    /// Appends an outcome; it counts once synced.
    fn record(&mut self, outcome: Outcome, counts_as_error: bool) {
        let (kind, what) = (outcome.kind, outcome.outcome);
        self.journal.append(&Record::Outcome(outcome));
        // A partial entity has its new owners: stopping would leave the rest without
        // theirs, for users the server would not remove on any retry either.
        let is_error = counts_as_error && !what.is_settled() && what != OutcomeKind::Partial;
        self.unsynced.push((kind, what, is_error));
    }

    /// A worker asks to journal its intent. Refused once the run is stopping: that write
    /// would be new work.
    fn take_intent(&mut self, msg: IntentMsg) {
        if self.stop.is_some() {
            let _ = msg.reply.send(false);
            return;
        }
        self.journal.append(&Record::Intent(msg.intent));
        self.waiting.push(msg.reply);
    }

    /// A worker ended.
    fn take_end(&mut self, end: Result<WorkerEnd, JoinError>) {
        let kind = match &end {
            Ok(WorkerEnd::Outcome(o)) => Some(o.kind),
            Ok(WorkerEnd::Unfinished { kind, .. }) => Some(*kind),
            Err(_) => None,
        };
        if kind.is_some_and(EntityKind::grants_linked_access) {
            self.sharing = self.sharing.saturating_sub(1);
        }
        match end {
            Ok(WorkerEnd::Outcome(outcome)) => self.record(outcome, true),
            Ok(WorkerEnd::Unfinished { kind, id, stop }) => {
                tracing::debug!(kind = %kind, id, "left for a resume");
                if let Some(stop) = stop {
                    self.halt(stop);
                }
            }
            Err(e) if e.is_panic() => self.halt(StopKind::Fatal {
                message: format!("a worker panicked: {e}"),
            }),
            Err(_) => {}
        }
    }

    /// Stops taking new work; keeps the worst reason.
    fn halt(&mut self, stop: StopKind) {
        let worse = self
            .stop
            .as_ref()
            .is_none_or(|s| stop.severity() > s.severity());
        if !worse {
            return;
        }
        tracing::warn!(reason = %stop, "stopping; requests in flight finish first");
        if self.stop.is_none() {
            self.progress.println(&format!(
                "handover: stopping ({stop}); letting requests in flight finish"
            ));
        }
        // Interrupted, or a token every further request would fail with: what waits for
        // its turn is not sent (at a low rate it could hold a SIGTERM for minutes).
        if matches!(stop, StopKind::Interrupted | StopKind::Auth { .. }) {
            self.client.halt_waiting();
        }
        self.stop = Some(stop);
    }

    /// Makes everything appended durable with one sync, then lets the waiting writes go
    /// and counts the outcomes.
    fn commit(&mut self) -> Result<(), Error> {
        if self.journal.pending() == 0 {
            return Ok(());
        }
        if let Err(e) = sync(&mut self.journal) {
            // Dropping the senders tells the waiting workers not to write.
            self.waiting.clear();
            return Err(e.into());
        }
        // After a 401 every write would be refused the same way: the intents stay on
        // disk, unreleased, and a resume re-checks those entities.
        let release = !matches!(self.stop, Some(StopKind::Auth { .. }));
        for waiting in self.waiting.drain(..) {
            let _ = waiting.send(release);
        }
        for (kind, what, is_error) in self.unsynced.drain(..) {
            self.this_run.add(kind, what);
            if is_error {
                self.errors += 1;
            }
        }
        if let Some(limit) = self.settings.max_errors
            && self.errors >= limit
        {
            self.halt(StopKind::MaxErrors { limit });
        }
        self.progress.update(self.snapshot());
        Ok(())
    }

    fn tick(&mut self) {
        self.progress.update(self.snapshot());
        self.progress.tick(self.client.counters());
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            done: self.earlier.total() + self.this_run.total(),
            this_run: self.this_run.total(),
            failed: self.earlier.failures() + self.this_run.failures(),
            client: Some(self.client.counters()),
        }
    }

    /// Closes the journal with an `end` record and builds the summary.
    fn finish(mut self) -> Result<RunSummary, Error> {
        let summary = RunSummary {
            total: self.total,
            this_run: self.this_run.clone(),
            earlier: self.earlier.clone(),
            stop: self.stop.clone(),
            duplicates: self.duplicates,
            client: Some(self.client.counters()),
            elapsed: self.started.elapsed(),
            journal: None,
        };
        let interrupted = summary.stop.is_some() || summary.unfinished() > 0;
        self.journal.append(&Record::End(End::now(interrupted)));
        sync(&mut self.journal)?;
        let summary = RunSummary {
            journal: Some(self.journal.stats()),
            ..summary
        };
        self.progress.update(self.snapshot());
        self.progress.finish();
        Ok(summary)
    }
}

/// Removes a journal that holds no complete line at all (a torn or empty header), under
/// its lock so that a process creating it right now is not disturbed. `false` when the
/// file is anything else (a one-line file of the user's, say), or busy.
fn discard_headerless(path: &Path) -> std::io::Result<bool> {
    let file = std::fs::File::open(path)?;
    if file.try_lock().is_err() {
        return Ok(false);
    }
    if file.metadata()?.len() > 64 * 1024 {
        return Ok(false);
    }
    let bytes = std::fs::read(path)?;
    if bytes.contains(&b'\n') {
        return Ok(false);
    }
    // Only what a torn header can look like: nothing, or the start of a header record.
    // Any other one-line file was named as the journal by mistake and is not ours to delete.
    const HEAD: &[u8] = br#"{"type":"header","#;
    let torn_header = HEAD.starts_with(&bytes) || bytes.starts_with(HEAD);
    if !torn_header {
        return Ok(false);
    }
    std::fs::remove_file(path)?;
    Ok(true)
}

/// Syncs without stalling the runtime: on a multi-threaded runtime the coordinator's
/// thread hands its other tasks to the rest while it waits for the disk.
fn sync(journal: &mut Journal) -> Result<(), journal::Error> {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| journal.sync()),
        _ => journal.sync(),
    }
}

/// The endpoint as written in journals: without the trailing slash.
fn endpoint_label(endpoint: &Url) -> String {
    endpoint.as_str().trim_end_matches('/').to_string()
}

fn check_plan_endpoint(plan: &PlanReader, endpoint: &Url) -> Result<(), Error> {
    let planned = &plan.header().endpoint;
    if same_endpoint(planned, endpoint.as_str()) {
        return Ok(());
    }
    Err(Error::EndpointMismatch {
        plan: PathBuf::from(plan.path()),
        planned: planned.clone(),
        endpoint: endpoint_label(endpoint),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_labels_have_no_trailing_slash() {
        let ours = crate::api::config::normalise_endpoint("https://dr.example.com/api/v2", false)
            .expect("a valid endpoint");
        assert_eq!(endpoint_label(&ours), "https://dr.example.com/api/v2");
    }
}
