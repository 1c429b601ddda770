//! A minimal workload controller: Deployments (through ReplicaSets), ReplicaSets and
//! StatefulSets create and delete pods from their template and replica count, and a small
//! garbage collector removes what a deleted owner leaves behind.
//!
//! In: `apps/v1` Deployments, ReplicaSets, StatefulSets and the pods they own. Out: pods
//! (with controller `ownerReferences`), ReplicaSets, `status` of all three, and
//! `SuccessfulCreate` / `SuccessfulDelete` events.
//!
//! Each pass reads everything fresh from the API server (no cache, so no duplicate pod is
//! ever created from a stale view) and is triggered by any change to the four kinds, or by
//! a periodic resync. What is simplified:
//! - Deployments always roll out like `strategy: Recreate` (whatever the strategy says):
//!   a template change scales the old ReplicaSets to 0, waits until their pods are gone
//!   (terminating ones included), then scales the new ReplicaSet (named
//!   `<deployment>-<pod-template-hash>`) up. `maxSurge`/`maxUnavailable`,
//!   `minReadySeconds`, `paused` and `revisionHistoryLimit` are ignored.
//! - ReplicaSets delete, when scaling down, unscheduled pods first, then pending ones,
//!   then not-ready ones, then the newest (kube's ranking, reduced).
//! - StatefulSets follow `podManagementPolicy: OrderedReady` and `RollingUpdate`: pods
//!   `<name>-0..N-1` are created one at a time, each after the previous is Running and
//!   Ready; a missing pod is recreated with the same name; scale-down and rolling update
//!   delete one pod at a time from the highest ordinal, only while all others are
//!   Running and Ready. PVC templates and `partition` are ignored. The revision is
//!   `<name>-<hash>` in `controller-revision-hash` (no ControllerRevision objects).
//! - The hash is the first 10 hex digits of SHA-256 over the template's JSON, not
//!   kube's FNV-based one.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::events::{self, Reporter};
use crate::names::{
    LABEL_CONTROLLER_REVISION_HASH, LABEL_POD_INDEX, LABEL_POD_TEMPLATE_HASH,
    LABEL_STATEFULSET_POD_NAME, condition, reason,
};

/// The first 10 hex digits of SHA-256 over the template's JSON.
pub fn template_hash(template: &PodTemplateSpec) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    hex::encode(digest).chars().take(10).collect()
}

/// Whether the pod is Running with its Ready condition True.
pub fn is_running_and_ready(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == condition::READY && c.status == "True")
}

fn is_active(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && !crate::scheduler::fit::is_terminal(pod)
}

/// The controller owner's uid, if any.
fn controller_uid(meta: &ObjectMeta) -> Option<&str> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

fn controller_kind(meta: &ObjectMeta) -> Option<&str> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.kind.as_str())
}

