//! `TARGET`: a pod (`NAME`, `pod/NAME`) or a workload (`deployment/NAME`, ...), as kubectl
//! spells resource types and their short names; reading it and the pods it runs.

use std::collections::BTreeMap;

use eip_core::workload::{self, Owner};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use serde_json::Value;

use crate::connect::Kube;
use crate::error::{Call, Error};

/// The kinds a TARGET may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A pod.
    Pod,
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
    /// batch/v1 Job.
    Job,
    /// batch/v1 CronJob.
    CronJob,
}

/// What `kubectl eip` accepts before the `/`, for messages.
pub const KINDS_FORM: &str = "pod, deployment (deploy), statefulset (sts), daemonset (ds), replicaset (rs), job or cronjob (cj)";

impl Kind {
    /// Reads a resource type as kubectl accepts it (singular, plural, short name, with or
    /// without its group).
    pub fn parse(s: &str) -> Option<Kind> {
        let s = s.to_ascii_lowercase();
        let (name, group) = s.split_once('.').unwrap_or((s.as_str(), ""));
        let kind = match name {
            "pod" | "pods" | "po" => Kind::Pod,
            "deployment" | "deployments" | "deploy" => Kind::Deployment,
            "statefulset" | "statefulsets" | "sts" => Kind::StatefulSet,
            "daemonset" | "daemonsets" | "ds" => Kind::DaemonSet,
            "replicaset" | "replicasets" | "rs" => Kind::ReplicaSet,
            "job" | "jobs" => Kind::Job,
            "cronjob" | "cronjobs" | "cj" => Kind::CronJob,
            _ => return None,
        };
        let expected_group = kind.api_resource().group;
        (group.is_empty() || group == expected_group).then_some(kind)
    }

    /// Group, version, kind and plural.
    pub fn api_resource(self) -> ApiResource {
        match self {
            Kind::Pod => ApiResource::erase::<Pod>(&()),
            Kind::Deployment => ApiResource::erase::<Deployment>(&()),
            Kind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
            Kind::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
            Kind::ReplicaSet => ApiResource::erase::<ReplicaSet>(&()),
            Kind::Job => ApiResource::erase::<Job>(&()),
            Kind::CronJob => ApiResource::erase::<CronJob>(&()),
        }
    }

    /// The resource as kubectl names it in messages: `pods`, `deployments.apps`.
    pub fn resource(self) -> String {
        let ar = self.api_resource();
        if ar.group.is_empty() {
            ar.plural
        } else {
            format!("{}.{}", ar.plural, ar.group)
        }
    }

    /// The type as kubectl prints it before `/`: `pod`, `deployment.apps`.
    pub fn qualified(self) -> String {
        let ar = self.api_resource();
        let kind = ar.kind.to_ascii_lowercase();
        if ar.group.is_empty() {
            kind
        } else {
            format!("{kind}.{}", ar.group)
        }
    }

    /// Where the pod annotations are: the pod's own, or the workload's pod template's.
    pub fn annotations_path(self) -> &'static [&'static str] {
        match self {
            Kind::Pod => &["metadata", "annotations"],
            Kind::CronJob => &[
                "spec",
                "jobTemplate",
                "spec",
                "template",
                "metadata",
                "annotations",
            ],
            _ => &["spec", "template", "metadata", "annotations"],
        }
    }
}

/// A pod or a workload, by kind and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
}

impl Target {
    /// Reads `NAME` or `TYPE/NAME`; a wrong type is a usage error of `command`.
    pub fn parse(s: &str, command: &'static str) -> Result<Target, Error> {
        let (kind, name) = match s.split_once('/') {
            None => (Kind::Pod, s),
            Some((t, name)) => {
                let kind = Kind::parse(t).ok_or_else(|| {
                    Error::usage(
                        command,
                        format!(
                            "unknown resource type {t:?} in {s:?}; use NAME for a pod, or TYPE/NAME with TYPE one of {KINDS_FORM}"
                        ),
                    )
                })?;
                (kind, name)
            }
        };
        if name.is_empty() || name.contains('/') {
            return Err(Error::usage(
                command,
                format!("{s:?} is not NAME or TYPE/NAME"),
            ));
        }
        Ok(Target {
            kind,
            name: name.to_owned(),
        })
    }

    /// `pod/web`, `deployment.apps/web`: how kubectl names the object in its output.
    pub fn object(&self) -> String {
        format!("{}/{}", self.kind.qualified(), self.name)
    }

    /// Whether this is a workload (its pod template carries the annotations).
    pub fn is_workload(&self) -> bool {
        self.kind != Kind::Pod
    }

    /// Reads the object from `namespace`.
    pub async fn get(&self, kube: &Kube, namespace: &str) -> Result<DynamicObject, Error> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(kube.client.clone(), namespace, &self.kind.api_resource());
        api.get(&self.name).await.map_err(
            kube.err(
                Call::new("get", self.kind.resource())
                    .named(&self.name)
                    .in_namespace(Some(namespace)),
            ),
        )
    }
}

/// The annotations at `path` of an object.
pub fn annotations_at(obj: &Value, path: &[&str]) -> BTreeMap<String, String> {
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return BTreeMap::new(),
        }
    }
    serde_json::from_value(cur.clone()).unwrap_or_default()
}

