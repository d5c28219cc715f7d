//! The simulator's data: accounts, entities and their access lists, indexed for O(1)
//! lookups (users by id, username and token; entities by kind and id) with a per-kind id
//! list in seed order for paging. It also owns the sharing rules (R1–R8 of the contract, and
//! whether an inactive user may be revoked, which §11 leaves open):
//! [`State::share`] validates a whole request against them and applies it or nothing.
//!
//! The server keeps one `State` behind one lock; nothing here does I/O.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::kinds::{EntityKind, Role};

use crate::SimError;
use crate::seed::{Seed, SeedGrant};

/// An account.
#[derive(Clone, Debug)]
pub(crate) struct UserRec {
    pub id: String,
    pub username: String,
    pub full_name: String,
    pub active: bool,
    pub org_admin: bool,
}

impl UserRec {
    /// `firstName` and `lastName`, split at the first space of the full name.
    pub fn first_last(&self) -> (&str, &str) {
        match self.full_name.split_once(' ') {
            Some((f, l)) => (f, l),
            None => (self.full_name.as_str(), ""),
        }
    }
}

/// One user's role on an entity; `user` indexes [`State::users`].
#[derive(Clone, Debug)]
pub(crate) struct GrantRec {
    pub user: usize,
    pub role: Role,
    pub can_share: bool,
    pub can_use_data: bool,
}

/// An entity.
#[derive(Clone, Debug)]
pub(crate) struct EntityRec {
    pub kind: EntityKind,
    pub id: String,
    pub name: String,
    /// Index of the creator in [`State::users`].
    pub creator: usize,
    /// ISO-8601 creation time, derived from the entity's position so that it is stable.
    pub created: String,
    pub access: Vec<GrantRec>,
    /// Group and organization entries, rendered after the users' and never changed.
    pub principals: Vec<PrincipalRec>,
    /// Data sources and stores: `jdbc`, `dr-database-v1` or `dr-connector-v1`.
    pub store_type: String,
    /// The entity a share of this one also shares (contract C7): a data store for a
    /// data source, a dataset for a custom model or task; for a read-only kind, the entity
    /// whose access list it shows (§12.2: a model package's registered model, a notebook's
    /// use case).
    pub linked: Option<String>,
    /// Notification policy templates: the `{relatedEntityType}` of their paths (§12.1 X7).
    pub related_type: Option<String>,
    /// Share writes applied to it.
    pub writes_applied: u32,
}

/// A group's or an organization's entry on an access list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PrincipalRec {
    pub recipient_type: String,
    pub id: String,
    pub name: String,
    /// The role name as reads return it, whatever it is.
    pub role: String,
}

impl EntityRec {
    /// The grant a user holds, if any.
    pub fn grant_of(&self, user: usize) -> Option<&GrantRec> {
        self.access.iter().find(|g| g.user == user)
    }

    /// Whether at least one user holds OWNER.
    pub fn has_owner(&self) -> bool {
        self.access.iter().any(|g| g.role == Role::Owner)
    }
}

/// Entities of one kind: by id, and ids in list order.
#[derive(Debug, Default)]
pub(crate) struct KindTable {
    pub by_id: HashMap<String, EntityRec>,
    pub order: Vec<String>,
}

/// Everything the simulator holds.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub users: Vec<UserRec>,
    by_user_id: HashMap<String, usize>,
    by_username: HashMap<String, usize>,
    by_token: HashMap<String, usize>,
    tables: Vec<KindTable>,
    /// Finished project-creation jobs: job id → project id.
    jobs: HashMap<String, String>,
    /// Serial behind the ids of created projects and their jobs.
    serial: u64,
    /// Deployment list reads served in the default order: with prediction traffic on,
    /// each one moves the order of last prediction (see [`State::deployment_order`]).
    prediction_reads: AtomicU64,
}

