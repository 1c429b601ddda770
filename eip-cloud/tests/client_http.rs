//! The client against a scripted HTTP server on loopback: what goes on the wire (both
//! signature schemes, verified the way a server verifies them), error mapping, the retry
//! policy, pagination and batching, timeouts, the rate limiter and the metrics hook.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Answer, MockServer, Seen};
use eip_cloud::args::{
    AllocateEipArgs, AssociateEipArgs, DescribeEipArgs, DescribeVSwitchesArgs,
    ListTagResourcesArgs, Tag,
};
use eip_cloud::credentials::Credentials;
use eip_cloud::metrics::CallCounter;
use eip_cloud::signature;
use eip_cloud::{AliyunClient, Cloud, Error, ErrorKind, RetryPolicy, SignatureVersion};
use serde_json::json;

const BOUND: Duration = Duration::from_secs(20);
const SECRET: &str = "testsecret";

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        min_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
        jitter: true,
    }
}

fn client(
    server: &MockServer,
    v: SignatureVersion,
    creds: Credentials,
) -> anyhow::Result<AliyunClient> {
    Ok(AliyunClient::builder()
        .endpoint(server.url())
        .signature_version(v)
        .credentials(creds)
        .retry(fast_retry(4))
        .timeout(Duration::from_secs(5))
        .build()?)
}

/// Verifies a V3 request as the service would: rebuild the canonical request from the
/// request's own SignedHeaders.
fn verify_v3(s: &Seen, secret: &str) -> anyhow::Result<()> {
    let auth = signature::Authorization::parse(
        s.header("authorization")
            .ok_or_else(|| anyhow::anyhow!("no authorization header"))?,
    )
    .ok_or_else(|| anyhow::anyhow!("malformed authorization"))?;
    let headers: Vec<(String, String)> = auth
        .signed_headers
        .iter()
        .map(|h| (h.clone(), s.header(h).unwrap_or_default().to_owned()))
        .collect();
    let canonical = signature::v3_canonical_request(
        &s.method,
        &s.path,
        &s.params,
        &headers,
        s.header("x-acs-content-sha256").unwrap_or_default(),
    );
    let expected = signature::v3_signature(secret, &signature::v3_string_to_sign(&canonical.text));
    anyhow::ensure!(expected == auth.signature, "V3 signature mismatch");
    for required in [
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ] {
        anyhow::ensure!(
            auth.signed_headers.iter().any(|h| h == required),
            "{required} not signed"
        );
    }
    Ok(())
}

fn verify_v1(s: &Seen, secret: &str) -> anyhow::Result<()> {
    let sig = s
        .param("Signature")
        .ok_or_else(|| anyhow::anyhow!("no Signature"))?;
    anyhow::ensure!(
        signature::v1_sign(&s.method, &s.params, secret) == sig,
        "V1 signature mismatch"
    );
    Ok(())
}

