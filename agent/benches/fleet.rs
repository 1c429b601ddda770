//! Benchmark: many agents sharing one account's rate limits.
//!
//! 50 nodes, one agent each, `FLEET_PODS` EIP pods per node (default 4); cloudsim enforces
//! AllocateEipAddress and AssociateEipAddress at 20 per (scaled) minute-as-second each,
//! for the whole account (a token bucket: 20 at once, then one every 50 ms). Every agent
//! has its own cloud client and limiter, as separate processes would. Checks that every pod
//! ends bound with one EIP each, and reports the provisioning rate as a fraction of the
//! limit, measured three ways:
//!
//! - whole run: (pods - burst) / (last pod bound - first pod created);
//! - binds: EIPs reaching Bound per second from the burst-th bound to the last (each of
//!   those needed a token the bucket refilled);
//! - cloud: successful AllocateEipAddress (and AssociateEipAddress) calls per second beyond
//!   the burst, from the first to the last success.
//!
//! Run with `cargo bench -p eip-agent --bench fleet` (`FLEET_PODS=12` for a longer steady
//! state).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Env, EnvOptions, WITH_EIP};
use eip_agent::limiter::{AdaptiveLimiter, LimiterConfig, Observers};
use eip_agent::metrics::{CloudObserver, Metrics};
use eip_cloud::credentials::Credentials;
use eip_cloud::metrics::{CallObserver, CallOutcome, CallRecord};
use eip_cloud::{AliyunClient, Cloud, RetryPolicy};
use eip_cloudsim::{RateLimit, RateLimits};
use eip_core::names;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

const AGENTS: usize = 50;
const LIMIT_PER_SEC: u32 = 20;
const PACED: [&str; 2] = ["AllocateEipAddress", "AssociateEipAddress"];

/// Measurement only (it steers nothing): when each paced call succeeded or was throttled,
/// over all agents.
#[derive(Debug, Default)]
struct Timeline {
    calls: Mutex<Vec<(Instant, String, bool)>>,
}

