//! Server-side printing: `meta.k8s.io/v1 Table` responses for kubectl
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), with the columns
//! of the built-in printers we serve and a CRD's `additionalPrinterColumns`.

use serde_json::{Value, json};

use super::registry::{Columns, PrinterColumn, ResourceType};

/// What each row's `object` carries (`includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    /// From the query value; the server default is `Metadata`.
    pub fn parse(v: Option<&str>) -> Self {
        match v {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// Whether the Accept header asks for a Table.
pub(crate) fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io")
    })
}

struct Col {
    name: &'static str,
    type_: &'static str,
    priority: i64,
}

const fn col(name: &'static str, type_: &'static str, priority: i64) -> Col {
    Col {
        name,
        type_,
        priority,
    }
}

fn def(name: &str, type_: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

fn name_def() -> Value {
    def(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
        0,
    )
}

fn builtin_cols(kind: &str) -> Vec<Col> {
    match kind {
        "Pod" => vec![
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            col("Age", "string", 0),
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ],
        "Node" => vec![
            col("Status", "string", 0),
            col("Roles", "string", 0),
            col("Age", "string", 0),
            col("Version", "string", 0),
            col("Internal-IP", "string", 1),
            col("External-IP", "string", 1),
            col("OS-Image", "string", 1),
            col("Kernel-Version", "string", 1),
            col("Container-Runtime", "string", 1),
        ],
        "Namespace" => vec![col("Status", "string", 0), col("Age", "string", 0)],
        "ConfigMap" => vec![col("Data", "integer", 0), col("Age", "string", 0)],
        "Secret" => vec![
            col("Type", "string", 0),
            col("Data", "integer", 0),
            col("Age", "string", 0),
        ],
        "Deployment" => vec![
            col("Ready", "string", 0),
            col("Up-to-date", "integer", 0),
            col("Available", "integer", 0),
            col("Age", "string", 0),
        ],
        "StatefulSet" => vec![col("Ready", "string", 0), col("Age", "string", 0)],
        "ReplicaSet" => vec![
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            col("Age", "string", 0),
        ],
        "Lease" => vec![col("Holder", "string", 0), col("Age", "string", 0)],
        // Upstream's event printer has its Name column last (wide only).
        "Event" => vec![
            col("Last Seen", "string", 0),
            col("Type", "string", 0),
            col("Reason", "string", 0),
            col("Object", "string", 0),
            col("Subobject", "string", 1),
            col("Source", "string", 1),
            col("Message", "string", 0),
            col("First Seen", "string", 1),
            col("Count", "string", 1),
        ],
        "CustomResourceDefinition" => vec![col("Created At", "date", 0)],
        _ => vec![col("Age", "string", 0)],
    }
}

/// The column definitions of a type's table.
pub(crate) fn column_definitions(rt: &ResourceType) -> Vec<Value> {
    if is_event(rt) {
        let mut out: Vec<Value> = builtin_cols(&rt.kind)
            .iter()
            .map(|c| def(c.name, c.type_, "", "", c.priority))
            .collect();
        out.push(def("Name", "string", "name", "", 1));
        return out;
    }
    let mut out = vec![name_def()];
    match &rt.columns {
        Columns::Default => out.push(def("Age", "date", "", "", 0)),
        Columns::Builtin => out.extend(
            builtin_cols(&rt.kind)
                .iter()
                .map(|c| def(c.name, c.type_, "", "", c.priority)),
        ),
        Columns::Custom(cols) => out.extend(cols.iter().map(|c: &PrinterColumn| {
            def(&c.name, &c.type_, &c.format, &c.description, c.priority)
        })),
    }
    out
}

fn s<'a>(obj: &'a Value, ptr: &str) -> Option<&'a str> {
    obj.pointer(ptr).and_then(Value::as_str)
}

fn i(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn none_or(v: Option<&str>) -> Value {
    Value::String(v.filter(|x| !x.is_empty()).unwrap_or("<none>").to_string())
}

/// `5s`, `3m20s`, `2d3h`: the `HumanDuration` of k8s.io/apimachinery.
pub(crate) fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn age_of(ts: Option<&str>) -> Value {
    let Some(t) = ts.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return Value::String("<unknown>".into());
    };
    let secs = jiff::Timestamp::now().as_second() - t.as_second();
    Value::String(human_duration(secs))
}

fn age(obj: &Value) -> Value {
    age_of(s(obj, "/metadata/creationTimestamp"))
}

