//! `kubectl eip request`: turns flags into the Terway guide's annotations, validates them
//! with `eip_core::annotations` (the messages of the pod events), refuses a named EIP for a
//! workload that can run more than one pod (`eip_core::workload`, the extender's and the
//! agent's one policy), refuses to change EIP annotations already set to other values
//! without `--overwrite`, patches the pod or the pod template, and with `--wait` follows
//! the affected pods until their EIPs are Bound or Failed.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write};
use std::time::Duration;

use eip_core::annotations::{
    self as ann, ALL_SETTINGS, EipRequest, POD_WITH_EIP_ENABLED, SETTING_INSTANCE_ID,
    SETTING_POD_WITH_EIP, Setting,
};
use eip_core::workload::{self, Owner};
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Map, Value};

use crate::cli::{DryRun, Global, RequestArgs};
use crate::connect::Kube;
use crate::error::{Call, Error};
use crate::list::{EipItem, State};
use crate::show::{self, Format};
use crate::target::{self, Kind, Target};

/// Annotation changes: a value to set, or `None` to remove the key.
pub type Changes = BTreeMap<String, Option<String>>;

/// The annotations the flags ask for, under their canonical keys.
pub fn desired(a: &RequestArgs) -> Result<BTreeMap<String, String>, Error> {
    let mut d = BTreeMap::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            d.insert(k.to_owned(), v.clone());
        }
    };
    match &a.eip_id {
        Some(id) => put(ann::POD_EIP_INSTANCEID, &Some(id.clone())),
        None => put(ann::POD_WITH_EIP, &Some(POD_WITH_EIP_ENABLED.to_owned())),
    }
    put(ann::EIP_BANDWIDTH, &a.bandwidth);
    put(ann::EIP_ISP, &a.isp);
    put(ann::EIP_INTERNET_CHARGE_TYPE, &a.charge_type);
    put(ann::EIP_PUBLIC_IP_ADDRESS_POOL_ID, &a.pool);
    put(ann::EIP_COMMON_BANDWIDTH_PACKAGE_ID, &a.bandwidth_package);
    put(ann::POD_EIP_RELEASE_STRATEGY, &a.release_strategy);
    put(ann::EIP_RESOURCE_GROUP_ID, &a.resource_group);
    put(ann::EIP_NAME, &a.name);
    put(ann::EIP_DESCRIPTION, &a.description);
    if !a.tags.is_empty() {
        let mut tags = Map::new();
        for t in &a.tags {
            let (k, v) = t
                .split_once('=')
                .ok_or_else(|| Error::usage("request", format!("--tag {t:?} is not KEY=VALUE")))?;
            tags.insert(k.to_owned(), Value::String(v.to_owned()));
        }
        d.insert(ann::EIP_TAGS.to_owned(), Value::Object(tags).to_string());
    }
    Ok(d)
}

/// eip-core's verdict on annotations, as the plugin's error naming `object`.
pub fn validate(object: &str, annotations: &BTreeMap<String, String>) -> Result<(), Error> {
    match EipRequest::from_annotations(annotations) {
        Ok(_) => Ok(()),
        Err(errors) => Err(Error::Invalid {
            object: object.to_owned(),
            message: errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        }),
    }
}

fn setting_of(key: &str) -> Option<Setting> {
    ALL_SETTINGS.iter().copied().find(|s| s.keys.contains(&key))
}

/// The changes that turn `existing` into a pod that asks for `desired`: refused when an
/// EIP annotation already holds another value, unless `overwrite` (then every other key of
/// the same setting, and the opposite source — a new EIP or a named one — is removed).
pub fn plan(
    object: &str,
    existing: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
    overwrite: bool,
) -> Result<Changes, Error> {
    let mut changes = Changes::new();
    for (key, value) in desired {
        let Some(setting) = setting_of(key) else {
            continue;
        };
        let mut opposed: Vec<&str> = setting.keys.to_vec();
        // A new EIP and a named one exclude each other.
        if setting == SETTING_POD_WITH_EIP {
            opposed.extend(SETTING_INSTANCE_ID.keys);
        } else if setting == SETTING_INSTANCE_ID {
            opposed.extend(SETTING_POD_WITH_EIP.keys);
        }
        for k in opposed {
            let Some(old) = existing.get(k) else { continue };
            let same = k == key.as_str() && old.trim() == value.trim();
            let alias_same = setting.keys.contains(&k) && old.trim() == value.trim();
            if same || alias_same {
                continue;
            }
            if !overwrite {
                return Err(Error::Failed(format!(
                    "{object} already has {k}={old:?}; pass --overwrite to replace it with {key}={value:?}"
                )));
            }
            changes.insert(k.to_owned(), None);
        }
        if existing.get(key) != Some(value) {
            changes.insert(key.clone(), Some(value.clone()));
        }
    }
    Ok(changes)
}

