//! The [`Cloud`] trait: the VPC and ECS operations kube-eip needs. The real client is
//! [`AliyunClient`](crate::AliyunClient); tests may use any other implementation.

use async_trait::async_trait;

use crate::Error;
use crate::args::{
    AllocateEipArgs, AssociateEipArgs, BandwidthPackageIpArgs, DescribeEipArgs,
    DescribeInstanceTypesArgs, DescribeInstancesArgs, DescribeNetworkInterfacesArgs,
    DescribeVSwitchesArgs, ListTagResourcesArgs, ModifyEipArgs, TagResourcesArgs,
    UnassociateEipArgs,
};
use crate::model::{
    AllocateEipAddressResponse, EipAddress, Instance, InstanceType, NetworkInterfaceSet,
    RequestIdResponse, TagResource, VSwitch,
};

/// The operations of Alibaba Cloud VPC (2016-04-28) and ECS (2014-05-26) that kube-eip
/// uses. Object safe: share it as `Arc<dyn Cloud>`. Describe/List operations follow pages
/// to the end and batch long id lists, so they return every match.
#[async_trait]
pub trait Cloud: Send + Sync + std::fmt::Debug {
    /// The region every call is made in.
    fn region_id(&self) -> &str;

    /// VPC AllocateEipAddress.
    async fn allocate_eip_address(
        &self,
        args: &AllocateEipArgs,
    ) -> Result<AllocateEipAddressResponse, Error>;

    /// VPC AssociateEipAddress (asynchronous: Associating -> InUse).
    async fn associate_eip_address(
        &self,
        args: &AssociateEipArgs,
    ) -> Result<RequestIdResponse, Error>;

    /// VPC UnassociateEipAddress (asynchronous: Unassociating -> Available).
    async fn unassociate_eip_address(
        &self,
        args: &UnassociateEipArgs,
    ) -> Result<RequestIdResponse, Error>;

    /// VPC ReleaseEipAddress (asynchronous: Releasing -> gone).
    async fn release_eip_address(&self, allocation_id: &str) -> Result<RequestIdResponse, Error>;

    /// VPC DescribeEipAddresses: every match, ids batched by 50, pages followed to the end.
    /// An id that does not exist is simply absent from the result.
    async fn describe_eip_addresses(
        &self,
        args: &DescribeEipArgs,
    ) -> Result<Vec<EipAddress>, Error>;

    /// VPC ModifyEipAddressAttribute.
    async fn modify_eip_address_attribute(
        &self,
        args: &ModifyEipArgs,
    ) -> Result<RequestIdResponse, Error>;

    /// VPC TagResources.
    async fn tag_resources(&self, args: &TagResourcesArgs) -> Result<RequestIdResponse, Error>;

    /// VPC ListTagResources: every (resource, tag) pair, pages followed to the end.
    async fn list_tag_resources(
        &self,
        args: &ListTagResourcesArgs,
    ) -> Result<Vec<TagResource>, Error>;

    /// VPC AddCommonBandwidthPackageIp.
    async fn add_common_bandwidth_package_ip(
        &self,
        args: &BandwidthPackageIpArgs,
    ) -> Result<RequestIdResponse, Error>;

    /// VPC RemoveCommonBandwidthPackageIp.
    async fn remove_common_bandwidth_package_ip(
        &self,
        args: &BandwidthPackageIpArgs,
    ) -> Result<RequestIdResponse, Error>;

    /// VPC DescribeCommonBandwidthPackages: every match, pages followed to the end.
    async fn describe_common_bandwidth_packages(
        &self,
        args: &crate::args::DescribeBandwidthPackagesArgs,
    ) -> Result<Vec<crate::model::CommonBandwidthPackage>, Error>;

    /// VPC DescribeVSwitches: every match, pages followed to the end.
    async fn describe_vswitches(&self, args: &DescribeVSwitchesArgs)
    -> Result<Vec<VSwitch>, Error>;

    /// ECS DescribeNetworkInterfaces: every match, ids batched by 100, pages followed.
    async fn describe_network_interfaces(
        &self,
        args: &DescribeNetworkInterfacesArgs,
    ) -> Result<Vec<NetworkInterfaceSet>, Error>;

    /// ECS DescribeInstanceTypes: every match, types batched by 10, pages followed.
    async fn describe_instance_types(
        &self,
        args: &DescribeInstanceTypesArgs,
    ) -> Result<Vec<InstanceType>, Error>;

    /// ECS DescribeInstances: every match, ids batched by 100, pages followed.
    async fn describe_instances(
        &self,
        args: &DescribeInstancesArgs,
    ) -> Result<Vec<Instance>, Error>;
}
