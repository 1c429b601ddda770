//! Response bodies of the VPC (2016-04-28) and ECS (2014-05-26) operations kube-eip uses,
//! exactly as the service returns them: PascalCase keys, lists nested in a wrapper object
//! (`EipAddresses.EipAddress[]`), `Bandwidth` a string in VPC. Every type is
//! `Serialize + Deserialize` so the emulator can emit them and the client can parse them.
//! Parsing tolerates unknown and missing fields (every field has a default).
//!
//! Each type names the model of the official Python SDK it mirrors
//! (`alibabacloud_vpc20160428.models` / `alibabacloud_ecs20140526.models`).

use serde::{Deserialize, Serialize};

/// EIP status values of `DescribeEipAddresses` (`Status`).
pub mod eip_status {
    /// Being associated (asynchronous).
    pub const ASSOCIATING: &str = "Associating";
    /// Being unassociated (asynchronous).
    pub const UNASSOCIATING: &str = "Unassociating";
    /// Associated.
    pub const IN_USE: &str = "InUse";
    /// Allocated, not associated.
    pub const AVAILABLE: &str = "Available";
    /// Being released (asynchronous; then it disappears).
    pub const RELEASING: &str = "Releasing";
}

/// The error body of every failed call (4xx/5xx).
/// Mirrors the common error response of the Alibaba Cloud RPC gateway (`RequestId`,
/// `HostId`, `Code`, `Message`, `Recommend`), as read by `alibabacloud_tea_openapi`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ErrorBody {
    /// The request id.
    pub request_id: String,
    /// The endpoint host that answered (`vpc.aliyuncs.com`).
    pub host_id: String,
    /// The error code (`InvalidAllocationId.NotFound`).
    pub code: String,
    /// The human-readable message.
    pub message: String,
    /// A troubleshooting URL.
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
    pub request_id: String,
}

/// Mirrors `AllocateEipAddressResponseBody` (VPC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocateEipAddressResponse {
    /// The request id.
    pub request_id: String,
    /// The new EIP's id (`eip-...`).
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
    pub request_id: String,
    /// Matching EIPs across all pages.
    pub total_count: i64,
    /// This page (1-based).
    pub page_number: i64,
    /// The page size.
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
    pub allocation_id: String,
    /// The public IP.
    pub ip_address: String,
    /// One of [`eip_status`].
    pub status: String,
    /// The region.
    pub region_id: String,
    /// The associated instance (an ENI id for NetworkInterface), empty when none.
    pub instance_id: String,
    /// `EcsInstance`, `NetworkInterface`, ...
    pub instance_type: String,
    /// The associated instance's region.
    pub instance_region_id: String,
    /// The private IP it is associated with (NetworkInterface).
    pub private_ip_address: String,
    /// `NAT`, `MULTI_BINDED` or `BINDED`.
    pub mode: String,
    /// The VPC of the association.
    pub vpc_id: String,
    /// Peak bandwidth in Mbit/s, a string.
    pub bandwidth: String,
    /// The EIP's own bandwidth, a string.
    pub eip_bandwidth: String,
    /// Bandwidth of the common bandwidth package it is in, a string.
    pub bandwidth_package_bandwidth: String,
    /// The common bandwidth package it is in.
    pub bandwidth_package_id: String,
    /// The package type (`CommonBandwidthPackage`).
    pub bandwidth_package_type: String,
    /// `PostPaid` or `PrePaid`.
    pub charge_type: String,
    /// `PayByBandwidth` or `PayByTraffic`.
    pub internet_charge_type: String,
    /// `BGP`, `BGP_PRO`, ...
    #[serde(rename = "ISP")]
    pub isp: String,
    /// `public`.
    pub netmode: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Allocation time, `YYYY-MM-DDThh:mm:ssZ`.
    pub allocation_time: String,
    /// Expiry (PrePaid).
    pub expired_time: String,
    /// The resource group.
    pub resource_group_id: String,
    /// `Normal` or `FinancialLocked`.
    pub business_status: String,
    /// Deletion protection.
    pub deletion_protection: bool,
    /// Business type.
    pub biz_type: String,
    /// Fine-grained monitoring status.
    #[serde(rename = "HDMonitorStatus")]
    pub hd_monitor_status: String,
    /// Whether reservation data exists.
    pub has_reservation_data: String,
    /// The IP address pool it came from.
    pub public_ip_address_pool_id: String,
    /// The segment (contiguous EIPs).
    pub segment_instance_id: String,
    /// Second-level monitoring.
    pub second_limited: bool,
    /// Owner service id.
    #[serde(rename = "ServiceID")]
    pub service_id: i64,
    /// 1 when managed by a service.
    pub service_managed: i64,
    /// The zone.
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
    pub key: String,
    /// Value.
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
    pub active_time: String,
    /// Bandwidth, a string.
    pub bandwidth: String,
    /// Charge type.
    pub internet_charge_type: String,
    /// Order type.
    pub order_type: String,
}

/// Mirrors `ListTagResourcesResponseBody` (VPC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListTagResourcesResponse {
    /// The request id.
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
    pub resource_id: String,
    /// `EIP` (the service answers in upper or lower case).
    pub resource_type: String,
    /// Tag key.
    pub tag_key: String,
    /// Tag value.
    pub tag_value: String,
}

