//! The OpenAPI gateway: one handler for both products. Reads the request (bounded body),
//! routes by action and version, counts the call, verifies the signature, applies the
//! rate limit and any injected fault, runs the action (with ClientToken replay), and
//! renders the real success or error body.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt as _;
use serde_json::Value;

use crate::actions::{self, Product};
use crate::apierror::ApiError;
use crate::auth::{self, RawRequest};
use crate::config::FaultEffect;
use crate::params::Params;
use crate::runtime::{Runtime, Shared};

/// Actions whose `ClientToken` makes a retry return the first result.
const IDEMPOTENT: &[&str] = &[
    "AllocateEipAddress",
    "AssociateEipAddress",
    "UnassociateEipAddress",
    "AssignPrivateIpAddresses",
];

/// A fresh `RequestId` in the service's format.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase()
}

/// Renders an error with the real body.
pub fn error_response(
    err: &ApiError,
    rid: &str,
    product: Product,
    region: &str,
    retry_after: Option<Duration>,
) -> HttpResponse {
    let body = eip_cloud::model::ErrorBody {
        request_id: rid.to_string(),
        host_id: product.host(region),
        code: err.code.clone(),
        message: err.message.clone(),
        recommend: format!(
            "https://api.aliyun.com/troubleshoot?q={}&product={}&requestId={}",
            err.code,
            product.name(),
            rid
        ),
    };
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = HttpResponse::build(status);
    resp.content_type("application/json;charset=utf-8")
        .insert_header(("x-acs-request-id", rid.to_string()));
    if let Some(wait) = retry_after {
        resp.insert_header(("x-acs-retry-after", wait.as_millis().max(1).to_string()));
    }
    resp.body(serde_json::to_string(&body).unwrap_or_default())
}

fn json_response(body: &Value, rid: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json;charset=utf-8")
        .insert_header(("x-acs-request-id", rid.to_string()))
        .body(body.to_string())
}

/// Reads the body, refusing more than `limit` bytes.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                400,
                "InvalidParameter",
                "The request body could not be read.",
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("The request body exceeds {limit} bytes."),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

struct Prepared {
    action: String,
    product: Product,
    params: Params,
    fault: Option<FaultEffect>,
}

/// The gateway handler (mounted on `/`).
pub(crate) async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let rid = request_id();
    let (region, limit, retry_header) = {
        let rt = shared.lock();
        (
            rt.config.region_id.clone(),
            rt.config.max_body_bytes,
            rt.config.rate_limits.retry_after_header,
        )
    };
    // The product is only known after routing; errors before that report as VPC.
    let mut product = Product::Vpc;
    let result = async {
        let method = req.method().as_str().to_string();
        if method != "GET" && method != "POST" {
            return Err((
                ApiError::new(
                    400,
                    "UnsupportedHTTPMethod",
                    "Specified HTTP method is not supported.",
                ),
                None,
            ));
        }
        let body = read_body(payload, limit).await.map_err(|e| (e, None))?;
        let query = eip_cloud::signature::parse_form(req.query_string());
        let is_form = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let form = if is_form {
            eip_cloud::signature::parse_form(&String::from_utf8_lossy(&body))
        } else {
            Vec::new()
        };
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let raw = RawRequest {
            method: &method,
            query: &query,
            form: &form,
            headers: &headers,
            body: &body,
        };
        let prepared = {
            let mut rt = shared.lock();
            prepare(&mut rt, &raw, &mut product)?
        };
        run(&shared, prepared, &rid).await.map_err(|e| (e, None))
    }
    .await;
    match result {
        Ok(body) => json_response(&body, &rid),
        Err((err, wait)) => {
            if err.status >= 500 {
                tracing::warn!(code = %err.code, "api call failed");
            }
            error_response(&err, &rid, product, &region, wait.filter(|_| retry_header))
        }
    }
}

