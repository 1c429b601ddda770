//! Response bodies of the VPC (2016-04-28) and ECS (2014-05-26) operations kube-eip uses,
//! exactly as the service returns them: PascalCase keys, lists nested in a wrapper object
//! (`EipAddresses.EipAddress[]`), `Bandwidth` a string in VPC. Every type is
//! `Serialize + Deserialize` so the emulator can emit them and the client can parse them.
//! Parsing tolerates unknown and missing fields (every field has a default).
//!
//! Each type names the model of the official Python SDK it mirrors
//! (`alibabacloud_vpc20160428.models` / `alibabacloud_ecs20140526.models`).

use serde::{Deserialize, Serialize};

/// The status of an EIP, as `DescribeEipAddresses` reports it (`Status`): the one
/// vocabulary of the client, the emulator, the agent and the extender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EipStatus {
    /// Being associated (asynchronous).
    Associating,
    /// Being unassociated (asynchronous).
    Unassociating,
    /// Associated.
    InUse,
    /// Allocated, not associated.
    Available,
    /// Being released (asynchronous; then it disappears).
    Releasing,
}

impl EipStatus {
    /// Every status.
    pub const ALL: [EipStatus; 5] = [
        EipStatus::Associating,
        EipStatus::Unassociating,
        EipStatus::InUse,
        EipStatus::Available,
        EipStatus::Releasing,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EipStatus::Associating => "Associating",
            EipStatus::Unassociating => "Unassociating",
            EipStatus::InUse => "InUse",
            EipStatus::Available => "Available",
            EipStatus::Releasing => "Releasing",
        }
    }
}

impl std::fmt::Display for EipStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status the client does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown EIP status {0:?}")]
pub struct UnknownEipStatus(pub String);

impl std::str::FromStr for EipStatus {
    type Err = UnknownEipStatus;

    /// Parses a wire name (exact case, as the API writes it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EipStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownEipStatus(s.to_owned()))
    }
}

/// The error body of every failed call (4xx/5xx).
/// Mirrors the common error response of the Alibaba Cloud RPC gateway (`RequestId`,
/// `HostId`, `Code`, `Message`, `Recommend`), as read by `alibabacloud_tea_openapi`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ErrorBody {
    /// The request id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub request_id: String,
    /// The endpoint host that answered (`vpc.aliyuncs.com`).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub host_id: String,
    /// The error code (`InvalidAllocationId.NotFound`).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub code: String,
    /// The human-readable message.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub message: String,
    /// A troubleshooting URL.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub recommend: String,
}

/// A body carrying only the request id: the success response of AssociateEipAddress,
/// UnassociateEipAddress, ReleaseEipAddress, ModifyEipAddressAttribute, TagResources,
/// UnTagResources, AddCommonBandwidthPackageIp and RemoveCommonBandwidthPackageIp.
/// Mirrors `AssociateEipAddressResponseBody` and its siblings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestIdResponse {
    /// The request id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub request_id: String,
}

/// Mirrors `AllocateEipAddressResponseBody` (VPC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocateEipAddressResponse {
    /// The request id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub request_id: String,
    /// The new EIP's id (`eip-...`).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub allocation_id: String,
    /// The public IP (PostPaid only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eip_address: Option<String>,
    /// The resource group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group_id: Option<String>,
    /// The order id (PrePaid only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<i64>,
}

/// Mirrors `DescribeEipAddressesResponseBody` (VPC).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeEipAddressesResponse {
    /// The request id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub request_id: String,
    /// Matching EIPs across all pages.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub total_count: i64,
    /// This page (1-based).
    #[serde(deserialize_with = "crate::lenient::int")]
    pub page_number: i64,
    /// The page size.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub page_size: i64,
    /// The EIPs of this page.
    pub eip_addresses: EipAddresses,
}

/// Mirrors `DescribeEipAddressesResponseBodyEipAddresses`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EipAddresses {
    /// The EIPs.
    pub eip_address: Vec<EipAddress>,
}

