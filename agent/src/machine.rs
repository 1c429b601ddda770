//! The allocation state machine: pure, no network, no clock.
//!
//! In: [`Facts`] — what the pod asks for, what its PodEIP record says, what has been
//! observed in the cloud during this reconcile, and the `eni-config` switches. Out: the one
//! next [`Action`]. The controller adapter executes the action, records it in the PodEIP
//! (before and after every cloud call), refreshes the facts and asks again, until the
//! answer is [`Action::Done`] or a wait. Any crash between two steps is therefore recovered
//! by the next reconcile, which finds the record and the cloud where the crash left them.
//!
//! Unknown cloud facts are `None`; the machine asks for them with [`Action::Observe`]
//! rather than the adapter describing everything on every pass.

use std::net::Ipv4Addr;

use eip_core::annotations::{AnnotationError, EipRequest, ReleaseStrategy};
use eip_core::podeip::{PodEIPPhase, PodEIPType};
pub use eip_core::workload::Owner;
use eip_core::workload::shared_named_eip;

/// A cloud status of an EIP: eip-cloud's one vocabulary.
pub use eip_cloud::model::EipStatus;

/// One EIP as observed in the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EipView {
    /// Allocation id.
    pub id: String,
    /// Public address.
    pub address: String,
    /// Status.
    pub state: EipStatus,
    /// The ENI it is associated with (empty when not associated with an ENI).
    pub eni: Option<String>,
    /// The private IP it is associated with.
    pub private_ip: Option<String>,
    /// Peak bandwidth, Mbit/s.
    pub bandwidth: Option<u32>,
    /// Shared bandwidth package it is in.
    pub bandwidth_package: Option<String>,
}

impl EipView {
    /// Whether the EIP is (being) associated with exactly this ENI and private IP.
    pub fn is_on(&self, eni: &str, ip: &str) -> bool {
        self.eni.as_deref() == Some(eni) && self.private_ip.as_deref() == Some(ip)
    }
    /// Whether it carries any association.
    pub fn is_associated(&self) -> bool {
        self.eni.is_some() || matches!(self.state, EipStatus::InUse | EipStatus::Associating)
    }
}

/// What is known about the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFacts {
    /// The pod's UID.
    pub uid: String,
    /// The pod IP, once the CNI gave one.
    pub ip: Option<Ipv4Addr>,
    /// The pod has a deletion timestamp.
    pub deleting: bool,
    /// The agent's finalizer is on the pod.
    pub has_finalizer: bool,
    /// `(allocation id, address)` written on the pod, if any.
    pub published: Option<(String, String)>,
    /// The `k8s.aliyun.com/eip` condition is True.
    pub condition_true: bool,
    /// The owning workload, read only for a pod that names an EIP ([`Owner::None`]
    /// otherwise).
    pub owner: Owner,
}

/// What the PodEIP record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFacts {
    /// Phase (None: never written).
    pub phase: Option<PodEIPPhase>,
    /// Auto or Static.
    pub eip_type: PodEIPType,
    /// The EIP (status, else spec).
    pub allocation_id: Option<String>,
    /// Public address.
    pub address: Option<String>,
    /// The pod UID the record belongs to.
    pub pod_uid: Option<String>,
    /// ENI the EIP is (to be) associated with.
    pub eni: Option<String>,
    /// Private IP the EIP is (to be) associated with.
    pub private_ip: Option<String>,
    /// Release strategy recorded.
    pub strategy: ReleaseStrategy,
    /// Recorded bandwidth (Mbit/s).
    pub bandwidth: Option<u32>,
    /// Recorded shared bandwidth package.
    pub bandwidth_package: Option<String>,
    /// Last error recorded.
    pub last_error: Option<String>,
    /// The pod (`namespace/name`) that took the named EIP, as its agent recorded here.
    pub taken_by: Option<String>,
    /// The record is being deleted.
    pub deleting: bool,
}

/// What has been observed in the cloud during this reconcile (`None`: not looked yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudFacts {
    /// The record's EIP: `Some(None)` when it does not exist.
    pub eip: Option<Option<EipView>>,
    /// EIPs tagged with this pod's UID (crash recovery after AllocateEipAddress).
    pub tagged: Option<Vec<EipView>>,
    /// The ENI carrying the pod IP: `Some(None)` when no ENI carries it.
    pub eni: Option<Option<String>>,
    /// The EIP currently associated with the pod IP (`Some(None)`: none).
    pub on_ip: Option<Option<EipView>>,
}

/// The `eni-config` switches: eip-core's one policy, shared with the extender.
pub use eip_core::eni_config::EipSwitches as Switches;

/// Everything [`decide`] looks at.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The pod (None: it is gone from the API; only the record is left).
    pub pod: Option<&'a PodFacts>,
    /// The pod's request, as parsed from its annotations.
    pub request: &'a Result<Option<EipRequest>, Vec<AnnotationError>>,
    /// The PodEIP record of this namespace/name.
    pub record: Option<&'a RecordFacts>,
    /// Cloud observations.
    pub cloud: &'a CloudFacts,
    /// `eni-config`.
    pub switches: Switches,
    /// The record's retention has expired (garbage collector only): release it now.
    pub expired: bool,
    /// Re-check in the cloud that a Bound EIP is still where the record says (periodic
    /// resync, and the first reconcile after a start).
    pub verify: bool,
}

/// What to look at in the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// Describe the record's EIP.
    Eip(String),
    /// Describe EIPs tagged with the pod UID (recorded in the record).
    Tagged(String),
    /// Find the ENI carrying the pod IP.
    Eni(Ipv4Addr),
    /// Describe the EIP associated with this ENI and private IP.
    OnIp {
        /// ENI.
        eni: String,
        /// Private IP.
        ip: Ipv4Addr,
    },
}

