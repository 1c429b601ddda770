//! A small client of the ECS instance metadata service (`http://100.100.100.200` by
//! default; any base URL, e.g. the emulator's `http://127.0.0.1:PORT/instances/<id>`).
//!
//! Uses IMDSv2 ("security hardening mode"): `PUT /latest/api/token` with
//! `X-aliyun-ecs-metadata-token-ttl-seconds`, then `X-aliyun-ecs-metadata-token` on every
//! GET. Falls back to plain GETs (IMDSv1) when the token request fails, unless told not to.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Error;
use crate::credentials::Secret;
use crate::model::RamRoleCredentialsBody;

/// The metadata service address on ECS.
pub const DEFAULT_METADATA_URL: &str = "http://100.100.100.200";
/// Request header of the token PUT.
pub const TOKEN_TTL_HEADER: &str = "X-aliyun-ecs-metadata-token-ttl-seconds";
/// Header carrying the token on GETs.
pub const TOKEN_HEADER: &str = "X-aliyun-ecs-metadata-token";

const TOKEN_TTL_SECONDS: u64 = 21_600;

/// The metadata client. Cheap to clone (the token cache is shared).
#[derive(Clone)]
pub struct MetadataClient {
    base: String,
    http: reqwest::Client,
    imdsv1_fallback: bool,
    token: Arc<Mutex<Option<(Secret, Instant)>>>,
}

impl std::fmt::Debug for MetadataClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataClient")
            .field("base", &self.base)
            .field("imdsv1_fallback", &self.imdsv1_fallback)
            .finish_non_exhaustive()
    }
}

impl Default for MetadataClient {
    fn default() -> Self {
        Self::new(DEFAULT_METADATA_URL)
    }
}

