//! The embedding process's own source client, connected to the broker in memory: a
//! [`Transport`] whose publishes are routed by the broker's
//! [`Registry`](super::registry::Registry) directly and whose subscription is a registry queue
//! read in this process. The hub's source sends every spec and receives every status of the
//! fleet; over a loopback gRPC connection each of those events would be encoded, framed by h2,
//! written, read and decoded once more than needed.
//!
//! Same routing and queues as a gRPC source (a full source queue holds agents' publishes
//! back); one difference: a full *agent* queue holds this source's publish back too, up to the
//! same bound, before the agent's stream is ended
//! ([`Registry::deliver_waiting_for_agents`](super::registry::Registry::deliver_waiting_for_agents)),
//! because in memory a spec resync answer for a large cluster fills its queue faster than any
//! agent reads. And all agents' queues together hold at most a byte budget of its events
//! ([`super::budget`]): a publish waits for room, so a reconnecting fleet's specs are not all
//! in memory at once. No authentication (the process is the broker's owner) and no heartbeats
//! (nothing to detect: the subscription ends only with the broker's owner or
//! [`Transport::close`]). Must not know what the events mean: the client decodes.

use crate::cloudevents::log_limit::LogLimit;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::SelectAll;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use super::Shared;
use super::registry::{Party, Unregister};
use super::route;
use super::stats::BrokerStats;
use crate::cloudevents::Event;
use crate::cloudevents::event_type::DataType;
use crate::cloudevents::transport::grpc::binding;
use crate::cloudevents::transport::{
    Inbound, Transport, TransportError, TransportRole, claim_subscription,
};

/// Events handed to the client before the reader waits for it.
const INBOX: usize = 1024;

/// A source's in-memory connection to the broker (see the module doc).
pub struct LocalSource {
    shared: Arc<Shared>,
    role: TransportRole,
    subscribed: AtomicBool,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl LocalSource {
    pub(super) fn new(shared: Arc<Shared>, source_id: &str) -> Self {
        Self {
            shared,
            role: TransportRole::source(source_id),
            subscribed: AtomicBool::new(false),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
        }
    }

    fn source_id(&self) -> &str {
        self.role.sender_id()
    }
}

#[async_trait]
impl Transport for LocalSource {
    fn role(&self) -> &TransportRole {
        &self.role
    }

    async fn subscribe(
        &self,
        data_types: &[DataType],
    ) -> Result<mpsc::Receiver<Inbound>, TransportError> {
        claim_subscription(self.stop.is_cancelled(), &self.subscribed)?;
        let registry = &self.shared.registry;
        let mut queues = SelectAll::new();
        let mut unregister = Vec::with_capacity(data_types.len());
        for data_type in data_types {
            let party = Party::Source {
                source: self.source_id().into(),
            };
            let subscription = registry.add(party, data_type.clone());
            BrokerStats::bump(&self.shared.stats.subscriptions);
            unregister.push(Unregister {
                registry: registry.clone(),
                id: subscription.id,
            });
            queues.push(subscription.queue);
        }
        let (inbox, rx) = mpsc::channel(INBOX);
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let _unregister = unregister; // the subscriptions end with this task
            if inbox.send(Inbound::Subscribed).await.is_err() {
                return;
            }
            loop {
                let message = tokio::select! {
                    () = stop.cancelled() => return,
                    message = queues.next() => match message {
                        Some(message) => message,
                        None => return,
                    },
                };
                match binding::from_proto(message.into_event()) {
                    Ok(event) => {
                        if inbox.send(Inbound::Event(event)).await.is_err() {
                            return;
                        }
                    }
                    // Agents' publishes were checked by the broker already.
                    Err(err) => {
                        static LOG: LogLimit = LogLimit::per_event();
                        if let Some(suppressed) = LOG.allow() {
                            warn!(%err, suppressed, "dropping an event that is not a CloudEvent");
                        }
                    }
                }
            }
        });
        Ok(rx)
    }

    async fn publish(&self, event: &Event) -> Result<(), TransportError> {
        if self.stop.is_cancelled() {
            return Err(TransportError::Closed);
        }
        let route = route::classify(event).map_err(|e| TransportError::NoRoute {
            event_type: ::cloudevents::AttributesReader::ty(event).to_owned(),
            reason: e.to_string(),
        })?;
        let message =
            binding::to_proto(event).map_err(|e| TransportError::Encode(e.to_string()))?;
        let shared = &self.shared;
        // Waits while the fleet's queues hold this source's budget (`super::budget`).
        let reservation = shared
            .local_budget
            .reserve(message.encoded_len(), shared.config.source_wait)
            .await;
        let delivered = shared
            .registry
            .deliver_waiting_for_agents(&route, &message, shared.config.source_wait, reservation)
            .await
            .map_err(|busy| TransportError::Rejected(busy.to_string()))?;
        BrokerStats::bump(&shared.stats.published);
        BrokerStats::add(&shared.stats.delivered, delivered as u64);
        Ok(())
    }

    async fn close(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}
