//! Bind: re-check the pod against the node under a per-node async guard, reserve the slot
//! (and the region quota unit for EIP pods) in the shared view, create `pods/binding`, and
//! keep the reservation until the pod watch shows the pod on the node (or release it when
//! binding fails). The view's lock is only held for the synchronous check-and-reserve,
//! never across an API call; the per-node guard is the only thing held across `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use kube::api::{Api, PostParams};
use kube::core::ObjectMeta;

use crate::decide::{self, Rejection};
use crate::error::Error;
use crate::facts;
use crate::state::{ClusterState, PodView, ReserveOutcome};

/// The Kubernetes calls bind needs; a trait so bursts can be tested with a fake.
#[async_trait]
pub trait Binder: Send + Sync + std::fmt::Debug {
    /// Create `pods/binding` for the pod.
    async fn bind(&self, namespace: &str, name: &str, uid: &str, node: &str) -> Result<(), Error>;
    /// Read the pod (for pods the watch has not shown yet, and to resolve 409s).
    async fn get_pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, Error>;
}

/// [`Binder`] over a `kube::Client`.
#[derive(Clone)]
pub struct KubeBinder {
    client: kube::Client,
}

impl std::fmt::Debug for KubeBinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeBinder").finish_non_exhaustive()
    }
}

impl KubeBinder {
    /// Bind through this client.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

fn map_kube(e: kube::Error) -> Error {
    match e {
        kube::Error::Api(s) if s.code == 409 => Error::BindConflict(s.message),
        kube::Error::Api(s) if s.code == 404 => Error::PodNotFound,
        other => Error::KubeApi(other.to_string()),
    }
}

#[async_trait]
impl Binder for KubeBinder {
    async fn bind(&self, namespace: &str, name: &str, uid: &str, node: &str) -> Result<(), Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                uid: (!uid.is_empty()).then(|| uid.to_string()),
                ..ObjectMeta::default()
            },
            target: ObjectReference {
                api_version: Some("v1".to_string()),
                kind: Some("Node".to_string()),
                name: Some(node.to_string()),
                ..ObjectReference::default()
            },
        };
        api.create_subresource::<_, serde_json::Value>(
            "binding",
            name,
            &PostParams::default(),
            &binding,
        )
        .await
        .map(|_| ())
        .map_err(map_kube)
    }

    async fn get_pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        match api.get_opt(name).await {
            Ok(p) => Ok(p.as_ref().and_then(facts::pod_from_object)),
            Err(e) => Err(map_kube(e)),
        }
    }
}

/// How a bind ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindOutcome {
    /// Bound now.
    Bound,
    /// Already bound to this node (a retry of a bind that succeeded).
    AlreadyBound,
    /// Refused by the re-check.
    Rejected(Rejection),
    /// The request or the API call failed; the sentence says why.
    Failed(String),
}

impl BindOutcome {
    /// The `Error` to answer with (empty on success).
    pub fn error_text(&self) -> String {
        match self {
            BindOutcome::Bound | BindOutcome::AlreadyBound => String::new(),
            BindOutcome::Rejected(r) => r.message.clone(),
            BindOutcome::Failed(m) => m.clone(),
        }
    }
}

