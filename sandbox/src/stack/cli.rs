//! The `sandbox` command line: flags, the few lines it prints once everything runs, and
//! running until SIGTERM / Ctrl-C.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use eip_cloudsim::SimConfig;

use super::{Stack, StackError, StackOptions, zones_of};

/// The example manifests, as the quick start names them.
pub const EXAMPLE_DEPLOYMENT: &str = "deployment-with-eip.yaml";
/// A StatefulSet keeping its pods' EIPs for 10 minutes.
pub const EXAMPLE_STATEFULSET: &str = "statefulset-keep-eip.yaml";
/// A pod binding a named EIP; its id is the placeholder [`NAMED_EIP_PLACEHOLDER`].
pub const EXAMPLE_NAMED: &str = "pod-with-named-eip.yaml";
/// What the named-EIP example says instead of an allocation id.
pub const NAMED_EIP_PLACEHOLDER: &str = "EIP_ID";

/// sandbox: kube-eip on one machine. Starts eip-cloudsim, an in-memory Kubernetes API
/// server, simulated nodes, eip-extender with a scheduler loop, one eip-agent per node and
/// a workload controller, all on loopback; writes a kubeconfig for kubectl and runs until
/// Ctrl-C. For tests and demos only. Logs go to stderr, filtered by RUST_LOG.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "sandbox", version)]
pub struct Args {
    /// How many nodes to simulate (named node-1, node-2, ...).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub nodes: u32,
    /// ECS instance type of the nodes (its ENI limits give each node's pod IP slots).
    #[arg(long, default_value = "ecs.g7.large", value_parser = instance_type)]
    pub instance_type: String,
    /// Zones the nodes are spread over in turn, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "cn-hangzhou-h,cn-hangzhou-i", value_parser = zone)]
    pub zones: Vec<String>,
    /// Start with the EIP feature off (`enable_eip_pool: "false"` in kube-system/eni-config).
    #[arg(long)]
    pub eip_off: bool,
    /// Let a named EIP bound elsewhere be taken (`allow_eip_rob: "true"`).
    #[arg(long)]
    pub allow_rob: bool,
    /// EIPs to allocate at start for `k8s.aliyun.com/pod-eip-instanceid`; their ids are
    /// printed. They count against --eip-quota, so at most that many.
    #[arg(long, default_value_t = 1)]
    pub named_eips: u32,
    /// The account's EIP quota in the region.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub eip_quota: u32,
    /// Where to write the kubeconfig of the API server.
    #[arg(long, default_value = "sandbox.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Address of eip-cloudsim (OpenAPI, metadata, admin API under /_sim/); port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0", value_parser = loopback)]
    pub cloud_listen: SocketAddr,
    /// Address of eip-extender (verbs, /debug/state); port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0", value_parser = loopback)]
    pub extender_listen: SocketAddr,
    /// Also print the KubeSchedulerConfiguration the scheduler loop runs from (what
    /// `eip-extender --print-scheduler-config` prints for the extender's address).
    #[arg(long)]
    pub print_scheduler_config: bool,
    /// Log format on stderr: text (coloured only on a terminal, never with NO_COLOR) or
    /// json (one object per line).
    #[arg(long, env = "SANDBOX_LOG_FORMAT", value_enum, default_value_t = eip_log::LogFormat::Text)]
    pub log_format: eip_log::LogFormat,
}

fn instance_type(s: &str) -> Result<String, String> {
    let types = SimConfig::default().instance_types;
    if types.iter().any(|t| t.instance_type_id == s) {
        return Ok(s.to_string());
    }
    let known: Vec<String> = types.into_iter().map(|t| t.instance_type_id).collect();
    Err(format!(
        "unknown instance type (known: {})",
        known.join(", ")
    ))
}

fn zone(s: &str) -> Result<String, String> {
    let zones = zones_of(&SimConfig::default());
    if zones.iter().any(|z| z == s) {
        return Ok(s.to_string());
    }
    Err(format!(
        "the emulated region has no vSwitch in this zone (zones: {})",
        zones.join(", ")
    ))
}

