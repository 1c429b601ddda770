//! An HTTP client that talks to one scheduler extender the way kube-scheduler's
//! `HTTPExtender` does (`pkg/scheduler/extender.go`): `POST {urlPrefix}/{verb}` with JSON,
//! any status but 200 is an error whose body is ignored, `Error` in a response fails the
//! call, one timeout covers the whole request. Wire types are eip-core's.

use std::collections::{BTreeMap, BTreeSet};

use eip_core::extender::{
    ExtenderArgs, ExtenderBindingArgs, ExtenderBindingResult, ExtenderConfig, ExtenderFilterResult,
    ExtenderPreemptionArgs, ExtenderPreemptionResult, HostPriority, MetaPod, MetaVictims, NodeList,
    Victims, node_name,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::has;

/// The outcome of a successful filter call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterOutcome {
    /// Names of the nodes that passed, in the order returned.
    pub passed: Vec<String>,
    /// `FailedNodes`: node -> reason (preemption may help).
    pub failed: BTreeMap<String, String>,
    /// `FailedAndUnresolvableNodes`: node -> reason (preemption cannot help).
    pub unresolvable: BTreeMap<String, String>,
}

/// One configured extender and the HTTP client used to call it.
#[derive(Debug, Clone)]
pub struct Extender {
    cfg: ExtenderConfig,
    http: reqwest::Client,
}

impl Extender {
    /// A client for this configuration entry (already validated).
    pub fn new(cfg: ExtenderConfig) -> Self {
        let timeout = cfg
            .timeout()
            .unwrap_or(eip_core::extender::DEFAULT_EXTENDER_TIMEOUT);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Extender { cfg, http }
    }

    /// The configuration entry.
    pub fn config(&self) -> &ExtenderConfig {
        &self.cfg
    }

    /// `urlPrefix`, the name kube-scheduler uses for the extender.
    pub fn name(&self) -> &str {
        &self.cfg.url_prefix
    }

    /// Whether errors of this extender are skipped.
    pub fn is_ignorable(&self) -> bool {
        self.cfg.ignorable
    }

    /// Whether the extender filters.
    pub fn filters(&self) -> bool {
        has(&self.cfg.filter_verb)
    }

    /// Whether the extender scores.
    pub fn prioritizes(&self) -> bool {
        has(&self.cfg.prioritize_verb)
    }

    /// Whether the extender binds.
    pub fn binds(&self) -> bool {
        has(&self.cfg.bind_verb)
    }

    /// Whether the extender is asked about preemption.
    pub fn preempts(&self) -> bool {
        has(&self.cfg.preempt_verb)
    }

    /// kube-scheduler `IsInterested`: every pod when `managedResources` is empty, else
    /// pods whose containers or init containers request or limit a managed resource.
    pub fn is_interested(&self, pod: &Pod) -> bool {
        if self.cfg.managed_resources.is_empty() {
            return true;
        }
        let managed: BTreeSet<&str> = self
            .cfg
            .managed_resources
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        let Some(spec) = pod.spec.as_ref() else {
            return false;
        };
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .filter_map(|c| c.resources.as_ref())
            .flat_map(|r| r.requests.iter().flatten().chain(r.limits.iter().flatten()))
            .any(|(name, _)| managed.contains(name.as_str()))
    }

