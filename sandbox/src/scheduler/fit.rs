//! kube-scheduler's in-tree decisions, reduced to what the simulated cluster needs and kept
//! pure: the Filter plugins that matter here (NodeUnschedulable, TaintToleration,
//! NodeAffinity by `nodeSelector`, NodeResourcesFit by pod count), the node statuses and
//! the `FitError` message (`0/N nodes are available: ...`), a pod-slot score, and the
//! victim selection of DefaultPreemption.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};

use crate::names::{TAINT_NOT_READY, TAINT_UNSCHEDULABLE, condition};

/// kube-scheduler `framework.Code` of a node that did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Preemption might make the node fit (`FailedNodes`, "Too many pods").
    Unschedulable,
    /// Preemption cannot help (`FailedAndUnresolvableNodes`, taints, cordon, selector).
    UnschedulableAndUnresolvable,
}

/// Why one node did not pass (kube-scheduler `framework.Status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The code.
    pub code: Code,
    /// The reasons, each counted in the `FitError` message.
    pub reasons: Vec<String>,
}

impl NodeStatus {
    /// A status with one reason.
    pub fn new(code: Code, reason: impl Into<String>) -> Self {
        NodeStatus {
            code,
            reasons: vec![reason.into()],
        }
    }
}

/// kube-scheduler `ErrReasonUnschedulable` (NodeUnschedulable plugin).
pub const REASON_NODE_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// NodeResourcesFit's reason when the node's `pods` allocatable is used up.
pub const REASON_TOO_MANY_PODS: &str = "Too many pods";
/// NodeAffinity's reason for a `nodeSelector` mismatch.
pub const REASON_NODE_SELECTOR: &str = "node(s) didn't match Pod's node affinity/selector";
/// DefaultPreemption's status for nodes where removing pods cannot help.
pub const REASON_PREEMPTION_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// DefaultPreemption's status for nodes without lower-priority pods.
pub const REASON_NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// The pod's priority (`spec.priority`, 0 when unset as with no PriorityClass).
pub fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Whether the pod is in a terminal phase (no longer uses a slot).
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

/// The node's `status.allocatable["pods"]`, 110 (kubelet's default) when absent.
pub fn allocatable_pods(node: &Node) -> usize {
    node.status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get("pods"))
        .and_then(|q| q.0.parse::<usize>().ok())
        .unwrap_or(110)
}

/// Whether the node's `Ready` condition is `True`.
pub fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == condition::READY))
        .is_some_and(|c| c.status == "True")
}

/// The taints the scheduler sees: the node's own, plus `node.kubernetes.io/not-ready`
/// when the node is not Ready (the node lifecycle controller would add it; the simulated
/// cluster has none, so the scheduler derives it).
pub fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    if !node_ready(node) && !taints.iter().any(|t| t.key == TAINT_NOT_READY) {
        taints.push(Taint {
            key: TAINT_NOT_READY.to_string(),
            effect: "NoSchedule".to_string(),
            ..Taint::default()
        });
    }
    taints
}

