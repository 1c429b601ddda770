//! The scheduler loop towards extenders, as kube-scheduler behaves: FailedNodes vs
//! FailedAndUnresolvableNodes in FailedScheduling events, Error as SchedulerError with
//! backoff, bind through the extender, prioritize weight x 10, preemption, in-tree
//! filters, retries on cluster events.

use std::collections::BTreeMap;

use eip_e2e::fake_extender::{FakeExtender, Script};
use eip_e2e::{Cluster, DEFAULT_TEST_TIMEOUT, DEFAULT_WAIT, bounded, node_of, pod, wait_for};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use sandbox::scheduler::SchedulerConfig;
use serde_json::json;

async fn two_nodes() -> anyhow::Result<Cluster> {
    Cluster::builder()
        .node("n1", "ecs.g7.large")
        .node("n2", "ecs.g7.large")
        .start()
        .await
}

async fn with_extender(
    cluster: &mut Cluster,
    script: Script,
    verbs: &[&str],
    weight: i64,
) -> anyhow::Result<FakeExtender> {
    let fake = FakeExtender::start(cluster.client(), script).await?;
    let yaml = fake.scheduler_config(verbs, weight, true);
    cluster
        .replace_scheduler(SchedulerConfig::from_yaml(&yaml)?)
        .await?;
    Ok(fake)
}

/// The first event with this reason about `object` whose message satisfies `want`.
async fn event_matching(
    cluster: &Cluster,
    object: &str,
    reason: &str,
    want: impl Fn(&str) -> bool,
) -> anyhow::Result<Event> {
    wait_for(
        &format!("{reason} event on {object}"),
        DEFAULT_WAIT,
        || async {
            Ok(cluster.events_for(object).await?.into_iter().find(|e| {
                e.reason.as_deref() == Some(reason)
                    && want(e.message.as_deref().unwrap_or_default())
            }))
        },
    )
    .await
}

