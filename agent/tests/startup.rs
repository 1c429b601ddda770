//! What the agent does before it is ready, what it watches, how it reads a `pod-with-eip`
//! value other than "true", and how agents share the garbage collector's Lease.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Env, EnvOptions, WITH_EIP, bounded, eventually};
use eip_agent::metrics::Metrics;
use eip_cloud::args::AllocateEipArgs;
use eip_cloudsim::Delays;
use eip_core::annotations;
use eip_core::names;
use eip_core::podeip::PodEIPPhase;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::{CustomResourceExt, ResourceExt};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

async fn get(http: &reqwest::Client, url: String) -> anyhow::Result<(u16, String)> {
    let r = http.get(url).send().await?;
    Ok((r.status().as_u16(), r.text().await?))
}

async fn phase(env: &Env, name: &str) -> Option<PodEIPPhase> {
    env.record(name).await?.status?.phase
}

async fn node_label(env: &Env, name: &str) -> Option<String> {
    env.record(name)
        .await?
        .labels()
        .get(names::LABEL_PODEIP_NODE)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_the_start_up_pass_and_healthz_follows_the_loop() -> anyhow::Result<()> {
    bounded(async {
        // Slow association, so that the start-up pass takes a while.
        let env = Env::start(EnvOptions {
            delays: Delays {
                associate_ms: 1500,
                unassociate_ms: 10,
                release_ms: 5,
            },
            ..EnvOptions::default()
        })
        .await?;
        env.pod("early", 0, &[WITH_EIP]).await?;
        eventually(WAIT, "pod IP", || async {
            env.pods().get("early").await.ok()?.status?.pod_ip
        })
        .await?;

        let mut cfg = env.agent_config(0);
        cfg.gc = false;
        let agent = env.agent(cfg, 0, None).await?;
        let ops = eip_agent::http::serve(
            "127.0.0.1:0".parse()?,
            agent.ctx.clone(),
            agent.health.clone(),
        )?;
        let base = format!("http://{}", ops.addr);
        let http = reqwest::Client::new();

        let (code, body) = get(&http, format!("{base}/readyz")).await?;
        assert_eq!(code, 503, "not ready during the start-up pass: {body}");
        assert!(body.contains("start-up pass"), "{body}");
        assert_eq!(
            get(&http, format!("{base}/healthz")).await?,
            (200, "ok".to_owned()),
            "alive while not ready"
        );
        assert_ne!(phase(&env, "early").await, Some(PodEIPPhase::Bound));

        eventually(WAIT, "ready", || async {
            (get(&http, format!("{base}/readyz")).await.ok()?.0 == 200).then_some(())
        })
        .await?;
        // Ready means the pod found at start-up has been reconciled: it is already bound.
        assert_eq!(phase(&env, "early").await, Some(PodEIPPhase::Bound));
        env.wait_bound("early", WAIT).await?;

        // Killed: the loop is gone, and both probes say so.
        agent.kill().await;
        assert_eq!(get(&http, format!("{base}/healthz")).await?.0, 503);
        assert_eq!(get(&http, format!("{base}/readyz")).await?.0, 503);
        ops.stop().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podeip_watch_is_scoped_to_the_node_and_the_label_follows_a_ttl_pod() -> anyhow::Result<()>
{
    bounded(async {
        let env = Env::start(EnvOptions {
            nodes: vec!["node-1", "node-2"],
            ..EnvOptions::default()
        })
        .await?;
        // Agent 1 runs the GC (the only one that may) and records what it asks the API.
        let (client, log) = env.recording_client().await?;
        let mut cfg1 = env.agent_config(0);
        cfg1.gc = true;
        cfg1.gc_period = Duration::from_millis(200);
        let a1 = env
            .agent_on(
                client,
                cfg1,
                0,
                None,
                env.cloud(None)?,
                Arc::new(Metrics::new()),
            )
            .await?;
        let mut cfg2 = env.agent_config(1);
        cfg2.gc = false;
        let a2 = env.agent(cfg2, 1, None).await?;

        let ttl = [WITH_EIP, (annotations::POD_EIP_RELEASE_STRATEGY, "1h")];
        env.pod("sts-0", 0, &ttl).await?;
        let (id, _) = env.wait_bound("sts-0", WAIT).await?;
        assert_eq!(node_label(&env, "sts-0").await.as_deref(), Some("node-1"));
        env.delete_pod("sts-0").await?;
        env.wait_gone("sts-0", WAIT).await?;
        eventually(WAIT, "retained", || async {
            (phase(&env, "sts-0").await == Some(PodEIPPhase::Retained)).then_some(())
        })
        .await?;

        // Back on node 2: found by namespace/name, claimed, and relabelled for node 2.
        env.pod("sts-0", 1, &ttl).await?;
        let (id2, _) = env.wait_bound("sts-0", WAIT).await?;
        assert_eq!(id2, id, "the same EIP on the other node");
        assert_eq!(node_label(&env, "sts-0").await.as_deref(), Some("node-2"));

        // A record that lost its label (e.g. written before labels existed) leaves agent
        // 2's watch; the watch's delete event brings the label back.
        env.records()
            .patch(
                "sts-0",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {names::LABEL_PODEIP_NODE: null}}})),
            )
            .await?;
        eventually(WAIT, "relabelled", || async {
            (node_label(&env, "sts-0").await.as_deref() == Some("node-2")).then_some(())
        })
        .await?;

        let uris = log.uris();
        let cluster_wide = "/apis/kube-eip.io/v1alpha1/podeips?";
        let selector = format!("labelSelector={}=node-1", names::LABEL_PODEIP_NODE);
        let watches: Vec<&String> = uris
            .iter()
            .filter(|u| u.starts_with(cluster_wide) && u.contains("watch=true"))
            .collect();
        assert!(!watches.is_empty(), "agent 1 watches PodEIPs: {uris:#?}");
        for w in &watches {
            assert!(w.contains(&selector), "unscoped PodEIP watch: {w}");
        }
        let pod_watches: Vec<&String> = uris
            .iter()
            .filter(|u| u.starts_with("/api/v1/pods?") && u.contains("watch=true"))
            .collect();
        assert!(!pod_watches.is_empty());
        for w in &pod_watches {
            assert!(w.contains("fieldSelector=spec.nodeName=node-1"), "{w}");
        }
        let gc_lists = uris
            .iter()
            .filter(|u| {
                u.starts_with(cluster_wide)
                    && !u.contains("watch=true")
                    && !u.contains("labelSelector")
            })
            .count();
        assert!(
            gc_lists > 0,
            "the GC lists every PodEIP when it runs: {uris:#?}"
        );
        a1.shutdown().await;
        a2.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_with_eip_other_than_true_warns_once_and_the_pod_runs_without_an_eip()
-> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let named = env
            .cloud(None)?
            .allocate_eip_address(&AllocateEipArgs::default())
            .await?
            .allocation_id;
        let mut cfg = env.agent_config(0);
        cfg.gc = false;
        let agent = env.agent(cfg, 0, None).await?;
        eventually(WAIT, "ready", || {
            let ready = agent.health.is_ready();
            async move { ready.then_some(()) }
        })
        .await?;
        let calls = env.eip_calls();

        env.pod("typo", 0, &[(annotations::POD_WITH_EIP, "yes")])
            .await?;
        env.pod("off", 0, &[(annotations::POD_WITH_EIP, "false")])
            .await?;
        let ignored = |name: &'static str| {
            let env = &env;
            async move {
                let warnings: Vec<String> = env
                    .events(name)
                    .await
                    .ok()?
                    .into_iter()
                    .filter(|(t, _, _)| t == "Warning")
                    .map(|(_, r, n)| {
                        assert_eq!(r, names::REASON_ANNOTATION_IGNORED, "{n}");
                        n
                    })
                    .collect();
                Some(warnings)
            }
        };
        let first = eventually(WAIT, "warning about \"yes\"", || async {
            ignored("typo").await.filter(|w| !w.is_empty())
        })
        .await?;
        assert_eq!(first.len(), 1, "{first:?}");
        for part in [annotations::POD_WITH_EIP, "\"yes\"", "write \"true\""] {
            assert!(
                first[0].contains(part),
                "{part} missing from {:?}",
                first[0]
            );
        }
        eventually(WAIT, "typo pod running", || async {
            let p = env.pods().get("typo").await.ok()?;
            (p.status?.phase.as_deref() == Some("Running")).then_some(())
        })
        .await?;

        // Reconciled again (a label change), then with another value: one event per value.
        for i in 0..3 {
            env.pods()
                .patch(
                    "typo",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"labels": {"touch": i.to_string()}}})),
                )
                .await?;
        }
        env.pods()
            .patch(
                "typo",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {annotations::POD_WITH_EIP: "1"}}}),
                ),
            )
            .await?;
        let both = eventually(WAIT, "warning about \"1\"", || async {
            ignored("typo").await.filter(|w| w.len() >= 2)
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = ignored("typo").await.unwrap_or_default();
        assert_eq!(after.len(), 2, "one warning per value: {after:?}");
        assert!(both.iter().any(|n| n.contains("value \"1\"")), "{both:?}");

        // "false" is quiet; neither pod has a PodEIP, a Failed status or a cloud call.
        assert_eq!(ignored("off").await, Some(vec![]));
        for name in ["typo", "off"] {
            assert!(env.records().get_opt(name).await?.is_none(), "{name}");
            assert!(
                !env.pods()
                    .get(name)
                    .await?
                    .annotations()
                    .contains_key(names::ALLOCATED_EIP_ID)
            );
        }
        assert_eq!(env.eip_calls(), calls, "no cloud call");

        // An ignored alias does not stop a named EIP.
        env.pod(
            "named",
            0,
            &[
                (annotations::ECI_WITH_EIP, "True"),
                (annotations::POD_EIP_INSTANCEID, named.as_str()),
            ],
        )
        .await?;
        let (id, _) = env.wait_bound("named", WAIT).await?;
        assert_eq!(id, named);
        let w = ignored("named").await.unwrap_or_default();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains(annotations::ECI_WITH_EIP), "{w:?}");
        agent.shutdown().await;
        Ok(())
    })
    .await
}

