//! Names of kube-eip's own objects the plugin reads (as `deploy/base` installs them), and
//! the components whose events it shows.
//!
//! The annotation, label, condition and reason names come from `eip_core`; these are the
//! install's object names, which only the manifests and the plugin use.

/// The namespace kube-eip is installed in.
pub const NAMESPACE: &str = "kube-eip";
/// The agent's DaemonSet (and container, and event reporter).
pub const AGENT: &str = "eip-agent";
/// The extender's Deployment, Service and container (and event reporter).
pub const EXTENDER: &str = "eip-extender";
/// The extender Service's port.
pub const EXTENDER_PORT: u16 = 8484;
/// The components whose Warning events `show` and `doctor` read.
pub const OUR_COMPONENTS: [&str; 2] = [AGENT, EXTENDER];
/// The ClusterRole a user of the plugin needs (`deploy/base/kubectl-eip-user-rbac.yaml`).
pub const USER_CLUSTER_ROLE: &str = "kube-eip-user";
