//! The source-side work client (sdk-go's `ManifestWorkSourceClient`, left "TODO" in its
//! README): create, update and delete ManifestWorks for managed clusters and receive their
//! status. The client keeps the source's copy of every work in memory; it is the [`Lister`]
//! the generic [`SourceClient`] answers spec resyncs (§6.5) and sends status resyncs (§6.3)
//! from, and received status goes through the §5.2 rules ([`apply_status`]) before it is
//! stored and announced on the watch stream.
//!
//! Must not persist anything: a source that must survive restarts (the hub) keeps its works in
//! its own store and builds a [`SourceClient`] over its own [`Lister`].

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{Mutex, mpsc};

use crate::resource::handler_fn;
use crate::stats::StatsSnapshot;
use crate::work::codec::{BundleSourceCodec, ManifestSourceCodec};
use crate::work::data_types::WorkDataType;
use crate::work::model::{ManifestWork, ManifestWorkSpec, Time};
use crate::work::source_status::{StatusOutcome, apply_status};
use crate::work::status_hash::WorkStatusHasher;
use crate::{
    Action, ClientError, EventType, ListError, ListOptions, Lister, SourceClient, SubResource,
    Transport,
};

/// A change of a work's status, as the source sees it on its watch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceWatchEvent {
    /// An agent reported a new status; the work carries it.
    StatusUpdated(ManifestWork),
    /// The agent finished deleting the work (§4.7); the source has forgotten it.
    Deleted(ManifestWork),
}

impl SourceWatchEvent {
    /// The work the event is about.
    pub fn work(&self) -> &ManifestWork {
        match self {
            Self::StatusUpdated(w) | Self::Deleted(w) => w,
        }
    }
}

/// The watch stream of a [`SourceWorkClient`].
pub type SourceWorkWatch = mpsc::Receiver<SourceWatchEvent>;

/// What a source work client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SourceWorkError {
    /// `create` for a work whose name is taken in that cluster.
    #[error("work {namespace}/{name} exists already")]
    AlreadyExists {
        /// The cluster (the work's namespace).
        namespace: String,
        /// The work's name.
        name: String,
    },
    /// A work needs a name and a namespace (its cluster) to be addressed.
    #[error("a work needs metadata.name and metadata.namespace (its cluster)")]
    Unaddressed,
    /// No work with this resource id.
    #[error("work {0} is not known to this source")]
    NotFound(String),
    /// Encoding or publishing the spec event failed. A create is undone; an update or a
    /// delete is kept in the source's copy, which the agent's next spec resync (§6.5) delivers.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The works a source wants applied, keyed by resource id (the work's `uid`).
#[derive(Default)]
struct WorkCache {
    works: Mutex<HashMap<String, ManifestWork>>,
}

#[async_trait]
impl Lister<ManifestWork> for WorkCache {
    async fn list(&self, options: &ListOptions) -> Result<Vec<ManifestWork>, ListError> {
        let works = self.works.lock().await;
        let mut listed: Vec<_> = works
            .values()
            .filter(|w| {
                options.cluster_name.is_empty() || w.metadata.namespace == options.cluster_name
            })
            .cloned()
            .collect();
        listed.sort_by(|a, b| a.metadata.uid.cmp(&b.metadata.uid));
        Ok(listed)
    }

    async fn get(
        &self,
        resource_id: &str,
        _options: &ListOptions,
    ) -> Result<Option<ManifestWork>, ListError> {
        Ok(self.works.lock().await.get(resource_id).cloned())
    }
}

/// Builds a [`SourceWorkClient`].
pub struct SourceWorkClientBuilder {
    source_id: String,
    transport: Arc<dyn Transport>,
    data_type: WorkDataType,
    watch_capacity: usize,
}

impl SourceWorkClientBuilder {
    /// The data type works are sent as (default `manifestbundles`; `manifests` for agents of
    /// sdk-go up to v0.15, §4.9).
    pub fn data_type(mut self, data_type: WorkDataType) -> Self {
        self.data_type = data_type;
        self
    }

