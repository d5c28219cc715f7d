//! The API surface under `/api/v2/`: the axum routes, authentication, the list, get-one and
//! access-list reads of every kind with their envelopes, filters and pagination, and the
//! share writes of both dialects with their validation (R10, R12) and error answers.
//!
//! Every path ends in `/`, as every client sends it; one without is unknown. Each kind has
//! its own routes (`projects/{id}/accessControl/`), so a route's path is the template its
//! requests are counted under, and only known collections answer 405 to a wrong method.
//! Handlers are synchronous at heart: they run under the state lock and never wait on I/O.
//! Faults, latency and rate limiting happen around them, in `server`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{MethodRouter, get};
use serde_json::{Map, Value, json};

use crate::kinds::{
    ApiFamily, DialectKind, EntityKind, EnvelopeKind, NotifyKind, Role, RoleVocabKind,
    is_revoke_name,
};

use crate::app::{ApiError, App, Applied, Request, Shared, token_of};
use crate::config::{ForcedOn, InactiveRevokeKind, LimitOverMaxKind, SimConfig};
use crate::render;
use crate::state::{
    Change, EntityRec, PrincipalRef, RecipientRef, ShareError, ShareMode, State as SimState,
};
use crate::{read, write};

/// The API routes: the fixed ones, then for every kind its list, its items and both
/// dialects' access lists (a kind without one answers 404 once the entity is found).
pub(crate) fn api() -> Router<Arc<Shared>> {
    let mut api = Router::new()
        .route(
            "/api/v2/version/",
            reads(|_| Ok(json!({"major": 2, "minor": 49, "versionString": "2.49.0"}))),
        )
        .route(
            "/api/v2/account/info/",
            reads(|c| Ok(render::account_info(&c.st.users[c.caller]))),
        )
        .route("/api/v2/users/", reads(|c| c.users()))
        .route("/api/v2/users/{id}/", reads_one(|c, id| c.user(id)))
        .route("/api/v2/catalogItems/", reads(|c| c.catalog_items()))
        .route(
            "/api/v2/catalogItems/{id}/",
            reads_one(|c, id| c.catalog_item(id)),
        )
        .route("/api/v2/status/{id}/", get(job_status));
    for kind in EntityKind::ALL {
        let facts = kind.facts();
        // The Workload API's paths have no trailing slash; a notification policy
        // template's have its related entity type before the id (contract §12.1).
        let base = match facts.related_segment {
            true => format!("/api/v2/{}/{{rel}}", facts.collection),
            false => format!("/api/v2/{}", facts.collection),
        };
        let slash = kind.slash();
        let list = reads(move |c| c.list(kind));
        let list = match kind {
            EntityKind::Project => list.post(create_project),
            _ => list,
        };
        api = api.route(&format!("{base}{slash}"), list);
        // There is no `GET files/{id}/` (contract C5): a file is read as a catalog item.
        if facts.get_one {
            api = api.route(
                &format!("{base}/{{id}}{slash}"),
                reads_one(move |c, id| c.one(kind, id)),
            );
        }
        for dialect in [DialectKind::AccessControl, DialectKind::SharedRoles] {
            // The 13 answer 404 for a dialect they do not serve once the entity is found;
            // the §12 types have no such route at all.
            if kind.is_extra() && !kind.serves(dialect) {
                continue;
            }
            let route = reads_one(move |c, id| c.access_list(kind, id, dialect));
            // Read-only types (§12.2) have no PATCH: axum answers 405, counted in the stats.
            let route = match kind.writable() {
                true => route.patch(
                    move |State(s): App, params: Params, req: Request, body: Bytes| async move {
                        let params = params.map(|Path(p)| p).unwrap_or_default();
                        share(&s, &req, &params, kind, dialect, &body)
                    },
                ),
                false => route,
            };
            api = api.route(
                &format!("{base}/{{id}}/{}{slash}", dialect.segment()),
                route,
            );
        }
    }
    api
}

/// A route's path parameters (`id`, and `rel` for notification policy templates); none
/// on fixed routes.
type Params = Option<Path<HashMap<String, String>>>;

/// A GET route answering what `f` renders for an authenticated caller.
fn reads<F>(f: F) -> MethodRouter<Arc<Shared>>
where
    F: Fn(&Ctx) -> Result<Value, ApiError> + Clone + Send + Sync + 'static,
{
    get(
        move |State(s): App, params: Params, req: Request| async move {
            let params = params.map(|Path(p)| p).unwrap_or_default();
            read_as_caller(&s, &req, &params, f)
        },
    )
}

/// [`reads`] for a route with an `{id}`.
fn reads_one<F>(f: F) -> MethodRouter<Arc<Shared>>
where
    F: Fn(&Ctx, &str) -> Result<Value, ApiError> + Clone + Send + Sync + 'static,
{
    reads(move |c| {
        let id = c.params.get("id").map(String::as_str).unwrap_or_default();
        f(c, id)
    })
}

fn read_as_caller(
    shared: &Shared,
    req: &Request,
    params: &HashMap<String, String>,
    f: impl FnOnce(&Ctx) -> Result<Value, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let query = Query::parse(&req.query);
    let st = read(&shared.state);
    let caller = authenticate(&st, req)?;
    let ctx = Ctx {
        st: &st,
        cfg: &req.cfg,
        caller,
        req,
        query: &query,
        params,
    };
    f(&ctx).map(Json)
}

/// `status/{job}/`: the async job behind a project creation, finished already: 303 to it.
async fn job_status(
    State(s): App,
    Path(job): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let st = read(&s.state);
    authenticate(&st, &req)?;
    let pid = st
        .job(&job)
        .ok_or_else(|| ApiError::not_found(format!("job {job}")))?;
    let location = format!("http://{}/api/v2/projects/{pid}/", req.host);
    let body = Json(json!({"status": "COMPLETED"}));
    Ok((StatusCode::SEE_OTHER, [(LOCATION, location)], body).into_response())
}

/// For a share write (a PATCH of an access list, read-only types' included), the entity it
/// aims at, from the route template that matched and the path.
pub(crate) fn write_target<'p>(
    method: &Method,
    template: Option<&str>,
    path: &'p str,
) -> Option<(EntityKind, &'p str)> {
    let tpl: Vec<&str> = template?
        .strip_prefix("/api/v2/")?
        .trim_end_matches('/')
        .split('/')
        .collect();
    let segs: Vec<&'p str> = path
        .strip_prefix("/api/v2/")?
        .trim_end_matches('/')
        .split('/')
        .collect();
    let last = *tpl.last()?;
    if method != Method::PATCH
        || tpl.len() != segs.len()
        || !matches!(last, "accessControl" | "sharedRoles")
    {
        return None;
    }
    let at = tpl.iter().position(|s| *s == "{id}")?;
    Some((EntityKind::from_collection(tpl[0])?, segs[at]))
}

