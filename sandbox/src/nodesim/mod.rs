//! Node simulators: each plays kubelet plus Terway IPAM for one node.
//!
//! In: pods bound to the node (`spec.nodeName`), an [`Ipam`] backend (eip-cloudsim's
//! in-process admin handle, standing for the ECS ENI API Terway calls). Out: the Node
//! object (labels, providerID, capacity, Ready), pod status (IPs, phase, container
//! statuses, conditions honouring readiness gates), `FailedCreatePodSandBox` events when
//! the node has no IP left, IPs released and deletions confirmed after the grace period.
//!
//! What kubelet does that is not simulated: containers (a pod is Running as soon as it
//! has an IP), probes (containers are ready at once; readiness gates are honoured),
//! restarts, pod phases Succeeded/Failed, node heartbeats and leases.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::events::{self, Reporter};
use crate::names::{LABEL_ARCH, LABEL_HOSTNAME, LABEL_OS, condition, reason};
use eip_core::names::{LABEL_INSTANCE_TYPE, LABEL_REGION, LABEL_ZONE};

/// Terway IPAM as the node simulator needs it: one private IP per pod on the instance's
/// ENIs (creating ENIs and secondary IPs up to the instance type's limits), and back.
pub trait Ipam: Send + Sync + std::fmt::Debug {
    /// A free private IP for a new pod; `Ok(None)` when the instance has none left.
    fn assign_pod_ip(&self, instance_id: &str) -> Result<Option<Ipv4Addr>, Error>;
    /// Returns a pod's IP to the pool.
    fn release_pod_ip(&self, instance_id: &str, ip: Ipv4Addr) -> Result<(), Error>;
}

impl Ipam for eip_cloudsim::Admin {
    fn assign_pod_ip(&self, instance_id: &str) -> Result<Option<Ipv4Addr>, Error> {
        eip_cloudsim::Admin::assign_pod_ip(self, instance_id)
            .map(|p| p.map(|p| p.ip))
            .map_err(|e| Error::Network {
                what: format!("assign a pod IP on instance {instance_id}"),
                reason: e.to_string(),
            })
    }

    fn release_pod_ip(&self, instance_id: &str, ip: Ipv4Addr) -> Result<(), Error> {
        eip_cloudsim::Admin::release_pod_ip(self, instance_id, ip)
            .map(|_| ())
            .map_err(|e| Error::Network {
                what: format!("release pod IP {ip} on instance {instance_id}"),
                reason: e.to_string(),
            })
    }
}

/// One simulated node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Node name (also `kubernetes.io/hostname`).
    pub name: String,
    /// ECS instance type, e.g. `ecs.g7.large`.
    pub instance_type: String,
    /// ECS instance id (`i-...`) in the cloud backend.
    pub instance_id: String,
    /// Region, e.g. `cn-hangzhou`.
    pub region: String,
    /// Zone, e.g. `cn-hangzhou-h`.
    pub zone: String,
    /// The node's primary private IP (hostIP, and the IP of hostNetwork pods).
    pub node_ip: Ipv4Addr,
    /// vCPUs.
    pub cpu: u32,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// ENIs the instance type allows (the primary included).
    pub eni_quantity: u32,
    /// Private IPs per ENI the instance type allows.
    pub ips_per_eni: u32,
    /// kubelet `--max-pods`; `None` means the pod IP slots (as ACK sets it for Terway).
    pub max_pods: Option<u32>,
    /// Longest time a deleted pod is kept terminating (tests use a few milliseconds);
    /// `None` honours the pod's own grace period.
    pub max_grace_period: Option<Duration>,
    /// How often pods still waiting for an IP are retried.
    pub retry_interval: Duration,
}

