//! The impure half of the planner: asks the server what exists and who holds what, then
//! hands each entity to the pure [`plan`](crate::plan) functions and streams the entries
//! into a [`PlanWriter`].
//!
//! Two sources of intent:
//!
//! - **offboarding** ([`plan_batch`], and [`plan_offboard`] for one departing user): every
//!   entity of the chosen kinds that a departing user owns goes to that user's successor.
//!   However many departing users there are, each kind is listed once, concurrently, with
//!   the server-side owner filters where they exist and there is one departing user, and
//!   each candidate's access list is read once to confirm ownership (a catalog owner
//!   filter is a hint, the access list is the truth). An entity co-owned by several
//!   departing users gets every pair's transfer in its one request ([`batch_target`]);
//! - **a hand-written CSV** ([`plan_csv`]): the rows of [`csvplan`](crate::plan::csvplan), one
//!   change per entity, checked against the live entity, its access list and the users.
//!
//! Either can be narrowed to, or away from, lists of entity ids ([`Selection`]); narrowing
//! happens after listing and before any access list is read.
//!
//! Users named on the command line are looked up first: the recipient with
//! [`resolve_user`] (must exist and be active), the departing user with
//! [`resolve_departing`] (may be deactivated already), the users of a map with
//! [`resolve_map`]. Looking users up needs `users/`, which only organization
//! administrators may read; for anyone else [`resolve_recipient`] and
//! [`resolve_departing_user`] fall back to naming the user by username only, unchecked,
//! with a warning: the server refuses an unknown or inactive recipient when the share is
//! sent (contract R3, R4), and the executor records that entity as refused. A change the
//! caller may not make (contract R5–R7) is planned as refused, not left for the server to
//! refuse.
//!
//! Every request goes through the one [`Client`], so through its rate limiter; this module
//! only bounds how many access-list reads are in flight.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::stream::{self, StreamExt, TryStreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use crate::api::{
    ApiError, Client, EntityRef, ErrorClass, ListFilter, Listing, User, wire_request,
};
use crate::model::{AccessList, AdminVisibilityKind, EntityKind, Grant, Role, UnreadableEntry};
use crate::plan::csvplan::{CsvChange, Problem};
use crate::plan::mapfile::{IdList, MapRow};
use crate::plan::orphan::{Deactivated, Ownership, ownership};
use crate::plan::{
    HandoverPair, LeaverTarget, OldOwnerRoleKind, PlanEntry, PlanWriter, RefusalKind, ShareRequest,
    UserIdent, leaver_target, same_principal,
};

/// What went wrong while planning. Per-entity problems never end up here: they become
/// refused entries. These stop the plan as a whole.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request failed in a way that is not about one entity (auth, transport, server).
    #[error("planning stopped")]
    Api(#[from] ApiError),
    /// A user named on the command line does not exist.
    #[error("{flag} {name}: no such user")]
    UnknownUser { flag: &'static str, name: String },
    /// Users could not be looked up: `users/` is for organization administrators.
    #[error("{flag} {name}: cannot look the user up (only organization administrators may)")]
    LookupRefused {
        flag: &'static str,
        name: String,
        #[source]
        source: ApiError,
    },
    /// A user named on the command line is deactivated and cannot receive shares.
    #[error("{flag} {name}: the user is not active")]
    InactiveUser { flag: &'static str, name: String },
    /// The departing user is deactivated, so cannot be demoted to a role they keep.
    #[error(
        "{flag} {name}: the user is not active and cannot keep the role {role} \
         (use --old-owner-role none or owner)"
    )]
    InactiveKeepsRole {
        flag: &'static str,
        name: String,
        role: OldOwnerRoleKind,
    },
    /// `users/` could not be listed, so who is deactivated cannot be told.
    #[error(
        "{flag}: cannot list the organization's users (only organization administrators may), \
         so whether an owner is deactivated cannot be told"
    )]
    UsersUnlisted {
        flag: &'static str,
        #[source]
        source: ApiError,
    },
    /// `users/` says nothing of whether any account is active.
    #[error(
        "{flag}: the server's users/ says of no account whether it is active, so no orphan \
         can be told"
    )]
    ActiveUnknown { flag: &'static str },
    /// Users of a map file do not exist, are inactive, or cannot keep the role asked
    /// for; every one is listed with its line.
    #[error(transparent)]
    Map(#[from] crate::plan::mapfile::Error),
    /// Writing the plan file failed.
    #[error(transparent)]
    Plan(#[from] crate::plan::Error),
}

impl Error {
    /// The process exit code this error deserves.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Api(e)
            | Error::LookupRefused { source: e, .. }
            | Error::UsersUnlisted { source: e, .. } => e.exit_code(),
            Error::ActiveUnknown { .. } => crate::exit::FATAL,
            Error::UnknownUser { .. }
            | Error::InactiveUser { .. }
            | Error::InactiveKeepsRole { .. } => crate::exit::INVALID_INPUT,
            Error::Map(e) => e.exit_code(),
            Error::Plan(e) => e.exit_code(),
        }
    }
}

/// How the planner talks to the terminal.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlannerSettings {
    /// Access-list reads in flight at once.
    pub concurrency: usize,
    /// Draw a progress bar per kind (on a terminal only).
    pub progress: bool,
}

/// The caller, as the planner needs it: who they are and whether they administer the org.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: UserIdent,
    /// Org admins may share everything; other callers are checked against their own entry.
    pub org_admin: bool,
}

