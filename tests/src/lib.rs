//! End-to-end harness for kube-eip over the whole stack.
//!
//! In: a list of nodes (name, ECS instance type) and optionally a
//! `KubeSchedulerConfiguration`. Out: a running [`Cluster`]: the sandbox API server, an
//! in-process `eip-cloudsim`, one node simulator per node (an ECS instance each), the
//! workload controller and the scheduler loop, all on free loopback ports, plus a fresh
//! namespace for the test; helpers to create workloads ([`fixtures`]), wait for
//! conditions ([`wait::wait_for`]) and look at the cloud state; teardown.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use eip_e2e::{Cluster, deployment};
//! let cluster = Cluster::builder()
//!     .node("n1", "ecs.g7.large")
//!     .node("n2", "ecs.g7.large")
//!     .start()
//!     .await?;
//! cluster.create_deployment(&deployment("web").replicas(3).with_eip()).await?;
//! cluster.teardown().await
//! # }
//! ```
//!
//! # A real cluster instead
//! When `EIP_E2E_KUBECONFIG` names a kubeconfig, the harness uses that cluster instead of
//! starting the sandbox API server, and plays only the node simulators' role through the
//! API (registering the simulated nodes, writing pod IPs from `eip-cloudsim` into pod
//! status, confirming deletions). Its workload controller is not started (the real
//! kube-controller-manager does that). With `EIP_E2E_REAL_SCHEDULER=1` the real
//! kube-scheduler places pods; otherwise the harness's scheduler loop serves pods whose
//! `schedulerName` is [`HARNESS_SCHEDULER_NAME`], and [`Cluster::create_deployment`] and
//! friends set that name. The simulated nodes send no lease heartbeats, so a real node
//! lifecycle controller will eventually taint them `unreachable`; such runs must be
//! short. This mode cannot be exercised in CI (there is no cluster there).

pub mod control_plane;
pub mod fake_extender;
pub mod fixtures;
pub mod wait;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use eip_cloudsim::{Admin, CloudSim, RunningSim, SimConfig};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use sandbox::apiserver::{ApiServer, ApiServerOptions, RunningApiServer};
use sandbox::nodesim::{NodeConfig, NodeSim, RunningNode};
use sandbox::scheduler::{RunningScheduler, Scheduler, SchedulerConfig, SchedulerOptions};
use sandbox::workloads::{RunningWorkloads, WorkloadController, WorkloadOptions};
use serde_json::json;

pub use fixtures::{deployment, pod, statefulset};
pub use wait::{DEFAULT_TEST_TIMEOUT, DEFAULT_WAIT, bounded, wait_for};

/// Environment variable naming a real cluster's kubeconfig.
pub const ENV_KUBECONFIG: &str = "EIP_E2E_KUBECONFIG";
/// Environment variable: `1` leaves scheduling to the real kube-scheduler.
pub const ENV_REAL_SCHEDULER: &str = "EIP_E2E_REAL_SCHEDULER";
/// The profile the harness's scheduler serves on a real cluster.
pub const HARNESS_SCHEDULER_NAME: &str = "eip-e2e-scheduler";
/// Timings are divided by this in the sandbox (backoff 50 ms..500 ms).
pub const TIME_SCALE: u32 = 20;

/// One node to simulate.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    name: String,
    instance_type: String,
    zone: Option<String>,
    max_pods: Option<u32>,
}

/// A node `name`; give it an instance type with [`NodeSpec::instance_type`].
pub fn node(name: &str) -> NodeSpec {
    NodeSpec {
        name: name.to_string(),
        instance_type: "ecs.g7.large".to_string(),
        zone: None,
        max_pods: None,
    }
}

impl NodeSpec {
    /// The ECS instance type (`ecs.g7.large` by default).
    pub fn instance_type(mut self, t: &str) -> Self {
        self.instance_type = t.to_string();
        self
    }

    /// The zone (the emulator's first zone by default).
    pub fn zone(mut self, z: &str) -> Self {
        self.zone = Some(z.to_string());
        self
    }

