//! Least privilege, proven: the RBAC objects built from `deploy/base` are loaded into the
//! sandbox API server, which then enforces them; the real extender and one real agent per
//! node run in-process with their ServiceAccounts' tokens through a whole lifecycle
//! (scheduling and binding through the extender, a bind of a pod it has not seen,
//! allocation, annotation and condition, named EIPs of a Deployment and a StatefulSet,
//! an `eni-config` change, deletion, unbind and release, garbage collection of orphaned
//! EIPs, leader election on both sides, the extender's handed over between two
//! replicas). Then: no request of either ServiceAccount was
//! denied, and every permission the manifests grant each of them was used at least once.

mod manifests;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use eip_agent::controller::AgentConfig;
use eip_agent::metrics::Metrics;
use eip_agent::runner::RunningAgent;
use eip_cloud::args::{AllocateEipArgs, Tag};
use eip_cloud::{Cloud, WaiterConfig};
use eip_cloudsim::SimConfig;
use eip_core::annotations::{SETTING_INSTANCE_ID, SETTING_POD_WITH_EIP};
use eip_core::eni_config::{
    ALLOW_EIP_ROB, ENABLE_EIP_POOL, ENI_CONF_KEY, ENI_CONFIG_NAME, ENI_CONFIG_NAMESPACE,
};
use eip_core::extender::ExtenderBindingArgs;
use eip_core::names;
use eip_core::podeip::PodEIP;
use eip_e2e::{Cluster, DEFAULT_TEST_TIMEOUT, bounded, deployment, statefulset, wait_for};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use kube::{Api, Client, ResourceExt};
use sandbox::apiserver::rbac::{Grant, UserInfo};
use sandbox::apiserver::{AuditEntry, RunningApiServer};
use sandbox::scheduler::SchedulerConfig;
use serde_json::{Value, json};

use manifests::Manifests;

/// Namespace of the ServiceAccounts in the manifests.
const NS: &str = "kube-eip";
/// `--cluster-id` in the manifests.
const CLUSTER_ID: &str = "kube-eip";
/// What a lifecycle may take here.
const LIFECYCLE: Duration = Duration::from_secs(40);

/// The kinds loaded from the manifests (the workloads themselves are played in-process).
const LOADED: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

async fn load_rbac(client: &Client, m: &Manifests) -> anyhow::Result<usize> {
    let mut n = 0;
    for o in m.of_kinds(LOADED) {
        let api_version = o
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, manifests::kind(o));
        let ar = ApiResource::from_gvk(&gvk);
        let api: Api<DynamicObject> = match manifests::namespace(o) {
            "" => Api::all_with(client.clone(), &ar),
            ns => Api::namespaced_with(client.clone(), ns, &ar),
        };
        let obj: DynamicObject = serde_json::from_value(o.clone())?;
        api.create(&PostParams::default(), &obj)
            .await
            .with_context(|| format!("create {} {}", manifests::kind(o), manifests::name(o)))?;
        n += 1;
    }
    Ok(n)
}

/// A client of the cluster's emulator (which runs `SimConfig::default()`).
fn cloud_client(url: &str) -> anyhow::Result<Arc<dyn Cloud>> {
    Ok(sandbox::stack::cloud_client(
        &SimConfig::default(),
        url,
        None,
    )?)
}

async fn set_eni_config(client: &Client, rob: bool) -> anyhow::Result<()> {
    let conf = json!({
        "version": "1",
        ENABLE_EIP_POOL: "true",
        ALLOW_EIP_ROB: if rob { "true" } else { "false" },
    });
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": ENI_CONFIG_NAME, "namespace": ENI_CONFIG_NAMESPACE},
        "data": {ENI_CONF_KEY: conf.to_string()},
    });
    Api::<ConfigMap>::namespaced(client.clone(), ENI_CONFIG_NAMESPACE)
        .patch(
            ENI_CONFIG_NAME,
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&cm),
        )
        .await?;
    Ok(())
}

async fn start_agent(
    cluster: &Cluster,
    client: Client,
    node: &str,
) -> anyhow::Result<RunningAgent> {
    let n = cluster.node(node)?;
    let cloud = cloud_client(&cluster.cloud_url())?;
    let mut cfg = AgentConfig::new(node, CLUSTER_ID);
    cfg.gc_period = Duration::from_millis(300);
    cfg.gc_grace = Duration::from_millis(200);
    cfg.lease_duration = Duration::from_secs(2);
    cfg.settle_interval = Duration::from_millis(30);
    cfg.retry_interval = Duration::from_millis(100);
    cfg.blocked_interval = Duration::from_millis(300);
    cfg.wait_timeout = Duration::from_secs(10);
    cfg.resync_interval = Duration::from_millis(500);
    cfg.waiter = WaiterConfig {
        initial_interval: Duration::from_millis(15),
        max_interval: Duration::from_millis(100),
        factor: 1.5,
        absent_polls_before_gone: 2,
    };
    // What `eip-agent` does at start: publish the node's capacity, then run.
    Ok(sandbox::stack::start_agent(
        &client,
        cloud,
        cluster.metadata_url(node)?,
        n,
        cfg,
        Arc::new(Metrics::new()),
    )
    .await?)
}

