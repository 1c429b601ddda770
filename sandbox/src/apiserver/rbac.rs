//! RBAC authorization as the Kubernetes API server does it: the request's attributes
//! from its path, method and query (upstream `k8s.io/apiserver` `RequestInfoFactory`),
//! and the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings that grant them
//! (upstream `plugin/pkg/auth/authorizer/rbac`: `RuleAllows`, `appliesTo`, the
//! ClusterRoleBinding-then-RoleBinding visit).
//!
//! Pure: the RBAC objects come in as values, decisions go out; the HTTP glue is in
//! `auth.rs`. Not modelled: aggregated ClusterRoles (`aggregationRule`), escalation and
//! bind checks on writes of RBAC objects, impersonation.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};

/// `*` in verbs, apiGroups, resources and nonResourceURLs.
pub const ALL: &str = "*";
/// The group every authenticated user is in.
pub const GROUP_AUTHENTICATED: &str = "system:authenticated";
/// The group of every ServiceAccount.
pub const GROUP_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

/// Who makes a request (upstream `user.Info`, without extra fields).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserInfo {
    /// The user name, e.g. `system:serviceaccount:kube-eip:eip-agent`.
    pub name: String,
    /// The groups, e.g. `system:serviceaccounts`, `system:authenticated`.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// A user of this name in these groups (plus `system:authenticated`).
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Self {
        let mut groups: Vec<String> = groups.iter().map(|g| (*g).to_string()).collect();
        if !groups.iter().any(|g| g == GROUP_AUTHENTICATED) {
            groups.push(GROUP_AUTHENTICATED.to_string());
        }
        Self {
            name: name.into(),
            groups,
        }
    }

    /// The ServiceAccount `namespace/name`: user `system:serviceaccount:NS:NAME` in the
    /// groups `system:serviceaccounts`, `system:serviceaccounts:NS` and
    /// `system:authenticated`, as the token authenticator reports it.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self::new(
            service_account_user(namespace, name),
            &[
                GROUP_SERVICE_ACCOUNTS,
                &format!("{GROUP_SERVICE_ACCOUNTS}:{namespace}"),
            ],
        )
    }
}

/// `system:serviceaccount:NS:NAME`.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// What a request asks to do (upstream `authorizer.Attributes` / `RequestInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestAttributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`
    /// for resources; the lower-cased HTTP method for other paths.
    pub verb: String,
    /// Whether the path names a resource (else it is `/version`, `/apis`, ...).
    pub resource_request: bool,
    /// The URL path.
    pub path: String,
    /// API group (`""` for core).
    pub api_group: String,
    /// Namespace (`""` at the cluster scope).
    pub namespace: String,
    /// Resource plural, e.g. `pods`.
    pub resource: String,
    /// Subresource, e.g. `status`, `binding`.
    pub subresource: String,
    /// Object name: from the path, or from a `metadata.name=` field selector on list
    /// and watch.
    pub name: String,
}

/// Go's `strconv.ParseBool` true values.
fn go_true(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// The name a field selector pins with `metadata.name=X` (upstream
/// `RequiresExactMatch`), when X is a valid path segment.
fn exact_name(selector: &str) -> Option<String> {
    let mut found = None;
    for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if term.contains("!=") {
            continue;
        }
        let (k, v) = term
            .split_once("==")
            .or_else(|| term.split_once('='))
            .unwrap_or((term, ""));
        if k.trim() == "metadata.name" {
            found = Some(v.trim().to_string());
        }
    }
    found.filter(|n| !n.is_empty() && n != "." && n != ".." && !n.contains(['/', '%']))
}

