//! Whether a pod's workload may use a named EIP (`pod-eip-instanceid`): an EIP serves one
//! pod, so a workload that can run more than one pod at a time is refused, by the extender
//! before scheduling and by the agent after, with the same sentence.
//!
//! In: the pod's controlling owner reference, then that owner as read from the API
//! ([`Owner`]). Out: [`shared_named_eip`], the refusal sentence or nothing. The check fails
//! closed: an owner that cannot be read refuses the pod until it can be.

use std::fmt;

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

/// Kind of a ReplicaSet (a Deployment's pods are owned by one).
pub const KIND_REPLICA_SET: &str = "ReplicaSet";
/// Kind of a StatefulSet.
pub const KIND_STATEFUL_SET: &str = "StatefulSet";
/// Kind of a DaemonSet.
pub const KIND_DAEMON_SET: &str = "DaemonSet";
/// Kind of a Job.
pub const KIND_JOB: &str = "Job";
/// Kind of a CronJob (the owner of its Jobs).
pub const KIND_CRON_JOB: &str = "CronJob";

/// The owner to read for a pod that names an EIP: its controlling owner reference
/// (`kind`, `name`), when it has one.
pub fn controller_of(pod: &Pod) -> Option<(&str, &str)> {
    pod.metadata
        .owner_references
        .as_deref()?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| (o.kind.as_str(), o.name.as_str()))
}

/// Whether an owner of this kind must be read to decide (the others are decided by their
/// kind alone: a DaemonSet is refused, a kind kube-eip cannot count is allowed).
pub fn must_read(kind: &str) -> bool {
    matches!(kind, KIND_REPLICA_SET | KIND_STATEFUL_SET | KIND_JOB)
}

/// How many pods a workload can run at once, as far as a named EIP cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// No controlling owner: a bare pod.
    None,
    /// A ReplicaSet or StatefulSet with `spec.replicas` (1 when unset).
    Replicated {
        /// `ReplicaSet` or `StatefulSet`.
        kind: String,
        /// Its name.
        name: String,
        /// `spec.replicas`.
        replicas: i32,
    },
    /// A DaemonSet: a pod on every node.
    DaemonSet {
        /// Its name.
        name: String,
    },
    /// A Job with `spec.parallelism` (1 when unset), and the CronJob that made it, if any.
    Job {
        /// Its name.
        name: String,
        /// `spec.parallelism`.
        parallelism: i32,
        /// The owning CronJob, whose runs can overlap.
        cron_job: Option<String>,
    },
    /// A kind kube-eip does not count (a custom controller): allowed.
    Other {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
    },
    /// The owner could not be read: the pod is refused until it can be (fail closed).
    Unreadable {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// Why (the API's error).
        why: String,
    },
}

impl Owner {
    /// A ReplicaSet as read.
    pub fn replica_set(rs: &ReplicaSet) -> Self {
        Owner::Replicated {
            kind: KIND_REPLICA_SET.to_owned(),
            name: rs.metadata.name.clone().unwrap_or_default(),
            replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        }
    }

    /// A StatefulSet as read.
    pub fn stateful_set(sts: &StatefulSet) -> Self {
        Owner::Replicated {
            kind: KIND_STATEFUL_SET.to_owned(),
            name: sts.metadata.name.clone().unwrap_or_default(),
            replicas: sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        }
    }

    /// A Job as read.
    pub fn job(job: &Job) -> Self {
        let cron_job = job
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|o| o.controller == Some(true) && o.kind == KIND_CRON_JOB)
            .map(|o| o.name.clone());
        Owner::Job {
            name: job.metadata.name.clone().unwrap_or_default(),
            parallelism: job.spec.as_ref().and_then(|s| s.parallelism).unwrap_or(1),
            cron_job,
        }
    }

    /// An owner decided by its kind alone ([`must_read`] is false for it).
    pub fn by_kind(kind: &str, name: &str) -> Self {
        match kind {
            KIND_DAEMON_SET => Owner::DaemonSet {
                name: name.to_owned(),
            },
            _ => Owner::Other {
                kind: kind.to_owned(),
                name: name.to_owned(),
            },
        }
    }

    /// An owner that does not exist any more, or could not be read.
    pub fn unreadable(kind: &str, name: &str, why: impl fmt::Display) -> Self {
        Owner::Unreadable {
            kind: kind.to_owned(),
            name: name.to_owned(),
            why: why.to_string(),
        }
    }
}

