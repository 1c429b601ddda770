//! A real Kubernetes control plane on loopback: etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler v1.20.2 as child processes.
//!
//! In: the binaries `hack/control-plane/fetch-and-build.sh` builds (found in
//! `$EIP_K8S_BIN_DIR`, else `${XDG_CACHE_HOME:-$HOME/.cache}/kube-eip/k8s-v1.20.2/bin`)
//! and a `KubeSchedulerConfiguration` (`kubescheduler.config.k8s.io/v1beta1`) body. Out:
//! a running [`ControlPlane`]: a fresh CA and serving certificate for 127.0.0.1, static
//! tokens (an admin in `system:masters`, and the controller manager's and scheduler's own
//! users that the bootstrap RBAC policy already binds), a ServiceAccount signing key pair,
//! every port a free loopback one, every file (data, certificates, logs) in one temporary
//! directory; an admin kubeconfig and [`kube::Client`]; the scheduler restartable with
//! another configuration; [`NodeLease`] heartbeats so the node lifecycle controller keeps
//! simulated nodes Ready. Processes are killed when the [`ControlPlane`] is dropped.
//!
//! There are no kubelets: kube-apiserver runs with `--authorization-mode=RBAC` (the Node
//! authorizer only serves kubelets) and `--endpoint-reconciler-type=none` (the `kubernetes`
//! Service cannot list a loopback endpoint). Nodes are registered through the API, as the
//! node simulators do.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use eip_e2e::control_plane::ControlPlane;
//! let cp = ControlPlane::start().await?;
//! let client = cp.client();
//! // ... register nodes, create pods: the real kube-scheduler binds them.
//! cp.shutdown();
//! # Ok(())
//! # }
//! ```

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// Environment variable naming the directory holding the four binaries.
pub const ENV_BIN_DIR: &str = "EIP_K8S_BIN_DIR";
/// The Kubernetes version the fetch script builds.
pub const K8S_VERSION: &str = "v1.20.2";
/// The script that fetches and builds the binaries (relative to the repository root).
pub const FETCH_SCRIPT: &str = "hack/control-plane/fetch-and-build.sh";
/// The scheduler configuration API this Kubernetes version reads.
pub const SCHEDULER_CONFIG_API_VERSION: &str = "kubescheduler.config.k8s.io/v1beta1";
/// How long a component may take to become healthy.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
/// Lines of a component's log shown when it fails.
const LOG_TAIL_LINES: usize = 40;
/// The Service IP range kube-apiserver allocates from (never routed; it only names IPs).
const SERVICE_CIDR: &str = "10.96.0.0/24";
const SA_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The four binaries of the tier.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// `$EIP_K8S_BIN_DIR`, else the fetch script's cache; an error naming the script when a
    /// binary is missing.
    pub fn locate() -> anyhow::Result<Self> {
        let dir = match std::env::var_os(ENV_BIN_DIR).filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => default_bin_dir()?,
        };
        let bins = Binaries { dir };
        for name in [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
        ] {
            let path = bins.path(name);
            if !path.is_file() {
                bail!(
                    "{} is missing: run {FETCH_SCRIPT} (it builds Kubernetes {K8S_VERSION} into its cache, \
                     about 10 minutes the first time), or set {ENV_BIN_DIR} to a directory holding \
                     etcd, kube-apiserver, kube-controller-manager and kube-scheduler",
                    path.display()
                );
            }
        }
        Ok(bins)
    }

    /// The directory holding the binaries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn default_bin_dir() -> anyhow::Result<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(c) => PathBuf::from(c),
        None => PathBuf::from(
            std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?,
        )
        .join(".cache"),
    };
    Ok(cache
        .join("kube-eip")
        .join(format!("k8s-{K8S_VERSION}"))
        .join("bin"))
}

/// One child process, killed on drop, its output in a log file.
#[derive(Debug)]
struct Component {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Component {
    fn spawn(
        name: &'static str,
        bin: PathBuf,
        args: &[String],
        logs: &Path,
    ) -> anyhow::Result<Self> {
        let log = logs.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        // With setpriv (util-linux), a component dies with the test process even when
        // that is killed before the drop runs (a timeout, SIGKILL). The parent-death
        // signal fires when the spawning thread ends: the test's own thread here.
        let mut cmd = match find_on_path("setpriv") {
            Some(setpriv) => {
                let mut c = Command::new(setpriv);
                c.args(["--pdeathsig", "KILL", "--"]).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        Ok(Component { name, child, log })
    }

    /// An error if the process has exited, with the tail of its log.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status}); {}", self.name, self.tail());
        }
        Ok(())
    }

