//! The `eni_conf` JSON in ConfigMap `kube-system/eni-config`, shared with Terway.
//!
//! In: the ConfigMap's data. Out: the two switches kube-eip reads ([`EniConf::enable_eip_pool`],
//! [`EniConf::allow_eip_rob`]) and, for `kubectl eip`, a way to flip a switch and write the
//! JSON back with every other key untouched (Terway owns them).
//!
//! Switches may be written as the strings `"true"`/`"false"` (as the Terway guide shows) or
//! as JSON booleans (as operators often write); an absent switch is off; anything else is
//! an error naming the ConfigMap, the key and the switch. Written switches use the string
//! form of the guide. Keys are written back in sorted order (JSON objects are unordered, and
//! Terway reads them with a JSON parser), values exactly as they were.
//!
//! # One policy for a missing or invalid ConfigMap
//! [`EipSwitches::from_config_map`] is the only way the agent and the extender turn the
//! ConfigMap into switches, so they never disagree. The switches are a function of the
//! ConfigMap as it is now, never of what was read before: a missing ConfigMap turns the
//! feature off; an invalid one (no `eni_conf`, not JSON, a switch that is neither true nor
//! false) turns it off too and carries the problem, which the pod's event and the
//! extender's reason quote. Off is the safe side: no new EIP is allocated (nothing billed)
//! and nothing already bound is touched. "Keep the previous value" cannot be applied the
//! same way everywhere: an agent that starts while the ConfigMap is broken has no previous
//! value, and a deleted broken ConfigMap would leave it on for good.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::Error;

/// Namespace of the ConfigMap.
pub const ENI_CONFIG_NAMESPACE: &str = "kube-system";
/// Name of the ConfigMap.
pub const ENI_CONFIG_NAME: &str = "eni-config";
/// Data key holding the JSON.
pub const ENI_CONF_KEY: &str = "eni_conf";
/// Switch: the EIP feature is on.
pub const ENABLE_EIP_POOL: &str = "enable_eip_pool";
/// Switch: a named EIP bound elsewhere may be unbound and taken.
pub const ALLOW_EIP_ROB: &str = "allow_eip_rob";
/// Terway's key listing the vSwitches per zone (`{"zone": ["vsw-..."]}`).
pub const VSWITCHES: &str = "vswitches";

/// The EIP switches as every component applies them (see the module docs for the policy).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EipSwitches {
    /// `enable_eip_pool` is on (and the ConfigMap is valid).
    pub eip_enabled: bool,
    /// `allow_eip_rob` is on (and the ConfigMap is valid).
    pub allow_rob: bool,
    /// What is wrong with the ConfigMap, when it is invalid (the feature is then off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
}

impl EipSwitches {
    /// Both switches as given, from a valid ConfigMap.
    pub fn new(eip_enabled: bool, allow_rob: bool) -> Self {
        Self {
            eip_enabled,
            allow_rob,
            invalid: None,
        }
    }

    /// The policy: the switches of ConfigMap `kube-system/eni-config` whose `data` is given
    /// (`None`: the ConfigMap does not exist; a ConfigMap without data is `Some` of an empty
    /// map). Never fails: an invalid ConfigMap turns the feature off and says why.
    pub fn from_config_map(data: Option<&BTreeMap<String, String>>) -> Self {
        match data.map(EniConf::from_config_map_data) {
            None => Self::default(),
            Some(Ok(conf)) => conf.switches(),
            Some(Err(e)) => Self {
                eip_enabled: false,
                allow_rob: false,
                invalid: Some(e.to_string()),
            },
        }
    }

    /// Why a pod that asks for an EIP gets none from the switches (`None`: the feature is
    /// on). The sentence of the agent's event and of the extender's reason.
    pub fn feature_off(&self) -> Option<FeatureOff<'_>> {
        (!self.eip_enabled).then_some(FeatureOff {
            invalid: self.invalid.as_deref(),
        })
    }
}

/// The feature is off: the sentence users read, with the fix (see [`EipSwitches::feature_off`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeatureOff<'a> {
    /// The ConfigMap's problem, when it is invalid.
    pub invalid: Option<&'a str>,
}

impl fmt::Display for FeatureOff<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.invalid {
            Some(problem) => write!(
                f,
                "the EIP feature is off because ConfigMap {ENI_CONFIG_NAMESPACE}/{ENI_CONFIG_NAME} is invalid: {problem}; fix it (no restart needed)"
            ),
            None => write!(
                f,
                "the EIP feature is off; set \"{ENABLE_EIP_POOL}\": \"true\" in key {ENI_CONF_KEY} of ConfigMap {ENI_CONFIG_NAMESPACE}/{ENI_CONFIG_NAME}"
            ),
        }
    }
}

/// The parsed `eni_conf` object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EniConf {
    enable_eip_pool: bool,
    allow_eip_rob: bool,
    raw: Map<String, Value>,
}

