//! The agent-side work client over the in-memory transport, against a real `SourceClient`
//! with the source codec and the §5.2 status rules (docs/protocol.md §4.7, §5.1, §5.2, §6.2).

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use baton::cloudevents::Codec;
use baton::cloudevents::resource::handler_fn;
use baton::cloudevents::transport::memory::MemoryBroker;
use baton::cloudevents::{
    Action, EventType, ListError, ListOptions, Lister, ResourceAction, SourceClient, SubResource,
    TransportRole,
};
use baton::work::client::{WatchEvent, WorkClient, WorkWatch};
use baton::work::model::{
    Condition, Manifest, ManifestWork, ManifestWorkStatus, Time, manifest_bundles_data_type,
};
use baton::work::source_status::{StatusOutcome, apply_status};
use baton::work::{BundleSourceCodec, WorkStatusHasher};

use crate::support::eventually;

const LIMIT: Duration = Duration::from_secs(10);

/// The source's cache: what it wants applied, with the status the agents reported.
#[derive(Default)]
struct Hub {
    works: Mutex<HashMap<String, ManifestWork>>,
}

impl Hub {
    fn put(&self, work: &ManifestWork) {
        let mut works = self.works.lock().unwrap();
        works.insert(work.metadata.uid.clone(), work.clone());
    }

    fn get(&self, id: &str) -> Option<ManifestWork> {
        self.works.lock().unwrap().get(id).cloned()
    }

    fn remove(&self, id: &str) {
        self.works.lock().unwrap().remove(id);
    }
}

#[async_trait]
impl Lister<ManifestWork> for Hub {
    async fn list(&self, options: &ListOptions) -> Result<Vec<ManifestWork>, ListError> {
        let mut works: Vec<_> = self
            .works
            .lock()
            .unwrap()
            .values()
            .filter(|w| {
                options.cluster_name.is_empty() || w.metadata.namespace == options.cluster_name
            })
            .cloned()
            .collect();
        works.sort_by(|a, b| a.metadata.uid.cmp(&b.metadata.uid));
        Ok(works)
    }
}

async fn start_source(broker: &MemoryBroker, hub: &Arc<Hub>) -> SourceClient<ManifestWork> {
    let transport = Arc::new(broker.transport(TransportRole::source("maestro")));
    let source = SourceClient::builder("maestro", transport, hub.clone(), WorkStatusHasher)
        .codec(BundleSourceCodec::new())
        .build();
    let cache = hub.clone();
    source
        .subscribe(handler_fn(move |action, work: ManifestWork| {
            let cache = cache.clone();
            async move {
                assert_eq!(action, ResourceAction::StatusModified);
                match apply_status(cache.get(&work.metadata.uid).as_ref(), &work) {
                    StatusOutcome::Update(updated) => cache.put(&updated),
                    StatusOutcome::Deleted => cache.remove(&work.metadata.uid),
                    StatusOutcome::NotFound | StatusOutcome::Ignore(_) => {}
                }
                Ok(())
            }
        }))
        .await
        .unwrap();
    source
}

async fn start_agent(broker: &MemoryBroker, dir: &std::path::Path) -> (WorkClient, WorkWatch) {
    let transport = Arc::new(broker.transport(TransportRole::agent("cluster1")));
    WorkClient::builder("cluster1", transport)
        .state_dir(dir)
        .build()
        .await
        .unwrap()
}

fn work(name: &str, generation: i64, replicas: i64) -> ManifestWork {
    let mut work = ManifestWork::default();
    work.metadata.name = name.into();
    work.metadata.namespace = "cluster1".into();
    work.metadata.uid = format!("uid-{name}");
    work.metadata.generation = generation;
    work.spec.workload.manifests = vec![
        Manifest::from_json(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web-config","namespace":"default"}}"#).unwrap(),
        Manifest::from_json(format!(
            r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"web","namespace":"default"}},"spec":{{"replicas":{replicas}}}}}"#
        ))
        .unwrap(),
    ];
    work
}

fn replicas(work: &ManifestWork) -> i64 {
    work.spec.workload.manifests[1].to_value().unwrap()["spec"]["replicas"]
        .as_i64()
        .unwrap()
}

