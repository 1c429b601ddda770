//! The controller adapter: runs the state machine for one pod (or one orphaned record)
//! against Kubernetes and the cloud, recording each step in the PodEIP before and after
//! each cloud call.

use eip_core::annotations::{AnnotationError, EipRequest, ignored_annotations};
use eip_core::names;
use eip_core::podeip::PodEIP;
use eip_core::workload::{self, Owner as Workload};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};

use crate::error::Error;
use crate::machine::{Action, CloudFacts, Facts, decide};

pub(crate) use crate::context::lock;
pub use crate::context::{AgentConfig, Context, CrashPlan, DebugEntry, Next};
use crate::execute::action_name;
use crate::publish::{pod_facts, read_owner};
use crate::record::label_for_node;
pub use crate::record::record_facts;

/// How many steps one reconcile may take before it yields (and is requeued).
const MAX_STEPS: usize = 60;

pub(crate) fn now_time() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())
}

/// One run of the state machine for `namespace/name`.
pub(crate) struct Run<'a> {
    pub(crate) ctx: &'a Context,
    pub(crate) ns: String,
    pub(crate) name: String,
    pub(crate) pods: Api<Pod>,
    pub(crate) recs: Api<PodEIP>,
    pub(crate) pod: Option<Pod>,
    pub(crate) rec: Option<PodEIP>,
    /// The pod's request, parsed once per run from its annotations (the agent's own
    /// patches never touch the request's keys).
    pub(crate) request: Result<Option<EipRequest>, Vec<AnnotationError>>,
    pub(crate) cloud: CloudFacts,
    pub(crate) owner: Workload,
    pub(crate) expired: bool,
    pub(crate) verify: bool,
    /// A named EIP this run took from another pod (`allow_eip_rob`), whose record is told
    /// once the EIP is on this pod.
    pub(crate) robbed: Option<String>,
}

/// Runs the state machine for the pod `namespace/name` until it settles. With
/// `pod_gone` the pod is not read (the garbage collector's view: only the record is
/// left); with `expired` the record's retention has passed.
pub async fn drive(
    ctx: &Context,
    ns: &str,
    name: &str,
    pod_gone: bool,
    expired: bool,
) -> Result<Next, Error> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let recs: Api<PodEIP> = Api::namespaced(ctx.client.clone(), ns);
    let pod = if pod_gone {
        None
    } else {
        pods.get_opt(name)
            .await
            .map_err(Error::kube(format!("read pod {ns}/{name}")))?
    };
    if let Some(p) = &pod
        && !pod_gone
        && p.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(&ctx.cfg.node_name)
    {
        return Ok(Next::Idle);
    }
    let rec = recs
        .get_opt(name)
        .await
        .map_err(Error::kube(format!("read PodEIP {ns}/{name}")))?;
    let rec = match (rec, &pod) {
        (Some(r), Some(_)) => Some(label_for_node(&recs, r, &ctx.cfg.node_name).await?),
        (rec, _) => rec,
    };
    if let Some(p) = &pod {
        // Once per pod and value: `event` publishes a Warning only once.
        for ignored in ignored_annotations(p.annotations()) {
            ctx.event(
                &p.object_ref(&()),
                EventType::Warning,
                names::REASON_ANNOTATION_IGNORED,
                ignored.to_string(),
                "Validate",
            )
            .await;
        }
    }
    let verify = match pod.as_ref().and_then(|p| p.uid()) {
        Some(uid) => lock(&ctx.verified)
            .get(&uid)
            .is_none_or(|t| t.elapsed() >= ctx.cfg.resync_interval),
        None => false,
    };
    let request = match &pod {
        Some(p) => EipRequest::from_annotations(p.annotations()),
        None => Ok(None),
    };
    // After a permanent failure, the same request waits out its backoff.
    if let (Some(p), Ok(Some(req))) = (&pod, &request)
        && p.metadata.deletion_timestamp.is_none()
        && let Some(uid) = p.uid()
        && let Some(wait) = ctx.permanent_hold(&uid, req)
    {
        return Ok(Next::After(wait));
    }
    let mut run = Run {
        ctx,
        ns: ns.to_owned(),
        name: name.to_owned(),
        pods,
        recs,
        pod,
        rec,
        request,
        cloud: CloudFacts::default(),
        owner: Workload::None,
        expired,
        verify,
        robbed: None,
    };
    run.owner = run.owner().await;
    run.go().await
}

