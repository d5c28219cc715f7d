//! The HTTP server: accepts connections with hyper (HTTP/1.1 and HTTP/2), runs every API
//! request through the fault pipeline, serves the control endpoints under `/__sim/`, and
//! hands tests a [`SimHandle`] to inspect and steer the running simulator.
//!
//! The pipeline of an API request, in order:
//! 1. count it as in flight (and, for a share write, as an attempt on its entity);
//! 2. draw its fate and jitter from the fault RNG (see `faults`);
//! 3. sleep `latency_ms` + jitter (`tokio::time::sleep`, no thread blocked), so every
//!    answer, and every write, happens after the delay;
//! 4. rate limit by token (429 with `Retry-After`);
//! 5. an injected 5xx answer or a dropped connection, neither applied;
//! 6. route, authenticate and handle it under the state lock;
//! 7. a write that was applied may still be answered 502 (commit-then-502).
//!
//! A dropped connection is a service error: hyper then closes an HTTP/1 connection without
//! writing a response, which a client sees as a closed connection or an incomplete
//! message (over HTTP/2 it resets the stream instead).
//! Control requests skip the pipeline and are not counted.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::model::EntityKind;

use super::config::SimConfig;
use super::faults::{Fate, Faults};
use super::routes::{self, Reply, Route};
use super::seed::{Seed, SeedGrant};
use super::state::{State, StateSnapshot};
use super::stats::{Outcome, Recorder, Stats};
use super::{SimError, read, write};

/// The largest request body accepted (a seed posted to `/__sim/reset` can be big).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// How long `shutdown` waits for open connections to finish before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Everything the request handlers share.
pub(crate) struct Shared {
    pub state: RwLock<State>,
    pub stats: Recorder,
    pub faults: Faults,
    config: RwLock<Arc<SimConfig>>,
}

impl Shared {
    fn config(&self) -> Arc<SimConfig> {
        Arc::clone(&read(&self.config))
    }

    fn set_config(&self, config: SimConfig) {
        self.faults.reseed(config.fault_seed);
        *write(&self.config) = Arc::new(config);
    }

    fn reset(&self, seed: &Seed) -> Result<(), SimError> {
        let state = State::from_seed(seed)?;
        *write(&self.state) = state;
        self.stats.clear();
        self.faults.reseed(self.config().fault_seed);
        Ok(())
    }
}

/// The marker error that makes hyper close a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the simulator (injected fault)")]
struct Dropped;

/// Starts simulators.
pub struct Sim;

