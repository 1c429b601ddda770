//! Metrics hooks: the client reports every HTTP attempt to a [`CallObserver`], so the
//! agent or the extender can feed prometheus-client (or anything else) without this crate
//! imposing a registry. [`CallCounter`] is a ready-made in-memory observer.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// How one HTTP attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome<'a> {
    /// 2xx with a body that parsed.
    Success,
    /// The service answered with an error code.
    ApiError {
        /// The cloud's error code.
        code: &'a str,
    },
    /// The attempt timed out.
    Timeout,
    /// Connection or I/O failure, or an undecodable answer.
    Transport,
}

impl CallOutcome<'_> {
    /// A label value: `Success`, the error code, `Timeout` or `Transport`.
    pub fn label(&self) -> &str {
        match self {
            Self::Success => "Success",
            Self::ApiError { code } => code,
            Self::Timeout => "Timeout",
            Self::Transport => "Transport",
        }
    }
}

/// One HTTP attempt of one API call.
#[derive(Debug, Clone, Copy)]
pub struct CallRecord<'a> {
    /// `vpc` or `ecs`.
    pub product: &'a str,
    /// The action (`AllocateEipAddress`).
    pub action: &'a str,
    /// 1 for the first attempt, 2 for the first retry...
    pub attempt: u32,
    /// How it ended.
    pub outcome: CallOutcome<'a>,
    /// The HTTP status, when there was an answer.
    pub http_status: Option<u16>,
    /// Wall time of the attempt (signing, sending, reading).
    pub duration: Duration,
}

/// Paces actions from outside the client (a limiter shared by a process, adapting to the
/// account's limits): the client waits for [`acquire`](CallPacer::acquire) before every
/// attempt of an action the pacer [`paces`](CallPacer::paces), and sends a throttled
/// attempt of such an action back through it (a throttled call is never applied, so it is
/// safe to repeat) until [`max_wait`](CallPacer::max_wait) has passed since the first.
#[async_trait::async_trait]
pub trait CallPacer: Send + Sync + std::fmt::Debug {
    /// Whether `action` is paced.
    fn paces(&self, action: &str) -> bool;
    /// Waits for `action`'s next slot.
    async fn acquire(&self, action: &str);
    /// How long a paced call goes on retrying its throttled attempts.
    fn max_wait(&self) -> Duration;
}

/// Receives a record of every HTTP attempt. Must be cheap and must not block.
pub trait CallObserver: Send + Sync + std::fmt::Debug {
    /// Called once per attempt, after it ended.
    fn observe(&self, record: &CallRecord<'_>);
}

/// Counts attempts per (action, outcome label). Useful in tests and for a debug endpoint.
#[derive(Debug, Default)]
pub struct CallCounter {
    counts: Mutex<BTreeMap<(String, String), u64>>,
}

impl CallCounter {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attempts of `action` that ended with `outcome_label` (`Success`, a code, ...).
    pub fn count(&self, action: &str, outcome_label: &str) -> u64 {
        self.snapshot()
            .get(&(action.to_owned(), outcome_label.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// All attempts of `action`, whatever their outcome.
    pub fn total(&self, action: &str) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((a, _), _)| a == action)
            .map(|(_, n)| n)
            .sum()
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> BTreeMap<(String, String), u64> {
        match self.counts.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl CallObserver for CallCounter {
    fn observe(&self, record: &CallRecord<'_>) {
        let key = (record.action.to_owned(), record.outcome.label().to_owned());
        let mut g = match self.counts.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g.entry(key).or_insert(0) += 1;
    }
}