/// The next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do for this pod now.
    Done,
    /// The pod has no IP yet; a pod update will bring us back.
    WaitForPodIp,
    /// Look something up in the cloud, then decide again.
    Observe(Observation),
    /// The EIP is in a transition; look again shortly.
    Settle(String),
    /// The annotations are invalid: Warning event, Failed record, no cloud call.
    RejectInvalid(String),
    /// The feature switch is off (or `eni-config` is invalid): Warning event with this
    /// sentence, telling the operator what to set or fix.
    Disabled(String),
    /// Refuse a named EIP on a workload that can run more than one pod, or whose owner
    /// cannot be read (fail closed): condition False, Warning, look again later; no cloud
    /// call.
    RejectShared(String),
    /// Put the agent's finalizer on the pod.
    AddFinalizer,
    /// Create the record (phase Pending) for this request.
    CreateRecord,
    /// Take over a record left by an earlier pod of the same name (TTL reuse, or a
    /// record whose pod was force-deleted), keeping its EIP.
    ClaimRecord,
    /// Replace a record that cannot serve this request (e.g. a Failed one), nothing
    /// allocated in it.
    ResetRecord,
    /// Record phase Allocating, then AllocateEipAddress (ClientToken from the pod UID),
    /// then record the allocation id.
    Allocate,
    /// A crash happened after AllocateEipAddress: record this EIP found by its tags.
    Adopt(String),
    /// Record the ENI that carries the pod IP.
    RecordEni(String),
    /// No ENI carries the pod IP (yet): retry later.
    EniNotFound,
    /// Another EIP still sits on the pod's private IP: unbind it (by ENI + IP) first.
    UnbindStale {
        /// That EIP.
        id: String,
        /// ENI.
        eni: String,
        /// The pod IP.
        ip: String,
    },
    /// A named EIP is associated elsewhere and robbing is allowed: unbind it from there.
    Rob(String),
    /// A named EIP is associated elsewhere and robbing is not allowed.
    Blocked(String),
    /// The pod's named EIP was taken by another pod (`allow_eip_rob`): clear the output
    /// annotations, condition False, record Failed. It is not robbed back.
    Lost(String),
    /// Record phase Associating, then AssociateEipAddress in NAT mode.
    Associate {
        /// EIP.
        id: String,
        /// ENI.
        eni: String,
        /// Pod IP.
        ip: String,
    },
    /// Wait (batched) until the EIP is InUse.
    WaitInUse(String),
    /// Add the EIP to the shared bandwidth package.
    JoinPackage {
        /// EIP.
        id: String,
        /// Package.
        package: String,
    },
    /// Take the EIP out of its shared bandwidth package before releasing it.
    LeavePackage {
        /// EIP.
        id: String,
        /// Package.
        package: String,
    },
    /// Change the EIP's bandwidth (annotation changed on a running pod).
    ModifyBandwidth {
        /// EIP.
        id: String,
        /// New Mbit/s.
        mbps: u32,
    },
    /// Write the output annotations and the True condition on the pod, a Normal event.
    Publish {
        /// EIP.
        id: String,
        /// Address.
        address: String,
    },
    /// Record phase Bound, with the EIP it is bound to (for a named EIP this is the first
    /// time the status carries them; the spec only names the allocation id).
    MarkBound {
        /// EIP.
        id: String,
        /// Address.
        address: String,
    },
    /// Record phase Releasing, then UnassociateEipAddress (by ENI + IP) — only issued
    /// when the EIP was just observed on exactly this ENI and IP.
    Unbind {
        /// EIP.
        id: String,
        /// ENI.
        eni: String,
        /// IP.
        ip: String,
    },
    /// Record phase Releasing, then ReleaseEipAddress.
    Release(String),
    /// Keep the unbound EIP: record phase Retained (with a release time for a TTL).
    Retain,
    /// The EIP is gone or not ours to release: delete the record.
    DeleteRecord,
    /// Clear the output annotations and set the condition False (EIP no longer bound).
    Unpublish,
    /// Remove the agent's finalizer from the pod.
    RemoveFinalizer,
}

/// Decides the next action. Pure.
pub fn decide(f: &Facts<'_>) -> Action {
    let pod = f.pod;
    let wants: Option<&EipRequest> = match (pod, f.request) {
        (Some(p), Ok(Some(r))) if !p.deleting => Some(r),
        _ => None,
    };
    let invalid = matches!((pod, f.request), (Some(p), Err(_)) if !p.deleting);

    // A record that belongs to another (earlier) pod of the same name.
    let foreign = match (pod, f.record) {
        (Some(p), Some(r)) => r.pod_uid.as_deref().is_some_and(|u| u != p.uid),
        _ => false,
    };

    if invalid {
        let Err(errors) = f.request else {
            return Action::Done;
        };
        let msg = invalid_message(errors);
        // Keep an EIP already bound: the user can fix the annotation; until then nothing
        // is allocated, associated or released.
        if f.record.and_then(|r| r.last_error.as_ref()) == Some(&msg)
            && f.record.and_then(|r| r.phase) == Some(PodEIPPhase::Failed)
        {
            return Action::Done;
        }
        return Action::RejectInvalid(msg);
    }

    if let (Some(p), Some(req)) = (pod, wants) {
        if !foreign {
            return allocate_flow(f, p, req);
        }
        // A record of an earlier pod with the same namespace/name.
        let Some(rec) = f.record else {
            return Action::Done;
        };
        let claimable = rec.allocation_id.is_some()
            && match req.named() {
                Some(id) => {
                    rec.eip_type == PodEIPType::Static
                        && rec.allocation_id.as_deref() == Some(id.as_str())
                }
                None => rec.eip_type == PodEIPType::Auto,
            };
        if claimable {
            if let Some(off) = f.switches.feature_off() {
                return Action::Disabled(off.to_string());
            }
            if !p.has_finalizer {
                return Action::AddFinalizer;
            }
            return Action::ClaimRecord;
        }
        // The old record holds something this pod cannot use: finish it first (release
        // per its strategy, as if its pod just went), then a fresh record follows.
        return release_flow(f, None);
    }

    // No EIP wanted (none asked, or the pod is going / gone).
    match (pod, f.record) {
        // The record belongs to an earlier pod; it is left for the garbage collector.
        (Some(p), Some(_)) if foreign => finish_pod(p),
        (_, Some(_)) => release_flow(f, pod),
        (Some(p), None) => finish_pod(p),
        (None, None) => Action::Done,
    }
}

/// The sentence put in the Warning event and the record for invalid annotations.
pub fn invalid_message(errors: &[AnnotationError]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!(
        "invalid EIP annotations, nothing was allocated: {}",
        parts.join("; ")
    )
}

