//! [`AliyunClient`]: the real OpenAPI client over reqwest. Each call is a POST to `/`
//! with every parameter in the query and an empty body, like the official SDK; signed
//! with V3 (`ACS3-HMAC-SHA256`, the default) or V1 (`HMAC-SHA1`). Calls that are safe to
//! repeat are retried with exponential backoff and jitter (see
//! [`Error::is_retryable`]); an optional per-action rate limiter spaces calls out.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::de::DeserializeOwned;

use crate::args::{
    AllocateEipArgs, AssociateEipArgs, BandwidthPackageIpArgs, DescribeEipArgs,
    DescribeInstanceTypesArgs, DescribeInstancesArgs, DescribeNetworkInterfacesArgs,
    DescribeVSwitchesArgs, ListTagResourcesArgs, ModifyEipArgs, Params, TagResourcesArgs,
    UnassociateEipArgs,
};
use crate::credentials::{Credentials, SharedCredentials};
use crate::error::{ApiError, Error};
use crate::metrics::{CallObserver, CallOutcome, CallPacer, CallRecord};
use crate::model::{
    AllocateEipAddressResponse, DescribeEipAddressesResponse, DescribeInstanceTypesResponse,
    DescribeInstancesResponse, DescribeNetworkInterfacesResponse, DescribeVSwitchesResponse,
    EipAddress, ErrorBody, Instance, InstanceType, ListTagResourcesResponse, NetworkInterfaceSet,
    RequestIdResponse, TagResource, VSwitch,
};
use crate::signature;
use crate::{Cloud, credentials};

/// The default region.
pub const DEFAULT_REGION: &str = "cn-hangzhou";
/// Header carrying the server's retry hint, in milliseconds.
pub const RETRY_AFTER_HEADER: &str = "x-acs-retry-after";

/// Which product an action belongs to (endpoint and API version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// VPC, API version 2016-04-28.
    Vpc,
    /// ECS, API version 2014-05-26.
    Ecs,
}

impl Product {
    /// The API version.
    pub fn version(self) -> &'static str {
        match self {
            Self::Vpc => "2016-04-28",
            Self::Ecs => "2014-05-26",
        }
    }

    /// A short name for metrics (`vpc`, `ecs`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Vpc => "vpc",
            Self::Ecs => "ecs",
        }
    }

    /// The SDK's regional endpoint for `region` (HTTPS).
    pub fn default_endpoint(self, region: &str) -> String {
        match (self, region) {
            (Self::Vpc, "cn-hangzhou") => "https://vpc.aliyuncs.com".to_owned(),
            (Self::Vpc, r) => format!("https://vpc.{r}.aliyuncs.com"),
            (Self::Ecs, "cn-hangzhou") => "https://ecs-cn-hangzhou.aliyuncs.com".to_owned(),
            (Self::Ecs, r) => format!("https://ecs.{r}.aliyuncs.com"),
        }
    }
}

/// The signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureVersion {
    /// `ACS3-HMAC-SHA256` in the `Authorization` header (the SDK default).
    #[default]
    V3,
    /// `HMAC-SHA1` in the `Signature` query parameter.
    V1,
}

/// When and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// First backoff delay.
    pub min_delay: Duration,
    /// Largest backoff delay (before jitter and before the server's retry-after floor).
    pub max_delay: Duration,
    /// Add up to 100% random jitter to each delay.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            min_delay: Duration::from_millis(300),
            max_delay: Duration::from_secs(10),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// One attempt only.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        let mut b = ExponentialBuilder::new()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay.max(self.min_delay))
            .with_factor(2.0)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        if self.jitter {
            b = b.with_jitter();
        }
        b.build()
    }
}

/// Builds an [`AliyunClient`].
#[derive(Debug)]
pub struct AliyunClientBuilder {
    region: String,
    vpc_endpoint: Option<String>,
    ecs_endpoint: Option<String>,
    signature: SignatureVersion,
    credentials: Option<SharedCredentials>,
    retry: RetryPolicy,
    timeout: Duration,
    connect_timeout: Duration,
    rate_limits: HashMap<String, Quota>,
    caller_paced: HashSet<String>,
    pacer: Option<Arc<dyn CallPacer>>,
    observer: Option<Arc<dyn CallObserver>>,
    auto_client_token: bool,
    user_agent: String,
}

