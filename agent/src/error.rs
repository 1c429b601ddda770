//! The crate's error type.

/// Errors of the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("failed to {what}")]
    Kube {
        /// What the agent tried.
        what: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A cloud call failed.
    #[error("failed to {what}")]
    Cloud {
        /// What the agent tried.
        what: String,
        /// The cause.
        #[source]
        source: eip_cloud::Error,
    },
    /// The instance metadata could not be read.
    #[error("failed to learn this node's instance from the metadata service")]
    Metadata(#[source] eip_cloud::Error),
    /// Bad configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The operations endpoint could not start.
    #[error("failed to serve the operations endpoint on {addr}")]
    Serve {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The agent's loop ended by itself (its watches or controller stopped); the process
    /// exits so that it is restarted.
    #[error("the agent stopped unexpectedly; restart it (see the log above for why)")]
    Stopped,
    /// The reconcile gave up for now (too many steps); it is retried.
    #[error("reconcile of {0} did not settle; retrying")]
    Unsettled(String),
}

impl Error {
    /// A Kubernetes error mapper naming what failed.
    pub fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Kube { what, source }
    }

    /// A cloud error mapper naming what failed.
    pub fn cloud(what: impl Into<String>) -> impl FnOnce(eip_cloud::Error) -> Error {
        let what = what.into();
        move |source| Error::Cloud { what, source }
    }

    /// The cloud error code (or kind) for metrics.
    pub fn code(&self) -> String {
        match self {
            Error::Cloud { source, .. } => match source.api() {
                Some(a) => a.code.clone(),
                None => match source {
                    eip_cloud::Error::Timeout { .. } => "Timeout".to_owned(),
                    eip_cloud::Error::Transport { .. } => "Transport".to_owned(),
                    eip_cloud::Error::WaitTimeout { .. } => "WaitTimeout".to_owned(),
                    _ => "Other".to_owned(),
                },
            },
            Error::Kube { .. } => "Kubernetes".to_owned(),
            _ => "Agent".to_owned(),
        }
    }
}
