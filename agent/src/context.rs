//! What every reconcile of the agent shares: its tunables ([`AgentConfig`]), the cloud and
//! Kubernetes clients, the live `eni-config` switches, event publication with
//! de-duplication, the per-pod memory (first IP sighting, last cloud check, permanent
//! failures and their backoff), the debug view, and the crash-injection hook of the tests
//! ([`CrashPlan`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use eip_cloud::metadata::MetadataClient;
use eip_cloud::{Cloud, Waiter};
use eip_core::annotations::EipRequest;
use eip_core::names;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cloudops;
use crate::error::Error;
use crate::machine::Switches;
use crate::metrics::Metrics;

/// Tunables of the agent (the defaults are for production; tests shorten them).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// This node's name.
    pub node_name: String,
    /// The cluster id tagged on every EIP.
    pub cluster_id: String,
    /// Identity in the GC lease (defaults to the node name).
    pub identity: String,
    /// Run the cluster-wide garbage collection (when holding the lease).
    pub gc: bool,
    /// Period of the cluster-wide garbage collection.
    pub gc_period: Duration,
    /// How long an unaccounted EIP must stay unaccounted before the GC releases it.
    pub gc_grace: Duration,
    /// Lease duration of the GC leadership.
    pub lease_duration: Duration,
    /// Pause before looking again at an EIP in a transition.
    pub settle_interval: Duration,
    /// Requeue delay after a failed step.
    pub retry_interval: Duration,
    /// Requeue delay for a pod blocked on its named EIP.
    pub blocked_interval: Duration,
    /// Longest wait for an EIP to reach InUse/Available.
    pub wait_timeout: Duration,
    /// How often a Bound pod's EIP is re-checked in the cloud.
    pub resync_interval: Duration,
    /// Poll pacing of the shared waiter.
    pub waiter: eip_cloud::WaiterConfig,
    /// Least time between the starts of two shared look-ups of one kind (EIPs by id, EIPs
    /// on one ENI); see [`cloudops::Describer`].
    pub describe_spacing: Duration,
    /// Longest wait before trying again a pod whose last attempt failed permanently (a
    /// bandwidth package that does not exist, a RAM denial, ...); the wait starts at
    /// `retry_interval` and doubles up to this.
    pub permanent_backoff_max: Duration,
}

impl AgentConfig {
    /// Production defaults for this node and cluster.
    pub fn new(node_name: impl Into<String>, cluster_id: impl Into<String>) -> Self {
        let node_name = node_name.into();
        Self {
            identity: node_name.clone(),
            node_name,
            cluster_id: cluster_id.into(),
            gc: true,
            gc_period: Duration::from_secs(300),
            gc_grace: Duration::from_secs(600),
            lease_duration: Duration::from_secs(60),
            settle_interval: Duration::from_secs(1),
            retry_interval: Duration::from_secs(5),
            blocked_interval: Duration::from_secs(30),
            wait_timeout: Duration::from_secs(120),
            resync_interval: Duration::from_secs(600),
            waiter: eip_cloud::WaiterConfig::default(),
            describe_spacing: Duration::from_millis(50),
            permanent_backoff_max: Duration::from_secs(600),
        }
    }
}

/// A point at which a test makes the agent die (as if killed): `"before:Allocate"`,
/// `"after:Associate"`, ... (see [`Context::checkpoint`]). Used by the crash tests.
#[derive(Debug)]
pub struct CrashPlan {
    /// The checkpoint label.
    pub at: String,
    /// Crash at the n-th time the label is reached (1 = the first).
    pub nth: u32,
    hits: AtomicU32,
    fired: AtomicBool,
}

impl CrashPlan {
    /// Crash at the `nth` time `at` is reached.
    pub fn new(at: impl Into<String>, nth: u32) -> Self {
        Self {
            at: at.into(),
            nth: nth.max(1),
            hits: AtomicU32::new(0),
            fired: AtomicBool::new(false),
        }
    }

