//! The pace controller: how many requests the client keeps in flight and how many it
//! sends a second, found from the server's answers, for the whole run (planner reads and
//! executor writes share it, since both go through the one [`Client`](super::Client)).
//!
//! DataRobot publishes no limits and a tenant may be 20 ms or 300 ms away, so the
//! defaults cannot be numbers. The controller works the way TCP finds a link's pace:
//!
//! * **Slow start.** It starts gently ([`AutoPace::start_concurrency`] in flight,
//!   [`AutoPace::start_rate`] a second) and, while the server keeps up, grows both once per
//!   answer: +1 in flight per answer when the in-flight limit is what holds requests back
//!   (doubling per round trip, as TCP's window does), and, when the rate is what holds
//!   them back, doubles the rate, never past 4 × what was answered in the last 100 ms
//!   (BBR's startup gain is 2.89). It stops at the first sign of pressure.
//! * **Delay as the signal** (TCP Vegas, BBR, the gradient limiters of Netflix's
//!   concurrency-limits). Every window (about two round trips, at least 100 ms) compares
//!   the window's median round trip with the lowest ever seen. `in flight × (1 − base ÷
//!   rtt)` estimates the requests waiting in the server's queue: above 2 (and the rtt
//!   more than 1.5 × base), more in flight only adds waiting, so the limit shrinks by the
//!   ratio (×0.5 to ×0.9). Below 1.2 × base, with the limit binding, it grows by one per
//!   window: the slow probe upward. A server that simply became slower (the ratio stays
//!   high while at most 2 are in flight, so it cannot be our queue) resets the base and
//!   slow start begins again.
//! * **AIMD on throttling.** A 429 in slow start, or again within 3 s of the last,
//!   pauses every request for its `Retry-After` (the throttled request always waits it
//!   out), and any 429 sets the rate to 0.9 × the rate the server accepted, the mark (at most once a second, so
//!   one burst of 429s is one signal). The rate then follows TCP CUBIC's curve: back to
//!   the mark in 5 s, flat near it, and only then probing beyond it, slowly at first:
//!   each probe that finds the limit costs a `Retry-After` pause, so they are rare. A surge of 502/503/504 (3 or more, and a tenth of a window's answers) cuts
//!   both the rate and the limit by 0.7.
//! * **Ceilings.** Neither ever passes [`AutoPace::max_rate`] and
//!   [`AutoPace::max_concurrency`] (`--rate N`/`--max-rate`, `--concurrency N`/
//!   `--max-concurrency`).
//!
//! Everything runs on tokio's clock, so the tests drive it on paused time. No crate was
//! taken for this: the maintained Rust ports of concurrency-limits limit concurrency only,
//! and the rate (governor, [`super::limiter`]) must move with it.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::limiter::AdaptiveLimiter;

/// The auto pace's starting point and ceilings.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoPace {
    /// Requests per second at the start. Default 10.
    pub start_rate: f64,
    /// The rate never passes this. Default 10,000 (in effect none).
    pub max_rate: f64,
    /// Requests in flight at the start. Default 4.
    pub start_concurrency: usize,
    /// Requests in flight never pass this. Default 64.
    pub max_concurrency: usize,
}

impl Default for AutoPace {
    fn default() -> Self {
        AutoPace {
            start_rate: 10.0,
            max_rate: MAX_RATE,
            start_concurrency: 4,
            max_concurrency: 64,
        }
    }
}

/// The highest rate the limiter is ever given (also `--rate`'s upper bound).
pub const MAX_RATE: f64 = 10_000.0;

