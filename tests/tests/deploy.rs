//! The manifests in `deploy/`: every kustomization builds with `kubectl kustomize`, holds
//! what an install needs, and runs the binaries with flags, environment variables and a
//! config file that their own parsers accept.

mod manifests;

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use clap::{CommandFactory, Parser};
use serde_json::Value;

use manifests::{KUSTOMIZATIONS, Manifests};

/// The kinds and names an install needs from the base.
const BASE_MUST_HAVE: &[(&str, &str, &str)] = &[
    ("Namespace", "", "kube-eip"),
    ("CustomResourceDefinition", "", "podeips.kube-eip.io"),
    ("ServiceAccount", "kube-eip", "eip-agent"),
    ("ServiceAccount", "kube-eip", "eip-extender"),
    ("ClusterRole", "", "kube-eip:eip-agent"),
    ("ClusterRoleBinding", "", "kube-eip:eip-agent"),
    ("Role", "kube-system", "kube-eip:eip-agent"),
    ("RoleBinding", "kube-system", "kube-eip:eip-agent"),
    ("ClusterRole", "", "kube-eip:eip-extender"),
    ("ClusterRoleBinding", "", "kube-eip:eip-extender"),
    ("Role", "kube-system", "kube-eip:eip-extender"),
    ("RoleBinding", "kube-system", "kube-eip:eip-extender"),
    ("DaemonSet", "kube-eip", "eip-agent"),
    ("Deployment", "kube-eip", "eip-extender"),
    ("Service", "kube-eip", "eip-extender"),
    ("PodDisruptionBudget", "kube-eip", "eip-extender"),
    ("ConfigMap", "kube-system", "eip-kube-scheduler-config"),
];

#[test]
fn every_kustomization_builds_and_the_base_holds_an_install() -> anyhow::Result<()> {
    for dir in KUSTOMIZATIONS {
        let m = Manifests::build(dir)?;
        assert!(!m.objects.is_empty(), "{dir} builds to nothing");
        for o in &m.objects {
            let kind = manifests::kind(o);
            assert!(
                o.get("apiVersion").and_then(Value::as_str).is_some() && !kind.is_empty(),
                "{dir}: an object without apiVersion/kind: {o}"
            );
            assert!(
                !manifests::name(o).is_empty(),
                "{dir}: {kind} without a name"
            );
        }
    }
    let base = Manifests::build("deploy/base")?;
    for (kind, ns, name) in BASE_MUST_HAVE {
        base.find(kind, ns, name)
            .with_context(|| format!("deploy/base lacks {kind} {ns}/{name}"))?;
    }
    // The CRD is the generated one, unchanged.
    let crd_file = std::fs::read_to_string(manifests::repo_path("deploy/crds/podeips.yaml"))?;
    let crd: Value = serde_saphyr::from_str(&crd_file)?;
    let built = base.find("CustomResourceDefinition", "", "podeips.kube-eip.io")?;
    assert_eq!(built, &crd, "kustomize changed the generated CRD");
    // The scheduler configuration is the committed file, byte for byte.
    let sched = base.find("ConfigMap", "kube-system", "eip-kube-scheduler-config")?;
    let committed = std::fs::read_to_string(manifests::repo_path(
        "deploy/scheduler/kube-scheduler-config.yaml",
    ))?;
    assert_eq!(
        sched
            .pointer("/data/kube-scheduler-config.yaml")
            .and_then(Value::as_str),
        Some(committed.as_str())
    );
    // The scheduler calls the extender's Service itself, on the port it declares.
    let url = eip_core::extender::SchedulerConfiguration::from_yaml(&committed)?
        .extenders
        .first()
        .map(|e| e.url_prefix.clone())
        .context("one extender")?;
    let authority = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .with_context(|| format!("{url} is not plain http"))?;
    let (host, port) = authority
        .split_once(':')
        .with_context(|| format!("{url} names no port"))?;
    let [svc_name, svc_ns, "svc"] = host.split('.').collect::<Vec<_>>()[..] else {
        bail!("{url} does not name a Service as <name>.<namespace>.svc");
    };
    assert_eq!((svc_ns, svc_name), ("kube-eip", "eip-extender"), "{url}");
    let svc = base.find("Service", svc_ns, svc_name)?;
    assert_eq!(
        svc.pointer("/spec/ports/0/port").and_then(Value::as_u64),
        Some(port.parse()?),
        "{url}: the Service's port"
    );
    assert!(
        base.of_kinds(&["Service"])
            .all(|s| s.pointer("/spec/type").and_then(Value::as_str) != Some("ExternalName")),
        "no alias Service is needed"
    );
    // Images are overridable by name.
    for (kind, name, image) in [
        ("DaemonSet", "eip-agent", "kube-eip/eip-agent:latest"),
        ("Deployment", "eip-extender", "kube-eip/eip-extender:latest"),
    ] {
        let o = base.find(kind, "kube-eip", name)?;
        assert_eq!(
            o.pointer("/spec/template/spec/containers/0/image")
                .and_then(Value::as_str),
            Some(image)
        );
    }
    Ok(())
}

