//! The "Done when": a 3-replica Deployment and a 2-replica StatefulSet on 2
//! simulated nodes are scheduled (by the scheduler loop, without and with an extender),
//! get IPs from eip-cloudsim ENIs, run, and on scale-down their IPs go back to the cloud.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use eip_e2e::fake_extender::{FakeExtender, Script};
use eip_e2e::{
    Cluster, DEFAULT_TEST_TIMEOUT, DEFAULT_WAIT, bounded, deployment, node_of, pod_ip, statefulset,
    wait_for,
};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use sandbox::scheduler::SchedulerConfig;
use sandbox::workloads::is_running_and_ready;

async fn two_nodes() -> anyhow::Result<Cluster> {
    Cluster::builder()
        .node("n1", "ecs.g7.large")
        .node("n2", "ecs.g7.large")
        .start()
        .await
}

/// Waits for `n` Running and Ready pods of `app`, each with a node and an IP.
async fn ready_pods(cluster: &Cluster, app: &str, n: usize) -> anyhow::Result<Vec<Pod>> {
    wait_for(
        &format!("{n} ready pods of {app}"),
        DEFAULT_WAIT,
        || async move {
            let pods: Vec<Pod> = cluster
                .pods_of(app)
                .await?
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            let ok = pods.len() == n
                && pods.iter().all(|p| {
                    is_running_and_ready(p) && pod_ip(p).is_some() && node_of(p).is_some()
                });
            Ok(ok.then_some(pods))
        },
    )
    .await
}

/// Every pod's IP is a secondary IP on one of its node's secondary ENIs and is held for
/// pods by the cloud; the cloud holds no other pod IP on those instances.
fn assert_ips_match_cloud(cluster: &Cluster, pods: &[Pod]) -> anyhow::Result<()> {
    let mut by_node: BTreeMap<String, BTreeSet<Ipv4Addr>> = BTreeMap::new();
    for p in pods {
        let node = node_of(p).ok_or_else(|| anyhow::anyhow!("pod without node"))?;
        let ip = pod_ip(p).ok_or_else(|| anyhow::anyhow!("pod without IP"))?;
        by_node.entry(node).or_default().insert(ip);
    }
    let unique: BTreeSet<Ipv4Addr> = pods.iter().filter_map(pod_ip).collect();
    assert_eq!(unique.len(), pods.len(), "pod IPs are unique");
    for name in ["n1", "n2"] {
        let cfg = cluster.node(name)?;
        let held = cluster.cloud_pod_ips(name)?;
        let expected = by_node.remove(name).unwrap_or_default();
        assert_eq!(held, expected, "cloud pod IPs of {name}");
        let enis: Vec<_> = cluster
            .cloud()
            .enis()
            .into_iter()
            .filter(|e| e.instance_id.as_deref() == Some(cfg.instance_id.as_str()))
            .collect();
        for ip in &expected {
            let eni = enis.iter().find(|e| e.has_ip(*ip));
            let eni = eni.ok_or_else(|| anyhow::anyhow!("{ip} is on no ENI of {name}"))?;
            assert_eq!(eni.eni_type, "Secondary", "{ip} is on a secondary ENI");
            assert_ne!(*ip, cfg.node_ip);
        }
    }
    Ok(())
}

