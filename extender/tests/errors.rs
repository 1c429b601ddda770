//! How the extender says no, over actix's test server: every error answer of every verb
//! carries a content type and a sentence, a method a path does not serve gets 405 with
//! `Allow`, an unknown path 404 with a sentence, and every refusal of a pod is logged once,
//! at info, with the pod and the reason.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::http::{Method, header};
use actix_web::{App, test, web};
use eip_extender::bind::BindCoordinator;
use eip_extender::decide::Scoring;
use eip_extender::http::{AppState, Readiness, configure};
use eip_extender::state::ClusterState;
use eip_extender::testkit::{FakeBinder, node, pod};
use eip_log::LogFormat;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(20);
const VERBS: [&str; 4] = ["filter", "prioritize", "bind", "preempt"];

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test timed out")
}

/// `roomy` has 8 of 10 slots free, `full` 0 of 2; `victim` is one of the pods on `full`.
struct Harness {
    state: Arc<RwLock<ClusterState>>,
    binder: Arc<FakeBinder>,
    ready: Arc<Readiness>,
}

fn harness() -> Harness {
    let mut s = ClusterState::new(20, "cn-hangzhou");
    s.apply_node(node("roomy").max_ips(10).build());
    s.apply_node(node("full").max_ips(2).build());
    for i in 0..2 {
        s.apply_pod(pod(&format!("roomy-{i}")).on("roomy").build());
    }
    s.apply_pod(pod("victim").on("full").build());
    s.apply_pod(pod("full-1").on("full").build());
    s.apply_pod(pod("p").build());
    let ready = Arc::new(Readiness::default());
    ready.synced.store(true, Ordering::Release);
    Harness {
        state: Arc::new(RwLock::new(s)),
        binder: Arc::new(FakeBinder::default()),
        ready,
    }
}

impl Harness {
    fn app_state(&self, body_limit: usize) -> web::Data<AppState> {
        let binder = BindCoordinator::new(self.state.clone(), self.binder.clone());
        let mut app = AppState::new(
            self.state.clone(),
            Some(Arc::new(binder)),
            self.ready.clone(),
            Scoring::Spread,
        );
        app.body_limit = body_limit;
        web::Data::new(app)
    }
}

/// What came back: status, `Content-Type`, `Allow`, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    allow: Option<String>,
    body: String,
}

async fn call(h: &Harness, limit: usize, method: Method, path: &str, body: Vec<u8>) -> Answer {
    let app = test::init_service(
        App::new()
            .app_data(h.app_state(limit))
            .configure(configure("/scheduler")),
    )
    .await;
    let req = test::TestRequest::default()
        .method(method)
        .uri(path)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(body)
        .to_request();
    let resp = test::call_service(&app, req).await;
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (status, content_type, allow) = (
        resp.status().as_u16(),
        header(header::CONTENT_TYPE).unwrap_or_default(),
        header(header::ALLOW),
    );
    let body = String::from_utf8_lossy(&test::read_body(resp).await).into_owned();
    Answer {
        status,
        content_type,
        allow,
        body,
    }
}

async fn post(h: &Harness, verb: &str, body: Value) -> Answer {
    let body = serde_json::to_vec(&body).expect("encodes");
    call(
        h,
        1 << 20,
        Method::POST,
        &format!("/scheduler/{verb}"),
        body,
    )
    .await
}

fn pod_json(name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
           "spec": {"containers": []}})
}

/// An error answer: 200 with a non-empty JSON `Error` (filter, bind), or another status
/// with one sentence of text (prioritize, preempt, and paths or methods not served).
fn assert_error_answer(what: &str, a: &Answer, want: &str) {
    assert!(!a.content_type.is_empty(), "{what}: no Content-Type: {a:?}");
    if a.status == 200 {
        assert!(
            a.content_type.starts_with("application/json"),
            "{what}: {a:?}"
        );
        let v: Value = serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{what}: {e}"));
        let err = v["Error"].as_str().unwrap_or_default();
        assert!(err.contains(want), "{what}: {err:?} lacks {want:?}");
    } else {
        assert!(
            a.content_type.starts_with("text/plain")
                || a.content_type.starts_with("application/json"),
            "{what}: {a:?}"
        );
        assert!(a.body.contains(want), "{what}: {a:?} lacks {want:?}");
    }
}

