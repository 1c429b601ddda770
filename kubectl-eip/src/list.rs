//! `EipList` (`kube-eip.io/v1`): what `kubectl eip show -o json|yaml` prints, one item per
//! pod that asked for an EIP (and one per EIP kept under a TTL or `Never` for a pod that is
//! gone), and the pure function that builds it from pods, PodEIPs and events.
//!
//! The type is the documented contract for scripts (README, "kubectl eip"): fields are only
//! ever added, never renamed or removed.

use std::collections::{BTreeMap, HashSet};

use eip_core::annotations::{self, EipRequest, ReleaseStrategy};
use eip_core::names;
use eip_core::podeip::{PodEIP, PodEIPPhase, PodEIPReleaseStrategy, PodEIPType};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

use crate::names::OUR_COMPONENTS;

/// `apiVersion` of [`EipList`].
pub const API_VERSION: &str = "kube-eip.io/v1";
/// `kind` of [`EipList`].
pub const KIND: &str = "EipList";

/// The list `-o json` and `-o yaml` print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EipList {
    /// Always `kube-eip.io/v1`.
    pub api_version: String,
    /// Always `EipList`.
    pub kind: String,
    /// One item per pod, sorted by namespace and name.
    pub items: Vec<EipItem>,
}

impl EipList {
    /// A list of `items`.
    pub fn new(items: Vec<EipItem>) -> Self {
        Self {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            items,
        }
    }
}

/// Where a pod's EIP is, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    /// Associated with the pod's IP.
    Bound,
    /// Not yet: waiting to be scheduled, for the pod IP, or for the agent's steps.
    Pending,
    /// Given up (invalid annotations, a cloud error, a workload that may not use a named EIP);
    /// `reason` says why and what to do.
    Failed,
    /// The scheduler cannot place the pod; `reason` is the extender's.
    Unschedulable,
    /// The pod is gone and the EIP is kept (a TTL, `Never`); `retainedUntil` says how long.
    Retained,
    /// The pod is going; the EIP is being unbound or released.
    Releasing,
}

/// One pod's EIP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EipItem {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// Whether the pod exists (false for an EIP retained after its pod went).
    pub pod_exists: bool,
    /// The node the pod runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The pod's IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// The EIP's public address (the pod's `k8s.aliyun.com/allocated-eipAddress`, else the
    /// PodEIP's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eip_address: Option<String>,
    /// The EIP's allocation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_id: Option<String>,
    /// `true` when the pod names an existing EIP (`pod-eip-instanceid`): never released.
    pub named: bool,
    /// Peak bandwidth, Mbit/s (observed, else asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_mbps: Option<u32>,
    /// Line type (`BGP`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isp: Option<String>,
    /// `PayByTraffic` or `PayByBandwidth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internet_charge_type: Option<String>,
    /// `Follow`, `Never`, or a duration such as `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_strategy: Option<String>,
    /// The ENI the EIP is associated with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eni: Option<String>,
    /// The PodEIP's phase (`Pending`, `Allocating`, `Associating`, `Bound`, `Releasing`,
    /// `Retained`, `Released`, `Failed`), absent before the agent records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Where the EIP is, in one word.
    pub state: State,
    /// Why, for every state but `Bound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With `Retained` under a TTL: when the EIP is released (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retained_until: Option<String>,
    /// The STATUS column: `Bound`, `Pending (why)`, `Failed: reason`,
    /// `Unschedulable: reason`, `Retained until TIME`, `Releasing`.
    pub status: String,
    /// When the pod (or, for a pod that is gone, its PodEIP) was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
}

