//! Fault injection: the per-token rate limiter and the one seeded RNG that decides jitter,
//! 5xx answers, dropped connections and commit-then-502 writes.
//!
//! Reproducibility: every API request that arrives while a random fault or jitter is
//! configured takes exactly four draws from the RNG, in arrival order (jitter, fate, which
//! 5xx, commit-then-502), whatever it turns out to be. The same `fault_seed` and the same
//! sequence of requests therefore give the same faults. Concurrent requests draw in the
//! order they take the RNG's lock, so only sequential traffic is reproducible exactly.
//! Rate-limit time comes from `tokio::time`, so tests may pause and advance it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::config::{RateLimit, SimConfig};
use crate::lock;

/// The fate of a request decided before it is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Handle it normally.
    Serve,
    /// Answer this 5xx status without applying it.
    Status(u16),
    /// Close the connection without an answer, without applying it.
    Drop,
}

/// The random decisions for one request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Draw {
    pub jitter: Duration,
    pub fate: Fate,
    /// Whether a write, once applied, is answered 502.
    pub commit_then_502: bool,
}

impl Draw {
    const NONE: Draw = Draw {
        jitter: Duration::ZERO,
        fate: Fate::Serve,
        commit_then_502: false,
    };
}

const FAULT_STATUSES: [u16; 4] = [500, 502, 503, 504];

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The RNG and the rate limiter's buckets.
pub(crate) struct Faults {
    rng: Mutex<StdRng>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Faults {
    /// Faults drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Faults {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Restarts the RNG from `seed` and empties the rate limiter (on a new config or reset).
    pub fn reseed(&self, seed: u64) {
        *lock(&self.rng) = StdRng::seed_from_u64(seed);
        lock(&self.buckets).clear();
    }

    /// Decides one request's jitter and fate.
    pub fn draw(&self, cfg: &SimConfig) -> Draw {
        if !cfg.needs_rng() {
            return Draw::NONE;
        }
        let mut rng = lock(&self.rng);
        let jitter = Duration::from_millis(rng.random_range(0..=cfg.jitter_ms));
        let roll: f64 = rng.random();
        let which = rng.random_range(0..FAULT_STATUSES.len());
        let commit: f64 = rng.random();
        let fate = if roll < cfg.fault_rate_5xx {
            Fate::Status(FAULT_STATUSES[which])
        } else if roll < cfg.fault_rate_5xx + cfg.drop_rate {
            Fate::Drop
        } else {
            Fate::Serve
        };
        Draw {
            jitter,
            fate,
            commit_then_502: commit < cfg.commit_then_502_rate,
        }
    }

    /// Takes a token from `key`'s bucket, or says how many whole seconds to wait.
    pub fn admit(&self, limit: &RateLimit, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let burst = f64::from(limit.burst);
        let mut buckets = lock(&self.buckets);
        let bucket = match buckets.get_mut(key) {
            Some(b) => b,
            None => buckets.entry(key.to_string()).or_insert(Bucket {
                tokens: burst,
                last: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        if limit.retry_after_secs > 0 {
            return Err(limit.retry_after_secs);
        }
        let wait = (1.0 - bucket.tokens) / limit.per_second;
        Err((wait.ceil() as u64).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_fates() {
        let cfg = SimConfig {
            fault_rate_5xx: 0.3,
            drop_rate: 0.2,
            commit_then_502_rate: 0.1,
            jitter_ms: 5,
            ..SimConfig::default()
        };
        let run = |seed| {
            let f = Faults::new(seed);
            (0..200)
                .map(|_| {
                    let d = f.draw(&cfg);
                    (d.fate, d.jitter, d.commit_then_502)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        let fates = run(3);
        assert!(fates.iter().any(|f| f.0 == Fate::Drop));
        assert!(fates.iter().any(|f| matches!(f.0, Fate::Status(_))));
        assert!(fates.iter().any(|f| f.0 == Fate::Serve));
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_refills_over_time() {
        let f = Faults::new(0);
        let rl = RateLimit {
            per_second: 2.0,
            burst: 2,
            retry_after_secs: 0,
        };
        assert!(f.admit(&rl, "t").is_ok());
        assert!(f.admit(&rl, "t").is_ok());
        assert_eq!(f.admit(&rl, "t"), Err(1));
        // Another token has its own bucket.
        assert!(f.admit(&rl, "u").is_ok());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(f.admit(&rl, "t").is_ok());
        assert!(f.admit(&rl, "t").is_err());
    }
}
