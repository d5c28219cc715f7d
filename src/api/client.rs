//! [`Client`]: the one HTTP client of the tool. Every request, reads included, goes through
//! one rate limiter and one retry policy, so a planner listing thousands of entities and an
//! executor sharing them cannot between them overrun the server.
//!
//! The client is cheap to clone (an `Arc` inside); clones share the limiter, the counters
//! and the connection pool.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::SeedableRng;
use rand::rngs::StdRng;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serde_json::Value;

use crate::api::config::{ConnSettings, TlsKind, is_loopback};
use crate::base::request::ShareRequest;
use crate::model::{
    AccessList, DialectKind, EntityKind, EnvelopeKind, Grant, ListRouteKind, PagingKind,
    UnreadableEntry,
};
use crate::secret::Token;

use super::dialect::{
    ItemProblem, ShareBodyError, grant_from_ac, grant_from_sr, grant_is, share_body, share_body_on,
};
use super::entities::{
    Account, EntityRef, ListFilter, Listing, OnEntity, User, entity_from_item, full_name,
    owners_include, str_field, user_from_item,
};
use super::error::{ApiError, ApiErrorKind, ErrorClass, TransportKind};
use super::limiter::{AdaptiveLimiter, AimdConfig};
use super::pace::{AutoPace, Pace, PaceReport, Signal};
use super::paths::{BadIdError, access_path, entity_path, join, list_paths, rebase_next};
use super::retry::{RetryKind, RetryPolicy, parse_retry_after};

/// How the client paces and retries. The executor sets the rate from its flags.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientPolicy {
    /// Requests per second, all requests together: the ceiling the limiter returns to
    /// after throttling.
    ///
    /// Default 10. DataRobot publishes no limits; the Python client is sequential and, at
    /// the ~100 ms a sharing call takes, runs at about 10 requests a second, which the
    /// service evidently tolerates from every user's script. A migration of 1,000
    /// entities (about four requests each) then takes under ten minutes.
    pub rate_per_sec: f64,
    /// `Some`: the pace is found from the server's answers ([`super::pace`]): the rate
    /// starts at its `start_rate` under a ceiling of its `max_rate` (then `rate_per_sec`
    /// and `aimd` are not used), and the client itself limits requests in flight, from
    /// `start_concurrency` up to `max_concurrency`. `None` (the default for library
    /// callers and tests): a fixed rate of `rate_per_sec` with AIMD on 429, and as many in
    /// flight as the callers send. The command line uses `Some` unless told otherwise.
    pub pace: Option<AutoPace>,
    /// Requests that may go back to back after a quiet spell. Default 5.
    pub burst: u32,
    /// How the rate reacts to 429s.
    pub aimd: AimdConfig,
    /// Which failures are retried, and how long to wait.
    pub retry: RetryPolicy,
    /// The longest one attempt may take, connect to last byte. Default 120 s (the read
    /// timeout in `ConnSettings`, 60 s, catches a stalled server sooner).
    pub request_timeout: Duration,
    /// `limit` sent on paginated lists and access lists; `None` leaves it to the server.
    /// Default 100, what the official clients use where the server's own default is not
    /// known; the largest page `deployments/` and `useCases/` accept.
    pub page_size: Option<u32>,
    /// `limit` of `projects/` pages. Default 1,000: the server takes up to that many per
    /// page (contract §3), so a tenant's projects come in one request and the empty one
    /// that ends them, instead of one per hundred. `None`: `page_size`.
    pub projects_page_size: Option<u32>,
    /// Seeds the back-off jitter, for reproducible tests. `None` seeds from the OS.
    pub jitter_seed: Option<u64>,
    /// Send GETs only: any other method is refused before it is sent (`handover doctor`
    /// promises a tenant it writes nothing, and the client keeps the promise, not only
    /// the code that happens not to call a write). Default `false`.
    pub read_only: bool,
    /// The most HTTP requests (every attempt counts) this client may send; once spent,
    /// every call fails before sending. `None` (default): no limit.
    pub max_requests: Option<u64>,
}

impl Default for ClientPolicy {
    fn default() -> Self {
        ClientPolicy {
            rate_per_sec: 10.0,
            pace: None,
            burst: 5,
            aimd: AimdConfig::default(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(120),
            page_size: Some(100),
            projects_page_size: Some(1000),
            jitter_seed: None,
            read_only: false,
            max_requests: None,
        }
    }
}

/// What a successful share returned.
#[derive(Clone, Debug, PartialEq)]
pub struct ShareOutcome {
    /// The 2xx status (204 usually, 200 for calendars).
    pub status: u16,
    /// HTTP requests made. More than one means an earlier attempt may have been applied
    /// already (harmless: writes are idempotent, but re-read before reasoning about it).
    pub attempts: u32,
    /// The response body, when there was a JSON one.
    pub body: Option<Value>,
}

/// Counters for a progress display.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counters {
    /// HTTP requests sent (every attempt counts).
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// 429 answers received.
    pub throttled: u64,
    /// The limiter's current rate, in requests per second.
    pub rate_per_sec: f64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// The current in-flight limit, when the pace is automatic.
    pub concurrency_limit: Option<u64>,
    /// Requests answered per second over the last second, when the pace is automatic.
    pub answered_per_sec: f64,
    /// The pace found so far, when it is automatic.
    pub pace: Option<PaceReport>,
}

#[derive(Default)]
struct AtomicCounters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    in_flight: AtomicU64,
    retry_after: AtomicU64,
}

/// One HTTP answer, body read.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
    attempts: u32,
    path: String,
    method: Method,
    /// Send to last byte of the attempt that answered.
    rtt: Duration,
}

/// A raw answer to a probing GET ([`Client::probe_get`]): what the typed methods hide.
#[derive(Clone, Debug)]
pub struct ProbeReply {
    /// The URL asked (a relative `next` on this page resolves against it).
    pub url: Url,
    /// The 2xx status.
    pub status: u16,
    /// The body as JSON; `None` when it is not JSON (or empty).
    pub json: Option<Value>,
    /// The headers that speak of rate limits (`Retry-After`, `X-RateLimit-*`,
    /// `RateLimit-*`), names lowercased.
    pub rate_headers: Vec<(String, String)>,
    /// How long the answering attempt took, send to last byte (limiter waits excluded).
    pub rtt: Duration,
    /// HTTP requests made for it (retries included).
    pub attempts: u32,
}

