//! The impure half of the planner: asks the server what exists and who holds what, then
//! hands each entity to the pure [`plan`](crate::plan) functions and streams the entries
//! into a [`PlanWriter`].
//!
//! Two sources of intent:
//!
//! - **offboarding** ([`plan_offboard`]): every entity of the chosen kinds that a departing
//!   user owns goes to a successor. Kinds are listed concurrently, with the server-side
//!   owner filters where they exist, and each candidate's access list is read to confirm
//!   ownership (a catalog owner filter is a hint, the access list is the truth);
//! - **a hand-written CSV** ([`plan_csv`]): the rows of [`csvplan`](crate::csvplan), one
//!   change per entity, checked against the live entity, its access list and the users.
//!
//! Users named on the command line are looked up first: the recipient with
//! [`resolve_user`] (must exist and be active), the departing user with
//! [`resolve_departing`] (may be deactivated already). A change the caller may not make
//! (contract R5–R7) is planned as refused, not left for the server to refuse.
//!
//! Every request goes through the one [`Client`], so through its rate limiter; this module
//! only bounds how many access-list reads are in flight.

use std::collections::HashMap;

use futures::stream::{self, StreamExt, TryStreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::api::{ApiError, Client, ErrorClass, ListFilter, User};
use crate::csvplan::CsvChange;
use crate::model::{EntityKind, Grant, Role};
use crate::plan::{
    OldOwnerRoleKind, PlanEntry, PlanWriter, RefusalKind, ShareRequest, UserIdent, offboard_target,
    owner_of, same_principal,
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
    /// Writing the plan file failed.
    #[error(transparent)]
    Plan(#[from] crate::plan::Error),
}

impl Error {
    /// The process exit code this error deserves.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Api(e) | Error::LookupRefused { source: e, .. } => e.exit_code(),
            Error::UnknownUser { .. }
            | Error::InactiveUser { .. }
            | Error::InactiveKeepsRole { .. } => crate::exit::INVALID_INPUT,
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
/// the account was deactivated, and revoking an inactive user's access is allowed. Only
/// keeping a role needs an active account, so with `old_owner_role` CONSUMER or EDITOR an
/// inactive user is refused here rather than on every entity at apply time.
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
    PlanEntry::refused(
        entry.kind,
        entry.id,
        entry.name,
        entry.current,
        entry.target,
        &RefusalKind::CallerCannotShare,
    )
}

/// One progress bar per kind on a terminal, nothing otherwise.
struct Bars {
    multi: MultiProgress,
    bars: HashMap<EntityKind, ProgressBar>,
}

impl Bars {
    fn new(enabled: bool) -> Bars {
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

    fn add(&mut self, kind: EntityKind, len: u64) {
        let style = ProgressStyle::with_template("{prefix:>22} {bar:30} {pos}/{len} {msg}")
            .expect("the template is valid");
        let bar = self.multi.add(ProgressBar::new(len).with_style(style));
        bar.set_prefix(kind.plural_label());
        self.bars.insert(kind, bar);
    }

    fn inc(&self, kind: EntityKind) {
        if let Some(bar) = self.bars.get(&kind) {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        for bar in self.bars.values() {
            bar.finish();
        }
    }
}

/// What to offboard: from whom, to whom, which kinds, and what the old owner keeps.
#[derive(Clone, Debug)]
pub struct OffboardSpec {
    /// The departing users (already resolved).
    pub from: Vec<UserIdent>,
    /// The successor (already resolved, active).
    pub to: UserIdent,
    pub old_owner_role: OldOwnerRoleKind,
    pub kinds: Vec<EntityKind>,
}

/// Plans an offboarding: lists every kind in `spec.kinds` concurrently, reads the access
/// list of each candidate, and writes one entry per entity a departing user owns.
/// Entities none of them own are not in the plan.
pub async fn plan_offboard(
    client: &Client,
    caller: &Caller,
    spec: &OffboardSpec,
    settings: PlannerSettings,
    writer: &mut PlanWriter,
) -> Result<(), Error> {
    // With one departing user the server can filter for us where it knows how; with
    // several, one unfiltered pass serves them all.
    let filter = ListFilter {
        owner: match spec.from.as_slice() {
            [one] => Some(User {
                id: one.id.clone(),
                username: one.username.clone(),
                full_name: None,
                active: Some(true),
            }),
            _ => None,
        },
    };
    let lists: Vec<(EntityKind, Vec<crate::api::EntityRef>)> = stream::iter(spec.kinds.clone())
        .map(|kind| {
            let filter = filter.clone();
            async move { client.list(kind, &filter).await.map(|refs| (kind, refs)) }
        })
        .buffer_unordered(spec.kinds.len().max(1))
        .try_collect()
        .await?;

    let mut bars = Bars::new(settings.progress);
    for kind in &spec.kinds {
        let len = lists
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0, |(_, refs)| refs.len());
        bars.add(*kind, len as u64);
    }
    let refs = lists.into_iter().flat_map(|(_, refs)| refs);
    let mut reads = stream::iter(refs)
        .map(|entity| async move {
            let acl = client.access_list(entity.kind, &entity.id).await;
            (entity, acl)
        })
        .buffer_unordered(settings.concurrency.max(1));

    while let Some((entity, acl)) = reads.next().await {
        bars.inc(entity.kind);
        let current = match acl {
            Ok(current) => current,
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
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let Some(from) = spec.from.iter().find(|u| owner_of(&current, u)) else {
            continue;
        };
        let target = offboard_target(entity.kind, &current, from, &spec.to, spec.old_owner_role);
        let entry = PlanEntry::build(entity.kind, &entity.id, &entity.name, current, target);
        writer.write(&checked(entry, caller))?;
    }
    bars.finish();
    Ok(())
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
    // Look every named user up once.
    let mut names: Vec<String> = changes
        .iter()
        .flat_map(|c| c.rows.iter().map(|r| r.username.to_ascii_lowercase()))
        .collect();
    names.sort();
    names.dedup();
    let users: HashMap<String, Option<User>> = stream::iter(names)
        .map(|name| async move { client.find_user(&name).await.map(|u| (name, u)) })
        .buffer_unordered(settings.concurrency.max(1))
        .try_collect()
        .await?;

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

    let mut reads = stream::iter(changes)
        .map(|change| async move {
            let read = match client.get(change.kind, &change.id).await {
                Ok(entity) => client
                    .access_list(change.kind, &change.id)
                    .await
                    .map(|acl| (entity.name, acl)),
                Err(e) => Err(e),
            };
            (change, read)
        })
        .buffer_unordered(settings.concurrency.max(1));

    while let Some((change, read)) = reads.next().await {
        bars.inc(change.kind);
        let (name, current) = match read {
            Ok(ok) => ok,
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
                PlanEntry::build(change.kind, &change.id, &name, current, target),
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
    users: &HashMap<String, Option<User>>,
) -> Result<Vec<Grant>, RefusalKind> {
    let mut resolved = Vec::with_capacity(change.rows.len());
    for row in &change.rows {
        let user = users
            .get(&row.username.to_ascii_lowercase())
            .cloned()
            .flatten();
        match (&user, row.role) {
            (None, Some(_)) => return Err(RefusalKind::RecipientNotFound(row.username.clone())),
            (Some(u), Some(_)) if u.active == Some(false) => {
                return Err(RefusalKind::RecipientInactive(row.username.clone()));
            }
            _ => {}
        }
        resolved.push((row, user.map(|u| ident(&u))));
    }
    Ok(crate::csvplan::apply(change.kind, current, &resolved))
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
