//! Reducing Kubernetes objects (from watches or from scheduler requests) to the compact
//! facts the decisions need.

use std::collections::BTreeMap;

use eip_core::annotations::{EipRequest, EipSource, ReleaseStrategy, has_eip_annotations};
use eip_core::names;
use k8s_openapi::api::core::v1::{Node, Pod};

use eip_core::capacity::{node_capacity, node_instance_type, node_zone};

use crate::state::{EipNeed, NodeFacts, PodView};
use crate::wire::NodeLite;

/// What a pod's annotations ask for.
pub fn eip_need(annotations: &BTreeMap<String, String>) -> EipNeed {
    eip_request(annotations).0
}

/// What a pod's annotations ask for, whether the EIP outlives the pod (release strategy
/// other than `Follow`), and the shared bandwidth package a new EIP joins.
fn eip_request(annotations: &BTreeMap<String, String>) -> (EipNeed, bool, Option<String>) {
    if !has_eip_annotations(annotations) {
        return (EipNeed::None, false, None);
    }
    match EipRequest::from_annotations(annotations) {
        Ok(None) => (EipNeed::None, false, None),
        Ok(Some(req)) => {
            let kept = req.release_strategy != ReleaseStrategy::Follow;
            let (need, package) = match req.source {
                EipSource::Allocate => (EipNeed::Auto, req.common_bandwidth_package_id),
                EipSource::Existing(id) => (EipNeed::Named(id.as_str().into()), None),
            };
            (need, kept, package)
        }
        Err(errors) => (
            EipNeed::Invalid(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
                    .into(),
            ),
            false,
            None,
        ),
    }
}

fn allocated_id(annotations: &BTreeMap<String, String>) -> Option<String> {
    annotations
        .get(names::ALLOCATED_EIP_ID)
        .and_then(|v| names::parse_allocated_eip_id(v).ok())
        .map(|id| id.as_str().to_string())
}

fn terminal(phase: Option<&str>) -> bool {
    matches!(phase, Some("Succeeded") | Some("Failed"))
}

/// Facts of a pod from the watch; `None` when it has no uid.
pub fn pod_from_object(p: &Pod) -> Option<PodView> {
    let meta = &p.metadata;
    let uid = meta.uid.clone()?;
    let empty = BTreeMap::new();
    let annotations = meta.annotations.as_ref().unwrap_or(&empty);
    let spec = p.spec.as_ref();
    let (eip, eip_kept, bandwidth_package) = eip_request(annotations);
    let named = matches!(eip, EipNeed::Named(_));
    Some(PodView {
        uid,
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        node: spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
        terminal: terminal(p.status.as_ref().and_then(|s| s.phase.as_deref())),
        eip,
        allocated_eip: allocated_id(annotations),
        eip_kept,
        bandwidth_package,
        controller: named
            .then(|| eip_core::workload::controller_of(p))
            .flatten()
            .map(|(kind, name)| (kind.to_string(), name.to_string())),
        owner: None,
    })
}

/// Facts of a node sent in a full-Nodes request (readiness is not judged here: the
/// scheduler already filtered on it).
pub fn node_from_request(n: &NodeLite) -> NodeFacts {
    let m = &n.metadata;
    NodeFacts {
        name: m.name.clone(),
        instance_type: node_instance_type(&m.labels).map(str::to_string),
        zone: node_zone(&m.labels).map(str::to_string),
        capacity: node_capacity(&m.labels, &m.annotations),
        unschedulable: n.spec.unschedulable,
        ready: true,
    }
}

/// Facts of a node from the watch; `None` when it has no name.
pub fn node_from_object(n: &Node) -> Option<NodeFacts> {
    let name = n.metadata.name.clone()?;
    let empty = BTreeMap::new();
    let labels = n.metadata.labels.as_ref().unwrap_or(&empty);
    let annotations = n.metadata.annotations.as_ref().unwrap_or(&empty);
    let ready = n
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True");
    Some(NodeFacts {
        instance_type: node_instance_type(labels).map(str::to_string),
        zone: node_zone(labels).map(str::to_string),
        capacity: node_capacity(labels, annotations),
        unschedulable: n
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false),
        ready,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use eip_core::annotations::{SETTING_INSTANCE_ID, SETTING_POD_WITH_EIP};

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn eip_need_from_annotations() {
        let with = SETTING_POD_WITH_EIP.keys[0];
        let named = SETTING_INSTANCE_ID.keys[0];
        assert_eq!(eip_need(&map(&[])), EipNeed::None);
        assert_eq!(eip_need(&map(&[("other", "x")])), EipNeed::None);
        assert_eq!(eip_need(&map(&[(with, "true")])), EipNeed::Auto);
        assert_eq!(
            eip_need(&map(&[(named, "eip-abc123")])),
            EipNeed::Named("eip-abc123".into())
        );
        // Only exactly "true" asks for an EIP; "yes" is ignored (the agent warns about it),
        // so the pod is scheduled as one without an EIP rather than refused.
        assert_eq!(eip_need(&map(&[(with, "yes")])), EipNeed::None);
        assert_eq!(
            eip_need(&map(&[(with, "yes"), (named, "eip-abc123")])),
            EipNeed::Named("eip-abc123".into())
        );
        assert!(matches!(
            eip_need(&map(&[(with, "true"), (named, "i-123")])),
            EipNeed::Invalid(why) if why.contains(named)
        ));
    }
}
