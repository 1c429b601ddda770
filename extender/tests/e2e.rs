//! End to end on the cluster simulation: the sandbox's in-memory API server, eip-cloudsim as
//! the cloud, this extender started as `eip-extender` starts, and the sandbox scheduler loop
//! reading the `KubeSchedulerConfiguration` this crate prints. Pods land only where they fit;
//! unschedulable pods carry the extender's reasons.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use eip_cloud::args::AllocateEipArgs;
use eip_cloudsim::{CloudSim, SimConfig};
use eip_core::annotations::SETTING_POD_WITH_EIP;
use eip_core::eni_config::{ENI_CONF_KEY, ENI_CONFIG_NAME, ENI_CONFIG_NAMESPACE};
use eip_core::names::{LABEL_ZONE, NODE_MAX_AVAILABLE_IP};
use eip_core::podeip::PodEIP;
use eip_extender::Settings;
use eip_extender::testkit::{sim_cloud, wait_for, within};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt};
use sandbox::apiserver::{ApiServer, ApiServerOptions};
use sandbox::scheduler::{Scheduler, SchedulerConfig, SchedulerOptions};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(90);

async fn make_node(client: &Client, name: &str, slots: Option<u32>) -> anyhow::Result<()> {
    let mut annotations = BTreeMap::new();
    if let Some(n) = slots {
        annotations.insert(NODE_MAX_AVAILABLE_IP.to_string(), n.to_string());
    }
    let node: Node = serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": { LABEL_ZONE: "cn-hangzhou-h" },
            "annotations": annotations,
        },
    }))?;
    let api: Api<Node> = Api::all(client.clone());
    api.create(&PostParams::default(), &node).await?;
    let status = json!({"status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "allocatable": {"pods": "110"},
        "capacity": {"pods": "110"},
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

async fn make_pod(client: &Client, name: &str, eip: bool) -> anyhow::Result<()> {
    let mut annotations = BTreeMap::new();
    if eip {
        annotations.insert(SETTING_POD_WITH_EIP.keys[0].to_string(), "true".to_string());
    }
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/pause:3.9"}]},
    }))?;
    Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await?;
    Ok(())
}

fn scheduled_message(p: &Pod) -> Option<String> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .and_then(|c| c.message.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_land_only_where_they_fit_and_the_rest_carry_reasons() -> anyhow::Result<()> {
    within(TIMEOUT, scenario()).await
}

async fn scenario() -> anyhow::Result<()> {
    let api = ApiServer::start(ApiServerOptions::default()).await?;
    let client = api.client().await?;
    let sim = CloudSim::start(SimConfig::default()).await?;
    let cloud = sim_cloud(&sim.url())?;
    // one EIP already allocated in the region; quota 2 leaves room for one EIP pod
    cloud
        .allocate_eip_address(&AllocateEipArgs::default())
        .await?;

    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &PodEIP::crd())
        .await?;
    let eni: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": ENI_CONFIG_NAME, "namespace": ENI_CONFIG_NAMESPACE},
        "data": {ENI_CONF_KEY: json!({
            "enable_eip_pool": "true",
            "vswitches": {"cn-hangzhou-h": ["vsw-bp1sim0000000000000h"]},
        }).to_string()},
    }))?;
    Api::<ConfigMap>::namespaced(client.clone(), ENI_CONFIG_NAMESPACE)
        .create(&PostParams::default(), &eni)
        .await?;
    make_node(&client, "n1", Some(3)).await?;
    make_node(&client, "n2", Some(2)).await?;
    make_node(&client, "n3", None).await?;

    let mut settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        eip_quota: 2,
        cloud_refresh: Duration::from_millis(200),
        ..Settings::default()
    };
    let ext = eip_extender::start(&settings, client.clone(), Some(cloud.clone())).await?;
    wait_for("extender caches and cloud view", async || {
        let ready = ext.ready.synced.load(Ordering::Acquire);
        let cloud = ext.state.read().ok()?.cloud.is_some();
        (ready && cloud).then_some(())
    })
    .await;

    // the scheduler loop reads the configuration this crate prints
    settings.scheduler_url = Some(ext.url());
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scheduler-config.yaml");
    std::fs::write(&path, settings.scheduler_config_yaml()?)?;
    let config = SchedulerConfig::from_file(&path)?;
    let scheduler = Scheduler::new(
        client.clone(),
        SchedulerOptions::new(config).scaled_down(10),
    )
    .spawn();

    // 5 slots (n1: 3, n2: 2, n3: unknown), quota 2 with 1 allocated:
    // 4 plain pods and 1 of the 2 EIP pods fit exactly
    for i in 0..4 {
        make_pod(&client, &format!("p{i}"), false).await?;
    }
    make_pod(&client, "e0", true).await?;
    make_pod(&client, "e1", true).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (placed, refused) = wait_for("5 pods placed, 1 EIP pod refused", async || {
        let list = pods.list(&Default::default()).await.ok()?;
        let placed: Vec<(String, String)> = list
            .items
            .iter()
            .filter_map(|p| {
                Some((
                    p.metadata.name.clone()?,
                    p.spec.as_ref()?.node_name.clone()?,
                ))
            })
            .collect();
        let refused: Vec<(String, String)> = list
            .items
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none())
            .filter_map(|p| Some((p.metadata.name.clone()?, scheduled_message(p)?)))
            .collect();
        (placed.len() == 5 && refused.len() == 1).then_some((placed, refused))
    })
    .await;
    let on = |n: &str| placed.iter().filter(|(_, node)| node == n).count();
    assert_eq!((on("n1"), on("n2"), on("n3")), (3, 2, 0), "{placed:?}");
    let [(who, why)] = refused.as_slice() else {
        panic!("one refused pod expected: {refused:?}")
    };
    assert!(who == "e0" || who == "e1", "{refused:?}");
    assert!(
        why.contains(
            "EIP quota reached in cn-hangzhou: 1 allocated and 1 being allocated, quota 2"
        ),
        "{why}"
    );

    // no slot left anywhere: a new plain pod is refused with the per-node reasons
    make_pod(&client, "p4", false).await?;
    let why = wait_for("p4 refused", async || {
        let p = pods.get("p4").await.ok()?;
        scheduled_message(&p)
    })
    .await;
    assert!(why.contains("node n1 has 0 of 3 pod IPs free"), "{why}");
    assert!(why.contains("node n2 has 0 of 2 pod IPs free"), "{why}");
    assert!(why.contains("node n3 has unknown pod IP capacity"), "{why}");
    let p4 = pods.get("p4").await?;
    assert!(p4.spec.and_then(|s| s.node_name).is_none());

    scheduler.shutdown().await?;
    ext.shutdown().await?;
    api.shutdown().await;
    sim.shutdown().await;
    Ok(())
}
