//! Authentication and authorization of requests, and the audit record of what each user
//! was served.
//!
//! A request without an `Authorization` header is the cluster admin, as before this
//! module existed: it is neither checked nor recorded. A request with
//! `Authorization: Bearer <token>` is the user the token was issued to
//! ([`super::RunningApiServer::issue_token`],
//! [`super::RunningApiServer::service_account_token`]); an unknown token gets 401.
//! That user's requests are authorized by RBAC ([`super::rbac`]) against the Roles,
//! ClusterRoles and bindings stored in the server at that moment, plus the discovery
//! rule every authenticated user has; a denial is a 403 `Status` worded as upstream.
//! Every decision is recorded per user as an [`AuditEntry`].
//!
//! kubectl sends no bearer token to a plain-HTTP server (client-go drops it), so kubectl
//! is always the admin here; kube-rs clients send it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::de::DeserializeOwned;
use serde_json::json;

use super::rbac::{self, Grant, Policy, RequestAttributes, UserInfo};
use super::registry::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::Store;

/// One kind of request a user made, and whether it was allowed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditEntry {
    /// The user name.
    pub user: String,
    /// The request's attributes (verb, group, resource, subresource, namespace, name).
    pub attributes: RequestAttributes,
    /// Whether it was authorized.
    pub allowed: bool,
}

/// Tokens and the audit log.
#[derive(Default)]
pub(crate) struct Auth {
    tokens: Mutex<HashMap<String, UserInfo>>,
    audit: Mutex<BTreeMap<AuditEntry, u64>>,
}

/// Names the users, never their tokens.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: Vec<String> = lock(&self.tokens)
            .values()
            .map(|u| u.name.clone())
            .collect();
        f.debug_struct("Auth")
            .field("users", &users)
            .field("audit_entries", &lock(&self.audit).len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unauthorized() -> ApiError {
    ApiError {
        code: 401,
        reason: "Unauthorized",
        message: "Unauthorized".to_string(),
        details: None,
    }
}

/// 403 with the API server's wording (upstream `responsewriters.Forbidden`).
pub(crate) fn forbidden(user: &UserInfo, a: &RequestAttributes) -> ApiError {
    let why = rbac::forbidden_message(user, a);
    if !a.resource_request {
        return ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!("forbidden: {why}"),
            details: None,
        };
    }
    let qualified = if a.api_group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.api_group)
    };
    let message = if a.name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} {:?} is forbidden: {why}", a.name)
    };
    let mut details = json!({"kind": a.resource});
    if !a.name.is_empty() {
        details["name"] = json!(a.name);
    }
    if !a.api_group.is_empty() {
        details["group"] = json!(a.api_group);
    }
    ApiError {
        code: 403,
        reason: "Forbidden",
        message,
        details: Some(details),
    }
}

fn stored<T: DeserializeOwned>(store: &Store, plural: &str) -> Vec<T> {
    let Some(rt): Option<&ResourceType> =
        store
            .registry
            .lookup("rbac.authorization.k8s.io", "v1", plural)
    else {
        return Vec::new();
    };
    store
        .list(
            rt,
            None,
            &LabelSelector::default(),
            &FieldSelector::default(),
        )
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect()
}

/// The RBAC objects stored right now.
pub(crate) fn policy(store: &Store) -> Policy {
    Policy {
        cluster_roles: stored(store, "clusterroles"),
        cluster_role_bindings: stored(store, "clusterrolebindings"),
        roles: stored(store, "roles"),
        role_bindings: stored(store, "rolebindings"),
    }
}

fn discovery_grant() -> Grant {
    Grant {
        binding: "ClusterRoleBinding system:discovery".to_string(),
        role: "ClusterRole system:discovery".to_string(),
        namespace: None,
        rule: rbac::discovery_rule(),
    }
}

fn basic_user_grant() -> Grant {
    Grant {
        binding: "ClusterRoleBinding system:basic-user".to_string(),
        role: "ClusterRole system:basic-user".to_string(),
        namespace: None,
        rule: rbac::basic_user_rule(),
    }
}

/// The group, version and plural of SelfSubjectAccessReview.
pub(crate) const SSAR_PATH: [&str; 4] = [
    "apis",
    "authorization.k8s.io",
    "v1",
    "selfsubjectaccessreviews",
];