/// A window lasts at least this long.
const MIN_WINDOW: Duration = Duration::from_millis(100);
/// Two decreases after a 429 are at least this far apart.
const THROTTLE_COOLDOWN: Duration = Duration::from_secs(1);
/// After a 429 the rate takes this long (seconds) to climb back to the mark, CUBIC's K.
const CUBIC_K: f64 = 5.0;
/// The rate after a 429, as a share of the mark (CUBIC's β).
const CUBIC_BETA: f64 = 0.9;
/// The rate grows only while it is at most this many times what was answered lately
/// (BBR's startup gain is 2.89): a rate far above the answers is not what holds them back.
const STARTUP_GAIN: f64 = 4.0;
/// "Lately", for that comparison: short, so that slow start is not held back by a
/// long average.
const RECENT: Duration = Duration::from_millis(100);
/// The width of the buckets answers are counted in.
const BUCKET: Duration = Duration::from_millis(20);
/// A round trip must exceed the base by at least this much to count as queueing.
const MIN_QUEUE_DELAY: Duration = Duration::from_millis(5);
/// Queue estimate (requests) above which latency counts as pressure.
const QUEUE_HIGH: f64 = 2.0;
/// Round-trip ratio above which latency may count as pressure.
const RATIO_HIGH: f64 = 1.5;
/// Round-trip ratio under which the limit may grow.
const RATIO_LOW: f64 = 1.2;

/// What one answer says about the server's pace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Signal {
    /// An answer (2xx, or a 4xx/500 that is about the request, not the load).
    Answer,
    /// 429, with its `Retry-After` if any.
    Throttled(Option<Duration>),
    /// 502, 503 or 504: a gateway in trouble.
    Gateway,
    /// No answer (timeout, dropped connection): not a round trip.
    Lost,
}

/// The pace found, for the run's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PaceReport {
    /// Median and peak of the requests answered per second (one sample a second).
    pub median_rate: f64,
    pub peak_rate: f64,
    /// Median (of the per-second averages) and peak of the requests in flight.
    pub median_in_flight: f64,
    pub peak_in_flight: u64,
    /// Round trips of the answers.
    pub p50: Duration,
    pub p95: Duration,
}

/// The controller (see the module documentation). The rate itself is the limiter's; the
/// controller moves it.
pub struct Pace {
    config: AutoPace,
    state: Mutex<State>,
    notify: Notify,
}

impl std::fmt::Debug for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Pace")
            .field("config", &self.config)
            .field("limit", &s.limit)
            .field("in_flight", &s.in_flight)
            .finish()
    }
}

struct State {
    limit: f64,
    /// Places taken: requests sent, and requests waiting for the rate's token.
    taken: usize,
    /// Requests sent and not yet answered.
    in_flight: usize,
    slow_start: bool,
    window: Window,
    /// The lowest round trip seen (since the last reset).
    base: Option<Duration>,
    /// Windows in a row whose ratio was high with too little in flight to be our queue.
    slow_server_windows: u32,
    /// The rate the server accepted when it last throttled.
    mark: Option<f64>,
    last_throttle: Option<Instant>,
    /// When the last `Retry-After` pause ended (or ends).
    resumed_at: Option<Instant>,
    /// Answers per [`BUCKET`], the last second.
    delivered: VecDeque<(Instant, u32)>,
    first_answer: Option<Instant>,
    stats: Stats,
}

struct Window {
    start: Instant,
    rtts: Vec<Duration>,
    answers: u32,
    gateway: u32,
    in_flight_sum: u64,
    limit_bound: bool,
}

impl Window {
    fn new(start: Instant) -> Window {
        Window {
            start,
            rtts: Vec::new(),
            answers: 0,
            gateway: 0,
            in_flight_sum: 0,
            limit_bound: false,
        }
    }
}

#[derive(Default)]
struct Stats {
    second_start: Option<Instant>,
    second_answers: u32,
    second_in_flight_sum: u64,
    second_samples: u64,
    rates: Vec<f64>,
    in_flights: Vec<f64>,
    peak_in_flight: usize,
    histogram: Histogram,
}

/// Round trips in buckets 5 % wide from 0.1 ms: enough for p50/p95 at any run length.
struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

const BUCKET_GROWTH: f64 = 1.05;
const BUCKET_BASE_MS: f64 = 0.1;
const BUCKETS: usize = 400;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl Histogram {
    fn add(&mut self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        let i = if ms <= BUCKET_BASE_MS {
            0
        } else {
            ((ms / BUCKET_BASE_MS).ln() / BUCKET_GROWTH.ln()).ceil() as usize
        };
        self.counts[i.min(BUCKETS - 1)] += 1;
        self.total += 1;
    }

    /// The upper bound of the bucket holding quantile `q`.
    fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let want = ((self.total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= want {
                let ms = BUCKET_BASE_MS * BUCKET_GROWTH.powi(i as i32);
                return Duration::from_secs_f64(ms / 1000.0);
            }
        }
        Duration::ZERO
    }
}

