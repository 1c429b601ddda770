//! Command line and start-up: learn the instance from the metadata service, build the
//! cloud client, publish the node's capacity, start the agent (whose start-up pass
//! reconciles everything of this node before `/readyz` answers ok) and the operations
//! endpoint; stop gracefully on SIGTERM / Ctrl-C, or fail when the agent's loop ended.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use eip_cloud::credentials::{CredentialsChain, FileCredentials};
use eip_cloud::metadata::MetadataClient;
use eip_cloud::metrics::{CallObserver, CallPacer};
use eip_cloud::{AliyunClient, Cloud};

use crate::controller::{AgentConfig, Context};
use crate::error::Error;
use crate::limiter::{AdaptiveLimiter, LimiterConfig, Observers};
use crate::metrics::{CloudObserver, Metrics};

/// eip-agent: gives the pods of this node their EIPs (kube-eip's node DaemonSet).
#[derive(Debug, Clone, Parser)]
#[command(name = "eip-agent", version)]
pub struct Args {
    /// This node's name (use the downward API: spec.nodeName).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// Address of /healthz, /metrics and /debug/state.
    #[arg(long, env = "EIP_AGENT_LISTEN", default_value = "0.0.0.0:9464")]
    pub listen: SocketAddr,
    /// Cluster id tagged on every EIP (GC releases only EIPs carrying it).
    #[arg(long, env = "CLUSTER_ID", default_value = "kube-eip")]
    pub cluster_id: String,
    /// Cloud endpoint (VPC and ECS), e.g. the emulator's URL; regional endpoints otherwise.
    #[arg(long, env = "EIP_AGENT_CLOUD_ENDPOINT")]
    pub cloud_endpoint: Option<String>,
    /// Base URL of the ECS metadata service.
    #[arg(
        long,
        env = "EIP_AGENT_METADATA_ENDPOINT",
        default_value = "http://100.100.100.200"
    )]
    pub metadata_endpoint: String,
    /// Directory with the cloud AccessKey as files `access_key_id`, `access_key_secret` and
    /// optionally `security_token` (a mounted Secret), re-read when they change; used after
    /// the ALIBABA_CLOUD_* variables and before the node's RAM role. It may be empty (an
    /// optional Secret that does not exist); a path that is not a directory is an error.
    #[arg(long, env = "EIP_AGENT_CREDENTIALS_DIR")]
    pub credentials_dir: Option<PathBuf>,
    /// Period of the cluster-wide garbage collection.
    #[arg(long, env = "EIP_AGENT_GC_PERIOD", default_value = "5m", value_parser = humantime::parse_duration)]
    pub gc_period: Duration,
    /// How long an EIP of this cluster must be unaccounted for before GC releases it.
    #[arg(long, env = "EIP_AGENT_GC_GRACE", default_value = "10m", value_parser = humantime::parse_duration)]
    pub gc_grace: Duration,
    /// Log format on stderr: json (one object per line) or text (coloured only on a
    /// terminal, never with NO_COLOR). RUST_LOG filters, info by default.
    #[arg(long, env = "EIP_AGENT_LOG_FORMAT", value_enum, default_value_t = eip_log::LogFormat::Json)]
    pub log_format: eip_log::LogFormat,
}

/// Runs the agent until SIGTERM / Ctrl-C.
pub async fn run(args: Args) -> Result<(), Error> {
    let client = kube::Client::try_default().await.map_err(Error::kube(
        "build a Kubernetes client from KUBECONFIG or the in-cluster config",
    ))?;
    let md = MetadataClient::new(args.metadata_endpoint.clone());
    let instance_id = md.instance_id().await.map_err(Error::Metadata)?;
    let region = md.region_id().await.map_err(Error::Metadata)?;
    let instance_type = md.instance_type().await.map_err(Error::Metadata)?;
    tracing::info!(%instance_id, %region, %instance_type, node = %args.node_name, "learned this node's instance");

    let metrics = Arc::new(Metrics::new());
    // Paced below the account's published limits, slowing down on Throttling.
    let limiter = Arc::new(AdaptiveLimiter::new(LimiterConfig::default()));
    let cloud: Arc<dyn Cloud> = Arc::new(cloud_client(
        &args,
        region,
        &md,
        Arc::new(Observers(vec![
            Arc::new(CloudObserver(metrics.clone())),
            limiter.clone(),
        ])),
        Some(limiter),
    )?);
    let slots = crate::runner::publish_node_capacity(
        &client,
        cloud.as_ref(),
        &args.node_name,
        &instance_type,
    )
    .await?;
    tracing::info!(slots, "published node capacity");

    let mut cfg = AgentConfig::new(args.node_name.clone(), args.cluster_id.clone());
    cfg.gc_period = args.gc_period;
    cfg.gc_grace = args.gc_grace;
    let ctx = Arc::new(Context::new(
        client,
        cloud,
        Some(md),
        Some(instance_id),
        cfg,
        metrics,
        None,
    ));
    let mut agent = crate::runner::start(ctx.clone()).await?;
    let ops = crate::http::serve(args.listen, ctx, agent.health.clone())?;
    tracing::info!(addr = %ops.addr, "serving /healthz, /readyz, /metrics, /debug/state");
    tokio::select! {
        _ = shutdown_signal() => {}
        _ = agent.finished() => {
            ops.stop().await;
            return Err(Error::Stopped);
        }
    }
    tracing::info!("shutting down: finishing the steps in flight");
    agent.shutdown().await;
    ops.stop().await;
    Ok(())
}

/// The cloud client for `region`: `--cloud-endpoint` (else the regional endpoints),
/// credentials from [`credentials`], the paced actions left to `pacer` (the adaptive
/// limiter: [`crate::limiter::PACED_ACTIONS`]), every call reported to `observer`.
pub fn cloud_client(
    args: &Args,
    region: String,
    md: &MetadataClient,
    observer: Arc<dyn CallObserver>,
    pacer: Option<Arc<dyn CallPacer>>,
) -> Result<AliyunClient, Error> {
    let creds = credentials(args.credentials_dir.as_deref(), md)?;
    let mut builder = AliyunClient::builder()
        .region(region)
        .credentials_provider(Arc::new(creds))
        .observer(observer);
    if let Some(pacer) = pacer {
        builder = builder.pacer(pacer);
    }
    if let Some(ep) = &args.cloud_endpoint {
        builder = builder.endpoint(ep.clone());
    }
    builder
        .build()
        .map_err(Error::cloud("build the cloud client"))
}

/// The credential chain: the ALIBABA_CLOUD_* variables, then `dir` (which must be a
/// directory), then the node's RAM role through `md`.
pub fn credentials(dir: Option<&Path>, md: &MetadataClient) -> Result<CredentialsChain, Error> {
    if let Some(dir) = dir {
        FileCredentials::check_dir(dir).map_err(|e| Error::Config(e.to_string()))?;
    }
    Ok(CredentialsChain::standard(
        None,
        dir.map(Path::to_path_buf),
        md.clone(),
        None,
    ))
}

/// Resolves on SIGTERM or Ctrl-C (Ctrl-C only where there is no SIGTERM).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
