//! Typed request arguments of the [`Cloud`](crate::Cloud) operations and their flattening
//! into the RPC query parameters the service expects: lists with 1-based indexes
//! (`Tag.1.Key`, `ResourceId.2`), booleans as `true`/`false`, comma-separated lists where
//! the API wants them (`AllocationId=a,b`), JSON arrays where ECS wants them
//! (`InstanceIds=["i-1"]`). `RegionId` is added by the client, not here.

/// Flat RPC parameters in insertion order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `name=value`.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.push((name.into(), value.into()));
        self
    }

    /// Adds `name=value` when `value` is `Some`.
    pub fn push_opt(&mut self, name: &str, value: Option<impl ToString>) -> &mut Self {
        if let Some(v) = value {
            self.0.push((name.to_owned(), v.to_string()));
        }
        self
    }

    /// Adds a boolean as `true`/`false`.
    pub fn push_bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.push(name, if value { "true" } else { "false" })
    }

    /// Adds `prefix.1=a&prefix.2=b...`.
    pub fn push_list<S: AsRef<str>>(&mut self, prefix: &str, items: &[S]) -> &mut Self {
        for (i, item) in items.iter().enumerate() {
            self.0
                .push((format!("{prefix}.{}", i + 1), item.as_ref().to_owned()));
        }
        self
    }

    /// Adds `Tag.N.Key` / `Tag.N.Value` for each tag.
    pub fn push_tags(&mut self, tags: &[Tag]) -> &mut Self {
        for (i, tag) in tags.iter().enumerate() {
            let n = i + 1;
            self.0.push((format!("Tag.{n}.Key"), tag.key.clone()));
            self.0.push((format!("Tag.{n}.Value"), tag.value.clone()));
        }
        self
    }

    /// The value of the first parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs.
    pub fn as_slice(&self) -> &[(String, String)] {
        &self.0
    }

    /// The pairs, owned.
    pub fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }
}

/// A resource tag (VPC `Tag.N.Key` / `Tag.N.Value`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Tag {
    /// Key (non-empty, <=128, not starting with `aliyun` or `acs:`).
    pub key: String,
    /// Value (may be empty).
    pub value: String,
}

impl Tag {
    /// A tag.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// AllocateEipAddress arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllocateEipArgs {
    /// Peak bandwidth, Mbit/s (service default 5).
    pub bandwidth: Option<u32>,
    /// `PayByTraffic` or `PayByBandwidth`.
    pub internet_charge_type: Option<String>,
    /// `PostPaid` or `PrePaid`.
    pub instance_charge_type: Option<String>,
    /// `BGP`, `BGP_PRO`, ...
    pub isp: Option<String>,
    /// `public`.
    pub netmode: Option<String>,
    /// Name (<=128).
    pub name: Option<String>,
    /// Description (<=256).
    pub description: Option<String>,
    /// Resource group.
    pub resource_group_id: Option<String>,
    /// IP address pool.
    pub public_ip_address_pool_id: Option<String>,
    /// Zone.
    pub zone: Option<String>,
    /// Idempotency token (ASCII, <=64): the same token and parameters return the same EIP.
    pub client_token: Option<String>,
    /// Tags (<=20).
    pub tags: Vec<Tag>,
}

impl AllocateEipArgs {
    /// The RPC parameters.
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("Bandwidth", self.bandwidth)
            .push_opt("InternetChargeType", self.internet_charge_type.as_ref())
            .push_opt("InstanceChargeType", self.instance_charge_type.as_ref())
            .push_opt("ISP", self.isp.as_ref())
            .push_opt("Netmode", self.netmode.as_ref())
            .push_opt("Name", self.name.as_ref())
            .push_opt("Description", self.description.as_ref())
            .push_opt("ResourceGroupId", self.resource_group_id.as_ref())
            .push_opt(
                "PublicIpAddressPoolId",
                self.public_ip_address_pool_id.as_ref(),
            )
            .push_opt("Zone", self.zone.as_ref())
            .push_opt("ClientToken", self.client_token.as_ref())
            .push_tags(&self.tags);
        p
    }
}

/// The `InstanceType` of an association to an ENI private IP.
pub const INSTANCE_TYPE_NETWORK_INTERFACE: &str = "NetworkInterface";

