//! The extender over actix's test server, fed every sample in `fixtures/` (copied from
//! `shared/reference/extender-fixtures/`: hand-built examples and requests captured from a
//! real kube-scheduler v1.28.7), plus the bad inputs a scheduler or a person can send.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::{App, test, web};
use eip_core::annotations::{SETTING_POD_WITH_EIP, SETTING_RELEASE_STRATEGY};
use eip_core::names::ALLOCATED_EIP_ID;
use eip_extender::bind::BindCoordinator;
use eip_extender::decide::Scoring;
use eip_extender::http::{AppState, Readiness, configure};
use eip_extender::state::{CloudView, ClusterState, EniSwitches};
use eip_extender::testkit::{FakeBinder, node, pod};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(20);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

#[derive(serde::Deserialize)]
struct RawList<'a> {
    #[serde(rename = "Nodes", borrow)]
    nodes: RawItems<'a>,
}

#[derive(serde::Deserialize)]
struct RawItems<'a> {
    #[serde(borrow)]
    items: Vec<&'a serde_json::value::RawValue>,
}

const AWS1: &str = "ip-10-0-17-23.eu-west-1.compute.internal";
const AWS2: &str = "ip-10-0-33-108.eu-west-1.compute.internal";
const AWS3: &str = "ip-10-0-51-7.eu-west-1.compute.internal";

/// The view: for each fixture's node names, the first has room (10 slots, 2 used), the
/// second is full (2 of 2), the third has unknown capacity.
fn view() -> ClusterState {
    let mut s = ClusterState::new(20, "cn-hangzhou");
    s.switches = EniSwitches::new(true, false);
    s.cloud = Some(CloudView {
        region: "cn-hangzhou".into(),
        ..CloudView::default()
    });
    for (roomy, full, unknown) in [(AWS1, AWS2, AWS3), ("node-1", "node-2", "node-3")] {
        s.apply_node(node(roomy).max_ips(10).build());
        s.apply_node(node(full).max_ips(2).build());
        s.apply_node(node(unknown).build());
        for i in 0..2 {
            s.apply_pod(pod(&format!("{roomy}-{i}")).on(roomy).build());
            s.apply_pod(pod(&format!("{full}-{i}")).on(full).build());
        }
    }
    // the victims named in 06: two on AWS1, one on AWS2 (which is full)
    s.apply_pod(
        pod("v1")
            .uid("c42b5b84-1a39-c2b7-d867-60eee6efe2f7")
            .on(AWS1)
            .build(),
    );
    s.apply_pod(
        pod("v2")
            .uid("02b96479-75f5-3e05-4424-090663af27d5")
            .on(AWS1)
            .build(),
    );
    s.apply_pod(
        pod("v3")
            .uid("3504cd56-b303-cd1d-0946-064616346bf8")
            .on(AWS2)
            .build(),
    );
    s
}

struct Harness {
    state: Arc<RwLock<ClusterState>>,
    binder: Arc<FakeBinder>,
    ready: Arc<Readiness>,
}

fn harness() -> Harness {
    let ready = Arc::new(Readiness::default());
    ready.synced.store(true, Ordering::Release);
    Harness {
        state: Arc::new(RwLock::new(view())),
        binder: Arc::new(FakeBinder::default()),
        ready,
    }
}

impl Harness {
    fn app_state(&self, prefix_limit: Option<usize>) -> web::Data<AppState> {
        let coord = BindCoordinator::new(self.state.clone(), self.binder.clone());
        let mut app = AppState::new(
            self.state.clone(),
            Some(Arc::new(coord)),
            self.ready.clone(),
            Scoring::Spread,
        );
        if let Some(limit) = prefix_limit {
            app.body_limit = limit;
        }
        web::Data::new(app)
    }
}

