//! The emulator over real HTTP on loopback, signed by hand with `eip_cloud::signature`:
//! both transports (GET query, POST form body), replay and skew protection, bad input,
//! fault injection with ClientToken retries, rate limits, STS expiry, the metadata
//! service, the admin API and the binary.

use std::time::Duration;

use eip_cloud::model;
use eip_cloud::signature;
use eip_cloudsim::{
    CloudSim, FaultEffect, FaultRule, InstanceConfig, RateLimit, RateLimits, RunningSim, SimConfig,
};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

async fn start(cfg: SimConfig) -> RunningSim {
    CloudSim::start(cfg).await.expect("emulator starts")
}

fn now_ts() -> String {
    signature::format_timestamp(jiff::Timestamp::now())
}

/// V1-signed parameters (common ones added) for `method`.
fn v1_params(
    method: &str,
    action: &str,
    version: &str,
    params: &[(&str, &str)],
    creds: (&str, &str, Option<&str>),
    timestamp: &str,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = vec![
        ("Action".into(), action.into()),
        ("Version".into(), version.into()),
        ("Format".into(), "json".into()),
        ("AccessKeyId".into(), creds.0.into()),
        ("SignatureMethod".into(), "HMAC-SHA1".into()),
        ("SignatureVersion".into(), "1.0".into()),
        ("SignatureNonce".into(), nonce.into()),
        ("Timestamp".into(), timestamp.into()),
    ];
    if let Some(t) = creds.2 {
        all.push(("SecurityToken".into(), t.into()));
    }
    all.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let sig = signature::v1_sign(method, &all, creds.1);
    all.push(("Signature".into(), sig));
    all
}

