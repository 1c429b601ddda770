//! Custom resources served from their CRD (a small fixture and the real
//! `deploy/crds/podeips.yaml`), kube-rs discovery, the kube-runtime finalizer
//! helper and event Recorder against the sandbox API server.

mod apiserver_util;

use std::sync::Arc;
use std::time::Duration;

use apiserver_util::{api_code, bounded, eventually, start};
use eip_core::podeip::{PodEIP, PodEIPPhase, PodEIPSpec, PodEIPStatus, PodEIPType};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::events::v1::Event as EventV1;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::Discovery;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{finalizer, watcher};
use serde_json::json;

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Color
      type: string
      jsonPath: .spec.color
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              color: {type: string}
              size: {type: integer, default: 3}
          status:
            type: object
            properties:
              ready: {type: boolean}
"#;

fn podeip_crd_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(eip_core::podeip::CRD_PATH)
}

#[tokio::test]
async fn fixture_crd_serves_custom_objects_with_status_rules() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd: CustomResourceDefinition = serde_saphyr::from_str(WIDGET_CRD)?;
        let created = crds.create(&PostParams::default(), &crd).await?;
        let established = created
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established);

        let discovery = Discovery::new(client.clone()).run().await?;
        let group = discovery
            .get("example.com")
            .ok_or_else(|| anyhow::anyhow!("example.com not discovered"))?;
        let (ar, caps) = group
            .recommended_kind("Widget")
            .ok_or_else(|| anyhow::anyhow!("Widget not discovered"))?;
        assert_eq!(ar.plural, "widgets");
        assert!(
            caps.subresources
                .iter()
                .any(|(s, _)| s.plural == "widgets/status" || s.plural == "status")
        );

        // Aggregated discovery (apidiscovery.k8s.io/v2) finds the same.
        let aggregated = Discovery::new(client.clone()).run_aggregated().await?;
        let (agg_ar, agg_caps) = aggregated
            .get("example.com")
            .and_then(|g| g.recommended_kind("Widget"))
            .ok_or_else(|| anyhow::anyhow!("Widget not in aggregated discovery"))?;
        assert_eq!(agg_ar.plural, "widgets");
        assert_eq!(agg_caps.scope, caps.scope);
        let core = aggregated
            .get("")
            .ok_or_else(|| anyhow::anyhow!("core group not in aggregated discovery"))?;
        assert!(core.recommended_kind("Pod").is_some());

        let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(
            watcher(widgets.clone(), watcher::Config::default()).for_each(move |ev| {
                let _ = tx.send(ev);
                futures::future::ready(())
            }),
        );
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("watcher ended"))??;
            if matches!(ev, watcher::Event::InitDone) {
                break;
            }
        }
        let w: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"color": "red"},
            "status": {"ready": true}
        }))?;
        let w = widgets.create(&PostParams::default(), &w).await?;
        assert_eq!(w.data["spec"]["size"], 3, "schema default applied");
        assert!(w.data.get("status").is_none(), "status dropped on create");
        assert_eq!(w.metadata.generation, Some(1));

        let pp = PatchParams::default();
        let w = widgets
            .patch(
                "w1",
                &pp,
                &Patch::Merge(json!({"spec": {"color": "blue"}, "status": {"ready": true}})),
            )
            .await?;
        assert!(w.data.get("status").is_none(), "main writes ignore status");
        assert_eq!(
            w.metadata.generation,
            Some(2),
            "spec change bumps generation"
        );
        let w = widgets
            .patch_status(
                "w1",
                &pp,
                &Patch::Merge(json!({"spec": {"color": "green"}, "status": {"ready": true}})),
            )
            .await?;
        assert_eq!(w.data["status"]["ready"], true);
        assert_eq!(w.data["spec"]["color"], "blue", "status writes ignore spec");
        assert_eq!(
            w.metadata.generation,
            Some(2),
            "status writes keep generation"
        );

        let mut colors = Vec::new();
        while colors.len() < 3 {
            let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("watcher ended"))??;
            if let watcher::Event::Apply(o) = ev {
                colors.push(
                    o.data["spec"]["color"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        // Created red, then blue, then the status write (still blue).
        assert_eq!(colors, ["red", "blue", "blue"]);
        task.abort();

        // Deleting the CRD removes its objects and its routes.
        crds.delete("widgets.example.com", &DeleteParams::default())
            .await?;
        let e = widgets.list(&ListParams::default()).await.err();
        assert_eq!(e.as_ref().and_then(api_code), Some(404));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn podeip_crd_from_deploy_is_applied_and_served() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let text = std::fs::read_to_string(podeip_crd_path())?;
        let crd: serde_json::Value = serde_saphyr::from_str(&text)?;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.patch(
            "podeips.kube-eip.io",
            &PatchParams::apply("sandbox-test"),
            &Patch::Apply(&crd),
        )
        .await?;

        let podeips: Api<PodEIP> = Api::namespaced(client.clone(), "default");
        let mut p = PodEIP::new(
            "web-0",
            PodEIPSpec {
                allocation_id: None,
                eip_type: PodEIPType::Auto,
                release_strategy: Default::default(),
                release_after: None,
            },
        );
        p.status = Some(PodEIPStatus {
            phase: Some(PodEIPPhase::Bound),
            ..PodEIPStatus::default()
        });
        let created = podeips.create(&PostParams::default(), &p).await?;
        assert_eq!(created.status, None, "status dropped on create");
        let pp = PatchParams::default();
        let bound = podeips
            .patch_status(
                "web-0",
                &pp,
                &Patch::Merge(json!({"status": {"phase": "Bound", "eipAddress": "47.0.0.1"}})),
            )
            .await?;
        let status = bound.status.unwrap_or_default();
        assert_eq!(status.phase, Some(PodEIPPhase::Bound));
        assert_eq!(status.eip_address.as_deref(), Some("47.0.0.1"));

        // The schema default fills releaseStrategy for an object created without it.
        let raw: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            "default",
            &kube::discovery::ApiResource::erase::<PodEIP>(&()),
        );
        let d: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "kube-eip.io/v1alpha1", "kind": "PodEIP",
            "metadata": {"name": "web-1"}, "spec": {"type": "Static", "allocationId": "eip-1"}
        }))?;
        let d = raw.create(&PostParams::default(), &d).await?;
        assert_eq!(d.data["spec"]["releaseStrategy"], "Follow");

        // The structural schema prunes unknown fields and rejects bad values.
        let pruned = raw
            .patch(
                "web-1",
                &pp,
                &Patch::Merge(json!({"spec": {"unknownField": 1}, "junk": true})),
            )
            .await?;
        assert!(pruned.data["spec"].get("unknownField").is_none());
        assert!(pruned.data.get("junk").is_none());
        let e = raw
            .patch(
                "web-1",
                &pp,
                &Patch::Merge(json!({"spec": {"type": "Dynamic"}})),
            )
            .await
            .err();
        assert_eq!(e.as_ref().and_then(api_code), Some(422));
        if let Some(kube::Error::Api(s)) = &e {
            assert!(
                s.message.starts_with(
                    "PodEIP.kube-eip.io \"web-1\" is invalid: spec.type: Unsupported value"
                ),
                "{}",
                s.message
            );
        }
        let e = podeips
            .patch_status(
                "web-0",
                &pp,
                &Patch::Merge(json!({"status": {"phase": "Levitating"}})),
            )
            .await
            .err();
        assert_eq!(e.as_ref().and_then(api_code), Some(422));
        assert_eq!(podeips.list(&ListParams::default()).await?.items.len(), 2);
        Ok(())
    })
    .await
}

