//! `eip-extender`: the kube-scheduler HTTP extender for kube-eip.
//!
//! In: scheduler calls (`filter`, `prioritize`, `bind`, `preempt`), Node/Pod/PodEIP/
//! `eni-config` watch events, and a periodic read-only cloud view (EIPs in the region,
//! vSwitch free IPs). Out: node verdicts with reasons a user can act on, scores,
//! `pods/binding` calls made under a per-node guard with reservations so concurrent binds
//! never over-commit, and operational endpoints (health, readiness, metrics, debug state).

pub mod bind;
pub mod cloudview;
pub mod config;
pub mod decide;
pub mod error;
pub mod events;
pub mod facts;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod owners;
pub mod server;
pub mod state;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod watch;
pub mod wire;

pub use config::{Cli, Settings};
pub use error::Error;
pub use server::{RunningExtender, run, start};