/// The most data stores one `externalDataStores/` page holds (contract C2).
const DATA_STORE_PAGE: usize = 100;

/// The data source or store types a `type` filter keeps (contract C1, §4): none given
/// means JDBC only; `databases` the two database types; `all` everything.
fn store_types(
    value: Option<&str>,
    kind: EntityKind,
    cfg: &SimConfig,
) -> Result<&'static [&'static str], ApiError> {
    Ok(match value {
        None if cfg.type_default_all => &["jdbc", "dr-database-v1", "dr-connector-v1"],
        None | Some("jdbc") => &["jdbc"],
        Some("databases") if kind == EntityKind::DataSource => &["jdbc", "dr-database-v1"],
        Some("dr-database-v1") => &["dr-database-v1"],
        Some("dr-connector-v1") => &["dr-connector-v1"],
        Some("all") => &["jdbc", "dr-database-v1", "dr-connector-v1"],
        Some(_) => {
            return Err(ApiError::invalid(
                "type",
                "value must be one of all, jdbc, dr-database-v1, dr-connector-v1",
            ));
        }
    })
}

/// A notification policy template's `{relatedEntityType}` path segment (§12.1 X7), checked.
fn related_of(
    kind: EntityKind,
    params: &HashMap<String, String>,
) -> Result<Option<String>, ApiError> {
    if !kind.facts().related_segment {
        return Ok(None);
    }
    match params.get("rel") {
        Some(r) if crate::kinds::RELATED_ENTITY_TYPES.contains(&r.as_str()) => Ok(Some(r.clone())),
        _ => Err(ApiError::invalid(
            "relatedEntityType",
            format!(
                "value must be one of {}",
                crate::kinds::RELATED_ENTITY_TYPES.join(", ")
            ),
        )),
    }
}

/// The recipient types the server does not show: the §12 non-user ones when the
/// `extra_recipients` knob is off.
fn hidden_types(cfg: &SimConfig) -> &'static [&'static str] {
    if cfg.extra_recipients {
        &[]
    } else {
        &["externalApplication", "role"]
    }
}

fn authenticate(st: &SimState, req: &Request) -> Result<usize, ApiError> {
    match token_of(req.authorization.as_deref()) {
        None => Err(ApiError::new(
            401,
            "Authentication required: send 'Authorization: Token <api key>' or 'Bearer <api key>'",
        )),
        Some(token) => st
            .user_by_token(token)
            .ok_or_else(|| ApiError::new(401, "Invalid API token")),
    }
}

/// The query string, decoded.
pub(crate) struct Query<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Query<'a> {
    fn parse(raw: &'a str) -> Query<'a> {
        Query {
            pairs: form_urlencoded::parse(raw.as_bytes()).collect(),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
            .filter(|v| !v.is_empty())
    }

    fn number(&self, key: &str) -> Result<Option<usize>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|_| ApiError::invalid(key, "value must be a non-negative integer"))
            })
            .transpose()
    }

    /// A boolean parameter: `true`, `True`, `false` or `False` (as the spec lists them).
    fn flag(&self, key: &str) -> Result<Option<bool>, ApiError> {
        self.get(key)
            .map(|v| match v {
                "true" | "True" => Ok(true),
                "false" | "False" => Ok(false),
                _ => Err(ApiError::invalid(key, "value must be true or false")),
            })
            .transpose()
    }

    /// The query with `offset` and `limit` replaced, for `next`/`previous` links.
    fn with_page(&self, offset: usize, limit: usize) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            if k != "offset" && k != "limit" {
                s.append_pair(k, v);
            }
        }
        s.append_pair("offset", &offset.to_string());
        s.append_pair("limit", &limit.to_string());
        s.finish()
    }
}

/// The window a paginated read asks for, and what it gets.
#[derive(Clone, Copy)]
struct Window {
    offset: usize,
    /// `None`: everything (`limit=0`).
    limit: Option<usize>,
    /// How many items this page holds at most: the limit, or less on a ragged page.
    take: Option<usize>,
}

impl Window {
    fn new(offset: usize, limit: Option<usize>) -> Window {
        Window {
            offset,
            limit,
            take: limit,
        }
    }

    fn contains(&self, index: usize) -> bool {
        index >= self.offset && self.take.is_none_or(|t| index < self.offset + t)
    }
}

/// What a read handler works with.
struct Ctx<'a> {
    st: &'a SimState,
    cfg: &'a SimConfig,
    caller: usize,
    req: &'a Request,
    query: &'a Query<'a>,
    /// The route's path parameters.
    params: &'a HashMap<String, String>,
}

/// A filter on the entities of a list.
#[derive(Default)]
struct Filter {
    /// Case-insensitive substring of the name.
    name_contains: Option<String>,
    /// Exact id.
    id: Option<String>,
    /// Creator (user index); `Some(None)` means a creator that matches nobody.
    creator: Option<Option<usize>>,
    /// A user who must hold OWNER; `Some(None)` matches nothing.
    owner: Option<Option<usize>>,
    /// The caller's role must be exactly this.
    caller_role: Option<Role>,
    /// The caller must hold a role but not be the creator (catalog `accessType=shared`).
    shared_with_caller: bool,
    /// Data sources and stores of these types only (the `type` filter, contract C1).
    store_types: Option<&'static [&'static str]>,
    /// Only entities the caller holds a role on, administrator or not (use cases without
    /// `showOrgUseCases`, contract C4; the `admin_list_own_only` knob).
    member_only: bool,
    /// Notification policy templates of this related entity type (§12.1 X7).
    related: Option<String>,
    /// The entity a model package or notebook belongs to (`linked`).
    parent: Option<String>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.name_contains.is_none()
            && self.id.is_none()
            && self.creator.is_none()
            && self.owner.is_none()
            && self.caller_role.is_none()
            && !self.shared_with_caller
            && self.store_types.is_none()
            && !self.member_only
            && self.related.is_none()
            && self.parent.is_none()
    }

    /// Whether `e` passes; `acl` is the entity whose access list `e` has (its parent for a
    /// model package or a notebook).
    fn matches(&self, e: &EntityRec, acl: &EntityRec, caller: usize) -> bool {
        if let Some(n) = &self.name_contains
            && !e.name.to_lowercase().contains(n)
        {
            return false;
        }
        if let Some(id) = &self.id
            && e.id != *id
        {
            return false;
        }
        if let Some(c) = self.creator
            && c != Some(e.creator)
        {
            return false;
        }
        if let Some(o) = self.owner {
            match o {
                Some(o) if acl.grant_of(o).is_some_and(|g| g.role == Role::Owner) => {}
                _ => return false,
            }
        }
        if let Some(r) = self.caller_role
            && acl.grant_of(caller).map(|g| g.role) != Some(r)
        {
            return false;
        }
        if self.shared_with_caller && (e.creator == caller || acl.grant_of(caller).is_none()) {
            return false;
        }
        if self.related.is_some() && e.related_type != self.related {
            return false;
        }
        if self.parent.is_some() && e.linked != self.parent {
            return false;
        }
        if let Some(types) = self.store_types
            && !types.contains(&e.store_type.as_str())
        {
            return false;
        }
        if self.member_only && acl.grant_of(caller).is_none() {
            return false;
        }
        true
    }
}