fn pod_cells(p: &Value) -> Vec<Value> {
    let total = p
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let statuses = p
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ready = statuses
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let restarts: i64 = statuses.iter().map(|c| i(c, "/restartCount")).sum();
    let mut reason = s(p, "/status/reason")
        .or_else(|| s(p, "/status/phase"))
        .unwrap_or("Unknown")
        .to_string();
    for c in &statuses {
        if let Some(r) = s(c, "/state/waiting/reason").or_else(|| s(c, "/state/terminated/reason"))
        {
            reason = r.to_string();
        }
    }
    if p.pointer("/metadata/deletionTimestamp").is_some() {
        reason = "Terminating".into();
    }
    let gates = p
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .filter(|g| !g.is_empty())
        .map(|gates| {
            let conds = p
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ok = gates
                .iter()
                .filter(|g| {
                    conds.iter().any(|c| {
                        c.get("type") == g.get("conditionType")
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
                .count();
            format!("{ok}/{}", gates.len())
        });
    vec![
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        age(p),
        none_or(s(p, "/status/podIP")),
        none_or(s(p, "/spec/nodeName")),
        none_or(s(p, "/status/nominatedNodeName")),
        none_or(gates.as_deref()),
    ]
}

fn node_cells(n: &Value) -> Vec<Value> {
    let conds = n
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut status = match conds
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .and_then(|c| c.get("status").and_then(Value::as_str))
    {
        Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if n.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = n
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .map(str::to_string)
                        .or_else(|| {
                            (k == "kubernetes.io/role")
                                .then(|| v.as_str().unwrap_or_default().to_string())
                        })
                })
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    let addr = |t: &str| {
        n.pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|x| x.get("type").and_then(Value::as_str) == Some(t))
                    .and_then(|x| x.get("address").and_then(Value::as_str))
            })
    };
    vec![
        json!(status),
        none_or(Some(&roles.join(","))),
        age(n),
        json!(s(n, "/status/nodeInfo/kubeletVersion").unwrap_or_default()),
        none_or(addr("InternalIP")),
        none_or(addr("ExternalIP")),
        json!(s(n, "/status/nodeInfo/osImage").unwrap_or("<unknown>")),
        json!(s(n, "/status/nodeInfo/kernelVersion").unwrap_or("<unknown>")),
        json!(s(n, "/status/nodeInfo/containerRuntimeVersion").unwrap_or("<unknown>")),
    ]
}

fn count(obj: &Value, ptr: &str) -> usize {
    obj.pointer(ptr)
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len)
}

fn builtin_cells(kind: &str, o: &Value) -> Vec<Value> {
    match kind {
        "Pod" => pod_cells(o),
        "Node" => node_cells(o),
        "Namespace" => vec![json!(s(o, "/status/phase").unwrap_or_default()), age(o)],
        "ConfigMap" => vec![json!(count(o, "/data") + count(o, "/binaryData")), age(o)],
        "Secret" => vec![
            json!(s(o, "/type").unwrap_or("Opaque")),
            json!(count(o, "/data")),
            age(o),
        ],
        "Deployment" => vec![
            json!(format!(
                "{}/{}",
                i(o, "/status/readyReplicas"),
                i(o, "/spec/replicas")
            )),
            json!(i(o, "/status/updatedReplicas")),
            json!(i(o, "/status/availableReplicas")),
            age(o),
        ],
        "StatefulSet" => vec![
            json!(format!(
                "{}/{}",
                i(o, "/status/readyReplicas"),
                i(o, "/spec/replicas")
            )),
            age(o),
        ],
        "ReplicaSet" => vec![
            json!(i(o, "/spec/replicas")),
            json!(i(o, "/status/replicas")),
            json!(i(o, "/status/readyReplicas")),
            age(o),
        ],
        "Lease" => vec![none_or(s(o, "/spec/holderIdentity")), age(o)],
        "Event" => {
            let last = s(o, "/lastTimestamp")
                .or_else(|| s(o, "/eventTime"))
                .or_else(|| s(o, "/metadata/creationTimestamp"));
            let (k, n) = if o.get("involvedObject").is_some() {
                (s(o, "/involvedObject/kind"), s(o, "/involvedObject/name"))
            } else {
                (s(o, "/regarding/kind"), s(o, "/regarding/name"))
            };
            let first = s(o, "/firstTimestamp")
                .or_else(|| s(o, "/eventTime"))
                .or_else(|| s(o, "/metadata/creationTimestamp"));
            let source = s(o, "/source/component")
                .or_else(|| s(o, "/reportingComponent"))
                .or_else(|| s(o, "/reportingController"));
            let count = o
                .pointer("/series/count")
                .or_else(|| o.get("count"))
                .and_then(Value::as_i64)
                .unwrap_or(1);
            vec![
                age_of(last),
                json!(s(o, "/type").unwrap_or_default()),
                json!(s(o, "/reason").unwrap_or_default()),
                json!(format!(
                    "{}/{}",
                    k.unwrap_or_default().to_lowercase(),
                    n.unwrap_or_default()
                )),
                json!(s(o, "/involvedObject/fieldPath").unwrap_or_default()),
                json!(source.unwrap_or_default()),
                json!(
                    s(o, "/message")
                        .or_else(|| s(o, "/note"))
                        .unwrap_or_default()
                ),
                age_of(first),
                json!(count.to_string()),
            ]
        }
        "CustomResourceDefinition" => {
            vec![json!(
                s(o, "/metadata/creationTimestamp").unwrap_or_default()
            )]
        }
        _ => vec![age(o)],
    }
}

