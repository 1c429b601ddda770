//! The configuration `--print-scheduler-config` writes has the shape of the ones a real
//! kube-scheduler v1.28.7 ran with (`fixtures/real-kube-scheduler-1.28/scheduler-config.*.yaml`).

use eip_core::extender::SchedulerConfiguration;
use eip_extender::Settings;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/real-kube-scheduler-1.28/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

#[test]
fn printed_config_matches_what_a_real_scheduler_ran_with() {
    let real = SchedulerConfiguration::from_yaml(&fixture("scheduler-config.bind.yaml"))
        .expect("fixture parses");
    let ours = SchedulerConfiguration::from_yaml(
        &Settings {
            scheduler_url: Some("http://127.0.0.1:18888".into()),
            ..Settings::default()
        }
        .scheduler_config_yaml()
        .expect("prints"),
    )
    .expect("ours parses");
    assert_eq!(ours.api_version, real.api_version);
    assert_eq!(ours.kind, real.kind);
    let (Some(r), Some(o)) = (real.extenders.first(), ours.extenders.first()) else {
        panic!("one extender each")
    };
    assert_eq!(o.url_prefix, r.url_prefix);
    assert_eq!(o.filter_verb, r.filter_verb);
    assert_eq!(o.prioritize_verb, r.prioritize_verb);
    assert_eq!(o.bind_verb, r.bind_verb);
    assert_eq!(o.node_cache_capable, r.node_cache_capable);
    assert_eq!(o.ignorable, r.ignorable);
    assert_eq!(o.weight, r.weight);
    // and what the real one lacks, ours adds: preemption and an explicit timeout
    assert_eq!(o.preempt_verb.as_deref(), Some("preempt"));
    assert!(o.http_timeout.is_some());
    // the same request paths the real scheduler used
    assert_eq!(o.verb_url("filter"), "http://127.0.0.1:18888/filter");
}
