//! [`SourceClient`]: the hub side of the protocol. Publishes spec events, asks agents for
//! status (status resync, §6.3), answers their spec resyncs from the [`Lister`] (§6.5), and
//! hands received status to the handler (§5.2 is the handler's business: the client decodes).
//! Spec resync requests are answered a few at a time beside the receive loop, so that status
//! events do not queue behind a fleet's resync requests; an answer that could not be sent is
//! retried with backoff (the agent asks again only when it resubscribes).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ::cloudevents::AttributesReader;
use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::Event;
use super::builder::EventBuilder;
use super::client_core::{self, ClientCore, Lifecycle, Receiver};
use super::error::ClientError;
use super::event_type::{Action, DataType, EventType, SubResource};
use super::extensions as ext;
use super::log_limit::LogLimit;
use super::payload::{ResourceStatusHash, ResourceVersionList};
use super::resource::{
    Codec, ListOptions, Lister, ResourceAction, ResourceHandler, ResourceObject, StatusHasher,
};
use super::stats::{Stats, StatsSnapshot};
use super::transport::Transport;

/// Spec resync requests answered at once. Each answer lists one cluster's resources and sends
/// them; answered one after another inside the receive loop, a fleet reconnecting together
/// (10,000 requests) queued every status event behind thousands of list round trips.
const CONCURRENT_ANSWERS: usize = 8;

/// Per-event warnings, at a bounded rate (a peer can cause one per event).
static ANSWER_RETRIED: LogLimit = LogLimit::per_event();
static HANDLER_FAILED: LogLimit = LogLimit::per_event();

/// Most status hashes in one status resync request: ~120 bytes each, so ~500 KB a request.
pub const STATUS_RESYNC_CHUNK: usize = 4096;

/// [`StatusHashList`] over borrowed entries, for chunked requests.
#[derive(serde::Serialize)]
struct StatusHashListRef<'a> {
    #[serde(rename = "statusHashes")]
    status_hashes: &'a [ResourceStatusHash],
}

/// Builds a [`SourceClient`].
pub struct SourceClientBuilder<T> {
    core: ClientCore<T>,
    lister: Arc<dyn Lister<T>>,
    hasher: Arc<dyn StatusHasher<T>>,
}

impl<T: ResourceObject> SourceClientBuilder<T> {
    /// Registers the codec of one data type; events of other types are ignored.
    pub fn codec(mut self, codec: impl Codec<T>) -> Self {
        self.core.add_codec(codec);
        self
    }

    /// Throttles publishes to `qps` events/s with `burst` (sdk-go: 50 and 100). Off by default.
    pub fn rate_limit(mut self, qps: f64, burst: u32) -> Self {
        self.core.set_rate_limit(qps, burst);
        self
    }

    /// The client, not yet receiving: call [`SourceClient::subscribe`] to start.
    pub fn build(self) -> SourceClient<T> {
        SourceClient {
            shared: Arc::new(Shared {
                core: self.core,
                lister: self.lister,
                hasher: self.hasher,
                answers: TaskTracker::new(),
                answer_permits: Arc::new(Semaphore::new(CONCURRENT_ANSWERS)),
                stop: CancellationToken::new(),
            }),
            lifecycle: Lifecycle::default(),
        }
    }
}

/// The source (hub-side) client for resources of type `T`.
pub struct SourceClient<T> {
    shared: Arc<Shared<T>>,
    lifecycle: Lifecycle,
}

struct Shared<T> {
    core: ClientCore<T>,
    lister: Arc<dyn Lister<T>>,
    hasher: Arc<dyn StatusHasher<T>>,
    /// Spec resync answers in flight, at most [`CONCURRENT_ANSWERS`] (the receive loop waits
    /// for a permit: a flood of requests still pushes back on the transport).
    answers: TaskTracker,
    answer_permits: Arc<Semaphore>,
    /// Ends answers waiting to be retried.
    stop: CancellationToken,
}

