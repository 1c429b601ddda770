//! The PodEIP record: its facts for the machine, and every write to it (create, claim,
//! delete, typed status patches, the mark on a record whose named EIP was taken).

use std::collections::BTreeMap;

use eip_core::annotations::ReleaseStrategy;
use eip_core::names;
use eip_core::podeip::{PodEIP, PodEIPSpec, PodEIPStatusPatch as Status};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::controller::Run;
use crate::error::Error;
use crate::machine::{CloudFacts, RecordFacts};

/// The facts of a record.
pub fn record_facts(rec: &PodEIP) -> RecordFacts {
    let st = rec.status.clone().unwrap_or_default();
    RecordFacts {
        phase: st.phase,
        eip_type: rec.spec.eip_type,
        allocation_id: st.allocation_id.or_else(|| rec.spec.allocation_id.clone()),
        address: st.eip_address,
        pod_uid: st.pod_uid,
        eni: st.network_interface_id,
        private_ip: st.private_ip_address,
        strategy: rec
            .spec
            .release_strategy()
            .unwrap_or(ReleaseStrategy::Follow),
        bandwidth: st.bandwidth.and_then(|b| u32::try_from(b).ok()),
        bandwidth_package: st.bandwidth_package_id,
        last_error: st.last_error,
        taken_by: st.taken_by,
        deleting: rec.metadata.deletion_timestamp.is_some(),
    }
}

/// Keeps the record's [`names::LABEL_PODEIP_NODE`] on this node, the node of its pod: a
/// record kept under a TTL follows its pod to another node, and a record written without
/// the label gets it. Each agent watches only the records labelled with its node.
pub(crate) async fn label_for_node(
    recs: &Api<PodEIP>,
    rec: PodEIP,
    node: &str,
) -> Result<PodEIP, Error> {
    let want = names::format_node_label(node);
    if rec.labels().get(names::LABEL_PODEIP_NODE) == Some(&want) {
        return Ok(rec);
    }
    let patch = json!({"metadata": {"labels": {names::LABEL_PODEIP_NODE: want}}});
    let name = rec.name_any();
    recs.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube(format!(
            "label PodEIP {}/{name} with node {node}",
            rec.namespace().unwrap_or_default()
        )))
}

impl Run<'_> {
    pub(crate) async fn create_record(&mut self, spec: &PodEIPSpec) -> Result<(), Error> {
        let mut rec = PodEIP::new(&self.name, spec.clone());
        rec.metadata.namespace = Some(self.ns.clone());
        rec.metadata.finalizers = Some(vec![names::PODEIP_FINALIZER.to_owned()]);
        rec.metadata.labels = Some(BTreeMap::from([(
            names::LABEL_PODEIP_NODE.to_owned(),
            names::format_node_label(&self.ctx.cfg.node_name),
        )]));
        match self.recs.create(&PostParams::default(), &rec).await {
            Ok(r) => self.rec = Some(r),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                self.rec = self
                    .recs
                    .get_opt(&self.name)
                    .await
                    .map_err(Error::kube(format!("read PodEIP {}", self.key())))?;
            }
            Err(e) => return Err(Error::kube(format!("create PodEIP {}", self.key()))(e)),
        }
        Ok(())
    }

    pub(crate) async fn delete_record(&mut self) -> Result<(), Error> {
        let Some(rec) = &self.rec else {
            return Ok(());
        };
        let rest: Vec<String> = rec
            .finalizers()
            .iter()
            .filter(|f| *f != names::PODEIP_FINALIZER)
            .cloned()
            .collect();
        let patch = json!({"metadata": {
            "finalizers": rest,
            "resourceVersion": rec.resource_version(),
        }});
        match self
            .recs
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(Error::kube(format!(
                    "remove the finalizer of PodEIP {}",
                    self.key()
                ))(e));
            }
        }
        match self.recs.delete(&self.name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(Error::kube(format!("delete PodEIP {}", self.key()))(e)),
        }
        self.rec = None;
        self.cloud = CloudFacts::default();
        Ok(())
    }

    /// Merge-patches the record's status, guarded by the resourceVersion last read.
    pub(crate) async fn status(&mut self, status: Status) -> Result<(), Error> {
        let Some(rec) = &self.rec else {
            return Ok(());
        };
        let patch = json!({
            "metadata": {"resourceVersion": rec.resource_version()},
            "status": status,
        });
        let r = self
            .recs
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(Error::kube(format!(
                "record the state of PodEIP {}",
                self.key()
            )))?;
        self.rec = Some(r);
        Ok(())
    }

    /// After taking EIP `id` from another pod (`allow_eip_rob`): marks the other records
    /// that hold it with this pod's name, so that their agents, woken by the change, take
    /// the EIP off their pods at once instead of at their next cloud check.
    pub(crate) async fn tell_the_robbed(&self, id: &str) -> Result<(), Error> {
        let all: Api<PodEIP> = Api::all(self.ctx.client.clone());
        let list = all
            .list(&kube::api::ListParams::default())
            .await
            .map_err(Error::kube(
                "list PodEIPs to find the one that held a robbed EIP",
            ))?;
        let me = self.key();
        for r in list.items {
            let (Some(ns), Some(name)) = (r.metadata.namespace.clone(), r.metadata.name.clone())
            else {
                continue;
            };
            let holds = r.status.as_ref().and_then(|s| s.allocation_id.as_deref()) == Some(id)
                || r.spec.allocation_id.as_deref() == Some(id);
            if format!("{ns}/{name}") == me || !holds {
                continue;
            }
            let patch = json!({"status": Status {
                taken_by: me.clone().into(),
                ..Status::default()
            }});
            Api::<PodEIP>::namespaced(self.ctx.client.clone(), &ns)
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(Error::kube(format!(
                    "mark PodEIP {ns}/{name}: EIP {id} taken by {me}"
                )))?;
        }
        Ok(())
    }
}
