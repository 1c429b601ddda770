//! The capacity model the extender filters on, as pure functions.
//!
//! In: what the caller knows about a node (slots, used, reserved, zone IPs), the region (EIP
//! quota, counts, `eni_conf` switches) and the pod (host network, what EIP it needs). Out: a
//! verdict — fits, or a [`Rejection`] that says whether preemption could fix it
//! ([`Rejection::resolvable`]: `FailedNodes`) or not (`FailedAndUnresolvableNodes`) and, via
//! `Display`, why, in a sentence a user can act on.
//!
//! The checks are split so the extender can run the pod/region part once per request
//! ([`check_pod`]) and the node part once per node ([`check_node`]). Neither allocates: a
//! [`Rejection`] borrows its facts and is formatted only when the caller turns it into a
//! reason string.
//!
//! Decisions:
//! * Pod IP slots in Terway ENI multi-IP mode are `(EniQuantity - 1) * EniPrivateIpAddressQuantity`.
//!   A node's total comes from the `k8s.aliyun.com/max-available-ip` annotation if present, else
//!   from the agent's ENI annotations, else from the built-in instance-type table; if none
//!   applies the capacity is unknown and the node is rejected as **unresolvable** (evicting pods
//!   cannot tell us the capacity; running eip-agent on the node can).
//! * A node with no free slot is **resolvable**: evicting a pod frees its slot.
//! * A zone whose vSwitches have no free IP is **resolvable** too: evicting a pod on the node
//!   returns its secondary IP to the node's ENI, where the new pod can reuse it. An unknown
//!   zone count (`None`) is not checked, so a slow cloud view never blocks scheduling.
//! * Region EIP quota (allocated + approved-but-not-yet-allocated must stay below the quota),
//!   the feature switch, host-network EIP pods and every named-EIP problem are
//!   **unresolvable** on filter: evicting pods that merely use a slot changes none of them.
//!   Only a victim whose new EIP is released with it (strategy `Follow`) returns a quota
//!   unit; [`preemption_makes_room`] counts those when the scheduler does propose victims.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Pod;

use crate::eni_config::{
    ALLOW_EIP_ROB, ENI_CONF_KEY, ENI_CONFIG_NAME, ENI_CONFIG_NAMESPACE, FeatureOff,
};
use crate::names;

/// The account's EIP quota per region when not configured (`eip_quota_instances_num`).
pub const DEFAULT_EIP_QUOTA: u32 = 20;

/// ENI facts of an ECS instance type (ECS `DescribeInstanceTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceTypeCapacity {
    /// `EniQuantity`: ENIs the instance may have, the primary one included.
    pub eni_quantity: u32,
    /// `EniPrivateIpAddressQuantity`: private IPs per ENI.
    pub eni_private_ip_quantity: u32,
}

impl InstanceTypeCapacity {
    /// Builds the facts.
    pub const fn new(eni_quantity: u32, eni_private_ip_quantity: u32) -> Self {
        Self {
            eni_quantity,
            eni_private_ip_quantity,
        }
    }

    /// ENIs available to pods (the primary ENI is the node's own).
    pub const fn secondary_enis(self) -> u32 {
        self.eni_quantity.saturating_sub(1)
    }

    /// Pod IP slots: `(EniQuantity - 1) * EniPrivateIpAddressQuantity`.
    pub const fn pod_ip_slots(self) -> u32 {
        self.secondary_enis()
            .saturating_mul(self.eni_private_ip_quantity)
    }
}

/// Instance types known without asking the cloud, used when a node carries no capacity
/// annotation. The same values the emulator (`eip-cloudsim`) serves.
pub const BUILTIN_INSTANCE_TYPES: &[(&str, InstanceTypeCapacity)] = &[
    ("ecs.g7.large", InstanceTypeCapacity::new(3, 10)),
    ("ecs.g7.xlarge", InstanceTypeCapacity::new(4, 15)),
    ("ecs.g7.2xlarge", InstanceTypeCapacity::new(4, 15)),
    ("ecs.c7.large", InstanceTypeCapacity::new(3, 10)),
    ("ecs.c7.xlarge", InstanceTypeCapacity::new(4, 15)),
    ("ecs.c7.2xlarge", InstanceTypeCapacity::new(4, 15)),
];

/// Looks an instance type up in [`BUILTIN_INSTANCE_TYPES`].
pub fn builtin_instance_type(instance_type: &str) -> Option<InstanceTypeCapacity> {
    BUILTIN_INSTANCE_TYPES
        .iter()
        .find(|(name, _)| *name == instance_type)
        .map(|(_, c)| *c)
}

/// Where a node's slot count came from (used to explain a rejection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotSource {
    /// The `k8s.aliyun.com/max-available-ip` annotation, with the ENI facts if the agent
    /// published them too.
    MaxAvailableIp(Option<InstanceTypeCapacity>),
    /// The agent's ENI annotations.
    EniAnnotations(InstanceTypeCapacity),
    /// The built-in instance-type table.
    BuiltinTable(InstanceTypeCapacity),
}

impl SlotSource {
    /// The ENI facts behind the count, if known.
    pub fn enis(self) -> Option<InstanceTypeCapacity> {
        match self {
            SlotSource::MaxAvailableIp(e) => e,
            SlotSource::EniAnnotations(e) | SlotSource::BuiltinTable(e) => Some(e),
        }
    }
}

/// Why a node's capacity is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownCapacity {
    /// No capacity annotation and no instance-type label.
    NoInstanceType,
    /// No capacity annotation and an instance type not in the built-in table.
    UnknownInstanceType,
    /// A capacity annotation that is not a whole number (the key is named).
    BadAnnotation(&'static str),
}

/// A node's pod IP capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeCapacity {
    /// `total` pod IP slots, and where that number came from.
    Known {
        /// Pod IP slots.
        total: u32,
        /// Source of the number.
        source: SlotSource,
    },
    /// Not known; the node is rejected.
    Unknown(UnknownCapacity),
}

