//! Workload fixtures that read like sentences:
//! `deployment("web").replicas(3).with_eip()`, `statefulset("db").replicas(2)`,
//! `pod("p").on("n1").priority(10).readiness_gate(EIP_CONDITION)`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

/// The label every fixture pod carries, `app: <workload name>`.
pub const APP_LABEL: &str = "app";

/// What every fixture shares: the pod template.
#[derive(Debug, Clone)]
pub struct Template {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    spec: Value,
}

impl Template {
    fn new(app: &str) -> Self {
        Template {
            labels: BTreeMap::from([(APP_LABEL.to_string(), app.to_string())]),
            annotations: BTreeMap::new(),
            spec: json!({
                "containers": [{"name": "app", "image": "registry.invalid/pause:3.9"}],
                "terminationGracePeriodSeconds": 30,
            }),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "metadata": {"labels": self.labels, "annotations": self.annotations},
            "spec": self.spec,
        })
    }
}

macro_rules! template_setters {
    () => {
        /// Asks kube-eip for a new EIP (`k8s.aliyun.com/pod-with-eip: "true"`).
        pub fn with_eip(self) -> Self {
            self.annotation(eip_core::annotations::POD_WITH_EIP, "true")
        }

        /// Adds a pod annotation.
        pub fn annotation(mut self, key: &str, value: &str) -> Self {
            self.template.annotations.insert(key.to_string(), value.to_string());
            self
        }

        /// Adds a pod label.
        pub fn label(mut self, key: &str, value: &str) -> Self {
            self.template.labels.insert(key.to_string(), value.to_string());
            self
        }

        /// Adds a readiness gate on this pod condition type.
        pub fn readiness_gate(mut self, condition_type: &str) -> Self {
            let gates = self.template.spec["readinessGates"].as_array().cloned().unwrap_or_default();
            let mut gates = gates;
            gates.push(json!({"conditionType": condition_type}));
            self.template.spec["readinessGates"] = Value::Array(gates);
            self
        }

        /// Sets `spec.priority` (as a PriorityClass admission would).
        pub fn priority(mut self, priority: i32) -> Self {
            self.template.spec["priority"] = json!(priority);
            self
        }

        /// Runs in the node's network namespace (takes no pod IP).
        pub fn host_network(mut self) -> Self {
            self.template.spec["hostNetwork"] = json!(true);
            self
        }

        /// Sets `terminationGracePeriodSeconds`.
        pub fn grace_period(mut self, seconds: i64) -> Self {
            self.template.spec["terminationGracePeriodSeconds"] = json!(seconds);
            self
        }

        /// Restricts placement with a `nodeSelector` entry.
        pub fn node_selector(mut self, key: &str, value: &str) -> Self {
            self.template.spec["nodeSelector"][key] = json!(value);
            self
        }

        /// Sets `spec.schedulerName`.
        pub fn scheduler_name(mut self, name: &str) -> Self {
            self.template.spec["schedulerName"] = json!(name);
            self
        }
    };
}

/// A Deployment fixture.
#[derive(Debug, Clone)]
pub struct DeploymentFixture {
    name: String,
    replicas: i32,
    template: Template,
}

/// A Deployment named `name` with one replica.
pub fn deployment(name: &str) -> DeploymentFixture {
    DeploymentFixture {
        name: name.to_string(),
        replicas: 1,
        template: Template::new(name),
    }
}

impl DeploymentFixture {
    /// Sets the replica count.
    pub fn replicas(mut self, n: i32) -> Self {
        self.replicas = n;
        self
    }

    template_setters!();

    /// The object.
    pub fn build(&self) -> anyhow::Result<Deployment> {
        Ok(serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": self.name, "labels": {APP_LABEL: self.name}},
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": {APP_LABEL: self.name}},
                "template": self.template.to_json(),
            }
        }))?)
    }
}

/// A StatefulSet fixture.
#[derive(Debug, Clone)]
pub struct StatefulSetFixture {
    name: String,
    replicas: i32,
    template: Template,
}

/// A StatefulSet named `name` with one replica.
pub fn statefulset(name: &str) -> StatefulSetFixture {
    StatefulSetFixture {
        name: name.to_string(),
        replicas: 1,
        template: Template::new(name),
    }
}

impl StatefulSetFixture {
    /// Sets the replica count.
    pub fn replicas(mut self, n: i32) -> Self {
        self.replicas = n;
        self
    }

    template_setters!();

    /// The object.
    pub fn build(&self) -> anyhow::Result<StatefulSet> {
        Ok(serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": self.name, "labels": {APP_LABEL: self.name}},
            "spec": {
                "replicas": self.replicas,
                "serviceName": self.name,
                "selector": {"matchLabels": {APP_LABEL: self.name}},
                "template": self.template.to_json(),
            }
        }))?)
    }
}

/// A bare Pod fixture.
#[derive(Debug, Clone)]
pub struct PodFixture {
    name: String,
    template: Template,
}

/// A pod named `name`, left to the scheduler.
pub fn pod(name: &str) -> PodFixture {
    PodFixture {
        name: name.to_string(),
        template: Template::new(name),
    }
}

impl PodFixture {
    /// Places the pod on a node directly (`spec.nodeName`), bypassing the scheduler.
    pub fn on(mut self, node: &str) -> Self {
        self.template.spec["nodeName"] = json!(node);
        self
    }

    template_setters!();

    /// The object.
    pub fn build(&self) -> anyhow::Result<Pod> {
        let t = self.template.to_json();
        Ok(serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.name, "labels": t["metadata"]["labels"], "annotations": t["metadata"]["annotations"]},
            "spec": t["spec"],
        }))?)
    }
}
