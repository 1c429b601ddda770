//! The four PATCH flavours: JSON merge patch (RFC 7396), JSON patch (RFC 6902),
//! strategic merge patch (the list merge keys of the types our code touches)
//! and server-side apply, whose merge is the strategic one (field ownership
//! is in [`super::managed`]).

use serde_json::{Map, Value};

/// The PATCH content types the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    /// From the request's Content-Type (parameters ignored).
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Parse a patch body: JSON for all kinds but apply, which is YAML (JSON is YAML).
pub(crate) fn parse_body(kind: PatchKind, body: &[u8]) -> Result<Value, String> {
    match kind {
        PatchKind::Apply => {
            let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
            serde_saphyr::from_str::<Value>(text).map_err(|e| format!("error decoding YAML: {e}"))
        }
        _ => serde_json::from_slice(body).map_err(|e| format!("error decoding patch: {e}")),
    }
}

/// Apply `patch` of `kind` to `doc`.
pub(crate) fn apply(kind: PatchKind, doc: &mut Value, patch: &Value) -> Result<(), PatchFailure> {
    match kind {
        PatchKind::Merge => {
            if !patch.is_object() {
                return Err(PatchFailure::BadRequest(
                    "merge patch must be a JSON object".into(),
                ));
            }
            json_patch::merge(doc, patch);
            Ok(())
        }
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| PatchFailure::BadRequest(format!("error decoding JSON patch: {e}")))?;
            // Op by op, so that `test` of an absent path against `null` passes,
            // as it does in the real server (evanphx/json-patch). The caller
            // patches a copy, so a failure half-way leaves nothing behind.
            for op in &ops.0 {
                if let json_patch::PatchOperation::Test(t) = op
                    && t.value.is_null()
                    && doc.pointer(t.path.as_str()).is_none()
                {
                    continue;
                }
                json_patch::patch(doc, std::slice::from_ref(op))
                    .map_err(|e| PatchFailure::Invalid(e.to_string()))?;
            }
            Ok(())
        }
        PatchKind::Strategic | PatchKind::Apply => {
            if !patch.is_object() {
                return Err(PatchFailure::BadRequest(
                    "strategic merge patch must be a JSON object".into(),
                ));
            }
            strategic_merge(doc, patch, "");
            Ok(())
        }
    }
}

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PatchFailure {
    /// The patch itself is malformed (400).
    BadRequest(String),
    /// The patch is well-formed but cannot apply, e.g. a failed `test` op (422).
    Invalid(String),
}

/// The merge key of the list at `path` (dotted, array steps omitted), per the
/// `patchMergeKey` tags of the upstream Go types.
pub(crate) fn merge_key(path: &str) -> Option<ListMerge> {
    let key = match path {
        "metadata.finalizers" => return Some(ListMerge::Set),
        "metadata.ownerReferences" => "uid",
        "status.conditions" => "type",
        "status.addresses" => "type",
        "spec.containers" | "spec.initContainers" | "spec.ephemeralContainers" => "name",
        "spec.template.spec.containers" | "spec.template.spec.initContainers" => "name",
        "spec.volumes" | "spec.template.spec.volumes" => "name",
        "spec.imagePullSecrets" | "spec.template.spec.imagePullSecrets" => "name",
        "spec.hostAliases" => "ip",
        p if p.ends_with("containers.ports") || p.ends_with("Containers.ports") => "containerPort",
        p if p.ends_with("containers.env") || p.ends_with("Containers.env") => "name",
        p if p.ends_with("containers.volumeMounts") || p.ends_with("Containers.volumeMounts") => {
            "mountPath"
        }
        _ => return None,
    };
    Some(ListMerge::Key(key))
}

