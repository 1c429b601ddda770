//! Fixture builders that read like sentences, for tests and benchmarks:
//! `node("n1").instance_type("ecs.g7.large").max_ips(20)` and
//! `pod("web-0").with_eip().on("n1")`.

use eip_core::capacity::{
    InstanceTypeCapacity, NodeCapacity, SlotSource, UnknownCapacity, builtin_instance_type,
};

use crate::state::{EipNeed, NodeFacts, PodView};

/// Start a node with unknown capacity, ready, not cordoned.
pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder(NodeFacts {
        name: name.to_string(),
        instance_type: None,
        zone: None,
        capacity: NodeCapacity::Unknown(UnknownCapacity::NoInstanceType),
        unschedulable: false,
        ready: true,
    })
}

/// Builder for [`NodeFacts`].
#[derive(Debug, Clone)]
pub struct NodeBuilder(NodeFacts);

impl NodeBuilder {
    /// Capacity from the agent's ENI annotations: `(enis - 1) * ips`, with this instance type.
    pub fn instance_type_with(mut self, it: &str, enis: u32, ips: u32) -> Self {
        self.0.instance_type = Some(it.to_string());
        let e = InstanceTypeCapacity::new(enis, ips);
        self.0.capacity = NodeCapacity::Known {
            total: e.pod_ip_slots(),
            source: SlotSource::EniAnnotations(e),
        };
        self
    }
    /// Instance type label; capacity from the built-in table (unknown when not listed).
    pub fn instance_type(mut self, it: &str) -> Self {
        self.0.instance_type = Some(it.to_string());
        self.0.capacity = match builtin_instance_type(it) {
            Some(e) => NodeCapacity::Known {
                total: e.pod_ip_slots(),
                source: SlotSource::BuiltinTable(e),
            },
            None => NodeCapacity::Unknown(UnknownCapacity::UnknownInstanceType),
        };
        self
    }
    /// Capacity published by the agent (`max-available-ip`).
    pub fn max_ips(mut self, n: u32) -> Self {
        self.0.capacity = NodeCapacity::Known {
            total: n,
            source: SlotSource::MaxAvailableIp(None),
        };
        self
    }
    /// Zone label.
    pub fn zone(mut self, z: &str) -> Self {
        self.0.zone = Some(z.to_string());
        self
    }
    /// Cordoned.
    pub fn cordoned(mut self) -> Self {
        self.0.unschedulable = true;
        self
    }
    /// The facts.
    pub fn build(self) -> NodeFacts {
        self.0
    }
}

impl From<NodeBuilder> for NodeFacts {
    fn from(b: NodeBuilder) -> Self {
        b.0
    }
}

/// Start a pod in `default` with a uid derived from the name, not on a node.
pub fn pod(name: &str) -> PodBuilder {
    PodBuilder(PodView {
        uid: format!("uid-{name}"),
        namespace: "default".to_string(),
        name: name.to_string(),
        node: None,
        host_network: false,
        terminal: false,
        eip: EipNeed::None,
        allocated_eip: None,
        eip_kept: false,
        bandwidth_package: None,
        controller: None,
        owner: None,
    })
}

/// Builder for [`PodView`].
#[derive(Debug, Clone)]
pub struct PodBuilder(PodView);

impl PodBuilder {
    /// Controlled by this owner (`kind`, `name`), already read as `owner`.
    pub fn owned_by(
        mut self,
        kind: &str,
        name: &str,
        owner: Option<eip_core::workload::Owner>,
    ) -> Self {
        self.0.controller = Some((kind.to_string(), name.to_string()));
        self.0.owner = owner;
        self
    }

    /// Its new EIP joins this shared bandwidth package.
    pub fn bandwidth_package(mut self, id: &str) -> Self {
        self.0.bandwidth_package = Some(id.to_string());
        self
    }