impl MetadataClient {
    /// A client of the service at `base_url` (no trailing `/latest`), with 2 s timeouts.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::with_timeout(base_url, Duration::from_secs(2))
    }

    /// Same, with another timeout per request.
    pub fn with_timeout(base_url: impl Into<String>, timeout: Duration) -> Self {
        let base = base_url.into().trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            base,
            http,
            imdsv1_fallback: true,
            token: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether to fall back to token-less GETs when the token request fails (default
    /// true; `ALIBABA_CLOUD_IMDSV1_DISABLED=true` is how the SDK turns it off).
    pub fn imdsv1_fallback(mut self, on: bool) -> Self {
        self.imdsv1_fallback = on;
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn err(path: &str, reason: impl Into<String>) -> Error {
        Error::Metadata {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    fn cached_token(&self) -> Option<Secret> {
        let g = match self.token.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.as_ref()
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }

    fn store_token(&self, token: Option<(Secret, Instant)>) {
        let mut g = match self.token.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = token;
    }

    async fn fetch_token(&self) -> Result<Secret, Error> {
        const PATH: &str = "/latest/api/token";
        let resp = self
            .http
            .put(format!("{}{PATH}", self.base))
            .header(TOKEN_TTL_HEADER, TOKEN_TTL_SECONDS.to_string())
            .send()
            .await
            .map_err(|e| Self::err(PATH, e.without_url().to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Self::err(PATH, format!("http {}", status.as_u16())));
        }
        let token = resp
            .text()
            .await
            .map_err(|e| Self::err(PATH, e.without_url().to_string()))?;
        let token = Secret::new(token.trim().to_owned());
        // Renew a minute before the service would.
        let until = Instant::now() + Duration::from_secs(TOKEN_TTL_SECONDS - 60);
        self.store_token(Some((token.clone(), until)));
        Ok(token)
    }

    /// GETs `path` (starting with `/latest/`) and returns the body text.
    pub async fn get(&self, path: &str) -> Result<String, Error> {
        for attempt in 0..2 {
            let token = match self.cached_token() {
                Some(t) => Some(t),
                None => match self.fetch_token().await {
                    Ok(t) => Some(t),
                    Err(e) if self.imdsv1_fallback => {
                        tracing::debug!(error = %e, "metadata token unavailable, using IMDSv1");
                        None
                    }
                    Err(e) => return Err(e),
                },
            };
            let mut req = self.http.get(format!("{}{path}", self.base));
            if let Some(t) = &token {
                req = req.header(TOKEN_HEADER, t.expose());
            }
            let resp = req
                .send()
                .await
                .map_err(|e| Self::err(path, e.without_url().to_string()))?;
            let status = resp.status().as_u16();
            if status == 401 && token.is_some() && attempt == 0 {
                // The token expired or was revoked: get a new one once.
                self.store_token(None);
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(Self::err(path, format!("http {status}")));
            }
            return resp
                .text()
                .await
                .map_err(|e| Self::err(path, e.without_url().to_string()));
        }
        Err(Self::err(path, "token refused twice"))
    }

    async fn item(&self, item: &str) -> Result<String, Error> {
        Ok(self
            .get(&format!("/latest/meta-data/{item}"))
            .await?
            .trim()
            .to_owned())
    }

    /// `instance-id`.
    pub async fn instance_id(&self) -> Result<String, Error> {
        self.item("instance-id").await
    }

    /// `region-id`.
    pub async fn region_id(&self) -> Result<String, Error> {
        self.item("region-id").await
    }

    /// `zone-id`.
    pub async fn zone_id(&self) -> Result<String, Error> {
        self.item("zone-id").await
    }

    /// `instance/instance-type`.
    pub async fn instance_type(&self) -> Result<String, Error> {
        self.item("instance/instance-type").await
    }

    /// `vpc-id`.
    pub async fn vpc_id(&self) -> Result<String, Error> {
        self.item("vpc-id").await
    }

    /// `vswitch-id` (of the primary ENI).
    pub async fn vswitch_id(&self) -> Result<String, Error> {
        self.item("vswitch-id").await
    }

    /// `mac` (of the primary ENI).
    pub async fn mac(&self) -> Result<String, Error> {
        self.item("mac").await
    }

    /// `network/interfaces/macs/`: the MAC of every ENI.
    pub async fn macs(&self) -> Result<Vec<String>, Error> {
        let text = self.item("network/interfaces/macs/").await?;
        Ok(text
            .lines()
            .map(|l| l.trim().trim_end_matches('/').to_owned())
            .filter(|l| !l.is_empty())
            .collect())
    }

    /// `network/interfaces/macs/<mac>/<item>` (`network-interface-id`,
    /// `primary-ip-address`, `vswitch-id`, `netmask`, `gateway`, `vswitch-cidr-block`, ...).
    pub async fn eni_item(&self, mac: &str, item: &str) -> Result<String, Error> {
        self.item(&format!("network/interfaces/macs/{mac}/{item}"))
            .await
    }

    /// The ENI id of the interface with MAC `mac`.
    pub async fn eni_id(&self, mac: &str) -> Result<String, Error> {
        self.eni_item(mac, "network-interface-id").await
    }

    /// The primary private IP of the interface with MAC `mac`.
    pub async fn eni_primary_ip(&self, mac: &str) -> Result<String, Error> {
        self.eni_item(mac, "primary-ip-address").await
    }

    /// The vSwitch of the interface with MAC `mac`.
    pub async fn eni_vswitch_id(&self, mac: &str) -> Result<String, Error> {
        self.eni_item(mac, "vswitch-id").await
    }

    /// Every private IPv4 of the interface with MAC `mac` (`private-ipv4s`, a JSON array).
    pub async fn eni_private_ipv4s(&self, mac: &str) -> Result<Vec<String>, Error> {
        let path = format!("network/interfaces/macs/{mac}/private-ipv4s");
        let text = self.item(&path).await?;
        serde_json::from_str(&text)
            .map_err(|e| Self::err(&path, format!("not a JSON array of strings: {e}")))
    }

    /// The RAM role attached to the instance (`ram/security-credentials/`).
    pub async fn ram_role_name(&self) -> Result<String, Error> {
        let text = self.item("ram/security-credentials/").await?;
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Self::err("ram/security-credentials/", "no RAM role attached"))
    }

    /// The STS credentials of RAM role `role`.
    pub async fn ram_role_credentials(&self, role: &str) -> Result<RamRoleCredentialsBody, Error> {
        let path = format!("ram/security-credentials/{role}");
        let text = self.item(&path).await?;
        // The body holds secrets: never echo it in the error.
        serde_json::from_str(&text).map_err(|_| Self::err(&path, "not a credentials document"))
    }
}