/// Index of a kind in per-kind tables; the enum's declaration order.
pub(crate) fn kind_index(kind: EntityKind) -> usize {
    kind as usize
}

/// Who a share entry names: by id, by username (or SR `name`), or both.
#[derive(Clone, Debug, Default)]
pub(crate) struct RecipientRef {
    pub id: Option<String>,
    pub username: Option<String>,
}

impl RecipientRef {
    fn describe(&self) -> String {
        match (&self.username, &self.id) {
            (Some(u), _) => u.clone(),
            (None, Some(id)) => id.clone(),
            (None, None) => String::new(),
        }
    }
}

/// A non-user recipient a share entry names: a group, an organization, an external
/// application or an RBAC role (contract §5.2, §12.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PrincipalRef {
    pub recipient_type: String,
    pub id: String,
    pub name: Option<String>,
}

/// One change of a share request, already validated for shape (R12).
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub who: RecipientRef,
    /// A non-user recipient: then `who` is empty and `role_name` is what reads will show.
    pub principal: Option<PrincipalRef>,
    /// The role name as sent, upper-cased.
    pub role_name: String,
    /// `None` revokes.
    pub role: Option<Role>,
    pub can_share: Option<bool>,
    pub can_use_data: Option<bool>,
}

/// Why a share request was refused. Each maps to one status and message in `routes`.
#[derive(Debug, PartialEq)]
pub(crate) enum ShareError {
    /// The entity does not exist or the caller cannot see it (404).
    NotFound,
    /// The caller may see it but not make this change (R5–R7, 403).
    Forbidden(String),
    /// R3: usernames or ids that name no account.
    UsersNotFound(Vec<String>),
    /// R2: two changes for one user.
    Duplicate(String),
    /// R4: grants to inactive accounts.
    Inactive(Vec<String>),
    /// Revokes of inactive accounts' access, where the config refuses them (contract §11).
    InactiveRevoke(Vec<String>),
    /// R1: the request would leave no owner.
    LastOwner,
    /// Two identifiers of one entry name different users (a form of R12).
    Mismatch(String),
}

/// How a share request is applied: the knobs of [`crate::SimConfig`] that bear on it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShareMode<'a> {
    /// Whether removing a deactivated user's access is allowed (contract §11).
    pub revoke_inactive: bool,
    /// Whether the request's list replaces the whole access list (§12.1 X10–X12).
    pub replace: bool,
    /// Recipient types the server does not show (extra recipients off): a replacing write
    /// leaves them alone.
    pub hidden_types: &'a [&'a str],
}

/// What an applied share did.
#[derive(Debug, Default)]
pub(crate) struct ShareOutcome {
    /// Whether any entry granted a role (as opposed to revoking); projects notify then.
    pub granted: bool,
    /// User entries with a role (not `NO_ROLE`): secure configurations notify each (§12.1 X5).
    pub user_grants: u64,
    /// Whether the entity has no owner afterwards (the rules forbid it; recorded if seen).
    pub ownerless: bool,
}