/// The DataRobot API client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: ConnSettings,
    policy: ClientPolicy,
    auth: HeaderValue,
    host: String,
    limiter: AdaptiveLimiter,
    pace: Option<Pace>,
    counters: AtomicCounters,
    rng: Mutex<StdRng>,
    /// Set when the run stops: requests still waiting for their turn end unsent.
    halt: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("settings", &self.inner.settings)
            .field("policy", &self.inner.policy)
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the client. No request is sent; call [`preflight`](Client::preflight) first.
    pub fn new(settings: ConnSettings, policy: ClientPolicy) -> Result<Client, ApiError> {
        let setup = |reason: String| ApiError::new("", "", ApiErrorKind::Setup { reason });
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .timeout(policy.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("handover/", env!("CARGO_PKG_VERSION")))
            .tcp_keepalive(Duration::from_secs(300));
        // Plain http is allowed to loopback because the traffic never leaves the host; a
        // proxy from HTTP_PROXY or ALL_PROXY would carry it, token and all, in clear text
        // to another one. So loopback never goes through a proxy, whatever the scheme;
        // other endpoints keep the proxy variables (NO_PROXY included) as users expect.
        if is_loopback(&settings.endpoint) {
            builder = builder.no_proxy();
        }
        match &settings.tls {
            TlsKind::BundledRoots => {}
            TlsKind::NoVerify => builder = builder.danger_accept_invalid_certs(true),
            TlsKind::CaBundle(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| setup(format!("cannot read CA bundle {}: {e}", path.display())))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| setup(format!("CA bundle {}: {e}", path.display())))?;
                if certs.is_empty() {
                    return Err(setup(format!(
                        "CA bundle {} holds no certificates",
                        path.display()
                    )));
                }
                builder = builder.tls_built_in_root_certs(false);
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
        }
        let http = builder
            .build()
            .map_err(|e| setup(e.without_url().to_string()))?;
        let mut auth = HeaderValue::from_str(&format!(
            "{} {}",
            settings.token_type.scheme(),
            settings.token.expose()
        ))
        .map_err(|_| setup("the token contains characters not allowed in a header".into()))?;
        auth.set_sensitive(true);
        let host = match (
            settings.endpoint.host_str(),
            settings.endpoint.port_or_known_default(),
        ) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        };
        let rng = match policy.jitter_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let (limiter, pace) = match &policy.pace {
            Some(auto) => (
                AdaptiveLimiter::starting_at(
                    auto.start_rate,
                    auto.max_rate,
                    policy.burst,
                    &policy.aimd,
                ),
                Some(Pace::new(auto.clone())),
            ),
            None => (
                AdaptiveLimiter::new(policy.rate_per_sec, policy.burst, &policy.aimd),
                None,
            ),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                settings,
                policy,
                auth,
                host,
                limiter,
                pace,
                counters: AtomicCounters::default(),
                rng: Mutex::new(rng),
                halt: tokio::sync::watch::channel(false).0,
            }),
        })
    }

    /// Ends every request that waits for its turn (a place in flight, a rate token, a
    /// retry's delay) at once, unsent, with an error whose
    /// [`is_halted`](ApiError::is_halted) is true; requests already sent finish. For a run
    /// that stops: at a low rate the queue could otherwise hold a SIGTERM for minutes. It
    /// lasts until [`unhalt`](Client::unhalt), which a run calls when it starts and ends.
    pub fn halt_waiting(&self) {
        self.inner.halt.send_replace(true);
    }

    /// Lets requests wait for their turn again after [`halt_waiting`](Client::halt_waiting).
    pub fn unhalt(&self) {
        self.inner.halt.send_replace(false);
    }

    /// Completes once [`halt_waiting`](Client::halt_waiting) was called.
    async fn halted(&self) {
        let mut halt = self.inner.halt.subscribe();
        // The sender lives as long as the client, so `wait_for` only ends on a halt.
        let _ = halt.wait_for(|h| *h).await;
    }

    /// The API root, e.g. `https://app.datarobot.com/api/v2/`.
    pub fn endpoint(&self) -> &Url {
        &self.inner.settings.endpoint
    }

    /// The connection settings.
    pub fn settings(&self) -> &ConnSettings {
        &self.inner.settings
    }

    /// The pacing and retry policy.
    pub fn policy(&self) -> &ClientPolicy {
        &self.inner.policy
    }

    /// Requests, retries, 429s and the current rate.
    pub fn counters(&self) -> Counters {
        let c = &self.inner.counters;
        Counters {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            rate_per_sec: self.inner.limiter.rate(),
            in_flight: c.in_flight.load(Ordering::Relaxed),
            concurrency_limit: self.inner.pace.as_ref().map(|p| p.limit() as u64),
            answered_per_sec: self.inner.pace.as_ref().map_or(0.0, |p| p.delivered_rate()),
            pace: self.inner.pace.as_ref().map(Pace::report),
        }
    }

    /// 429 answers that carried a `Retry-After`.
    pub fn retry_after_seen(&self) -> u64 {
        self.inner.counters.retry_after.load(Ordering::Relaxed)
    }

    /// One GET of `path` (relative to the endpoint) with `query`, through the same pace,
    /// limiter, retry policy and budget as every request, answered raw: the envelope, the
    /// rate headers and the time it took, for `handover doctor`. A non-2xx answer is an
    /// error, as everywhere.
    pub async fn probe_get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<ProbeReply, ApiError> {
        self.probe_url(self.url(path, query)).await
    }

    /// [`probe_get`](Client::probe_get) of a `next` link found on the page at `page`,
    /// resolved and re-based under the endpoint as the lists do; `None` when `next` is not
    /// a URL.
    pub async fn probe_next(&self, page: &Url, next: &str) -> Option<Result<ProbeReply, ApiError>> {
        let url = rebase_next(self.endpoint(), page, next)?;
        Some(self.probe_url(url).await)
    }

    async fn probe_url(&self, url: Url) -> Result<ProbeReply, ApiError> {
        let reply = self.get_reply(url.clone()).await?;
        let rate_headers = reply
            .headers
            .iter()
            .filter(|(name, _)| is_rate_header(name.as_str()))
            .map(|(name, v)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").trim().to_string(),
                )
            })
            .collect();
        Ok(ProbeReply {
            url,
            status: reply.status,
            json: serde_json::from_slice(&reply.body).ok(),
            rate_headers,
            rtt: reply.rtt,
            attempts: reply.attempts,
        })
    }

    // ---------------------------------------------------------------------------------
    // Preflight and users

    /// Checks the endpoint and the token before anything else: `GET version/`, then
    /// `GET account/info/`. Each way this commonly fails (an unreachable host, an endpoint
    /// that is not the API, a refused token) becomes one clear error with a hint. Retries
    /// transport failures only briefly, so a wrong host fails in about a second.
    pub async fn preflight(&self) -> Result<Account, ApiError> {
        let retry = RetryPolicy {
            max_attempts: self.inner.policy.retry.max_attempts.min(3),
            server_error_attempts: self.inner.policy.retry.server_error_attempts.min(2),
            ..self.inner.policy.retry.clone()
        };
        // Both at once: one round trip instead of two before anything else can start. The
        // version's answer is judged first, since it says best what is wrong with an
        // endpoint that is not the API.
        let version = async {
            let reply = self
                .call(Method::GET, self.url("version/", &[]), None, &retry)
                .await?;
            let v = self.json(&reply)?;
            str_field(&v, "versionString")
                .ok_or_else(|| ApiError::decode("GET", &reply.path, "versionString", "missing"))
        };
        let account = self.call(Method::GET, self.url("account/info/", &[]), None, &retry);
        let (version, account) = tokio::join!(version, account);
        let version = version.map_err(|e| self.preflight_hint(e))?;
        if let Some(major) = version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            && major > 2
        {
            tracing::warn!(version, "server API version is newer than 2.x; continuing");
        }

        let reply = account.map_err(|e| self.preflight_hint(e))?;
        let info = self.json(&reply)?;
        let path = reply.path.as_str();
        let id = ["uid", "id", "userId"]
            .iter()
            .find_map(|k| str_field(&info, k).filter(|s| !s.is_empty()))
            .ok_or_else(|| ApiError::decode("GET", path, "uid", "missing"))?;
        let username = ["username", "email"]
            .iter()
            .find_map(|k| str_field(&info, k).filter(|s| !s.is_empty()))
            .ok_or_else(|| ApiError::decode("GET", path, "email", "missing"))?;
        let account = Account {
            id,
            username,
            full_name: full_name(&info),
            org_id: str_field(&info, "orgId"),
            tenant_id: str_field(&info, "tenantId"),
            server_version: version,
            org_admin: is_org_admin(&info),
        };
        tracing::info!(
            user = %account.username,
            version = %account.server_version,
            "preflight ok"
        );
        Ok(account)
    }

    fn preflight_hint(&self, e: ApiError) -> ApiError {
        let endpoint = self.endpoint().as_str().trim_end_matches('/').to_string();
        let not_api = if self.inner.settings.looks_like_api_v2() {
            format!("is {endpoint} a DataRobot API endpoint?")
        } else {
            format!(
                "the endpoint usually ends in /api/v2 (e.g. https://app.datarobot.com/api/v2); \
                 it is {endpoint}"
            )
        };
        let hint = match (e.class(), e.kind()) {
            (ErrorClass::Auth, _) => format!(
                "the token from {} was refused; check it, and token_type (Token or Bearer)",
                self.inner.settings.source.describe_key("token")
            ),
            (
                _,
                ApiErrorKind::Transport {
                    kind: TransportKind::Tls,
                    ..
                },
            ) => "set ssl_verify to your CA bundle in the config file if the server uses an \
                 internal CA"
                .to_string(),
            (_, ApiErrorKind::Transport { .. }) => {
                format!("check the endpoint ({endpoint}) and your network or proxy")
            }
            (_, ApiErrorKind::Redirect { .. }) => {
                format!("the server redirects; check the scheme (https) — {not_api}")
            }
            (_, ApiErrorKind::NotJson { .. } | ApiErrorKind::Decode { .. }) => not_api,
            (ErrorClass::Gone, _) => not_api,
            _ => return e,
        };
        e.with_hint(hint)
    }

    /// Finds a user by username (`users/?username=`, an admin endpoint), matching exactly
    /// but case-insensitively, and following pages in case the server ignores the filter.
    pub async fn find_user(&self, username: &str) -> Result<Option<User>, ApiError> {
        let mut query = vec![("username", username.to_string())];
        self.push_limit(&mut query);
        let mut found = None;
        self.paginate(self.url("users/", &query), |item| {
            let user = user_from_item(item).map_err(|f| ItemProblem {
                reason: "missing".into(),
                field: f,
            })?;
            if user.username.eq_ignore_ascii_case(username) {
                found = Some(user);
                return Ok(ControlFlow::Break(()));
            }
            Ok(ControlFlow::Continue(()))
        })
        .await?;
        Ok(found)
    }

    /// Every user of the organization (`users/`, an admin endpoint), following its pages.
    /// An item that names no id or username is skipped with a warning; a 403 is the
    /// caller's answer for not being an administrator.
    pub async fn list_users(&self) -> Result<Vec<User>, ApiError> {
        let mut query = Vec::new();
        self.push_limit(&mut query);
        let mut users = Vec::new();
        let mut seen = HashSet::new();
        let mut unreadable = 0usize;
        self.paginate(self.url("users/", &query), |item| {
            match user_from_item(item) {
                Ok(user) if seen.insert(user.id.clone()) => users.push(user),
                Ok(_) => {}
                Err(_) => unreadable += 1,
            }
            Ok(ControlFlow::Continue(()))
        })
        .await?;
        if unreadable > 0 {
            tracing::warn!(
                count = unreadable,
                "users/ items without an id or username were skipped"
            );
        }
        Ok(users)
    }

    /// A user by id (`users/{id}/`); `None` when there is no such user.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, ApiError> {
        let url = self.url(&format!("users/{}/", seg("GET", "users/", id)?), &[]);
        let reply = match self.get_reply(url).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let v = self.json(&reply)?;
        user_from_item(&v)
            .map(Some)
            .map_err(|f| ApiError::decode("GET", &reply.path, &f, "missing"))
    }

    // ---------------------------------------------------------------------------------
    // Entities

    /// Every entity of `kind` the caller can see (narrowed by `filter` where the server
    /// can filter; see [`ListFilter`]), each kind read from its own list and envelope, with
    /// the parameters that make the list whole (contract C1–C4): `type=all` on data sources
    /// and stores, offset pages on data stores, a stable order on deployments,
    /// `showOrgUseCases=true` on use cases. An item without an id is counted in
    /// [`Listing::unreadable`] and the listing goes on.
    pub async fn list(&self, kind: EntityKind, filter: &ListFilter) -> Result<Listing, ApiError> {
        self.list_into(kind, filter, Listing::default()).await
    }

    /// [`list`](Client::list), telling `each` of every entity as soon as its page arrives,
    /// so that a caller can start on the first page while the next is fetched.
    pub async fn list_each(
        &self,
        kind: EntityKind,
        filter: &ListFilter,
        each: impl Fn(&EntityRef) + Send + Sync + 'static,
    ) -> Result<Listing, ApiError> {
        let out = Listing {
            each: OnEntity(Some(Arc::new(each))),
            ..Listing::default()
        };
        let mut listing = self.list_into(kind, filter, out).await?;
        listing.each = OnEntity(None);
        Ok(listing)
    }

    async fn list_into(
        &self,
        kind: EntityKind,
        filter: &ListFilter,
        mut out: Listing,
    ) -> Result<Listing, ApiError> {
        let owner = filter.owner.as_ref();
        // Catalog kinds: the one place with a server-side owner filter (contract §9).
        let catalog_type = match (kind, owner) {
            (EntityKind::File, _) => Some("files"),
            (EntityKind::Dataset, Some(_)) => Some("dataset"),
            (EntityKind::UserBlueprint, Some(_)) => Some("user_blueprint"),
            _ => None,
        };
        if let Some(catalog_type) = catalog_type {
            let mut query = vec![("type", catalog_type.to_string())];
            if let Some(o) = owner {
                query.push(("ownerUserId", o.id.clone()));
            }
            self.push_limit(&mut query);
            self.collect(
                kind,
                self.url("catalogItems/", &query),
                true,
                None,
                &mut out,
            )
            .await?;
        } else {
            let base: Vec<(&str, String)> = kind
                .facts()
                .list_query
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect();
            for (path, related) in list_paths(kind) {
                match kind.paging() {
                    PagingKind::Offset => {
                        // Projects come 1,000 a page: the one list that may be huge and
                        // unpaged on an older server.
                        let limit = match kind.envelope() {
                            EnvelopeKind::BareArray => self
                                .inner
                                .policy
                                .projects_page_size
                                .filter(|n| *n > 0)
                                .or(self.page_size()),
                            _ => self.page_size(),
                        };
                        self.list_by_offset(kind, &path, &base, limit, &mut out)
                            .await?
                    }
                    PagingKind::Once => {
                        let url = self.url(&path, &base);
                        self.collect(kind, url, false, None, &mut out).await?;
                    }
                    PagingKind::Next => {
                        let mut query = base.clone();
                        self.push_limit(&mut query);
                        let url = self.url(&path, &query);
                        // Use cases name their owners: the list keeps the departing user's.
                        let owners_of = owner.filter(|_| kind == EntityKind::UseCase);
                        self.collect(kind, url, false, owners_of, &mut out).await?;
                    }
                    PagingKind::Always { max_limit } => {
                        let limit = self.page_size().unwrap_or(100);
                        let limit = max_limit.map_or(limit, |m| limit.min(m));
                        self.list_always(kind, &path, related, &base, limit, &mut out)
                            .await?;
                    }
                }
            }
        }
        if !out.unreadable.is_empty() {
            tracing::warn!(
                kind = %kind,
                count = out.unreadable.len(),
                first = %out.unreadable[0],
                "list items without an id were skipped"
            );
        }
        tracing::debug!(kind = %kind, count = out.entities.len(), "listed");
        Ok(out)
    }

    /// Follows a paginated (or `{"data":[…]}`) list into `out`, deduplicating ids.
    async fn collect(
        &self,
        kind: EntityKind,
        url: Url,
        via_catalog: bool,
        owners_of: Option<&User>,
        out: &mut Listing,
    ) -> Result<(), ApiError> {
        let mut seen: HashSet<String> = out.entities.iter().map(|e| e.id.clone()).collect();
        self.paginate(url, |item| {
            if owners_of.is_some_and(|u| !owners_include(item, u)) {
                return Ok(ControlFlow::Continue(()));
            }
            out.take(kind, item, via_catalog, None, &mut seen);
            Ok(ControlFlow::Continue(()))
        })
        .await
    }

    /// Lists paged by `offset`/`limit` alone: `projects/` (a bare array; servers before
    /// API 2.29 ignore the paging and return at most 1,000 items at once) and
    /// `externalDataStores/` (`{"data": […]}`, contract C2). Read until a page holds
    /// nothing new: a page shorter than asked is no proof of the end, since a server may
    /// cap the page below the limit asked, and the empty page costs one request.
    async fn list_by_offset(
        &self,
        kind: EntityKind,
        path: &str,
        base: &[(&str, String)],
        limit: Option<u32>,
        out: &mut Listing,
    ) -> Result<(), ApiError> {
        let mut seen: HashSet<String> = out.entities.iter().map(|e| e.id.clone()).collect();
        let mut offset = 0usize;
        loop {
            let mut query = base.to_vec();
            if let Some(l) = limit {
                query.push(("offset", offset.to_string()));
                query.push(("limit", l.to_string()));
            }
            let reply = self.get_reply(self.url(path, &query)).await?;
            let v = self.json(&reply)?;
            let items = match &v {
                Value::Array(items) => items.as_slice(),
                Value::Object(_) => match v.get("data") {
                    Some(Value::Array(items)) => items.as_slice(),
                    _ => {
                        return Err(ApiError::decode(
                            "GET",
                            &reply.path,
                            "data",
                            "expected an array",
                        ));
                    }
                },
                _ => {
                    return Err(ApiError::decode(
                        "GET",
                        &reply.path,
                        "[]",
                        "expected an array",
                    ));
                }
            };
            let mut new = 0;
            for item in items {
                if out.take(kind, item, false, None, &mut seen) {
                    new += 1;
                }
            }
            if limit.is_none() || new == 0 {
                break;
            }
            offset += items.len();
        }
        Ok(())
    }

    /// Lists of the types of contract §12.1: `offset` and `limit` on every request (a
    /// custom jobs server may require both; the Workload API's default page is 10 and its
    /// limit at most 100). A page's `next` is followed while it gives one and the list ends
    /// at a null `next`; an answer with no `next` at all is read by offset until a page
    /// holds nothing new. Ids listed per related type are kept as `<related>:<id>`.
    async fn list_always(
        &self,
        kind: EntityKind,
        path: &str,
        related: Option<&str>,
        base: &[(&str, String)],
        limit: u32,
        out: &mut Listing,
    ) -> Result<(), ApiError> {
        let mut seen: HashSet<String> = out.entities.iter().map(|e| e.id.clone()).collect();
        let mut visited = HashSet::new();
        let mut offset = 0usize;
        let paged = |offset: usize| {
            let mut query = base.to_vec();
            query.push(("offset", offset.to_string()));
            query.push(("limit", limit.to_string()));
            self.url(path, &query)
        };
        let mut url = paged(0);
        loop {
            visited.insert(url.as_str().to_string());
            let reply = self.get_reply(url.clone()).await?;
            let v = self.json(&reply)?;
            let decode = |field: &str, reason: &str| {
                ApiError::decode("GET", &reply.path, field, reason).with_attempts(reply.attempts)
            };
            let (items, next) = page_of(&v).map_err(|(field, reason)| decode(field, reason))?;
            let mut new = 0;
            for item in items {
                if out.take(kind, item, false, related, &mut seen) {
                    new += 1;
                }
            }
            offset += items.len();
            url = match next {
                // The end, as the server says.
                Some(None) => return Ok(()),
                Some(Some(_)) if items.is_empty() => return Ok(()),
                Some(Some(next)) => match rebase_next(self.endpoint(), &url, next) {
                    Some(u) => u,
                    None => return Err(decode("next", "not a URL")),
                },
                // No `next` in this envelope: offset pages until nothing new.
                None if new == 0 => return Ok(()),
                None => paged(offset),
            };
            if visited.contains(url.as_str()) {
                tracing::warn!(path = %url.path(), "pagination loops; stopping");
                return Ok(());
            }
        }
    }

    /// One entity (`<collection>/<id>/`); a 404 is an error whose
    /// [`is_not_found`](ApiError::is_not_found) is true.
    pub async fn get(&self, kind: EntityKind, id: &str) -> Result<EntityRef, ApiError> {
        // There is no `GET files/{id}/`; a file is read as a catalog item (contract C5).
        let path = match kind.list_route() {
            ListRouteKind::Catalog(_) => {
                format!("catalogItems/{}/", seg("GET", "catalogItems/", id)?)
            }
            _ => entity_path(kind, id).map_err(|e| bad_id("GET", e))?,
        };
        // A user blueprint is read with the parameters the official client sends: the
        // generated client gives `editMode` and `decompressedBlueprint` no default.
        let query = match kind {
            EntityKind::UserBlueprint => vec![
                ("editMode", "true".to_string()),
                ("decompressedBlueprint", "true".to_string()),
            ],
            _ => Vec::new(),
        };
        let url = self.url(&path, &query);
        let reply = self.get_reply(url).await?;
        let v = self.json(&reply)?;
        let mut e = entity_from_item(kind, &v, false)
            .or_else(|_| entity_from_item(kind, &v, true))
            .unwrap_or_else(|_| EntityRef {
                kind,
                id: id.to_string(),
                name: String::new(),
                created: None,
                use_case_id: None,
            });
        // The id asked for is the id its sharing endpoints take, whatever the body says.
        e.id = id.to_string();
        Ok(e)
    }

    // ---------------------------------------------------------------------------------
    // Access lists and shares

    /// The whole access list of one entity, in either dialect and role vocabulary, groups
    /// and organizations included. Entries without a role are left out; entries that
    /// cannot be read are kept aside in [`AccessList::unreadable`].
    pub async fn access_list(&self, kind: EntityKind, id: &str) -> Result<AccessList, ApiError> {
        let mut query = Vec::new();
        self.push_limit(&mut query);
        let mut out = AccessList::default();
        self.paginate(self.access_url(kind, id, "GET", &query)?, |item| {
            match read_grant(kind, item) {
                Ok(Some(g)) => {
                    if let Some(name) = item.get("role").and_then(Value::as_str) {
                        out.role_names.insert(AccessList::key(&g), name.to_string());
                    }
                    out.grants.push(g);
                }
                Ok(None) => {}
                Err(u) => out.unreadable.push(u),
            }
            Ok(ControlFlow::Continue(()))
        })
        .await?;
        Ok(out)
    }

    /// `user`'s entry in one entity's access list, if any. Asks the server to filter
    /// (accessControl `username=`, sharedRoles `id=`) and still matches client-side, since
    /// a server may ignore the filter.
    pub async fn access_of(
        &self,
        kind: EntityKind,
        id: &str,
        user: &User,
    ) -> Result<Option<Grant>, ApiError> {
        let mut query = match kind.dialect() {
            DialectKind::AccessControl => vec![("username", user.username.clone())],
            DialectKind::SharedRoles => vec![("id", user.id.clone())],
        };
        self.push_limit(&mut query);
        let mut found = None;
        self.paginate(self.access_url(kind, id, "GET", &query)?, |item| {
            if let Ok(Some(g)) = read_grant(kind, item)
                && grant_is(&g, user)
            {
                found = Some(g);
                return Ok(ControlFlow::Break(()));
            }
            Ok(ControlFlow::Continue(()))
        })
        .await?;
        Ok(found)
    }

    /// Sends every change for one entity as ONE PATCH in the kind's dialect (the body is
    /// [`share_body`]'s). Any 2xx is success. Retried like every request; see
    /// [`ShareOutcome::attempts`]. A replace-semantics kind is refused before sending:
    /// its write needs the list it replaces ([`share_on`](Client::share_on)).
    pub async fn share(
        &self,
        kind: EntityKind,
        id: &str,
        req: &ShareRequest,
    ) -> Result<ShareOutcome, ApiError> {
        self.patch(kind, id, |kind| share_body(kind, req), None)
            .await
    }

    /// [`share`](Client::share) on an entity whose access list is `live` (as just read):
    /// on replace-semantics kinds the body carries the whole target list
    /// ([`share_body_on`]); on the others it is [`share`](Client::share)'s.
    pub async fn share_on(
        &self,
        kind: EntityKind,
        id: &str,
        req: &ShareRequest,
        live: &AccessList,
    ) -> Result<ShareOutcome, ApiError> {
        self.share_on_rechecked(kind, id, req, live, None).await
    }

    /// [`share_on`](Client::share_on), asking `recheck` before sending the write again
    /// after an attempt whose answer was lost (a 5xx, a broken or timed-out connection: it
    /// may have been applied). Time passes between attempts, so what the drift guard saw
    /// before the first may no longer hold: the caller reads the entity again and says
    /// whether to send. On [`Resend::Stop`] the last attempt's error is returned, with its
    /// attempts.
    pub async fn share_on_rechecked(
        &self,
        kind: EntityKind,
        id: &str,
        req: &ShareRequest,
        live: &AccessList,
        recheck: Option<&Recheck<'_>>,
    ) -> Result<ShareOutcome, ApiError> {
        self.patch(kind, id, |kind| share_body_on(kind, req, live), recheck)
            .await
    }

    async fn patch(
        &self,
        kind: EntityKind,
        id: &str,
        body: impl FnOnce(EntityKind) -> Result<Value, ShareBodyError>,
        recheck: Option<&Recheck<'_>>,
    ) -> Result<ShareOutcome, ApiError> {
        let url = self.access_url(kind, id, "PATCH", &[])?;
        let body = body(kind).map_err(|e| {
            ApiError::new(
                "PATCH",
                url.path(),
                ApiErrorKind::Invalid {
                    reason: e.to_string(),
                },
            )
        })?;
        let reply = self
            .call_rechecked(
                Method::PATCH,
                url,
                Some(&body),
                &self.inner.policy.retry,
                recheck,
            )
            .await?;
        let body = if reply.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            serde_json::from_slice(&reply.body).ok()
        };
        Ok(ShareOutcome {
            status: reply.status,
            attempts: reply.attempts,
            body,
        })
    }

    // ---------------------------------------------------------------------------------
    // Plumbing

    fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        join(self.endpoint(), path, query)
    }

    fn access_url(
        &self,
        kind: EntityKind,
        id: &str,
        method: &str,
        query: &[(&str, String)],
    ) -> Result<Url, ApiError> {
        let path = access_path(kind, id).map_err(|e| bad_id(method, e))?;
        Ok(self.url(&path, query))
    }

    fn page_size(&self) -> Option<u32> {
        self.inner.policy.page_size.filter(|n| *n > 0)
    }

    fn push_limit(&self, query: &mut Vec<(&str, String)>) {
        if let Some(l) = self.page_size() {
            query.push(("offset", "0".to_string()));
            query.push(("limit", l.to_string()));
        }
    }

    async fn get_reply(&self, url: Url) -> Result<Reply, ApiError> {
        self.call(Method::GET, url, None, &self.inner.policy.retry)
            .await
    }

    /// Parses a successful reply's body as JSON.
    fn json(&self, reply: &Reply) -> Result<Value, ApiError> {
        serde_json::from_slice(&reply.body).map_err(|_| {
            ApiError::new(
                reply.method.as_str(),
                &reply.path,
                ApiErrorKind::NotJson {
                    status: reply.status,
                    content_type: header(&reply.headers, CONTENT_TYPE.as_str()),
                    // Scrubbed before it is cut, so that no piece of the token stays.
                    snippet: snippet(
                        self.inner
                            .settings
                            .token
                            .scrub(&String::from_utf8_lossy(&reply.body))
                            .as_bytes(),
                    ),
                },
            )
            .with_attempts(reply.attempts)
            .scrubbed(&self.inner.settings.token)
        })
    }

    /// Follows a paginated list from `first`, handing each item to `visit` until it
    /// breaks. Accepts `{"data": [...], "next": …}` and a bare array (one page). Stops on
    /// a null or missing `next`, an empty page, or a `next` already visited; never on a
    /// short page alone, which may still have a `next` (contract C14).
    async fn paginate<F>(&self, first: Url, mut visit: F) -> Result<(), ApiError>
    where
        F: FnMut(&Value) -> Result<ControlFlow<()>, ItemProblem>,
    {
        let mut url = first;
        let mut visited = HashSet::new();
        loop {
            visited.insert(url.as_str().to_string());
            let reply = self.get_reply(url.clone()).await?;
            let v = self.json(&reply)?;
            let decode = |field: &str, reason: &str| {
                ApiError::decode("GET", &reply.path, field, reason).with_attempts(reply.attempts)
            };
            let (items, next) = page_of(&v).map_err(|(field, reason)| decode(field, reason))?;
            // A bare array is one page; a null `next` ends the list as a missing one does.
            let next = next.flatten();
            for item in items {
                match visit(item) {
                    Ok(ControlFlow::Continue(())) => {}
                    Ok(ControlFlow::Break(())) => return Ok(()),
                    Err(p) => return Err(decode(&p.field, &p.reason)),
                }
            }
            let Some(next) = next else { return Ok(()) };
            if items.is_empty() {
                return Ok(());
            }
            let Some(next_url) = rebase_next(self.endpoint(), &url, next) else {
                return Err(decode("next", "not a URL"));
            };
            if visited.contains(next_url.as_str()) {
                tracing::warn!(path = %next_url.path(), "pagination loops; stopping");
                return Ok(());
            }
            url = next_url;
        }
    }

    /// Sends one logical request: waits for the limiter, sends, retries per `retry`. Every
    /// error leaves with the token taken out of the server's words (issue 20): this is the
    /// one door server text comes in by.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        retry: &RetryPolicy,
    ) -> Result<Reply, ApiError> {
        self.call_rechecked(method, url, body, retry, None).await
    }

    /// [`Client::call`], asking `recheck` before a retry of a request whose last attempt
    /// may have been applied (see [`Client::share_on_rechecked`]). Every error's server
    /// text has the token taken out.
    async fn call_rechecked(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        retry: &RetryPolicy,
        recheck: Option<&Recheck<'_>>,
    ) -> Result<Reply, ApiError> {
        self.call_raw(method, url, body, retry, recheck)
            .await
            .map_err(|e| e.scrubbed(&self.inner.settings.token))
    }

    async fn call_raw(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        retry: &RetryPolicy,
        recheck: Option<&Recheck<'_>>,
    ) -> Result<Reply, ApiError> {
        let inner = &*self.inner;
        let path = url.path().to_string();
        if inner.policy.read_only && method != Method::GET {
            return Err(ApiError::new(
                method.as_str(),
                &path,
                ApiErrorKind::Invalid {
                    reason: "a read-only client sends GET only; refused before sending".into(),
                },
            ));
        }
        let body = body.map(|b| serde_json::to_vec(b).expect("a JSON value always serialises"));
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            // A budget is taken before waiting for a place, so that it is never exceeded,
            // even by retries, and a refused request holds no place in flight.
            if let Some(max) = inner.policy.max_requests {
                let taken = inner.counters.requests.fetch_update(
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                    |n| (n < max).then_some(n + 1),
                );
                if taken.is_err() {
                    return Err(ApiError::new(
                        method.as_str(),
                        &path,
                        ApiErrorKind::Invalid {
                            reason: format!("the budget of {max} requests is spent"),
                        },
                    )
                    .with_attempts(attempt - 1));
                }
            }
            // A place in flight first, then the rate's token, so that a token is never
            // spent by a request that then waits.
            let turn = async {
                let permit = match &inner.pace {
                    Some(pace) => Some(pace.acquire().await),
                    None => None,
                };
                inner.limiter.acquire().await;
                permit
            };
            let mut permit = tokio::select! {
                biased;
                () = self.halted() => {
                    return Err(ApiError::new(method.as_str(), &path, ApiErrorKind::Halted)
                        .with_attempts(attempt - 1));
                }
                permit = turn => permit,
            };
            if let Some(permit) = &mut permit {
                permit.sent();
            }
            if inner.policy.max_requests.is_none() {
                inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            }
            let in_flight_guard = InFlight::enter(&inner.counters.in_flight);
            let mut rb = inner
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, inner.auth.clone())
                .header(ACCEPT, "application/json");
            if let Some(b) = &body {
                rb = rb.header(CONTENT_TYPE, "application/json").body(b.clone());
            }
            let started = tokio::time::Instant::now();
            let sent = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    resp.bytes().await.map(|b| (status, headers, b.to_vec()))
                }
                Err(e) => Err(e),
            };
            let rtt = started.elapsed();
            let elapsed_ms = rtt.as_millis() as u64;
            if let (Some(pace), Some(permit)) = (&inner.pace, &permit) {
                let signal = match &sent {
                    Ok((429, headers, _)) => Signal::Throttled(
                        header(headers, "retry-after")
                            .and_then(|v| parse_retry_after(&v, SystemTime::now()))
                            .map(|d| d.min(retry.max_retry_after)),
                    ),
                    Ok((502..=504, _, _)) => Signal::Gateway,
                    Ok(_) => Signal::Answer,
                    Err(_) => Signal::Lost,
                };
                pace.on_reply(&inner.limiter, permit, rtt, signal);
            }
            drop(permit);
            drop(in_flight_guard);

            let (err, kind, retry_after, status) = match sent {
                Ok((status, headers, body)) => {
                    tracing::debug!(method = %method, path = %path, status, attempt, elapsed_ms, "http");
                    let reply = Reply {
                        status,
                        headers,
                        body,
                        attempts: attempt,
                        path: path.clone(),
                        method: method.clone(),
                        rtt,
                    };
                    if (200..300).contains(&status) {
                        if inner.pace.is_none() {
                            inner.limiter.on_success();
                        }
                        return Ok(reply);
                    }
                    if (300..400).contains(&status) {
                        let location = header(&reply.headers, "location");
                        return Err(ApiError::new(
                            method.as_str(),
                            &path,
                            ApiErrorKind::Redirect { status, location },
                        )
                        .with_attempts(attempt));
                    }
                    let retry_after = header(&reply.headers, "retry-after")
                        .and_then(|v| parse_retry_after(&v, SystemTime::now()));
                    let err = status_error(&reply, retry_after, &inner.settings.token);
                    (err, RetryKind::of_status(status), retry_after, Some(status))
                }
                Err(e) => {
                    let (tk, detail) = transport_kind(&e);
                    tracing::debug!(method = %method, path = %path, attempt, elapsed_ms, error = %detail, "http failed");
                    let err = ApiError::new(
                        method.as_str(),
                        &path,
                        ApiErrorKind::Transport {
                            kind: tk,
                            detail,
                            host: inner.host.clone(),
                        },
                    );
                    let kind = match tk {
                        TransportKind::Tls | TransportKind::Other => None,
                        _ => Some(RetryKind::Transport(tk)),
                    };
                    (err, kind, None, None)
                }
            };

            if status == Some(429) {
                inner.counters.throttled.fetch_add(1, Ordering::Relaxed);
                if retry_after.is_some() {
                    inner.counters.retry_after.fetch_add(1, Ordering::Relaxed);
                }
            }
            if status == Some(429) && inner.pace.is_none() {
                // The pause is capped like the retry delay: a server asking for an hour
                // gets retried after `max_retry_after`, so pausing longer helps nobody.
                inner
                    .limiter
                    .on_throttle(retry_after.map(|d| d.min(retry.max_retry_after)));
            }
            let delay = kind.and_then(|k| {
                let mut rng = inner.rng.lock().unwrap_or_else(|p| p.into_inner());
                retry.delay(k, attempt, retry_after, &mut *rng)
            });
            let Some(delay) = delay else {
                return Err(err.with_attempts(attempt));
            };
            inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            // Retries are expected and counted on the progress line; a log line each is
            // for -v, not for every run.
            tracing::info!(
                method = %method,
                path = %path,
                status,
                attempt,
                delay_ms = delay.as_millis() as u64,
                reason = kind.map(RetryKind::as_str).unwrap_or(""),
                "retrying"
            );
            tokio::select! {
                biased;
                () = self.halted() => {
                    return Err(ApiError::new(method.as_str(), &path, ApiErrorKind::Halted)
                        .with_attempts(attempt));
                }
                () = tokio::time::sleep(delay) => {}
            }
            // An answer lost after the request went out: it may have been applied. 408,
            // 413 and 429 say it was not; a refused connection never sent it.
            let maybe_applied = match (status, kind) {
                (Some(408 | 413 | 429), _) | (_, None) => false,
                (Some(_), Some(_)) => true,
                (None, Some(k)) => matches!(
                    k,
                    RetryKind::Transport(TransportKind::Broken | TransportKind::Timeout)
                ),
            };
            if maybe_applied
                && let Some(recheck) = recheck
                && recheck().await == Resend::Stop
            {
                tracing::info!(method = %method, path = %path, attempt, "not sent again: the entity changed since");
                return Err(err.with_attempts(attempt));
            }
        }
    }
}

