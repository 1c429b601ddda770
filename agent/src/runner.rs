//! Wiring: the kube-runtime Controller over this node's pods and their PodEIPs, the live
//! `eni-config` watch, the node capacity publication, and the cluster-wide garbage
//! collector behind a Lease.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eip_cloud::Cloud;
use eip_cloud::args::{DescribeInstanceTypesArgs, UnassociateEipArgs};
use eip_core::annotations::EipRequest;
use eip_core::capacity::InstanceTypeCapacity;
use eip_core::eni_config::{self, EniConf};
use eip_core::names;
use eip_core::podeip::{PodEIP, PodEIPPhase};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action as KubeAction, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cloudops;
use crate::controller::{Context, Next, drive, record_facts};
use crate::error::Error;
use crate::machine::Switches;

/// Name of the GC Lease (in `kube-system`).
pub const GC_LEASE_NAME: &str = "eip-agent-gc";

/// A started agent.
#[derive(Debug)]
pub struct RunningAgent {
    /// The shared context (switches, metrics, debug state).
    pub ctx: Arc<Context>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl RunningAgent {
    /// Graceful stop: no new reconcile starts, running ones finish.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Kills the agent at once (every in-flight step is dropped where it stands).
    pub async fn kill(mut self) {
        self.ctx.kill.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Waits until the agent stopped by itself (e.g. a crash plan fired).
    pub async fn stopped(mut self) {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        self.ctx.kill.cancel();
    }
}

fn switches_of(cm: Option<&ConfigMap>) -> Switches {
    let conf = cm
        .and_then(|c| c.data.as_ref())
        .map(EniConf::from_config_map_data);
    match conf {
        Some(Ok(c)) => Switches {
            enabled: c.enable_eip_pool(),
            allow_rob: c.allow_eip_rob(),
        },
        Some(Err(e)) => {
            tracing::warn!(error = %e, "eni-config is unreadable; the EIP feature is off until it is fixed");
            Switches::default()
        }
        None => Switches::default(),
    }
}

/// Starts the agent: reads `eni-config`, then runs the controller, the ConfigMap watch and
/// the garbage collector until shut down or killed.
pub async fn start(ctx: Arc<Context>) -> Result<RunningAgent, Error> {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), eni_config::ENI_CONFIG_NAMESPACE);
    let cm = cms
        .get_opt(eni_config::ENI_CONFIG_NAME)
        .await
        .map_err(Error::kube("read the eni-config ConfigMap"))?;
    ctx.set_switches(switches_of(cm.as_ref()));

    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(ctx.clone(), shutdown.clone()));
    Ok(RunningAgent {
        ctx,
        shutdown,
        task: Some(task),
    })
}

async fn run(ctx: Arc<Context>, shutdown: CancellationToken) {
    let (tx, rx) = mpsc::unbounded_channel::<()>();
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let recs: Api<PodEIP> = Api::all(ctx.client.clone());
    let wc = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.cfg.node_name));
    let controller = Controller::new(pods, wc)
        .watches(recs, watcher::Config::default(), |r: PodEIP| {
            let ns = r.namespace().unwrap_or_default();
            Some(ObjectRef::<Pod>::new(&r.name_any()).within(&ns))
        })
        .reconcile_all_on(tokio_stream_from(rx))
        .graceful_shutdown_on(shutdown.clone().cancelled_owned())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    tokio::select! {
        _ = controller => {}
        _ = ctx.kill.cancelled() => {}
        _ = watch_config(ctx.clone(), tx) => {}
        _ = gc_loop(ctx.clone(), shutdown.clone()) => {}
    }
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
    tracing::warn!(pod = %pod.name_any(), error = %err, cause = ?std::error::Error::source(err).map(ToString::to_string), "step failed; retrying");
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
            Ok(watcher::Event::Delete(_)) => Switches::default(),
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

