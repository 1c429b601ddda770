//! What the agent reads from and writes on the pod: its facts for the machine, the owner
//! of a pod that names an EIP, the pod patches (finalizer, output annotations) and the
//! `k8s.aliyun.com/eip` condition.

use std::net::Ipv4Addr;

use eip_core::names;
use eip_core::workload::{self, Owner as Workload};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::controller::{Run, now_time};
use crate::error::Error;
use crate::machine::PodFacts;

/// Reads a pod's controlling owner `kind`/`name` in `ns`; an error or a missing owner is
/// [`Workload::Unreadable`], so the check fails closed.
pub(crate) async fn read_owner(client: &Client, ns: &str, kind: &str, name: &str) -> Workload {
    pub(crate) async fn get<K>(client: &Client, ns: &str, name: &str) -> Result<K, String>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        match Api::<K>::namespaced(client.clone(), ns).get_opt(name).await {
            Ok(Some(k)) => Ok(k),
            Ok(None) => Err("it does not exist".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }
    let read = match kind {
        workload::KIND_REPLICA_SET => get(client, ns, name)
            .await
            .map(|r| Workload::replica_set(&r)),
        workload::KIND_STATEFUL_SET => get(client, ns, name)
            .await
            .map(|s| Workload::stateful_set(&s)),
        workload::KIND_JOB => get(client, ns, name).await.map(|j| Workload::job(&j)),
        _ => Ok(Workload::by_kind(kind, name)),
    };
    read.unwrap_or_else(|why| Workload::unreadable(kind, name, why))
}

/// The facts of a pod.
pub(crate) fn pod_facts(pod: &Pod, owner: Workload) -> PodFacts {
    let ann = pod.annotations();
    let published = match (
        ann.get(names::ALLOCATED_EIP_ID),
        ann.get(names::ALLOCATED_EIP_ADDRESS),
    ) {
        (Some(i), Some(a)) => Some((i.clone(), a.clone())),
        _ => None,
    };
    let condition_true = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == names::EIP_CONDITION))
        .is_some_and(|c| names::parse_condition_status(&c.status) == Some(true));
    PodFacts {
        uid: pod.uid().unwrap_or_default(),
        ip: pod_ip(pod),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        has_finalizer: pod.finalizers().iter().any(|f| f == names::POD_FINALIZER),
        published,
        condition_true,
        owner,
    }
}

pub(crate) fn pod_ip(pod: &Pod) -> Option<Ipv4Addr> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok())
}

impl Run<'_> {
    pub(crate) async fn pod_patch(&mut self, patch: Value) -> Result<(), Error> {
        if self.pod.is_none() {
            return Ok(());
        }
        let p = self
            .pods
            .patch(
                &self.name,
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
            .map_err(Error::kube(format!("update pod {}", self.key())))?;
        self.pod = Some(p);
        Ok(())
    }

    pub(crate) async fn condition(
        &mut self,
        ok: bool,
        reason: &str,
        message: &str,
    ) -> Result<(), Error> {
        let Some(pod) = &self.pod else {
            return Ok(());
        };
        let status = names::format_condition_status(ok);
        let same = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == names::EIP_CONDITION))
            .is_some_and(|c| {
                c.status == status
                    && c.reason.as_deref() == Some(reason)
                    && c.message.as_deref() == Some(message)
            });
        if same {
            return Ok(());
        }
        let patch = json!({"status": {"conditions": [{
            "type": names::EIP_CONDITION,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now_time(),
        }]}});
        let p = self
            .pods
            .patch_status(
                &self.name,
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
            .map_err(Error::kube(format!(
                "set the EIP condition of pod {}",
                self.key()
            )))?;
        self.pod = Some(p);
        Ok(())
    }
}
