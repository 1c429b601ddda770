//! kube-scheduler extender wire types (`k8s.io/kube-scheduler/extender/v1`) and the
//! `extenders` entry of `KubeSchedulerConfiguration` (`k8s.io/kube-scheduler/config/v1`).
//!
//! The Go structs have no JSON tags, so every top-level key is the Go field name in
//! PascalCase (`PodUID`, `UID`, `NumPDBViolations` included); nested Kubernetes objects keep
//! their camelCase. Inputs tolerate `null` for every optional field; outputs always write
//! every field, with `null` where Go would have a nil map or slice and `Error: ""`.
//!
//! Full `Nodes` (when `nodeCacheCapable: false`) are kept as raw JSON
//! ([`RawNode`]) so the extender can echo the nodes it keeps byte for byte without decoding
//! or re-encoding them; [`node_name`] reads just `metadata.name`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::Error;

/// Lowest score an extender may give (`MinExtenderPriority`).
pub const MIN_EXTENDER_PRIORITY: i64 = 0;
/// Highest score an extender may give (`MaxExtenderPriority`).
pub const MAX_EXTENDER_PRIORITY: i64 = 10;

/// One node object exactly as the scheduler sent it.
pub type RawNode = Box<RawValue>;

/// Mirrors `v1.NodeList` as the scheduler sends it: `{"metadata":{},"items":[...]}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeList {
    /// List metadata; the scheduler sends `{}`, and `{}` is written back.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The nodes, untouched.
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<RawNode>,
}

impl NodeList {
    /// A list of these raw nodes with empty metadata.
    pub fn new(items: Vec<RawNode>) -> Self {
        Self {
            metadata: serde_json::Map::new(),
            items,
        }
    }
}

/// Decodes one raw node into a full `v1.Node` (for the watch-less path and tests; the filter
/// hot path should use [`node_name`] instead).
pub fn decode_node(node: &RawValue) -> Result<k8s_openapi::api::core::v1::Node, serde_json::Error> {
    serde_json::from_str(node.get())
}

/// Reads `metadata.name` of a raw node without decoding the rest into a `Node`, and stops
/// there.
///
/// A raw node is valid JSON already, so the rest of it (status, images: most of its
/// ~13 KiB) need not be read again. The walk stops as soon as the name is found, which
/// serde_json reports as an error at the first unread key; the name is taken from `found`
/// whatever the walk returns. `None` if the item is not an object with a string
/// `metadata.name`.
pub fn node_name(node: &RawValue) -> Option<Cow<'_, str>> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_str(node.get());
    // the Err that stopping early yields is expected; `found` says whether the name was read
    let _stopped = Deserializer::deserialize_map(
        &mut de,
        FindKey {
            key: "metadata",
            inner: Some("name"),
            found: &mut found,
        },
    );
    found
}

/// Walks an object to `key` (then, with `inner`, into that object to `inner`) and stores
/// the string found there, skipping everything before it unparsed.
struct FindKey<'f, 'de> {
    key: &'static str,
    inner: Option<&'static str>,
    found: &'f mut Option<Cow<'de, str>>,
}

