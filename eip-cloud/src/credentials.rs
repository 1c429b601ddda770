//! Credentials and where they come from, in the order operators expect: an explicit
//! access key (constructor, or the `ALIBABA_CLOUD_*` environment variables), a mounted
//! credentials directory (a Kubernetes Secret), then the ECS RAM role of the instance
//! (metadata service, STS credentials refreshed before they expire).
//!
//! Secrets never leave this module in printable form: `Debug` redacts them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;

use crate::Error;
use crate::metadata::MetadataClient;

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

/// Environment variable: the AccessKeyId.
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// Environment variable: the AccessKeySecret.
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// Environment variable: an STS token (optional).
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
/// Environment variable: the RAM role name for the metadata provider (optional).
pub const ENV_ECS_METADATA_ROLE: &str = "ALIBABA_CLOUD_ECS_METADATA";
/// Environment variable: `true` disables the metadata provider.
pub const ENV_ECS_METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";
/// Environment variable: `true` forbids the IMDSv1 fallback.
pub const ENV_IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";

/// Reads an access key from variables: [`ENV_ACCESS_KEY_ID`] and [`ENV_ACCESS_KEY_SECRET`]
/// (both non-empty), plus [`ENV_SECURITY_TOKEN`] when set. `lookup` is
/// `|k| std::env::var(k).ok()` in production ([`credentials_from_env`]).
pub fn credentials_from_vars(lookup: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
    let id = lookup(ENV_ACCESS_KEY_ID).filter(|v| !v.trim().is_empty())?;
    let secret = lookup(ENV_ACCESS_KEY_SECRET).filter(|v| !v.trim().is_empty())?;
    let creds = Credentials::new(id.trim(), secret.trim());
    Some(
        match lookup(ENV_SECURITY_TOKEN).filter(|v| !v.trim().is_empty()) {
            Some(t) => creds.with_security_token(t.trim()),
            None => creds,
        },
    )
}

/// [`credentials_from_vars`] over the process environment.
pub fn credentials_from_env() -> Option<Credentials> {
    credentials_from_vars(|k| std::env::var(k).ok())
}

/// File name of the AccessKeyId in a credentials directory.
pub const FILE_ACCESS_KEY_ID: &str = "access_key_id";
/// File name of the AccessKeySecret in a credentials directory.
pub const FILE_ACCESS_KEY_SECRET: &str = "access_key_secret";
/// File name of the optional STS token in a credentials directory.
pub const FILE_SECURITY_TOKEN: &str = "security_token";

/// Credentials from a directory holding one file per value, the layout of a Kubernetes
/// Secret mounted as a volume:
///
/// ```text
/// <dir>/access_key_id       the AccessKeyId
/// <dir>/access_key_secret   the AccessKeySecret
/// <dir>/security_token      optional STS token
/// ```
///
/// Surrounding whitespace is trimmed. The files are re-read whenever one of their
/// modification times changes (kubelet swaps the files when the Secret is updated).
#[derive(Debug)]
pub struct FileCredentials {
    dir: PathBuf,
    cache: Mutex<Option<(Vec<Option<SystemTime>>, Credentials)>>,
}

impl FileCredentials {
    /// Reads from `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            cache: Mutex::new(None),
        }
    }

    /// Checks that `dir` is a directory (it may be empty, as a Secret volume marked
    /// optional is when the Secret does not exist: the chain then moves on), so a mistyped
    /// path fails at start-up instead of silently leaving the next provider in charge.
    pub fn check_dir(dir: &Path) -> Result<(), Error> {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(Error::Credentials(format!(
                "credentials directory {} is not a directory",
                dir.display()
            ))),
            Err(e) => Err(Error::Credentials(format!(
                "cannot open credentials directory {}: {}",
                dir.display(),
                e.kind()
            ))),
        }
    }

    fn stamps(&self) -> Vec<Option<SystemTime>> {
        [
            FILE_ACCESS_KEY_ID,
            FILE_ACCESS_KEY_SECRET,
            FILE_SECURITY_TOKEN,
        ]
        .iter()
        .map(|f| {
            std::fs::metadata(self.dir.join(f))
                .and_then(|m| m.modified())
                .ok()
        })
        .collect()
    }

    fn read(dir: &Path, name: &str) -> Result<Option<String>, Error> {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(s) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Credentials(format!(
                "cannot read {}: {}",
                dir.join(name).display(),
                e.kind()
            ))),
        }
    }
}

#[async_trait]
impl ProvideCredentials for FileCredentials {
    async fn credentials(&self) -> Result<Credentials, Error> {
        let stamps = self.stamps();
        {
            let g = match self.cache.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if let Some((cached_stamps, creds)) = g.as_ref()
                && *cached_stamps == stamps
            {
                return Ok(creds.clone());
            }
        }
        let dir = &self.dir;
        let missing = |name: &str| {
            Error::Credentials(format!("{} is missing or empty", dir.join(name).display()))
        };
        let id = Self::read(dir, FILE_ACCESS_KEY_ID)?.ok_or_else(|| missing(FILE_ACCESS_KEY_ID))?;
        let secret = Self::read(dir, FILE_ACCESS_KEY_SECRET)?
            .ok_or_else(|| missing(FILE_ACCESS_KEY_SECRET))?;
        let mut creds = Credentials::new(id, secret);
        if let Some(t) = Self::read(dir, FILE_SECURITY_TOKEN)? {
            creds = creds.with_security_token(t);
        }
        let mut g = match self.cache.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = Some((stamps, creds.clone()));
        Ok(creds)
    }
}

