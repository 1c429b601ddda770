//! Settings: command-line flags over a YAML config file over defaults, and the
//! `KubeSchedulerConfiguration` that matches them (`--print-scheduler-config`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use eip_core::capacity::DEFAULT_EIP_QUOTA;
use eip_core::extender::{ExtenderConfig, ExtenderTlsConfig, SchedulerConfiguration};
use serde::Deserialize;

use crate::decide::Scoring;
use crate::error::Error;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8484";
/// Default interval of the cloud view refresh.
pub const DEFAULT_CLOUD_REFRESH: Duration = Duration::from_secs(15);
/// The extender's Service as deploy/base installs it (Service `eip-extender` in namespace
/// `kube-eip`): the host of the printed configuration's default URL.
pub const DEFAULT_SERVICE_HOST: &str = "eip-extender.kube-eip.svc";
/// The port of that Service.
pub const DEFAULT_SERVICE_PORT: u16 = 8484;
/// Default `httpTimeout` printed for kube-scheduler.
pub const DEFAULT_HTTP_TIMEOUT: &str = "5s";

/// The kube-scheduler extender that keeps pods off nodes (and regions) that cannot give
/// them a pod IP or an EIP. The cluster comes from KUBECONFIG or the in-cluster config;
/// cloud credentials as eip-cloud reads them (ALIBABA_CLOUD_* variables, then
/// --credentials-dir, then the ECS RAM role).
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "eip-extender", version)]
pub struct Cli {
    /// Address to listen on, e.g. 0.0.0.0:8484.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// YAML file with any of these settings (keys spelled like the flags).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Endpoint of the cloud API (VPC and ECS), e.g. an eip-cloudsim URL.
    #[arg(long)]
    pub cloud_endpoint: Option<String>,
    /// Region id, e.g. cn-hangzhou.
    #[arg(long)]
    pub region: Option<String>,
    /// The account's EIP quota in the region (eip_quota_instances_num).
    #[arg(long)]
    pub eip_quota: Option<u32>,
    /// How prioritize ranks nodes.
    #[arg(long, value_enum)]
    pub scoring: Option<Scoring>,
    /// Hold a coordination.k8s.io Lease; only the holder reports ready.
    #[arg(long)]
    pub leader_elect: bool,
    /// Print the KubeSchedulerConfiguration for these settings and exit.
    #[arg(long)]
    pub print_scheduler_config: bool,
    /// Path prefix of the scheduler verbs, e.g. /scheduler.
    #[arg(long)]
    pub path_prefix: Option<String>,
    /// URL kube-scheduler uses to reach this extender (for --print-scheduler-config);
    /// default: the Service deploy/base installs, http://eip-extender.kube-eip.svc:8484
    /// followed by --path-prefix (https with --tls-cert-file).
    #[arg(long)]
    pub scheduler_url: Option<String>,
    /// PEM certificate chain: serve HTTPS.
    #[arg(long, requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// VPC whose vSwitches count as free zone IPs when eni-config lists none.
    #[arg(long)]
    pub vpc_id: Option<String>,
    /// Cloud view refresh interval, e.g. 15s.
    #[arg(long)]
    pub cloud_refresh: Option<String>,
    /// Directory with the cloud AccessKey as files access_key_id, access_key_secret and
    /// optionally security_token (a mounted Secret), re-read when they change; used after
    /// the ALIBABA_CLOUD_* variables and before the RAM role. It may be empty; a path that
    /// is not a directory is an error.
    #[arg(long, env = "EIP_EXTENDER_CREDENTIALS_DIR")]
    pub credentials_dir: Option<PathBuf>,
    /// Log format on stderr: json (one object per line) or text (coloured only on a
    /// terminal, never with NO_COLOR). RUST_LOG filters, info by default. Not read from
    /// --config: logging starts before the file is read.
    #[arg(long, env = "EIP_EXTENDER_LOG_FORMAT", value_enum, default_value_t = eip_log::LogFormat::Json)]
    pub log_format: eip_log::LogFormat,
}