impl NodeCapacity {
    /// Total slots if known.
    pub fn total(self) -> Option<u32> {
        match self {
            NodeCapacity::Known { total, .. } => Some(total),
            NodeCapacity::Unknown(_) => None,
        }
    }
}

/// The node's instance type label (current, then deprecated spelling).
pub fn node_instance_type(labels: &BTreeMap<String, String>) -> Option<&str> {
    labels
        .get(names::LABEL_INSTANCE_TYPE)
        .or_else(|| labels.get(names::LABEL_INSTANCE_TYPE_BETA))
        .map(String::as_str)
}

/// The node's zone label (current, then deprecated spelling).
pub fn node_zone(labels: &BTreeMap<String, String>) -> Option<&str> {
    labels
        .get(names::LABEL_ZONE)
        .or_else(|| labels.get(names::LABEL_ZONE_BETA))
        .map(String::as_str)
}

/// The node's region label (current, then deprecated spelling).
pub fn node_region(labels: &BTreeMap<String, String>) -> Option<&str> {
    labels
        .get(names::LABEL_REGION)
        .or_else(|| labels.get(names::LABEL_REGION_BETA))
        .map(String::as_str)
}

/// Works out a node's capacity from its labels and annotations (see the module docs for the
/// order of preference). Call it when the node changes, not per scheduling request.
pub fn node_capacity(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> NodeCapacity {
    let count = |key: &'static str| -> Option<Result<u32, UnknownCapacity>> {
        annotations
            .get(key)
            .map(|v| names::parse_count(key, v).map_err(|_| UnknownCapacity::BadAnnotation(key)))
    };
    let enis = match (
        count(names::NODE_ENI_QUANTITY),
        count(names::NODE_ENI_PRIVATE_IP_QUANTITY),
    ) {
        (Some(Ok(e)), Some(Ok(i))) => Some(Ok(InstanceTypeCapacity::new(e, i))),
        (Some(Err(u)), _) | (_, Some(Err(u))) => Some(Err(u)),
        _ => None,
    };
    match count(names::NODE_MAX_AVAILABLE_IP) {
        Some(Ok(total)) => {
            return NodeCapacity::Known {
                total,
                source: SlotSource::MaxAvailableIp(enis.and_then(Result::ok)),
            };
        }
        Some(Err(u)) => return NodeCapacity::Unknown(u),
        None => {}
    }
    match enis {
        Some(Ok(e)) => {
            return NodeCapacity::Known {
                total: e.pod_ip_slots(),
                source: SlotSource::EniAnnotations(e),
            };
        }
        Some(Err(u)) => return NodeCapacity::Unknown(u),
        None => {}
    }
    match node_instance_type(labels) {
        None => NodeCapacity::Unknown(UnknownCapacity::NoInstanceType),
        Some(t) => match builtin_instance_type(t) {
            Some(e) => NodeCapacity::Known {
                total: e.pod_ip_slots(),
                source: SlotSource::BuiltinTable(e),
            },
            None => NodeCapacity::Unknown(UnknownCapacity::UnknownInstanceType),
        },
    }
}

/// Whether a pod holds one of its node's pod IP slots: `hostNetwork` is false and the pod is
/// not Succeeded or Failed.
pub fn pod_uses_slot(pod: &Pod) -> bool {
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    let finished = matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    !host_network && !finished
}

/// Slots used by these pods (those for which [`pod_uses_slot`] holds).
pub fn count_used_slots<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> u32 {
    let n = pods.into_iter().filter(|p| pod_uses_slot(p)).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// State of a named EIP, as the extender's read-only cloud view sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedEipState<'a> {
    /// No such EIP in the region.
    Missing,
    /// `Available`: free to bind.
    Available,
    /// `InUse` on this same pod's IP (a retry or a restart).
    BoundToThisPod,
    /// `InUse` elsewhere; `by` names the ENI/IP or instance if known.
    BoundElsewhere {
        /// What holds it, for the message.
        by: Option<&'a str>,
    },
    /// In a transition (`Associating`, `Unassociating`, `Releasing`, locked, ...).
    Busy {
        /// The cloud's status string.
        status: &'a str,
    },
}

/// What EIP the pod needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EipDemand<'a> {
    /// No EIP.
    None,
    /// A new EIP: takes one unit of region quota.
    New,
    /// An EIP that already exists for it (kept under a release strategy): no new quota.
    Retained,
    /// An existing EIP named by the pod.
    Named {
        /// Allocation id.
        id: &'a str,
        /// Its state.
        state: NamedEipState<'a>,
    },
}

/// What the pod being scheduled needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodDemand<'a> {
    /// `spec.hostNetwork`: no pod IP slot is needed (and no EIP can be bound).
    pub host_network: bool,
    /// The EIP it needs.
    pub eip: EipDemand<'a>,
}

impl PodDemand<'_> {
    /// Whether the pod takes a pod IP slot on its node.
    pub fn needs_slot(&self) -> bool {
        !self.host_network
    }
}

/// What the extender knows about the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionView<'a> {
    /// Region id, for messages.
    pub region: &'a str,
    /// `enable_eip_pool` from `eni_conf`.
    pub eip_enabled: bool,
    /// `allow_eip_rob` from `eni_conf`.
    pub allow_eip_rob: bool,
    /// What is wrong with `eni-config` when it is invalid ([`EipSwitches::invalid`]).
    pub eip_invalid: Option<&'a str>,
    /// `eip_quota_instances_num` ([`DEFAULT_EIP_QUOTA`] unless configured).
    pub eip_quota: u32,
    /// EIPs allocated in the region (counted against the quota).
    pub eips_allocated: u32,
    /// EIP pods approved by the extender whose EIP is not allocated yet.
    pub eips_pending: u32,
}

