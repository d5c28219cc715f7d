//! A DataRobot simulator: the sharing API of `/api/v2` for all 27 entity kinds (the 13 the
//! Python client shares and the 14 of contract §12), played from
//! the wire contract (`shared/datarobot-api.md`) closely enough that DataRobot's official
//! Python client works against it unmodified, plus the faults a real migration meets.
//!
//! - `kinds`: the simulator's own vocabulary ([`EntityKind`], [`Role`], role names, dialects,
//!   envelopes), written from the contract, not taken from the tool;
//! - `seed`: the starting data ([`Seed`], JSON) and its deterministic generator ([`GenSpec`]);
//! - `config`: the knobs ([`SimConfig`]): role vocabulary, status variants (whether an
//!   inactive user may be revoked among them), page sizes, faults, and the variants of the
//!   §12 types (set or replace semantics, administrators' visibility, extra recipients,
//!   Workload API bodies and paging, absent lists);
//! - `state`: users, entities, access lists and the sharing rules R1–R8;
//! - `render`: how each kind's items look on the wire;
//! - `app`: what `routes` and `server` share: the handlers' state, the request as a
//!   handler sees it, the error answer;
//! - `routes`: the axum API routes, auth, lists, pagination, both share dialects and their
//!   validation;
//! - `faults`: the seeded RNG and the per-token rate limiter;
//! - `stats`: what the simulator saw ([`Stats`]);
//! - `server`: the axum app, the fault pipeline, `/__sim/…` control endpoints, the hyper
//!   connection loop and [`SimHandle`];
//! - `tls`: HTTPS with a given certificate ([`Sim::start_tls`]), for certificate tests.
//!
//! Start one in-process with [`Sim::start`], or run `handover sim`.
//!
//! This crate does not depend on `handover`: it is the tool's test oracle, so everything it
//! knows about DataRobot is its own, written from the contract (`kinds` cites the sections).

mod app;
mod config;
mod faults;
mod kinds;
mod render;
mod routes;
mod seed;
mod server;
mod state;
mod stats;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use config::{
    ForcedOn, ForcedStatus, InactiveRevokeKind, LimitOverMaxKind, RateLimit, SimConfig,
    default_replace_kinds,
};
pub use kinds::{
    ApiFamily, DialectKind, EntityKind, EnvelopeKind, FACTS, KindFacts, NotifyKind,
    RELATED_ENTITY_TYPES, Role, RoleVocabKind, is_revoke_name,
};
pub use seed::{
    ADMIN_USERNAME, DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, INACTIVE_USERNAME,
    STORE_TYPES, SUCCESSOR_USERNAME, Seed, SeedEntity, SeedGrant, SeedPrincipal, SeedUser,
    default_token, is_object_id,
};
pub use server::{Sim, SimHandle};
pub use state::{SnapshotEntity, SnapshotGrant, SnapshotPrincipal, SnapshotUser, StateSnapshot};
pub use stats::{FaultStats, OwnerlessEvent, Stats, entity_key};

/// What can go wrong starting or steering a simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// `Sim::start` was called outside a tokio runtime.
    #[error("the simulator must be started inside a tokio runtime")]
    NoRuntime,
    /// A seed file could not be read.
    #[error("cannot read seed file {path}")]
    ReadSeed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A seed file is not valid JSON of the seed format.
    #[error("cannot parse seed file {path}")]
    ParseSeed {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A seed breaks a rule of the format (ids, uniqueness, references).
    #[error("invalid seed: {0}")]
    InvalidSeed(String),
    /// A config knob is out of range.
    #[error("invalid simulator config: {0}")]
    InvalidConfig(String),
    /// A certificate or key for HTTPS could not be used.
    #[error("invalid TLS certificate or key: {0}")]
    Tls(String),
    /// A username that names no account.
    #[error("no user {0}")]
    UnknownUser(String),
    /// An entity that does not exist.
    #[error("no {0} {1}")]
    UnknownEntity(EntityKind, String),
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every writer
/// leaves the simulator's data consistent before anything can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Read-locks an `RwLock`, recovering from poisoning (see [`lock`]).
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// Write-locks an `RwLock`, recovering from poisoning (see [`lock`]).
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