impl Sim {
    /// Binds `addr` (use `127.0.0.1:0` for a free port) and serves `seed` with `config` on the
    /// current tokio runtime until [`SimHandle::shutdown`] (or until the handle is dropped).
    pub fn start(addr: SocketAddr, seed: Seed, config: SimConfig) -> Result<SimHandle, SimError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SimError::NoRuntime)?;
        config.validate()?;
        let state = State::from_seed(&seed)?;
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
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(|source| SimError::Bind { addr, source })?
        };
        let task = runtime.spawn(serve(listener, Arc::clone(&shared), stop_rx));
        tracing::info!(addr = %local, "simulator listening");
        Ok(SimHandle {
            addr: local,
            shared,
            stop: stop_tx,
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the server too, without waiting.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API endpoint: `http://127.0.0.1:PORT/api/v2`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/api/v2", self.addr)
    }

    /// The server root, where `/__sim/…` lives: `http://127.0.0.1:PORT`.
    pub fn root(&self) -> String {
        format!("http://{}", self.addr)
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
        kind: EntityKind,
        id: &str,
        grants: Vec<SeedGrant>,
    ) -> Result<(), SimError> {
        write(&self.shared.state).set_access(kind, id, &grants)
    }

    /// Deletes an entity, as if someone else had.
    pub fn delete_entity(&self, kind: EntityKind, id: &str) -> Result<(), SimError> {
        write(&self.shared.state).delete_entity(kind, id)
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

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
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
                let shared = Arc::clone(&shared);
                let service = hyper::service::service_fn(move |req| {
                    let shared = Arc::clone(&shared);
                    async move { serve_request(shared, req).await }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // Errors here are clients going away and our own dropped connections.
                    let _ = conn.await;
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

type Body = Full<Bytes>;

fn respond(reply: Reply) -> Response<Body> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let has_body = reply.body.is_some();
    let mut resp = Response::new(Full::new(Bytes::from(reply.body.unwrap_or_default())));
    *resp.status_mut() = status;
    if has_body {
        // Exactly this, no charset: the Python client compares the header verbatim.
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Some(secs) = reply.retry_after {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(location) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(LOCATION, location);
    }
    resp
}

fn error_reply(status: u16, message: &str) -> Reply {
    routes::ApiError::new(status, message).into_reply()
}

async fn read_body(body: Incoming) -> Option<Bytes> {
    Limited::new(body, MAX_BODY)
        .collect()
        .await
        .ok()
        .map(|c| c.to_bytes())
}

async fn serve_request(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    if req.uri().path().starts_with("/__sim/") {
        return Ok(control(&shared, req).await);
    }
    let _in_flight = shared.stats.start();
    let cfg = shared.config();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let route = Route::parse(path);
    let template = route.template(method);
    if let Some((kind, id)) = route.write_target(method) {
        shared.stats.write_attempt(kind, id);
    }
    let draw = shared.faults.draw(&cfg);
    let delay = Duration::from_millis(cfg.latency_ms) + draw.jitter;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Some(body) = read_body(body).await else {
        shared.stats.finish(template, Outcome::Dropped);
        return Err(Dropped);
    };
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(limit) = &cfg.rate_limit {
        let key = routes::token_of(authorization).unwrap_or("");
        if let Err(secs) = shared.faults.admit(limit, key) {
            shared.stats.rate_limited();
            shared.stats.finish(template, Outcome::Status(429));
            let mut reply = error_reply(429, &format!("Too many requests: retry in {secs} s"));
            reply.retry_after = Some(secs);
            return Ok(respond(reply));
        }
    }
    match draw.fate {
        Fate::Serve => {}
        Fate::Drop => {
            shared.stats.fault_drop();
            shared.stats.finish(template, Outcome::Dropped);
            return Err(Dropped);
        }
        Fate::Status(status) => {
            shared.stats.fault_5xx();
            shared.stats.finish(template, Outcome::Status(status));
            return Ok(respond(error_reply(
                status,
                "The server encountered a temporary error (injected fault)",
            )));
        }
    }
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("127.0.0.1");
    let request = routes::Request {
        method,
        path,
        query: parts.uri.query().unwrap_or(""),
        host,
        authorization,
        body: &body,
    };
    let mut reply = routes::handle(&shared, &cfg, &route, &request);
    if reply.applied && draw.commit_then_502 {
        shared.stats.fault_commit_then_502();
        reply = error_reply(502, "Bad gateway (injected fault; the change was applied)");
    }
    shared.stats.finish(template, Outcome::Status(reply.status));
    Ok(respond(reply))
}

/// `/__sim/state`, `/__sim/stats`, `/__sim/config` (GET and POST) and `POST /__sim/reset`.
async fn control(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let ok_json = |v: serde_json::Value| Reply::json(200, &v);
    let reply = match (
        parts.method.as_str(),
        parts.uri.path().trim_end_matches('/'),
    ) {
        ("GET", "/__sim/state") => ok_json(json!(read(&shared.state).snapshot())),
        ("GET", "/__sim/stats") => ok_json(json!(shared.stats.snapshot())),
        ("GET", "/__sim/config") => ok_json(json!(*shared.config())),
        ("POST", "/__sim/reset") => match read_body(body).await {
            None => error_reply(400, "could not read the request body"),
            Some(bytes) => match serde_json::from_slice::<Seed>(&bytes) {
                Err(e) => error_reply(422, &format!("not a seed: {e}")),
                Ok(seed) => match shared.reset(&seed) {
                    Ok(()) => Reply::empty(204),
                    Err(e) => error_reply(422, &e.to_string()),
                },
            },
        },
        ("POST", "/__sim/config") => match read_body(body).await {
            None => error_reply(400, "could not read the request body"),
            Some(bytes) => match serde_json::from_slice::<SimConfig>(&bytes) {
                Err(e) => error_reply(422, &format!("not a config: {e}")),
                Ok(cfg) => match cfg.validate() {
                    Ok(()) => {
                        shared.set_config(cfg);
                        Reply::empty(204)
                    }
                    Err(e) => error_reply(422, &e.to_string()),
                },
            },
        },
        (_, "/__sim/state" | "/__sim/stats" | "/__sim/config" | "/__sim/reset") => {
            error_reply(405, "method not allowed")
        }
        _ => error_reply(404, "unknown control endpoint"),
    };
    respond(reply)
}
