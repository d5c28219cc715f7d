//! One entity's journey: re-read, decide (the drift guard), have the intent journaled and
//! synced, write, read back. A worker never touches the journal itself: it asks the
//! coordinator and waits for the answer, and it reports its end as a value.

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use futures::future::BoxFuture;

use crate::api::{self, ApiError, Client, ErrorClass, Resend};
use crate::journal::{Intent, Outcome, OutcomeKind};
use crate::model::{AccessList, EntityKind, Grant, WriteSemanticsKind};
use std::sync::{Arc, Mutex};

use crate::plan::{PlanEntry, ShareRequest, UserIdent, validate};

use super::drift::{self, Decision};
use super::inactive::{self, Activity};
use super::summary::StopKind;

/// One entity to work on.
#[derive(Debug)]
pub(crate) struct Job {
    pub entry: PlanEntry,
    /// An earlier run journaled an intent for this entity and no outcome: its write may
    /// have landed. Finding the entity at its target then means the write succeeded.
    pub recheck: bool,
}

/// What a worker needs to know from the settings.
#[derive(Clone, Debug)]
pub(crate) struct WorkerSettings {
    pub notify: bool,
    pub verify: bool,
    /// Who sends the writes, when known.
    pub caller: Option<Arc<UserIdent>>,
    /// Until then the plan's reads are fresh enough to write on without reading again
    /// (`offboard`, which planned moments ago; see `Settings::trust_plan_reads_until`).
    pub trust_plan_reads_until: Option<Instant>,
    /// Who is active, as far as this run has looked (one lookup per user, on refusals).
    pub activity: Arc<Activity>,
}

impl WorkerSettings {
    /// Whether `request` takes the caller's own access away: the one case in which the
    /// caller may no longer see an entity after a write of theirs landed.
    fn revokes_caller(&self, request: &ShareRequest) -> bool {
        let Some(caller) = &self.caller else {
            return false;
        };
        request.changes.iter().any(|c| {
            c.role.is_none()
                && ((!caller.id.is_empty() && c.id.as_deref() == Some(caller.id.as_str()))
                    || c.name.eq_ignore_ascii_case(&caller.username))
        })
    }
}

/// The outcome of a write that was accepted (or may have landed) but cannot be read back
/// because it removed the caller's own access.
fn unverifiable(
    kind: EntityKind,
    id: &str,
    status: Option<u16>,
    attempts: u32,
    e: &ApiError,
) -> WorkerEnd {
    tracing::info!(kind = %kind, id, error = %e, "read refused after the caller revoked their own access; not verified");
    WorkerEnd::Outcome(Outcome {
        status,
        error: Some(format!(
            "not verified: the read-back was refused ({e}) because the write removed the \
             caller's own access"
        )),
        ..Outcome::new(kind, id, OutcomeKind::Succeeded, attempts)
    })
}

/// A worker's request to journal an intent. The coordinator answers `true` once the intent
/// is on disk, `false` (or drops the sender) when the write must not go out.
#[derive(Debug)]
pub(crate) struct IntentMsg {
    pub intent: Intent,
    pub reply: oneshot::Sender<bool>,
}

/// How a worker ended.
#[derive(Debug)]
pub(crate) enum WorkerEnd {
    /// It has an outcome to journal.
    Outcome(Outcome),
    /// It stopped without an outcome: the entity stays pending (no intent journaled) or in
    /// flight (intent journaled), and a resume picks it up. `stop` is set when the reason
    /// should stop the whole run.
    Unfinished {
        kind: EntityKind,
        id: String,
        stop: Option<StopKind>,
    },
}

