//! The extender against a Kubernetes API (the sandbox's in-memory API server over HTTP):
//! watchers keep the view current, eni-config applies live, binds go through the real
//! `pods/binding` under a burst without over-commit, the Lease elects one leader, and the
//! cloud view reads eip-cloudsim.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use eip_cloud::args::AllocateEipArgs;
use eip_cloudsim::{CloudSim, SimConfig};
use eip_core::annotations::SETTING_POD_WITH_EIP;
use eip_core::eni_config::{ENI_CONF_KEY, ENI_CONFIG_NAME, ENI_CONFIG_NAMESPACE};
use eip_core::names::NODE_MAX_AVAILABLE_IP;
use eip_core::podeip::PodEIP;
use eip_extender::Error;
use eip_extender::bind::{Binder, KubeBinder};
use eip_extender::http::Readiness;
use eip_extender::lease::{self, LeaseConfig};
use eip_extender::state::{CloudView, EipFacts};
use eip_extender::testkit::{sim_cloud, wait_for, within};
use eip_extender::{RunningExtender, Settings};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt};
use sandbox::apiserver::{ApiServer, ApiServerOptions, RunningApiServer};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(60);

async fn cluster() -> anyhow::Result<(RunningApiServer, Client)> {
    let api = ApiServer::start(ApiServerOptions::default()).await?;
    let client = api.client().await?;
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &PodEIP::crd())
        .await?;
    Ok((api, client))
}

async fn eni_config(client: &Client, enabled: bool) -> anyhow::Result<()> {
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": ENI_CONFIG_NAME, "namespace": ENI_CONFIG_NAMESPACE},
        "data": {ENI_CONF_KEY: json!({"enable_eip_pool": enabled.to_string(), "ipam_type": "crd"}).to_string()},
    }))?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ENI_CONFIG_NAMESPACE);
    api.patch(
        ENI_CONFIG_NAME,
        &PatchParams::apply("test").force(),
        &Patch::Apply(&cm),
    )
    .await?;
    Ok(())
}

async fn node(client: &Client, name: &str, slots: u32) -> anyhow::Result<()> {
    let mut annotations = BTreeMap::new();
    annotations.insert(NODE_MAX_AVAILABLE_IP.to_string(), slots.to_string());
    let n: Node =
        serde_json::from_value(json!({"metadata": {"name": name, "annotations": annotations}}))?;
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &n)
        .await?;
    Ok(())
}

async fn pod(client: &Client, name: &str) -> anyhow::Result<String> {
    pod_with(client, name, BTreeMap::new()).await
}

async fn pod_with(
    client: &Client,
    name: &str,
    annotations: BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/pause:3.9"}]},
    }))?;
    let p = Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &p)
        .await?;
    Ok(p.metadata.uid.unwrap_or_default())
}

