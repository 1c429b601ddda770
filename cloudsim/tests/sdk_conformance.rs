//! Conformance of eip-cloudsim with the OFFICIAL Alibaba Cloud Python SDK
//! (alibabacloud-vpc20160428, alibabacloud-ecs20140526, alibabacloud-tea-openapi, pinned in
//! `conformance/requirements.txt`). Each test starts a fresh emulator on 127.0.0.1:0, runs
//! `conformance/sdk_suite.py` with `$EIP_SDK_PYTHON` for one signing scheme, and checks the
//! suite's verdict and what the emulator saw. Without the SDK the tests FAIL: run
//! `make sdk-env` (or `make test`, which sets EIP_SDK_PYTHON).

use std::path::PathBuf;
use std::time::Duration;

use eip_cloudsim::{CloudSim, SimConfig};

fn python() -> PathBuf {
    match std::env::var_os("EIP_SDK_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "EIP_SDK_PYTHON is not set: run `make sdk-env` and set EIP_SDK_PYTHON=<repo>/.venv/bin/python \
             (make test does both); the SDK conformance suite never skips"
        ),
    }
}

struct Outcome {
    stdout: String,
    passed: usize,
    schemes: std::collections::BTreeMap<String, u64>,
    calls: std::collections::BTreeMap<String, u64>,
    eips_left: usize,
}

async fn run_suite(scheme: &str) -> Outcome {
    let sim = CloudSim::start(SimConfig::default())
        .await
        .expect("emulator starts");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/sdk_suite.py");
    let py = python();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&py)
            .arg(&script)
            .arg(sim.url())
            .arg(scheme)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the SDK suite finishes within 120 s")
    .unwrap_or_else(|e| panic!("cannot run {}: {e}; run `make sdk-env`", py.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(
        out.status.code(),
        Some(3),
        "the official SDK is not installed for {}: run `make sdk-env`\n{stdout}",
        py.display()
    );
    assert!(
        out.status.success(),
        "SDK suite ({scheme}) failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("SUMMARY "))
        .unwrap_or_else(|| panic!("no SUMMARY line:\n{stdout}"));
    assert!(summary.contains("failed=0"), "{summary}");
    let passed = stdout.lines().filter(|l| l.starts_with("PASS ")).count();
    let admin = sim.admin();
    let outcome = Outcome {
        passed,
        schemes: admin.auth_schemes(),
        calls: admin.calls(),
        eips_left: admin.eips().len(),
        stdout,
    };
    sim.shutdown().await;
    outcome
}

fn assert_lifecycle(o: &Outcome) {
    for check in [
        "same ClientToken and parameters give the same EIP",
        "Associating becomes InUse on the ENI's private IP",
        "Releasing ends with the EIP gone from DescribeEipAddresses",
        "DescribeNetworkInterfaces shows the EIP on the private IP",
        "unknown allocation id: 404 InvalidAllocationId.NotFound",
        "over quota: 400 QuotaExceeded.Eip",
        "over the API rate limit: 400 Throttling.User",
        "injected 503: ServerException ServiceUnavailable",
        "injected 500 on ECS: ServerException InternalError",
    ] {
        assert!(
            o.stdout.contains(&format!("PASS {check}")),
            "missing check {check:?}:\n{}",
            o.stdout
        );
    }
    assert!(
        o.passed >= 33,
        "only {} checks passed:\n{}",
        o.passed,
        o.stdout
    );
    // The SDK really went through the emulator: one allocation id for two
    // AllocateEipAddress calls with the same ClientToken, plus the one for the
    // duplicate-association check; the quota refusal is a counted call too.
    assert!(
        o.calls.get("AllocateEipAddress").copied().unwrap_or(0) >= 5,
        "{:?}",
        o.calls
    );
    assert!(
        o.calls.get("DescribeInstanceTypes").copied() == Some(1),
        "{:?}",
        o.calls
    );
    // The released EIP is gone; the second one (left Available) is all that remains.
    assert_eq!(o.eips_left, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_lifecycle_with_default_v3_signing() {
    let o = run_suite("v3").await;
    assert_lifecycle(&o);
    assert!(
        o.stdout
            .contains("PASS wrong secret: SignatureDoesNotMatch")
    );
    assert!(
        o.schemes.get("V3").copied().unwrap_or(0) > 20,
        "{:?}",
        o.schemes
    );
    assert_eq!(o.schemes.get("V1"), None, "{:?}", o.schemes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_lifecycle_with_v1_signing() {
    let o = run_suite("v1").await;
    assert_lifecycle(&o);
    assert!(
        o.stdout
            .contains("PASS wrong secret: SignatureDoesNotMatch")
    );
    assert!(
        o.schemes.get("V1").copied().unwrap_or(0) > 20,
        "{:?}",
        o.schemes
    );
    assert_eq!(o.schemes.get("V3"), None, "{:?}", o.schemes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_lifecycle_with_sts_credentials_from_the_metadata_role() {
    let o = run_suite("sts").await;
    assert_lifecycle(&o);
    assert!(o.stdout.contains("PASS metadata hands out STS credentials"));
    assert!(
        o.stdout
            .contains("PASS STS key with the wrong security token is refused")
    );
    assert!(
        o.schemes.get("V3+STS").copied().unwrap_or(0) > 20,
        "{:?}",
        o.schemes
    );
    assert_eq!(o.schemes.get("V3"), None, "{:?}", o.schemes);
}
