//! The HTTP server: an axum [`Router`] for the API (see `routes`) and the control endpoints
//! under `/__sim/`, the fault pipeline as a middleware around every API route, served over
//! HTTP/1.1 and HTTP/2 by hyper-util's connection loop; and the [`SimHandle`] tests use to
//! inspect and steer the running simulator.
//!
//! The pipeline of an API request (`pipeline`), in order:
//! 1. count it as in flight (and, for a share write, as an attempt on its entity);
//! 2. with a `capacity`, wait in the queue for a place in service, kept until it is
//!    answered; then draw its fate and jitter from the fault RNG (see `faults`);
//! 3. sleep `latency_ms` + jitter (`tokio::time::sleep`, no thread blocked), so every
//!    answer, and every write, happens after the delay;
//! 4. rate limit by token (429 with `Retry-After`);
//! 5. an injected 5xx answer or a dropped connection, neither applied;
//! 6. route, authenticate and handle it under the state lock;
//! 7. a write that was applied may still be answered 502 (commit-then-502).
//!
//! Axum handlers cannot refuse to answer, so a dropped connection is a response marked
//! [`Dropped`], which the per-connection service wrapped around the router turns into a
//! service error: hyper then closes an HTTP/1 connection without writing a response, which
//! a client sees as a closed connection or an incomplete message (over HTTP/2 it resets the
//! stream instead). Control requests skip the pipeline and are not counted. Every error,
//! axum's own rejections included, is answered `application/json` with a `message`.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::kinds::EntityKind;

use crate::app::{ApiError, App, Applied, Shared, token_of};
use crate::config::SimConfig;
use crate::faults::{Fate, Faults};
use crate::routes;
use crate::seed::{Seed, SeedGrant};
use crate::state::{State as SimState, StateSnapshot};
use crate::stats::{Outcome, Recorder, Stats};
use crate::{SimError, read, write};

/// The largest request body accepted (a seed posted to `/__sim/reset` can be big).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// How long `shutdown` waits for open connections to finish before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Marks a response that must not be sent, and is the error that makes hyper close the
/// connection without answering.
#[derive(Clone, Debug, thiserror::Error)]
#[error("connection dropped by the simulator (injected fault)")]
struct Dropped;

/// Starts simulators.
pub struct Sim;

impl Sim {
    /// Binds `addr` (use `127.0.0.1:0` for a free port) and serves `seed` with `config` on the
    /// current tokio runtime until [`SimHandle::shutdown`] (or until the handle is dropped).
    pub fn start(addr: SocketAddr, seed: Seed, config: SimConfig) -> Result<SimHandle, SimError> {
        Sim::launch(addr, seed, config, None)
    }