/// Resolves a username given on the command line to an active user: a recipient
/// (`--to`), who must be able to receive shares (contract R4).
pub async fn resolve_user(
    client: &Client,
    flag: &'static str,
    name: &str,
) -> Result<UserIdent, Error> {
    let user = lookup(client, flag, name).await?;
    if user.active == Some(false) {
        return Err(Error::InactiveUser {
            flag,
            name: name.to_string(),
        });
    }
    Ok(ident(&user))
}

/// Resolves the departing user (`--from`), active or not: offboarding usually comes after
/// the account was deactivated. Their entities are found as an active user's are (the
/// owner filters and access lists name them all the same). Whether a share may revoke an
/// inactive user is not documented (contract §11): where the server refuses, the executor
/// hands over without the revoke and records the entity `partial`. Only keeping a role
/// needs an active account (a role given to an inactive user is refused, R4), so with
/// `old_owner_role` CONSUMER or EDITOR an inactive user is refused here rather than on
/// every entity at apply time.
pub async fn resolve_departing(
    client: &Client,
    flag: &'static str,
    name: &str,
    old_owner_role: OldOwnerRoleKind,
) -> Result<UserIdent, Error> {
    let user = lookup(client, flag, name).await?;
    let keeps_changed_role = matches!(
        old_owner_role,
        OldOwnerRoleKind::Consumer | OldOwnerRoleKind::Editor
    );
    if user.active == Some(false) && keeps_changed_role {
        return Err(Error::InactiveKeepsRole {
            flag,
            name: name.to_string(),
            role: old_owner_role,
        });
    }
    Ok(ident(&user))
}

/// The organization's deactivated users, for `flag` (`--orphans`): `users/` read whole.
/// Fails when the caller may not list users, or when the server says of nobody whether
/// they are active (then no orphan could ever be found, and an empty plan would lie).
pub async fn deactivated_users(client: &Client, flag: &'static str) -> Result<Deactivated, Error> {
    let users = client
        .list_users()
        .await
        .map_err(|source| match source.class() {
            ErrorClass::NotAllowed => Error::UsersUnlisted { flag, source },
            _ => Error::Api(source),
        })?;
    if !users.is_empty() && users.iter().all(|u| u.active.is_none()) {
        return Err(Error::ActiveUnknown { flag });
    }
    Ok(Deactivated::from_users(&users))
}

async fn lookup(client: &Client, flag: &'static str, name: &str) -> Result<User, Error> {
    client
        .find_user(name)
        .await
        .map_err(|source| match source.class() {
            ErrorClass::NotAllowed => Error::LookupRefused {
                flag,
                name: name.to_string(),
                source,
            },
            _ => Error::Api(source),
        })?
        .ok_or_else(|| Error::UnknownUser {
            flag,
            name: name.to_string(),
        })
}

fn ident(user: &User) -> UserIdent {
    UserIdent {
        id: user.id.clone(),
        username: user.username.clone(),
    }
}

/// A user as far as the caller could check them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The user; with an empty id when unchecked.
    pub user: UserIdent,
    /// `false` when `users/` refused the caller (not an organization administrator): the
    /// user is named by username only, and the server checks them when the share is sent.
    pub checked: bool,
}

impl Resolved {
    fn unchecked(name: &str) -> Resolved {
        Resolved {
            user: UserIdent::unchecked(name),
            checked: false,
        }
    }
}

/// Says once, at warn, which users could not be checked in advance and what follows.
pub fn warn_unchecked<'a>(names: impl IntoIterator<Item = &'a str>) {
    let names: Vec<&str> = names.into_iter().collect();
    if names.is_empty() {
        return;
    }
    tracing::warn!(
        users = %names.join(", "),
        "cannot look users up (only organization administrators may): they are named by \
         username only and were not checked in advance; the server refuses an unknown or \
         inactive user when the plan is applied, and those entities are recorded as refused"
    );
}

/// [`resolve_user`] for callers who may not be able to look users up: when `users/`
/// answers 403, the recipient is named by username only (see [`Resolved::checked`]) and a
/// warning says so. Every other failure is [`resolve_user`]'s.
pub async fn resolve_recipient(
    client: &Client,
    flag: &'static str,
    name: &str,
) -> Result<Resolved, Error> {
    match resolve_user(client, flag, name).await {
        Ok(user) => Ok(Resolved {
            user,
            checked: true,
        }),
        Err(Error::LookupRefused { .. }) => {
            warn_unchecked([name]);
            Ok(Resolved::unchecked(name))
        }
        Err(e) => Err(e),
    }
}

/// [`resolve_departing`], with the same fallback as [`resolve_recipient`]. The caller
/// needs no lookup: `caller` is returned as is when `name` is the caller's username, which
/// is how a non-administrator hands over their own entities.
pub async fn resolve_departing_user(
    client: &Client,
    caller: &Caller,
    flag: &'static str,
    name: &str,
    old_owner_role: OldOwnerRoleKind,
) -> Result<Resolved, Error> {
    if name.eq_ignore_ascii_case(&caller.user.username) {
        return Ok(Resolved {
            user: caller.user.clone(),
            checked: true,
        });
    }
    match resolve_departing(client, flag, name, old_owner_role).await {
        Ok(user) => Ok(Resolved {
            user,
            checked: true,
        }),
        Err(Error::LookupRefused { .. }) => {
            warn_unchecked([name]);
            Ok(Resolved::unchecked(name))
        }
        Err(e) => Err(e),
    }
}

/// What a `users/` lookup said about one username.
#[derive(Clone, Debug)]
enum Looked {
    Found(User),
    Missing,
    /// `users/` refused the caller; nobody can be checked.
    Refused,
}