async fn gc_holder(env: &Env) -> Option<String> {
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(env.client.clone(), eip_agent::runner::GC_LEASE_NAMESPACE);
    leases
        .get_opt(eip_agent::runner::GC_LEASE_NAME)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_holds_the_gc_lease_and_hands_it_over_on_shutdown() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions {
            nodes: vec!["node-1", "node-2"],
            ..EnvOptions::default()
        })
        .await?;
        let gc = |node: usize| {
            let mut cfg = env.agent_config(node);
            cfg.gc = true;
            cfg.gc_period = Duration::from_secs(3600); // one pass when the lease is taken
            cfg.lease_duration = Duration::from_secs(2);
            cfg
        };
        let a1 = env.agent(gc(0), 0, None).await?;
        eventually(WAIT, "node-1 holds the lease", || async {
            (gc_holder(&env).await.as_deref() == Some("node-1")).then_some(())
        })
        .await?;
        let a2 = env.agent(gc(1), 1, None).await?;

        // A record whose pod never existed: only a GC pass finishes it.
        let mut ghost = eip_core::podeip::PodEIP::new(
            "ghost",
            eip_core::podeip::PodEIPSpec::from_request(
                &annotations::EipRequest::allocate_default(),
            ),
        );
        ghost.metadata.finalizers = Some(vec![names::PODEIP_FINALIZER.to_owned()]);
        env.records()
            .create(&kube::api::PostParams::default(), &ghost)
            .await?;
        // Longer than the lease: node-2 does not take a lease that node-1 renews, and
        // node-1 already made its pass.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(gc_holder(&env).await.as_deref(), Some("node-1"));
        assert!(env.records().get_opt("ghost").await?.is_some());

        // Node-1 leaves and releases the lease; node-2 takes it and makes its pass at once.
        a1.shutdown().await;
        eventually(WAIT, "node-2 holds the lease", || async {
            (gc_holder(&env).await.as_deref() == Some("node-2")).then_some(())
        })
        .await?;
        eventually(WAIT, "ghost record finished", || async {
            env.records().get_opt("ghost").await.ok()?.is_none().then_some(())
        })
        .await?;
        assert!(
            a2.ctx.metrics.encode().contains("action=\"orphan-record\""),
            "node-2's GC finished it"
        );
        a2.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_up_list_keeps_the_agent_unready_until_it_succeeds() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(env.client.clone());
        let crd = eip_core::podeip::PodEIP::crd();
        let crd_name = crd.name_any();
        crds.delete(&crd_name, &Default::default()).await?;
        eventually(WAIT, "CRD gone", || async {
            crds.get_opt(&crd_name).await.ok()?.is_none().then_some(())
        })
        .await?;
        let mut cfg = env.agent_config(0);
        cfg.gc = false;

        // Without the PodEIP resource the start-up pass cannot list: alive, not ready, and a
        // shutdown still ends it.
        let a1 = env.agent(cfg.clone(), 0, None).await?;
        tokio::time::sleep(Duration::from_millis(500)).await; // several retries
        assert!(a1.health.is_alive());
        assert!(!a1.health.is_ready());
        tokio::time::timeout(Duration::from_secs(3), a1.shutdown()).await?;

        let a2 = env.agent(cfg, 0, None).await?;
        crds.create(&Default::default(), &crd).await?;
        eventually(WAIT, "ready once the list works", || {
            let ready = a2.health.is_ready();
            async move { ready.then_some(()) }
        })
        .await?;
        // A shutdown right after readiness, before the controller's pod watch has listed,
        // ends too (it once waited for that list forever).
        tokio::time::timeout(Duration::from_secs(5), a2.shutdown()).await?;
        Ok(())
    })
    .await
}
