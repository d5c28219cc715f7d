//! `handover offboard`: plan and apply in one command. The plan is written to disk first
//! (it is the journal's reference and the admin's record), its counts are shown, and on a
//! terminal the admin confirms before anything is written. One departing user
//! (`--from/--to`) or several (`--map`), narrowed by `--only-ids`/`--exclude` as `plan` is.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use crate::exit;
use crate::model::EntityKind;
use crate::plan::planner::PlannerSettings;
use crate::plan::{OldOwnerRoleKind, render_table};
use crate::workflow::apply::{default_journal, resume_command};
use crate::workflow::offboard;
use crate::workflow::plan::{Handover, OffboardWho, read_map, read_narrowing};

use super::conn::RunOpts;
use super::progress_on;

/// Options of `handover offboard`.
#[derive(Debug, clap::Args)]
pub struct OffboardOpts {
    /// The departing user [default: the caller].
    #[arg(long, value_name = "USER")]
    pub from: Option<String>,
    /// Hand over orphans instead: every entity whose owners are all deactivated accounts
    /// goes to --to; the deactivated owners are removed (kept with --old-owner-role owner).
    #[arg(long, requires = "to", conflicts_with_all = ["from", "map"])]
    pub orphans: bool,
    /// The user who becomes OWNER of everything `--from` owns.
    #[arg(long, value_name = "USER", required_unless_present = "map")]
    pub to: Option<String>,
    /// Several departing users at once: a CSV with the header from,to and one row per
    /// departing user (see README, "Several departing users at once").
    #[arg(long, value_name = "FILE", conflicts_with_all = ["from", "to"])]
    pub map: Option<PathBuf>,
    /// Hand over only these entities: a file with one ID or TYPE,ID per line.
    #[arg(long, value_name = "FILE")]
    pub only_ids: Option<PathBuf>,
    /// Leave these entities alone (same format as --only-ids; wins over it).
    #[arg(long, value_name = "FILE")]
    pub exclude: Option<PathBuf>,
    /// What the old owner keeps: none (revoked), consumer, editor or owner.
    #[arg(long, value_name = "ROLE", default_value = "none")]
    pub old_owner_role: OldOwnerRoleKind,
    /// Keep the roles the departing user holds on entities they do not own (as editor or
    /// consumer of colleagues' entities); by default an offboarding removes them too, so
    /// that the leaver holds nothing afterwards. Ownership moves either way, and
    /// --old-owner-role still says what they keep of what they owned. Not with --orphans,
    /// which never touches what deactivated users hold without owning.
    #[arg(long, conflicts_with = "orphans")]
    pub keep_other_access: bool,
    /// Entity types to include, comma-separated [default: all 25 that can be shared].
    #[arg(
        long,
        value_name = "TYPES",
        value_delimiter = ',',
        value_parser = EntityKind::parse_writable
    )]
    pub types: Vec<EntityKind>,
    /// Where to write the plan [default: offboard-FROM.plan.jsonl in the current
    /// directory; offboard-MAP.plan.jsonl with --map, after the map file's name].
    #[arg(long, value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// The journal [default: beside the plan, with .journal.jsonl].
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Apply without asking. Required when stdin or stderr is not a terminal, so that a
    /// script never writes by accident.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Write an entity on the plan's read of its access list, without reading it again,
    /// when that read is younger than this (seconds, or e.g. 90s, 2m). Older (a long
    /// plan, a slow answer at the prompt): read again first, as `apply` always does.
    #[arg(long, value_name = "AGE", default_value = "60", value_parser = super::conn::parse_read_age, allow_negative_numbers = true)]
    pub max_read_age: std::time::Duration,
    #[command(flatten)]
    pub run: RunOpts,
}

