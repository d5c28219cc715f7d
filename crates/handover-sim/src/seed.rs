//! What the simulator starts with: users and entities with their access lists, as a JSON
//! seed file ([`Seed`]) or generated deterministically from a few numbers ([`GenSpec`]).
//!
//! The generator builds the world a migration meets: a departing user who owns entities of
//! every kind, a successor, an org admin who runs the tool, an inactive account, and
//! colleagues who co-own, edit and consume, some of them without the right to reshare.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Deserializer, Serialize};

use crate::kinds::{ApiFamily, EntityKind, Role};

use crate::SimError;

/// The admin's username in generated seeds.
pub const ADMIN_USERNAME: &str = "admin@acme.test";
/// The departing user's username in generated seeds, unless [`GenSpec::departing`] says otherwise.
pub const DEPARTING_USERNAME: &str = "departing@acme.test";
/// The successor's username in generated seeds.
pub const SUCCESSOR_USERNAME: &str = "successor@acme.test";
/// The one inactive account in generated seeds.
pub const INACTIVE_USERNAME: &str = "inactive@acme.test";
/// The admin's API token in generated seeds, unless [`GenSpec::admin_token`] says otherwise.
pub const DEFAULT_ADMIN_TOKEN: &str = "sim-admin-token";

/// The token a seed user gets when the seed names none: `sim-token-<username>`.
pub fn default_token(username: &str) -> String {
    format!("sim-token-{username}")
}

/// The simulator's starting data; the format of `--seed-file` and `POST /__sim/reset`.
/// Unknown top-level keys (such as `groups`) are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Seed {
    /// Every account, active or not.
    #[serde(default)]
    pub users: Vec<SeedUser>,
    /// Every entity of every kind, in the order lists return them.
    #[serde(default)]
    pub entities: Vec<SeedEntity>,
}

/// An account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedUser {
    /// 24 lowercase hex digits.
    pub id: String,
    /// The login, an e-mail address; unique, compared case-insensitively.
    pub username: String,
    /// "First Last"; the first word becomes `firstName`, the rest `lastName`.
    #[serde(default)]
    pub full_name: String,
    /// Inactive accounts cannot authenticate and cannot receive shares.
    #[serde(default = "yes")]
    pub active: bool,
    /// Org admins see and may share every entity.
    #[serde(default)]
    pub org_admin: bool,
    /// The API token; empty means [`default_token`] of the username.
    #[serde(default)]
    pub token: String,
}

/// An entity and who holds which role on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedEntity {
    /// Which of the 27 kinds (snake_case, as in plans).
    pub kind: EntityKind,
    /// 24 lowercase hex digits, unique within the kind.
    pub id: String,
    /// Display name (`projectName`, `label`, `canonicalName`, … depending on the kind).
    pub name: String,
    /// Username of the creator; defaults to the first OWNER of `access`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// The users' entries of the access list.
    #[serde(default)]
    pub access: Vec<SeedGrant>,
    /// Entries of groups and organizations (contract C6), rendered after the users' and
    /// never changed by a share (the simulator shares with users only). Their role is any
    /// string, so that a test can play a role name no client knows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<SeedPrincipal>,
    /// Data sources and stores: the type the list filter `type` matches, `jdbc` (when not
    /// given), `dr-database-v1` or `dr-connector-v1` (S3, ADLS, GCS, Snowflake connectors;
    /// contract C1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_type: Option<String>,
    /// The entity a share of this one also shares (contract C7): a data source's data
    /// store, which a grant on the source gives CONSUMER; a custom model's or task's
    /// training dataset, likewise. For a model package, its registered model, and for a
    /// notebook, its use case: the entity whose access list it shows (§12.2); its own
    /// `access` is then not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked: Option<String>,
    /// Notification policy templates: the `{relatedEntityType}` their paths name,
    /// `deployment` (when not given) or `customjob` (contract §12.1 X7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_entity_type: Option<String>,
}

/// An access-list entry of a group or an organization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedPrincipal {
    /// `group`, `organization`, `externalApplication` or `role` (any string is rendered as
    /// given).
    pub recipient_type: String,
    /// The principal's id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// The role name exactly as reads return it.
    pub role: String,
}

/// One user's role on an entity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedGrant {
    /// The holder's username.
    pub username: String,
    /// Any role name DataRobot uses (`OWNER`, `USER`, `READ_ONLY`, …); written back canonical.
    #[serde(deserialize_with = "role_any_alias")]
    pub role: Role,
    /// Whether the holder may share further (default true).
    #[serde(default = "yes")]
    pub can_share: bool,
}

