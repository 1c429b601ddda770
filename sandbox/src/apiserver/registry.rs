//! The resource registry: which group/version/resource the server serves, with
//! the facts discovery, tables and the store need. Built-in types come from a
//! table; custom types are derived from stored CustomResourceDefinitions.

use serde_json::Value;

/// What happens to `.status` on create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateStatus {
    /// Kept as sent (nodes register with their status; types without a status subresource).
    Keep,
    /// Dropped (custom resources with a status subresource, apps workloads).
    Drop,
    /// Reset to `{"phase": "Pending"}` (pods).
    PodPending,
    /// Reset to `{"phase": "Active"}` (namespaces).
    NamespaceActive,
}

/// How a table row is built for this type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Columns {
    /// NAME and AGE only.
    Default,
    /// A built-in printer, keyed by the type's kind.
    Builtin,
    /// A CRD's `additionalPrinterColumns`.
    Custom(Vec<PrinterColumn>),
}

/// One `additionalPrinterColumns` entry of a CRD version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// One served resource (a group/version/plural).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    pub binding: bool,
    /// Serves the `scale` subresource (`autoscaling/v1 Scale` over `.spec.replicas`).
    pub scale: bool,
    pub create_status: CreateStatus,
    pub columns: Columns,
    /// Field-selector labels beyond `metadata.name` and `metadata.namespace`.
    pub fields: Vec<String>,
    /// Backed by a CRD (then updates must carry a resourceVersion).
    pub custom: bool,
    /// For custom types: the name of the CRD that defines them.
    pub crd_name: Option<String>,
}

impl ResourceType {
    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps`, as error messages name a resource.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether `label` may be used in a field selector on this type.
    pub fn supports_field(&self, label: &str) -> bool {
        label == "metadata.name"
            || (label == "metadata.namespace" && self.namespaced)
            || self.fields.iter().any(|f| f == label)
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    create_status: CreateStatus,
    printer: bool,
    fields: &'static [&'static str],
}

const fn b(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short,
        all: false,
        status: false,
        create_status: CreateStatus::Keep,
        printer: false,
        fields: &[],
    }
}

const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];
const EVENTS_K8S_FIELDS: &[&str] = &[
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingController",
    "type",
];

fn builtins() -> Vec<Builtin> {
    vec![
        Builtin {
            status: true,
            create_status: CreateStatus::NamespaceActive,
            printer: true,
            fields: &["status.phase"],
            ..b(
                "",
                "v1",
                "namespaces",
                "namespace",
                "Namespace",
                false,
                &["ns"],
            )
        },
        Builtin {
            status: true,
            printer: true,
            fields: &["spec.unschedulable"],
            ..b("", "v1", "nodes", "node", "Node", false, &["no"])
        },
        Builtin {
            all: true,
            status: true,
            create_status: CreateStatus::PodPending,
            printer: true,
            fields: POD_FIELDS,
            ..b("", "v1", "pods", "pod", "Pod", true, &["po"])
        },
        Builtin {
            printer: true,
            fields: EVENT_FIELDS,
            ..b("", "v1", "events", "event", "Event", true, &["ev"])
        },
        Builtin {
            printer: true,
            ..b(
                "",
                "v1",
                "configmaps",
                "configmap",
                "ConfigMap",
                true,
                &["cm"],
            )
        },
        Builtin {
            printer: true,
            fields: &["type"],
            ..b("", "v1", "secrets", "secret", "Secret", true, &[])
        },
        b(
            "",
            "v1",
            "serviceaccounts",
            "serviceaccount",
            "ServiceAccount",
            true,
            &["sa"],
        ),
        Builtin {
            all: true,
            status: true,
            ..b("", "v1", "services", "service", "Service", true, &["svc"])
        },
        Builtin {
            all: true,
            status: true,
            create_status: CreateStatus::Drop,
            printer: true,
            ..b(
                "apps",
                "v1",
                "deployments",
                "deployment",
                "Deployment",
                true,
                &["deploy"],
            )
        },
        Builtin {
            all: true,
            status: true,
            create_status: CreateStatus::Drop,
            printer: true,
            ..b(
                "apps",
                "v1",
                "statefulsets",
                "statefulset",
                "StatefulSet",
                true,
                &["sts"],
            )
        },
        Builtin {
            all: true,
            status: true,
            create_status: CreateStatus::Drop,
            printer: true,
            ..b(
                "apps",
                "v1",
                "replicasets",
                "replicaset",
                "ReplicaSet",
                true,
                &["rs"],
            )
        },
        Builtin {
            all: true,
            status: true,
            create_status: CreateStatus::Drop,
            ..b(
                "apps",
                "v1",
                "daemonsets",
                "daemonset",
                "DaemonSet",
                true,
                &["ds"],
            )
        },
        Builtin {
            all: true,
            status: true,
            create_status: CreateStatus::Drop,
            ..b("batch", "v1", "jobs", "job", "Job", true, &[])
        },
        Builtin {
            all: true,
            status: true,
            create_status: CreateStatus::Drop,
            ..b(
                "batch",
                "v1",
                "cronjobs",
                "cronjob",
                "CronJob",
                true,
                &["cj"],
            )
        },
        Builtin {
            fields: EVENTS_K8S_FIELDS,
            ..b(
                "events.k8s.io",
                "v1",
                "events",
                "event",
                "Event",
                true,
                &["ev"],
            )
        },
        Builtin {
            printer: true,
            ..b(
                "coordination.k8s.io",
                "v1",
                "leases",
                "lease",
                "Lease",
                true,
                &[],
            )
        },
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "clusterrole",
            "ClusterRole",
            false,
            &[],
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "clusterrolebinding",
            "ClusterRoleBinding",
            false,
            &[],
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "role",
            "Role",
            true,
            &[],
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "rolebinding",
            "RoleBinding",
            true,
            &[],
        ),
        Builtin {
            status: true,
            printer: true,
            ..b(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "customresourcedefinition",
                "CustomResourceDefinition",
                false,
                &["crd", "crds"],
            )
        },
    ]
}

/// Every served type, built-in first, then custom types in CRD creation order.
#[derive(Debug, Clone)]
pub(crate) struct Registry {
    types: Vec<ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        let types = builtins()
            .into_iter()
            .map(|b| ResourceType {
                group: b.group.into(),
                version: b.version.into(),
                plural: b.plural.into(),
                singular: b.singular.into(),
                kind: b.kind.into(),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| (*s).to_string()).collect(),
                categories: if b.all { vec!["all".into()] } else { vec![] },
                status_subresource: b.status,
                binding: b.plural == "pods",
                scale: matches!(b.plural, "deployments" | "statefulsets" | "replicasets"),
                create_status: b.create_status,
                columns: if b.printer {
                    Columns::Builtin
                } else {
                    Columns::Default
                },
                fields: b.fields.iter().map(|s| (*s).to_string()).collect(),
                custom: false,
                crd_name: None,
            })
            .collect();
        Self { types }
    }
}

impl Registry {
    /// The type served at `group/version/plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// The core (`v1`) type of a kind, e.g. nodes.
    pub fn core(&self, plural: &str) -> Option<&ResourceType> {
        self.lookup("", "v1", plural)
    }

