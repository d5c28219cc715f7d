//! `handover apply`, `handover resume` and `handover status`: flags into
//! [`exec::Settings`](crate::exec::Settings), Ctrl-C into the run's shutdown future, and the
//! summary, the report and the exit code out.
//!
//! Order of checks in `apply`/`resume`, so that nothing is sent when an input is wrong:
//! the plan (read and verified), the connection settings, the plan's endpoint against the
//! connection's and the journal (created, or resumed for the same plan, under its lock),
//! then the preflight request, then the run.
//!
//! A resumed journal whose run already finished (every entry has an outcome, the last run
//! ended cleanly) is closed again before the connection: nothing is sent, the plan is not
//! walked, the summary comes from the journal and the report is kept if it is current.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::exec::{self, JournalMode, ProgressKind, Resumption, RunSummary, Settings};
use crate::exit;
use crate::journal::{Record, Replay};
use crate::plan::PlanReader;
use crate::report::{self, ReportPaths, Status};

use super::conn::{ConnOpts, PaceOpts};

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

/// The flags `apply` and `resume` share.
#[derive(Debug, clap::Args)]
pub struct RunOpts {
    #[command(flatten)]
    pub conn: ConnOpts,
    #[command(flatten)]
    pub pace: PaceOpts,
    /// Stop (resumably, exit 4) once N entities failed, drifted, were refused by the server
    /// or were gone in this run.
    #[arg(long, value_name = "N", value_parser = parse_max_errors)]
    pub max_errors: Option<u64>,
    /// Let DataRobot e-mail the recipients of project shares (off: sendNotification=false).
    #[arg(long)]
    pub notify: bool,
    /// Do not read each entity back after writing it.
    #[arg(long)]
    pub no_verify: bool,
    /// The report: PATH.csv and PATH.json. [default: beside the journal, JOURNAL's name
    /// with .report.csv and .report.json]
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
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
}

/// Parses `--max-errors`: a whole number of entities, at least 1 (0 would stop before
/// the first entity).
fn parse_max_errors(raw: &str) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{raw:?} is not a number of entities of at least 1")),
    }
}

/// `handover apply`.
pub async fn apply(opts: ApplyOpts, quiet: bool) -> anyhow::Result<i32> {
    let journal = opts
        .journal
        .clone()
        .unwrap_or_else(|| default_journal(&opts.plan));
    execute(
        &opts.plan,
        &journal,
        JournalMode::CreateOrResume,
        &opts.run,
        quiet,
        None,
        None,
    )
    .await
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
    execute(
        &plan,
        &opts.journal,
        JournalMode::ResumeOnly,
        &opts.run,
        quiet,
        None,
        None,
    )
    .await
}

/// Applies (or, per `mode`, resumes) `plan_path` with the journal at `journal_path`, then
/// writes the report and prints the summary; returns the exit code. The glue `apply`,
/// `resume`, `offboard` and `demo` share. `trust_plan_reads_until`: see
/// [`Settings::trust_plan_reads_until`] (`None` but for `offboard`). `connected`: the
/// client (and its caller) a command already made, so that its pace carries on (`offboard`
/// plans and applies through one client); `None` connects here.
pub(crate) async fn execute(
    plan_path: &Path,
    journal_path: &Path,
    mode: JournalMode,
    run: &RunOpts,
    quiet: bool,
    trust_plan_reads_until: Option<tokio::time::Instant>,
    connected: Option<(crate::api::Client, crate::api::Account)>,
) -> anyhow::Result<i32> {
    let plan = PlanReader::open(plan_path).map_err(|e| exit::with_code(e.exit_code(), e))?;
    let conn = run.conn.settings()?;
    let journal = exec::open_journal(
        journal_path,
        &plan,
        &plan_path.display().to_string(),
        &conn.endpoint,
        mode,
    )
    .map_err(|e| e.coded())?;
    if journal.is_resume() {
        tracing::info!(journal = %journal_path.display(), "continuing the run this journal records");
    }
    let paths = match &run.report {
        Some(path) => ReportPaths::from_flag(path),
        None => ReportPaths::beside_journal(journal_path),
    };
    let journal = match exec::finish_if_done(journal, plan.entries()).map_err(|e| e.coded())? {
        Resumption::ToRun(journal) => journal,
        Resumption::Finished { summary, replay } => {
            // Nothing to send: no connection, no walk through the plan. The report is
            // rewritten only if it is missing or is not this journal's final one.
            tracing::info!(journal = %journal_path.display(), "the run this journal records already finished; nothing to send");
            let report = if report_is_current(&paths, plan.digest(), &replay) {
                Ok(false)
            } else {
                report::write(plan, &replay, &paths)
                    .map(|_| true)
                    .map_err(anyhow::Error::from)
            };
            return Ok(conclude(&summary, report, &paths, journal_path, quiet));
        }
    };

    let (client, account) = match connected {
        Some(connected) => connected,
        None => super::conn::connect(conn, run.pace.policy()).await?,
    };
    let planned_by = &plan.header().caller.username;
    if !account.username.eq_ignore_ascii_case(planned_by) {
        tracing::warn!(
            planned_by = %planned_by,
            applying_as = %account.username,
            "the plan was made as another user; shares are sent as the current one"
        );
    }

    let settings = Settings {
        concurrency: run.pace.workers(),
        max_errors: run.max_errors,
        notify: run.notify,
        verify: !run.no_verify,
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
        trust_plan_reads_until,
    };

    let summary = exec::run(
        &client,
        plan,
        journal,
        &settings,
        super::shutdown_signal(format!(
            "handover resume --journal {}",
            journal_path.display()
        )),
    )
    .await
    .map_err(|e| e.coded())?;
    let report = write_report(plan_path, journal_path, &paths).map(|()| true);
    Ok(conclude(&summary, report, &paths, journal_path, quiet))
}

