//! A client-side pacing of the rate-limited cloud actions that adapts to `Throttling`
//! answers (many agents share one account's limits: AllocateEipAddress and
//! AssociateEipAddress are 120 per minute per account). Each agent paces itself alone:
//! agents are separate processes and share nothing.
//!
//! The account's limit is a token bucket: a throttled call is not applied and costs no
//! token, and a bucket left full wastes its refill. So the pace aims to keep trying often
//! enough that the fleet never leaves the bucket full while any agent has work, without
//! hammering it:
//!
//! - Additive increase, multiplicative decrease: every throttled attempt (seen through the
//!   cloud client's [`CallObserver`]) multiplies the action's pace by `decrease` (once per
//!   interval, so a burst of throttled attempts in flight together counts once), every
//!   success raises it by `increase`, within `[min_rate, max_rate]` calls per second.
//! - A success frees the next slot at the account's pace (`max_rate`): the bucket had a
//!   token, so the next call may find one too. An agent whose pace was cut while the fleet
//!   was busy finishes its last calls at once when the others are done, instead of
//!   crawling at its cut pace.
//! - Slots are jittered (±`jitter` of the interval) so that agents cut at the same moment
//!   do not keep trying in step.
//!
//! The limiter is the cloud client's [`CallPacer`]: the client waits for the action's next
//! slot before each attempt, and retries a throttled paced call (never applied, so always
//! safe to retry) through the pace for up to `max_wait`. No lock is held across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eip_cloud::metrics::{CallObserver, CallOutcome, CallPacer, CallRecord};
use rand::Rng;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::controller::lock;

/// The actions paced by default (the account-wide limits that matter for pods).
pub const PACED_ACTIONS: [&str; 2] = ["AllocateEipAddress", "AssociateEipAddress"];

/// Pace bounds and steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterConfig {
    /// Lowest pace, calls per second.
    pub min_rate: f64,
    /// Highest (and starting) pace, calls per second: the account's limit.
    pub max_rate: f64,
    /// Added to the pace after each success.
    pub increase: f64,
    /// Multiplied into the pace after each throttled attempt.
    pub decrease: f64,
    /// Each interval between two slots is drawn from `(1 ± jitter) / pace`.
    pub jitter: f64,
    /// How long the client keeps retrying a throttled paced call (a throttled call
    /// was not applied, so retrying it is always safe) before returning the error.
    pub max_wait: Duration,
}

impl LimiterConfig {
    /// The pacing for an account limit of `limit` calls per second: every knob is a
    /// fraction of it (tuned with benches/fleet.rs: 50 agents on one account's limits).
    pub fn for_limit(limit: f64) -> Self {
        Self {
            min_rate: limit * 0.1,
            max_rate: limit,
            increase: limit * 0.05,
            decrease: 0.8,
            jitter: 0.5,
            max_wait: Duration::from_secs(60),
        }
    }
}

impl Default for LimiterConfig {
    /// The published limit of AllocateEipAddress and AssociateEipAddress: 120 per minute.
    fn default() -> Self {
        Self::for_limit(2.0)
    }
}

#[derive(Debug, Clone, Copy)]
struct Pace {
    rate: f64,
    /// The earliest next slot.
    next: Option<Instant>,
    /// The last slot taken.
    last: Option<Instant>,
    /// When the pace was last cut: one cut per interval, so that a burst of throttled
    /// attempts in flight together counts once.
    cut: Option<Instant>,
}

#[derive(Debug)]
struct Action {
    pace: Mutex<Pace>,
    /// Wakes the callers waiting for a slot when a success brings the next slot forward.
    freed: Notify,
}

/// Per-action adaptive pace; also the observer that adapts it.
#[derive(Debug)]
pub struct AdaptiveLimiter {
    config: LimiterConfig,
    actions: HashMap<&'static str, Action>,
}