    /// Whether the crash happened.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

/// What the agent last did for one pod (the debug endpoint shows it).
#[derive(Debug, Clone, Serialize)]
pub struct DebugEntry {
    /// The last action decided.
    pub last_action: String,
    /// The record's phase after it.
    pub phase: Option<String>,
    /// The EIP.
    pub allocation_id: Option<String>,
    /// Last error.
    pub last_error: Option<String>,
}

/// Everything the reconcilers share.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// The cloud.
    pub cloud: Arc<dyn Cloud>,
    /// Shared waiter for async EIP states.
    pub waiter: Waiter,
    /// Shared look-ups of EIPs by id and by ENI.
    pub describer: cloudops::Describer,
    /// The metadata service (ENI lookup), when available.
    pub metadata: Option<MetadataClient>,
    /// This node's ECS instance id, when known.
    pub instance_id: Option<String>,
    /// Tunables.
    pub cfg: AgentConfig,
    /// `eni-config` switches (updated live by the ConfigMap watch).
    pub switches: RwLock<Switches>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    pub(crate) recorder: Recorder,
    pub(crate) warned: Mutex<HashSet<String>>,
    pub(crate) debug: Mutex<BTreeMap<String, DebugEntry>>,
    pub(crate) ip_seen: Mutex<HashMap<String, Instant>>,
    pub(crate) verified: Mutex<HashMap<String, Instant>>,
    /// Pods (by UID) whose last attempt failed permanently: not tried again before
    /// `retry_at` unless their request changes.
    pub(crate) permanent: Mutex<HashMap<String, PermanentFailure>>,
    pub(crate) crash: Option<Arc<CrashPlan>>,
    /// Cancelled when the agent is killed (crash tests) — everything stops at once.
    pub kill: CancellationToken,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("cfg", &self.cfg)
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

/// A pod whose last attempt failed in a way a retry cannot fix.
#[derive(Debug)]
pub(crate) struct PermanentFailure {
    /// The request that failed (a changed request is tried at once).
    request: EipRequest,
    /// Not before then.
    retry_at: Instant,
    /// The waits so far, doubling.
    backoff: backon::ExponentialBackoff,
}

/// Locks `m`, going on with the data of a poisoned lock (every critical section leaves it
/// consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// What to do after a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing until something changes.
    Idle,
    /// Look again after this long.
    After(Duration),
}

impl Context {
    /// Builds the shared context.
    pub fn new(
        client: Client,
        cloud: Arc<dyn Cloud>,
        metadata: Option<MetadataClient>,
        instance_id: Option<String>,
        cfg: AgentConfig,
        metrics: Arc<Metrics>,
        crash: Option<Arc<CrashPlan>>,
    ) -> Self {
        let waiter = Waiter::new(cloud.clone(), cfg.waiter);
        let describer = cloudops::Describer::new(cloud.clone(), cfg.describe_spacing);
        let recorder = Recorder::new(client.clone(), reporter(&cfg.node_name));
        Self {
            client,
            cloud,
            waiter,
            describer,
            metadata,
            instance_id,
            cfg,
            switches: RwLock::new(Switches::default()),
            metrics,
            recorder,
            warned: Mutex::new(HashSet::new()),
            debug: Mutex::new(BTreeMap::new()),
            ip_seen: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
            permanent: Mutex::new(HashMap::new()),
            crash,
            kill: CancellationToken::new(),
        }
    }

