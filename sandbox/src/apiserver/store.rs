//! The generic object store: JSON objects keyed by (group, version, resource,
//! namespace, name), one global resourceVersion, a bounded change history for
//! watches, and the write semantics of the real API server (create, update,
//! patch, delete with finalizers and graceful pod deletion, binding, garbage
//! collection of dependents and namespace termination).
//!
//! Every method is synchronous and runs under the caller's lock; nothing here
//! awaits.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::convert::View;
use super::managed::{self, FieldSet, Operation, Scope, Writer};
use super::patch::{self, PatchFailure, PatchKind};
use super::registry::{CreateStatus, Registry, ResourceType};
use super::schema;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;

/// (group, version, plural, namespace, name); namespace is empty for cluster-scoped objects.
pub(crate) type Key = (String, String, String, String, String);

/// The kind of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One committed change, as kept in the history and fanned out to watchers.
pub(crate) struct Change {
    pub rv: u64,
    pub kind: ChangeKind,
    pub group: String,
    pub version: String,
    pub plural: String,
    pub namespace: String,
    pub object: Value,
    /// The object before the change (for selector transitions).
    pub old: Option<Value>,
}

/// Which part of an object a write targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sub {
    Main,
    Status,
}

/// How a write is made: the part it targets, whether it is a dry run, and
/// who makes it (the field manager recorded in `metadata.managedFields`).
#[derive(Debug, Clone)]
pub(crate) struct WriteOpts {
    pub sub: Sub,
    pub dry_run: bool,
    /// The writer; patches of type apply record it as an Apply entry.
    pub writer: Writer,
    /// Apply only: take fields other managers own instead of failing with 409.
    pub force: bool,
}

impl WriteOpts {
    /// A main-resource Update by `manager` through `api_version`.
    pub fn update(manager: &str, api_version: &str) -> Self {
        Self {
            sub: Sub::Main,
            dry_run: false,
            writer: Writer::update(manager, api_version),
            force: false,
        }
    }
}

/// Options of a DELETE (query string and DeleteOptions body merged).
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOpts {
    pub grace: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub orphan: bool,
    pub dry_run: bool,
}

/// What a watch starts with.
#[derive(Debug)]
pub(crate) struct WatchStart {
    /// Replayed or synthetic events to send first, in order.
    pub initial: Vec<Arc<Change>>,
    /// Live changes; those with `rv <= start_rv` are already covered by `initial`.
    pub rx: broadcast::Receiver<Arc<Change>>,
    pub start_rv: u64,
}

/// The whole cluster state.
pub(crate) struct Store {
    pub registry: Registry,
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    /// Every change with a larger resourceVersion is still in `history`.
    compacted: u64,
    tx: broadcast::Sender<Arc<Change>>,
}

// Debug output names objects but never shows their content (Secrets live here).
impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Change")
            .field("rv", &self.rv)
            .field("kind", &self.kind)
            .field(
                "resource",
                &format_args!("{}/{}/{}", self.group, self.version, self.plural),
            )
            .field("namespace", &self.namespace)
            .field("name", &self.object.pointer("/metadata/name"))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("rv", &self.rv)
            .field("objects", &self.objects.len())
            .field("history", &self.history.len())
            .field("compacted", &self.compacted)
            .finish_non_exhaustive()
    }
}

fn key(rt: &ResourceType, ns: &str, name: &str) -> Key {
    (
        rt.group.clone(),
        rt.version.clone(),
        rt.plural.clone(),
        if rt.namespaced {
            ns.to_string()
        } else {
            String::new()
        },
        name.to_string(),
    )
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    child_mut(obj, "metadata")
}

/// `v` as a map, replacing anything else with an empty one.
pub(crate) fn object_mut(v: &mut Value) -> &mut Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => {
            *other = Value::Object(Map::new());
            object_mut(other)
        }
    }
}

/// The map at `v.key`, created (or replacing a non-map) when needed.
pub(crate) fn child_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    object_mut(
        object_mut(v)
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new())),
    )
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Now, as an RFC 3339 timestamp with second precision (metav1.Time).
pub(crate) fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

fn rfc3339_in(secs: i64) -> String {
    let now = jiff::Timestamp::now().as_second();
    jiff::Timestamp::from_second(now.saturating_add(secs))
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now_rfc3339())
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn label_value_ok(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && (v.is_empty()
            || (v.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
                && v.as_bytes().last().is_some_and(u8::is_ascii_alphanumeric)))
}

fn label_key_ok(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && label_value_ok(name)
}

/// The part of an object that `metadata.generation` tracks.
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

fn without_rv(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    v
}

fn tracks_generation(rt: &ResourceType) -> bool {
    rt.custom || rt.group == "apps" || rt.group == "apiextensions.k8s.io"
}

