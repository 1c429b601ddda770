//! `deploy/krew/eip.yaml` is a manifest `kubectl krew` accepts: it reads into krew's
//! `Plugin` type (krew's pkg/index types, unknown fields refused) and passes krew's
//! validation (pkg/index/validation): the name is the file's, the version is `v` + semver
//! and the plugin's own, a short description, every platform with a selector, an https
//! URI, a 64-digit lowercase sha256 and a bin that is a plain file name.

use std::collections::BTreeMap;

use serde::Deserialize;

const MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/krew/eip.yaml");

/// krew `index.Plugin`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Plugin {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: PluginSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
}

/// krew `index.PluginSpec`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PluginSpec {
    version: String,
    short_description: String,
    description: String,
    #[serde(default)]
    caveats: Option<String>,
    #[serde(default)]
    homepage: Option<String>,
    platforms: Vec<Platform>,
}

/// krew `index.Platform`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Platform {
    uri: String,
    sha256: String,
    selector: Selector,
    #[serde(default)]
    files: Vec<FileOperation>,
    bin: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Selector {
    match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOperation {
    from: String,
    to: String,
}

#[test]
fn the_krew_manifest_is_valid() -> anyhow::Result<()> {
    let text = std::fs::read_to_string(MANIFEST)?;
    let p: Plugin = serde_saphyr::from_str(&text)?;
    assert_eq!(
        p.api_version,
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(p.kind, "Plugin");
    assert_eq!(p.metadata.name, "eip", "the name is the file's");
    assert_eq!(p.spec.version, kubectl_eip::version::VERSION);
    let semver = p.spec.version.strip_prefix('v').unwrap_or_default();
    assert_eq!(
        semver
            .split('.')
            .filter(|n| n.parse::<u64>().is_ok())
            .count(),
        3
    );
    assert!(!p.spec.short_description.is_empty() && p.spec.short_description.len() <= 50);
    assert!(!p.spec.description.trim().is_empty());
    assert!(p.spec.caveats.is_none());
    assert!(p.spec.homepage.is_some_and(|h| h.starts_with("https://")));
    assert!(!p.spec.platforms.is_empty());
    for pl in &p.spec.platforms {
        assert!(pl.uri.starts_with("https://"), "{}", pl.uri);
        assert!(
            pl.sha256.len() == 64
                && pl
                    .sha256
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{}",
            pl.sha256
        );
        let os = pl.selector.match_labels.get("os").map(String::as_str);
        assert!(matches!(os, Some("linux" | "darwin" | "windows")), "{os:?}");
        assert!(pl.selector.match_labels.contains_key("arch"));
        assert!(!pl.bin.is_empty() && !pl.bin.contains('/'), "{}", pl.bin);
        assert_eq!(pl.bin.ends_with(".exe"), os == Some("windows"));
        assert!(pl.files.iter().any(|f| f.from == pl.bin && f.to == "."));
    }
    Ok(())
}