    /// Status changes buffered before the receive loop waits for the consumer (default 1024).
    pub fn watch_capacity(mut self, capacity: usize) -> Self {
        self.watch_capacity = capacity.max(1);
        self
    }

    /// Subscribes (which sends a status resync to every cluster) and returns the client with
    /// its watch stream.
    pub async fn build(self) -> Result<(SourceWorkClient, SourceWorkWatch), SourceWorkError> {
        let cache = Arc::new(WorkCache::default());
        let builder = SourceClient::builder(
            &self.source_id,
            self.transport,
            cache.clone(),
            WorkStatusHasher,
        );
        let client = match self.data_type {
            WorkDataType::ManifestBundles => builder.codec(BundleSourceCodec::new()),
            WorkDataType::Manifests => builder.codec(ManifestSourceCodec::new()),
        }
        .build();
        let (watch_tx, watch) = mpsc::channel(self.watch_capacity);
        let statuses = cache.clone();
        client
            .subscribe(handler_fn(move |_action, received: ManifestWork| {
                let (cache, watch) = (statuses.clone(), watch_tx.clone());
                async move {
                    if let Some(event) = cache.apply(&received).await {
                        // A consumer that dropped the stream only loses the announcements.
                        let _ = watch.send(event).await;
                    }
                    Ok(())
                }
            }))
            .await?;
        Ok((
            SourceWorkClient {
                cache,
                client,
                data_type: self.data_type,
            },
            watch,
        ))
    }
}

impl WorkCache {
    /// §5.2 against the cached copy; what changed, if anything.
    async fn apply(&self, received: &ManifestWork) -> Option<SourceWatchEvent> {
        let mut works = self.works.lock().await;
        let id = &received.metadata.uid;
        match apply_status(works.get(id), received) {
            StatusOutcome::Update(updated) => {
                works.insert(id.clone(), (*updated).clone());
                Some(SourceWatchEvent::StatusUpdated(*updated))
            }
            StatusOutcome::Deleted => works.remove(id).map(SourceWatchEvent::Deleted),
            StatusOutcome::NotFound | StatusOutcome::Ignore(_) => None,
        }
    }
}

/// The hub side of ManifestWork delivery: what a source wants applied on which cluster, and
/// what the agents report back.
///
/// A work's round trip, here over the in-memory transport with an agent work client:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use baton_cloudevents::TransportRole;
/// use baton_cloudevents::transport::memory::MemoryBroker;
/// use baton_cloudevents::work::client::{WatchEvent, WorkClient};
/// use baton_cloudevents::work::model::{Manifest, ManifestWork};
/// use baton_cloudevents::work::source::{SourceWatchEvent, SourceWorkClient};
///
/// let broker = MemoryBroker::new();
/// let source_transport = Arc::new(broker.transport(TransportRole::source("my-source")));
/// let (works, mut statuses) = SourceWorkClient::builder("my-source", source_transport)
///     .build()
///     .await?;
/// let agent_transport = Arc::new(broker.transport(TransportRole::agent("cluster1")));
/// let (agent, mut specs) = WorkClient::builder("cluster1", agent_transport).build().await?;
///
/// let mut work = ManifestWork::default();
/// work.metadata.namespace = "cluster1".into();
/// work.metadata.name = "web".into();
/// work.spec.workload.manifests = vec![Manifest::from_json(
///     r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web","namespace":"default"}}"#,
/// )?];
/// let id = works.create(work).await?.metadata.uid;
///
/// // The agent applies it and reports a status; the source sees it.
/// let Some(WatchEvent::Added(added)) = specs.recv().await else { panic!("no work") };
/// let mut status = added.status.clone();
/// status.conditions.push(baton_cloudevents::work::model::Condition {
///     type_: "Applied".into(),
///     status: "True".into(),
///     observed_generation: added.metadata.generation,
///     ..Default::default()
/// });
/// agent.update_status(&id, status).await?;
/// let Some(SourceWatchEvent::StatusUpdated(reported)) = statuses.recv().await else { panic!() };
/// assert_eq!(reported.status.conditions[0].type_, "Applied");
///
/// // Deleted: the agent cleans up and says so; the source forgets the work.
/// works.delete(&id).await?;
/// let Some(WatchEvent::Deleted(_)) = specs.recv().await else { panic!("no delete") };
/// agent.complete_deletion(&id).await?;
/// let Some(SourceWatchEvent::Deleted(_)) = statuses.recv().await else { panic!() };
/// assert!(works.get(&id).await.is_none());
/// # Ok(()) }
/// ```
pub struct SourceWorkClient {
    cache: Arc<WorkCache>,
    client: SourceClient<ManifestWork>,
    data_type: WorkDataType,
}

