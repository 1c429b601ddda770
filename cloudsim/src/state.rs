//! The emulated account: VPC, vSwitches, instances, ENIs with their private IPs, EIPs with
//! their asynchronous state machine, tags and bandwidth packages. Pure: every operation
//! takes the current instant and returns a decision or an [`ApiError`]; no I/O, no clock.
//!
//! Transitions are lazy: an EIP in `Associating`, `Unassociating` or `Releasing` carries
//! the instant it finishes; [`SimState::settle`] applies every transition that is due and
//! runs at the start of each operation.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::apierror::ApiError;
use crate::config::{Delays, InstanceConfig, InstanceTypeConfig, SimConfig};

/// EIP status, as `DescribeEipAddresses` reports it: the client's own vocabulary.
pub use eip_cloud::model::EipStatus;

/// What an EIP is associated with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Association {
    /// `NetworkInterface` or `EcsInstance`.
    pub instance_type: String,
    /// The ENI id or instance id given in AssociateEipAddress.
    pub instance_id: String,
    /// The ENI that carries the address.
    pub eni_id: String,
    /// The private IP it is mapped to.
    pub private_ip: Ipv4Addr,
    /// `NAT`.
    pub mode: String,
}

/// One EIP.
#[derive(Debug, Clone, Serialize)]
pub struct Eip {
    /// `eip-...`.
    pub allocation_id: String,
    /// The public address.
    pub ip_address: Ipv4Addr,
    /// Current status.
    pub status: EipStatus,
    /// When the current transition ends.
    #[serde(skip)]
    pub due: Option<Instant>,
    /// The association (kept while Associating, InUse and Unassociating).
    pub association: Option<Association>,
    /// Mbit/s.
    pub bandwidth: u32,
    /// `PayByTraffic` or `PayByBandwidth`.
    pub internet_charge_type: String,
    /// `PostPaid` or `PrePaid`.
    pub charge_type: String,
    /// Line type.
    pub isp: String,
    /// `public`.
    pub netmode: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Resource group.
    pub resource_group_id: String,
    /// IP address pool it came from.
    pub public_ip_address_pool_id: String,
    /// `YYYY-MM-DDThh:mm:ssZ`.
    pub allocation_time: String,
    /// Tags in insertion order.
    pub tags: Vec<(String, String)>,
    /// Common bandwidth package it belongs to.
    pub bandwidth_package_id: Option<String>,
    /// Creation order.
    pub seq: u64,
}

/// A vSwitch and the private IPs handed out from it.
#[derive(Debug, Clone, Serialize)]
pub struct VSwitch {
    /// `vsw-...`.
    pub vswitch_id: String,
    /// Zone.
    pub zone_id: String,
    /// CIDR block.
    pub cidr_block: ipnet::Ipv4Net,
    /// Private IPs in use.
    pub used: BTreeSet<Ipv4Addr>,
}

impl VSwitch {
    /// Usable addresses: all but the first and the last three.
    fn usable(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let first = u32::from(self.cidr_block.network());
        let last = u32::from(self.cidr_block.broadcast());
        let lo = first.saturating_add(1);
        let hi = last.saturating_sub(3);
        (lo..=hi).map(Ipv4Addr::from)
    }

    /// Whether `ip` is a usable address of this vSwitch.
    pub fn is_usable(&self, ip: Ipv4Addr) -> bool {
        let v = u32::from(ip);
        let first = u32::from(self.cidr_block.network());
        let last = u32::from(self.cidr_block.broadcast());
        v > first && v <= last.saturating_sub(3)
    }

    /// `AvailableIpAddressCount`.
    pub fn available(&self) -> u64 {
        let total = self.usable().count() as u64;
        total.saturating_sub(self.used.len() as u64)
    }

    /// The gateway (the last usable address plus one, as on Alibaba Cloud: `x.x.x.253` in a /24).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.cidr_block.broadcast()).saturating_sub(2))
    }

    fn take(&mut self) -> Option<Ipv4Addr> {
        let ip = self.usable().find(|ip| !self.used.contains(ip))?;
        self.used.insert(ip);
        Some(ip)
    }
}

/// An elastic network interface.
#[derive(Debug, Clone, Serialize)]
pub struct Eni {
    /// `eni-...`.
    pub eni_id: String,
    /// Attached instance.
    pub instance_id: Option<String>,
    /// `Primary` or `Secondary`.
    pub eni_type: String,
    /// vSwitch.
    pub vswitch_id: String,
    /// Zone.
    pub zone_id: String,
    /// MAC address.
    pub mac: String,
    /// The ENI's primary private IP.
    pub primary_ip: Ipv4Addr,
    /// Secondary private IPs, in assignment order.
    pub secondary_ips: Vec<Ipv4Addr>,
    /// `YYYY-MM-DDThh:mm:ssZ`.
    pub creation_time: String,
    /// Creation order.
    pub seq: u64,
}

impl Eni {
    /// All private IPs, the primary first.
    pub fn ips(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        std::iter::once(self.primary_ip).chain(self.secondary_ips.iter().copied())
    }

    /// Whether the ENI holds `ip`.
    pub fn has_ip(&self, ip: Ipv4Addr) -> bool {
        self.ips().any(|i| i == ip)
    }

    /// `InUse` when attached, else `Available`.
    pub fn status(&self) -> &'static str {
        if self.instance_id.is_some() {
            "InUse"
        } else {
            "Available"
        }
    }
}

/// An ECS instance.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    /// `i-...`.
    pub instance_id: String,
    /// Instance type id.
    pub instance_type: String,
    /// Zone.
    pub zone_id: String,
    /// vSwitch of the primary ENI.
    pub vswitch_id: String,
    /// Attached RAM role.
    pub ram_role: String,
    /// Host name.
    pub hostname: String,
    /// ENIs, the primary first.
    pub enis: Vec<String>,
    /// Private IPs handed to pods through [`SimState::assign_pod_ip`].
    pub pod_ips: BTreeSet<Ipv4Addr>,
    /// `YYYY-MM-DDThh:mm:ssZ`.
    pub creation_time: String,
    /// Creation order.
    pub seq: u64,
}

/// A common bandwidth package.
#[derive(Debug, Clone, Serialize)]
pub struct BandwidthPackage {
    /// `cbwp-...`.
    pub bandwidth_package_id: String,
    /// Mbit/s.
    pub bandwidth: u32,
}

/// A private IP handed to a pod by [`SimState::assign_pod_ip`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PodIp {
    /// The ENI carrying it.
    pub eni_id: String,
    /// The address.
    pub ip: Ipv4Addr,
    /// Whether a new ENI was created for it.
    pub created_eni: bool,
}

/// What AllocateEipAddress asks for (validated by [`AllocateSpec::validate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllocateSpec {
    /// Mbit/s.
    pub bandwidth: u32,
    /// `PayByTraffic` / `PayByBandwidth`.
    pub internet_charge_type: String,
    /// `PostPaid` / `PrePaid`.
    pub instance_charge_type: String,
    /// Line type.
    pub isp: String,
    /// `public`.
    pub netmode: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Resource group.
    pub resource_group_id: String,
    /// Address pool.
    pub public_ip_address_pool_id: String,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

const ISPS: &[&str] = &[
    "BGP",
    "BGP_PRO",
    "ChinaTelecom",
    "ChinaUnicom",
    "ChinaMobile",
    "ChinaTelecom_L2",
    "ChinaUnicom_L2",
    "ChinaMobile_L2",
    "BGP_FinanceCloud",
];

