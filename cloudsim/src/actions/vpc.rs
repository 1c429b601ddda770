//! VPC 2016-04-28: the EIP operations and DescribeVSwitches.

use std::time::Instant;

use eip_cloud::model;
use serde_json::Value;

use super::{check_region, ipv4, next_token_offset, page};
use crate::apierror::ApiError;
use crate::params::Params;
use crate::state::{AllocateSpec, AssocTarget, Eip, EipFilter, EipStatus, SimState};

/// The VPC actions served.
pub const ACTIONS: &[&str] = &[
    "AllocateEipAddress",
    "AssociateEipAddress",
    "UnassociateEipAddress",
    "ReleaseEipAddress",
    "ModifyEipAddressAttribute",
    "DescribeEipAddresses",
    "TagResources",
    "UnTagResources",
    "ListTagResources",
    "AddCommonBandwidthPackageIp",
    "RemoveCommonBandwidthPackageIp",
    "DescribeCommonBandwidthPackages",
    "DescribeVSwitches",
];

/// AssociateEipAddress instance types the real service accepts and this emulator does not.
const REAL_INSTANCE_TYPES: &[&str] = &["SlbInstance", "Nat", "HaVip", "IpAddress"];

/// The resource group EIPs land in when the caller names none.
pub const DEFAULT_RESOURCE_GROUP: &str = "rg-acfmsim0default";

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|_| ApiError::internal())
}

fn ok(rid: &str) -> Result<Value, ApiError> {
    to_value(&model::RequestIdResponse {
        request_id: rid.to_string(),
    })
}

/// Runs one VPC action.
pub fn handle(
    st: &mut SimState,
    action: &str,
    p: &Params,
    rid: &str,
    now: Instant,
) -> Result<Value, ApiError> {
    let region = st.region_id.clone();
    match action {
        "DescribeVSwitches" => {
            if p.get("RegionId").is_none() && p.get("VpcId").is_none() {
                return Err(ApiError::missing("RegionId"));
            }
            if p.get("RegionId").is_some() {
                check_region(p, &region)?;
            }
            return describe_vswitches(st, p, rid);
        }
        _ => check_region(p, &region)?,
    }
    if let Some(token) = p.get("ClientToken")
        && (token.len() > 64 || !token.is_ascii())
    {
        return Err(ApiError::invalid(
            "ClientToken",
            "It must be ASCII and at most 64 characters.",
        ));
    }
    match action {
        "AllocateEipAddress" => allocate(st, p, rid, now),
        "AssociateEipAddress" => {
            let id = p.required("AllocationId")?;
            let instance_id = p.required("InstanceId")?;
            if let Some(r) = p.get("InstanceRegionId")
                && r != region
            {
                return Err(ApiError::invalid("InstanceRegionId", "Unknown region."));
            }
            let mode = p.get("Mode").unwrap_or("NAT");
            if mode != "NAT" {
                return Err(ApiError::unsupported(
                    "Mode",
                    "Only NAT mode is supported by this emulator.",
                ));
            }
            let target = match p.get("InstanceType").unwrap_or("EcsInstance") {
                "NetworkInterface" => AssocTarget::NetworkInterface {
                    eni_id: instance_id.to_string(),
                    private_ip: ipv4("PrivateIpAddress", p.required("PrivateIpAddress")?)?,
                },
                "EcsInstance" => AssocTarget::EcsInstance {
                    instance_id: instance_id.to_string(),
                },
                other => {
                    let by = if REAL_INSTANCE_TYPES.contains(&other) {
                        " by this emulator"
                    } else {
                        ""
                    };
                    return Err(ApiError::new(
                        400,
                        "InvalidInstanceType.ValueNotSupported",
                        format!("The instance type {other} is not supported{by}."),
                    ));
                }
            };
            st.associate(id, &target, now)?;
            ok(rid)
        }
        "UnassociateEipAddress" => {
            let id = p.required("AllocationId")?;
            let _force = p.bool("Force")?;
            let ip = p
                .get("PrivateIpAddress")
                .map(|v| ipv4("PrivateIpAddress", v))
                .transpose()?;
            st.unassociate(id, p.get("InstanceId"), ip, now)?;
            ok(rid)
        }
        "ReleaseEipAddress" => {
            st.release(p.required("AllocationId")?, now)?;
            ok(rid)
        }
        "ModifyEipAddressAttribute" => {
            let id = p.required("AllocationId")?;
            let bw = p.u32("Bandwidth")?;
            st.modify(id, bw, p.get("Name"), p.get("Description"), now)?;
            ok(rid)
        }
        "DescribeEipAddresses" => describe_eips(st, p, rid, now),
        "TagResources" => {
            check_resource_type(p)?;
            let ids = p.indexed("ResourceId", 50)?;
            if ids.is_empty() {
                return Err(ApiError::missing("ResourceId"));
            }
            let tags = p.tags("Tag", 20)?;
            if tags.is_empty() {
                return Err(ApiError::missing("Tag"));
            }
            let tags: Vec<(String, String)> = tags
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect();
            st.tag(&ids, &tags, now)?;
            ok(rid)
        }
        "UnTagResources" => {
            check_resource_type(p)?;
            let ids = p.indexed("ResourceId", 50)?;
            if ids.is_empty() {
                return Err(ApiError::missing("ResourceId"));
            }
            let keys = p.indexed("TagKey", 20)?;
            let all = p.bool("All")?.unwrap_or(false);
            st.untag(&ids, &keys, all, now)?;
            ok(rid)
        }
        "ListTagResources" => {
            check_resource_type(p)?;
            let ids = p.indexed("ResourceId", 50)?;
            let tags = p.tags("Tag", 20)?;
            if ids.is_empty() && tags.is_empty() {
                return Err(ApiError::new(
                    400,
                    "MissingParameter",
                    "ResourceId.N or Tag.N is mandatory for this action.",
                ));
            }
            let max = p.u32_in("MaxResults", 50, 1, 50)? as usize;
            let offset = next_token_offset(p)?;
            let all = st.list_tags(&ids, &tags, now);
            let (items, next) = page(all, offset, max);
            to_value(&model::ListTagResourcesResponse {
                request_id: rid.to_string(),
                next_token: next,
                tag_resources: model::TagResources {
                    tag_resource: items
                        .into_iter()
                        .map(|(id, k, v)| model::TagResource {
                            resource_id: id,
                            resource_type: "EIP".into(),
                            tag_key: k,
                            tag_value: v,
                        })
                        .collect(),
                },
            })
        }
        "AddCommonBandwidthPackageIp" => {
            let pkg = p.required("BandwidthPackageId")?;
            let ip = p.required("IpInstanceId")?;
            check_ip_type(p)?;
            st.add_to_package(pkg, ip, now)?;
            ok(rid)
        }
        "DescribeCommonBandwidthPackages" => describe_bandwidth_packages(st, p, rid),
        "RemoveCommonBandwidthPackageIp" => {
            let pkg = p.required("BandwidthPackageId")?;
            let ip = p.required("IpInstanceId")?;
            st.remove_from_package(pkg, ip, now)?;
            ok(rid)
        }
        _ => Err(ApiError::api_not_found()),
    }
}

