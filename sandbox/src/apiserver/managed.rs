//! Server-side apply field ownership: `metadata.managedFields` as upstream's
//! field manager (`k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager` over
//! `sigs.k8s.io/structured-merge-diff`) keeps it.
//!
//! In: the object before and after a write, who wrote it (manager, Apply or
//! Update, apiVersion, subresource) and, for apply, the fields of the applied
//! configuration. Out: the new `managedFields` entries, fields to prune, or
//! the apply conflicts. Pure functions; no store, no HTTP.
//!
//! Paths are lists of steps in the `FieldsV1` key form: `f:<field>` for a map
//! field, `k:{"<mergeKey>":<value>}` for an item of a list merged by key,
//! `v:<value>` for an item of a set-like list. Lists without a known merge
//! key (see [`super::patch`]) are atomic: the list is one leaf. Maps are
//! treated as structs (a map entry holding a non-empty map is not itself a
//! member), which matches upstream for every typed field.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::patch::{ListMerge, merge_key};

/// One field path; each step is a `FieldsV1` key (`f:spec`, `k:{"type":"Ready"}`, `v:"x"`).
pub(crate) type Path = Vec<String>;

/// A set of field paths.
pub(crate) type FieldSet = BTreeSet<Path>;

/// Which part of an object a write may own (upstream's reset fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The main resource; `status` is not owned when the type has a status subresource.
    Main { status_subresource: bool },
    /// The `status` subresource: only `status` is owned.
    Status,
}

/// What a managedFields entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }
}

/// Who writes: the identity a managedFields entry is kept under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Writer {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    /// `""`, `"status"` or `"scale"`.
    pub subresource: String,
}

impl Writer {
    /// An Update by `manager` through `api_version` on the main resource.
    pub fn update(manager: impl Into<String>, api_version: impl Into<String>) -> Self {
        Self {
            manager: manager.into(),
            operation: Operation::Update,
            api_version: api_version.into(),
            subresource: String::new(),
        }
    }

    /// A new entry of this writer owning `fields`, written at `now`.
    fn entry(&self, fields: FieldSet, now: &str) -> Entry {
        Entry {
            manager: self.manager.clone(),
            operation: self.operation,
            api_version: self.api_version.clone(),
            subresource: self.subresource.clone(),
            time: Some(now.to_string()),
            fields,
        }
    }
}

/// One `metadata.managedFields` entry (upstream `meta/v1 ManagedFieldsEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub subresource: String,
    pub time: Option<String>,
    pub fields: FieldSet,
}

impl Entry {
    /// Upstream's manager identifier: manager, operation, subresource, and the
    /// apiVersion for Update entries only.
    fn is(&self, w: &Writer) -> bool {
        self.manager == w.manager
            && self.operation == w.operation
            && self.subresource == w.subresource
            && (self.operation == Operation::Apply || self.api_version == w.api_version)
    }