/// Checks a bandwidth against the charge types' ranges.
pub fn check_bandwidth(bw: u32, internet: &str, instance: &str) -> Result<(), ApiError> {
    let max = match (instance, internet) {
        ("PrePaid", _) => 1000,
        (_, "PayByTraffic") => 200,
        _ => 500,
    };
    if bw == 0 || bw > max {
        return Err(ApiError::invalid(
            "Bandwidth",
            format!("It must be between 1 and {max} for {instance} {internet}."),
        ));
    }
    Ok(())
}

/// Checks a Name or Description.
pub fn check_text(param: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            param,
            format!("It must be at most {max} characters."),
        ));
    }
    if value.starts_with("http://") || value.starts_with("https://") {
        return Err(ApiError::invalid(
            param,
            "It must not start with http:// or https://.",
        ));
    }
    Ok(())
}

/// Checks a tag key.
pub fn check_tag_key(key: &str) -> Result<(), ApiError> {
    let lower = key.to_ascii_lowercase();
    if key.is_empty() || key.chars().count() > 128 {
        return Err(ApiError::invalid(
            "Tag.N.Key",
            "It must be 1 to 128 characters.",
        ));
    }
    if lower.starts_with("aliyun") || lower.starts_with("acs:") {
        return Err(ApiError::invalid(
            "Tag.N.Key",
            "It must not start with aliyun or acs:.",
        ));
    }
    Ok(())
}

impl AllocateSpec {
    /// Validates every field as the real service does.
    pub fn validate(&self) -> Result<(), ApiError> {
        if !["PayByTraffic", "PayByBandwidth"].contains(&self.internet_charge_type.as_str()) {
            return Err(ApiError::invalid(
                "InternetChargeType",
                "It must be PayByTraffic or PayByBandwidth.",
            ));
        }
        if !["PostPaid", "PrePaid"].contains(&self.instance_charge_type.as_str()) {
            return Err(ApiError::invalid(
                "InstanceChargeType",
                "It must be PostPaid or PrePaid.",
            ));
        }
        if self.instance_charge_type == "PrePaid" && self.internet_charge_type != "PayByBandwidth" {
            return Err(ApiError::invalid(
                "InternetChargeType",
                "PrePaid requires PayByBandwidth.",
            ));
        }
        check_bandwidth(
            self.bandwidth,
            &self.internet_charge_type,
            &self.instance_charge_type,
        )?;
        if !ISPS.contains(&self.isp.as_str()) {
            return Err(ApiError::invalid("ISP", "Unknown line type."));
        }
        if self.netmode != "public" {
            return Err(ApiError::invalid("Netmode", "It must be public."));
        }
        check_text("Name", &self.name, 128)?;
        check_text("Description", &self.description, 256)?;
        if self.tags.len() > 20 {
            return Err(ApiError::invalid("Tag", "At most 20 tags."));
        }
        for (k, _) in &self.tags {
            check_tag_key(k)?;
        }
        Ok(())
    }
}

/// Where AssociateEipAddress points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssocTarget {
    /// `InstanceType=NetworkInterface`, `InstanceId=eni-...`, `PrivateIpAddress`.
    NetworkInterface {
        /// ENI id.
        eni_id: String,
        /// One of its private IPs.
        private_ip: Ipv4Addr,
    },
    /// `InstanceType=EcsInstance`: the primary IP of the instance's primary ENI.
    EcsInstance {
        /// Instance id.
        instance_id: String,
    },
}

/// Filters of DescribeEipAddresses.
#[derive(Debug, Clone, Default)]
pub struct EipFilter {
    /// Allocation ids (empty: any).
    pub allocation_ids: Vec<String>,
    /// Public addresses (empty: any).
    pub ip_addresses: Vec<Ipv4Addr>,
    /// Status.
    pub status: Option<EipStatus>,
    /// Associated instance type.
    pub instance_type: Option<String>,
    /// Associated instance id.
    pub instance_id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// ISP.
    pub isp: Option<String>,
    /// Charge type.
    pub charge_type: Option<String>,
    /// Resource group.
    pub resource_group_id: Option<String>,
    /// Tags that must all be present (value `None`: any value).
    pub tags: Vec<(String, Option<String>)>,
    /// Allocated at or after (`Filter.N.Key=CreationStartTime`).
    pub created_from: Option<jiff::Timestamp>,
    /// Allocated at or before (`Filter.N.Key=CreationEndTime`).
    pub created_to: Option<jiff::Timestamp>,
}

/// Random ids and addresses, seedable for reproducible runs.
#[derive(Debug, Clone)]
struct IdGen {
    rng: StdRng,
}

impl IdGen {
    fn id(&mut self, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let tail: String = (0..17)
            .map(|_| {
                let i = self.rng.random_range(0..ALPHABET.len());
                char::from(ALPHABET.get(i).copied().unwrap_or(b'x'))
            })
            .collect();
        format!("{prefix}-bp1{tail}")
    }

