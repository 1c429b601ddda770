//! Pod annotations that ask for an EIP (input), and their validation.
//!
//! In: a pod's `metadata.annotations`. Out: [`EipRequest`] (what to allocate or bind), or
//! every problem at once as [`AnnotationError`]s that the agent turns into one Warning event
//! and a Failed PodEIP status — no cloud call is made on invalid annotations; and, from
//! [`ignored_annotations`], the values that were ignored ([`IgnoredAnnotation`]), which the
//! agent reports in one Warning event per pod and value while the pod runs as usual.
//!
//! Every key exists under `k8s.aliyun.com/` and, as an alias, under
//! `network.alibabacloud.com/`; ECI spellings (`eci-with-eip`, `eci-eip-instanceid`) and
//! `eip-charge-type` are aliases too. Decisions, beyond the Terway guide:
//!
//! * When the same setting is given under two accepted keys with **different** values, that
//!   is an error naming both keys (we do not guess which one the user meant); equal values are
//!   fine.
//! * `pod-with-eip: "true"` enables; `"false"` means "no new EIP" without complaint; any other
//!   value (`yes`, `True`, `1`, empty) also means "no new EIP" (as DESIGN.md and the Terway
//!   guide say: exactly `"true"` enables) but is never silent: [`ignored_annotations`] names
//!   it, so the agent warns the user to write `"true"`. It is not an error: the extender
//!   schedules the pod as one without an EIP, the agent makes no cloud call and marks nothing
//!   Failed. A named EIP (`pod-eip-instanceid`) still applies.
//! * `pod-eip-instanceid` turns the feature on by itself. A named EIP is never released by
//!   kube-eip, so `pod-eip-release-strategy` may only be `Follow` (unbind when the pod goes) or
//!   `Never` with it; a duration is an error.
//! * Other `eip-*` annotations on a pod that does not ask for an EIP are not an error (they are
//!   common in shared templates), and the pod asks for nothing ([`EipRequest::from_annotations`]
//!   returns `Ok(None)`) — unless one of them is invalid, since a bad value is reported always.
//! * Values are trimmed of surrounding white space before they are parsed.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::names;

/// Prefix of every annotation key in the Terway guide.
pub const PREFIX: &str = "k8s.aliyun.com/";
/// Prefix under which every key is also accepted (an alias).
pub const ALIAS_PREFIX: &str = "network.alibabacloud.com/";

macro_rules! annotation_keys {
    ($( $k8s:ident, $net:ident = $suffix:literal, $what:literal; )*) => {
        $(
            #[doc = concat!("`k8s.aliyun.com/", $suffix, "`: ", $what)]
            pub const $k8s: &str = concat!("k8s.aliyun.com/", $suffix);
            #[doc = concat!("`network.alibabacloud.com/", $suffix, "`: alias of [`", stringify!($k8s), "`].")]
            pub const $net: &str = concat!("network.alibabacloud.com/", $suffix);
        )*
    };
}

annotation_keys! {
    POD_WITH_EIP, NET_POD_WITH_EIP = "pod-with-eip", "allocate a new EIP for this pod (exactly `\"true\"`).";
    ECI_WITH_EIP, NET_ECI_WITH_EIP = "eci-with-eip", "ECI alias of `pod-with-eip`.";
    EIP_BANDWIDTH, NET_EIP_BANDWIDTH = "eip-bandwidth", "peak bandwidth in Mbit/s (`5`, `5M`, `5Mbps`, `5Mbit/s`).";
    EIP_INTERNET_CHARGE_TYPE, NET_EIP_INTERNET_CHARGE_TYPE = "eip-internet-charge-type", "`PayByTraffic` (default) or `PayByBandwidth`.";
    EIP_CHARGE_TYPE, NET_EIP_CHARGE_TYPE = "eip-charge-type", "alias of `eip-internet-charge-type`.";
    EIP_INSTANCE_CHARGE_TYPE, NET_EIP_INSTANCE_CHARGE_TYPE = "eip-instance-charge-type", "`PostPaid` only.";
    EIP_ISP, NET_EIP_ISP = "eip-isp", "line type: `BGP` (default), `BGP_PRO`, ...";
    EIP_COMMON_BANDWIDTH_PACKAGE_ID, NET_EIP_COMMON_BANDWIDTH_PACKAGE_ID = "eip-common-bandwidth-package-id", "add the EIP to this shared bandwidth package.";
    EIP_PUBLIC_IP_ADDRESS_POOL_ID, NET_EIP_PUBLIC_IP_ADDRESS_POOL_ID = "eip-public-ip-address-pool-id", "allocate from this IP address pool.";
    EIP_RESOURCE_GROUP_ID, NET_EIP_RESOURCE_GROUP_ID = "eip-resource-group-id", "resource group of the new EIP.";
    EIP_NAME, NET_EIP_NAME = "eip-name", "name of the new EIP (<= 128 characters).";
    EIP_DESCRIPTION, NET_EIP_DESCRIPTION = "eip-description", "description of the new EIP (<= 256 characters).";
    EIP_TAGS, NET_EIP_TAGS = "eip-tags", "JSON object of extra tags.";
    POD_EIP_INSTANCEID, NET_POD_EIP_INSTANCEID = "pod-eip-instanceid", "bind this existing EIP (`eip-...`); never released by kube-eip.";
    ECI_EIP_INSTANCEID, NET_ECI_EIP_INSTANCEID = "eci-eip-instanceid", "ECI alias of `pod-eip-instanceid`.";
    POD_EIP_RELEASE_STRATEGY, NET_POD_EIP_RELEASE_STRATEGY = "pod-eip-release-strategy", "`Follow` (default), `Never`, or a duration such as `10m`.";
}

/// One logical setting and every key that carries it, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Accepted keys; the first is the canonical one.
    pub keys: &'static [&'static str],
}

