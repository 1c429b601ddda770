//! A scripted scheduler extender on `127.0.0.1:0` (actix-web), answering filter,
//! prioritize, bind and preempt per the protocol with eip-core's wire types, so the
//! scheduler loop can be tested before (and independently of) the real extender. It
//! records every call.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use eip_core::extender::{
    ExtenderArgs, ExtenderBindingArgs, ExtenderBindingResult, ExtenderFilterResult,
    ExtenderPreemptionArgs, ExtenderPreemptionResult, HostPriority, MetaPod, MetaVictims, NodeList,
    node_name,
};
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client};

/// What the fake extender answers.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Nodes refused in `FailedNodes` (node -> reason).
    pub failed: BTreeMap<String, String>,
    /// Nodes refused in `FailedAndUnresolvableNodes` (node -> reason).
    pub unresolvable: BTreeMap<String, String>,
    /// A non-empty `Error` in every filter answer.
    pub filter_error: Option<String>,
    /// Scores per node for prioritize (absent nodes get 0).
    pub scores: BTreeMap<String, i64>,
    /// `Error` in every bind answer (no binding is made).
    pub bind_error: Option<String>,
    /// Nodes kept in preempt answers (`None`: keep every node offered).
    pub preempt_keep: Option<Vec<String>>,
    /// Answer filter with `NodeNames` even when full `Nodes` were sent (the mistake
    /// that makes kube-scheduler see zero nodes).
    pub answer_with_names: bool,
}

/// One recorded call: the verb and the request body.
#[derive(Debug, Clone)]
pub struct Call {
    /// `filter`, `prioritize`, `bind` or `preempt`.
    pub verb: String,
    /// The JSON body as received.
    pub body: serde_json::Value,
}

