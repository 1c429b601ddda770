//! The seeds' scenarios on the sandbox API server + eip-cloudsim + a node simulator.

mod common;

use std::time::{Duration, Instant};

use common::{Env, EnvOptions, WITH_EIP, bounded, eventually};
use eip_agent::runner::publish_node_capacity;
use eip_cloud::args::AllocateEipArgs;
use eip_cloudsim::EipStatus;
use eip_core::annotations;
use eip_core::names;
use eip_core::podeip::{PodEIPPhase, PodEIPType};
use kube::ResourceExt;
use kube::api::{Api, PostParams};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_eip_default_and_custom_bandwidth_bound_then_released() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let cloud = env.cloud(None)?;
        let slots =
            publish_node_capacity(&env.client, cloud.as_ref(), "node-1", "ecs.g7.large").await?;
        assert_eq!(slots, 20);
        let node: k8s_openapi::api::core::v1::Node =
            Api::all(env.client.clone()).get("node-1").await?;
        assert_eq!(
            node.annotations()
                .get(names::NODE_MAX_AVAILABLE_IP)
                .map(String::as_str),
            Some("20")
        );

        let agent = env.agent(env.agent_config(0), 0, None).await?;
        let started = Instant::now();
        env.pod("web-default", 0, &[WITH_EIP]).await?;
        env.pod("web-5m", 0, &[WITH_EIP, (annotations::EIP_BANDWIDTH, "5M")])
            .await?;
        env.pod("web-7", 0, &[WITH_EIP, (annotations::EIP_BANDWIDTH, "7")])
            .await?;
        let a = env.wait_bound("web-default", WAIT).await?;
        let b = env.wait_bound("web-5m", WAIT).await?;
        let c = env.wait_bound("web-7", WAIT).await?;
        eprintln!("3 pods bound in {:?}", started.elapsed());
        let admin = env.sim.admin();
        let bw = |id: &str| admin.eip(id).map(|e| e.bandwidth);
        assert_eq!(bw(&a.0), Some(5));
        assert_eq!(bw(&b.0), Some(5));
        assert_eq!(bw(&c.0), Some(7));
        assert_eq!(admin.eips().len(), 3, "one EIP per pod");
        // Ownership tags and the charge type default.
        let e = admin.eip(&a.0).expect("exists");
        assert_eq!(e.internet_charge_type, "PayByTraffic");
        for key in names::OWNERSHIP_TAG_KEYS {
            assert!(e.tags.iter().any(|(k, _)| k == key), "tag {key} on {e:?}");
        }
        let rec = env.records().get("web-default").await?;
        let st = rec.status.clone().unwrap_or_default();
        assert_eq!(st.phase, Some(PodEIPPhase::Bound));
        assert_eq!(st.allocation_id.as_deref(), Some(a.0.as_str()));
        assert_eq!(st.eip_address.as_deref(), Some(a.1.as_str()));
        // The pod became Ready through the readiness gate.
        let pod = env.pods().get("web-default").await?;
        assert!(
            sandbox::workloads::is_running_and_ready(&pod),
            "ready via the gate"
        );
        let events = env.events("web-default").await?;
        assert!(
            events
                .iter()
                .any(|(t, r, _)| t == "Normal" && r == names::REASON_BOUND),
            "{events:?}"
        );
        // Agent-side call count for the happy path of one pod (printed; not asserted).
        let calls_before_delete = env.eip_calls();

        for n in ["web-default", "web-5m", "web-7"] {
            env.delete_pod(n).await?;
        }
        for n in ["web-default", "web-5m", "web-7"] {
            env.wait_gone(n, WAIT).await?;
        }
        eventually(WAIT, "every EIP released", || {
            let admin = admin.clone();
            async move { admin.eips().is_empty().then_some(()) }
        })
        .await?;
        let recs = env.records().list(&Default::default()).await?;
        assert!(recs.items.is_empty(), "records deleted: {:?}", recs.items);
        eprintln!(
            "cloud EIP/ENI calls: {calls_before_delete} to bind 3 pods, {} in all",
            env.eip_calls()
        );
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_eip_is_bound_then_only_unbound() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let cloud = env.cloud(None)?;
        let eip = cloud
            .allocate_eip_address(&AllocateEipArgs {
                bandwidth: Some(10),
                ..AllocateEipArgs::default()
            })
            .await?;
        let agent = env.agent(env.agent_config(0), 0, None).await?;
        env.pod(
            "static",
            0,
            &[(annotations::POD_EIP_INSTANCEID, eip.allocation_id.as_str())],
        )
        .await?;
        let (id, address) = env.wait_bound("static", WAIT).await?;
        assert_eq!(id, eip.allocation_id);
        // The Bound record of a named EIP carries the EIP like an allocated one does
        // (`kubectl get podeips` and `kubectl eip show` read it from the status).
        let rec = env.records().get("static").await?;
        assert_eq!(rec.spec.eip_type, PodEIPType::Static);
        let st = rec.status.clone().unwrap_or_default();
        assert_eq!(st.allocation_id.as_deref(), Some(id.as_str()));
        assert_eq!(st.eip_address.as_deref(), Some(address.as_str()));
        assert_eq!(
            Some(address.as_str()),
            eip.eip_address.as_deref(),
            "the named EIP's address"
        );
        env.delete_pod("static").await?;
        env.wait_gone("static", WAIT).await?;
        let admin = env.sim.admin();
        let after = admin.eip(&id).expect("a named EIP is never released");
        assert_eq!(after.status, EipStatus::Available);
        assert!(env.records().get_opt("static").await?.is_none());
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rob_off_blocks_rob_on_takes_and_the_old_owner_never_unbinds_it() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let cloud = env.cloud(None)?;
        let eip = cloud
            .allocate_eip_address(&AllocateEipArgs::default())
            .await?;
        let id = eip.allocation_id.clone();
        let agent = env.agent(env.agent_config(0), 0, None).await?;
        env.pod(
            "owner",
            0,
            &[(annotations::POD_EIP_INSTANCEID, id.as_str())],
        )
        .await?;
        env.wait_bound("owner", WAIT).await?;
        env.pod(
            "robber",
            0,
            &[(annotations::POD_EIP_INSTANCEID, id.as_str())],
        )
        .await?;
        let warned = eventually(WAIT, "rob refused with a warning", || {
            let env = &env;
            async move {
                let evs = env.events("robber").await.ok()?;
                evs.into_iter().find(|(t, _, n)| {
                    t == "Warning" && n.contains(eip_core::eni_config::ALLOW_EIP_ROB)
                })
            }
        })
        .await?;
        eprintln!("warning: {warned:?}");
        // Still on the owner.
        let owner_ip = env.pods().get("owner").await?.status.and_then(|s| s.pod_ip);
        let e = env.sim.admin().eip(&id).expect("exists");
        assert_eq!(e.association.map(|a| a.private_ip.to_string()), owner_ip);

        // Rob on, live: the robber takes it without a restart.
        env.set_eni_config(true, true).await?;
        env.wait_bound("robber", WAIT).await?;
        // The robbed owner is told (on its next resync): no stale annotation, condition
        // False, record Failed, and it does not rob the EIP back.
        eventually(WAIT, "owner unpublished", || {
            let env = &env;
            async move {
                let pod = env.pods().get("owner").await.ok()?;
                let gone = !pod.annotations().contains_key(names::ALLOCATED_EIP_ID);
                let cond_false =
                    pod.status?.conditions?.iter().any(|c| {
                        c.type_ == names::EIP_CONDITION && c.status == names::CONDITION_FALSE
                    });
                let rec = env.records().get("owner").await.ok()?;
                let failed = rec.status?.phase == Some(PodEIPPhase::Failed);
                (gone && cond_false && failed).then_some(())
            }
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(800)).await; // a few resyncs
        let robber_ip = env
            .pods()
            .get("robber")
            .await?
            .status
            .and_then(|s| s.pod_ip);
        let e = env.sim.admin().eip(&id).expect("exists");
        assert_eq!(
            e.association.map(|a| a.private_ip.to_string()),
            robber_ip,
            "no rob back"
        );
        // The old owner goes: its agent must not unbind the robber's EIP.
        env.delete_pod("owner").await?;
        env.wait_gone("owner", WAIT).await?;
        let robber_ip = env
            .pods()
            .get("robber")
            .await?
            .status
            .and_then(|s| s.pod_ip);
        let e = env.sim.admin().eip(&id).expect("exists");
        assert_eq!(e.status, EipStatus::InUse);
        assert_eq!(e.association.map(|a| a.private_ip.to_string()), robber_ip);
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feature_switch_off_warns_then_applies_live() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions {
            enabled: false,
            ..EnvOptions::default()
        })
        .await?;
        let mut cfg = env.agent_config(0);
        cfg.gc = false;
        let agent = env.agent(cfg, 0, None).await?;
        let calls = env.eip_calls();
        env.pod("off", 0, &[WITH_EIP]).await?;
        let ev = eventually(WAIT, "disabled warning", || {
            let env = &env;
            async move {
                env.events("off")
                    .await
                    .ok()?
                    .into_iter()
                    .find(|(t, r, _)| t == "Warning" && r == names::REASON_DISABLED)
            }
        })
        .await?;
        assert!(ev.2.contains("\"enable_eip_pool\": \"true\""), "{ev:?}");
        assert_eq!(
            env.eip_calls(),
            calls,
            "no cloud call while the feature is off"
        );
        env.set_eni_config(true, false).await?;
        env.wait_bound("off", WAIT).await?;
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_annotations_give_one_event_a_failed_record_and_no_cloud_call() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let mut cfg = env.agent_config(0);
        cfg.gc = false;
        let agent = env.agent(cfg, 0, None).await?;
        // Let the start-up settle, then count.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let calls = env.eip_calls();
        // (pod-with-eip other than "true" is not invalid but ignored with a warning:
        // startup.rs::pod_with_eip_other_than_true_warns_once_and_the_pod_runs_without_an_eip)
        let cases: [(&str, &[(&str, &str)]); 4] = [
            ("bad-bw", &[WITH_EIP, (annotations::EIP_BANDWIDTH, "fast")]),
            ("bad-isp", &[WITH_EIP, (annotations::EIP_ISP, "Moon")]),
            ("bad-id", &[(annotations::POD_EIP_INSTANCEID, "i-123")]),
            (
                "bad-strategy",
                &[
                    WITH_EIP,
                    (annotations::POD_EIP_RELEASE_STRATEGY, "Sometimes"),
                ],
            ),
        ];
        for (name, ann) in cases {
            env.pod(name, 0, ann).await?;
        }
        for (name, ann) in cases {
            let key = ann.last().map(|(k, _)| *k).unwrap_or_default();
            let rec = eventually(WAIT, &format!("{name} Failed"), || {
                let env = &env;
                async move {
                    let r = env.records().get_opt(name).await.ok()??;
                    (r.status.as_ref()?.phase == Some(PodEIPPhase::Failed)).then_some(r)
                }
            })
            .await?;
            let err = rec.status.and_then(|s| s.last_error).unwrap_or_default();
            assert!(err.contains(key), "{name}: {err}");
        }
        // Let a few more reconciles happen: still one event each, still no cloud call.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for (name, ann) in cases {
            let key = ann.last().map(|(k, _)| *k).unwrap_or_default();
            let warnings: Vec<_> = env
                .events(name)
                .await?
                .into_iter()
                .filter(|(t, _, _)| t == "Warning")
                .collect();
            assert_eq!(warnings.len(), 1, "{name}: {warnings:?}");
            assert!(warnings[0].2.contains(key), "{name}: {warnings:?}");
            assert_eq!(warnings[0].1, names::REASON_INVALID_ANNOTATIONS);
        }
        assert_eq!(
            env.eip_calls(),
            calls,
            "no cloud call on invalid annotations"
        );
        assert!(env.sim.admin().eips().is_empty());
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_eip_on_a_replicated_workload_is_refused() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let mut cfg = env.agent_config(0);
        cfg.gc = false;
        let agent = env.agent(cfg, 0, None).await?;
        let rs: k8s_openapi::api::apps::v1::ReplicaSet =
            serde_json::from_value(serde_json::json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": "game", "namespace": common::NS},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "game"}},
                         "template": {"metadata": {"labels": {"app": "game"}},
                                      "spec": {"containers": [{"name": "a", "image": "x"}]}}},
            }))?;
        let rs = Api::<k8s_openapi::api::apps::v1::ReplicaSet>::namespaced(
            env.client.clone(),
            common::NS,
        )
        .create(&PostParams::default(), &rs)
        .await?;
        let calls = env.eip_calls();
        let uid = rs.uid().unwrap_or_default();
        env.pod_owned(
            "game-1",
            0,
            &[(annotations::POD_EIP_INSTANCEID, "eip-abc123")],
            Some(("ReplicaSet", "game", uid.as_str())),
        )
        .await?;
        let ev = eventually(WAIT, "refused", || {
            let env = &env;
            async move {
                env.events("game-1")
                    .await
                    .ok()?
                    .into_iter()
                    .find(|(t, _, n)| t == "Warning" && n.contains("2 replicas"))
            }
        })
        .await?;
        eprintln!("{ev:?}");
        assert_eq!(env.eip_calls(), calls, "no cloud call");
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_pod_annotation_added_changed_removed() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let agent = env.agent(env.agent_config(0), 0, None).await?;
        env.pod("live", 0, &[]).await?;
        // Added on a running pod: allocated without a restart.
        let add = serde_json::json!({"metadata": {"annotations": {annotations::POD_WITH_EIP: "true"}}});
        env.pods()
            .patch("live", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&add))
            .await?;
        let (id, _) = env.wait_bound("live", WAIT).await?;
        let calls = env.sim.admin().call_count("ModifyEipAddressAttribute");
        // Bandwidth changed: ModifyEipAddressAttribute.
        let bw = serde_json::json!({"metadata": {"annotations": {annotations::EIP_BANDWIDTH: "12M"}}});
        env.pods()
            .patch("live", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&bw))
            .await?;
        let admin = env.sim.admin();
        eventually(WAIT, "bandwidth 12", || {
            let b = admin.eip(&id).map(|e| e.bandwidth);
            async move { (b == Some(12)).then_some(()) }
        })
        .await?;
        assert_eq!(admin.call_count("ModifyEipAddressAttribute"), calls + 1);
        // Removed: released, annotations cleared, condition False.
        let rm = serde_json::json!({"metadata": {"annotations": {annotations::POD_WITH_EIP: null, annotations::EIP_BANDWIDTH: null}}});
        env.pods()
            .patch("live", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&rm))
            .await?;
        eventually(WAIT, "released and cleared", || {
            let env = &env;
            let admin = admin.clone();
            let id = id.clone();
            async move {
                let pod = env.pods().get("live").await.ok()?;
                let ann = pod.annotations();
                let cleared = !ann.contains_key(names::ALLOCATED_EIP_ADDRESS)
                    && !ann.contains_key(names::ALLOCATED_EIP_ID)
                    && !pod.finalizers().iter().any(|f| f == names::POD_FINALIZER);
                let cond_false = pod
                    .status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == names::EIP_CONDITION && c.status == names::CONDITION_FALSE);
                (cleared && cond_false && admin.eip(&id).is_none()).then_some(())
            }
        })
        .await?;
        assert!(env.records().get_opt("live").await?.is_none());
        agent.shutdown().await;
        Ok(())
    })
    .await
}

