//! Names kube-eip writes or reads besides the pod's input annotations: output annotations,
//! the pod condition and event reasons, finalizers, node annotations and labels, the PodEIP
//! node label, and the EIP ownership tags.
//!
//! Each name that carries a value has a `parse_*` / `format_*` pair, so that the writer and
//! every reader agree on the spelling.

use std::net::Ipv4Addr;

use sha2::Digest as _;

use crate::Error;
use crate::annotations::AllocationId;

/// Pod annotation written by the agent: the EIP's public address (the name the Terway guide
/// tells users to read).
pub const ALLOCATED_EIP_ADDRESS: &str = "k8s.aliyun.com/allocated-eipAddress";
/// Pod annotation written by the agent: the EIP's allocation id.
pub const ALLOCATED_EIP_ID: &str = "k8s.aliyun.com/allocated-eip-id";

/// Pod condition type: `True` once the EIP is InUse on the pod's IP (usable as a readiness gate).
pub const EIP_CONDITION: &str = "k8s.aliyun.com/eip";
/// Condition status `True`.
pub const CONDITION_TRUE: &str = "True";
/// Condition status `False`.
pub const CONDITION_FALSE: &str = "False";
/// Condition reason: the EIP is associated with the pod's IP.
pub const REASON_BOUND: &str = "EipBound";
/// Condition reason: waiting for the pod's IP or for the EIP to be allocated.
pub const REASON_PENDING: &str = "EipPending";
/// Condition reason: the EIP is being associated.
pub const REASON_ASSOCIATING: &str = "EipAssociating";
/// Condition/event reason: the pod's EIP annotations are invalid.
pub const REASON_INVALID_ANNOTATIONS: &str = "InvalidEipAnnotations";
/// Condition/event reason: a cloud call failed; the message says which and why.
pub const REASON_FAILED: &str = "EipFailed";
/// Condition reason: the EIP is being unbound or released because the pod is going away.
pub const REASON_RELEASING: &str = "EipReleasing";
/// Condition reason: the EIP feature is switched off in `eni-config`.
pub const REASON_DISABLED: &str = "EipDisabled";
/// Event reason: the pod's EIP was released.
pub const REASON_RELEASED: &str = "EipReleased";
/// Event reason: an EIP left on the pod's private IP by an earlier owner was unbound first.
pub const REASON_STALE_REMOVED: &str = "EipStaleRemoved";
/// Event reason: the EIP's peak bandwidth was changed to the pod's `eip-bandwidth`.
pub const REASON_BANDWIDTH_CHANGED: &str = "EipBandwidthChanged";
/// Event reason: the garbage collector released an EIP or finished an orphaned PodEIP.
pub const REASON_GARBAGE_COLLECTED: &str = "EipGarbageCollected";
/// Event reason: an annotation value was ignored (e.g. `pod-with-eip: "yes"`); the note
/// names the annotation, the value and what to write instead.
pub const REASON_ANNOTATION_IGNORED: &str = "EipAnnotationIgnored";
/// Event reason, on ConfigMap `kube-system/eni-config`: it is invalid, so the EIP feature is
/// off; the note quotes the problem.
pub const REASON_INVALID_ENI_CONFIG: &str = "InvalidEniConfig";
/// Every condition and event reason kube-eip writes.
pub const ALL_REASONS: [&str; 13] = [
    REASON_BOUND,
    REASON_PENDING,
    REASON_ASSOCIATING,
    REASON_INVALID_ANNOTATIONS,
    REASON_FAILED,
    REASON_RELEASING,
    REASON_DISABLED,
    REASON_RELEASED,
    REASON_STALE_REMOVED,
    REASON_BANDWIDTH_CHANGED,
    REASON_GARBAGE_COLLECTED,
    REASON_ANNOTATION_IGNORED,
    REASON_INVALID_ENI_CONFIG,
];

/// Finalizer the agent puts on EIP pods, so that unbinding happens before the pod is gone.
pub const POD_FINALIZER: &str = "kube-eip.io/eip";
/// Finalizer on PodEIP objects, so that the EIP is released (or kept) before the record goes.
pub const PODEIP_FINALIZER: &str = "kube-eip.io/podeip";

/// Node annotation: pod IP slots (Terway's name); written by the agent.
pub const NODE_MAX_AVAILABLE_IP: &str = "k8s.aliyun.com/max-available-ip";
/// Node annotation: ENIs the instance type allows (`EniQuantity`, primary included).
pub const NODE_ENI_QUANTITY: &str = "kube-eip.io/eni-quantity";
/// Node annotation: private IPs per ENI (`EniPrivateIpAddressQuantity`).
pub const NODE_ENI_PRIVATE_IP_QUANTITY: &str = "kube-eip.io/eni-private-ip-quantity";