impl RegionView<'_> {
    /// Whether one more new EIP fits under the quota.
    pub fn has_quota(&self) -> bool {
        self.eips_allocated.saturating_add(self.eips_pending) < self.eip_quota
    }
}

/// What the extender knows about one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeView<'a> {
    /// Node name.
    pub name: &'a str,
    /// Instance type label, for messages.
    pub instance_type: Option<&'a str>,
    /// Pod IP slots.
    pub capacity: NodeCapacity,
    /// Slots used by pods on the node ([`count_used_slots`]).
    pub used_slots: u32,
    /// Slots the extender granted that the watch has not shown yet.
    pub reserved_slots: u32,
    /// Zone, for messages.
    pub zone: Option<&'a str>,
    /// Free IPs in the zone's vSwitches; `None` when not known (not checked).
    pub zone_free_ips: Option<u32>,
}

impl NodeView<'_> {
    /// Free slots (0 when over-committed); `None` when the capacity is unknown.
    pub fn free_slots(&self) -> Option<u32> {
        self.capacity
            .total()
            .map(|t| t.saturating_sub(self.used_slots.saturating_add(self.reserved_slots)))
    }
}

/// Why a pod cannot go on a node. `Display` is the reason sent to kube-scheduler: every
/// sentence the extender answers with is written here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection<'a> {
    /// The pod's EIP annotations are invalid.
    InvalidAnnotations {
        /// The pod, `namespace/name`.
        pod: &'a str,
        /// Every problem, as [`crate::annotations::AnnotationError`] sentences.
        why: &'a str,
    },
    /// A named EIP on a workload that can run more than one pod, or whose owner cannot
    /// be read ([`crate::workload::shared_named_eip`]'s sentence).
    NamedEipShared {
        /// The sentence.
        why: &'a str,
    },
    /// The EIP inventory of the region has not been read yet.
    CloudViewMissing {
        /// Region.
        region: &'a str,
    },
    /// The node is not in the extender's view yet.
    UnknownNode {
        /// Node.
        node: &'a str,
    },
    /// `enable_eip_pool` is off, or `eni-config` is invalid.
    EipDisabled(FeatureOff<'a>),
    /// An EIP pod with `hostNetwork: true`.
    HostNetworkEip,
    /// Region quota reached.
    QuotaReached {
        /// Region.
        region: &'a str,
        /// EIPs allocated.
        allocated: u32,
        /// EIP pods approved, not yet allocated.
        pending: u32,
        /// Quota.
        quota: u32,
    },
    /// The named EIP does not exist.
    NamedEipMissing {
        /// Allocation id.
        id: &'a str,
        /// Region.
        region: &'a str,
    },
    /// The shared bandwidth package the pod's new EIP should join does not exist.
    BandwidthPackageMissing {
        /// `cbwp-...`.
        id: &'a str,
        /// Region.
        region: &'a str,
    },
    /// The named EIP is bound elsewhere and `allow_eip_rob` is off.
    NamedEipInUse {
        /// Allocation id.
        id: &'a str,
        /// What holds it, if known.
        by: Option<&'a str>,
    },
    /// The named EIP is in a transition.
    NamedEipBusy {
        /// Allocation id.
        id: &'a str,
        /// Cloud status.
        status: &'a str,
    },
    /// The node's capacity is unknown.
    UnknownCapacity {
        /// Node.
        node: &'a str,
        /// Instance type label.
        instance_type: Option<&'a str>,
        /// Why.
        cause: UnknownCapacity,
    },
    /// No free pod IP slot on the node.
    NoFreeSlots {
        /// Node.
        node: &'a str,
        /// Instance type label.
        instance_type: Option<&'a str>,
        /// Free slots (0, or what remains when a victim set is too small).
        free: u32,
        /// Total slots.
        total: u32,
        /// Where `total` came from.
        source: SlotSource,
    },
    /// No free IP in the zone's vSwitches.
    ZoneExhausted {
        /// Node.
        node: &'a str,
        /// Zone.
        zone: Option<&'a str>,
    },
}

impl Rejection<'_> {
    /// `true`: preemption could make room (`FailedNodes`); `false`: it cannot
    /// (`FailedAndUnresolvableNodes`).
    pub fn resolvable(&self) -> bool {
        matches!(
            self,
            Rejection::NoFreeSlots { .. } | Rejection::ZoneExhausted { .. }
        )
    }

    /// Whether the rejection is the same for every node (pod or region level).
    pub fn applies_to_every_node(&self) -> bool {
        !matches!(
            self,
            Rejection::UnknownNode { .. }
                | Rejection::UnknownCapacity { .. }
                | Rejection::NoFreeSlots { .. }
                | Rejection::ZoneExhausted { .. }
        )
    }
}

