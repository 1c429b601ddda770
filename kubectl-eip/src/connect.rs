//! A kube client from the kubeconfig, context, namespace and request timeout, as kubectl
//! picks them: `--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`, else the
//! in-cluster service account; the namespace from `-n`, else the context's, else `default`.

use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};

use crate::cli::Global;
use crate::error::{Call, Error};

/// A client and where it points.
#[derive(Clone)]
pub struct Kube {
    /// The client.
    pub client: Client,
    /// The namespace of namespaced requests (`-n`, the context's, or `default`).
    pub namespace: String,
    /// Whether `-A` was given.
    pub all_namespaces: bool,
    /// The API server's URL, for messages.
    pub server: String,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("namespace", &self.namespace)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Kube {
    /// Reads the configuration the flags name and builds a client (no request is made).
    pub async fn connect(g: &Global) -> Result<Kube, Error> {
        let options = KubeConfigOptions {
            context: g.context.clone(),
            cluster: None,
            user: None,
        };
        let kubeconfig = match &g.kubeconfig {
            Some(path) => Some(Kubeconfig::read_from(path).map_err(|e| {
                Error::Config(format!(
                    "cannot read kubeconfig {}: {}; check the --kubeconfig path",
                    path.display(),
                    cause(&e)
                ))
            })?),
            None => Kubeconfig::read().ok(),
        };
        let mut config = match kubeconfig {
            Some(kc) => Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| {
                    Error::Config(format!(
                        "invalid kubeconfig: {}; check --context and the kubeconfig's contexts (kubectl config get-contexts)",
                        cause(&e)
                    ))
                })?,
            None if g.context.is_some() => {
                return Err(Error::Config(
                    "--context was given but no kubeconfig was found; set KUBECONFIG or pass --kubeconfig".to_owned(),
                ));
            }
            None => Config::incluster().map_err(|_| {
                Error::Config(
                    "no kubeconfig found and not running in a cluster; set KUBECONFIG or pass --kubeconfig".to_owned(),
                )
            })?,
        };
        config.connect_timeout = g.request_timeout.0.or(config.connect_timeout);
        config.read_timeout = g.request_timeout.0;
        config.write_timeout = g.request_timeout.0;
        config.reset_reader_on_write = true;
        let server = config.cluster_url.to_string();
        let server = server.trim_end_matches('/').to_owned();
        let namespace = g
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).map_err(|e| {
            Error::Config(format!("cannot build a client for {server}: {}", cause(&e)))
        })?;
        Ok(Kube {
            client,
            namespace,
            all_namespaces: g.all_namespaces,
            server,
        })
    }

    /// The namespace of a listing: `None` with `-A`.
    pub fn list_namespace(&self) -> Option<&str> {
        (!self.all_namespaces).then_some(self.namespace.as_str())
    }

    /// Maps a client error of `call` to the plugin's error.
    pub fn err(&self, call: Call) -> impl FnOnce(kube::Error) -> Error + '_ {
        move |e| Error::kube(call, &self.server, e)
    }
}

fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    parts.join(": ")
}