impl<T: ResourceObject> SourceClient<T> {
    /// Starts building a client that sends as `source_id` over `transport`, answers resyncs
    /// from `lister` and hashes status with `hasher`.
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use baton_cloudevents::{Lister, Transport};
    /// use baton_cloudevents::resource::handler_fn;
    /// use baton_cloudevents::work::{BundleSourceCodec, ManifestWork, WorkStatusHasher};
    /// use baton_cloudevents::SourceClient;
    ///
    /// # async fn demo(transport: Arc<dyn Transport>, works: Arc<dyn Lister<ManifestWork>>)
    /// # -> Result<(), baton_cloudevents::ClientError> {
    /// let source = SourceClient::builder("my-source", transport, works, WorkStatusHasher)
    ///     .codec(BundleSourceCodec::new())
    ///     .build();
    /// source
    ///     .subscribe(handler_fn(|_action, work: ManifestWork| async move {
    ///         println!("status of {}", work.metadata.name);
    ///         Ok(())
    ///     }))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(
        source_id: impl Into<String>,
        transport: Arc<dyn Transport>,
        lister: Arc<dyn Lister<T>>,
        hasher: impl StatusHasher<T>,
    ) -> SourceClientBuilder<T> {
        SourceClientBuilder {
            core: ClientCore::new(source_id.into(), transport),
            lister,
            hasher: Arc::new(hasher),
        }
    }

    /// The CloudEvent `source` of this client's events.
    pub fn source_id(&self) -> &str {
        &self.shared.core.sender_id
    }

    /// Publishes `object` as a spec event of `event_type` (create, update or delete request).
    pub async fn publish(&self, event_type: &EventType, object: &T) -> Result<(), ClientError> {
        self.shared
            .core
            .publish("source", SubResource::Spec, event_type, object)
            .await
    }

    /// Publishes a spec event already encoded (e.g. by a codec's own method for objects kept
    /// in another form, such as `BundleSourceCodec::encode_text`): sent as [`Self::publish`]
    /// sends, if it is a spec event of a data type this client has a codec for.
    pub async fn publish_event(&self, event: &Event) -> Result<(), ClientError> {
        let event_type: EventType = event.ty().parse().map_err(super::CodecError::from)?;
        if event_type.sub_resource != SubResource::Spec {
            return Err(ClientError::WrongDirection {
                role: "source",
                allowed: SubResource::Spec,
                event_type: event_type.to_string(),
            });
        }
        self.shared.core.codec(&event_type.data_type)?;
        self.shared.core.send(event).await
    }

    /// Asks agents for the status of resources: one cluster, or every cluster (`None`, a
    /// broadcast with `clustername` `""`, §6.3).
    pub async fn resync(&self, cluster_name: Option<&str>) -> Result<(), ClientError> {
        self.shared.resync(cluster_name).await
    }

    /// Asks the agent of `cluster` for the status of `objects` only: a status resync request
    /// (§6.3) listing their ids with the hash of the status this source holds. The agent sends
    /// the status of each it holds whose hash differs (§6.6) and ignores the others. Nothing is
    /// sent for no objects (an empty list would ask for everything).
    pub async fn request_status(&self, cluster: &str, objects: &[T]) -> Result<(), ClientError> {
        if objects.is_empty() {
            return Ok(());
        }
        let hashes = objects
            .iter()
            .map(|object| {
                Ok(ResourceStatusHash {
                    resource_id: object.resource_id().to_owned(),
                    status_hash: self.shared.hasher.status_hash(object)?,
                })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        for data_type in self.shared.core.data_types() {
            self.shared
                .send_status_resync(&data_type, cluster, &hashes)
                .await?;
        }
        Ok(())
    }

    /// Subscribes and starts the receive loop: status events and spec resync requests from
    /// now on; a status resync to every cluster each time the subscription is (re)established.
    pub async fn subscribe(&self, handler: Arc<dyn ResourceHandler<T>>) -> Result<(), ClientError> {
        let receiver = Arc::new(SourceReceiver {
            shared: self.shared.clone(),
            handler,
        });
        self.lifecycle.start(&self.shared.core, receiver).await
    }

    /// Counters of what this client sent, received, ignored and failed.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.core.stats.snapshot()
    }

    /// Stops the receive loop and closes the transport; answers in flight end with it.
    pub async fn shutdown(&self) {
        self.shared.stop.cancel();
        self.lifecycle
            .shutdown(self.shared.core.transport.as_ref())
            .await;
        self.shared.answers.close();
        self.shared.answers.wait().await;
    }
}