/// PodEIP label: the node whose agent owns the record (value from [`format_node_label`]).
/// Each agent watches only the PodEIPs carrying its own node's value.
pub const LABEL_PODEIP_NODE: &str = "kube-eip.io/node";
/// Longest label value Kubernetes accepts.
pub const MAX_LABEL_VALUE_CHARS: usize = 63;

/// Well-known node label: instance type (e.g. `ecs.g7.large`).
pub const LABEL_INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// Deprecated instance type label, read when the current one is absent.
pub const LABEL_INSTANCE_TYPE_BETA: &str = "beta.kubernetes.io/instance-type";
/// Well-known node label: region (e.g. `cn-hangzhou`).
pub const LABEL_REGION: &str = "topology.kubernetes.io/region";
/// Well-known node label: zone (e.g. `cn-hangzhou-h`).
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// Deprecated region label, read when the current one is absent.
pub const LABEL_REGION_BETA: &str = "failure-domain.beta.kubernetes.io/region";
/// Deprecated zone label, read when the current one is absent.
pub const LABEL_ZONE_BETA: &str = "failure-domain.beta.kubernetes.io/zone";

/// Prefix of kube-eip's ownership tags on EIPs; users may not add tags under it.
pub const TAG_PREFIX: &str = "kube-eip.io/";
/// EIP tag: the cluster that owns the EIP.
pub const TAG_CLUSTER_ID: &str = "kube-eip.io/cluster-id";
/// EIP tag: the pod's namespace.
pub const TAG_NAMESPACE: &str = "kube-eip.io/namespace";
/// EIP tag: the pod's name.
pub const TAG_POD_NAME: &str = "kube-eip.io/pod-name";
/// EIP tag: the pod's UID.
pub const TAG_POD_UID: &str = "kube-eip.io/pod-uid";
/// EIP tag: the node the EIP was allocated for.
pub const TAG_NODE: &str = "kube-eip.io/node";
/// Every ownership tag, in the order the agent writes them.
pub const OWNERSHIP_TAG_KEYS: [&str; 5] = [
    TAG_CLUSTER_ID,
    TAG_NAMESPACE,
    TAG_POD_NAME,
    TAG_POD_UID,
    TAG_NODE,
];
/// How many of an EIP's tags the agent reserves for ownership tags.
pub const RESERVED_TAG_COUNT: usize = OWNERSHIP_TAG_KEYS.len();

/// Value of [`ALLOCATED_EIP_ADDRESS`].
pub fn format_allocated_eip_address(ip: Ipv4Addr) -> String {
    ip.to_string()
}

/// Reads [`ALLOCATED_EIP_ADDRESS`].
pub fn parse_allocated_eip_address(value: &str) -> Result<Ipv4Addr, Error> {
    value.trim().parse().map_err(|_| Error::InvalidValue {
        key: ALLOCATED_EIP_ADDRESS,
        value: value.to_owned(),
        expected: "an IPv4 address such as 47.96.1.2",
    })
}

/// Value of [`ALLOCATED_EIP_ID`].
pub fn format_allocated_eip_id(id: &AllocationId) -> String {
    id.to_string()
}

/// Reads [`ALLOCATED_EIP_ID`].
pub fn parse_allocated_eip_id(value: &str) -> Result<AllocationId, Error> {
    AllocationId::parse(value.trim()).ok_or_else(|| Error::InvalidValue {
        key: ALLOCATED_EIP_ID,
        value: value.to_owned(),
        expected: "an EIP allocation id (eip- followed by lowercase letters and digits)",
    })
}

/// Value of a count annotation ([`NODE_MAX_AVAILABLE_IP`], [`NODE_ENI_QUANTITY`],
/// [`NODE_ENI_PRIVATE_IP_QUANTITY`]).
pub fn format_count(n: u32) -> String {
    n.to_string()
}

/// Reads a count annotation; `key` is the annotation it came from (for the error).
pub fn parse_count(key: &'static str, value: &str) -> Result<u32, Error> {
    value.trim().parse().map_err(|_| Error::InvalidValue {
        key,
        value: value.to_owned(),
        expected: "a whole number",
    })
}

/// Value of [`EIP_CONDITION`]'s status.
pub const fn format_condition_status(ready: bool) -> &'static str {
    if ready {
        CONDITION_TRUE
    } else {
        CONDITION_FALSE
    }
}

/// Reads a condition status; `None` for `Unknown` or anything else.
pub fn parse_condition_status(value: &str) -> Option<bool> {
    match value {
        CONDITION_TRUE => Some(true),
        CONDITION_FALSE => Some(false),
        _ => None,
    }
}