/// `pod-with-eip` and its aliases.
pub const SETTING_POD_WITH_EIP: Setting = Setting {
    keys: &[
        POD_WITH_EIP,
        NET_POD_WITH_EIP,
        ECI_WITH_EIP,
        NET_ECI_WITH_EIP,
    ],
};
/// `eip-bandwidth` and its alias.
pub const SETTING_BANDWIDTH: Setting = Setting {
    keys: &[EIP_BANDWIDTH, NET_EIP_BANDWIDTH],
};
/// `eip-internet-charge-type` and its aliases.
pub const SETTING_INTERNET_CHARGE_TYPE: Setting = Setting {
    keys: &[
        EIP_INTERNET_CHARGE_TYPE,
        NET_EIP_INTERNET_CHARGE_TYPE,
        EIP_CHARGE_TYPE,
        NET_EIP_CHARGE_TYPE,
    ],
};
/// `eip-instance-charge-type` and its alias.
pub const SETTING_INSTANCE_CHARGE_TYPE: Setting = Setting {
    keys: &[EIP_INSTANCE_CHARGE_TYPE, NET_EIP_INSTANCE_CHARGE_TYPE],
};
/// `eip-isp` and its alias.
pub const SETTING_ISP: Setting = Setting {
    keys: &[EIP_ISP, NET_EIP_ISP],
};
/// `eip-common-bandwidth-package-id` and its alias.
pub const SETTING_COMMON_BANDWIDTH_PACKAGE_ID: Setting = Setting {
    keys: &[
        EIP_COMMON_BANDWIDTH_PACKAGE_ID,
        NET_EIP_COMMON_BANDWIDTH_PACKAGE_ID,
    ],
};
/// `eip-public-ip-address-pool-id` and its alias.
pub const SETTING_PUBLIC_IP_ADDRESS_POOL_ID: Setting = Setting {
    keys: &[
        EIP_PUBLIC_IP_ADDRESS_POOL_ID,
        NET_EIP_PUBLIC_IP_ADDRESS_POOL_ID,
    ],
};
/// `eip-resource-group-id` and its alias.
pub const SETTING_RESOURCE_GROUP_ID: Setting = Setting {
    keys: &[EIP_RESOURCE_GROUP_ID, NET_EIP_RESOURCE_GROUP_ID],
};
/// `eip-name` and its alias.
pub const SETTING_NAME: Setting = Setting {
    keys: &[EIP_NAME, NET_EIP_NAME],
};
/// `eip-description` and its alias.
pub const SETTING_DESCRIPTION: Setting = Setting {
    keys: &[EIP_DESCRIPTION, NET_EIP_DESCRIPTION],
};
/// `eip-tags` and its alias.
pub const SETTING_TAGS: Setting = Setting {
    keys: &[EIP_TAGS, NET_EIP_TAGS],
};
/// `pod-eip-instanceid` and its aliases.
pub const SETTING_INSTANCE_ID: Setting = Setting {
    keys: &[
        POD_EIP_INSTANCEID,
        NET_POD_EIP_INSTANCEID,
        ECI_EIP_INSTANCEID,
        NET_ECI_EIP_INSTANCEID,
    ],
};
/// `pod-eip-release-strategy` and its alias.
pub const SETTING_RELEASE_STRATEGY: Setting = Setting {
    keys: &[POD_EIP_RELEASE_STRATEGY, NET_POD_EIP_RELEASE_STRATEGY],
};

/// Every input setting, e.g. to tell whether a pod carries any EIP annotation at all.
pub const ALL_SETTINGS: &[Setting] = &[
    SETTING_POD_WITH_EIP,
    SETTING_BANDWIDTH,
    SETTING_INTERNET_CHARGE_TYPE,
    SETTING_INSTANCE_CHARGE_TYPE,
    SETTING_ISP,
    SETTING_COMMON_BANDWIDTH_PACKAGE_ID,
    SETTING_PUBLIC_IP_ADDRESS_POOL_ID,
    SETTING_RESOURCE_GROUP_ID,
    SETTING_NAME,
    SETTING_DESCRIPTION,
    SETTING_TAGS,
    SETTING_INSTANCE_ID,
    SETTING_RELEASE_STRATEGY,
];

/// Default peak bandwidth, Mbit/s.
pub const DEFAULT_BANDWIDTH_MBPS: u32 = 5;
/// Longest EIP name the cloud accepts.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest EIP description the cloud accepts.
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// Most tags one EIP may carry (cloud limit).
pub const MAX_TAGS: usize = 20;
/// Longest tag key or value.
pub const MAX_TAG_CHARS: usize = 128;
/// Tags a user may add with `eip-tags`: [`MAX_TAGS`] minus the ownership tags kube-eip adds.
pub const MAX_USER_TAGS: usize = MAX_TAGS - names::RESERVED_TAG_COUNT;

/// One problem with one annotation: which key, what value, what is wrong and what is accepted.
///
/// `Display` is a sentence a user can act on, e.g. `annotation k8s.aliyun.com/eip-bandwidth:
/// value "abc" is not a number; use a whole number of Mbit/s from 1 to 200, written 5, 5M,
/// 5Mbps or 5Mbit/s`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation {key}: value {value:?} {problem}; {accepted}")]
pub struct AnnotationError {
    /// The annotation key as written on the pod.
    pub key: &'static str,
    /// The value found (untrimmed).
    pub value: String,
    /// What is wrong, phrased to follow "value ... ".
    pub problem: String,
    /// What to write instead.
    pub accepted: String,
}

impl AnnotationError {
    fn new(
        key: &'static str,
        value: &str,
        problem: impl Into<String>,
        accepted: impl Into<String>,
    ) -> Self {
        Self {
            key,
            value: value.to_owned(),
            problem: problem.into(),
            accepted: accepted.into(),
        }
    }
}

/// An EIP allocation id (`eip-` followed by lowercase letters and digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AllocationId(String);

/// The accepted form of an allocation id, for messages.
pub const ALLOCATION_ID_FORM: &str = "an EIP allocation id is \"eip-\" followed by lowercase letters and digits, such as eip-bp1q2w3e4r5t6y";

impl AllocationId {
    /// Validates `s` as an allocation id.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("eip-")?;
        if !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            Some(Self(s.to_owned()))
        } else {
            None
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AllocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AllocationId {
    type Err = InvalidAllocationId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| InvalidAllocationId(s.to_owned()))
    }
}

impl TryFrom<String> for AllocationId {
    type Error = InvalidAllocationId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<AllocationId> for String {
    fn from(id: AllocationId) -> Self {
        id.0
    }
}

/// A string that is not an allocation id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an EIP allocation id: {ALLOCATION_ID_FORM}")]
pub struct InvalidAllocationId(pub String);

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )*
        }
        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// The value as the cloud API spells it.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok($name::$variant),)* _ => Err(()) }
            }
        }
    };
}

