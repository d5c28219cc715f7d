//! Process exit codes, documented in README.md, and the error wrapper that carries one from
//! deep in the library up to `main`.

use std::fmt;

/// Everything done, or nothing to do.
pub const OK: i32 = 0;
/// Fatal: authentication, configuration, an unreachable host, an internal error.
pub const FATAL: i32 = 1;
/// Invalid input (a file, a flag); nothing was sent.
pub const INVALID_INPUT: i32 = 2;
/// Finished, but some entities failed or drifted.
pub const PARTIAL: i32 = 3;
/// Interrupted or stopped early; the run can be resumed.
pub const INTERRUPTED: i32 = 4;
/// `verify` found entities that are not at their target.
pub const MISMATCH: i32 = 5;
/// `doctor` found some of handover's assumptions do not hold on this tenant.
pub const DIFFERS: i32 = 6;

/// An error that knows which exit code it deserves. `main` looks for one in the chain of
/// any error it is handed; an error without one exits with [`FATAL`].
#[derive(Debug)]
pub struct Coded {
    /// The exit code.
    pub code: i32,
    /// What went wrong.
    pub error: anyhow::Error,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Coded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Wraps `error` so that the process exits with `code`.
pub fn with_code(code: i32, error: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Coded {
        code,
        error: error.into(),
    })
}

/// The exit code an error deserves: [`INVALID_INPUT`] when an output path was refused
/// (`files::RefusedOutput`, wherever in the chain, whatever wraps it: nothing was
/// written), else the first [`Coded`] in its chain, else [`FATAL`].
pub fn code_of(error: &anyhow::Error) -> i32 {
    if error
        .chain()
        .any(|e| crate::files::refused_output_in(e).is_some())
    {
        return INVALID_INPUT;
    }
    error
        .chain()
        .find_map(|e| e.downcast_ref::<Coded>().map(|c| c.code))
        .unwrap_or(FATAL)
}

/// Prints an error once, as `handover: error: …` with its causes.
pub fn print_error(err: &anyhow::Error) {
    // A refused output path says everything in one line: which path, what it is.
    if let Some(refused) = err.chain().find_map(crate::files::refused_output_in) {
        eprintln!("handover: error: {refused}");
        return;
    }
    eprintln!("handover: error: {err}");
    for cause in err.chain().skip(1) {
        // `Coded` repeats its inner error's text; skip exact repeats.
        let text = cause.to_string();
        if text != err.to_string() {
            eprintln!("  caused by: {text}");
        }
    }
}