impl EniConf {
    /// Parses the `eni_conf` JSON text.
    pub fn parse(json: &str) -> Result<Self, Error> {
        let value: Value = serde_json::from_str(json).map_err(|source| Error::EniConfJson {
            namespace: ENI_CONFIG_NAMESPACE,
            name: ENI_CONFIG_NAME,
            key: ENI_CONF_KEY,
            source,
        })?;
        let Value::Object(raw) = value else {
            // Reuse serde_json's own wording for "expected an object".
            let source = match serde_json::from_value::<Map<String, Value>>(value) {
                Err(e) => e,
                Ok(_) => return Ok(Self::default()),
            };
            return Err(Error::EniConfJson {
                namespace: ENI_CONFIG_NAMESPACE,
                name: ENI_CONFIG_NAME,
                key: ENI_CONF_KEY,
                source,
            });
        };
        Ok(Self {
            enable_eip_pool: switch(&raw, ENABLE_EIP_POOL)?,
            allow_eip_rob: switch(&raw, ALLOW_EIP_ROB)?,
            raw,
        })
    }

    /// Parses the ConfigMap's `data`; a missing `eni_conf` key is an error.
    pub fn from_config_map_data(data: &BTreeMap<String, String>) -> Result<Self, Error> {
        let json = data.get(ENI_CONF_KEY).ok_or(Error::EniConfMissing {
            namespace: ENI_CONFIG_NAMESPACE,
            name: ENI_CONFIG_NAME,
            key: ENI_CONF_KEY,
        })?;
        Self::parse(json)
    }

    /// `enable_eip_pool`: the EIP feature is on.
    pub fn enable_eip_pool(&self) -> bool {
        self.enable_eip_pool
    }

    /// `allow_eip_rob`: a named EIP bound elsewhere may be taken.
    pub fn allow_eip_rob(&self) -> bool {
        self.allow_eip_rob
    }

    /// Both switches.
    pub fn switches(&self) -> EipSwitches {
        EipSwitches::new(self.enable_eip_pool, self.allow_eip_rob)
    }

