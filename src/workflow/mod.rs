//! The workflows: what each command does, as library functions that take plain settings
//! and return what happened. The command line (`cli`) only turns its arguments into these
//! settings, calls one, and prints; a program can run an offboarding without clap.
//!
//! - [`plan`]: the input files read and checked, one offboarding planned and written;
//! - [`apply`]: a plan applied (or resumed) with its journal, and the report;
//! - [`offboard`]: plan, then apply through the same client;
//! - [`doctor`]: a read-only check of a tenant against handover's assumptions, and its
//!   report;
//! - [`inventory`]: who owns what, every entity read, written as CSV and JSON counts;
//! - [`demo`]: the simulator started, an offboarding planned, applied and verified;
//! - [`rollback`]: a journal turned into a plan that puts back what its run changed, and
//!   that plan run.
//!
//! Errors are `anyhow` with the exit code attached ([`crate::exit::with_code`]): these
//! functions are the glue between the typed layers below and the process.

pub mod apply;
pub mod demo;
pub mod doctor;
pub mod inventory;
pub mod offboard;
pub mod plan;
pub mod rollback;

use crate::api::config::{ConnInputs, ConnSettings};
use crate::api::{Account, Client, ClientPolicy};
use crate::exit;

/// The validated connection settings for `inputs` (flags over environment over files).
pub fn settings_of(inputs: &ConnInputs) -> anyhow::Result<ConnSettings> {
    ConnSettings::from_process(inputs).map_err(|e| exit::with_code(e.exit_code(), e))
}

/// Resolves the connection, builds the one client and runs the preflight. Every command
/// that talks to DataRobot goes through here, so a bad token or endpoint fails before
/// anything else is sent.
pub async fn connect(
    inputs: &ConnInputs,
    policy: ClientPolicy,
) -> anyhow::Result<(Client, Account)> {
    connect_with(settings_of(inputs)?, policy).await
}

/// [`connect`] with settings already resolved.
pub async fn connect_with(
    settings: ConnSettings,
    policy: ClientPolicy,
) -> anyhow::Result<(Client, Account)> {
    let client = Client::new(settings, policy).map_err(|e| exit::with_code(e.exit_code(), e))?;
    let account = client
        .preflight()
        .await
        .map_err(|e| exit::with_code(e.exit_code(), e))?;
    Ok((client, account))
}