impl EipItem {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The newest Warning event our components (eip-agent, eip-extender) published about the
/// pod with `uid`.
fn latest_warning<'a>(events: &'a [Event], pod: &Pod) -> Option<&'a Event> {
    let uid = pod.uid();
    let name = pod.name_any();
    let ns = pod.namespace();
    events
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| {
            let by = e
                .reporting_component
                .as_deref()
                .or(e.source.as_ref().and_then(|s| s.component.as_deref()));
            by.is_some_and(|c| OUR_COMPONENTS.contains(&c))
        })
        .filter(|e| {
            let o = &e.involved_object;
            match (&o.uid, &uid) {
                (Some(a), Some(b)) => a == b,
                _ => {
                    o.kind.as_deref() == Some("Pod")
                        && o.name.as_deref() == Some(name.as_str())
                        && o.namespace == ns
                }
            }
        })
        .max_by_key(|e| event_time(e))
}

fn event_time(e: &Event) -> Option<jiff::Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or(e.event_time.as_ref().map(|t| t.0))
        .or(e.first_timestamp.as_ref().map(|t| t.0))
        .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The PodScheduled=False reason of an unschedulable pod (the extender's words).
fn unschedulable(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == names::CONDITION_FALSE)
        .filter(|c| c.reason.as_deref() == Some("Unschedulable"))
        .map(|c| {
            c.message
                .clone()
                .unwrap_or_else(|| "no reason given".into())
        })
}

/// The `k8s.aliyun.com/eip` condition when False with a failure reason.
fn failed_condition(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == names::EIP_CONDITION && c.status == names::CONDITION_FALSE)
        .filter(|c| {
            matches!(
                c.reason.as_deref(),
                Some(names::REASON_FAILED | names::REASON_INVALID_ANNOTATIONS)
            )
        })
        .and_then(|c| c.message.clone())
}

fn strategy_text(rec: &PodEIP) -> String {
    match rec.spec.release_strategy {
        PodEIPReleaseStrategy::Follow => ReleaseStrategy::Follow.to_string(),
        PodEIPReleaseStrategy::Never => ReleaseStrategy::Never.to_string(),
        PodEIPReleaseStrategy::Ttl => rec
            .spec
            .release_after
            .clone()
            .unwrap_or_else(|| "TTL".into()),
    }
}

fn status_text(state: State, reason: Option<&str>, until: Option<&str>) -> String {
    match (state, reason) {
        (State::Bound, _) => "Bound".to_owned(),
        (State::Pending, Some(r)) => format!("Pending ({r})"),
        (State::Pending, None) => "Pending".to_owned(),
        (State::Failed, r) => format!("Failed: {}", r.unwrap_or("no reason recorded")),
        (State::Unschedulable, r) => {
            format!("Unschedulable: {}", r.unwrap_or("no reason recorded"))
        }
        (State::Retained, _) => match until {
            Some(t) => format!("Retained until {t}"),
            None => "Retained (never released by kube-eip)".to_owned(),
        },
        (State::Releasing, _) => "Releasing".to_owned(),
    }
}

/// Whether a pod asked for an EIP: a valid request, or EIP annotations that are invalid.
pub fn asks_for_eip(annotations: &BTreeMap<String, String>) -> bool {
    match EipRequest::from_annotations(annotations) {
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(_) => true,
    }
}

