//! How the extender says no, over actix's test server: every error answer of every verb
//! carries a content type and a sentence, a method a path does not serve gets 405 with
//! `Allow`, and an unknown path 404 with a sentence.

mod common;

use std::sync::atomic::Ordering;

use actix_web::http::Method;
use serde_json::json;

use common::*;

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