#[test]
fn the_agent_daemonset_runs_everywhere_on_the_host_network_with_its_node_name() -> anyhow::Result<()>
{
    let base = Manifests::build("deploy/base")?;
    let ds = base.find("DaemonSet", "kube-eip", "eip-agent")?;
    let spec = ds.pointer("/spec/template/spec").context("pod spec")?;
    assert_eq!(spec.get("hostNetwork"), Some(&Value::Bool(true)));
    assert_eq!(
        spec.get("serviceAccountName").and_then(Value::as_str),
        Some("eip-agent")
    );
    let tolerations = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .context("tolerations")?;
    assert!(
        tolerations.iter().any(
            |t| t.get("operator").and_then(Value::as_str) == Some("Exists")
                && t.get("key").is_none()
        ),
        "the agent must tolerate every taint: {tolerations:?}"
    );
    // Longer than the agent's longest wait for an EIP transition (120 s).
    let grace = spec
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_u64)
        .context("terminationGracePeriodSeconds")?;
    let wait = eip_agent::controller::AgentConfig::new("n", "c").wait_timeout;
    assert!(grace > wait.as_secs(), "grace {grace}s <= wait {wait:?}");
    let env = spec
        .pointer("/containers/0/env")
        .and_then(Value::as_array)
        .context("env")?;
    let node = env
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some("NODE_NAME"))
        .context("NODE_NAME")?;
    assert_eq!(
        node.pointer("/valueFrom/fieldRef/fieldPath")
            .and_then(Value::as_str),
        Some("spec.nodeName")
    );
    let c = spec.pointer("/containers/0").context("container")?;
    assert_health_probes(c);
    let dep = base.find("Deployment", "kube-eip", "eip-extender")?;
    assert_eq!(dep.pointer("/spec/replicas"), Some(&Value::from(2)));
    let c = dep
        .pointer("/spec/template/spec/containers/0")
        .context("container")?;
    assert_health_probes(c);
    assert_eq!(
        c.pointer("/securityContext/readOnlyRootFilesystem"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        dep.pointer("/spec/template/spec/securityContext/runAsNonRoot"),
        Some(&Value::Bool(true))
    );
    Ok(())
}

/// The container is probed on the binaries' health endpoints: ready on /readyz, live on /healthz.
fn assert_health_probes(c: &Value) {
    assert_eq!(
        c.pointer("/readinessProbe/httpGet/path")
            .and_then(Value::as_str),
        Some("/readyz")
    );
    assert_eq!(
        c.pointer("/livenessProbe/httpGet/path")
            .and_then(Value::as_str),
        Some("/healthz")
    );
}

/// Environment variables the binaries read that are not clap arguments.
fn known_env(binary: &str, name: &str) -> bool {
    use eip_cloud::credentials::{ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN};
    let common = [
        "RUST_LOG",
        ENV_ACCESS_KEY_ID,
        ENV_ACCESS_KEY_SECRET,
        ENV_SECURITY_TOKEN,
    ];
    common.contains(&name) || (binary == "eip-extender" && name == "POD_NAMESPACE")
}