/// One request's place in flight; dropping it frees the place.
#[must_use = "the place is freed when the permit is dropped"]
pub struct Permit<'a> {
    pace: &'a Pace,
    /// Requests in flight when this one was sent (itself included); 0 until then.
    in_flight: usize,
    /// The limit when it was sent.
    limit: usize,
}

impl Permit<'_> {
    /// The request goes on the wire now (its rate token is in hand).
    pub fn sent(&mut self) {
        if self.in_flight > 0 {
            return;
        }
        let mut s = self.pace.lock();
        s.in_flight += 1;
        self.in_flight = s.in_flight;
        self.limit = s.limit.floor() as usize;
        // The limit is what holds requests back when the wire is (nearly) full of them.
        if self.in_flight + 1 >= self.limit {
            s.window.limit_bound = true;
        }
        s.stats.peak_in_flight = s.stats.peak_in_flight.max(self.in_flight);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.pace.lock();
        s.taken = s.taken.saturating_sub(1);
        if self.in_flight > 0 {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        drop(s);
        self.pace.notify.notify_one();
    }
}

impl Pace {
    /// A controller that starts at `config`'s starting point; `limiter` should start at
    /// [`AutoPace::start_rate`] under a ceiling of [`AutoPace::max_rate`].
    pub fn new(config: AutoPace) -> Pace {
        let config = AutoPace {
            max_concurrency: config.max_concurrency.max(1),
            start_concurrency: config
                .start_concurrency
                .clamp(1, config.max_concurrency.max(1)),
            ..config
        };
        let now = Instant::now();
        Pace {
            state: Mutex::new(State {
                limit: config.start_concurrency as f64,
                taken: 0,
                in_flight: 0,
                slow_start: true,
                window: Window::new(now),
                base: None,
                slow_server_windows: 0,
                mark: None,
                last_throttle: None,
                resumed_at: None,
                delivered: VecDeque::new(),
                first_answer: None,
                stats: Stats::default(),
            }),
            config,
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain numbers: a panic elsewhere leaves nothing half-done that matters.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current in-flight limit.
    pub fn limit(&self) -> usize {
        self.lock().limit.floor().max(1.0) as usize
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// Requests answered per second, over the last second.
    pub fn delivered_rate(&self) -> f64 {
        let now = Instant::now();
        let mut s = self.lock();
        delivered_rate(&mut s, now)
    }

    /// Waits for a place in flight.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                let limit = s.limit.floor().max(1.0) as usize;
                if s.taken < limit {
                    s.taken += 1;
                    return Permit {
                        pace: self,
                        in_flight: 0,
                        limit,
                    };
                }
            }
            notified.await;
        }
    }

    /// Takes one answer (or its absence) into account; `rtt` is the time from sending to
    /// the last byte. Moves the limit and `limiter`'s rate.
    pub fn on_reply(
        &self,
        limiter: &AdaptiveLimiter,
        permit: &Permit<'_>,
        rtt: Duration,
        signal: Signal,
    ) {
        let now = Instant::now();
        let mut s = self.lock();
        match signal {
            Signal::Answer => {
                count_answer(&mut s, now, permit.in_flight, rtt);
                if s.slow_start {
                    // One more in flight per answer while the limit binds: doubling per
                    // round trip. The rate by the same proportion while it binds.
                    // Against the limit it was sent under: the limit has grown since. While
                    // the rate holds requests back it grows too, so that it is not the
                    // next thing to hold them back once the rate has grown.
                    let rate_bound = limiter.waited_since(s.window.start);
                    if permit.in_flight + 1 >= permit.limit || rate_bound {
                        s.limit = (s.limit + 1.0).min(self.config.max_concurrency as f64);
                    }
                    let lately = STARTUP_GAIN * recent_rate(&mut s, now);
                    if limiter.waited_since(s.window.start) && limiter.rate() < lately {
                        // While the rate binds and the answers keep up with it, double
                        // it, but never past STARTUP_GAIN × what was answered in the
                        // last 100 ms: at most ×4 per 100 ms, whatever the round trip.
                        let rate = limiter.rate();
                        limiter.set_rate((2.0 * rate).min(lately).min(self.config.max_rate));
                    }
                }
            }
            Signal::Gateway => {
                s.window.gateway += 1;
                s.window.answers += 1;
            }
            Signal::Throttled(retry_after) => {
                self.on_throttle(&mut s, limiter, now, retry_after);
            }
            Signal::Lost => {}
        }
        self.maybe_close_window(&mut s, limiter, now);
        let waiting = s.taken < s.limit.floor() as usize;
        drop(s);
        if waiting {
            self.notify.notify_waiters();
        }
    }