/// Terway PR #508: a stale `allocated-eipAddress` (e.g. copied from a template) blocked
/// allocation. Here it is overwritten with the real one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_output_annotations_are_overwritten() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let agent = env.agent(env.agent_config(0), 0, None).await?;
        env.pod(
            "copied",
            0,
            &[
                WITH_EIP,
                (names::ALLOCATED_EIP_ADDRESS, "1.2.3.4"),
                (names::ALLOCATED_EIP_ID, "eip-stale000"),
            ],
        )
        .await?;
        let (id, address) = env.wait_bound("copied", WAIT).await?;
        assert_ne!(id, "eip-stale000");
        assert_ne!(address, "1.2.3.4");
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_serve_health_metrics_and_state() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let agent = env.agent(env.agent_config(0), 0, None).await?;
        let ops = eip_agent::http::serve(
            "127.0.0.1:0".parse()?,
            agent.ctx.clone(),
            agent.health.clone(),
        )?;
        env.pod("seen", 0, &[WITH_EIP]).await?;
        env.wait_bound("seen", WAIT).await?;
        let base = format!("http://{}", ops.addr);
        let http = reqwest_client();
        let health = http.get(format!("{base}/healthz")).send().await?;
        assert_eq!(health.status().as_u16(), 200);
        let metrics = http
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        assert!(
            metrics.contains("eip_agent_allocations_total 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                "eip_agent_cloud_calls_total{action=\"AllocateEipAddress\",outcome=\"Success\"}"
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains("eip_agent_pod_ip_to_bound_seconds_count 1"),
            "{metrics}"
        );
        let state: serde_json::Value = http
            .get(format!("{base}/debug/state"))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(state["node"], "node-1");
        assert_eq!(state["switches"]["enableEipPool"], true);
        assert_eq!(state["pods"]["default/seen"]["phase"], "Bound");
        ops.stop().await;
        agent.shutdown().await;
        Ok(())
    })
    .await
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_bandwidth_package_joined_then_left_before_release() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let agent = env.agent(env.agent_config(0), 0, None).await?;
        let pkg = "cbwp-bp1sim00000000000000";
        env.pod(
            "shared",
            0,
            &[
                WITH_EIP,
                (annotations::EIP_COMMON_BANDWIDTH_PACKAGE_ID, pkg),
            ],
        )
        .await?;
        let (id, _) = env.wait_bound("shared", WAIT).await?;
        let admin = env.sim.admin();
        eventually(WAIT, "in the package", || {
            let p = admin.eip(&id).and_then(|e| e.bandwidth_package_id);
            async move { (p.as_deref() == Some(pkg)).then_some(()) }
        })
        .await?;
        env.delete_pod("shared").await?;
        env.wait_gone("shared", WAIT).await?;
        eventually(WAIT, "released", || {
            let gone = admin.eip(&id).is_none();
            async move { gone.then_some(()) }
        })
        .await?;
        assert_eq!(admin.call_count("AddCommonBandwidthPackageIp"), 1);
        assert_eq!(admin.call_count("RemoveCommonBandwidthPackageIp"), 1);
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_exhausted_warns_the_user_then_recovers_when_raised() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        env.sim.admin().set_eip_quota(0);
        let agent = env.agent(env.agent_config(0), 0, None).await?;
        env.pod("quota", 0, &[WITH_EIP]).await?;
        let ev = eventually(WAIT, "quota warning", || {
            let env = &env;
            async move {
                env.events("quota")
                    .await
                    .ok()?
                    .into_iter()
                    .find(|(t, r, n)| {
                        t == "Warning" && r == names::REASON_FAILED && n.contains("quota")
                    })
            }
        })
        .await?;
        eprintln!("{ev:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let warnings = env
            .events("quota")
            .await?
            .into_iter()
            .filter(|(t, _, _)| t == "Warning")
            .count();
        assert_eq!(warnings, 1, "one warning, not one per retry");
        env.sim.admin().set_eip_quota(10);
        env.wait_bound("quota", WAIT).await?;
        assert_eq!(env.sim.admin().eips().len(), 1);
        agent.shutdown().await;
        Ok(())
    })
    .await
}