    /// How conflict messages name this manager (upstream `printManager`).
    fn describe(&self) -> String {
        let mut s = format!("{}", Value::String(self.manager.clone()));
        if !self.subresource.is_empty() {
            s.push_str(&format!(
                " with subresource {}",
                Value::String(self.subresource.clone())
            ));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// A field another manager owns that an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conflict {
    /// The owner, as upstream names it: `"name"`, or `"name" using v1` for Update owners.
    pub manager: String,
    /// The path as upstream prints it: `.spec.holderIdentity`, `.status.conditions[type="Ready"]`.
    pub field: String,
}

/// The upstream message for a set of conflicts (`getConflictMessage`).
pub(crate) fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager, c.field
        );
    }
    let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager.entry(&c.manager).or_default().push(&c.field);
    }
    let mut lines = Vec::new();
    for (m, fields) in by_manager {
        lines.push(format!("conflicts with {m}:"));
        lines.extend(fields.iter().map(|f| format!("- {f}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// A path as upstream prints it (`fieldpath.Path.String`).
pub(crate) fn path_string(p: &Path) -> String {
    p.iter()
        .map(|step| {
            if let Some(f) = step.strip_prefix("f:") {
                format!(".{f}")
            } else if let Some(k) = step.strip_prefix("k:") {
                let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                    .map(|m| m.iter().map(|(n, v)| format!("{n}={v}")).collect())
                    .unwrap_or_default();
                format!("[{}]", parts.join(","))
            } else if let Some(v) = step.strip_prefix("v:") {
                format!("[={v}]")
            } else if let Some(i) = step.strip_prefix("i:") {
                format!("[{i}]")
            } else {
                step.clone()
            }
        })
        .collect()
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The step of each item of a granular list at `schema` (dotted path, array
/// steps omitted), or `None` when the list is atomic (no merge key known, an
/// item without its key, or duplicate items).
fn item_steps(items: &[Value], schema: &str) -> Option<Vec<String>> {
    let steps: Vec<String> = match merge_key(schema)? {
        ListMerge::Set => items
            .iter()
            .map(|i| (!i.is_object() && !i.is_array()).then(|| format!("v:{i}")))
            .collect::<Option<_>>()?,
        ListMerge::Key(key) => items
            .iter()
            .map(|i| {
                let k = i.get(key).filter(|k| !k.is_null())?;
                let mut m = Map::new();
                m.insert(key.to_string(), k.clone());
                Some(format!("k:{}", Value::Object(m)))
            })
            .collect::<Option<_>>()?,
    };
    let unique: BTreeSet<&String> = steps.iter().collect();
    (unique.len() == steps.len()).then_some(steps)
}

/// Every member path of `v` with its value for leaves (`None` for list items).
/// Leaves borrow from the object, so comparing two objects clones no values.
type Flat<'a> = BTreeMap<Path, Option<&'a Value>>;

fn flatten_into<'a>(v: &'a Value, path: &mut Path, schema: &str, out: &mut Flat<'a>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                path.push(format!("f:{k}"));
                flatten_into(c, path, &join(schema, k), out);
                path.pop();
            }
        }
        Value::Array(items) => match item_steps(items, schema) {
            Some(steps) => {
                for (step, item) in steps.into_iter().zip(items) {
                    path.push(step);
                    out.insert(path.clone(), None);
                    if let Value::Object(m) = item {
                        for (k, c) in m {
                            path.push(format!("f:{k}"));
                            flatten_into(c, path, &join(schema, k), out);
                            path.pop();
                        }
                    }
                    path.pop();
                }
            }
            None => {
                out.insert(path.clone(), Some(v));
            }
        },
        _ => {
            out.insert(path.clone(), Some(v));
        }
    }
}

/// Metadata the field manager never tracks (upstream `stripMetaManager`, plus
/// the deletion fields only the server sets).
const UNTRACKED_META: [&str; 10] = [
    "f:name",
    "f:namespace",
    "f:creationTimestamp",
    "f:selfLink",
    "f:uid",
    "f:generation",
    "f:managedFields",
    "f:resourceVersion",
    "f:deletionTimestamp",
    "f:deletionGracePeriodSeconds",
];

fn tracked(p: &Path, scope: Scope) -> bool {
    let first = p.first().map(String::as_str);
    if matches!(first, None | Some("f:apiVersion" | "f:kind")) {
        return false;
    }
    if first == Some("f:metadata")
        && p.get(1)
            .is_none_or(|s| UNTRACKED_META.contains(&s.as_str()))
    {
        return false;
    }
    match scope {
        Scope::Main { status_subresource } => !(status_subresource && first == Some("f:status")),
        Scope::Status => first == Some("f:status"),
    }
}

fn flatten(v: &Value, scope: Scope) -> Flat<'_> {
    let mut out = Flat::new();
    // Top-level fields outside the scope are not walked at all.
    for (k, c) in v.as_object().into_iter().flatten() {
        let mut path = vec![format!("f:{k}")];
        let top = match scope {
            Scope::Main { status_subresource } => !(status_subresource && k == "status"),
            Scope::Status => k == "status",
        };
        if top && k != "apiVersion" && k != "kind" {
            flatten_into(c, &mut path, k, &mut out);
        }
    }
    out.retain(|p, _| tracked(p, scope));
    out
}

/// The fields an applied configuration sets (upstream `ToFieldSet`).
pub(crate) fn field_set(config: &Value, scope: Scope) -> FieldSet {
    flatten(config, scope).into_keys().collect()
}

/// How a write changed an object (upstream `typed.Comparison`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    /// Fields the writer takes from everyone else.
    fn taken(&self) -> FieldSet {
        self.added.union(&self.modified).cloned().collect()
    }
}

