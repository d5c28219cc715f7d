//! The client's one rate limiter: a governor GCRA limiter that every request passes,
//! wrapped in an AIMD controller that slows down when the server throttles and speeds back
//! up when it stops.
//!
//! * **Clock.** governor's default clock is quanta's, which tokio's paused time cannot
//!   move. The limiter runs on [`TokioClock`] instead (governor's `Clock` trait over
//!   `tokio::time::Instant`) and waits with `tokio::time::sleep`, never with governor's
//!   own `until_ready` (which sleeps on `futures-timer`). So pacing, back-off and
//!   `Retry-After` pauses all follow one clock, and `#[tokio::test(start_paused = true)]`
//!   tests run them instantly and deterministically.
//! * **AIMD.** governor quotas are fixed, so a rate change builds a new limiter and swaps
//!   it in under a mutex; waiters re-read the current limiter on every loop, so none is
//!   left pacing at a stale rate. A fresh limiter would hand out a full burst; it is
//!   drained on creation so a change never causes a spike. A 429 multiplies the rate by
//!   `decrease_factor` (at most once per `decrease_cooldown`, so one burst of in-flight
//!   429s counts as one signal), never below `floor`; every `increase_every` successes
//!   in a row add `increase_step`, up to the configured ceiling.
//! * **Pause.** A `Retry-After` on a 429 is about the token's budget, not about one
//!   request, so it pauses every request of the client until it expires.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// governor's clock over tokio's (pausable) time.
#[derive(Clone, Debug)]
pub struct TokioClock {
    origin: Instant,
}

impl TokioClock {
    /// A clock whose zero is now.
    pub fn new() -> TokioClock {
        TokioClock {
            origin: Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(Instant::now().saturating_duration_since(self.origin))
    }
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// How the rate adapts to throttling (the rate's ceiling and burst are set separately).
#[derive(Clone, Debug, PartialEq)]
pub struct AimdConfig {
    /// The rate never drops below this (requests per second).
    pub floor: f64,
    /// A 429 multiplies the rate by this.
    pub decrease_factor: f64,
    /// Two decreases are at least this far apart, so that one burst of in-flight 429s
    /// counts as one signal.
    pub decrease_cooldown: Duration,
    /// This many successes in a row raise the rate by `increase_step`.
    pub increase_every: u32,
    /// Requests per second added per increase.
    pub increase_step: f64,
}

impl Default for AimdConfig {
    /// ×0.7 per 429 down to 0.5 rps; +0.5 rps per 10 successes. From the 10 rps default
    /// ceiling, eight throttle signals reach the floor, and about 200 clean requests climb
    /// back: slow enough not to oscillate against a server window of a few seconds.
    fn default() -> Self {
        AimdConfig {
            floor: 0.5,
            decrease_factor: 0.7,
            decrease_cooldown: Duration::from_secs(1),
            increase_every: 10,
            increase_step: 0.5,
        }
    }
}

/// The limiter's settings after sanitising.
#[derive(Clone, Debug, PartialEq)]
struct RateConfig {
    rate_per_sec: f64,
    burst: u32,
    floor: f64,
    decrease_factor: f64,
    decrease_cooldown: Duration,
    increase_every: u32,
    increase_step: f64,
}

impl RateConfig {
    /// Sane bounds: a positive finite ceiling (else 10), a floor no higher than the
    /// ceiling, a factor in (0, 1), a burst of at least 1.
    fn new(rate_per_sec: f64, burst: u32, aimd: &AimdConfig) -> RateConfig {
        let ceiling = if rate_per_sec.is_finite() && rate_per_sec > 0.0 {
            rate_per_sec
        } else {
            10.0
        };
        let floor = if aimd.floor.is_finite() && aimd.floor > 0.0 {
            aimd.floor.min(ceiling)
        } else {
            ceiling.min(0.5)
        };
        let factor = if aimd.decrease_factor > 0.0 && aimd.decrease_factor < 1.0 {
            aimd.decrease_factor
        } else {
            0.7
        };
        RateConfig {
            rate_per_sec: ceiling,
            burst: burst.max(1),
            floor,
            decrease_factor: factor,
            decrease_cooldown: aimd.decrease_cooldown,
            increase_every: aimd.increase_every.max(1),
            increase_step: if aimd.increase_step.is_finite() && aimd.increase_step > 0.0 {
                aimd.increase_step
            } else {
                0.5
            },
        }
    }
}

struct State {
    rate: f64,
    gcra: Arc<Gcra>,
    successes: u32,
    last_decrease: Option<Instant>,
    paused_until: Option<Instant>,
    last_wait: Option<Instant>,
}

/// A shared, adaptive rate limiter (see the module documentation).
pub struct AdaptiveLimiter {
    config: RateConfig,
    clock: TokioClock,
    state: Mutex<State>,
}

impl std::fmt::Debug for AdaptiveLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveLimiter")
            .field("config", &self.config)
            .field("rate", &self.rate())
            .finish()
    }
}

