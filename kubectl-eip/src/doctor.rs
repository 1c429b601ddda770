//! `kubectl eip doctor`: whether kube-eip is installed, configured and usable by the caller.
//!
//! Each check reads what it needs and is judged by a pure function into `ok`, `warn` or
//! `fail` with a one-line fix for every non-ok; one fail makes the command exit 1. A check
//! the caller may not read is a `warn` naming the refused call (the RBAC check says what
//! to bind).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use eip_core::eni_config::{
    ENABLE_EIP_POOL, ENI_CONF_KEY, ENI_CONFIG_NAME, ENI_CONFIG_NAMESPACE, EipSwitches,
};
use eip_core::podeip::{GROUP, PodEIP, VERSION};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Node};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use kube::{CustomResourceExt as _, Resource};
use serde::de::DeserializeOwned;

use crate::cli::DoctorArgs;
use crate::connect::Kube;
use crate::error::{Call, Error};
use crate::extender;
use crate::names::{AGENT, EXTENDER, EXTENDER_PORT, NAMESPACE, OUR_COMPONENTS};
use crate::table::{self, Paint};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Fine.
    Ok,
    /// Works, but worth a look.
    Warn,
    /// Broken: kube-eip cannot work (the command exits 1).
    Fail,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }

    fn paint(self) -> Paint {
        match self {
            Level::Ok => Paint::Green,
            Level::Warn => Paint::Yellow,
            Level::Fail => Paint::Red,
        }
    }
}

/// One check's line and, unless ok, its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The outcome.
    pub level: Level,
    /// What was found.
    pub text: String,
    /// What to do (every non-ok check has one).
    pub fix: Option<String>,
}

impl Check {
    fn ok(text: impl Into<String>) -> Self {
        Self {
            level: Level::Ok,
            text: text.into(),
            fix: None,
        }
    }
    fn warn(text: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            level: Level::Warn,
            text: text.into(),
            fix: Some(fix.into()),
        }
    }
    fn fail(text: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            level: Level::Fail,
            text: text.into(),
            fix: Some(fix.into()),
        }
    }
}

const WIDTH: usize = 6;
const INSTALL: &str = "install kube-eip: kubectl apply -k deploy/base";
const BIND: &str = "ask a cluster admin to bind the ClusterRole kube-eip-user (deploy/base/kubectl-eip-user-rbac.yaml)";

/// The report, aligned: the level in a 6-wide column, the fix under the text.
pub fn render(checks: &[Check], colour: bool) -> String {
    let mut out = String::new();
    for c in checks {
        let word = c.level.word();
        out.push_str(&table::paint(word, c.level.paint(), colour));
        out.push_str(&" ".repeat(WIDTH - word.len()));
        out.push_str(&c.text);
        out.push('\n');
        if let Some(fix) = &c.fix {
            out.push_str(&" ".repeat(WIDTH));
            out.push_str("fix: ");
            out.push_str(fix);
            out.push('\n');
        }
    }
    out
}

/// A check that could not read what it needs.
fn unreadable(what: &str, e: &Error) -> Check {
    match e {
        Error::Forbidden { call, user } => {
            Check::warn(format!("cannot check {what}: {user} may not {call}"), BIND)
        }
        other => Check::warn(
            format!("cannot check {what}: {other}"),
            "run kubectl eip doctor again; if it keeps failing, check the API server",
        ),
    }
}

/// The PodEIP CRD: installed and serving (and storing) the version this plugin reads.
pub fn crd_check(crd: Option<&CustomResourceDefinition>) -> Check {
    let name = PodEIP::crd_name();
    let Some(crd) = crd else {
        return Check::fail(format!("the PodEIP CRD ({name}) is not installed"), INSTALL);
    };
    let versions = &crd.spec.versions;
    match versions.iter().find(|v| v.name == VERSION) {
        Some(v) if v.served && v.storage => {
            Check::ok(format!("PodEIP CRD installed ({GROUP}/{VERSION})"))
        }
        Some(v) if v.served => Check::warn(
            format!("the PodEIP CRD serves {GROUP}/{VERSION} but stores another version"),
            "upgrade the CRD to this plugin's: kubectl apply -k deploy/crds",
        ),
        _ => {
            let served: Vec<&str> = versions
                .iter()
                .filter(|v| v.served)
                .map(|v| v.name.as_str())
                .collect();
            Check::fail(
                format!(
                    "the PodEIP CRD ({name}) does not serve {GROUP}/{VERSION} (it serves {})",
                    if served.is_empty() {
                        "none".to_owned()
                    } else {
                        served.join(", ")
                    }
                ),
                "install the kube-eip release that matches this plugin (kubectl eip version), or upgrade the CRD: kubectl apply -k deploy/crds",
            )
        }
    }
}

