//! The emulator's mutable world behind one mutex: the pure [`SimState`], credentials,
//! rate limiters, faults, call counts, ClientToken replies and metadata tokens. The lock
//! is only ever held for short synchronous sections, never across `.await`.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use serde::Serialize;
use serde_json::Value;

use crate::apierror::ApiError;
use crate::auth::{Keyring, StsCredential};
use crate::config::{
    BandwidthPackageConfig, Delays, FaultEffect, FaultRule, InstanceConfig, RateLimit, RateLimits,
    SimConfig,
};
use crate::error::Error;
use crate::state::{BandwidthPackage, Eip, Eni, Instance, PodIp, SimState};

/// Everything mutable.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub state: SimState,
    pub config: SimConfig,
    pub keyring: Keyring,
    limiters: HashMap<String, DefaultDirectRateLimiter>,
    pub calls: BTreeMap<String, u64>,
    /// Verified calls per signature scheme (`V1`, `V3`, `V1+STS`, `V3+STS`).
    pub auth_schemes: BTreeMap<String, u64>,
    /// (action, ClientToken) -> (parameter fingerprint, successful response).
    pub tokens: HashMap<(String, String), (String, Value)>,
    /// IMDSv2 token -> (instance id, expiry).
    pub imds_tokens: HashMap<String, (String, Instant)>,
    /// instance id -> AccessKeyId of its current role credentials.
    pub instance_creds: HashMap<String, String>,
}

impl Runtime {
    pub fn new(config: SimConfig) -> Result<Self, ApiError> {
        let state = SimState::new(&config)?;
        let keyring = Keyring::new(
            &config.access_key_id,
            config.access_key_secret.expose(),
            Duration::from_secs(config.auth.timestamp_skew_secs),
        );
        Ok(Self {
            state,
            config,
            keyring,
            limiters: HashMap::new(),
            calls: BTreeMap::new(),
            auth_schemes: BTreeMap::new(),
            tokens: HashMap::new(),
            imds_tokens: HashMap::new(),
            instance_creds: HashMap::new(),
        })
    }

    /// Takes one token of `action`'s rate limit; `Err(wait)` when throttled.
    pub fn rate_limit(&mut self, action: &str) -> Result<(), Duration> {
        let limits = &self.config.rate_limits;
        if !limits.enabled {
            return Ok(());
        }
        let limiter = match self.limiters.get(action) {
            Some(l) => l,
            None => {
                let quota = quota_of(limits.limit_for(action), limits.time_scale);
                self.limiters
                    .entry(action.to_string())
                    .or_insert_with(|| RateLimiter::direct(quota))
            }
        };
        limiter.check().map_err(|not_until| {
            use governor::clock::{Clock, DefaultClock};
            not_until.wait_time_from(DefaultClock::default().now())
        })
    }

    /// The fault to apply to this call of `action`, if any (consuming one of `times`).
    pub fn pick_fault(&mut self, action: &str) -> Option<FaultEffect> {
        let idx = self.config.faults.iter().position(|f| {
            (f.action == action || f.action == "*")
                && (f.rate >= 1.0 || rand::rng().random::<f64>() < f.rate)
        })?;
        let rule = self.config.faults.get_mut(idx)?;
        let effect = rule.effect.clone();
        if let Some(t) = rule.times.as_mut() {
            *t = t.saturating_sub(1);
            if *t == 0 {
                self.config.faults.remove(idx);
            }
        }
        Some(effect)
    }

    /// Issues fresh STS credentials for `role`.
    pub fn issue_sts(&mut self, role: &str, ttl: Duration) -> StsCredential {
        let mut rng = rand::rng();
        let mut random = |n: usize| -> String {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            (0..n)
                .map(|_| char::from(A.get(rng.random_range(0..A.len())).copied().unwrap_or(b'A')))
                .collect()
        };
        let now = jiff::Timestamp::now();
        let ttl = jiff::SignedDuration::try_from(ttl).unwrap_or(jiff::SignedDuration::ZERO);
        let cred = StsCredential {
            access_key_id: format!("STS.NT{}", random(22)),
            access_key_secret: random(44),
            security_token: format!("CAIS{}", random(180)),
            expiration: now.checked_add(ttl).unwrap_or(now),
            issued: now,
            role: role.to_string(),
        };
        // Forget credentials that expired more than an hour ago.
        let horizon = now - jiff::SignedDuration::from_hours(1);
        self.keyring.sts.retain(|_, c| c.expiration > horizon);
        self.keyring
            .sts
            .insert(cred.access_key_id.clone(), cred.clone());
        cred
    }

