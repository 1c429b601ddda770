//! The HTTP surface: one actix-web handler that parses Kubernetes API paths
//! itself (types are dynamic: CRDs add routes at run time) and maps verbs to
//! the store, plus streaming watches.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::auth::{self, Auth};
use super::convert::View;
use super::discovery;
use super::managed::{self, Writer};
use super::openapi;
use super::patch::{self, PatchKind};
use super::rbac::RequestAttributes;
use super::registry::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::status::{self, ApiError};
use super::store::{Change, ChangeKind, DeleteOpts, Store, Sub, WriteOpts};
use super::table::{self, IncludeObject};

/// State shared by all workers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub bookmark_interval: Duration,
    pub shutdown: CancellationToken,
    pub server_addr: String,
    pub auth: Auth,
}

impl Shared {
    /// The store; the guard must never live across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }

    fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

fn json_response(code: StatusCode, v: &Value) -> HttpResponse {
    HttpResponse::build(code)
        .content_type("application/json")
        .body(v.to_string())
}

fn error_response(e: &ApiError) -> HttpResponse {
    json_response(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.to_status(),
    )
}

/// The single request handler.
pub(crate) async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let query = Query(
        form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect(),
    );
    let path = req.path().to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (accept, content_type) = (header(ACCEPT), header(CONTENT_TYPE));
    let user_agent = header(USER_AGENT);
    let method = req.method().as_str().to_string();
    tracing::debug!(%method, %path, query = req.query_string(), "apiserver request");
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .map(|h| h.to_str().unwrap_or_default());
    let user = match shared.auth.authenticate(authorization) {
        Ok(None) => None,
        Ok(Some(user)) => {
            let attrs = RequestAttributes::from_request(&method, &path, &query.0);
            let policy = auth::policy(&shared.lock());
            if let Err(e) = shared.auth.authorize(&policy, &user, &attrs) {
                return error_response(&e);
            }
            Some(user)
        }
        Err(e) => return error_response(&e),
    };
    if segs == auth::SSAR_PATH {
        if method != "POST" {
            return error_response(&ApiError::method_not_allowed(&path));
        }
        let answer = serde_json::from_slice::<Value>(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid SelfSubjectAccessReview: {e}")))
            .and_then(|review| {
                let policy = auth::policy(&shared.lock());
                auth::self_subject_access_review(&policy, user.as_ref(), &review)
            });
        return match answer {
            Ok(v) => json_response(StatusCode::CREATED, &v),
            Err(e) => error_response(&e),
        };
    }
    let ctx = Ctx {
        shared: shared.into_inner(),
        query,
        accept,
        content_type,
        user_agent,
        method,
        body,
    };
    match route(&ctx, &segs, &path) {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

struct Ctx {
    shared: Arc<Shared>,
    query: Query,
    accept: String,
    content_type: String,
    user_agent: String,
    method: String,
    body: Bytes,
}

/// The write options of a request: `dryRun`, `force`, and the field manager
/// (`fieldManager`, else the user agent's prefix, as upstream), validated as
/// upstream validates `<options_kind>` (422).
fn write_opts(
    ctx: &Ctx,
    served: &ResourceType,
    sub: Sub,
    subresource: Option<&str>,
    options_kind: &str,
) -> Result<WriteOpts, ApiError> {
    let manager = match ctx.query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) => {
            if m.len() > managed::MAX_MANAGER_LEN {
                return Err(ApiError::invalid_options(
                    options_kind,
                    "fieldManager",
                    "FieldValueTooLong",
                    &format!(
                        "Too long: may not be more than {} bytes",
                        managed::MAX_MANAGER_LEN
                    ),
                ));
            }
            if let Some(c) = m.chars().find(|c| c.is_control()) {
                return Err(ApiError::invalid_options(
                    options_kind,
                    "fieldManager",
                    "FieldValueInvalid",
                    &format!("Invalid value: {m:?}: invalid character {c:?}"),
                ));
            }
            m.to_string()
        }
        None => managed::manager_from_user_agent(&ctx.user_agent),
    };
    let mut writer = Writer::update(manager, served.api_version());
    writer.subresource = subresource.unwrap_or_default().to_string();
    Ok(WriteOpts {
        sub,
        dry_run: ctx.query.dry_run(),
        writer,
        force: ctx.query.flag("force"),
    })
}

fn route(ctx: &Ctx, segs: &[&str], path: &str) -> Result<HttpResponse, ApiError> {
    let get_only = |v: Value| -> Result<HttpResponse, ApiError> {
        if ctx.method == "GET" {
            Ok(json_response(StatusCode::OK, &v))
        } else {
            Err(ApiError::method_not_allowed(path))
        }
    };
    match segs {
        [] => get_only(
            json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]}),
        ),
        ["version"] => get_only(discovery::version()),
        ["healthz" | "livez" | "readyz"] => Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ok")),
        ["openapi", "v2"] => {
            if ctx.accept.contains("protobuf") {
                // An empty protobuf message is a valid, empty openapi_v2.Document:
                // kubectl then skips client-side schema validation.
                Ok(HttpResponse::Ok()
                    .content_type("application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
                    .body(Bytes::new()))
            } else {
                get_only(
                    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": {}, "definitions": {}}),
                )
            }
        }
        ["openapi", "v3"] => {
            let store = ctx.shared.lock();
            let docs: Vec<((String, String), String)> =
                openapi::custom_group_versions(&store.registry)
                    .into_iter()
                    .filter_map(|(g, v)| {
                        let doc = openapi_doc(&store, &g, &v)?;
                        Some(((g, v), doc.to_string()))
                    })
                    .collect();
            drop(store);
            get_only(openapi::discovery(&docs))
        }
        ["openapi", "v3", "apis", g, v] => {
            let doc = openapi_doc(&ctx.shared.lock(), g, v);
            get_only(doc.ok_or_else(|| ApiError::no_route(path))?)
        }
        ["api" | "apis"] if discovery::wants_aggregated(&ctx.accept) => {
            if ctx.method != "GET" {
                return Err(ApiError::method_not_allowed(path));
            }
            let doc = discovery::aggregated(&ctx.shared.lock().registry, segs == ["api"]);
            Ok(HttpResponse::Ok()
                .content_type(discovery::AGGREGATED_CONTENT_TYPE)
                .insert_header(("Vary", "Accept"))
                .body(doc.to_string()))
        }
        ["api"] => get_only(discovery::core_versions(&ctx.shared.server_addr)),
        ["api", "v1"] => {
            let l = discovery::resource_list(&ctx.shared.lock().registry, "", "v1");
            get_only(l.ok_or_else(|| ApiError::no_route(path))?)
        }
        ["api", "v1", rest @ ..] => resource(ctx, "", "v1", rest, path),
        ["apis"] => get_only(discovery::group_list(&ctx.shared.lock().registry)),
        ["apis", g] => {
            let d = discovery::group(&ctx.shared.lock().registry, g);
            get_only(d.ok_or_else(|| ApiError::no_route(path))?)
        }
        ["apis", g, v] => {
            let l = discovery::resource_list(&ctx.shared.lock().registry, g, v);
            get_only(l.ok_or_else(|| ApiError::no_route(path))?)
        }
        ["apis", g, v, rest @ ..] => resource(ctx, g, v, rest, path),
        _ => Err(ApiError::no_route(path)),
    }
}