    fn tail(&self) -> String {
        format!(
            "last lines of {}:\n{}",
            self.log.display(),
            tail_lines(&self.log, LOG_TAIL_LINES)
        )
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An executable named `name` in `$PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The last `n` lines of a file (at most its last 64 KiB).
fn tail_lines(path: &Path, n: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::from("(no log)");
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = String::new();
    let _ = f.read_to_string(&mut buf);
    let lines: Vec<&str> = buf.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A free TCP port on 127.0.0.1 (free when asked; the component binds it soon after).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// `GET http://127.0.0.1:<port><path>`: the status code, or `None` when nothing answers.
async fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut head = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut head))
        .await
        .ok()?
        .ok()?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Certificates, keys and tokens of one control plane, written under `dir`.
#[derive(Debug)]
struct Pki {
    ca_cert: PathBuf,
    ca_key: PathBuf,
    serving_cert: PathBuf,
    serving_key: PathBuf,
    sa_key: PathBuf,
    sa_pub: PathBuf,
    token_file: PathBuf,
    admin_token: String,
    controller_manager_token: String,
    scheduler_token: String,
}

impl Pki {
    fn generate(dir: &Path) -> anyhow::Result<Self> {
        use rcgen::{
            BasicConstraints, CertificateParams, DistinguishedName, DnType,
            ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        fs::create_dir_all(dir)?;
        let write = |name: &str, content: &str| -> anyhow::Result<PathBuf> {
            let p = dir.join(name);
            fs::write(&p, content).with_context(|| format!("write {}", p.display()))?;
            Ok(p)
        };

        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name = DistinguishedName::new();
        ca.distinguished_name
            .push(DnType::CommonName, "eip-e2e control plane CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, &ca_key);

        let serving_key = KeyPair::generate()?;
        let mut serving = CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
        ])?;
        serving.distinguished_name = DistinguishedName::new();
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving.signed_by(&serving_key, &issuer)?;

        let sa = KeyPair::generate()?;
        let token = || uuid::Uuid::new_v4().simple().to_string();
        let (admin_token, controller_manager_token, scheduler_token) = (token(), token(), token());
        // token,user,uid,"groups": the bootstrap RBAC policy binds the two component users.
        let tokens = format!(
            "{admin_token},admin,admin,\"system:masters\"\n\
             {controller_manager_token},system:kube-controller-manager,kube-controller-manager\n\
             {scheduler_token},system:kube-scheduler,kube-scheduler\n"
        );
        Ok(Pki {
            ca_cert: write("ca.crt", &ca_cert.pem())?,
            ca_key: write("ca.key", &ca_key.serialize_pem())?,
            serving_cert: write("apiserver.crt", &serving_cert.pem())?,
            serving_key: write("apiserver.key", &serving_key.serialize_pem())?,
            sa_key: write("sa.key", &sa.serialize_pem())?,
            sa_pub: write("sa.pub", &sa.public_key_pem())?,
            token_file: write("tokens.csv", &tokens)?,
            admin_token,
            controller_manager_token,
            scheduler_token,
        })
    }
}

/// A kubeconfig for `user` with a bearer token, trusting the control plane's CA.
fn kubeconfig_yaml(server: &str, ca: &Path, user: &str, token: &str) -> String {
    // JSON is YAML: every kubeconfig reader takes it.
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "eip-e2e", "cluster": {
            "server": server,
            "certificate-authority": ca.display().to_string(),
        }}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "eip-e2e", "user": user}}],
        "current-context": user,
    })
    .to_string()
}

/// The scheduler configuration with no extenders: one `default-scheduler` profile.
pub fn default_scheduler_config() -> Value {
    json!({"profiles": [{"schedulerName": "default-scheduler"}]})
}