/// What a write's caller says before it is sent again after a lost answer
/// ([`Client::share_rechecked`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resend {
    /// Nothing landed and nothing moved: send it again.
    Send,
    /// It landed, or the entity changed since: do not.
    Stop,
}

/// The question asked before a write is sent again after a lost answer: read the entity
/// again and say whether to send ([`Client::share_rechecked`]).
pub type Recheck<'a> = dyn Fn() -> futures::future::BoxFuture<'a, Resend> + Send + Sync + 'a;

/// Counts a request in flight for as long as it lives.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicU64) -> InFlight<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reads one access-list item in the kind's dialect.
fn read_grant(kind: EntityKind, item: &Value) -> Result<Option<Grant>, UnreadableEntry> {
    match kind.dialect() {
        DialectKind::AccessControl => grant_from_ac(item),
        DialectKind::SharedRoles => grant_from_sr(item),
    }
}

/// An id that names no route of its kind, as the refusal of that one entity.
fn bad_id(method: &str, e: BadIdError) -> ApiError {
    ApiError::new(
        method,
        &e.id,
        ApiErrorKind::Invalid {
            reason: e.to_string(),
        },
    )
}

/// An id as one path segment ([`paths::seg`]), or the refusal of that one entity.
fn seg(method: &str, collection: &str, id: &str) -> Result<String, ApiError> {
    super::paths::seg(id)
        .map_err(|reason| ApiError::new(method, collection, ApiErrorKind::Invalid { reason }))
}

