//! Pure domain of kube-eip: annotation keys and their parsing, `eni_conf` parsing,
//! the capacity model, the PodEIP custom resource type and the scheduler-extender wire
//! types. In: Kubernetes object metadata and JSON. Out: validated requests and decisions.
//! No network, no async runtime.
