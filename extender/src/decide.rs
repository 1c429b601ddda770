//! Pure filter, prioritize and preempt decisions over a [`ClusterState`]: data in,
//! verdicts out, each rejection a sentence a user can act on and a class saying whether
//! preemption could help.

use serde::{Deserialize, Serialize};

use eip_cloud::model::EipStatus;
use eip_core::capacity::{self, EipDemand, NamedEipState, NodeView, PodDemand, RegionView, Victim};
use eip_core::workload;

use crate::state::{ClusterState, EipNeed, NodeEntry, NodeFacts, PodView};

/// Whether preemption could fix a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Goes in `FailedNodes`: evicting pods could make room.
    Resolvable,
    /// Goes in `FailedAndUnresolvableNodes`: nothing on the node can help.
    Unresolvable,
}

/// Why a node was rejected (the metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonKind {
    /// No free pod IP slot on the node.
    NodeFull,
    /// The node's zone has no free vSwitch IP.
    ZoneExhausted,
    /// The node's pod IP capacity is unknown.
    CapacityUnknown,
    /// The node is not in the extender's view.
    UnknownNode,
    /// The region's EIP quota is used up.
    QuotaReached,
    /// The cloud view has not loaded yet.
    CloudViewMissing,
    /// The named EIP does not exist.
    NamedEipMissing,
    /// The named EIP is bound elsewhere and robbing is off.
    NamedEipInUse,
    /// The named EIP is in a transition.
    NamedEipBusy,
    /// The pod's EIP annotations are invalid.
    InvalidAnnotations,
    /// The pod asks for an EIP but uses the host network.
    HostNetworkEip,
    /// The pod asks for an EIP but the feature is off in eni-config.
    EipDisabled,
    /// The shared bandwidth package the new EIP should join does not exist.
    BandwidthPackageMissing,
    /// A named EIP on a workload that can run more than one pod, or whose owner cannot be
    /// read.
    NamedEipShared,
}

impl ReasonKind {
    /// Every kind, for metric pre-registration and tests.
    pub const ALL: [ReasonKind; 14] = [
        ReasonKind::NodeFull,
        ReasonKind::ZoneExhausted,
        ReasonKind::CapacityUnknown,
        ReasonKind::UnknownNode,
        ReasonKind::QuotaReached,
        ReasonKind::CloudViewMissing,
        ReasonKind::NamedEipMissing,
        ReasonKind::NamedEipInUse,
        ReasonKind::NamedEipBusy,
        ReasonKind::InvalidAnnotations,
        ReasonKind::HostNetworkEip,
        ReasonKind::EipDisabled,
        ReasonKind::BandwidthPackageMissing,
        ReasonKind::NamedEipShared,
    ];

    /// Stable snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonKind::NodeFull => "node_full",
            ReasonKind::ZoneExhausted => "zone_exhausted",
            ReasonKind::CapacityUnknown => "capacity_unknown",
            ReasonKind::UnknownNode => "unknown_node",
            ReasonKind::QuotaReached => "quota_reached",
            ReasonKind::CloudViewMissing => "cloud_view_missing",
            ReasonKind::NamedEipMissing => "named_eip_missing",
            ReasonKind::NamedEipInUse => "named_eip_in_use",
            ReasonKind::NamedEipBusy => "named_eip_busy",
            ReasonKind::InvalidAnnotations => "invalid_annotations",
            ReasonKind::HostNetworkEip => "host_network_eip",
            ReasonKind::EipDisabled => "eip_disabled",
            ReasonKind::BandwidthPackageMissing => "bandwidth_package_missing",
            ReasonKind::NamedEipShared => "named_eip_shared",
        }
    }
}

/// A rejected node (or region) with its class and sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Resolvable by preemption or not.
    pub class: Class,
    /// Metric label.
    pub kind: ReasonKind,
    /// One sentence a user can act on.
    pub message: String,
}

impl Rejection {
    fn new(class: Class, kind: ReasonKind, message: String) -> Self {
        Self {
            class,
            kind,
            message,
        }
    }