/// A list page's items and its `next` ([`page_of`]).
type Page<'a> = (&'a [Value], Option<Option<&'a str>>);

/// A list page's items and its `next`: `None` when the envelope has no `next` at all,
/// `Some(None)` when it is null (a bare array, one page, counts as that), `Some(Some(url))`
/// otherwise. `Err((field, reason))` for a shape no list has.
fn page_of(v: &Value) -> Result<Page<'_>, (&'static str, &'static str)> {
    match v {
        Value::Array(items) => Ok((items.as_slice(), Some(None))),
        Value::Object(map) => {
            let Some(Value::Array(items)) = map.get("data") else {
                return Err(("data", "expected an array"));
            };
            let next = match map.get("next") {
                None => None,
                Some(Value::Null) => Some(None),
                Some(Value::String(s)) => Some(Some(s.as_str())),
                Some(_) => return Err(("next", "expected a URL or null")),
            };
            Ok((items.as_slice(), next))
        }
        _ => Err(("data", "expected an object or an array")),
    }
}

/// Whether a response header speaks of rate limits.
fn is_rate_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "retry-after"
        || n.starts_with("x-ratelimit")
        || n.starts_with("x-rate-limit")
        || n.starts_with("ratelimit")
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The first 200 characters of a body, on one line.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = one_line.chars().take(200).collect();
    if one_line.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// The error for a non-2xx answer: the server's `message` (plus `errors`, when it gave
