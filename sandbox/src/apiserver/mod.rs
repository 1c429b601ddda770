//! An in-memory Kubernetes API server over plain HTTP on loopback, so that
//! unmodified kube-rs clients (watchers, reflectors, controllers, finalizer
//! helpers, event recorders) and the real `kubectl` run against it.
//!
//! In: HTTP requests on `127.0.0.1:<port>` (a kubeconfig is written for
//! clients). Out: JSON objects, lists, watch streams and `Status` errors as
//! the real API server sends them. State lives in memory only, in one store
//! behind a mutex that is never held across an `.await`; watchers are fed by
//! a broadcast channel. Served by actix-web with one catch-all handler (types
//! are dynamic: a CRD adds routes at run time) and streaming bodies for
//! watches.
//!
//! # Faithful
//! - Paths, verbs and discovery (`/version` claims v1.33, `/api`, `/apis`,
//!   group/version resource lists with kinds, verbs, short names, singular
//!   names, categories, `status`, `scale` and `binding` subresources), both
//!   legacy and aggregated (`apidiscovery.k8s.io/v2`, which kubectl asks
//!   for).
//! - One global, monotonically increasing resourceVersion; no-op writes do
//!   not bump it. Optimistic concurrency on update and on patches that carry
//!   `metadata.resourceVersion` (409 Conflict).
//! - Create: `generateName`, uid, creationTimestamp, generation (CRs, apps,
//!   CRDs); the namespace must exist (404) and not be terminating (403);
//!   name clash 409 AlreadyExists; invalid names/labels 422 Invalid; bad JSON
//!   400 BadRequest. Namespaces `default`, `kube-system`, `kube-public` and
//!   `kube-node-lease` exist at start.
//! - Status subresource rules: `/status` writes change only `.status`; main
//!   writes keep the stored `.status` for types with a status subresource;
//!   `.status` is reset on create (pods `Pending`, namespaces `Active`,
//!   dropped for CRs and apps workloads; nodes keep it, as kubelet registers).
//! - Delete: finalizers hold objects (deletionTimestamp and
//!   deletionGracePeriodSeconds set, removed when the last finalizer goes, no
//!   new finalizers accepted meanwhile); a pod bound to an existing node with
//!   a grace period stays terminating until a delete with
//!   `gracePeriodSeconds=0` (what the kubelet sends); unbound or terminal
//!   pods go at once; preconditions (uid, resourceVersion) checked.
//! - `pods/binding` sets `spec.nodeName` and the PodScheduled condition; 409
//!   when the pod is already bound. A pod's spec cannot be changed by an
//!   update except where upstream allows (images, activeDeadlineSeconds,
//!   tolerations, terminationGracePeriodSeconds, schedulingGates): 422.
//! - Delete-collection with label and field selectors.
//! - Watches: from a resourceVersion (replayed from a bounded history), or
//!   from "now" with synthetic ADDED events; BOOKMARK events when allowed;
//!   `sendInitialEvents` with the `k8s.io/initial-events-end` bookmark;
//!   `timeoutSeconds`; an ERROR event with a 410 Expired `Status` for a
//!   resourceVersion older than the retained history; objects moving in or
//!   out of a selector appear as ADDED / DELETED.
//! - Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`); field
//!   selectors (`=`, `==`, `!=`) limited to the labels the real server
//!   supports per type (400 otherwise).
//! - CRDs register their group/version/plural/kind/scope/short names/status
//!   subresource/printer columns when created, and their objects go when the
//!   CRD is deleted. CRD status reports NamesAccepted and Established.
//! - Tables for kubectl (`as=Table`), PartialObjectMetadata for metadata
//!   watchers (`as=PartialObjectMetadata[List]`).
//! - `events.k8s.io/v1` Events are a view of core `v1` Events (one store,
//!   fields converted as upstream does), so `kubectl get events` and
//!   `kubectl describe` show what a kube-runtime `Recorder` publishes.
//! - The `scale` subresource (`autoscaling/v1 Scale`) of deployments,
//!   statefulsets and replicasets, for `kubectl scale`.
//! - Field ownership (module `managed`): every create, update and patch
//!   records `metadata.managedFields` entries as upstream does (`manager`,
//!   `operation` Apply or Update, `apiVersion`, `time`, `subresource`,
//!   `fieldsType: FieldsV1`, `fieldsV1` in the `f:`/`k:`/`v:` path format),
//!   keyed like upstream (manager, operation, subresource, and apiVersion for
//!   Update). The manager is `fieldManager`, else the user agent up to its
//!   first `/` (kube-rs sends none, so `""`); a bad `fieldManager` (over 128
//!   bytes, control characters) is 422. Updates and merge, JSON and strategic
//!   patches take the fields they add or change from every other manager;
//!   deleted fields lose their owners; `managedFields: []` or `[{}]` sent by
//!   a client clears the record, another valid list replaces it. Server-side
//!   apply (`application/apply-patch+yaml`): `fieldManager` required (422
//!   Invalid `PatchOptions`), `force` only with apply (422), the body's
//!   `apiVersion` must be the URL's and it may not carry managedFields (400);
//!   a missing object is created (201); an apply that adds or changes a field
//!   another manager owns is refused with 409 Conflict, `Apply failed with N
//!   conflict(s): ...` and one `FieldManagerConflict` cause per field, unless
//!   `force=true`, which takes the fields; applying the value already there
//!   shares ownership; fields the manager applied before and omits now are
//!   removed unless another manager owns them. So kube-lease-manager's
//!   exclusivity (an apply of `spec.holderIdentity` that conflicts) holds.
//!
//! # Approximated
//! - Strategic merge patch knows only the merge keys of the lists our code
//!   touches (metadata.finalizers as a set, ownerReferences by uid,
//!   status.conditions and status.addresses by type, containers, volumes,
//!   env and imagePullSecrets by name, ports by containerPort, volumeMounts
//!   by mountPath); other lists are replaced. `$patch: delete|replace` and
//!   `$deleteFromPrimitiveList` work; `$setElementOrder`/`$retainKeys` are
//!   ignored.
//! - Field ownership works without OpenAPI schemas: the list merge keys
//!   above decide which lists are granular (items owned one by one, as
//!   `k:{...}` or `v:...`); every other list is atomic, one leaf (upstream
//!   tracks more lists item by item, including CRD `x-kubernetes-list-type`
//!   lists). Maps are treated as structs, so a map entry holding a non-empty
//!   map is not itself a member (no `".": {}` there). The apply merge is the
//!   strategic merge above (directives are honoured, not refused); a `null`
//!   in an applied configuration removes the field and the applier owns it.
//!   Defaults the server fills in count as the writer's. Update entries are
//!   not capped (upstream folds all but ten into `ancient-changes`). Writes
//!   the server makes itself (binding, deletion timestamps, garbage
//!   collection, namespace termination) record no owner. An apply to the
//!   `scale` subresource is a merge recorded as an Update (`subresource:
//!   scale`).
//! - Built-in types get no schema validation and only a few defaults (pod
//!   terminationGracePeriodSeconds 30, restartPolicy, schedulerName,
//!   dnsPolicy, qosClass; Secret type Opaque). Custom resources are pruned,
//!   defaulted and validated by their CRD's structural schema for `type`,
//!   `enum`, `required` and `nullable` only (no formats, patterns, bounds or
//!   CEL rules). One stored version per served version (no conversion between
//!   CRD versions).
//! - Garbage collection is background-only and immediate: when an object is
//!   removed, dependents whose owners are all gone are deleted (with their
//!   own finalizers and grace periods); `Orphan` skips it; `Foreground` is
//!   treated as background. Pods bound to a deleted node are deleted with
//!   grace 0 (what pod GC does). A deleted namespace turns Terminating,
//!   deletes its content, and goes when empty. Deleting a CRD removes its
//!   objects at once, without waiting for their finalizers.
//! - A watch more than 4096 changes behind (cluster-wide) is ended with a
//!   410 Expired ERROR event, after which clients relist.
//! - A watch whose client went away is noticed at its next write (an event
//!   or a bookmark), not at once as Go's server does; until then it only
//!   holds a slot in the fan-out channel.
//! - Lists are always served from the latest state (any resourceVersion
//!   is accepted); `limit`/`continue` page over the latest state.
//! - Bodies are JSON or YAML; protobuf bodies (what kubectl's typed clients
//!   send for `kubectl create namespace|configmap|secret|serviceaccount`) are
//!   decoded for those four kinds only, others get 415. Responses are JSON.
//! - Authentication is by bearer tokens the server issues (no token: the
//!   admin, unchecked); authorization is RBAC over the stored Roles,
//!   ClusterRoles and bindings (see `auth` and [`rbac`]), without aggregated
//!   ClusterRoles, escalation checks or impersonation. `/openapi/v2` is an empty document
//!   (so kubectl skips client-side validation); `/openapi/v3` publishes the
//!   group-versions of CRDs only, each kind's schema taken from its CRD (module
//!   `openapi`), so `kubectl explain` works for custom resources and not for
//!   built-in ones.
//! - Services, service accounts and daemon sets are stored only; RBAC objects
//!   are enforced for token users.

