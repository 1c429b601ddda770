//! The crate's error type.

/// Everything that can fail in eip-extender.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read.
    #[error("failed to read config file {path}")]
    ConfigRead {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file could not be parsed.
    #[error("failed to parse config file {path}: {message}")]
    ConfigParse {
        /// Path.
        path: String,
        /// Parser message.
        message: String,
    },
    /// A setting is invalid.
    #[error("invalid setting: {0}")]
    Invalid(String),
    /// Kubernetes client setup failed.
    #[error("failed to set up the Kubernetes client")]
    Kube(#[source] kube::Error),
    /// The HTTP server failed.
    #[error("failed to serve HTTP on {addr}")]
    Serve {
        /// Address.
        addr: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// TLS material could not be loaded.
    #[error("failed to load TLS material: {0}")]
    Tls(String),
    /// The API answered 409 to a binding: the pod is already bound (maybe by an earlier try).
    #[error("conflict: {0}")]
    BindConflict(String),
    /// The pod to bind is gone.
    #[error("pod not found")]
    PodNotFound,
    /// Another Kubernetes API failure during bind.
    #[error("{0}")]
    KubeApi(String),
}
