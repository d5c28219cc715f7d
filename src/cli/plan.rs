//! `handover plan`: decide what will change, before anything changes, and write it down for
//! review. Glue only: flags → [`OffboardSpec`], a map ([`BatchSpec`]) or CSV changes →
//! [`planner`] → plan file. Every input file (CSV plan, map, id lists) is read and checked
//! before connecting, so a bad one fails without a single request.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::api::{Account, Client, ClientPolicy};
use crate::cli::conn::ConnOpts;
use crate::exit;
use crate::mapfile::{self, IdList, IdListKind, MapRow};
use crate::model::EntityKind;
use crate::plan::{
    InputFile, OldOwnerRoleKind, PlanHeader, PlanWriter, SelectionSource, SourceKind, UserIdent,
    render_table, sha256_hex,
};
use crate::planner::{self, BatchSpec, Caller, Coverage, OffboardSpec, PlannerSettings, Selection};

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
    /// Entity types to include, comma-separated (e.g. project,dataset) [default: all 13].
    #[arg(
        long,
        value_name = "TYPES",
        value_delimiter = ',',
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

/// Resolves the connection, builds the one client and runs the preflight.
pub async fn connect(conn: &ConnOpts, policy: ClientPolicy) -> anyhow::Result<(Client, Account)> {
    super::conn::connect(conn.settings()?, policy).await
}

/// Who hands over to whom, as given on the command line (`plan` and `offboard`).
pub(crate) struct OffboardWho<'a> {
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub old_owner_role: OldOwnerRoleKind,
    pub types: &'a [EntityKind],
}

/// A map file, read and checked.
pub(crate) struct MapInput {
    /// The path as given.
    pub file: String,
    /// `sha256:<hex>` of the bytes that were parsed.
    pub sha256: String,
    pub rows: Vec<MapRow>,
}

/// Reads and checks `--map FILE` (exit 2 on any problem).
pub(crate) fn read_map(path: &Path) -> anyhow::Result<MapInput> {
    let file = path.display().to_string();
    let bytes = mapfile::read_bytes(path).map_err(map_coded)?;
    let rows = mapfile::parse_map(&file, &bytes).map_err(map_coded)?;
    Ok(MapInput {
        file,
        sha256: sha256_hex(&bytes),
        rows,
    })
}

/// `--only-ids` and `--exclude`, read and checked: what the planner admits, and what the
/// plan header records.
#[derive(Default)]
pub(crate) struct Narrowing {
    pub selection: Selection,
    pub source: Option<SelectionSource>,
}

/// Reads and checks the id lists (exit 2 on any problem).
pub(crate) fn read_narrowing(
    only_ids: Option<&Path>,
    exclude: Option<&Path>,
) -> anyhow::Result<Narrowing> {
    let read = |path: &Path, purpose: IdListKind| -> anyhow::Result<(IdList, InputFile)> {
        let file = path.display().to_string();
        let bytes = mapfile::read_bytes(path).map_err(map_coded)?;
        let list = mapfile::parse_ids(&file, &bytes, purpose).map_err(map_coded)?;
        let sha256 = sha256_hex(&bytes);
        Ok((list, InputFile { file, sha256 }))
    };
    let only = only_ids.map(|p| read(p, IdListKind::Only)).transpose()?;
    let exclude = exclude.map(|p| read(p, IdListKind::Exclude)).transpose()?;
    if only.is_none() && exclude.is_none() {
        return Ok(Narrowing::default());
    }
    let (only, only_file) = only.unzip();
    let (exclude, exclude_file) = exclude.unzip();
    Ok(Narrowing {
        selection: Selection { only, exclude },
        source: Some(SelectionSource {
            only_ids: only_file,
            exclude: exclude_file,
        }),
    })
}

fn map_coded(e: mapfile::Error) -> anyhow::Error {
    let code = e.exit_code();
    exit::with_code(code, e)
}

/// Who hands over to whom: one departing user (or the caller) to one successor, or every
/// row of a map.
pub(crate) enum Handover<'a> {
    One(&'a OffboardWho<'a>),
    Map {
        map: &'a MapInput,
        old_owner_role: OldOwnerRoleKind,
        types: &'a [EntityKind],
    },
}

