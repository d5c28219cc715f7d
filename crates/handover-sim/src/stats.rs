//! What the simulator saw, for tests and benchmarks to assert on: requests per route and
//! status, injected faults, 429s, notifications, writes per entity, the most requests in
//! flight at once, the time-averaged queue (with a `capacity`) and requests in service,
//! and any moment an entity was left without an owner.
//!
//! Control requests (`/__sim/…`) are not counted. [`Stats`] is the serialisable copy served
//! at `GET /__sim/stats`; the server records into a [`Recorder`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::kinds::EntityKind;

use crate::lock;

/// Counters of what the simulator saw since it started or was last reset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// API requests received (every one, whatever its fate).
    pub requests: u64,
    /// Per route template (`PATCH projects/{id}/accessControl/`), per outcome: the status
    /// code as text (`"204"`), or `"dropped"` for a connection closed without an answer.
    pub by_route: BTreeMap<String, BTreeMap<String, u64>>,
    /// 429 answers sent by the rate limiter.
    pub rate_limited: u64,
    /// Faults injected, by kind.
    pub faults: FaultStats,
    /// Applied project and no-code application shares that granted a role without
    /// `sendNotification: false`.
    pub notifications: u64,
    /// Notifications secure-configuration shares sent (contract §12.1 X5): one per `user`
    /// entry with a role other than `NO_ROLE` in an applied PATCH of
    /// `secureConfigs/{id}/sharedRoles/`.
    #[serde(default)]
    pub secure_config_notifications: u64,
    /// PATCH requests aimed at the access list of a type that has no write route (model
    /// packages, notebooks; §12.2), answered 405.
    #[serde(default)]
    pub read_only_writes: u64,
    /// Applied writes per entity, keyed `kind/id` (commit-then-502 writes included).
    pub writes: BTreeMap<String, u64>,
    /// Write requests per entity, keyed `kind/id`, whatever their fate.
    pub write_attempts: BTreeMap<String, u64>,
    /// The most API requests being handled at once.
    pub max_in_flight: u64,
    /// Requests waiting for a place in service (with a `capacity`), averaged over time
    /// since the start or the last reset.
    #[serde(default)]
    pub avg_queue: f64,
    /// The most requests waiting for a place in service at once.
    #[serde(default)]
    pub max_queue: u64,
    /// Requests in service (past the capacity gate, in their latency or being handled),
    /// averaged over time.
    #[serde(default)]
    pub avg_in_service: f64,
    /// Writes after which an entity had no owner. The rules forbid this; it stays empty
    /// unless the simulator itself is wrong.
    pub ownerless: Vec<OwnerlessEvent>,
}

/// Injected faults by kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultStats {
    /// 500/502/503/504 answers to requests that were not applied.
    pub http_5xx: u64,
    /// Connections closed without an answer.
    pub drop: u64,
    /// Writes applied and then answered 502.
    pub commit_then_502: u64,
}

/// A write after which an entity had no owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OwnerlessEvent {
    /// Method and path of the request, e.g. `PATCH /api/v2/projects/…/accessControl/`.
    pub request: String,
    /// The entity's kind.
    pub kind: EntityKind,
    /// The entity's id.
    pub id: String,
}

/// The key of an entity in [`Stats`] maps: `kind/id`.
pub fn entity_key(kind: impl Into<EntityKind>, id: &str) -> String {
    format!("{}/{id}", kind.into().as_str())
}

impl Stats {
    /// How many requests to a route template got a given outcome (`"204"`, `"dropped"`).
    pub fn count(&self, route: &str, outcome: &str) -> u64 {
        self.by_route
            .get(route)
            .and_then(|m| m.get(outcome))
            .copied()
            .unwrap_or(0)
    }

    /// How many requests a route template got, whatever the outcome.
    pub fn route_total(&self, route: &str) -> u64 {
        self.by_route
            .get(route)
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    /// Applied writes to one entity.
    pub fn writes_to(&self, kind: impl Into<EntityKind>, id: &str) -> u64 {
        self.writes.get(&entity_key(kind, id)).copied().unwrap_or(0)
    }

    /// Write requests aimed at one entity.
    pub fn attempts_on(&self, kind: impl Into<EntityKind>, id: &str) -> u64 {
        self.write_attempts
            .get(&entity_key(kind, id))
            .copied()
            .unwrap_or(0)
    }

    /// Applied writes to all entities.
    pub fn total_writes(&self) -> u64 {
        self.writes.values().sum()
    }

    /// Requests with a given outcome on any route.
    pub fn outcome_total(&self, outcome: &str) -> u64 {
        self.by_route.values().filter_map(|m| m.get(outcome)).sum()
    }
}

/// How a request ended, for [`Stats::by_route`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Outcome {
    Status(u16),
    Dropped,
}

#[derive(Default)]
struct Counters {
    requests: u64,
    by_route: HashMap<String, HashMap<Outcome, u64>>,
    rate_limited: u64,
    faults: FaultStats,
    notifications: u64,
    secure_config_notifications: u64,
    read_only_writes: u64,
    writes: HashMap<String, u64>,
    write_attempts: HashMap<String, u64>,
    ownerless: Vec<OwnerlessEvent>,
}

/// Records into counters behind a lock of their own, so that counting never waits on the
/// state lock; the in-flight gauge is atomic.
#[derive(Default)]
pub(crate) struct Recorder {
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    counters: Mutex<Counters>,
    queue: Mutex<Gauges>,
}