impl Ctx<'_> {
    fn vocab(&self) -> RoleVocabKind {
        self.cfg.role_vocab
    }

    /// The role names of access-list reads.
    fn names(&self) -> render::Names {
        render::Names {
            vocab: self.cfg.role_vocab,
            observer: self.cfg.observer_role_names,
        }
    }

    /// A notification policy template's `{relatedEntityType}` (§12.1 X7): `None` for other
    /// kinds, 422 for a type outside `deployment` and `customjob`.
    fn related(&self, kind: EntityKind) -> Result<Option<String>, ApiError> {
        related_of(kind, self.params)
    }

    /// An entity the caller may see, on the path the route was reached by (a notification
    /// policy template under its own related entity type only).
    fn found(&self, kind: EntityKind, id: &str) -> Result<&EntityRec, ApiError> {
        let related = self.related(kind)?;
        self.st
            .visible(self.caller, kind, id)
            .filter(|e| related.is_none() || e.related_type == related)
            .ok_or_else(|| ApiError::not_found(format!("{} {id}", kind.as_str())))
    }

    fn is_admin(&self) -> bool {
        self.st.users[self.caller].org_admin
    }

    fn window(&self, default: usize, max: usize) -> Result<Window, ApiError> {
        let offset = self.query.number("offset")?.unwrap_or(0);
        let limit = match self.query.number("limit")? {
            None => Some(default),
            Some(0) => None,
            Some(l) => Some(l.min(max)),
        };
        let mut w = Window::new(offset, limit);
        // Ragged pages (contract C14): every second page holds half of what was asked.
        if self.cfg.ragged_pages
            && let Some(l) = limit
            && l > 1
            && (offset / l) % 2 == 1
        {
            w.take = Some(l / 2);
        }
        Ok(w)
    }

    /// `{count, next, previous, data, totalCount}` with absolute links.
    fn envelope(&self, data: Vec<Value>, total: usize, w: Window) -> Value {
        let link = |offset: usize, limit: usize| {
            Value::String(format!(
                "http://{}{}?{}",
                self.req.host,
                self.req.path,
                self.query.with_page(offset, limit)
            ))
        };
        let (next, previous) = match (w.limit, w.take) {
            (Some(l), Some(t)) => {
                let next = if w.offset + t < total {
                    link(w.offset + t, l)
                } else {
                    Value::Null
                };
                let previous = if w.offset > 0 && l > 0 {
                    link(w.offset.saturating_sub(l), l)
                } else {
                    Value::Null
                };
                (next, previous)
            }
            _ => (Value::Null, Value::Null),
        };
        json!({
            "count": data.len(),
            "next": next,
            "previous": previous,
            "data": data,
            "totalCount": total,
        })
    }

    /// The entities of `kinds` the caller may see and `filter` keeps, windowed and rendered.
    fn collect(
        &self,
        kinds: &[EntityKind],
        filter: &Filter,
        w: Window,
        render: impl Fn(&EntityRec) -> Value,
    ) -> (Vec<Value>, usize) {
        self.collect_in(kinds, None, filter, w, render)
    }

    /// [`collect`](Ctx::collect), in `order` (ids of the one kind) instead of seed order.
    fn collect_in(
        &self,
        kinds: &[EntityKind],
        order: Option<Vec<&String>>,
        filter: &Filter,
        w: Window,
        render: impl Fn(&EntityRec) -> Value,
    ) -> (Vec<Value>, usize) {
        let mut data = Vec::new();
        let mut total = 0;
        let everything = filter.is_empty() && self.is_admin();
        for &kind in kinds {
            let table = self.st.table(kind);
            let ids: Vec<&String> = match &order {
                Some(o) => o.clone(),
                None => table.order.iter().collect(),
            };
            if everything {
                // Fast path for the admin's unfiltered lists: slice the id list.
                let start = w.offset.saturating_sub(total).min(ids.len());
                let end = match w.take {
                    None => ids.len(),
                    Some(t) => (w.offset + t).saturating_sub(total).min(ids.len()),
                };
                for id in &ids[start..end.max(start)] {
                    if let Some(e) = table.by_id.get(*id) {
                        data.push(render(e));
                    }
                }
                total += ids.len();
                continue;
            }
            for id in ids {
                let Some(e) = table.by_id.get(id) else {
                    continue;
                };
                let acl = self.st.acl_source(e);
                if !self.st.can_see(self.caller, e) || !filter.matches(e, acl, self.caller) {
                    continue;
                }
                if w.contains(total) {
                    data.push(render(e));
                }
                total += 1;
            }
        }
        (data, total)
    }

    /// A user named by id or username in a filter; `Some(None)` when nobody has that name.
    fn user_filter(&self, key: &str) -> Option<Option<usize>> {
        self.query
            .get(key)
            .map(|v| self.st.user_by_id(v).or_else(|| self.st.user_by_name(v)))
    }

    fn list(&self, kind: EntityKind) -> Result<Value, ApiError> {
        if kind == EntityKind::File {
            return Err(ApiError::new(
                404,
                "Files have no list of their own: use catalogItems/?type=files",
            ));
        }
        // An older DataRobot without this list route (the `absent_lists` knob).
        if self.cfg.absent_lists.contains(&kind) {
            return Err(ApiError::unknown_url(&self.req.path));
        }
        let q = self.query;
        let mut f = Filter {
            related: self.related(kind)?,
            // Whether an administrator's list shows others' entities (§12.1 "Visibility").
            member_only: self.cfg.admin_list_own_only.contains(&kind),
            ..Filter::default()
        };
        let lower = |s: &str| Some(s.to_lowercase());
        self.check_paging(kind)?;
        match kind {
            EntityKind::Project => {
                f.name_contains = q.get("projectName").and_then(lower);
                f.id = q.get("projectId").map(str::to_string);
                q.flag("featureDiscovery")?;
            }
            EntityKind::Dataset => {
                q.flag("filterFailed")?;
                q.flag("isDeleted")?;
            }
            EntityKind::DataSource => {
                f.store_types = Some(store_types(q.get("type"), kind, self.cfg)?)
            }
            EntityKind::DataStore => {
                f.name_contains = q.get("name").and_then(lower);
                f.store_types = Some(store_types(q.get("type"), kind, self.cfg)?);
            }
            EntityKind::Deployment => {
                f.name_contains = q.get("search").and_then(lower);
                f.creator = self.user_filter("createdBy");
                if q.flag("createdByMe")? == Some(true) {
                    f.creator = Some(Some(self.caller));
                }
                f.caller_role = match q.get("role") {
                    None => None,
                    Some("OWNER") => Some(Role::Owner),
                    Some("USER") => Some(Role::Editor),
                    Some(_) => {
                        return Err(ApiError::invalid("role", "value must be OWNER or USER"));
                    }
                };
            }
            EntityKind::UseCase | EntityKind::RegisteredModel => {
                f.name_contains = q.get("search").and_then(lower);
                f.creator = self.user_filter("createdBy");
                // Contract C4: without `showOrgUseCases=true` the list holds the use cases
                // the caller is a member of, administrator or not.
                f.member_only =
                    kind == EntityKind::UseCase && q.flag("showOrgUseCases")? != Some(true);
            }
            EntityKind::CustomModel | EntityKind::CustomTask => {
                f.name_contains = q.get("searchFor").and_then(lower);
            }
            EntityKind::ExecutionEnvironment => {
                f.name_contains = q.get("searchFor").and_then(lower);
                if q.flag("isOwn")? == Some(true) {
                    f.creator = Some(Some(self.caller));
                }
            }
            // §12.1 X2, X3, X10, X12: `createdBy`, and `name` on the applications.
            EntityKind::CustomApplication
            | EntityKind::CustomApplicationSource
            | EntityKind::Workload
            | EntityKind::ArtifactRepository => {
                f.name_contains = q.get("name").and_then(lower);
                f.creator = self.user_filter("createdBy");
            }
            // X4: `search`.
            EntityKind::CustomJob => f.name_contains = q.get("search").and_then(lower),
            // X5, X6, X8, X9: `namePart`.
            EntityKind::SecureConfig
            | EntityKind::NotificationChannelTemplate
            | EntityKind::ComplianceDocTemplate
            | EntityKind::ValueTracker => f.name_contains = q.get("namePart").and_then(lower),
            // §12.2: `owners` (user ids, who share ownership) and `useCaseId` (the Python
            // client sends `use_case_id` and `owners` as given, see WIRE_NOTES §12).
            EntityKind::Notebook => {
                if let Some(o) = self.user_filter("owners") {
                    f.owner = Some(o);
                }
                f.parent = q
                    .get("useCaseId")
                    .or_else(|| q.get("use_case_id"))
                    .map(str::to_string);
            }
            EntityKind::ModelPackage => {
                f.parent = q.get("registeredModelId").map(str::to_string);
            }
            _ => {}
        }
        let render = |e: &EntityRec| self.entity(e);
        if kind == EntityKind::DataStore {
            // Contract C2: `offset`/`limit` (default 100, and the server returns at most
            // 100), answered as `{"data": […]}` with no `next` and no `count`.
            let limit = match q.number("limit")? {
                None | Some(0) => DATA_STORE_PAGE,
                Some(l) => l.min(DATA_STORE_PAGE),
            };
            let w = Window::new(q.number("offset")?.unwrap_or(0), Some(limit));
            let (data, _) = self.collect(&[kind], &f, w, render);
            return Ok(json!({"data": data}));
        }
        let order = match kind {
            EntityKind::Deployment => self.deployment_order()?,
            _ => None,
        };
        match kind.envelope() {
            EnvelopeKind::BareArray | EnvelopeKind::DataOnly => {
                // Not paginated: everything, unless the request asks for a window.
                let w = Window::new(
                    q.number("offset")?.unwrap_or(0),
                    q.number("limit")?.filter(|l| *l > 0),
                );
                let (data, _) = self.collect(&[kind], &f, w, render);
                Ok(if kind.envelope() == EnvelopeKind::BareArray {
                    Value::Array(data)
                } else {
                    json!({"data": data})
                })
            }
            EnvelopeKind::Paginated => {
                // The contract's bounds, within the configured ones.
                let (default, max) = match kind.facts().page {
                    Some((d, m)) => (
                        d.min(self.cfg.list_page_default),
                        m.min(self.cfg.list_page_max),
                    ),
                    None => (self.cfg.list_page_default, self.cfg.list_page_max),
                };
                let w = self.window(default, max)?;
                let (data, total) = self.collect_in(&[kind], order, &f, w, render);
                Ok(self.envelope(data, total, w))
            }
        }
    }

    /// The order of a deployments list (contract C3): `orderBy` one of the documented keys,
    /// each also with `-`; by default the last prediction time, newest first, which moves
    /// under prediction traffic. `None` is seed (creation) order.
    fn deployment_order(&self) -> Result<Option<Vec<&String>>, ApiError> {
        let order_by = self.query.get("orderBy");
        let key = order_by.map(|o| o.strip_prefix('-').unwrap_or(o));
        let descending = order_by.is_some_and(|o| o.starts_with('-'));
        let traffic = self.cfg.prediction_traffic;
        let mut ids = match key {
            None | Some("lastPredictionTimestamp" | "recentPredictions") => {
                let mut ids = self.st.deployment_order(traffic);
                // The default is newest first; `lastPredictionTimestamp` asks oldest first.
                if key.is_some() && !descending {
                    ids.reverse();
                }
                return Ok(Some(ids));
            }
            Some("createdAtTimestamp") => self
                .st
                .table(EntityKind::Deployment)
                .order
                .iter()
                .collect::<Vec<_>>(),
            Some("label") => {
                let table = self.st.table(EntityKind::Deployment);
                let mut ids: Vec<&String> = table.order.iter().collect();
                ids.sort_by_key(|id| table.by_id.get(*id).map(|e| e.name.to_lowercase()));
                ids
            }
            Some(
                "serviceHealth"
                | "modelHealth"
                | "accuracyHealth"
                | "currentModelDeployedTimestamp"
                | "importance"
                | "fairnessHealth",
            ) => self.st.table(EntityKind::Deployment).order.iter().collect(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "orderBy",
                    "value must be one of label, serviceHealth, modelHealth, accuracyHealth, \
                     recentPredictions, lastPredictionTimestamp, currentModelDeployedTimestamp, \
                     createdAtTimestamp, importance, fairnessHealth (each also with -)",
                ));
            }
        };
        if descending {
            ids.reverse();
        }
        Ok(Some(ids))
    }

    /// The paging rules of §12.1 a list request must follow: custom jobs may require both
    /// `offset` and `limit` (X4), and the Workload API refuses a `limit` above 100 unless
    /// the config clamps it (X10–X12).
    fn check_paging(&self, kind: EntityKind) -> Result<(), ApiError> {
        let q = self.query;
        if kind == EntityKind::CustomJob && self.cfg.custom_jobs_require_paging {
            for key in ["offset", "limit"] {
                if q.get(key).is_none() {
                    return Err(ApiError::invalid(key, "This field is required."));
                }
            }
        }
        if kind.family() == ApiFamily::Workload
            && self.cfg.workload_limit_over_max == LimitOverMaxKind::Refuse
            && let Some((_, max)) = kind.facts().page
            && let Some(l) = q.number("limit")?
            && (l > max || l == 0)
        {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {max}"),
            ));
        }
        Ok(())
    }

    fn one(&self, kind: EntityKind, id: &str) -> Result<Value, ApiError> {
        let e = self.found(kind, id)?;
        Ok(self.entity(e))
    }

    /// An entity as its list and get-one routes show it; a use case's `owners` name only
    /// its creator under `owner_hints_creator_only` (contract C20).
    fn entity(&self, e: &EntityRec) -> Value {
        let mut v = render::entity(self.st, e, self.caller, self.vocab());
        if self.cfg.owner_hints_creator_only && e.kind == EntityKind::UseCase {
            render::creator_as_owners(self.st, e, &mut v);
        }
        v
    }

    fn catalog_kinds(&self) -> Result<&'static [EntityKind], ApiError> {
        Ok(match self.query.get("type") {
            None => &[
                EntityKind::Dataset,
                EntityKind::File,
                EntityKind::UserBlueprint,
            ],
            Some("dataset" | "snapshot_dataset" | "remote_dataset") => &[EntityKind::Dataset],
            Some("files") => &[EntityKind::File],
            Some("user_blueprint") => &[EntityKind::UserBlueprint],
            Some(_) => {
                return Err(ApiError::invalid(
                    "type",
                    "value must be one of dataset, snapshot_dataset, remote_dataset, user_blueprint, files",
                ));
            }
        })
    }

    fn catalog_items(&self) -> Result<Value, ApiError> {
        let kinds = self.catalog_kinds()?;
        let q = self.query;
        let mut f = Filter {
            name_contains: q.get("searchFor").map(str::to_lowercase),
            ..Filter::default()
        };
        // Contract C20: "owned by" may mean "created by" (`owner_hints_creator_only`).
        let by_owner = |f: &mut Filter, o: Option<usize>| match self.cfg.owner_hints_creator_only {
            true => f.creator = Some(o),
            false => f.owner = Some(o),
        };
        if let Some(o) = self.user_filter("ownerUserId") {
            by_owner(&mut f, o);
        }
        if let Some(o) = self.user_filter("ownerUsername") {
            by_owner(&mut f, o);
        }
        match q.get("accessType") {
            None | Some("any" | "all") => {}
            Some("owned" | "owner") => f.caller_role = Some(Role::Owner),
            Some("created") => f.creator = Some(Some(self.caller)),
            Some("shared") => f.shared_with_caller = true,
            Some(_) => {
                return Err(ApiError::invalid(
                    "accessType",
                    "value must be one of owned, owner, shared, created, any",
                ));
            }
        }
        q.flag("filterFailed")?;
        let w = self.window(self.cfg.list_page_default, self.cfg.list_page_max)?;
        let (data, total) = self.collect(kinds, &f, w, |e| render::catalog_item(self.st, e));
        Ok(self.envelope(data, total, w))
    }

    fn catalog_item(&self, id: &str) -> Result<Value, ApiError> {
        [
            EntityKind::File,
            EntityKind::Dataset,
            EntityKind::UserBlueprint,
        ]
        .into_iter()
        .find_map(|k| self.st.visible(self.caller, k, id))
        .map(|e| match e.kind {
            EntityKind::File => render::entity(self.st, e, self.caller, self.vocab()),
            _ => render::catalog_item(self.st, e),
        })
        .ok_or_else(|| ApiError::not_found(format!("catalog item {id}")))
    }

    fn access_list(
        &self,
        kind: EntityKind,
        id: &str,
        dialect: DialectKind,
    ) -> Result<Value, ApiError> {
        let e = self.found(kind, id)?;
        if !kind.serves(dialect) {
            return Err(ApiError::new(
                404,
                format!(
                    "{} has no {} endpoint",
                    kind.plural_label(),
                    dialect.segment()
                ),
            ));
        }
        if e.writes_applied > 0
            && let Some(status) = self.cfg.forced_status(kind, id, ForcedOn::ReadAfterWrite)
        {
            return Err(ApiError::new(
                status,
                "Refused (the simulator's force_status knob, on reads after a write)",
            ));
        }
        let q = self.query;
        let (by_id, by_name) = match dialect {
            DialectKind::AccessControl => (q.get("userId"), q.get("username")),
            DialectKind::SharedRoles => (q.get("id"), q.get("name")),
        };
        let other_type = q.get("shareRecipientType").is_some_and(|t| t != "user");
        let w = self.window(self.cfg.acl_page_default, self.cfg.acl_page_max)?;
        let mut data = Vec::new();
        let mut total = 0;
        // A model package or a notebook has its parent's list (§12.2).
        let e = self.st.acl_source(e);
        let hidden = hidden_types(self.cfg);
        for g in &e.access {
            let u = &self.st.users[g.user];
            if other_type
                || by_id.is_some_and(|i| i != u.id)
                || by_name.is_some_and(|n| !n.eq_ignore_ascii_case(&u.username))
            {
                continue;
            }
            if w.contains(total) {
                data.push(render::access_item(self.st, kind, dialect, g, self.names()));
            }
            total += 1;
        }
        let recipient_type = q.get("shareRecipientType");
        let principals = match dialect {
            DialectKind::SharedRoles => e.principals.as_slice(),
            DialectKind::AccessControl if self.cfg.access_control_principals => {
                e.principals.as_slice()
            }
            DialectKind::AccessControl => &[],
        };
        for p in principals {
            if hidden.contains(&p.recipient_type.as_str())
                || recipient_type.is_some_and(|t| t != p.recipient_type)
                || by_id.is_some_and(|i| i != p.id)
                || by_name.is_some_and(|n| !n.eq_ignore_ascii_case(&p.name))
            {
                continue;
            }
            if w.contains(total) {
                data.push(render::principal_item(kind, dialect, p));
            }
            total += 1;
        }
        Ok(self.envelope(data, total, w))
    }

    fn users(&self) -> Result<Value, ApiError> {
        if !self.is_admin() {
            return Err(ApiError::new(
                403,
                "Only organization administrators may list users",
            ));
        }
        let q = self.query;
        let username = q.get("username");
        let part = q.get("namePart").map(str::to_lowercase);
        let w = self.window(self.cfg.list_page_default, self.cfg.list_page_max)?;
        let mut data = Vec::new();
        let mut total = 0;
        for u in &self.st.users {
            if username.is_some_and(|n| !n.eq_ignore_ascii_case(&u.username)) {
                continue;
            }
            if let Some(p) = &part
                && !u.username.to_lowercase().contains(p)
                && !u.full_name.to_lowercase().contains(p)
            {
                continue;
            }
            if w.contains(total) {
                data.push(render::user_item(u));
            }
            total += 1;
        }
        Ok(self.envelope(data, total, w))
    }

    fn user(&self, id: &str) -> Result<Value, ApiError> {
        let u = self
            .st
            .user_by_id(id)
            .ok_or_else(|| ApiError::not_found(format!("user {id}")))?;
        if u != self.caller && !self.is_admin() {
            return Err(ApiError::new(
                403,
                "Only organization administrators may read other users",
            ));
        }
        Ok(render::user_item(&self.st.users[u]))
    }
}