/// `kube-system/eni-config`, judged by eip-core's one policy.
pub fn eni_config_check(data: Option<Option<&BTreeMap<String, String>>>) -> Check {
    let cm = format!("ConfigMap {ENI_CONFIG_NAMESPACE}/{ENI_CONFIG_NAME}");
    let Some(data) = data else {
        return Check::fail(
            format!("{cm} not found, so the EIP feature is off"),
            format!(
                "create it as Terway does, with \"{ENABLE_EIP_POOL}\": \"true\" in key {ENI_CONF_KEY}"
            ),
        );
    };
    let empty = BTreeMap::new();
    let switches = EipSwitches::from_config_map(Some(data.unwrap_or(&empty)));
    match (&switches.invalid, switches.eip_enabled) {
        (Some(problem), _) => Check::fail(
            format!("{cm} is invalid, so the EIP feature is off: {problem}"),
            format!(
                "edit it (kubectl -n {ENI_CONFIG_NAMESPACE} edit configmap {ENI_CONFIG_NAME}); no restart needed"
            ),
        ),
        (None, false) => Check::warn(
            format!("the EIP feature is off in {cm}"),
            format!(
                "set \"{ENABLE_EIP_POOL}\": \"true\" in key {ENI_CONF_KEY} of {cm} (no restart needed)"
            ),
        ),
        (None, true) => Check::ok(format!(
            "EIP feature on in {cm} (allow_eip_rob {})",
            if switches.allow_rob { "on" } else { "off" }
        )),
    }
}

/// Terway's DaemonSet names in kube-system.
pub const TERWAY_DAEMONSETS: [&str; 3] = ["terway-eniip", "terway-eni", "terway"];
/// Alibaba's EIP controller (the ack-extend-network-controller add-on) in kube-system.
pub const ACK_CONTROLLER: &str = "ack-extend-network-controller";
/// The CRD of Alibaba's EIP controller.
pub const ACK_CRD: &str = "podeips.alibabacloud.com";
/// The first Terway version without its own EIP allocation.
const TERWAY_WITHOUT_EIP: (u64, u64, u64) = (1, 7, 0);