impl SeedGrant {
    /// A grant with `canShare` true.
    pub fn new(username: impl Into<String>, role: impl Into<Role>) -> Self {
        SeedGrant {
            username: username.into(),
            role: role.into(),
            can_share: true,
        }
    }
}

fn yes() -> bool {
    true
}

fn role_any_alias<'de, D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
    let name = String::deserialize(d)?;
    Role::from_wire(&name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown role {name:?} in seed")))
}

/// The types of data sources and stores (contract §4, C1).
pub const STORE_TYPES: [&str; 3] = ["jdbc", "dr-database-v1", "dr-connector-v1"];

/// Whether `s` looks like a DataRobot object id: 24 lowercase hex digits.
pub fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Seed {
    /// Reads a seed from a JSON file.
    pub fn load(path: &Path) -> Result<Seed, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ReadSeed {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| SimError::ParseSeed {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The token of a user, by username (case-insensitive), with the default filled in.
    pub fn token_of(&self, username: &str) -> Option<String> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
            .map(SeedUser::effective_token)
    }

    /// The first org admin, if any: the account a migration runs as.
    pub fn admin(&self) -> Option<&SeedUser> {
        self.users.iter().find(|u| u.org_admin && u.active)
    }

    /// Checks ids, uniqueness and references, so that the server can trust the data.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |msg: String| Err(SimError::InvalidSeed(msg));
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        let mut tokens = HashSet::new();
        for u in &self.users {
            if !is_object_id(&u.id) {
                return bad(format!(
                    "user {:?}: id {:?} is not 24 lowercase hex digits",
                    u.username, u.id
                ));
            }
            if !ids.insert(u.id.as_str()) {
                return bad(format!("user id {} appears twice", u.id));
            }
            if u.username.trim().is_empty() {
                return bad(format!("user {} has an empty username", u.id));
            }
            if !names.insert(u.username.to_ascii_lowercase()) {
                return bad(format!("username {} appears twice", u.username));
            }
            if !tokens.insert(u.effective_token()) {
                return bad(format!("user {}: token is used twice", u.username));
            }
        }
        let mut entity_ids = HashSet::new();
        for e in &self.entities {
            if !is_object_id(&e.id) {
                return bad(format!(
                    "{} {:?}: id is not 24 lowercase hex digits",
                    e.kind, e.id
                ));
            }
            if !entity_ids.insert((e.kind, e.id.as_str())) {
                return bad(format!("{} {} appears twice", e.kind, e.id));
            }
            if let Some(c) = &e.creator
                && !names.contains(&c.to_ascii_lowercase())
            {
                return bad(format!("{} {}: creator {c} is not a user", e.kind, e.id));
            }
            let mut holders = HashSet::new();
            for g in &e.access {
                let lc = g.username.to_ascii_lowercase();
                if !names.contains(&lc) {
                    return bad(format!("{} {}: {} is not a user", e.kind, e.id, g.username));
                }
                if !holders.insert(lc) {
                    return bad(format!(
                        "{} {}: {} is listed twice",
                        e.kind, e.id, g.username
                    ));
                }
            }
            if let Some(t) = &e.related_entity_type
                && (!e.kind.facts().related_segment
                    || !crate::kinds::RELATED_ENTITY_TYPES.contains(&t.as_str()))
            {
                return bad(format!(
                    "{} {}: relatedEntityType {t:?} is for notification policy templates, one of {}",
                    e.kind,
                    e.id,
                    crate::kinds::RELATED_ENTITY_TYPES.join(", ")
                ));
            }
            if let Some(t) = &e.store_type
                && !STORE_TYPES.contains(&t.as_str())
            {
                return bad(format!(
                    "{} {}: storeType {t:?} is not one of {}",
                    e.kind,
                    e.id,
                    STORE_TYPES.join(", ")
                ));
            }
        }
        for e in &self.entities {
            let Some(linked) = &e.linked else { continue };
            let target = match e.kind {
                EntityKind::DataSource => EntityKind::DataStore,
                EntityKind::CustomModel | EntityKind::CustomTask => EntityKind::Dataset,
                k if k.facts().parent.is_some() => k.facts().parent.unwrap_or(k),
                _ => {
                    return bad(format!(
                        "{} {}: only data sources, custom models, custom tasks, model packages and notebooks link to another entity",
                        e.kind, e.id
                    ));
                }
            };
            if !entity_ids.contains(&(target, linked.as_str())) {
                return bad(format!(
                    "{} {}: linked {target} {linked} does not exist",
                    e.kind, e.id
                ));
            }
        }
        Ok(())
    }

    /// Generates a seed from a spec; the same spec always gives the same seed.
    pub fn generate(spec: &GenSpec) -> Seed {
        Generator::new(spec).run()
    }
}