/// `POST projects/` (multipart, as `Project.create` sends it): creates a project owned by the
/// caller, named by the `projectName` form field, and answers 202 with the `Location` of an
/// already finished job, whose status answers 303 to the project.
async fn create_project(State(s): App, req: Request, body: Bytes) -> Result<Response, ApiError> {
    let mut st = write(&s.state);
    let caller = authenticate(&st, &req)?;
    let name = form_field(&body, "projectName").unwrap_or_else(|| "Untitled Project".to_string());
    let job = st.create_project(caller, &name);
    let location = format!("http://{}/api/v2/status/{job}/", req.host);
    Ok((
        StatusCode::ACCEPTED,
        [(LOCATION, location)],
        Json(json!({})),
    )
        .into_response())
}

/// The value of a text field in a `multipart/form-data` body, found by its name.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let text = String::from_utf8_lossy(body);
    let after = &text[text.find(&marker)? + marker.len()..];
    let value = &after[after.find("\r\n\r\n")? + 4..];
    let end = value.find("\r\n").unwrap_or(value.len());
    Some(value[..end].to_string()).filter(|v| !v.is_empty())
}

/// A parsed share body: the changes and whether the sharer asked not to notify.
struct ShareBody {
    changes: Vec<Change>,
    /// `sendNotification` as sent (projects only).
    send_notification: Option<bool>,
}

