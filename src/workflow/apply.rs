//! Applying a plan as the commands do it: the plan read and checked, the journal created
//! or resumed under its lock, a finished run closed again without a request, the
//! connection, the run, and the report. `apply`, `resume`, `offboard` and `demo` share it.
//!
//! Order of checks, so that nothing is sent when an input is wrong: the plan (read and
//! verified), the connection settings, the plan's endpoint against the connection's and
//! the journal (created, or resumed for the same plan, under its lock), then the preflight
//! request, then the run. A resumed journal whose run already finished (every entry has an
//! outcome, the last run ended cleanly) is closed again before the connection: nothing is
//! sent, the plan is not walked, the summary comes from the journal and the report is kept
//! if it is current.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::after::run_view;
use crate::api::config::ConnInputs;
use crate::api::{Account, Client, ClientPolicy};
use crate::exec::report::{self, ReportPaths};
use crate::exec::{self, JournalMode, ProgressKind, Resumption, RunSummary, Settings};
use crate::exit;
use crate::journal::{Record, Replay};
use crate::plan::PlanReader;

use super::{connect_with, settings_of};

/// How a run goes: where DataRobot is, the pace, and what to do per entity.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// The connection inputs (flags), layered over the environment and files when used.
    pub conn: ConnInputs,
    /// The client's pace and retries.
    pub policy: ClientPolicy,
    /// Entities worked at once (the client's in-flight limit is what binds).
    pub workers: usize,
    /// Stop once this many entities failed, drifted, were refused or were gone.
    pub max_errors: Option<u64>,
    /// Let DataRobot e-mail the recipients of project shares.
    pub notify: bool,
    /// Read each entity back after writing it.
    pub verify: bool,
    /// The report's path stem; `None`: beside the journal.
    pub report: Option<PathBuf>,
    /// The bar, plain lines, or nothing.
    pub progress: ProgressKind,
}

/// What a run came to: its summary, and where its report is (`Ok(true)`: written now,
/// `Ok(false)`: kept as it was) or why it is not.
#[derive(Debug)]
pub struct Applied {
    pub summary: RunSummary,
    pub report: anyhow::Result<bool>,
    pub paths: ReportPaths,
}

