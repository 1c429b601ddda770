//! Server-side apply field ownership over HTTP with kube-rs clients: what
//! `metadata.managedFields` records, the 409 an apply gets when it would
//! change a field another manager owns, `force`, strategic patches taking
//! ownership, and kube-lease-manager replicas racing for one fresh Lease.

mod apiserver_util;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use apiserver_util::{bounded, start};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::api::{Api, Patch, PatchParams};
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerBuilder};
use sandbox::apiserver::RunningApiServer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

fn lease(name: &str, holder: &str) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": name},
           "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15}})
}

fn entry<'a>(lease: &'a Lease, manager: &str, operation: &str) -> Option<&'a ManagedFieldsEntry> {
    lease
        .metadata
        .managed_fields
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|e| {
            e.manager.as_deref() == Some(manager) && e.operation.as_deref() == Some(operation)
        })
}

fn fields(lease: &Lease, manager: &str, operation: &str) -> Option<Value> {
    entry(lease, manager, operation).and_then(|e| e.fields_v1.as_ref().map(|f| f.0.clone()))
}

fn holder(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref()?.holder_identity.as_deref()
}

/// The `Status` of a failed call.
fn status(r: Result<Lease, kube::Error>) -> anyhow::Result<kube::core::Status> {
    match r {
        Err(kube::Error::Api(s)) => Ok(*s),
        Err(e) => Err(e.into()),
        Ok(l) => anyhow::bail!("expected an API error, got {l:?}"),
    }
}

#[tokio::test]
async fn apply_by_another_manager_conflicts_and_force_takes_the_field() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let leases: Api<Lease> = Api::namespaced(client, "default");
        let created = leases
            .patch(
                "l",
                &PatchParams::apply("alpha"),
                &Patch::Apply(lease("l", "alpha")),
            )
            .await?;
        let alpha = entry(&created, "alpha", "Apply").context("alpha's entry")?;
        assert_eq!(alpha.api_version.as_deref(), Some("coordination.k8s.io/v1"));
        assert_eq!(alpha.fields_type.as_deref(), Some("FieldsV1"));
        assert!(alpha.time.is_some());
        assert_eq!(alpha.subresource, None);
        assert_eq!(
            fields(&created, "alpha", "Apply"),
            Some(json!({"f:spec": {"f:holderIdentity": {}, "f:leaseDurationSeconds": {}}}))
        );
        assert_eq!(created.metadata.managed_fields.map(|m| m.len()), Some(1));

        // Another manager setting holderIdentity to another value: 409.
        let s = status(
            leases
                .patch(
                    "l",
                    &PatchParams::apply("beta"),
                    &Patch::Apply(lease("l", "beta")),
                )
                .await,
        )?;
        assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
        assert_eq!(
            s.message,
            "Apply failed with 1 conflict: conflict with \"alpha\": .spec.holderIdentity"
        );
        let causes = s.details.map(|d| d.causes).unwrap_or_default();
        let causes: Vec<(&str, &str, &str)> = causes
            .iter()
            .map(|c| (c.reason.as_str(), c.message.as_str(), c.field.as_str()))
            .collect();
        assert_eq!(
            causes,
            [(
                "FieldManagerConflict",
                "conflict with \"alpha\"",
                ".spec.holderIdentity"
            )]
        );
        let rv = leases.get("l").await?.metadata.resource_version;
        assert_eq!(holder(&leases.get("l").await?), Some("alpha"));

        // Applying the same values is no conflict: the fields are shared.
        let shared = leases
            .patch(
                "l",
                &PatchParams::apply("beta"),
                &Patch::Apply(lease("l", "alpha")),
            )
            .await?;
        assert_ne!(
            shared.metadata.resource_version, rv,
            "the new owner is recorded"
        );
        assert_eq!(
            fields(&shared, "beta", "Apply"),
            fields(&shared, "alpha", "Apply")
        );

        // Force takes holderIdentity from alpha, who keeps the shared duration.
        let forced = leases
            .patch(
                "l",
                &PatchParams::apply("beta").force(),
                &Patch::Apply(lease("l", "beta")),
            )
            .await?;
        assert_eq!(holder(&forced), Some("beta"));
        assert_eq!(
            fields(&forced, "alpha", "Apply"),
            Some(json!({"f:spec": {"f:leaseDurationSeconds": {}}}))
        );
        assert_eq!(
            fields(&forced, "beta", "Apply"),
            Some(json!({"f:spec": {"f:holderIdentity": {}, "f:leaseDurationSeconds": {}}}))
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn strategic_patches_take_and_drop_ownership() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let leases: Api<Lease> = Api::namespaced(client, "default");
        leases
            .patch(
                "l",
                &PatchParams::apply("alpha"),
                &Patch::Apply(lease("l", "alpha")),
            )
            .await?;
        let renewer = PatchParams {
            field_manager: Some("renewer".into()),
            ..PatchParams::default()
        };
        let taken = leases
            .patch(
                "l",
                &renewer,
                &Patch::Strategic(json!({"spec": {"holderIdentity": "gamma"}})),
            )
            .await?;
        let upd = entry(&taken, "renewer", "Update").context("renewer's entry")?;
        assert_eq!(upd.api_version.as_deref(), Some("coordination.k8s.io/v1"));
        assert_eq!(
            fields(&taken, "renewer", "Update"),
            Some(json!({"f:spec": {"f:holderIdentity": {}}}))
        );
        assert_eq!(
            fields(&taken, "alpha", "Apply"),
            Some(json!({"f:spec": {"f:leaseDurationSeconds": {}}}))
        );

        // alpha applying its holder again now meets the updater.
        let s = status(
            leases
                .patch(
                    "l",
                    &PatchParams::apply("alpha"),
                    &Patch::Apply(lease("l", "alpha")),
                )
                .await,
        )?;
        assert_eq!(s.code, 409);
        assert_eq!(
            s.message,
            "Apply failed with 1 conflict: conflict with \"renewer\" using coordination.k8s.io/v1: .spec.holderIdentity"
        );

        // A patch that deletes the field leaves it without owner; the apply then succeeds.
        let released = leases
            .patch(
                "l",
                &renewer,
                &Patch::Strategic(json!({"spec": {"holderIdentity": null}})),
            )
            .await?;
        assert_eq!(holder(&released), None);
        assert!(entry(&released, "renewer", "Update").is_none());
        let again = leases
            .patch(
                "l",
                &PatchParams::apply("alpha"),
                &Patch::Apply(lease("l", "alpha")),
            )
            .await?;
        assert_eq!(holder(&again), Some("alpha"));

        // Fields alpha stops applying go; a client-sent `managedFields: []` clears the record.
        let pruned = leases
            .patch(
                "l",
                &PatchParams::apply("alpha"),
                &Patch::Apply(json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                     "metadata": {"name": "l"}, "spec": {"holderIdentity": "alpha"}})),
            )
            .await?;
        assert_eq!(
            pruned.spec.as_ref().and_then(|s| s.lease_duration_seconds),
            None
        );
        let cleared = leases
            .patch(
                "l",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"managedFields": [{}]}})),
            )
            .await?;
        assert_eq!(cleared.metadata.managed_fields, None);

        // Without fieldManager the writer is named by its user agent (kube-rs sends none).
        let anonymous = leases
            .patch(
                "l",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"leaseTransitions": 1}})),
            )
            .await?;
        assert_eq!(
            fields(&anonymous, "", "Update"),
            Some(json!({"f:spec": {"f:leaseTransitions": {}}}))
        );
        Ok(())
    })
    .await
}

