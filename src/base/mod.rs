//! The ground floor: the vocabulary every other layer speaks and nothing here depends on.
//!
//! - [`model`]: the 13 entity kinds, the three access levels, grants and access lists, and
//!   per kind the facts of the wire contract (dialect, body keys, role names);
//! - [`exit`]: the process exit codes;
//! - [`files`]: whole files written safely (owner-only, temp + fsync + rename) and the
//!   formula-safe CSV cell;
//! - [`request`]: the one share request handover sends per entity ([`request::ShareRequest`],
//!   its [`request::Change`]s), which the planner makes and the client puts on the wire;
//! - [`secret`]: the API token, which never prints.
//!
//! They are re-exported at the crate root (`handover::model`, …), since every caller needs
//! them.

pub mod exit;
pub mod files;
pub mod model;
pub mod request;
pub mod secret;