impl AdaptiveLimiter {
    /// A limiter at `rate_per_sec` (the ceiling) with `burst` requests available at once.
    pub fn new(rate_per_sec: f64, burst: u32, aimd: &AimdConfig) -> AdaptiveLimiter {
        AdaptiveLimiter::starting_at(rate_per_sec, rate_per_sec, burst, aimd)
    }

    /// A limiter that starts at `start` (at most `ceiling`) and may be raised to `ceiling`.
    pub fn starting_at(start: f64, ceiling: f64, burst: u32, aimd: &AimdConfig) -> AdaptiveLimiter {
        let config = RateConfig::new(ceiling, burst, aimd);
        let start = if start.is_finite() && start > 0.0 {
            start.clamp(config.floor, config.rate_per_sec)
        } else {
            config.rate_per_sec
        };
        let clock = TokioClock::new();
        let gcra = Arc::new(build(&clock, start, config.burst, false));
        AdaptiveLimiter {
            state: Mutex::new(State {
                rate: start,
                last_wait: None,
                gcra,
                successes: 0,
                last_decrease: None,
                paused_until: None,
            }),
            config,
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain numbers behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current rate, in requests per second.
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    /// The configured ceiling.
    pub fn ceiling(&self) -> f64 {
        self.config.rate_per_sec
    }

    /// Waits until one request may go.
    pub async fn acquire(&self) {
        loop {
            let (gcra, paused_until) = {
                let s = self.lock();
                (Arc::clone(&s.gcra), s.paused_until)
            };
            if let Some(until) = paused_until
                && until > Instant::now()
            {
                tokio::time::sleep_until(until).await;
                continue;
            }
            match gcra.check() {
                Ok(()) => return,
                Err(not_until) => {
                    self.lock().last_wait = Some(Instant::now());
                    let wait = not_until.wait_time_from(self.clock.now());
                    // Never spin: a zero wait still yields to the timer once.
                    tokio::time::sleep(wait.max(Duration::from_micros(1))).await;
                }
            }
        }
    }

    /// Records a success; enough in a row raise the rate.
    pub fn on_success(&self) {
        let mut s = self.lock();
        if s.rate >= self.config.rate_per_sec {
            s.successes = 0;
            return;
        }
        s.successes += 1;
        if s.successes >= self.config.increase_every {
            s.successes = 0;
            let rate = (s.rate + self.config.increase_step).min(self.config.rate_per_sec);
            tracing::debug!(from = s.rate, to = rate, "rate raised");
            self.swap_rate(&mut s, rate);
        }
    }

    /// Records a 429. Lowers the rate (unless it was lowered within the cooldown) and, when
    /// the server said how long to wait, pauses every request for that long.
    pub fn on_throttle(&self, retry_after: Option<Duration>) {
        let now = Instant::now();
        let mut s = self.lock();
        s.successes = 0;
        if let Some(d) = retry_after {
            let until = now + d;
            if s.paused_until.is_none_or(|p| p < until) {
                s.paused_until = Some(until);
            }
        }
        let cooling = s
            .last_decrease
            .is_some_and(|t| now.saturating_duration_since(t) < self.config.decrease_cooldown);
        if cooling {
            return;
        }
        s.last_decrease = Some(now);
        let rate = (s.rate * self.config.decrease_factor).max(self.config.floor);
        if rate < s.rate {
            tracing::info!(from = s.rate, to = rate, "rate lowered after 429");
            self.swap_rate(&mut s, rate);
        }
    }

    /// Sets the rate (kept between the floor and the ceiling), for a controller that
    /// drives it from outside ([`super::pace`]).
    pub fn set_rate(&self, rate: f64) {
        if !rate.is_finite() {
            return;
        }
        let rate = rate.clamp(self.config.floor, self.config.rate_per_sec);
        let mut s = self.lock();
        if (rate - s.rate).abs() > f64::EPSILON {
            self.swap_rate(&mut s, rate);
        }
    }

    /// Pauses every request for `d` (a `Retry-After`); a shorter pause never shortens a
    /// longer one.
    pub fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut s = self.lock();
        if s.paused_until.is_none_or(|p| p < until) {
            s.paused_until = Some(until);
        }
    }

    /// Whether a request had to wait for the rate (not for a pause) at or after `since`:
    /// the rate is what holds requests back.
    pub fn waited_since(&self, since: Instant) -> bool {
        self.lock().last_wait.is_some_and(|t| t >= since)
    }

    fn swap_rate(&self, s: &mut State, rate: f64) {
        s.rate = rate;
        s.gcra = Arc::new(build(&self.clock, rate, self.config.burst, true));
    }
}

/// The longest wait between two requests the limiter imposes.
const MAX_PERIOD: Duration = Duration::from_secs(3600);

/// A GCRA limiter at `rate` per second with `burst`; `drained` starts it with no burst
/// credit.
fn build(clock: &TokioClock, rate: f64, burst: u32, drained: bool) -> Gcra {
    // A rate so small that its period overflows a Duration (1e-300/s) would panic here;
    // an hour between requests is as slow as any caller can mean.
    let period = Duration::try_from_secs_f64(1.0 / rate)
        .unwrap_or(MAX_PERIOD)
        .clamp(Duration::from_nanos(1), MAX_PERIOD);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    let gcra = RateLimiter::direct_with_clock(quota, clock.clone());
    if drained {
        // Uses up the fresh limiter's burst; cannot fail since n == burst.
        let _ = gcra.check_n(burst);
    }
    gcra
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: f64, burst: u32) -> AdaptiveLimiter {
        AdaptiveLimiter::new(rate, burst, &AimdConfig::default())
    }

