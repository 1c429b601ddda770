//! `--credentials-dir` reaches the cloud client: calls are signed with the AccessKey read
//! from the directory (a mounted Secret), a rotated key is used without a restart, and a
//! path that is not a directory fails at start-up.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Parser;
use eip_agent::cli::{Args, cloud_client, credentials};
use eip_agent::metrics::{CloudObserver, Metrics};
use eip_cloud::Cloud;
use eip_cloud::args::DescribeEipArgs;
use eip_cloud::metadata::MetadataClient;
use eip_cloudsim::{CloudSim, SimConfig, write_credentials_dir};

const BOUND: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_signed_with_the_key_in_the_credentials_dir_and_a_rotation_is_picked_up()
-> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let sim = CloudSim::start(SimConfig::default()).await?;
        let dir = tempfile::tempdir()?;
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        write_credentials_dir(dir.path(), "testid", "an-old-secret", t0)?;
        let url = sim.url();
        let dir_arg = dir.path().to_string_lossy().to_string();
        let args = Args::try_parse_from([
            "eip-agent",
            "--node-name",
            "node-1",
            "--cloud-endpoint",
            url.as_str(),
            "--credentials-dir",
            dir_arg.as_str(),
        ])?;
        let md = MetadataClient::new(sim.metadata_url("i-none"));
        let observer = Arc::new(CloudObserver(Arc::new(Metrics::new())));
        let cloud = cloud_client(&args, "cn-hangzhou".into(), &md, observer, None)?;

        // the key in the directory is not the account's: refused, and the secret is not
        // in the error
        let err = cloud
            .describe_eip_addresses(&DescribeEipArgs::default())
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("a wrong secret was accepted"))?;
        let text = format!("{err} {err:?}");
        assert!(text.contains("Signature"), "a signature error: {text}");
        assert!(!text.contains("an-old-secret"), "{text}");

        // the Secret is rotated: the same client signs with the new key
        write_credentials_dir(
            dir.path(),
            "testid",
            "testsecret",
            t0 + Duration::from_secs(60),
        )?;
        cloud
            .describe_eip_addresses(&DescribeEipArgs::default())
            .await?;
        sim.shutdown().await;
        anyhow::Ok(())
    })
    .await?
}

#[test]
fn a_credentials_dir_that_is_not_a_directory_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let md = MetadataClient::new("http://127.0.0.1:9");
    let chain = credentials(Some(dir.path()), &md)?;
    assert!(
        chain
            .names()
            .iter()
            .any(|n| n.starts_with("credentials directory")),
        "{:?}",
        chain.names()
    );
    let missing = dir.path().join("missing");
    let err = credentials(Some(&missing), &md)
        .err()
        .ok_or_else(|| anyhow::anyhow!("a missing directory was accepted"))?;
    assert!(err.to_string().contains("missing"), "{err}");
    Ok(())
}
