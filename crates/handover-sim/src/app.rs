//! What the routes and the server's pipeline share: the handlers' state ([`Shared`]), the
//! request as a handler sees it ([`Request`]), the error answer ([`ApiError`]) and the mark
//! of an applied write ([`Applied`]). Both `routes` and `server` use this module; it uses
//! neither, so the two do not import each other.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::config::SimConfig;
use crate::faults::Faults;
use crate::seed::Seed;
use crate::state::State as SimState;
use crate::stats::Recorder;
use crate::{SimError, read, write};

/// The handlers' view of what they share.
pub(crate) type App = State<Arc<Shared>>;

/// Everything the request handlers share.
pub(crate) struct Shared {
    pub state: RwLock<SimState>,
    pub stats: Recorder,
    pub faults: Faults,
    pub(crate) config: RwLock<Arc<SimConfig>>,
    /// The capacity gate, rebuilt when the configured capacity changes.
    pub(crate) gate: std::sync::Mutex<Option<(usize, Arc<tokio::sync::Semaphore>)>>,
}

impl Shared {
    pub fn config(&self) -> Arc<SimConfig> {
        Arc::clone(&read(&self.config))
    }

    /// The semaphore for a capacity of `k`: the current one if `k` did not change.
    pub fn gate(&self, k: usize) -> Arc<tokio::sync::Semaphore> {
        let mut gate = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        match &*gate {
            Some((have, sem)) if *have == k => Arc::clone(sem),
            _ => {
                let sem = Arc::new(tokio::sync::Semaphore::new(k));
                *gate = Some((k, Arc::clone(&sem)));
                sem
            }
        }
    }

    pub fn set_config(&self, config: SimConfig) {
        self.faults.reseed(config.fault_seed);
        *write(&self.config) = Arc::new(config);
    }

    pub fn reset(&self, seed: &Seed) -> Result<(), SimError> {
        let state = SimState::from_seed(seed)?;
        *write(&self.state) = state;
        self.stats.clear();
        self.faults.reseed(self.config().fault_seed);
        Ok(())
    }
}

/// Marks the answer of a write that was applied (commit-then-502 only hits those).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Applied;

/// An error answer: `{"message": …, "errors": {field: text}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
    pub errors: BTreeMap<String, String>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            errors: BTreeMap::new(),
        }
    }

    /// A validation error (R12) naming the field at fault.
    pub fn invalid(field: impl Into<String>, text: impl Into<String>) -> ApiError {
        let text = text.into();
        let field = field.into();
        let mut errors = BTreeMap::new();
        errors.insert(field.clone(), text.clone());
        ApiError {
            status: 422,
            message: format!("Invalid field data: {field}: {text}"),
            errors,
        }
    }

    /// The 404 of a path no route takes.
    pub fn unknown_url(path: &str) -> ApiError {
        ApiError::new(
            404,
            format!("The requested URL {path} was not found on this server"),
        )
    }

    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(404, format!("{what} not found"))
    }
}

impl IntoResponse for ApiError {
    /// The status and the JSON body, `Content-Type: application/json` exactly (no charset:
    /// the Python client compares the header verbatim).
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({"message": self.message});
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        (status, Json(body)).into_response()
    }
}

/// What a handler needs to know about the request.
pub(crate) struct Request {
    pub path: String,
    pub query: String,
    /// The `Host` header (or the URI's authority), for absolute `next` links.
    pub host: String,
    pub authorization: Option<String>,
    /// The config the pipeline judged this request by.
    pub cfg: Arc<SimConfig>,
}

impl FromRequestParts<Arc<Shared>> for Request {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, ApiError> {
        if parts.uri.path().contains("//") {
            // An empty `{id}` names nothing.
            return Err(ApiError::unknown_url(parts.uri.path()));
        }
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let host = header(HOST).or_else(|| parts.uri.authority().map(|a| a.as_str()));
        Ok(Request {
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            host: host.unwrap_or("127.0.0.1").to_string(),
            authorization: header(AUTHORIZATION).map(str::to_string),
            cfg: parts
                .extensions
                .get()
                .cloned()
                .unwrap_or_else(|| shared.config()),
        })
    }
}

/// The API token of an `Authorization: Token X` or `Bearer X` header.
pub(crate) fn token_of(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer"))
        .then_some(token)
        .filter(|t| !t.is_empty())
}