/// Looks every name up once, as first spelled (a server may match `username=` exactly);
/// the answers are keyed by the lowercased name. The first lookup goes alone: when the
/// caller may not look users up, that one 403 says so for all, and no more are sent.
async fn look_up_all(
    client: &Client,
    names: Vec<String>,
    concurrency: usize,
) -> Result<HashMap<String, Looked>, Error> {
    let mut seen = HashSet::new();
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| seen.insert(n.to_lowercase()))
        .collect();
    let mut looked = HashMap::with_capacity(names.len());
    let Some((first, rest)) = names.split_first() else {
        return Ok(looked);
    };
    let one = |name: String| async move {
        let key = name.to_lowercase();
        match client.find_user(&name).await {
            Ok(Some(user)) => Ok((key, Looked::Found(user))),
            Ok(None) => Ok((key, Looked::Missing)),
            Err(e) if e.class() == ErrorClass::NotAllowed => Ok((key, Looked::Refused)),
            Err(e) => Err(Error::Api(e)),
        }
    };
    let (name, first_look) = one(first.clone()).await?;
    if matches!(first_look, Looked::Refused) {
        return Ok(names
            .into_iter()
            .map(|n| (n.to_lowercase(), Looked::Refused))
            .collect());
    }
    looked.insert(name, first_look);
    let more: Vec<(String, Looked)> = stream::iter(rest.iter().cloned())
        .map(one)
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    looked.extend(more);
    Ok(looked)
}

/// Resolves every user of a map (checked by [`mapfile::parse_map`](crate::plan::mapfile::parse_map)):
/// departing users as [`resolve_departing`] does, successors as [`resolve_user`] does, each
/// name looked up once. Every user that does not exist, is inactive, or cannot keep
/// `old_owner_role` is reported with the line of its row, all at once, as a
/// [`mapfile::Error`](crate::plan::mapfile::Error) on `file`. When the caller may not look users
/// up, the users are named by username only ([`warn_unchecked`]); the second value lists
/// them.
pub async fn resolve_map(
    client: &Client,
    caller: &Caller,
    file: &str,
    rows: &[MapRow],
    old_owner_role: OldOwnerRoleKind,
    concurrency: usize,
) -> Result<(Vec<HandoverPair>, Vec<String>), Error> {
    let is_caller = |name: &str| name.eq_ignore_ascii_case(&caller.user.username);
    let names: Vec<String> = rows
        .iter()
        .flat_map(|r| [&r.from, &r.to])
        .filter(|n| !is_caller(n))
        .cloned()
        .collect();
    let looked = look_up_all(client, names, concurrency).await?;
    let keeps_changed_role = matches!(
        old_owner_role,
        OldOwnerRoleKind::Consumer | OldOwnerRoleKind::Editor
    );

    let mut problems = Vec::new();
    let mut unchecked: Vec<String> = Vec::new();
    let mut pairs = Vec::with_capacity(rows.len());
    for row in rows {
        let mut resolve = |column: &str, name: &str, departing: bool| -> Option<UserIdent> {
            if is_caller(name) {
                return Some(caller.user.clone());
            }
            let mut report = |message: String| {
                problems.push(Problem {
                    line: Some(row.line),
                    message: format!("field {column}: {message}"),
                });
            };
            match looked.get(&name.to_lowercase()) {
                Some(Looked::Found(user)) if user.active == Some(false) && !departing => {
                    report(format!("{name:?} is not active"));
                    None
                }
                Some(Looked::Found(user))
                    if user.active == Some(false) && departing && keeps_changed_role =>
                {
                    report(format!(
                        "{name:?} is not active and cannot keep the role {old_owner_role} \
                         (use --old-owner-role none or owner)"
                    ));
                    None
                }
                Some(Looked::Found(user)) => Some(ident(user)),
                Some(Looked::Missing) | None => {
                    report(format!("no such user {name:?}"));
                    None
                }
                Some(Looked::Refused) => {
                    if !unchecked.iter().any(|u| u.eq_ignore_ascii_case(name)) {
                        unchecked.push(name.to_string());
                    }
                    Some(UserIdent::unchecked(name))
                }
            }
        };
        let from = resolve("from", &row.from, true);
        let to = resolve("to", &row.to, false);
        if let (Some(from), Some(to)) = (from, to) {
            pairs.push(HandoverPair { from, to });
        }
    }
    if !problems.is_empty() {
        return Err(Error::Map(crate::plan::mapfile::Error::Invalid {
            file: file.to_string(),
            problems,
        }));
    }
    warn_unchecked(unchecked.iter().map(String::as_str));
    Ok((pairs, unchecked))
}

/// Which entities a plan may hold, from `--only-ids` and `--exclude`. The default admits
/// everything. An entity in both lists is excluded.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only these, when set.
    pub only: Option<IdList>,
    /// Never these, when set.
    pub exclude: Option<IdList>,
}

impl Selection {
    /// Whether the entity `id` of `kind` may be planned.
    pub fn admits(&self, kind: EntityKind, id: &str) -> bool {
        self.only.as_ref().is_none_or(|l| l.contains(kind, id))
            && !self.exclude.as_ref().is_some_and(|l| l.contains(kind, id))
    }

    /// Keeps the CSV changes whose entity is admitted, and warns about `--only-ids` lines
    /// that name none of them.
    pub fn narrow_csv(&self, mut changes: Vec<CsvChange>) -> Vec<CsvChange> {
        changes.retain(|c| self.admits(c.kind, &c.id));
        let kept: HashSet<(EntityKind, String)> = changes
            .iter()
            .map(|c| (c.kind, c.id.to_lowercase()))
            .collect();
        self.warn_missing(&kept, "not in the CSV plan");
        changes
    }

