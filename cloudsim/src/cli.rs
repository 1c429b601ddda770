//! The `eip-cloudsim` command line: flags on top of an optional config file.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::{Secret, SimConfig};
use crate::error::Error;
use crate::server::CloudSim;

/// A local emulator of the Alibaba Cloud VPC (EIP) and ECS (ENI) OpenAPI and the ECS
/// instance metadata service. Prints `listening on http://ADDR` first, then serves.
#[derive(Debug, clap::Parser)]
#[command(name = "eip-cloudsim", version)]
pub struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// YAML (or .json) configuration file; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Region served.
    #[arg(long)]
    pub region: Option<String>,
    /// Account AccessKey id.
    #[arg(long)]
    pub access_key_id: Option<String>,
    /// Account AccessKey secret.
    #[arg(long, env = "EIP_CLOUDSIM_ACCESS_KEY_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub access_key_secret: Option<Secret>,
    /// EIP quota.
    #[arg(long)]
    pub eip_quota: Option<u32>,
    /// Associating -> InUse delay, in milliseconds.
    #[arg(long)]
    pub associate_delay_ms: Option<u64>,
    /// Unassociating -> Available delay, in milliseconds.
    #[arg(long)]
    pub unassociate_delay_ms: Option<u64>,
    /// Releasing -> gone delay, in milliseconds.
    #[arg(long)]
    pub release_delay_ms: Option<u64>,
    /// Divide every rate-limit period by this factor.
    #[arg(long)]
    pub rate_limit_time_scale: Option<f64>,
    /// Turn per-API rate limits off.
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Seed for ids and addresses.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Log format on stderr: text (coloured only on a terminal, never with NO_COLOR) or
    /// json (one object per line). RUST_LOG filters, warnings by default.
    #[arg(long, env = "EIP_CLOUDSIM_LOG_FORMAT", value_enum, default_value_t = eip_log::LogFormat::Text)]
    pub log_format: eip_log::LogFormat,
}

fn parse_secret(s: &str) -> Result<Secret, String> {
    Ok(Secret(s.to_string()))
}

impl Args {
    /// The configuration: the file (or defaults) with the flags applied.
    pub fn config(&self) -> Result<SimConfig, Error> {
        let mut cfg = match &self.config {
            Some(path) => SimConfig::from_file(path)?,
            None => SimConfig::default(),
        };
        cfg.listen = self.listen;
        if let Some(r) = &self.region {
            cfg.region_id = r.clone();
        }
        if let Some(v) = &self.access_key_id {
            cfg.access_key_id = v.clone();
        }
        if let Some(v) = &self.access_key_secret {
            cfg.access_key_secret = v.clone();
        }
        if let Some(v) = self.eip_quota {
            cfg.eip_quota = v;
        }
        if let Some(v) = self.associate_delay_ms {
            cfg.delays.associate_ms = v;
        }
        if let Some(v) = self.unassociate_delay_ms {
            cfg.delays.unassociate_ms = v;
        }
        if let Some(v) = self.release_delay_ms {
            cfg.delays.release_ms = v;
        }
        if let Some(v) = self.rate_limit_time_scale {
            cfg.rate_limits.time_scale = v;
        }
        if self.no_rate_limits {
            cfg.rate_limits.enabled = false;
        }
        if self.seed.is_some() {
            cfg.seed = self.seed;
        }
        Ok(cfg)
    }
}

/// Starts the emulator, prints `listening on http://ADDR` as the first stdout line, and
/// serves until the process is stopped.
pub async fn run(args: Args) -> Result<(), Error> {
    let sim = CloudSim::start(args.config()?).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", sim.url()).map_err(Error::Serve)?;
    out.flush().map_err(Error::Serve)?;
    drop(out);
    sim.wait().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn flags_override_and_the_secret_stays_hidden() {
        let args = Args::try_parse_from([
            "eip-cloudsim",
            "--access-key-secret",
            "s3cr3t-value",
            "--eip-quota",
            "4",
            "--no-rate-limits",
        ])
        .unwrap();
        assert!(!format!("{args:?}").contains("s3cr3t-value"));
        let cfg = args.config().unwrap();
        assert_eq!(cfg.access_key_secret.expose(), "s3cr3t-value");
        assert_eq!(cfg.eip_quota, 4);
        assert!(!cfg.rate_limits.enabled);
        assert_eq!(cfg.listen.port(), 0);
    }
}
