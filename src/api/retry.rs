//! The retry policy: which failures are retried, how often, and how long to wait.
//!
//! Pure: no clock, no I/O. The client asks [`RetryPolicy::delay`] after each failed attempt
//! and sleeps (on tokio's clock) for the answer, or gives up on `None`. Jitter comes from
//! an RNG the caller passes in, so tests seed it.
//!
//! Defaults (see [`RetryPolicy::default`]): throttling (429), gateway errors (502, 503,
//! 504), 408, timeouts and broken connections get 8 attempts with full-jitter exponential
//! back-off from 200 ms, capped at 30 s (about a minute of waiting in the worst case, a
//! little less than the Python client's ~100 s); a plain 500 gets 3 attempts, since it is
//! more often a bug than a blip. A `Retry-After` (seconds or an HTTP date) replaces the
//! computed delay, capped at 120 s.
//!
//! All methods are retried, PATCH included. That is safe for this API: sharedRoles writes
//! set roles (idempotent, contract R9) and accessControl writes upsert per user. But a
//! retried write may already have landed before its answer was lost, so callers that
//! reason about "did it happen" must re-read (the executor verifies by reading back).

use std::time::{Duration, SystemTime};

use rand::Rng;

use super::error::TransportKind;

/// The kinds of failure the policy retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryKind {
    /// 429 Too Many Requests.
    Throttled,
    /// 408, 502, 503, 504 and other transient server or gateway statuses.
    Unavailable,
    /// 500 Internal Server Error: retried, but with the smaller budget.
    ServerError,
    /// Timeouts, refused and dropped connections.
    Transport(TransportKind),
}

impl RetryKind {
    /// The retry kind of an HTTP status, or `None` when the status is not retried.
    pub fn of_status(status: u16) -> Option<RetryKind> {
        match status {
            429 => Some(RetryKind::Throttled),
            500 => Some(RetryKind::ServerError),
            // Not implemented / version not supported: retrying cannot help.
            501 | 505 => None,
            // 413 too: the official client retries it with 429 and the gateway errors
            // (contract C11, §1.2).
            408 | 413 | 502..=599 => Some(RetryKind::Unavailable),
            _ => None,
        }
    }

    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryKind::Throttled => "throttled",
            RetryKind::Unavailable => "unavailable",
            RetryKind::ServerError => "server_error",
            RetryKind::Transport(TransportKind::Timeout) => "timeout",
            RetryKind::Transport(TransportKind::Connect) => "connect",
            RetryKind::Transport(TransportKind::Broken) => "broken_connection",
            RetryKind::Transport(TransportKind::Tls) => "tls",
            RetryKind::Transport(TransportKind::Other) => "transport",
        }
    }
}

/// How failed requests are retried.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all (first try included) for throttling, gateway errors and transport
    /// failures. 1 means no retries.
    pub max_attempts: u32,
    /// Attempts in all for a plain 500.
    pub server_error_attempts: u32,
    /// The back-off before the first retry is drawn from `[0, base_delay]`, then doubles.
    pub base_delay: Duration,
    /// The back-off ceiling.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; longer values are cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            server_error_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            server_error_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The attempt budget for a kind of failure.
    pub fn attempts_for(&self, kind: RetryKind) -> u32 {
        match kind {
            RetryKind::ServerError => self.server_error_attempts.min(self.max_attempts),
            _ => self.max_attempts,
        }
        .max(1)
    }

    /// The exponential ceiling before retry number `retry` (1 for the first retry):
    /// `min(max_delay, base_delay * 2^(retry-1))`.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(30);
        let factor = 1u64 << exp;
        let nanos = (self.base_delay.as_nanos() as u64).saturating_mul(factor);
        Duration::from_nanos(nanos).min(self.max_delay)
    }

    /// The full-jitter back-off before retry number `retry`: uniform in
    /// `[0, backoff_ceiling(retry)]`.
    pub fn backoff<R: Rng + ?Sized>(&self, retry: u32, rng: &mut R) -> Duration {
        let ceiling = self.backoff_ceiling(retry).as_nanos() as u64;
        if ceiling == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rng.random_range(0..=ceiling))
    }

    /// How long to wait after `attempts_made` failed attempts of kind `kind`, or `None` to
    /// give up. A server's `Retry-After` wins over the computed back-off (capped at
    /// `max_retry_after`).
    pub fn delay<R: Rng + ?Sized>(
        &self,
        kind: RetryKind,
        attempts_made: u32,
        retry_after: Option<Duration>,
        rng: &mut R,
    ) -> Option<Duration> {
        if attempts_made >= self.attempts_for(kind) {
            return None;
        }
        Some(match retry_after {
            Some(d) => d.min(self.max_retry_after),
            None => self.backoff(attempts_made, rng),
        })
    }
}

