//! Release strategies across nodes, and the cluster-wide garbage collector.

mod common;

use std::time::Duration;

use common::{CLUSTER, Env, EnvOptions, WITH_EIP, bounded, eventually};
use eip_cloud::args::{AllocateEipArgs, Tag};
use eip_cloudsim::EipStatus;
use eip_core::annotations;
use eip_core::names;
use eip_core::podeip::PodEIPPhase;
use kube::api::{DeleteParams, Patch, PatchParams};

const WAIT: Duration = Duration::from_secs(20);

fn gc_config(env: &Env, node: usize) -> eip_agent::controller::AgentConfig {
    let mut cfg = env.agent_config(node);
    cfg.gc = true;
    cfg.gc_period = Duration::from_millis(200);
    cfg.gc_grace = Duration::from_millis(300);
    cfg.lease_duration = Duration::from_millis(600);
    cfg
}

async fn phase(env: &Env, name: &str) -> Option<PodEIPPhase> {
    env.records()
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.status.and_then(|s| s.phase))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_keeps_the_eip_for_the_next_pod_on_another_node_then_gc_releases_it()
-> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions {
            nodes: vec!["node-1", "node-2"],
            ..EnvOptions::default()
        })
        .await?;
        let a1 = env.agent(gc_config(&env, 0), 0, None).await?;
        let a2 = env.agent(gc_config(&env, 1), 1, None).await?;
        let ttl = [WITH_EIP, (annotations::POD_EIP_RELEASE_STRATEGY, "3s")];
        env.pod("sts-0", 0, &ttl).await?;
        let (id, address) = env.wait_bound("sts-0", WAIT).await?;
        env.delete_pod("sts-0").await?;
        env.wait_gone("sts-0", WAIT).await?;
        eventually(WAIT, "retained", || async {
            (phase(&env, "sts-0").await == Some(PodEIPPhase::Retained)).then_some(())
        })
        .await?;
        let rec = env.records().get("sts-0").await?;
        assert!(
            rec.status.and_then(|s| s.release_at).is_some(),
            "releaseAt recorded"
        );
        assert_eq!(
            env.sim.admin().eip(&id).map(|e| e.status),
            Some(EipStatus::Available)
        );

        // The same name comes back on the other node within the TTL: same EIP.
        env.pod("sts-0", 1, &ttl).await?;
        let (id2, address2) = env.wait_bound("sts-0", WAIT).await?;
        assert_eq!(
            (id2.as_str(), address2.as_str()),
            (id.as_str(), address.as_str())
        );
        assert_eq!(env.sim.admin().eips().len(), 1, "no second EIP");

        // Gone again; after the TTL the GC releases it.
        env.delete_pod("sts-0").await?;
        env.wait_gone("sts-0", WAIT).await?;
        eventually(WAIT, "released after the TTL", || {
            let gone = env.sim.admin().eip(&id).is_none();
            async move { gone.then_some(()) }
        })
        .await?;
        eventually(WAIT, "record removed", || async {
            env.records()
                .get_opt("sts-0")
                .await
                .ok()?
                .is_none()
                .then_some(())
        })
        .await?;
        let gc_metrics = [a1.ctx.metrics.encode(), a2.ctx.metrics.encode()].join("\n");
        assert!(
            gc_metrics.contains("action=\"expire\""),
            "GC metric: {gc_metrics}"
        );
        a1.shutdown().await;
        a2.shutdown().await;
        Ok(())
    })
    .await
}

