//! Starting and stopping the emulator: [`CloudSim::start`] binds the port and serves the
//! OpenAPI gateway on `/`, the metadata services under `/instances/`, and the admin API
//! under `/_sim/`.

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, web};

use crate::actions::Product;
use crate::api;
use crate::apierror::ApiError;
use crate::config::SimConfig;
use crate::error::Error;
use crate::runtime::{Admin, Shared};

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

impl CloudSim {
    /// Builds the world from `config` and starts serving on `config.listen`.
    pub async fn start(config: SimConfig) -> Result<RunningSim, Error> {
        let listen = config.listen;
        let region = config.region_id.clone();
        let shared = Shared::new(config)?;
        let admin = Admin {
            shared: shared.clone(),
        };
        let data = web::Data::new(shared);
        let admin_data = web::Data::new(admin.clone());
        let server = actix_web::HttpServer::new(move || {
            let region = region.clone();
            App::new()
                .app_data(data.clone())
                .app_data(admin_data.clone())
                .app_data(web::JsonConfig::default().limit(256 * 1024))
                .configure(crate::admin_http::routes)
                .route(
                    "/instances/{instance}/latest/{tail:.*}",
                    web::route().to(crate::metadata::handle),
                )
                .route("/", web::route().to(api::handle))
                .default_service(web::to(move || {
                    let region = region.clone();
                    async move {
                        let rid = api::request_id();
                        let resp: HttpResponse = api::error_response(
                            &ApiError::api_not_found(),
                            &rid,
                            Product::Vpc,
                            &region,
                            None,
                        );
                        resp
                    }
                }))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(listen)
        .map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| Error::InvalidConfig("the server bound no address".into()))?;
        let server = server.run();
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