    /// [`Sim::start`], serving plain HTTP or, with an acceptor, HTTPS (see `tls`).
    pub(super) fn launch(
        addr: SocketAddr,
        seed: Seed,
        config: SimConfig,
        tls: Option<TlsAcceptor>,
    ) -> Result<SimHandle, SimError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SimError::NoRuntime)?;
        config.validate()?;
        let state = SimState::from_seed(&seed)?;
        let std_listener =
            std::net::TcpListener::bind(addr).map_err(|source| SimError::Bind { addr, source })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|source| SimError::Bind { addr, source })?;
        let local = std_listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            stats: Recorder::default(),
            faults: Faults::new(config.fault_seed),
            config: RwLock::new(Arc::new(config)),
            gate: std::sync::Mutex::new(None),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(|source| SimError::Bind { addr, source })?
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = runtime.spawn(serve(listener, app(Arc::clone(&shared)), stop_rx, tls));
        tracing::info!(addr = %local, scheme, "simulator listening");
        Ok(SimHandle {
            addr: local,
            scheme,
            shared,
            stop: stop_tx,
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the server too, without waiting.
pub struct SimHandle {
    addr: SocketAddr,
    /// `http`, or `https` when started with [`Sim::start_tls`].
    scheme: &'static str,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API endpoint: `http://127.0.0.1:PORT/api/v2` (`https://…` when serving TLS).
    pub fn endpoint(&self) -> String {
        format!("{}://{}/api/v2", self.scheme, self.addr)
    }

    /// The server root, where `/__sim/…` lives: `http://127.0.0.1:PORT` (or `https://…`).
    pub fn root(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// A copy of all users and entities, roles normalised.
    pub fn state(&self) -> StateSnapshot {
        read(&self.shared.state).snapshot()
    }

    /// What the simulator has seen so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot()
    }

    /// The config in force.
    pub fn config(&self) -> SimConfig {
        (*self.shared.config()).clone()
    }

    /// Replaces the config for every request that arrives from now on, reseeds the fault
    /// RNG from its `fault_seed` and empties the rate limiter's buckets. Out-of-range
    /// values are used as given; check them first with [`SimConfig::validate`] if unsure.
    pub fn set_config(&self, config: SimConfig) {
        self.shared.set_config(config);
    }

    /// Replaces all data with `seed`, clears the stats and reseeds the fault RNG.
    pub fn reset(&self, seed: Seed) -> Result<(), SimError> {
        self.shared.reset(&seed)
    }

    /// Replaces an entity's access list behind every client's back.
    pub fn set_access(
        &self,
        kind: impl Into<EntityKind>,
        id: &str,
        grants: Vec<SeedGrant>,
    ) -> Result<(), SimError> {
        write(&self.shared.state).set_access(kind.into(), id, &grants)
    }

    /// Deletes an entity, as if someone else had.
    pub fn delete_entity(&self, kind: impl Into<EntityKind>, id: &str) -> Result<(), SimError> {
        write(&self.shared.state).delete_entity(kind.into(), id)
    }

    /// Activates or deactivates an account (an inactive one can neither log in nor receive shares).
    pub fn set_active(&self, username: &str, active: bool) -> Result<(), SimError> {
        write(&self.shared.state).set_active(username, active)
    }

    /// Stops accepting connections, lets open ones finish (up to a second) and waits for the
    /// server task to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        // Tell the accept loop to stop; `shutdown` waits for it, a plain drop does not.
        let _ = self.stop.send(true);
    }
}

async fn serve(
    listener: TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
    tls: Option<TlsAcceptor>,
) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                // The router, except that a response marked `Dropped` becomes an error.
                let service = hyper::service::service_fn(move |req| {
                    let answer = app.clone().oneshot(req);
                    async move {
                        let resp = answer.await.unwrap_or_else(|never| match never {});
                        match resp.extensions().get::<Dropped>() {
                            None => Ok(resp),
                            Some(_) => Err(Dropped),
                        }
                    }
                });
                let Some(tls) = &tls else {
                    let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        // Errors here are clients going away and our own dropped connections.
                        let _ = conn.await;
                    });
                    continue;
                };
                let (tls, builder, watcher) = (tls.clone(), builder.clone(), graceful.watcher());
                tokio::spawn(async move {
                    // A client that refuses the certificate ends here, before any request.
                    let Ok(stream) = tls.accept(stream).await else {
                        return;
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                    let _ = watcher.watch(conn).await;
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {}
    }
}

/// The whole application: the API routes and their fallback behind the fault pipeline, and
/// the control endpoints beside them.
fn app(shared: Arc<Shared>) -> Router {
    let control = Router::new()
        .route(
            "/__sim/state",
            get(|State(s): App| async move { Json(read(&s.state).snapshot()) }),
        )
        .route(
            "/__sim/stats",
            get(|State(s): App| async move { Json(s.stats.snapshot()) }),
        )
        .route(
            "/__sim/config",
            get(|State(s): App| async move { Json((*s.config()).clone()) }).post(
                |State(s): App, body: Bytes| async move {
                    let cfg: SimConfig = parse(&body, "not a config")?;
                    cfg.validate()
                        .map_err(|e| ApiError::new(422, e.to_string()))?;
                    s.set_config(cfg);
                    Ok::<_, ApiError>(StatusCode::NO_CONTENT)
                },
            ),
        )
        .route(
            "/__sim/reset",
            post(|State(s): App, body: Bytes| async move {
                let seed: Seed = parse(&body, "not a seed")?;
                s.reset(&seed)
                    .map_err(|e| ApiError::new(422, e.to_string()))?;
                Ok::<_, ApiError>(StatusCode::NO_CONTENT)
            }),
        )
        .route(
            "/__sim/{*rest}",
            any(|| async { ApiError::new(404, "unknown control endpoint") }),
        );
    routes::api()
        .fallback(|req: Request| async move { ApiError::unknown_url(req.uri().path()) })
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            pipeline,
        ))
        .merge(control)
        .layer(middleware::map_response(json_errors))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// A JSON body of a control request, or a 422 naming what it should have been.
fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::new(422, format!("{what}: {e}")))
}

/// The fault pipeline around every API request (steps 1–7 of the module doc).
async fn pipeline(
    State(shared): App,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let _in_flight = shared.stats.start();
    let cfg = shared.config();
    let method = req.method().clone();
    let template = matched.as_ref().map(MatchedPath::as_str);
    if let Some((kind, id)) = routes::write_target(&method, template, req.uri().path()) {
        shared.stats.write_attempt(kind, id);
    }
    let template = format!(
        "{method} {}",
        template.map_or("(unknown)", |t| t.trim_start_matches("/api/v2/"))
    );
    // The capacity gate: wait for a place in service, first come first served (tokio's
    // semaphore is fair), and keep it until the answer is made.
    let _place = match cfg.capacity {
        Some(k) => {
            let gate = shared.gate(k);
            let waiting = shared.stats.queued();
            let place = gate.acquire_owned().await.ok();
            drop(waiting);
            place
        }
        None => None,
    };
    let _serving = shared.stats.serving();
    let draw = shared.faults.draw(&cfg);
    let delay = Duration::from_millis(cfg.latency_ms) + draw.jitter;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (mut parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        shared.stats.finish(template, Outcome::Dropped);
        return Extension(Dropped).into_response();
    };
    if let Some(limit) = &cfg.rate_limit {
        let authorization = parts.headers.get(AUTHORIZATION);
        let key = token_of(authorization.and_then(|v| v.to_str().ok())).unwrap_or("");
        if let Err(secs) = shared.faults.admit(limit, key) {
            shared.stats.rate_limited();
            shared.stats.finish(template, Outcome::Status(429));
            let error = ApiError::new(429, format!("Too many requests: retry in {secs} s"));
            return ([(RETRY_AFTER, secs)], error).into_response();
        }
    }
    match draw.fate {
        Fate::Serve => {}
        Fate::Drop => {
            shared.stats.fault_drop();
            shared.stats.finish(template, Outcome::Dropped);
            return Extension(Dropped).into_response();
        }
        Fate::Status(status) => {
            shared.stats.fault_5xx();
            shared.stats.finish(template, Outcome::Status(status));
            let message = "The server encountered a temporary error (injected fault)";
            return ApiError::new(status, message).into_response();
        }
    }
    // The handlers work with the config this request was judged by.
    parts.extensions.insert(cfg);
    let mut resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    if draw.commit_then_502 && resp.extensions().get::<Applied>().is_some() {
        shared.stats.fault_commit_then_502();
        let message = "Bad gateway (injected fault; the change was applied)";
        resp = ApiError::new(502, message).into_response();
    }
    shared
        .stats
        .finish(template, Outcome::Status(resp.status().as_u16()));
    resp
}

