//! [`SimConfig`]: everything the emulator starts with, loadable from YAML or JSON. Every
//! change the admin API can make at run time can also be written here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A secret string that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The emulator's whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The one region served, e.g. `cn-hangzhou`.
    pub region_id: String,
    /// The account's AccessKey id.
    pub access_key_id: String,
    /// The account's AccessKey secret.
    pub access_key_secret: Secret,
    /// The account (owner) id reported in responses.
    pub account_id: String,
    /// Maximum number of EIPs (`eip_quota_instances_num`).
    pub eip_quota: u32,
    /// The VPC.
    pub vpc: VpcConfig,
    /// vSwitches, one per zone by default.
    pub vswitches: Vec<VSwitchConfig>,
    /// Instance types DescribeInstanceTypes knows.
    pub instance_types: Vec<InstanceTypeConfig>,
    /// Instances present at start.
    pub instances: Vec<InstanceConfig>,
    /// Common bandwidth packages present at start.
    pub bandwidth_packages: Vec<BandwidthPackageConfig>,
    /// Where public addresses come from.
    pub public_ip_cidr: ipnet::Ipv4Net,
    /// Asynchronous transition delays.
    pub delays: Delays,
    /// Per-API rate limits.
    pub rate_limits: RateLimits,
    /// Faults injected per action.
    pub faults: Vec<FaultRule>,
    /// Signature checking.
    pub auth: AuthConfig,
    /// Instance metadata service.
    pub metadata: MetadataConfig,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Seed for generated ids and addresses (random when absent).
    pub seed: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            region_id: "cn-hangzhou".into(),
            access_key_id: "testid".into(),
            access_key_secret: Secret("testsecret".into()),
            account_id: "1234567890123456".into(),
            eip_quota: 20,
            vpc: VpcConfig::default(),
            vswitches: vec![
                VSwitchConfig {
                    vswitch_id: "vsw-bp1sim0000000000000h".into(),
                    zone_id: "cn-hangzhou-h".into(),
                    cidr_block: ipv4net("192.168.0.0/24"),
                },
                VSwitchConfig {
                    vswitch_id: "vsw-bp1sim0000000000000i".into(),
                    zone_id: "cn-hangzhou-i".into(),
                    cidr_block: ipv4net("192.168.1.0/24"),
                },
            ],
            instance_types: default_instance_types(),
            instances: Vec::new(),
            bandwidth_packages: vec![BandwidthPackageConfig {
                bandwidth_package_id: "cbwp-bp1sim00000000000000".into(),
                bandwidth: 200,
            }],
            public_ip_cidr: ipv4net("47.96.0.0/16"),
            delays: Delays::default(),
            rate_limits: RateLimits::default(),
            faults: Vec::new(),
            auth: AuthConfig::default(),
            metadata: MetadataConfig::default(),
            max_body_bytes: 64 * 1024,
            seed: None,
        }
    }
}

fn ipv4net(s: &str) -> ipnet::Ipv4Net {
    s.parse().unwrap_or_default()
}

impl SimConfig {
    /// Reads a config file: JSON when the name ends in `.json`, YAML otherwise.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        let is_json = path.extension().is_some_and(|e| e == "json");
        let parsed = if is_json {
            serde_json::from_str(&text).map_err(|e| e.to_string())
        } else {
            serde_saphyr::from_str(&text).map_err(|e| e.to_string())
        };
        parsed.map_err(|message| Error::ParseConfig {
            path: path.to_path_buf(),
            message,
        })
    }
}

/// The VPC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VpcConfig {
    /// `vpc-...`.
    pub vpc_id: String,
    /// The VPC CIDR block.
    pub cidr_block: ipnet::Ipv4Net,
}

impl Default for VpcConfig {
    fn default() -> Self {
        Self {
            vpc_id: "vpc-bp1sim00000000000000".into(),
            cidr_block: ipv4net("192.168.0.0/16"),
        }
    }
}

/// A vSwitch: one zone, one CIDR block.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VSwitchConfig {
    /// `vsw-...`.
    pub vswitch_id: String,
    /// Zone, e.g. `cn-hangzhou-h`.
    pub zone_id: String,
    /// CIDR block inside the VPC's.
    pub cidr_block: ipnet::Ipv4Net,
}