/// `existing` with `changes` applied.
pub fn apply(existing: &BTreeMap<String, String>, changes: &Changes) -> BTreeMap<String, String> {
    let mut out = existing.clone();
    for (k, v) in changes {
        match v {
            Some(v) => out.insert(k.clone(), v.clone()),
            None => out.remove(k),
        };
    }
    out
}

/// A JSON merge patch setting `changes` at `path` (null removes a key).
pub fn merge_patch(path: &[&str], changes: &Changes) -> Value {
    let mut v = serde_json::to_value(changes).unwrap_or(Value::Null);
    for p in path.iter().rev() {
        let mut m = Map::new();
        m.insert((*p).to_owned(), v);
        v = Value::Object(m);
    }
    v
}

/// The owner of a pod, read as the agent reads it (fail closed when it cannot be read).
async fn pod_owner(kube: &Kube, ns: &str, pod: &Pod) -> Owner {
    let Some((kind, name)) = workload::controller_of(pod) else {
        return Owner::None;
    };
    if !workload::must_read(kind) {
        return Owner::by_kind(kind, name);
    }
    let c = kube.client.clone();
    let read = match kind {
        workload::KIND_REPLICA_SET => Api::<ReplicaSet>::namespaced(c, ns)
            .get(name)
            .await
            .map(|o| Owner::replica_set(&o)),
        workload::KIND_STATEFUL_SET => Api::<StatefulSet>::namespaced(c, ns)
            .get(name)
            .await
            .map(|o| Owner::stateful_set(&o)),
        _ => Api::<Job>::namespaced(c, ns)
            .get(name)
            .await
            .map(|o| Owner::job(&o)),
    };
    read.unwrap_or_else(|e| Owner::unreadable(kind, name, e))
}

/// `kubectl eip request`.
pub async fn run(
    kube: &Kube,
    g: &Global,
    a: &RequestArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let t = Target::parse(&a.target, "request")?;
    let object = t.object();
    let want = desired(a)?;
    validate(&object, &want)?;
    let ns = kube.namespace.clone();
    let obj = t.get(kube, &ns).await?;
    let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
    let path = t.kind.annotations_path();
    let existing = target::annotations_at(&value, path);

    if let Some(id) = &a.eip_id {
        let owner = if t.kind == Kind::Pod {
            let pod: Pod = serde_json::from_value(value.clone()).unwrap_or_default();
            pod_owner(kube, &ns, &pod).await
        } else {
            target::owner_of(t.kind, &obj)
        };
        if let Some(why) = workload::shared_named_eip(id, &owner) {
            return Err(Error::Invalid {
                object,
                message: why,
            });
        }
    }

    let changes = plan(&object, &existing, &want, a.overwrite)?;
    validate(&object, &apply(&existing, &changes))?;
    let patch = merge_patch(path, &changes);
    if changes.is_empty() {
        writeln!(out, "{object} unchanged").map_err(Error::Output)?;
    } else {
        match a.dry_run {
            DryRun::Client => {
                let text = serde_json::to_string_pretty(&patch).unwrap_or_default();
                writeln!(out, "{text}").map_err(Error::Output)?;
                return Ok(());
            }
            DryRun::Server | DryRun::None => {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(kube.client.clone(), &ns, &t.kind.api_resource());
                let pp = PatchParams {
                    dry_run: a.dry_run == DryRun::Server,
                    field_manager: Some("kubectl-eip".to_owned()),
                    ..PatchParams::default()
                };
                api.patch(&t.name, &pp, &Patch::Merge(&patch))
                    .await
                    .map_err(
                        kube.err(
                            Call::new("patch", t.kind.resource())
                                .named(&t.name)
                                .in_namespace(Some(&ns)),
                        ),
                    )?;
                if a.dry_run == DryRun::Server {
                    writeln!(out, "{object} patched (server dry run)").map_err(Error::Output)?;
                    return Ok(());
                }
                writeln!(out, "{object} patched").map_err(Error::Output)?;
            }
        }
    }
    if !a.wait {
        let next = if t.is_workload() {
            "the pod template changed, so a rollout follows: the new pods get the EIP"
        } else {
            "eip-agent gives the running pod its EIP, without a restart"
        };
        writeln!(
            out,
            "{next}; see it with: kubectl eip show {} -n {ns}",
            a.target
        )
        .map_err(Error::Output)?;
        return Ok(());
    }
    let waited = wait(kube, &t, &value, &want, a.timeout, err).await?;
    finish(g, &object, &waited, a.timeout, out)
}

/// What `--wait` ended with.
#[derive(Debug)]
pub struct Waited {
    /// The affected pods' rows.
    pub items: Vec<EipItem>,
    /// Whether the timeout passed first.
    pub timed_out: bool,
}

fn carries(pod_annotations: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| pod_annotations.get(k) == Some(v))
}

fn expected_pods(kind: Kind, value: &Value) -> usize {
    let replicas = value
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    match kind {
        Kind::Deployment | Kind::StatefulSet | Kind::ReplicaSet => replicas as usize,
        _ => 1,
    }
}

