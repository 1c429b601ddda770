//! The actix-web adapter: scheduler verbs under a configurable prefix, and the operational
//! endpoints. Handlers parse, take the view's read lock for the pure decision, and
//! answer; semantic failures of filter and bind are answered 200 with `Error` (the
//! scheduler ignores the body of any other status). Every other error answer is one
//! sentence of `text/plain`; a method a path does not serve gets 405 with `Allow`. Each
//! refusal of a pod is logged once, at info, with the pod and the reason.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use eip_core::capacity::Victim;
use eip_core::extender::{
    ExtenderBindingArgs, ExtenderBindingResult, ExtenderPreemptionArgs, ExtenderPreemptionResult,
    HostPriority, MAX_EXTENDER_PRIORITY, MIN_EXTENDER_PRIORITY, MetaPod, MetaVictims, node_name,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use serde_json::value::RawValue;

use crate::bind::{BindCoordinator, BindOutcome};
use crate::decide::{self, Candidate, Class, NodeVerdict, ReasonKind, Scoring};
use crate::facts;
use crate::metrics::Metrics;
use crate::owners::Owners;
use crate::state::{ClusterState, NodeFacts, PodView, victim_from_facts};
use crate::wire::{ExtenderArgsRef, FilterReply, NodeListRef, NodeLite};

/// Request bodies above this are refused: room for 5,000 full Node objects of ~12 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Readiness: caches synced and, with leader election, holding the lease.
#[derive(Debug, Default)]
pub struct Readiness {
    /// Every watch has listed once.
    pub synced: AtomicBool,
    /// Leader election is on.
    pub leader_election: AtomicBool,
    /// Holding the lease.
    pub leader: AtomicBool,
}

impl Readiness {
    /// Ready to serve the scheduler; `Err` says why not.
    pub fn check(&self) -> Result<(), &'static str> {
        if !self.synced.load(Ordering::Acquire) {
            return Err("eip-extender has not synced its caches yet; retry shortly");
        }
        if self.leader_election.load(Ordering::Acquire) && !self.leader.load(Ordering::Acquire) {
            return Err("this eip-extender replica is not the leader");
        }
        Ok(())
    }

    /// Whether caches have synced (the scheduler verbs need only that).
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The view.
    pub state: Arc<RwLock<ClusterState>>,
    /// Binds; `None` when bind is not offered.
    pub binder: Option<Arc<BindCoordinator>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness.
    pub ready: Arc<Readiness>,
    /// Prioritize strategy.
    pub scoring: Scoring,
    /// Body limit in bytes.
    pub body_limit: usize,
    /// Reads the owner of a pod that names an EIP (filter); `None`: owners that must be
    /// read are not judged (tests and benchmarks without an API server).
    pub owners: Option<Arc<Owners>>,
}

impl AppState {
    /// Handlers' state over this view, with default limits.
    pub fn new(
        state: Arc<RwLock<ClusterState>>,
        binder: Option<Arc<BindCoordinator>>,
        ready: Arc<Readiness>,
        scoring: Scoring,
    ) -> Self {
        Self {
            state,
            binder,
            metrics: Arc::new(Metrics::new()),
            ready,
            scoring,
            body_limit: DEFAULT_BODY_LIMIT,
            owners: None,
        }
    }

    /// Reads the owners of named-EIP pods through `owners` in filter.
    pub fn with_owners(mut self, owners: Arc<Owners>) -> Self {
        self.owners = Some(owners);
        self
    }
}

/// A verb's answer with the pod the request was about, so the handler can say whom it
/// refused.
#[derive(Debug)]
pub struct ForPod<T> {
    /// The pod as `namespace/name`; `None` when the request named none that could be read.
    pub pod: Option<String>,
    /// What the handler answers.
    pub answer: T,
}

/// Log, once and at info, that `verb` refused (or failed) `pod` and why.
fn log_refusal(verb: &str, pod: Option<&str>, reason: &str) {
    tracing::info!(verb, pod, reason, "refused the pod");
}

/// `namespace/name` of a pod in a request, when it has a name.
fn pod_key(pod: &Pod) -> Option<String> {
    let m = &pod.metadata;
    let namespace = m.namespace.as_deref().unwrap_or_default();
    m.name.as_deref().map(|name| format!("{namespace}/{name}"))
}