    /// Sends `n` acquisitions and returns when each went, relative to the start.
    async fn times(l: &AdaptiveLimiter, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut out = Vec::new();
        for _ in 0..n {
            l.acquire().await;
            out.push(Instant::now() - start);
        }
        out
    }

    /// A rate whose period does not fit a Duration (`--rate 1e-300` once reached here)
    /// waits the longest period instead of panicking.
    #[tokio::test(start_paused = true)]
    async fn a_vanishing_rate_waits_at_most_the_longest_period() {
        let l = limiter(1e-300, 1);
        let t = times(&l, 2).await;
        assert_eq!(t, vec![Duration::ZERO, MAX_PERIOD]);
    }

    #[tokio::test(start_paused = true)]
    async fn paces_at_the_rate_after_the_burst() {
        let l = limiter(4.0, 2);
        let t = times(&l, 6).await;
        let ms: Vec<u128> = t.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![0, 0, 250, 500, 750, 1000]);
    }

    #[tokio::test(start_paused = true)]
    async fn throttles_lower_the_rate_multiplicatively_to_the_floor() {
        let l = limiter(10.0, 1);
        l.on_throttle(None);
        assert!((l.rate() - 7.0).abs() < 1e-9);
        // Within the cooldown: one signal.
        l.on_throttle(None);
        assert!((l.rate() - 7.0).abs() < 1e-9);
        tokio::time::advance(Duration::from_secs(2)).await;
        l.on_throttle(None);
        assert!((l.rate() - 4.9).abs() < 1e-9);
        for _ in 0..20 {
            tokio::time::advance(Duration::from_secs(2)).await;
            l.on_throttle(None);
        }
        assert!((l.rate() - 0.5).abs() < 1e-9);
        // At 0.5 rps requests go 2 s apart.
        let t = times(&l, 3).await;
        assert_eq!(t[1] - t[0], Duration::from_secs(2));
        assert_eq!(t[2] - t[1], Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_change_does_not_release_a_burst() {
        let l = limiter(10.0, 5);
        l.on_throttle(None);
        // The new limiter (7 rps) starts drained: about 1/7 s to the first request
        // (tokio's timer rounds up to whole milliseconds).
        let t = times(&l, 2).await;
        let near = |d: Duration| d.as_millis().abs_diff(143) <= 1;
        assert!(near(t[0]), "{t:?}");
        assert!(near(t[1] - t[0]), "{t:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn successes_raise_the_rate_back_to_the_ceiling() {
        let l = limiter(2.0, 1);
        l.on_throttle(None);
        assert!((l.rate() - 1.4).abs() < 1e-9);
        for _ in 0..9 {
            l.on_success();
        }
        assert!((l.rate() - 1.4).abs() < 1e-9);
        l.on_success();
        assert!((l.rate() - 1.9).abs() < 1e-9);
        for _ in 0..100 {
            l.on_success();
        }
        assert!((l.rate() - 2.0).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_everyone() {
        let l = limiter(100.0, 10);
        l.on_throttle(Some(Duration::from_secs(3)));
        let t = times(&l, 1).await;
        assert_eq!(t[0], Duration::from_secs(3));
        // A shorter Retry-After later does not shorten the pause.
        let l = limiter(100.0, 10);
        l.on_throttle(Some(Duration::from_secs(3)));
        l.on_throttle(Some(Duration::from_secs(1)));
        assert_eq!(times(&l, 1).await[0], Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_share_one_budget() {
        let l = Arc::new(limiter(5.0, 1));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let l = Arc::clone(&l);
            tasks.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now()
            }));
        }
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap() - start);
        }
        done.sort();
        // 10 requests at 5 rps with a burst of 1: the last goes at 1.8 s.
        assert_eq!(done.last().copied(), Some(Duration::from_millis(1800)));
    }

    #[test]
    fn nonsense_settings_are_sanitised() {
        let c = RateConfig::new(
            f64::NAN,
            0,
            &AimdConfig {
                floor: 100.0,
                decrease_factor: 3.0,
                ..AimdConfig::default()
            },
        );
        assert_eq!(c.rate_per_sec, 10.0);
        assert_eq!(c.burst, 1);
        assert_eq!(c.floor, 10.0);
        assert_eq!(c.decrease_factor, 0.7);
    }
}