string_enum! {
    /// How the EIP's traffic is billed (`InternetChargeType`).
    InternetChargeType {
        /// Billed by traffic (the default for pods).
        PayByTraffic = "PayByTraffic",
        /// Billed by peak bandwidth.
        PayByBandwidth = "PayByBandwidth",
    }
}

impl InternetChargeType {
    /// Highest peak bandwidth (Mbit/s) the cloud accepts for a pay-as-you-go EIP.
    pub const fn max_bandwidth_mbps(self) -> u32 {
        match self {
            InternetChargeType::PayByTraffic => 200,
            InternetChargeType::PayByBandwidth => 500,
        }
    }
}

string_enum! {
    /// How the EIP instance is billed (`InstanceChargeType`); only pay-as-you-go is supported.
    InstanceChargeType {
        /// Pay-as-you-go.
        PostPaid = "PostPaid",
    }
}

string_enum! {
    /// The EIP's line type (`ISP`).
    Isp {
        /// BGP multi-line (default).
        Bgp = "BGP",
        /// BGP (multi-ISP) Pro.
        BgpPro = "BGP_PRO",
        /// China Telecom single line.
        ChinaTelecom = "ChinaTelecom",
        /// China Unicom single line.
        ChinaUnicom = "ChinaUnicom",
        /// China Mobile single line.
        ChinaMobile = "ChinaMobile",
        /// China Telecom L2.
        ChinaTelecomL2 = "ChinaTelecom_L2",
        /// China Unicom L2.
        ChinaUnicomL2 = "ChinaUnicom_L2",
        /// China Mobile L2.
        ChinaMobileL2 = "ChinaMobile_L2",
        /// BGP for finance cloud regions.
        BgpFinanceCloud = "BGP_FinanceCloud",
    }
}

/// What happens to an EIP when its pod goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReleaseStrategy {
    /// Unbind and release with the pod (default).
    #[default]
    Follow,
    /// Unbind but keep the EIP; it is never released by kube-eip.
    Never,
    /// Keep the EIP this long for the next pod of the same namespace/name, then release it.
    After(Duration),
}

impl ReleaseStrategy {
    /// Accepted form, for messages.
    pub const FORM: &'static str = "use Follow, Never, or a duration such as 10m or 1h30m";

    /// Parses `Follow`, `Never`, or a positive duration (`10m`, `1h30m`, `90s`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Follow" => Some(Self::Follow),
            "Never" => Some(Self::Never),
            other => match humantime::parse_duration(other) {
                Ok(d) if !d.is_zero() => Some(Self::After(d)),
                _ => None,
            },
        }
    }
}

impl fmt::Display for ReleaseStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseStrategy::Follow => f.write_str("Follow"),
            ReleaseStrategy::Never => f.write_str("Never"),
            ReleaseStrategy::After(d) => f.write_str(&format_duration(*d)),
        }
    }
}

/// Formats a duration the way Go and kubectl write them, without spaces: `1h30m`, `10m`,
/// `45s`, `1m500ms` (zero units are left out; milliseconds are the finest unit kept).
pub fn format_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return "0s".to_owned();
    }
    let h = total_ms / 3_600_000;
    let m = (total_ms / 60_000) % 60;
    let s = (total_ms / 1000) % 60;
    let ms = total_ms % 1000;
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
        }
    }
    out
}

/// Parses a duration written like `10m`, `1h30m` or `90s` (the inverse of [`format_duration`]).
pub fn parse_duration(s: &str) -> Option<Duration> {
    humantime::parse_duration(s.trim()).ok()
}

/// Where the pod's EIP comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EipSource {
    /// Allocate a new EIP (`pod-with-eip: "true"`).
    Allocate,
    /// Bind this existing EIP (`pod-eip-instanceid`); never released by kube-eip.
    Existing(AllocationId),
}

/// A validated request for an EIP, built from a pod's annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EipRequest {
    /// New or existing EIP.
    pub source: EipSource,
    /// Peak bandwidth, Mbit/s.
    pub bandwidth_mbps: u32,
    /// Traffic billing.
    pub internet_charge_type: InternetChargeType,
    /// Instance billing.
    pub instance_charge_type: InstanceChargeType,
    /// Line type.
    pub isp: Isp,
    /// Shared bandwidth package to join.
    pub common_bandwidth_package_id: Option<String>,
    /// IP address pool to allocate from.
    pub public_ip_address_pool_id: Option<String>,
    /// Resource group.
    pub resource_group_id: Option<String>,
    /// EIP name.
    pub name: Option<String>,
    /// EIP description.
    pub description: Option<String>,
    /// Extra tags from `eip-tags` (ownership tags are added by the agent).
    pub tags: BTreeMap<String, String>,
    /// What happens to the EIP when the pod goes.
    pub release_strategy: ReleaseStrategy,
}

impl EipRequest {
    /// A request for a new EIP with every default.
    pub fn allocate_default() -> Self {
        Self {
            source: EipSource::Allocate,
            bandwidth_mbps: DEFAULT_BANDWIDTH_MBPS,
            internet_charge_type: InternetChargeType::PayByTraffic,
            instance_charge_type: InstanceChargeType::PostPaid,
            isp: Isp::Bgp,
            common_bandwidth_package_id: None,
            public_ip_address_pool_id: None,
            resource_group_id: None,
            name: None,
            description: None,
            tags: BTreeMap::new(),
            release_strategy: ReleaseStrategy::Follow,
        }
    }

    /// The named EIP, if the pod asked for an existing one.
    pub fn named(&self) -> Option<&AllocationId> {
        match &self.source {
            EipSource::Existing(id) => Some(id),
            EipSource::Allocate => None,
        }
    }

