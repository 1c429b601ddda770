//! `eip-extender`: parse flags, install tracing, run.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = eip_extender::Cli::parse();
    let settings = eip_extender::Settings::resolve(&cli)?;
    if cli.print_scheduler_config {
        print!("{}", settings.scheduler_config_yaml()?);
        return Ok(());
    }
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    eip_extender::run(settings).await?;
    Ok(())
}