/// A container's arguments as its binary would see them: `$(VAR)` expanded from the
/// container's environment (as the kubelet does), and every environment variable that a
/// clap argument reads turned into that argument (`NODE_NAME` -> `--node-name=...`).
fn argv(binary: &str, cmd: &clap::Command, container: &Value) -> anyhow::Result<Vec<String>> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut from_env = Vec::new();
    for e in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = e.get("name").and_then(Value::as_str).context("env name")?;
        let value = match (e.get("value"), e.pointer("/valueFrom")) {
            (Some(v), _) => v.as_str().context("env value")?.to_string(),
            (None, Some(from)) if from.get("fieldRef").is_some() => "node-1".to_string(),
            (None, Some(from)) if from.get("secretKeyRef").is_some() => {
                let key = from.pointer("/secretKeyRef/key").and_then(Value::as_str);
                let files = [
                    eip_cloud::credentials::FILE_ACCESS_KEY_ID,
                    eip_cloud::credentials::FILE_ACCESS_KEY_SECRET,
                    eip_cloud::credentials::FILE_SECURITY_TOKEN,
                ];
                if !key.is_some_and(|k| files.contains(&k)) {
                    bail!("{binary}: env {name} reads Secret key {key:?}, not one of {files:?}");
                }
                "secret".to_string()
            }
            _ => bail!("{binary}: env {name} has neither value nor a known valueFrom"),
        };
        match cmd
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|v| v == name))
        {
            Some(arg) => {
                let long = arg
                    .get_long()
                    .context("an env-backed flag has a long name")?;
                from_env.push(format!("--{long}={value}"));
            }
            None if known_env(binary, name) => {}
            None => bail!("{binary}: env {name} is read by nothing"),
        }
        env.insert(name.to_string(), value);
    }
    let mut out = vec![binary.to_string()];
    for a in container
        .get("args")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut a = a.as_str().context("args are strings")?.to_string();
        for (k, v) in &env {
            a = a.replace(&format!("$({k})"), v);
        }
        if a.contains("$(") {
            bail!("{binary}: {a} names a variable the container does not define first");
        }
        out.push(a);
    }
    out.extend(from_env);
    if container.get("command").is_some() {
        bail!("{binary}: the image's entrypoint is the binary; no command override expected");
    }
    Ok(out)
}

/// The Secret mounted read-only at exactly `path` in `container`.
fn secret_mounted_at<'a>(
    workload: &'a Value,
    container: &Value,
    path: &std::path::Path,
) -> anyhow::Result<&'a str> {
    let mount = container
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|m| m.get("mountPath").and_then(Value::as_str) == path.to_str())
        .with_context(|| format!("nothing is mounted at {}", path.display()))?;
    assert_eq!(
        mount.get("readOnly"),
        Some(&Value::Bool(true)),
        "{} is mounted read-only",
        path.display()
    );
    let volume = mount
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    workload
        .pointer("/spec/template/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| manifests::name(v) == volume)
        .and_then(|v| v.pointer("/secret/secretName"))
        .and_then(Value::as_str)
        .with_context(|| format!("volume {volume} at {} is not a Secret", path.display()))
}

/// The cloud AccessKey reaches a component only as the mounted Secret
/// eip-cloud-credentials at its credentials directory, never as environment variables
/// (a rotated key is then used without a restart).
fn credentials_are_mounted(
    ctx: &str,
    workload: &Value,
    container: &Value,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let dir = dir.with_context(|| format!("{ctx}: no credentials directory"))?;
    let secret = secret_mounted_at(workload, container, dir).context(ctx.to_string())?;
    assert_eq!(secret, "eip-cloud-credentials", "{ctx}");
    for e in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert!(
            e.pointer("/valueFrom/secretKeyRef").is_none(),
            "{ctx}: env {} reads a Secret",
            manifests::name(e)
        );
    }
    Ok(())
}

fn port_named(container: &Value, name: &str) -> Option<u64> {
    container
        .get("ports")?
        .as_array()?
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))?
        .get("containerPort")?
        .as_u64()
}

fn probe_ports_exist(binary: &str, container: &Value) -> anyhow::Result<()> {
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(port) = container.pointer(&format!("/{probe}/httpGet/port")) {
            let ok = match port {
                Value::String(n) => port_named(container, n).is_some(),
                Value::Number(_) => true,
                _ => false,
            };
            if !ok {
                bail!("{binary}: {probe} names port {port}, which the container does not declare");
            }
        }
    }
    Ok(())
}

