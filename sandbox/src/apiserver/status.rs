//! Errors as the Kubernetes API server reports them: `meta/v1 Status` objects
//! with the real reason strings and HTTP codes.

use serde_json::{Value, json};

use super::registry::ResourceType;

/// A failed API request, rendered as a `meta/v1 Status` (upstream
/// `k8s.io/apimachinery/pkg/apis/meta/v1.Status`) with `status: Failure`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String, details: Option<Value>) -> Self {
        Self {
            code,
            reason,
            message,
            details,
        }
    }

    /// `pods "x" not found` (404 NotFound).
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", rt.qualified_plural()),
            Some(details(rt, name)),
        )
    }

    /// A path that names no resource the server knows (404 NotFound).
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
            None,
        )
    }

    /// `pods "x" already exists` (409 AlreadyExists).
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", rt.qualified_plural()),
            Some(details(rt, name)),
        )
    }

    /// The optimistic-concurrency failure (409 Conflict).
    pub fn stale(rt: &ResourceType, name: &str) -> Self {
        Self::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `Operation cannot be fulfilled on pods "x": <why>` (409 Conflict).
    pub fn conflict(rt: &ResourceType, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                rt.qualified_plural()
            ),
            Some(details(rt, name)),
        )
    }

    /// `Pod "x" is invalid: <field>: <what>` (422 Invalid) with one cause.
    pub fn invalid(rt: &ResourceType, name: &str, field: &str, what: &str) -> Self {
        Self::invalid_many(rt, name, &[(field.to_string(), what.to_string())])
    }

    /// 422 Invalid with one cause per `(field, what)`; kinds outside the core
    /// group are named `Kind.group`, as upstream does.
    pub fn invalid_many(rt: &ResourceType, name: &str, errs: &[(String, String)]) -> Self {
        let mut d = details(rt, name);
        d["kind"] = Value::String(rt.kind.clone());
        d["causes"] = Value::Array(
            errs.iter()
                .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
                .collect(),
        );
        let kind = if rt.group.is_empty() {
            rt.kind.clone()
        } else {
            format!("{}.{}", rt.kind, rt.group)
        };
        let list: Vec<String> = errs.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let what = match list.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        Self::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {what}"),
            Some(d),
        )
    }

    /// Server-side apply conflicts (409 Conflict, upstream `NewApplyConflict`):
    /// one `FieldManagerConflict` cause per field another manager owns.
    pub fn apply_conflict(message: String, causes: &[(String, String)]) -> Self {
        let causes: Vec<Value> = causes
            .iter()
            .map(|(manager, field)| {
                json!({"reason": "FieldManagerConflict", "message": format!("conflict with {manager}"), "field": field})
            })
            .collect();
        Self::new(409, "Conflict", message, Some(json!({ "causes": causes })))
    }

    /// Invalid request options, e.g. `PatchOptions` without a field manager
    /// for apply (422 Invalid, kind `<kind>.meta.k8s.io`).
    pub fn invalid_options(kind: &str, field: &str, reason: &str, what: &str) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("{kind}.meta.k8s.io \"\" is invalid: {field}: {what}"),
            Some(json!({"group": "meta.k8s.io", "kind": kind,
                        "causes": [{"reason": reason, "message": what, "field": field}]})),
        )
    }

    /// A request the server cannot understand (400 BadRequest).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), None)
    }

    /// A watch from a resourceVersion older than the retained history (410 Expired).
    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
            None,
        )
    }

    /// The verb is not served on this path (405 MethodNotAllowed).
    pub fn method_not_allowed(what: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({what})"),
            None,
        )
    }

    /// The request is refused by policy (403 Forbidden), e.g. creating in a
    /// terminating namespace.
    pub fn forbidden(rt: &ResourceType, name: &str, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("{} \"{name}\" is forbidden: {why}", rt.qualified_plural()),
            Some(details(rt, name)),
        )
    }

    /// A PATCH body of an unknown patch type (415 UnsupportedMediaType).
    pub fn unsupported_patch_type(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct})"
            ),
            None,
        )
    }

    /// A create/update body in a format the server does not decode, e.g.
    /// protobuf (415 UnsupportedMediaType).
    pub fn unsupported_body_type(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct})"
            ),
            None,
        )
    }

    /// The `Status` object sent as the response body or in a watch ERROR event.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

fn details(rt: &ResourceType, name: &str) -> Value {
    let mut d = json!({ "name": name, "kind": rt.plural });
    if !rt.group.is_empty() {
        d["group"] = Value::String(rt.group.clone());
    }
    d
}

/// A `Status` with `status: Success` (used by `pods/binding` and delete-collection).
pub(crate) fn success(code: u16) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": code,
    })
}
