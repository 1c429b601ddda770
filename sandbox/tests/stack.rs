//! The stack in-process, with the switches the binary's flags set: `eni-config` says what
//! was asked (feature off, robbing on) and keeps Terway's vSwitches per zone, the nodes
//! stand where asked with the capacity their agents published, the CRD is served, the
//! named EIPs exist and are free; shutdown stops everything without an error.

use std::time::Duration;

use eip_cloudsim::EipStatus;
use eip_core::eni_config::{ENI_CONFIG_NAME, ENI_CONFIG_NAMESPACE, EniConf, VSWITCHES};
use eip_core::names::NODE_MAX_AVAILABLE_IP;
use eip_core::podeip::PodEIP;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::ResourceExt;
use kube::api::Api;
use sandbox::stack::{Stack, StackOptions, zones_of};

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_is_what_its_options_say() -> anyhow::Result<()> {
    tokio::time::timeout(TEST_TIMEOUT, scenario())
        .await
        .map_err(|_| anyhow::anyhow!("test timed out after {TEST_TIMEOUT:?}"))?
}

async fn scenario() -> anyhow::Result<()> {
    let defaults = StackOptions::default();
    let zones = zones_of(&defaults.cloud);
    let stack = Stack::start(StackOptions {
        nodes: StackOptions::spread(2, "ecs.g7.xlarge", &zones[1..]),
        eip_enabled: false,
        allow_rob: true,
        named_eips: 2,
        ..defaults
    })
    .await?;
    let client = stack.client();

    let cm = Api::<ConfigMap>::namespaced(client.clone(), ENI_CONFIG_NAMESPACE)
        .get(ENI_CONFIG_NAME)
        .await?;
    let conf = EniConf::from_config_map_data(&cm.data.unwrap_or_default())?;
    assert!(!conf.enable_eip_pool() && conf.allow_eip_rob());
    let vswitches = conf
        .raw()
        .get(VSWITCHES)
        .and_then(|v| v.as_object())
        .map(|m| m.keys().cloned().collect::<Vec<_>>());
    assert_eq!(vswitches, Some(zones.clone()));

    // ecs.g7.xlarge: 4 ENIs x 15 IPs, so 45 pod IP slots, published by each node's agent
    let nodes = Api::<Node>::all(client.clone())
        .list(&Default::default())
        .await?;
    let got: Vec<(String, Option<String>)> = nodes
        .items
        .iter()
        .map(|n| {
            (
                n.name_any(),
                n.annotations().get(NODE_MAX_AVAILABLE_IP).cloned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("node-1".to_string(), Some("45".to_string())),
            ("node-2".to_string(), Some("45".to_string()))
        ]
    );
    assert!(stack.nodes().all(|n| n.zone == zones[1]));

    // served (a 404 otherwise), and empty
    let podeips: Api<PodEIP> = Api::all(client.clone());
    assert!(podeips.list(&Default::default()).await?.items.is_empty());

    let admin = stack.cloud_admin();
    assert_eq!(stack.named_eips().len(), 2);
    for id in stack.named_eips() {
        let eip = admin
            .eip(id)
            .ok_or_else(|| anyhow::anyhow!("{id} not in the cloud"))?;
        assert_eq!(eip.status, EipStatus::Available, "{id}");
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !stack.agents_ready() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "agents not ready within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.shutdown().await?;
    Ok(())
}
