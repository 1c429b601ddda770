//! `kubectl eip nodes`: per node, pod IP slots (total, used, reserved, free) and the pods
//! that asked for an EIP; then the region's EIP quota and the free vSwitch IPs per zone.
//!
//! The numbers are eip-extender's (`/debug/state`, the view its decisions use). Without
//! it, what the API holds is shown (slots from the node's annotations and labels by
//! eip-core's rules, used slots from the pods on it) and the rest is `<unknown>`, with one
//! line on stderr saying why.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use eip_core::capacity::{node_capacity, node_instance_type, node_zone, pod_uses_slot};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};

use crate::cli::{Global, NodesArgs, Output};
use crate::connect::Kube;
use crate::error::{Call, Error};
use crate::extender::{self, DebugState};
use crate::list::{NONE, asks_for_eip};
use crate::table;

/// What a cell shows when only eip-extender knows it.
pub const UNKNOWN: &str = "<unknown>";

/// One node's row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeRow {
    /// Node name.
    pub name: String,
    /// Instance type label.
    pub instance_type: Option<String>,
    /// Zone label.
    pub zone: Option<String>,
    /// Pod IP slots (`None`: unknown).
    pub slots: Option<u32>,
    /// Slots used by pods.
    pub used: u32,
    /// Slots reserved by the extender's bind (`None`: unknown without the extender).
    pub reserved: Option<u32>,
    /// Free slots (`None`: unknown).
    pub free: Option<u32>,
    /// Pods on the node that asked for an EIP.
    pub eip_pods: u32,
}

/// The region's lines (`None` fields are unknown without the extender).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Region {
    /// Region name.
    pub name: Option<String>,
    /// EIPs allocated in the region.
    pub in_use: Option<u32>,
    /// EIP pods approved and waiting for their EIP.
    pub approved_unallocated: u32,
    /// The quota.
    pub quota: Option<u32>,
    /// Free vSwitch IPs per zone.
    pub zone_free_ips: Option<BTreeMap<String, u64>>,
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

/// The rows and region lines from the API's nodes and pods, and the extender's state when
/// it could be read.
pub fn build(nodes: &[Node], pods: &[Pod], state: Option<&DebugState>) -> (Vec<NodeRow>, Region) {
    let mut used: BTreeMap<&str, u32> = BTreeMap::new();
    let mut eip_pods: BTreeMap<&str, u32> = BTreeMap::new();
    for p in pods.iter().filter(|p| pod_uses_slot(p)) {
        let Some(n) = node_of(p) else { continue };
        *used.entry(n).or_default() += 1;
        if asks_for_eip(p.annotations()) {
            *eip_pods.entry(n).or_default() += 1;
        }
    }
    let from_extender: BTreeMap<&str, &extender::DebugNode> = state
        .map(|s| s.nodes.iter().map(|n| (n.name.as_str(), n)).collect())
        .unwrap_or_default();
    let mut rows: Vec<NodeRow> = nodes
        .iter()
        .map(|n| {
            let name = n.name_any();
            let labels = n.labels();
            let mut row = NodeRow {
                instance_type: node_instance_type(labels).map(str::to_owned),
                zone: node_zone(labels).map(str::to_owned),
                eip_pods: eip_pods.get(name.as_str()).copied().unwrap_or(0),
                ..NodeRow::default()
            };
            match (state, from_extender.get(name.as_str())) {
                (Some(_), Some(e)) => {
                    row.slots = e.slots;
                    row.used = e.used;
                    row.reserved = Some(e.reserved);
                    row.free = e.free;
                }
                (Some(_), None) => {
                    // A node the extender has not seen yet: it holds nothing there.
                    row.slots = node_capacity(labels, n.annotations()).total();
                    row.used = used.get(name.as_str()).copied().unwrap_or(0);
                    row.reserved = Some(0);
                    row.free = row.slots.map(|s| s.saturating_sub(row.used));
                }
                (None, _) => {
                    row.slots = node_capacity(labels, n.annotations()).total();
                    row.used = used.get(name.as_str()).copied().unwrap_or(0);
                    row.free = row.slots.map(|s| s.saturating_sub(row.used));
                }
            }
            row.name = name;
            row
        })
        .collect();
    let listed: BTreeSet<String> = rows.iter().map(|r| r.name.clone()).collect();
    for e in from_extender.values() {
        if e.known && !listed.contains(&e.name) {
            rows.push(NodeRow {
                name: e.name.clone(),
                instance_type: e.instance_type.clone(),
                zone: e.zone.clone(),
                slots: e.slots,
                used: e.used,
                reserved: Some(e.reserved),
                free: e.free,
                eip_pods: eip_pods.get(e.name.as_str()).copied().unwrap_or(0),
            });
        }
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    let region = match state {
        Some(s) => Region {
            name: Some(s.quota.region.clone()).filter(|r| !r.is_empty()),
            in_use: s.quota.allocated,
            approved_unallocated: s.quota.approved_unallocated,
            quota: Some(s.quota.quota),
            zone_free_ips: s
                .cloud_view_age_seconds
                .is_some()
                .then(|| s.zone_free_ips.clone()),
        },
        None => Region::default(),
    };
    (rows, region)
}

fn count(v: Option<u32>) -> String {
    v.map_or_else(|| UNKNOWN.to_owned(), |n| n.to_string())
}

/// The table and the region lines, as printed on stdout.
pub fn render(rows: &[NodeRow], region: &Region, no_headers: bool) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.instance_type.clone().unwrap_or_else(|| NONE.to_owned()),
                r.zone.clone().unwrap_or_else(|| NONE.to_owned()),
                count(r.slots),
                r.used.to_string(),
                count(r.reserved),
                count(r.free),
                r.eip_pods.to_string(),
            ]
        })
        .collect();
    let header = [
        "NAME",
        "INSTANCE-TYPE",
        "ZONE",
        "IP-SLOTS",
        "USED",
        "RESERVED",
        "FREE",
        "EIP-PODS",
    ];
    let mut out = table::render((!no_headers).then_some(&header[..]), &cells);
    out.push('\n');
    let mut eips = format!(
        "EIPs: {} in use of {}",
        count(region.in_use),
        count(region.quota)
    );
    if let Some(r) = &region.name {
        eips.push_str(&format!(" in region {r}"));
    }
    if region.approved_unallocated > 0 {
        eips.push_str(&format!(
            " ({} more approved, being allocated)",
            region.approved_unallocated
        ));
    }
    out.push_str(&eips);
    out.push('\n');
    match &region.zone_free_ips {
        Some(zones) if !zones.is_empty() => {
            for (zone, n) in zones {
                out.push_str(&format!("Free IPs in zone {zone}: {n}\n"));
            }
        }
        Some(_) => out.push_str("Free IPs per zone: none reported by eip-extender\n"),
        None => out.push_str(&format!("Free IPs per zone: {UNKNOWN}\n")),
    }
    out
}