fn applied() -> ManifestWorkStatus {
    ManifestWorkStatus {
        conditions: vec![Condition {
            type_: "Applied".into(),
            status: "True".into(),
            observed_generation: 2,
            last_transition_time: Some(Time::now()),
            reason: "AppliedManifestWorkComplete".into(),
            message: "Apply manifest work complete".into(),
        }],
        ..ManifestWorkStatus::default()
    }
}

fn spec_type(action: Action) -> EventType {
    EventType::new(manifest_bundles_data_type(), SubResource::Spec, action)
}

async fn publish(
    source: &SourceClient<ManifestWork>,
    hub: &Hub,
    work: &ManifestWork,
    action: Action,
) {
    hub.put(work);
    source.publish(&spec_type(action), work).await.unwrap();
}

async fn next(watch: &mut WorkWatch) -> WatchEvent {
    tokio::time::timeout(LIMIT, watch.recv())
        .await
        .expect("a watch event within the deadline")
        .expect("the watch stream is open")
}

fn json_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count()
}

#[tokio::test]
async fn controller_sees_add_newer_modify_and_delete_and_its_status_reaches_the_source() {
    let broker = MemoryBroker::new();
    let hub = Arc::new(Hub::default());
    let source = start_source(&broker, &hub).await;
    let dir = tempfile::tempdir().unwrap();
    let (client, mut watch) = start_agent(&broker, dir.path()).await;

    publish(&source, &hub, &work("web", 1, 2), Action::CreateRequest).await;
    let WatchEvent::Added(added) = next(&mut watch).await else {
        panic!("expected Added")
    };
    assert_eq!(
        (added.metadata.name.as_str(), added.metadata.generation),
        ("web", 1)
    );
    assert_eq!(added.original_source(), Some("maestro"));

    // Same version again: not newer, not seen. The next event is the newer spec.
    publish(&source, &hub, &work("web", 1, 5), Action::UpdateRequest).await;
    publish(&source, &hub, &work("web", 2, 3), Action::UpdateRequest).await;
    let WatchEvent::Modified(modified) = next(&mut watch).await else {
        panic!("expected Modified")
    };
    assert_eq!((modified.metadata.generation, replicas(&modified)), (2, 3));

    let id = "uid-web";
    let stored = client.update_status(id, applied()).await.unwrap();
    assert_eq!(client.get(id).await.unwrap().status, stored.status);
    eventually("the source holds the reported status", LIMIT, || async {
        hub.get(id)
            .is_some_and(|w| w.status == stored.status && !w.sequence_id().is_empty())
    })
    .await;

    let mut deleting = hub.get(id).unwrap();
    deleting.metadata.deletion_timestamp = Some(Time::now());
    publish(&source, &hub, &deleting, Action::DeleteRequest).await;
    let WatchEvent::Deleted(deleted) = next(&mut watch).await else {
        panic!("expected Deleted")
    };
    assert!(deleted.metadata.deletion_timestamp.is_some());
    assert_eq!(deleted.status, stored.status, "status kept while deleting");
    assert!(matches!(
        client.complete_deletion("uid-unknown").await,
        Err(baton::work::client::WorkClientError::NotFound(_))
    ));

    client.complete_deletion(id).await.unwrap();
    eventually("the source dropped the deleted work", LIMIT, || async {
        hub.get(id).is_none()
    })
    .await;
    assert!(client.get(id).await.is_none());
    assert_eq!(json_files(dir.path()), 0, "the state file is gone");
    assert_eq!(client.stats().malformed, 0);
    client.shutdown().await;
    source.shutdown().await;
}

