//! Wiring: the start-up pass (readiness), the kube-runtime Controller over this node's pods
//! and the PodEIPs labelled for this node, the live `eni-config` watch, the node capacity
//! publication, and the cluster-wide garbage collector behind a Lease (kube-lease-manager),
//! which lists pods and PodEIPs when it runs rather than watching them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eip_cloud::Cloud;
use eip_cloud::args::{DescribeInstanceTypesArgs, UnassociateEipArgs};
use eip_core::annotations::EipRequest;
use eip_core::capacity::InstanceTypeCapacity;
use eip_core::eni_config;
use eip_core::names;
use eip_core::podeip::{PodEIP, PodEIPPhase};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action as KubeAction, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cloudops;
use crate::controller::{Context, Next, drive, record_facts};
use crate::error::Error;
use crate::machine::Switches;

/// Name of the GC Lease.
pub const GC_LEASE_NAME: &str = "eip-agent-gc";
/// Namespace of the GC Lease.
pub const GC_LEASE_NAMESPACE: &str = eni_config::ENI_CONFIG_NAMESPACE;
/// How many pods the start-up pass reconciles at once.
const STARTUP_CONCURRENCY: usize = 16;

/// What the operations endpoint reports: liveness (`/healthz`) and readiness (`/readyz`).
#[derive(Debug, Default)]
pub struct Health {
    alive: AtomicBool,
    ready: AtomicBool,
}

impl Health {
    /// The agent's loop runs (the start-up pass, then the controller, the `eni-config`
    /// watch and the garbage collector). False once it stopped — shut down, killed, or ended
    /// by itself — so that the kubelet restarts the agent.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// The start-up pass finished: every pod of this node and every PodEIP labelled for it
    /// was reconciled once (whatever the outcome: a failed step is retried by the
    /// controller and does not hold readiness back), and the agent is still alive.
    pub fn is_ready(&self) -> bool {
        self.is_alive() && self.ready.load(Ordering::SeqCst)
    }
}

/// Marks the agent alive while it exists.
#[derive(Debug)]
struct AliveGuard(Arc<Health>);

impl AliveGuard {
    fn new(health: Arc<Health>) -> Self {
        health.alive.store(true, Ordering::SeqCst);
        Self(health)
    }

    fn ready(&self) {
        self.0.ready.store(true, Ordering::SeqCst);
    }
}

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::SeqCst);
        self.0.ready.store(false, Ordering::SeqCst);
    }
}

/// A started agent.
#[derive(Debug)]
pub struct RunningAgent {
    /// The shared context (switches, metrics, debug state).
    pub ctx: Arc<Context>,
    /// Liveness and readiness, for the operations endpoint.
    pub health: Arc<Health>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl RunningAgent {
    /// Graceful stop: no new reconcile starts, running ones finish, the GC Lease is released.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Kills the agent at once (every in-flight step is dropped where it stands; a GC Lease
    /// it holds is left to expire, as after a crash).
    pub async fn kill(mut self) {
        self.ctx.kill.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Waits until the agent stopped by itself (a crash plan fired, or its loop ended).
    pub async fn stopped(mut self) {
        self.finished().await;
    }

    /// Like [`stopped`](Self::stopped), without giving the agent up (for `select!`).
    pub async fn finished(&mut self) {
        if let Some(t) = self.task.as_mut() {
            let _ = t.await;
            self.task = None;
        }
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        self.ctx.kill.cancel();
    }
}

/// eip-core's one policy for `eni-config` (`None`: the ConfigMap does not exist).
fn switches_of(cm: Option<&ConfigMap>) -> Switches {
    let empty = BTreeMap::new();
    let s = Switches::from_config_map(cm.map(|c| c.data.as_ref().unwrap_or(&empty)));
    if let Some(problem) = &s.invalid {
        tracing::warn!(%problem, "eni-config is invalid; the EIP feature is off until it is fixed");
    }
    s
}

/// Starts the agent: reads `eni-config`, then, in the background, reconciles everything it
/// finds for this node (the start-up pass; [`Health::is_ready`] turns true after it) and
/// runs the controller, the ConfigMap watch and the garbage collector until shut down or
/// killed.
pub async fn start(ctx: Arc<Context>) -> Result<RunningAgent, Error> {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), eni_config::ENI_CONFIG_NAMESPACE);
    let cm = cms
        .get_opt(eni_config::ENI_CONFIG_NAME)
        .await
        .map_err(Error::kube("read the eni-config ConfigMap"))?;
    ctx.set_switches(switches_of(cm.as_ref()));