impl RequestAttributes {
    /// Parses a request the way the API server's `RequestInfoFactory` does.
    pub fn from_request(method: &str, path: &str, query: &[(String, String)]) -> Self {
        let q = |k: &str| {
            query
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let non_resource = Self {
            verb: method.to_ascii_lowercase(),
            path: path.to_string(),
            ..Self::default()
        };
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (group, rest) = match parts.as_slice() {
            ["api", rest @ ..] if rest.len() >= 2 => ("", rest),
            ["apis", g, rest @ ..] if rest.len() >= 2 => (*g, rest),
            _ => return non_resource,
        };
        // rest = version, then the resource parts.
        let mut parts: &[&str] = &rest[1..];
        let mut verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string();
        if let ["watch", tail @ ..] = parts
            && !tail.is_empty()
        {
            verb = "watch".to_string();
            parts = tail;
        }
        let mut namespace = String::new();
        if let ["namespaces", tail @ ..] = parts
            && let Some(ns) = tail.first()
        {
            namespace = (*ns).to_string();
            if tail.len() > 1 && !matches!(tail[1], "status" | "finalize") {
                parts = &tail[1..];
            }
        }
        let resource = parts.first().map(|s| (*s).to_string()).unwrap_or_default();
        let mut name = parts.get(1).map(|s| (*s).to_string()).unwrap_or_default();
        let subresource = parts.get(2).map(|s| (*s).to_string()).unwrap_or_default();
        if name.is_empty() && verb == "get" {
            verb = if q("watch").is_some_and(go_true) {
                "watch"
            } else {
                "list"
            }
            .to_string();
            if let Some(n) = q("fieldSelector").and_then(exact_name) {
                name = n;
            }
        }
        if name.is_empty() && verb == "delete" {
            verb = "deletecollection".to_string();
        }
        Self {
            verb,
            resource_request: true,
            path: path.to_string(),
            api_group: group.to_string(),
            namespace,
            resource,
            subresource,
            name,
        }
    }

    /// `resource` or `resource/subresource`.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == want)
}

fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == ALL || v == verb)
}

fn group_matches(rule: &PolicyRule, group: &str) -> bool {
    rule.api_groups
        .as_deref()
        .is_some_and(|gs| gs.iter().any(|g| g == ALL || g == group))
}

fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    rule.resources.as_deref().is_some_and(|rs| {
        rs.iter().any(|r| {
            r == ALL
                || r == combined
                || (!subresource.is_empty()
                    && r.strip_prefix("*/").is_some_and(|s| s == subresource))
        })
    })
}

fn name_matches(rule: &PolicyRule, name: &str) -> bool {
    match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => has(names, name),
    }
}

fn url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls.as_deref().is_some_and(|urls| {
        urls.iter().any(|u| {
            u == ALL || u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
        })
    })
}

/// Whether one rule allows the request (upstream `RuleAllows`).
pub fn rule_allows(rule: &PolicyRule, a: &RequestAttributes) -> bool {
    if a.resource_request {
        verb_matches(rule, &a.verb)
            && group_matches(rule, &a.api_group)
            && resource_matches(rule, &a.combined_resource(), &a.subresource)
            && name_matches(rule, &a.name)
    } else {
        verb_matches(rule, &a.verb) && url_matches(rule, &a.path)
    }
}

/// Whether a binding subject is this user; a ServiceAccount subject without a namespace
/// takes the binding's (upstream `appliesToUser`).
pub fn subject_matches(subject: &Subject, user: &UserInfo, binding_namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => subject.name == user.name,
        "Group" => has(&user.groups, &subject.name),
        "ServiceAccount" => {
            let ns = subject
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            !ns.is_empty() && service_account_user(ns, &subject.name) == user.name
        }
        _ => false,
    }
}

/// The RBAC objects an authorization decision reads.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// ClusterRoles.
    pub cluster_roles: Vec<ClusterRole>,
    /// ClusterRoleBindings.
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    /// Roles (every namespace).
    pub roles: Vec<Role>,
    /// RoleBindings (every namespace).
    pub role_bindings: Vec<RoleBinding>,
}

/// One rule granted to a user, with where it applies and how it was granted.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// `ClusterRoleBinding NAME` or `RoleBinding NS/NAME`.
    pub binding: String,
    /// `ClusterRole NAME` or `Role NS/NAME`.
    pub role: String,
    /// `None`: every namespace and the cluster scope (a ClusterRoleBinding);
    /// `Some(ns)`: requests in that namespace only (a RoleBinding).
    pub namespace: Option<String>,
    /// The rule.
    pub rule: PolicyRule,
}

