//! Waiting for the asynchronous EIP states (Associating -> InUse, Unassociating ->
//! Available, Releasing -> gone), shared by any number of concurrent callers.
//!
//! A [`Waiter`] keeps one table of (allocation id -> callers waiting for a target state)
//! and one background poller. Each poll is a single [`Cloud::describe_eip_addresses`]
//! over every id that someone waits for (the client sends them 50 per call), so N pods
//! waiting cost one describe per poll, not N. The poll interval grows exponentially from
//! `initial_interval` to `max_interval` and starts over when a new caller arrives. Each
//! caller has its own deadline; when it passes, that caller alone gets
//! [`Error::WaitTimeout`] and stops being polled for. The poller stops when nobody waits.
//! No lock is held across the describe call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::args::DescribeEipArgs;
use crate::model::{EipAddress, eip_status};
use crate::{Cloud, Error};

/// The state to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitTarget {
    /// `InUse` (after AssociateEipAddress).
    InUse,
    /// `Available` (after UnassociateEipAddress, or AllocateEipAddress).
    Available,
    /// Absent from DescribeEipAddresses (after ReleaseEipAddress).
    Gone,
}

impl WaitTarget {
    /// The status name (`InUse`, `Available`) or `gone`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InUse => eip_status::IN_USE,
            Self::Available => eip_status::AVAILABLE,
            Self::Gone => "gone",
        }
    }
}

impl std::fmt::Display for WaitTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Poll pacing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaiterConfig {
    /// Delay before the first poll and after a new caller arrives.
    pub initial_interval: Duration,
    /// Largest delay between polls.
    pub max_interval: Duration,
    /// Growth factor of the delay.
    pub factor: f64,
    /// Polls in a row an EIP must be absent before callers waiting for InUse/Available
    /// are told it is gone.
    pub absent_polls_before_gone: u32,
}

impl Default for WaiterConfig {
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(5),
            factor: 1.5,
            absent_polls_before_gone: 2,
        }
    }
}

type Reply = Result<Option<EipAddress>, Error>;

struct Pending {
    ticket: u64,
    target: WaitTarget,
    reply: oneshot::Sender<Reply>,
}

#[derive(Default)]
struct State {
    waiting: HashMap<String, Vec<Pending>>,
    last_seen: HashMap<String, String>,
    absent_polls: HashMap<String, u32>,
    poller_running: bool,
    restart_backoff: bool,
    next_ticket: u64,
}

struct Inner {
    cloud: Arc<dyn Cloud>,
    config: WaiterConfig,
    state: Mutex<State>,
    polls: std::sync::atomic::AtomicU64,
}

/// Shared waiter for asynchronous EIP states; clone it freely (all clones share one
/// poller). Needs a Tokio runtime.
#[derive(Clone)]
pub struct Waiter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("config", &self.inner.config)
            .field("waiting_ids", &self.inner.lock().waiting.len())
            .field("polls", &self.polls())
            .finish()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

