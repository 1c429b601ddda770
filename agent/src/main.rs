//! The `eip-agent` binary: parse arguments, install tracing, run the agent.
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .json()
        .init();
    let args = eip_agent::cli::Args::parse();
    eip_agent::cli::run(args).await?;
    Ok(())
}