    /// The role credentials an instance's metadata service hands out: the current ones
    /// while they have more than min(30 min, half their life) left, else new ones (the
    /// old stay valid until they expire).
    pub fn instance_credentials(&mut self, instance_id: &str) -> Option<StsCredential> {
        let role = self.state.instances.get(instance_id)?.ram_role.clone();
        let ttl = Duration::from_secs(self.config.metadata.sts_ttl_secs);
        let now = jiff::Timestamp::now();
        if let Some(cur) = self
            .instance_creds
            .get(instance_id)
            .and_then(|ak| self.keyring.sts.get(ak))
        {
            let left = cur.expiration.duration_since(now);
            let refresh = jiff::SignedDuration::try_from(ttl / 2)
                .unwrap_or(jiff::SignedDuration::ZERO)
                .min(jiff::SignedDuration::from_mins(30));
            if cur.role == role && left > refresh {
                return Some(cur.clone());
            }
        }
        let cred = self.issue_sts(&role, ttl);
        self.instance_creds
            .insert(instance_id.to_string(), cred.access_key_id.clone());
        Some(cred)
    }

    fn reset_limiters(&mut self) {
        self.limiters.clear();
    }
}

fn quota_of(limit: RateLimit, time_scale: f64) -> Quota {
    let n = NonZeroU32::new(limit.limit.max(1)).unwrap_or(NonZeroU32::MIN);
    let scale = if time_scale.is_finite() && time_scale > 0.0 {
        time_scale
    } else {
        1.0
    };
    let period = (limit.period_secs.max(0.000_001) / scale) / f64::from(n.get());
    let per_cell = Duration::from_secs_f64(period.max(1e-9));
    Quota::with_period(per_cell)
        .unwrap_or_else(|| Quota::per_second(n))
        .allow_burst(n)
}

/// The shared handle to the runtime.
#[derive(Clone)]
pub(crate) struct Shared {
    inner: Arc<Mutex<Runtime>>,
    /// The configuration the emulator started with (for reset).
    initial: Arc<SimConfig>,
}

impl std::fmt::Debug for Shared {
    // The runtime holds metadata tokens and issued credentials: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared { .. }")
    }
}

impl Shared {
    pub fn new(config: SimConfig) -> Result<Self, Error> {
        let rt = Runtime::new(config.clone())?;
        Ok(Self {
            inner: Arc::new(Mutex::new(rt)),
            initial: Arc::new(config),
        })
    }

    /// Locks the runtime (a poisoned lock is taken over: state stays consistent because
    /// every mutation is a synchronous, panic-free section).
    pub fn lock(&self) -> MutexGuard<'_, Runtime> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A full, serialisable view of the emulated world (`GET /_sim/state`).
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Region.
    pub region_id: String,
    /// VPC id.
    pub vpc_id: String,
    /// EIP quota.
    pub eip_quota: u32,
    /// Transition delays.
    pub delays: Delays,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Active faults.
    pub faults: Vec<FaultRule>,
    /// EIPs, newest first.
    pub eips: Vec<Eip>,
    /// ENIs in creation order.
    pub enis: Vec<Eni>,
    /// Instances in creation order.
    pub instances: Vec<Instance>,
    /// vSwitches with their free IP counts.
    pub vswitches: Vec<VSwitchView>,
    /// Bandwidth packages.
    pub bandwidth_packages: Vec<BandwidthPackage>,
    /// API calls per action.
    pub calls: BTreeMap<String, u64>,
    /// Verified calls per signature scheme (`V1`, `V3`, `V1+STS`, `V3+STS`).
    pub auth_schemes: BTreeMap<String, u64>,
}

/// A vSwitch in a [`Snapshot`].
#[derive(Debug, Clone, Serialize)]
pub struct VSwitchView {
    /// `vsw-...`.
    pub vswitch_id: String,
    /// Zone.
    pub zone_id: String,
    /// CIDR.
    pub cidr_block: String,
    /// `AvailableIpAddressCount`.
    pub available_ip_address_count: u64,
}

/// In-process admin handle: does what `/_sim/` does over HTTP. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Admin {
    pub(crate) shared: Shared,
}

impl Admin {
    fn with<T>(&self, f: impl FnOnce(&mut Runtime) -> T) -> T {
        let mut rt = self.shared.lock();
        let now = Instant::now();
        rt.state.settle(now);
        f(&mut rt)
    }