struct State {
    script: Mutex<Script>,
    calls: Mutex<Vec<Call>>,
    client: Client,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

/// A running fake extender.
#[derive(Debug)]
pub struct FakeExtender {
    url: String,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeExtender {
    /// Starts on a free loopback port; `client` is used to bind pods.
    pub async fn start(client: Client, script: Script) -> anyhow::Result<Self> {
        let state = Arc::new(State {
            script: Mutex::new(script),
            calls: Mutex::new(Vec::new()),
            client,
        });
        let data = web::Data::from(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/filter", web::post().to(filter))
                .route("/prioritize", web::post().to(prioritize))
                .route("/bind", web::post().to(bind))
                .route("/preempt", web::post().to(preempt))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(FakeExtender {
            url: format!("http://{addr}"),
            state,
            handle,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Replaces the script.
    pub fn set_script(&self, script: Script) {
        *lock(&self.state.script) = script;
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state.calls).clone()
    }

    /// Calls of one verb.
    pub fn calls_of(&self, verb: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.verb == verb)
            .collect()
    }

    /// A `KubeSchedulerConfiguration` pointing at this extender. `verbs` lists the verbs to
    /// configure among filter, prioritize, bind and preempt.
    pub fn scheduler_config(
        &self,
        verbs: &[&str],
        weight: i64,
        node_cache_capable: bool,
    ) -> String {
        let mut yaml = format!(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nextenders:\n- urlPrefix: \"{}\"\n  weight: {weight}\n  nodeCacheCapable: {node_cache_capable}\n  ignorable: false\n  httpTimeout: 2s\n",
            self.url
        );
        for v in verbs {
            yaml.push_str(&format!("  {v}Verb: {v}\n"));
        }
        yaml
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.handle.stop(false).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn record(state: &State, verb: &str, body: &[u8]) {
    let body = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    lock(&state.calls).push(Call {
        verb: verb.to_string(),
        body,
    });
}

async fn filter(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    record(&state, "filter", &body);
    let Ok(args) = serde_json::from_slice::<ExtenderArgs>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let script = lock(&state.script).clone();
    if let Some(e) = script.filter_error {
        return HttpResponse::Ok().json(ExtenderFilterResult::error(e));
    }
    let refused = |n: &str| script.failed.contains_key(n) || script.unresolvable.contains_key(n);
    let mut result = ExtenderFilterResult {
        failed_nodes: script.failed.clone(),
        failed_and_unresolvable_nodes: script.unresolvable.clone(),
        ..ExtenderFilterResult::default()
    };
    if let Some(names) = args.node_names {
        result.node_names = Some(names.into_iter().filter(|n| !refused(n)).collect());
    } else if let (true, Some(list)) = (script.answer_with_names, args.nodes.as_ref()) {
        let names = list
            .items
            .iter()
            .filter_map(|raw| node_name(raw).map(|n| n.into_owned()))
            .filter(|n| !refused(n))
            .collect();
        result.node_names = Some(names);
    } else if let Some(list) = args.nodes {
        let kept = list
            .items
            .into_iter()
            .filter(|raw| node_name(raw).is_some_and(|n| !refused(&n)))
            .collect();
        result.nodes = Some(NodeList::new(kept));
    }
    HttpResponse::Ok().json(result)
}

async fn prioritize(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    record(&state, "prioritize", &body);
    let Ok(args) = serde_json::from_slice::<ExtenderArgs>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let script = lock(&state.script).clone();
    let names: Vec<String> = match (args.node_names, args.nodes) {
        (Some(n), _) => n,
        (None, Some(list)) => list
            .items
            .iter()
            .filter_map(|raw| node_name(raw).map(|n| n.into_owned()))
            .collect(),
        (None, None) => Vec::new(),
    };
    let list: Vec<HostPriority> = names
        .into_iter()
        .map(|host| HostPriority {
            score: script.scores.get(&host).copied().unwrap_or(0),
            host,
        })
        .collect();
    HttpResponse::Ok().json(list)
}

async fn bind(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    record(&state, "bind", &body);
    let Ok(args) = serde_json::from_slice::<ExtenderBindingArgs>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let script = lock(&state.script).clone();
    let error = match script.bind_error {
        Some(e) => e,
        None => {
            let binding = Binding {
                metadata: ObjectMeta {
                    name: Some(args.pod_name.clone()),
                    namespace: Some(args.pod_namespace.clone()),
                    uid: Some(args.pod_uid.clone()),
                    ..ObjectMeta::default()
                },
                target: ObjectReference {
                    kind: Some("Node".into()),
                    api_version: Some("v1".into()),
                    name: Some(args.node.clone()),
                    ..ObjectReference::default()
                },
            };
            let api: Api<Pod> = Api::namespaced(state.client.clone(), &args.pod_namespace);
            match api
                .create_subresource::<Binding, serde_json::Value>(
                    "binding",
                    &args.pod_name,
                    &PostParams::default(),
                    &binding,
                )
                .await
            {
                Ok(_) => String::new(),
                Err(e) => e.to_string(),
            }
        }
    };
    HttpResponse::Ok().json(ExtenderBindingResult { error })
}

async fn preempt(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    record(&state, "preempt", &body);
    let Ok(args) = serde_json::from_slice::<ExtenderPreemptionArgs>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let script = lock(&state.script).clone();
    let mut offered: BTreeMap<String, MetaVictims> =
        args.node_name_to_meta_victims.unwrap_or_default();
    for (node, v) in args.node_name_to_victims.unwrap_or_default() {
        let pods = v
            .pods
            .iter()
            .map(|p| MetaPod {
                uid: p.metadata.uid.clone().unwrap_or_default(),
            })
            .collect();
        offered.insert(
            node,
            MetaVictims {
                pods,
                num_pdb_violations: v.num_pdb_violations,
            },
        );
    }
    if let Some(keep) = script.preempt_keep {
        offered.retain(|n, _| keep.contains(n));
    }
    HttpResponse::Ok().json(ExtenderPreemptionResult {
        node_name_to_meta_victims: Some(offered),
    })
}