/// One EIP. Mirrors `DescribeEipAddressesResponseBodyEipAddressesEipAddress`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EipAddress {
    /// `eip-...`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub allocation_id: String,
    /// The public IP.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub ip_address: String,
    /// One of [`EipStatus`]'s wire names (kept a string: a status unknown to this client still reads).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub status: String,
    /// The region.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub region_id: String,
    /// The associated instance (an ENI id for NetworkInterface), empty when none.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub instance_id: String,
    /// `EcsInstance`, `NetworkInterface`, ...
    #[serde(deserialize_with = "crate::lenient::string")]
    pub instance_type: String,
    /// The associated instance's region.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub instance_region_id: String,
    /// The private IP it is associated with (NetworkInterface).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub private_ip_address: String,
    /// `NAT`, `MULTI_BINDED` or `BINDED`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub mode: String,
    /// The VPC of the association.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub vpc_id: String,
    /// Peak bandwidth in Mbit/s, a string.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub bandwidth: String,
    /// The EIP's own bandwidth, a string.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub eip_bandwidth: String,
    /// Bandwidth of the common bandwidth package it is in, a string.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub bandwidth_package_bandwidth: String,
    /// The common bandwidth package it is in.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub bandwidth_package_id: String,
    /// The package type (`CommonBandwidthPackage`).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub bandwidth_package_type: String,
    /// `PostPaid` or `PrePaid`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub charge_type: String,
    /// `PayByBandwidth` or `PayByTraffic`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub internet_charge_type: String,
    /// `BGP`, `BGP_PRO`, ...
    #[serde(rename = "ISP")]
    #[serde(deserialize_with = "crate::lenient::string")]
    pub isp: String,
    /// `public`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub netmode: String,
    /// Name.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub name: String,
    /// Description.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub description: String,
    /// Allocation time, `YYYY-MM-DDThh:mm:ssZ`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub allocation_time: String,
    /// Expiry (PrePaid).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub expired_time: String,
    /// The resource group.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub resource_group_id: String,
    /// `Normal` or `FinancialLocked`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub business_status: String,
    /// Deletion protection.
    #[serde(deserialize_with = "crate::lenient::boolean")]
    pub deletion_protection: bool,
    /// Business type.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub biz_type: String,
    /// Fine-grained monitoring status.
    #[serde(rename = "HDMonitorStatus")]
    #[serde(deserialize_with = "crate::lenient::string")]
    pub hd_monitor_status: String,
    /// Whether reservation data exists.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub has_reservation_data: String,
    /// The IP address pool it came from.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub public_ip_address_pool_id: String,
    /// The segment (contiguous EIPs).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub segment_instance_id: String,
    /// Second-level monitoring.
    #[serde(deserialize_with = "crate::lenient::boolean")]
    pub second_limited: bool,
    /// Owner service id.
    #[serde(rename = "ServiceID")]
    #[serde(deserialize_with = "crate::lenient::int")]
    pub service_id: i64,
    /// 1 when managed by a service.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub service_managed: i64,
    /// The zone.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub zone: String,
    /// Tags (`Key`/`Value`).
    pub tags: VpcTags,
    /// Locks.
    pub operation_locks: OperationLocks,
    /// Anti-DDoS editions.
    pub security_protection_types: SecurityProtectionTypes,
    /// Renewal reservation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Reservation>,
}

/// Mirrors `...EipAddressTags` (VPC tags use `Key`/`Value`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VpcTags {
    /// The tags.
    pub tag: Vec<VpcTag>,
}

/// Mirrors `...EipAddressTagsTag` / `DescribeVSwitchesResponseBodyVSwitchesVSwitchTagsTag`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VpcTag {
    /// Key.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub key: String,
    /// Value.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub value: String,
}

/// Mirrors `...EipAddressOperationLocks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct OperationLocks {
    /// The locks.
    pub lock_reason: Vec<LockReason>,
}

/// Mirrors `...EipAddressOperationLocksLockReason`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LockReason {
    /// `financial` or `security`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub lock_reason: String,
}

/// Mirrors `...EipAddressSecurityProtectionTypes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecurityProtectionTypes {
    /// Edition names.
    pub security_protection_type: Vec<String>,
}

/// Mirrors `...EipAddressReservation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Reservation {
    /// When it takes effect.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub active_time: String,
    /// Bandwidth, a string.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub bandwidth: String,
    /// Charge type.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub internet_charge_type: String,
    /// Order type.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub order_type: String,
}

/// Mirrors `ListTagResourcesResponseBody` (VPC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListTagResourcesResponse {
    /// The request id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub request_id: String,
    /// Token of the next page; empty or absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// This page.
    pub tag_resources: TagResources,
}

/// Mirrors `ListTagResourcesResponseBodyTagResources`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TagResources {
    /// One entry per (resource, tag).
    pub tag_resource: Vec<TagResource>,
}

