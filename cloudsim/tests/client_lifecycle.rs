//! The Rust client (`eip-cloud`) against the emulator: the whole EIP lifecycle with V3,
//! V1 and STS credentials (static and from the instance's RAM role through the metadata
//! service), the ECS/VPC reads, the metadata client, and a wrong secret refused.

use std::sync::Arc;
use std::time::Duration;

use eip_cloud::args::{
    AllocateEipArgs, AssociateEipArgs, DescribeEipArgs, DescribeInstanceTypesArgs,
    DescribeInstancesArgs, DescribeNetworkInterfacesArgs, DescribeVSwitchesArgs,
    ListTagResourcesArgs, ModifyEipArgs, Tag, UnassociateEipArgs,
};
use eip_cloud::credentials::{
    Credentials, CredentialsChain, EcsRamRoleCredentials, SharedCredentials,
};
use eip_cloud::metadata::MetadataClient;
use eip_cloud::{
    AliyunClient, Cloud, Error, RetryPolicy, SignatureVersion, WaitTarget, Waiter, WaiterConfig,
};
use eip_cloudsim::{CloudSim, InstanceConfig, RunningSim, SimConfig};

const BOUND: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(10);

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        jitter: true,
    }
}

fn waiter(cloud: Arc<dyn Cloud>) -> Waiter {
    Waiter::new(
        cloud,
        WaiterConfig {
            initial_interval: Duration::from_millis(10),
            max_interval: Duration::from_millis(50),
            ..WaiterConfig::default()
        },
    )
}

fn client(
    sim: &RunningSim,
    v: SignatureVersion,
    creds: SharedCredentials,
) -> anyhow::Result<AliyunClient> {
    Ok(AliyunClient::builder()
        .endpoint(sim.url())
        .signature_version(v)
        .credentials_provider(creds)
        .retry(retry())
        .timeout(Duration::from_secs(5))
        .build()?)
}

fn static_creds(c: Credentials) -> SharedCredentials {
    Arc::new(eip_cloud::credentials::StaticCredentials::new(c))
}

/// A node with a pod IP on an ENI, as Terway would leave it.
fn node_with_pod(sim: &RunningSim) -> anyhow::Result<(String, String, String)> {
    let admin = sim.admin();
    let instance = admin.add_instance(InstanceConfig {
        instance_type: Some("ecs.g7.large".into()),
        ..InstanceConfig::default()
    })?;
    let pod = admin
        .assign_pod_ip(&instance)?
        .ok_or_else(|| anyhow::anyhow!("no pod IP left"))?;
    Ok((instance, pod.eni_id, pod.ip.to_string()))
}

