//! Lenient scalar deserializers for the response models: the service is not always
//! consistent about JSON types across products and versions (`Bandwidth` is a string in
//! VPC and a number in ECS; ids and counts sometimes come quoted; `null` appears for
//! absent values). Each accepts the other spellings and maps `null` to the default, so a
//! quirk in one field does not fail a whole DescribeEipAddresses page.

use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::Value;

/// A string; numbers and booleans are rendered, `null` is empty.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => return Err(D::Error::custom(format!("expected a string, got {other}"))),
    })
}

/// An integer; a numeric string is parsed, `null` and `""` are 0.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| D::Error::custom(format!("expected an integer, got {n}"))),
        Value::String(s) if s.trim().is_empty() => Ok(0),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("expected an integer, got {s:?}"))),
        Value::Null => Ok(0),
        Value::Bool(b) => Ok(i64::from(b)),
        other => Err(D::Error::custom(format!(
            "expected an integer, got {other}"
        ))),
    }
}

/// A float; a numeric string is parsed, `null` and `""` are 0.
pub fn float<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| D::Error::custom(format!("expected a number, got {n}"))),
        Value::String(s) if s.trim().is_empty() => Ok(0.0),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("expected a number, got {s:?}"))),
        Value::Null => Ok(0.0),
        other => Err(D::Error::custom(format!("expected a number, got {other}"))),
    }
}

/// A boolean; `"true"`/`"false"` (any case) and 0/1 are accepted, `null` is false.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Null => Ok(false),
        Value::Number(n) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") || s.trim().is_empty() => {
            Ok(false)
        }
        other => Err(D::Error::custom(format!("expected a boolean, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct T {
        #[serde(deserialize_with = "super::string")]
        s: String,
        #[serde(deserialize_with = "super::int")]
        i: i64,
        #[serde(deserialize_with = "super::float")]
        f: f64,
        #[serde(deserialize_with = "super::boolean")]
        b: bool,
    }

    fn t(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn accepts_the_other_spellings() -> Result<(), serde_json::Error> {
        let canonical = T {
            s: "5".into(),
            i: 7,
            f: 8.0,
            b: true,
        };
        assert_eq!(t(r#"{"s":"5","i":7,"f":8.0,"b":true}"#)?, canonical);
        assert_eq!(t(r#"{"s":5,"i":"7","f":"8","b":"True"}"#)?, canonical);
        assert_eq!(t(r#"{"s":5,"i":7.0,"f":8,"b":1}"#)?, canonical);
        let empty = t(r#"{"s":null,"i":null,"f":null,"b":null}"#)?;
        assert_eq!(
            empty,
            T {
                s: String::new(),
                i: 0,
                f: 0.0,
                b: false
            }
        );
        assert!(t(r#"{"s":"x","i":"seven","f":1,"b":true}"#).is_err());
        assert!(t(r#"{"s":"x","i":1,"f":1,"b":"maybe"}"#).is_err());
        assert!(t(r#"{"s":[],"i":1,"f":1,"b":true}"#).is_err());
        Ok(())
    }
}
