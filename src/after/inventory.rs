//! `inventory`: who owns what. Every entity of the chosen kinds the caller can see, with
//! its owners, whether each owner is still active, and everyone else who holds a role;
//! then per user and per kind counts, and the orphans (entities whose every owner is
//! deactivated, see [`orphan`](crate::plan::orphan)).
//!
//! The reading is the planner's: every kind listed at once, each access list read as soon
//! as its page arrives, through the one [`Client`] and so at the server's pace. Nothing is
//! written to the server.
//!
//! # The files
//!
//! The CSV has one row per entity, in the server's list order, kind by kind:
//!
//! | column | meaning |
//! |---|---|
//! | `type`, `id`, `name` | the entity |
//! | `owners` | its owners, `; `-separated: usernames, and `group:NAME` / `organization:NAME` |
//! | `owners_active` | per owner, in the same order: `active`, `deactivated`, `unknown` (users/ could not say) or `-` (not a user) |
//! | `members` | everyone else, `NAME:ROLE`; an entry that could not be read is `?NAME:ROLE`; a list that could not be read at all is `?` with the reason |
//! | `created` | when it was created, as the server wrote it; empty where lists give no creation time (data sources, data stores, user blueprints) |
//!
//! Model packages and notebooks (contract §12.2) have rows too, with their owners: their
//! access lists can be read, never written, so they are never orphans (the JSON marks
//! their kinds `read_only`).
//!
//! Beside it, the same name with `.json`: per kind and per user counts, the orphans, and
//! notes on what could not be seen. Both are owner-only (0600): they name every principal.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::after::html;
use crate::api::{ApiError, Client, EntityRef, ErrorClass, ListFilter, User};
use crate::files::{AtomicFile, spreadsheet_cell};
use crate::model::{AccessList, EntityKind, Grant, Role};
use crate::plan::UserIdent;
use crate::plan::orphan::{Deactivated, Ownership, ownership};
use crate::plan::planner::Bars;

/// The `format` of the JSON file.
pub const FORMAT: &str = "handover-inventory";
/// Its version.
pub const VERSION: u32 = 1;

/// What to take stock of.
#[derive(Clone, Debug)]
pub struct InventorySpec {
    /// The kinds to list.
    pub kinds: Vec<EntityKind>,
    /// Only the entities this user holds a role on (`--user`).
    pub user: Option<UserIdent>,
    /// Access-list reads in flight at once.
    pub concurrency: usize,
    /// Draw a progress bar per kind.
    pub progress: bool,
}

/// The organization's users, as far as the caller could list them.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    users: Vec<User>,
    by_id: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
    deactivated: Deactivated,
    /// Whether `users/` could be read at all.
    pub listed: bool,
}

impl Directory {
    /// The users `users/` listed.
    pub fn new(users: Vec<User>) -> Directory {
        let mut by_id = HashMap::new();
        let mut by_name = HashMap::new();
        for (i, u) in users.iter().enumerate() {
            by_id.insert(u.id.to_ascii_lowercase(), i);
            by_name.insert(u.username.to_lowercase(), i);
        }
        Directory {
            deactivated: Deactivated::from_users(&users),
            users,
            by_id,
            by_name,
            listed: true,
        }
    }

    /// Nobody: the caller may not list users.
    pub fn unlisted() -> Directory {
        Directory::default()
    }

    /// A user by username, compared case-insensitively.
    pub fn find(&self, username: &str) -> Option<&User> {
        self.by_name
            .get(&username.to_lowercase())
            .map(|i| &self.users[*i])
    }

    /// The user an access-list entry is, by id, else by name.
    fn user_of(&self, grant: &Grant) -> Option<&User> {
        if !grant.is_user() {
            return None;
        }
        let by_id = grant
            .id
            .as_ref()
            .and_then(|id| self.by_id.get(&id.to_ascii_lowercase()));
        by_id
            .or_else(|| self.by_name.get(&grant.name.to_lowercase()))
            .map(|i| &self.users[*i])
    }