async fn deploy_scale_and_release(cluster: &Cluster) -> anyhow::Result<()> {
    cluster
        .create_deployment(&deployment("web").replicas(3))
        .await?;
    cluster
        .create_statefulset(&statefulset("db").replicas(2))
        .await?;
    let web = ready_pods(cluster, "web", 3).await?;
    let db = ready_pods(cluster, "db", 2).await?;
    let mut all = web.clone();
    all.extend(db.iter().cloned());
    assert_ips_match_cloud(cluster, &all)?;

    // Stable StatefulSet names; db-1 was created only after db-0 was Ready.
    let names: BTreeSet<String> = db.iter().map(|p| p.name_any()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["db-0".to_string(), "db-1".to_string()])
    );
    let db0 = db.iter().find(|p| p.name_any() == "db-0").cloned();
    let db1 = db.iter().find(|p| p.name_any() == "db-1").cloned();
    let (Some(db0), Some(db1)) = (db0, db1) else {
        anyhow::bail!("db pods missing");
    };
    let db0_ready = db0
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| c.last_transition_time.clone())
        .ok_or_else(|| anyhow::anyhow!("db-0 has no Ready time"))?;
    let db1_created = db1
        .metadata
        .creation_timestamp
        .clone()
        .ok_or_else(|| anyhow::anyhow!("db-1 has no creation time"))?;
    assert!(
        db0_ready.0 <= db1_created.0,
        "db-1 created before db-0 was ready"
    );
    // Deployment pods carry the template hash and are owned by a ReplicaSet.
    for p in &web {
        let owner = p.owner_references().first().cloned();
        assert_eq!(owner.map(|o| o.kind), Some("ReplicaSet".to_string()));
        assert!(p.labels().contains_key("pod-template-hash"));
    }

    // Scale down: the surplus pods go away and the cloud gets their IPs back.
    cluster.scale_deployment("web", 1).await?;
    cluster.scale_statefulset("db", 1).await?;
    let web = ready_pods(cluster, "web", 1).await?;
    let db = wait_for("db-1 gone", DEFAULT_WAIT, || async move {
        let pods = cluster.pods_of("db").await?;
        Ok((pods.len() == 1).then_some(pods))
    })
    .await?;
    assert_eq!(db[0].name_any(), "db-0", "the highest ordinal goes first");
    let mut left = web;
    left.extend(db);
    let left_ips: BTreeSet<Ipv4Addr> = left.iter().filter_map(pod_ip).collect();
    wait_for(
        "cloud holding only the remaining pods' IPs",
        DEFAULT_WAIT,
        || {
            let left_ips = left_ips.clone();
            async move {
                let held: BTreeSet<Ipv4Addr> = cluster
                    .cloud_pod_ips("n1")?
                    .union(&cluster.cloud_pod_ips("n2")?)
                    .copied()
                    .collect();
                Ok((held == left_ips).then_some(()))
            }
        },
    )
    .await?;
    assert_ips_match_cloud(cluster, &left)?;

    // Status reflects it.
    wait_for("workload status", DEFAULT_WAIT, || async move {
        let d = cluster.deployments().get("web").await?;
        let s = cluster.statefulsets().get("db").await?;
        let d_ready = d.status.and_then(|s| s.ready_replicas);
        let s_ready = s.status.and_then(|s| s.ready_replicas);
        Ok((d_ready == Some(1) && s_ready == Some(1)).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_and_statefulset_get_cloud_ips_and_give_them_back() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let cluster = two_nodes().await?;
        deploy_scale_and_release(&cluster).await?;
        // Scheduled by the loop: every pod has a Scheduled event from default-scheduler.
        let pods = cluster.pods_of("web").await?;
        let events = cluster.events_for(&pods[0].name_any()).await?;
        assert!(
            events
                .iter()
                .any(|e| e.reason.as_deref() == Some("Scheduled")
                    && e.message
                        .as_deref()
                        .is_some_and(|m| m.contains("Successfully assigned"))),
            "{events:?}"
        );
        cluster.teardown().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_through_an_extender_that_filters_prioritizes_and_binds() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let mut cluster = two_nodes().await?;
        let fake = FakeExtender::start(cluster.client(), Script::default()).await?;
        let yaml = fake.scheduler_config(&["filter", "prioritize", "bind"], 1, true);
        cluster
            .replace_scheduler(SchedulerConfig::from_yaml(&yaml)?)
            .await?;
        deploy_scale_and_release(&cluster).await?;
        // 5 pods: each filtered (names only), prioritized (2 feasible nodes) and bound by
        // the extender.
        let binds = fake.calls_of("bind");
        assert_eq!(binds.len(), 5, "{binds:?}");
        assert!(fake.calls_of("filter").len() >= 5);
        assert!(fake.calls_of("prioritize").len() >= 5);
        for call in fake.calls_of("filter") {
            assert!(
                call.body["NodeNames"].is_array(),
                "nodeCacheCapable sends names"
            );
            assert!(call.body["Nodes"].is_null());
        }
        fake.shutdown().await;
        cluster.teardown().await
    })
    .await
}
