//! A run's page gathered from its journal and plan: the counts from the [`Replay`] a
//! caller already holds, the rate over time from one more streaming pass over the journal
//! (only each line's `type`, `at` and `outcome` are kept), and, when the plan is at hand,
//! one pass over it for the entries per type (to count what is not reached yet), the
//! names of the failures listed, and, for an offboarding plan, the residual as the record
//! shows it ([`RunResidual`]).
//!
//! Memory does not grow with the run: the timeline has at most [`MAX_BUCKETS`] buckets
//! (they double in width as the run gets longer), and at most [`FAILURES_SHOWN`] failures
//! are listed.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;

use super::html::{
    Error, FailureRow, PageFile, RateBucket, RunResidual, RunView, Timeline, TypeOutcomes,
    parse_ms, run_page,
};
use crate::journal::{self, EntityState, OutcomeKind, Replay};
use crate::model::EntityKind;
use crate::plan::{self, ActionKind, PlanReader, SourceKind, UserIdent};

/// Buckets the rate chart has at most; the first bucket is 100 ms wide, and the width
/// doubles whenever the run outgrows them (so a long run has between half and all of them).
pub const MAX_BUCKETS: usize = 96;
/// The first bucket width.
const FIRST_BUCKET_MS: u64 = 100;
/// Failures listed on a page; the rest are counted.
pub const FAILURES_SHOWN: usize = 200;
/// Resumes marked on the chart.
const RESUMES_SHOWN: usize = 50;

impl RunView {
    /// The view of the run `replay` records, titled `title`. `plan` (the journal's plan)
    /// adds the entries not reached yet and the names of the failures; without it they
    /// are left out.
    pub fn from_journal(
        title: &str,
        replay: &Replay,
        plan: Option<PlanReader>,
    ) -> Result<RunView, Error> {
        let header = replay.header();
        let counts = replay.counts();
        let outcomes: Vec<(OutcomeKind, u64)> = OutcomeKind::ALL
            .iter()
            .map(|o| (*o, counts.get(*o) as u64))
            .collect();

        let mut by_kind: BTreeMap<EntityKind, TypeOutcomes> = BTreeMap::new();
        for (kind, c) in replay.counts_by_kind() {
            let t = by_kind.entry(kind).or_insert_with(|| type_row(kind));
            for (i, o) in OutcomeKind::ALL.iter().enumerate() {
                t.outcomes[i] = c.get(*o) as u64;
            }
            t.in_flight = c.in_flight as u64;
        }

        let all_failures = replay.failures();
        let failures_total = all_failures.len() as u64;
        let mut failures: Vec<FailureRow> = all_failures
            .iter()
            .take(FAILURES_SHOWN)
            .map(|(kind, id, o)| FailureRow {
                kind: kind.as_str().to_string(),
                id: id.to_string(),
                name: String::new(),
                outcome: o.outcome.as_str().to_string(),
                http_status: o.status,
                reason: o.error.as_deref().map(str::to_string),
            })
            .collect();

        let (mut plan_entries, mut pending, mut residual) = (None, None, None);
        if let Some(plan) = plan {
            plan_entries = Some(plan.entries());
            let departing: Vec<UserIdent> = match &plan.header().source {
                SourceKind::Offboard { from, .. } => from.clone(),
                SourceKind::OffboardMap { pairs, .. } => {
                    pairs.iter().map(|p| p.from.clone()).collect()
                }
                _ => Vec::new(),
            };
            residual = match &plan.header().source {
                SourceKind::Offboard {
                    from,
                    revoke_other_access,
                    ..
                } => Some(RunResidual {
                    users: from.iter().map(|u| u.username.clone()).collect(),
                    keep_other_access: !revoke_other_access,
                    ..RunResidual::default()
                }),
                SourceKind::OffboardMap {
                    pairs,
                    revoke_other_access,
                    ..
                } => Some(RunResidual {
                    users: pairs.iter().map(|p| p.from.username.clone()).collect(),
                    keep_other_access: !revoke_other_access,
                    ..RunResidual::default()
                }),
                _ => None,
            };
            pending = Some(plan.entries().saturating_sub(counts.total() as u64));
            // Which listed failure each (kind, id) is, to name it.
            let mut wanted: HashMap<EntityKind, HashMap<&str, usize>> = HashMap::new();
            for (i, (kind, id, _)) in all_failures.iter().take(FAILURES_SHOWN).enumerate() {
                wanted.entry(*kind).or_default().insert(id, i);
            }
            let mut names: Vec<Option<String>> = vec![None; failures.len()];
            let mut planned: BTreeMap<EntityKind, u64> = BTreeMap::new();
            for entry in plan {
                let entry = entry?;
                *planned.entry(entry.kind).or_default() += 1;
                if let Some(r) = residual.as_mut() {
                    count_residual(r, replay, &entry, &departing);
                }
                let listed = wanted.get_mut(&entry.kind);
                if let Some(i) = listed.and_then(|ids| ids.remove(entry.id.as_str())) {
                    names[i] = Some(entry.name);
                }
            }
            for (row, name) in failures.iter_mut().zip(names) {
                row.name = name.unwrap_or_default();
            }
            for (kind, n) in planned {
                let t = by_kind.entry(kind).or_insert_with(|| type_row(kind));
                let known = t.outcomes.iter().sum::<u64>() + t.in_flight;
                t.pending = n.saturating_sub(known);
            }
        }

        let scan = scan(replay.path(), &header.started)?;
        let state = match replay.end() {
            Some(end) if end.interrupted => "stopped",
            Some(_) => "finished",
            None => "running_or_died",
        };
        Ok(RunView {
            title: title.to_string(),
            server: header.endpoint.clone(),
            journal: replay.path().display().to_string(),
            plan: header.plan.clone(),
            purpose: header.purpose.as_str().to_string(),
            state: state.to_string(),
            generated: plan::rfc3339_utc(SystemTime::now()),
            started: header.started.clone(),
            ended: replay.end().map(|e| e.at.clone()).or(scan.last_record),
            resumes: replay.resumes(),
            plan_entries,
            pending,
            in_flight: counts.in_flight as u64,
            outcomes,
            by_type: by_kind.into_values().collect(),
            timeline: scan.timeline,
            failures,
            failures_total,
            residual,
        })
    }
}

