//! `eip-cloudsim`: parse flags, install tracing, run the emulator.

use clap::Parser as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = eip_cloudsim::cli::Args::parse();
    eip_log::init(args.log_format, "warn");
    eip_log::exit_code!("eip-cloudsim", eip_cloudsim::cli::run(args).await)
}