impl State {
    /// Builds the state from a validated seed.
    pub fn from_seed(seed: &Seed) -> Result<State, SimError> {
        seed.validate()?;
        let mut st = State {
            tables: (0..EntityKind::ALL.len())
                .map(|_| KindTable::default())
                .collect(),
            ..State::default()
        };
        for u in &seed.users {
            let idx = st.users.len();
            st.by_user_id.insert(u.id.clone(), idx);
            st.by_username.insert(u.username.to_ascii_lowercase(), idx);
            let token = u.effective_token();
            st.by_token.insert(token, idx);
            st.users.push(UserRec {
                id: u.id.clone(),
                username: u.username.clone(),
                full_name: u.full_name.clone(),
                active: u.active,
                org_admin: u.org_admin,
            });
        }
        for (n, e) in seed.entities.iter().enumerate() {
            let access = st.grants_from_seed(&e.access)?;
            let creator = match &e.creator {
                Some(c) => st.user_by_name(c),
                None => access
                    .iter()
                    .find(|g| g.role == Role::Owner)
                    .map(|g| g.user),
            }
            .or_else(|| access.first().map(|g| g.user))
            .unwrap_or(0);
            let rec = EntityRec {
                kind: e.kind,
                id: e.id.clone(),
                name: e.name.clone(),
                creator,
                created: created_at(n),
                access,
                principals: e
                    .principals
                    .iter()
                    .map(|p| PrincipalRec {
                        recipient_type: p.recipient_type.clone(),
                        id: p.id.clone(),
                        name: p.name.clone(),
                        role: p.role.clone(),
                    })
                    .collect(),
                store_type: e.store_type.clone().unwrap_or_else(|| "jdbc".to_string()),
                linked: e.linked.clone(),
                related_type: e.kind.facts().related_segment.then(|| {
                    e.related_entity_type
                        .clone()
                        .unwrap_or_else(|| crate::kinds::RELATED_ENTITY_TYPES[0].to_string())
                }),
                writes_applied: 0,
            };
            let table = &mut st.tables[kind_index(e.kind)];
            table.order.push(e.id.clone());
            table.by_id.insert(e.id.clone(), rec);
        }
        Ok(st)
    }

    fn grants_from_seed(&self, grants: &[SeedGrant]) -> Result<Vec<GrantRec>, SimError> {
        grants
            .iter()
            .map(|g| {
                let user = self
                    .user_by_name(&g.username)
                    .ok_or_else(|| SimError::UnknownUser(g.username.clone()))?;
                Ok(GrantRec {
                    user,
                    role: g.role,
                    can_share: g.can_share,
                    can_use_data: true,
                })
            })
            .collect()
    }

    /// The active account a token belongs to.
    pub fn user_by_token(&self, token: &str) -> Option<usize> {
        self.by_token
            .get(token)
            .copied()
            .filter(|&u| self.users[u].active)
    }

    /// An account by username, case-insensitively.
    pub fn user_by_name(&self, username: &str) -> Option<usize> {
        if let Some(&u) = self.by_username.get(username) {
            return Some(u);
        }
        self.by_username
            .get(&username.to_ascii_lowercase())
            .copied()
    }

    /// An account by id.
    pub fn user_by_id(&self, id: &str) -> Option<usize> {
        self.by_user_id.get(id).copied()
    }

    /// The table of one kind.
    pub fn table(&self, kind: EntityKind) -> &KindTable {
        &self.tables[kind_index(kind)]
    }

    /// An entity, whoever asks.
    pub fn entity(&self, kind: EntityKind, id: &str) -> Option<&EntityRec> {
        self.tables[kind_index(kind)].by_id.get(id)
    }

    /// An entity, if `caller` may see it: org admins see everything, others what they
    /// hold a role on.
    pub fn visible(&self, caller: usize, kind: EntityKind, id: &str) -> Option<&EntityRec> {
        self.entity(kind, id).filter(|e| self.can_see(caller, e))
    }

    /// Whether `caller` may see `e`.
    pub fn can_see(&self, caller: usize, e: &EntityRec) -> bool {
        self.users[caller].org_admin || self.holds(caller, e)
    }

    /// Whether `user` holds a role on `e` (through its parent, for a read-only kind).
    pub fn holds(&self, user: usize, e: &EntityRec) -> bool {
        self.acl_source(e).grant_of(user).is_some()
    }

    /// The entity whose access list `e` has: its parent for a model package or a notebook
    /// (contract §12.2: shared through the registered model or the use case), else `e`.
    pub fn acl_source<'a>(&'a self, e: &'a EntityRec) -> &'a EntityRec {
        e.kind
            .facts()
            .parent
            .zip(e.linked.as_deref())
            .and_then(|(kind, id)| self.entity(kind, id))
            .unwrap_or(e)
    }

