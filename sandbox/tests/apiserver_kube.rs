//! kube-rs conformance of the sandbox API server: CRUD, errors as Status
//! objects, optimistic concurrency, patch flavours, status subresource rules,
//! finalizers, graceful pod deletion, binding, selectors.

mod apiserver_util;

use std::time::Duration;

use apiserver_util::{api_code, api_reason, bounded, start};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn cm(name: &str) -> anyhow::Result<ConfigMap> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "data": {"k": "v"}
    }))?)
}

fn pod(name: &str, node: Option<&str>) -> anyhow::Result<Pod> {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": spec}),
    )?)
}

fn node(name: &str) -> anyhow::Result<Node> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }))?)
}

#[tokio::test]
async fn create_get_list_update_delete() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let created = cms.create(&PostParams::default(), &cm("a")?).await?;
        let meta = &created.metadata;
        assert!(meta.uid.as_deref().is_some_and(|u| !u.is_empty()));
        assert!(meta.creation_timestamp.is_some());
        let rv1: u64 = meta
            .resource_version
            .as_deref()
            .unwrap_or_default()
            .parse()?;
        assert_eq!(meta.namespace.as_deref(), Some("default"));

        let got = cms.get("a").await?;
        assert_eq!(got.data, created.data);

        let mut changed = got.clone();
        changed
            .data
            .get_or_insert_default()
            .insert("k2".into(), "v2".into());
        let updated = cms.replace("a", &PostParams::default(), &changed).await?;
        let rv2: u64 = updated
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default()
            .parse()?;
        assert!(rv2 > rv1, "resourceVersion must grow: {rv1} -> {rv2}");

        cms.create(&PostParams::default(), &cm("b")?).await?;
        let list = cms.list(&ListParams::default()).await?;
        let names: Vec<String> = list
            .items
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        assert_eq!(names, vec!["a".to_string(), "b".to_string()]);
        let list_rv: u64 = list
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default()
            .parse()?;
        assert!(list_rv >= rv2);

        cms.delete("a", &DeleteParams::default()).await?;
        let e = cms
            .get("a")
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("a still exists"))?;
        assert_eq!(api_code(&e), Some(404));
        assert_eq!(api_reason(&e).as_deref(), Some("NotFound"));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn errors_are_status_objects_with_real_codes() -> anyhow::Result<()> {
    bounded(async {
        let (server, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.create(&PostParams::default(), &cm("dup")?).await?;
        let e = cms.create(&PostParams::default(), &cm("dup")?).await.err();
        let e = e.ok_or_else(|| anyhow::anyhow!("duplicate accepted"))?;
        assert_eq!(
            (api_code(&e), api_reason(&e).as_deref()),
            (Some(409), Some("AlreadyExists"))
        );
        if let kube::Error::Api(s) = &e {
            assert_eq!(s.message, "configmaps \"dup\" already exists");
        }

        let missing_ns: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
        let e = missing_ns
            .create(&PostParams::default(), &cm("x")?)
            .await
            .err();
        let e = e.ok_or_else(|| anyhow::anyhow!("created in a missing namespace"))?;
        assert_eq!(api_code(&e), Some(404));

        let e = cms
            .create(&PostParams::default(), &cm("Not_Valid")?)
            .await
            .err();
        let e = e.ok_or_else(|| anyhow::anyhow!("invalid name accepted"))?;
        assert_eq!(
            (api_code(&e), api_reason(&e).as_deref()),
            (Some(422), Some("Invalid"))
        );

        // Raw HTTP for what kube-rs never sends: bad JSON and a patch type that does not exist.
        let http = reqwest_like_post(
            &server.url(),
            "/api/v1/namespaces/default/configmaps",
            "{not json",
        )
        .await?;
        assert_eq!(http.0, 400);
        let status: serde_json::Value = serde_json::from_str(&http.1)?;
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["status"], "Failure");
        assert_eq!(status["reason"], "BadRequest");
        assert_eq!(status["code"], 400);
        Ok(())
    })
    .await
}