/// The STS credentials of the instance's RAM role, from the metadata service. The role
/// is the configured one, else the one the service lists. Credentials are reused until
/// they are stale: 15 minutes before `Expiration` (or half-way to it for short-lived
/// ones); if a refresh fails while the old ones have not yet expired, they are kept.
#[derive(Debug)]
pub struct EcsRamRoleCredentials {
    metadata: MetadataClient,
    role: Option<String>,
    cache: Mutex<Option<CachedSts>>,
}

#[derive(Debug, Clone)]
struct CachedSts {
    creds: Credentials,
    stale_at: jiff::Timestamp,
    expires_at: jiff::Timestamp,
}

impl EcsRamRoleCredentials {
    /// Reads role credentials through `metadata`; `role` names the role (else discovered).
    pub fn new(metadata: MetadataClient, role: Option<String>) -> Self {
        Self {
            metadata,
            role: role.filter(|r| !r.is_empty()),
            cache: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<CachedSts> {
        let g = match self.cache.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.clone()
    }

    async fn fetch(&self) -> Result<CachedSts, Error> {
        let role = match &self.role {
            Some(r) => r.clone(),
            None => self.metadata.ram_role_name().await?,
        };
        let body = self.metadata.ram_role_credentials(&role).await?;
        if body.code != "Success" {
            return Err(Error::Credentials(format!(
                "metadata service returned code {:?} for RAM role {role}",
                body.code
            )));
        }
        let expires_at = crate::signature::parse_timestamp(&body.expiration).ok_or_else(|| {
            Error::Credentials(format!(
                "RAM role {role}: malformed Expiration {:?}",
                body.expiration
            ))
        })?;
        let now = jiff::Timestamp::now();
        let remaining = expires_at.duration_since(now);
        let margin = jiff::SignedDuration::from_mins(15).min(remaining / 2);
        let stale_at = expires_at
            .checked_sub(margin.max(jiff::SignedDuration::ZERO))
            .unwrap_or(now);
        if body.access_key_id.is_empty() || body.access_key_secret.is_empty() {
            return Err(Error::Credentials(format!(
                "RAM role {role}: credentials document lacks an access key"
            )));
        }
        let mut creds = Credentials::new(body.access_key_id, body.access_key_secret);
        if !body.security_token.is_empty() {
            creds = creds.with_security_token(body.security_token);
        }
        Ok(CachedSts {
            creds,
            stale_at,
            expires_at,
        })
    }
}

#[async_trait]
impl ProvideCredentials for EcsRamRoleCredentials {
    async fn credentials(&self) -> Result<Credentials, Error> {
        let now = jiff::Timestamp::now();
        let cached = self.cached();
        if let Some(c) = &cached
            && now < c.stale_at
        {
            return Ok(c.creds.clone());
        }
        match self.fetch().await {
            Ok(fresh) => {
                let creds = fresh.creds.clone();
                let mut g = match self.cache.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                *g = Some(fresh);
                Ok(creds)
            }
            Err(e) => match cached {
                Some(c) if now < c.expires_at => {
                    tracing::warn!(error = %e, "refreshing RAM role credentials failed; using the current ones until they expire");
                    Ok(c.creds)
                }
                _ => Err(e),
            },
        }
    }
}

/// Tries providers in order and returns the first credentials one of them gives.
#[derive(Debug, Clone, Default)]
pub struct CredentialsChain {
    providers: Vec<(String, SharedCredentials)>,
}

impl CredentialsChain {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a provider, named for error messages.
    pub fn with(mut self, name: impl Into<String>, provider: SharedCredentials) -> Self {
        self.providers.push((name.into(), provider));
        self
    }

    /// The chain operators expect: `explicit` (flags), then the `ALIBABA_CLOUD_*`
    /// environment variables, then the credentials directory `dir` (when given), then the
    /// ECS RAM role through `metadata` (role from `role` or [`ENV_ECS_METADATA_ROLE`];
    /// skipped when [`ENV_ECS_METADATA_DISABLED`] is `true`).
    pub fn standard(
        explicit: Option<Credentials>,
        dir: Option<PathBuf>,
        metadata: MetadataClient,
        role: Option<String>,
    ) -> Self {
        Self::standard_with_env(explicit, dir, metadata, role, |k| std::env::var(k).ok())
    }

    /// [`CredentialsChain::standard`] with an explicit variable lookup (for tests).
    pub fn standard_with_env(
        explicit: Option<Credentials>,
        dir: Option<PathBuf>,
        metadata: MetadataClient,
        role: Option<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let mut chain = Self::new();
        if let Some(c) = explicit {
            chain = chain.with("explicit access key", Arc::new(StaticCredentials::new(c)));
        }
        if let Some(c) = credentials_from_vars(&lookup) {
            chain = chain.with("environment", Arc::new(StaticCredentials::new(c)));
        }
        if let Some(d) = dir {
            chain = chain.with(
                format!("credentials directory {}", d.display()),
                Arc::new(FileCredentials::new(d)),
            );
        }
        let is_true = |k: &str| lookup(k).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if !is_true(ENV_ECS_METADATA_DISABLED) {
            let role = role.or_else(|| lookup(ENV_ECS_METADATA_ROLE));
            let metadata = metadata.imdsv1_fallback(!is_true(ENV_IMDSV1_DISABLED));
            chain = chain.with(
                "ECS RAM role",
                Arc::new(EcsRamRoleCredentials::new(metadata, role)),
            );
        }
        chain
    }

    /// The provider names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.providers.iter().map(|(n, _)| n.as_str()).collect()
    }
}

#[async_trait]
impl ProvideCredentials for CredentialsChain {
    async fn credentials(&self) -> Result<Credentials, Error> {
        let mut failures = Vec::new();
        for (name, p) in &self.providers {
            match p.credentials().await {
                Ok(c) => return Ok(c),
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        if failures.is_empty() {
            failures.push("no provider configured".to_owned());
        }
        Err(Error::Credentials(failures.join("; ")))
    }
}