/// The rows: one per pod that asked for an EIP, then (with `include_orphans`) one per
/// PodEIP kept for a pod that is gone; sorted by namespace and name.
pub fn build(
    pods: &[Pod],
    podeips: &[PodEIP],
    events: &[Event],
    include_orphans: bool,
) -> Vec<EipItem> {
    let record = |ns: &str, name: &str| {
        podeips
            .iter()
            .find(|r| r.namespace().as_deref() == Some(ns) && r.name_any() == name)
    };
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    for pod in pods {
        let ann = pod.annotations();
        if !asks_for_eip(ann) {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        seen.insert((ns.clone(), name.clone()));
        let rec = record(&ns, &name).filter(|r| {
            // A record of an earlier pod of the same name (kept under a TTL) is not this
            // pod's unless the agent has taken it over.
            r.status.as_ref().and_then(|s| s.pod_uid.as_deref()) == pod.uid().as_deref()
                || r.status.as_ref().and_then(|s| s.phase) != Some(PodEIPPhase::Retained)
        });
        items.push(pod_item(pod, rec, events));
    }
    if include_orphans {
        for rec in podeips {
            let ns = rec.namespace().unwrap_or_default();
            let name = rec.name_any();
            if seen.contains(&(ns.clone(), name.clone())) {
                continue;
            }
            if let Some(item) = orphan_item(rec) {
                items.push(item);
            }
        }
    }
    items.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    items
}

fn pod_item(pod: &Pod, rec: Option<&PodEIP>, events: &[Event]) -> EipItem {
    let ann = pod.annotations();
    let parsed = EipRequest::from_annotations(ann);
    let request = parsed.as_ref().ok().and_then(Option::as_ref);
    let status = rec.and_then(|r| r.status.as_ref());
    let phase = status.and_then(|s| s.phase);
    let spec = pod.spec.as_ref();
    let pod_status = pod.status.as_ref();
    let node = spec.and_then(|s| s.node_name.clone());
    let pod_ip = pod_status.and_then(|s| s.pod_ip.clone());
    let warning = latest_warning(events, pod).and_then(|e| e.message.clone());
    let deleting = pod.metadata.deletion_timestamp.is_some();

    let (state, reason) = if let Err(errors) = &parsed {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        (State::Failed, Some(text.join("; ")))
    } else if let Some(why) = unschedulable(pod) {
        (State::Unschedulable, Some(why))
    } else if deleting || phase == Some(PodEIPPhase::Releasing) {
        (State::Releasing, None)
    } else if phase == Some(PodEIPPhase::Bound) {
        (State::Bound, None)
    } else if phase == Some(PodEIPPhase::Failed) {
        (
            State::Failed,
            status.and_then(|s| s.last_error.clone()).or(warning),
        )
    } else if let Some(msg) = failed_condition(pod) {
        (State::Failed, Some(msg))
    } else {
        let why = if node.is_none() {
            "waiting to be scheduled".to_owned()
        } else if let Some(e) = status.and_then(|s| s.last_error.clone()) {
            e
        } else if let Some(w) = warning {
            w
        } else if pod_ip.is_none() {
            "waiting for the pod IP".to_owned()
        } else {
            match phase {
                Some(PodEIPPhase::Allocating) => "allocating".to_owned(),
                Some(PodEIPPhase::Associating) => "associating".to_owned(),
                _ => "waiting for eip-agent".to_owned(),
            }
        };
        (State::Pending, Some(why))
    };

    let eip_address = ann
        .get(names::ALLOCATED_EIP_ADDRESS)
        .cloned()
        .or_else(|| status.and_then(|s| s.eip_address.clone()));
    let allocation_id = ann
        .get(names::ALLOCATED_EIP_ID)
        .cloned()
        .or_else(|| status.and_then(|s| s.allocation_id.clone()))
        .or_else(|| request.and_then(|r| r.named().map(ToString::to_string)));
    let bandwidth_mbps = status
        .and_then(|s| s.bandwidth)
        .and_then(|b| u32::try_from(b).ok())
        .or(request.map(|r| r.bandwidth_mbps));
    let isp = status
        .and_then(|s| s.isp.clone())
        .or(request.map(|r| r.isp.to_string()));
    let internet_charge_type = status
        .and_then(|s| s.internet_charge_type.clone())
        .or(request.map(|r| r.internet_charge_type.to_string()));
    let release_strategy = request
        .map(|r| r.release_strategy.to_string())
        .or(rec.map(strategy_text));
    let text = status_text(state, reason.as_deref(), None);
    EipItem {
        namespace: pod.namespace().unwrap_or_default(),
        name: pod.name_any(),
        pod_exists: true,
        node,
        pod_ip,
        eip_address,
        allocation_id,
        named: request.is_some_and(|r| r.named().is_some()),
        bandwidth_mbps,
        isp,
        internet_charge_type,
        release_strategy,
        eni: status.and_then(|s| s.network_interface_id.clone()),
        phase: phase.map(|p| p.to_string()),
        state,
        reason,
        retained_until: None,
        status: text,
        creation_timestamp: pod
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string()),
    }
}