fn pod_scheduled(p: &Pod) -> Option<(String, String, String)> {
    let c = p
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")?;
    Some((
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

async fn wait_scheduled(cluster: &Cluster, name: &str) -> anyhow::Result<String> {
    wait_for(&format!("{name} bound"), DEFAULT_WAIT, || async {
        Ok(node_of(&cluster.pods().get(name).await?))
    })
    .await
}

/// A change to a node: a cluster event that moves unschedulable pods back to the queue.
async fn touch_node(cluster: &Cluster, node: &str, value: &str) -> anyhow::Result<()> {
    Api::<Node>::all(cluster.client())
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"e2e-touch": value}}})),
        )
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extender_reasons_reach_failed_scheduling_and_unresolvable_nodes_are_not_preempted()
-> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let mut cluster = two_nodes().await?;
        let script = Script {
            failed: BTreeMap::from([(
                "n1".to_string(),
                "node n1 has 0 of 20 pod IPs free".to_string(),
            )]),
            unresolvable: BTreeMap::from([(
                "n2".to_string(),
                "region cn-hangzhou has used its EIP quota (20 of 20)".to_string(),
            )]),
            ..Script::default()
        };
        let fake = with_extender(&mut cluster, script, &["filter"], 1).await?;
        cluster.create_pod(&pod("p").with_eip()).await?;
        let expected = "0/2 nodes are available: 1 node n1 has 0 of 20 pod IPs free, 1 region cn-hangzhou has used its EIP quota (20 of 20). preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling..";
        let ev = event_matching(&cluster, "p", "FailedScheduling", |_| true).await?;
        assert_eq!(ev.message.as_deref(), Some(expected));
        assert_eq!(ev.type_.as_deref(), Some("Warning"));
        let p = wait_for("PodScheduled=False", DEFAULT_WAIT, || async {
            let p = cluster.pods().get("p").await?;
            Ok(pod_scheduled(&p).is_some().then_some(p))
        })
        .await?;
        assert_eq!(
            pod_scheduled(&p),
            Some(("False".into(), "Unschedulable".into(), expected.into()))
        );
        assert!(node_of(&p).is_none());

        // The extender changes its mind; a cluster event requeues the pod.
        fake.set_script(Script::default());
        touch_node(&cluster, "n2", "1").await?;
        wait_scheduled(&cluster, "p").await?;
        fake.shutdown().await;
        cluster.teardown().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extender_error_is_a_scheduler_error_retried_with_backoff() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let mut cluster = two_nodes().await?;
        let script = Script {
            filter_error: Some("cloud view not synced yet, retry shortly".to_string()),
            ..Script::default()
        };
        let fake = with_extender(&mut cluster, script, &["filter"], 1).await?;
        cluster.create_pod(&pod("p")).await?;
        event_matching(&cluster, "p", "FailedScheduling", |m| {
            m == "cloud view not synced yet, retry shortly"
        })
        .await?;
        // Retried without any cluster event (backoff only).
        wait_for("3 filter calls", DEFAULT_WAIT, || async {
            Ok((fake.calls_of("filter").len() >= 3).then_some(()))
        })
        .await?;
        let p = cluster.pods().get("p").await?;
        let (status, reason, _) = pod_scheduled(&p).unwrap_or_default();
        assert_eq!((status.as_str(), reason.as_str()), ("False", "SchedulerError"));
        fake.set_script(Script::default());
        wait_scheduled(&cluster, "p").await?;
        fake.shutdown().await;

        // An unreachable extender: Go's transport error text, as observed.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = closed.local_addr()?.port();
        drop(closed);
        let yaml = format!(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nextenders:\n- urlPrefix: \"http://127.0.0.1:{port}\"\n  filterVerb: filter\n  nodeCacheCapable: true\n"
        );
        cluster
            .replace_scheduler(SchedulerConfig::from_yaml(&yaml)?)
            .await?;
        cluster.create_pod(&pod("q")).await?;
        let prefix = format!("Post \"http://127.0.0.1:{port}/filter\": ");
        event_matching(&cluster, "q", "FailedScheduling", |m| m.starts_with(&prefix)).await?;
        cluster.teardown().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binder_extender_binds_and_its_errors_are_retried() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let mut cluster = two_nodes().await?;
        let fake = with_extender(&mut cluster, Script::default(), &["filter", "bind"], 1).await?;
        let created = cluster.create_pod(&pod("p")).await?;
        let node = wait_scheduled(&cluster, "p").await?;
        let binds = fake.calls_of("bind");
        assert_eq!(binds.len(), 1);
        let body = &binds[0].body;
        assert_eq!(body["PodName"], "p");
        assert_eq!(body["PodNamespace"], cluster.namespace());
        assert_eq!(body["PodUID"], created.uid().unwrap_or_default());
        assert_eq!(body["Node"], node);

        fake.set_script(Script {
            bind_error: Some("test extender refuses to bind (BIND_MODE=error)".into()),
            ..Script::default()
        });
        cluster.create_pod(&pod("r")).await?;
        event_matching(&cluster, "r", "FailedScheduling", |m| {
            m == "test extender refuses to bind (BIND_MODE=error)"
        })
        .await?;
        wait_for("bind retried", DEFAULT_WAIT, || async {
            Ok((fake.calls_of("bind").len() >= 3).then_some(()))
        })
        .await?;
        let r = cluster.pods().get("r").await?;
        assert!(node_of(&r).is_none());
        let (status, reason, message) = pod_scheduled(&r).unwrap_or_default();
        assert_eq!(status, "False");
        assert_eq!(reason, "SchedulerError");
        assert_eq!(message, "test extender refuses to bind (BIND_MODE=error)");
        // Each retry is a whole cycle: filter, then bind.
        let verbs: Vec<String> = fake.calls().into_iter().map(|c| c.verb).collect();
        assert!(
            verbs
                .windows(2)
                .filter(|w| w == &["filter", "bind"])
                .count()
                >= 3,
            "{verbs:?}"
        );
        fake.shutdown().await;
        cluster.teardown().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prioritize_scores_count_weight_times_ten() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let mut cluster = two_nodes().await?;
        // n1 holds 2 of its 20 slots: in-tree score n1 = 90, n2 = 100.
        for name in ["a", "b"] {
            cluster.create_pod(&pod(name).on("n1")).await?;
            cluster.wait_running_ready(name).await?;
        }
        let script = Script {
            scores: BTreeMap::from([("n1".to_string(), 1)]),
            ..Script::default()
        };
        let fake = with_extender(&mut cluster, script, &["prioritize"], 2).await?;
        // n1: 90 + 1 x 2 x 10 = 110 beats n2: 100 (without the x10 it would lose, 92).
        cluster.create_pod(&pod("p")).await?;
        assert_eq!(wait_scheduled(&cluster, "p").await?, "n1");
        let calls = fake.calls_of("prioritize");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].body["NodeNames"], json!(["n1", "n2"]));
        // Without the extender's preference the emptier node wins.
        fake.set_script(Script::default());
        cluster.create_pod(&pod("q")).await?;
        assert_eq!(wait_scheduled(&cluster, "q").await?, "n2");
        fake.shutdown().await;
        cluster.teardown().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_asks_the_extender_and_evicts_the_victims_it_keeps() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let mut cluster = Cluster::builder()
            .with_node(eip_e2e::node("n1").max_pods(1))
            .start()
            .await?;
        let low = cluster.create_pod(&pod("low").priority(0)).await?;
        wait_scheduled(&cluster, "low").await?;
        let script = Script {
            preempt_keep: Some(Vec::new()),
            ..Script::default()
        };
        let fake = with_extender(&mut cluster, script, &["filter", "preempt"], 1).await?;
        cluster.create_pod(&pod("high").priority(100)).await?;
        // The extender drops every candidate: nothing is evicted.
        event_matching(&cluster, "high", "FailedScheduling", |m| {
            m == "0/1 nodes are available: 1 Too many pods. preemption: no candidate node for preemption."
        })
        .await?;
        let calls = fake.calls_of("preempt");
        assert!(!calls.is_empty());
        let victims = &calls[0].body["NodeNameToMetaVictims"];
        assert_eq!(
            victims,
            &json!({"n1": {"Pods": [{"UID": low.uid().unwrap_or_default()}], "NumPDBViolations": 0}})
        );
        assert!(calls[0].body["NodeNameToVictims"].is_null());
        assert!(cluster.pods().get_opt("low").await?.is_some());

        // Now it keeps n1: low is evicted, high is nominated, then bound there.
        fake.set_script(Script::default());
        touch_node(&cluster, "n1", "1").await?;
        event_matching(&cluster, "low", "Preempted", |m| m.contains("on node n1")).await?;
        wait_for("low gone", DEFAULT_WAIT, || async {
            Ok(cluster.pods().get_opt("low").await?.is_none().then_some(()))
        })
        .await?;
        assert_eq!(wait_scheduled(&cluster, "high").await?, "n1");
        let high = cluster.pods().get("high").await?;
        assert_eq!(
            high.status.and_then(|s| s.nominated_node_name).as_deref(),
            Some("n1")
        );
        fake.shutdown().await;
        cluster.teardown().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordoned_and_not_ready_nodes_are_skipped_until_they_change() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let cluster = Cluster::builder()
            .node("n1", "ecs.g7.large")
            .node("n2", "ecs.g7.large")
            .node("n3", "ecs.g7.large")
            .start()
            .await?;
        let nodes: Api<Node> = Api::all(cluster.client());
        let cordon = |on: bool| Patch::Merge(json!({"spec": {"unschedulable": on}}));
        nodes.patch("n1", &PatchParams::default(), &cordon(true)).await?;
        sandbox::nodesim::set_node_ready(&cluster.client(), cluster.node("n2")?, false).await?;
        cluster.create_pod(&pod("p")).await?;
        assert_eq!(wait_scheduled(&cluster, "p").await?, "n3");

        nodes.patch("n3", &PatchParams::default(), &cordon(true)).await?;
        cluster.create_pod(&pod("q")).await?;
        let expected = "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling..";
        event_matching(&cluster, "q", "FailedScheduling", |m| m == expected).await?;
        nodes.patch("n3", &PatchParams::default(), &cordon(false)).await?;
        assert_eq!(wait_scheduled(&cluster, "q").await?, "n3");
        cluster.teardown().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_nodes_mode_sends_nodes_and_reads_only_nodes_back() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let mut cluster = two_nodes().await?;
        let fake = FakeExtender::start(cluster.client(), Script::default()).await?;
        let yaml = fake.scheduler_config(&["filter"], 1, false);
        cluster
            .replace_scheduler(SchedulerConfig::from_yaml(&yaml)?)
            .await?;
        cluster.create_pod(&pod("p")).await?;
        wait_scheduled(&cluster, "p").await?;
        let call = fake
            .calls_of("filter")
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("no filter call"))?;
        assert!(call.body["NodeNames"].is_null());
        let names: Vec<&str> = call.body["Nodes"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names, ["n1", "n2"]);
        assert_eq!(call.body["Pod"]["metadata"]["name"], "p");

        // Answering NodeNames to a scheduler that sent Nodes passes zero nodes; nodes
        // dropped without a reason count as unresolvable for preemption.
        fake.set_script(Script {
            answer_with_names: true,
            ..Script::default()
        });
        cluster.create_pod(&pod("q")).await?;
        let expected = "0/2 nodes are available: preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling..";
        event_matching(&cluster, "q", "FailedScheduling", |m| m == expected).await?;
        assert!(node_of(&cluster.pods().get("q").await?).is_none());
        fake.shutdown().await;
        cluster.teardown().await
    })
    .await
}