async fn call(
    h: &Harness,
    limit: Option<usize>,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let app = test::init_service(
        App::new()
            .app_data(h.app_state(limit))
            .configure(configure("")),
    )
    .await;
    let req = match method {
        "GET" => test::TestRequest::get().uri(path).to_request(),
        _ => test::TestRequest::post()
            .uri(path)
            .insert_header(("content-type", "application/json"))
            .set_payload(body)
            .to_request(),
    };
    let resp = test::call_service(&app, req).await;
    let status = resp.status().as_u16();
    let body = test::read_body(resp).await.to_vec();
    (status, body)
}

async fn post_json(h: &Harness, path: &str, body: Vec<u8>) -> (u16, Value) {
    let (status, body) = call(h, None, "POST", path, body).await;
    let v: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, v)
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test timed out")
}

#[actix_web::test]
async fn filter_names_fixtures_split_nodes_by_class() {
    bounded(async {
        let h = harness();
        let shape =
            serde_json::from_slice::<Value>(&fixture("03-extender-filter-result.json")).unwrap();
        for (file, roomy, full, unknown) in [
            ("01-extender-args-nodenames.json", AWS1, AWS2, AWS3),
            (
                "real-kube-scheduler-1.28/filter.nodecache-true.request.json",
                "node-1",
                "node-2",
                "node-3",
            ),
        ] {
            let (status, v) = post_json(&h, "/filter", fixture(file)).await;
            assert_eq!(status, 200, "{file}");
            assert_eq!(keys(&v), keys(&shape), "{file}: all five fields, as in 03");
            assert_eq!(v["Error"], "", "{file}");
            assert_eq!(v["Nodes"], Value::Null, "{file}");
            assert_eq!(v["NodeNames"], serde_json::json!([roomy]), "{file}");
            let failed = v["FailedNodes"][full].as_str().unwrap_or_default();
            assert_eq!(
                failed,
                format!(
                    "node {full} has 0 of 2 pod IPs free (k8s.aliyun.com/max-available-ip = 2)"
                )
            );
            let unres = v["FailedAndUnresolvableNodes"][unknown]
                .as_str()
                .unwrap_or_default();
            assert!(
                unres.contains("has unknown pod IP capacity"),
                "{file}: {unres}"
            );
        }
    })
    .await;
}

#[actix_web::test]
async fn filter_full_nodes_fixtures_echo_items_untouched() {
    bounded(async {
        let h = harness();
        for (file, pass) in [
            ("02-extender-args-nodes.json", vec![AWS1]),
            (
                "real-kube-scheduler-1.28/filter.nodecache-false.request.json",
                vec!["node-1"],
            ),
        ] {
            let input: Value = serde_json::from_slice(&fixture(file)).unwrap();
            let (status, body) = call(&h, None, "POST", "/filter", fixture(file)).await;
            assert_eq!(status, 200);
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["Error"], "", "{file}");
            assert_eq!(v["NodeNames"], Value::Null, "{file}");
            let items = v["Nodes"]["items"].as_array().cloned().unwrap_or_default();
            let names: Vec<&str> = items
                .iter()
                .filter_map(|n| n["metadata"]["name"].as_str())
                .collect();
            assert_eq!(names, pass, "{file}");
            let original = input["Nodes"]["items"]
                .as_array()
                .and_then(|a| a.iter().find(|n| n["metadata"]["name"] == pass[0]))
                .cloned()
                .unwrap();
            assert_eq!(items[0], original, "{file}: node echoed unchanged");
            // byte for byte: the item's original text appears verbatim in the response
            let raw_in = fixture(file);
            let list: RawList<'_> = serde_json::from_slice(&raw_in).unwrap();
            let raw_node = list
                .nodes
                .items
                .iter()
                .find(|n| eip_core::extender::node_name(n).as_deref() == Some(pass[0]))
                .unwrap();
            let out = String::from_utf8(body).unwrap();
            assert!(
                out.contains(raw_node.get()),
                "{file}: raw node text not echoed verbatim"
            );
        }
    })
    .await;
}