    /// Validates a share request against the rules and applies it whole, or refuses it whole.
    /// `revoke_inactive`: whether removing a deactivated user's access is allowed (the
    /// contract leaves it open, §11; [`crate::SimConfig::inactive_revoke`]).
    pub fn share(
        &mut self,
        caller: usize,
        kind: EntityKind,
        id: &str,
        all_changes: &[Change],
        mode: ShareMode<'_>,
    ) -> Result<ShareOutcome, ShareError> {
        let admin = self.users[caller].org_admin;
        let revoke_inactive = mode.revoke_inactive;
        let entity = self.visible(caller, kind, id).ok_or(ShareError::NotFound)?;
        let (principal_changes, changes): (Vec<&Change>, Vec<&Change>) =
            all_changes.iter().partition(|c| c.principal.is_some());
        for (i, c) in principal_changes.iter().enumerate() {
            if principal_changes[..i]
                .iter()
                .any(|o| o.principal == c.principal)
            {
                let p = c
                    .principal
                    .as_ref()
                    .map(|p| p.id.clone())
                    .unwrap_or_default();
                return Err(ShareError::Duplicate(p));
            }
        }

        // R3: resolve every recipient; collect all unknown names before refusing.
        let mut targets = Vec::with_capacity(changes.len());
        let mut missing = Vec::new();
        for c in &changes {
            let by_id = c.who.id.as_deref().map(|i| (i, self.user_by_id(i)));
            let by_name = c.who.username.as_deref().map(|n| (n, self.user_by_name(n)));
            let user = match (by_id, by_name) {
                (Some((_, Some(a))), Some((_, Some(b)))) if a != b => {
                    return Err(ShareError::Mismatch(c.who.describe()));
                }
                (Some((_, Some(a))), _) | (_, Some((_, Some(a)))) => Some(a),
                (Some((i, None)), _) | (None, Some((i, None))) => {
                    missing.push(i.to_string());
                    None
                }
                (None, None) => None,
            };
            targets.push(user);
        }
        if !missing.is_empty() {
            return Err(ShareError::UsersNotFound(missing));
        }
        let targets: Vec<usize> = targets.into_iter().flatten().collect();
        // A replacing write removes every user it does not name: the rules below judge
        // those removals as if they were sent as revokes.
        let implicit: Vec<usize> = if mode.replace {
            entity
                .access
                .iter()
                .map(|g| g.user)
                .filter(|u| !targets.contains(u))
                .collect()
        } else {
            Vec::new()
        };

        // R2: one change per user.
        for (i, t) in targets.iter().enumerate() {
            if targets[..i].contains(t) {
                return Err(ShareError::Duplicate(self.users[*t].username.clone()));
            }
        }

        // R4: no grants to inactive accounts (revoking their access stays possible), the
        // role they hold included. Except in a replacing write (§12.1 X10–X12): it must
        // carry every entry it keeps, theirs included, or it would remove them, so an entry
        // that restates their role changes nothing and is not a grant.
        let inactive: Vec<String> = targets
            .iter()
            .zip(&changes)
            .filter(|(t, c)| {
                c.role.is_some()
                    && !self.users[**t].active
                    && !(mode.replace && entity.grant_of(**t).map(|g| g.role) == c.role)
            })
            .map(|(t, _)| self.users[*t].username.clone())
            .collect();
        if !inactive.is_empty() {
            return Err(ShareError::Inactive(inactive));
        }
        // Contract §11: whether their access may be removed is not documented; a server
        // that refuses names them. Revoking someone without access is a no-op (R8), not
        // refused.
        if !revoke_inactive {
            let held: Vec<String> = targets
                .iter()
                .zip(&changes)
                .filter(|(_, c)| c.role.is_none())
                .map(|(t, _)| *t)
                .chain(implicit.iter().copied())
                .filter(|t| !self.users[*t].active && entity.grant_of(*t).is_some())
                .map(|t| self.users[t].username.clone())
                .collect();
            if !held.is_empty() {
                return Err(ShareError::InactiveRevoke(held));
            }
        }

        // R5–R7 for callers who are not org admins.
        if !admin {
            let mine = entity
                .grant_of(caller)
                .cloned()
                .ok_or(ShareError::NotFound)?;
            let removals = implicit.iter().map(|t| (t, None));
            for (t, role) in targets
                .iter()
                .zip(changes.iter().map(|c| c.role))
                .chain(removals)
            {
                let self_revoke = *t == caller && role.is_none();
                if self_revoke {
                    continue;
                }
                if kind == EntityKind::Project && mine.role == Role::Consumer {
                    return Err(ShareError::Forbidden(
                        "Consumers of a project cannot share it".into(),
                    ));
                }
                if !mine.can_share {
                    return Err(ShareError::Forbidden(
                        "You may not share this entity (canShare is false); you may only remove your own access".into(),
                    ));
                }
                if let Some(r) = role
                    && r > mine.role
                {
                    return Err(ShareError::Forbidden(format!(
                        "Cannot grant the role {r}, which is above your own role {}",
                        mine.role
                    )));
                }
                if let Some(current) = entity.grant_of(*t)
                    && current.role > mine.role
                {
                    return Err(ShareError::Forbidden(format!(
                        "Cannot change the access of {}, whose role {} is above your own role {}",
                        self.users[*t].username, current.role, mine.role
                    )));
                }
            }
        }

        // R1: compute the result and refuse it if nobody would own the entity.
        let mut access = entity.access.clone();
        access.retain(|g| !implicit.contains(&g.user));
        let principals = next_principals(&entity.principals, &principal_changes, mode);
        let mut outcome = ShareOutcome {
            user_grants: changes.iter().filter(|c| c.role.is_some()).count() as u64,
            ..ShareOutcome::default()
        };
        if mode.replace {
            // The list as sent, in the order sent.
            access.sort_by_key(|g| targets.iter().position(|t| *t == g.user));
        }
        for (t, c) in targets.iter().zip(&changes) {
            let pos = access.iter().position(|g| g.user == *t);
            match (c.role, pos) {
                // R8: revoking someone without access changes nothing.
                (None, None) => {}
                (None, Some(p)) => {
                    access.remove(p);
                }
                (Some(role), Some(p)) => {
                    outcome.granted = true;
                    let g = &mut access[p];
                    g.role = role;
                    if let Some(cs) = c.can_share {
                        g.can_share = cs;
                    }
                    if let Some(cu) = c.can_use_data {
                        g.can_use_data = cu;
                    }
                }
                (Some(role), None) => {
                    outcome.granted = true;
                    access.push(GrantRec {
                        user: *t,
                        role,
                        can_share: c.can_share.unwrap_or(true),
                        can_use_data: c.can_use_data.unwrap_or(true),
                    });
                }
            }
        }
        if !access.iter().any(|g| g.role == Role::Owner) {
            return Err(ShareError::LastOwner);
        }
        let entity = self.tables[kind_index(kind)]
            .by_id
            .get_mut(id)
            .ok_or(ShareError::NotFound)?;
        entity.access = access;
        entity.principals = principals;
        entity.writes_applied += 1;
        outcome.ownerless = !entity.has_owner();
        let linked = entity.linked.clone();
        if let Some(linked) = linked {
            let granted: Vec<usize> = targets
                .iter()
                .zip(&changes)
                .filter(|(_, c)| c.role.is_some())
                .map(|(t, _)| *t)
                .collect();
            self.grant_linked(kind, &linked, &granted);
        }
        Ok(outcome)
    }