impl SeedUser {
    /// The token, or the default one when the seed gave none.
    pub fn effective_token(&self) -> String {
        if self.token.is_empty() {
            default_token(&self.username)
        } else {
            self.token.clone()
        }
    }
}

/// How to generate a seed. Every field has a default (`GenSpec::default()`), so a JSON spec
/// may give only some.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenSpec {
    /// Seed of the generator's RNG.
    pub seed: u64,
    /// Number of accounts, including the admin, the departing user, the successor and the
    /// inactive account (at least 5, so that there is one colleague).
    pub users: usize,
    /// Username of the user whose entities are migrated.
    pub departing: String,
    /// Username of the org admin.
    pub admin: String,
    /// The org admin's API token.
    pub admin_token: String,
    /// Username of the successor.
    pub successor: String,
    /// How many entities of each kind the departing user owns.
    pub per_kind: BTreeMap<EntityKind, usize>,
    /// Extra entities per owned one (rounded up per kind), half owned by others only and
    /// half where the departing user is only an editor or consumer.
    pub extra_ratio: f64,
    /// Share of entities whose access list also holds a group or organization entry.
    pub principal_ratio: f64,
    /// Share of those group and organization entries whose role is a name outside every
    /// documented vocabulary (contract C6).
    pub unknown_role_ratio: f64,
    /// Share of data sources and stores that are connector-based (`dr-connector-v1`), which
    /// a list without `type=all` does not show (contract C1).
    pub connector_ratio: f64,
    /// Link every data source to a data store and every custom model and task to a
    /// dataset, so that shares have the side effects of contract C7.
    pub link: bool,
    /// Deactivated former employees (`departed1@acme.test`, …) besides the one inactive
    /// account: the people whose entities nobody who can act on them owns any more.
    pub departed: usize,
    /// Per kind: entities whose every owner is one of the [`departed`](GenSpec::departed)
    /// users ("orphans"), and half as many (rounded up) owned by a departed user together
    /// with an active colleague, which are not orphans. Needs `departed` > 0.
    pub orphans: usize,
}

impl Default for GenSpec {
    fn default() -> Self {
        GenSpec::uniform(0, 5)
    }
}

impl GenSpec {
    /// A spec with `per_kind_count` owned entities of every one of the 27 kinds (for model
    /// packages and notebooks: in registered models and use cases the departing user owns).
    pub fn uniform(seed: u64, per_kind_count: usize) -> GenSpec {
        GenSpec {
            seed,
            users: 20,
            departing: DEPARTING_USERNAME.to_string(),
            admin: ADMIN_USERNAME.to_string(),
            admin_token: DEFAULT_ADMIN_TOKEN.to_string(),
            successor: SUCCESSOR_USERNAME.to_string(),
            per_kind: EntityKind::ALL
                .iter()
                .map(|k| (*k, per_kind_count))
                .collect(),
            extra_ratio: 0.5,
            principal_ratio: 0.0,
            unknown_role_ratio: 0.0,
            connector_ratio: 0.0,
            link: false,
            departed: 0,
            orphans: 0,
        }
    }

    /// [`uniform`](GenSpec::uniform) with the rest of a real tenant: group and
    /// organization entries on a fifth of the access lists (a tenth of them with role names
    /// no client knows), a third of the data sources and stores connector-based, and data
    /// sources, custom models and tasks linked to what a share of them also shares. The
    /// world of `handover sim` and `handover demo`.
    pub fn realistic(seed: u64, per_kind_count: usize) -> GenSpec {
        GenSpec {
            principal_ratio: 0.2,
            unknown_role_ratio: 0.1,
            connector_ratio: 0.34,
            link: true,
            ..GenSpec::uniform(seed, per_kind_count)
        }
    }
}

const FIRST_NAMES: [&str; 16] = [
    "Alex", "Blake", "Casey", "Devon", "Emery", "Finley", "Gray", "Harper", "Indy", "Jordan",
    "Kai", "Logan", "Morgan", "Noel", "Parker", "Quinn",
];
const LAST_NAMES: [&str; 12] = [
    "Adams", "Brooks", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
    "Kowalski", "Lopez",
];
const WORDS: [&str; 16] = [
    "churn",
    "revenue",
    "fraud",
    "demand",
    "credit",
    "retention",
    "pricing",
    "inventory",
    "claims",
    "marketing",
    "supply",
    "energy",
    "risk",
    "sales",
    "support",
    "traffic",
];