/// Parses a `Retry-After` value: a number of seconds (an integer, or a decimal, which some
/// proxies send), or an HTTP date, measured from `now`. A date in the past means "now".
/// Returns `None` for anything unreadable.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs).ok())
            .flatten();
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ceilings_double_from_base_and_stop_at_the_cap() {
        let p = RetryPolicy::default();
        let ms = |r| p.backoff_ceiling(r).as_millis();
        assert_eq!(
            (1..=10).map(ms).collect::<Vec<_>>(),
            vec![200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]
        );
        assert_eq!(p.backoff_ceiling(1000), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_in_range_and_is_reproducible_with_a_seed() {
        let p = RetryPolicy::default();
        let mut a = StdRng::seed_from_u64(7);
        let mut b = StdRng::seed_from_u64(7);
        for retry in 1..=12 {
            let x = p.backoff(retry, &mut a);
            assert!(x <= p.backoff_ceiling(retry));
            assert_eq!(x, p.backoff(retry, &mut b));
        }
        // Full jitter spreads: 200 draws at retry 6 are not all the same.
        let mut rng = StdRng::seed_from_u64(1);
        let draws: std::collections::HashSet<_> =
            (0..200).map(|_| p.backoff(6, &mut rng)).collect();
        assert!(draws.len() > 150);
    }

    #[test]
    fn budgets_differ_for_500_and_for_throttling() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(0);
        let retries = |kind| {
            (1..100)
                .take_while(|n| {
                    p.delay(kind, *n, None, &mut StdRng::seed_from_u64(0))
                        .is_some()
                })
                .count()
        };
        assert_eq!(retries(RetryKind::Throttled), 7);
        assert_eq!(retries(RetryKind::Unavailable), 7);
        assert_eq!(retries(RetryKind::Transport(TransportKind::Connect)), 7);
        assert_eq!(retries(RetryKind::ServerError), 2);
        assert_eq!(
            RetryPolicy::none().delay(RetryKind::Throttled, 1, None, &mut rng),
            None
        );
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(
            p.delay(
                RetryKind::Throttled,
                1,
                Some(Duration::from_secs(3)),
                &mut rng
            ),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            p.delay(
                RetryKind::Throttled,
                1,
                Some(Duration::from_secs(3600)),
                &mut rng
            ),
            Some(Duration::from_secs(120))
        );
        // Even a Retry-After does not extend the budget.
        assert_eq!(
            p.delay(
                RetryKind::Throttled,
                8,
                Some(Duration::from_secs(1)),
                &mut rng
            ),
            None
        );
    }

    #[test]
    fn statuses_map_to_retry_kinds() {
        assert_eq!(RetryKind::of_status(429), Some(RetryKind::Throttled));
        assert_eq!(RetryKind::of_status(500), Some(RetryKind::ServerError));
        for s in [408, 413, 502, 503, 504] {
            assert_eq!(RetryKind::of_status(s), Some(RetryKind::Unavailable), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 422, 501, 505] {
            assert_eq!(RetryKind::of_status(s), None, "{s}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(42));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(42))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(42));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        for junk in ["", "soon", "-3", "NaN", "1e400"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }
}