    /// Ask for a new EIP.
    pub fn with_eip(mut self) -> Self {
        self.0.eip = EipNeed::Auto;
        self
    }
    /// Keep the EIP after the pod (release strategy `Never` or a duration).
    pub fn keeps_eip(mut self) -> Self {
        self.0.eip_kept = true;
        self
    }
    /// Ask for an existing EIP.
    pub fn named_eip(mut self, id: &str) -> Self {
        self.0.eip = EipNeed::Named(id.into());
        self
    }
    /// Invalid EIP annotations.
    pub fn invalid_eip(mut self, why: &str) -> Self {
        self.0.eip = EipNeed::Invalid(why.into());
        self
    }
    /// On a node.
    pub fn on(mut self, node: &str) -> Self {
        self.0.node = Some(node.to_string());
        self
    }
    /// Host network.
    pub fn host_network(mut self) -> Self {
        self.0.host_network = true;
        self
    }
    /// Succeeded or Failed.
    pub fn terminal(mut self) -> Self {
        self.0.terminal = true;
        self
    }
    /// EIP already allocated by the agent.
    pub fn allocated(mut self, id: &str) -> Self {
        self.0.allocated_eip = Some(id.to_string());
        self
    }
    /// Namespace.
    pub fn ns(mut self, ns: &str) -> Self {
        self.0.namespace = ns.to_string();
        self
    }
    /// Explicit uid.
    pub fn uid(mut self, uid: &str) -> Self {
        self.0.uid = uid.to_string();
        self
    }
    /// The facts.
    pub fn build(self) -> PodView {
        self.0
    }
}

impl From<PodBuilder> for PodView {
    fn from(b: PodBuilder) -> Self {
        b.0
    }
}

/// A cloud client for region `cn-hangzhou` at `endpoint` (an eip-cloudsim), with test keys.
pub fn sim_cloud(endpoint: &str) -> anyhow::Result<std::sync::Arc<dyn eip_cloud::Cloud>> {
    let client = eip_cloud::AliyunClient::builder()
        .region("cn-hangzhou")
        .endpoint(endpoint)
        .credentials(eip_cloud::credentials::Credentials::new(
            "testid",
            "testsecret",
        ))
        .build()?;
    Ok(std::sync::Arc::new(client))
}

/// Poll `check` every 50 ms until it yields a value; panics naming `what` after 60 s.
pub async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Run a test body with a time limit: its own error, or "test timed out".
pub async fn within<T>(
    limit: std::time::Duration,
    body: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(limit, body)
        .await
        .map_err(|_| anyhow::anyhow!("test timed out after {limit:?}"))?
}

/// A [`crate::bind::Binder`] that keeps bindings in memory, answers a second binding of
/// the same pod with 409 as the API server does, and can be slowed down or made to fail.
#[derive(Debug, Default)]
pub struct FakeBinder {
    /// `namespace/name` -> node, for pods bound through this fake.
    pub bound: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Pods `get_pod` knows (keyed `namespace/name`).
    pub pods: std::sync::Mutex<std::collections::HashMap<String, PodView>>,
    /// Delay inside each binding call (to make concurrent binds interleave).
    pub delay: std::time::Duration,
    /// When set, every binding call fails with this API error text.
    pub fail_with: std::sync::Mutex<Option<String>>,
    /// Binding calls made.
    pub calls: std::sync::atomic::AtomicUsize,
}

