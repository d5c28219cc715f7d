//! `handover plan`: decide what will change, before anything changes, and write it down for
//! review. Glue only: flags → [`OffboardSpec`] or CSV changes → [`planner`] → plan file.

use std::io::Write;
use std::path::PathBuf;

use crate::api::{Account, Client, ClientPolicy};
use crate::cli::conn::ConnOpts;
use crate::exit;
use crate::model::EntityKind;
use crate::plan::{OldOwnerRoleKind, PlanHeader, PlanWriter, SourceKind, UserIdent, render_table};
use crate::planner::{self, Caller, OffboardSpec, PlannerSettings};

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
    #[arg(long, value_name = "USER", required_unless_present = "csv")]
    pub to: Option<String>,
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
    /// Requests per second, every request counted.
    #[arg(long, default_value_t = 10.0, value_parser = super::conn::parse_rate)]
    pub rate: f64,
    /// Access-list reads in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
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

/// Looks the users up, plans the offboarding and writes the plan to `out`.
pub(crate) async fn plan_offboard(
    client: &Client,
    caller: &Caller,
    who: &OffboardWho<'_>,
    settings: PlannerSettings,
    out: &std::path::Path,
) -> anyhow::Result<crate::plan::WrittenPlan> {
    let to = planner::resolve_user(client, "--to", who.to)
        .await
        .map_err(coded)?;
    let from = match who.from {
        Some(name) => planner::resolve_departing(client, "--from", name, who.old_owner_role)
            .await
            .map_err(coded)?,
        None => caller.user.clone(),
    };
    let kinds = if who.types.is_empty() {
        EntityKind::ALL.to_vec()
    } else {
        let mut kinds = who.types.to_vec();
        kinds.sort();
        kinds.dedup();
        kinds
    };
    let spec = OffboardSpec {
        from: vec![from],
        to,
        old_owner_role: who.old_owner_role,
        kinds,
    };
    let source = SourceKind::Offboard {
        from: spec.from.clone(),
        to: spec.to.clone(),
        old_owner_role: spec.old_owner_role,
        types: spec.kinds.clone(),
    };
    let endpoint = client.endpoint().as_str().trim_end_matches('/').to_string();
    let header = PlanHeader::new(&endpoint, caller.user.clone(), source);
    let mut writer = PlanWriter::create(out, &header)?;
    planner::plan_offboard(client, caller, &spec, settings, &mut writer)
        .await
        .map_err(coded)?;
    Ok(writer.finish()?)
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
    // Read a CSV before connecting: a bad file must fail without a single request. The
    // bytes are read once, so the digest in the header is of the rows that were planned.
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
    let policy = ClientPolicy {
        rate_per_sec: opts.rate,
        ..ClientPolicy::default()
    };
    let (client, account) = connect(&opts.conn, policy).await?;
    let caller = caller_of(&account);
    let settings = PlannerSettings {
        concurrency: usize::from(opts.concurrency),
        progress: progress_on(quiet),
    };

    let written = match csv_input {
        Some((path, changes, sha256)) => {
            let source = SourceKind::Csv {
                file: path.display().to_string(),
                sha256: Some(sha256),
            };
            let endpoint = client.endpoint().as_str().trim_end_matches('/');
            let header = PlanHeader::new(endpoint, caller.user.clone(), source);
            let mut writer = PlanWriter::create(&opts.out, &header)?;
            planner::plan_csv(&client, &caller, changes, settings, &mut writer)
                .await
                .map_err(coded)?;
            writer.finish()?
        }
        None => {
            let to_name = opts
                .to
                .as_deref()
                .expect("clap requires --to without --csv");
            let who = OffboardWho {
                from: opts.from.as_deref(),
                to: to_name,
                old_owner_role: opts.old_owner_role,
                types: &opts.types,
            };
            plan_offboard(&client, &caller, &who, settings, &opts.out).await?
        }
    };

    let report = format!(
        "{}plan: {} ({} entities; review copy {})\n",
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
