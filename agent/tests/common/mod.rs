//! Test harness: the sandbox API server, eip-cloudsim, node simulators and agents.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use eip_agent::controller::{AgentConfig, Context, CrashPlan};
use eip_agent::metrics::{CloudObserver, Metrics};
use eip_agent::runner::{self, RunningAgent};
use eip_cloud::credentials::Credentials;
use eip_cloud::metadata::MetadataClient;
use eip_cloud::{AliyunClient, Cloud, RetryPolicy, WaiterConfig};
use eip_cloudsim::{CloudSim, Delays, EipStatus, RunningSim, SimConfig};
use eip_core::annotations;
use eip_core::eni_config;
use eip_core::names;
use eip_core::podeip::{PodEIP, PodEIPPhase};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt, ResourceExt};
use sandbox::apiserver::{ApiServer, ApiServerOptions, RunningApiServer};
use sandbox::nodesim::{NodeConfig, NodeSim, RunningNode};
use serde_json::json;

/// Every async test body runs under this bound.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(90);
/// Namespace of the test pods.
pub const NS: &str = "default";
/// Cluster id of the test agents.
pub const CLUSTER: &str = "test-cluster";

/// Runs `f` under [`TEST_TIMEOUT`].
pub async fn bounded<T>(f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .map_err(|_| anyhow::anyhow!("test timed out after {TEST_TIMEOUT:?}"))?
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("{what}: not met within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The requests a [`Env::recording_client`] sent, as URIs (path and query).
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<std::sync::Mutex<Vec<String>>>);

impl RequestLog {
    fn push(&self, uri: String) {
        match self.0.lock() {
            Ok(mut g) => g.push(uri),
            Err(p) => p.into_inner().push(uri),
        }
    }

    /// Every request so far, percent-decoded.
    pub fn uris(&self) -> Vec<String> {
        let g = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.iter()
            .map(|u| {
                percent_encoding::percent_decode_str(u)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect()
    }
}

/// One simulated node.
#[derive(Debug)]
pub struct SimNode {
    /// Its configuration (instance id, ...).
    pub cfg: NodeConfig,
    /// The kubelet simulator.
    pub running: RunningNode,
}

/// A cluster: API server, cloud emulator, nodes.
#[allow(missing_debug_implementations)]
pub struct Env {
    /// The API server.
    pub api: RunningApiServer,
    /// Its client.
    pub client: Client,
    /// The cloud emulator.
    pub sim: RunningSim,
    /// The nodes.
    pub nodes: Vec<SimNode>,
}

/// Options of [`Env::start`].
#[derive(Debug, Clone)]
pub struct EnvOptions {
    /// Node names.
    pub nodes: Vec<&'static str>,
    /// Write eni-config with enable_eip_pool "true".
    pub enabled: bool,
    /// Instance type of the nodes.
    pub instance_type: &'static str,
    /// Asynchronous EIP transitions of the emulator.
    pub delays: Delays,
    /// The emulator's account rate limits (its defaults when `None`).
    pub rate_limits: Option<eip_cloudsim::RateLimits>,
}

/// An instance type with room for 150 pods (benchmarks).
pub const BIG_INSTANCE_TYPE: &str = "ecs.bench.big";

impl Default for EnvOptions {
    fn default() -> Self {
        Self {
            nodes: vec!["node-1"],
            enabled: true,
            instance_type: "ecs.g7.large",
            delays: Delays {
                associate_ms: 10,
                unassociate_ms: 10,
                release_ms: 5,
            },
            rate_limits: None,
        }
    }
}

impl Env {
    /// Starts everything.
    pub async fn start(opts: EnvOptions) -> anyhow::Result<Env> {
        let api = ApiServer::start(ApiServerOptions::default()).await?;
        let client = api.client().await?;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &PodEIP::crd()).await?;
        let mut types = SimConfig::default().instance_types;
        types.push(eip_cloudsim::InstanceTypeConfig {
            instance_type_id: BIG_INSTANCE_TYPE.into(),
            cpu_core_count: 64,
            memory_size: 256.0,
            eni_quantity: 6,
            eni_private_ip_address_quantity: 30,
            eni_ipv6_address_quantity: 30,
        });
        let sim = CloudSim::start(SimConfig {
            delays: opts.delays,
            eip_quota: 1000,
            seed: Some(7),
            instance_types: types.clone(),
            rate_limits: opts.rate_limits.clone().unwrap_or_default(),
            ..SimConfig::default()
        })
        .await?;
        let mut nodes = Vec::new();
        for name in &opts.nodes {
            let mut cfg = NodeConfig::new(*name, opts.instance_type);
            cfg.max_grace_period = Some(Duration::from_millis(100));
            cfg.retry_interval = Duration::from_millis(100);
            let cfg = cfg.provision(&sim.admin(), &types, None)?;
            let running = NodeSim::new(client.clone(), cfg.clone(), Arc::new(sim.admin()))
                .spawn()
                .await?;
            nodes.push(SimNode { cfg, running });
        }
        let env = Env {
            api,
            client,
            sim,
            nodes,
        };
        if opts.enabled {
            env.set_eni_config(true, false).await?;
        }
        Ok(env)
    }

    /// A cloud client on the emulator (fast retries).
    pub fn cloud(&self, metrics: Option<Arc<Metrics>>) -> anyhow::Result<Arc<dyn Cloud>> {
        let mut b = AliyunClient::builder()
            .region("cn-hangzhou")
            .endpoint(self.sim.url())
            .credentials(Credentials::new("testid", "testsecret"))
            .timeout(Duration::from_millis(1500))
            .retry(RetryPolicy {
                max_attempts: 6,
                min_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(100),
                jitter: true,
            });
        if let Some(m) = metrics {
            b = b.observer(Arc::new(CloudObserver(m)));
        }
        Ok(Arc::new(b.build()?))
    }

    /// Agent settings for tests: short pauses, GC off unless asked.
    pub fn agent_config(&self, node: usize) -> AgentConfig {
        let name = self
            .nodes
            .get(node)
            .map(|n| n.cfg.name.clone())
            .unwrap_or_default();
        let mut cfg = AgentConfig::new(name, CLUSTER);
        cfg.gc_period = Duration::from_secs(3600);
        cfg.gc_grace = Duration::from_millis(300);
        cfg.lease_duration = Duration::from_secs(5);
        cfg.settle_interval = Duration::from_millis(30);
        cfg.retry_interval = Duration::from_millis(100);
        cfg.blocked_interval = Duration::from_millis(300);
        cfg.wait_timeout = Duration::from_secs(10);
        cfg.resync_interval = Duration::from_millis(300);
        cfg.waiter = WaiterConfig {
            initial_interval: Duration::from_millis(15),
            max_interval: Duration::from_millis(100),
            factor: 1.5,
            absent_polls_before_gone: 2,
        };
        cfg
    }

    /// Starts an agent for node `node`.
    pub async fn agent(
        &self,
        cfg: AgentConfig,
        node: usize,
        crash: Option<Arc<CrashPlan>>,
    ) -> anyhow::Result<RunningAgent> {
        let metrics = Arc::new(Metrics::new());
        let cloud = self.cloud(Some(metrics.clone()))?;
        self.agent_with(cfg, node, crash, cloud, metrics).await
    }

    /// Starts an agent for node `node` on this cloud client.
    pub async fn agent_with(
        &self,
        cfg: AgentConfig,
        node: usize,
        crash: Option<Arc<CrashPlan>>,
        cloud: Arc<dyn Cloud>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<RunningAgent> {
        self.agent_on(self.client.clone(), cfg, node, crash, cloud, metrics)
            .await
    }

    /// Starts an agent for node `node` with this Kubernetes client and cloud client.
    pub async fn agent_on(
        &self,
        client: Client,
        cfg: AgentConfig,
        node: usize,
        crash: Option<Arc<CrashPlan>>,
        cloud: Arc<dyn Cloud>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<RunningAgent> {
        let n = self.nodes.get(node).context("no such node")?;
        let md = MetadataClient::new(self.sim.metadata_url(&n.cfg.instance_id));
        let ctx = Arc::new(Context::new(
            client,
            cloud,
            Some(md),
            Some(n.cfg.instance_id.clone()),
            cfg,
            metrics,
            crash,
        ));
        Ok(runner::start(ctx).await?)
    }

    /// A client on the API server that records the path and query of every request it sends.
    pub async fn recording_client(&self) -> anyhow::Result<(Client, RequestLog)> {
        let log = RequestLog::default();
        let seen = log.clone();
        let layer = tower::ServiceBuilder::new().map_request(
            move |req: http::Request<kube::client::Body>| {
                seen.push(req.uri().to_string());
                req
            },
        );
        let client = kube::client::ClientBuilder::try_from(self.api.config().await?)?
            .with_layer(&layer)
            .build();
        Ok((client, log))
    }

    /// Writes `eni-config` (keeping a Terway key that must survive).
    pub async fn set_eni_config(&self, enabled: bool, rob: bool) -> anyhow::Result<()> {
        let api: Api<ConfigMap> =
            Api::namespaced(self.client.clone(), eni_config::ENI_CONFIG_NAMESPACE);
        let conf = json!({
            "version": "1",
            eni_config::ENABLE_EIP_POOL: if enabled { "true" } else { "false" },
            eni_config::ALLOW_EIP_ROB: if rob { "true" } else { "false" },
        })
        .to_string();
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": eni_config::ENI_CONFIG_NAME, "namespace": eni_config::ENI_CONFIG_NAMESPACE},
            "data": {eni_config::ENI_CONF_KEY: conf},
        });
        api.patch(
            eni_config::ENI_CONFIG_NAME,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&cm),
        )
        .await?;
        Ok(())
    }

    /// Creates a pod on node `node` with these annotations.
    pub async fn pod(&self, name: &str, node: usize, ann: &[(&str, &str)]) -> anyhow::Result<Pod> {
        self.pod_owned(name, node, ann, None).await
    }

    /// Creates a pod on node `node` with these annotations and a controller owner
    /// `(kind, name, uid)`.
    pub async fn pod_owned(
        &self,
        name: &str,
        node: usize,
        ann: &[(&str, &str)],
        owner: Option<(&str, &str, &str)>,
    ) -> anyhow::Result<Pod> {
        let owners: Vec<serde_json::Value> = owner
            .into_iter()
            .map(|(kind, n, uid)| {
                json!({"apiVersion": "apps/v1", "kind": kind, "name": n, "uid": uid, "controller": true})
            })
            .collect();
        let node_name = self
            .nodes
            .get(node)
            .context("no such node")?
            .cfg
            .name
            .clone();
        let annotations: BTreeMap<&str, &str> = ann.iter().copied().collect();
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "annotations": annotations, "ownerReferences": owners},
            "spec": {
                "nodeName": node_name,
                "terminationGracePeriodSeconds": 1,
                "readinessGates": [{"conditionType": names::EIP_CONDITION}],
                "containers": [{"name": "app", "image": "nginx"}],
            },
        }))?;
        Ok(self.pods().create(&PostParams::default(), &pod).await?)
    }

    /// Pods API in the test namespace.
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// PodEIPs API in the test namespace.
    pub fn records(&self) -> Api<PodEIP> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// The PodEIP `name` in the test namespace, if it exists (and can be read).
    pub async fn record(&self, name: &str) -> Option<PodEIP> {
        self.records().get_opt(name).await.ok().flatten()
    }

    /// Deletes a pod (with its grace period).
    pub async fn delete_pod(&self, name: &str) -> anyhow::Result<()> {
        self.pods().delete(name, &DeleteParams::default()).await?;
        Ok(())
    }

    /// Waits until the pod is Bound: annotations written, condition True, record Bound,
    /// and the EIP InUse on the pod's IP in the cloud. Then checks, on that same snapshot,
    /// that the Bound record's status carries everything a Bound record must (see
    /// [`check_bound_status`]). Returns (allocation id, address).
    pub async fn wait_bound(
        &self,
        name: &str,
        within: Duration,
    ) -> anyhow::Result<(String, String)> {
        let pods = self.pods();
        let recs = self.records();
        let admin = self.sim.admin();
        let (pod, rec, eip) = eventually(within, &format!("pod {name} bound"), || {
            let pods = pods.clone();
            let recs = recs.clone();
            let admin = admin.clone();
            async move {
                let pod = pods.get_opt(name).await.ok()??;
                let ann = pod.annotations();
                let id = ann.get(names::ALLOCATED_EIP_ID)?;
                let address = ann.get(names::ALLOCATED_EIP_ADDRESS)?;
                let cond = pod
                    .status
                    .as_ref()?
                    .conditions
                    .as_ref()?
                    .iter()
                    .find(|c| c.type_ == names::EIP_CONDITION)?
                    .status
                    .clone();
                if cond != names::CONDITION_TRUE {
                    return None;
                }
                let rec = recs.get_opt(name).await.ok()??;
                if rec.status.as_ref()?.phase != Some(PodEIPPhase::Bound) {
                    return None;
                }
                let eip = admin.eip(id)?;
                let ip = pod.status.as_ref()?.pod_ip.as_deref()?;
                let on_ip = eip
                    .association
                    .as_ref()
                    .is_some_and(|a| a.private_ip.to_string() == ip);
                (eip.status == EipStatus::InUse && eip.ip_address.to_string() == *address && on_ip)
                    .then_some((pod, rec, eip))
            }
        })
        .await?;
        check_bound_status(&pod, &rec, &eip)
    }

    /// Waits until the pod and its record are gone.
    pub async fn wait_gone(&self, name: &str, within: Duration) -> anyhow::Result<()> {
        let pods = self.pods();
        eventually(within, &format!("pod {name} gone"), || {
            let pods = pods.clone();
            async move { matches!(pods.get_opt(name).await, Ok(None)).then_some(()) }
        })
        .await
    }

    /// Warning/Normal events (events.k8s.io/v1) about the object `name`: (type, reason, note).
    pub async fn events(&self, name: &str) -> anyhow::Result<Vec<(String, String, String)>> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), NS);
        let list = api.list(&Default::default()).await?;
        Ok(list
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                )
            })
            .collect())
    }

    /// EIPs in the cloud tagged with this pod UID.
    pub fn eips_of(&self, pod_uid: &str) -> Vec<eip_cloudsim::Eip> {
        self.sim
            .admin()
            .eips()
            .into_iter()
            .filter(|e| {
                e.tags
                    .iter()
                    .any(|(k, v)| k == names::TAG_POD_UID && v == pod_uid)
            })
            .collect()
    }

    /// EIPs in the cloud that no pod (by UID tag) or PodEIP (by allocation id) accounts for.
    pub async fn unaccounted_eips(&self) -> anyhow::Result<Vec<String>> {
        let pods = self.pods().list(&Default::default()).await?.items;
        let recs = self.records().list(&Default::default()).await?.items;
        let uids: Vec<String> = pods.iter().filter_map(|p| p.uid()).collect();
        let ids: Vec<String> = recs
            .iter()
            .filter_map(|r| {
                r.status
                    .as_ref()
                    .and_then(|s| s.allocation_id.clone())
                    .or_else(|| r.spec.allocation_id.clone())
            })
            .collect();
        Ok(self
            .sim
            .admin()
            .eips()
            .into_iter()
            .filter(|e| {
                let uid = e
                    .tags
                    .iter()
                    .find(|(k, _)| k == names::TAG_POD_UID)
                    .map(|(_, v)| v.clone());
                !ids.contains(&e.allocation_id) && !uid.is_some_and(|u| uids.contains(&u))
            })
            .map(|e| e.allocation_id)
            .collect())
    }

    /// Cloud API calls counted by the emulator, for the EIP actions.
    pub fn eip_calls(&self) -> u64 {
        self.sim
            .admin()
            .calls()
            .iter()
            .filter(|(k, _)| k.contains("Eip") || k.contains("NetworkInterfaces"))
            .map(|(_, v)| *v)
            .sum()
    }
}