    /// The side effect of a share on what the shared entity uses (contract C7): "when
    /// granting access to a data source, access to the corresponding data store as a
    /// CONSUMER will also be granted"; custom models and tasks share their training data
    /// the same way. A recipient who already holds a role there keeps it.
    fn grant_linked(&mut self, kind: EntityKind, linked: &str, users: &[usize]) {
        let target = match kind {
            EntityKind::DataSource => EntityKind::DataStore,
            EntityKind::CustomModel | EntityKind::CustomTask => EntityKind::Dataset,
            _ => return,
        };
        let Some(e) = self.tables[kind_index(target)].by_id.get_mut(linked) else {
            return;
        };
        for &user in users {
            if e.grant_of(user).is_none() {
                e.access.push(GrantRec {
                    user,
                    role: Role::Consumer,
                    can_share: false,
                    can_use_data: true,
                });
            }
        }
    }

    /// The order `deployments/` lists in by default: by last prediction, newest first
    /// (contract C3). Predictions move it: with `traffic`, every read served in this order
    /// finds the deployments rotated by a few places since the read before, as if the
    /// ones further down had just served predictions. Returns the ids in list order.
    pub fn deployment_order(&self, traffic: bool) -> Vec<&String> {
        let order = &self.table(EntityKind::Deployment).order;
        if order.is_empty() {
            return Vec::new();
        }
        let shift = if traffic {
            let reads = self.prediction_reads.fetch_add(1, Ordering::Relaxed);
            (reads as usize).wrapping_mul(7) % order.len()
        } else {
            0
        };
        // Newest prediction first: the seed order reversed, then rotated by the traffic.
        let mut ids: Vec<&String> = order.iter().rev().collect();
        ids.rotate_right(shift);
        ids
    }