/// Permissions granted to `user` that no allowed request of theirs used.
fn unused(grants: &[Grant], user: &UserInfo, audit: &[(AuditEntry, u64)]) -> Vec<String> {
    grants
        .iter()
        .flat_map(Grant::permissions)
        .filter(|p| {
            !audit
                .iter()
                .any(|(e, _)| e.user == user.name && e.allowed && p.allows(&e.attributes))
        })
        .map(|p| p.describe())
        .collect()
}

fn denied(user: &UserInfo, audit: &[(AuditEntry, u64)]) -> Vec<String> {
    audit
        .iter()
        .filter(|(e, _)| e.user == user.name && !e.allowed)
        .map(|(e, n)| {
            let a = &e.attributes;
            format!(
                "{n}x {} {}/{} ns={:?} name={:?}",
                a.verb,
                a.api_group,
                a.combined_resource(),
                a.namespace,
                a.name
            )
        })
        .collect()
}

fn allocated(p: &Pod) -> bool {
    p.annotations().contains_key(names::ALLOCATED_EIP_ADDRESS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_deployed_rbac_is_enough_and_every_grant_is_used() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, scenario()).await
}

async fn scenario() -> anyhow::Result<()> {
    let base = Manifests::build("deploy/base")?;
    let mut cluster = Cluster::builder()
        .node("n1", "ecs.g7.large")
        .node("n2", "ecs.g7.large")
        .start()
        .await?;
    anyhow::ensure!(
        cluster.is_sandbox(),
        "this test needs the sandbox API server, which enforces and audits RBAC; it cannot run against {}",
        eip_e2e::ENV_KUBECONFIG
    );
    let admin = cluster.client();
    let loaded = load_rbac(&admin, &base).await?;
    assert!(loaded >= 10, "only {loaded} objects loaded");
    set_eni_config(&admin, false).await?;
    let api: &RunningApiServer = cluster
        .api_server()
        .context("this test needs the sandbox API server")?;
    let agent_user = UserInfo::service_account(NS, "eip-agent");
    let extender_user = UserInfo::service_account(NS, "eip-extender");
    let agent_client = api
        .client_with_token(&api.service_account_token(NS, "eip-agent"))
        .await?;
    let extender_client = api
        .client_with_token(&api.service_account_token(NS, "eip-extender"))
        .await?;
    let agent_grants = api.grants(&agent_user);
    let extender_grants = api.grants(&extender_user);
    assert!(!agent_grants.is_empty() && !extender_grants.is_empty());

    // Cloud: two EIPs for named pods, two orphans of this cluster for the collector.
    let cloud = cloud_client(&cluster.cloud_url())?;
    let mut named = Vec::new();
    for _ in 0..2 {
        named.push(
            cloud
                .allocate_eip_address(&AllocateEipArgs::default())
                .await?
                .allocation_id,
        );
    }
    let mut orphans = Vec::new();
    for i in 0..2 {
        let args = AllocateEipArgs {
            tags: vec![
                Tag::new(names::TAG_CLUSTER_ID, CLUSTER_ID),
                Tag::new(names::TAG_NAMESPACE, cluster.namespace()),
                Tag::new(names::TAG_POD_NAME, format!("gone-{i}")),
            ],
            ..AllocateEipArgs::default()
        };
        orphans.push(cloud.allocate_eip_address(&args).await?.allocation_id);
    }

    // Leader election between two extender replicas with the same token: a first one
    // (a short Lease) leads, the extender started below stands by, and takes over when
    // the first one stops and releases the Lease.
    let first_ready = Arc::new(eip_extender::http::Readiness::default());
    let first = eip_extender::lease::Election::start(
        extender_client.clone(),
        eip_extender::lease::LeaseConfig {
            identity: "eip-extender-first".to_string(),
            duration: Duration::from_secs(2),
            grace: Duration::from_secs(1),
            retry: Duration::from_millis(200),
            ..eip_extender::lease::LeaseConfig::new(ENI_CONFIG_NAMESPACE)
        },
        first_ready.clone(),
    );
    wait_for("the first extender replica leads", LIFECYCLE, || async {
        Ok(first_ready.leader.load(Ordering::Acquire).then_some(()))
    })
    .await?;
    // The extender, as its Deployment runs it (leader election on), with its token.
    let settings = eip_extender::Settings {
        listen: "127.0.0.1:0".parse()?,
        leader_elect: true,
        cloud_refresh: Duration::from_millis(200),
        ..eip_extender::Settings::default()
    };
    let extender =
        eip_extender::start(&settings, extender_client.clone(), Some(cloud.clone())).await?;
    let with_url = eip_extender::Settings {
        scheduler_url: Some(extender.url()),
        ..settings.clone()
    };
    cluster
        .replace_scheduler(SchedulerConfig::from_yaml(
            &with_url.scheduler_config_yaml()?,
        )?)
        .await?;
    // One agent per node, with the agent's token.
    let mut agents = Vec::new();
    for node in ["n1", "n2"] {
        agents.push(start_agent(&cluster, agent_client.clone(), node).await?);
    }
    assert!(
        !extender.ready.leader.load(Ordering::Acquire),
        "two leaders"
    );
    first.release().await;
    wait_for("the extender takes the lead over", LIFECYCLE, || async {
        Ok(extender.ready.leader.load(Ordering::Acquire).then_some(()))
    })
    .await?;
    // The probes the manifests declare answer 200 on the running binaries.
    let http = reqwest::Client::new();
    let ops = eip_agent::http::serve(
        "127.0.0.1:0".parse()?,
        agents[0].ctx.clone(),
        agents[0].health.clone(),
    )?;
    let probes = [
        (
            format!("http://{}", ops.addr),
            base.probe_paths("DaemonSet", NS, "eip-agent")?,
        ),
        (
            extender.url(),
            base.probe_paths("Deployment", NS, "eip-extender")?,
        ),
    ];
    for (url, paths) in &probes {
        assert!(paths.len() >= 2, "{paths:?}");
        for path in paths {
            wait_for(&format!("{url}{path} answers 200"), LIFECYCLE, || async {
                let code = http.get(format!("{url}{path}")).send().await?.status();
                Ok(code.is_success().then_some(()))
            })
            .await?;
        }
    }
    ops.stop().await;

    // Workloads: two pods with new EIPs, a Deployment and a StatefulSet on named EIPs.
    let instance_key = SETTING_INSTANCE_ID.keys[0];
    cluster
        .create_deployment(&deployment("web").replicas(2).with_eip())
        .await?;
    cluster
        .create_deployment(&deployment("named").annotation(instance_key, &named[0]))
        .await?;
    cluster
        .create_statefulset(&statefulset("db").annotation(instance_key, &named[1]))
        .await?;
    let pods = cluster.pods();
    let running = wait_for("4 pods with their EIPs", LIFECYCLE, || async {
        let list = pods.list(&Default::default()).await?.items;
        Ok((list.len() == 4 && list.iter().all(allocated)).then_some(list))
    })
    .await?;
    for p in &running {
        assert!(
            p.annotations().contains_key(SETTING_POD_WITH_EIP.keys[0])
                || p.annotations().contains_key(instance_key),
            "{}",
            p.name_any()
        );
    }

    // A named EIP on a pod of a parallel Job, placed by hand: the agent reads the Job and
    // refuses the pod.
    let jobs: Api<k8s_openapi::api::batch::v1::Job> =
        Api::namespaced(admin.clone(), cluster.namespace());
    let job = jobs
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "batch"},
                "spec": {"parallelism": 2, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "app", "image": "registry.invalid/pause:3.9"}],
                }}},
            }))?,
        )
        .await?;
    let mut job_pod = eip_e2e::pod("batch-0")
        .annotation(instance_key, &named[0])
        .on(&eip_e2e::node_of(&running[0]).unwrap_or_default())
        .build()?;
    job_pod.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            name: "batch".into(),
            uid: job.uid().unwrap_or_default(),
            controller: Some(true),
            ..Default::default()
        },
    ]);
    pods.create(&PostParams::default(), &job_pod).await?;
    // and one left to the scheduler: the extender reads the Job in filter
    let mut sched_pod = job_pod.clone();
    sched_pod.metadata.name = Some("batch-1".into());
    if let Some(spec) = sched_pod.spec.as_mut() {
        spec.node_name = None;
    }
    pods.create(&PostParams::default(), &sched_pod).await?;
    for (pod, reason) in [("batch-0", "EipFailed"), ("batch-1", "FailedScheduling")] {
        wait_for(&format!("{pod} refused"), LIFECYCLE, || async {
            Ok(cluster
                .events_for(pod)
                .await?
                .iter()
                .any(|e| {
                    e.message
                        .as_deref()
                        .is_some_and(|m| m.contains("its Job batch runs 2 pods in parallel"))
                })
                .then_some(()))
        })
        .await
        .context(reason)?;
    }
    pods.delete("batch-0", &Default::default()).await?;
    pods.delete("batch-1", &Default::default()).await?;

    // kube-scheduler binds a pod the extender's watch has not delivered (here: a uid
    // it never saw, as for a pod deleted and recreated under the same name): the extender
    // reads the pod from the API before it binds, and refuses the stale uid.
    let p = &running[0];
    let stale = ExtenderBindingArgs {
        pod_name: p.name_any(),
        pod_namespace: cluster.namespace().to_string(),
        pod_uid: "00000000-0000-0000-0000-000000000000".to_string(),
        node: eip_e2e::node_of(p).unwrap_or_default(),
    };
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/bind", extender.url()))
        .json(&stale)
        .send()
        .await?
        .json()
        .await?;
    let error = answer
        .get("Error")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(error.contains("the pod was recreated"), "{answer}");

    // eni-config changes apply live.
    set_eni_config(&admin, true).await?;
    wait_for("agents see allow_eip_rob", LIFECYCLE, || async {
        Ok(agents
            .iter()
            .all(|a| a.ctx.switches().allow_rob)
            .then_some(()))
    })
    .await?;

    // An invalid eni-config: the extender's one Warning on the ConfigMap, then fixed again.
    Api::<ConfigMap>::namespaced(admin.clone(), ENI_CONFIG_NAMESPACE)
        .patch(
            ENI_CONFIG_NAME,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {ENI_CONF_KEY: "{"}})),
        )
        .await?;
    wait_for("the InvalidEniConfig Warning", LIFECYCLE, || async {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(admin.clone(), ENI_CONFIG_NAMESPACE);
        Ok(events
            .list(&Default::default())
            .await?
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some(names::REASON_INVALID_ENI_CONFIG))
            .then_some(()))
    })
    .await?;
    set_eni_config(&admin, true).await?;

    // The collector releases the orphans.
    let sim = cluster.cloud();
    let api = cluster.api_server().context("the sandbox API server")?;
    // A denial shows up as a wait that never ends; say which.
    let why = || {
        let audit = api.audit();
        format!(
            "denied to eip-agent: {:?}; denied to eip-extender: {:?}",
            denied(&agent_user, &audit),
            denied(&extender_user, &audit)
        )
    };
    wait_for("orphaned EIPs released", LIFECYCLE, || async {
        Ok(orphans.iter().all(|id| sim.eip(id).is_none()).then_some(()))
    })
    .await
    .with_context(why)?;

    // Everything goes; EIPs are released (the named ones are kept, unbound).
    cluster
        .deployments()
        .delete("web", &Default::default())
        .await?;
    cluster
        .deployments()
        .delete("named", &Default::default())
        .await?;
    cluster
        .statefulsets()
        .delete("db", &Default::default())
        .await?;
    let records: Api<PodEIP> = Api::namespaced(admin.clone(), cluster.namespace());
    wait_for(
        "pods and PodEIPs gone, only the named EIPs left",
        LIFECYCLE,
        || async {
            let left_pods = pods.list(&Default::default()).await?.items.len();
            let left_recs = records.list(&Default::default()).await?.items.len();
            let ids: BTreeSet<String> = sim.eips().into_iter().map(|e| e.allocation_id).collect();
            let want: BTreeSet<String> = named.iter().cloned().collect();
            Ok((left_pods == 0 && left_recs == 0 && ids == want).then_some(()))
        },
    )
    .await
    .with_context(why)?;

    // Leases renewed (the collector's and the extender's) and every grant used: the
    // audit fills in as the components go on; wait for it, then judge.
    let audit = wait_for("every grant used", Duration::from_secs(10), || async {
        let audit = api.audit();
        let done = unused(&agent_grants, &agent_user, &audit).is_empty()
            && unused(&extender_grants, &extender_user, &audit).is_empty();
        Ok(done.then_some(audit))
    })
    .await
    .unwrap_or_else(|_| api.audit());

    for a in agents {
        a.shutdown().await;
    }
    extender.shutdown().await?;

    assert_eq!(
        denied(&agent_user, &audit),
        Vec::<String>::new(),
        "agent denied"
    );
    assert_eq!(
        denied(&extender_user, &audit),
        Vec::<String>::new(),
        "extender denied"
    );
    assert_eq!(
        unused(&agent_grants, &agent_user, &audit),
        Vec::<String>::new(),
        "granted to eip-agent but never used"
    );
    assert_eq!(
        unused(&extender_grants, &extender_user, &audit),
        Vec::<String>::new(),
        "granted to eip-extender but never used"
    );

    // The tokens really are held to their grants: the extender may not create pods.
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "x"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }))?;
    let err = Api::<Pod>::namespaced(extender_client, cluster.namespace())
        .create(&PostParams::default(), &pod)
        .await
        .err()
        .context("the extender created a pod")?;
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403 && s.reason == "Forbidden"),
        "{err}"
    );
    cluster.teardown().await
}