/// Answers a SelfSubjectAccessReview (`authorization.k8s.io/v1`, create only, nothing
/// stored) for `user` from the same authorizer as requests: `status.allowed`, and the
/// grant that allows it as `status.reason`. Without a user (no token: the admin, RBAC not
/// enforced) everything is allowed.
pub(crate) fn self_subject_access_review(
    policy: &Policy,
    user: Option<&UserInfo>,
    body: &serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    let spec = &body["spec"];
    let str_of = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let a = if let Some(r) = spec.get("resourceAttributes").filter(|r| r.is_object()) {
        RequestAttributes {
            verb: str_of(r, "verb"),
            resource_request: true,
            path: String::new(),
            api_group: str_of(r, "group"),
            namespace: str_of(r, "namespace"),
            resource: str_of(r, "resource"),
            subresource: str_of(r, "subresource"),
            name: str_of(r, "name"),
        }
    } else if let Some(n) = spec.get("nonResourceAttributes").filter(|n| n.is_object()) {
        RequestAttributes {
            verb: str_of(n, "verb"),
            path: str_of(n, "path"),
            ..RequestAttributes::default()
        }
    } else {
        return Err(ApiError {
            code: 422,
            reason: "Invalid",
            message: "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".to_string(),
            details: None,
        });
    };
    let grant = match user {
        None => Some("RBAC is not enforced for this user (no token)".to_string()),
        Some(u) => [discovery_grant(), basic_user_grant()]
            .into_iter()
            .find(|g| g.allows(&a))
            .or_else(|| policy.authorize(u, &a))
            .map(|g| format!("RBAC: allowed by {} of {}", g.binding, g.role)),
    };
    let mut out = body.clone();
    out["apiVersion"] = json!("authorization.k8s.io/v1");
    out["kind"] = json!("SelfSubjectAccessReview");
    if !out["metadata"].is_object() {
        out["metadata"] = json!({});
    }
    out["status"] = match grant {
        Some(reason) => json!({"allowed": true, "reason": reason}),
        None => json!({"allowed": false}),
    };
    Ok(out)
}

impl Auth {
    /// Registers a token for a user.
    pub fn insert(&self, token: String, user: UserInfo) {
        lock(&self.tokens).insert(token, user);
    }

    /// The user of an `Authorization` header: `Ok(None)` without one (the admin),
    /// 401 for a token nobody was issued or a scheme other than Bearer.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Option<UserInfo>, ApiError> {
        let Some(h) = header else { return Ok(None) };
        let token = h
            .strip_prefix("Bearer ")
            .map(str::trim)
            .ok_or_else(unauthorized)?;
        lock(&self.tokens)
            .get(token)
            .cloned()
            .map(Some)
            .ok_or_else(unauthorized)
    }

    /// Authorizes a request of `user` against `policy` and records the decision.
    pub fn authorize(
        &self,
        policy: &Policy,
        user: &UserInfo,
        a: &RequestAttributes,
    ) -> Result<(), ApiError> {
        let allowed = discovery_grant().allows(a)
            || basic_user_grant().allows(a)
            || policy.authorize(user, a).is_some();
        *lock(&self.audit)
            .entry(AuditEntry {
                user: user.name.clone(),
                attributes: a.clone(),
                allowed,
            })
            .or_default() += 1;
        if allowed {
            Ok(())
        } else {
            tracing::debug!(user = %user.name, verb = %a.verb, resource = %a.combined_resource(), namespace = %a.namespace, "request forbidden");
            Err(forbidden(user, a))
        }
    }

    /// Every recorded kind of request with how many times it was made.
    pub fn audit(&self) -> Vec<(AuditEntry, u64)> {
        lock(&self.audit)
            .iter()
            .map(|(e, n)| (e.clone(), *n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_users_and_bad_ones_are_unauthorized() {
        let auth = Auth::default();
        auth.insert("t1-secret".into(), UserInfo::service_account("ns", "sa"));
        let shown = format!("{auth:?}");
        assert!(
            shown.contains("system:serviceaccount:ns:sa") && !shown.contains("t1-secret"),
            "{shown}"
        );
        assert_eq!(auth.authenticate(None), Ok(None));
        let u = auth.authenticate(Some("Bearer t1-secret")).ok().flatten();
        assert_eq!(
            u.map(|u| u.name),
            Some("system:serviceaccount:ns:sa".to_string())
        );
        for bad in ["Bearer nope", "Basic dTpw", "t1-secret"] {
            let e = auth.authenticate(Some(bad)).err();
            assert_eq!(
                e.map(|e| (e.code, e.reason)),
                Some((401, "Unauthorized")),
                "{bad}"
            );
        }
    }

    #[test]
    fn decisions_are_recorded_and_denials_carry_a_forbidden_status() {
        let auth = Auth::default();
        let user = UserInfo::service_account("ns", "sa");
        let policy = Policy::default();
        let discovery = RequestAttributes::from_request("GET", "/apis", &[]);
        assert!(auth.authorize(&policy, &user, &discovery).is_ok());
        let a = RequestAttributes::from_request(
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l",
            &[],
        );
        let e = auth.authorize(&policy, &user, &a).err();
        let status = e.map(|e| e.to_status());
        assert_eq!(
            status,
            Some(json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "leases.coordination.k8s.io \"l\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot get resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"kube-system\"",
                "reason": "Forbidden",
                "details": {"name": "l", "group": "coordination.k8s.io", "kind": "leases"},
                "code": 403,
            }))
        );
        let _ = auth.authorize(&policy, &user, &a);
        let log = auth.audit();
        assert_eq!(log.len(), 2);
        let denied: Vec<u64> = log
            .iter()
            .filter(|(e, _)| !e.allowed)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(denied, [2]);
    }
}