/// A parsed filter/prioritize request; full-Nodes items are borrowed from the body.
struct Parsed<'b> {
    pod: PodView,
    /// The pod as `namespace/name`.
    who: Option<String>,
    mode: Mode<'b>,
}

enum Mode<'b> {
    Names(Vec<String>),
    /// Per item: its name, its facts when the view does not know the node, the item.
    Nodes(Vec<(Cow<'b, str>, Option<NodeFacts>, &'b RawValue)>),
}

impl Mode<'_> {
    fn len(&self) -> usize {
        match self {
            Mode::Names(n) => n.len(),
            Mode::Nodes(n) => n.len(),
        }
    }
}

fn pod_facts(pod: &Pod, verb: &str) -> Result<PodView, String> {
    if pod.metadata.name.is_none() && pod.metadata.uid.is_none() {
        return Err(format!(
            "{verb} request has no Pod; eip-extender cannot judge nodes without it"
        ));
    }
    facts::pod_from_object(pod).ok_or_else(|| format!("{verb} request's Pod has no metadata.uid"))
}

impl AppState {
    /// Parse a filter/prioritize body. The body is read once, validating all of it, with
    /// the node items borrowed rather than copied; of each item only `metadata.name` is
    /// read again, except for nodes the view does not know, whose facts come from the item.
    /// A refusal names the pod when the request did.
    fn parse_args<'b>(&self, body: &'b [u8], verb: &str) -> Result<Parsed<'b>, ForPod<String>> {
        let args: ExtenderArgsRef<'b> = serde_json::from_slice(body).map_err(|e| ForPod {
            pod: None,
            answer: format!("malformed {verb} request: {e}"),
        })?;
        let who = pod_key(&args.pod);
        let refused = |answer| ForPod {
            pod: who.clone(),
            answer,
        };
        let pod = pod_facts(&args.pod, verb).map_err(refused)?;
        let mode = self
            .parse_nodes(args.nodes, args.node_names, verb)
            .map_err(refused)?;
        Ok(Parsed { pod, who, mode })
    }

    fn parse_nodes<'b>(
        &self,
        nodes: Option<NodeListRef<'b>>,
        node_names: Option<Vec<String>>,
        verb: &str,
    ) -> Result<Mode<'b>, String> {
        let mode = match (nodes, node_names) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{verb} request carries both Nodes and NodeNames; set nodeCacheCapable consistently in the scheduler configuration"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "{verb} request carries neither Nodes nor NodeNames; check nodeCacheCapable in the scheduler configuration"
                ));
            }
            (None, Some(names)) => Mode::Names(names),
            (Some(list), None) => {
                let st = self.state.read().unwrap_or_else(PoisonError::into_inner);
                let mut out = Vec::with_capacity(list.items.len());
                for (i, raw) in list.items.into_iter().enumerate() {
                    let Some(name) = node_name(raw) else {
                        return Err(format!(
                            "{verb} request's Nodes item {i} has no metadata.name"
                        ));
                    };
                    let known = st.node(&name).is_some_and(|e| e.facts.is_some());
                    let facts = if known {
                        None
                    } else {
                        let lite: NodeLite = serde_json::from_str(raw.get()).map_err(|e| {
                            format!("{verb} request's node {name} is malformed: {e}")
                        })?;
                        Some(facts::node_from_request(&lite))
                    };
                    out.push((name, facts, raw));
                }
                Mode::Nodes(out)
            }
        };
        Ok(mode)
    }

    fn verdicts(&self, st: &ClusterState, p: &Parsed<'_>) -> Vec<NodeVerdict> {
        match &p.mode {
            Mode::Names(names) => {
                decide::filter(st, &p.pod, names.iter().map(|n| (n.as_str(), None)))
            }
            Mode::Nodes(nodes) => decide::filter(
                st,
                &p.pod,
                nodes.iter().map(|(n, f, _)| (n.as_ref(), f.as_ref())),
            ),
        }
    }

    /// The whole filter call on a body: what the handler answers (always HTTP 200). Passing
    /// full nodes are borrowed from `body`.
    pub fn filter_body<'b>(&self, body: &'b [u8]) -> ForPod<FilterReply<'b>> {
        match self.parse_args(body, "filter") {
            Ok(parsed) => self.filter_parsed(parsed),
            Err(e) => ForPod {
                pod: e.pod,
                answer: FilterReply::error(e.answer),
            },
        }
    }

    /// Filter as the handler runs it: like [`filter_body`](Self::filter_body), after
    /// reading the owner of a pod that names an EIP (an EIP serves one pod; an owner that
    /// cannot be read refuses the pod).
    pub async fn filter_request<'b>(&self, body: &'b [u8]) -> ForPod<FilterReply<'b>> {
        let mut parsed = match self.parse_args(body, "filter") {
            Ok(p) => p,
            Err(e) => {
                return ForPod {
                    pod: e.pod,
                    answer: FilterReply::error(e.answer),
                };
            }
        };
        if let (Some(owners), Some((kind, name))) = (&self.owners, &parsed.pod.controller) {
            parsed.pod.owner = Some(owners.read(&parsed.pod.namespace, kind, name).await);
        }
        self.filter_parsed(parsed)
    }

    fn filter_parsed<'b>(&self, parsed: Parsed<'b>) -> ForPod<FilterReply<'b>> {
        let pod = parsed.who.clone();
        if let Err(why) = self.synced() {
            return ForPod {
                pod,
                answer: FilterReply::error(why),
            };
        }
        let verdicts = {
            let st = self.state.read().unwrap_or_else(PoisonError::into_inner);
            self.verdicts(&st, &parsed)
        };
        let mut failed = BTreeMap::new();
        let mut unresolvable = BTreeMap::new();
        let mut counts = [0u64; ReasonKind::ALL.len()];
        let n = parsed.mode.len();
        let mut fail = |name: String, r: decide::Rejection| {
            if let Some(i) = ReasonKind::ALL.iter().position(|k| *k == r.kind)
                && let Some(c) = counts.get_mut(i)
            {
                *c += 1;
            }
            match r.class {
                Class::Resolvable => failed.insert(name, r.message),
                Class::Unresolvable => unresolvable.insert(name, r.message),
            };
        };
        let (nodes, node_names) = match parsed.mode {
            Mode::Names(names) => {
                let mut pass = Vec::with_capacity(n);
                for (name, v) in names.into_iter().zip(verdicts) {
                    match v {
                        Ok(_) => pass.push(name),
                        Err(r) => fail(name, r),
                    }
                }
                (None, Some(pass))
            }
            Mode::Nodes(items) => {
                let mut pass = Vec::with_capacity(n);
                for ((name, _, raw), v) in items.into_iter().zip(verdicts) {
                    match v {
                        Ok(_) => pass.push(raw),
                        Err(r) => fail(name.into_owned(), r),
                    }
                }
                (
                    Some(NodeListRef {
                        items: pass,
                        ..NodeListRef::default()
                    }),
                    None,
                )
            }
        };
        for (k, c) in ReasonKind::ALL.iter().zip(counts) {
            if c > 0 {
                self.metrics.rejected_many(*k, c);
            }
        }
        ForPod {
            pod,
            answer: FilterReply {
                nodes,
                node_names,
                failed_nodes: failed,
                failed_and_unresolvable_nodes: unresolvable,
                error: String::new(),
            },
        }
    }

    /// The prioritize call on a body.
    pub fn prioritize_body(&self, body: &[u8]) -> ForPod<Result<Vec<HostPriority>, Refused>> {
        let parsed = match self.parse_args(body, "prioritize") {
            Ok(p) => p,
            Err(e) => {
                return ForPod {
                    pod: e.pod,
                    answer: Err((StatusCode::BAD_REQUEST, e.answer)),
                };
            }
        };
        ForPod {
            pod: parsed.who.clone(),
            answer: self.prioritize_parsed(parsed),
        }
    }

    fn prioritize_parsed(&self, parsed: Parsed<'_>) -> Result<Vec<HostPriority>, Refused> {
        self.synced()
            .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        let verdicts = {
            let st = self.state.read().unwrap_or_else(PoisonError::into_inner);
            self.verdicts(&st, &parsed)
        };
        let scores = decide::prioritize(self.scoring, &verdicts, &parsed.pod);
        let names: Vec<String> = match parsed.mode {
            Mode::Names(n) => n,
            Mode::Nodes(n) => n
                .into_iter()
                .map(|(name, _, _)| name.into_owned())
                .collect(),
        };
        Ok(names
            .into_iter()
            .zip(scores)
            .map(|(host, score)| HostPriority {
                host,
                score: score.clamp(MIN_EXTENDER_PRIORITY, MAX_EXTENDER_PRIORITY),
            })
            .collect())
    }

    /// The preempt call on a body.
    pub fn preempt_body(&self, body: &[u8]) -> ForPod<Result<ExtenderPreemptionResult, Refused>> {
        match serde_json::from_slice::<ExtenderPreemptionArgs>(body) {
            Err(e) => ForPod {
                pod: None,
                answer: Err((
                    StatusCode::BAD_REQUEST,
                    format!("malformed preempt request: {e}"),
                )),
            },
            Ok(args) => ForPod {
                pod: pod_key(&args.pod),
                answer: self.preempt_args(args),
            },
        }
    }

    fn preempt_args(
        &self,
        args: ExtenderPreemptionArgs,
    ) -> Result<ExtenderPreemptionResult, Refused> {
        let bad = |e: String| (StatusCode::BAD_REQUEST, e);
        let pod = pod_facts(&args.pod, "preempt").map_err(bad)?;
        self.synced()
            .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        let st = self.state.read().unwrap_or_else(PoisonError::into_inner);
        // (node, victims as MetaVictims, what evicting each gives back)
        let mut rows: Vec<(String, MetaVictims, Vec<Victim>)> = Vec::new();
        match (args.node_name_to_victims, args.node_name_to_meta_victims) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "preempt request carries both NodeNameToVictims and NodeNameToMetaVictims"
                        .to_string(),
                ));
            }
            (None, None) => {
                return Err(bad(
                    "preempt request carries neither NodeNameToVictims nor NodeNameToMetaVictims"
                        .to_string(),
                ));
            }
            (Some(full), None) => {
                for (node, v) in full {
                    let mut gives = Vec::with_capacity(v.pods.len());
                    let mut metas = Vec::with_capacity(v.pods.len());
                    for p in &v.pods {
                        let uid = p.metadata.uid.clone().unwrap_or_default();
                        gives.push(
                            facts::pod_from_object(p)
                                .map_or_else(Victim::default, |f| victim_from_facts(f, &node)),
                        );
                        metas.push(MetaPod { uid });
                    }
                    rows.push((
                        node,
                        MetaVictims {
                            pods: metas,
                            num_pdb_violations: v.num_pdb_violations,
                        },
                        gives,
                    ));
                }
            }
            (None, Some(meta)) => {
                for (node, v) in meta {
                    let gives = v.pods.iter().map(|p| st.victim(&p.uid, &node)).collect();
                    rows.push((node, v, gives));
                }
            }
        }
        let candidates: Vec<Candidate<'_>> = rows
            .iter()
            .map(|(node, _, gives)| Candidate {
                node: node.as_str(),
                victims: gives,
            })
            .collect();
        let keep = decide::preempt(&st, &pod, &candidates);
        drop(candidates);
        let kept: BTreeMap<String, MetaVictims> = rows
            .into_iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|((node, v, _), _)| (node, v))
            .collect();
        Ok(ExtenderPreemptionResult {
            node_name_to_meta_victims: Some(kept),
        })
    }

    fn synced(&self) -> Result<(), &'static str> {
        if self.ready.synced() {
            Ok(())
        } else {
            Err("eip-extender has not synced its caches yet; retry shortly")
        }
    }
}