/// A minimal HTTP/1.1 POST over a TCP stream (the test crate has no HTTP client
/// besides kube's, which always sends valid JSON).
async fn reqwest_like_post(url: &str, path: &str, body: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    let code: u16 = out
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("no status line"))?
        .parse()?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
    // Chunked or not, the JSON object is the part between the first `{` and the last `}`.
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |e| e + 1);
    Ok((code, body.get(start..end).unwrap_or_default().to_string()))
}

#[tokio::test]
async fn stale_update_gets_409_conflict() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let first = cms.create(&PostParams::default(), &cm("c")?).await?;
        let mut a = first.clone();
        a.data = Some([("k".to_string(), "a".to_string())].into());
        cms.replace("c", &PostParams::default(), &a).await?;
        let mut b = first.clone();
        b.data = Some([("k".to_string(), "b".to_string())].into());
        let e = cms.replace("c", &PostParams::default(), &b).await.err();
        let e = e.ok_or_else(|| anyhow::anyhow!("stale update accepted"))?;
        assert_eq!((api_code(&e), api_reason(&e).as_deref()), (Some(409), Some("Conflict")));
        // A merge patch carrying the stale resourceVersion is refused too.
        let p = json!({"metadata": {"resourceVersion": first.metadata.resource_version}, "data": {"k": "c"}});
        let e = cms.patch("c", &PatchParams::default(), &Patch::Merge(&p)).await.err();
        assert_eq!(e.as_ref().and_then(api_code), Some(409));
        assert_eq!(cms.get("c").await?.data.and_then(|d| d.get("k").cloned()).as_deref(), Some("a"));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn generate_name_and_selectors() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let generated: ConfigMap = serde_json::from_value(json!({
            "metadata": {"generateName": "gen-", "labels": {"app": "web", "tier": "fe"}}
        }))?;
        let a = cms.create(&PostParams::default(), &generated).await?;
        let name = a.metadata.name.unwrap_or_default();
        assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
        cms.create(&PostParams::default(), &cm("other")?).await?;
        let count = |sel: &'static str| {
            let cms = cms.clone();
            async move {
                Ok::<usize, anyhow::Error>(
                    cms.list(&ListParams::default().labels(sel))
                        .await?
                        .items
                        .len(),
                )
            }
        };
        assert_eq!(count("app=web").await?, 1);
        assert_eq!(count("app in (web,demo)").await?, 2);
        assert_eq!(count("app notin (web)").await?, 1);
        assert_eq!(count("tier").await?, 1);
        assert_eq!(count("!tier").await?, 1);
        assert_eq!(count("app!=web").await?, 1);
        let by_name = cms
            .list(&ListParams::default().fields("metadata.name=other"))
            .await?;
        assert_eq!(by_name.items.len(), 1);
        let e = cms
            .list(&ListParams::default().fields("spec.nodeName=x"))
            .await
            .err();
        assert_eq!(e.as_ref().and_then(api_code), Some(400));

        let all: Api<ConfigMap> = Api::all(client);
        assert_eq!(all.list(&ListParams::default()).await?.items.len(), 2);
        // Pagination.
        let page = cms.list(&ListParams::default().limit(1)).await?;
        assert_eq!(page.items.len(), 1);
        let token = page.metadata.continue_.clone().unwrap_or_default();
        assert!(!token.is_empty());
        let rest = cms
            .list(&ListParams::default().limit(1).continue_token(&token))
            .await?;
        assert_eq!(rest.items.len(), 1);
        assert_ne!(rest.items[0].metadata.name, page.items[0].metadata.name);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn patch_flavours() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        cms.create(&PostParams::default(), &cm("p")?).await?;
        let pp = PatchParams::default();
        let merged = cms
            .patch(
                "p",
                &pp,
                &Patch::Merge(
                    json!({"metadata": {"annotations": {"a": "1"}}, "data": {"k": null, "n": "1"}}),
                ),
            )
            .await?;
        assert_eq!(
            merged.data,
            Some([("n".to_string(), "1".to_string())].into())
        );
        let jp: json_patch::Patch = serde_json::from_value(json!([
            {"op": "test", "path": "/data/n", "value": "1"},
            {"op": "replace", "path": "/data/n", "value": "2"}
        ]))?;
        let patched = cms.patch("p", &pp, &Patch::<()>::Json(jp)).await?;
        assert_eq!(
            patched.data.and_then(|d| d.get("n").cloned()).as_deref(),
            Some("2")
        );
        let failing: json_patch::Patch =
            serde_json::from_value(json!([{"op": "test", "path": "/data/n", "value": "1"}]))?;
        let e = cms.patch("p", &pp, &Patch::<()>::Json(failing)).await.err();
        assert_eq!(e.as_ref().and_then(api_code), Some(422));
        let sm = cms
            .patch(
                "p",
                &pp,
                &Patch::Strategic(json!({"metadata": {"labels": {"x": "y"}}})),
            )
            .await?;
        let labels = sm.metadata.labels.unwrap_or_default();
        assert_eq!(labels.get("app").map(String::as_str), Some("demo"));
        assert_eq!(labels.get("x").map(String::as_str), Some("y"));

        // Server-side apply creates when absent; a field the manager stops
        // applying is removed (see apiserver_ownership.rs for conflicts).
        let ssa = PatchParams::apply("sandbox-test").force();
        let applied = cms
            .patch(
                "fresh",
                &ssa,
                &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "fresh"}, "data": {"a": "1"}})),
            )
            .await?;
        assert_eq!(applied.metadata.name.as_deref(), Some("fresh"));
        let applied = cms
            .patch(
                "fresh",
                &ssa,
                &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "fresh"}, "data": {"b": "2"}})),
            )
            .await?;
        assert_eq!(
            applied.data.map(|d| d.into_keys().collect::<Vec<_>>()),
            Some(vec!["b".to_string()])
        );
        let e = cms
            .patch(
                "fresh",
                &PatchParams::default(),
                &Patch::Apply(json!({"metadata": {"name": "fresh"}})),
            )
            .await
            .err();
        assert_eq!(
            e.as_ref().and_then(api_code),
            Some(422),
            "apply without a field manager is invalid PatchOptions"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn status_subresource_rules() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let pods: Api<Pod> = Api::namespaced(client, "default");
        let created = pods
            .create(&PostParams::default(), &{
                let mut p = pod("s", None)?;
                p.status = Some(serde_json::from_value(json!({"phase": "Running"}))?);
                p
            })
            .await?;
        let status = created.status.clone().unwrap_or_default();
        assert_eq!(
            status.phase.as_deref(),
            Some("Pending"),
            "status is reset on create"
        );
        let pp = PatchParams::default();
        let p = pods
            .patch(
                "s",
                &pp,
                &Patch::Merge(
                    json!({"metadata": {"labels": {"l": "1"}}, "status": {"phase": "Failed"}}),
                ),
            )
            .await?;
        assert_eq!(
            p.status.and_then(|s| s.phase).as_deref(),
            Some("Pending"),
            "main writes ignore status"
        );
        assert!(p.metadata.labels.is_some_and(|l| l.contains_key("l")));
        let p = pods
            .patch_status(
                "s",
                &pp,
                &Patch::Merge(
                    json!({"metadata": {"labels": {"m": "1"}}, "status": {"phase": "Running"}}),
                ),
            )
            .await?;
        assert_eq!(p.status.and_then(|s| s.phase).as_deref(), Some("Running"));
        assert!(
            !p.metadata.labels.unwrap_or_default().contains_key("m"),
            "status writes ignore metadata"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn strategic_merge_of_pod_conditions_by_type() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let pods: Api<Pod> = Api::namespaced(client, "default");
        pods.create(&PostParams::default(), &pod("c", None)?)
            .await?;
        let pp = PatchParams::default();
        pods.patch_status(
            "c",
            &pp,
            &Patch::Strategic(json!({"status": {"conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "PodScheduled", "status": "True"}
            ]}})),
        )
        .await?;
        let p = pods
            .patch_status(
                "c",
                &pp,
                &Patch::Strategic(json!({"status": {"conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "example.com/eip", "status": "True"}
                ]}})),
            )
            .await?;
        let conds: Vec<(String, String)> = p
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.type_, c.status))
            .collect();
        assert_eq!(
            conds,
            vec![
                ("Ready".to_string(), "True".to_string()),
                ("PodScheduled".to_string(), "True".to_string()),
                ("example.com/eip".to_string(), "True".to_string()),
            ]
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn finalizer_holds_deletion_until_removed() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let mut c = cm("f")?;
        c.metadata.finalizers = Some(vec!["example.com/hold".into()]);
        cms.create(&PostParams::default(), &c).await?;
        cms.delete("f", &DeleteParams::default()).await?;
        let held = cms.get("f").await?;
        assert!(held.metadata.deletion_timestamp.is_some());
        assert_eq!(held.metadata.deletion_grace_period_seconds, Some(0));
        // No new finalizer while terminating.
        let e = cms
            .patch(
                "f",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}}),
                ),
            )
            .await
            .err();
        assert_eq!(e.as_ref().and_then(api_code), Some(422));
        cms.patch(
            "f",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await?;
        let e = cms.get("f").await.err();
        assert_eq!(e.as_ref().and_then(api_code), Some(404));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn graceful_pod_deletion_waits_for_the_node() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let nodes: Api<Node> = Api::all(client.clone());
        nodes.create(&PostParams::default(), &node("n1")?).await?;
        let pods: Api<Pod> = Api::namespaced(client, "default");
        pods.create(&PostParams::default(), &pod("bound", Some("n1"))?)
            .await?;
        pods.create(&PostParams::default(), &pod("unbound", None)?)
            .await?;

        pods.delete("unbound", &DeleteParams::default()).await?;
        assert_eq!(
            pods.get("unbound").await.err().as_ref().and_then(api_code),
            Some(404)
        );

        pods.delete("bound", &DeleteParams::default()).await?;
        let terminating = pods.get("bound").await?;
        assert!(terminating.metadata.deletion_timestamp.is_some());
        assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
        // The kubelet confirms with grace period 0.
        pods.delete(
            "bound",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await?;
        assert_eq!(
            pods.get("bound").await.err().as_ref().and_then(api_code),
            Some(404)
        );

        // A pod whose node object is gone goes at once.
        pods.create(&PostParams::default(), &pod("orphan", Some("n1"))?)
            .await?;
        nodes.delete("n1", &DeleteParams::default()).await?;
        assert_eq!(
            pods.get("orphan").await.err().as_ref().and_then(api_code),
            Some(404)
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn binding_sets_node_and_refuses_a_second_bind() -> anyhow::Result<()> {
    bounded(async {
        let (server, client) = start().await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        pods.create(&PostParams::default(), &pod("b", None)?)
            .await?;
        let binding = json!({"apiVersion": "v1", "kind": "Binding",
                             "metadata": {"name": "b"}, "target": {"kind": "Node", "name": "n1"}});
        let req = |body: serde_json::Value| -> anyhow::Result<http::Request<Vec<u8>>> {
            Ok(
                http::Request::post("/api/v1/namespaces/default/pods/b/binding")
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(&body)?)?,
            )
        };
        let ok: serde_json::Value = client.request(req(binding.clone())?).await?;
        assert_eq!(ok["status"], "Success");
        let p = pods.get("b").await?;
        assert_eq!(p.spec.and_then(|s| s.node_name).as_deref(), Some("n1"));
        let scheduled = p.status.and_then(|s| s.conditions).unwrap_or_default();
        assert!(
            scheduled
                .iter()
                .any(|c| c.type_ == "PodScheduled" && c.status == "True")
        );
        let e = client
            .request::<serde_json::Value>(req(binding)?)
            .await
            .err();
        let e = e.ok_or_else(|| anyhow::anyhow!("second bind accepted"))?;
        assert_eq!(api_code(&e), Some(409));
        if let kube::Error::Api(s) = &e {
            assert!(
                s.message
                    .contains("pod b is already assigned to node \"n1\""),
                "{}",
                s.message
            );
        }
        drop(server);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn namespace_deletion_removes_its_content() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let nss: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "t1"}}))?;
        let created = nss.create(&PostParams::default(), &ns).await?;
        assert_eq!(
            created.status.and_then(|s| s.phase).as_deref(),
            Some("Active")
        );
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "t1");
        cms.create(&PostParams::default(), &cm("x")?).await?;
        nss.delete("t1", &DeleteParams::default()).await?;
        apiserver_util::eventually(Duration::from_secs(5), || {
            let nss = nss.clone();
            async move {
                nss.get_opt("t1")
                    .await
                    .ok()
                    .flatten()
                    .is_none()
                    .then_some(())
            }
        })
        .await?;
        assert_eq!(cms.list(&ListParams::default()).await?.items.len(), 0);
        for n in ["default", "kube-system", "kube-public"] {
            assert!(nss.get_opt(n).await?.is_some(), "{n}");
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn concurrent_read_modify_write_loses_no_update() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let counter: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "counter"}, "data": {"n": "0"}}))?;
        cms.create(&PostParams::default(), &counter).await?;
        let (tasks, increments) = (8, 5);
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let cms = cms.clone();
            handles.push(tokio::spawn(async move {
                let mut conflicts = 0u32;
                for _ in 0..increments {
                    loop {
                        let mut c = cms.get("counter").await?;
                        let data = c.data.get_or_insert_default();
                        let n: u64 = data.get("n").map_or(Ok(0), |n| n.parse())?;
                        data.insert("n".into(), (n + 1).to_string());
                        match cms.replace("counter", &PostParams::default(), &c).await {
                            Ok(_) => break,
                            Err(e) if api_code(&e) == Some(409) => conflicts += 1,
                            Err(e) => return Err(anyhow::Error::from(e)),
                        }
                    }
                }
                Ok::<u32, anyhow::Error>(conflicts)
            }));
        }
        for h in handles {
            h.await??;
        }
        let n = cms
            .get("counter")
            .await?
            .data
            .and_then(|d| d.get("n").cloned());
        assert_eq!(n, Some((tasks * increments).to_string()));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn hostile_requests_get_errors_not_crashes() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let send = |method: &str, uri: &str, ct: &str, body: &str| {
            let req = http::Request::builder()
                .method(method)
                .uri(uri)
                .header("Content-Type", ct)
                .body(body.as_bytes().to_vec());
            let client = client.clone();
            async move {
                Ok::<u16, anyhow::Error>(client.send(req?.map(Into::into)).await?.status().as_u16())
            }
        };
        let cms = "/api/v1/namespaces/default/configmaps";
        assert_eq!(
            send("GET", &format!("{cms}?labelSelector=a%20in%20b"), "", "").await?,
            400
        );
        assert_eq!(
            send("GET", &format!("{cms}?fieldSelector=nonsense"), "", "").await?,
            400
        );
        assert_eq!(
            send(
                "GET",
                &format!("{cms}?watch=true&resourceVersion=abc"),
                "",
                ""
            )
            .await?,
            400
        );
        // An absurd watch timeout is bounded, not an overflow.
        assert_eq!(
            send(
                "GET",
                &format!("{cms}?watch=true&timeoutSeconds=18446744073709551615"),
                "",
                ""
            )
            .await?,
            200
        );
        assert_eq!(send("POST", cms, "application/json", "[1,2]").await?, 400);
        assert_eq!(
            send(
                "POST",
                cms,
                "application/vnd.kubernetes.protobuf",
                "k8s\0\u{1}"
            )
            .await?,
            415
        );
        assert_eq!(
            send("PATCH", &format!("{cms}/x"), "text/plain", "{}").await?,
            415
        );
        assert_eq!(
            send(
                "DELETE",
                &format!("{cms}/x?gracePeriodSeconds=soon"),
                "",
                ""
            )
            .await?,
            400
        );
        assert_eq!(send("PUT", cms, "application/json", "{}").await?, 405);
        assert_eq!(
            send("GET", "/apis/nope.example.com/v1/things", "", "").await?,
            404
        );
        // Still serving.
        assert_eq!(send("GET", "/version", "", "").await?, 200);
        Ok(())
    })
    .await
}
