//! OpenAPI v3 of custom resources, as kube-apiserver publishes it (what
//! `kubectl explain` reads):
//!
//! - `/openapi/v3`: `{"paths": {"apis/<group>/<version>": {"serverRelativeURL":
//!   "/openapi/v3/apis/<group>/<version>?hash=<SHA-512>"}}}`, one entry per
//!   group-version served by a CRD.
//! - `/openapi/v3/apis/<group>/<version>`: that group-version's document. For
//!   each kind, `components.schemas` holds the CRD version's
//!   `schema.openAPIV3Schema` named by the reversed group
//!   (`com.example.stable.v1.CronTab` for `stable.example.com/v1 CronTab`, as
//!   upstream's `ToRESTFriendlyName`), with `apiVersion`, `kind` and
//!   `metadata` (a reference to `ObjectMeta`) added and an
//!   `x-kubernetes-group-version-kind` extension, and its List kind; the
//!   `meta/v1` types they refer to come from k8s-openapi's schemas, under
//!   upstream's names. `paths` has the resource's operations (list, create,
//!   deletecollection, read, replace, patch, delete, status), each with
//!   `x-kubernetes-action` and `x-kubernetes-group-version-kind`.
//!
//! Approximated: built-in types have no documents (their group-versions are
//! not listed), operations carry only their path parameters (no query
//! parameters such as `fieldValidation`, which this server does not
//! implement), and the `hash` in a `serverRelativeURL` is not checked.
//! Nothing here knows a particular CRD: the schemas are the CRD objects' own.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    DeleteOptions, ListMeta, ObjectMeta, Patch, Status,
};
use k8s_openapi::schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha512};

use super::registry::{Registry, ResourceType};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DOC: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_METADATA_DOC: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// A custom kind served under one group-version, with the CRD that defines it.
pub(crate) struct CustomKind<'a> {
    /// The served type.
    pub rt: &'a ResourceType,
    /// The `CustomResourceDefinition` object.
    pub crd: &'a Value,
}

/// `stable.example.com/v1/CronTab` → `com.example.stable.v1.CronTab` (upstream
/// `openapi/util.ToRESTFriendlyName`).
pub(crate) fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A reference with siblings, in OpenAPI v3's form (the reference inside `allOf`).
fn described_reference(name: &str, description: &str) -> Value {
    json!({"allOf": [reference(name)], "description": description})
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

fn list_kind(k: &CustomKind<'_>) -> String {
    k.crd
        .pointer("/spec/names/listKind")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
        .map_or_else(|| format!("{}List", k.rt.kind), str::to_string)
}

/// The CRD version's `openAPIV3Schema`, if it has one.
fn crd_schema<'a>(k: &'a CustomKind<'_>) -> Option<&'a Value> {
    k.crd
        .pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(k.rt.version.as_str()))?
        .pointer("/schema/openAPIV3Schema")
}

fn type_meta(schema: &mut Map<String, Value>) {
    let props = schema
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(props) = props {
        props.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": API_VERSION_DOC}),
        );
        props.insert(
            "kind".into(),
            json!({"type": "string", "description": KIND_DOC}),
        );
    }
}

/// The kind's schema: the CRD's, with the Kubernetes-native properties added
/// (upstream `builder.buildKubeNative`).
fn kind_schema(k: &CustomKind<'_>) -> Value {
    let rt = k.rt;
    let preserve = k.crd.pointer("/spec/preserveUnknownFields") == Some(&Value::Bool(true));
    let mut schema = match crd_schema(k).and_then(Value::as_object) {
        // Without a schema upstream publishes a bare object (anything else would be
        // refused as unknown by validating clients).
        Some(s) if !preserve => {
            let mut s = s.clone();
            type_meta(&mut s);
            if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
                props.insert(
                    "metadata".into(),
                    described_reference(&format!("{META}.ObjectMeta"), METADATA_DOC),
                );
            }
            s
        }
        _ => json!({"type": "object"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    schema.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([gvk(&rt.group, &rt.version, &rt.kind)]),
    );
    Value::Object(schema)
}

/// The List kind's schema (upstream `builder.buildListSchema`).
fn list_schema(k: &CustomKind<'_>) -> Value {
    let rt = k.rt;
    let list = list_kind(k);
    let mut s = json!({
        "description": format!("{list} is a list of {}", rt.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", rt.plural),
                "type": "array",
                "items": reference(&definition_name(&rt.group, &rt.version, &rt.kind)),
            },
            "metadata": described_reference(&format!("{META}.ListMeta"), LIST_METADATA_DOC),
        },
        "x-kubernetes-group-version-kind": [gvk(&rt.group, &rt.version, &list)],
    });
    if let Some(obj) = s.as_object_mut() {
        type_meta(obj);
    }
    s
}