    let shutdown = CancellationToken::new();
    let health = Arc::new(Health::default());
    let alive = AliveGuard::new(health.clone());
    let task = tokio::spawn(run(ctx.clone(), shutdown.clone(), alive));
    Ok(RunningAgent {
        ctx,
        health,
        shutdown,
        task: Some(task),
    })
}

async fn run(ctx: Arc<Context>, shutdown: CancellationToken, alive: AliveGuard) {
    let (tx, rx) = mpsc::unbounded_channel::<()>();
    let serve = async {
        while let Err(e) = initial_reconcile(&ctx, &shutdown).await {
            ctx.metrics.failure(e.code());
            tracing::warn!(error = %e, "start-up pass failed; retrying");
            tokio::select! {
                _ = tokio::time::sleep(ctx.cfg.retry_interval) => {}
                _ = shutdown.cancelled() => return,
            }
        }
        if shutdown.is_cancelled() {
            return;
        }
        alive.ready();
        tracing::info!("start-up pass done: ready");
        controller(ctx.clone(), rx, shutdown.clone()).await;
    };
    // The GC stops (releasing its Lease) on shutdown, or when the rest ended by itself.
    let stop_gc = shutdown.child_token();
    let work = async {
        tokio::select! {
            _ = serve => {}
            _ = watch_config(ctx.clone(), tx) => {}
        }
        stop_gc.cancel();
    };
    tokio::select! {
        _ = futures::future::join(work, gc_loop(ctx.clone(), stop_gc.clone())) => {}
        _ = ctx.kill.cancelled() => {}
    }
    drop(alive);
}

