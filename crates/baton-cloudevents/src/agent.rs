//! [`AgentClient`]: the managed-cluster side of the protocol. Receives the spec events of its
//! cluster and classifies them against its [`Lister`] (the agent's own store) into
//! Added / Modified / Deleted (§5.1), publishes status events, asks sources for missing specs
//! (spec resync, §6.2) and answers their status resyncs by comparing hashes (§6.6).
//!
//! Nothing a source asks for is dropped on a send failure: an answer to a status resync that
//! could not be sent (broker unreachable, timed out, refused as busy) is retried with backoff
//! until it goes through or the client stops. A status resync addressed to this cluster that
//! names resources the agent does not hold means their specs never arrived (a spec resync
//! request or answer was lost): the agent asks that source for its specs again.

use std::sync::Arc;

use ::cloudevents::AttributesReader;
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::Event;
use super::builder::EventBuilder;
use super::client_core::{self, ClientCore, Lifecycle, Receiver};
use super::error::ClientError;
use super::event_type::{Action, DataType, EventType, SubResource};
use super::extensions as ext;
use super::payload::{ResourceVersion, ResourceVersionList};
use super::resource::{
    Codec, ListOptions, Lister, ResourceAction, ResourceHandler, ResourceObject, StatusHasher,
};
use super::stats::{Stats, StatsSnapshot};
use super::transport::Transport;

mod status_resync;

/// How an incoming spec relates to what the agent holds (§5.1, v1.2+ table), as the action the
/// handler is told about; `None` means nothing to do.
///
/// - not held → `Added` (even a delete: it is stored as deleting, as sdk-go does);
/// - carries a deletion timestamp → `Deleted`;
/// - held and already deleting → nothing (a modification of a deleting work is ignored);
/// - version 0 (unversioned) or newer → `Modified`;
/// - older or equal → nothing. The source increments the version on every change (§5.1), so
///   an equal version carries the spec already applied; re-applying it would only churn.
pub fn classify_spec<T: ResourceObject>(held: Option<&T>, incoming: &T) -> Option<ResourceAction> {
    let Some(held) = held else {
        return Some(ResourceAction::Added);
    };
    if incoming.deletion_timestamp().is_some() {
        return Some(ResourceAction::Deleted);
    }
    if held.deletion_timestamp().is_some() {
        return None;
    }
    let version = incoming.resource_version();
    (version == 0 || version > held.resource_version()).then_some(ResourceAction::Modified)
}

/// Builds an [`AgentClient`].
pub struct AgentClientBuilder<T> {
    cluster_name: String,
    core: ClientCore<T>,
    lister: Arc<dyn Lister<T>>,
    hasher: Arc<dyn StatusHasher<T>>,
}

impl<T: ResourceObject> AgentClientBuilder<T> {
    /// Registers the codec of one data type: the agent subscribes to the data types of its
    /// codecs and ignores events of any other.
    pub fn codec(mut self, codec: impl Codec<T>) -> Self {
        self.core.add_codec(codec);
        self
    }

    /// The CloudEvent `source` of this agent's events (default `<cluster>-work-agent`).
    pub fn agent_id(mut self, agent_id: impl Into<String>) -> Self {
        self.core.sender_id = agent_id.into();
        self
    }

    /// Throttles publishes to `qps` events/s with bursts of `burst` (sdk-go: 50 and 100). Off by
    /// default.
    pub fn rate_limit(mut self, qps: f64, burst: u32) -> Self {
        self.core.set_rate_limit(qps, burst);
        self
    }

    /// The client, not yet receiving: call [`AgentClient::subscribe`] to start.
    pub fn build(self) -> AgentClient<T> {
        AgentClient {
            shared: Arc::new(Shared {
                core: self.core,
                cluster_name: self.cluster_name,
                lister: self.lister,
                hasher: self.hasher,
                retries: TaskTracker::new(),
                stop: CancellationToken::new(),
                missing_specs_asked: std::sync::Mutex::default(),
            }),
            lifecycle: Lifecycle::default(),
        }
    }
}