#[actix_web::test]
async fn every_error_answer_of_every_verb_has_a_content_type_and_a_sentence() {
    bounded(async {
        let h = harness();
        // the same body is too large for every verb under a 16-byte limit
        let big = serde_json::to_vec(&json!({"Pod": pod_json("p"), "NodeNames": ["roomy"]}))
            .expect("encodes");
        for verb in VERBS {
            let path = format!("/scheduler/{verb}");
            let a = call(&h, 16, Method::POST, &path, big.clone()).await;
            assert_error_answer(&format!("{verb} too large"), &a, "request body exceeds");
            let a = call(&h, 1 << 20, Method::POST, &path, b"{".to_vec()).await;
            assert_error_answer(&format!("{verb} malformed"), &a, "malformed");
        }
        for (verb, status) in [("prioritize", 400), ("preempt", 400)] {
            let a = post(&h, verb, json!({})).await;
            assert_eq!(a.status, status, "{verb}: {a:?}");
            assert_error_answer(verb, &a, &format!("{verb} request has no Pod"));
        }
        h.ready.synced.store(false, Ordering::Release);
        for (verb, body) in [
            ("filter", json!({"Pod": pod_json("p"), "NodeNames": ["roomy"]})),
            ("prioritize", json!({"Pod": pod_json("p"), "NodeNames": ["roomy"]})),
            (
                "preempt",
                json!({"Pod": pod_json("p"), "NodeNameToMetaVictims": {}}),
            ),
            (
                "bind",
                json!({"PodName": "p", "PodNamespace": "default", "PodUID": "uid-p", "Node": "roomy"}),
            ),
        ] {
            let a = post(&h, verb, body).await;
            assert_error_answer(&format!("{verb} not synced"), &a, "not synced");
        }
    })
    .await;
}

#[actix_web::test]
async fn another_method_gets_405_with_allow_and_another_path_404() {
    bounded(async {
        let h = harness();
        for verb in VERBS {
            for method in [Method::GET, Method::PUT] {
                let path = format!("/scheduler/{verb}");
                let a = call(&h, 1 << 20, method.clone(), &path, Vec::new()).await;
                assert_eq!(a.status, 405, "{method} {path}: {a:?}");
                assert_eq!(a.allow.as_deref(), Some("POST"), "{method} {path}");
                assert!(a.content_type.starts_with("text/plain"), "{a:?}");
                assert_eq!(
                    a.body,
                    format!("{path} answers POST only, not {method}"),
                    "{a:?}"
                );
            }
        }
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/debug/state",
            "/version",
        ] {
            let a = call(&h, 1 << 20, Method::POST, path, Vec::new()).await;
            assert_eq!(a.status, 405, "POST {path}: {a:?}");
            assert_eq!(a.allow.as_deref(), Some("GET"), "POST {path}");
            assert!(a.content_type.starts_with("text/plain"), "{a:?}");
            assert!(a.body.contains("answers GET only"), "{a:?}");
        }
        // a scheduler configured without the prefix is told where the verbs are
        let a = call(&h, 1 << 20, Method::POST, "/filter", b"{}".to_vec()).await;
        assert_eq!(a.status, 404, "{a:?}");
        assert!(a.content_type.starts_with("text/plain"), "{a:?}");
        assert_eq!(
            a.body,
            "eip-extender has no endpoint /filter; its scheduler verbs are /scheduler/filter, \
             /scheduler/prioritize, /scheduler/bind, /scheduler/preempt"
        );
        // the routes still answer what they serve
        assert_eq!(
            call(&h, 1 << 20, Method::GET, "/healthz", Vec::new())
                .await
                .status,
            200
        );
    })
    .await;
}