#[tokio::test]
async fn v3_request_is_a_signed_post_with_the_parameters_in_the_query() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server = MockServer::start(|_, _| {
            Answer::json(
                200,
                json!({"RequestId": "r1", "AllocationId": "eip-1", "EipAddress": "47.0.0.1"}),
            )
        })
        .await?;
        let c = client(
            &server,
            SignatureVersion::V3,
            Credentials::new("testid", SECRET),
        )?;
        let resp = c
            .allocate_eip_address(&AllocateEipArgs {
                bandwidth: Some(5),
                name: Some("my eip/1".into()),
                client_token: Some("tok-1".into()),
                tags: vec![Tag::new("k8s", "a b")],
                ..Default::default()
            })
            .await?;
        assert_eq!(resp.allocation_id, "eip-1");
        assert_eq!(resp.eip_address.as_deref(), Some("47.0.0.1"));
        let seen = server.seen();
        let s = seen.first().ok_or_else(|| anyhow::anyhow!("no request"))?;
        assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/"));
        assert_eq!(s.param("RegionId"), Some("cn-hangzhou"));
        assert_eq!(s.param("Name"), Some("my eip/1"));
        assert_eq!(s.param("Tag.1.Value"), Some("a b"));
        assert!(s.query.contains("Name=my%20eip%2F1"), "{}", s.query);
        assert_eq!(s.param("Action"), None, "V3 sends no Action parameter");
        assert_eq!(s.header("x-acs-action"), Some("AllocateEipAddress"));
        assert_eq!(s.header("x-acs-version"), Some("2016-04-28"));
        assert_eq!(
            s.header("x-acs-content-sha256"),
            Some(signature::EMPTY_PAYLOAD_SHA256)
        );
        assert_eq!(s.header("x-acs-signature-nonce").map(str::len), Some(32));
        assert!(
            s.header("x-acs-date")
                .and_then(signature::parse_timestamp)
                .is_some()
        );
        verify_v3(s, SECRET)?;
        assert!(verify_v3(s, "wrongsecret").is_err());
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn sts_tokens_are_sent_and_signed_in_both_schemes() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server = MockServer::start(|_, _| Answer::ok()).await?;
        let creds = Credentials::new("STS.id", SECRET).with_security_token("sts-token-value");
        let v3 = client(&server, SignatureVersion::V3, creds.clone())?;
        v3.release_eip_address("eip-1").await?;
        let v1 = client(&server, SignatureVersion::V1, creds)?;
        v1.release_eip_address("eip-1").await?;
        let seen = server.seen();
        let (a, b) = match seen.as_slice() {
            [a, b] => (a, b),
            other => anyhow::bail!("expected two requests, got {}", other.len()),
        };
        assert_eq!(a.header("x-acs-security-token"), Some("sts-token-value"));
        assert_eq!(a.header("x-acs-accesskey-id"), Some("STS.id"));
        let auth = signature::Authorization::parse(a.header("authorization").unwrap_or_default())
            .ok_or_else(|| anyhow::anyhow!("malformed authorization"))?;
        assert!(
            auth.signed_headers
                .iter()
                .any(|h| h == "x-acs-security-token")
        );
        verify_v3(a, SECRET)?;
        assert_eq!(b.param("SecurityToken"), Some("sts-token-value"));
        assert_eq!(b.param("AccessKeyId"), Some("STS.id"));
        verify_v1(b, SECRET)?;
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn v1_request_carries_the_common_parameters_and_a_valid_signature() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server = MockServer::start(|_, _| {
            Answer::json(200, json!({"RequestId": "r", "InstanceTypes": {"InstanceType": [
                {"InstanceTypeId": "ecs.g7.large", "EniQuantity": 3, "EniPrivateIpAddressQuantity": 10}]}}))
        })
        .await?;
        let c = client(&server, SignatureVersion::V1, Credentials::new("testid", SECRET))?;
        let types = c
            .describe_instance_types(&eip_cloud::args::DescribeInstanceTypesArgs {
                instance_types: vec!["ecs.g7.large".into()],
                ..Default::default()
            })
            .await?;
        assert_eq!(types.first().map(|t| t.eni_quantity), Some(3));
        let seen = server.seen();
        let s = seen.first().ok_or_else(|| anyhow::anyhow!("no request"))?;
        assert_eq!(s.method, "POST");
        assert_eq!(s.param("Action"), Some("DescribeInstanceTypes"));
        assert_eq!(s.param("Version"), Some("2014-05-26"));
        assert_eq!(s.param("SignatureMethod"), Some("HMAC-SHA1"));
        assert_eq!(s.param("SignatureVersion"), Some("1.0"));
        assert_eq!(s.param("InstanceTypes.1"), Some("ecs.g7.large"));
        assert!(s.param("Timestamp").and_then(signature::parse_timestamp).is_some());
        assert_eq!(s.header("authorization"), None);
        verify_v1(s, SECRET)?;
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn errors_are_typed_and_keep_code_status_and_request_id() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server = MockServer::start(|s, _| match s.param("AllocationId") {
            Some("eip-missing") => Answer::error(404, "InvalidAllocationId.NotFound"),
            Some("eip-busy") => Answer::error(400, "IncorrectEipStatus"),
            _ => Answer {
                status: 502,
                headers: vec![],
                body: "<html>bad gateway</html>".into(),
                delay: Duration::ZERO,
            },
        })
        .await?;
        let c = client(
            &server,
            SignatureVersion::V3,
            Credentials::new("testid", SECRET),
        )?;
        let e = c.release_eip_address("eip-missing").await.err();
        let e = e.ok_or_else(|| anyhow::anyhow!("expected an error"))?;
        assert!(e.is_not_found(), "{e}");
        assert_eq!(e.code(), Some("InvalidAllocationId.NotFound"));
        assert_eq!(e.request_id(), Some("req-InvalidAllocationId.NotFound"));
        assert_eq!(e.http_status(), Some(404));
        let e = c
            .associate_eip_address(&AssociateEipArgs::to_eni("eip-busy", "eni-1", "10.0.0.5"))
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("expected an error"))?;
        assert_eq!(e.kind(), Some(ErrorKind::IncorrectStatus));
        // Neither is retried.
        assert_eq!(server.seen().len(), 2);
        // A non-JSON 502 on a call that cannot be repeated safely: a server error, not
        // retried.
        let e = c
            .release_eip_address("eip-x")
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("expected an error"))?;
        assert!(matches!(e, Error::ServerError(_)), "{e}");
        assert_eq!(e.code(), Some("Http502"));
        assert_eq!(server.seen().len(), 3);
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn throttling_and_conflicts_are_retried_with_retry_after_as_a_floor() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server = MockServer::start(|_, i| match i {
            0 => Answer::error(400, "Throttling.User").header("x-acs-retry-after", "150"),
            1 => Answer::error(409, "OperationConflict"),
            2 => Answer::error(503, "ServiceUnavailable"),
            _ => Answer::json(200, json!({"RequestId": "r", "AllocationId": "eip-9"})),
        })
        .await?;
        let counter = Arc::new(CallCounter::new());
        let c = AliyunClient::builder()
            .endpoint(server.url())
            .credentials(Credentials::new("testid", SECRET))
            .retry(fast_retry(5))
            .observer(counter.clone())
            .build()?;
        let started = Instant::now();
        let resp = c.allocate_eip_address(&AllocateEipArgs::default()).await?;
        assert_eq!(resp.allocation_id, "eip-9");
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "retry-after not honoured"
        );
        let seen = server.seen();
        assert_eq!(seen.len(), 4);
        // Every attempt is signed afresh: a nonce is never reused.
        let mut nonces: Vec<_> = seen
            .iter()
            .filter_map(|s| s.header("x-acs-signature-nonce"))
            .collect();
        nonces.sort_unstable();
        nonces.dedup();
        assert_eq!(nonces.len(), 4);
        assert_eq!(counter.count("AllocateEipAddress", "Throttling.User"), 1);
        assert_eq!(counter.count("AllocateEipAddress", "OperationConflict"), 1);
        assert_eq!(counter.count("AllocateEipAddress", "Success"), 1);
        assert_eq!(counter.total("AllocateEipAddress"), 4);
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn throttled_calls_of_caller_paced_actions_are_returned_at_once() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server = MockServer::start(|_, i| match i {
            0 => Answer::error(409, "OperationConflict"),
            _ => Answer::error(400, "Throttling.User"),
        })
        .await?;
        let c = AliyunClient::builder()
            .endpoint(server.url())
            .credentials(Credentials::new("testid", SECRET))
            .retry(fast_retry(5))
            .caller_paced(["AllocateEipAddress"])
            .build()?;
        let e = c
            .allocate_eip_address(&AllocateEipArgs::default())
            .await
            .err();
        assert!(matches!(e, Some(Error::Throttling(_))), "{e:?}");
        // The conflict was retried; the throttled attempt was returned, not retried.
        assert_eq!(server.seen().len(), 2);
        // Actions the caller does not pace are retried on throttling as before.
        let e = c
            .associate_eip_address(&AssociateEipArgs::default())
            .await
            .err();
        assert!(matches!(e, Some(Error::Throttling(_))), "{e:?}");
        assert_eq!(server.seen().len(), 7, "max_attempts is 5");
        server.stop().await;
        Ok(())
    })
    .await?
}