impl fmt::Display for Rejection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let eni_conf = format_args!(
            "key {ENI_CONF_KEY} of ConfigMap {ENI_CONFIG_NAMESPACE}/{ENI_CONFIG_NAME}"
        );
        match *self {
            Rejection::InvalidAnnotations { pod, why } => write!(
                f,
                "pod {pod} has invalid EIP annotations: {why}; fix the annotations and recreate the pod"
            ),
            Rejection::NamedEipShared { why } => f.write_str(why),
            Rejection::CloudViewMissing { region } => write!(
                f,
                "EIP inventory of region {region} is not loaded yet (cloud view unavailable); the pod is retried once eip-extender reaches the cloud API"
            ),
            Rejection::UnknownNode { node } => write!(
                f,
                "node {node} is not known to eip-extender yet; the pod is retried when the node watch shows it"
            ),
            Rejection::EipDisabled(off) => off.fmt(f),
            Rejection::HostNetworkEip => f.write_str(
                "the pod uses hostNetwork, so it has no pod IP to bind an EIP to; remove hostNetwork or the EIP annotations",
            ),
            Rejection::QuotaReached {
                region,
                allocated,
                pending: 0,
                quota,
            } => write!(
                f,
                "EIP quota reached in {region}: {allocated} of {quota} allocated; raise eip_quota_instances_num or release EIPs"
            ),
            Rejection::QuotaReached {
                region,
                allocated,
                pending,
                quota,
            } => write!(
                f,
                "EIP quota reached in {region}: {allocated} allocated and {pending} being allocated, quota {quota}; raise eip_quota_instances_num or release EIPs"
            ),
            Rejection::NamedEipMissing { id, region } => write!(
                f,
                "EIP {id} does not exist in {region}; check the pod-eip-instanceid annotation"
            ),
            Rejection::BandwidthPackageMissing { id, region } => write!(
                f,
                "shared bandwidth package {id} does not exist in {region}; check the eip-common-bandwidth-package-id annotation"
            ),
            Rejection::NamedEipInUse { id, by } => {
                write!(f, "EIP {id} is bound to ")?;
                match by {
                    Some(by) => f.write_str(by)?,
                    None => f.write_str("another resource")?,
                }
                write!(
                    f,
                    "; unbind it, or set \"{ALLOW_EIP_ROB}\": \"true\" in {eni_conf} to take it"
                )
            }
            Rejection::NamedEipBusy { id, status } => {
                write!(f, "EIP {id} is {status}; wait until it is Available")
            }
            Rejection::UnknownCapacity {
                node,
                instance_type,
                cause,
            } => {
                write!(f, "node {node} has unknown pod IP capacity: ")?;
                match (cause, instance_type) {
                    (UnknownCapacity::BadAnnotation(key), _) => {
                        write!(f, "annotation {key} is not a whole number")?
                    }
                    (_, Some(t)) => write!(
                        f,
                        "no {} annotation and instance type {t} is not in kube-eip's table",
                        names::NODE_MAX_AVAILABLE_IP
                    )?,
                    (_, None) => write!(
                        f,
                        "no {} annotation and no {} label",
                        names::NODE_MAX_AVAILABLE_IP,
                        names::LABEL_INSTANCE_TYPE
                    )?,
                }
                f.write_str("; run eip-agent on the node so it publishes its capacity")
            }
            Rejection::NoFreeSlots {
                node,
                instance_type,
                free,
                total,
                source,
            } => {
                write!(f, "node {node} has {free} of {total} pod IPs free (")?;
                match (source.enis(), instance_type) {
                    (Some(e), t) => write!(
                        f,
                        "{}: {} ENIs x {} IPs)",
                        t.unwrap_or("instance"),
                        e.secondary_enis(),
                        e.eni_private_ip_quantity
                    ),
                    (None, _) => write!(f, "{} = {total})", names::NODE_MAX_AVAILABLE_IP),
                }
            }
            Rejection::ZoneExhausted { node, zone } => {
                f.write_str("the vSwitches of zone ")?;
                f.write_str(zone.unwrap_or("(unknown)"))?;
                write!(
                    f,
                    " of node {node} have no free IP; add a vSwitch with free IPs to {eni_conf}, or free pod IPs on the node"
                )
            }
        }
    }
}

/// The pod- and region-level checks (same answer for every node): feature switch, host
/// network, quota, named EIP. Run once per request.
pub fn check_pod<'a>(pod: &PodDemand<'a>, region: &RegionView<'a>) -> Result<(), Rejection<'a>> {
    if matches!(pod.eip, EipDemand::None) {
        return Ok(());
    }
    if !region.eip_enabled {
        return Err(Rejection::EipDisabled(FeatureOff {
            invalid: region.eip_invalid,
        }));
    }
    if pod.host_network {
        return Err(Rejection::HostNetworkEip);
    }
    match pod.eip {
        EipDemand::None | EipDemand::Retained => Ok(()),
        EipDemand::New if region.has_quota() => Ok(()),
        EipDemand::New => Err(Rejection::QuotaReached {
            region: region.region,
            allocated: region.eips_allocated,
            pending: region.eips_pending,
            quota: region.eip_quota,
        }),
        EipDemand::Named { id, state } => match state {
            NamedEipState::Available | NamedEipState::BoundToThisPod => Ok(()),
            NamedEipState::BoundElsewhere { .. } if region.allow_eip_rob => Ok(()),
            NamedEipState::BoundElsewhere { by } => Err(Rejection::NamedEipInUse { id, by }),
            NamedEipState::Missing => Err(Rejection::NamedEipMissing {
                id,
                region: region.region,
            }),
            NamedEipState::Busy { status } => Err(Rejection::NamedEipBusy { id, status }),
        },
    }
}

/// The node-level checks: known capacity, a free slot, a free IP in the zone. Run per node;
/// allocation-free.
pub fn check_node<'a>(pod: &PodDemand<'_>, node: &NodeView<'a>) -> Result<(), Rejection<'a>> {
    if !pod.needs_slot() {
        return Ok(());
    }
    let (total, source) = match node.capacity {
        NodeCapacity::Known { total, source } => (total, source),
        NodeCapacity::Unknown(cause) => {
            return Err(Rejection::UnknownCapacity {
                node: node.name,
                instance_type: node.instance_type,
                cause,
            });
        }
    };
    let used = node.used_slots.saturating_add(node.reserved_slots);
    if used >= total {
        return Err(Rejection::NoFreeSlots {
            node: node.name,
            instance_type: node.instance_type,
            free: 0,
            total,
            source,
        });
    }
    if node.zone_free_ips == Some(0) {
        return Err(Rejection::ZoneExhausted {
            node: node.name,
            zone: node.zone,
        });
    }
    Ok(())
}

/// Both checks: can this pod go on this node, and if not, why.
pub fn check<'a>(
    pod: &PodDemand<'a>,
    region: &RegionView<'a>,
    node: &NodeView<'a>,
) -> Result<(), Rejection<'a>> {
    check_pod(pod, region)?;
    check_node(pod, node)
}

