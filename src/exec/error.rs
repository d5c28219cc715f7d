//! What stops a run before or outside the per-entity flow.

use std::path::PathBuf;

use crate::{exit, journal, plan};

/// An error that ends [`run`](super::run) or [`open_journal`](super::open_journal) without a
/// summary. Per-entity problems never end up here: they are outcomes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plan was made against another DataRobot.
    #[error("plan {} was made against {planned}, not {endpoint}", plan.display())]
    EndpointMismatch {
        plan: PathBuf,
        planned: String,
        endpoint: String,
    },
    /// The journal was started against another DataRobot.
    #[error("journal {} was started against {journal}, not {endpoint}", path.display())]
    JournalEndpointMismatch {
        path: PathBuf,
        journal: String,
        endpoint: String,
    },
    /// The journal cannot be created, opened, locked or written.
    #[error(transparent)]
    Journal(#[from] journal::Error),
    /// The plan cannot be read.
    #[error(transparent)]
    Plan(#[from] plan::Error),
}

impl Error {
    /// The exit code: a mismatch or a bad file is invalid input (nothing was sent); an I/O
    /// failure on the journal mid-run is fatal.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::EndpointMismatch { .. } | Error::JournalEndpointMismatch { .. } => {
                exit::INVALID_INPUT
            }
            Error::Journal(e) => e.exit_code(),
            Error::Plan(e) => e.exit_code(),
        }
    }

    /// This error wrapped so that `main` exits with [`Error::exit_code`].
    pub fn coded(self) -> anyhow::Error {
        exit::with_code(self.exit_code(), self)
    }
}