#[derive(Debug, thiserror::Error)]
#[error("reconcile failed")]
struct ReconcileError;

#[tokio::test]
async fn finalizer_helper_flow() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let text = std::fs::read_to_string(podeip_crd_path())?;
        let crd: CustomResourceDefinition = serde_saphyr::from_str(&text)?;
        Api::<CustomResourceDefinition>::all(client.clone())
            .create(&PostParams::default(), &crd)
            .await?;
        let podeips: Api<PodEIP> = Api::namespaced(client.clone(), "default");
        let p = PodEIP::new(
            "f",
            PodEIPSpec {
                allocation_id: None,
                eip_type: PodEIPType::Auto,
                release_strategy: Default::default(),
                release_after: None,
            },
        );
        podeips.create(&PostParams::default(), &p).await?;
        const FIN: &str = "sandbox.test/cleanup";
        let cleaned = Arc::new(std::sync::atomic::AtomicUsize::new(0));

        let run = |obj: PodEIP| {
            let podeips = podeips.clone();
            let cleaned = cleaned.clone();
            async move {
                finalizer(&podeips, FIN, Arc::new(obj), |ev| async move {
                    match ev {
                        finalizer::Event::Apply(_) => {
                            Ok::<_, ReconcileError>(Action::await_change())
                        }
                        finalizer::Event::Cleanup(_) => {
                            cleaned.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            Ok(Action::await_change())
                        }
                    }
                })
                .await
            }
        };
        // First pass adds the finalizer (JSON patch with a test op).
        run(podeips.get("f").await?).await?;
        let with = podeips.get("f").await?;
        assert_eq!(with.metadata.finalizers, Some(vec![FIN.to_string()]));
        // Second pass applies.
        run(with).await?;
        // Deletion is held by the finalizer; the helper's cleanup removes it.
        podeips.delete("f", &DeleteParams::default()).await?;
        let terminating = podeips.get("f").await?;
        assert!(terminating.metadata.deletion_timestamp.is_some());
        run(terminating).await?;
        assert_eq!(cleaned.load(std::sync::atomic::Ordering::SeqCst), 1);
        eventually(Duration::from_secs(5), || {
            let podeips = podeips.clone();
            async move {
                podeips
                    .get_opt("f")
                    .await
                    .ok()
                    .flatten()
                    .is_none()
                    .then_some(())
            }
        })
        .await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn recorder_publishes_events_and_series() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}
        }))?;
        let pod = pods.create(&PostParams::default(), &pod).await?;
        let reference = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectReference::default()
        };
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "sandbox-test".into(),
                instance: Some("t1".into()),
            },
        );
        let ev = Event {
            type_: EventType::Warning,
            reason: "EipFailed".into(),
            note: Some("could not allocate".into()),
            action: "Allocate".into(),
            secondary: None,
        };
        recorder.publish(&ev, &reference).await?;
        recorder.publish(&ev, &reference).await?;
        let events: Api<EventV1> = Api::namespaced(client.clone(), "default");
        let list = events
            .list(&ListParams::default().fields("regarding.name=p,reason=EipFailed"))
            .await?;
        assert_eq!(list.items.len(), 1);
        let e = &list.items[0];
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.note.as_deref(), Some("could not allocate"));
        assert_eq!(e.series.as_ref().map(|s| s.count), Some(2));

        // events.k8s.io/v1 and core v1 Events are one store, as in a real
        // cluster: kubectl get/describe (core v1) see what the Recorder wrote.
        let core: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(client.clone(), "default");
        let list = core
            .list(&ListParams::default().fields("involvedObject.name=p"))
            .await?;
        assert_eq!(list.items.len(), 1);
        let c = &list.items[0];
        assert_eq!(c.message.as_deref(), Some("could not allocate"));
        assert_eq!(c.reporting_component.as_deref(), Some("sandbox-test"));
        assert_eq!(c.involved_object.uid, pod.metadata.uid);
        Ok(())
    })
    .await
}
