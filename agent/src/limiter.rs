//! A client-side pacing of the rate-limited cloud actions that adapts to `Throttling`
//! answers (many agents share one account's limits: AllocateEipAddress and
//! AssociateEipAddress are 120 per minute per account).
//!
//! Additive increase, multiplicative decrease: every throttled attempt (seen through the
//! cloud client's [`CallObserver`]) halves the action's pace, every success raises it by a
//! step, within `[min, max]` calls per second. [`AdaptiveCloud`] waits for the action's
//! next slot before each call. No lock is held across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use eip_cloud::args::{
    AllocateEipArgs, AssociateEipArgs, BandwidthPackageIpArgs, DescribeEipArgs,
    DescribeInstanceTypesArgs, DescribeInstancesArgs, DescribeNetworkInterfacesArgs,
    DescribeVSwitchesArgs, ListTagResourcesArgs, ModifyEipArgs, TagResourcesArgs,
    UnassociateEipArgs,
};
use eip_cloud::metrics::{CallObserver, CallOutcome, CallRecord};
use eip_cloud::model::{
    AllocateEipAddressResponse, EipAddress, Instance, InstanceType, NetworkInterfaceSet,
    RequestIdResponse, TagResource, VSwitch,
};
use eip_cloud::{Cloud, Error};
use tokio::time::Instant;

/// The actions paced by default (the account-wide limits that matter for pods).
pub const PACED_ACTIONS: [&str; 2] = ["AllocateEipAddress", "AssociateEipAddress"];

/// Pace bounds and steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterConfig {
    /// Lowest pace, calls per second.
    pub min_rate: f64,
    /// Highest (and starting) pace, calls per second.
    pub max_rate: f64,
    /// Added to the pace after each success.
    pub increase: f64,
    /// Multiplied into the pace after each throttled attempt.
    pub decrease: f64,
    /// How long [`AdaptiveCloud`] keeps retrying a throttled paced call (a throttled call
    /// was not applied, so retrying it is always safe) before returning the error.
    pub max_wait: Duration,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            // Tuned with benches/fleet.rs (50 agents on one account's limits).
            min_rate: 0.05,
            max_rate: 2.0, // 120 per minute
            increase: 0.1,
            decrease: 0.8,
            max_wait: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pace {
    rate: f64,
    next: Option<Instant>,
    /// When the pace was last cut: one cut per interval, so that a burst of throttled
    /// attempts in flight together counts once.
    cut: Option<Instant>,
}

/// Per-action adaptive pace; also the observer that adapts it.
#[derive(Debug)]
pub struct AdaptiveLimiter {
    config: LimiterConfig,
    paces: Mutex<HashMap<String, Pace>>,
}

