//! `handover doctor`'s probes: every assumption handover makes about the API, checked
//! against a live server with GETs only, each one a [`Finding`] that `holds`, `differs`
//! (and what was seen) or is `unknown` (and why).
//!
//! What the probes may say is counts and shapes only: a finding's detail never holds an
//! id, a name, an e-mail address, a URL or the token, so a [`Report`] can be attached to
//! a public issue. The ids of the sampled entities are collected apart
//! ([`Report::ids`]) and written only when asked.
//!
//! The probes run one request at a time through a client the caller built read-only and
//! with a request budget ([`ClientPolicy::read_only`](super::ClientPolicy::read_only),
//! [`max_requests`](super::ClientPolicy::max_requests)); when the budget runs low, the
//! checks not yet made say `unknown (budget)` instead of asking.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Url;
use serde::Serialize;
use serde_json::Value;

use crate::model::{
    AdminVisibilityKind, DialectKind, EntityKind, EnvelopeKind, ListRouteKind, PagingKind, Role,
    WriteSemanticsKind, is_revoke_name,
};

use super::client::{Client, ProbeReply};
use super::dialect::{grant_from_ac, grant_from_sr};
use super::entities::{Account, entity_from_item, str_field, user_from_item};
use super::error::{ApiError, ApiErrorKind, TransportKind};

/// The page size handover asks for (`ClientPolicy::page_size`'s default).
pub const PAGE: usize = 100;
/// Entities per kind whose access list is read.
pub const SAMPLES: usize = 3;
/// The request budget of a doctor run, by default.
pub const DEFAULT_BUDGET: u64 = 400;
/// The report's format version.
pub const REPORT_VERSION: u32 = 1;

/// Whether an assumption holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    /// As handover assumes.
    Holds,
    /// Not as handover assumes; the detail says what was seen.
    Differs,
    /// Could not be checked; the detail says why.
    Unknown,
}

impl StatusKind {
    /// `holds`, `differs`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Holds => "holds",
            StatusKind::Differs => "differs",
            StatusKind::Unknown => "unknown",
        }
    }
}

/// One checked assumption.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id, e.g. `list.data_store.type_all`.
    pub id: String,
    /// Whether it holds.
    pub status: StatusKind,
    /// What was seen (counts and shapes only).
    pub detail: String,
    /// The commands whose behaviour rests on it.
    pub affects: Vec<&'static str>,
}

/// Counts of what a run saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Retried attempts.
    pub retries: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Items on the first page of each kind's list, as handover lists it.
    pub listed: BTreeMap<String, usize>,
    /// Access lists read.
    pub access_lists: usize,
    /// Median answer time, milliseconds.
    pub latency_median_ms: u64,
    /// 95th percentile answer time, milliseconds.
    pub latency_p95_ms: u64,
}

/// The report `--out` writes: findings, counts and shapes; no ids unless asked.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// [`REPORT_VERSION`].
    pub format_version: u32,
    /// handover's version.
    pub tool_version: String,
    /// The server's `versionString`.
    pub server_version: String,
    /// Every finding, in the order they were made.
    pub findings: Vec<Finding>,
    /// What was counted.
    pub counts: Counts,
    /// The caller's and the sampled entities' ids (`--show-ids`); absent by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<BTreeMap<String, Vec<String>>>,
}

impl Report {
    /// Whether some assumption differs.
    pub fn differs(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.status == StatusKind::Differs)
    }

    /// The finding with `id`.
    pub fn finding(&self, id: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.id == id)
    }

    /// The table: one line per assumption, then the commands the differing ones affect.
    pub fn render(&self) -> String {
        let width = self.findings.iter().map(|f| f.id.len()).max().unwrap_or(10);
        let mut out = format!(
            "handover doctor: DataRobot {}, {} requests ({} retried, {} throttled)\n",
            self.server_version, self.counts.requests, self.counts.retries, self.counts.throttled
        );
        for f in &self.findings {
            out.push_str(&format!(
                "{:<width$}  {:<7}  {}\n",
                f.id,
                f.status.as_str(),
                f.detail
            ));
        }
        let differing: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.status == StatusKind::Differs)
            .collect();
        if differing.is_empty() {
            out.push_str("every checked assumption holds\n");
        } else {
            out.push_str(&format!(
                "{} assumption(s) differ; commands affected:\n",
                differing.len()
            ));
            for f in differing {
                out.push_str(&format!("  {:<width$}  {}\n", f.id, f.affects.join(", ")));
            }
        }
        out
    }
}

const LISTING: &[&str] = &["plan", "offboard", "verify"];
const SHARING: &[&str] = &["plan", "offboard", "apply", "resume", "verify", "rollback"];
const USERS: &[&str] = &["plan", "offboard"];
const ACTIVE_STATE: &[&str] = &["inventory", "plan --orphans"];
const EVERY: &[&str] = &["plan", "offboard", "apply", "resume", "verify", "rollback"];

/// Why a probe did not answer.
enum Miss {
    /// The budget would be passed.
    Budget,
    /// The server or the transport failed.
    Api(ApiError),
}

impl Miss {
    /// Counts and classes only: never the error's text, which holds the path (and ids).
    fn why(&self) -> String {
        match self {
            Miss::Budget => "budget".to_string(),
            Miss::Api(e) => why(e),
        }
    }

    fn status(&self) -> Option<u16> {
        match self {
            Miss::Api(e) => e.status(),
            Miss::Budget => None,
        }
    }
}

/// An error as a class, without its path.
fn why(e: &ApiError) -> String {
    match e.kind() {
        ApiErrorKind::Status { status, .. } => format!("answered {status}"),
        ApiErrorKind::Redirect { status, .. } => format!("redirected ({status})"),
        ApiErrorKind::NotJson { .. } => "answered something that is not JSON".into(),
        ApiErrorKind::Decode { field, .. } => format!("no readable {field}"),
        ApiErrorKind::Transport { kind, .. } => match kind {
            TransportKind::Timeout => "timed out".into(),
            TransportKind::Connect => "cannot connect".into(),
            TransportKind::Tls => "TLS failed".into(),
            _ => "connection failed".into(),
        },
        ApiErrorKind::Invalid { .. } => "refused by the client".into(),
        _ => "failed".into(),
    }
}

