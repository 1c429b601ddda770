//! Executing the state machine's actions: one step of [`Run`] per [`Action`], the cloud
//! look-ups and waits it needs, and the stop after a permanent cloud error.

use std::time::{Duration, Instant};

use eip_cloud::WaitTarget;
use eip_cloud::args::{
    AssociateEipArgs, BandwidthPackageIpArgs, ModifyEipArgs, UnassociateEipArgs,
};
use eip_core::annotations::{EipRequest, ReleaseStrategy};
use eip_core::names;
use eip_core::podeip::{Change, PodEIPPhase, PodEIPSpec, PodEIPStatusPatch as Status, PodEIPType};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use serde_json::json;

use crate::cloudops::{self, Owner};
use crate::context::{Next, lock};
use crate::controller::{Run, now_time};
use crate::error::Error;
use crate::machine::{Action, CloudFacts, EipView, Observation, PodFacts};
use crate::record::record_facts;

/// What to change after a permanent cloud error, by its kind.
pub(crate) fn permanent_fix(e: &eip_cloud::Error) -> &'static str {
    match e {
        eip_cloud::Error::NotFound(_) => {
            "check the ids in the pod's EIP annotations (eip-common-bandwidth-package-id, eip-public-ip-address-pool-id, eip-resource-group-id, pod-eip-instanceid)"
        }
        eip_cloud::Error::Forbidden(_) | eip_cloud::Error::Signature(_) => {
            "the agent's RAM policy or AccessKey does not allow this call: see deploy/README.md"
        }
        eip_cloud::Error::QuotaExceeded(_) => {
            "release EIPs or raise the account's EIP quota (eip_quota_instances_num)"
        }
        eip_cloud::Error::IdempotentParameterMismatch(_) => {
            "the pod's EIP annotations changed after the EIP was requested: delete the pod to start over"
        }
        _ => "check the pod's EIP annotations",
    }
}

pub(crate) fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Done => "Done",
        Action::WaitForPodIp => "WaitForPodIp",
        Action::Observe(_) => "Observe",
        Action::Settle(_) => "Settle",
        Action::RejectInvalid(_) => "RejectInvalid",
        Action::Disabled(_) => "Disabled",
        Action::RejectShared(_) => "RejectShared",
        Action::AddFinalizer => "AddFinalizer",
        Action::CreateRecord => "CreateRecord",
        Action::ClaimRecord => "ClaimRecord",
        Action::ResetRecord => "ResetRecord",
        Action::Allocate => "Allocate",
        Action::Adopt(_) => "Adopt",
        Action::RecordEni(_) => "RecordEni",
        Action::EniNotFound => "EniNotFound",
        Action::UnbindStale { .. } => "UnbindStale",
        Action::Rob(_) => "Rob",
        Action::Blocked(_) => "Blocked",
        Action::Lost(_) => "Lost",
        Action::Associate { .. } => "Associate",
        Action::WaitInUse(_) => "WaitInUse",
        Action::JoinPackage { .. } => "JoinPackage",
        Action::ModifyBandwidth { .. } => "ModifyBandwidth",
        Action::LeavePackage { .. } => "LeavePackage",
        Action::Publish { .. } => "Publish",
        Action::MarkBound { .. } => "MarkBound",
        Action::Unbind { .. } => "Unbind",
        Action::Release(_) => "Release",
        Action::Retain => "Retain",
        Action::DeleteRecord => "DeleteRecord",
        Action::Unpublish => "Unpublish",
        Action::RemoveFinalizer => "RemoveFinalizer",
    }
}

