//! `eip-extender`: parse flags, install tracing, run (or print the scheduler configuration).

use clap::Parser;
use eip_extender::{Cli, Error, Settings};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    eip_log::init(cli.log_format, "info");
    eip_log::exit_code!("eip-extender", run(&cli).await)
}

async fn run(cli: &Cli) -> Result<(), Error> {
    let settings = Settings::resolve(cli)?;
    if cli.print_scheduler_config {
        print!("{}", settings.scheduler_config_yaml()?);
        return Ok(());
    }
    eip_extender::run(settings).await
}
