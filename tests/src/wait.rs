//! Waiting for a condition with a deadline, and bounding a whole test.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, bail};

/// How often [`wait_for`] looks again.
pub const POLL: Duration = Duration::from_millis(50);
/// The default deadline of one wait.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(20);
/// The default deadline of one whole test.
pub const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// Polls `probe` until it returns `Ok(Some(value))`, for at most `timeout`. `Ok(None)`
/// means "not yet"; an `Err` is remembered and reported if the deadline passes.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error: Option<anyhow::Error> = None;
    loop {
        match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if tokio::time::Instant::now() >= deadline {
            match last_error {
                Some(e) => {
                    return Err(
                        e.context(format!("timed out after {timeout:?} waiting for {what}"))
                    );
                }
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs a whole test body under a deadline.
pub async fn bounded<T>(
    timeout: Duration,
    body: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(timeout, body)
        .await
        .with_context(|| format!("test did not finish within {timeout:?}"))?
}