    /// The whole world.
    pub fn snapshot(&self) -> Snapshot {
        self.with(|rt| {
            let mut eips: Vec<Eip> = rt.state.eips.values().cloned().collect();
            eips.sort_by_key(|e| std::cmp::Reverse(e.seq));
            let mut enis: Vec<Eni> = rt.state.enis.values().cloned().collect();
            enis.sort_by_key(|e| e.seq);
            let mut instances: Vec<Instance> = rt.state.instances.values().cloned().collect();
            instances.sort_by_key(|i| i.seq);
            Snapshot {
                region_id: rt.state.region_id.clone(),
                vpc_id: rt.state.vpc_id.clone(),
                eip_quota: rt.state.eip_quota,
                delays: rt.state.delays,
                rate_limits: rt.config.rate_limits.clone(),
                faults: rt.config.faults.clone(),
                eips,
                enis,
                instances,
                vswitches: rt
                    .state
                    .vswitches
                    .values()
                    .map(|v| VSwitchView {
                        vswitch_id: v.vswitch_id.clone(),
                        zone_id: v.zone_id.clone(),
                        cidr_block: v.cidr_block.to_string(),
                        available_ip_address_count: v.available(),
                    })
                    .collect(),
                bandwidth_packages: rt.state.bandwidth_packages.values().cloned().collect(),
                calls: rt.calls.clone(),
                auth_schemes: rt.auth_schemes.clone(),
            }
        })
    }

    /// All EIPs (Releasing ones included until they are gone), newest first.
    pub fn eips(&self) -> Vec<Eip> {
        self.snapshot().eips
    }

    /// One EIP.
    pub fn eip(&self, allocation_id: &str) -> Option<Eip> {
        self.with(|rt| rt.state.eips.get(allocation_id).cloned())
    }

    /// All ENIs.
    pub fn enis(&self) -> Vec<Eni> {
        self.snapshot().enis
    }

    /// One ENI.
    pub fn eni(&self, eni_id: &str) -> Option<Eni> {
        self.with(|rt| rt.state.enis.get(eni_id).cloned())
    }

    /// One instance.
    pub fn instance(&self, instance_id: &str) -> Option<Instance> {
        self.with(|rt| rt.state.instances.get(instance_id).cloned())
    }