fn allocate_flow(f: &Facts<'_>, p: &PodFacts, req: &EipRequest) -> Action {
    if let Some(off) = f.switches.feature_off() {
        return Action::Disabled(off.to_string());
    }
    if let Some(why) = req
        .named()
        .and_then(|id| shared_named_eip(id.as_str(), &p.owner))
    {
        return Action::RejectShared(why);
    }
    if !p.has_finalizer {
        return Action::AddFinalizer;
    }
    let Some(rec) = f.record else {
        return Action::CreateRecord;
    };
    // The record must serve this request: same kind, same named EIP.
    let matches_request = match req.named() {
        Some(id) => {
            rec.eip_type == PodEIPType::Static && rec.allocation_id.as_deref() == Some(id.as_str())
        }
        None => rec.eip_type == PodEIPType::Auto,
    };
    if !matches_request || rec.deleting {
        if rec.allocation_id.is_some() || rec.phase == Some(PodEIPPhase::Allocating) {
            // It holds another EIP: let it go first (per its strategy).
            return release_flow(f, Some(p));
        }
        return Action::ResetRecord;
    }
    if rec.phase == Some(PodEIPPhase::Failed) && rec.allocation_id.is_none() {
        return Action::ResetRecord;
    }
    let Some(ip) = p.ip else {
        return Action::WaitForPodIp;
    };
    let ip_s = ip.to_string();

    // 1. The EIP.
    let id = match &rec.allocation_id {
        Some(id) => id.clone(),
        None => {
            if rec.phase == Some(PodEIPPhase::Allocating) {
                // We may have allocated before a crash: look for it by its tags first.
                match &f.cloud.tagged {
                    None => return Action::Observe(Observation::Tagged(p.uid.clone())),
                    Some(found) => {
                        if let Some(e) = found.iter().min_by(|a, b| a.id.cmp(&b.id)) {
                            return Action::Adopt(e.id.clone());
                        }
                    }
                }
            }
            return Action::Allocate;
        }
    };

    // Fast path: everything recorded as bound and published (verified in the cloud on
    // resync).
    let verified = match (&f.cloud.eip, &rec.eni) {
        (Some(Some(e)), Some(eni)) => e.state == EipStatus::InUse && e.is_on(eni, &ip_s),
        _ => false,
    };
    if rec.phase == Some(PodEIPPhase::Bound)
        // Another pod's agent says it took the EIP: look in the cloud now.
        && rec.taken_by.is_none()
        && rec.private_ip.as_deref() == Some(ip_s.as_str())
        // A record written without the address (a named EIP, by an older agent) takes
        // the full path once, which records it.
        && p.published
            .as_ref()
            .is_some_and(|(i, a)| *i == id && rec.address.as_ref() == Some(a))
        && p.condition_true
        && (!f.verify || f.cloud.eip.is_none() || verified)
    {
        if f.verify && f.cloud.eip.is_none() {
            return Action::Observe(Observation::Eip(id));
        }
        if rec.eip_type == PodEIPType::Auto
            && rec.bandwidth.is_some_and(|b| b != req.bandwidth_mbps)
        {
            return Action::ModifyBandwidth {
                id,
                mbps: req.bandwidth_mbps,
            };
        }
        if let Some(pkg) = &req.common_bandwidth_package_id
            && rec.bandwidth_package.as_ref() != Some(pkg)
        {
            return Action::JoinPackage {
                id,
                package: pkg.clone(),
            };
        }
        return Action::Done;
    }

    // 2. The ENI carrying the pod IP.
    let eni = match (&rec.eni, rec.private_ip.as_deref() == Some(ip_s.as_str())) {
        (Some(e), true) => e.clone(),
        _ => match &f.cloud.eni {
            None => return Action::Observe(Observation::Eni(ip)),
            Some(None) => return Action::EniNotFound,
            Some(Some(e)) => return Action::RecordEni(e.clone()),
        },
    };

    // 3. The EIP's own state.
    let eip = match &f.cloud.eip {
        None => return Action::Observe(Observation::Eip(id)),
        Some(None) => {
            // Our EIP no longer exists.
            return match rec.eip_type {
                PodEIPType::Static => Action::Blocked(format!(
                    "EIP {id} named by the pod does not exist in region; check pod-eip-instanceid"
                )),
                // An auto EIP vanished (released outside kube-eip): start over.
                PodEIPType::Auto => Action::ResetRecord,
            };
        }
        Some(Some(e)) => e.clone(),
    };

    if eip.is_on(&eni, &ip_s) {
        match eip.state {
            EipStatus::InUse => {}
            EipStatus::Associating => return Action::WaitInUse(id),
            _ => return Action::Settle(id),
        }
        if let Some(pkg) = &req.common_bandwidth_package_id
            && eip.bandwidth_package.as_ref() != Some(pkg)
        {
            return Action::JoinPackage {
                id,
                package: pkg.clone(),
            };
        }
        if p.published.as_ref() != Some(&(id.clone(), eip.address.clone())) || !p.condition_true {
            return Action::Publish {
                id,
                address: eip.address,
            };
        }
        if rec.phase != Some(PodEIPPhase::Bound)
            || rec.address.as_ref() != Some(&eip.address)
            // a taker that did not get it after all: the mark goes
            || rec.taken_by.is_some()
        {
            return Action::MarkBound {
                id,
                address: eip.address,
            };
        }
        return Action::Done;
    }

    match eip.state {
        EipStatus::Associating | EipStatus::Unassociating | EipStatus::Releasing => {
            return Action::Settle(id);
        }
        EipStatus::InUse => {
            // Associated somewhere else: to the pod that took it, when its agent said so.
            let whom = format!(
                "{} {}",
                eip.eni.as_deref().unwrap_or("another resource"),
                eip.private_ip.as_deref().unwrap_or("")
            );
            let whom = match &rec.taken_by {
                Some(pod) => format!("pod {pod} ({})", whom.trim_end()),
                None => whom,
            };
            return match rec.eip_type {
                PodEIPType::Auto => Action::Rob(id), // ours; its old pod is gone
                PodEIPType::Static if rec.phase == Some(PodEIPPhase::Bound) => {
                    Action::Lost(format!(
                        "EIP {id} was taken by {whom} (allow_eip_rob); this pod no longer has it and does not take it back: delete the pod to claim the EIP again"
                    ))
                }
                PodEIPType::Static if rec.phase == Some(PodEIPPhase::Failed) => Action::Blocked(
                    format!("EIP {id} was taken by {whom}; delete the pod to claim it again"),
                ),
                PodEIPType::Static if f.switches.allow_rob => Action::Rob(id),
                PodEIPType::Static => Action::Blocked(format!(
                    "EIP {id} is in use by {whom}; set \"allow_eip_rob\": \"true\" in eni-config to take it, or name a free EIP"
                )),
            };
        }
        // Its taker's agent unbound it and is binding it to its own pod: gone for this one.
        EipStatus::Available
            if rec.eip_type == PodEIPType::Static
                && rec.phase == Some(PodEIPPhase::Bound)
                && rec.taken_by.is_some() =>
        {
            return Action::Lost(format!(
                "EIP {id} was taken by pod {} (allow_eip_rob); this pod no longer has it and does not take it back: delete the pod to claim the EIP again",
                rec.taken_by.as_deref().unwrap_or_default()
            ));
        }
        EipStatus::Available => {}
    }

    // 4. Nothing else may sit on the pod's private IP.
    match &f.cloud.on_ip {
        None => {
            return Action::Observe(Observation::OnIp {
                eni: eni.clone(),
                ip,
            });
        }
        Some(Some(other)) if other.id != id => {
            return Action::UnbindStale {
                id: other.id.clone(),
                eni,
                ip: ip_s,
            };
        }
        Some(_) => {}
    }
    Action::Associate { id, eni, ip: ip_s }
}