async fn extender(client: &Client) -> anyhow::Result<RunningExtender> {
    let settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        ..Settings::default()
    };
    let ext = eip_extender::start(&settings, client.clone(), None).await?;
    wait_for("caches synced", async || {
        ext.ready.synced.load(Ordering::Acquire).then_some(())
    })
    .await;
    Ok(ext)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_of_real_binds_fills_exactly_the_free_slots() -> anyhow::Result<()> {
    within(TIMEOUT, async {
        let (api, client) = cluster().await?;
        eni_config(&client, true).await?;
        node(&client, "n1", 5).await?;
        let ext = extender(&client).await?;
        let mut uids = Vec::new();
        for i in 0..50 {
            uids.push(pod(&client, &format!("p{i}")).await?);
        }
        wait_for("50 pods in the view", async || {
            (ext.state.read().ok()?.pod_count() == 50).then_some(())
        })
        .await;

        let http = reqwest::Client::new();
        let url = format!("{}/bind", ext.url());
        let calls = uids.iter().enumerate().map(|(i, uid)| {
            let body = json!({"PodName": format!("p{i}"), "PodNamespace": "default", "PodUID": uid, "Node": "n1"});
            let http = http.clone();
            let url = url.clone();
            async move {
                let v: serde_json::Value = http.post(&url).json(&body).send().await?.json().await?;
                anyhow::Ok(v)
            }
        });
        let answers = futures::future::try_join_all(calls).await?;
        let ok = answers.iter().filter(|v| v["Error"] == "").count();
        assert_eq!(ok, 5, "{answers:?}");

        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let bound: Vec<String> = pods
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("n1"))
            .filter_map(|p| p.metadata.name)
            .collect();
        assert_eq!(bound.len(), 5, "{bound:?}");
        // the watch shows them: reservations turn into used slots
        wait_for("reservations settled", async || {
            let st = ext.state.read().ok()?;
            let e = st.node("n1")?;
            (st.reservation_count() == 0 && e.used == 5).then_some(())
        })
        .await;
        // a retried bind of a bound pod succeeds without a second binding
        let first = bound.first().cloned().unwrap_or_default();
        let i: usize = first.trim_start_matches('p').parse()?;
        let retry = json!({"PodName": first, "PodNamespace": "default", "PodUID": uids[i], "Node": "n1"});
        let v: serde_json::Value = http.post(&url).json(&retry).send().await?.json().await?;
        assert_eq!(v["Error"], "");
        // the API itself refuses a second binding with 409, which the binder reports as a conflict
        let kb = KubeBinder::new(client.clone());
        let again = kb.bind("default", &first, &uids[i], "n1").await;
        assert!(matches!(again, Err(Error::BindConflict(_))), "{again:?}");
        let seen = kb.get_pod("default", &first).await?;
        assert_eq!(seen.and_then(|p| p.node).as_deref(), Some("n1"));

        // a bound pod being deleted still holds its IP; once gone, its slot is free
        pods.delete(&first, &DeleteParams::default().grace_period(0))
            .await?;
        wait_for("slot freed", async || {
            (ext.state.read().ok()?.node("n1")?.used == 4).then_some(())
        })
        .await;
        ext.shutdown().await?;
        api.shutdown().await;
        anyhow::Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_of_real_eip_binds_stops_at_the_quota() -> anyhow::Result<()> {
    within(TIMEOUT, async {
        let (api, client) = cluster().await?;
        eni_config(&client, true).await?;
        for n in 0..3 {
            node(&client, &format!("n{n}"), 50).await?;
        }
        let ext = extender(&client).await?;
        // the cloud view shows 10 EIPs allocated in the region; quota is the default 20
        {
            let mut st = ext.state.write().map_err(|_| anyhow::anyhow!("poisoned"))?;
            st.cloud = Some(CloudView {
                region: "cn-hangzhou".into(),
                eips: (0..10)
                    .map(|i| {
                        let id = format!("eip-old{i}");
                        let e = EipFacts {
                            allocation_id: id.clone(),
                            status: "InUse".into(),
                            instance_id: None,
                            private_ip: None,
                        };
                        (id, e)
                    })
                    .collect(),
                ..CloudView::default()
            });
        }
        let eip = BTreeMap::from([(SETTING_POD_WITH_EIP.keys[0].to_string(), "true".to_string())]);
        let mut uids = Vec::new();
        for i in 0..30 {
            uids.push(pod_with(&client, &format!("e{i}"), eip.clone()).await?);
        }
        wait_for("30 pods in the view", async || {
            (ext.state.read().ok()?.pod_count() == 30).then_some(())
        })
        .await;
        let http = reqwest::Client::new();
        let url = format!("{}/bind", ext.url());
        let calls = uids.iter().enumerate().map(|(i, uid)| {
            let body = json!({"PodName": format!("e{i}"), "PodNamespace": "default", "PodUID": uid, "Node": format!("n{}", i % 3)});
            let http = http.clone();
            let url = url.clone();
            async move {
                let v: serde_json::Value = http.post(&url).json(&body).send().await?.json().await?;
                anyhow::Ok(v)
            }
        });
        let answers = futures::future::try_join_all(calls).await?;
        let ok = answers.iter().filter(|v| v["Error"] == "").count();
        assert_eq!(ok, 10, "{answers:?}");
        for v in answers.iter().filter(|v| v["Error"] != "") {
            let e = v["Error"].as_str().unwrap_or_default();
            assert!(e.starts_with("EIP quota reached in cn-hangzhou: 10 allocated and 10 being allocated, quota 20"), "{e}");
        }
        let bound = Api::<Pod>::namespaced(client.clone(), "default")
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
            .count();
        assert_eq!(bound, 10);
        ext.shutdown().await?;
        api.shutdown().await;
        anyhow::Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eni_config_switches_apply_live() -> anyhow::Result<()> {
    within(TIMEOUT, async {
        let (api, client) = cluster().await?;
        let ext = extender(&client).await?;
        assert!(
            !ext.state
                .read()
                .map(|s| s.switches.eip_enabled)
                .unwrap_or(true)
        );
        eni_config(&client, true).await?;
        wait_for("switch on", async || {
            ext.state.read().ok()?.switches.eip_enabled.then_some(())
        })
        .await;
        eni_config(&client, false).await?;
        wait_for("switch off", async || {
            (!ext.state.read().ok()?.switches.eip_enabled).then_some(())
        })
        .await;
        ext.shutdown().await?;
        api.shutdown().await;
        anyhow::Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_holds_the_lease_until_it_expires() -> anyhow::Result<()> {
    within(TIMEOUT, async {
        let (api, client) = cluster().await?;
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        // a leader that stopped renewing: its lease (2 s) must run out before anyone takes over
        let crashed: Lease = serde_json::from_value(json!({
            "metadata": {"name": "eip-extender", "namespace": "kube-system"},
            "spec": {
                "holderIdentity": "crashed",
                "leaseDurationSeconds": 2,
                "acquireTime": Timestamp::now().to_string(),
                "renewTime": Timestamp::now().to_string(),
                "leaseTransitions": 0,
            },
        }))?;
        leases.create(&PostParams::default(), &crashed).await?;
        let cfg = |identity: &str| LeaseConfig {
            identity: identity.into(),
            duration: Duration::from_secs(2),
            grace: Duration::from_secs(1),
            retry: Duration::from_millis(200),
            ..LeaseConfig::new("kube-system")
        };
        let elect = |identity: &str| {
            let ready = Arc::new(Readiness::default());
            ready.synced.store(true, Ordering::Release);
            // as the server does: not ready until the lease is held, from the first moment
            ready.leader_election.store(true, Ordering::Release);
            let election = lease::Election::start(client.clone(), cfg(identity), ready.clone());
            (ready, election)
        };
        let holder = async || -> Option<String> {
            leases.get("eip-extender").await.ok()?.spec?.holder_identity
        };
        let started = tokio::time::Instant::now();
        let (a, election_a) = elect("a");
        assert!(a.check().is_err(), "not ready before holding the lease");
        wait_for("a to take over the expired lease", async || {
            a.check().is_ok().then_some(())
        })
        .await;
        assert!(
            started.elapsed() >= Duration::from_millis(1500),
            "the crashed leader's lease was honoured until it expired ({:?})",
            started.elapsed()
        );
        assert_eq!(holder().await.as_deref(), Some("a"));
        // a standby stays unready while a renews, well past one lease duration
        let (b, election_b) = elect("b");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(a.check().is_ok(), "the holder renews");
        assert_eq!(
            b.check(),
            Err("this eip-extender replica is not the leader")
        );
        assert_eq!(holder().await.as_deref(), Some("a"));
        // a stops (dropped, as when it crashes): b takes over once a's lease runs out
        drop(election_a);
        let stopped = tokio::time::Instant::now();
        wait_for("b to take over", async || b.check().is_ok().then_some(())).await;
        assert!(
            stopped.elapsed() >= Duration::from_millis(500),
            "b waited for a's lease to expire ({:?})",
            stopped.elapsed()
        );
        assert_eq!(holder().await.as_deref(), Some("b"));
        let spec = leases.get("eip-extender").await?.spec.unwrap_or_default();
        assert!(
            spec.lease_transitions.unwrap_or(0) >= 2,
            "two transitions: {spec:?}"
        );
        // the API server goes away: b cannot renew and steps down before its lease could lapse
        api.shutdown().await;
        wait_for("b to step down", async || b.check().is_err().then_some(())).await;
        drop(election_b);
        anyhow::Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gracefully_stopped_leader_releases_the_lease_to_its_standby() -> anyhow::Result<()> {
    within(TIMEOUT, async {
        let (api, client) = cluster().await?;
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        // two replicas as the Deployment runs them: the default Lease (15 s, renewed 5 s
        // before it expires, a standby re-reading it every 2 s)
        let settings = Settings {
            listen: "127.0.0.1:0".parse()?,
            leader_elect: true,
            ..Settings::default()
        };
        let first = eip_extender::start(&settings, client.clone(), None).await?;
        wait_for("the first replica to lead", async || {
            first.ready.check().is_ok().then_some(())
        })
        .await;
        let second = eip_extender::start(&settings, client.clone(), None).await?;
        wait_for("the second replica to sync", async || {
            second.ready.synced().then_some(())
        })
        .await;
        assert_eq!(
            second.ready.check(),
            Err("this eip-extender replica is not the leader")
        );
        let holder = async || -> Option<String> {
            leases.get("eip-extender").await.ok()?.spec?.holder_identity
        };
        let leader = holder().await;
        assert!(leader.is_some(), "the first replica holds the Lease");
        // when the leader's Lease would expire without a release (it may renew meanwhile,
        // which only moves this later)
        let spec = leases.get("eip-extender").await?.spec.unwrap_or_default();
        let renewed = spec.renew_time.map(|t| t.0).unwrap_or_else(Timestamp::now);
        let expires = renewed + Duration::from_secs(spec.lease_duration_seconds.unwrap_or(15) as u64);

        let first_ready = first.ready.clone();
        let stopping = tokio::time::Instant::now();
        first.shutdown().await?;
        assert!(first_ready.check().is_err(), "a stopped replica is not ready");
        wait_for("the standby to take over", async || {
            second.ready.check().is_ok().then_some(())
        })
        .await;
        let took_over = Timestamp::now();
        eprintln!("standby ready {:?} after the leader began to stop", stopping.elapsed());
        assert!(
            took_over < expires,
            "the standby took over at {took_over}, only once the Lease expired ({expires}): it was not released"
        );
        let now = holder().await;
        assert!(now.is_some() && now != leader, "the standby holds the Lease: {now:?}");
        second.shutdown().await?;
        api.shutdown().await;
        anyhow::Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_view_reads_eips_and_zone_ips_from_cloudsim() -> anyhow::Result<()> {
    within(TIMEOUT, async {
        let sim = CloudSim::start(SimConfig::default()).await?;
        let cloud = sim_cloud(&sim.url())?;
        let a = cloud
            .allocate_eip_address(&AllocateEipArgs::default())
            .await?;
        cloud
            .allocate_eip_address(&AllocateEipArgs::default())
            .await?;
        let vsw = ["vsw-bp1sim0000000000000h".to_string()];
        let view = eip_extender::cloudview::fetch(cloud.as_ref(), &vsw, None).await?;
        assert_eq!(view.region, "cn-hangzhou");
        assert_eq!(view.eips.len(), 2);
        assert_eq!(
            view.eips.get(&a.allocation_id).map(|e| e.status.as_str()),
            Some("Available")
        );
        let free = view
            .zone_free_ips
            .get("cn-hangzhou-h")
            .copied()
            .unwrap_or(0);
        assert!(
            free > 200 && free < 256,
            "a /24 minus reserved addresses: {free}"
        );
        assert!(
            !view.zone_free_ips.contains_key("cn-hangzhou-i"),
            "only listed vSwitches count"
        );
        // without vSwitches in eni-config, the VPC's vSwitches count
        let vpc = SimConfig::default().vpc.vpc_id;
        let view = eip_extender::cloudview::fetch(cloud.as_ref(), &[], Some(&vpc)).await?;
        assert!(view.zone_free_ips.contains_key("cn-hangzhou-i"));
        sim.shutdown().await;
        anyhow::Ok(())
    })
    .await
}

/// The first cloud refresh runs before `eni-config` is read; the view is refreshed again
/// as soon as the ConfigMap's vSwitches are known, not only at the next `--cloud-refresh`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_free_ips_are_known_as_soon_as_eni_config_names_the_vswitches() -> anyhow::Result<()> {
    within(TIMEOUT, async {
        let (api, client) = cluster().await?;
        let sim = CloudSim::start(SimConfig::default()).await?;
        let settings = Settings {
            listen: "127.0.0.1:0".parse()?,
            cloud_refresh: Duration::from_secs(3600),
            ..Settings::default()
        };
        let ext =
            eip_extender::start(&settings, client.clone(), Some(sim_cloud(&sim.url())?)).await?;
        wait_for("the first cloud view", async || {
            ext.state.read().ok()?.cloud.as_ref().map(|_| ())
        })
        .await;
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": ENI_CONFIG_NAME, "namespace": ENI_CONFIG_NAMESPACE},
            "data": {ENI_CONF_KEY: json!({
                "enable_eip_pool": "true",
                "vswitches": {"cn-hangzhou-h": ["vsw-bp1sim0000000000000h"]},
            }).to_string()},
        }))?;
        Api::<ConfigMap>::namespaced(client.clone(), ENI_CONFIG_NAMESPACE)
            .patch(
                ENI_CONFIG_NAME,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&cm),
            )
            .await?;
        wait_for("zone free IPs of the listed vSwitch", async || {
            let st = ext.state.read().ok()?;
            st.cloud
                .as_ref()?
                .zone_free_ips
                .get("cn-hangzhou-h")
                .filter(|n| **n > 0)
                .map(|_| ())
        })
        .await;
        ext.shutdown().await?;
        sim.shutdown().await;
        drop(api);
        anyhow::Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_when_given_a_certificate() -> anyhow::Result<()> {
    within(TIMEOUT, async {
        let (api, client) = cluster().await?;
        let dir = tempfile::tempdir()?;
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])?;
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        std::fs::write(&cert, ck.cert.pem())?;
        std::fs::write(&key, ck.signing_key.serialize_pem())?;
        let settings = Settings {
            listen: "127.0.0.1:0".parse()?,
            tls: Some((cert, key)),
            ..Settings::default()
        };
        let ext = eip_extender::start(&settings, client.clone(), None).await?;
        assert!(ext.url().starts_with("https://"));
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()?;
        let r = http.get(format!("{}/healthz", ext.url())).send().await?;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await?, "ok");
        // plain HTTP is not served on the TLS port
        let plain = ext.url().replace("https://", "http://");
        assert!(
            reqwest::get(format!("{plain}/healthz"))
                .await
                .map(|r| r.status() != 200)
                .unwrap_or(true)
        );
        // a missing key file is a clear error
        let bad = Settings {
            tls: Some((dir.path().join("tls.crt"), dir.path().join("missing.key"))),
            ..settings
        };
        let err = eip_extender::start(&bad, client.clone(), None)
            .await
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("failed to load TLS material")),
            "{err:?}"
        );
        ext.shutdown().await?;
        api.shutdown().await;
        anyhow::Ok(())
    })
    .await
}

/// A listen address already in use is an error from `start`, and nothing it would run is
/// left behind: no watcher, cloud view or Lease election ever calls the API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_listen_address_fails_and_leaves_nothing_running() -> anyhow::Result<()> {
    within(TIMEOUT, async {
        let (api, client) = cluster().await?;
        let sim = CloudSim::start(SimConfig::default()).await?;
        let busy = std::net::TcpListener::bind("127.0.0.1:0")?;
        // Its own user, so that every request it makes shows in the audit log.
        let user = "system:serviceaccount:kube-system:busy-extender";
        let failing = api
            .client_with_token(&api.service_account_token("kube-system", "busy-extender"))
            .await?;
        let settings = Settings {
            listen: busy.local_addr()?,
            leader_elect: true,
            ..Settings::default()
        };
        let err = eip_extender::start(&settings, failing, Some(sim_cloud(&sim.url())?)).await;
        assert!(
            matches!(err, Err(Error::Serve { .. })),
            "{:?}",
            err.map(|e| e.addrs)
        );
        // Anything spawned by the failed start would have called the API server before a
        // second extender, started now, has listed and opened its watches.
        let ext = extender(&client).await?;
        wait_for("second extender watching", async || {
            (api.open_watches() > 0).then_some(())
        })
        .await;
        let calls: Vec<_> = api
            .audit()
            .into_iter()
            .filter(|(e, _)| e.user == user)
            .collect();
        assert!(calls.is_empty(), "left running after the error: {calls:?}");
        let cloud_calls = sim.admin().calls();
        assert!(
            cloud_calls.is_empty(),
            "cloud view left running: {cloud_calls:?}"
        );
        ext.shutdown().await?;
        sim.shutdown().await;
        api.shutdown().await;
        anyhow::Ok(())
    })
    .await
}