/// Compare `old` (null for a create) with `new` within `scope`.
pub(crate) fn compare(old: &Value, new: &Value, scope: Scope) -> Comparison {
    let before = flatten(old, scope);
    let after = flatten(new, scope);
    let mut c = Comparison::default();
    for (p, v) in &after {
        match before.get(p) {
            None => {
                c.added.insert(p.clone());
            }
            Some(old_v) if old_v != v => {
                c.modified.insert(p.clone());
            }
            Some(_) => {}
        }
    }
    c.removed = before
        .into_keys()
        .filter(|p| !after.contains_key(p))
        .collect();
    c
}

/// Ownership after an Update by `w` (upstream `Updater.Update` behind
/// `managedFieldsUpdater`): the writer takes what it added or changed from
/// everyone, removed fields lose their owners, and the writer's entry gets a
/// new time when it took anything.
pub(crate) fn update(entries: &mut Vec<Entry>, cmp: &Comparison, w: &Writer, now: &str) {
    let taken = cmp.taken();
    for e in entries.iter_mut() {
        e.fields.retain(|p| !cmp.removed.contains(p));
        if !e.is(w) {
            e.fields.retain(|p| !taken.contains(p));
        }
    }
    if !taken.is_empty() {
        match entries.iter_mut().find(|e| e.is(w)) {
            Some(e) => {
                e.fields.extend(taken);
                e.time = Some(now.to_string());
            }
            None => entries.push(w.entry(taken, now)),
        }
    }
    entries.retain(|e| !e.fields.is_empty());
}

/// Ownership after an Apply by `w` of a configuration setting `config`
/// (upstream `Updater.Apply`): fields other managers own that the apply adds
/// or changes are conflicts, refused unless `force`; with force they change
/// owner. The applier then owns exactly `config`.
pub(crate) fn apply(
    entries: &mut Vec<Entry>,
    cmp: &Comparison,
    w: &Writer,
    config: FieldSet,
    force: bool,
    now: &str,
) -> Result<(), Vec<Conflict>> {
    let taken = cmp.taken();
    let mut conflicts: Vec<Conflict> = entries
        .iter()
        .filter(|e| !e.is(w))
        .flat_map(|e| {
            e.fields.intersection(&taken).map(|p| Conflict {
                manager: e.describe(),
                field: path_string(p),
            })
        })
        .collect();
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| (&a.manager, &a.field).cmp(&(&b.manager, &b.field)));
        return Err(conflicts);
    }
    for e in entries.iter_mut().filter(|e| !e.is(w)) {
        e.fields
            .retain(|p| !taken.contains(p) && !cmp.removed.contains(p));
    }
    let changed = !taken.is_empty() || !cmp.removed.is_empty();
    match entries.iter_mut().find(|e| e.is(w)) {
        Some(e) => {
            if changed || e.fields != config {
                e.time = Some(now.to_string());
            }
            e.fields = config;
            // An Apply entry records the version last applied.
            e.api_version.clone_from(&w.api_version);
        }
        None => entries.push(w.entry(config, now)),
    }
    entries.retain(|e| !e.fields.is_empty());
    Ok(())
}

/// Fields `w` applied before, omits from `config` now, and no other manager
/// owns: upstream removes them from the object (`Updater.prune`).
pub(crate) fn pruned(entries: &[Entry], w: &Writer, config: &FieldSet) -> Vec<Path> {
    let Some(last) = entries.iter().find(|e| e.is(w)) else {
        return Vec::new();
    };
    let kept: Vec<&Path> = entries
        .iter()
        .filter(|e| !e.is(w))
        .flat_map(|e| e.fields.iter())
        .chain(config.iter())
        .collect();
    last.fields
        .iter()
        .filter(|p| !kept.iter().any(|k| k.starts_with(p)))
        .cloned()
        .collect()
}

