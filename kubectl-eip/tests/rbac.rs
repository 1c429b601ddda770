//! Least privilege for the plugin's users, proven as the agent's and the extender's are
//! (tests/tests/rbac.rs): `deploy/base/kubectl-eip-user-rbac.yaml` is loaded into the
//! sandbox API server, which enforces it; a ServiceAccount bound to `kube-eip-user` only
//! runs show, request (a pod with --wait, and every workload kind, CronJobs included),
//! release, version, nodes and doctor through the real agents and extender; none of its
//! requests is denied, and every permission the role grants is used.

mod common;

use std::time::Duration;

use common::{Cluster, pod, run_with};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject, GroupVersionKind, PostParams};
use kube::discovery::ApiResource;
use sandbox::apiserver::rbac::UserInfo;
use serde_json::{Value, json};

const RBAC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/base/kubectl-eip-user-rbac.yaml"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_bound_to_kube_eip_user_is_never_denied() -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(60), scenario())
        .await
        .map_err(|_| anyhow::anyhow!("test timed out"))?
}

async fn scenario() -> anyhow::Result<()> {
    let c = Cluster::start(1).await?;
    let client = c.stack.client();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&std::fs::read_to_string(RBAC)?)?;
    let mut names = Vec::new();
    for d in docs {
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "rbac.authorization.k8s.io",
            "v1",
            d["kind"].as_str().unwrap_or_default(),
        ));
        names.push(
            d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        Api::<DynamicObject>::all_with(client.clone(), &ar)
            .create(&PostParams::default(), &serde_json::from_value(d)?)
            .await?;
    }
    assert_eq!(names, ["kube-eip-user", "kube-eip-podeips-view"]);
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "user-kube-eip"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kube-eip-user"},
        "subjects": [{"kind": "ServiceAccount", "name": "user", "namespace": "default"}],
    });
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
    ));
    Api::<DynamicObject>::all_with(client.clone(), &ar)
        .create(&PostParams::default(), &serde_json::from_value(binding)?)
        .await?;
    let kc = c.service_account_kubeconfig("default", "user")?;
    let home = c.dir.path();

    c.create_pod(pod("web", &[])).await?;
    c.wait_pod("default", "web", "an IP", |p| {
        p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some()
    })
    .await?;
    let deploy: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "game", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "game"}},
                 "template": {"metadata": {"labels": {"app": "game"}},
                              "spec": {"containers": [{"name": "c", "image": "game"}]}}},
    }))?;
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &deploy)
        .await?;

    let template = json!({"metadata": {"labels": {"app": "w"}},
                          "spec": {"containers": [{"name": "c", "image": "w"}]}});
    for (kind, plural, spec) in [
        (
            "StatefulSet",
            "statefulsets",
            json!({"replicas": 1, "serviceName": "w", "selector": {"matchLabels": {"app": "w"}}, "template": template}),
        ),
        (
            "DaemonSet",
            "daemonsets",
            json!({"selector": {"matchLabels": {"app": "w"}}, "template": template}),
        ),
        (
            "ReplicaSet",
            "replicasets",
            json!({"replicas": 0, "selector": {"matchLabels": {"app": "w"}}, "template": template}),
        ),
    ] {
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", kind));
        let obj = json!({"apiVersion": "apps/v1", "kind": kind,
                         "metadata": {"name": format!("w-{plural}"), "namespace": "default"},
                         "spec": spec});
        Api::<DynamicObject>::namespaced_with(client.clone(), "default", &ar)
            .create(&PostParams::default(), &serde_json::from_value(obj)?)
            .await?;
    }
    let job = json!({"apiVersion": "batch/v1", "kind": "Job",
                     "metadata": {"name": "w-jobs", "namespace": "default"},
                     "spec": {"template": {"metadata": {"labels": {"app": "w"}},
                              "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "w"}]}}}});
    Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk(&GroupVersionKind::gvk("batch", "v1", "Job")),
    )
    .create(&PostParams::default(), &serde_json::from_value(job)?)
    .await?;
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob",
                      "metadata": {"name": "w-cronjobs", "namespace": "default"},
                      "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {
                          "metadata": {"labels": {"app": "w"}},
                          "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "w"}]}}}}}});
    Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk(&GroupVersionKind::gvk("batch", "v1", "CronJob")),
    )
    .create(&PostParams::default(), &serde_json::from_value(cron)?)
    .await?;
    let extender = c.stack.extender_url();

    for args in [
        &["request", "web", "--wait", "--timeout", "20s"][..],
        &["show"],
        &["show", "-A", "-o", "json"],
        &["show", "deploy/game"],
        &["request", "deploy/game", "--bandwidth", "20"],
        &["release", "deploy/game", "--yes"],
        &["request", "sts/w-statefulsets"],
        &["release", "sts/w-statefulsets", "--yes"],
        &["request", "ds/w-daemonsets"],
        &["release", "ds/w-daemonsets", "--yes"],
        &["request", "rs/w-replicasets"],
        &["release", "rs/w-replicasets", "--yes"],
        &["request", "job/w-jobs"],
        &["release", "job/w-jobs", "--yes"],
        &["request", "cj/w-cronjobs"],
        &["show", "cj/w-cronjobs"],
        &["release", "cj/w-cronjobs", "--yes"],
        &["release", "web", "--yes"],
        &["version"],
        &["nodes"],
        &["nodes", "--extender", &extender],
        &["doctor"],
        &["doctor", "--extender", &extender],
    ] {
        let r = run_with(&kc, home, args).await?;
        let expected = if args[0] == "doctor" { 1 } else { 0 };
        assert_eq!(r.code, expected, "{args:?}: {r:?}");
    }
    // doctor fails for what the sandbox lacks (kube-eip's DaemonSet), never for RBAC.
    let r = run_with(&kc, home, &["doctor"]).await?;
    assert!(
        r.stdout
            .contains("ok    you may do everything kubectl eip does")
            && !r.stdout.contains("cannot check"),
        "{r:?}"
    );
    let denied: Vec<String> = c
        .stack
        .api_server()
        .audit()
        .into_iter()
        .filter(|(e, _)| e.user == "system:serviceaccount:default:user" && !e.allowed)
        .map(|(e, _)| format!("{:?}", e.attributes))
        .collect();
    assert!(denied.is_empty(), "denied: {denied:#?}");

    // Every permission the role grants was used by some allowed request.
    let user = UserInfo::service_account("default", "user");
    let used: Vec<_> = c
        .stack
        .api_server()
        .audit()
        .into_iter()
        .filter(|(e, _)| e.user == user.name && e.allowed)
        .map(|(e, _)| e.attributes)
        .collect();
    let unused: Vec<String> = c
        .stack
        .api_server()
        .grants(&user)
        .iter()
        .flat_map(|g| g.permissions())
        .filter(|p| !used.iter().any(|a| p.allows(a)))
        .map(|p| p.describe())
        .collect();
    assert!(unused.is_empty(), "granted but never used: {unused:#?}");
    c.stack.shutdown().await?;
    Ok(())
}
