//! The part of a `KubeSchedulerConfiguration` (kubescheduler.config.k8s.io/v1) that the
//! scheduler loop honours: the `extenders` list, read from the same YAML file a real
//! kube-scheduler is given. Every other field of the file is accepted and ignored.

use std::path::Path;

pub use eip_core::extender::{
    DEFAULT_EXTENDER_TIMEOUT, ExtenderConfig, SCHEDULER_CONFIG_API_VERSION, SCHEDULER_CONFIG_KIND,
    SchedulerConfiguration,
};

use crate::error::Error;

/// A validated `KubeSchedulerConfiguration` (the model is eip-core's).
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// The parsed file.
    pub file: SchedulerConfiguration,
}

impl SchedulerConfig {
    /// A configuration without extenders (kube-scheduler's defaults).
    pub fn without_extenders() -> Self {
        SchedulerConfig {
            file: SchedulerConfiguration::with_extenders(Vec::new()),
        }
    }

    /// Parses and validates a configuration document (YAML or JSON).
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        let file = SchedulerConfiguration::from_yaml(text).map_err(|e| Error::SchedulerConfig {
            reason: e.to_string(),
        })?;
        let cfg = SchedulerConfig { file };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads [`SchedulerConfig::from_yaml`] from a file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            what: format!("read scheduler configuration {}", path.display()),
            source,
        })?;
        Self::from_yaml(&text)
    }

    /// The extenders as the file lists them.
    pub fn extenders(&self) -> &[ExtenderConfig] {
        &self.file.extenders
    }

    /// Checks what kube-scheduler's `validateExtenders` checks, plus apiVersion and kind.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::SchedulerConfig { reason });
        if self.file.api_version != SCHEDULER_CONFIG_API_VERSION {
            return bad(format!(
                "apiVersion must be {SCHEDULER_CONFIG_API_VERSION}, got {:?}",
                self.file.api_version
            ));
        }
        if self.file.kind != SCHEDULER_CONFIG_KIND {
            return bad(format!(
                "kind must be {SCHEDULER_CONFIG_KIND}, got {:?}",
                self.file.kind
            ));
        }
        let mut binders = 0;
        for (i, e) in self.extenders().iter().enumerate() {
            if e.url_prefix.is_empty() {
                return bad(format!("extenders[{i}].urlPrefix must not be empty"));
            }
            if has(&e.prioritize_verb) && e.weight <= 0 {
                return bad(format!(
                    "extenders[{i}].weight must have a positive weight applied to it"
                ));
            }
            if has(&e.bind_verb) {
                binders += 1;
            }
            e.timeout().map_err(|err| Error::SchedulerConfig {
                reason: format!("extenders[{i}]: {err}"),
            })?;
        }
        if binders > 1 {
            return bad(format!(
                "found {binders} extenders implementing bind, only one is allowed"
            ));
        }
        Ok(())
    }

    /// The extenders in the order kube-scheduler calls them: `buildExtenders` moves
    /// ignorable extenders to the end, keeping the relative order otherwise.
    pub fn extenders_in_call_order(&self) -> Vec<ExtenderConfig> {
        let (mut first, last): (Vec<_>, Vec<_>) =
            self.extenders().iter().cloned().partition(|e| !e.ignorable);
        first.extend(last);
        first
    }
}

/// Whether an optional verb is configured (kube-scheduler treats `""` as unset).
pub fn has(verb: &Option<String>) -> bool {
    verb.as_deref().is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The configuration files a real kube-scheduler v1.28.7 was run with (shared/ sits
    /// beside the repository, in CI as on every machine of the project).
    const REAL_CONFIGS: [(&str, &str); 3] = [
        (
            "bind",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/reference/extender-fixtures/real-kube-scheduler-1.28/scheduler-config.bind.yaml"
            )),
        ),
        (
            "nodecache-false",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/reference/extender-fixtures/real-kube-scheduler-1.28/scheduler-config.nodecache-false.yaml"
            )),
        ),
        (
            "nodecache-true",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/reference/extender-fixtures/real-kube-scheduler-1.28/scheduler-config.nodecache-true.yaml"
            )),
        ),
    ];

    fn minimal(extenders: &str) -> String {
        format!(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nextenders:\n{extenders}"
        )
    }

    #[test]
    fn parses_every_field_of_an_extender_entry() {
        let cfg = SchedulerConfig::from_yaml(&minimal(
            "- urlPrefix: \"https://x.kube-system.svc:8443/scheduler/\"\n  filterVerb: filter\n  prioritizeVerb: prioritize\n  preemptVerb: preempt\n  bindVerb: bind\n  weight: 2\n  enableHTTPS: true\n  httpTimeout: 1m30s\n  nodeCacheCapable: true\n  managedResources:\n  - name: example.com/eip\n    ignoredByScheduler: true\n  ignorable: false\n",
        ))
        .unwrap();
        let e = &cfg.extenders()[0];
        assert_eq!(e.filter_verb.as_deref(), Some("filter"));
        assert_eq!(e.preempt_verb.as_deref(), Some("preempt"));
        assert_eq!(e.bind_verb.as_deref(), Some("bind"));
        assert_eq!(e.weight, 2);
        assert!(e.enable_https && e.node_cache_capable && !e.ignorable);
        assert_eq!(e.timeout().unwrap(), Duration::from_secs(90));
        assert_eq!(e.managed_resources[0].name, "example.com/eip");
        assert!(e.managed_resources[0].ignored_by_scheduler);
        assert_eq!(
            e.verb_url("filter"),
            "https://x.kube-system.svc:8443/scheduler/filter"
        );
    }

    #[test]
    fn reads_the_files_a_real_kube_scheduler_was_given() {
        for (name, text) in REAL_CONFIGS {
            let cfg = SchedulerConfig::from_yaml(text).unwrap();
            assert_eq!(cfg.extenders().len(), 1, "{name}");
            let e = &cfg.extenders()[0];
            assert_eq!(e.url_prefix, "http://127.0.0.1:18888");
            assert_eq!(e.timeout().unwrap(), DEFAULT_EXTENDER_TIMEOUT);
            assert_eq!(has(&e.bind_verb), name == "bind");
            assert_eq!(e.node_cache_capable, name != "nodecache-false");
        }
    }

    #[test]
    fn rejects_what_kube_scheduler_rejects() {
        let no_weight = minimal("- urlPrefix: http://a\n  prioritizeVerb: p\n");
        assert!(SchedulerConfig::from_yaml(&no_weight).is_err());
        let two_binders =
            minimal("- urlPrefix: http://a\n  bindVerb: b\n- urlPrefix: http://b\n  bindVerb: b\n");
        assert!(SchedulerConfig::from_yaml(&two_binders).is_err());
        let wrong_kind = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: Policy\n";
        assert!(SchedulerConfig::from_yaml(wrong_kind).is_err());
        let bad_timeout = minimal("- urlPrefix: http://a\n  httpTimeout: soon\n");
        assert!(SchedulerConfig::from_yaml(&bad_timeout).is_err());
        assert!(SchedulerConfig::from_yaml("extenders: [").is_err());
    }

    #[test]
    fn ignorable_extenders_are_called_last() {
        let cfg = SchedulerConfig::from_yaml(&minimal(
            "- urlPrefix: http://a\n  ignorable: true\n- urlPrefix: http://b\n- urlPrefix: http://c\n",
        ))
        .unwrap();
        let order: Vec<_> = cfg
            .extenders_in_call_order()
            .into_iter()
            .map(|e| e.url_prefix)
            .collect();
        assert_eq!(order, ["http://b", "http://c", "http://a"]);
    }
}