    /// Reads a pod's annotations.
    ///
    /// `Ok(None)`: the pod asks for no EIP. `Ok(Some(_))`: the full validated request.
    /// `Err(_)`: every problem found, each naming the key, the value and the accepted form.
    pub fn from_annotations(
        annotations: &BTreeMap<String, String>,
    ) -> Result<Option<EipRequest>, Vec<AnnotationError>> {
        let mut errors = Vec::new();
        let mut get = |setting: Setting| lookup(annotations, setting, &mut errors);

        let pod_with_eip = get(SETTING_POD_WITH_EIP);
        let bandwidth = get(SETTING_BANDWIDTH);
        let internet = get(SETTING_INTERNET_CHARGE_TYPE);
        let instance = get(SETTING_INSTANCE_CHARGE_TYPE);
        let isp = get(SETTING_ISP);
        let cbwp = get(SETTING_COMMON_BANDWIDTH_PACKAGE_ID);
        let pool = get(SETTING_PUBLIC_IP_ADDRESS_POOL_ID);
        let rg = get(SETTING_RESOURCE_GROUP_ID);
        let name = get(SETTING_NAME);
        let description = get(SETTING_DESCRIPTION);
        let tags = get(SETTING_TAGS);
        let instance_id = get(SETTING_INSTANCE_ID);
        let release = get(SETTING_RELEASE_STRATEGY);

        let mut req = EipRequest::allocate_default();

        // Only exactly "true" asks for a new EIP; other values are reported by
        // `ignored_annotations`, not here.
        let wants_new = pod_with_eip.is_some_and(|v| v.trimmed() == POD_WITH_EIP_ENABLED);

        let mut named = None;
        if let Some(v) = instance_id {
            match AllocationId::parse(v.trimmed()) {
                // Both asked: a new EIP, and this one. Neither is picked silently.
                Some(_) if wants_new => errors.push(v.error(
                    format!(
                        "names an existing EIP, but {} asks for a new one as well",
                        SETTING_POD_WITH_EIP.keys[0]
                    ),
                    "keep one: pod-eip-instanceid to bind this EIP, or pod-with-eip: \"true\" for a new one",
                )),
                Some(id) => named = Some(id),
                None => errors.push(v.error(
                    "is not an EIP allocation id",
                    format!("give the allocation id of an existing EIP: {ALLOCATION_ID_FORM}"),
                )),
            }
        }

        if let Some(v) = internet {
            match v.trimmed().parse::<InternetChargeType>() {
                Ok(t) => req.internet_charge_type = t,
                Err(()) => errors.push(v.error(
                    "is not a known internet charge type",
                    "use PayByTraffic (the default) or PayByBandwidth",
                )),
            }
        }

        if let Some(v) = bandwidth {
            let max = req.internet_charge_type.max_bandwidth_mbps();
            let accepted = format!(
                "use a whole number of Mbit/s from 1 to {max} for {}, written 5, 5M, 5Mbps or 5Mbit/s",
                req.internet_charge_type
            );
            match parse_bandwidth(v.trimmed()) {
                Err(problem) => errors.push(v.error(problem, accepted)),
                Ok(0) => errors.push(v.error("is below the minimum of 1 Mbit/s", accepted)),
                Ok(n) if n > max => errors.push(v.error(
                    format!(
                        "is above the maximum of {max} Mbit/s for {}",
                        req.internet_charge_type
                    ),
                    accepted,
                )),
                Ok(n) => req.bandwidth_mbps = n,
            }
        }

        if let Some(v) = instance {
            match v.trimmed().parse::<InstanceChargeType>() {
                Ok(t) => req.instance_charge_type = t,
                Err(()) => errors.push(v.error(
                    "is not supported",
                    "use PostPaid (pay-as-you-go), the only instance charge type kube-eip supports",
                )),
            }
        }

        if let Some(v) = isp {
            match v.trimmed().parse::<Isp>() {
                Ok(t) => req.isp = t,
                Err(()) => errors.push(v.error(
                    "is not a known line type",
                    format!("use one of {}", join(Isp::ALL.iter().map(|i| i.as_str()))),
                )),
            }
        }

        for (slot, v) in [
            (&mut req.common_bandwidth_package_id, cbwp),
            (&mut req.public_ip_address_pool_id, pool),
            (&mut req.resource_group_id, rg),
        ] {
            if let Some(v) = v {
                let t = v.trimmed();
                if t.is_empty() || t.chars().any(char::is_whitespace) {
                    errors.push(v.error(
                        "is not an id",
                        "give the id without spaces, or remove the annotation",
                    ));
                } else {
                    *slot = Some(t.to_owned());
                }
            }
        }

        if let Some(v) = name {
            if let Some(problem) = check_text(v.trimmed(), MAX_NAME_CHARS) {
                errors.push(v.error(
                    problem,
                    format!("use at most {MAX_NAME_CHARS} characters, not starting with http:// or https://"),
                ));
            } else {
                req.name = Some(v.trimmed().to_owned());
            }
        }
        if let Some(v) = description {
            if let Some(problem) = check_text(v.trimmed(), MAX_DESCRIPTION_CHARS) {
                errors.push(v.error(
                    problem,
                    format!("use at most {MAX_DESCRIPTION_CHARS} characters, not starting with http:// or https://"),
                ));
            } else {
                req.description = Some(v.trimmed().to_owned());
            }
        }

        if let Some(v) = tags {
            match parse_tags(v.trimmed()) {
                Ok(t) => req.tags = t,
                Err(problem) => errors.push(v.error(
                    problem,
                    format!(
                        "write a JSON object of string values such as {{\"team\":\"games\"}}, at most {MAX_USER_TAGS} tags, keys of 1 to {MAX_TAG_CHARS} characters not starting with aliyun, acs: or {}, values of at most {MAX_TAG_CHARS} characters",
                        names::TAG_PREFIX
                    ),
                )),
            }
        }

        if let Some(v) = release {
            match ReleaseStrategy::parse(v.trimmed()) {
                Some(ReleaseStrategy::After(_)) if named.is_some() => errors.push(v.error(
                    "is a duration, but the pod names an existing EIP, which kube-eip never releases",
                    "use Follow or Never with pod-eip-instanceid, or remove the annotation",
                )),
                Some(s) => req.release_strategy = s,
                None => errors.push(v.error(
                    "is neither Follow, Never nor a positive duration",
                    ReleaseStrategy::FORM,
                )),
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        match named {
            Some(id) => req.source = EipSource::Existing(id),
            None if wants_new => {}
            None => return Ok(None),
        }
        Ok(Some(req))
    }
}

/// The one value of `pod-with-eip` (and its aliases) that asks for a new EIP.
pub const POD_WITH_EIP_ENABLED: &str = "true";
/// The value of `pod-with-eip` that says "no new EIP" without a warning.
pub const POD_WITH_EIP_DISABLED: &str = "false";

/// An annotation value that was ignored rather than refused: the pod runs as if the
/// annotation were absent, and the user is told once what to write instead.
///
/// `Display` is a sentence a user can act on, e.g. `annotation k8s.aliyun.com/pod-with-eip:
/// value "yes" is ignored, so the pod gets no new EIP; only "true" enables it: write "true"
/// to give the pod an EIP, or remove the annotation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredAnnotation {
    /// The annotation key as written on the pod.
    pub key: &'static str,
    /// The value found (untrimmed).
    pub value: String,
}

impl fmt::Display for IgnoredAnnotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "annotation {}: value {:?} is ignored, so the pod gets no new EIP; only \"{POD_WITH_EIP_ENABLED}\" enables it: write \"{POD_WITH_EIP_ENABLED}\" to give the pod an EIP, or remove the annotation",
            self.key, self.value
        )
    }
}

