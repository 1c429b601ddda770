//! Failure paths over the whole stack (the real agent and extender on the cluster
//! simulation, `eip-cloudsim` as the cloud): each one used to leave two components
//! disagreeing, cost an EIP, or show a wrong state.

use std::collections::BTreeMap;
use std::time::Duration;

use eip_core::eni_config::{ENI_CONF_KEY, ENI_CONFIG_NAME, ENI_CONFIG_NAMESPACE};
use eip_core::names;
use eip_core::podeip::{PodEIP, PodEIPPhase};
use eip_e2e::{DEFAULT_WAIT, events_about, pod, wait_for};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use sandbox::stack::{Stack, StackOptions, zones_of};
use serde_json::json;

const TEST_TIMEOUT: Duration = Duration::from_secs(90);
const NS: &str = "default";

async fn bounded<F: Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .map_err(|_| anyhow::anyhow!("test timed out after {TEST_TIMEOUT:?}"))?
}

/// `nodes` nodes, the EIP feature on.
async fn stack(nodes: u32, allow_rob: bool, named_eips: u32) -> anyhow::Result<Stack> {
    let defaults = StackOptions::default();
    let zones = zones_of(&defaults.cloud);
    Ok(Stack::start(StackOptions {
        nodes: StackOptions::spread(nodes, "ecs.g7.large", &zones),
        allow_rob,
        named_eips,
        ..defaults
    })
    .await?)
}

/// The message of the pod's `PodScheduled=False` condition, once it contains `want`.
async fn unschedulable_with(client: &Client, name: &str, want: &str) -> anyhow::Result<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    wait_for(
        &format!("pod {name} unschedulable with {want:?}"),
        DEFAULT_WAIT,
        || async {
            let p = pods.get(name).await?;
            anyhow::ensure!(
                p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none(),
                "pod {name} was scheduled"
            );
            Ok(p.status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
                .and_then(|c| c.message)
                .filter(|m| m.contains(want)))
        },
    )
    .await
}

/// Sets `eni_conf` of `kube-system/eni-config` to `text`.
async fn set_eni_conf(client: &Client, text: &str) -> anyhow::Result<()> {
    Api::<ConfigMap>::namespaced(client.clone(), ENI_CONFIG_NAMESPACE)
        .patch(
            ENI_CONFIG_NAME,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {ENI_CONF_KEY: text}})),
        )
        .await?;
    Ok(())
}

/// Warning events on the ConfigMap with reason `InvalidEniConfig`, their notes.
async fn config_map_warnings(client: &Client) -> anyhow::Result<Vec<String>> {
    Ok(events_about(client, ENI_CONFIG_NAMESPACE, ENI_CONFIG_NAME)
        .await?
        .into_iter()
        .filter(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some(names::REASON_INVALID_ENI_CONFIG)
        })
        .filter_map(|e| e.message)
        .collect())
}

