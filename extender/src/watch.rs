//! Feeding the view from the Kubernetes API with kube-runtime watchers: Nodes, Pods,
//! PodEIPs and ConfigMap `kube-system/eni-config`. Objects are reduced to compact facts as
//! they arrive (a re-list buffers facts, never whole objects), so 150,000 pods stay small.
//! Nothing here runs on the request path.

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use eip_core::eni_config::{ENI_CONFIG_NAME, ENI_CONFIG_NAMESPACE, EniConf};
use eip_core::podeip::PodEIP;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node, ObjectReference, Pod};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::facts;
use crate::http::Readiness;
use crate::state::{ClusterState, EniSwitches, NodeFacts, PodView};

/// A change to apply to the view.
enum Change<T> {
    Apply(T),
    Delete(T),
    Replace(Vec<T>),
}

/// What a PodEIP contributes: namespace, name, allocation id.
type PodEipFacts = (String, String, Option<String>);

/// What `eni-config` contributes: the switches (eip-core's one policy, so the agents read
/// the same), its vSwitch ids, and the ConfigMap itself, for the Warning about an invalid one.
#[derive(Debug, Clone, Default)]
pub struct EniFacts {
    /// The switches as applied.
    pub switches: EniSwitches,
    /// Terway's vSwitch ids (none when the ConfigMap is invalid).
    pub vswitches: Vec<String>,
    /// The ConfigMap, for events.
    pub object: Option<ObjectReference>,
}

fn podeip_facts(p: &PodEIP) -> Option<PodEipFacts> {
    let ns = p.metadata.namespace.clone()?;
    let name = p.metadata.name.clone()?;
    let id = p
        .status
        .as_ref()
        .and_then(|s| s.allocation_id.clone())
        .or_else(|| p.spec.allocation_id.clone())
        .filter(|s| !s.is_empty());
    Some((ns, name, id))
}

/// The `eni-config` ConfigMap as the extender applies it; an invalid one turns the feature
/// off and says why ([`EniSwitches::from_config_map`]), exactly as the agents read it.
pub fn eni_facts(cm: &ConfigMap) -> Option<EniFacts> {
    if cm.metadata.name.as_deref() != Some(ENI_CONFIG_NAME) {
        return None;
    }
    let data = cm.data.clone().unwrap_or_default();
    let switches = EniSwitches::from_config_map(Some(&data));
    let vswitches = match &switches.invalid {
        None => EniConf::from_config_map_data(&data)
            .map(|c| c.vswitches())
            .unwrap_or_default(),
        Some(problem) => {
            tracing::warn!(%problem, "eni-config is invalid; the EIP feature is off until it is fixed");
            Vec::new()
        }
    };
    Some(EniFacts {
        switches,
        vswitches,
        object: Some(cm.object_ref(&())),
    })
}

async fn run_watch<K, T>(
    api: Api<K>,
    config: watcher::Config,
    what: &'static str,
    state: Arc<RwLock<ClusterState>>,
    synced: Arc<AtomicBool>,
    convert: impl Fn(&K) -> Option<T>,
    apply: impl Fn(&mut ClusterState, Change<T>),
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut buffer: Vec<T> = Vec::new();
    loop {
        match stream.try_next().await {
            Ok(Some(event)) => {
                let change = match event {
                    Event::Init => {
                        buffer.clear();
                        None
                    }
                    Event::InitApply(obj) => {
                        if let Some(t) = convert(&obj) {
                            buffer.push(t);
                        }
                        None
                    }
                    Event::InitDone => Some(Change::Replace(std::mem::take(&mut buffer))),
                    Event::Apply(obj) => convert(&obj).map(Change::Apply),
                    Event::Delete(obj) => convert(&obj).map(Change::Delete),
                };
                if let Some(change) = change {
                    let replaced = matches!(change, Change::Replace(_));
                    {
                        let mut st = state.write().unwrap_or_else(PoisonError::into_inner);
                        apply(&mut st, change);
                    }
                    if replaced && !synced.swap(true, Ordering::AcqRel) {
                        tracing::info!(what, "watch synced");
                    }
                }
            }
            Ok(None) => {
                tracing::warn!(what, "watch stream ended");
                return;
            }
            Err(e) => {
                tracing::warn!(what, error = %e, "watch failed; retrying with backoff");
            }
        }
    }
}

/// Run every watcher until the task is dropped; marks `ready.synced` once all four have
/// listed once. Every change of `eni-config` as applied is also sent on `eni_changes`.
pub async fn run(
    client: Client,
    state: Arc<RwLock<ClusterState>>,
    ready: Arc<Readiness>,
    eni_changes: tokio::sync::watch::Sender<EniFacts>,
) {
    let flags: Vec<Arc<AtomicBool>> = (0..4).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let flag = |i: usize| flags.get(i).cloned().unwrap_or_default();

    let nodes = run_watch(
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
        "nodes",
        state.clone(),
        flag(0),
        facts::node_from_object,
        |st, c: Change<NodeFacts>| match c {
            Change::Apply(n) => st.apply_node(n),
            Change::Delete(n) => st.delete_node(&n.name),
            Change::Replace(all) => st.replace_nodes(all),
        },
    );
    let pods = run_watch(
        Api::<Pod>::all(client.clone()),
        watcher::Config::default().page_size(500),
        "pods",
        state.clone(),
        flag(1),
        facts::pod_from_object,
        |st, c: Change<PodView>| match c {
            Change::Apply(p) => st.apply_pod(p),
            Change::Delete(p) => st.delete_pod(&p.uid),
            Change::Replace(all) => st.replace_pods(all),
        },
    );
    let podeips = run_watch(
        Api::<PodEIP>::all(client.clone()),
        watcher::Config::default(),
        "podeips",
        state.clone(),
        flag(2),
        podeip_facts,
        |st, c: Change<PodEipFacts>| match c {
            Change::Apply((ns, name, id)) => st.apply_podeip(&ns, &name, id),
            Change::Delete((ns, name, _)) => st.apply_podeip(&ns, &name, None),
            Change::Replace(all) => st.replace_podeips(all),
        },
    );
    let eni = run_watch(
        Api::<ConfigMap>::namespaced(client, ENI_CONFIG_NAMESPACE),
        watcher::Config::default().fields(&format!("metadata.name={ENI_CONFIG_NAME}")),
        "eni-config",
        state.clone(),
        flag(3),
        eni_facts,
        |st, c: Change<EniFacts>| {
            let facts = match c {
                Change::Apply(f) => f,
                // gone: off, as for a cluster that never had one (eip-core's policy)
                Change::Delete(_) => EniFacts::default(),
                Change::Replace(mut all) => all.pop().unwrap_or_default(),
            };
            if st.switches != facts.switches {
                tracing::info!(
                    eip_enabled = facts.switches.eip_enabled,
                    allow_rob = facts.switches.allow_rob,
                    invalid = facts.switches.invalid.as_deref(),
                    "eni-config switches changed"
                );
            }
            st.switches = facts.switches.clone();
            st.vswitches = facts.vswitches.clone();
            eni_changes.send_replace(facts);
        },
    );
    let watch_ready = async {
        loop {
            if flags.iter().all(|f| f.load(Ordering::Acquire)) {
                ready.synced.store(true, Ordering::Release);
                tracing::info!("all watches synced; serving the scheduler");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let watches = async {
        tokio::join!(nodes, pods, podeips, eni);
    };
    tokio::join!(watches, watch_ready);
}