/// `major.minor.patch` of an image tag such as `v1.6.3` or `v1.6.3-abc123`.
pub fn image_version(image: &str) -> Option<(u64, u64, u64)> {
    let (_, tag) = image.rsplit_once(':').filter(|(_, t)| !t.contains('/'))?;
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    let core = tag.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

fn first_image(ds: &DaemonSet) -> Option<&str> {
    ds.spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .as_deref()
}

/// Another controller that reads the same annotations: Terway before v1.7.0 with its EIP
/// pool on, or ack-extend-network-controller (its Deployment or its CRD).
pub fn conflicts_check(
    terway: Option<(&str, &DaemonSet)>,
    eip_enabled: bool,
    ack_controller: bool,
    ack_crd: bool,
) -> Check {
    const TWO: &str = "reads the same annotations: two controllers would allocate two EIPs per pod";
    if ack_controller || ack_crd {
        let what = if ack_controller {
            format!("{ACK_CONTROLLER} (Deployment {ENI_CONFIG_NAMESPACE}/{ACK_CONTROLLER})")
        } else {
            format!("{ACK_CONTROLLER} (its CRD {ACK_CRD} is installed)")
        };
        return Check::fail(
            format!("{what} {TWO}"),
            format!("uninstall the {ACK_CONTROLLER} add-on, or do not use kube-eip"),
        );
    }
    if let Some((name, ds)) = terway {
        let image = first_image(ds).unwrap_or_default();
        match image_version(image) {
            Some(v) if v < TERWAY_WITHOUT_EIP && eip_enabled => {
                return Check::fail(
                    format!(
                        "Terway v{}.{}.{} (DaemonSet {ENI_CONFIG_NAMESPACE}/{name}) allocates EIPs itself while {ENABLE_EIP_POOL} is on, and {TWO}",
                        v.0, v.1, v.2
                    ),
                    "upgrade Terway to v1.7.0 or later (it leaves EIPs to others), or do not use kube-eip",
                );
            }
            Some(_) => {}
            None => {
                return Check::warn(
                    format!(
                        "cannot tell Terway's version from image {image:?} (DaemonSet {ENI_CONFIG_NAMESPACE}/{name}); before v1.7.0 it allocates EIPs itself"
                    ),
                    "make sure Terway is v1.7.0 or later",
                );
            }
        }
    }
    Check::ok(format!(
        "no second EIP controller (no Terway before v1.7.0 with its EIP pool on, no {ACK_CONTROLLER})"
    ))
}

/// The agent's DaemonSet, ready on every schedulable node.
pub fn agent_check(ds: Option<&DaemonSet>, schedulable: usize) -> Check {
    let Some(ds) = ds else {
        return Check::fail(
            format!("eip-agent is not installed (no DaemonSet {NAMESPACE}/{AGENT})"),
            INSTALL,
        );
    };
    let ready = ds
        .status
        .as_ref()
        .map_or(0, |s| usize::try_from(s.number_ready).unwrap_or(0));
    if ready >= schedulable && schedulable > 0 {
        Check::ok(format!(
            "eip-agent ready on every schedulable node ({ready}/{schedulable})"
        ))
    } else {
        Check::fail(
            format!("eip-agent ready on {ready} of {schedulable} schedulable nodes"),
            format!(
                "see why: kubectl -n {NAMESPACE} describe daemonset {AGENT}; EIP pods on the other nodes get no EIP"
            ),
        )
    }
}

/// The extender's Deployment: at least one ready replica (the leader).
pub fn extender_deployment_check(d: Option<&Deployment>) -> Check {
    let Some(d) = d else {
        return Check::fail(
            format!("eip-extender is not installed (no Deployment {NAMESPACE}/{EXTENDER})"),
            INSTALL,
        );
    };
    let ready = d
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    if ready > 0 {
        Check::ok(format!(
            "eip-extender ready (Deployment {NAMESPACE}/{EXTENDER}, {ready} ready: the leader)"
        ))
    } else {
        Check::fail(
            format!("eip-extender has no ready replica (Deployment {NAMESPACE}/{EXTENDER})"),
            format!(
                "see why: kubectl -n {NAMESPACE} describe deployment {EXTENDER}; until one is ready EIP pods stay Pending"
            ),
        )
    }
}

/// The extender's `/readyz` at the URL given.
pub fn extender_url_check(url: &str, answer: Result<(u16, String), String>) -> Check {
    let url = url.trim_end_matches('/');
    match answer {
        Ok((200, _)) => Check::ok(format!("eip-extender ready at {url}")),
        Ok((code, body)) => Check::fail(
            format!(
                "eip-extender at {url} is not ready (HTTP {code}: {})",
                body.trim()
            ),
            "see its log; until it is ready EIP pods stay Pending",
        ),
        Err(why) => Check::fail(
            format!("eip-extender at {url} does not answer ({why})"),
            "check the URL, or leave out --extender to check the Deployment",
        ),
    }
}

/// The ConfigMap that registers the extender with kube-scheduler.
pub const SCHEDULER_CONFIG: &str = "eip-kube-scheduler-config";

/// kube-scheduler wired to the extender: the ConfigMap deploy/scheduler creates.
pub fn scheduler_check(config: Option<&ConfigMap>) -> Check {
    let cm = format!("ConfigMap {ENI_CONFIG_NAMESPACE}/{SCHEDULER_CONFIG}");
    let calls = config
        .and_then(|c| c.data.as_ref())
        .is_some_and(|d| d.values().any(|v| v.contains(EXTENDER)));
    match (config, calls) {
        (Some(_), true) => Check::ok(format!(
            "kube-scheduler configured to call eip-extender ({cm})"
        )),
        (Some(_), false) => Check::warn(
            format!("{cm} does not name {EXTENDER}"),
            "replace it with deploy/scheduler: kubectl apply -k deploy/scheduler",
        ),
        (None, _) => Check::warn(
            format!(
                "no {cm}: unless kube-scheduler is configured otherwise, it places EIP pods without asking eip-extender"
            ),
            "give kube-scheduler deploy/scheduler/kube-scheduler-config.yaml (kubectl apply -k deploy/scheduler creates the ConfigMap)",
        ),
    }
}

/// Where a permission applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Cluster-scoped resource.
    Cluster,
    /// Every namespace (`-A`).
    AllNamespaces,
    /// The namespace of `-n` / the context.
    Current,
    /// A fixed namespace.
    In(&'static str),
}

/// One permission a command uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// The verb.
    pub verb: &'static str,
    /// API group (`""` for core).
    pub group: &'static str,
    /// Resource plural.
    pub resource: &'static str,
    /// Subresource (`""` for none).
    pub subresource: &'static str,
    /// Where.
    pub scope: Scope,
    /// The object's name (`""` for any).
    pub name: &'static str,
}