impl Default for AliyunClientBuilder {
    fn default() -> Self {
        Self {
            region: DEFAULT_REGION.to_owned(),
            vpc_endpoint: None,
            ecs_endpoint: None,
            signature: SignatureVersion::V3,
            credentials: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            rate_limits: HashMap::new(),
            caller_paced: HashSet::new(),
            pacer: None,
            observer: None,
            auto_client_token: true,
            user_agent: format!("kube-eip/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl AliyunClientBuilder {
    /// The region (`RegionId` of every call; picks the default endpoints).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// One `http(s)://host[:port]` endpoint for both VPC and ECS (the emulator serves
    /// both on one port).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.vpc_endpoint = Some(url.clone());
        self.ecs_endpoint = Some(url);
        self
    }

    /// The VPC endpoint.
    pub fn vpc_endpoint(mut self, url: impl Into<String>) -> Self {
        self.vpc_endpoint = Some(url.into());
        self
    }

    /// The ECS endpoint.
    pub fn ecs_endpoint(mut self, url: impl Into<String>) -> Self {
        self.ecs_endpoint = Some(url.into());
        self
    }

    /// The signature scheme (default V3).
    pub fn signature_version(mut self, v: SignatureVersion) -> Self {
        self.signature = v;
        self
    }

    /// Where credentials come from (see [`credentials::CredentialsChain`]).
    pub fn credentials_provider(mut self, provider: SharedCredentials) -> Self {
        self.credentials = Some(provider);
        self
    }

    /// Fixed credentials.
    pub fn credentials(self, creds: Credentials) -> Self {
        self.credentials_provider(Arc::new(credentials::StaticCredentials::new(creds)))
    }

    /// The retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Timeout of one HTTP attempt (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connect timeout (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Client-side rate limit for `action`: at most `calls` per `per`, in bursts of up to
    /// `calls`. Calls beyond it wait. Ignored when `calls` is 0 or `per` is zero.
    pub fn rate_limit(mut self, action: impl Into<String>, calls: u32, per: Duration) -> Self {
        if let Some(n) = NonZeroU32::new(calls)
            && let Some(q) = Quota::with_period(per / calls)
        {
            self.rate_limits.insert(action.into(), q.allow_burst(n));
        }
        self
    }

    /// Throttled calls of these actions are returned to the caller at once instead of
    /// being retried here: for a caller that paces them itself (retrying here would bypass
    /// its pace). Other retryable errors of these actions are still retried.
    pub fn caller_paced<S: Into<String>>(mut self, actions: impl IntoIterator<Item = S>) -> Self {
        self.caller_paced
            .extend(actions.into_iter().map(Into::into));
        self
    }

    /// Paces the actions `pacer` paces, as [`CallPacer`] describes.
    pub fn pacer(mut self, pacer: Arc<dyn CallPacer>) -> Self {
        self.pacer = Some(pacer);
        self
    }

    /// Receives a record of every HTTP attempt.
    pub fn observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Whether calls of [`CLIENT_TOKEN_ACTIONS`] without a ClientToken get a generated one
    /// (default true), so that their retries after a timeout or a 5xx cannot do the work
    /// twice (e.g. create a second EIP).
    pub fn auto_client_token(mut self, on: bool) -> Self {
        self.auto_client_token = on;
        self
    }

    /// Builds the client. Fails on a malformed endpoint or when no credentials provider
    /// was given.
    pub fn build(self) -> Result<AliyunClient, Error> {
        let credentials = self
            .credentials
            .ok_or_else(|| Error::Config("no credentials provider configured".to_owned()))?;
        let vpc = Endpoint::parse(
            &self
                .vpc_endpoint
                .unwrap_or_else(|| Product::Vpc.default_endpoint(&self.region)),
        )?;
        let ecs = Endpoint::parse(
            &self
                .ecs_endpoint
                .unwrap_or_else(|| Product::Ecs.default_endpoint(&self.region)),
        )?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the http client: {e}")))?;
        let limiters = self
            .rate_limits
            .into_iter()
            .map(|(k, q)| (k, Arc::new(RateLimiter::direct(q))))
            .collect();
        Ok(AliyunClient {
            inner: Arc::new(Inner {
                region: self.region,
                vpc,
                ecs,
                signature: self.signature,
                credentials,
                retry: self.retry,
                timeout: self.timeout,
                limiters,
                caller_paced: self.caller_paced,
                pacer: self.pacer,
                observer: self.observer,
                auto_client_token: self.auto_client_token,
                http,
            }),
        })
    }
}

#[derive(Debug, Clone)]
struct Endpoint {
    /// `scheme://host[:port]`, no trailing slash.
    base: String,
    /// The `host` header value (`host[:port]`, port only when not the default).
    host: String,
}

impl Endpoint {
    fn parse(raw: &str) -> Result<Self, Error> {
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("https://{raw}")
        };
        let url = reqwest::Url::parse(&with_scheme)
            .map_err(|e| Error::Config(format!("endpoint {raw:?} is not a URL: {e}")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(Error::Config(format!(
                "endpoint {raw:?} must be http or https"
            )));
        }
        let host_name = url
            .host_str()
            .ok_or_else(|| Error::Config(format!("endpoint {raw:?} has no host")))?;
        let host = match url.port() {
            Some(p) => format!("{host_name}:{p}"),
            None => host_name.to_owned(),
        };
        Ok(Self {
            base: format!("{}://{host}", url.scheme()),
            host,
        })
    }
}

/// The Alibaba Cloud VPC + ECS OpenAPI client. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct AliyunClient {
    inner: Arc<Inner>,
}

struct Inner {
    region: String,
    vpc: Endpoint,
    ecs: Endpoint,
    signature: SignatureVersion,
    credentials: SharedCredentials,
    retry: RetryPolicy,
    timeout: Duration,
    limiters: HashMap<String, Arc<DefaultDirectRateLimiter>>,
    caller_paced: HashSet<String>,
    pacer: Option<Arc<dyn CallPacer>>,
    observer: Option<Arc<dyn CallObserver>>,
    auto_client_token: bool,
    http: reqwest::Client,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AliyunClient")
            .field("region", &self.region)
            .field("vpc_endpoint", &self.vpc.base)
            .field("ecs_endpoint", &self.ecs.base)
            .field("signature", &self.signature)
            .field("credentials", &self.credentials)
            .field("retry", &self.retry)
            .field(
                "rate_limited_actions",
                &self.limiters.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Actions that take a `ClientToken`; the client adds a generated one when the caller
/// gave none (see [`AliyunClientBuilder::auto_client_token`]).
pub const CLIENT_TOKEN_ACTIONS: [&str; 5] = [
    "AllocateEipAddress",
    "AssociateEipAddress",
    "UnassociateEipAddress",
    "AddCommonBandwidthPackageIp",
    "RemoveCommonBandwidthPackageIp",
];

/// Actions that set a value, so repeating them changes nothing.
const SET_ACTIONS: [&str; 3] = [
    "ModifyEipAddressAttribute",
    "TagResources",
    "UnTagResources",
];

/// Whether a call may be repeated without changing the outcome: reads, set-style
/// updates, and calls carrying a ClientToken.
fn is_idempotent(action: &str, params: &Params) -> bool {
    action.starts_with("Describe")
        || action.starts_with("List")
        || SET_ACTIONS.contains(&action)
        || params.get("ClientToken").is_some_and(|t| !t.is_empty())
}

/// `x-acs-retry-after` is a positive integer of milliseconds.
fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER_HEADER)?.to_str().ok()?;
    let ms: u64 = v.trim().parse().ok()?;
    (ms > 0).then(|| Duration::from_millis(ms))
}

impl AliyunClient {
    /// A builder with the defaults (cn-hangzhou, V3, regional endpoints).
    pub fn builder() -> AliyunClientBuilder {
        AliyunClientBuilder::default()
    }

