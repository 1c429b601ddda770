//! The crate's error type, typed by the cloud's error code, and the retry classification.
//! Nothing here carries a secret: transport errors are stored without their URL (a V1
//! URL carries `SecurityToken`), and credentials errors say what failed, never the value.

use std::time::Duration;

/// What kind of failure a cloud error code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `QuotaExceeded.*`.
    QuotaExceeded,
    /// `*.NotFound` (an allocation id, instance, ENI...).
    NotFound,
    /// The resource is in a state that does not allow the operation (`IncorrectEipStatus`).
    IncorrectStatus,
    /// Flow control (`Throttling.User`, `Throttling.Api`, ...).
    Throttling,
    /// Conflict with a concurrent request (`OperationConflict`, `TaskConflict*`,
    /// `LastTokenProcessing`).
    Conflict,
    /// Not allowed (`Forbidden.*`, RAM, access key problems).
    Forbidden,
    /// The signature or its timestamp/nonce was refused.
    Signature,
    /// The same ClientToken was used with different parameters.
    IdempotentParameterMismatch,
    /// A parameter is missing or invalid.
    InvalidParameter,
    /// The service failed (5xx, `InternalError`, `ServiceUnavailable`).
    ServerError,
    /// Any other code.
    Other,
}

/// Classifies a cloud error code (and the HTTP status it came with).
pub fn classify(code: &str, status: u16) -> ErrorKind {
    const SIGNATURE: [&str; 4] = [
        "SignatureDoesNotMatch",
        "SignatureNonceUsed",
        "InvalidSignatureMethod",
        "IncompleteSignature",
    ];
    const CONFLICT: [&str; 4] = [
        "OperationConflict",
        "LastTokenProcessing",
        "Operation.Conflict",
        "VPC_TASK_CONFLICT",
    ];
    const FORBIDDEN_PREFIXES: [&str; 5] = [
        "Forbidden",
        "Forbbiden",
        "InvalidAccessKeyId",
        "InvalidSecurityToken",
        "NoPermission",
    ];
    const SERVER: [&str; 4] = [
        "InternalError",
        "ServiceUnavailable",
        "SystemBusy",
        "UnknownError",
    ];
    if code == "IdempotentParameterMismatch" {
        ErrorKind::IdempotentParameterMismatch
    } else if code.contains("Throttling") || code.starts_with("FrequentPurchase") {
        ErrorKind::Throttling
    } else if SIGNATURE.contains(&code) || code.starts_with("InvalidTimeStamp") {
        ErrorKind::Signature
    } else if code.starts_with("QuotaExceeded") {
        ErrorKind::QuotaExceeded
    } else if CONFLICT.contains(&code) || code.starts_with("TaskConflict") {
        ErrorKind::Conflict
    } else if FORBIDDEN_PREFIXES.iter().any(|p| code.starts_with(p)) {
        ErrorKind::Forbidden
    } else if code.ends_with(".NotFound") && code != "InvalidApi.NotFound" {
        ErrorKind::NotFound
    } else if code.starts_with("Incorrect")
        || code == "InvalidBindingStatus"
        || code.starts_with("InvalidStatus")
        || (code.starts_with("InvalidOperation.") && code.ends_with("State"))
    {
        ErrorKind::IncorrectStatus
    } else if code.starts_with("InvalidParameter")
        || code.starts_with("InvalidParams")
        || code.starts_with("Missing")
    {
        ErrorKind::InvalidParameter
    } else if SERVER.contains(&code) || status >= 500 {
        ErrorKind::ServerError
    } else {
        ErrorKind::Other
    }
}

/// The details of an error answer from the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The action called (`AllocateEipAddress`).
    pub action: String,
    /// The cloud's error code.
    pub code: String,
    /// The cloud's message.
    pub message: String,
    /// The request id (empty if the body had none).
    pub request_id: String,
    /// The HTTP status.
    pub status: u16,
    /// `x-acs-retry-after`, when the service sent one.
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} failed with {} (http {}, request id {}): {}",
            self.action, self.code, self.status, self.request_id, self.message
        )
    }
}