/// Works one entity through to its end.
pub(crate) async fn work(
    client: Client,
    job: Job,
    settings: WorkerSettings,
    intents: mpsc::Sender<IntentMsg>,
) -> WorkerEnd {
    let entry = &job.entry;
    let (kind, id) = (entry.kind, entry.id.as_str());
    let outcome = |what: OutcomeKind| Outcome::new(kind, id, what, 0);

    // The plan's own read, when it is young enough and this is not a re-check of a write
    // that may have landed: one request fewer per entity. The read-back stays.
    // A replace-semantics write is built from the list as it is now (every entry, in the
    // server's words), never from the plan's copy.
    let on_plan_read = !job.recheck
        && kind.semantics() == WriteSemanticsKind::Set
        && settings
            .trust_plan_reads_until
            .is_some_and(|until| Instant::now() < until);
    let live = match on_plan_read {
        // The planner refused any entity whose list had an entry that may hide a
        // principal it touches, so the plan's read holds none.
        true => Ok(AccessList {
            grants: entry.current.clone(),
            ..AccessList::default()
        }),
        false => client.access_list(kind, id).await,
    };
    let live = match live {
        Ok(live) => live,
        // An earlier write of this entity may have landed and taken the caller's access.
        Err(e)
            if job.recheck
                && matches!(e.class(), ErrorClass::Gone | ErrorClass::NotAllowed)
                && entry
                    .request
                    .as_ref()
                    .is_some_and(|r| settings.revokes_caller(r)) =>
        {
            return unverifiable(kind, id, None, 0, &e);
        }
        Err(e) => return failure(kind, id, "read", e, None, 0),
    };
    let changes = entry.request.as_ref().map_or(&[][..], |r| &r.changes[..]);
    // A replace-semantics write re-sends every entry: one it cannot read refuses it
    // (`api::share_body_on`), so the unreadable ones are kept for it.
    let unreadable = live.unreadable.clone();
    let role_names = live.role_names.clone();
    let live = match drift::readable(live, changes) {
        Ok(live) => live,
        Err((live, reason)) => {
            return WorkerEnd::Outcome(Outcome {
                error: Some(format!("not sent: {reason}")),
                after: Some(live),
                ..outcome(OutcomeKind::Refused)
            });
        }
    };

    let request = match drift::decide(entry, &live) {
        Decision::AlreadyDone => {
            // An earlier write that was never confirmed did land.
            let what = if job.recheck {
                OutcomeKind::Succeeded
            } else {
                OutcomeKind::AlreadyDone
            };
            return WorkerEnd::Outcome(Outcome {
                after: Some(live),
                ..outcome(what)
            });
        }
        Decision::Drifted { difference } => {
            tracing::info!(kind = %kind, id, %difference, "drifted since planning; not written");
            return WorkerEnd::Outcome(Outcome {
                error: Some(format!("drifted: {difference}")),
                after: Some(live),
                ..outcome(OutcomeKind::Drifted)
            });
        }
        Decision::Refused { reason } => {
            return WorkerEnd::Outcome(Outcome {
                error: Some(format!("not sent: {reason}")),
                after: Some(live),
                ..outcome(OutcomeKind::Refused)
            });
        }
        Decision::Write {
            mut request,
            recomputed,
        } => {
            if recomputed {
                tracing::info!(kind = %kind, id, "access list changed in principals the plan does not touch; request recomputed");
            }
            request.notify = settings.notify;
            request
        }
    };

    // The list the write is sent on: a replace-semantics body is built from all of it.
    let sent_on = AccessList {
        grants: live.clone(),
        unreadable,
        role_names,
    };
    let body = match api::share_body_on(kind, &request, &sent_on) {
        Ok(body) => body,
        Err(e) => {
            return WorkerEnd::Outcome(Outcome {
                error: Some(format!("not sent: {e}")),
                after: Some(live),
                ..outcome(OutcomeKind::Refused)
            });
        }
    };

    // The intent, with the list as just read, must be on disk before the write goes out.
    let (reply, synced) = oneshot::channel();
    let msg = IntentMsg {
        intent: Intent {
            on_plan_read,
            ..Intent::new(kind, id, live.clone(), body)
        },
        reply,
    };
    let unfinished = || WorkerEnd::Unfinished {
        kind,
        id: id.to_string(),
        stop: None,
    };
    if intents.send(msg).await.is_err() {
        return unfinished();
    }
    if !matches!(synced.await, Ok(true)) {
        return unfinished();
    }

    // Before a write whose answer was lost goes out again: read it again. Landed, or
    // changed by someone else meanwhile on a principal it touches: not sent again.
    let rechecked: Mutex<Option<Vec<Grant>>> = Mutex::new(None);
    let recheck = || -> BoxFuture<'_, Resend> {
        Box::pin(async {
            let read = client.access_list(kind, id).await;
            let Ok(Ok(now)) = read.map(|l| drift::readable(l, &request.changes)) else {
                // Unreadable now: the attempt is sent again, as it always was.
                return Resend::Send;
            };
            let landed = drift::at_target(kind, &now, &request.changes).is_ok();
            if !landed && drift::moved(kind, &live, &now, &request.changes).is_empty() {
                return Resend::Send;
            }
            *rechecked.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
            Resend::Stop
        })
    };
    let sent = client
        .share_on_rechecked(kind, id, &request, &sent_on, Some(&recheck))
        .await;
    let seen = rechecked.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let (Some(now), Err(e)) = (seen, &sent) {
        let attempts = e.attempts();
        if drift::at_target(kind, &now, &request.changes).is_ok() {
            return WorkerEnd::Outcome(Outcome {
                status: e.status(),
                after: Some(now),
                ..Outcome::new(kind, id, OutcomeKind::Succeeded, attempts)
            });
        }
        let difference = drift::moved(kind, &live, &now, &request.changes).join("; ");
        tracing::info!(kind = %kind, id, %difference, "changed between attempts of the write; not sent again");
        return WorkerEnd::Outcome(Outcome {
            status: e.status(),
            error: Some(format!(
                "drifted between attempts of the write (an answer was lost; an attempt may \
                 have landed): {difference}"
            )),
            after: Some(now),
            ..Outcome::new(kind, id, OutcomeKind::Drifted, attempts)
        });
    }
    let sent = match sent {
        // A refusal that may be about inactive users: sent again without their changes.
        Err(e) if inactive::is_refusal(&e) => {
            let again = Again {
                client: &client,
                settings: &settings,
                entry,
                live: &sent_on,
                request: &request,
                on_plan_read,
                intents: &intents,
            };
            match again.without_inactive(e).await {
                Ok(end) => return end,
                Err(e) => Err(e),
            }
        }
        sent => sent,
    };
    let (attempts, status) = match sent {
        Ok(done) => (done.attempts, done.status),
        Err(e) if (e.class() == ErrorClass::Retryable || e.attempts() > 1) && settings.verify => {
            // Out of retries, or a retry refused after an earlier attempt lost its answer:
            // an attempt may have landed, so look before recording a failure.
            let attempts = e.attempts();
            let read = client.access_list(kind, id).await;
            return match read.map(|l| drift::readable(l, &request.changes)) {
                Ok(Ok(after)) if drift::at_target(kind, &after, &request.changes).is_ok() => {
                    WorkerEnd::Outcome(Outcome {
                        status: e.status(),
                        after: Some(after),
                        ..Outcome::new(kind, id, OutcomeKind::Succeeded, attempts)
                    })
                }
                Ok(Ok(after) | Err((after, _))) => {
                    failure(kind, id, "write", e, Some(after), attempts)
                }
                Err(read)
                    if matches!(read.class(), ErrorClass::Gone | ErrorClass::NotAllowed)
                        && settings.revokes_caller(&request) =>
                {
                    unverifiable(kind, id, e.status(), attempts, &read)
                }
                Err(read) => match read.class() {
                    ErrorClass::Auth | ErrorClass::Fatal => {
                        failure(kind, id, "read-back", read, None, attempts)
                    }
                    _ => failure(kind, id, "write", e, None, attempts),
                },
            };
        }
        Err(e) => {
            let attempts = e.attempts();
            return failure(kind, id, "write", e, None, attempts);
        }
    };

    if !settings.verify {
        return WorkerEnd::Outcome(Outcome {
            status: Some(status),
            ..Outcome::new(kind, id, OutcomeKind::Succeeded, attempts)
        });
    }
    let read = client.access_list(kind, id).await;
    match read.map(|l| drift::readable(l, &request.changes)) {
        Ok(read) => {
            match read.and_then(
                |after| match drift::at_target(kind, &after, &request.changes) {
                    Ok(()) => Ok(after),
                    Err(mismatch) => Err((after, mismatch)),
                },
            ) {
                Ok(after) => WorkerEnd::Outcome(Outcome {
                    status: Some(status),
                    after: Some(after),
                    ..Outcome::new(kind, id, OutcomeKind::Succeeded, attempts)
                }),
                Err((after, mismatch)) => {
                    tracing::warn!(kind = %kind, id, %mismatch, "write accepted but the read-back does not match");
                    WorkerEnd::Outcome(Outcome {
                        status: Some(status),
                        error: Some(format!("verify: write accepted, but read back {mismatch}")),
                        after: Some(after),
                        ..Outcome::new(kind, id, OutcomeKind::Failed, attempts)
                    })
                }
            }
        }
        // A caller who is not an admin sees an entity only while they hold a role on it:
        // a write that took their own access away (reassigning their own entities) makes
        // the read-back answer 404 or 403. The write was accepted; it just cannot be seen.
        Err(e)
            if matches!(e.class(), ErrorClass::Gone | ErrorClass::NotAllowed)
                && settings.revokes_caller(&request) =>
        {
            unverifiable(kind, id, Some(status), attempts, &e)
        }
        Err(e) => match failure(kind, id, "read-back", e, None, attempts) {
            // The write went through; what failed is the check.
            WorkerEnd::Outcome(o) => {
                tracing::warn!(kind = %kind, id, error = ?o.error, "write accepted but not read back");
                WorkerEnd::Outcome(Outcome {
                    status: Some(status),
                    error: o.error.map(|e| format!("write accepted; {e}")),
                    ..Outcome::new(kind, id, OutcomeKind::Unconfirmed, attempts)
                })
            }
            other => other,
        },
    }
}

