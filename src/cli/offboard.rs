//! `handover offboard`: plan and apply in one command. The plan is written to disk first
//! (it is the journal's reference and the admin's record), its counts are shown, and on a
//! terminal the admin confirms before anything is written. One departing user
//! (`--from/--to`) or several (`--map`), narrowed by `--only-ids`/`--exclude` as `plan` is.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::exec::JournalMode;
use crate::exit;
use crate::model::EntityKind;
use crate::plan::{OldOwnerRoleKind, render_table};
use crate::planner::PlannerSettings;

use super::apply::{RunOpts, default_journal, execute};
use super::plan::{
    Handover, OffboardWho, caller_of, connect, plan_handover, progress_on, read_map, read_narrowing,
};

/// Options of `handover offboard`.
#[derive(Debug, clap::Args)]
pub struct OffboardOpts {
    /// The departing user [default: the caller].
    #[arg(long, value_name = "USER")]
    pub from: Option<String>,
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
    /// Entity types to include, comma-separated [default: all 13].
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
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
    let (client, account) = connect(&opts.run.conn, opts.run.pace.policy()).await?;
    let caller = caller_of(&account);
    // Every access list of the plan is read after this, so its age is at most the time
    // since: a bound for all of them at once.
    let planning_began = tokio::time::Instant::now();
    let settings = PlannerSettings {
        concurrency: opts.run.pace.workers(),
        progress: progress_on(quiet),
    };
    let (written, coverage) = match (&map, opts.to.as_deref()) {
        (Some(map), _) => {
            let out = opts.out.clone().unwrap_or_else(|| {
                let stem = Path::new(&map.file)
                    .file_stem()
                    .map_or_else(|| "map".into(), |s| s.to_string_lossy());
                PathBuf::from(format!("offboard-{}.plan.jsonl", file_safe(&stem)))
            });
            let handover = Handover::Map {
                map,
                old_owner_role: opts.old_owner_role,
                types: &opts.types,
            };
            plan_handover(&client, &caller, &handover, &narrowing, settings, &out).await?
        }
        (None, to) => {
            let to = to.expect("clap requires --to without --map");
            let from_label = opts.from.as_deref().unwrap_or(&account.username);
            let out = opts.out.clone().unwrap_or_else(|| {
                PathBuf::from(format!("offboard-{}.plan.jsonl", file_safe(from_label)))
            });
            let who = OffboardWho {
                from: opts.from.as_deref(),
                to,
                old_owner_role: opts.old_owner_role,
                types: &opts.types,
            };
            plan_handover(
                &client,
                &caller,
                &Handover::One(&who),
                &narrowing,
                settings,
                &out,
            )
            .await?
        }
    };
    print!("{}{}", coverage.render(), render_table(&written.summary));
    println!(
        "plan: {} (review copy {})",
        written.path.display(),
        written.csv_path.display()
    );
    let to_change = written.summary.total().change;
    if to_change == 0 {
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
            opts.from.as_deref().unwrap_or(&account.username),
            to.unwrap_or_default()
        ),
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
    execute(
        &written.path,
        &journal,
        JournalMode::CreateOrResume,
        &opts.run,
        quiet,
        Some(planning_began + opts.max_read_age),
        Some((client, account)),
    )
    .await
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

/// A username as a file-name fragment: `alice@acme.com` → `alice_acme.com`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
