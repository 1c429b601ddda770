//! ECS 2014-05-26: ENIs, instance types, instances and private IP assignment.

use std::net::Ipv4Addr;
use std::time::Instant;

use eip_cloud::model;
use serde_json::{Value, json};

use super::{check_region, ipv4, next_token_offset, page};
use crate::apierror::ApiError;
use crate::params::Params;
use crate::state::{EipStatus, Eni, SimState};

/// The ECS actions served.
pub const ACTIONS: &[&str] = &[
    "DescribeNetworkInterfaces",
    "DescribeInstanceTypes",
    "DescribeInstances",
    "AssignPrivateIpAddresses",
    "UnassignPrivateIpAddresses",
];

/// The security group every ENI reports.
pub const SECURITY_GROUP: &str = "sg-bp1sim00000000000000";

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|_| ApiError::internal())
}

/// Runs one ECS action.
pub fn handle(
    st: &mut SimState,
    action: &str,
    p: &Params,
    rid: &str,
    now: Instant,
) -> Result<Value, ApiError> {
    let region = st.region_id.clone();
    // DescribeInstanceTypes is global: RegionId is optional (the SDK has no such field).
    if action != "DescribeInstanceTypes" || p.get("RegionId").is_some() {
        check_region(p, &region)?;
    }
    st.settle(now);
    match action {
        "DescribeNetworkInterfaces" => describe_enis(st, p, rid),
        "DescribeInstanceTypes" => describe_types(st, p, rid),
        "DescribeInstances" => describe_instances(st, p, rid),
        "AssignPrivateIpAddresses" => {
            let eni = p.required("NetworkInterfaceId")?;
            if p.get("Ipv4PrefixCount").is_some() || !p.indexed("Ipv4Prefix", 10)?.is_empty() {
                return Err(ApiError::unsupported(
                    "Ipv4Prefix",
                    "IPv4 prefixes are not supported by this emulator.",
                ));
            }
            let wanted = p
                .indexed("PrivateIpAddress", 32)?
                .iter()
                .map(|v| ipv4("PrivateIpAddress", v))
                .collect::<Result<Vec<Ipv4Addr>, _>>()?;
            let count = p.u32("SecondaryPrivateIpAddressCount")?;
            let count = match (wanted.is_empty(), count) {
                (true, Some(n)) if (1..=32).contains(&n) => n,
                (true, Some(_)) => {
                    return Err(ApiError::invalid(
                        "SecondaryPrivateIpAddressCount",
                        "It must be between 1 and 32.",
                    ));
                }
                (false, None) => 0,
                (true, None) => return Err(ApiError::missing("SecondaryPrivateIpAddressCount")),
                (false, Some(_)) => {
                    return Err(ApiError::invalid(
                        "SecondaryPrivateIpAddressCount",
                        "Give either PrivateIpAddress.N or SecondaryPrivateIpAddressCount.",
                    ));
                }
            };
            let got = st.assign_private_ips(eni, &wanted, count)?;
            Ok(json!({
                "RequestId": rid,
                "AssignedPrivateIpAddressesSet": {
                    "NetworkInterfaceId": eni,
                    "PrivateIpSet": {"PrivateIpAddress": got.iter().map(ToString::to_string).collect::<Vec<_>>()},
                    "Ipv4PrefixSet": {"Ipv4Prefixes": []},
                }
            }))
        }
        "UnassignPrivateIpAddresses" => {
            let eni = p.required("NetworkInterfaceId")?;
            let ips = p
                .indexed("PrivateIpAddress", 50)?
                .iter()
                .map(|v| ipv4("PrivateIpAddress", v))
                .collect::<Result<Vec<Ipv4Addr>, _>>()?;
            if ips.is_empty() {
                return Err(ApiError::missing("PrivateIpAddress"));
            }
            st.unassign_private_ips(eni, &ips)?;
            to_value(&model::RequestIdResponse {
                request_id: rid.to_string(),
            })
        }
        _ => Err(ApiError::api_not_found()),
    }
}

fn public_ip(st: &SimState, eni: &str, ip: Ipv4Addr) -> Option<model::AssociatedPublicIp> {
    st.public_ip_of(eni, ip).map(|e| model::AssociatedPublicIp {
        public_ip_address: e.ip_address.to_string(),
        allocation_id: e.allocation_id.clone(),
    })
}

fn ip_sets(st: &SimState, eni: &Eni) -> model::PrivateIpSets {
    model::PrivateIpSets {
        private_ip_set: eni
            .ips()
            .map(|ip| model::PrivateIpSet {
                private_ip_address: ip.to_string(),
                primary: ip == eni.primary_ip,
                private_dns_name: String::new(),
                associated_public_ip: public_ip(st, &eni.eni_id, ip),
            })
            .collect(),
    }
}

/// Token paging (`MaxResults`/`NextToken`) when either is given, else page numbers.
enum Paging {
    Token { offset: usize, max: usize },
    Pages { number: u32, size: u32 },
}

