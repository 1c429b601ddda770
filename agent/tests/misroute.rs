//! Misroute: a pod is deleted and its IP immediately given to a new pod on the same node.
//! The old pod's EIP is never InUse on the new pod's IP while the agent runs, is removed
//! before the new pod's EIP is bound when the agent was down, and the new pod never gets
//! the old EIP published.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use common::{Env, EnvOptions, WITH_EIP, bounded, eventually};
use eip_cloudsim::EipStatus;

const WAIT: Duration = Duration::from_secs(20);

/// Samples the cloud and the API server until stopped; counts the moments when `old_eip`
/// is (being) associated with `ip` while pod `new_pod` holds that IP.
fn watch_for_misroute(
    env: &Env,
    old_eip: String,
    ip: String,
    new_pod: &'static str,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicU32>,
    tokio::task::JoinHandle<u32>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU32::new(0));
    let admin = env.sim.admin();
    let pods = env.pods();
    let (s, n) = (stop.clone(), seen.clone());
    let task = tokio::spawn(async move {
        let mut samples = 0;
        while !s.load(Ordering::SeqCst) {
            samples += 1;
            let new_ip = pods
                .get_opt(new_pod)
                .await
                .ok()
                .flatten()
                .and_then(|p| p.status.and_then(|s| s.pod_ip));
            let on = admin.eip(&old_eip).is_some_and(|e| {
                matches!(e.status, EipStatus::InUse | EipStatus::Associating)
                    && e.association
                        .is_some_and(|a| a.private_ip.to_string() == ip)
            });
            if on && new_ip.as_deref() == Some(ip.as_str()) {
                n.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        samples
    });
    (stop, seen, task)
}

/// Waits until the node gave `ip` back (the kubelet released it after the grace period).
async fn ip_released(env: &Env, ip: &str) -> anyhow::Result<()> {
    let instance = env.nodes[0].cfg.instance_id.clone();
    eventually(WAIT, "old pod IP released by the node", || {
        let held = env
            .sim
            .admin()
            .instance(&instance)
            .is_some_and(|i| i.pod_ips.iter().any(|p| p.to_string() == ip));
        async move { (!held).then_some(()) }
    })
    .await
}

async fn pod_ip(env: &Env, name: &str) -> anyhow::Result<String> {
    eventually(WAIT, &format!("{name} has an IP"), || async move {
        env.pods()
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|p| p.status.and_then(|s| s.pod_ip))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_reused_at_once_never_carries_the_old_eip() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let mut cfg = env.agent_config(0);
        cfg.gc = false;
        let agent = env.agent(cfg, 0, None).await?;
        env.pod("old", 0, &[WITH_EIP]).await?;
        let (old_id, _) = env.wait_bound("old", WAIT).await?;
        let ip = pod_ip(&env, "old").await?;
        let (stop, seen, task) = watch_for_misroute(&env, old_id.clone(), ip.clone(), "new");
        env.delete_pod("old").await?;
        ip_released(&env, &ip).await?;
        env.pod("new", 0, &[WITH_EIP]).await?;
        let new_ip = pod_ip(&env, "new").await?;
        assert_eq!(
            new_ip, ip,
            "the node reused the IP (the scenario under test)"
        );
        let (new_id, _) = env.wait_bound("new", WAIT).await?;
        env.wait_gone("old", WAIT).await?;
        stop.store(true, Ordering::SeqCst);
        let samples = task.await?;
        assert_ne!(new_id, old_id);
        assert_eq!(
            seen.load(Ordering::SeqCst),
            0,
            "old EIP on the new pod's IP ({samples} samples)"
        );
        assert!(env.sim.admin().eip(&old_id).is_none(), "old EIP released");
        agent.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_down_during_the_swap_cleans_the_stale_eip_before_binding() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let mut cfg = env.agent_config(0);
        cfg.gc = false;
        let agent = env.agent(cfg.clone(), 0, None).await?;
        env.pod("old", 0, &[WITH_EIP]).await?;
        let (old_id, _) = env.wait_bound("old", WAIT).await?;
        let ip = pod_ip(&env, "old").await?;
        agent.kill().await;

        env.delete_pod("old").await?;
        ip_released(&env, &ip).await?;
        env.pod("new", 0, &[WITH_EIP]).await?;
        assert_eq!(
            pod_ip(&env, "new").await?,
            ip,
            "IP reused while the agent is down"
        );
        let agent = env.agent(cfg, 0, None).await?;
        let (new_id, _) = env.wait_bound("new", WAIT).await?;
        assert_ne!(new_id, old_id, "the new pod never gets the old pod's EIP");
        env.wait_gone("old", WAIT).await?;
        eventually(WAIT, "old EIP released", || {
            let gone = env.sim.admin().eip(&old_id).is_none();
            async move { gone.then_some(()) }
        })
        .await?;
        // The new pod's EIP is the one on the IP.
        let e = env.sim.admin().eip(&new_id).expect("exists");
        assert_eq!(e.association.map(|a| a.private_ip.to_string()), Some(ip));
        agent.shutdown().await;
        Ok(())
    })
    .await
}
