//! eip-extender's `/debug/state`, read by `nodes` and `doctor`: the wire shape (only the
//! fields the plugin reads; the rest is ignored) and how to reach it, directly with
//! `--extender URL` or through the API server's service proxy to `kube-eip/eip-extender`
//! as `kubectl get --raw` does.
//!
//! The plugin does not depend on the extender crate: these types mirror its JSON, and
//! `tests/extender_state.rs` parses what a real extender serves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::connect::Kube;
use crate::names::{EXTENDER, EXTENDER_PORT, NAMESPACE};

/// `/debug/state` (mirrors eip-extender's `state::StateSnapshot`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugState {
    /// Per node, sorted by name.
    #[serde(default)]
    pub nodes: Vec<DebugNode>,
    /// The region's EIP quota as the extender counts it.
    pub quota: DebugQuota,
    /// Free vSwitch IPs per zone (empty before the first cloud refresh).
    #[serde(default)]
    pub zone_free_ips: BTreeMap<String, u64>,
    /// Age of the extender's cloud view, in seconds (`None` before the first refresh).
    #[serde(default)]
    pub cloud_view_age_seconds: Option<f64>,
}

/// One node of `/debug/state` (mirrors eip-extender's `state::NodeSnapshot`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugNode {
    /// Name.
    pub name: String,
    /// Whether the extender has seen the Node object (else only pods refer to it).
    #[serde(default)]
    pub known: bool,
    /// Instance type label.
    #[serde(default)]
    pub instance_type: Option<String>,
    /// Zone label.
    #[serde(default)]
    pub zone: Option<String>,
    /// Pod IP slots, when known.
    #[serde(default)]
    pub slots: Option<u32>,
    /// Where the slot count came from, or why it is unknown.
    #[serde(default)]
    pub capacity: Option<String>,
    /// Slots used by pods.
    pub used: u32,
    /// Slots reserved by bind and not yet seen on the node.
    pub reserved: u32,
    /// Free slots, when the capacity is known.
    #[serde(default)]
    pub free: Option<u32>,
}

/// The quota part of `/debug/state` (mirrors eip-extender's `state::QuotaSnapshot`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugQuota {
    /// Region.
    pub region: String,
    /// The configured EIP quota.
    pub quota: u32,
    /// EIPs allocated in the region (`None` before the first cloud refresh).
    #[serde(default)]
    pub allocated: Option<u32>,
    /// EIP pods approved by the extender whose EIP is not allocated yet.
    #[serde(default)]
    pub approved_unallocated: u32,
}

/// The service proxy path of the extender's `path` (`/debug/state`, `/readyz`).
pub fn proxy_path(path: &str) -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/services/{EXTENDER}:{EXTENDER_PORT}/proxy{path}")
}

/// Where `/debug/state` was read from, for messages.
pub fn source(extender: Option<&str>) -> String {
    match extender {
        Some(url) => format!("eip-extender at {}", url.trim_end_matches('/')),
        None => {
            format!("eip-extender through the API server's service proxy ({NAMESPACE}/{EXTENDER})")
        }
    }
}

/// GETs the extender's `path`: `(HTTP status, body)`, or why it could not be asked.
pub async fn get(kube: &Kube, extender: Option<&str>, path: &str) -> Result<(u16, String), String> {
    match extender {
        Some(url) => {
            let url = format!("{}{path}", url.trim_end_matches('/'));
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())?;
            let r = client.get(&url).send().await.map_err(|e| {
                let mut cur: &dyn std::error::Error = &e;
                while let Some(next) = cur.source() {
                    cur = next;
                }
                cur.to_string()
            })?;
            let status = r.status().as_u16();
            Ok((status, r.text().await.map_err(|e| e.to_string())?))
        }
        None => {
            let req = http::Request::get(proxy_path(path))
                .body(Vec::new())
                .map_err(|e| e.to_string())?;
            match kube.client.request_text(req).await {
                Ok(body) => Ok((200, body)),
                Err(kube::Error::Api(s)) => Ok((s.code, s.message)),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

/// Reads and parses `/debug/state`; the error is why it is not available, one phrase.
pub async fn debug_state(kube: &Kube, extender: Option<&str>) -> Result<DebugState, String> {
    let (status, body) = get(kube, extender, "/debug/state").await?;
    if status != 200 {
        let body = body.trim();
        return Err(if body.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {body}")
        });
    }
    parse(&body)
}

/// Parses a `/debug/state` body.
pub fn parse(body: &str) -> Result<DebugState, String> {
    serde_json::from_str(body).map_err(|e| format!("not eip-extender's /debug/state: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_captured_state_parses_and_unknown_fields_are_ignored() {
        let body = r#"{"nodes":[{"name":"node-1","known":true,"instanceType":"ecs.g7.large","zone":"cn-hangzhou-h","slots":20,"capacity":"20 (published by eip-agent)","used":3,"reserved":1,"free":16,"unschedulable":false,"ready":true}],"pods":7,"reservations":[],"quota":{"region":"cn-hangzhou","quota":20,"allocated":2,"approvedUnallocated":1},"eips":[],"zoneFreeIps":{"cn-hangzhou-h":250},"cloudViewAgeSeconds":1.5,"switches":{"eipEnabled":true,"allowRob":false}}"#;
        let s = parse(body).expect("parses");
        assert_eq!(s.nodes.len(), 1);
        assert_eq!(s.nodes[0].free, Some(16));
        assert_eq!(s.quota.allocated, Some(2));
        assert_eq!(s.zone_free_ips.get("cn-hangzhou-h"), Some(&250));
        assert!(parse("<html>").is_err());
    }

    #[test]
    fn the_proxy_path_is_kubectls() {
        assert_eq!(
            proxy_path("/debug/state"),
            "/api/v1/namespaces/kube-eip/services/eip-extender:8484/proxy/debug/state"
        );
    }
}