    /// kubelet `--max-pods` (by default the pod IP slots).
    pub fn max_pods(mut self, n: u32) -> Self {
        self.max_pods = Some(n);
        self
    }
}

/// Builds a [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    nodes: Vec<NodeSpec>,
    sim: SimConfig,
    scheduler: Option<SchedulerConfig>,
    grace: Duration,
}

impl ClusterBuilder {
    /// Adds a node of this instance type.
    pub fn node(self, name: &str, instance_type: &str) -> Self {
        self.with_node(node(name).instance_type(instance_type))
    }

    /// Adds a node described by [`node`].
    pub fn with_node(mut self, spec: NodeSpec) -> Self {
        self.nodes.push(spec);
        self
    }

    /// The emulator's configuration (default: `SimConfig::default()`).
    pub fn cloud(mut self, sim: SimConfig) -> Self {
        self.sim = sim;
        self
    }

    /// The scheduler configuration (default: no extenders).
    pub fn scheduler_config(mut self, cfg: SchedulerConfig) -> Self {
        self.scheduler = Some(cfg);
        self
    }

    /// Longest time a deleted pod stays terminating (default 100 ms).
    pub fn grace_period(mut self, d: Duration) -> Self {
        self.grace = d;
        self
    }

    /// Starts everything.
    pub async fn start(self) -> anyhow::Result<Cluster> {
        let real = std::env::var(ENV_KUBECONFIG).ok().filter(|v| !v.is_empty());
        let real_scheduler = std::env::var(ENV_REAL_SCHEDULER).is_ok_and(|v| v == "1");
        let (api, client, kubeconfig) = match real {
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(&path)
                    .with_context(|| format!("read {ENV_KUBECONFIG}={path}"))?;
                let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
                (None, Client::try_from(cfg)?, PathBuf::from(path))
            }
            None => {
                let api = ApiServer::start(ApiServerOptions::default()).await?;
                let dir = tempfile::tempdir()?.keep();
                let path = dir.join("kubeconfig");
                api.write_kubeconfig(&path)?;
                let client = api.client().await?;
                (Some(api), client, path)
            }
        };
        let instance_types = self.sim.instance_types.clone();
        let cloud = CloudSim::start(self.sim).await?;
        let admin = cloud.admin();
        let mut nodes = Vec::new();
        for spec in &self.nodes {
            let mut cfg = NodeConfig::new(&spec.name, &spec.instance_type);
            cfg.max_pods = spec.max_pods;
            cfg.max_grace_period = Some(self.grace);
            cfg.retry_interval = Duration::from_millis(100);
            let cfg = cfg.provision(&admin, &instance_types, spec.zone.as_deref())?;
            let running = NodeSim::new(client.clone(), cfg.clone(), Arc::new(admin.clone()))
                .spawn()
                .await?;
            nodes.push((cfg, running));
        }
        let workloads = api.is_some().then(|| {
            WorkloadController::new(
                client.clone(),
                WorkloadOptions {
                    resync: Duration::from_millis(500),
                },
            )
            .spawn()
        });
        let scheduler_name =
            (api.is_none() && !real_scheduler).then(|| HARNESS_SCHEDULER_NAME.to_string());
        let namespace = format!("e2e-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}}))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .context("create the test namespace")?;
        let mut cluster = Cluster {
            client,
            namespace,
            api,
            cloud,
            nodes,
            workloads,
            scheduler: None,
            scheduler_name,
            kubeconfig,
        };
        if !(cluster.api.is_none() && real_scheduler) {
            cluster
                .replace_scheduler(
                    self.scheduler
                        .unwrap_or_else(SchedulerConfig::without_extenders),
                )
                .await?;
        }
        Ok(cluster)
    }
}

