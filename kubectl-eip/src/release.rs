//! `kubectl eip release`: removes every EIP annotation (under every accepted key) from a pod
//! or a pod template, after saying what becomes of the EIP — released, kept until a time,
//! or, for a named EIP, only unbound — and asking on a terminal unless `--yes`.

use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _, Write};

use eip_core::annotations::{ALL_SETTINGS, EipRequest, ReleaseStrategy, format_duration};
use eip_core::names;
use kube::api::{Api, DynamicObject, Patch, PatchParams};

use crate::cli::ReleaseArgs;
use crate::connect::Kube;
use crate::error::{Call, Error};
use crate::request::{Changes, merge_patch};
use crate::target::{self, Target};

/// What becomes of the EIP of a pod with `annotations` once its request is removed.
pub fn outcome(annotations: &BTreeMap<String, String>, now: jiff::Timestamp) -> String {
    let eip = match (
        annotations.get(names::ALLOCATED_EIP_ADDRESS),
        annotations.get(names::ALLOCATED_EIP_ID),
    ) {
        (Some(ip), Some(id)) => format!("the EIP {ip} ({id})"),
        (None, Some(id)) => format!("the EIP {id}"),
        _ => "the EIP, if one was allocated,".to_owned(),
    };
    match EipRequest::from_annotations(annotations) {
        Err(_) | Ok(None) => {
            "the pod's EIP annotations are invalid, so it has no EIP; they are removed".to_owned()
        }
        Ok(Some(r)) => match (r.named(), r.release_strategy) {
            (Some(id), _) => format!(
                "the named EIP {id} is unbound from the pod and kept: kube-eip never releases an EIP it did not allocate"
            ),
            (None, ReleaseStrategy::Follow) => {
                format!("{eip} is unbound and released by eip-agent (release strategy Follow)")
            }
            (None, ReleaseStrategy::Never) => format!(
                "{eip} is unbound and kept (release strategy Never); release it in the cloud when it is no longer needed"
            ),
            (None, ReleaseStrategy::After(d)) => {
                let until = jiff::SignedDuration::try_from(d)
                    .ok()
                    .and_then(|d| now.checked_add(d).ok())
                    .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
                    .unwrap_or_default();
                format!(
                    "{eip} is unbound and kept for {} (until about {until}), then released",
                    format_duration(d)
                )
            }
        },
    }
}

fn confirm(question: &str, err: &mut dyn Write) -> Result<bool, Error> {
    write!(err, "{question} [y/N] ").map_err(Error::Output)?;
    err.flush().map_err(Error::Output)?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(Error::Output)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// `kubectl eip release`.
pub async fn run(
    kube: &Kube,
    a: &ReleaseArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let t = Target::parse(&a.target, "release")?;
    let object = t.object();
    let ns = kube.namespace.clone();
    let obj = t.get(kube, &ns).await?;
    let value = serde_json::to_value(&obj).unwrap_or_default();
    let path = t.kind.annotations_path();
    let existing = target::annotations_at(&value, path);
    let changes: Changes = ALL_SETTINGS
        .iter()
        .flat_map(|s| s.keys.iter())
        .filter(|k| existing.contains_key(**k))
        .map(|k| ((*k).to_owned(), None))
        .collect();
    if changes.is_empty() {
        writeln!(out, "{object} unchanged: it asks for no EIP").map_err(Error::Output)?;
        return Ok(());
    }
    let what = if t.is_workload() {
        format!(
            "the pod template changes, so a rollout follows; for each pod, {}",
            outcome(&existing, jiff::Timestamp::now())
        )
    } else {
        // The pod's own annotations name its EIP.
        outcome(&existing, jiff::Timestamp::now())
    };
    if !a.yes
        && std::io::stdin().is_terminal()
        && !confirm(
            &format!("Remove the EIP request of {object} in namespace {ns}: {what}. Continue?"),
            err,
        )?
    {
        return Err(Error::Failed(format!(
            "{object}: cancelled, nothing was changed"
        )));
    }
    let api: Api<DynamicObject> =
        Api::namespaced_with(kube.client.clone(), &ns, &t.kind.api_resource());
    let pp = PatchParams {
        field_manager: Some("kubectl-eip".to_owned()),
        ..PatchParams::default()
    };
    api.patch(&t.name, &pp, &Patch::Merge(&merge_patch(path, &changes)))
        .await
        .map_err(
            kube.err(
                Call::new("patch", t.kind.resource())
                    .named(&t.name)
                    .in_namespace(Some(&ns)),
            ),
        )?;
    writeln!(out, "{object} patched\n{what}").map_err(Error::Output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eip_core::annotations as ann;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_outcome_follows_the_release_strategy() {
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().expect("time");
        let bound = [
            (ann::POD_WITH_EIP, "true"),
            (names::ALLOCATED_EIP_ADDRESS, "47.96.0.1"),
            (names::ALLOCATED_EIP_ID, "eip-a"),
        ];
        assert_eq!(
            outcome(&m(&bound), now),
            "the EIP 47.96.0.1 (eip-a) is unbound and released by eip-agent (release strategy Follow)"
        );
        let mut never = bound.to_vec();
        never.push((ann::POD_EIP_RELEASE_STRATEGY, "Never"));
        assert!(outcome(&m(&never), now).contains("kept (release strategy Never)"));
        let mut ttl = bound.to_vec();
        ttl.push((ann::POD_EIP_RELEASE_STRATEGY, "10m"));
        assert_eq!(
            outcome(&m(&ttl), now),
            "the EIP 47.96.0.1 (eip-a) is unbound and kept for 10m (until about 2025-01-01T00:10:00Z), then released"
        );
        assert_eq!(
            outcome(&m(&[(ann::POD_EIP_INSTANCEID, "eip-b")]), now),
            "the named EIP eip-b is unbound from the pod and kept: kube-eip never releases an EIP it did not allocate"
        );
    }
}
