//! Decoding of the Kubernetes protobuf envelope for the few simple kinds that
//! kubectl's imperative generators send as protobuf (`kubectl create
//! namespace|configmap|secret|serviceaccount`). Anything else is refused with
//! 415 by the caller. The field numbers are those of
//! `k8s.io/api/core/v1/generated.proto` and
//! `k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto`.

use base64::Engine;
use serde_json::{Map, Value, json};

/// `k8s\0`: the prefix of every protobuf-encoded Kubernetes object.
const MAGIC: &[u8] = b"k8s\x00";

#[derive(Clone, Copy)]
enum F {
    Str,
    Bytes,
    Int,
    Bool,
    Time,
    Msg(&'static [Field]),
    RepStr,
    RepMsg(&'static [Field]),
    MapStr,
    MapBytes,
}

type Field = (u64, &'static str, F);

const OWNER_REF: &[Field] = &[
    (1, "kind", F::Str),
    (3, "name", F::Str),
    (4, "uid", F::Str),
    (5, "apiVersion", F::Str),
    (6, "controller", F::Bool),
    (7, "blockOwnerDeletion", F::Bool),
];

const OBJECT_META: &[Field] = &[
    (1, "name", F::Str),
    (2, "generateName", F::Str),
    (3, "namespace", F::Str),
    (5, "uid", F::Str),
    (6, "resourceVersion", F::Str),
    (7, "generation", F::Int),
    (8, "creationTimestamp", F::Time),
    (11, "labels", F::MapStr),
    (12, "annotations", F::MapStr),
    (13, "ownerReferences", F::RepMsg(OWNER_REF)),
    (14, "finalizers", F::RepStr),
];

const CONFIG_MAP: &[Field] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapStr),
    (3, "binaryData", F::MapBytes),
    (4, "immutable", F::Bool),
];

const SECRET: &[Field] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapBytes),
    (3, "type", F::Str),
    (4, "stringData", F::MapStr),
    (5, "immutable", F::Bool),
];

const NAMESPACE_SPEC: &[Field] = &[(1, "finalizers", F::RepStr)];

const NAMESPACE: &[Field] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "spec", F::Msg(NAMESPACE_SPEC)),
];

const SERVICE_ACCOUNT: &[Field] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (4, "automountServiceAccountToken", F::Bool),
];

const TYPE_META: &[Field] = &[(1, "apiVersion", F::Str), (2, "kind", F::Str)];

const UNKNOWN: &[Field] = &[
    (1, "typeMeta", F::Msg(TYPE_META)),
    (2, "raw", F::Bytes),
    (3, "contentEncoding", F::Str),
    (4, "contentType", F::Str),
];

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or("truncated varint in protobuf body")?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err("varint too long in protobuf body".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated field in protobuf body")?;
        let s = self.buf.get(self.pos..end).ok_or("truncated field")?;
        self.pos = end;
        Ok(s)
    }
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 in protobuf string".to_string())
}

fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), String> {
    let mut r = Reader { buf: b, pos: 0 };
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while r.pos < b.len() {
        let tag = r.varint()?;
        if tag & 7 != 2 {
            return Err("unexpected wire type in a map entry".into());
        }
        let len = usize::try_from(r.varint()?).map_err(|_| "length overflow")?;
        let data = r.take(len)?;
        match tag >> 3 {
            1 => k = utf8(data)?,
            2 if bytes_value => {
                v = Value::String(base64::engine::general_purpose::STANDARD.encode(data))
            }
            2 => v = Value::String(utf8(data)?),
            _ => {}
        }
    }
    Ok((k, v))
}

fn time(b: &[u8]) -> Result<Value, String> {
    let mut r = Reader { buf: b, pos: 0 };
    let mut secs = 0i64;
    while r.pos < b.len() {
        let tag = r.varint()?;
        let v = r.varint()?;
        if tag >> 3 == 1 {
            secs = i64::try_from(v).map_err(|_| "timestamp overflow")?;
        }
    }
    jiff::Timestamp::from_second(secs)
        .map(|t| Value::String(t.to_string()))
        .map_err(|e| format!("invalid timestamp: {e}"))
}