/// Release (or keep) the record's EIP because its pod is going, gone, or no longer asks.
fn release_flow(f: &Facts<'_>, pod: Option<&PodFacts>) -> Action {
    let Some(rec) = f.record else {
        return pod.map_or(Action::Done, finish_pod);
    };
    if rec.phase == Some(PodEIPPhase::Released)
        || (rec.phase == Some(PodEIPPhase::Retained) && !f.expired)
    {
        if rec.phase == Some(PodEIPPhase::Released) {
            return Action::DeleteRecord;
        }
        return pod.map_or(Action::Done, finish_pod);
    }
    let id = match &rec.allocation_id {
        Some(id) => id.clone(),
        None => {
            if rec.phase == Some(PodEIPPhase::Allocating)
                && let Some(uid) = &rec.pod_uid
            {
                match &f.cloud.tagged {
                    None => return Action::Observe(Observation::Tagged(uid.clone())),
                    Some(found) => {
                        if let Some(e) = found.iter().min_by(|a, b| a.id.cmp(&b.id)) {
                            return Action::Adopt(e.id.clone());
                        }
                    }
                }
            }
            return Action::DeleteRecord;
        }
    };
    let eip = match &f.cloud.eip {
        None => return Action::Observe(Observation::Eip(id)),
        Some(None) => return Action::DeleteRecord,
        Some(Some(e)) => e.clone(),
    };
    match eip.state {
        EipStatus::Associating | EipStatus::Unassociating => return Action::Settle(id),
        EipStatus::Releasing => return Action::DeleteRecord,
        EipStatus::InUse => {
            // Unbind only if it is still on this pod's ENI and IP (no misroute, and a
            // robbed EIP's new owner keeps it).
            let mine = match (&rec.eni, rec.private_ip.as_deref()) {
                (Some(e), Some(i)) => eip.is_on(e, i),
                _ => false,
            };
            if mine && let (Some(e), Some(i)) = (&rec.eni, &rec.private_ip) {
                return Action::Unbind {
                    id,
                    eni: e.clone(),
                    ip: i.clone(),
                };
            }
            // Somebody else's now: never release or unbind it; forget it.
            return Action::DeleteRecord;
        }
        EipStatus::Available => {}
    }
    let release = |id: String| match &eip.bandwidth_package {
        Some(package) => Action::LeavePackage {
            id,
            package: package.clone(),
        },
        None => Action::Release(id),
    };
    match (rec.eip_type, rec.strategy) {
        (PodEIPType::Static, _) if f.expired => Action::DeleteRecord,
        (PodEIPType::Static, ReleaseStrategy::Never) => Action::Retain,
        (PodEIPType::Static, _) => Action::DeleteRecord,
        (PodEIPType::Auto, _) if f.expired => release(id),
        (PodEIPType::Auto, ReleaseStrategy::Follow) => release(id),
        (PodEIPType::Auto, _) => Action::Retain,
    }
}