impl<'de> Visitor<'de> for FindKey<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an object with {}", self.key)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<Str<'de>>()? {
            if k.0 != self.key {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            match self.inner {
                None => {
                    *self.found = map.next_value::<Option<Str<'de>>>()?.map(|s| s.0);
                }
                Some(inner) => map.next_value_seed(FindKey {
                    key: inner,
                    inner: None,
                    found: self.found,
                })?,
            }
            // stop here: the caller does not need the rest
            return Ok(());
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for FindKey<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

/// A string borrowed from the input when it has no escapes, else owned.
struct Str<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Mirrors `extenderv1.ExtenderArgs`: the body of filter and prioritize calls.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExtenderArgs {
    /// The pod being scheduled.
    #[serde(default, deserialize_with = "null_as_default")]
    pub pod: Pod,
    /// Candidate nodes; set only when `nodeCacheCapable: false`.
    #[serde(default)]
    pub nodes: Option<NodeList>,
    /// Candidate node names; set only when `nodeCacheCapable: true`.
    #[serde(default)]
    pub node_names: Option<Vec<String>>,
}

/// Node name → reason a user can act on (`extenderv1.FailedNodesMap`).
pub type FailedNodesMap = BTreeMap<String, String>;

/// Mirrors `extenderv1.ExtenderFilterResult`: the filter response. All five fields are always
/// written; empty maps as `null` (as Go writes a nil map), `Error` as `""` when empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExtenderFilterResult {
    /// Nodes that pass (full-Nodes mode), echoed untouched; `None` in NodeNames mode.
    #[serde(default)]
    pub nodes: Option<NodeList>,
    /// Names of nodes that pass (`nodeCacheCapable: true`); `None` in full-Nodes mode.
    #[serde(default)]
    pub node_names: Option<Vec<String>>,
    /// Nodes that preemption could fix (become `Unschedulable`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        serialize_with = "empty_map_as_null"
    )]
    pub failed_nodes: FailedNodesMap,
    /// Nodes that preemption cannot fix (become `UnschedulableAndUnresolvable`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        serialize_with = "empty_map_as_null"
    )]
    pub failed_and_unresolvable_nodes: FailedNodesMap,
    /// A whole-call failure; non-empty fails the scheduling cycle.
    #[serde(default, deserialize_with = "null_as_default")]
    pub error: String,
}

impl ExtenderFilterResult {
    /// A response that fails the whole call with this message (sent with HTTP 200, since the
    /// scheduler ignores the body of any other status).
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            error: message.into(),
            ..Self::default()
        }
    }
}

/// Mirrors `extenderv1.HostPriority`: one node's score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostPriority {
    /// Node name.
    pub host: String,
    /// Score, [`MIN_EXTENDER_PRIORITY`]..=[`MAX_EXTENDER_PRIORITY`].
    pub score: i64,
}

/// Mirrors `extenderv1.HostPriorityList`: the prioritize response, a bare JSON array.
pub type HostPriorityList = Vec<HostPriority>;

/// Mirrors `extenderv1.ExtenderBindingArgs`: the bind request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExtenderBindingArgs {
    /// Pod name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub pod_name: String,
    /// Pod namespace.
    #[serde(default, deserialize_with = "null_as_default")]
    pub pod_namespace: String,
    /// Pod UID.
    #[serde(rename = "PodUID", default, deserialize_with = "null_as_default")]
    pub pod_uid: String,
    /// Chosen node.
    #[serde(default, deserialize_with = "null_as_default")]
    pub node: String,
}

/// Mirrors `extenderv1.ExtenderBindingResult`: the bind response; `Error` empty on success.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExtenderBindingResult {
    /// Why binding failed; `""` on success.
    #[serde(default, deserialize_with = "null_as_default")]
    pub error: String,
}

/// Mirrors `extenderv1.ExtenderPreemptionArgs`: the preempt request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExtenderPreemptionArgs {
    /// The preemptor pod.
    #[serde(default, deserialize_with = "null_as_default")]
    pub pod: Pod,
    /// Candidate victims per node with full pods (`nodeCacheCapable: false`).
    #[serde(default)]
    pub node_name_to_victims: Option<BTreeMap<String, Victims>>,
    /// Candidate victims per node by UID (`nodeCacheCapable: true`).
    #[serde(default)]
    pub node_name_to_meta_victims: Option<BTreeMap<String, MetaVictims>>,
}

/// Mirrors `extenderv1.ExtenderPreemptionResult`: the preempt response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExtenderPreemptionResult {
    /// Nodes that stay candidates, each with at least one victim.
    #[serde(default)]
    pub node_name_to_meta_victims: Option<BTreeMap<String, MetaVictims>>,
}

