//! Leader election on a `coordination.k8s.io/v1` Lease: one active replica reports ready,
//! so a Service routes the scheduler to the instance whose reservations are authoritative.
//! Acquire when the lease is free or expired, renew while holding it; lose it on any
//! failed renewal (optimistic concurrency through `resourceVersion`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::core::ObjectMeta;

use crate::http::Readiness;

/// Lease timing.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity.
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub duration: Duration,
    /// How often to renew or retry.
    pub retry: Duration,
}

impl LeaseConfig {
    /// `eip-extender` in `namespace`, identity from `HOSTNAME` (the pod name) and the pid.
    pub fn new(namespace: impl Into<String>) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "eip-extender".to_string());
        Self {
            namespace: namespace.into(),
            name: "eip-extender".to_string(),
            identity: format!("{host}-{}", std::process::id()),
            duration: Duration::from_secs(15),
            retry: Duration::from_secs(2),
        }
    }
}

fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renew) = spec.renew_time.as_ref() else {
        return true;
    };
    let secs = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    let until = renew
        .0
        .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(secs))
        .unwrap_or(renew.0);
    until < now
}

/// One round: try to acquire or renew. Returns whether this replica holds the lease.
pub async fn try_hold(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let secs = i32::try_from(cfg.duration.as_secs()).unwrap_or(15);
    match api.get_opt(&cfg.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    namespace: Some(cfg.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(cfg.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let spec = lease.spec.clone().unwrap_or_default();
            let mine = spec.holder_identity.as_deref() == Some(cfg.identity.as_str());
            if !mine && !expired(&spec, now) && spec.holder_identity.is_some() {
                return Ok(false);
            }
            let mut next = spec.clone();
            if !mine {
                next.holder_identity = Some(cfg.identity.clone());
                next.acquire_time = Some(MicroTime(now));
                next.lease_transitions =
                    Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
            }
            next.renew_time = Some(MicroTime(now));
            next.lease_duration_seconds = Some(secs);
            lease.spec = Some(next);
            match api.replace(&cfg.name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// Hold the lease until the task is dropped, mirroring it into `ready.leader`.
pub async fn run(client: kube::Client, cfg: LeaseConfig, ready: Arc<Readiness>) {
    ready.leader_election.store(true, Ordering::Release);
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    loop {
        let held = match try_hold(&api, &cfg).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, lease = %cfg.name, "lease round failed");
                false
            }
        };
        let was = ready.leader.swap(held, Ordering::AcqRel);
        if held != was {
            tracing::info!(leader = held, identity = %cfg.identity, "leadership changed");
        }
        tokio::time::sleep(cfg.retry).await;
    }
}
