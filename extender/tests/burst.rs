//! Concurrent binds never over-commit: a node with 5 free slots takes exactly 5 of 50 pods;
//! a region with quota 20 and 10 EIPs allocated approves exactly 10 of 30 EIP pods. Run
//! both directly on the coordinator and over HTTP (actix test server), with a binder whose
//! calls take a while so the binds really interleave.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::{App, test, web};
use eip_extender::bind::{BindCoordinator, BindOutcome};
use eip_extender::decide::{ReasonKind, Scoring};
use eip_extender::http::{AppState, Readiness, configure};
use eip_extender::state::{CloudView, ClusterState, EipFacts, EniSwitches};
use eip_extender::testkit::{FakeBinder, node, pod};
use futures::future::join_all;

const TIMEOUT: Duration = Duration::from_secs(30);

fn region(allocated: usize) -> ClusterState {
    let mut s = ClusterState::new(20, "cn-hangzhou");
    s.switches = EniSwitches::new(true, false);
    let eips: HashMap<String, EipFacts> = (0..allocated)
        .map(|i| {
            let id = format!("eip-old{i}");
            (
                id.clone(),
                EipFacts {
                    allocation_id: id,
                    status: "InUse".into(),
                    instance_id: None,
                    private_ip: None,
                },
            )
        })
        .collect();
    s.cloud = Some(CloudView {
        region: "cn-hangzhou".into(),
        eips,
        ..CloudView::default()
    });
    s
}