    /// Warns about `--only-ids` lines that name no entity in `planned` (kind and lowercased
    /// id): a typo, or an entity the plan could not include, should not go unnoticed.
    fn warn_missing(&self, planned: &HashSet<(EntityKind, String)>, why: &str) {
        let Some(only) = &self.only else { return };
        let missing: Vec<&str> = only
            .entries()
            .iter()
            .filter(|e| {
                let id = e.id.to_lowercase();
                match e.kind {
                    Some(kind) => !planned.contains(&(kind, id)),
                    None => !EntityKind::ALL
                        .iter()
                        .any(|k| planned.contains(&(*k, id.clone()))),
                }
            })
            .map(|e| e.id.as_str())
            .collect();
        if missing.is_empty() {
            return;
        }
        const SHOWN: usize = 10;
        let mut ids = missing[..missing.len().min(SHOWN)].join(", ");
        if missing.len() > SHOWN {
            ids.push_str(&format!(" and {} more", missing.len() - SHOWN));
        }
        tracing::warn!(count = missing.len(), ids = %ids, "--only-ids names entities that are {why}");
    }
}

/// Whether `caller` may send `request` on an entity whose access list is `current`,
/// judged from the caller's own entry (contract R5–R7): an org admin may do anything; a
/// project CONSUMER may not share; a holder with `can_share` false may only remove
/// themselves; nobody may grant a role above their own or change the access of someone
/// above them. A caller who is not in the list sees the entity some other way (as an
/// administrator, or through a group) and is left to the server to judge.
fn caller_may_send(
    kind: EntityKind,
    current: &[Grant],
    request: &ShareRequest,
    caller: &Caller,
) -> bool {
    if caller.org_admin {
        return true;
    }
    let Some(own) = current.iter().find(|g| caller.user.matches(g)) else {
        return true;
    };
    request.changes.iter().all(|change| {
        let principal = Grant {
            recipient_type: change.recipient_type.clone(),
            id: change.id.clone(),
            name: change.name.clone(),
            role: Role::Consumer,
            can_share: None,
        };
        if change.role.is_none() && caller.user.matches(&principal) {
            return true;
        }
        let before = current.iter().find(|g| same_principal(g, &principal));
        !(kind == EntityKind::Project && own.role == Role::Consumer)
            && own.can_share != Some(false)
            && change.role.is_none_or(|r| r <= own.role)
            && before.is_none_or(|g| g.role <= own.role)
    })
}

/// `entry`, or, when it is a change the caller may not send, the same entry refused.
fn checked(entry: PlanEntry, caller: &Caller) -> PlanEntry {
    let allowed = entry
        .request
        .as_ref()
        .is_none_or(|req| caller_may_send(entry.kind, &entry.current, req, caller));
    if allowed {
        return entry;
    }
    PlanEntry {
        revoke_only: entry.revoke_only,
        ..PlanEntry::refused(
            entry.kind,
            entry.id,
            entry.name,
            entry.current,
            entry.target,
            &RefusalKind::CallerCannotShare,
        )
    }
}

/// `entry`, or, when its request cannot be sent as the kind's write needs it, the same
/// entry refused with the reason: on a replace-semantics kind the write re-sends the whole
/// list (`api::wire_request`), which an entry handover could not read (`unreadable`), or
/// more entries than one write takes, make impossible.
fn sendable(entry: PlanEntry, unreadable: Vec<UnreadableEntry>) -> PlanEntry {
    let Some(request) = &entry.request else {
        return entry;
    };
    let list = AccessList {
        grants: entry.current.clone(),
        unreadable,
        ..AccessList::default()
    };
    match wire_request(entry.kind, request, &list) {
        Ok(_) => entry,
        Err(e) => PlanEntry {
            revoke_only: entry.revoke_only,
            ..PlanEntry::refused(
                entry.kind,
                entry.id,
                entry.name,
                entry.current,
                entry.target,
                &RefusalKind::Other(format!("not sendable: {e}")),
            )
        },
    }
}

/// One progress bar per kind on a terminal, nothing otherwise.
pub(crate) struct Bars {
    multi: MultiProgress,
    bars: HashMap<EntityKind, ProgressBar>,
}

impl Bars {
    pub(crate) fn new(enabled: bool) -> Bars {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Bars {
            multi: MultiProgress::with_draw_target(target),
            bars: HashMap::new(),
        }
    }

    pub(crate) fn add(&mut self, kind: EntityKind, len: u64) {
        let style = ProgressStyle::with_template("{prefix:>22} {bar:30} {pos}/{len} {msg}")
            .expect("the template is valid");
        let bar = self.multi.add(ProgressBar::new(len).with_style(style));
        bar.set_prefix(kind.plural_label());
        self.bars.insert(kind, bar);
    }

    /// One more entity of `kind` to read.
    pub(crate) fn grow(&self, kind: EntityKind) {
        if let Some(bar) = self.bars.get(&kind) {
            bar.inc_length(1);
        }
    }

    pub(crate) fn inc(&self, kind: EntityKind) {
        if let Some(bar) = self.bars.get(&kind) {
            bar.inc(1);
        }
    }

    pub(crate) fn finish(&self) {
        for bar in self.bars.values() {
            bar.finish();
        }
    }
}

