//! Cloud look-ups and argument building for the controller: turns `eip-cloud` answers
//! into the state machine's views, and requests into `eip-cloud` arguments. The
//! [`Describer`] lets the pods of one node share their DescribeEipAddresses look-ups.

use std::collections::HashMap;
use std::mem;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eip_cloud::Cloud;
use eip_cloud::args::{
    AllocateEipArgs, DescribeEipArgs, DescribeNetworkInterfacesArgs,
    INSTANCE_TYPE_NETWORK_INTERFACE, Tag,
};
use eip_cloud::metadata::MetadataClient;
use eip_cloud::model::EipAddress;
use eip_core::annotations::EipRequest;
use eip_core::names;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::controller::lock;
use crate::error::Error;
use crate::machine::{EipStatus, EipView};

/// Reads the cloud's EIP status (`None` for a status the agent does not know).
pub fn state(status: &str) -> Option<EipStatus> {
    status.parse().ok()
}

/// Converts a described EIP into the machine's view (`None` for an unknown status).
pub fn view(e: &EipAddress) -> Option<EipView> {
    let state = state(&e.status)?;
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let eni = (e.instance_type == INSTANCE_TYPE_NETWORK_INTERFACE)
        .then(|| non_empty(&e.instance_id))
        .flatten();
    Some(EipView {
        id: e.allocation_id.clone(),
        address: e.ip_address.clone(),
        state,
        eni,
        private_ip: non_empty(&e.private_ip_address),
        bandwidth: e.bandwidth.parse().ok(),
        bandwidth_package: non_empty(&e.bandwidth_package_id),
    })
}

/// Describes one EIP (`None` when it does not exist).
pub async fn describe(cloud: &dyn Cloud, id: &str) -> Result<Option<EipView>, Error> {
    let found = cloud
        .describe_eip_addresses(&DescribeEipArgs::by_ids([id]))
        .await
        .map_err(Error::cloud(format!("describe EIP {id}")))?;
    Ok(found.iter().find(|e| e.allocation_id == id).and_then(view))
}

/// EIPs carrying our cluster tag and this pod UID tag.
pub async fn tagged(
    cloud: &dyn Cloud,
    cluster_id: &str,
    pod_uid: &str,
) -> Result<Vec<EipView>, Error> {
    let args = DescribeEipArgs {
        tags: vec![
            Tag::new(names::TAG_CLUSTER_ID, cluster_id),
            Tag::new(names::TAG_POD_UID, pod_uid),
        ],
        ..DescribeEipArgs::default()
    };
    let found = cloud
        .describe_eip_addresses(&args)
        .await
        .map_err(Error::cloud(format!(
            "look up EIPs tagged for pod {pod_uid}"
        )))?;
    Ok(found
        .iter()
        .filter(|e| tag_value(e, names::TAG_POD_UID) == Some(pod_uid))
        .filter_map(view)
        .collect())
}

/// Every EIP carrying our cluster tag, with its raw tags.
pub async fn cluster_eips(cloud: &dyn Cloud, cluster_id: &str) -> Result<Vec<EipAddress>, Error> {
    let args = DescribeEipArgs {
        tags: vec![Tag::new(names::TAG_CLUSTER_ID, cluster_id)],
        ..DescribeEipArgs::default()
    };
    let found = cloud
        .describe_eip_addresses(&args)
        .await
        .map_err(Error::cloud("list the cluster's EIPs"))?;
    Ok(found
        .into_iter()
        .filter(|e| tag_value(e, names::TAG_CLUSTER_ID) == Some(cluster_id))
        .collect())
}

/// The value of one tag of a described EIP.
pub fn tag_value<'a>(e: &'a EipAddress, key: &str) -> Option<&'a str> {
    e.tags
        .tag
        .iter()
        .find(|t| t.key == key)
        .map(|t| t.value.as_str())
}

/// DescribeEipAddresses arguments listing the EIPs associated with one ENI.
fn on_eni_args(eni: &str) -> DescribeEipArgs {
    DescribeEipArgs {
        associated_instance_type: Some(INSTANCE_TYPE_NETWORK_INTERFACE.to_owned()),
        associated_instance_id: Some(eni.to_owned()),
        ..DescribeEipArgs::default()
    }
}