/// A named EIP kept under `Never` is taken over by the next pod of the same name on
/// another node; the Bound record then says where it is now (node, ENI, IP, pod UID) and
/// still carries the EIP's address and id (checked by `wait_bound`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_eip_kept_is_taken_over_on_another_node_with_a_full_status() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions {
            nodes: vec!["node-1", "node-2"],
            ..EnvOptions::default()
        })
        .await?;
        let eip = env
            .cloud(None)?
            .allocate_eip_address(&AllocateEipArgs::default())
            .await?;
        let a1 = env.agent(env.agent_config(0), 0, None).await?;
        let a2 = env.agent(env.agent_config(1), 1, None).await?;
        let ann = [
            (annotations::POD_EIP_INSTANCEID, eip.allocation_id.as_str()),
            (annotations::POD_EIP_RELEASE_STRATEGY, "Never"),
        ];
        env.pod("named-0", 0, &ann).await?;
        let (id, address) = env.wait_bound("named-0", WAIT).await?;
        assert_eq!(id, eip.allocation_id);
        env.delete_pod("named-0").await?;
        env.wait_gone("named-0", WAIT).await?;
        eventually(WAIT, "retained", || async {
            (phase(&env, "named-0").await == Some(PodEIPPhase::Retained)).then_some(())
        })
        .await?;
        env.pod("named-0", 1, &ann).await?;
        let moved = env.wait_bound("named-0", WAIT).await?;
        assert_eq!(moved, (id, address));
        let st = env
            .records()
            .get("named-0")
            .await?
            .status
            .unwrap_or_default();
        assert_eq!(st.node.as_deref(), Some("node-2"));
        a1.shutdown().await;
        a2.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_keeps_the_eip_and_gc_leaves_it() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let agent = env.agent(gc_config(&env, 0), 0, None).await?;
        env.pod(
            "keep",
            0,
            &[WITH_EIP, (annotations::POD_EIP_RELEASE_STRATEGY, "Never")],
        )
        .await?;
        let (id, _) = env.wait_bound("keep", WAIT).await?;
        env.delete_pod("keep").await?;
        env.wait_gone("keep", WAIT).await?;
        eventually(WAIT, "retained", || async {
            (phase(&env, "keep").await == Some(PodEIPPhase::Retained)).then_some(())
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(1200)).await; // several GC periods
        assert_eq!(
            env.sim.admin().eip(&id).map(|e| e.status),
            Some(EipStatus::Available)
        );
        assert_eq!(phase(&env, "keep").await, Some(PodEIPPhase::Retained));
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_releases_orphans_of_this_cluster_only() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions {
            nodes: vec!["node-1", "node-2"],
            ..EnvOptions::default()
        })
        .await?;
        let cloud = env.cloud(None)?;
        let tagged = |cluster: &str| AllocateEipArgs {
            tags: vec![
                Tag::new(names::TAG_CLUSTER_ID, cluster),
                Tag::new(names::TAG_NAMESPACE, common::NS),
                Tag::new(names::TAG_POD_NAME, "ghost"),
                Tag::new(names::TAG_POD_UID, "no-such-uid"),
                Tag::new(names::TAG_NODE, "node-1"),
            ],
            ..AllocateEipArgs::default()
        };
        let ours = cloud
            .allocate_eip_address(&tagged(CLUSTER))
            .await?
            .allocation_id;
        let theirs = cloud
            .allocate_eip_address(&tagged("other-cluster"))
            .await?
            .allocation_id;
        let untagged = cloud
            .allocate_eip_address(&AllocateEipArgs::default())
            .await?
            .allocation_id;

        // A pod whose agent is gone and whose pod was force-removed: only its record is left.
        let mut cfg1 = env.agent_config(0);
        cfg1.gc = false;
        let a1 = env.agent(cfg1, 0, None).await?;
        env.pod("forced", 0, &[WITH_EIP]).await?;
        let (forced_id, _) = env.wait_bound("forced", WAIT).await?;
        a1.kill().await;
        env.pods()
            .patch(
                "forced",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
            )
            .await?;
        env.pods()
            .delete(
                "forced",
                &DeleteParams {
                    grace_period_seconds: Some(0),
                    ..DeleteParams::default()
                },
            )
            .await?;
        env.wait_gone("forced", WAIT).await?;

        let a2 = env.agent(gc_config(&env, 1), 1, None).await?;
        eventually(WAIT, "orphans released", || {
            let admin = env.sim.admin();
            let done = admin.eip(&ours).is_none() && admin.eip(&forced_id).is_none();
            async move { done.then_some(()) }
        })
        .await?;
        eventually(WAIT, "orphan record removed", || async {
            env.records()
                .get_opt("forced")
                .await
                .ok()?
                .is_none()
                .then_some(())
        })
        .await?;
        let admin = env.sim.admin();
        assert!(
            admin.eip(&theirs).is_some(),
            "another cluster's EIP is left alone"
        );
        assert!(
            admin.eip(&untagged).is_some(),
            "an untagged EIP is left alone"
        );
        let m = a2.ctx.metrics.encode();
        assert!(m.contains("action=\"release-orphan\""), "{m}");
        assert!(m.contains("action=\"orphan-record\""), "{m}");
        a2.shutdown().await;
        Ok(())
    })
    .await
}

/// Terway d129b5f7: an auto EIP reused by the next pod was marked "do not release" and
/// leaked. Here the pod that takes a retained EIP over with `Follow` releases it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_eip_follows_the_new_pods_strategy_and_is_released() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let mut cfg = env.agent_config(0);
        cfg.gc = false; // the agent itself must release it, not the GC
        let agent = env.agent(cfg, 0, None).await?;
        env.pod(
            "db-0",
            0,
            &[WITH_EIP, (annotations::POD_EIP_RELEASE_STRATEGY, "1h")],
        )
        .await?;
        let (id, _) = env.wait_bound("db-0", WAIT).await?;
        env.delete_pod("db-0").await?;
        env.wait_gone("db-0", WAIT).await?;
        eventually(WAIT, "retained", || async {
            (phase(&env, "db-0").await == Some(PodEIPPhase::Retained)).then_some(())
        })
        .await?;
        env.pod("db-0", 0, &[WITH_EIP]).await?; // Follow
        let (id2, _) = env.wait_bound("db-0", WAIT).await?;
        assert_eq!(id2, id, "reused within the TTL");
        env.delete_pod("db-0").await?;
        env.wait_gone("db-0", WAIT).await?;
        eventually(WAIT, "released with the pod", || {
            let gone = env.sim.admin().eip(&id).is_none();
            async move { gone.then_some(()) }
        })
        .await?;
        assert!(env.records().get_opt("db-0").await?.is_none());
        agent.shutdown().await;
        Ok(())
    })
    .await
}
