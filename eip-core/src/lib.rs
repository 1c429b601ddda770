//! Pure domain of kube-eip: annotation keys and their parsing, `eni_conf` parsing,
//! the capacity model, the PodEIP custom resource type and the scheduler-extender wire
//! types. In: Kubernetes object metadata and JSON. Out: validated requests and decisions.
//! No network, no async runtime.
//!
//! * [`annotations`]: pod input annotations → [`annotations::EipRequest`] or every error.
//! * [`names`]: output annotations, condition, finalizers, node annotations/labels, EIP tags.
//! * [`eni_config`]: the `eni_conf` JSON of ConfigMap `kube-system/eni-config`.
//! * [`capacity`]: pod IP slots, zone IPs, region EIP quota; filter and preemption verdicts.
//! * [`podeip`]: the `PodEIP` custom resource (`kube-eip.io/v1alpha1`).
//! * [`extender`]: kube-scheduler extender wire types and the `extenders` config entry.
//! * [`workload`]: whether a pod's workload may use a named EIP (one pod only).

pub mod annotations;
pub mod capacity;
pub mod eni_config;
mod error;
pub mod extender;
pub mod names;
pub mod podeip;
pub mod workload;

pub use error::Error;