/// Runs `handover offboard`.
pub async fn run(opts: OffboardOpts, quiet: bool) -> anyhow::Result<i32> {
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !opts.yes && !interactive {
        return Err(exit::with_code(
            exit::INVALID_INPUT,
            anyhow::anyhow!("--yes is required when not on a terminal (nothing was sent)"),
        ));
    }
    // Input files before connecting: a bad one fails without a single request.
    let map = opts.map.as_deref().map(read_map).transpose()?;
    let narrowing = read_narrowing(opts.only_ids.as_deref(), opts.exclude.as_deref())?;
    let run = opts.run.settings(quiet);
    let who = opts.to.as_deref().map(|to| OffboardWho {
        from: opts.from.as_deref(),
        to,
        old_owner_role: opts.old_owner_role,
        types: &opts.types,
        keep_other_access: opts.keep_other_access,
    });
    if opts.orphans {
        crate::workflow::plan::check_orphans(opts.old_owner_role)?;
    }
    // Re-running an interrupted offboard must not rewrite the plan its journal belongs to.
    if let Some(out) = &opts.out {
        crate::workflow::apply::check_plan_output(out, opts.journal.as_deref())?;
    }
    let handover = match (&map, &who) {
        (None, Some(_)) if opts.orphans => Handover::Orphans {
            to: opts.to.as_deref().unwrap_or_default(),
            old_owner_role: opts.old_owner_role,
            types: &opts.types,
        },
        (Some(map), _) => Handover::Map {
            map,
            old_owner_role: opts.old_owner_role,
            types: &opts.types,
            keep_other_access: opts.keep_other_access,
        },
        (None, Some(who)) => Handover::One(who),
        (None, None) => unreachable!("clap requires --to without --map"),
    };
    let settings = PlannerSettings {
        concurrency: run.workers,
        progress: progress_on(quiet),
    };
    let planned = offboard::plan(
        &run.conn,
        run.policy.clone(),
        &handover,
        &narrowing,
        settings,
        opts.out.clone(),
    )
    .await?;
    let written = &planned.written;
    print!(
        "{}{}{}",
        planned.coverage.render(),
        crate::plan::notebook::render(&written.notebooks),
        render_table(&written.summary)
    );
    println!(
        "plan: {} (review copy {})",
        written.path.display(),
        written.csv_path.display()
    );
    let total = written.summary.total();
    let to_change = total.change - total.revoke_only;
    if total.change == 0 {
        println!("nothing to change");
        return Ok(exit::OK);
    }
    let question = match (&map, opts.to.as_deref()) {
        (Some(map), _) => format!(
            "hand {to_change} entities of {} departing users to their successors ({}) now?",
            map.rows.len(),
            map.file
        ),
        (None, to) => format!(
            "hand {to_change} entities from {} to {} now?",
            opts.from.as_deref().unwrap_or(&planned.account.username),
            to.unwrap_or_default()
        ),
    };
    // Revoke-only changes are said apart: they take access away from entities the
    // departing users do not own.
    let question = match total.revoke_only {
        0 => question,
        n => format!(
            "{}, and remove their access to {n} more?",
            question.trim_end_matches(" now?")
        ),
    };
    // Before anything is sent: these notifications cannot be stopped (contract §12 X5).
    let notifications = written.summary.notifications();
    let question = if notifications > 0 {
        let question = question.trim_end_matches('?');
        format!(
            "{question}, which makes DataRobot send {notifications} notification{s} to users \
             given a role on a secure configuration?",
            s = if notifications == 1 { "" } else { "s" }
        )
    } else {
        question
    };
    if !opts.yes && !confirm(&question)? {
        eprintln!(
            "handover: nothing written; apply later with: handover apply {}",
            written.path.display()
        );
        return Ok(exit::OK);
    }
    let journal = opts
        .journal
        .clone()
        .unwrap_or_else(|| default_journal(&written.path));
    let resume = resume_command(&journal);
    let (journal, applied) =
        offboard::apply(planned, Some(journal), opts.max_read_age, &run, || {
            super::shutdown_signal(resume)
        })
        .await?;
    Ok(applied.conclude(&resume_command(&journal), quiet))
}

/// Asks on the terminal; anything but y/yes is a no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
