//! The credentials chain (explicit, environment, mounted directory, ECS RAM role), the
//! metadata client (IMDSv2 token, fallback, ENI items) over a scripted metadata service
//! on loopback, and redaction of every secret.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{Answer, MockServer, Seen};
use eip_cloud::credentials::{
    Credentials, CredentialsChain, EcsRamRoleCredentials, FileCredentials, ProvideCredentials,
    Secret, StaticCredentials, credentials_from_vars,
};
use eip_cloud::metadata::{MetadataClient, TOKEN_HEADER};
use eip_cloud::{AliyunClient, Error};

const BOUND: Duration = Duration::from_secs(20);

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn environment_variables_give_an_access_key_and_optional_token() {
    assert!(credentials_from_vars(env(&[])).is_none());
    assert!(credentials_from_vars(env(&[("ALIBABA_CLOUD_ACCESS_KEY_ID", "id")])).is_none());
    assert!(
        credentials_from_vars(env(&[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "  ")
        ]))
        .is_none()
    );
    let c = credentials_from_vars(env(&[
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sec"),
    ]));
    assert_eq!(c, Some(Credentials::new("id", "sec")));
    let c = credentials_from_vars(env(&[
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sec"),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", "tok"),
    ]));
    assert_eq!(
        c,
        Some(Credentials::new("id", "sec").with_security_token("tok"))
    );
}

#[test]
fn debug_output_never_contains_secrets() {
    let creds = Credentials::new("LTAIid", "the-secret-value").with_security_token("the-sts-token");
    let chain =
        CredentialsChain::new().with("explicit", Arc::new(StaticCredentials::new(creds.clone())));
    let client = AliyunClient::builder()
        .credentials(creds.clone())
        .endpoint("http://127.0.0.1:1")
        .build();
    let texts = [
        format!("{creds:?}"),
        format!("{:?}", Secret::new("the-secret-value")),
        format!("{chain:?}"),
        format!("{client:?}"),
        format!("{:#?}", creds),
    ];
    for t in &texts {
        assert!(!t.contains("the-secret-value"), "{t}");
        assert!(!t.contains("the-sts-token"), "{t}");
    }
    assert!(
        texts[0].contains("LTAIid"),
        "the id is not secret: {}",
        texts[0]
    );
}

fn write_dir(
    dir: &std::path::Path,
    id: &str,
    secret: &str,
    token: Option<&str>,
    mtime: SystemTime,
) -> anyhow::Result<()> {
    let files = [
        ("access_key_id", Some(id)),
        ("access_key_secret", Some(secret)),
        ("security_token", token),
    ];
    for (name, value) in files {
        let path = dir.join(name);
        match value {
            Some(v) => {
                std::fs::write(&path, format!("{v}\n"))?;
                std::fs::File::options()
                    .write(true)
                    .open(&path)?
                    .set_modified(mtime)?;
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_credentials_directory_is_read_and_re_read_when_it_changes() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, directory_rotation()).await?
}

async fn directory_rotation() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    write_dir(dir.path(), "id-1", "secret-1", None, t0)?;
    let p = FileCredentials::new(dir.path());
    assert_eq!(p.credentials().await?, Credentials::new("id-1", "secret-1"));
    // The Secret is rotated (kubelet swaps the files).
    write_dir(
        dir.path(),
        "id-2",
        "secret-2",
        Some("tok-2"),
        t0 + Duration::from_secs(60),
    )?;
    assert_eq!(
        p.credentials().await?,
        Credentials::new("id-2", "secret-2").with_security_token("tok-2")
    );
    // A missing secret is an error that names the file, not its neighbours' values.
    std::fs::remove_file(dir.path().join("access_key_secret"))?;
    let e = p
        .credentials()
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("expected an error"))?;
    let text = e.to_string();
    assert!(text.contains("access_key_secret"), "{text}");
    assert!(!text.contains("id-2") && !text.contains("tok-2"), "{text}");
    Ok(())
}

#[test]
fn a_credentials_directory_must_exist_and_be_a_directory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // empty: an optional Secret that does not exist (the chain moves on)
    FileCredentials::check_dir(dir.path())?;
    let file = dir.path().join("access_key_id");
    std::fs::write(&file, "id-1")?;
    for bad in [file, dir.path().join("missing")] {
        let e = FileCredentials::check_dir(&bad)
            .err()
            .ok_or_else(|| anyhow::anyhow!("{} accepted", bad.display()))?;
        assert!(e.to_string().contains(&*bad.to_string_lossy()), "{e}");
    }
    Ok(())
}

