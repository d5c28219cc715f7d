//! handover moves ownership of DataRobot entities in bulk through DataRobot's sharing API.
//!
//! How the pieces fit, from the ground up (no module imports one above it):
//!
//! - [`base`] is the ground floor: [`model`] names the 13 shareable entity kinds, the three
//!   access levels, grants and access lists and, per kind, the facts of the wire contract;
//!   [`base::request`] is the one share request per entity; [`files`], [`secret`] (the
//!   token, never printed) and [`exit`] (the exit codes and the one error printer). They
//!   are re-exported here, since every layer speaks them.
//! - [`api`] is the one HTTP client ([`api::config`] resolves where DataRobot is and the
//!   token): every request, reads included, passes its pace controller, its rate limiter
//!   and its retry policy.
//! - [`plan`]: the pure plan (target, diff, validation, the plan file) and its inputs: the
//!   offboarding planner ([`plan::planner`], which asks the server what exists and who
//!   holds what), hand-written CSV plans ([`plan::csvplan`]), map files and id lists
//!   ([`plan::mapfile`]).
//! - [`exec`] applies a plan, one share request per entity, with a drift guard and a
//!   read-back, and turns a journal into reports ([`exec::report`]); [`journal`] makes
//!   every step durable and resumable.
//! - [`after`]: what comes after a run: [`after::verify`] checks it against the live
//!   server, [`after::rollback`] puts back what it changed, [`after::html`] shows it (and
//!   an inventory) as a self-contained HTML page.
//! - [`workflow`]: what each command does (plan, apply, offboard, demo, rollback, and
//!   doctor, the read-only check of a tenant against every assumption, whose probes are
//!   [`api::doctor`]'s), as library functions taking plain settings.
//! - [`cli`] is the edge: clap parses into `*Opts`, which become a workflow's settings;
//!   nothing below `cli` imports clap.
//! - [`sim`] is a DataRobot simulator (axum routes behind a fault-injecting middleware)
//!   that plays the contract, its open variants and the faults a real migration meets.
//!   Every test, the demo and the benchmarks run against it, in process or as
//!   `handover sim`.
//!   It is its own crate (`handover-sim`) and speaks its own vocabulary of kinds and
//!   roles, written from the contract and not taken from [`model`], so that it stays an
//!   independent oracle; [`simulator`] is the edge where the two meet (conversions by name
//!   only).

pub mod after;
pub mod api;
pub mod base;
pub mod cli;
pub mod exec;
pub mod journal;
pub mod plan;
pub mod simulator;
pub mod workflow;

pub use base::{exit, files, model, secret};
pub use handover_sim as sim;