/// The fields a Workload API updateRoles body may have (`additionalProperties: false`,
/// contract §12.1 X10): at the top, and in each entry.
const WORKLOAD_TOP_KEYS: [&str; 2] = ["operation", "roles"];
const WORKLOAD_ENTRY_KEYS: [&str; 4] = ["role", "shareRecipientType", "id", "username"];

/// Refuses a key outside `allowed` (422 naming it).
fn no_extra_keys(obj: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), ApiError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(ApiError::invalid(
            format!("{at}{k}"),
            "additional properties are not allowed",
        )),
    }
}

/// Parses and validates a share body of either dialect (R10, R12), with the rules of the
/// kind's API family (§12.1: the Workload API's closed schema and role enum).
fn parse_share(
    kind: EntityKind,
    dialect: DialectKind,
    body: &[u8],
    cfg: &SimConfig,
) -> Result<ShareBody, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, format!("The request body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    let strict = kind.family() == ApiFamily::Workload && cfg.workload_strict_bodies;
    if strict {
        no_extra_keys(&obj, &WORKLOAD_TOP_KEYS, "")?;
    }
    let changes = match dialect {
        DialectKind::AccessControl => parse_ac(kind, &obj)?,
        DialectKind::SharedRoles => parse_sr(kind, &obj, cfg, strict)?,
    };
    let send_notification = match obj.get("sendNotification") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(ApiError::invalid(
                "sendNotification",
                "value must be a boolean",
            ));
        }
    };
    Ok(ShareBody {
        changes,
        send_notification,
    })
}