fn message(b: &[u8], schema: &[Field]) -> Result<Map<String, Value>, String> {
    let mut r = Reader { buf: b, pos: 0 };
    let mut out = Map::new();
    while r.pos < b.len() {
        let tag = r.varint()?;
        let (num, wire) = (tag >> 3, tag & 7);
        let field = schema.iter().find(|(n, _, _)| *n == num);
        let raw: Option<&[u8]> = match wire {
            0 => {
                let v = r.varint()?;
                if let Some((_, name, f)) = field {
                    let val = match f {
                        F::Bool => Value::Bool(v != 0),
                        F::Int => json!(v),
                        _ => return Err(format!("unexpected varint for field {name}")),
                    };
                    out.insert((*name).to_string(), val);
                }
                None
            }
            1 => {
                r.take(8)?;
                None
            }
            5 => {
                r.take(4)?;
                None
            }
            2 => {
                let len = usize::try_from(r.varint()?).map_err(|_| "length overflow")?;
                Some(r.take(len)?)
            }
            _ => return Err(format!("unsupported protobuf wire type {wire}")),
        };
        let (Some(data), Some((_, name, f))) = (raw, field) else {
            continue;
        };
        let name = (*name).to_string();
        match f {
            // Go encodes unset optional strings as ""; its JSON omits them.
            F::Str if data.is_empty() => {}
            F::Str => {
                out.insert(name, Value::String(utf8(data)?));
            }
            F::Bytes => {
                out.insert(
                    name,
                    Value::String(base64::engine::general_purpose::STANDARD.encode(data)),
                );
            }
            F::Time => {
                out.insert(name, time(data)?);
            }
            F::Msg(s) => {
                out.insert(name, Value::Object(message(data, s)?));
            }
            F::RepStr => {
                if let Value::Array(a) = out.entry(name).or_insert_with(|| json!([])) {
                    a.push(Value::String(utf8(data)?));
                }
            }
            F::RepMsg(s) => {
                let m = Value::Object(message(data, s)?);
                if let Value::Array(a) = out.entry(name).or_insert_with(|| json!([])) {
                    a.push(m);
                }
            }
            F::MapStr | F::MapBytes => {
                let (k, v) = map_entry(data, matches!(f, F::MapBytes))?;
                if let Value::Object(m) = out.entry(name).or_insert_with(|| json!({})) {
                    m.insert(k, v);
                }
            }
            F::Int | F::Bool => return Err(format!("unexpected length-delimited field {name}")),
        }
    }
    Ok(out)
}

/// Decode a protobuf request body into the JSON object it stands for, for
/// the kinds listed in the module docs.
pub(crate) fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("protobuf body lacks the k8s envelope prefix")?;
    let unknown = message(rest, UNKNOWN)?;
    let api_version = unknown
        .get("typeMeta")
        .and_then(|t| t.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kind = unknown
        .get("typeMeta")
        .and_then(|t| t.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let raw = unknown
        .get("raw")
        .and_then(Value::as_str)
        .and_then(|r| base64::engine::general_purpose::STANDARD.decode(r).ok())
        .unwrap_or_default();
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        _ => {
            return Err(format!(
                "protobuf is decoded only for v1 ConfigMap, Secret, Namespace and ServiceAccount, not {api_version} {kind}; send JSON"
            ));
        }
    };
    let mut obj = message(&raw, schema)?;
    obj.insert("apiVersion".into(), Value::String(api_version));
    obj.insert("kind".into(), Value::String(kind));
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u64, data: &[u8]) -> Vec<u8> {
        let mut v = vec![
            u8::try_from(num << 3 | 2).unwrap(),
            u8::try_from(data.len()).unwrap(),
        ];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn decodes_a_configmap_envelope() {
        let meta = [field(1, b"demo"), field(3, b"default")].concat();
        let entry = [field(1, b"k"), field(2, b"v")].concat();
        let cm = [field(1, &meta), field(2, &entry)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let unknown = [field(1, &type_meta), field(2, &cm)].concat();
        let body = [MAGIC, &unknown].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "demo", "namespace": "default"}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn refuses_other_kinds_and_garbage() {
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = [MAGIC, &field(1, &type_meta)].concat();
        assert!(decode(&body).unwrap_err().contains("Deployment"));
        assert!(decode(b"nope").is_err());
        assert!(decode(&[MAGIC, &[0x0a, 0xff]].concat()).is_err());
    }
}