async fn gc_loop(ctx: Arc<Context>, shutdown: CancellationToken) {
    let orphans: Mutex<HashMap<String, Instant>> = Mutex::new(HashMap::new());
    if !ctx.cfg.gc {
        std::future::pending::<()>().await;
    }
    loop {
        if shutdown.is_cancelled() {
            std::future::pending::<()>().await;
        }
        match try_lease(&ctx).await {
            Ok(true) => {
                if let Err(e) = gc_pass(&ctx, &orphans).await {
                    ctx.metrics.failure(e.code());
                    tracing::warn!(error = %e, "garbage collection pass failed");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::debug!(error = %e, "GC lease not acquired"),
        }
        tokio::time::sleep(ctx.cfg.gc_period).await;
    }
}

/// Takes or renews the GC Lease; `true` when this agent holds it.
pub async fn try_lease(ctx: &Context) -> Result<bool, Error> {
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), eni_config::ENI_CONFIG_NAMESPACE);
    let now = MicroTime(jiff::Timestamp::now());
    let secs = i32::try_from(ctx.cfg.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX);
    let me = ctx.cfg.identity.clone();
    let spec = LeaseSpec {
        holder_identity: Some(me.clone()),
        lease_duration_seconds: Some(secs),
        renew_time: Some(now.clone()),
        acquire_time: Some(now.clone()),
        ..LeaseSpec::default()
    };
    match api
        .get_opt(GC_LEASE_NAME)
        .await
        .map_err(Error::kube("read the GC lease"))?
    {
        None => {
            let mut lease = Lease {
                spec: Some(spec),
                ..Lease::default()
            };
            lease.metadata.name = Some(GC_LEASE_NAME.to_owned());
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(Error::kube("create the GC lease")(e)),
            }
        }
        Some(mut lease) => {
            let cur = lease.spec.clone().unwrap_or_default();
            let holder = cur.holder_identity.clone().unwrap_or_default();
            let expired = cur.renew_time.as_ref().is_none_or(|t| {
                let d = i64::from(cur.lease_duration_seconds.unwrap_or(0));
                t.0.checked_add(jiff::SignedDuration::from_secs(d))
                    .is_ok_and(|end| end < jiff::Timestamp::now())
            });
            if holder != me && !expired && !holder.is_empty() {
                return Ok(false);
            }
            let mut next = spec;
            if holder == me {
                next.acquire_time = cur.acquire_time;
            }
            lease.spec = Some(next);
            match api
                .replace(GC_LEASE_NAME, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(Error::kube("renew the GC lease")(e)),
            }
        }
    }
}

/// One garbage collection pass (call it only while holding the lease): finishes records
/// whose pod is gone, releases EIPs whose retention expired, and releases EIPs tagged
/// with our cluster id that no pod or record accounts for (after the grace period).
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
        let ns = rec.namespace().unwrap_or_default();
        let name = rec.name_any();
        let rf = record_facts(rec);
        let pod = by_name.get(&(ns.clone(), name.clone()));
        let alive = pod.is_some_and(|p| rf.pod_uid.is_none() || p.uid() == rf.pod_uid);
        if alive {
            continue;
        }
        // A new pod of the same name that asks for an EIP claims the record itself.
        let claimant = pod
            .is_some_and(|p| matches!(EipRequest::from_annotations(p.annotations()), Ok(Some(_))));
        let release_at = rec.status.as_ref().and_then(|s| s.release_at.as_ref());
        let expired =
            rf.phase == Some(PodEIPPhase::Retained) && release_at.is_some_and(|t| t.0 <= now);
        if rf.phase == Some(PodEIPPhase::Retained) && !expired {
            continue;
        }
        if claimant && !expired {
            continue;
        }
        let what = if expired { "expire" } else { "orphan-record" };
        match drive(ctx, &ns, &name, true, expired).await {
            Ok(_) => {
                ctx.metrics.gc(what);
                ctx.event(
                    &rec.object_ref(&()),
                    EventType::Normal,
                    "EipGarbageCollected",
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
            }
            Err(e) => {
                ctx.metrics.failure(e.code());
                tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "GC of a record failed");
            }
        }
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
        if e.status != eip_cloud::model::eip_status::AVAILABLE {
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
                    "EipGarbageCollected",
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
