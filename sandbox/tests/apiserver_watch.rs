//! Watch conformance: kube-runtime reflectors and watchers over the sandbox
//! API server, replay from a resourceVersion, bookmarks, timeouts, selector
//! transitions, and 410 Gone with watcher recovery.

mod apiserver_util;

use std::time::Duration;

use apiserver_util::{bounded, eventually, start, start_with};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use sandbox::apiserver::ApiServerOptions;
use serde_json::json;

fn cm(name: &str, value: &str) -> anyhow::Result<ConfigMap> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "w"}},
        "data": {"v": value}
    }))?)
}

fn rv_of(c: &ConfigMap) -> u64 {
    c.metadata
        .resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn reflector_sees_every_change_in_order() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.create(&PostParams::default(), &cm("pre", "0")?).await?;

        let (reader, writer) = reflector::store::<ConfigMap>();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stream = reflector(writer, watcher(cms.clone(), watcher::Config::default()))
            .applied_objects()
            .try_for_each(move |o| {
                let _ = tx.send((
                    o.metadata.name.clone().unwrap_or_default(),
                    o.data.and_then(|d| d.get("v").cloned()).unwrap_or_default(),
                    rv_of_opt(&o.metadata.resource_version),
                ));
                futures::future::ready(Ok(()))
            });
        let task = tokio::spawn(stream);
        reader.wait_until_ready().await?;

        let pp = PatchParams::default();
        cms.create(&PostParams::default(), &cm("a", "1")?).await?;
        cms.patch("a", &pp, &Patch::Merge(json!({"data": {"v": "2"}})))
            .await?;
        cms.create(&PostParams::default(), &cm("b", "1")?).await?;
        cms.patch("a", &pp, &Patch::Merge(json!({"data": {"v": "3"}})))
            .await?;
        cms.delete("b", &DeleteParams::default()).await?;
        cms.patch("pre", &pp, &Patch::Merge(json!({"data": {"v": "9"}})))
            .await?;

        let mut seen = Vec::new();
        while seen.len() < 6 {
            let next = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await?;
            seen.push(next.ok_or_else(|| anyhow::anyhow!("watch ended"))?);
        }
        let values: Vec<(String, String)> = seen
            .iter()
            .map(|(n, v, _)| (n.clone(), v.clone()))
            .collect();
        assert_eq!(
            values,
            [
                ("pre", "0"),
                ("a", "1"),
                ("a", "2"),
                ("b", "1"),
                ("a", "3"),
                ("pre", "9")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .to_vec()
        );
        let rvs: Vec<u64> = seen.iter().skip(1).map(|s| s.2).collect();
        assert!(
            rvs.windows(2).all(|w| w[0] < w[1]),
            "resourceVersions in order: {rvs:?}"
        );

        eventually(Duration::from_secs(5), || {
            let reader = reader.clone();
            async move {
                let mut names: Vec<String> = reader
                    .state()
                    .iter()
                    .filter_map(|c| c.metadata.name.clone())
                    .collect();
                names.sort();
                (names == ["a", "pre"]).then_some(())
            }
        })
        .await?;
        task.abort();
        Ok(())
    })
    .await
}

