//! Names that belong to Kubernetes itself (well-known labels, taints, event reasons,
//! condition types), used by the simulated kubelet, controllers and scheduler. kube-eip's
//! own names live in `eip_core::names`.

/// Node label holding the node's name (set by kubelet).
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// Node label holding the OS (set by kubelet).
pub const LABEL_OS: &str = "kubernetes.io/os";
/// Node label holding the CPU architecture (set by kubelet).
pub const LABEL_ARCH: &str = "kubernetes.io/arch";
/// Pod and ReplicaSet label carrying the Deployment's pod-template hash.
pub const LABEL_POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Pod label carrying the StatefulSet pod's name.
pub const LABEL_STATEFULSET_POD_NAME: &str = "statefulset.kubernetes.io/pod-name";
/// Pod label carrying the StatefulSet pod's ordinal.
pub const LABEL_POD_INDEX: &str = "apps.kubernetes.io/pod-index";
/// Pod label carrying the StatefulSet revision the pod was made from.
pub const LABEL_CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";
/// Taint the node lifecycle controller puts on a node that is not Ready.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Taint standing for `spec.unschedulable` (cordon).
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The scheduler name pods get by default.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Condition types of pods and nodes.
pub mod condition {
    /// Pod condition: bound to a node.
    pub const POD_SCHEDULED: &str = "PodScheduled";
    /// Pod condition: init containers done.
    pub const INITIALIZED: &str = "Initialized";
    /// Pod condition: every container ready.
    pub const CONTAINERS_READY: &str = "ContainersReady";
    /// Pod (and node) condition: ready.
    pub const READY: &str = "Ready";
    /// Pod condition: sandbox created and network configured (Kubernetes 1.29+).
    pub const POD_READY_TO_START_CONTAINERS: &str = "PodReadyToStartContainers";
}

/// Reasons of events and conditions, as the real components write them.
pub mod reason {
    /// kube-scheduler: the pod was bound.
    pub const SCHEDULED: &str = "Scheduled";
    /// kube-scheduler: the pod could not be placed.
    pub const FAILED_SCHEDULING: &str = "FailedScheduling";
    /// kube-scheduler condition reason: no node fits.
    pub const UNSCHEDULABLE: &str = "Unschedulable";
    /// kube-scheduler condition reason: the cycle failed with an error.
    pub const SCHEDULER_ERROR: &str = "SchedulerError";
    /// kube-scheduler: victims were evicted for this pod.
    pub const PREEMPTED: &str = "Preempted";
    /// kubelet: the pod sandbox (and its network) could not be created.
    pub const FAILED_CREATE_POD_SANDBOX: &str = "FailedCreatePodSandBox";
    /// kubelet: a container started.
    pub const STARTED: &str = "Started";
    /// kubelet: a container is being stopped.
    pub const KILLING: &str = "Killing";
    /// kubelet: the node became ready.
    pub const NODE_READY: &str = "NodeReady";
    /// kubelet node condition reason.
    pub const KUBELET_READY: &str = "KubeletReady";
    /// kubelet pod condition reason while readiness gates are not all true.
    pub const READINESS_GATES_NOT_READY: &str = "ReadinessGatesNotReady";
    /// ReplicaSet / StatefulSet controllers: a pod was created.
    pub const SUCCESSFUL_CREATE: &str = "SuccessfulCreate";
    /// ReplicaSet / StatefulSet controllers: a pod was deleted.
    pub const SUCCESSFUL_DELETE: &str = "SuccessfulDelete";
}
