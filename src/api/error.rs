//! The one error type of the API client, and the classifier that sorts every failure into
//! what the caller should do with it.
//!
//! An [`ApiError`] names the method and the URL **path** (never the query string's host,
//! never a header, never the token), the HTTP status if there was one, the server's
//! `message`, and how many attempts were made. [`ApiError::class`] puts it in one of the
//! [`ErrorClass`]es, and [`ErrorClass::action`] says retry, record or stop.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::exit;
use crate::secret::Token;

/// What kind of failure an error is, from the point of view of a batch of shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Transient: 429, 408, 5xx gateway errors, 500, timeouts, dropped connections. The
    /// client retries these itself; one that reaches the caller has used up its budget.
    Retryable,
    /// 403: the caller may see the entity but not change its sharing (contract R5–R7).
    NotAllowed,
    /// 404 or 410: the entity is gone or invisible to the caller.
    Gone,
    /// 400, 409, 422 (and other 4xx): the server refused the request under one of its
    /// rules (last owner, duplicate or unknown recipient, validation), or the client
    /// refused to send it.
    Refused,
    /// 401: the token is bad. Every further request would fail the same way.
    Auth,
    /// Anything that says the client and server do not understand each other (an
    /// unexpected redirect, a response that does not decode, 405, 501) or that the client
    /// cannot work at all (bad TLS settings).
    Fatal,
}

/// What the caller of the client should do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Try again after a delay (used inside the client's retry loop).
    Retry,
    /// Record the failure against this entity and carry on with the batch.
    Record,
    /// Stop the batch: nothing that follows can succeed.
    Stop,
}

impl ErrorClass {
    /// What to do with a failure of this class *before* retrying.
    pub fn action(self) -> Action {
        match self {
            ErrorClass::Retryable => Action::Retry,
            ErrorClass::NotAllowed | ErrorClass::Gone | ErrorClass::Refused => Action::Record,
            ErrorClass::Auth | ErrorClass::Fatal => Action::Stop,
        }
    }

    /// A short lowercase name for journals and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "retryable",
            ErrorClass::NotAllowed => "not_allowed",
            ErrorClass::Gone => "gone",
            ErrorClass::Refused => "refused",
            ErrorClass::Auth => "auth",
            ErrorClass::Fatal => "fatal",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sorts an HTTP error status into its class.
pub fn classify_status(status: u16) -> ErrorClass {
    match status {
        401 => ErrorClass::Auth,
        403 => ErrorClass::NotAllowed,
        404 | 410 => ErrorClass::Gone,
        408 | 429 => ErrorClass::Retryable,
        // Wrong method or media type: we are talking to something that is not the API.
        405 | 406 | 415 => ErrorClass::Fatal,
        400..=499 => ErrorClass::Refused,
        501 | 505 => ErrorClass::Fatal,
        500..=599 => ErrorClass::Retryable,
        // 1xx/3xx never reach here as errors except redirects, handled separately.
        _ => ErrorClass::Fatal,
    }
}

/// How a transport failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// The connect or request timeout expired.
    Timeout,
    /// No connection: refused, DNS failure, TLS handshake failure.
    Connect,
    /// The connection broke while sending or receiving.
    Broken,
    /// The TLS handshake failed (an untrusted or invalid certificate). Not retried.
    Tls,
    /// The request could not even be built. Not retried.
    Other,
}

/// What went wrong, without the request's coordinates.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// The server answered with a non-2xx status.
    Status {
        status: u16,
        /// `message` from the JSON body, or the start of a non-JSON body.
        message: Option<String>,
        /// `x-request-id` / `X-DataRobot-Request-ID`, when the server sent one.
        request_id: Option<String>,
        /// The server's `Retry-After`, parsed.
        retry_after: Option<Duration>,
    },
    /// A redirect, which the client never follows (a wrong scheme or a missing `/api/v2`
    /// usually).
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// No response: timeout, connection refused, connection dropped. `detail` is the
    /// innermost cause's text.
    Transport {
        kind: TransportKind,
        detail: String,
        /// `host:port` the client tried.
        host: String,
    },
    /// A 2xx response whose body is not JSON.
    NotJson {
        status: u16,
        content_type: Option<String>,
        snippet: String,
    },
    /// A JSON response without a field the client needs, or with a value it cannot read.
    Decode { field: String, reason: String },
    /// The client refused to send a request (an invalid share request).
    Invalid { reason: String },
    /// The HTTP client could not be built (a bad CA bundle, a token that cannot be a
    /// header value).
    Setup { reason: String },
    /// The run stopped while the request waited for its turn ([`Client::halt_waiting`]):
    /// it was never sent.
    ///
    /// [`Client::halt_waiting`]: super::Client::halt_waiting
    Halted,
}

/// An error from one logical API call (after any retries). Boxed inside, so that
/// `Result<_, ApiError>` stays one pointer wide.
#[derive(Debug)]
pub struct ApiError(Box<Repr>);