/// Annotation values [`EipRequest::from_annotations`] ignored: a `pod-with-eip` (or alias)
/// whose value is neither `"true"` nor `"false"` (`yes`, `True`, `1`, ...). One entry per
/// key carrying such a value, in the order of [`SETTING_POD_WITH_EIP`]'s keys.
pub fn ignored_annotations(annotations: &BTreeMap<String, String>) -> Vec<IgnoredAnnotation> {
    SETTING_POD_WITH_EIP
        .keys
        .iter()
        .filter_map(|key| {
            let value = annotations.get(*key)?;
            (!matches!(value.trim(), POD_WITH_EIP_ENABLED | POD_WITH_EIP_DISABLED)).then(|| {
                IgnoredAnnotation {
                    key,
                    value: value.clone(),
                }
            })
        })
        .collect()
}

/// Whether any EIP input annotation (under any accepted key) is present.
pub fn has_eip_annotations(annotations: &BTreeMap<String, String>) -> bool {
    ALL_SETTINGS
        .iter()
        .flat_map(|s| s.keys.iter())
        .any(|k| annotations.contains_key(*k))
}

struct Found<'a> {
    key: &'static str,
    value: &'a str,
}

impl Found<'_> {
    fn trimmed(&self) -> &str {
        self.value.trim()
    }
    fn error(&self, problem: impl Into<String>, accepted: impl Into<String>) -> AnnotationError {
        AnnotationError::new(self.key, self.value, problem, accepted)
    }
}

fn lookup<'a>(
    annotations: &'a BTreeMap<String, String>,
    setting: Setting,
    errors: &mut Vec<AnnotationError>,
) -> Option<Found<'a>> {
    let mut found: Option<Found<'a>> = None;
    for key in setting.keys {
        let Some(value) = annotations.get(*key) else {
            continue;
        };
        match &found {
            None => found = Some(Found { key, value }),
            Some(first) if first.value.trim() == value.trim() => {}
            Some(first) => errors.push(AnnotationError::new(
                key,
                value,
                format!("conflicts with {} ({:?})", first.key, first.value),
                format!(
                    "set only one of {} and {}, or give both the same value",
                    first.key, key
                ),
            )),
        }
    }
    found
}

/// Parses `5`, `5M`, `5m`, `5Mbps`, `5Mbit/s` (units case-insensitive) into Mbit/s.
/// The error is a phrase that follows "value ...".
pub fn parse_bandwidth(s: &str) -> Result<u32, String> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err("is not a number".to_owned());
    }
    let unit = unit.trim();
    if !(unit.is_empty()
        || unit.eq_ignore_ascii_case("m")
        || unit.eq_ignore_ascii_case("mbps")
        || unit.eq_ignore_ascii_case("mbit/s"))
    {
        return Err(format!(
            "has unit {unit:?}; only Mbit/s is accepted (M, Mbps or Mbit/s)"
        ));
    }
    digits
        .parse::<u32>()
        .map_err(|_| "is too large a number".to_owned())
}

fn check_text(s: &str, max: usize) -> Option<String> {
    let n = s.chars().count();
    if n > max {
        Some(format!("is {n} characters long, more than {max}"))
    } else if s.starts_with("http://") || s.starts_with("https://") {
        Some("starts with http:// or https://, which the cloud refuses".to_owned())
    } else {
        None
    }
}

