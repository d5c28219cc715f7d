//! `handover plan`: decide what will change, before anything changes, and write it down for
//! review. Flags → `workflow::plan` (one offboarding, a map, or a CSV plan) → plan file.
//! Every input file (CSV plan, map, id lists) is read and checked before connecting, so a
//! bad one fails without a single request.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::conn::ConnOpts;
use crate::exit;
use crate::model::EntityKind;
use crate::plan::planner::{Coverage, PlannerSettings};
use crate::plan::{OldOwnerRoleKind, render_table};
use crate::workflow::connect;
use crate::workflow::plan::{
    Handover, OffboardWho, caller_of, check_orphans, plan_csv, plan_handover, read_csv, read_map,
    read_narrowing,
};

/// Options of `handover plan`.
#[derive(Debug, clap::Args)]
pub struct PlanOpts {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// The departing user whose entities are handed over [default: the caller, so that
    /// `plan --to bob@acme.com --types project` reassigns all of your own projects].
    #[arg(long, value_name = "USER", conflicts_with = "csv")]
    pub from: Option<String>,
    /// The user who becomes OWNER of everything `--from` owns.
    #[arg(long, value_name = "USER", required_unless_present_any = ["csv", "map"])]
    pub to: Option<String>,
    /// Plan orphans instead: every entity whose owners are all deactivated accounts goes
    /// to --to; the deactivated owners are removed (kept with --old-owner-role owner).
    /// Needs an organization administrator, who may list users.
    #[arg(long, requires = "to", conflicts_with_all = ["from", "map", "csv"])]
    pub orphans: bool,
    /// Several departing users in one plan: a CSV with the header from,to and one row per
    /// departing user (see README, "Several departing users at once").
    #[arg(long, value_name = "FILE", conflicts_with_all = ["from", "to", "csv"])]
    pub map: Option<PathBuf>,
    /// Plan only these entities: a file with one ID or TYPE,ID per line (see README,
    /// "Narrowing a plan: id lists").
    #[arg(long, value_name = "FILE")]
    pub only_ids: Option<PathBuf>,
    /// Leave these entities out of the plan (same format as --only-ids; wins over it).
    #[arg(long, value_name = "FILE")]
    pub exclude: Option<PathBuf>,
    /// What the old owner keeps: none (revoked), consumer, editor or owner.
    #[arg(
        long,
        value_name = "ROLE",
        default_value = "none",
        conflicts_with = "csv"
    )]
    pub old_owner_role: OldOwnerRoleKind,
    /// Keep the roles the departing user holds on entities they do not own (as editor or
    /// consumer of colleagues' entities); by default an offboarding removes them too, so
    /// that the leaver holds nothing afterwards. Ownership moves either way, and
    /// --old-owner-role still says what they keep of what they owned. Not with --orphans,
    /// which never touches what deactivated users hold without owning.
    #[arg(long, conflicts_with_all = ["csv", "orphans"])]
    pub keep_other_access: bool,
    /// Entity types to include, comma-separated (e.g. project,dataset) [default: all 25
    /// that can be shared].
    #[arg(
        long,
        value_name = "TYPES",
        value_delimiter = ',',
        value_parser = EntityKind::parse_writable,
        conflicts_with = "csv"
    )]
    pub types: Vec<EntityKind>,
    /// A hand-written plan: CSV with entity_type,entity_id,username,role[,can_share]
    /// (see migrations-plans/README.md).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Where to write the plan (JSON Lines); a spreadsheet-friendly CSV is written beside
    /// it with the extension .csv.
    #[arg(long, value_name = "PLAN")]
    pub out: PathBuf,
    #[command(flatten)]
    pub pace: super::conn::PaceOpts,
}

/// Runs `handover plan`.
pub async fn run(opts: PlanOpts, quiet: bool) -> anyhow::Result<i32> {
    // Read every input file before connecting: a bad file must fail without a single
    // request.
    let csv = opts.csv.as_deref().map(read_csv).transpose()?;
    let map = opts.map.as_deref().map(read_map).transpose()?;
    let narrowing = read_narrowing(opts.only_ids.as_deref(), opts.exclude.as_deref())?;
    if opts.orphans {
        check_orphans(opts.old_owner_role)?;
    }
    crate::workflow::apply::check_plan_output(&opts.out, None)?;
    let (client, account) = connect(&opts.conn.inputs(), opts.pace.policy()).await?;
    let caller = caller_of(&account);
    let settings = PlannerSettings {
        concurrency: opts.pace.workers(),
        progress: super::progress_on(quiet),
    };
    let who = opts.to.as_deref().map(|to| OffboardWho {
        from: opts.from.as_deref(),
        to,
        old_owner_role: opts.old_owner_role,
        types: &opts.types,
        keep_other_access: opts.keep_other_access,
    });
    let (written, coverage) = match (csv, &map, &who) {
        (Some(csv), _, _) => {
            let written = plan_csv(&client, &caller, csv, &narrowing, settings, &opts.out).await?;
            (written, None)
        }
        (None, Some(map), _) => {
            let handover = Handover::Map {
                map,
                old_owner_role: opts.old_owner_role,
                types: &opts.types,
                keep_other_access: opts.keep_other_access,
            };
            let (written, coverage) =
                plan_handover(&client, &caller, &handover, &narrowing, settings, &opts.out).await?;
            (written, Some(coverage))
        }
        (None, None, Some(who)) => {
            let handover = if opts.orphans {
                Handover::Orphans {
                    to: who.to,
                    old_owner_role: opts.old_owner_role,
                    types: &opts.types,
                }
            } else {
                Handover::One(who)
            };
            let (written, coverage) =
                plan_handover(&client, &caller, &handover, &narrowing, settings, &opts.out).await?;
            (written, Some(coverage))
        }
        (None, None, None) => unreachable!("clap requires --to without --csv or --map"),
    };

    let report = format!(
        "{}{}{}plan: {} ({} entities; review copy {})\n",
        coverage.as_ref().map(Coverage::render).unwrap_or_default(),
        crate::plan::notebook::render(&written.notebooks),
        render_table(&written.summary),
        written.path.display(),
        written.entries,
        written.csv_path.display()
    );
    // The plan is on disk; a reader that went away (`| head`) is not an error.
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(report.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(anyhow::Error::new(e).context("cannot write to stdout"));
        }
        _ => {}
    }
    Ok(exit::OK)
}
