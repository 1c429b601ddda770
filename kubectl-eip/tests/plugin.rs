//! Exact output of `kubectl eip` — stdout, stderr and exit code — against the whole stack
//! with the real agents, extender and eip-cloudsim: show in every format, request on a pod
//! (with --wait, --overwrite, --dry-run) and on workloads, and every failure a user meets
//! (not found, forbidden, invalid values, a named EIP on two replicas, a --wait timeout,
//! the CRD missing, the API server unreachable, usage errors).

mod common;

use std::time::Duration;

use common::{Cluster, fail, mask, mask_ages, ok, pod, run_with};
use eip_core::annotations::{EIP_BANDWIDTH, POD_WITH_EIP};
use eip_core::names::{ALLOCATED_EIP_ADDRESS, ALLOCATED_EIP_ID};
use eip_core::podeip::PodEIP;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{CustomResourceExt, ResourceExt};
use kubectl_eip::list::{EipList, State};

const TEST_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_and_request_against_the_stack() -> anyhow::Result<()> {
    tokio::time::timeout(TEST_TIMEOUT, scenario())
        .await
        .map_err(|_| anyhow::anyhow!("test timed out after {TEST_TIMEOUT:?}"))?
}

async fn scenario() -> anyhow::Result<()> {
    let c = Cluster::start(2).await?;

    // Nothing asked yet: kubectl's "No resources found" on stderr, exit 0.
    assert_eq!(
        c.eip(&["show"]).await?,
        fail(0, "No EIP requests found in default namespace.\n")
    );

    // A running pod without an EIP gets one, without a restart.
    c.create_pod(pod("web", &[])).await?;
    c.wait_pod("default", "web", "an IP", |p| {
        p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some()
    })
    .await?;
    let r = c
        .eip(&[
            "request",
            "web",
            "--bandwidth",
            "10M",
            "--wait",
            "--timeout",
            "20s",
        ])
        .await?;
    let web = c
        .wait_pod("default", "web", "its EIP", |p| {
            p.annotations().contains_key(ALLOCATED_EIP_ADDRESS)
        })
        .await?;
    let a = web.annotations();
    let ip = a.get(ALLOCATED_EIP_ADDRESS).cloned().unwrap_or_default();
    let id = a.get(ALLOCATED_EIP_ID).cloned().unwrap_or_default();
    let pod_ip = web
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default();
    let node = web
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let values = [ip.as_str(), id.as_str(), pod_ip.as_str(), node.as_str()];
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        mask_ages(&mask(&r.stdout, &values)).replace("pod/web patched\n", ""),
        "\
NAME   NODE     POD-IP            EIP             ALLOCATION-ID              BANDWIDTH   STATUS   AGE
web    node-9   999.999.999.999   99.99.999.999   eip-********************   10M         Bound    AGE
"
    );
    assert!(r.stdout.starts_with("pod/web patched\n"), "{r:?}");
    // Progress without a terminal: plain lines, the last one the outcome.
    assert!(r.stderr.ends_with("web: Bound\n"), "{r:?}");
    assert!(r.stderr.lines().all(|l| l.starts_with("web: ")), "{r:?}");

    let table = c.eip(&["show"]).await?;
    assert_eq!(
        mask_ages(&mask(&table.stdout, &values)),
        "\
NAME   NODE     POD-IP            EIP             ALLOCATION-ID              BANDWIDTH   STATUS   AGE
web    node-9   999.999.999.999   99.99.999.999   eip-********************   10M         Bound    AGE
"
    );
    assert_eq!((table.stderr.as_str(), table.code), ("", 0));

    // wide: the age is no longer last, so it is masked with the values
    let wide = c.eip(&["show", "-o", "wide", "--no-headers"]).await?;
    let wide_text = mask(&wide.stdout, &values);
    let eni = c
        .stack
        .cloud_admin()
        .eip(&id)
        .and_then(|e| e.association.map(|a| a.eni_id))
        .unwrap_or_default();
    let cells: Vec<&str> = wide_text.split_whitespace().collect();
    assert_eq!(
        cells,
        vec![
            "web",
            "node-9",
            "999.999.999.999",
            "99.99.999.999",
            "eip-********************",
            "10M",
            "Bound",
            cells.get(7).copied().unwrap_or_default(),
            "BGP",
            "PayByTraffic",
            "Follow",
            eni.as_str(),
            "Bound"
        ]
    );

    let all = c.eip(&["show", "-A"]).await?;
    assert_eq!(
        mask_ages(&mask(&all.stdout, &values)),
        "\
NAMESPACE   NAME   NODE     POD-IP            EIP             ALLOCATION-ID              BANDWIDTH   STATUS   AGE
default     web    node-9   999.999.999.999   99.99.999.999   eip-********************   10M         Bound    AGE
"
    );
    assert_eq!(c.eip(&["show", "-o", "name"]).await?, ok("pod/web\n"));
    assert_eq!(
        c.eip(&["show", "-l", "app=nobody"]).await?.stderr,
        "No EIP requests found in default namespace.\n"
    );

    // JSON and YAML are the documented EipList, and agree with the pod and the emulator.
    let json = c.eip(&["show", "-A", "-o", "json"]).await?;
    assert_eq!((json.stderr.as_str(), json.code), ("", 0));
    let list: EipList = serde_json::from_str(&json.stdout)?;
    assert_eq!(
        (list.api_version.as_str(), list.kind.as_str()),
        ("kube-eip.io/v1", "EipList")
    );
    assert_eq!(list.items.len(), 1);
    let admin = c.stack.cloud_admin();
    for item in &list.items {
        let pod = c
            .wait_pod(&item.namespace, &item.name, "exists", |_| true)
            .await?;
        let ann = pod.annotations();
        assert_eq!(item.eip_address.as_ref(), ann.get(ALLOCATED_EIP_ADDRESS));
        assert_eq!(item.allocation_id.as_ref(), ann.get(ALLOCATED_EIP_ID));
        let eip = admin
            .eip(item.allocation_id.as_deref().unwrap_or_default())
            .ok_or_else(|| anyhow::anyhow!("{} not in the emulator", item.key()))?;
        assert_eq!(
            item.eip_address.as_deref(),
            Some(eip.ip_address.to_string().as_str())
        );
        assert_eq!(item.bandwidth_mbps, Some(eip.bandwidth));
        let assoc = eip.association.as_ref();
        assert_eq!(item.eni.as_deref(), assoc.map(|a| a.eni_id.as_str()));
        assert_eq!(
            item.pod_ip.as_deref(),
            assoc.map(|a| a.private_ip.to_string()).as_deref()
        );
        assert_eq!((item.state, item.status.as_str()), (State::Bound, "Bound"));
    }
    let yaml = c.eip(&["show", "-A", "-o", "yaml"]).await?;
    let from_yaml: EipList = serde_saphyr::from_str(&yaml.stdout)?;
    assert_eq!(from_yaml, list);

    // The same request again changes nothing; another value needs --overwrite.
    assert_eq!(
        c.eip(&["request", "web", "--bandwidth", "10M"]).await?,
        ok(
            "pod/web unchanged\neip-agent gives the running pod its EIP, without a restart; see it with: kubectl eip show web -n default\n"
        )
    );
    assert_eq!(
        c.eip(&["request", "web", "--bandwidth", "20M"]).await?,
        fail(
            1,
            "error: pod/web already has k8s.aliyun.com/eip-bandwidth=\"10M\"; pass --overwrite to replace it with k8s.aliyun.com/eip-bandwidth=\"20M\"\n"
        )
    );
    assert_eq!(
        c.eip(&[
            "request",
            "web",
            "--bandwidth",
            "20M",
            "--overwrite",
            "--dry-run=client"
        ])
        .await?,
        ok(
            "{\n  \"metadata\": {\n    \"annotations\": {\n      \"k8s.aliyun.com/eip-bandwidth\": \"20M\"\n    }\n  }\n}\n"
        )
    );
    assert_eq!(
        c.eip(&[
            "request",
            "web",
            "--bandwidth",
            "20M",
            "--overwrite",
            "--dry-run=server"
        ])
        .await?,
        ok("pod/web patched (server dry run)\n")
    );
    let still = c.wait_pod("default", "web", "exists", |_| true).await?;
    assert_eq!(
        still.annotations().get(EIP_BANDWIDTH).map(String::as_str),
        Some("10M")
    );
    assert_eq!(
        still.annotations().get(POD_WITH_EIP).map(String::as_str),
        Some("true")
    );

    // Invalid values: eip-core's sentence, naming the object; nothing is written.
    assert_eq!(
        c.eip(&["request", "web", "--bandwidth", "abc"]).await?,
        fail(
            1,
            "error: pod/web: annotation k8s.aliyun.com/eip-bandwidth: value \"abc\" is not a number; use a whole number of Mbit/s from 1 to 200 for PayByTraffic, written 5, 5M, 5Mbps or 5Mbit/s\n"
        )
    );
    assert_eq!(
        c.eip(&["request", "web", "--release-strategy", "soon"])
            .await?,
        fail(
            1,
            "error: pod/web: annotation k8s.aliyun.com/pod-eip-release-strategy: value \"soon\" is neither Follow, Never nor a positive duration; use Follow, Never, or a duration such as 10m or 1h30m\n"
        )
    );

    // Not found, and usage errors (exit 2).
    assert_eq!(
        c.eip(&["show", "nope"]).await?,
        fail(
            1,
            "error: pod \"nope\" not found in namespace \"default\"; check the name and the namespace (-n, or -A to look everywhere)\n"
        )
    );
    assert_eq!(
        c.eip(&["request", "deploy/nope", "-n", "kube-system"])
            .await?,
        fail(
            1,
            "error: deployment.apps \"nope\" not found in namespace \"kube-system\"; check the name and the namespace (-n, or -A to look everywhere)\n"
        )
    );
    assert_eq!(
        c.eip(&["request", "svc/web"]).await?,
        fail(
            2,
            "error: unknown resource type \"svc\" in \"svc/web\"; use NAME for a pod, or TYPE/NAME with TYPE one of pod, deployment (deploy), statefulset (sts), daemonset (ds), replicaset (rs), job or cronjob (cj)\nSee 'kubectl eip request --help' for usage.\n"
        )
    );
    let r = c.eip(&["show", "--output", "xml"]).await?;
    assert_eq!((r.code, r.stdout.as_str()), (2, ""));
    assert!(
        r.stderr
            .starts_with("error: invalid value 'xml' for '--output <OUTPUT>'"),
        "{r:?}"
    );

    // A named EIP on a workload that runs two pods: the seeds' reason, from eip-core.
    let named = c.stack.named_eips().first().cloned().unwrap_or_default();
    let deploy: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "game", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "game"}},
                 "template": {"metadata": {"labels": {"app": "game"}},
                              "spec": {"containers": [{"name": "c", "image": "game"}]}}},
    }))?;
    Api::<Deployment>::namespaced(c.stack.client(), "default")
        .create(&PostParams::default(), &deploy)
        .await?;
    assert_eq!(
        c.eip(&["request", "deploy/game", "--eip-id", &named])
            .await?,
        fail(
            1,
            &format!(
                "error: deployment.apps/game: the pod names EIP {named} but its workload has 2 replicas; an EIP can serve one pod only: use pod-with-eip instead, or run one replica\n"
            )
        )
    );
    assert_eq!(
        c.eip(&["request", "deploy/game", "--release-strategy", "10m"])
            .await?,
        ok(
            "deployment.apps/game patched\nthe pod template changed, so a rollout follows: the new pods get the EIP; see it with: kubectl eip show deploy/game -n default\n"
        )
    );

    // --wait gives up at its timeout: the table says where the pod is (the scheduler's
    // reason), exit 1.
    let mut stuck = pod("stuck", &[]);
    stuck["spec"]["nodeSelector"] = serde_json::json!({"no": "such-node"});
    c.create_pod(stuck).await?;
    let r = c
        .eip(&["request", "stuck", "--wait", "--timeout", "1s"])
        .await?;
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        mask_ages(&r.stdout),
        "\
pod/stuck patched
NAME    NODE     POD-IP   EIP      ALLOCATION-ID   BANDWIDTH   STATUS                                                                                                                                                                           AGE
stuck   <none>   <none>   <none>   <none>          5M          Unschedulable: 0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling..   AGE
"
    );
    assert!(
        r.stderr.ends_with("error: timed out after 1s waiting for the EIP of pod/stuck; kubectl eip show says where it is\n"),
        "{r:?}"
    );

    // release: says what becomes of the EIP, then eip-agent releases it (Follow).
    let r = c.eip(&["release", "web", "--yes"]).await?;
    assert_eq!(
        mask(&r.stdout, &values),
        "pod/web patched\nthe EIP 99.99.999.999 (eip-********************) is unbound and released by eip-agent (release strategy Follow)\n"
    );
    assert_eq!((r.stderr.as_str(), r.code), ("", 0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while admin.eip(&id).is_some() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{id} not released in 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        c.eip(&["release", "web"]).await?,
        ok("pod/web unchanged: it asks for no EIP\n")
    );
    let r = c.eip(&["release", "deploy/game", "--yes"]).await?;
    assert!(
        r.stdout.starts_with("deployment.apps/game patched\nthe pod template changes, so a rollout follows; for each pod, the EIP, if one was allocated, is unbound and kept for 10m (until about "),
        "{r:?}"
    );

    // Forbidden: a ServiceAccount with no RBAC at all.
    let sa = c.service_account_kubeconfig("default", "nobody")?;
    assert_eq!(
        run_with(&sa, c.dir.path(), &["show"]).await?,
        fail(
            1,
            "error: User \"system:serviceaccount:default:nobody\" may not list pods in namespace \"default\"; ask a cluster admin to bind the ClusterRole kube-eip-user (deploy/base/kubectl-eip-user-rbac.yaml), which grants what kubectl eip needs\n"
        )
    );

    // The CRD missing.
    Api::<CustomResourceDefinition>::all(c.stack.client())
        .delete(PodEIP::crd_name(), &DeleteParams::default())
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = c.eip(&["show"]).await?;
        if r.code == 1 {
            assert_eq!(
                r,
                fail(
                    1,
                    "error: the PodEIP CustomResourceDefinition (podeips.kube-eip.io) is not installed; install kube-eip first: kubectl apply -k deploy/base\n"
                )
            );
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "CRD still served: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.stack.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn an_unreachable_api_server_is_one_line() -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(20), async {
        let dir = tempfile::tempdir()?;
        // a port that was free a moment ago: nothing listens on it
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let kc = dir.path().join("kubeconfig");
        std::fs::write(
            &kc,
            format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n    namespace: games\ncurrent-context: x\n"),
        )?;
        assert_eq!(
            run_with(&kc, dir.path(), &["show"]).await?,
            fail(1, &format!("error: cannot reach the API server at http://127.0.0.1:{port} (Connection refused (os error 111)); check that the cluster is running and that --kubeconfig/--context point at it\n"))
        );
        assert_eq!(
            run_with(&kc, dir.path(), &["show", "--context", "other"]).await?,
            fail(1, "error: invalid kubeconfig: failed to load current context: other; check --context and the kubeconfig's contexts (kubectl config get-contexts)\n")
        );
        Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("test timed out"))?
}

