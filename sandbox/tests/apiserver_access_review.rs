//! SelfSubjectAccessReview (`authorization.k8s.io/v1`) over HTTP: a token user is told
//! what the stored RBAC objects allow it, by the authorizer that judges its requests
//! (a named ConfigMap in one namespace, a subresource, a cluster-wide list, a
//! non-resource URL); every authenticated user may ask (the bootstrap
//! `system:basic-user` rule); the admin (no token, RBAC not enforced) is allowed all.

mod apiserver_util;

use apiserver_util::{bounded, start};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, PostParams};
use serde_json::json;

fn obj<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> anyhow::Result<T> {
    Ok(serde_json::from_value(v)?)
}

fn resource(
    verb: &str,
    group: &str,
    resource: &str,
    ns: &str,
    name: &str,
) -> SelfSubjectAccessReview {
    let opt = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: opt(verb),
                group: opt(group),
                resource: opt(resource),
                subresource: opt(subresource),
                namespace: opt(ns),
                name: opt(name),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    }
}

async fn allowed(client: &kube::Client, review: &SelfSubjectAccessReview) -> anyhow::Result<bool> {
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), review)
        .await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

#[tokio::test]
async fn a_user_is_told_what_rbac_allows_it() -> anyhow::Result<()> {
    bounded(async {
        let (server, admin) = start().await?;
        let pp = PostParams::default();
        Api::<ClusterRole>::all(admin.clone())
            .create(&pp, &obj(json!({
                "metadata": {"name": "reader"},
                "rules": [
                    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]},
                    {"apiGroups": [""], "resources": ["services/proxy"], "resourceNames": ["eip-extender:8484"], "verbs": ["get"]},
                ],
            }))?)
            .await?;
        Api::<ClusterRoleBinding>::all(admin.clone())
            .create(&pp, &obj(json!({
                "metadata": {"name": "reader"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "default"}],
            }))?)
            .await?;
        Api::<Role>::namespaced(admin.clone(), "kube-system")
            .create(&pp, &obj(json!({
                "metadata": {"name": "eni"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["eni-config"], "verbs": ["get"]}],
            }))?)
            .await?;
        Api::<RoleBinding>::namespaced(admin.clone(), "kube-system")
            .create(&pp, &obj(json!({
                "metadata": {"name": "eni"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "eni"},
                "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "default"}],
            }))?)
            .await?;
        let app = server
            .client_with_token(&server.service_account_token("default", "app"))
            .await?;

        let cases = [
            (resource("list", "", "nodes", "", ""), true),
            (resource("get", "", "nodes", "", "n1"), false),
            (resource("get", "", "services/proxy", "kube-eip", "eip-extender:8484"), true),
            (resource("get", "", "services/proxy", "kube-eip", "other:80"), false),
            (resource("get", "", "configmaps", "kube-system", "eni-config"), true),
            (resource("get", "", "configmaps", "kube-system", "other"), false),
            (resource("get", "", "configmaps", "default", "eni-config"), false),
            (resource("list", "", "pods", "", ""), false),
            (resource("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", ""), true),
        ];
        for (review, want) in &cases {
            assert_eq!(
                allowed(&app, review).await?,
                *want,
                "{:?}",
                review.spec.resource_attributes
            );
            // The admin is not held to RBAC.
            assert!(allowed(&admin, review).await?);
        }
        let url = |path: &str| SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(path.to_owned()),
                    verb: Some("get".to_owned()),
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        assert!(allowed(&app, &url("/version")).await?);
        assert!(!allowed(&app, &url("/metrics")).await?);

        // The reason names the grant, as upstream's RBAC authorizer does.
        let answer = Api::<SelfSubjectAccessReview>::all(app.clone())
            .create(&pp, &cases[0].0)
            .await?;
        assert_eq!(
            answer.status.and_then(|s| s.reason).as_deref(),
            Some("RBAC: allowed by ClusterRoleBinding reader of ClusterRole reader")
        );

        // A review with neither kind of attributes is invalid (422), and nothing is stored:
        // only create is served.
        let empty = SelfSubjectAccessReview::default();
        let e = Api::<SelfSubjectAccessReview>::all(app.clone())
            .create(&pp, &empty)
            .await
            .err();
        assert!(matches!(e, Some(kube::Error::Api(ref s)) if s.code == 422), "{e:?}");

        // Every review the user made was itself allowed (system:basic-user).
        let denied: Vec<_> = server
            .audit()
            .into_iter()
            .filter(|(e, _)| e.attributes.resource == "selfsubjectaccessreviews" && !e.allowed)
            .collect();
        assert!(denied.is_empty(), "{denied:?}");
        Ok(())
    })
    .await
}