fn orphan_item(rec: &PodEIP) -> Option<EipItem> {
    let status = rec.status.as_ref()?;
    let state = match status.phase? {
        PodEIPPhase::Retained => State::Retained,
        PodEIPPhase::Releasing => State::Releasing,
        _ => return None,
    };
    let until = status.release_at.as_ref().map(|t| t.0.to_string());
    Some(EipItem {
        namespace: rec.namespace().unwrap_or_default(),
        name: rec.name_any(),
        pod_exists: false,
        node: None,
        pod_ip: None,
        eip_address: status.eip_address.clone(),
        allocation_id: status
            .allocation_id
            .clone()
            .or(rec.spec.allocation_id.clone()),
        named: rec.spec.eip_type == PodEIPType::Static,
        bandwidth_mbps: status.bandwidth.and_then(|b| u32::try_from(b).ok()),
        isp: status.isp.clone(),
        internet_charge_type: status.internet_charge_type.clone(),
        release_strategy: Some(strategy_text(rec)),
        eni: None,
        phase: status.phase.map(|p| p.to_string()),
        state,
        reason: Some("the pod is gone".to_owned()),
        retained_until: until.clone(),
        status: status_text(state, None, until.as_deref()),
        creation_timestamp: rec
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string()),
    })
}

/// `10M` for 10 Mbit/s, as the annotation is written.
pub fn bandwidth_text(mbps: Option<u32>) -> String {
    mbps.map_or_else(|| NONE.to_owned(), |m| format!("{m}M"))
}

/// What kubectl prints for an empty cell.
pub const NONE: &str = "<none>";