/// `kube-eip.io` → `KubeEipIo` (upstream operation ids and tags).
fn camel(group: &str) -> String {
    let mut out = String::new();
    for part in group.split(['.', '-']) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// `kube-eip.io` `v1alpha1` → `KubeEipIoV1alpha1`.
fn operation_prefix(group: &str, version: &str) -> String {
    camel(&format!("{group}.{version}"))
}

/// `kube-eip.io` `v1alpha1` → `kubeEipIo_v1alpha1`.
fn tag(group: &str, version: &str) -> String {
    let mut g = camel(group);
    if let Some(first) = g.get(..1).map(str::to_ascii_lowercase) {
        g.replace_range(..1, &first);
    }
    format!("{g}_{version}")
}

fn json_content(schema: Value) -> Value {
    json!({
        "application/json": {"schema": schema.clone()},
        "application/yaml": {"schema": schema},
    })
}

/// The resource's paths and their operations.
fn paths(k: &CustomKind<'_>, paths: &mut Map<String, Value>) {
    let rt = k.rt;
    let prefix = operation_prefix(&rt.group, &rt.version);
    let tag = tag(&rt.group, &rt.version);
    let kind_ref = reference(&definition_name(&rt.group, &rt.version, &rt.kind));
    let list_ref = reference(&definition_name(&rt.group, &rt.version, &list_kind(k)));
    let status_ref = reference(&format!("{META}.Status"));
    let gvk = gvk(&rt.group, &rt.version, &rt.kind);
    let scope = if rt.namespaced { "Namespaced" } else { "" };
    let op = |verb: &str, action: &str, id: String, response: &Value, body: Option<Value>| {
        let mut o = json!({
            "tags": [tag],
            "description": format!("{verb} {}", rt.kind),
            "operationId": id,
            "responses": {"200": {"description": "OK", "content": json_content(response.clone())}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        });
        if let (Some(body), Some(o)) = (body, o.as_object_mut()) {
            o.insert("requestBody".into(), body);
        }
        o
    };
    let body = |schema: &Value| json!({"content": {"*/*": {"schema": schema}}, "required": true});
    let patch_body = json!({
        "content": {
            "application/apply-patch+yaml": {"schema": reference(&format!("{META}.Patch"))},
            "application/json-patch+json": {"schema": reference(&format!("{META}.Patch"))},
            "application/merge-patch+json": {"schema": reference(&format!("{META}.Patch"))},
        },
        "required": true,
    });
    let delete_body =
        json!({"content": {"*/*": {"schema": reference(&format!("{META}.DeleteOptions"))}}});
    let name_param = json!({"name": "name", "in": "path", "description": format!("name of the {}", rt.kind),
        "required": true, "schema": {"type": "string", "uniqueItems": true}});
    let namespace_param = json!({"name": "namespace", "in": "path",
        "description": "object name and auth scope, such as for teams and projects",
        "required": true, "schema": {"type": "string", "uniqueItems": true}});
    let base = if rt.namespaced {
        format!(
            "/apis/{}/{}/namespaces/{{namespace}}/{}",
            rt.group, rt.version, rt.plural
        )
    } else {
        format!("/apis/{}/{}/{}", rt.group, rt.version, rt.plural)
    };
    let scoped_params: Vec<Value> = if rt.namespaced {
        vec![namespace_param.clone()]
    } else {
        Vec::new()
    };
    let named_params: Vec<Value> = std::iter::once(name_param)
        .chain(scoped_params.iter().cloned())
        .collect();
    let kind = &rt.kind;
    paths.insert(
        base.clone(),
        json!({
            "get": op("list or watch objects of kind", "list", format!("list{prefix}{scope}{kind}"), &list_ref, None),
            "post": op("create a", "post", format!("create{prefix}{scope}{kind}"), &kind_ref, Some(body(&kind_ref))),
            "delete": op("delete collection of", "deletecollection",
                format!("deletecollection{prefix}{scope}{kind}"), &status_ref, Some(delete_body.clone())),
            "parameters": scoped_params,
        }),
    );
    paths.insert(
        format!("{base}/{{name}}"),
        json!({
            "get": op("read the specified", "get", format!("read{prefix}{scope}{kind}"), &kind_ref, None),
            "put": op("replace the specified", "put", format!("replace{prefix}{scope}{kind}"), &kind_ref, Some(body(&kind_ref))),
            "patch": op("partially update the specified", "patch", format!("patch{prefix}{scope}{kind}"), &kind_ref, Some(patch_body.clone())),
            "delete": op("delete a", "delete", format!("delete{prefix}{scope}{kind}"), &status_ref, Some(delete_body)),
            "parameters": named_params,
        }),
    );
    if rt.status_subresource {
        paths.insert(
            format!("{base}/{{name}}/status"),
            json!({
                "get": op("read status of the specified", "get", format!("read{prefix}{scope}{kind}Status"), &kind_ref, None),
                "put": op("replace status of the specified", "put", format!("replace{prefix}{scope}{kind}Status"), &kind_ref, Some(body(&kind_ref))),
                "patch": op("partially update status of the specified", "patch", format!("patch{prefix}{scope}{kind}Status"), &kind_ref, Some(patch_body)),
                "parameters": named_params,
            }),
        );
    }
    if rt.namespaced {
        paths.insert(
            format!("/apis/{}/{}/{}", rt.group, rt.version, rt.plural),
            json!({
                "get": op("list or watch objects of kind", "list", format!("list{prefix}{kind}ForAllNamespaces"), &list_ref, None),
                "parameters": [],
            }),
        );
    }
}

/// The `meta/v1` schemas the documents refer to, and what they refer to in turn.
fn meta_schemas() -> Map<String, Value> {
    let mut generator = SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<ObjectMeta>();
    generator.subschema_for::<ListMeta>();
    generator.subschema_for::<Status>();
    generator.subschema_for::<Patch>();
    generator.subschema_for::<DeleteOptions>();
    generator.take_definitions(true)
}

/// The document of one group-version (`/openapi/v3/apis/<group>/<version>`).
pub(crate) fn group_version_doc(kinds: &[CustomKind<'_>]) -> Value {
    let mut schemas = meta_schemas();
    let mut all_paths = Map::new();
    for k in kinds {
        let rt = k.rt;
        schemas.insert(
            definition_name(&rt.group, &rt.version, &rt.kind),
            kind_schema(k),
        );
        schemas.insert(
            definition_name(&rt.group, &rt.version, &list_kind(k)),
            list_schema(k),
        );
        paths(k, &mut all_paths);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": all_paths,
        "components": {"schemas": schemas},
    })
}

/// The group-versions that have a document: those of custom types.
pub(crate) fn custom_group_versions(reg: &Registry) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in reg.all().iter().filter(|t| t.custom) {
        let gv = (t.group.clone(), t.version.clone());
        if !out.contains(&gv) {
            out.push(gv);
        }
    }
    out
}

/// `/openapi/v3` (upstream `handler3.OpenAPIV3Discovery`); `docs` are the
/// group-versions' documents, as served.
pub(crate) fn discovery(docs: &[((String, String), String)]) -> Value {
    let mut paths = Map::new();
    for ((group, version), doc) in docs {
        let hash = hex::encode_upper(Sha512::digest(doc.as_bytes()));
        paths.insert(
            format!("apis/{group}/{version}"),
            json!({"serverRelativeURL": format!("/openapi/v3/apis/{group}/{version}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_names_reverse_the_group() {
        assert_eq!(
            definition_name("stable.example.com", "v1", "CronTab"),
            "com.example.stable.v1.CronTab"
        );
        assert_eq!(
            definition_name("kube-eip.io", "v1alpha1", "PodEIP"),
            "io.kube-eip.v1alpha1.PodEIP"
        );
        assert_eq!(
            operation_prefix("kube-eip.io", "v1alpha1"),
            "KubeEipIoV1alpha1"
        );
        assert_eq!(tag("kube-eip.io", "v1alpha1"), "kubeEipIo_v1alpha1");
    }

    #[test]
    fn meta_schemas_are_upstreams_with_references_resolved() {
        let s = meta_schemas();
        for name in [
            "ObjectMeta",
            "ListMeta",
            "Time",
            "OwnerReference",
            "Status",
            "Patch",
        ] {
            assert!(s.contains_key(&format!("{META}.{name}")), "{name}");
        }
        let created = &s[&format!("{META}.ObjectMeta")]["properties"]["creationTimestamp"];
        assert_eq!(
            created["allOf"][0]["$ref"],
            format!("#/components/schemas/{META}.Time")
        );
    }
}
