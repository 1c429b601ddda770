//! The error type of the simulated cluster's actors (node simulators, workload controller,
//! scheduler loop).

/// What can go wrong while a simulated kubelet, controller or scheduler works.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("failed to {what}")]
    Kube {
        /// What was being done, e.g. "register node n1".
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The node's network backend (cloudsim, as Terway IPAM) failed.
    #[error("failed to {what}: {reason}")]
    Network {
        /// What was being done.
        what: String,
        /// Why, as the backend said it.
        reason: String,
    },
    /// The scheduler configuration file is unusable.
    #[error("invalid scheduler configuration: {reason}")]
    SchedulerConfig {
        /// What is wrong with it.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("failed to {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A Kubernetes object lacks a field the actor needs.
    #[error("{kind} {name} has no {field}")]
    MissingField {
        /// Object kind.
        kind: &'static str,
        /// Object name.
        name: String,
        /// The missing field.
        field: &'static str,
    },
}

impl Error {
    /// Wraps a kube error with what was being done.
    pub fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Kube { what, source }
    }
}
