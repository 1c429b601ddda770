//! Cloud look-ups and argument building for the controller: turns `eip-cloud` answers
//! into the state machine's views, and requests into `eip-cloud` arguments.

use std::net::Ipv4Addr;

use eip_cloud::Cloud;
use eip_cloud::args::{
    AllocateEipArgs, DescribeEipArgs, DescribeNetworkInterfacesArgs,
    INSTANCE_TYPE_NETWORK_INTERFACE, Tag,
};
use eip_cloud::metadata::MetadataClient;
use eip_cloud::model::{EipAddress, eip_status};
use eip_core::annotations::EipRequest;
use eip_core::names;

use crate::error::Error;
use crate::machine::{EipState, EipView};

/// Reads the cloud's EIP status (`None` for a status the agent does not know).
pub fn state(status: &str) -> Option<EipState> {
    match status {
        eip_status::AVAILABLE => Some(EipState::Available),
        eip_status::IN_USE => Some(EipState::InUse),
        eip_status::ASSOCIATING => Some(EipState::Associating),
        eip_status::UNASSOCIATING => Some(EipState::Unassociating),
        eip_status::RELEASING => Some(EipState::Releasing),
        _ => None,
    }
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

/// The EIP associated with this ENI and private IP, if any.
pub async fn on_ip(cloud: &dyn Cloud, eni: &str, ip: Ipv4Addr) -> Result<Option<EipView>, Error> {
    let args = DescribeEipArgs {
        associated_instance_type: Some(INSTANCE_TYPE_NETWORK_INTERFACE.to_owned()),
        associated_instance_id: Some(eni.to_owned()),
        ..DescribeEipArgs::default()
    };
    let found = cloud
        .describe_eip_addresses(&args)
        .await
        .map_err(Error::cloud(format!("list EIPs on ENI {eni}")))?;
    let ip = ip.to_string();
    Ok(found
        .iter()
        .filter(|e| e.private_ip_address == ip)
        .find_map(view))
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

    #[test]
    fn every_cloud_status_is_understood() {
        for (s, want) in [
            (eip_status::AVAILABLE, EipState::Available),
            (eip_status::IN_USE, EipState::InUse),
            (eip_status::ASSOCIATING, EipState::Associating),
            (eip_status::UNASSOCIATING, EipState::Unassociating),
            (eip_status::RELEASING, EipState::Releasing),
        ] {
            assert_eq!(state(s), Some(want));
        }
        assert_eq!(state("Frozen"), None);
    }
}
