//! The client's retry policy against the emulator's rate limits and faults: a burst that
//! trips the rate limit completes with no error surfaced and no duplicate EIP; a lost
//! response followed by a retry yields one EIP, not two; many waiters share one describe
//! per poll.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use eip_cloud::args::{AllocateEipArgs, AssociateEipArgs};
use eip_cloud::credentials::Credentials;
use eip_cloud::metrics::CallCounter;
use eip_cloud::{AliyunClient, Cloud, Error, RetryPolicy, WaitTarget, Waiter, WaiterConfig};
use eip_cloudsim::{
    CloudSim, FaultEffect, FaultRule, InstanceConfig, RateLimit, RateLimits, RunningSim, SimConfig,
};

const BOUND: Duration = Duration::from_secs(60);

fn client(sim: &RunningSim, observer: Arc<CallCounter>) -> anyhow::Result<AliyunClient> {
    Ok(AliyunClient::builder()
        .endpoint(sim.url())
        .credentials(Credentials::new("testid", "testsecret"))
        .retry(RetryPolicy {
            max_attempts: 40,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            jitter: true,
        })
        .timeout(Duration::from_millis(300))
        .observer(observer)
        .build()?)
}

fn lose_next(action: &str, hang_ms: u64) -> FaultRule {
    FaultRule {
        action: action.into(),
        effect: FaultEffect::LoseResponse { hang_ms },
        rate: 1.0,
        times: Some(1),
    }
}