fn is_final(i: &EipItem) -> bool {
    matches!(i.state, State::Bound | State::Failed)
}

/// Follows the affected pods until every EIP is Bound or Failed, or `timeout` passes.
/// Progress goes to `err`: a spinner on a terminal, plain lines otherwise.
pub async fn wait(
    kube: &Kube,
    t: &Target,
    value: &Value,
    want: &BTreeMap<String, String>,
    timeout: Duration,
    err: &mut dyn Write,
) -> Result<Waited, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let expected = expected_pods(t.kind, value);
    let spinner = std::io::stderr().is_terminal().then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.enable_steady_tick(Duration::from_millis(120));
        s
    });
    let mut last_line = String::new();
    let mut items: Vec<EipItem>;
    let timed_out = loop {
        let pods = target::pods_of(kube, t, &kube.namespace, None).await?;
        let names: Vec<String> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| {
                carries(
                    p.metadata.annotations.as_ref().unwrap_or(&BTreeMap::new()),
                    want,
                )
            })
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        let all = show::collect(kube, Some(t), None).await?;
        items = all
            .into_iter()
            .filter(|i| names.contains(&i.name))
            .collect();
        let line = if items.is_empty() {
            format!(
                "waiting for the pods of {} to carry the request",
                t.object()
            )
        } else {
            items
                .iter()
                .map(|i| format!("{}: {}", i.name, i.status))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if line != last_line {
            match &spinner {
                Some(s) => s.set_message(line.clone()),
                None => writeln!(err, "{line}").map_err(Error::Output)?,
            }
            last_line = line;
        }
        if items.len() >= expected && items.iter().all(is_final) {
            break false;
        }
        if tokio::time::Instant::now() >= deadline {
            break true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    Ok(Waited { items, timed_out })
}

fn finish(
    g: &Global,
    object: &str,
    waited: &Waited,
    timeout: Duration,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let f = Format {
        namespaces: false,
        ..Format::of(g)
    };
    if !waited.items.is_empty() {
        out.write_all(show::render(&waited.items, f, jiff::Timestamp::now())?.as_bytes())
            .map_err(Error::Output)?;
    }
    if waited.timed_out {
        return Err(Error::Failed(format!(
            "timed out after {} waiting for the EIP of {object}; kubectl eip show says where it is",
            ann::format_duration(timeout)
        )));
    }
    let failed = waited
        .items
        .iter()
        .filter(|i| i.state == State::Failed)
        .count();
    if failed > 0 {
        return Err(Error::Failed(format!(
            "{failed} of {} pods of {object} got no EIP; the STATUS column says why",
            waited.items.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn existing_values_are_kept_unless_overwrite() {
        let want = m(&[(ann::POD_WITH_EIP, "true"), (ann::EIP_BANDWIDTH, "10M")]);
        let had = m(&[(ann::NET_EIP_BANDWIDTH, "5M"), ("app", "x")]);
        let e = plan("pod/web", &had, &want, false)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "pod/web already has network.alibabacloud.com/eip-bandwidth=\"5M\"; pass --overwrite to replace it with k8s.aliyun.com/eip-bandwidth=\"10M\""
            )
        );
        let c = plan("pod/web", &had, &want, true).expect("overwrite");
        assert_eq!(c.get(ann::NET_EIP_BANDWIDTH), Some(&None));
        assert_eq!(c.get(ann::EIP_BANDWIDTH), Some(&Some("10M".to_owned())));
        let merged = apply(&had, &c);
        assert_eq!(merged.get("app").map(String::as_str), Some("x"));
        assert!(!merged.contains_key(ann::NET_EIP_BANDWIDTH));
    }

    #[test]
    fn a_new_eip_and_a_named_one_exclude_each_other() {
        let want = m(&[(ann::POD_EIP_INSTANCEID, "eip-abc")]);
        let had = m(&[(ann::POD_WITH_EIP, "true")]);
        assert!(plan("pod/web", &had, &want, false).is_err());
        let c = plan("pod/web", &had, &want, true).expect("overwrite");
        assert_eq!(c.get(ann::POD_WITH_EIP), Some(&None));
    }

    #[test]
    fn the_same_request_again_changes_nothing() {
        let want = m(&[(ann::POD_WITH_EIP, "true")]);
        assert!(
            plan("pod/web", &want, &want, false)
                .expect("same")
                .is_empty()
        );
    }

    #[test]
    fn the_patch_nests_at_the_annotations_path() {
        let mut c = Changes::new();
        c.insert("a".into(), Some("1".into()));
        c.insert("b".into(), None);
        assert_eq!(
            merge_patch(&["spec", "template", "metadata", "annotations"], &c),
            serde_json::json!({"spec": {"template": {"metadata": {"annotations": {"a": "1", "b": null}}}}})
        );
    }
}