/// A refused prioritize or preempt call: its status and sentence.
pub type Refused = (StatusCode, String);

/// Read a body up to `limit` bytes; `Err` with a sentence when it is larger or broken.
/// The buffer is sized from `Content-Length` up front (full-Nodes bodies run to megabytes).
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, String> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared
        && n > limit
    {
        return Err(too_large(limit));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| format!("failed to read request body: {e}"))?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(limit: usize) -> String {
    format!(
        "request body exceeds the {} KiB limit of eip-extender",
        limit / 1024
    )
}

fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> HttpResponse {
    match serde_json::to_vec(v) {
        Ok(b) => HttpResponse::build(status)
            .content_type("application/json")
            .body(b),
        Err(e) => encode_failed(&e),
    }
}

/// An error answer: `status` with one sentence of text.
fn text(status: StatusCode, sentence: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(sentence.into())
}

fn encode_failed(e: &serde_json::Error) -> HttpResponse {
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("failed to encode response: {e}"),
    )
}

/// Why a filter answer refuses its pod: the whole call failed, or no node passed.
fn filter_refusal(reply: &FilterReply<'_>) -> Option<String> {
    if !reply.error.is_empty() {
        return Some(reply.error.clone());
    }
    let passed = reply.nodes.as_ref().map_or(0, |n| n.items.len())
        + reply.node_names.as_ref().map_or(0, Vec::len);
    if passed > 0 {
        return None;
    }
    let failed = reply.failed_and_unresolvable_nodes.len() + reply.failed_nodes.len();
    let first = reply
        .failed_and_unresolvable_nodes
        .values()
        .chain(reply.failed_nodes.values())
        .next()?;
    Some(match failed {
        1 => format!("no node fits the pod: {first}"),
        n => format!(
            "no node fits the pod: {first} (and {} other nodes failed)",
            n - 1
        ),
    })
}

