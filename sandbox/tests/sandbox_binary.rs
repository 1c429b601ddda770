//! The real `sandbox` binary, as a newcomer runs it: it prints how to use it, the example
//! manifests applied with the real `kubectl` get their pods Running with an EIP that the
//! cloud shows InUse on each pod's IP (a named one for the named pod), and SIGTERM stops it
//! cleanly. Bad flags and a start-up failure end it with a one-line error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use eip_core::names::{ALLOCATED_EIP_ADDRESS, ALLOCATED_EIP_ID};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::{Client, ResourceExt};
use sandbox::stack::cli::{
    EXAMPLE_DEPLOYMENT, EXAMPLE_NAMED, EXAMPLE_STATEFULSET, NAMED_EIP_PLACEHOLDER,
};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

const SANDBOX: &str = env!("CARGO_BIN_EXE_sandbox");
const KUBECTL: &str = "kubectl";
/// Bound of each whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the stack may take to start.
const START: Duration = Duration::from_secs(30);

async fn bounded<T>(f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .map_err(|_| anyhow!("test timed out after {TEST_TIMEOUT:?}"))?
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn sandbox(args: &[&str]) -> Command {
    let mut c = Command::new(SANDBOX);
    c.args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Reads everything a pipe says, in the background.
fn drain(r: impl AsyncRead + Unpin + Send + 'static) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut all = String::new();
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            all.push_str(&l);
            all.push('\n');
        }
        all
    })
}

/// Reads stdout up to the banner's last line; returns the banner and the rest of stdout.
async fn banner(child: &mut Child) -> anyhow::Result<(String, tokio::task::JoinHandle<String>)> {
    let stdout = child.stdout.take().context("stdout is piped")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut text = String::new();
    let read = async {
        while let Some(l) = lines.next_line().await? {
            text.push_str(&l);
            text.push('\n');
            if l == "Ctrl-C stops it." {
                return Ok(());
            }
        }
        bail!("sandbox closed stdout before it was ready")
    };
    tokio::time::timeout(START, read)
        .await
        .map_err(|_| anyhow!("sandbox not ready within {START:?}"))??;
    Ok((text, drain(lines.into_inner().into_inner())))
}

/// The value after `prefix` on the banner line that starts with it.
fn field<'a>(banner: &'a str, prefix: &str) -> anyhow::Result<&'a str> {
    banner
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .with_context(|| format!("no line starting {prefix:?} in\n{banner}"))
}