fn opt_bool(entry: &Map<String, Value>, key: &str, field: &str) -> Result<Option<bool>, ApiError> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(
            format!("{field}.{key}"),
            "value must be a boolean",
        )),
    }
}

fn opt_str<'v>(
    entry: &'v Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'v str>, ApiError> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(
            format!("{field}.{key}"),
            "value must be a non-empty string",
        )),
    }
}

/// Reads a role name: `Ok(None)` revokes, unknown names are a validation error.
fn role_of(name: &str, field: &str) -> Result<Option<Role>, ApiError> {
    if is_revoke_name(name) {
        return Ok(None);
    }
    Role::from_wire(name).map(Some).ok_or_else(|| {
        ApiError::invalid(
            field,
            format!("{name:?} is not a valid role (OWNER, EDITOR, USER, READ_WRITE, CONSUMER, READ_ONLY, NO_ROLE)"),
        )
    })
}

/// The Workload API's role enum (contract §12.1 X10).
const WORKLOAD_ROLES: [&str; 10] = [
    "NO_ROLE",
    "OWNER",
    "READ_WRITE",
    "EDITOR",
    "USER",
    "DATA_SCIENTIST",
    "ADMIN",
    "READ_ONLY",
    "CONSUMER",
    "OBSERVER",
];

/// [`role_of`] for a kind: the Workload API takes exactly its enum.
fn role_for(kind: EntityKind, name: &str, field: &str) -> Result<Option<Role>, ApiError> {
    match kind.family() {
        ApiFamily::Classic => role_of(name, field),
        ApiFamily::Workload if name == "NO_ROLE" => Ok(None),
        ApiFamily::Workload => WORKLOAD_ROLES
            .contains(&name)
            .then(|| Role::from_workload_wire(name))
            .flatten()
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(
                    field,
                    format!("{name:?} is not one of {}", WORKLOAD_ROLES.join(", ")),
                )
            }),
    }
}

/// The recipient types a kind's write may name besides `user` (§5.2, §12.1): none on the
/// 13 (the simulator holds their groups and organizations read-only), groups and
/// organizations on the §12 types, and their extra type when the knob shows it.
fn recipient_types(kind: EntityKind, cfg: &SimConfig) -> Vec<&'static str> {
    if !kind.is_extra() {
        return Vec::new();
    }
    let mut types = vec!["group", "organization"];
    if cfg.extra_recipients
        && let Some(t) = kind.facts().extra_recipient
    {
        types.push(t);
    }
    types
}

