//! Leader election on a `coordination.k8s.io/v1` Lease through `kube-lease-manager`: one
//! active replica reports ready, so a Service routes the scheduler to the instance whose
//! reservations are authoritative. The crate acquires the Lease when it is free or expired
//! and renews it `grace` before it expires; this module mirrors its verdict into
//! [`Readiness::leader`], and restarts it (not leader meanwhile) if it ever stops.
//!
//! A replica that stops gracefully releases the Lease ([`Election::release`]), and a
//! standby re-reads the Lease every `retry`, so it takes over within that interval instead
//! of waiting for the lease to expire. A killed replica (its [`Election`] dropped) leaves
//! the Lease to expire.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseParams};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::http::Readiness;

/// How long a graceful stop waits for the Lease to be released.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// How often a standby re-reads the Lease (so it sees a released one), and the pause
    /// before restarting the election after it failed to start or stopped.
    pub retry: Duration,
}

impl LeaseConfig {
    /// `eip-extender` in `namespace`, identity from `HOSTNAME` (the pod name), the pid and
    /// a counter (two extenders in one process are two replicas); valid for 15 s, renewed
    /// 5 s before it expires, re-read by a standby every 2 s.
    pub fn new(namespace: impl Into<String>) -> Self {
        static INSTANCE: AtomicU64 = AtomicU64::new(0);
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "eip-extender".to_string());
        let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let identity = if n == 0 {
            format!("{host}-{}", std::process::id())
        } else {
            format!("{host}-{}-{n}", std::process::id())
        };
        Self {
            namespace: namespace.into(),
            name: "eip-extender".to_string(),
            identity,
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

/// This replica's part in the election, running in its own task. Dropping it aborts the
/// task and leaves a held Lease to expire (as a crash does); [`Election::release`] steps
/// down and releases it.
#[derive(Debug)]
pub struct Election {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Election {
    /// Take part in the election, mirroring it into `ready.leader`.
    pub fn start(client: kube::Client, cfg: LeaseConfig, ready: Arc<Readiness>) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(client, cfg, ready, stopped));
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// Graceful stop: not leader from now on, and the Lease released if this replica held
    /// it, so a standby takes over within its retry interval. Waits at most
    /// [`RELEASE_TIMEOUT`] for the API server; a Lease not released by then expires.
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(RELEASE_TIMEOUT, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!(
                "the leader Lease was not released within {RELEASE_TIMEOUT:?}; it will expire"
            );
        }
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Take part in the election until `stop` fires (then step down and release the Lease if
/// held) or the task is dropped, mirroring it into `ready.leader`.
///
/// The crate's `changed()` returns when this replica gains or loses the lease, and renews
/// it meanwhile. A standby's `changed()` would sleep until the holder's lease expires, so
/// a standby restarts it with a fresh manager (which reads the Lease anew) every `retry`:
/// a released Lease is taken within that interval. Any error (the API server unreachable,
/// a renewal refused) makes this replica not ready at once, before its lease can run out
/// and a standby take over; the election then starts again after `retry` with a fresh
/// manager (which finds the lease still ours if the trouble was short).
pub async fn run(
    client: kube::Client,
    cfg: LeaseConfig,
    ready: Arc<Readiness>,
    mut stop: oneshot::Receiver<()>,
) {
    ready.leader_election.store(true, Ordering::Release);
    loop {
        let manager = tokio::select! {
            biased;
            _ = &mut stop => return set_leader(&ready, &cfg, false),
            m = LeaseManager::new(
                client.clone(),
                cfg.name.clone(),
                cfg.namespace.clone(),
                cfg.params(),
                LeaseCreateMode::AutoCreate,
            ) => m,
        };
        match manager {
            Ok(manager) => loop {
                let held = ready.leader.load(Ordering::Acquire);
                let step = async {
                    if held {
                        manager.changed().await.map(Some)
                    } else {
                        // a standby: give up after `retry` and re-read the Lease
                        tokio::time::timeout(cfg.retry, manager.changed())
                            .await
                            .ok()
                            .transpose()
                    }
                };
                tokio::select! {
                    biased;
                    _ = &mut stop => {
                        set_leader(&ready, &cfg, false);
                        if held {
                            release(&manager, &cfg).await;
                        }
                        return;
                    }
                    r = step => match r {
                        Ok(Some(held)) => set_leader(&ready, &cfg, held),
                        // re-read the Lease with a fresh manager at once
                        Ok(None) => break,
                        Err(e) => {
                            set_leader(&ready, &cfg, false);
                            tracing::warn!(lease = %cfg.name, error = %e, "leader election failed; starting over");
                            if pause(&cfg, &mut stop).await {
                                return;
                            }
                            break;
                        }
                    },
                }
            },
            Err(e) => {
                tracing::warn!(lease = %cfg.name, error = %e, "cannot start leader election");
                if pause(&cfg, &mut stop).await {
                    return set_leader(&ready, &cfg, false);
                }
            }
        }
    }
}

/// Sleep `cfg.retry`; true when `stop` fired meanwhile.
async fn pause(cfg: &LeaseConfig, stop: &mut oneshot::Receiver<()>) -> bool {
    tokio::select! {
        _ = stop => true,
        _ = tokio::time::sleep(cfg.retry) => false,
    }
}

async fn release(manager: &LeaseManager, cfg: &LeaseConfig) {
    match manager.release().await {
        Ok(()) => {
            tracing::info!(lease = %cfg.name, identity = %cfg.identity, "released the leader Lease")
        }
        Err(e) => {
            tracing::warn!(lease = %cfg.name, error = %e, "cannot release the leader Lease; it will expire")
        }
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