/// Gives every error answer that is not JSON yet (axum's rejections, its 405) the
/// `{"message": …}` body and the exact `Content-Type: application/json` (no charset: the
/// Python client compares the header verbatim and crashes on anything else).
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v == "application/json");
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let message = match String::from_utf8_lossy(&text).trim() {
        "" if status == StatusCode::METHOD_NOT_ALLOWED => {
            "The method is not allowed for the requested URL.".to_string()
        }
        "" => status.canonical_reason().unwrap_or("Error").to_string(),
        text => text.to_string(),
    };
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(CONTENT_LENGTH);
    let body = serde_json::json!({ "message": message }).to_string();
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GenSpec;

    fn shared() -> Arc<Shared> {
        let seed = Seed::generate(&GenSpec::uniform(1, 1));
        Arc::new(Shared {
            state: RwLock::new(SimState::from_seed(&seed).unwrap()),
            stats: Recorder::default(),
            faults: Faults::new(0),
            config: RwLock::new(Arc::new(SimConfig::default())),
            gate: std::sync::Mutex::new(None),
        })
    }

    /// With a capacity of 2 and 100 ms of service, 6 requests at once are served in three
    /// waves: the queue holds 4, then 2, then none, and latency grows with the wave.
    #[tokio::test(start_paused = true)]
    async fn capacity_queues_requests_beyond_it_and_reports_the_queue() {
        let shared = shared();
        shared.set_config(SimConfig {
            capacity: Some(2),
            latency_ms: 100,
            ..SimConfig::default()
        });
        let app = app(Arc::clone(&shared));
        let start = tokio::time::Instant::now();
        let mut calls = Vec::new();
        for _ in 0..6 {
            let app = app.clone();
            calls.push(tokio::spawn(async move {
                call(&app, "GET", "/api/v2/version/").await;
                start.elapsed()
            }));
        }
        let mut took = Vec::new();
        for c in calls {
            took.push(c.await.unwrap().as_millis());
        }
        took.sort();
        assert_eq!(took, vec![100, 100, 200, 200, 300, 300]);
        let stats = shared.stats.snapshot();
        assert_eq!(stats.max_queue, 4);
        // Queue 4 for 100 ms, 2 for 100 ms, 0 for 100 ms: 2 on average; 2 in service.
        assert!((stats.avg_queue - 2.0).abs() < 0.05, "{stats:?}");
        assert!((stats.avg_in_service - 2.0).abs() < 0.05, "{stats:?}");
    }

    async fn call(app: &Router, method: &str, uri: &str) -> (u16, Option<String>, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let status = resp.status().as_u16();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn routes_templates_and_json_errors() {
        let shared = shared();
        let app = app(Arc::clone(&shared));
        let json = Some("application/json".to_string());
        for (method, uri, status) in [
            ("GET", "/api/v2/version/", 401),
            ("GET", "/api/v2/projects", 404),
            ("GET", "/api/v2/projects//", 404),
            ("GET", "/api/v2/widgets/", 404),
            ("GET", "/api/v2/a/b/c/d/", 404),
            ("POST", "/api/v2/widgets/", 404),
            ("DELETE", "/api/v2/projects/", 405),
            ("POST", "/api/v2/datasets/", 405),
            ("PATCH", "/api/v2/projects/p1/accessControl/", 401),
            ("PATCH", "/api/v2/projects/p1/", 405),
            ("GET", "/api/v2/status/j1/", 401),
            ("GET", "/__sim/nothing", 404),
            ("DELETE", "/__sim/state", 405),
        ] {
            let (got, content_type, body) = call(&app, method, uri).await;
            assert_eq!(got, status, "{method} {uri}: {body}");
            assert_eq!(content_type, json, "{method} {uri}");
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(body["message"].is_string(), "{method} {uri}: {body}");
        }
        let (status, _, _) = call(&app, "GET", "/__sim/stats").await;
        assert_eq!(status, 200);
        let stats = shared.stats.snapshot();
        // Control requests are not counted; API requests are, under their route template.
        assert_eq!(stats.requests, 11);
        assert_eq!(stats.count("GET version/", "401"), 1);
        assert_eq!(stats.count("GET (unknown)", "404"), 3);
        assert_eq!(stats.count("GET projects/{id}/", "404"), 1);
        assert_eq!(stats.count("POST (unknown)", "404"), 1);
        assert_eq!(stats.count("DELETE projects/", "405"), 1);
        assert_eq!(stats.count("POST datasets/", "405"), 1);
        assert_eq!(stats.count("PATCH projects/{id}/accessControl/", "401"), 1);
        assert_eq!(stats.count("PATCH projects/{id}/", "405"), 1);
        assert_eq!(stats.count("GET status/{id}/", "401"), 1);
        assert_eq!(stats.attempts_on(EntityKind::Project, "p1"), 1);
        assert_eq!(stats.write_attempts.len(), 1);
    }
}