fn rv_of_opt(rv: &Option<String>) -> u64 {
    rv.as_deref().and_then(|r| r.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn watch_replays_from_a_resource_version_and_honours_selectors() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let a = cms.create(&PostParams::default(), &cm("a", "1")?).await?;
        let from = rv_of(&a);
        let pp = PatchParams::default();
        cms.patch("a", &pp, &Patch::Merge(json!({"data": {"v": "2"}})))
            .await?;
        // Leaves the selection: a selector watch sees it as DELETED.
        cms.patch(
            "a",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"app": null}}})),
        )
        .await?;
        let wp = WatchParams::default().labels("app=w").timeout(2);
        let events: Vec<String> = cms
            .watch(&wp, &from.to_string())
            .await?
            .map_ok(|e| match e {
                WatchEvent::Added(c) => format!(
                    "ADDED {}",
                    c.data.and_then(|d| d.get("v").cloned()).unwrap_or_default()
                ),
                WatchEvent::Modified(c) => format!(
                    "MODIFIED {}",
                    c.data.and_then(|d| d.get("v").cloned()).unwrap_or_default()
                ),
                WatchEvent::Deleted(_) => "DELETED".into(),
                WatchEvent::Bookmark(_) => "BOOKMARK".into(),
                WatchEvent::Error(e) => format!("ERROR {}", e.code),
            })
            .try_collect()
            .await?;
        assert_eq!(
            events,
            vec!["MODIFIED 2".to_string(), "DELETED".to_string()]
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn bookmarks_and_timeouts() -> anyhow::Result<()> {
    bounded(async {
        let opts = ApiServerOptions {
            bookmark_interval: Duration::from_millis(200),
            ..ApiServerOptions::default()
        };
        let (_server, client) = start_with(opts).await?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let a = cms.create(&PostParams::default(), &cm("a", "1")?).await?;
        let started = tokio::time::Instant::now();
        let wp = WatchParams::default().timeout(1);
        let events: Vec<WatchEvent<ConfigMap>> = cms
            .watch(&wp, &rv_of(&a).to_string())
            .await?
            .try_collect()
            .await?;
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(900),
            "watch ended early: {elapsed:?}"
        );
        let bookmarks: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                WatchEvent::Bookmark(b) => Some(b.metadata.resource_version.clone()),
                _ => None,
            })
            .collect();
        assert!(!bookmarks.is_empty(), "no bookmark in {events:?}");
        assert!(bookmarks.iter().all(|b| b == &rv_of(&a).to_string()));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn expired_resource_version_gets_410_and_the_watcher_relists() -> anyhow::Result<()> {
    bounded(async {
        let opts = ApiServerOptions {
            history_limit: 5,
            bookmark_interval: Duration::from_secs(300),
            ..ApiServerOptions::default()
        };
        let (_server, client) = start_with(opts).await?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let noise: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
        let first = cms.create(&PostParams::default(), &cm("a", "1")?).await?;
        for i in 0..10 {
            noise
                .create(&PostParams::default(), &cm(&format!("n{i}"), "x")?)
                .await?;
        }
        // A raw watch from the compacted version gets one ERROR event: 410 Expired.
        let events: Vec<WatchEvent<ConfigMap>> = cms
            .watch(&WatchParams::default(), &rv_of(&first).to_string())
            .await?
            .try_collect()
            .await?;
        match events.as_slice() {
            [WatchEvent::Error(s)] => {
                assert_eq!(s.code, 410);
                assert_eq!(s.reason, "Expired");
            }
            other => anyhow::bail!("expected one 410 ERROR event, got {other:?}"),
        }

        // A watcher whose watch times out while its version is compacted away
        // relists (a second Init) and its reflector ends up consistent.
        let (reader, writer) = reflector::store::<ConfigMap>();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let cfg = watcher::Config::default().timeout(1);
        let stream = reflector(writer, watcher(cms.clone(), cfg)).for_each(move |ev| {
            let tag = match ev {
                Ok(watcher::Event::Init) => "init",
                Ok(_) => "event",
                Err(_) => "error",
            };
            let _ = tx.send(tag);
            futures::future::ready(())
        });
        let task = tokio::spawn(stream);
        reader.wait_until_ready().await?;
        cms.create(&PostParams::default(), &cm("b", "1")?).await?;
        for i in 10..20 {
            noise
                .create(&PostParams::default(), &cm(&format!("n{i}"), "x")?)
                .await?;
        }
        cms.delete("a", &DeleteParams::default()).await?;
        cms.create(&PostParams::default(), &cm("c", "1")?).await?;
        for i in 20..30 {
            noise
                .create(&PostParams::default(), &cm(&format!("n{i}"), "x")?)
                .await?;
        }
        let mut inits = 0;
        let mut errors = 0;
        while inits < 2 {
            let tag = tokio::time::timeout(Duration::from_secs(15), rx.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("watcher ended"))?;
            match tag {
                "init" => inits += 1,
                "error" => errors += 1,
                _ => {}
            }
        }
        assert!(
            errors >= 1,
            "the watcher saw the 410 as an error before relisting"
        );
        eventually(Duration::from_secs(10), || {
            let reader = reader.clone();
            async move {
                let mut names: Vec<String> = reader
                    .state()
                    .iter()
                    .filter_map(|c| c.metadata.name.clone())
                    .collect();
                names.sort();
                (names == ["b", "c"]).then_some(())
            }
        })
        .await?;
        task.abort();
        Ok(())
    })
    .await
}

#[tokio::test]
async fn metadata_watcher_and_shutdown() -> anyhow::Result<()> {
    bounded(async {
        let opts = ApiServerOptions {
            bookmark_interval: Duration::from_millis(200),
            ..ApiServerOptions::default()
        };
        let (server, client) = start_with(opts).await?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(
            watcher(
                Api::<kube::core::PartialObjectMeta<ConfigMap>>::namespaced(
                    client.clone(),
                    "default",
                ),
                watcher::Config::default(),
            )
            .applied_objects()
            .for_each(move |o| {
                if let Ok(o) = o {
                    let _ = tx.send(o.metadata.name.unwrap_or_default());
                }
                futures::future::ready(())
            }),
        );
        cms.create(&PostParams::default(), &cm("m", "1")?).await?;
        let name = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await?;
        assert_eq!(name.as_deref(), Some("m"));

        // A client that goes away closes its watch on the server (noticed at
        // the next write: an event or a bookmark).
        let dropped = cms.watch(&WatchParams::default(), "0").await?.boxed();
        eventually(Duration::from_secs(5), || {
            let n = server.open_watches();
            async move { (n == 2).then_some(()) }
        })
        .await?;
        drop(dropped);
        eventually(Duration::from_secs(10), || {
            let n = server.open_watches();
            async move { (n == 1).then_some(()) }
        })
        .await?;

        // An open watch ends and requests fail once the server is shut down.
        let mut open = cms.watch(&WatchParams::default(), "0").await?.boxed();
        server.shutdown().await;
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(Ok(_)) = open.next().await {}
        })
        .await;
        assert!(ended.is_ok(), "open watch did not end on shutdown");
        assert!(cms.get("m").await.is_err());
        task.abort();
        Ok(())
    })
    .await
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_then_changes() -> anyhow::Result<()> {
    bounded(async {
        let (_server, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.create(&PostParams::default(), &cm("one", "1")?).await?;
        cms.create(&PostParams::default(), &cm("two", "1")?).await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(
            watcher(cms.clone(), watcher::Config::default().streaming_lists()).for_each(move |e| {
                let tag = match e {
                    Ok(watcher::Event::Init) => "init".to_string(),
                    Ok(watcher::Event::InitApply(o)) => {
                        format!("init-apply {}", o.metadata.name.unwrap_or_default())
                    }
                    Ok(watcher::Event::InitDone) => "init-done".to_string(),
                    Ok(watcher::Event::Apply(o)) => {
                        format!("apply {}", o.metadata.name.unwrap_or_default())
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        format!("delete {}", o.metadata.name.unwrap_or_default())
                    }
                    Err(e) => format!("error {e}"),
                };
                let _ = tx.send(tag);
                futures::future::ready(())
            }),
        );
        let mut next = async || -> anyhow::Result<String> {
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("watcher ended"))
        };
        assert_eq!(next().await?, "init");
        assert_eq!(next().await?, "init-apply one");
        assert_eq!(next().await?, "init-apply two");
        assert_eq!(next().await?, "init-done");
        cms.delete("one", &DeleteParams::default()).await?;
        assert_eq!(next().await?, "delete one");
        task.abort();
        Ok(())
    })
    .await
}
