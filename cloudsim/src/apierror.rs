//! The error an emulated API call returns: HTTP status, `Code` and `Message`, rendered by
//! the server into the real body (`RequestId`, `HostId`, `Code`, `Message`, `Recommend`).
//! `Message` carries the real service's words; where the emulator knows more than the real
//! message says (which bound a value broke), that goes in `detail`, which the emulator logs
//! and never sends.

use serde::{Deserialize, Serialize};

/// An OpenAPI error as the real gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code} ({status}): {message}{}", .detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// The `Code` field, e.g. `InvalidAllocationId.NotFound`.
    pub code: String,
    /// The `Message` field.
    pub message: String,
    /// Why, beyond the real message: logged at debug level and shown by `Display` (admin
    /// and configuration errors), never in an API error body.
    #[serde(skip)]
    pub detail: Option<String>,
}

impl ApiError {
    /// An error with an arbitrary status, code and message.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            detail: None,
        }
    }

    /// The same error with `detail` for the emulator's log.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// `Missing{Param}`: a required parameter is absent.
    pub fn missing(param: &str) -> Self {
        Self::new(
            400,
            format!("Missing{param}"),
            format!("{param} is mandatory for this action."),
        )
    }

    /// `InvalidParameter` naming the offending parameter, in the real words
    /// (`Specified value of "Bandwidth" is not valid.`); `detail` (which rule the value
    /// broke) only reaches the emulator's log.
    pub fn invalid(param: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "InvalidParameter",
            format!("Specified value of \"{param}\" is not valid."),
        )
        .with_detail(detail.to_string())
    }

    /// `InvalidParameter` for a value the real service accepts but this emulator does not
    /// implement: the real words, then what the emulator lacks, so that nobody mistakes
    /// the refusal for the cloud's.
    pub fn unsupported(param: &str, what: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "InvalidParameter",
            format!("Specified value of \"{param}\" is not valid. {what}"),
        )
    }

    /// `InvalidApi.NotFound` (404).
    pub fn api_not_found() -> Self {
        Self::new(
            404,
            "InvalidApi.NotFound",
            "Specified api is not found, please check your url and method.",
        )
    }

    /// `InvalidAllocationId.NotFound` (404).
    pub fn allocation_not_found(id: &str) -> Self {
        Self::new(
            404,
            "InvalidAllocationId.NotFound",
            "Specified allocation ID is not found",
        )
        .with_detail(format!("no EIP {id}"))
    }

    /// `IncorrectEipStatus` (400).
    pub fn incorrect_eip_status() -> Self {
        Self::new(
            400,
            "IncorrectEipStatus",
            "Current elastic IP status does not support this operation.",
        )
    }

    /// `InvalidEniId.NotFound` (404).
    pub fn eni_not_found(id: &str) -> Self {
        Self::new(
            404,
            "InvalidEniId.NotFound",
            format!("The specified network interface {id} does not exist."),
        )
    }

    /// `InvalidInstanceId.NotFound` (404), the ECS instance lookups.
    pub fn instance_not_found(id: &str) -> Self {
        Self::new(
            404,
            "InvalidInstanceId.NotFound",
            format!("The specified instance {id} does not exist."),
        )
    }

    /// `InternalError` (500).
    pub fn internal() -> Self {
        Self::new(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error.",
        )
    }

    /// `ServiceUnavailable` (503).
    pub fn unavailable() -> Self {
        Self::new(
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        )
    }

    /// `Throttling.User` (400).
    pub fn throttled() -> Self {
        Self::new(
            400,
            "Throttling.User",
            "Request was denied due to user flow control.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_is_shown_by_display_but_not_in_the_message() {
        let e = ApiError::invalid("VSwitchId", "No vSwitch exists.");
        assert_eq!(e.message, "Specified value of \"VSwitchId\" is not valid.");
        assert_eq!(
            e.to_string(),
            "InvalidParameter (400): Specified value of \"VSwitchId\" is not valid. (No vSwitch exists.)"
        );
        assert_eq!(
            ApiError::throttled().to_string(),
            "Throttling.User (400): Request was denied due to user flow control."
        );
    }
}
