//! The node simulator as kubelet + Terway IPAM: registration, IPs from cloud ENIs, no IP
//! left, readiness gates, hostNetwork, graceful deletion.

use std::time::Duration;

use eip_cloudsim::{InstanceTypeConfig, SimConfig};
use eip_core::names::{EIP_CONDITION, LABEL_INSTANCE_TYPE, LABEL_REGION, LABEL_ZONE};
use eip_e2e::{Cluster, DEFAULT_TEST_TIMEOUT, DEFAULT_WAIT, bounded, pod, pod_ip, wait_for};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

/// A cloud with a tiny instance type: 2 ENIs x 2 IPs, so 2 pod IPs.
fn tiny_cloud() -> SimConfig {
    let mut sim = SimConfig::default();
    sim.instance_types.push(InstanceTypeConfig {
        instance_type_id: "ecs.t6-tiny".into(),
        cpu_core_count: 1,
        memory_size: 1.0,
        eni_quantity: 2,
        eni_private_ip_address_quantity: 2,
        eni_ipv6_address_quantity: 0,
    });
    sim
}

fn condition(p: &Pod, type_: &str) -> Option<(String, Option<String>)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_register_like_ack_nodes() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let cluster = Cluster::builder()
            .node("n1", "ecs.g7.xlarge")
            .start()
            .await?;
        let cfg = cluster.node("n1")?.clone();
        let node = Api::<Node>::all(cluster.client()).get("n1").await?;
        let labels = node.labels();
        assert_eq!(labels[LABEL_INSTANCE_TYPE], "ecs.g7.xlarge");
        assert_eq!(labels[LABEL_REGION], "cn-hangzhou");
        assert_eq!(labels[LABEL_ZONE], cfg.zone);
        let spec = node.spec.clone().unwrap_or_default();
        assert_eq!(
            spec.provider_id,
            Some(format!("cn-hangzhou.{}", cfg.instance_id))
        );
        assert!(cluster.cloud().instance(&cfg.instance_id).is_some());
        let md = cluster.metadata_url("n1")?;
        let id = reqwest::get(format!("{md}/latest/meta-data/instance-id"))
            .await?
            .error_for_status()?
            .text()
            .await?;
        assert_eq!(id.trim(), cfg.instance_id);
        let status = node.status.clone().unwrap_or_default();
        // ecs.g7.xlarge: 4 ENIs x 15 IPs -> 45 pod IP slots.
        let alloc = status.allocatable.unwrap_or_default();
        assert_eq!(alloc.get("pods").map(|q| q.0.as_str()), Some("45"));
        assert_eq!(alloc.get("cpu").map(|q| q.0.as_str()), Some("4"));
        assert!(sandbox::scheduler::fit::node_ready(&node));
        cluster.teardown().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_out_of_ips_leaves_the_pod_pending_with_an_event() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let cluster = Cluster::builder()
            .cloud(tiny_cloud())
            .with_node(
                eip_e2e::node("n1")
                    .instance_type("ecs.t6-tiny")
                    .max_pods(10),
            )
            .start()
            .await?;
        for name in ["a", "b"] {
            cluster.create_pod(&pod(name).on("n1")).await?;
            cluster.wait_running_ready(name).await?;
        }
        // hostNetwork pods use the node's IP and take no slot.
        cluster
            .create_pod(&pod("h").on("n1").host_network())
            .await?;
        let h = cluster.wait_running_ready("h").await?;
        assert_eq!(pod_ip(&h), Some(cluster.node("n1")?.node_ip));

        cluster.create_pod(&pod("c").on("n1")).await?;
        let event = wait_for("FailedCreatePodSandBox on c", DEFAULT_WAIT, || async {
            let events = cluster.events_for("c").await?;
            Ok(events
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("FailedCreatePodSandBox")))
        })
        .await?;
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        let message = event.message.unwrap_or_default();
        assert!(message.contains("no free private IP"), "{message}");
        let c = cluster.pods().get("c").await?;
        let status = c.status.clone().unwrap_or_default();
        assert_eq!(status.phase.as_deref(), Some("Pending"));
        assert_eq!(status.pod_ip, None);
        assert_eq!(cluster.cloud_pod_ips("n1")?.len(), 2);

        // Deleting a pod frees its IP (after the grace period) and c gets it.
        let a_ip = pod_ip(&cluster.pods().get("a").await?);
        cluster.pods().delete("a", &DeleteParams::default()).await?;
        let c = cluster.wait_running_ready("c").await?;
        assert_eq!(pod_ip(&c), a_ip, "the pooled IP is reused");
        assert!(cluster.pods().get_opt("a").await?.is_none());
        cluster.teardown().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_gates_hold_ready_until_their_condition_is_true() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let cluster = Cluster::builder()
            .node("n1", "ecs.g7.large")
            .start()
            .await?;
        cluster
            .create_pod(&pod("gated").with_eip().readiness_gate(EIP_CONDITION))
            .await?;
        let p = wait_for("gated Running with an IP", DEFAULT_WAIT, || async {
            let p = cluster.pods().get("gated").await?;
            let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
            Ok((running && pod_ip(&p).is_some()).then_some(p))
        })
        .await?;
        assert_eq!(
            condition(&p, "Ready"),
            Some(("False".into(), Some("ReadinessGatesNotReady".into())))
        );
        assert_eq!(
            condition(&p, "ContainersReady").map(|c| c.0),
            Some("True".into())
        );

        // What the agent does once the EIP is bound: a status patch of the condition.
        let patch = json!({"status": {"conditions": [
            {"type": EIP_CONDITION, "status": "True", "reason": "EipBound"}]}});
        cluster
            .pods()
            .patch_status("gated", &PatchParams::default(), &Patch::Strategic(patch))
            .await?;
        let p = cluster.wait_running_ready("gated").await?;
        assert_eq!(
            condition(&p, EIP_CONDITION).map(|c| c.0),
            Some("True".into())
        );

        // And back: the gate turning False makes the pod unready again.
        let patch = json!({"status": {"conditions": [
            {"type": EIP_CONDITION, "status": "False", "reason": "EipReleasing"}]}});
        cluster
            .pods()
            .patch_status("gated", &PatchParams::default(), &Patch::Strategic(patch))
            .await?;
        wait_for("gated unready again", DEFAULT_WAIT, || async {
            let p = cluster.pods().get("gated").await?;
            Ok((condition(&p, "Ready").map(|c| c.0) == Some("False".into())).then_some(()))
        })
        .await?;
        cluster.teardown().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pod_stays_terminating_for_its_grace_period() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let cluster = Cluster::builder()
            .node("n1", "ecs.g7.large")
            .grace_period(Duration::from_millis(600))
            .start()
            .await?;
        cluster.create_pod(&pod("slow").on("n1")).await?;
        let p = cluster.wait_running_ready("slow").await?;
        let ip = pod_ip(&p).ok_or_else(|| anyhow::anyhow!("no IP"))?;
        cluster
            .pods()
            .delete("slow", &DeleteParams::default())
            .await?;
        let p = cluster.pods().get("slow").await?;
        assert!(
            p.metadata.deletion_timestamp.is_some(),
            "terminating, not gone"
        );
        assert!(
            cluster.cloud_pod_ips("n1")?.contains(&ip),
            "IP held while terminating"
        );
        wait_for("slow gone", DEFAULT_WAIT, || async {
            Ok(cluster
                .pods()
                .get_opt("slow")
                .await?
                .is_none()
                .then_some(()))
        })
        .await?;
        assert!(!cluster.cloud_pod_ips("n1")?.contains(&ip), "IP returned");
        cluster.teardown().await
    })
    .await
}