/// Mirrors `ListTagResourcesResponseBodyTagResourcesTagResource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TagResource {
    /// `eip-...`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub resource_id: String,
    /// `EIP` (the service answers in upper or lower case).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub resource_type: String,
    /// Tag key.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub tag_key: String,
    /// Tag value.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub tag_value: String,
}

/// Mirrors `DescribeCommonBandwidthPackagesResponseBody` (VPC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeCommonBandwidthPackagesResponse {
    /// The request id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub request_id: String,
    /// Total matches.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub total_count: i64,
    /// This page (1-based).
    #[serde(deserialize_with = "crate::lenient::int")]
    pub page_number: i64,
    /// Page size.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub page_size: i64,
    /// This page.
    pub common_bandwidth_packages: CommonBandwidthPackages,
}

/// Mirrors `DescribeCommonBandwidthPackagesResponseBodyCommonBandwidthPackages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CommonBandwidthPackages {
    /// The packages.
    pub common_bandwidth_package: Vec<CommonBandwidthPackage>,
}

/// Mirrors `DescribeCommonBandwidthPackagesResponseBodyCommonBandwidthPackagesCommonBandwidthPackage`
/// (the fields kube-eip reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CommonBandwidthPackage {
    /// `cbwp-...`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub bandwidth_package_id: String,
    /// `Available`, `Modifying`, ...
    #[serde(deserialize_with = "crate::lenient::string")]
    pub status: String,
    /// Peak bandwidth, Mbit/s (a string on the wire).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub bandwidth: String,
    /// Name.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub name: String,
    /// Line type.
    #[serde(rename = "ISP", deserialize_with = "crate::lenient::string")]
    pub isp: String,
    /// Region.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub region_id: String,
}

/// Mirrors `DescribeVSwitchesResponseBody` (VPC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeVSwitchesResponse {
    /// The request id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub request_id: String,
    /// Total matches.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub total_count: i64,
    /// This page (1-based).
    #[serde(deserialize_with = "crate::lenient::int")]
    pub page_number: i64,
    /// Page size.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub page_size: i64,
    /// This page.
    #[serde(rename = "VSwitches")]
    pub vswitches: VSwitches,
}

/// Mirrors `DescribeVSwitchesResponseBodyVSwitches`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VSwitches {
    /// The vSwitches.
    #[serde(rename = "VSwitch")]
    pub vswitch: Vec<VSwitch>,
}

/// Mirrors `DescribeVSwitchesResponseBodyVSwitchesVSwitch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VSwitch {
    /// `vsw-...`.
    #[serde(rename = "VSwitchId")]
    #[serde(deserialize_with = "crate::lenient::string")]
    pub vswitch_id: String,
    /// `vpc-...`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub vpc_id: String,
    /// Zone.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub zone_id: String,
    /// IPv4 CIDR.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub cidr_block: String,
    /// IPv6 CIDR.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub ipv6_cidr_block: String,
    /// IPv6 enabled.
    #[serde(deserialize_with = "crate::lenient::boolean")]
    pub enabled_ipv6: bool,
    /// Free private IPs.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub available_ip_address_count: i64,
    /// `Pending` or `Available`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub status: String,
    /// Name.
    #[serde(rename = "VSwitchName")]
    #[serde(deserialize_with = "crate::lenient::string")]
    pub vswitch_name: String,
    /// Description.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub description: String,
    /// Default vSwitch of the zone.
    #[serde(deserialize_with = "crate::lenient::boolean")]
    pub is_default: bool,
    /// Creation time.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub creation_time: String,
    /// Resource group.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub resource_group_id: String,
    /// Network ACL.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub network_acl_id: String,
    /// Owner account.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub owner_id: i64,
    /// Share type.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub share_type: String,
    /// Route table.
    pub route_table: RouteTable,
    /// Tags (`Key`/`Value`).
    pub tags: VpcTags,
}

/// Mirrors `DescribeVSwitchesResponseBodyVSwitchesVSwitchRouteTable`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RouteTable {
    /// Route table id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub route_table_id: String,
    /// `System` or `Custom`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub route_table_type: String,
}