/// The kube-runtime Controller over this node's pods, woken by the PodEIPs labelled for
/// this node and by `eni-config` changes (`rx`). On shutdown it lets the running
/// reconciles finish.
async fn controller(
    ctx: Arc<Context>,
    rx: mpsc::UnboundedReceiver<()>,
    shutdown: CancellationToken,
) {
    let node = &ctx.cfg.node_name;
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let recs: Api<PodEIP> = Api::all(ctx.client.clone());
    let controller = Controller::new(pods, watcher::Config::default().fields(&pods_of_node(node)))
        .watches(
            recs,
            watcher::Config::default().labels(&records_of_node(node)),
            |r: PodEIP| {
                let ns = r.namespace().unwrap_or_default();
                Some(ObjectRef::<Pod>::new(&r.name_any()).within(&ns))
            },
        )
        .reconcile_all_on(tokio_stream_from(rx))
        .graceful_shutdown_on(shutdown.clone().cancelled_owned());
    let store = controller.store();
    let run = controller
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    // kube-runtime holds every reconcile until the pod watch's first list filled its store,
    // and a graceful shutdown before that ends the watch, so the store would never fill
    // and the shutdown never finish. Before that point nothing runs: stop at once.
    let early_shutdown = async {
        shutdown.cancelled().await;
        if store.wait_until_ready().now_or_never().is_none() {
            tracing::debug!("shut down before the first list of pods: nothing to finish");
            return;
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = run => {}
        _ = early_shutdown => {}
    }
}

/// Field selector of the pods on `node`.
fn pods_of_node(node: &str) -> String {
    format!("spec.nodeName={node}")
}

/// Label selector of the PodEIPs of the pods on `node`.
pub fn records_of_node(node: &str) -> String {
    format!(
        "{}={}",
        names::LABEL_PODEIP_NODE,
        names::format_node_label(node)
    )
}

/// The start-up pass: reconciles once every pod on this node, and finishes every PodEIP
/// labelled for this node whose pod is gone (by the garbage collector's rules, without
/// waiting for its period). The EIPs tagged for this node are covered by these two: a pod
/// finds its EIP by its pod-UID tag (adoption after a crash) and a record names its EIP; an
/// EIP that neither accounts for is the garbage collector's, which alone has the
/// cluster-wide view to tell that no record anywhere names it, and waits out the grace
/// period. A failed step of one pod is logged and left to the controller's retries; only a
/// failed list is an error (the pass is then retried).
async fn initial_reconcile(ctx: &Context, shutdown: &CancellationToken) -> Result<(), Error> {
    let node = &ctx.cfg.node_name;
    let started = Instant::now();
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&pods_of_node(node)))
        .await
        .map_err(Error::kube(format!("list the pods of node {node}")))?
        .items;
    let recs: Api<PodEIP> = Api::all(ctx.client.clone());
    let labelled = recs
        .list(&ListParams::default().labels(&records_of_node(node)))
        .await
        .map_err(Error::kube(format!("list the PodEIPs of node {node}")))?
        .items;
    let keys: BTreeSet<(String, String)> = on_node
        .iter()
        .map(|p| (p.namespace().unwrap_or_default(), p.name_any()))
        .collect();

    futures::stream::iter(&keys)
        .take_while(|_| std::future::ready(!shutdown.is_cancelled()))
        .for_each_concurrent(STARTUP_CONCURRENCY, |(ns, name)| async move {
            if let Err(e) = drive(ctx, ns, name, false, false).await {
                ctx.metrics.failure(e.code());
                tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "start-up reconcile failed; the controller retries");
            }
        })
        .await;
    let now = jiff::Timestamp::now();
    let mut finished = 0;
    for rec in &labelled {
        let (ns, name) = (rec.namespace().unwrap_or_default(), rec.name_any());
        if shutdown.is_cancelled() || keys.contains(&(ns.clone(), name.clone())) {
            continue;
        }
        let pod = Api::<Pod>::namespaced(ctx.client.clone(), &ns)
            .get_opt(&name)
            .await
            .map_err(Error::kube(format!("read pod {ns}/{name}")))?;
        if finish_record(ctx, rec, pod.as_ref(), now).await {
            finished += 1;
        }
    }
    tracing::info!(
        pods = keys.len(),
        records = labelled.len(),
        orphan_records_finished = finished,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "start-up pass"
    );
    Ok(())
}

fn tokio_stream_from(
    mut rx: mpsc::UnboundedReceiver<()>,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn reconcile(pod: Arc<Pod>, ctx: Arc<Context>) -> Result<KubeAction, Error> {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    match drive(&ctx, &ns, &name, false, false).await {
        Ok(Next::Idle) => Ok(KubeAction::await_change()),
        Ok(Next::After(d)) => Ok(KubeAction::requeue(d)),
        Err(e) => {
            if matches!(e, Error::Cloud { .. }) {
                ctx.failure_event(&pod.object_ref(&()), &e).await;
            }
            Err(e)
        }
    }
}

fn error_policy(pod: Arc<Pod>, err: &Error, ctx: Arc<Context>) -> KubeAction {
    ctx.metrics.failure(err.code());
    tracing::warn!(pod = %pod.name_any(), error = %eip_log::chain(err), "step failed; retrying");
    KubeAction::requeue(ctx.cfg.retry_interval)
}

async fn watch_config(ctx: Arc<Context>, tx: mpsc::UnboundedSender<()>) {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), eni_config::ENI_CONFIG_NAMESPACE);
    let wc = watcher::Config::default()
        .fields(&format!("metadata.name={}", eni_config::ENI_CONFIG_NAME));
    let mut stream = watcher(cms, wc).boxed();
    while let Some(ev) = stream.next().await {
        let next = match ev {
            Ok(watcher::Event::Apply(cm)) | Ok(watcher::Event::InitApply(cm)) => {
                switches_of(Some(&cm))
            }
            Ok(watcher::Event::Delete(_)) => switches_of(None),
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "eni-config watch error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if next != ctx.switches() {
            tracing::info!(?next, "eni-config changed");
            ctx.set_switches(next);
            let _ = tx.send(());
        }
    }
}