/// `v1helper.TolerationsTolerateTaint` for one toleration.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect_ok = t
        .effect
        .as_deref()
        .is_none_or(|e| e.is_empty() || e == taint.effect);
    if !effect_ok {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    let operator = t.operator.as_deref().unwrap_or("Equal");
    if key.is_empty() {
        return operator == "Exists";
    }
    if key != taint.key {
        return false;
    }
    match operator {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// Runs the in-tree filters for one node. `pods_on_node` counts the non-terminal pods
/// bound (or assumed) to the node, terminating ones included, as kube-scheduler does.
pub fn filter_node(pod: &Pod, node: &Node, pods_on_node: usize) -> Result<(), NodeStatus> {
    let tolerations: Vec<Toleration> = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let unschedulable = node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    if unschedulable {
        let cordon = Taint {
            key: TAINT_UNSCHEDULABLE.to_string(),
            effect: "NoSchedule".to_string(),
            ..Taint::default()
        };
        if !tolerations.iter().any(|t| tolerates(t, &cordon)) {
            return Err(NodeStatus::new(
                Code::UnschedulableAndUnresolvable,
                REASON_NODE_UNSCHEDULABLE,
            ));
        }
    }
    if let Some(selector) = pod.spec.as_ref().and_then(|s| s.node_selector.as_ref()) {
        let labels = node.metadata.labels.clone().unwrap_or_default();
        if selector.iter().any(|(k, v)| labels.get(k) != Some(v)) {
            return Err(NodeStatus::new(
                Code::UnschedulableAndUnresolvable,
                REASON_NODE_SELECTOR,
            ));
        }
    }
    for taint in effective_taints(node) {
        if taint.effect != "NoSchedule" && taint.effect != "NoExecute" {
            continue;
        }
        if !tolerations.iter().any(|t| tolerates(t, &taint)) {
            return Err(NodeStatus::new(
                Code::UnschedulableAndUnresolvable,
                format!(
                    "node(s) had untolerated taint {{{}: {}}}",
                    taint.key,
                    taint.value.as_deref().unwrap_or("")
                ),
            ));
        }
    }
    if pods_on_node + 1 > allocatable_pods(node) {
        return Err(NodeStatus::new(Code::Unschedulable, REASON_TOO_MANY_PODS));
    }
    Ok(())
}

/// The in-tree score (0..=100) standing in for kube-scheduler's default score plugins:
/// the share of the node's pod slots still free (NodeResourcesFit LeastAllocated over the
/// `pods` resource only).
pub fn in_tree_score(node: &Node, pods_on_node: usize) -> i64 {
    let cap = allocatable_pods(node).max(1) as i64;
    let free = (cap - pods_on_node as i64).max(0);
    free * 100 / cap
}

/// kube-scheduler `FitError.Error()`: `0/N nodes are available: <sorted histogram>.`
/// followed by the PostFilter (preemption) message when there is one.
pub fn fit_error_message(
    num_all_nodes: usize,
    statuses: &BTreeMap<String, NodeStatus>,
    post_filter_msg: Option<&str>,
) -> String {
    let mut msg = format!("0/{num_all_nodes} nodes are available:");
    let histogram = reasons_histogram(statuses);
    if !histogram.is_empty() {
        msg.push_str(&format!(" {}.", histogram.join(", ")));
    }
    if let Some(post) = post_filter_msg.filter(|m| !m.is_empty()) {
        msg.push_str(&format!(" {post}."));
    }
    msg
}

/// Every reason of every node, counted and sorted as strings (`"2 Too many pods"`).
fn reasons_histogram(statuses: &BTreeMap<String, NodeStatus>) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for status in statuses.values() {
        for r in &status.reasons {
            *counts.entry(r.as_str()).or_default() += 1;
        }
    }
    let mut out: Vec<String> = counts
        .into_iter()
        .map(|(r, n)| format!("{n} {r}"))
        .collect();
    out.sort();
    out
}

/// DefaultPreemption's `nodesWherePreemptionMightHelp` plus `SelectVictimsOnNode`, for the
/// one resource the simulated cluster accounts (pod slots): on each node whose status is
/// `Unschedulable`, remove every lower-priority pod, then reprieve them from the highest
/// priority down while the pod still fits. Returns the candidates (node -> victims) and the
/// statuses of the nodes that are not candidates.
pub fn select_victims<'a>(
    pod: &Pod,
    statuses: &BTreeMap<String, NodeStatus>,
    nodes: &BTreeMap<String, (&'a Node, Vec<&'a Pod>)>,
) -> (BTreeMap<String, Vec<&'a Pod>>, BTreeMap<String, NodeStatus>) {
    let mut candidates = BTreeMap::new();
    let mut others = BTreeMap::new();
    let prio = priority(pod);
    for (name, status) in statuses {
        if status.code == Code::UnschedulableAndUnresolvable {
            others.insert(
                name.clone(),
                NodeStatus::new(
                    Code::UnschedulableAndUnresolvable,
                    REASON_PREEMPTION_NOT_HELPFUL,
                ),
            );
            continue;
        }
        let Some((node, pods)) = nodes.get(name) else {
            continue;
        };
        let mut lower: Vec<&Pod> = pods
            .iter()
            .copied()
            .filter(|p| priority(p) < prio)
            .collect();
        if lower.is_empty() {
            others.insert(
                name.clone(),
                NodeStatus::new(Code::UnschedulableAndUnresolvable, REASON_NO_VICTIMS),
            );
            continue;
        }
        let mut remaining = pods.len() - lower.len();
        if let Err(s) = filter_node(pod, node, remaining) {
            others.insert(name.clone(), s);
            continue;
        }
        // Reprieve the most important victims first.
        lower.sort_by_key(|p| std::cmp::Reverse(priority(p)));
        let mut victims = Vec::new();
        for p in lower {
            if filter_node(pod, node, remaining + 1).is_ok() {
                remaining += 1;
            } else {
                victims.push(p);
            }
        }
        if victims.is_empty() {
            others.insert(
                name.clone(),
                NodeStatus::new(
                    Code::UnschedulableAndUnresolvable,
                    format!("expected at least one victim pod on node {name:?}"),
                ),
            );
            continue;
        }
        candidates.insert(name.clone(), victims);
    }
    (candidates, others)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        NodeCondition, NodeSpec, NodeStatus as K8sNodeStatus, PodSpec,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn node(name: &str, pods: &str, ready: bool) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        n.status = Some(K8sNodeStatus {
            allocatable: Some([("pods".to_string(), Quantity(pods.into()))].into()),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..NodeCondition::default()
            }]),
            ..K8sNodeStatus::default()
        });
        n
    }

    fn pod(prio: i32) -> Pod {
        Pod {
            spec: Some(PodSpec {
                priority: Some(prio),
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn filters_give_kube_schedulers_reasons_and_codes() {
        let p = pod(0);
        assert!(filter_node(&p, &node("a", "2", true), 1).is_ok());
        let full = filter_node(&p, &node("a", "2", true), 2).unwrap_err();
        assert_eq!(full, NodeStatus::new(Code::Unschedulable, "Too many pods"));
        let not_ready = filter_node(&p, &node("a", "2", false), 0).unwrap_err();
        assert_eq!(
            not_ready.reasons,
            ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
        );
        assert_eq!(not_ready.code, Code::UnschedulableAndUnresolvable);
        let mut cordoned = node("a", "2", true);
        cordoned.spec = Some(NodeSpec {
            unschedulable: Some(true),
            ..NodeSpec::default()
        });
        assert_eq!(
            filter_node(&p, &cordoned, 0).unwrap_err().reasons,
            ["node(s) were unschedulable"]
        );
        let mut tolerant = pod(0);
        if let Some(s) = tolerant.spec.as_mut() {
            s.tolerations = Some(vec![Toleration {
                operator: Some("Exists".into()),
                ..Toleration::default()
            }]);
        }
        assert!(filter_node(&tolerant, &cordoned, 0).is_ok());
        assert!(filter_node(&tolerant, &node("a", "2", false), 0).is_ok());
    }

    #[test]
    fn tainted_node_needs_a_matching_toleration() {
        let mut n = node("a", "10", true);
        n.spec = Some(NodeSpec {
            taints: Some(vec![Taint {
                key: "dedicated".into(),
                value: Some("eip".into()),
                effect: "NoSchedule".into(),
                ..Taint::default()
            }]),
            ..NodeSpec::default()
        });
        let err = filter_node(&pod(0), &n, 0).unwrap_err();
        assert_eq!(
            err.reasons,
            ["node(s) had untolerated taint {dedicated: eip}"]
        );
        let mut p = pod(0);
        let tol = |v: &str| Toleration {
            key: Some("dedicated".into()),
            value: Some(v.into()),
            effect: Some("NoSchedule".into()),
            ..Toleration::default()
        };
        if let Some(s) = p.spec.as_mut() {
            s.tolerations = Some(vec![tol("other")]);
        }
        assert!(filter_node(&p, &n, 0).is_err());
        if let Some(s) = p.spec.as_mut() {
            s.tolerations = Some(vec![tol("eip")]);
        }
        assert!(filter_node(&p, &n, 0).is_ok());
    }

    #[test]
    fn fit_error_message_matches_kube_scheduler() {
        let mut statuses = BTreeMap::new();
        statuses.insert(
            "a".into(),
            NodeStatus::new(Code::Unschedulable, "Too many pods"),
        );
        statuses.insert(
            "b".into(),
            NodeStatus::new(Code::Unschedulable, "Too many pods"),
        );
        statuses.insert(
            "c".into(),
            NodeStatus::new(
                Code::UnschedulableAndUnresolvable,
                "node(s) were unschedulable",
            ),
        );
        assert_eq!(
            fit_error_message(3, &statuses, None),
            "0/3 nodes are available: 1 node(s) were unschedulable, 2 Too many pods."
        );
        assert_eq!(
            fit_error_message(
                3,
                &statuses,
                Some(
                    "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
                )
            ),
            // The doubled period is kube-scheduler's: the inner FitError ends with one.
            "0/3 nodes are available: 1 node(s) were unschedulable, 2 Too many pods. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.."
        );
        assert_eq!(
            fit_error_message(0, &BTreeMap::new(), None),
            "0/0 nodes are available:"
        );
    }

    #[test]
    fn preemption_picks_the_fewest_lowest_priority_victims() {
        let n = node("a", "2", true);
        let low = pod(0);
        let mid = pod(5);
        let high = pod(10);
        let mut nodes = BTreeMap::new();
        nodes.insert("a".to_string(), (&n, vec![&low, &mid]));
        let mut statuses = BTreeMap::new();
        statuses.insert(
            "a".to_string(),
            NodeStatus::new(Code::Unschedulable, REASON_TOO_MANY_PODS),
        );
        let (cands, others) = select_victims(&high, &statuses, &nodes);
        assert!(others.is_empty());
        let victims = &cands["a"];
        assert_eq!(victims.len(), 1);
        assert_eq!(priority(victims[0]), 0);
        // An equal-priority pod never preempts.
        let (cands, others) = select_victims(&low, &statuses, &nodes);
        assert!(cands.is_empty());
        assert_eq!(others["a"].reasons, [REASON_NO_VICTIMS]);
        // Unresolvable nodes are not candidates.
        statuses.insert(
            "a".to_string(),
            NodeStatus::new(Code::UnschedulableAndUnresolvable, "quota"),
        );
        let (cands, others) = select_victims(&high, &statuses, &nodes);
        assert!(cands.is_empty());
        assert_eq!(others["a"].reasons, [REASON_PREEMPTION_NOT_HELPFUL]);
    }

    #[test]
    fn score_prefers_emptier_nodes() {
        let n = node("a", "10", true);
        assert_eq!(in_tree_score(&n, 0), 100);
        assert_eq!(in_tree_score(&n, 5), 50);
        assert_eq!(in_tree_score(&n, 12), 0);
    }
}
