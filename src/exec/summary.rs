//! What a run did: outcomes per kind (this run's and those an earlier run recorded), why it
//! stopped, the client's counters; the exit code that follows, and the summary table.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::Serialize;

use crate::api::Counters;
use crate::exit;
use crate::journal::{EntityState, OutcomeKind, Replay};
use crate::model::EntityKind;

/// The width of the outcome table's first column: the longest of the 13 kinds' labels
/// ("execution environments"). A longer label widens it.
const LABEL_WIDTH: usize = 22;

/// Why a run stopped before the end of the plan. Every one leaves the journal consistent
/// and the run resumable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StopKind {
    /// The shutdown signal (Ctrl-C) came.
    Interrupted,
    /// `--max-errors` entities failed, drifted, were refused or were gone in this run.
    MaxErrors { limit: u64 },
    /// The server refused the token (401).
    Auth { message: String },
    /// Something that every further request would meet too: an unexpected response, an
    /// unreadable plan line, a bug.
    Fatal { message: String },
}

impl StopKind {
    /// The exit code: [`exit::FATAL`] for a fatal stop, else [`exit::INTERRUPTED`].
    pub fn exit_code(&self) -> i32 {
        match self {
            StopKind::Fatal { .. } => exit::FATAL,
            _ => exit::INTERRUPTED,
        }
    }

    /// How severe it is, to keep the worst of several.
    pub(crate) fn severity(&self) -> u8 {
        match self {
            StopKind::Interrupted => 0,
            StopKind::MaxErrors { .. } => 1,
            StopKind::Auth { .. } => 2,
            StopKind::Fatal { .. } => 3,
        }
    }
}

impl fmt::Display for StopKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopKind::Interrupted => f.write_str("interrupted"),
            StopKind::MaxErrors { limit } => write!(f, "{limit} errors, the --max-errors limit"),
            StopKind::Auth { message } => write!(f, "the token was refused ({message})"),
            StopKind::Fatal { message } => write!(f, "fatal error: {message}"),
        }
    }
}

/// Entities per kind per outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Tally {
    by_kind: BTreeMap<EntityKind, BTreeMap<OutcomeKind, u64>>,
}

impl Tally {
    /// Counts one entity.
    pub fn add(&mut self, kind: EntityKind, outcome: OutcomeKind) {
        self.add_n(kind, outcome, 1);
    }

    /// Counts `n` entities.
    pub fn add_n(&mut self, kind: EntityKind, outcome: OutcomeKind, n: u64) {
        *self
            .by_kind
            .entry(kind)
            .or_default()
            .entry(outcome)
            .or_default() += n;
    }

    /// The last outcome of every entity `replay` knows to have one (in-flight ones are
    /// left out): what a resumed run counts as done by earlier runs.
    pub fn from_replay(replay: &Replay) -> Tally {
        let mut tally = Tally::default();
        for (kind, _, entity) in replay.entities() {
            if let EntityState::Done { outcome } = &entity.state {
                tally.add(kind, outcome.outcome);
            }
        }
        tally
    }

    /// Entities of `kind` with `outcome`.
    pub fn get(&self, kind: EntityKind, outcome: OutcomeKind) -> u64 {
        self.by_kind
            .get(&kind)
            .and_then(|m| m.get(&outcome))
            .copied()
            .unwrap_or(0)
    }

    /// Entities with `outcome`, all kinds.
    pub fn outcome(&self, outcome: OutcomeKind) -> u64 {
        self.by_kind.values().filter_map(|m| m.get(&outcome)).sum()
    }

    /// Every entity counted.
    pub fn total(&self) -> u64 {
        self.by_kind.values().flat_map(|m| m.values()).sum()
    }

    /// Entities that need attention: failed, drifted, refused, unconfirmed or partial.
    pub fn failures(&self) -> u64 {
        OutcomeKind::ALL
            .iter()
            .filter(|o| o.is_failure())
            .map(|o| self.outcome(*o))
            .sum()
    }

    /// Entities not at their target: partial, unconfirmed, failed, drifted, refused, or
    /// skipped (gone).
    pub fn unsettled(&self) -> u64 {
        OutcomeKind::ALL
            .iter()
            .filter(|o| !o.is_settled())
            .map(|o| self.outcome(*o))
            .sum()
    }