/// Issue 10, 1: an invalid `eni-config` turns the feature off in the extender and every
/// agent alike, the pod's reason and event quote the problem, the ConfigMap gets one
/// Warning per problem, and deleting the ConfigMap turns the feature off in the extender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_eni_config_turns_the_feature_off_everywhere_and_says_why() -> anyhow::Result<()>
{
    bounded(async {
        let stack = stack(1, false, 0).await?;
        let client = stack.client();
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let yes = r#"{"enable_eip_pool": "yes"}"#;
        set_eni_conf(&client, yes).await?;
        let problem =
            "enable_eip_pool is \"yes\" in eni_conf of ConfigMap kube-system/eni-config; use \"true\" or \"false\"";

        // the extender refuses the EIP pod, quoting the problem
        pods.create(&PostParams::default(), &pod("sched").with_eip().build()?)
            .await?;
        let reason = unschedulable_with(&client, "sched", problem).await?;
        assert!(
            reason.contains(&format!(
                "the EIP feature is off because ConfigMap kube-system/eni-config is invalid: {problem}; fix it"
            )),
            "{reason}"
        );

        // an EIP pod placed by hand: the agent's event quotes the same problem
        pods.create(
            &PostParams::default(),
            &pod("placed").with_eip().on("node-1").build()?,
        )
        .await?;
        let note = wait_for("the agent's EipDisabled event", DEFAULT_WAIT, || async {
            Ok(events_about(&client, NS, "placed")
                .await?
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(names::REASON_DISABLED))
                .and_then(|e| e.message))
        })
        .await?;
        assert_eq!(
            note,
            format!(
                "the pod asks for an EIP but the EIP feature is off because ConfigMap kube-system/eni-config is invalid: {problem}; fix it (no restart needed)"
            )
        );
        assert!(
            stack.cloud_admin().snapshot().eips.is_empty(),
            "no EIP is allocated while eni-config is invalid"
        );

        // one Warning on the ConfigMap for that problem, however often it is read
        let warnings = wait_for("the ConfigMap's Warning", DEFAULT_WAIT, || async {
            let w = config_map_warnings(&client).await?;
            Ok((!w.is_empty()).then_some(w))
        })
        .await?;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains(problem), "{warnings:?}");

        // not JSON: a second problem, a second Warning; the reason follows
        set_eni_conf(&client, "{\"enable_eip_pool\": \"true\"").await?;
        let reason =
            unschedulable_with(&client, "sched", "eni_conf of ConfigMap kube-system/eni-config is not valid JSON: ")
                .await?;
        assert!(reason.contains("EOF while parsing an object"), "{reason}");
        wait_for("a second Warning", DEFAULT_WAIT, || async {
            Ok((config_map_warnings(&client).await?.len() == 2).then_some(()))
        })
        .await?;

        // valid and on: the waiting pod is placed
        set_eni_conf(&client, r#"{"enable_eip_pool": "true"}"#).await?;
        wait_for("pod sched placed", DEFAULT_WAIT, || async {
            let p = pods.get("sched").await?;
            Ok(p.spec.and_then(|s| s.node_name))
        })
        .await?;

        // broken again, then deleted: off in the extender, with the plain sentence
        set_eni_conf(&client, yes).await?;
        pods.create(&PostParams::default(), &pod("after").with_eip().build()?)
            .await?;
        unschedulable_with(&client, "after", problem).await?;
        Api::<ConfigMap>::namespaced(client.clone(), ENI_CONFIG_NAMESPACE)
            .delete(ENI_CONFIG_NAME, &DeleteParams::default())
            .await?;
        unschedulable_with(
            &client,
            "after",
            "the EIP feature is off; set \"enable_eip_pool\": \"true\" in key eni_conf of ConfigMap kube-system/eni-config",
        )
        .await?;
        let state: serde_json::Value = reqwest::get(format!("{}/debug/state", stack.extender_url()))
            .await?
            .json()
            .await?;
        assert_eq!(
            state["switches"],
            json!({"eipEnabled": false, "allowRob": false}),
            "{state}"
        );
        stack.shutdown().await?;
        Ok(())
    })
    .await
}

fn annotations(p: &Pod) -> BTreeMap<String, String> {
    p.metadata.annotations.clone().unwrap_or_default()
}

/// The pod's `k8s.aliyun.com/eip` condition: status and message.
fn eip_condition(p: &Pod) -> Option<(String, String)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == names::EIP_CONDITION)
        .map(|c| (c.status.clone(), c.message.clone().unwrap_or_default()))
}