/// The OpenAPI v3 document of a group-version served by CRDs, if any.
fn openapi_doc(store: &Store, group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<openapi::CustomKind<'_>> = store
        .registry
        .in_group_version(group, version)
        .filter(|rt| rt.custom)
        .filter_map(|rt| {
            Some(openapi::CustomKind {
                rt,
                crd: store.crd_of(rt)?,
            })
        })
        .collect();
    (!kinds.is_empty()).then(|| openapi::group_version_doc(&kinds))
}

struct Target {
    rt: ResourceType,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn target(
    store: &Store,
    group: &str,
    version: &str,
    rest: &[&str],
    path: &str,
) -> Result<Target, ApiError> {
    let reg = &store.registry;
    if let ["namespaces", ns, plural, tail @ ..] = rest
        && let Some(rt) = reg.lookup(group, version, plural).filter(|t| t.namespaced)
        && tail.len() <= 2
    {
        return Ok(Target {
            rt: rt.clone(),
            ns: Some((*ns).to_string()),
            name: tail.first().map(|s| (*s).to_string()),
            sub: tail.get(1).map(|s| (*s).to_string()),
        });
    }
    match rest {
        [plural, tail @ ..] if tail.len() <= 2 => {
            let rt = reg
                .lookup(group, version, plural)
                .ok_or_else(|| ApiError::no_route(path))?;
            if rt.namespaced && !tail.is_empty() {
                return Err(ApiError::no_route(path));
            }
            Ok(Target {
                rt: rt.clone(),
                ns: None,
                name: tail.first().map(|s| (*s).to_string()),
                sub: tail.get(1).map(|s| (*s).to_string()),
            })
        }
        _ => Err(ApiError::no_route(path)),
    }
}

fn parse_object(ctx: &Ctx) -> Result<Value, ApiError> {
    let v = if ctx.content_type.contains("protobuf") {
        super::protobuf::decode(&ctx.body)
            .map_err(|e| ApiError::unsupported_body_type(&format!("{}: {e}", ctx.content_type)))?
    } else if ctx.content_type.contains("yaml") {
        let text = std::str::from_utf8(&ctx.body)
            .map_err(|e| ApiError::bad_request(format!("body is not UTF-8: {e}")))?;
        serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice::<Value>(&ctx.body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(v)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Full,
    Table(IncludeObject),
    Metadata,
}

fn shape(ctx: &Ctx) -> Shape {
    if table::wants_table(&ctx.accept) {
        Shape::Table(IncludeObject::parse(ctx.query.get("includeObject")))
    } else if ctx.accept.contains("as=PartialObjectMetadata") {
        Shape::Metadata
    } else {
        Shape::Full
    }
}

fn partial(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn shaped_one(rt: &ResourceType, obj: &Value, shape: Shape) -> Value {
    match shape {
        Shape::Full => obj.clone(),
        Shape::Metadata => partial(obj),
        Shape::Table(inc) => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            table::table(rt, std::slice::from_ref(obj), inc, &rv, None, true)
        }
    }
}

fn resource(
    ctx: &Ctx,
    group: &str,
    version: &str,
    rest: &[&str],
    path: &str,
) -> Result<HttpResponse, ApiError> {
    let t = target(&ctx.shared.lock(), group, version, rest, path)?;
    // A view (events.k8s.io/v1) reads and writes another type's storage.
    let view = View::of(&t.rt);
    let storage_rt = match view {
        Some(v) => v
            .storage(&ctx.shared.lock().registry)
            .cloned()
            .ok_or_else(|| ApiError::no_route(path))?,
        None => t.rt.clone(),
    };
    let rt = &storage_rt;
    let vrt = &t.rt;
    let to_view = |o: Value| -> Value {
        match view {
            Some(v) => v.shown(&o),
            None => o,
        }
    };
    let from_view = |o: Value| -> Value {
        match view {
            Some(v) => v.stored(&o),
            None => o,
        }
    };
    let ns = t.ns.clone().unwrap_or_default();
    let sub = match t.sub.as_deref() {
        None => Sub::Main,
        Some("status") if rt.status_subresource => Sub::Status,
        Some("binding") if rt.binding && ctx.method == "POST" => {
            let name = t.name.as_deref().unwrap_or_default();
            let body = parse_object(ctx)?;
            ctx.shared.lock().bind(rt, &ns, name, &body)?;
            return Ok(json_response(StatusCode::CREATED, &status::success(201)));
        }
        Some("scale") if rt.scale => {
            let name = t.name.as_deref().unwrap_or_default();
            return scale(ctx, rt, &ns, name, path);
        }
        Some("finalize") if rt.plural == "namespaces" => Sub::Main,
        Some(_) => return Err(ApiError::no_route(path)),
    };
    if rt.namespaced && t.ns.is_none() && ctx.method != "GET" {
        return Err(ApiError::method_not_allowed(path));
    }
    match (ctx.method.as_str(), t.name.as_deref()) {
        ("GET", None) => {
            if ctx.query.flag("watch") {
                watch(ctx, rt, vrt, view, t.ns.as_deref(), None)
            } else {
                list(ctx, rt, vrt, view, t.ns.as_deref())
            }
        }
        ("GET", Some(name)) => {
            if ctx.query.flag("watch") {
                return watch(ctx, rt, vrt, view, t.ns.as_deref(), Some(name));
            }
            let obj = to_view(ctx.shared.lock().get(rt, &ns, name)?);
            Ok(json_response(
                StatusCode::OK,
                &shaped_one(vrt, &obj, shape(ctx)),
            ))
        }
        ("POST", None) => {
            let opts = write_opts(ctx, vrt, sub, None, "CreateOptions")?;
            let body = from_view(parse_object(ctx)?);
            let obj = ctx.shared.lock().create(rt, &ns, body, &opts)?;
            Ok(json_response(StatusCode::CREATED, &to_view(obj)))
        }
        ("PUT", Some(name)) => {
            let opts = write_opts(ctx, vrt, sub, t.sub.as_deref(), "UpdateOptions")?;
            let body = from_view(parse_object(ctx)?);
            let obj = ctx.shared.lock().update(rt, &ns, name, body, &opts)?;
            Ok(json_response(StatusCode::OK, &to_view(obj)))
        }
        ("PATCH", Some(name)) => {
            let kind = PatchKind::from_content_type(&ctx.content_type)
                .ok_or_else(|| ApiError::unsupported_patch_type(&ctx.content_type))?;
            check_patch_options(ctx, kind)?;
            let opts = write_opts(ctx, vrt, sub, t.sub.as_deref(), "PatchOptions")?;
            let body = patch::parse_body(kind, &ctx.body).map_err(ApiError::bad_request)?;
            let (obj, created) = ctx
                .shared
                .lock()
                .patch(rt, &ns, name, kind, &body, &opts, view)?;
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(code, &to_view(obj)))
        }
        ("DELETE", Some(name)) if sub == Sub::Main => {
            let opts = delete_opts(ctx)?;
            let obj = ctx.shared.lock().delete(rt, &ns, name, &opts)?;
            Ok(json_response(StatusCode::OK, &to_view(obj)))
        }
        ("DELETE", None) => {
            let opts = delete_opts(ctx)?;
            let (labels, fields) = selectors(ctx, vrt, view)?;
            let mut store = ctx.shared.lock();
            let victims = store.list(rt, t.ns.as_deref(), &labels, &fields);
            let mut deleted = Vec::new();
            for v in victims {
                let vns = v
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let vname = v
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                match store.delete(rt, &vns, &vname, &opts) {
                    Ok(o) => deleted.push(to_view(o)),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            let rv = store.current_rv().to_string();
            drop(store);
            Ok(json_response(
                StatusCode::OK,
                &json!({"kind": format!("{}List", vrt.kind), "apiVersion": vrt.api_version(),
                        "metadata": {"resourceVersion": rv}, "items": deleted}),
            ))
        }
        _ => Err(ApiError::method_not_allowed(path)),
    }
}

/// Upstream `ValidatePatchOptions`: apply needs a field manager, and only
/// apply takes `force` (422).
fn check_patch_options(ctx: &Ctx, kind: PatchKind) -> Result<(), ApiError> {
    if kind == PatchKind::Apply && ctx.query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::invalid_options(
            "PatchOptions",
            "fieldManager",
            "FieldValueRequired",
            "Required value: is required for apply patch",
        ));
    }
    if kind != PatchKind::Apply && ctx.query.get("force").is_some() {
        return Err(ApiError::invalid_options(
            "PatchOptions",
            "force",
            "FieldValueForbidden",
            "Forbidden: may not be specified for non-apply patch",
        ));
    }
    Ok(())
}

/// The `scale` subresource: GET, PUT and PATCH of an `autoscaling/v1 Scale`.
fn scale(
    ctx: &Ctx,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    path: &str,
) -> Result<HttpResponse, ApiError> {
    let out = match ctx.method.as_str() {
        "GET" => ctx.shared.lock().scale(rt, ns, name)?,
        "PUT" => {
            let opts = write_opts(ctx, rt, Sub::Main, Some("scale"), "UpdateOptions")?;
            let body = parse_object(ctx)?;
            ctx.shared.lock().set_scale(rt, ns, name, &body, &opts)?
        }
        "PATCH" => {
            let kind = PatchKind::from_content_type(&ctx.content_type)
                .ok_or_else(|| ApiError::unsupported_patch_type(&ctx.content_type))?;
            check_patch_options(ctx, kind)?;
            let opts = write_opts(ctx, rt, Sub::Main, Some("scale"), "PatchOptions")?;
            let body = patch::parse_body(kind, &ctx.body).map_err(ApiError::bad_request)?;
            let mut store = ctx.shared.lock();
            let mut current = store.scale(rt, ns, name)?;
            patch::apply(kind, &mut current, &body).map_err(|f| match f {
                patch::PatchFailure::BadRequest(m) => ApiError::bad_request(m),
                patch::PatchFailure::Invalid(m) => ApiError::invalid(rt, name, "patch", &m),
            })?;
            store.set_scale(rt, ns, name, &current, &opts)?
        }
        _ => return Err(ApiError::method_not_allowed(path)),
    };
    Ok(json_response(StatusCode::OK, &out))
}

fn delete_opts(ctx: &Ctx) -> Result<DeleteOpts, ApiError> {
    let body: Value = if ctx.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&ctx.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    let grace = match ctx.query.get("gracePeriodSeconds") {
        Some(g) => Some(
            g.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds: {g}")))?,
        ),
        None => body.get("gracePeriodSeconds").and_then(Value::as_i64),
    };
    let propagation = ctx
        .query
        .get("propagationPolicy")
        .map(str::to_string)
        .or_else(|| {
            body.get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let dry_run = ctx.query.dry_run()
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "All"));
    Ok(DeleteOpts {
        grace,
        uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        resource_version: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        orphan: propagation.as_deref() == Some("Orphan")
            || body.get("orphanDependents").and_then(Value::as_bool) == Some(true),
        dry_run,
    })
}

/// Selectors from the query; field labels are checked against the served
/// type and rewritten for its storage when it is a view.
fn selectors(
    ctx: &Ctx,
    rt: &ResourceType,
    view: Option<View>,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(ctx.query.get("labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let mut fields = FieldSelector::parse(ctx.query.get("fieldSelector").unwrap_or_default(), rt)
        .map_err(ApiError::bad_request)?;
    if let Some(v) = view {
        fields = fields.map_labels(|l| v.field_label(l));
    }
    Ok((labels, fields))
}

fn obj_key(v: &Value) -> (String, String) {
    let get = |f: &str| {
        v.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (get("namespace"), get("name"))
}

fn list(
    ctx: &Ctx,
    rt: &ResourceType,
    vrt: &ResourceType,
    view: Option<View>,
    ns: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let (labels, fields) = selectors(ctx, vrt, view)?;
    let (mut items, rv) = {
        let store = ctx.shared.lock();
        (store.list(rt, ns, &labels, &fields), store.current_rv())
    };
    if let Some(v) = view {
        items = items.iter().map(|i| v.shown(i)).collect();
    }
    let rt = vrt;
    // Pagination: the continue token names the last key returned.
    if let Some(c) = ctx.query.get("continue").filter(|c| !c.is_empty()) {
        let (cns, cname) = c
            .split_once('/')
            .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
        let after = (cns.to_string(), cname.to_string());
        items.retain(|i| obj_key(i) > after);
    }
    let mut cont = None;
    let mut remaining = None;
    if let Some(limit) = ctx
        .query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        && items.len() > limit
    {
        remaining = Some(items.len() - limit);
        items.truncate(limit);
        cont = items.last().map(|i| {
            let (a, b) = obj_key(i);
            format!("{a}/{b}")
        });
    }
    let rv = rv.to_string();
    let body = match shape(ctx) {
        Shape::Table(inc) => table::table(rt, &items, inc, &rv, cont.as_deref(), true),
        s => {
            let (kind, api_version, items) = if s == Shape::Metadata {
                (
                    "PartialObjectMetadataList".to_string(),
                    "meta.k8s.io/v1".to_string(),
                    items.iter().map(partial).collect(),
                )
            } else {
                (format!("{}List", rt.kind), rt.api_version(), items)
            };
            let mut meta = json!({"resourceVersion": rv});
            if let Some(c) = &cont {
                meta["continue"] = json!(c);
            }
            if let Some(r) = remaining {
                meta["remainingItemCount"] = json!(r);
            }
            json!({"kind": kind, "apiVersion": api_version, "metadata": meta, "items": items})
        }
    };
    Ok(json_response(StatusCode::OK, &body))
}

struct WatchFilter {
    rt: ResourceType,
    ns: Option<String>,
    name: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl WatchFilter {
    fn same_type(&self, c: &Change) -> bool {
        c.group == self.rt.group
            && c.version == self.rt.version
            && c.plural == self.rt.plural
            && self.ns.as_deref().is_none_or(|n| n == c.namespace)
    }

    fn matches(&self, obj: &Value) -> bool {
        let name_ok = self
            .name
            .as_deref()
            .is_none_or(|n| obj.pointer("/metadata/name").and_then(Value::as_str) == Some(n));
        name_ok && self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// The event type this watcher sees for a change, if any (objects moving
    /// in or out of the selection appear as ADDED or DELETED).
    fn event_type(&self, c: &Change) -> Option<&'static str> {
        if !self.same_type(c) {
            return None;
        }
        let now = self.matches(&c.object);
        let before = c.old.as_ref().map_or(now, |o| self.matches(o));
        match (c.kind, before, now) {
            (ChangeKind::Added, _, true) => Some("ADDED"),
            (ChangeKind::Modified, true, true) => Some("MODIFIED"),
            (ChangeKind::Modified, false, true) => Some("ADDED"),
            (ChangeKind::Modified, true, false) => Some("DELETED"),
            (ChangeKind::Deleted, _, true) => Some("DELETED"),
            _ => None,
        }
    }
}

struct WatchState {
    /// The served type (events and bookmarks are shaped for it).
    out_rt: ResourceType,
    view: Option<View>,
    rx: broadcast::Receiver<Arc<Change>>,
    pending: VecDeque<Bytes>,
    filter: WatchFilter,
    deadline: tokio::time::Instant,
    bookmarks: Option<tokio::time::Interval>,
    progress: u64,
    start_rv: u64,
    shape: Shape,
    headers_sent: bool,
    shutdown: CancellationToken,
    done: bool,
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

impl WatchState {
    fn push_event(&mut self, ty: &str, obj: &Value) {
        let viewed;
        let obj = match self.view {
            Some(v) => {
                viewed = v.shown(obj);
                &viewed
            }
            None => obj,
        };
        let object = match self.shape {
            Shape::Full => obj.clone(),
            Shape::Metadata => partial(obj),
            Shape::Table(inc) => {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let headers = !self.headers_sent;
                self.headers_sent = true;
                table::table(
                    &self.out_rt,
                    std::slice::from_ref(obj),
                    inc,
                    &rv,
                    None,
                    headers,
                )
            }
        };
        self.pending
            .push_back(line(&json!({"type": ty, "object": object})));
    }

    fn push_change(&mut self, c: &Change) {
        if let Some(ty) = self.filter.event_type(c) {
            self.push_event(ty, &c.object);
        }
    }

    fn push_bookmark(&mut self, initial_end: bool) {
        let mut meta = json!({"resourceVersion": self.progress.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let rt = &self.out_rt;
        self.pending.push_back(line(&json!({
            "type": "BOOKMARK",
            "object": {"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta}
        })));
    }
}

async fn tick(i: &mut Option<tokio::time::Interval>) {
    match i {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}

async fn next_chunk(mut st: WatchState) -> Option<(Result<Bytes, actix_web::Error>, WatchState)> {
    loop {
        if let Some(b) = st.pending.pop_front() {
            return Some((Ok(b), st));
        }
        if st.done {
            return None;
        }
        tokio::select! {
            () = tokio::time::sleep_until(st.deadline) => return None,
            () = st.shutdown.cancelled() => return None,
            r = st.rx.recv() => match r {
                Ok(c) => {
                    st.progress = st.progress.max(c.rv);
                    if c.rv > st.start_rv {
                        st.push_change(&c);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // This watcher fell behind the fan-out buffer: end it the
                    // way the real server ends a watch it cannot continue.
                    let e = ApiError::expired(st.progress, st.progress);
                    st.pending.push_back(line(&json!({"type": "ERROR", "object": e.to_status()})));
                    st.done = true;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            () = tick(&mut st.bookmarks) => st.push_bookmark(false),
        }
    }
}

/// The longest a single watch request lasts (a day).
const MAX_WATCH_SECONDS: u64 = 86_400;

fn watch(
    ctx: &Ctx,
    rt: &ResourceType,
    vrt: &ResourceType,
    view: Option<View>,
    ns: Option<&str>,
    name: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let (labels, fields) = selectors(ctx, vrt, view)?;
    let from = match ctx.query.get("resourceVersion") {
        None | Some("" | "0") => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))?,
        ),
    };
    let send_initial = ctx.query.flag("sendInitialEvents");
    let from = if send_initial { None } else { from };
    let timeout = ctx
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800)
        // Bounded so that the deadline cannot overflow.
        .min(MAX_WATCH_SECONDS);
    let start = ctx.shared.lock().watch(rt, ns, from);
    let filter = WatchFilter {
        rt: rt.clone(),
        ns: ns.map(str::to_string),
        name: name.map(str::to_string),
        labels,
        fields,
    };
    let start = match start {
        Ok(s) => s,
        Err(e) => {
            let body = line(&json!({"type": "ERROR", "object": e.to_status()}));
            return Ok(HttpResponse::Ok()
                .content_type("application/json")
                .body(body));
        }
    };
    let bookmarks = ctx.query.flag("allowWatchBookmarks").then(|| {
        let every = ctx.shared.bookmark_interval;
        tokio::time::interval_at(tokio::time::Instant::now() + every, every)
    });
    let mut st = WatchState {
        out_rt: vrt.clone(),
        view,
        rx: start.rx,
        pending: VecDeque::new(),
        filter,
        deadline: tokio::time::Instant::now() + Duration::from_secs(timeout),
        bookmarks,
        progress: start.start_rv,
        start_rv: start.start_rv,
        shape: shape(ctx),
        headers_sent: false,
        shutdown: ctx.shared.shutdown.clone(),
        done: false,
    };
    for c in &start.initial {
        if from.is_none() {
            // Synthetic ADDED events for the current state.
            if st.filter.same_type(c) && st.filter.matches(&c.object) {
                st.push_event("ADDED", &c.object);
            }
        } else {
            st.push_change(c);
        }
    }
    if send_initial {
        st.push_bookmark(true);
    }
    let stream = futures::stream::unfold(st, next_chunk);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-cache, private"))
        .streaming(stream))
}