/// A role name as the report may show it: letters, digits and `_`, at most 40.
fn role_label(name: &str) -> String {
    if !name.is_empty()
        && name.len() <= 40
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        name.to_string()
    } else {
        "(unprintable)".to_string()
    }
}

/// What the access lists of one kind showed.
#[derive(Default)]
struct AclSeen {
    read: usize,
    failed: Vec<String>,
    unreadable: usize,
    short_with_next: Option<usize>,
    next_followed: Option<Result<(), String>>,
    user_roles: BTreeSet<String>,
    other_roles: BTreeSet<String>,
    unknown_roles: BTreeMap<String, usize>,
    recipients: BTreeSet<String>,
    can_share: (usize, usize),
    /// Access lists that do not name the caller.
    without_caller: usize,
}

/// The probing run.
struct Doctor<'a> {
    client: &'a Client,
    account: &'a Account,
    budget: u64,
    findings: Vec<Finding>,
    rtts: Vec<Duration>,
    rate_headers: BTreeSet<String>,
    counts: Counts,
    ids: BTreeMap<String, Vec<String>>,
    visible_lists: usize,
    without_caller: usize,
}

/// Runs every probe and returns the report. The client should be read-only with a budget
/// of `budget` requests; `account` is its preflight's answer (the preflight's two requests
/// count in the budget).
pub async fn run(client: &Client, account: &Account, budget: u64) -> Report {
    let mut d = Doctor {
        client,
        account,
        budget,
        findings: Vec::new(),
        rtts: Vec::new(),
        rate_headers: BTreeSet::new(),
        counts: Counts::default(),
        ids: BTreeMap::new(),
        visible_lists: 0,
        without_caller: 0,
    };
    d.ids.insert("caller".into(), vec![account.id.clone()]);
    d.connection();
    d.users().await;
    for kind in EntityKind::ALL {
        d.kind(kind).await;
    }
    d.visibility();
    d.writes();
    d.pace();
    let c = client.counters();
    d.counts.requests = c.requests;
    d.counts.retries = c.retries;
    d.counts.throttled = c.throttled;
    let mut rtts: Vec<u64> = d.rtts.iter().map(|r| r.as_millis() as u64).collect();
    rtts.sort_unstable();
    if !rtts.is_empty() {
        d.counts.latency_median_ms = rtts[rtts.len() / 2];
        d.counts.latency_p95_ms = rtts[(rtts.len() * 95 / 100).min(rtts.len() - 1)];
    }
    Report {
        format_version: REPORT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        server_version: role_or_version(&account.server_version),
        findings: d.findings,
        counts: d.counts,
        ids: Some(d.ids),
    }
}

/// A version string as the report may show it (digits, dots, letters, `-`).
fn role_or_version(v: &str) -> String {
    if v.len() <= 40
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
    {
        v.to_string()
    } else {
        "(unprintable)".to_string()
    }
}

