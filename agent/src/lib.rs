//! `eip-agent`: the node-side allocator, run as a DaemonSet.
//!
//! In: the pods on its node (`spec.nodeName` field selector), the PodEIP records labelled
//! for its node (`kube-eip.io/node`; a record is also read by namespace/name when its pod
//! comes back on this node), the `eni-config` ConfigMap, the ECS metadata service and the
//! cloud (`eip-cloud`'s [`Cloud`](eip_cloud::Cloud)); while it holds the GC Lease, a list of
//! every pod and PodEIP of the cluster. Out: EIPs allocated, associated, unbound and
//! released; PodEIP records written before and after every cloud call; the pod's output
//! annotations and `k8s.aliyun.com/eip` condition; events; node capacity annotations;
//! liveness and readiness, metrics and a debug view.
//!
//! [`machine`] is the pure allocation state machine; the rest adapts it to Kubernetes
//! and the cloud.

pub mod cli;
pub mod cloudops;
pub mod context;
pub mod controller;
mod error;
mod execute;
pub mod http;
pub mod limiter;
pub mod machine;
pub mod metrics;
mod publish;
mod record;
pub mod runner;

pub use error::Error;