    fn on_throttle(
        &self,
        s: &mut State,
        limiter: &AdaptiveLimiter,
        now: Instant,
        retry_after: Option<Duration>,
    ) {
        let recent = s
            .last_throttle
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(3));
        // The throttled request itself always waits its Retry-After (the retry policy).
        // Everyone waits when the server insists: in slow start (an overshoot) or when
        // the last cut was not enough. A lone 429 after a calm spell is the probe finding
        // the limit, and the cut answers it.
        if let Some(d) = retry_after
            && (s.slow_start || recent)
        {
            limiter.pause(d);
        }
        let cooling = s
            .last_throttle
            .is_some_and(|t| now.saturating_duration_since(t) < THROTTLE_COOLDOWN);
        if cooling {
            return;
        }
        let rate = limiter.rate();
        // What the server accepts. Out of slow start, the rate sent, or what got through
        // if fewer did. Slow start doubles per round trip and hears of the limit late, and
        // a 429 again within 3 s means the last cut was not enough: then the mark is
        // taken lower.
        let recent = s
            .last_throttle
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(3));
        let mark = if s.slow_start {
            // What got through lately is closer than a rate that doubled meanwhile.
            // (Unless it is implausibly low: right after a pause few answers came.)
            let lately = recent_rate(s, now);
            if lately >= 0.1 * rate {
                (0.75 * rate).min(lately)
            } else {
                0.75 * rate
            }
        } else if recent {
            0.85 * rate
        } else {
            let delivered = delivered_since(s, now, s.resumed_at);
            delivered.map_or(rate, |d| rate.min(d))
        };
        s.last_throttle = Some(now);
        s.resumed_at = Some(now + retry_after.unwrap_or_default());
        s.mark = Some(mark);
        let to = (CUBIC_BETA * mark).min(self.config.max_rate);
        limiter.set_rate(to);
        s.slow_start = false;
        tracing::info!(
            reason = "429",
            from = round(rate),
            to = round(limiter.rate()),
            retry_after_ms = retry_after.map(|d| d.as_millis() as u64),
            "pace: rate lowered"
        );
    }

    fn maybe_close_window(&self, s: &mut State, limiter: &AdaptiveLimiter, now: Instant) {
        let length = now.saturating_duration_since(s.window.start);
        let due = s.base.map_or(MIN_WINDOW, |b| (b * 2).max(MIN_WINDOW));
        if length < due || s.window.answers == 0 {
            return;
        }
        let window = std::mem::replace(&mut s.window, Window::new(now));
        let dt = length.as_secs_f64();
        let mut rtts = window.rtts;
        let limit_before = s.limit;
        let rate_before = limiter.rate();

        // 502/503/504 surge: cut both.
        if window.gateway >= 3 && f64::from(window.gateway) >= 0.1 * f64::from(window.answers) {
            s.slow_start = false;
            s.limit = (s.limit * 0.7).max(1.0);
            let delivered = delivered_rate(s, now);
            let basis = if delivered > 0.0 {
                rate_before.min(delivered)
            } else {
                rate_before
            };
            limiter.set_rate(0.7 * basis);
            tracing::info!(
                reason = "5xx",
                gateway_errors = window.gateway,
                answers = window.answers,
                limit_from = round(limit_before),
                limit_to = round(s.limit),
                rate_from = round(rate_before),
                rate_to = round(limiter.rate()),
                "pace: backed off"
            );
            return;
        }
        if rtts.is_empty() {
            return;
        }
        rtts.sort_unstable();
        let short = rtts[rtts.len() / 2];
        let window_min = rtts[0];
        let base = match s.base {
            Some(b) if b <= window_min => b,
            _ => {
                s.base = Some(window_min);
                window_min
            }
        };
        // Round trips within a few milliseconds of the base are noise (a loopback, a
        // busy client), not a queue: they count as the base.
        let short = if short.saturating_sub(base) < MIN_QUEUE_DELAY {
            base
        } else {
            short
        };
        let ratio = short.as_secs_f64() / base.as_secs_f64().max(1e-6);
        let in_flight = window.in_flight_sum as f64 / rtts.len() as f64;
        let queue = in_flight * (1.0 - 1.0 / ratio.max(1.0));

        if ratio > RATIO_HIGH && queue > QUEUE_HIGH {
            s.slow_server_windows = 0;
            s.slow_start = false;
            let factor = (1.25 / ratio).clamp(0.5, 0.9);
            s.limit = (s.limit.min(in_flight.ceil().max(1.0)) * factor).max(1.0);
            tracing::info!(
                reason = "latency",
                rtt_ms = ms(short),
                base_ms = ms(base),
                queue = round(queue),
                from = round(limit_before),
                to = round(s.limit),
                "pace: in-flight limit lowered"
            );
            return;
        }
        if ratio > RATIO_HIGH {
            // Slow answers with too little in flight to be our own queue: the server got
            // slower. After three such windows its new speed is the base.
            s.slow_server_windows += 1;
            if s.slow_server_windows >= 3 {
                s.slow_server_windows = 0;
                s.base = Some(window_min);
                s.slow_start = true;
                tracing::info!(
                    reason = "slower server",
                    rtt_ms = ms(short),
                    old_base_ms = ms(base),
                    "pace: new base round trip; growing again"
                );
            }
            return;
        }
        s.slow_server_windows = 0;
        if s.slow_start {
            // Growth happened per answer; one line a window is enough.
            tracing::debug!(
                reason = "slow start",
                limit = round(s.limit),
                rate = round(limiter.rate()),
                rtt_ms = ms(short),
                "pace"
            );
            return;
        }
        if ratio >= RATIO_LOW {
            return;
        }
        // No pressure: probe upward, slowly.
        let mut changed = false;
        if window.limit_bound && s.limit < self.config.max_concurrency as f64 {
            s.limit = (s.limit + 1.0).min(self.config.max_concurrency as f64);
            changed = true;
        }
        if limiter.waited_since(window.start)
            && limiter.rate() <= STARTUP_GAIN * recent_rate(s, now)
        {
            let rate = limiter.rate();
            let to = match (s.mark, s.last_throttle) {
                (Some(mark), Some(at)) => {
                    // CUBIC: back to the mark in K seconds, flat near it, then convex.
                    let t = now.saturating_duration_since(at).as_secs_f64() - CUBIC_K;
                    let a = (1.0 - CUBIC_BETA) / CUBIC_K.powi(3);
                    let target = mark * (1.0 + a * t.powi(3));
                    target.min(rate * (1.0 + dt))
                }
                _ => rate * (1.0 + 0.2 * dt),
            };
            if to > rate {
                limiter.set_rate(to.min(self.config.max_rate));
                changed = true;
            }
        }
        if changed && s.limit > limit_before {
            tracing::info!(
                reason = "probe",
                limit_from = round(limit_before),
                limit_to = round(s.limit),
                rate_from = round(rate_before),
                rate_to = round(limiter.rate()),
                rtt_ms = ms(short),
                "pace: raised"
            );
        } else if changed {
            // The rate creeps up every window; one line each is for -vv.
            tracing::debug!(
                reason = "probe",
                rate_from = round(rate_before),
                rate_to = round(limiter.rate()),
                "pace: rate raised"
            );
        }
    }

    /// The pace found so far.
    pub fn report(&self) -> PaceReport {
        let s = self.lock();
        let mut rates = s.stats.rates.clone();
        let mut in_flights = s.stats.in_flights.clone();
        // A run shorter than a second still has its partial second.
        if rates.is_empty()
            && let Some(start) = s.stats.second_start
        {
            let secs = Instant::now()
                .saturating_duration_since(start)
                .as_secs_f64()
                .max(1e-3);
            rates.push(f64::from(s.stats.second_answers) / secs);
            if s.stats.second_samples > 0 {
                in_flights
                    .push(s.stats.second_in_flight_sum as f64 / s.stats.second_samples as f64);
            }
        }
        PaceReport {
            median_rate: median(&mut rates),
            peak_rate: rates.iter().copied().fold(0.0, f64::max),
            median_in_flight: median(&mut in_flights),
            peak_in_flight: s.stats.peak_in_flight as u64,
            p50: s.stats.histogram.quantile(0.5),
            p95: s.stats.histogram.quantile(0.95),
        }
    }
}

