//! The publisher: delivers every committed change to its agent (§4.8, no lost changes).
//!
//! It reads the resources queued in the store's publish outbox, publishes their current state
//! as the action the outbox row names (create, update or delete) through the source client, and clears the outbox row only for
//! what the transport accepted. Woken by the store once a change commits ([`Store::wakeup`]);
//! also polls, so that changes committed by a hub that crashed are delivered by the next one. While the transport is down it backs
//! off and retries; the HTTP API never waits for it.
//!
//! Each event is built from the stored text ([`spec_text_of`]): the manifests were validated
//! when stored and are written as they are, not parsed again per publish.
//!
//! A replica (see [`ReplicaScope`]) reads only its own clusters' rows, and most of its rounds
//! only the rows queued since its last complete read ([`PublishCursor`]): the rows of clusters
//! connected nowhere stay queued, and a round that walked them all would cost in proportion to
//! the whole queue.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use super::convert::{ConvertError, spec_text_of};
use super::metrics::HubMetrics;
use super::publish_cursor::PublishCursor;
use crate::broker::Broker;
use crate::cloudevents::backoff::{Backoff, BackoffPolicy};
use crate::cloudevents::log_limit::LogLimit;
use crate::cloudevents::{Action, CodecError, Event, EventType, SourceClient, SubResource};
use crate::store::{Pending, PublishAction, Store, StoreError};
use crate::work::codec::BundleSourceCodec;
use crate::work::model::{ManifestWork, manifest_bundles_data_type};

/// A stored resource that cannot be sent is retried every round: its log is bounded.
static NOT_ENCODED: LogLimit = LogLimit::per_event();

/// The least time between a replica's round that found nothing to send and its next round.
const EMPTY_ROUND_GAP: Duration = Duration::from_millis(5);

/// Publisher settings.
#[derive(Debug, Clone, Copy)]
pub struct PublisherConfig {
    /// Pending resources read per round.
    pub batch: i64,
    /// Publishes in flight at once.
    pub concurrency: usize,
    /// How often to look for pending changes without a wake-up.
    pub poll: Duration,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        Self {
            batch: 512,
            concurrency: 64,
            poll: Duration::from_secs(1),
        }
    }
}

/// This replica among several on one database over the built-in broker (docs/ha.md): the
/// publisher reads only the changes of the clusters the connection registry places at
/// `instance`, and publishes only those whose agent its `broker` has right now; the other
/// replicas publish the rest.
#[derive(Debug, Clone)]
pub struct ReplicaScope {
    pub instance: String,
    pub broker: Broker,
    /// Bumped by [`super::fleet::FleetMember`] on each claim: the claimed clusters' queued rows
    /// may be older than the publisher's cursor, so its next round reads the whole queue.
    pub claims: watch::Receiver<u64>,
}

/// A publisher's replica mode: its scope and where its rounds read from.
struct AtReplica {
    scope: ReplicaScope,
    cursor: PublishCursor,
}

pub struct Publisher {
    store: Arc<dyn Store>,
    /// Set when several replicas share the database over the built-in broker (docs/ha.md).
    replica: Option<AtReplica>,
    /// Closed while another replica publishes (over MQTT, [`super::lease`]).
    gate: Option<watch::Receiver<bool>>,
    client: Arc<SourceClient<ManifestWork>>,
    /// Encodes the events the client sends (the client's own codec for this data type).
    codec: BundleSourceCodec,
    metrics: Arc<HubMetrics>,
    config: PublisherConfig,
}

/// Why a stored resource cannot be sent (should not happen: it was validated when stored).
#[derive(Debug, thiserror::Error)]
enum EncodeError {
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error("resource {id}: {source}")]
    Codec {
        id: uuid::Uuid,
        #[source]
        source: CodecError,
    },
}

/// Why a round made no progress.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{failed} of {total} pending changes could not be published")]
    Stalled { failed: usize, total: usize },
}

/// The spec event for what the outbox row says to publish (§2.3).
fn event_type(action: PublishAction) -> EventType {
    let action = match action {
        PublishAction::Create => Action::CreateRequest,
        PublishAction::Update => Action::UpdateRequest,
        PublishAction::Delete => Action::DeleteRequest,
    };
    EventType::new(manifest_bundles_data_type(), SubResource::Spec, action)
}

impl Publisher {
    pub fn new(
        store: Arc<dyn Store>,
        client: Arc<SourceClient<ManifestWork>>,
        metrics: Arc<HubMetrics>,
        config: PublisherConfig,
    ) -> Self {
        Self {
            store,
            replica: None,
            gate: None,
            client,
            codec: BundleSourceCodec::new(),
            metrics,
            config,
        }
    }

    /// Publishes only to the agents the registry places at this replica (see [`ReplicaScope`]).
    pub fn at_replica(mut self, replica: ReplicaScope) -> Self {
        let cursor = PublishCursor::new(replica.claims.clone(), self.config.poll);
        self.replica = Some(AtReplica {
            scope: replica,
            cursor,
        });
        self
    }