/// Publishes this node's pod IP capacity (from DescribeInstanceTypes) on its Node, so the
/// extender can filter on it. Returns the pod IP slots.
pub async fn publish_node_capacity(
    client: &kube::Client,
    cloud: &dyn Cloud,
    node: &str,
    instance_type: &str,
) -> Result<u32, Error> {
    let types = cloud
        .describe_instance_types(&DescribeInstanceTypesArgs {
            instance_types: vec![instance_type.to_owned()],
            ..DescribeInstanceTypesArgs::default()
        })
        .await
        .map_err(Error::cloud(format!(
            "describe instance type {instance_type}"
        )))?;
    let t = types
        .iter()
        .find(|t| t.instance_type_id == instance_type)
        .ok_or_else(|| {
            Error::Config(format!(
                "instance type {instance_type} is unknown to the cloud"
            ))
        })?;
    let cap = InstanceTypeCapacity::new(
        u32::try_from(t.eni_quantity).unwrap_or(0),
        u32::try_from(t.eni_private_ip_address_quantity).unwrap_or(0),
    );
    let nodes: Api<Node> = Api::all(client.clone());
    let patch = json!({"metadata": {"annotations": {
        names::NODE_MAX_AVAILABLE_IP: names::format_count(cap.pod_ip_slots()),
        names::NODE_ENI_QUANTITY: names::format_count(cap.eni_quantity),
        names::NODE_ENI_PRIVATE_IP_QUANTITY: names::format_count(cap.eni_private_ip_quantity),
    }}});
    nodes
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube(format!("publish the capacity of node {node}")))?;
    Ok(cap.pod_ip_slots())
}

/// Aborts the Lease manager's task when dropped (the agent was killed: a Lease it holds is
/// left to expire, as after a crash).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The parameters of the GC Lease: `lease_duration` in whole seconds (at least 2), renewed
/// a quarter of it (at least 1 s) before it expires.
fn lease_params(identity: &str, lease_duration: Duration) -> LeaseParams {
    let duration = lease_duration.as_secs().max(2);
    let grace = (duration / 4).clamp(1, duration - 1);
    LeaseParams::new(identity, duration, grace)
}

/// The cluster-wide garbage collector: one agent at a time holds the GC Lease
/// (kube-lease-manager) and runs a pass as soon as it becomes the holder and every
/// `gc_period` while it stays the holder. Returns when `stop` is cancelled, after
/// releasing the Lease.
async fn gc_loop(ctx: Arc<Context>, stop: CancellationToken) {
    if !ctx.cfg.gc {
        return;
    }
    let manager = loop {
        let built = LeaseManagerBuilder::new(ctx.client.clone(), GC_LEASE_NAME)
            .with_namespace(GC_LEASE_NAMESPACE)
            .with_parameters(lease_params(&ctx.cfg.identity, ctx.cfg.lease_duration))
            .build();
        tokio::select! {
            m = built => match m {
                Ok(m) => break m,
                Err(e) => tracing::warn!(error = %e, "GC lease unavailable; retrying"),
            },
            _ = stop.cancelled() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(ctx.cfg.retry_interval) => {}
            _ = stop.cancelled() => return,
        }
    };
    let (mut holder, task) = manager.watch().await;
    let mut task = AbortOnDrop(task);
    let orphans: Mutex<HashMap<String, Instant>> = Mutex::new(HashMap::new());
    tokio::select! {
        _ = gc_while_holding(&ctx, &mut holder, &orphans) => {}
        _ = stop.cancelled() => {}
    }
    // Closing the channel makes the manager release the Lease and end.
    drop(holder);
    match tokio::time::timeout(Duration::from_secs(5), &mut task.0).await {
        Ok(Ok(Ok(_))) => tracing::debug!("GC lease released"),
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "GC lease not released"),
        Ok(Err(e)) => tracing::warn!(error = %e, "GC lease task failed"),
        Err(_) => tracing::warn!("GC lease not released within 5 s"),
    }
}