fn loopback(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .parse()
        .map_err(|e| format!("not an address like 127.0.0.1:8484: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err("the sandbox serves on loopback only (127.0.0.1 or ::1)".to_string());
    }
    Ok(addr)
}

impl Args {
    /// The stack these flags describe.
    pub fn options(&self) -> Result<StackOptions, StackError> {
        if self.named_eips > self.eip_quota {
            return Err(StackError::Invalid(format!(
                "--named-eips {} is more than the EIP quota {} (named EIPs count against it): \
                 ask for fewer or raise --eip-quota",
                self.named_eips, self.eip_quota
            )));
        }
        let cloud = SimConfig {
            listen: self.cloud_listen,
            eip_quota: self.eip_quota,
            ..SimConfig::default()
        };
        Ok(StackOptions {
            nodes: StackOptions::spread(self.nodes, &self.instance_type, &self.zones),
            eip_enabled: !self.eip_off,
            allow_rob: self.allow_rob,
            named_eips: self.named_eips,
            cloud,
            extender_listen: self.extender_listen,
        })
    }
}

/// What the banner shows.
#[derive(Debug, Clone)]
pub struct Banner {
    /// The kubeconfig written.
    pub kubeconfig: PathBuf,
    /// Where the example manifests are.
    pub examples: PathBuf,
    /// `(name, instance type, zone)` of each node.
    pub nodes: Vec<(String, String, String)>,
    /// `enable_eip_pool`.
    pub eip_enabled: bool,
    /// eip-cloudsim's base URL.
    pub cloud_url: String,
    /// eip-extender's base URL.
    pub extender_url: String,
    /// `(node, base URL)` of each eip-agent.
    pub agents: Vec<(String, String)>,
    /// Pre-allocated EIPs.
    pub named_eips: Vec<String>,
    /// The scheduler loop's `KubeSchedulerConfiguration` (YAML), when it is to be shown.
    pub scheduler_config: Option<String>,
}

impl Banner {
    /// What the running stack shows (without the scheduler configuration).
    pub fn of(stack: &Stack, kubeconfig: &Path, examples: &Path, eip_enabled: bool) -> Self {
        Banner {
            kubeconfig: kubeconfig.to_path_buf(),
            examples: examples.to_path_buf(),
            nodes: stack
                .nodes()
                .map(|n| (n.name.clone(), n.instance_type.clone(), n.zone.clone()))
                .collect(),
            eip_enabled,
            cloud_url: stack.cloud_url(),
            extender_url: stack.extender_url(),
            agents: stack.agent_urls(),
            named_eips: stack.named_eips().to_vec(),
            scheduler_config: None,
        }
    }

    /// The lines printed on stdout once everything runs.
    pub fn render(&self) -> String {
        let ex = |f: &str| self.examples.join(f).display().to_string();
        let mut s = String::new();
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|(n, t, z)| format!("{n} ({t}, {z})"))
            .collect();
        let _ = writeln!(s, "sandbox running: {}", nodes.join(", "));
        if !self.eip_enabled {
            let _ = writeln!(
                s,
                "the EIP feature is off: set enable_eip_pool to \"true\" in kube-system/eni-config to turn it on"
            );
        }
        let _ = writeln!(s, "  export KUBECONFIG={}", self.kubeconfig.display());
        let _ = writeln!(
            s,
            "  kubectl eip show -A    # the kubectl eip plugin: cargo install --path kubectl-eip"
        );
        let _ = writeln!(s, "  kubectl apply -f {}", ex(EXAMPLE_DEPLOYMENT));
        let _ = writeln!(s, "  kubectl apply -f {}", ex(EXAMPLE_STATEFULSET));
        if let Some(id) = self.named_eips.first() {
            let _ = writeln!(
                s,
                "  sed s/{NAMED_EIP_PLACEHOLDER}/{id}/ {} | kubectl apply -f -",
                ex(EXAMPLE_NAMED)
            );
        }
        let _ = writeln!(s, "  kubectl get pods -o wide");
        let _ = writeln!(s, "  kubectl get podeips");
        let extender = self.extender_url.trim_end_matches('/');
        let _ = writeln!(s, "  kubectl eip nodes --extender {extender}");
        let _ = writeln!(s, "  kubectl eip doctor --extender {extender}");
        if !self.named_eips.is_empty() {
            let _ = writeln!(s, "named EIPs: {}", self.named_eips.join(" "));
        }
        let _ = writeln!(
            s,
            "eip-cloudsim: {url} (admin API: {url}/_sim/state)",
            url = self.cloud_url
        );
        let _ = writeln!(
            s,
            "eip-extender: {}/debug/state",
            self.extender_url.trim_end_matches('/')
        );
        let agents: Vec<String> = self
            .agents
            .iter()
            .map(|(node, url)| format!("{url}/debug/state ({node})"))
            .collect();
        if !agents.is_empty() {
            let _ = writeln!(s, "eip-agent: {}", agents.join(", "));
        }
        if let Some(yaml) = &self.scheduler_config {
            let _ = writeln!(
                s,
                "the scheduler loop runs from this KubeSchedulerConfiguration:"
            );
            for line in yaml.lines() {
                let _ = writeln!(s, "  {line}");
            }
        }
        let _ = writeln!(s, "Ctrl-C stops it.");
        s
    }
}

