//! Crash safety: the agent is killed at every step of allocation and release (explicit
//! checkpoints around each cloud call, and kills at arbitrary moments), then restarted.
//! Every run ends with the pod Bound to exactly one EIP, and zero EIPs that no pod or
//! PodEIP accounts for.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Env, EnvOptions, WITH_EIP, bounded, eventually};
use eip_agent::controller::CrashPlan;
use kube::ResourceExt;

const WAIT: Duration = Duration::from_secs(20);

async fn crash_then_restart(
    env: &Env,
    label: &str,
    pod: &str,
    release: bool,
) -> anyhow::Result<()> {
    let mut cfg = env.agent_config(0);
    cfg.gc = false;
    let plan = Arc::new(CrashPlan::new(label, 1));
    let agent = env.agent(cfg.clone(), 0, Some(plan.clone())).await?;
    let uid = env
        .pod(pod, 0, &[WITH_EIP])
        .await?
        .uid()
        .unwrap_or_default();
    if release {
        env.wait_bound(pod, WAIT).await?;
        env.delete_pod(pod).await?;
    }
    eventually(WAIT, &format!("crash at {label}"), || {
        let plan = plan.clone();
        async move { plan.fired().then_some(()) }
    })
    .await?;
    agent.stopped().await;

    let agent = env.agent(cfg, 0, None).await?;
    if release {
        env.wait_gone(pod, WAIT).await?;
        eventually(WAIT, &format!("{label}: EIP of {pod} released"), || {
            let n = env.eips_of(&uid).len();
            async move { (n == 0).then_some(()) }
        })
        .await?;
        assert!(
            env.records().get_opt(pod).await?.is_none(),
            "{label}: record left"
        );
    } else {
        let (id, _) = env.wait_bound(pod, WAIT).await?;
        let mine = env.eips_of(&uid);
        assert_eq!(
            mine.len(),
            1,
            "{label}: exactly one EIP for the pod: {mine:?}"
        );
        assert_eq!(mine[0].allocation_id, id, "{label}");
    }
    let leaks = env.unaccounted_eips().await?;
    assert!(leaks.is_empty(), "{label}: unaccounted EIPs {leaks:?}");
    agent.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_allocation_and_release_step_recovers_without_leak() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let started = Instant::now();
        let alloc = [
            "before:Allocate",
            "after:Allocate",
            "before:Associate",
            "after:Associate",
        ];
        let release = [
            "before:Unbind",
            "after:Unbind",
            "before:Release",
            "after:Release",
        ];
        for (i, label) in alloc.iter().enumerate() {
            crash_then_restart(&env, label, &format!("a-{i}"), false).await?;
        }
        for (i, label) in release.iter().enumerate() {
            crash_then_restart(&env, label, &format!("r-{i}"), true).await?;
        }
        // Clean up the bound ones: nothing may be left.
        let mut cfg = env.agent_config(0);
        cfg.gc = false;
        let agent = env.agent(cfg, 0, None).await?;
        for i in 0..alloc.len() {
            env.delete_pod(&format!("a-{i}")).await?;
        }
        for i in 0..alloc.len() {
            env.wait_gone(&format!("a-{i}"), WAIT).await?;
        }
        eventually(WAIT, "cloud empty", || {
            let n = env.sim.admin().eips().len();
            async move { (n == 0).then_some(()) }
        })
        .await?;
        eprintln!("8 crash points in {:?}", started.elapsed());
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_arbitrary_moments_recovers_without_leak() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let mut cfg = env.agent_config(0);
        cfg.gc = false;
        let pods: Vec<String> = (0..6).map(|i| format!("k-{i}")).collect();
        // Kill while allocating, at growing delays.
        for (i, p) in pods.iter().enumerate() {
            let agent = env.agent(cfg.clone(), 0, None).await?;
            env.pod(p, 0, &[WITH_EIP]).await?;
            tokio::time::sleep(Duration::from_millis(5 + 12 * i as u64)).await;
            agent.kill().await;
        }
        let agent = env.agent(cfg.clone(), 0, None).await?;
        for p in &pods {
            env.wait_bound(p, WAIT).await?;
            let uid = env.pods().get(p).await?.uid().unwrap_or_default();
            assert_eq!(env.eips_of(&uid).len(), 1, "{p}: exactly one EIP");
        }
        assert!(env.unaccounted_eips().await?.is_empty());
        agent.kill().await;
        // Kill while releasing.
        for (i, p) in pods.iter().enumerate() {
            let agent = env.agent(cfg.clone(), 0, None).await?;
            env.delete_pod(p).await?;
            tokio::time::sleep(Duration::from_millis(3 + 9 * i as u64)).await;
            agent.kill().await;
        }
        let agent = env.agent(cfg, 0, None).await?;
        for p in &pods {
            env.wait_gone(p, WAIT).await?;
        }
        eventually(WAIT, "cloud empty", || {
            let n = env.sim.admin().eips().len();
            async move { (n == 0).then_some(()) }
        })
        .await?;
        agent.shutdown().await;
        Ok(())
    })
    .await
}