impl Store {
    /// An empty cluster with the default namespaces.
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(4096);
        let mut s = Self {
            registry: Registry::default(),
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 1,
            tx,
        };
        let ns_type = s.registry.core("namespaces").cloned();
        if let Some(rt) = ns_type {
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                // Cannot fail: fixed valid names in an empty store.
                let opts = WriteOpts::update("kube-apiserver", "v1");
                let _ = s.create(&rt, "", json!({"metadata": {"name": ns}}), &opts);
            }
        }
        s
    }

    /// How many watches are open.
    pub fn open_watches(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The current (latest) resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    fn commit(&mut self, kind: ChangeKind, k: Key, mut obj: Value, old: Option<Value>) -> Value {
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), Value::String(self.rv.to_string()));
        match kind {
            ChangeKind::Deleted => {
                self.objects.remove(&k);
            }
            _ => {
                self.objects.insert(k.clone(), obj.clone());
            }
        }
        let change = Arc::new(Change {
            rv: self.rv,
            kind,
            group: k.0,
            version: k.1,
            plural: k.2,
            namespace: k.3,
            object: obj.clone(),
            old,
        });
        self.history.push_back(change.clone());
        while self.history.len() > self.history_limit {
            if let Some(evicted) = self.history.pop_front() {
                self.compacted = evicted.rv;
            }
        }
        // No receivers is fine.
        let _ = self.tx.send(change);
        obj
    }

    /// One object.
    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&key(rt, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// Objects of a type, optionally in one namespace, filtered, in key order.
    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.0 == rt.group && k.1 == rt.version && k.2 == rt.plural)
            .filter(|(k, _)| ns.is_none_or(|n| k.3 == n))
            .map(|(_, v)| v)
            .filter(|v| labels.matches(v) && fields.matches(v))
            .cloned()
            .collect()
    }

    fn namespace_state(&self, ns: &str) -> Option<bool> {
        let rt = self.registry.core("namespaces")?;
        self.objects
            .get(&key(rt, "", ns))
            .map(|n| n.pointer("/metadata/deletionTimestamp").is_some())
    }

    fn check_labels(rt: &ResourceType, name: &str, obj: &Value) -> Result<(), ApiError> {
        for field in ["labels", "annotations"] {
            match obj.get("metadata").and_then(|m| m.get(field)) {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) => {
                    for (k, v) in m {
                        if !label_key_ok(k) {
                            return Err(ApiError::invalid(
                                rt,
                                name,
                                &format!("metadata.{field}"),
                                &format!(
                                    "Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.'"
                                ),
                            ));
                        }
                        match v {
                            Value::String(s) if field == "annotations" || label_value_ok(s) => {}
                            _ => {
                                return Err(ApiError::invalid(
                                    rt,
                                    name,
                                    &format!("metadata.{field}"),
                                    &format!(
                                        "Invalid value: {v}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'"
                                    ),
                                ));
                            }
                        }
                    }
                }
                Some(other) => {
                    return Err(ApiError::invalid(
                        rt,
                        name,
                        &format!("metadata.{field}"),
                        &format!("Invalid value: {other}: must be a map of strings"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_type_and_namespace(
        rt: &ResourceType,
        ns: &str,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        let api_version = rt.api_version();
        match obj.get("apiVersion").and_then(Value::as_str) {
            Some(v) if v != api_version => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({api_version})"
                )));
            }
            _ => {}
        }
        match obj.get("kind").and_then(Value::as_str) {
            Some(k) if k != rt.kind => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    rt.kind
                )));
            }
            _ => {}
        }
        let root = object_mut(obj);
        root.insert("apiVersion".into(), Value::String(api_version));
        root.insert("kind".into(), Value::String(rt.kind.clone()));
        let meta = meta_mut(obj);
        if rt.namespaced {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    meta.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
        } else {
            meta.remove("namespace");
        }
        Ok(())
    }

    /// POST: create an object.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        self.create_as(rt, ns, obj, opts, None)
    }

    /// Create, recording `opts.writer` as an Update, or as an Apply of `applied`.
    fn create_as(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        mut obj: Value,
        opts: &WriteOpts,
        applied: Option<FieldSet>,
    ) -> Result<Value, ApiError> {
        let dry_run = opts.dry_run;
        Self::check_type_and_namespace(rt, ns, &mut obj)?;
        let meta = meta_mut(&mut obj);
        let incoming = meta.get("managedFields").cloned();
        let name = match meta.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => match meta.get("generateName").and_then(Value::as_str) {
                Some(g) if !g.is_empty() => format!("{g}{}", random_suffix()),
                _ => {
                    return Err(ApiError::invalid(
                        rt,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    ));
                }
            },
        };
        meta.insert("name".into(), Value::String(name.clone()));
        let name_ok = if rt.plural == "namespaces" {
            is_dns_label(&name)
        } else if rt.group == "rbac.authorization.k8s.io" {
            // upstream ValidateRBACName: any path segment (`system:...` names)
            !matches!(name.as_str(), "." | "..") && !name.contains(['/', '%'])
        } else {
            is_dns_subdomain(&name)
        };
        if !name_ok {
            return Err(ApiError::invalid(
                rt,
                &name,
                "metadata.name",
                &format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                ),
            ));
        }
        for f in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
        ] {
            meta.remove(f);
        }
        meta.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
        if tracks_generation(rt) {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        Self::check_labels(rt, &name, &obj)?;
        if rt.namespaced {
            match self.namespace_state(ns) {
                None => {
                    let nst = self.registry.core("namespaces").cloned();
                    return Err(match nst {
                        Some(nst) => ApiError::not_found(&nst, ns),
                        None => ApiError::no_route(ns),
                    });
                }
                Some(true) => {
                    return Err(ApiError::forbidden(
                        rt,
                        &name,
                        &format!(
                            "unable to create new content in namespace {ns} because it is being terminated"
                        ),
                    ));
                }
                Some(false) => {}
            }
        }
        let k = key(rt, ns, &name);
        if self.objects.contains_key(&k) {
            return Err(ApiError::already_exists(rt, &name));
        }
        self.decode_custom(rt, &mut obj);
        self.prepare_create(rt, &name, &mut obj)?;
        self.validate_custom(rt, &name, &obj)?;
        let create_opts = WriteOpts {
            sub: Sub::Main,
            ..opts.clone()
        };
        Self::record_owners(rt, &Value::Null, &mut obj, incoming, &create_opts, applied)?;
        if dry_run {
            return Ok(obj);
        }
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            self.registry
                .apply_crd(&obj)
                .map_err(|e| ApiError::invalid(rt, &name, "spec", &e))?;
        }
        Ok(self.commit(ChangeKind::Added, k, obj, None))
    }

    fn prepare_create(
        &self,
        rt: &ResourceType,
        name: &str,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        match rt.create_status {
            CreateStatus::Keep => {}
            CreateStatus::Drop => {
                if let Some(m) = obj.as_object_mut() {
                    m.remove("status");
                }
            }
            CreateStatus::PodPending => {
                let qos = pod_qos(obj);
                object_mut(obj).insert(
                    "status".into(),
                    json!({"phase": "Pending", "qosClass": qos}),
                );
            }
            CreateStatus::NamespaceActive => {
                object_mut(obj).insert("status".into(), json!({"phase": "Active"}));
                child_mut(obj, "spec")
                    .entry("finalizers")
                    .or_insert_with(|| json!(["kubernetes"]));
            }
        }
        if rt.group.is_empty()
            && rt.plural == "secrets"
            && obj
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            object_mut(obj).insert("type".into(), json!("Opaque"));
        }
        if rt.group.is_empty() && rt.plural == "pods" {
            if !obj.get("spec").is_some_and(Value::is_object) {
                return Err(ApiError::invalid(rt, name, "spec", "Required value"));
            }
            default_pod_spec(obj);
        }
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            super::registry::types_from_crd(obj)
                .map_err(|e| ApiError::invalid(rt, name, "spec", &e))?;
            set_crd_status(obj);
        }
        Ok(())
    }

    /// PUT: replace an object (`Sub::Main`) or its status (`Sub::Status`).
    pub fn update(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        Self::check_type_and_namespace(rt, ns, &mut obj)?;
        match meta_str(&obj, "name") {
            Some(n) if !n.is_empty() && n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            _ => {}
        }
        let old = self.get(rt, ns, name)?;
        match meta_str(&obj, "resourceVersion") {
            Some(rv) if !rv.is_empty() && Some(rv) != meta_str(&old, "resourceVersion") => {
                return Err(ApiError::stale(rt, name));
            }
            Some(rv) if !rv.is_empty() => {}
            _ if rt.custom => {
                return Err(ApiError::invalid(
                    rt,
                    name,
                    "metadata.resourceVersion",
                    "Invalid value: 0x0: must be specified for an update",
                ));
            }
            _ => {}
        }
        self.write(rt, ns, name, old, obj, opts, None)
    }

    /// PATCH. Returns the object and whether it was created (apply on a missing object).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        kind: PatchKind,
        body: &Value,
        opts: &WriteOpts,
        view: Option<View>,
    ) -> Result<(Value, bool), ApiError> {
        if kind == PatchKind::Apply {
            return self.apply(rt, ns, name, body, opts, view);
        }
        let old = self.get(rt, ns, name)?;
        let mut doc = match view {
            Some(v) => v.shown(&old),
            None => old.clone(),
        };
        patch::apply(kind, &mut doc, body).map_err(|f| match f {
            PatchFailure::BadRequest(m) => ApiError::bad_request(m),
            PatchFailure::Invalid(m) => ApiError::invalid(rt, name, "patch", &m),
        })?;
        if let Some(v) = view {
            doc = v.stored(&doc);
        }
        self.write_patched(rt, ns, name, old, doc, opts, None)
            .map(|o| (o, false))
    }

    /// Server-side apply: the configuration is merged onto the object (which
    /// is created when absent), fields this manager applied before and omits
    /// now are removed unless another manager owns them, and changing a field
    /// another manager owns is a 409 conflict unless forced.
    fn apply(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        body: &Value,
        opts: &WriteOpts,
        view: Option<View>,
    ) -> Result<(Value, bool), ApiError> {
        let mut opts = opts.clone();
        opts.writer.operation = Operation::Apply;
        if body
            .pointer("/metadata/managedFields")
            .is_some_and(|m| !m.is_null())
        {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        let sent_version = body
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if sent_version != opts.writer.api_version {
            return Err(ApiError::bad_request(format!(
                "Incorrect version specified in apply patch. Specified patch version: {sent_version}, expected: {}",
                opts.writer.api_version
            )));
        }
        let mut typed = match view {
            Some(v) => v.stored(body),
            None => body.clone(),
        };
        Self::check_type_and_namespace(rt, ns, &mut typed)?;
        let config = managed::field_set(&typed, scope(rt, opts.sub));
        let old = match self.get(rt, ns, name) {
            Ok(o) => o,
            Err(e) if e.code == 404 && opts.sub == Sub::Main => {
                // Already checked to be an object of this type.
                let mut obj = typed;
                match meta_str(&obj, "name") {
                    Some(n) if n != name => {
                        return Err(ApiError::bad_request(format!(
                            "the name of the object ({n}) does not match the name on the URL ({name})"
                        )));
                    }
                    _ => {
                        meta_mut(&mut obj).insert("name".into(), Value::String(name.into()));
                    }
                }
                return self
                    .create_as(rt, ns, obj, &opts, Some(config))
                    .map(|o| (o, true));
            }
            Err(e) => return Err(e),
        };
        let mut doc = match view {
            Some(v) => v.shown(&old),
            None => old.clone(),
        };
        patch::apply(PatchKind::Apply, &mut doc, body).map_err(|f| match f {
            PatchFailure::BadRequest(m) | PatchFailure::Invalid(m) => ApiError::bad_request(m),
        })?;
        if let Some(v) = view {
            doc = v.stored(&doc);
        }
        let entries = Self::owners(&old);
        for path in managed::pruned(&entries, &opts.writer, &config) {
            managed::remove_path(&mut doc, &path);
        }
        self.write_patched(rt, ns, name, old, doc, &opts, Some(config))
            .map(|o| (o, false))
    }

    /// The checks every patched object passes before the shared write rules.
    #[allow(clippy::too_many_arguments)]
    fn write_patched(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        old: Value,
        mut doc: Value,
        opts: &WriteOpts,
        applied: Option<FieldSet>,
    ) -> Result<Value, ApiError> {
        if meta_str(&doc, "resourceVersion") != meta_str(&old, "resourceVersion") {
            return Err(ApiError::stale(rt, name));
        }
        Self::check_type_and_namespace(rt, ns, &mut doc)?;
        if meta_str(&doc, "name") != Some(name) {
            return Err(ApiError::bad_request(
                "metadata.name: the name of the object may not be changed by a patch",
            ));
        }
        self.write(rt, ns, name, old, doc, opts, applied)
    }

    /// The managedFields entries of a stored object (none when absent or not decodable).
    fn owners(obj: &Value) -> Vec<managed::Entry> {
        obj.pointer("/metadata/managedFields")
            .and_then(|m| managed::decode(m).ok())
            .unwrap_or_default()
    }

    /// Record who owns what after `old` (null on create) became `next`
    /// (upstream's field manager): an Update takes the fields it added or
    /// changed, an Apply owns the `applied` fields and fails with 409 when it
    /// changes fields another manager owns, unless forced. `incoming` is the
    /// managedFields the client sent: `[]` or `[{}]` clears the record, a
    /// valid list replaces it (main-resource updates only), anything else
    /// keeps the stored one.
    fn record_owners(
        rt: &ResourceType,
        old: &Value,
        next: &mut Value,
        incoming: Option<Value>,
        opts: &WriteOpts,
        applied: Option<FieldSet>,
    ) -> Result<(), ApiError> {
        let live = Self::owners(old);
        let mut entries = match incoming {
            Some(sent) if opts.sub == Sub::Main && applied.is_none() => {
                if managed::is_reset(&sent) {
                    Vec::new()
                } else {
                    match managed::decode(&sent) {
                        Ok(e) if !e.is_empty() => e,
                        _ => live,
                    }
                }
            }
            _ => live,
        };
        let cmp = managed::compare(old, next, scope(rt, opts.sub));
        let now = now_rfc3339();
        match applied {
            None => managed::update(&mut entries, &cmp, &opts.writer, &now),
            Some(config) => {
                managed::apply(&mut entries, &cmp, &opts.writer, config, opts.force, &now)
                    .map_err(|conflicts| {
                        let causes: Vec<(String, String)> = conflicts
                            .iter()
                            .map(|c| (c.manager.clone(), c.field.clone()))
                            .collect();
                        ApiError::apply_conflict(managed::conflict_message(&conflicts), &causes)
                    })?;
            }
        }
        let meta = meta_mut(next);
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), managed::encode(&entries));
        }
        Ok(())
    }

    /// Shared tail of update and patch: immutable fields, status rules,
    /// generation, field ownership, no-op detection, finalization.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        old: Value,
        new: Value,
        opts: &WriteOpts,
        applied: Option<FieldSet>,
    ) -> Result<Value, ApiError> {
        let (sub, dry_run) = (opts.sub, opts.dry_run);
        let incoming = new.pointer("/metadata/managedFields").cloned();
        let mut next = match sub {
            Sub::Status => {
                let mut o = old.clone();
                match new.get("status") {
                    Some(s) => {
                        object_mut(&mut o).insert("status".into(), s.clone());
                    }
                    None => {
                        if let Some(m) = o.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                o
            }
            Sub::Main => {
                let mut n = new;
                if rt.status_subresource {
                    match old.get("status") {
                        Some(s) => {
                            object_mut(&mut n).insert("status".into(), s.clone());
                        }
                        None => {
                            if let Some(m) = n.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
                n
            }
        };
        let old_meta = old.get("metadata").cloned().unwrap_or(Value::Null);
        {
            let meta = meta_mut(&mut next);
            for f in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
                "name",
                "generation",
            ] {
                match old_meta.get(f) {
                    Some(v) => {
                        meta.insert(f.into(), v.clone());
                    }
                    None => {
                        meta.remove(f);
                    }
                }
            }
            meta.insert(
                "resourceVersion".into(),
                old_meta
                    .get("resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        Self::check_labels(rt, name, &next)?;
        self.decode_custom(rt, &mut next);
        self.validate_custom(rt, name, &next)?;
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            let before = finalizers(&old);
            if let Some(added) = finalizers(&next).iter().find(|f| !before.contains(f)) {
                return Err(ApiError::invalid(
                    rt,
                    name,
                    "metadata.finalizers",
                    &format!(
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers [\"{added}\"]"
                    ),
                ));
            }
        }
        if rt.group.is_empty() && rt.plural == "pods" && sub == Sub::Main {
            default_pod_spec(&mut next);
            if immutable_pod_spec(&old) != immutable_pod_spec(&next) {
                return Err(ApiError::invalid(
                    rt,
                    name,
                    "spec",
                    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                ));
            }
        }
        let is_crd = rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions";
        if is_crd && sub == Sub::Main {
            super::registry::types_from_crd(&next)
                .map_err(|e| ApiError::invalid(rt, name, "spec", &e))?;
            set_crd_status(&mut next);
        }
        if tracks_generation(rt) && spec_part(&old) != spec_part(&next) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta_mut(&mut next).insert("generation".into(), json!(g + 1));
        }
        Self::record_owners(rt, &old, &mut next, incoming, opts, applied)?;
        if without_rv(&old) == without_rv(&next) {
            return Ok(old);
        }
        if dry_run {
            return Ok(next);
        }
        if is_crd {
            // Validated above; cannot fail.
            let _ = self.registry.apply_crd(&next);
        }
        let k = key(rt, ns, name);
        let ready = self.ready_to_remove(rt, &next);
        let out = self.commit(ChangeKind::Modified, k.clone(), next, Some(old));
        if ready {
            self.remove(rt, k, out.clone());
        }
        Ok(out)
    }

    /// A terminating object goes once it has no finalizers left and, for a pod
    /// on a node, once the node confirmed it (grace period 0).
    fn ready_to_remove(&self, rt: &ResourceType, obj: &Value) -> bool {
        if obj.pointer("/metadata/deletionTimestamp").is_none() || !finalizers(obj).is_empty() {
            return false;
        }
        if rt.group.is_empty() && rt.plural == "pods" {
            let grace = obj
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            return grace == 0 || !self.pod_node_exists(obj);
        }
        true
    }

    fn pod_node_exists(&self, pod: &Value) -> bool {
        let node = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        !node.is_empty()
            && self
                .registry
                .core("nodes")
                .is_some_and(|nt| self.objects.contains_key(&key(nt, "", node)))
    }

    /// DELETE one object.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Value, ApiError> {
        let old = self.get(rt, ns, name)?;
        if let Some(uid) = &opts.uid
            && Some(uid.as_str()) != meta_str(&old, "uid")
        {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&old, "uid").unwrap_or_default()
                ),
            ));
        }
        if let Some(rv) = &opts.resource_version
            && Some(rv.as_str()) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta_str(&old, "resourceVersion").unwrap_or_default()
                ),
            ));
        }
        let is_pod = rt.group.is_empty() && rt.plural == "pods";
        let grace = if is_pod {
            let phase = old.pointer("/status/phase").and_then(Value::as_str);
            if !self.pod_node_exists(&old) || matches!(phase, Some("Succeeded" | "Failed")) {
                0
            } else {
                opts.grace
                    .or_else(|| {
                        old.pointer("/spec/terminationGracePeriodSeconds")
                            .and_then(Value::as_i64)
                    })
                    .unwrap_or(30)
                    .max(0)
            }
        } else {
            0
        };
        let is_namespace = rt.group.is_empty() && rt.plural == "namespaces";
        if opts.dry_run {
            return Ok(old);
        }
        let k = key(rt, ns, name);
        let terminating = old.pointer("/metadata/deletionTimestamp").is_some();
        if terminating {
            let current = old
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if is_pod && grace < current {
                let mut next = old.clone();
                let meta = meta_mut(&mut next);
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                meta.insert("deletionTimestamp".into(), json!(rfc3339_in(grace)));
                let ready = self.ready_to_remove(rt, &next);
                let out = self.commit(ChangeKind::Modified, k.clone(), next, Some(old));
                if ready {
                    self.remove(rt, k, out.clone());
                }
                return Ok(out);
            }
            return Ok(old);
        }
        if finalizers(&old).is_empty() && grace == 0 && !is_namespace {
            return Ok(self.remove_with(rt, k, old, !opts.orphan));
        }
        let mut next = old.clone();
        {
            let meta = meta_mut(&mut next);
            meta.insert("deletionTimestamp".into(), json!(rfc3339_in(grace)));
            meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
        }
        if is_namespace {
            object_mut(&mut next).insert("status".into(), json!({"phase": "Terminating"}));
        }
        let out = self.commit(ChangeKind::Modified, k, next, Some(old));
        if is_namespace {
            self.terminate_namespace(name);
        }
        Ok(out)
    }

    /// Delete every namespaced object in a terminating namespace; the namespace
    /// itself goes when it is empty.
    fn terminate_namespace(&mut self, ns: &str) {
        let victims: Vec<Key> = self.objects.keys().filter(|k| k.3 == ns).cloned().collect();
        for k in victims {
            let Some(rt) = self.registry.lookup(&k.0, &k.1, &k.2).cloned() else {
                continue;
            };
            let _ = self.delete(&rt, &k.3, &k.4, &DeleteOpts::default());
        }
        self.finish_namespace(ns);
    }

    fn finish_namespace(&mut self, ns: &str) {
        if ns.is_empty() || self.namespace_state(ns) != Some(true) {
            return;
        }
        if self.objects.keys().any(|k| k.3 == ns) {
            return;
        }
        let Some(nst) = self.registry.core("namespaces").cloned() else {
            return;
        };
        let k = key(&nst, "", ns);
        if let Some(obj) = self.objects.get(&k).cloned()
            && finalizers(&obj).is_empty()
        {
            self.remove(&nst, k, obj);
        }
    }

    fn remove(&mut self, rt: &ResourceType, k: Key, obj: Value) -> Value {
        self.remove_with(rt, k, obj, true)
    }

    /// Remove an object for good, then cascade: dependents whose owners are all
    /// gone (unless orphaning), a CRD's custom objects, pods of a removed node,
    /// and a terminating namespace that became empty.
    fn remove_with(&mut self, rt: &ResourceType, k: Key, obj: Value, cascade: bool) -> Value {
        let out = self.commit(ChangeKind::Deleted, k.clone(), obj, None);
        let uid = meta_str(&out, "uid").unwrap_or_default().to_string();
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            let gone: Vec<ResourceType> = self
                .registry
                .all()
                .iter()
                .filter(|t| t.crd_name.as_deref() == Some(k.4.as_str()))
                .cloned()
                .collect();
            for t in &gone {
                let keys: Vec<(Key, Value)> = self
                    .objects
                    .iter()
                    .filter(|(ok, _)| ok.0 == t.group && ok.1 == t.version && ok.2 == t.plural)
                    .map(|(a, b)| (a.clone(), b.clone()))
                    .collect();
                for (ok, ov) in keys {
                    self.commit(ChangeKind::Deleted, ok, ov, None);
                }
            }
            self.registry.remove_crd(&k.4);
        }
        if rt.group.is_empty() && rt.plural == "nodes" {
            let pods: Vec<Key> = self
                .objects
                .iter()
                .filter(|(ok, ov)| {
                    ok.0.is_empty()
                        && ok.2 == "pods"
                        && ov.pointer("/spec/nodeName").and_then(Value::as_str) == Some(&k.4)
                })
                .map(|(ok, _)| ok.clone())
                .collect();
            if let Some(pt) = self.registry.core("pods").cloned() {
                for pk in pods {
                    let opts = DeleteOpts {
                        grace: Some(0),
                        ..DeleteOpts::default()
                    };
                    let _ = self.delete(&pt, &pk.3, &pk.4, &opts);
                }
            }
        }
        if cascade && !uid.is_empty() {
            let dependents: Vec<Key> = self
                .objects
                .iter()
                .filter(|(_, v)| {
                    let owners: Vec<&str> = v
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(|o| o.get("uid")?.as_str()).collect())
                        .unwrap_or_default();
                    owners.contains(&uid.as_str())
                        && owners.iter().all(|o| *o == uid || !self.uid_exists(o))
                })
                .map(|(dk, _)| dk.clone())
                .collect();
            for dk in dependents {
                if let Some(dt) = self.registry.lookup(&dk.0, &dk.1, &dk.2).cloned() {
                    let _ = self.delete(&dt, &dk.3, &dk.4, &DeleteOpts::default());
                }
            }
        }
        if !k.3.is_empty() {
            self.finish_namespace(&k.3);
        }
        out
    }

    /// The `CustomResourceDefinition` object that defines a custom type.
    pub(crate) fn crd_of(&self, rt: &ResourceType) -> Option<&Value> {
        let crd_name = rt.crd_name.as_deref()?;
        let k: Key = (
            "apiextensions.k8s.io".into(),
            "v1".into(),
            "customresourcedefinitions".into(),
            String::new(),
            crd_name.into(),
        );
        self.objects.get(&k)
    }

    /// The structural schema of a custom type's version, if its CRD has one.
    fn custom_schema(&self, rt: &ResourceType) -> Option<Value> {
        self.crd_of(rt)?
            .pointer("/spec/versions")?
            .as_array()?
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(rt.version.as_str()))?
            .pointer("/schema/openAPIV3Schema")
            .cloned()
    }

    /// Prune and default a custom object by its schema (on decode, before
    /// the write rules).
    fn decode_custom(&self, rt: &ResourceType, obj: &mut Value) {
        if let Some(schema) = self.custom_schema(rt) {
            schema::prune(obj, &schema, true);
            schema::apply_defaults(obj, &schema);
        }
    }

    /// Validate a custom object against its schema (422 with every failure).
    fn validate_custom(&self, rt: &ResourceType, name: &str, obj: &Value) -> Result<(), ApiError> {
        let Some(schema) = self.custom_schema(rt) else {
            return Ok(());
        };
        let mut errs = Vec::new();
        schema::validate(obj, &schema, "", true, &mut errs);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_many(rt, name, &errs))
        }
    }

    fn uid_exists(&self, uid: &str) -> bool {
        self.objects
            .values()
            .any(|v| meta_str(v, "uid") == Some(uid))
    }

    /// GET `<workload>/<name>/scale`: the `autoscaling/v1 Scale` view.
    pub fn scale(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        let obj = self.get(rt, ns, name)?;
        let selector = obj
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
        Ok(json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
                "creationTimestamp": meta.get("creationTimestamp"),
            },
            "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
            "status": {
                "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
                "selector": selector,
            },
        }))
    }

    /// PUT or PATCH `<workload>/<name>/scale`: `new_scale` is the Scale the
    /// client wants; only `spec.replicas` is taken (with its resourceVersion
    /// as a precondition when given).
    pub fn set_scale(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        new_scale: &Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let old = self.get(rt, ns, name)?;
        if let Some(rv) = new_scale
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            && Some(rv) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::stale(rt, name));
        }
        let replicas = new_scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .filter(|r| *r >= 0)
            .ok_or_else(|| {
                ApiError::invalid(
                    rt,
                    name,
                    "spec.replicas",
                    "Invalid value: must be greater than or equal to 0",
                )
            })?;
        let mut next = old.clone();
        child_mut(&mut next, "spec").insert("replicas".into(), json!(replicas));
        self.write(rt, ns, name, old, next, opts, None)?;
        self.scale(rt, ns, name)
    }

    /// POST `pods/<name>/binding`: assign a node to an unbound pod.
    pub fn bind(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        binding: &Value,
    ) -> Result<(), ApiError> {
        let target = binding
            .pointer("/target/name")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::invalid(rt, name, "target.name", "Required value"))?
            .to_string();
        let old = self.get(rt, ns, name)?;
        if let Some(uid) = binding.pointer("/metadata/uid").and_then(Value::as_str)
            && Some(uid) != meta_str(&old, "uid")
        {
            return Err(ApiError::conflict(
                rt,
                name,
                "Precondition failed: UID in precondition does not match the pod",
            ));
        }
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        if let Some(node) = old
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!("pod {name} is already assigned to node \"{node}\""),
            ));
        }
        let mut next = old.clone();
        child_mut(&mut next, "spec").insert("nodeName".into(), Value::String(target));
        if let Some(Value::Object(ann)) = binding.pointer("/metadata/annotations") {
            let meta = meta_mut(&mut next);
            let mut merged = meta
                .get("annotations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            merged.extend(ann.clone());
            meta.insert("annotations".into(), Value::Object(merged));
        }
        let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                          "lastTransitionTime": now_rfc3339()});
        let status = child_mut(&mut next, "status");
        match status.get_mut("conditions").and_then(Value::as_array_mut) {
            Some(conds) => {
                conds.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
                conds.push(cond);
            }
            None => {
                status.insert("conditions".into(), json!([cond]));
            }
        }
        self.commit(ChangeKind::Modified, key(rt, ns, name), next, Some(old));
        Ok(())
    }

    /// Start a watch: `from = None` sends the current state as ADDED events
    /// first; `Some(rv)` replays history after `rv` (410 when compacted away).
    pub fn watch(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        from: Option<u64>,
    ) -> Result<WatchStart, ApiError> {
        let rx = self.tx.subscribe();
        let initial = match from {
            None => self
                .objects
                .iter()
                .filter(|(k, _)| k.0 == rt.group && k.1 == rt.version && k.2 == rt.plural)
                .filter(|(k, _)| ns.is_none_or(|n| k.3 == n))
                .map(|(k, v)| {
                    Arc::new(Change {
                        rv: self.rv,
                        kind: ChangeKind::Added,
                        group: k.0.clone(),
                        version: k.1.clone(),
                        plural: k.2.clone(),
                        namespace: k.3.clone(),
                        object: v.clone(),
                        old: None,
                    })
                })
                .collect(),
            Some(rv) if rv < self.compacted => {
                return Err(ApiError::expired(rv, self.compacted));
            }
            Some(rv) => self.history.iter().filter(|c| c.rv > rv).cloned().collect(),
        };
        Ok(WatchStart {
            initial,
            rx,
            start_rv: self.rv,
        })
    }
}