/// Allocate (tags + ClientToken), describe, associate to the ENI private IP, wait InUse,
/// modify bandwidth, unassociate, wait Available, release, wait gone.
async fn lifecycle(sim: &RunningSim, cloud: AliyunClient, token: &str) -> anyhow::Result<()> {
    let (_instance, eni, ip) = node_with_pod(sim)?;
    let cloud: Arc<dyn Cloud> = Arc::new(cloud);
    let w = waiter(cloud.clone());
    let args = AllocateEipArgs {
        bandwidth: Some(5),
        internet_charge_type: Some("PayByTraffic".into()),
        name: Some("web-0 eip/1".into()),
        client_token: Some(token.into()),
        tags: vec![
            Tag::new("kube-eip/pod", "default/web-0"),
            Tag::new("cluster", "c 1"),
        ],
        ..AllocateEipArgs::default()
    };
    let allocated = cloud.allocate_eip_address(&args).await?;
    let id = allocated.allocation_id.clone();
    assert!(id.starts_with("eip-"), "{id}");
    assert!(allocated.eip_address.is_some());
    // Same token, same parameters: the same EIP.
    let again = cloud.allocate_eip_address(&args).await?;
    assert_eq!(again.allocation_id, id);
    // Same token, other parameters: refused.
    let mismatch = cloud
        .allocate_eip_address(&AllocateEipArgs {
            bandwidth: Some(6),
            ..args.clone()
        })
        .await;
    assert!(
        matches!(mismatch, Err(Error::IdempotentParameterMismatch(_))),
        "{mismatch:?}"
    );

    let described = cloud
        .describe_eip_addresses(&DescribeEipArgs::by_ids([id.clone()]))
        .await?;
    let eip = described
        .first()
        .ok_or_else(|| anyhow::anyhow!("allocated EIP not described"))?;
    assert_eq!(eip.status, "Available");
    assert_eq!(eip.bandwidth, "5");
    assert_eq!(eip.name, "web-0 eip/1");
    assert!(
        eip.tags
            .tag
            .iter()
            .any(|t| t.key == "cluster" && t.value == "c 1")
    );
    let tags = cloud
        .list_tag_resources(&ListTagResourcesArgs {
            resource_ids: vec![id.clone()],
            ..Default::default()
        })
        .await?;
    assert!(
        tags.iter()
            .any(|t| t.tag_key == "kube-eip/pod" && t.tag_value == "default/web-0")
    );

    cloud
        .associate_eip_address(&AssociateEipArgs::to_eni(&id, &eni, &ip))
        .await?;
    let in_use = w
        .wait(&id, WaitTarget::InUse, WAIT)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no EIP after InUse"))?;
    assert_eq!(in_use.instance_id, eni);
    assert_eq!(in_use.private_ip_address, ip);
    assert_eq!(in_use.instance_type, "NetworkInterface");

    // The ENI shows the EIP on that private IP.
    let enis = cloud
        .describe_network_interfaces(&DescribeNetworkInterfacesArgs {
            network_interface_ids: vec![eni.clone()],
            ..Default::default()
        })
        .await?;
    let set = enis
        .first()
        .ok_or_else(|| anyhow::anyhow!("ENI not described"))?;
    let on_ip = set
        .private_ip_sets
        .private_ip_set
        .iter()
        .find(|p| p.private_ip_address == ip)
        .and_then(|p| p.associated_public_ip.as_ref())
        .map(|a| a.allocation_id.clone());
    assert_eq!(on_ip.as_deref(), Some(id.as_str()));

    cloud
        .modify_eip_address_attribute(&ModifyEipArgs {
            allocation_id: id.clone(),
            bandwidth: Some(10),
            ..Default::default()
        })
        .await?;
    let modified = cloud
        .describe_eip_addresses(&DescribeEipArgs::by_ids([id.clone()]))
        .await?;
    assert_eq!(modified.first().map(|e| e.bandwidth.as_str()), Some("10"));

    // Releasing while associated is refused with a typed error.
    let refused = cloud.release_eip_address(&id).await;
    assert!(
        matches!(refused, Err(Error::IncorrectStatus(_))),
        "{refused:?}"
    );

    cloud
        .unassociate_eip_address(&UnassociateEipArgs::from_eni(&id, &eni, &ip))
        .await?;
    let available = w.wait(&id, WaitTarget::Available, WAIT).await?;
    assert_eq!(available.map(|e| e.status), Some("Available".to_owned()));

    cloud.release_eip_address(&id).await?;
    assert!(w.wait(&id, WaitTarget::Gone, WAIT).await?.is_none());
    assert!(
        cloud
            .describe_eip_addresses(&DescribeEipArgs::by_ids([id.clone()]))
            .await?
            .is_empty()
    );
    assert!(sim.admin().eip(&id).is_none());
    let missing = cloud.release_eip_address(&id).await;
    assert!(
        matches!(&missing, Err(e) if e.is_not_found()),
        "{missing:?}"
    );
    Ok(())
}

async fn start() -> anyhow::Result<RunningSim> {
    Ok(CloudSim::start(SimConfig::default()).await?)
}