    /// Creates a project owned by `caller` (for `Project.create`) and returns the id of its
    /// creation job, which is finished at once.
    pub fn create_project(&mut self, caller: usize, name: &str) -> String {
        let table = &self.tables[kind_index(EntityKind::Project)];
        let id = loop {
            self.serial += 1;
            // Ids in their own range, so that they cannot collide with generated ones in practice.
            let id = format!("5e{:022x}", self.serial);
            if !table.by_id.contains_key(&id) {
                break id;
            }
        };
        let rec = EntityRec {
            kind: EntityKind::Project,
            id: id.clone(),
            name: name.to_string(),
            creator: caller,
            created: created_at(table.order.len()),
            access: vec![GrantRec {
                user: caller,
                role: Role::Owner,
                can_share: true,
                can_use_data: true,
            }],
            principals: Vec::new(),
            store_type: "jdbc".to_string(),
            linked: None,
            related_type: None,
            writes_applied: 0,
        };
        let table = &mut self.tables[kind_index(EntityKind::Project)];
        table.order.push(id.clone());
        table.by_id.insert(id.clone(), rec);
        let job = format!("{:032x}", self.serial);
        self.jobs.insert(job.clone(), id);
        job
    }

    /// The project a creation job made.
    pub fn job(&self, job: &str) -> Option<&str> {
        self.jobs.get(job).map(String::as_str)
    }

    /// Replaces an access list behind every client's back (test helper).
    pub fn set_access(
        &mut self,
        kind: EntityKind,
        id: &str,
        grants: &[SeedGrant],
    ) -> Result<(), SimError> {
        let access = self.grants_from_seed(grants)?;
        let e = self.tables[kind_index(kind)]
            .by_id
            .get_mut(id)
            .ok_or_else(|| SimError::UnknownEntity(kind, id.to_string()))?;
        e.access = access;
        Ok(())
    }

    /// Deletes an entity (test helper).
    pub fn delete_entity(&mut self, kind: EntityKind, id: &str) -> Result<(), SimError> {
        let table = &mut self.tables[kind_index(kind)];
        table
            .by_id
            .remove(id)
            .ok_or_else(|| SimError::UnknownEntity(kind, id.to_string()))?;
        table.order.retain(|x| x != id);
        Ok(())
    }

