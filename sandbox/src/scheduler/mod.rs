//! A scheduler loop that behaves like kube-scheduler towards extenders.
//!
//! In: pods without `spec.nodeName` whose `schedulerName` is ours, the nodes, and a
//! `KubeSchedulerConfiguration` file. Out: bindings (through `pods/binding` or the binder
//! extender), `FailedScheduling` / `Scheduled` / `Preempted` events, the pod's
//! `PodScheduled` condition and `status.nominatedNodeName`, and evicted victims.
//!
//! One pod at a time, as `ScheduleOne` does: in-tree filters ([`fit`]), each interested
//! extender's filter in order (ignorable ones last), prioritize (skipped for a single
//! feasible node; extender scores x weight x 10 added to an in-tree score; errors
//! ignored), then an asynchronous bind while the next pod is scheduled (the pod is
//! *assumed* on its node meanwhile). Failures: a `FitError` (no node fits) runs
//! DefaultPreemption (with the extenders' preempt verbs) and leaves the pod unschedulable
//! until a cluster event (a node change, an assigned pod changing or going away) or
//! `max_unschedulable`; any other error (extender down, `Error` answered, bind refused)
//! is a `SchedulerError` retried after backoff. Backoff doubles from `initial_backoff`
//! to `max_backoff` per attempt (kube-scheduler: 1 s to 10 s).
//!
//! Approximations, on purpose: the only resource accounted is the pod count against
//! `allocatable.pods`; the in-tree score is the share of free pod slots; ties go to the
//! first node by name rather than at random; `percentageOfNodesToScore` is 100 %;
//! profiles other than `default-scheduler` are not served.

pub mod config;
pub mod extender;
pub mod fit;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::events::{self, Reporter};
use crate::names::{DEFAULT_SCHEDULER_NAME, condition, reason};
pub use config::SchedulerConfig;
pub use extender::{Extender, FilterOutcome};
use fit::{Code, NodeStatus};

/// How the scheduler loop runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The configuration (extenders).
    pub config: SchedulerConfig,
    /// `podInitialBackoffSeconds` (kube-scheduler default 1 s).
    pub initial_backoff: Duration,
    /// `podMaxBackoffSeconds` (kube-scheduler default 10 s).
    pub max_backoff: Duration,
    /// `podMaxInUnschedulablePodsDuration` (kube-scheduler default 5 min): an
    /// unschedulable pod is retried after this even without a cluster event.
    pub max_unschedulable: Duration,
    /// The profile name served (`default-scheduler`).
    pub scheduler_name: String,
}

impl SchedulerOptions {
    /// kube-scheduler's defaults with this configuration.
    pub fn new(config: SchedulerConfig) -> Self {
        SchedulerOptions {
            config,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_unschedulable: Duration::from_secs(300),
            scheduler_name: DEFAULT_SCHEDULER_NAME.to_string(),
        }
    }

    /// The same timings divided by `factor` (tests run them at 1/10 or 1/20).
    pub fn scaled_down(mut self, factor: u32) -> Self {
        let f = factor.max(1);
        self.initial_backoff /= f;
        self.max_backoff /= f;
        self.max_unschedulable /= f;
        self
    }
}

/// A running scheduler loop; dropping it does not stop it, [`RunningScheduler::shutdown`]
/// does.
#[derive(Debug)]
pub struct RunningScheduler {
    token: CancellationToken,
    task: JoinHandle<Result<(), Error>>,
}

impl RunningScheduler {
    /// Stops the loop and waits for it.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.token.cancel();
        match self.task.await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    }
}

/// Per-pod queue state (kube-scheduler's backoff and unschedulable queues, merged).
#[derive(Debug, Clone)]
struct QueueEntry {
    attempts: u32,
    backoff_until: Instant,
    /// For unschedulable pods: the cluster event counter seen at the failed attempt.
    unschedulable_at: Option<(u64, Instant)>,
}

/// The outcome of a bind running in the background.
#[derive(Debug)]
struct BindDone {
    pod: Pod,
    node: String,
    result: Result<(), String>,
}

