//! `sandbox`: parse flags, install tracing (stderr, `RUST_LOG`, warnings by default), run
//! the whole stack until Ctrl-C / SIGTERM; a failure is one line, `sandbox: ` and the
//! error's causes.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = sandbox::stack::cli::Args::parse();
    eip_log::init(args.log_format, "warn");
    match sandbox::stack::cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandbox: {}", eip_log::chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