/// What a write to `sub` of a `rt` object may own.
fn scope(rt: &ResourceType, sub: Sub) -> Scope {
    match sub {
        Sub::Main => Scope::Main {
            status_subresource: rt.status_subresource,
        },
        Sub::Status => Scope::Status,
    }
}

fn set_crd_status(crd: &mut Value) {
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let now = now_rfc3339();
    let mut accepted = names;
    if accepted.get("singular").is_none()
        && let Some(k) = accepted.get("kind").and_then(Value::as_str)
    {
        let singular = k.to_lowercase();
        object_mut(&mut accepted).insert("singular".into(), Value::String(singular));
    }
    if accepted.get("listKind").is_none()
        && let Some(k) = accepted.get("kind").and_then(Value::as_str)
    {
        let list_kind = format!("{k}List");
        object_mut(&mut accepted).insert("listKind".into(), Value::String(list_kind));
    }
    object_mut(crd).insert(
        "status".into(),
        json!({
            "acceptedNames": accepted,
            "storedVersions": stored,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now}
            ]
        }),
    );
}

/// The pod spec defaults the server fills in (a small subset of upstream's).
fn default_pod_spec(pod: &mut Value) {
    let spec = child_mut(pod, "spec");
    for (k, v) in [
        ("terminationGracePeriodSeconds", json!(30)),
        ("restartPolicy", json!("Always")),
        ("schedulerName", json!("default-scheduler")),
        ("dnsPolicy", json!("ClusterFirst")),
    ] {
        spec.entry(k).or_insert(v);
    }
}