#[actix_web::test]
async fn full_nodes_unknown_to_the_view_are_judged_from_the_request() {
    bounded(async {
        let h = harness();
        h.state.write().unwrap().delete_node("node-1");
        let (_, v) = post_json(
            &h,
            "/filter",
            fixture("real-kube-scheduler-1.28/filter.nodecache-false.request.json"),
        )
        .await;
        // node-1's object has no capacity annotation and no instance type: unresolvable
        let why = v["FailedAndUnresolvableNodes"]["node-1"]
            .as_str()
            .unwrap_or_default();
        assert!(
            why.contains("no k8s.aliyun.com/max-available-ip annotation"),
            "{why}"
        );
    })
    .await;
}

#[actix_web::test]
async fn prioritize_fixtures_score_whole_range() {
    bounded(async {
        let h = harness();
        let shape: Value = serde_json::from_slice(&fixture("04-host-priority-list.json")).unwrap();
        // give node-3 / AWS3 known capacity so three nodes fit with different room
        {
            let mut st = h.state.write().unwrap();
            st.apply_node(node("node-3").max_ips(5).build());
            st.apply_node(node("node-2").max_ips(4).build());
            st.apply_node(node(AWS2).max_ips(5).build());
            st.apply_node(node(AWS3).max_ips(4).build());
        }
        for (file, best, mid, worst) in [
            ("01-extender-args-nodenames.json", AWS1, AWS3, AWS2),
            (
                "real-kube-scheduler-1.28/prioritize.nodecache-true.request.json",
                "node-1",
                "node-3",
                "node-2",
            ),
            (
                "real-kube-scheduler-1.28/prioritize.nodecache-false.request.json",
                "node-1",
                "node-3",
                "node-2",
            ),
        ] {
            let (status, v) = post_json(&h, "/prioritize", fixture(file)).await;
            assert_eq!(status, 200, "{file}");
            let list = v.as_array().cloned().unwrap_or_default();
            assert_eq!(
                keys(&list[0]),
                keys(&shape[0]),
                "{file}: Host and Score as in 04"
            );
            let score = |n: &str| {
                list.iter()
                    .find(|e| e["Host"] == n)
                    .and_then(|e| e["Score"].as_i64())
            };
            // free: node-1 8, node-3 5, node-2 2; AWS1 6, AWS3 4, AWS2 2 -> 10, 5, 0
            assert_eq!(score(best), Some(10), "{file}");
            assert_eq!(score(worst), Some(0), "{file}");
            assert_eq!(score(mid), Some(5), "{file}");
        }
    })
    .await;
}

#[actix_web::test]
async fn bind_fixtures_bind_once_and_retries_succeed() {
    bounded(async {
        let h = harness();
        {
            let mut st = h.state.write().unwrap();
            st.apply_pod(
                pod("trainer-7d9f8b6c5-x2x9q")
                    .ns("ml-team")
                    .uid("3e1e8ce9-27a3-cfa3-23df-09c4247c8713")
                    .build(),
            );
            st.apply_pod(
                pod("p-ext-bind")
                    .uid("196f5977-4af3-497b-8c80-8d7cc2251b83")
                    .build(),
            );
        }
        // node-2 is full: the real bind.ok sample names it, so make room first
        h.state
            .write()
            .unwrap()
            .apply_node(node("node-2").max_ips(3).build());
        for (file, ns, name, on) in [
            (
                "05-extender-binding-args.json",
                "ml-team",
                "trainer-7d9f8b6c5-x2x9q",
                AWS1,
            ),
            (
                "real-kube-scheduler-1.28/bind.ok.request.json",
                "default",
                "p-ext-bind",
                "node-2",
            ),
        ] {
            let (status, v) = post_json(&h, "/bind", fixture(file)).await;
            assert_eq!(
                (status, v.clone()),
                (200, serde_json::json!({"Error": ""})),
                "{file}"
            );
            assert_eq!(h.binder.node_of(ns, name).as_deref(), Some(on));
            // the scheduler retries after a lost response: still success, no second call
            let calls = h.binder.calls.load(Ordering::SeqCst);
            let (_, v) = post_json(&h, "/bind", fixture(file)).await;
            assert_eq!(v["Error"], "", "{file} retry");
            assert_eq!(
                h.binder.calls.load(Ordering::SeqCst),
                calls,
                "{file}: retry answered from the reservation"
            );
        }
        // node-2 now has 3 of 3 used or reserved: a third pod is refused with the reason
        let (_, v) = post_json(
            &h,
            "/bind",
            fixture("real-kube-scheduler-1.28/bind.error.request.json"),
        )
        .await;
        let err = v["Error"].as_str().unwrap_or_default();
        assert!(
            err.contains("p-ext-binderr") || err.contains("node-1"),
            "{err}"
        );
    })
    .await;
}