/// `kubectl plugin list` and `kubectl eip ...` through the real kubectl find the binary on
/// PATH.
#[tokio::test]
async fn kubectl_finds_the_plugin_on_path() -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(30), async {
        let kubectl = which("kubectl")
            .ok_or_else(|| anyhow::anyhow!("kubectl is not on PATH; make test needs it"))?;
        // Installed as a user installs it: the binary alone in a directory on PATH (cargo's
        // target directory also holds kubectl-eip.d, which kubectl would list too).
        let home = tempfile::tempdir()?;
        let bin_dir = home.path().join("bin");
        std::fs::create_dir(&bin_dir)?;
        std::fs::copy(common::BIN, bin_dir.join("kubectl-eip"))?;
        let run = |args: &'static [&'static str]| {
            let mut c = tokio::process::Command::new(&kubectl);
            c.args(args)
                .env("PATH", &bin_dir)
                .env("HOME", home.path())
                .env("KUBECONFIG", home.path().join("none"))
                .kill_on_drop(true);
            async move { c.output().await }
        };
        let list = run(&["plugin", "list"]).await?;
        assert_eq!(
            String::from_utf8_lossy(&list.stdout),
            format!(
                "The following compatible plugins are available:\n\n{}\n",
                bin_dir.join("kubectl-eip").display()
            )
        );
        let v = run(&["eip", "version", "-o", "json"]).await?;
        let versions: kubectl_eip::version::Versions = serde_json::from_slice(&v.stdout)?;
        assert_eq!(versions.kubectl_eip, kubectl_eip::version::VERSION);
        let help = run(&["eip", "--help"]).await?;
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(
            text.contains("Usage: kubectl eip [OPTIONS] <COMMAND>"),
            "{text}"
        );
        let bash = run(&["eip", "completion", "bash"]).await?;
        assert!(
            String::from_utf8_lossy(&bash.stdout)
                .contains("complete -F _kubectl__eip -o bashdefault -o default kubectl-eip")
        );
        Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("test timed out"))?
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}