#[tokio::test]
async fn lifecycle_with_v3_signatures() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let sim = start().await?;
        let c = client(
            &sim,
            SignatureVersion::V3,
            static_creds(Credentials::new("testid", "testsecret")),
        )?;
        lifecycle(&sim, c, "tok-v3").await?;
        assert!(sim.admin().auth_schemes().get("V3").is_some_and(|n| *n > 0));
        sim.shutdown().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn lifecycle_with_v1_signatures() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let sim = start().await?;
        let c = client(
            &sim,
            SignatureVersion::V1,
            static_creds(Credentials::new("testid", "testsecret")),
        )?;
        lifecycle(&sim, c, "tok-v1").await?;
        let schemes = sim.admin().auth_schemes();
        assert!(schemes.get("V1").is_some_and(|n| *n > 0), "{schemes:?}");
        assert!(!schemes.contains_key("V3"), "{schemes:?}");
        sim.shutdown().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn lifecycle_with_sts_credentials_in_both_schemes() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let sim = start().await?;
        let sts = sim.admin().issue_sts(Duration::from_secs(3600));
        let creds = Credentials::new(&sts.access_key_id, &sts.access_key_secret)
            .with_security_token(&sts.security_token);
        lifecycle(
            &sim,
            client(&sim, SignatureVersion::V3, static_creds(creds.clone()))?,
            "tok-sts-v3",
        )
        .await?;
        lifecycle(
            &sim,
            client(&sim, SignatureVersion::V1, static_creds(creds))?,
            "tok-sts-v1",
        )
        .await?;
        let schemes = sim.admin().auth_schemes();
        assert!(schemes.get("V3+STS").is_some_and(|n| *n > 0), "{schemes:?}");
        assert!(schemes.get("V1+STS").is_some_and(|n| *n > 0), "{schemes:?}");
        sim.shutdown().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn lifecycle_with_the_ram_role_of_the_instance() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let sim = start().await?;
        let instance = sim.admin().add_instance(InstanceConfig::default())?;
        let metadata = MetadataClient::new(sim.metadata_url(&instance));
        // Nothing explicit, no environment, no directory: the chain ends at the RAM role.
        let chain = CredentialsChain::standard_with_env(None, None, metadata, None, |_| None);
        let creds = eip_cloud::credentials::ProvideCredentials::credentials(&chain).await?;
        assert!(creds.security_token.is_some());
        let role =
            EcsRamRoleCredentials::new(MetadataClient::new(sim.metadata_url(&instance)), None);
        lifecycle(
            &sim,
            client(&sim, SignatureVersion::V3, Arc::new(role))?,
            "tok-role",
        )
        .await?;
        let schemes = sim.admin().auth_schemes();
        assert!(schemes.get("V3+STS").is_some_and(|n| *n > 0), "{schemes:?}");
        sim.shutdown().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn a_wrong_secret_is_a_signature_error_and_is_not_retried() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let sim = start().await?;
        for v in [SignatureVersion::V3, SignatureVersion::V1] {
            let attempts = Arc::new(eip_cloud::metrics::CallCounter::new());
            let c = AliyunClient::builder()
                .endpoint(sim.url())
                .signature_version(v)
                .credentials(Credentials::new("testid", "wrongsecret"))
                .retry(retry())
                .observer(attempts.clone())
                .build()?;
            let e = c
                .describe_eip_addresses(&DescribeEipArgs::default())
                .await
                .err()
                .ok_or_else(|| anyhow::anyhow!("a wrong secret was accepted"))?;
            assert!(matches!(e, Error::Signature(_)), "{e:?}");
            assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
            assert!(e.request_id().is_some_and(|r| !r.is_empty()));
            assert!(!e.to_string().contains("wrongsecret"));
            assert_eq!(
                attempts.total("DescribeEipAddresses"),
                1,
                "retried a signature error"
            );
        }
        let c = client(
            &sim,
            SignatureVersion::V3,
            static_creds(Credentials::new("nobody", "testsecret")),
        )?;
        let e = c
            .describe_vswitches(&DescribeVSwitchesArgs::default())
            .await
            .err();
        assert!(matches!(e, Some(Error::Forbidden(_))), "{e:?}");
        sim.shutdown().await;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn ecs_and_vpc_reads_and_the_metadata_service() -> anyhow::Result<()> {
    tokio::time::timeout(BOUND, async {
        let sim = start().await?;
        let (instance, eni, ip) = node_with_pod(&sim)?;
        let c = client(
            &sim,
            SignatureVersion::V3,
            static_creds(Credentials::new("testid", "testsecret")),
        )?;
        let vsw = c
            .describe_vswitches(&DescribeVSwitchesArgs::default())
            .await?;
        assert_eq!(vsw.len(), 2);
        assert!(vsw.iter().all(|v| v.available_ip_address_count > 0));
        let types = c
            .describe_instance_types(&DescribeInstanceTypesArgs {
                instance_types: vec!["ecs.g7.large".into(), "ecs.g7.xlarge".into()],
                ..Default::default()
            })
            .await?;
        let g7 = types
            .iter()
            .find(|t| t.instance_type_id == "ecs.g7.large")
            .ok_or_else(|| anyhow::anyhow!("ecs.g7.large missing"))?;
        assert_eq!(
            (g7.eni_quantity, g7.eni_private_ip_address_quantity),
            (3, 10)
        );
        assert_eq!(types.len(), 2);
        let instances = c
            .describe_instances(&DescribeInstancesArgs {
                instance_ids: vec![instance.clone()],
                ..Default::default()
            })
            .await?;
        assert_eq!(
            instances.first().map(|i| i.instance_id.as_str()),
            Some(instance.as_str())
        );
        let by_ip = c
            .describe_network_interfaces(&DescribeNetworkInterfacesArgs {
                private_ip_addresses: vec![ip.clone()],
                ..Default::default()
            })
            .await?;
        assert_eq!(
            by_ip
                .iter()
                .map(|e| e.network_interface_id.as_str())
                .collect::<Vec<_>>(),
            vec![eni.as_str()]
        );

        let m = MetadataClient::new(sim.metadata_url(&instance));
        assert_eq!(m.instance_id().await?, instance);
        assert_eq!(m.region_id().await?, "cn-hangzhou");
        assert_eq!(m.instance_type().await?, "ecs.g7.large");
        assert!(!m.zone_id().await?.is_empty());
        let mut found = false;
        for mac in m.macs().await? {
            if m.eni_id(&mac).await? == eni {
                assert!(m.eni_private_ipv4s(&mac).await?.contains(&ip));
                assert!(!m.eni_primary_ip(&mac).await?.is_empty());
                assert!(m.eni_vswitch_id(&mac).await?.starts_with("vsw-"));
                found = true;
            }
        }
        assert!(found, "the pod's ENI is not in the metadata");
        sim.shutdown().await;
        Ok(())
    })
    .await?
}