/// A metadata service with one instance and a RAM role; IMDSv2 tokens required unless
/// `v1_only` (then the token PUT is refused and plain GETs work).
async fn metadata_server(expiration: String, v1_only: bool) -> anyhow::Result<MockServer> {
    MockServer::start(move |s: &Seen, _| {
        if s.method == "PUT" && s.path == "/latest/api/token" {
            if v1_only || s.header("x-aliyun-ecs-metadata-token-ttl-seconds").is_none() {
                return Answer::error(403, "Forbidden");
            }
            return Answer { status: 200, headers: vec![], body: "tok-abc".into(), delay: Duration::ZERO };
        }
        if !v1_only && s.header(&TOKEN_HEADER.to_ascii_lowercase()) != Some("tok-abc") {
            return Answer::error(401, "Unauthorized");
        }
        let text = |t: &str| Answer { status: 200, headers: vec![], body: t.to_owned(), delay: Duration::ZERO };
        match s.path.trim_start_matches("/latest/meta-data/") {
            "instance-id" => text("i-123"),
            "region-id" => text("cn-hangzhou"),
            "zone-id" => text("cn-hangzhou-h"),
            "instance/instance-type" => text("ecs.g7.large"),
            "mac" => text("00:16:3e:00:00:01"),
            "network/interfaces/macs/" => text("00:16:3e:00:00:01/\n00:16:3e:00:00:02/"),
            "network/interfaces/macs/00:16:3e:00:00:02/network-interface-id" => text("eni-2"),
            "network/interfaces/macs/00:16:3e:00:00:02/primary-ip-address" => text("10.0.0.20"),
            "network/interfaces/macs/00:16:3e:00:00:02/vswitch-id" => text("vsw-1"),
            "network/interfaces/macs/00:16:3e:00:00:02/private-ipv4s" => text(r#"["10.0.0.20","10.0.0.21"]"#),
            "ram/security-credentials/" => text("node-role"),
            "ram/security-credentials/node-role" => Answer::json(
                200,
                serde_json::json!({"AccessKeyId": "STS.role-id", "AccessKeySecret": "role-secret-value",
                    "SecurityToken": "role-token-value", "Expiration": expiration,
                    "LastUpdated": "2024-01-01T00:00:00Z", "Code": "Success"}),
            ),
            _ => Answer::error(404, "NotFound"),
        }
    })
    .await
}

fn expiration_in(d: jiff::SignedDuration) -> anyhow::Result<String> {
    Ok(eip_cloud::signature::format_timestamp(
        jiff::Timestamp::now().checked_add(d)?,
    ))
}

#[tokio::test]
async fn metadata_client_reads_instance_and_eni_items_with_an_imdsv2_token() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server =
            metadata_server(expiration_in(jiff::SignedDuration::from_hours(6))?, false).await?;
        let m = MetadataClient::new(server.url());
        assert_eq!(m.instance_id().await?, "i-123");
        assert_eq!(m.region_id().await?, "cn-hangzhou");
        assert_eq!(m.zone_id().await?, "cn-hangzhou-h");
        assert_eq!(m.instance_type().await?, "ecs.g7.large");
        assert_eq!(m.mac().await?, "00:16:3e:00:00:01");
        let macs = m.macs().await?;
        assert_eq!(macs, vec!["00:16:3e:00:00:01", "00:16:3e:00:00:02"]);
        assert_eq!(m.eni_id("00:16:3e:00:00:02").await?, "eni-2");
        assert_eq!(m.eni_primary_ip("00:16:3e:00:00:02").await?, "10.0.0.20");
        assert_eq!(m.eni_vswitch_id("00:16:3e:00:00:02").await?, "vsw-1");
        assert_eq!(
            m.eni_private_ipv4s("00:16:3e:00:00:02").await?,
            vec!["10.0.0.20", "10.0.0.21"]
        );
        let e = m.eni_id("00:16:3e:00:00:09").await.err();
        assert!(matches!(e, Some(Error::Metadata { .. })), "{e:?}");
        // One token for all those reads.
        let puts = server.seen().iter().filter(|s| s.method == "PUT").count();
        assert_eq!(puts, 1);
        assert!(!format!("{m:?}").contains("tok-abc"));
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn metadata_client_falls_back_to_imdsv1_unless_disabled() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server =
            metadata_server(expiration_in(jiff::SignedDuration::from_hours(6))?, true).await?;
        let m = MetadataClient::new(server.url());
        assert_eq!(m.instance_id().await?, "i-123");
        let strict = MetadataClient::new(server.url()).imdsv1_fallback(false);
        assert!(matches!(
            strict.instance_id().await,
            Err(Error::Metadata { .. })
        ));
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn ram_role_credentials_are_discovered_cached_and_refreshed_when_stale() -> anyhow::Result<()>
{
    tokio::time::timeout(BOUND, async {
        let fetches = |s: &MockServer| {
            s.seen()
                .iter()
                .filter(|r| r.path == "/latest/meta-data/ram/security-credentials/node-role")
                .count()
        };
        // Six hours left: fetched once, then reused.
        let server =
            metadata_server(expiration_in(jiff::SignedDuration::from_hours(6))?, false).await?;
        let p = EcsRamRoleCredentials::new(MetadataClient::new(server.url()), None);
        let c = p.credentials().await?;
        assert_eq!(
            c,
            Credentials::new("STS.role-id", "role-secret-value")
                .with_security_token("role-token-value")
        );
        p.credentials().await?;
        assert_eq!(fetches(&server), 1);
        assert!(!format!("{p:?}").contains("role-secret-value"));
        server.stop().await;

        // Already past Expiration - 15 min (here: expired): fetched on every use.
        let server =
            metadata_server(expiration_in(jiff::SignedDuration::from_mins(-1))?, false).await?;
        let p =
            EcsRamRoleCredentials::new(MetadataClient::new(server.url()), Some("node-role".into()));
        p.credentials().await?;
        p.credentials().await?;
        assert_eq!(fetches(&server), 2);
        // The configured role is used as is: no discovery.
        assert!(
            !server
                .seen()
                .iter()
                .any(|r| r.path == "/latest/meta-data/ram/security-credentials/")
        );
        server.stop().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn the_standard_chain_goes_explicit_env_directory_then_ram_role() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let server =
            metadata_server(expiration_in(jiff::SignedDuration::from_hours(6))?, false).await?;
        let meta = || MetadataClient::new(server.url());
        let dir = tempfile::tempdir()?;
        write_dir(
            dir.path(),
            "file-id",
            "file-secret",
            None,
            SystemTime::now(),
        )?;
        let vars = [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "env-id"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret"),
        ];

        let chain = CredentialsChain::standard_with_env(
            Some(Credentials::new("flag-id", "flag-secret")),
            Some(dir.path().to_owned()),
            meta(),
            None,
            env(&vars),
        );
        assert_eq!(chain.names().len(), 4);
        assert_eq!(chain.credentials().await?.access_key_id, "flag-id");

        let chain = CredentialsChain::standard_with_env(
            None,
            Some(dir.path().to_owned()),
            meta(),
            None,
            env(&vars),
        );
        assert_eq!(chain.credentials().await?.access_key_id, "env-id");

        let chain = CredentialsChain::standard_with_env(
            None,
            Some(dir.path().to_owned()),
            meta(),
            None,
            env(&[]),
        );
        assert_eq!(chain.credentials().await?.access_key_id, "file-id");

        let empty = tempfile::tempdir()?;
        let chain = CredentialsChain::standard_with_env(
            None,
            Some(empty.path().to_owned()),
            meta(),
            None,
            env(&[]),
        );
        assert_eq!(chain.credentials().await?.access_key_id, "STS.role-id");

        // Metadata disabled and nothing else: an error listing what was tried, no secrets.
        let chain = CredentialsChain::standard_with_env(
            None,
            Some(empty.path().to_owned()),
            meta(),
            None,
            env(&[("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")]),
        );
        let e = chain
            .credentials()
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("expected an error"))?;
        assert!(matches!(e, Error::Credentials(_)));
        assert!(e.to_string().contains("access_key_id"), "{e}");
        server.stop().await;
        Ok(())
    })
    .await?
}