/// Which of the three shapes a generated entity's access list has.
#[derive(Clone, Copy)]
enum Shape {
    /// The departing user owns it (alone or with a co-owner).
    OwnedByDeparting,
    /// Someone else owns it; the departing user has no role.
    OthersOnly,
    /// Someone else owns it; the departing user is an editor or a consumer.
    DepartingMember,
}

struct Generator<'a> {
    spec: &'a GenSpec,
    rng: StdRng,
    used_ids: HashSet<String>,
    users: Vec<SeedUser>,
}

impl<'a> Generator<'a> {
    fn new(spec: &'a GenSpec) -> Self {
        Generator {
            spec,
            rng: StdRng::seed_from_u64(spec.seed),
            used_ids: HashSet::new(),
            users: Vec::new(),
        }
    }

    fn object_id(&mut self) -> String {
        loop {
            let bytes: [u8; 12] = self.rng.random();
            let id = hex::encode(bytes);
            if self.used_ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn add_user(
        &mut self,
        username: &str,
        full_name: String,
        active: bool,
        admin: bool,
        token: String,
    ) {
        let id = self.object_id();
        self.users.push(SeedUser {
            id,
            username: username.to_string(),
            full_name,
            active,
            org_admin: admin,
            token,
        });
    }

    fn run(mut self) -> Seed {
        let spec = self.spec;
        self.add_user(
            &spec.admin,
            "Ada Admin".into(),
            true,
            true,
            spec.admin_token.clone(),
        );
        self.add_user(
            &spec.departing,
            "Dee Parting".into(),
            true,
            false,
            default_token(&spec.departing),
        );
        self.add_user(
            &spec.successor,
            "Sam Successor".into(),
            true,
            false,
            default_token(&spec.successor),
        );
        self.add_user(
            INACTIVE_USERNAME,
            "Ina Active".into(),
            false,
            false,
            default_token(INACTIVE_USERNAME),
        );
        let others = spec.users.max(5) - 4;
        for n in 1..=others {
            let first = FIRST_NAMES[(n - 1) % FIRST_NAMES.len()];
            let last = LAST_NAMES[(n - 1) / FIRST_NAMES.len() % LAST_NAMES.len()];
            let username = format!("user{n}@acme.test");
            let token = default_token(&username);
            self.add_user(&username, format!("{first} {last}"), true, false, token);
        }

        let mut entities = Vec::new();
        for (&kind, &owned) in &spec.per_kind {
            if kind.facts().parent.is_some() {
                continue;
            }
            let extra = (owned as f64 * spec.extra_ratio.max(0.0)).ceil() as usize;
            let mut shapes: Vec<Shape> =
                std::iter::repeat_n(Shape::OwnedByDeparting, owned).collect();
            for i in 0..extra {
                shapes.push(if i % 2 == 0 {
                    Shape::OthersOnly
                } else {
                    Shape::DepartingMember
                });
            }
            // Mixed order, so that a page of a list holds every shape.
            shapes.shuffle(&mut self.rng);
            for (n, shape) in shapes.into_iter().enumerate() {
                entities.push(self.entity(kind, n + 1, shape));
            }
        }
        // Read-only kinds last (their ids come after every other kind's, so the rest of
        // the world is the one a spec without them gives).
        for (&kind, &owned) in &spec.per_kind {
            if let Some(parent) = kind.facts().parent {
                self.add_children(kind, parent, owned, &mut entities);
            }
        }
        if spec.principal_ratio > 0.0 || spec.connector_ratio > 0.0 || spec.link {
            // A second RNG, so that a realistic world holds the same users and entities
            // as the uniform one of the same seed, plus what this adds.
            let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x005e_ed0f_7e1a);
            add_realism(spec, &mut rng, &mut entities);
        }
        if spec.departed > 0 {
            // Last, with an RNG of their own, so that the rest of the world is the one the
            // same spec without departed users gives.
            self.add_departed(&mut entities);
        }
        Seed {
            users: self.users,
            entities,
        }
    }

    /// Model packages or notebooks (§12.2): `owned` of them in parents the departing user
    /// owns, and the extra ratio's share in others' parents (half of those where the
    /// departing user is a member). Each shows its parent's access list; its own seeded
    /// access is a copy, for a reader of the seed.
    fn add_children(
        &mut self,
        kind: EntityKind,
        parent: EntityKind,
        owned: usize,
        entities: &mut Vec<SeedEntity>,
    ) {
        let departing = self.spec.departing.clone();
        let holds = |e: &SeedEntity, owner: bool| {
            e.access.iter().any(|g| {
                g.username.eq_ignore_ascii_case(&departing) && (g.role == Role::Owner) == owner
            })
        };
        let parents: Vec<SeedEntity> = entities
            .iter()
            .filter(|e| e.kind == parent)
            .cloned()
            .collect();
        let mine: Vec<&SeedEntity> = parents.iter().filter(|e| holds(e, true)).collect();
        let member: Vec<&SeedEntity> = parents.iter().filter(|e| holds(e, false)).collect();
        let others: Vec<&SeedEntity> = parents
            .iter()
            .filter(|e| {
                !e.access
                    .iter()
                    .any(|g| g.username.eq_ignore_ascii_case(&departing))
            })
            .collect();
        let extra = (owned as f64 * self.spec.extra_ratio.max(0.0)).ceil() as usize;
        let mut picks: Vec<&SeedEntity> = Vec::new();
        for i in 0..owned {
            picks.extend(mine.get(i % mine.len().max(1)).copied());
        }
        for i in 0..extra {
            let pool = if i % 2 == 0 { &others } else { &member };
            picks.extend(pool.get(i / 2 % pool.len().max(1)).copied());
        }
        for (n, p) in picks.into_iter().enumerate() {
            let id = self.object_id();
            let word = WORDS.choose(&mut self.rng).copied().unwrap_or("misc");
            entities.push(SeedEntity {
                kind,
                id,
                name: format!("{word} {} {}", kind.as_str().replace('_', " "), n + 1),
                creator: p.creator.clone(),
                access: p.access.clone(),
                principals: Vec::new(),
                store_type: None,
                linked: Some(p.id.clone()),
                related_entity_type: None,
            });
        }
    }

    /// The departed users and what they left behind ([`GenSpec::orphans`]).
    fn add_departed(&mut self, entities: &mut Vec<SeedEntity>) {
        let spec = self.spec;
        let colleagues: Vec<String> = self.users[4..].iter().map(|u| u.username.clone()).collect();
        let departed: Vec<String> = (1..=spec.departed)
            .map(|n| format!("departed{n}@acme.test"))
            .collect();
        for (n, username) in departed.iter().enumerate() {
            let token = default_token(username);
            self.add_user(
                username,
                format!("Former Employee{}", n + 1),
                false,
                false,
                token,
            );
        }
        let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x0de9_a27e_d000);
        for &kind in spec.per_kind.keys() {
            if kind.facts().parent.is_some() {
                // A model package or notebook has its parent's access list.
                continue;
            }
            let first = entities.iter().filter(|e| e.kind == kind).count() + 1;
            let shared = spec.orphans.div_ceil(2);
            for n in 0..spec.orphans + shared {
                let mut owners: Vec<String> =
                    departed.choose_multiple(&mut rng, 2).cloned().collect();
                if n < spec.orphans {
                    // Co-owned by two departed users now and then; orphaned all the same.
                    owners.truncate(if rng.random_bool(0.3) { 2 } else { 1 });
                } else {
                    owners.truncate(1);
                    owners.extend(colleagues.choose(&mut rng).cloned());
                }
                let mut access: Vec<SeedGrant> = owners
                    .iter()
                    .map(|o| SeedGrant::new(o, Role::Owner))
                    .collect();
                for role in [Role::Editor, Role::Consumer] {
                    if rng.random_bool(0.5)
                        && let Some(who) = colleagues.choose(&mut rng)
                        && access.iter().all(|g| &g.username != who)
                    {
                        access.push(SeedGrant::new(who, role));
                    }
                }
                let word = WORDS.choose(&mut rng).copied().unwrap_or("misc");
                let id = self.object_id();
                entities.push(SeedEntity {
                    kind,
                    id,
                    name: format!("{word} {} {}", kind.as_str().replace('_', " "), first + n),
                    creator: Some(owners[0].clone()),
                    access,
                    principals: Vec::new(),
                    store_type: None,
                    linked: None,
                    related_entity_type: related_type(kind, first + n),
                });
            }
        }
    }