/// Evaluate the simple JSONPath of a printer column (`.status.phase`,
/// `.spec.list[0].x`, optionally wrapped in `{}`).
pub(crate) fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let p = path.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut cur = obj;
    for seg in p.split('.').filter(|s| !s.is_empty()) {
        let (field, rest) = match seg.find('[') {
            Some(idx) => (&seg[..idx], &seg[idx..]),
            None => (seg, ""),
        };
        if !field.is_empty() {
            cur = cur.get(field)?;
        }
        for idx in rest
            .split('[')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches(']'))
        {
            cur = cur.get(idx.parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

fn custom_cells(cols: &[PrinterColumn], o: &Value) -> Vec<Value> {
    cols.iter()
        .map(|c| match json_path(o, &c.json_path) {
            None | Some(Value::Null) => Value::Null,
            Some(v) if c.type_ == "date" => age_of(v.as_str()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.clone(),
            Some(Value::String(x)) => Value::String(x.clone()),
            Some(other) => Value::String(other.to_string()),
        })
        .collect()
}

fn row_object(obj: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

/// One table row for an object.
fn is_event(rt: &ResourceType) -> bool {
    rt.columns == Columns::Builtin && rt.kind == "Event"
}

pub(crate) fn row(rt: &ResourceType, obj: &Value, include: IncludeObject) -> Value {
    let name = json!(
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    );
    if is_event(rt) {
        let mut cells = builtin_cells(&rt.kind, obj);
        cells.push(name);
        return json!({"cells": cells, "object": row_object(obj, include)});
    }
    let mut cells = vec![name];
    match &rt.columns {
        Columns::Default => cells.push(age(obj)),
        Columns::Builtin => cells.extend(builtin_cells(&rt.kind, obj)),
        Columns::Custom(cols) => cells.extend(custom_cells(cols, obj)),
    }
    json!({"cells": cells, "object": row_object(obj, include)})
}

/// A Table of objects; `headers: false` leaves out the column definitions
/// (watch events after the first, as the real server does).
pub(crate) fn table(
    rt: &ResourceType,
    objs: &[Value],
    include: IncludeObject,
    rv: &str,
    cont: Option<&str>,
    headers: bool,
) -> Value {
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": if headers { column_definitions(rt) } else { vec![] },
        "rows": objs.iter().map(|o| row(rt, o, include)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::Registry;

    #[test]
    fn human_durations_match_kubectl() {
        for (s, want) in [
            (5, "5s"),
            (119, "119s"),
            (200, "3m20s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (10 * 3600, "10h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
        ] {
            assert_eq!(human_duration(s), want);
        }
    }

    #[test]
    fn accept_header_detection() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }

    #[test]
    fn pod_rows_have_kubectl_columns() {
        let r = Registry::default();
        let pods = r.core("pods").unwrap();
        let p = json!({"metadata": {"name": "web", "creationTimestamp": "2020-01-01T00:00:00Z"},
                       "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
                       "status": {"phase": "Running", "podIP": "10.0.0.5",
                                  "containerStatuses": [{"ready": true, "restartCount": 2}]}});
        let row = row(pods, &p, IncludeObject::None);
        assert_eq!(row["cells"][0], "web");
        assert_eq!(row["cells"][1], "1/1");
        assert_eq!(row["cells"][2], "Running");
        assert_eq!(row["cells"][3], 2);
        assert_eq!(row["cells"][5], "10.0.0.5");
        assert_eq!(row["cells"][6], "n1");
        assert_eq!(
            column_definitions(pods).len(),
            row["cells"].as_array().unwrap().len()
        );
    }

    #[test]
    fn every_printer_has_one_cell_per_column() {
        let r = Registry::default();
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": "2020-01-01T00:00:00Z"}});
        for t in r.all() {
            let cells = row(t, &obj, IncludeObject::None)["cells"]
                .as_array()
                .map_or(0, Vec::len);
            assert_eq!(cells, column_definitions(t).len(), "{}", t.kind);
        }
    }

    #[test]
    fn json_path_reads_nested_fields() {
        let o = json!({"status": {"phase": "Bound", "list": [{"x": 1}]}});
        assert_eq!(json_path(&o, ".status.phase"), Some(&json!("Bound")));
        assert_eq!(json_path(&o, "{.status.list[0].x}"), Some(&json!(1)));
        assert_eq!(json_path(&o, ".status.none"), None);
    }
}