/// The example manifests' folder, relative to the current directory when it is inside.
fn examples_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::env::current_dir()
        .ok()
        .and_then(|cwd| dir.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or(dir)
}

/// Starts the stack, writes the kubeconfig, prints the banner, runs until SIGTERM or
/// Ctrl-C, then stops everything in order.
pub async fn run(args: Args) -> Result<(), StackError> {
    let opts = args.options()?;
    let eip_enabled = opts.eip_enabled;
    let stack = Stack::start(opts).await?;
    let kubeconfig = std::path::absolute(&args.kubeconfig).unwrap_or(args.kubeconfig.clone());
    if let Err(e) = stack.api_server().write_kubeconfig(&kubeconfig) {
        stack.shutdown().await?;
        return Err(StackError::ApiServer(e));
    }
    let mut banner = Banner::of(&stack, &kubeconfig, &examples_dir(), eip_enabled);
    if args.print_scheduler_config {
        banner.scheduler_config = Some(stack.scheduler_config_yaml().to_string());
    }
    print!("{}", banner.render());
    eip_agent::cli::shutdown_signal().await;
    tracing::info!("stopping");
    stack.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("sandbox").chain(args.iter().copied()))
    }

    fn error_of(args: &[&str]) -> String {
        match parse(args) {
            Ok(a) => panic!("{args:?} parsed: {a:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_three_nodes_over_two_zones_with_the_feature_on() {
        let a = parse(&[]).expect("no flags parse");
        assert_eq!(a.nodes, 3);
        assert_eq!(a.instance_type, "ecs.g7.large");
        assert_eq!(a.zones, vec!["cn-hangzhou-h", "cn-hangzhou-i"]);
        assert_eq!(a.kubeconfig, PathBuf::from("sandbox.kubeconfig"));
        assert_eq!(a.named_eips, 1);
        assert!(!a.print_scheduler_config, "quiet by default");
        let o = a.options().expect("defaults are valid");
        assert!(o.eip_enabled && !o.allow_rob);
        assert_eq!(o.cloud.eip_quota, 20);
        assert!(o.cloud.listen.ip().is_loopback() && o.extender_listen.ip().is_loopback());
        let nodes: Vec<(&str, &str)> = o
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.zone.as_str()))
            .collect();
        assert_eq!(
            nodes,
            vec![
                ("node-1", "cn-hangzhou-h"),
                ("node-2", "cn-hangzhou-i"),
                ("node-3", "cn-hangzhou-h")
            ]
        );
    }

    #[test]
    fn flags_set_nodes_type_zones_switches_and_addresses() {
        let a = parse(&[
            "--nodes=2",
            "--instance-type",
            "ecs.g7.xlarge",
            "--zones",
            "cn-hangzhou-i",
            "--eip-off",
            "--allow-rob",
            "--named-eips=0",
            "--eip-quota=5",
            "--kubeconfig=/tmp/k",
            "--cloud-listen=127.0.0.1:18080",
            "--extender-listen=[::1]:8484",
        ])
        .expect("valid flags");
        let o = a.options().expect("valid options");
        assert!(!o.eip_enabled && o.allow_rob);
        assert_eq!((o.named_eips, o.cloud.eip_quota), (0, 5));
        assert_eq!(o.cloud.listen, "127.0.0.1:18080".parse().expect("addr"));
        assert_eq!(o.extender_listen, "[::1]:8484".parse().expect("addr"));
        assert_eq!(a.kubeconfig, PathBuf::from("/tmp/k"));
        assert!(
            o.nodes
                .iter()
                .all(|n| n.instance_type == "ecs.g7.xlarge" && n.zone == "cn-hangzhou-i")
        );
        assert_eq!(o.nodes.len(), 2);
    }

    #[test]
    fn bad_flags_are_refused_with_the_reason() {
        let e = error_of(&["--nodes=0"]);
        assert!(
            e.contains("--nodes") && e.contains("0 is not in 1..=50"),
            "{e}"
        );
        let e = error_of(&["--instance-type=ecs.nope"]);
        assert!(
            e.contains("unknown instance type (known: ecs.g7.large"),
            "{e}"
        );
        let e = error_of(&["--zones=cn-hangzhou-h,mars-1"]);
        assert!(e.contains("no vSwitch in this zone"), "{e}");
        let e = error_of(&["--cloud-listen=0.0.0.0:80"]);
        assert!(e.contains("loopback only"), "{e}");
        let e = error_of(&["--extender-listen=nowhere"]);
        assert!(e.contains("not an address"), "{e}");
        let e = error_of(&["--frobnicate"]);
        assert!(e.contains("unexpected argument '--frobnicate'"), "{e}");
        let a = parse(&["--named-eips=6", "--eip-quota=5"]).expect("each flag is valid");
        let e = a.options().map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid sandbox options: --named-eips 6 is more than the EIP quota 5 \
             (named EIPs count against it): ask for fewer or raise --eip-quota"
        );
    }

    #[test]
    fn named_eips_are_capped_by_the_quota_not_by_a_constant() {
        let a = parse(&["--named-eips=25", "--eip-quota=30"]).expect("within the quota");
        assert_eq!(a.options().expect("valid").named_eips, 25);
        let a = parse(&["--named-eips=30", "--eip-quota=30"]).expect("the whole quota");
        assert_eq!(a.options().expect("valid").named_eips, 30);
        let a = parse(&["--named-eips=21"]).expect("each flag is valid");
        let e = a.options().map(|_| ()).unwrap_err().to_string();
        assert!(
            e.contains("--named-eips 21 is more than the EIP quota 20"),
            "{e}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn the_banner_says_how_to_use_the_sandbox() {
        let b = Banner {
            kubeconfig: PathBuf::from("/w/sandbox.kubeconfig"),
            examples: PathBuf::from("sandbox/examples"),
            nodes: vec![
                (
                    "node-1".into(),
                    "ecs.g7.large".into(),
                    "cn-hangzhou-h".into(),
                ),
                (
                    "node-2".into(),
                    "ecs.g7.large".into(),
                    "cn-hangzhou-i".into(),
                ),
            ],
            eip_enabled: true,
            cloud_url: "http://127.0.0.1:1000".into(),
            extender_url: "http://127.0.0.1:2000".into(),
            agents: vec![
                ("node-1".into(), "http://127.0.0.1:3001".into()),
                ("node-2".into(), "http://127.0.0.1:3002".into()),
            ],
            named_eips: vec!["eip-abc".into()],
            scheduler_config: None,
        };
        assert_eq!(
            b.render(),
            "\
sandbox running: node-1 (ecs.g7.large, cn-hangzhou-h), node-2 (ecs.g7.large, cn-hangzhou-i)
  export KUBECONFIG=/w/sandbox.kubeconfig
  kubectl eip show -A    # the kubectl eip plugin: cargo install --path kubectl-eip
  kubectl apply -f sandbox/examples/deployment-with-eip.yaml
  kubectl apply -f sandbox/examples/statefulset-keep-eip.yaml
  sed s/EIP_ID/eip-abc/ sandbox/examples/pod-with-named-eip.yaml | kubectl apply -f -
  kubectl get pods -o wide
  kubectl get podeips
  kubectl eip nodes --extender http://127.0.0.1:2000
  kubectl eip doctor --extender http://127.0.0.1:2000
named EIPs: eip-abc
eip-cloudsim: http://127.0.0.1:1000 (admin API: http://127.0.0.1:1000/_sim/state)
eip-extender: http://127.0.0.1:2000/debug/state
eip-agent: http://127.0.0.1:3001/debug/state (node-1), http://127.0.0.1:3002/debug/state (node-2)
Ctrl-C stops it.
"
        );
        let off = Banner {
            eip_enabled: false,
            named_eips: Vec::new(),
            ..b
        };
        let text = off.render();
        assert!(text.contains("the EIP feature is off"), "{text}");
        assert!(
            !text.contains("sed ") && !text.contains("named EIPs"),
            "{text}"
        );
        let with_config = Banner {
            scheduler_config: Some("kind: KubeSchedulerConfiguration\nextenders: []\n".into()),
            ..off
        };
        assert!(
            with_config.render().ends_with(
                "the scheduler loop runs from this KubeSchedulerConfiguration:
  kind: KubeSchedulerConfiguration
  extenders: []
Ctrl-C stops it.
"
            ),
            "{}",
            with_config.render()
        );
    }
}
