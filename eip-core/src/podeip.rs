//! The `PodEIP` custom resource (`podeips.kube-eip.io`, `v1alpha1`): the durable record of one
//! pod's EIP, in the pod's namespace and with the pod's name, so that a crash, a restart or a
//! StatefulSet pod coming back on another node finds it. `kubectl eip show` reads it.
//!
//! Phases ([`PodEIPPhase`]), in the order the agent moves through them:
//! `Pending` (recorded, nothing done) → `Allocating` (AllocateEipAddress sent) → `Associating`
//! (AssociateEipAddress sent) → `Bound` (InUse on the pod's IP). When the pod goes:
//! `Releasing` (unbinding/releasing) → `Released` (EIP gone; the record is about to be deleted)
//! or `Retained` (unbound and kept under `Never`, a TTL, or because it is a named EIP; a
//! TTL-retained EIP is released at `status.releaseAt`). `Failed` carries `lastError`
//! (invalid annotations, or a cloud error the agent gave up retrying).

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_core::CustomResourceExt;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::annotations::{self, EipRequest, EipSource, ReleaseStrategy};

/// API group of kube-eip's resources.
pub const GROUP: &str = "kube-eip.io";
/// Version of the PodEIP resource.
pub const VERSION: &str = "v1alpha1";
/// Path of the generated CRD in the repository, relative to the workspace root.
pub const CRD_PATH: &str = "deploy/crds/podeips.yaml";

/// Desired state of a pod's EIP.
// The printcolumn(...) groups repeat `type_ = "string"`, which clippy mistakes for a
// duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "kube-eip.io",
    version = "v1alpha1",
    kind = "PodEIP",
    plural = "podeips",
    shortname = "peip",
    namespaced,
    status = "PodEIPStatus",
    derive = "PartialEq",
    doc = "The EIP of one pod (same namespace and name as the pod), kept by eip-agent.",
    crates(kube_core = "::kube_core"),
    printcolumn(name = "EIP", type_ = "string", json_path = ".status.eipAddress"),
    printcolumn(
        name = "ALLOCATION",
        type_ = "string",
        json_path = ".status.allocationId"
    ),
    printcolumn(name = "PHASE", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "NODE", type_ = "string", json_path = ".status.node"),
    printcolumn(
        name = "AGE",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PodEIPSpec {
    /// The EIP: the named one for `Static`; for `Auto`, set once allocated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_id: Option<String>,
    /// `Auto` (allocated for the pod) or `Static` (named by the pod; never released).
    #[serde(rename = "type")]
    pub eip_type: PodEIPType,
    /// What happens when the pod goes.
    #[serde(default)]
    pub release_strategy: PodEIPReleaseStrategy,
    /// With `TTL`: how long to keep the EIP, as a duration (`10m`, `1h30m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_after: Option<String>,
}

/// Where the EIP comes from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum PodEIPType {
    /// Allocated for the pod.
    #[default]
    Auto,
    /// Named by the pod (`pod-eip-instanceid`); never released by kube-eip.
    Static,
}

/// Release strategy, as recorded.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum PodEIPReleaseStrategy {
    /// Release with the pod.
    #[default]
    Follow,
    /// Never release.
    Never,
    /// Keep for `releaseAfter`, then release.
    #[serde(rename = "TTL")]
    Ttl,
}

/// Observed state of a pod's EIP.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodEIPStatus {
    /// Where the agent is (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PodEIPPhase>,
    /// Public IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eip_address: Option<String>,
    /// Allocation id of the EIP in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_id: Option<String>,
    /// ENI the EIP is associated with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interface_id: Option<String>,
    /// Pod IP the EIP is associated with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip_address: Option<String>,
    /// Node of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// UID of the pod the EIP is (or was last) bound for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    /// Last error, as a sentence a user can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the agent last saw the pod (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_last_seen: Option<Time>,
    /// With `TTL` and the pod gone: when the EIP will be released (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_at: Option<Time>,
    /// Observed peak bandwidth, Mbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<i64>,
    /// Observed line type (`BGP`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isp: Option<String>,
    /// Observed internet charge type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internet_charge_type: Option<String>,
    /// Shared bandwidth package the EIP is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_package_id: Option<String>,
    /// The pod (`namespace/name`) that took this record's named EIP (`allow_eip_rob`),
    /// written by the taker's agent so that this pod's agent learns of it at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_by: Option<String>,
}

/// One field of a [`PodEIPStatusPatch`]: left as it is, cleared (`null`), or set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Change<T> {
    /// Not written.
    #[default]
    Keep,
    /// Written as `null` (a merge patch removes the key).
    Clear,
    /// Written.
    Set(T),
}