/// The refusal lines among what was logged since the last call.
fn refusals(logs: &eip_log::Captured) -> Vec<Value> {
    let text = logs.text();
    logs.clear();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["fields"]["message"] == "refused the pod")
        .collect()
}

#[actix_web::test]
async fn every_refusal_is_logged_once_with_the_pod_and_the_reason() {
    bounded(async {
        let h = harness();
        let (logs, _guard) = eip_log::capture(LogFormat::Json, "info");
        let names = |pod: &str, nodes: &[&str]| json!({"Pod": pod_json(pod), "NodeNames": nodes});
        let victims = |node: &str| {
            json!({"Pod": pod_json("p"), "NodeNameToMetaVictims": {
                node: {"Pods": [{"UID": "uid-victim"}], "NumPDBViolations": 0}}})
        };
        let bind = |node: &str| {
            json!({"PodName": "p", "PodNamespace": "default", "PodUID": "uid-p", "Node": node})
        };
        // (verb, body, the pod logged, words of the reason); no pod when none could be read
        let cases: Vec<(&str, Value, Option<&str>, &str)> = vec![
            (
                "filter",
                json!("not an ExtenderArgs"),
                None,
                "malformed filter request",
            ),
            (
                "filter",
                names("p", &["full"]),
                Some("default/p"),
                "no node fits the pod: node full has 0 of 2 pod IPs free",
            ),
            (
                "filter",
                names("p", &["ghost", "full"]),
                Some("default/p"),
                "(and 1 other nodes failed)",
            ),
            (
                "filter",
                json!({"Pod": pod_json("p"), "NodeNames": ["roomy"], "Nodes": {"items": []}}),
                Some("default/p"),
                "both Nodes and NodeNames",
            ),
            (
                "prioritize",
                json!({"Pod": pod_json("p")}),
                Some("default/p"),
                "neither Nodes nor NodeNames",
            ),
            ("preempt", json!({}), None, "preempt request has no Pod"),
            (
                "preempt",
                victims("roomy-gone"),
                Some("default/p"),
                "on none of the candidate nodes",
            ),
            ("bind", json!("not ExtenderBindingArgs"), None, "malformed bind request"),
            (
                "bind",
                bind("full"),
                Some("default/p"),
                "node full has 0 of 2 pod IPs free",
            ),
            (
                "bind",
                json!({"PodName": "gone", "PodNamespace": "default", "PodUID": "u", "Node": "roomy"}),
                Some("default/gone"),
                "pod default/gone no longer exists",
            ),
        ];
        for (verb, body, who, want) in cases {
            post(&h, verb, body).await;
            let lines = refusals(&logs);
            let [line] = lines.as_slice() else {
                panic!("{verb} {want}: one refusal line expected, got {lines:?}");
            };
            assert_eq!(line["level"], "INFO", "{line}");
            assert_eq!(line["fields"]["verb"], verb, "{line}");
            assert_eq!(line["fields"]["pod"].as_str(), who, "{line}");
            let reason = line["fields"]["reason"].as_str().unwrap_or_default();
            assert!(reason.contains(want), "{verb}: {reason:?} lacks {want:?}");
        }
        // what passes is not a refusal: a node fits, scores, a victim that makes room, a bind
        for (verb, body) in [
            ("filter", names("p", &["roomy", "full"])),
            ("prioritize", names("p", &["roomy", "full"])),
            ("preempt", victims("full")),
            ("bind", bind("roomy")),
        ] {
            let a = post(&h, verb, body).await;
            assert_eq!(a.status, 200, "{verb}: {a:?}");
            assert_eq!(refusals(&logs), Vec::<Value>::new(), "{verb}");
        }
        assert_eq!(h.binder.node_of("default", "p").as_deref(), Some("roomy"));
    })
    .await;
}