/// The annotation asking for a new EIP.
pub const WITH_EIP: (&str, &str) = (annotations::POD_WITH_EIP, "true");

/// Checks that a Bound PodEIP's status carries what the design says a record holds: the
/// EIP address and allocation id (those on the pod's annotations and in the cloud), the
/// ENI and private IP it is associated with, the pod's node and UID, when the pod was last
/// seen, and no last error. Returns (allocation id, address).
pub fn check_bound_status(
    pod: &Pod,
    rec: &PodEIP,
    eip: &eip_cloudsim::Eip,
) -> anyhow::Result<(String, String)> {
    let name = pod.name_any();
    let st = rec.status.clone().unwrap_or_default();
    let ann = pod.annotations();
    let id = ann
        .get(names::ALLOCATED_EIP_ID)
        .cloned()
        .unwrap_or_default();
    let address = ann
        .get(names::ALLOCATED_EIP_ADDRESS)
        .cloned()
        .unwrap_or_default();
    let assoc = eip.association.as_ref();
    let want = (
        Some(PodEIPPhase::Bound),
        Some(address.clone()),
        Some(id.clone()),
        assoc.map(|a| a.eni_id.clone()),
        assoc.map(|a| a.private_ip.to_string()),
        pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        pod.uid(),
        None,
    );
    let got = (
        st.phase,
        st.eip_address,
        st.allocation_id,
        st.network_interface_id,
        st.private_ip_address,
        st.node,
        st.pod_uid,
        st.last_error,
    );
    anyhow::ensure!(
        got == want,
        "PodEIP {name} status (phase, eipAddress, allocationId, networkInterfaceId, privateIpAddress, node, podUid, lastError) is {got:?}, want {want:?}"
    );
    anyhow::ensure!(
        st.pod_last_seen.is_some(),
        "PodEIP {name} status has no podLastSeen"
    );
    Ok((id, address))
}