/// AssociateEipAddress arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssociateEipArgs {
    /// `eip-...`.
    pub allocation_id: String,
    /// The target (an ENI id for NetworkInterface).
    pub instance_id: String,
    /// `EcsInstance` (service default), `NetworkInterface`, ...
    pub instance_type: Option<String>,
    /// The ENI private IP (NetworkInterface).
    pub private_ip_address: Option<String>,
    /// `NAT` (default), `MULTI_BINDED`, `BINDED`.
    pub mode: Option<String>,
    /// VPC (required for `IpAddress`).
    pub vpc_id: Option<String>,
    /// Idempotency token.
    pub client_token: Option<String>,
}

impl AssociateEipArgs {
    /// Associate `allocation_id` with `private_ip` on ENI `eni_id` (NAT mode).
    pub fn to_eni(
        allocation_id: impl Into<String>,
        eni_id: impl Into<String>,
        private_ip: impl Into<String>,
    ) -> Self {
        Self {
            allocation_id: allocation_id.into(),
            instance_id: eni_id.into(),
            instance_type: Some(INSTANCE_TYPE_NETWORK_INTERFACE.to_owned()),
            private_ip_address: Some(private_ip.into()),
            ..Self::default()
        }
    }

    /// The RPC parameters.
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("AllocationId", &self.allocation_id)
            .push("InstanceId", &self.instance_id)
            .push_opt("InstanceType", self.instance_type.as_ref())
            .push_opt("PrivateIpAddress", self.private_ip_address.as_ref())
            .push_opt("Mode", self.mode.as_ref())
            .push_opt("VpcId", self.vpc_id.as_ref())
            .push_opt("ClientToken", self.client_token.as_ref());
        p
    }
}

/// UnassociateEipAddress arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnassociateEipArgs {
    /// `eip-...`.
    pub allocation_id: String,
    /// The associated instance (optional: unbind from whatever it is on).
    pub instance_id: Option<String>,
    /// Its type.
    pub instance_type: Option<String>,
    /// The private IP.
    pub private_ip_address: Option<String>,
    /// Force (NAT gateway with entries).
    pub force: bool,
    /// Idempotency token.
    pub client_token: Option<String>,
}

impl UnassociateEipArgs {
    /// Unassociate `allocation_id` from `private_ip` on ENI `eni_id`.
    pub fn from_eni(
        allocation_id: impl Into<String>,
        eni_id: impl Into<String>,
        private_ip: impl Into<String>,
    ) -> Self {
        Self {
            allocation_id: allocation_id.into(),
            instance_id: Some(eni_id.into()),
            instance_type: Some(INSTANCE_TYPE_NETWORK_INTERFACE.to_owned()),
            private_ip_address: Some(private_ip.into()),
            ..Self::default()
        }
    }

    /// The RPC parameters.
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("AllocationId", &self.allocation_id)
            .push_opt("InstanceId", self.instance_id.as_ref())
            .push_opt("InstanceType", self.instance_type.as_ref())
            .push_opt("PrivateIpAddress", self.private_ip_address.as_ref());
        if self.force {
            p.push_bool("Force", true);
        }
        p.push_opt("ClientToken", self.client_token.as_ref());
        p
    }
}

/// ModifyEipAddressAttribute arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyEipArgs {
    /// `eip-...`.
    pub allocation_id: String,
    /// New bandwidth, Mbit/s.
    pub bandwidth: Option<u32>,
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
}

impl ModifyEipArgs {
    /// The RPC parameters.
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("AllocationId", &self.allocation_id)
            .push_opt("Bandwidth", self.bandwidth)
            .push_opt("Name", self.name.as_ref())
            .push_opt("Description", self.description.as_ref());
        p
    }
}

/// DescribeEipAddresses filters. The client batches `allocation_ids` and `eip_addresses`
/// by 50 per call and follows pages to the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeEipArgs {
    /// `eip-...` ids (any number; sent 50 at a time).
    pub allocation_ids: Vec<String>,
    /// Public IPs (any number; sent 50 at a time).
    pub eip_addresses: Vec<String>,
    /// Name.
    pub eip_name: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Associated instance type.
    pub associated_instance_type: Option<String>,
    /// Associated instance id.
    pub associated_instance_id: Option<String>,
    /// `PostPaid` or `PrePaid`.
    pub charge_type: Option<String>,
    /// ISP.
    pub isp: Option<String>,
    /// Resource group.
    pub resource_group_id: Option<String>,
    /// Tags (all must match).
    pub tags: Vec<Tag>,
    /// Page size (default 100, the maximum).
    pub page_size: Option<u32>,
}