#[tokio::test]
async fn a_restarted_agent_resyncs_from_its_persisted_store() {
    let broker = MemoryBroker::new();
    let hub = Arc::new(Hub::default());
    let source = start_source(&broker, &hub).await;
    let dir = tempfile::tempdir().unwrap();

    let (first, mut watch) = start_agent(&broker, dir.path()).await;
    publish(&source, &hub, &work("a", 1, 2), Action::CreateRequest).await;
    publish(&source, &hub, &work("b", 1, 2), Action::CreateRequest).await;
    assert!(matches!(next(&mut watch).await, WatchEvent::Added(_)));
    assert!(matches!(next(&mut watch).await, WatchEvent::Added(_)));
    first.update_status("uid-a", applied()).await.unwrap();
    assert!(matches!(
        first.complete_deletion("uid-a").await,
        Err(baton::work::client::WorkClientError::NotDeleting(_))
    ));
    first.shutdown().await;

    // While the agent is away: a is updated, b is deleted and forgotten by the source.
    hub.put(&work("a", 2, 3));
    hub.remove("uid-b");

    let (second, mut watch) = start_agent(&broker, dir.path()).await;
    // What it held is announced first, from the state directory...
    let held: Vec<_> = [next(&mut watch).await, next(&mut watch).await]
        .into_iter()
        .map(|e| match e {
            WatchEvent::Added(w) => (
                w.metadata.uid,
                w.metadata.generation,
                w.status.conditions.len(),
            ),
            other => panic!("expected Added, got {other:?}"),
        })
        .collect();
    assert_eq!(
        held,
        [("uid-a".to_owned(), 1, 1), ("uid-b".to_owned(), 1, 0)]
    );
    // ...then the spec resync brings the newer a and the delete of b.
    let mut resynced = HashMap::new();
    for _ in 0..2 {
        let event = next(&mut watch).await;
        resynced.insert(event.work().metadata.uid.clone(), event);
    }
    let Some(WatchEvent::Modified(a)) = resynced.get("uid-a") else {
        panic!("a: {resynced:?}")
    };
    assert_eq!((a.metadata.generation, replicas(a)), (2, 3));
    assert_eq!(
        a.status.conditions.len(),
        1,
        "the applied status survives the restart"
    );
    assert!(matches!(
        resynced.get("uid-b"),
        Some(WatchEvent::Deleted(_))
    ));

    // The source lost a's status (it replaced the work): a status resync brings it back (§6.6).
    source.resync(Some("cluster1")).await.unwrap();
    eventually("the status resync restores a's status", LIMIT, || async {
        hub.get("uid-a")
            .is_some_and(|w| w.status.conditions.len() == 1 && !w.sequence_id().is_empty())
    })
    .await;

    second.complete_deletion("uid-b").await.unwrap();
    let ids: Vec<_> = second
        .list()
        .await
        .into_iter()
        .map(|w| w.metadata.uid)
        .collect();
    assert_eq!(ids, ["uid-a"]);
    assert_eq!(json_files(dir.path()), 1);
    second.shutdown().await;
    source.shutdown().await;
}

#[tokio::test]
async fn an_invalid_spec_is_counted_and_dropped_and_the_agent_goes_on() {
    let broker = MemoryBroker::new();
    let hub = Arc::new(Hub::default());
    let source = start_source(&broker, &hub).await;
    let dir = tempfile::tempdir().unwrap();
    let (client, mut watch) = start_agent(&broker, dir.path()).await;

    // The source codec refuses to send it, so build the event by hand: no kind in manifest 1.
    let raw = baton::cloudevents::EventBuilder::new("maestro", &spec_type(Action::CreateRequest))
        .cluster_name("cluster1")
        .resource_id("uid-bad")
        .resource_version(1)
        .json_data(
            br#"{"manifests":[{"kind":"ConfigMap","metadata":{"name":"ok"}},{"metadata":{"name":"no-kind"}}]}"#
                .to_vec(),
        )
        .build()
        .unwrap();
    let refused = BundleSourceCodec::new()
        .encode("maestro", &spec_type(Action::CreateRequest), &{
            let mut bad = work("bad", 1, 2);
            bad.spec.workload.manifests[1] =
                Manifest::from_json(r#"{"metadata":{"name":"no-kind"}}"#).unwrap();
            bad
        })
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("manifest 1") && refused.contains("kind"),
        "{refused}"
    );
    let transport = broker.transport(TransportRole::source("maestro-raw"));
    baton::cloudevents::Transport::publish(&transport, &raw)
        .await
        .unwrap();
    publish(&source, &hub, &work("good", 1, 2), Action::CreateRequest).await;

    let WatchEvent::Added(added) = next(&mut watch).await else {
        panic!("expected Added")
    };
    assert_eq!(
        added.metadata.uid, "uid-good",
        "the invalid work never reaches the watch"
    );
    assert_eq!(client.stats().malformed, 1);
    assert!(client.get("uid-bad").await.is_none());
    client.shutdown().await;
    source.shutdown().await;
}