/// Errors of the cloud client, its credentials, its metadata client and its waiter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `QuotaExceeded.*`: free or raise the quota.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(Box<ApiError>),
    /// The resource does not exist.
    #[error("not found: {0}")]
    NotFound(Box<ApiError>),
    /// The resource's state does not allow the operation now.
    #[error("incorrect status: {0}")]
    IncorrectStatus(Box<ApiError>),
    /// Flow control, after the retries ran out.
    #[error("throttled: {0}")]
    Throttling(Box<ApiError>),
    /// Conflict with a concurrent operation, after the retries ran out.
    #[error("conflict: {0}")]
    Conflict(Box<ApiError>),
    /// Not allowed: check the RAM policy and the access key.
    #[error("forbidden: {0}")]
    Forbidden(Box<ApiError>),
    /// The signature was refused: check the access key secret and the clock.
    #[error("signature refused: {0}")]
    Signature(Box<ApiError>),
    /// The ClientToken was reused with different parameters.
    #[error("idempotent parameter mismatch: {0}")]
    IdempotentParameterMismatch(Box<ApiError>),
    /// A parameter is missing or invalid.
    #[error("invalid parameter: {0}")]
    InvalidParameter(Box<ApiError>),
    /// The service failed.
    #[error("server error: {0}")]
    ServerError(Box<ApiError>),
    /// Another code.
    #[error("cloud error: {0}")]
    Other(Box<ApiError>),
    /// The call timed out (the request may or may not have been applied).
    #[error("{action} timed out after {after:?}")]
    Timeout {
        /// The action.
        action: String,
        /// The configured timeout.
        after: Duration,
    },
    /// The request could not be sent or its answer not read.
    #[error("{action}: transport error talking to {endpoint}")]
    Transport {
        /// The action.
        action: String,
        /// The endpoint (scheme, host, port; no query).
        endpoint: String,
        /// True when the connection was never established (nothing was sent).
        connect: bool,
        /// The cause, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// The answer was not the JSON expected.
    #[error("{action}: could not decode the response (http {status})")]
    Decode {
        /// The action.
        action: String,
        /// The HTTP status.
        status: u16,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// No provider in the chain produced credentials.
    #[error("no usable credentials: {0}")]
    Credentials(String),
    /// The instance metadata service failed.
    #[error("metadata service: failed to read {path}: {reason}")]
    Metadata {
        /// The path asked for.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// Bad client configuration (endpoint URL, ...).
    #[error("invalid cloud client configuration: {0}")]
    Config(String),
    /// A waiter's deadline passed before the EIP reached its target state.
    #[error(
        "timed out after {waited:?} waiting for EIP {allocation_id} to become {target} (last seen: {last_seen})"
    )]
    WaitTimeout {
        /// The EIP.
        allocation_id: String,
        /// The target (`InUse`, `Available`, `gone`).
        target: String,
        /// How long it waited.
        waited: Duration,
        /// The last status seen, or the last describe error.
        last_seen: String,
    },
    /// The EIP disappeared while a waiter expected it to reach a state.
    #[error("EIP {allocation_id} no longer exists (was waiting for {target})")]
    EipGone {
        /// The EIP.
        allocation_id: String,
        /// The target it was waited for.
        target: String,
    },
}

impl Error {
    /// Builds the typed error of an API error answer.
    pub fn from_api(api: ApiError) -> Self {
        let b = Box::new(api);
        match classify(&b.code, b.status) {
            ErrorKind::QuotaExceeded => Self::QuotaExceeded(b),
            ErrorKind::NotFound => Self::NotFound(b),
            ErrorKind::IncorrectStatus => Self::IncorrectStatus(b),
            ErrorKind::Throttling => Self::Throttling(b),
            ErrorKind::Conflict => Self::Conflict(b),
            ErrorKind::Forbidden => Self::Forbidden(b),
            ErrorKind::Signature => Self::Signature(b),
            ErrorKind::IdempotentParameterMismatch => Self::IdempotentParameterMismatch(b),
            ErrorKind::InvalidParameter => Self::InvalidParameter(b),
            ErrorKind::ServerError => Self::ServerError(b),
            ErrorKind::Other => Self::Other(b),
        }
    }