    fn args(&self, pod: &Pod, nodes: &[&Node]) -> Result<ExtenderArgs, String> {
        let mut args = ExtenderArgs {
            pod: pod.clone(),
            ..ExtenderArgs::default()
        };
        if self.cfg.node_cache_capable {
            args.node_names = Some(
                nodes
                    .iter()
                    .map(|n| n.metadata.name.clone().unwrap_or_default())
                    .collect(),
            );
        } else {
            let items = nodes
                .iter()
                .map(serde_json::value::to_raw_value)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("failed to encode nodes for extender: {e}"))?;
            args.nodes = Some(NodeList::new(items));
        }
        Ok(args)
    }

    /// The filter call, read as kube-scheduler reads it.
    pub async fn filter(&self, pod: &Pod, nodes: &[&Node]) -> Result<FilterOutcome, String> {
        let verb = self.cfg.filter_verb.clone().unwrap_or_default();
        let args = self.args(pod, nodes)?;
        let result: ExtenderFilterResult = self.send(&verb, &args).await?;
        read_filter_result(self.name(), self.cfg.node_cache_capable, nodes, result)
    }

    /// The prioritize call: host -> raw score (0..10 by contract, not clamped).
    pub async fn prioritize(
        &self,
        pod: &Pod,
        nodes: &[&Node],
    ) -> Result<Vec<HostPriority>, String> {
        let verb = self.cfg.prioritize_verb.clone().unwrap_or_default();
        let args = self.args(pod, nodes)?;
        self.send(&verb, &args).await
    }

    /// The bind call.
    pub async fn bind(&self, pod: &Pod, node: &str) -> Result<(), String> {
        let verb = self.cfg.bind_verb.clone().unwrap_or_default();
        let args = ExtenderBindingArgs {
            pod_name: pod.metadata.name.clone().unwrap_or_default(),
            pod_namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
            node: node.to_string(),
        };
        let result: ExtenderBindingResult = self.send(&verb, &args).await?;
        if result.error.is_empty() {
            Ok(())
        } else {
            Err(result.error)
        }
    }

    /// The preempt call (`ProcessPreemption`): sends the candidates and their victims
    /// (`NodeNameToMetaVictims` when `nodeCacheCapable`, else full `NodeNameToVictims`),
    /// and resolves the answer back to victims by UID; a node answered with no victim,
    /// an unknown node or an unknown UID is an error, as in kube-scheduler.
    pub async fn preempt<'a>(
        &self,
        pod: &Pod,
        candidates: &BTreeMap<String, Vec<&'a Pod>>,
    ) -> Result<BTreeMap<String, Vec<&'a Pod>>, String> {
        let verb = self.cfg.preempt_verb.clone().unwrap_or_default();
        let mut args = ExtenderPreemptionArgs {
            pod: pod.clone(),
            ..ExtenderPreemptionArgs::default()
        };
        if self.cfg.node_cache_capable {
            args.node_name_to_meta_victims = Some(
                candidates
                    .iter()
                    .map(|(node, victims)| {
                        let meta = MetaVictims {
                            pods: victims
                                .iter()
                                .map(|p| MetaPod {
                                    uid: p.metadata.uid.clone().unwrap_or_default(),
                                })
                                .collect(),
                            num_pdb_violations: 0,
                        };
                        (node.clone(), meta)
                    })
                    .collect(),
            );
        } else {
            args.node_name_to_victims = Some(
                candidates
                    .iter()
                    .map(|(node, victims)| {
                        let full = Victims {
                            pods: victims.iter().map(|p| (*p).clone()).collect(),
                            num_pdb_violations: 0,
                        };
                        (node.clone(), full)
                    })
                    .collect(),
            );
        }
        let result: ExtenderPreemptionResult = self.send(&verb, &args).await?;
        let mut out = BTreeMap::new();
        for (node, meta) in result.node_name_to_meta_victims.unwrap_or_default() {
            let Some(known) = candidates.get(&node) else {
                return Err(format!("node {node:?} not found"));
            };
            if meta.pods.is_empty() {
                return Err(format!("expected at least one victim pod on node {node:?}"));
            }
            let mut victims = Vec::new();
            for m in meta.pods {
                let Some(p) = known
                    .iter()
                    .find(|p| p.metadata.uid.as_deref() == Some(m.uid.as_str()))
                else {
                    return Err(format!(
                        "extender: {} claims to preempt pod (UID: {}) on node: {node}, but the pod is not found on that node",
                        self.name(),
                        m.uid
                    ));
                };
                victims.push(*p);
            }
            out.insert(node, victims);
        }
        Ok(out)
    }

    /// `HTTPExtender.send`: errors read like Go's (`Post "<url>": ...`,
    /// `failed <verb> with extender at URL <url>, code <n>`).
    async fn send<A: Serialize, R: DeserializeOwned>(
        &self,
        verb: &str,
        args: &A,
    ) -> Result<R, String> {
        let url = self.cfg.verb_url(verb);
        let resp = self
            .http
            .post(&url)
            .json(args)
            .send()
            .await
            .map_err(|e| format!("Post {url:?}: {}", error_chain(&e)))?;
        let code = resp.status().as_u16();
        if code != 200 {
            return Err(format!(
                "failed {verb} with extender at URL {url}, code {code}"
            ));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("Post {url:?}: {}", error_chain(&e)))?;
        serde_json::from_slice(&body).map_err(|e| {
            format!("failed to decode {verb} response from extender at URL {url}: {e}")
        })
    }
}