impl NodeConfig {
    /// A node of this instance type with kubelet-like defaults (grace periods honoured,
    /// IP retries every second); the identity fields come from the cloud backend.
    pub fn new(name: impl Into<String>, instance_type: impl Into<String>) -> Self {
        NodeConfig {
            name: name.into(),
            instance_type: instance_type.into(),
            instance_id: String::new(),
            region: String::new(),
            zone: String::new(),
            node_ip: Ipv4Addr::UNSPECIFIED,
            cpu: 2,
            memory_gib: 8.0,
            eni_quantity: 3,
            ips_per_eni: 10,
            max_pods: None,
            max_grace_period: None,
            retry_interval: Duration::from_secs(1),
        }
    }

    /// Fills the identity and limits from eip-cloudsim: creates the ECS instance of the
    /// given type in `zone` (the first zone when `None`) and reads its primary IP and the
    /// type's ENI limits from `instance_types` (the emulator's table).
    pub fn provision(
        mut self,
        admin: &eip_cloudsim::Admin,
        instance_types: &[eip_cloudsim::config::InstanceTypeConfig],
        zone: Option<&str>,
    ) -> Result<Self, Error> {
        let net_err = |what: String| {
            move |e: eip_cloudsim::Error| Error::Network {
                what,
                reason: e.to_string(),
            }
        };
        let spec = instance_types
            .iter()
            .find(|t| t.instance_type_id == self.instance_type)
            .ok_or_else(|| Error::Network {
                what: format!("provision node {}", self.name),
                reason: format!("unknown instance type {}", self.instance_type),
            })?;
        let id = admin
            .add_instance(eip_cloudsim::config::InstanceConfig {
                instance_type: Some(self.instance_type.clone()),
                zone_id: zone.map(str::to_string),
                hostname: Some(self.name.clone()),
                ..Default::default()
            })
            .map_err(net_err(format!("create instance for node {}", self.name)))?;
        let missing = |field| Error::MissingField {
            kind: "instance",
            name: id.clone(),
            field,
        };
        let inst = admin.instance(&id).ok_or_else(|| missing("record"))?;
        let primary = inst
            .enis
            .first()
            .and_then(|e| admin.eni(e))
            .ok_or_else(|| missing("primary ENI"))?;
        self.region = admin.snapshot().region_id;
        self.zone = inst.zone_id;
        self.instance_id = id;
        self.node_ip = primary.primary_ip;
        self.cpu = spec.cpu_core_count;
        self.memory_gib = spec.memory_size;
        self.eni_quantity = spec.eni_quantity;
        self.ips_per_eni = spec.eni_private_ip_address_quantity;
        Ok(self)
    }

    /// Pod IP slots in Terway ENI multi-IP mode: `(EniQuantity - 1) x IPs per ENI`.
    pub fn pod_ip_slots(&self) -> u32 {
        self.eni_quantity.saturating_sub(1) * self.ips_per_eni
    }

    /// `status.allocatable.pods`.
    pub fn allocatable_pods(&self) -> u32 {
        self.max_pods.unwrap_or_else(|| self.pod_ip_slots())
    }

    /// `spec.providerID` as ACK writes it: `<region>.<instance-id>`.
    pub fn provider_id(&self) -> String {
        format!("{}.{}", self.region, self.instance_id)
    }