    /// Calls `action` with `params` (plus `RegionId`) and parses the JSON answer as `T`,
    /// retrying what is safe to retry. Use it for actions the [`Cloud`] trait lacks.
    pub async fn call<T: DeserializeOwned>(
        &self,
        product: Product,
        action: &str,
        params: Params,
    ) -> Result<T, Error> {
        let mut params = params;
        if params.get("RegionId").is_none() {
            params.push("RegionId", self.inner.region.clone());
        }
        if self.inner.auto_client_token
            && CLIENT_TOKEN_ACTIONS.contains(&action)
            && params.get("ClientToken").is_none()
        {
            // One token for every attempt: a retry after a lost answer returns the first
            // result instead of doing the work twice.
            params.push("ClientToken", uuid::Uuid::new_v4().to_string());
        }
        let idempotent = is_idempotent(action, &params);
        let mut backoff = self.inner.retry.backoff();
        let mut attempt: u32 = 0;
        let pacer = self.inner.pacer.as_ref().filter(|p| p.paces(action));
        let started = Instant::now();
        loop {
            attempt += 1;
            if let Some(p) = pacer {
                p.acquire(action).await;
            }
            if let Some(limiter) = self.inner.limiters.get(action) {
                limiter.until_ready().await;
            }
            let err = match self.attempt::<T>(product, action, &params, attempt).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if let (Some(p), Error::Throttling(_)) = (pacer, &err) {
                if started.elapsed() < p.max_wait() {
                    continue;
                }
                return Err(err);
            }
            if !err.is_retryable(idempotent)
                || (matches!(err, Error::Throttling(_)) && self.inner.caller_paced.contains(action))
            {
                return Err(err);
            }
            let Some(mut delay) = backoff.next() else {
                return Err(err);
            };
            if let Some(floor) = err.retry_after() {
                delay = delay.max(floor);
            }
            tracing::debug!(
                action,
                attempt,
                code = err.code().unwrap_or("-"),
                request_id = err.request_id().unwrap_or("-"),
                delay_ms = delay.as_millis() as u64,
                "retrying cloud call"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        product: Product,
        action: &str,
        params: &Params,
        attempt: u32,
    ) -> Result<T, Error> {
        // No HTTP attempt without credentials: nothing to observe.
        let creds = self.inner.credentials.credentials().await?;
        let started = Instant::now();
        let result = self.send::<T>(product, action, params, &creds).await;
        if let Some(obs) = &self.inner.observer {
            let (outcome, http_status) = match &result {
                Ok(_) => (CallOutcome::Success, Some(200)),
                Err(e) => match (e.code(), e) {
                    (Some(code), _) => (CallOutcome::ApiError { code }, e.http_status()),
                    (None, Error::Timeout { .. }) => (CallOutcome::Timeout, None),
                    (None, _) => (CallOutcome::Transport, e.http_status()),
                },
            };
            obs.observe(&CallRecord {
                product: product.name(),
                action,
                attempt,
                outcome,
                http_status,
                duration: started.elapsed(),
            });
        }
        result
    }

    async fn send<T: DeserializeOwned>(
        &self,
        product: Product,
        action: &str,
        params: &Params,
        creds: &Credentials,
    ) -> Result<T, Error> {
        let inner = &self.inner;
        let endpoint = match product {
            Product::Vpc => &inner.vpc,
            Product::Ecs => &inner.ecs,
        };
        let timestamp = signature::format_timestamp(jiff::Timestamp::now());
        let nonce = signature::new_nonce();
        let version = product.version();
        let (query, headers) = match inner.signature {
            SignatureVersion::V3 => {
                let mut headers: Vec<(&str, String)> = vec![
                    ("host", endpoint.host.clone()),
                    ("x-acs-action", action.to_owned()),
                    ("x-acs-version", version.to_owned()),
                    ("x-acs-date", timestamp),
                    ("x-acs-signature-nonce", nonce),
                    (
                        "x-acs-content-sha256",
                        signature::EMPTY_PAYLOAD_SHA256.to_owned(),
                    ),
                    ("accept", "application/json".to_owned()),
                ];
                if let Some(token) = &creds.security_token {
                    headers.push(("x-acs-accesskey-id", creds.access_key_id.clone()));
                    headers.push(("x-acs-security-token", token.expose().to_owned()));
                }
                let auth = signature::v3_sign(
                    "POST",
                    "/",
                    params.as_slice(),
                    &headers,
                    signature::EMPTY_PAYLOAD_SHA256,
                    &creds.access_key_id,
                    creds.access_key_secret.expose(),
                );
                headers.push(("authorization", auth.to_string()));
                (signature::canonical_query(params.as_slice()), headers)
            }
            SignatureVersion::V1 => {
                let mut all = params.clone();
                all.push("Action", action)
                    .push("Version", version)
                    .push("Format", "JSON")
                    .push("AccessKeyId", creds.access_key_id.clone())
                    .push("SignatureMethod", signature::V1_SIGNATURE_METHOD)
                    .push("SignatureVersion", signature::V1_SIGNATURE_VERSION)
                    .push("SignatureNonce", nonce)
                    .push("Timestamp", timestamp);
                if let Some(token) = &creds.security_token {
                    all.push("SecurityToken", token.expose());
                }
                let sig =
                    signature::v1_sign("POST", all.as_slice(), creds.access_key_secret.expose());
                all.push("Signature", sig);
                let headers = vec![
                    ("host", endpoint.host.clone()),
                    ("accept", "application/json".to_owned()),
                    ("x-acs-action", action.to_owned()),
                    ("x-acs-version", version.to_owned()),
                ];
                (signature::canonical_query(all.as_slice()), headers)
            }
        };
        let url = format!("{}/?{query}", endpoint.base);
        let mut req = inner.http.post(url).body(Vec::<u8>::new());
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let transport = |e: reqwest::Error| -> Error {
            if e.is_timeout() {
                Error::Timeout {
                    action: action.to_owned(),
                    after: inner.timeout,
                }
            } else {
                Error::Transport {
                    action: action.to_owned(),
                    endpoint: endpoint.base.clone(),
                    connect: e.is_connect(),
                    source: e.without_url(),
                }
            }
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(resp.headers());
        let body = resp.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return serde_json::from_slice::<T>(&body).map_err(|source| Error::Decode {
                action: action.to_owned(),
                status,
                source,
            });
        }
        let api = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(b) if !b.code.is_empty() => ApiError {
                action: action.to_owned(),
                code: b.code,
                message: b.message,
                request_id: b.request_id,
                status,
                retry_after,
            },
            _ => ApiError {
                action: action.to_owned(),
                code: format!("Http{status}"),
                message: String::from_utf8_lossy(&body).chars().take(200).collect(),
                request_id: String::new(),
                status,
                retry_after,
            },
        };
        Err(Error::from_api(api))
    }

    async fn request_id_call(
        &self,
        product: Product,
        action: &str,
        params: Params,
    ) -> Result<RequestIdResponse, Error> {
        self.call::<RequestIdResponse>(product, action, params)
            .await
    }
}

/// Splits `items` into chunks of `n`; an empty list gives one empty chunk (no filter).
fn chunks(items: &[String], n: usize) -> Vec<&[String]> {
    if items.is_empty() {
        vec![&[]]
    } else {
        items.chunks(n).collect()
    }
}

/// Upper bound on pages followed, against a service that never ends its pagination.
const MAX_PAGES: u32 = 10_000;

#[async_trait]
impl Cloud for AliyunClient {
    fn region_id(&self) -> &str {
        &self.inner.region
    }

