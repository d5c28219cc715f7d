//! The DataRobot API client: one [`Client`] for the whole tool, through which every request
//! goes, paced by one adaptive rate limiter and retried by one policy.
//!
//! - [`client`]: `Client` (preflight, users, lists, access lists, the one-PATCH share),
//!   `ClientPolicy`, counters.
//! - [`dialect`]: the accessControl and sharedRoles wire bodies ([`share_body`]) and
//!   access-list items.
//! - [`doctor`]: `handover doctor`'s read-only probes of every assumption, and its report.
//! - [`entities`]: `Account`, `User`, `EntityRef`, `ListFilter`; tolerant per-kind reads.
//! - [`paths`]: joining paths under the endpoint and re-basing `next` links.
//! - [`retry`]: `RetryPolicy`, `Retry-After`; [`error`]: `ApiError` and its classifier.
//! - [`limiter`]: governor on tokio's clock, with AIMD.
//! - [`pace`]: the automatic pace: in-flight limit and rate, found from the answers.

pub mod client;
pub mod config;
pub mod dialect;
pub mod doctor;
pub mod entities;
pub mod error;
pub mod limiter;
pub mod pace;
pub mod paths;
pub mod retry;

pub use crate::base::request::{Change, ShareRequest};
pub use client::{Client, ClientPolicy, Counters, ProbeReply, Recheck, Resend, ShareOutcome};
pub use dialect::{
    SR_MAX_ROLES, ShareBodyError, grant_to, revoke_from, share_body, share_body_on, wire_request,
};
pub use entities::{Account, EntityRef, ListFilter, Listing, User};
pub use error::{Action, ApiError, ApiErrorKind, ErrorClass, TransportKind, classify_status};
pub use limiter::{AdaptiveLimiter, AimdConfig, TokioClock};
pub use pace::{AutoPace, Pace, PaceReport, Signal};
pub use paths::rebase_next;
pub use retry::{RetryKind, RetryPolicy, parse_retry_after};
