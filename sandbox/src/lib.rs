//! A Kubernetes cluster on one machine for tests and demos: an in-memory API server on loopback, node simulators playing kubelet and Terway IPAM against `eip-cloudsim`, a workload controller and a scheduler loop that calls the extender as kube-scheduler does. Production never uses this crate.
//! Not implemented yet.

pub mod apiserver;
pub mod error;
pub mod events;
pub mod names;
pub mod nodesim;
pub mod scheduler;
pub mod workloads;