    /// Publishes only while `gate` is open.
    pub fn gated(mut self, gate: watch::Receiver<bool>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Runs until `stop` fires.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut backoff = Backoff::new(BackoffPolicy {
            initial: Duration::from_millis(100),
            factor: 2.0,
            max: Duration::from_secs(5),
            jitter: 0.2,
            reset_after: Duration::ZERO,
        });
        loop {
            if let Some(gate) = &mut self.gate
                && !*gate.borrow_and_update()
            {
                tokio::select! {
                    () = stop.cancelled() => break,
                    changed = gate.changed() => if changed.is_err() { break },
                }
                continue;
            }
            let pause = match self.round().await {
                Ok(0) => {
                    backoff.reset();
                    if self.replica.is_some() {
                        // A replica's empty round still walked the rows queued within the
                        // cursor's slack for other replicas' clusters: one per commit would
                        // walk them hundreds of times a second. A wake-up meanwhile is kept.
                        tokio::select! {
                            () = stop.cancelled() => break,
                            () = tokio::time::sleep(EMPTY_ROUND_GAP) => {}
                        }
                    }
                    self.config.poll
                }
                Ok(_) => {
                    backoff.reset();
                    continue; // more may be pending
                }
                Err(err) => {
                    if let Some(replica) = &mut self.replica {
                        replica.cursor.failed();
                    }
                    let delay = backoff.next_delay();
                    warn!(%err, retry_in = ?delay, "publishing stalled; will retry");
                    delay
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.store.wakeup().woken() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Publishes one batch of pending changes; returns how many were delivered.
    async fn round(&mut self) -> Result<usize, RoundError> {
        let started = std::time::Instant::now();
        let (pending, full) = self.read().await?;
        self.deliver(pending, full, started).await
    }

    /// Publishes `pending` (read from the whole queue if `full`, in a round begun at
    /// `started`) and clears what was delivered; returns how many were.
    async fn deliver(
        &self,
        pending: Vec<Pending>,
        full: bool,
        started: std::time::Instant,
    ) -> Result<usize, RoundError> {
        let read = started.elapsed();
        if pending.is_empty() {
            debug!(total = 0, full, ?read, "publish round");
            return Ok(0);
        }
        let total = pending.len();
        let outcomes: Vec<Option<(uuid::Uuid, i64, bool)>> = futures::stream::iter(pending)
            .map(|pending| async move {
                self.publish(&pending).await.then_some((
                    pending.resource.id,
                    pending.resource.version,
                    pending.action == PublishAction::Delete,
                ))
            })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        let delivered: Vec<_> = outcomes.into_iter().flatten().collect();
        let sent = started.elapsed();
        self.store.mark_published(&delivered).await?;
        debug!(total, full, ?read, ?sent, marked = ?started.elapsed(), "publish round");
        match delivered.len() {
            0 => Err(RoundError::Stalled {
                failed: total,
                total,
            }),
            n => Ok(n),
        }
    }

    /// A batch of pending changes to publish here, and whether it was read from the whole
    /// queue (always, but for a replica's incremental rounds).
    async fn read(&mut self) -> Result<(Vec<Pending>, bool), StoreError> {
        let Some(replica) = &mut self.replica else {
            let pending = self.store.pending_publications(self.config.batch).await?;
            return Ok((pending, true));
        };
        let now = tokio::time::Instant::now();
        let after = replica.cursor.next_read(now);
        let read = self
            .store
            .pending_publications_at(&replica.scope.instance, self.config.batch, after)
            .await?;
        let limit = self.config.batch;
        replica
            .cursor
            .read(now, after, read.pending.len(), limit, read.read_at);
        // An agent that left since the registry's last word: its changes wait for the
        // replica it moves to (a publish here would reach no one and count as done).
        let broker = &replica.scope.broker;
        let mine = read
            .pending
            .into_iter()
            .filter(|p| broker.is_agent_connected(&p.resource.consumer_name))
            .collect();
        Ok((mine, after.is_none()))
    }

    /// The spec event for `pending`, as the client's codec would encode its work.
    fn event_of(&self, pending: &Pending) -> Result<Event, EncodeError> {
        let spec = spec_text_of(&pending.resource)?;
        self.codec
            .encode_text(
                self.client.source_id(),
                &event_type(pending.action),
                &spec.metadata,
                &spec.bundle(),
            )
            .map_err(|source| EncodeError::Codec {
                id: pending.resource.id,
                source,
            })
    }

    async fn publish(&self, pending: &Pending) -> bool {
        let resource = &pending.resource;
        let event = match self.event_of(pending) {
            Ok(event) => event,
            Err(err) => {
                self.metrics.count_publish("invalid");
                if let Some(suppressed) = NOT_ENCODED.allow() {
                    error!(%err, suppressed, "cannot publish a stored resource");
                }
                return false;
            }
        };
        match self.client.publish_event(&event).await {
            Ok(()) => {
                self.metrics.count_publish("ok");
                debug!(resource_id = %resource.id, version = resource.version, action = ?pending.action, "published");
                true
            }
            Err(err) => {
                self.metrics.count_publish("failed");
                debug!(resource_id = %resource.id, %err, "publish failed");
                false
            }
        }
    }
}