/// Why a pod that names EIP `id` may not have it, given its owner; `None` when it may.
/// The sentence of the extender's reason and of the agent's event and condition.
pub fn shared_named_eip(id: &str, owner: &Owner) -> Option<String> {
    const FIX: &str = "an EIP can serve one pod only: use pod-with-eip instead, or run one replica";
    match owner {
        Owner::None | Owner::Other { .. } => None,
        Owner::Replicated { replicas, .. } if *replicas <= 1 => None,
        Owner::Replicated { replicas, .. } => Some(format!(
            "the pod names EIP {id} but its workload has {replicas} replicas; {FIX}"
        )),
        Owner::DaemonSet { name } => Some(format!(
            "the pod names EIP {id} but its workload is DaemonSet {name}, which runs a pod on every node; {FIX}"
        )),
        Owner::Job {
            cron_job: Some(cron),
            ..
        } => Some(format!(
            "the pod names EIP {id} but its workload is CronJob {cron}, whose runs can overlap; {FIX}"
        )),
        Owner::Job { parallelism, .. } if *parallelism <= 1 => None,
        Owner::Job {
            name, parallelism, ..
        } => Some(format!(
            "the pod names EIP {id} but its Job {name} runs {parallelism} pods in parallel; {FIX}"
        )),
        Owner::Unreadable { kind, name, why } => Some(format!(
            "the pod names EIP {id} but its owner {kind} {name} cannot be read ({why}), so kube-eip cannot tell whether it runs one pod only; the pod waits until it can be read"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn owned_by(kind: &str, name: &str, controller: bool) -> ObjectMeta {
        ObjectMeta {
            name: Some("x".into()),
            owner_references: Some(vec![OwnerReference {
                kind: kind.into(),
                name: name.into(),
                controller: Some(controller),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn the_controller_is_the_owner_to_read() {
        let pod = Pod {
            metadata: owned_by("ReplicaSet", "web-1", true),
            ..Pod::default()
        };
        assert_eq!(controller_of(&pod), Some(("ReplicaSet", "web-1")));
        let not_controller = Pod {
            metadata: owned_by("ReplicaSet", "web-1", false),
            ..Pod::default()
        };
        assert_eq!(controller_of(&not_controller), None);
        assert_eq!(controller_of(&Pod::default()), None);
        assert!(must_read("ReplicaSet") && must_read("StatefulSet") && must_read("Job"));
        assert!(!must_read("DaemonSet") && !must_read("GameServerSet"));
    }

    #[test]
    fn workloads_that_can_run_more_than_one_pod_are_refused() {
        let rs = |n: Option<i32>| {
            Owner::replica_set(&ReplicaSet {
                metadata: ObjectMeta {
                    name: Some("web-1".into()),
                    ..ObjectMeta::default()
                },
                spec: Some(k8s_openapi::api::apps::v1::ReplicaSetSpec {
                    replicas: n,
                    ..Default::default()
                }),
                ..ReplicaSet::default()
            })
        };
        let job = |parallelism: Option<i32>, cron: bool| {
            let mut metadata = if cron {
                owned_by("CronJob", "nightly", true)
            } else {
                ObjectMeta::default()
            };
            metadata.name = Some("batch".into());
            Owner::job(&Job {
                metadata,
                spec: Some(k8s_openapi::api::batch::v1::JobSpec {
                    parallelism,
                    ..Default::default()
                }),
                ..Job::default()
            })
        };
        let fix = "an EIP can serve one pod only: use pod-with-eip instead, or run one replica";
        let cases: Vec<(&str, Owner, Option<String>)> = vec![
            ("bare pod", Owner::None, None),
            ("one replica", rs(Some(1)), None),
            ("replicas unset", rs(None), None),
            ("scaled to zero", rs(Some(0)), None),
            (
                "two replicas",
                rs(Some(2)),
                Some(format!("the pod names EIP eip-1 but its workload has 2 replicas; {fix}")),
            ),
            (
                "daemonset",
                Owner::by_kind("DaemonSet", "agent"),
                Some(format!(
                    "the pod names EIP eip-1 but its workload is DaemonSet agent, which runs a pod on every node; {fix}"
                )),
            ),
            ("job of one", job(None, false), None),
            (
                "parallel job",
                job(Some(3), false),
                Some(format!(
                    "the pod names EIP eip-1 but its Job batch runs 3 pods in parallel; {fix}"
                )),
            ),
            (
                "cronjob",
                job(Some(1), true),
                Some(format!(
                    "the pod names EIP eip-1 but its workload is CronJob nightly, whose runs can overlap; {fix}"
                )),
            ),
            ("custom controller", Owner::by_kind("GameServerSet", "gs"), None),
            (
                "unreadable: fail closed",
                Owner::unreadable("ReplicaSet", "web-1", "replicasets \"web-1\" is forbidden"),
                Some(
                    "the pod names EIP eip-1 but its owner ReplicaSet web-1 cannot be read (replicasets \"web-1\" is forbidden), so kube-eip cannot tell whether it runs one pod only; the pod waits until it can be read"
                        .into(),
                ),
            ),
        ];
        for (what, owner, want) in cases {
            assert_eq!(shared_named_eip("eip-1", &owner), want, "{what}");
        }
    }
}