    fn mac(&mut self) -> String {
        let b: [u8; 3] = self.rng.random();
        format!("00:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
    }
}

/// The whole emulated account. A clone is a scratch copy: a dry run applies the call to
/// one to see whether it would succeed.
#[derive(Debug, Clone)]
pub struct SimState {
    /// Region.
    pub region_id: String,
    /// Account id.
    pub account_id: String,
    /// VPC id.
    pub vpc_id: String,
    /// VPC CIDR.
    pub vpc_cidr: ipnet::Ipv4Net,
    /// vSwitches by id.
    pub vswitches: BTreeMap<String, VSwitch>,
    /// Instance types by id.
    pub instance_types: BTreeMap<String, InstanceTypeConfig>,
    /// Instances by id.
    pub instances: BTreeMap<String, Instance>,
    /// ENIs by id.
    pub enis: BTreeMap<String, Eni>,
    /// EIPs by allocation id.
    pub eips: BTreeMap<String, Eip>,
    /// Bandwidth packages by id.
    pub bandwidth_packages: BTreeMap<String, BandwidthPackage>,
    /// EIP quota.
    pub eip_quota: u32,
    /// Transition delays.
    pub delays: Delays,
    /// Default RAM role of new instances.
    pub default_ram_role: String,
    public_ip_cidr: ipnet::Ipv4Net,
    public_ips: BTreeSet<Ipv4Addr>,
    ids: IdGen,
    seq: u64,
}

fn wall_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl SimState {
    /// Builds the account from a configuration (instances included).
    pub fn new(cfg: &SimConfig) -> Result<Self, ApiError> {
        let rng = match cfg.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let mut st = Self {
            region_id: cfg.region_id.clone(),
            account_id: cfg.account_id.clone(),
            vpc_id: cfg.vpc.vpc_id.clone(),
            vpc_cidr: cfg.vpc.cidr_block,
            vswitches: cfg
                .vswitches
                .iter()
                .map(|v| {
                    (
                        v.vswitch_id.clone(),
                        VSwitch {
                            vswitch_id: v.vswitch_id.clone(),
                            zone_id: v.zone_id.clone(),
                            cidr_block: v.cidr_block,
                            used: BTreeSet::new(),
                        },
                    )
                })
                .collect(),
            instance_types: cfg
                .instance_types
                .iter()
                .map(|t| (t.instance_type_id.clone(), t.clone()))
                .collect(),
            instances: BTreeMap::new(),
            enis: BTreeMap::new(),
            eips: BTreeMap::new(),
            bandwidth_packages: cfg
                .bandwidth_packages
                .iter()
                .map(|b| {
                    (
                        b.bandwidth_package_id.clone(),
                        BandwidthPackage {
                            bandwidth_package_id: b.bandwidth_package_id.clone(),
                            bandwidth: b.bandwidth,
                        },
                    )
                })
                .collect(),
            eip_quota: cfg.eip_quota,
            delays: cfg.delays,
            default_ram_role: cfg.metadata.default_ram_role.clone(),
            public_ip_cidr: cfg.public_ip_cidr,
            public_ips: BTreeSet::new(),
            ids: IdGen { rng },
            seq: 0,
        };
        if st.vswitches.is_empty() {
            return Err(ApiError::invalid(
                "vswitches",
                "At least one vSwitch is needed.",
            ));
        }
        for inst in &cfg.instances {
            st.add_instance(inst)?;
        }
        Ok(st)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Applies every transition due at `now`.
    pub fn settle(&mut self, now: Instant) {
        let due: Vec<String> = self
            .eips
            .values()
            .filter(|e| e.due.is_some_and(|d| d <= now))
            .map(|e| e.allocation_id.clone())
            .collect();
        for id in due {
            let Some(eip) = self.eips.get_mut(&id) else {
                continue;
            };
            eip.due = None;
            match eip.status {
                EipStatus::Associating => eip.status = EipStatus::InUse,
                EipStatus::Unassociating => {
                    eip.status = EipStatus::Available;
                    eip.association = None;
                }
                EipStatus::Releasing => {
                    let ip = eip.ip_address;
                    self.eips.remove(&id);
                    self.public_ips.remove(&ip);
                }
                EipStatus::InUse | EipStatus::Available => {}
            }
        }
    }

    fn after(now: Instant, ms: u64) -> Instant {
        now + Duration::from_millis(ms)
    }

    fn eip_mut(&mut self, id: &str) -> Result<&mut Eip, ApiError> {
        self.eips
            .get_mut(id)
            .ok_or_else(|| ApiError::allocation_not_found(id))
    }

    fn new_public_ip(&mut self) -> Result<Ipv4Addr, ApiError> {
        let net = self.public_ip_cidr;
        let first = u32::from(net.network()).saturating_add(1);
        let last = u32::from(net.broadcast()).saturating_sub(1);
        if last < first {
            return Err(ApiError::new(400, "ReserveIpFail", "No public IP is left."));
        }
        for _ in 0..64 {
            let ip = Ipv4Addr::from(self.ids.rng.random_range(first..=last));
            if self.public_ips.insert(ip) {
                return Ok(ip);
            }
        }
        let ip = (first..=last)
            .map(Ipv4Addr::from)
            .find(|ip| !self.public_ips.contains(ip))
            .ok_or_else(|| ApiError::new(400, "ReserveIpFail", "No public IP is left."))?;
        self.public_ips.insert(ip);
        Ok(ip)
    }

    /// AllocateEipAddress: a new Available EIP, or `QuotaExceeded.Eip`.
    pub fn allocate(&mut self, spec: &AllocateSpec, now: Instant) -> Result<String, ApiError> {
        self.settle(now);
        spec.validate()?;
        if self.eips.len() >= self.eip_quota as usize {
            return Err(ApiError::new(
                400,
                "QuotaExceeded.Eip",
                "Elastic IP address quota exceeded",
            ));
        }
        let ip = self.new_public_ip()?;
        let id = self.ids.id("eip");
        let seq = self.next_seq();
        self.eips.insert(
            id.clone(),
            Eip {
                allocation_id: id.clone(),
                ip_address: ip,
                status: EipStatus::Available,
                due: None,
                association: None,
                bandwidth: spec.bandwidth,
                internet_charge_type: spec.internet_charge_type.clone(),
                charge_type: spec.instance_charge_type.clone(),
                isp: spec.isp.clone(),
                netmode: spec.netmode.clone(),
                name: spec.name.clone(),
                description: spec.description.clone(),
                resource_group_id: spec.resource_group_id.clone(),
                public_ip_address_pool_id: spec.public_ip_address_pool_id.clone(),
                allocation_time: wall_now(),
                tags: spec.tags.clone(),
                bandwidth_package_id: None,
                seq,
            },
        );
        Ok(id)
    }

    /// The EIP (not Releasing-gone) that maps to `private_ip` on `eni_id`, if any.
    pub fn eip_on(&self, eni_id: &str, private_ip: Ipv4Addr) -> Option<&Eip> {
        self.eips.values().find(|e| {
            e.association
                .as_ref()
                .is_some_and(|a| a.eni_id == eni_id && a.private_ip == private_ip)
        })
    }

    /// AssociateEipAddress: Available -> Associating (-> InUse after the delay).
    pub fn associate(
        &mut self,
        allocation_id: &str,
        target: &AssocTarget,
        now: Instant,
    ) -> Result<(), ApiError> {
        self.settle(now);
        let status = self.eip_mut(allocation_id)?.status;
        if status != EipStatus::Available {
            return Err(ApiError::incorrect_eip_status());
        }
        // The real code is misspelt (sic) for this action only.
        let not_found = |id: &str| {
            ApiError::new(
                404,
                "InvalidInstanId.NotFound",
                "Specified instance does not exist.",
            )
            .with_detail(format!("no instance or network interface {id}"))
        };
        let association = match target {
            AssocTarget::NetworkInterface { eni_id, private_ip } => {
                let eni = self.enis.get(eni_id).ok_or_else(|| not_found(eni_id))?;
                if !eni.has_ip(*private_ip) {
                    return Err(ApiError::new(
                        400,
                        "InvalidParameter.Mismatch",
                        format!(
                            "The private IP address {private_ip} is not assigned to the network interface {eni_id}."
                        ),
                    ));
                }
                Association {
                    instance_type: "NetworkInterface".into(),
                    instance_id: eni_id.clone(),
                    eni_id: eni_id.clone(),
                    private_ip: *private_ip,
                    mode: "NAT".into(),
                }
            }
            AssocTarget::EcsInstance { instance_id } => {
                let inst = self
                    .instances
                    .get(instance_id)
                    .ok_or_else(|| not_found(instance_id))?;
                let eni = inst
                    .enis
                    .first()
                    .and_then(|id| self.enis.get(id))
                    .ok_or_else(|| not_found(instance_id))?;
                if self.eips.values().any(|e| {
                    e.association.as_ref().is_some_and(|a| {
                        a.instance_type == "EcsInstance" && &a.instance_id == instance_id
                    })
                }) {
                    return Err(duplicated());
                }
                Association {
                    instance_type: "EcsInstance".into(),
                    instance_id: instance_id.clone(),
                    eni_id: eni.eni_id.clone(),
                    private_ip: eni.primary_ip,
                    mode: "NAT".into(),
                }
            }
        };
        if self
            .eip_on(&association.eni_id, association.private_ip)
            .is_some()
        {
            return Err(duplicated());
        }
        let delay = self.delays.associate_ms;
        let eip = self.eip_mut(allocation_id)?;
        eip.association = Some(association);
        eip.status = EipStatus::Associating;
        eip.due = Some(Self::after(now, delay));
        self.settle(now);
        Ok(())
    }

    /// UnassociateEipAddress: InUse -> Unassociating (-> Available after the delay).
    pub fn unassociate(
        &mut self,
        allocation_id: &str,
        instance_id: Option<&str>,
        private_ip: Option<Ipv4Addr>,
        now: Instant,
    ) -> Result<(), ApiError> {
        self.settle(now);
        let delay = self.delays.unassociate_ms;
        let eip = self.eip_mut(allocation_id)?;
        if eip.status != EipStatus::InUse {
            return Err(ApiError::incorrect_eip_status());
        }
        let Some(assoc) = eip.association.as_ref() else {
            return Err(ApiError::incorrect_eip_status());
        };
        if let Some(id) = instance_id
            && id != assoc.instance_id
        {
            return Err(ApiError::new(
                400,
                "InvalidInstanceId.NotFound",
                "Specified instance does not exist.",
            )
            .with_detail(format!(
                "{allocation_id} is associated with {}, not {id}",
                assoc.instance_id
            )));
        }
        if let Some(ip) = private_ip
            && ip != assoc.private_ip
        {
            return Err(ApiError::new(
                400,
                "InvalidParameter.Mismatch",
                format!("The EIP is not associated with private IP {ip}."),
            ));
        }
        eip.status = EipStatus::Unassociating;
        eip.due = Some(Self::after(now, delay));
        self.settle(now);
        Ok(())
    }

    /// ReleaseEipAddress: Available -> Releasing (-> gone after the delay).
    pub fn release(&mut self, allocation_id: &str, now: Instant) -> Result<(), ApiError> {
        self.settle(now);
        let delay = self.delays.release_ms;
        let eip = self.eip_mut(allocation_id)?;
        if eip.status != EipStatus::Available {
            return Err(ApiError::incorrect_eip_status());
        }
        if eip.charge_type == "PrePaid" {
            return Err(ApiError::new(
                400,
                "Forbidden.ChargeTypeIsPrepaid",
                "It's forbidden to release a prepaid EIP",
            ));
        }
        eip.bandwidth_package_id = None;
        eip.status = EipStatus::Releasing;
        eip.due = Some(Self::after(now, delay));
        self.settle(now);
        Ok(())
    }

    /// ModifyEipAddressAttribute.
    pub fn modify(
        &mut self,
        allocation_id: &str,
        bandwidth: Option<u32>,
        name: Option<&str>,
        description: Option<&str>,
        now: Instant,
    ) -> Result<(), ApiError> {
        self.settle(now);
        let eip = self.eip_mut(allocation_id)?;
        if !matches!(eip.status, EipStatus::Available | EipStatus::InUse) {
            return Err(ApiError::incorrect_eip_status());
        }
        if let Some(bw) = bandwidth {
            check_bandwidth(bw, &eip.internet_charge_type, &eip.charge_type)?;
        }
        if let Some(n) = name {
            check_text("Name", n, 128)?;
        }
        if let Some(d) = description {
            check_text("Description", d, 256)?;
        }
        if let Some(bw) = bandwidth {
            eip.bandwidth = bw;
        }
        if let Some(n) = name {
            eip.name = n.to_string();
        }
        if let Some(d) = description {
            eip.description = d.to_string();
        }
        Ok(())
    }

    /// DescribeEipAddresses: the matching EIPs, newest first.
    pub fn describe(&mut self, f: &EipFilter, now: Instant) -> Vec<&Eip> {
        self.settle(now);
        let mut out: Vec<&Eip> = self
            .eips
            .values()
            .filter(|e| f.allocation_ids.is_empty() || f.allocation_ids.contains(&e.allocation_id))
            .filter(|e| f.ip_addresses.is_empty() || f.ip_addresses.contains(&e.ip_address))
            .filter(|e| f.status.is_none_or(|s| s == e.status))
            .filter(|e| {
                f.instance_type.as_ref().is_none_or(|t| {
                    e.association
                        .as_ref()
                        .is_some_and(|a| &a.instance_type == t)
                })
            })
            .filter(|e| {
                f.instance_id
                    .as_ref()
                    .is_none_or(|t| e.association.as_ref().is_some_and(|a| &a.instance_id == t))
            })
            .filter(|e| f.name.as_ref().is_none_or(|n| &e.name == n))
            .filter(|e| f.isp.as_ref().is_none_or(|n| &e.isp == n))
            .filter(|e| f.charge_type.as_ref().is_none_or(|n| &e.charge_type == n))
            .filter(|e| {
                f.resource_group_id
                    .as_ref()
                    .is_none_or(|n| &e.resource_group_id == n)
            })
            .filter(|e| {
                let at = eip_cloud::signature::parse_timestamp(&e.allocation_time);
                f.created_from
                    .is_none_or(|from| at.is_some_and(|t| t >= from))
                    && f.created_to.is_none_or(|to| at.is_some_and(|t| t <= to))
            })
            .filter(|e| {
                f.tags.iter().all(|(k, v)| {
                    e.tags
                        .iter()
                        .any(|(ek, ev)| ek == k && v.as_ref().is_none_or(|v| v == ev))
                })
            })
            .collect();
        out.sort_by_key(|e| std::cmp::Reverse(e.seq));
        out
    }

    fn check_eips_exist(&self, ids: &[String]) -> Result<(), ApiError> {
        for id in ids {
            if !self.eips.contains_key(id) {
                return Err(ApiError::new(
                    404,
                    "InvalidResourceId.NotFound",
                    format!("The specified resource {id} is not found."),
                ));
            }
        }
        Ok(())
    }

    /// TagResources: adds or overwrites tags; at most 20 per EIP.
    pub fn tag(
        &mut self,
        ids: &[String],
        tags: &[(String, String)],
        now: Instant,
    ) -> Result<(), ApiError> {
        self.settle(now);
        for (k, _) in tags {
            check_tag_key(k)?;
        }
        self.check_eips_exist(ids)?;
        for id in ids {
            if let Some(eip) = self.eips.get(id) {
                let mut merged = eip.tags.clone();
                for (k, v) in tags {
                    match merged.iter_mut().find(|(ek, _)| ek == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => merged.push((k.clone(), v.clone())),
                    }
                }
                if merged.len() > 20 {
                    return Err(ApiError::new(
                        400,
                        "QuotaExceeded.TagNum",
                        format!("The resource {id} would carry more than 20 tags."),
                    ));
                }
            }
        }
        for id in ids {
            if let Some(eip) = self.eips.get_mut(id) {
                for (k, v) in tags {
                    match eip.tags.iter_mut().find(|(ek, _)| ek == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => eip.tags.push((k.clone(), v.clone())),
                    }
                }
            }
        }
        Ok(())
    }

    /// UnTagResources: removes the named keys, or every tag with `all`.
    pub fn untag(
        &mut self,
        ids: &[String],
        keys: &[String],
        all: bool,
        now: Instant,
    ) -> Result<(), ApiError> {
        self.settle(now);
        self.check_eips_exist(ids)?;
        for id in ids {
            if let Some(eip) = self.eips.get_mut(id) {
                eip.tags.retain(|(k, _)| !all && !keys.contains(k));
            }
        }
        Ok(())
    }

    /// ListTagResources: `(resource id, key, value)` of EIPs among `ids` (all when empty)
    /// that carry every tag of `filter`, in a stable order.
    pub fn list_tags(
        &mut self,
        ids: &[String],
        filter: &[(String, Option<String>)],
        now: Instant,
    ) -> Vec<(String, String, String)> {
        self.settle(now);
        let mut out = Vec::new();
        for eip in self.eips.values() {
            if !ids.is_empty() && !ids.contains(&eip.allocation_id) {
                continue;
            }
            let matches = filter.iter().all(|(k, v)| {
                eip.tags
                    .iter()
                    .any(|(ek, ev)| ek == k && v.as_ref().is_none_or(|v| v == ev))
            });
            if !matches {
                continue;
            }
            for (k, v) in &eip.tags {
                out.push((eip.allocation_id.clone(), k.clone(), v.clone()));
            }
        }
        out
    }

    /// AddCommonBandwidthPackageIp.
    pub fn add_to_package(
        &mut self,
        package_id: &str,
        allocation_id: &str,
        now: Instant,
    ) -> Result<(), ApiError> {
        self.settle(now);
        if !self.bandwidth_packages.contains_key(package_id) {
            return Err(package_not_found(package_id));
        }
        let eip = self.eip_mut(allocation_id)?;
        if !matches!(eip.status, EipStatus::Available | EipStatus::InUse) {
            return Err(ApiError::incorrect_eip_status());
        }
        if eip.bandwidth_package_id.is_some() {
            return Err(ApiError::new(
                400,
                "OperationFailed.EipInBandwidthPackage",
                format!("The EIP {allocation_id} is already in a bandwidth package."),
            ));
        }
        eip.bandwidth_package_id = Some(package_id.to_string());
        Ok(())
    }

    /// RemoveCommonBandwidthPackageIp.
    pub fn remove_from_package(
        &mut self,
        package_id: &str,
        allocation_id: &str,
        now: Instant,
    ) -> Result<(), ApiError> {
        self.settle(now);
        if !self.bandwidth_packages.contains_key(package_id) {
            return Err(package_not_found(package_id));
        }
        let eip = self.eip_mut(allocation_id)?;
        if eip.bandwidth_package_id.as_deref() != Some(package_id) {
            return Err(ApiError::new(
                400,
                "OperationFailed.EipNotInBandwidthPackage",
                format!("The EIP {allocation_id} is not in bandwidth package {package_id}."),
            ));
        }
        if !matches!(eip.status, EipStatus::Available | EipStatus::InUse) {
            return Err(ApiError::incorrect_eip_status());
        }
        eip.bandwidth_package_id = None;
        Ok(())
    }

    // ---- ECS side -------------------------------------------------------------------

    /// Creates an instance with its primary ENI (admin).
    pub fn add_instance(&mut self, cfg: &InstanceConfig) -> Result<String, ApiError> {
        let itype = cfg
            .instance_type
            .clone()
            .unwrap_or_else(|| "ecs.g7.large".into());
        if !self.instance_types.contains_key(&itype) {
            return Err(ApiError::new(
                400,
                "InvalidInstanceType.NotFound",
                format!("The instance type {itype} is not known."),
            ));
        }
        let vswitch_id = match (&cfg.vswitch_id, &cfg.zone_id) {
            (Some(v), _) => v.clone(),
            (None, Some(z)) => self
                .vswitches
                .values()
                .find(|v| &v.zone_id == z)
                .map(|v| v.vswitch_id.clone())
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "InvalidZoneId.NotFound",
                        format!("No vSwitch in zone {z}."),
                    )
                })?,
            (None, None) => self
                .vswitches
                .keys()
                .next()
                .cloned()
                .ok_or_else(|| ApiError::invalid("VSwitchId", "No vSwitch exists."))?,
        };
        let zone_id = self
            .vswitches
            .get(&vswitch_id)
            .map(|v| v.zone_id.clone())
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "InvalidVSwitchId.NotFound",
                    format!("The vSwitch {vswitch_id} does not exist."),
                )
            })?;
        if cfg.zone_id.as_ref().is_some_and(|z| z != &zone_id) {
            return Err(ApiError::invalid(
                "ZoneId",
                "The vSwitch is in another zone.",
            ));
        }
        let id = cfg.instance_id.clone().unwrap_or_else(|| self.ids.id("i"));
        if self.instances.contains_key(&id) {
            return Err(ApiError::new(
                400,
                "InvalidInstanceId.Duplicate",
                format!("The instance {id} already exists."),
            ));
        }
        let seq = self.next_seq();
        self.instances.insert(
            id.clone(),
            Instance {
                instance_id: id.clone(),
                instance_type: itype,
                zone_id,
                vswitch_id: vswitch_id.clone(),
                ram_role: cfg
                    .ram_role
                    .clone()
                    .unwrap_or_else(|| self.default_ram_role.clone()),
                hostname: cfg.hostname.clone().unwrap_or_else(|| id.clone()),
                enis: Vec::new(),
                pod_ips: BTreeSet::new(),
                creation_time: wall_now(),
                seq,
            },
        );
        let populate = |st: &mut Self| -> Result<(), ApiError> {
            st.new_eni(&id, &vswitch_id, "Primary")?;
            for _ in 0..cfg.secondary_enis {
                st.create_eni(&id)?;
            }
            for _ in 0..cfg.pod_ips {
                if st.assign_pod_ip(&id)?.is_none() {
                    return Err(ApiError::new(
                        400,
                        "QuotaExceeded.PrivateIpAddress",
                        format!("The instance {id} cannot hold {} pod IPs.", cfg.pod_ips),
                    ));
                }
            }
            Ok(())
        };
        if let Err(e) = populate(self) {
            let _ = self.remove_instance(&id);
            return Err(e);
        }
        Ok(id)
    }

    fn new_eni(
        &mut self,
        instance_id: &str,
        vswitch_id: &str,
        kind: &str,
    ) -> Result<String, ApiError> {
        let vsw = self.vswitches.get_mut(vswitch_id).ok_or_else(|| {
            ApiError::new(
                404,
                "InvalidVSwitchId.NotFound",
                format!("The vSwitch {vswitch_id} does not exist."),
            )
        })?;
        let zone_id = vsw.zone_id.clone();
        let ip = vsw.take().ok_or_else(ip_not_enough)?;
        let eni_id = self.ids.id("eni");
        let mac = self.ids.mac();
        let seq = self.next_seq();
        self.enis.insert(
            eni_id.clone(),
            Eni {
                eni_id: eni_id.clone(),
                instance_id: Some(instance_id.to_string()),
                eni_type: kind.into(),
                vswitch_id: vswitch_id.to_string(),
                zone_id,
                mac,
                primary_ip: ip,
                secondary_ips: Vec::new(),
                creation_time: wall_now(),
                seq,
            },
        );
        if let Some(inst) = self.instances.get_mut(instance_id) {
            inst.enis.push(eni_id.clone());
        }
        Ok(eni_id)
    }

    fn limits_of(&self, instance_id: &str) -> Result<(u32, u32), ApiError> {
        let inst = self
            .instances
            .get(instance_id)
            .ok_or_else(|| ApiError::instance_not_found(instance_id))?;
        let t = self
            .instance_types
            .get(&inst.instance_type)
            .ok_or_else(ApiError::internal)?;
        Ok((t.eni_quantity, t.eni_private_ip_address_quantity))
    }

    /// Creates and attaches a secondary ENI in the instance's vSwitch (admin).
    pub fn create_eni(&mut self, instance_id: &str) -> Result<String, ApiError> {
        let (max_enis, _) = self.limits_of(instance_id)?;
        let inst = self
            .instances
            .get(instance_id)
            .ok_or_else(|| ApiError::instance_not_found(instance_id))?;
        if inst.enis.len() >= max_enis as usize {
            return Err(ApiError::new(
                403,
                "EniPerInstanceLimitExceeded",
                format!("The instance {instance_id} already has {max_enis} network interfaces."),
            ));
        }
        let vsw = inst.vswitch_id.clone();
        self.new_eni(instance_id, &vsw, "Secondary")
    }

    /// Deletes a secondary ENI (admin); EIPs on it become Available at once.
    pub fn delete_eni(&mut self, eni_id: &str) -> Result<(), ApiError> {
        let eni = self
            .enis
            .get(eni_id)
            .ok_or_else(|| ApiError::eni_not_found(eni_id))?;
        if eni.eni_type == "Primary" {
            return Err(ApiError::new(
                403,
                "InvalidOperation.DeletePrimaryEni",
                "The primary network interface cannot be deleted.",
            ));
        }
        self.drop_eni(eni_id);
        Ok(())
    }

    fn drop_eni(&mut self, eni_id: &str) {
        let Some(eni) = self.enis.remove(eni_id) else {
            return;
        };
        if let Some(vsw) = self.vswitches.get_mut(&eni.vswitch_id) {
            for ip in eni.ips() {
                vsw.used.remove(&ip);
            }
        }
        if let Some(inst) = eni
            .instance_id
            .as_ref()
            .and_then(|i| self.instances.get_mut(i))
        {
            inst.enis.retain(|e| e != eni_id);
            for ip in eni.ips() {
                inst.pod_ips.remove(&ip);
            }
        }
        for eip in self.eips.values_mut() {
            if eip.association.as_ref().is_some_and(|a| a.eni_id == eni_id) {
                eip.association = None;
                if matches!(
                    eip.status,
                    EipStatus::Associating | EipStatus::InUse | EipStatus::Unassociating
                ) {
                    eip.status = EipStatus::Available;
                    eip.due = None;
                }
            }
        }
    }

    /// Removes an instance and its ENIs (admin); EIPs on them become Available at once.
    pub fn remove_instance(&mut self, instance_id: &str) -> Result<(), ApiError> {
        let inst = self
            .instances
            .get(instance_id)
            .ok_or_else(|| ApiError::instance_not_found(instance_id))?;
        for eni in inst.enis.clone() {
            self.drop_eni(&eni);
        }
        self.instances.remove(instance_id);
        Ok(())
    }

    /// AssignPrivateIpAddresses: the given addresses, or `count` new ones.
    pub fn assign_private_ips(
        &mut self,
        eni_id: &str,
        wanted: &[Ipv4Addr],
        count: u32,
    ) -> Result<Vec<Ipv4Addr>, ApiError> {
        let eni = self
            .enis
            .get(eni_id)
            .ok_or_else(|| ApiError::eni_not_found(eni_id))?;
        let per_eni = match &eni.instance_id {
            Some(i) => self.limits_of(i)?.1,
            None => 10,
        };
        let n = if wanted.is_empty() {
            count as usize
        } else {
            wanted.len()
        };
        let have = 1 + eni.secondary_ips.len();
        if have + n > per_eni as usize {
            return Err(ApiError::new(
                403,
                "QuotaExceeded.PrivateIpAddress",
                format!(
                    "The network interface {eni_id} can hold at most {per_eni} private IP addresses."
                ),
            ));
        }
        let vsw_id = eni.vswitch_id.clone();
        let vsw = self
            .vswitches
            .get_mut(&vsw_id)
            .ok_or_else(ApiError::internal)?;
        let mut got = Vec::new();
        if wanted.is_empty() {
            if vsw.available() < n as u64 {
                return Err(ip_not_enough());
            }
            for _ in 0..n {
                got.push(vsw.take().ok_or_else(ip_not_enough)?);
            }
        } else {
            for ip in wanted {
                if !vsw.is_usable(*ip) {
                    return Err(ApiError::new(
                        403,
                        "InvalidVSwitchId.IpInvalid",
                        format!("The IP {ip} is not a usable address of vSwitch {vsw_id}."),
                    ));
                }
                if vsw.used.contains(ip) || got.contains(ip) {
                    return Err(ApiError::new(
                        403,
                        "InvalidIp.IpAssigned",
                        format!("The IP {ip} is already assigned."),
                    ));
                }
                got.push(*ip);
            }
            vsw.used.extend(got.iter().copied());
        }
        if let Some(eni) = self.enis.get_mut(eni_id) {
            eni.secondary_ips.extend(got.iter().copied());
        }
        Ok(got)
    }

    /// UnassignPrivateIpAddresses: only secondary IPs without an EIP.
    pub fn unassign_private_ips(&mut self, eni_id: &str, ips: &[Ipv4Addr]) -> Result<(), ApiError> {
        let eni = self
            .enis
            .get(eni_id)
            .ok_or_else(|| ApiError::eni_not_found(eni_id))?;
        for ip in ips {
            if !eni.secondary_ips.contains(ip) {
                return Err(ApiError::new(
                    403,
                    "InvalidIp.IpUnassigned",
                    format!("The IP {ip} is not a secondary private IP of {eni_id}."),
                ));
            }
            if self.eip_on(eni_id, *ip).is_some() {
                return Err(ApiError::new(
                    403,
                    "Operation.Conflict",
                    format!("The private IP {ip} still has an EIP associated."),
                ));
            }
        }
        let vsw_id = eni.vswitch_id.clone();
        let instance = eni.instance_id.clone();
        if let Some(eni) = self.enis.get_mut(eni_id) {
            eni.secondary_ips.retain(|i| !ips.contains(i));
        }
        if let Some(vsw) = self.vswitches.get_mut(&vsw_id) {
            for ip in ips {
                vsw.used.remove(ip);
            }
        }
        if let Some(inst) = instance.and_then(|i| self.instances.get_mut(&i)) {
            for ip in ips {
                inst.pod_ips.remove(ip);
            }
        }
        Ok(())
    }

    /// What Terway IPAM does for a new pod: hand out a private IP of a secondary ENI that
    /// no pod holds (reusing pooled ones first), assigning a new secondary IP or creating
    /// an ENI when needed. `Ok(None)`: the instance (or its vSwitch) has no room left.
    pub fn assign_pod_ip(&mut self, instance_id: &str) -> Result<Option<PodIp>, ApiError> {
        let (max_enis, per_eni) = self.limits_of(instance_id)?;
        let inst = self
            .instances
            .get(instance_id)
            .ok_or_else(|| ApiError::instance_not_found(instance_id))?;
        let secondary: Vec<String> = inst.enis.iter().skip(1).cloned().collect();
        // 1. a pooled address no pod holds
        let pooled = secondary.iter().find_map(|eni_id| {
            let eni = self.enis.get(eni_id)?;
            let ip = eni.ips().find(|ip| !inst.pod_ips.contains(ip))?;
            Some((eni_id.clone(), ip))
        });
        if let Some((eni_id, ip)) = pooled {
            return Ok(Some(self.hand_out(instance_id, &eni_id, ip, false)));
        }
        // 2. a new secondary IP on an ENI with room
        for eni_id in &secondary {
            let room = self
                .enis
                .get(eni_id)
                .is_some_and(|e| 1 + e.secondary_ips.len() < per_eni as usize);
            if room {
                return match self.assign_private_ips(eni_id, &[], 1) {
                    Ok(ips) => match ips.first() {
                        Some(ip) => Ok(Some(self.hand_out(instance_id, eni_id, *ip, false))),
                        None => Ok(None),
                    },
                    Err(e) if e.code == "InvalidVSwitchId.IpNotEnough" => Ok(None),
                    Err(e) => Err(e),
                };
            }
        }
        // 3. a new ENI
        if inst.enis.len() < max_enis as usize {
            return match self.create_eni(instance_id) {
                Ok(eni_id) => {
                    let ip = self
                        .enis
                        .get(&eni_id)
                        .map(|e| e.primary_ip)
                        .ok_or_else(ApiError::internal)?;
                    Ok(Some(self.hand_out(instance_id, &eni_id, ip, true)))
                }
                Err(e) if e.code == "InvalidVSwitchId.IpNotEnough" => Ok(None),
                Err(e) => Err(e),
            };
        }
        Ok(None)
    }

    fn hand_out(&mut self, instance_id: &str, eni_id: &str, ip: Ipv4Addr, created: bool) -> PodIp {
        if let Some(inst) = self.instances.get_mut(instance_id) {
            inst.pod_ips.insert(ip);
        }
        PodIp {
            eni_id: eni_id.to_string(),
            ip,
            created_eni: created,
        }
    }

    /// A pod gave its IP back: it stays on the ENI in the pool (as Terway keeps a warm
    /// pool), so an EIP still associated with it stays too. Returns whether a pod held it.
    pub fn release_pod_ip(&mut self, instance_id: &str, ip: Ipv4Addr) -> Result<bool, ApiError> {
        let inst = self
            .instances
            .get_mut(instance_id)
            .ok_or_else(|| ApiError::instance_not_found(instance_id))?;
        Ok(inst.pod_ips.remove(&ip))
    }

    /// The EIP currently associated (InUse) with a private IP, for PrivateIpSets.
    pub fn public_ip_of(&self, eni_id: &str, ip: Ipv4Addr) -> Option<&Eip> {
        self.eip_on(eni_id, ip)
            .filter(|e| e.status == EipStatus::InUse)
    }
}