/// Mirrors `DescribeNetworkInterfacesResponseBody` (ECS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeNetworkInterfacesResponse {
    /// The request id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub request_id: String,
    /// Total (not valid when `NextToken` is used).
    #[serde(deserialize_with = "crate::lenient::int")]
    pub total_count: i64,
    /// Page (deprecated).
    #[serde(deserialize_with = "crate::lenient::int")]
    pub page_number: i64,
    /// Page size (deprecated).
    #[serde(deserialize_with = "crate::lenient::int")]
    pub page_size: i64,
    /// Token of the next page; empty on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// This page.
    pub network_interface_sets: NetworkInterfaceSets,
}

/// Mirrors `DescribeNetworkInterfacesResponseBodyNetworkInterfaceSets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInterfaceSets {
    /// The ENIs.
    pub network_interface_set: Vec<NetworkInterfaceSet>,
}

/// One ENI. Mirrors `DescribeNetworkInterfacesResponseBodyNetworkInterfaceSetsNetworkInterfaceSet`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInterfaceSet {
    /// `eni-...`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub network_interface_id: String,
    /// `Available`, `Attaching`, `InUse`, `Detaching`, `Deleting`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub status: String,
    /// `Primary` or `Secondary`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub r#type: String,
    /// VPC.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub vpc_id: String,
    /// vSwitch.
    #[serde(rename = "VSwitchId")]
    #[serde(deserialize_with = "crate::lenient::string")]
    pub vswitch_id: String,
    /// Zone.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub zone_id: String,
    /// The primary private IP.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub private_ip_address: String,
    /// MAC address.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub mac_address: String,
    /// The instance it is attached to.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub instance_id: String,
    /// Name.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub network_interface_name: String,
    /// Description.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub description: String,
    /// Creation time.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub creation_time: String,
    /// Resource group.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub resource_group_id: String,
    /// Owner account (a string in ECS).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub owner_id: String,
    /// Owner service id.
    #[serde(rename = "ServiceID")]
    #[serde(deserialize_with = "crate::lenient::int")]
    pub service_id: i64,
    /// Managed by a service.
    #[serde(deserialize_with = "crate::lenient::boolean")]
    pub service_managed: bool,
    /// Queues.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub queue_number: i64,
    /// Traffic mode (`Standard`, `HighPerformance`).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub network_interface_traffic_mode: String,
    /// Delete with the instance.
    #[serde(deserialize_with = "crate::lenient::boolean")]
    pub delete_on_release: bool,
    /// Security groups.
    pub security_group_ids: SecurityGroupIds,
    /// All private IPs, primary included.
    pub private_ip_sets: PrivateIpSets,
    /// The EIP on the primary IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub associated_public_ip: Option<AssociatedPublicIp>,
    /// IPv6 addresses.
    pub ipv6_sets: Ipv6Sets,
    /// IPv4 prefixes.
    pub ipv4_prefix_sets: Ipv4PrefixSets,
    /// Attachment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
    /// Tags (`TagKey`/`TagValue`).
    pub tags: EcsTags,
}

/// Mirrors `...NetworkInterfaceSetSecurityGroupIds`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecurityGroupIds {
    /// `sg-...`.
    pub security_group_id: Vec<String>,
}

/// Mirrors `...NetworkInterfaceSetPrivateIpSets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PrivateIpSets {
    /// The IPs.
    pub private_ip_set: Vec<PrivateIpSet>,
}

/// Mirrors `...NetworkInterfaceSetPrivateIpSetsPrivateIpSet`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PrivateIpSet {
    /// The private IP.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub private_ip_address: String,
    /// Whether it is the ENI's primary IP.
    #[serde(deserialize_with = "crate::lenient::boolean")]
    pub primary: bool,
    /// DNS name.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub private_dns_name: String,
    /// The EIP on this IP, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub associated_public_ip: Option<AssociatedPublicIp>,
}

/// Mirrors `...AssociatedPublicIp` (ECS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AssociatedPublicIp {
    /// The public IP.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub public_ip_address: String,
    /// `eip-...`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub allocation_id: String,
}

/// Mirrors `...NetworkInterfaceSetIpv6Sets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipv6Sets {
    /// The addresses.
    pub ipv6_set: Vec<Ipv6Set>,
}

/// Mirrors `...NetworkInterfaceSetIpv6SetsIpv6Set`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipv6Set {
    /// The address.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub ipv6_address: String,
}

/// Mirrors `...NetworkInterfaceSetIpv4PrefixSets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipv4PrefixSets {
    /// The prefixes.
    pub ipv4_prefix_set: Vec<Ipv4PrefixSet>,
}

/// Mirrors `...NetworkInterfaceSetIpv4PrefixSetsIpv4PrefixSet`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipv4PrefixSet {
    /// The prefix.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub ipv4_prefix: String,
}