impl<T: ResourceObject> Shared<T> {
    async fn resync(&self, cluster_name: Option<&str>) -> Result<(), ClientError> {
        if cluster_name.is_none()
            && let Some(clusters) = self.lister.clusters().await?
        {
            return self.resync_each(&clusters).await;
        }
        self.resync_listed(cluster_name, true).await.map(|_| ())
    }

    /// A resync of every cluster, one cluster's list at a time. A cluster without objects is
    /// not asked (as in one list of everything); with none at all the broadcast asks for
    /// everything, as sdk-go does.
    async fn resync_each(&self, clusters: &[String]) -> Result<(), ClientError> {
        let mut asked = false;
        for cluster in clusters {
            asked |= self.resync_listed(Some(cluster), false).await?;
        }
        if !asked {
            self.resync_listed(None, true).await?;
        }
        Ok(())
    }

    /// Lists `cluster_name`'s objects (or every cluster's) and sends each cluster its status
    /// resync request; with nothing listed, an empty request only if `when_empty`. Whether
    /// anything was sent.
    async fn resync_listed(
        &self,
        cluster_name: Option<&str>,
        when_empty: bool,
    ) -> Result<bool, ClientError> {
        let mut sent = false;
        for data_type in self.core.data_types() {
            let options = ListOptions {
                cluster_name: cluster_name.unwrap_or_default().to_owned(),
                source: self.core.sender_id.clone(),
                data_type: data_type.clone(),
            };
            let objects = self.lister.list(&options).await?;
            if objects.is_empty() && !when_empty {
                continue;
            }
            // Every cluster is asked about its own resources only: a broadcast of the whole
            // fleet's hashes would be copied to every agent (10,000 agents × every chunk). A
            // broadcast (clustername "") is sent when there is nothing to list (it asks for
            // everything, as sdk-go does) or when objects do not say their cluster.
            let mut by_cluster: BTreeMap<&str, Vec<ResourceStatusHash>> = BTreeMap::new();
            let mut broadcast = Vec::new();
            for object in &objects {
                let hash = ResourceStatusHash {
                    resource_id: object.resource_id().to_owned(),
                    status_hash: self.hasher.status_hash(object)?,
                };
                match (cluster_name, object.cluster_name()) {
                    (Some(cluster), _) => by_cluster.entry(cluster).or_default().push(hash),
                    (None, Some(cluster)) => by_cluster.entry(cluster).or_default().push(hash),
                    (None, None) => broadcast.push(hash),
                }
            }
            if objects.is_empty() {
                by_cluster.insert(cluster_name.unwrap_or_default(), Vec::new());
            }
            if !broadcast.is_empty() {
                self.send_status_resync(&data_type, "", &broadcast).await?;
            }
            for (cluster, hashes) in &by_cluster {
                self.send_status_resync(&data_type, cluster, hashes).await?;
            }
            sent = true;
        }
        Ok(sent)
    }