/// Serialises binds per node and keeps the view's reservations right.
#[derive(Debug)]
pub struct BindCoordinator {
    state: Arc<RwLock<ClusterState>>,
    binder: Arc<dyn Binder>,
    guards: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl BindCoordinator {
    /// Coordinate binds over this view with this binder.
    pub fn new(state: Arc<RwLock<ClusterState>>, binder: Arc<dyn Binder>) -> Self {
        Self {
            state,
            binder,
            guards: Mutex::new(HashMap::new()),
        }
    }

    fn guard(&self, node: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut g = self.guards.lock().unwrap_or_else(PoisonError::into_inner);
        g.entry(node.to_string()).or_default().clone()
    }

    /// Drop the guards of nodes the view no longer knows (deleted from the Node watch) that
    /// no bind holds or waits for; returns how many were dropped. A bind holds a clone of
    /// its guard while it waits and runs, and clones are only taken under the map's lock,
    /// so a guard with no clone out can go: the next bind to that name starts a fresh one.
    pub fn prune_guards(&self) -> usize {
        let st = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let mut g = self.guards.lock().unwrap_or_else(PoisonError::into_inner);
        let before = g.len();
        g.retain(|node, guard| {
            Arc::strong_count(guard) > 1 || st.node(node).is_some_and(|e| e.facts.is_some())
        });
        before - g.len()
    }

    /// Nodes with a guard (for `/debug/state`-style checks and tests).
    pub fn guard_count(&self) -> usize {
        self.guards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Bind `namespace/name` (uid) to `node`.
    pub async fn bind(&self, namespace: &str, name: &str, uid: &str, node: &str) -> BindOutcome {
        if namespace.is_empty() || name.is_empty() || node.is_empty() {
            return BindOutcome::Failed(
                "bind request lacks PodNamespace, PodName or Node".to_string(),
            );
        }
        // only nodes in the view get a guard (the map stays bounded by the cluster's nodes)
        let known = self
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .node(node)
            .is_some_and(|e| e.facts.is_some());
        if !known {
            return BindOutcome::Rejected(decide::unknown_node(node));
        }
        let guard = self.guard(node);
        let _held = guard.lock().await;

        let cached = {
            let st = self.state.read().unwrap_or_else(PoisonError::into_inner);
            st.pod(uid)
        };
        let pod = match cached {
            Some(p) => p,
            None => match self.binder.get_pod(namespace, name).await {
                Ok(Some(p)) if uid.is_empty() || p.uid == uid => p,
                Ok(Some(p)) => {
                    return BindOutcome::Failed(format!(
                        "pod {namespace}/{name} has uid {} but the scheduler asked to bind uid {uid}; the pod was recreated",
                        p.uid
                    ));
                }
                Ok(None) | Err(Error::PodNotFound) => {
                    return BindOutcome::Failed(format!("pod {namespace}/{name} no longer exists"));
                }
                Err(e) => {
                    return BindOutcome::Failed(format!(
                        "failed to read pod {namespace}/{name} before binding: {e}"
                    ));
                }
            },
        };
        let uid = if uid.is_empty() {
            pod.uid.clone()
        } else {
            uid.to_string()
        };

        // check and reserve atomically under the view's write lock (no await inside)
        {
            let mut st = self.state.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(other) = pod.node.as_deref()
                && other != node
                && st.pod_on(&uid, other)
            {
                return BindOutcome::Failed(format!(
                    "pod {namespace}/{name} is already assigned to node {other}"
                ));
            }
            let already = st.pod_on(&uid, node)
                || st
                    .reservation(&uid)
                    .is_some_and(|r| r.node.as_ref() == node);
            if already {
                return BindOutcome::AlreadyBound;
            }
            if let Some(r) = decide::region_check(&st, &pod) {
                return BindOutcome::Rejected(r);
            }
            // a reservation this pod holds elsewhere must not count against it here
            st.release(&uid);
            if let Err(r) = decide::node_check(&st, &pod, node, None, st.node(node)) {
                return BindOutcome::Rejected(r);
            }
            let eip_unit = decide::needs_quota_unit(&st, &pod);
            if st.reserve(&uid, node, !pod.host_network, eip_unit) == ReserveOutcome::AlreadyThere {
                return BindOutcome::AlreadyBound;
            }
        }

        let result = self.binder.bind(namespace, name, &uid, node).await;
        let outcome = match result {
            Ok(()) => BindOutcome::Bound,
            Err(Error::BindConflict(msg)) => match self.binder.get_pod(namespace, name).await {
                Ok(Some(p)) if p.node.as_deref() == Some(node) => BindOutcome::AlreadyBound,
                _ => BindOutcome::Failed(format!(
                    "failed to bind pod {namespace}/{name} to node {node}: {msg}"
                )),
            },
            Err(e) => BindOutcome::Failed(format!(
                "failed to bind pod {namespace}/{name} to node {node}: {e}"
            )),
        };
        let ok = matches!(outcome, BindOutcome::Bound | BindOutcome::AlreadyBound);
        self.state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .bind_finished(&uid, ok);
        outcome
    }
}