/// The EIP associated with this ENI and private IP, among the EIPs described on the ENI.
fn find_on_ip(found: &[EipAddress], ip: Ipv4Addr) -> Option<EipView> {
    let ip = ip.to_string();
    found
        .iter()
        .filter(|e| e.private_ip_address == ip)
        .find_map(view)
}

/// The EIP associated with this ENI and private IP, if any.
pub async fn on_ip(cloud: &dyn Cloud, eni: &str, ip: Ipv4Addr) -> Result<Option<EipView>, Error> {
    let found = cloud
        .describe_eip_addresses(&on_eni_args(eni))
        .await
        .map_err(Error::cloud(format!("list EIPs on ENI {eni}")))?;
    Ok(find_on_ip(&found, ip))
}

/// What one shared DescribeEipAddresses call answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Query {
    /// Every EIP associated with this ENI.
    Eni(String),
    /// These EIPs, by allocation id (all the ids asked for meanwhile, in one call).
    Ids,
}

/// An answer shared by the callers of one call (`None`: the call failed).
type Shared = Option<Arc<Vec<EipAddress>>>;

#[derive(Debug, Default)]
struct Queue {
    /// A task is making this query's calls (it serves the queue until it is empty).
    running: bool,
    /// When the last call started.
    last_call: Option<Instant>,
    /// Callers waiting for the next call: the allocation id asked for, and the reply.
    waiting: Vec<(Option<String>, oneshot::Sender<Shared>)>,
}

#[derive(Debug)]
struct DescriberInner {
    cloud: Arc<dyn Cloud>,
    spacing: Duration,
    queues: Mutex<HashMap<Query, Queue>>,
}

/// Shares DescribeEipAddresses look-ups between concurrent reconciles.
///
/// A look-up is answered by a call that starts after it was asked, so the answer is as
/// fresh as a call of its own. Look-ups of the EIPs on one ENI share one call filtered by
/// that ENI; look-ups by allocation id share one call for all their ids. A look-up made
/// when no call of its kind started within the last `spacing` goes out at once; otherwise
/// it joins the next call, made when the one in flight has answered and `spacing` has
/// passed since it started, which serves every caller that queued meanwhile. So a lone
/// pod waits for nothing, and a burst of pods costs a call per `spacing` and ENI rather
/// than one per pod (DescribeEipAddresses has its own account-wide rate limit). When a
/// shared call fails, each of its callers asks alone and gets its own error. No lock is
/// held across a call.
#[derive(Debug, Clone)]
pub struct Describer {
    inner: Arc<DescriberInner>,
}

