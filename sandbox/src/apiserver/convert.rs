//! Resources served as a view of another resource's storage, as the real
//! server does for `events.k8s.io/v1` Events (stored as core `v1` Events, so
//! `kubectl get events` and `kubectl describe` show what a kube-runtime
//! `Recorder` published).

use serde_json::{Map, Value};

use super::registry::{Registry, ResourceType};

/// `events.k8s.io/v1` field name and the core `v1` field it maps to
/// (upstream `k8s.io/kubernetes/pkg/apis/events/v1` conversions).
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// A served resource whose objects live in another resource's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// `events.k8s.io/v1` Events over core `v1` Events.
    EventsV1,
}

fn rename(v: &Value, pairs: &[(&str, &str)], api_version: &str, forward: bool) -> Value {
    let Some(m) = v.as_object() else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, val) in m {
        let renamed = pairs
            .iter()
            .find(|(a, b)| if forward { a == k } else { b == k })
            .map(|(a, b)| if forward { *b } else { *a })
            .unwrap_or(k.as_str());
        out.insert(renamed.to_string(), val.clone());
    }
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    Value::Object(out)
}

impl View {
    /// The view a served type is, if any.
    pub fn of(rt: &ResourceType) -> Option<Self> {
        (rt.group == "events.k8s.io" && rt.plural == "events").then_some(Self::EventsV1)
    }

    /// The type whose storage holds the objects.
    pub fn storage(self, reg: &Registry) -> Option<&ResourceType> {
        match self {
            Self::EventsV1 => reg.core("events"),
        }
    }

    /// A stored object as this view shows it.
    pub fn shown(self, stored: &Value) -> Value {
        match self {
            Self::EventsV1 => rename(stored, EVENT_FIELDS, "events.k8s.io/v1", false),
        }
    }

    /// An object in this view's shape as it is stored.
    pub fn stored(self, v: &Value) -> Value {
        match self {
            Self::EventsV1 => rename(v, EVENT_FIELDS, "v1", true),
        }
    }

    /// A field-selector label of this view as a label of the storage type.
    pub fn field_label(self, label: &str) -> String {
        match self {
            Self::EventsV1 => {
                let (head, tail) = label.split_once('.').unwrap_or((label, ""));
                let mapped = EVENT_FIELDS
                    .iter()
                    .find(|(a, _)| *a == head)
                    .map_or(head, |(_, b)| *b);
                if tail.is_empty() {
                    mapped.to_string()
                } else {
                    format!("{mapped}.{tail}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip_between_views() {
        let new = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                         "metadata": {"name": "e"}, "regarding": {"name": "p"}, "note": "n",
                         "reportingController": "c", "series": {"count": 2}});
        let core = View::EventsV1.stored(&new);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "n");
        assert_eq!(core["reportingComponent"], "c");
        assert_eq!(View::EventsV1.shown(&core), new);
        assert_eq!(
            View::EventsV1.field_label("regarding.name"),
            "involvedObject.name"
        );
        assert_eq!(View::EventsV1.field_label("reason"), "reason");
    }
}