/// Issue 10, 4: after `allow_eip_rob`, the pod that lost its named EIP learns of it within
/// a second or two (not at its agent's next cloud check, 30 s here): its annotation goes,
/// its condition turns False, and its PodEIP names the pod that took the EIP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robbed_pod_learns_of_it_at_once() -> anyhow::Result<()> {
    bounded(async {
        let stack = stack(2, true, 1).await?;
        let client = stack.client();
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let records: Api<PodEIP> = Api::namespaced(client.clone(), NS);
        let id = stack.named_eips()[0].clone();
        let key = eip_core::annotations::SETTING_INSTANCE_ID.keys[0];
        let bound = |name: &'static str| {
            let records = records.clone();
            async move {
                wait_for(&format!("{name} Bound"), DEFAULT_WAIT, || async {
                    Ok(records.get_opt(name).await?.filter(|r| {
                        r.status.as_ref().and_then(|s| s.phase) == Some(PodEIPPhase::Bound)
                    }))
                })
                .await
            }
        };
        pods.create(
            &PostParams::default(),
            &pod("first").annotation(key, &id).build()?,
        )
        .await?;
        bound("first").await?;
        wait_for("first annotated", DEFAULT_WAIT, || async {
            let p = pods.get("first").await?;
            Ok(annotations(&p)
                .contains_key(names::ALLOCATED_EIP_ADDRESS)
                .then_some(()))
        })
        .await?;

        pods.create(
            &PostParams::default(),
            &pod("second").annotation(key, &id).build()?,
        )
        .await?;
        bound("second").await?;
        let robbed_at = tokio::time::Instant::now();
        let first = wait_for(
            "first told it lost the EIP",
            Duration::from_secs(5),
            || async {
                let p = pods.get("first").await?;
                let gone = !annotations(&p).contains_key(names::ALLOCATED_EIP_ADDRESS)
                    && !annotations(&p).contains_key(names::ALLOCATED_EIP_ID);
                let cond_false = eip_condition(&p).is_some_and(|(s, _)| s == "False");
                let failed = records
                    .get("first")
                    .await?
                    .status
                    .is_some_and(|s| s.phase == Some(PodEIPPhase::Failed));
                Ok((gone && cond_false && failed).then_some(p))
            },
        )
        .await?;
        let window = robbed_at.elapsed();
        assert!(
            window < Duration::from_secs(3),
            "the robbed pod kept the EIP for {window:?}"
        );
        let (_, message) = eip_condition(&first).unwrap_or_default();
        assert!(
            message.contains("was taken by pod default/second"),
            "{message}"
        );
        let rec = records.get("first").await?;
        let st = rec.status.unwrap_or_default();
        assert_eq!(st.taken_by.as_deref(), Some("default/second"));
        assert_eq!(st.phase, Some(PodEIPPhase::Failed));
        assert!(
            st.last_error
                .as_deref()
                .is_some_and(|e| e.contains("was taken by pod default/second")),
            "{:?}",
            st.last_error
        );
        // only one record says Bound
        let bound_now: Vec<String> = records
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|r| r.status.as_ref().and_then(|s| s.phase) == Some(PodEIPPhase::Bound))
            .filter_map(|r| r.metadata.name)
            .collect();
        assert_eq!(bound_now, vec!["second".to_string()]);
        stack.shutdown().await?;
        Ok(())
    })
    .await
}

/// Issue 10, 2: a bandwidth package that does not exist: the extender refuses the pod
/// before anything is allocated; placed without the extender, it is a permanent error for
/// the agent: the EIP allocated for the pod is released (nothing stays billed), the PodEIP
/// says Failed with the cloud's words and the fix, one Warning, the condition False, and
/// the next tries back off (doubling) instead of calling every retry interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bandwidth_package_costs_nothing_and_backs_off() -> anyhow::Result<()> {
    bounded(async {
        let stack = stack(1, false, 0).await?;
        let client = stack.client();
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let records: Api<PodEIP> = Api::namespaced(client.clone(), NS);
        let admin = stack.cloud_admin();
        admin.reset_calls();
        let package = eip_core::annotations::SETTING_COMMON_BANDWIDTH_PACKAGE_ID.keys[0];
        pods.create(
            &PostParams::default(),
            &pod("sched").with_eip().annotation(package, "cbwp-missing").build()?,
        )
        .await?;
        unschedulable_with(
            &client,
            "sched",
            "shared bandwidth package cbwp-missing does not exist in cn-hangzhou; check the eip-common-bandwidth-package-id annotation",
        )
        .await?;
        assert_eq!(admin.call_count("AllocateEipAddress"), 0);
        pods.delete("sched", &DeleteParams::default()).await?;

        // placed by hand, past the extender
        pods.create(
            &PostParams::default(),
            &pod("game")
                .with_eip()
                .annotation(package, "cbwp-missing")
                .on("node-1")
                .build()?,
        )
        .await?;
        let failed = wait_for("PodEIP Failed", DEFAULT_WAIT, || async {
            Ok(records
                .get_opt("game")
                .await?
                .and_then(|r| r.status)
                .filter(|s| s.phase == Some(PodEIPPhase::Failed) && s.last_error.is_some()))
        })
        .await?;
        let error = failed.last_error.unwrap_or_default();
        for part in [
            "failed to add EIP eip-",
            "InvalidBandwidthPackageId.NotFound",
            "check the ids in the pod's EIP annotations (eip-common-bandwidth-package-id",
            "allocated for this pod was released",
            "kube-eip tries again in",
        ] {
            assert!(error.contains(part), "{part:?} not in {error}");
        }
        assert_eq!(failed.allocation_id, None);
        // nothing left allocated
        wait_for("no EIP left in the account", DEFAULT_WAIT, || async {
            Ok(admin.snapshot().eips.is_empty().then_some(()))
        })
        .await?;

        // over the next 8 s (retry interval 1 s): backoff 1, 2, 4 s...
        tokio::time::sleep(Duration::from_secs(8)).await;
        let allocations = admin.call_count("AllocateEipAddress");
        let joins = admin.call_count("AddCommonBandwidthPackageIp");
        assert!(
            (1..=4).contains(&allocations) && joins == allocations,
            "allocations {allocations}, joins {joins}"
        );
        let warnings: Vec<Event> = events_about(&client, NS, "game")
            .await?
            .into_iter()
            .filter(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.message
                        .as_deref()
                        .is_some_and(|m| m.contains("InvalidBandwidthPackageId.NotFound"))
            })
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let p = pods.get("game").await?;
        let (status, message) = eip_condition(&p).unwrap_or_default();
        assert_eq!(status, "False");
        assert!(
            message.contains("InvalidBandwidthPackageId.NotFound"),
            "{message}"
        );
        assert!(!annotations(&p).contains_key(names::ALLOCATED_EIP_ADDRESS));

        // the annotation fixed: tried at once, bound without the package
        pods.patch(
            "game",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {package: null}}})),
        )
        .await?;
        wait_for("game Bound after the fix", DEFAULT_WAIT, || async {
            Ok(records
                .get_opt("game")
                .await?
                .filter(|r| r.status.as_ref().and_then(|s| s.phase) == Some(PodEIPPhase::Bound)))
        })
        .await?;
        stack.shutdown().await?;
        Ok(())
    })
    .await
}

