//! `handover rollback --journal FILE`: flags into a [`RollbackSpec`] and
//! [`exec::Settings`], Ctrl-C into the run's shutdown future, and the summary, the report
//! and the exit code out. The work is [`crate::rollback`]'s.
//!
//! Order of checks, so that nothing is sent when an input is wrong: the source journal
//! (read), the connection settings and the preflight, then the source journal locked and
//! its endpoint compared, the rollback plan made (reads only) or found, the rollback
//! journal created or resumed, then the run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exec::{ProgressKind, Settings};
use crate::exit;
use crate::journal::{OutcomeKind, Replay};
use crate::plan::{PlanReader, UserIdent, render_table};
use crate::report::{self, ReportPaths};
use crate::rollback::{self, RollbackSpec, default_rollback_journal};

use super::conn::{ConnOpts, PaceOpts, connect};

/// `handover rollback --journal FILE`: put back what a run changed.
#[derive(Debug, clap::Args)]
pub struct RollbackOpts {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// The journal of the run to undo (an apply's, or a rollback's).
    #[arg(long, value_name = "FILE")]
    pub journal: PathBuf,
    /// This rollback's own journal; if it exists, the rollback it records is resumed.
    /// [default: beside FILE, FILE's name with .rollback.jsonl, or .rollback-force.jsonl
    /// with --force]
    #[arg(long, value_name = "FILE")]
    pub rollback_journal: Option<PathBuf>,
    /// Also restore entities changed since the run by someone else (otherwise left alone
    /// and reported as drifted). Only the principals the run changed are put back.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub pace: PaceOpts,
    /// The report: PATH.csv and PATH.json. [default: beside the rollback journal, its
    /// name with .report.csv and .report.json]
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
}

/// `handover rollback`.
pub async fn run(opts: RollbackOpts, quiet: bool) -> anyhow::Result<i32> {
    let rollback_journal = opts
        .rollback_journal
        .clone()
        .unwrap_or_else(|| default_rollback_journal(&opts.journal, opts.force));
    // A missing or damaged journal is reported before anything is sent.
    Replay::read(&opts.journal).map_err(|e| e.coded())?;
    let (client, account) = connect(opts.conn.settings()?, opts.pace.policy()).await?;
    let spec = RollbackSpec {
        journal: opts.journal.clone(),
        rollback_journal: rollback_journal.clone(),
        force: opts.force,
        concurrency: opts.pace.workers(),
        caller: UserIdent {
            id: account.id.clone(),
            username: account.username.clone(),
        },
    };
    let prepared = rollback::prepare(&client, &spec)
        .await
        .map_err(|e| e.coded())?;
    let plan_path = prepared.plan_path.clone();
    if !quiet {
        match &prepared.made {
            Some(made) => {
                eprintln!(
                    "handover: rollback plan {} (review {}):",
                    made.path.display(),
                    made.csv_path.display()
                );
                eprint!("{}", render_table(&made.summary));
            }
            None => eprintln!(
                "handover: resuming the rollback journaled in {} (plan {})",
                rollback_journal.display(),
                plan_path.display()
            ),
        }
    }

    let settings = Settings {
        concurrency: opts.pace.workers(),
        max_errors: None,
        notify: false,
        verify: true,
        progress: if quiet {
            ProgressKind::Off
        } else if std::io::stderr().is_terminal() {
            ProgressKind::Bar
        } else {
            ProgressKind::Lines
        },
        progress_every: Duration::from_secs(5),
        caller: Some(crate::plan::UserIdent {
            id: account.id.clone(),
            username: account.username.clone(),
        }),
        trust_plan_reads_until: None,
    };
    let again = resume_command(&opts, &rollback_journal);
    let summary = rollback::run(
        &client,
        prepared,
        &settings,
        super::shutdown_signal(again.clone()),
    )
    .await
    .map_err(|e| e.coded())?;
    let mut code = summary.exit_code();

    let paths = match &opts.report {
        Some(path) => ReportPaths::from_flag(path),
        None => ReportPaths::beside_journal(&rollback_journal),
    };
    match write_report(&plan_path, &rollback_journal, &paths) {
        Ok(()) => {
            if !quiet {
                eprintln!(
                    "handover: report: {} and {}",
                    paths.csv.display(),
                    paths.json.display()
                );
            }
        }
        Err(err) => {
            super::print_error(&err);
            if code == exit::OK {
                code = exit::FATAL;
            }
        }
    }
    print!("{}", summary.render());
    let drifted = summary.overall().outcome(OutcomeKind::Drifted);
    if drifted > 0 && !opts.force {
        eprintln!(
            "handover: {drifted} entities changed since the run were left alone (see the \
             report); to put them back anyway: handover rollback --journal {} --force",
            opts.journal.display()
        );
    }
    if code == exit::INTERRUPTED {
        eprintln!("handover: resume with: {again}");
    }
    Ok(code)
}

/// The command line that resumes this rollback.
fn resume_command(opts: &RollbackOpts, rollback_journal: &Path) -> String {
    let mut cmd = format!("handover rollback --journal {}", opts.journal.display());
    if opts.force {
        cmd.push_str(" --force");
    }
    if opts.rollback_journal.is_some() {
        cmd.push_str(&format!(
            " --rollback-journal {}",
            rollback_journal.display()
        ));
    }
    cmd
}

fn write_report(plan_path: &Path, journal_path: &Path, paths: &ReportPaths) -> anyhow::Result<()> {
    let replay = Replay::read(journal_path)?;
    let plan = PlanReader::open(plan_path)?;
    report::write(plan, &replay, paths)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_journals_sit_beside_the_source() {
        assert_eq!(
            default_rollback_journal(Path::new("/w/a.plan.journal.jsonl"), false),
            PathBuf::from("/w/a.plan.journal.rollback.jsonl")
        );
        assert_eq!(
            default_rollback_journal(Path::new("/w/a.plan.journal.jsonl"), true),
            PathBuf::from("/w/a.plan.journal.rollback-force.jsonl")
        );
        assert_eq!(
            rollback::rollback_plan_path(Path::new("/w/a.rollback.jsonl")),
            PathBuf::from("/w/a.rollback.plan.jsonl")
        );
    }
}
