//! A scripted HTTP server on 127.0.0.1 for the client's tests: every request is recorded
//! and answered by a closure.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, web};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// Query parameters, form-decoded.
    pub params: Vec<(String, String)>,
    /// Lower-case header names.
    pub headers: BTreeMap<String, String>,
}

impl Seen {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Answer {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
    pub fn ok() -> Self {
        Self::json(200, serde_json::json!({"RequestId": "req-ok"}))
    }
    pub fn error(status: u16, code: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({"RequestId": format!("req-{code}"), "HostId": "vpc.aliyuncs.com",
                "Code": code, "Message": format!("{code} happened"), "Recommend": "https://x"}),
        )
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

type Handler = dyn Fn(&Seen, usize) -> Answer + Send + Sync;

pub struct MockServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    handle: actix_web::dev::ServerHandle,
}

impl MockServer {
    /// Serves every request with `handler(request, index_of_request)`.
    pub async fn start(
        handler: impl Fn(&Seen, usize) -> Answer + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let seen2 = seen.clone();
        let server = actix_web::HttpServer::new(move || {
            let seen = seen2.clone();
            let handler = handler.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let seen = seen.clone();
                let handler = handler.clone();
                async move {
                    let s = Seen {
                        method: req.method().to_string(),
                        path: req.path().to_owned(),
                        query: req.query_string().to_owned(),
                        params: form_urlencoded::parse(req.query_string().as_bytes())
                            .map(|(k, v)| (k.into_owned(), v.into_owned()))
                            .collect(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.as_str().to_ascii_lowercase(),
                                    v.to_str().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect(),
                    };
                    let index = {
                        let mut g = seen.lock().unwrap_or_else(|p| p.into_inner());
                        g.push(s.clone());
                        g.len() - 1
                    };
                    let answer = handler(&s, index);
                    if !answer.delay.is_zero() {
                        tokio::time::sleep(answer.delay).await;
                    }
                    let mut resp = HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(answer.status)
                            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
                    );
                    resp.content_type("application/json");
                    for (k, v) in &answer.headers {
                        resp.insert_header((k.as_str(), v.as_str()));
                    }
                    resp.body(answer.body)
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| anyhow::anyhow!("no address bound"))?;
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { addr, seen, handle })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}