/// Cleanup of the pod itself once its EIP is settled.
fn finish_pod(p: &PodFacts) -> Action {
    if (p.published.is_some() || p.condition_true) && !p.deleting {
        return Action::Unpublish;
    }
    if p.has_finalizer {
        return Action::RemoveFinalizer;
    }
    Action::Done
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use eip_core::annotations::{AllocationId, EipSource};

    use super::*;

    const UID: &str = "uid-1";
    const IP: &str = "192.168.0.10";
    const ENI: &str = "eni-1";

    fn pod() -> PodFacts {
        PodFacts {
            uid: UID.into(),
            ip: Some(IP.parse().expect("ip")),
            deleting: false,
            has_finalizer: true,
            published: None,
            condition_true: false,
            owner: Owner::None,
        }
    }

    fn record() -> RecordFacts {
        RecordFacts {
            phase: Some(PodEIPPhase::Pending),
            eip_type: PodEIPType::Auto,
            allocation_id: None,
            address: None,
            pod_uid: Some(UID.into()),
            eni: None,
            private_ip: None,
            strategy: ReleaseStrategy::Follow,
            bandwidth: Some(5),
            bandwidth_package: None,
            last_error: None,
            taken_by: None,
            deleting: false,
        }
    }

    fn bound_record() -> RecordFacts {
        RecordFacts {
            phase: Some(PodEIPPhase::Bound),
            allocation_id: Some("eip-a".into()),
            address: Some("47.96.0.1".into()),
            eni: Some(ENI.into()),
            private_ip: Some(IP.into()),
            ..record()
        }
    }

    fn eip(id: &str, state: EipStatus, on: Option<(&str, &str)>) -> EipView {
        EipView {
            id: id.into(),
            address: "47.96.0.1".into(),
            state,
            eni: on.map(|(e, _)| e.to_owned()),
            private_ip: on.map(|(_, i)| i.to_owned()),
            bandwidth: Some(5),
            bandwidth_package: None,
        }
    }

    /// The pod with `id` (at 47.96.0.1) published and the condition True.
    fn published(id: &str) -> PodFacts {
        PodFacts {
            published: Some((id.into(), "47.96.0.1".into())),
            condition_true: true,
            ..pod()
        }
    }

    /// `id` observed InUse on the pod's ENI and IP.
    fn in_use_here(id: &str) -> CloudFacts {
        CloudFacts {
            eip: Some(Some(eip(id, EipStatus::InUse, Some((ENI, IP))))),
            ..CloudFacts::default()
        }
    }

    fn mark_bound(id: &str) -> Action {
        Action::MarkBound {
            id: id.into(),
            address: "47.96.0.1".into(),
        }
    }

    fn auto() -> Result<Option<EipRequest>, Vec<AnnotationError>> {
        Ok(Some(EipRequest::allocate_default()))
    }

    fn named(id: &str) -> Result<Option<EipRequest>, Vec<AnnotationError>> {
        let mut r = EipRequest::allocate_default();
        r.source = EipSource::Existing(AllocationId::parse(id).expect("id"));
        Ok(Some(r))
    }

    fn on() -> Switches {
        Switches::new(true, false)
    }

    struct Case {
        name: &'static str,
        pod: Option<PodFacts>,
        request: Result<Option<EipRequest>, Vec<AnnotationError>>,
        record: Option<RecordFacts>,
        cloud: CloudFacts,
        switches: Switches,
        expired: bool,
        verify: bool,
        want: Action,
    }

    fn case(name: &'static str) -> Case {
        Case {
            name,
            pod: Some(pod()),
            request: auto(),
            record: Some(record()),
            cloud: CloudFacts::default(),
            switches: on(),
            expired: false,
            verify: false,
            want: Action::Done,
        }
    }

    fn run(cases: Vec<Case>) {
        for c in cases {
            let got = decide(&Facts {
                pod: c.pod.as_ref(),
                request: &c.request,
                record: c.record.as_ref(),
                cloud: &c.cloud,
                switches: c.switches,
                expired: c.expired,
                verify: c.verify,
            });
            assert_eq!(got, c.want, "case {:?}", c.name);
        }
    }

    fn assoc() -> Action {
        Action::Associate {
            id: "eip-a".into(),
            eni: ENI.into(),
            ip: IP.into(),
        }
    }

    #[test]
    fn allocation_happy_path_steps() {
        let with_id = RecordFacts {
            allocation_id: Some("eip-a".into()),
            phase: Some(PodEIPPhase::Allocating),
            ..record()
        };
        let with_eni = RecordFacts {
            eni: Some(ENI.into()),
            private_ip: Some(IP.into()),
            ..with_id.clone()
        };
        run(vec![
            Case {
                pod: Some(PodFacts {
                    has_finalizer: false,
                    ..pod()
                }),
                record: None,
                want: Action::AddFinalizer,
                ..case("finalizer first")
            },
            Case {
                record: None,
                want: Action::CreateRecord,
                ..case("then the record")
            },
            Case {
                pod: Some(PodFacts { ip: None, ..pod() }),
                want: Action::WaitForPodIp,
                ..case("no pod IP yet")
            },
            Case {
                want: Action::Allocate,
                ..case("pending record allocates")
            },
            Case {
                record: Some(with_id.clone()),
                want: Action::Observe(Observation::Eni(IP.parse().expect("ip"))),
                ..case("allocated: find the ENI")
            },
            Case {
                record: Some(with_id.clone()),
                cloud: CloudFacts {
                    eni: Some(Some(ENI.into())),
                    ..CloudFacts::default()
                },
                want: Action::RecordEni(ENI.into()),
                ..case("ENI found is recorded")
            },
            Case {
                record: Some(with_id),
                cloud: CloudFacts {
                    eni: Some(None),
                    ..CloudFacts::default()
                },
                want: Action::EniNotFound,
                ..case("no ENI carries the IP")
            },
            Case {
                record: Some(with_eni.clone()),
                want: Action::Observe(Observation::Eip("eip-a".into())),
                ..case("observe the EIP")
            },
            Case {
                record: Some(with_eni.clone()),
                cloud: CloudFacts {
                    eip: Some(Some(eip("eip-a", EipStatus::Available, None))),
                    ..CloudFacts::default()
                },
                want: Action::Observe(Observation::OnIp {
                    eni: ENI.into(),
                    ip: IP.parse().expect("ip"),
                }),
                ..case("check the pod IP carries nothing")
            },
            Case {
                record: Some(with_eni.clone()),
                cloud: CloudFacts {
                    eip: Some(Some(eip("eip-a", EipStatus::Available, None))),
                    on_ip: Some(None),
                    ..CloudFacts::default()
                },
                want: assoc(),
                ..case("associate")
            },
            Case {
                record: Some(with_eni.clone()),
                cloud: CloudFacts {
                    eip: Some(Some(eip("eip-a", EipStatus::Associating, Some((ENI, IP))))),
                    ..CloudFacts::default()
                },
                want: Action::WaitInUse("eip-a".into()),
                ..case("wait for InUse")
            },
            Case {
                record: Some(with_eni.clone()),
                cloud: CloudFacts {
                    eip: Some(Some(eip("eip-a", EipStatus::InUse, Some((ENI, IP))))),
                    ..CloudFacts::default()
                },
                want: Action::Publish {
                    id: "eip-a".into(),
                    address: "47.96.0.1".into(),
                },
                ..case("publish on the pod")
            },
            Case {
                pod: Some(published("eip-a")),
                record: Some(with_eni),
                cloud: in_use_here("eip-a"),
                want: mark_bound("eip-a"),
                ..case("then the record says Bound")
            },
            Case {
                pod: Some(PodFacts {
                    published: Some(("eip-a".into(), "47.96.0.1".into())),
                    condition_true: true,
                    ..pod()
                }),
                record: Some(bound_record()),
                want: Action::Done,
                ..case("bound and published: no cloud call")
            },
        ]);
    }

    #[test]
    fn crash_after_allocate_adopts_by_tag_and_never_allocates_twice() {
        let allocating = RecordFacts {
            phase: Some(PodEIPPhase::Allocating),
            ..record()
        };
        run(vec![
            Case {
                record: Some(allocating.clone()),
                want: Action::Observe(Observation::Tagged(UID.into())),
                ..case("Allocating without id: look by tag")
            },
            Case {
                record: Some(allocating.clone()),
                cloud: CloudFacts {
                    tagged: Some(vec![eip("eip-b", EipStatus::Available, None)]),
                    ..CloudFacts::default()
                },
                want: Action::Adopt("eip-b".into()),
                ..case("found: adopt")
            },
            Case {
                record: Some(allocating.clone()),
                cloud: CloudFacts {
                    tagged: Some(vec![]),
                    ..CloudFacts::default()
                },
                want: Action::Allocate,
                ..case("nothing found: allocate (same ClientToken)")
            },
            Case {
                pod: Some(PodFacts {
                    deleting: true,
                    ..pod()
                }),
                record: Some(allocating),
                cloud: CloudFacts {
                    tagged: Some(vec![eip("eip-b", EipStatus::Available, None)]),
                    ..CloudFacts::default()
                },
                want: Action::Adopt("eip-b".into()),
                ..case("deleting while Allocating: adopt, to release it")
            },
        ]);
    }

    #[test]
    fn deletion_unbinds_only_what_is_still_ours() {
        let deleting = PodFacts {
            deleting: true,
            ..pod()
        };
        let released = |strategy, eip_type| RecordFacts {
            strategy,
            eip_type,
            ..bound_record()
        };
        let available = CloudFacts {
            eip: Some(Some(eip("eip-a", EipStatus::Available, None))),
            ..CloudFacts::default()
        };
        run(vec![
            Case {
                pod: Some(deleting.clone()),
                record: Some(bound_record()),
                want: Action::Observe(Observation::Eip("eip-a".into())),
                ..case("re-describe before unbinding")
            },
            Case {
                pod: Some(deleting.clone()),
                record: Some(bound_record()),
                cloud: CloudFacts {
                    eip: Some(Some(eip("eip-a", EipStatus::InUse, Some((ENI, IP))))),
                    ..CloudFacts::default()
                },
                want: Action::Unbind {
                    id: "eip-a".into(),
                    eni: ENI.into(),
                    ip: IP.into(),
                },
                ..case("still on our ENI and IP: unbind")
            },
            Case {
                pod: Some(deleting.clone()),
                record: Some(bound_record()),
                cloud: CloudFacts {
                    eip: Some(Some(eip(
                        "eip-a",
                        EipStatus::InUse,
                        Some(("eni-other", "192.168.0.99")),
                    ))),
                    ..CloudFacts::default()
                },
                want: Action::DeleteRecord,
                ..case("robbed since: neither unbind nor release")
            },
            Case {
                pod: Some(deleting.clone()),
                record: Some(released(ReleaseStrategy::Follow, PodEIPType::Auto)),
                cloud: available.clone(),
                want: Action::Release("eip-a".into()),
                ..case("Follow releases")
            },
            Case {
                pod: Some(deleting.clone()),
                record: Some(released(ReleaseStrategy::Follow, PodEIPType::Auto)),
                cloud: CloudFacts {
                    eip: Some(Some(EipView {
                        bandwidth_package: Some("cbwp-1".into()),
                        ..eip("eip-a", EipStatus::Available, None)
                    })),
                    ..CloudFacts::default()
                },
                want: Action::LeavePackage {
                    id: "eip-a".into(),
                    package: "cbwp-1".into(),
                },
                ..case("leave the shared bandwidth package first")
            },
            Case {
                pod: Some(deleting.clone()),
                record: Some(released(ReleaseStrategy::Never, PodEIPType::Auto)),
                cloud: available.clone(),
                want: Action::Retain,
                ..case("Never keeps")
            },
            Case {
                pod: Some(deleting.clone()),
                record: Some(released(
                    ReleaseStrategy::After(std::time::Duration::from_secs(600)),
                    PodEIPType::Auto,
                )),
                cloud: available.clone(),
                want: Action::Retain,
                ..case("TTL keeps")
            },
            Case {
                pod: Some(deleting.clone()),
                request: named("eip-a"),
                record: Some(released(ReleaseStrategy::Follow, PodEIPType::Static)),
                cloud: available.clone(),
                want: Action::DeleteRecord,
                ..case("a named EIP is never released")
            },
            Case {
                pod: Some(deleting.clone()),
                record: None,
                want: Action::RemoveFinalizer,
                ..case("record gone: finalizer off")
            },
            Case {
                pod: Some(deleting.clone()),
                record: Some(RecordFacts {
                    phase: Some(PodEIPPhase::Retained),
                    ..bound_record()
                }),
                want: Action::RemoveFinalizer,
                ..case("retained: finalizer off")
            },
            Case {
                pod: Some(deleting),
                record: Some(bound_record()),
                cloud: CloudFacts {
                    eip: Some(None),
                    ..CloudFacts::default()
                },
                want: Action::DeleteRecord,
                ..case("EIP already gone")
            },
            Case {
                pod: None,
                record: Some(bound_record()),
                cloud: CloudFacts {
                    eip: Some(Some(eip("eip-a", EipStatus::InUse, Some((ENI, IP))))),
                    ..CloudFacts::default()
                },
                want: Action::Unbind {
                    id: "eip-a".into(),
                    eni: ENI.into(),
                    ip: IP.into(),
                },
                ..case("pod gone (GC): unbind too")
            },
        ]);
    }

    #[test]
    fn stale_eip_on_the_pod_ip_is_removed_before_binding() {
        let rec = RecordFacts {
            phase: Some(PodEIPPhase::Allocating),
            allocation_id: Some("eip-a".into()),
            eni: Some(ENI.into()),
            private_ip: Some(IP.into()),
            ..record()
        };
        run(vec![Case {
            record: Some(rec),
            cloud: CloudFacts {
                eip: Some(Some(eip("eip-a", EipStatus::Available, None))),
                on_ip: Some(Some(eip("eip-old", EipStatus::InUse, Some((ENI, IP))))),
                ..CloudFacts::default()
            },
            want: Action::UnbindStale {
                id: "eip-old".into(),
                eni: ENI.into(),
                ip: IP.into(),
            },
            ..case("old pod's EIP still on the reused IP")
        }]);
    }

    #[test]
    fn named_eip_rob_and_guards() {
        let rec = RecordFacts {
            eip_type: PodEIPType::Static,
            allocation_id: Some("eip-n".into()),
            eni: Some(ENI.into()),
            private_ip: Some(IP.into()),
            bandwidth: None,
            ..record()
        };
        // As recorded before MarkBound carried the EIP.
        let bound_without_address = RecordFacts {
            phase: Some(PodEIPPhase::Bound),
            ..rec.clone()
        };
        let elsewhere = CloudFacts {
            eip: Some(Some(eip(
                "eip-n",
                EipStatus::InUse,
                Some(("eni-x", "192.168.0.77")),
            ))),
            ..CloudFacts::default()
        };
        let Action::Blocked(msg) = decide(&Facts {
            pod: Some(&pod()),
            request: &named("eip-n"),
            record: Some(&rec),
            cloud: &elsewhere,
            switches: on(),
            expired: false,
            verify: false,
        }) else {
            panic!("rob off must block");
        };
        assert!(msg.contains("allow_eip_rob"), "{msg}");
        run(vec![
            Case {
                request: named("eip-n"),
                record: Some(rec.clone()),
                cloud: elsewhere.clone(),
                switches: Switches::new(true, true),
                want: Action::Rob("eip-n".into()),
                ..case("rob on: unbind from there")
            },
            Case {
                request: named("eip-n"),
                pod: Some(PodFacts {
                    owner: Owner::Replicated {
                        kind: "ReplicaSet".into(),
                        name: "web-1".into(),
                        replicas: 2,
                    },
                    ..pod()
                }),
                record: None,
                want: Action::RejectShared("the pod names EIP eip-n but its workload has 2 replicas; an EIP can serve one pod only: use pod-with-eip instead, or run one replica".into()),
                ..case("two replicas may not share a named EIP")
            },
            Case {
                request: named("eip-n"),
                pod: Some(PodFacts {
                    owner: Owner::unreadable("ReplicaSet", "web-1", "the API server is unreachable"),
                    ..pod()
                }),
                record: None,
                want: Action::RejectShared("the pod names EIP eip-n but its owner ReplicaSet web-1 cannot be read (the API server is unreachable), so kube-eip cannot tell whether it runs one pod only; the pod waits until it can be read".into()),
                ..case("an owner that cannot be read: fail closed")
            },
            Case {
                request: named("eip-n"),
                record: Some(rec.clone()),
                cloud: CloudFacts {
                    eip: Some(Some(eip("eip-n", EipStatus::InUse, Some((ENI, IP))))),
                    ..CloudFacts::default()
                },
                want: Action::Publish {
                    id: "eip-n".into(),
                    address: "47.96.0.1".into(),
                },
                ..case("already on this pod's IP: just publish")
            },
            Case {
                request: named("eip-n"),
                pod: Some(published("eip-n")),
                record: Some(rec.clone()),
                cloud: in_use_here("eip-n"),
                want: mark_bound("eip-n"),
                ..case("published: the record says Bound, with the named EIP's id and address")
            },
            Case {
                request: named("eip-n"),
                pod: Some(published("eip-n")),
                record: Some(bound_without_address.clone()),
                want: Action::Observe(Observation::Eip("eip-n".into())),
                ..case("Bound without the address: no fast path, look at the EIP")
            },
            Case {
                request: named("eip-n"),
                pod: Some(published("eip-n")),
                record: Some(bound_without_address.clone()),
                cloud: in_use_here("eip-n"),
                want: mark_bound("eip-n"),
                ..case("Bound without the address: record it")
            },
            Case {
                request: named("eip-n"),
                pod: Some(published("eip-n")),
                record: Some(RecordFacts {
                    address: Some("47.96.0.1".into()),
                    ..bound_without_address
                }),
                want: Action::Done,
                ..case("Bound with the address: no cloud call")
            },
            Case {
                request: named("eip-n"),
                record: Some(rec),
                cloud: CloudFacts {
                    eip: Some(None),
                    ..CloudFacts::default()
                },
                want: Action::Blocked("EIP eip-n named by the pod does not exist in region; check pod-eip-instanceid".into()),
                ..case("named EIP missing")
            },
        ]);
    }

    #[test]
    fn bad_input_and_switch_off_make_no_cloud_step() {
        let mut ann = BTreeMap::new();
        ann.insert(
            eip_core::annotations::POD_WITH_EIP.to_owned(),
            "true".to_owned(),
        );
        ann.insert(
            eip_core::annotations::EIP_BANDWIDTH.to_owned(),
            "fast".to_owned(),
        );
        let bad = EipRequest::from_annotations(&ann);
        let Err(errors) = &bad else {
            panic!("bandwidth must be refused");
        };
        let msg = invalid_message(errors);
        assert!(msg.contains(eip_core::annotations::EIP_BANDWIDTH), "{msg}");
        run(vec![
            Case {
                request: bad.clone(),
                record: None,
                want: Action::RejectInvalid(msg.clone()),
                ..case("invalid: reject")
            },
            Case {
                request: bad,
                record: Some(RecordFacts {
                    phase: Some(PodEIPPhase::Failed),
                    last_error: Some(msg),
                    ..record()
                }),
                want: Action::Done,
                ..case("invalid and already recorded: nothing more (one event)")
            },
            Case {
                switches: Switches::default(),
                record: None,
                want: Action::Disabled(
                    Switches::default()
                        .feature_off()
                        .map(|o| o.to_string())
                        .unwrap_or_default(),
                ),
                ..case("switch off")
            },
        ]);
    }

    #[test]
    fn ttl_record_is_claimed_by_the_next_pod_of_the_same_name() {
        let retained = RecordFacts {
            phase: Some(PodEIPPhase::Retained),
            pod_uid: Some("uid-old".into()),
            strategy: ReleaseStrategy::After(std::time::Duration::from_secs(600)),
            eni: Some("eni-old".into()),
            private_ip: Some("192.168.1.5".into()),
            ..bound_record()
        };
        run(vec![
            Case {
                record: Some(retained.clone()),
                want: Action::ClaimRecord,
                ..case("same name, new uid: claim")
            },
            Case {
                pod: None,
                request: Ok(None),
                record: Some(retained.clone()),
                cloud: CloudFacts {
                    eip: Some(Some(eip("eip-a", EipStatus::Available, None))),
                    ..CloudFacts::default()
                },
                expired: true,
                want: Action::Release("eip-a".into()),
                ..case("TTL passed (GC): release")
            },
            Case {
                pod: None,
                request: Ok(None),
                record: Some(retained.clone()),
                want: Action::Done,
                ..case("TTL not passed, pod gone: keep")
            },
            Case {
                pod: Some(PodFacts {
                    has_finalizer: false,
                    ..pod()
                }),
                request: Ok(None),
                record: Some(retained),
                want: Action::Done,
                ..case("new pod wants no EIP: leave it to GC")
            },
        ]);
    }

    #[test]
    fn resync_verifies_a_bound_eip_and_a_robbed_pod_does_not_rob_back() {
        let published = PodFacts {
            published: Some(("eip-n".into(), "47.96.0.1".into())),
            condition_true: true,
            ..pod()
        };
        let bound_static = RecordFacts {
            eip_type: PodEIPType::Static,
            allocation_id: Some("eip-n".into()),
            bandwidth: None,
            ..bound_record()
        };
        let elsewhere = CloudFacts {
            eip: Some(Some(eip(
                "eip-n",
                EipStatus::InUse,
                Some(("eni-x", "192.168.0.77")),
            ))),
            ..CloudFacts::default()
        };
        let rob_on = Switches::new(true, true);
        let lost = decide(&Facts {
            pod: Some(&published),
            request: &named("eip-n"),
            record: Some(&bound_static),
            cloud: &elsewhere,
            switches: rob_on.clone(),
            expired: false,
            verify: true,
        });
        assert!(
            matches!(lost, Action::Lost(ref m) if m.contains("192.168.0.77")),
            "{lost:?}"
        );
        // Told by the taker's agent: looked at at once (no fast path), and lost even in
        // the moment the EIP is Available between the two associations (never taken back).
        let told = RecordFacts {
            taken_by: Some("default/robber".into()),
            ..bound_static.clone()
        };
        let request = named("eip-n");
        let facts = |cloud: &CloudFacts| {
            decide(&Facts {
                pod: Some(&published),
                request: &request,
                record: Some(&told),
                cloud,
                switches: rob_on.clone(),
                expired: false,
                verify: false,
            })
        };
        assert_eq!(
            facts(&CloudFacts::default()),
            Action::Observe(Observation::Eip("eip-n".into()))
        );
        let moving = CloudFacts {
            eip: Some(Some(eip("eip-n", EipStatus::Available, None))),
            ..CloudFacts::default()
        };
        assert!(
            matches!(facts(&moving), Action::Lost(ref m) if m.contains("taken by pod default/robber")),
            "{:?}",
            facts(&moving)
        );
        assert!(
            matches!(facts(&elsewhere), Action::Lost(ref m) if m.contains("pod default/robber (eni-x 192.168.0.77)")),
            "{:?}",
            facts(&elsewhere)
        );
        run(vec![
            Case {
                pod: Some(published.clone()),
                request: named("eip-n"),
                record: Some(bound_static.clone()),
                verify: true,
                want: Action::Observe(Observation::Eip("eip-n".into())),
                ..case("resync: look")
            },
            Case {
                pod: Some(published.clone()),
                request: named("eip-n"),
                record: Some(bound_static.clone()),
                cloud: CloudFacts {
                    eip: Some(Some(eip("eip-n", EipStatus::InUse, Some((ENI, IP))))),
                    ..CloudFacts::default()
                },
                verify: true,
                want: Action::Done,
                ..case("resync: still ours")
            },
            Case {
                pod: Some(pod()),
                request: named("eip-n"),
                record: Some(RecordFacts {
                    phase: Some(PodEIPPhase::Failed),
                    ..bound_static
                }),
                cloud: elsewhere,
                switches: rob_on.clone(),
                want: Action::Blocked(
                    "EIP eip-n was taken by eni-x 192.168.0.77; delete the pod to claim it again"
                        .into(),
                ),
                ..case("lost: no rob back even with allow_eip_rob")
            },
            Case {
                pod: Some(published),
                record: Some(bound_record()),
                cloud: CloudFacts {
                    eip: Some(Some(eip(
                        "eip-a",
                        EipStatus::InUse,
                        Some(("eni-x", "192.168.0.77")),
                    ))),
                    ..CloudFacts::default()
                },
                verify: true,
                want: Action::Rob("eip-a".into()),
                ..case("an auto EIP found elsewhere is ours: take it back")
            },
        ]);
    }

    #[test]
    fn running_pod_changes() {
        let published = PodFacts {
            published: Some(("eip-a".into(), "47.96.0.1".into())),
            condition_true: true,
            ..pod()
        };
        let mut ten = EipRequest::allocate_default();
        ten.bandwidth_mbps = 10;
        run(vec![
            Case {
                pod: Some(published.clone()),
                request: Ok(Some(ten)),
                record: Some(bound_record()),
                want: Action::ModifyBandwidth {
                    id: "eip-a".into(),
                    mbps: 10,
                },
                ..case("bandwidth changed")
            },
            Case {
                pod: Some(published.clone()),
                request: Ok(None),
                record: Some(bound_record()),
                want: Action::Observe(Observation::Eip("eip-a".into())),
                ..case("annotation removed: release path")
            },
            Case {
                pod: Some(published),
                request: Ok(None),
                record: None,
                want: Action::Unpublish,
                ..case("released: clear the annotations")
            },
        ]);
    }
}
