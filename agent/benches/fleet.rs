//! Benchmark: many agents sharing one account's rate limits.
//!
//! 50 nodes, one agent each, 4 EIP pods per node; cloudsim enforces AllocateEipAddress and
//! AssociateEipAddress at 20 per (scaled) minute-as-second for the whole account. Reports
//! the achieved provisioning rate as a fraction of the limit, and checks that every pod
//! ends bound. Run with `cargo bench -p eip-agent --bench fleet`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Env, EnvOptions, WITH_EIP};
use eip_agent::limiter::{AdaptiveCloud, AdaptiveLimiter, LimiterConfig, Observers};
use eip_agent::metrics::{CloudObserver, Metrics};
use eip_cloud::credentials::Credentials;
use eip_cloud::{AliyunClient, Cloud, RetryPolicy};
use eip_cloudsim::{RateLimit, RateLimits};

const AGENTS: usize = 50;
const PODS_PER_NODE: usize = 4;
const LIMIT_PER_SEC: u32 = 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(600), run()).await??;
    Ok(())
}

async fn run() -> anyhow::Result<()> {
    let names: Vec<&'static str> = (0..AGENTS)
        .map(|i| &*Box::leak(format!("node-{i}").into_boxed_str()))
        .collect();
    let mut per_action = BTreeMap::new();
    for a in ["AllocateEipAddress", "AssociateEipAddress"] {
        per_action.insert(
            a.to_owned(),
            RateLimit {
                limit: LIMIT_PER_SEC,
                period_secs: 60.0,
            },
        );
    }
    let env = Env::start(EnvOptions {
        nodes: names,
        rate_limits: Some(RateLimits {
            enabled: true,
            time_scale: 60.0,
            per_action,
            retry_after_header: false,
        }),
        ..EnvOptions::default()
    })
    .await?;
    // AIMD knobs: FLEET_AIMD="min,increase,decrease,client_attempts" (for tuning runs).
    let knobs: Vec<f64> = std::env::var("FLEET_AIMD")
        .unwrap_or_else(|_| "0.4,1.0,0.8,1".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let knob = |i: usize, d: f64| knobs.get(i).copied().unwrap_or(d);
    let mut agents = Vec::new();
    let mut metrics_all = Vec::new();
    for i in 0..AGENTS {
        let metrics = Arc::new(Metrics::new());
        let limiter = Arc::new(AdaptiveLimiter::new(LimiterConfig {
            max_rate: f64::from(LIMIT_PER_SEC),
            min_rate: knob(0, 0.2),
            increase: knob(1, 0.2),
            decrease: knob(2, 0.5),
            max_wait: Duration::from_secs(60),
        }));
        let inner: Arc<dyn Cloud> = Arc::new(
            AliyunClient::builder()
                .region("cn-hangzhou")
                .endpoint(env.sim.url())
                .credentials(Credentials::new("testid", "testsecret"))
                .retry(RetryPolicy {
                    max_attempts: knob(3, 4.0) as u32,
                    min_delay: Duration::from_millis(50),
                    max_delay: Duration::from_millis(400),
                    jitter: true,
                })
                .observer(Arc::new(Observers(vec![
                    Arc::new(CloudObserver(metrics.clone())),
                    limiter.clone(),
                ])))
                .build()?,
        );
        let cloud: Arc<dyn Cloud> = Arc::new(AdaptiveCloud::new(inner, limiter));
        let mut cfg = env.agent_config(i);
        cfg.gc = false;
        cfg.resync_interval = Duration::from_secs(3600);
        cfg.retry_interval = Duration::from_millis(200);
        agents.push(env.agent_with(cfg, i, None, cloud, metrics.clone()).await?);
        metrics_all.push(metrics);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let total = AGENTS * PODS_PER_NODE;
    let started = Instant::now();
    for i in 0..AGENTS {
        for j in 0..PODS_PER_NODE {
            env.pod(&format!("p-{i}-{j}"), i, &[WITH_EIP]).await?;
        }
    }
    let created = started.elapsed();
    for i in 0..AGENTS {
        for j in 0..PODS_PER_NODE {
            env.wait_bound(&format!("p-{i}-{j}"), Duration::from_secs(300))
                .await?;
        }
    }
    let elapsed = started.elapsed();
    let throttled: u64 = metrics_all
        .iter()
        .flat_map(|m| {
            m.encode()
                .lines()
                .filter(|l| {
                    l.starts_with("eip_agent_cloud_calls_total{") && l.contains("Throttling")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum();
    let burst = f64::from(LIMIT_PER_SEC);
    let rate = (total as f64 - burst) / elapsed.as_secs_f64();
    println!(
        "eip-agent fleet benchmark: {AGENTS} agents, {total} EIP pods, account limit {LIMIT_PER_SEC}/s per action"
    );
    println!(
        "  all bound in {elapsed:?} (pods created in {created:?}); {throttled} throttled attempts"
    );
    println!(
        "  provisioning rate beyond the initial burst: {rate:.1}/s = {:.0}% of the limit",
        100.0 * rate / burst
    );
    println!(
        "  EIPs in the cloud: {} (one per pod)",
        env.sim.admin().eips().len()
    );
    for a in agents {
        a.shutdown().await;
    }
    Ok(())
}