mod auth;
mod convert;
mod discovery;
mod http;
mod managed;
mod openapi;
mod patch;
mod protobuf;
pub mod rbac;
mod registry;
mod schema;
mod selector;
mod status;
mod store;
mod table;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use tokio_util::sync::CancellationToken;

pub use auth::AuditEntry;
use http::Shared;
use rbac::{Grant, UserInfo};
use store::Store;

/// Why the API server could not start or be reached.
#[derive(Debug, thiserror::Error)]
pub enum ApiServerError {
    /// Binding the loopback listener failed.
    #[error("failed to listen on 127.0.0.1 for the sandbox API server")]
    Listen(#[source] std::io::Error),
    /// Writing the kubeconfig failed.
    #[error("failed to write the sandbox kubeconfig to {path}")]
    WriteKubeconfig {
        /// Where the kubeconfig was to go.
        path: String,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig could not be turned into a kube client configuration.
    #[error("failed to build a kube client configuration for the sandbox API server")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    /// The kube client could not be built.
    #[error("failed to build a kube client for the sandbox API server")]
    Client(#[source] kube::Error),
}

/// Options for [`ApiServer::start`].
#[derive(Debug, Clone)]
pub struct ApiServerOptions {
    /// How many changes the watch history keeps; a watch from an older
    /// resourceVersion gets 410 Expired. Default 1000.
    pub history_limit: usize,
    /// How often watches that allow bookmarks get one. Default 5 s (the real
    /// server sends them about once a minute).
    pub bookmark_interval: Duration,
    /// HTTP worker threads. Default 2.
    pub workers: usize,
}

impl Default for ApiServerOptions {
    fn default() -> Self {
        Self {
            history_limit: 1000,
            bookmark_interval: Duration::from_secs(5),
            workers: 2,
        }
    }
}

/// The in-memory API server; see the module docs for what it implements.
#[derive(Debug)]
pub struct ApiServer;

impl ApiServer {
    /// Start serving on `127.0.0.1:0` (a free port). Must be called within a
    /// tokio runtime.
    pub async fn start(opts: ApiServerOptions) -> Result<RunningApiServer, ApiServerError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(ApiServerError::Listen)?;
        let addr = listener.local_addr().map_err(ApiServerError::Listen)?;
        let shutdown = CancellationToken::new();
        let shared = web::Data::new(Shared {
            store: Mutex::new(Store::new(opts.history_limit)),
            bookmark_interval: opts.bookmark_interval,
            shutdown: shutdown.clone(),
            server_addr: addr.to_string(),
            auth: auth::Auth::default(),
        });
        let data = shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(32 * 1024 * 1024))
                .default_service(web::to(http::handle))
        })
        .workers(opts.workers.max(1))
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .map_err(ApiServerError::Listen)?
        .run();
        let handle = server.handle();
        tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::warn!(error = %e, "sandbox API server stopped with an error");
            }
        });
        tracing::info!(%addr, "sandbox API server listening");
        Ok(RunningApiServer {
            addr,
            handle,
            shutdown,
            shared: shared.into_inner(),
        })
    }
}