/// Remove the member at `p` from `obj` (a map field, or a list item by key or value).
pub(crate) fn remove_path(obj: &mut Value, p: &[String]) {
    let Some((last, parents)) = p.split_last() else {
        return;
    };
    let mut cur = obj;
    for step in parents {
        let Some(next) = child(cur, step) else {
            return;
        };
        cur = next;
    }
    match cur {
        Value::Object(m) => {
            if let Some(f) = last.strip_prefix("f:") {
                m.remove(f);
            }
        }
        Value::Array(items) => {
            if let Some(i) = items.iter().position(|i| item_matches(i, last)) {
                items.remove(i);
            }
        }
        _ => {}
    }
}

fn item_matches(item: &Value, step: &str) -> bool {
    if let Some(k) = step.strip_prefix("k:") {
        serde_json::from_str::<Map<String, Value>>(k)
            .is_ok_and(|m| m.iter().all(|(n, v)| item.get(n) == Some(v)))
    } else if let Some(v) = step.strip_prefix("v:") {
        serde_json::from_str::<Value>(v).is_ok_and(|v| *item == v)
    } else {
        false
    }
}

fn child<'a>(v: &'a mut Value, step: &str) -> Option<&'a mut Value> {
    match v {
        Value::Object(m) => m.get_mut(step.strip_prefix("f:")?),
        Value::Array(items) => items.iter_mut().find(|i| item_matches(i, step)),
        _ => None,
    }
}

/// The `fieldsV1` tree of a set: each step a key, `{}` for a leaf, `".": {}`
/// marking a member that also has members below it.
pub(crate) fn encode_fields(set: &FieldSet) -> Value {
    let mut root = Value::Object(Map::new());
    for p in set {
        let mut node = &mut root;
        for step in p {
            node = super::store::object_mut(node)
                .entry(step.clone())
                .or_insert_with(|| json!({}));
        }
        super::store::object_mut(node).insert(".".into(), json!({}));
    }
    fn tidy(v: &mut Value) {
        if let Value::Object(m) = v {
            if m.len() == 1 && m.contains_key(".") {
                m.clear();
                return;
            }
            m.values_mut().for_each(tidy);
        }
    }
    tidy(&mut root);
    root
}

fn decode_fields(v: &Value, path: &mut Path, out: &mut FieldSet) -> Result<(), String> {
    let m = v
        .as_object()
        .ok_or_else(|| format!("fieldsV1 node at {path:?} is not an object"))?;
    if m.is_empty() && !path.is_empty() {
        out.insert(path.clone());
    }
    for (k, c) in m {
        if k == "." {
            out.insert(path.clone());
            continue;
        }
        path.push(k.clone());
        decode_fields(c, path, out)?;
        path.pop();
    }
    Ok(())
}

/// Decode `metadata.managedFields`; an entry that is not well-formed fails the whole list.
pub(crate) fn decode(v: &Value) -> Result<Vec<Entry>, String> {
    let Some(items) = v.as_array() else {
        return Err("managedFields is not a list".into());
    };
    items
        .iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
            let operation = match s("operation") {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                other => return Err(format!("unknown operation {other:?}")),
            };
            if s("fieldsType") != "FieldsV1" {
                return Err(format!("unknown fieldsType {:?}", s("fieldsType")));
            }
            let mut fields = FieldSet::new();
            decode_fields(
                e.get("fieldsV1").unwrap_or(&json!({})),
                &mut Vec::new(),
                &mut fields,
            )?;
            Ok(Entry {
                manager: s("manager").to_string(),
                operation,
                api_version: s("apiVersion").to_string(),
                subresource: s("subresource").to_string(),
                time: e.get("time").and_then(Value::as_str).map(str::to_string),
                fields,
            })
        })
        .collect()
}