pub(crate) enum ListMerge {
    /// A list of scalars merged as a set (finalizers).
    Set,
    /// A list of objects merged by this key.
    Key(&'static str),
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Strategic merge of `patch` into `doc`: maps merged recursively (`null`
/// deletes), lists with a known merge key merged element-wise (`$patch:
/// delete` removes an element), `$deleteFromPrimitiveList/<field>` removes
/// scalars from set-like lists, other lists replaced. `$setElementOrder` and
/// `$retainKeys` directives are accepted and ignored.
pub(crate) fn strategic_merge(doc: &mut Value, patch: &Value, path: &str) {
    let Some(pm) = patch.as_object() else {
        *doc = patch.clone();
        return;
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = pm.clone();
        p.remove("$patch");
        *doc = Value::Object(p);
        return;
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Some(dm) = doc.as_object_mut() else {
        return;
    };
    for (k, v) in pm {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (dm.get_mut(field), v.as_array()) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        let sub = join(path, k);
        if v.is_null() {
            dm.remove(k);
            continue;
        }
        match (dm.get_mut(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(_)) => {
                strategic_merge(existing, v, &sub)
            }
            (Some(Value::Array(existing)), Value::Array(items)) => match merge_key(&sub) {
                Some(ListMerge::Set) => {
                    for item in items {
                        if !existing.contains(item) {
                            existing.push(item.clone());
                        }
                    }
                }
                Some(ListMerge::Key(key)) => merge_keyed_list(existing, items, key, &sub),
                None => *existing = items.clone(),
            },
            _ => {
                let mut fresh = Value::Null;
                strategic_merge_new(&mut fresh, v);
                dm.insert(k.clone(), fresh);
            }
        }
    }
}

/// A value added where nothing was: directives are stripped.
fn strategic_merge_new(doc: &mut Value, patch: &Value) {
    match patch {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if k.starts_with('$') || v.is_null() {
                    continue;
                }
                let mut x = Value::Null;
                strategic_merge_new(&mut x, v);
                out.insert(k.clone(), x);
            }
            *doc = Value::Object(out);
        }
        Value::Array(items) => {
            *doc = Value::Array(
                items
                    .iter()
                    .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
                    .map(|i| {
                        let mut x = Value::Null;
                        strategic_merge_new(&mut x, i);
                        x
                    })
                    .collect(),
            );
        }
        other => *doc = other.clone(),
    }
}

fn merge_keyed_list(existing: &mut Vec<Value>, items: &[Value], key: &str, path: &str) {
    for item in items {
        let Some(k) = item.get(key) else {
            existing.push(item.clone());
            continue;
        };
        let pos = existing.iter().position(|e| e.get(key) == Some(k));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => {
                if let Some(e) = existing.get_mut(i) {
                    strategic_merge(e, item, path);
                }
            }
            (None, false) => {
                let mut x = Value::Null;
                strategic_merge_new(&mut x, item);
                existing.push(x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_conditions_by_type_and_containers_by_name() {
        let mut pod = json!({
            "metadata": {"labels": {"a": "1"}, "finalizers": ["x"]},
            "spec": {"containers": [{"name": "c", "image": "i1"}, {"name": "d", "image": "i2"}]},
            "status": {"conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "PodScheduled", "status": "True"}
            ]}
        });
        let patch = json!({
            "metadata": {"labels": {"b": "2", "a": null}, "finalizers": ["y"]},
            "spec": {"containers": [{"name": "c", "image": "i3"}]},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "k8s.example/x", "status": "True"}
            ]}
        });
        strategic_merge(&mut pod, &patch, "");
        assert_eq!(pod["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(pod["metadata"]["finalizers"], json!(["x", "y"]));
        assert_eq!(
            pod["spec"]["containers"],
            json!([{"name": "c", "image": "i3"}, {"name": "d", "image": "i2"}])
        );
        assert_eq!(
            pod["status"]["conditions"],
            json!([
                {"type": "Ready", "status": "True"},
                {"type": "PodScheduled", "status": "True"},
                {"type": "k8s.example/x", "status": "True"}
            ])
        );
    }

    #[test]
    fn strategic_directives_delete_elements() {
        let mut obj = json!({"metadata": {"finalizers": ["x", "y"]},
                             "status": {"conditions": [{"type": "A"}, {"type": "B"}]},
                             "spec": {"args": ["1", "2"]}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]},
                           "status": {"conditions": [{"type": "A", "$patch": "delete"}]},
                           "spec": {"args": ["3"]}});
        strategic_merge(&mut obj, &patch, "");
        assert_eq!(obj["metadata"]["finalizers"], json!(["y"]));
        assert_eq!(obj["status"]["conditions"], json!([{"type": "B"}]));
        assert_eq!(obj["spec"]["args"], json!(["3"]));
    }

    #[test]
    fn json_patch_test_failure_is_invalid() {
        let mut doc = json!({"a": 1});
        let p = json!([{"op": "test", "path": "/a", "value": 2}]);
        assert!(matches!(
            apply(PatchKind::Json, &mut doc, &p),
            Err(PatchFailure::Invalid(_))
        ));
        let p = json!({"op": "nope"});
        assert!(matches!(
            apply(PatchKind::Json, &mut doc, &p),
            Err(PatchFailure::BadRequest(_))
        ));
    }

    #[test]
    fn json_patch_test_of_absent_path_against_null_passes() {
        let mut doc = json!({"metadata": {}});
        let p = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}
        ]);
        apply(PatchKind::Json, &mut doc, &p).unwrap();
        assert_eq!(doc, json!({"metadata": {"finalizers": ["f"]}}));
    }

    #[test]
    fn apply_body_is_yaml() {
        let v = parse_body(PatchKind::Apply, b"a: 1\nb: [x]\n").unwrap();
        assert_eq!(v, json!({"a": 1, "b": ["x"]}));
    }
}
