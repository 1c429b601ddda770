//! The filter/prioritize wire types in the form the hot path reads them: the request's node
//! items borrowed from the body and echoed from it, each read only as far as its
//! `metadata.name` (eip-core's `node_name`), and projections of the `v1.Node` objects read
//! only for nodes the view does not know ([`NodeLite`]).

use std::collections::BTreeMap;

use eip_core::extender::{FailedNodesMap, empty_map_as_null, null_as_default};
use k8s_openapi::api::core::v1::Pod;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// A `v1.Node` reduced to the fields the extender reads.
#[derive(Debug, Default, Deserialize)]
pub struct NodeLite {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMetaLite,
    /// `spec`.
    #[serde(default)]
    pub spec: NodeSpecLite,
}

/// `metadata` fields of a node the extender reads.
#[derive(Debug, Default, Deserialize)]
pub struct ObjectMetaLite {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `annotations` (null accepted).
    #[serde(default, deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
    /// `labels` (null accepted).
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
}

/// `spec` fields of a node the extender reads.
#[derive(Debug, Default, Deserialize)]
pub struct NodeSpecLite {
    /// `unschedulable`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub unschedulable: bool,
}

/// Mirrors `extenderv1.ExtenderArgs` (as eip-core's `ExtenderArgs`), but borrows every node
/// item from the request body instead of copying it: a full-Nodes body runs to megabytes,
/// and the items are only echoed back. Parsing it validates the whole body once.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExtenderArgsRef<'a> {
    /// The pod being scheduled.
    #[serde(default, deserialize_with = "null_as_default")]
    pub pod: Pod,
    /// Candidate nodes; set only when `nodeCacheCapable: false`.
    #[serde(default, borrow)]
    pub nodes: Option<NodeListRef<'a>>,
    /// Candidate node names; set only when `nodeCacheCapable: true`.
    #[serde(default)]
    pub node_names: Option<Vec<String>>,
}

/// Mirrors `v1.NodeList` with its items borrowed, untouched, from the body. The list's
/// `metadata` is ignored on input and written as `{}`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct NodeListRef<'a> {
    /// Always `{}` on output.
    #[serde(skip_deserializing)]
    pub metadata: EmptyObject,
    /// The nodes, exactly as the scheduler sent them.
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    pub items: Vec<&'a RawValue>,
}

/// `{}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

/// Mirrors `extenderv1.ExtenderFilterResult` (as eip-core's `ExtenderFilterResult`, written
/// the same way: every field present, empty maps as `null`, `Error` as `""`), with the
/// passing nodes borrowed from the request body so they are copied once, into the answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FilterReply<'a> {
    /// Nodes that pass (full-Nodes mode), echoed byte for byte.
    pub nodes: Option<NodeListRef<'a>>,
    /// Names of nodes that pass (names mode).
    pub node_names: Option<Vec<String>>,
    /// Nodes that preemption could fix.
    #[serde(serialize_with = "empty_map_as_null")]
    pub failed_nodes: FailedNodesMap,
    /// Nodes that preemption cannot fix.
    #[serde(serialize_with = "empty_map_as_null")]
    pub failed_and_unresolvable_nodes: FailedNodesMap,
    /// A whole-call failure.
    pub error: String,
}

impl FilterReply<'_> {
    /// A reply that fails the whole call with this message.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            nodes: None,
            node_names: None,
            failed_nodes: FailedNodesMap::new(),
            failed_and_unresolvable_nodes: FailedNodesMap::new(),
            error: message.into(),
        }
    }

    /// The JSON answer, written into a buffer of `size_hint` bytes allocated up front (a
    /// full-Nodes answer echoes megabytes; growing by doubling would copy it again and again).
    pub fn to_json(&self, size_hint: usize) -> Result<Vec<u8>, serde_json::Error> {
        let mut buf = Vec::with_capacity(size_hint);
        serde_json::to_writer(&mut buf, self)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_echoes_items_byte_for_byte() {
        let body = br#"{"Pod":{"metadata":{"uid":"u"}},"Nodes":{"metadata":{"resourceVersion":"9"},"items":[ {"metadata":{"name":"a"},  "z":1.50} ]}}"#;
        let args: ExtenderArgsRef<'_> = serde_json::from_slice(body).expect("parses");
        let nodes = args.nodes.expect("nodes");
        let reply = FilterReply {
            nodes: Some(nodes),
            ..FilterReply::error("")
        };
        let out = String::from_utf8(reply.to_json(0).expect("encodes")).expect("utf-8");
        assert_eq!(
            out,
            r#"{"Nodes":{"metadata":{},"items":[{"metadata":{"name":"a"},  "z":1.50}]},"NodeNames":null,"FailedNodes":null,"FailedAndUnresolvableNodes":null,"Error":""}"#
        );
    }
}