/// accessControl: `{"data": [{"username", "role": str|null, "canShare"?, "canUseData"?}]}`
/// (`users` instead of `data` for calendars).
fn parse_ac(kind: EntityKind, obj: &Map<String, Value>) -> Result<Vec<Change>, ApiError> {
    let key = kind.ac_body_key();
    let entries = match obj.get(key) {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ApiError::invalid(key, "value must be a list")),
        None => return Err(ApiError::invalid(key, "This field is required.")),
    };
    if entries.is_empty() {
        return Err(ApiError::invalid(key, "must contain at least 1 entry"));
    }
    // Contract C8: "Up to 100 user roles may be set in a single request."
    if matches!(kind, EntityKind::CustomModel | EntityKind::CustomTask) && entries.len() > 100 {
        return Err(ApiError::invalid(
            key,
            format!("must contain 1 to 100 entries, not {}", entries.len()),
        ));
    }
    let mut changes = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("{key}.{i}");
        let Value::Object(entry) = entry else {
            return Err(ApiError::invalid(field, "value must be an object"));
        };
        let username = opt_str(entry, "username", &field)?.ok_or_else(|| {
            ApiError::invalid(format!("{field}.username"), "This field is required.")
        })?;
        let role = match entry.get("role") {
            None => {
                return Err(ApiError::invalid(
                    format!("{field}.role"),
                    "This field is required.",
                ));
            }
            Some(Value::Null) => None,
            Some(Value::String(s)) => role_of(s, &format!("{field}.role"))?,
            Some(_) => {
                return Err(ApiError::invalid(
                    format!("{field}.role"),
                    "value must be a string or null",
                ));
            }
        };
        changes.push(Change {
            who: RecipientRef {
                id: None,
                username: Some(username.to_string()),
            },
            principal: None,
            role_name: String::new(),
            role,
            can_share: opt_bool(entry, "canShare", &field)?,
            can_use_data: opt_bool(entry, "canUseData", &field)?,
        });
    }
    Ok(changes)
}

/// sharedRoles: `{"operation": "updateRoles", "roles": [1..100 × {"role", "shareRecipientType",
/// "id" | "username" | "name", "canShare"?, "canUseData"?}]}`.
fn parse_sr(
    kind: EntityKind,
    obj: &Map<String, Value>,
    cfg: &SimConfig,
    strict: bool,
) -> Result<Vec<Change>, ApiError> {
    match obj.get("operation") {
        Some(Value::String(s)) if s == "updateRoles" => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "operation",
                "value must be \"updateRoles\"",
            ));
        }
        None => return Err(ApiError::invalid("operation", "This field is required.")),
    }
    let roles = match obj.get("roles") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ApiError::invalid("roles", "value must be a list")),
        None => return Err(ApiError::invalid("roles", "This field is required.")),
    };
    if roles.is_empty() || roles.len() > 100 {
        return Err(ApiError::invalid(
            "roles",
            format!("must contain 1 to 100 entries, not {}", roles.len()),
        ));
    }
    let mut changes = Vec::with_capacity(roles.len());
    for (i, entry) in roles.iter().enumerate() {
        let field = format!("roles.{i}");
        let Value::Object(entry) = entry else {
            return Err(ApiError::invalid(field, "value must be an object"));
        };
        if strict {
            no_extra_keys(entry, &WORKLOAD_ENTRY_KEYS, &format!("{field}."))?;
        }
        let others = recipient_types(kind, cfg);
        let principal = match opt_str(entry, "shareRecipientType", &field)? {
            None | Some("user") => None,
            Some(t) if others.contains(&t) => {
                let id = opt_str(entry, "id", &field)?.ok_or_else(|| {
                    ApiError::invalid(format!("{field}.id"), "This field is required.")
                })?;
                Some(PrincipalRef {
                    recipient_type: t.to_string(),
                    id: id.to_string(),
                    name: opt_str(entry, "name", &field)?.map(str::to_string),
                })
            }
            Some("group" | "organization" | "externalApplication") if others.is_empty() => {
                return Err(ApiError::invalid(
                    format!("{field}.shareRecipientType"),
                    "the simulator holds users only",
                ));
            }
            Some(_) => {
                let mut allowed = vec!["user"];
                allowed.extend(others.iter().copied());
                if others.is_empty() {
                    allowed.extend(["group", "organization", "externalApplication"]);
                }
                return Err(ApiError::invalid(
                    format!("{field}.shareRecipientType"),
                    format!("value must be one of {}", allowed.join(", ")),
                ));
            }
        };
        let role_name = match entry.get("role") {
            Some(Value::String(s)) => s.trim().to_ascii_uppercase(),
            _ => String::new(),
        };
        let role = match entry.get("role") {
            Some(Value::String(s)) => role_for(kind, s, &format!("{field}.role"))?,
            Some(_) => {
                return Err(ApiError::invalid(
                    format!("{field}.role"),
                    "value must be a string",
                ));
            }
            None => {
                return Err(ApiError::invalid(
                    format!("{field}.role"),
                    "This field is required.",
                ));
            }
        };
        if principal.is_some() {
            changes.push(Change {
                who: RecipientRef::default(),
                principal,
                role_name,
                role,
                can_share: None,
                can_use_data: None,
            });
            continue;
        }
        let id = opt_str(entry, "id", &field)?;
        let username = opt_str(entry, "username", &field)?;
        let name = opt_str(entry, "name", &field)?;
        if let (Some(u), Some(n)) = (username, name)
            && !u.eq_ignore_ascii_case(n)
        {
            return Err(ApiError::invalid(
                field,
                "username and name name different users",
            ));
        }
        let username = username.or(name);
        if id.is_none() && username.is_none() {
            return Err(ApiError::invalid(
                field,
                "one of id, username or name is required",
            ));
        }
        changes.push(Change {
            who: RecipientRef {
                id: id.map(str::to_string),
                username: username.map(str::to_string),
            },
            principal: None,
            role_name,
            role,
            can_share: opt_bool(entry, "canShare", &field)?,
            can_use_data: opt_bool(entry, "canUseData", &field)?,
        });
    }
    Ok(changes)
}

