//! The plugin's one error type and the one place errors become exit codes.
//!
//! Every message is one line that names the object and says what to do next; kubectl's
//! `error: ` prefix is added when it is printed ([`crate::run_main`]).

use std::fmt;

/// What the API call was doing, for a message that names it ("list pods in namespace
/// \"default\"").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The verb (`get`, `list`, `patch`, ...).
    pub verb: &'static str,
    /// The resource (plural, with its group when not core: `deployments.apps`).
    pub resource: String,
    /// The object's name, when the call names one.
    pub name: Option<String>,
    /// The namespace, when the call is namespaced (`None`: cluster-wide or all namespaces).
    pub namespace: Option<String>,
}

impl Call {
    /// A call on `resource` with `verb`.
    pub fn new(verb: &'static str, resource: impl Into<String>) -> Self {
        Self {
            verb,
            resource: resource.into(),
            name: None,
            namespace: None,
        }
    }

    /// The same call on one named object.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The same call in a namespace.
    pub fn in_namespace(mut self, namespace: Option<&str>) -> Self {
        self.namespace = namespace.map(str::to_owned);
        self
    }

    fn scope(&self) -> String {
        match &self.namespace {
            Some(ns) => format!(" in namespace {ns:?}"),
            None => String::new(),
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(
                f,
                "{} {} {n:?}{}",
                self.verb,
                singular(&self.resource),
                self.scope()
            ),
            None => write!(f, "{} {}{}", self.verb, self.resource, self.scope()),
        }
    }
}

/// `pods` -> `pod`, `deployments.apps` -> `deployment.apps`.
fn singular(resource: &str) -> String {
    let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
    let one = plural.strip_suffix('s').unwrap_or(plural);
    if group.is_empty() {
        one.to_owned()
    } else {
        format!("{one}.{group}")
    }
}

/// Everything that makes `kubectl eip` fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong (exit code 2).
    #[error("{message}\nSee 'kubectl eip {command} --help' for usage.")]
    Usage {
        /// What is wrong.
        message: String,
        /// The subcommand, for the hint.
        command: &'static str,
    },
    /// No kubeconfig could be read, or it names what does not exist.
    #[error("{0}")]
    Config(String),
    /// The object does not exist.
    #[error("{what} not found{scope}; check the name and the namespace (-n, or -A to look everywhere)", scope = ns_scope(namespace.as_deref()))]
    NotFound {
        /// `pod "web"`, `deployment.apps "web"`.
        what: String,
        /// Its namespace.
        namespace: Option<String>,
    },
    /// RBAC refused a call.
    #[error(
        "{user} may not {call}; ask a cluster admin to bind the ClusterRole kube-eip-user (deploy/base/kubectl-eip-user-rbac.yaml), which grants what kubectl eip needs"
    )]
    Forbidden {
        /// The verb, resource and scope refused.
        call: Call,
        /// `User "..."` as the server named it, or `you`.
        user: String,
    },
    /// The API server did not answer.
    #[error(
        "cannot reach the API server at {server} ({why}); check that the cluster is running and that --kubeconfig/--context point at it"
    )]
    Unreachable {
        /// Its URL.
        server: String,
        /// The transport's error.
        why: String,
    },
    /// The PodEIP CRD is not installed.
    #[error(
        "the PodEIP CustomResourceDefinition (podeips.kube-eip.io) is not installed; install kube-eip first: kubectl apply -k deploy/base"
    )]
    CrdMissing,
    /// A value the user gave is invalid (eip-core's sentence, naming the object).
    #[error("{object}: {message}")]
    Invalid {
        /// `pod/web`, `deployment.apps/web`.
        object: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// Another API error.
    #[error("failed to {call}: {message}")]
    Api {
        /// What was being done.
        call: Call,
        /// The server's message.
        message: String,
    },
    /// A request reached no decision the user asked for: `--wait` timed out or an EIP
    /// failed, a check of `doctor` failed, confirmation was refused. The text says which.
    #[error("{0}")]
    Failed(String),
    /// Writing the output failed.
    #[error("failed to write the output: {0}")]
    Output(#[source] std::io::Error),
}

fn ns_scope(ns: Option<&str>) -> String {
    ns.map(|n| format!(" in namespace {n:?}"))
        .unwrap_or_default()
}

impl Error {
    /// The process exit code: 2 for a usage error, 1 for every other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage { .. } => 2,
            _ => 1,
        }
    }

    /// A usage error of `command`.
    pub fn usage(command: &'static str, message: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            command,
        }
    }

    /// Classifies a kube client error of `call` against `server`.
    pub fn kube(call: Call, server: &str, e: kube::Error) -> Self {
        match e {
            kube::Error::Api(status) => match status.code {
                404 if call.name.is_some() => Error::NotFound {
                    what: format!(
                        "{} {:?}",
                        singular(&call.resource),
                        call.name.clone().unwrap_or_default()
                    ),
                    namespace: call.namespace.clone(),
                },
                404 if call.resource.ends_with(eip_core::podeip::GROUP) => Error::CrdMissing,
                403 => Error::Forbidden {
                    user: user_of(&status.message),
                    call,
                },
                _ => Error::Api {
                    call,
                    message: status.message,
                },
            },
            kube::Error::HyperError(e) => Error::Unreachable {
                server: server.to_owned(),
                why: root_cause(&e),
            },
            kube::Error::Service(e) => Error::Unreachable {
                server: server.to_owned(),
                why: root_cause(e.as_ref()),
            },
            other => Error::Api {
                call,
                message: root_cause(&other),
            },
        }
    }
}

/// `User "x"` from a Forbidden message, or `you`.
fn user_of(message: &str) -> String {
    message
        .find("User \"")
        .and_then(|i| {
            let rest = &message[i + 6..];
            rest.find('"').map(|j| format!("User {:?}", &rest[..j]))
        })
        .unwrap_or_else(|| "you".to_owned())
}

/// The innermost cause's message (a transport error wraps the I/O error that says why).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_read_as_sentences() {
        let c = Call::new("list", "pods").in_namespace(Some("default"));
        assert_eq!(c.to_string(), "list pods in namespace \"default\"");
        let c = Call::new("patch", "deployments.apps")
            .named("web")
            .in_namespace(Some("games"));
        assert_eq!(
            c.to_string(),
            "patch deployment.apps \"web\" in namespace \"games\""
        );
        assert_eq!(Call::new("list", "nodes").to_string(), "list nodes");
    }

    #[test]
    fn the_user_is_taken_from_the_servers_message() {
        assert_eq!(
            user_of("pods is forbidden: User \"system:serviceaccount:d:v\" cannot list"),
            "User \"system:serviceaccount:d:v\""
        );
        assert_eq!(user_of("forbidden"), "you");
    }

    #[test]
    fn usage_errors_exit_2_and_others_1() {
        assert_eq!(Error::usage("show", "x").exit_code(), 2);
        assert_eq!(Error::CrdMissing.exit_code(), 1);
        assert_eq!(Error::Failed("x".into()).exit_code(), 1);
    }
}