    /// Whether the user of `grant` is active, when the server said.
    fn active_of(&self, grant: &Grant) -> Option<bool> {
        self.user_of(grant).and_then(|u| u.active)
    }
}

/// One kind's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// Entities in the inventory (with `--user`, those the user holds a role on).
    pub entities: u64,
    /// Of those, orphans.
    pub orphans: u64,
    /// Of those, entities whose access list (or an entry of it) could not be read, so
    /// whose owners are not all known.
    pub unreadable: u64,
    /// Entities listed (before `--user`).
    pub listed: u64,
    /// Listed, then gone before their access list was read.
    pub gone: u64,
    /// List items without an id, which could not be looked at at all.
    pub items_without_id: u64,
    /// Whether the list itself was refused (the caller may not list this kind).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_listed: bool,
    /// Whether the list route answered 404: a DataRobot without this kind (an older
    /// version, contract §12.1). A note, not a failed inventory.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_served: bool,
    /// Whether the kind's access list can only be read (model packages, notebooks,
    /// contract §12.2): listed with its owners, never an orphan to hand over.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// One principal's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PrincipalCounts {
    /// `user`, `group`, `organization`.
    pub kind: String,
    /// Whether the account is active; `None` when unknown (and for groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Entities owned.
    pub owned: u64,
    /// Entities held with another role.
    pub member: u64,
    /// The same per kind, `[owned, member]`.
    pub by_type: BTreeMap<EntityKind, [u64; 2]>,
}

/// An orphan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Orphan {
    #[serde(rename = "type")]
    pub kind: EntityKind,
    pub id: String,
    pub name: String,
    /// Its (deactivated) owners.
    pub owners: Vec<String>,
    /// Where it came in its kind's list.
    #[serde(skip)]
    seq: usize,
}

/// What an inventory found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Inventory {
    /// Per kind, in the order asked.
    pub types: BTreeMap<EntityKind, KindCounts>,
    /// Per principal, by username (groups and organizations as `group:NAME`).
    pub users: BTreeMap<String, PrincipalCounts>,
    /// Every orphan, kind by kind in list order.
    pub orphans: Vec<Orphan>,
    /// What could not be seen, in words.
    pub notes: Vec<String>,
    /// Rows written to the CSV.
    pub rows: u64,
    /// Whether `users/` could be listed, so whether owners' states (and orphans) are known.
    pub users_listed: bool,
}

impl Inventory {
    /// The busiest owners, most entities first (ties by name), at most `n`.
    pub fn top_owners(&self, n: usize) -> Vec<(&str, &PrincipalCounts)> {
        let mut owners: Vec<(&str, &PrincipalCounts)> = self
            .users
            .iter()
            .filter(|(_, c)| c.owned > 0)
            .map(|(name, c)| (name.as_str(), c))
            .collect();
        owners.sort_by(|a, b| b.1.owned.cmp(&a.1.owned).then(a.0.cmp(b.0)));
        owners.truncate(n);
        owners
    }
}

impl Inventory {
    /// The page `--html` writes: the counts per type, the 20 busiest owners, the first 500
    /// orphans and the notes.
    pub fn view(&self, endpoint: &str, user: Option<&str>) -> html::InventoryView {
        html::InventoryView {
            title: match user {
                Some(u) => format!("Inventory: what {u} holds"),
                None => "Inventory".to_string(),
            },
            server: endpoint.to_string(),
            generated: crate::plan::rfc3339_utc(std::time::SystemTime::now()),
            user: user.map(str::to_string),
            by_type: self
                .types
                .iter()
                .map(|(kind, c)| html::TypeCounts {
                    kind: kind.as_str().to_string(),
                    entities: c.entities,
                    orphans: c.orphans,
                    unreadable: c.unreadable,
                    read_only: c.read_only,
                })
                .collect(),
            owners: self
                .top_owners(20)
                .into_iter()
                .map(|(name, c)| html::OwnerCount {
                    username: name.to_string(),
                    active: c.active,
                    owned: c.owned,
                })
                .collect(),
            orphans: self
                .orphans
                .iter()
                .take(500)
                .map(|o| html::OrphanRow {
                    kind: o.kind.as_str().to_string(),
                    id: o.id.clone(),
                    name: o.name.clone(),
                    owners: o.owners.clone(),
                })
                .collect(),
            orphans_total: self.orphans.len() as u64,
            notes: self.notes.clone(),
        }
    }
}

