//! Recording `core/v1` Events as the real components do (kube-scheduler's
//! `FailedScheduling`, kubelet's `FailedCreatePodSandBox`, controllers'
//! `SuccessfulCreate`), so tests and `kubectl get events` see them.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::PostParams;
use kube::{Api, Client, Resource, ResourceExt};

use crate::error::Error;

/// Event type `Normal`.
pub const NORMAL: &str = "Normal";
/// Event type `Warning`.
pub const WARNING: &str = "Warning";

/// Now, at the second precision of Kubernetes `Time` (RFC 3339 without fractions).
pub fn now_seconds() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// A reference to an object, as an event's `involvedObject`.
pub fn object_ref<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    obj.object_ref(&())
}

/// Who records: the component (`default-scheduler`, `kubelet`, ...) and, for kubelet,
/// the node.
#[derive(Debug, Clone)]
pub struct Reporter {
    /// `source.component` and `reportingComponent`.
    pub component: String,
    /// `source.host` (the node for kubelet events).
    pub host: Option<String>,
}

impl Reporter {
    /// A reporter with no host.
    pub fn new(component: impl Into<String>) -> Self {
        Reporter {
            component: component.into(),
            host: None,
        }
    }
}

/// Creates one Event about `object` in its namespace (`default` for cluster objects).
pub async fn record(
    client: &Client,
    reporter: &Reporter,
    object: ObjectReference,
    type_: &str,
    reason: &str,
    message: impl Into<String>,
) -> Result<(), Error> {
    let ns = object
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let now = jiff::Timestamp::now();
    let base = object.name.clone().unwrap_or_else(|| "object".to_string());
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!("{base}.{:x}", now.as_nanosecond())),
            namespace: Some(ns.clone()),
            ..ObjectMeta::default()
        },
        involved_object: object,
        reason: Some(reason.to_string()),
        message: Some(message.into()),
        type_: Some(type_.to_string()),
        count: Some(1),
        first_timestamp: Some(Time(now_seconds())),
        last_timestamp: Some(Time(now_seconds())),
        event_time: Some(MicroTime(now)),
        action: Some(reason.to_string()),
        source: Some(EventSource {
            component: Some(reporter.component.clone()),
            host: reporter.host.clone(),
        }),
        reporting_component: Some(reporter.component.clone()),
        reporting_instance: Some(
            reporter
                .host
                .clone()
                .unwrap_or_else(|| reporter.component.clone()),
        ),
        ..Event::default()
    };
    let name = event.name_any();
    Api::<Event>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &event)
        .await
        .map(|_| ())
        .map_err(Error::kube(format!("record event {name} in {ns}")))
}
