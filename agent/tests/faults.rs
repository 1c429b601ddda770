//! Faults: 20% of cloud calls fail (throttling, 5xx, lost responses, timeouts). All pods
//! end Bound, no duplicate EIPs, no leaks.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Env, EnvOptions, WITH_EIP, bounded, eventually};
use eip_agent::metrics::{CloudObserver, Metrics};
use eip_cloud::credentials::Credentials;
use eip_cloud::{AliyunClient, Cloud, RetryPolicy};
use eip_cloudsim::{FaultEffect, FaultRule};
use kube::ResourceExt;

const WAIT: Duration = Duration::from_secs(60);

fn rule(effect: FaultEffect, rate: f64) -> FaultRule {
    FaultRule {
        action: "*".into(),
        effect,
        rate,
        times: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_percent_failing_calls_end_bound_without_duplicates_or_leaks() -> anyhow::Result<()>
{
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let admin = env.sim.admin();
        for f in [
            rule(
                FaultEffect::Error {
                    code: "Throttling.User".into(),
                    status: 400,
                    message: None,
                },
                0.055,
            ),
            rule(
                FaultEffect::Error {
                    code: "ServiceUnavailable".into(),
                    status: 503,
                    message: None,
                },
                0.055,
            ),
            rule(FaultEffect::LoseResponse { hang_ms: 0 }, 0.055),
            rule(FaultEffect::Timeout { hang_ms: 300 }, 0.055),
        ] {
            admin.add_fault(f);
        }
        let metrics = Arc::new(Metrics::new());
        let cloud: Arc<dyn Cloud> = Arc::new(
            AliyunClient::builder()
                .region("cn-hangzhou")
                .endpoint(env.sim.url())
                .credentials(Credentials::new("testid", "testsecret"))
                .timeout(Duration::from_millis(200))
                .retry(RetryPolicy {
                    max_attempts: 3,
                    min_delay: Duration::from_millis(10),
                    max_delay: Duration::from_millis(50),
                    jitter: true,
                })
                .observer(Arc::new(CloudObserver(metrics.clone())))
                .build()?,
        );
        let mut cfg = env.agent_config(0);
        cfg.gc = false;
        let agent = env.agent_with(cfg, 0, None, cloud, metrics.clone()).await?;
        let started = Instant::now();
        let pods: Vec<String> = (0..12).map(|i| format!("f-{i}")).collect();
        for p in &pods {
            env.pod(p, 0, &[WITH_EIP]).await?;
        }
        let mut ids = HashSet::new();
        for p in &pods {
            let (id, _) = env.wait_bound(p, WAIT).await?;
            assert!(ids.insert(id), "{p}: EIP shared with another pod");
            let uid = env.pods().get(p).await?.uid().unwrap_or_default();
            assert_eq!(env.eips_of(&uid).len(), 1, "{p}: duplicate EIPs");
        }
        eprintln!("12 pods bound under faults in {:?}", started.elapsed());
        assert_eq!(admin.eips().len(), pods.len(), "no extra EIP in the cloud");
        assert!(env.unaccounted_eips().await?.is_empty());
        let text = metrics.encode();
        let (mut ok, mut failed) = (0u64, 0u64);
        for line in text
            .lines()
            .filter(|l| l.starts_with("eip_agent_cloud_calls_total{"))
        {
            let n: u64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if line.contains("outcome=\"Success\"") {
                ok += n;
            } else {
                failed += n;
            }
        }
        eprintln!("cloud attempts: {ok} succeeded, {failed} failed");
        assert!(
            failed > 0,
            "faults were injected and seen by the agent: {text}"
        );
        for p in &pods {
            env.delete_pod(p).await?;
        }
        for p in &pods {
            env.wait_gone(p, WAIT).await?;
        }
        eventually(WAIT, "all released", || {
            let n = admin.eips().len();
            async move { (n == 0).then_some(()) }
        })
        .await?;
        eprintln!("and released in {:?}", started.elapsed());
        admin.clear_faults();
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_rate_limits_slow_the_agent_but_no_pod_fails() -> anyhow::Result<()> {
    use eip_agent::limiter::{AdaptiveLimiter, LimiterConfig, Observers};
    use eip_cloudsim::RateLimit;
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let admin = env.sim.admin();
        for a in ["AllocateEipAddress", "AssociateEipAddress"] {
            admin.set_rate_limit(a, RateLimit { limit: 4, period_secs: 1.0 });
        }
        let metrics = Arc::new(Metrics::new());
        let limiter = Arc::new(AdaptiveLimiter::new(LimiterConfig {
            max_rate: 20.0,
            min_rate: 0.5,
            increase: 0.5,
            decrease: 0.5,
            max_wait: Duration::from_secs(60),
            ..LimiterConfig::default()
        }));
        let cloud: Arc<dyn Cloud> = Arc::new(
            AliyunClient::builder()
                .region("cn-hangzhou")
                .endpoint(env.sim.url())
                .credentials(Credentials::new("testid", "testsecret"))
                .retry(RetryPolicy {
                    max_attempts: 3,
                    min_delay: Duration::from_millis(20),
                    max_delay: Duration::from_millis(100),
                    jitter: true,
                })
                .observer(Arc::new(Observers(vec![
                    Arc::new(CloudObserver(metrics.clone())),
                    limiter.clone(),
                ])))
                .pacer(limiter.clone())
                .build()?,
        );
        let mut cfg = env.agent_config(0);
        cfg.gc = false;
        let agent = env.agent_with(cfg, 0, None, cloud, metrics.clone()).await?;
        let started = Instant::now();
        let pods: Vec<String> = (0..8).map(|i| format!("t-{i}")).collect();
        for p in &pods {
            env.pod(p, 0, &[WITH_EIP]).await?;
        }
        for p in &pods {
            env.wait_bound(p, WAIT).await?;
        }
        let elapsed = started.elapsed();
        let throttled: u64 = metrics
            .encode()
            .lines()
            .filter(|l| l.starts_with("eip_agent_cloud_calls_total{") && l.contains("Throttling"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        eprintln!(
            "8 pods under 4 allocations/s: bound in {elapsed:?}, {throttled} throttled attempts, allocate pace now {:?}/s",
            limiter.rate("AllocateEipAddress")
        );
        assert_eq!(admin.eips().len(), pods.len());
        agent.shutdown().await;
        Ok(())
    })
    .await
}
