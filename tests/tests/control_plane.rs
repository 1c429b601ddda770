//! The real control plane tier: etcd, kube-apiserver, kube-controller-manager and
//! kube-scheduler v1.20.2 built by `hack/control-plane/fetch-and-build.sh`, with simulated
//! nodes registered through the API (the node simulator writes pod IPs and confirms
//! deletions; Lease heartbeats keep the node lifecycle controller content). These tests
//! fail (never skip) when the binaries are missing: `make test` builds them first.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use eip_cloudsim::{CloudSim, RunningSim, SimConfig};
use eip_e2e::control_plane::{ControlPlane, NodeLease, client_from_kubeconfig};
use eip_e2e::fake_extender::{FakeExtender, Script};
use eip_e2e::fixtures::APP_LABEL;
use eip_e2e::{bounded, deployment, node_of, pod, pod_ip, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use sandbox::nodesim::{NodeConfig, NodeSim, RunningNode};
use sandbox::workloads::is_running_and_ready;
use serde_json::json;

/// Startup of four processes on two busy cores, then one pod.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_control_plane_binds_runs_and_deletes_pods_of_a_simulated_node()
-> anyhow::Result<()> {
    bounded(TEST_TIMEOUT, async {
        let started = Instant::now();
        let cp = ControlPlane::start().await?;
        eprintln!(
            "control plane up in {:?} ({})",
            started.elapsed(),
            cp.server()
        );
        let client = cp.client();

        let ns = "smoke";
        namespace(&cp, ns).await?;
        // One simulated node: an ECS instance in the emulator, registered as kubelet would,
        // its lease renewed so the node lifecycle controller keeps it Ready.
        let nodes = Nodes::start(&cp, &["n1"]).await?;

        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        pods.create(&PostParams::default(), &pod("web-0").build()?)
            .await?;
        let placed = wait_for("web-0 bound and given an IP", WAIT, || {
            let pods = pods.clone();
            async move {
                let p = pods.get("web-0").await?;
                Ok((node_of(&p).is_some() && pod_ip(&p).is_some()).then_some(p))
            }
        })
        .await
        .map_err(|e| e.context(cp.log_tail("kube-scheduler", 30)))?;
        assert_eq!(node_of(&placed).as_deref(), Some("n1"));

        // The binding came from kube-scheduler itself: its `Scheduled` event.
        let events: Api<Event> = Api::namespaced(client.clone(), ns);
        let scheduled = wait_for("the Scheduled event of web-0", WAIT, || {
            let events = events.clone();
            async move {
                let list = events.list(&ListParams::default()).await?;
                Ok(list.items.into_iter().find(|e| {
                    e.involved_object.name.as_deref() == Some("web-0")
                        && e.reason.as_deref() == Some("Scheduled")
                }))
            }
        })
        .await?;
        let source = scheduled
            .reporting_component
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| scheduled.source.as_ref().and_then(|s| s.component.clone()));
        assert_eq!(
            source.as_deref(),
            Some("default-scheduler"),
            "{scheduled:?}"
        );

        // A graceful deletion is confirmed by the node simulator, which frees the IP.
        let ip = pod_ip(&placed).expect("web-0 has an IP");
        pods.delete("web-0", &DeleteParams::default().grace_period(1))
            .await?;
        wait_for("web-0 deleted", WAIT, || {
            let pods = pods.clone();
            async move { Ok(pods.get_opt("web-0").await?.is_none().then_some(())) }
        })
        .await?;
        assert!(!nodes.cloud_pod_ips("n1")?.contains(&ip), "{ip} still held");

        // kube-controller-manager's Deployment and ReplicaSet controllers make the pods.
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
        deployments
            .create(
                &PostParams::default(),
                &deployment("api").replicas(2).build()?,
            )
            .await?;
        let running = wait_for("2 pods of api Running and Ready", WAIT, || {
            let pods = pods.clone();
            async move {
                let lp = ListParams::default().labels(&format!("{APP_LABEL}=api"));
                let list = pods.list(&lp).await?.items;
                let ready = list.iter().filter(|p| is_running_and_ready(p)).count();
                Ok((ready == 2).then_some(list))
            }
        })
        .await
        .map_err(|e| e.context(cp.log_tail("kube-controller-manager", 30)))?;
        assert!(running.iter().all(|p| node_of(p).as_deref() == Some("n1")));

        // A ServiceAccount's token authenticates, and RBAC decides: nothing until bound.
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
        accounts
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "probe"}}))?,
            )
            .await?;
        let probe = client_from_kubeconfig(&cp.service_account_kubeconfig(ns, "probe").await?)
            .await?;
        let probe_pods: Api<Pod> = Api::namespaced(probe, ns);
        match probe_pods.list(&ListParams::default()).await {
            Err(kube::Error::Api(s)) if s.code == 403 => {}
            other => panic!("an unbound ServiceAccount listed pods: {other:?}"),
        }
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": "probe-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "probe", "namespace": ns}],
        }))?;
        Api::<RoleBinding>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &binding)
            .await?;
        wait_for("probe may list pods once bound to view", WAIT, || {
            let probe_pods = probe_pods.clone();
            async move { Ok(probe_pods.list(&ListParams::default()).await.ok().map(|_| ())) }
        })
        .await?;

        nodes.shutdown().await?;
        cp.shutdown();
        eprintln!("smoke test done in {:?}", started.elapsed());
        Ok(())
    })
    .await
}

