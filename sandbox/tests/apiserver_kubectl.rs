//! The real `kubectl` binary against the sandbox API server: get (tables,
//! wide, json, yaml), get -w, create -f, apply -f (the PodEIP CRD and
//! manifests), annotate, label, patch --type merge|json, delete.

mod apiserver_util;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use apiserver_util::{bounded, eventually, start};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use sandbox::apiserver::RunningApiServer;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

const KUBECTL: &str = "kubectl";

/// kubectl with its own kubeconfig and HOME (so its discovery cache is per test).
struct Kubectl {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn new(server: &RunningApiServer) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig)?;
        Ok(Self { dir, kubeconfig })
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(KUBECTL);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        let out = tokio::time::timeout(Duration::from_secs(30), self.command(args).output())
            .await
            .map_err(|_| anyhow::anyhow!("kubectl {args:?} timed out"))??;
        Ok(Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run and require success; returns stdout.
    async fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.run(args).await?;
        if !out.ok {
            anyhow::bail!("kubectl {args:?} failed: {}{}", out.stdout, out.stderr);
        }
        Ok(out.stdout)
    }

    fn file(&self, name: &str, content: &str) -> anyhow::Result<String> {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content)?;
        Ok(p.display().to_string())
    }
}

/// The whitespace-separated cells of each line.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn podeip_crd() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(eip_core::podeip::CRD_PATH)
        .display()
        .to_string()
}