/// What a worker knows when its write was refused, for sending it again without the
/// changes of inactive users (see [`inactive`]).
struct Again<'a> {
    client: &'a Client,
    settings: &'a WorkerSettings,
    entry: &'a PlanEntry,
    /// The access list the refused request was sent on (a refusal changes nothing).
    live: &'a AccessList,
    /// The refused request.
    request: &'a ShareRequest,
    on_plan_read: bool,
    intents: &'a mpsc::Sender<IntentMsg>,
}

impl Again<'_> {
    /// The failure of the write sent without the inactive users, after the first was
    /// refused: both told.
    fn failed_again(
        &self,
        e: ApiError,
        after: Option<Vec<Grant>>,
        attempts: u32,
        refusal: &ApiError,
    ) -> WorkerEnd {
        let (kind, id) = (self.entry.kind, self.entry.id.as_str());
        match failure(
            kind,
            id,
            "write without the inactive users",
            e,
            after,
            attempts,
        ) {
            WorkerEnd::Outcome(o) => WorkerEnd::Outcome(Outcome {
                error: o.error.map(|e| format!("write: {refusal}; then {e}")),
                ..o
            }),
            other => other,
        }
    }

    /// Sends the refused request again without the changes that remove or lower the access
    /// of inactive users, when that is what the refusal is about, and ends the entity:
    /// `partial` when the rest is in place (or when the request asked nothing else: then
    /// nothing is sent again). `Err(refusal)`, with nothing sent, when it is not: no such
    /// change, no user known to be inactive, or what is left would leave the entity
    /// without an owner.
    async fn without_inactive(&self, refusal: ApiError) -> Result<WorkerEnd, ApiError> {
        let (kind, id) = (self.entry.kind, self.entry.id.as_str());
        let lowering = inactive::lowering(&self.live.grants, self.request);
        if lowering.is_empty() {
            return Err(refusal);
        }
        let dropped = self
            .settings
            .activity
            .inactive_among(self.client, &refusal, self.request, &lowering)
            .await;
        if dropped.is_empty() {
            return Err(refusal);
        }
        let users: Vec<&crate::plan::Change> =
            dropped.iter().map(|&i| &self.request.changes[i]).collect();
        // What the plan asks of everyone else: what a partial entity shows. A request that
        // asked nothing else (an offboarding's revoke-only entry: the inactive departing
        // user's role on an entity they do not own) is not sent again: there is nothing
        // left to send, and the entity ends `partial` with the server's words, like one
        // whose new owner is in place.
        let planned = self
            .entry
            .request
            .as_ref()
            .map_or(&[][..], |r| &r.changes[..]);
        let kept = inactive::not_naming(planned, &users);
        let reduced = inactive::without(self.request, &dropped);
        if kept.is_empty() && !reduced.changes.is_empty() {
            return Err(refusal);
        }
        if validate(&drift::apply_changes(
            kind,
            &self.live.grants,
            &reduced.changes,
        ))
        .is_err()
        {
            return Err(refusal);
        }
        let note = inactive::note(&kept, &users, &refusal);
        let first_attempts = refusal.attempts();
        let partial = |attempts: u32, status: Option<u16>, after: Option<Vec<Grant>>| {
            tracing::info!(kind = %kind, id, note = %note, "partial: inactive users keep their access");
            WorkerEnd::Outcome(Outcome {
                status,
                error: Some(note.clone()),
                after,
                ..Outcome::new(kind, id, OutcomeKind::Partial, attempts)
            })
        };
        if reduced.changes.is_empty() {
            // Everything else is in place already (an earlier run sent this without them).
            return match drift::at_target(kind, &self.live.grants, &kept) {
                Ok(()) => Ok(partial(
                    first_attempts,
                    refusal.status(),
                    Some(self.live.grants.clone()),
                )),
                Err(_) => Err(refusal),
            };
        }
        let Ok(body) = api::share_body_on(kind, &reduced, self.live) else {
            return Err(refusal);
        };

        // A second write: its own intent on disk first, the list as it still is.
        let (reply, synced) = oneshot::channel();
        let msg = IntentMsg {
            intent: Intent {
                on_plan_read: self.on_plan_read,
                ..Intent::new(kind, id, self.live.grants.clone(), body)
            },
            reply,
        };
        let unfinished = WorkerEnd::Unfinished {
            kind,
            id: id.to_string(),
            stop: None,
        };
        if self.intents.send(msg).await.is_err() || !matches!(synced.await, Ok(true)) {
            return Ok(unfinished);
        }
        tracing::info!(kind = %kind, id, refusal = %refusal, "refused; sending again without the inactive users' changes");
        let (attempts, status) = match self.client.share_on(kind, id, &reduced, self.live).await {
            Ok(done) => (first_attempts + done.attempts, done.status),
            // Out of retries, or a retry refused after an earlier attempt lost its answer
            // (applied, then a 502): an attempt may have landed, so look before recording
            // a failure, as the first write does.
            Err(e)
                if (e.class() == ErrorClass::Retryable || e.attempts() > 1)
                    && self.settings.verify =>
            {
                let attempts = first_attempts + e.attempts();
                let read = self.client.access_list(kind, id).await;
                return Ok(
                    match read.map(|l| drift::readable(l, &self.request.changes)) {
                        Ok(Ok(after))
                            if drift::at_target(kind, &after, &reduced.changes).is_ok() =>
                        {
                            partial(attempts, e.status(), Some(after))
                        }
                        Ok(Ok(after) | Err((after, _))) => {
                            self.failed_again(e, Some(after), attempts, &refusal)
                        }
                        Err(read) => match read.class() {
                            ErrorClass::Auth | ErrorClass::Fatal => {
                                failure(kind, id, "read-back", read, None, attempts)
                            }
                            _ => self.failed_again(e, None, attempts, &refusal),
                        },
                    },
                );
            }
            Err(e) => {
                let attempts = first_attempts + e.attempts();
                return Ok(self.failed_again(e, None, attempts, &refusal));
            }
        };
        if !self.settings.verify {
            return Ok(partial(attempts, Some(status), None));
        }
        let read = self.client.access_list(kind, id).await;
        Ok(
            match read.map(|l| drift::readable(l, &self.request.changes)) {
                Ok(Ok(after)) if drift::at_target(kind, &after, &self.request.changes).is_ok() => {
                    // Everything landed after all (an earlier attempt of the first write).
                    WorkerEnd::Outcome(Outcome {
                        status: Some(status),
                        after: Some(after),
                        ..Outcome::new(kind, id, OutcomeKind::Succeeded, attempts)
                    })
                }
                Ok(Ok(after)) => match drift::at_target(kind, &after, &reduced.changes) {
                    Ok(()) => partial(attempts, Some(status), Some(after)),
                    Err(mismatch) => {
                        tracing::warn!(kind = %kind, id, %mismatch, "write accepted but the read-back does not match");
                        WorkerEnd::Outcome(Outcome {
                            status: Some(status),
                            error: Some(format!(
                                "verify: write without the inactive users accepted, but read back \
                             {mismatch}; first {refusal}"
                            )),
                            after: Some(after),
                            ..Outcome::new(kind, id, OutcomeKind::Failed, attempts)
                        })
                    }
                },
                Ok(Err((after, reason))) => WorkerEnd::Outcome(Outcome {
                    status: Some(status),
                    error: Some(format!("verify: write accepted; {reason}")),
                    after: Some(after),
                    ..Outcome::new(kind, id, OutcomeKind::Unconfirmed, attempts)
                }),
                Err(e) => match failure(kind, id, "read-back", e, None, attempts) {
                    WorkerEnd::Outcome(o) => WorkerEnd::Outcome(Outcome {
                        status: Some(status),
                        error: o.error.map(|e| format!("write accepted; {e}")),
                        ..Outcome::new(kind, id, OutcomeKind::Unconfirmed, attempts)
                    }),
                    other => other,
                },
            },
        )
    }
}