impl AdaptiveLimiter {
    /// A limiter pacing [`PACED_ACTIONS`].
    pub fn new(config: LimiterConfig) -> Self {
        let paces = PACED_ACTIONS
            .iter()
            .map(|a| {
                (
                    (*a).to_owned(),
                    Pace {
                        rate: config.max_rate,
                        next: None,
                        cut: None,
                    },
                )
            })
            .collect();
        Self {
            config,
            paces: Mutex::new(paces),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Pace>> {
        match self.paces.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The current pace of `action` (calls per second), if it is paced.
    pub fn rate(&self, action: &str) -> Option<f64> {
        self.lock().get(action).map(|p| p.rate)
    }

    /// Waits for `action`'s next slot (immediately for actions that are not paced).
    pub async fn acquire(&self, action: &str) {
        let wait = {
            let mut paces = self.lock();
            let Some(p) = paces.get_mut(action) else {
                return;
            };
            let now = Instant::now();
            let slot = p.next.map_or(now, |n| n.max(now));
            p.next = Some(slot + Duration::from_secs_f64(1.0 / p.rate.max(1e-6)));
            slot.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Adapts the pace of `action` to one attempt's outcome.
    pub fn record(&self, action: &str, throttled: bool) {
        let c = self.config;
        if let Some(p) = self.lock().get_mut(action) {
            if throttled {
                let now = Instant::now();
                let interval = Duration::from_secs_f64(1.0 / p.rate.max(1e-6));
                if p.cut
                    .is_none_or(|t| now.saturating_duration_since(t) >= interval)
                {
                    p.rate = (p.rate * c.decrease).max(c.min_rate);
                    p.cut = Some(now);
                }
            } else {
                p.rate = (p.rate + c.increase).min(c.max_rate);
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

/// A [`Cloud`] that waits for the limiter's slot before the paced actions.
#[derive(Debug)]
pub struct AdaptiveCloud {
    inner: Arc<dyn Cloud>,
    limiter: Arc<AdaptiveLimiter>,
}

impl AdaptiveCloud {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Cloud>, limiter: Arc<AdaptiveLimiter>) -> Self {
        Self { inner, limiter }
    }
}

#[async_trait]
impl Cloud for AdaptiveCloud {
    fn region_id(&self) -> &str {
        self.inner.region_id()
    }
    async fn allocate_eip_address(
        &self,
        args: &AllocateEipArgs,
    ) -> Result<AllocateEipAddressResponse, Error> {
        let started = Instant::now();
        loop {
            self.limiter.acquire("AllocateEipAddress").await;
            match self.inner.allocate_eip_address(args).await {
                Err(Error::Throttling(_)) if started.elapsed() < self.limiter.config.max_wait => {}
                other => return other,
            }
        }
    }
    async fn associate_eip_address(
        &self,
        args: &AssociateEipArgs,
    ) -> Result<RequestIdResponse, Error> {
        let started = Instant::now();
        loop {
            self.limiter.acquire("AssociateEipAddress").await;
            match self.inner.associate_eip_address(args).await {
                Err(Error::Throttling(_)) if started.elapsed() < self.limiter.config.max_wait => {}
                other => return other,
            }
        }
    }
    async fn unassociate_eip_address(
        &self,
        args: &UnassociateEipArgs,
    ) -> Result<RequestIdResponse, Error> {
        self.inner.unassociate_eip_address(args).await
    }
    async fn release_eip_address(&self, allocation_id: &str) -> Result<RequestIdResponse, Error> {
        self.inner.release_eip_address(allocation_id).await
    }
    async fn describe_eip_addresses(
        &self,
        args: &DescribeEipArgs,
    ) -> Result<Vec<EipAddress>, Error> {
        self.inner.describe_eip_addresses(args).await
    }
    async fn modify_eip_address_attribute(
        &self,
        args: &ModifyEipArgs,
    ) -> Result<RequestIdResponse, Error> {
        self.inner.modify_eip_address_attribute(args).await
    }
    async fn tag_resources(&self, args: &TagResourcesArgs) -> Result<RequestIdResponse, Error> {
        self.inner.tag_resources(args).await
    }
    async fn list_tag_resources(
        &self,
        args: &ListTagResourcesArgs,
    ) -> Result<Vec<TagResource>, Error> {
        self.inner.list_tag_resources(args).await
    }
    async fn add_common_bandwidth_package_ip(
        &self,
        args: &BandwidthPackageIpArgs,
    ) -> Result<RequestIdResponse, Error> {
        self.inner.add_common_bandwidth_package_ip(args).await
    }
    async fn remove_common_bandwidth_package_ip(
        &self,
        args: &BandwidthPackageIpArgs,
    ) -> Result<RequestIdResponse, Error> {
        self.inner.remove_common_bandwidth_package_ip(args).await
    }
    async fn describe_vswitches(
        &self,
        args: &DescribeVSwitchesArgs,
    ) -> Result<Vec<VSwitch>, Error> {
        self.inner.describe_vswitches(args).await
    }
    async fn describe_network_interfaces(
        &self,
        args: &DescribeNetworkInterfacesArgs,
    ) -> Result<Vec<NetworkInterfaceSet>, Error> {
        self.inner.describe_network_interfaces(args).await
    }
    async fn describe_instance_types(
        &self,
        args: &DescribeInstanceTypesArgs,
    ) -> Result<Vec<InstanceType>, Error> {
        self.inner.describe_instance_types(args).await
    }
    async fn describe_instances(
        &self,
        args: &DescribeInstancesArgs,
    ) -> Result<Vec<Instance>, Error> {
        self.inner.describe_instances(args).await
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
            ..LimiterConfig::default()
        });
        assert_eq!(l.config.max_wait, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..5 {
            l.acquire("AllocateEipAddress").await;
        }
        // 5 calls at 10/s: the 5th waits 4 intervals of 100 ms.
        assert_eq!(t0.elapsed(), Duration::from_millis(400));
        l.record("AllocateEipAddress", true); // 5/s
        let t1 = Instant::now();
        l.acquire("AllocateEipAddress").await; // the slot booked at the old pace: +100 ms
        l.acquire("AllocateEipAddress").await; // then 200 ms apart
        assert_eq!(t1.elapsed(), Duration::from_millis(300));
        let t2 = Instant::now();
        l.acquire("DescribeEipAddresses").await;
        assert_eq!(t2.elapsed(), Duration::ZERO);
    }
}