    fn entity(&mut self, kind: EntityKind, n: usize, shape: Shape) -> SeedEntity {
        let id = self.object_id();
        let word = WORDS.choose(&mut self.rng).copied().unwrap_or("misc");
        let name = format!("{word} {} {n}", kind.as_str().replace('_', " "));
        // Colleagues: everyone after the admin, departing, successor and inactive accounts.
        let mut pool: Vec<String> = self.users[4..].iter().map(|u| u.username.clone()).collect();
        pool.shuffle(&mut self.rng);
        let mut access = Vec::new();
        let departing = self.spec.departing.clone();
        match shape {
            Shape::OwnedByDeparting => access.push(SeedGrant::new(&departing, Role::Owner)),
            Shape::OthersOnly | Shape::DepartingMember => {
                if let Some(owner) = pool.pop() {
                    access.push(SeedGrant::new(owner, Role::Owner));
                }
            }
        }
        if self.rng.random_bool(0.2)
            && let Some(co) = pool.pop()
        {
            access.push(SeedGrant::new(co, Role::Owner));
        }
        let creator = if access.len() > 1 && self.rng.random_bool(0.5) {
            access[1].username.clone()
        } else {
            access[0].username.clone()
        };
        if let Shape::DepartingMember = shape {
            let role = if self.rng.random_bool(0.5) {
                Role::Editor
            } else {
                Role::Consumer
            };
            access.push(SeedGrant::new(&departing, role));
        }
        let editors = self.rng.random_range(0..=2);
        let consumers = self.rng.random_range(0..=3);
        for role in std::iter::repeat_n(Role::Editor, editors)
            .chain(std::iter::repeat_n(Role::Consumer, consumers))
        {
            if let Some(who) = pool.pop() {
                let can_share = !self.rng.random_bool(0.3);
                access.push(SeedGrant {
                    username: who,
                    role,
                    can_share,
                });
            }
        }
        if self.rng.random_bool(0.15) {
            let role = if self.rng.random_bool(0.5) {
                Role::Editor
            } else {
                Role::Consumer
            };
            access.push(SeedGrant::new(&self.spec.successor, role));
        }
        if self.rng.random_bool(0.1) {
            access.push(SeedGrant::new(INACTIVE_USERNAME, Role::Consumer));
        }
        SeedEntity {
            kind,
            id,
            name,
            creator: Some(creator),
            access,
            principals: Vec::new(),
            store_type: None,
            linked: None,
            related_entity_type: related_type(kind, n),
        }
    }
}