/// Why an inventory stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request failed in a way that is not about one entity.
    #[error("the inventory stopped")]
    Api(#[from] ApiError),
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The process exit code this error deserves.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Api(e) => e.exit_code(),
            Error::Write { .. } => crate::exit::FATAL,
        }
    }
}

/// One CSV row, kept until every read is in so that the file comes out in list order.
struct Row {
    kind: EntityKind,
    seq: usize,
    id: String,
    name: String,
    owners: String,
    owners_active: String,
    members: String,
    created: String,
}

/// The inventory's two files: the CSV and its `.json` sibling, created (so checked
/// writable) before anything is sent.
pub struct Outputs {
    csv: AtomicFile,
    json: AtomicFile,
}

impl Outputs {
    /// Starts both files; `out.json` beside `out`. Fails when either cannot be created,
    /// or when `out` already ends in `.json` (the two would be one file).
    pub fn create(out: &Path) -> io::Result<Outputs> {
        let json = json_path(out);
        if json == out {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the CSV's name must not end in .json: the counts go to the same name with .json",
            ));
        }
        Ok(Outputs {
            csv: AtomicFile::create(out)?,
            json: AtomicFile::create(&json)?,
        })
    }

    /// Where the JSON goes.
    pub fn json_path(&self) -> &Path {
        self.json.path()
    }
}

/// `out` with the extension `.json`.
pub fn json_path(out: &Path) -> PathBuf {
    out.with_extension("json")
}

/// What the JSON file holds besides [`Inventory`].
#[derive(Serialize)]
struct JsonFile<'a> {
    format: &'static str,
    version: u32,
    endpoint: &'a str,
    caller: &'a str,
    generated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(flatten)]
    inventory: &'a Inventory,
}

/// Who ran it, and against what: for the JSON file.
pub struct Context<'a> {
    pub endpoint: &'a str,
    pub caller: &'a str,
    pub org_admin: bool,
}

/// Takes the inventory and writes both files. `directory` says who is active
/// ([`Directory::unlisted`] when `users/` was refused).
pub async fn take(
    client: &Client,
    context: &Context<'_>,
    directory: &Directory,
    spec: &InventorySpec,
    outputs: Outputs,
) -> Result<Inventory, Error> {
    let mut inventory = Inventory {
        users_listed: directory.listed,
        ..Inventory::default()
    };
    if !context.org_admin {
        inventory.notes.push(
            "the caller is not an organization administrator: only entities shared with the \
             caller were listed"
                .to_string(),
        );
    }
    if !directory.listed {
        inventory.notes.push(
            "users/ could not be listed (only organization administrators may): whether an \
             owner is active is unknown, so orphans cannot be told"
                .to_string(),
        );
    }
    let rows = read_all(client, directory, spec, &mut inventory).await?;
    for (kind, counts) in &inventory.types {
        if counts.not_listed {
            inventory.notes.push(format!(
                "{} could not be listed (the server refused the caller)",
                kind.plural_label()
            ));
        }
        if counts.not_served {
            inventory.notes.push(format!(
                "{} are not served here (the list answered 404: an older DataRobot?)",
                kind.plural_label()
            ));
        }
        if counts.items_without_id > 0 {
            inventory.notes.push(format!(
                "{}: {} list items without an id could not be looked at",
                kind.plural_label(),
                counts.items_without_id
            ));
        }
        if counts.unreadable > 0 {
            inventory.notes.push(format!(
                "{}: {} access lists (or entries of them) could not be read; their owners are \
                 not all known",
                kind.plural_label(),
                counts.unreadable
            ));
        }
    }
    let read_only: Vec<&str> = inventory
        .types
        .iter()
        .filter(|(_, c)| c.read_only && !c.not_served)
        .map(|(k, _)| k.plural_label())
        .collect();
    if !read_only.is_empty() {
        inventory.notes.push(format!(
            "{} are listed read only: their access lists cannot be written; a notebook moves \
             with its use case and a model package with its registered model, so none is an \
             orphan to hand over",
            read_only.join(" and ")
        ));
    }
    write_files(context, spec, outputs, rows, &inventory)?;
    Ok(inventory)
}