fn check_resource_type(p: &Params) -> Result<(), ApiError> {
    let t = p.required("ResourceType")?;
    if !t.eq_ignore_ascii_case("EIP") {
        return Err(ApiError::unsupported(
            "ResourceType",
            "Only EIP resources are supported by this emulator.",
        ));
    }
    Ok(())
}

fn check_ip_type(p: &Params) -> Result<(), ApiError> {
    match p.get("IpType") {
        None | Some("EIP") => Ok(()),
        Some(_) => Err(ApiError::invalid("IpType", "It must be EIP.")),
    }
}

fn allocate(st: &mut SimState, p: &Params, rid: &str, now: Instant) -> Result<Value, ApiError> {
    let tags = p
        .tags("Tag", 20)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let spec = AllocateSpec {
        bandwidth: p.u32("Bandwidth")?.unwrap_or(5),
        internet_charge_type: p
            .get("InternetChargeType")
            .unwrap_or("PayByBandwidth")
            .to_string(),
        instance_charge_type: p
            .get("InstanceChargeType")
            .unwrap_or("PostPaid")
            .to_string(),
        isp: p.get("ISP").unwrap_or("BGP").to_string(),
        netmode: p.get("Netmode").unwrap_or("public").to_string(),
        name: p.get("Name").unwrap_or_default().to_string(),
        description: p.get("Description").unwrap_or_default().to_string(),
        resource_group_id: p
            .get("ResourceGroupId")
            .unwrap_or(DEFAULT_RESOURCE_GROUP)
            .to_string(),
        public_ip_address_pool_id: p
            .get("PublicIpAddressPoolId")
            .unwrap_or_default()
            .to_string(),
        tags,
    };
    let id = st.allocate(&spec, now)?;
    let eip = st.eips.get(&id).ok_or_else(ApiError::internal)?;
    let prepaid = eip.charge_type == "PrePaid";
    to_value(&model::AllocateEipAddressResponse {
        request_id: rid.to_string(),
        allocation_id: id.clone(),
        eip_address: (!prepaid).then(|| eip.ip_address.to_string()),
        resource_group_id: Some(eip.resource_group_id.clone()),
        order_id: prepaid.then_some(i64::try_from(eip.seq).unwrap_or(0) + 20_000_000_000),
    })
}