    /// The current switches.
    pub fn switches(&self) -> Switches {
        match self.switches.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the switches (ConfigMap watch).
    pub fn set_switches(&self, s: Switches) {
        match self.switches.write() {
            Ok(mut g) => *g = s,
            Err(p) => *p.into_inner() = s,
        }
    }

    /// The debug view: per pod, what was last done.
    pub fn debug_state(&self) -> BTreeMap<String, DebugEntry> {
        lock(&self.debug).clone()
    }

    /// A crash point: when the test's [`CrashPlan`] names this label, the agent is killed
    /// here (its kill token is cancelled and this future never completes).
    pub async fn checkpoint(&self, label: &str) {
        if let Some(plan) = &self.crash
            && plan.at == label
            && !plan.fired()
        {
            let n = plan.hits.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= plan.nth {
                plan.fired.store(true, Ordering::SeqCst);
                tracing::warn!(checkpoint = label, "crash plan: killing the agent here");
                self.kill.cancel();
                std::future::pending::<()>().await;
            }
        }
    }

    /// Publishes an event; warnings are published once per pod and message.
    pub async fn event(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
        action: &str,
    ) {
        if type_ == EventType::Warning {
            let key = format!(
                "{}/{}/{reason}/{note}",
                reference.uid.as_deref().unwrap_or_default(),
                reference.name.as_deref().unwrap_or_default()
            );
            if !lock(&self.warned).insert(key) {
                return;
            }
        }
        self.publish(reference, type_, reason, note, action).await;
    }

    /// A Warning event about a failed step, once per pod and error code (the messages
    /// carry request ids, so they never repeat word for word).
    pub async fn failure_event(&self, reference: &ObjectReference, err: &Error) {
        let mut note = err.to_string();
        if let Some(src) = std::error::Error::source(err) {
            note.push_str(": ");
            note.push_str(&src.to_string());
        }
        note.push_str(" (the agent keeps retrying)");
        self.failed_once(reference, "failure", &err.code(), note)
            .await;
    }

    /// An `EipFailed` Warning, once per pod, `kind` of failure and error `code`.
    async fn failed_once(&self, reference: &ObjectReference, kind: &str, code: &str, note: String) {
        let key = format!(
            "{}/{}/{kind}/{code}",
            reference.uid.as_deref().unwrap_or_default(),
            reference.name.as_deref().unwrap_or_default()
        );
        if !lock(&self.warned).insert(key) {
            return;
        }
        self.publish(
            reference,
            EventType::Warning,
            names::REASON_FAILED,
            note,
            "Reconcile",
        )
        .await;
    }

    /// How long the pod `uid` must still wait after a permanent failure of `request`
    /// (`None`: try now; a changed request is tried at once).
    pub(crate) fn permanent_hold(&self, uid: &str, request: &EipRequest) -> Option<Duration> {
        let map = lock(&self.permanent);
        let f = map.get(uid).filter(|f| f.request == *request)?;
        Some(f.retry_at.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }

    /// Records a permanent failure of `request` for the pod `uid`; returns the wait before
    /// the next try (doubling from `retry_interval` up to `permanent_backoff_max`).
    pub(crate) fn permanent_failed(&self, uid: &str, request: EipRequest) -> Duration {
        use backon::BackoffBuilder;
        let mut map = lock(&self.permanent);
        let fresh = || {
            backon::ExponentialBuilder::new()
                .with_min_delay(self.cfg.retry_interval)
                .with_max_delay(self.cfg.permanent_backoff_max)
                .with_factor(2.0)
                .without_max_times()
                .build()
        };
        let f = map
            .entry(uid.to_owned())
            .or_insert_with(|| PermanentFailure {
                request: request.clone(),
                retry_at: Instant::now(),
                backoff: fresh(),
            });
        if f.request != request {
            f.request = request;
            f.backoff = fresh();
        }
        let wait = f.backoff.next().unwrap_or(self.cfg.permanent_backoff_max);
        f.retry_at = Instant::now() + wait;
        wait
    }

    /// A Warning about a permanent failure, once per pod and error code.
    pub(crate) async fn permanent_event(
        &self,
        reference: &ObjectReference,
        code: &str,
        note: String,
    ) {
        self.failed_once(reference, "permanent", code, note).await;
    }

    /// Forgets what was remembered about a pod that is gone.
    pub fn forget(&self, key: &str, uid: &str) {
        lock(&self.ip_seen).remove(uid);
        lock(&self.verified).remove(uid);
        lock(&self.permanent).remove(uid);
        lock(&self.debug).remove(key);
        let prefix = format!("{uid}/");
        lock(&self.warned).retain(|k| !k.starts_with(&prefix));
    }

    pub(crate) async fn publish(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
        action: &str,
    ) {
        let ev = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: action.to_owned(),
            secondary: None,
        };
        // kube's Recorder folds events that differ only in their note into one series that
        // keeps the first note. A Warning is published once per pod, reason and note (see
        // `event`), so each one gets an Event of its own, with its own note.
        let fresh;
        let recorder = if type_ == EventType::Warning {
            fresh = Recorder::new(self.client.clone(), reporter(&self.cfg.node_name));
            &fresh
        } else {
            &self.recorder
        };
        if let Err(e) = recorder.publish(&ev, reference).await {
            tracing::warn!(error = %e, reason, "failed to publish an event");
        }
    }
}

/// Who publishes the agent's events.
fn reporter(node: &str) -> Reporter {
    Reporter {
        controller: "eip-agent".into(),
        instance: Some(node.to_owned()),
    }
}