impl<T> Change<T> {
    /// Set when `Some`, cleared when `None`.
    pub fn set_or_clear(v: Option<T>) -> Self {
        v.map_or(Change::Clear, Change::Set)
    }

    /// Whether the field is left out of the patch.
    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }
}

impl<T> From<T> for Change<T> {
    fn from(v: T) -> Self {
        Change::Set(v)
    }
}

impl<T: Serialize> Serialize for Change<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // `Keep` is skipped by the struct; written alone it is `null` like `Clear`
            Change::Keep | Change::Clear => s.serialize_none(),
            Change::Set(v) => s.serialize_some(v),
        }
    }
}

/// A merge patch of the status, typed like [`PodEIPStatus`] (the same field names, checked
/// by a test), so a renamed field cannot write a key nobody reads. Build it with struct
/// update syntax: `PodEIPStatusPatch { phase: PodEIPPhase::Bound.into(), ..Default::default() }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodEIPStatusPatch {
    /// [`PodEIPStatus::phase`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub phase: Change<PodEIPPhase>,
    /// [`PodEIPStatus::eip_address`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub eip_address: Change<String>,
    /// [`PodEIPStatus::allocation_id`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub allocation_id: Change<String>,
    /// [`PodEIPStatus::network_interface_id`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub network_interface_id: Change<String>,
    /// [`PodEIPStatus::private_ip_address`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub private_ip_address: Change<String>,
    /// [`PodEIPStatus::node`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub node: Change<String>,
    /// [`PodEIPStatus::pod_uid`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub pod_uid: Change<String>,
    /// [`PodEIPStatus::last_error`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub last_error: Change<String>,
    /// [`PodEIPStatus::pod_last_seen`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub pod_last_seen: Change<Time>,
    /// [`PodEIPStatus::release_at`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub release_at: Change<Time>,
    /// [`PodEIPStatus::bandwidth`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub bandwidth: Change<i64>,
    /// [`PodEIPStatus::isp`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub isp: Change<String>,
    /// [`PodEIPStatus::internet_charge_type`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub internet_charge_type: Change<String>,
    /// [`PodEIPStatus::bandwidth_package_id`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub bandwidth_package_id: Change<String>,
    /// [`PodEIPStatus::taken_by`].
    #[serde(skip_serializing_if = "Change::is_keep")]
    pub taken_by: Change<String>,
}

impl PodEIPStatusPatch {
    /// Only the phase.
    pub fn phase(phase: PodEIPPhase) -> Self {
        Self {
            phase: phase.into(),
            ..Self::default()
        }
    }
}

/// Lifecycle phase of a PodEIP.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum PodEIPPhase {
    /// Recorded; nothing done yet (e.g. waiting for the pod IP).
    Pending,
    /// AllocateEipAddress sent.
    Allocating,
    /// AssociateEipAddress sent.
    Associating,
    /// InUse on the pod's IP.
    Bound,
    /// Unbinding or releasing because the pod is going away.
    Releasing,
    /// Unbound and kept (Never, TTL, or a named EIP).
    Retained,
    /// Released; the record is about to be deleted.
    Released,
    /// Gave up; see `lastError`.
    Failed,
}

impl PodEIPPhase {
    /// The phase as written in the resource.
    pub const fn as_str(self) -> &'static str {
        match self {
            PodEIPPhase::Pending => "Pending",
            PodEIPPhase::Allocating => "Allocating",
            PodEIPPhase::Associating => "Associating",
            PodEIPPhase::Bound => "Bound",
            PodEIPPhase::Releasing => "Releasing",
            PodEIPPhase::Retained => "Retained",
            PodEIPPhase::Released => "Released",
            PodEIPPhase::Failed => "Failed",
        }
    }
}

impl std::fmt::Display for PodEIPPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PodEIPSpec {
    /// The spec recording a validated request.
    pub fn from_request(request: &EipRequest) -> Self {
        let (eip_type, allocation_id) = match &request.source {
            EipSource::Allocate => (PodEIPType::Auto, None),
            EipSource::Existing(id) => (PodEIPType::Static, Some(id.to_string())),
        };
        let (release_strategy, release_after) = match request.release_strategy {
            ReleaseStrategy::Follow => (PodEIPReleaseStrategy::Follow, None),
            ReleaseStrategy::Never => (PodEIPReleaseStrategy::Never, None),
            ReleaseStrategy::After(d) => (
                PodEIPReleaseStrategy::Ttl,
                Some(annotations::format_duration(d)),
            ),
        };
        Self {
            allocation_id,
            eip_type,
            release_strategy,
            release_after,
        }
    }