#[test]
fn every_flag_env_and_config_key_in_the_manifests_is_accepted_by_the_binaries() -> anyhow::Result<()>
{
    let mut seen = BTreeMap::<&str, usize>::new();
    for dir in KUSTOMIZATIONS {
        let m = Manifests::build(dir)?;
        for (workload, c) in m.containers() {
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let ctx = format!(
                "{dir}: {} {} container {}",
                manifests::kind(workload),
                manifests::name(workload),
                manifests::name(c)
            );
            if image.starts_with("kube-eip/eip-agent:") {
                let args =
                    argv("eip-agent", &eip_agent::cli::Args::command(), c).context(ctx.clone())?;
                let parsed = eip_agent::cli::Args::try_parse_from(&args)
                    .map_err(|e| anyhow!("{ctx}: eip-agent refuses {args:?}: {e}"))?;
                assert_eq!(
                    port_named(c, "http-metrics"),
                    Some(u64::from(parsed.listen.port())),
                    "{ctx}: the declared port is not where the agent listens"
                );
                probe_ports_exist("eip-agent", c)?;
                credentials_are_mounted(&ctx, workload, c, parsed.credentials_dir.as_deref())?;
                *seen.entry("eip-agent").or_default() += 1;
            } else if image.starts_with("kube-eip/eip-extender:") {
                let args =
                    argv("eip-extender", &eip_extender::Cli::command(), c).context(ctx.clone())?;
                let cli = eip_extender::Cli::try_parse_from(&args)
                    .map_err(|e| anyhow!("{ctx}: eip-extender refuses {args:?}: {e}"))?;
                // The config file comes from the mounted ConfigMap.
                let file = match &cli.config {
                    Some(path) => {
                        let text = m.mounted_file(workload, c, path)?;
                        serde_saphyr::from_str::<eip_extender::config::FileConfig>(&text)
                            .map_err(|e| anyhow!("{ctx}: config {}: {e}", path.display()))?
                    }
                    None => eip_extender::config::FileConfig::default(),
                };
                let settings = eip_extender::Settings::merge(&cli, file)
                    .map_err(|e| anyhow!("{ctx}: settings refused: {e}"))?;
                assert!(
                    settings.leader_elect,
                    "{ctx}: two replicas need --leader-elect"
                );
                assert_eq!(
                    port_named(c, "http"),
                    Some(u64::from(settings.listen.port())),
                    "{ctx}: the declared port is not where the extender listens"
                );
                probe_ports_exist("eip-extender", c)?;
                credentials_are_mounted(&ctx, workload, c, settings.credentials_dir.as_deref())?;
                // The committed scheduler configuration is what these settings print.
                let printed = settings.scheduler_config_yaml()?;
                let committed = std::fs::read_to_string(manifests::repo_path(
                    "deploy/scheduler/kube-scheduler-config.yaml",
                ))?;
                assert_eq!(
                    printed, committed,
                    "{ctx}: the scheduler configuration differs"
                );
                if *dir == "deploy/overlays/sandbox" {
                    assert!(
                        settings
                            .cloud_endpoint
                            .as_deref()
                            .is_some_and(|e| e.contains("eip-cloudsim")),
                        "{ctx}: the sandbox overlay must point the extender at eip-cloudsim"
                    );
                }
                *seen.entry("eip-extender").or_default() += 1;
            } else if image.starts_with("kube-eip/eip-cloudsim:") {
                let args = argv("eip-cloudsim", &eip_cloudsim::cli::Args::command(), c)
                    .context(ctx.clone())?;
                eip_cloudsim::cli::Args::try_parse_from(&args)
                    .map_err(|e| anyhow!("{ctx}: eip-cloudsim refuses {args:?}: {e}"))?;
                *seen.entry("eip-cloudsim").or_default() += 1;
            } else {
                bail!("{ctx}: unknown image {image}");
            }
        }
    }
    // base and sandbox each run the agent and the extender; the sandbox also the emulator.
    assert_eq!(
        seen,
        BTreeMap::from([("eip-agent", 2), ("eip-cloudsim", 1), ("eip-extender", 2)])
    );
    Ok(())
}

#[test]
fn the_sandbox_overlay_points_the_agent_at_the_emulator() -> anyhow::Result<()> {
    let m = Manifests::build("deploy/overlays/sandbox")?;
    let ds = m.find("DaemonSet", "kube-eip", "eip-agent")?;
    let c = ds
        .pointer("/spec/template/spec/containers/0")
        .context("container")?;
    let args = argv("eip-agent", &eip_agent::cli::Args::command(), c)?;
    let parsed = eip_agent::cli::Args::try_parse_from(&args)?;
    assert_eq!(
        parsed.cloud_endpoint.as_deref(),
        Some("http://eip-cloudsim.kube-eip.svc:8080")
    );
    assert_eq!(
        parsed.metadata_endpoint,
        "http://eip-cloudsim.kube-eip.svc:8080/instances/node-1"
    );
    m.find("Service", "kube-eip", "eip-cloudsim")?;
    let secret = m.find("Secret", "kube-eip", "eip-cloud-credentials")?;
    assert!(secret.pointer("/data/access_key_id").is_some());
    Ok(())
}