    /// The kinds counted, in order.
    pub fn kinds(&self) -> impl Iterator<Item = EntityKind> + '_ {
        self.by_kind.keys().copied()
    }

    /// This tally and `other` together.
    pub fn merged(&self, other: &Tally) -> Tally {
        let mut out = self.clone();
        for (kind, outcomes) in &other.by_kind {
            for (outcome, n) in outcomes {
                *out.by_kind
                    .entry(*kind)
                    .or_default()
                    .entry(*outcome)
                    .or_default() += n;
            }
        }
        out
    }

    /// The table `apply`, `resume` and `status` print: one row per kind, labelled as in
    /// every human table (`plan`'s too: [`EntityKind::plural_label`]), one column per
    /// outcome, a total row. Fixed widths (the first column widens only for a label longer
    /// than its 22 characters); stable for scripts and tests.
    ///
    /// ```text
    /// type                    succeeded  already_done  partial  unconfirmed  failed  drifted  refused  skipped
    /// projects                        4             1        0            0       0        0        0        0
    /// total                           4             1        0            0       0        0        0        0
    /// ```
    pub fn render(&self, extra: Option<(&str, &BTreeMap<EntityKind, u64>)>) -> String {
        let mut out = String::new();
        let mut kinds: Vec<EntityKind> = self.kinds().collect();
        if let Some((_, more)) = extra {
            kinds.extend(more.keys().copied());
        }
        kinds.sort();
        kinds.dedup();
        let width = kinds
            .iter()
            .map(|k| k.plural_label().len())
            .fold(LABEL_WIDTH, usize::max);
        let _ = write!(out, "{:<width$}", "type");
        for o in OutcomeKind::ALL {
            let _ = write!(out, "  {:>12}", o.as_str());
        }
        if let Some((name, _)) = extra {
            let _ = write!(out, "  {name:>12}");
        }
        out.push('\n');
        let row =
            |out: &mut String, label: &str, counts: &dyn Fn(OutcomeKind) -> u64, x: Option<u64>| {
                let _ = write!(out, "{label:<width$}");
                for o in OutcomeKind::ALL {
                    let _ = write!(out, "  {:>12}", counts(o));
                }
                if let Some(x) = x {
                    let _ = write!(out, "  {x:>12}");
                }
                out.push('\n');
            };
        for kind in &kinds {
            let x = extra.map(|(_, m)| m.get(kind).copied().unwrap_or(0));
            row(&mut out, kind.plural_label(), &|o| self.get(*kind, o), x);
        }
        let x = extra.map(|(_, m)| m.values().sum());
        row(&mut out, "total", &|o| self.outcome(o), x);
        out
    }
}

/// What [`run`](super::run) did.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// Entries in the plan.
    pub total: u64,
    /// Outcomes recorded by this run.
    pub this_run: Tally,
    /// Outcomes an earlier run had recorded; those entities were skipped.
    pub earlier: Tally,
    /// Why the run stopped early, if it did.
    pub stop: Option<StopKind>,
    /// Entries the plan named more than once; each was handled once.
    pub duplicates: u64,
    /// The client's counters at the end.
    #[serde(skip)]
    pub client: Option<Counters>,
    /// How long the run took.
    #[serde(skip)]
    pub elapsed: Duration,
    /// The journal's counters for this run: records per sync shows group commit at work.
    #[serde(skip)]
    pub journal: Option<crate::journal::Stats>,
}

impl RunSummary {
    /// Outcomes from this run and earlier ones together: the state of the whole plan.
    pub fn overall(&self) -> Tally {
        self.earlier.merged(&self.this_run)
    }

    /// Entries with no outcome yet (not reached, or left in flight by a stop).
    pub fn unfinished(&self) -> u64 {
        self.total
            .saturating_sub(self.duplicates)
            .saturating_sub(self.overall().total())
    }

    /// The process exit code: the stop's (4, or 1 for a fatal one); else 3 when any entity
    /// of the plan is not at its target (failed, drifted, refused, or skipped because it is
    /// gone; in this run or an earlier one); else 0.
    pub fn exit_code(&self) -> i32 {
        if let Some(stop) = &self.stop {
            // --max-errors reached by the last entity stops nothing: there is nothing left
            // to resume, so the run finished with failures (3), not early (4).
            let finished = matches!(stop, StopKind::MaxErrors { .. }) && self.unfinished() == 0;
            if !finished {
                return stop.exit_code();
            }
        }
        if self.unfinished() > 0 {
            return exit::INTERRUPTED;
        }
        if self.overall().unsettled() > 0 {
            return exit::PARTIAL;
        }
        exit::OK
    }

    /// The summary printed on stdout at the end: the table of the whole plan's outcomes,
    /// then one line on this run and, if it stopped early, one on why.
    pub fn render(&self) -> String {
        let mut out = self.overall().render(None);
        let _ = writeln!(
            out,
            "\n{} of {} entities have an outcome; {} this run, {} from earlier runs; {} not done",
            self.overall().total(),
            self.total.saturating_sub(self.duplicates),
            self.this_run.total(),
            self.earlier.total(),
            self.unfinished(),
        );
        if let Some(c) = &self.client {
            let _ = writeln!(
                out,
                "requests: {} ({} retries, {} throttled) in {:.1}s",
                c.requests,
                c.retries,
                c.throttled,
                self.elapsed.as_secs_f64()
            );
            if let Some(p) = &c.pace {
                let _ = writeln!(out, "{}", render_pace(p));
            }
        }
        let partial = self.overall().outcome(OutcomeKind::Partial);
        if partial > 0 {
            let _ = writeln!(
                out,
                "partial: {partial} entities are as planned but for inactive users the server \
                 would not remove, who keep their access (see status)"
            );
        }
        if let Some(stop) = &self.stop {
            let _ = writeln!(out, "stopped: {stop}");
        }
        out
    }
}