fn comma_list(p: &Params, name: &str) -> Result<Vec<String>, ApiError> {
    let Some(v) = p.get(name) else {
        return Ok(Vec::new());
    };
    let items: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if items.len() > 50 {
        return Err(ApiError::invalid(name, "At most 50 values are allowed."));
    }
    Ok(items)
}

fn describe_eips(
    st: &mut SimState,
    p: &Params,
    rid: &str,
    now: Instant,
) -> Result<Value, ApiError> {
    let status = p
        .get("Status")
        .map(|s| {
            s.parse::<EipStatus>().map_err(|_| {
                ApiError::invalid(
                    "Status",
                    "It must be Associating, Unassociating, InUse, Available or Releasing.",
                )
            })
        })
        .transpose()?;
    let ip_addresses = comma_list(p, "EipAddress")?
        .iter()
        .map(|v| ipv4("EipAddress", v))
        .collect::<Result<Vec<_>, _>>()?;
    let filter = EipFilter {
        allocation_ids: comma_list(p, "AllocationId")?,
        ip_addresses,
        status,
        instance_type: p.get("AssociatedInstanceType").map(str::to_string),
        instance_id: p.get("AssociatedInstanceId").map(str::to_string),
        name: p.get("EipName").map(str::to_string),
        isp: p.get("ISP").map(str::to_string),
        charge_type: p.get("ChargeType").map(str::to_string),
        resource_group_id: p.get("ResourceGroupId").map(str::to_string),
        tags: p.tags("Tag", 20)?,
        created_from: None,
        created_to: None,
    };
    let mut filter = filter;
    for (key, value) in p.tags("Filter", 2)? {
        let at = value
            .as_deref()
            .and_then(|v| v.strip_suffix('Z'))
            .filter(|v| v.len() == 16)
            .and_then(|v| eip_cloud::signature::parse_timestamp(&format!("{v}:00Z")))
            .ok_or_else(|| ApiError::invalid("Filter.N.Value", "Expected YYYY-MM-DDThh:mmZ."))?;
        match key.as_str() {
            "CreationStartTime" => filter.created_from = Some(at),
            "CreationEndTime" => filter.created_to = Some(at),
            _ => {
                return Err(ApiError::invalid(
                    "Filter.N.Key",
                    "It must be CreationStartTime or CreationEndTime.",
                ));
            }
        }
    }
    let region = st.region_id.clone();
    let vpc = st.vpc_id.clone();
    let packages = st.bandwidth_packages.clone();
    let page = numbered_page(p, st.describe(&filter, now), 100)?;
    let items: Vec<model::EipAddress> = page
        .items
        .into_iter()
        .map(|e| render_eip(e, &region, &vpc, &packages))
        .collect();
    to_value(&model::DescribeEipAddressesResponse {
        request_id: rid.to_string(),
        total_count: page.total,
        page_number: page.number,
        page_size: page.size,
        eip_addresses: model::EipAddresses { eip_address: items },
    })
}

