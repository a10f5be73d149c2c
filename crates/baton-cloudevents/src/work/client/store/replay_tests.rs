//! Replays sdk-go's observed agent spec handling (`agent-spec-handling.json`, docs/protocol.md
//! §5.1) through `classify_spec` and the store.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

use super::{WatchEvent, WorkStore};
use crate::agent::classify_spec;
use crate::work::codec::BundleAgentCodec;
use crate::work::model::{Condition, ManifestWork, Time};
use crate::{Codec, Event, ResourceAction};

fn vector(relative: &str) -> Value {
    let path = format!(
        "{}/../../tests/data/vectors/{relative}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A spec event of `event_type` with version `version` built from the vector event whose
/// content fits: create (replicas 2), update (replicas 3), delete.
fn spec_event(version: &str, event_type: &str, resource_version: i64, replicas: i64) -> Event {
    let name = if event_type.ends_with("delete_request") {
        "03-spec-delete"
    } else if replicas == 3 {
        "02-spec-update"
    } else {
        "01-spec-create"
    };
    let mut event = vector(&format!("{version}/manifestbundles/{name}.json"));
    event["type"] = event_type.into();
    event["resourceversion"] = resource_version.into();
    serde_json::from_value(event).unwrap()
}

fn replicas_of(work: &ManifestWork) -> Option<i64> {
    let deployment = work.spec.workload.manifests.get(1)?.to_value().ok()?;
    deployment["spec"]["replicas"].as_i64()
}

async fn handle(store: &WorkStore, event: &Event) -> Option<ResourceAction> {
    let incoming = BundleAgentCodec::new().decode(event).unwrap();
    let held = store.get(&incoming.metadata.uid).await;
    let action = classify_spec(held.as_ref(), &incoming)?;
    store.apply_spec(action, incoming).await.unwrap();
    Some(action)
}

fn new_store() -> (Arc<WorkStore>, mpsc::Receiver<WatchEvent>) {
    let (tx, rx) = mpsc::channel(16);
    (Arc::new(WorkStore::new(Vec::new(), None, tx)), rx)
}

#[tokio::test]
async fn v1_3_store_snapshots_are_reproduced() {
    let cases = vector("v1.3.0/manifestbundles/agent-spec-handling.json");
    for case in cases["cases"].as_array().unwrap() {
        let name = case["case"].as_str().unwrap();
        let (store, _watch) = new_store();
        let before = &case["before"];
        if before["exists"] == true {
            let generation = before["generation"].as_i64().unwrap_or(0);
            let replicas = before["deploymentReplicasInSpec"].as_i64().unwrap();
            let ty =
                "io.open-cluster-management.works.v1alpha1.manifestbundles.spec.create_request";
            let preload = spec_event("v1.3.0", ty, generation, replicas);
            handle(&store, &preload).await;
            let id = "03f36550-d4de-565a-b59e-268477dbea7f";
            let count = before["statusConditions"].as_u64().unwrap() as usize;
            store
                .update(id, |held| {
                    let mut work = held.cloned()?;
                    work.status.conditions = vec![
                        Condition {
                            type_: "Applied".into(),
                            status: "True".into(),
                            last_transition_time: Some(Time::now()),
                            ..Condition::default()
                        };
                        count
                    ];
                    Some(work)
                })
                .await
                .unwrap();
        }
        let event_type = case["eventType"].as_str().unwrap();
        let replicas = if event_type.ends_with("update_request") {
            3
        } else {
            2
        };
        let version = case["eventResourceVersion"].as_i64().unwrap();
        handle(&store, &spec_event("v1.3.0", event_type, version, replicas)).await;

        let after = &case["after"];
        let works = store.list().await;
        assert_eq!(works.len(), 1, "{name}: exists");
        let work = &works[0];
        assert_eq!(
            work.metadata.generation,
            after["generation"].as_i64().unwrap_or(0),
            "{name}: generation"
        );
        assert_eq!(
            work.metadata
                .deletion_timestamp
                .map(|t| crate::extensions::format_timestamp(&t.0)),
            after["deletionTimestamp"].as_str().map(str::to_owned),
            "{name}: deletion timestamp"
        );
        assert_eq!(
            replicas_of(work),
            after["deploymentReplicasInSpec"].as_i64(),
            "{name}: replicas"
        );
        assert_eq!(
            work.status.conditions.len() as u64,
            after["statusConditions"].as_u64().unwrap(),
            "{name}: status kept"
        );
    }
}

#[tokio::test]
async fn v1_0_handler_actions_agree_except_unversioned_over_versioned() {
    let cases = vector("v1.0.0/manifestbundles/agent-spec-handling.json");
    let mut replayed = 0;
    for case in cases["cases"].as_array().unwrap() {
        let name = case["case"].as_str().unwrap();
        let event_type = case["eventType"].as_str().unwrap();
        // Cluster, subresource and data type filters belong to the agent client, not to the
        // decision; "incoming 0, stored 1" is where v1.2+ (which baton follows) re-applies.
        if case["eventClusterName"] != "cluster1"
            || !event_type.contains(".manifestbundles.spec.")
            || name == "incoming 0, stored 1"
        {
            continue;
        }
        let (store, _watch) = new_store();
        if let Some(stored) = case["agentStoredResourceVersion"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            let ty =
                "io.open-cluster-management.works.v1alpha1.manifestbundles.spec.create_request";
            handle(
                &store,
                &spec_event("v1.0.0", ty, stored.parse().unwrap(), 2),
            )
            .await;
        }
        let version = case["eventResourceVersion"].as_i64().unwrap();
        let action = handle(&store, &spec_event("v1.0.0", event_type, version, 2)).await;
        let expected: Vec<&str> = case["handlerActions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let got: Vec<&str> = action
            .map(|a| match a {
                ResourceAction::Added => "ADDED",
                ResourceAction::Modified => "MODIFIED",
                ResourceAction::Deleted => "DELETED",
                ResourceAction::StatusModified => "STATUS",
            })
            .into_iter()
            .collect();
        assert_eq!(got, expected, "{name}");
        replayed += 1;
    }
    assert_eq!(replayed, 7);
}

#[tokio::test]
async fn the_watch_stream_sees_add_modify_and_delete_once() {
    let (store, mut watch) = new_store();
    let ty = |action: &str| {
        format!("io.open-cluster-management.works.v1alpha1.manifestbundles.spec.{action}")
    };
    handle(&store, &spec_event("v1.3.0", &ty("create_request"), 1, 2)).await;
    handle(&store, &spec_event("v1.3.0", &ty("create_request"), 1, 2)).await;
    handle(&store, &spec_event("v1.3.0", &ty("update_request"), 2, 3)).await;
    handle(&store, &spec_event("v1.3.0", &ty("delete_request"), 2, 3)).await;
    handle(&store, &spec_event("v1.3.0", &ty("delete_request"), 2, 3)).await;
    let mut seen = Vec::new();
    while let Ok(event) = watch.try_recv() {
        seen.push(event);
    }
    assert!(
        matches!(&seen[..], [WatchEvent::Added(a), WatchEvent::Modified(m), WatchEvent::Deleted(d)]
        if a.metadata.generation == 1 && m.metadata.generation == 2
            && d.metadata.deletion_timestamp.is_some() && replicas_of(d) == Some(3))
    );
}