/// The queue and the requests in service, integrated over time for their averages.
#[derive(Default)]
struct Gauges {
    since: Option<tokio::time::Instant>,
    last: Option<tokio::time::Instant>,
    waiting: u64,
    in_service: u64,
    max_waiting: u64,
    waiting_area: f64,
    in_service_area: f64,
}

impl Gauges {
    /// Adds the time since the last change at the current levels.
    fn advance(&mut self) {
        let now = tokio::time::Instant::now();
        self.since.get_or_insert(now);
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.waiting_area += self.waiting as f64 * dt;
            self.in_service_area += self.in_service as f64 * dt;
        }
        self.last = Some(now);
    }

    fn averages(&mut self) -> (f64, f64) {
        self.advance();
        let span = match (self.since, self.last) {
            (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        if span <= 0.0 {
            return (0.0, 0.0);
        }
        (self.waiting_area / span, self.in_service_area / span)
    }
}

/// A request waiting for a place in service; it leaves the queue when dropped.
pub(crate) struct Waiting<'a>(&'a Recorder);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut g = lock(&self.0.queue);
        g.advance();
        g.waiting = g.waiting.saturating_sub(1);
    }
}

/// A request in service; it leaves service when dropped.
pub(crate) struct InService<'a>(&'a Recorder);

impl Drop for InService<'_> {
    fn drop(&mut self) {
        let mut g = lock(&self.0.queue);
        g.advance();
        g.in_service = g.in_service.saturating_sub(1);
    }
}

/// Decrements the in-flight gauge when a request is done, however it ends.
pub(crate) struct InFlight<'a>(&'a Recorder);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Recorder {
    /// Marks a request as started; the guard marks it finished.
    pub fn start(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    /// Marks a request as waiting for a place in service.
    pub fn queued(&self) -> Waiting<'_> {
        let mut g = lock(&self.queue);
        g.advance();
        g.waiting += 1;
        g.max_waiting = g.max_waiting.max(g.waiting);
        Waiting(self)
    }

    /// Marks a request as in service.
    pub fn serving(&self) -> InService<'_> {
        let mut g = lock(&self.queue);
        g.advance();
        g.in_service += 1;
        InService(self)
    }

    /// Counts a finished request.
    pub fn finish(&self, route: String, outcome: Outcome) {
        let mut c = lock(&self.counters);
        c.requests += 1;
        *c.by_route
            .entry(route)
            .or_default()
            .entry(outcome)
            .or_default() += 1;
    }

    /// Counts a 429 from the rate limiter.
    pub fn rate_limited(&self) {
        lock(&self.counters).rate_limited += 1;
    }

    /// Counts an injected 5xx.
    pub fn fault_5xx(&self) {
        lock(&self.counters).faults.http_5xx += 1;
    }

    /// Counts a dropped connection.
    pub fn fault_drop(&self) {
        lock(&self.counters).faults.drop += 1;
    }

    /// Counts a write answered 502 after it was applied.
    pub fn fault_commit_then_502(&self) {
        lock(&self.counters).faults.commit_then_502 += 1;
    }

    /// Counts a write request aimed at an entity (and, apart, one at a read-only type).
    pub fn write_attempt(&self, kind: EntityKind, id: &str) {
        let mut c = lock(&self.counters);
        *c.write_attempts.entry(entity_key(kind, id)).or_default() += 1;
        if !kind.writable() {
            c.read_only_writes += 1;
        }
    }

    /// Counts an applied write, the notifications it sent, and an ownerless result.
    pub fn write_applied(
        &self,
        kind: EntityKind,
        id: &str,
        notified: bool,
        secure_config_notifications: u64,
        ownerless: Option<String>,
    ) {
        let mut c = lock(&self.counters);
        *c.writes.entry(entity_key(kind, id)).or_default() += 1;
        if notified {
            c.notifications += 1;
        }
        c.secure_config_notifications += secure_config_notifications;
        if let Some(request) = ownerless {
            c.ownerless.push(OwnerlessEvent {
                request,
                kind,
                id: id.to_string(),
            });
        }
    }

    /// Forgets everything (on reset).
    pub fn clear(&self) {
        *lock(&self.counters) = Counters::default();
        {
            let mut g = lock(&self.queue);
            let (waiting, in_service) = (g.waiting, g.in_service);
            *g = Gauges {
                waiting,
                in_service,
                max_waiting: waiting,
                ..Gauges::default()
            };
        }
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// A serialisable copy.
    pub fn snapshot(&self) -> Stats {
        let (avg_queue, avg_in_service, max_queue) = {
            let mut g = lock(&self.queue);
            let (q, s) = g.averages();
            (q, s, g.max_waiting)
        };
        let c = lock(&self.counters);
        let by_route = c
            .by_route
            .iter()
            .map(|(route, outcomes)| {
                let outcomes = outcomes
                    .iter()
                    .map(|(o, n)| {
                        let key = match o {
                            Outcome::Status(s) => s.to_string(),
                            Outcome::Dropped => "dropped".to_string(),
                        };
                        (key, *n)
                    })
                    .collect();
                (route.clone(), outcomes)
            })
            .collect();
        Stats {
            requests: c.requests,
            by_route,
            rate_limited: c.rate_limited,
            faults: c.faults.clone(),
            notifications: c.notifications,
            secure_config_notifications: c.secure_config_notifications,
            read_only_writes: c.read_only_writes,
            writes: c.writes.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            write_attempts: c
                .write_attempts
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            max_in_flight: self.max_in_flight.load(Ordering::SeqCst),
            avg_queue,
            max_queue,
            avg_in_service,
            ownerless: c.ownerless.clone(),
        }
    }
}