impl Grant {
    /// Whether this grant allows the request.
    pub fn allows(&self, a: &RequestAttributes) -> bool {
        let in_scope = match &self.namespace {
            None => true,
            Some(ns) => a.resource_request && &a.namespace == ns,
        };
        in_scope && rule_allows(&self.rule, a)
    }

    /// The grant split into one permission per verb, group, resource and name (the
    /// units a least-privilege check wants each used).
    pub fn permissions(&self) -> Vec<Grant> {
        let one = |v: &str| vec![v.to_string()];
        let mut out = Vec::new();
        if let Some(urls) = self
            .rule
            .non_resource_urls
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            for verb in &self.rule.verbs {
                for url in urls {
                    out.push(Grant {
                        rule: PolicyRule {
                            verbs: one(verb),
                            non_resource_urls: Some(one(url)),
                            ..PolicyRule::default()
                        },
                        ..self.clone()
                    });
                }
            }
            return out;
        }
        let groups = self.rule.api_groups.clone().unwrap_or_default();
        let resources = self.rule.resources.clone().unwrap_or_default();
        let names: Vec<Option<String>> = match self.rule.resource_names.as_deref() {
            None | Some([]) => vec![None],
            Some(ns) => ns.iter().cloned().map(Some).collect(),
        };
        for verb in &self.rule.verbs {
            for g in &groups {
                for r in &resources {
                    for n in &names {
                        out.push(Grant {
                            rule: PolicyRule {
                                verbs: one(verb),
                                api_groups: Some(one(g)),
                                resources: Some(one(r)),
                                resource_names: n.clone().map(|n| vec![n]),
                                ..PolicyRule::default()
                            },
                            ..self.clone()
                        });
                    }
                }
            }
        }
        out
    }

    /// `verb group/resource [names] (Role X via RoleBinding Y, in NS)`, for messages.
    pub fn describe(&self) -> String {
        let r = &self.rule;
        let join = |v: Option<&Vec<String>>| v.map(|v| v.join(",")).unwrap_or_default();
        let what = if r.non_resource_urls.as_ref().is_some_and(|u| !u.is_empty()) {
            format!(
                "{} {}",
                r.verbs.join(","),
                join(r.non_resource_urls.as_ref())
            )
        } else {
            let mut s = format!(
                "{} {}/{}",
                r.verbs.join(","),
                join(r.api_groups.as_ref()),
                join(r.resources.as_ref())
            );
            if r.resource_names.as_ref().is_some_and(|n| !n.is_empty()) {
                s.push_str(&format!(" [{}]", join(r.resource_names.as_ref())));
            }
            s
        };
        let scope = match &self.namespace {
            None => "cluster-wide".to_string(),
            Some(ns) => format!("in namespace {ns}"),
        };
        format!("{what} ({} via {}, {scope})", self.role, self.binding)
    }
}

impl Policy {
    fn cluster_role_rules(&self, name: &str) -> Option<&[PolicyRule]> {
        self.cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .map(|r| r.rules.as_deref().unwrap_or_default())
    }

    fn role_rules(&self, ns: &str, name: &str) -> Option<&[PolicyRule]> {
        self.roles
            .iter()
            .find(|r| {
                r.metadata.namespace.as_deref() == Some(ns)
                    && r.metadata.name.as_deref() == Some(name)
            })
            .map(|r| r.rules.as_deref().unwrap_or_default())
    }