    /// The release strategy as a domain value; a `TTL` without a readable `releaseAfter` is
    /// an error.
    pub fn release_strategy(&self) -> Result<ReleaseStrategy, Error> {
        match self.release_strategy {
            PodEIPReleaseStrategy::Follow => Ok(ReleaseStrategy::Follow),
            PodEIPReleaseStrategy::Never => Ok(ReleaseStrategy::Never),
            PodEIPReleaseStrategy::Ttl => self
                .release_after
                .as_deref()
                .and_then(annotations::parse_duration)
                .filter(|d| !d.is_zero())
                .map(ReleaseStrategy::After)
                .ok_or_else(|| Error::InvalidValue {
                    key: "PodEIP spec.releaseAfter",
                    value: self.release_after.clone().unwrap_or_default(),
                    expected: "a positive duration such as 10m or 1h30m when releaseStrategy is TTL",
                }),
        }
    }

    /// How long to keep the EIP after the pod goes, when the strategy is `TTL`.
    pub fn release_after(&self) -> Option<Duration> {
        match self.release_strategy() {
            Ok(ReleaseStrategy::After(d)) => Some(d),
            _ => None,
        }
    }
}

/// The CustomResourceDefinition as YAML, exactly as committed in [`CRD_PATH`].
pub fn crd_yaml() -> Result<String, Error> {
    serde_saphyr::to_string(&PodEIP::crd()).map_err(|e| Error::Yaml {
        action: "write",
        what: "the PodEIP CustomResourceDefinition",
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube_core::Resource;

    use super::*;

    #[test]
    fn a_status_patch_writes_only_keys_the_status_reads() {
        let t = Time(jiff::Timestamp::UNIX_EPOCH);
        let full = PodEIPStatusPatch {
            phase: PodEIPPhase::Bound.into(),
            eip_address: "47.0.0.1".to_string().into(),
            allocation_id: "eip-1".to_string().into(),
            network_interface_id: "eni-1".to_string().into(),
            private_ip_address: "10.0.0.1".to_string().into(),
            node: "n1".to_string().into(),
            pod_uid: "u".to_string().into(),
            last_error: "e".to_string().into(),
            pod_last_seen: t.clone().into(),
            release_at: t.into(),
            bandwidth: 5.into(),
            isp: "BGP".to_string().into(),
            internet_charge_type: "PayByTraffic".to_string().into(),
            bandwidth_package_id: "cbwp-1".to_string().into(),
            taken_by: "ns/p".to_string().into(),
        };
        let written = serde_json::to_value(&full).expect("serializes");
        let read: PodEIPStatus = serde_json::from_value(written.clone()).expect("reads back");
        let again = serde_json::to_value(&read).expect("serializes");
        // every key written is one the status reads, with the same value
        assert_eq!(again, written);

        // keep leaves a key out, clear writes null
        let p = PodEIPStatusPatch {
            last_error: Change::Clear,
            ..PodEIPStatusPatch::phase(PodEIPPhase::Failed)
        };
        assert_eq!(
            serde_json::to_value(&p).expect("serializes"),
            serde_json::json!({"phase": "Failed", "lastError": null})
        );
    }

    #[test]
    fn committed_crd_matches_the_type() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(CRD_PATH);
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} is missing ({e}); run `make crds`", path.display()));
        let generated = crd_yaml().expect("generates");
        assert!(
            committed == generated,
            "{CRD_PATH} is out of date with the PodEIP type; run `make crds` and commit the result"
        );
    }

    #[test]
    fn crd_shape() {
        let yaml = crd_yaml().expect("generates");
        let crd: CustomResourceDefinition = serde_saphyr::from_str(&yaml).expect("parses back");
        assert_eq!(crd.metadata.name.as_deref(), Some("podeips.kube-eip.io"));
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.kind, "PodEIP");
        assert_eq!(crd.spec.names.short_names, Some(vec!["peip".to_owned()]));
        let [v] = crd.spec.versions.as_slice() else {
            panic!("one version");
        };
        assert_eq!(v.name, VERSION);
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let columns: Vec<(&str, &str)> = v
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            columns,
            [
                ("EIP", ".status.eipAddress"),
                ("ALLOCATION", ".status.allocationId"),
                ("PHASE", ".status.phase"),
                ("NODE", ".status.node"),
                ("AGE", ".metadata.creationTimestamp"),
            ]
        );
        assert_eq!(PodEIP::group(&()), GROUP);
        assert_eq!(PodEIP::version(&()), VERSION);
    }

    #[test]
    fn json_is_camel_case() {
        let mut p = PodEIP::new(
            "web-0",
            PodEIPSpec {
                allocation_id: Some("eip-1".into()),
                eip_type: PodEIPType::Static,
                release_strategy: PodEIPReleaseStrategy::Ttl,
                release_after: Some("10m".into()),
            },
        );
        let seen: Time = serde_json::from_str("\"2026-11-23T12:00:00Z\"").expect("time");
        p.status = Some(PodEIPStatus {
            phase: Some(PodEIPPhase::Bound),
            eip_address: Some("47.96.1.2".into()),
            network_interface_id: Some("eni-1".into()),
            private_ip_address: Some("10.0.0.5".into()),
            pod_uid: Some("u1".into()),
            pod_last_seen: Some(seen),
            bandwidth_package_id: Some("cbwp-1".into()),
            ..PodEIPStatus::default()
        });
        let v = serde_json::to_value(&p).expect("encodes");
        assert_eq!(v["apiVersion"], "kube-eip.io/v1alpha1");
        assert_eq!(v["kind"], "PodEIP");
        assert_eq!(v["spec"]["allocationId"], "eip-1");
        assert_eq!(v["spec"]["type"], "Static");
        assert_eq!(v["spec"]["releaseStrategy"], "TTL");
        assert_eq!(v["spec"]["releaseAfter"], "10m");
        assert_eq!(v["status"]["phase"], "Bound");
        assert_eq!(v["status"]["eipAddress"], "47.96.1.2");
        assert_eq!(v["status"]["networkInterfaceId"], "eni-1");
        assert_eq!(v["status"]["privateIpAddress"], "10.0.0.5");
        assert_eq!(v["status"]["podUid"], "u1");
        assert_eq!(v["status"]["podLastSeen"], "2026-11-23T12:00:00Z");
        assert_eq!(v["status"]["bandwidthPackageId"], "cbwp-1");
        let back: PodEIP = serde_json::from_value(v).expect("decodes");
        assert_eq!(back, p);
    }

    #[test]
    fn spec_from_request_round_trips_the_release_strategy() {
        let ann = |pairs: &[(&str, &str)]| -> EipRequest {
            let m: BTreeMap<String, String> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            EipRequest::from_annotations(&m)
                .ok()
                .flatten()
                .expect("valid request")
        };
        use crate::annotations::{POD_EIP_INSTANCEID, POD_EIP_RELEASE_STRATEGY, POD_WITH_EIP};
        let cases = [
            (
                ann(&[(POD_WITH_EIP, "true")]),
                PodEIPType::Auto,
                PodEIPReleaseStrategy::Follow,
                None,
            ),
            (
                ann(&[(POD_WITH_EIP, "true"), (POD_EIP_RELEASE_STRATEGY, "1h30m")]),
                PodEIPType::Auto,
                PodEIPReleaseStrategy::Ttl,
                Some("1h30m"),
            ),
            (
                ann(&[
                    (POD_EIP_INSTANCEID, "eip-9"),
                    (POD_EIP_RELEASE_STRATEGY, "Never"),
                ]),
                PodEIPType::Static,
                PodEIPReleaseStrategy::Never,
                None,
            ),
        ];
        for (req, ty, strategy, after) in cases {
            let spec = PodEIPSpec::from_request(&req);
            assert_eq!(spec.eip_type, ty);
            assert_eq!(spec.release_strategy, strategy);
            assert_eq!(spec.release_after.as_deref(), after);
            assert_eq!(spec.release_strategy().ok(), Some(req.release_strategy));
        }
        let broken = PodEIPSpec {
            allocation_id: None,
            eip_type: PodEIPType::Auto,
            release_strategy: PodEIPReleaseStrategy::Ttl,
            release_after: Some("soon".into()),
        };
        let err = broken.release_strategy().err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("spec.releaseAfter")));
        assert_eq!(broken.release_after(), None);
    }

    #[test]
    fn phases_display_as_serialized() {
        for phase in [
            PodEIPPhase::Pending,
            PodEIPPhase::Allocating,
            PodEIPPhase::Associating,
            PodEIPPhase::Bound,
            PodEIPPhase::Releasing,
            PodEIPPhase::Retained,
            PodEIPPhase::Released,
            PodEIPPhase::Failed,
        ] {
            assert_eq!(
                serde_json::to_value(phase).ok(),
                Some(serde_json::Value::String(phase.to_string()))
            );
        }
    }
}
