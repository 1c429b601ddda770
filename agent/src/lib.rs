//! `eip-agent`: the node-side allocator, run as a DaemonSet.
//!
//! In: the pods on its node (`spec.nodeName` field selector), their PodEIP records, the
//! `eni-config` ConfigMap, the ECS metadata service and the cloud (`eip-cloud`'s
//! [`Cloud`](eip_cloud::Cloud)). Out: EIPs allocated, associated, unbound and released;
//! PodEIP records written before and after every cloud call; the pod's output
//! annotations and `k8s.aliyun.com/eip` condition; events; node capacity annotations;
//! metrics and a debug view.
//!
//! [`machine`] is the pure allocation state machine; the rest adapts it to Kubernetes
//! and the cloud.

pub mod cli;
pub mod cloudops;
pub mod controller;
mod error;
pub mod http;
pub mod limiter;
pub mod machine;
pub mod metrics;
pub mod runner;

pub use error::Error;
