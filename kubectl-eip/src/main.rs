//! `kubectl-eip`: the `kubectl eip` plugin; see the library for what it does.

fn main() -> std::process::ExitCode {
    kubectl_eip::run_main(std::env::args_os())
}