/// A generated notification policy template's related entity type: deployments and custom
/// jobs by turns (contract §12.1 X7); `None` for every other kind.
fn related_type(kind: EntityKind, n: usize) -> Option<String> {
    kind.facts()
        .related_segment
        .then(|| crate::kinds::RELATED_ENTITY_TYPES[n % 2].to_string())
}

/// External applications (contract §12.1 X2–X9) every generated tenant has: (id, name).
const EXTERNAL_APPS: [(&str, &str); 2] = [
    ("6c0000000000000000000001", "Slack connector"),
    ("6c0000000000000000000002", "Teams bot"),
];
/// RBAC roles (contract §12.1 X10–X12) every generated tenant has: (id, name).
const RBAC_ROLES: [(&str, &str); 2] = [
    ("6b0000000000000000000001", "Data Scientist"),
    ("6b0000000000000000000002", "MLOps Engineer"),
];

/// Groups every generated tenant has: (id, name).
const GROUPS: [(&str, &str); 3] = [
    ("6a0000000000000000000001", "Data Science"),
    ("6a0000000000000000000002", "Analysts"),
    ("6a0000000000000000000003", "ML Platform"),
];
/// The organization of every generated tenant.
const ORGANIZATION: (&str, &str) = ("5f0000000000000000000001", "Acme");
/// Role names no documented vocabulary has (contract C6: reads may carry any string).
const UNKNOWN_ROLES: [&str; 3] = ["DATA_SCIENTIST", "ADMIN", "VIEWER_PLUS"];
/// The unknown names a Workload API kind may carry: its role enum has the first two
/// (contract §12.1 X10), and a write of any other would be refused.
const WORKLOAD_UNKNOWN_ROLES: [&str; 2] = ["DATA_SCIENTIST", "ADMIN"];

/// The read-only and read-write names a kind's reads use (contract §6, "Roles accepted →
/// returned"; [`EntityKind::wire_role`]).
fn group_role_names(kind: EntityKind) -> [&'static str; 2] {
    [kind.wire_role(Role::Consumer), kind.wire_role(Role::Editor)]
}

