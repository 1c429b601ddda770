//! Request parameters of one API call (query string plus form body, `+` decoded as space)
//! and typed accessors that fail with the real error codes.

use std::collections::BTreeMap;

use crate::apierror::ApiError;

/// The operation parameters of one call, by name. Later duplicates win.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

/// Parameters every call may carry that are not operation parameters (signature and
/// gateway fields). They are left out of ClientToken fingerprints.
pub const COMMON_PARAMS: &[&str] = &[
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
    "Signature",
    "OwnerId",
    "OwnerAccount",
    "ResourceOwnerId",
    "ResourceOwnerAccount",
];

impl Params {
    /// Builds the parameters from decoded name/value pairs.
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Self {
            map: pairs.into_iter().collect(),
        }
    }

    /// The raw value, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The raw value, `Missing{name}` when absent or empty.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::missing(name))
    }

    /// An unsigned integer, `InvalidParameter` when malformed or beyond `u32` (the real
    /// service has one message for both: the value is not valid).
    pub fn u32(&self, name: &str) -> Result<Option<u32>, ApiError> {
        self.get(name)
            .map(|v| {
                let v = v.trim();
                v.parse::<u32>().map_err(|_| {
                    let digits = v.strip_prefix('+').unwrap_or(v);
                    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                        ApiError::invalid(name, format!("{v} is out of range."))
                    } else {
                        ApiError::invalid(name, format!("{v:?} is not a non-negative integer."))
                    }
                })
            })
            .transpose()
    }

    /// An integer in `lo..=hi`, or `default` when absent.
    pub fn u32_in(&self, name: &str, default: u32, lo: u32, hi: u32) -> Result<u32, ApiError> {
        let v = self.u32(name)?.unwrap_or(default);
        if v < lo || v > hi {
            return Err(ApiError::invalid(
                name,
                format!("{v} is not between {lo} and {hi}."),
            ));
        }
        Ok(v)
    }

    /// A boolean (`true`/`false`, any case), `InvalidParameter` when malformed.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid(name, "It must be true or false.")),
            })
            .transpose()
    }

    /// `Name.1`, `Name.2`, ... in index order (empty values skipped); an index that is not
    /// a number in `1..=max` is `InvalidParameter`.
    pub fn indexed(&self, name: &str, max: usize) -> Result<Vec<String>, ApiError> {
        let prefix = format!("{name}.");
        let mut found: Vec<(usize, String)> = Vec::new();
        for (k, v) in &self.map {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let idx: usize = rest
                .parse()
                .map_err(|_| ApiError::invalid(k, "The index must be a number."))?;
            if idx == 0 || idx > max {
                return Err(ApiError::invalid(
                    k,
                    format!("At most {max} values are allowed, indexed from 1."),
                ));
            }
            if !v.is_empty() {
                found.push((idx, v.clone()));
            }
        }
        found.sort_by_key(|(i, _)| *i);
        Ok(found.into_iter().map(|(_, v)| v).collect())
    }

    /// `Tag.N.Key` / `Tag.N.Value` pairs (N in `1..=max`), in index order. A value without a
    /// key is `InvalidParameter`.
    pub fn tags(&self, name: &str, max: usize) -> Result<Vec<(String, Option<String>)>, ApiError> {
        let prefix = format!("{name}.");
        let mut keys: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
        for (k, v) in &self.map {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let Some((idx, field)) = rest.split_once('.') else {
                return Err(ApiError::invalid(
                    k,
                    format!("Expected {name}.N.Key or {name}.N.Value."),
                ));
            };
            let idx: usize = idx
                .parse()
                .map_err(|_| ApiError::invalid(k, "The index must be a number."))?;
            if idx == 0 || idx > max {
                return Err(ApiError::invalid(
                    k,
                    format!("At most {max} tags are allowed, indexed from 1."),
                ));
            }
            let slot = keys.entry(idx).or_default();
            match field {
                "Key" => slot.0 = Some(v.clone()),
                "Value" => slot.1 = Some(v.clone()),
                _ => {
                    return Err(ApiError::invalid(
                        k,
                        format!("Expected {name}.N.Key or {name}.N.Value."),
                    ));
                }
            }
        }
        let mut out = Vec::new();
        for (idx, (key, value)) in keys {
            match key.filter(|k| !k.is_empty()) {
                Some(key) => out.push((key, value)),
                None => {
                    return Err(ApiError::invalid(
                        &format!("{name}.{idx}.Key"),
                        "The key must not be empty.",
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The operation parameters without the common ones, for ClientToken fingerprints.
    pub fn fingerprint(&self) -> String {
        self.map
            .iter()
            .filter(|(k, _)| !COMMON_PARAMS.contains(&k.as_str()) && k.as_str() != "ClientToken")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Iterates over all name/value pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn indexed_values_come_in_index_order() {
        let params = p(&[
            ("ResourceId.2", "b"),
            ("ResourceId.10", "c"),
            ("ResourceId.1", "a"),
        ]);
        assert_eq!(
            params.indexed("ResourceId", 50).unwrap(),
            vec!["a", "b", "c"]
        );
        assert_eq!(
            params.indexed("ResourceId", 5).unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(
            p(&[("ResourceId.x", "a")])
                .indexed("ResourceId", 5)
                .unwrap_err()
                .code,
            "InvalidParameter"
        );
    }

    #[test]
    fn tags_pair_keys_and_values() {
        let params = p(&[
            ("Tag.1.Key", "k"),
            ("Tag.1.Value", "v"),
            ("Tag.2.Key", "only"),
        ]);
        assert_eq!(
            params.tags("Tag", 20).unwrap(),
            vec![("k".into(), Some("v".into())), ("only".into(), None)]
        );
        let bad = p(&[("Tag.1.Value", "v")]);
        assert_eq!(bad.tags("Tag", 20).unwrap_err().code, "InvalidParameter");
    }

    #[test]
    fn typed_accessors_refuse_malformed_values() {
        let params = p(&[("PageSize", "ten"), ("Force", "TRUE"), ("Empty", "")]);
        assert_eq!(params.u32("PageSize").unwrap_err().code, "InvalidParameter");
        let huge = p(&[("Bandwidth", "99999999999")])
            .u32("Bandwidth")
            .unwrap_err();
        assert_eq!(
            huge.message, "Specified value of \"Bandwidth\" is not valid.",
            "too large is not valid, in the real words"
        );
        assert_eq!(huge.detail.as_deref(), Some("99999999999 is out of range."));
        assert_eq!(params.bool("Force").unwrap(), Some(true));
        assert_eq!(params.required("Empty").unwrap_err().code, "MissingEmpty");
        assert_eq!(
            p(&[("PageSize", "101")])
                .u32_in("PageSize", 10, 1, 100)
                .unwrap_err()
                .code,
            "InvalidParameter"
        );
    }

    #[test]
    fn fingerprint_ignores_signature_fields_and_token() {
        let a = p(&[("Bandwidth", "5"), ("Signature", "x"), ("ClientToken", "t")]);
        let b = p(&[("Bandwidth", "5"), ("SignatureNonce", "y")]);
        assert_eq!(a.fingerprint(), b.fingerprint());
    }
}