impl DescribeEipArgs {
    /// Filter by allocation ids.
    pub fn by_ids<S: Into<String>>(ids: impl IntoIterator<Item = S>) -> Self {
        Self {
            allocation_ids: ids.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The RPC parameters of one page, for a batch of ids (already at most 50).
    pub fn to_params(&self, allocation_ids: &[String], eip_addresses: &[String]) -> Params {
        let mut p = Params::new();
        if !allocation_ids.is_empty() {
            p.push("AllocationId", allocation_ids.join(","));
        }
        if !eip_addresses.is_empty() {
            p.push("EipAddress", eip_addresses.join(","));
        }
        p.push_opt("EipName", self.eip_name.as_ref())
            .push_opt("Status", self.status.as_ref())
            .push_opt(
                "AssociatedInstanceType",
                self.associated_instance_type.as_ref(),
            )
            .push_opt("AssociatedInstanceId", self.associated_instance_id.as_ref())
            .push_opt("ChargeType", self.charge_type.as_ref())
            .push_opt("ISP", self.isp.as_ref())
            .push_opt("ResourceGroupId", self.resource_group_id.as_ref())
            .push_tags(&self.tags);
        p
    }
}

/// The `ResourceType` of EIPs in the tag APIs.
pub const RESOURCE_TYPE_EIP: &str = "EIP";

/// TagResources arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagResourcesArgs {
    /// `EIP` when empty.
    pub resource_type: String,
    /// Resource ids (<=50).
    pub resource_ids: Vec<String>,
    /// Tags (1..=20).
    pub tags: Vec<Tag>,
}

impl TagResourcesArgs {
    /// The RPC parameters.
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("ResourceType", resource_type_or_eip(&self.resource_type))
            .push_list("ResourceId", &self.resource_ids)
            .push_tags(&self.tags);
        p
    }
}

/// ListTagResources arguments (at least one of ids and tags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTagResourcesArgs {
    /// `EIP` when empty.
    pub resource_type: String,
    /// Resource ids (<=50).
    pub resource_ids: Vec<String>,
    /// Tags to match.
    pub tags: Vec<Tag>,
}

impl ListTagResourcesArgs {
    /// The RPC parameters of one page.
    pub fn to_params(&self, next_token: Option<&str>) -> Params {
        let mut p = Params::new();
        p.push("ResourceType", resource_type_or_eip(&self.resource_type))
            .push_list("ResourceId", &self.resource_ids)
            .push_tags(&self.tags)
            .push("MaxResults", "50")
            .push_opt("NextToken", next_token.filter(|t| !t.is_empty()));
        p
    }
}

fn resource_type_or_eip(t: &str) -> &str {
    if t.is_empty() { RESOURCE_TYPE_EIP } else { t }
}

/// AddCommonBandwidthPackageIp / RemoveCommonBandwidthPackageIp arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BandwidthPackageIpArgs {
    /// `cbwp-...`.
    pub bandwidth_package_id: String,
    /// The EIP's allocation id.
    pub ip_instance_id: String,
    /// Idempotency token.
    pub client_token: Option<String>,
}

impl BandwidthPackageIpArgs {
    /// The RPC parameters.
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("BandwidthPackageId", &self.bandwidth_package_id)
            .push("IpInstanceId", &self.ip_instance_id)
            .push_opt("ClientToken", self.client_token.as_ref());
        p
    }
}

/// DescribeVSwitches filters (pages of 50 followed to the end).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeVSwitchesArgs {
    /// VPC.
    pub vpc_id: Option<String>,
    /// vSwitch.
    pub vswitch_id: Option<String>,
    /// Zone.
    pub zone_id: Option<String>,
    /// Name.
    pub vswitch_name: Option<String>,
    /// Default vSwitches only.
    pub is_default: Option<bool>,
}

