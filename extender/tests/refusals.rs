//! Every refusal of a pod is logged once, at info, with the pod and the reason. A test
//! binary of its own: it captures this thread's logs (`eip_log::capture`), and tracing's
//! callsite cache is shared with every test running beside it in the same process.

mod common;

use eip_log::LogFormat;
use serde_json::{Value, json};

use common::*;

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