/// Mirrors `...NetworkInterfaceSetAttachment`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Attachment {
    /// Instance.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub instance_id: String,
    /// Device index.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub device_index: i64,
    /// Network card index.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub network_card_index: i64,
    /// Trunk ENI.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub trunk_network_interface_id: String,
}

/// ECS tags (`TagKey`/`TagValue`). Mirrors `...NetworkInterfaceSetTags` /
/// `DescribeInstancesResponseBodyInstancesInstanceTags`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EcsTags {
    /// The tags.
    pub tag: Vec<EcsTag>,
}

/// Mirrors `...TagsTag` (ECS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EcsTag {
    /// Key.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub tag_key: String,
    /// Value.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub tag_value: String,
}

/// Mirrors `DescribeInstanceTypesResponseBody` (ECS).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeInstanceTypesResponse {
    /// The request id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub request_id: String,
    /// Token of the next page; empty on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// This page.
    pub instance_types: InstanceTypes,
}

/// Mirrors `DescribeInstanceTypesResponseBodyInstanceTypes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceTypes {
    /// The types.
    pub instance_type: Vec<InstanceType>,
}

/// Mirrors `DescribeInstanceTypesResponseBodyInstanceTypesInstanceType`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceType {
    /// `ecs.g7.large`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub instance_type_id: String,
    /// Family (`ecs.g7`).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub instance_type_family: String,
    /// vCPUs.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub cpu_core_count: i64,
    /// Memory, GiB.
    #[serde(deserialize_with = "crate::lenient::float")]
    pub memory_size: f64,
    /// Maximum ENIs per instance.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub eni_quantity: i64,
    /// Maximum private IPv4 addresses per ENI.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub eni_private_ip_address_quantity: i64,
    /// Maximum IPv6 addresses per ENI.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub eni_ipv6_address_quantity: i64,
    /// Maximum ENIs including trunk members.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub eni_total_quantity: i64,
    /// Trunk ENIs supported.
    #[serde(deserialize_with = "crate::lenient::boolean")]
    pub eni_trunk_supported: bool,
}

/// Mirrors `DescribeInstancesResponseBody` (ECS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeInstancesResponse {
    /// The request id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub request_id: String,
    /// Total.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub total_count: i64,
    /// Page (deprecated).
    #[serde(deserialize_with = "crate::lenient::int")]
    pub page_number: i64,
    /// Page size (deprecated).
    #[serde(deserialize_with = "crate::lenient::int")]
    pub page_size: i64,
    /// Token of the next page; empty on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// This page.
    pub instances: Instances,
}

/// Mirrors `DescribeInstancesResponseBodyInstances`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Instances {
    /// The instances.
    pub instance: Vec<Instance>,
}

/// Mirrors `DescribeInstancesResponseBodyInstancesInstance` (the fields kube-eip reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Instance {
    /// `i-...`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub instance_id: String,
    /// Name.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub instance_name: String,
    /// `Pending`, `Running`, `Starting`, `Stopping`, `Stopped`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub status: String,
    /// `ecs.g7.large`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub instance_type: String,
    /// Region.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub region_id: String,
    /// Zone.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub zone_id: String,
    /// VPC placement.
    pub vpc_attributes: VpcAttributes,
    /// ENIs.
    pub network_interfaces: InstanceNetworkInterfaces,
    /// The EIP on the primary IP.
    pub eip_address: InstanceEipAddress,
    /// Classic public IPs.
    pub public_ip_address: IpAddressList,
    /// Tags (`TagKey`/`TagValue`).
    pub tags: EcsTags,
}

/// Mirrors `DescribeInstancesResponseBodyInstancesInstanceVpcAttributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VpcAttributes {
    /// VPC.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub vpc_id: String,
    /// vSwitch.
    #[serde(rename = "VSwitchId")]
    #[serde(deserialize_with = "crate::lenient::string")]
    pub vswitch_id: String,
    /// NAT IP.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub nat_ip_address: String,
    /// Private IPs.
    pub private_ip_address: IpAddressList,
}

/// A `{"IpAddress": [...]}` wrapper. Mirrors `...VpcAttributesPrivateIpAddress` /
/// `...InstancePublicIpAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpAddressList {
    /// The addresses.
    pub ip_address: Vec<String>,
}