/// What to offboard: from whom, to whom, which kinds, and what the old owner keeps. One
/// successor for every departing user; [`BatchSpec`] is the general form.
#[derive(Clone, Debug)]
pub struct OffboardSpec {
    /// The departing users (already resolved).
    pub from: Vec<UserIdent>,
    /// The successor (already resolved, active).
    pub to: UserIdent,
    pub old_owner_role: OldOwnerRoleKind,
    pub kinds: Vec<EntityKind>,
    /// Keep the roles the departing users hold on entities they do not own
    /// (`--keep-other-access`); by default they are removed.
    pub keep_other_access: bool,
}

/// Several departing users, each with their own successor, planned in one pass.
#[derive(Clone, Debug)]
pub struct BatchSpec {
    /// Who hands over to whom, already resolved. No `from` twice, no `to` that is also a
    /// `from` ([`mapfile`](crate::plan::mapfile) checks this for map files).
    pub pairs: Vec<HandoverPair>,
    pub old_owner_role: OldOwnerRoleKind,
    pub kinds: Vec<EntityKind>,
    /// Keep the roles a departing user holds on entities no departing user owns, and on
    /// those a departing user does own (`--keep-other-access`). By default every such role
    /// is removed: entities no departing user owns get a revoke-only entry
    /// ([`PlanEntry::revoke_only`]). Orphans keep them either way (see
    /// [`BatchSpec::orphans`]).
    pub keep_other_access: bool,
    /// Which entities may be planned.
    pub selection: Selection,
    /// Orphans only (`plan --orphans`): the pairs hand every deactivated user over, and
    /// an entity is planned only when every owner is one of these (see
    /// [`orphan`](crate::plan::orphan)). What the deactivated users hold without owning is
    /// left alone: `--orphans` rescues entities without an active owner, it does not
    /// offboard every former employee.
    pub orphans: Option<Deactivated>,
}

impl From<&OffboardSpec> for BatchSpec {
    fn from(spec: &OffboardSpec) -> BatchSpec {
        BatchSpec {
            pairs: spec
                .from
                .iter()
                .map(|from| HandoverPair {
                    from: from.clone(),
                    to: spec.to.clone(),
                })
                .collect(),
            old_owner_role: spec.old_owner_role,
            kinds: spec.kinds.clone(),
            keep_other_access: spec.keep_other_access,
            selection: Selection::default(),
            orphans: None,
        }
    }
}

/// What an offboarding plan searched, per kind: the coverage a reviewer needs to trust
/// that nothing was missed, or to see what could not be seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Per kind searched, in [`EntityKind::ALL`] order.
    pub kinds: BTreeMap<EntityKind, KindCoverage>,
    /// Whether the caller administers the organization. Anyone else sees only what is
    /// shared with them (contract C13), so only that was searched.
    pub org_admin: bool,
    /// Whether orphans were searched for (`plan --orphans`) rather than what departing
    /// users own.
    pub orphans: bool,
    /// Kinds whose list the server does not serve (404, 405) or answered in a shape
    /// handover does not read, with the server's words: not searched.
    pub unlisted: BTreeMap<EntityKind, String>,
}

/// One kind's line of [`Coverage`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindCoverage {
    /// Entities listed (every one the caller can see: no owner filter is trusted).
    pub listed: usize,
    /// Of those, entities a departing user owns, or orphans (planned as a change or a
    /// no-op).
    pub owned: usize,
    /// Entities no departing user owns but one holds a role on: planned as revoke-only
    /// entries (none with `--keep-other-access`, nor for orphans).
    pub access: usize,
    /// Entities whose ownership could not be told (an access list that could not be read,
    /// or an entry in it that could not): in the plan as refused, with the reason.
    pub unknown: usize,
    /// List items without an id, which could not be looked at at all.
    pub unreadable_items: usize,
}

impl Coverage {
    /// The table `plan` and `offboard` print: one line per kind, then what the caller
    /// could not see.
    pub fn render(&self) -> String {
        let mut out = String::from("searched:\n");
        let what = if self.orphans {
            "orphaned (every owner deactivated)"
        } else {
            "owned by the departing user"
        };
        // As wide as the longest label shown, at least 24.
        let w = self
            .kinds
            .keys()
            .map(|k| k.plural_label().len())
            .fold(24, usize::max);
        for (kind, c) in &self.kinds {
            out.push_str(&format!(
                "  {:<w$} {:>7} listed {:>7} {what}",
                kind.plural_label(),
                c.listed,
                c.owned
            ));
            if c.access > 0 {
                out.push_str(&format!(
                    ", {} with their access only (to revoke)",
                    c.access
                ));
            }
            if c.unknown > 0 {
                out.push_str(&format!(", {} unreadable (refused in the plan)", c.unknown));
            }
            if c.unreadable_items > 0 {
                out.push_str(&format!(
                    ", {} list items without an id",
                    c.unreadable_items
                ));
            }
            if let Some(words) = self.unlisted.get(kind) {
                out.push_str(&format!(", not searched: the list answered {words}"));
            } else if kind.admin_visibility() == AdminVisibilityKind::Unknown {
                out.push_str(", the list may show only what the caller created or was given");
            }
            out.push('\n');
        }
        if !self.org_admin {
            out.push_str(
                "note: the caller is not an organization administrator: only entities shared \
                 with the caller were searched; entities the departing user shares with nobody \
                 else are not in this plan. Run as an organization administrator to search them all.\n",
            );
        }
        out
    }
}

/// Plans an offboarding to one successor: [`plan_batch`] with every departing user paired
/// with `spec.to`.
pub async fn plan_offboard(
    client: &Client,
    caller: &Caller,
    spec: &OffboardSpec,
    settings: PlannerSettings,
    writer: &mut PlanWriter,
) -> Result<Coverage, Error> {
    plan_batch(client, caller, &BatchSpec::from(spec), settings, writer).await
}