async fn filter(app: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let t = Instant::now();
    let body = read_body(&req, payload, app.body_limit).await;
    let out = match &body {
        Ok(body) => app.filter_request(body).await,
        Err(e) => ForPod {
            pod: None,
            answer: FilterReply::error(e.clone()),
        },
    };
    if let Some(reason) = filter_refusal(&out.answer) {
        log_refusal("filter", out.pod.as_deref(), &reason);
    }
    let out = out.answer;
    app.metrics
        .observe("filter", out.error.is_empty(), t.elapsed().as_secs_f64());
    // the answer is at most the request's passing nodes plus the reasons
    let hint = body.as_ref().map_or(256, |b| b.len().saturating_add(4096));
    match out.to_json(hint) {
        Ok(b) => HttpResponse::Ok().content_type("application/json").body(b),
        Err(e) => encode_failed(&e),
    }
}

/// Read the body, run `verb` on it, record the call, and answer JSON, or the refusal's
/// status with its sentence; log the refusal, or the reason `refuses` finds in an answer.
async fn answer<T: serde::Serialize>(
    app: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    verb: &'static str,
    run: impl FnOnce(&AppState, &[u8]) -> ForPod<Result<T, Refused>>,
    refuses: impl FnOnce(&T) -> Option<String>,
) -> HttpResponse {
    let t = Instant::now();
    let out = match read_body(req, payload, app.body_limit).await {
        Ok(body) => run(app, &body),
        Err(e) => ForPod {
            pod: None,
            answer: Err((StatusCode::PAYLOAD_TOO_LARGE, e)),
        },
    };
    app.metrics
        .observe(verb, out.answer.is_ok(), t.elapsed().as_secs_f64());
    let pod = out.pod.as_deref();
    match out.answer {
        Ok(v) => {
            if let Some(reason) = refuses(&v) {
                log_refusal(verb, pod, &reason);
            }
            json(StatusCode::OK, &v)
        }
        Err((status, msg)) => {
            log_refusal(verb, pod, &msg);
            text(status, msg)
        }
    }
}