/// Encode entries in upstream's order: operation, time, manager, apiVersion, subresource.
pub(crate) fn encode(entries: &[Entry]) -> Value {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| {
        (
            a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    Value::Array(
        sorted
            .into_iter()
            .map(|e| {
                let mut v = json!({
                    "manager": e.manager,
                    "operation": e.operation.as_str(),
                    "apiVersion": e.api_version,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": encode_fields(&e.fields),
                });
                if let Some(t) = &e.time {
                    v["time"] = json!(t);
                }
                if !e.subresource.is_empty() {
                    v["subresource"] = json!(e.subresource);
                }
                v
            })
            .collect(),
    )
}

/// Whether a `managedFields` value sent by a client asks to clear the
/// ownership record: `[]` or `[{}]` (upstream `isResetManagedFields`).
pub(crate) fn is_reset(v: &Value) -> bool {
    match v.as_array().map(Vec::as_slice) {
        Some([]) => true,
        Some([one]) => one.as_object().is_some_and(Map::is_empty),
        _ => false,
    }
}

/// The manager of a write without `fieldManager`: the user agent up to its
/// first `/`, printable characters only, at most 128 bytes (upstream
/// `prefixFromUserAgent`).
pub(crate) fn manager_from_user_agent(ua: &str) -> String {
    let mut out = String::new();
    for c in ua.split('/').next().unwrap_or_default().chars() {
        if c.is_control() {
            continue;
        }
        if out.len() + c.len_utf8() > MAX_MANAGER_LEN {
            break;
        }
        out.push(c);
    }
    out
}

/// The longest `fieldManager` upstream accepts.
pub(crate) const MAX_MANAGER_LEN: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: Scope = Scope::Main {
        status_subresource: true,
    };

    fn p(steps: &[&str]) -> Path {
        steps.iter().map(|s| (*s).to_string()).collect()
    }

    fn set(paths: &[&[&str]]) -> FieldSet {
        paths.iter().map(|s| p(s)).collect()
    }

    fn applier(name: &str) -> Writer {
        Writer {
            operation: Operation::Apply,
            ..Writer::update(name, "coordination.k8s.io/v1")
        }
    }

    fn lease(holder: &str, renew: &str) -> Value {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "l", "namespace": "default", "uid": "u", "resourceVersion": "3"},
               "spec": {"holderIdentity": holder, "renewTime": renew, "leaseDurationSeconds": 15}})
    }

    #[test]
    fn field_sets_follow_merge_keys_and_skip_server_metadata() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "uid": "u", "labels": {"app": "web"}, "finalizers": ["a"], "annotations": {}},
            "spec": {"containers": [{"name": "c", "image": "i", "args": ["x", "y"]}]},
            "status": {"phase": "Running"}
        });
        assert_eq!(
            field_set(&pod, MAIN),
            set(&[
                &["f:metadata", "f:annotations"],
                &["f:metadata", "f:finalizers", "v:\"a\""],
                &["f:metadata", "f:labels", "f:app"],
                &["f:spec", "f:containers", "k:{\"name\":\"c\"}"],
                &["f:spec", "f:containers", "k:{\"name\":\"c\"}", "f:args"],
                &["f:spec", "f:containers", "k:{\"name\":\"c\"}", "f:image"],
                &["f:spec", "f:containers", "k:{\"name\":\"c\"}", "f:name"],
            ])
        );
        assert_eq!(
            field_set(&pod, Scope::Status),
            set(&[&["f:status", "f:phase"]])
        );
    }

    #[test]
    fn fields_v1_round_trips_in_the_upstream_shape() {
        let s = set(&[
            &["f:spec", "f:holderIdentity"],
            &["f:status", "f:conditions", "k:{\"type\":\"Ready\"}"],
            &[
                "f:status",
                "f:conditions",
                "k:{\"type\":\"Ready\"}",
                "f:status",
            ],
        ]);
        let v = encode_fields(&s);
        assert_eq!(
            v,
            json!({"f:spec": {"f:holderIdentity": {}},
                   "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}}}}})
        );
        let mut back = FieldSet::new();
        decode_fields(&v, &mut Vec::new(), &mut back).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn comparison_sorts_fields_into_added_modified_removed() {
        let old = json!({"spec": {"a": 1, "b": 2, "c": [1]}});
        let new = json!({"spec": {"a": 1, "b": 3, "d": 4}});
        let c = compare(&old, &new, MAIN);
        assert_eq!(c.added, set(&[&["f:spec", "f:d"]]));
        assert_eq!(c.modified, set(&[&["f:spec", "f:b"]]));
        assert_eq!(c.removed, set(&[&["f:spec", "f:c"]]));
    }

    /// Table: what an apply by "b" of `holderIdentity = b` meets, given who
    /// owns the field and its current value.
    #[test]
    fn apply_conflicts_only_when_another_owner_holds_a_different_value() {
        let holder = || set(&[&["f:spec", "f:holderIdentity"]]);
        // (what, current owner, current holder, force, Ok or how many conflicts)
        type Case = (
            &'static str,
            Option<Writer>,
            &'static str,
            bool,
            Result<(), usize>,
        );
        let cases: &[Case] = &[
            ("free field", None, "a", false, Ok(())),
            (
                "other applier, other value",
                Some(applier("a")),
                "a",
                false,
                Err(1),
            ),
            (
                "other applier, same value",
                Some(applier("a")),
                "b",
                false,
                Ok(()),
            ),
            (
                "other applier, forced",
                Some(applier("a")),
                "a",
                true,
                Ok(()),
            ),
            ("own earlier apply", Some(applier("b")), "a", false, Ok(())),
            (
                "updater, other value",
                Some(Writer::update("a", "coordination.k8s.io/v1")),
                "a",
                false,
                Err(1),
            ),
            (
                "same name but Update operation",
                Some(Writer::update("b", "coordination.k8s.io/v1")),
                "a",
                false,
                Err(1),
            ),
        ];
        for (what, owner, current, force, want) in cases {
            let mut entries: Vec<Entry> = owner
                .iter()
                .map(|w| Entry {
                    manager: w.manager.clone(),
                    operation: w.operation,
                    api_version: w.api_version.clone(),
                    subresource: String::new(),
                    time: None,
                    fields: holder(),
                })
                .collect();
            let live = lease(current, "t0");
            let mut next = live.clone();
            next["spec"]["holderIdentity"] = json!("b");
            let cmp = compare(&live, &next, MAIN);
            let got = apply(&mut entries, &cmp, &applier("b"), holder(), *force, "now");
            assert_eq!(got.as_ref().map(|_| ()).map_err(Vec::len), *want, "{what}");
            if got.is_ok() {
                let b = entries.iter().find(|e| e.is(&applier("b"))).unwrap();
                assert_eq!(
                    b.fields,
                    holder(),
                    "{what}: the applier owns what it applied"
                );
                let shared = current == &"b" && owner.as_ref().is_some_and(|o| o.manager == "a");
                assert_eq!(
                    entries.len(),
                    1 + usize::from(shared),
                    "{what}: {entries:?}"
                );
            }
        }
    }

    #[test]
    fn conflict_messages_match_upstream() {
        let upd = Entry {
            manager: "other-manager".into(),
            operation: Operation::Update,
            api_version: "coordination.k8s.io/v1".into(),
            subresource: String::new(),
            time: Some("t".into()),
            fields: FieldSet::new(),
        };
        let one = [Conflict {
            manager: upd.describe(),
            field: path_string(&p(&["f:spec", "f:holderIdentity"])),
        }];
        assert_eq!(
            conflict_message(&one),
            "Apply failed with 1 conflict: conflict with \"other-manager\" using coordination.k8s.io/v1: .spec.holderIdentity"
        );
        let two = [
            Conflict {
                manager: "\"a\"".into(),
                field: ".spec.x".into(),
            },
            Conflict {
                manager: "\"a\"".into(),
                field: path_string(&p(&["f:status", "f:conditions", "k:{\"type\":\"Ready\"}"])),
            },
        ];
        assert_eq!(
            conflict_message(&two),
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.x\n- .status.conditions[type=\"Ready\"]"
        );
    }

    /// Table: an Update takes what it adds or changes, deleted fields lose
    /// every owner, and an unchanged write records nothing.
    #[test]
    fn updates_take_changed_fields_and_drop_deleted_ones() {
        let a = applier("a");
        let u = Writer::update("u", "coordination.k8s.io/v1");
        let start = || {
            vec![Entry {
                manager: "a".into(),
                operation: Operation::Apply,
                api_version: "coordination.k8s.io/v1".into(),
                subresource: String::new(),
                time: None,
                fields: set(&[&["f:spec", "f:holderIdentity"], &["f:spec", "f:renewTime"]]),
            }]
        };
        let live = lease("a", "t0");
        let renewed = lease("a", "t1");
        let mut released = live.clone();
        if let Some(spec) = released["spec"].as_object_mut() {
            spec.remove("holderIdentity");
            spec.remove("renewTime");
        }
        // (what, new object, fields "a" keeps, fields "u" gets)
        let cases: Vec<(&str, &Value, FieldSet, FieldSet)> = vec![
            (
                "no change",
                &live,
                set(&[&["f:spec", "f:holderIdentity"], &["f:spec", "f:renewTime"]]),
                FieldSet::new(),
            ),
            (
                "renew",
                &renewed,
                set(&[&["f:spec", "f:holderIdentity"]]),
                set(&[&["f:spec", "f:renewTime"]]),
            ),
            ("release", &released, FieldSet::new(), FieldSet::new()),
        ];
        for (what, next, want_a, want_u) in cases {
            let mut entries = start();
            update(&mut entries, &compare(&live, next, MAIN), &u, "now");
            let of = |w: &Writer| {
                entries
                    .iter()
                    .find(|e| e.is(w))
                    .map(|e| e.fields.clone())
                    .unwrap_or_default()
            };
            assert_eq!(of(&a), want_a, "{what}");
            assert_eq!(of(&u), want_u, "{what}");
        }
    }

    #[test]
    fn fields_an_applier_stops_applying_are_pruned_unless_shared() {
        let a = applier("a");
        let entries = vec![
            Entry {
                manager: "a".into(),
                operation: Operation::Apply,
                api_version: "v1".into(),
                subresource: String::new(),
                time: None,
                fields: set(&[&["f:data", "f:x"], &["f:data", "f:y"], &["f:data", "f:z"]]),
            },
            Entry {
                manager: "b".into(),
                operation: Operation::Apply,
                api_version: "v1".into(),
                subresource: String::new(),
                time: None,
                fields: set(&[&["f:data", "f:y"]]),
            },
        ];
        let gone = pruned(&entries, &a, &set(&[&["f:data", "f:x"]]));
        assert_eq!(gone, vec![p(&["f:data", "f:z"])]);
        let mut obj = json!({"data": {"x": "1", "y": "2", "z": "3"},
                             "metadata": {"finalizers": ["f", "g"]},
                             "status": {"conditions": [{"type": "A"}, {"type": "B"}]}});
        for path in gone {
            remove_path(&mut obj, &path);
        }
        remove_path(&mut obj, &p(&["f:metadata", "f:finalizers", "v:\"f\""]));
        remove_path(
            &mut obj,
            &p(&["f:status", "f:conditions", "k:{\"type\":\"B\"}"]),
        );
        assert_eq!(
            obj,
            json!({"data": {"x": "1", "y": "2"}, "metadata": {"finalizers": ["g"]},
                   "status": {"conditions": [{"type": "A"}]}})
        );
    }

    #[test]
    fn entries_round_trip_sorted_and_resets_are_recognised() {
        let entries = vec![
            Entry {
                manager: "z".into(),
                operation: Operation::Update,
                api_version: "v1".into(),
                subresource: "status".into(),
                time: Some("2026-01-01T00:00:00Z".into()),
                fields: set(&[&["f:status", "f:phase"]]),
            },
            Entry {
                manager: "a".into(),
                operation: Operation::Apply,
                api_version: "v1".into(),
                subresource: String::new(),
                time: Some("2026-01-02T00:00:00Z".into()),
                fields: set(&[&["f:data", "f:k"]]),
            },
        ];
        let v = encode(&entries);
        assert_eq!(v[0]["manager"], "a", "Apply entries first");
        assert_eq!(v[1]["subresource"], "status");
        let mut back = decode(&v).unwrap();
        back.reverse();
        assert_eq!(back, entries);
        assert!(decode(&json!([{"operation": "Patch", "fieldsType": "FieldsV1"}])).is_err());
        assert!(is_reset(&json!([])) && is_reset(&json!([{}])));
        assert!(!is_reset(&v) && !is_reset(&Value::Null));
    }

    #[test]
    fn managers_default_to_the_user_agent_prefix() {
        assert_eq!(
            manager_from_user_agent("kubectl/v1.33.0 (linux/amd64)"),
            "kubectl"
        );
        assert_eq!(manager_from_user_agent(""), "");
        assert_eq!(manager_from_user_agent(&"x".repeat(300)).len(), 128);
    }
}