/// A share write: authenticate, find the entity (404), validate the body (422), apply the
/// rules (R1–R7) and record what happened.
fn share(
    shared: &Shared,
    req: &Request,
    params: &HashMap<String, String>,
    kind: EntityKind,
    dialect: DialectKind,
    body: &[u8],
) -> Result<Response, ApiError> {
    let cfg = &req.cfg;
    let id = params.get("id").map(String::as_str).unwrap_or_default();
    // Parse before taking the lock; report a bad body only once the entity is known visible.
    let parsed = parse_share(kind, dialect, body, cfg);
    let related = related_of(kind, params)?;
    let mut st = write(&shared.state);
    let caller = authenticate(&st, req)?;
    let seen = st
        .visible(caller, kind, id)
        .filter(|e| related.is_none() || e.related_type == related);
    if seen.is_none() {
        return Err(ApiError::not_found(format!("{} {id}", kind.as_str())));
    }
    if !kind.serves(dialect) {
        return Err(ApiError::new(
            404,
            format!(
                "{} have no {} endpoint",
                kind.plural_label(),
                dialect.segment()
            ),
        ));
    }
    let body = parsed?;
    if let Some(status) = cfg.forced_status(kind, id, ForcedOn::Write) {
        return Err(forced_refusal(status, kind, cfg));
    }
    let mode = ShareMode {
        revoke_inactive: cfg.inactive_revoke == InactiveRevokeKind::Allow,
        replace: cfg.replaces(kind),
        hidden_types: hidden_types(cfg),
    };
    match st.share(caller, kind, id, &body.changes, mode) {
        Ok(outcome) => {
            drop(st);
            // Projects and no-code applications notify a grant unless told not to; a
            // secure configuration notifies every user entry with a role, whatever the
            // body says (§12.1 X5: one per entry, the agreed counting rule).
            let notified = kind.facts().notify == NotifyKind::UnlessTold
                && outcome.granted
                && body.send_notification != Some(false);
            let secure = match kind.facts().notify {
                NotifyKind::Always => outcome.user_grants,
                _ => 0,
            };
            let ownerless = outcome.ownerless.then(|| format!("PATCH {}", req.path));
            shared
                .stats
                .write_applied(kind, id, notified, secure, ownerless);
            let status = if kind == EntityKind::Calendar && cfg.calendar_share_status == 200 {
                StatusCode::OK
            } else {
                StatusCode::NO_CONTENT
            };
            Ok((status, axum::Extension(Applied)).into_response())
        }
        Err(e) => Err(share_error(e, kind, cfg)),
    }
}

/// The answer to a write refused by [`SimConfig::force_status`]: the last-owner refusal for
/// 409 and 422 (the two statuses DataRobot's variants use for it), a plain one otherwise.
fn forced_refusal(status: u16, kind: EntityKind, cfg: &SimConfig) -> ApiError {
    match status {
        409 | 422 => ApiError {
            status,
            ..share_error(ShareError::LastOwner, kind, cfg)
        },
        _ => ApiError::new(status, "Refused (the simulator's force_status knob)"),
    }
}

fn share_error(e: ShareError, kind: EntityKind, cfg: &SimConfig) -> ApiError {
    match e {
        ShareError::NotFound => ApiError::not_found(kind.as_str()),
        ShareError::Forbidden(msg) => ApiError::new(403, msg),
        ShareError::UsersNotFound(names) => ApiError::new(
            422,
            format!("The following users were not found: {}", names.join(", ")),
        ),
        ShareError::Duplicate(who) => ApiError::new(
            422,
            format!("Multiple changes were specified for a single user: {who}"),
        ),
        ShareError::Inactive(names) => ApiError::new(
            422,
            format!(
                "The following users are not active and cannot be granted access: {}",
                names.join(", ")
            ),
        ),
        ShareError::InactiveRevoke(names) => ApiError::new(
            cfg.inactive_revoke_status,
            format!(
                "The following users are not active and their access cannot be changed: {}",
                names.join(", ")
            ),
        ),
        ShareError::LastOwner => ApiError::new(
            cfg.last_owner_status,
            format!(
                "Cannot remove the last owner of this {}: at least one user must remain OWNER",
                kind.as_str().replace('_', " ")
            ),
        ),
        ShareError::Mismatch(who) => ApiError::invalid(
            "roles",
            format!("id and username of {who} name different users"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_targets_are_access_list_patches() {
        let t = Some("/api/v2/externalDataStores/{id}/sharedRoles/");
        let path = "/api/v2/externalDataStores/x/sharedRoles/";
        assert_eq!(
            write_target(&Method::PATCH, t, path),
            Some((EntityKind::DataStore, "x"))
        );
        assert_eq!(write_target(&Method::GET, t, path), None);
        let one = Some("/api/v2/projects/{id}/");
        assert_eq!(
            write_target(&Method::PATCH, one, "/api/v2/projects/x/"),
            None
        );
        assert_eq!(write_target(&Method::PATCH, None, path), None);
    }

    #[test]
    fn multipart_fields_are_found() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"projectName\"\r\n\r\nMy Data\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n\r\na,b\r\n--b--\r\n";
        assert_eq!(form_field(body, "projectName").as_deref(), Some("My Data"));
        assert_eq!(form_field(body, "other"), None);
    }

    #[test]
    fn tokens_from_both_schemes() {
        assert_eq!(token_of(Some("Token abc")), Some("abc"));
        assert_eq!(token_of(Some("Bearer abc")), Some("abc"));
        assert_eq!(token_of(Some("bearer  abc ")), Some("abc"));
        assert_eq!(token_of(Some("Basic abc")), None);
        assert_eq!(token_of(Some("abc")), None);
        assert_eq!(token_of(None), None);
    }

    #[test]
    fn share_bodies_validate() {
        let cfg = SimConfig::default();
        let ok = parse_share(
            EntityKind::Project,
            DialectKind::AccessControl,
            br#"{"data":[{"username":"a","role":null},{"username":"b","role":"USER"}],"sendNotification":false}"#,
            &cfg,
        )
        .unwrap();
        assert_eq!(ok.changes.len(), 2);
        assert_eq!(ok.changes[0].role, None);
        assert_eq!(ok.changes[1].role, Some(Role::Editor));
        assert_eq!(ok.send_notification, Some(false));
        let e = parse_share(
            EntityKind::Calendar,
            DialectKind::AccessControl,
            br#"{"data":[]}"#,
            &cfg,
        )
        .err()
        .unwrap();
        assert_eq!(e.status, 422);
        assert!(e.errors.contains_key("users"));
        let e = parse_share(
            EntityKind::Deployment,
            DialectKind::SharedRoles,
            br#"{"operation":"updateRoles","roles":[{"role":"BOSS","id":"x"}]}"#,
            &cfg,
        )
        .err()
        .unwrap();
        assert!(e.errors.contains_key("roles.0.role"));
        let e = parse_share(
            EntityKind::Deployment,
            DialectKind::SharedRoles,
            br#"{"roles":[]}"#,
            &cfg,
        )
        .err()
        .unwrap();
        assert!(e.errors.contains_key("operation"));
    }
}