#[actix_web::test]
async fn bind_of_unknown_pod_reads_it_and_refuses_full_node() {
    bounded(async {
        let h = harness();
        h.binder.pods.lock().unwrap().insert(
            "default/p-ext-binderr".into(),
            pod("p-ext-binderr")
                .uid("8ac3aef1-ab41-484c-b1fc-961516926c19")
                .build(),
        );
        let mut args: Value =
            serde_json::from_slice(&fixture("real-kube-scheduler-1.28/bind.error.request.json"))
                .unwrap();
        args["Node"] = "node-2".into();
        let (_, v) = post_json(&h, "/bind", serde_json::to_vec(&args).unwrap()).await;
        assert_eq!(
            v["Error"],
            "node node-2 has 0 of 2 pod IPs free (k8s.aliyun.com/max-available-ip = 2)"
        );
        assert_eq!(h.binder.calls.load(Ordering::SeqCst), 0);
        let (_, v) = post_json(
            &h,
            "/bind",
            fixture("real-kube-scheduler-1.28/bind.error.request.json"),
        )
        .await;
        assert_eq!(v["Error"], "");
        assert_eq!(
            h.binder.node_of("default", "p-ext-binderr").as_deref(),
            Some("node-1")
        );
    })
    .await;
}

#[actix_web::test]
async fn bind_api_conflict_to_same_node_is_success_other_failure_releases() {
    bounded(async {
        let h = harness();
        h.state.write().unwrap().apply_pod(pod("x").uid("ux").build());
        // bound earlier by a previous extender incarnation: the API answers 409
        h.binder.bound.lock().unwrap().insert("default/x".into(), "node-1".into());
        h.binder.pods.lock().unwrap().insert("default/x".into(), pod("x").uid("ux").build());
        let body = serde_json::json!({"PodName":"x","PodNamespace":"default","PodUID":"ux","Node":"node-1"});
        let (_, v) = post_json(&h, "/bind", serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(v["Error"], "");
        // an API failure releases the reservation
        h.state.write().unwrap().apply_pod(pod("y").uid("uy").build());
        *h.binder.fail_with.lock().unwrap() = Some("etcd is down".into());
        let body = serde_json::json!({"PodName":"y","PodNamespace":"default","PodUID":"uy","Node":"node-1"});
        let (_, v) = post_json(&h, "/bind", serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(v["Error"], "failed to bind pod default/y to node node-1: etcd is down");
        assert!(h.state.read().unwrap().reservation("uy").is_none());
    })
    .await;
}

#[actix_web::test]
async fn preempt_fixture_keeps_nodes_victims_can_fix() {
    bounded(async {
        let h = harness();
        // AWS1: 4 of 4 used, AWS2: 3 of 3 used; each needs its victims
        h.state.write().unwrap().apply_node(node(AWS1).max_ips(4).build());
        h.state.write().unwrap().apply_node(node(AWS2).max_ips(3).build());
        let (status, v) = post_json(&h, "/preempt", fixture("06-extender-preemption-args.json")).await;
        assert_eq!(status, 200);
        let input: Value = serde_json::from_slice(&fixture("06-extender-preemption-args.json")).unwrap();
        assert_eq!(v["NodeNameToMetaVictims"][AWS1], input["NodeNameToMetaVictims"][AWS1]);
        assert_eq!(v["NodeNameToMetaVictims"][AWS2], input["NodeNameToMetaVictims"][AWS2]);
        // a victim the view does not know to be on the node frees nothing: node dropped
        let mut other = input.clone();
        other["NodeNameToMetaVictims"][AWS2]["Pods"][0]["UID"] = "not-on-this-node".into();
        let (_, v) = post_json(&h, "/preempt", serde_json::to_vec(&other).unwrap()).await;
        assert!(v["NodeNameToMetaVictims"].get(AWS2).is_none(), "{v}");
        assert!(v["NodeNameToMetaVictims"].get(AWS1).is_some(), "{v}");
        // full-pods form: victims come as Pods
        let full = serde_json::json!({
            "Pod": input["Pod"],
            "NodeNameToVictims": {"node-2": {"Pods": [{"metadata": {"uid": "vv", "name": "v"}, "spec": {"containers": []}}], "NumPDBViolations": 0}},
            "NodeNameToMetaVictims": null
        });
        let (_, v) = post_json(&h, "/preempt", serde_json::to_vec(&full).unwrap()).await;
        assert_eq!(v["NodeNameToMetaVictims"]["node-2"], serde_json::json!({"Pods": [{"UID": "vv"}], "NumPDBViolations": 0}));
        // quota reached: nothing can help, every node dropped
        h.state.write().unwrap().quota = 0;
        let mut eip_pod = input.clone();
        eip_pod["Pod"]["metadata"]["annotations"] = serde_json::json!({ SETTING_POD_WITH_EIP.keys[0]: "true" });
        let (_, v) = post_json(&h, "/preempt", serde_json::to_vec(&eip_pod).unwrap()).await;
        assert_eq!(v["NodeNameToMetaVictims"], serde_json::json!({}));
        // at quota, but the victim on AWS2 holds a new EIP released with it (Follow): its
        // eviction frees both the slot and the quota unit; AWS1's plain victims free no unit
        let v3 = "3504cd56-b303-cd1d-0946-064616346bf8";
        h.state.write().unwrap().apply_pod(pod("v3").uid(v3).on(AWS2).with_eip().allocated("eip-v3").build());
        h.state.write().unwrap().quota = 1;
        let (_, v) = post_json(&h, "/preempt", serde_json::to_vec(&eip_pod).unwrap()).await;
        assert_eq!(v["NodeNameToMetaVictims"], serde_json::json!({ AWS2: input["NodeNameToMetaVictims"][AWS2] }));
        // the same victim keeping its EIP (release strategy Never) frees no unit
        h.state.write().unwrap().apply_pod(pod("v3").uid(v3).on(AWS2).with_eip().keeps_eip().allocated("eip-v3").build());
        let (_, v) = post_json(&h, "/preempt", serde_json::to_vec(&eip_pod).unwrap()).await;
        assert_eq!(v["NodeNameToMetaVictims"], serde_json::json!({}));
        // full-pods form: the strategy is read from the victim's annotations
        for (strategy, kept) in [("Follow", true), ("Never", false), ("30m", false)] {
            let victim = serde_json::json!({
                "metadata": {"uid": "vv", "name": "v", "annotations": {
                    SETTING_POD_WITH_EIP.keys[0]: "true",
                    SETTING_RELEASE_STRATEGY.keys[0]: strategy,
                    ALLOCATED_EIP_ID: "eip-v3",
                }},
                "spec": {"nodeName": "node-2", "containers": []},
            });
            let full = serde_json::json!({
                "Pod": eip_pod["Pod"],
                "NodeNameToVictims": {"node-2": {"Pods": [victim], "NumPDBViolations": 0}},
                "NodeNameToMetaVictims": null
            });
            let (_, v) = post_json(&h, "/preempt", serde_json::to_vec(&full).unwrap()).await;
            assert_eq!(v["NodeNameToMetaVictims"].get("node-2").is_some(), kept, "{strategy}: {v}");
        }
    })
    .await;
}

#[actix_web::test]
async fn eip_pod_against_reached_quota_fails_every_node_unresolvable() {
    bounded(async {
        let h = harness();
        h.state.write().unwrap().quota = 0;
        let mut args: Value = serde_json::from_slice(&fixture("real-kube-scheduler-1.28/filter.nodecache-true.request.json")).unwrap();
        args["Pod"]["metadata"]["annotations"][SETTING_POD_WITH_EIP.keys[0]] = "true".into();
        let (_, v) = post_json(&h, "/filter", serde_json::to_vec(&args).unwrap()).await;
        assert_eq!(v["NodeNames"], serde_json::json!([]));
        assert_eq!(v["FailedNodes"], Value::Null);
        let unres = v["FailedAndUnresolvableNodes"].as_object().cloned().unwrap_or_default();
        assert_eq!(unres.len(), 3);
        for why in unres.values() {
            assert_eq!(why, "EIP quota reached in cn-hangzhou: 0 of 0 allocated; raise eip_quota_instances_num or release EIPs");
        }
    })
    .await;
}

#[actix_web::test]
async fn bad_filter_input_gets_a_clear_error_never_a_pass() {
    bounded(async {
        let h = harness();
        let good: Value = serde_json::from_slice(&fixture(
            "real-kube-scheduler-1.28/filter.nodecache-true.request.json",
        ))
        .unwrap();
        let mut both = good.clone();
        both["Nodes"] = serde_json::json!({"metadata": {}, "items": []});
        let mut neither = good.clone();
        neither["NodeNames"] = Value::Null;
        let mut no_pod = good.clone();
        no_pod.as_object_mut().unwrap().remove("Pod");
        let mut null_pod = good.clone();
        null_pod["Pod"] = Value::Null;
        let mut nameless =
            serde_json::from_slice::<Value>(&fixture("02-extender-args-nodes.json")).unwrap();
        nameless["Nodes"]["items"][0]["metadata"] = serde_json::json!({});
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "malformed JSON",
                b"{\"Pod\": {".to_vec(),
                "malformed filter request",
            ),
            (
                "not an object",
                b"[1,2]".to_vec(),
                "malformed filter request",
            ),
            ("empty body", Vec::new(), "malformed filter request"),
            (
                "lowercase keys",
                br#"{"pod":{},"nodenames":["node-1"]}"#.to_vec(),
                "filter request has no Pod",
            ),
            (
                "missing Pod",
                serde_json::to_vec(&no_pod).unwrap(),
                "filter request has no Pod",
            ),
            (
                "null Pod",
                serde_json::to_vec(&null_pod).unwrap(),
                "filter request has no Pod",
            ),
            (
                "both",
                serde_json::to_vec(&both).unwrap(),
                "both Nodes and NodeNames",
            ),
            (
                "neither",
                serde_json::to_vec(&neither).unwrap(),
                "neither Nodes nor NodeNames",
            ),
            (
                "nameless node",
                serde_json::to_vec(&nameless).unwrap(),
                "Nodes item 0 has no metadata.name",
            ),
        ];
        for (what, body, want) in cases {
            let (status, v) = post_json(&h, "/filter", body).await;
            assert_eq!(status, 200, "{what}");
            let err = v["Error"].as_str().unwrap_or_default();
            assert!(err.contains(want), "{what}: {err:?}");
            assert_eq!(v["NodeNames"], Value::Null, "{what}: nothing passes");
            assert_eq!(v["Nodes"], Value::Null, "{what}: nothing passes");
        }
        // unknown node names fail unresolvable with a reason
        let mut unknown = good.clone();
        unknown["NodeNames"] = serde_json::json!(["node-1", "ghost"]);
        let (_, v) = post_json(&h, "/filter", serde_json::to_vec(&unknown).unwrap()).await;
        assert_eq!(v["NodeNames"], serde_json::json!(["node-1"]));
        assert!(
            v["FailedAndUnresolvableNodes"]["ghost"]
                .as_str()
                .unwrap_or_default()
                .contains("not known to eip-extender")
        );
        // oversized body
        let (status, body) = call(
            &h,
            Some(1024),
            "POST",
            "/filter",
            fixture("02-extender-args-nodes.json"),
        )
        .await;
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 200);
        assert!(
            v["Error"]
                .as_str()
                .unwrap_or_default()
                .contains("request body exceeds"),
            "{v}"
        );
        // caches not synced
        h.ready.synced.store(false, Ordering::Release);
        let (_, v) = post_json(&h, "/filter", fixture("01-extender-args-nodenames.json")).await;
        assert!(
            v["Error"]
                .as_str()
                .unwrap_or_default()
                .contains("not synced")
        );
    })
    .await;
}