/// Mirrors `DescribeInstancesResponseBodyInstancesInstanceNetworkInterfaces`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceNetworkInterfaces {
    /// The ENIs.
    pub network_interface: Vec<InstanceNetworkInterface>,
}

/// Mirrors `...InstanceNetworkInterfacesNetworkInterface`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceNetworkInterface {
    /// `eni-...`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub network_interface_id: String,
    /// `Primary` or `Secondary`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub r#type: String,
    /// MAC.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub mac_address: String,
    /// Primary IP.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub primary_ip_address: String,
    /// Private IPs.
    pub private_ip_sets: PrivateIpSets,
}

/// Mirrors `DescribeInstancesResponseBodyInstancesInstanceEipAddress` (`Bandwidth` is an
/// integer here, unlike VPC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceEipAddress {
    /// `eip-...`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub allocation_id: String,
    /// Public IP.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub ip_address: String,
    /// Mbit/s.
    #[serde(deserialize_with = "crate::lenient::int")]
    pub bandwidth: i64,
    /// Charge type.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub internet_charge_type: String,
}

/// The JSON the metadata service returns for a RAM role
/// (`/latest/meta-data/ram/security-credentials/<role>`). Mirrors what
/// `alibabacloud_credentials.provider.ecs_ram_role` reads. `Debug` redacts the secret
/// and the token.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RamRoleCredentialsBody {
    /// STS access key id.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub access_key_id: String,
    /// STS access key secret (secret).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub access_key_secret: String,
    /// STS token (secret).
    #[serde(deserialize_with = "crate::lenient::string")]
    pub security_token: String,
    /// `YYYY-MM-DDThh:mm:ssZ`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub expiration: String,
    /// `YYYY-MM-DDThh:mm:ssZ`.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub last_updated: String,
    /// `Success` when usable.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub code: String,
}