/// How kube-scheduler's `HTTPExtender.Filter` reads a filter response: a non-empty `Error`
/// fails the call; with `nodeCacheCapable` and `NodeNames` set, every name must be one of
/// the input nodes; else `Nodes.items` is used; with neither field set zero nodes pass.
/// Names in `FailedAndUnresolvableNodes` win over the same name in `FailedNodes`.
pub fn read_filter_result(
    extender: &str,
    node_cache_capable: bool,
    input: &[&Node],
    result: ExtenderFilterResult,
) -> Result<FilterOutcome, String> {
    if !result.error.is_empty() {
        return Err(result.error);
    }
    let known: BTreeSet<&str> = input
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    let passed = if let (true, Some(names)) = (node_cache_capable, result.node_names.as_ref()) {
        for name in names {
            if !known.contains(name.as_str()) {
                return Err(format!(
                    "extender {extender:?} claims a filtered node {name:?} which is not found in the input node list"
                ));
            }
        }
        names.clone()
    } else if let Some(list) = result.nodes.as_ref() {
        // kube-scheduler takes returned Nodes as they are; the simulated scheduler keeps
        // the ones it knows by name (an unknown node could not be bound anyway).
        list.items
            .iter()
            .filter_map(|raw| node_name(raw).map(|n| n.into_owned()))
            .filter(|n| known.contains(n.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    let unresolvable = result.failed_and_unresolvable_nodes;
    let failed = result
        .failed_nodes
        .into_iter()
        .filter(|(n, _)| !unresolvable.contains_key(n))
        .collect();
    Ok(FilterOutcome {
        passed,
        failed,
        unresolvable,
    })
}

/// The error and its causes, as one line (reqwest hides the useful part in sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        n
    }

    fn result(json: &str) -> ExtenderFilterResult {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn filter_response_is_read_like_kube_scheduler() {
        let (a, b) = (node("a"), node("b"));
        let input = [&a, &b];
        let out = read_filter_result(
            "x",
            true,
            &input,
            result(r#"{"Nodes":null,"NodeNames":["b"],"FailedNodes":{"a":"full"},"FailedAndUnresolvableNodes":null,"Error":""}"#),
        )
        .unwrap();
        assert_eq!(out.passed, ["b"]);
        assert_eq!(out.failed["a"], "full");
        // Neither field: zero nodes pass.
        let out = read_filter_result("x", true, &input, result(r#"{"Error":""}"#)).unwrap();
        assert!(out.passed.is_empty());
        // NodeNames is ignored when the extender is not nodeCacheCapable.
        let out = read_filter_result("x", false, &input, result(r#"{"NodeNames":["a"]}"#)).unwrap();
        assert!(out.passed.is_empty());
        // Names must be a subset of the input.
        let err =
            read_filter_result("x", true, &input, result(r#"{"NodeNames":["c"]}"#)).unwrap_err();
        assert!(err.contains("claims a filtered node \"c\""), "{err}");
        // Error fails the call.
        let err = read_filter_result(
            "x",
            true,
            &input,
            result(r#"{"NodeNames":["a"],"Error":"boom"}"#),
        )
        .unwrap_err();
        assert_eq!(err, "boom");
        // Full nodes are read by name.
        let out = read_filter_result(
            "x",
            false,
            &input,
            result(r#"{"Nodes":{"metadata":{},"items":[{"metadata":{"name":"a"}}]}}"#),
        )
        .unwrap();
        assert_eq!(out.passed, ["a"]);
        // Unresolvable wins over failed for the same node.
        let out = read_filter_result(
            "x",
            true,
            &input,
            result(r#"{"NodeNames":[],"FailedNodes":{"a":"f","b":"g"},"FailedAndUnresolvableNodes":{"a":"u"}}"#),
        )
        .unwrap();
        assert_eq!(out.failed.len(), 1);
        assert_eq!(out.unresolvable["a"], "u");
    }

    #[test]
    fn interest_follows_managed_resources() {
        let mut cfg = ExtenderConfig {
            url_prefix: "http://127.0.0.1:1".into(),
            ..ExtenderConfig::default()
        };
        let plain = Pod::default();
        assert!(Extender::new(cfg.clone()).is_interested(&plain));
        cfg.managed_resources = vec![eip_core::extender::ExtenderManagedResource {
            name: "example.com/eip".into(),
            ignored_by_scheduler: true,
        }];
        let ext = Extender::new(cfg);
        assert!(!ext.is_interested(&plain));
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"example.com/eip": "1"}}}]}
        }))
        .unwrap();
        assert!(ext.is_interested(&pod));
    }
}