async fn seed_node_and_pod(client: &kube::Client) -> anyhow::Result<()> {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/worker": ""}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.0.10"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Alibaba Cloud Linux", "kernelVersion": "5.10",
                         "containerRuntimeVersion": "containerd://1.7", "machineID": "", "systemUUID": "",
                         "bootID": "", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}
        }
    }))?;
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web-0"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]}
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    pods.patch_status(
        "web-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "phase": "Running", "podIP": "10.0.0.7",
            "containerStatuses": [{"name": "c", "ready": true, "restartCount": 1, "image": "nginx",
                                   "imageID": "", "state": {"running": {}}}]
        }})),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn kubectl_get_tables_and_output_formats() -> anyhow::Result<()> {
    bounded(async {
        let (server, client) = start().await?;
        seed_node_and_pod(&client).await?;
        let k = Kubectl::new(&server)?;

        let pods = rows(&k.ok(&["get", "pods"]).await?);
        assert_eq!(pods[0], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
        assert_eq!(pods[1][..4], ["web-0", "1/1", "Running", "1"]);

        let wide = rows(&k.ok(&["get", "pods", "-o", "wide"]).await?);
        assert_eq!(
            wide[0],
            [
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NODE",
                "NOMINATED",
                "NODE",
                "READINESS",
                "GATES"
            ]
        );
        assert_eq!(wide[1][5..7], ["10.0.0.7", "n1"]);

        let nodes = rows(&k.ok(&["get", "nodes"]).await?);
        assert_eq!(nodes[0], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
        assert_eq!(nodes[1][..3], ["n1", "Ready", "worker"]);
        assert_eq!(nodes[1][4], "v1.33.0");
        assert_eq!(k.ok(&["cordon", "n1"]).await?.trim(), "node/n1 cordoned");
        let cordoned = rows(&k.ok(&["get", "nodes"]).await?);
        assert_eq!(cordoned[1][1], "Ready,SchedulingDisabled");
        assert_eq!(
            k.ok(&["uncordon", "n1"]).await?.trim(),
            "node/n1 uncordoned"
        );
        let nodes_wide = k.ok(&["get", "no", "-o", "wide"]).await?;
        assert!(nodes_wide.contains("192.168.0.10"), "{nodes_wide}");

        // kubectl uses aggregated discovery: no per-group/version requests.
        let fresh_cache = k.dir.path().join("fresh-cache");
        let fresh_cache = fresh_cache.display().to_string();
        let verbose = k
            .run(&["api-resources", "-v=6", "--cache-dir", &fresh_cache])
            .await?;
        assert!(verbose.ok, "{}", verbose.stderr);
        assert!(verbose.stdout.contains("customresourcedefinitions"));
        assert!(verbose.stderr.contains("/apis"), "{}", verbose.stderr);
        assert!(
            !verbose.stderr.contains("/apis/apps/v1"),
            "{}",
            verbose.stderr
        );

        let ns = rows(&k.ok(&["get", "namespaces"]).await?);
        let names: Vec<&str> = ns.iter().skip(1).map(|r| r[0].as_str()).collect();
        assert_eq!(
            names,
            ["default", "kube-node-lease", "kube-public", "kube-system"]
        );

        let as_json: serde_json::Value =
            serde_json::from_str(&k.ok(&["get", "pod", "web-0", "-o", "json"]).await?)?;
        assert_eq!(as_json["kind"], "Pod");
        assert_eq!(as_json["spec"]["nodeName"], "n1");
        let as_yaml: serde_json::Value =
            serde_saphyr::from_str(&k.ok(&["get", "pod", "web-0", "-o", "yaml"]).await?)?;
        assert_eq!(as_yaml["status"]["podIP"], "10.0.0.7");
        let list: serde_json::Value =
            serde_json::from_str(&k.ok(&["get", "pods", "-o", "json"]).await?)?;
        assert_eq!(list["items"][0]["metadata"]["name"], "web-0");

        let missing = k.run(&["get", "configmap", "nope"]).await?;
        assert!(!missing.ok);
        assert!(
            missing
                .stderr
                .contains("Error from server (NotFound): configmaps \"nope\" not found"),
            "{}",
            missing.stderr
        );

        // Graceful deletion shows Terminating until the node confirms.
        k.ok(&["delete", "pod", "web-0", "--wait=false"]).await?;
        let terminating = rows(&k.ok(&["get", "pods"]).await?);
        assert_eq!(terminating[1][2], "Terminating");
        k.ok(&["delete", "pod", "web-0", "--grace-period=0", "--force"])
            .await?;
        let none = k.run(&["get", "pods"]).await?;
        assert!(
            none.stderr
                .contains("No resources found in default namespace."),
            "{}",
            none.stderr
        );
        Ok(())
    })
    .await
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  labels:\n    app: demo\ndata:\n  a: \"1\"\n";

const MANIFEST: &str = r#"apiVersion: kube-eip.io/v1alpha1
kind: PodEIP
metadata:
  name: web-0
spec:
  type: Auto
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: eni-config
  namespace: kube-system
data:
  eni_conf: '{"enable_eip_pool": "true"}'
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: nginx
"#;

#[tokio::test]
async fn kubectl_create_apply_annotate_label_patch_delete() -> anyhow::Result<()> {
    bounded(async {
        let (server, client) = start().await?;
        let k = Kubectl::new(&server)?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

        let cm_file = k.file("cm.yaml", CM)?;
        assert_eq!(
            k.ok(&["create", "-f", &cm_file]).await?.trim(),
            "configmap/demo created"
        );
        assert_eq!(
            cms.get("demo")
                .await?
                .data
                .and_then(|d| d.get("a").cloned())
                .as_deref(),
            Some("1")
        );
        let again = k.run(&["create", "-f", &cm_file]).await?;
        assert!(!again.ok);
        assert!(again.stderr.contains("AlreadyExists"), "{}", again.stderr);

        // The CRD from deploy/, then a manifest using it and built-in kinds.
        assert_eq!(
            k.ok(&["apply", "-f", &podeip_crd()]).await?.trim(),
            "customresourcedefinition.apiextensions.k8s.io/podeips.kube-eip.io created"
        );
        assert_eq!(
            k.ok(&["apply", "-f", &podeip_crd()]).await?.trim(),
            "customresourcedefinition.apiextensions.k8s.io/podeips.kube-eip.io unchanged"
        );
        let manifest = k.file("manifest.yaml", MANIFEST)?;
        let applied = k.ok(&["apply", "-f", &manifest]).await?;
        assert_eq!(
            applied.lines().collect::<Vec<_>>(),
            [
                "podeip.kube-eip.io/web-0 created",
                "configmap/eni-config created",
                "deployment.apps/web created"
            ]
        );
        let changed = k.file(
            "manifest.yaml",
            &MANIFEST.replace("replicas: 2", "replicas: 3"),
        )?;
        let reapplied = k.ok(&["apply", "-f", &changed]).await?;
        assert_eq!(
            reapplied.lines().collect::<Vec<_>>(),
            [
                "podeip.kube-eip.io/web-0 unchanged",
                "configmap/eni-config unchanged",
                "deployment.apps/web configured"
            ]
        );
        let deploy = k.ok(&["get", "deploy", "web", "-o", "json"]).await?;
        let deploy: serde_json::Value = serde_json::from_str(&deploy)?;
        assert_eq!(deploy["spec"]["replicas"], 3);
        assert_eq!(deploy["metadata"]["generation"], 2);

        // Printer columns from the CRD, with status written through the API.
        let podeips: Api<kube::api::DynamicObject> = Api::namespaced_with(
            client.clone(),
            "default",
            &kube::discovery::ApiResource::erase::<eip_core::podeip::PodEIP>(&()),
        );
        podeips
            .patch_status(
                "web-0",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"status": {"phase": "Bound", "eipAddress": "47.1.2.3",
                                                "allocationId": "eip-123", "node": "n1"}}),
                ),
            )
            .await?;
        let table = rows(&k.ok(&["get", "peip"]).await?);
        assert_eq!(
            table[0],
            ["NAME", "EIP", "ALLOCATION", "PHASE", "NODE", "AGE"]
        );
        assert_eq!(
            table[1][..5],
            ["web-0", "47.1.2.3", "eip-123", "Bound", "n1"]
        );

        assert_eq!(
            k.ok(&["annotate", "configmap", "demo", "team=net"])
                .await?
                .trim(),
            "configmap/demo annotated"
        );
        assert_eq!(
            k.ok(&["label", "configmap", "demo", "tier=edge"])
                .await?
                .trim(),
            "configmap/demo labeled"
        );
        assert_eq!(
            k.ok(&[
                "patch",
                "configmap",
                "demo",
                "--type",
                "merge",
                "-p",
                r#"{"data":{"b":"2"}}"#
            ])
            .await?
            .trim(),
            "configmap/demo patched"
        );
        assert_eq!(
            k.ok(&[
                "patch",
                "configmap",
                "demo",
                "--type",
                "json",
                "-p",
                r#"[{"op":"remove","path":"/data/a"}]"#
            ])
            .await?
            .trim(),
            "configmap/demo patched"
        );
        let demo = cms.get("demo").await?;
        assert_eq!(
            demo.metadata
                .annotations
                .unwrap_or_default()
                .get("team")
                .map(String::as_str),
            Some("net")
        );
        let labels = demo.metadata.labels.unwrap_or_default();
        assert_eq!(labels.get("tier").map(String::as_str), Some("edge"));
        assert_eq!(labels.get("app").map(String::as_str), Some("demo"));
        assert_eq!(demo.data, Some([("b".to_string(), "2".to_string())].into()));
        let selected = rows(&k.ok(&["get", "cm", "-l", "tier=edge"]).await?);
        assert_eq!(selected.len(), 2);
        assert_eq!(selected[1][0], "demo");

        assert_eq!(
            k.ok(&["delete", "configmap", "demo"]).await?.trim(),
            "configmap \"demo\" deleted"
        );
        assert!(cms.get_opt("demo").await?.is_none());
        let deleted = k.ok(&["delete", "-f", &changed]).await?;
        assert_eq!(deleted.lines().count(), 3, "{deleted}");
        assert!(podeips.get_opt("web-0").await?.is_none());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn kubectl_get_watch_prints_changes() -> anyhow::Result<()> {
    bounded(async {
        let (server, client) = start().await?;
        let k = Kubectl::new(&server)?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "before"}, "data": {"a": "1"}}))?,
        )
        .await?;
        let mut child = k
            .command(&["get", "configmaps", "-w"])
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let mut next = async || -> anyhow::Result<Vec<String>> {
            let l = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await??
                .ok_or_else(|| anyhow::anyhow!("kubectl get -w ended"))?;
            Ok(l.split_whitespace().map(str::to_string).collect())
        };
        assert_eq!(next().await?, ["NAME", "DATA", "AGE"]);
        assert_eq!(next().await?[..2], ["before", "1"]);
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "after"}, "data": {"a": "1", "b": "2"}}),
            )?,
        )
        .await?;
        assert_eq!(next().await?[..2], ["after", "2"]);
        cms.patch(
            "before",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"c": "3"}})),
        )
        .await?;
        assert_eq!(next().await?[..2], ["before", "2"]);
        child.kill().await?;
        // The server keeps serving after a watcher goes away.
        eventually(Duration::from_secs(5), || {
            let cms = cms.clone();
            async move { cms.get_opt("after").await.ok().flatten() }
        })
        .await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn kubectl_imperative_create_and_scale() -> anyhow::Result<()> {
    bounded(async {
        let (server, client) = start().await?;
        let k = Kubectl::new(&server)?;
        // These generators send protobuf bodies.
        assert_eq!(
            k.ok(&["create", "namespace", "demo"]).await?.trim(),
            "namespace/demo created"
        );
        assert_eq!(
            k.ok(&[
                "create",
                "configmap",
                "c1",
                "-n",
                "demo",
                "--from-literal=a=b"
            ])
            .await?
            .trim(),
            "configmap/c1 created"
        );
        assert_eq!(
            k.ok(&[
                "create",
                "secret",
                "generic",
                "s1",
                "-n",
                "demo",
                "--from-literal=pw=hunter2"
            ])
            .await?
            .trim(),
            "secret/s1 created"
        );
        let cm = Api::<ConfigMap>::namespaced(client.clone(), "demo")
            .get("c1")
            .await?;
        assert_eq!(cm.data, Some([("a".to_string(), "b".to_string())].into()));
        let secret = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), "demo")
            .get("s1")
            .await?;
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        let pw = secret
            .data
            .unwrap_or_default()
            .get("pw")
            .map(|b| b.0.clone());
        assert_eq!(pw.as_deref(), Some(&b"hunter2"[..]));
        let table = rows(&k.ok(&["get", "secrets", "-n", "demo"]).await?);
        assert_eq!(table[1][..3], ["s1", "Opaque", "1"]);

        // The scale subresource.
        let manifest = k.file(
            "deploy.yaml",
            &MANIFEST
                .split("---")
                .nth(2)
                .unwrap_or_default()
                .replace("name: web", "name: web\n  namespace: demo"),
        )?;
        k.ok(&["apply", "-f", &manifest]).await?;
        assert_eq!(
            k.ok(&["scale", "deployment", "web", "-n", "demo", "--replicas=5"])
                .await?
                .trim(),
            "deployment.apps/web scaled"
        );
        let deploy =
            Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), "demo")
                .get("web")
                .await?;
        assert_eq!(deploy.spec.and_then(|s| s.replicas), Some(5));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn kubectl_shows_recorder_events() -> anyhow::Result<()> {
    bounded(async {
        let (server, client) = start().await?;
        seed_node_and_pod(&client).await?;
        let k = Kubectl::new(&server)?;
        let pod = Api::<Pod>::namespaced(client.clone(), "default")
            .get("web-0")
            .await?;
        let recorder = kube::runtime::events::Recorder::new(
            client.clone(),
            kube::runtime::events::Reporter {
                controller: "eip-agent".into(),
                instance: Some("n1".into()),
            },
        );
        recorder
            .publish(
                &kube::runtime::events::Event {
                    type_: kube::runtime::events::EventType::Warning,
                    reason: "EipQuotaExceeded".into(),
                    note: Some("the region has no EIP quota left".into()),
                    action: "Allocate".into(),
                    secondary: None,
                },
                &k8s_openapi::api::core::v1::ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: pod.metadata.name.clone(),
                    namespace: pod.metadata.namespace.clone(),
                    uid: pod.metadata.uid.clone(),
                    ..Default::default()
                },
            )
            .await?;
        let events = rows(&k.ok(&["get", "events"]).await?);
        assert_eq!(
            events[0],
            ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        );
        assert_eq!(
            events[1][1..4],
            ["Warning", "EipQuotaExceeded", "pod/web-0"]
        );
        let described = k.ok(&["describe", "pod", "web-0"]).await?;
        assert!(
            described.contains("Warning  EipQuotaExceeded")
                && described.contains("the region has no EIP quota left"),
            "{described}"
        );
        Ok(())
    })
    .await
}

