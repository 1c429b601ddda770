//! Exact output of `kubectl eip nodes` and `kubectl eip doctor` against the whole stack:
//! nodes from the real extender's `/debug/state` (`--extender`) and from the API alone;
//! doctor on a sandbox with kube-eip's objects missing, then installed, then with an
//! invalid eni-config, then as a user with too little RBAC.

mod common;

use std::time::Duration;

use common::{Cluster, Run, fail, ok, pod, run_with};
use eip_core::annotations::POD_WITH_EIP;
use eip_core::names::ALLOCATED_EIP_ADDRESS;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace};
use kube::ResourceExt as _;
use kube::api::{Api, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use kubectl_eip::extender::{self, DebugState};
use serde_json::{Value, json};

const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `kubectl eip doctor ARGS` with the extender's URL (its port changes) shown as `URL`.
async fn doctor(c: &Cluster, args: &[&str]) -> anyhow::Result<Run> {
    let mut full = vec!["doctor"];
    full.extend(args);
    let r = c.eip(&full).await?;
    Ok(Run {
        stdout: r.stdout.replace(&c.stack.extender_url(), "URL"),
        ..r
    })
}

async fn debug_state(c: &Cluster) -> anyhow::Result<(Value, DebugState)> {
    let body = reqwest::get(format!("{}/debug/state", c.stack.extender_url()))
        .await?
        .text()
        .await?;
    let parsed = extender::parse(&body).map_err(anyhow::Error::msg)?;
    Ok((serde_json::from_str(&body)?, parsed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_from_the_extender_and_from_the_api() -> anyhow::Result<()> {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let c = Cluster::start(2).await?;
        c.create_pod(pod("web", &[(POD_WITH_EIP, "true")])).await?;
        let web = c
            .wait_pod("default", "web", "its EIP", |p| {
                p.annotations().contains_key(ALLOCATED_EIP_ADDRESS)
            })
            .await?;
        let node = web
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();

        // The real extender's /debug/state parses into the plugin's mirror, field for field.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let (raw, state) = loop {
            let (raw, state) = debug_state(&c).await?;
            let settled = state.quota.allocated == Some(2)
                && state.nodes.iter().any(|n| n.name == node && n.used == 1 && n.reserved == 0);
            if settled {
                break (raw, state);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the extender did not see web on {node}: {raw}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mirrored = serde_json::to_value(&state)?;
        for (i, n) in mirrored["nodes"].as_array().into_iter().flatten().enumerate() {
            for (k, v) in n.as_object().into_iter().flatten() {
                assert_eq!(&raw["nodes"][i][k], v, "nodes[{i}].{k}");
            }
        }
        for k in ["quota", "zoneFreeIps", "cloudViewAgeSeconds"] {
            assert_eq!(raw[k], mirrored[k], "{k}");
        }
        assert_eq!(state.nodes.len(), 2);

        let url = c.stack.extender_url();
        let (n1, n2) = if node == "node-1" { (1, 0) } else { (0, 1) };
        // The free IPs per zone move with every pod IP the cloud hands out: their lines are
        // checked for the zones and a count, the rest to the letter.
        let with_extender = c.eip(&["nodes", "--extender", &url]).await?;
        let (table, zones) = with_extender
            .stdout
            .split_once("Free IPs in zone ")
            .map(|(t, z)| (t.to_string(), format!("Free IPs in zone {z}")))
            .unwrap_or_default();
        assert_eq!(
            Run {
                stdout: table,
                ..with_extender.clone()
            },
            ok(&format!(
                "\
NAME     INSTANCE-TYPE   ZONE            IP-SLOTS   USED   RESERVED   FREE   EIP-PODS
node-1   ecs.g7.large    cn-hangzhou-h   20         {n1}      0          {}     {n1}
node-2   ecs.g7.large    cn-hangzhou-i   20         {n2}      0          {}     {n2}

EIPs: 2 in use of 20 in region cn-hangzhou
",
                20 - n1,
                20 - n2
            ))
        );
        let zone_lines: Vec<(String, u64)> = zones
            .lines()
            .filter_map(|l| {
                let (zone, n) = l.strip_prefix("Free IPs in zone ")?.split_once(": ")?;
                Some((zone.to_string(), n.parse().ok()?))
            })
            .collect();
        assert_eq!(
            zone_lines.iter().map(|(z, _)| z.as_str()).collect::<Vec<_>>(),
            ["cn-hangzhou-h", "cn-hangzhou-i"],
            "{zones}"
        );
        assert!(zone_lines.iter().all(|(_, n)| *n > 0), "{zones}");
        assert_eq!(zones.lines().count(), 2, "{zones}");

        // Without the extender (the sandbox has no service proxy): what the API says, the
        // rest unknown, and why on stderr.
        assert_eq!(
            c.eip(&["nodes"]).await?,
            Run {
                stdout: format!(
                    "\
NAME     INSTANCE-TYPE   ZONE            IP-SLOTS   USED   RESERVED    FREE   EIP-PODS
node-1   ecs.g7.large    cn-hangzhou-h   20         {n1}      <unknown>   {}     {n1}
node-2   ecs.g7.large    cn-hangzhou-i   20         {n2}      <unknown>   {}     {n2}

EIPs: <unknown> in use of <unknown>
Free IPs per zone: <unknown>
",
                    20 - n1,
                    20 - n2
                ),
                stderr: "RESERVED, the EIP quota and free IPs are unknown and FREE ignores reservations: cannot read /debug/state of eip-extender through the API server's service proxy (kube-eip/eip-extender) (HTTP 404: the server could not find the requested resource (/api/v1/namespaces/kube-eip/services/eip-extender:8484/proxy/debug/state)); pass --extender URL to read it directly\n".to_owned(),
                code: 0,
            }
        );
        let r = c.eip(&["nodes", "--extender", "http://127.0.0.1:9"]).await?;
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(
            r.stderr,
            "RESERVED, the EIP quota and free IPs are unknown and FREE ignores reservations: cannot read /debug/state of eip-extender at http://127.0.0.1:9 (Connection refused (os error 111)); check the URL\n"
        );
        assert_eq!(
            c.eip(&["nodes", "-o", "json"]).await?,
            fail(2, "error: nodes prints a table only: use -o table or -o wide\nSee 'kubectl eip nodes --help' for usage.\n")
        );
        c.stack.shutdown().await?;
        Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("test timed out after {TEST_TIMEOUT:?}"))?
}

fn ar(group: &str, version: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// kube-eip's own objects as `deploy/base` installs them, as far as doctor reads them: the
/// agent's DaemonSet reporting `ready` agents, and the scheduler's ConfigMap from
/// deploy/scheduler.
async fn install(c: &Cluster, ready: i32) -> anyhow::Result<()> {
    let client = c.stack.client();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "kube-eip"}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let ds: DaemonSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "eip-agent", "namespace": "kube-eip"},
        "spec": {"selector": {"matchLabels": {"app": "eip-agent"}},
                 "template": {"metadata": {"labels": {"app": "eip-agent"}},
                              "spec": {"containers": [{"name": "eip-agent", "image": "kube-eip/eip-agent:v0.1.0"}]}}},
    }))?;
    let api = Api::<DaemonSet>::namespaced(client.clone(), "kube-eip");
    api.create(&PostParams::default(), &ds).await?;
    api.patch_status(
        "eip-agent",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"currentNumberScheduled": ready, "desiredNumberScheduled": ready, "numberMisscheduled": 0, "numberReady": ready}})),
    )
    .await?;
    let config = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/scheduler/kube-scheduler-config.yaml"
    ))?;
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "eip-kube-scheduler-config", "namespace": "kube-system"},
        "data": {"kube-scheduler-config.yaml": config},
    }))?;
    Api::<ConfigMap>::namespaced(client, "kube-system")
        .create(&PostParams::default(), &cm)
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_what_is_wrong_and_how_to_fix_it() -> anyhow::Result<()> {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let c = Cluster::start(1).await?;
        let url = c.stack.extender_url();
        const HEAD: &str = "\
ok    API server reachable (v1.33.0)
ok    PodEIP CRD installed (kube-eip.io/v1alpha1)
";
        const ENI_OK: &str =
            "ok    EIP feature on in ConfigMap kube-system/eni-config (allow_eip_rob off)\n";
        const NO_SECOND: &str = "ok    no second EIP controller (no Terway before v1.7.0 with its EIP pool on, no ack-extend-network-controller)\n";
        const TAIL: &str = "\
ok    eip-agent ready on every schedulable node (1/1)
ok    eip-extender ready at URL
ok    kube-scheduler configured to call eip-extender (ConfigMap kube-system/eip-kube-scheduler-config)
ok    you may do everything kubectl eip does (29 permissions checked)
";
        const QUIET: &str =
            "ok    no Warning events from eip-agent or eip-extender in the last hour\n";

        // kube-eip's objects missing: the agent and the extender fail, the scheduler warns.
        assert_eq!(
            doctor(&c, &[]).await?,
            Run {
                stdout: format!("{HEAD}{ENI_OK}{NO_SECOND}\
fail  eip-agent is not installed (no DaemonSet kube-eip/eip-agent)
      fix: install kube-eip: kubectl apply -k deploy/base
fail  eip-extender is not installed (no Deployment kube-eip/eip-extender)
      fix: install kube-eip: kubectl apply -k deploy/base
warn  no ConfigMap kube-system/eip-kube-scheduler-config: unless kube-scheduler is configured otherwise, it places EIP pods without asking eip-extender
      fix: give kube-scheduler deploy/scheduler/kube-scheduler-config.yaml (kubectl apply -k deploy/scheduler creates the ConfigMap)
ok    you may do everything kubectl eip does (29 permissions checked)
{QUIET}"),
                stderr: "error: 2 of 9 checks failed; see the fix under each\n".to_owned(),
                code: 1,
            }
        );

        // Installed, the extender checked at its URL: every check ok.
        install(&c, 1).await?;
        assert_eq!(
            doctor(&c, &["--extender", &url]).await?,
            ok(&format!("{HEAD}{ENI_OK}{NO_SECOND}{TAIL}{QUIET}"))
        );

        // An invalid eni-config: fail with eip-core's sentence, and the extender's Warning.
        Api::<ConfigMap>::namespaced(c.stack.client(), "kube-system")
            .patch(
                "eni-config",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"eni_conf": "{\"enable_eip_pool\": \"yes\"}"}})),
            )
            .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !Api::<Event>::all(c.stack.client())
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("InvalidEniConfig"))
        {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "no InvalidEniConfig Warning in 15 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            doctor(&c, &["--extender", &url]).await?,
            Run {
                stdout: format!("{HEAD}\
fail  ConfigMap kube-system/eni-config is invalid, so the EIP feature is off: enable_eip_pool is \"yes\" in eni_conf of ConfigMap kube-system/eni-config; use \"true\" or \"false\"
      fix: edit it (kubectl -n kube-system edit configmap eni-config); no restart needed
{NO_SECOND}{TAIL}\
warn  1 Warning event from eip-agent or eip-extender in the last hour: InvalidEniConfig x1
      fix: kubectl eip show -A says which pods; kubectl get events -A --field-selector type=Warning has the details
"),
                stderr: "error: 1 of 9 checks failed; see the fix under each\n".to_owned(),
                code: 1,
            }
        );

        // A user who may read pods only: every check it cannot make warns, the RBAC check
        // fails and names what is missing.
        let role = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "pods-only"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        });
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "pods-only"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pods-only"},
            "subjects": [{"kind": "ServiceAccount", "name": "little", "namespace": "default"}],
        });
        for (kind, obj) in [("ClusterRole", role), ("ClusterRoleBinding", binding)] {
            Api::<DynamicObject>::all_with(c.stack.client(), &ar("rbac.authorization.k8s.io", "v1", kind))
                .create(&PostParams::default(), &serde_json::from_value(obj)?)
                .await?;
        }
        let kc = c.service_account_kubeconfig("default", "little")?;
        let user = "User \"system:serviceaccount:default:little\"";
        let bind = "      fix: ask a cluster admin to bind the ClusterRole kube-eip-user (deploy/base/kubectl-eip-user-rbac.yaml)\n";
        let cannot = |what: &str, call: &str| format!("warn  cannot check {what}: {user} may not {call}\n{bind}");
        assert_eq!(
            run_with(&kc, c.dir.path(), &["doctor"]).await?,
            Run {
                stdout: [
                    "ok    API server reachable (v1.33.0)\n".to_owned(),
                    cannot("the PodEIP CRD", "get customresourcedefinition.apiextensions.k8s.io \"podeips.kube-eip.io\""),
                    cannot("eni-config", "get configmap \"eni-config\" in namespace \"kube-system\""),
                    cannot("for other EIP controllers", "get daemonset.apps \"terway-eniip\" in namespace \"kube-system\""),
                    cannot("eip-agent", "get daemonset.apps \"eip-agent\" in namespace \"kube-eip\""),
                    cannot("eip-extender", "get deployment.apps \"eip-extender\" in namespace \"kube-eip\""),
                    cannot("kube-scheduler's configuration", "get configmap \"eip-kube-scheduler-config\" in namespace \"kube-system\""),
                    format!("fail  you may not: patch pods in default, list events in all namespaces, list podeips.kube-eip.io in all namespaces, get/patch deployments.apps in default, get/patch statefulsets.apps in default, get/patch daemonsets.apps in default, get/patch replicasets.apps in default, get/list/patch jobs.batch in default, get/patch cronjobs.batch in default, get daemonsets.apps in kube-eip, get deployments.apps in kube-eip, list nodes, get services/proxy \"eip-extender:8484\" in kube-eip, get configmaps \"eni-config\" in kube-system, get configmaps \"eip-kube-scheduler-config\" in kube-system, get daemonsets.apps in kube-system, get deployments.apps in kube-system, get customresourcedefinitions.apiextensions.k8s.io \"podeips.kube-eip.io\", get customresourcedefinitions.apiextensions.k8s.io \"podeips.alibabacloud.com\"\n{bind}"),
                    cannot("recent events", "list events"),
                ]
                .concat(),
                stderr: "error: 1 of 9 checks failed; see the fix under each\n".to_owned(),
                code: 1,
            }
        );
        c.stack.shutdown().await?;
        Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("test timed out after {TEST_TIMEOUT:?}"))?
}
