//! Wiring: the shared view, the watchers, the cloud view, the reservation sweeper, leader
//! election and the HTTP(S) server, started together and stopped together.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use eip_cloud::Cloud;

use crate::bind::{BindCoordinator, KubeBinder};
use crate::config::Settings;
use crate::error::Error;
use crate::http::{AppState, Readiness, configure};
use crate::owners::Owners;
use crate::state::ClusterState;
use crate::{cloudview, events, lease, watch};

/// How long a bound reservation waits for the pod watch before it is dropped.
pub const RESERVATION_TTL: Duration = Duration::from_secs(300);

/// A started extender.
#[derive(Debug)]
pub struct RunningExtender {
    /// Where it listens.
    pub addrs: Vec<std::net::SocketAddr>,
    /// The view (for tests and debugging).
    pub state: Arc<RwLock<ClusterState>>,
    /// Readiness flags.
    pub ready: Arc<Readiness>,
    tls: bool,
    server: actix_web::dev::ServerHandle,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    election: Option<lease::Election>,
}

impl RunningExtender {
    /// Base URL of the first address (`http://127.0.0.1:port`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        self.addrs
            .first()
            .map(|a| format!("{scheme}://{a}"))
            .unwrap_or_default()
    }

    /// Wait until the server stops (SIGINT/SIGTERM are handled by actix: graceful stop),
    /// then, with leader election, release the Lease: once no request is answered any
    /// more, a standby takes over within its retry interval.
    pub async fn wait(mut self) -> Result<(), Error> {
        let r = (&mut self.done).await;
        if let Some(election) = self.election.take() {
            election.release().await;
        }
        for t in &self.tasks {
            t.abort();
        }
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(Error::Serve {
                addr: format!("{:?}", self.addrs),
                source,
            }),
            Err(e) => Err(Error::Invalid(format!("server task failed: {e}"))),
        }
    }

    /// Stop gracefully and wait.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.server.stop(true).await;
        self.wait().await
    }
}

fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<rustls::ServerConfig, Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| Error::Tls(format!("cannot read {}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Tls(format!("bad certificate in {}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::Tls(format!("cannot read key {}: {e}", key.display())))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(e.to_string()))
}

/// Start everything: watchers on `client`, the cloud view on `cloud` (none: EIP pods are
/// refused until one is given), and the server on `settings.listen`.
pub async fn start(
    settings: &Settings,
    client: kube::Client,
    cloud: Option<Arc<dyn Cloud>>,
) -> Result<RunningExtender, Error> {
    // TLS material first, so a bad file fails before anything is started
    let tls = match &settings.tls {
        Some((cert, key)) => Some(tls_config(cert, key)?),
        None => None,
    };
    let state = Arc::new(RwLock::new(ClusterState::new(
        settings.eip_quota,
        settings.region.clone(),
    )));
    let ready = Arc::new(Readiness::default());
    let binder = Arc::new(BindCoordinator::new(
        state.clone(),
        Arc::new(KubeBinder::new(client.clone())),
    ));
    if settings.leader_elect {
        // not ready until the lease is held, from the first moment
        ready
            .leader_election
            .store(true, std::sync::atomic::Ordering::Release);
    }
    let data = web::Data::new(
        AppState::new(
            state.clone(),
            Some(binder.clone()),
            ready.clone(),
            settings.scoring,
        )
        .with_owners(Arc::new(Owners::new(client.clone()))),
    );
    let prefix = settings.path_prefix.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(configure(&prefix))
    })
    .shutdown_timeout(10);
    // Bind before anything is spawned: a busy or forbidden address fails with nothing
    // left running.
    let server = match tls {
        Some(cfg) => server.bind_rustls_0_23(settings.listen, cfg),
        None => server.bind(settings.listen),
    }
    .map_err(|source| Error::Serve {
        addr: settings.listen.to_string(),
        source,
    })?;
    let mut tasks = Vec::new();
    let (eni_changes, eni_seen) = tokio::sync::watch::channel(watch::EniFacts::default());
    tasks.push(tokio::spawn(watch::run(
        client.clone(),
        state.clone(),
        ready.clone(),
        eni_changes,
    )));
    tasks.push(tokio::spawn(events::run(
        client.clone(),
        eni_seen.clone(),
        ready.clone(),
    )));
    if let Some(cloud) = cloud {
        tasks.push(tokio::spawn(cloudview::run(
            cloud,
            state.clone(),
            settings.cloud_refresh,
            settings.vpc_id.clone(),
            eni_seen.clone(),
        )));
    }
    {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                let n = state
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .sweep_reservations(RESERVATION_TTL);
                if n > 0 {
                    tracing::warn!(
                        released = n,
                        "dropped reservations the pod watch never confirmed"
                    );
                }
                // bind guards of nodes deleted from the watch
                binder.prune_guards();
            }
        }));
    }
    let election = settings.leader_elect.then(|| {
        let ns = std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "kube-system".to_string());
        lease::Election::start(client.clone(), lease::LeaseConfig::new(ns), ready.clone())
    });
    let addrs = server.addrs();
    let server = server.run();
    let handle = server.handle();
    let done = tokio::spawn(server);
    tracing::info!(addrs = ?addrs, prefix = %settings.path_prefix, "eip-extender listening");
    Ok(RunningExtender {
        addrs,
        state,
        ready,
        tls: settings.tls.is_some(),
        server: handle,
        done,
        tasks,
        election,
    })
}

/// What `main` calls: resolve the cluster and the cloud, start, serve until stopped.
pub async fn run(settings: Settings) -> Result<(), Error> {
    let client = kube::Client::try_default().await.map_err(Error::Kube)?;
    let cloud = build_cloud(&settings)?;
    start(&settings, client, Some(cloud)).await?.wait().await
}

/// The real cloud client for these settings, credentials as eip-cloud reads them: the
/// ALIBABA_CLOUD_* variables, then `credentials_dir` (which must be a directory), then the
/// ECS RAM role.
pub fn build_cloud(settings: &Settings) -> Result<Arc<dyn Cloud>, Error> {
    use eip_cloud::credentials::{CredentialsChain, FileCredentials};
    use eip_cloud::metadata::{DEFAULT_METADATA_URL, MetadataClient};
    if let Some(dir) = &settings.credentials_dir {
        FileCredentials::check_dir(dir).map_err(|e| Error::Invalid(e.to_string()))?;
    }
    let chain = CredentialsChain::standard(
        None,
        settings.credentials_dir.clone(),
        MetadataClient::new(DEFAULT_METADATA_URL),
        None,
    );
    let mut b = eip_cloud::AliyunClient::builder()
        .region(settings.region.clone())
        .credentials_provider(Arc::new(chain));
    if let Some(ep) = &settings.cloud_endpoint {
        b = b.endpoint(ep.clone());
    }
    let client = b
        .build()
        .map_err(|e| Error::Invalid(format!("failed to build the cloud client: {e}")))?;
    Ok(Arc::new(client))
}