/// Simulated nodes registered through the API, each with its Lease renewed.
struct Nodes {
    cloud: RunningSim,
    nodes: Vec<(NodeConfig, RunningNode, NodeLease)>,
}

impl Nodes {
    async fn start(cp: &ControlPlane, names: &[&str]) -> anyhow::Result<Self> {
        let sim = SimConfig::default();
        let instance_types = sim.instance_types.clone();
        let cloud = CloudSim::start(sim).await?;
        let admin = cloud.admin();
        let mut nodes = Vec::new();
        for name in names {
            let cfg =
                NodeConfig::new(*name, "ecs.g7.large").provision(&admin, &instance_types, None)?;
            let node = NodeSim::new(cp.client(), cfg.clone(), Arc::new(admin.clone()))
                .spawn()
                .await?;
            nodes.push((cfg, node, cp.node_lease(name).await?));
        }
        Ok(Nodes { cloud, nodes })
    }

    /// The private IPs the cloud holds for pods of this node.
    fn cloud_pod_ips(&self, node: &str) -> anyhow::Result<BTreeSet<Ipv4Addr>> {
        let (cfg, _, _) = self
            .nodes
            .iter()
            .find(|(c, _, _)| c.name == node)
            .ok_or_else(|| anyhow!("no simulated node {node}"))?;
        let instance = self
            .cloud
            .admin()
            .instance(&cfg.instance_id)
            .ok_or_else(|| anyhow!("instance {} gone", cfg.instance_id))?;
        Ok(instance.pod_ips)
    }

    async fn shutdown(self) -> anyhow::Result<()> {
        for (_, node, _lease) in self.nodes {
            node.shutdown().await?;
        }
        self.cloud.shutdown().await;
        Ok(())
    }
}

async fn namespace(cp: &ControlPlane, name: &str) -> anyhow::Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(cp.client())
        .create(&PostParams::default(), &ns)
        .await?;
    cp.wait_default_service_account(name).await
}

/// kube-scheduler v1.20 reads a v1beta1 configuration with an extender, calls it with the
/// protocol's PascalCase body, and follows its filter answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_kube_scheduler_follows_an_extender_configured_in_v1beta1() -> anyhow::Result<()> {
    bounded(TEST_TIMEOUT, async {
        let mut cp = ControlPlane::start().await?;
        let ns = "extender";
        namespace(&cp, ns).await?;
        let nodes = Nodes::start(&cp, &["n1", "n2"]).await?;

        let mut script = Script::default();
        script
            .failed
            .insert("n1".into(), "n1 is refused by the test".into());
        let extender = FakeExtender::start(cp.client(), script).await?;
        cp.restart_scheduler(json!({
            "extenders": [{
                "urlPrefix": extender.url(),
                "filterVerb": "filter",
                "prioritizeVerb": "prioritize",
                "weight": 1,
                "nodeCacheCapable": true,
                "ignorable": false,
                "httpTimeout": "2s",
            }],
        }))
        .await?;

        let pods: Api<Pod> = Api::namespaced(cp.client(), ns);
        pods.create(&PostParams::default(), &pod("web-0").build()?)
            .await?;
        let placed = wait_for("web-0 bound", WAIT, || {
            let pods = pods.clone();
            async move { Ok(Some(pods.get("web-0").await?).filter(|p| node_of(p).is_some())) }
        })
        .await
        .map_err(|e| e.context(cp.log_tail("kube-scheduler", 30)))?;
        assert_eq!(node_of(&placed).as_deref(), Some("n2"));

        let filters = extender.calls_of("filter");
        let call = filters.first().expect("kube-scheduler called filter");
        assert_eq!(
            call.body["Pod"]["metadata"]["name"], "web-0",
            "{:?}",
            call.body
        );
        let mut offered: Vec<&str> = call.body["NodeNames"]
            .as_array()
            .map(|v| v.iter().filter_map(|n| n.as_str()).collect())
            .unwrap_or_default();
        offered.sort();
        assert_eq!(offered, ["n1", "n2"], "{:?}", call.body);
        assert!(call.body["Nodes"].is_null(), "{:?}", call.body);

        extender.shutdown().await;
        nodes.shutdown().await?;
        cp.shutdown();
        Ok(())
    })
    .await
}
