//! Operations endpoint: `/healthz` (liveness: the agent's loop runs), `/readyz` (readiness:
//! the start-up pass finished, see [`Health`]), `/metrics` (Prometheus text),
//! `/debug/state` (JSON).

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;

use crate::controller::Context;
use crate::error::Error;
use crate::runner::Health;

fn probe(ok: bool, not_ok: &'static str) -> HttpResponse {
    if ok {
        HttpResponse::Ok().content_type("text/plain").body("ok")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(not_ok)
    }
}

async fn healthz(health: web::Data<Arc<Health>>) -> HttpResponse {
    probe(health.is_alive(), "the agent's loop stopped")
}

async fn readyz(health: web::Data<Arc<Health>>) -> HttpResponse {
    probe(
        health.is_ready(),
        "the start-up pass has not finished: the pods, PodEIPs and EIPs of this node are being reconciled",
    )
}

async fn metrics(ctx: web::Data<Arc<Context>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(ctx.metrics.encode())
}

async fn debug_state(ctx: web::Data<Arc<Context>>) -> HttpResponse {
    let s = ctx.switches();
    HttpResponse::Ok().json(json!({
        "node": ctx.cfg.node_name,
        "clusterId": ctx.cfg.cluster_id,
        "instanceId": ctx.instance_id,
        "switches": {"enableEipPool": s.eip_enabled, "allowEipRob": s.allow_rob, "invalid": s.invalid},
        "pods": ctx.debug_state(),
    }))
}

/// A running operations server.
#[derive(Debug)]
pub struct OpsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl OpsServer {
    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// Serves the operations endpoints on `addr` (port 0 picks a free port).
pub fn serve(addr: SocketAddr, ctx: Arc<Context>, health: Arc<Health>) -> Result<OpsServer, Error> {
    let data = web::Data::new(ctx);
    let health = web::Data::new(health);
    let err = |source| Error::Serve {
        addr: addr.to_string(),
        source,
    };
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(health.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .route("/debug/state", web::get().to(debug_state))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)
    .map_err(err)?;
    let bound = server.addrs().first().copied().unwrap_or(addr);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::warn!(error = %e, "operations endpoint stopped");
        }
    });
    Ok(OpsServer {
        addr: bound,
        handle,
    })
}