fn parse_tags(s: &str) -> Result<BTreeMap<String, String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(s).map_err(|e| format!("is not valid JSON ({e})"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("is JSON but not an object".to_owned());
    };
    if map.len() > MAX_USER_TAGS {
        return Err(format!(
            "has {} tags, more than the {MAX_USER_TAGS} left after the {} ownership tags kube-eip adds (the cloud allows {MAX_TAGS})",
            map.len(),
            names::RESERVED_TAG_COUNT
        ));
    }
    let mut tags = BTreeMap::new();
    for (k, v) in map {
        let lower = k.to_ascii_lowercase();
        if k.trim().is_empty() {
            return Err("has an empty tag key".to_owned());
        }
        if k.chars().count() > MAX_TAG_CHARS {
            return Err(format!(
                "has tag key {k:?}, longer than {MAX_TAG_CHARS} characters"
            ));
        }
        if lower.starts_with("aliyun") || lower.starts_with("acs:") {
            return Err(format!(
                "has tag key {k:?}; keys starting with aliyun or acs: are reserved by the cloud"
            ));
        }
        if k.starts_with(names::TAG_PREFIX) {
            return Err(format!(
                "has tag key {k:?}; keys starting with {} are kube-eip's ownership tags",
                names::TAG_PREFIX
            ));
        }
        let serde_json::Value::String(v) = v else {
            return Err(format!("has tag {k:?} whose value is not a JSON string"));
        };
        if v.chars().count() > MAX_TAG_CHARS {
            return Err(format!(
                "has tag {k:?} whose value is longer than {MAX_TAG_CHARS} characters"
            ));
        }
        tags.insert(k, v);
    }
    Ok(tags)
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn ok(pairs: &[(&str, &str)]) -> EipRequest {
        match EipRequest::from_annotations(&ann(pairs)) {
            Ok(Some(r)) => r,
            other => panic!("{pairs:?}: expected a request, got {other:?}"),
        }
    }

    fn errs(pairs: &[(&str, &str)]) -> Vec<AnnotationError> {
        match EipRequest::from_annotations(&ann(pairs)) {
            Err(e) => e,
            other => panic!("{pairs:?}: expected errors, got {other:?}"),
        }
    }

    #[test]
    fn pods_that_ask_for_nothing_get_none() {
        for pairs in [
            &[][..],
            &[("app", "web")][..],
            &[(POD_WITH_EIP, "false")][..],
            &[(EIP_BANDWIDTH, "10")][..],
        ] {
            assert_eq!(
                EipRequest::from_annotations(&ann(pairs)),
                Ok(None),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn pod_with_eip_true_under_every_key_gives_defaults() {
        for key in SETTING_POD_WITH_EIP.keys {
            assert_eq!(
                ok(&[(key, "true")]),
                EipRequest::allocate_default(),
                "{key}"
            );
        }
        let d = EipRequest::allocate_default();
        assert_eq!(d.bandwidth_mbps, 5);
        assert_eq!(d.internet_charge_type, InternetChargeType::PayByTraffic);
        assert_eq!(d.isp, Isp::Bgp);
        assert_eq!(d.release_strategy, ReleaseStrategy::Follow);
    }

    #[test]
    fn pod_with_eip_other_values_ask_for_nothing_and_are_reported_as_ignored() {
        for key in SETTING_POD_WITH_EIP.keys {
            for other in ["yes", "True", "TRUE", "1", "on", ""] {
                let a = ann(&[(key, other), (EIP_BANDWIDTH, "10")]);
                assert_eq!(
                    EipRequest::from_annotations(&a),
                    Ok(None),
                    "{key}={other:?}"
                );
                assert_eq!(
                    ignored_annotations(&a),
                    vec![IgnoredAnnotation {
                        key,
                        value: other.to_owned()
                    }],
                    "{key}={other:?}"
                );
            }
        }
        for quiet in [
            &[(POD_WITH_EIP, "true")][..],
            &[(POD_WITH_EIP, " false ")][..],
            &[(ECI_WITH_EIP, "false")][..],
            &[(EIP_BANDWIDTH, "yes")][..],
            &[][..],
        ] {
            assert_eq!(ignored_annotations(&ann(quiet)), vec![], "{quiet:?}");
        }
        assert_eq!(
            ignored_annotations(&ann(&[(POD_WITH_EIP, "yes")]))[0].to_string(),
            "annotation k8s.aliyun.com/pod-with-eip: value \"yes\" is ignored, so the pod gets no new EIP; only \"true\" enables it: write \"true\" to give the pod an EIP, or remove the annotation"
        );
    }

    #[test]
    fn an_ignored_pod_with_eip_leaves_a_named_eip_and_bad_values_in_force() {
        let a = ann(&[(POD_WITH_EIP, "yes"), (POD_EIP_INSTANCEID, "eip-1")]);
        let r = EipRequest::from_annotations(&a);
        assert_eq!(
            r.ok().flatten().and_then(|r| r.named().cloned()),
            AllocationId::parse("eip-1")
        );
        assert_eq!(ignored_annotations(&a).len(), 1);
        let e = errs(&[(POD_WITH_EIP, "1"), (EIP_BANDWIDTH, "fast")]);
        assert_eq!(e.iter().map(|e| e.key).collect::<Vec<_>>(), [EIP_BANDWIDTH]);
    }

    #[test]
    fn bandwidth_good_values() {
        let cases: &[(&str, &str, u32)] = &[
            ("5", "PayByTraffic", 5),
            ("5M", "PayByTraffic", 5),
            ("5m", "PayByTraffic", 5),
            ("5Mbps", "PayByTraffic", 5),
            ("5Mbit/s", "PayByTraffic", 5),
            (" 10M ", "PayByTraffic", 10),
            ("1", "PayByTraffic", 1),
            ("200", "PayByTraffic", 200),
            ("201", "PayByBandwidth", 201),
            ("500M", "PayByBandwidth", 500),
        ];
        for (value, charge, want) in cases {
            let r = ok(&[
                (POD_WITH_EIP, "true"),
                (EIP_BANDWIDTH, value),
                (EIP_INTERNET_CHARGE_TYPE, charge),
            ]);
            assert_eq!(r.bandwidth_mbps, *want, "{value:?} {charge}");
        }
    }

    #[test]
    fn bandwidth_bad_values_are_errors_never_a_fallback() {
        let cases: &[(&str, &str, &str)] = &[
            ("abc", "PayByTraffic", "is not a number"),
            ("", "PayByTraffic", "is not a number"),
            ("-5", "PayByTraffic", "is not a number"),
            ("0", "PayByTraffic", "below the minimum of 1"),
            (
                "201",
                "PayByTraffic",
                "above the maximum of 200 Mbit/s for PayByTraffic",
            ),
            (
                "501",
                "PayByBandwidth",
                "above the maximum of 500 Mbit/s for PayByBandwidth",
            ),
            ("5G", "PayByTraffic", "has unit \"G\""),
            ("5Kbps", "PayByTraffic", "has unit \"Kbps\""),
            ("5.5", "PayByTraffic", "has unit \".5\""),
            ("99999999999", "PayByTraffic", "too large"),
        ];
        for (value, charge, problem) in cases {
            let e = errs(&[
                (POD_WITH_EIP, "true"),
                (EIP_BANDWIDTH, value),
                (EIP_INTERNET_CHARGE_TYPE, charge),
            ]);
            assert_eq!(e.len(), 1, "{value:?}: {e:?}");
            assert_eq!(e[0].key, EIP_BANDWIDTH);
            assert_eq!(e[0].value, *value);
            let text = e[0].to_string();
            assert!(text.contains(problem), "{value:?}: {text}");
            assert!(text.contains("5Mbit/s"), "accepted form missing: {text}");
        }
        assert_eq!(
            errs(&[(POD_WITH_EIP, "true"), (EIP_BANDWIDTH, "abc")])[0].to_string(),
            "annotation k8s.aliyun.com/eip-bandwidth: value \"abc\" is not a number; use a whole number of Mbit/s from 1 to 200 for PayByTraffic, written 5, 5M, 5Mbps or 5Mbit/s"
        );
    }

    #[test]
    fn charge_types() {
        for key in SETTING_INTERNET_CHARGE_TYPE.keys {
            let r = ok(&[(POD_WITH_EIP, "true"), (key, "PayByBandwidth")]);
            assert_eq!(
                r.internet_charge_type,
                InternetChargeType::PayByBandwidth,
                "{key}"
            );
        }
        let e = errs(&[(POD_WITH_EIP, "true"), (EIP_CHARGE_TYPE, "paybytraffic")]);
        assert_eq!(e[0].key, EIP_CHARGE_TYPE);
        assert!(
            e[0].to_string()
                .contains("PayByTraffic (the default) or PayByBandwidth")
        );

        let r = ok(&[
            (POD_WITH_EIP, "true"),
            (EIP_INSTANCE_CHARGE_TYPE, "PostPaid"),
        ]);
        assert_eq!(r.instance_charge_type, InstanceChargeType::PostPaid);
        let e = errs(&[
            (POD_WITH_EIP, "true"),
            (NET_EIP_INSTANCE_CHARGE_TYPE, "PrePaid"),
        ]);
        assert_eq!(e[0].key, NET_EIP_INSTANCE_CHARGE_TYPE);
        assert!(e[0].to_string().contains("use PostPaid"));
    }

    #[test]
    fn isp_values() {
        for isp in Isp::ALL {
            let r = ok(&[(POD_WITH_EIP, "true"), (EIP_ISP, isp.as_str())]);
            assert_eq!(r.isp, *isp);
        }
        let e = errs(&[(POD_WITH_EIP, "true"), (EIP_ISP, "bgp")]);
        assert_eq!(e[0].key, EIP_ISP);
        assert!(
            e[0].to_string().contains("BGP, BGP_PRO, ChinaTelecom"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn ids_are_passed_through() {
        let r = ok(&[
            (POD_WITH_EIP, "true"),
            (EIP_COMMON_BANDWIDTH_PACKAGE_ID, "cbwp-123"),
            (NET_EIP_PUBLIC_IP_ADDRESS_POOL_ID, "pippool-9"),
            (EIP_RESOURCE_GROUP_ID, " rg-42 "),
        ]);
        assert_eq!(r.common_bandwidth_package_id.as_deref(), Some("cbwp-123"));
        assert_eq!(r.public_ip_address_pool_id.as_deref(), Some("pippool-9"));
        assert_eq!(r.resource_group_id.as_deref(), Some("rg-42"));
        for key in [
            EIP_COMMON_BANDWIDTH_PACKAGE_ID,
            EIP_PUBLIC_IP_ADDRESS_POOL_ID,
            EIP_RESOURCE_GROUP_ID,
        ] {
            for bad in ["", "rg 42"] {
                let e = errs(&[(POD_WITH_EIP, "true"), (key, bad)]);
                assert_eq!((e.len(), e[0].key), (1, key), "{bad:?}");
            }
        }
    }

    #[test]
    fn name_and_description_rules() {
        let r = ok(&[
            (POD_WITH_EIP, "true"),
            (EIP_NAME, "game-server"),
            (EIP_DESCRIPTION, "room 7"),
        ]);
        assert_eq!(r.name.as_deref(), Some("game-server"));
        assert_eq!(r.description.as_deref(), Some("room 7"));
        let name128 = "n".repeat(128);
        let desc256 = "d".repeat(256);
        let r = ok(&[
            (POD_WITH_EIP, "true"),
            (EIP_NAME, &name128),
            (EIP_DESCRIPTION, &desc256),
        ]);
        assert_eq!(r.name.map(|n| n.len()), Some(128));
        let name129 = "n".repeat(129);
        let desc257 = "d".repeat(257);
        let cases: &[(&str, &str, &str)] = &[
            (EIP_NAME, &name129, "129 characters long, more than 128"),
            (EIP_NAME, "http://x", "starts with http://"),
            (
                EIP_DESCRIPTION,
                &desc257,
                "257 characters long, more than 256",
            ),
            (
                NET_EIP_DESCRIPTION,
                "https://x",
                "starts with http:// or https://",
            ),
        ];
        for (key, value, problem) in cases {
            let e = errs(&[(POD_WITH_EIP, "true"), (key, value)]);
            assert_eq!(e[0].key, *key);
            assert!(e[0].to_string().contains(problem), "{}", e[0]);
        }
    }

    #[test]
    fn tags_good() {
        let r = ok(&[
            (POD_WITH_EIP, "true"),
            (EIP_TAGS, r#"{"team":"games","tier":""}"#),
        ]);
        assert_eq!(r.tags.get("team").map(String::as_str), Some("games"));
        assert_eq!(r.tags.len(), 2);
        let fifteen: serde_json::Map<String, serde_json::Value> = (0..MAX_USER_TAGS)
            .map(|i| (format!("k{i}"), serde_json::Value::String("v".into())))
            .collect();
        let json = serde_json::Value::Object(fifteen).to_string();
        assert_eq!(
            ok(&[(POD_WITH_EIP, "true"), (EIP_TAGS, &json)]).tags.len(),
            15
        );
    }

    #[test]
    fn tags_bad() {
        let sixteen: serde_json::Map<String, serde_json::Value> = (0..=MAX_USER_TAGS)
            .map(|i| (format!("k{i}"), serde_json::Value::String("v".into())))
            .collect();
        let too_many = serde_json::Value::Object(sixteen).to_string();
        let long_key = format!(r#"{{"{}":"v"}}"#, "k".repeat(129));
        let long_value = format!(r#"{{"k":"{}"}}"#, "v".repeat(129));
        let cases: &[(&str, &str)] = &[
            ("not-json", "is not valid JSON"),
            (r#"["a","b"]"#, "not an object"),
            (r#"{"":"v"}"#, "empty tag key"),
            (r#"{"aliyun-x":"v"}"#, "reserved by the cloud"),
            (r#"{"acs:x":"v"}"#, "reserved by the cloud"),
            (r#"{"kube-eip.io/pod-name":"v"}"#, "ownership tags"),
            (r#"{"n":5}"#, "not a JSON string"),
            (&long_key, "longer than 128"),
            (&long_value, "value is longer than 128"),
            (
                &too_many,
                "has 16 tags, more than the 15 left after the 5 ownership tags",
            ),
        ];
        for (value, problem) in cases {
            let e = errs(&[(POD_WITH_EIP, "true"), (EIP_TAGS, value)]);
            assert_eq!(e.len(), 1);
            assert_eq!(e[0].key, EIP_TAGS);
            assert!(e[0].to_string().contains(problem), "{value}: {}", e[0]);
        }
    }

    #[test]
    fn release_strategies() {
        let cases: &[(&str, ReleaseStrategy)] = &[
            ("Follow", ReleaseStrategy::Follow),
            ("Never", ReleaseStrategy::Never),
            ("10m", ReleaseStrategy::After(Duration::from_secs(600))),
            ("1h30m", ReleaseStrategy::After(Duration::from_secs(5400))),
            ("90s", ReleaseStrategy::After(Duration::from_secs(90))),
        ];
        for (value, want) in cases {
            let r = ok(&[(POD_WITH_EIP, "true"), (POD_EIP_RELEASE_STRATEGY, value)]);
            assert_eq!(r.release_strategy, *want, "{value}");
        }
        for bad in ["forever", "follow", "0s", "10", "-1m", ""] {
            let e = errs(&[(POD_WITH_EIP, "true"), (POD_EIP_RELEASE_STRATEGY, bad)]);
            assert_eq!(e[0].key, POD_EIP_RELEASE_STRATEGY, "{bad}");
            assert!(e[0].to_string().contains(ReleaseStrategy::FORM), "{}", e[0]);
        }
    }

    #[test]
    fn release_strategy_display_round_trips() {
        for s in [
            ReleaseStrategy::Follow,
            ReleaseStrategy::Never,
            ReleaseStrategy::After(Duration::from_secs(600)),
            ReleaseStrategy::After(Duration::from_secs(5400)),
            ReleaseStrategy::After(Duration::from_millis(61_500)),
        ] {
            assert_eq!(ReleaseStrategy::parse(&s.to_string()), Some(s), "{s}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn named_eip_turns_the_feature_on() {
        for key in SETTING_INSTANCE_ID.keys {
            let r = ok(&[(key, "eip-bp1abc2def")]);
            assert_eq!(r.named().map(AllocationId::as_str), Some("eip-bp1abc2def"));
        }
        let r = ok(&[
            (POD_EIP_INSTANCEID, "eip-1"),
            (POD_EIP_RELEASE_STRATEGY, "Never"),
        ]);
        assert_eq!(r.release_strategy, ReleaseStrategy::Never);
        // an explicit "false" does not override a named EIP
        assert!(
            ok(&[(POD_EIP_INSTANCEID, "eip-1"), (POD_WITH_EIP, "false")])
                .named()
                .is_some()
        );
    }

    #[test]
    fn a_new_eip_and_a_named_one_together_are_a_conflict() {
        for key in SETTING_INSTANCE_ID.keys {
            let e = errs(&[(key, "eip-1"), (POD_WITH_EIP, "true")]);
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].key, *key);
            assert_eq!(
                e[0].to_string(),
                format!(
                    "annotation {key}: value \"eip-1\" names an existing EIP, but k8s.aliyun.com/pod-with-eip asks for a new one as well; keep one: pod-eip-instanceid to bind this EIP, or pod-with-eip: \"true\" for a new one"
                )
            );
        }
    }

    #[test]
    fn named_eip_bad_values() {
        for bad in [
            "i-123", "eip-", "eip-ABC", "EIP-abc", "eip-a_b", "eip-a b", "",
        ] {
            let e = errs(&[(POD_EIP_INSTANCEID, bad)]);
            assert_eq!(e.len(), 1, "{bad:?}");
            assert_eq!(e[0].key, POD_EIP_INSTANCEID);
            assert!(
                e[0].to_string().contains("\"eip-\" followed by lowercase"),
                "{}",
                e[0]
            );
        }
        let e = errs(&[
            (POD_EIP_INSTANCEID, "eip-1"),
            (POD_EIP_RELEASE_STRATEGY, "10m"),
        ]);
        assert_eq!(e[0].key, POD_EIP_RELEASE_STRATEGY);
        assert!(e[0].to_string().contains("never releases"), "{}", e[0]);
    }

    #[test]
    fn conflicting_prefixes_are_an_error_equal_ones_are_fine() {
        let r = ok(&[
            (POD_WITH_EIP, "true"),
            (EIP_BANDWIDTH, "10"),
            (NET_EIP_BANDWIDTH, "10"),
        ]);
        assert_eq!(r.bandwidth_mbps, 10);
        let e = errs(&[
            (POD_WITH_EIP, "true"),
            (EIP_BANDWIDTH, "10"),
            (NET_EIP_BANDWIDTH, "20"),
        ]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].key, NET_EIP_BANDWIDTH);
        assert_eq!(
            e[0].to_string(),
            "annotation network.alibabacloud.com/eip-bandwidth: value \"20\" conflicts with k8s.aliyun.com/eip-bandwidth (\"10\"); set only one of k8s.aliyun.com/eip-bandwidth and network.alibabacloud.com/eip-bandwidth, or give both the same value"
        );
        let e = errs(&[
            (EIP_INTERNET_CHARGE_TYPE, "PayByTraffic"),
            (EIP_CHARGE_TYPE, "PayByBandwidth"),
        ]);
        assert_eq!(e[0].key, EIP_CHARGE_TYPE);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = errs(&[
            (POD_WITH_EIP, "true"),
            (EIP_BANDWIDTH, "5G"),
            (EIP_ISP, "nope"),
            (EIP_TAGS, "not-json"),
            (POD_EIP_RELEASE_STRATEGY, "forever"),
            (NET_POD_EIP_INSTANCEID, "i-123"),
        ]);
        let mut keys: Vec<_> = e.iter().map(|e| e.key).collect();
        keys.sort_unstable();
        let mut want = vec![
            EIP_BANDWIDTH,
            EIP_ISP,
            EIP_TAGS,
            POD_EIP_RELEASE_STRATEGY,
            NET_POD_EIP_INSTANCEID,
        ];
        want.sort_unstable();
        assert_eq!(keys, want);
        let all = crate::Error::Annotations(e).to_string();
        assert!(
            all.starts_with("invalid EIP annotations: annotation "),
            "{all}"
        );
    }

    #[test]
    fn bad_values_are_reported_even_when_no_eip_is_asked_for() {
        let e = errs(&[(EIP_BANDWIDTH, "abc")]);
        assert_eq!(e[0].key, EIP_BANDWIDTH);
    }

    #[test]
    fn has_eip_annotations_sees_every_key() {
        for setting in ALL_SETTINGS {
            for key in setting.keys {
                assert!(has_eip_annotations(&ann(&[(key, "x")])), "{key}");
                assert!(key.starts_with(PREFIX) || key.starts_with(ALIAS_PREFIX));
            }
        }
        assert!(!has_eip_annotations(&ann(&[("k8s.aliyun.com/other", "x")])));
    }

    #[test]
    fn allocation_id_serde_and_parse() {
        let id: AllocationId = "eip-abc1".parse().expect("valid");
        assert_eq!(
            serde_json::to_string(&id).ok().as_deref(),
            Some("\"eip-abc1\"")
        );
        assert!(serde_json::from_str::<AllocationId>("\"i-1\"").is_err());
        let err = "i-123".parse::<AllocationId>().err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("\"i-123\" is not an EIP allocation id")));
    }
}