    async fn allocate_eip_address(
        &self,
        args: &AllocateEipArgs,
    ) -> Result<AllocateEipAddressResponse, Error> {
        self.call(Product::Vpc, "AllocateEipAddress", args.to_params())
            .await
    }

    async fn associate_eip_address(
        &self,
        args: &AssociateEipArgs,
    ) -> Result<RequestIdResponse, Error> {
        self.request_id_call(Product::Vpc, "AssociateEipAddress", args.to_params())
            .await
    }

    async fn unassociate_eip_address(
        &self,
        args: &UnassociateEipArgs,
    ) -> Result<RequestIdResponse, Error> {
        self.request_id_call(Product::Vpc, "UnassociateEipAddress", args.to_params())
            .await
    }

    async fn release_eip_address(&self, allocation_id: &str) -> Result<RequestIdResponse, Error> {
        let mut p = Params::new();
        p.push("AllocationId", allocation_id);
        self.request_id_call(Product::Vpc, "ReleaseEipAddress", p)
            .await
    }

    async fn describe_eip_addresses(
        &self,
        args: &DescribeEipArgs,
    ) -> Result<Vec<EipAddress>, Error> {
        let page_size = args.page_size.unwrap_or(100).clamp(1, 100);
        let mut out = Vec::new();
        for ids in chunks(&args.allocation_ids, 50) {
            for ips in chunks(&args.eip_addresses, 50) {
                let mut page = 1u32;
                let mut seen = 0usize;
                while page <= MAX_PAGES {
                    let mut p = args.to_params(ids, ips);
                    p.push("PageNumber", page.to_string())
                        .push("PageSize", page_size.to_string());
                    let resp: DescribeEipAddressesResponse =
                        self.call(Product::Vpc, "DescribeEipAddresses", p).await?;
                    let n = resp.eip_addresses.eip_address.len();
                    seen += n;
                    out.extend(resp.eip_addresses.eip_address);
                    if n == 0
                        || n < page_size as usize
                        || (resp.total_count > 0 && seen as i64 >= resp.total_count)
                    {
                        break;
                    }
                    page += 1;
                }
            }
        }
        Ok(out)
    }

