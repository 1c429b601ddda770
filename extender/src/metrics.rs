//! Prometheus metrics: requests and latency per verb, rejections by reason, bind results,
//! reservations, cache sizes and the cloud view's age.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::decide::ReasonKind;
use crate::state::ClusterState;

/// Labels of per-verb metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    /// filter, prioritize, bind, preempt.
    pub verb: &'static str,
    /// ok or error.
    pub outcome: &'static str,
}

/// Labels of rejection counts.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The [`ReasonKind`] label.
    pub reason: &'static str,
}

/// Labels of latency.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    /// The verb.
    pub verb: &'static str,
}

/// Every metric the extender exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<VerbLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    rejections: Family<ReasonLabels, Counter>,
    reservations: Gauge,
    nodes: Gauge,
    pods: Gauge,
    cloud_age: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("eip_extender");
        let requests = Family::<VerbLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let rejections = Family::<ReasonLabels, Counter>::default();
        let reservations = Gauge::default();
        let nodes = Gauge::default();
        let pods = Gauge::default();
        let cloud_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "requests",
            "Scheduler calls by verb and outcome",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time spent handling scheduler calls, by verb",
            latency.clone(),
        );
        registry.register(
            "rejections",
            "Nodes rejected, by reason",
            rejections.clone(),
        );
        registry.register(
            "reservations",
            "Slots reserved by bind and not yet seen by the pod watch",
            reservations.clone(),
        );
        registry.register("cached_nodes", "Nodes in the view", nodes.clone());
        registry.register("cached_pods", "Pods in the view", pods.clone());
        registry.register(
            "cloud_view_age_seconds",
            "Age of the cloud view (-1 before the first refresh)",
            cloud_age.clone(),
        );
        for k in ReasonKind::ALL {
            let _ = rejections.get_or_create(&ReasonLabels { reason: k.as_str() });
        }
        Self {
            registry,
            requests,
            latency,
            rejections,
            reservations,
            nodes,
            pods,
            cloud_age,
        }
    }

    /// Count one call and its latency.
    pub fn observe(&self, verb: &'static str, ok: bool, seconds: f64) {
        self.requests
            .get_or_create(&VerbLabels {
                verb,
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels { verb })
            .observe(seconds);
    }

    /// Count one rejected node.
    pub fn rejected(&self, kind: ReasonKind) {
        self.rejections
            .get_or_create(&ReasonLabels {
                reason: kind.as_str(),
            })
            .inc();
    }

    /// Count `n` nodes rejected for the same reason.
    pub fn rejected_many(&self, kind: ReasonKind, n: u64) {
        self.rejections
            .get_or_create(&ReasonLabels {
                reason: kind.as_str(),
            })
            .inc_by(n);
    }

    /// Refresh the gauges from the view and encode everything in the text format.
    pub fn render(&self, state: &ClusterState) -> String {
        self.reservations
            .set(i64::try_from(state.reservation_count()).unwrap_or(i64::MAX));
        self.nodes
            .set(i64::try_from(state.node_count()).unwrap_or(i64::MAX));
        self.pods
            .set(i64::try_from(state.pod_count()).unwrap_or(i64::MAX));
        self.cloud_age
            .set(state.cloud_view_age().map_or(-1.0, |d| d.as_secs_f64()));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