    /// Activates or deactivates an account (test helper).
    pub fn set_active(&mut self, username: &str, active: bool) -> Result<(), SimError> {
        let u = self
            .user_by_name(username)
            .ok_or_else(|| SimError::UnknownUser(username.to_string()))?;
        self.users[u].active = active;
        Ok(())
    }

    /// A copy of everything, roles normalised.
    pub fn snapshot(&self) -> StateSnapshot {
        let users = self
            .users
            .iter()
            .map(|u| SnapshotUser {
                id: u.id.clone(),
                username: u.username.clone(),
                full_name: u.full_name.clone(),
                active: u.active,
                org_admin: u.org_admin,
            })
            .collect();
        let mut entities = Vec::new();
        for kind in EntityKind::ALL {
            let table = self.table(kind);
            for id in &table.order {
                let Some(e) = table.by_id.get(id) else {
                    continue;
                };
                let acl = self.acl_source(e);
                entities.push(SnapshotEntity {
                    kind,
                    id: e.id.clone(),
                    name: e.name.clone(),
                    creator: self.users[e.creator].username.clone(),
                    principals: acl
                        .principals
                        .iter()
                        .map(|p| SnapshotPrincipal {
                            recipient_type: p.recipient_type.clone(),
                            id: p.id.clone(),
                            name: p.name.clone(),
                            role: p.role.clone(),
                        })
                        .collect(),
                    store_type: e.store_type.clone(),
                    linked: e.linked.clone(),
                    related_entity_type: e.related_type.clone(),
                    access: acl
                        .access
                        .iter()
                        .map(|g| SnapshotGrant {
                            recipient_type: "user".into(),
                            id: self.users[g.user].id.clone(),
                            username: self.users[g.user].username.clone(),
                            role: g.role,
                            can_share: g.can_share,
                        })
                        .collect(),
                });
            }
        }
        StateSnapshot { users, entities }
    }
}

/// The non-user entries after a share: set semantics change the ones named (`NO_ROLE`
/// removes); replace semantics keep only the ones named, and the hidden types untouched.
fn next_principals(
    current: &[PrincipalRec],
    changes: &[&Change],
    mode: ShareMode<'_>,
) -> Vec<PrincipalRec> {
    let mut out: Vec<PrincipalRec> = if mode.replace {
        current
            .iter()
            .filter(|p| mode.hidden_types.contains(&p.recipient_type.as_str()))
            .cloned()
            .collect()
    } else {
        current.to_vec()
    };
    for c in changes {
        let Some(p) = &c.principal else { continue };
        let same = |r: &PrincipalRec| r.recipient_type == p.recipient_type && r.id == p.id;
        let name = p
            .name
            .clone()
            .or_else(|| current.iter().find(|r| same(r)).map(|r| r.name.clone()))
            .unwrap_or_else(|| p.id.clone());
        let pos = out.iter().position(same);
        match (c.role.is_some(), pos) {
            (false, Some(i)) => {
                out.remove(i);
            }
            (false, None) => {}
            (true, Some(i)) => out[i].role = c.role_name.clone(),
            (true, None) => out.push(PrincipalRec {
                recipient_type: p.recipient_type.clone(),
                id: p.id.clone(),
                name,
                role: c.role_name.clone(),
            }),
        }
    }
    out
}

/// A stable creation time for the n-th seeded entity: one hour apart from 2023-01-01.
fn created_at(n: usize) -> String {
    iso_utc(1_672_531_200 + 3600 * n as u64)
}

/// Formats seconds since the Unix epoch as DataRobot does: `2023-01-01T00:00:00.000000Z`.
pub(crate) fn iso_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm), to avoid a date crate.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Everything the simulator holds, for tests' assertions (`GET /__sim/state`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// Every account.
    pub users: Vec<SnapshotUser>,
    /// Every entity, kind by kind in [`EntityKind::ALL`] order, each kind in list order.
    pub entities: Vec<SnapshotEntity>,
}