/// A running control plane; see the module docs.
pub struct ControlPlane {
    dir: tempfile::TempDir,
    bins: Binaries,
    server: String,
    ca_cert: PathBuf,
    kubeconfig: PathBuf,
    scheduler_kubeconfig: PathBuf,
    client: Client,
    // Dropped in reverse start order: the scheduler first, etcd last.
    scheduler: Option<Component>,
    controller_manager: Option<Component>,
    apiserver: Option<Component>,
    etcd: Option<Component>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("server", &self.server)
            .field("dir", &self.dir.path())
            .field("bins", &self.bins.dir)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Starts the control plane with [`default_scheduler_config`].
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with_scheduler_config(default_scheduler_config()).await
    }

    /// Starts etcd, kube-apiserver and kube-controller-manager, then kube-scheduler with
    /// this configuration (see [`ControlPlane::restart_scheduler`]); waits until each is
    /// healthy.
    pub async fn start_with_scheduler_config(scheduler_config: Value) -> anyhow::Result<Self> {
        let started = Instant::now();
        let bins = Binaries::locate()?;
        let dir = tempfile::Builder::new()
            .prefix("eip-control-plane-")
            .tempdir()?;
        let logs = dir.path().join("logs");
        fs::create_dir_all(&logs)?;
        let pki = Pki::generate(&dir.path().join("pki"))?;

        // etcd
        let (etcd_client, etcd_peer) = (free_port()?, free_port()?);
        let etcd_url = format!("http://127.0.0.1:{etcd_client}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer}");
        let mut etcd = Component::spawn(
            "etcd",
            bins.path("etcd"),
            &[
                format!("--data-dir={}", dir.path().join("etcd").display()),
                "--name=default".into(),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=default={peer_url}"),
                "--log-level=warn".into(),
            ],
            &logs,
        )?;
        wait_healthy(&mut etcd, etcd_client, "/health").await?;

        // kube-apiserver
        let port = free_port()?;
        let server = format!("https://127.0.0.1:{port}");
        let mut apiserver = Component::spawn(
            "kube-apiserver",
            bins.path("kube-apiserver"),
            &[
                format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={port}"),
                "--insecure-port=0".into(),
                format!(
                    "--cert-dir={}",
                    dir.path().join("apiserver-certs").display()
                ),
                format!("--tls-cert-file={}", pki.serving_cert.display()),
                format!("--tls-private-key-file={}", pki.serving_key.display()),
                format!("--client-ca-file={}", pki.ca_cert.display()),
                format!("--token-auth-file={}", pki.token_file.display()),
                "--authorization-mode=RBAC".into(),
                "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,\
                 DefaultStorageClass,DefaultTolerationSeconds,MutatingAdmissionWebhook,\
                 ValidatingAdmissionWebhook,ResourceQuota,Priority,TaintNodesByCondition,\
                 PersistentVolumeClaimResize,RuntimeClass"
                    .into(),
                format!("--service-account-issuer={SA_ISSUER}"),
                format!("--service-account-key-file={}", pki.sa_pub.display()),
                format!(
                    "--service-account-signing-key-file={}",
                    pki.sa_key.display()
                ),
                format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                "--endpoint-reconciler-type=none".into(),
                "--allow-privileged=true".into(),
                "--profiling=false".into(),
                "--v=1".into(),
            ],
            &logs,
        )?;
        let kubeconfig = dir.path().join("admin.kubeconfig");
        fs::write(
            &kubeconfig,
            kubeconfig_yaml(&server, &pki.ca_cert, "admin", &pki.admin_token),
        )?;
        let client = client_from_kubeconfig(&kubeconfig).await?;
        wait_apiserver_ready(&mut apiserver, &client).await?;

        // kube-controller-manager
        let kcm_kubeconfig = dir.path().join("controller-manager.kubeconfig");
        fs::write(
            &kcm_kubeconfig,
            kubeconfig_yaml(
                &server,
                &pki.ca_cert,
                "system:kube-controller-manager",
                &pki.controller_manager_token,
            ),
        )?;
        let kcm_port = free_port()?;
        let mut controller_manager = Component::spawn(
            "kube-controller-manager",
            bins.path("kube-controller-manager"),
            &[
                format!("--kubeconfig={}", kcm_kubeconfig.display()),
                "--leader-elect=false".into(),
                "--use-service-account-credentials=true".into(),
                format!(
                    "--service-account-private-key-file={}",
                    pki.sa_key.display()
                ),
                format!("--root-ca-file={}", pki.ca_cert.display()),
                format!("--cluster-signing-cert-file={}", pki.ca_cert.display()),
                format!("--cluster-signing-key-file={}", pki.ca_key.display()),
                format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                // Every default controller; none here needs a kubelet or a cloud.
                "--controllers=*".into(),
                "--secure-port=0".into(),
                "--address=127.0.0.1".into(),
                format!("--port={kcm_port}"),
                "--v=1".into(),
            ],
            &logs,
        )?;
        wait_healthy(&mut controller_manager, kcm_port, "/healthz").await?;

        let scheduler_kubeconfig = dir.path().join("scheduler.kubeconfig");
        fs::write(
            &scheduler_kubeconfig,
            kubeconfig_yaml(
                &server,
                &pki.ca_cert,
                "system:kube-scheduler",
                &pki.scheduler_token,
            ),
        )?;
        let mut cp = ControlPlane {
            dir,
            bins,
            server,
            ca_cert: pki.ca_cert.clone(),
            kubeconfig,
            scheduler_kubeconfig,
            client,
            scheduler: None,
            controller_manager: Some(controller_manager),
            apiserver: Some(apiserver),
            etcd: Some(etcd),
        };
        cp.restart_scheduler(scheduler_config).await?;
        tracing::info!(
            server = %cp.server,
            dir = %cp.dir.path().display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "control plane up"
        );
        Ok(cp)
    }

    /// The admin's kubeconfig (for kubectl and other binaries).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A client with the admin's identity (`system:masters`).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// kube-apiserver's URL, `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The directory holding data, certificates and `logs/<component>.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the binaries came from.
    pub fn binaries(&self) -> &Binaries {
        &self.bins
    }

    /// The last lines of a component's log (`etcd`, `kube-apiserver`,
    /// `kube-controller-manager`, `kube-scheduler`), for failure messages.
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        tail_lines(
            &self
                .dir
                .path()
                .join("logs")
                .join(format!("{component}.log")),
            lines,
        )
    }

    /// Stops kube-scheduler if it runs and starts it with this `KubeSchedulerConfiguration`
    /// body (profiles, extenders, ...). `apiVersion` and `kind` default to v1beta1's;
    /// `clientConnection.kubeconfig`, `leaderElection` (off) and the health and metrics
    /// addresses (a free loopback port) are always the harness's. Waits for `/healthz`.
    pub async fn restart_scheduler(&mut self, config: Value) -> anyhow::Result<()> {
        self.stop_scheduler();
        let port = free_port()?;
        let mut cfg = match config {
            Value::Object(m) => m,
            other => bail!("a KubeSchedulerConfiguration must be an object, not {other}"),
        };
        cfg.entry("apiVersion")
            .or_insert_with(|| json!(SCHEDULER_CONFIG_API_VERSION));
        cfg.entry("kind")
            .or_insert_with(|| json!("KubeSchedulerConfiguration"));
        cfg.insert(
            "clientConnection".into(),
            json!({"kubeconfig": self.scheduler_kubeconfig.display().to_string()}),
        );
        cfg.insert("leaderElection".into(), json!({"leaderElect": false}));
        let addr = format!("127.0.0.1:{port}");
        cfg.insert("healthzBindAddress".into(), json!(addr));
        cfg.insert("metricsBindAddress".into(), json!(addr));
        let path = self.dir.path().join("scheduler-config.yaml");
        fs::write(&path, serde_json::to_string_pretty(&Value::Object(cfg))?)?;
        let mut scheduler = Component::spawn(
            "kube-scheduler",
            self.bins.path("kube-scheduler"),
            &[
                format!("--config={}", path.display()),
                "--secure-port=0".into(),
                "--v=2".into(),
            ],
            &self.dir.path().join("logs"),
        )?;
        wait_healthy(&mut scheduler, port, "/healthz").await?;
        self.scheduler = Some(scheduler);
        Ok(())
    }

    /// Stops kube-scheduler (pods stay pending until it is started again).
    pub fn stop_scheduler(&mut self) {
        if let Some(mut s) = self.scheduler.take() {
            s.stop();
        }
    }

    /// Waits until the ServiceAccount controller has made `default` in `namespace` and
    /// the token controller has given it a token (admission rejects pods before that).
    pub async fn wait_default_service_account(&self, namespace: &str) -> anyhow::Result<()> {
        self.service_account_token(namespace, "default").await?;
        Ok(())
    }

    /// The token kube-controller-manager's token controller issued for the ServiceAccount
    /// `namespace/name` (waiting for the account and its token Secret; 1.20 still issues
    /// these long-lived tokens).
    pub async fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<String> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        crate::wait_for(
            &format!("a token for ServiceAccount {namespace}/{name}"),
            Duration::from_secs(30),
            || {
                let (accounts, secrets) = (accounts.clone(), secrets.clone());
                async move {
                    let Some(sa) = accounts.get_opt(name).await? else {
                        return Ok(None);
                    };
                    for r in sa.secrets.unwrap_or_default() {
                        let Some(secret_name) = r.name else { continue };
                        let Some(secret) = secrets.get_opt(&secret_name).await? else {
                            continue;
                        };
                        if let Some(token) = secret.data.as_ref().and_then(|d| d.get("token")) {
                            return Ok(Some(String::from_utf8(token.0.clone())?));
                        }
                    }
                    Ok(None)
                }
            },
        )
        .await
    }

    /// Writes a kubeconfig with the ServiceAccount `namespace/name`'s token (what a pod
    /// of ours running as that account would use), for running a component under its
    /// real RBAC; see [`client_from_kubeconfig`].
    pub async fn service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<PathBuf> {
        let token = self.service_account_token(namespace, name).await?;
        let user = format!("system:serviceaccount:{namespace}:{name}");
        let path = self
            .dir
            .path()
            .join(format!("serviceaccount-{namespace}-{name}.kubeconfig"));
        fs::write(
            &path,
            kubeconfig_yaml(&self.server, &self.ca_cert, &user, &token),
        )?;
        Ok(path)
    }

    /// The CA that signed kube-apiserver's serving certificate (PEM file).
    pub fn ca_cert(&self) -> &Path {
        &self.ca_cert
    }

    /// Renews `kube-node-lease/<node>` every 10 s as kubelet does, so that the node
    /// lifecycle controller keeps the node Ready; stops when the handle is dropped.
    pub async fn node_lease(&self, node: &str) -> anyhow::Result<NodeLease> {
        NodeLease::start(self.client.clone(), node).await
    }

    /// Stops every component (also done on drop) and removes the directory.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        self.stop_scheduler();
        for c in [
            &mut self.controller_manager,
            &mut self.apiserver,
            &mut self.etcd,
        ] {
            if let Some(mut c) = c.take() {
                c.stop();
            }
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop_all();
        if std::env::var_os("EIP_E2E_KEEP_CONTROL_PLANE").is_some() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("a temp dir"));
            eprintln!("control plane files kept in {}", kept.keep().display());
        }
    }
}