/// Mirrors `DescribeVSwitchesResponseBody` (VPC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeVSwitchesResponse {
    /// The request id.
    pub request_id: String,
    /// Total matches.
    pub total_count: i64,
    /// This page (1-based).
    pub page_number: i64,
    /// Page size.
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
    pub vswitch_id: String,
    /// `vpc-...`.
    pub vpc_id: String,
    /// Zone.
    pub zone_id: String,
    /// IPv4 CIDR.
    pub cidr_block: String,
    /// IPv6 CIDR.
    pub ipv6_cidr_block: String,
    /// IPv6 enabled.
    pub enabled_ipv6: bool,
    /// Free private IPs.
    pub available_ip_address_count: i64,
    /// `Pending` or `Available`.
    pub status: String,
    /// Name.
    #[serde(rename = "VSwitchName")]
    pub vswitch_name: String,
    /// Description.
    pub description: String,
    /// Default vSwitch of the zone.
    pub is_default: bool,
    /// Creation time.
    pub creation_time: String,
    /// Resource group.
    pub resource_group_id: String,
    /// Network ACL.
    pub network_acl_id: String,
    /// Owner account.
    pub owner_id: i64,
    /// Share type.
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
    pub route_table_id: String,
    /// `System` or `Custom`.
    pub route_table_type: String,
}

/// Mirrors `DescribeNetworkInterfacesResponseBody` (ECS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeNetworkInterfacesResponse {
    /// The request id.
    pub request_id: String,
    /// Total (not valid when `NextToken` is used).
    pub total_count: i64,
    /// Page (deprecated).
    pub page_number: i64,
    /// Page size (deprecated).
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
    pub network_interface_id: String,
    /// `Available`, `Attaching`, `InUse`, `Detaching`, `Deleting`.
    pub status: String,
    /// `Primary` or `Secondary`.
    pub r#type: String,
    /// VPC.
    pub vpc_id: String,
    /// vSwitch.
    #[serde(rename = "VSwitchId")]
    pub vswitch_id: String,
    /// Zone.
    pub zone_id: String,
    /// The primary private IP.
    pub private_ip_address: String,
    /// MAC address.
    pub mac_address: String,
    /// The instance it is attached to.
    pub instance_id: String,
    /// Name.
    pub network_interface_name: String,
    /// Description.
    pub description: String,
    /// Creation time.
    pub creation_time: String,
    /// Resource group.
    pub resource_group_id: String,
    /// Owner account (a string in ECS).
    pub owner_id: String,
    /// Owner service id.
    #[serde(rename = "ServiceID")]
    pub service_id: i64,
    /// Managed by a service.
    pub service_managed: bool,
    /// Queues.
    pub queue_number: i64,
    /// Traffic mode (`Standard`, `HighPerformance`).
    pub network_interface_traffic_mode: String,
    /// Delete with the instance.
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
    pub private_ip_address: String,
    /// Whether it is the ENI's primary IP.
    pub primary: bool,
    /// DNS name.
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
    pub public_ip_address: String,
    /// `eip-...`.
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
    pub ipv4_prefix: String,
}

/// Mirrors `...NetworkInterfaceSetAttachment`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Attachment {
    /// Instance.
    pub instance_id: String,
    /// Device index.
    pub device_index: i64,
    /// Network card index.
    pub network_card_index: i64,
    /// Trunk ENI.
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
    pub tag_key: String,
    /// Value.
    pub tag_value: String,
}

/// Mirrors `DescribeInstanceTypesResponseBody` (ECS).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeInstanceTypesResponse {
    /// The request id.
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
    pub instance_type_id: String,
    /// Family (`ecs.g7`).
    pub instance_type_family: String,
    /// vCPUs.
    pub cpu_core_count: i64,
    /// Memory, GiB.
    pub memory_size: f64,
    /// Maximum ENIs per instance.
    pub eni_quantity: i64,
    /// Maximum private IPv4 addresses per ENI.
    pub eni_private_ip_address_quantity: i64,
    /// Maximum IPv6 addresses per ENI.
    pub eni_ipv6_address_quantity: i64,
    /// Maximum ENIs including trunk members.
    pub eni_total_quantity: i64,
    /// Trunk ENIs supported.
    pub eni_trunk_supported: bool,
}

/// Mirrors `DescribeInstancesResponseBody` (ECS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeInstancesResponse {
    /// The request id.
    pub request_id: String,
    /// Total.
    pub total_count: i64,
    /// Page (deprecated).
    pub page_number: i64,
    /// Page size (deprecated).
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
    pub instance_id: String,
    /// Name.
    pub instance_name: String,
    /// `Pending`, `Running`, `Starting`, `Stopping`, `Stopped`.
    pub status: String,
    /// `ecs.g7.large`.
    pub instance_type: String,
    /// Region.
    pub region_id: String,
    /// Zone.
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
    pub vpc_id: String,
    /// vSwitch.
    #[serde(rename = "VSwitchId")]
    pub vswitch_id: String,
    /// NAT IP.
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
    pub network_interface_id: String,
    /// `Primary` or `Secondary`.
    pub r#type: String,
    /// MAC.
    pub mac_address: String,
    /// Primary IP.
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
    pub allocation_id: String,
    /// Public IP.
    pub ip_address: String,
    /// Mbit/s.
    pub bandwidth: i64,
    /// Charge type.
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
    pub access_key_id: String,
    /// STS access key secret (secret).
    pub access_key_secret: String,
    /// STS token (secret).
    pub security_token: String,
    /// `YYYY-MM-DDThh:mm:ssZ`.
    pub expiration: String,
    /// `YYYY-MM-DDThh:mm:ssZ`.
    pub last_updated: String,
    /// `Success` when usable.
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
        assert_eq!(eip.status, eip_status::IN_USE);
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
}