impl Doctor<'_> {
    fn add(
        &mut self,
        id: impl Into<String>,
        status: StatusKind,
        detail: impl Into<String>,
        affects: &[&'static str],
    ) {
        self.findings.push(Finding {
            id: id.into(),
            status,
            detail: detail.into(),
            affects: affects.to_vec(),
        });
    }

    fn holds(&mut self, id: impl Into<String>, detail: impl Into<String>, a: &[&'static str]) {
        self.add(id, StatusKind::Holds, detail, a);
    }

    fn differs(&mut self, id: impl Into<String>, detail: impl Into<String>, a: &[&'static str]) {
        self.add(id, StatusKind::Differs, detail, a);
    }

    fn unknown(&mut self, id: impl Into<String>, detail: impl Into<String>, a: &[&'static str]) {
        self.add(id, StatusKind::Unknown, detail, a);
    }

    /// One GET, unless the budget would be passed (a retry may take a few more: keep a
    /// margin of the retry policy's attempts).
    async fn get(&mut self, path: &str, query: &[(&str, String)]) -> Result<ProbeReply, Miss> {
        self.within_budget()?;
        let r = self.client.probe_get(path, query).await;
        self.seen(r)
    }

    async fn follow(&mut self, page: &Url, next: &str) -> Result<ProbeReply, Miss> {
        self.within_budget()?;
        match self.client.probe_next(page, next).await {
            Some(r) => self.seen(r),
            None => Err(Miss::Api(ApiError::decode("GET", "", "next", "not a URL"))),
        }
    }

    fn within_budget(&self) -> Result<(), Miss> {
        let margin = u64::from(self.client.policy().retry.max_attempts.max(1));
        if self.client.counters().requests + margin > self.budget {
            return Err(Miss::Budget);
        }
        Ok(())
    }

    fn seen(&mut self, r: Result<ProbeReply, ApiError>) -> Result<ProbeReply, Miss> {
        match r {
            Ok(reply) => {
                self.rtts.push(reply.rtt);
                for (name, _) in &reply.rate_headers {
                    self.rate_headers.insert(name.clone());
                }
                Ok(reply)
            }
            Err(_) if self.client.counters().requests >= self.budget => Err(Miss::Budget),
            Err(e) => Err(Miss::Api(e)),
        }
    }

    // -----------------------------------------------------------------------------
    // The connection and the caller

    fn connection(&mut self) {
        self.holds("connection", "version/ and account/info/ answered", EVERY);
        let version = role_or_version(&self.account.server_version);
        let major = version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok());
        match major {
            Some(2) => self.holds("api.version", format!("{version} (2.x)"), EVERY),
            Some(_) => self.differs(
                "api.version",
                format!("{version}: handover was written for API 2.x"),
                EVERY,
            ),
            None => self.unknown("api.version", "versionString is not a version", EVERY),
        }
        let scheme = self.client.settings().token_type.scheme();
        self.holds("token.type", format!("{scheme} accepted"), EVERY);
        if self.account.org_admin {
            self.holds("caller.org_admin", "an organization administrator", LISTING);
        } else {
            self.differs(
                "caller.org_admin",
                "not an organization administrator: lists hold only what the caller can \
                 see, and a share needs OWNER with canShare",
                LISTING,
            );
        }
    }

    async fn users(&mut self) {
        let one = [("offset", "0".to_string()), ("limit", "1".to_string())];
        let judged = self.findings.len();
        match self.get("users/", &one).await {
            Ok(r)
                if r.json
                    .as_ref()
                    .and_then(|v| v.get("data"))
                    .is_some_and(Value::is_array) =>
            {
                self.holds("users.lookup", "users/ answers", USERS);
                // Who is deactivated is read from these items: the owners' states in
                // `inventory`, and every orphan (`plan --orphans`).
                let first = r
                    .json
                    .as_ref()
                    .and_then(|v| v.get("data"))
                    .and_then(Value::as_array)
                    .and_then(|a| a.first());
                match first.map(|item| user_from_item(item).ok().and_then(|u| u.active)) {
                    Some(Some(_)) => self.holds(
                        "users.active_state",
                        "users/ items say whether the account is active",
                        ACTIVE_STATE,
                    ),
                    Some(None) => self.differs(
                        "users.active_state",
                        "users/ items say nothing of whether the account is active: inventory \
                         cannot tell deactivated owners, and plan --orphans stops",
                        ACTIVE_STATE,
                    ),
                    None => {
                        self.unknown("users.active_state", "users/ listed nobody", ACTIVE_STATE)
                    }
                }
            }
            Ok(_) => self.differs(
                "users.lookup",
                "users/ answered without a data array: users are named by username only",
                USERS,
            ),
            Err(Miss::Budget) => self.unknown("users.lookup", "budget", USERS),
            Err(m) if matches!(m.status(), Some(401 | 403)) => self.differs(
                "users.lookup",
                format!(
                    "users/ {}: recipients are named by username, checked by the server at apply",
                    m.why()
                ),
                USERS,
            ),
            Err(m) => self.unknown("users.lookup", format!("users/ {}", m.why()), USERS),
        }
        // One line in every run, so that runs compare line by line.
        if !self.findings[judged..]
            .iter()
            .any(|f| f.id == "users.active_state")
        {
            self.unknown(
                "users.active_state",
                "users/ could not be read",
                ACTIVE_STATE,
            );
        }
        let Some(org) = self.account.org_id.clone() else {
            self.unknown(
                "users.org_route",
                "account/info/ names no organization",
                USERS,
            );
            return;
        };
        let path = format!("organizations/{}/users/", seg(&org));
        match self.get(&path, &one).await {
            Ok(_) => self.holds(
                "users.org_route",
                "organizations/{orgId}/users/ answers",
                USERS,
            ),
            Err(Miss::Budget) => self.unknown("users.org_route", "budget", USERS),
            Err(m) if matches!(m.status(), Some(404)) => self.unknown(
                "users.org_route",
                "organizations/{orgId}/users/ answered 404 (not served here; handover \
                 does not need it)",
                USERS,
            ),
            Err(m) if matches!(m.status(), Some(401 | 403)) => self.differs(
                "users.org_route",
                format!("organizations/{{orgId}}/users/ {}", m.why()),
                USERS,
            ),
            Err(m) => self.unknown(
                "users.org_route",
                format!("organizations/{{orgId}}/users/ {}", m.why()),
                USERS,
            ),
        }
    }

    // -----------------------------------------------------------------------------
    // One kind: its list, paging, variants, access lists

    /// The list request handover sends for `kind` (contract C1–C4, §12.1), first page,
    /// from the kind's row of facts: its route (a collection, the catalog, or the first
    /// related type's list), its trailing slash, the query that makes it whole, and
    /// `offset`/`limit` unless it is read in one answer (the limit at most the kind's).
    fn list_request(kind: EntityKind) -> (String, Vec<(&'static str, String)>) {
        let facts = kind.facts();
        let slash = if facts.trailing_slash { "/" } else { "" };
        let mut query: Vec<(&'static str, String)> = Vec::new();
        let path = match facts.list_route {
            ListRouteKind::Collection => format!("{}{slash}", facts.collection),
            ListRouteKind::Catalog(t) => {
                query.push(("type", t.to_string()));
                "catalogItems/".to_string()
            }
            ListRouteKind::PerRelatedType(types) => format!(
                "{}/{}{slash}",
                facts.collection,
                types.first().copied().unwrap_or_default()
            ),
        };
        query.extend(facts.list_query.iter().map(|(k, v)| (*k, v.to_string())));
        let limit = match facts.paging {
            PagingKind::Once => None,
            PagingKind::Always {
                max_limit: Some(max),
            } => Some(PAGE.min(max as usize)),
            _ => Some(PAGE),
        };
        if let Some(limit) = limit {
            query.push(("offset", "0".to_string()));
            query.push(("limit", limit.to_string()));
        }
        (path, query)
    }

    /// The access-list route of one listed entity: `<collection>/<id>/<segment>/`, with
    /// the related type first for kinds listed per related type, and no trailing slash on
    /// the Workload API.
    fn access_path(kind: EntityKind, id: &str) -> String {
        let facts = kind.facts();
        let slash = if facts.trailing_slash { "/" } else { "" };
        let entity = match kind.related_id(id) {
            Some((related, id)) => format!("{related}/{}", seg(id)),
            None => seg(id),
        };
        format!(
            "{}/{entity}/{}{slash}",
            facts.collection,
            kind.access_segment()
        )
    }

    fn expected_envelope(kind: EntityKind) -> EnvelopeKind {
        match kind {
            EntityKind::File => EnvelopeKind::Paginated,
            k => k.envelope(),
        }
    }

    async fn kind(&mut self, kind: EntityKind) {
        let k = kind.as_str();
        let (path, query) = Self::list_request(kind);
        let first = self.get(&path, &query).await;
        let reply = match first {
            Ok(r) => r,
            Err(Miss::Budget) => {
                self.unknown(format!("list.{k}.envelope"), "budget", LISTING);
                self.skip_rest(kind, "budget");
                return;
            }
            Err(m) if m.status() == Some(404) => {
                // An older DataRobot without this type (contract §12.1): the commands
                // that list it say so in their coverage and go on.
                self.differs(
                    format!("list.{k}.envelope"),
                    format!(
                        "the list answered 404: this DataRobot does not serve {} (an older \
                         version?); plan, offboard and inventory say so and go on",
                        kind.plural_label()
                    ),
                    LISTING,
                );
                self.skip_rest(kind, "the list is not served");
                return;
            }
            Err(m) => {
                let detail = format!("the list {}", m.why());
                let status = match m {
                    Miss::Api(ref e) if e.status().is_some() || e.is_shape() => StatusKind::Differs,
                    _ => StatusKind::Unknown,
                };
                self.add(format!("list.{k}.envelope"), status, detail, LISTING);
                self.skip_rest(kind, "the list did not answer");
                return;
            }
        };
        let Some(page) = Page::read(kind, &reply) else {
            self.differs(
                format!("list.{k}.envelope"),
                format!(
                    "expected {}, got {}",
                    envelope_label(Self::expected_envelope(kind)),
                    shape_label(reply.json.as_ref())
                ),
                LISTING,
            );
            self.skip_rest(kind, "the list's envelope is not the expected one");
            return;
        };
        self.counts.listed.insert(k.to_string(), page.items.len());
        self.holds(
            format!("list.{k}.envelope"),
            format!(
                "{}, {} on the first page",
                envelope_label(Self::expected_envelope(kind)),
                page.items.len()
            ),
            LISTING,
        );
        self.paging(kind, &path, &query, &page).await;
        self.variant(kind, &page).await;
        self.access_lists(kind, &page).await;
    }

    fn skip_rest(&mut self, kind: EntityKind, why: &str) {
        let k = kind.as_str();
        self.unknown(format!("list.{k}.paging"), why, LISTING);
        if let Some(v) = variant_id(kind) {
            self.unknown(format!("list.{k}.{v}"), why, LISTING);
        }
        for line in ["read", "paging", "roles", "recipients", "can_share"] {
            self.unknown(format!("acl.{k}.{line}"), why, SHARING);
        }
        if kind.admin_visibility() == AdminVisibilityKind::Unknown {
            self.unknown(format!("list.{k}.visibility"), why, LISTING);
        }
    }

    async fn paging(
        &mut self,
        kind: EntityKind,
        path: &str,
        query: &[(&'static str, String)],
        page: &Page,
    ) {
        let id = format!("list.{}.paging", kind.as_str());
        let n = page.items.len();
        match Self::expected_envelope(kind) {
            EnvelopeKind::DataOnly if kind == EntityKind::DataSource => {
                self.holds(id, format!("not paginated: one answer of {n}"), LISTING);
            }
            EnvelopeKind::BareArray | EnvelopeKind::DataOnly => {
                // Offset paging, no `next`: projects and data stores.
                if n > PAGE {
                    self.differs(
                        id,
                        format!("asked for {PAGE}, got {n}: the limit is ignored"),
                        LISTING,
                    );
                    return;
                }
                if page.next.is_some() {
                    self.differs(
                        id,
                        "a next link where offset paging was expected (handover pages by offset)",
                        LISTING,
                    );
                    return;
                }
                if n < PAGE {
                    self.holds(id, format!("offset paging, one page of {n}"), LISTING);
                    return;
                }
                let mut q: Vec<(&str, String)> = query
                    .iter()
                    .filter(|(k, _)| *k != "offset")
                    .cloned()
                    .collect();
                q.push(("offset", n.to_string()));
                match self.get(path, &q).await {
                    Ok(r) => match Page::read(kind, &r) {
                        Some(p2) if p2.ids.iter().all(|i| !page.ids.contains(i)) => self.holds(
                            id,
                            format!("offset paging: full pages of {PAGE}, the second one new"),
                            LISTING,
                        ),
                        Some(_) => self.differs(
                            id,
                            "offset paging: the second page repeats the first",
                            LISTING,
                        ),
                        None => self.differs(id, "the second page has another envelope", LISTING),
                    },
                    Err(m) => self.unknown(id, format!("the second page {}", m.why()), LISTING),
                }
            }
            EnvelopeKind::Paginated => {
                if n > PAGE {
                    self.differs(id, format!("asked for {PAGE}, got {n}"), LISTING);
                    return;
                }
                let Some(next) = page.next.clone() else {
                    self.holds(id, format!("one page of {n}, next null"), LISTING);
                    return;
                };
                let form = if next.starts_with("http://") || next.starts_with("https://") {
                    "absolute"
                } else {
                    "relative"
                };
                let followed = match self.follow(&page.url, &next).await {
                    Ok(r) => match Page::read(kind, &r) {
                        Some(p2) if p2.ids.iter().all(|i| !page.ids.contains(i)) => Ok(()),
                        Some(_) => Err("the next page repeats the first".to_string()),
                        None => Err("the next page has another envelope".to_string()),
                    },
                    Err(m) => Err(format!("the next link {}", m.why())),
                };
                match followed {
                    Err(e) => self.differs(id, format!("next {form}: {e}"), LISTING),
                    Ok(()) if n < PAGE => self.differs(
                        id,
                        format!(
                            "asked for {PAGE}, got {n} with a next ({form}, followed): the server \
                             caps pages at {n}; handover follows next, never stops on a short page"
                        ),
                        LISTING,
                    ),
                    Ok(()) => self.holds(
                        id,
                        format!("pages of {PAGE}, next {form}, followed"),
                        LISTING,
                    ),
                }
            }
        }
    }

    async fn variant(&mut self, kind: EntityKind, page: &Page) {
        let Some(v) = variant_id(kind) else { return };
        let id = format!("list.{}.{v}", kind.as_str());
        match kind {
            EntityKind::DataSource | EntityKind::DataStore => {
                let mut q = Vec::new();
                if kind == EntityKind::DataStore {
                    q.push(("offset", "0".to_string()));
                    q.push(("limit", PAGE.to_string()));
                }
                let path = format!("{}/", kind.collection());
                let default = match self.get(&path, &q).await {
                    Ok(r) => Page::read(kind, &r),
                    Err(m) => {
                        self.unknown(id, format!("the default list {}", m.why()), LISTING);
                        return;
                    }
                };
                let Some(default) = default else {
                    self.unknown(id, "the default list has another envelope", LISTING);
                    return;
                };
                let connectors_all = page.connectors;
                let connectors_default = default.connectors;
                let missing = default
                    .ids
                    .iter()
                    .filter(|i| !page.ids.contains(*i))
                    .count();
                let full = page.items.len() >= PAGE || default.items.len() >= PAGE;
                if connectors_default > 0 {
                    self.differs(
                        id,
                        format!(
                            "the default lists {connectors_default} connector-based too: \
                             type=all is not needed here (harmless)"
                        ),
                        LISTING,
                    );
                } else if missing > 0 && !full {
                    self.differs(
                        id,
                        format!("type=all leaves out {missing} the default lists"),
                        LISTING,
                    );
                } else {
                    let more = page.items.len().saturating_sub(default.items.len());
                    self.holds(
                        id,
                        format!(
                            "type=all accepted; {more} more than the default \
                             ({connectors_all} connector-based)"
                        ),
                        LISTING,
                    );
                }
            }
            EntityKind::UseCase => {
                let q = [("offset", "0".to_string()), ("limit", PAGE.to_string())];
                let default = match self.get("useCases/", &q).await {
                    Ok(r) => Page::read(kind, &r),
                    Err(m) => {
                        self.unknown(id, format!("the list without it {}", m.why()), LISTING);
                        return;
                    }
                };
                let Some(default) = default else {
                    self.unknown(id, "the list without it has another envelope", LISTING);
                    return;
                };
                let missing = default
                    .ids
                    .iter()
                    .filter(|i| !page.ids.contains(*i))
                    .count();
                let full = page.next.is_some() || default.next.is_some();
                if missing > 0 && !full {
                    self.differs(
                        id,
                        format!("showOrgUseCases=true leaves out {missing} listed without it"),
                        LISTING,
                    );
                } else {
                    let more = page.items.len().saturating_sub(default.items.len());
                    self.holds(
                        id,
                        format!("showOrgUseCases=true accepted; {more} more than without it"),
                        LISTING,
                    );
                }
            }
            EntityKind::CustomJob => {
                // The reference marks offset and limit required; the Python client's
                // `Job.list()` sends neither (contract §12.1 X4). handover always sends
                // both, so either answer holds; the detail says which this server gives.
                let path = Self::list_request(kind).0;
                match self.get(&path, &[]).await {
                    Ok(r) if Page::read(kind, &r).is_some() => self.holds(
                        id,
                        "answers without offset and limit too (handover sends both)",
                        LISTING,
                    ),
                    Ok(_) => self.holds(
                        id,
                        "without offset and limit, another envelope (handover sends both)",
                        LISTING,
                    ),
                    Err(Miss::Budget) => self.unknown(id, "budget", LISTING),
                    Err(m) if m.status().is_some_and(|s| (400..500).contains(&s)) => self.holds(
                        id,
                        format!(
                            "without offset and limit {}: they are required here (handover \
                             sends both; the Python client's Job.list() does not)",
                            m.why()
                        ),
                        LISTING,
                    ),
                    Err(m) => {
                        self.unknown(id, format!("without offset and limit {}", m.why()), LISTING)
                    }
                }
            }
            EntityKind::Deployment => {
                let (path, query) = Self::list_request(kind);
                let again = match self.get(&path, &query).await {
                    Ok(r) => Page::read(kind, &r),
                    Err(m) => {
                        self.unknown(id, format!("the second read {}", m.why()), LISTING);
                        return;
                    }
                };
                // The default order, twice: does it move (contract C3)?
                let q = [("offset", "0".to_string()), ("limit", PAGE.to_string())];
                let mut default_moved = None;
                if let (Ok(a), Ok(b)) = (self.get(&path, &q).await, self.get(&path, &q).await)
                    && let (Some(a), Some(b)) = (Page::read(kind, &a), Page::read(kind, &b))
                {
                    default_moved = Some(a.ids != b.ids);
                }
                let moved = match default_moved {
                    Some(true) => "the default order moved between two reads",
                    Some(false) => "the default order did not move between two reads",
                    None => "the default order was not read",
                };
                match again {
                    Some(p) if p.ids == page.ids => self.holds(
                        id,
                        format!("orderBy=createdAtTimestamp accepted and stable; {moved}"),
                        LISTING,
                    ),
                    Some(_) => self.differs(
                        id,
                        format!("orderBy=createdAtTimestamp moved between two reads; {moved}"),
                        LISTING,
                    ),
                    None => self.unknown(id, "the second read has another envelope", LISTING),
                }
            }
            _ => {}
        }
    }

    async fn access_lists(&mut self, kind: EntityKind, page: &Page) {
        let k = kind.as_str();
        if page.ids.is_empty() {
            for line in ["read", "paging", "roles", "recipients", "can_share"] {
                self.unknown(format!("acl.{k}.{line}"), "nothing listed to read", SHARING);
            }
            if kind.admin_visibility() == AdminVisibilityKind::Unknown {
                self.unknown(
                    format!("list.{k}.visibility"),
                    "nothing listed: there are none, or this list shows the caller only what \
                     they created or were given",
                    LISTING,
                );
            }
            return;
        }
        let mut seen = AclSeen::default();
        let q = [("offset", "0".to_string()), ("limit", PAGE.to_string())];
        for entity in page.ids.iter().take(SAMPLES) {
            let path = Self::access_path(kind, entity);
            let reply = match self.get(&path, &q).await {
                Ok(r) => r,
                Err(m) => {
                    seen.failed.push(m.why());
                    continue;
                }
            };
            self.ids
                .entry(format!("sampled.{k}"))
                .or_default()
                .push(entity.clone());
            let (items, next) = match reply.json.as_ref() {
                Some(Value::Object(map)) => match map.get("data") {
                    Some(Value::Array(items)) => (
                        items.clone(),
                        map.get("next").and_then(Value::as_str).map(str::to_string),
                    ),
                    _ => {
                        seen.failed.push("no data array".into());
                        continue;
                    }
                },
                Some(Value::Array(items)) => (items.clone(), None),
                other => {
                    seen.failed.push(shape_label(other));
                    continue;
                }
            };
            seen.read += 1;
            self.counts.access_lists += 1;
            if items.len() < PAGE
                && let Some(next) = &next
            {
                seen.short_with_next = Some(items.len());
                if seen.next_followed.is_none() {
                    seen.next_followed = Some(match self.follow(&reply.url, next).await {
                        Ok(_) => Ok(()),
                        Err(m) => Err(m.why()),
                    });
                }
            }
            let mut names_caller = false;
            for item in &items {
                self.read_entry(kind, item, &mut seen, &mut names_caller);
            }
            if !names_caller {
                seen.without_caller += 1;
            }
        }
        self.visible_lists += seen.read;
        self.without_caller += seen.without_caller;
        self.judge_access_lists(kind, &seen);
        self.kind_visibility(kind, &seen);
    }

    /// For a kind whose list may show an administrator only what they created or were
    /// given (contract §12.1 "Visibility"), whether the sampled entities say otherwise:
    /// one that does not name the caller shows the list reaches further.
    fn kind_visibility(&mut self, kind: EntityKind, seen: &AclSeen) {
        if kind.admin_visibility() != AdminVisibilityKind::Unknown {
            return;
        }
        let id = format!("list.{}.visibility", kind.as_str());
        let (read, without) = (seen.read, seen.without_caller);
        if read == 0 {
            self.unknown(id, "no access list read", LISTING);
        } else if without > 0 {
            self.holds(
                id,
                format!("{without} of {read} sampled do not name the caller: others' are listed"),
                LISTING,
            );
        } else if self.account.org_admin {
            self.differs(
                id,
                format!(
                    "all {read} sampled name the caller: this list may show an administrator \
                     only what they created or were given; others' {} may be missed",
                    kind.plural_label()
                ),
                LISTING,
            );
        } else {
            self.holds(
                id,
                format!("all {read} sampled name the caller (not an administrator: expected)"),
                LISTING,
            );
        }
    }

    fn read_entry(&self, kind: EntityKind, item: &Value, seen: &mut AclSeen, caller: &mut bool) {
        let recipient = str_field(item, "shareRecipientType")
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "user".into());
        let is_user = recipient.eq_ignore_ascii_case("user");
        // Known types in their documented spelling; anything else as sent (if printable).
        let label = match recipient.to_ascii_lowercase().as_str() {
            "user" => "user".to_string(),
            "group" => "group".to_string(),
            "organization" => "organization".to_string(),
            "externalapplication" => "externalApplication".to_string(),
            "role" => "role".to_string(),
            _ => role_label(&recipient),
        };
        seen.recipients.insert(label);
        if let Some(role) = item.get("role").and_then(Value::as_str)
            && !is_revoke_name(role)
            && !role.trim().is_empty()
        {
            let upper = role.trim().to_ascii_uppercase();
            if Role::from_wire(&upper).is_none() {
                *seen.unknown_roles.entry(role_label(&upper)).or_default() += 1;
            } else if is_user {
                seen.user_roles.insert(upper);
            } else {
                seen.other_roles.insert(upper);
            }
        }
        let read = match kind.dialect() {
            DialectKind::AccessControl => grant_from_ac(item),
            DialectKind::SharedRoles => grant_from_sr(item),
        };
        match read {
            Err(u) if !u.reason.starts_with("unknown role") => seen.unreadable += 1,
            _ => {}
        }
        if is_user {
            match item.get("canShare") {
                Some(Value::Bool(_)) => seen.can_share.0 += 1,
                _ => seen.can_share.1 += 1,
            }
            let id = str_field(item, "userId").or_else(|| str_field(item, "id"));
            let name = str_field(item, "username").or_else(|| str_field(item, "name"));
            if id.as_deref() == Some(self.account.id.as_str())
                || name.is_some_and(|n| n.eq_ignore_ascii_case(&self.account.username))
            {
                *caller = true;
            }
        }
    }

    fn judge_access_lists(&mut self, kind: EntityKind, seen: &AclSeen) {
        let k = kind.as_str();
        let dialect = kind.access_segment();
        let nothing_read = seen.read == 0;
        let why_none = if seen.failed.iter().all(|w| w == "budget") {
            "budget".to_string()
        } else {
            format!("no access list read: {}", seen.failed.join(", "))
        };
        // read
        let id = format!("acl.{k}.read");
        if nothing_read {
            if seen.failed.iter().all(|w| w == "budget") {
                self.unknown(id, "budget", SHARING);
            } else {
                self.differs(id, why_none.clone(), SHARING);
            }
        } else if !seen.failed.is_empty() {
            self.differs(
                id,
                format!(
                    "{} of {} {dialect} reads failed: {}",
                    seen.failed.len(),
                    seen.failed.len() + seen.read,
                    seen.failed.join(", ")
                ),
                SHARING,
            );
        } else if seen.unreadable > 0 {
            self.differs(
                id,
                format!(
                    "{} entries not in the {dialect} shape: those entities are refused",
                    seen.unreadable
                ),
                SHARING,
            );
        } else {
            self.holds(id, format!("{} {dialect} lists read", seen.read), SHARING);
        }
        if nothing_read {
            for line in ["paging", "roles", "recipients", "can_share"] {
                let status = StatusKind::Unknown;
                self.add(
                    format!("acl.{k}.{line}"),
                    status,
                    "no access list read",
                    SHARING,
                );
            }
            return;
        }
        // paging
        let id = format!("acl.{k}.paging");
        match (&seen.short_with_next, &seen.next_followed) {
            (_, Some(Err(e))) => self.differs(id, format!("the next link {e}"), SHARING),
            (Some(n), _) => self.differs(
                id,
                format!(
                    "asked for {PAGE} entries a page, got {n} with a next (followed): \
                     handover follows next"
                ),
                SHARING,
            ),
            (None, _) => self.holds(id, format!("up to {PAGE} entries a page"), SHARING),
        }
        // roles
        let id = format!("acl.{k}.roles");
        let expected: BTreeSet<String> = [Role::Owner, Role::Editor, Role::Consumer]
            .iter()
            .map(|r| kind.wire_role(*r).to_string())
            .collect();
        // The Workload API's routes (the ones without a trailing slash) share one role
        // enum that lists every alias (contract §12.1 X10): any of them is as documented.
        let one_enum = !kind.trailing_slash();
        let aliases: Vec<&String> = seen
            .user_roles
            .iter()
            .filter(|r| !expected.contains(*r) && !one_enum)
            .collect();
        let seen_list = |set: &BTreeSet<String>| {
            set.iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !kind.is_writable() {
            // Read, never written (contract §12.2): the names only need reading.
            let mut names = seen.user_roles.clone();
            names.extend(seen.unknown_roles.keys().cloned());
            let detail = if names.is_empty() {
                "no user roles seen".to_string()
            } else {
                seen_list(&names)
            };
            self.holds(id, format!("{detail} (read only: never written)"), SHARING);
        } else if !seen.unknown_roles.is_empty() {
            let names: Vec<String> = seen
                .unknown_roles
                .iter()
                .take(5)
                .map(|(n, c)| format!("{n} ×{c}"))
                .collect();
            self.differs(
                id,
                format!(
                    "role names no vocabulary has: {} (such entries are kept, never changed; \
                     an entity where one may be a principal the plan touches is refused)",
                    names.join(", ")
                ),
                SHARING,
            );
        } else if !aliases.is_empty() {
            let aliases: Vec<&str> = aliases.iter().map(|s| s.as_str()).collect();
            self.differs(
                id,
                format!(
                    "{} where {} was expected: read as aliases; handover writes {}",
                    aliases.join(", "),
                    expected
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join("/"),
                    expected
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join("/"),
                ),
                SHARING,
            );
        } else if seen.user_roles.is_empty() {
            self.holds(id, "no user roles seen", SHARING);
        } else if one_enum {
            self.holds(
                id,
                format!(
                    "{} (one enum with every alias; handover writes OWNER/EDITOR/CONSUMER)",
                    seen_list(&seen.user_roles)
                ),
                SHARING,
            );
        } else {
            self.holds(id, seen_list(&seen.user_roles), SHARING);
        }
        // recipients
        let id = format!("acl.{k}.recipients");
        let others: Vec<&str> = seen
            .recipients
            .iter()
            .filter(|r| *r != "user")
            .map(String::as_str)
            .collect();
        let all = seen_list(&seen.recipients);
        // Besides users, groups and organizations the contract names `externalApplication`
        // (§12.1 X2–X9) and `role` (X10–X12) entries; anything else is news.
        let unusual: Vec<&str> = others
            .iter()
            .copied()
            .filter(|r| {
                !matches!(
                    *r,
                    "group" | "organization" | "externalApplication" | "role"
                )
            })
            .collect();
        let kept = match kind.semantics() {
            WriteSemanticsKind::Replace => {
                "never changed; a write sends them back as read (the list is replaced)"
            }
            WriteSemanticsKind::Set => "never changed (a write names only the users it changes)",
        };
        match kind.dialect() {
            DialectKind::AccessControl if !others.is_empty() => self.differs(
                id,
                format!(
                    "{} entries in accessControl reads (documented for users only): \
                     kept, never changed",
                    others.join(", ")
                ),
                SHARING,
            ),
            _ if !unusual.is_empty() => self.differs(
                id,
                format!(
                    "{} entries, a recipient type the contract does not name: {kept}",
                    unusual.join(", ")
                ),
                SHARING,
            ),
            _ if others.is_empty() => self.holds(
                id,
                if all.is_empty() { "none".into() } else { all },
                SHARING,
            ),
            _ => self.holds(id, format!("{all}; all but users {kept}"), SHARING),
        }
        // canShare
        let id = format!("acl.{k}.can_share");
        let (with, without) = seen.can_share;
        let detail = match (with, without) {
            (0, 0) => "no user entries".to_string(),
            (_, 0) => format!("present on all {with} user entries"),
            (0, _) => format!("absent on all {without} user entries (read as not stated)"),
            _ => format!("present on {with}, absent on {without} user entries"),
        };
        self.holds(id, detail, SHARING);
    }

    // -----------------------------------------------------------------------------
    // Across kinds

    fn visibility(&mut self) {
        let id = "visibility.others";
        let (read, without) = (self.visible_lists, self.without_caller);
        if read == 0 {
            self.unknown(id, "no access list read", LISTING);
        } else if without > 0 {
            self.holds(
                id,
                format!("{without} of {read} sampled entities do not name the caller"),
                LISTING,
            );
        } else {
            self.differs(
                id,
                format!(
                    "all {read} sampled entities name the caller: it may see only what it \
                     holds; run as an organization administrator"
                ),
                LISTING,
            );
        }
    }

    fn writes(&mut self) {
        self.unknown(
            "share.calendar_status",
            "needs a write; doctor never writes (apply accepts any 2xx and records refusals)",
            &["apply"],
        );
        self.unknown(
            "share.inactive_revoke",
            "needs a write; doctor never writes (where the server refuses to remove an \
             inactive user, apply hands over without it and records the entity partial)",
            &["apply"],
        );
    }

    fn pace(&mut self) {
        let c = self.client.counters();
        let with_retry_after = self.client.retry_after_seen();
        let headers: Vec<&str> = self.rate_headers.iter().map(String::as_str).collect();
        let headers = if headers.is_empty() {
            String::new()
        } else {
            format!("; rate headers: {}", headers.join(", "))
        };
        if c.throttled > 0 {
            self.differs(
                "pace.rate_limit",
                format!(
                    "{} answers 429 ({with_retry_after} with Retry-After) at {} requests/s{headers}: \
                     handover slows down and retries; give apply a lower --rate",
                    c.throttled,
                    self.client.policy().rate_per_sec
                ),
                EVERY,
            );
        } else {
            self.holds("pace.rate_limit", format!("no 429{headers}"), EVERY);
        }
        let mut ms: Vec<u128> = self.rtts.iter().map(Duration::as_millis).collect();
        ms.sort_unstable();
        if ms.is_empty() {
            self.unknown("pace.latency", "no answer timed", EVERY);
            return;
        }
        let median = ms[ms.len() / 2];
        let p95 = ms[(ms.len() * 95 / 100).min(ms.len() - 1)];
        let detail = format!("median {median} ms, p95 {p95} ms over {} answers", ms.len());
        if p95 > 5_000 {
            self.differs(
                "pace.latency",
                format!("{detail}: slow; expect long runs"),
                EVERY,
            );
        } else {
            self.holds("pace.latency", detail, EVERY);
        }
    }
}

/// The variant line of a kind, if it has one.
fn variant_id(kind: EntityKind) -> Option<&'static str> {
    match kind {
        EntityKind::DataSource | EntityKind::DataStore => Some("type_all"),
        EntityKind::UseCase => Some("show_org"),
        EntityKind::Deployment => Some("order_by"),
        EntityKind::CustomJob => Some("bare_list"),
        _ => None,
    }
}

/// One page of a list, read in the kind's expected envelope.
struct Page {
    /// Where the page was read (its relative `next` resolves against it).
    url: Url,
    items: Vec<Value>,
    ids: Vec<String>,
    next: Option<String>,
    /// Items whose `type` is `dr-connector-v1`.
    connectors: usize,
}

impl Page {
    fn read(kind: EntityKind, reply: &ProbeReply) -> Option<Page> {
        let json = reply.json.as_ref()?;
        let (items, next) = match (Doctor::expected_envelope(kind), json) {
            (EnvelopeKind::BareArray, Value::Array(items)) => (items.clone(), None),
            (EnvelopeKind::DataOnly, Value::Object(map)) => (
                map.get("data")?.as_array()?.clone(),
                map.get("next").and_then(Value::as_str).map(str::to_string),
            ),
            (EnvelopeKind::Paginated, Value::Object(map)) => {
                let next = match map.get("next") {
                    Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    _ => return None,
                };
                (map.get("data")?.as_array()?.clone(), next)
            }
            _ => return None,
        };
        let via_catalog = matches!(kind.list_route(), ListRouteKind::Catalog(_));
        // An entity listed per related type is named `<related>:<id>` (the first
        // related type is the one probed).
        let related = match kind.list_route() {
            ListRouteKind::PerRelatedType(types) => types.first().copied(),
            _ => None,
        };
        let ids = items
            .iter()
            .filter_map(|i| entity_from_item(kind, i, via_catalog).ok())
            .map(|e| match related {
                Some(r) => format!("{r}:{}", e.id),
                None => e.id,
            })
            .collect();
        let connectors = items
            .iter()
            .filter(|i| str_field(i, "type").as_deref() == Some("dr-connector-v1"))
            .count();
        Some(Page {
            url: reply.url.clone(),
            items,
            ids,
            next,
            connectors,
        })
    }
}

fn envelope_label(e: EnvelopeKind) -> &'static str {
    match e {
        EnvelopeKind::BareArray => "a bare array",
        EnvelopeKind::DataOnly => "{data}",
        EnvelopeKind::Paginated => "{count, next, previous, data}",
    }
}

fn shape_label(v: Option<&Value>) -> String {
    match v {
        None => "something that is not JSON".into(),
        Some(Value::Array(_)) => "a bare array".into(),
        Some(Value::Object(m)) => {
            let mut keys: Vec<&str> = m
                .keys()
                .map(String::as_str)
                .filter(|k| k.len() <= 20 && k.chars().all(|c| c.is_ascii_alphanumeric()))
                .take(6)
                .collect();
            keys.sort_unstable();
            format!("an object with {}", keys.join(", "))
        }
        Some(_) => "a JSON scalar".into(),
    }
}

/// An id as one path segment (as the client makes them).
fn seg(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            '/' | '?' | '#' | '%' | ' ' => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_never_carry_what_they_were_given_unless_safe() {
        assert_eq!(role_label("DATA_SCIENTIST"), "DATA_SCIENTIST");
        assert_eq!(role_label("a@b.com"), "(unprintable)");
        assert_eq!(role_or_version("2.49.0"), "2.49.0");
        assert_eq!(role_or_version("2.49 <html>"), "(unprintable)");
    }

    fn reply(json: Option<Value>) -> ProbeReply {
        ProbeReply {
            url: Url::parse("http://127.0.0.1/api/v2/x/").unwrap(),
            status: 200,
            json,
            rate_headers: Vec::new(),
            rtt: Duration::ZERO,
            attempts: 1,
        }
    }

    #[test]
    fn pages_are_read_only_in_the_envelope_expected() {
        use serde_json::json;
        let paginated = reply(Some(
            json!({"count":1,"next":"http://h/api/v2/calendars/?offset=1",
            "previous":null,"data":[{"id":"c1"}]}),
        ));
        let p = Page::read(EntityKind::Calendar, &paginated).unwrap();
        assert_eq!(p.ids, ["c1"]);
        assert!(p.next.is_some());
        // Projects are a bare array; an object is another envelope.
        assert!(Page::read(EntityKind::Project, &paginated).is_none());
        assert!(Page::read(EntityKind::Project, &reply(Some(json!([{"id":"p1"}])))).is_some());
        // Garbage (not JSON, a scalar, a next that is not a string) is no page.
        assert!(Page::read(EntityKind::Calendar, &reply(None)).is_none());
        assert!(Page::read(EntityKind::Calendar, &reply(Some(json!(3)))).is_none());
        assert!(
            Page::read(
                EntityKind::Calendar,
                &reply(Some(json!({"data":[],"next":5})))
            )
            .is_none()
        );
        let stores = reply(Some(
            json!({"data":[{"id":"s1","type":"dr-connector-v1"},{"id":"s2","type":"jdbc"}]}),
        ));
        assert_eq!(
            Page::read(EntityKind::DataStore, &stores)
                .unwrap()
                .connectors,
            1
        );
        assert_eq!(shape_label(None), "something that is not JSON");
        assert_eq!(
            shape_label(Some(&json!({"items":[], "<script>":1}))),
            "an object with items"
        );
    }

    #[test]
    fn the_table_lists_affected_commands_of_differing_lines() {
        let report = Report {
            format_version: REPORT_VERSION,
            tool_version: "0".into(),
            server_version: "2.49.0".into(),
            findings: vec![
                Finding {
                    id: "connection".into(),
                    status: StatusKind::Holds,
                    detail: "ok".into(),
                    affects: EVERY.to_vec(),
                },
                Finding {
                    id: "list.project.paging".into(),
                    status: StatusKind::Differs,
                    detail: "short".into(),
                    affects: LISTING.to_vec(),
                },
            ],
            counts: Counts::default(),
            ids: None,
        };
        let text = report.render();
        assert!(report.differs());
        assert!(
            text.contains("list.project.paging  differs  short"),
            "{text}"
        );
        assert!(text.contains("plan, offboard, verify"), "{text}");
    }
}