impl AdaptiveLimiter {
    /// A limiter pacing [`PACED_ACTIONS`].
    pub fn new(config: LimiterConfig) -> Self {
        let actions = PACED_ACTIONS
            .iter()
            .map(|a| {
                (
                    *a,
                    Action {
                        pace: Mutex::new(Pace {
                            rate: config.max_rate,
                            next: None,
                            last: None,
                            cut: None,
                        }),
                        freed: Notify::new(),
                    },
                )
            })
            .collect();
        Self { config, actions }
    }

    /// `1 / rate`, jittered by the configured fraction.
    fn interval(&self, rate: f64) -> Duration {
        let j = self.config.jitter.clamp(0.0, 1.0);
        let f = if j > 0.0 {
            rand::rng().random_range(1.0 - j..=1.0 + j)
        } else {
            1.0
        };
        Duration::from_secs_f64(f / rate.max(1e-6))
    }

    /// The current pace of `action` (calls per second), if it is paced.
    pub fn rate(&self, action: &str) -> Option<f64> {
        self.actions.get(action).map(|a| lock(&a.pace).rate)
    }

    /// Waits for `action`'s next slot (immediately for actions that are not paced).
    pub async fn acquire(&self, action: &str) {
        let Some(a) = self.actions.get(action) else {
            return;
        };
        loop {
            let freed = a.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let wait = {
                let mut p = lock(&a.pace);
                let now = Instant::now();
                match p.next {
                    Some(n) if n > now => n - now,
                    _ => {
                        p.next = Some(now + self.interval(p.rate));
                        p.last = Some(now);
                        return;
                    }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = freed => {}
            }
        }
    }

    /// Adapts the pace of `action` to one attempt's outcome.
    pub fn record(&self, action: &str, throttled: bool) {
        let c = self.config;
        let Some(a) = self.actions.get(action) else {
            return;
        };
        let mut p = lock(&a.pace);
        let now = Instant::now();
        if throttled {
            let interval = Duration::from_secs_f64(1.0 / p.rate.max(1e-6));
            if p.cut
                .is_none_or(|t| now.saturating_duration_since(t) >= interval)
            {
                p.rate = (p.rate * c.decrease).max(c.min_rate);
                p.cut = Some(now);
                let later = now + self.interval(p.rate);
                p.next = Some(p.next.map_or(later, |n| n.max(later)));
            }
        } else {
            p.rate = (p.rate + c.increase).min(c.max_rate);
            // The next slot at the account's pace after the last one.
            let at = p.last.unwrap_or(now) + Duration::from_secs_f64(1.0 / c.max_rate.max(1e-6));
            if p.next.is_none_or(|n| at < n) {
                p.next = Some(at);
                drop(p);
                a.freed.notify_waiters();
            }
        }
    }
}

impl CallObserver for AdaptiveLimiter {
    fn observe(&self, record: &CallRecord<'_>) {
        match record.outcome {
            CallOutcome::Success => self.record(record.action, false),
            CallOutcome::ApiError { code } if code.contains("Throttling") => {
                self.record(record.action, true)
            }
            _ => {}
        }
    }
}

/// Several observers fed the same records.
#[derive(Debug)]
pub struct Observers(pub Vec<Arc<dyn CallObserver>>);

impl CallObserver for Observers {
    fn observe(&self, record: &CallRecord<'_>) {
        for o in &self.0 {
            o.observe(record);
        }
    }
}

/// The client waits for the limiter's slot before each attempt of a paced action, and
/// retries a throttled one through it (see [`CallPacer`]).
#[async_trait]
impl CallPacer for AdaptiveLimiter {
    fn paces(&self, action: &str) -> bool {
        self.actions.contains_key(action)
    }

    async fn acquire(&self, action: &str) {
        AdaptiveLimiter::acquire(self, action).await;
    }

