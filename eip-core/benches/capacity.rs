//! The filter hot path: `check_node` over 5,000 nodes (the extender's worst case with
//! `percentageOfNodesToScore: 100`), with every tenth node full so reasons get formatted too.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use eip_core::capacity::{
    EipDemand, InstanceTypeCapacity, NodeCapacity, NodeView, PodDemand, RegionView, SlotSource,
    check_node, check_pod,
};

fn nodes(names: &[String]) -> Vec<NodeView<'_>> {
    let e = InstanceTypeCapacity::new(3, 10);
    names
        .iter()
        .enumerate()
        .map(|(i, name)| NodeView {
            name,
            instance_type: Some("ecs.g7.large"),
            capacity: NodeCapacity::Known {
                total: e.pod_ip_slots(),
                source: SlotSource::BuiltinTable(e),
            },
            used_slots: if i % 10 == 0 { 20 } else { 7 },
            reserved_slots: 1,
            zone: Some("cn-hangzhou-h"),
            zone_free_ips: Some(500),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let names: Vec<String> = (0..5000).map(|i| format!("node-{i}")).collect();
    let nodes = nodes(&names);
    let pod = PodDemand {
        host_network: false,
        eip: EipDemand::New,
    };
    let region = RegionView {
        region: "cn-hangzhou",
        eip_enabled: true,
        allow_eip_rob: false,
        eip_invalid: None,
        eip_quota: 20,
        eips_allocated: 3,
        eips_pending: 1,
    };
    c.bench_function(
        "check_pod + check_node x5000, 10% rejected with reason",
        |b| {
            b.iter(|| {
                let mut accepted = 0usize;
                let mut reasons = Vec::new();
                if check_pod(black_box(&pod), black_box(&region)).is_ok() {
                    for n in &nodes {
                        match check_node(black_box(&pod), n) {
                            Ok(()) => accepted += 1,
                            Err(r) => reasons.push((n.name, r.to_string())),
                        }
                    }
                }
                black_box((accepted, reasons))
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