    /// The Node object kubelet would register.
    pub fn node_object(&self) -> Node {
        let labels = json!({
            LABEL_HOSTNAME: self.name,
            LABEL_OS: "linux",
            LABEL_ARCH: "amd64",
            LABEL_INSTANCE_TYPE: self.instance_type,
            LABEL_REGION: self.region,
            LABEL_ZONE: self.zone,
        });
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {"providerID": self.provider_id()},
            "status": self.node_status(true),
        });
        serde_json::from_value(node).unwrap_or_default()
    }

    /// The node's status with the Ready condition set to `ready`.
    pub fn node_status(&self, ready: bool) -> Value {
        let now = events::now_seconds().to_string();
        let memory_ki = (self.memory_gib * 1024.0 * 1024.0) as u64;
        let resources = json!({
            "cpu": self.cpu.to_string(),
            "memory": format!("{memory_ki}Ki"),
            "pods": self.allocatable_pods().to_string(),
            "ephemeral-storage": "41152812Ki",
        });
        let cond = |type_: &str, status: &str, reason: &str, message: &str| {
            json!({"type": type_, "status": status, "reason": reason, "message": message,
                   "lastHeartbeatTime": now, "lastTransitionTime": now})
        };
        let ready_cond = if ready {
            cond(
                condition::READY,
                "True",
                reason::KUBELET_READY,
                "kubelet is posting ready status",
            )
        } else {
            cond(
                condition::READY,
                "False",
                "KubeletNotReady",
                "container runtime network not ready",
            )
        };
        json!({
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ready_cond,
            ],
            "addresses": [
                {"type": "InternalIP", "address": self.node_ip.to_string()},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": self.instance_id, "systemUUID": self.instance_id, "bootID": self.instance_id,
                "kernelVersion": "5.10.134-sim", "osImage": "Alibaba Cloud Linux 3 (simulated)",
                "containerRuntimeVersion": "containerd://1.6.28", "kubeletVersion": "v1.28.7-sim",
                "kubeProxyVersion": "v1.28.7-sim", "operatingSystem": "linux", "architecture": "amd64",
            },
        })
    }
}

/// What the simulator knows about one pod on its node.
#[derive(Debug, Clone, Default)]
struct PodSlot {
    pod: Pod,
    ip: Option<Ipv4Addr>,
    warned_no_ip: bool,
    terminating: bool,
}

/// A node simulator, ready to [`NodeSim::spawn`].
pub struct NodeSim {
    client: Client,
    cfg: NodeConfig,
    ipam: Arc<dyn Ipam>,
    reporter: Reporter,
    pods: HashMap<String, PodSlot>,
    /// Pods whose termination is done (IP released): later events about them, until the
    /// API confirms the deletion, must not take or release anything again.
    finished: HashSet<String>,
}

/// A running node simulator; [`RunningNode::shutdown`] (or dropping it) stops it. The
/// Node object stays, as when a kubelet stops (it is not marked NotReady).
#[derive(Debug)]
pub struct RunningNode {
    name: String,
    token: CancellationToken,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl RunningNode {
    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops the simulator and waits for it; returns its error if it had failed.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.token.cancel();
        match self.task.take() {
            Some(t) => t.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

impl std::fmt::Debug for NodeSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSim")
            .field("cfg", &self.cfg)
            .field("ipam", &self.ipam)
            .finish_non_exhaustive()
    }
}

impl NodeSim {
    /// A simulator for this node.
    pub fn new(client: Client, cfg: NodeConfig, ipam: Arc<dyn Ipam>) -> Self {
        let reporter = Reporter {
            component: "kubelet".to_string(),
            host: Some(cfg.name.clone()),
        };
        NodeSim {
            client,
            cfg,
            ipam,
            reporter,
            pods: HashMap::new(),
            finished: HashSet::new(),
        }
    }

    /// Registers the node, then starts serving its pods in the background.
    pub async fn spawn(self) -> Result<RunningNode, Error> {
        self.register().await?;
        let token = CancellationToken::new();
        let name = self.cfg.name.clone();
        let task = tokio::spawn(self.run(token.clone()));
        Ok(RunningNode {
            name,
            token,
            task: Some(task),
        })
    }

