//! What the source and agent clients share: the codec table, the direction-checked,
//! rate-limited publish path, the counters, the receive loop that turns a transport's
//! [`Inbound`] stream into calls on a [`Receiver`] (one event at a time, never stopping on a
//! bad event; on every (re)subscription a resync beside the loop, retried until it is sent)
//! and the [`Lifecycle`] of that loop.

use crate::log_limit::LogLimit;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::cloudevents::AttributesReader;
use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::Event;
use super::backoff::{Backoff, BackoffPolicy};
use super::error::ClientError;
use super::event_type::{DataType, EventType, HEARTBEAT_TYPE, SubResource};
use super::rate_limit::RateLimiter;
use super::resource::{Codec, ResourceObject};
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

impl<T: ResourceObject> ClientCore<T> {
    /// A core with no codec and no rate limit yet.
    pub fn new(sender_id: String, transport: Arc<dyn Transport>) -> Self {
        Self {
            sender_id,
            codecs: HashMap::new(),
            transport,
            limiter: None,
            stats: Arc::default(),
        }
    }

    pub fn add_codec(&mut self, codec: impl Codec<T>) {
        self.codecs
            .insert(codec.data_type().clone(), Arc::new(codec));
    }

    pub fn set_rate_limit(&mut self, qps: f64, burst: u32) {
        self.limiter = Some(RateLimiter::new(qps, burst));
    }

    /// Encodes `object` as `event_type` and publishes it, if this client's `role` may send
    /// that sub-resource (`allowed`): sources send spec, agents status.
    pub async fn publish(
        &self,
        role: &'static str,
        allowed: SubResource,
        event_type: &EventType,
        object: &T,
    ) -> Result<(), ClientError> {
        if event_type.sub_resource != allowed {
            return Err(ClientError::WrongDirection {
                role,
                allowed,
                event_type: event_type.to_string(),
            });
        }
        let event =
            self.codec(&event_type.data_type)?
                .encode(&self.sender_id, event_type, object)?;
        self.send(&event).await
    }
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
    /// The resync this side sends when its subscription is (re)established, named for logs.
    const RESYNC: &'static str;
    /// Sends that resync once; the receive loop retries a transport failure.
    async fn resync_after_subscribing(&self) -> Result<(), ClientError>;
    /// One received CloudEvent (heartbeats already filtered out).
    async fn on_event(&self, event: Event);
}

/// A client's receive task and the token that stops it.
#[derive(Default)]
pub(crate) struct Lifecycle {
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Lifecycle {
    /// Subscribes to `core`'s data types and drives `receiver` from the stream on a tracked
    /// task until [`Lifecycle::shutdown`].
    pub async fn start<T, R: Receiver>(
        &self,
        core: &ClientCore<T>,
        receiver: Arc<R>,
    ) -> Result<(), ClientError> {
        let inbound = core.transport.subscribe(&core.data_types()).await?;
        self.tasks.spawn(receive_loop(
            inbound,
            receiver,
            core.stats.clone(),
            self.tasks.clone(),
            self.stop.clone(),
        ));
        Ok(())
    }

    /// Stops the receive loop, waits for it, then closes `transport`.
    pub async fn shutdown(&self, transport: &dyn Transport) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        transport.close().await;
    }
}

/// Drives `receiver` from `inbound` until the stream ends or `stop` fires. The resync after
/// each (re)subscription runs on `tasks` beside the loop, so that events are not held up by
/// it and it can be retried for as long as it takes: a newer subscription's resync replaces
/// one still retrying.
pub(crate) async fn receive_loop<R: Receiver>(
    mut inbound: mpsc::Receiver<Inbound>,
    receiver: Arc<R>,
    stats: Arc<Stats>,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    let mut resync = stop.child_token();
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
                resync.cancel();
                resync = stop.child_token();
                tasks.spawn(resync_until_sent(receiver.clone(), resync.clone()));
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
    resync.cancel();
}

/// Sends `receiver`'s resync after subscribing, retrying a send failure with backoff until it
/// goes through or `stop` fires (the client stops, or a newer subscription resyncs). Given up
/// after a few tries, a lost resync was only made up by the next reconnection: an agent's
/// specs or a source's statuses could stay missing for as long as the connection lasted.
async fn resync_until_sent<R: Receiver>(receiver: Arc<R>, stop: CancellationToken) {
    let mut backoff = Backoff::new(RESYNC_RETRY);
    for attempt in 1u32.. {
        let sent = tokio::select! {
            () = stop.cancelled() => return,
            sent = receiver.resync_after_subscribing() => sent,
        };
        match sent {
            Ok(()) => {
                if attempt > 1 {
                    info!(attempt, "{} after subscribing sent", R::RESYNC);
                }
                return;
            }
            Err(ClientError::Transport(err)) => {
                let delay = backoff.next_delay();
                warn!(%err, attempt, retry_in = ?delay, "{} after subscribing failed; retrying", R::RESYNC);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(err) => {
                warn!(%err, "{} after subscribing failed", R::RESYNC);
                return;
            }
        }
    }
}

/// Logs and counts an event that could not be understood; the loop goes on.
pub(crate) fn malformed(stats: &Stats, event: &Event, error: &dyn std::error::Error) {
    static LOG: LogLimit = LogLimit::per_event();
    Stats::bump(&stats.malformed);
    if let Some(suppressed) = LOG.allow() {
        warn!(event_id = event.id(), event_type = event.ty(), %error, suppressed, "dropping malformed event");
    }
}

/// A request could not be answered: a send failure (already counted as a publish failure; the
/// other side's next resync asks again) is logged as such; anything else means the request
/// itself was bad, and is counted as malformed.
pub(crate) fn unanswered(stats: &Stats, event: &Event, error: &ClientError) {
    match error {
        ClientError::Transport(err) => {
            static LOG: LogLimit = LogLimit::per_event();
            if let Some(suppressed) = LOG.allow() {
                warn!(event_id = event.id(), event_type = event.ty(), %err, suppressed, "could not send the answer to a resync request");
            }
        }
        other => malformed(stats, event, other),
    }
}

/// Retries of an answer to a resync request that could not be sent: soon at first, then
/// every 30 s at most (jittered, so a fleet that failed together does not retry together).
const ANSWER_RETRY: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_millis(500),
    factor: 2.0,
    max: Duration::from_secs(30),
    jitter: 0.5,
    reset_after: Duration::MAX,
};

/// Sends the answer to resync request `event` again with [`ANSWER_RETRY`]'s backoff (a wait
/// before each try) until `answer` goes through, fails otherwise than on the transport
/// (counted by [`unanswered`]), or `stop` fires. Whether it was sent.
pub(crate) async fn retry_answer<F, Fut>(
    stats: &Stats,
    stop: &CancellationToken,
    event: &Event,
    mut answer: F,
) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ClientError>>,
{
    let mut backoff = Backoff::new(ANSWER_RETRY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return false,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
        match answer().await {
            Ok(()) => return true,
            Err(ClientError::Transport(err)) => {
                debug!(event_id = event.id(), %err, "resync answer still not sent");
            }
            Err(err) => {
                unanswered(stats, event, &err);
                return false;
            }
        }
    }
}

/// Retries of a resync after subscribing: as [`ANSWER_RETRY`].
const RESYNC_RETRY: BackoffPolicy = ANSWER_RETRY;

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