    /// Every rule granted to the user, through ClusterRoleBindings first, then
    /// RoleBindings. Bindings whose role does not exist grant nothing.
    pub fn grants(&self, user: &UserInfo) -> Vec<Grant> {
        let mut out = Vec::new();
        for b in &self.cluster_role_bindings {
            let subjects = b.subjects.as_deref().unwrap_or_default();
            if !subjects.iter().any(|s| subject_matches(s, user, "")) {
                continue;
            }
            if b.role_ref.kind != "ClusterRole" {
                continue;
            }
            let Some(rules) = self.cluster_role_rules(&b.role_ref.name) else {
                continue;
            };
            let binding = format!(
                "ClusterRoleBinding {}",
                b.metadata.name.as_deref().unwrap_or_default()
            );
            out.extend(rules.iter().map(|rule| Grant {
                binding: binding.clone(),
                role: format!("ClusterRole {}", b.role_ref.name),
                namespace: None,
                rule: rule.clone(),
            }));
        }
        for b in &self.role_bindings {
            let ns = b.metadata.namespace.as_deref().unwrap_or_default();
            let subjects = b.subjects.as_deref().unwrap_or_default();
            if !subjects.iter().any(|s| subject_matches(s, user, ns)) {
                continue;
            }
            let (role, rules) = match b.role_ref.kind.as_str() {
                "ClusterRole" => (
                    format!("ClusterRole {}", b.role_ref.name),
                    self.cluster_role_rules(&b.role_ref.name),
                ),
                "Role" => (
                    format!("Role {ns}/{}", b.role_ref.name),
                    self.role_rules(ns, &b.role_ref.name),
                ),
                _ => continue,
            };
            let Some(rules) = rules else { continue };
            let binding = format!(
                "RoleBinding {ns}/{}",
                b.metadata.name.as_deref().unwrap_or_default()
            );
            out.extend(rules.iter().map(|rule| Grant {
                binding: binding.clone(),
                role: role.clone(),
                namespace: Some(ns.to_string()),
                rule: rule.clone(),
            }));
        }
        out
    }

    /// The grant that allows the request, if any.
    pub fn authorize(&self, user: &UserInfo, a: &RequestAttributes) -> Option<Grant> {
        self.grants(user).into_iter().find(|g| g.allows(a))
    }
}

/// The rules every authenticated user has in a new cluster (the bootstrap ClusterRoles
/// `system:discovery` and `system:public-info-viewer`): discovery, version, health,
/// OpenAPI.
pub fn discovery_rule() -> PolicyRule {
    let urls = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/readyz",
        "/version",
        "/version/",
        "/openapi",
        "/openapi/*",
    ];
    PolicyRule {
        verbs: vec!["get".to_string()],
        non_resource_urls: Some(urls.iter().map(|u| (*u).to_string()).collect()),
        ..PolicyRule::default()
    }
}

/// The rule every authenticated user has in a new cluster through the bootstrap
/// ClusterRole `system:basic-user`: asking what they themselves may do.
pub fn basic_user_rule() -> PolicyRule {
    PolicyRule {
        verbs: vec!["create".to_string()],
        api_groups: Some(vec!["authorization.k8s.io".to_string()]),
        resources: Some(vec![
            "selfsubjectaccessreviews".to_string(),
            "selfsubjectrulesreviews".to_string(),
        ]),
        ..PolicyRule::default()
    }
}