/// Replicas racing per round.
const REPLICAS: usize = 5;
/// Rounds, each on a fresh Lease.
const ROUNDS: usize = 20;
/// The most each request of a replica is held back, so that replicas
/// interleave as they do across a network (without it, loopback answers so
/// fast that the first replica is usually done before the others start).
const JITTER_MS: u64 = 20;
/// How long after the first replica reports leadership any other one would
/// have reported it too (a double winner reports within milliseconds; a
/// loser backs off at least 100 ms and then sees the holder).
const SETTLE: Duration = Duration::from_millis(150);

/// kube-lease-manager relies on apply conflicts for exclusivity: with
/// replicas racing for a fresh Lease, exactly one becomes leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_lease_managers_elect_exactly_one_leader() -> anyhow::Result<()> {
    bounded(async {
        let (server, client) = start().await?;
        let leases: Api<Lease> = Api::namespaced(client, "default");
        let proxy = Proxy::start(server.addr(), JITTER_MS).await?;
        let mut clients = Vec::new();
        for _ in 0..REPLICAS {
            clients.push(client_via(&server, proxy.addr).await?);
        }
        for round in 0..ROUNDS {
            let name = format!("race-{round}");
            let managers: Vec<LeaseManager> = futures::future::try_join_all(
                clients
                    .iter()
                    .enumerate()
                    .map(|(i, c)| replica(c.clone(), &name, format!("replica-{i}"))),
            )
            .await?;
            let mut racing: FuturesUnordered<_> = managers
                .iter()
                .enumerate()
                .map(|(i, m)| async move { (i, m.changed().await) })
                .collect();
            let mut leaders = Vec::new();
            let (i, first) = tokio::time::timeout(Duration::from_secs(5), racing.next())
                .await
                .with_context(|| format!("round {round}: nobody became leader"))?
                .context("no replicas")?;
            if first? {
                leaders.push(i);
            }
            while let Ok(Some((i, r))) = tokio::time::timeout(SETTLE, racing.next()).await {
                if r? {
                    leaders.push(i);
                }
            }
            drop(racing);
            assert_eq!(leaders.len(), 1, "round {round}: leaders {leaders:?}");
            let stored = leases.get(&name).await?;
            assert_eq!(
                holder(&stored).map(str::to_string),
                leaders.first().map(|i| format!("replica-{i}")),
                "round {round}"
            );
        }
        Ok(())
    })
    .await
}

