//! The one Warning event on ConfigMap `kube-system/eni-config` while it is invalid. In: every
//! change of the ConfigMap as the watch applied it. Out: an `InvalidEniConfig` Warning on the
//! ConfigMap, published once per problem by the replica that serves the scheduler (the
//! leader, with leader election), so operators who look at the ConfigMap see why the EIP
//! feature is off.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use eip_core::names::REASON_INVALID_ENI_CONFIG;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::watch;

use crate::http::Readiness;
use crate::watch::EniFacts;

/// How often a standby looks again whether it has become the leader.
const LEADER_RECHECK: Duration = Duration::from_secs(1);

/// Who publishes the extender's events.
pub fn reporter() -> Reporter {
    Reporter {
        controller: "eip-extender".into(),
        instance: std::env::var("POD_NAME").ok(),
    }
}

/// Publishes until the task is dropped.
pub async fn run(
    client: kube::Client,
    mut changes: watch::Receiver<EniFacts>,
    ready: Arc<Readiness>,
) {
    // the problem last published (forgotten once the ConfigMap is valid again)
    let mut published: Option<String> = None;
    loop {
        let facts = changes.borrow_and_update().clone();
        match (&facts.switches.invalid, &facts.object) {
            (Some(problem), Some(object))
                if published.as_ref() != Some(problem) && is_leader(&ready) =>
            {
                let ev = Event {
                    type_: EventType::Warning,
                    reason: REASON_INVALID_ENI_CONFIG.to_owned(),
                    note: facts.switches.feature_off().map(|off| off.to_string()),
                    action: "Validate".to_owned(),
                    secondary: None,
                };
                // a Recorder of its own: kube's Recorder folds events that differ only in
                // their note into one series that keeps the first note
                let recorder = Recorder::new(client.clone(), reporter());
                match recorder.publish(&ev, object).await {
                    Ok(()) => published = Some(problem.clone()),
                    Err(e) => {
                        tracing::warn!(error = %e, "failed to publish the eni-config event; retrying")
                    }
                }
            }
            (None, _) => published = None,
            _ => {}
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            // not published yet (a standby, or a failed publish): look again shortly
            _ = tokio::time::sleep(LEADER_RECHECK), if facts.switches.invalid.is_some() && published != facts.switches.invalid => {}
        }
    }
}

/// Without leader election every replica serves; with it, only the leader.
fn is_leader(ready: &Readiness) -> bool {
    !ready.leader_election.load(Ordering::Acquire) || ready.leader.load(Ordering::Acquire)
}