/// Lists and reads everything, filling the counts; returns the rows in list order.
async fn read_all(
    client: &Client,
    directory: &Directory,
    spec: &InventorySpec,
    inventory: &mut Inventory,
) -> Result<Vec<Row>, Error> {
    let (found, arriving) = mpsc::unbounded_channel::<EntityRef>();
    let kinds = spec.kinds.clone();
    let listing = async move {
        let lists: Vec<(EntityKind, Result<_, ApiError>)> = stream::iter(kinds.clone())
            .map(|kind| {
                let found = found.clone();
                async move {
                    let each = move |e: &EntityRef| {
                        let _ = found.send(e.clone());
                    };
                    let listed = client.list_each(kind, &ListFilter::default(), each).await;
                    (kind, listed)
                }
            })
            .buffer_unordered(kinds.len().max(1))
            .collect()
            .await;
        drop(found);
        lists
    };

    let mut bars = Bars::new(spec.progress);
    for kind in &spec.kinds {
        bars.add(*kind, 0);
        inventory.types.insert(
            *kind,
            KindCounts {
                read_only: !kind.is_writable(),
                ..KindCounts::default()
            },
        );
    }
    let bars = bars;
    // Each list sends in its own order, so the order of arrival, numbered, is each kind's
    // list order.
    let arrived = stream::unfold(arriving, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    })
    .enumerate()
    .inspect(|(_, e)| bars.grow(e.kind));
    let mut reads = std::pin::pin!(
        arrived
            .map(|(seq, entity)| async move {
                let acl = client.access_list(entity.kind, &entity.id).await;
                (seq, entity, acl)
            })
            .buffer_unordered(spec.concurrency.max(1))
    );
    let reading = async {
        let mut rows = Vec::new();
        while let Some((seq, entity, acl)) = reads.next().await {
            bars.inc(entity.kind);
            let acl = match acl {
                Ok(list) => Ok(list),
                Err(e) if e.class() == ErrorClass::Gone => {
                    if let Some(c) = inventory.types.get_mut(&entity.kind) {
                        c.gone += 1;
                    }
                    continue;
                }
                Err(e) if e.class() == ErrorClass::NotAllowed || e.is_shape() => {
                    Err(format!("cannot read the access list: {e}"))
                }
                Err(e) => return Err(Error::Api(e)),
            };
            if let Some(row) = account(inventory, directory, spec, seq, entity, acl) {
                rows.push(row);
            }
        }
        Ok(rows)
    };
    let (lists, rows) = tokio::join!(listing, reading);
    bars.finish();
    let mut rows = rows?;
    for (kind, listed) in lists {
        let c = inventory.types.entry(kind).or_default();
        match listed {
            Ok(listing) => {
                c.listed = listing.entities.len() as u64;
                c.items_without_id = listing.unreadable.len() as u64;
            }
            Err(e) if e.class() == ErrorClass::NotAllowed => c.not_listed = true,
            // A kind this DataRobot does not have, or a list in a shape the client does
            // not read: that kind's problem, said in the notes; the rest goes on.
            Err(e) if e.class() == ErrorClass::Gone => c.not_served = true,
            Err(e) if e.is_shape() => {
                c.not_listed = true;
                inventory
                    .notes
                    .push(format!("{} could not be listed: {e}", kind.plural_label()));
            }
            Err(e) => return Err(Error::Api(e)),
        }
    }
    rows.sort_by_key(|r| (r.kind, r.seq));
    inventory.orphans.sort_by_key(|o| (o.kind, o.seq));
    inventory.rows = rows.len() as u64;
    Ok(rows)
}

