//! The real control plane tier: etcd, kube-apiserver, kube-controller-manager and
//! kube-scheduler v1.20.2 built by `hack/control-plane/fetch-and-build.sh`, with a
//! simulated node registered through the API. Fails (never skips) when the binaries are
//! missing: `make test` builds them first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eip_cloudsim::{CloudSim, SimConfig};
use eip_e2e::control_plane::ControlPlane;
use eip_e2e::{bounded, node_of, pod, pod_ip, wait_for};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::Api;
use kube::api::{ListParams, PostParams};
use sandbox::nodesim::{NodeConfig, NodeSim};
use serde_json::json;

/// Startup of four processes on two busy cores, then one pod.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_kube_scheduler_binds_a_pod_to_a_simulated_node() -> anyhow::Result<()> {
    bounded(TEST_TIMEOUT, async {
        let started = Instant::now();
        let cp = ControlPlane::start().await?;
        eprintln!(
            "control plane up in {:?} ({})",
            started.elapsed(),
            cp.server()
        );
        let client = cp.client();

        let ns = "smoke";
        let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await?;
        cp.wait_default_service_account(ns).await?;

        // One simulated node: an ECS instance in the emulator, registered as kubelet would,
        // its lease renewed so the node lifecycle controller keeps it Ready.
        let sim = SimConfig::default();
        let instance_types = sim.instance_types.clone();
        let cloud = CloudSim::start(sim).await?;
        let admin = cloud.admin();
        let cfg = NodeConfig::new("n1", "ecs.g7.large").provision(&admin, &instance_types, None)?;
        let node = NodeSim::new(client.clone(), cfg, Arc::new(admin))
            .spawn()
            .await?;
        let _lease = cp.node_lease("n1").await?;

        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        pods.create(&PostParams::default(), &pod("web-0").build()?)
            .await?;
        let placed = wait_for("web-0 bound and given an IP", WAIT, || {
            let pods = pods.clone();
            async move {
                let p = pods.get("web-0").await?;
                Ok((node_of(&p).is_some() && pod_ip(&p).is_some()).then_some(p))
            }
        })
        .await
        .map_err(|e| e.context(cp.log_tail("kube-scheduler", 30)))?;
        assert_eq!(node_of(&placed).as_deref(), Some("n1"));

        // The binding came from kube-scheduler itself: its `Scheduled` event.
        let events: Api<Event> = Api::namespaced(client.clone(), ns);
        let scheduled = wait_for("the Scheduled event of web-0", WAIT, || {
            let events = events.clone();
            async move {
                let list = events.list(&ListParams::default()).await?;
                Ok(list.items.into_iter().find(|e| {
                    e.involved_object.name.as_deref() == Some("web-0")
                        && e.reason.as_deref() == Some("Scheduled")
                }))
            }
        })
        .await?;
        let source = scheduled
            .reporting_component
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| scheduled.source.as_ref().and_then(|s| s.component.clone()));
        assert_eq!(
            source.as_deref(),
            Some("default-scheduler"),
            "{scheduled:?}"
        );

        node.shutdown().await?;
        cloud.shutdown().await;
        cp.shutdown();
        eprintln!("smoke test done in {:?}", started.elapsed());
        Ok(())
    })
    .await
}
