//! Authentication and RBAC over HTTP: token users are held to the stored Roles,
//! ClusterRoles and bindings (kube-rs clients see 403 `Status` objects as
//! from a real server), unknown tokens get 401, the admin (no token) is unchecked, and
//! what each user was served is recorded. (kubectl sends no bearer token to a plain-HTTP
//! server, so kubectl is always the admin here.)

mod apiserver_util;

use apiserver_util::{bounded, eventually, start};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use sandbox::apiserver::rbac::UserInfo;
use serde_json::json;

fn obj<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> anyhow::Result<T> {
    Ok(serde_json::from_value(v)?)
}

async fn grant(admin: &kube::Client) -> anyhow::Result<()> {
    let pp = PostParams::default();
    Api::<ClusterRole>::all(admin.clone())
        .create(
            &pp,
            &obj(json!({
                "metadata": {"name": "demo:pod-reader"},
                "rules": [
                    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
                    {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch"]},
                ],
            }))?,
        )
        .await?;
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&pp, &obj(json!({
            "metadata": {"name": "demo:pod-reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "demo:pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "default"}],
        }))?)
        .await?;
    Api::<Role>::namespaced(admin.clone(), "kube-system")
        .create(&pp, &obj(json!({
            "metadata": {"name": "demo"},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["eni-config"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            ],
        }))?)
        .await?;
    Api::<RoleBinding>::namespaced(admin.clone(), "kube-system")
        .create(&pp, &obj(json!({
            "metadata": {"name": "demo"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "demo"},
            "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "default"}],
        }))?)
        .await?;
    Ok(())
}

fn status_of(e: &kube::Error) -> Option<(u16, String, String)> {
    match e {
        kube::Error::Api(s) => Some((s.code, s.reason.clone(), s.message.clone())),
        _ => None,
    }
}

#[tokio::test]
async fn token_users_are_held_to_their_roles_and_recorded() -> anyhow::Result<()> {
    bounded(async {
        let (server, admin) = start().await?;
        grant(&admin).await?;
        let pp = PostParams::default();
        Api::<Pod>::namespaced(admin.clone(), "default")
            .create(&pp, &obj(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}))?)
            .await?;
        for name in ["eni-config", "other"] {
            Api::<ConfigMap>::namespaced(admin.clone(), "kube-system")
                .create(&pp, &obj(json!({"metadata": {"name": name}}))?)
                .await?;
        }
        let app = server
            .client_with_token(&server.service_account_token("default", "app"))
            .await?;

        // Allowed: cluster-wide reads, a subresource, a named ConfigMap (also as a
        // watch narrowed by a metadata.name field selector), a Lease create.
        let pods: Api<Pod> = Api::all(app.clone());
        assert_eq!(pods.list(&ListParams::default()).await?.items.len(), 1);
        let pods_here: Api<Pod> = Api::namespaced(app.clone(), "default");
        pods_here
            .patch_status(
                "p",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Running"}})),
            )
            .await?;
        let cms: Api<ConfigMap> = Api::namespaced(app.clone(), "kube-system");
        cms.get("eni-config").await?;
        let mut stream = futures::StreamExt::boxed(watcher(
            cms.clone(),
            watcher::Config::default().fields("metadata.name=eni-config"),
        ));
        let listed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while let Some(ev) = futures::StreamExt::next(&mut stream).await {
                if let watcher::Event::InitDone = ev? {
                    return Ok::<_, watcher::Error>(());
                }
            }
            Ok(())
        })
        .await?;
        listed?;
        // The watch that follows the list.
        let watching = tokio::spawn(async move { while futures::StreamExt::next(&mut stream).await.is_some() {} });
        let user = UserInfo::service_account("default", "app").name;
        eventually(std::time::Duration::from_secs(5), || {
            let seen = server.audit().iter().any(|(e, _)| {
                e.user == user && e.attributes.verb == "watch" && e.attributes.name == "eni-config"
            });
            async move { seen.then_some(()) }
        })
        .await?;
        watching.abort();
        Api::<Lease>::namespaced(app.clone(), "kube-system")
            .create(&pp, &obj(json!({"metadata": {"name": "l"}}))?)
            .await?;

        // Denied, each with the API server's Status.
        let e = pods_here
            .patch("p", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})))
            .await
            .err();
        assert_eq!(
            e.as_ref().and_then(status_of),
            Some((
                403,
                "Forbidden".to_string(),
                "pods \"p\" is forbidden: User \"system:serviceaccount:default:app\" cannot patch resource \"pods\" in API group \"\" in the namespace \"default\"".to_string()
            ))
        );
        let e = cms.get("other").await.err();
        assert_eq!(e.as_ref().and_then(status_of).map(|s| s.0), Some(403));
        let e = cms.list(&ListParams::default()).await.err();
        assert_eq!(e.as_ref().and_then(status_of).map(|s| s.0), Some(403));
        let e = Api::<Secret>::all(app.clone()).list(&ListParams::default()).await.err();
        assert_eq!(
            e.as_ref().and_then(status_of).map(|s| s.2),
            Some("secrets is forbidden: User \"system:serviceaccount:default:app\" cannot list resource \"secrets\" in API group \"\" at the cluster scope".to_string())
        );
        // A Role reaches only its namespace.
        let e = Api::<Lease>::namespaced(app.clone(), "default")
            .create(&pp, &obj(json!({"metadata": {"name": "l"}}))?)
            .await
            .err();
        assert_eq!(e.as_ref().and_then(status_of).map(|s| s.0), Some(403));

        // Another ServiceAccount of the same name elsewhere is nobody here.
        let stranger = server
            .client_with_token(&server.service_account_token("other", "app"))
            .await?;
        let e = Api::<Pod>::all(stranger).list(&ListParams::default()).await.err();
        assert_eq!(e.as_ref().and_then(status_of).map(|s| s.0), Some(403));
        // An unknown token is not a user at all.
        let nobody = server.client_with_token("not-issued").await?;
        let e = Api::<Pod>::all(nobody).list(&ListParams::default()).await.err();
        assert_eq!(
            e.as_ref().and_then(status_of).map(|s| (s.0, s.1)),
            Some((401, "Unauthorized".to_string()))
        );
        // The admin is unchecked and unrecorded.
        Api::<Secret>::all(admin.clone()).list(&ListParams::default()).await?;

        let audit = server.audit();
        let served: Vec<String> = audit
            .iter()
            .filter(|(e, _)| e.user == user && e.allowed && e.attributes.resource_request)
            .map(|(e, _)| {
                let a = &e.attributes;
                format!("{} {}/{} {} {}", a.verb, a.api_group, a.combined_resource(), a.namespace, a.name)
            })
            .collect();
        for want in [
            "list /pods  ",
            "patch /pods/status default p",
            "get /configmaps kube-system eni-config",
            "list /configmaps kube-system eni-config",
            "watch /configmaps kube-system eni-config",
            "create coordination.k8s.io/leases kube-system ",
        ] {
            assert!(
                served.iter().any(|s| s.starts_with(want)),
                "{want:?} not in {served:#?}"
            );
        }
        let denied = audit.iter().filter(|(e, _)| e.user == user && !e.allowed).count();
        assert_eq!(denied, 5, "{audit:#?}");
        assert!(audit.iter().all(|(e, _)| !e.user.is_empty()));
        server.shutdown().await;
        Ok(())
    })
    .await
}