/// Plans an offboarding of every pair in `spec`: lists every kind in `spec.kinds` once,
/// concurrently, keeps the entities `spec.selection` admits, reads the access list of
/// each, and writes one entry per entity a departing user owns, with the transfer of every
/// departing owner in it ([`batch_target`]). Entities no departing user owns are not in
/// the plan. Returns what it searched.
pub async fn plan_batch(
    client: &Client,
    caller: &Caller,
    spec: &BatchSpec,
    settings: PlannerSettings,
    writer: &mut PlanWriter,
) -> Result<Coverage, Error> {
    // Every list is read whole, never narrowed by an owner filter: `catalogItems/`'s
    // `ownerUserId` and use cases' `owners` may name only the creator (contract C20), and
    // what a departing user can access without owning is in no filter at all. Ownership
    // and access are read from each entity's access list.
    let filter = ListFilter::default();
    // Orphans rescue ownerless entities; they do not offboard every former employee.
    let keep_other_access = spec.keep_other_access || spec.orphans.is_some();
    // Everyone a plan entry may touch: an unreadable entry that may be one of them makes
    // the entity's ownership, or its target, unknowable.
    let touched: Vec<Grant> = spec
        .pairs
        .iter()
        .flat_map(|p| [&p.from, &p.to])
        .map(|u| u.grant(Role::Consumer, None))
        .collect();

    // Every kind is listed at once, and each entity's access list is read as soon as its
    // page arrives: the reads of the first page overlap the fetching of the next.
    let (found, arriving) = mpsc::unbounded_channel::<EntityRef>();
    // Read-only kinds are never planned (contract §12.2), whatever the caller asked.
    let kinds: Vec<EntityKind> = spec
        .kinds
        .iter()
        .copied()
        .filter(|k| k.is_writable())
        .collect();
    let listing = async move {
        type Listed = (EntityKind, Result<Listing, String>);
        let lists: Result<Vec<Listed>, ApiError> = stream::iter(kinds.clone())
            .map(|kind| {
                let filter = filter.clone();
                let found = found.clone();
                async move {
                    let each = move |e: &EntityRef| {
                        let _ = found.send(e.clone());
                    };
                    match client.list_each(kind, &filter, each).await {
                        Ok(listing) => Ok((kind, Ok(listing))),
                        // A list the server does not serve (an older DataRobot) or answers
                        // in a shape handover does not read: that type's note, the run
                        // goes on (contract §12).
                        Err(e) if e.is_unserved() => Ok((kind, Err(e.to_string()))),
                        Err(e) => Err(e),
                    }
                }
            })
            .buffer_unordered(kinds.len().max(1))
            .try_collect()
            .await;
        // The last sender goes: the reads below end once the lists have.
        drop(found);
        lists
    };

    let mut bars = Bars::new(settings.progress);
    for kind in spec.kinds.iter().filter(|k| k.is_writable()) {
        bars.add(*kind, 0);
    }
    let bars = bars;
    let admitted = stream::unfold(arriving, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    })
    .filter(|e| std::future::ready(spec.selection.admits(e.kind, &e.id)))
    .inspect(|e| bars.grow(e.kind));
    let mut reads = std::pin::pin!(
        admitted
            .map(|entity| async move {
                let acl = client.access_list(entity.kind, &entity.id).await;
                (entity, acl)
            })
            .buffer_unordered(settings.concurrency.max(1))
    );

    let mut coverage = Coverage {
        org_admin: caller.org_admin,
        orphans: spec.orphans.is_some(),
        ..Coverage::default()
    };
    let reading = async {
        let mut planned: HashSet<(EntityKind, String)> = HashSet::new();
        while let Some((entity, acl)) = reads.next().await {
            bars.inc(entity.kind);
            let unknown = match &acl {
                Err(e) if e.is_shape() || e.status() == Some(405) => Some(RefusalKind::Other(
                    format!("cannot read the access list: {e}"),
                )),
                Ok(list) => list
                    .hides(&touched)
                    .map(|u| RefusalKind::Other(format!("cannot read the access list entry {u}"))),
                Err(_) => None,
            };
            if let Some(refusal) = unknown {
                // Whether a departing user owns it cannot be told: say so in the plan.
                let current = acl.map(|l| l.grants).unwrap_or_default();
                writer.write(&PlanEntry::refused(
                    entity.kind,
                    &entity.id,
                    &entity.name,
                    current.clone(),
                    current,
                    &refusal,
                ))?;
                planned.insert((entity.kind, entity.id.to_lowercase()));
                coverage.kinds.entry(entity.kind).or_default().unknown += 1;
                continue;
            }
            if let (Some(deactivated), Ok(list)) = (&spec.orphans, &acl) {
                match ownership(list, deactivated) {
                    Ownership::Orphan => {}
                    Ownership::Owned => continue,
                    // Not told apart: in the plan as refused when a deactivated user owns
                    // it, so that a reviewer sees it; otherwise there is nothing to hand
                    // over.
                    Ownership::Unknown(reason) => {
                        if !list
                            .grants
                            .iter()
                            .any(|g| g.role == Role::Owner && deactivated.holds(g))
                        {
                            continue;
                        }
                        writer.write(&PlanEntry::refused(
                            entity.kind,
                            &entity.id,
                            &entity.name,
                            list.grants.clone(),
                            list.grants.clone(),
                            &RefusalKind::Other(reason),
                        ))?;
                        planned.insert((entity.kind, entity.id.to_lowercase()));
                        coverage.kinds.entry(entity.kind).or_default().unknown += 1;
                        continue;
                    }
                }
            }
            let (current, unreadable) = match acl {
                Ok(list) => (list.grants, list.unreadable),
                // Gone since it was listed, or readable in the list but not in detail: the
                // entity cannot be handed over by this caller, say so and go on.
                Err(e) if matches!(e.class(), ErrorClass::Gone | ErrorClass::NotAllowed) => {
                    let refusal = if e.class() == ErrorClass::Gone {
                        RefusalKind::EntityNotFound
                    } else {
                        RefusalKind::CallerCannotShare
                    };
                    writer.write(&PlanEntry::refused(
                        entity.kind,
                        &entity.id,
                        &entity.name,
                        Vec::new(),
                        Vec::new(),
                        &refusal,
                    ))?;
                    planned.insert((entity.kind, entity.id.to_lowercase()));
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let Some(target) = leaver_target(
                entity.kind,
                &current,
                &spec.pairs,
                spec.old_owner_role,
                keep_other_access,
            ) else {
                continue;
            };
            let c = coverage.kinds.entry(entity.kind).or_default();
            let entry = match target {
                LeaverTarget::Handover(target) => {
                    c.owned += 1;
                    PlanEntry::build(entity.kind, &entity.id, &entity.name, current, target)
                }
                LeaverTarget::RevokeOnly(target) => {
                    c.access += 1;
                    // Removing a non-owner cannot take the last owner away; but with no
                    // owner to be read (one hidden in an entry handover cannot read), the
                    // target could not be shown to keep one: a reviewer decides.
                    if current.iter().any(|g| g.role == Role::Owner) {
                        PlanEntry::build(entity.kind, &entity.id, &entity.name, current, target)
                    } else {
                        PlanEntry::refused(
                            entity.kind,
                            &entity.id,
                            &entity.name,
                            current,
                            target,
                            &RefusalKind::Other(
                                "no owner can be read in the access list, so removing the \
                                 departing user's role cannot be shown to leave one"
                                    .to_string(),
                            ),
                        )
                    }
                    .as_revoke_only()
                }
            };
            writer.write(&checked(sendable(entry, unreadable), caller))?;
            planned.insert((entity.kind, entity.id.to_lowercase()));
        }
        Ok::<_, Error>(planned)
    };
    let (lists, planned) = tokio::join!(listing, reading);
    bars.finish();
    for (kind, listing) in lists? {
        let c = coverage.kinds.entry(kind).or_default();
        match listing {
            Ok(listing) => {
                c.listed = listing.entities.len();
                c.unreadable_items = listing.unreadable.len();
            }
            Err(words) => {
                tracing::warn!(kind = %kind, error = %words, "list not served; type not searched");
                coverage.unlisted.insert(kind, words);
            }
        }
    }
    spec.selection.warn_missing(
        &planned?,
        "not in the plan (not of the selected types, or nothing a departing user holds)",
    );
    Ok(coverage)
}

/// Plans a hand-written CSV: for each entity, reads it and its access list, applies the
/// rows, and writes a change, a noop or a refusal with its reason.
pub async fn plan_csv(
    client: &Client,
    caller: &Caller,
    changes: Vec<CsvChange>,
    settings: PlannerSettings,
    writer: &mut PlanWriter,
) -> Result<(), Error> {
    // Look every named user up once; a caller who may not is warned, and the server
    // checks the recipients when the plan is applied.
    let names: Vec<String> = changes
        .iter()
        .flat_map(|c| c.rows.iter().map(|r| r.username.clone()))
        .collect();
    let users = look_up_all(client, names, settings.concurrency).await?;
    if users.values().any(|l| matches!(l, Looked::Refused)) {
        let mut recipients: Vec<&str> = changes.iter().flat_map(CsvChange::recipients).collect();
        recipients.sort_by_key(|n| n.to_lowercase());
        recipients.dedup_by_key(|n| n.to_lowercase());
        warn_unchecked(recipients);
    }

    let mut bars = Bars::new(settings.progress);
    let mut per_kind: HashMap<EntityKind, u64> = HashMap::new();
    for change in &changes {
        *per_kind.entry(change.kind).or_default() += 1;
    }
    for kind in EntityKind::ALL {
        if let Some(n) = per_kind.get(&kind) {
            bars.add(kind, *n);
        }
    }

    // In the CSV's order, so that the plan reads like the file it came from.
    let mut reads = stream::iter(changes)
        .map(|change| async move {
            // The entity's own route is read for its name only: where the server does not
            // serve it (the types of contract §12 document none), the access list says
            // whether the entity exists.
            let read = match client.get(change.kind, &change.id).await {
                Ok(entity) => Ok(entity.name),
                Err(e) if e.is_unserved() => Ok(String::new()),
                Err(e) => Err(e),
            };
            let read = match read {
                Ok(name) => client
                    .access_list(change.kind, &change.id)
                    .await
                    .map(|acl| (name, acl)),
                Err(e) => Err(e),
            };
            (change, read)
        })
        .buffered(settings.concurrency.max(1));

    while let Some((change, read)) = reads.next().await {
        bars.inc(change.kind);
        let read = match read {
            Err(e) if e.is_shape() || e.status() == Some(405) => {
                writer.write(&PlanEntry::refused(
                    change.kind,
                    &change.id,
                    "",
                    Vec::new(),
                    Vec::new(),
                    &RefusalKind::Other(format!("cannot read the entity: {e}")),
                ))?;
                continue;
            }
            other => other,
        };
        let (name, current, unreadable) = match read {
            Ok((name, list)) => {
                let named: Vec<Grant> = change
                    .rows
                    .iter()
                    .map(|r| UserIdent::unchecked(&r.username).grant(Role::Consumer, None))
                    .collect();
                if let Some(u) = list.hides(&named) {
                    let refusal =
                        RefusalKind::Other(format!("cannot read the access list entry {u}"));
                    writer.write(&PlanEntry::refused(
                        change.kind,
                        &change.id,
                        &name,
                        list.grants.clone(),
                        list.grants,
                        &refusal,
                    ))?;
                    continue;
                }
                (name, list.grants, list.unreadable)
            }
            Err(e) if matches!(e.class(), ErrorClass::Gone | ErrorClass::NotAllowed) => {
                writer.write(&PlanEntry::refused(
                    change.kind,
                    &change.id,
                    "",
                    Vec::new(),
                    Vec::new(),
                    &RefusalKind::EntityNotFound,
                ))?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let entry = match csv_target(&change, &current, &users) {
            Err(refusal) => PlanEntry::refused(
                change.kind,
                &change.id,
                &name,
                current.clone(),
                current,
                &refusal,
            ),
            Ok(target) => checked(
                sendable(
                    PlanEntry::build(change.kind, &change.id, &name, current, target),
                    unreadable,
                ),
                caller,
            ),
        };
        writer.write(&entry)?;
    }
    bars.finish();
    Ok(())
}

/// The target of one CSV change, with every named user checked against the server:
/// granting to a missing or inactive user is refused; revoking someone unknown is a
/// no-op and needs no lookup to succeed.
fn csv_target(
    change: &CsvChange,
    current: &[Grant],
    users: &HashMap<String, Looked>,
) -> Result<Vec<Grant>, RefusalKind> {
    let mut resolved = Vec::with_capacity(change.rows.len());
    for row in &change.rows {
        let user = match users.get(&row.username.to_lowercase()) {
            Some(Looked::Found(u)) => Some(u),
            // Not checked: matched and named by username, judged by the server.
            Some(Looked::Refused) => {
                resolved.push((row, None));
                continue;
            }
            Some(Looked::Missing) | None => None,
        };
        match (user, row.role) {
            (None, Some(_)) => return Err(RefusalKind::RecipientNotFound(row.username.clone())),
            (Some(u), Some(_)) if u.active == Some(false) => {
                return Err(RefusalKind::RecipientInactive(row.username.clone()));
            }
            _ => {}
        }
        resolved.push((row, user.map(ident)));
    }
    Ok(crate::plan::csvplan::apply(change.kind, current, &resolved))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Change;

    fn grant(name: &str, role: Role, can_share: Option<bool>) -> Grant {
        Grant {
            recipient_type: "user".into(),
            id: Some(format!("id-{name}")),
            name: name.into(),
            role,
            can_share,
        }
    }

    fn change(name: &str, role: Option<Role>) -> Change {
        Change {
            recipient_type: "user".into(),
            id: Some(format!("id-{name}")),
            name: name.into(),
            role,
            can_share: None,
        }
    }

    fn me(org_admin: bool) -> Caller {
        Caller {
            user: UserIdent {
                id: "id-me".into(),
                username: "me".into(),
            },
            org_admin,
        }
    }

    fn may(kind: EntityKind, current: &[Grant], changes: Vec<Change>) -> bool {
        let request = ShareRequest {
            changes,
            notify: false,
        };
        caller_may_send(kind, current, &request, &me(false))
    }

    #[test]
    fn callers_are_judged_by_what_the_request_does() {
        use EntityKind::{Dataset, Project};
        let editor = [
            grant("boss", Role::Owner, Some(true)),
            grant("me", Role::Editor, Some(true)),
            grant("peer", Role::Editor, None),
        ];
        // R5: up to one's own level, and nobody above is touched.
        assert!(may(
            Dataset,
            &editor,
            vec![change("new", Some(Role::Consumer))]
        ));
        assert!(may(Dataset, &editor, vec![change("peer", None)]));
        assert!(!may(
            Dataset,
            &editor,
            vec![change("new", Some(Role::Owner))]
        ));
        assert!(!may(
            Dataset,
            &editor,
            vec![change("boss", Some(Role::Editor))]
        ));
        assert!(!may(
            Dataset,
            &editor,
            vec![change("new", Some(Role::Consumer)), change("boss", None)]
        ));
        // R6: can_share false leaves only leaving.
        let no_share = [
            grant("boss", Role::Owner, Some(true)),
            grant("me", Role::Owner, Some(false)),
        ];
        assert!(!may(
            Dataset,
            &no_share,
            vec![change("new", Some(Role::Consumer))]
        ));
        assert!(may(Dataset, &no_share, vec![change("me", None)]));
        // R7: a project consumer shares nothing, on datasets the ceiling decides.
        let consumer = [
            grant("boss", Role::Owner, None),
            grant("me", Role::Consumer, None),
        ];
        assert!(!may(
            Project,
            &consumer,
            vec![change("new", Some(Role::Consumer))]
        ));
        assert!(may(
            Dataset,
            &consumer,
            vec![change("new", Some(Role::Consumer))]
        ));
        // Admins may do anything; a caller not in the list is left to the server.
        let request = ShareRequest {
            changes: vec![change("boss", None)],
            notify: false,
        };
        assert!(caller_may_send(Project, &consumer, &request, &me(true)));
        assert!(may(Project, &consumer[..1], vec![change("boss", None)]));
    }
}
