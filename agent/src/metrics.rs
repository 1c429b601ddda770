//! Prometheus metrics of the agent (prometheus-client), and the cloud call observer that
//! feeds them.

use std::sync::Mutex;

use eip_cloud::metrics::{CallObserver, CallRecord};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels `action`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// The action.
    pub action: String,
}

/// Labels `action`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The cloud action.
    pub action: String,
    /// `Success`, an error code, `Timeout` or `Transport`.
    pub outcome: String,
}

/// Labels `code`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    /// The error code.
    pub code: String,
}

/// Every metric the agent exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    /// EIPs allocated.
    pub allocations: Counter,
    /// EIPs released.
    pub releases: Counter,
    /// Steps of the state machine executed, by action.
    pub actions: Family<ActionLabels, Counter>,
    /// Failed steps by error code.
    pub failures: Family<CodeLabels, Counter>,
    /// Cloud call attempts by action and outcome.
    pub cloud_calls: Family<CallLabels, Counter>,
    /// Cloud call latency by action.
    pub cloud_latency: Family<ActionLabels, Histogram>,
    /// Seconds from the pod having an IP to the EIP being published.
    pub ip_to_bound: Histogram,
    /// Garbage collection actions by kind.
    pub gc_actions: Family<ActionLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("eip_agent");
        let allocations = Counter::default();
        let releases = Counter::default();
        let actions = Family::<ActionLabels, Counter>::default();
        let failures = Family::<CodeLabels, Counter>::default();
        let cloud_calls = Family::<CallLabels, Counter>::default();
        let cloud_latency = Family::<ActionLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        let ip_to_bound = Histogram::new(exponential_buckets(0.005, 2.0, 16));
        let gc_actions = Family::<ActionLabels, Counter>::default();
        registry.register("allocations", "EIPs allocated", allocations.clone());
        registry.register("releases", "EIPs released", releases.clone());
        registry.register("actions", "State machine steps executed", actions.clone());
        registry.register("failures", "Failed steps by error code", failures.clone());
        registry.register(
            "cloud_calls",
            "Cloud call attempts by action and outcome",
            cloud_calls.clone(),
        );
        registry.register(
            "cloud_call_seconds",
            "Cloud call latency by action",
            cloud_latency.clone(),
        );
        registry.register(
            "pod_ip_to_bound_seconds",
            "Time from the pod IP to the EIP published on the pod",
            ip_to_bound.clone(),
        );
        registry.register(
            "gc_actions",
            "Garbage collection actions",
            gc_actions.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            allocations,
            releases,
            actions,
            failures,
            cloud_calls,
            cloud_latency,
            ip_to_bound,
            gc_actions,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let reg = match self.registry.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
            out.clear();
        }
        out
    }

    /// Counts one executed step.
    pub fn action(&self, action: &str) {
        self.actions
            .get_or_create(&ActionLabels {
                action: action.to_owned(),
            })
            .inc();
    }

    /// Counts one failure.
    pub fn failure(&self, code: String) {
        self.failures.get_or_create(&CodeLabels { code }).inc();
    }

    /// Counts one GC action.
    pub fn gc(&self, action: &str) {
        self.gc_actions
            .get_or_create(&ActionLabels {
                action: action.to_owned(),
            })
            .inc();
    }
}

/// Feeds cloud call attempts into [`Metrics`].
#[derive(Debug)]
pub struct CloudObserver(pub std::sync::Arc<Metrics>);

impl CallObserver for CloudObserver {
    fn observe(&self, record: &CallRecord<'_>) {
        self.0
            .cloud_calls
            .get_or_create(&CallLabels {
                action: record.action.to_owned(),
                outcome: record.outcome.label().to_owned(),
            })
            .inc();
        self.0
            .cloud_latency
            .get_or_create(&ActionLabels {
                action: record.action.to_owned(),
            })
            .observe(record.duration.as_secs_f64());
    }
}