fn paging(p: &Params, max_results_cap: u32, page_size_cap: u32) -> Result<Paging, ApiError> {
    if p.get("MaxResults").is_some() || p.get("NextToken").is_some() {
        let max = p.u32("MaxResults")?.unwrap_or(max_results_cap.min(100));
        if max == 0 || max > max_results_cap {
            return Err(ApiError::invalid(
                "MaxResults",
                format!("It must be between 1 and {max_results_cap}."),
            ));
        }
        Ok(Paging::Token {
            offset: next_token_offset(p)?,
            max: max as usize,
        })
    } else {
        Ok(Paging::Pages {
            number: p.u32_in("PageNumber", 1, 1, u32::MAX)?,
            size: p.u32_in("PageSize", 10, 1, page_size_cap)?,
        })
    }
}

/// Applies paging: (items, total, page number, page size, next token).
fn apply<T>(items: Vec<T>, paging: &Paging) -> (Vec<T>, i64, i64, i64, Option<String>) {
    let total = items.len() as i64;
    match paging {
        Paging::Token { offset, max } => {
            let (items, next) = page(items, *offset, *max);
            (items, total, 0, *max as i64, Some(next.unwrap_or_default()))
        }
        Paging::Pages { number, size } => {
            let offset = (*number as usize - 1).saturating_mul(*size as usize);
            let items = items
                .into_iter()
                .skip(offset)
                .take(*size as usize)
                .collect();
            (items, total, i64::from(*number), i64::from(*size), None)
        }
    }
}

