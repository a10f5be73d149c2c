//! The agent-side work client (the design's "Work Clients"): one call gives a ready client and
//! a watch stream for one cluster over any transport. The client owns a [`WorkStore`] fed by
//! the SDK's [`AgentClient`] (spec events, §5.1; spec resync on every subscription, §6.2;
//! status resync answers, §6.6). A controller consumes the [`WatchEvent`]s, reports status with
//! [`WorkClient::update_status`] and, once it has cleaned up a deleting work,
//! [`WorkClient::complete_deletion`] publishes the `Deleted` status of §4.7 and drops the work.
//!
//! Must not apply anything to a cluster: that is the controller's job (the reference agent).

mod persist;
mod store;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

pub use persist::{PersistError, StateDir};
pub use store::{WatchEvent, WorkStore};

use crate::stats::StatsSnapshot;
use crate::work::codec::{BundleAgentCodec, ManifestAgentCodec};
use crate::work::data_types::WorkDataType;
use crate::work::model::status::{CONDITION_DELETED, REASON_MANIFESTS_DELETED, set_condition};
use crate::work::model::{Condition, ManifestWork, ManifestWorkStatus, manifest_bundles_data_type};
use crate::work::status_hash::WorkStatusHasher;
use crate::{Action, AgentClient, ClientError, EventType, SubResource, Transport, TransportRole};

/// The watch stream a controller consumes.
pub type WorkWatch = mpsc::Receiver<WatchEvent>;

/// What a work client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WorkClientError {
    /// No work with this resource id.
    #[error("work {0} is not held by this agent")]
    NotFound(String),
    /// `complete_deletion` for a work the source is not deleting.
    #[error("work {0} is not being deleted")]
    NotDeleting(String),
    /// The transport is not an agent transport of this cluster.
    #[error("the transport is for {0:?}, not an agent of cluster {1}")]
    WrongRole(TransportRole, String),
    /// `data_types` was given an empty list.
    #[error("an agent must serve at least one data type")]
    NoDataType,
    /// Publishing the status failed (the store is updated all the same).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The state directory could not be read or written.
    #[error(transparent)]
    Persist(#[from] PersistError),
}

/// Builds a [`WorkClient`], in the spirit of sdk-go's
/// `NewClientHolderBuilder(...).WithClusterName(...).WithCodecs(...)`.
pub struct WorkClientBuilder {
    cluster_name: String,
    transport: Arc<dyn Transport>,
    state_dir: Option<PathBuf>,
    data_types: Vec<WorkDataType>,
    watch_capacity: usize,
}

impl WorkClientBuilder {
    /// Keeps each work as a JSON file in `path`, so a restart resyncs from the real state.
    pub fn state_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(path.into());
        self
    }

    /// The data types to serve (default `manifestbundles` only): one subscription each, and
    /// a spec resync to the sources of each on every (re)subscription.
    pub fn data_types(mut self, data_types: impl IntoIterator<Item = WorkDataType>) -> Self {
        self.data_types = data_types.into_iter().collect();
        self.data_types.sort_unstable();
        self.data_types.dedup();
        self
    }

    /// Also serve the single-manifest `manifests` data type (§4.9).
    pub fn with_manifests_codec(mut self) -> Self {
        self.data_types.push(WorkDataType::Manifests);
        let served = std::mem::take(&mut self.data_types);
        self.data_types(served)
    }

    /// Watch events buffered before the receive loop waits for the controller (default 1024).
    pub fn watch_capacity(mut self, capacity: usize) -> Self {
        self.watch_capacity = capacity.max(1);
        self
    }

    /// Loads the state, announces what is held on the watch stream, and subscribes (which
    /// sends the spec resync).
    pub async fn build(self) -> Result<(WorkClient, WorkWatch), WorkClientError> {
        if self.data_types.is_empty() {
            return Err(WorkClientError::NoDataType);
        }
        let agent_id = match self.transport.role() {
            TransportRole::Agent {
                cluster_name,
                agent_id,
            } if *cluster_name == self.cluster_name => agent_id.clone(),
            other => return Err(WorkClientError::WrongRole(other.clone(), self.cluster_name)),
        };
        let (state_dir, initial) = match self.state_dir {
            Some(path) => {
                let dir = StateDir::open(path).await?;
                let works = dir.load().await?;
                (Some(dir), works)
            }
            None => (None, Vec::new()),
        };
        let (watch_tx, watch) = mpsc::channel(self.watch_capacity + initial.len());
        let store = Arc::new(WorkStore::new(initial, state_dir, watch_tx));
        store.announce_all().await;
        let mut builder = AgentClient::builder(
            &self.cluster_name,
            self.transport,
            store.clone(),
            WorkStatusHasher,
        )
        .agent_id(agent_id);
        for data_type in self.data_types {
            builder = match data_type {
                WorkDataType::ManifestBundles => builder.codec(BundleAgentCodec::new()),
                WorkDataType::Manifests => builder.codec(ManifestAgentCodec::new()),
            };
        }
        let agent = builder.build();
        agent
            .subscribe(Arc::new(store::StoreHandler(store.clone())))
            .await?;
        Ok((WorkClient { store, agent }, watch))
    }
}