/// field errors), else the start of the body; the token taken out of the body before it
/// is read or cut.
fn status_error(reply: &Reply, retry_after: Option<Duration>, token: &Token) -> ApiError {
    let text = String::from_utf8_lossy(&reply.body);
    let body = token.scrub(&text);
    let body = body.as_bytes();
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let mut m = str_field(&v, "message").unwrap_or_default();
            if let Some(Value::Object(errors)) = v.get("errors") {
                let details: Vec<String> = errors
                    .iter()
                    .map(|(k, e)| match e {
                        Value::String(s) => format!("{k}: {s}"),
                        other => format!("{k}: {other}"),
                    })
                    .collect();
                if !details.is_empty() {
                    m = if m.is_empty() {
                        details.join("; ")
                    } else {
                        format!("{m} ({})", details.join("; "))
                    };
                }
            }
            Some(m).filter(|m| !m.is_empty())
        }
        Err(_) => Some(snippet(body)).filter(|s| !s.is_empty()),
    };
    let request_id = header(&reply.headers, "x-request-id")
        .or_else(|| header(&reply.headers, "x-datarobot-request-id"));
    ApiError::new(
        reply.method.as_str(),
        &reply.path,
        ApiErrorKind::Status {
            status: reply.status,
            message,
            request_id,
            retry_after,
        },
    )
}

