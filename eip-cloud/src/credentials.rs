//! Credentials and where they come from, in the order operators expect: an explicit
//! access key (constructor, or the `ALIBABA_CLOUD_*` environment variables), a mounted
//! credentials directory (a Kubernetes Secret), then the ECS RAM role of the instance
//! (metadata service, STS credentials refreshed before they expire).
//!
//! Secrets never leave this module in printable form: `Debug` redacts them.

use std::sync::Arc;

use async_trait::async_trait;

use crate::Error;

/// What `Debug` prints in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// A secret string: `Debug` and `Display` print [`REDACTED`]; read it with
/// [`Secret::expose`] only where it is used (signing, headers).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// An access key, optionally with an STS security token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The AccessKeyId (not secret).
    pub access_key_id: String,
    /// The AccessKeySecret.
    pub access_key_secret: Secret,
    /// The STS token, for temporary credentials.
    pub security_token: Option<Secret>,
}

impl Credentials {
    /// A long-lived access key.
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            access_key_secret: Secret::new(access_key_secret),
            security_token: None,
        }
    }

    /// Adds an STS security token.
    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(Secret::new(token));
        self
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &self.access_key_secret)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| REDACTED),
            )
            .finish()
    }
}

/// A source of credentials. Called before every request, so implementations cache.
#[async_trait]
pub trait ProvideCredentials: Send + Sync + std::fmt::Debug {
    /// Current credentials.
    async fn credentials(&self) -> Result<Credentials, Error>;
}

/// Fixed credentials.
#[derive(Debug, Clone)]
pub struct StaticCredentials(Credentials);

impl StaticCredentials {
    /// Always `creds`.
    pub fn new(creds: Credentials) -> Self {
        Self(creds)
    }
}

#[async_trait]
impl ProvideCredentials for StaticCredentials {
    async fn credentials(&self) -> Result<Credentials, Error> {
        Ok(self.0.clone())
    }
}

/// A shared credentials provider.
pub type SharedCredentials = Arc<dyn ProvideCredentials>;