fn form(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

struct Reply {
    status: u16,
    body: Value,
}

async fn send_v1_get(url: &str, pairs: &[(String, String)]) -> Reply {
    let resp = reqwest::Client::new()
        .get(format!("{url}/?{}", form(pairs)))
        .send()
        .await
        .expect("request sent");
    reply(resp).await
}

async fn send_v1_form(url: &str, pairs: &[(String, String)]) -> Reply {
    let resp = reqwest::Client::new()
        .post(format!("{url}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .expect("request sent");
    reply(resp).await
}

async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.expect("body read");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if body.is_object() {
        assert!(ct.starts_with("application/json"), "content type {ct}");
    }
    Reply { status, body }
}

/// A V1 POST (query string) with the account key and a fresh nonce.
async fn call(url: &str, action: &str, params: &[(&str, &str)]) -> Reply {
    let version = if [
        "DescribeNetworkInterfaces",
        "DescribeInstances",
        "DescribeInstanceTypes",
        "AssignPrivateIpAddresses",
        "UnassignPrivateIpAddresses",
    ]
    .contains(&action)
    {
        "2014-05-26"
    } else {
        "2016-04-28"
    };
    let pairs = v1_params(
        "POST",
        action,
        version,
        params,
        ("testid", "testsecret", None),
        &now_ts(),
        &signature::new_nonce(),
    );
    let resp = reqwest::Client::new()
        .post(format!("{url}/?{}", form(&pairs)))
        .send()
        .await
        .expect("request sent");
    reply(resp).await
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{:?}", r.body);
    let err: model::ErrorBody = serde_json::from_value(r.body.clone()).expect("error body");
    assert_eq!(err.code, code, "{:?}", r.body);
    assert!(!err.request_id.is_empty());
    assert!(err.host_id.ends_with("aliyuncs.com"));
    assert!(!err.message.is_empty());
    assert!(err.recommend.contains(code) && err.recommend.contains(&err.request_id));
}

#[tokio::test]
async fn v1_over_get_query_and_post_form_body_with_spaces() {
    tokio::time::timeout(LIMIT, async {
        let sim = start(SimConfig::default()).await;
        let url = sim.url();
        let params = [
            ("RegionId", "cn-hangzhou"),
            ("Name", "my eip/1*~"),
            ("Tag.1.Key", "k8s"),
            ("Tag.1.Value", "a b+c"),
            ("InternetChargeType", "PayByTraffic"),
        ];
        let get = v1_params(
            "GET",
            "AllocateEipAddress",
            "2016-04-28",
            &params,
            ("testid", "testsecret", None),
            &now_ts(),
            "nonce-get",
        );
        let r = send_v1_get(&url, &get).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let a: model::AllocateEipAddressResponse = serde_json::from_value(r.body).unwrap();
        assert!(a.allocation_id.starts_with("eip-"));
        let post = v1_params(
            "POST",
            "AllocateEipAddress",
            "2016-04-28",
            &params,
            ("testid", "testsecret", None),
            &now_ts(),
            "nonce-form",
        );
        let r = send_v1_form(&url, &post).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        // A GET-signed request sent as POST does not verify.
        let mut wrong = get.clone();
        if let Some(n) = wrong.iter_mut().find(|(k, _)| k == "SignatureNonce") {
            n.1 = "other".into();
        }
        let r = send_v1_form(&url, &wrong).await;
        assert_error(&r, 400, "SignatureDoesNotMatch");

        let d = call(
            &url,
            "DescribeEipAddresses",
            &[
                ("RegionId", "cn-hangzhou"),
                ("AllocationId", &a.allocation_id),
            ],
        )
        .await;
        let d: model::DescribeEipAddressesResponse = serde_json::from_value(d.body).unwrap();
        let e = &d.eip_addresses.eip_address[0];
        assert_eq!(e.name, "my eip/1*~");
        let fmt = |t: jiff::Timestamp| t.strftime("%Y-%m-%dT%H:%MZ").to_string();
        let hour = jiff::SignedDuration::from_hours(1);
        let since = |v: String| {
            let url = url.clone();
            async move {
                call(
                    &url,
                    "DescribeEipAddresses",
                    &[
                        ("RegionId", "cn-hangzhou"),
                        ("Filter.1.Key", "CreationStartTime"),
                        ("Filter.1.Value", &v),
                    ],
                )
                .await
            }
        };
        let past = since(fmt(jiff::Timestamp::now() - hour)).await;
        assert_eq!(past.body["TotalCount"], 2, "{:?}", past.body);
        let future = since(fmt(jiff::Timestamp::now() + hour)).await;
        assert_eq!(future.body["TotalCount"], 0, "{:?}", future.body);
        assert_error(&since("yesterday".into()).await, 400, "InvalidParameter");
        assert_eq!(e.tags.tag[0].value, "a b+c");
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn v3_signed_from_its_own_signed_headers_and_replays_refused() {
    tokio::time::timeout(LIMIT, async {
        let sim = start(SimConfig::default()).await;
        let url = sim.url();
        let host = sim.addr().to_string();
        let send = |nonce: &str, date: String, secret: &str| {
            let query = vec![
                ("RegionId".to_string(), "cn-hangzhou".to_string()),
                ("Name".to_string(), "with space".to_string()),
            ];
            let mut headers = vec![
                ("host".to_string(), host.clone()),
                ("x-acs-action".to_string(), "AllocateEipAddress".to_string()),
                ("x-acs-version".to_string(), "2016-04-28".to_string()),
                ("x-acs-date".to_string(), date),
                ("x-acs-signature-nonce".to_string(), nonce.to_string()),
                (
                    "x-acs-content-sha256".to_string(),
                    signature::EMPTY_PAYLOAD_SHA256.to_string(),
                ),
                ("x-custom-signed".to_string(), "yes".to_string()),
            ];
            let auth = signature::v3_sign(
                "POST",
                "/",
                &query,
                &headers,
                signature::EMPTY_PAYLOAD_SHA256,
                "testid",
                secret,
            );
            headers.push(("authorization".into(), auth.to_string()));
            let mut req = reqwest::Client::new().post(format!("{url}/?{}", form(&query)));
            for (k, v) in headers.into_iter().filter(|(k, _)| k != "host") {
                req = req.header(k, v);
            }
            req.send()
        };
        let r = reply(send("n1", now_ts(), "testsecret").await.unwrap()).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = reply(send("n1", now_ts(), "testsecret").await.unwrap()).await;
        assert_error(&r, 400, "SignatureNonceUsed");
        let old = signature::format_timestamp(
            jiff::Timestamp::now() - jiff::SignedDuration::from_mins(16),
        );
        let r = reply(send("n2", old, "testsecret").await.unwrap()).await;
        assert_error(&r, 400, "InvalidTimeStamp.Expired");
        let r = reply(send("n3", "yesterday".into(), "testsecret").await.unwrap()).await;
        assert_error(&r, 400, "InvalidTimeStamp.Format");
        let r = reply(send("n4", now_ts(), "wrong").await.unwrap()).await;
        assert_error(&r, 400, "SignatureDoesNotMatch");
        assert_eq!(sim.admin().eips().len(), 1);
        assert_eq!(sim.admin().call_count("AllocateEipAddress"), 5);
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn bad_input_gets_the_real_error_body_never_a_bare_500() {
    tokio::time::timeout(LIMIT, async {
        let sim = start(SimConfig {
            max_body_bytes: 1024,
            ..SimConfig::default()
        })
        .await;
        let url = sim.url();
        let http = reqwest::Client::new();
        assert_error(
            &call(&url, "NoSuchAction", &[]).await,
            404,
            "InvalidApi.NotFound",
        );
        let r = reply(http.get(format!("{url}/?Foo=bar")).send().await.unwrap()).await;
        assert_error(&r, 400, "MissingAction");
        let r = reply(http.put(format!("{url}/")).send().await.unwrap()).await;
        assert_error(&r, 400, "UnsupportedHTTPMethod");
        let r = reply(http.get(format!("{url}/nope")).send().await.unwrap()).await;
        assert_error(&r, 404, "InvalidApi.NotFound");
        let r = reply(
            http.post(format!("{url}/"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("a=".repeat(2000))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(&r, 413, "RequestEntityTooLarge");
        let r = reply(
            http.get(format!(
                "{url}/?Action=DescribeEipAddresses&Version=2016-04-28"
            ))
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_error(&r, 400, "MissingAccessKeyId");
        let r = reply(
            http.post(format!("{url}/"))
                .header("authorization", "ACS3-HMAC-SHA256 garbage")
                .header("x-acs-action", "DescribeEipAddresses")
                .header("x-acs-version", "2016-04-28")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(&r, 400, "IncompleteSignature");
        let region = [("RegionId", "cn-hangzhou")];
        assert_error(
            &call(&url, "DescribeEipAddresses", &[]).await,
            400,
            "MissingRegionId",
        );
        assert_error(
            &call(&url, "DescribeEipAddresses", &[("RegionId", "cn-beijing")]).await,
            404,
            "Forbidden.RegionNotFound",
        );
        for (action, extra) in [
            ("DescribeEipAddresses", ("PageSize", "ten")),
            ("DescribeEipAddresses", ("Status", "Sleeping")),
            ("DescribeEipAddresses", ("EipAddress", "not-an-ip")),
            ("AllocateEipAddress", ("Bandwidth", "-1")),
            ("AllocateEipAddress", ("Tag.0.Key", "x")),
            ("DescribeInstances", ("InstanceIds", "[i-1")),
            ("DescribeNetworkInterfaces", ("NextToken", "zzz")),
        ] {
            let r = call(&url, action, &[region[0], extra]).await;
            assert_error(&r, 400, "InvalidParameter");
        }
        assert_error(
            &call(&url, "AllocateEipAddress", &[region[0], ("DryRun", "true")]).await,
            400,
            "DryRunOperation",
        );
        assert!(sim.admin().eips().is_empty(), "a dry run changes nothing");
        let many: String = (0..51)
            .map(|i| format!("eip-{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let r = call(
            &url,
            "DescribeEipAddresses",
            &[region[0], ("AllocationId", &many)],
        )
        .await;
        assert_error(&r, 400, "InvalidParameter");
        assert_error(
            &call(
                &url,
                "AssociateEipAddress",
                &[region[0], ("AllocationId", "eip-x")],
            )
            .await,
            400,
            "MissingInstanceId",
        );
        assert_error(
            &call(
                &url,
                "ReleaseEipAddress",
                &[region[0], ("AllocationId", "eip-x")],
            )
            .await,
            404,
            "InvalidAllocationId.NotFound",
        );
        let r = call(
            &url,
            "DescribeNetworkInterfaces",
            &[region[0], ("NetworkInterfaceId.1", "eni-x")],
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            r.body["NetworkInterfaceSets"]["NetworkInterfaceSet"],
            serde_json::json!([])
        );
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

fn allocation_id(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["AllocationId"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_lost_response_then_a_retry_with_the_same_client_token_yields_one_eip() {
    tokio::time::timeout(LIMIT, async {
        let sim = start(SimConfig::default()).await;
        let url = sim.url();
        let admin = sim.admin();
        admin.add_fault(FaultRule {
            action: "AllocateEipAddress".into(),
            effect: FaultEffect::LoseResponse { hang_ms: 0 },
            rate: 1.0,
            times: Some(1),
        });
        let params = [("RegionId", "cn-hangzhou"), ("ClientToken", "pod-uid-1")];
        let lost = call(&url, "AllocateEipAddress", &params).await;
        assert_error(&lost, 503, "ServiceUnavailable");
        assert_eq!(admin.eips().len(), 1, "the change was applied");
        let retry = allocation_id(&call(&url, "AllocateEipAddress", &params).await);
        assert_eq!(admin.eips().len(), 1, "the retry did not allocate again");
        assert_eq!(admin.eips()[0].allocation_id, retry);
        // Without a ClientToken a retry does allocate a second one.
        let other = allocation_id(&call(&url, "AllocateEipAddress", &params[..1]).await);
        assert_ne!(other, retry);
        assert_eq!(admin.call_count("AllocateEipAddress"), 3);

        // A timeout fault applies nothing.
        admin.add_fault(FaultRule {
            action: "ReleaseEipAddress".into(),
            effect: FaultEffect::Timeout { hang_ms: 20 },
            rate: 1.0,
            times: Some(1),
        });
        let release = [
            ("RegionId", "cn-hangzhou"),
            ("AllocationId", other.as_str()),
        ];
        assert_error(
            &call(&url, "ReleaseEipAddress", &release).await,
            503,
            "ServiceUnavailable",
        );
        assert_eq!(
            admin.eip(&other).map(|e| e.status),
            Some(eip_cloudsim::EipStatus::Available)
        );
        // An injected error code with its status, on every call while the rule lasts.
        admin.add_fault(FaultRule {
            action: "*".into(),
            effect: FaultEffect::Error {
                code: "Throttling.User".into(),
                status: 400,
                message: None,
            },
            rate: 1.0,
            times: Some(2),
        });
        assert_error(
            &call(&url, "ReleaseEipAddress", &release).await,
            400,
            "Throttling.User",
        );
        assert_error(
            &call(&url, "DescribeVSwitches", &release[..1]).await,
            400,
            "Throttling.User",
        );
        assert_eq!(call(&url, "ReleaseEipAddress", &release).await.status, 200);
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn rate_limits_throttle_per_action_and_refill_with_the_time_scale() {
    tokio::time::timeout(LIMIT, async {
        let mut cfg = SimConfig {
            rate_limits: RateLimits {
                time_scale: 600.0,
                retry_after_header: true,
                ..RateLimits::default()
            },
            ..SimConfig::default()
        };
        cfg.rate_limits.per_action.insert(
            "AllocateEipAddress".into(),
            RateLimit {
                limit: 2,
                period_secs: 60.0,
            },
        );
        let sim = start(cfg).await;
        let url = sim.url();
        let region = [("RegionId", "cn-hangzhou")];
        allocation_id(&call(&url, "AllocateEipAddress", &region).await);
        allocation_id(&call(&url, "AllocateEipAddress", &region).await);
        let r = call(&url, "AllocateEipAddress", &region).await;
        assert_error(&r, 400, "Throttling.User");
        // other actions have their own budget
        assert_eq!(
            call(&url, "DescribeEipAddresses", &region).await.status,
            200
        );
        // 60 s / 600 / 2 = 50 ms per call at this time scale
        tokio::time::sleep(Duration::from_millis(200)).await;
        allocation_id(&call(&url, "AllocateEipAddress", &region).await);
        assert_eq!(sim.admin().eips().len(), 3);
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn sts_credentials_work_until_they_expire() {
    tokio::time::timeout(LIMIT, async {
        let sim = start(SimConfig::default()).await;
        let url = sim.url();
        let admin = sim.admin();
        let live = admin.issue_sts(Duration::from_secs(600));
        let dead = admin.issue_sts(Duration::ZERO);
        assert!(!format!("{live:?}").contains(&live.security_token));
        let describe = |c: &eip_cloudsim::StsCredential, token: &str| {
            v1_params(
                "GET",
                "DescribeEipAddresses",
                "2016-04-28",
                &[("RegionId", "cn-hangzhou")],
                (&c.access_key_id, &c.access_key_secret, Some(token)),
                &now_ts(),
                &signature::new_nonce(),
            )
        };
        let r = send_v1_get(&url, &describe(&live, &live.security_token)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = send_v1_get(&url, &describe(&dead, &dead.security_token)).await;
        assert_error(&r, 403, "InvalidSecurityToken.Expired");
        let r = send_v1_get(&url, &describe(&live, "forged")).await;
        assert_error(&r, 400, "InvalidSecurityToken.MismatchWithAccessKey");
        let mut unknown = live.clone();
        unknown.access_key_id = "STS.unknown".into();
        let r = send_v1_get(&url, &describe(&unknown, &live.security_token)).await;
        assert_error(&r, 404, "InvalidAccessKeyId.NotFound");
        assert_eq!(admin.auth_schemes().get("V1+STS"), Some(&1));
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn metadata_service_per_instance() {
    tokio::time::timeout(LIMIT, async {
        let sim = start(SimConfig::default()).await;
        let admin = sim.admin();
        let id = admin
            .add_instance(InstanceConfig {
                instance_id: Some("i-node1".into()),
                instance_type: Some("ecs.g7.xlarge".into()),
                zone_id: Some("cn-hangzhou-i".into()),
                ..Default::default()
            })
            .unwrap();
        let pod = admin.assign_pod_ip(&id).unwrap().unwrap();
        let second = admin.assign_pod_ip(&id).unwrap().unwrap();
        assert_eq!(pod.eni_id, second.eni_id);
        let base = sim.metadata_url(&id);
        let http = reqwest::Client::new();
        let put = |ttl: Option<&str>, xff: bool| {
            let mut r = http.put(format!("{base}/latest/api/token"));
            if let Some(t) = ttl {
                r = r.header("X-aliyun-ecs-metadata-token-ttl-seconds", t);
            }
            if xff {
                r = r.header("X-Forwarded-For", "10.0.0.1");
            }
            r.send()
        };
        assert_eq!(put(None, false).await.unwrap().status(), 400);
        assert_eq!(put(Some("21601"), false).await.unwrap().status(), 400);
        assert_eq!(put(Some("60"), true).await.unwrap().status(), 403);
        let token = put(Some("60"), false).await.unwrap().text().await.unwrap();
        let get = |path: String, tok: Option<String>| {
            let mut r = http.get(format!("{base}/latest/meta-data/{path}"));
            if let Some(t) = tok {
                r = r.header("X-aliyun-ecs-metadata-token", t);
            }
            async move {
                let resp = r.send().await.unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap())
            }
        };
        let t = || Some(token.clone());
        assert_eq!(get("instance-id".into(), t()).await, (200, id.clone()));
        assert_eq!(get("instance-id".into(), Some("bogus".into())).await.0, 401);
        assert_eq!(get("region-id".into(), t()).await.1, "cn-hangzhou");
        assert_eq!(get("zone-id".into(), t()).await.1, "cn-hangzhou-i");
        assert_eq!(
            get("instance/instance-type".into(), t()).await.1,
            "ecs.g7.xlarge"
        );
        assert_eq!(
            get("vswitch-id".into(), t()).await.1,
            "vsw-bp1sim0000000000000i"
        );
        let primary = admin.instance(&id).unwrap().enis[0].clone();
        let primary_eni = admin.eni(&primary).unwrap();
        assert_eq!(get("mac".into(), t()).await.1, primary_eni.mac);
        assert_eq!(
            get("private-ipv4".into(), t()).await.1,
            primary_eni.primary_ip.to_string()
        );
        let macs = get("network/interfaces/macs/".into(), t()).await.1;
        let eni = admin.eni(&pod.eni_id).unwrap();
        assert_eq!(macs.lines().count(), 2);
        assert!(macs.lines().any(|l| l == format!("{}/", eni.mac)));
        let item = |f: &str| format!("network/interfaces/macs/{}/{f}", eni.mac);
        assert_eq!(get(item("network-interface-id"), t()).await.1, pod.eni_id);
        assert_eq!(
            get(item("primary-ip-address"), t()).await.1,
            eni.primary_ip.to_string()
        );
        let ips: Vec<String> =
            serde_json::from_str(&get(item("private-ipv4s"), t()).await.1).unwrap();
        assert_eq!(ips, vec![pod.ip.to_string(), second.ip.to_string()]);
        assert_eq!(get(item("netmask"), t()).await.1, "255.255.255.0");
        assert_eq!(get(item("gateway"), t()).await.1, "192.168.1.253");
        assert_eq!(get(item("vpc-id"), t()).await.1, "vpc-bp1sim00000000000000");
        assert_eq!(get(item("nothing"), t()).await.0, 404);
        let role = get("ram/security-credentials/".into(), t()).await.1;
        assert_eq!(role, "KubeEipNodeRole");
        let (status, body) = get(format!("ram/security-credentials/{role}"), t()).await;
        assert_eq!(status, 200);
        let creds: model::RamRoleCredentialsBody = serde_json::from_str(&body).unwrap();
        assert_eq!(creds.code, "Success");
        assert!(signature::parse_timestamp(&creds.expiration).unwrap() > jiff::Timestamp::now());
        assert_eq!(
            get("ram/security-credentials/OtherRole".into(), t())
                .await
                .0,
            404
        );
        // IMDSv1 (no token) works unless hardened
        assert_eq!(get("instance-id".into(), None).await, (200, id.clone()));
        // another instance's token is not valid here
        let other = admin.add_instance(InstanceConfig::default()).unwrap();
        let other_token = http
            .put(format!("{}/latest/api/token", sim.metadata_url(&other)))
            .header("X-aliyun-ecs-metadata-token-ttl-seconds", "60")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(get("instance-id".into(), Some(other_token)).await.0, 401);
        let r = http
            .get(format!(
                "{}/latest/meta-data/instance-id",
                sim.metadata_url("i-none")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        sim.shutdown().await;

        let mut hardened = SimConfig::default();
        hardened.metadata.require_token = true;
        hardened.instances.push(InstanceConfig {
            instance_id: Some("i-h".into()),
            ..Default::default()
        });
        let sim = start(hardened).await;
        let r = http
            .get(format!(
                "{}/latest/meta-data/instance-id",
                sim.metadata_url("i-h")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn admin_api_over_http() {
    tokio::time::timeout(LIMIT, async {
        let sim = start(SimConfig::default()).await;
        let url = sim.url();
        let http = reqwest::Client::new();
        let r: Value = http
            .post(format!("{url}/_sim/instances"))
            .json(&serde_json::json!({"instance_type": "ecs.g7.large"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = r["instance_id"].as_str().unwrap().to_string();
        let mut got = 0;
        loop {
            let resp = http
                .post(format!("{url}/_sim/instances/{id}/pod-ips"))
                .send()
                .await
                .unwrap();
            if resp.status() == 409 {
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["Code"], "NoFreePrivateIp");
                break;
            }
            assert_eq!(resp.status(), 200);
            got += 1;
            assert!(got <= 20, "more pod IPs than the instance type allows");
        }
        assert_eq!(got, 20);
        let bad = http
            .post(format!("{url}/_sim/instances"))
            .json(&serde_json::json!({"instance_type": "ecs.nope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let put = http
            .put(format!("{url}/_sim/quota"))
            .json(&serde_json::json!({"eip_quota": 0}))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
        assert_error(
            &call(&url, "AllocateEipAddress", &[("RegionId", "cn-hangzhou")]).await,
            400,
            "QuotaExceeded.Eip",
        );
        let state: Value = http
            .get(format!("{url}/_sim/state"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(state["eip_quota"], 0);
        assert_eq!(state["calls"]["AllocateEipAddress"], 1);
        assert_eq!(state["instances"].as_array().map(Vec::len), Some(1));
        let avail: Vec<u64> = state["vswitches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["available_ip_address_count"].as_u64().unwrap())
            .collect();
        assert_eq!(avail, vec![252 - 21, 252]);
        let r = http.post(format!("{url}/_sim/reset")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let state: Value = http
            .get(format!("{url}/_sim/state"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(state["eip_quota"], 20);
        assert_eq!(state["instances"], serde_json::json!([]));
        assert_eq!(state["calls"], serde_json::json!({}));
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn the_binary_prints_its_address_first_and_reads_a_config_file() {
    tokio::time::timeout(LIMIT, async {
        use tokio::io::AsyncBufReadExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.yaml");
        std::fs::write(
            &path,
            "eip_quota: 7\ninstances:\n  - instance_id: i-from-file\n    instance_type: ecs.c7.2xlarge\n",
        )
        .unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eip-cloudsim"))
            .args(["--listen", "127.0.0.1:0", "--eip-quota", "3", "--config"])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = lines.next_line().await.unwrap().unwrap();
        let url = first.strip_prefix("listening on ").unwrap().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{first}");
        assert!(!url.ends_with(":0"));
        let state: Value = reqwest::get(format!("{url}/_sim/state")).await.unwrap().json().await.unwrap();
        assert_eq!(state["eip_quota"], 3, "flags override the file");
        assert_eq!(state["instances"][0]["instance_id"], "i-from-file");
        assert_eq!(state["instances"][0]["instance_type"], "ecs.c7.2xlarge");
        let r = call(&url, "DescribeInstanceTypes", &[("InstanceTypes.1", "ecs.c7.2xlarge")]).await;
        assert_eq!(r.body["InstanceTypes"]["InstanceType"][0]["EniQuantity"], 4);
        child.kill().await.unwrap();
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_with_one_client_token_allocate_once() {
    tokio::time::timeout(LIMIT, async {
        let sim = start(SimConfig::default()).await;
        let url = sim.url();
        let calls = (0..16).map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let r = call(
                    &url,
                    "AllocateEipAddress",
                    &[("RegionId", "cn-hangzhou"), ("ClientToken", "same-pod")],
                )
                .await;
                allocation_id(&r)
            })
        });
        let ids: std::collections::BTreeSet<String> = futures::future::join_all(calls)
            .await
            .into_iter()
            .map(|r| r.expect("task ran"))
            .collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert_eq!(sim.admin().eips().len(), 1);
        assert_eq!(sim.admin().call_count("AllocateEipAddress"), 16);
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn a_dry_run_validates_everything_first_and_changes_nothing() {
    tokio::time::timeout(LIMIT, async {
        let sim = start(SimConfig::default()).await;
        let url = sim.url();
        let region = ("RegionId", "cn-hangzhou");
        let dry = ("DryRun", "true");
        // Invalid or missing parameters are refused as without DryRun, not DryRunOperation.
        for (action, params, status, code) in [
            (
                "DescribeEipAddresses",
                vec![region, dry, ("PageSize", "1000")],
                400,
                "InvalidParameter",
            ),
            (
                "DescribeVSwitches",
                vec![region, dry, ("PageSize", "51")],
                400,
                "InvalidParameter",
            ),
            (
                "AllocateEipAddress",
                vec![region, dry, ("Bandwidth", "0")],
                400,
                "InvalidParameter",
            ),
            ("AllocateEipAddress", vec![dry], 400, "MissingRegionId"),
            (
                "AssociateEipAddress",
                vec![region, dry, ("AllocationId", "eip-x")],
                400,
                "MissingInstanceId",
            ),
            (
                "ReleaseEipAddress",
                vec![region, dry, ("AllocationId", "eip-x")],
                404,
                "InvalidAllocationId.NotFound",
            ),
            (
                "DescribeInstances",
                vec![region, dry, ("InstanceIds", "[i-1")],
                400,
                "InvalidParameter",
            ),
        ] {
            let r = call(&url, action, &params).await;
            assert_error(&r, status, code);
        }
        // Valid requests get DryRunOperation and change nothing.
        for (action, params) in [
            ("DescribeEipAddresses", vec![region, dry]),
            (
                "AllocateEipAddress",
                vec![region, dry, ("Bandwidth", "200")],
            ),
        ] {
            assert_error(&call(&url, action, &params).await, 400, "DryRunOperation");
        }
        assert!(sim.admin().eips().is_empty(), "a dry run allocates nothing");
        let id = allocation_id(&call(&url, "AllocateEipAddress", &[region]).await);
        let release = [region, dry, ("AllocationId", id.as_str())];
        assert_error(
            &call(&url, "ReleaseEipAddress", &release).await,
            400,
            "DryRunOperation",
        );
        assert_eq!(
            sim.admin().eip(&id).map(|e| e.status),
            Some(eip_cloudsim::EipStatus::Available),
            "a dry run releases nothing"
        );
        // DryRun must itself be a boolean.
        let r = call(&url, "DescribeEipAddresses", &[region, ("DryRun", "maybe")]).await;
        assert_error(&r, 400, "InvalidParameter");
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn errors_carry_the_real_apis_words() {
    tokio::time::timeout(LIMIT, async {
        let sim = start(SimConfig::default()).await;
        let url = sim.url();
        let region = ("RegionId", "cn-hangzhou");
        let message = |r: &Reply| r.body["Message"].as_str().unwrap_or_default().to_string();
        let bandwidth_invalid = "Specified value of \"Bandwidth\" is not valid.";
        // Out of range, including beyond any machine integer: one message.
        for bw in [
            "0",
            "501",
            "99999999999",
            "99999999999999999999999",
            "-1",
            "five",
        ] {
            let r = call(&url, "AllocateEipAddress", &[region, ("Bandwidth", bw)]).await;
            assert_error(&r, 400, "InvalidParameter");
            assert_eq!(message(&r), bandwidth_invalid, "Bandwidth={bw}");
        }
        let id = allocation_id(&call(&url, "AllocateEipAddress", &[region]).await);
        let r = call(
            &url,
            "ModifyEipAddressAttribute",
            &[region, ("AllocationId", &id), ("Bandwidth", "4294967296")],
        )
        .await;
        assert_error(&r, 400, "InvalidParameter");
        assert_eq!(message(&r), bandwidth_invalid);
        let r = call(
            &url,
            "ReleaseEipAddress",
            &[region, ("AllocationId", "eip-nope")],
        )
        .await;
        assert_error(&r, 404, "InvalidAllocationId.NotFound");
        assert_eq!(message(&r), "Specified allocation ID is not found");
        let r = call(&url, "DescribeEipAddresses", &[("RegionId", "cn-beijing")]).await;
        assert_error(&r, 404, "Forbidden.RegionNotFound");
        assert_eq!(
            message(&r),
            "Specified region is not found during access authentication."
        );
        let r = call(
            &url,
            "AssociateEipAddress",
            &[region, ("AllocationId", &id), ("InstanceId", "i-nope")],
        )
        .await;
        assert_error(&r, 404, "InvalidInstanId.NotFound");
        assert_eq!(message(&r), "Specified instance does not exist.");
        assert_eq!(
            message(&call(&url, "DescribeEipAddresses", &[region, ("PageSize", "ten")]).await),
            "Specified value of \"PageSize\" is not valid."
        );
        let r = call(&url, "ReleaseEipAddress", &[region]).await;
        assert_error(&r, 400, "MissingAllocationId");
        assert_eq!(message(&r), "AllocationId is mandatory for this action.");
        // An emulator limit says so, after the real words.
        let r = call(
            &url,
            "AssociateEipAddress",
            &[
                region,
                ("AllocationId", &id),
                ("InstanceId", "eni-x"),
                ("Mode", "BINDED"),
            ],
        )
        .await;
        assert_error(&r, 400, "InvalidParameter");
        assert!(
            message(&r).starts_with("Specified value of \"Mode\" is not valid.")
                && message(&r).contains("emulator"),
            "{}",
            message(&r)
        );
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}
/// One raw HTTP/1.1 exchange on an open connection: writes `request`, reads one response.
async fn raw_exchange(
    conn: &mut tokio::io::BufReader<tokio::net::TcpStream>,
    request: &[u8],
) -> (u16, String, Value) {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
    conn.get_mut()
        .write_all(request)
        .await
        .expect("request written");
    let mut status_line = String::new();
    conn.read_line(&mut status_line).await.expect("status line");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status_line:?}"));
    let (mut content_type, mut length) = (String::new(), 0usize);
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).await.expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header");
        match name.to_ascii_lowercase().as_str() {
            "content-type" => content_type = value.trim().to_string(),
            "content-length" => length = value.trim().parse().expect("length"),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await.expect("body");
    let body = serde_json::from_slice(&body)
        .unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned()));
    (status, content_type, body)
}

async fn raw_connect(sim: &RunningSim) -> tokio::io::BufReader<tokio::net::TcpStream> {
    tokio::io::BufReader::new(
        tokio::net::TcpStream::connect(sim.addr())
            .await
            .expect("connected"),
    )
}

#[tokio::test]
async fn transport_errors_get_the_alibaba_error_body_too() {
    tokio::time::timeout(LIMIT, async {
        let sim = start(SimConfig::default()).await;
        let json_error = |status: u16, content_type: &str, body: Value, want: u16, code: &str| {
            assert!(
                content_type.starts_with("application/json"),
                "content type {content_type:?} for {code}"
            );
            assert_error(&Reply { status, body }, want, code);
        };
        // A 1 MiB query string.
        let mut conn = raw_connect(&sim).await;
        let huge = format!(
            "GET /?Action=DescribeEipAddresses&Version=2016-04-28&Pad={} HTTP/1.1\r\nHost: sim\r\n\r\n",
            "x".repeat(1 << 20)
        );
        let (status, ct, body) = raw_exchange(&mut conn, huge.as_bytes()).await;
        json_error(status, &ct, body, 414, "RequestURITooLong");

        // Too many header fields.
        let mut conn = raw_connect(&sim).await;
        let mut req = String::from("GET / HTTP/1.1\r\nHost: sim\r\n");
        for i in 0..100 {
            req.push_str(&format!("X-Filler-{i}: {i}\r\n"));
        }
        req.push_str("\r\n");
        let (status, ct, body) = raw_exchange(&mut conn, req.as_bytes()).await;
        json_error(status, &ct, body, 431, "RequestHeaderFieldsTooLarge");

        // A head the HTTP parser refuses.
        for bad in [
            "GET / HTTP/1.1\r\nHost: sim\r\nContent-Length: ten\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: sim\r\nBad Header\r\n\r\n",
        ] {
            let mut conn = raw_connect(&sim).await;
            let (status, ct, body) = raw_exchange(&mut conn, bad.as_bytes()).await;
            json_error(status, &ct, body, 400, "MalformedRequest");
        }

        // On a kept-alive connection, after a request with a body, the next head is
        // checked too.
        let mut conn = raw_connect(&sim).await;
        let (status, ct, body) = raw_exchange(
            &mut conn,
            b"POST /?Foo=1 HTTP/1.1\r\nHost: sim\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
        )
        .await;
        json_error(status, &ct, body, 400, "MissingAction");
        let (status, ct, body) = raw_exchange(
            &mut conn,
            b"POST /?Foo=1 HTTP/1.1\r\nHost: sim\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nTrailer: 1\r\n\r\n",
        )
        .await;
        json_error(status, &ct, body, 400, "MissingAction");
        let big = format!(
            "GET /?Pad={} HTTP/1.1\r\nHost: sim\r\n\r\n",
            "y".repeat(200 * 1024)
        );
        let (status, ct, body) = raw_exchange(&mut conn, big.as_bytes()).await;
        json_error(status, &ct, body, 414, "RequestURITooLong");

        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}