    /// API calls per action since start (or the last reset).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.with(|rt| rt.calls.clone())
    }

    /// Verified calls per signature scheme (`V1`, `V3`, `V1+STS`, `V3+STS`).
    pub fn auth_schemes(&self) -> BTreeMap<String, u64> {
        self.with(|rt| rt.auth_schemes.clone())
    }

    /// API calls of one action.
    pub fn call_count(&self, action: &str) -> u64 {
        self.with(|rt| rt.calls.get(action).copied().unwrap_or(0))
    }

    /// Zeroes the call counters (per action and per signature scheme).
    pub fn reset_calls(&self) {
        self.with(|rt| {
            rt.calls.clear();
            rt.auth_schemes.clear();
        });
    }

    /// Adds an instance with its primary ENI; returns its id.
    pub fn add_instance(&self, cfg: InstanceConfig) -> Result<String, Error> {
        Ok(self.with(|rt| rt.state.add_instance(&cfg))?)
    }

    /// Removes an instance and its ENIs (their EIPs become Available).
    pub fn remove_instance(&self, instance_id: &str) -> Result<(), Error> {
        Ok(self.with(|rt| rt.state.remove_instance(instance_id))?)
    }

    /// Creates and attaches a secondary ENI; returns its id.
    pub fn create_eni(&self, instance_id: &str) -> Result<String, Error> {
        Ok(self.with(|rt| rt.state.create_eni(instance_id))?)
    }

    /// Deletes a secondary ENI.
    pub fn delete_eni(&self, eni_id: &str) -> Result<(), Error> {
        Ok(self.with(|rt| rt.state.delete_eni(eni_id))?)
    }

    /// Assigns `count` new secondary private IPs to an ENI.
    pub fn assign_private_ips(&self, eni_id: &str, count: u32) -> Result<Vec<Ipv4Addr>, Error> {
        Ok(self.with(|rt| rt.state.assign_private_ips(eni_id, &[], count))?)
    }

    /// Assigns the given secondary private IPs to an ENI.
    pub fn assign_private_ips_exact(
        &self,
        eni_id: &str,
        ips: &[Ipv4Addr],
    ) -> Result<Vec<Ipv4Addr>, Error> {
        Ok(self.with(|rt| rt.state.assign_private_ips(eni_id, ips, 0))?)
    }

    /// Unassigns secondary private IPs from an ENI.
    pub fn unassign_private_ips(&self, eni_id: &str, ips: &[Ipv4Addr]) -> Result<(), Error> {
        Ok(self.with(|rt| rt.state.unassign_private_ips(eni_id, ips))?)
    }

    /// Terway IPAM for one new pod: one free private IP on the instance (pooled, a new
    /// secondary IP, or on a new ENI); `Ok(None)` when none is left.
    pub fn assign_pod_ip(&self, instance_id: &str) -> Result<Option<PodIp>, Error> {
        Ok(self.with(|rt| rt.state.assign_pod_ip(instance_id))?)
    }

    /// A pod's IP goes back to the pool (it stays on the ENI, with any EIP still on it).
    pub fn release_pod_ip(&self, instance_id: &str, ip: Ipv4Addr) -> Result<bool, Error> {
        Ok(self.with(|rt| rt.state.release_pod_ip(instance_id, ip))?)
    }

    /// Sets the EIP quota.
    pub fn set_eip_quota(&self, quota: u32) {
        self.with(|rt| {
            rt.state.eip_quota = quota;
            rt.config.eip_quota = quota;
        });
    }

    /// Sets the transition delays (for transitions started from now on).
    pub fn set_delays(&self, delays: Delays) {
        self.with(|rt| {
            rt.state.delays = delays;
            rt.config.delays = delays;
        });
    }

    /// Replaces every rate-limit setting (and refills every bucket).
    pub fn set_rate_limits(&self, limits: RateLimits) {
        self.with(|rt| {
            rt.config.rate_limits = limits;
            rt.reset_limiters();
        });
    }

    /// Sets one action's rate limit (and refills its bucket).
    pub fn set_rate_limit(&self, action: &str, limit: RateLimit) {
        self.with(|rt| {
            rt.config
                .rate_limits
                .per_action
                .insert(action.to_string(), limit);
            rt.reset_limiters();
        });
    }

    /// Adds a fault rule (rules are tried in order; the first that fires wins).
    pub fn add_fault(&self, rule: FaultRule) {
        self.with(|rt| rt.config.faults.push(rule));
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.with(|rt| rt.config.faults.clear());
    }

    /// Adds a common bandwidth package.
    pub fn add_bandwidth_package(&self, pkg: BandwidthPackageConfig) {
        self.with(|rt| {
            rt.state.bandwidth_packages.insert(
                pkg.bandwidth_package_id.clone(),
                BandwidthPackage {
                    bandwidth_package_id: pkg.bandwidth_package_id,
                    bandwidth: pkg.bandwidth,
                },
            );
        });
    }

    /// Issues STS credentials for the default role, valid for `ttl`.
    pub fn issue_sts(&self, ttl: Duration) -> StsCredential {
        self.with(|rt| {
            let role = rt.config.metadata.default_ram_role.clone();
            rt.issue_sts(&role, ttl)
        })
    }

    /// Back to the configuration the emulator started with: state, counters, faults,
    /// limits, tokens and issued credentials.
    pub fn reset(&self) -> Result<(), Error> {
        let fresh = Runtime::new((*self.shared.initial).clone())?;
        *self.shared.lock() = fresh;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_the_burst_then_throttles() {
        let mut cfg = SimConfig::default();
        cfg.rate_limits.per_action.insert(
            "AllocateEipAddress".into(),
            RateLimit {
                limit: 3,
                period_secs: 3600.0,
            },
        );
        let mut rt = Runtime::new(cfg).unwrap();
        for _ in 0..3 {
            rt.rate_limit("AllocateEipAddress").unwrap();
        }
        let wait = rt.rate_limit("AllocateEipAddress").unwrap_err();
        assert!(wait > Duration::from_secs(60), "{wait:?}");
        // other actions have their own bucket
        rt.rate_limit("DescribeEipAddresses").unwrap();
    }

    #[test]
    fn faults_fire_the_given_number_of_times() {
        let mut rt = Runtime::new(SimConfig::default()).unwrap();
        rt.config.faults.push(FaultRule {
            action: "ReleaseEipAddress".into(),
            effect: FaultEffect::Latency { ms: 1 },
            rate: 1.0,
            times: Some(2),
        });
        assert!(rt.pick_fault("AllocateEipAddress").is_none());
        assert!(rt.pick_fault("ReleaseEipAddress").is_some());
        assert!(rt.pick_fault("ReleaseEipAddress").is_some());
        assert!(rt.pick_fault("ReleaseEipAddress").is_none());
    }

    #[test]
    fn instance_credentials_are_reused_until_refresh_time() {
        let mut cfg = SimConfig::default();
        cfg.instances.push(InstanceConfig {
            instance_id: Some("i-1".into()),
            ..Default::default()
        });
        let mut rt = Runtime::new(cfg).unwrap();
        let a = rt.instance_credentials("i-1").unwrap();
        let b = rt.instance_credentials("i-1").unwrap();
        assert_eq!(a.access_key_id, b.access_key_id);
        assert_eq!(a.role, "KubeEipNodeRole");
        assert!(rt.instance_credentials("i-404").is_none());
        rt.config.metadata.sts_ttl_secs = 0;
        rt.instance_creds.clear();
        let c = rt.instance_credentials("i-1").unwrap();
        let d = rt.instance_credentials("i-1").unwrap();
        assert_ne!(c.access_key_id, d.access_key_id);
    }
}
