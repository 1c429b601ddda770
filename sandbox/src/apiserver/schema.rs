//! Structural-schema handling of custom resources, in the order the real
//! server applies it: prune unknown fields (and nulls of non-nullable
//! fields), fill defaults, then validate `type`, `enum` and `required`.
//! Other OpenAPI keywords (formats, patterns, min/max, CEL rules, oneOf...)
//! are not checked.

use serde_json::Value;

/// Is `schema` keeping fields it does not list?
fn preserves_unknown(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable").and_then(Value::as_bool) == Some(true)
}

/// Drop fields the schema does not know and nulls it does not allow.
/// `root` keeps `apiVersion`, `kind` and `metadata` at the top level.
pub(crate) fn prune(v: &mut Value, schema: &Value, root: bool) {
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keep_unknown = preserves_unknown(schema)
                || schema.get("additionalProperties").and_then(Value::as_bool) == Some(true);
            m.retain(|k, child| {
                if root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    return true;
                }
                let child_schema = props.and_then(|p| p.get(k)).or(additional);
                match child_schema {
                    Some(cs) => !child.is_null() || nullable(cs),
                    None => keep_unknown,
                }
            });
            for (k, child) in m.iter_mut() {
                if root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(cs) = props.and_then(|p| p.get(k)).or(additional) {
                    prune(child, cs, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for i in items {
                    prune(i, is, false);
                }
            }
        }
        _ => {}
    }
}

/// Fill `default`s of absent properties whose parent object exists.
pub(crate) fn apply_defaults(v: &mut Value, schema: &Value) {
    if let (Value::Object(m), Some(props)) =
        (&mut *v, schema.get("properties").and_then(Value::as_object))
    {
        for (k, ps) in props {
            match m.get_mut(k) {
                Some(child) => apply_defaults(child, ps),
                None => {
                    if let Some(d) = ps.get("default") {
                        let mut d = d.clone();
                        apply_defaults(&mut d, ps);
                        m.insert(k.clone(), d);
                    }
                }
            }
        }
    }
    if let (Value::Array(items), Some(is)) = (&mut *v, schema.get("items")) {
        for i in items {
            apply_defaults(i, is);
        }
    }
    if let (Value::Object(m), Some(ap)) = (
        &mut *v,
        schema.get("additionalProperties").filter(|a| a.is_object()),
    ) {
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, child) in m.iter_mut() {
            if props.is_none_or(|p| !p.contains_key(k)) {
                apply_defaults(child, ap);
            }
        }
    }
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Check `v` against `schema`; each error is `(field path, message)` in the
/// wording of the real server.
pub(crate) fn validate(
    v: &Value,
    schema: &Value,
    path: &str,
    root: bool,
    errs: &mut Vec<(String, String)>,
) {
    if v.is_null() {
        if !nullable(schema) && !root {
            errs.push((
                path.into(),
                "Invalid value: \"null\": fields must not be null".into(),
            ));
        }
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let got = type_name(v);
        let ok = got == want
            || (want == "number" && got == "integer")
            || (int_or_string && matches!(got, "integer" | "string"));
        if !ok {
            errs.push((
                path.into(),
                format!(
                    "Invalid value: \"{got}\": {path} in body must be of type {want}: \"{got}\""
                ),
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        errs.push((
            path.into(),
            format!(
                "Unsupported value: {v}: supported values: {}",
                list.join(", ")
            ),
        ));
    }
    match v {
        Value::Object(m) => {
            if let Some(req) = schema.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !m.contains_key(r) {
                        errs.push((join(path, r), "Required value".into()));
                    }
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in m {
                if root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(cs) = props.and_then(|p| p.get(k)).or(additional) {
                    validate(child, cs, &join(path, k), false, errs);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(item, is, &format!("{path}[{i}]"), false, errs);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["type"], "properties": {
                "type": {"type": "string", "enum": ["Auto", "Static"]},
                "size": {"type": "integer", "default": 3},
                "note": {"type": "string", "nullable": true},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }},
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
        }})
    }

    #[test]
    fn prunes_unknown_fields_and_non_nullable_nulls() {
        let mut v = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
                           "spec": {"type": "Auto", "bogus": 1, "note": null, "size": null,
                                    "free": {"anything": true}},
                           "extra": true});
        prune(&mut v, &schema(), true);
        assert_eq!(
            v,
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
                   "spec": {"type": "Auto", "note": null, "free": {"anything": true}}})
        );
        apply_defaults(&mut v, &schema());
        assert_eq!(v["spec"]["size"], 3);
    }

    #[test]
    fn validates_types_enums_and_required() {
        let mut errs = Vec::new();
        validate(
            &json!({"spec": {"type": "Nope", "size": "big"}, "status": {"phase": 1}}),
            &schema(),
            "",
            true,
            &mut errs,
        );
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["spec.size", "spec.type", "status.phase"]);
        let mut errs = Vec::new();
        validate(&json!({"spec": {}}), &schema(), "", true, &mut errs);
        assert_eq!(
            errs,
            [("spec.type".to_string(), "Required value".to_string())]
        );
        let mut errs = Vec::new();
        validate(
            &json!({"spec": {"type": "Static", "size": 1}}),
            &schema(),
            "",
            true,
            &mut errs,
        );
        assert!(errs.is_empty());
    }
}