/// Counts one entity in, and makes its row (`None` when `--user` leaves it out).
fn account(
    inventory: &mut Inventory,
    directory: &Directory,
    spec: &InventorySpec,
    seq: usize,
    entity: EntityRef,
    acl: Result<AccessList, String>,
) -> Option<Row> {
    let list = match &acl {
        Ok(list) => list,
        Err(_) => &AccessList::default(),
    };
    if let Some(user) = &spec.user {
        let holds = list.grants.iter().any(|g| user.matches(g))
            || list
                .unreadable
                .iter()
                .any(|u| u.may_be(&user.grant(Role::Consumer, None)));
        if !holds {
            return None;
        }
    }
    let counts = inventory.types.entry(entity.kind).or_default();
    counts.entities += 1;
    let mut owners = Vec::new();
    let mut owners_active = Vec::new();
    let mut members = Vec::new();
    for g in &list.grants {
        let key = principal_key(g);
        let active = directory.active_of(g);
        if g.role == Role::Owner {
            owners.push(key.clone());
            owners_active.push(match (g.is_user(), active) {
                (false, _) => "-",
                (true, Some(true)) => "active",
                (true, Some(false)) => "deactivated",
                (true, None) => "unknown",
            });
        } else {
            members.push(format!("{key}:{}", g.role));
        }
        let p = inventory.users.entry(key).or_default();
        if p.kind.is_empty() {
            p.kind = g.recipient_type.clone();
            p.active = active;
        }
        let slot = usize::from(g.role != Role::Owner);
        if slot == 0 {
            p.owned += 1;
        } else {
            p.member += 1;
        }
        p.by_type.entry(entity.kind).or_default()[slot] += 1;
    }
    for u in &list.unreadable {
        members.push(format!(
            "?{}:{}",
            u.name.as_deref().or(u.id.as_deref()).unwrap_or(""),
            u.role.as_deref().unwrap_or("")
        ));
    }
    match &acl {
        Err(reason) => {
            counts.unreadable += 1;
            members.push(format!("? {reason}"));
        }
        // A read-only kind moves with another entity (a notebook with its use case, a
        // model package with its registered model): never an orphan to hand over.
        Ok(list) if !entity.kind.is_writable() => {
            if !list.unreadable.is_empty() {
                counts.unreadable += 1;
            }
        }
        Ok(list) => match ownership(list, &directory.deactivated) {
            // Never without users/: nobody is known to be deactivated then.
            Ownership::Orphan => {
                counts.orphans += 1;
                inventory.orphans.push(Orphan {
                    kind: entity.kind,
                    id: entity.id.clone(),
                    name: entity.name.clone(),
                    owners: owners.clone(),
                    seq,
                });
            }
            Ownership::Unknown(_) if !list.unreadable.is_empty() => counts.unreadable += 1,
            _ => {}
        },
    }
    Some(Row {
        kind: entity.kind,
        seq,
        id: entity.id,
        name: entity.name,
        owners: owners.join("; "),
        owners_active: owners_active.join("; "),
        members: members.join("; "),
        created: entity.created.unwrap_or_default(),
    })
}

/// A user by username; a group or organization as `group:NAME`.
fn principal_key(g: &Grant) -> String {
    if g.is_user() {
        g.name.clone()
    } else {
        format!("{}:{}", g.recipient_type, g.name)
    }
}

