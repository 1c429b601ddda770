//! The `eip-agent` binary: parse arguments, install tracing, run the agent.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = eip_agent::cli::Args::parse();
    eip_log::init(args.log_format, "info");
    eip_log::exit_code!("eip-agent", eip_agent::cli::run(args).await)
}