#[derive(Debug)]
struct Repr {
    /// `GET`, `PATCH`, … (empty for errors raised before any request).
    pub(crate) method: String,
    /// The URL path, e.g. `/api/v2/projects/abc/accessControl/`; no host, no query.
    pub(crate) path: String,
    /// How many HTTP requests were made for this call.
    pub(crate) attempts: u32,
    /// What went wrong.
    pub(crate) kind: ApiErrorKind,
    /// A hint for a human ("the endpoint usually ends in /api/v2").
    pub(crate) hint: Option<String>,
}

impl ApiError {
    pub(crate) fn new(method: &str, path: &str, kind: ApiErrorKind) -> ApiError {
        ApiError(Box::new(Repr {
            method: method.to_string(),
            path: path.to_string(),
            attempts: 0,
            kind,
            hint: None,
        }))
    }

    pub(crate) fn decode(method: &str, path: &str, field: &str, reason: impl Into<String>) -> Self {
        ApiError::new(
            method,
            path,
            ApiErrorKind::Decode {
                field: field.to_string(),
                reason: reason.into(),
            },
        )
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// The error with `token` taken out of every text in it (see [`Token::scrub`]): what
    /// the server said (its message, a body's start, a redirect's location, a request id),
    /// the transport's words and the hint. The client passes every error through here
    /// before it leaves, so that a server or proxy that echoes the `Authorization` header
    /// cannot put the token on stderr, in a journal or in a report.
    pub(crate) fn scrubbed(mut self, token: &Token) -> Self {
        let clean = |s: &mut String| {
            if let Cow::Owned(c) = token.scrub(s) {
                *s = c;
            }
        };
        let clean_opt = |s: &mut Option<String>| {
            if let Some(s) = s {
                clean(s);
            }
        };
        match &mut self.0.kind {
            ApiErrorKind::Status {
                message,
                request_id,
                ..
            } => {
                clean_opt(message);
                clean_opt(request_id);
            }
            ApiErrorKind::Redirect { location, .. } => clean_opt(location),
            ApiErrorKind::Transport { detail, .. } => clean(detail),
            ApiErrorKind::NotJson {
                content_type,
                snippet,
                ..
            } => {
                clean_opt(content_type);
                clean(snippet);
            }
            ApiErrorKind::Decode { field, reason } => {
                clean(field);
                clean(reason);
            }
            ApiErrorKind::Invalid { reason } | ApiErrorKind::Setup { reason } => clean(reason),
            ApiErrorKind::Halted => {}
        }
        clean(&mut self.0.path);
        clean_opt(&mut self.0.hint);
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.0.attempts = attempts;
        self
    }

    /// Whether the server answered in a shape the client does not read (not JSON, or
    /// JSON without what it needs): a problem of the one entity asked about, not of the run.
    pub fn is_shape(&self) -> bool {
        matches!(
            self.0.kind,
            ApiErrorKind::NotJson { .. } | ApiErrorKind::Decode { .. }
        )
    }

    /// Whether the route is not served (404, 405, 410, 501) or answered in a shape the
    /// client does not read: of a list, that type's problem (an older DataRobot may not
    /// have it, contract §12); of one entity's access list, that entity's.
    pub fn is_unserved(&self) -> bool {
        self.is_shape() || matches!(self.status(), Some(404 | 405 | 410 | 501))
    }

    /// The class of this failure.
    pub fn class(&self) -> ErrorClass {
        match &self.0.kind {
            ApiErrorKind::Status { status, .. } => classify_status(*status),
            ApiErrorKind::Transport {
                kind: TransportKind::Tls | TransportKind::Other,
                ..
            } => ErrorClass::Fatal,
            ApiErrorKind::Transport { .. } => ErrorClass::Retryable,
            ApiErrorKind::Invalid { .. } => ErrorClass::Refused,
            ApiErrorKind::Redirect { .. }
            | ApiErrorKind::NotJson { .. }
            | ApiErrorKind::Decode { .. }
            | ApiErrorKind::Setup { .. }
            | ApiErrorKind::Halted => ErrorClass::Fatal,
        }
    }

    /// Whether the request was never sent because the run stopped while it waited.
    pub fn is_halted(&self) -> bool {
        matches!(self.0.kind, ApiErrorKind::Halted)
    }

    /// What the caller should do now that the client has given up: a retryable failure
    /// that still reached the caller has used its retry budget, so it is recorded.
    pub fn action(&self) -> Action {
        match self.class().action() {
            Action::Retry => Action::Record,
            other => other,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match &self.0.kind {
            ApiErrorKind::Status { status, .. }
            | ApiErrorKind::Redirect { status, .. }
            | ApiErrorKind::NotJson { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's `message`, when it sent one.
    pub fn message(&self) -> Option<&str> {
        match &self.0.kind {
            ApiErrorKind::Status { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    /// The URL path of the request (no host, no query).
    pub fn path(&self) -> &str {
        &self.0.path
    }

    /// The HTTP method of the request.
    pub fn method(&self) -> &str {
        &self.0.method
    }

    /// How many HTTP requests were made. More than one on a write means an earlier
    /// attempt may have landed on the server even though its answer was lost.
    pub fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// What went wrong.
    pub fn kind(&self) -> &ApiErrorKind {
        &self.0.kind
    }

    /// A hint for a human, when there is one.
    pub fn hint(&self) -> Option<&str> {
        self.0.hint.as_deref()
    }

    /// Whether the entity does not exist (or is invisible): 404 or 410.
    pub fn is_not_found(&self) -> bool {
        self.class() == ErrorClass::Gone
    }

    /// The process exit code when this error ends the run: the API being unusable
    /// (auth, configuration, an unreachable host) is [`exit::FATAL`].
    pub fn exit_code(&self) -> i32 {
        exit::FATAL
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.method.is_empty() || !self.0.path.is_empty() {
            write!(f, "{} {}: ", self.0.method, self.0.path)?;
        }
        match &self.0.kind {
            ApiErrorKind::Status {
                status,
                message,
                request_id,
                ..
            } => {
                write!(f, "{status} {}", status_text(*status))?;
                if let Some(m) = message {
                    write!(f, ": {m}")?;
                }
                if let Some(id) = request_id {
                    write!(f, " (request id {id})")?;
                }
            }
            ApiErrorKind::Redirect { status, location } => {
                write!(f, "unexpected redirect ({status})")?;
                if let Some(l) = location {
                    write!(f, " to {l}")?;
                }
            }
            ApiErrorKind::Transport { kind, detail, host } => match kind {
                TransportKind::Timeout => write!(f, "timed out talking to {host}: {detail}")?,
                TransportKind::Connect => write!(f, "cannot connect to {host}: {detail}")?,
                TransportKind::Broken => write!(f, "connection to {host} failed: {detail}")?,
                TransportKind::Tls => write!(f, "TLS handshake with {host} failed: {detail}")?,
                TransportKind::Other => write!(f, "request to {host} not sent: {detail}")?,
            },
            ApiErrorKind::NotJson {
                status,
                content_type,
                snippet,
            } => {
                write!(f, "response ({status}) is not JSON")?;
                if let Some(ct) = content_type {
                    write!(f, " (content-type {ct})")?;
                }
                if !snippet.is_empty() {
                    write!(f, ": {snippet:?}")?;
                }
            }
            ApiErrorKind::Decode { field, reason } => {
                write!(f, "unexpected response: field `{field}`: {reason}")?
            }
            ApiErrorKind::Invalid { reason } => write!(f, "request not sent: {reason}")?,
            ApiErrorKind::Setup { reason } => write!(f, "cannot set up the HTTP client: {reason}")?,
            ApiErrorKind::Halted => write!(f, "not sent: the run stopped while it waited")?,
        }
        if self.0.attempts > 1 {
            write!(f, " (after {} attempts)", self.0.attempts)?;
        }
        if let Some(hint) = &self.0.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

fn status_text(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_classes() {
        for (status, class) in [
            (400, ErrorClass::Refused),
            (401, ErrorClass::Auth),
            (403, ErrorClass::NotAllowed),
            (404, ErrorClass::Gone),
            (405, ErrorClass::Fatal),
            (408, ErrorClass::Retryable),
            (409, ErrorClass::Refused),
            (410, ErrorClass::Gone),
            (413, ErrorClass::Refused),
            (422, ErrorClass::Refused),
            (429, ErrorClass::Retryable),
            (500, ErrorClass::Retryable),
            (501, ErrorClass::Fatal),
            (502, ErrorClass::Retryable),
            (503, ErrorClass::Retryable),
            (504, ErrorClass::Retryable),
        ] {
            assert_eq!(classify_status(status), class, "{status}");
        }
    }

    #[test]
    fn actions_after_the_client_gave_up() {
        let err = |status| {
            ApiError::new(
                "GET",
                "/api/v2/x/",
                ApiErrorKind::Status {
                    status,
                    message: None,
                    request_id: None,
                    retry_after: None,
                },
            )
        };
        assert_eq!(err(503).class().action(), Action::Retry);
        assert_eq!(err(503).action(), Action::Record);
        assert_eq!(err(403).action(), Action::Record);
        assert_eq!(err(404).action(), Action::Record);
        assert_eq!(err(422).action(), Action::Record);
        assert_eq!(err(401).action(), Action::Stop);
        assert!(err(404).is_not_found());
        let decode = ApiError::decode("GET", "/api/v2/projects/", "projectName", "not a string");
        assert_eq!(decode.action(), Action::Stop);
    }

    #[test]
    fn display_is_one_line_with_path_status_message_attempts_and_hint() {
        let e = ApiError::new(
            "PATCH",
            "/api/v2/projects/p1/accessControl/",
            ApiErrorKind::Status {
                status: 422,
                message: Some("The following users were not found: x@y".into()),
                request_id: Some("r-1".into()),
                retry_after: None,
            },
        )
        .with_attempts(2)
        .with_hint("check the username");
        let text = e.to_string();
        assert_eq!(
            text,
            "PATCH /api/v2/projects/p1/accessControl/: 422 Unprocessable Entity: The following \
             users were not found: x@y (request id r-1) (after 2 attempts); hint: check the username"
        );
        assert!(!text.contains('\n'));
        assert_eq!(e.status(), Some(422));
        assert_eq!(e.attempts(), 2);
    }
}
