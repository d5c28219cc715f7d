//! The command line: clap structs (`*Opts`) for every subcommand, logging setup, and the
//! one place errors are printed. Each subcommand's glue lives in its own file and turns its
//! `*Opts` into the validated settings the core takes; the core never sees clap.

use clap::{Parser, Subcommand, ValueEnum};

pub mod apply;
pub mod completions;
pub mod conn;
pub mod demo;
pub mod doctor;
pub mod inventory;
pub mod offboard;
pub mod plan;
pub mod rollback;
pub mod sim;
pub mod verify;

/// Move ownership of DataRobot entities in bulk, with a plan, a journal and a way back.
#[derive(Debug, Parser)]
#[command(name = "handover", version, about, propagate_version = true)]
pub struct Opts {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, clap::Args)]
pub struct GlobalOpts {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). HANDOVER_LOG or RUST_LOG
    /// (an env-filter directive) win over -v.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bars and no log output below errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormatKind::Text)]
    pub log_format: LogFormatKind,
}

/// The format of log lines.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormatKind {
    Text,
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the built-in DataRobot simulator (the sharing API of /api/v2) on a local port.
    Sim(sim::SimOpts),
    /// Decide what will change and write a reviewable plan: everything a user owns goes to
    /// another user (--from/--to), or a hand-written CSV (--csv).
    Plan(plan::PlanOpts),
    /// Plan and apply in one command: everything --from owns goes to --to.
    Offboard(offboard::OffboardOpts),
    /// A whole offboarding on the built-in simulator: plan, apply under faults, verify.
    Demo(demo::DemoOpts),
    /// Apply a saved plan: one share request per entity, journaled, resumable.
    Apply(apply::ApplyOpts),
    /// Continue an interrupted apply from its journal.
    Resume(apply::ResumeOpts),
    /// Show where a run stands (from its journal); write a plan of what failed.
    Status(apply::StatusOpts),
    /// Put back what a run changed, from its journal: a run of its own, journaled and
    /// resumable; entities changed since by someone else are left alone unless --force.
    Rollback(rollback::RollbackOpts),
    /// Check, reading only, whether this DataRobot behaves as handover assumes (exit 0:
    /// all holds, 6: some differ); --out writes a report safe to attach to an issue.
    Doctor(doctor::DoctorOpts),
    /// Who owns what: every entity the caller can see (or only what --user holds), its
    /// owners and whether they are still active, and the orphans, as CSV and JSON; reads
    /// only.
    Inventory(inventory::InventoryOpts),
    /// Re-read the live access lists and report every entity not at its target (exit 5),
    /// and what the departing user still owns or can access.
    Verify(verify::VerifyOpts),
    /// Print the shell completion script for bash, zsh, fish, powershell or elvish.
    Completions(completions::CompletionsOpts),
    /// Print the manual page (roff), every command and flag in one page.
    Man(completions::ManOpts),
}

/// Parses the process's command line. Help and version print as clap prints them; a usage
/// error (an unknown flag, a value out of range) is printed like every other error,
/// `handover: error: …` on its first line, and exits with [`exit::INVALID_INPUT`](crate::exit::INVALID_INPUT).
pub fn parse() -> Opts {
    use clap::error::ErrorKind;
    Opts::try_parse().unwrap_or_else(|e| {
        if !e.use_stderr() || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            e.exit();
        }
        let text = e.render().to_string();
        eprint!(
            "handover: error: {}",
            text.strip_prefix("error: ").unwrap_or(&text)
        );
        std::process::exit(crate::exit::INVALID_INPUT)
    })
}

/// Installs the tracing subscriber on stderr. `HANDOVER_LOG`, else `RUST_LOG`, else the
/// level from `-v`/`-q`.
pub fn install_logging(global: &GlobalOpts) {
    use tracing_subscriber::EnvFilter;
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = std::env::var("HANDOVER_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second install (tests calling in twice) is harmless; ignore it.
    let _ = match global.log_format {
        LogFormatKind::Text => builder.try_init(),
        LogFormatKind::Json => builder.json().try_init(),
    };
}

/// Whether progress bars may be drawn: stderr is a terminal and `-q` was not given.
pub(crate) fn progress_on(quiet: bool) -> bool {
    !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// A run's progress display: a bar on a terminal, plain lines off one, nothing with `-q`.
pub(crate) fn progress_kind(quiet: bool) -> crate::exec::ProgressKind {
    if quiet {
        crate::exec::ProgressKind::Off
    } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        crate::exec::ProgressKind::Bar
    } else {
        crate::exec::ProgressKind::Lines
    }
}

/// Runs a parsed command line and returns the exit code.
pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match opts.command {
            Command::Sim(sim_opts) => sim::run(sim_opts).await,
            Command::Plan(o) => plan::run(o, opts.global.quiet).await,
            Command::Offboard(o) => offboard::run(o, opts.global.quiet).await,
            Command::Demo(o) => demo::run(o, opts.global.quiet).await,
            Command::Apply(o) => apply::apply(o, opts.global.quiet).await,
            Command::Resume(o) => apply::resume(o, opts.global.quiet).await,
            Command::Status(o) => apply::status(o),
            Command::Rollback(o) => rollback::run(o, opts.global.quiet).await,
            Command::Verify(o) => verify::run(o).await,
            Command::Doctor(o) => doctor::run(o).await,
            Command::Inventory(o) => inventory::run(o, opts.global.quiet).await,
            Command::Completions(o) => completions::completions(o),
            Command::Man(o) => completions::man(o),
        }
    })
}

/// Completes on the first Ctrl-C (or SIGTERM): the run stops taking new work, lets the
/// requests in flight finish and flushes. A second Ctrl-C exits at once with code 4; the
/// journal stays consistent, since every record is one whole line and a torn last line is
/// dropped on resume.
///
/// `resume` is the command line that continues the run, for the message.
pub(crate) fn shutdown_signal(resume: String) -> impl std::future::Future<Output = ()> + use<> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        if first_signal().await.is_err() {
            return;
        }
        eprintln!(
            "handover: interrupted; letting requests in flight finish (Ctrl-C again to abort)"
        );
        let _ = tx.send(());
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("handover: aborted; resume with: {resume}");
            std::process::exit(crate::exit::INTERRUPTED);
        }
    });
    async move {
        if rx.await.is_err() {
            // No signal handler could be installed: never interrupt.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(unix)]
async fn first_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn first_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