/// An instance type and its ENI limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceTypeConfig {
    /// e.g. `ecs.g7.large`.
    pub instance_type_id: String,
    /// vCPUs.
    pub cpu_core_count: u32,
    /// GiB of memory.
    pub memory_size: f64,
    /// Maximum ENIs per instance (the primary included).
    pub eni_quantity: u32,
    /// Maximum private IPs per ENI (the ENI's primary IP included).
    pub eni_private_ip_address_quantity: u32,
    /// Maximum IPv6 addresses per ENI.
    #[serde(default)]
    pub eni_ipv6_address_quantity: u32,
}

fn default_instance_types() -> Vec<InstanceTypeConfig> {
    let t = |id: &str, cpu: u32, mem: f64, enis: u32, ips: u32| InstanceTypeConfig {
        instance_type_id: id.into(),
        cpu_core_count: cpu,
        memory_size: mem,
        eni_quantity: enis,
        eni_private_ip_address_quantity: ips,
        eni_ipv6_address_quantity: ips,
    };
    vec![
        t("ecs.g7.large", 2, 8.0, 3, 10),
        t("ecs.g7.xlarge", 4, 16.0, 4, 15),
        t("ecs.g7.2xlarge", 8, 32.0, 4, 15),
        t("ecs.c7.large", 2, 4.0, 3, 10),
        t("ecs.c7.xlarge", 4, 8.0, 4, 15),
        t("ecs.c7.2xlarge", 8, 16.0, 4, 15),
    ]
}

/// An instance to create (at start or through the admin API).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceConfig {
    /// `i-...`; generated when absent.
    pub instance_id: Option<String>,
    /// Instance type id; `ecs.g7.large` when absent.
    pub instance_type: Option<String>,
    /// Zone; the first vSwitch's zone when absent.
    pub zone_id: Option<String>,
    /// vSwitch; the zone's first vSwitch when absent.
    pub vswitch_id: Option<String>,
    /// RAM role attached to the instance; the metadata default when absent.
    pub ram_role: Option<String>,
    /// Host name (defaults to the instance id).
    pub hostname: Option<String>,
    /// Secondary ENIs to attach at creation.
    pub secondary_enis: u32,
    /// Pod IPs to hand out at creation (as [`crate::Admin::assign_pod_ip`] would).
    pub pod_ips: u32,
}

/// A common bandwidth package.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthPackageConfig {
    /// `cbwp-...`.
    pub bandwidth_package_id: String,
    /// Mbit/s.
    pub bandwidth: u32,
}

/// How long the asynchronous EIP states last, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Delays {
    /// Associating -> InUse.
    pub associate_ms: u64,
    /// Unassociating -> Available.
    pub unassociate_ms: u64,
    /// Releasing -> gone.
    pub release_ms: u64,
}

impl Default for Delays {
    fn default() -> Self {
        Self {
            associate_ms: 30,
            unassociate_ms: 30,
            release_ms: 20,
        }
    }
}

/// One API's rate limit: `limit` calls per `period_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Calls allowed per period (also the burst).
    pub limit: u32,
    /// Period in seconds (divided by the time scale).
    pub period_secs: f64,
}

/// Per-account, per-API rate limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Off: nothing is throttled.
    pub enabled: bool,
    /// Periods are divided by this (60 makes "per minute" mean "per second").
    pub time_scale: f64,
    /// Overrides or additions by action name; the published defaults apply otherwise.
    pub per_action: BTreeMap<String, RateLimit>,
    /// Send `x-acs-retry-after` (milliseconds) with `Throttling.User`.
    pub retry_after_header: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            time_scale: 1.0,
            per_action: BTreeMap::new(),
            retry_after_header: false,
        }
    }
}

impl RateLimits {
    /// The limit for `action`: the override, else the published default.
    pub fn limit_for(&self, action: &str) -> RateLimit {
        if let Some(l) = self.per_action.get(action) {
            return *l;
        }
        let limit = match action {
            // published (eip/quotas page)
            "AllocateEipAddress" | "AssociateEipAddress" => 120,
            "DescribeEipAddresses" | "ReleaseEipAddress" => 600,
            // chosen: mutations 120/min, reads 600/min
            a if a.starts_with("Describe") || a.starts_with("List") => 600,
            _ => 120,
        };
        RateLimit {
            limit,
            period_secs: 60.0,
        }
    }
}