const fn need(
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    scope: Scope,
) -> Need {
    Need {
        verb,
        group,
        resource,
        subresource: "",
        scope,
        name: "",
    }
}

const CRD_GROUP: &str = "apiextensions.k8s.io";
/// The PodEIP CRD's name (`PodEIP::crd_name()`, as a constant for [`NEEDS`]).
const PODEIP_CRD: &str = "podeips.kube-eip.io";

/// Every permission the plugin's commands use (deploy/base/kubectl-eip-user-rbac.yaml grants
/// them; `tests/rbac.rs` proves each is used and enough).
pub const NEEDS: &[Need] = &[
    // show, request, release: pods and their annotations
    need("list", "", "pods", Scope::AllNamespaces),
    need("get", "", "pods", Scope::Current),
    need("patch", "", "pods", Scope::Current),
    need("list", "", "events", Scope::AllNamespaces),
    need("list", GROUP, "podeips", Scope::AllNamespaces),
    // request and release on workloads; version and doctor read kube-eip's own
    need("get", "apps", "deployments", Scope::Current),
    need("patch", "apps", "deployments", Scope::Current),
    need("get", "apps", "statefulsets", Scope::Current),
    need("patch", "apps", "statefulsets", Scope::Current),
    need("get", "apps", "daemonsets", Scope::Current),
    need("patch", "apps", "daemonsets", Scope::Current),
    need("get", "apps", "replicasets", Scope::Current),
    need("patch", "apps", "replicasets", Scope::Current),
    need("get", "batch", "jobs", Scope::Current),
    need("list", "batch", "jobs", Scope::Current),
    need("patch", "batch", "jobs", Scope::Current),
    need("get", "batch", "cronjobs", Scope::Current),
    need("patch", "batch", "cronjobs", Scope::Current),
    need("get", "apps", "daemonsets", Scope::In(NAMESPACE)),
    need("get", "apps", "deployments", Scope::In(NAMESPACE)),
    // nodes
    need("list", "", "nodes", Scope::Cluster),
    Need {
        subresource: "proxy",
        name: "eip-extender:8484",
        ..need("get", "", "services", Scope::In(NAMESPACE))
    },
    // doctor
    Need {
        name: ENI_CONFIG_NAME,
        ..need("get", "", "configmaps", Scope::In(ENI_CONFIG_NAMESPACE))
    },
    Need {
        name: SCHEDULER_CONFIG,
        ..need("get", "", "configmaps", Scope::In(ENI_CONFIG_NAMESPACE))
    },
    need("get", "apps", "daemonsets", Scope::In(ENI_CONFIG_NAMESPACE)),
    need(
        "get",
        "apps",
        "deployments",
        Scope::In(ENI_CONFIG_NAMESPACE),
    ),
    Need {
        name: PODEIP_CRD,
        ..need(
            "get",
            CRD_GROUP,
            "customresourcedefinitions",
            Scope::Cluster,
        )
    },
    Need {
        name: ACK_CRD,
        ..need(
            "get",
            CRD_GROUP,
            "customresourcedefinitions",
            Scope::Cluster,
        )
    },
    need(
        "create",
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        Scope::Cluster,
    ),
];