impl Waiter {
    /// A waiter polling through `cloud`.
    pub fn new(cloud: Arc<dyn Cloud>, config: WaiterConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                cloud,
                config,
                state: Mutex::new(State::default()),
                polls: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// DescribeEipAddresses polls made so far (one per round, whatever the number of
    /// waiters).
    pub fn polls(&self) -> u64 {
        self.inner.polls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until EIP `allocation_id` reaches `target` or `timeout` passes. Returns the
    /// EIP as last described (`None` for [`WaitTarget::Gone`]).
    ///
    /// Errors: [`Error::WaitTimeout`] at the deadline (with the last status or describe
    /// error seen); [`Error::EipGone`] when the EIP disappears while waiting for InUse or
    /// Available.
    pub async fn wait(
        &self,
        allocation_id: &str,
        target: WaitTarget,
        timeout: Duration,
    ) -> Result<Option<EipAddress>, Error> {
        let started = Instant::now();
        let (tx, rx) = oneshot::channel();
        let (ticket, spawn) = {
            let mut st = self.inner.lock();
            st.next_ticket += 1;
            let ticket = st.next_ticket;
            st.waiting
                .entry(allocation_id.to_owned())
                .or_default()
                .push(Pending {
                    ticket,
                    target,
                    reply: tx,
                });
            st.restart_backoff = true;
            let spawn = !st.poller_running;
            st.poller_running = true;
            (ticket, spawn)
        };
        if spawn {
            tokio::spawn(Self::run(self.inner.clone()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) | Err(_) => {
                let mut st = self.inner.lock();
                if let Some(list) = st.waiting.get_mut(allocation_id) {
                    list.retain(|p| p.ticket != ticket);
                    if list.is_empty() {
                        st.waiting.remove(allocation_id);
                    }
                }
                let last_seen = st
                    .last_seen
                    .get(allocation_id)
                    .cloned()
                    .unwrap_or_else(|| "not polled yet".to_owned());
                Err(Error::WaitTimeout {
                    allocation_id: allocation_id.to_owned(),
                    target: target.to_string(),
                    waited: started.elapsed(),
                    last_seen,
                })
            }
        }
    }

    async fn run(inner: Arc<Inner>) {
        let cfg = inner.config;
        let mut delay = cfg.initial_interval;
        loop {
            tokio::time::sleep(delay).await;
            let ids: Vec<String> = {
                let mut st = inner.lock();
                if st.waiting.is_empty() {
                    st.poller_running = false;
                    st.last_seen.clear();
                    st.absent_polls.clear();
                    return;
                }
                if st.restart_backoff {
                    st.restart_backoff = false;
                    delay = cfg.initial_interval;
                }
                st.waiting.keys().cloned().collect()
            };
            inner
                .polls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let result = inner
                .cloud
                .describe_eip_addresses(&DescribeEipArgs::by_ids(ids.iter().cloned()))
                .await;
            {
                let mut st = inner.lock();
                match result {
                    Ok(eips) => {
                        let mut by_id: HashMap<String, EipAddress> = eips
                            .into_iter()
                            .map(|e| (e.allocation_id.clone(), e))
                            .collect();
                        for id in &ids {
                            Self::dispatch(&mut st, id, by_id.remove(id), &cfg);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "waiter poll failed; will poll again");
                        for id in &ids {
                            st.last_seen
                                .insert(id.clone(), format!("describe failed: {e}"));
                        }
                    }
                }
                // Forget what nobody waits for any more.
                let State {
                    waiting,
                    last_seen,
                    absent_polls,
                    ..
                } = &mut *st;
                last_seen.retain(|k, _| waiting.contains_key(k));
                absent_polls.retain(|k, _| waiting.contains_key(k));
            }
            let next = delay.as_secs_f64() * cfg.factor;
            delay = Duration::from_secs_f64(next.min(cfg.max_interval.as_secs_f64()))
                .max(cfg.initial_interval.min(cfg.max_interval));
        }
    }

    fn dispatch(st: &mut State, id: &str, eip: Option<EipAddress>, cfg: &WaiterConfig) {
        let Some(list) = st.waiting.remove(id) else {
            return;
        };
        let absent = if eip.is_none() {
            let n = st.absent_polls.entry(id.to_owned()).or_insert(0);
            *n += 1;
            *n
        } else {
            st.absent_polls.remove(id);
            0
        };
        st.last_seen.insert(
            id.to_owned(),
            eip.as_ref()
                .map(|e| e.status.clone())
                .unwrap_or_else(|| "gone".to_owned()),
        );
        let mut still = Vec::new();
        for p in list {
            let reply = match (&eip, p.target) {
                (None, WaitTarget::Gone) => Some(Ok(None)),
                (None, target) if absent >= cfg.absent_polls_before_gone.max(1) => {
                    Some(Err(Error::EipGone {
                        allocation_id: id.to_owned(),
                        target: target.to_string(),
                    }))
                }
                (Some(e), target) if target != WaitTarget::Gone && e.status == target.as_str() => {
                    Some(Ok(Some(e.clone())))
                }
                _ => None,
            };
            match reply {
                // A caller that gave up already is simply dropped.
                Some(r) => {
                    let _ = p.reply.send(r);
                }
                None if p.reply.is_closed() => {}
                None => still.push(p),
            }
        }
        if !still.is_empty() {
            st.waiting.insert(id.to_owned(), still);
        }
    }
}
