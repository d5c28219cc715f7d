//! `handover rollback --journal FILE`: flags into [`RollbackSettings`], Ctrl-C into the
//! run's shutdown future, and the summary, the report and the exit code out. The work and
//! its order of checks are `workflow::rollback`'s.

use std::path::{Path, PathBuf};

use crate::exit;
use crate::journal::OutcomeKind;
use crate::plan::render_table;
use crate::workflow::rollback::{self, RollbackSettings};

use super::conn::{ConnOpts, PaceOpts};

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
    /// The report: PATH.csv, PATH.json and PATH.html. [default: beside the rollback
    /// journal, its name with .report.csv, .report.json and .report.html]
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
}

/// `handover rollback`.
pub async fn run(opts: RollbackOpts, quiet: bool) -> anyhow::Result<i32> {
    let settings = RollbackSettings {
        conn: opts.conn.inputs(),
        policy: opts.pace.policy(),
        workers: opts.pace.workers(),
        journal: opts.journal.clone(),
        rollback_journal: opts.rollback_journal.clone(),
        force: opts.force,
        report: opts.report.clone(),
        progress: super::progress_kind(quiet),
    };
    let rollback_journal = settings.rollback_journal();
    let ready = rollback::prepare(&settings).await?;
    if !quiet {
        if let Some(earlier) = &ready.prepared.superseded {
            eprintln!(
                "handover: {} has grown since the rollback in {} was planned (the run was \
                 resumed after it); rolling back everything it records now, in {}",
                opts.journal.display(),
                earlier.display(),
                ready.prepared.journal_path.display()
            );
        }
        match &ready.prepared.made {
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
                ready.prepared.journal_path.display(),
                ready.prepared.plan_path.display()
            ),
        }
    }
    if let Some(effects) = &ready.prepared.side_effects {
        // Said even with -q: it is about access this rollback leaves in place.
        eprintln!("handover: note: {}", effects.render());
    }
    let again = resume_command(&opts, &rollback_journal);
    let done = rollback::run(ready, &settings, super::shutdown_signal(again.clone())).await?;
    let mut code = done.summary.exit_code();
    match &done.report {
        Ok(()) => {
            if !quiet {
                eprintln!(
                    "handover: report: {}, {} and {}",
                    done.paths.csv.display(),
                    done.paths.json.display(),
                    done.paths.html.display()
                );
            }
        }
        Err(err) => {
            exit::print_error(err);
            if code == exit::OK {
                code = exit::FATAL;
            }
        }
    }
    print!("{}", done.summary.render());
    let drifted = done.summary.overall().outcome(OutcomeKind::Drifted);
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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::after::rollback::{self, default_rollback_journal};

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
        assert_eq!(
            rollback::rollback_generation(Path::new("/w/a.rollback.jsonl"), 1),
            PathBuf::from("/w/a.rollback.jsonl")
        );
        assert_eq!(
            rollback::rollback_generation(Path::new("/w/a.rollback.jsonl"), 3),
            PathBuf::from("/w/a.rollback.3.jsonl")
        );
        assert_eq!(
            rollback::rollback_generation(Path::new("/w/undo"), 2),
            PathBuf::from("/w/undo.2")
        );
    }
}