#[tokio::test]
async fn a_burst_over_the_rate_limit_completes_without_errors_or_duplicates() -> anyhow::Result<()>
{
    tokio::time::timeout(BOUND, async {
        let mut per_action = std::collections::BTreeMap::new();
        per_action.insert(
            "AllocateEipAddress".to_owned(),
            RateLimit {
                limit: 3,
                period_secs: 0.5,
            },
        );
        let sim = CloudSim::start(SimConfig {
            rate_limits: RateLimits {
                enabled: true,
                time_scale: 1.0,
                per_action,
                retry_after_header: true,
            },
            ..SimConfig::default()
        })
        .await?;
        let counter = Arc::new(CallCounter::new());
        let cloud: Arc<dyn Cloud> = Arc::new(client(&sim, counter.clone())?);
        let instance = sim.admin().add_instance(InstanceConfig::default())?;

        const PODS: usize = 12;
        let mut tasks = Vec::new();
        for i in 0..PODS {
            let pod = sim
                .admin()
                .assign_pod_ip(&instance)?
                .ok_or_else(|| anyhow::anyhow!("no pod IP left"))?;
            let cloud = cloud.clone();
            tasks.push(tokio::spawn(async move {
                let eip = cloud
                    .allocate_eip_address(&AllocateEipArgs {
                        client_token: Some(format!("pod-uid-{i}")),
                        ..AllocateEipArgs::default()
                    })
                    .await?;
                cloud
                    .associate_eip_address(&AssociateEipArgs::to_eni(
                        &eip.allocation_id,
                        &pod.eni_id,
                        pod.ip.to_string(),
                    ))
                    .await?;
                Ok::<_, Error>(eip.allocation_id)
            }));
        }
        let mut ids = BTreeSet::new();
        for t in tasks {
            ids.insert(t.await??);
        }
        assert_eq!(ids.len(), PODS);
        // The limit was really hit, and every refusal was absorbed by a retry.
        assert!(
            counter.count("AllocateEipAddress", "Throttling.User") > 0,
            "{:?}",
            counter.snapshot()
        );
        assert_eq!(counter.count("AllocateEipAddress", "Success"), PODS as u64);
        // No duplicate: exactly one EIP per pod exists in the cloud.
        let in_cloud: BTreeSet<String> = sim
            .admin()
            .eips()
            .into_iter()
            .map(|e| e.allocation_id)
            .collect();
        assert_eq!(in_cloud, ids);

        // All pods wait for InUse through one shared waiter: one describe per poll.
        sim.admin().reset_calls();
        let waiter = Waiter::new(
            cloud.clone(),
            WaiterConfig {
                initial_interval: Duration::from_millis(10),
                max_interval: Duration::from_millis(40),
                ..WaiterConfig::default()
            },
        );
        let waits: Vec<_> = ids
            .iter()
            .map(|id| {
                let w = waiter.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    w.wait(&id, WaitTarget::InUse, Duration::from_secs(10))
                        .await
                })
            })
            .collect();
        for w in waits {
            let eip = w.await??;
            assert_eq!(eip.map(|e| e.status), Some("InUse".to_owned()));
        }
        let describes = sim.admin().call_count("DescribeEipAddresses");
        assert_eq!(describes, waiter.polls());
        assert!(
            describes < PODS as u64,
            "{describes} describes for {PODS} waiters"
        );
        sim.shutdown().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn a_lost_response_and_a_retry_yield_one_eip() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let sim = CloudSim::start(SimConfig::default()).await?;
        let counter = Arc::new(CallCounter::new());
        let c = client(&sim, counter.clone())?;

        // Applied, then answered 503: the token makes the retry return the same EIP.
        sim.admin().add_fault(lose_next("AllocateEipAddress", 0));
        let first = c
            .allocate_eip_address(&AllocateEipArgs {
                client_token: Some("pod-uid-a".into()),
                ..AllocateEipArgs::default()
            })
            .await?;
        assert_eq!(counter.total("AllocateEipAddress"), 2);
        assert_eq!(counter.count("AllocateEipAddress", "ServiceUnavailable"), 1);
        assert_eq!(sim.admin().eips().len(), 1);
        assert!(sim.admin().eip(&first.allocation_id).is_some());

        // Applied, then held past the client's timeout: same outcome.
        sim.admin()
            .add_fault(lose_next("AllocateEipAddress", 1_000));
        let second = c
            .allocate_eip_address(&AllocateEipArgs {
                client_token: Some("pod-uid-b".into()),
                ..AllocateEipArgs::default()
            })
            .await?;
        assert_eq!(counter.count("AllocateEipAddress", "Timeout"), 1);
        assert_eq!(sim.admin().eips().len(), 2);
        assert_ne!(first.allocation_id, second.allocation_id);

        // No token given: the client's own token protects the retry.
        sim.admin().add_fault(lose_next("AllocateEipAddress", 0));
        c.allocate_eip_address(&AllocateEipArgs::default()).await?;
        assert_eq!(sim.admin().eips().len(), 3);

        // A lost AssociateEipAddress answer: the retry returns the first result.
        let instance = sim.admin().add_instance(InstanceConfig::default())?;
        let pod = sim
            .admin()
            .assign_pod_ip(&instance)?
            .ok_or_else(|| anyhow::anyhow!("no pod IP left"))?;
        sim.admin().add_fault(lose_next("AssociateEipAddress", 0));
        c.associate_eip_address(&AssociateEipArgs::to_eni(
            &first.allocation_id,
            &pod.eni_id,
            pod.ip.to_string(),
        ))
        .await?;
        assert_eq!(counter.total("AssociateEipAddress"), 2);
        sim.shutdown().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn without_a_token_a_lost_response_is_surfaced_not_repeated() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let sim = CloudSim::start(SimConfig::default()).await?;
        let counter = Arc::new(CallCounter::new());
        let c = AliyunClient::builder()
            .endpoint(sim.url())
            .credentials(Credentials::new("testid", "testsecret"))
            .retry(RetryPolicy {
                max_attempts: 5,
                min_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
                jitter: true,
            })
            .auto_client_token(false)
            .observer(counter.clone())
            .build()?;
        sim.admin().add_fault(lose_next("AllocateEipAddress", 0));
        let e = c.allocate_eip_address(&AllocateEipArgs::default()).await;
        assert!(matches!(e, Err(Error::ServerError(_))), "{e:?}");
        assert_eq!(counter.total("AllocateEipAddress"), 1);
        // The one call was applied; nothing was applied twice.
        assert_eq!(sim.admin().eips().len(), 1);
        sim.shutdown().await;
        Ok(())
    })
    .await?
}
