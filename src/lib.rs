//! handover moves ownership of DataRobot entities in bulk through DataRobot's sharing API.
//!
//! How the pieces fit:
//!
//! - [`model`] names the 13 shareable entity kinds, the three access levels and, per kind,
//!   the facts of the wire contract (dialect, body keys, role names). Both sides use it.
//! - [`sim`] is a DataRobot simulator (an axum server) that plays the contract, its open
//!   variants and the faults a real migration meets. Every test, the demo and the
//!   benchmarks run against it, in process or as `handover sim`.
//! - [`cli`] is the edge: clap parses into `*Opts`, which become validated settings for the
//!   core; nothing below `cli` imports clap.
//! - [`exit`] names the process exit codes and the error wrapper that carries one.
//!
//! The planner (`config`, `api`, `plan`, `csvplan`) and the executor (`exec`, `journal`,
//! `report`) build on these.

pub mod api;
pub mod cli;
pub mod config;
pub mod csvplan;
pub mod exec;
pub mod exit;
pub mod journal;
pub mod model;
pub mod plan;
pub mod planner;
pub mod report;
pub mod secret;
pub mod sim;
pub mod verify;