/// Adds what [`GenSpec::realistic`] asks for to generated entities: group and
/// organization entries, connector-based data sources and stores, and links.
fn add_realism(spec: &GenSpec, rng: &mut StdRng, entities: &mut [SeedEntity]) {
    let stores: Vec<String> = entities
        .iter()
        .filter(|e| e.kind == EntityKind::DataStore)
        .map(|e| e.id.clone())
        .collect();
    let datasets: Vec<String> = entities
        .iter()
        .filter(|e| e.kind == EntityKind::Dataset)
        .map(|e| e.id.clone())
        .collect();
    for e in entities.iter_mut() {
        if e.kind.facts().parent.is_some() {
            // A model package or notebook shows its parent's access list.
            continue;
        }
        if spec.principal_ratio > 0.0 && rng.random_bool(spec.principal_ratio.min(1.0)) {
            let (id, name, recipient_type) = if rng.random_bool(0.25) {
                (ORGANIZATION.0, ORGANIZATION.1, "organization")
            } else {
                let (id, name) = GROUPS[rng.random_range(0..GROUPS.len())];
                (id, name, "group")
            };
            let unknown: &[&str] = match e.kind.family() {
                ApiFamily::Classic => &UNKNOWN_ROLES,
                ApiFamily::Workload => &WORKLOAD_UNKNOWN_ROLES,
            };
            let role = if spec.unknown_role_ratio > 0.0
                && rng.random_bool(spec.unknown_role_ratio.min(1.0))
            {
                unknown[rng.random_range(0..unknown.len())]
            } else {
                group_role_names(e.kind)[rng.random_range(0..2)]
            };
            e.principals.push(SeedPrincipal {
                recipient_type: recipient_type.to_string(),
                id: id.to_string(),
                name: name.to_string(),
                role: role.to_string(),
            });
        }
        // §12.1: the non-user recipients of the new types, on half of their access lists.
        if let Some(recipient_type) = e.kind.facts().extra_recipient
            && spec.principal_ratio > 0.0
            && rng.random_bool(0.5)
        {
            let pool = if recipient_type == "role" {
                &RBAC_ROLES
            } else {
                &EXTERNAL_APPS
            };
            let (id, name) = pool[rng.random_range(0..pool.len())];
            e.principals.push(SeedPrincipal {
                recipient_type: recipient_type.to_string(),
                id: id.to_string(),
                name: name.to_string(),
                role: group_role_names(e.kind)[rng.random_range(0..2)].to_string(),
            });
        }
        if matches!(e.kind, EntityKind::DataSource | EntityKind::DataStore) {
            let connector =
                spec.connector_ratio > 0.0 && rng.random_bool(spec.connector_ratio.min(1.0));
            e.store_type = Some(if connector { "dr-connector-v1" } else { "jdbc" }.to_string());
        }
        if spec.link {
            let pool = match e.kind {
                EntityKind::DataSource => &stores,
                EntityKind::CustomModel | EntityKind::CustomTask => &datasets,
                _ => continue,
            };
            e.linked = pool.choose(rng).cloned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_valid() {
        let spec = GenSpec::uniform(7, 4);
        let a = Seed::generate(&spec);
        let b = Seed::generate(&spec);
        assert_eq!(a, b);
        a.validate().unwrap();
        assert_eq!(a.users.len(), 20);
        let c = Seed::generate(&GenSpec::uniform(8, 4));
        assert_ne!(a, c);
    }

    #[test]
    fn departing_user_owns_the_requested_counts() {
        let mut spec = GenSpec::uniform(1, 0);
        spec.per_kind.insert(EntityKind::Project, 10);
        spec.per_kind.insert(EntityKind::Deployment, 3);
        let seed = Seed::generate(&spec);
        let owned = |kind| {
            seed.entities
                .iter()
                .filter(|e| e.kind == kind)
                .filter(|e| {
                    e.access
                        .iter()
                        .any(|g| g.username == DEPARTING_USERNAME && g.role == Role::Owner)
                })
                .count()
        };
        assert_eq!(owned(EntityKind::Project), 10);
        assert_eq!(owned(EntityKind::Deployment), 3);
        assert_eq!(owned(EntityKind::Calendar), 0);
        // Extras exist and every entity has an owner.
        assert!(
            seed.entities
                .iter()
                .filter(|e| e.kind == EntityKind::Project)
                .count()
                > 10
        );
        assert!(
            seed.entities
                .iter()
                .all(|e| e.access.iter().any(|g| g.role == Role::Owner))
        );
    }

    #[test]
    fn departed_users_leave_orphans_behind() {
        let plain = Seed::generate(&GenSpec::uniform(3, 2));
        let spec = GenSpec {
            departed: 3,
            orphans: 4,
            ..GenSpec::uniform(3, 2)
        };
        let seed = Seed::generate(&spec);
        seed.validate().unwrap();
        // The rest of the world is the one without departed users.
        assert_eq!(seed.entities[..plain.entities.len()], plain.entities[..]);
        assert_eq!(seed.users[..plain.users.len()], plain.users[..]);
        let inactive: HashSet<&str> = seed
            .users
            .iter()
            .filter(|u| !u.active)
            .map(|u| u.username.as_str())
            .collect();
        assert_eq!(
            inactive.len(),
            4,
            "three departed users and the inactive account"
        );
        // Model packages and notebooks have their parents' access lists: no orphans of
        // their own.
        for kind in EntityKind::ALL
            .into_iter()
            .filter(|k| k.facts().parent.is_none())
        {
            let of_kind = || seed.entities.iter().filter(move |e| e.kind == kind);
            let owners = |e: &SeedEntity| -> Vec<String> {
                e.access
                    .iter()
                    .filter(|g| g.role == Role::Owner)
                    .map(|g| g.username.clone())
                    .collect()
            };
            let orphans = of_kind()
                .filter(|e| owners(e).iter().all(|o| inactive.contains(o.as_str())))
                .count();
            let half = of_kind()
                .filter(|e| {
                    let o = owners(e);
                    o.iter().any(|o| o.starts_with("departed"))
                        && o.iter().any(|o| !inactive.contains(o.as_str()))
                })
                .count();
            assert_eq!((orphans, half), (4, 2), "{kind}");
        }
    }

    #[test]
    fn the_default_world_holds_every_extra_type_with_its_recipients() {
        let seed = Seed::generate(&GenSpec::realistic(0, 5));
        seed.validate().unwrap();
        let holds = |e: &SeedEntity, role: Option<Role>| {
            e.access
                .iter()
                .any(|g| g.username == DEPARTING_USERNAME && role.is_none_or(|r| g.role == r))
        };
        for kind in EntityKind::ALL.into_iter().filter(|k| k.is_extra()) {
            let of_kind: Vec<&SeedEntity> =
                seed.entities.iter().filter(|e| e.kind == kind).collect();
            let owned = of_kind
                .iter()
                .filter(|e| holds(e, Some(Role::Owner)))
                .count();
            assert_eq!(owned, 5, "{kind}");
            let member = of_kind
                .iter()
                .filter(|e| holds(e, None) && !holds(e, Some(Role::Owner)))
                .count();
            assert!(
                member > 0,
                "{kind}: the departing user is a member of others'"
            );
            if let Some(extra) = kind.facts().extra_recipient {
                assert!(
                    of_kind
                        .iter()
                        .any(|e| e.principals.iter().any(|p| p.recipient_type == extra)),
                    "{kind}: {extra} entries"
                );
            }
            if let Some(parent) = kind.facts().parent {
                for e in &of_kind {
                    let p = seed
                        .entities
                        .iter()
                        .find(|p| p.kind == parent && Some(&p.id) == e.linked.as_ref())
                        .expect("linked to a parent");
                    assert_eq!(p.access, e.access, "{kind}: a copy of its parent's list");
                }
            }
        }
        let related: HashSet<Option<&str>> = seed
            .entities
            .iter()
            .filter(|e| e.kind == EntityKind::NotificationPolicyTemplate)
            .map(|e| e.related_entity_type.as_deref())
            .collect();
        assert_eq!(
            related,
            HashSet::from([Some("deployment"), Some("customjob")])
        );
    }

    #[test]
    fn seed_roles_accept_aliases() {
        let json = r#"{"users":[{"id":"aaaaaaaaaaaaaaaaaaaaaaaa","username":"a@x.com"}],
            "entities":[{"kind":"data_store","id":"bbbbbbbbbbbbbbbbbbbbbbbb","name":"s",
            "access":[{"username":"a@x.com","role":"read_write"}]}], "groups":[]}"#;
        let seed: Seed = serde_json::from_str(json).unwrap();
        assert_eq!(seed.entities[0].access[0].role, Role::Editor);
        assert!(seed.entities[0].access[0].can_share);
        assert!(seed.users[0].active);
        assert_eq!(seed.token_of("A@X.COM").unwrap(), "sim-token-a@x.com");
        seed.validate().unwrap();
    }
}