/// A pod the scheduler proposes to evict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Victim {
    /// It holds a pod IP slot on the node ([`pod_uses_slot`]).
    pub uses_slot: bool,
    /// It counts against the region quota (an EIP allocated for it, or approved and not yet
    /// allocated) and that EIP goes with the pod (a new EIP under release strategy
    /// `Follow`), so its eviction returns one unit. A named EIP, or one kept under `Never`
    /// or a duration, stays allocated and returns nothing.
    pub frees_eip_quota: bool,
}

/// Whether evicting `victims` lets the pod go on the node: the same checks as [`check`],
/// with the victims' slots and quota given back. Victims on the node also return their
/// secondary IPs to the node's ENIs, which makes an exhausted zone irrelevant for the pod.
///
/// Quota comes back only from victims whose EIP is released with them
/// ([`Victim::frees_eip_quota`]): for a pod that needs a new EIP in a region at its quota,
/// a node is fixed only if its victims both free a slot and release enough EIPs. Nothing
/// else that [`check_pod`] refuses (feature off, host network, named EIP) changes with an
/// eviction.
pub fn preemption_makes_room(
    pod: &PodDemand<'_>,
    region: &RegionView<'_>,
    node: &NodeView<'_>,
    victims: &[Victim],
) -> bool {
    let slots = victims.iter().filter(|v| v.uses_slot).count();
    let quota = victims.iter().filter(|v| v.frees_eip_quota).count();
    let slots = u32::try_from(slots).unwrap_or(u32::MAX);
    let quota = u32::try_from(quota).unwrap_or(u32::MAX);
    // a freed unit is an allocated EIP or an approved one not allocated yet: give back
    // allocated first, then pending, so the sum the quota check uses drops by `quota`
    let from_allocated = quota.min(region.eips_allocated);
    let region_after = RegionView {
        eips_allocated: region.eips_allocated - from_allocated,
        eips_pending: region.eips_pending.saturating_sub(quota - from_allocated),
        ..*region
    };
    // Victims are reserved-or-used pods; give back used first, then reservations.
    let from_used = slots.min(node.used_slots);
    let node_after = NodeView {
        used_slots: node.used_slots - from_used,
        reserved_slots: node.reserved_slots.saturating_sub(slots - from_used),
        zone_free_ips: match node.zone_free_ips {
            Some(0) if slots > 0 => Some(slots),
            other => other,
        },
        ..*node
    };
    check(pod, &region_after, &node_after).is_ok()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus};

    use super::*;

    /// (what, pod, node or region, expected (resolvable, reason))
    type Case<T> = (
        &'static str,
        PodDemand<'static>,
        T,
        Option<(bool, &'static str)>,
    );
    type CapacityCase<'a> = (
        &'a BTreeMap<String, String>,
        &'a BTreeMap<String, String>,
        NodeCapacity,
    );

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// `node("n1").instance_type("ecs.g7.large").used(20)`
    fn node(name: &'static str) -> NodeView<'static> {
        NodeView {
            name,
            instance_type: None,
            capacity: NodeCapacity::Unknown(UnknownCapacity::NoInstanceType),
            used_slots: 0,
            reserved_slots: 0,
            zone: Some("cn-hangzhou-h"),
            zone_free_ips: Some(100),
        }
    }

    trait NodeBuilder {
        fn instance_type(self, t: &'static str) -> Self;
        fn max_ips(self, n: u32) -> Self;
        fn used(self, n: u32) -> Self;
        fn reserved(self, n: u32) -> Self;
        fn zone_free(self, n: Option<u32>) -> Self;
    }

    impl NodeBuilder for NodeView<'static> {
        fn instance_type(mut self, t: &'static str) -> Self {
            self.instance_type = Some(t);
            self.capacity =
                node_capacity(&map(&[(names::LABEL_INSTANCE_TYPE, t)]), &BTreeMap::new());
            self
        }
        fn max_ips(mut self, n: u32) -> Self {
            self.capacity = NodeCapacity::Known {
                total: n,
                source: SlotSource::MaxAvailableIp(None),
            };
            self
        }
        fn used(mut self, n: u32) -> Self {
            self.used_slots = n;
            self
        }
        fn reserved(mut self, n: u32) -> Self {
            self.reserved_slots = n;
            self
        }
        fn zone_free(mut self, n: Option<u32>) -> Self {
            self.zone_free_ips = n;
            self
        }
    }

    fn region() -> RegionView<'static> {
        RegionView {
            region: "cn-hangzhou",
            eip_enabled: true,
            allow_eip_rob: false,
            eip_invalid: None,
            eip_quota: DEFAULT_EIP_QUOTA,
            eips_allocated: 0,
            eips_pending: 0,
        }
    }

    const PLAIN: PodDemand<'static> = PodDemand {
        host_network: false,
        eip: EipDemand::None,
    };
    const WITH_EIP: PodDemand<'static> = PodDemand {
        host_network: false,
        eip: EipDemand::New,
    };

    fn named(state: NamedEipState<'static>) -> PodDemand<'static> {
        PodDemand {
            host_network: false,
            eip: EipDemand::Named {
                id: "eip-abc",
                state,
            },
        }
    }

    fn verdict(
        pod: PodDemand<'_>,
        region: RegionView<'_>,
        node: NodeView<'_>,
    ) -> Option<(bool, String)> {
        check(&pod, &region, &node)
            .err()
            .map(|r| (r.resolvable(), r.to_string()))
    }

    #[test]
    fn slots_per_instance_type() {
        let cases = [
            ("ecs.g7.large", 3, 10, 20),
            ("ecs.g7.xlarge", 4, 15, 45),
            ("ecs.c7.2xlarge", 4, 15, 45),
        ];
        for (t, enis, ips, slots) in cases {
            let c = builtin_instance_type(t).expect(t);
            assert_eq!(
                (c.eni_quantity, c.eni_private_ip_quantity),
                (enis, ips),
                "{t}"
            );
            assert_eq!(c.pod_ip_slots(), slots, "{t}");
        }
        assert_eq!(InstanceTypeCapacity::new(1, 10).pod_ip_slots(), 0);
        assert_eq!(InstanceTypeCapacity::new(0, 10).pod_ip_slots(), 0);
        assert_eq!(builtin_instance_type("ecs.unknown.large"), None);
    }

    #[test]
    fn node_capacity_sources_in_order_of_preference() {
        let g7 = map(&[(names::LABEL_INSTANCE_TYPE, "ecs.g7.large")]);
        let g7_beta = map(&[(names::LABEL_INSTANCE_TYPE_BETA, "ecs.g7.large")]);
        let odd = map(&[(names::LABEL_INSTANCE_TYPE, "ecs.x9.huge")]);
        let none = BTreeMap::new();
        let max = map(&[(names::NODE_MAX_AVAILABLE_IP, "30")]);
        let enis = map(&[
            (names::NODE_ENI_QUANTITY, "5"),
            (names::NODE_ENI_PRIVATE_IP_QUANTITY, "20"),
        ]);
        let both = map(&[
            (names::NODE_MAX_AVAILABLE_IP, "30"),
            (names::NODE_ENI_QUANTITY, "4"),
            (names::NODE_ENI_PRIVATE_IP_QUANTITY, "10"),
        ]);
        let bad_max = map(&[(names::NODE_MAX_AVAILABLE_IP, "many")]);
        let bad_eni = map(&[
            (names::NODE_ENI_QUANTITY, "x"),
            (names::NODE_ENI_PRIVATE_IP_QUANTITY, "20"),
        ]);
        let e = InstanceTypeCapacity::new;
        let cases: &[CapacityCase<'_>] = &[
            (
                &g7,
                &none,
                NodeCapacity::Known {
                    total: 20,
                    source: SlotSource::BuiltinTable(e(3, 10)),
                },
            ),
            (
                &g7_beta,
                &none,
                NodeCapacity::Known {
                    total: 20,
                    source: SlotSource::BuiltinTable(e(3, 10)),
                },
            ),
            (
                &g7,
                &max,
                NodeCapacity::Known {
                    total: 30,
                    source: SlotSource::MaxAvailableIp(None),
                },
            ),
            (
                &odd,
                &enis,
                NodeCapacity::Known {
                    total: 80,
                    source: SlotSource::EniAnnotations(e(5, 20)),
                },
            ),
            (
                &g7,
                &both,
                NodeCapacity::Known {
                    total: 30,
                    source: SlotSource::MaxAvailableIp(Some(e(4, 10))),
                },
            ),
            (
                &odd,
                &none,
                NodeCapacity::Unknown(UnknownCapacity::UnknownInstanceType),
            ),
            (
                &none,
                &none,
                NodeCapacity::Unknown(UnknownCapacity::NoInstanceType),
            ),
            (
                &g7,
                &bad_max,
                NodeCapacity::Unknown(UnknownCapacity::BadAnnotation(names::NODE_MAX_AVAILABLE_IP)),
            ),
            (
                &g7,
                &bad_eni,
                NodeCapacity::Unknown(UnknownCapacity::BadAnnotation(names::NODE_ENI_QUANTITY)),
            ),
        ];
        for (i, (labels, annotations, want)) in cases.iter().enumerate() {
            assert_eq!(node_capacity(labels, annotations), *want, "case {i}");
        }
    }

    #[test]
    fn labels() {
        let l = map(&[
            (names::LABEL_REGION, "cn-hangzhou"),
            (names::LABEL_ZONE_BETA, "cn-hangzhou-h"),
        ]);
        assert_eq!(node_region(&l), Some("cn-hangzhou"));
        assert_eq!(node_zone(&l), Some("cn-hangzhou-h"));
        assert_eq!(node_instance_type(&l), None);
    }

    #[test]
    fn used_slots_count_running_non_host_network_pods() {
        let pod = |host: Option<bool>, phase: Option<&str>| Pod {
            spec: Some(PodSpec {
                host_network: host,
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: phase.map(str::to_owned),
                ..PodStatus::default()
            }),
            ..Pod::default()
        };
        let pods = [
            pod(None, Some("Running")),
            pod(Some(false), Some("Pending")),
            pod(None, None),
            pod(Some(true), Some("Running")),
            pod(None, Some("Succeeded")),
            pod(None, Some("Failed")),
            Pod::default(),
        ];
        let uses: Vec<bool> = pods.iter().map(pod_uses_slot).collect();
        assert_eq!(uses, [true, true, true, false, false, false, true]);
        assert_eq!(count_used_slots(&pods), 4);
    }

    #[test]
    fn node_verdicts() {
        let g7 = || node("n1").instance_type("ecs.g7.large");
        let cases: Vec<Case<NodeView<'static>>> = vec![
            ("empty node", WITH_EIP, g7(), None),
            ("one slot left", WITH_EIP, g7().used(19), None),
            (
                "zero free slots",
                WITH_EIP,
                g7().used(20),
                Some((
                    true,
                    "node n1 has 0 of 20 pod IPs free (ecs.g7.large: 2 ENIs x 10 IPs)",
                )),
            ),
            (
                "over-committed",
                PLAIN,
                g7().used(25),
                Some((
                    true,
                    "node n1 has 0 of 20 pod IPs free (ecs.g7.large: 2 ENIs x 10 IPs)",
                )),
            ),
            (
                "reservations count",
                WITH_EIP,
                g7().used(18).reserved(2),
                Some((
                    true,
                    "node n1 has 0 of 20 pod IPs free (ecs.g7.large: 2 ENIs x 10 IPs)",
                )),
            ),
            (
                "published max",
                PLAIN,
                node("n2").max_ips(3).used(3),
                Some((
                    true,
                    "node n2 has 0 of 3 pod IPs free (k8s.aliyun.com/max-available-ip = 3)",
                )),
            ),
            (
                "host network needs no slot",
                PodDemand {
                    host_network: true,
                    eip: EipDemand::None,
                },
                g7().used(20),
                None,
            ),
            (
                "unknown instance type",
                WITH_EIP,
                node("n3").instance_type("ecs.x9.huge"),
                Some((
                    false,
                    "node n3 has unknown pod IP capacity: no k8s.aliyun.com/max-available-ip annotation and instance type ecs.x9.huge is not in kube-eip's table; run eip-agent on the node so it publishes its capacity",
                )),
            ),
            (
                "no instance type",
                PLAIN,
                node("n4"),
                Some((
                    false,
                    "node n4 has unknown pod IP capacity: no k8s.aliyun.com/max-available-ip annotation and no node.kubernetes.io/instance-type label; run eip-agent on the node so it publishes its capacity",
                )),
            ),
            (
                "zone exhausted",
                PLAIN,
                g7().zone_free(Some(0)),
                Some((
                    true,
                    "the vSwitches of zone cn-hangzhou-h of node n1 have no free IP; add a vSwitch with free IPs to key eni_conf of ConfigMap kube-system/eni-config, or free pod IPs on the node",
                )),
            ),
            (
                "zone unknown is not checked",
                PLAIN,
                g7().zone_free(None),
                None,
            ),
            ("zone with one IP", PLAIN, g7().zone_free(Some(1)), None),
        ];
        for (what, pod, n, want) in cases {
            let got = verdict(pod, region(), n);
            assert_eq!(got.as_ref().map(|(r, s)| (*r, s.as_str())), want, "{what}");
        }
        let bad = NodeView {
            capacity: NodeCapacity::Unknown(UnknownCapacity::BadAnnotation(
                names::NODE_MAX_AVAILABLE_IP,
            )),
            ..node("n5")
        };
        assert_eq!(
            verdict(PLAIN, region(), bad).map(|(_, s)| s).as_deref(),
            Some(
                "node n5 has unknown pod IP capacity: annotation k8s.aliyun.com/max-available-ip is not a whole number; run eip-agent on the node so it publishes its capacity"
            )
        );
    }

    #[test]
    fn region_verdicts() {
        let n = || node("n1").instance_type("ecs.g7.xlarge");
        let quota = |allocated, pending| RegionView {
            eips_allocated: allocated,
            eips_pending: pending,
            ..region()
        };
        let cases: Vec<Case<RegionView<'static>>> = vec![
            ("below quota", WITH_EIP, quota(19, 0), None),
            (
                "quota exactly reached",
                WITH_EIP,
                quota(20, 0),
                Some((
                    false,
                    "EIP quota reached in cn-hangzhou: 20 of 20 allocated; raise eip_quota_instances_num or release EIPs",
                )),
            ),
            (
                "pending counts",
                WITH_EIP,
                quota(18, 2),
                Some((
                    false,
                    "EIP quota reached in cn-hangzhou: 18 allocated and 2 being allocated, quota 20; raise eip_quota_instances_num or release EIPs",
                )),
            ),
            ("quota irrelevant without EIP", PLAIN, quota(20, 5), None),
            (
                "retained EIP needs no quota",
                PodDemand {
                    host_network: false,
                    eip: EipDemand::Retained,
                },
                quota(20, 0),
                None,
            ),
            (
                "named EIP needs no quota",
                named(NamedEipState::Available),
                quota(20, 0),
                None,
            ),
            (
                "feature off",
                WITH_EIP,
                RegionView {
                    eip_enabled: false,
                    ..region()
                },
                Some((
                    false,
                    "the EIP feature is off; set \"enable_eip_pool\": \"true\" in key eni_conf of ConfigMap kube-system/eni-config",
                )),
            ),
            (
                "eni-config invalid",
                WITH_EIP,
                RegionView {
                    eip_enabled: false,
                    eip_invalid: Some("enable_eip_pool is \"yes\""),
                    ..region()
                },
                Some((
                    false,
                    "the EIP feature is off because ConfigMap kube-system/eni-config is invalid: enable_eip_pool is \"yes\"; fix it (no restart needed)",
                )),
            ),
            (
                "feature off does not affect plain pods",
                PLAIN,
                RegionView {
                    eip_enabled: false,
                    ..region()
                },
                None,
            ),
            (
                "host network EIP",
                PodDemand {
                    host_network: true,
                    eip: EipDemand::New,
                },
                region(),
                Some((
                    false,
                    "the pod uses hostNetwork, so it has no pod IP to bind an EIP to; remove hostNetwork or the EIP annotations",
                )),
            ),
            (
                "named missing",
                named(NamedEipState::Missing),
                region(),
                Some((
                    false,
                    "EIP eip-abc does not exist in cn-hangzhou; check the pod-eip-instanceid annotation",
                )),
            ),
            (
                "named on this pod",
                named(NamedEipState::BoundToThisPod),
                region(),
                None,
            ),
            (
                "named elsewhere",
                named(NamedEipState::BoundElsewhere {
                    by: Some("eni-9 (10.0.0.7)"),
                }),
                region(),
                Some((
                    false,
                    "EIP eip-abc is bound to eni-9 (10.0.0.7); unbind it, or set \"allow_eip_rob\": \"true\" in key eni_conf of ConfigMap kube-system/eni-config to take it",
                )),
            ),
            (
                "named elsewhere, rob allowed",
                named(NamedEipState::BoundElsewhere { by: None }),
                RegionView {
                    allow_eip_rob: true,
                    ..region()
                },
                None,
            ),
            (
                "named busy",
                named(NamedEipState::Busy {
                    status: "Unassociating",
                }),
                region(),
                Some((
                    false,
                    "EIP eip-abc is Unassociating; wait until it is Available",
                )),
            ),
        ];
        for (what, pod, r, want) in cases {
            let got = verdict(pod, r, n());
            assert_eq!(got.as_ref().map(|(r, s)| (*r, s.as_str())), want, "{what}");
            if let Err(rej) = check_pod(&pod, &r) {
                assert!(rej.applies_to_every_node(), "{what}");
            }
        }
    }

    #[test]
    fn pod_level_rejection_comes_before_node_level() {
        let full = node("n1").instance_type("ecs.g7.large").used(20);
        let r = RegionView {
            eips_allocated: 20,
            ..region()
        };
        let got = check(&WITH_EIP, &r, &full).err();
        assert!(
            matches!(got, Some(Rejection::QuotaReached { .. })),
            "{got:?}"
        );
        assert!(
            !check_node(&WITH_EIP, &full)
                .err()
                .is_some_and(|r| r.applies_to_every_node())
        );
    }

    #[test]
    fn free_slots() {
        assert_eq!(
            node("n1")
                .instance_type("ecs.g7.large")
                .used(5)
                .reserved(1)
                .free_slots(),
            Some(14)
        );
        assert_eq!(node("n1").max_ips(2).used(9).free_slots(), Some(0));
        assert_eq!(node("n1").free_slots(), None);
    }

    #[test]
    fn preemption() {
        const SLOT: Victim = Victim {
            uses_slot: true,
            frees_eip_quota: false,
        };
        const HOST: Victim = Victim {
            uses_slot: false,
            frees_eip_quota: false,
        };
        // an EIP pod whose new EIP is released with it (Follow)
        const FOLLOW: Victim = Victim {
            uses_slot: true,
            frees_eip_quota: true,
        };
        let full = node("n1").instance_type("ecs.g7.large").used(20);
        let roomy = node("n1").instance_type("ecs.g7.large").used(5);
        // 19 used + 2 reserved of 20
        let reserved = node("n1")
            .instance_type("ecs.g7.large")
            .used(19)
            .reserved(2);
        let zone_dry = node("n1").instance_type("ecs.g7.large").zone_free(Some(0));
        let at_quota = RegionView {
            eips_allocated: 20,
            ..region()
        };
        let two_over = RegionView {
            eips_allocated: 21,
            ..region()
        };
        // quota used up by approved pods whose EIPs are not allocated yet
        let pending_only = RegionView {
            eips_pending: 20,
            ..region()
        };
        let rob_off_in_use = named(NamedEipState::BoundElsewhere { by: Some("eni-1") });
        let off = RegionView {
            eip_enabled: false,
            ..region()
        };
        // (what, pod, region, node, victims, node kept)
        type PreemptCase = (
            &'static str,
            PodDemand<'static>,
            RegionView<'static>,
            NodeView<'static>,
            Vec<Victim>,
            bool,
        );
        let cases: Vec<PreemptCase> = vec![
            (
                "a slot freed on a full node",
                PLAIN,
                region(),
                full,
                vec![SLOT],
                true,
            ),
            (
                "EIP pod, quota left, slot freed",
                WITH_EIP,
                region(),
                full,
                vec![SLOT],
                true,
            ),
            (
                "host-network victims free no slot",
                WITH_EIP,
                region(),
                full,
                vec![HOST, HOST],
                false,
            ),
            ("no victims", WITH_EIP, region(), full, vec![], false),
            (
                "reservations: one victim is not enough",
                PLAIN,
                region(),
                reserved,
                vec![SLOT],
                false,
            ),
            (
                "reservations: two victims are",
                PLAIN,
                region(),
                reserved,
                vec![SLOT, SLOT],
                true,
            ),
            (
                "exhausted zone: a victim's IP goes back to the ENI",
                PLAIN,
                region(),
                zone_dry,
                vec![SLOT],
                true,
            ),
            (
                "exhausted zone: nothing returned",
                PLAIN,
                region(),
                zone_dry,
                vec![HOST],
                false,
            ),
            (
                "at quota: a victim without a released EIP frees no unit",
                WITH_EIP,
                at_quota,
                full,
                vec![SLOT],
                false,
            ),
            (
                "at quota: a Follow victim frees a unit and its slot",
                WITH_EIP,
                at_quota,
                full,
                vec![FOLLOW],
                true,
            ),
            (
                "at quota, node roomy: a Follow victim is enough",
                WITH_EIP,
                at_quota,
                roomy,
                vec![FOLLOW],
                true,
            ),
            (
                "at quota, node roomy: other victims do not help",
                WITH_EIP,
                at_quota,
                roomy,
                vec![SLOT, SLOT],
                false,
            ),
            (
                "one over quota: one Follow victim is not enough",
                WITH_EIP,
                two_over,
                full,
                vec![FOLLOW],
                false,
            ),
            (
                "one over quota: two are",
                WITH_EIP,
                two_over,
                full,
                vec![FOLLOW, FOLLOW, SLOT],
                true,
            ),
            (
                "quota held by pending approvals: a pending Follow victim frees one",
                WITH_EIP,
                pending_only,
                full,
                vec![FOLLOW],
                true,
            ),
            (
                "a retained EIP needs no unit",
                PodDemand {
                    host_network: false,
                    eip: EipDemand::Retained,
                },
                at_quota,
                full,
                vec![SLOT],
                true,
            ),
            (
                "named EIP bound elsewhere: no eviction helps",
                rob_off_in_use,
                region(),
                full,
                vec![FOLLOW, SLOT],
                false,
            ),
            (
                "named EIP missing: no eviction helps",
                named(NamedEipState::Missing),
                at_quota,
                full,
                vec![FOLLOW],
                false,
            ),
            (
                "feature off: no eviction helps",
                WITH_EIP,
                off,
                full,
                vec![FOLLOW],
                false,
            ),
            (
                "unknown capacity is never fixed by eviction",
                PLAIN,
                region(),
                node("n9"),
                vec![SLOT, SLOT],
                false,
            ),
        ];
        for (what, pod, region, node, victims, want) in cases {
            assert_eq!(
                preemption_makes_room(&pod, &region, &node, &victims),
                want,
                "{what}"
            );
        }
    }
}