impl Describer {
    /// A describer calling `cloud`, starting calls of one kind at most once per `spacing`.
    pub fn new(cloud: Arc<dyn Cloud>, spacing: Duration) -> Self {
        Self {
            inner: Arc::new(DescriberInner {
                cloud,
                spacing,
                queues: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Describes one EIP (`None` when it does not exist).
    pub async fn eip(&self, id: &str) -> Result<Option<EipView>, Error> {
        match self.ask(Query::Ids, Some(id)).await {
            Some(found) => Ok(found.iter().find(|e| e.allocation_id == id).and_then(view)),
            None => describe(self.inner.cloud.as_ref(), id).await,
        }
    }

    /// The EIP associated with this ENI and private IP, if any.
    pub async fn on_ip(&self, eni: &str, ip: Ipv4Addr) -> Result<Option<EipView>, Error> {
        match self.ask(Query::Eni(eni.to_owned()), None).await {
            Some(found) => Ok(find_on_ip(&found, ip)),
            None => on_ip(self.inner.cloud.as_ref(), eni, ip).await,
        }
    }

    async fn ask(&self, query: Query, id: Option<&str>) -> Shared {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut queues = lock(&self.inner.queues);
            let q = queues.entry(query.clone()).or_default();
            q.waiting.push((id.map(str::to_owned), tx));
            !mem::replace(&mut q.running, true)
        };
        if start {
            tokio::spawn(Self::serve(self.inner.clone(), query));
        }
        rx.await.ok().flatten()
    }

    /// Makes calls for `query` until nobody waits for one.
    async fn serve(inner: Arc<DescriberInner>, query: Query) {
        loop {
            let not_before = lock(&inner.queues)
                .get(&query)
                .and_then(|q| q.last_call)
                .map(|t| t + inner.spacing);
            if let Some(t) = not_before {
                tokio::time::sleep_until(t).await;
            }
            let batch = {
                let mut queues = lock(&inner.queues);
                let q = queues.entry(query.clone()).or_default();
                if q.waiting.is_empty() {
                    q.running = false;
                    return;
                }
                q.last_call = Some(Instant::now());
                mem::take(&mut q.waiting)
            };
            let args = match &query {
                Query::Eni(eni) => on_eni_args(eni),
                Query::Ids => {
                    let mut ids: Vec<&str> =
                        batch.iter().filter_map(|(i, _)| i.as_deref()).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    DescribeEipArgs::by_ids(ids)
                }
            };
            let answer = inner
                .cloud
                .describe_eip_addresses(&args)
                .await
                .map_err(|e| {
                    tracing::debug!(error = %e, "shared describe failed; its callers ask alone");
                })
                .ok()
                .map(Arc::new);
            for (_, reply) in batch {
                // A caller that went away is simply skipped.
                let _ = reply.send(answer.clone());
            }
        }
    }
}

/// The ENI carrying `ip`: the metadata service first, DescribeNetworkInterfaces otherwise.
pub async fn find_eni(
    cloud: &dyn Cloud,
    metadata: Option<&MetadataClient>,
    instance_id: Option<&str>,
    ip: Ipv4Addr,
) -> Result<Option<String>, Error> {
    let ip_s = ip.to_string();
    if let Some(md) = metadata
        && let Ok(macs) = md.macs().await
    {
        for mac in macs {
            if let Ok(ips) = md.eni_private_ipv4s(&mac).await
                && ips.iter().any(|i| i == &ip_s)
                && let Ok(eni) = md.eni_id(&mac).await
            {
                return Ok(Some(eni));
            }
        }
    }
    let args = DescribeNetworkInterfacesArgs {
        private_ip_addresses: vec![ip_s.clone()],
        instance_id: instance_id.map(str::to_owned),
        ..DescribeNetworkInterfacesArgs::default()
    };
    let found = cloud
        .describe_network_interfaces(&args)
        .await
        .map_err(Error::cloud(format!("find the ENI of {ip}")))?;
    Ok(found
        .into_iter()
        .find(|n| {
            n.private_ip_address == ip_s
                || n.private_ip_sets
                    .private_ip_set
                    .iter()
                    .any(|s| s.private_ip_address == ip_s)
        })
        .map(|n| n.network_interface_id))
}

/// Who an allocated EIP belongs to (its ownership tags).
#[derive(Debug, Clone)]
pub struct Owner<'a> {
    /// Cluster id.
    pub cluster_id: &'a str,
    /// Pod namespace.
    pub namespace: &'a str,
    /// Pod name.
    pub pod_name: &'a str,
    /// Pod UID.
    pub pod_uid: &'a str,
    /// Node.
    pub node: &'a str,
}

/// The idempotency token of one allocation: derived from the pod UID and the record's UID
/// (a new record, e.g. after the annotation was removed and added again, allocates anew).
pub fn client_token(pod_uid: &str, record_uid: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("kube-eip/{pod_uid}/{record_uid}").as_bytes(),
    )
    .to_string()
}

/// AllocateEipAddress arguments for a request.
pub fn allocate_args(req: &EipRequest, owner: &Owner<'_>, token: String) -> AllocateEipArgs {
    let mut tags = vec![
        Tag::new(names::TAG_CLUSTER_ID, owner.cluster_id),
        Tag::new(names::TAG_NAMESPACE, owner.namespace),
        Tag::new(names::TAG_POD_NAME, owner.pod_name),
        Tag::new(names::TAG_POD_UID, owner.pod_uid),
        Tag::new(names::TAG_NODE, owner.node),
    ];
    tags.extend(req.tags.iter().map(|(k, v)| Tag::new(k, v)));
    AllocateEipArgs {
        bandwidth: Some(req.bandwidth_mbps),
        internet_charge_type: Some(req.internet_charge_type.as_str().to_owned()),
        instance_charge_type: Some(req.instance_charge_type.as_str().to_owned()),
        isp: Some(req.isp.as_str().to_owned()),
        name: req.name.clone(),
        description: req.description.clone(),
        resource_group_id: req.resource_group_id.clone(),
        public_ip_address_pool_id: req.public_ip_address_pool_id.clone(),
        client_token: Some(token),
        tags,
        ..AllocateEipArgs::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_args_carry_every_setting_and_the_ownership_tags() {
        let mut req = EipRequest::allocate_default();
        req.bandwidth_mbps = 7;
        req.public_ip_address_pool_id = Some("pippool-1".into());
        req.tags.insert("team".into(), "games".into());
        let owner = Owner {
            cluster_id: "c1",
            namespace: "ns",
            pod_name: "web-0",
            pod_uid: "u1",
            node: "n1",
        };
        let a = allocate_args(&req, &owner, client_token("u1", "r1"));
        assert_eq!(a.bandwidth, Some(7));
        assert_eq!(a.internet_charge_type.as_deref(), Some("PayByTraffic"));
        assert_eq!(a.public_ip_address_pool_id.as_deref(), Some("pippool-1"));
        let keys: Vec<&str> = a.tags.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(&keys[..5], &names::OWNERSHIP_TAG_KEYS[..]);
        assert!(a.tags.iter().any(|t| t.key == "team" && t.value == "games"));
        // Same pod and record: same token; another record: another token.
        assert_eq!(client_token("u1", "r1"), client_token("u1", "r1"));
        assert_ne!(client_token("u1", "r1"), client_token("u1", "r2"));
        assert!(a.client_token.is_some_and(|t| t.len() <= 64));
    }

    /// A cloud emulator with one instance, six pod IPs on it and EIPs on the first three;
    /// every DescribeEipAddresses takes 100 ms. Returns the emulator (keep it alive), a
    /// client, the pod IPs and the EIPs on them.
    async fn six_pod_ips_three_with_eips() -> anyhow::Result<(
        eip_cloudsim::RunningSim,
        Arc<dyn Cloud>,
        Vec<eip_cloudsim::PodIp>,
        Vec<String>,
    )> {
        use eip_cloudsim::{CloudSim, Delays, FaultEffect, FaultRule, InstanceConfig, SimConfig};
        let sim = CloudSim::start(SimConfig {
            delays: Delays {
                associate_ms: 0,
                unassociate_ms: 0,
                release_ms: 0,
            },
            seed: Some(3),
            ..SimConfig::default()
        })
        .await?;
        let admin = sim.admin();
        let instance = admin.add_instance(InstanceConfig::default())?;
        let mut ips = Vec::new();
        for _ in 0..6 {
            ips.push(
                admin
                    .assign_pod_ip(&instance)?
                    .ok_or_else(|| anyhow::anyhow!("no pod IP left"))?,
            );
        }
        let cloud: Arc<dyn Cloud> = Arc::new(
            eip_cloud::AliyunClient::builder()
                .region("cn-hangzhou")
                .endpoint(sim.url())
                .credentials(eip_cloud::credentials::Credentials::new(
                    "testid",
                    "testsecret",
                ))
                .build()?,
        );
        let mut eips = Vec::new();
        for (i, ip) in ips.iter().take(3).enumerate() {
            let uid = format!("u{i}");
            let owner = Owner {
                cluster_id: "c1",
                namespace: "ns",
                pod_name: "p",
                pod_uid: &uid,
                node: "n1",
            };
            let token = client_token(&uid, "r");
            let id = cloud
                .allocate_eip_address(&allocate_args(
                    &EipRequest::allocate_default(),
                    &owner,
                    token,
                ))
                .await?
                .allocation_id;
            cloud
                .associate_eip_address(&eip_cloud::args::AssociateEipArgs::to_eni(
                    &id,
                    &ip.eni_id,
                    ip.ip.to_string(),
                ))
                .await?;
            eips.push(id);
        }
        admin.add_fault(FaultRule {
            action: "DescribeEipAddresses".into(),
            effect: FaultEffect::Latency { ms: 100 },
            rate: 1.0,
            times: None,
        });
        admin.reset_calls();
        Ok((sim, cloud, ips, eips))
    }

    // One thread: the look-ups below are all asked before any call starts.
    #[tokio::test]
    async fn concurrent_look_ups_share_calls_and_each_gets_its_own_answer() -> anyhow::Result<()> {
        tokio::time::timeout(Duration::from_secs(20), async {
            let (sim, cloud, ips, eips) = six_pod_ips_three_with_eips().await?;
            let d = Describer::new(cloud, Duration::from_millis(10));
            let on_ips =
                futures::future::try_join_all(ips.iter().map(|p| d.on_ip(&p.eni_id, p.ip)));
            let mut ids = eips.clone();
            ids.push("eip-missing".into());
            let by_id = futures::future::try_join_all(ids.iter().map(|id| d.eip(id)));
            let (on_ips, by_id) = futures::future::try_join(on_ips, by_id).await?;
            for (i, found) in on_ips.iter().enumerate() {
                assert_eq!(found.as_ref().map(|e| &e.id), eips.get(i), "pod IP {i}");
            }
            for (i, found) in by_id.iter().enumerate() {
                assert_eq!(found.as_ref().map(|e| &e.id), eips.get(i), "look-up {i}");
            }
            let enis: std::collections::BTreeSet<&str> =
                ips.iter().map(|p| p.eni_id.as_str()).collect();
            // Asked together: one call per ENI and one for all the ids, not ten calls.
            assert_eq!(
                sim.admin().call_count("DescribeEipAddresses"),
                enis.len() as u64 + 1
            );

            // A look-up asked while a call is in flight waits for the next call (it must
            // see the cloud as it is after it was asked), which serves everyone queued.
            sim.admin().reset_calls();
            let first = d.eip(&eips[0]);
            let later = async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                futures::future::try_join_all(eips.iter().map(|id| d.eip(id))).await
            };
            let (first, later) = futures::future::try_join(first, later).await?;
            assert!(first.is_some() && later.iter().all(Option::is_some));
            assert_eq!(sim.admin().call_count("DescribeEipAddresses"), 2);
            Ok(())
        })
        .await?
    }

    // One thread: the look-ups below are all asked before any call starts.
    #[tokio::test]
    async fn callers_of_a_failed_shared_call_ask_alone() -> anyhow::Result<()> {
        tokio::time::timeout(Duration::from_secs(20), async {
            let (sim, cloud, _ips, eips) = six_pod_ips_three_with_eips().await?;
            sim.admin().clear_faults();
            sim.admin().add_fault(eip_cloudsim::FaultRule {
                action: "DescribeEipAddresses".into(),
                effect: eip_cloudsim::FaultEffect::Error {
                    code: "Forbidden.RAM".into(),
                    status: 403,
                    message: None,
                },
                rate: 1.0,
                times: Some(1),
            });
            let d = Describer::new(cloud, Duration::ZERO);
            let found = futures::future::try_join_all(eips.iter().map(|id| d.eip(id))).await?;
            for (i, e) in found.iter().enumerate() {
                assert_eq!(e.as_ref().map(|e| &e.id), eips.get(i));
            }
            // One shared call failed; its three callers then asked alone.
            assert_eq!(sim.admin().call_count("DescribeEipAddresses"), 4);
            Ok(())
        })
        .await?
    }

    #[test]
    fn every_cloud_status_is_understood() {
        for (s, want) in [
            ("Available", EipStatus::Available),
            ("InUse", EipStatus::InUse),
            ("Associating", EipStatus::Associating),
            ("Unassociating", EipStatus::Unassociating),
            ("Releasing", EipStatus::Releasing),
        ] {
            assert_eq!(state(s), Some(want));
        }
        assert_eq!(state("Frozen"), None);
    }
}