fn owner_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).to_string(),
        kind: K::kind(&()).to_string(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A pod made from a template, owned by `owner`.
fn pod_from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    owner: OwnerReference,
    name: Option<String>,
    generate_name: Option<String>,
    extra_labels: BTreeMap<String, String>,
) -> Pod {
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    labels.extend(extra_labels);
    Pod {
        metadata: ObjectMeta {
            name,
            generate_name,
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    /// A pass runs at least this often even without a change.
    pub resync: Duration,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions {
            resync: Duration::from_secs(1),
        }
    }
}

/// A running workload controller; [`RunningWorkloads::shutdown`] (or dropping it) stops it.
#[derive(Debug)]
pub struct RunningWorkloads {
    token: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl RunningWorkloads {
    /// Stops the controller and waits for it.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for RunningWorkloads {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// The workload controller.
pub struct WorkloadController {
    client: Client,
    opts: WorkloadOptions,
    rs_reporter: Reporter,
    sts_reporter: Reporter,
}

impl std::fmt::Debug for WorkloadController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadController")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// Everything one pass looks at.
#[derive(Debug, Default)]
struct World {
    pods: Vec<Pod>,
    replicasets: Vec<ReplicaSet>,
    deployments: Vec<Deployment>,
    statefulsets: Vec<StatefulSet>,
}

impl WorkloadController {
    /// A controller for this cluster.
    pub fn new(client: Client, opts: WorkloadOptions) -> Self {
        WorkloadController {
            client,
            opts,
            rs_reporter: Reporter::new("replicaset-controller"),
            sts_reporter: Reporter::new("statefulset-controller"),
        }
    }

    /// Starts the controller in the background.
    pub fn spawn(self) -> RunningWorkloads {
        let token = CancellationToken::new();
        let task = tokio::spawn(self.run(token.clone()));
        RunningWorkloads {
            token,
            task: Some(task),
        }
    }

    async fn run(self, token: CancellationToken) {
        let wake = std::sync::Arc::new(Notify::new());
        let watchers = vec![
            watch_kind::<Pod>(&self.client, wake.clone(), token.clone()),
            watch_kind::<ReplicaSet>(&self.client, wake.clone(), token.clone()),
            watch_kind::<Deployment>(&self.client, wake.clone(), token.clone()),
            watch_kind::<StatefulSet>(&self.client, wake.clone(), token.clone()),
        ];
        loop {
            if let Err(e) = self.pass().await {
                tracing::debug!(error = %e, "workload pass failed");
            }
            tokio::select! {
                _ = token.cancelled() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.opts.resync) => {}
            }
        }
        for w in watchers {
            w.abort();
        }
    }

    /// One reconciliation of every workload.
    pub async fn pass(&self) -> Result<(), Error> {
        let lp = ListParams::default();
        // Dependents first, then owners: an owner created in between has no dependents yet.
        let pods = Api::<Pod>::all(self.client.clone())
            .list(&lp)
            .await
            .map_err(Error::kube("list pods"))?
            .items;
        let replicasets = Api::<ReplicaSet>::all(self.client.clone())
            .list(&lp)
            .await
            .map_err(Error::kube("list replicasets"))?
            .items;
        let deployments = Api::<Deployment>::all(self.client.clone())
            .list(&lp)
            .await
            .map_err(Error::kube("list deployments"))?
            .items;
        let statefulsets = Api::<StatefulSet>::all(self.client.clone())
            .list(&lp)
            .await
            .map_err(Error::kube("list statefulsets"))?
            .items;
        let world = World {
            pods,
            replicasets,
            deployments,
            statefulsets,
        };
        self.collect_garbage(&world).await?;
        for d in &world.deployments {
            self.sync_deployment(d, &world).await?;
        }
        for rs in &world.replicasets {
            self.sync_replicaset(rs, &world).await?;
        }
        for sts in &world.statefulsets {
            self.sync_statefulset(sts, &world).await?;
        }
        Ok(())
    }

    /// Deletes ReplicaSets and pods whose controller (a Deployment, ReplicaSet or
    /// StatefulSet) no longer exists, as the garbage collector does.
    async fn collect_garbage(&self, w: &World) -> Result<(), Error> {
        let owners: HashSet<&str> = w
            .deployments
            .iter()
            .filter_map(|d| d.metadata.uid.as_deref())
            .chain(
                w.replicasets
                    .iter()
                    .filter_map(|r| r.metadata.uid.as_deref()),
            )
            .chain(
                w.statefulsets
                    .iter()
                    .filter_map(|s| s.metadata.uid.as_deref()),
            )
            .collect();
        let managed = |m: &ObjectMeta| {
            matches!(
                controller_kind(m),
                Some("Deployment") | Some("ReplicaSet") | Some("StatefulSet")
            )
        };
        for rs in &w.replicasets {
            if managed(&rs.metadata)
                && controller_uid(&rs.metadata).is_some_and(|u| !owners.contains(u))
            {
                let api: Api<ReplicaSet> =
                    Api::namespaced(self.client.clone(), &rs.namespace().unwrap_or_default());
                ignore_not_found(api.delete(&rs.name_any(), &DeleteParams::default()).await)
                    .map_err(Error::kube(format!(
                        "delete orphan replicaset {}",
                        rs.name_any()
                    )))?;
            }
        }
        for p in &w.pods {
            if p.metadata.deletion_timestamp.is_none()
                && managed(&p.metadata)
                && controller_uid(&p.metadata).is_some_and(|u| !owners.contains(u))
            {
                let api: Api<Pod> =
                    Api::namespaced(self.client.clone(), &p.namespace().unwrap_or_default());
                ignore_not_found(api.delete(&p.name_any(), &DeleteParams::default()).await)
                    .map_err(Error::kube(format!("delete orphan pod {}", p.name_any())))?;
            }
        }
        Ok(())
    }

    async fn sync_deployment(&self, d: &Deployment, w: &World) -> Result<(), Error> {
        let ns = d.namespace().unwrap_or_default();
        let Some(uid) = d.metadata.uid.as_deref() else {
            return Ok(());
        };
        let Some(spec) = d.spec.as_ref() else {
            return Ok(());
        };
        let desired = spec.replicas.unwrap_or(1);
        let hash = template_hash(&spec.template);
        let new_name = format!("{}-{hash}", d.name_any());
        let owned: Vec<&ReplicaSet> = w
            .replicasets
            .iter()
            .filter(|rs| controller_uid(&rs.metadata) == Some(uid))
            .collect();
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &ns);
        let mut old_pods = 0;
        for old in owned.iter().filter(|rs| rs.name_any() != new_name) {
            let old_uid = old.metadata.uid.as_deref();
            old_pods += w
                .pods
                .iter()
                .filter(|p| {
                    controller_uid(&p.metadata).is_some() && controller_uid(&p.metadata) == old_uid
                })
                .count();
            if old.spec.as_ref().and_then(|s| s.replicas) != Some(0) {
                scale(&api, &old.name_any(), 0).await?;
            }
        }
        let new_rs = owned.iter().find(|rs| rs.name_any() == new_name);
        let target = if old_pods == 0 { desired } else { 0 };
        match new_rs {
            None => {
                let mut template = spec.template.clone();
                let tmeta = template.metadata.get_or_insert_with(ObjectMeta::default);
                tmeta
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(LABEL_POD_TEMPLATE_HASH.to_string(), hash.clone());
                let mut selector: LabelSelector = spec.selector.clone();
                selector
                    .match_labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(LABEL_POD_TEMPLATE_HASH.to_string(), hash.clone());
                let mut labels = tmeta.labels.clone().unwrap_or_default();
                labels.insert(LABEL_POD_TEMPLATE_HASH.to_string(), hash.clone());
                let rs = ReplicaSet {
                    metadata: ObjectMeta {
                        name: Some(new_name.clone()),
                        namespace: Some(ns.clone()),
                        labels: Some(labels),
                        owner_references: Some(vec![owner_ref(d)]),
                        ..ObjectMeta::default()
                    },
                    spec: Some(k8s_openapi::api::apps::v1::ReplicaSetSpec {
                        replicas: Some(target),
                        selector,
                        template: Some(template),
                        min_ready_seconds: None,
                    }),
                    status: None,
                };
                match api.create(&PostParams::default(), &rs).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => return Err(Error::kube(format!("create replicaset {new_name}"))(e)),
                }
            }
            Some(rs) => {
                if rs.spec.as_ref().and_then(|s| s.replicas) != Some(target) {
                    scale(&api, &new_name, target).await?;
                }
            }
        }
        // Status from the ReplicaSets as last seen.
        let sum = |f: fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> i32| -> i32 {
            owned
                .iter()
                .filter_map(|rs| rs.status.as_ref())
                .map(f)
                .sum()
        };
        let replicas = sum(|s| s.replicas);
        let ready = sum(|s| s.ready_replicas.unwrap_or(0));
        let available = sum(|s| s.available_replicas.unwrap_or(0));
        let updated = new_rs
            .and_then(|rs| rs.status.as_ref())
            .map_or(0, |s| s.replicas);
        let status = json!({
            "observedGeneration": d.metadata.generation,
            "replicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": available,
            "updatedReplicas": updated,
            "unavailableReplicas": (desired - available).max(0),
        });
        let current = d.status.as_ref();
        let same = current.is_some_and(|s| {
            s.replicas == Some(replicas)
                && s.ready_replicas.unwrap_or(0) == ready
                && s.available_replicas.unwrap_or(0) == available
                && s.updated_replicas.unwrap_or(0) == updated
                && s.observed_generation == d.metadata.generation
        });
        if !same {
            patch_status::<Deployment>(&self.client, &ns, &d.name_any(), status).await?;
        }
        Ok(())
    }

    async fn sync_replicaset(&self, rs: &ReplicaSet, w: &World) -> Result<(), Error> {
        let ns = rs.namespace().unwrap_or_default();
        let Some(uid) = rs.metadata.uid.as_deref() else {
            return Ok(());
        };
        let Some(spec) = rs.spec.as_ref() else {
            return Ok(());
        };
        let Some(template) = spec.template.as_ref() else {
            return Ok(());
        };
        let desired = spec.replicas.unwrap_or(1).max(0) as usize;
        let mut active: Vec<&Pod> = w
            .pods
            .iter()
            .filter(|p| controller_uid(&p.metadata) == Some(uid) && is_active(p))
            .collect();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        if active.len() < desired {
            for _ in active.len()..desired {
                let pod = pod_from_template(
                    template,
                    &ns,
                    owner_ref(rs),
                    None,
                    Some(format!("{}-", rs.name_any())),
                    BTreeMap::new(),
                );
                let created =
                    api.create(&PostParams::default(), &pod)
                        .await
                        .map_err(Error::kube(format!(
                            "create pod for replicaset {}",
                            rs.name_any()
                        )))?;
                self.event(
                    &self.rs_reporter,
                    rs,
                    reason::SUCCESSFUL_CREATE,
                    format!("Created pod: {}", created.name_any()),
                )
                .await;
            }
        } else if active.len() > desired {
            // Delete the least useful pods first.
            active.sort_by_key(|p| {
                let unscheduled = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none();
                let pending = p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running");
                let unready = !is_running_and_ready(p);
                let newest = std::cmp::Reverse(p.creation_timestamp());
                (!unscheduled, !pending, !unready, newest)
            });
            for p in active.iter().take(active.len() - desired) {
                ignore_not_found(api.delete(&p.name_any(), &DeleteParams::default()).await)
                    .map_err(Error::kube(format!("delete pod {}", p.name_any())))?;
                self.event(
                    &self.rs_reporter,
                    rs,
                    reason::SUCCESSFUL_DELETE,
                    format!("Deleted pod: {}", p.name_any()),
                )
                .await;
            }
        }
        let replicas = active.len() as i32;
        let ready = active.iter().filter(|p| is_running_and_ready(p)).count() as i32;
        let same = rs.status.as_ref().is_some_and(|s| {
            s.replicas == replicas
                && s.ready_replicas.unwrap_or(0) == ready
                && s.observed_generation == rs.metadata.generation
        });
        if !same {
            let status = json!({
                "observedGeneration": rs.metadata.generation,
                "replicas": replicas,
                "fullyLabeledReplicas": replicas,
                "readyReplicas": ready,
                "availableReplicas": ready,
            });
            patch_status::<ReplicaSet>(&self.client, &ns, &rs.name_any(), status).await?;
        }
        Ok(())
    }

    async fn sync_statefulset(&self, sts: &StatefulSet, w: &World) -> Result<(), Error> {
        let ns = sts.namespace().unwrap_or_default();
        let name = sts.name_any();
        let Some(uid) = sts.metadata.uid.as_deref() else {
            return Ok(());
        };
        let Some(spec) = sts.spec.as_ref() else {
            return Ok(());
        };
        let replicas = spec.replicas.unwrap_or(1).max(0) as usize;
        let revision = format!("{name}-{}", template_hash(&spec.template));
        let mut by_ordinal: BTreeMap<usize, &Pod> = BTreeMap::new();
        for p in w
            .pods
            .iter()
            .filter(|p| controller_uid(&p.metadata) == Some(uid))
        {
            if let Some(i) = ordinal_of(&name, &p.name_any()) {
                by_ordinal.insert(i, p);
            }
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let mut all_healthy = true;
        for i in 0..replicas {
            match by_ordinal.get(&i) {
                None => {
                    let pod_name = format!("{name}-{i}");
                    let mut pod = pod_from_template(
                        &spec.template,
                        &ns,
                        owner_ref(sts),
                        Some(pod_name.clone()),
                        None,
                        BTreeMap::from([
                            (LABEL_STATEFULSET_POD_NAME.to_string(), pod_name.clone()),
                            (LABEL_POD_INDEX.to_string(), i.to_string()),
                            (LABEL_CONTROLLER_REVISION_HASH.to_string(), revision.clone()),
                        ]),
                    );
                    if let Some(ps) = pod.spec.as_mut() {
                        ps.hostname = Some(pod_name.clone());
                        ps.subdomain = spec.service_name.clone().filter(|s| !s.is_empty());
                    }
                    match api.create(&PostParams::default(), &pod).await {
                        Ok(_) => {
                            self.event(
                                &self.sts_reporter,
                                sts,
                                reason::SUCCESSFUL_CREATE,
                                format!("create Pod {pod_name} in StatefulSet {name} successful"),
                            )
                            .await;
                        }
                        // The old pod of that name is still terminating.
                        Err(kube::Error::Api(s)) if s.code == 409 => {}
                        Err(e) => return Err(Error::kube(format!("create pod {pod_name}"))(e)),
                    }
                    all_healthy = false;
                    break;
                }
                Some(p) if !is_active(p) || !is_running_and_ready(p) => {
                    all_healthy = false;
                    break;
                }
                Some(_) => {}
            }
        }
        if all_healthy {
            let condemned = by_ordinal.range(replicas..).next_back().map(|(_, p)| *p);
            let outdated = by_ordinal
                .range(..replicas)
                .rev()
                .find(|(_, p)| pod_revision(p) != Some(revision.as_str()))
                .map(|(_, p)| *p);
            if let Some(p) = condemned.or(outdated)
                && is_active(p)
            {
                ignore_not_found(api.delete(&p.name_any(), &DeleteParams::default()).await)
                    .map_err(Error::kube(format!("delete pod {}", p.name_any())))?;
                self.event(
                    &self.sts_reporter,
                    sts,
                    reason::SUCCESSFUL_DELETE,
                    format!(
                        "delete Pod {} in StatefulSet {name} successful",
                        p.name_any()
                    ),
                )
                .await;
            }
        }
        let active: Vec<&&Pod> = by_ordinal.values().filter(|p| is_active(p)).collect();
        let count = active.len() as i32;
        let ready = active.iter().filter(|p| is_running_and_ready(p)).count() as i32;
        let updated = active
            .iter()
            .filter(|p| pod_revision(p) == Some(revision.as_str()))
            .count() as i32;
        let same = sts.status.as_ref().is_some_and(|s| {
            s.replicas == count
                && s.ready_replicas.unwrap_or(0) == ready
                && s.updated_replicas.unwrap_or(0) == updated
                && s.update_revision.as_deref() == Some(revision.as_str())
                && s.observed_generation == sts.metadata.generation
        });
        if !same {
            let status = json!({
                "observedGeneration": sts.metadata.generation,
                "replicas": count,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "currentReplicas": updated,
                "updatedReplicas": updated,
                "currentRevision": revision,
                "updateRevision": revision,
            });
            patch_status::<StatefulSet>(&self.client, &ns, &name, status).await?;
        }
        Ok(())
    }

    async fn event<K: Resource<DynamicType = ()>>(
        &self,
        reporter: &Reporter,
        obj: &K,
        reason: &str,
        msg: String,
    ) {
        let _ = events::record(
            &self.client,
            reporter,
            events::object_ref(obj),
            events::NORMAL,
            reason,
            msg,
        )
        .await;
    }
}

/// `<set>-<n>` -> `n`.
fn ordinal_of(set: &str, pod: &str) -> Option<usize> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

fn pod_revision(p: &Pod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()?
        .get(LABEL_CONTROLLER_REVISION_HASH)
        .map(String::as_str)
}

async fn scale(api: &Api<ReplicaSet>, name: &str, replicas: i32) -> Result<(), Error> {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": replicas}})),
    )
    .await
    .map(|_| ())
    .map_err(Error::kube(format!(
        "scale replicaset {name} to {replicas}"
    )))
}