#[actix_web::test]
async fn bad_input_on_other_verbs() {
    bounded(async {
        let h = harness();
        let (status, body) = call(&h, None, "POST", "/prioritize", b"nope".to_vec()).await;
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).contains("malformed prioritize request"));
        let (status, body) = call(&h, None, "POST", "/preempt", b"{}".to_vec()).await;
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).contains("preempt request has no Pod"));
        for (body, want) in [
            (b"{".to_vec(), "malformed bind request"),
            (
                b"{}".to_vec(),
                "bind request lacks PodNamespace, PodName or Node",
            ),
            (
                br#"{"PodName":"gone","PodNamespace":"default","PodUID":"u","Node":"node-1"}"#
                    .to_vec(),
                "pod default/gone no longer exists",
            ),
            (
                br#"{"PodName":"x","PodNamespace":"default","PodUID":"u","Node":"ghost"}"#.to_vec(),
                "node ghost is not known to eip-extender",
            ),
        ] {
            let (status, v) = post_json(&h, "/bind", body).await;
            assert_eq!(status, 200);
            assert!(
                v["Error"].as_str().unwrap_or_default().contains(want),
                "{v}"
            );
        }
        let (status, _) = call(&h, None, "GET", "/filter", Vec::new()).await;
        assert_eq!(status, 405);
    })
    .await;
}