impl Applied {
    /// Says where the report is or why it is not (stderr), prints the summary (stdout),
    /// and gives the exit code: the summary's, made fatal by a report that could not be
    /// written. `resume` is the command that continues an interrupted run.
    pub fn conclude(&self, resume: &str, quiet: bool) -> i32 {
        let mut code = self.summary.exit_code();
        match &self.report {
            Ok(written) => {
                if !quiet {
                    eprintln!(
                        "handover: report: {}, {} and {}{}",
                        self.paths.csv.display(),
                        self.paths.json.display(),
                        self.paths.html.display(),
                        if *written { "" } else { " (unchanged)" }
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
        print!("{}", self.summary.render());
        if code == exit::INTERRUPTED {
            eprintln!("handover: resume with: {resume}");
        }
        code
    }
}

/// The command that continues the run of the journal at `path`.
pub fn resume_command(path: &Path) -> String {
    format!("handover resume --journal {}", path.display())
}

/// Applies (or, per `mode`, resumes) `plan_path` with the journal at `journal_path`, then
/// writes the report. What `apply`, `resume`, `offboard` and `demo` share. `trust_plan_reads_until`: see
/// [`Settings::trust_plan_reads_until`] (`None` but for `offboard`). `connected`: the
/// client (and its caller) a command already made, so that its pace carries on (`offboard`
/// plans and applies through one client); `None` connects here.
/// `shutdown` makes, when the run starts, the future that ends it early (Ctrl-C in the
/// CLI, a future of its own in tests); until then a signal keeps its default effect.
pub async fn execute<F: Future<Output = ()>>(
    plan_path: &Path,
    journal_path: &Path,
    mode: JournalMode,
    run: &RunSettings,
    trust_plan_reads_until: Option<tokio::time::Instant>,
    connected: Option<(Client, Account)>,
    shutdown: impl FnOnce() -> F,
) -> anyhow::Result<Applied> {
    let plan = PlanReader::open(plan_path).map_err(|e| exit::with_code(e.exit_code(), e))?;
    let conn = settings_of(&run.conn)?;
    // The report is written after the run; a path it may not take (a device, a journal)
    // is refused now, before the journal exists or anything is sent.
    let report_paths = match &run.report {
        Some(path) => ReportPaths::from_flag(path),
        None => ReportPaths::beside_journal(journal_path),
    };
    for path in [&report_paths.csv, &report_paths.json, &report_paths.html] {
        crate::files::check_output(path).map_err(|e| exit::with_code(exit::INVALID_INPUT, e))?;
    }
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
                drop(plan);
                write_report_files(RUN_REPORT, plan_path, &replay, &paths).map(|()| true)
            };
            return Ok(Applied {
                summary,
                report,
                paths,
            });
        }
    };

    // Said before the first request, since nothing on the wire stops these (contract
    // §12 X5); `offboard` asked already, with the count in its question.
    let notifications = plan.summary().notifications();
    if !journal.is_resume()
        && connected.is_none()
        && let Some(line) = crate::plan::notification_line(notifications)
    {
        tracing::warn!(notifications, "{line}");
    }
    let (client, account) = match connected {
        Some(connected) => connected,
        None => connect_with(conn, run.policy.clone()).await?,
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
        concurrency: run.workers,
        max_errors: run.max_errors,
        notify: run.notify,
        verify: run.verify,
        progress: run.progress,
        progress_every: Duration::from_secs(5),
        caller: Some(crate::plan::UserIdent {
            id: account.id.clone(),
            username: account.username.clone(),
        }),
        trust_plan_reads_until,
    };

    let summary = exec::run(&client, plan, journal, &settings, shutdown())
        .await
        .map_err(|e| e.coded())?;
    let report = write_report(plan_path, journal_path, &paths).map(|()| true);
    Ok(Applied {
        summary,
        report,
        paths,
    })
}

/// Whether the report at `paths` can stay as it is for a finished journal: all three files
/// exist, and the JSON one names the plan by `digest` and ends with the same counts per
/// outcome as `replay` (a report written by an earlier, interrupted run of the same plan
/// counts pending entities). Reads only the JSON report's first and last lines.
fn report_is_current(paths: &ReportPaths, digest: &str, replay: &Replay) -> bool {
    if !paths.csv.is_file() || !paths.html.is_file() {
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

/// The heading of an apply run's page.
const RUN_REPORT: &str = "Run report";

fn write_report(plan_path: &Path, journal_path: &Path, paths: &ReportPaths) -> anyhow::Result<()> {
    let replay = Replay::read(journal_path)?;
    write_report_files(RUN_REPORT, plan_path, &replay, paths)
}

/// Writes the report of the run `replay` records, by the plan at `plan_path`: the CSV and
/// JSON files, then the HTML page titled `title`.
pub fn write_report_files(
    title: &str,
    plan_path: &Path,
    replay: &Replay,
    paths: &ReportPaths,
) -> anyhow::Result<()> {
    report::write(PlanReader::open(plan_path)?, replay, paths)?;
    run_view::write_run_page(
        title,
        replay,
        Some(PlanReader::open(plan_path)?),
        &paths.html,
    )?;
    Ok(())
}

/// `plan.jsonl` → `plan.journal.jsonl`, beside the plan.
pub fn default_journal(plan: &Path) -> PathBuf {
    let stem = plan.file_stem().unwrap_or_default().to_string_lossy();
    plan.with_file_name(format!("{stem}.journal.jsonl"))
}

/// Refuses `path` as where a new plan goes (`plan --out`, `offboard --out`, `status
/// --failed-plan`) when writing it would destroy a run's record (issue 20): when it is not a
/// regular file or is a journal (`files::check_output`), or when it holds the plan a
/// journal refers to. The journals looked at are the one at the default path beside it and
/// `journal`, the one the command was told to use; one refers to the plan when its header
/// names this path or this plan's digest. Nothing is written or sent before this check;
/// the refusal is one line that offers the command that continues the run, exit 2.
pub fn check_plan_output(path: &Path, journal: Option<&Path>) -> anyhow::Result<()> {
    let refuse = |e: crate::files::RefusedOutput| exit::with_code(exit::INVALID_INPUT, e);
    crate::files::check_output(path).map_err(refuse)?;
    if !path.exists() {
        return Ok(());
    }
    let beside = default_journal(path);
    for candidate in std::iter::once(beside.as_path()).chain(journal) {
        if !crate::files::is_journal(candidate) {
            continue;
        }
        let Some(header) = journal_header(candidate) else {
            continue;
        };
        let same_path = same_file(&resolve_plan_path(candidate, &header.plan), path);
        let same_plan =
            || PlanReader::open(path).is_ok_and(|plan| plan.digest() == header.plan_digest);
        if same_path || same_plan() {
            return Err(refuse(crate::files::RefusedOutput::new(
                path,
                format!(
                    "is the plan of journal {}; refusing to write over it (to continue that \
                     run: {}; or name another file)",
                    candidate.display(),
                    resume_command(candidate)
                ),
            )));
        }
    }
    Ok(())
}

/// Whether two paths name the same file (both must exist).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A journal's header, from its first line only.
fn journal_header(journal: &Path) -> Option<crate::journal::Header> {
    let f = std::fs::File::open(journal).ok()?;
    let mut line = String::new();
    BufReader::new(f).read_line(&mut line).ok()?;
    match serde_json::from_str::<Record>(&line).ok()? {
        Record::Header(h) => Some(h),
        _ => None,
    }
}

/// The plan path the journal's header records, read from its first line only.
pub fn recorded_plan(journal: &Path) -> anyhow::Result<String> {
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
pub fn resolve_plan_path(journal: &Path, recorded: &str) -> PathBuf {
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
}