/// The agent's view of its works, and the way its status gets back to the sources.
pub struct WorkClient {
    store: Arc<WorkStore>,
    agent: AgentClient<ManifestWork>,
}

impl WorkClient {
    /// Starts building the client of `cluster_name` over `transport` (an agent transport of
    /// that cluster). sdk-go's `NewClientHolderBuilder(config).WithClusterName(cluster)
    /// .WithCodecs(...)`: the data types chosen here pick the codecs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use baton_cloudevents::TransportRole;
    /// use baton_cloudevents::transport::memory::MemoryBroker;
    /// use baton_cloudevents::work::WorkDataType;
    /// use baton_cloudevents::work::client::WorkClient;
    ///
    /// let broker = MemoryBroker::new(); // or an MqttTransport, a GrpcTransport
    /// let transport = Arc::new(broker.transport(TransportRole::agent("cluster1")));
    /// let (works, _watch) = WorkClient::builder("cluster1", transport)
    ///     .data_types([WorkDataType::ManifestBundles, WorkDataType::Manifests])
    ///     .build()
    ///     .await?;
    /// assert_eq!(works.held().await, 0);
    /// works.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn builder(
        cluster_name: impl Into<String>,
        transport: Arc<dyn Transport>,
    ) -> WorkClientBuilder {
        WorkClientBuilder {
            cluster_name: cluster_name.into(),
            transport,
            state_dir: None,
            data_types: WorkDataType::DEFAULT.to_vec(),
            watch_capacity: 1024,
        }
    }

    /// The cluster this client serves.
    pub fn cluster_name(&self) -> &str {
        self.agent.cluster_name()
    }

    /// The work with resource id `id`, if held.
    pub async fn get(&self, id: &str) -> Option<ManifestWork> {
        self.store.get(id).await
    }

    /// Every work held, ordered by resource id.
    pub async fn list(&self) -> Vec<ManifestWork> {
        self.store.list().await
    }

    /// How many works the agent holds; cheap, for polling (`list` copies every work).
    pub async fn held(&self) -> usize {
        self.store.count().await
    }

    /// Stores `status` on the work, then publishes it (status `update_request`). The store is
    /// updated even if publishing fails: the error is returned, and the source's next status
    /// resync (§6.6) picks the stored status up.
    pub async fn update_status(
        &self,
        id: &str,
        status: ManifestWorkStatus,
    ) -> Result<ManifestWork, WorkClientError> {
        let work = self
            .store
            .update(id, |held| {
                held.map(|h| ManifestWork {
                    status,
                    ..h.clone()
                })
            })
            .await?
            .ok_or_else(|| WorkClientError::NotFound(id.to_owned()))?;
        self.publish_status(&work).await?;
        Ok(work)
    }

    /// Reports a deleting work gone (§4.7): publishes its status with `Deleted=True` /
    /// `ManifestsDeleted` as `update_request`, then drops it. If publishing fails the work is
    /// kept, so the call can be retried.
    pub async fn complete_deletion(&self, id: &str) -> Result<(), WorkClientError> {
        let mut work = self
            .store
            .get(id)
            .await
            .ok_or_else(|| WorkClientError::NotFound(id.to_owned()))?;
        if work.metadata.deletion_timestamp.is_none() {
            return Err(WorkClientError::NotDeleting(id.to_owned()));
        }
        set_condition(
            &mut work.status.conditions,
            Condition {
                type_: CONDITION_DELETED.to_owned(),
                status: "True".to_owned(),
                reason: REASON_MANIFESTS_DELETED.to_owned(),
                message: format!(
                    "The manifests are deleted from the cluster {}",
                    work.metadata.namespace
                ),
                ..Condition::default()
            },
        );
        work.metadata.finalizers.clear();
        self.publish_status(&work).await?;
        self.store.remove(id).await?;
        Ok(())
    }

    /// Asks the sources again for every spec (§6.2).
    pub async fn resync(&self) -> Result<(), WorkClientError> {
        Ok(self.agent.resync(None).await?)
    }

    /// Counters of the underlying agent client.
    pub fn stats(&self) -> StatsSnapshot {
        self.agent.stats()
    }

    /// Stops receiving and closes the transport.
    pub async fn shutdown(&self) {
        self.agent.shutdown().await;
    }

    async fn publish_status(&self, work: &ManifestWork) -> Result<(), WorkClientError> {
        let event_type = EventType::new(
            work.data_type().unwrap_or_else(manifest_bundles_data_type),
            SubResource::Status,
            Action::UpdateRequest,
        );
        Ok(self.agent.publish(&event_type, work).await?)
    }
}