/// Says where the report is (`Ok(true)`: written now, `Ok(false)`: kept as it was) or why
/// it is not, prints the summary, and gives the exit code: the summary's, made fatal by a
/// report that could not be written.
fn conclude(
    summary: &RunSummary,
    report: anyhow::Result<bool>,
    paths: &ReportPaths,
    journal_path: &Path,
    quiet: bool,
) -> i32 {
    let mut code = summary.exit_code();
    match report {
        Ok(written) => {
            if !quiet {
                eprintln!(
                    "handover: report: {} and {}{}",
                    paths.csv.display(),
                    paths.json.display(),
                    if written { "" } else { " (unchanged)" }
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
    if code == exit::INTERRUPTED {
        eprintln!(
            "handover: resume with: handover resume --journal {}",
            journal_path.display()
        );
    }
    code
}

/// Whether the report at `paths` can stay as it is for a finished journal: both files
/// exist, and the JSON one names the plan by `digest` and ends with the same counts per
/// outcome as `replay` (a report written by an earlier, interrupted run of the same plan
/// counts pending entities). Reads only the JSON report's first and last lines.
fn report_is_current(paths: &ReportPaths, digest: &str, replay: &Replay) -> bool {
    if !paths.csv.is_file() {
        return false;
    }
    let Ok((first, last)) = first_and_last_lines(&paths.json) else {
        return false;
    };
    if !first.contains(&format!("\"plan_digest\":{}", serde_json::json!(digest))) {
        return false;
    }
    // The report ends `],"counts":{…}}`.
    let Some(counts) = last
        .trim_end()
        .strip_prefix("],\"counts\":")
        .and_then(|rest| rest.strip_suffix('}'))
    else {
        return false;
    };
    let Ok(reported) = serde_json::from_str::<BTreeMap<String, u64>>(counts) else {
        return false;
    };
    let journaled: BTreeMap<String, u64> = replay
        .counts()
        .outcomes
        .iter()
        .map(|(outcome, n)| (outcome.as_str().to_string(), *n as u64))
        .collect();
    reported == journaled
}

/// The first line of the file at `path` and its last (up to 64 KiB from the end), without
/// reading what is between.
fn first_and_last_lines(path: &Path) -> std::io::Result<(String, String)> {
    const TAIL: u64 = 64 * 1024;
    let mut file = std::fs::File::open(path)?;
    let mut first = String::new();
    BufReader::new(&file).read_line(&mut first)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL)))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    // The cut may fall inside a character; only the last line matters.
    let tail = String::from_utf8_lossy(&tail);
    let last = tail.trim_end_matches('\n');
    let last = last.rsplit_once('\n').map_or(last, |(_, line)| line);
    Ok((first, last.to_string()))
}

fn write_report(plan_path: &Path, journal_path: &Path, paths: &ReportPaths) -> anyhow::Result<()> {
    let replay = Replay::read(journal_path)?;
    let plan = PlanReader::open(plan_path)?;
    report::write(plan, &replay, paths)?;
    Ok(())
}

/// `handover status`.
pub fn status(opts: StatusOpts) -> anyhow::Result<i32> {
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

/// `plan.jsonl` → `plan.journal.jsonl`, beside the plan.
pub(crate) fn default_journal(plan: &Path) -> PathBuf {
    let stem = plan.file_stem().unwrap_or_default().to_string_lossy();
    plan.with_file_name(format!("{stem}.journal.jsonl"))
}

/// The plan path the journal's header records, read from its first line only.
fn recorded_plan(journal: &Path) -> anyhow::Result<String> {
    let first = std::fs::File::open(journal).ok().and_then(|f| {
        let mut line = String::new();
        BufReader::new(f).read_line(&mut line).ok()?;
        match serde_json::from_str::<Record>(&line).ok()? {
            Record::Header(h) => Some(h.plan),
            _ => None,
        }
    });
    match first {
        Some(plan) => Ok(plan),
        // Let the journal module say what is wrong with the file.
        None => Ok(Replay::read(journal)
            .map_err(|e| e.coded())?
            .header()
            .plan
            .clone()),
    }
}

/// A recorded plan path as given at the time: relative to the directory handover ran in.
/// When that does not resolve from here, try it relative to the journal's directory.
fn resolve_plan_path(journal: &Path, recorded: &str) -> PathBuf {
    let as_given = PathBuf::from(recorded);
    if as_given.is_absolute() || as_given.exists() {
        return as_given;
    }
    let beside = journal
        .parent()
        .map(|d| d.join(&as_given))
        .filter(|p| p.exists());
    beside.unwrap_or(as_given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_journal_sits_beside_the_plan() {
        assert_eq!(
            default_journal(Path::new("/w/offboard.jsonl")),
            PathBuf::from("/w/offboard.journal.jsonl")
        );
    }

    #[test]
    fn max_errors_must_be_at_least_one() {
        assert_eq!(parse_max_errors("3"), Ok(3));
        for bad in ["0", "-1", "x", ""] {
            assert!(parse_max_errors(bad).is_err(), "{bad}");
        }
    }
}
