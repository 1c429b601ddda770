//! A Kubernetes cluster on one machine for tests and demos: an in-memory API server on loopback, node simulators playing kubelet and Terway IPAM against `eip-cloudsim`, a workload controller and a scheduler loop that calls the extender as kube-scheduler does. Production never uses this crate.
//!
//! In: a kube client (of [`apiserver`] or a real cluster), an `eip-cloudsim` admin handle,
//! a `KubeSchedulerConfiguration`. Out: the cluster's moving parts: [`nodesim`] (kubelet +
//! Terway IPAM per node), [`workloads`] (Deployments, ReplicaSets, StatefulSets),
//! [`scheduler`] (kube-scheduler towards extenders), with [`events`] and [`names`] shared
//! by them and [`error`] their error type; [`stack`] wires all of it with the real
//! `eip-extender` and `eip-agent` into what the `sandbox` binary runs.

pub mod apiserver;
pub mod error;
pub mod events;
pub mod names;
pub mod nodesim;
pub mod scheduler;
pub mod stack;
pub mod workloads;