    /// The API error details, when the service answered with an error body.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::QuotaExceeded(a)
            | Self::NotFound(a)
            | Self::IncorrectStatus(a)
            | Self::Throttling(a)
            | Self::Conflict(a)
            | Self::Forbidden(a)
            | Self::Signature(a)
            | Self::IdempotentParameterMismatch(a)
            | Self::InvalidParameter(a)
            | Self::ServerError(a)
            | Self::Other(a) => Some(a),
            _ => None,
        }
    }

    /// The kind of an API error (`None` for transport, timeout and local errors).
    pub fn kind(&self) -> Option<ErrorKind> {
        self.api().map(|a| classify(&a.code, a.status))
    }

    /// The cloud's error code.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|a| a.code.as_str())
    }

    /// The request id of the failed call.
    pub fn request_id(&self) -> Option<&str> {
        self.api().map(|a| a.request_id.as_str())
    }

    /// The HTTP status of the failed call.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Decode { status, .. } => Some(*status),
            _ => self.api().map(|a| a.status),
        }
    }

    /// True for `*.NotFound`.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }

    /// Whether a retry is safe and useful. `idempotent` is true for Describe*/List* calls
    /// and for calls carrying a ClientToken.
    ///
    /// Always retried (the service refused before doing anything): throttling, conflicts
    /// (`OperationConflict`, `TaskConflict*`, `LastTokenProcessing`,
    /// `Operation.Conflict`, `VPC_TASK_CONFLICT`) and connection failures (nothing was
    /// sent). Retried only when `idempotent`: every 5xx (`InternalError`,
    /// `ServiceUnavailable`, ... — a gateway may answer 503 after the change was
    /// applied), timeouts and other transport errors.
    pub fn is_retryable(&self, idempotent: bool) -> bool {
        match self {
            Self::Throttling(_) | Self::Conflict(_) => true,
            Self::ServerError(_) => idempotent,
            Self::Timeout { .. } => idempotent,
            Self::Transport { connect, .. } => *connect || idempotent,
            Self::Decode { status, .. } => *status >= 500 && idempotent,
            _ => false,
        }
    }

    /// Whether the same call will fail the same way until someone changes something (an
    /// id that does not exist, a RAM policy, a parameter, the quota, the AccessKey): a
    /// caller backs off for minutes and says what to change, instead of retrying at once.
    /// Throttling, conflicts, status transitions, server and transport errors are not.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::QuotaExceeded(_)
                | Self::NotFound(_)
                | Self::Forbidden(_)
                | Self::Signature(_)
                | Self::IdempotentParameterMismatch(_)
                | Self::InvalidParameter(_)
        )
    }

    /// The server's `x-acs-retry-after`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|a| a.retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, status: u16) -> Error {
        Error::from_api(ApiError {
            action: "AllocateEipAddress".into(),
            code: code.into(),
            message: "m".into(),
            request_id: "req-1".into(),
            status,
            retry_after: None,
        })
    }

    #[test]
    fn permanent_errors_are_those_a_retry_cannot_fix() {
        let permanent = [
            ("QuotaExceeded.Eip", 400),
            ("InvalidBandwidthPackageId.NotFound", 404),
            ("Forbidden.RAM", 403),
            ("SignatureDoesNotMatch", 400),
            ("IdempotentParameterMismatch", 400),
            ("InvalidParameter", 400),
        ];
        for (code, status) in permanent {
            assert!(api(code, status).is_permanent(), "{code}");
        }
        let transient = [
            ("Throttling.User", 400),
            ("OperationConflict", 409),
            ("IncorrectEipStatus", 400),
            ("InternalError", 500),
            ("SomethingNew", 400),
        ];
        for (code, status) in transient {
            assert!(!api(code, status).is_permanent(), "{code}");
        }
    }

    #[test]
    fn codes_map_to_kinds() {
        let table = [
            ("QuotaExceeded.Eip", 400, ErrorKind::QuotaExceeded),
            ("InvalidAllocationId.NotFound", 404, ErrorKind::NotFound),
            ("InvalidInstanId.NotFound", 404, ErrorKind::NotFound),
            ("InvalidParams.NotFound", 400, ErrorKind::NotFound),
            ("InvalidEniId.NotFound", 404, ErrorKind::NotFound),
            ("IncorrectEipStatus", 400, ErrorKind::IncorrectStatus),
            ("IncorrectInstanceStatus", 400, ErrorKind::IncorrectStatus),
            ("InvalidBindingStatus", 400, ErrorKind::IncorrectStatus),
            (
                "InvalidOperation.InvalidEniState",
                400,
                ErrorKind::IncorrectStatus,
            ),
            ("Throttling.User", 400, ErrorKind::Throttling),
            ("Throttling.Api", 400, ErrorKind::Throttling),
            ("Rejected.Throttling", 400, ErrorKind::Throttling),
            ("OperationConflict", 409, ErrorKind::Conflict),
            (
                "TaskConflict.AssociateGlobalAccelerationInstance",
                400,
                ErrorKind::Conflict,
            ),
            ("LastTokenProcessing", 400, ErrorKind::Conflict),
            ("Forbidden.RAM", 403, ErrorKind::Forbidden),
            ("Forbidden.RegionNotFound", 404, ErrorKind::Forbidden),
            ("InvalidAccessKeyId.NotFound", 404, ErrorKind::Forbidden),
            ("InvalidSecurityToken.Expired", 403, ErrorKind::Forbidden),
            ("SignatureDoesNotMatch", 400, ErrorKind::Signature),
            ("SignatureNonceUsed", 400, ErrorKind::Signature),
            ("InvalidTimeStamp.Expired", 400, ErrorKind::Signature),
            (
                "IdempotentParameterMismatch",
                400,
                ErrorKind::IdempotentParameterMismatch,
            ),
            ("InvalidParameter", 400, ErrorKind::InvalidParameter),
            ("MissingAllocationId", 400, ErrorKind::InvalidParameter),
            ("MissingParameter", 400, ErrorKind::InvalidParameter),
            ("InternalError", 500, ErrorKind::ServerError),
            ("ServiceUnavailable", 503, ErrorKind::ServerError),
            ("WhateverElse", 502, ErrorKind::ServerError),
            ("InvalidApi.NotFound", 404, ErrorKind::Other),
            ("InsufficientBalance", 400, ErrorKind::Other),
        ];
        for (code, status, kind) in table {
            let e = api(code, status);
            assert_eq!(e.kind(), Some(kind), "{code}");
            assert_eq!(e.code(), Some(code));
            assert_eq!(e.request_id(), Some("req-1"));
            assert_eq!(e.http_status(), Some(status));
        }
        assert!(api("InvalidAllocationId.NotFound", 404).is_not_found());
    }

    #[test]
    fn retry_classification() {
        for (code, status) in [
            ("Throttling.User", 400),
            ("Throttling.Api", 400),
            ("OperationConflict", 409),
            ("TaskConflict", 400),
            ("LastTokenProcessing", 400),
            ("VPC_TASK_CONFLICT", 400),
        ] {
            assert!(api(code, status).is_retryable(false), "{code}");
            assert!(api(code, status).is_retryable(true), "{code}");
        }
        // A 5xx may come after the change was applied: only safe when idempotent.
        for (code, status) in [
            ("InternalError", 500),
            ("ServiceUnavailable", 503),
            ("SystemBusy", 500),
            ("Http502", 502),
        ] {
            assert!(!api(code, status).is_retryable(false), "{code}");
            assert!(api(code, status).is_retryable(true), "{code}");
        }
        for (code, status) in [
            ("QuotaExceeded.Eip", 400),
            ("InvalidAllocationId.NotFound", 404),
            ("IncorrectEipStatus", 400),
            ("Forbidden.RAM", 403),
            ("SignatureDoesNotMatch", 400),
            ("IdempotentParameterMismatch", 400),
            ("InvalidParameter", 400),
        ] {
            assert!(!api(code, status).is_retryable(true), "{code}");
        }
        let timeout = Error::Timeout {
            action: "AllocateEipAddress".into(),
            after: Duration::from_secs(1),
        };
        assert!(!timeout.is_retryable(false));
        assert!(timeout.is_retryable(true));
    }

    #[test]
    fn display_names_action_code_and_request_id() {
        let e = api("QuotaExceeded.Eip", 400);
        let text = e.to_string();
        assert!(text.contains("AllocateEipAddress"), "{text}");
        assert!(text.contains("QuotaExceeded.Eip"), "{text}");
        assert!(text.contains("req-1"), "{text}");
        assert!(text.contains("http 400"), "{text}");
    }
}