/// The stderr line when the extender could not be read.
pub fn unknown_line(extender: Option<&str>, why: &str) -> String {
    let fix = match extender {
        Some(_) => "check the URL",
        None => "pass --extender URL to read it directly",
    };
    format!(
        "RESERVED, the EIP quota and free IPs are unknown and FREE ignores reservations: cannot read /debug/state of {} ({why}); {fix}",
        extender::source(extender)
    )
}

/// `kubectl eip nodes`.
pub async fn run(
    kube: &Kube,
    g: &Global,
    args: &NodesArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    if !matches!(g.output, Output::Table | Output::Wide) {
        return Err(Error::usage(
            "nodes",
            "nodes prints a table only: use -o table or -o wide",
        ));
    }
    let nodes = Api::<Node>::all(kube.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(kube.err(Call::new("list", "nodes")))?
        .items;
    let pods = Api::<Pod>::all(kube.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(kube.err(Call::new("list", "pods")))?
        .items;
    let extender = args.extender.as_deref();
    let state = match extender::debug_state(kube, extender).await {
        Ok(s) => Some(s),
        Err(why) => {
            writeln!(err, "{}", unknown_line(extender, &why)).map_err(Error::Output)?;
            None
        }
    };
    let (rows, region) = build(&nodes, &pods, state.as_ref());
    out.write_all(render(&rows, &region, g.no_headers).as_bytes())
        .map_err(Error::Output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extender::{DebugNode, DebugQuota};

    fn node(name: &str, zone: &str, max_ips: Option<&str>) -> Node {
        let mut ann = serde_json::Map::new();
        if let Some(m) = max_ips {
            ann.insert(eip_core::names::NODE_MAX_AVAILABLE_IP.into(), m.into());
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "annotations": ann, "labels": {
                eip_core::names::LABEL_INSTANCE_TYPE: "ecs.g7.large",
                eip_core::names::LABEL_ZONE: zone,
            }},
        }))
        .expect("node")
    }

    fn pod(name: &str, on: &str, eip: bool) -> Pod {
        let ann = if eip {
            serde_json::json!({eip_core::annotations::POD_WITH_EIP: "true"})
        } else {
            serde_json::json!({})
        };
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "default", "annotations": ann},
            "spec": {"nodeName": on, "containers": []},
        }))
        .expect("pod")
    }

    #[test]
    fn without_the_extender_slots_come_from_the_node_and_the_rest_is_unknown() {
        let nodes = [node("n1", "z-a", Some("10")), node("n2", "z-b", Some("x"))];
        let pods = [
            pod("a", "n1", true),
            pod("b", "n1", false),
            pod("c", "n2", true),
        ];
        let (rows, region) = build(&nodes, &pods, None);
        assert_eq!(
            render(&rows, &region, false),
            "\
NAME   INSTANCE-TYPE   ZONE   IP-SLOTS    USED   RESERVED    FREE        EIP-PODS
n1     ecs.g7.large    z-a    10          2      <unknown>   8           1
n2     ecs.g7.large    z-b    <unknown>   1      <unknown>   <unknown>   1

EIPs: <unknown> in use of <unknown>
Free IPs per zone: <unknown>
"
        );
    }

    #[test]
    fn the_extenders_numbers_win() {
        let nodes = [node("n1", "z-a", Some("10"))];
        let pods = [pod("a", "n1", true)];
        let state = DebugState {
            nodes: vec![DebugNode {
                name: "n1".into(),
                known: true,
                slots: Some(12),
                used: 2,
                reserved: 1,
                free: Some(9),
                ..DebugNode::default()
            }],
            quota: DebugQuota {
                region: "cn-hangzhou".into(),
                quota: 20,
                allocated: Some(3),
                approved_unallocated: 1,
            },
            zone_free_ips: [("z-a".to_owned(), 100), ("z-b".to_owned(), 7)].into(),
            cloud_view_age_seconds: Some(1.0),
        };
        let (rows, region) = build(&nodes, &pods, Some(&state));
        assert_eq!(
            render(&rows, &region, true),
            "\
n1    ecs.g7.large   z-a   12    2     1     9     1

EIPs: 3 in use of 20 in region cn-hangzhou (1 more approved, being allocated)
Free IPs in zone z-a: 100
Free IPs in zone z-b: 7
"
        );
    }
}