/// The release strategy as the annotation writes it (for messages).
pub fn strategy_of(request: &EipRequest) -> String {
    match request.release_strategy {
        ReleaseStrategy::After(d) => annotations::format_duration(d),
        s => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eip_core::podeip::{PodEIPSpec, PodEIPStatus};
    use k8s_openapi::api::core::v1::{ObjectReference, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    /// A pod, read like a sentence: `pod("web").asks().on("n1").ip("10.0.0.5")`.
    struct PodB(Pod);
    fn pod(name: &str) -> PodB {
        PodB(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec::default()),
            status: Some(PodStatus::default()),
        })
    }
    impl PodB {
        fn ann(mut self, k: &str, v: &str) -> Self {
            self.0
                .metadata
                .annotations
                .get_or_insert_default()
                .insert(k.into(), v.into());
            self
        }
        fn asks(self) -> Self {
            self.ann(annotations::POD_WITH_EIP, "true")
        }
        fn on(mut self, node: &str) -> Self {
            if let Some(s) = self.0.spec.as_mut() {
                s.node_name = Some(node.into());
            }
            self
        }
        fn ip(mut self, ip: &str) -> Self {
            if let Some(s) = self.0.status.as_mut() {
                s.pod_ip = Some(ip.into());
            }
            self
        }
        fn condition(mut self, t: &str, status: &str, reason: &str, msg: &str) -> Self {
            if let Some(s) = self.0.status.as_mut() {
                s.conditions.get_or_insert_default().push(PodCondition {
                    type_: t.into(),
                    status: status.into(),
                    reason: Some(reason.into()),
                    message: Some(msg.into()),
                    ..PodCondition::default()
                });
            }
            self
        }
    }

    fn record(name: &str, phase: PodEIPPhase) -> PodEIP {
        let mut r = PodEIP::new(
            name,
            PodEIPSpec::from_request(&EipRequest::allocate_default()),
        );
        r.metadata.namespace = Some("default".into());
        r.status = Some(PodEIPStatus {
            phase: Some(phase),
            pod_uid: Some(format!("uid-{name}")),
            ..PodEIPStatus::default()
        });
        r
    }

    fn warning(pod: &str, by: &str, msg: &str) -> Event {
        Event {
            type_: Some("Warning".into()),
            reporting_component: Some(by.into()),
            message: Some(msg.into()),
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                name: Some(pod.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{pod}")),
                ..ObjectReference::default()
            },
            ..Event::default()
        }
    }

    fn status_of(p: PodB, recs: &[PodEIP], events: &[Event]) -> String {
        let items = build(&[p.0], recs, events, true);
        items.first().map(|i| i.status.clone()).unwrap_or_default()
    }

    #[test]
    fn pods_that_did_not_ask_are_left_out() {
        let items = build(
            &[
                pod("plain").0,
                pod("no").ann(annotations::POD_WITH_EIP, "false").0,
            ],
            &[],
            &[],
            true,
        );
        assert!(items.is_empty());
    }

    #[test]
    fn status_reads_the_podeip_the_conditions_and_our_warnings() {
        let p = || pod("web").asks();
        assert_eq!(
            status_of(p(), &[], &[]),
            "Pending (waiting to be scheduled)"
        );
        assert_eq!(
            status_of(p().on("n1"), &[], &[]),
            "Pending (waiting for the pod IP)"
        );
        assert_eq!(
            status_of(p().on("n1").ip("10.0.0.5"), &[], &[]),
            "Pending (waiting for eip-agent)"
        );
        assert_eq!(
            status_of(
                p().on("n1").ip("10.0.0.5"),
                &[record("web", PodEIPPhase::Allocating)],
                &[]
            ),
            "Pending (allocating)"
        );
        assert_eq!(
            status_of(
                p().on("n1").ip("1.2.3.4"),
                &[record("web", PodEIPPhase::Bound)],
                &[]
            ),
            "Bound"
        );
        let mut failed = record("web", PodEIPPhase::Failed);
        if let Some(s) = failed.status.as_mut() {
            s.last_error = Some("QuotaExceeded.Eip: no EIP left".into());
        }
        assert_eq!(
            status_of(p().on("n1"), &[failed], &[]),
            "Failed: QuotaExceeded.Eip: no EIP left"
        );
        assert_eq!(
            status_of(
                p().on("n1"),
                &[record("web", PodEIPPhase::Failed)],
                &[
                    warning("web", "eip-agent", "the cloud said no"),
                    warning("web", "someone-else", "not ours")
                ]
            ),
            "Failed: the cloud said no"
        );
        assert_eq!(
            status_of(
                p().condition(
                    "PodScheduled",
                    "False",
                    "Unschedulable",
                    "0/3 nodes: no EIP quota"
                ),
                &[],
                &[]
            ),
            "Unschedulable: 0/3 nodes: no EIP quota"
        );
        assert_eq!(
            status_of(
                p().on("n1").ip("1.2.3.4").condition(
                    names::EIP_CONDITION,
                    "False",
                    names::REASON_INVALID_ANNOTATIONS,
                    "the pod names EIP eip-1 but its workload has 2 replicas"
                ),
                &[],
                &[]
            ),
            "Failed: the pod names EIP eip-1 but its workload has 2 replicas"
        );
        let bad = pod("web").ann(annotations::EIP_BANDWIDTH, "abc").asks();
        assert!(status_of(bad, &[], &[]).starts_with(
            "Failed: annotation k8s.aliyun.com/eip-bandwidth: value \"abc\" is not a number"
        ),);
    }

    #[test]
    fn eips_kept_for_gone_pods_are_listed_with_their_deadline() {
        let mut kept = record("game-0", PodEIPPhase::Retained);
        kept.spec.release_strategy = PodEIPReleaseStrategy::Ttl;
        kept.spec.release_after = Some("10m".into());
        if let Some(s) = kept.status.as_mut() {
            s.release_at = Some(Time("2025-01-02T03:04:05Z".parse().expect("time")));
            s.eip_address = Some("47.96.0.130".into());
        }
        let items = build(
            &[],
            &[kept.clone(), record("x", PodEIPPhase::Bound)],
            &[],
            true,
        );
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].status, "Retained until 2025-01-02T03:04:05Z");
        assert_eq!(items[0].release_strategy.as_deref(), Some("10m"));
        assert!(!items[0].pod_exists);
        assert!(build(&[], &[kept], &[], false).is_empty());
    }
}
