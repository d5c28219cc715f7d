//! The executor: applies a plan, one share request per entity, through the one API client,
//! with a crash-safe journal, a drift guard, read-back verification and resume.
//!
//! - `run`: [`run`] and the coordinator that owns the journal, the counters and the
//!   progress display; [`open_journal`] starts or resumes a journal for a plan; [`Settings`].
//! - `worker`: one entity's re-read → intent (durable) → write → read-back.
//! - `drift`: the pure drift guard ([`decide`]) and read-back check ([`at_target`]).
//! - `inactive`: a request refused over inactive users' access, sent again without their
//!   changes (the `partial` outcome).
//! - `summary`: [`RunSummary`], [`Tally`], [`StopKind`], the exit code and the table.
//! - `progress`: the bar or the plain lines ([`ProgressKind`]).
//!
//! Cancellation is a parameter: [`run`] takes a `shutdown` future; the CLI passes Ctrl-C,
//! tests pass a future they control.

mod drift;
mod error;
mod inactive;
mod progress;
pub mod report;
mod run;
mod summary;
mod worker;

pub(crate) use drift::principal as principal_of;
pub use drift::{Decision, apply_changes, at_target, decide, readable};
pub use error::Error;
pub(crate) use inactive::{Activity, lowering, without};
pub use progress::ProgressKind;
pub use run::{
    JournalMode, OpenJournal, Resumption, Settings, finish_if_done, open_journal, open_journal_for,
    run,
};
pub use summary::{RunSummary, StopKind, Tally, render_pace};