    /// From eip-core's capacity-model verdict.
    fn from_core(r: &capacity::Rejection<'_>) -> Self {
        use capacity::Rejection as R;
        let kind = match r {
            R::InvalidAnnotations { .. } => ReasonKind::InvalidAnnotations,
            R::NamedEipShared { .. } => ReasonKind::NamedEipShared,
            R::CloudViewMissing { .. } => ReasonKind::CloudViewMissing,
            R::UnknownNode { .. } => ReasonKind::UnknownNode,
            R::EipDisabled(_) => ReasonKind::EipDisabled,
            R::HostNetworkEip => ReasonKind::HostNetworkEip,
            R::QuotaReached { .. } => ReasonKind::QuotaReached,
            R::NamedEipMissing { .. } => ReasonKind::NamedEipMissing,
            R::BandwidthPackageMissing { .. } => ReasonKind::BandwidthPackageMissing,
            R::NamedEipInUse { .. } => ReasonKind::NamedEipInUse,
            R::NamedEipBusy { .. } => ReasonKind::NamedEipBusy,
            R::UnknownCapacity { .. } => ReasonKind::CapacityUnknown,
            R::NoFreeSlots { .. } => ReasonKind::NodeFull,
            R::ZoneExhausted { .. } => ReasonKind::ZoneExhausted,
        };
        let class = if r.resolvable() {
            Class::Resolvable
        } else {
            Class::Unresolvable
        };
        Self::new(class, kind, r.to_string())
    }
}

/// How prioritize ranks nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scoring {
    /// Most free pod IP slots first.
    #[default]
    Spread,
    /// Fewest free pod IP slots (that still fit) first.
    Binpack,
}

/// The region as eip-core's capacity model sees it.
fn region_view(state: &ClusterState) -> RegionView<'_> {
    RegionView {
        region: state
            .cloud
            .as_ref()
            .map_or(state.region.as_str(), |c| c.region.as_str()),
        eip_enabled: state.switches.eip_enabled,
        allow_eip_rob: state.switches.allow_rob,
        eip_invalid: state.switches.invalid.as_deref(),
        eip_quota: state.quota,
        eips_allocated: state.allocated_eips().unwrap_or(0),
        eips_pending: state.approved_unallocated(),
    }
}

/// What EIP the pod needs, resolved against the view. `None` for the EIP kinds that need
/// the cloud view when it has not loaded.
fn eip_demand<'a>(state: &'a ClusterState, pod: &'a PodView) -> Option<EipDemand<'a>> {
    match &pod.eip {
        EipNeed::None | EipNeed::Invalid(_) => Some(EipDemand::None),
        EipNeed::Auto => {
            if state.podeip(&pod.namespace, &pod.name).is_some() {
                // an EIP kept for this namespace/name under a release strategy
                return Some(EipDemand::Retained);
            }
            state.cloud.as_ref().map(|_| EipDemand::New)
        }
        EipNeed::Named(id) => {
            let cloud = state.cloud.as_ref()?;
            let eip = cloud.eips.get(id.as_ref());
            let st = match eip.map(|e| (e, e.status.parse::<EipStatus>())) {
                None => NamedEipState::Missing,
                Some((_, Ok(EipStatus::Available))) => NamedEipState::Available,
                Some((e, Ok(EipStatus::InUse))) => {
                    if state.podeip(&pod.namespace, &pod.name) == Some(id.as_ref()) {
                        NamedEipState::BoundToThisPod
                    } else {
                        NamedEipState::BoundElsewhere {
                            by: e.instance_id.as_deref().or(e.private_ip.as_deref()),
                        }
                    }
                }
                Some((e, _)) => NamedEipState::Busy {
                    status: e.status.as_str(),
                },
            };
            Some(EipDemand::Named { id, state: st })
        }
    }
}

/// Whether a new EIP (a quota unit) is what the pod needs.
pub fn needs_quota_unit(state: &ClusterState, pod: &PodView) -> bool {
    state.switches.eip_enabled
        && !pod.host_network
        && matches!(eip_demand(state, pod), Some(EipDemand::New))
}

/// Checks that do not depend on the node: annotation validity, feature switch, region
/// quota, named EIP. A rejection here is unresolvable and applies to every node.
pub fn region_check(state: &ClusterState, pod: &PodView) -> Option<Rejection> {
    if pod.eip == EipNeed::None {
        return None;
    }
    let who = format!("{}/{}", pod.namespace, pod.name);
    if let EipNeed::Invalid(why) = &pod.eip {
        return Some(Rejection::from_core(
            &capacity::Rejection::InvalidAnnotations { pod: &who, why },
        ));
    }
    if let Some(why) = shared_named_eip(pod) {
        return Some(Rejection::from_core(&capacity::Rejection::NamedEipShared {
            why: &why,
        }));
    }
    let region = region_view(state);
    let demand = match eip_demand(state, pod) {
        Some(d) => d,
        None => {
            // the cloud view is needed; report the switch and host network first
            let probe = PodDemand {
                host_network: pod.host_network,
                eip: EipDemand::Retained,
            };
            if let Err(r) = capacity::check_pod(&probe, &region) {
                return Some(Rejection::from_core(&r));
            }
            return Some(Rejection::from_core(
                &capacity::Rejection::CloudViewMissing {
                    region: &state.region,
                },
            ));
        }
    };
    let new_eip = demand == EipDemand::New;
    let demand = PodDemand {
        host_network: pod.host_network,
        eip: demand,
    };
    if let Err(r) = capacity::check_pod(&demand, &region) {
        return Some(Rejection::from_core(&r));
    }
    // A new EIP that would join a shared bandwidth package that does not exist: the
    // agent's AddCommonBandwidthPackageIp would fail after the EIP was allocated.
    let package = pod.bandwidth_package.as_deref().filter(|_| new_eip)?;
    let known = state.cloud.as_ref()?.bandwidth_packages.as_ref()?;
    (!known.contains(package)).then(|| {
        Rejection::from_core(&capacity::Rejection::BandwidthPackageMissing {
            id: package,
            region: region.region,
        })
    })
}

