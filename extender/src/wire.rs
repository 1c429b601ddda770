//! Projections of the `v1.Node` objects that full-Nodes requests carry (eip-core keeps them
//! as raw JSON so they can be echoed untouched): read only as far as decisions need.

use std::collections::BTreeMap;

use serde::Deserialize;

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
