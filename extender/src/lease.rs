//! Leader election on a `coordination.k8s.io/v1` Lease through `kube-lease-manager`: one
//! active replica reports ready, so a Service routes the scheduler to the instance whose
//! reservations are authoritative. The crate acquires the Lease when it is free or expired
//! and renews it `grace` before it expires; this module mirrors its verdict into
//! [`Readiness::leader`], and restarts it (not leader meanwhile) if it ever stops.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseParams};

use crate::http::Readiness;

/// Lease name and timing.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity.
    pub identity: String,
    /// How long a lease stays valid without renewal (whole seconds, at least 2).
    pub duration: Duration,
    /// The holder renews this long before the lease expires (whole seconds, at least 1
    /// and less than `duration`); a standby takes an expired lease over.
    pub grace: Duration,
    /// Pause before restarting the election after it failed to start or stopped.
    pub retry: Duration,
}

impl LeaseConfig {
    /// `eip-extender` in `namespace`, identity from `HOSTNAME` (the pod name) and the pid;
    /// valid for 15 s, renewed 5 s before it expires.
    pub fn new(namespace: impl Into<String>) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "eip-extender".to_string());
        Self {
            namespace: namespace.into(),
            name: "eip-extender".to_string(),
            identity: format!("{host}-{}", std::process::id()),
            duration: Duration::from_secs(15),
            grace: Duration::from_secs(5),
            retry: Duration::from_secs(2),
        }
    }

    /// The crate's parameters: durations in whole seconds, brought into the range it
    /// accepts (`0 < grace < duration`) rather than refused.
    pub fn params(&self) -> LeaseParams {
        let duration = self.duration.as_secs().max(2);
        let grace = self.grace.as_secs().clamp(1, duration - 1);
        LeaseParams::new(self.identity.clone(), duration, grace)
    }
}

/// Take part in the election until the task is dropped, mirroring it into `ready.leader`.
///
/// The crate's `changed()` returns when this replica gains or loses the lease, and renews
/// it meanwhile. Any error (the API server unreachable, a renewal refused) makes this
/// replica not ready at once, before its lease can run out and a standby take over; the
/// election then starts again with a fresh manager, which reads the Lease anew (and finds
/// the lease still ours if the trouble was short). A stopped replica does not release the
/// lease: a standby takes over once it expires.
pub async fn run(client: kube::Client, cfg: LeaseConfig, ready: Arc<Readiness>) {
    ready.leader_election.store(true, Ordering::Release);
    loop {
        let manager = LeaseManager::new(
            client.clone(),
            cfg.name.clone(),
            cfg.namespace.clone(),
            cfg.params(),
            LeaseCreateMode::AutoCreate,
        )
        .await;
        match manager {
            Ok(manager) => loop {
                match manager.changed().await {
                    Ok(held) => set_leader(&ready, &cfg, held),
                    Err(e) => {
                        set_leader(&ready, &cfg, false);
                        tracing::warn!(lease = %cfg.name, error = %e, "leader election failed; starting over");
                        break;
                    }
                }
            },
            Err(e) => {
                tracing::warn!(lease = %cfg.name, error = %e, "cannot start leader election")
            }
        }
        tokio::time::sleep(cfg.retry).await;
    }
}

fn set_leader(ready: &Readiness, cfg: &LeaseConfig, held: bool) {
    let was = ready.leader.swap(held, Ordering::AcqRel);
    if held != was {
        tracing::info!(leader = held, identity = %cfg.identity, "leadership changed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_are_brought_into_range() {
        let cfg = |d: u64, g: u64| LeaseConfig {
            duration: Duration::from_secs(d),
            grace: Duration::from_secs(g),
            ..LeaseConfig::new("ns")
        };
        // LeaseParams::new panics outside 0 < grace < duration; these must not
        let cases = [
            ((0, 0), (2, 1)),
            ((1, 5), (2, 1)),
            ((2, 2), (2, 1)),
            ((15, 5), (15, 5)),
            ((15, 30), (15, 14)),
            ((u64::MAX, 0), (u64::MAX, 1)),
        ];
        for ((d, g), (want_d, want_g)) in cases {
            let c = cfg(d, g);
            let want = LeaseParams::new(c.identity.clone(), want_d, want_g);
            assert_eq!(c.params(), want, "duration {d}, grace {g}");
        }
    }
}