/// A started server; stopped by [`RunningApiServer::shutdown`] or on drop.
#[derive(Debug)]
pub struct RunningApiServer {
    addr: SocketAddr,
    handle: ServerHandle,
    shutdown: CancellationToken,
    shared: Arc<Shared>,
}

/// The name used for the cluster, user and context in the kubeconfig.
pub const KUBECONFIG_CONTEXT: &str = "sandbox";

impl RunningApiServer {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().current_rv()
    }

    /// How many watch streams are open right now (a client that goes away
    /// closes its watch).
    pub fn open_watches(&self) -> usize {
        self.shared.lock().open_watches()
    }

    /// A kubeconfig (YAML) with one cluster, user and context named
    /// [`KUBECONFIG_CONTEXT`], default namespace `default`.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {c}\n  cluster:\n    server: {url}\nusers:\n- name: {c}\n  user: {{}}\ncontexts:\n- name: {c}\n  context:\n    cluster: {c}\n    user: {c}\n    namespace: default\ncurrent-context: {c}\npreferences: {{}}\n",
            c = KUBECONFIG_CONTEXT,
            url = self.url()
        )
    }

    /// A kubeconfig like [`Self::kubeconfig`] whose user authenticates with `token`.
    pub fn kubeconfig_with_token(&self, token: &str) -> String {
        self.kubeconfig()
            .replace("  user: {}\n", &format!("  user:\n    token: {token}\n"))
    }

    /// Issues a bearer token for `user`; requests with it are authorized by RBAC and
    /// recorded in [`Self::audit`].
    pub fn issue_token(&self, user: UserInfo) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.shared.auth.insert(token.clone(), user);
        token
    }

    /// A token of the ServiceAccount `namespace/name` (user
    /// `system:serviceaccount:NS:NAME`, in its groups).
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        self.issue_token(UserInfo::service_account(namespace, name))
    }

    /// A kube client that authenticates with `token`.
    pub async fn client_with_token(&self, token: &str) -> Result<kube::Client, ApiServerError> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_with_token(token))
            .map_err(ApiServerError::Kubeconfig)?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(ApiServerError::Kubeconfig)?;
        kube::Client::try_from(config).map_err(ApiServerError::Client)
    }

    /// Every kind of request token users made (attributes, user, allowed or denied)
    /// with how often, in a stable order.
    pub fn audit(&self) -> Vec<(AuditEntry, u64)> {
        self.shared.auth.audit()
    }

    /// The rules the stored RBAC objects grant to `user` right now.
    pub fn grants(&self, user: &UserInfo) -> Vec<Grant> {
        auth::policy(&self.shared.lock()).grants(user)
    }

    /// Write [`Self::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> Result<(), ApiServerError> {
        let path = path.as_ref();
        std::fs::write(path, self.kubeconfig()).map_err(|source| ApiServerError::WriteKubeconfig {
            path: path.display().to_string(),
            source,
        })
    }

    /// A kube client configuration read from this server's kubeconfig.
    pub async fn config(&self) -> Result<kube::Config, ApiServerError> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig())
            .map_err(ApiServerError::Kubeconfig)?;
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(ApiServerError::Kubeconfig)
    }

    /// An unmodified `kube::Client` for this server.
    pub async fn client(&self) -> Result<kube::Client, ApiServerError> {
        let config = self.config().await?;
        kube::Client::try_from(config).map_err(ApiServerError::Client)
    }

    /// Stop serving: open watches end, the listener closes, and once this
    /// returns no connection is served any more (workers are waited for, at
    /// most about a second).
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.handle.stop(true).await;
    }
}

impl Drop for RunningApiServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // Sends the stop command now; completion is not awaited.
        drop(self.handle.stop(false));
    }
}