fn count_answer(s: &mut State, now: Instant, in_flight: usize, rtt: Duration) {
    s.window.answers += 1;
    s.window.rtts.push(rtt);
    s.window.in_flight_sum += in_flight as u64;
    s.first_answer.get_or_insert(now);
    match s.delivered.back_mut() {
        Some((at, n)) if now.saturating_duration_since(*at) < BUCKET => *n += 1,
        _ => s.delivered.push_back((now, 1)),
    }
    let st = &mut s.stats;
    st.histogram.add(rtt);
    let start = *st.second_start.get_or_insert(now);
    let elapsed = now.saturating_duration_since(start);
    if elapsed >= Duration::from_secs(1) {
        st.rates
            .push(f64::from(st.second_answers) / elapsed.as_secs_f64());
        if st.second_samples > 0 {
            st.in_flights
                .push(st.second_in_flight_sum as f64 / st.second_samples as f64);
        }
        st.second_start = Some(now);
        st.second_answers = 0;
        st.second_in_flight_sum = 0;
        st.second_samples = 0;
    }
    st.second_answers += 1;
    st.second_in_flight_sum += in_flight as u64;
    st.second_samples += 1;
}

/// Answers per second since `since` (at most the last second), when that is at least
/// half a second: what the server let through.
fn delivered_since(s: &mut State, now: Instant, since: Option<Instant>) -> Option<f64> {
    let from = match (since, s.first_answer) {
        (Some(a), Some(b)) => a.max(b),
        (a, b) => a.or(b)?,
    };
    let span = now.saturating_duration_since(from);
    if span < Duration::from_millis(500) {
        return None;
    }
    let _ = delivered_rate(s, now);
    let n: u32 = s
        .delivered
        .iter()
        .filter(|(at, _)| *at >= from)
        .map(|(_, n)| n)
        .sum();
    Some(f64::from(n) / span.min(Duration::from_secs(1)).as_secs_f64())
}