/// A named EIP on a workload that can run more than one pod (eip-core's one policy, the
/// agent's sentence). An owner that must be read and was not (bind, preempt: filter read
/// it) is not judged here.
fn shared_named_eip(pod: &PodView) -> Option<String> {
    let EipNeed::Named(id) = &pod.eip else {
        return None;
    };
    let (kind, name) = pod.controller.as_ref()?;
    let owner = match &pod.owner {
        Some(o) => o.clone(),
        None if workload::must_read(kind) => return None,
        None => workload::Owner::by_kind(kind, name),
    };
    workload::shared_named_eip(id, &owner)
}

/// Free IPs per zone, copied once per request into a short list (a cluster has a handful
/// of zones), so the per-node lookup is a few string compares rather than a hash.
#[derive(Debug, Default)]
pub struct Zones<'a>(Vec<(&'a str, u32)>);

impl<'a> Zones<'a> {
    /// The zones of the state's cloud view.
    pub fn of(state: &'a ClusterState) -> Self {
        Zones(
            state
                .cloud
                .iter()
                .flat_map(|c| c.zone_free_ips.iter())
                .map(|(z, n)| (z.as_str(), u32::try_from(*n).unwrap_or(u32::MAX)))
                .collect(),
        )
    }

    fn free(&self, zone: &str) -> Option<u32> {
        self.0.iter().find(|(z, _)| *z == zone).map(|(_, n)| *n)
    }
}

fn node_view<'a>(
    zones: &Zones<'_>,
    name: &'a str,
    facts: &'a NodeFacts,
    entry: Option<&NodeEntry>,
) -> NodeView<'a> {
    let zone = facts.zone.as_deref();
    NodeView {
        name,
        instance_type: facts.instance_type.as_deref(),
        capacity: facts.capacity,
        used_slots: entry.map_or(0, |e| e.used),
        reserved_slots: entry.map_or(0, |e| e.reserved),
        zone,
        zone_free_ips: zone.and_then(|z| zones.free(z)),
    }
}

/// The rejection of a node the view does not know.
pub fn unknown_node(name: &str) -> Rejection {
    Rejection::from_core(&capacity::Rejection::UnknownNode { node: name })
}

/// Node-level checks: capacity known, a free slot, a free IP in the zone. `facts` comes
/// from the request's Node object when the view lacks the node, else from the view.
/// Returns the free slots when the node fits (0 for host-network pods, which need none).
pub fn node_check(
    state: &ClusterState,
    pod: &PodView,
    name: &str,
    facts: Option<&NodeFacts>,
    entry: Option<&NodeEntry>,
) -> Result<u32, Rejection> {
    node_check_in(&Zones::of(state), pod, name, facts, entry)
}

fn node_check_in(
    zones: &Zones<'_>,
    pod: &PodView,
    name: &str,
    facts: Option<&NodeFacts>,
    entry: Option<&NodeEntry>,
) -> Result<u32, Rejection> {
    if pod.host_network {
        return Ok(0);
    }
    let Some(facts) = facts.or_else(|| entry.and_then(|e| e.facts.as_ref())) else {
        return Err(unknown_node(name));
    };
    let view = node_view(zones, name, facts, entry);
    let demand = PodDemand {
        host_network: false,
        eip: EipDemand::None,
    };
    capacity::check_node(&demand, &view).map_err(|r| Rejection::from_core(&r))?;
    Ok(view.free_slots().unwrap_or(0))
}

/// Verdict on one node.
pub type NodeVerdict = Result<u32, Rejection>;