/// A running cluster; see the crate docs.
pub struct Cluster {
    client: Client,
    namespace: String,
    api: Option<RunningApiServer>,
    cloud: RunningSim,
    nodes: Vec<(NodeConfig, RunningNode)>,
    workloads: Option<RunningWorkloads>,
    scheduler: Option<RunningScheduler>,
    /// `Some` on a real cluster with the harness's scheduler.
    scheduler_name: Option<String>,
    kubeconfig: PathBuf,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .field("sandbox", &self.api.is_some())
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// A builder with no nodes, the emulator's defaults and no extenders.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            nodes: Vec::new(),
            sim: SimConfig::default(),
            scheduler: None,
            grace: Duration::from_millis(100),
        }
    }

    /// A client of the cluster.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The test's own namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A kubeconfig for kubectl and other binaries.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The sandbox API server (`None` on a real cluster): tokens, RBAC, audit.
    pub fn api_server(&self) -> Option<&RunningApiServer> {
        self.api.as_ref()
    }

    /// Whether this runs on the sandbox (not a real cluster).
    pub fn is_sandbox(&self) -> bool {
        self.api.is_some()
    }

    /// The emulator's in-process admin handle.
    pub fn cloud(&self) -> Admin {
        self.cloud.admin()
    }

    /// The emulator's OpenAPI endpoint.
    pub fn cloud_url(&self) -> String {
        self.cloud.url()
    }

    /// A simulated node's configuration (instance id, IPs, limits).
    pub fn node(&self, name: &str) -> anyhow::Result<&NodeConfig> {
        self.nodes
            .iter()
            .map(|(c, _)| c)
            .find(|c| c.name == name)
            .ok_or_else(|| anyhow!("no simulated node {name}"))
    }

    /// The ECS metadata service base URL of a node's instance (what an agent on that
    /// node would read as `http://100.100.100.200`).
    pub fn metadata_url(&self, node: &str) -> anyhow::Result<String> {
        Ok(self.cloud.metadata_url(&self.node(node)?.instance_id))
    }

    /// The private IPs the cloud holds for pods of this node's instance.
    pub fn cloud_pod_ips(&self, node: &str) -> anyhow::Result<BTreeSet<Ipv4Addr>> {
        let cfg = self.node(node)?;
        let inst = self
            .cloud()
            .instance(&cfg.instance_id)
            .ok_or_else(|| anyhow!("instance {} gone from the cloud", cfg.instance_id))?;
        Ok(inst.pod_ips)
    }

    /// Stops the scheduler loop and starts a new one with this configuration.
    pub async fn replace_scheduler(&mut self, config: SchedulerConfig) -> anyhow::Result<()> {
        if let Some(s) = self.scheduler.take() {
            s.shutdown().await?;
        }
        let mut opts = SchedulerOptions::new(config).scaled_down(TIME_SCALE);
        if let Some(name) = &self.scheduler_name {
            opts.scheduler_name = name.clone();
        }
        self.scheduler = Some(Scheduler::new(self.client.clone(), opts).spawn());
        Ok(())
    }

    /// Pods of the test namespace.
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Deployments of the test namespace.
    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// StatefulSets of the test namespace.
    pub fn statefulsets(&self) -> Api<StatefulSet> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates a Deployment in the test namespace.
    pub async fn create_deployment(
        &self,
        f: &fixtures::DeploymentFixture,
    ) -> anyhow::Result<Deployment> {
        let mut d = f.build()?;
        if let (Some(name), Some(spec)) = (self.scheduler_name.clone(), d.spec.as_mut())
            && let Some(ps) = spec.template.spec.as_mut()
        {
            ps.scheduler_name.get_or_insert(name);
        }
        Ok(self
            .deployments()
            .create(&PostParams::default(), &d)
            .await?)
    }

    /// Creates a StatefulSet in the test namespace.
    pub async fn create_statefulset(
        &self,
        f: &fixtures::StatefulSetFixture,
    ) -> anyhow::Result<StatefulSet> {
        let mut s = f.build()?;
        if let (Some(name), Some(spec)) = (self.scheduler_name.clone(), s.spec.as_mut())
            && let Some(ps) = spec.template.spec.as_mut()
        {
            ps.scheduler_name.get_or_insert(name);
        }
        Ok(self
            .statefulsets()
            .create(&PostParams::default(), &s)
            .await?)
    }

    /// Creates a bare pod in the test namespace.
    pub async fn create_pod(&self, f: &fixtures::PodFixture) -> anyhow::Result<Pod> {
        let mut p = f.build()?;
        if let (Some(name), Some(spec)) = (self.scheduler_name.clone(), p.spec.as_mut()) {
            spec.scheduler_name.get_or_insert(name);
        }
        Ok(self.pods().create(&PostParams::default(), &p).await?)
    }

    /// Sets `spec.replicas` of a Deployment.
    pub async fn scale_deployment(&self, name: &str, replicas: i32) -> anyhow::Result<()> {
        self.deployments()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": replicas}})),
            )
            .await?;
        Ok(())
    }

    /// Sets `spec.replicas` of a StatefulSet.
    pub async fn scale_statefulset(&self, name: &str, replicas: i32) -> anyhow::Result<()> {
        self.statefulsets()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": replicas}})),
            )
            .await?;
        Ok(())
    }

    /// Pods of the namespace with label `app=<app>`.
    pub async fn pods_of(&self, app: &str) -> anyhow::Result<Vec<Pod>> {
        let lp = ListParams::default().labels(&format!("{}={app}", fixtures::APP_LABEL));
        Ok(self.pods().list(&lp).await?.items)
    }

    /// Events of the namespace about one object, oldest first.
    pub async fn events_for(&self, object: &str) -> anyhow::Result<Vec<Event>> {
        events_about(&self.client, &self.namespace, object).await
    }

    /// Waits until the pod exists, is Running and Ready, and returns it.
    pub async fn wait_running_ready(&self, name: &str) -> anyhow::Result<Pod> {
        let pods = self.pods();
        wait_for(
            &format!("pod {name} Running and Ready"),
            DEFAULT_WAIT,
            || {
                let pods = pods.clone();
                async move {
                    let p = pods.get_opt(name).await?;
                    Ok(p.filter(sandbox::workloads::is_running_and_ready))
                }
            },
        )
        .await
    }

    /// Waits until no pod with `app=<app>` is left.
    pub async fn wait_no_pods(&self, app: &str) -> anyhow::Result<()> {
        wait_for(
            &format!("pods of {app} gone"),
            DEFAULT_WAIT,
            || async move { Ok(self.pods_of(app).await?.is_empty().then_some(())) },
        )
        .await
    }

    /// Stops every component; on a real cluster deletes the test namespace first.
    pub async fn teardown(mut self) -> anyhow::Result<()> {
        if self.api.is_none() {
            let _ = Api::<Namespace>::all(self.client.clone())
                .delete(&self.namespace, &DeleteParams::default())
                .await;
        }
        if let Some(s) = self.scheduler.take() {
            s.shutdown().await?;
        }
        if let Some(w) = self.workloads.take() {
            w.shutdown().await;
        }
        for (_, n) in self.nodes.drain(..) {
            n.shutdown().await?;
        }
        self.cloud.shutdown().await;
        if let Some(api) = self.api.take() {
            api.shutdown().await;
        }
        Ok(())
    }
}

/// Events in `namespace` about the object named `object`, oldest first.
pub async fn events_about(
    client: &Client,
    namespace: &str,
    object: &str,
) -> anyhow::Result<Vec<Event>> {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let mut list: Vec<Event> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(object))
        .collect();
    list.sort_by_key(|e| e.metadata.creation_timestamp.clone());
    Ok(list)
}

/// The pod's IP as an address.
pub fn pod_ip(p: &Pod) -> Option<Ipv4Addr> {
    p.status.as_ref()?.pod_ip.as_deref()?.parse().ok()
}

/// The pod's node.
pub fn node_of(p: &Pod) -> Option<String> {
    p.spec.as_ref()?.node_name.clone()
}

/// The pod's name.
pub fn name_of(p: &Pod) -> String {
    p.name_any()
}