    /// One status resync request (§6.3) to `cluster` (`""`: every cluster). An empty list asks
    /// for everything; a long one goes in chunks that each stay far below message size limits
    /// (gRPC 4 MiB). Agents answer per request, only for the ids it lists (§6.6).
    async fn send_status_resync(
        &self,
        data_type: &DataType,
        cluster: &str,
        hashes: &[ResourceStatusHash],
    ) -> Result<(), ClientError> {
        let event_type = EventType::new(
            data_type.clone(),
            SubResource::Status,
            Action::ResyncRequest,
        );
        let chunks: Vec<&[ResourceStatusHash]> = if hashes.is_empty() {
            vec![&[]]
        } else {
            hashes.chunks(STATUS_RESYNC_CHUNK).collect()
        };
        for chunk in chunks {
            let body = serde_json::to_vec(&StatusHashListRef {
                status_hashes: chunk,
            })?;
            let event = EventBuilder::new(&self.core.sender_id, &event_type)
                .cluster_name(cluster)
                .json_data(body)
                .build()?;
            self.core.send(&event).await?;
        }
        Stats::bump(&self.core.stats.resyncs_sent);
        Ok(())
    }

    /// §6.5: answer an agent's spec resync request.
    async fn answer_spec_resync(
        &self,
        event: &Event,
        event_type: &EventType,
    ) -> Result<(), ClientError> {
        let codec = self.core.codec(&event_type.data_type)?;
        let cluster =
            ext::required_string(event, ext::CLUSTER_NAME).map_err(super::CodecError::from)?;
        let reported: ResourceVersionList = match ext::data_bytes(event) {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| super::CodecError::Json {
                    what: "a spec resync request",
                    source,
                })?
            }
            None => ResourceVersionList::default(),
        };
        let reported: HashMap<&str, i64> = reported
            .resource_versions
            .iter()
            .map(|v| (v.resource_id.as_str(), v.resource_version))
            .collect();
        let options = ListOptions {
            cluster_name: cluster.to_owned(),
            source: self.core.sender_id.clone(),
            data_type: event_type.data_type.clone(),
        };
        // §6.5 step 1, as sdk-go: a source with nothing for this cluster answers nothing. An
        // agent's resync to all sources reaches every source sharing the broker; a source that
        // does not know the cluster must not tell its agent to delete other sources' work.
        let objects = self.lister.list(&options).await?;
        if objects.is_empty() {
            Stats::bump(&self.core.stats.resyncs_answered);
            return Ok(());
        }
        let response = EventType::new(
            event_type.data_type.clone(),
            SubResource::Spec,
            Action::ResyncResponse,
        );
        let mut known = std::collections::HashSet::with_capacity(objects.len());
        // What the agent already holds at the current version: the only statuses worth asking
        // for right away (below).
        let mut settled = Vec::with_capacity(objects.len());
        for object in &objects {
            known.insert(object.resource_id());
            let last = reported.get(object.resource_id()).copied().unwrap_or(0);
            let current = object.resource_version();
            let deleting = object.deletion_timestamp().is_some();
            if deleting || current == 0 || current > last {
                let event = codec.encode(&self.core.sender_id, &response, object)?;
                self.core.send(&event).await?;
            } else {
                settled.push(object);
            }
        }
        for (id, version) in reported.iter().filter(|(id, _)| !known.contains(**id)) {
            let event = EventBuilder::new(&self.core.sender_id, &response)
                .cluster_name(cluster)
                .resource_id(*id)
                .resource_version(*version)
                .deletion_timestamp(Utc::now())
                .build()?;
            self.core.send(&event).await?;
        }
        Stats::bump(&self.core.stats.resyncs_answered);
        // Also ask the cluster for the status of the resources whose spec it already held: an
        // agent resyncs when it (re)connects, and statuses it sent while the source or the
        // broker was away, or the source's own broadcast status resync, may have been lost.
        // sdk-go sources do not do this; Go agents answer the request like any other (§6.6).
        if !settled.is_empty() {
            // The status resync of this cluster and data type, from the objects just listed
            // (listing them again would double the lister's work during a fleet's resync), for
            // the resources whose spec the agent already held. Those just sent are left out:
            // the agent has not applied them yet, so it would answer with the status it holds
            // before applying (none, for an agent that lost its state), which would overwrite
            // the stored status only to be overwritten again by the report that follows the
            // apply. When every spec was sent there is nothing to ask (an empty list would
            // ask for everything).
            let mut hashes = Vec::with_capacity(settled.len());
            for object in settled {
                hashes.push(ResourceStatusHash {
                    resource_id: object.resource_id().to_owned(),
                    status_hash: self.hasher.status_hash(object)?,
                });
            }
            self.send_status_resync(&event_type.data_type, cluster, &hashes)
                .await?;
        }
        Ok(())
    }
}