    /// Creates (or refreshes) the Node object and its status.
    pub async fn register(&self) -> Result<(), Error> {
        let api: Api<Node> = Api::all(self.client.clone());
        let node = self.cfg.node_object();
        let what = format!("register node {}", self.cfg.name);
        match api.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let meta = json!({"metadata": {"labels": node.metadata.labels},
                                  "spec": {"providerID": self.cfg.provider_id()}});
                api.patch(
                    &self.cfg.name,
                    &PatchParams::default(),
                    &Patch::Merge(&meta),
                )
                .await
                .map_err(Error::kube(what.clone()))?;
            }
            Err(e) => return Err(Error::kube(what)(e)),
        }
        set_node_ready(&self.client, &self.cfg, true).await
    }

    async fn run(mut self, token: CancellationToken) -> Result<(), Error> {
        let api: Api<Pod> = Api::all(self.client.clone());
        let selector = format!("spec.nodeName={}", self.cfg.name);
        let mut stream = watcher(api, watcher::Config::default().fields(&selector)).boxed();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
        let mut retry =
            tokio::time::interval(self.cfg.retry_interval.max(Duration::from_millis(10)));
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = token.cancelled() => return Ok(()),
                ev = stream.next() => match ev {
                    None => return Ok(()),
                    Some(Ok(watcher::Event::Apply(p))) | Some(Ok(watcher::Event::InitApply(p))) => {
                        self.sync_pod(p, &done_tx).await;
                    }
                    Some(Ok(watcher::Event::Delete(p))) => self.forget(&p),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(node = %self.cfg.name, error = %e, "pod watch error");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(uid) = done_rx.recv() => {
                    if let Some(slot) = self.pods.remove(&uid) {
                        self.release(&slot);
                    }
                    self.finished.insert(uid);
                    self.retry_waiting(&done_tx).await;
                }
                _ = retry.tick() => self.retry_waiting(&done_tx).await,
            }
        }
    }

    /// Pods still waiting for an IP get another try (an IP may have been freed).
    async fn retry_waiting(&mut self, done_tx: &mpsc::UnboundedSender<String>) {
        let waiting: Vec<Pod> = self
            .pods
            .values()
            .filter(|s| s.ip.is_none() && !s.terminating && !is_host_network(&s.pod))
            .map(|s| s.pod.clone())
            .collect();
        for p in waiting {
            self.sync_pod(p, done_tx).await;
        }
    }

    /// The pod is gone from the API (confirmed, or force-deleted): its IP goes back.
    fn forget(&mut self, pod: &Pod) {
        let Some(uid) = pod.uid() else { return };
        if let Some(slot) = self.pods.remove(&uid) {
            self.release(&slot);
        }
        self.finished.remove(&uid);
    }

    fn release(&self, slot: &PodSlot) {
        if let (Some(ip), false) = (slot.ip, is_host_network(&slot.pod))
            && let Err(e) = self.ipam.release_pod_ip(&self.cfg.instance_id, ip)
        {
            tracing::warn!(node = %self.cfg.name, error = %e, "failed to release pod IP");
        }
    }

    async fn sync_pod(&mut self, pod: Pod, done_tx: &mpsc::UnboundedSender<String>) {
        let Some(uid) = pod.uid() else { return };
        if self.finished.contains(&uid) {
            return;
        }
        let slot = self.pods.entry(uid.clone()).or_default();
        slot.pod = pod.clone();
        if slot.ip.is_none() {
            // Adopt an IP written before (a restarted simulator).
            slot.ip = pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.as_deref())
                .and_then(|ip| ip.parse().ok());
        }
        if pod.metadata.deletion_timestamp.is_some() {
            if !slot.terminating {
                slot.terminating = true;
                self.terminate(pod, uid, done_tx.clone());
            }
            return;
        }
        let host_network = is_host_network(&pod);
        if slot.ip.is_none() {
            if host_network {
                slot.ip = Some(self.cfg.node_ip);
            } else {
                match self.ipam.assign_pod_ip(&self.cfg.instance_id) {
                    Ok(Some(ip)) => slot.ip = Some(ip),
                    Ok(None) => {
                        let first = !slot.warned_no_ip;
                        slot.warned_no_ip = true;
                        self.no_ip(&pod, first).await;
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(node = %self.cfg.name, error = %e, "IPAM failed");
                        return;
                    }
                }
            }
        }
        let Some(ip) = slot.ip else { return };
        let desired = running_status(&pod, &self.cfg, ip);
        self.write_status(&pod, desired).await;
    }

    /// No IP left: the pod stays Pending (ContainerCreating) with a Warning event, as
    /// when Terway's CNI ADD fails.
    async fn no_ip(&self, pod: &Pod, record_event: bool) {
        if record_event {
            let msg = format!(
                "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"{}\": plugin type=\"terway\" name=\"terway\" failed (add): no free private IP on instance {} ({}: {} ENIs x {} IPs for pods, all in use)",
                pod.name_any(),
                self.cfg.instance_id,
                self.cfg.instance_type,
                self.cfg.eni_quantity.saturating_sub(1),
                self.cfg.ips_per_eni,
            );
            let _ = events::record(
                &self.client,
                &self.reporter,
                events::object_ref(pod),
                events::WARNING,
                reason::FAILED_CREATE_POD_SANDBOX,
                msg,
            )
            .await;
        }
        let desired = pending_status(pod, &self.cfg);
        self.write_status(pod, desired).await;
    }

    /// Waits the grace period, then confirms the deletion (IP released on the way).
    fn terminate(&self, pod: Pod, uid: String, done: mpsc::UnboundedSender<String>) {
        let client = self.client.clone();
        let grace_secs = pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                pod.spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30)
            .max(0) as u64;
        let mut grace = Duration::from_secs(grace_secs);
        if let Some(cap) = self.cfg.max_grace_period {
            grace = grace.min(cap);
        }
        let reporter = self.reporter.clone();
        tokio::spawn(async move {
            let containers: Vec<String> = pod
                .spec
                .as_ref()
                .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
                .unwrap_or_default();
            for c in containers {
                let _ = events::record(
                    &client,
                    &reporter,
                    events::object_ref(&pod),
                    events::NORMAL,
                    reason::KILLING,
                    format!("Stopping container {c}"),
                )
                .await;
            }
            tokio::time::sleep(grace).await;
            // Release first, then confirm: the IP is free before the pod disappears.
            let _ = done.send(uid.clone());
            let api: Api<Pod> = Api::namespaced(client, &pod.namespace().unwrap_or_default());
            let dp = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            if let Err(e) = api.delete(&pod.name_any(), &dp).await {
                tracing::debug!(pod = %pod.name_any(), error = %e, "deletion confirmation failed");
            }
        });
    }

    /// Patches the pod status when it differs from what is there.
    async fn write_status(&self, pod: &Pod, desired: Value) {
        if status_matches(pod, &desired) {
            return;
        }
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        if let Err(e) = api
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Strategic(json!({ "status": desired })),
            )
            .await
        {
            tracing::debug!(pod = %pod.name_any(), error = %e, "pod status update failed");
        }
    }
}