fn prepare(
    rt: &mut Runtime,
    raw: &RawRequest<'_>,
    product: &mut Product,
) -> Result<Prepared, (ApiError, Option<Duration>)> {
    let route = auth::route(raw).map_err(|e| (e, None))?;
    *rt.calls.entry(route.action.clone()).or_insert(0) += 1;
    if route.version == actions::ECS_VERSION {
        *product = Product::Ecs;
    }
    *product = actions::product_of(&route.action, &route.version).map_err(|e| (e, None))?;
    let sts = rt
        .keyring
        .verify(raw, route.scheme, jiff::Timestamp::now(), Instant::now())
        .map_err(|e| (e, None))?;
    let label = match (route.scheme, sts) {
        (auth::Scheme::V1, false) => "V1",
        (auth::Scheme::V1, true) => "V1+STS",
        (auth::Scheme::V3, false) => "V3",
        (auth::Scheme::V3, true) => "V3+STS",
    };
    *rt.auth_schemes.entry(label.to_string()).or_insert(0) += 1;
    rt.rate_limit(&route.action)
        .map_err(|wait| (ApiError::throttled(), Some(wait)))?;
    let fault = rt.pick_fault(&route.action);
    let params = Params::from_pairs(raw.query.iter().chain(raw.form.iter()).cloned());
    Ok(Prepared {
        action: route.action,
        product: *product,
        params,
        fault,
    })
}

async fn run(shared: &Shared, p: Prepared, rid: &str) -> Result<Value, ApiError> {
    let mut lose_after = None;
    match &p.fault {
        None => {}
        Some(FaultEffect::Latency { ms }) => tokio::time::sleep(Duration::from_millis(*ms)).await,
        Some(FaultEffect::Error {
            code,
            status,
            message,
        }) => {
            return Err(ApiError::new(
                *status,
                code.clone(),
                message
                    .clone()
                    .unwrap_or_else(|| format!("Injected fault {code}.")),
            ));
        }
        Some(FaultEffect::Timeout { hang_ms }) => {
            tokio::time::sleep(Duration::from_millis(*hang_ms)).await;
            return Err(ApiError::unavailable());
        }
        Some(FaultEffect::LoseResponse { hang_ms }) => lose_after = Some(*hang_ms),
    }
    let result = {
        let mut rt = shared.lock();
        execute(&mut rt, &p, rid)
    };
    let err = result.as_ref().err();
    tracing::debug!(
        action = %p.action,
        code = err.map(|e| e.code.as_str()).unwrap_or("OK"),
        detail = err.and_then(|e| e.detail.as_deref()),
        "api call"
    );
    if let Some(hang) = lose_after {
        tokio::time::sleep(Duration::from_millis(hang)).await;
        return Err(ApiError::unavailable());
    }
    result
}

fn execute(rt: &mut Runtime, p: &Prepared, rid: &str) -> Result<Value, ApiError> {
    let now = Instant::now();
    // A dry run is checked exactly as the call would run (its parameters, then the state it
    // would meet) on a scratch copy of the account: a call that would fail fails the same
    // way, one that would succeed answers DryRunOperation, and nothing changes either way.
    if p.params.bool("DryRun")? == Some(true) {
        let mut scratch = rt.state.clone();
        dispatch(&mut scratch, p, rid, now)?;
        return Err(ApiError::new(
            400,
            "DryRunOperation",
            "Request validation has been passed with DryRun flag set.",
        ));
    }
    let token = IDEMPOTENT
        .contains(&p.action.as_str())
        .then(|| p.params.get("ClientToken"))
        .flatten()
        .map(|t| (p.action.clone(), t.to_string()));
    let fingerprint = p.params.fingerprint();
    if let Some(key) = &token
        && let Some((fp, body)) = rt.tokens.get(key)
    {
        if *fp != fingerprint {
            return Err(ApiError::new(
                400,
                "IdempotentParameterMismatch",
                "The request is retried with updated parameters.",
            ));
        }
        let mut body = body.clone();
        if let Some(obj) = body.as_object_mut() {
            obj.insert("RequestId".into(), Value::String(rid.to_string()));
        }
        return Ok(body);
    }
    let result = dispatch(&mut rt.state, p, rid, now)?;
    if let Some(key) = token {
        rt.tokens.insert(key, (fingerprint, result.clone()));
    }
    Ok(result)
}

fn dispatch(
    state: &mut crate::state::SimState,
    p: &Prepared,
    rid: &str,
    now: Instant,
) -> Result<Value, ApiError> {
    match p.product {
        Product::Vpc => actions::vpc::handle(state, &p.action, &p.params, rid, now),
        Product::Ecs => actions::ecs::handle(state, &p.action, &p.params, rid, now),
    }
}