async fn prioritize(
    app: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    answer(
        &app,
        &req,
        payload,
        "prioritize",
        AppState::prioritize_body,
        |_| None,
    )
    .await
}

async fn preempt(
    app: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    // the scheduler asks only about candidates it has: keeping none refuses the pod
    let keeps_none = |r: &ExtenderPreemptionResult| {
        r.node_name_to_meta_victims
            .as_ref()
            .is_none_or(BTreeMap::is_empty)
            .then(|| {
                "evicting the proposed victims makes room for the pod on none of the candidate nodes"
                    .to_string()
            })
    };
    answer(
        &app,
        &req,
        payload,
        "preempt",
        AppState::preempt_body,
        keeps_none,
    )
    .await
}

async fn bind(app: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let t = Instant::now();
    let args = match read_body(&req, payload, app.body_limit).await {
        Err(e) => Err(e),
        Ok(body) => serde_json::from_slice::<ExtenderBindingArgs>(&body)
            .map_err(|e| format!("malformed bind request: {e}")),
    };
    let error = match args {
        Err(e) => {
            log_refusal("bind", None, &e);
            e
        }
        Ok(args) => bind_args(&app, args).await,
    };
    app.metrics
        .observe("bind", error.is_empty(), t.elapsed().as_secs_f64());
    json(StatusCode::OK, &ExtenderBindingResult { error })
}

