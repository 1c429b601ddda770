//! Discovery documents: `/version`; legacy `/api`, `/api/v1`, `/apis`,
//! `/apis/<group>` and `/apis/<group>/<version>`; and aggregated discovery
//! (`apidiscovery.k8s.io/v2 APIGroupDiscoveryList` at `/api` and `/apis`)
//! for clients that ask for it in their Accept header, as kubectl does.

use serde_json::{Value, json};

use super::registry::{Registry, ResourceType};

/// The Kubernetes version the server claims.
pub(crate) const MAJOR: &str = "1";
/// The Kubernetes minor version the server claims.
pub(crate) const MINOR: &str = "33";

/// `/version` (upstream `version.Info`).
pub(crate) fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": format!("v{MAJOR}.{MINOR}.0"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api` (upstream `metav1.APIVersions`).
pub(crate) fn core_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]
    })
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis` (upstream `metav1.APIGroupList`).
pub(crate) fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>` (upstream `metav1.APIGroup`).
pub(crate) fn group(reg: &Registry, name: &str) -> Option<Value> {
    reg.groups().iter().find(|(g, _)| g == name).map(|(g, vs)| {
        let mut d = group_doc(g, vs);
        d["kind"] = json!("APIGroup");
        d["apiVersion"] = json!("v1");
        d
    })
}

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn resource_doc(t: &ResourceType) -> Value {
    let mut d = json!({
        "name": t.plural,
        "singularName": t.singular,
        "namespaced": t.namespaced,
        "kind": t.kind,
        "verbs": VERBS,
    });
    if !t.short_names.is_empty() {
        d["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        d["categories"] = json!(t.categories);
    }
    d
}

/// `/api/v1` or `/apis/<group>/<version>` (upstream `metav1.APIResourceList`);
/// `None` when nothing is served there.
pub(crate) fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for t in reg.in_group_version(group, version) {
        resources.push(resource_doc(t));
        if t.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if t.scale {
            resources.push(json!({
                "name": format!("{}/scale", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if t.binding {
            resources.push(json!({
                "name": format!("{}/binding", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": "Binding",
                "verbs": ["create"],
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }))
}

/// The Content-Type of an aggregated discovery response.
pub(crate) const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the Accept header asks for aggregated discovery v2.
pub(crate) fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.contains(&"as=APIGroupDiscoveryList")
            && params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
    })
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

fn aggregated_resource(t: &ResourceType) -> Value {
    let mut subresources = Vec::new();
    if t.status_subresource {
        subresources.push(json!({"subresource": "status",
            "responseKind": gvk(&t.group, &t.version, &t.kind), "verbs": ["get", "patch", "update"]}));
    }
    if t.scale {
        subresources.push(json!({"subresource": "scale",
            "responseKind": gvk("autoscaling", "v1", "Scale"), "verbs": ["get", "patch", "update"]}));
    }
    if t.binding {
        subresources.push(json!({"subresource": "binding",
            "responseKind": gvk("", "v1", "Binding"), "verbs": ["create"]}));
    }
    let mut d = json!({
        "resource": t.plural,
        "responseKind": gvk(&t.group, &t.version, &t.kind),
        "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": t.singular,
        "verbs": VERBS,
    });
    if !t.short_names.is_empty() {
        d["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        d["categories"] = json!(t.categories);
    }
    if !subresources.is_empty() {
        d["subresources"] = Value::Array(subresources);
    }
    d
}

fn aggregated_group(reg: &Registry, group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = reg
                .in_group_version(group, v)
                .map(aggregated_resource)
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let metadata = if group.is_empty() {
        json!({})
    } else {
        json!({"name": group})
    };
    json!({"metadata": metadata, "versions": versions})
}

/// Aggregated discovery of the core group (`/api`) or of every other group
/// (`/apis`), upstream `apidiscovery.k8s.io/v2 APIGroupDiscoveryList`.
pub(crate) fn aggregated(reg: &Registry, core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![aggregated_group(reg, "", &["v1".to_string()])]
    } else {
        reg.groups()
            .iter()
            .map(|(g, vs)| aggregated_group(reg, g, vs))
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_list_has_pods_with_subresources() {
        let r = Registry::default();
        let l = resource_list(&r, "", "v1").unwrap();
        let names: Vec<&str> = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .collect();
        for n in [
            "pods",
            "pods/status",
            "pods/binding",
            "nodes",
            "nodes/status",
            "namespaces",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        assert!(resource_list(&r, "nope", "v1").is_none());
        let groups = group_list(&r);
        assert!(
            groups["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "coordination.k8s.io")
        );
    }
}