/// Runs a GC pass whenever this agent becomes the Lease holder, then every `gc_period`
/// until it loses the Lease. Never returns.
async fn gc_while_holding(
    ctx: &Context,
    holder: &mut watch::Receiver<bool>,
    orphans: &Mutex<HashMap<String, Instant>>,
) {
    loop {
        if holder.wait_for(|held| *held).await.is_err() {
            tracing::warn!("GC lease manager stopped");
            return std::future::pending().await;
        }
        tracing::info!(identity = %ctx.cfg.identity, "holding the GC lease");
        loop {
            if let Err(e) = gc_pass(ctx, orphans).await {
                ctx.metrics.failure(e.code());
                tracing::warn!(error = %e, "garbage collection pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(ctx.cfg.gc_period) => {}
                changed = holder.changed() => if changed.is_err() {
                    tracing::warn!("GC lease manager stopped");
                    return std::future::pending().await;
                },
            }
            if !*holder.borrow_and_update() {
                tracing::info!("lost the GC lease");
                break;
            }
        }
    }
}

/// Finishes a record whose pod is gone (or is another pod of the same name that asks for no
/// EIP), releasing a retained EIP whose retention expired; leaves alone a record whose pod
/// is alive, one retained for the next pod of its name, and one a new pod of its name
/// claims. Returns whether it finished the record.
async fn finish_record(
    ctx: &Context,
    rec: &PodEIP,
    pod: Option<&Pod>,
    now: jiff::Timestamp,
) -> bool {
    let ns = rec.namespace().unwrap_or_default();
    let name = rec.name_any();
    let rf = record_facts(rec);
    let alive = pod.is_some_and(|p| rf.pod_uid.is_none() || p.uid() == rf.pod_uid);
    if alive {
        return false;
    }
    // A new pod of the same name that asks for an EIP claims the record itself.
    let claimant =
        pod.is_some_and(|p| matches!(EipRequest::from_annotations(p.annotations()), Ok(Some(_))));
    let retained = rf.phase == Some(PodEIPPhase::Retained);
    let release_at = rec.status.as_ref().and_then(|s| s.release_at.as_ref());
    let expired = retained && release_at.is_some_and(|t| t.0 <= now);
    if (retained || claimant) && !expired {
        return false;
    }
    let what = if expired { "expire" } else { "orphan-record" };
    match drive(ctx, &ns, &name, true, expired).await {
        Ok(_) => {
            ctx.metrics.gc(what);
            ctx.event(
                &rec.object_ref(&()),
                EventType::Normal,
                names::REASON_GARBAGE_COLLECTED,
                format!(
                    "{} the EIP {} of pod {ns}/{name}",
                    if expired {
                        "retention expired: released"
                    } else {
                        "pod gone: cleaned up"
                    },
                    rf.allocation_id.as_deref().unwrap_or("(none)")
                ),
                "GarbageCollect",
            )
            .await;
            true
        }
        Err(e) => {
            ctx.metrics.failure(e.code());
            tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "finishing a PodEIP failed");
            false
        }
    }
}

