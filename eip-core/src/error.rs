//! The crate's one error type.

use crate::annotations::AnnotationError;

/// Everything that can go wrong in eip-core. Messages are lower-case and name what failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// One or more pod annotations are invalid; each item names the key, the value and the
    /// accepted form.
    #[error("invalid EIP annotations: {}", join_errors(.0))]
    Annotations(Vec<AnnotationError>),

    /// A value in an annotation or label that kube-eip writes itself could not be read back.
    #[error("invalid value {value:?} in {key}: expected {expected}")]
    InvalidValue {
        /// The annotation or label key.
        key: &'static str,
        /// The value found.
        value: String,
        /// The accepted form.
        expected: &'static str,
    },

    /// The `eni_conf` key of ConfigMap `kube-system/eni-config` is not a JSON object.
    #[error("{key} of ConfigMap {namespace}/{name} is not valid JSON: {source}")]
    EniConfJson {
        /// ConfigMap namespace.
        namespace: &'static str,
        /// ConfigMap name.
        name: &'static str,
        /// Data key.
        key: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// A switch in `eni_conf` has a value that is neither `"true"`/`"false"` nor a boolean.
    #[error(
        "{switch} is {value} in {key} of ConfigMap {namespace}/{name}; use \"true\" or \"false\""
    )]
    EniConfSwitch {
        /// ConfigMap namespace.
        namespace: &'static str,
        /// ConfigMap name.
        name: &'static str,
        /// Data key.
        key: &'static str,
        /// The switch (`enable_eip_pool`, `allow_eip_rob`).
        switch: &'static str,
        /// The JSON value found, as JSON text.
        value: String,
    },

    /// The ConfigMap has no `eni_conf` key.
    #[error("ConfigMap {namespace}/{name} has no key {key}")]
    EniConfMissing {
        /// ConfigMap namespace.
        namespace: &'static str,
        /// ConfigMap name.
        name: &'static str,
        /// Data key.
        key: &'static str,
    },

    /// Serializing a value to JSON failed.
    #[error("failed to serialize {what} as JSON")]
    Json {
        /// What was being serialized.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },

    /// Serializing or parsing YAML failed.
    #[error("failed to {action} YAML for {what}: {message}")]
    Yaml {
        /// `parse` or `write`.
        action: &'static str,
        /// What was being handled.
        what: &'static str,
        /// The YAML library's message.
        message: String,
    },
}

fn join_errors(errors: &[AnnotationError]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&e.to_string());
    }
    out
}
