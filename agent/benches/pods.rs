//! Benchmark: 100 pods on one node with zero cloud latency.
//!
//! Measures, from the outside (a watch on the pods), the time from a pod's IP appearing to
//! its `allocated-eipAddress` annotation (p50/p99), and counts the cloud API calls the
//! emulator received per pod from creation to deletion. Run with
//! `cargo bench -p eip-agent --bench pods`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{BIG_INSTANCE_TYPE, Env, EnvOptions, WITH_EIP, eventually};
use eip_cloudsim::Delays;
use eip_core::names;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

const PODS: usize = 100;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(300), run()).await??;
    Ok(())
}

async fn run() -> anyhow::Result<()> {
    let env = Env::start(EnvOptions {
        instance_type: BIG_INSTANCE_TYPE,
        delays: Delays {
            associate_ms: 0,
            unassociate_ms: 0,
            release_ms: 0,
        },
        ..EnvOptions::default()
    })
    .await?;
    let mut cfg = env.agent_config(0);
    cfg.gc = false;
    cfg.resync_interval = Duration::from_secs(3600);
    let agent = env.agent(cfg, 0, None).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.sim.admin().reset_calls();

    // Watch the pods: when each got its IP, when its annotation appeared.
    let api: Api<Pod> = Api::namespaced(env.client.clone(), common::NS);
    let watch = tokio::spawn(async move {
        let mut ip_at: HashMap<String, Instant> = HashMap::new();
        let mut lat: HashMap<String, Duration> = HashMap::new();
        let mut stream = watcher(api, watcher::Config::default()).boxed();
        while let Some(Ok(ev)) = stream.next().await {
            let pods: Vec<Pod> = match ev {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => vec![p],
                _ => continue,
            };
            for p in pods {
                let name = p.name_any();
                let has_ip = p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some();
                if has_ip {
                    ip_at.entry(name.clone()).or_insert_with(Instant::now);
                }
                if p.annotations().contains_key(names::ALLOCATED_EIP_ADDRESS)
                    && let Some(t) = ip_at.get(&name)
                {
                    lat.entry(name).or_insert_with(|| t.elapsed());
                }
            }
            if lat.len() >= PODS {
                break;
            }
        }
        lat
    });

    let started = Instant::now();
    for i in 0..PODS {
        env.pod(&format!("b-{i}"), 0, &[WITH_EIP]).await?;
    }
    let lat = watch.await?;
    let all_bound = started.elapsed();
    let mut v: Vec<Duration> = lat.values().copied().collect();
    v.sort();
    let bind_calls: u64 = env.eip_calls();
    for i in 0..PODS {
        env.delete_pod(&format!("b-{i}")).await?;
    }
    for i in 0..PODS {
        env.wait_gone(&format!("b-{i}"), Duration::from_secs(60))
            .await?;
    }
    eventually(Duration::from_secs(60), "all released", || {
        let n = env.sim.admin().eips().len();
        async move { (n == 0).then_some(()) }
    })
    .await?;
    let total_calls = env.eip_calls();
    let calls = env.sim.admin().calls();
    println!("eip-agent benchmark: {PODS} pods on one node, zero cloud latency");
    println!(
        "  pod IP -> allocated-eipAddress: p50 {:?}, p99 {:?}, max {:?} ({} samples); all bound after {:?}",
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or_default(),
        v.len(),
        all_bound
    );
    println!(
        "  cloud calls per pod: {:.2} to bind, {:.2} creation to deletion",
        bind_calls as f64 / PODS as f64,
        total_calls as f64 / PODS as f64
    );
    println!("  by action: {calls:?}");
    agent.shutdown().await;
    Ok(())
}
