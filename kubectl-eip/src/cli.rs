//! The command line: global flags spelled as kubectl spells them, and one subcommand each.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Give Kubernetes pods their own Alibaba Cloud EIPs (kube-eip), and see where each one is.
///
/// Examples:
///   kubectl eip show -A
///   kubectl eip request web --bandwidth 10M --wait
///   kubectl eip request deployment/game --release-strategy 10m
///   kubectl eip release web
///   kubectl eip nodes
///   kubectl eip doctor
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-eip",
    bin_name = "kubectl eip",
    version,
    disable_help_subcommand = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes, as kubectl spells them.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// If present, the namespace scope for this request (default: the kubeconfig context's
    /// namespace, then "default").
    #[arg(short = 'n', long, global = true, value_name = "NAME")]
    pub namespace: Option<String>,
    /// List the requested objects across all namespaces.
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Label selector to filter pods on, e.g. -l app=web (=, ==, !=, in, notin, key, !key).
    #[arg(short = 'l', long, global = true, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The name of the kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// How long to wait for one API request before giving up: 0 (never), a number of
    /// seconds, or a duration such as 5s, 1m, 1h.
    #[arg(long, global = true, value_name = "DURATION", value_parser = request_timeout, default_value = "0")]
    pub request_timeout: RequestTimeout,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Don't print headers (table and wide output).
    #[arg(long, global = true)]
    pub no_headers: bool,
}

/// `--request-timeout`: `None` waits forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Option<Duration>);

fn request_timeout(s: &str) -> Result<RequestTimeout, String> {
    if s == "0" {
        return Ok(RequestTimeout(None));
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(RequestTimeout(Some(Duration::from_secs(secs))));
    }
    match eip_core::annotations::parse_duration(s) {
        Some(d) if !d.is_zero() => Ok(RequestTimeout(Some(d))),
        Some(_) => Ok(RequestTimeout(None)),
        None => Err("use 0, a number of seconds, or a duration such as 5s or 1m".to_owned()),
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    eip_core::annotations::parse_duration(s)
        .ok_or_else(|| "use a duration such as 30s, 5m or 1h".to_owned())
}

/// `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Columns, as `kubectl get` prints them.
    Table,
    /// More columns.
    Wide,
    /// An EipList object as JSON.
    Json,
    /// An EipList object as YAML.
    Yaml,
    /// pod/NAME, one a line.
    Name,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask for an EIP for a pod, or for every pod of a workload.
    Request(Box<RequestArgs>),
    /// Show the EIPs of pods that asked for one: address, allocation id, status.
    Show(ShowArgs),
    /// Remove the EIP request from a pod or a workload, and say what becomes of the EIP.
    Release(ReleaseArgs),
    /// Per node: pod IP slots, used, reserved, free, and the region's EIP quota.
    Nodes(NodesArgs),
    /// Check that kube-eip is installed, configured and usable by you.
    Doctor(DoctorArgs),
    /// Print the plugin's version and the agent/extender versions it can see.
    Version,
    /// Print a shell completion script (bash, zsh, fish, powershell).
    Completion(CompletionArgs),
}

impl Command {
    /// The subcommand's name, for usage hints.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Request(_) => "request",
            Command::Show(_) => "show",
            Command::Release(_) => "release",
            Command::Nodes(_) => "nodes",
            Command::Doctor(_) => "doctor",
            Command::Version => "version",
            Command::Completion(_) => "completion",
        }
    }
}

/// `--dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    /// Print the patch; send nothing.
    Client,
    /// Send the patch with dryRun=All; nothing is stored.
    Server,
    /// Send the patch (what no --dry-run does).
    None,
}