async fn patch_status<K>(
    client: &Client,
    ns: &str,
    name: &str,
    status: serde_json::Value,
) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    ignore_not_found(
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map(|_| ()),
    )
    .map_err(Error::kube(format!(
        "update status of {} {name}",
        K::kind(&())
    )))
}

/// A 404 means someone else already did it.
fn ignore_not_found<T>(r: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

fn watch_kind<K>(
    client: &Client,
    wake: std::sync::Arc<Notify>,
    token: CancellationToken,
) -> JoinHandle<()>
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default()).boxed();
        loop {
            let ev = tokio::select! {
                _ = token.cancelled() => return,
                ev = stream.next() => ev,
            };
            match ev {
                None => return,
                Some(Ok(_)) => wake.notify_one(),
                Some(Err(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_and_hashes() {
        assert_eq!(ordinal_of("web", "web-0"), Some(0));
        assert_eq!(ordinal_of("web", "web-12"), Some(12));
        assert_eq!(ordinal_of("web", "web-x"), None);
        assert_eq!(ordinal_of("web", "webby-1"), None);
        let mut t = PodTemplateSpec::default();
        let h1 = template_hash(&t);
        assert_eq!(h1.len(), 10);
        assert_eq!(h1, template_hash(&t.clone()));
        t.metadata = Some(ObjectMeta {
            annotations: Some([("a".to_string(), "b".to_string())].into()),
            ..ObjectMeta::default()
        });
        assert_ne!(h1, template_hash(&t));
    }

    #[test]
    fn pods_carry_template_labels_owner_and_extra_labels() {
        let t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}, "annotations": {"k": "v"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}
        }))
        .unwrap();
        let owner = OwnerReference {
            kind: "StatefulSet".into(),
            uid: "u1".into(),
            controller: Some(true),
            ..OwnerReference::default()
        };
        let p = pod_from_template(
            &t,
            "ns",
            owner,
            Some("web-0".into()),
            None,
            BTreeMap::from([("x".to_string(), "y".to_string())]),
        );
        assert_eq!(controller_uid(&p.metadata), Some("u1"));
        let labels = p.metadata.labels.unwrap();
        assert_eq!(labels["app"], "web");
        assert_eq!(labels["x"], "y");
        assert_eq!(p.metadata.annotations.unwrap()["k"], "v");
    }
}