impl SourceWorkClient {
    /// Starts building the client of source `source_id` over `transport` (a source transport).
    pub fn builder(
        source_id: impl Into<String>,
        transport: Arc<dyn Transport>,
    ) -> SourceWorkClientBuilder {
        SourceWorkClientBuilder {
            source_id: source_id.into(),
            transport,
            data_type: WorkDataType::ManifestBundles,
            watch_capacity: 1024,
        }
    }

    /// Sends a new work to the cluster named by its namespace. The client gives it its
    /// resource id (`uid`: a UUID v5 of source, cluster and name, so the same work keeps its
    /// id across the source's restarts) and generation 1; the returned copy has both. If it
    /// cannot be sent (broker not reached) it is forgotten again and the error returned.
    pub async fn create(&self, mut work: ManifestWork) -> Result<ManifestWork, SourceWorkError> {
        let (namespace, name) = (&work.metadata.namespace, &work.metadata.name);
        if namespace.is_empty() || name.is_empty() {
            return Err(SourceWorkError::Unaddressed);
        }
        let key = format!("{}/{namespace}/{name}", self.client.source_id());
        work.metadata.uid =
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes()).to_string();
        work.metadata.generation = 1;
        work.metadata.creation_timestamp = Some(Time::now());
        work.metadata.deletion_timestamp = None;
        {
            let mut works = self.cache.works.lock().await;
            if works.contains_key(&work.metadata.uid) {
                return Err(SourceWorkError::AlreadyExists {
                    namespace: namespace.clone(),
                    name: name.clone(),
                });
            }
            works.insert(work.metadata.uid.clone(), work.clone());
        }
        if let Err(err) = self.publish(Action::CreateRequest, &work).await {
            // As sdk-go: a create that was not sent did not happen, and can be retried.
            self.cache.works.lock().await.remove(&work.metadata.uid);
            return Err(err);
        }
        Ok(work)
    }

    /// Replaces the spec of work `id` and sends it with the next generation. The status the
    /// agents reported is kept until they report the new one. The change is kept even if it
    /// cannot be sent now: the agent's next spec resync delivers it.
    pub async fn update(
        &self,
        id: &str,
        spec: ManifestWorkSpec,
    ) -> Result<ManifestWork, SourceWorkError> {
        let work = {
            let mut works = self.cache.works.lock().await;
            let held = works
                .get_mut(id)
                .ok_or_else(|| SourceWorkError::NotFound(id.to_owned()))?;
            held.spec = spec;
            held.metadata.generation += 1;
            held.clone()
        };
        self.publish(Action::UpdateRequest, &work).await?;
        Ok(work)
    }

    /// Asks the agent to delete work `id`. The source keeps it, marked deleting, until the
    /// agent reports it gone ([`SourceWatchEvent::Deleted`]); like an update, it is kept even
    /// if it cannot be sent now.
    pub async fn delete(&self, id: &str) -> Result<(), SourceWorkError> {
        let work = {
            let mut works = self.cache.works.lock().await;
            let held = works
                .get_mut(id)
                .ok_or_else(|| SourceWorkError::NotFound(id.to_owned()))?;
            held.metadata
                .deletion_timestamp
                .get_or_insert_with(Time::now);
            held.clone()
        };
        self.publish(Action::DeleteRequest, &work).await
    }

    /// The source's copy of work `id`, with the last status accepted.
    pub async fn get(&self, id: &str) -> Option<ManifestWork> {
        self.cache.works.lock().await.get(id).cloned()
    }

    /// The works of `cluster` (`""`: of every cluster), ordered by resource id.
    pub async fn list(&self, cluster: &str) -> Vec<ManifestWork> {
        let options = ListOptions {
            cluster_name: cluster.to_owned(),
            source: self.client.source_id().to_owned(),
            data_type: self.data_type.data_type(),
        };
        // The in-memory lister cannot fail.
        self.cache.list(&options).await.unwrap_or_default()
    }

    /// Asks the agents of `cluster` (`None`: of every cluster) for the status that differs
    /// from the source's copy (§6.3).
    pub async fn resync(&self, cluster: Option<&str>) -> Result<(), SourceWorkError> {
        Ok(self.client.resync(cluster).await?)
    }

    /// Traffic counters of the underlying source client.
    pub fn stats(&self) -> StatsSnapshot {
        self.client.stats()
    }

    /// Stops receiving and closes the transport; the watch stream ends.
    pub async fn shutdown(&self) {
        self.client.shutdown().await;
    }

    async fn publish(&self, action: Action, work: &ManifestWork) -> Result<(), SourceWorkError> {
        let event_type = EventType::new(self.data_type.data_type(), SubResource::Spec, action);
        Ok(self.client.publish(&event_type, work).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::TransportRole;
    use crate::transport::memory::MemoryBroker;
    use crate::work::client::{WatchEvent, WorkClient, WorkWatch};
    use crate::work::model::{Condition, Manifest, ManifestWorkStatus};

    const LIMIT: Duration = Duration::from_secs(10);

    async fn pair(
        broker: &MemoryBroker,
    ) -> (SourceWorkClient, SourceWorkWatch, WorkClient, WorkWatch) {
        let source = Arc::new(broker.transport(TransportRole::source("s1")));
        let (works, statuses) = SourceWorkClient::builder("s1", source)
            .build()
            .await
            .unwrap();
        let agent = Arc::new(broker.transport(TransportRole::agent("c1")));
        let (agent, specs) = WorkClient::builder("c1", agent).build().await.unwrap();
        (works, statuses, agent, specs)
    }

    fn work(name: &str, replicas: u32) -> ManifestWork {
        let mut work = ManifestWork::default();
        work.metadata.namespace = "c1".into();
        work.metadata.name = name.into();
        work.spec.workload.manifests = vec![
            Manifest::from_json(format!(
                r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"{name}","namespace":"default"}},"spec":{{"replicas":{replicas}}}}}"#
            ))
            .unwrap(),
        ];
        work
    }

    fn applied_at(generation: i64) -> ManifestWorkStatus {
        ManifestWorkStatus {
            conditions: vec![Condition {
                type_: "Applied".into(),
                status: "True".into(),
                observed_generation: generation,
                ..Condition::default()
            }],
            ..ManifestWorkStatus::default()
        }
    }

    async fn next<T>(stream: &mut mpsc::Receiver<T>) -> T {
        tokio::time::timeout(LIMIT, stream.recv())
            .await
            .expect("an event within the deadline")
            .expect("the stream is open")
    }

    #[tokio::test]
    async fn an_encoded_spec_event_is_published_and_other_events_are_refused() {
        use crate::work::model::payload::RawManifestBundle;
        use crate::work::model::{manifest_bundles_data_type, manifests_data_type};
        use crate::{Action, SubResource};

        let broker = MemoryBroker::new();
        let client = SourceClient::builder(
            "s1",
            Arc::new(broker.transport(TransportRole::source("s1"))),
            Arc::new(WorkCache::default()),
            WorkStatusHasher,
        )
        .codec(BundleSourceCodec::new())
        .build();
        let mut work = work("web", 1);
        work.metadata.uid = "03f36550-d4de-565a-b59e-268477dbea7f".into();
        work.metadata.generation = 1;
        let manifests = serde_json::value::to_raw_value(&work.spec.workload.manifests).unwrap();
        let bundle = RawManifestBundle {
            manifests: &manifests,
            delete_option: None,
            manifest_configs: &[],
            executer: None,
        };
        let of_type = |data_type, sub_resource| {
            let event_type = EventType::new(data_type, sub_resource, Action::CreateRequest);
            crate::EventBuilder::new("s1", &event_type)
                .cluster_name("c1")
                .build()
                .unwrap()
        };
        let spec_type = EventType::new(
            manifest_bundles_data_type(),
            SubResource::Spec,
            Action::CreateRequest,
        );
        let event = BundleSourceCodec::new()
            .encode_text("s1", &spec_type, &work.metadata, &bundle)
            .unwrap();
        client.publish_event(&event).await.unwrap();
        assert_eq!(broker.history(), [event]);
        assert!(matches!(
            client
                .publish_event(&of_type(manifest_bundles_data_type(), SubResource::Status))
                .await,
            Err(ClientError::WrongDirection { .. })
        ));
        assert!(matches!(
            client
                .publish_event(&of_type(manifests_data_type(), SubResource::Spec))
                .await,
            Err(ClientError::NoCodec(_))
        ));
        assert_eq!(broker.history().len(), 1, "nothing else was sent");
    }

    #[tokio::test]
    async fn create_refuses_a_taken_name_and_a_work_without_cluster_or_name() {
        let broker = MemoryBroker::new();
        let (works, _statuses, _agent, _specs) = pair(&broker).await;
        let created = works.create(work("web", 1)).await.unwrap();
        assert_eq!(created.metadata.generation, 1);
        assert!(matches!(
            works.create(work("web", 2)).await,
            Err(SourceWorkError::AlreadyExists { .. })
        ));
        let mut nowhere = work("web", 1);
        nowhere.metadata.namespace.clear();
        assert!(matches!(
            works.create(nowhere).await,
            Err(SourceWorkError::Unaddressed)
        ));
        assert_eq!(works.list("c1").await.len(), 1);
        assert!(works.list("other").await.is_empty());
    }

    #[tokio::test]
    async fn a_create_that_cannot_be_sent_is_undone_and_can_be_retried() {
        let broker = MemoryBroker::new();
        let (works, _statuses, _agent, mut specs) = pair(&broker).await;
        broker.set_down(true);
        assert!(matches!(
            works.create(work("web", 1)).await,
            Err(SourceWorkError::Client(_))
        ));
        assert!(works.list("").await.is_empty());
        broker.set_down(false);
        let created = works.create(work("web", 1)).await.unwrap();
        let WatchEvent::Added(added) = next(&mut specs).await else {
            panic!("expected Added")
        };
        assert_eq!(added.metadata.uid, created.metadata.uid);
    }

    #[tokio::test]
    async fn an_update_reaches_the_agent_as_the_next_generation_and_its_status_comes_back() {
        let broker = MemoryBroker::new();
        let (works, mut statuses, agent, mut specs) = pair(&broker).await;
        let id = works.create(work("web", 1)).await.unwrap().metadata.uid;
        assert!(matches!(next(&mut specs).await, WatchEvent::Added(_)));
        agent.update_status(&id, applied_at(1)).await.unwrap();
        assert!(matches!(
            next(&mut statuses).await,
            SourceWatchEvent::StatusUpdated(_)
        ));

        let updated = works.update(&id, work("web", 3).spec).await.unwrap();
        assert_eq!(updated.metadata.generation, 2);
        let WatchEvent::Modified(modified) = next(&mut specs).await else {
            panic!("expected Modified")
        };
        assert_eq!(modified.metadata.generation, 2);
        agent.update_status(&id, applied_at(2)).await.unwrap();
        let SourceWatchEvent::StatusUpdated(reported) = next(&mut statuses).await else {
            panic!("expected a status")
        };
        assert_eq!(reported.metadata.generation, 2);
        assert_eq!(reported.status.conditions[0].observed_generation, 2);
        assert_eq!(works.get(&id).await.unwrap().status, reported.status);
        assert!(matches!(
            works.update("unknown", work("x", 1).spec).await,
            Err(SourceWorkError::NotFound(_))
        ));
    }
}
