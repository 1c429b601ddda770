//! The workload controller: template changes roll out (as `kubectl eip request` needs),
//! StatefulSet pods come back under the same name, and a deleted owner's pods go.

use std::collections::BTreeSet;

use eip_core::annotations::POD_WITH_EIP;
use eip_e2e::{
    Cluster, DEFAULT_TEST_TIMEOUT, DEFAULT_WAIT, bounded, deployment, statefulset, wait_for,
};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use sandbox::workloads::is_running_and_ready;
use serde_json::json;

fn annotated(p: &Pod) -> bool {
    p.annotations().get(POD_WITH_EIP).map(String::as_str) == Some("true")
}

/// Waits until `app` has exactly `n` live pods, all Running and Ready and all satisfying
/// `pred`.
async fn settled(
    cluster: &Cluster,
    app: &str,
    n: usize,
    pred: fn(&Pod) -> bool,
) -> anyhow::Result<Vec<Pod>> {
    wait_for(
        &format!("{n} settled pods of {app}"),
        DEFAULT_WAIT,
        || async move {
            let pods = cluster.pods_of(app).await?;
            let ok = pods.len() == n
                && pods.iter().all(|p| {
                    p.metadata.deletion_timestamp.is_none() && is_running_and_ready(p) && pred(p)
                });
            Ok(ok.then_some(pods))
        },
    )
    .await
}

fn template_annotation_patch() -> Patch<serde_json::Value> {
    Patch::Merge(
        json!({"spec": {"template": {"metadata": {"annotations": {POD_WITH_EIP: "true"}}}}}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_template_change_replaces_every_pod() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let cluster = Cluster::builder()
            .node("n1", "ecs.g7.large")
            .start()
            .await?;
        cluster
            .create_deployment(&deployment("web").replicas(2))
            .await?;
        let before = settled(&cluster, "web", 2, |p| !annotated(p)).await?;
        cluster
            .deployments()
            .patch("web", &PatchParams::default(), &template_annotation_patch())
            .await?;
        let after = settled(&cluster, "web", 2, annotated).await?;
        let old: BTreeSet<String> = before.iter().map(|p| p.name_any()).collect();
        assert!(after.iter().all(|p| !old.contains(&p.name_any())));
        let hashes: BTreeSet<String> = after
            .iter()
            .filter_map(|p| p.labels().get("pod-template-hash").cloned())
            .collect();
        assert_eq!(hashes.len(), 1);
        // Deleting the Deployment takes its ReplicaSets' pods with it.
        cluster
            .deployments()
            .delete("web", &DeleteParams::default())
            .await?;
        cluster.wait_no_pods("web").await?;
        wait_for("IPs back in the cloud", DEFAULT_WAIT, || async {
            Ok(cluster.cloud_pod_ips("n1")?.is_empty().then_some(()))
        })
        .await?;
        cluster.teardown().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulset_rolls_out_from_the_highest_ordinal_and_keeps_names() -> anyhow::Result<()> {
    bounded(DEFAULT_TEST_TIMEOUT, async {
        let cluster = Cluster::builder()
            .node("n1", "ecs.g7.large")
            .start()
            .await?;
        cluster
            .create_statefulset(&statefulset("db").replicas(2))
            .await?;
        let before = settled(&cluster, "db", 2, |p| !annotated(p)).await?;
        let uid0 = before
            .iter()
            .find(|p| p.name_any() == "db-0")
            .and_then(|p| p.uid())
            .unwrap_or_default();

        // A deleted pod comes back with the same name (and a new uid).
        cluster
            .pods()
            .delete("db-0", &DeleteParams::default())
            .await?;
        wait_for("db-0 recreated", DEFAULT_WAIT, || async {
            let p = cluster.pods().get_opt("db-0").await?;
            Ok(p.filter(|p| p.uid().unwrap_or_default() != uid0 && is_running_and_ready(p)))
        })
        .await?;

        cluster
            .statefulsets()
            .patch("db", &PatchParams::default(), &template_annotation_patch())
            .await?;
        let after = settled(&cluster, "db", 2, annotated).await?;
        let names: BTreeSet<String> = after.iter().map(|p| p.name_any()).collect();
        assert_eq!(names, BTreeSet::from(["db-0".into(), "db-1".into()]));
        // db-1 was replaced before db-0.
        let created = |n: &str| {
            after
                .iter()
                .find(|p| p.name_any() == n)
                .and_then(|p| p.metadata.creation_timestamp.clone())
        };
        assert!(created("db-1") <= created("db-0"));
        wait_for("statefulset status caught up", DEFAULT_WAIT, || async {
            let status = cluster
                .statefulsets()
                .get("db")
                .await?
                .status
                .unwrap_or_default();
            Ok(
                (status.updated_replicas == Some(2) && status.ready_replicas == Some(2))
                    .then_some(()),
            )
        })
        .await?;
        cluster.teardown().await
    })
    .await
}
