//! Load generator over real HTTP on loopback, with a view of 5,000 nodes and ~150,000 pods:
//! resident memory of the view, filter latency in the handler and over HTTP (5,000 names),
//! throughput with 500 names, and full-Nodes filter latency (500 nodes of ~12 KiB).
//! `cargo run --release -p eip-extender --example loadgen [-- [SECONDS] [--in-process]]`
//! The server runs in a child process (`loadgen --serve`), as the extender runs apart from
//! kube-scheduler; `--in-process` serves from this process instead. Either way client and
//! server share the machine's cores.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer, web};
use eip_extender::decide::Scoring;
use eip_extender::http::{AppState, Readiness, configure};
use eip_extender::testkit::synthetic;

/// Resident memory of this process, or of `pid`.
fn rss_mib(pid: Option<u32>) -> f64 {
    let path = pid.map_or_else(
        || "/proc/self/status".to_string(),
        |p| format!("/proc/{p}/status"),
    );
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The machine's 1/5/15-minute load averages (other work sharing the two cores).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{what:<46} n={:<5} p50={:>7.3} ms  p99={:>7.3} ms  max={:>7.3} ms",
        v.len(),
        pct(&v, 0.50),
        pct(&v, 0.99),
        pct(&v, 1.0)
    );
}

/// How the server is run: in a process of its own (as kube-scheduler and the extender are),
/// or in this one (client and server then share one tokio runtime and its threads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Spawn `loadgen --serve` and measure from this process.
    Client,
    /// Serve in this process too.
    InProcess,
    /// Serve until killed; print `listening ADDR` first.
    Serve,
}

fn app() -> web::Data<AppState> {
    let state = Arc::new(RwLock::new(synthetic::cluster(5_000, 30)));
    let ready = Arc::new(Readiness::default());
    ready.synced.store(true, Ordering::Release);
    web::Data::new(AppState::new(state, None, ready, Scoring::Spread))
}

fn server(data: web::Data<AppState>) -> anyhow::Result<(actix_web::dev::Server, String)> {
    let server =
        HttpServer::new(move || App::new().app_data(data.clone()).configure(configure("")))
            .workers(2)
            .bind("127.0.0.1:0")?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no address"))?;
    Ok((server.run(), addr.to_string()))
}

/// The server in a child process; killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_server() -> anyhow::Result<(Child, String)> {
    use std::io::BufRead;
    let mut child = Child(
        std::process::Command::new(std::env::current_exe()?)
            .arg("--serve")
            .stdout(std::process::Stdio::piped())
            .spawn()?,
    );
    let out = child
        .0
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    std::io::BufReader::new(out).read_line(&mut line)?;
    let addr = line
        .strip_prefix("listening ")
        .map(|a| a.trim().to_string())
        .ok_or_else(|| anyhow::anyhow!("server said {line:?}"))?;
    Ok((child, addr))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut role = Role::Client;
    let mut secs = 5u64;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--serve" => role = Role::Serve,
            "--in-process" => role = Role::InProcess,
            n => secs = n.parse()?,
        }
    }
    if role == Role::Serve {
        let (server, addr) = server(app())?;
        println!("listening {addr}");
        server.await?;
        return Ok(());
    }

    println!("load average at the start: {}", loadavg());
    let before = rss_mib(None);
    let t = Instant::now();
    let app = app();
    {
        let st = app
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        println!(
            "view: {} nodes, {} pods built in {:.2} s; RSS {before:.1} MiB -> {:.1} MiB",
            st.node_count(),
            st.pod_count(),
            t.elapsed().as_secs_f64(),
            rss_mib(None)
        );
    }

    let names5000 = synthetic::names_request(5_000);
    let names500 = synthetic::names_request(500);
    let full500 = synthetic::nodes_request(500);
    println!(
        "bodies: 5000 names {} KiB, 500 names {} KiB, 500 full nodes {} KiB",
        names5000.len() / 1024,
        names500.len() / 1024,
        full500.len() / 1024
    );

    // in the handler (parse, decide, encode), no HTTP
    let mut v = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        let out = app.filter_body(&names5000).answer;
        std::hint::black_box(out.to_json(names5000.len() + 4096)?);
        v.push(t.elapsed());
    }
    report("handler: filter, 5000 names", v);
    let (mut parse, mut total) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let t = Instant::now();
        let out = app.filter_body(&full500).answer;
        let decided = t.elapsed();
        std::hint::black_box(out.to_json(full500.len() + 4096)?);
        parse.push(decided);
        total.push(t.elapsed());
    }
    report("handler: filter, 500 full nodes (no encode)", parse);
    report("handler: filter, 500 full nodes", total);

    let (_child, addr, server_pid) = match role {
        Role::InProcess => {
            let (server, addr) = server(app.clone())?;
            tokio::spawn(server);
            (None, addr, None)
        }
        _ => {
            drop(app);
            let (child, addr) = spawn_server()?;
            let pid = child.0.id();
            (Some(child), addr, Some(pid))
        }
    };
    println!(
        "server: {}",
        if server_pid.is_some() {
            "separate process"
        } else {
            "this process"
        }
    );
    let url = format!("http://{addr}/filter");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;

    let once = move |body: bytes::Bytes| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let t = Instant::now();
            let mut r = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            // read the answer to its last byte (without gathering it into one buffer)
            let mut len = 0;
            while let Some(chunk) = r.chunk().await? {
                len += chunk.len();
            }
            anyhow::ensure!(len > 64, "short answer");
            anyhow::Ok(t.elapsed())
        }
    };
    let names5000 = bytes::Bytes::from(names5000);
    let names500 = bytes::Bytes::from(names500);
    let full500 = bytes::Bytes::from(full500);
    for _ in 0..20 {
        once(names5000.clone()).await?;
        once(full500.clone()).await?;
    }
    let mut v = Vec::new();
    for _ in 0..300 {
        v.push(once(names5000.clone()).await?);
    }
    report("http: filter, 5000 names (sequential)", v);
    let mut v = Vec::new();
    for _ in 0..100 {
        v.push(once(full500.clone()).await?);
    }
    report("http: filter, 500 full nodes (sequential)", v);

    for conc in [4usize, 16] {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..conc)
            .map(|_| {
                let once = once.clone();
                let body = names500.clone();
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    while Instant::now() < deadline {
                        lat.push(once(body.clone()).await?);
                    }
                    anyhow::Ok(lat)
                })
            })
            .collect();
        let start = Instant::now();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        let rate = all.len() as f64 / start.elapsed().as_secs_f64();
        println!("http: filter, 500 names, {conc} connections: {rate:.0} req/s");
        report(&format!("  latency at {conc} connections"), all);
    }
    println!("server RSS at the end: {:.1} MiB", rss_mib(server_pid));
    println!("load average at the end: {}", loadavg());
    Ok(())
}