/// The `Forbidden` message the API server writes (upstream `forbiddenMessage`).
pub fn forbidden_message(user: &UserInfo, a: &RequestAttributes) -> String {
    if !a.resource_request {
        return format!("User {:?} cannot {} path {:?}", user.name, a.verb, a.path);
    }
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace {:?}", a.namespace)
    };
    format!(
        "User {:?} cannot {} resource {:?} in API group {:?} {scope}",
        user.name,
        a.verb,
        a.combined_resource(),
        a.api_group
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(method: &str, path: &str, query: &[(&str, &str)]) -> RequestAttributes {
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        RequestAttributes::from_request(method, path, &q)
    }

    #[test]
    fn request_attributes_follow_the_request_info_factory() {
        // (method, path, query, verb, group, ns, resource, subresource, name)
        type Row = (
            &'static str,
            &'static str,
            &'static [(&'static str, &'static str)],
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
        );
        #[rustfmt::skip]
        let rows: &[Row] = &[
            ("GET", "/api/v1/pods", &[], "list", "", "", "pods", "", ""),
            ("GET", "/api/v1/pods", &[("watch", "true")], "watch", "", "", "pods", "", ""),
            ("GET", "/api/v1/pods", &[("watch", "1")], "watch", "", "", "pods", "", ""),
            ("GET", "/api/v1/namespaces/a/pods/p", &[], "get", "", "a", "pods", "", "p"),
            ("POST", "/api/v1/namespaces/a/pods", &[], "create", "", "a", "pods", "", ""),
            ("POST", "/api/v1/namespaces/a/pods/p/binding", &[], "create", "", "a", "pods", "binding", "p"),
            ("PATCH", "/api/v1/namespaces/a/pods/p/status", &[], "patch", "", "a", "pods", "status", "p"),
            ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l", &[], "update", "coordination.k8s.io", "kube-system", "leases", "", "l"),
            ("DELETE", "/apis/kube-eip.io/v1/namespaces/a/podeips/x", &[], "delete", "kube-eip.io", "a", "podeips", "", "x"),
            ("DELETE", "/apis/kube-eip.io/v1/namespaces/a/podeips", &[], "deletecollection", "kube-eip.io", "a", "podeips", "", ""),
            ("PATCH", "/api/v1/nodes/n1", &[], "patch", "", "", "nodes", "", "n1"),
            // the name of a list or watch comes from a metadata.name field selector
            ("GET", "/api/v1/namespaces/kube-system/configmaps", &[("watch", "true"), ("fieldSelector", "metadata.name=eni-config")], "watch", "", "kube-system", "configmaps", "", "eni-config"),
            ("GET", "/api/v1/namespaces/kube-system/configmaps", &[("fieldSelector", "metadata.name!=eni-config")], "list", "", "kube-system", "configmaps", "", ""),
            ("GET", "/api/v1/pods", &[("fieldSelector", "spec.nodeName=n1")], "list", "", "", "pods", "", ""),
            // namespaces: the namespace is the object's own name; status/finalize are its subresources
            ("GET", "/api/v1/namespaces/a", &[], "get", "", "a", "namespaces", "", "a"),
            ("PUT", "/api/v1/namespaces/a/finalize", &[], "update", "", "a", "namespaces", "finalize", "a"),
            ("GET", "/api/v1/namespaces", &[], "list", "", "", "namespaces", "", ""),
            // the deprecated /watch/ prefix
            ("GET", "/api/v1/watch/namespaces/a/pods", &[], "watch", "", "a", "pods", "", ""),
        ];
        for (method, path, query, verb, group, ns, resource, sub, name) in rows {
            let a = attrs(method, path, query);
            assert!(a.resource_request, "{method} {path}");
            assert_eq!(
                (
                    a.verb.as_str(),
                    a.api_group.as_str(),
                    a.namespace.as_str(),
                    a.resource.as_str(),
                    a.subresource.as_str(),
                    a.name.as_str()
                ),
                (*verb, *group, *ns, *resource, *sub, *name),
                "{method} {path} {query:?}"
            );
        }
        for path in [
            "/version",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/healthz",
            "/openapi/v2",
        ] {
            let a = attrs("GET", path, &[]);
            assert!(!a.resource_request, "{path} is not a resource request");
            assert_eq!((a.verb.as_str(), a.path.as_str()), ("get", path));
        }
    }

    fn rule(v: serde_json::Value) -> PolicyRule {
        serde_json::from_value(v).expect("a PolicyRule")
    }

    /// (rule, method, path, query, allowed)
    type RuleRow<'a> = (
        &'a PolicyRule,
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        bool,
    );

    #[test]
    fn rules_match_verbs_groups_resources_subresources_names_and_urls() {
        let pods_read = rule(
            json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}),
        );
        let status =
            rule(json!({"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch"]}));
        let any_status =
            rule(json!({"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["*"]}));
        let named = rule(
            json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["eni-config"], "verbs": ["get", "list", "watch"]}),
        );
        let everything = rule(json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}));
        let urls = rule(json!({"nonResourceURLs": ["/healthz", "/apis/*"], "verbs": ["get"]}));
        // (rule, method, path, query, allowed)
        #[rustfmt::skip]
        let rows: Vec<RuleRow<'_>> = vec![
            (&pods_read, "GET", "/api/v1/namespaces/a/pods/p", vec![], true),
            (&pods_read, "GET", "/api/v1/pods", vec![("watch", "true")], true),
            (&pods_read, "PATCH", "/api/v1/namespaces/a/pods/p", vec![], false),
            // a resource grant does not cover its subresources
            (&pods_read, "GET", "/api/v1/namespaces/a/pods/p/status", vec![], false),
            (&pods_read, "GET", "/apis/apps/v1/namespaces/a/replicasets/r", vec![], false),
            (&status, "PATCH", "/api/v1/namespaces/a/pods/p/status", vec![], true),
            (&status, "PATCH", "/api/v1/namespaces/a/pods/p", vec![], false),
            (&status, "PATCH", "/apis/kube-eip.io/v1/namespaces/a/podeips/p/status", vec![], false),
            (&any_status, "PATCH", "/apis/kube-eip.io/v1/namespaces/a/podeips/p/status", vec![], true),
            (&any_status, "PATCH", "/apis/kube-eip.io/v1/namespaces/a/podeips/p", vec![], false),
            (&named, "GET", "/api/v1/namespaces/kube-system/configmaps/eni-config", vec![], true),
            (&named, "GET", "/api/v1/namespaces/kube-system/configmaps/other", vec![], false),
            (&named, "GET", "/api/v1/namespaces/kube-system/configmaps", vec![("watch", "true"), ("fieldSelector", "metadata.name=eni-config")], true),
            // a list without the name is not covered by a named grant
            (&named, "GET", "/api/v1/namespaces/kube-system/configmaps", vec![], false),
            // nor is create (the name is not in the URL)
            (&named, "POST", "/api/v1/namespaces/kube-system/configmaps", vec![], false),
            (&everything, "DELETE", "/apis/apps/v1/namespaces/a/deployments", vec![], true),
            (&everything, "GET", "/healthz", vec![], false),
            (&urls, "GET", "/healthz", vec![], true),
            (&urls, "GET", "/apis/apps/v1", vec![], true),
            (&urls, "POST", "/healthz", vec![], false),
            (&urls, "GET", "/version", vec![], false),
        ];
        for (r, method, path, query, want) in rows {
            let a = attrs(method, path, &query);
            assert_eq!(
                rule_allows(r, &a),
                want,
                "{method} {path} {query:?} by {r:?}"
            );
        }
    }

    fn v<T: serde::de::DeserializeOwned>(x: serde_json::Value) -> T {
        serde_json::from_value(x).expect("an RBAC object")
    }

    fn policy() -> Policy {
        Policy {
            cluster_roles: vec![
                v(
                    json!({"metadata": {"name": "reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}),
                ),
                v(
                    json!({"metadata": {"name": "leases"}, "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]}]}),
                ),
            ],
            cluster_role_bindings: vec![v(json!({
                "metadata": {"name": "agent-reads"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "agent", "namespace": "sys"}],
            }))],
            roles: vec![v(json!({
                "metadata": {"name": "cm", "namespace": "kube-system"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}],
            }))],
            role_bindings: vec![
                // a ServiceAccount subject without a namespace is the binding's
                v(json!({
                    "metadata": {"name": "cm", "namespace": "kube-system"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm"},
                    "subjects": [{"kind": "ServiceAccount", "name": "local"}, {"kind": "Group", "name": "ops"}],
                })),
                // a RoleBinding to a ClusterRole grants it in its namespace only
                v(json!({
                    "metadata": {"name": "leases", "namespace": "kube-system"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "leases"},
                    "subjects": [{"kind": "User", "name": "alice"}],
                })),
                // a binding to a missing role grants nothing
                v(json!({
                    "metadata": {"name": "dangling", "namespace": "default"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "missing"},
                    "subjects": [{"kind": "User", "name": "alice"}],
                })),
            ],
        }
    }

    #[test]
    fn bindings_grant_by_subject_and_namespace_scope() {
        let p = policy();
        let agent = UserInfo::service_account("sys", "agent");
        let local = UserInfo::service_account("kube-system", "local");
        let alice = UserInfo::new("alice", &[]);
        let ops = UserInfo::new("bob", &["ops"]);
        // (user, method, path, allowed)
        let rows = [
            (&agent, "GET", "/api/v1/pods", true),
            (&agent, "GET", "/api/v1/namespaces/x/pods/p", true),
            (&agent, "DELETE", "/api/v1/namespaces/x/pods/p", false),
            (
                &agent,
                "GET",
                "/api/v1/namespaces/kube-system/configmaps/c",
                false,
            ),
            (
                &local,
                "GET",
                "/api/v1/namespaces/kube-system/configmaps/c",
                true,
            ),
            (
                &local,
                "POST",
                "/api/v1/namespaces/kube-system/configmaps",
                true,
            ),
            (
                &local,
                "GET",
                "/api/v1/namespaces/default/configmaps/c",
                false,
            ),
            // a Role never reaches the cluster scope (a list over every namespace)
            (&local, "GET", "/api/v1/configmaps", false),
            (
                &ops,
                "DELETE",
                "/api/v1/namespaces/kube-system/configmaps/c",
                true,
            ),
            (
                &alice,
                "GET",
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l",
                true,
            ),
            (
                &alice,
                "GET",
                "/apis/coordination.k8s.io/v1/namespaces/default/leases/l",
                false,
            ),
            (&alice, "GET", "/api/v1/pods", false),
        ];
        for (user, method, path, want) in rows {
            let a = attrs(method, path, &[]);
            assert_eq!(
                p.authorize(user, &a).is_some(),
                want,
                "{} {method} {path}",
                user.name
            );
        }
        // A ServiceAccount of the same name in another namespace is someone else.
        let a = attrs("GET", "/api/v1/pods", &[]);
        assert!(
            p.authorize(&UserInfo::service_account("other", "agent"), &a)
                .is_none()
        );
        assert_eq!(
            p.grants(&alice).len(),
            1,
            "the dangling binding grants nothing"
        );
    }

    #[test]
    fn grants_split_into_single_permissions_and_describe_themselves() {
        let p = policy();
        let g = p.grants(&UserInfo::service_account("sys", "agent"));
        let perms: Vec<String> = g
            .iter()
            .flat_map(Grant::permissions)
            .map(|p| p.describe())
            .collect();
        assert_eq!(
            perms,
            [
                "get /pods (ClusterRole reader via ClusterRoleBinding agent-reads, cluster-wide)",
                "list /pods (ClusterRole reader via ClusterRoleBinding agent-reads, cluster-wide)",
            ]
        );
        let named = Grant {
            binding: "RoleBinding kube-system/x".into(),
            role: "Role kube-system/x".into(),
            namespace: Some("kube-system".into()),
            rule: rule(
                json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["a", "b"], "verbs": ["get", "update"]}),
            ),
        };
        let perms = named.permissions();
        assert_eq!(perms.len(), 4);
        assert_eq!(
            perms[0].describe(),
            "get coordination.k8s.io/leases [a] (Role kube-system/x via RoleBinding kube-system/x, in namespace kube-system)"
        );
        let a = attrs(
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/b",
            &[],
        );
        assert_eq!(perms.iter().filter(|p| p.allows(&a)).count(), 1);
    }

    #[test]
    fn forbidden_messages_read_like_the_api_servers() {
        let u = UserInfo::service_account("kube-eip", "eip-agent");
        let a = attrs("PATCH", "/api/v1/namespaces/a/pods/p/status", &[]);
        assert_eq!(
            forbidden_message(&u, &a),
            "User \"system:serviceaccount:kube-eip:eip-agent\" cannot patch resource \"pods/status\" in API group \"\" in the namespace \"a\""
        );
        let a = attrs("GET", "/api/v1/nodes", &[("watch", "true")]);
        assert_eq!(
            forbidden_message(&u, &a),
            "User \"system:serviceaccount:kube-eip:eip-agent\" cannot watch resource \"nodes\" in API group \"\" at the cluster scope"
        );
        let a = attrs("GET", "/metrics", &[]);
        assert_eq!(
            forbidden_message(&u, &a),
            "User \"system:serviceaccount:kube-eip:eip-agent\" cannot get path \"/metrics\""
        );
        assert!(rule_allows(
            &discovery_rule(),
            &attrs("GET", "/apis/apps/v1", &[])
        ));
        assert!(!rule_allows(
            &discovery_rule(),
            &attrs("GET", "/metrics", &[])
        ));
    }
}