/// `kubectl eip request`.
#[derive(Debug, Args)]
#[command(
    after_help = "TARGET is NAME (a pod), pod/NAME, deployment/NAME (deploy), statefulset/NAME (sts), \
daemonset/NAME (ds), replicaset/NAME (rs), job/NAME or cronjob/NAME (cj). On a pod the annotations \
change in place (eip-agent acts on a running pod, no restart); on a workload the pod template \
changes, so a rollout follows.\n\nExamples:\n  kubectl eip request web --bandwidth 10M --wait\n  \
kubectl eip request deploy/game --isp BGP_PRO --release-strategy 10m\n  \
kubectl eip request pod/db-0 --eip-id eip-bp1q2w3e4r5t6y"
)]
pub struct RequestArgs {
    /// The pod or workload.
    pub target: String,
    /// Peak bandwidth in Mbit/s: 10, 10M, 10Mbps (default 5).
    #[arg(long, value_name = "MBPS")]
    pub bandwidth: Option<String>,
    /// Bind this existing EIP instead of allocating one (never released by kube-eip).
    #[arg(long, value_name = "ID")]
    pub eip_id: Option<String>,
    /// Line type: BGP (default), BGP_PRO, ChinaTelecom, ...
    #[arg(long)]
    pub isp: Option<String>,
    /// PayByTraffic (default) or PayByBandwidth.
    #[arg(long, value_name = "TYPE")]
    pub charge_type: Option<String>,
    /// Allocate from this public IP address pool.
    #[arg(long, value_name = "ID")]
    pub pool: Option<String>,
    /// Add the EIP to this shared bandwidth package.
    #[arg(long, value_name = "ID")]
    pub bandwidth_package: Option<String>,
    /// Follow (release with the pod, default), Never, or a duration such as 10m to keep the
    /// EIP for the next pod of the same name.
    #[arg(long, value_name = "STRATEGY")]
    pub release_strategy: Option<String>,
    /// Resource group of the new EIP.
    #[arg(long, value_name = "ID")]
    pub resource_group: Option<String>,
    /// Name of the new EIP.
    #[arg(long)]
    pub name: Option<String>,
    /// Description of the new EIP.
    #[arg(long)]
    pub description: Option<String>,
    /// A tag KEY=VALUE on the new EIP (repeat for more).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Wait until every affected pod's EIP is Bound or Failed, then show them.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: how long to wait.
    #[arg(long, value_parser = duration, default_value = "5m", requires = "wait")]
    pub timeout: Duration,
    /// client: print the patch and send nothing; server: send it with dryRun.
    #[arg(long, value_enum, value_name = "STRATEGY", num_args = 0..=1, require_equals = true, default_missing_value = "client", default_value_t = DryRun::None)]
    pub dry_run: DryRun,
    /// Replace EIP annotations that are already set to other values.
    #[arg(long)]
    pub overwrite: bool,
}

/// `kubectl eip show`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl eip show -A\n  kubectl eip show deploy/game -o wide\n  kubectl eip show -l app=web -o json\n  kubectl eip show --watch"
)]
pub struct ShowArgs {
    /// A pod or workload (as for request); all pods when left out.
    pub target: Option<String>,
    /// After listing, print a row again each time it changes (as kubectl get -w).
    #[arg(short = 'w', long)]
    pub watch: bool,
}

/// `kubectl eip release`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl eip release web\n  kubectl eip release deploy/game --yes"
)]
pub struct ReleaseArgs {
    /// The pod or workload.
    pub target: String,
    /// Don't ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// `kubectl eip nodes`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl eip nodes\n  kubectl eip nodes --extender http://127.0.0.1:8484"
)]
pub struct NodesArgs {
    /// Base URL of eip-extender (default: through the API server's service proxy to
    /// kube-eip/eip-extender).
    #[arg(long, value_name = "URL")]
    pub extender: Option<String>,
}

/// `kubectl eip doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Base URL of eip-extender, to check it directly (default: through the API server's
    /// service proxy).
    #[arg(long, value_name = "URL")]
    pub extender: Option<String>,
}

/// `kubectl eip completion`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  source <(kubectl eip completion bash)\n  kubectl eip completion zsh > \"${fpath[1]}/_kubectl-eip\""
)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-eip").chain(args.iter().copied()))
    }

    #[test]
    fn the_cli_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_before_or_after_the_command() {
        let c =
            parse(&["-n", "games", "show", "-A", "-o", "wide", "-l", "app=web"]).expect("parses");
        assert_eq!(c.global.namespace.as_deref(), Some("games"));
        assert!(c.global.all_namespaces);
        assert_eq!(c.global.output, Output::Wide);
        assert_eq!(c.global.selector.as_deref(), Some("app=web"));
        let c = parse(&["show", "--request-timeout=5s", "--no-headers"]).expect("parses");
        assert_eq!(
            c.global.request_timeout,
            RequestTimeout(Some(Duration::from_secs(5)))
        );
        assert!(c.global.no_headers);
        let c = parse(&["show", "--request-timeout", "10"]).expect("parses");
        assert_eq!(
            c.global.request_timeout,
            RequestTimeout(Some(Duration::from_secs(10)))
        );
    }

    #[test]
    fn dry_run_takes_client_or_server_and_defaults_to_client() {
        let dry = |args: &[&str]| match parse(args).map(|c| c.command) {
            Ok(Command::Request(r)) => Some(r.dry_run),
            _ => None,
        };
        assert_eq!(dry(&["request", "web"]), Some(DryRun::None));
        assert_eq!(dry(&["request", "web", "--dry-run"]), Some(DryRun::Client));
        assert_eq!(
            dry(&["request", "web", "--dry-run=server"]),
            Some(DryRun::Server)
        );
        assert!(parse(&["request", "web", "--dry-run=maybe"]).is_err());
        assert!(
            parse(&["request", "web", "--timeout", "1m"]).is_err(),
            "--timeout needs --wait"
        );
    }
}