fn write_files(
    context: &Context<'_>,
    spec: &InventorySpec,
    outputs: Outputs,
    rows: Vec<Row>,
    inventory: &Inventory,
) -> Result<(), Error> {
    let Outputs { csv, mut json } = outputs;
    let csv_path = csv.path().to_path_buf();
    let csv_error = |source: io::Error| Error::Write {
        path: csv_path.clone(),
        source,
    };
    let mut w = csv::Writer::from_writer(csv);
    w.write_record([
        "type",
        "id",
        "name",
        "owners",
        "owners_active",
        "members",
        "created",
    ])
    .map_err(|e| csv_error(e.into()))?;
    for r in rows {
        w.write_record([
            r.kind.as_str(),
            &spreadsheet_cell(&r.id),
            &spreadsheet_cell(&r.name),
            &spreadsheet_cell(&r.owners),
            &r.owners_active,
            &spreadsheet_cell(&r.members),
            &spreadsheet_cell(&r.created),
        ])
        .map_err(|e| csv_error(e.into()))?;
    }
    let csv = w
        .into_inner()
        .map_err(|e| csv_error(io::Error::other(e.to_string())))?;
    csv.commit().map_err(csv_error)?;

    let json_path = json.path().to_path_buf();
    let file = JsonFile {
        format: FORMAT,
        version: VERSION,
        endpoint: context.endpoint,
        caller: context.caller,
        generated: crate::plan::rfc3339_utc(std::time::SystemTime::now()),
        user: spec.user.as_ref().map(|u| u.username.as_str()),
        inventory,
    };
    let json_error = |source: io::Error| Error::Write {
        path: json_path.clone(),
        source,
    };
    serde_json::to_writer_pretty(&mut json, &file).map_err(|e| json_error(e.into()))?;
    json.write_all(b"\n").map_err(json_error)?;
    json.commit().map_err(json_error)?;
    Ok(())
}

/// The terminal's table: per kind, the busiest owners, and the orphans (at most `shown`
/// of them, the rest counted).
pub fn render(inventory: &Inventory, shown: usize) -> String {
    let mut out = format!(
        "{:<24} {:>8} {:>8} {:>11}\n",
        "type", "entities", "orphans", "unreadable"
    );
    let mut total = KindCounts::default();
    for (kind, c) in &inventory.types {
        out.push_str(&format!(
            "{:<24} {:>8} {:>8} {:>11}{}\n",
            kind.plural_label(),
            c.entities,
            c.orphans,
            c.unreadable,
            match (c.not_listed, c.not_served, c.read_only) {
                (true, _, _) => "  (not listed)",
                (_, true, _) => "  (not served)",
                (_, _, true) => "  (read only)",
                _ => "",
            }
        ));
        total.entities += c.entities;
        total.orphans += c.orphans;
        total.unreadable += c.unreadable;
    }
    out.push_str(&format!(
        "{:<24} {:>8} {:>8} {:>11}\n",
        "total", total.entities, total.orphans, total.unreadable
    ));
    let top = inventory.top_owners(10);
    if !top.is_empty() {
        out.push_str("\ntop owners:\n");
        for (name, c) in top {
            let state = match (c.kind.as_str(), c.active) {
                ("user", Some(true)) => "active",
                ("user", Some(false)) => "deactivated",
                ("user", None) => "unknown",
                _ => c.kind.as_str(),
            };
            out.push_str(&format!("  {name:<40} {state:<12} {:>7} owned\n", c.owned));
        }
    }
    if total.orphans > 0 {
        out.push_str(&format!(
            "\norphans (every owner deactivated): {}\n",
            total.orphans
        ));
        for o in inventory.orphans.iter().take(shown) {
            out.push_str(&format!(
                "  {:<22} {}  {:?}  owned by {}\n",
                o.kind.as_str(),
                o.id,
                o.name,
                o.owners.join(", ")
            ));
        }
        if inventory.orphans.len() > shown {
            out.push_str(&format!(
                "  … and {} more (all in the JSON file)\n",
                inventory.orphans.len() - shown
            ));
        }
    }
    for note in &inventory.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
