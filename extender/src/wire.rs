//! The filter/prioritize wire types in the form the hot path reads them: the request's node
//! items borrowed from the body and echoed from it, each read only as far as its
//! `metadata.name` ([`node_item_name`]), and projections of the `v1.Node` objects read only
//! for nodes the view does not know ([`NodeLite`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use eip_core::extender::FailedNodesMap;
use k8s_openapi::api::core::v1::Pod;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
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

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
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

fn empty_map_as_null<S: Serializer>(map: &FailedNodesMap, s: S) -> Result<S::Ok, S::Error> {
    if map.is_empty() {
        s.serialize_none()
    } else {
        map.serialize(s)
    }
}

/// Reads `metadata.name` of one node item from the request and stops there.
///
/// The item was validated when the body was parsed ([`ExtenderArgsRef`]), so the rest of it
/// (status, images: most of its ~13 KiB) need not be read again. The walk stops as soon as
/// the name is found, which serde_json reports as an error at the first unread key; the
/// name is taken from `found` whatever the walk returns. `None` when the item is not an
/// object with a string `metadata.name`.
pub fn node_item_name(item: &RawValue) -> Option<Cow<'_, str>> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_str(item.get());
    // the Err that stopping early yields is expected; `found` says whether the name was read
    let _stopped = serde::Deserializer::deserialize_map(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(json: &str) -> Option<String> {
        let raw = RawValue::from_string(json.to_string()).expect("valid JSON");
        node_item_name(&raw).map(Cow::into_owned)
    }

    #[test]
    fn item_name_wherever_it_is() {
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
            assert_eq!(name_of(json).as_deref(), want, "{what}");
        }
    }

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