/// Sets the node's Ready condition (and refreshes the rest of its status).
pub async fn set_node_ready(client: &Client, cfg: &NodeConfig, ready: bool) -> Result<(), Error> {
    let api: Api<Node> = Api::all(client.clone());
    api.patch_status(
        &cfg.name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": cfg.node_status(ready) })),
    )
    .await
    .map(|_| ())
    .map_err(Error::kube(format!("update status of node {}", cfg.name)))
}

fn is_host_network(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.host_network) == Some(true)
}

fn now() -> String {
    events::now_seconds().to_string()
}

/// The existing condition of this type, if any.
fn existing_condition<'a>(
    pod: &'a Pod,
    type_: &str,
) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
}

/// A condition keeping its transition time when its status does not change.
fn cond(
    pod: &Pod,
    type_: &str,
    status: bool,
    reason: Option<&str>,
    message: Option<String>,
) -> Value {
    let status = if status { "True" } else { "False" };
    let since = existing_condition(pod, type_)
        .filter(|c| c.status == status)
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_else(now);
    let mut c = json!({"type": type_, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// kubelet's `generatePodReadyCondition` with readiness gates: Ready needs every
/// container ready and every gate's condition `True`.
pub fn readiness(
    pod: &Pod,
    containers_ready: bool,
) -> (bool, Option<&'static str>, Option<String>) {
    if !containers_ready {
        return (false, Some("ContainersNotReady"), None);
    }
    let gates: Vec<String> = pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_ref())
        .map(|gs| gs.iter().map(|g| g.condition_type.clone()).collect())
        .unwrap_or_default();
    let mut unready = Vec::new();
    for gate in &gates {
        match existing_condition(pod, gate) {
            None => unready.push(format!(
                "corresponding condition of pod readiness gate {gate:?} does not exist."
            )),
            Some(c) if c.status != "True" => unready.push(format!(
                "the status of pod readiness gate {gate:?} is not \"True\", but {}",
                c.status
            )),
            Some(_) => {}
        }
    }
    if unready.is_empty() {
        (true, None, None)
    } else {
        (
            false,
            Some(reason::READINESS_GATES_NOT_READY),
            Some(unready.join(", ")),
        )
    }
}

fn container_statuses(pod: &Pod, running: bool) -> Value {
    let started = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_else(now);
    let uid = pod.uid().unwrap_or_default();
    let list: Vec<Value> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let image = c.image.clone().unwrap_or_default();
            if running {
                json!({"name": c.name, "image": image, "imageID": format!("{image}@sha256:simulated"),
                       "containerID": format!("containerd://{uid}-{i}"), "ready": true, "started": true,
                       "restartCount": 0, "state": {"running": {"startedAt": started}}})
            } else {
                json!({"name": c.name, "image": image, "imageID": "", "ready": false, "started": false,
                       "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}})
            }
        })
        .collect();
    Value::Array(list)
}

/// The status of a pod that has its IP: Running, containers ready.
fn running_status(pod: &Pod, cfg: &NodeConfig, ip: Ipv4Addr) -> Value {
    let (ready, r_reason, r_msg) = readiness(pod, true);
    let start = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_else(now);
    json!({
        "phase": "Running",
        "hostIP": cfg.node_ip.to_string(),
        "hostIPs": [{"ip": cfg.node_ip.to_string()}],
        "podIP": ip.to_string(),
        "podIPs": [{"ip": ip.to_string()}],
        "startTime": start,
        "conditions": [
            cond(pod, condition::POD_READY_TO_START_CONTAINERS, true, None, None),
            cond(pod, condition::INITIALIZED, true, None, None),
            cond(pod, condition::READY, ready, r_reason, r_msg),
            cond(pod, condition::CONTAINERS_READY, true, None, None),
            cond(pod, condition::POD_SCHEDULED, true, None, None),
        ],
        "containerStatuses": container_statuses(pod, true),
    })
}

/// The status of a pod whose sandbox cannot get an IP: Pending, ContainerCreating.
fn pending_status(pod: &Pod, cfg: &NodeConfig) -> Value {
    let names: Vec<String> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let msg = format!("containers with unready status: [{}]", names.join(" "));
    json!({
        "phase": "Pending",
        "hostIP": cfg.node_ip.to_string(),
        "hostIPs": [{"ip": cfg.node_ip.to_string()}],
        "startTime": now(),
        "conditions": [
            cond(pod, condition::POD_READY_TO_START_CONTAINERS, false, None, None),
            cond(pod, condition::INITIALIZED, true, None, None),
            cond(pod, condition::READY, false, Some("ContainersNotReady"), Some(msg.clone())),
            cond(pod, condition::CONTAINERS_READY, false, Some("ContainersNotReady"), Some(msg)),
            cond(pod, condition::POD_SCHEDULED, true, None, None),
        ],
        "containerStatuses": container_statuses(pod, false),
    })
}

/// Whether the pod already shows this phase, IP and these condition statuses and reasons.
fn status_matches(pod: &Pod, desired: &Value) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    let s = |v: &Value| v.as_str().map(str::to_string);
    if status.phase != s(&desired["phase"]) || status.pod_ip != s(&desired["podIP"]) {
        return false;
    }
    if status.host_ip != s(&desired["hostIP"]) {
        return false;
    }
    let want_containers = desired["containerStatuses"].as_array().map_or(0, Vec::len);
    if status.container_statuses.as_ref().map_or(0, Vec::len) != want_containers {
        return false;
    }
    desired["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|c| {
            let type_ = c["type"].as_str().unwrap_or_default();
            existing_condition(pod, type_).is_some_and(|e| {
                Some(e.status.clone()) == s(&c["status"])
                    && e.reason == s(&c["reason"])
                    && e.message == s(&c["message"])
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn ready_waits_for_every_readiness_gate() {
        let gated = json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "c"}],
            "readinessGates": [{"conditionType": "k8s.aliyun.com/eip"}]}});
        let p = pod(gated.clone());
        let (ready, r, msg) = readiness(&p, true);
        assert!(!ready);
        assert_eq!(r, Some("ReadinessGatesNotReady"));
        assert!(msg.unwrap().contains("does not exist"));
        let mut with_false = gated.clone();
        with_false["status"] =
            json!({"conditions": [{"type": "k8s.aliyun.com/eip", "status": "False"}]});
        let (ready, _, msg) = readiness(&pod(with_false), true);
        assert!(!ready);
        assert!(msg.unwrap().contains("is not \"True\", but False"));
        let mut with_true = gated;
        with_true["status"] =
            json!({"conditions": [{"type": "k8s.aliyun.com/eip", "status": "True"}]});
        assert_eq!(readiness(&pod(with_true.clone()), true), (true, None, None));
        assert!(!readiness(&pod(with_true), false).0);
        let plain = pod(json!({"spec": {"containers": [{"name": "c"}]}}));
        assert!(readiness(&plain, true).0);
    }

    #[test]
    fn node_object_is_what_ack_registers() {
        let mut cfg = NodeConfig::new("n1", "ecs.g7.large");
        cfg.region = "cn-hangzhou".into();
        cfg.zone = "cn-hangzhou-h".into();
        cfg.instance_id = "i-abc".into();
        cfg.node_ip = Ipv4Addr::new(192, 168, 0, 10);
        let node = cfg.node_object();
        let labels = node.metadata.labels.clone().unwrap();
        assert_eq!(labels[LABEL_INSTANCE_TYPE], "ecs.g7.large");
        assert_eq!(labels[LABEL_ZONE], "cn-hangzhou-h");
        assert_eq!(labels[LABEL_REGION], "cn-hangzhou");
        assert_eq!(labels[LABEL_HOSTNAME], "n1");
        assert_eq!(
            node.spec.unwrap().provider_id.as_deref(),
            Some("cn-hangzhou.i-abc")
        );
        let status = node.status.unwrap();
        assert_eq!(status.allocatable.as_ref().unwrap()["pods"].0, "20");
        assert!(crate::scheduler::fit::node_ready(&Node {
            status: Some(status),
            ..Node::default()
        }));
        cfg.max_pods = Some(3);
        assert_eq!(cfg.allocatable_pods(), 3);
        assert_eq!(cfg.pod_ip_slots(), 20);
    }

    #[test]
    fn status_is_rewritten_only_when_it_changes() {
        let cfg = NodeConfig::new("n1", "ecs.g7.large");
        let ip = Ipv4Addr::new(10, 0, 0, 5);
        let fresh = pod(
            json!({"metadata": {"name": "p", "uid": "u"}, "spec": {"containers": [{"name": "c"}]}}),
        );
        let desired = running_status(&fresh, &cfg, ip);
        assert!(!status_matches(&fresh, &desired));
        let mut applied = fresh.clone();
        applied.status = serde_json::from_value(desired.clone()).unwrap();
        assert!(status_matches(
            &applied,
            &running_status(&applied, &cfg, ip)
        ));
        assert!(!status_matches(&applied, &pending_status(&applied, &cfg)));
    }
}