// The proxy name above is the Service and its port, as the API server's RBAC sees it.
const _: () = assert!(EXTENDER_PORT == 8484);

/// `verb group/resource[/sub] [name] in ns`, for the RBAC line.
pub fn describe(n: &Need, current: &str) -> String {
    let mut s = format!("{} ", n.verb);
    if !n.group.is_empty() {
        s.push_str(&format!("{}.", n.resource));
        s.push_str(n.group);
    } else {
        s.push_str(n.resource);
    }
    if !n.subresource.is_empty() {
        s.push('/');
        s.push_str(n.subresource);
    }
    if !n.name.is_empty() {
        s.push_str(&format!(" {:?}", n.name));
    }
    match n.scope {
        Scope::Cluster => {}
        Scope::AllNamespaces => s.push_str(" in all namespaces"),
        Scope::Current => s.push_str(&format!(" in {current}")),
        Scope::In(ns) => s.push_str(&format!(" in {ns}")),
    }
    s
}

/// The refused permissions as phrases, verbs of the same resource and scope joined
/// (`get/patch deployments.apps in default`), in the order of [`NEEDS`].
pub fn describe_all(denied: &[&Need], current: &str) -> Vec<String> {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for n in denied {
        let what = describe(n, current);
        let rest = what.split_once(' ').map_or("", |(_, r)| r).to_owned();
        match groups.iter_mut().find(|(r, _)| *r == rest) {
            Some((_, verbs)) => verbs.push(n.verb),
            None => groups.push((rest, vec![n.verb])),
        }
    }
    groups
        .into_iter()
        .map(|(rest, verbs)| format!("{} {rest}", verbs.join("/")))
        .collect()
}

/// The RBAC line from what SelfSubjectAccessReview refused (`denied` as [`describe_all`]
/// phrases them).
pub fn rbac_check(user: &str, denied: &[String], checked: usize) -> Check {
    if denied.is_empty() {
        Check::ok(format!(
            "{user} may do everything kubectl eip does ({checked} permissions checked)"
        ))
    } else {
        Check::fail(
            format!("{user} may not: {}", denied.join(", ")),
            BIND.to_owned(),
        )
    }
}

fn event_time(e: &Event) -> Option<jiff::Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or(e.event_time.as_ref().map(|t| t.0))
        .or(e.first_timestamp.as_ref().map(|t| t.0))
        .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Warning events of eip-agent and eip-extender in the last hour, grouped by reason.
pub fn events_check(events: &[Event], now: jiff::Timestamp) -> Check {
    let since = now - jiff::SignedDuration::from_hours(1);
    let mut by_reason: BTreeMap<String, i64> = BTreeMap::new();
    for e in events {
        let by = e
            .reporting_component
            .as_deref()
            .filter(|c| !c.is_empty())
            .or(e.source.as_ref().and_then(|s| s.component.as_deref()));
        if e.type_.as_deref() != Some("Warning")
            || !by.is_some_and(|c| OUR_COMPONENTS.contains(&c))
            || event_time(e).is_none_or(|t| t < since)
        {
            continue;
        }
        *by_reason
            .entry(e.reason.clone().unwrap_or_else(|| "<none>".to_owned()))
            .or_default() += i64::from(e.count.unwrap_or(1).max(1));
    }
    if by_reason.is_empty() {
        return Check::ok("no Warning events from eip-agent or eip-extender in the last hour");
    }
    let total: i64 = by_reason.values().sum();
    let groups: Vec<String> = by_reason.iter().map(|(r, n)| format!("{r} x{n}")).collect();
    Check::warn(
        format!(
            "{total} Warning event{} from eip-agent or eip-extender in the last hour: {}",
            if total == 1 { "" } else { "s" },
            groups.join(", ")
        ),
        "kubectl eip show -A says which pods; kubectl get events -A --field-selector type=Warning has the details",
    )
}