/// `--types` as the planner takes it: all 13 when empty, else sorted without repeats.
fn kinds_of(types: &[EntityKind]) -> Vec<EntityKind> {
    if types.is_empty() {
        EntityKind::ALL.to_vec()
    } else {
        let mut kinds = types.to_vec();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

/// Looks the users up, plans the offboarding and writes the plan to `out`.
pub(crate) async fn plan_offboard(
    client: &Client,
    caller: &Caller,
    who: &OffboardWho<'_>,
    settings: PlannerSettings,
    out: &std::path::Path,
) -> anyhow::Result<(crate::plan::WrittenPlan, planner::Coverage)> {
    plan_handover(
        client,
        caller,
        &Handover::One(who),
        &Narrowing::default(),
        settings,
        out,
    )
    .await
}

/// Looks the users up (falling back to unchecked usernames for a caller who may not, with
/// a warning), plans the handover in one pass, narrowed by `narrowing`, and writes the
/// plan to `out`. Returns the plan written and what was searched.
pub(crate) async fn plan_handover(
    client: &Client,
    caller: &Caller,
    handover: &Handover<'_>,
    narrowing: &Narrowing,
    settings: PlannerSettings,
    out: &std::path::Path,
) -> anyhow::Result<(crate::plan::WrittenPlan, planner::Coverage)> {
    let (batch, source) = match handover {
        Handover::One(who) => {
            let to = planner::resolve_recipient(client, "--to", who.to)
                .await
                .map_err(coded)?
                .user;
            let from = match who.from {
                Some(name) => {
                    planner::resolve_departing_user(
                        client,
                        caller,
                        "--from",
                        name,
                        who.old_owner_role,
                    )
                    .await
                    .map_err(coded)?
                    .user
                }
                None => caller.user.clone(),
            };
            let spec = OffboardSpec {
                from: vec![from],
                to,
                old_owner_role: who.old_owner_role,
                kinds: kinds_of(who.types),
            };
            let source = SourceKind::Offboard {
                from: spec.from.clone(),
                to: spec.to.clone(),
                old_owner_role: spec.old_owner_role,
                types: spec.kinds.clone(),
            };
            (BatchSpec::from(&spec), source)
        }
        Handover::Map {
            map,
            old_owner_role,
            types,
        } => {
            let (pairs, _unchecked) = planner::resolve_map(
                client,
                caller,
                &map.file,
                &map.rows,
                *old_owner_role,
                settings.concurrency,
            )
            .await
            .map_err(coded)?;
            let kinds = kinds_of(types);
            let source = SourceKind::OffboardMap {
                file: map.file.clone(),
                sha256: Some(map.sha256.clone()),
                pairs: pairs.clone(),
                old_owner_role: *old_owner_role,
                types: kinds.clone(),
            };
            let batch = BatchSpec {
                pairs,
                old_owner_role: *old_owner_role,
                kinds,
                selection: Selection::default(),
            };
            (batch, source)
        }
    };
    let batch = BatchSpec {
        selection: narrowing.selection.clone(),
        ..batch
    };
    let endpoint = client.endpoint().as_str().trim_end_matches('/').to_string();
    let mut header = PlanHeader::new(&endpoint, caller.user.clone(), source);
    header.selection = narrowing.source.clone();
    let mut writer = PlanWriter::create(out, &header)?;
    let coverage = planner::plan_batch(client, caller, &batch, settings, &mut writer)
        .await
        .map_err(coded)?;
    let counters = client.counters();
    if let Some(pace) = &counters.pace {
        tracing::info!(
            requests = counters.requests,
            throttled = counters.throttled,
            "planned; {}",
            crate::exec::render_pace(pace)
        );
    }
    Ok((writer.finish()?, coverage))
}

fn coded(e: planner::Error) -> anyhow::Error {
    let code = e.exit_code();
    exit::with_code(code, e)
}

/// The caller as the planner needs it.
pub(crate) fn caller_of(account: &Account) -> Caller {
    Caller {
        user: UserIdent {
            id: account.id.clone(),
            username: account.username.clone(),
        },
        org_admin: account.org_admin,
    }
}

/// Whether progress bars may be drawn: stderr is a terminal and `-q` was not given.
pub(crate) fn progress_on(quiet: bool) -> bool {
    !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Runs `handover plan`.
pub async fn run(opts: PlanOpts, quiet: bool) -> anyhow::Result<i32> {
    // Read every input file before connecting: a bad file must fail without a single
    // request. The bytes are read once, so the digest in the header is of the rows that
    // were planned.
    let csv_input = match &opts.csv {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|source| {
                let e = crate::csvplan::Error::Read {
                    path: path.clone(),
                    source,
                };
                exit::with_code(e.exit_code(), e)
            })?;
            let changes =
                crate::csvplan::parse(&path.display().to_string(), &bytes).map_err(|e| {
                    let code = e.exit_code();
                    exit::with_code(code, e)
                })?;
            Some((path, changes, crate::plan::sha256_hex(&bytes)))
        }
        None => None,
    };
    let map = opts.map.as_deref().map(read_map).transpose()?;
    let narrowing = read_narrowing(opts.only_ids.as_deref(), opts.exclude.as_deref())?;
    let (client, account) = connect(&opts.conn, opts.pace.policy()).await?;
    let caller = caller_of(&account);
    let settings = PlannerSettings {
        concurrency: opts.pace.workers(),
        progress: progress_on(quiet),
    };

    let (written, coverage) = match (csv_input, &map) {
        (Some((path, changes, sha256)), _) => {
            let source = SourceKind::Csv {
                file: path.display().to_string(),
                sha256: Some(sha256),
            };
            let changes = narrowing.selection.narrow_csv(changes);
            let endpoint = client.endpoint().as_str().trim_end_matches('/');
            let mut header = PlanHeader::new(endpoint, caller.user.clone(), source);
            header.selection = narrowing.source.clone();
            let mut writer = PlanWriter::create(&opts.out, &header)?;
            planner::plan_csv(&client, &caller, changes, settings, &mut writer)
                .await
                .map_err(coded)?;
            (writer.finish()?, None)
        }
        (None, Some(map)) => {
            let handover = Handover::Map {
                map,
                old_owner_role: opts.old_owner_role,
                types: &opts.types,
            };
            let (written, coverage) =
                plan_handover(&client, &caller, &handover, &narrowing, settings, &opts.out).await?;
            (written, Some(coverage))
        }
        (None, None) => {
            let to_name = opts
                .to
                .as_deref()
                .expect("clap requires --to without --csv or --map");
            let who = OffboardWho {
                from: opts.from.as_deref(),
                to: to_name,
                old_owner_role: opts.old_owner_role,
                types: &opts.types,
            };
            let handover = Handover::One(&who);
            let (written, coverage) =
                plan_handover(&client, &caller, &handover, &narrowing, settings, &opts.out).await?;
            (written, Some(coverage))
        }
    };

    let report = format!(
        "{}{}plan: {} ({} entities; review copy {})\n",
        coverage.as_ref().map(Coverage::render).unwrap_or_default(),
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
