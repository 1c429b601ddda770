//! Least privilege for the plugin's users, proven as the agent's and the extender's are
//! (tests/tests/rbac.rs): `deploy/base/kubectl-eip-user-rbac.yaml` is loaded into the
//! sandbox API server, which enforces it; a ServiceAccount bound to `kube-eip-user` only
//! runs show, request (pod and Deployment, --wait), release and version through the real
//! agents and extender; none of its requests is denied.

mod common;

use std::time::Duration;

use common::{Cluster, pod, run_with};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject, GroupVersionKind, PostParams};
use kube::discovery::ApiResource;
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

    for args in [
        &["request", "web", "--wait", "--timeout", "20s"][..],
        &["show"],
        &["show", "-A", "-o", "json"],
        &["show", "deploy/game"],
        &["request", "deploy/game", "--bandwidth", "20"],
        &["release", "deploy/game", "--yes"],
        &["release", "web", "--yes"],
        &["version"],
    ] {
        let r = run_with(&kc, home, args).await?;
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
    }
    let denied: Vec<String> = c
        .stack
        .api_server()
        .audit()
        .into_iter()
        .filter(|(e, _)| e.user == "system:serviceaccount:default:user" && !e.allowed)
        .map(|(e, _)| format!("{:?}", e.attributes))
        .collect();
    assert!(denied.is_empty(), "denied: {denied:#?}");
    c.stack.shutdown().await?;
    Ok(())
}