/// Counts `entry` of an offboarding plan in `r` when the run left it holding what the
/// plan meant to remove: every `change` entry of such a plan takes a departing user's
/// ownership or access (a `noop` takes nothing); a write that succeeded, was already done,
/// landed unconfirmed or found the entity gone took it.
fn count_residual(
    r: &mut RunResidual,
    replay: &Replay,
    entry: &plan::PlanEntry,
    departing: &[UserIdent],
) {
    match entry.action {
        ActionKind::Noop => {}
        // Refused when planned: held when its list, as read, names a departing user (an
        // entity gone since it was listed holds nothing).
        ActionKind::Refused => {
            if entry
                .current
                .iter()
                .any(|g| departing.iter().any(|u| u.matches(g)))
            {
                r.refused_in_plan += 1;
            }
        }
        ActionKind::Change => match replay.state(entry.kind, &entry.id) {
            Some(EntityState::Done { outcome }) => match outcome.outcome {
                OutcomeKind::Succeeded
                | OutcomeKind::AlreadyDone
                | OutcomeKind::Unconfirmed
                | OutcomeKind::Skipped => {}
                OutcomeKind::Partial => r.partial += 1,
                _ => r.not_done += 1,
            },
            Some(EntityState::InFlight) | None => r.not_reached += 1,
        },
    }
}

/// Writes the page of the run `replay` records to `path` (owner-only, atomically): the
/// `.html` sibling of a run's report.
pub fn write_run_page(
    title: &str,
    replay: &Replay,
    plan: Option<PlanReader>,
    path: &Path,
) -> Result<(), Error> {
    let view = RunView::from_journal(title, replay, plan)?;
    PageFile::create(path)
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?
        .commit(&run_page(&view))
}

fn type_row(kind: EntityKind) -> TypeOutcomes {
    TypeOutcomes {
        kind: kind.as_str().to_string(),
        ..TypeOutcomes::default()
    }
}