impl DescribeVSwitchesArgs {
    /// The RPC parameters of one page.
    pub fn to_params(&self, page_number: u32) -> Params {
        let mut p = Params::new();
        p.push_opt("VpcId", self.vpc_id.as_ref())
            .push_opt("VSwitchId", self.vswitch_id.as_ref())
            .push_opt("ZoneId", self.zone_id.as_ref())
            .push_opt("VSwitchName", self.vswitch_name.as_ref());
        if let Some(d) = self.is_default {
            p.push_bool("IsDefault", d);
        }
        p.push("PageNumber", page_number.to_string())
            .push("PageSize", "50");
        p
    }
}

/// DescribeCommonBandwidthPackages filters (pages followed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeBandwidthPackagesArgs {
    /// `cbwp-...`: only this one.
    pub bandwidth_package_id: Option<String>,
}

impl DescribeBandwidthPackagesArgs {
    /// The RPC parameters of one page (50 a page, the API's maximum).
    pub fn to_params(&self, page_number: u32) -> Params {
        let mut p = Params::new();
        p.push_opt("BandwidthPackageId", self.bandwidth_package_id.as_ref());
        p.push("PageNumber", page_number.to_string())
            .push("PageSize", "50");
        p
    }
}

/// DescribeNetworkInterfaces filters (ids sent 100 at a time, pages followed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeNetworkInterfacesArgs {
    /// `eni-...` ids.
    pub network_interface_ids: Vec<String>,
    /// Secondary private IPs (<=100).
    pub private_ip_addresses: Vec<String>,
    /// Primary IP.
    pub primary_ip_address: Option<String>,
    /// Instance.
    pub instance_id: Option<String>,
    /// vSwitch.
    pub vswitch_id: Option<String>,
    /// VPC.
    pub vpc_id: Option<String>,
    /// `Primary` or `Secondary`.
    pub r#type: Option<String>,
    /// Status.
    pub status: Option<String>,
}

impl DescribeNetworkInterfacesArgs {
    /// The RPC parameters of one page for a batch of ids (already at most 100).
    pub fn to_params(&self, ids: &[String], next_token: Option<&str>) -> Params {
        let mut p = Params::new();
        p.push_list("NetworkInterfaceId", ids)
            .push_list("PrivateIpAddress", &self.private_ip_addresses)
            .push_opt("PrimaryIpAddress", self.primary_ip_address.as_ref())
            .push_opt("InstanceId", self.instance_id.as_ref())
            .push_opt("VSwitchId", self.vswitch_id.as_ref())
            .push_opt("VpcId", self.vpc_id.as_ref())
            .push_opt("Type", self.r#type.as_ref())
            .push_opt("Status", self.status.as_ref())
            .push("MaxResults", "100")
            .push_opt("NextToken", next_token.filter(|t| !t.is_empty()));
        p
    }
}

/// DescribeInstanceTypes filters (types sent 10 at a time, pages followed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeInstanceTypesArgs {
    /// `ecs.g7.large`, ...
    pub instance_types: Vec<String>,
    /// Family.
    pub instance_type_family: Option<String>,
}

impl DescribeInstanceTypesArgs {
    /// The RPC parameters of one page for a batch of types (already at most 10).
    pub fn to_params(&self, types: &[String], next_token: Option<&str>) -> Params {
        let mut p = Params::new();
        p.push_list("InstanceTypes", types)
            .push_opt("InstanceTypeFamily", self.instance_type_family.as_ref())
            .push_opt("NextToken", next_token.filter(|t| !t.is_empty()));
        p
    }
}

/// DescribeInstances filters (ids sent 100 at a time as a JSON array, pages followed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeInstancesArgs {
    /// `i-...` ids.
    pub instance_ids: Vec<String>,
    /// VPC.
    pub vpc_id: Option<String>,
    /// vSwitch.
    pub vswitch_id: Option<String>,
    /// Zone.
    pub zone_id: Option<String>,
    /// Status.
    pub status: Option<String>,
}

