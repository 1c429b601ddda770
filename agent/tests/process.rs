//! The real binary: configured only through environment variables, it learns its instance
//! from the metadata service, publishes node capacity, answers /healthz and /readyz, binds
//! pods, survives SIGKILL mid-allocation without a duplicate, and never logs the access key
//! secret.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{CLUSTER, Env, EnvOptions, WITH_EIP, bounded, eventually};
use eip_core::names;
use k8s_openapi::api::core::v1::Node;
use kube::{Api, ResourceExt};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(30);
const SECRET: &str = "testsecret";

/// Starts the binary; its output goes to `log` (a file, so a chatty agent never blocks
/// on a full pipe).
fn spawn(
    env: &Env,
    kubeconfig: &std::path::Path,
    listen: &str,
    log: &std::path::Path,
) -> anyhow::Result<Child> {
    let out = std::fs::File::create(log)?;
    let err = out.try_clone()?;
    let node = &env.nodes[0].cfg;
    Ok(Command::new(env!("CARGO_BIN_EXE_eip-agent"))
        .env_clear()
        .env("KUBECONFIG", kubeconfig)
        .env("NODE_NAME", &node.name)
        .env("CLUSTER_ID", CLUSTER)
        .env("EIP_AGENT_LISTEN", listen)
        .env("EIP_AGENT_CLOUD_ENDPOINT", env.sim.url())
        .env(
            "EIP_AGENT_METADATA_ENDPOINT",
            env.sim.metadata_url(&node.instance_id),
        )
        .env("EIP_AGENT_GC_PERIOD", "1h")
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "testid")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true)
        .spawn()?)
}

/// SIGKILLs the agent and returns what it logged.
async fn output(mut child: Child, log: &std::path::Path) -> anyhow::Result<String> {
    let _ = child.start_kill();
    let _ = child.wait().await;
    Ok(tokio::fs::read_to_string(log).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_from_env_publishes_capacity_binds_and_survives_sigkill() -> anyhow::Result<()> {
    bounded(async {
        let env = Env::start(EnvOptions::default()).await?;
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        env.api.write_kubeconfig(&kubeconfig)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let listen = format!("127.0.0.1:{port}");

        let log1 = dir.path().join("agent-1.log");
        let log2 = dir.path().join("agent-2.log");
        let child = spawn(&env, &kubeconfig, &listen, &log1)?;
        let nodes: Api<Node> = Api::all(env.client.clone());
        eventually(WAIT, "capacity published", || {
            let nodes = nodes.clone();
            async move {
                let n = nodes.get("node-1").await.ok()?;
                (n.annotations()
                    .get(names::NODE_MAX_AVAILABLE_IP)
                    .map(String::as_str)
                    == Some("20"))
                .then_some(())
            }
        })
        .await?;
        let health = eventually(WAIT, "healthz", || {
            let url = format!("http://{listen}/healthz");
            async move { reqwest::get(url).await.ok()?.text().await.ok() }
        })
        .await?;
        assert_eq!(health, "ok");
        let ready = eventually(WAIT, "readyz", || {
            let url = format!("http://{listen}/readyz");
            async move {
                let r = reqwest::get(url).await.ok()?;
                (r.status().as_u16() == 200).then_some(r.text().await.ok()?)
            }
        })
        .await?;
        assert_eq!(ready, "ok");
        env.pod("p1", 0, &[WITH_EIP]).await?;
        if let Err(e) = env.wait_bound("p1", WAIT).await {
            let log = output(child, &log1).await?;
            anyhow::bail!("{e}; agent log:\n{log}");
        }

        // SIGKILL right after the pod appears, then start again.
        let uid = env
            .pod("p2", 0, &[WITH_EIP])
            .await?
            .uid()
            .unwrap_or_default();
        tokio::time::sleep(Duration::from_millis(40)).await;
        let log1 = output(child, &log1).await?;
        let child = spawn(&env, &kubeconfig, &listen, &log2)?;
        env.wait_bound("p2", WAIT).await?;
        assert_eq!(env.eips_of(&uid).len(), 1, "exactly one EIP after SIGKILL");
        assert!(env.unaccounted_eips().await?.is_empty());
        let log2 = output(child, &log2).await?;
        for log in [&log1, &log2] {
            assert!(!log.is_empty(), "the agent logs");
            assert!(!log.contains(SECRET), "the secret never reaches the logs");
        }
        Ok(())
    })
    .await
}
