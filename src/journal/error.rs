//! What can go wrong with a journal, each naming the file (and the line, where there is
//! one), and which exit code each deserves.

use std::io;
use std::path::PathBuf;

use super::record::{PurposeKind, VERSION};
use crate::exit;

/// An error creating, locking, reading or writing a journal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `create` found a journal already there; the caller chooses between resuming it and
    /// naming another.
    #[error("journal {} already exists", path.display())]
    Exists { path: PathBuf },

    /// The journal's path exists and is not a regular file (a device, a fifo, a
    /// directory): never opened, replaced or removed.
    #[error(transparent)]
    NotAFile(#[from] crate::files::RefusedOutput),

    #[error("cannot create journal {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot open journal {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Another open journal holds the lock: another process, or this one.
    #[error("journal {} is in use by {}", path.display(), holder(*pid))]
    Locked { path: PathBuf, pid: Option<u32> },

    #[error("cannot lock journal {}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot read journal {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot write journal {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A write or sync failed earlier; what reached the disk since the last good sync is
    /// unknown, so nothing more is written. Resuming replays what is there.
    #[error("journal {} is unusable after an earlier write failure", path.display())]
    Poisoned { path: PathBuf },

    /// A line other than the last is not a well-formed record.
    #[error("journal {} line {line} is not a valid record", path.display())]
    Corrupt {
        path: PathBuf,
        line: u64,
        #[source]
        source: serde_json::Error,
    },

    /// A line is a well-formed record in the wrong place.
    #[error("journal {} line {line}: {problem}", path.display())]
    Misplaced {
        path: PathBuf,
        line: u64,
        problem: &'static str,
    },

    /// A line that replay read whole is another record when read again for its details:
    /// the file was rewritten or truncated since.
    #[error("journal {} changed while it was read: line {line} is no longer the record it was", path.display())]
    Changed { path: PathBuf, line: u64 },

    /// The first line is not a header (or there is no complete first line).
    #[error("journal {} has no header record ({found})", path.display())]
    MissingHeader { path: PathBuf, found: String },

    /// The first line is a header, but not of a handover journal.
    #[error("{} is not a handover journal (its header has format {})", path.display(), quoted(found.as_deref()))]
    NotAJournal {
        path: PathBuf,
        found: Option<String>,
    },

    #[error("journal {} has format version {found}; this handover reads version {VERSION}", path.display())]
    UnsupportedVersion { path: PathBuf, found: u64 },

    #[error("journal {} belongs to plan {journal}, not {plan}", path.display())]
    PlanMismatch {
        path: PathBuf,
        journal: String,
        plan: String,
    },

    #[error(
        "journal {} records {}, not {}; continue it with handover {}",
        path.display(),
        a_run(*journal),
        a_run(*expected),
        journal.as_str().replace("apply", "resume")
    )]
    PurposeMismatch {
        path: PathBuf,
        journal: PurposeKind,
        expected: PurposeKind,
    },
}

/// "an apply run" or "a rollback run".
fn a_run(purpose: PurposeKind) -> &'static str {
    match purpose {
        PurposeKind::Apply => "an apply run",
        PurposeKind::Rollback => "a rollback run",
    }
}

fn quoted(name: Option<&str>) -> String {
    name.map_or_else(|| "none".to_string(), |name| format!("{name:?}"))
}

fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(pid) if pid == std::process::id() => format!("this process (pid {pid})"),
        Some(pid) => format!("another handover process (pid {pid})"),
        None => "another handover process".to_string(),
    }
}

impl Error {
    /// The exit code this error deserves: a journal that is damaged, foreign, for another
    /// plan, already there, missing, or busy is invalid input ([`exit::INVALID_INPUT`]);
    /// an I/O failure on a good journal is fatal ([`exit::FATAL`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exists { .. }
            | Error::NotAFile(_)
            | Error::Locked { .. }
            | Error::Corrupt { .. }
            | Error::Misplaced { .. }
            | Error::Changed { .. }
            | Error::MissingHeader { .. }
            | Error::NotAJournal { .. }
            | Error::UnsupportedVersion { .. }
            | Error::PlanMismatch { .. }
            | Error::PurposeMismatch { .. } => exit::INVALID_INPUT,
            Error::Open { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                exit::INVALID_INPUT
            }
            Error::Create { .. }
            | Error::Open { .. }
            | Error::Lock { .. }
            | Error::Read { .. }
            | Error::Write { .. }
            | Error::Poisoned { .. } => exit::FATAL,
        }
    }

    /// This error wrapped so that `main` exits with [`Error::exit_code`].
    pub fn coded(self) -> anyhow::Error {
        exit::with_code(self.exit_code(), self)
    }
}