/// (bound, rejected for `why`) among the outcomes of spawned binds; anything else fails.
fn tally(
    outcomes: Vec<Result<BindOutcome, tokio::task::JoinError>>,
    why: ReasonKind,
) -> (usize, usize) {
    let (mut bound, mut rejected) = (0, 0);
    for o in outcomes {
        match o.expect("bind task") {
            BindOutcome::Bound => bound += 1,
            BindOutcome::Rejected(r) if r.kind == why => rejected += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    (bound, rejected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_binds_on_five_free_slots_bind_exactly_five() {
    tokio::time::timeout(TIMEOUT, async {
        let mut s = region(0);
        s.apply_node(node("small").max_ips(8).build());
        for i in 0..3 {
            s.apply_pod(pod(&format!("old{i}")).on("small").build());
        }
        for i in 0..50 {
            s.apply_pod(pod(&format!("new{i}")).build());
        }
        let state = Arc::new(RwLock::new(s));
        let binder = Arc::new(FakeBinder::with_delay(Duration::from_millis(5)));
        let coord = Arc::new(BindCoordinator::new(state.clone(), binder.clone()));
        let tasks = (0..50).map(|i| {
            let coord = coord.clone();
            tokio::spawn(async move {
                coord
                    .bind(
                        "default",
                        &format!("new{i}"),
                        &format!("uid-new{i}"),
                        "small",
                    )
                    .await
            })
        });
        let outcomes = join_all(tasks).await;
        assert_eq!(tally(outcomes, ReasonKind::NodeFull), (5, 45));
        assert_eq!(binder.bound_count(), 5);
        assert_eq!(binder.calls.load(Ordering::SeqCst), 5);
        let st = state.read().unwrap();
        let e = st.node("small").unwrap();
        assert_eq!((e.used, e.reserved, e.free()), (3, 5, Some(0)));
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_eip_pods_against_quota_twenty_with_ten_allocated_approve_ten() {
    tokio::time::timeout(TIMEOUT, async {
        let mut s = region(10);
        for n in 0..6 {
            s.apply_node(node(&format!("n{n}")).max_ips(50).build());
        }
        for i in 0..30 {
            s.apply_pod(pod(&format!("e{i}")).with_eip().build());
        }
        let state = Arc::new(RwLock::new(s));
        let binder = Arc::new(FakeBinder::with_delay(Duration::from_millis(5)));
        let coord = Arc::new(BindCoordinator::new(state.clone(), binder.clone()));
        let tasks = (0..30).map(|i| {
            let coord = coord.clone();
            tokio::spawn(async move {
                coord
                    .bind(
                        "default",
                        &format!("e{i}"),
                        &format!("uid-e{i}"),
                        &format!("n{}", i % 6),
                    )
                    .await
            })
        });
        let outcomes = join_all(tasks).await;
        assert_eq!(tally(outcomes, ReasonKind::QuotaReached), (10, 20));
        assert_eq!(binder.bound_count(), 10);
        let st = state.read().unwrap();
        assert_eq!(st.allocated_eips(), Some(10));
        assert_eq!(st.approved_unallocated(), 10);
        // the watch shows the bound pods on their nodes: the quota units move from
        // reservations to pending allocations, and the total stays at the quota
        drop(st);
        for i in 0..30 {
            if let Some(n) = binder.node_of("default", &format!("e{i}")) {
                state
                    .write()
                    .unwrap()
                    .apply_pod(pod(&format!("e{i}")).with_eip().on(&n).build());
            }
        }
        let st = state.read().unwrap();
        assert_eq!(st.reservation_count(), 0);
        assert_eq!(st.approved_unallocated(), 10);
    })
    .await
    .expect("test timed out");
}

#[actix_web::test]
async fn burst_over_http_binds_exactly_the_free_slots() {
    tokio::time::timeout(TIMEOUT, async {
        let mut s = region(0);
        s.apply_node(node("small").max_ips(5).build());
        for i in 0..50 {
            s.apply_pod(pod(&format!("new{i}")).build());
        }
        let state = Arc::new(RwLock::new(s));
        let binder = Arc::new(FakeBinder::with_delay(Duration::from_millis(2)));
        let ready = Arc::new(Readiness::default());
        ready.synced.store(true, Ordering::Release);
        let coord = Arc::new(BindCoordinator::new(state.clone(), binder.clone()));
        let data = web::Data::new(AppState::new(
            state.clone(),
            Some(coord),
            ready,
            Scoring::Spread,
        ));
        let app = test::init_service(App::new().app_data(data).configure(configure(""))).await;
        let reqs = (0..50).map(|i| {
            let body = serde_json::json!({
                "PodName": format!("new{i}"),
                "PodNamespace": "default",
                "PodUID": format!("uid-new{i}"),
                "Node": "small",
            });
            test::call_and_read_body_json::<_, _, serde_json::Value>(
                &app,
                test::TestRequest::post()
                    .uri("/bind")
                    .set_json(body)
                    .to_request(),
            )
        });
        let answers = join_all(reqs).await;
        let ok = answers.iter().filter(|v| v["Error"] == "").count();
        assert_eq!(ok, 5);
        assert_eq!(binder.bound_count(), 5);
        for v in answers.iter().filter(|v| v["Error"] != "") {
            assert_eq!(
                v["Error"],
                "node small has 0 of 5 pod IPs free (k8s.aliyun.com/max-available-ip = 5)"
            );
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_of_deleted_nodes_are_pruned_unless_held() {
    tokio::time::timeout(TIMEOUT, async {
        let mut s = region(0);
        for n in ["stays", "goes", "busy"] {
            s.apply_node(node(n).max_ips(8).build());
        }
        for p in ["a", "b", "c"] {
            s.apply_pod(pod(p).build());
        }
        let state = Arc::new(RwLock::new(s));
        let binder = Arc::new(FakeBinder::with_delay(Duration::from_millis(300)));
        let coord = Arc::new(BindCoordinator::new(state.clone(), binder.clone()));
        for (p, n) in [("a", "stays"), ("b", "goes")] {
            assert_eq!(
                coord.bind("default", p, &format!("uid-{p}"), n).await,
                BindOutcome::Bound
            );
        }
        // a bind to "busy" is in flight (holding its guard) when "busy" is deleted
        let in_flight = {
            let coord = coord.clone();
            tokio::spawn(async move { coord.bind("default", "c", "uid-c", "busy").await })
        };
        while binder.calls.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(coord.guard_count(), 3);
        state.write().unwrap().delete_node("goes");
        state.write().unwrap().delete_node("busy");
        assert_eq!(
            coord.prune_guards(),
            1,
            "only the idle guard of a deleted node"
        );
        assert_eq!(coord.guard_count(), 2);
        assert_eq!(in_flight.await.unwrap(), BindOutcome::Bound);
        assert_eq!(coord.prune_guards(), 1, "released once its bind is done");
        assert_eq!(coord.guard_count(), 1, "the known node keeps its guard");
        // a node deleted and back: binds take a fresh guard
        state
            .write()
            .unwrap()
            .apply_node(node("goes").max_ips(8).build());
        state.write().unwrap().apply_pod(pod("d").build());
        assert_eq!(
            coord.bind("default", "d", "uid-d", "goes").await,
            BindOutcome::Bound
        );
        assert_eq!(coord.guard_count(), 2);
    })
    .await
    .expect("test timed out");
}