async fn get_opt<K>(kube: &Kube, api: Api<K>, call: Call) -> Result<Option<K>, Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let name = call.name.clone().unwrap_or_default();
    api.get_opt(&name).await.map_err(kube.err(call))
}

fn ns_api<K>(kube: &Kube, ns: &str) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    Api::namespaced(kube.client.clone(), ns)
}

/// Terway's DaemonSet (its name), ack-extend-network-controller's Deployment, its CRD.
type Controllers = (Option<(&'static str, DaemonSet)>, bool, bool);

/// Every check in order; stops after the first when the API server does not answer.
pub async fn checks(kube: &Kube, args: &DoctorArgs) -> Vec<Check> {
    let mut out = Vec::new();
    match kube.client.apiserver_version().await {
        Ok(v) => out.push(Check::ok(format!(
            "API server reachable ({})",
            v.git_version
        ))),
        Err(e) => {
            let why = match Error::kube(Call::new("get", "version"), &kube.server, e) {
                Error::Unreachable { why, .. } => why,
                other => other.to_string(),
            };
            out.push(Check::fail(
                format!("API server unreachable at {} ({why})", kube.server),
                "check that the cluster is running and that --kubeconfig/--context point at it",
            ));
            return out;
        }
    }
    let crds: Api<CustomResourceDefinition> = Api::all(kube.client.clone());
    let crd_call =
        |name: &str| Call::new("get", "customresourcedefinitions.apiextensions.k8s.io").named(name);
    out.push(
        match get_opt(kube, crds.clone(), crd_call(PodEIP::crd_name())).await {
            Ok(crd) => crd_check(crd.as_ref()),
            Err(e) => unreadable("the PodEIP CRD", &e),
        },
    );

    let cm_call = |name: &str| {
        Call::new("get", "configmaps")
            .named(name)
            .in_namespace(Some(ENI_CONFIG_NAMESPACE))
    };
    let cms: Api<ConfigMap> = ns_api(kube, ENI_CONFIG_NAMESPACE);
    let eni = get_opt(kube, cms.clone(), cm_call(ENI_CONFIG_NAME)).await;
    let eip_enabled = match &eni {
        Ok(cm) => {
            let check = eni_config_check(cm.as_ref().map(|c| c.data.as_ref()));
            let on = check.level == Level::Ok;
            out.push(check);
            on
        }
        Err(e) => {
            out.push(unreadable("eni-config", e));
            true
        }
    };

    // Other EIP controllers.
    let ds_sys: Api<DaemonSet> = ns_api(kube, ENI_CONFIG_NAMESPACE);
    let mut conflict: Result<Controllers, Error> = Ok((None, false, false));
    for name in TERWAY_DAEMONSETS {
        let call = Call::new("get", "daemonsets.apps")
            .named(name)
            .in_namespace(Some(ENI_CONFIG_NAMESPACE));
        match get_opt(kube, ds_sys.clone(), call).await {
            Ok(Some(ds)) => {
                conflict = Ok((Some((name, ds)), false, false));
                break;
            }
            Ok(None) => {}
            Err(e) => {
                conflict = Err(e);
                break;
            }
        }
    }
    if let Ok((terway, _, _)) = conflict {
        let deploy_call = Call::new("get", "deployments.apps")
            .named(ACK_CONTROLLER)
            .in_namespace(Some(ENI_CONFIG_NAMESPACE));
        let ack = get_opt(
            kube,
            ns_api::<Deployment>(kube, ENI_CONFIG_NAMESPACE),
            deploy_call,
        )
        .await;
        let ack_crd = get_opt(kube, crds.clone(), crd_call(ACK_CRD)).await;
        conflict = match (ack, ack_crd) {
            (Ok(a), Ok(c)) => Ok((terway, a.is_some(), c.is_some())),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
    }
    out.push(match &conflict {
        Ok((terway, ack, crd)) => conflicts_check(
            terway.as_ref().map(|(n, d)| (*n, d)),
            eip_enabled,
            *ack,
            *crd,
        ),
        Err(e) => unreadable("for other EIP controllers", e),
    });

    // The agent on every schedulable node.
    let agent_call = Call::new("get", "daemonsets.apps")
        .named(AGENT)
        .in_namespace(Some(NAMESPACE));
    let agent = get_opt(kube, ns_api::<DaemonSet>(kube, NAMESPACE), agent_call).await;
    let nodes = Api::<Node>::all(kube.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(kube.err(Call::new("list", "nodes")));
    out.push(match (agent, nodes) {
        (Ok(ds), Ok(nodes)) => {
            let schedulable = nodes
                .items
                .iter()
                .filter(|n| {
                    !n.spec
                        .as_ref()
                        .and_then(|s| s.unschedulable)
                        .unwrap_or(false)
                })
                .count();
            agent_check(ds.as_ref(), schedulable)
        }
        (Err(e), _) | (_, Err(e)) => unreadable("eip-agent", &e),
    });

    // The extender, and kube-scheduler calling it.
    out.push(match args.extender.as_deref() {
        Some(url) => extender_url_check(url, extender::get(kube, Some(url), "/readyz").await),
        None => {
            let call = Call::new("get", "deployments.apps")
                .named(EXTENDER)
                .in_namespace(Some(NAMESPACE));
            match get_opt(kube, ns_api::<Deployment>(kube, NAMESPACE), call).await {
                Ok(d) => extender_deployment_check(d.as_ref()),
                Err(e) => unreadable("eip-extender", &e),
            }
        }
    });
    out.push(match get_opt(kube, cms, cm_call(SCHEDULER_CONFIG)).await {
        Ok(cm) => scheduler_check(cm.as_ref()),
        Err(e) => unreadable("kube-scheduler's configuration", &e),
    });

    out.push(rbac(kube).await);

    out.push(
        match Api::<Event>::all(kube.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(kube.err(Call::new("list", "events")))
        {
            Ok(list) => events_check(&list.items, jiff::Timestamp::now()),
            Err(e) => unreadable("recent events", &e),
        },
    );
    out
}

async fn rbac(kube: &Kube) -> Check {
    let api: Api<SelfSubjectAccessReview> = Api::all(kube.client.clone());
    let mut denied = Vec::new();
    for n in NEEDS {
        let namespace = match n.scope {
            Scope::Cluster | Scope::AllNamespaces => None,
            Scope::Current => Some(kube.namespace.clone()),
            Scope::In(ns) => Some(ns.to_owned()),
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(n.verb.to_owned()),
                    group: Some(n.group.to_owned()),
                    resource: Some(n.resource.to_owned()),
                    subresource: Some(n.subresource.to_owned()).filter(|s| !s.is_empty()),
                    name: Some(n.name.to_owned()).filter(|s| !s.is_empty()),
                    namespace,
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let call = Call::new("create", "selfsubjectaccessreviews.authorization.k8s.io");
        match api.create(&PostParams::default(), &review).await {
            Ok(r) => {
                if !r.status.is_some_and(|s| s.allowed) {
                    denied.push(n);
                }
            }
            Err(e) => return unreadable("your permissions", &kube.err(call)(e)),
        }
    }
    rbac_check("you", &describe_all(&denied, &kube.namespace), NEEDS.len())
}

/// `kubectl eip doctor`.
pub async fn run(kube: &Kube, args: &DoctorArgs, out: &mut dyn Write) -> Result<(), Error> {
    let checks = tokio::time::timeout(Duration::from_secs(120), checks(kube, args))
        .await
        .map_err(|_| Error::Failed("the checks did not finish in 2 minutes".to_owned()))?;
    out.write_all(render(&checks, table::colour_stdout()).as_bytes())
        .map_err(Error::Output)?;
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    match failed {
        0 => Ok(()),
        n => Err(Error::Failed(format!(
            "{n} of {} checks failed; see the fix under each",
            checks.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(eni_conf: &str) -> BTreeMap<String, String> {
        [(ENI_CONF_KEY.to_owned(), eni_conf.to_owned())].into()
    }

    #[test]
    fn the_crd_name_needed_is_podeips() {
        assert_eq!(PODEIP_CRD, PodEIP::crd_name());
    }

    #[test]
    fn reports_align_and_every_non_ok_line_has_a_fix() {
        let checks = [
            Check::ok("API server reachable (v1.33.0)"),
            Check::warn("w", "do w"),
            Check::fail("f", "do f"),
        ];
        assert_eq!(
            render(&checks, false),
            "ok    API server reachable (v1.33.0)\nwarn  w\n      fix: do w\nfail  f\n      fix: do f\n"
        );
        assert!(render(&checks, true).starts_with("\x1b[32mok\x1b[0m    API"));
    }

    #[test]
    fn eni_config_follows_eip_cores_policy() {
        assert_eq!(eni_config_check(None).level, Level::Fail);
        let on = data(r#"{"enable_eip_pool": "true"}"#);
        assert_eq!(
            eni_config_check(Some(Some(&on))).text,
            "EIP feature on in ConfigMap kube-system/eni-config (allow_eip_rob off)"
        );
        let off = data(r#"{"enable_eip_pool": "false"}"#);
        assert_eq!(eni_config_check(Some(Some(&off))).level, Level::Warn);
        let bad = data(r#"{"enable_eip_pool": "yes"}"#);
        let c = eni_config_check(Some(Some(&bad)));
        assert_eq!(c.level, Level::Fail);
        let problem = EipSwitches::from_config_map(Some(&bad))
            .invalid
            .unwrap_or_default();
        assert!(c.text.ends_with(&problem), "{c:?}");
        assert_eq!(eni_config_check(Some(None)).level, Level::Fail, "no data");
    }

    #[test]
    fn terway_before_1_7_with_the_pool_on_is_a_second_controller() {
        assert_eq!(
            image_version("registry/acs/terway:v1.6.3-abc"),
            Some((1, 6, 3))
        );
        assert_eq!(image_version("terway:v1.7"), Some((1, 7, 0)));
        assert_eq!(image_version("localhost:5000/terway"), None);
        let ds = |image: &str| -> DaemonSet {
            serde_json::from_value(serde_json::json!({
                "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "t", "image": image}]}}}
            }))
            .expect("ds")
        };
        let old = ds("acs/terway:v1.6.3");
        assert_eq!(
            conflicts_check(Some(("terway-eniip", &old)), true, false, false).level,
            Level::Fail
        );
        assert_eq!(
            conflicts_check(Some(("terway-eniip", &old)), false, false, false).level,
            Level::Ok
        );
        let new = ds("acs/terway:v1.8.0");
        assert_eq!(
            conflicts_check(Some(("terway-eniip", &new)), true, false, false).level,
            Level::Ok
        );
        assert_eq!(conflicts_check(None, true, false, true).level, Level::Fail);
        assert_eq!(conflicts_check(None, true, false, false).level, Level::Ok);
    }

    #[test]
    fn warnings_of_our_components_are_grouped_by_reason() {
        let now: jiff::Timestamp = "2025-01-01T12:00:00Z".parse().expect("ts");
        let ev = |by: &str, reason: &str, at: &str, count: i32| -> Event {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("e-{reason}-{at}")},
                "involvedObject": {},
                "type": "Warning", "reason": reason, "reportingComponent": by,
                "lastTimestamp": at, "count": count,
            }))
            .expect("event")
        };
        let events = [
            ev("eip-agent", "EipFailed", "2025-01-01T11:30:00Z", 2),
            ev(
                "eip-extender",
                "InvalidEniConfig",
                "2025-01-01T11:59:00Z",
                1,
            ),
            ev("eip-agent", "EipFailed", "2025-01-01T10:00:00Z", 5),
            ev("kubelet", "BackOff", "2025-01-01T11:59:00Z", 1),
        ];
        assert_eq!(
            events_check(&events, now).text,
            "3 Warning events from eip-agent or eip-extender in the last hour: EipFailed x2, InvalidEniConfig x1"
        );
        assert_eq!(events_check(&events[3..], now).level, Level::Ok);
    }
}