impl FakeBinder {
    /// A fake whose binding calls take `delay`.
    pub fn with_delay(delay: std::time::Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// Node a pod was bound to.
    pub fn node_of(&self, namespace: &str, name: &str) -> Option<String> {
        self.bound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    /// How many pods are bound.
    pub fn bound_count(&self) -> usize {
        self.bound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

#[async_trait::async_trait]
impl crate::bind::Binder for FakeBinder {
    async fn bind(
        &self,
        namespace: &str,
        name: &str,
        _uid: &str,
        node: &str,
    ) -> Result<(), crate::Error> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if let Some(e) = self
            .fail_with
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        {
            return Err(crate::Error::KubeApi(e));
        }
        let mut bound = self
            .bound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = format!("{namespace}/{name}");
        if let Some(on) = bound.get(&key) {
            return Err(crate::Error::BindConflict(format!(
                "pod {name} is already assigned to node \"{on}\""
            )));
        }
        bound.insert(key, node.to_string());
        Ok(())
    }

    async fn get_pod(&self, namespace: &str, name: &str) -> Result<Option<PodView>, crate::Error> {
        let key = format!("{namespace}/{name}");
        let node = self
            .bound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        let pods = self
            .pods
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(pods.get(&key).cloned().map(|mut p| {
            if node.is_some() {
                p.node = node;
            }
            p
        }))
    }
}

/// A synthetic cluster and scheduler requests at scale, for benchmarks and the load
/// generator: `nodes` nodes (`ecs.g7.4xlarge`-sized, 140 slots, zone a or b) carrying
/// `pods_per_node` pods each on average, 1 in 50 an EIP pod with its EIP allocated.
pub mod synthetic {
    use super::{node, pod};
    use crate::state::{CloudView, ClusterState, EniSwitches};

    /// A real pod as kube-scheduler v1.28 sends it (from the captured fixtures).
    pub const POD_FIXTURE: &str = include_str!(
        "../tests/fixtures/real-kube-scheduler-1.28/filter.nodecache-true.request.json"
    );
    /// A node list as the scheduler sends it, whose items serve as templates.
    pub const NODES_FIXTURE: &str = include_str!("../tests/fixtures/02-extender-args-nodes.json");

    /// Node name `i`.
    pub fn node_name(i: usize) -> String {
        format!(
            "cn-hangzhou.10.{}.{}.{}",
            i / 65536 % 256,
            i / 256 % 256,
            i % 256
        )
    }

    /// The view: `nodes` nodes with `pods_per_node` pods each on average.
    pub fn cluster(nodes: usize, pods_per_node: usize) -> ClusterState {
        let mut s = ClusterState::new(100_000, "cn-hangzhou");
        s.switches = EniSwitches::new(true, false);
        s.cloud = Some(CloudView {
            region: "cn-hangzhou".into(),
            zone_free_ips: [
                ("cn-hangzhou-a".to_string(), 1000),
                ("cn-hangzhou-b".to_string(), 1000),
            ]
            .into_iter()
            .collect(),
            fetched_at: Some(std::time::SystemTime::now()),
            ..CloudView::default()
        });
        for i in 0..nodes {
            let name = node_name(i);
            let zone = if i % 2 == 0 {
                "cn-hangzhou-a"
            } else {
                "cn-hangzhou-b"
            };
            s.apply_node(
                node(&name)
                    .instance_type_with("ecs.g7.4xlarge", 8, 20)
                    .zone(zone)
                    .build(),
            );
            // vary the load so scores spread: 0..pods_per_node*2 pods, pods_per_node on average
            let here = (i * 7919) % (pods_per_node * 2 + 1);
            for j in 0..here {
                let n = format!("w-{i}-{j}");
                let mut p = pod(&n).ns("apps").on(&name);
                if j % 50 == 0 {
                    p = p.with_eip().allocated(&format!("eip-{i}x{j}"));
                }
                s.apply_pod(p.build());
            }
        }
        s
    }

    fn pod_json() -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(POD_FIXTURE)
            .ok()
            .and_then(|v| v.get("Pod").cloned())
            .unwrap_or_default()
    }

    /// A filter/prioritize body naming the first `n` nodes (`nodeCacheCapable: true`).
    pub fn names_request(n: usize) -> Vec<u8> {
        let names: Vec<String> = (0..n).map(node_name).collect();
        serde_json::to_vec(
            &serde_json::json!({"Pod": pod_json(), "Nodes": null, "NodeNames": names}),
        )
        .unwrap_or_default()
    }

    /// A filter body carrying the first `n` nodes in full (`nodeCacheCapable: false`),
    /// each about 12 KiB (50 images, as real nodes carry).
    pub fn nodes_request(n: usize) -> Vec<u8> {
        let template = serde_json::from_str::<serde_json::Value>(NODES_FIXTURE)
            .ok()
            .and_then(|v| v.pointer("/Nodes/items/0").cloned())
            .unwrap_or_default();
        let images: Vec<serde_json::Value> = (0..50)
            .map(|i| {
                serde_json::json!({
                    "names": [
                        format!("registry.cn-hangzhou.aliyuncs.com/team/service-{i}@sha256:{:064x}", i),
                        format!("registry.cn-hangzhou.aliyuncs.com/team/service-{i}:v1.{i}.0"),
                    ],
                    "sizeBytes": 123_456_789 + i,
                })
            })
            .collect();
        let items: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let mut node = template.clone();
                if let Some(m) = node.pointer_mut("/metadata/name") {
                    *m = serde_json::Value::String(node_name(i));
                }
                if let Some(st) = node.pointer_mut("/status").and_then(|s| s.as_object_mut()) {
                    st.insert("images".into(), serde_json::Value::Array(images.clone()));
                }
                node
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "Pod": pod_json(),
            "Nodes": {"metadata": {}, "items": items},
            "NodeNames": null,
        }))
        .unwrap_or_default()
    }
}
