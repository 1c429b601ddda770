//! `credentials-dir` (flag, or the config file) reaches the cloud client: calls are signed
//! with the AccessKey read from the directory (a mounted Secret), a rotated key is used
//! without a restart, and a path that is not a directory fails at start-up.

use std::time::{Duration, SystemTime};

use clap::Parser;
use eip_cloud::args::DescribeVSwitchesArgs;
use eip_cloudsim::{CloudSim, SimConfig, write_credentials_dir};
use eip_extender::server::build_cloud;
use eip_extender::testkit::within;
use eip_extender::{Cli, Settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_files_credentials_dir_signs_calls_and_a_rotation_is_picked_up()
-> anyhow::Result<()> {
    within(Duration::from_secs(30), async {
        let sim = CloudSim::start(SimConfig::default()).await?;
        let tmp = tempfile::tempdir()?;
        let keys = tmp.path().join("keys");
        std::fs::create_dir(&keys)?;
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        write_credentials_dir(&keys, "testid", "an-old-secret", t0)?;
        let config = tmp.path().join("eip-extender.yaml");
        std::fs::write(
            &config,
            format!(
                "cloud-endpoint: {}\ncredentials-dir: {}\n",
                sim.url(),
                keys.display()
            ),
        )?;
        let cli = Cli::try_parse_from([
            "eip-extender".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
        ])?;
        let cloud = build_cloud(&Settings::resolve(&cli)?)?;

        let err = cloud
            .describe_vswitches(&DescribeVSwitchesArgs::default())
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("a wrong secret was accepted"))?;
        let text = format!("{err} {err:?}");
        assert!(text.contains("Signature"), "a signature error: {text}");
        assert!(!text.contains("an-old-secret"), "{text}");

        // the Secret is rotated: the same client signs with the new key
        write_credentials_dir(&keys, "testid", "testsecret", t0 + Duration::from_secs(60))?;
        cloud
            .describe_vswitches(&DescribeVSwitchesArgs::default())
            .await?;
        sim.shutdown().await;
        anyhow::Ok(())
    })
    .await
}

#[test]
fn a_credentials_dir_that_is_not_a_directory_is_refused() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let missing = tmp.path().join("missing");
    let cli = Cli::try_parse_from([
        "eip-extender".as_ref(),
        "--credentials-dir".as_ref(),
        missing.as_os_str(),
    ])?;
    let err = build_cloud(&Settings::resolve(&cli)?)
        .err()
        .ok_or_else(|| anyhow::anyhow!("a missing directory was accepted"))?;
    assert!(err.to_string().contains("missing"), "{err}");
    let empty = Settings {
        credentials_dir: Some(tmp.path().to_path_buf()),
        ..Settings::default()
    };
    assert!(
        build_cloud(&empty).is_ok(),
        "an empty directory is accepted"
    );
    Ok(())
}