/// The end an API error deserves. Auth and fatal errors stop the run and leave the entity
/// for a resume (it gets no outcome); 403, 409/422 are refusals; 404 means the entity is
/// gone (skipped); anything else, retries used up, is a failure.
fn failure(
    kind: EntityKind,
    id: &str,
    stage: &str,
    e: ApiError,
    after: Option<Vec<Grant>>,
    attempts: u32,
) -> WorkerEnd {
    // Never sent: the run stopped while it waited. A resume takes the entity up.
    if e.is_halted() {
        return WorkerEnd::Unfinished {
            kind,
            id: id.to_string(),
            stop: None,
        };
    }
    let text = format!("{stage}: {e}");
    let what = match e.class() {
        ErrorClass::Auth => {
            return WorkerEnd::Unfinished {
                kind,
                id: id.to_string(),
                stop: Some(StopKind::Auth { message: text }),
            };
        }
        // An answer in a shape handover does not expect is this entity's problem.
        // So is a route it does not serve for this entity (405; contract §12).
        ErrorClass::Fatal if e.is_unserved() => OutcomeKind::Refused,
        ErrorClass::Fatal => {
            return WorkerEnd::Unfinished {
                kind,
                id: id.to_string(),
                stop: Some(StopKind::Fatal { message: text }),
            };
        }
        ErrorClass::NotAllowed | ErrorClass::Refused => OutcomeKind::Refused,
        ErrorClass::Gone => OutcomeKind::Skipped,
        ErrorClass::Retryable => OutcomeKind::Failed,
    };
    tracing::info!(kind = %kind, id, outcome = %what, error = %text, "entity not changed");
    WorkerEnd::Outcome(Outcome {
        status: e.status(),
        error: Some(text),
        after,
        ..Outcome::new(kind, id, what, attempts)
    })
}