fn render_eip(
    e: &Eip,
    region: &str,
    vpc: &str,
    packages: &std::collections::BTreeMap<String, crate::state::BandwidthPackage>,
) -> model::EipAddress {
    let a = e.association.as_ref();
    let pkg = e
        .bandwidth_package_id
        .as_ref()
        .and_then(|id| packages.get(id));
    model::EipAddress {
        allocation_id: e.allocation_id.clone(),
        ip_address: e.ip_address.to_string(),
        status: e.status.as_str().to_string(),
        region_id: region.to_string(),
        instance_id: a.map(|a| a.instance_id.clone()).unwrap_or_default(),
        instance_type: a.map(|a| a.instance_type.clone()).unwrap_or_default(),
        instance_region_id: a.map(|_| region.to_string()).unwrap_or_default(),
        private_ip_address: a.map(|a| a.private_ip.to_string()).unwrap_or_default(),
        mode: a.map(|a| a.mode.clone()).unwrap_or_default(),
        vpc_id: a.map(|_| vpc.to_string()).unwrap_or_default(),
        bandwidth: e.bandwidth.to_string(),
        eip_bandwidth: e.bandwidth.to_string(),
        bandwidth_package_bandwidth: pkg.map(|p| p.bandwidth.to_string()).unwrap_or_default(),
        bandwidth_package_id: e.bandwidth_package_id.clone().unwrap_or_default(),
        bandwidth_package_type: pkg
            .map(|_| "CommonBandwidthPackage".to_string())
            .unwrap_or_default(),
        charge_type: e.charge_type.clone(),
        internet_charge_type: e.internet_charge_type.clone(),
        isp: e.isp.clone(),
        netmode: e.netmode.clone(),
        name: e.name.clone(),
        description: e.description.clone(),
        allocation_time: e.allocation_time.clone(),
        resource_group_id: e.resource_group_id.clone(),
        business_status: "Normal".into(),
        hd_monitor_status: "OFF".into(),
        has_reservation_data: "false".into(),
        public_ip_address_pool_id: e.public_ip_address_pool_id.clone(),
        tags: model::VpcTags {
            tag: e
                .tags
                .iter()
                .map(|(k, v)| model::VpcTag {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        },
        ..Default::default()
    }
}

/// One page of `all` as the API pages (`PageNumber` from 1, `PageSize` up to `max`): the
/// page's items, the total, and the page number and size to echo.
struct Page<T> {
    items: Vec<T>,
    total: i64,
    number: i64,
    size: i64,
}

fn numbered_page<T>(p: &Params, all: Vec<T>, max: u32) -> Result<Page<T>, ApiError> {
    let number = p.u32_in("PageNumber", 1, 1, u32::MAX)?;
    let size = p.u32_in("PageSize", 10, 1, max)?;
    let total = all.len() as i64;
    let offset = (number as usize - 1).saturating_mul(size as usize);
    let items = all.into_iter().skip(offset).take(size as usize).collect();
    Ok(Page {
        items,
        total,
        number: i64::from(number),
        size: i64::from(size),
    })
}

fn describe_bandwidth_packages(st: &SimState, p: &Params, rid: &str) -> Result<Value, ApiError> {
    let all: Vec<model::CommonBandwidthPackage> = st
        .bandwidth_packages
        .values()
        .filter(|b| {
            p.get("BandwidthPackageId")
                .is_none_or(|id| id == b.bandwidth_package_id)
        })
        .map(|b| model::CommonBandwidthPackage {
            bandwidth_package_id: b.bandwidth_package_id.clone(),
            status: "Available".into(),
            bandwidth: b.bandwidth.to_string(),
            name: String::new(),
            isp: "BGP".into(),
            region_id: st.region_id.clone(),
        })
        .collect();
    let page = numbered_page(p, all, 50)?;
    to_value(&model::DescribeCommonBandwidthPackagesResponse {
        request_id: rid.to_string(),
        total_count: page.total,
        page_number: page.number,
        page_size: page.size,
        common_bandwidth_packages: model::CommonBandwidthPackages {
            common_bandwidth_package: page.items,
        },
    })
}

fn describe_vswitches(st: &SimState, p: &Params, rid: &str) -> Result<Value, ApiError> {
    let owner: i64 = st.account_id.parse().unwrap_or(0);
    let all: Vec<model::VSwitch> = st
        .vswitches
        .values()
        .filter(|_| p.get("VpcId").is_none_or(|v| v == st.vpc_id))
        .filter(|v| p.get("VSwitchId").is_none_or(|id| id == v.vswitch_id))
        .filter(|v| p.get("ZoneId").is_none_or(|z| z == v.zone_id))
        .map(|v| model::VSwitch {
            vswitch_id: v.vswitch_id.clone(),
            vpc_id: st.vpc_id.clone(),
            zone_id: v.zone_id.clone(),
            cidr_block: v.cidr_block.to_string(),
            available_ip_address_count: i64::try_from(v.available()).unwrap_or(i64::MAX),
            status: "Available".into(),
            vswitch_name: format!("sim-{}", v.zone_id),
            creation_time: "2026-01-01T00:00:00Z".into(),
            resource_group_id: DEFAULT_RESOURCE_GROUP.into(),
            owner_id: owner,
            route_table: model::RouteTable {
                route_table_id: "vtb-bp1sim00000000000000".into(),
                route_table_type: "System".into(),
            },
            ..Default::default()
        })
        .collect();
    let page = numbered_page(p, all, 50)?;
    to_value(&model::DescribeVSwitchesResponse {
        request_id: rid.to_string(),
        total_count: page.total,
        page_number: page.number,
        page_size: page.size,
        vswitches: model::VSwitches {
            vswitch: page.items,
        },
    })
}
