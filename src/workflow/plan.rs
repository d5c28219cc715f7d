//! Planning as the commands do it: the input files read and checked before anything is
//! sent (a map of departing users, id lists that narrow a plan), then one offboarding
//! planned in one pass and written to a plan file. `plan`, `offboard` and `demo` share it.

use std::path::Path;

use crate::api::{Account, Client, ErrorClass, ListFilter};
use crate::exit;
use crate::model::{EntityKind, Role};
use crate::plan::mapfile::{self, IdList, IdListKind, MapRow};
use crate::plan::notebook::NotebookNote;
use crate::plan::planner::{
    self, BatchSpec, Caller, Coverage, OffboardSpec, PlannerSettings, Selection,
};
use crate::plan::{
    HandoverPair, InputFile, OldOwnerRoleKind, PlanHeader, PlanWriter, SelectionSource, SourceKind,
    UserIdent, WrittenPlan, sha256_hex,
};

/// Who hands over to whom, as given on the command line (`plan` and `offboard`).
pub struct OffboardWho<'a> {
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub old_owner_role: OldOwnerRoleKind,
    pub types: &'a [EntityKind],
    /// `--keep-other-access`: the departing user keeps the roles they hold on entities
    /// they do not own.
    pub keep_other_access: bool,
}

/// A map file, read and checked.
pub struct MapInput {
    /// The path as given.
    pub file: String,
    /// `sha256:<hex>` of the bytes that were parsed.
    pub sha256: String,
    pub rows: Vec<MapRow>,
}

