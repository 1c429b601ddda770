//! The ECS instance metadata service, one per simulated instance, under
//! `/instances/<instance-id>/latest/...`: IMDSv2 tokens, the instance and network items
//! Terway and the agent read, and RAM role STS credentials.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};

use crate::runtime::{Runtime, Shared};
use crate::state::Eni;

const TOKEN_HEADER: &str = "x-aliyun-ecs-metadata-token";
const TTL_HEADER: &str = "x-aliyun-ecs-metadata-token-ttl-seconds";

fn text(status: u16, body: impl Into<String>) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type("text/plain")
        .body(body.into())
}

fn not_found() -> HttpResponse {
    text(404, "Not Found")
}

/// Handler for `/instances/{instance}/latest/{tail:.*}`.
pub async fn handle(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let (instance, tail) = path.into_inner();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut rt = shared.lock();
    if !rt.state.instances.contains_key(&instance) {
        return not_found();
    }
    let now = Instant::now();
    if tail == "api/token" {
        if req.method() != actix_web::http::Method::PUT {
            return text(405, "Method Not Allowed");
        }
        if header("x-forwarded-for").is_some() {
            return text(403, "Forbidden");
        }
        let ttl = header(TTL_HEADER).and_then(|v| v.trim().parse::<u64>().ok());
        let Some(ttl) = ttl.filter(|t| (1..=21600).contains(t)) else {
            return text(400, "Bad Request");
        };
        rt.imds_tokens.retain(|_, (_, exp)| *exp > now);
        let token = uuid::Uuid::new_v4().simple().to_string();
        rt.imds_tokens
            .insert(token.clone(), (instance, now + Duration::from_secs(ttl)));
        return text(200, token);
    }
    if req.method() != actix_web::http::Method::GET {
        return text(405, "Method Not Allowed");
    }
    match header(TOKEN_HEADER) {
        Some(token) => {
            let valid = rt
                .imds_tokens
                .get(&token)
                .is_some_and(|(inst, exp)| *inst == instance && *exp > now);
            if !valid {
                return text(401, "Unauthorized");
            }
        }
        None if rt.config.metadata.require_token => return text(401, "Unauthorized"),
        None => {}
    }
    let Some(item) = tail.strip_prefix("meta-data/") else {
        return not_found();
    };
    match meta_item(&mut rt, &instance, item) {
        Some(Item::Text(s)) => text(200, s),
        Some(Item::Json(s)) => HttpResponse::Ok().content_type("application/json").body(s),
        None => not_found(),
    }
}

enum Item {
    Text(String),
    Json(String),
}

fn mac_dir(eni: &Eni) -> String {
    format!("{}/", eni.mac)
}

fn meta_item(rt: &mut Runtime, instance_id: &str, item: &str) -> Option<Item> {
    if let Some(role) = item
        .trim_end_matches('/')
        .strip_prefix("ram/security-credentials/")
    {
        if rt.state.instances.get(instance_id)?.ram_role != role {
            return None;
        }
        let cred = rt.instance_credentials(instance_id)?;
        let fmt = |ts: jiff::Timestamp| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let body = eip_cloud::model::RamRoleCredentialsBody {
            access_key_id: cred.access_key_id.clone(),
            access_key_secret: cred.access_key_secret.clone(),
            security_token: cred.security_token.clone(),
            expiration: fmt(cred.expiration),
            last_updated: fmt(cred.issued),
            code: "Success".into(),
        };
        return serde_json::to_string(&body).ok().map(Item::Json);
    }
    let st = &rt.state;
    let inst = st.instances.get(instance_id)?;
    let enis: Vec<&Eni> = inst.enis.iter().filter_map(|e| st.enis.get(e)).collect();
    let primary = enis.first().copied();
    let vsw = st.vswitches.get(&inst.vswitch_id);
    let t = |s: String| Some(Item::Text(s));
    match item.trim_end_matches('/') {
        "" => t([
            "eipv4",
            "hostname",
            "instance-id",
            "instance/",
            "mac",
            "network/",
            "owner-account-id",
            "private-ipv4",
            "ram/",
            "region-id",
            "vpc-cidr-block",
            "vpc-id",
            "vswitch-cidr-block",
            "vswitch-id",
            "zone-id",
        ]
        .join("\n")),
        "instance-id" => t(inst.instance_id.clone()),
        "region-id" => t(st.region_id.clone()),
        "zone-id" => t(inst.zone_id.clone()),
        "hostname" => t(inst.hostname.clone()),
        "owner-account-id" => t(st.account_id.clone()),
        "instance" => t("instance-type".into()),
        "instance/instance-type" => t(inst.instance_type.clone()),
        "mac" => t(primary?.mac.clone()),
        "vpc-id" => t(st.vpc_id.clone()),
        "vpc-cidr-block" => t(st.vpc_cidr.to_string()),
        "vswitch-id" => t(inst.vswitch_id.clone()),
        "vswitch-cidr-block" => t(vsw?.cidr_block.to_string()),
        "private-ipv4" => t(primary?.primary_ip.to_string()),
        "eipv4" => {
            let eip = st.eips.values().find(|e| {
                e.status == crate::state::EipStatus::InUse
                    && e.association.as_ref().is_some_and(|a| {
                        a.instance_type == "EcsInstance" && a.instance_id == inst.instance_id
                    })
            })?;
            t(eip.ip_address.to_string())
        }
        "network" => t("interfaces/".into()),
        "network/interfaces" => t("macs/".into()),
        "network/interfaces/macs" => t(enis
            .iter()
            .map(|e| mac_dir(e))
            .collect::<Vec<_>>()
            .join("\n")),
        "ram" => t("security-credentials/".into()),
        "ram/security-credentials" => t(inst.ram_role.clone()),
        other => {
            let rest = other.strip_prefix("network/interfaces/macs/")?;
            let (mac, field) = rest.split_once('/').unwrap_or((rest, ""));
            let eni = enis.iter().find(|e| e.mac == mac)?;
            let evsw = st.vswitches.get(&eni.vswitch_id)?;
            match field {
                "" => t([
                    "gateway",
                    "netmask",
                    "network-interface-id",
                    "primary-ip-address",
                    "private-ipv4s",
                    "vpc-cidr-block",
                    "vpc-id",
                    "vswitch-cidr-block",
                    "vswitch-id",
                ]
                .join("\n")),
                "network-interface-id" => t(eni.eni_id.clone()),
                "primary-ip-address" => t(eni.primary_ip.to_string()),
                "private-ipv4s" => {
                    let ips: Vec<String> = eni.ips().map(|i| i.to_string()).collect();
                    t(serde_json::to_string(&ips).ok()?)
                }
                "netmask" => t(evsw.cidr_block.netmask().to_string()),
                "gateway" => t(evsw.gateway().to_string()),
                "vswitch-id" => t(eni.vswitch_id.clone()),
                "vswitch-cidr-block" => t(evsw.cidr_block.to_string()),
                "vpc-id" => t(st.vpc_id.clone()),
                "vpc-cidr-block" => t(st.vpc_cidr.to_string()),
                "ipv6s" => t("[]".into()),
                _ => None,
            }
        }
    }
}