/// Value of [`LABEL_PODEIP_NODE`] for `node`: the node name itself when it is a valid label
/// value (node names usually are), otherwise `sha256-` and the first 56 hex digits of the
/// name's SHA-256, so that every node name maps to a valid, stable label value.
pub fn format_node_label(node: &str) -> String {
    if is_label_value(node) {
        return node.to_owned();
    }
    let digest = hex::encode(sha2::Sha256::digest(node.as_bytes()));
    format!(
        "sha256-{}",
        &digest[..MAX_LABEL_VALUE_CHARS - "sha256-".len()]
    )
}

/// Whether a [`LABEL_PODEIP_NODE`] value names `node` (the reading side of
/// [`format_node_label`], which is not invertible for long names).
pub fn parse_node_label(value: &str, node: &str) -> bool {
    value == format_node_label(node)
}

/// Whether `s` is a valid label value: at most 63 characters, alphanumerics, `-`, `_` and
/// `.`, beginning and ending with an alphanumeric (or empty).
pub fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() <= MAX_LABEL_VALUE_CHARS
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_none_or(u8::is_ascii_alphanumeric)
        && b.last().is_none_or(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocated_address_round_trips() {
        let ip = Ipv4Addr::new(47, 96, 1, 2);
        let s = format_allocated_eip_address(ip);
        assert_eq!(s, "47.96.1.2");
        assert_eq!(parse_allocated_eip_address(&s).ok(), Some(ip));
        let err = parse_allocated_eip_address("47.96.1")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "invalid value \"47.96.1\" in k8s.aliyun.com/allocated-eipAddress: expected an IPv4 address such as 47.96.1.2"
            )
        );
    }

    #[test]
    fn allocated_id_round_trips() {
        let id = AllocationId::parse("eip-bp1abc123").expect("valid id");
        let s = format_allocated_eip_id(&id);
        assert_eq!(parse_allocated_eip_id(&s).ok(), Some(id));
        assert!(parse_allocated_eip_id("i-123").is_err());
        assert!(parse_allocated_eip_id("eip-ABC").is_err());
    }

    #[test]
    fn counts_round_trip() {
        for n in [0, 1, 20, 45, u32::MAX] {
            assert_eq!(
                parse_count(NODE_MAX_AVAILABLE_IP, &format_count(n)).ok(),
                Some(n)
            );
        }
        for bad in ["", "-1", "20 ips", "4294967296"] {
            let err = parse_count(NODE_ENI_QUANTITY, bad)
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.contains(NODE_ENI_QUANTITY)),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn condition_status_round_trips() {
        for ready in [true, false] {
            assert_eq!(
                parse_condition_status(format_condition_status(ready)),
                Some(ready)
            );
        }
        assert_eq!(parse_condition_status("Unknown"), None);
    }

    #[test]
    fn node_label_round_trips_and_is_always_a_valid_label_value() {
        for node in ["node-1", "cn-hangzhou.192.168.0.10", "n", &"a".repeat(63)] {
            assert_eq!(format_node_label(node), node, "short names are kept");
            assert!(parse_node_label(&format_node_label(node), node));
        }
        let long = format!("{}.example.internal", "a".repeat(60));
        let other = format!("{}.example.internal", "b".repeat(60));
        for node in [long.as_str(), other.as_str(), "UPPER_", "-x", "a b"] {
            let v = format_node_label(node);
            assert!(is_label_value(&v), "{node:?} -> {v:?}");
            assert!(v.starts_with("sha256-"), "{v}");
            assert_eq!(v.len(), MAX_LABEL_VALUE_CHARS);
            assert!(parse_node_label(&v, node));
        }
        assert_ne!(format_node_label(&long), format_node_label(&other));
        assert!(!parse_node_label("node-1", "node-2"));
        assert!(!is_label_value(&"a".repeat(64)));
    }

    #[test]
    fn reasons_are_distinct_upper_camel_case() {
        let mut seen = std::collections::BTreeSet::new();
        for r in ALL_REASONS {
            assert!(seen.insert(r), "{r} twice");
            assert!(r.starts_with(|c: char| c.is_ascii_uppercase()), "{r}");
            assert!(r.chars().all(|c| c.is_ascii_alphanumeric()), "{r}");
        }
        assert_eq!(REASON_GARBAGE_COLLECTED, "EipGarbageCollected");
        assert_eq!(REASON_RELEASED, "EipReleased");
    }

    #[test]
    fn names_have_the_published_spelling() {
        assert_eq!(ALLOCATED_EIP_ADDRESS, "k8s.aliyun.com/allocated-eipAddress");
        assert_eq!(ALLOCATED_EIP_ID, "k8s.aliyun.com/allocated-eip-id");
        assert_eq!(EIP_CONDITION, "k8s.aliyun.com/eip");
        assert_eq!(NODE_MAX_AVAILABLE_IP, "k8s.aliyun.com/max-available-ip");
        assert!(OWNERSHIP_TAG_KEYS.iter().all(|k| k.starts_with(TAG_PREFIX)));
        assert_eq!(RESERVED_TAG_COUNT, 5);
    }
}
