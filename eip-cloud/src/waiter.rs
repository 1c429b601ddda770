//! Waiting for the asynchronous EIP states (Associating -> InUse, Unassociating ->
//! Available, Releasing -> gone), shared by any number of concurrent callers.
//!
//! A [`Waiter`] keeps one table of (allocation id -> callers waiting for a target state)
//! and one background poller. Each poll is a single [`Cloud::describe_eip_addresses`]
//! over every id that someone waits for (the client sends them 50 per call), so N pods
//! waiting cost one describe per poll, not N. The poll interval grows exponentially from
//! `initial_interval` to `max_interval`; a new caller brings the next poll forward to at
//! most `initial_interval` away and restarts the growth (never pushing a poll later). Each
//! caller has its own deadline; when it passes, that caller alone gets
//! [`Error::WaitTimeout`] and stops being polled for. The poller stops when nobody waits.
//! No lock is held across the describe call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use crate::args::DescribeEipArgs;
use crate::model::{EipAddress, EipStatus};
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
            Self::InUse => EipStatus::InUse.as_str(),
            Self::Available => EipStatus::Available.as_str(),
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
    arrivals: Notify,
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
                arrivals: Notify::new(),
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
        } else {
            self.inner.arrivals.notify_one();
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
            let mut wake_at = tokio::time::Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(wake_at) => break,
                    _ = inner.arrivals.notified() => {
                        // A new caller: poll soon, but never later than already planned.
                        wake_at = wake_at.min(tokio::time::Instant::now() + cfg.initial_interval);
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::*;
    use crate::model::*;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A cloud whose EIPs advance one step along a script per describe.
    #[derive(Debug, Default)]
    struct ScriptedCloud {
        // id -> statuses, one per describe; `None` = absent. The last one sticks.
        scripts: Mutex<HashMap<String, Vec<Option<&'static str>>>>,
        describes: AtomicU64,
        fail_next: Mutex<u32>,
    }

    impl ScriptedCloud {
        fn with(scripts: Vec<(String, Vec<Option<&'static str>>)>) -> Arc<Self> {
            Arc::new(Self {
                scripts: Mutex::new(scripts.into_iter().collect()),
                ..Self::default()
            })
        }
    }

    fn unsupported<T>() -> Result<T, Error> {
        Err(Error::Config("not supported by the scripted cloud".into()))
    }

    #[async_trait]
    impl Cloud for ScriptedCloud {
        fn region_id(&self) -> &str {
            "cn-hangzhou"
        }
        async fn allocate_eip_address(
            &self,
            _: &AllocateEipArgs,
        ) -> Result<AllocateEipAddressResponse, Error> {
            unsupported()
        }
        async fn associate_eip_address(
            &self,
            _: &AssociateEipArgs,
        ) -> Result<RequestIdResponse, Error> {
            unsupported()
        }
        async fn unassociate_eip_address(
            &self,
            _: &UnassociateEipArgs,
        ) -> Result<RequestIdResponse, Error> {
            unsupported()
        }
        async fn release_eip_address(&self, _: &str) -> Result<RequestIdResponse, Error> {
            unsupported()
        }
        async fn describe_eip_addresses(
            &self,
            args: &DescribeEipArgs,
        ) -> Result<Vec<EipAddress>, Error> {
            self.describes.fetch_add(1, Ordering::SeqCst);
            {
                let mut f = match self.fail_next.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                if *f > 0 {
                    *f -= 1;
                    return Err(Error::Config("scripted describe failure".into()));
                }
            }
            let mut scripts = match self.scripts.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let mut out = Vec::new();
            for id in &args.allocation_ids {
                let Some(script) = scripts.get_mut(id) else {
                    continue;
                };
                let now = if script.len() > 1 {
                    script.remove(0)
                } else {
                    script.first().copied().flatten()
                };
                if let Some(status) = now {
                    out.push(EipAddress {
                        allocation_id: id.clone(),
                        status: status.to_owned(),
                        ..EipAddress::default()
                    });
                }
            }
            Ok(out)
        }
        async fn modify_eip_address_attribute(
            &self,
            _: &ModifyEipArgs,
        ) -> Result<RequestIdResponse, Error> {
            unsupported()
        }
        async fn tag_resources(&self, _: &TagResourcesArgs) -> Result<RequestIdResponse, Error> {
            unsupported()
        }
        async fn list_tag_resources(
            &self,
            _: &ListTagResourcesArgs,
        ) -> Result<Vec<TagResource>, Error> {
            unsupported()
        }
        async fn add_common_bandwidth_package_ip(
            &self,
            _: &BandwidthPackageIpArgs,
        ) -> Result<RequestIdResponse, Error> {
            unsupported()
        }
        async fn remove_common_bandwidth_package_ip(
            &self,
            _: &BandwidthPackageIpArgs,
        ) -> Result<RequestIdResponse, Error> {
            unsupported()
        }
        async fn describe_vswitches(
            &self,
            _: &DescribeVSwitchesArgs,
        ) -> Result<Vec<VSwitch>, Error> {
            unsupported()
        }
        async fn describe_common_bandwidth_packages(
            &self,
            _: &crate::args::DescribeBandwidthPackagesArgs,
        ) -> Result<Vec<crate::model::CommonBandwidthPackage>, Error> {
            unsupported()
        }
        async fn describe_network_interfaces(
            &self,
            _: &DescribeNetworkInterfacesArgs,
        ) -> Result<Vec<NetworkInterfaceSet>, Error> {
            unsupported()
        }
        async fn describe_instance_types(
            &self,
            _: &DescribeInstanceTypesArgs,
        ) -> Result<Vec<InstanceType>, Error> {
            unsupported()
        }
        async fn describe_instances(
            &self,
            _: &DescribeInstancesArgs,
        ) -> Result<Vec<Instance>, Error> {
            unsupported()
        }
    }

    fn fast() -> WaiterConfig {
        WaiterConfig {
            initial_interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(20),
            factor: 2.0,
            absent_polls_before_gone: 2,
        }
    }

    const BOUND: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn many_waiters_share_one_describe_per_poll() -> anyhow::Result<()> {
        let ids: Vec<String> = (0..120).map(|i| format!("eip-{i}")).collect();
        let cloud = ScriptedCloud::with(
            ids.iter()
                .map(|id| {
                    (
                        id.clone(),
                        vec![Some("Associating"), Some("Associating"), Some("InUse")],
                    )
                })
                .collect(),
        );
        let waiter = Waiter::new(cloud.clone(), fast());
        let tasks: Vec<_> = ids
            .iter()
            .map(|id| {
                let w = waiter.clone();
                let id = id.clone();
                tokio::spawn(async move { w.wait(&id, WaitTarget::InUse, BOUND).await })
            })
            .collect();
        for (t, id) in tasks.into_iter().zip(&ids) {
            let eip = tokio::time::timeout(BOUND, t).await???;
            assert_eq!(eip.map(|e| e.allocation_id), Some(id.clone()));
        }
        // 120 callers, each needing 3 observations: a handful of polls, not 360 describes.
        let describes = cloud.describes.load(Ordering::SeqCst);
        assert_eq!(describes, waiter.polls());
        assert!(describes <= 10, "{describes} describes for 120 waiters");
        Ok(())
    }

    #[tokio::test]
    async fn deadline_is_per_caller_and_reports_last_status() -> anyhow::Result<()> {
        let cloud = ScriptedCloud::with(vec![
            ("eip-stuck".into(), vec![Some("Associating")]),
            (
                "eip-ok".into(),
                vec![Some("Unassociating"), Some("Available")],
            ),
        ]);
        let waiter = Waiter::new(cloud.clone(), fast());
        let w2 = waiter.clone();
        let ok = tokio::spawn(async move { w2.wait("eip-ok", WaitTarget::Available, BOUND).await });
        let stuck = waiter
            .wait("eip-stuck", WaitTarget::InUse, Duration::from_millis(100))
            .await;
        match stuck {
            Err(Error::WaitTimeout {
                allocation_id,
                target,
                last_seen,
                ..
            }) => {
                assert_eq!(allocation_id, "eip-stuck");
                assert_eq!(target, "InUse");
                assert_eq!(last_seen, "Associating");
            }
            other => anyhow::bail!("expected a wait timeout, got {other:?}"),
        }
        let ok = tokio::time::timeout(BOUND, ok).await???;
        assert_eq!(ok.map(|e| e.status), Some("Available".to_owned()));
        // Nobody waits any more: the poller stops.
        let before = waiter.polls();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(waiter.polls() <= before + 1);
        Ok(())
    }

    #[tokio::test]
    async fn gone_target_and_vanishing_eips() -> anyhow::Result<()> {
        let cloud = ScriptedCloud::with(vec![
            ("eip-rel".into(), vec![Some("Releasing"), None]),
            ("eip-vanish".into(), vec![None]),
        ]);
        *cloud
            .fail_next
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))? = 1;
        let waiter = Waiter::new(cloud.clone(), fast());
        let gone =
            tokio::time::timeout(BOUND, waiter.wait("eip-rel", WaitTarget::Gone, BOUND)).await??;
        assert!(gone.is_none());
        let vanished =
            tokio::time::timeout(BOUND, waiter.wait("eip-vanish", WaitTarget::InUse, BOUND))
                .await?;
        assert!(
            matches!(&vanished, Err(Error::EipGone { allocation_id, .. }) if allocation_id == "eip-vanish"),
            "{vanished:?}"
        );
        // The describe failure was survived (the poll that failed was retried).
        assert!(cloud.describes.load(Ordering::SeqCst) >= 3);
        Ok(())
    }

    #[tokio::test]
    async fn a_new_caller_brings_the_next_poll_forward() -> anyhow::Result<()> {
        let cloud = ScriptedCloud::with(vec![
            ("eip-stuck".into(), vec![Some("Associating")]),
            ("eip-ready".into(), vec![Some("InUse")]),
        ]);
        let waiter = Waiter::new(
            cloud.clone(),
            WaiterConfig {
                initial_interval: Duration::from_millis(5),
                max_interval: Duration::from_secs(30),
                factor: 100.0,
                absent_polls_before_gone: 2,
            },
        );
        let w = waiter.clone();
        let stuck =
            tokio::spawn(async move { w.wait("eip-stuck", WaitTarget::InUse, BOUND).await });
        // Let the interval grow: polls at ~5 ms and ~505 ms; the next is ~50 s away.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(waiter.polls() >= 1);
        // Without the arrival wake-up this caller would wait ~50 s and miss its deadline.
        let ready = waiter
            .wait("eip-ready", WaitTarget::InUse, Duration::from_secs(2))
            .await?;
        assert_eq!(ready.map(|e| e.status), Some("InUse".to_owned()));
        stuck.abort();
        Ok(())
    }
}