const DEPLOY_KINDS: &str = r#"apiVersion: v1
kind: ServiceAccount
metadata: {name: eip-agent, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: eip-agent}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: eip-agent}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: eip-agent}
subjects:
- {kind: ServiceAccount, name: eip-agent, namespace: kube-system}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: eip-agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: eip-agent}}
  template:
    metadata: {labels: {app: eip-agent}}
    spec:
      serviceAccountName: eip-agent
      containers: [{name: agent, image: kube-eip/agent}]
---
apiVersion: v1
kind: Service
metadata: {name: eip-extender, namespace: kube-system}
spec:
  selector: {app: eip-extender}
  ports: [{port: 443, targetPort: 8443}]
"#;

#[tokio::test]
async fn kubectl_applies_deployment_manifest_kinds() -> anyhow::Result<()> {
    bounded(async {
        let (server, _client) = start().await?;
        let k = Kubectl::new(&server)?;
        let file = k.file("deploy.yaml", DEPLOY_KINDS)?;
        let out = k.ok(&["apply", "-f", &file]).await?;
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [
                "serviceaccount/eip-agent created",
                "clusterrole.rbac.authorization.k8s.io/eip-agent created",
                "clusterrolebinding.rbac.authorization.k8s.io/eip-agent created",
                "daemonset.apps/eip-agent created",
                "service/eip-extender created",
            ]
        );
        let again = k.ok(&["apply", "-f", &file]).await?;
        assert!(again.lines().all(|l| l.ends_with(" unchanged")), "{again}");
        let names = k
            .ok(&["get", "ds,svc,sa", "-n", "kube-system", "-o", "name"])
            .await?;
        assert_eq!(
            names.lines().collect::<Vec<_>>(),
            [
                "daemonset.apps/eip-agent",
                "service/eip-extender",
                "serviceaccount/eip-agent"
            ]
        );
        Ok(())
    })
    .await
}