/// Filter a list of candidate nodes. `request_facts[i]` is the node's facts parsed from
/// the request (full-Nodes mode) or `None` (names mode).
pub fn filter<'a>(
    state: &ClusterState,
    pod: &PodView,
    names: impl IntoIterator<Item = (&'a str, Option<&'a NodeFacts>)>,
) -> Vec<NodeVerdict> {
    let region = region_check(state, pod);
    let zones = Zones::of(state);
    names
        .into_iter()
        .map(|(name, facts)| {
            if let Some(r) = &region {
                return Err(r.clone());
            }
            let entry = state.node(name);
            node_check_in(&zones, pod, name, facts, entry)
        })
        .collect()
}

/// Scores 0..=10 for each candidate, using the whole range: the best node gets 10, the
/// worst that still fits 0; nodes that do not fit get 0. Host-network pods need no slot,
/// so every node scores 0 (no preference).
pub fn prioritize(scoring: Scoring, verdicts: &[NodeVerdict], pod: &PodView) -> Vec<i64> {
    if pod.host_network {
        return vec![0; verdicts.len()];
    }
    let fits = verdicts.iter().filter_map(|v| v.as_ref().ok().copied());
    let (min, max) = fits.fold((u32::MAX, 0u32), |(lo, hi), f| (lo.min(f), hi.max(f)));
    verdicts
        .iter()
        .map(|v| match v {
            Err(_) => 0,
            Ok(free) => {
                if max <= min {
                    return 10;
                }
                let range = i64::from(max - min);
                let above = match scoring {
                    Scoring::Spread => i64::from(free - min),
                    Scoring::Binpack => i64::from(max - free),
                };
                (above * 10 + range / 2) / range
            }
        })
        .collect()
}

/// One preemption candidate: a node and what evicting each proposed victim gives back
/// (a slot on this node, a region quota unit).
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// Node name.
    pub node: &'a str,
    /// Per victim.
    pub victims: &'a [Victim],
}

