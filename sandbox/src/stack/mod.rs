//! The whole kube-eip system on one machine, wired together: what the `sandbox` binary runs.
//!
//! In: [`StackOptions`] (nodes with their instance types and zones, the `eni-config`
//! switches, how many named EIPs to pre-allocate, listen addresses). Out: a running
//! [`Stack`] on loopback: `eip-cloudsim`, the in-memory API server holding the PodEIP CRD
//! and `kube-system/eni-config`, one node simulator (kubelet + Terway IPAM) per node, the
//! real `eip-extender`, one real `eip-agent` per node (publishing its node's capacity
//! first, as the binary does), the scheduler loop configured from the
//! `KubeSchedulerConfiguration` the extender prints, and the workload controller; then
//! [`Stack::shutdown`] stops them in order (no new pods scheduled, agents finish their
//! steps in flight and hand their GC Lease back, then the rest).

pub mod cli;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use eip_agent::controller::{AgentConfig, Context};
use eip_agent::http::OpsServer;
use eip_agent::metrics::{CloudObserver, Metrics};
use eip_agent::runner::{self, RunningAgent};
use eip_cloud::args::AllocateEipArgs;
use eip_cloud::credentials::Credentials;
use eip_cloud::metadata::MetadataClient;
use eip_cloud::{AliyunClient, Cloud, WaiterConfig};
use eip_cloudsim::{Admin, CloudSim, RunningSim, SimConfig};
use eip_core::eni_config::{
    ALLOW_EIP_ROB, ENABLE_EIP_POOL, ENI_CONF_KEY, ENI_CONFIG_NAME, ENI_CONFIG_NAMESPACE, VSWITCHES,
};
use eip_core::podeip::PodEIP;
use eip_extender::RunningExtender;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::{Client, CustomResourceExt};
use serde_json::json;

use crate::apiserver::{ApiServer, ApiServerError, ApiServerOptions, RunningApiServer};
use crate::nodesim::{NodeConfig, NodeSim, RunningNode};
use crate::scheduler::{RunningScheduler, Scheduler, SchedulerConfig, SchedulerOptions};
use crate::workloads::{RunningWorkloads, WorkloadController, WorkloadOptions};

/// The cluster id the agents tag every EIP with.
pub const CLUSTER_ID: &str = "sandbox";
/// How much faster than kube-scheduler's defaults the scheduler loop runs: backoff
/// 50..500 ms, and an unschedulable pod is tried again after 15 s without a cluster event
/// (an `eni-config` change is none, for kube-scheduler as here).
pub const SCHEDULER_TIME_SCALE: u32 = 20;

/// One simulated node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// ECS instance type (from the emulator's table).
    pub instance_type: String,
    /// Zone (one of the emulator's vSwitch zones).
    pub zone: String,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The nodes.
    pub nodes: Vec<NodeSpec>,
    /// `enable_eip_pool` in `eni-config`.
    pub eip_enabled: bool,
    /// `allow_eip_rob` in `eni-config`.
    pub allow_rob: bool,
    /// EIPs allocated before anything starts, for `pod-eip-instanceid`.
    pub named_eips: u32,
    /// The emulator (its `listen`, region, EIP quota, instance types, vSwitches).
    pub cloud: SimConfig,
    /// Where the extender listens.
    pub extender_listen: SocketAddr,
}

impl StackOptions {
    /// `count` nodes `node-1`.. of `instance_type`, spread over `zones` in turn.
    pub fn spread(count: u32, instance_type: &str, zones: &[String]) -> Vec<NodeSpec> {
        (0..count as usize)
            .filter_map(|i| {
                let zone = zones.get(i % zones.len().max(1))?;
                Some(NodeSpec {
                    name: format!("node-{}", i + 1),
                    instance_type: instance_type.to_string(),
                    zone: zone.clone(),
                })
            })
            .collect()
    }
}