/// A pacer that counts its slots and lets everything through at once.
#[derive(Debug, Default)]
struct CountingPacer {
    slots: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl eip_cloud::metrics::CallPacer for CountingPacer {
    fn paces(&self, action: &str) -> bool {
        action == "AllocateEipAddress"
    }
    async fn acquire(&self, _action: &str) {
        self.slots.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn max_wait(&self) -> Duration {
        Duration::from_secs(60)
    }
}

#[tokio::test]
async fn a_paced_action_takes_a_slot_for_every_attempt_and_retries_throttling_through_it()
-> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server = MockServer::start(|_, i| match i {
            0..=2 => Answer::error(400, "Throttling.User"),
            3 => Answer::error(409, "OperationConflict"),
            _ => Answer::json(
                200,
                serde_json::json!({
                    "RequestId": "r", "AllocationId": "eip-1", "EipAddress": "47.0.0.1"
                }),
            ),
        })
        .await?;
        let pacer = std::sync::Arc::new(CountingPacer::default());
        let c = AliyunClient::builder()
            .endpoint(server.url())
            .credentials(Credentials::new("testid", SECRET))
            .retry(fast_retry(2))
            .pacer(pacer.clone())
            .build()?;
        let r = c.allocate_eip_address(&AllocateEipArgs::default()).await?;
        assert_eq!(r.allocation_id, "eip-1");
        // three throttled attempts went back through the pacer (beyond max_attempts 2),
        // the conflict was retried by the client's own policy: one slot per attempt
        assert_eq!(server.seen().len(), 5);
        assert_eq!(pacer.slots.load(std::sync::atomic::Ordering::SeqCst), 5);
        // an action the pacer does not pace takes no slot
        let _ = c.associate_eip_address(&AssociateEipArgs::default()).await;
        assert_eq!(pacer.slots.load(std::sync::atomic::Ordering::SeqCst), 5);
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn retries_stop_at_max_attempts_and_unsafe_errors_are_not_retried() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server = MockServer::start(|s, _| match s.header("x-acs-action") {
            Some("DescribeVSwitches") => Answer::error(500, "InternalError"),
            Some("ReleaseEipAddress") if s.param("AllocationId") == Some("eip-500") => {
                Answer::error(503, "ServiceUnavailable")
            }
            _ => Answer::error(400, "Throttling.User"),
        })
        .await?;
        let c = client(
            &server,
            SignatureVersion::V3,
            Credentials::new("testid", SECRET),
        )?;
        let e = c.release_eip_address("eip-1").await.err();
        assert!(matches!(e, Some(Error::Throttling(_))), "{e:?}");
        assert_eq!(server.seen().len(), 4, "max_attempts is 4");
        // A 5xx on a call without a ClientToken may come after the change was applied.
        let e = c.release_eip_address("eip-500").await.err();
        assert!(matches!(e, Some(Error::ServerError(_))), "{e:?}");
        assert_eq!(server.seen().len(), 5);
        // The same on a Describe call is retried.
        let e = c
            .describe_vswitches(&DescribeVSwitchesArgs::default())
            .await
            .err();
        assert!(matches!(e, Some(Error::ServerError(_))), "{e:?}");
        assert_eq!(server.seen().len(), 9);
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn timeouts_are_retried_only_when_safe() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server =
            MockServer::start(|_, _| Answer::ok().delayed(Duration::from_millis(400))).await?;
        let c = AliyunClient::builder()
            .endpoint(server.url())
            .credentials(Credentials::new("testid", SECRET))
            .retry(fast_retry(3))
            .timeout(Duration::from_millis(100))
            .auto_client_token(false)
            .build()?;
        let e = c.release_eip_address("eip-1").await.err();
        assert!(matches!(e, Some(Error::Timeout { .. })), "{e:?}");
        assert_eq!(
            server.seen().len(),
            1,
            "a timed-out release may have been applied"
        );
        let e = c
            .allocate_eip_address(&AllocateEipArgs {
                client_token: Some("tok-1".into()),
                ..Default::default()
            })
            .await
            .err();
        assert!(matches!(e, Some(Error::Timeout { .. })), "{e:?}");
        assert_eq!(
            server.seen().len(),
            4,
            "a ClientToken makes the call safe to repeat"
        );
        let all_same_token = server.seen()[1..]
            .iter()
            .all(|s| s.param("ClientToken") == Some("tok-1"));
        assert!(all_same_token);
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn allocate_without_a_token_gets_one_that_is_kept_across_retries() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server = MockServer::start(|_, i| {
            if i == 0 {
                Answer::ok().delayed(Duration::from_millis(400))
            } else {
                Answer::json(200, json!({"RequestId": "r", "AllocationId": "eip-1"}))
            }
        })
        .await?;
        let c = AliyunClient::builder()
            .endpoint(server.url())
            .credentials(Credentials::new("testid", SECRET))
            .retry(fast_retry(3))
            .timeout(Duration::from_millis(100))
            .build()?;
        c.allocate_eip_address(&AllocateEipArgs::default()).await?;
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        let tokens: Vec<_> = seen.iter().map(|s| s.param("ClientToken")).collect();
        assert!(tokens[0].is_some_and(|t| !t.is_empty()));
        assert_eq!(tokens[0], tokens[1]);
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn describe_batches_ids_by_fifty_and_follows_pages() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        // Answers with one EIP per requested id, 100 per page; without ids, 150 EIPs.
        let server = MockServer::start(|s, _| {
            let ids: Vec<String> = s
                .param("AllocationId")
                .map(|v| v.split(',').map(str::to_owned).collect())
                .unwrap_or_else(|| (0..150).map(|i| format!("eip-all-{i}")).collect());
            let page: usize = s
                .param("PageNumber")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let size: usize = s
                .param("PageSize")
                .and_then(|p| p.parse().ok())
                .unwrap_or(10);
            let items: Vec<_> = ids
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .map(|id| json!({"AllocationId": id, "Status": "Available", "Bandwidth": "5"}))
                .collect();
            Answer::json(
                200,
                json!({"RequestId": "r", "TotalCount": ids.len(), "PageNumber": page,
                "PageSize": size, "EipAddresses": {"EipAddress": items}}),
            )
        })
        .await?;
        let c = client(
            &server,
            SignatureVersion::V3,
            Credentials::new("testid", SECRET),
        )?;
        let ids: Vec<String> = (0..120).map(|i| format!("eip-{i}")).collect();
        let got = c
            .describe_eip_addresses(&DescribeEipArgs::by_ids(ids.clone()))
            .await?;
        assert_eq!(
            got.iter()
                .map(|e| e.allocation_id.clone())
                .collect::<Vec<_>>(),
            ids
        );
        let batches: Vec<usize> = server
            .seen()
            .iter()
            .map(|s| {
                s.param("AllocationId")
                    .map(|v| v.split(',').count())
                    .unwrap_or(0)
            })
            .collect();
        assert_eq!(batches, vec![50, 50, 20]);
        let all = c
            .describe_eip_addresses(&DescribeEipArgs::default())
            .await?;
        assert_eq!(all.len(), 150);
        assert_eq!(server.seen().len(), 5, "two pages of 100");
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn list_tag_resources_follows_next_token() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server = MockServer::start(|s, _| {
            let (next, key) = match s.param("NextToken") {
                None => (Some("t2"), "a"),
                Some("t2") => (Some(""), "b"),
                Some(_) => (None, "unexpected"),
            };
            Answer::json(
                200,
                json!({"RequestId": "r", "NextToken": next, "TagResources": {"TagResource": [
                {"ResourceId": "eip-1", "ResourceType": "EIP", "TagKey": key, "TagValue": "v"}]}}),
            )
        })
        .await?;
        let c = client(
            &server,
            SignatureVersion::V3,
            Credentials::new("testid", SECRET),
        )?;
        let tags = c
            .list_tag_resources(&ListTagResourcesArgs {
                resource_ids: vec!["eip-1".into()],
                ..Default::default()
            })
            .await?;
        assert_eq!(
            tags.iter().map(|t| t.tag_key.as_str()).collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert_eq!(server.seen().len(), 2);
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn the_client_side_rate_limiter_spaces_calls_out() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server = MockServer::start(|_, _| {
            Answer::json(
                200,
                json!({"RequestId": "r", "TotalCount": 0, "VSwitches": {"VSwitch": []}}),
            )
        })
        .await?;
        let c = AliyunClient::builder()
            .endpoint(server.url())
            .credentials(Credentials::new("testid", SECRET))
            .rate_limit("DescribeVSwitches", 2, Duration::from_millis(400))
            .build()?;
        let started = Instant::now();
        for _ in 0..4 {
            c.describe_vswitches(&DescribeVSwitchesArgs::default())
                .await?;
        }
        // Two in a burst, then one every 200 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(350),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(server.seen().len(), 4);
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_without_secrets() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        // Bind then drop a listener to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let c = AliyunClient::builder()
            .endpoint(format!("http://127.0.0.1:{port}"))
            .signature_version(SignatureVersion::V1)
            .credentials(
                Credentials::new("testid", "super-secret-value")
                    .with_security_token("sts-token-value"),
            )
            .retry(fast_retry(2))
            .build()?;
        let e = c
            .release_eip_address("eip-1")
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("expected an error"))?;
        assert!(matches!(e, Error::Transport { connect: true, .. }), "{e:?}");
        let mut text = format!("{e} {e:?}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&format!(" {s} {s:?}"));
            source = s.source();
        }
        for secret in ["super-secret-value", "sts-token-value", "Signature="] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn vpc_and_ecs_calls_go_to_their_own_endpoints() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let vpc = MockServer::start(|_, _| Answer::ok()).await?;
        let ecs = MockServer::start(|_, _| {
            Answer::json(
                200,
                json!({"RequestId": "r", "Instances": {"Instance": []}}),
            )
        })
        .await?;
        let c = AliyunClient::builder()
            .region("cn-beijing")
            .vpc_endpoint(vpc.url())
            .ecs_endpoint(ecs.url())
            .credentials(Credentials::new("testid", SECRET))
            .build()?;
        c.release_eip_address("eip-1").await?;
        c.describe_instances(&eip_cloud::args::DescribeInstancesArgs::default())
            .await?;
        let (v, e) = (vpc.seen(), ecs.seen());
        assert_eq!(v.len(), 1);
        assert_eq!(e.len(), 1);
        assert_eq!(v[0].header("x-acs-version"), Some("2016-04-28"));
        assert_eq!(v[0].param("RegionId"), Some("cn-beijing"));
        assert_eq!(e[0].header("x-acs-action"), Some("DescribeInstances"));
        assert_eq!(e[0].header("x-acs-version"), Some("2014-05-26"));
        assert_eq!(e[0].header("host"), Some(ecs.addr.to_string().as_str()));
        vpc.stop().await;
        ecs.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn pages_are_followed_even_without_a_total_count() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        // 107 vSwitches in pages of 50, and no TotalCount in the answers.
        let server = MockServer::start(|s, _| {
            let page: usize = s
                .param("PageNumber")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let n = match page {
                1 | 2 => 50,
                3 => 7,
                _ => 0,
            };
            let items: Vec<_> = (0..n)
                .map(|i| json!({"VSwitchId": format!("vsw-{page}-{i}"), "AvailableIpAddressCount": 5}))
                .collect();
            Answer::json(200, json!({"RequestId": "r", "VSwitches": {"VSwitch": items}}))
        })
        .await?;
        let c = client(&server, SignatureVersion::V3, Credentials::new("testid", SECRET))?;
        let all = c.describe_vswitches(&DescribeVSwitchesArgs::default()).await?;
        assert_eq!(all.len(), 107);
        assert_eq!(server.seen().len(), 3);
        assert!(server.seen().iter().all(|s| s.param("PageSize") == Some("50")));
        server.stop().await;
        Ok(())
    })
    .await?
}
