//! `handover apply`, `handover resume` and `handover status`: flags into
//! [`RunSettings`](crate::workflow::apply::RunSettings), Ctrl-C into the run's shutdown
//! future, [`execute`] (the work, `workflow::apply`), and the summary, the report and the
//! exit code out. The order of checks is `workflow::apply`'s.

use std::path::PathBuf;

use anyhow::Context;

use crate::after::html::{PageFile, RunView, run_page};
use crate::exec::JournalMode;
use crate::exec::report::{self, Status};
use crate::exit;
use crate::journal::Replay;
use crate::plan::PlanReader;
use crate::workflow::apply::{
    default_journal, execute, recorded_plan, resolve_plan_path, resume_command,
};

use super::conn::RunOpts;

/// `handover apply PLAN`: apply a saved plan (no prompt).
#[derive(Debug, clap::Args)]
pub struct ApplyOpts {
    /// The plan file, as `handover plan` wrote it.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    /// The journal. Created if absent; if it exists for the same plan, the run continues
    /// where it stopped. [default: beside the plan, PLAN's name with .journal.jsonl]
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunOpts,
}

/// `handover resume --journal FILE`: continue an interrupted run.
#[derive(Debug, clap::Args)]
pub struct ResumeOpts {
    /// The journal of the run to continue.
    #[arg(long, value_name = "FILE")]
    pub journal: PathBuf,
    /// The plan, if it moved. [default: the path recorded in the journal]
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunOpts,
}

/// `handover status --journal FILE`: where a run stands.
#[derive(Debug, clap::Args)]
pub struct StatusOpts {
    /// The journal to read (a running handover may be writing it).
    #[arg(long, value_name = "FILE")]
    pub journal: PathBuf,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write a plan of the entities that failed, drifted or were refused by the
    /// server, to retry them with `handover apply OUT`.
    #[arg(long, value_name = "OUT")]
    pub failed_plan: Option<PathBuf>,
    /// The plan, if it moved. [default: the path recorded in the journal]
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// Also write the run's page to FILE: one self-contained HTML file (outcomes, per type,
    /// the rate over time, failures) that opens in any browser, without a network.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// `handover apply`.
pub async fn apply(opts: ApplyOpts, quiet: bool) -> anyhow::Result<i32> {
    let journal = opts
        .journal
        .clone()
        .unwrap_or_else(|| default_journal(&opts.plan));
    let resume = resume_command(&journal);
    let applied = execute(
        &opts.plan,
        &journal,
        JournalMode::CreateOrResume,
        &opts.run.settings(quiet),
        None,
        None,
        || super::shutdown_signal(resume.clone()),
    )
    .await?;
    Ok(applied.conclude(&resume, quiet))
}

/// `handover resume`.
pub async fn resume(opts: ResumeOpts, quiet: bool) -> anyhow::Result<i32> {
    let plan = match &opts.plan {
        Some(plan) => plan.clone(),
        None => {
            let recorded = recorded_plan(&opts.journal)?;
            resolve_plan_path(&opts.journal, &recorded)
        }
    };
    let resume = resume_command(&opts.journal);
    let applied = execute(
        &plan,
        &opts.journal,
        JournalMode::ResumeOnly,
        &opts.run.settings(quiet),
        None,
        None,
        || super::shutdown_signal(resume.clone()),
    )
    .await?;
    Ok(applied.conclude(&resume, quiet))
}

/// `handover status`.
pub fn status(opts: StatusOpts) -> anyhow::Result<i32> {
    // Neither output may replace the journal being read, or a plan a journal refers to.
    if let Some(out) = &opts.failed_plan {
        crate::workflow::apply::check_plan_output(out, Some(&opts.journal))?;
    }
    // An unwritable page fails first, in one line, before the journal is read.
    let page = match &opts.html {
        Some(path) => Some(PageFile::create(path).map_err(|e| {
            exit::with_code(
                exit::INVALID_INPUT,
                anyhow::anyhow!("cannot write {}: {e}", path.display()),
            )
        })?),
        None => None,
    };
    let replay = Replay::read(&opts.journal).map_err(|e| e.coded())?;
    let plan_path = opts
        .plan
        .clone()
        .unwrap_or_else(|| resolve_plan_path(&opts.journal, &replay.header().plan));
    let plan = match PlanReader::open(&plan_path) {
        Ok(plan) if plan.digest() == replay.header().plan_digest => Ok(plan),
        Ok(plan) => Err(exit::with_code(
            exit::INVALID_INPUT,
            anyhow::anyhow!(
                "plan {} ({}) is not the plan of journal {} ({})",
                plan_path.display(),
                plan.digest(),
                opts.journal.display(),
                replay.header().plan_digest
            ),
        )),
        Err(e) => Err(exit::with_code(e.exit_code(), e)),
    };
    let plan = match plan {
        Ok(plan) => Some(plan),
        // The plan is needed for --failed-plan, or when named; otherwise status goes on
        // without the pending count.
        Err(e) if opts.failed_plan.is_some() || opts.plan.is_some() => return Err(e),
        Err(e) => {
            tracing::warn!(error = %e, "plan not readable; pending entities not counted");
            None
        }
    };
    let status = Status::new(&replay, plan.as_ref().map(PlanReader::entries));
    if opts.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).context("cannot render the status as JSON")?
        );
    } else {
        print!("{}", status.render());
    }
    if let Some(page) = page {
        let plan = match &plan {
            Some(plan) => {
                Some(PlanReader::open(plan.path()).map_err(|e| exit::with_code(e.exit_code(), e))?)
            }
            None => None,
        };
        let path = page.path().to_path_buf();
        RunView::from_journal("Run status", &replay, plan)
            .and_then(|view| page.commit(&run_page(&view)))
            .map_err(|e| exit::with_code(e.exit_code(), e))?;
        eprintln!("handover: page: {}", path.display());
    }
    if let (Some(out), Some(plan)) = (&opts.failed_plan, plan) {
        let written = report::write_failed_plan(plan, &replay, out)
            .map_err(|e| exit::with_code(e.exit_code(), e))?;
        eprintln!(
            "handover: wrote {} entries to retry to {} (review {}), apply with: handover apply {}",
            written.entries,
            written.path.display(),
            written.csv_path.display(),
            written.path.display()
        );
    }
    Ok(exit::OK)
}
