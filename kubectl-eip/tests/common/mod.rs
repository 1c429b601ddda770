//! The plugin binary against the whole stack in-process (in-memory API server, eip-cloudsim,
//! node simulators, the real agents and extender, the scheduler loop, the workload
//! controller), run as a user runs it: a subprocess with a kubeconfig.
//!
//! Addresses are drawn from ranges whose every address has the same width
//! (192.168.100.128/25, 192.168.101.128/25, 47.96.100.128/25), so that tables keep their
//! exact layout whatever the emulator picks; [`mask`] hides the values themselves.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use eip_cloudsim::SimConfig;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use sandbox::stack::{Stack, StackOptions, zones_of};
use serde_json::Value;

/// What one run printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
    /// Exit code.
    pub code: i32,
}

/// The plugin binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_kubectl-eip");

/// A running stack and a kubeconfig for it.
pub struct Cluster {
    /// The stack.
    pub stack: Stack,
    /// Temporary HOME and kubeconfig files.
    pub dir: tempfile::TempDir,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
}

/// Emulator settings whose addresses all have the same width.
pub fn fixed_width_cloud() -> anyhow::Result<SimConfig> {
    let mut cloud = SimConfig::default();
    let cidrs = ["192.168.100.128/25", "192.168.101.128/25"];
    for (v, cidr) in cloud.vswitches.iter_mut().zip(cidrs) {
        v.cidr_block = cidr.parse()?;
    }
    cloud.public_ip_cidr = "47.96.100.128/25".parse()?;
    Ok(cloud)
}

impl Cluster {
    /// `nodes` nodes, one named EIP, the EIP feature on.
    pub async fn start(nodes: u32) -> anyhow::Result<Cluster> {
        let cloud = fixed_width_cloud()?;
        let zones = zones_of(&cloud);
        let stack = Stack::start(StackOptions {
            nodes: StackOptions::spread(nodes, "ecs.g7.large", &zones),
            named_eips: 1,
            cloud,
            ..StackOptions::default()
        })
        .await?;
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        stack.api_server().write_kubeconfig(&kubeconfig)?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !stack.agents_ready() {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "agents not ready in 15 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Cluster {
            stack,
            dir,
            kubeconfig,
        })
    }

    /// Runs the plugin with the admin kubeconfig.
    pub async fn eip(&self, args: &[&str]) -> anyhow::Result<Run> {
        run_with(&self.kubeconfig, self.dir.path(), args).await
    }

    /// Writes a kubeconfig whose user is ServiceAccount `ns/name`.
    pub fn service_account_kubeconfig(&self, ns: &str, name: &str) -> anyhow::Result<PathBuf> {
        let token = self.stack.api_server().service_account_token(ns, name);
        let path = self.dir.path().join(format!("{ns}-{name}.kubeconfig"));
        std::fs::write(&path, self.stack.api_server().kubeconfig_with_token(&token))?;
        Ok(path)
    }

    /// Creates a pod from JSON.
    pub async fn create_pod(&self, pod: Value) -> anyhow::Result<Pod> {
        let ns = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned();
        let pod: Pod = serde_json::from_value(pod)?;
        Ok(Api::<Pod>::namespaced(self.stack.client(), &ns)
            .create(&PostParams::default(), &pod)
            .await?)
    }

    /// Waits until `f` holds for pod `ns/name`, returning it.
    pub async fn wait_pod(
        &self,
        ns: &str,
        name: &str,
        what: &str,
        f: impl Fn(&Pod) -> bool,
    ) -> anyhow::Result<Pod> {
        let api = Api::<Pod>::namespaced(self.stack.client(), ns);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(p) = api.get_opt(name).await?
                && f(&p)
            {
                return Ok(p);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "pod {ns}/{name}: {what} not within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Runs the plugin with `kubeconfig` (as `$KUBECONFIG`) and `home` as `$HOME`.
pub async fn run_with(kubeconfig: &Path, home: &Path, args: &[&str]) -> anyhow::Result<Run> {
    let mut c = tokio::process::Command::new(BIN);
    c.args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), c.output())
        .await
        .with_context(|| format!("kubectl-eip {args:?} timed out"))??;
    Ok(Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    })
}

/// A pod asking for an EIP with `annotations`.
pub fn pod(name: &str, annotations: &[(&str, &str)]) -> Value {
    let ann: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}, "annotations": ann},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    })
}

/// `text` with each of `values` replaced by a same-width mask: digits become `9`, and an
/// allocation id's tail becomes `*`; the last column of every line but the header (AGE)
/// becomes `AGE` when `ages` is set.
pub fn mask(text: &str, values: &[&str]) -> String {
    let mut out = text.to_owned();
    for v in values.iter().filter(|v| !v.is_empty()) {
        let masked: String = match v.strip_prefix("eip-") {
            Some(tail) => format!("eip-{}", "*".repeat(tail.len())),
            None => v
                .chars()
                .map(|c| if c.is_ascii_digit() { '9' } else { c })
                .collect(),
        };
        out = out.replace(v, &masked);
    }
    out
}

/// Replaces the last whitespace-separated cell of every line after the first (the AGE
/// column) by `AGE`.
pub fn mask_ages(table: &str) -> String {
    let mut lines = Vec::new();
    for (i, line) in table.lines().enumerate() {
        if i == 0 {
            lines.push(line.to_owned());
            continue;
        }
        match line.rfind(' ') {
            Some(at) => lines.push(format!("{}AGE", &line[..=at])),
            None => lines.push(line.to_owned()),
        }
    }
    let mut s = lines.join("\n");
    if table.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// A run that succeeded and printed `stdout` only.
pub fn ok(stdout: &str) -> Run {
    Run {
        stdout: stdout.to_owned(),
        stderr: String::new(),
        code: 0,
    }
}

/// A run that exited `code` and printed `stderr` only.
pub fn fail(code: i32, stderr: &str) -> Run {
    Run {
        stdout: String::new(),
        stderr: stderr.to_owned(),
        code,
    }
}