/// Which candidates to keep: nodes where the pod fits once the victims are gone (eip-core's
/// `preemption_makes_room`). Nodes where nothing can help are dropped: no victims, a node
/// unknown or of unknown capacity, and every node when a region check other than quota
/// fails (feature off, host network, invalid annotations, named EIP, no cloud view). For a
/// pod that needs a new EIP in a region at its quota (which filter reports unresolvable,
/// so the scheduler seldom asks), a node is kept only if its victims also release enough
/// EIPs (auto-allocated, release strategy `Follow`) to bring the region under quota.
pub fn preempt(state: &ClusterState, pod: &PodView, candidates: &[Candidate<'_>]) -> Vec<bool> {
    if region_check(state, pod).is_some_and(|r| r.kind != ReasonKind::QuotaReached) {
        return vec![false; candidates.len()];
    }
    let region = region_view(state);
    let zones = Zones::of(state);
    let demand = PodDemand {
        host_network: pod.host_network,
        eip: eip_demand(state, pod).unwrap_or(EipDemand::None),
    };
    candidates
        .iter()
        .map(|c| {
            if c.victims.is_empty() {
                return false;
            }
            let entry = state.node(c.node);
            let Some(facts) = entry.and_then(|e| e.facts.as_ref()) else {
                return false;
            };
            let view = node_view(&zones, c.node, facts, entry);
            capacity::preemption_makes_room(&demand, &region, &view, c.victims)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{CloudView, EipFacts, EniSwitches};
    use crate::testkit::{node, pod};
    use std::collections::HashMap;

    fn eip(id: &str, status: &str) -> (String, EipFacts) {
        (
            id.to_string(),
            EipFacts {
                allocation_id: id.to_string(),
                status: status.to_string(),
                instance_id: (status == "InUse").then(|| "eni-other".to_string()),
                private_ip: (status == "InUse").then(|| "10.0.0.9".to_string()),
            },
        )
    }

    /// A region with quota 20, the feature on, zones a (free IPs) and b (none), and
    /// nodes: n1 (ecs.g7.large 3x10, 20 slots, 5 used), full (max-ips 2, 2 used),
    /// unknown (no capacity), inb (zone b, free slots).
    fn world(allocated: usize, rob: bool) -> ClusterState {
        let mut s = ClusterState::new(20, "cn-hangzhou");
        s.switches = EniSwitches::new(true, rob);
        let mut eips: HashMap<String, EipFacts> = (0..allocated)
            .map(|i| eip(&format!("eip-alloc{i}"), "InUse"))
            .collect();
        eips.extend([
            eip("eip-free", "Available"),
            eip("eip-busy", "InUse"),
            eip("eip-moving", "Associating"),
        ]);
        s.cloud = Some(CloudView {
            region: "cn-hangzhou".into(),
            eips,
            zone_free_ips: HashMap::from([("a".to_string(), 100), ("b".to_string(), 0)]),
            bandwidth_packages: Some(["cbwp-1".to_string()].into()),
            fetched_at: None,
        });
        s.apply_node(
            node("n1")
                .instance_type_with("ecs.g7.large", 3, 10)
                .zone("a")
                .build(),
        );
        s.apply_node(node("full").max_ips(2).zone("a").build());
        s.apply_node(node("unknown").build());
        s.apply_node(node("inb").max_ips(10).zone("b").build());
        for i in 0..5 {
            s.apply_pod(pod(&format!("a{i}")).on("n1").build());
        }
        s.apply_pod(pod("f0").on("full").build());
        s.apply_pod(pod("f1").on("full").build());
        s
    }

    #[test]
    fn every_rejection_reason_and_class() {
        struct Case {
            what: &'static str,
            state: ClusterState,
            pod: PodView,
            node: &'static str,
            want: Option<(ReasonKind, Class, &'static str)>,
        }
        let no_cloud = {
            let mut s = world(0, false);
            s.cloud = None;
            s
        };
        let cases = vec![
            Case {
                what: "plain pod fits",
                state: world(0, false),
                pod: pod("p").build(),
                node: "n1",
                want: None,
            },
            Case {
                what: "eip pod fits",
                state: world(3, false),
                pod: pod("p").with_eip().build(),
                node: "n1",
                want: None,
            },
            Case {
                what: "node full",
                state: world(0, false),
                pod: pod("p").build(),
                node: "full",
                want: Some((
                    ReasonKind::NodeFull,
                    Class::Resolvable,
                    "node full has 0 of 2 pod IPs free (k8s.aliyun.com/max-available-ip = 2)",
                )),
            },
            Case {
                what: "zone without free IPs",
                state: world(0, false),
                pod: pod("p").build(),
                node: "inb",
                want: Some((
                    ReasonKind::ZoneExhausted,
                    Class::Resolvable,
                    "the vSwitches of zone b of node inb have no free IP",
                )),
            },
            Case {
                what: "capacity unknown",
                state: world(0, false),
                pod: pod("p").build(),
                node: "unknown",
                want: Some((
                    ReasonKind::CapacityUnknown,
                    Class::Unresolvable,
                    "node unknown has unknown pod IP capacity: no k8s.aliyun.com/max-available-ip annotation and no node.kubernetes.io/instance-type label; run eip-agent",
                )),
            },
            Case {
                what: "node not in view",
                state: world(0, false),
                pod: pod("p").build(),
                node: "ghost",
                want: Some((
                    ReasonKind::UnknownNode,
                    Class::Unresolvable,
                    "node ghost is not known to eip-extender",
                )),
            },
            Case {
                what: "quota reached",
                state: world(20, false),
                pod: pod("p").with_eip().build(),
                node: "n1",
                want: Some((
                    ReasonKind::QuotaReached,
                    Class::Unresolvable,
                    "EIP quota reached in cn-hangzhou: 23 of 20 allocated; raise eip_quota_instances_num or release EIPs",
                )),
            },
            Case {
                what: "cloud view missing",
                state: no_cloud,
                pod: pod("p").with_eip().build(),
                node: "n1",
                want: Some((
                    ReasonKind::CloudViewMissing,
                    Class::Unresolvable,
                    "EIP inventory of region cn-hangzhou is not loaded yet",
                )),
            },
            Case {
                what: "named eip missing",
                state: world(0, false),
                pod: pod("p").named_eip("eip-nope").build(),
                node: "n1",
                want: Some((
                    ReasonKind::NamedEipMissing,
                    Class::Unresolvable,
                    "EIP eip-nope does not exist in cn-hangzhou; check the pod-eip-instanceid annotation",
                )),
            },
            Case {
                what: "named eip in use, rob off",
                state: world(0, false),
                pod: pod("p").named_eip("eip-busy").build(),
                node: "n1",
                want: Some((
                    ReasonKind::NamedEipInUse,
                    Class::Unresolvable,
                    "EIP eip-busy is bound to eni-other; unbind it, or set \"allow_eip_rob\": \"true\"",
                )),
            },
            Case {
                what: "named eip in use, rob on",
                state: world(0, true),
                pod: pod("p").named_eip("eip-busy").build(),
                node: "n1",
                want: None,
            },
            Case {
                what: "named eip available",
                state: world(0, false),
                pod: pod("p").named_eip("eip-free").build(),
                node: "n1",
                want: None,
            },
            Case {
                what: "named eip already this pod's (PodEIP)",
                state: {
                    let mut s = world(0, false);
                    s.apply_podeip("default", "p", Some("eip-busy".into()));
                    s
                },
                pod: pod("p").named_eip("eip-busy").build(),
                node: "n1",
                want: None,
            },
            Case {
                what: "invalid annotations",
                state: world(0, false),
                pod: pod("p")
                    .invalid_eip("eip-bandwidth \"fast\" is not a number")
                    .build(),
                node: "n1",
                want: Some((
                    ReasonKind::InvalidAnnotations,
                    Class::Unresolvable,
                    "pod default/p has invalid EIP annotations: eip-bandwidth \"fast\" is not a number",
                )),
            },
            Case {
                what: "host network eip",
                state: world(0, false),
                pod: pod("p").with_eip().host_network().build(),
                node: "n1",
                want: Some((
                    ReasonKind::HostNetworkEip,
                    Class::Unresolvable,
                    "uses hostNetwork",
                )),
            },
            Case {
                what: "host network pod needs no slot",
                state: world(0, false),
                pod: pod("p").host_network().build(),
                node: "full",
                want: None,
            },
            Case {
                what: "feature off: eip pod refused with the switch to flip",
                state: {
                    let mut s = world(20, false);
                    s.switches.eip_enabled = false;
                    s
                },
                pod: pod("p").with_eip().build(),
                node: "n1",
                want: Some((
                    ReasonKind::EipDisabled,
                    Class::Unresolvable,
                    "the EIP feature is off; set \"enable_eip_pool\": \"true\"",
                )),
            },
            Case {
                what: "a named EIP on two replicas",
                state: world(0, false),
                pod: pod("p")
                    .named_eip("eip-free")
                    .owned_by(
                        "ReplicaSet",
                        "web-1",
                        Some(workload::Owner::Replicated {
                            kind: "ReplicaSet".into(),
                            name: "web-1".into(),
                            replicas: 2,
                        }),
                    )
                    .build(),
                node: "n1",
                want: Some((
                    ReasonKind::NamedEipShared,
                    Class::Unresolvable,
                    "the pod names EIP eip-free but its workload has 2 replicas; an EIP can serve one pod only",
                )),
            },
            Case {
                what: "a named EIP on a DaemonSet, decided by its kind",
                state: world(0, false),
                pod: pod("p")
                    .named_eip("eip-free")
                    .owned_by("DaemonSet", "ds", None)
                    .build(),
                node: "n1",
                want: Some((
                    ReasonKind::NamedEipShared,
                    Class::Unresolvable,
                    "the pod names EIP eip-free but its workload is DaemonSet ds",
                )),
            },
            Case {
                what: "a named EIP whose owner cannot be read: fail closed",
                state: world(0, false),
                pod: pod("p")
                    .named_eip("eip-free")
                    .owned_by(
                        "StatefulSet",
                        "db",
                        Some(workload::Owner::unreadable(
                            "StatefulSet",
                            "db",
                            "it does not exist",
                        )),
                    )
                    .build(),
                node: "n1",
                want: Some((
                    ReasonKind::NamedEipShared,
                    Class::Unresolvable,
                    "its owner StatefulSet db cannot be read (it does not exist)",
                )),
            },
            Case {
                what: "a named EIP on one replica",
                state: world(0, false),
                pod: pod("p")
                    .named_eip("eip-free")
                    .owned_by(
                        "StatefulSet",
                        "db",
                        Some(workload::Owner::Replicated {
                            kind: "StatefulSet".into(),
                            name: "db".into(),
                            replicas: 1,
                        }),
                    )
                    .build(),
                node: "n1",
                want: None,
            },
            Case {
                what: "a shared bandwidth package that does not exist",
                state: world(0, false),
                pod: pod("p")
                    .with_eip()
                    .bandwidth_package("cbwp-missing")
                    .build(),
                node: "n1",
                want: Some((
                    ReasonKind::BandwidthPackageMissing,
                    Class::Unresolvable,
                    "shared bandwidth package cbwp-missing does not exist in cn-hangzhou; check the eip-common-bandwidth-package-id annotation",
                )),
            },
            Case {
                what: "a shared bandwidth package that exists",
                state: world(0, false),
                pod: pod("p").with_eip().bandwidth_package("cbwp-1").build(),
                node: "n1",
                want: None,
            },
            Case {
                what: "feature off: plain pod unaffected",
                state: {
                    let mut s = world(20, false);
                    s.switches.eip_enabled = false;
                    s
                },
                pod: pod("p").build(),
                node: "n1",
                want: None,
            },
            Case {
                what: "named eip in transition",
                state: world(0, true),
                pod: pod("p").named_eip("eip-moving").build(),
                node: "n1",
                want: Some((
                    ReasonKind::NamedEipBusy,
                    Class::Unresolvable,
                    "EIP eip-moving is Associating; wait until it is Available",
                )),
            },
            Case {
                what: "quota reached but this pod's EIP is retained (PodEIP)",
                state: {
                    let mut s = world(20, false);
                    s.apply_podeip("default", "p", Some("eip-alloc0".into()));
                    s
                },
                pod: pod("p").with_eip().build(),
                node: "n1",
                want: None,
            },
        ];
        let mut kinds_seen = std::collections::HashSet::new();
        for c in cases {
            let got = filter(&c.state, &c.pod, [(c.node, None)]);
            let [got] = got.as_slice() else {
                panic!("{}: one verdict expected", c.what)
            };
            match (&c.want, got) {
                (None, Ok(_)) => {}
                (Some((kind, class, text)), Err(r)) => {
                    assert_eq!(r.kind, *kind, "{}", c.what);
                    assert_eq!(r.class, *class, "{}", c.what);
                    assert!(
                        r.message.contains(text),
                        "{}: {:?} lacks {:?}",
                        c.what,
                        r.message,
                        text
                    );
                    kinds_seen.insert(*kind);
                }
                (want, got) => panic!("{}: want {want:?}, got {got:?}", c.what),
            }
        }
        for k in ReasonKind::ALL {
            assert!(kinds_seen.contains(&k), "no case for {k:?}");
        }
    }

    #[test]
    fn slot_sentence_names_instance_type() {
        let mut s = ClusterState::new(20, "r");
        s.apply_node(node("n1").instance_type_with("ecs.g7.large", 3, 10).build());
        for i in 0..20 {
            s.apply_pod(pod(&format!("p{i}")).on("n1").build());
        }
        let v = filter(&s, &pod("x").build(), [("n1", None)]);
        let Some(Err(r)) = v.first() else {
            panic!("expected rejection")
        };
        assert_eq!(
            r.message,
            "node n1 has 0 of 20 pod IPs free (ecs.g7.large: 2 ENIs x 10 IPs)"
        );
        // the built-in instance-type table gives the same capacity without annotations
        let mut t = ClusterState::new(20, "r");
        t.apply_node(node("n2").instance_type("ecs.g7.large").build());
        assert_eq!(filter(&t, &pod("x").build(), [("n2", None)]), vec![Ok(20)]);
    }

    #[test]
    fn quota_counts_pending_and_reserved() {
        // 10 allocated (7 + eip-free, eip-busy, eip-moving), 8 pods on nodes awaiting allocation,
        // 1 reservation: 19 < 20 fits; one more reservation reaches 20.
        let mut s = world(7, false);
        for i in 0..8 {
            s.apply_pod(pod(&format!("e{i}")).with_eip().on("n1").build());
        }
        assert_eq!(
            s.reserve("uid-r1", "n1", true, true),
            crate::state::ReserveOutcome::Reserved
        );
        assert!(region_check(&s, &pod("x").with_eip().build()).is_none());
        s.reserve("uid-r2", "n1", true, true);
        let r = region_check(&s, &pod("x").with_eip().build()).expect("quota reached");
        assert_eq!(r.kind, ReasonKind::QuotaReached);
        assert!(
            r.message.contains(
                "EIP quota reached in cn-hangzhou: 10 allocated and 10 being allocated, quota 20"
            ),
            "{}",
            r.message
        );
        // an allocation id annotated on a pod but not yet in the cloud view still counts once
        s.release("uid-r2");
        s.apply_pod(pod("e0").with_eip().on("n1").allocated("eip-new").build());
        assert_eq!(s.allocated_eips(), Some(11));
        assert_eq!(s.approved_unallocated(), 8);
    }

    #[test]
    fn spread_and_binpack_use_whole_range() {
        let verdicts: Vec<NodeVerdict> = vec![
            Ok(1),
            Ok(11),
            Ok(6),
            Err(Rejection::new(
                Class::Resolvable,
                ReasonKind::NodeFull,
                String::new(),
            )),
        ];
        let p = pod("p").build();
        assert_eq!(
            prioritize(Scoring::Spread, &verdicts, &p),
            vec![0, 10, 5, 0]
        );
        assert_eq!(
            prioritize(Scoring::Binpack, &verdicts, &p),
            vec![10, 0, 5, 0]
        );
        assert_eq!(
            prioritize(Scoring::Spread, &[Ok(3), Ok(3)], &p),
            vec![10, 10]
        );
        assert_eq!(
            prioritize(
                Scoring::Spread,
                &[Ok(3), Ok(4)],
                &pod("h").host_network().build()
            ),
            vec![0, 0]
        );
    }

    #[test]
    fn preempt_keeps_only_nodes_victims_can_fix() {
        let c = |node: &'static str, victims: &'static [Victim]| Candidate { node, victims };
        let cands = [
            c("full", &[SLOT_ONLY]),
            c("full", &[NOTHING]),
            c("unknown", &[SLOT_ONLY]),
            c("n1", &[NOTHING]),
            c("inb", &[SLOT_ONLY]),
            c("n1", &[]),
            c("ghost", &[BOTH]),
            c("full", &[BOTH]),
        ];
        struct Case {
            what: &'static str,
            state: ClusterState,
            pod: PodView,
            want: Vec<bool>,
        }
        let cases = vec![
            Case {
                what: "plain pod: victims that free a slot on a known node",
                state: world(0, false),
                pod: pod("p").build(),
                want: vec![true, false, false, true, true, false, false, true],
            },
            Case {
                what: "EIP pod with quota left: the same",
                state: world(3, false),
                pod: pod("e").with_eip().build(),
                want: vec![true, false, false, true, true, false, false, true],
            },
            Case {
                what: "EIP pod at quota: only a victim releasing its EIP helps",
                state: world(17, false),
                pod: pod("e").with_eip().build(),
                want: vec![false, false, false, false, false, false, false, true],
            },
            Case {
                what: "EIP pod two over quota: one released EIP is not enough",
                state: world(19, false),
                pod: pod("e").with_eip().build(),
                want: vec![false; 8],
            },
            Case {
                what: "pod whose EIP is retained needs no unit at quota",
                state: {
                    let mut s = world(17, false);
                    s.apply_podeip("default", "e", Some("eip-alloc0".into()));
                    s
                },
                pod: pod("e").with_eip().build(),
                want: vec![true, false, false, true, true, false, false, true],
            },
            Case {
                what: "named EIP bound elsewhere: nothing helps",
                state: world(0, false),
                pod: pod("e").named_eip("eip-busy").build(),
                want: vec![false; 8],
            },
            Case {
                what: "feature off: nothing helps",
                state: {
                    let mut s = world(0, false);
                    s.switches.eip_enabled = false;
                    s
                },
                pod: pod("e").with_eip().build(),
                want: vec![false; 8],
            },
        ];
        for case in cases {
            assert_eq!(
                preempt(&case.state, &case.pod, &cands),
                case.want,
                "{}",
                case.what
            );
        }
    }

    #[test]
    fn victims_free_quota_only_when_their_eip_goes_with_them() {
        use crate::state::victim_from_facts;
        let mut s = world(0, false);
        let pods = [
            ("plain", pod("plain").on("n1").build(), SLOT_ONLY),
            (
                "follow, allocated",
                pod("fa").with_eip().on("n1").allocated("eip-1").build(),
                BOTH,
            ),
            (
                "follow, awaiting its EIP",
                pod("fw").with_eip().on("n1").build(),
                BOTH,
            ),
            (
                "kept, allocated",
                pod("ka")
                    .with_eip()
                    .keeps_eip()
                    .on("n1")
                    .allocated("eip-2")
                    .build(),
                SLOT_ONLY,
            ),
            (
                "kept, awaiting",
                pod("kw").with_eip().keeps_eip().on("n1").build(),
                SLOT_ONLY,
            ),
            (
                "named",
                pod("nm").named_eip("eip-free").on("n1").build(),
                SLOT_ONLY,
            ),
            (
                "finished",
                pod("done")
                    .with_eip()
                    .on("n1")
                    .allocated("eip-3")
                    .terminal()
                    .build(),
                NOTHING,
            ),
        ];
        for (what, p, want) in pods {
            assert_eq!(
                victim_from_facts(p.clone(), "n1"),
                want,
                "{what} (from the request)"
            );
            let uid = p.uid.clone();
            s.apply_pod(p);
            assert_eq!(s.victim(&uid, "n1"), want, "{what} (from the view)");
            assert_eq!(
                s.victim(&uid, "full").frees_eip_quota,
                want.frees_eip_quota,
                "{what}: no slot elsewhere, same quota"
            );
            assert!(!s.victim(&uid, "full").uses_slot, "{what}");
        }
        assert_eq!(s.victim("uid-ghost", "n1"), NOTHING);
    }

    // What evicting a pod gives back, as the preemption tests use it
    const SLOT_ONLY: Victim = Victim {
        uses_slot: true,
        frees_eip_quota: false,
    };
    const BOTH: Victim = Victim {
        uses_slot: true,
        frees_eip_quota: true,
    };
    const NOTHING: Victim = Victim {
        uses_slot: false,
        frees_eip_quota: false,
    };
}
