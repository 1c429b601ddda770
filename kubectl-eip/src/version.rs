//! `kubectl eip version`: the plugin's version, and the agent's and extender's as their
//! DaemonSet and Deployment in `kube-eip` say (the image tag, or the
//! `app.kubernetes.io/version` label).

use std::io::Write;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use serde::{Deserialize, Serialize};

use crate::cli::{Global, Output};
use crate::connect::Kube;
use crate::error::{Call, Error};
use crate::names::{AGENT, EXTENDER, NAMESPACE};

/// This plugin's version.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

/// What `version -o json|yaml` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Versions {
    /// The plugin.
    pub kubectl_eip: String,
    /// eip-agent, or why it is unknown.
    pub eip_agent: String,
    /// eip-extender, or why it is unknown.
    pub eip_extender: String,
}

const VERSION_LABEL: &str = "app.kubernetes.io/version";

/// The version a workload runs: its version label, else its first image's tag.
fn version_of(meta: &ObjectMeta, template: Option<&PodTemplateSpec>) -> String {
    if let Some(v) = meta.labels.as_ref().and_then(|l| l.get(VERSION_LABEL)) {
        return v.clone();
    }
    let image = template
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone());
    match image {
        Some(i) => match i.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
            Some((_, tag)) => tag.to_owned(),
            None => format!("unknown (image {i} has no tag)"),
        },
        None => "unknown (no image)".to_owned(),
    }
}

fn unknown(e: Error, kind: &str, name: &str) -> String {
    match e {
        Error::NotFound { .. } => format!("not installed (no {kind} {NAMESPACE}/{name})"),
        other => format!("unknown ({other})"),
    }
}

/// `kubectl eip version`.
pub async fn run(
    kube: Option<&Kube>,
    connect_error: Option<&Error>,
    g: &Global,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let (agent, extender) = match (kube, connect_error) {
        (Some(kube), _) => {
            let ds: Api<DaemonSet> = Api::namespaced(kube.client.clone(), NAMESPACE);
            let agent = match ds.get(AGENT).await {
                Ok(d) => version_of(&d.metadata, d.spec.as_ref().map(|s| &s.template)),
                Err(e) => unknown(
                    Error::kube(
                        Call::new("get", "daemonsets.apps")
                            .named(AGENT)
                            .in_namespace(Some(NAMESPACE)),
                        &kube.server,
                        e,
                    ),
                    "DaemonSet",
                    AGENT,
                ),
            };
            let deploy: Api<Deployment> = Api::namespaced(kube.client.clone(), NAMESPACE);
            let extender = match deploy.get(EXTENDER).await {
                Ok(d) => version_of(&d.metadata, d.spec.as_ref().map(|s| &s.template)),
                Err(e) => unknown(
                    Error::kube(
                        Call::new("get", "deployments.apps")
                            .named(EXTENDER)
                            .in_namespace(Some(NAMESPACE)),
                        &kube.server,
                        e,
                    ),
                    "Deployment",
                    EXTENDER,
                ),
            };
            (agent, extender)
        }
        (None, e) => {
            let why = e.map(ToString::to_string).unwrap_or_default();
            (format!("unknown ({why})"), format!("unknown ({why})"))
        }
    };
    let v = Versions {
        kubectl_eip: VERSION.to_owned(),
        eip_agent: agent,
        eip_extender: extender,
    };
    let text = match g.output {
        Output::Json => serde_json::to_string_pretty(&v)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Output::Yaml => serde_saphyr::to_string(&v).map_err(|e| e.to_string()),
        _ => Ok(format!(
            "kubectl-eip: {}\neip-agent: {}\neip-extender: {}\n",
            v.kubectl_eip, v.eip_agent, v.eip_extender
        )),
    }
    .map_err(|e| Error::Failed(format!("failed to write the output: {e}")))?;
    out.write_all(text.as_bytes()).map_err(Error::Output)
}