/// Issue 10, 3: a named EIP on a workload that can run more than one pod is refused by the
/// extender before scheduling (it used to run the replicas with no EIP and no condition);
/// a replica placed past the extender gets the condition False with the same sentence.
/// (An owner that cannot be read fails closed: the tables of eip-core, the extender's
/// decide and the agent's machine.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_eip_on_several_replicas_is_refused_before_scheduling() -> anyhow::Result<()> {
    bounded(async {
        let stack = stack(1, false, 1).await?;
        let client = stack.client();
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let id = stack.named_eips()[0].clone();
        let key = eip_core::annotations::SETTING_INSTANCE_ID.keys[0];
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), NS)
            .create(
                &PostParams::default(),
                &eip_e2e::deployment("web").replicas(2).annotation(key, &id).build()?,
            )
            .await?;
        let replicas = wait_for("two replicas", DEFAULT_WAIT, || async {
            let list = pods.list(&ListParams::default().labels("app=web")).await?.items;
            Ok((list.len() == 2).then_some(list))
        })
        .await?;
        for p in &replicas {
            let name = p.metadata.name.clone().unwrap_or_default();
            unschedulable_with(
                &client,
                &name,
                &format!(
                    "the pod names EIP {id} but its workload has 2 replicas; an EIP can serve one pod only: use pod-with-eip instead, or run one replica"
                ),
            )
            .await?;
        }

        // placed by hand past the extender, under the same ReplicaSet: the agent refuses
        // it, with the condition False
        let owner = replicas[0]
            .metadata
            .owner_references
            .clone()
            .unwrap_or_default();
        let mut placed = pod("placed").annotation(key, &id).on("node-1").build()?;
        placed.metadata.owner_references = Some(owner);
        pods.create(&PostParams::default(), &placed).await?;
        let sentence = format!(
            "the pod names EIP {id} but its workload has 2 replicas; an EIP can serve one pod only: use pod-with-eip instead, or run one replica"
        );
        let p = wait_for("placed refused by the agent", DEFAULT_WAIT, || async {
            let p = pods.get("placed").await?;
            Ok(eip_condition(&p)
                .is_some_and(|(s, m)| s == "False" && m == sentence)
                .then_some(p))
        })
        .await?;
        assert!(!annotations(&p).contains_key(names::ALLOCATED_EIP_ADDRESS));
        assert_eq!(
            stack.cloud_admin().eip(&id).map(|e| e.status),
            Some(eip_cloudsim::EipStatus::Available),
            "the named EIP stays free"
        );
        stack.shutdown().await?;
        Ok(())
    })
    .await
}
