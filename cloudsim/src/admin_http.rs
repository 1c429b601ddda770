//! The admin API over HTTP under `/_sim/` (JSON in, JSON out): the same operations as
//! the in-process [`Admin`] handle.

use std::net::Ipv4Addr;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::config::{BandwidthPackageConfig, Delays, FaultRule, InstanceConfig, RateLimits};
use crate::error::Error;
use crate::runtime::Admin;

fn fail(e: &Error) -> HttpResponse {
    match e {
        Error::Admin(api) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(api.status)
                .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
        )
        .json(json!({"Code": api.code, "Message": api.message, "Detail": api.detail})),
        other => HttpResponse::InternalServerError()
            .json(json!({"Code": "InternalError", "Message": other.to_string()})),
    }
}

fn reply<T: serde::Serialize>(r: Result<T, Error>) -> HttpResponse {
    match r {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => fail(&e),
    }
}

/// Mounts the admin routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim")
            .route("/state", web::get().to(state))
            .route("/reset", web::post().to(reset))
            .route("/calls", web::get().to(calls))
            .route("/calls", web::delete().to(reset_calls))
            .route("/instances", web::post().to(add_instance))
            .route("/instances/{id}", web::delete().to(remove_instance))
            .route("/instances/{id}/enis", web::post().to(create_eni))
            .route("/instances/{id}/pod-ips", web::post().to(assign_pod_ip))
            .route(
                "/instances/{id}/pod-ips/{ip}",
                web::delete().to(release_pod_ip),
            )
            .route("/enis/{id}", web::delete().to(delete_eni))
            .route("/enis/{id}/ips", web::post().to(assign_ips))
            .route("/enis/{id}/ips/unassign", web::post().to(unassign_ips))
            .route("/quota", web::put().to(set_quota))
            .route("/delays", web::put().to(set_delays))
            .route("/rate-limits", web::put().to(set_rate_limits))
            .route("/faults", web::get().to(faults))
            .route("/faults", web::post().to(add_fault))
            .route("/faults", web::delete().to(clear_faults))
            .route("/bandwidth-packages", web::post().to(add_package))
            .route("/sts", web::post().to(issue_sts)),
    );
}

async fn state(a: web::Data<Admin>) -> HttpResponse {
    HttpResponse::Ok().json(a.snapshot())
}

async fn reset(a: web::Data<Admin>) -> HttpResponse {
    reply(a.reset().map(|()| json!({"reset": true})))
}

async fn calls(a: web::Data<Admin>) -> HttpResponse {
    HttpResponse::Ok().json(a.calls())
}

async fn reset_calls(a: web::Data<Admin>) -> HttpResponse {
    a.reset_calls();
    HttpResponse::Ok().json(json!({}))
}

async fn add_instance(a: web::Data<Admin>, body: web::Json<InstanceConfig>) -> HttpResponse {
    reply(
        a.add_instance(body.into_inner())
            .map(|id| json!({"instance_id": id})),
    )
}

async fn remove_instance(a: web::Data<Admin>, id: web::Path<String>) -> HttpResponse {
    reply(a.remove_instance(&id).map(|()| json!({})))
}

async fn create_eni(a: web::Data<Admin>, id: web::Path<String>) -> HttpResponse {
    reply(a.create_eni(&id).map(|eni| json!({"eni_id": eni})))
}

async fn delete_eni(a: web::Data<Admin>, id: web::Path<String>) -> HttpResponse {
    reply(a.delete_eni(&id).map(|()| json!({})))
}

async fn assign_pod_ip(a: web::Data<Admin>, id: web::Path<String>) -> HttpResponse {
    match a.assign_pod_ip(&id) {
        Ok(Some(ip)) => HttpResponse::Ok().json(ip),
        Ok(None) => HttpResponse::Conflict().json(json!({
            "Code": "NoFreePrivateIp",
            "Message": format!("instance {id} has no free private IP left"),
        })),
        Err(e) => fail(&e),
    }
}

async fn release_pod_ip(a: web::Data<Admin>, path: web::Path<(String, Ipv4Addr)>) -> HttpResponse {
    let (id, ip) = path.into_inner();
    reply(
        a.release_pod_ip(&id, ip)
            .map(|held| json!({"released": held})),
    )
}

/// Body of `POST /_sim/enis/{id}/ips`: a count or exact addresses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    ips: Vec<Ipv4Addr>,
}

async fn assign_ips(
    a: web::Data<Admin>,
    id: web::Path<String>,
    body: web::Json<AssignBody>,
) -> HttpResponse {
    let r = if body.ips.is_empty() {
        a.assign_private_ips(&id, body.count.unwrap_or(1))
    } else {
        a.assign_private_ips_exact(&id, &body.ips)
    };
    reply(r.map(|ips| json!({"ips": ips})))
}

/// Body of `POST /_sim/enis/{id}/ips/unassign`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IpsBody {
    ips: Vec<Ipv4Addr>,
}

async fn unassign_ips(
    a: web::Data<Admin>,
    id: web::Path<String>,
    body: web::Json<IpsBody>,
) -> HttpResponse {
    reply(a.unassign_private_ips(&id, &body.ips).map(|()| json!({})))
}

/// Body of `PUT /_sim/quota`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaBody {
    eip_quota: u32,
}

async fn set_quota(a: web::Data<Admin>, body: web::Json<QuotaBody>) -> HttpResponse {
    a.set_eip_quota(body.eip_quota);
    HttpResponse::Ok().json(json!({"eip_quota": body.eip_quota}))
}

async fn set_delays(a: web::Data<Admin>, body: web::Json<Delays>) -> HttpResponse {
    a.set_delays(*body);
    HttpResponse::Ok().json(*body)
}

async fn set_rate_limits(a: web::Data<Admin>, body: web::Json<RateLimits>) -> HttpResponse {
    a.set_rate_limits(body.into_inner());
    HttpResponse::Ok().json(a.snapshot().rate_limits)
}

async fn faults(a: web::Data<Admin>) -> HttpResponse {
    HttpResponse::Ok().json(a.snapshot().faults)
}

async fn add_fault(a: web::Data<Admin>, body: web::Json<FaultRule>) -> HttpResponse {
    a.add_fault(body.into_inner());
    HttpResponse::Ok().json(a.snapshot().faults)
}

async fn clear_faults(a: web::Data<Admin>) -> HttpResponse {
    a.clear_faults();
    HttpResponse::Ok().json(json!([]))
}

async fn add_package(a: web::Data<Admin>, body: web::Json<BandwidthPackageConfig>) -> HttpResponse {
    a.add_bandwidth_package(body.into_inner());
    HttpResponse::Ok().json(json!({}))
}

/// Body of `POST /_sim/sts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StsBody {
    ttl_secs: u64,
}

async fn issue_sts(a: web::Data<Admin>, body: web::Json<StsBody>) -> HttpResponse {
    let c = a.issue_sts(Duration::from_secs(body.ttl_secs));
    HttpResponse::Ok().json(json!({
        "AccessKeyId": c.access_key_id,
        "AccessKeySecret": c.access_key_secret,
        "SecurityToken": c.security_token,
        "Expiration": c.expiration.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }))
}
