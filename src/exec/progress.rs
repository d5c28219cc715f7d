//! The run's reporter: an indicatif bar on a terminal, a plain line every few seconds on
//! stderr otherwise, or nothing. Only the coordinator holds it, and it is fed only counts
//! that are already durable in the journal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::Instant;

use crate::api::Counters;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProgressKind {
    /// A bar on stderr (when stderr is a terminal).
    Bar,
    /// A plain line on stderr every [`Settings::progress_every`](super::Settings).
    Lines,
    /// Nothing (tests, `-q`).
    #[default]
    Off,
}

/// What the reporter shows.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Snapshot {
    /// Entities with a durable outcome, earlier runs' included.
    pub done: u64,
    /// Outcomes recorded by this run.
    pub this_run: u64,
    /// Entities that failed, drifted or were refused.
    pub failed: u64,
    pub client: Option<Counters>,
}

pub(crate) struct Progress {
    kind: ProgressKind,
    bar: Option<ProgressBar>,
    total: u64,
    started: Instant,
    every: Duration,
    last_line: Instant,
    last: Snapshot,
}

impl Progress {
    pub fn new(kind: ProgressKind, total: u64, every: Duration) -> Progress {
        let bar = (kind == ProgressKind::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:32} {pos}/{len} {per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Progress {
            kind,
            bar,
            total,
            started: now,
            every,
            last_line: now,
            last: Snapshot::default(),
        }
    }

    /// The total changed (duplicate entries in the plan are not counted).
    pub fn set_total(&mut self, total: u64) {
        self.total = total;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// New counts; the bar moves at once, a plain line waits for its period.
    pub fn update(&mut self, snapshot: Snapshot) {
        self.last = snapshot;
        if let Some(bar) = &self.bar {
            bar.set_position(snapshot.done);
            if let Some(c) = snapshot.client {
                bar.set_message(format!(
                    "{} · retries {} · 429s {} · failed {}",
                    pace_now(&c),
                    c.retries,
                    c.throttled,
                    snapshot.failed
                ));
            }
        }
    }

    /// Called on the coordinator's tick: prints a plain line when one is due.
    pub fn tick(&mut self, client: Counters) {
        self.last.client = Some(client);
        if self.kind != ProgressKind::Lines {
            self.update(self.last);
            return;
        }
        if self.last_line.elapsed() >= self.every {
            self.last_line = Instant::now();
            eprintln!("{}", self.line());
        }
    }

    /// A line for logs or a non-terminal stderr.
    fn line(&self) -> String {
        let s = &self.last;
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            s.this_run as f64 / elapsed
        } else {
            0.0
        };
        let left = self.total.saturating_sub(s.done);
        let eta = if rate > 0.0 {
            format_duration(Duration::from_secs_f64(left as f64 / rate))
        } else {
            "?".to_string()
        };
        let pct = (s.done * 100).checked_div(self.total).unwrap_or(100);
        let (retries, throttled) = s.client.map_or((0, 0), |c| (c.retries, c.throttled));
        let pace = s.client.map(|c| pace_now(&c)).unwrap_or_default();
        format!(
            "handover: {}/{} entities ({pct}%), {rate:.1}/s, ETA {eta}, {pace}, {retries} retries, {throttled} throttled, {} failed",
            s.done, self.total, s.failed
        )
    }

    /// A message that must not tear the bar.
    pub fn println(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None if self.kind == ProgressKind::Lines => eprintln!("{message}"),
            None => {}
        }
    }

    /// Clears the bar, or prints a last plain line.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        } else if self.kind == ProgressKind::Lines {
            eprintln!("{}", self.line());
        }
    }
}

/// The pace now: requests answered a second (and the rate allowed), requests in flight
/// (and the limit): `212 req/s (max 240) · 16/24 in flight`.
pub(crate) fn pace_now(c: &Counters) -> String {
    match c.concurrency_limit {
        Some(limit) => format!(
            "{:.0} req/s (max {:.0}) · {}/{limit} in flight",
            c.answered_per_sec, c.rate_per_sec, c.in_flight
        ),
        None => format!(
            "max {:.0} req/s · {} in flight",
            c.rate_per_sec, c.in_flight
        ),
    }
}

/// `1h02m`, `3m05s`, `42s`.
fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_reads_as_rate_and_in_flight() {
        let c = Counters {
            requests: 10,
            retries: 0,
            throttled: 0,
            rate_per_sec: 240.4,
            in_flight: 16,
            concurrency_limit: Some(24),
            answered_per_sec: 212.2,
            pace: None,
        };
        assert_eq!(pace_now(&c), "212 req/s (max 240) · 16/24 in flight");
        let fixed = Counters {
            concurrency_limit: None,
            ..c
        };
        assert_eq!(pace_now(&fixed), "max 240 req/s · 16 in flight");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(format_duration(Duration::from_secs(42)), "42s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
    }
}