/// What the timeline pass found.
struct Scan {
    timeline: Timeline,
    /// The `at` of the last record that has one.
    last_record: Option<String>,
}

/// As much of a journal line as the timeline needs; serde skips the rest (access lists,
/// request bodies) without building it.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow)]
    at: Option<Cow<'a, str>>,
    outcome: Option<OutcomeKind>,
}

/// Outcomes counted into buckets that double in width when the run outgrows them.
struct Buckets {
    origin_ms: u64,
    width_ms: u64,
    buckets: Vec<RateBucket>,
}

impl Buckets {
    /// The bucket for the time `t_ms`, made to exist (earlier than the origin: the first).
    fn at(&mut self, t_ms: u64) -> &mut RateBucket {
        let offset = t_ms.saturating_sub(self.origin_ms);
        while offset / self.width_ms >= MAX_BUCKETS as u64 {
            self.buckets = self
                .buckets
                .chunks(2)
                .map(|pair| {
                    pair.iter().fold(RateBucket::default(), |a, b| RateBucket {
                        done: a.done + b.done,
                        failed: a.failed + b.failed,
                        skipped: a.skipped + b.skipped,
                    })
                })
                .collect();
            self.width_ms *= 2;
        }
        let i = (offset / self.width_ms) as usize;
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, RateBucket::default());
        }
        &mut self.buckets[i]
    }
}

/// One pass over the journal at `path` for the outcomes' times, from `started` (the
/// header's). Lines that do not parse (a torn last line) are passed over: the replay
/// already judged the journal.
fn scan(path: &Path, started: &str) -> Result<Scan, Error> {
    let read_err = |source| {
        Error::Journal(journal::Error::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let file = File::open(path).map_err(read_err)?;
    let mut reader = BufReader::with_capacity(1 << 18, file);
    let origin_ms = parse_ms(started).unwrap_or(0);
    let mut buckets = Buckets {
        origin_ms,
        width_ms: FIRST_BUCKET_MS,
        buckets: Vec::new(),
    };
    let mut resumes_ms = Vec::new();
    let mut last_record: Option<String> = None;
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(read_err)? == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            break;
        }
        let Ok(probe) = serde_json::from_slice::<Probe>(&buf) else {
            continue;
        };
        let Some(at) = probe.at.as_deref() else {
            continue;
        };
        let Some(t_ms) = parse_ms(at) else {
            continue;
        };
        last_record = Some(at.to_string());
        let bucket = buckets.at(t_ms);
        match (probe.ty.as_ref(), probe.outcome) {
            ("outcome", Some(o)) if o.is_settled() => bucket.done += 1,
            ("outcome", Some(o)) if o.is_failure() => bucket.failed += 1,
            ("outcome", Some(_)) => bucket.skipped += 1,
            ("resume", _) if resumes_ms.len() < RESUMES_SHOWN => {
                resumes_ms.push(t_ms.saturating_sub(origin_ms))
            }
            _ => {}
        }
    }
    // Trailing buckets past the last outcome stay: the chart spans the whole run.
    Ok(Scan {
        timeline: Timeline {
            start: started.to_string(),
            bucket_ms: buckets.width_ms,
            buckets: buckets.buckets,
            resumes: resumes_ms,
        },
        last_record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_double_and_keep_every_count() {
        let mut b = Buckets {
            origin_ms: 1_000,
            width_ms: FIRST_BUCKET_MS,
            buckets: Vec::new(),
        };
        // One outcome every 50 ms for 100 s: far past 96 buckets of 100 ms.
        for i in 0..2000u64 {
            b.at(1_000 + i * 50).done += 1;
        }
        let total: u64 = b.buckets.iter().map(RateBucket::total).sum();
        assert_eq!(total, 2000);
        assert!(b.buckets.len() <= MAX_BUCKETS);
        assert!(b.buckets.len() > MAX_BUCKETS / 2, "{}", b.buckets.len());
        assert_eq!(b.width_ms, 1600);
        // Before the origin (a clock step back) counts in the first bucket.
        b.at(0).failed += 1;
        assert_eq!(b.buckets[0].failed, 1);
    }
}