/// The pace the automatic controller found, one line:
/// `pace: 812 req/s median, 1020 peak; in flight 24 median, 41 peak; latency p50 21 ms, p95 38 ms`.
pub fn render_pace(p: &crate::api::PaceReport) -> String {
    format!(
        "pace: {:.0} req/s median, {:.0} peak; in flight {:.0} median, {} peak; latency p50 {:.0} ms, p95 {:.0} ms",
        p.median_rate,
        p.peak_rate,
        p.median_in_flight,
        p.peak_in_flight,
        p.p50.as_secs_f64() * 1000.0,
        p.p95.as_secs_f64() * 1000.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_found_is_one_line() {
        let p = crate::api::PaceReport {
            median_rate: 812.3,
            peak_rate: 1020.0,
            median_in_flight: 24.2,
            peak_in_flight: 41,
            p50: Duration::from_millis(21),
            p95: Duration::from_millis(38),
        };
        assert_eq!(
            render_pace(&p),
            "pace: 812 req/s median, 1020 peak; in flight 24 median, 41 peak; latency p50 21 ms, p95 38 ms"
        );
    }

    #[test]
    fn table_has_fixed_columns_and_a_total() {
        let mut t = Tally::default();
        t.add(EntityKind::Project, OutcomeKind::Succeeded);
        t.add(EntityKind::Project, OutcomeKind::Succeeded);
        t.add(EntityKind::DataStore, OutcomeKind::Drifted);
        let text = t.render(None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "type                       succeeded  already_done       partial   unconfirmed        failed       drifted       refused       skipped"
        );
        assert_eq!(
            lines[1],
            "projects                           2             0             0             0             0             0             0             0"
        );
        assert!(lines[2].starts_with("data stores "));
        assert!(lines[3].starts_with("total                              2"));
        assert_eq!(t.failures(), 1);
    }

    /// Regression: `plan` printed "data sources" where `apply` and `status` printed
    /// `data_source` for the same kind. Every kind's row starts with the same label in
    /// both tables.
    #[test]
    fn kinds_are_labelled_as_in_the_plan_table() {
        use crate::plan::{ActionKind, Summary, render_table};
        for kind in EntityKind::ALL {
            let mut outcomes = Tally::default();
            outcomes.add(kind, OutcomeKind::Succeeded);
            let mut planned = Summary::new();
            planned.record(kind, ActionKind::Change);
            let label = |table: &str| -> String {
                let row = table.lines().nth(1).expect("a row for the kind");
                // The label ends where the first count's column starts.
                row.split("  ").next().expect("a first column").to_string()
            };
            assert_eq!(label(&outcomes.render(None)), kind.plural_label(), "{kind}");
            assert_eq!(
                label(&render_table(&planned)),
                kind.plural_label(),
                "{kind}"
            );
        }
    }

    #[test]
    fn exit_codes_follow_the_worst_news() {
        let mut s = RunSummary {
            total: 2,
            this_run: Tally::default(),
            earlier: Tally::default(),
            stop: None,
            duplicates: 0,
            client: None,
            elapsed: Duration::ZERO,
            journal: None,
        };
        s.this_run.add(EntityKind::Project, OutcomeKind::Succeeded);
        assert_eq!(s.exit_code(), exit::INTERRUPTED, "one entry not done");
        s.earlier.add(EntityKind::Project, OutcomeKind::AlreadyDone);
        assert_eq!(s.exit_code(), exit::OK);
        s.this_run.add(EntityKind::Dataset, OutcomeKind::Skipped);
        s.total = 3;
        assert_eq!(
            s.exit_code(),
            exit::PARTIAL,
            "a gone entity was not handed over"
        );
        s.this_run.add(EntityKind::Dataset, OutcomeKind::Failed);
        s.total = 4;
        assert_eq!(s.exit_code(), exit::PARTIAL);
        s.stop = Some(StopKind::Interrupted);
        assert_eq!(s.exit_code(), exit::INTERRUPTED);
        s.stop = Some(StopKind::Fatal {
            message: "x".into(),
        });
        assert_eq!(s.exit_code(), exit::FATAL);
        // --max-errors met by the last entity: nothing left to resume, so 3, not 4.
        s.stop = Some(StopKind::MaxErrors { limit: 2 });
        assert_eq!(s.exit_code(), exit::PARTIAL);
        s.total = 5;
        assert_eq!(s.exit_code(), exit::INTERRUPTED, "one entry left to resume");
    }
}