impl Run<'_> {
    /// Executes one action. `Ok(None)`: decide again; `Ok(Some(Next::After(0)))`: settle
    /// (short pause, then decide again); otherwise stop.
    pub(crate) async fn step(
        &mut self,
        action: Action,
        req: Option<EipRequest>,
        pf: Option<&PodFacts>,
    ) -> Result<Option<Next>, Error> {
        let ctx = self.ctx;
        let cloud = ctx.cloud.as_ref();
        match action {
            Action::Done => {
                let bound = self
                    .rec
                    .as_ref()
                    .and_then(|r| r.status.as_ref())
                    .and_then(|s| s.phase)
                    == Some(PodEIPPhase::Bound);
                if let (true, Some(p)) = (bound, pf) {
                    if self.cloud.eip.is_some() {
                        lock(&ctx.verified).insert(p.uid.clone(), Instant::now());
                    }
                    return Ok(Some(Next::After(ctx.cfg.resync_interval)));
                }
                return Ok(Some(Next::Idle));
            }
            Action::WaitForPodIp => return Ok(Some(Next::Idle)),
            Action::Observe(o) => self.observe(o).await?,
            Action::Settle(_) => {
                self.cloud = CloudFacts::default();
                return Ok(Some(Next::After(Duration::ZERO)));
            }
            Action::RejectInvalid(msg) => {
                ctx.metrics.failure("InvalidAnnotations".into());
                let pod_uid = pf.map(|p| p.uid.clone());
                if self.rec.is_none() {
                    self.create_record(&PodEIPSpec::from_request(&EipRequest::allocate_default()))
                        .await?;
                }
                self.status(Status {
                    last_error: msg.clone().into(),
                    pod_uid: Change::set_or_clear(pod_uid),
                    node: ctx.cfg.node_name.clone().into(),
                    ..Status::phase(PodEIPPhase::Failed)
                })
                .await?;
                ctx.event(
                    &self.pod_ref(),
                    EventType::Warning,
                    names::REASON_INVALID_ANNOTATIONS,
                    msg,
                    "Validate",
                )
                .await;
            }
            Action::Disabled(why) => {
                ctx.event(
                    &self.pod_ref(),
                    EventType::Warning,
                    names::REASON_DISABLED,
                    format!("the pod asks for an EIP but {why}"),
                    "Validate",
                )
                .await;
                return Ok(Some(Next::Idle));
            }
            Action::RejectShared(msg) => {
                // the pod may be Running: its condition says it has no EIP, and why
                self.condition(false, names::REASON_INVALID_ANNOTATIONS, &msg)
                    .await?;
                ctx.event(
                    &self.pod_ref(),
                    EventType::Warning,
                    names::REASON_INVALID_ANNOTATIONS,
                    msg,
                    "Validate",
                )
                .await;
                // Look again later: the workload may be scaled down to one replica.
                return Ok(Some(Next::After(ctx.cfg.blocked_interval)));
            }
            Action::Blocked(msg) => {
                ctx.metrics.failure("Blocked".into());
                if self.rec.is_some() {
                    self.status(Status {
                        last_error: msg.clone().into(),
                        ..Status::default()
                    })
                    .await?;
                }
                ctx.event(
                    &self.pod_ref(),
                    EventType::Warning,
                    names::REASON_FAILED,
                    msg,
                    "Associate",
                )
                .await;
                return Ok(Some(Next::After(ctx.cfg.blocked_interval)));
            }
            Action::Lost(msg) => {
                ctx.metrics.failure("EipLost".into());
                self.pod_patch(json!({"metadata": {"annotations": {
                    names::ALLOCATED_EIP_ADDRESS: null,
                    names::ALLOCATED_EIP_ID: null,
                }}}))
                .await?;
                self.condition(false, names::REASON_FAILED, &msg).await?;
                self.status(Status {
                    last_error: msg.clone().into(),
                    ..Status::phase(PodEIPPhase::Failed)
                })
                .await?;
                ctx.event(
                    &self.pod_ref(),
                    EventType::Warning,
                    names::REASON_FAILED,
                    msg,
                    "Verify",
                )
                .await;
            }
            Action::AddFinalizer => {
                self.pod_patch(json!({"metadata": {"finalizers": [names::POD_FINALIZER]}}))
                    .await?;
            }
            Action::RemoveFinalizer => {
                self.pod_patch(json!({"metadata": {
                    "$deleteFromPrimitiveList/finalizers": [names::POD_FINALIZER]
                }}))
                .await?;
                if let Some(p) = &self.pod
                    && p.metadata.deletion_timestamp.is_some()
                {
                    ctx.forget(&self.key(), &p.uid().unwrap_or_default());
                }
            }
            Action::CreateRecord => {
                let Some(req) = req else {
                    return Ok(Some(Next::Idle));
                };
                self.create_record(&PodEIPSpec::from_request(&req)).await?;
                let uid = pf.map(|p| p.uid.clone());
                self.status(Status {
                    pod_uid: Change::set_or_clear(uid.clone()),
                    node: ctx.cfg.node_name.clone().into(),
                    pod_last_seen: now_time().into(),
                    ..Status::phase(PodEIPPhase::Pending)
                })
                .await?;
            }
            Action::ResetRecord => {
                self.delete_record().await?;
            }
            Action::ClaimRecord => {
                let Some(req) = req else {
                    return Ok(Some(Next::Idle));
                };
                let spec = PodEIPSpec::from_request(&req);
                let rv = self.rec.as_ref().and_then(|r| r.resource_version());
                let patch = json!({
                    "metadata": {"resourceVersion": rv},
                    "status": Status {
                        pod_uid: Change::set_or_clear(pf.map(|p| p.uid.clone())),
                        node: ctx.cfg.node_name.clone().into(),
                        network_interface_id: Change::Clear,
                        private_ip_address: Change::Clear,
                        release_at: Change::Clear,
                        last_error: Change::Clear,
                        pod_last_seen: now_time().into(),
                        ..Status::phase(PodEIPPhase::Pending)
                    },
                });
                let r = self
                    .recs
                    .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(Error::kube(format!("claim PodEIP {}", self.key())))?;
                self.rec = Some(r);
                let spec_patch = json!({"spec": {
                    "releaseStrategy": spec.release_strategy,
                    "releaseAfter": spec.release_after,
                }});
                let r = self
                    .recs
                    .patch(
                        &self.name,
                        &PatchParams::default(),
                        &Patch::Merge(&spec_patch),
                    )
                    .await
                    .map_err(Error::kube(format!("update PodEIP {} spec", self.key())))?;
                self.rec = Some(r);
                self.cloud = CloudFacts::default();
                tracing::info!(pod = %self.key(), "took over the EIP kept for the previous pod of this name");
            }
            Action::Allocate => {
                let Some(req) = req else {
                    return Ok(Some(Next::Idle));
                };
                let (Some(p), Some(rec)) = (pf, self.rec.as_ref()) else {
                    return Ok(Some(Next::Idle));
                };
                let token = cloudops::client_token(&p.uid, &rec.uid().unwrap_or_default());
                self.status(Status {
                    pod_uid: p.uid.clone().into(),
                    ..Status::phase(PodEIPPhase::Allocating)
                })
                .await?;
                ctx.checkpoint("before:Allocate").await;
                let owner = Owner {
                    cluster_id: &ctx.cfg.cluster_id,
                    namespace: &self.ns,
                    pod_name: &self.name,
                    pod_uid: &p.uid,
                    node: &ctx.cfg.node_name,
                };
                let args = cloudops::allocate_args(&req, &owner, token);
                let resp = cloud
                    .allocate_eip_address(&args)
                    .await
                    .map_err(Error::cloud(format!(
                        "allocate an EIP for pod {}",
                        self.key()
                    )))?;
                ctx.checkpoint("after:Allocate").await;
                ctx.metrics.allocations.inc();
                let address = resp.eip_address.clone().unwrap_or_default();
                self.status(Status {
                    allocation_id: resp.allocation_id.clone().into(),
                    eip_address: address.clone().into(),
                    bandwidth: i64::from(req.bandwidth_mbps).into(),
                    isp: req.isp.as_str().to_owned().into(),
                    internet_charge_type: req.internet_charge_type.as_str().to_owned().into(),
                    ..Status::default()
                })
                .await?;
                tracing::info!(pod = %self.key(), eip = %resp.allocation_id, "allocated");
                self.cloud.eip = Some(Some(EipView {
                    id: resp.allocation_id,
                    address,
                    state: crate::machine::EipStatus::Available,
                    eni: None,
                    private_ip: None,
                    bandwidth: Some(req.bandwidth_mbps),
                    bandwidth_package: None,
                }));
            }
            Action::Adopt(id) => {
                let found = self
                    .cloud
                    .tagged
                    .as_ref()
                    .and_then(|t| t.iter().find(|e| e.id == id).cloned());
                let address = found.as_ref().map(|e| e.address.clone());
                let bw = found.as_ref().and_then(|e| e.bandwidth);
                self.status(Status {
                    allocation_id: id.clone().into(),
                    eip_address: Change::set_or_clear(address),
                    bandwidth: Change::set_or_clear(bw.map(i64::from)),
                    ..Status::default()
                })
                .await?;
                tracing::info!(pod = %self.key(), eip = %id, "adopted the EIP allocated before a restart");
                self.cloud.eip = Some(found);
            }
            Action::RecordEni(eni) => {
                let ip = pf.and_then(|p| p.ip).map(|i| i.to_string());
                self.status(Status {
                    network_interface_id: eni.clone().into(),
                    private_ip_address: Change::set_or_clear(ip),
                    node: ctx.cfg.node_name.clone().into(),
                    ..Status::default()
                })
                .await?;
            }
            Action::EniNotFound => {
                return Ok(Some(Next::After(ctx.cfg.retry_interval)));
            }
            Action::UnbindStale { id, eni, ip } => {
                ctx.checkpoint("before:UnbindStale").await;
                self.unassociate(UnassociateEipArgs::from_eni(&id, &eni, &ip))
                    .await?;
                ctx.event(
                    &self.pod_ref(),
                    EventType::Normal,
                    names::REASON_STALE_REMOVED,
                    format!(
                        "removed EIP {id} left on private IP {ip} before associating this pod's EIP"
                    ),
                    "Unassociate",
                )
                .await;
                self.wait(&id, WaitTarget::Available).await?;
                self.cloud.on_ip = None;
            }
            Action::Rob(id) => {
                ctx.checkpoint("before:Rob").await;
                self.unassociate(UnassociateEipArgs {
                    allocation_id: id.clone(),
                    ..UnassociateEipArgs::default()
                })
                .await?;
                // the other record is told once this pod holds the EIP (Associate)
                self.robbed = Some(id.clone());
                let e = self.wait(&id, WaitTarget::Available).await?;
                self.cloud.eip = Some(e);
            }
            Action::Associate { id, eni, ip } => {
                self.status(Status::phase(PodEIPPhase::Associating)).await?;
                ctx.checkpoint("before:Associate").await;
                let mut args = AssociateEipArgs::to_eni(&id, &eni, &ip);
                args.mode = Some("NAT".into());
                let res = cloud.associate_eip_address(&args).await;
                self.cloud = CloudFacts::default();
                self.cloud.eni = Some(Some(eni));
                res.map_err(Error::cloud(format!("associate EIP {id} with {ip}")))?;
                ctx.checkpoint("after:Associate").await;
                let e = self.wait(&id, WaitTarget::InUse).await?;
                self.cloud.eip = Some(e);
                if self.robbed.as_deref() == Some(id.as_str()) {
                    self.tell_the_robbed(&id).await?;
                    self.robbed = None;
                }
            }
            Action::WaitInUse(id) => {
                let e = self.wait(&id, WaitTarget::InUse).await?;
                self.cloud.eip = Some(e);
            }
            Action::JoinPackage { id, package } => {
                cloud
                    .add_common_bandwidth_package_ip(&BandwidthPackageIpArgs {
                        bandwidth_package_id: package.clone(),
                        ip_instance_id: id.clone(),
                        client_token: None,
                    })
                    .await
                    .map_err(Error::cloud(format!(
                        "add EIP {id} to bandwidth package {package}"
                    )))?;
                self.status(Status {
                    bandwidth_package_id: package.clone().into(),
                    ..Status::default()
                })
                .await?;
                if let Some(Some(e)) = &mut self.cloud.eip {
                    e.bandwidth_package = Some(package);
                }
            }
            Action::LeavePackage { id, package } => {
                self.status(Status::phase(PodEIPPhase::Releasing)).await?;
                let res = cloud
                    .remove_common_bandwidth_package_ip(&BandwidthPackageIpArgs {
                        bandwidth_package_id: package.clone(),
                        ip_instance_id: id.clone(),
                        client_token: None,
                    })
                    .await;
                match res {
                    Ok(_) => {}
                    Err(e) if e.api().is_some_and(|a| a.code.contains("IpNotInCbwp")) => {}
                    Err(e) => {
                        self.cloud = CloudFacts::default();
                        return Err(Error::cloud(format!(
                            "remove EIP {id} from bandwidth package {package}"
                        ))(e));
                    }
                }
                self.status(Status {
                    bandwidth_package_id: Change::Clear,
                    ..Status::default()
                })
                .await?;
                if let Some(Some(e)) = &mut self.cloud.eip {
                    e.bandwidth_package = None;
                }
            }
            Action::ModifyBandwidth { id, mbps } => {
                cloud
                    .modify_eip_address_attribute(&ModifyEipArgs {
                        allocation_id: id.clone(),
                        bandwidth: Some(mbps),
                        ..ModifyEipArgs::default()
                    })
                    .await
                    .map_err(Error::cloud(format!("change the bandwidth of EIP {id}")))?;
                self.status(Status {
                    bandwidth: i64::from(mbps).into(),
                    ..Status::default()
                })
                .await?;
                ctx.event(
                    &self.pod_ref(),
                    EventType::Normal,
                    names::REASON_BANDWIDTH_CHANGED,
                    format!("EIP {id} bandwidth set to {mbps} Mbit/s"),
                    "Modify",
                )
                .await;
            }
            Action::Publish { id, address } => {
                self.pod_patch(json!({"metadata": {"annotations": {
                    names::ALLOCATED_EIP_ADDRESS: address,
                    names::ALLOCATED_EIP_ID: id,
                }}}))
                .await?;
                self.condition(
                    true,
                    names::REASON_BOUND,
                    &format!("EIP {address} ({id}) is associated with the pod IP"),
                )
                .await?;
                if let Some(p) = pf
                    && let Some(t) = lock(&ctx.ip_seen).remove(&p.uid)
                {
                    ctx.metrics.ip_to_bound.observe(t.elapsed().as_secs_f64());
                }
                ctx.event(
                    &self.pod_ref(),
                    EventType::Normal,
                    names::REASON_BOUND,
                    format!("EIP {address} ({id}) associated with the pod"),
                    "Associate",
                )
                .await;
            }
            Action::MarkBound { id, address } => {
                if let Some(p) = pf {
                    lock(&ctx.permanent).remove(&p.uid);
                }
                self.status(Status {
                    allocation_id: id.clone().into(),
                    eip_address: address.clone().into(),
                    last_error: Change::Clear,
                    taken_by: Change::Clear,
                    pod_last_seen: now_time().into(),
                    ..Status::phase(PodEIPPhase::Bound)
                })
                .await?;
            }
            Action::Unbind { id, eni, ip } => {
                self.status(Status::phase(PodEIPPhase::Releasing)).await?;
                ctx.checkpoint("before:Unbind").await;
                self.unassociate(UnassociateEipArgs::from_eni(&id, &eni, &ip))
                    .await?;
                ctx.checkpoint("after:Unbind").await;
                let e = self.wait(&id, WaitTarget::Available).await?;
                self.cloud.eip = Some(e);
            }
            Action::Release(id) => {
                self.status(Status::phase(PodEIPPhase::Releasing)).await?;
                ctx.checkpoint("before:Release").await;
                match cloud.release_eip_address(&id).await {
                    Ok(_) => {}
                    Err(eip_cloud::Error::NotFound(_)) => {}
                    Err(e) => {
                        self.cloud = CloudFacts::default();
                        return Err(Error::cloud(format!("release EIP {id}"))(e));
                    }
                }
                ctx.checkpoint("after:Release").await;
                ctx.metrics.releases.inc();
                self.status(Status::phase(PodEIPPhase::Released)).await?;
                ctx.event(
                    &self.pod_ref(),
                    EventType::Normal,
                    names::REASON_RELEASED,
                    format!("EIP {id} released"),
                    "Release",
                )
                .await;
            }
            Action::Retain => {
                let rf = self.rec.as_ref().map(record_facts);
                let release_at = match rf.map(|r| r.strategy) {
                    Some(ReleaseStrategy::After(d)) => jiff::SignedDuration::try_from(d)
                        .ok()
                        .and_then(|d| jiff::Timestamp::now().checked_add(d).ok())
                        .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
                    _ => None,
                };
                self.status(Status {
                    release_at: Change::set_or_clear(release_at),
                    network_interface_id: Change::Clear,
                    private_ip_address: Change::Clear,
                    pod_last_seen: now_time().into(),
                    ..Status::phase(PodEIPPhase::Retained)
                })
                .await?;
            }
            Action::DeleteRecord => {
                self.delete_record().await?;
            }
            Action::Unpublish => {
                self.pod_patch(json!({"metadata": {"annotations": {
                    names::ALLOCATED_EIP_ADDRESS: null,
                    names::ALLOCATED_EIP_ID: null,
                }}}))
                .await?;
                self.condition(
                    false,
                    names::REASON_RELEASING,
                    "the pod no longer asks for an EIP",
                )
                .await?;
            }
        }
        if let Some(p) = pf
            && p.ip.is_some()
            && !p.deleting
        {
            lock(&ctx.ip_seen)
                .entry(p.uid.clone())
                .or_insert_with(Instant::now);
        }
        Ok(None)
    }

    pub(crate) async fn observe(&mut self, o: Observation) -> Result<(), Error> {
        let ctx = self.ctx;
        let cloud = ctx.cloud.as_ref();
        match o {
            Observation::Eip(id) => {
                self.cloud.eip = Some(ctx.describer.eip(&id).await?);
            }
            Observation::Tagged(uid) => {
                self.cloud.tagged = Some(cloudops::tagged(cloud, &ctx.cfg.cluster_id, &uid).await?);
            }
            Observation::Eni(ip) => {
                self.cloud.eni = Some(
                    cloudops::find_eni(
                        cloud,
                        ctx.metadata.as_ref(),
                        ctx.instance_id.as_deref(),
                        ip,
                    )
                    .await?,
                );
            }
            Observation::OnIp { eni, ip } => {
                self.cloud.on_ip = Some(ctx.describer.on_ip(&eni, ip).await?);
            }
        }
        Ok(())
    }

    pub(crate) async fn unassociate(&mut self, args: UnassociateEipArgs) -> Result<(), Error> {
        let id = args.allocation_id.clone();
        let res = self.ctx.cloud.unassociate_eip_address(&args).await;
        match res {
            Ok(_) => Ok(()),
            // Already unbound (or gone): what we wanted.
            Err(eip_cloud::Error::IncorrectStatus(_)) | Err(eip_cloud::Error::NotFound(_)) => {
                Ok(())
            }
            Err(e) => {
                self.cloud = CloudFacts::default();
                Err(Error::cloud(format!("unassociate EIP {id}"))(e))
            }
        }
    }

    pub(crate) async fn wait(
        &mut self,
        id: &str,
        target: WaitTarget,
    ) -> Result<Option<EipView>, Error> {
        match self
            .ctx
            .waiter
            .wait(id, target, self.ctx.cfg.wait_timeout)
            .await
        {
            Ok(e) => Ok(e.as_ref().and_then(cloudops::view)),
            Err(eip_cloud::Error::EipGone { .. }) => Ok(None),
            Err(e) => {
                self.cloud = CloudFacts::default();
                Err(Error::cloud(format!(
                    "wait for EIP {id} to become {target}"
                ))(e))
            }
        }
    }

    /// A step failed in a way a retry cannot fix (see [`eip_cloud::Error::is_permanent`]):
    /// an EIP allocated for this request and not yet published is unbound and released
    /// (nothing is left billed for a pod that cannot use it), the record says Failed with
    /// the cloud's words and the fix, one Warning, the condition False; the same request is
    /// tried again after a backoff that doubles up to minutes.
    pub(crate) async fn fail_permanently(
        &mut self,
        what: String,
        source: eip_cloud::Error,
        request: Option<EipRequest>,
    ) -> Result<Next, Error> {
        let ctx = self.ctx;
        let rf = self.rec.as_ref().map(record_facts);
        let mut released = None;
        if let Some(rf) = &rf
            && rf.eip_type == PodEIPType::Auto
            && rf.phase != Some(PodEIPPhase::Bound)
            && let Some(id) = rf.allocation_id.clone()
        {
            let args = match (&rf.eni, &rf.private_ip) {
                (Some(eni), Some(ip)) => UnassociateEipArgs::from_eni(&id, eni, ip),
                _ => UnassociateEipArgs {
                    allocation_id: id.clone(),
                    ..UnassociateEipArgs::default()
                },
            };
            self.unassociate(args).await?;
            self.wait(&id, WaitTarget::Available).await?;
            match ctx.cloud.release_eip_address(&id).await {
                Ok(_) | Err(eip_cloud::Error::NotFound(_)) => {}
                Err(e) => return Err(Error::cloud(format!("release EIP {id}"))(e)),
            }
            ctx.metrics.releases.inc();
            released = Some(id);
        }
        let code = source.api().map(|a| a.code.clone()).unwrap_or_default();
        let wait = match (&request, self.pod.as_ref().and_then(|p| p.uid())) {
            (Some(req), Some(uid)) => ctx.permanent_failed(&uid, req.clone()),
            _ => ctx.cfg.permanent_backoff_max,
        };
        let mut msg = format!("failed to {what}: {source}; {}", permanent_fix(&source));
        if let Some(id) = &released {
            msg.push_str(&format!("; EIP {id} allocated for this pod was released"));
        }
        msg.push_str(&format!(
            "; kube-eip tries again in {}",
            humantime::format_duration(Duration::from_secs(wait.as_secs().max(1)))
        ));
        ctx.metrics.failure(code.clone());
        tracing::warn!(pod = %self.key(), error = %msg, "permanent cloud error; backing off");
        if released.is_some() {
            self.status(Status {
                allocation_id: Change::Clear,
                eip_address: Change::Clear,
                network_interface_id: Change::Clear,
                private_ip_address: Change::Clear,
                bandwidth_package_id: Change::Clear,
                last_error: msg.clone().into(),
                ..Status::phase(PodEIPPhase::Failed)
            })
            .await?;
        } else {
            self.status(Status {
                last_error: msg.clone().into(),
                ..Status::phase(PodEIPPhase::Failed)
            })
            .await?;
        }
        self.condition(false, names::REASON_FAILED, &msg).await?;
        ctx.permanent_event(&self.pod_ref(), &code, msg).await;
        self.cloud = CloudFacts::default();
        Ok(Next::After(wait))
    }
}