async fn kubectl(dir: &Path, kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("HOME", dir)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .map_err(|_| anyhow!("kubectl {args:?} timed out"))??;
    if !out.status.success() {
        bail!(
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn sigterm(child: &Child) -> anyhow::Result<()> {
    let pid = child.id().context("the sandbox already exited")?;
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
    Ok(())
}

async fn exit_of(child: &mut Child, within: Duration) -> anyhow::Result<ExitStatus> {
    tokio::time::timeout(within, child.wait())
        .await
        .map_err(|_| anyhow!("sandbox still running {within:?} after SIGTERM"))?
        .context("wait for the sandbox")
}

/// `(allocation id, status, associated private IP)` of each public IP in the cloud.
async fn cloud_eips(
    http: &reqwest::Client,
    cloud: &str,
) -> anyhow::Result<BTreeMap<String, (String, String, String)>> {
    let state: Value = http
        .get(format!("{cloud}/_sim/state"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Ok(state
        .get("eips")
        .and_then(Value::as_array)
        .context("the admin state lists eips")?
        .iter()
        .map(|e| {
            let private = e.get("association").map(|a| s(a, "private_ip"));
            (
                s(e, "ip_address"),
                (
                    s(e, "allocation_id"),
                    s(e, "status"),
                    private.unwrap_or_default(),
                ),
            )
        })
        .collect())
}

/// Pods Running with their EIP annotations: name -> (pod IP, address, allocation id).
async fn pods_with_eips(
    pods: &Api<Pod>,
) -> anyhow::Result<BTreeMap<String, (String, String, String)>> {
    Ok(pods
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter_map(|p| {
            let status = p.status.as_ref()?;
            if status.phase.as_deref() != Some("Running") {
                return None;
            }
            let ip = status.pod_ip.clone()?;
            let ann = p.annotations();
            let address = ann.get(ALLOCATED_EIP_ADDRESS)?.clone();
            let id = ann.get(ALLOCATED_EIP_ID)?.clone();
            Some((p.name_any(), (ip, address, id)))
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_get_their_eips_and_sigterm_stops_it_cleanly() -> anyhow::Result<()> {
    bounded(examples_scenario()).await
}

async fn examples_scenario() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = sandbox(&[
        "--nodes=2",
        "--kubeconfig",
        kubeconfig.to_str().context("utf-8 temp path")?,
    ])
    .spawn()?;
    let stderr = drain(child.stderr.take().context("stderr is piped")?);
    let (text, rest) = banner(&mut child).await?;
    assert!(
        text.contains(&format!(
            "export KUBECONFIG={}\n  kubectl eip show -A    # the kubectl eip plugin: cargo install --path kubectl-eip\n",
            kubeconfig.display()
        )),
        "the plugin is the first thing to try: {text}"
    );
    assert!(kubeconfig.exists(), "no kubeconfig at {kubeconfig:?}");
    let cloud = field(&text, "eip-cloudsim: ")?
        .split_whitespace()
        .next()
        .context("cloud URL")?
        .to_string();
    let named = field(&text, "named EIPs: ")?.trim().to_string();
    let extender = field(&text, "eip-extender: ")?.trim().to_string();
    let agents: Vec<&str> = field(&text, "eip-agent: ")?
        .split(", ")
        .filter_map(|a| a.split_whitespace().next())
        .collect();
    assert_eq!(agents.len(), 2, "one agent per node: {text}");
    let http = reqwest::Client::new();
    for url in std::iter::once(extender.as_str()).chain(agents) {
        let debug: Value = http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        assert!(debug.is_object(), "{url}: {debug}");
    }

    let named_manifest = std::fs::read_to_string(examples().join(EXAMPLE_NAMED))?
        .replace(NAMED_EIP_PLACEHOLDER, &named);
    let named_path = dir.path().join(EXAMPLE_NAMED);
    std::fs::write(&named_path, named_manifest)?;
    for file in [
        examples().join(EXAMPLE_DEPLOYMENT),
        examples().join(EXAMPLE_STATEFULSET),
        named_path,
    ] {
        kubectl(
            dir.path(),
            &kubeconfig,
            &["apply", "-f", file.to_str().context("utf-8 path")?],
        )
        .await?;
    }

    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let pods: Api<Pod> = Api::default_namespaced(Client::try_from(cfg)?);
    // 2 Deployment pods, 2 StatefulSet pods, the named pod; each EIP InUse on its pod's IP.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (bound, eips) = loop {
        let bound = pods_with_eips(&pods).await?;
        let eips = cloud_eips(&http, &cloud).await?;
        let all_in_use = bound.values().all(|(ip, address, id)| {
            eips.get(address)
                .is_some_and(|(i, status, private)| i == id && status == "InUse" && private == ip)
        });
        if bound.len() == 5 && all_in_use {
            break (bound, eips);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("not every example pod got its EIP in use:\npods {bound:?}\ncloud {eips:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        bound.get("rtsp-gateway").map(|(_, _, id)| id.as_str()),
        Some(named.as_str()),
        "the named pod has the pre-allocated EIP: {bound:?}"
    );
    assert!(bound.contains_key("game-0") && bound.contains_key("game-1"));
    assert_eq!(
        eips.len(),
        5,
        "one EIP per pod, the named one included: {eips:?}"
    );
    let wide = kubectl(dir.path(), &kubeconfig, &["get", "podeips"]).await?;
    assert!(wide.contains("game-0") && wide.contains("Bound"), "{wide}");

    sigterm(&child).await?;
    let status = exit_of(&mut child, Duration::from_secs(15)).await?;
    let stderr = stderr.await?;
    let rest = rest.await?;
    assert!(status.success(), "exit {status:?}; stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        rest.is_empty(),
        "nothing more on stdout after the banner: {rest}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_end_with_a_usage_error() -> anyhow::Result<()> {
    bounded(async {
        for (args, says) in [
            (&["--nodes=0"][..], "0 is not in 1..=50"),
            (&["--instance-type=ecs.nope"][..], "unknown instance type"),
            (&["--frobnicate"][..], "unexpected argument '--frobnicate'"),
        ] {
            let out = sandbox(args).output().await?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            let first = stderr.lines().next().unwrap_or_default();
            assert!(
                first.starts_with("error: ") && first.contains(says),
                "{args:?}: {stderr}"
            );
            assert!(out.stdout.is_empty(), "{args:?}");
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_up_failure_is_one_line_and_a_failing_exit() -> anyhow::Result<()> {
    bounded(async {
        let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = taken.local_addr()?.to_string();
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        let out = sandbox(&[
            "--nodes=1",
            "--extender-listen",
            &addr,
            "--kubeconfig",
            kubeconfig.to_str().context("utf-8 temp path")?,
        ])
        .output()
        .await?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        let [line] = lines.as_slice() else {
            panic!("one line expected:\n{stderr}")
        };
        assert!(
            line.starts_with(&format!(
                "sandbox: cannot listen for eip-extender on {addr}: "
            )),
            "{line}"
        );
        assert!(out.stdout.is_empty(), "no banner when it did not start");
        assert!(!kubeconfig.exists(), "no kubeconfig when it did not start");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_eips_up_to_the_quota_and_the_scheduler_configuration_on_request()
-> anyhow::Result<()> {
    bounded(async {
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        let kubeconfig_arg = kubeconfig.to_str().context("utf-8 temp path")?;

        // More named EIPs than the quota: one line saying so, before anything starts.
        let out = sandbox(&[
            "--nodes=1",
            "--named-eips=31",
            "--eip-quota=30",
            "--kubeconfig",
            kubeconfig_arg,
        ])
        .output()
        .await?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(
            stderr.lines().collect::<Vec<_>>(),
            [
                "sandbox: invalid sandbox options: --named-eips 31 is more than the EIP quota 30 \
              (named EIPs count against it): ask for fewer or raise --eip-quota"
            ]
        );
        assert!(out.stdout.is_empty() && !kubeconfig.exists());

        // Beyond the old cap of 20, within the quota; and the scheduler configuration.
        let mut child = sandbox(&[
            "--nodes=1",
            "--named-eips=25",
            "--eip-quota=30",
            "--print-scheduler-config",
            "--kubeconfig",
            kubeconfig_arg,
        ])
        .spawn()?;
        let stderr = drain(child.stderr.take().context("stderr is piped")?);
        let (text, rest) = banner(&mut child).await?;
        let named: Vec<&str> = field(&text, "named EIPs: ")?.split_whitespace().collect();
        assert_eq!(named.len(), 25, "{text}");
        let cloud = field(&text, "eip-cloudsim: ")?
            .split_whitespace()
            .next()
            .context("cloud URL")?
            .to_string();
        let eips = cloud_eips(&reqwest::Client::new(), &cloud).await?;
        assert_eq!(eips.len(), 25, "each one allocated in the cloud: {eips:?}");

        let extender = field(&text, "eip-extender: ")?
            .trim()
            .trim_end_matches("/debug/state")
            .to_string();
        let (_, yaml) = text
            .split_once("the scheduler loop runs from this KubeSchedulerConfiguration:\n")
            .with_context(|| format!("no scheduler configuration in\n{text}"))?;
        let yaml: String = yaml
            .lines()
            .take_while(|l| *l != "Ctrl-C stops it.")
            .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
            .collect();
        let config: Value = serde_saphyr::from_str(&yaml)?;
        assert_eq!(config["kind"], "KubeSchedulerConfiguration", "{yaml}");
        assert_eq!(
            config["extenders"][0]["urlPrefix"].as_str(),
            Some(extender.as_str()),
            "the configuration calls the extender the banner names: {yaml}"
        );
        assert_eq!(config["extenders"][0]["bindVerb"], "bind", "{yaml}");

        sigterm(&child).await?;
        let status = exit_of(&mut child, Duration::from_secs(15)).await?;
        let stderr = stderr.await?;
        assert!(status.success(), "exit {status:?}; stderr:\n{stderr}");
        assert!(rest.await?.is_empty());
        Ok(())
    })
    .await
}