/// An account in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotUser {
    /// 24 lowercase hex digits.
    pub id: String,
    /// The login (an e-mail address).
    pub username: String,
    /// "First Last".
    pub full_name: String,
    /// Whether the account may log in and receive shares.
    pub active: bool,
    /// Whether the account is an org admin.
    pub org_admin: bool,
}

/// An entity in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotEntity {
    /// Which of the 27 kinds.
    pub kind: EntityKind,
    /// The entity's id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// The creator's username.
    pub creator: String,
    /// Its access list, in the order reads return it (a model package's or a notebook's is
    /// its parent's).
    pub access: Vec<SnapshotGrant>,
    /// Its group and organization entries, as reads return them after the users'.
    #[serde(default)]
    pub principals: Vec<SnapshotPrincipal>,
    /// Data sources and stores: `jdbc`, `dr-database-v1` or `dr-connector-v1`.
    #[serde(default)]
    pub store_type: String,
    /// What a share of it also shares (a data store, a dataset), or, for a model package
    /// or a notebook, the registered model or use case whose access list it has.
    #[serde(default)]
    pub linked: Option<String>,
    /// A notification policy template's `{relatedEntityType}` (`deployment`, `customjob`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_entity_type: Option<String>,
}

/// A group's or an organization's entry in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPrincipal {
    /// `group`, `organization`, `externalApplication` or `role`.
    pub recipient_type: String,
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its role name, as reads return it.
    pub role: String,
}

/// One entry of an access list in a snapshot; `role` is always OWNER, EDITOR or CONSUMER.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotGrant {
    /// Always `user`.
    pub recipient_type: String,
    /// The holder's user id.
    pub id: String,
    /// The holder's username.
    pub username: String,
    /// The holder's level.
    pub role: Role,
    /// Whether the holder may share further.
    pub can_share: bool,
}

impl StateSnapshot {
    /// An entity by kind and id.
    pub fn entity(&self, kind: impl Into<EntityKind>, id: &str) -> Option<&SnapshotEntity> {
        let kind = kind.into();
        self.entities.iter().find(|e| e.kind == kind && e.id == id)
    }

    /// An entity's access list.
    pub fn access(&self, kind: impl Into<EntityKind>, id: &str) -> Option<&[SnapshotGrant]> {
        self.entity(kind, id).map(|e| e.access.as_slice())
    }

    /// A user's role on an entity (`None`: no role, or no such entity).
    pub fn role_of(&self, kind: impl Into<EntityKind>, id: &str, username: &str) -> Option<Role> {
        self.access(kind, id)?
            .iter()
            .find(|g| g.username.eq_ignore_ascii_case(username))
            .map(|g| g.role)
    }

    /// Usernames of an entity's owners.
    pub fn owners(&self, kind: impl Into<EntityKind>, id: &str) -> Vec<&str> {
        self.access(kind, id)
            .unwrap_or_default()
            .iter()
            .filter(|g| g.role == Role::Owner)
            .map(|g| g.username.as_str())
            .collect()
    }

    /// Entities of `kind` on which `username` holds exactly `role`.
    pub fn held_by(
        &self,
        kind: impl Into<EntityKind>,
        username: &str,
        role: impl Into<Role>,
    ) -> Vec<&SnapshotEntity> {
        let (kind, role) = (kind.into(), role.into());
        self.entities
            .iter()
            .filter(|e| e.kind == kind)
            .filter(|e| {
                e.access
                    .iter()
                    .any(|g| g.role == role && g.username.eq_ignore_ascii_case(username))
            })
            .collect()
    }

    /// A user by username.
    pub fn user(&self, username: &str) -> Option<&SnapshotUser> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_times_are_iso() {
        assert_eq!(created_at(0), "2023-01-01T00:00:00.000000Z");
        assert_eq!(created_at(25), "2023-01-02T01:00:00.000000Z");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00.000000Z");
    }
}