    fn max_wait(&self) -> Duration {
        self.config.max_wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled(action: &str) -> CallRecord<'_> {
        CallRecord {
            product: "vpc",
            action,
            attempt: 1,
            outcome: CallOutcome::ApiError {
                code: "Throttling.User",
            },
            http_status: Some(400),
            duration: Duration::ZERO,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_halves_the_pace_once_per_interval_and_successes_raise_it() {
        let l = AdaptiveLimiter::new(LimiterConfig {
            min_rate: 0.1,
            increase: 0.05,
            decrease: 0.5,
            ..LimiterConfig::default()
        });
        assert_eq!(l.rate("AllocateEipAddress"), Some(2.0));
        l.observe(&throttled("AllocateEipAddress"));
        l.observe(&throttled("AllocateEipAddress")); // same burst: counted once
        assert_eq!(l.rate("AllocateEipAddress"), Some(1.0));
        tokio::time::advance(Duration::from_secs(1)).await;
        l.observe(&throttled("AllocateEipAddress"));
        assert_eq!(l.rate("AllocateEipAddress"), Some(0.5));
        assert_eq!(l.rate("AssociateEipAddress"), Some(2.0), "per action");
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(20)).await;
            l.observe(&throttled("AllocateEipAddress"));
        }
        assert_eq!(l.rate("AllocateEipAddress"), Some(0.1), "floor");
        for _ in 0..100 {
            l.record("AllocateEipAddress", false);
        }
        assert_eq!(l.rate("AllocateEipAddress"), Some(2.0), "ceiling");
        assert_eq!(l.rate("DescribeEipAddresses"), None, "reads are not paced");
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_spaces_calls_by_the_current_pace() {
        let l = AdaptiveLimiter::new(LimiterConfig {
            max_rate: 10.0,
            decrease: 0.5,
            jitter: 0.0,
            ..LimiterConfig::default()
        });
        assert_eq!(l.config.max_wait, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..5 {
            l.acquire("AllocateEipAddress").await;
        }
        // 5 calls at 10/s: the 5th waits 4 intervals of 100 ms.
        assert_eq!(t0.elapsed(), Duration::from_millis(400));
        l.record("AllocateEipAddress", true); // 5/s: the next slot is 200 ms away
        let t1 = Instant::now();
        l.acquire("AllocateEipAddress").await;
        l.acquire("AllocateEipAddress").await; // then 200 ms apart
        assert_eq!(t1.elapsed(), Duration::from_millis(400));
        let t2 = Instant::now();
        l.acquire("DescribeEipAddresses").await;
        assert_eq!(t2.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_frees_the_next_slot_at_the_accounts_pace() {
        let l = Arc::new(AdaptiveLimiter::new(LimiterConfig {
            max_rate: 10.0,
            min_rate: 1.0,
            decrease: 0.1,
            jitter: 0.0,
            ..LimiterConfig::default()
        }));
        l.acquire("AllocateEipAddress").await;
        l.record("AllocateEipAddress", true); // 1/s: the next slot is 1 s away
        let t0 = Instant::now();
        let waiting = {
            let l = l.clone();
            tokio::spawn(async move { l.acquire("AllocateEipAddress").await })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiting.is_finished());
        // Another call of this agent succeeded: the waiting one goes 100 ms (the
        // account's pace) after the last slot, not 1 s.
        l.record("AllocateEipAddress", false);
        let r = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(r, Ok(Ok(()))));
        assert_eq!(t0.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn slots_are_jittered_around_the_pace() {
        let l = AdaptiveLimiter::new(LimiterConfig {
            max_rate: 10.0,
            jitter: 0.5,
            ..LimiterConfig::default()
        });
        l.acquire("AssociateEipAddress").await;
        let mut gaps = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            l.acquire("AssociateEipAddress").await;
            gaps.push(t.elapsed());
        }
        assert!(
            gaps.iter()
                .all(|g| *g >= Duration::from_millis(50) && *g <= Duration::from_millis(150)),
            "{gaps:?}"
        );
        assert!(gaps.iter().any(|g| *g != gaps[0]), "jittered: {gaps:?}");
    }
}