impl Run<'_> {
    pub(crate) fn key(&self) -> String {
        format!("{}/{}", self.ns, self.name)
    }

    /// The pod's workload, read only when the pod names an EIP (an EIP serves one pod).
    pub(crate) async fn owner(&self) -> Workload {
        let Some(pod) = self.pod.as_ref() else {
            return Workload::None;
        };
        if !matches!(&self.request, Ok(Some(r)) if r.named().is_some()) {
            return Workload::None;
        }
        match workload::controller_of(pod) {
            None => Workload::None,
            Some((kind, name)) => read_owner(&self.ctx.client, &self.ns, kind, name).await,
        }
    }

    pub(crate) fn pod_ref(&self) -> ObjectReference {
        match &self.pod {
            Some(p) => p.object_ref(&()),
            None => match &self.rec {
                Some(r) => r.object_ref(&()),
                None => ObjectReference {
                    namespace: Some(self.ns.clone()),
                    name: Some(self.name.clone()),
                    kind: Some("Pod".into()),
                    api_version: Some("v1".into()),
                    ..ObjectReference::default()
                },
            },
        }
    }

    async fn go(&mut self) -> Result<Next, Error> {
        let mut settles = 0;
        for _ in 0..MAX_STEPS {
            let pod_facts = self.pod.as_ref().map(|p| pod_facts(p, self.owner.clone()));
            let rec_facts = self.rec.as_ref().map(record_facts);
            let action = decide(&Facts {
                pod: pod_facts.as_ref(),
                request: &self.request,
                record: rec_facts.as_ref(),
                cloud: &self.cloud,
                switches: self.ctx.switches(),
                expired: self.expired,
                verify: self.verify,
            });
            let name = action_name(&action);
            tracing::debug!(pod = %self.key(), action = ?action, "step");
            if !matches!(action, Action::Done | Action::Observe(_)) {
                self.ctx.metrics.action(name);
            }
            {
                let rf = self.rec.as_ref().map(record_facts);
                lock(&self.ctx.debug).insert(
                    self.key(),
                    DebugEntry {
                        last_action: name.to_owned(),
                        phase: rf.as_ref().and_then(|r| r.phase).map(|p| p.to_string()),
                        allocation_id: rf.as_ref().and_then(|r| r.allocation_id.clone()),
                        last_error: rf.and_then(|r| r.last_error),
                    },
                );
            }
            let ok = self.request.clone().unwrap_or_default();
            // The calls that spend money or bind: a permanent failure stops and backs off.
            let guarded = matches!(
                action,
                Action::Allocate
                    | Action::Associate { .. }
                    | Action::JoinPackage { .. }
                    | Action::ModifyBandwidth { .. }
            );
            let step = match self.step(action, ok.clone(), pod_facts.as_ref()).await {
                Err(Error::Cloud { what, source }) if guarded && source.is_permanent() => {
                    return self.fail_permanently(what, source, ok).await;
                }
                step => step?,
            };
            match step {
                Some(Next::After(d)) if d.is_zero() => {
                    settles += 1;
                    if settles > 20 {
                        return Ok(Next::After(self.ctx.cfg.settle_interval));
                    }
                    tokio::time::sleep(self.ctx.cfg.settle_interval).await;
                }
                Some(next) => {
                    if self.pod.is_none() {
                        lock(&self.ctx.debug).remove(&self.key());
                    }
                    return Ok(next);
                }
                None => {}
            }
        }
        Err(Error::Unsettled(self.key()))
    }
}