impl CallObserver for Timeline {
    fn observe(&self, r: &CallRecord<'_>) {
        let throttled =
            matches!(r.outcome, CallOutcome::ApiError { code } if code.contains("Throttling"));
        if PACED.contains(&r.action)
            && (throttled || r.outcome == CallOutcome::Success)
            && let Ok(mut c) = self.calls.lock()
        {
            c.push((Instant::now(), r.action.to_owned(), throttled));
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(900), run()).await??;
    Ok(())
}

/// `n` events from `from` to `to`, per second, as a fraction of the limit.
fn fraction(n: usize, from: Instant, to: Instant) -> f64 {
    let secs = to.saturating_duration_since(from).as_secs_f64().max(1e-9);
    n as f64 / secs / f64::from(LIMIT_PER_SEC)
}

async fn run() -> anyhow::Result<()> {
    let pods_per_node: usize = std::env::var("FLEET_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let names: Vec<&'static str> = (0..AGENTS)
        .map(|i| &*Box::leak(format!("node-{i}").into_boxed_str()))
        .collect();
    let mut per_action = BTreeMap::new();
    for a in PACED {
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
        instance_type: common::BIG_INSTANCE_TYPE,
        rate_limits: Some(RateLimits {
            enabled: true,
            time_scale: 60.0,
            per_action,
            retry_after_header: false,
        }),
        ..EnvOptions::default()
    })
    .await?;
    let timeline = Arc::new(Timeline::default());
    let mut agents = Vec::new();
    let mut metrics_all = Vec::new();
    for i in 0..AGENTS {
        let metrics = Arc::new(Metrics::new());
        // The account limit, 20 per scaled minute: what the production default (120 per
        // minute) is to a real minute.
        let mut lc = LimiterConfig::for_limit(f64::from(LIMIT_PER_SEC));
        // Tuning runs: FLEET_AIMD="min,increase,decrease" as fractions of the limit (decrease
        // as a factor).
        if let Ok(v) = std::env::var("FLEET_AIMD") {
            let k: Vec<f64> = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
            let limit = f64::from(LIMIT_PER_SEC);
            lc.min_rate = k.first().map_or(lc.min_rate, |x| x * limit);
            lc.increase = k.get(1).map_or(lc.increase, |x| x * limit);
            lc.decrease = k.get(2).copied().unwrap_or(lc.decrease);
        }
        let limiter = Arc::new(AdaptiveLimiter::new(lc));
        let cloud: Arc<dyn Cloud> = Arc::new(
            AliyunClient::builder()
                .region("cn-hangzhou")
                .endpoint(env.sim.url())
                .credentials(Credentials::new("testid", "testsecret"))
                // As in production: the limiter retries throttled paced calls through its
                // pace; the client retries everything else.
                .pacer(limiter.clone())
                .retry(RetryPolicy {
                    max_attempts: 4,
                    min_delay: Duration::from_millis(50),
                    max_delay: Duration::from_millis(400),
                    jitter: true,
                })
                .observer(Arc::new(Observers(vec![
                    Arc::new(CloudObserver(metrics.clone())),
                    limiter.clone(),
                    timeline.clone(),
                ])))
                .build()?,
        );
        let mut cfg = env.agent_config(i);
        cfg.gc = false;
        cfg.resync_interval = Duration::from_secs(3600);
        cfg.retry_interval = Duration::from_millis(200);
        agents.push(env.agent_with(cfg, i, None, cloud, metrics.clone()).await?);
        metrics_all.push(metrics);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let total = AGENTS * pods_per_node;

    // When each pod's allocated-eipAddress appeared.
    let api: Api<Pod> = Api::namespaced(env.client.clone(), common::NS);
    let watch = tokio::spawn(async move {
        let mut bound: HashMap<String, Instant> = HashMap::new();
        let mut stream = watcher(api, watcher::Config::default()).boxed();
        while let Some(Ok(ev)) = stream.next().await {
            if let watcher::Event::Apply(p) | watcher::Event::InitApply(p) = ev
                && p.annotations().contains_key(names::ALLOCATED_EIP_ADDRESS)
            {
                bound.entry(p.name_any()).or_insert_with(Instant::now);
            }
            if bound.len() >= total {
                break;
            }
        }
        bound
    });

    let started = Instant::now();
    for i in 0..AGENTS {
        for j in 0..pods_per_node {
            env.pod(&format!("p-{i}-{j}"), i, &[WITH_EIP]).await?;
        }
    }
    let created = started.elapsed();
    for i in 0..AGENTS {
        for j in 0..pods_per_node {
            env.wait_bound(&format!("p-{i}-{j}"), Duration::from_secs(600))
                .await?;
        }
    }
    let elapsed = started.elapsed();
    let mut binds: Vec<Instant> = watch.await?.into_values().collect();
    binds.sort();
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
    let burst = LIMIT_PER_SEC as usize;
    println!(
        "eip-agent fleet benchmark: {AGENTS} agents, {total} EIP pods, account limit {LIMIT_PER_SEC}/s per action (burst {burst})"
    );
    println!(
        "  all bound in {elapsed:.2?} (pods created in {created:.2?}); {throttled} throttled attempts"
    );
    println!(
        "  whole run: {:.0}% of the limit",
        100.0 * fraction(total - burst, started, started + elapsed)
    );
    if let (Some(b), Some(last)) = (binds.get(burst - 1), binds.last()) {
        println!(
            "  binds from the {burst}th to the last: {:.0}% of the limit",
            100.0 * fraction(binds.len() - burst, *b, *last)
        );
    }
    let calls = timeline.calls.lock().map(|c| c.clone()).unwrap_or_default();
    for a in PACED {
        let ok: Vec<Instant> = calls
            .iter()
            .filter(|(_, x, t)| x == a && !t)
            .map(|(i, _, _)| *i)
            .collect();
        let thr = calls.iter().filter(|(_, x, t)| x == a && *t).count();
        if let (Some(first), Some(last)) = (ok.first(), ok.last()) {
            println!(
                "  {a}: {} successes, {thr} throttled; successes beyond the burst {:.0}% of the limit",
                ok.len(),
                100.0 * fraction(ok.len().saturating_sub(burst), *first, *last)
            );
        }
    }
    // Binds per second of the run, to see the ramp and the tail.
    let secs = elapsed.as_secs() as usize + 1;
    let mut per_sec = vec![0u32; secs];
    for b in &binds {
        if let Some(n) = per_sec.get_mut(b.saturating_duration_since(started).as_secs() as usize) {
            *n += 1;
        }
    }
    println!("  binds per second: {per_sec:?}");
    println!(
        "  EIPs in the cloud: {} (one per pod)",
        env.sim.admin().eips().len()
    );
    for a in agents {
        a.shutdown().await;
    }
    Ok(())
}
