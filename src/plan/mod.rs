//! The plan: for every selected entity, the access list as read, the access list wanted,
//! and the one share request that gets from the first to the second.
//!
//! This module is the pure half of the planner. It owns
//!
//! - the request each entry carries ([`ShareRequest`], [`Change`], defined on the ground
//!   floor in `base::request` so that the client needs nothing from here);
//! - target building for offboarding ([`offboard_target`], and [`batch_target`] for
//!   several departing users at once) and the rules a target must obey ([`validate`],
//!   [`RefusalKind`]);
//! - the diff from current to target ([`diff`]) and the drift fingerprint
//!   ([`fingerprint`]);
//! - the plan file, JSON Lines with a header, one entry per line and a digest trailer
//!   ([`PlanWriter`], [`PlanReader`]), with its companion CSV for spreadsheets;
//! - the per-kind [`Summary`] and its table.
//!
//! It does no network I/O: the impure planner (reading access lists, looking users up)
//! calls in here with what the server said.
//!
//! # Serialisation
//!
//! Everything in a plan file is snake_case JSON (`recipient_type`, `can_share`,
//! `old_owner_role`), because [`Grant`](crate::model::Grant) already serialises that way
//! and one file should use one style. Roles are the canonical `OWNER`, `EDITOR`,
//! `CONSUMER`; a revoke is `"role": null`.

pub mod csvplan;
mod diff;
mod entry;
mod file;
pub mod mapfile;
pub mod notebook;
pub mod orphan;
pub mod planner;
mod summary;
mod target;
mod time;

pub use crate::base::request::{Change, ShareRequest};
pub use diff::{
    RefusalKind, diff, fingerprint, is_noop, same_principal, validate, validate_changes,
};
pub use entry::{
    ActionKind, FORMAT, InputFile, PlanEntry, PlanHeader, SelectionSource, SourceKind, VERSION,
};
pub use file::{Error, PlanReader, PlanWriter, WrittenPlan, companion_csv_path};
pub use summary::{Counts, Summary, notification_line, render_table};
pub use target::{
    HandoverPair, LeaverTarget, OldOwnerRoleKind, UnknownOldOwnerRoleError, UserIdent,
    batch_target, leaver_target, offboard_target, owner_of,
};
pub use time::rfc3339_utc;

/// `sha256:<hex>` of `bytes`: how plans name the files they were made from.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