/// Why a scheduling attempt failed.
#[derive(Debug)]
enum Failure {
    /// No node fits (kube-scheduler `FitError`), with the nominated node if preemption
    /// picked one.
    Fit {
        message: String,
        nominated: Option<String>,
    },
    /// Anything else.
    Error(String),
}

/// The scheduler loop.
pub struct Scheduler {
    client: Client,
    opts: SchedulerOptions,
    extenders: Vec<Extender>,
    reporter: Reporter,
    queue: HashMap<String, QueueEntry>,
    /// Pods whose bind is in flight: uid -> node.
    assumed: HashMap<String, String>,
    cluster_events: Arc<AtomicU64>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("opts", &self.opts)
            .field("extenders", &self.extenders)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler for this cluster.
    pub fn new(client: Client, opts: SchedulerOptions) -> Self {
        let extenders = opts
            .config
            .extenders_in_call_order()
            .into_iter()
            .map(Extender::new)
            .collect();
        Scheduler {
            client,
            reporter: Reporter::new(opts.scheduler_name.clone()),
            opts,
            extenders,
            queue: HashMap::new(),
            assumed: HashMap::new(),
            cluster_events: Arc::new(AtomicU64::new(0)),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Starts the loop on the current runtime.
    pub fn spawn(self) -> RunningScheduler {
        let token = CancellationToken::new();
        let task = tokio::spawn(self.run(token.clone()));
        RunningScheduler { token, task }
    }

    /// Runs until `token` is cancelled.
    pub async fn run(mut self, token: CancellationToken) -> Result<(), Error> {
        let watchers = self.spawn_watchers(token.clone());
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<BindDone>();
        loop {
            if token.is_cancelled() {
                break;
            }
            while let Ok(done) = done_rx.try_recv() {
                self.bind_finished(done).await;
            }
            let next_wake = match self.cycle(&done_tx).await {
                Ok(Some(when)) => when,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler cycle failed");
                    Instant::now() + self.opts.initial_backoff
                }
            };
            tokio::select! {
                _ = token.cancelled() => break,
                _ = self.wake.notified() => {}
                Some(done) = done_rx.recv() => self.bind_finished(done).await,
                _ = tokio::time::sleep_until(next_wake) => {}
            }
        }
        for w in watchers {
            w.abort();
        }
        Ok(())
    }

    /// Watches pods and nodes: every change wakes the loop; node changes and changes of
    /// assigned pods count as cluster events that requeue unschedulable pods.
    fn spawn_watchers(&self, token: CancellationToken) -> Vec<JoinHandle<()>> {
        let pods = {
            let (wake, counter) = (self.wake.clone(), self.cluster_events.clone());
            let api: Api<Pod> = Api::all(self.client.clone());
            let token = token.clone();
            tokio::spawn(async move {
                let mut stream = watcher(api, watcher::Config::default()).boxed();
                loop {
                    let ev = tokio::select! {
                        _ = token.cancelled() => return,
                        ev = stream.next() => ev,
                    };
                    match ev {
                        None => return,
                        Some(Ok(watcher::Event::Apply(p)))
                        | Some(Ok(watcher::Event::InitApply(p))) => {
                            if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                                counter.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Some(Ok(watcher::Event::Delete(_))) => {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "scheduler pod watch error");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    wake.notify_one();
                }
            })
        };
        let nodes = {
            let (wake, counter) = (self.wake.clone(), self.cluster_events.clone());
            let api: Api<Node> = Api::all(self.client.clone());
            tokio::spawn(async move {
                let mut stream = watcher(api, watcher::Config::default()).boxed();
                loop {
                    let ev = tokio::select! {
                        _ = token.cancelled() => return,
                        ev = stream.next() => ev,
                    };
                    match ev {
                        None => return,
                        Some(Ok(_)) => {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "scheduler node watch error");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    wake.notify_one();
                }
            })
        };
        vec![pods, nodes]
    }

    fn is_ours(&self, pod: &Pod) -> bool {
        let Some(spec) = pod.spec.as_ref() else {
            return false;
        };
        spec.node_name.as_deref().is_none_or(str::is_empty)
            && spec
                .scheduler_name
                .as_deref()
                .unwrap_or(DEFAULT_SCHEDULER_NAME)
                == self.opts.scheduler_name
            && pod.metadata.deletion_timestamp.is_none()
            && !fit::is_terminal(pod)
    }

    /// One pass: schedules the first eligible pending pod. Returns `None` to run again
    /// at once, or when to wake up when nothing is eligible.
    async fn cycle(
        &mut self,
        done_tx: &mpsc::UnboundedSender<BindDone>,
    ) -> Result<Option<Instant>, Error> {
        // Cluster events seen before this snapshot: any later one may change the verdict.
        let events_before = self.cluster_events.load(Ordering::SeqCst);
        // Pods first, then nodes: a node change made before a pod was created is always
        // in the snapshot that schedules that pod.
        let pods = Api::<Pod>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(Error::kube("list pods"))?
            .items;
        let nodes = Api::<Node>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(Error::kube("list nodes"))?
            .items;
        let mut pending: Vec<&Pod> = pods
            .iter()
            .filter(|p| self.is_ours(p))
            .filter(|p| !self.assumed.contains_key(&p.uid().unwrap_or_default()))
            .collect();
        // Forget pods that are gone or placed.
        let live: std::collections::HashSet<String> =
            pending.iter().filter_map(|p| p.uid()).collect();
        self.queue.retain(|uid, _| live.contains(uid));
        // activeQ order: higher priority first, then older.
        pending.sort_by(|a, b| {
            fit::priority(b)
                .cmp(&fit::priority(a))
                .then_with(|| a.creation_timestamp().cmp(&b.creation_timestamp()))
                .then_with(|| a.name_any().cmp(&b.name_any()))
        });
        let now = Instant::now();
        let events_now = self.cluster_events.load(Ordering::SeqCst);
        let mut earliest = now + self.opts.max_backoff.max(Duration::from_millis(200));
        for pod in pending {
            let uid = pod.uid().unwrap_or_default();
            if let Some(q) = self.queue.get(&uid) {
                if q.backoff_until > now {
                    earliest = earliest.min(q.backoff_until);
                    continue;
                }
                if let Some((seen, at)) = q.unschedulable_at {
                    let flush_at = at + self.opts.max_unschedulable;
                    if events_now <= seen && now < flush_at {
                        earliest = earliest.min(flush_at);
                        continue;
                    }
                }
            }
            let pod = pod.clone();
            match self.schedule_one(&pod, &nodes, &pods).await {
                Ok(node) => {
                    self.assumed.insert(uid, node.clone());
                    let ext = self
                        .extenders
                        .iter()
                        .find(|e| e.binds() && e.is_interested(&pod))
                        .cloned();
                    let client = self.client.clone();
                    let tx = done_tx.clone();
                    tokio::spawn(async move {
                        let result = bind(&client, ext.as_ref(), &pod, &node).await;
                        let _ = tx.send(BindDone { pod, node, result });
                    });
                }
                Err(failure) => self.failed(&pod, failure, events_before).await,
            }
            return Ok(None);
        }
        Ok(Some(earliest))
    }

    /// The scheduling cycle of one pod: returns the chosen node.
    async fn schedule_one(
        &self,
        pod: &Pod,
        nodes: &[Node],
        pods: &[Pod],
    ) -> Result<String, Failure> {
        let mut on_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
        for p in pods {
            if fit::is_terminal(p) {
                continue;
            }
            if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_ref()) {
                on_node.entry(n.clone()).or_default().push(p);
            }
        }
        // Pods assumed on a node (bind in flight), and pending pods of at least this
        // pod's priority nominated to it (their victims are going away for them), count
        // as if they were there.
        let prio = fit::priority(pod);
        let me = pod.uid();
        let nominated: Vec<&str> = pods
            .iter()
            .filter(|p| p.uid() != me && self.is_ours(p) && fit::priority(p) >= prio)
            .filter(|p| !self.assumed.contains_key(&p.uid().unwrap_or_default()))
            .filter_map(|p| p.status.as_ref()?.nominated_node_name.as_deref())
            .collect();
        let assumed_count = |node: &str| {
            self.assumed.values().filter(|n| *n == node).count()
                + nominated.iter().filter(|n| **n == node).count()
        };
        let mut statuses: BTreeMap<String, NodeStatus> = BTreeMap::new();
        let mut feasible: Vec<&Node> = Vec::new();
        let mut sorted: Vec<&Node> = nodes.iter().collect();
        sorted.sort_by_key(|n| n.name_any());
        for node in &sorted {
            let name = node.name_any();
            let count = on_node.get(&name).map_or(0, Vec::len) + assumed_count(&name);
            match fit::filter_node(pod, node, count) {
                Ok(()) => feasible.push(node),
                Err(s) => {
                    statuses.insert(name, s);
                }
            }
        }
        if !feasible.is_empty() {
            for ext in self
                .extenders
                .iter()
                .filter(|e| e.filters() && e.is_interested(pod))
            {
                match ext.filter(pod, &feasible).await {
                    Ok(out) => {
                        for (n, r) in out.unresolvable {
                            statuses
                                .insert(n, NodeStatus::new(Code::UnschedulableAndUnresolvable, r));
                        }
                        for (n, r) in out.failed {
                            statuses.insert(n, NodeStatus::new(Code::Unschedulable, r));
                        }
                        feasible.retain(|n| out.passed.iter().any(|p| *p == n.name_any()));
                    }
                    Err(e) if ext.is_ignorable() => {
                        tracing::info!(extender = ext.name(), error = %e, "skipping ignorable extender");
                    }
                    Err(e) => return Err(Failure::Error(e)),
                }
                if feasible.is_empty() {
                    break;
                }
            }
        }
        if feasible.is_empty() {
            return Err(self
                .fit_error(pod, nodes.len(), statuses, &on_node, &sorted)
                .await);
        }
        if feasible.len() == 1 {
            return Ok(feasible[0].name_any());
        }
        let mut scores: BTreeMap<String, i64> = feasible
            .iter()
            .map(|n| {
                let name = n.name_any();
                let count = on_node.get(&name).map_or(0, Vec::len) + assumed_count(&name);
                (name, fit::in_tree_score(n, count))
            })
            .collect();
        let calls = self
            .extenders
            .iter()
            .filter(|e| e.prioritizes() && e.is_interested(pod))
            .map(|e| async {
                (
                    e.config().weight,
                    e.name().to_string(),
                    e.prioritize(pod, &feasible).await,
                )
            });
        for (weight, name, result) in futures::future::join_all(calls).await {
            match result {
                Ok(list) => {
                    for hp in list {
                        if let Some(s) = scores.get_mut(&hp.host) {
                            *s += hp.score
                                * weight
                                * (100 / eip_core::extender::MAX_EXTENDER_PRIORITY);
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(extender = name, error = %e, "prioritize failed, ignored")
                }
            }
        }
        let best = feasible
            .iter()
            .map(|n| n.name_any())
            .max_by(|a, b| scores.get(a).cmp(&scores.get(b)).then_with(|| b.cmp(a)))
            .unwrap_or_default();
        Ok(best)
    }

    /// PostFilter (DefaultPreemption with the extenders' preempt verbs) and the
    /// `FitError` message.
    async fn fit_error(
        &self,
        pod: &Pod,
        num_nodes: usize,
        statuses: BTreeMap<String, NodeStatus>,
        on_node: &BTreeMap<String, Vec<&Pod>>,
        nodes: &[&Node],
    ) -> Failure {
        let (post, nominated) = match self.preempt(pod, &statuses, on_node, nodes).await {
            Ok(Some(node)) => (None, Some(node)),
            Ok(None) => (None, None),
            Err(msg) => (Some(format!("preemption: {msg}")), None),
        };
        Failure::Fit {
            message: fit::fit_error_message(num_nodes, &statuses, post.as_deref()),
            nominated,
        }
    }

    /// Returns the nominated node after evicting its victims, or the PostFilter message.
    async fn preempt(
        &self,
        pod: &Pod,
        statuses: &BTreeMap<String, NodeStatus>,
        on_node: &BTreeMap<String, Vec<&Pod>>,
        nodes: &[&Node],
    ) -> Result<Option<String>, String> {
        let spec = pod.spec.as_ref();
        if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
            return Err("not eligible due to preemptionPolicy=Never.".to_string());
        }
        let prio = fit::priority(pod);
        if let Some(nominated) = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_ref())
        {
            let terminating = on_node.get(nominated).is_some_and(|ps| {
                ps.iter()
                    .any(|p| p.metadata.deletion_timestamp.is_some() && fit::priority(p) < prio)
            });
            if terminating {
                return Err(
                    "not eligible due to a terminating pod on the nominated node.".to_string(),
                );
            }
        }
        let node_map: BTreeMap<String, (&Node, Vec<&Pod>)> = nodes
            .iter()
            .map(|n| {
                let name = n.name_any();
                let pods = on_node.get(&name).cloned().unwrap_or_default();
                (name, (*n, pods))
            })
            .collect();
        // A node an extender dropped without naming it has the absent status,
        // UnschedulableAndUnresolvable (`NewDefaultNodeToStatus`).
        let mut all_statuses = statuses.clone();
        for name in node_map.keys() {
            all_statuses.entry(name.clone()).or_insert(NodeStatus {
                code: Code::UnschedulableAndUnresolvable,
                reasons: Vec::new(),
            });
        }
        let (mut candidates, others) = fit::select_victims(pod, &all_statuses, &node_map);
        if candidates.is_empty() {
            return Err(fit::fit_error_message(nodes.len(), &others, None));
        }
        for ext in self
            .extenders
            .iter()
            .filter(|e| e.preempts() && e.is_interested(pod))
        {
            match ext.preempt(pod, &candidates).await {
                Ok(kept) => candidates = kept,
                Err(e) if ext.is_ignorable() => {
                    tracing::info!(extender = ext.name(), error = %e, "skipping ignorable extender");
                }
                Err(e) => return Err(e),
            }
            if candidates.is_empty() {
                break;
            }
        }
        // pickOneNodeForPreemption, reduced: lowest highest-victim priority, then fewest
        // victims, then name.
        let Some((node, victims)) = candidates.into_iter().min_by(|(an, av), (bn, bv)| {
            let top = |v: &Vec<&Pod>| v.iter().map(|p| fit::priority(p)).max().unwrap_or(0);
            top(av)
                .cmp(&top(bv))
                .then(av.len().cmp(&bv.len()))
                .then(an.cmp(bn))
        }) else {
            return Err("no candidate node for preemption".to_string());
        };
        for victim in victims {
            let ns = victim.namespace().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
            if let Err(e) = api
                .delete(&victim.name_any(), &DeleteParams::default())
                .await
            {
                return Err(format!(
                    "failed to evict victim {ns}/{}: {e}",
                    victim.name_any()
                ));
            }
            let msg = format!(
                "Preempted by pod {} on node {node}",
                pod.uid().unwrap_or_default()
            );
            let _ = events::record(
                &self.client,
                &self.reporter,
                events::object_ref(victim),
                events::NORMAL,
                reason::PREEMPTED,
                msg,
            )
            .await;
        }
        Ok(Some(node))
    }

    /// `handleSchedulingFailure`: event, condition, nominated node, requeue.
    async fn failed(&mut self, pod: &Pod, failure: Failure, events_before: u64) {
        let uid = pod.uid().unwrap_or_default();
        let (message, cond_reason, nominated, unschedulable) = match failure {
            Failure::Fit { message, nominated } => {
                (message, reason::UNSCHEDULABLE, nominated, true)
            }
            Failure::Error(e) => (e, reason::SCHEDULER_ERROR, None, false),
        };
        tracing::info!(pod = %pod.name_any(), %message, "unable to schedule pod");
        self.requeue(&uid, unschedulable, events_before);
        self.report_failure(pod, &message, cond_reason, nominated)
            .await;
    }

    fn requeue(&mut self, uid: &str, unschedulable: bool, events_before: u64) {
        let now = Instant::now();
        let entry = self.queue.entry(uid.to_string()).or_insert(QueueEntry {
            attempts: 0,
            backoff_until: now,
            unschedulable_at: None,
        });
        entry.attempts += 1;
        let factor = 2u32.saturating_pow(entry.attempts.saturating_sub(1).min(16));
        let backoff = self
            .opts
            .initial_backoff
            .saturating_mul(factor)
            .min(self.opts.max_backoff);
        entry.backoff_until = now + backoff;
        entry.unschedulable_at = unschedulable.then_some((events_before, now));
    }

    async fn report_failure(
        &self,
        pod: &Pod,
        message: &str,
        cond_reason: &str,
        nominated: Option<String>,
    ) {
        let _ = events::record(
            &self.client,
            &self.reporter,
            events::object_ref(pod),
            events::WARNING,
            reason::FAILED_SCHEDULING,
            message,
        )
        .await;
        let mut status = serde_json::json!({
            "conditions": [{
                "type": condition::POD_SCHEDULED,
                "status": "False",
                "reason": cond_reason,
                "message": message,
                "lastProbeTime": null,
                "lastTransitionTime": events::now_seconds(),
            }]
        });
        if let Some(n) = nominated {
            status["nominatedNodeName"] = serde_json::Value::String(n);
        }
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        if let Err(e) = api
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Strategic(serde_json::json!({ "status": status })),
            )
            .await
        {
            tracing::debug!(pod = %pod.name_any(), error = %e, "failed to update PodScheduled condition");
        }
    }

    async fn bind_finished(&mut self, done: BindDone) {
        let uid = done.pod.uid().unwrap_or_default();
        self.assumed.remove(&uid);
        match done.result {
            Ok(()) => {
                self.queue.remove(&uid);
                let msg = format!(
                    "Successfully assigned {}/{} to {}",
                    done.pod.namespace().unwrap_or_default(),
                    done.pod.name_any(),
                    done.node
                );
                let _ = events::record(
                    &self.client,
                    &self.reporter,
                    events::object_ref(&done.pod),
                    events::NORMAL,
                    reason::SCHEDULED,
                    msg,
                )
                .await;
            }
            Err(e) => {
                // The bind may have succeeded with the answer lost: kube-scheduler skips
                // the requeue once the pod shows a node.
                let api: Api<Pod> = Api::namespaced(
                    self.client.clone(),
                    &done.pod.namespace().unwrap_or_default(),
                );
                if let Ok(Some(now)) = api.get_opt(&done.pod.name_any()).await
                    && now
                        .spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_ref())
                        .is_some()
                {
                    return;
                }
                let before = self.cluster_events.load(Ordering::SeqCst);
                self.failed(&done.pod, Failure::Error(e), before).await;
            }
        }
        self.wake.notify_one();
    }
}

/// Binds through the binder extender when there is one, else `POST pods/binding`.
async fn bind(
    client: &Client,
    ext: Option<&Extender>,
    pod: &Pod,
    node: &str,
) -> Result<(), String> {
    if let Some(ext) = ext {
        return ext.bind(pod, node).await;
    }
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            uid: pod.uid(),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            kind: Some("Node".to_string()),
            api_version: Some("v1".to_string()),
            name: Some(node.to_string()),
            ..ObjectReference::default()
        },
    };
    Api::<Pod>::namespaced(client.clone(), &ns)
        .create_subresource::<Binding, serde_json::Value>(
            "binding",
            &name,
            &PostParams::default(),
            &binding,
        )
        .await
        .map(|_| ())
        .map_err(|e| match e {
            kube::Error::Api(s) => s.message,
            other => other.to_string(),
        })
}