/// Bind as the scheduler asks and log how it ended: the `Error` to answer (empty once
/// bound).
async fn bind_args(app: &AppState, args: ExtenderBindingArgs) -> String {
    let ExtenderBindingArgs {
        pod_name,
        pod_namespace,
        pod_uid,
        node,
    } = args;
    let pod = (!pod_name.is_empty()).then(|| format!("{pod_namespace}/{pod_name}"));
    let refuse = |reason: String| {
        log_refusal("bind", pod.as_deref(), &reason);
        reason
    };
    let b = match (&app.binder, app.synced()) {
        (None, _) => {
            return refuse("bind is not enabled on this eip-extender; remove bindVerb from the scheduler configuration".to_string());
        }
        (_, Err(e)) => return refuse(e.to_string()),
        (Some(b), Ok(())) => b.clone(),
    };
    // run to completion, and log, even if the scheduler hangs up (a timeout), so the
    // reservation is always settled
    let who = pod.clone();
    let outcome = actix_web::rt::spawn(async move {
        let outcome = b.bind(&pod_namespace, &pod_name, &pod_uid, &node).await;
        match &outcome {
            BindOutcome::Bound | BindOutcome::AlreadyBound => tracing::info!(
                pod = who.as_deref(),
                node = %node,
                already = outcome == BindOutcome::AlreadyBound,
                "bound"
            ),
            BindOutcome::Rejected(r) => log_refusal("bind", who.as_deref(), &r.message),
            BindOutcome::Failed(m) => log_refusal("bind", who.as_deref(), m),
        }
        outcome
    })
    .await
    .unwrap_or_else(|e| BindOutcome::Failed(refuse(format!("bind task failed: {e}"))));
    if let BindOutcome::Rejected(r) = &outcome {
        app.metrics.rejected(r.kind);
    }
    outcome.error_text()
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn readyz(app: web::Data<AppState>) -> HttpResponse {
    match app.ready.check() {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(why) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(why),
    }
}

async fn metrics(app: web::Data<AppState>) -> HttpResponse {
    let text = {
        let st = app.state.read().unwrap_or_else(PoisonError::into_inner);
        app.metrics.render(&st)
    };
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text)
}

async fn debug_state(app: web::Data<AppState>) -> HttpResponse {
    let snap = {
        let st = app.state.read().unwrap_or_else(PoisonError::into_inner);
        st.snapshot()
    };
    json(StatusCode::OK, &snap)
}

async fn version() -> HttpResponse {
    json(
        StatusCode::OK,
        &serde_json::json!({
            "name": env!("CARGO_PKG_NAME"),
            "version": env!("CARGO_PKG_VERSION"),
        }),
    )
}

/// 405 for a method `path` does not answer, naming the one it does (in `Allow` too).
fn not_allowed(req: &HttpRequest, allow: &Method) -> HttpResponse {
    HttpResponse::build(StatusCode::METHOD_NOT_ALLOWED)
        .insert_header((header::ALLOW, allow.as_str()))
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "{} answers {allow} only, not {}",
            req.path(),
            req.method()
        ))
}

/// `path`, answering `method` only (the caller adds the route); other methods get 405.
fn only(path: &str, method: Method) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| {
        let allow = method.clone();
        async move { not_allowed(&req, &allow) }
    }))
}

/// Mount every route: the verbs under `prefix` (e.g. `""` or `/scheduler`), the
/// operational endpoints at the root. Another method on a path gets 405, another path 404.
pub fn configure(prefix: &str) -> impl FnOnce(&mut web::ServiceConfig) + Clone + 'static {
    let prefix = prefix.trim_end_matches('/').to_string();
    move |cfg: &mut web::ServiceConfig| {
        let verb = |name: &str| only(&format!("{prefix}/{name}"), Method::POST);
        let get = |path: &str| only(path, Method::GET);
        cfg.service(verb("filter").route(web::post().to(filter)))
            .service(verb("prioritize").route(web::post().to(prioritize)))
            .service(verb("bind").route(web::post().to(bind)))
            .service(verb("preempt").route(web::post().to(preempt)))
            .service(get("/healthz").route(web::get().to(healthz)))
            .service(get("/readyz").route(web::get().to(readyz)))
            .service(get("/metrics").route(web::get().to(metrics)))
            .service(get("/debug/state").route(web::get().to(debug_state)))
            .service(get("/version").route(web::get().to(version)));
        let verbs = ["filter", "prioritize", "bind", "preempt"].map(|v| format!("{prefix}/{v}"));
        cfg.default_service(web::to(move |req: HttpRequest| {
            let sentence = format!(
                "eip-extender has no endpoint {}; its scheduler verbs are {}",
                req.path(),
                verbs.join(", ")
            );
            async move { text(StatusCode::NOT_FOUND, sentence) }
        }));
    }
}