impl Default for StackOptions {
    /// 3 `ecs.g7.large` nodes over the emulator's zones, the EIP feature on, no robbing.
    fn default() -> Self {
        let cloud = SimConfig::default();
        let zones = zones_of(&cloud);
        Self {
            nodes: Self::spread(3, "ecs.g7.large", &zones),
            eip_enabled: true,
            allow_rob: false,
            named_eips: 0,
            cloud,
            extender_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// The zones of an emulator configuration's vSwitches, in order, without repeats.
pub fn zones_of(cloud: &SimConfig) -> Vec<String> {
    let mut zones: Vec<String> = Vec::new();
    for v in &cloud.vswitches {
        if !zones.contains(&v.zone_id) {
            zones.push(v.zone_id.clone());
        }
    }
    zones
}

/// What can go wrong while the stack starts or stops.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The options cannot describe a cluster.
    #[error("invalid sandbox options: {0}")]
    Invalid(String),
    /// A listen address cannot be bound.
    #[error("cannot listen for {what} on {addr}")]
    Listen {
        /// The component.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The API server did not start or its client could not be built.
    #[error("failed to start the sandbox API server")]
    ApiServer(#[source] ApiServerError),
    /// The emulator did not start.
    #[error("failed to start eip-cloudsim")]
    CloudSim(#[source] eip_cloudsim::Error),
    /// A cloud client could not be built, or a cloud call failed.
    #[error("failed to {what}")]
    Cloud {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: eip_cloud::Error,
    },
    /// A Kubernetes API call failed.
    #[error("failed to {what}")]
    Kube {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A node simulator, the scheduler loop or its configuration failed.
    #[error(transparent)]
    Cluster(#[from] crate::error::Error),
    /// The extender did not start or its scheduler configuration is unusable.
    #[error("failed to start eip-extender")]
    Extender(#[source] eip_extender::Error),
    /// An agent did not start.
    #[error("failed to start eip-agent on node {node}")]
    Agent {
        /// The node.
        node: String,
        /// The agent's error.
        #[source]
        source: Box<eip_agent::Error>,
    },
}

fn kube_err(what: &str) -> impl FnOnce(kube::Error) -> StackError + '_ {
    move |source| StackError::Kube {
        what: what.to_string(),
        source,
    }
}

/// One running node: its simulator and its agent.
#[derive(Debug)]
struct StackNode {
    cfg: NodeConfig,
    sim: RunningNode,
    agent: RunningAgent,
    /// The agent's /healthz, /readyz, /metrics and /debug/state.
    ops: OpsServer,
}

/// A running stack; see the module docs.
pub struct Stack {
    api: RunningApiServer,
    client: Client,
    cloud: RunningSim,
    nodes: Vec<StackNode>,
    extender: RunningExtender,
    scheduler: RunningScheduler,
    workloads: RunningWorkloads,
    named_eips: Vec<String>,
    scheduler_config_yaml: String,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("api", &self.api)
            .field("cloud", &self.cloud)
            .field("nodes", &self.nodes)
            .field("extender", &self.extender)
            .field("named_eips", &self.named_eips)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// Starts everything; on an error, what was already started is stopped (dropped).
    /// A listen address already in use is refused before anything starts.
    pub async fn start(opts: StackOptions) -> Result<Stack, StackError> {
        validate(&opts)?;
        for (what, addr) in [
            ("eip-extender", opts.extender_listen),
            ("eip-cloudsim", opts.cloud.listen),
        ] {
            if addr.port() != 0 {
                std::net::TcpListener::bind(addr).map_err(|source| StackError::Listen {
                    what,
                    addr,
                    source,
                })?;
            }
        }
        let cloud = CloudSim::start(opts.cloud.clone())
            .await
            .map_err(StackError::CloudSim)?;
        let api = ApiServer::start(ApiServerOptions::default())
            .await
            .map_err(StackError::ApiServer)?;
        let client = api.client().await.map_err(StackError::ApiServer)?;
        Api::<CustomResourceDefinition>::all(client.clone())
            .create(&PostParams::default(), &PodEIP::crd())
            .await
            .map_err(kube_err("create the PodEIP CustomResourceDefinition"))?;
        let eni = eni_config(opts.eip_enabled, opts.allow_rob, &cloud.admin());
        Api::<ConfigMap>::namespaced(client.clone(), ENI_CONFIG_NAMESPACE)
            .create(&PostParams::default(), &eni)
            .await
            .map_err(kube_err("create the eni-config ConfigMap"))?;

        let control_cloud = cloud_client(&opts.cloud, &cloud.url(), None)?;
        // Named EIPs stand for EIPs the account already holds: they are allocated with the
        // API's rate limits lifted, so that any number up to the quota starts at once.
        cloud.admin().set_rate_limits(eip_cloudsim::RateLimits {
            enabled: false,
            ..opts.cloud.rate_limits.clone()
        });
        let named_eips = allocate_named_eips(control_cloud.as_ref(), opts.named_eips).await;
        cloud
            .admin()
            .set_rate_limits(opts.cloud.rate_limits.clone());
        let named_eips = named_eips?;

        let admin = cloud.admin();
        let mut sims = Vec::new();
        for spec in &opts.nodes {
            let mut cfg = NodeConfig::new(&spec.name, &spec.instance_type);
            cfg.max_grace_period = Some(Duration::from_secs(2));
            cfg.retry_interval = Duration::from_millis(500);
            let cfg = cfg.provision(&admin, &opts.cloud.instance_types, Some(&spec.zone))?;
            let sim = NodeSim::new(client.clone(), cfg.clone(), Arc::new(admin.clone()))
                .spawn()
                .await?;
            sims.push((cfg, sim));
        }

        let (extender, scheduler_config_yaml) =
            start_extender(&opts, &client, &cloud, control_cloud).await?;
        let scheduler_config = SchedulerConfig::from_yaml(&scheduler_config_yaml)?;

        let mut nodes = Vec::new();
        for (cfg, sim) in sims {
            let metrics = Arc::new(Metrics::new());
            let agent = start_agent(
                &client,
                cloud_client(&opts.cloud, &cloud.url(), Some(metrics.clone()))?,
                cloud.metadata_url(&cfg.instance_id),
                &cfg,
                agent_config(&cfg.name),
                metrics,
            )
            .await?;
            let ops = eip_agent::http::serve(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                agent.ctx.clone(),
                agent.health.clone(),
            )
            .map_err(|source| StackError::Agent {
                node: cfg.name.clone(),
                source: Box::new(source),
            })?;
            nodes.push(StackNode {
                cfg,
                sim,
                agent,
                ops,
            });
        }
        let workloads = WorkloadController::new(
            client.clone(),
            WorkloadOptions {
                resync: Duration::from_secs(1),
            },
        )
        .spawn();
        let scheduler = Scheduler::new(
            client.clone(),
            SchedulerOptions::new(scheduler_config).scaled_down(SCHEDULER_TIME_SCALE),
        )
        .spawn();
        Ok(Stack {
            api,
            client,
            cloud,
            nodes,
            extender,
            scheduler,
            workloads,
            named_eips,
            scheduler_config_yaml,
        })
    }

    /// An admin client of the API server.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The API server (kubeconfig, tokens).
    pub fn api_server(&self) -> &RunningApiServer {
        &self.api
    }

    /// The emulator's OpenAPI endpoint; its admin API is under `/_sim/`.
    pub fn cloud_url(&self) -> String {
        self.cloud.url()
    }

    /// The emulator's in-process admin handle.
    pub fn cloud_admin(&self) -> Admin {
        self.cloud.admin()
    }

    /// The extender's base URL (its view of the world is at `/debug/state`).
    pub fn extender_url(&self) -> String {
        self.extender.url()
    }

    /// The simulated nodes.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeConfig> {
        self.nodes.iter().map(|n| &n.cfg)
    }

    /// Each node's name with its agent's base URL (`/debug/state`, `/metrics`, ...).
    pub fn agent_urls(&self) -> Vec<(String, String)> {
        self.nodes
            .iter()
            .map(|n| (n.cfg.name.clone(), format!("http://{}", n.ops.addr)))
            .collect()
    }

    /// The EIPs pre-allocated for `pod-eip-instanceid`.
    pub fn named_eips(&self) -> &[String] {
        &self.named_eips
    }

    /// The `KubeSchedulerConfiguration` (YAML) the scheduler loop runs from: the one the
    /// extender prints for its own URL.
    pub fn scheduler_config_yaml(&self) -> &str {
        &self.scheduler_config_yaml
    }

    /// Whether every agent has finished its start-up pass.
    pub fn agents_ready(&self) -> bool {
        self.nodes.iter().all(|n| n.agent.health.is_ready())
    }

    /// Stops everything in order: the scheduler loop and the workload controller (no new
    /// pods), each agent in node order (steps in flight finish, the GC Lease is handed
    /// back), the extender, the node simulators, the emulator, the API server last.
    pub async fn shutdown(self) -> Result<(), StackError> {
        let scheduled = self.scheduler.shutdown().await;
        self.workloads.shutdown().await;
        let mut sims = Vec::new();
        for n in self.nodes {
            tracing::debug!(node = %n.cfg.name, "stopping eip-agent");
            n.agent.shutdown().await;
            n.ops.stop().await;
            sims.push(n.sim);
        }
        let extended = self.extender.shutdown().await;
        let mut stopped = Ok(());
        for sim in sims {
            let r = sim.shutdown().await;
            if stopped.is_ok() {
                stopped = r;
            }
        }
        self.cloud.shutdown().await;
        self.api.shutdown().await;
        scheduled?;
        extended.map_err(StackError::Extender)?;
        Ok(stopped?)
    }
}

/// Allocates `count` EIPs (named `sandbox-named-N`) for `pod-eip-instanceid`.
async fn allocate_named_eips(cloud: &dyn Cloud, count: u32) -> Result<Vec<String>, StackError> {
    let mut ids = Vec::new();
    for i in 0..count {
        let args = AllocateEipArgs {
            name: Some(format!("sandbox-named-{}", i + 1)),
            ..AllocateEipArgs::default()
        };
        let eip = cloud
            .allocate_eip_address(&args)
            .await
            .map_err(|source| StackError::Cloud {
                what: "pre-allocate a named EIP".to_string(),
                source,
            })?;
        ids.push(eip.allocation_id);
    }
    Ok(ids)
}

/// Starts the extender on the emulator's region and quota, and returns the
/// `KubeSchedulerConfiguration` it prints for its own URL, as an operator would read it.
async fn start_extender(
    opts: &StackOptions,
    client: &Client,
    sim: &RunningSim,
    cloud: Arc<dyn Cloud>,
) -> Result<(RunningExtender, String), StackError> {
    let mut settings = eip_extender::Settings {
        listen: opts.extender_listen,
        region: opts.cloud.region_id.clone(),
        eip_quota: opts.cloud.eip_quota,
        cloud_endpoint: Some(sim.url()),
        cloud_refresh: Duration::from_secs(2),
        ..eip_extender::Settings::default()
    };
    let extender = eip_extender::start(&settings, client.clone(), Some(cloud))
        .await
        .map_err(StackError::Extender)?;
    settings.scheduler_url = Some(extender.url());
    let yaml = settings
        .scheduler_config_yaml()
        .map_err(StackError::Extender)?;
    Ok((extender, yaml))
}

fn validate(opts: &StackOptions) -> Result<(), StackError> {
    if opts.nodes.is_empty() {
        return Err(StackError::Invalid("at least one node is needed".into()));
    }
    if opts.named_eips > opts.cloud.eip_quota {
        return Err(StackError::Invalid(format!(
            "{} named EIPs are more than the EIP quota {} they count against",
            opts.named_eips, opts.cloud.eip_quota
        )));
    }
    let zones = zones_of(&opts.cloud);
    for n in &opts.nodes {
        if !opts
            .cloud
            .instance_types
            .iter()
            .any(|t| t.instance_type_id == n.instance_type)
        {
            return Err(StackError::Invalid(format!(
                "node {}: unknown instance type {}",
                n.name, n.instance_type
            )));
        }
        if !zones.contains(&n.zone) {
            return Err(StackError::Invalid(format!(
                "node {}: the cloud has no vSwitch in zone {} (zones: {})",
                n.name,
                n.zone,
                zones.join(", ")
            )));
        }
    }
    Ok(())
}

/// `kube-system/eni-config` as Terway ships it: the emulator's vSwitches per zone, and the
/// two EIP switches (`enable_eip_pool`, `allow_eip_rob`). For a create or an apply.
pub fn eni_config(enabled: bool, allow_rob: bool, admin: &Admin) -> ConfigMap {
    let mut vswitches = serde_json::Map::new();
    for v in admin.snapshot().vswitches {
        let ids = vswitches.entry(v.zone_id).or_insert_with(|| json!([]));
        if let Some(list) = ids.as_array_mut() {
            list.push(json!(v.vswitch_id));
        }
    }
    let flag = |on: bool| if on { "true" } else { "false" };
    let conf = json!({
        "version": "1",
        VSWITCHES: vswitches,
        ENABLE_EIP_POOL: flag(enabled),
        ALLOW_EIP_ROB: flag(allow_rob),
    });
    let mut data = std::collections::BTreeMap::new();
    data.insert(ENI_CONF_KEY.to_string(), conf.to_string());
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(ENI_CONFIG_NAME.to_string()),
            namespace: Some(ENI_CONFIG_NAMESPACE.to_string()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// A cloud client on the emulator at `url` with the account's AccessKey from `sim`,
/// counting its calls in `metrics` when given (the agent's).
pub fn cloud_client(
    sim: &SimConfig,
    url: &str,
    metrics: Option<Arc<Metrics>>,
) -> Result<Arc<dyn Cloud>, StackError> {
    let mut b = AliyunClient::builder()
        .region(sim.region_id.clone())
        .endpoint(url.to_string())
        .credentials(Credentials::new(
            sim.access_key_id.clone(),
            sim.access_key_secret.expose().to_string(),
        ));
    if let Some(m) = metrics {
        b = b.observer(Arc::new(CloudObserver(m)));
    }
    let client = b.build().map_err(|source| StackError::Cloud {
        what: "build a cloud client for eip-cloudsim".to_string(),
        source,
    })?;
    Ok(Arc::new(client))
}

/// Agent timings for the sandbox: steps retried within a second, EIP states polled
/// every 50..500 ms; the garbage collector as in production but ten times as often.
pub fn agent_config(node: &str) -> AgentConfig {
    let mut cfg = AgentConfig::new(node, CLUSTER_ID);
    cfg.gc_period = Duration::from_secs(30);
    cfg.gc_grace = Duration::from_secs(60);
    cfg.lease_duration = Duration::from_secs(15);
    cfg.settle_interval = Duration::from_millis(100);
    cfg.retry_interval = Duration::from_secs(1);
    cfg.blocked_interval = Duration::from_secs(3);
    cfg.wait_timeout = Duration::from_secs(30);
    cfg.resync_interval = Duration::from_secs(30);
    cfg.waiter = WaiterConfig {
        initial_interval: Duration::from_millis(50),
        max_interval: Duration::from_millis(500),
        ..WaiterConfig::default()
    };
    cfg
}

/// What `eip-agent` does at start on a node: publish the node's capacity (from the
/// cloud's instance-type table), then run the agent with the node's instance metadata at
/// `metadata_url` (the emulator's, for a node simulator).
pub async fn start_agent(
    client: &Client,
    cloud: Arc<dyn Cloud>,
    metadata_url: String,
    node: &NodeConfig,
    cfg: AgentConfig,
    metrics: Arc<Metrics>,
) -> Result<RunningAgent, StackError> {
    let agent_err = |source| StackError::Agent {
        node: node.name.clone(),
        source: Box::new(source),
    };
    runner::publish_node_capacity(client, cloud.as_ref(), &node.name, &node.instance_type)
        .await
        .map_err(agent_err)?;
    let ctx = Arc::new(Context::new(
        client.clone(),
        cloud,
        Some(MetadataClient::new(metadata_url)),
        Some(node.instance_id.clone()),
        cfg,
        metrics,
        None,
    ));
    runner::start(ctx).await.map_err(agent_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> Vec<String> {
        vec!["z-a".to_string(), "z-b".to_string()]
    }

    #[test]
    fn nodes_are_spread_over_the_zones_in_turn() {
        let nodes = StackOptions::spread(3, "ecs.g7.large", &zones());
        let got: Vec<(&str, &str)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.zone.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("node-1", "z-a"), ("node-2", "z-b"), ("node-3", "z-a")]
        );
        assert!(StackOptions::spread(2, "ecs.g7.large", &[]).is_empty());
    }

    #[test]
    fn the_default_stack_is_three_nodes_over_the_emulators_two_zones() {
        let o = StackOptions::default();
        let zones: Vec<&str> = o.nodes.iter().map(|n| n.zone.as_str()).collect();
        assert_eq!(
            zones,
            vec!["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-h"]
        );
        assert!(o.eip_enabled && !o.allow_rob);
        assert!(validate(&o).is_ok());
    }

    #[test]
    fn options_naming_what_the_cloud_lacks_are_refused() {
        let mut o = StackOptions {
            nodes: Vec::new(),
            ..StackOptions::default()
        };
        assert!(validate(&o).is_err());
        o.nodes = StackOptions::spread(1, "ecs.nope", &zones_of(&o.cloud));
        let e = validate(&o).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("unknown instance type ecs.nope"), "{e}");
        o.nodes = StackOptions::spread(1, "ecs.g7.large", &["cn-hangzhou-z".to_string()]);
        let e = validate(&o).map(|_| ()).unwrap_err().to_string();
        assert!(
            e.contains("no vSwitch in zone cn-hangzhou-z (zones: cn-hangzhou-h, cn-hangzhou-i)"),
            "{e}"
        );
    }
}