/// The agent (cluster-side) client for resources of type `T`.
pub struct AgentClient<T> {
    shared: Arc<Shared<T>>,
    lifecycle: Lifecycle,
}

struct Shared<T> {
    core: ClientCore<T>,
    cluster_name: String,
    lister: Arc<dyn Lister<T>>,
    hasher: Arc<dyn StatusHasher<T>>,
    /// Answers being retried; they end with the client (`stop`).
    retries: TaskTracker,
    stop: CancellationToken,
    /// When the agent last asked for specs a status resync showed missing.
    missing_specs_asked: std::sync::Mutex<Option<std::time::Instant>>,
}

impl<T: ResourceObject> AgentClient<T> {
    /// Starts building the client of `cluster_name` over `transport`; `lister` is the agent's
    /// store (what it has applied), `hasher` hashes the status of its objects.
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use baton_cloudevents::{Lister, Transport};
    /// use baton_cloudevents::resource::handler_fn;
    /// use baton_cloudevents::work::{BundleAgentCodec, ManifestWork, WorkStatusHasher};
    /// use baton_cloudevents::AgentClient;
    ///
    /// # async fn demo(transport: Arc<dyn Transport>, applied: Arc<dyn Lister<ManifestWork>>)
    /// # -> Result<(), baton_cloudevents::ClientError> {
    /// let agent = AgentClient::builder("cluster1", transport, applied, WorkStatusHasher)
    ///     .codec(BundleAgentCodec::new())
    ///     .build();
    /// agent
    ///     .subscribe(handler_fn(|action, work: ManifestWork| async move {
    ///         println!("{action:?} {}", work.metadata.name);
    ///         Ok(())
    ///     }))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(
        cluster_name: impl Into<String>,
        transport: Arc<dyn Transport>,
        lister: Arc<dyn Lister<T>>,
        hasher: impl StatusHasher<T>,
    ) -> AgentClientBuilder<T> {
        let cluster_name = cluster_name.into();
        AgentClientBuilder {
            core: ClientCore::new(format!("{cluster_name}-work-agent"), transport),
            cluster_name,
            lister,
            hasher: Arc::new(hasher),
        }
    }

    /// The cluster this agent serves.
    pub fn cluster_name(&self) -> &str {
        &self.shared.cluster_name
    }

    /// Publishes the status of `object` (status `update_request`, usually).
    pub async fn publish(&self, event_type: &EventType, object: &T) -> Result<(), ClientError> {
        self.shared
            .core
            .publish("agent", SubResource::Status, event_type, object)
            .await
    }

    /// Asks for the specs this agent is missing: from one source, or all (`None`, §6.2).
    pub async fn resync(&self, source: Option<&str>) -> Result<(), ClientError> {
        self.shared.resync(source).await
    }

    /// Subscribes and starts the receive loop; a spec resync to every source is sent each time
    /// the subscription is (re)established.
    pub async fn subscribe(&self, handler: Arc<dyn ResourceHandler<T>>) -> Result<(), ClientError> {
        let receiver = Arc::new(AgentReceiver {
            shared: self.shared.clone(),
            handler,
        });
        self.lifecycle.start(&self.shared.core, receiver).await
    }

    /// Counters of what this client sent, received, ignored and failed.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.core.stats.snapshot()
    }

    /// Stops the receive loop and any answer being retried, then closes the transport.
    pub async fn shutdown(&self) {
        self.shared.stop.cancel();
        self.lifecycle
            .shutdown(self.shared.core.transport.as_ref())
            .await;
        self.shared.retries.close();
        self.shared.retries.wait().await;
    }
}

impl<T: ResourceObject> Shared<T> {
    fn list_options(&self, source: &str, data_type: &DataType) -> ListOptions {
        ListOptions {
            cluster_name: self.cluster_name.clone(),
            source: source.to_owned(),
            data_type: data_type.clone(),
        }
    }