    /// Terway's vSwitch ids, every zone's in turn (empty when the key is absent or not a
    /// `{"zone": ["vsw-..."]}` object).
    pub fn vswitches(&self) -> Vec<String> {
        self.raw
            .get(VSWITCHES)
            .and_then(Value::as_object)
            .map(|zones| {
                zones
                    .values()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets `enable_eip_pool` (written as the string `"true"`/`"false"`).
    pub fn set_enable_eip_pool(&mut self, on: bool) {
        self.enable_eip_pool = on;
        self.raw.insert(ENABLE_EIP_POOL.to_owned(), bool_string(on));
    }

    /// Sets `allow_eip_rob` (written as the string `"true"`/`"false"`).
    pub fn set_allow_eip_rob(&mut self, on: bool) {
        self.allow_eip_rob = on;
        self.raw.insert(ALLOW_EIP_ROB.to_owned(), bool_string(on));
    }

    /// Every key, including Terway's, as parsed (and as changed by the setters).
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// The JSON text to store back under `eni_conf` (pretty-printed, as operators edit it).
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string_pretty(&self.raw).map_err(|source| Error::Json {
            what: "eni_conf",
            source,
        })
    }
}

fn bool_string(on: bool) -> Value {
    Value::String(if on { "true" } else { "false" }.to_owned())
}

fn switch(raw: &Map<String, Value>, name: &'static str) -> Result<bool, Error> {
    match raw.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.trim() == "true" => Ok(true),
        Some(Value::String(s)) if s.trim() == "false" || s.trim().is_empty() => Ok(false),
        Some(other) => Err(Error::EniConfSwitch {
            namespace: ENI_CONFIG_NAMESPACE,
            name: ENI_CONFIG_NAME,
            key: ENI_CONF_KEY,
            switch: name,
            value: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERWAY: &str = r#"{
  "version": "1",
  "max_pool_size": 5,
  "min_pool_size": 0,
  "vswitches": {"cn-hangzhou-h": ["vsw-1", "vsw-2"]},
  "security_group": "sg-1",
  "service_cidr": "172.21.0.0/20",
  "vswitch_selection_policy": "ordered",
  "enable_eip_pool": "true"
}"#;

    #[test]
    fn switches_as_strings_and_booleans() {
        let cases: &[(&str, bool, bool)] = &[
            (r#"{}"#, false, false),
            (r#"{"enable_eip_pool":"true"}"#, true, false),
            (
                r#"{"enable_eip_pool":"false","allow_eip_rob":"true"}"#,
                false,
                true,
            ),
            (
                r#"{"enable_eip_pool":true,"allow_eip_rob":false}"#,
                true,
                false,
            ),
            (
                r#"{"enable_eip_pool":false,"allow_eip_rob":true}"#,
                false,
                true,
            ),
            (
                r#"{"enable_eip_pool":" true ","allow_eip_rob":""}"#,
                true,
                false,
            ),
            (r#"{"enable_eip_pool":null}"#, false, false),
            (TERWAY, true, false),
        ];
        for (json, pool, rob) in cases {
            let c = EniConf::parse(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(
                (c.enable_eip_pool(), c.allow_eip_rob()),
                (*pool, *rob),
                "{json}"
            );
        }
    }

    #[test]
    fn bad_switch_values_name_the_configmap_and_switch() {
        for (json, switch) in [
            (r#"{"enable_eip_pool":"yes"}"#, ENABLE_EIP_POOL),
            (r#"{"allow_eip_rob":1}"#, ALLOW_EIP_ROB),
            (r#"{"enable_eip_pool":"True"}"#, ENABLE_EIP_POOL),
        ] {
            let err = EniConf::parse(json)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("kube-system/eni-config"), "{err}");
            assert!(err.starts_with(&format!("{switch} is ")), "{err}");
            assert!(err.ends_with("; use \"true\" or \"false\""), "{err}");
        }
    }

    #[test]
    fn malformed_json_names_the_configmap_and_key() {
        for json in ["{", "not json", "[1,2]", "\"true\"", ""] {
            let err = EniConf::parse(json)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.starts_with("eni_conf of ConfigMap kube-system/eni-config is not valid JSON: "),
                "{json:?}: {err}"
            );
        }
    }

    #[test]
    fn config_map_data() {
        let data = BTreeMap::from([(ENI_CONF_KEY.to_owned(), TERWAY.to_owned())]);
        assert!(EniConf::from_config_map_data(&data).is_ok_and(|c| c.enable_eip_pool()));
        let err = EniConf::from_config_map_data(&BTreeMap::new())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("ConfigMap kube-system/eni-config has no key eni_conf")
        );
    }

    #[test]
    fn one_policy_for_missing_and_invalid_config_maps() {
        let data = |json: &str| BTreeMap::from([(ENI_CONF_KEY.to_owned(), json.to_owned())]);
        let off = EipSwitches::from_config_map(None);
        assert_eq!(off, EipSwitches::new(false, false));
        assert_eq!(
            off.feature_off().map(|f| f.to_string()).as_deref(),
            Some(
                "the EIP feature is off; set \"enable_eip_pool\": \"true\" in key eni_conf of ConfigMap kube-system/eni-config"
            )
        );
        let on = EipSwitches::from_config_map(Some(&data(TERWAY)));
        assert_eq!(on, EipSwitches::new(true, false));
        assert_eq!(on.feature_off(), None);
        let cases = [
            (
                data(r#"{"enable_eip_pool":"yes","allow_eip_rob":"true"}"#),
                "enable_eip_pool is \"yes\" in eni_conf of ConfigMap kube-system/eni-config; use \"true\" or \"false\"",
            ),
            (
                data("{not json"),
                "eni_conf of ConfigMap kube-system/eni-config is not valid JSON: key must be a string at line 1 column 2",
            ),
            (
                BTreeMap::new(),
                "ConfigMap kube-system/eni-config has no key eni_conf",
            ),
        ];
        for (data, problem) in cases {
            let s = EipSwitches::from_config_map(Some(&data));
            assert!(!s.eip_enabled && !s.allow_rob, "{problem}");
            assert_eq!(s.invalid.as_deref(), Some(problem));
            assert_eq!(
                s.feature_off().map(|f| f.to_string()),
                Some(format!(
                    "the EIP feature is off because ConfigMap kube-system/eni-config is invalid: {problem}; fix it (no restart needed)"
                ))
            );
        }
    }

    #[test]
    fn vswitches_of_every_zone() {
        let c = EniConf::parse(TERWAY).expect("parses");
        assert_eq!(c.vswitches(), vec!["vsw-1".to_owned(), "vsw-2".to_owned()]);
        let none = EniConf::parse(r#"{"vswitches":"vsw-1"}"#).expect("parses");
        assert!(none.vswitches().is_empty());
    }

    #[test]
    fn setting_a_switch_keeps_every_other_key() {
        let mut c = EniConf::parse(TERWAY).expect("parses");
        c.set_enable_eip_pool(false);
        c.set_allow_eip_rob(true);
        let written = c.to_json().expect("writes");
        let before: Value = serde_json::from_str(TERWAY).expect("json");
        let after: Value = serde_json::from_str(&written).expect("json");
        let (Value::Object(mut before), Value::Object(after)) = (before, after) else {
            panic!("objects");
        };
        assert_eq!(
            after.get(ENABLE_EIP_POOL),
            Some(&Value::String("false".into()))
        );
        assert_eq!(
            after.get(ALLOW_EIP_ROB),
            Some(&Value::String("true".into()))
        );
        before.remove(ENABLE_EIP_POOL);
        let mut rest = after.clone();
        rest.remove(ENABLE_EIP_POOL);
        rest.remove(ALLOW_EIP_ROB);
        assert_eq!(rest, before, "Terway's keys changed");
        let again = EniConf::parse(&written).expect("re-parses");
        assert!(!again.enable_eip_pool() && again.allow_eip_rob());
        assert_eq!(again, c);
    }
}