impl std::fmt::Debug for RamRoleCredentialsBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RamRoleCredentialsBody")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &crate::credentials::REDACTED)
            .field("security_token", &crate::credentials::REDACTED)
            .field("expiration", &self.expiration)
            .field("last_updated", &self.last_updated)
            .field("code", &self.code)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_describe_eip_addresses_sample() -> anyhow::Result<()> {
        let body = r#"{"RequestId":"r-1","TotalCount":1,"PageNumber":1,"PageSize":10,
 "EipAddresses":{"EipAddress":[{
   "AllocationId":"eip-1","IpAddress":"47.1.2.3","Status":"InUse","RegionId":"cn-hangzhou",
   "InstanceId":"eni-1","InstanceType":"NetworkInterface","InstanceRegionId":"cn-hangzhou",
   "PrivateIpAddress":"10.0.0.5","Mode":"NAT","VpcId":"vpc-1","Bandwidth":"5","EipBandwidth":"5",
   "ChargeType":"PostPaid","InternetChargeType":"PayByTraffic","ISP":"BGP","Netmode":"public",
   "Name":"n","Description":"d","AllocationTime":"2019-04-23T01:37:38Z","ExpiredTime":"",
   "ResourceGroupId":"rg-1","BusinessStatus":"Normal","DeletionProtection":false,
   "ServiceID":0,"ServiceManaged":0,"HDMonitorStatus":"OFF","SomethingNew":{"x":1},
   "Tags":{"Tag":[{"Key":"k","Value":"v"}]},
   "OperationLocks":{"LockReason":[{"LockReason":"financial"}]},
   "SecurityProtectionTypes":{"SecurityProtectionType":["AntiDDoS_Enhanced"]}}]}}"#;
        let parsed: DescribeEipAddressesResponse = serde_json::from_str(body)?;
        assert_eq!(parsed.total_count, 1);
        let eip = parsed
            .eip_addresses
            .eip_address
            .first()
            .ok_or_else(|| anyhow::anyhow!("no eip"))?;
        assert_eq!(eip.allocation_id, "eip-1");
        assert_eq!(eip.status, EipStatus::InUse.as_str());
        assert_eq!(eip.bandwidth, "5");
        assert_eq!(eip.isp, "BGP");
        assert_eq!(eip.hd_monitor_status, "OFF");
        assert_eq!(eip.private_ip_address, "10.0.0.5");
        assert_eq!(
            eip.tags.tag,
            vec![VpcTag {
                key: "k".into(),
                value: "v".into()
            }]
        );
        assert_eq!(
            eip.operation_locks
                .lock_reason
                .first()
                .map(|l| l.lock_reason.as_str()),
            Some("financial")
        );
        assert_eq!(
            eip.security_protection_types.security_protection_type,
            vec!["AntiDDoS_Enhanced"]
        );
        // What we emit uses the service's keys.
        let out = serde_json::to_value(&parsed)?;
        assert_eq!(out["EipAddresses"]["EipAddress"][0]["ISP"], "BGP");
        assert_eq!(out["EipAddresses"]["EipAddress"][0]["Bandwidth"], "5");
        assert_eq!(out["EipAddresses"]["EipAddress"][0]["ServiceID"], 0);
        assert_eq!(
            out["EipAddresses"]["EipAddress"][0]["HDMonitorStatus"],
            "OFF"
        );
        let back: DescribeEipAddressesResponse = serde_json::from_value(out)?;
        assert_eq!(back, parsed);
        Ok(())
    }

    #[test]
    fn missing_fields_default_and_empty_lists_parse() -> anyhow::Result<()> {
        let parsed: DescribeEipAddressesResponse =
            serde_json::from_str(r#"{"RequestId":"r","EipAddresses":{"EipAddress":[]}}"#)?;
        assert!(parsed.eip_addresses.eip_address.is_empty());
        let parsed: DescribeEipAddressesResponse = serde_json::from_str(r#"{"RequestId":"r"}"#)?;
        assert_eq!(parsed.request_id, "r");
        let alloc: AllocateEipAddressResponse = serde_json::from_str(
            r#"{"RequestId":"r","AllocationId":"eip-1","EipAddress":"1.2.3.4","ResourceGroupId":"rg"}"#,
        )?;
        assert_eq!(alloc.eip_address.as_deref(), Some("1.2.3.4"));
        assert_eq!(alloc.order_id, None);
        Ok(())
    }

    #[test]
    fn parses_vswitches_enis_types_instances_tags_and_errors() -> anyhow::Result<()> {
        let vsw: DescribeVSwitchesResponse = serde_json::from_str(
            r#"{"RequestId":"r","TotalCount":1,"PageNumber":1,"PageSize":50,"VSwitches":{"VSwitch":[
            {"VSwitchId":"vsw-1","VpcId":"vpc-1","ZoneId":"cn-hangzhou-h","CidrBlock":"10.0.0.0/24",
             "AvailableIpAddressCount":250,"Status":"Available","IsDefault":false,"OwnerId":123,
             "RouteTable":{"RouteTableId":"vtb-1","RouteTableType":"System"}}]}}"#,
        )?;
        let first = vsw.vswitches.vswitch.first().cloned().unwrap_or_default();
        assert_eq!(first.vswitch_id, "vsw-1");
        assert_eq!(first.available_ip_address_count, 250);
        assert_eq!(first.route_table.route_table_id, "vtb-1");
        assert_eq!(
            serde_json::to_value(&vsw)?["VSwitches"]["VSwitch"][0]["VSwitchId"],
            "vsw-1"
        );

        let enis: DescribeNetworkInterfacesResponse = serde_json::from_str(
            r#"{"RequestId":"r","NextToken":"","NetworkInterfaceSets":{"NetworkInterfaceSet":[
            {"NetworkInterfaceId":"eni-1","Status":"InUse","Type":"Secondary","VSwitchId":"vsw-1",
             "PrivateIpAddress":"10.0.0.2","MacAddress":"00:16:3e:00:00:01","InstanceId":"i-1",
             "OwnerId":"123","ServiceManaged":false,
             "PrivateIpSets":{"PrivateIpSet":[{"PrivateIpAddress":"10.0.0.2","Primary":true},
               {"PrivateIpAddress":"10.0.0.5","Primary":false,
                "AssociatedPublicIp":{"PublicIpAddress":"47.1.2.3","AllocationId":"eip-1"}}]},
             "Tags":{"Tag":[{"TagKey":"a","TagValue":"b"}]}}]}}"#,
        )?;
        let eni = enis
            .network_interface_sets
            .network_interface_set
            .first()
            .cloned()
            .unwrap_or_default();
        assert_eq!(eni.r#type, "Secondary");
        assert_eq!(eni.private_ip_sets.private_ip_set.len(), 2);
        assert_eq!(
            eni.private_ip_sets
                .private_ip_set
                .get(1)
                .and_then(|p| p.associated_public_ip.as_ref())
                .map(|a| a.allocation_id.as_str()),
            Some("eip-1")
        );
        assert_eq!(eni.tags.tag.first().map(|t| t.tag_key.as_str()), Some("a"));

        let types: DescribeInstanceTypesResponse = serde_json::from_str(
            r#"{"RequestId":"r","InstanceTypes":{"InstanceType":[{"InstanceTypeId":"ecs.g7.large",
            "CpuCoreCount":2,"MemorySize":8.0,"EniQuantity":3,"EniPrivateIpAddressQuantity":10}]}}"#,
        )?;
        let t = types
            .instance_types
            .instance_type
            .first()
            .cloned()
            .unwrap_or_default();
        assert_eq!((t.eni_quantity, t.eni_private_ip_address_quantity), (3, 10));

        let inst: DescribeInstancesResponse = serde_json::from_str(
            r#"{"RequestId":"r","Instances":{"Instance":[{"InstanceId":"i-1","Status":"Running",
            "InstanceType":"ecs.g7.large","VpcAttributes":{"VpcId":"vpc-1","VSwitchId":"vsw-1",
            "PrivateIpAddress":{"IpAddress":["10.0.0.2"]}},
            "EipAddress":{"AllocationId":"","IpAddress":"","Bandwidth":0}}]}}"#,
        )?;
        let i = inst.instances.instance.first().cloned().unwrap_or_default();
        assert_eq!(
            i.vpc_attributes.private_ip_address.ip_address,
            vec!["10.0.0.2"]
        );

        let tags: ListTagResourcesResponse = serde_json::from_str(
            r#"{"RequestId":"r","NextToken":"t2","TagResources":{"TagResource":[
            {"ResourceId":"eip-1","ResourceType":"EIP","TagKey":"k","TagValue":"v"}]}}"#,
        )?;
        assert_eq!(tags.next_token.as_deref(), Some("t2"));
        assert_eq!(tags.tag_resources.tag_resource.len(), 1);

        let err: ErrorBody = serde_json::from_str(
            r#"{"RequestId":"r","HostId":"vpc.aliyuncs.com","Code":"QuotaExceeded.Eip",
            "Message":"Elastic IP address quota exceeded","Recommend":"https://x"}"#,
        )?;
        assert_eq!(err.code, "QuotaExceeded.Eip");
        assert_eq!(serde_json::to_value(&err)?["HostId"], "vpc.aliyuncs.com");
        Ok(())
    }

    #[test]
    fn ram_role_body_debug_redacts() -> anyhow::Result<()> {
        let body: RamRoleCredentialsBody = serde_json::from_str(
            r#"{"AccessKeyId":"STS.id","AccessKeySecret":"sts-secret-value","SecurityToken":"tok-value",
            "Expiration":"2017-11-01T05:20:01Z","LastUpdated":"2017-11-01T00:00:00Z","Code":"Success"}"#,
        )?;
        let dbg = format!("{body:?}");
        assert!(dbg.contains("STS.id"));
        assert!(!dbg.contains("sts-secret-value"));
        assert!(!dbg.contains("tok-value"));
        Ok(())
    }

    #[test]
    fn type_quirks_and_nulls_do_not_fail_a_page() -> anyhow::Result<()> {
        let body = r#"{"RequestId":"r","TotalCount":"2","PageNumber":1,"PageSize":"10",
          "EipAddresses":{"EipAddress":[
            {"AllocationId":"eip-1","Status":"Available","Bandwidth":5,"DeletionProtection":"false",
             "Name":null,"ServiceManaged":"1","SecondLimited":0},
            {"AllocationId":"eip-2","Status":"InUse","Bandwidth":"10","EipBandwidth":null}]}}"#;
        let parsed: DescribeEipAddressesResponse = serde_json::from_str(body)?;
        assert_eq!(parsed.total_count, 2);
        assert_eq!(parsed.page_size, 10);
        let bw: Vec<_> = parsed
            .eip_addresses
            .eip_address
            .iter()
            .map(|e| e.bandwidth.as_str())
            .collect();
        assert_eq!(bw, vec!["5", "10"]);
        let first = parsed
            .eip_addresses
            .eip_address
            .first()
            .cloned()
            .unwrap_or_default();
        assert!(!first.deletion_protection);
        assert_eq!(first.name, "");
        assert_eq!(first.service_managed, 1);
        // Emitted with the canonical types.
        let out = serde_json::to_value(&parsed)?;
        assert_eq!(out["TotalCount"], 2);
        assert_eq!(out["EipAddresses"]["EipAddress"][0]["Bandwidth"], "5");
        assert_eq!(
            out["EipAddresses"]["EipAddress"][0]["DeletionProtection"],
            false
        );
        Ok(())
    }
}