/// How many pods a workload can run at once, in eip-core's terms (one policy with the
/// extender and the agent).
pub fn owner_of(kind: Kind, obj: &DynamicObject) -> Owner {
    let name = obj.name_any();
    let value = serde_json::to_value(obj).unwrap_or(Value::Null);
    let typed = |v: &Value| v.clone();
    match kind {
        Kind::Pod => Owner::None,
        Kind::Deployment => {
            let replicas = serde_json::from_value::<Deployment>(typed(&value))
                .ok()
                .and_then(|d| d.spec.and_then(|s| s.replicas))
                .unwrap_or(1);
            Owner::Replicated {
                kind: <Deployment as k8s_openapi::Resource>::KIND.to_owned(),
                name,
                replicas,
            }
        }
        Kind::ReplicaSet => serde_json::from_value::<ReplicaSet>(value)
            .map(|rs| Owner::replica_set(&rs))
            .unwrap_or_else(|e| Owner::unreadable(workload::KIND_REPLICA_SET, &name, e)),
        Kind::StatefulSet => serde_json::from_value::<StatefulSet>(value)
            .map(|s| Owner::stateful_set(&s))
            .unwrap_or_else(|e| Owner::unreadable(workload::KIND_STATEFUL_SET, &name, e)),
        Kind::DaemonSet => Owner::by_kind(workload::KIND_DAEMON_SET, &name),
        Kind::Job => serde_json::from_value::<Job>(value)
            .map(|j| Owner::job(&j))
            .unwrap_or_else(|e| Owner::unreadable(workload::KIND_JOB, &name, e)),
        Kind::CronJob => {
            let parallelism = serde_json::from_value::<CronJob>(value)
                .ok()
                .and_then(|c| c.spec)
                .and_then(|s| s.job_template.spec)
                .and_then(|s| s.parallelism)
                .unwrap_or(1);
            Owner::Job {
                name: name.clone(),
                parallelism,
                cron_job: Some(name),
            }
        }
    }
}

/// A label selector as `-l` writes it (`a=b,c in (d,e),!f`).
pub fn selector_string(sel: &LabelSelector) -> String {
    let mut parts: Vec<String> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

/// The pods a target runs in `namespace`, filtered by `-l` too.
pub async fn pods_of(
    kube: &Kube,
    target: &Target,
    namespace: &str,
    selector: Option<&str>,
) -> Result<Vec<Pod>, Error> {
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), namespace);
    let list_call = || Call::new("list", "pods").in_namespace(Some(namespace));
    let mut lp = ListParams::default();
    if target.kind == Kind::Pod {
        let pod = pods.get(&target.name).await.map_err(
            kube.err(
                Call::new("get", "pods")
                    .named(&target.name)
                    .in_namespace(Some(namespace)),
            ),
        )?;
        return Ok(vec![pod]);
    }
    let obj = target.get(kube, namespace).await?;
    let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
    if target.kind == Kind::CronJob {
        let jobs: Api<Job> = Api::namespaced(kube.client.clone(), namespace);
        let owned: Vec<String> = jobs
            .list(&ListParams::default())
            .await
            .map_err(kube.err(Call::new("list", "jobs.batch").in_namespace(Some(namespace))))?
            .items
            .into_iter()
            .filter(|j| {
                j.owner_references()
                    .iter()
                    .any(|o| o.kind == workload::KIND_CRON_JOB && o.name == target.name)
            })
            .map(|j| j.name_any())
            .collect();
        if let Some(s) = selector {
            lp = lp.labels(s);
        }
        let all = pods.list(&lp).await.map_err(kube.err(list_call()))?;
        return Ok(all
            .items
            .into_iter()
            .filter(|p| {
                p.owner_references()
                    .iter()
                    .any(|o| o.kind == workload::KIND_JOB && owned.contains(&o.name))
            })
            .collect());
    }
    let sel: LabelSelector = value
        .get("spec")
        .and_then(|s| s.get("selector"))
        .cloned()
        .and_then(|s| serde_json::from_value(s).ok())
        .unwrap_or_default();
    let mut s = selector_string(&sel);
    if let Some(extra) = selector {
        if !s.is_empty() {
            s.push(',');
        }
        s.push_str(extra);
    }
    if !s.is_empty() {
        lp = lp.labels(&s);
    }
    Ok(pods.list(&lp).await.map_err(kube.err(list_call()))?.items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn targets_are_read_as_kubectl_reads_them() {
        let t = |s| Target::parse(s, "show").map(|t| (t.kind, t.name.clone(), t.object()));
        assert_eq!(
            t("web").ok(),
            Some((Kind::Pod, "web".into(), "pod/web".into()))
        );
        assert_eq!(t("po/web").ok().map(|x| x.0), Some(Kind::Pod));
        for (s, kind, object) in [
            ("deploy/w", Kind::Deployment, "deployment.apps/w"),
            ("deployments.apps/w", Kind::Deployment, "deployment.apps/w"),
            ("sts/w", Kind::StatefulSet, "statefulset.apps/w"),
            ("ds/w", Kind::DaemonSet, "daemonset.apps/w"),
            ("rs/w", Kind::ReplicaSet, "replicaset.apps/w"),
            ("job/w", Kind::Job, "job.batch/w"),
            ("cj/w", Kind::CronJob, "cronjob.batch/w"),
            ("CronJob/w", Kind::CronJob, "cronjob.batch/w"),
        ] {
            assert_eq!(t(s).ok(), Some((kind, "w".into(), object.into())), "{s}");
        }
        let e = t("svc/w").err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            e,
            "unknown resource type \"svc\" in \"svc/w\"; use NAME for a pod, or TYPE/NAME with TYPE one of pod, deployment (deploy), statefulset (sts), daemonset (ds), replicaset (rs), job or cronjob (cj)\nSee 'kubectl eip show --help' for usage."
        );
        assert!(t("deploy.batch/w").is_err(), "wrong group");
        assert!(t("pod/").is_err() && t("a/b/c").is_err());
    }

    #[test]
    fn selectors_are_written_as_dash_l_reads_them() {
        let sel = LabelSelector {
            match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement {
                    key: "x".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(selector_string(&sel), "app=web,tier in (a,b),!x");
    }
}
