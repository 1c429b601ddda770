//! Decision and handler cost with 5,000 nodes and ~150,000 pods in the view. Runs briefly
//! (the machine is shared): `cargo bench -p eip-extender --bench decide`.

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use eip_extender::decide::{self, Scoring};
use eip_extender::http::{AppState, Readiness};
use eip_extender::testkit::{pod, synthetic};

fn app() -> AppState {
    let state = Arc::new(RwLock::new(synthetic::cluster(5_000, 30)));
    let ready = Arc::new(Readiness::default());
    ready.synced.store(true, Ordering::Release);
    AppState::new(state, None, ready, Scoring::Spread)
}

fn bench(c: &mut Criterion) {
    let app = app();
    let names5000: Vec<String> = (0..5_000).map(synthetic::node_name).collect();
    let p = pod("bench").with_eip().build();
    let mut g = c.benchmark_group("extender");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);

    g.bench_function("decide/filter 5000 names (verdicts only)", |b| {
        let st = app
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        b.iter(|| {
            black_box(decide::filter(
                &st,
                &p,
                names5000.iter().map(|n| (n.as_str(), None)),
            ))
        })
    });

    let body5000 = synthetic::names_request(5_000);
    g.bench_function("handler/filter 5000 names (parse, decide, encode)", |b| {
        b.iter(|| {
            let out = app.filter_body(black_box(&body5000)).answer;
            black_box(serde_json::to_vec(&out).unwrap_or_default())
        })
    });

    let body500 = synthetic::names_request(500);
    g.bench_function("handler/filter 500 names", |b| {
        b.iter(|| {
            let out = app.filter_body(black_box(&body500)).answer;
            black_box(serde_json::to_vec(&out).unwrap_or_default())
        })
    });
    g.bench_function("handler/prioritize 500 names", |b| {
        b.iter(|| {
            black_box(
                app.prioritize_body(black_box(&body500))
                    .answer
                    .map(|v| v.len()),
            )
        })
    });

    let full500 = synthetic::nodes_request(500);
    g.bench_function("handler/filter 500 full nodes (~6 MiB)", |b| {
        b.iter(|| {
            let out = app.filter_body(black_box(&full500)).answer;
            black_box(serde_json::to_vec(&out).unwrap_or_default())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