/// The interleaving that gives two leaders when applies never conflict,
/// forced: replica B reads the free Lease, its apply is held back until
/// replica A has taken the Lease and confirmed it, then B's apply goes
/// through. The server must refuse it (409), so B stays a follower.
#[tokio::test]
async fn an_apply_decided_on_a_stale_read_loses_to_the_holder() -> anyhow::Result<()> {
    bounded(async {
        let (server, client) = start().await?;
        let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
        let proxy = Proxy::start(server.addr(), 0).await?;
        let a = replica(client, "stale", "replica-a".into()).await?;
        let b = replica(
            client_via(&server, proxy.addr).await?,
            "stale",
            "replica-b".into(),
        )
        .await?;

        proxy.hold_patches.send_replace(true);
        let held = proxy.held.notified();
        let b_changed = b.changed();
        tokio::pin!(b_changed);
        // B reads the Lease free and sends its apply, which the proxy holds.
        tokio::select! {
            () = held => {}
            r = &mut b_changed => anyhow::bail!("B finished before applying: {r:?}"),
        }
        // A takes the Lease meanwhile.
        let a_leads = tokio::time::timeout(Duration::from_secs(5), a.changed()).await??;
        assert!(a_leads);
        assert_eq!(holder(&leases.get("stale").await?), Some("replica-a"));

        proxy.hold_patches.send_replace(false);
        let b_leads = tokio::time::timeout(Duration::from_millis(500), &mut b_changed).await;
        assert!(
            !matches!(b_leads, Ok(Ok(true))),
            "B became leader on a stale read: {b_leads:?}"
        );
        assert_eq!(holder(&leases.get("stale").await?), Some("replica-a"));
        Ok(())
    })
    .await
}

/// A LeaseManager as the agent and extender build theirs (30 s Lease, 5 s grace).
async fn replica(
    client: kube::Client,
    lease: &str,
    identity: String,
) -> kube_lease_manager::Result<LeaseManager> {
    LeaseManagerBuilder::new(client, lease)
        .with_namespace("default")
        .with_identity(identity)
        .with_duration(30)
        .with_grace(5)
        .with_create_mode(LeaseCreateMode::AutoCreate)
        .build()
        .await
}

/// A client of `server` whose requests go through `proxy`.
async fn client_via(server: &RunningApiServer, proxy: SocketAddr) -> anyhow::Result<kube::Client> {
    let mut config = server.config().await?;
    config.cluster_url = format!("http://{proxy}").parse()?;
    Ok(kube::Client::try_from(config)?)
}

/// A loopback TCP proxy in front of the API server that can hold requests
/// back: each chunk a client sends waits a random 0..=`jitter_ms` ms, and
/// while `hold_patches` is true a chunk starting a PATCH request waits until
/// it turns false (`held` is notified). Answers pass at once. Runs until the
/// test ends.
struct Proxy {
    addr: SocketAddr,
    hold_patches: watch::Sender<bool>,
    held: Arc<Notify>,
}

impl Proxy {
    async fn start(target: SocketAddr, jitter_ms: u64) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (hold_patches, gate) = watch::channel(false);
        let held = Arc::new(Notify::new());
        let notify = held.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (mut gate, notify) = (gate.clone(), notify.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client_rx, mut client_tx) = inbound.into_split();
                    let (mut server_rx, mut server_tx) = outbound.into_split();
                    let upstream = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        while let Ok(n @ 1..) = client_rx.read(&mut buf).await {
                            let jitter =
                                u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % (jitter_ms + 1);
                            tokio::time::sleep(Duration::from_millis(jitter)).await;
                            if buf.starts_with(b"PATCH ") && *gate.borrow_and_update() {
                                notify.notify_one();
                                if gate.wait_for(|hold| !hold).await.is_err() {
                                    break;
                                }
                            }
                            if server_tx.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = server_tx.shutdown().await;
                    };
                    let downstream = async {
                        let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
                        let _ = client_tx.shutdown().await;
                    };
                    tokio::join!(upstream, downstream);
                });
            }
        });
        Ok(Self {
            addr,
            hold_patches,
            held,
        })
    }
}