/// Mirrors `extenderv1.Victims`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Victims {
    /// Pods to evict.
    #[serde(default, deserialize_with = "null_as_default")]
    pub pods: Vec<Pod>,
    /// PodDisruptionBudget violations the eviction causes.
    #[serde(
        rename = "NumPDBViolations",
        default,
        deserialize_with = "null_as_default"
    )]
    pub num_pdb_violations: i64,
}

/// Mirrors `extenderv1.MetaVictims`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetaVictims {
    /// Pods to evict, by UID.
    #[serde(default, deserialize_with = "null_as_default")]
    pub pods: Vec<MetaPod>,
    /// PodDisruptionBudget violations the eviction causes.
    #[serde(
        rename = "NumPDBViolations",
        default,
        deserialize_with = "null_as_default"
    )]
    pub num_pdb_violations: i64,
}

/// Mirrors `extenderv1.MetaPod`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaPod {
    /// Pod UID.
    #[serde(rename = "UID", default, deserialize_with = "null_as_default")]
    pub uid: String,
}

/// Serde `deserialize_with` helper: `null` (as Go writes a nil map, slice or pointer) reads
/// as the type's default.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Serde `serialize_with` helper: an empty [`FailedNodesMap`] is written as `null`, as Go
/// writes a nil map.
pub fn empty_map_as_null<S: Serializer>(map: &FailedNodesMap, s: S) -> Result<S::Ok, S::Error> {
    if map.is_empty() {
        s.serialize_none()
    } else {
        map.serialize(s)
    }
}

/// Mirrors `configv1.Extender`: one entry of `KubeSchedulerConfiguration.extenders`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtenderConfig {
    /// Base URL; the verb is appended after a `/`.
    pub url_prefix: String,
    /// Verb of the filter call; none = no filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_verb: Option<String>,
    /// Verb of the prioritize call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prioritize_verb: Option<String>,
    /// Verb of the preempt call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempt_verb: Option<String>,
    /// Verb of the bind call; at most one extender may bind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_verb: Option<String>,
    /// Multiplier of prioritize scores; required (> 0) with `prioritizeVerb`.
    #[serde(default)]
    pub weight: i64,
    /// Use TLS.
    #[serde(rename = "enableHTTPS", default)]
    pub enable_https: bool,
    /// TLS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<ExtenderTlsConfig>,
    /// Whole-request timeout as a Go duration (`2s`); absent or `0` means 5 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_timeout: Option<String>,
    /// Send `NodeNames` instead of full `Nodes`.
    #[serde(default)]
    pub node_cache_capable: bool,
    /// Extended resources this extender manages; empty = interested in every pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_resources: Vec<ExtenderManagedResource>,
    /// Errors skip this extender instead of failing the pod.
    #[serde(default)]
    pub ignorable: bool,
}

/// The scheduler's timeout when `httpTimeout` is absent or zero (`DefaultExtenderTimeout`).
pub const DEFAULT_EXTENDER_TIMEOUT: Duration = Duration::from_secs(5);

impl ExtenderConfig {
    /// The effective timeout: `httpTimeout` parsed as a Go duration, or 5 s if absent or 0.
    pub fn timeout(&self) -> Result<Duration, Error> {
        match self.http_timeout.as_deref().map(str::trim) {
            None | Some("" | "0") => Ok(DEFAULT_EXTENDER_TIMEOUT),
            Some(s) => match humantime::parse_duration(s) {
                Ok(d) if d.is_zero() => Ok(DEFAULT_EXTENDER_TIMEOUT),
                Ok(d) => Ok(d),
                Err(_) => Err(Error::Yaml {
                    action: "parse",
                    what: "extender httpTimeout",
                    message: format!("{s:?} is not a duration such as 2s or 1m30s"),
                }),
            },
        }
    }

    /// The URL of one verb: `urlPrefix` without trailing `/`, then `/`, then the verb.
    pub fn verb_url(&self, verb: &str) -> String {
        format!("{}/{}", self.url_prefix.trim_end_matches('/'), verb)
    }
}

