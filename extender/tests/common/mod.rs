//! The actix test-server harness of the error-answer tests (`errors.rs`) and the
//! refusal-log test (`refusals.rs`, a binary of its own: it captures this thread's logs,
//! and tracing's callsite cache is shared with every test running beside it).
#![allow(dead_code)]

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
use serde_json::{Value, json};

pub const TIMEOUT: Duration = Duration::from_secs(20);
pub const VERBS: [&str; 4] = ["filter", "prioritize", "bind", "preempt"];

pub async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test timed out")
}

/// `roomy` has 8 of 10 slots free, `full` 0 of 2; `victim` is one of the pods on `full`.
pub struct Harness {
    pub state: Arc<RwLock<ClusterState>>,
    pub binder: Arc<FakeBinder>,
    pub ready: Arc<Readiness>,
}

pub fn harness() -> Harness {
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
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub allow: Option<String>,
    pub body: String,
}

pub async fn call(h: &Harness, limit: usize, method: Method, path: &str, body: Vec<u8>) -> Answer {
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

pub async fn post(h: &Harness, verb: &str, body: Value) -> Answer {
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

pub fn pod_json(name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
           "spec": {"containers": []}})
}

/// An error answer: 200 with a non-empty JSON `Error` (filter, bind), or another status
/// with one sentence of text (prioritize, preempt, and paths or methods not served).
pub fn assert_error_answer(what: &str, a: &Answer, want: &str) {
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
