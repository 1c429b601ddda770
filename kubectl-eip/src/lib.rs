//! `kubectl eip`: request, show, release, nodes and doctor for pod EIPs (kube-eip).
//!
//! In: the command line ([`cli::Cli`]), a kubeconfig, and what the API server holds (pods
//! and workloads with their EIP annotations, PodEIPs, events, nodes, kube-eip's own
//! objects); `nodes` and `doctor` also read eip-extender's `/debug/state`. Out: tables,
//! `EipList` JSON/YAML ([`list::EipList`]), annotation patches on pods and pod templates
//! (validated by `eip_core::annotations` first), one error line and an exit code
//! ([`error::Error::exit_code`]: 0, 1, or 2 for usage).

pub mod cli;
pub mod connect;
pub mod doctor;
pub mod error;
pub mod extender;
pub mod list;
pub mod names;
pub mod nodes;
pub mod release;
pub mod request;
pub mod show;
pub mod table;
pub mod target;
pub mod version;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use crate::cli::{Cli, Command};
use crate::connect::Kube;
use crate::error::Error;

/// Parses `args`, runs the command, prints an error as one `error: ...` line on stderr and
/// returns the exit code: 0 success, 1 failure, 2 usage error.
pub fn run_main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    match runtime.block_on(run(&cli, &mut out, &mut err)) {
        Ok(()) => ExitCode::SUCCESS,
        // `kubectl eip show | head`: a closed pipe is the reader's choice, not a failure.
        Err(Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs one command, writing what the user reads to `out` and progress to `err`.
pub async fn run(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), Error> {
    let g = &cli.global;
    match &cli.command {
        Command::Completion(a) => {
            // Completion of the installed binary's name (kubectl's own plugin completion
            // needs a separate kubectl_complete-eip executable).
            let mut cmd = Cli::command().bin_name("kubectl-eip");
            let mut buf = Vec::new();
            clap_complete::generate(a.shell, &mut cmd, "kubectl-eip", &mut buf);
            out.write_all(&buf).map_err(Error::Output)
        }
        Command::Version => {
            let kube = Kube::connect(g).await;
            version::run(kube.as_ref().ok(), kube.as_ref().err(), g, out).await
        }
        Command::Show(a) => show::run(&Kube::connect(g).await?, g, a, out, err).await,
        Command::Request(a) => request::run(&Kube::connect(g).await?, g, a, out, err).await,
        Command::Release(a) => release::run(&Kube::connect(g).await?, a, out, err).await,
        Command::Nodes(a) => nodes::run(&Kube::connect(g).await?, g, a, out, err).await,
        Command::Doctor(a) => doctor::run(&Kube::connect(g).await?, a, out).await,
    }
}
