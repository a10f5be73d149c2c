//! What the source and agent clients share: the codec table, the rate-limited publish path,
//! the counters, and the receive loop that turns a transport's [`Inbound`] stream into calls
//! on a [`Receiver`] (resync on every (re)subscription, one event at a time, never stopping
//! on a bad event).

use std::collections::HashMap;
use std::sync::Arc;

use ::cloudevents::AttributesReader;
use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::Event;
use super::error::ClientError;
use super::event_type::{DataType, HEARTBEAT_TYPE};
use super::rate_limit::RateLimiter;
use super::resource::Codec;
use super::stats::Stats;
use super::transport::{Inbound, Transport};

/// The parts every client has.
pub(crate) struct ClientCore<T> {
    /// The CloudEvent `source` this client sends with (source id or agent id).
    pub sender_id: String,
    pub codecs: HashMap<DataType, Arc<dyn Codec<T>>>,
    pub transport: Arc<dyn Transport>,
    pub limiter: Option<RateLimiter>,
    pub stats: Arc<Stats>,
}

impl<T> ClientCore<T> {
    pub fn codec(&self, data_type: &DataType) -> Result<&Arc<dyn Codec<T>>, ClientError> {
        self.codecs
            .get(data_type)
            .ok_or_else(|| ClientError::NoCodec(data_type.clone()))
    }

    pub fn data_types(&self) -> Vec<DataType> {
        let mut types: Vec<DataType> = self.codecs.keys().cloned().collect();
        types.sort();
        types
    }

    /// Publishes through the limiter (if any), counting the outcome.
    pub async fn send(&self, event: &Event) -> Result<(), ClientError> {
        if let Some(limiter) = &self.limiter {
            limiter.acquire().await;
        }
        match self.transport.publish(event).await {
            Ok(()) => {
                Stats::bump(&self.stats.published);
                Ok(())
            }
            Err(err) => {
                Stats::bump(&self.stats.publish_failures);
                Err(err.into())
            }
        }
    }
}

/// The role-specific half of a client's receive path.
#[async_trait]
pub(crate) trait Receiver: Send + Sync + 'static {
    /// The subscription was (re)established: send this side's resync request.
    async fn on_subscribed(&self);
    /// One received CloudEvent (heartbeats already filtered out).
    async fn on_event(&self, event: Event);
}

/// Drives `receiver` from `inbound` until the stream ends or `stop` fires.
pub(crate) async fn receive_loop(
    mut inbound: mpsc::Receiver<Inbound>,
    receiver: Arc<dyn Receiver>,
    stats: Arc<Stats>,
    stop: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => break,
            next = inbound.recv() => next,
        };
        match next {
            None => {
                debug!("subscription stream ended");
                break;
            }
            Some(Inbound::Subscribed) => {
                Stats::bump(&stats.subscriptions);
                receiver.on_subscribed().await;
            }
            Some(Inbound::Event(event)) => {
                if event.ty() == HEARTBEAT_TYPE {
                    continue;
                }
                Stats::bump(&stats.received);
                receiver.on_event(event).await;
            }
        }
    }
}

/// Logs and counts an event that could not be understood; the loop goes on.
pub(crate) fn malformed(stats: &Stats, event: &Event, error: &dyn std::error::Error) {
    Stats::bump(&stats.malformed);
    warn!(event_id = event.id(), event_type = event.ty(), %error, "dropping malformed event");
}

/// Counts an event this party deliberately ignores.
pub(crate) fn ignored(stats: &Stats, event: &Event, why: &str) {
    Stats::bump(&stats.ignored);
    debug!(
        event_id = event.id(),
        event_type = event.ty(),
        why,
        "ignoring event"
    );
}
