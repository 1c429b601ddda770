//! Load generator over real HTTP on loopback, with a view of 5,000 nodes and ~150,000 pods:
//! resident memory of the view, filter latency in the handler and over HTTP (5,000 names),
//! throughput with 500 names, and full-Nodes filter latency (500 nodes of ~12 KiB).
//! `cargo run --release -p eip-extender --example loadgen [-- SECONDS]`
//! Client and server share the machine's cores, as they would on a 2-core node.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer, web};
use eip_extender::decide::Scoring;
use eip_extender::http::{AppState, Readiness, configure};
use eip_extender::testkit::synthetic;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let before = rss_mib();
    let t = Instant::now();
    let cluster = synthetic::cluster(5_000, 30);
    println!(
        "view: {} nodes, {} pods built in {:.2} s; RSS {before:.1} MiB -> {:.1} MiB",
        cluster.node_count(),
        cluster.pod_count(),
        t.elapsed().as_secs_f64(),
        rss_mib()
    );
    let state = Arc::new(RwLock::new(cluster));
    let ready = Arc::new(Readiness::default());
    ready.synced.store(true, Ordering::Release);
    let app = web::Data::new(AppState::new(state, None, ready, Scoring::Spread));

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
        let out = app.filter_body(&names5000);
        let bytes = serde_json::to_vec(&out)?;
        std::hint::black_box(bytes);
        v.push(t.elapsed());
    }
    report("handler: filter, 5000 names", v);
    let mut v = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        let out = app.filter_body(&full500);
        std::hint::black_box(serde_json::to_vec(&out)?);
        v.push(t.elapsed());
    }
    report("handler: filter, 500 full nodes", v);

    let data = app.clone();
    let server =
        HttpServer::new(move || App::new().app_data(data.clone()).configure(configure("")))
            .workers(2)
            .bind("127.0.0.1:0")?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no address"))?;
    let handle = server.run();
    let stop = handle.handle();
    tokio::spawn(handle);
    let url = format!("http://{addr}/filter");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;

    let once = move |body: Vec<u8>| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let t = Instant::now();
            let r = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            let b = r.bytes().await?;
            anyhow::ensure!(!b.is_empty(), "empty answer");
            anyhow::Ok(t.elapsed())
        }
    };
    for _ in 0..20 {
        once(names5000.clone()).await?;
    }
    let mut v = Vec::new();
    for _ in 0..300 {
        v.push(once(names5000.clone()).await?);
    }
    report("http: filter, 5000 names (sequential)", v);
    let mut v = Vec::new();
    for _ in 0..60 {
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
    println!("RSS at the end: {:.1} MiB", rss_mib());
    stop.stop(true).await;
    Ok(())
}
