//! Starting and stopping the emulator: [`CloudSim::start`] binds the port and serves the
//! OpenAPI gateway on `/`, the metadata services under `/instances/`, and the admin API
//! under `/_sim/`.

use std::net::SocketAddr;
use std::time::Duration;

use actix_service::ServiceFactoryExt as _;
use actix_web::dev::{AppConfig, Extensions};
use actix_web::rt::net::TcpStream;
use actix_web::{App, HttpRequest, HttpResponse, web};

use crate::actions::Product;
use crate::api;
use crate::apierror::ApiError;
use crate::config::SimConfig;
use crate::error::Error;
use crate::runtime::{Admin, Shared};
use crate::transport::{Guarded, REFUSAL_PATH, RefusalSlot};

/// Entry point of the emulator.
#[derive(Debug, Clone, Copy)]
pub struct CloudSim;

/// A running emulator.
#[derive(Debug)]
pub struct RunningSim {
    addr: SocketAddr,
    admin: Admin,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The gateway's region, for errors answered before any action is known.
#[derive(Debug, Clone)]
struct Region(String);

impl CloudSim {
    /// Builds the world from `config` and starts serving on `config.listen`.
    ///
    /// HTTP/1 is served through actix-http directly rather than `HttpServer`, so that each
    /// connection passes through [`Guarded`] first: a request head that actix would refuse
    /// with an empty body is answered with the real error body instead.
    pub async fn start(config: SimConfig) -> Result<RunningSim, Error> {
        let listen = config.listen;
        let region = Region(config.region_id.clone());
        let shared = Shared::new(config)?;
        let admin = Admin {
            shared: shared.clone(),
        };
        let data = web::Data::new(shared);
        let admin_data = web::Data::new(admin.clone());
        let bind_error = |source| Error::Bind {
            addr: listen,
            source,
        };
        let listener = std::net::TcpListener::bind(listen).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let builder = actix_web::dev::Server::build();
        // Kept-alive connections close when the server stops, rather than at its timeout.
        let stopping = builder.graceful_shutdown_signal();
        let server = builder
            .workers(2)
            .disable_signals()
            .shutdown_timeout(1)
            .listen("eip-cloudsim", listener, move || {
                let app = App::new()
                    .app_data(data.clone())
                    .app_data(admin_data.clone())
                    .app_data(web::Data::new(region.clone()))
                    .app_data(web::JsonConfig::default().limit(256 * 1024))
                    .configure(crate::admin_http::routes)
                    .route(
                        "/instances/{instance}/latest/{tail:.*}",
                        web::route().to(crate::metadata::handle),
                    )
                    .route("/", web::route().to(api::handle))
                    .route(REFUSAL_PATH, web::route().to(refused))
                    .default_service(web::to(not_found));
                let stopping = stopping.clone();
                let http = actix_http::HttpService::build()
                    .graceful_shutdown_signal(move || {
                        let stopping = stopping.clone();
                        async move { stopping.notified().await }
                    })
                    // Guarded times request heads out itself, with a body.
                    .client_request_timeout(Duration::ZERO)
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .on_connect_ext(|io: &Guarded<TcpStream>, ext: &mut Extensions| {
                        ext.insert(io.slot());
                    })
                    .h1(actix_service::map_config(app, |()| AppConfig::default()));
                actix_service::fn_service(|io: TcpStream| async move {
                    let peer = io.peer_addr().ok();
                    Ok((Guarded::new(io), peer))
                })
                .and_then(http)
            })
            .map_err(bind_error)?
            .run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(RunningSim {
            addr,
            admin,
            handle,
            task,
        })
    }
}

/// Any path that is not served: `InvalidApi.NotFound` with the real body.
async fn not_found(region: web::Data<Region>) -> HttpResponse {
    api::error_response(
        &ApiError::api_not_found(),
        &api::request_id(),
        Product::Vpc,
        &region.0,
        None,
    )
}

/// Answers the request that replaced a refused one (see [`crate::transport`]).
async fn refused(req: HttpRequest, region: web::Data<Region>) -> HttpResponse {
    match req.conn_data::<RefusalSlot>().and_then(RefusalSlot::take) {
        Some(why) => api::error_response(
            &why.api_error(),
            &api::request_id(),
            Product::Vpc,
            &region.0,
            None,
        ),
        None => not_found(region).await,
    }
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The in-process admin handle.
    pub fn admin(&self) -> Admin {
        self.admin.clone()
    }

    /// The metadata base URL of one instance (`<url>/instances/<id>`).
    pub fn metadata_url(&self, instance_id: &str) -> String {
        format!("{}/instances/{instance_id}", self.url())
    }

    /// Stops serving (in-flight requests get a second to finish).
    pub async fn shutdown(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }

    /// Serves until the server stops on its own (for the binary).
    pub async fn wait(self) -> Result<(), Error> {
        match self.task.await {
            Ok(r) => r.map_err(Error::Serve),
            Err(e) => Err(Error::Serve(std::io::Error::other(e.to_string()))),
        }
    }
}