/// One garbage collection pass (call it only while holding the lease): lists every pod and
/// PodEIP of the cluster, finishes records whose pod is gone, releases EIPs whose retention
/// expired, and releases EIPs tagged with our cluster id that no pod or record accounts for
/// (after the grace period).
pub async fn gc_pass(
    ctx: &Context,
    orphans: &Mutex<HashMap<String, Instant>>,
) -> Result<(), Error> {
    let recs: Api<PodEIP> = Api::all(ctx.client.clone());
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let records = recs
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("list PodEIPs"))?
        .items;
    let pod_list = pods
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("list pods"))?
        .items;
    let by_name: HashMap<(String, String), &Pod> = pod_list
        .iter()
        .map(|p| ((p.namespace().unwrap_or_default(), p.name_any()), p))
        .collect();
    let pod_uids: HashSet<String> = pod_list.iter().filter_map(|p| p.uid()).collect();
    let now = jiff::Timestamp::now();
    for rec in &records {
        let key = (rec.namespace().unwrap_or_default(), rec.name_any());
        finish_record(ctx, rec, by_name.get(&key).copied(), now).await;
    }

    // EIPs of this cluster that nothing accounts for.
    let records = recs
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("list PodEIPs"))?
        .items;
    let mut accounted: HashSet<String> = HashSet::new();
    let mut record_uids: HashSet<String> = HashSet::new();
    for r in &records {
        let rf = record_facts(r);
        if let Some(id) = rf.allocation_id {
            accounted.insert(id);
        }
        if let Some(u) = rf.pod_uid {
            record_uids.insert(u);
        }
    }
    let eips = cloudops::cluster_eips(ctx.cloud.as_ref(), &ctx.cfg.cluster_id).await?;
    let mut seen = HashSet::new();
    for e in eips {
        let uid = cloudops::tag_value(&e, names::TAG_POD_UID).unwrap_or_default();
        if accounted.contains(&e.allocation_id)
            || (!uid.is_empty() && (pod_uids.contains(uid) || record_uids.contains(uid)))
        {
            continue;
        }
        seen.insert(e.allocation_id.clone());
        let first = *match orphans.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
        .entry(e.allocation_id.clone())
        .or_insert_with(Instant::now);
        if first.elapsed() < ctx.cfg.gc_grace {
            continue;
        }
        let id = e.allocation_id.clone();
        if e.status != eip_cloud::model::EipStatus::Available.as_str() {
            if let Err(err) = ctx
                .cloud
                .unassociate_eip_address(&UnassociateEipArgs {
                    allocation_id: id.clone(),
                    ..UnassociateEipArgs::default()
                })
                .await
            {
                tracing::debug!(eip = %id, error = %err, "GC unassociate");
            }
            if let Err(err) = ctx
                .waiter
                .wait(&id, eip_cloud::WaitTarget::Available, ctx.cfg.wait_timeout)
                .await
            {
                tracing::warn!(eip = %id, error = %err, "GC: orphan EIP did not become Available");
                continue;
            }
        }
        match ctx.cloud.release_eip_address(&id).await {
            Ok(_) | Err(eip_cloud::Error::NotFound(_)) => {
                ctx.metrics.gc("release-orphan");
                ctx.metrics.releases.inc();
                tracing::info!(eip = %id, "GC released an EIP no pod or PodEIP accounts for");
                let node_ref = Node::object_ref(
                    &Node {
                        metadata: kube::api::ObjectMeta {
                            name: Some(ctx.cfg.node_name.clone()),
                            ..Default::default()
                        },
                        ..Node::default()
                    },
                    &(),
                );
                ctx.event(
                    &node_ref,
                    EventType::Normal,
                    names::REASON_GARBAGE_COLLECTED,
                    format!(
                        "released EIP {id} ({}) of pod {}/{}: neither the pod nor its PodEIP exists",
                        e.ip_address,
                        cloudops::tag_value(&e, names::TAG_NAMESPACE).unwrap_or("?"),
                        cloudops::tag_value(&e, names::TAG_POD_NAME).unwrap_or("?"),
                    ),
                    "GarbageCollect",
                )
                .await;
            }
            Err(err) => {
                ctx.metrics.failure(
                    err.api()
                        .map(|a| a.code.clone())
                        .unwrap_or_else(|| "Other".into()),
                );
                tracing::warn!(eip = %id, error = %err, "GC release failed");
            }
        }
    }
    match orphans.lock() {
        Ok(mut g) => g.retain(|k, _| seen.contains(k)),
        Err(p) => p.into_inner().retain(|k, _| seen.contains(k)),
    }
    Ok(())
}