/// A fault injected into calls of one action (or `*` for every action).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Action name, or `*`.
    pub action: String,
    /// What happens.
    pub effect: FaultEffect,
    /// Probability in `0..=1` that a call is affected (default 1).
    #[serde(default = "one")]
    pub rate: f64,
    /// Affect at most this many calls, then the rule is dropped (unlimited when absent).
    #[serde(default)]
    pub times: Option<u32>,
}

fn one() -> f64 {
    1.0
}

/// The effect of a [`FaultRule`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultEffect {
    /// Refuse the call with this error; nothing changes.
    Error {
        /// `Code`.
        code: String,
        /// HTTP status.
        status: u16,
        /// `Message` (a generic one when absent).
        #[serde(default)]
        message: Option<String>,
    },
    /// Wait this long before handling the call.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// Apply the call, then hold the response `hang_ms` and answer `ServiceUnavailable`
    /// (a client with a shorter timeout sees a timeout).
    LoseResponse {
        /// Milliseconds.
        #[serde(default)]
        hang_ms: u64,
    },
    /// Hold the call `hang_ms` without applying it, then answer `ServiceUnavailable`.
    Timeout {
        /// Milliseconds.
        hang_ms: u64,
    },
}

/// Request authentication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Allowed clock skew of `Timestamp` / `x-acs-date`, in seconds.
    pub timestamp_skew_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            timestamp_skew_secs: 15 * 60,
        }
    }
}

/// The instance metadata service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetadataConfig {
    /// Role attached to instances that name none.
    pub default_ram_role: String,
    /// Lifetime of issued STS credentials, in seconds.
    pub sts_ttl_secs: u64,
    /// Refuse metadata reads without an IMDSv2 token (security hardening mode).
    pub require_token: bool,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            default_ram_role: "KubeEipNodeRole".into(),
            sts_ttl_secs: 6 * 3600,
            require_token: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_config_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.yaml");
        std::fs::write(
            &path,
            "eip_quota: 3\nrate_limits:\n  time_scale: 60\n  per_action:\n    AllocateEipAddress: {limit: 2, period_secs: 1}\nfaults:\n  - action: ReleaseEipAddress\n    effect: {kind: error, code: InternalError, status: 500}\n    times: 1\ninstances:\n  - instance_id: i-1\n    instance_type: ecs.g7.xlarge\n",
        )
        .unwrap();
        let cfg = SimConfig::from_file(&path).unwrap();
        assert_eq!(cfg.eip_quota, 3);
        assert_eq!(cfg.region_id, "cn-hangzhou");
        assert_eq!(cfg.rate_limits.limit_for("AllocateEipAddress").limit, 2);
        assert_eq!(cfg.rate_limits.limit_for("DescribeEipAddresses").limit, 600);
        assert_eq!(cfg.faults.len(), 1);
        assert_eq!(cfg.faults[0].rate, 1.0);
        assert_eq!(cfg.instances[0].instance_id.as_deref(), Some("i-1"));
    }

    #[test]
    fn the_example_config_loads_and_builds_a_world() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sim.yaml");
        let cfg = SimConfig::from_file(&path).unwrap();
        assert_eq!(cfg.instances.len(), 2);
        assert_eq!(cfg.faults.len(), 3);
        assert_eq!(cfg.rate_limits.time_scale, 60.0);
        assert_eq!(cfg.bandwidth_packages.len(), 1);
        let st = crate::state::SimState::new(&cfg).unwrap();
        assert_eq!(st.instances["i-node-2"].zone_id, "cn-hangzhou-i");
        assert_eq!(st.instances["i-node-1"].enis.len(), 2);
        assert_eq!(st.instances["i-node-1"].pod_ips.len(), 3);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.json");
        std::fs::write(&path, r#"{"eip_quotaa": 3}"#).unwrap();
        assert!(matches!(
            SimConfig::from_file(&path),
            Err(Error::ParseConfig { .. })
        ));
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let cfg = SimConfig::default();
        assert!(!format!("{cfg:?}").contains("testsecret"));
    }
}