fn describe_enis(st: &SimState, p: &Params, rid: &str) -> Result<Value, ApiError> {
    let ids = p.indexed("NetworkInterfaceId", 100)?;
    let ips = p
        .indexed("PrivateIpAddress", 100)?
        .iter()
        .map(|v| ipv4("PrivateIpAddress", v))
        .collect::<Result<Vec<_>, _>>()?;
    let primary = p
        .get("PrimaryIpAddress")
        .map(|v| ipv4("PrimaryIpAddress", v))
        .transpose()?;
    let mut paging = paging(p, 500, 500)?;
    if let Paging::Token { max, .. } = &mut paging {
        *max = (*max).max(10);
    }
    let mut enis: Vec<&Eni> = st
        .enis
        .values()
        .filter(|e| ids.is_empty() || ids.contains(&e.eni_id))
        .filter(|e| ips.is_empty() || ips.iter().any(|ip| e.has_ip(*ip)))
        .filter(|e| primary.is_none_or(|ip| e.primary_ip == ip))
        .filter(|e| {
            p.get("InstanceId")
                .is_none_or(|i| e.instance_id.as_deref() == Some(i))
        })
        .filter(|e| p.get("VSwitchId").is_none_or(|v| v == e.vswitch_id))
        .filter(|_| p.get("VpcId").is_none_or(|v| v == st.vpc_id))
        .filter(|e| p.get("Type").is_none_or(|t| t == e.eni_type))
        .filter(|e| p.get("Status").is_none_or(|s| s == e.status()))
        .collect();
    enis.sort_by_key(|e| e.seq);
    let (items, total, number, size, next) = apply(enis, &paging);
    let sets = items
        .into_iter()
        .map(|e| {
            let device_index = e
                .instance_id
                .as_ref()
                .and_then(|i| st.instances.get(i))
                .and_then(|i| i.enis.iter().position(|x| x == &e.eni_id))
                .unwrap_or(0);
            model::NetworkInterfaceSet {
                network_interface_id: e.eni_id.clone(),
                status: e.status().into(),
                r#type: e.eni_type.clone(),
                vpc_id: st.vpc_id.clone(),
                vswitch_id: e.vswitch_id.clone(),
                zone_id: e.zone_id.clone(),
                private_ip_address: e.primary_ip.to_string(),
                mac_address: e.mac.clone(),
                instance_id: e.instance_id.clone().unwrap_or_default(),
                creation_time: e.creation_time.clone(),
                resource_group_id: super::vpc::DEFAULT_RESOURCE_GROUP.into(),
                owner_id: st.account_id.clone(),
                network_interface_traffic_mode: "Standard".into(),
                queue_number: 1,
                delete_on_release: true,
                security_group_ids: model::SecurityGroupIds {
                    security_group_id: vec![SECURITY_GROUP.into()],
                },
                private_ip_sets: ip_sets(st, e),
                associated_public_ip: public_ip(st, &e.eni_id, e.primary_ip),
                attachment: e.instance_id.as_ref().map(|i| model::Attachment {
                    instance_id: i.clone(),
                    device_index: device_index as i64,
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect();
    to_value(&model::DescribeNetworkInterfacesResponse {
        request_id: rid.to_string(),
        total_count: total,
        page_number: number,
        page_size: size,
        next_token: next,
        network_interface_sets: model::NetworkInterfaceSets {
            network_interface_set: sets,
        },
    })
}

fn describe_types(st: &SimState, p: &Params, rid: &str) -> Result<Value, ApiError> {
    let wanted = p.indexed("InstanceTypes", 10)?;
    let family = p.get("InstanceTypeFamily");
    let max = p.u32_in("MaxResults", 1600, 1, 1600)? as usize;
    let offset = next_token_offset(p)?;
    let all: Vec<model::InstanceType> = st
        .instance_types
        .values()
        .filter(|t| wanted.is_empty() || wanted.contains(&t.instance_type_id))
        .map(|t| {
            let fam = t
                .instance_type_id
                .rsplit_once('.')
                .map(|(f, _)| f.to_string())
                .unwrap_or_default();
            model::InstanceType {
                instance_type_id: t.instance_type_id.clone(),
                instance_type_family: fam,
                cpu_core_count: i64::from(t.cpu_core_count),
                memory_size: t.memory_size,
                eni_quantity: i64::from(t.eni_quantity),
                eni_private_ip_address_quantity: i64::from(t.eni_private_ip_address_quantity),
                eni_ipv6_address_quantity: i64::from(t.eni_ipv6_address_quantity),
                eni_total_quantity: i64::from(t.eni_quantity),
                eni_trunk_supported: true,
            }
        })
        .filter(|t| family.is_none_or(|f| f == t.instance_type_family))
        .collect();
    let (items, next) = page(all, offset, max);
    to_value(&model::DescribeInstanceTypesResponse {
        request_id: rid.to_string(),
        next_token: next,
        instance_types: model::InstanceTypes {
            instance_type: items,
        },
    })
}

fn json_list(p: &Params, name: &str, max: usize) -> Result<Vec<String>, ApiError> {
    let Some(raw) = p.get(name) else {
        return Ok(Vec::new());
    };
    let list: Vec<String> = serde_json::from_str(raw)
        .map_err(|_| ApiError::invalid(name, "It must be a JSON array of strings."))?;
    if list.len() > max {
        return Err(ApiError::invalid(
            name,
            format!("At most {max} values are allowed."),
        ));
    }
    Ok(list)
}

fn describe_instances(st: &SimState, p: &Params, rid: &str) -> Result<Value, ApiError> {
    let ids = json_list(p, "InstanceIds", 100)?;
    let private_ips = json_list(p, "PrivateIpAddresses", 100)?;
    let paging = paging(p, 100, 100)?;
    let mut insts: Vec<&crate::state::Instance> = st
        .instances
        .values()
        .filter(|i| ids.is_empty() || ids.contains(&i.instance_id))
        .filter(|_| p.get("VpcId").is_none_or(|v| v == st.vpc_id))
        .filter(|i| p.get("VSwitchId").is_none_or(|v| v == i.vswitch_id))
        .filter(|i| p.get("ZoneId").is_none_or(|z| z == i.zone_id))
        .filter(|_| p.get("Status").is_none_or(|s| s == "Running"))
        .filter(|i| {
            private_ips.is_empty()
                || i.enis
                    .first()
                    .and_then(|e| st.enis.get(e))
                    .is_some_and(|e| private_ips.contains(&e.primary_ip.to_string()))
        })
        .collect();
    insts.sort_by_key(|i| i.seq);
    let (items, total, number, size, next) = apply(insts, &paging);
    let instances = items
        .into_iter()
        .map(|i| {
            let enis: Vec<&Eni> = i.enis.iter().filter_map(|e| st.enis.get(e)).collect();
            let primary_ip = enis.first().map(|e| e.primary_ip.to_string());
            let eip = st.eips.values().find(|e| {
                e.status == EipStatus::InUse
                    && e.association.as_ref().is_some_and(|a| {
                        a.instance_type == "EcsInstance" && a.instance_id == i.instance_id
                    })
            });
            model::Instance {
                instance_id: i.instance_id.clone(),
                instance_name: i.hostname.clone(),
                status: "Running".into(),
                instance_type: i.instance_type.clone(),
                region_id: st.region_id.clone(),
                zone_id: i.zone_id.clone(),
                vpc_attributes: model::VpcAttributes {
                    vpc_id: st.vpc_id.clone(),
                    vswitch_id: i.vswitch_id.clone(),
                    nat_ip_address: String::new(),
                    private_ip_address: model::IpAddressList {
                        ip_address: primary_ip.into_iter().collect(),
                    },
                },
                network_interfaces: model::InstanceNetworkInterfaces {
                    network_interface: enis
                        .iter()
                        .map(|e| model::InstanceNetworkInterface {
                            network_interface_id: e.eni_id.clone(),
                            r#type: e.eni_type.clone(),
                            mac_address: e.mac.clone(),
                            primary_ip_address: e.primary_ip.to_string(),
                            private_ip_sets: ip_sets(st, e),
                        })
                        .collect(),
                },
                eip_address: eip
                    .map(|e| model::InstanceEipAddress {
                        allocation_id: e.allocation_id.clone(),
                        ip_address: e.ip_address.to_string(),
                        bandwidth: i64::from(e.bandwidth),
                        internet_charge_type: e.internet_charge_type.clone(),
                    })
                    .unwrap_or_default(),
                ..Default::default()
            }
        })
        .collect();
    to_value(&model::DescribeInstancesResponse {
        request_id: rid.to_string(),
        total_count: total,
        page_number: number,
        page_size: size,
        next_token: next,
        instances: model::Instances {
            instance: instances,
        },
    })
}
