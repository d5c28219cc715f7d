//! The executor's crash-safe checkpoint journal: an append-only JSON Lines file that says,
//! per entity, what handover was about to write (`intent`, with the access list as it was
//! before) and what came of it (`outcome`), so that an interrupted run can resume where it
//! stopped and a finished one can be rolled back.
//!
//! The file opens with a versioned `header` record that binds it to one plan and one
//! endpoint; `resume` and `end` records mark restarts and clean stops. One coordinator task
//! is its only writer: it [`Journal::append`]s records as workers report, and one
//! [`Journal::sync`] (an fdatasync) makes a whole batch durable before any of it is shown
//! as progress (group commit). The journal file itself carries an exclusive `flock`, so a
//! second handover on the same journal is refused and a killed one leaves no stale lock.
//!
//! Reading a journal back ([`Journal::open_existing`] to resume, [`Replay::read`] for
//! `status`) streams it once into a [`Replay`]: per entity a compact summary of its last
//! state and where its first intent and last record are in the file, from which its first
//! before-state, its read-back and an in-flight request are read when asked for; counts,
//! and failures. A torn last line (a crash mid-write) is dropped; damage anywhere else is
//! an error that names the line.

mod error;
mod record;
mod replay;
mod writer;

pub use error::Error;
pub use record::{
    End, FORMAT, Header, Intent, Outcome, OutcomeKind, PurposeKind, Record, Resume, VERSION,
    timestamp,
};
pub use replay::{Counts, EntityReplay, EntityState, OutcomeSummary, Replay, TornTail};
pub use writer::{Journal, Stats, pid_path};