    async fn modify_eip_address_attribute(
        &self,
        args: &ModifyEipArgs,
    ) -> Result<RequestIdResponse, Error> {
        self.request_id_call(Product::Vpc, "ModifyEipAddressAttribute", args.to_params())
            .await
    }

    async fn tag_resources(&self, args: &TagResourcesArgs) -> Result<RequestIdResponse, Error> {
        self.request_id_call(Product::Vpc, "TagResources", args.to_params())
            .await
    }

    async fn list_tag_resources(
        &self,
        args: &ListTagResourcesArgs,
    ) -> Result<Vec<TagResource>, Error> {
        let mut out = Vec::new();
        for ids in chunks(&args.resource_ids, 50) {
            let batch = ListTagResourcesArgs {
                resource_ids: ids.to_vec(),
                ..args.clone()
            };
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let p = batch.to_params(token.as_deref());
                let resp: ListTagResourcesResponse =
                    self.call(Product::Vpc, "ListTagResources", p).await?;
                out.extend(resp.tag_resources.tag_resource);
                match resp.next_token.filter(|t| !t.is_empty()) {
                    Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    async fn add_common_bandwidth_package_ip(
        &self,
        args: &BandwidthPackageIpArgs,
    ) -> Result<RequestIdResponse, Error> {
        self.request_id_call(
            Product::Vpc,
            "AddCommonBandwidthPackageIp",
            args.to_params(),
        )
        .await
    }

    async fn remove_common_bandwidth_package_ip(
        &self,
        args: &BandwidthPackageIpArgs,
    ) -> Result<RequestIdResponse, Error> {
        self.request_id_call(
            Product::Vpc,
            "RemoveCommonBandwidthPackageIp",
            args.to_params(),
        )
        .await
    }

    async fn describe_common_bandwidth_packages(
        &self,
        args: &crate::args::DescribeBandwidthPackagesArgs,
    ) -> Result<Vec<crate::model::CommonBandwidthPackage>, Error> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let resp: crate::model::DescribeCommonBandwidthPackagesResponse = self
                .call(
                    Product::Vpc,
                    "DescribeCommonBandwidthPackages",
                    args.to_params(page),
                )
                .await?;
            let n = resp
                .common_bandwidth_packages
                .common_bandwidth_package
                .len();
            out.extend(resp.common_bandwidth_packages.common_bandwidth_package);
            if n < 50 || (resp.total_count > 0 && out.len() as i64 >= resp.total_count) {
                break;
            }
        }
        Ok(out)
    }

    async fn describe_vswitches(
        &self,
        args: &DescribeVSwitchesArgs,
    ) -> Result<Vec<VSwitch>, Error> {
        let mut out = Vec::new();
        let mut seen = 0usize;
        for page in 1..=MAX_PAGES {
            let resp: DescribeVSwitchesResponse = self
                .call(Product::Vpc, "DescribeVSwitches", args.to_params(page))
                .await?;
            let n = resp.vswitches.vswitch.len();
            seen += n;
            out.extend(resp.vswitches.vswitch);
            if n == 0 || n < 50 || (resp.total_count > 0 && seen as i64 >= resp.total_count) {
                break;
            }
        }
        Ok(out)
    }

    async fn describe_network_interfaces(
        &self,
        args: &DescribeNetworkInterfacesArgs,
    ) -> Result<Vec<NetworkInterfaceSet>, Error> {
        let mut out = Vec::new();
        for ids in chunks(&args.network_interface_ids, 100) {
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let resp: DescribeNetworkInterfacesResponse = self
                    .call(
                        Product::Ecs,
                        "DescribeNetworkInterfaces",
                        args.to_params(ids, token.as_deref()),
                    )
                    .await?;
                out.extend(resp.network_interface_sets.network_interface_set);
                match resp.next_token.filter(|t| !t.is_empty()) {
                    Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    async fn describe_instance_types(
        &self,
        args: &DescribeInstanceTypesArgs,
    ) -> Result<Vec<InstanceType>, Error> {
        let mut out = Vec::new();
        for types in chunks(&args.instance_types, 10) {
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let resp: DescribeInstanceTypesResponse = self
                    .call(
                        Product::Ecs,
                        "DescribeInstanceTypes",
                        args.to_params(types, token.as_deref()),
                    )
                    .await?;
                out.extend(resp.instance_types.instance_type);
                match resp.next_token.filter(|t| !t.is_empty()) {
                    Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    async fn describe_instances(
        &self,
        args: &DescribeInstancesArgs,
    ) -> Result<Vec<Instance>, Error> {
        let mut out = Vec::new();
        for ids in chunks(&args.instance_ids, 100) {
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let resp: DescribeInstancesResponse = self
                    .call(
                        Product::Ecs,
                        "DescribeInstances",
                        args.to_params(ids, token.as_deref()),
                    )
                    .await?;
                out.extend(resp.instances.instance);
                match resp.next_token.filter(|t| !t.is_empty()) {
                    Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_endpoints_follow_the_sdk() {
        assert_eq!(
            Product::Vpc.default_endpoint("cn-hangzhou"),
            "https://vpc.aliyuncs.com"
        );
        assert_eq!(
            Product::Vpc.default_endpoint("cn-beijing"),
            "https://vpc.cn-beijing.aliyuncs.com"
        );
        assert_eq!(
            Product::Ecs.default_endpoint("cn-hangzhou"),
            "https://ecs-cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(
            Product::Ecs.default_endpoint("ap-southeast-1"),
            "https://ecs.ap-southeast-1.aliyuncs.com"
        );
    }

    #[test]
    fn endpoints_parse_host_header_and_reject_garbage() -> Result<(), Error> {
        let e = Endpoint::parse("http://127.0.0.1:18181")?;
        assert_eq!(
            (e.base.as_str(), e.host.as_str()),
            ("http://127.0.0.1:18181", "127.0.0.1:18181")
        );
        let e = Endpoint::parse("https://vpc.aliyuncs.com/")?;
        assert_eq!(
            (e.base.as_str(), e.host.as_str()),
            ("https://vpc.aliyuncs.com", "vpc.aliyuncs.com")
        );
        let e = Endpoint::parse("vpc.cn-beijing.aliyuncs.com")?;
        assert_eq!(e.base, "https://vpc.cn-beijing.aliyuncs.com");
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://").is_err());
        Ok(())
    }

    #[test]
    fn idempotency_and_retry_after() {
        let mut p = Params::new();
        assert!(is_idempotent("DescribeEipAddresses", &p));
        assert!(is_idempotent("ListTagResources", &p));
        assert!(!is_idempotent("AllocateEipAddress", &p));
        assert!(!is_idempotent("ReleaseEipAddress", &p));
        assert!(is_idempotent("ModifyEipAddressAttribute", &p));
        p.push("ClientToken", "t");
        assert!(is_idempotent("AllocateEipAddress", &p));
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert(
            RETRY_AFTER_HEADER,
            reqwest::header::HeaderValue::from_static("1500"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert(
            RETRY_AFTER_HEADER,
            reqwest::header::HeaderValue::from_static("-3"),
        );
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn backoff_has_max_attempts_minus_one_delays_within_bounds() {
        let policy = RetryPolicy {
            max_attempts: 4,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(25),
            jitter: false,
        };
        let delays: Vec<_> = policy.backoff().collect();
        assert_eq!(
            delays,
            vec![
                Duration::from_millis(10),
                Duration::from_millis(20),
                Duration::from_millis(25)
            ]
        );
        assert_eq!(RetryPolicy::never().backoff().count(), 0);
        let jittered = RetryPolicy {
            jitter: true,
            ..policy
        };
        for d in jittered.backoff() {
            assert!(
                d >= Duration::from_millis(10) && d <= Duration::from_millis(50),
                "{d:?}"
            );
        }
    }

    #[test]
    fn build_requires_credentials() {
        assert!(matches!(
            AliyunClient::builder().build(),
            Err(Error::Config(_))
        ));
        let c = AliyunClient::builder()
            .credentials(Credentials::new("id", "very-secret-value"))
            .endpoint("http://127.0.0.1:1")
            .build();
        let text = format!("{c:?}");
        assert!(!text.contains("very-secret-value"), "{text}");
    }
}
