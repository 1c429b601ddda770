//! The background, read-only cloud view: every EIP allocated in the region (count against
//! the quota, and the state of any named EIP) and free IPs per zone from the vSwitches
//! `eni-config` lists (or, failing that, every vSwitch of the configured VPC). Refreshed on
//! an interval through `eip_cloud::Cloud`; a failed refresh keeps the previous view, whose
//! age the metrics report.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use eip_cloud::Cloud;
use eip_cloud::args::{DescribeBandwidthPackagesArgs, DescribeEipArgs, DescribeVSwitchesArgs};

use crate::state::{CloudView, ClusterState, EipFacts};
use crate::watch::EniFacts;

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Fetch a fresh view. `vswitches` are the ids from `eni-config`; `vpc_id` is used when
/// there are none. Zones are left out (not checked) when neither is known.
pub async fn fetch(
    cloud: &dyn Cloud,
    vswitches: &[String],
    vpc_id: Option<&str>,
) -> Result<CloudView, eip_cloud::Error> {
    let eips = cloud
        .describe_eip_addresses(&DescribeEipArgs::default())
        .await?
        .into_iter()
        .map(|e| {
            (
                e.allocation_id.clone(),
                EipFacts {
                    allocation_id: e.allocation_id,
                    status: e.status,
                    instance_id: non_empty(&e.instance_id),
                    private_ip: non_empty(&e.private_ip_address),
                },
            )
        })
        .collect();
    let mut switches = Vec::new();
    if !vswitches.is_empty() {
        for id in vswitches {
            let args = DescribeVSwitchesArgs {
                vswitch_id: Some(id.clone()),
                ..DescribeVSwitchesArgs::default()
            };
            switches.extend(cloud.describe_vswitches(&args).await?);
        }
    } else if let Some(vpc) = vpc_id {
        let args = DescribeVSwitchesArgs {
            vpc_id: Some(vpc.to_string()),
            ..DescribeVSwitchesArgs::default()
        };
        switches = cloud.describe_vswitches(&args).await?;
    }
    // Not fatal: a RAM policy without DescribeCommonBandwidthPackages only skips the check.
    let bandwidth_packages = match cloud
        .describe_common_bandwidth_packages(&DescribeBandwidthPackagesArgs::default())
        .await
    {
        Ok(list) => Some(list.into_iter().map(|p| p.bandwidth_package_id).collect()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list shared bandwidth packages; pods naming one are not checked");
            None
        }
    };
    let mut zone_free_ips: HashMap<String, u64> = HashMap::new();
    for v in switches {
        let free = u64::try_from(v.available_ip_address_count).unwrap_or(0);
        *zone_free_ips.entry(v.zone_id).or_insert(0) += free;
    }
    Ok(CloudView {
        region: cloud.region_id().to_string(),
        eips,
        zone_free_ips,
        bandwidth_packages,
        fetched_at: Some(SystemTime::now()),
    })
}

/// Refresh once into the shared view.
pub async fn refresh(
    cloud: &dyn Cloud,
    state: &RwLock<ClusterState>,
    vpc_id: Option<&str>,
) -> Result<(), eip_cloud::Error> {
    let vswitches = state
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .vswitches
        .clone();
    let view = fetch(cloud, &vswitches, vpc_id).await?;
    let mut st = state.write().unwrap_or_else(PoisonError::into_inner);
    st.cloud = Some(view);
    Ok(())
}

/// Refresh every `interval` until the task is dropped, and at once when `eni-config`'s
/// vSwitches change (the first refresh runs before the ConfigMap is read: without this,
/// zones would be unknown until the second one).
pub async fn run(
    cloud: Arc<dyn Cloud>,
    state: Arc<RwLock<ClusterState>>,
    interval: Duration,
    vpc_id: Option<String>,
    mut eni: tokio::sync::watch::Receiver<EniFacts>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut fetched_for: Option<Vec<String>> = None;
    let mut eni_open = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = eni.changed(), if eni_open => {
                if changed.is_err() {
                    eni_open = false;
                    continue;
                }
                let vswitches = eni.borrow_and_update().vswitches.clone();
                if fetched_for.as_ref() == Some(&vswitches) {
                    continue;
                }
            }
        }
        fetched_for = Some(
            state
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .vswitches
                .clone(),
        );
        match refresh(cloud.as_ref(), &state, vpc_id.as_deref()).await {
            Ok(()) => tracing::debug!("cloud view refreshed"),
            Err(e) => {
                tracing::warn!(error = %e, "cloud view refresh failed; keeping the previous view")
            }
        }
    }
}