#[actix_web::test]
async fn prefix_and_operational_endpoints() {
    bounded(async {
        let h = harness();
        let app = test::init_service(
            App::new()
                .app_data(h.app_state(None))
                .configure(configure("/scheduler/")),
        )
        .await;
        let req = test::TestRequest::post()
            .uri("/scheduler/filter")
            .set_payload(fixture("01-extender-args-nodenames.json"))
            .to_request();
        let v: Value = test::call_and_read_body_json(&app, req).await;
        assert_eq!(v["NodeNames"], serde_json::json!([AWS1]));
        let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();
        assert_eq!(
            test::call_service(&app, get("/healthz")).await.status(),
            200
        );
        assert_eq!(test::call_service(&app, get("/readyz")).await.status(), 200);
        h.ready.leader_election.store(true, Ordering::Release);
        assert_eq!(test::call_service(&app, get("/readyz")).await.status(), 503);
        h.ready.leader.store(true, Ordering::Release);
        assert_eq!(test::call_service(&app, get("/readyz")).await.status(), 200);
        let metrics = String::from_utf8(
            test::call_and_read_body(&app, get("/metrics"))
                .await
                .to_vec(),
        )
        .unwrap();
        assert!(
            metrics.contains("eip_extender_requests_total{verb=\"filter\",outcome=\"ok\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("eip_extender_rejections_total{reason=\"node_full\"} 1"),
            "{metrics}"
        );
        assert!(metrics.contains("eip_extender_cached_pods 11"), "{metrics}");
        assert!(
            metrics.contains("eip_extender_request_duration_seconds_bucket"),
            "{metrics}"
        );
        let state: Value = test::call_and_read_body_json(&app, get("/debug/state")).await;
        let n1 = state["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == "node-1")
            .cloned()
            .unwrap();
        assert_eq!(
            (
                n1["slots"].as_u64(),
                n1["used"].as_u64(),
                n1["free"].as_u64()
            ),
            (Some(10), Some(2), Some(8))
        );
        assert_eq!(state["quota"]["quota"], 20);
        let v: Value = test::call_and_read_body_json(&app, get("/version")).await;
        assert_eq!(v["name"], "eip-extender");
    })
    .await;
}