/// The part of a pod spec an update may not change (upstream
/// `ValidatePodUpdate`): everything but container images, the active
/// deadline, tolerations, the grace period and scheduling gates.
fn immutable_pod_spec(pod: &Value) -> Value {
    let mut spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    if let Some(m) = spec.as_object_mut() {
        for f in [
            "activeDeadlineSeconds",
            "tolerations",
            "terminationGracePeriodSeconds",
            "schedulingGates",
        ] {
            m.remove(f);
        }
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = m.get_mut(list) {
                for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                    c.remove("image");
                }
            }
        }
    }
    spec
}

fn pod_qos(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|f| pod.pointer(&format!("/spec/{f}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let has = |c: &Value, kind: &str| {
        c.pointer(&format!("/resources/{kind}"))
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    };
    if containers
        .iter()
        .all(|c| !has(c, "requests") && !has(c, "limits"))
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let lim = c.pointer(&format!("/resources/limits/{r}"));
            let req = c.pointer(&format!("/resources/requests/{r}")).or(lim);
            lim.is_some() && lim == req
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::new(100)
    }

    fn opts() -> WriteOpts {
        WriteOpts::update("test", "v1")
    }

    fn rt(s: &Store, plural: &str) -> ResourceType {
        s.registry.core(plural).cloned().unwrap()
    }

    #[test]
    fn default_namespaces_exist_and_names_are_checked() {
        let mut s = store();
        let ns = rt(&s, "namespaces");
        assert!(s.get(&ns, "", "kube-system").is_ok());
        let cm = rt(&s, "configmaps");
        let e = s
            .create(
                &cm,
                "default",
                json!({"metadata": {"name": "Bad_Name"}}),
                &opts(),
            )
            .unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        let e = s
            .create(&cm, "nope", json!({"metadata": {"name": "x"}}), &opts())
            .unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (404, "namespaces \"nope\" not found")
        );
    }

    #[test]
    fn noop_update_keeps_resource_version() {
        let mut s = store();
        let cm = rt(&s, "configmaps");
        let o = s
            .create(
                &cm,
                "default",
                json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
                &opts(),
            )
            .unwrap();
        let rv = s.current_rv();
        let again = s.update(&cm, "default", "a", o.clone(), &opts()).unwrap();
        assert_eq!(s.current_rv(), rv);
        assert_eq!(again, o);
    }

    #[test]
    fn history_is_bounded_and_old_watches_expire() {
        let mut s = Store::new(3);
        let cm = rt(&s, "configmaps");
        let first = s.current_rv();
        for i in 0..5 {
            s.create(
                &cm,
                "default",
                json!({"metadata": {"name": format!("c{i}")}}),
                &opts(),
            )
            .unwrap();
        }
        assert_eq!(s.watch(&cm, None, Some(first)).unwrap_err().code, 410);
        let w = s.watch(&cm, None, Some(s.current_rv() - 2)).unwrap();
        assert_eq!(w.initial.len(), 2);
    }

    #[test]
    fn debug_output_never_shows_object_content() {
        let mut s = store();
        let secrets = rt(&s, "secrets");
        s.create(
            &secrets,
            "default",
            json!({"metadata": {"name": "k"}, "data": {"key": "c2VjcmV0"}}),
            &opts(),
        )
        .unwrap();
        let w = s.watch(&secrets, None, Some(1)).unwrap();
        let shown = format!("{s:?} {w:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("\"k\""), "{shown}");
    }

    #[test]
    fn pod_spec_is_immutable_but_images() {
        let mut s = store();
        let pods = rt(&s, "pods");
        let p = s
            .create(
                &pods,
                "default",
                json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "a"}]}}),
                &opts(),
            )
            .unwrap();
        let mut image = p.clone();
        image["spec"]["containers"][0]["image"] = json!("b");
        let p = s.update(&pods, "default", "p", image, &opts()).unwrap();
        let mut node = p.clone();
        node["spec"]["nodeName"] = json!("n1");
        let e = s.update(&pods, "default", "p", node, &opts()).unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        // Labels and annotations remain writable.
        let mut labelled = p.clone();
        labelled["metadata"]["labels"] = json!({"a": "b"});
        s.update(&pods, "default", "p", labelled, &opts()).unwrap();
    }

    #[test]
    fn owner_removal_cascades_to_dependents() {
        let mut s = store();
        let cm = rt(&s, "configmaps");
        let owner = s
            .create(
                &cm,
                "default",
                json!({"metadata": {"name": "owner"}}),
                &opts(),
            )
            .unwrap();
        let uid = owner["metadata"]["uid"].clone();
        s.create(
            &cm,
            "default",
            json!({"metadata": {"name": "dep", "ownerReferences": [{"uid": uid, "name": "owner", "kind": "ConfigMap", "apiVersion": "v1"}]}}),
            &opts(),
        )
        .unwrap();
        s.delete(&cm, "default", "owner", &DeleteOpts::default())
            .unwrap();
        assert_eq!(s.get(&cm, "default", "dep").unwrap_err().code, 404);
    }
}