    async fn resync(&self, source: Option<&str>) -> Result<(), ClientError> {
        let source = source.unwrap_or_default();
        for data_type in self.core.data_types() {
            let objects = self
                .lister
                .list(&self.list_options(source, &data_type))
                .await?;
            let body = ResourceVersionList {
                resource_versions: objects
                    .iter()
                    .map(|o| ResourceVersion {
                        resource_id: o.resource_id().to_owned(),
                        resource_version: o.resource_version(),
                    })
                    .collect(),
            };
            let event_type = EventType::new(data_type, SubResource::Spec, Action::ResyncRequest);
            let event = EventBuilder::new(&self.core.sender_id, &event_type)
                .cluster_name(&self.cluster_name)
                .original_source(source)
                .json_data(serde_json::to_vec(&body)?)
                .build()?;
            self.core.send(&event).await?;
            Stats::bump(&self.core.stats.resyncs_sent);
        }
        Ok(())
    }

    /// §5.1: checks, decode, classification against the store.
    async fn decide_spec(
        &self,
        event: &Event,
        event_type: &EventType,
    ) -> Result<Option<(ResourceAction, T)>, ClientError> {
        let stats = &self.core.stats;
        match ext::string(event, ext::CLUSTER_NAME) {
            Ok(Some(cluster)) if cluster == self.cluster_name => {}
            _ => {
                client_core::ignored(stats, event, "spec event for another cluster");
                return Ok(None);
            }
        }
        let Ok(codec) = self.core.codec(&event_type.data_type) else {
            client_core::ignored(stats, event, "no codec for this data type");
            return Ok(None);
        };
        let incoming = codec.decode(event)?;
        let options = self.list_options("", &event_type.data_type);
        let held = self.lister.get(incoming.resource_id(), &options).await?;
        if let Some(owner) = held.as_ref().and_then(ResourceObject::owner_source)
            && owner != event.source().as_str()
        {
            client_core::ignored(
                stats,
                event,
                "spec from a source that does not own the resource",
            );
            return Ok(None);
        }
        match classify_spec(held.as_ref(), &incoming) {
            Some(action) => Ok(Some((action, incoming))),
            None => {
                client_core::ignored(stats, event, "spec version is not newer than the one held");
                Ok(None)
            }
        }
    }
}

struct AgentReceiver<T> {
    shared: Arc<Shared<T>>,
    handler: Arc<dyn ResourceHandler<T>>,
}

#[async_trait]
impl<T: ResourceObject> Receiver for AgentReceiver<T> {
    const RESYNC: &'static str = "spec resync";

    async fn resync_after_subscribing(&self) -> Result<(), ClientError> {
        info!(cluster = %self.shared.cluster_name, "subscribed; sending spec resync to all sources");
        self.shared.resync(None).await
    }

    async fn on_event(&self, event: Event) {
        let stats = &self.shared.core.stats;
        let event_type: EventType = match event.ty().parse() {
            Ok(t) => t,
            Err(err) => return client_core::malformed(stats, &event, &err),
        };
        match (event_type.sub_resource, &event_type.action) {
            (SubResource::Status, Action::ResyncRequest) => {
                match self.shared.answer_status_resync(&event, &event_type).await {
                    Ok(()) => {}
                    Err(ClientError::Transport(err)) => {
                        warn!(cluster = %self.shared.cluster_name, event_id = event.id(), %err, "could not send the answer to a status resync request; retrying");
                        let shared = self.shared.clone();
                        self.shared.retries.spawn(async move {
                            shared.retry_status_resync_answer(event, event_type).await;
                        });
                    }
                    Err(err) => client_core::unanswered(stats, &event, &err),
                }
            }
            (SubResource::Spec, Action::ResyncRequest) => {
                client_core::ignored(stats, &event, "a spec resync request is for sources")
            }
            (SubResource::Spec, _) => match self.shared.decide_spec(&event, &event_type).await {
                Ok(Some((action, object))) => {
                    if let Err(err) = self.handler.handle(action, object).await {
                        Stats::bump(&stats.handler_failures);
                        warn!(event_id = event.id(), %err, "spec handler failed");
                    }
                }
                Ok(None) => {}
                Err(err) => client_core::malformed(stats, &event, &err),
            },
            (SubResource::Status, _) => {
                client_core::ignored(stats, &event, "status events are for sources")
            }
        }
    }
}