/// Sorts a reqwest failure and finds its innermost cause's text (reqwest's own text, "error
/// sending request", says nothing). The URL is never part of it.
fn transport_kind(e: &reqwest::Error) -> (TransportKind, String) {
    let mut detail = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        detail = if e.is_timeout() {
            "timed out".to_string()
        } else {
            "request failed".to_string()
        };
    }
    let lower = detail.to_ascii_lowercase();
    let kind = if e.is_builder() {
        TransportKind::Other
    } else if lower.contains("certificate") || lower.contains("tls handshake") {
        TransportKind::Tls
    } else if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Broken
    };
    (kind, detail)
}

/// Whether `account/info/` says the caller is an org admin. The field is not documented;
/// accept the shapes seen in DataRobot's tooling: `permissions.IS_ORG_ADMIN` and a
/// top-level `isOrgAdmin`.
fn is_org_admin(info: &serde_json::Value) -> bool {
    let flag = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_bool) == Some(true);
    flag(info.pointer("/permissions/IS_ORG_ADMIN")) || flag(info.get("isOrgAdmin"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Token;

    #[test]
    fn ids_cannot_escape_their_segment() {
        let seg = |id| seg("GET", "projects", id);
        assert_eq!(seg("5f1a").unwrap(), "5f1a");
        assert_eq!(seg("../x?y#z").unwrap(), "..%2Fx%3Fy%23z");
        assert_eq!(seg("%2e%2e").unwrap(), "%252e%252e");
        for bad in ["", ".", ".."] {
            assert_eq!(
                seg(bad).unwrap_err().class(),
                ErrorClass::Refused,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn snippets_are_short_and_one_line() {
        assert_eq!(
            snippet(b"<html>\n  <body>Not Found</body>\n</html>"),
            "<html> <body>Not Found</body> </html>"
        );
        assert_eq!(snippet(&[b'a'; 300]).chars().count(), 201);
    }

    #[tokio::test]
    async fn debug_of_client_settings_and_errors_never_shows_the_token() {
        let token = "tok-SUPER-secret-123";
        let settings =
            ConnSettings::new("http://127.0.0.1:9/api/v2", Token::new(token), false).unwrap();
        let client = Client::new(
            settings.clone(),
            ClientPolicy {
                retry: RetryPolicy::none(),
                ..ClientPolicy::default()
            },
        )
        .unwrap();
        let err = client.preflight().await.unwrap_err();
        for text in [
            format!("{settings:?}"),
            format!("{settings:#?}"),
            format!("{client:?}"),
            format!("{:?}", client.inner.auth),
            format!("{err}"),
            format!("{err:?}"),
        ] {
            assert!(!text.contains(token), "{text}");
        }
        assert!(
            err.to_string().contains("cannot connect to 127.0.0.1:9"),
            "{err}"
        );
        assert!(err.hint().is_some());
    }

    fn sim_client(sim: &crate::sim::SimHandle, policy: ClientPolicy) -> Client {
        let settings = ConnSettings::new(
            &sim.endpoint(),
            Token::new(crate::sim::DEFAULT_ADMIN_TOKEN),
            false,
        )
        .unwrap();
        Client::new(settings, policy).unwrap()
    }

    #[tokio::test]
    async fn a_read_only_client_sends_no_write() {
        use crate::sim::{GenSpec, Seed, Sim, SimConfig};
        let seed = Seed::generate(&GenSpec::uniform(1, 1));
        let sim = Sim::start("127.0.0.1:0".parse().unwrap(), seed, SimConfig::default()).unwrap();
        let client = sim_client(
            &sim,
            ClientPolicy {
                read_only: true,
                ..ClientPolicy::default()
            },
        );
        let state = sim.state();
        let e = state
            .entities
            .iter()
            .find(|e| e.kind == EntityKind::Project)
            .unwrap();
        let req = ShareRequest {
            changes: vec![crate::api::revoke_from(&crate::api::User {
                id: "5f0000000000000000000abc".into(),
                username: "nobody@acme.test".into(),
                full_name: None,
                active: None,
            })],
            notify: false,
        };
        let err = client
            .share(EntityKind::Project, &e.id, &req)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        assert_eq!(client.counters().requests, 0);
        assert_eq!(sim.stats().requests, 0);
        // GETs still go.
        client
            .access_list(EntityKind::Project, &e.id)
            .await
            .unwrap();
        assert_eq!(sim.stats().requests, 1);
    }

    #[tokio::test]
    async fn the_request_budget_is_never_exceeded() {
        use crate::sim::{GenSpec, Seed, Sim, SimConfig};
        let seed = Seed::generate(&GenSpec::uniform(1, 1));
        let sim = Sim::start("127.0.0.1:0".parse().unwrap(), seed, SimConfig::default()).unwrap();
        let client = sim_client(
            &sim,
            ClientPolicy {
                max_requests: Some(3),
                ..ClientPolicy::default()
            },
        );
        for _ in 0..3 {
            client.probe_get("version/", &[]).await.unwrap();
        }
        let err = client.probe_get("version/", &[]).await.unwrap_err();
        assert!(err.to_string().contains("budget of 3"), "{err}");
        assert_eq!(client.counters().requests, 3);
        assert_eq!(sim.stats().requests, 3);
    }
}