/// Answers per second over the last [`RECENT`] (or since the first answer, if sooner;
/// at least two buckets).
fn recent_rate(s: &mut State, now: Instant) -> f64 {
    let _ = delivered_rate(s, now);
    let from = now.checked_sub(RECENT).unwrap_or(now);
    let from = s.first_answer.map_or(from, |f| f.max(from));
    let n: u32 = s
        .delivered
        .iter()
        .filter(|(at, _)| *at + BUCKET > from)
        .map(|(_, n)| n)
        .sum();
    let span = now.saturating_duration_since(from).max(BUCKET * 2);
    f64::from(n) / span.as_secs_f64()
}

/// Answers per second over the last second (or since the first answer, if sooner).
fn delivered_rate(s: &mut State, now: Instant) -> f64 {
    while s
        .delivered
        .front()
        .is_some_and(|(at, _)| now.saturating_duration_since(*at) > Duration::from_secs(1))
    {
        s.delivered.pop_front();
    }
    let n: u32 = s.delivered.iter().map(|(_, n)| n).sum();
    let span = s
        .first_answer
        .map_or(Duration::from_secs(1), |f| {
            now.saturating_duration_since(f).min(Duration::from_secs(1))
        })
        .max(Duration::from_millis(100));
    f64::from(n) / span.as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f64::total_cmp);
    v[v.len() / 2]
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use super::*;
    use crate::api::AimdConfig;

    /// A simulated server: `capacity` requests in service at once (the rest queue),
    /// `service` each, and a token bucket of `limit` per second (burst 10) answering 429
    /// with a `Retry-After` of 1 s.
    #[derive(Clone)]
    struct Server {
        capacity: Option<Arc<tokio::sync::Semaphore>>,
        service: Arc<Mutex<Duration>>,
        bucket: Option<Arc<Mutex<(f64, Instant)>>>,
        limit: f64,
    }

    impl Server {
        fn new(service_ms: u64) -> Server {
            Server {
                capacity: None,
                service: Arc::new(Mutex::new(Duration::from_millis(service_ms))),
                bucket: None,
                limit: 0.0,
            }
        }
        fn with_capacity(mut self, k: usize) -> Server {
            self.capacity = Some(Arc::new(tokio::sync::Semaphore::new(k)));
            self
        }
        fn with_limit(mut self, per_sec: f64) -> Server {
            self.bucket = Some(Arc::new(Mutex::new((10.0, Instant::now()))));
            self.limit = per_sec;
            self
        }
        async fn serve(&self) -> Signal {
            if let Some(bucket) = &self.bucket {
                let mut b = bucket.lock().unwrap();
                let now = Instant::now();
                b.0 = (b.0 + (now - b.1).as_secs_f64() * self.limit).min(10.0);
                b.1 = now;
                if b.0 < 1.0 {
                    return Signal::Throttled(Some(Duration::from_secs(1)));
                }
                b.0 -= 1.0;
            }
            let _slot = match &self.capacity {
                Some(sem) => Some(sem.acquire().await.unwrap()),
                None => None,
            };
            let service = *self.service.lock().unwrap();
            tokio::time::sleep(service).await;
            Signal::Answer
        }
    }

    /// What a run saw.
    #[derive(Default)]
    struct Seen {
        answers: AtomicU64,
        throttled: AtomicU64,
        over_ceiling: AtomicBool,
    }

    fn controller(auto: AutoPace) -> (Arc<Pace>, Arc<AdaptiveLimiter>) {
        let limiter =
            AdaptiveLimiter::starting_at(auto.start_rate, auto.max_rate, 5, &AimdConfig::default());
        (Arc::new(Pace::new(auto)), Arc::new(limiter))
    }

    /// `workers` callers sending through the controller for `for_how_long`.
    async fn drive(
        pace: &Arc<Pace>,
        limiter: &Arc<AdaptiveLimiter>,
        server: &Server,
        workers: usize,
        for_how_long: Duration,
        ceiling: (usize, f64),
    ) -> Arc<Seen> {
        let seen = Arc::new(Seen::default());
        let end = Instant::now() + for_how_long;
        let mut tasks = Vec::new();
        for _ in 0..workers {
            let (pace, limiter, server, seen) = (
                Arc::clone(pace),
                Arc::clone(limiter),
                server.clone(),
                Arc::clone(&seen),
            );
            tasks.push(tokio::spawn(async move {
                while Instant::now() < end {
                    let mut permit = pace.acquire().await;
                    limiter.acquire().await;
                    permit.sent();
                    if pace.in_flight() > ceiling.0 || limiter.rate() > ceiling.1 + 1e-9 {
                        seen.over_ceiling.store(true, Ordering::Relaxed);
                    }
                    let sent = Instant::now();
                    let signal = server.serve().await;
                    match signal {
                        Signal::Throttled(_) => seen.throttled.fetch_add(1, Ordering::Relaxed),
                        _ => seen.answers.fetch_add(1, Ordering::Relaxed),
                    };
                    pace.on_reply(&limiter, &permit, sent.elapsed(), signal);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        seen
    }

    #[tokio::test(start_paused = true)]
    async fn grows_quickly_while_the_server_keeps_up() {
        let (pace, limiter) = controller(AutoPace::default());
        assert_eq!(pace.limit(), 4);
        assert_eq!(limiter.rate(), 10.0);
        let server = Server::new(20);
        let seen = drive(
            &pace,
            &limiter,
            &server,
            64,
            Duration::from_secs(2),
            (64, MAX_RATE),
        )
        .await;
        // From 4 in flight and 10/s to the ceiling of 64 in flight (3,200/s at 20 ms)
        // well within two seconds.
        assert_eq!(pace.limit(), 64);
        assert!(limiter.rate() > 1000.0, "rate {}", limiter.rate());
        assert!(seen.answers.load(Ordering::Relaxed) > 4000);
        let report = pace.report();
        assert_eq!(report.peak_in_flight, 64);
        assert!(report.p50 >= Duration::from_millis(19) && report.p50 <= Duration::from_millis(22));
    }

    #[tokio::test(start_paused = true)]
    async fn never_passes_an_explicit_ceiling() {
        let auto = AutoPace {
            max_rate: 50.0,
            max_concurrency: 6,
            ..AutoPace::default()
        };
        let (pace, limiter) = controller(auto);
        let server = Server::new(5);
        let seen = drive(
            &pace,
            &limiter,
            &server,
            32,
            Duration::from_secs(20),
            (6, 50.0),
        )
        .await;
        assert!(!seen.over_ceiling.load(Ordering::Relaxed));
        assert_eq!(limiter.rate(), 50.0, "the rate reaches its ceiling");
        // 50/s for 20 s, less the slow start.
        let answers = seen.answers.load(Ordering::Relaxed);
        assert!((900..=1050).contains(&answers), "{answers}");
        assert!(pace.report().peak_in_flight <= 6);
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_on_429_and_honours_retry_after() {
        let (pace, limiter) = controller(AutoPace::default());
        let server = Server::new(20);
        drive(
            &pace,
            &limiter,
            &server,
            16,
            Duration::from_secs(1),
            (64, MAX_RATE),
        )
        .await;
        let before = limiter.rate();
        assert!(before > 100.0, "{before}");
        for _ in 0..5 {
            let mut permit = pace.acquire().await;
            permit.sent();
            pace.on_reply(
                &limiter,
                &permit,
                Duration::from_millis(1),
                Signal::Throttled(Some(Duration::from_secs(3))),
            );
        }
        // One burst of 429s is one signal: one cut.
        let after = limiter.rate();
        assert!(after <= 0.9 * before + 1e-9, "{before} -> {after}");
        assert!(after >= 100.0, "{before} -> {after}");
        // Nobody goes before the Retry-After.
        let t = Instant::now();
        limiter.acquire().await;
        assert!(t.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn settles_near_a_rate_limit_with_few_429s() {
        let (pace, limiter) = controller(AutoPace::default());
        let server = Server::new(1).with_limit(100.0);
        let seen = drive(
            &pace,
            &limiter,
            &server,
            64,
            Duration::from_secs(60),
            (64, MAX_RATE),
        )
        .await;
        let answers = seen.answers.load(Ordering::Relaxed) as f64;
        let throttled = seen.throttled.load(Ordering::Relaxed) as f64;
        assert!(answers / 60.0 >= 0.9 * 100.0, "{} /s", answers / 60.0);
        assert!(
            throttled / (answers + throttled) <= 0.03,
            "{throttled} 429s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_when_latency_climbs_and_does_not_fill_the_queue() {
        // Capacity 8, 50 ms each: 160/s at most; more in flight only waits.
        let (pace, limiter) = controller(AutoPace::default());
        let server = Server::new(50).with_capacity(8);
        let seen = drive(
            &pace,
            &limiter,
            &server,
            64,
            Duration::from_secs(30),
            (64, MAX_RATE),
        )
        .await;
        let per_sec = seen.answers.load(Ordering::Relaxed) as f64 / 30.0;
        assert!(per_sec >= 0.85 * 160.0, "{per_sec}/s");
        let report = pace.report();
        // At most 8 waiting on average besides the 8 in service.
        assert!(report.median_in_flight <= 16.0, "{report:?}");
        assert!(pace.limit() < 20, "limit {}", pace.limit());
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_slows_down_gets_a_new_base_and_the_pace_recovers() {
        let (pace, limiter) = controller(AutoPace::default());
        let server = Server::new(20);
        drive(
            &pace,
            &limiter,
            &server,
            64,
            Duration::from_secs(3),
            (64, MAX_RATE),
        )
        .await;
        assert_eq!(pace.limit(), 64);
        *server.service.lock().unwrap() = Duration::from_millis(400);
        let seen = drive(
            &pace,
            &limiter,
            &server,
            64,
            Duration::from_secs(30),
            (64, MAX_RATE),
        )
        .await;
        // Not stuck at the floor: the new speed became the base and the limit grew back.
        assert!(pace.limit() >= 32, "limit {}", pace.limit());
        assert!(seen.answers.load(Ordering::Relaxed) > 1500);
    }
}