    /// All served types.
    pub fn all(&self) -> &[ResourceType] {
        &self.types
    }

    /// API groups in discovery order (core excluded), each with its versions
    /// (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        out
    }

    /// Types served under one group/version.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceType> + 'a {
        self.types
            .iter()
            .filter(move |t| t.group == group && t.version == version)
    }

    /// Replace the types a CRD defines with the ones its current spec declares.
    /// Returns an error message when the CRD spec is unusable.
    pub fn apply_crd(&mut self, crd: &Value) -> Result<(), String> {
        let derived = types_from_crd(crd)?;
        let name = crd_name(crd);
        self.types
            .retain(|t| t.crd_name.as_deref() != Some(name.as_str()));
        self.types.extend(derived);
        Ok(())
    }

    /// Forget the types a CRD defined.
    pub fn remove_crd(&mut self, name: &str) {
        self.types.retain(|t| t.crd_name.as_deref() != Some(name));
    }
}

fn crd_name(crd: &Value) -> String {
    crd.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Check a CRD's spec and derive the served types (one per served version).
pub(crate) fn types_from_crd(crd: &Value) -> Result<Vec<ResourceType>, String> {
    let name = crd_name(crd);
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let group = spec
        .get("group")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
        .ok_or("spec.group: Required value")?;
    let names = spec.get("names").ok_or("spec.names: Required value")?;
    let plural = names
        .get("plural")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or("spec.names.plural: Required value")?;
    let kind = names
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or("spec.names.kind: Required value")?;
    if name != format!("{plural}.{group}") {
        return Err(format!(
            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        ));
    }
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let scope = spec.get("scope").and_then(Value::as_str).unwrap_or("");
    let namespaced = match scope {
        "Namespaced" => true,
        "Cluster" => false,
        other => {
            return Err(format!(
                "spec.scope: Unsupported value: \"{other}\": supported values: \"Cluster\", \"Namespaced\""
            ));
        }
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or(
            "spec.versions: Invalid value: must have exactly one version marked as storage version",
        )?;
    let mut out = Vec::new();
    for v in versions {
        let Some(version) = v.get("name").and_then(Value::as_str) else {
            return Err("spec.versions[].name: Required value".into());
        };
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let columns = match v.get("additionalPrinterColumns").and_then(Value::as_array) {
            Some(cols) if !cols.is_empty() => Columns::Custom(
                cols.iter()
                    .map(|c| PrinterColumn {
                        name: str_of(c, "name"),
                        type_: str_of(c, "type"),
                        format: str_of(c, "format"),
                        description: str_of(c, "description"),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        json_path: str_of(c, "jsonPath"),
                    })
                    .collect(),
            ),
            _ => Columns::Default,
        };
        let status = v.pointer("/subresources/status").is_some();
        out.push(ResourceType {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            singular: singular.clone(),
            kind: kind.to_string(),
            namespaced,
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            status_subresource: status,
            binding: false,
            scale: false,
            create_status: if status {
                CreateStatus::Drop
            } else {
                CreateStatus::Keep
            },
            columns,
            fields: vec![],
            custom: true,
            crd_name: Some(name.clone()),
        });
    }
    Ok(out)
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crd_types_follow_the_spec() {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true,
                     "subresources": {"status": {}},
                     "additionalPrinterColumns": [{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}]},
                    {"name": "v0", "served": false, "storage": false}
                ]
            }
        });
        let mut r = Registry::default();
        r.apply_crd(&crd).unwrap();
        let t = r.lookup("example.com", "v1", "widgets").unwrap();
        assert!(t.namespaced && t.status_subresource && t.custom);
        assert_eq!(t.singular, "widget");
        assert_eq!(t.short_names, vec!["wd".to_string()]);
        assert!(r.lookup("example.com", "v0", "widgets").is_none());
        r.remove_crd("widgets.example.com");
        assert!(r.lookup("example.com", "v1", "widgets").is_none());
    }

    #[test]
    fn crd_name_must_match_plural_and_group() {
        let crd = json!({
            "metadata": {"name": "wrong.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster",
                     "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}
        });
        assert!(types_from_crd(&crd).unwrap_err().contains("metadata.name"));
    }
}
