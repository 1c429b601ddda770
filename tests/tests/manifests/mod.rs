//! `kubectl kustomize` over `deploy/`, and lookups in what it builds.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

/// Every kustomization an operator may apply.
pub const KUSTOMIZATIONS: &[&str] = &["deploy/base", "deploy/overlays/sandbox"];

/// A path in the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// `kind` of an object.
pub fn kind(o: &Value) -> &str {
    o.get("kind").and_then(Value::as_str).unwrap_or_default()
}

/// `metadata.name` of an object (or `name` of a container).
pub fn name(o: &Value) -> &str {
    o.pointer("/metadata/name")
        .or_else(|| o.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `metadata.namespace` of an object (`""` when cluster-scoped).
pub fn namespace(o: &Value) -> &str {
    o.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The objects one kustomization builds.
#[derive(Debug)]
pub struct Manifests {
    /// In the order kustomize prints them.
    pub objects: Vec<Value>,
}

impl Manifests {
    /// Runs `kubectl kustomize <dir>` (kustomize is built into kubectl) and parses the
    /// YAML stream.
    pub fn build(dir: &str) -> anyhow::Result<Self> {
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(repo_path(dir))
            .output()
            .context("run `kubectl kustomize` (kubectl >= 1.14 must be on PATH)")?;
        if !out.status.success() {
            bail!(
                "kubectl kustomize {dir} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8(out.stdout).context("kustomize output is UTF-8")?;
        let objects: Vec<Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| anyhow!("kustomize output of {dir} is not YAML: {e}"))?;
        Ok(Self {
            objects: objects.into_iter().filter(|o| !o.is_null()).collect(),
        })
    }

    /// The object of this kind, namespace and name.
    pub fn find(&self, kind_: &str, ns: &str, name_: &str) -> anyhow::Result<&Value> {
        self.objects
            .iter()
            .find(|o| kind(o) == kind_ && namespace(o) == ns && name(o) == name_)
            .ok_or_else(|| anyhow!("no {kind_} {ns}/{name_}"))
    }

    /// Objects of these kinds.
    pub fn of_kinds<'a>(&'a self, kinds: &'a [&str]) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |o| kinds.contains(&kind(o)))
    }

    /// `(workload, container)` of every Deployment and DaemonSet.
    pub fn containers(&self) -> Vec<(&Value, &Value)> {
        self.of_kinds(&["Deployment", "DaemonSet", "StatefulSet"])
            .flat_map(|w| {
                w.pointer("/spec/template/spec/containers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(move |c| (w, c))
            })
            .collect()
    }

    /// The HTTP paths the probes of a workload's first container ask for.
    pub fn probe_paths(&self, kind_: &str, ns: &str, name_: &str) -> anyhow::Result<Vec<String>> {
        let w = self.find(kind_, ns, name_)?;
        let c = w
            .pointer("/spec/template/spec/containers/0")
            .with_context(|| format!("{kind_} {name_} has no container"))?;
        Ok(["livenessProbe", "readinessProbe", "startupProbe"]
            .iter()
            .filter_map(|p| c.pointer(&format!("/{p}/httpGet/path")))
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect())
    }

    /// The content of the file at `path` in this container, from the ConfigMap volume
    /// mounted over its directory.
    pub fn mounted_file(
        &self,
        workload: &Value,
        container: &Value,
        path: &std::path::Path,
    ) -> anyhow::Result<String> {
        let mounts = container
            .get("volumeMounts")
            .and_then(Value::as_array)
            .context("no volumeMounts")?;
        for m in mounts {
            let dir = m
                .get("mountPath")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Ok(file) = path.strip_prefix(dir) else {
                continue;
            };
            let vol = m.get("name").and_then(Value::as_str).unwrap_or_default();
            let volumes = workload
                .pointer("/spec/template/spec/volumes")
                .and_then(Value::as_array)
                .context("no volumes")?;
            let v = volumes
                .iter()
                .find(|v| name(v) == vol)
                .with_context(|| format!("no volume {vol}"))?;
            let cm = v
                .pointer("/configMap/name")
                .and_then(Value::as_str)
                .with_context(|| format!("volume {vol} is not a ConfigMap"))?;
            let obj = self.find("ConfigMap", namespace(workload), cm)?;
            let key = file.to_string_lossy();
            return obj
                .pointer(&format!("/data/{key}"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .with_context(|| format!("ConfigMap {cm} has no key {key}"));
        }
        bail!("{} is on no mounted volume", path.display())
    }
}
