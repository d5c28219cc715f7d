//! The command line: clap structs (`*Opts`) for every subcommand, logging setup, and the
//! one place errors are printed. Each subcommand's glue lives in its own file and turns its
//! `*Opts` into the validated settings the core takes; the core never sees clap.

use clap::{Parser, Subcommand, ValueEnum};

pub mod apply;
pub mod conn;
pub mod demo;
pub mod offboard;
pub mod plan;
pub mod sim;

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
        .with_writer(std::io::stderr);
    // A second install (tests calling in twice) is harmless; ignore it.
    let _ = match global.log_format {
        LogFormatKind::Text => builder.try_init(),
        LogFormatKind::Json => builder.json().try_init(),
    };
}

/// Prints an error once, as `handover: error: …` with its causes.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("handover: error: {err}");
    for cause in err.chain().skip(1) {
        // `Coded` repeats its inner error's text; skip exact repeats.
        let text = cause.to_string();
        if text != err.to_string() {
            eprintln!("  caused by: {text}");
        }
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
        }
    })
}