/// Reads and checks `--map FILE` (exit 2 on any problem).
pub fn read_map(path: &Path) -> anyhow::Result<MapInput> {
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
pub struct Narrowing {
    pub selection: Selection,
    pub source: Option<SelectionSource>,
}

/// Reads and checks the id lists (exit 2 on any problem).
pub fn read_narrowing(
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
pub enum Handover<'a> {
    One(&'a OffboardWho<'a>),
    Map {
        map: &'a MapInput,
        old_owner_role: OldOwnerRoleKind,
        types: &'a [EntityKind],
        /// `--keep-other-access`, for every departing user of the map.
        keep_other_access: bool,
    },
    /// `--orphans --to USER`: every deactivated user to `to`, orphans only.
    Orphans {
        to: &'a str,
        old_owner_role: OldOwnerRoleKind,
        types: &'a [EntityKind],
    },
}

/// Checks what `--orphans` can be checked without the server: the owners of an orphan are
/// deactivated, and a deactivated account cannot be given a changed role (contract R4), so
/// `--old-owner-role` may only be `none` or `owner` (exit 2).
pub fn check_orphans(old_owner_role: OldOwnerRoleKind) -> anyhow::Result<()> {
    if matches!(
        old_owner_role,
        OldOwnerRoleKind::Consumer | OldOwnerRoleKind::Editor
    ) {
        return Err(exit::with_code(
            exit::INVALID_INPUT,
            anyhow::anyhow!(
                "--old-owner-role {old_owner_role}: the owners of orphans are deactivated and \
                 cannot be given another role (use --old-owner-role none or owner)"
            ),
        ));
    }
    Ok(())
}

/// `--types` as the planner takes it: all 25 writable kinds when empty, else sorted
/// without repeats.
pub(crate) fn kinds_of(types: &[EntityKind]) -> Vec<EntityKind> {
    if types.is_empty() {
        EntityKind::WRITABLE.to_vec()
    } else {
        let mut kinds = types.to_vec();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

/// Looks the users up, plans the offboarding and writes the plan to `out`.
pub async fn plan_offboard(
    client: &Client,
    caller: &Caller,
    who: &OffboardWho<'_>,
    settings: PlannerSettings,
    out: &std::path::Path,
) -> anyhow::Result<(WrittenPlan, Coverage)> {
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
pub async fn plan_handover(
    client: &Client,
    caller: &Caller,
    handover: &Handover<'_>,
    narrowing: &Narrowing,
    settings: PlannerSettings,
    out: &std::path::Path,
) -> anyhow::Result<(WrittenPlan, Coverage)> {
    let (batch, source) = match handover {
        Handover::One(who) => {
            // Both users at once (one round trip); the recipient's answer is judged first.
            let to = planner::resolve_recipient(client, "--to", who.to);
            let from = async {
                match who.from {
                    Some(name) => planner::resolve_departing_user(
                        client,
                        caller,
                        "--from",
                        name,
                        who.old_owner_role,
                    )
                    .await
                    .map(|r| r.user),
                    None => Ok(caller.user.clone()),
                }
            };
            let (to, from) = tokio::join!(to, from);
            let to = to.map_err(coded)?.user;
            let from = from.map_err(coded)?;
            let spec = OffboardSpec {
                from: vec![from],
                to,
                old_owner_role: who.old_owner_role,
                kinds: kinds_of(who.types),
                keep_other_access: who.keep_other_access,
            };
            let source = SourceKind::Offboard {
                from: spec.from.clone(),
                to: spec.to.clone(),
                old_owner_role: spec.old_owner_role,
                types: spec.kinds.clone(),
                revoke_other_access: !spec.keep_other_access,
            };
            (BatchSpec::from(&spec), source)
        }
        Handover::Map {
            map,
            old_owner_role,
            types,
            keep_other_access,
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
                revoke_other_access: !keep_other_access,
            };
            let batch = BatchSpec {
                pairs,
                old_owner_role: *old_owner_role,
                kinds,
                keep_other_access: *keep_other_access,
                selection: Selection::default(),
                orphans: None,
            };
            (batch, source)
        }
        Handover::Orphans {
            to,
            old_owner_role,
            types,
        } => {
            check_orphans(*old_owner_role)?;
            let to = planner::resolve_recipient(client, "--to", to);
            let deactivated = planner::deactivated_users(client, "--orphans");
            let (to, deactivated) = tokio::join!(to, deactivated);
            let to = to.map_err(coded)?.user;
            let deactivated = deactivated.map_err(coded)?;
            if deactivated.is_empty() {
                tracing::warn!("users/ lists no deactivated account: there are no orphans");
            }
            let kinds = kinds_of(types);
            let pairs = deactivated
                .users()
                .iter()
                .map(|from| HandoverPair {
                    from: from.clone(),
                    to: to.clone(),
                })
                .collect();
            let source = SourceKind::Orphans {
                to,
                deactivated: deactivated.users().to_vec(),
                old_owner_role: *old_owner_role,
                types: kinds.clone(),
            };
            let batch = BatchSpec {
                pairs,
                old_owner_role: *old_owner_role,
                kinds,
                keep_other_access: true,
                selection: Selection::default(),
                orphans: Some(deactivated),
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
    // Notebooks move with their use case (contract §12.2): when use cases are planned for
    // departing users (not orphans), the ones they own are read beside the plan and
    // reported with it.
    let departing: Vec<UserIdent> = match handover {
        Handover::Orphans { .. } => Vec::new(),
        _ if !batch.kinds.contains(&EntityKind::UseCase) => Vec::new(),
        _ => batch.pairs.iter().map(|p| p.from.clone()).collect(),
    };
    let concurrency = settings.concurrency;
    let (coverage, notebooks) = tokio::join!(
        planner::plan_batch(client, caller, &batch, settings, &mut writer),
        owned_notebooks(client, &departing, concurrency)
    );
    let coverage = coverage.map_err(coded)?;
    writer.note_notebooks(notebooks?)?;
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

/// The notebooks `departing` own: `notebooks/` listed whole (its `owners` filter is a
/// hint, never proof), each access list read, and those naming one of them OWNER kept,
/// with their use case. A DataRobot without `notebooks/`, or an access list that cannot
/// be read, is said on stderr and leaves the plan as it is: notebooks are never written.
async fn owned_notebooks(
    client: &Client,
    departing: &[UserIdent],
    concurrency: usize,
) -> anyhow::Result<Vec<NotebookNote>> {
    use futures::stream::{self, StreamExt};
    if departing.is_empty() {
        return Ok(Vec::new());
    }
    let listing = match client
        .list(EntityKind::Notebook, &ListFilter::default())
        .await
    {
        Ok(listing) => listing,
        Err(e) if e.class() == ErrorClass::Gone => {
            tracing::warn!(
                "notebooks/ answered 404 (an older DataRobot?): the notebooks the departing \
                 users own are not reported"
            );
            return Ok(Vec::new());
        }
        Err(e) if e.class() == ErrorClass::NotAllowed || e.is_shape() => {
            tracing::warn!("notebooks could not be listed, so are not reported: {e}");
            return Ok(Vec::new());
        }
        Err(e) => return Err(exit::with_code(e.exit_code(), e)),
    };
    let reads: Vec<_> = stream::iter(listing.entities)
        .map(|nb| async move {
            let acl = client.access_list(EntityKind::Notebook, &nb.id).await;
            (nb, acl)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut notes = Vec::new();
    let mut unreadable = 0usize;
    for (nb, acl) in reads {
        let list = match acl {
            Ok(list) => list,
            Err(e) if e.class() == ErrorClass::Gone => continue,
            Err(e) if e.class() == ErrorClass::NotAllowed || e.is_shape() => {
                unreadable += 1;
                continue;
            }
            Err(e) => return Err(exit::with_code(e.exit_code(), e)),
        };
        let owners: Vec<String> = departing
            .iter()
            .filter(|u| {
                list.grants
                    .iter()
                    .any(|g| g.role == Role::Owner && u.matches(g))
            })
            .map(|u| u.username.clone())
            .collect();
        if !owners.is_empty() {
            notes.push(NotebookNote::owned(nb.id, nb.name, owners, nb.use_case_id));
        }
    }
    if unreadable > 0 {
        tracing::warn!(
            unreadable,
            "the access lists of {unreadable} notebooks could not be read: whether the \
             departing users own them is not known"
        );
    }
    Ok(notes)
}

fn coded(e: planner::Error) -> anyhow::Error {
    let code = e.exit_code();
    exit::with_code(code, e)
}

/// The caller as the planner needs it.
pub fn caller_of(account: &Account) -> Caller {
    Caller {
        user: UserIdent {
            id: account.id.clone(),
            username: account.username.clone(),
        },
        org_admin: account.org_admin,
    }
}

/// A hand-written CSV plan, read and checked.
pub struct CsvInput {
    /// The path as given.
    pub file: String,
    /// `sha256:<hex>` of the bytes that were parsed.
    pub sha256: String,
    pub changes: Vec<crate::plan::csvplan::CsvChange>,
}

/// Reads and checks `--csv FILE`: every bad row at once, with its line (exit 2).
pub fn read_csv(path: &Path) -> anyhow::Result<CsvInput> {
    use crate::plan::csvplan;
    let bytes = std::fs::read(path).map_err(|source| {
        let e = csvplan::Error::Read {
            path: path.to_path_buf(),
            source,
        };
        exit::with_code(e.exit_code(), e)
    })?;
    let file = path.display().to_string();
    let changes = csvplan::parse(&file, &bytes).map_err(|e| {
        let code = e.exit_code();
        exit::with_code(code, e)
    })?;
    Ok(CsvInput {
        file,
        sha256: sha256_hex(&bytes),
        changes,
    })
}

/// Plans a CSV's changes, narrowed by `narrowing`, and writes the plan to `out`.
pub async fn plan_csv(
    client: &Client,
    caller: &Caller,
    csv: CsvInput,
    narrowing: &Narrowing,
    settings: PlannerSettings,
    out: &Path,
) -> anyhow::Result<WrittenPlan> {
    let source = SourceKind::Csv {
        file: csv.file,
        sha256: Some(csv.sha256),
    };
    let changes = narrowing.selection.narrow_csv(csv.changes);
    let endpoint = client.endpoint().as_str().trim_end_matches('/');
    let mut header = PlanHeader::new(endpoint, caller.user.clone(), source);
    header.selection = narrowing.source.clone();
    let mut writer = PlanWriter::create(out, &header)?;
    planner::plan_csv(client, caller, changes, settings, &mut writer)
        .await
        .map_err(coded)?;
    Ok(writer.finish()?)
}
