//! handover moves ownership of DataRobot entities in bulk through DataRobot's sharing API.
//!
//! How the pieces fit:
//!
//! - [`model`] names the 13 shareable entity kinds, the three access levels and, per kind,
//!   the facts of the wire contract (dialect, body keys, role names), as the tool sees them.
//! - [`config`] resolves where DataRobot is and the token ([`secret::Token`], never
//!   printed); [`api`] is the one HTTP client: every request, reads included, passes its
//!   rate limiter and its retry policy.
//! - The planner: [`planner`] asks the server what exists and who holds what, and hands
//!   each entity to the pure [`plan`] functions (target, diff, validation, the plan file);
//!   [`csvplan`] reads hand-written plans; [`mapfile`] reads the map of departing users to
//!   successors and the id lists that narrow a plan.
//! - The executor: [`exec`] applies a plan, one share request per entity, with a drift
//!   guard and a read-back; [`journal`] makes every step durable and resumable; [`report`]
//!   turns a journal into reports, `status` and retry plans; [`verify`] checks a plan
//!   against the live server; [`rollback`] turns a journal into a plan that puts back
//!   what its run changed, and runs it through the executor with a journal of its own.
//! - [`sim`] is a DataRobot simulator (axum routes behind a fault-injecting middleware)
//!   that plays the contract, its open variants and the faults a real migration meets.
//!   Every test, the demo and the benchmarks run against it, in process or as
//!   `handover sim`.
//!   It speaks its own vocabulary of kinds and roles, written from the contract and not
//!   taken from [`model`], so that it stays an independent oracle; [`simulator`] is the
//!   edge where the two meet (conversions by name only).
//! - [`cli`] is the edge: clap parses into `*Opts`, which become validated settings for the
//!   core; nothing below `cli` imports clap. [`exit`] names the process exit codes.

pub mod api;
pub mod cli;
pub mod config;
pub mod csvplan;
pub mod exec;
pub mod exit;
pub mod files;
pub mod journal;
pub mod mapfile;
pub mod model;
pub mod plan;
pub mod planner;
pub mod report;
pub mod rollback;
pub mod secret;
pub use handover_sim as sim;
pub mod simulator;
pub mod verify;