/// Mirrors `configv1.ExtenderTLSConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtenderTlsConfig {
    /// Skip server verification.
    #[serde(default)]
    pub insecure: bool,
    /// Server name for SNI and verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Client certificate file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// Client key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// CA file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Client certificate PEM, base64 (Go `[]byte`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_data: Option<String>,
    /// Client key PEM, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_data: Option<String>,
    /// CA PEM, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_data: Option<String>,
}

/// Mirrors `configv1.ExtenderManagedResource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtenderManagedResource {
    /// Extended resource name.
    pub name: String,
    /// Also ignore the resource in NodeResourcesFit.
    #[serde(default)]
    pub ignored_by_scheduler: bool,
}

/// `apiVersion` of the scheduler configuration.
pub const SCHEDULER_CONFIG_API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
/// `kind` of the scheduler configuration.
pub const SCHEDULER_CONFIG_KIND: &str = "KubeSchedulerConfiguration";

/// The parts of `configv1.KubeSchedulerConfiguration` kube-eip reads or writes: the
/// `extenders` list. Every other top-level field is kept as-is in `other`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulerConfiguration {
    /// `kubescheduler.config.k8s.io/v1`.
    pub api_version: String,
    /// `KubeSchedulerConfiguration`.
    pub kind: String,
    /// Extenders, called in order.
    #[serde(default)]
    pub extenders: Vec<ExtenderConfig>,
    /// Every other field (profiles, clientConnection, ...), untouched.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl SchedulerConfiguration {
    /// A configuration with just these extenders.
    pub fn with_extenders(extenders: Vec<ExtenderConfig>) -> Self {
        Self {
            api_version: SCHEDULER_CONFIG_API_VERSION.to_owned(),
            kind: SCHEDULER_CONFIG_KIND.to_owned(),
            extenders,
            other: BTreeMap::new(),
        }
    }

    /// Parses the YAML file kube-scheduler reads with `--config`.
    pub fn from_yaml(yaml: &str) -> Result<Self, Error> {
        serde_saphyr::from_str(yaml).map_err(|e| Error::Yaml {
            action: "parse",
            what: "KubeSchedulerConfiguration",
            message: e.to_string(),
        })
    }

    /// Writes it as YAML.
    pub fn to_yaml(&self) -> Result<String, Error> {
        serde_saphyr::to_string(self).map_err(|e| Error::Yaml {
            action: "write",
            what: "KubeSchedulerConfiguration",
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::{Value, json};

    use super::*;

    fn fixtures_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/extender-fixtures")
    }

    fn read(rel: &str) -> String {
        let path = fixtures_dir().join(rel);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("fixture {} must exist: {e}", path.display()))
    }

    fn as_value(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("fixture is not JSON: {e}"))
    }

    fn to_value<T: Serialize>(t: &T) -> Value {
        serde_json::to_value(t).unwrap_or_else(|e| panic!("encode: {e}"))
    }

    /// Decodes a fixture file by its name; panics on an unknown name so that a new fixture
    /// cannot be silently left out.
    fn decode_fixture(name: &str, text: &str) -> Result<(), String> {
        let e = |e: serde_json::Error| e.to_string();
        let args_like = name.starts_with("01-")
            || name.starts_with("02-")
            || name.starts_with("filter.")
            || name.starts_with("prioritize.");
        if args_like {
            let args: ExtenderArgs = serde_json::from_str(text).map_err(e)?;
            if args.pod.metadata.name.is_none() {
                return Err("pod without name".into());
            }
            match (&args.nodes, &args.node_names) {
                (Some(nodes), None) => {
                    for raw in &nodes.items {
                        if node_name(raw).is_none() {
                            return Err("node without metadata.name".into());
                        }
                        decode_node(raw).map_err(e)?;
                    }
                }
                (None, Some(names)) if !names.is_empty() => {}
                other => return Err(format!("unexpected Nodes/NodeNames: {other:?}")),
            }
        } else if name.starts_with("03-") {
            serde_json::from_str::<ExtenderFilterResult>(text).map_err(e)?;
        } else if name.starts_with("04-") {
            serde_json::from_str::<HostPriorityList>(text).map_err(e)?;
        } else if name.starts_with("05-") || name.starts_with("bind.") {
            let b: ExtenderBindingArgs = serde_json::from_str(text).map_err(e)?;
            if b.pod_uid.is_empty() || b.node.is_empty() {
                return Err("binding args missing PodUID or Node".into());
            }
        } else if name.starts_with("06-") {
            serde_json::from_str::<ExtenderPreemptionArgs>(text).map_err(e)?;
        } else {
            panic!("fixture {name} has no decoder in this test; add one");
        }
        Ok(())
    }

    #[test]
    fn every_fixture_decodes() {
        let mut decoded = Vec::new();
        for dir in [
            fixtures_dir(),
            fixtures_dir().join("real-kube-scheduler-1.28"),
        ] {
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("fixture directory {} must exist: {e}", dir.display()));
            for entry in entries {
                let path = entry.unwrap_or_else(|e| panic!("read_dir: {e}")).path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if !name.ends_with(".json") {
                    continue;
                }
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if let Err(err) = decode_fixture(name, &text) {
                    panic!("fixture {name} did not decode: {err}");
                }
                decoded.push(name.to_owned());
            }
        }
        decoded.sort();
        assert_eq!(
            decoded,
            [
                "01-extender-args-nodenames.json",
                "02-extender-args-nodes.json",
                "03-extender-filter-result.json",
                "04-host-priority-list.json",
                "05-extender-binding-args.json",
                "06-extender-preemption-args.json",
                "bind.error.request.json",
                "bind.ok.request.json",
                "filter.nodecache-false.request.json",
                "filter.nodecache-true.request.json",
                "prioritize.nodecache-false.request.json",
                "prioritize.nodecache-true.request.json",
            ]
        );
    }

    #[test]
    fn node_names_args() {
        let args: ExtenderArgs =
            serde_json::from_str(&read("01-extender-args-nodenames.json")).expect("decodes");
        assert!(args.nodes.is_none());
        assert_eq!(
            args.node_names.as_deref().map(<[String]>::len),
            Some(3),
            "three candidate names"
        );
        assert_eq!(args.pod.metadata.namespace.as_deref(), Some("ml-team"));
        let real: ExtenderArgs = serde_json::from_str(&read(
            "real-kube-scheduler-1.28/filter.nodecache-true.request.json",
        ))
        .expect("decodes");
        assert_eq!(
            real.node_names,
            Some(vec!["node-1".into(), "node-2".into(), "node-3".into()])
        );
    }

    #[test]
    fn full_nodes_are_named_and_echoed_untouched() {
        for file in [
            "02-extender-args-nodes.json",
            "real-kube-scheduler-1.28/filter.nodecache-false.request.json",
            "real-kube-scheduler-1.28/prioritize.nodecache-false.request.json",
        ] {
            let text = read(file);
            let args: ExtenderArgs = serde_json::from_str(&text).expect("decodes");
            assert!(args.node_names.is_none(), "{file}");
            let nodes = args.nodes.expect("full nodes");
            let names: Vec<String> = nodes
                .items
                .iter()
                .filter_map(|n| node_name(n).map(Cow::into_owned))
                .collect();
            let original = as_value(&text);
            let want: Vec<String> = original["Nodes"]["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned))
                .collect();
            assert_eq!(names, want, "{file}");
            assert!(!names.is_empty());
            // Echo: a filter result carrying the nodes writes them back exactly.
            let result = ExtenderFilterResult {
                nodes: Some(nodes),
                ..ExtenderFilterResult::default()
            };
            assert_eq!(to_value(&result)["Nodes"], original["Nodes"], "{file}");
        }
    }

    #[test]
    fn filter_result_encodes_like_fixture_03() {
        let mut result = ExtenderFilterResult {
            node_names: Some(vec!["ip-10-0-17-23.eu-west-1.compute.internal".into()]),
            ..ExtenderFilterResult::default()
        };
        result.failed_nodes.insert(
            "ip-10-0-33-108.eu-west-1.compute.internal".into(),
            "insufficient example.com/gpu-mem: requested 8, free 4".into(),
        );
        result.failed_and_unresolvable_nodes.insert(
            "ip-10-0-51-7.eu-west-1.compute.internal".into(),
            "node has no example.com/gpu-mem devices".into(),
        );
        let fixture = as_value(&read("03-extender-filter-result.json"));
        assert_eq!(to_value(&result), fixture);
        let back: ExtenderFilterResult =
            serde_json::from_str(&fixture.to_string()).expect("decodes");
        assert_eq!(back.failed_nodes, result.failed_nodes);
        assert_eq!(
            back.failed_and_unresolvable_nodes,
            result.failed_and_unresolvable_nodes
        );
    }

    #[test]
    fn empty_filter_result_writes_all_five_fields() {
        assert_eq!(
            to_value(&ExtenderFilterResult::default()),
            json!({"Nodes": null, "NodeNames": null, "FailedNodes": null,
                   "FailedAndUnresolvableNodes": null, "Error": ""})
        );
        let e = to_value(&ExtenderFilterResult::error("cache not synced"));
        assert_eq!(e["Error"], "cache not synced");
        assert_eq!(e.as_object().map(|o| o.len()), Some(5));
        let none_pass = ExtenderFilterResult {
            node_names: Some(Vec::new()),
            ..ExtenderFilterResult::default()
        };
        assert_eq!(to_value(&none_pass)["NodeNames"], json!([]));
    }

    #[test]
    fn host_priority_list_encodes_like_fixture_04() {
        let list: HostPriorityList = vec![
            HostPriority {
                host: "ip-10-0-17-23.eu-west-1.compute.internal".into(),
                score: 10,
            },
            HostPriority {
                host: "ip-10-0-33-108.eu-west-1.compute.internal".into(),
                score: 6,
            },
            HostPriority {
                host: "ip-10-0-51-7.eu-west-1.compute.internal".into(),
                score: 0,
            },
        ];
        let fixture = read("04-host-priority-list.json");
        assert_eq!(to_value(&list), as_value(&fixture));
        let back: HostPriorityList = serde_json::from_str(&fixture).expect("decodes");
        assert_eq!(back, list);
    }

    #[test]
    fn binding_args_and_result() {
        let b: ExtenderBindingArgs =
            serde_json::from_str(&read("05-extender-binding-args.json")).expect("decodes");
        assert_eq!(b.pod_uid, "3e1e8ce9-27a3-cfa3-23df-09c4247c8713");
        assert_eq!(b.pod_name, "trainer-7d9f8b6c5-x2x9q");
        assert_eq!(b.pod_namespace, "ml-team");
        assert_eq!(b.node, "ip-10-0-17-23.eu-west-1.compute.internal");
        let real: ExtenderBindingArgs =
            serde_json::from_str(&read("real-kube-scheduler-1.28/bind.ok.request.json"))
                .expect("decodes");
        assert_eq!(
            to_value(&real),
            as_value(&read("real-kube-scheduler-1.28/bind.ok.request.json"))
        );
        assert_eq!(
            to_value(&ExtenderBindingResult::default()),
            json!({"Error": ""})
        );
        assert_eq!(
            serde_json::from_str::<ExtenderBindingResult>(r#"{"Error":null}"#).ok(),
            Some(ExtenderBindingResult::default())
        );
    }

    #[test]
    fn preemption_args_and_result() {
        let p: ExtenderPreemptionArgs =
            serde_json::from_str(&read("06-extender-preemption-args.json")).expect("decodes");
        assert!(p.node_name_to_victims.is_none());
        let meta = p.node_name_to_meta_victims.expect("meta victims");
        let a = &meta["ip-10-0-17-23.eu-west-1.compute.internal"];
        assert_eq!(a.pods.len(), 2);
        assert_eq!(a.pods[0].uid, "c42b5b84-1a39-c2b7-d867-60eee6efe2f7");
        assert_eq!(
            meta["ip-10-0-33-108.eu-west-1.compute.internal"].num_pdb_violations,
            1
        );

        let result = ExtenderPreemptionResult {
            node_name_to_meta_victims: Some(BTreeMap::from([(
                "node-a".to_owned(),
                MetaVictims {
                    pods: vec![MetaPod { uid: "u1".into() }],
                    num_pdb_violations: 0,
                },
            )])),
        };
        assert_eq!(
            to_value(&result),
            json!({"NodeNameToMetaVictims":{"node-a":{"Pods":[{"UID":"u1"}],"NumPDBViolations":0}}})
        );
        assert_eq!(
            to_value(&ExtenderPreemptionResult::default()),
            json!({"NodeNameToMetaVictims": null})
        );
    }

    #[test]
    fn inputs_tolerate_null_and_missing_fields() {
        let a: ExtenderArgs =
            serde_json::from_str(r#"{"Pod":null,"Nodes":null,"NodeNames":null}"#).expect("nulls");
        assert!(a.nodes.is_none() && a.node_names.is_none());
        let a: ExtenderArgs =
            serde_json::from_str(r#"{"Pod":{},"Nodes":{"metadata":null,"items":null}}"#)
                .expect("null items");
        assert_eq!(a.nodes.map(|n| n.items.len()), Some(0));
        let r: ExtenderFilterResult = serde_json::from_str(
            r#"{"Nodes":null,"NodeNames":null,"FailedNodes":null,"FailedAndUnresolvableNodes":null,"Error":null}"#,
        )
        .expect("nulls");
        assert!(r.failed_nodes.is_empty() && r.error.is_empty());
        let v: Victims =
            serde_json::from_str(r#"{"Pods":null,"NumPDBViolations":null}"#).expect("nulls");
        assert!(v.pods.is_empty());
        let p: ExtenderPreemptionArgs = serde_json::from_str(
            r#"{"Pod":{},"NodeNameToVictims":{"n1":{"Pods":[{"metadata":{"uid":"x"}}],"NumPDBViolations":2}},"NodeNameToMetaVictims":null}"#,
        )
        .expect("victims");
        assert_eq!(
            p.node_name_to_victims.map(|m| m["n1"].num_pdb_violations),
            Some(2)
        );
    }

    #[test]
    fn node_name_handles_escapes_and_garbage() {
        let raw =
            RawValue::from_string(r#"{"metadata":{"name":"n\u002d1"}}"#.into()).expect("json");
        assert_eq!(node_name(&raw).as_deref(), Some("n-1"));
        for bad in [
            r#"{"metadata":{}}"#,
            r#"{"spec":{}}"#,
            r#"[1]"#,
            r#"{"metadata":{"name":5}}"#,
        ] {
            let raw = RawValue::from_string(bad.into()).expect("json");
            assert_eq!(node_name(&raw), None, "{bad}");
        }
    }

    #[test]
    fn node_name_wherever_it_is() {
        let cases: [(&str, &str, Option<&str>); 9] = [
            (
                "Go order",
                r#"{"metadata":{"name":"n1","uid":"u"},"spec":{}}"#,
                Some("n1"),
            ),
            (
                "metadata after a large status",
                r#"{"status":{"images":[{"names":["a","b"]}],"x":{"metadata":{"name":"no"}}},"metadata":{"labels":{"name":"no"},"name":"n2"}}"#,
                Some("n2"),
            ),
            (
                "escaped",
                r#"{"metadata":{"name":"n\u002d3"}}"#,
                Some("n-3"),
            ),
            ("no name", r#"{"metadata":{"uid":"u"}}"#, None),
            ("null name", r#"{"metadata":{"name":null}}"#, None),
            ("name not a string", r#"{"metadata":{"name":7}}"#, None),
            ("metadata not an object", r#"{"metadata":"n4"}"#, None),
            (
                "no metadata",
                r#"{"spec":{"metadata":{"name":"no"}}}"#,
                None,
            ),
            ("not an object", r#"["metadata"]"#, None),
        ];
        for (what, json, want) in cases {
            let raw = RawValue::from_string(json.to_string()).expect("valid JSON");
            assert_eq!(node_name(&raw).as_deref(), want, "{what}");
        }
    }

    #[test]
    fn scheduler_configs_parse_and_round_trip() {
        let cases = [
            ("scheduler-config.bind.yaml", Some("bind"), true),
            ("scheduler-config.nodecache-false.yaml", None, false),
            ("scheduler-config.nodecache-true.yaml", None, true),
        ];
        for (file, bind, cache) in cases {
            let yaml = read(&format!("real-kube-scheduler-1.28/{file}"));
            let cfg = SchedulerConfiguration::from_yaml(&yaml).expect(file);
            assert_eq!(cfg.api_version, SCHEDULER_CONFIG_API_VERSION);
            assert_eq!(cfg.kind, SCHEDULER_CONFIG_KIND);
            assert!(cfg.other.contains_key("clientConnection"), "{file}");
            let [ext] = cfg.extenders.as_slice() else {
                panic!("{file}: expected one extender");
            };
            assert_eq!(ext.url_prefix, "http://127.0.0.1:18888");
            assert_eq!(ext.filter_verb.as_deref(), Some("filter"));
            assert_eq!(ext.prioritize_verb.as_deref(), Some("prioritize"));
            assert_eq!(ext.bind_verb.as_deref(), bind);
            assert_eq!(ext.weight, 1);
            assert_eq!(ext.node_cache_capable, cache);
            assert!(!ext.ignorable);
            assert_eq!(ext.timeout().ok(), Some(DEFAULT_EXTENDER_TIMEOUT));
            assert_eq!(ext.verb_url("filter"), "http://127.0.0.1:18888/filter");
            let again = SchedulerConfiguration::from_yaml(&cfg.to_yaml().expect("writes"))
                .expect("re-reads");
            assert_eq!(again, cfg, "{file}");
        }
    }

    #[test]
    fn extender_config_full_form() {
        let yaml = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
extenders:
- urlPrefix: "https://eip-extender.kube-system.svc:8443/scheduler/"
  filterVerb: filter
  prioritizeVerb: prioritize
  preemptVerb: preempt
  bindVerb: bind
  weight: 2
  enableHTTPS: true
  tlsConfig:
    serverName: eip-extender.kube-system.svc
    caFile: /etc/ca.crt
  httpTimeout: 1m30s
  nodeCacheCapable: true
  managedResources:
  - name: example.com/eip
    ignoredByScheduler: true
  ignorable: true
"#;
        let cfg = SchedulerConfiguration::from_yaml(yaml).expect("parses");
        let ext = &cfg.extenders[0];
        assert!(ext.enable_https && ext.ignorable);
        assert_eq!(ext.timeout().ok(), Some(Duration::from_secs(90)));
        assert_eq!(
            ext.verb_url("preempt"),
            "https://eip-extender.kube-system.svc:8443/scheduler/preempt"
        );
        assert_eq!(
            ext.tls_config
                .as_ref()
                .and_then(|t| t.server_name.as_deref()),
            Some("eip-extender.kube-system.svc")
        );
        assert!(ext.managed_resources[0].ignored_by_scheduler);
        let written = cfg.to_yaml().expect("writes");
        assert!(written.contains("enableHTTPS: true"), "{written}");
        assert_eq!(SchedulerConfiguration::from_yaml(&written).ok(), Some(cfg));

        let bad = ExtenderConfig {
            http_timeout: Some("soon".into()),
            ..ExtenderConfig::default()
        };
        assert!(bad.timeout().is_err());
        assert!(SchedulerConfiguration::from_yaml("extenders: 5").is_err());
    }
}