impl<T: ResourceObject> Shared<T> {
    /// Answers a spec resync request again, with backoff, until it is sent or the client stops.
    async fn retry_spec_resync_answer(&self, event: Event, event_type: EventType) {
        let (event, event_type) = (&event, &event_type);
        let sent = client_core::retry_answer(&self.core.stats, &self.stop, event, || async move {
            // One of the answer permits per try; the semaphore is never closed.
            let _permit = self.answer_permits.acquire().await;
            self.answer_spec_resync(event, event_type).await
        })
        .await;
        if sent {
            info!(event_id = event.id(), "spec resync answered on retry");
        }
    }
}

struct SourceReceiver<T> {
    shared: Arc<Shared<T>>,
    handler: Arc<dyn ResourceHandler<T>>,
}

#[async_trait]
impl<T: ResourceObject> Receiver for SourceReceiver<T> {
    const RESYNC: &'static str = "status resync";

    async fn resync_after_subscribing(&self) -> Result<(), ClientError> {
        info!(source = %self.shared.core.sender_id, "subscribed; sending status resync to all clusters");
        self.shared.resync(None).await
    }

    async fn on_event(&self, event: Event) {
        let stats = &self.shared.core.stats;
        let event_type: EventType = match event.ty().parse() {
            Ok(t) => t,
            Err(err) => return client_core::malformed(stats, &event, &err),
        };
        match (event_type.sub_resource, &event_type.action) {
            (SubResource::Spec, Action::ResyncRequest) => {
                let Ok(permit) = self.shared.answer_permits.clone().acquire_owned().await else {
                    return; // never closed
                };
                let shared = self.shared.clone();
                self.shared.answers.spawn(async move {
                    let first = shared.answer_spec_resync(&event, &event_type).await;
                    drop(permit);
                    match first {
                        Ok(()) => {}
                        Err(ClientError::Transport(err)) => {
                            if let Some(suppressed) = ANSWER_RETRIED.allow() {
                                warn!(event_id = event.id(), %err, suppressed, "could not send the answer to a spec resync request; retrying");
                            }
                            shared.retry_spec_resync_answer(event, event_type).await;
                        }
                        Err(err) => client_core::unanswered(&shared.core.stats, &event, &err),
                    }
                });
            }
            (SubResource::Status, Action::ResyncRequest) => {
                client_core::ignored(stats, &event, "a status resync request is for agents")
            }
            (SubResource::Status, _) => {
                let Ok(codec) = self.shared.core.codec(&event_type.data_type) else {
                    return client_core::ignored(stats, &event, "no codec for this data type");
                };
                match codec.decode(&event) {
                    Ok(object) => {
                        if let Err(err) = self
                            .handler
                            .handle(ResourceAction::StatusModified, object)
                            .await
                        {
                            Stats::bump(&stats.handler_failures);
                            if let Some(suppressed) = HANDLER_FAILED.allow() {
                                warn!(event_id = event.id(), %err, suppressed, "status handler failed");
                            }
                        }
                    }
                    Err(err) => client_core::malformed(stats, &event, &err),
                }
            }
            (SubResource::Spec, _) => {
                client_core::ignored(stats, &event, "spec events are for agents")
            }
        }
    }
}