/// A CRD of another group, to show the schemas served are whatever CRDs say.
const CRONTAB_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Cluster
  names: {plural: crontabs, singular: crontab, kind: CronTab, listKind: CronTabCollection}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        description: A periodic job.
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string, description: When to run (cron syntax).}
              replicas: {type: integer, description: How many at once.}
"#;

#[tokio::test]
async fn kubectl_explain_reads_crd_schemas_from_openapi_v3() -> anyhow::Result<()> {
    bounded(async {
        let (server, _client) = start().await?;
        let k = Kubectl::new(&server)?;
        k.ok(&["apply", "-f", &podeip_crd()]).await?;

        let top = k.ok(&["explain", "podeip"]).await?;
        let lines: Vec<&str> = top.lines().collect();
        assert_eq!(
            lines[..3],
            [
                "GROUP:      kube-eip.io",
                "KIND:       PodEIP",
                "VERSION:    v1alpha1"
            ],
            "{top}"
        );
        assert!(
            top.contains("The EIP of one pod (same namespace and name as the pod)"),
            "the CRD's own description: {top}"
        );
        for field in [
            "  apiVersion\t<string>",
            "  kind\t<string>",
            "  metadata\t<ObjectMeta>",
            "  spec\t<Object> -required-",
            "  status\t<Object>",
        ] {
            assert!(lines.contains(&field), "{field:?} in {top}");
        }

        let spec = k.ok(&["explain", "podeip.spec"]).await?;
        assert!(spec.contains("FIELD: spec <Object>"), "{spec}");
        assert!(spec.contains("Desired state of a pod's EIP."), "{spec}");
        assert!(
            spec.lines().any(|l| l == "  type\t<string> -required-"),
            "{spec}"
        );
        assert!(spec.contains("enum: Follow, Never, TTL"), "{spec}");

        // Through the reference to ObjectMeta, resolved in the same document.
        let name = k.ok(&["explain", "podeip.metadata.name"]).await?;
        assert!(name.contains("FIELD: name <string>"), "{name}");

        // Any CRD, any group: the schema is the CRD's.
        let file = k.file("crontab.yaml", CRONTAB_CRD)?;
        k.ok(&["apply", "-f", &file]).await?;
        let cron = k.ok(&["explain", "crontab.spec"]).await?;
        assert!(cron.contains("GROUP:      stable.example.com"), "{cron}");
        assert!(cron.contains("When to run (cron syntax)."), "{cron}");

        // The documents kubectl read, keyed as upstream keys them.
        let http = reqwest::Client::new();
        let index: serde_json::Value = http
            .get(format!("{}/openapi/v3", server.url()))
            .send()
            .await?
            .json()
            .await?;
        let url = index["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(url.starts_with("/openapi/v3/apis/stable.example.com/v1?hash="), "{index}");
        assert!(index["paths"].get("api/v1").is_none(), "built-ins have none");
        let doc: serde_json::Value = http
            .get(format!("{}{url}", server.url()))
            .send()
            .await?
            .json()
            .await?;
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["com.example.stable.v1.CronTab"]["x-kubernetes-group-version-kind"],
            json!([{"group": "stable.example.com", "version": "v1", "kind": "CronTab"}])
        );
        assert_eq!(
            schemas["com.example.stable.v1.CronTabCollection"]["properties"]["items"]["items"]
                ["$ref"],
            "#/components/schemas/com.example.stable.v1.CronTab"
        );
        assert_eq!(
            doc["paths"]["/apis/stable.example.com/v1/crontabs/{name}"]["get"]
                ["x-kubernetes-group-version-kind"],
            json!({"group": "stable.example.com", "version": "v1", "kind": "CronTab"})
        );
        Ok(())
    })
    .await
}
