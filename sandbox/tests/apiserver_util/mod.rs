//! Shared helpers for the apiserver integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use sandbox::apiserver::{ApiServer, ApiServerOptions, RunningApiServer};

/// Every async test body runs under this bound.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Run `f` under [`TEST_TIMEOUT`].
pub async fn bounded<T>(f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .map_err(|_| anyhow::anyhow!("test timed out after {TEST_TIMEOUT:?}"))?
}

/// A server with default options, and a client for it.
pub async fn start() -> anyhow::Result<(RunningApiServer, kube::Client)> {
    start_with(ApiServerOptions::default()).await
}

/// A server with `opts`, and a client for it.
pub async fn start_with(
    opts: ApiServerOptions,
) -> anyhow::Result<(RunningApiServer, kube::Client)> {
    let server = ApiServer::start(opts).await?;
    let client = server.client().await?;
    Ok((server, client))
}

/// Poll `check` every 20 ms until it returns `Some`, for at most `within`.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("condition not met within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The HTTP status code of a kube API error, if it is one.
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// The reason of a kube API error, if it is one.
pub fn api_reason(e: &kube::Error) -> Option<String> {
    match e {
        kube::Error::Api(s) => Some(s.reason.clone()),
        _ => None,
    }
}