fn duplicated() -> ApiError {
    ApiError::new(
        400,
        "InvalidAssociation.Duplicated",
        "Specified instance already is associated.",
    )
}

fn ip_not_enough() -> ApiError {
    ApiError::new(
        403,
        "InvalidVSwitchId.IpNotEnough",
        "The specified vSwitch does not have enough IP addresses.",
    )
}

fn package_not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        "InvalidBandwidthPackageId.NotFound",
        format!("The specified bandwidth package {id} does not exist."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> (SimState, Instant) {
        let mut cfg = SimConfig {
            seed: Some(7),
            eip_quota: 3,
            ..SimConfig::default()
        };
        cfg.delays = Delays {
            associate_ms: 100,
            unassociate_ms: 100,
            release_ms: 100,
        };
        cfg.instances.push(InstanceConfig {
            instance_id: Some("i-1".into()),
            instance_type: Some("ecs.g7.large".into()),
            ..Default::default()
        });
        (SimState::new(&cfg).unwrap(), Instant::now())
    }

    fn spec() -> AllocateSpec {
        AllocateSpec {
            bandwidth: 5,
            internet_charge_type: "PayByTraffic".into(),
            instance_charge_type: "PostPaid".into(),
            isp: "BGP".into(),
            netmode: "public".into(),
            ..Default::default()
        }
    }

    fn ms(t: Instant, n: u64) -> Instant {
        t + Duration::from_millis(n)
    }

    #[test]
    fn eip_lifecycle_moves_through_transit_states_after_the_delays() {
        let (mut st, t0) = world();
        let pod = st.assign_pod_ip("i-1").unwrap().unwrap();
        let id = st.allocate(&spec(), t0).unwrap();
        assert_eq!(st.eips[&id].status, EipStatus::Available);
        let target = AssocTarget::NetworkInterface {
            eni_id: pod.eni_id.clone(),
            private_ip: pod.ip,
        };
        st.associate(&id, &target, t0).unwrap();
        assert_eq!(st.eips[&id].status, EipStatus::Associating);
        // only queries while in transit
        for err in [
            st.release(&id, ms(t0, 50)).unwrap_err(),
            st.unassociate(&id, None, None, ms(t0, 50)).unwrap_err(),
            st.modify(&id, Some(6), None, None, ms(t0, 50)).unwrap_err(),
            st.associate(&id, &target, ms(t0, 50)).unwrap_err(),
        ] {
            assert_eq!(err.code, "IncorrectEipStatus");
        }
        st.settle(ms(t0, 100));
        assert_eq!(st.eips[&id].status, EipStatus::InUse);
        assert_eq!(
            st.public_ip_of(&pod.eni_id, pod.ip)
                .map(|e| e.allocation_id.clone()),
            Some(id.clone())
        );
        assert_eq!(
            st.release(&id, ms(t0, 100)).unwrap_err().code,
            "IncorrectEipStatus"
        );
        st.unassociate(&id, Some(&pod.eni_id), Some(pod.ip), ms(t0, 100))
            .unwrap();
        assert_eq!(st.eips[&id].status, EipStatus::Unassociating);
        st.settle(ms(t0, 200));
        assert_eq!(st.eips[&id].status, EipStatus::Available);
        assert!(st.eips[&id].association.is_none());
        st.release(&id, ms(t0, 200)).unwrap();
        assert_eq!(st.eips[&id].status, EipStatus::Releasing);
        assert_eq!(st.describe(&EipFilter::default(), ms(t0, 250)).len(), 1);
        assert!(st.describe(&EipFilter::default(), ms(t0, 300)).is_empty());
        assert_eq!(
            st.release(&id, ms(t0, 300)).unwrap_err().code,
            "InvalidAllocationId.NotFound"
        );
    }

    #[test]
    fn quota_counts_every_eip_until_it_is_gone() {
        let (mut st, t0) = world();
        let ids: Vec<String> = (0..3).map(|_| st.allocate(&spec(), t0).unwrap()).collect();
        assert_eq!(
            st.allocate(&spec(), t0).unwrap_err().code,
            "QuotaExceeded.Eip"
        );
        st.release(&ids[0], t0).unwrap();
        assert_eq!(
            st.allocate(&spec(), ms(t0, 50)).unwrap_err().code,
            "QuotaExceeded.Eip"
        );
        st.allocate(&spec(), ms(t0, 100)).unwrap();
        let ips: BTreeSet<Ipv4Addr> = st.eips.values().map(|e| e.ip_address).collect();
        assert_eq!(ips.len(), 3, "public addresses are unique");
    }

    #[test]
    fn association_needs_an_ip_the_eni_has_and_one_eip_per_ip() {
        let (mut st, t0) = world();
        let pod = st.assign_pod_ip("i-1").unwrap().unwrap();
        let a = st.allocate(&spec(), t0).unwrap();
        let b = st.allocate(&spec(), t0).unwrap();
        let on = |ip| AssocTarget::NetworkInterface {
            eni_id: pod.eni_id.clone(),
            private_ip: ip,
        };
        let foreign = Ipv4Addr::new(192, 168, 0, 200);
        assert_eq!(
            st.associate(&a, &on(foreign), t0).unwrap_err().code,
            "InvalidParameter.Mismatch"
        );
        let missing = AssocTarget::NetworkInterface {
            eni_id: "eni-nope".into(),
            private_ip: pod.ip,
        };
        assert_eq!(
            st.associate(&a, &missing, t0).unwrap_err().code,
            "InvalidInstanId.NotFound"
        );
        st.associate(&a, &on(pod.ip), t0).unwrap();
        assert_eq!(
            st.associate(&b, &on(pod.ip), t0).unwrap_err().code,
            "InvalidAssociation.Duplicated"
        );
        // the instance's primary IP is a different IP: fine in EcsInstance mode
        st.associate(
            &b,
            &AssocTarget::EcsInstance {
                instance_id: "i-1".into(),
            },
            t0,
        )
        .unwrap();
        let c = st.allocate(&spec(), t0).unwrap();
        assert_eq!(
            st.associate(
                &c,
                &AssocTarget::EcsInstance {
                    instance_id: "i-1".into()
                },
                t0
            )
            .unwrap_err()
            .code,
            "InvalidAssociation.Duplicated"
        );
    }

    #[test]
    fn allocate_spec_validation_table() {
        type Mutation = Box<dyn Fn(&mut AllocateSpec)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|s| s.bandwidth = 0), "Bandwidth"),
            (Box::new(|s| s.bandwidth = 201), "Bandwidth"),
            (
                Box::new(|s| s.internet_charge_type = "Free".into()),
                "InternetChargeType",
            ),
            (Box::new(|s| s.isp = "Moon".into()), "ISP"),
            (Box::new(|s| s.name = "https://x".into()), "Name"),
            (Box::new(|s| s.description = "d".repeat(257)), "Description"),
            (
                Box::new(|s| s.tags = vec![("aliyun:x".into(), "v".into())]),
                "Tag.N.Key",
            ),
            (
                Box::new(|s| s.tags = vec![("acs:x".into(), "v".into())]),
                "Tag.N.Key",
            ),
        ];
        for (mutate, param) in cases {
            let mut s = spec();
            mutate(&mut s);
            let err = s.validate().unwrap_err();
            assert_eq!(err.code, "InvalidParameter");
            assert!(err.message.contains(param), "{param}: {}", err.message);
        }
        let mut ok = spec();
        ok.internet_charge_type = "PayByBandwidth".into();
        ok.bandwidth = 500;
        ok.validate().unwrap();
    }

    #[test]
    fn pod_ips_fill_secondary_enis_up_to_the_instance_type_limits() {
        let (mut st, _) = world();
        let vsw = st.instances["i-1"].vswitch_id.clone();
        let before = st.vswitches[&vsw].available();
        // ecs.g7.large: 3 ENIs x 10 IPs; pods use the 2 secondary ENIs -> 20 slots
        let mut got = Vec::new();
        while let Some(p) = st.assign_pod_ip("i-1").unwrap() {
            got.push(p);
        }
        assert_eq!(got.len(), 20);
        assert_eq!(got.iter().filter(|p| p.created_eni).count(), 2);
        assert_eq!(st.instances["i-1"].enis.len(), 3);
        assert_eq!(st.vswitches[&vsw].available(), before - 20);
        assert_eq!(
            st.create_eni("i-1").unwrap_err().code,
            "EniPerInstanceLimitExceeded"
        );
        // a released IP stays pooled on its ENI and is handed out again
        let first = got[0].clone();
        assert!(st.release_pod_ip("i-1", first.ip).unwrap());
        assert!(!st.release_pod_ip("i-1", first.ip).unwrap());
        let again = st.assign_pod_ip("i-1").unwrap().unwrap();
        assert_eq!((again.eni_id, again.ip), (first.eni_id, first.ip));
        assert_eq!(st.vswitches[&vsw].available(), before - 20);
    }

    #[test]
    fn instances_can_start_with_enis_and_pod_ips() {
        let (mut st, _) = world();
        let id = st
            .add_instance(&InstanceConfig {
                instance_type: Some("ecs.g7.large".into()),
                secondary_enis: 1,
                pod_ips: 12,
                ..Default::default()
            })
            .unwrap();
        let inst = &st.instances[&id];
        assert_eq!(inst.enis.len(), 3);
        assert_eq!(inst.pod_ips.len(), 12);
        let before: usize = st.vswitches.values().map(|v| v.used.len()).sum();
        let err = st
            .add_instance(&InstanceConfig {
                pod_ips: 21,
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(err.code, "QuotaExceeded.PrivateIpAddress");
        let after: usize = st.vswitches.values().map(|v| v.used.len()).sum();
        assert_eq!(before, after, "a refused instance leaves nothing behind");
        assert_eq!(st.instances.len(), 2);
    }

    #[test]
    fn private_ip_assignment_rules() {
        let (mut st, t0) = world();
        let eni = st.create_eni("i-1").unwrap();
        let ips = st.assign_private_ips(&eni, &[], 2).unwrap();
        assert_eq!(ips.len(), 2);
        assert_eq!(
            st.assign_private_ips(&eni, &[ips[0]], 0).unwrap_err().code,
            "InvalidIp.IpAssigned"
        );
        assert_eq!(
            st.assign_private_ips(&eni, &[Ipv4Addr::new(10, 0, 0, 1)], 0)
                .unwrap_err()
                .code,
            "InvalidVSwitchId.IpInvalid"
        );
        assert_eq!(
            st.assign_private_ips(&eni, &[], 8).unwrap_err().code,
            "QuotaExceeded.PrivateIpAddress"
        );
        let primary = st.enis[&eni].primary_ip;
        assert_eq!(
            st.unassign_private_ips(&eni, &[primary]).unwrap_err().code,
            "InvalidIp.IpUnassigned"
        );
        let id = st.allocate(&spec(), t0).unwrap();
        st.associate(
            &id,
            &AssocTarget::NetworkInterface {
                eni_id: eni.clone(),
                private_ip: ips[0],
            },
            t0,
        )
        .unwrap();
        assert_eq!(
            st.unassign_private_ips(&eni, &[ips[0]]).unwrap_err().code,
            "Operation.Conflict"
        );
        st.unassign_private_ips(&eni, &[ips[1]]).unwrap();
        assert_eq!(st.enis[&eni].secondary_ips, vec![ips[0]]);
        // removing the instance frees the EIP at once
        st.remove_instance("i-1").unwrap();
        assert_eq!(st.eips[&id].status, EipStatus::Available);
        assert!(st.enis.is_empty());
        assert!(st.vswitches.values().all(|v| v.used.is_empty()));
    }

    #[test]
    fn tags_and_bandwidth_packages() {
        let (mut st, t0) = world();
        let id = st.allocate(&spec(), t0).unwrap();
        st.tag(
            std::slice::from_ref(&id),
            &[("a".into(), "1".into()), ("b".into(), "2".into())],
            t0,
        )
        .unwrap();
        st.tag(std::slice::from_ref(&id), &[("a".into(), "3".into())], t0)
            .unwrap();
        assert_eq!(
            st.list_tags(&[], &[("a".into(), Some("3".into()))], t0)
                .len(),
            2
        );
        let too_many: Vec<(String, String)> =
            (0..19).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(
            st.tag(std::slice::from_ref(&id), &too_many, t0)
                .unwrap_err()
                .code,
            "QuotaExceeded.TagNum"
        );
        assert_eq!(
            st.tag(&["eip-x".into()], &[("a".into(), "1".into())], t0)
                .unwrap_err()
                .code,
            "InvalidResourceId.NotFound"
        );
        st.untag(std::slice::from_ref(&id), &["a".into()], false, t0)
            .unwrap();
        assert_eq!(st.eips[&id].tags, vec![("b".to_string(), "2".to_string())]);
        st.untag(std::slice::from_ref(&id), &[], true, t0).unwrap();
        assert!(st.eips[&id].tags.is_empty());

        let pkg = "cbwp-bp1sim00000000000000";
        assert_eq!(
            st.add_to_package("cbwp-nope", &id, t0).unwrap_err().code,
            "InvalidBandwidthPackageId.NotFound"
        );
        st.add_to_package(pkg, &id, t0).unwrap();
        assert_eq!(
            st.add_to_package(pkg, &id, t0).unwrap_err().code,
            "OperationFailed.EipInBandwidthPackage"
        );
        st.remove_from_package(pkg, &id, t0).unwrap();
        assert_eq!(
            st.remove_from_package(pkg, &id, t0).unwrap_err().code,
            "OperationFailed.EipNotInBandwidthPackage"
        );
    }

    #[test]
    fn describe_filters_and_orders_newest_first() {
        let (mut st, t0) = world();
        let a = st.allocate(&spec(), t0).unwrap();
        let mut s = spec();
        s.name = "web".into();
        s.tags = vec![("team".into(), "x".into())];
        let b = st.allocate(&s, t0).unwrap();
        let all: Vec<String> = st
            .describe(&EipFilter::default(), t0)
            .iter()
            .map(|e| e.allocation_id.clone())
            .collect();
        assert_eq!(all, vec![b.clone(), a.clone()]);
        let f = EipFilter {
            tags: vec![("team".into(), None)],
            ..Default::default()
        };
        assert_eq!(st.describe(&f, t0).len(), 1);
        let f = EipFilter {
            name: Some("web".into()),
            allocation_ids: vec![a.clone()],
            ..Default::default()
        };
        assert!(st.describe(&f, t0).is_empty());
        let f = EipFilter {
            status: Some(EipStatus::InUse),
            ..Default::default()
        };
        assert!(st.describe(&f, t0).is_empty());
    }
}