/// A client from a kubeconfig file (its current context).
pub async fn client_from_kubeconfig(path: &Path) -> anyhow::Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(path)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(Client::try_from(cfg)?)
}

/// Polls `http://127.0.0.1:<port><path>` until it answers 200.
async fn wait_healthy(c: &mut Component, port: u16, path: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        c.check_alive()?;
        if http_status(port, path).await == Some(200) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not answer 200 on {path} within {STARTUP_TIMEOUT:?}; {}",
                c.name,
                c.tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls kube-apiserver's `/readyz` (as the admin) until it answers `ok`.
async fn wait_apiserver_ready(c: &mut Component, client: &Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        c.check_alive()?;
        let req = http::Request::get("/readyz").body(Vec::new())?;
        let last = match client.request_text(req).await {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(body) => body,
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            let mut msg = format!("kube-apiserver not ready within {STARTUP_TIMEOUT:?}: {last}");
            let _ = write!(msg, "; {}", c.tail());
            return Err(anyhow!(msg));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A node's Lease in `kube-node-lease`, renewed in the background; see
/// [`ControlPlane::node_lease`].
#[derive(Debug)]
pub struct NodeLease {
    task: JoinHandle<()>,
}

/// kubelet's lease duration and renew interval (`nodeLeaseDurationSeconds` 40, a quarter
/// of it).
const LEASE_DURATION_SECONDS: i32 = 40;
const LEASE_RENEW: Duration = Duration::from_secs(10);
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

impl NodeLease {
    /// Creates or renews the lease once, then renews it every 10 s.
    pub async fn start(client: Client, node: &str) -> anyhow::Result<Self> {
        let api: Api<Lease> = Api::namespaced(client, NODE_LEASE_NAMESPACE);
        renew_lease(&api, node).await?;
        let node = node.to_string();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(LEASE_RENEW);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = renew_lease(&api, &node).await {
                    tracing::warn!(node, error = %e, "node lease renewal failed");
                }
            }
        });
        Ok(NodeLease { task })
    }
}

impl Drop for NodeLease {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn renew_lease(api: &Api<Lease>, node: &str) -> anyhow::Result<()> {
    let spec = LeaseSpec {
        holder_identity: Some(node.to_string()),
        lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
        renew_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
        ..LeaseSpec::default()
    };
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(node.to_string()),
            namespace: Some(NODE_LEASE_NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        spec: Some(spec.clone()),
    };
    match api.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let patch = Lease {
                metadata: ObjectMeta::default(),
                spec: Some(spec),
            };
            api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .with_context(|| format!("renew lease kube-node-lease/{node}"))?;
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("create lease kube-node-lease/{node}")),
    }
}