/// The config file: every flag, spelled like the flag.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--cloud-endpoint`.
    pub cloud_endpoint: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--eip-quota`.
    pub eip_quota: Option<u32>,
    /// `--scoring`.
    pub scoring: Option<Scoring>,
    /// `--leader-elect`.
    pub leader_elect: Option<bool>,
    /// `--path-prefix`.
    pub path_prefix: Option<String>,
    /// `--scheduler-url`.
    pub scheduler_url: Option<String>,
    /// `--tls-cert-file`.
    pub tls_cert_file: Option<PathBuf>,
    /// `--tls-key-file`.
    pub tls_key_file: Option<PathBuf>,
    /// `--vpc-id`.
    pub vpc_id: Option<String>,
    /// `--cloud-refresh`.
    pub cloud_refresh: Option<String>,
    /// `--credentials-dir`.
    pub credentials_dir: Option<PathBuf>,
}

/// Resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Listen address.
    pub listen: SocketAddr,
    /// Cloud endpoint (None: the region's public endpoints).
    pub cloud_endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// EIP quota.
    pub eip_quota: u32,
    /// Scoring.
    pub scoring: Scoring,
    /// Leader election.
    pub leader_elect: bool,
    /// Verb path prefix ("" or "/something").
    pub path_prefix: String,
    /// URL the scheduler uses (the installed Service when absent).
    pub scheduler_url: Option<String>,
    /// TLS cert and key.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// VPC for the zone view.
    pub vpc_id: Option<String>,
    /// Cloud refresh interval.
    pub cloud_refresh: Duration,
    /// Credentials directory (a mounted Secret).
    pub credentials_dir: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8484)),
            cloud_endpoint: None,
            region: "cn-hangzhou".to_string(),
            eip_quota: DEFAULT_EIP_QUOTA,
            scoring: Scoring::Spread,
            leader_elect: false,
            path_prefix: String::new(),
            scheduler_url: None,
            tls: None,
            vpc_id: None,
            cloud_refresh: DEFAULT_CLOUD_REFRESH,
            credentials_dir: None,
        }
    }
}

fn normalize_prefix(p: &str) -> String {
    let t = p.trim().trim_matches('/');
    if t.is_empty() {
        String::new()
    } else {
        format!("/{t}")
    }
}

impl Settings {
    /// Flags over the file (when `--config` is given) over defaults.
    pub fn resolve(cli: &Cli) -> Result<Self, Error> {
        let file = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
                    path: path.display().to_string(),
                    source,
                })?;
                serde_saphyr::from_str::<Option<FileConfig>>(&text)
                    .map_err(|e| Error::ConfigParse {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?
                    .unwrap_or_default()
            }
            None => FileConfig::default(),
        };
        Self::merge(cli, file)
    }

    /// Merge flags over a parsed file.
    pub fn merge(cli: &Cli, file: FileConfig) -> Result<Self, Error> {
        let d = Settings::default();
        let refresh = cli.cloud_refresh.clone().or(file.cloud_refresh);
        let cloud_refresh = match refresh {
            Some(s) => humantime::parse_duration(&s).map_err(|_| {
                Error::Invalid(format!(
                    "cloud-refresh {s:?} is not a duration such as 15s or 1m"
                ))
            })?,
            None => d.cloud_refresh,
        };
        if cloud_refresh.is_zero() {
            return Err(Error::Invalid(
                "cloud-refresh must be above zero".to_string(),
            ));
        }
        let cert = cli.tls_cert_file.clone().or(file.tls_cert_file);
        let key = cli.tls_key_file.clone().or(file.tls_key_file);
        let tls = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(Error::Invalid(
                    "tls-cert-file and tls-key-file go together".to_string(),
                ));
            }
        };
        Ok(Settings {
            listen: cli.listen.or(file.listen).unwrap_or(d.listen),
            cloud_endpoint: cli.cloud_endpoint.clone().or(file.cloud_endpoint),
            region: cli.region.clone().or(file.region).unwrap_or(d.region),
            eip_quota: cli.eip_quota.or(file.eip_quota).unwrap_or(d.eip_quota),
            scoring: cli.scoring.or(file.scoring).unwrap_or(d.scoring),
            leader_elect: cli.leader_elect || file.leader_elect.unwrap_or(false),
            path_prefix: normalize_prefix(
                &cli.path_prefix
                    .clone()
                    .or(file.path_prefix)
                    .unwrap_or_default(),
            ),
            scheduler_url: cli.scheduler_url.clone().or(file.scheduler_url),
            tls,
            vpc_id: cli.vpc_id.clone().or(file.vpc_id),
            cloud_refresh,
            credentials_dir: cli.credentials_dir.clone().or(file.credentials_dir),
        })
    }

    /// The URL prefix kube-scheduler should call: `--scheduler-url`, else the Service
    /// deploy/base installs ([`DEFAULT_SERVICE_HOST`]:[`DEFAULT_SERVICE_PORT`]) and the
    /// path prefix.
    pub fn url_prefix(&self) -> String {
        if let Some(u) = &self.scheduler_url {
            return u.trim_end_matches('/').to_string();
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!(
            "{scheme}://{DEFAULT_SERVICE_HOST}:{DEFAULT_SERVICE_PORT}{}",
            self.path_prefix
        )
    }

    /// The `extenders` entry for these settings: every verb, names only
    /// (`nodeCacheCapable`), weight 1, not ignorable (a pod must not be placed without the
    /// capacity check).
    pub fn extender_entry(&self) -> ExtenderConfig {
        let https = self.tls.is_some() || self.url_prefix().starts_with("https://");
        ExtenderConfig {
            url_prefix: self.url_prefix(),
            filter_verb: Some("filter".to_string()),
            prioritize_verb: Some("prioritize".to_string()),
            preempt_verb: Some("preempt".to_string()),
            bind_verb: Some("bind".to_string()),
            weight: 1,
            enable_https: https,
            tls_config: https.then(|| ExtenderTlsConfig {
                insecure: true,
                ..ExtenderTlsConfig::default()
            }),
            http_timeout: Some(DEFAULT_HTTP_TIMEOUT.to_string()),
            node_cache_capable: true,
            managed_resources: Vec::new(),
            ignorable: false,
        }
    }

    /// The whole `KubeSchedulerConfiguration` (kubescheduler.config.k8s.io/v1) as YAML.
    pub fn scheduler_config_yaml(&self) -> Result<String, Error> {
        SchedulerConfiguration::with_extenders(vec![self.extender_entry()])
            .to_yaml()
            .map_err(|e| {
                Error::Invalid(format!("failed to write the scheduler configuration: {e}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut v = vec!["eip-extender"];
        v.extend_from_slice(args);
        Cli::parse_from(v)
    }

    #[test]
    fn flags_override_file_override_defaults() {
        let file: FileConfig = serde_saphyr::from_str(
            "listen: 127.0.0.1:9000\nregion: cn-beijing\neip-quota: 50\nscoring: binpack\npath-prefix: /sched/\ncloud-refresh: 30s\ncredentials-dir: /etc/file\n",
        )
        .expect("file parses");
        let s = Settings::merge(&cli(&["--eip-quota", "7"]), file).expect("valid");
        assert_eq!(s.listen, "127.0.0.1:9000".parse().expect("addr"));
        assert_eq!(s.region, "cn-beijing");
        assert_eq!(s.eip_quota, 7);
        assert_eq!(s.scoring, Scoring::Binpack);
        assert_eq!(s.path_prefix, "/sched");
        assert_eq!(s.cloud_refresh, Duration::from_secs(30));
        assert_eq!(s.credentials_dir, Some(PathBuf::from("/etc/file")));
        let s = Settings::merge(
            &cli(&["--credentials-dir", "/etc/flag"]),
            FileConfig {
                credentials_dir: Some("/etc/file".into()),
                ..FileConfig::default()
            },
        )
        .expect("valid");
        assert_eq!(s.credentials_dir, Some(PathBuf::from("/etc/flag")));
        let d = Settings::merge(&cli(&[]), FileConfig::default()).expect("valid");
        assert_eq!(d, Settings::default());
        assert_eq!(d.eip_quota, 20);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(serde_saphyr::from_str::<FileConfig>("listen: nowhere\n").is_err());
        assert!(serde_saphyr::from_str::<FileConfig>("unknown-key: 1\n").is_err());
        let f = FileConfig {
            tls_cert_file: Some("c.pem".into()),
            ..FileConfig::default()
        };
        assert!(Settings::merge(&cli(&[]), f).is_err());
        assert!(
            Settings::merge(&cli(&["--cloud-refresh", "soon"]), FileConfig::default()).is_err()
        );
    }

    #[test]
    fn printed_scheduler_config_round_trips_and_names_every_verb() {
        let s = Settings::merge(
            &cli(&["--listen", "0.0.0.0:8484", "--path-prefix", "scheduler"]),
            FileConfig::default(),
        )
        .expect("valid");
        let yaml = s.scheduler_config_yaml().expect("yaml");
        let parsed = SchedulerConfiguration::from_yaml(&yaml).expect("parses back");
        assert_eq!(parsed.api_version, "kubescheduler.config.k8s.io/v1");
        assert_eq!(parsed.kind, "KubeSchedulerConfiguration");
        let [e] = parsed.extenders.as_slice() else {
            panic!("one extender expected: {yaml}")
        };
        assert_eq!(
            e.url_prefix,
            "http://eip-extender.kube-eip.svc:8484/scheduler"
        );
        assert_eq!(
            e.verb_url(e.filter_verb.as_deref().unwrap_or("")),
            "http://eip-extender.kube-eip.svc:8484/scheduler/filter"
        );
        assert_eq!(e.bind_verb.as_deref(), Some("bind"));
        assert_eq!(e.preempt_verb.as_deref(), Some("preempt"));
        assert!(e.weight > 0 && e.node_cache_capable && !e.ignorable && !e.enable_https);
        assert_eq!(e.timeout().ok(), Some(Duration::from_secs(5)));
        let tls = Settings {
            tls: Some(("c".into(), "k".into())),
            ..s
        };
        let e = tls.extender_entry();
        assert!(e.enable_https && e.url_prefix.starts_with("https://"));
        let given = Settings {
            scheduler_url: Some("http://10.0.0.9:8484/".into()),
            ..Settings::default()
        };
        assert_eq!(given.url_prefix(), "http://10.0.0.9:8484");
    }
}

#[cfg(test)]
mod deploy_drift {
    use super::*;

    /// `deploy/scheduler/kube-scheduler-config.yaml` is what `--print-scheduler-config`
    /// prints with the settings file of deploy/base (so the path prefix and TLS match what
    /// the Deployment serves); regenerate it with
    /// `cargo run -p eip-extender -- --config deploy/base/eip-extender.yaml --print-scheduler-config > deploy/scheduler/kube-scheduler-config.yaml`.
    #[test]
    fn committed_scheduler_config_matches_the_printed_one() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let committed = std::fs::read_to_string(format!(
            "{root}/deploy/scheduler/kube-scheduler-config.yaml"
        ))
        .unwrap_or_default();
        let cli = Cli {
            config: Some(format!("{root}/deploy/base/eip-extender.yaml").into()),
            ..Cli::default()
        };
        let printed = Settings::resolve(&cli)
            .and_then(|s| s.scheduler_config_yaml())
            .unwrap_or_else(|e| e.to_string());
        assert_eq!(committed, printed);
        assert!(
            printed.contains("http://eip-extender.kube-eip.svc:8484"),
            "{printed}"
        );
    }
}