impl DescribeInstancesArgs {
    /// The RPC parameters of one page for a batch of ids (already at most 100).
    pub fn to_params(&self, ids: &[String], next_token: Option<&str>) -> Params {
        let mut p = Params::new();
        if !ids.is_empty() {
            // A JSON array of strings cannot fail to serialize.
            p.push(
                "InstanceIds",
                serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned()),
            );
        }
        p.push_opt("VpcId", self.vpc_id.as_ref())
            .push_opt("VSwitchId", self.vswitch_id.as_ref())
            .push_opt("ZoneId", self.zone_id.as_ref())
            .push_opt("Status", self.status.as_ref())
            .push("MaxResults", "100")
            .push_opt("NextToken", next_token.filter(|t| !t.is_empty()));
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &Params) -> Vec<(&str, &str)> {
        p.as_slice()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn allocate_flattens_tags_with_one_based_indexes() {
        let args = AllocateEipArgs {
            bandwidth: Some(5),
            internet_charge_type: Some("PayByTraffic".into()),
            isp: Some("BGP".into()),
            client_token: Some("tok-1".into()),
            name: Some("my eip/1".into()),
            tags: vec![Tag::new("k8s", "a b"), Tag::new("owner", "")],
            ..AllocateEipArgs::default()
        };
        assert_eq!(
            pairs(&args.to_params()),
            vec![
                ("Bandwidth", "5"),
                ("InternetChargeType", "PayByTraffic"),
                ("ISP", "BGP"),
                ("Name", "my eip/1"),
                ("ClientToken", "tok-1"),
                ("Tag.1.Key", "k8s"),
                ("Tag.1.Value", "a b"),
                ("Tag.2.Key", "owner"),
                ("Tag.2.Value", ""),
            ]
        );
        assert!(AllocateEipArgs::default().to_params().as_slice().is_empty());
    }

    #[test]
    fn booleans_are_lower_case_and_lists_indexed() {
        let un = UnassociateEipArgs {
            force: true,
            ..UnassociateEipArgs::from_eni("eip-1", "eni-1", "10.0.0.5")
        };
        assert_eq!(un.to_params().get("Force"), Some("true"));
        assert_eq!(
            UnassociateEipArgs::from_eni("eip-1", "eni-1", "10.0.0.5")
                .to_params()
                .get("Force"),
            None
        );
        let vsw = DescribeVSwitchesArgs {
            is_default: Some(false),
            ..Default::default()
        };
        let p = vsw.to_params(2);
        assert_eq!(p.get("IsDefault"), Some("false"));
        assert_eq!(p.get("PageNumber"), Some("2"));
        let eni = DescribeNetworkInterfacesArgs {
            private_ip_addresses: vec!["10.0.0.5".into()],
            ..Default::default()
        };
        let p = eni.to_params(&["eni-1".into(), "eni-2".into()], Some("t"));
        assert_eq!(
            pairs(&p)[..4],
            [
                ("NetworkInterfaceId.1", "eni-1"),
                ("NetworkInterfaceId.2", "eni-2"),
                ("PrivateIpAddress.1", "10.0.0.5"),
                ("MaxResults", "100"),
            ]
        );
        assert_eq!(p.get("NextToken"), Some("t"));
        assert_eq!(eni.to_params(&[], Some("")).get("NextToken"), None);
    }

    #[test]
    fn describe_and_tag_parameters() {
        let d = DescribeEipArgs::by_ids(["eip-1", "eip-2"]);
        let p = d.to_params(&d.allocation_ids, &[]);
        assert_eq!(p.get("AllocationId"), Some("eip-1,eip-2"));
        assert_eq!(p.get("EipAddress"), None);
        let t = TagResourcesArgs {
            resource_ids: vec!["eip-1".into()],
            tags: vec![Tag::new("a", "b")],
            ..Default::default()
        };
        assert_eq!(
            pairs(&t.to_params()),
            vec![
                ("ResourceType", "EIP"),
                ("ResourceId.1", "eip-1"),
                ("Tag.1.Key", "a"),
                ("Tag.1.Value", "b"),
            ]
        );
        let i = DescribeInstancesArgs::default();
        assert_eq!(
            i.to_params(&["i-1".into(), "i-2".into()], None)
                .get("InstanceIds"),
            Some(r#"["i-1","i-2"]"#)
        );
        let a = AssociateEipArgs::to_eni("eip-1", "eni-1", "10.0.0.5");
        assert_eq!(
            pairs(&a.to_params()),
            vec![
                ("AllocationId", "eip-1"),
                ("InstanceId", "eni-1"),
                ("InstanceType", "NetworkInterface"),
                ("PrivateIpAddress", "10.0.0.5"),
            ]
        );
    }
}
